# Tests of tools/ (the CLI, its .npy/safetensors modules, the SQLite
# extension). Only when the tools are built.
if(TARGET varstore_tools)
  vs_add_test(NAME test_npy SOURCES test_npy.c LABELS tools)
  target_link_libraries(test_npy PRIVATE varstore_tools)
  vs_add_test(NAME test_safetensors SOURCES test_safetensors.c LABELS tools)
  target_link_libraries(test_safetensors PRIVATE varstore_tools)
  # The CLI's JSON text, with the CLI's shared helpers compiled in.
  vs_add_test(NAME test_cli_json SOURCES test_cli_json.c
    ${PROJECT_SOURCE_DIR}/tools/cli_common.c LABELS tools)
  target_link_libraries(test_cli_json PRIVATE varstore_tools)
endif()

# What `varstore save` reads while saving (tools/save_source.c), and the
# CLI's peak resident size on a large input (skipped under sanitizers).
if(TARGET varstore_cli)
  vs_add_test(NAME test_save_source SOURCES test_save_source.c LABELS tools)
  target_link_libraries(test_save_source PRIVATE varstore_tools)
  target_include_directories(test_save_source PRIVATE
    ${CMAKE_CURRENT_SOURCE_DIR}/support)
  target_compile_definitions(test_save_source PRIVATE
    VS_CLI="$<TARGET_FILE:varstore_cli>")
  add_dependencies(test_save_source varstore_cli)
  if(VS_SANITIZE)
    target_compile_definitions(test_save_source PRIVATE VS_SANITIZED=1)
  endif()
endif()

# The CLI end to end (bash script), and the NumPy interop check run with
# VS_PYTHON (skipped, exit 77, when that interpreter has no numpy).
if(TARGET varstore_cli)
  find_program(VS_SQLITE3_SHELL sqlite3)
  find_program(VS_BASH bash)
  if(NOT VS_SQLITE3_SHELL)
    set(VS_SQLITE3_SHELL "")
  endif()
  # A sanitized extension cannot be loaded into the plain sqlite3 shell.
  if(VS_SANITIZE)
    set(_vs_ext "")
  else()
    set(_vs_ext $<TARGET_FILE:varstore_sqlite>)
  endif()
  if(VS_BASH)
    add_test(NAME test_cli
      COMMAND ${VS_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/test_cli.sh
              $<TARGET_FILE:varstore_cli> "${_vs_ext}" "${VS_SQLITE3_SHELL}")
    set_tests_properties(test_cli PROPERTIES TIMEOUT 120 LABELS "tools"
      ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:halt_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1;VS_TEST_TMPDIR=${CMAKE_CURRENT_BINARY_DIR};VS_TF_FIXTURES=${CMAKE_CURRENT_SOURCE_DIR}/fixtures/tf")
  endif()
  # The interpreter with numpy: -DVS_PYTHON=$(pwd)/.venv/bin/python (the
  # project's venv); by default the python3 found on PATH. The script
  # exits 77 (skipped) with a message when numpy is not importable.
  if(NOT VS_PYTHON)
    find_program(VS_PYTHON_FOUND NAMES python3 python)
    if(VS_PYTHON_FOUND)
      set(VS_PYTHON "${VS_PYTHON_FOUND}")
    endif()
  endif()
  set(VS_PYTHON "${VS_PYTHON}" CACHE FILEPATH
    "Python interpreter with numpy for test_cli_numpy")
  if(VS_PYTHON)
    add_test(NAME test_cli_numpy
      COMMAND ${VS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/test_cli_numpy.py
              $<TARGET_FILE:varstore_cli>)
    set_tests_properties(test_cli_numpy PROPERTIES TIMEOUT 120 LABELS "tools"
      SKIP_RETURN_CODE 77
      ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:halt_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1;VS_TEST_TMPDIR=${CMAKE_CURRENT_BINARY_DIR}")
  else()
    message(STATUS "test_cli_numpy: no Python found (set VS_PYTHON)")
  endif()
endif()
