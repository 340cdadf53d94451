vs_add_test(NAME test_codec SOURCES test_codec.c LABELS store)
vs_add_test(NAME test_deflate SOURCES test_deflate.c LABELS store)
vs_add_test(NAME test_store SOURCES test_store.c LABELS store)
vs_add_test(NAME test_crash SOURCES test_crash.c LABELS store TIMEOUT 120)
vs_add_test(NAME test_concurrency SOURCES test_concurrency.c LABELS store)
vs_add_test(NAME test_async SOURCES test_async.c LABELS "store;async")
vs_add_test(NAME test_readonly SOURCES test_readonly.c LABELS store)
vs_add_test(NAME test_integrity SOURCES test_integrity.c LABELS store)
target_compile_definitions(test_integrity PRIVATE
  VS_FIXTURES="${CMAKE_CURRENT_SOURCE_DIR}/fixtures")
vs_add_test(NAME test_batch SOURCES test_batch.c LABELS store TIMEOUT 300)

vs_add_test(NAME test_format_v2 SOURCES test_format_v2.c LABELS store)
target_compile_definitions(test_format_v2 PRIVATE
  VS_FIXTURES="${CMAKE_CURRENT_SOURCE_DIR}/fixtures")
vs_add_test(NAME test_names SOURCES test_names.c LABELS store)
vs_add_test(NAME test_read_tx SOURCES test_read_tx.c LABELS store)
vs_add_test(NAME test_ckpt_poll SOURCES test_ckpt_poll.c LABELS store)
vs_add_test(NAME test_load_into SOURCES test_load_into.c LABELS store)
vs_add_test(NAME test_save_stream SOURCES test_save_stream.c LABELS store)
if(VS_SANITIZE) # its resident-size check is skipped there
  target_compile_definitions(test_save_stream PRIVATE VS_SANITIZED=1)
endif()
vs_add_test(NAME test_writeback SOURCES test_writeback.c LABELS store)
