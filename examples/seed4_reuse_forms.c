/* Seed examples 4-6: three ways to share foo/v — reopen the scope with
 * reuse=True, re-enter the captured scope object with reuse=True, or use
 * AUTO_REUSE. */
#include "example_util.h"

static vs_var *get_v(vs_graph *g, int with_shape)
{
    const int64_t one[] = {1};
    vs_var_opts o = {one, 1, 0, NULL, 0, NULL};
    vs_var *v = NULL;
    ex_check(vs_get_variable(g, "v", with_shape ? &o : NULL, &v),
             "vs_get_variable");
    return v;
}

int main(void)
{
    vs_scope_opts reuse = {VS_REUSE, NULL, 0, NULL, 0};
    vs_scope_opts auto_reuse = {VS_AUTO_REUSE, NULL, 0, NULL, 0};
    vs_scope *foo_scope = NULL;
    vs_graph *g = NULL;
    vs_var *v, *v1;

    /* 4: with tf.variable_scope('foo', reuse=True) */
    ex_check(vs_graph_open(&g), "vs_graph_open");
    ex_check(vs_variable_scope_push(g, "foo", NULL, &foo_scope), "push");
    v = get_v(g, 1);
    ex_check(vs_variable_scope_pop(g), "pop");
    ex_check(vs_variable_scope_push(g, "foo", &reuse, NULL), "push");
    v1 = get_v(g, 0);
    ex_check(vs_variable_scope_pop(g), "pop");
    printf("reopen with reuse: %s %s same=%s\n", vs_var_name(v),
           vs_var_name(v1), v == v1 ? "True" : "False");
    vs_graph_close(g);

    /* 5: with tf.variable_scope(foo_scope, reuse=True) */
    ex_check(vs_graph_open(&g), "vs_graph_open");
    ex_check(vs_variable_scope_push(g, "foo", NULL, &foo_scope), "push");
    v = get_v(g, 1);
    ex_check(vs_variable_scope_pop(g), "pop");
    ex_check(vs_variable_scope_reenter(g, foo_scope, &reuse), "reenter");
    v1 = get_v(g, 0);
    ex_check(vs_variable_scope_pop(g), "pop");
    printf("scope object with reuse: %s %s same=%s\n", vs_var_name(v),
           vs_var_name(v1), v == v1 ? "True" : "False");
    vs_graph_close(g);

    /* 6: with tf.variable_scope('foo', reuse=tf.AUTO_REUSE) */
    ex_check(vs_graph_open(&g), "vs_graph_open");
    ex_check(vs_variable_scope_push(g, "foo", &auto_reuse, NULL), "push");
    v = get_v(g, 1);
    v1 = get_v(g, 0);
    ex_check(vs_variable_scope_pop(g), "pop");
    printf("AUTO_REUSE: %s %s same=%s\n", vs_var_name(v), vs_var_name(v1),
           v == v1 ? "True" : "False");
    vs_graph_close(g);
    return 0;
}
