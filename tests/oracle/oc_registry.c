/* The registry of every oracle case, in a fixed order, found by name. */
#include "oc.h"

#include <string.h>

#define MAX_CASES 512
static oc_case cases[MAX_CASES];
static size_t n_cases;
static int overflow;

static void add(const oc_case *c)
{
    if (n_cases == MAX_CASES) {
        overflow = 1;
        return;
    }
    cases[n_cases++] = *c;
}

static void load(void)
{
    if (n_cases || overflow)
        return;
    oc_names_cases(add);
    oc_reuse_cases(add);
    oc_partition_cases(add);
    oc_init_cases(add);
    oc_ops_cases(add);
    if (overflow) {
        fprintf(stderr, "oracle: more than %d cases\n", MAX_CASES);
        n_cases = 0;
    }
}

size_t oc_num_cases(void)
{
    load();
    return n_cases;
}

const oc_case *oc_case_at(size_t i)
{
    load();
    return i < n_cases ? &cases[i] : NULL;
}

const oc_case *oc_find(const char *name)
{
    size_t i;
    load();
    for (i = 0; i < n_cases; i++)
        if (strcmp(cases[i].name, name) == 0)
            return &cases[i];
    return NULL;
}
