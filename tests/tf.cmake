# tests of tf/: TensorFlow checkpoints (TensorBundle V2) read and written.
vs_add_test(NAME test_tf_bundle SOURCES test_tf_bundle.c LABELS tf)
target_include_directories(test_tf_bundle PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/support ${PROJECT_SOURCE_DIR}/tf)
target_compile_definitions(test_tf_bundle PRIVATE
  VS_TF_FIXTURES="${CMAKE_CURRENT_SOURCE_DIR}/fixtures/tf")

# The TF interop test: TF reads what tf_driver (the C writer) wrote and the
# C reader reads what TF wrote. VS_PYTHON: the Python with TensorFlow (the
# lead passes -DVS_PYTHON=<repo>/.venv/bin/python); default python3. Exit
# 77 (skipped) when TensorFlow cannot be imported there.
add_executable(tf_driver ${CMAKE_CURRENT_SOURCE_DIR}/tf/tf_driver.c)
target_link_libraries(tf_driver PRIVATE varstore_objects vs_options)
if(NOT VS_PYTHON)
  find_program(VS_PYTHON_FOUND python3)
  if(VS_PYTHON_FOUND)
    set(VS_PYTHON ${VS_PYTHON_FOUND})
  endif()
endif()
if(VS_PYTHON)
  add_test(NAME test_tf_interop
    COMMAND ${VS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/tf/test_tf_interop.py
            $<TARGET_FILE:tf_driver>)
  set_tests_properties(test_tf_interop PROPERTIES TIMEOUT 300
    LABELS "tf;python" SKIP_RETURN_CODE 77
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:halt_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1;TF_CPP_MIN_LOG_LEVEL=2;PYTHONDONTWRITEBYTECODE=1")
endif()
