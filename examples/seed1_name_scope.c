/* Seed example 1: under a name scope, get_variable ignores it, while
 * Variable uses it and makes clashing names unique (var2, var2_1). */
#include "example_util.h"

int main(void)
{
    vs_graph *g = NULL;
    vs_var *var1, *var3, *var4;
    const int64_t one[] = {1};
    float two = 2.0f;
    vs_tensor init = {VS_FLOAT32, 1, {1}, &two};
    vs_var_opts o = {one, 1, VS_FLOAT32, NULL, 0, NULL};

    ex_check(vs_graph_open(&g), "vs_graph_open");
    ex_check(vs_name_scope_push(g, "name_scope_x"), "vs_name_scope_push");
    ex_check(vs_get_variable(g, "var1", &o, &var1), "vs_get_variable");
    ex_check(vs_variable(g, "var2", &init, NULL, &var3), "vs_variable");
    ex_check(vs_variable(g, "var2", &init, NULL, &var4), "vs_variable");
    ex_check(vs_name_scope_pop(g), "vs_name_scope_pop");

    ex_check(vs_global_variables_initializer(g), "initializer");
    ex_print_var(var1); /* var1:0 [random] : no name_scope_x */
    ex_print_var(var3); /* name_scope_x/var2:0 [2.] */
    ex_print_var(var4); /* name_scope_x/var2_1:0 [2.] */
    vs_graph_close(g);
    return 0;
}
