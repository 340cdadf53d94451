/* Seed example 2: get_variable twice with the same name and no reuse is
 * an error (the name scope does not help). */
#include "example_util.h"

int main(void)
{
    vs_graph *g = NULL;
    vs_var *var1 = NULL, *var2 = NULL;
    const int64_t one[] = {1};
    vs_var_opts o = {one, 1, VS_FLOAT32, NULL, 0, NULL};

    ex_check(vs_graph_open(&g), "vs_graph_open");
    ex_check(vs_name_scope_push(g, "name_scope_1"), "vs_name_scope_push");
    ex_check(vs_get_variable(g, "var1", &o, &var1), "vs_get_variable");
    ex_show_error(vs_get_variable(g, "var1", &o, &var2),
                  "vs_get_variable(\"var1\") again");
    ex_check(vs_name_scope_pop(g), "vs_name_scope_pop");
    vs_graph_close(g);
    return var2 == NULL ? 0 : 1;
}
