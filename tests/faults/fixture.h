/* What the fault tests share: a small model (one variable above 1 MiB, so
 * that saves take the large-save path, plus small ones of other dtypes), its
 * expected values per step, and the checks that a checkpoint file is whole
 * after a failure. Include after cmocka.h. */
#ifndef VS_TEST_FAULTS_FIXTURE_H
#define VS_TEST_FAULTS_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "varstore.h"
#include "vs_test.h"

#define FX_NVARS 3

typedef struct {
    vs_graph *g;
    vs_var *v[FX_NVARS];
    char path[512];
} fx_model;

static const char *fx_names[FX_NVARS] = {"net/conv/w", "net/conv/b", "step"};

/* Builds the graph and gives every variable the values of `step`. */
static int fx_build(fx_model *m, const char *tag);
static void fx_set_values(fx_model *m, int64_t step);

static void fx_path(fx_model *m, const char *tag)
{
    const char *d = getenv("VS_TEST_TMPDIR");
    snprintf(m->path, sizeof m->path, "%s/faults_%s_%ld.db",
             d && *d ? d : "/tmp", tag, (long)getpid());
}

static void fx_unlink(const char *path)
{
    char side[600];
    unlink(path);
    snprintf(side, sizeof side, "%s-wal", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", path);
    unlink(side);
    snprintf(side, sizeof side, "%s-journal", path);
    unlink(side);
}

static int fx_build(fx_model *m, const char *tag)
{
    static const int64_t w_shape[] = {300, 1100}; /* 1.26 MiB */
    static const int64_t b_shape[] = {16};
    vs_var_opts o[FX_NVARS] = {
        {.shape = w_shape, .ndim = 2, .dtype = VS_FLOAT32},
        {.shape = b_shape, .ndim = 1, .dtype = VS_FLOAT64},
        {.shape = NULL, .ndim = 0, .dtype = VS_INT64},
    };
    vs_init zeros = vs_init_zeros();
    fx_path(m, tag);
    int rc = vs_graph_open(&m->g);
    for (int i = 0; rc == VS_OK && i < FX_NVARS; i++) {
        if (i == 2) {
            static const int64_t none[1] = {0};
            o[i].shape = none; /* a scalar: rank 0 with a shape */
        }
        o[i].initializer = &zeros;
        rc = vs_get_variable(m->g, fx_names[i], &o[i], &m->v[i]);
    }
    if (rc == VS_OK)
        rc = vs_global_variables_initializer(m->g);
    return rc;
}

static float fx_w(int64_t step, int64_t i)
{
    return (float)((i * 2654435761u + (uint64_t)step * 40503u) % 100003) /
           1000.0f;
}

static void fx_set_values(fx_model *m, int64_t step)
{
    vs_tensor *t = NULL;
    OK(vs_var_value(m->v[0], &t));
    for (int64_t i = 0; i < vs_tensor_numel(t); i++)
        ((float *)t->data)[i] = fx_w(step, i);
    OK(vs_var_value(m->v[1], &t));
    for (int64_t i = 0; i < vs_tensor_numel(t); i++)
        ((double *)t->data)[i] = (double)step + (double)i / 8.0;
    OK(vs_var_value(m->v[2], &t));
    *(int64_t *)t->data = step;
}

/* The variables hold exactly the values of `step`. */
static void fx_expect_values(fx_model *m, int64_t step)
{
    vs_tensor *t = NULL;
    OK(vs_var_value(m->v[0], &t));
    for (int64_t i = 0; i < vs_tensor_numel(t); i++)
        if (((float *)t->data)[i] != fx_w(step, i))
            fail_msg("w[%lld] is not step %lld's", (long long)i,
                     (long long)step);
    OK(vs_var_value(m->v[1], &t));
    assert_true(((double *)t->data)[3] == (double)step + 3.0 / 8.0);
    OK(vs_var_value(m->v[2], &t));
    assert_int_equal(*(int64_t *)t->data, step);
}

/* Does the file hold `step`? */
static int fx_has_step(const char *path, int64_t step)
{
    vs_ckpt_info *info = NULL;
    size_t n = 0;
    int found = 0;
    OK(vs_list_checkpoints(path, &info, &n));
    for (size_t i = 0; i < n; i++)
        found |= info[i].step == step;
    vs_free(info);
    return found;
}

/* After a failed operation: the file verifies, every step in `steps` is
 * there and restores bit-exact. Leaves the variables at the last one. */
static void fx_expect_intact(fx_model *m, const int64_t *steps, size_t n)
{
    size_t n_bad = 0;
    OK(vs_verify(m->path, &n_bad));
    assert_int_equal(n_bad, 0);
    for (size_t i = 0; i < n; i++) {
        if (!fx_has_step(m->path, steps[i]))
            fail_msg("step %lld is gone", (long long)steps[i]);
        fx_set_values(m, -1);
        OK(vs_restore(m->g, m->path, steps[i]));
        fx_expect_values(m, steps[i]);
    }
}

#endif /* VS_TEST_FAULTS_FIXTURE_H */
