vs_add_test(NAME test_codec SOURCES test_codec.c LABELS store)
vs_add_test(NAME test_store SOURCES test_store.c LABELS store)
vs_add_test(NAME test_crash SOURCES test_crash.c LABELS store TIMEOUT 120)
vs_add_test(NAME test_concurrency SOURCES test_concurrency.c LABELS store)
vs_add_test(NAME test_readonly SOURCES test_readonly.c LABELS store)
vs_add_test(NAME test_integrity SOURCES test_integrity.c LABELS store)
target_compile_definitions(test_integrity PRIVATE
  VS_FIXTURES="${CMAKE_CURRENT_SOURCE_DIR}/fixtures")
vs_add_test(NAME test_save_stream SOURCES test_save_stream.c LABELS store)
if(VS_SANITIZE) # its resident-size check is skipped there
  target_compile_definitions(test_save_stream PRIVATE VS_SANITIZED=1)
endif()
