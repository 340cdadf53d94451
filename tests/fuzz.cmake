# Fuzzing the file readers of tools/ (.npy, safetensors), the chunk
# decoder's inflate fast path (store/codec/inflate.c, against zlib) and
# whole checkpoint files.
#
# Always: fuzz_replay_npy / fuzz_replay_safetensors, plain programs that run
# each fuzz target on the files of tests/fuzz/corpus/<target>/ (seeds, and
# every input that once crashed or broke a reader's contract), as CTest
# tests test_fuzz_replay_npy and test_fuzz_replay_safetensors.
#
# -DVS_FUZZ=ON (clang only): also fuzz_npy, fuzz_safetensors, fuzz_inflate
# and fuzz_checkpoint, libFuzzer programs with ASan + UBSan, the code they
# reach compiled into them with coverage:
#   build/tests/fuzz_npy -max_total_time=300 tests/fuzz/corpus/npy
# (fuzz_tf_index: tests/tf.cmake).
option(VS_FUZZ "Build the libFuzzer targets (clang only)" OFF)

if(TARGET varstore_tools)
  foreach(target npy safetensors)
    add_executable(fuzz_replay_${target}
      ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_replay.c
      ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_${target}.c)
    target_link_libraries(fuzz_replay_${target} PRIVATE
      varstore_tools varstore_objects vs_options)
    file(GLOB _vs_corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${target}/*)
    if(_vs_corpus)
      list(SORT _vs_corpus)
      add_test(NAME test_fuzz_replay_${target}
        COMMAND fuzz_replay_${target} ${_vs_corpus})
      set_tests_properties(test_fuzz_replay_${target} PROPERTIES
        TIMEOUT 120 LABELS "tools;fuzz"
        ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:halt_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1;VS_TEST_TMPDIR=${CMAKE_CURRENT_BINARY_DIR}")
    endif()
  endforeach()

  # Whole checkpoint files (bytes, bit rot, rows edited through SQL) through
  # every read of the public API: replayed in every build.
  add_executable(fuzz_replay_checkpoint
    ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_replay.c
    ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_checkpoint.c)
  target_link_libraries(fuzz_replay_checkpoint PRIVATE
    varstore_objects vs_options ${VS_SQLITE})
  file(GLOB _vs_corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/checkpoint/*)
  list(SORT _vs_corpus)
  add_test(NAME test_fuzz_replay_checkpoint
    COMMAND fuzz_replay_checkpoint ${_vs_corpus})
  set_tests_properties(test_fuzz_replay_checkpoint PROPERTIES
    TIMEOUT 300 LABELS "store;fuzz"
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:halt_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1;VS_TEST_TMPDIR=${CMAKE_CURRENT_BINARY_DIR}")

  # The inflate fast path (store/) against zlib: replayed in every build.
  add_executable(fuzz_replay_inflate
    ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_replay.c
    ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_inflate.c)
  target_include_directories(fuzz_replay_inflate PRIVATE
    ${PROJECT_SOURCE_DIR}/store)
  target_link_libraries(fuzz_replay_inflate PRIVATE
    varstore_objects vs_options ZLIB::ZLIB)
  file(GLOB _vs_corpus ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/inflate/*)
  list(SORT _vs_corpus)
  add_test(NAME test_fuzz_replay_inflate
    COMMAND fuzz_replay_inflate ${_vs_corpus})
  set_tests_properties(test_fuzz_replay_inflate PROPERTIES
    TIMEOUT 120 LABELS "store;fuzz"
    ENVIRONMENT "ASAN_OPTIONS=detect_leaks=1:halt_on_error=1;UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1;VS_TEST_TMPDIR=${CMAKE_CURRENT_BINARY_DIR}")

  if(VS_FUZZ)
    if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
      message(FATAL_ERROR "VS_FUZZ needs clang (libFuzzer): -DCMAKE_C_COMPILER=clang")
    endif()
    set(_vs_fuzz_common
      ${PROJECT_SOURCE_DIR}/common/error.c ${PROJECT_SOURCE_DIR}/common/utf8.c
      ${PROJECT_SOURCE_DIR}/ops/tensor.c ${PROJECT_SOURCE_DIR}/ops/buffers.c
      ${PROJECT_SOURCE_DIR}/tools/vst.c)
    set(_vs_fuzz_src_npy ${PROJECT_SOURCE_DIR}/tools/npy_header.c
      ${PROJECT_SOURCE_DIR}/tools/npy_read.c)
    set(_vs_fuzz_src_safetensors
      ${PROJECT_SOURCE_DIR}/tools/safetensors_dtype.c
      ${PROJECT_SOURCE_DIR}/tools/safetensors_read.c)
    foreach(target npy safetensors)
      # The readers and what they call, compiled in with coverage (the
      # library objects are not instrumented).
      add_executable(fuzz_${target}
        ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_${target}.c
        ${_vs_fuzz_src_${target}} ${_vs_fuzz_common})
      target_include_directories(fuzz_${target} PRIVATE
        ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/common
        ${PROJECT_SOURCE_DIR}/ops ${PROJECT_SOURCE_DIR}/tools)
      target_compile_options(fuzz_${target} PRIVATE -g -O1
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
      target_link_options(fuzz_${target} PRIVATE
        -fsanitize=fuzzer,address,undefined)
      target_link_libraries(fuzz_${target} PRIVATE ${VS_SQLITE} vs_options)
      if(VS_LIBM)
        target_link_libraries(fuzz_${target} PRIVATE ${VS_LIBM})
      endif()
    endforeach()
    #   build/tests/fuzz_inflate -max_total_time=300 tests/fuzz/corpus/inflate
    add_executable(fuzz_inflate ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_inflate.c
      ${PROJECT_SOURCE_DIR}/store/codec/inflate.c
      ${PROJECT_SOURCE_DIR}/store/codec/codec.c
      ${PROJECT_SOURCE_DIR}/store/codec/crc.c
      ${PROJECT_SOURCE_DIR}/store/codec/adler.c
      ${PROJECT_SOURCE_DIR}/store/codec/deflate.c
      ${PROJECT_SOURCE_DIR}/store/codec/cpu.c ${_vs_fuzz_common})
    target_include_directories(fuzz_inflate PRIVATE
      ${PROJECT_SOURCE_DIR}/include ${PROJECT_SOURCE_DIR}/common
      ${PROJECT_SOURCE_DIR}/ops ${PROJECT_SOURCE_DIR}/store
      ${PROJECT_SOURCE_DIR}/scope ${PROJECT_SOURCE_DIR}/tf)
    target_compile_options(fuzz_inflate PRIVATE -g -O1
      -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
    target_link_options(fuzz_inflate PRIVATE -fsanitize=fuzzer,address,undefined)
    target_link_libraries(fuzz_inflate PRIVATE ${VS_SQLITE} ZLIB::ZLIB
      vs_options)
    if(VS_LIBM)
      target_link_libraries(fuzz_inflate PRIVATE ${VS_LIBM})
    endif()
    # Whole checkpoint files through the public API: every library source
    # compiled in with coverage (varstore_objects' list, not its objects).
    #   build/tests/fuzz_checkpoint -max_total_time=300 tests/fuzz/corpus/checkpoint
    get_target_property(_vs_lib_src varstore_objects SOURCES)
    add_executable(fuzz_checkpoint
      ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/fuzz_checkpoint.c ${_vs_lib_src})
    target_include_directories(fuzz_checkpoint PRIVATE
      $<TARGET_PROPERTY:varstore_objects,INCLUDE_DIRECTORIES>)
    target_compile_options(fuzz_checkpoint PRIVATE -g -O1
      -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
    target_link_options(fuzz_checkpoint PRIVATE
      -fsanitize=fuzzer,address,undefined)
    target_link_libraries(fuzz_checkpoint PRIVATE ${VS_DEPS} vs_options)
  endif()
endif()
