vs_add_test(NAME test_scope SOURCES test_scope.c LABELS scope)
vs_add_test(NAME test_seed SOURCES test_seed.c LABELS scope)
