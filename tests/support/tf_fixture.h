/* The TensorFlow checkpoint fixtures of tests/fixtures/tf (written by
 * tests/tf/make_fixtures.py): their variables and the one formula their
 * values follow, recomputed here. Include after cmocka.h. */
#ifndef VS_TEST_TF_FIXTURE_H
#define VS_TEST_TF_FIXTURE_H

#include <stdint.h>
#include <string.h>

#include "varstore.h"

typedef struct {
    const char *name;
    vs_dtype dtype;
    int ndim;
    int64_t shape[2];
    int seed;
} fixture_var;

/* As VARIABLES in tests/tf/make_fixtures.py. */
static const fixture_var vars[] = {
    {"bigpart/w", VS_FLOAT32, 2, {130, 2}, 14},
    {"dense/bias", VS_FLOAT32, 1, {4}, 2},
    {"dense/kernel", VS_FLOAT32, 2, {3, 4}, 1},
    {"empty", VS_FLOAT32, 2, {0, 3}, 12},
    {"flags", VS_BOOL, 1, {7}, 10},
    {"global_step", VS_INT64, 0, {0}, 11},
    {"ints/i32", VS_INT32, 1, {3}, 6},
    {"ints/i64", VS_INT64, 2, {2, 2}, 7},
    {"ints/i8", VS_INT8, 1, {4}, 8},
    {"ints/u8", VS_UINT8, 1, {6}, 9},
    {"outer/bf", VS_BFLOAT16, 2, {2, 2}, 5},
    {"outer/inner/h16", VS_FLOAT16, 1, {5}, 4},
    {"outer/inner/w64", VS_FLOAT64, 2, {2, 3}, 3},
    {"part/emb", VS_FLOAT32, 2, {10, 3}, 13},
};
#define N_VARS (sizeof vars / sizeof vars[0])

/* Element i of the variable with this seed, as make_fixtures.py computes. */
static void fixture_value(vs_dtype dt, int seed, int64_t i, void *out)
{
    int64_t k = (7 * i + seed) % 23;
    double f = (double)(k - 11) * 0.125;
    switch (dt) {
    case VS_FLOAT32: *(float *)out = (float)f; break;
    case VS_FLOAT64: *(double *)out = f; break;
    case VS_FLOAT16: *(uint16_t *)out = vs_float_to_half((float)f); break;
    case VS_BFLOAT16: *(uint16_t *)out = vs_float_to_bfloat16((float)f); break;
    case VS_INT8: *(int8_t *)out = (int8_t)(k - 11); break;
    case VS_INT32: *(int32_t *)out = (int32_t)((k - 11) * 100000); break;
    case VS_INT64: *(int64_t *)out = (k - 11) * 1000000000000LL; break;
    case VS_UINT8: *(uint8_t *)out = (uint8_t)(k * 10); break;
    case VS_BOOL: *(uint8_t *)out = k % 3 == 0; break;
    default: fail();
    }
}

static void check_fixture_tensor(const fixture_var *v, const vs_tensor *t)
{
    size_t es = vs_dtype_size(v->dtype);
    uint8_t want[8];
    assert_int_equal(t->dtype, v->dtype);
    assert_int_equal(t->ndim, v->ndim);
    for (int d = 0; d < v->ndim; d++)
        assert_int_equal(t->shape[d], v->shape[d]);
    for (int64_t i = 0; i < vs_tensor_numel(t); i++) {
        fixture_value(v->dtype, v->seed, i, want);
        if (memcmp((const uint8_t *)t->data + (size_t)i * es, want, es) != 0) {
            print_error("%s: element %lld differs\n", v->name, (long long)i);
            fail();
        }
    }
}

#endif /* VS_TEST_TF_FIXTURE_H */
