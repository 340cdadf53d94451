# The TensorFlow oracle: varstore's cases (tests/oracle/oc_*.c), a driver
# that prints them for tests/oracle/oracle.py, and the fixture test that
# checks them against what TensorFlow produced (tests/fixtures/oracle/).
set(VS_ORACLE_SOURCES
  oracle/oc_result.c oracle/oc_registry.c oracle/oc_script.c
  oracle/oc_names.c oracle/oc_reuse.c oracle/oc_partition.c
  oracle/oc_init.c oracle/oc_ops.c)
add_library(vs_oracle_cases OBJECT ${VS_ORACLE_SOURCES})
target_include_directories(vs_oracle_cases PUBLIC
  ${CMAKE_CURRENT_SOURCE_DIR}/oracle)
target_link_libraries(vs_oracle_cases PRIVATE varstore_objects vs_options)

add_executable(oracle_driver oracle/oracle_driver.c)
target_link_libraries(oracle_driver PRIVATE vs_oracle_cases varstore_objects
  vs_options)

vs_add_test(NAME test_oracle_fixtures SOURCES test_oracle_fixtures.c
  TIMEOUT 300 LABELS oracle)
target_link_libraries(test_oracle_fixtures PRIVATE vs_oracle_cases)
target_compile_definitions(test_oracle_fixtures PRIVATE
  VS_ORACLE_FIXTURES="${CMAKE_CURRENT_SOURCE_DIR}/fixtures/oracle"
  VS_ORACLE_KNOWN="${CMAKE_CURRENT_SOURCE_DIR}/oracle/known_mismatches.txt")

# The live oracle: TensorFlow itself (tf.compat.v1) against the driver. It
# exits 77 ("skipped: TensorFlow not importable") without TensorFlow.
if(NOT DEFINED VS_PYTHON)
  if(EXISTS ${PROJECT_SOURCE_DIR}/.venv/bin/python)
    set(VS_PYTHON ${PROJECT_SOURCE_DIR}/.venv/bin/python CACHE FILEPATH
      "Python for the Python tests")
  else()
    set(VS_PYTHON python3 CACHE FILEPATH "Python for the Python tests")
  endif()
endif()
add_test(NAME oracle_tf
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/oracle/run_oracle.sh ${VS_PYTHON}
          ${CMAKE_CURRENT_SOURCE_DIR}/oracle/oracle.py
          --driver $<TARGET_FILE:oracle_driver>
          --work ${CMAKE_CURRENT_BINARY_DIR}/oracle-work)
set_tests_properties(oracle_tf PROPERTIES TIMEOUT 900 LABELS "oracle;python"
  SKIP_RETURN_CODE 77
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:halt_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1;TF_CPP_MIN_LOG_LEVEL=2")

# The oracle's own reading of TF's messages (no TensorFlow needed).
add_test(NAME oracle_tf_common
  COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/oracle/run_pytest.sh ${VS_PYTHON}
          ${CMAKE_CURRENT_SOURCE_DIR}/oracle/test_tf_common.py)
set_tests_properties(oracle_tf_common PROPERTIES TIMEOUT 120
  LABELS "oracle;python" SKIP_RETURN_CODE 77)
