/* Seed's "reuse parameter" examples: reuse=False creates (a second get is
 * an error), reuse=True gets (and fails when the variable is missing). */
#include "example_util.h"

int main(void)
{
    vs_scope_opts no_reuse = {VS_REUSE_INHERIT, NULL, 0, NULL, 0};
    vs_scope_opts reuse = {VS_REUSE, NULL, 0, NULL, 0};
    const int64_t one[] = {1};
    vs_init c1 = vs_init_constant(1.0);
    vs_var_opts with_init = {one, 1, 0, &c1, 0, NULL};
    vs_var_opts plain = {one, 1, 0, NULL, 0, NULL};
    vs_graph *g = NULL;
    vs_var *v = NULL, *v1 = NULL;

    /* reuse=False: get_variable creates; the second call fails */
    ex_check(vs_graph_open(&g), "vs_graph_open");
    ex_check(vs_variable_scope_push(g, "foo", &no_reuse, NULL), "push");
    ex_check(vs_get_variable(g, "v", &with_init, &v), "vs_get_variable");
    ex_show_error(vs_get_variable(g, "v", &plain, &v1), "reuse=False, v again");
    ex_check(vs_variable_scope_pop(g), "pop");
    vs_graph_close(g);

    /* reuse=True: get_variable gets the existing variable */
    ex_check(vs_graph_open(&g), "vs_graph_open");
    ex_check(vs_variable_scope_push(g, "foo", NULL, NULL), "push");
    ex_check(vs_get_variable(g, "v", &with_init, &v), "vs_get_variable");
    ex_check(vs_variable_scope_pop(g), "pop");
    ex_check(vs_variable_scope_push(g, "foo", &reuse, NULL), "push");
    ex_check(vs_get_variable(g, "v", &plain, &v1), "vs_get_variable");
    ex_check(vs_variable_scope_pop(g), "pop");
    printf("reuse=True: v1 == v: %s\n", v1 == v ? "True" : "False");
    vs_graph_close(g);

    /* reuse=True on a variable that does not exist */
    ex_check(vs_graph_open(&g), "vs_graph_open");
    ex_check(vs_variable_scope_push(g, "foo", &reuse, NULL), "push");
    ex_show_error(vs_get_variable(g, "v", &plain, &v1), "reuse=True, no v");
    ex_check(vs_variable_scope_pop(g), "pop");
    vs_graph_close(g);
    return 0;
}
