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
  # The committed fixtures are what TF's Saver writes today, byte for byte.
  add_test(NAME test_tf_fixtures_regenerate
    COMMAND ${VS_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/tf/make_fixtures.py --check)
  set_tests_properties(test_tf_fixtures_regenerate PROPERTIES TIMEOUT 300
    LABELS "tf;python" SKIP_RETURN_CODE 77
    ENVIRONMENT "TF_CPP_MIN_LOG_LEVEL=2;PYTHONDONTWRITEBYTECODE=1")
endif()

# Fuzzing the .index parser: fuzz_replay_tf_index replays the committed
# corpus tests/fuzz/corpus/tf_index/ in every build; with -DVS_FUZZ=ON
# (clang) fuzz_tf_index is the libFuzzer program:
#   build/tests/fuzz_tf_index -max_total_time=300 tests/fuzz/corpus/tf_index
add_executable(fuzz_replay_tf_index
  ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_replay.c
  ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_tf_index.c)
target_include_directories(fuzz_replay_tf_index PRIVATE ${PROJECT_SOURCE_DIR}/tf)
target_link_libraries(fuzz_replay_tf_index PRIVATE varstore_objects vs_options)
file(GLOB _vs_tf_corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/tf_index/*)
list(SORT _vs_tf_corpus)
add_test(NAME test_fuzz_replay_tf_index
  COMMAND fuzz_replay_tf_index ${_vs_tf_corpus})
set_tests_properties(test_fuzz_replay_tf_index PROPERTIES
  TIMEOUT 120 LABELS "tf;fuzz"
  ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:halt_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1;VS_TEST_TMPDIR=${CMAKE_CURRENT_BINARY_DIR}")
if(VS_FUZZ)
  # The .index parser and the protos, compiled in with coverage.
  set(_vs_tf_src table_read.c entry.c proto.c slice_key.c crc32c.c)
  list(TRANSFORM _vs_tf_src PREPEND ${PROJECT_SOURCE_DIR}/tf/)
  add_executable(fuzz_tf_index ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_tf_index.c
    ${_vs_tf_src} ${PROJECT_SOURCE_DIR}/common/error.c
    ${PROJECT_SOURCE_DIR}/ops/tensor.c ${PROJECT_SOURCE_DIR}/ops/buffers.c)
  target_include_directories(fuzz_tf_index PRIVATE
    ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/common
    ${PROJECT_SOURCE_DIR}/ops ${PROJECT_SOURCE_DIR}/tf)
  target_compile_options(fuzz_tf_index PRIVATE -g -O1
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
  target_link_options(fuzz_tf_index PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_tf_index PRIVATE vs_options Threads::Threads)
  if(VS_LIBM)
    target_link_libraries(fuzz_tf_index PRIVATE ${VS_LIBM})
  endif()
endif()

# tools/tf_cli.c (import / export / list for the CLI), when tools are built.
if(TARGET varstore_tools)
  vs_add_test(NAME test_tf_cli SOURCES test_tf_cli.c LABELS "tf;tools")
  target_link_libraries(test_tf_cli PRIVATE varstore_tools)
  target_include_directories(test_tf_cli PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/support)
  target_compile_definitions(test_tf_cli PRIVATE
    VS_TF_FIXTURES="${CMAKE_CURRENT_SOURCE_DIR}/fixtures/tf")
endif()

# TF checkpoints read where varstore files are: vs_restore into a graph
# built with the same scopes (or another partitioning), init_from_checkpoint,
# list/load/latest.
vs_add_test(NAME test_tf_restore SOURCES test_tf_restore.c LABELS tf)
target_include_directories(test_tf_restore PRIVATE
  ${CMAKE_CURRENT_SOURCE_DIR}/support)
target_compile_definitions(test_tf_restore PRIVATE
  VS_TF_FIXTURES="${CMAKE_CURRENT_SOURCE_DIR}/fixtures/tf")
