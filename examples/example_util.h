/* Small printing helpers shared by the examples (numpy-like output). */
#ifndef VS_EXAMPLE_UTIL_H
#define VS_EXAMPLE_UTIL_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "varstore.h"

/* Prints a float the way numpy does for short arrays: "2." or
 * "-0.30036557". */
static inline void ex_print_float(double x)
{
    if (x == floor(x) && fabs(x) < 1e15)
        printf("%.0f.", x);
    else
        printf("%.8g", x);
}

/* Prints "name [v0 v1 ...]" for a float32 variable (TF's print(v.name,
 * sess.run(v))). */
static inline void ex_print_var(vs_var *v)
{
    vs_tensor *t = NULL;
    int64_t i, n;
    if (vs_var_value(v, &t) != VS_OK) {
        printf("%s <%s>\n", vs_var_name(v), vs_errmsg());
        return;
    }
    n = vs_tensor_numel(t);
    printf("%s [", vs_var_name(v));
    for (i = 0; i < n; i++) {
        if (i)
            printf(" ");
        if (t->dtype == VS_FLOAT32)
            ex_print_float(((const float *)t->data)[i]);
    }
    printf("]\n");
}

/* Exits with the library's message when a call fails. */
static inline void ex_check(int rc, const char *what)
{
    if (rc != VS_OK) {
        fprintf(stderr, "%s failed (%s): %s\n", what, vs_errstr(rc),
                vs_errmsg());
        exit(1);
    }
}

/* Shows an expected error: the code and TF's message. */
static inline void ex_show_error(int rc, const char *what)
{
    if (rc == VS_OK)
        printf("%s: unexpectedly succeeded\n", what);
    else
        printf("%s -> %s: %s\n", what, vs_errstr(rc), vs_errmsg());
}

#endif
