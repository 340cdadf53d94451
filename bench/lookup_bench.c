/* get_variable reuse lookups per second on a registry of 100,000
 * variables. Each lookup is vs_get_variable under a reuse scope: the full
 * name is built, then ONE prepared, bound query on the registry's store
 * table (WITHOUT ROWID, keyed by full name) decides exists / shape / dtype.
 *
 * Usage: lookup_bench [n_vars] [n_lookups] */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "varstore.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int check(int rc, const char *what)
{
    if (rc != VS_OK) {
        fprintf(stderr, "%s: %s\n", what, vs_errmsg());
        exit(1);
    }
    return rc;
}

int main(int argc, char **argv)
{
    long n_vars = argc > 1 ? atol(argv[1]) : 100000;
    long n_lookups = argc > 2 ? atol(argv[2]) : 2000000;
    const int64_t shape[] = {3, 3, 64, 64};
    vs_var_opts o = {shape, 4, VS_FLOAT32, NULL, 0, NULL};
    vs_scope_opts reuse = {VS_REUSE, NULL, 0, NULL, 0};
    vs_scope **scopes;
    vs_graph *g = NULL;
    vs_var *v = NULL;
    double t0, t1, best = 1e30;
    long i, per_scope = 10, n_scopes;
    int round;
    uint64_t x = 88172645463325252ULL;
    char name[64];

    if (n_vars < per_scope || n_lookups < 1) {
        fprintf(stderr, "usage: lookup_bench [n_vars >= 10] [n_lookups]\n");
        return 2;
    }
    n_scopes = n_vars / per_scope;
    scopes = calloc((size_t)n_scopes, sizeof *scopes);
    if (scopes == NULL)
        return 1;
    check(vs_graph_open(&g), "open");
    t0 = now();
    for (i = 0; i < n_scopes; i++) {
        long k;
        snprintf(name, sizeof name, "net%03ld/layer%ld/block%ld", i % 1000,
                 (i / 1000) % 10, i / 10000);
        check(vs_variable_scope_push(g, name, NULL, &scopes[i]), "push");
        for (k = 0; k < per_scope; k++) {
            snprintf(name, sizeof name, "conv%ld/weights", k);
            check(vs_get_variable(g, name, &o, &v), "create");
        }
        check(vs_variable_scope_pop(g), "pop");
    }
    t1 = now();
    setvbuf(stdout, NULL, _IONBF, 0);
    printf("created %ld variables in %.3f s (%.0f /s; values not "
           "allocated until initialization)\n",
           n_scopes * per_scope, t1 - t0,
           (double)(n_scopes * per_scope) / (t1 - t0));

    /* 1. Pure lookups: full names at the root scope, random order. */
    {
        char **names = calloc((size_t)n_vars, sizeof *names);
        long *order = calloc((size_t)n_lookups, sizeof *order);
        if (names == NULL || order == NULL)
            return 1;
        for (i = 0; i < n_scopes * per_scope; i++) {
            names[i] = malloc(64);
            if (names[i] == NULL)
                return 1;
            snprintf(names[i], 64, "net%03ld/layer%ld/block%ld/conv%ld/weights",
                     (i / per_scope) % 1000, ((i / per_scope) / 1000) % 10,
                     (i / per_scope) / 10000, i % per_scope);
        }
        for (i = 0; i < n_lookups; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            order[i] = (long)(x % (uint64_t)(n_scopes * per_scope));
        }
        vs_scope_reuse_variables(vs_get_variable_scope(g));
        for (round = 0; round < 5; round++) {
            t0 = now();
            for (i = 0; i < n_lookups; i++)
                check(vs_get_variable(g, names[order[i]], &o, &v), "lookup");
            t1 = now();
            if (t1 - t0 < best)
                best = t1 - t0;
        }
        printf("pure reuse lookups (random full names): %ld in %.3f s "
               "(best of 5) = %.0f lookups/s, %.0f ns each (target >= "
               "1,000,000 /s)\n",
               n_lookups, best, (double)n_lookups / best,
               best / (double)n_lookups * 1e9);
        fflush(stdout);
        for (i = 0; i < n_scopes * per_scope; i++)
            free(names[i]);
        free(names);
        free(order);
        best = 1e30;
    }

    /* 2. The seed's pattern: re-enter a layer's scope, look up inside. */
    for (round = 0; round < 5; round++) {
        long done = 0;
        t0 = now();
        while (done < n_lookups) {
            /* a random scope, then a batch of lookups inside it */
            long s, k;
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            s = (long)(x % (uint64_t)n_scopes);
            check(vs_variable_scope_reenter(g, scopes[s], &reuse), "reenter");
            for (k = 0; k < per_scope && done < n_lookups; k++, done++) {
                static const char *const names[] = {
                    "conv0/weights", "conv1/weights", "conv2/weights",
                    "conv3/weights", "conv4/weights", "conv5/weights",
                    "conv6/weights", "conv7/weights", "conv8/weights",
                    "conv9/weights"};
                check(vs_get_variable(g, names[k], &o, &v), "lookup");
            }
            check(vs_variable_scope_pop(g), "pop");
        }
        t1 = now();
        if (t1 - t0 < best)
            best = t1 - t0;
    }
    printf("scope re-entry + %ld lookups inside: %ld lookups in %.3f s "
           "(best of 5) = %.0f lookups/s, %.0f ns each\n",
           per_scope,
           n_lookups, best, (double)n_lookups / best,
           best / (double)n_lookups * 1e9);
    vs_graph_close(g);
    free(scopes);
    return 0;
}
