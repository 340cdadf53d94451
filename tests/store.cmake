vs_add_test(NAME test_codec SOURCES test_codec.c LABELS store)
vs_add_test(NAME test_store SOURCES test_store.c LABELS store)
vs_add_test(NAME test_crash SOURCES test_crash.c LABELS store TIMEOUT 120)
vs_add_test(NAME test_concurrency SOURCES test_concurrency.c LABELS store)
