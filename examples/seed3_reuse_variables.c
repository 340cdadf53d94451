/* Seed example 3: scope.reuse_variables() makes get_variable return the
 * existing var1, while Variable still makes var2 and var2_1. */
#include "example_util.h"

int main(void)
{
    vs_graph *g = NULL;
    vs_scope *scope = NULL;
    vs_var *var1, *var1_reuse, *var2, *var2_reuse;
    const int64_t one[] = {1};
    float two = 2.0f;
    vs_tensor init = {VS_FLOAT32, 1, {1}, &two};
    vs_var_opts o = {one, 1, VS_FLOAT32, NULL, 0, NULL};

    ex_check(vs_graph_open(&g), "vs_graph_open");
    ex_check(vs_variable_scope_push(g, "variable_scope_y", NULL, &scope),
             "vs_variable_scope_push");
    ex_check(vs_get_variable(g, "var1", &o, &var1), "vs_get_variable");
    vs_scope_reuse_variables(scope); /* share from here on */
    ex_check(vs_get_variable(g, "var1", NULL, &var1_reuse), "reuse var1");
    ex_check(vs_variable(g, "var2", &init, NULL, &var2), "vs_variable");
    ex_check(vs_variable(g, "var2", &init, NULL, &var2_reuse), "vs_variable");
    ex_check(vs_variable_scope_pop(g), "vs_variable_scope_pop");

    ex_check(vs_global_variables_initializer(g), "initializer");
    ex_print_var(var1);
    ex_print_var(var1_reuse); /* the same variable as var1 */
    ex_print_var(var2);
    ex_print_var(var2_reuse); /* variable_scope_y/var2_1:0 */
    printf("var1_reuse is var1: %s\n", var1 == var1_reuse ? "True" : "False");
    vs_graph_close(g);
    return 0;
}
