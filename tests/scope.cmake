vs_add_test(NAME test_scope SOURCES test_scope.c LABELS scope)
