/* Test support: a cmocka fixture that opens a fresh graph into *state and
 * closes it after the test. Include after cmocka.h and varstore.h. */
#ifndef VS_TEST_GRAPH_FIXTURE_H
#define VS_TEST_GRAPH_FIXTURE_H

/* Setup: *state = a new, empty graph; -1 (test not run) if it cannot be
 * opened. */
static inline int graph_setup(void **state)
{
    vs_graph *g = NULL;
    if (vs_graph_open(&g) != VS_OK)
        return -1;
    *state = g;
    return 0;
}

/* Teardown: closes the graph graph_setup opened. */
static inline int graph_teardown(void **state)
{
    vs_graph_close(*state);
    return 0;
}

/* A test run between graph_setup and graph_teardown. */
#define GRAPH_TEST(f)                                                          \
    cmocka_unit_test_setup_teardown(f, graph_setup, graph_teardown)

#endif /* VS_TEST_GRAPH_FIXTURE_H */
