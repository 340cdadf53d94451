/* Value cases: conv2d (padding, strides, dilations) and max/avg pools on
 * inputs from a fixed LCG; oracle.py justifies the tolerance. */
#include "oc.h"

#include <string.h>

enum { OP_CONV, OP_MAX, OP_AVG };
static const char *const op_names[] = {"conv2d", "max_pool", "avg_pool"};

typedef struct {
    const char *id;
    int op;
    int64_t in[4];
    int64_t filter[4]; /* conv only */
    int ksize[4];      /* pools only */
    int strides[4];
    int dilations[4];
    vs_padding padding;
} op_spec;

#define IN {2, 9, 11, 3}
#define F33 {3, 3, 3, 4}
#define S(a, b) {1, a, b, 1}
static const op_spec specs[] = {
    {"conv2d.same.s1", OP_CONV, IN, F33, {0}, S(1, 1), S(1, 1), VS_PAD_SAME},
    {"conv2d.valid.s1", OP_CONV, IN, F33, {0}, S(1, 1), S(1, 1), VS_PAD_VALID},
    {"conv2d.same.s2", OP_CONV, IN, F33, {0}, S(2, 2), S(1, 1), VS_PAD_SAME},
    {"conv2d.valid.s2", OP_CONV, IN, F33, {0}, S(2, 2), S(1, 1), VS_PAD_VALID},
    {"conv2d.same.s23", OP_CONV, IN, F33, {0}, S(2, 3), S(1, 1), VS_PAD_SAME},
    {"conv2d.valid.s32", OP_CONV, IN, F33, {0}, S(3, 2), S(1, 1),
     VS_PAD_VALID},
    {"conv2d.same.d2", OP_CONV, IN, F33, {0}, S(1, 1), S(2, 2), VS_PAD_SAME},
    {"conv2d.valid.d23", OP_CONV, IN, F33, {0}, S(1, 1), S(2, 3),
     VS_PAD_VALID},
    {"conv2d.same.f5x4", OP_CONV, IN, {5, 4, 3, 6}, {0}, S(1, 1), S(1, 1),
     VS_PAD_SAME},
    {"conv2d.same.f1x1.s2", OP_CONV, IN, {1, 1, 3, 5}, {0}, S(2, 2), S(1, 1),
     VS_PAD_SAME},
    {"conv2d.same.f4x4.s3", OP_CONV, {1, 10, 10, 3}, {4, 4, 3, 2}, {0},
     S(3, 3), S(1, 1), VS_PAD_SAME},
    {"conv2d.valid.deep", OP_CONV, {1, 8, 8, 64}, {3, 3, 64, 32}, {0},
     S(1, 1), S(1, 1), VS_PAD_VALID},
    {"max_pool.valid.k2s2", OP_MAX, IN, {0}, S(2, 2), S(2, 2), {0},
     VS_PAD_VALID},
    {"max_pool.same.k2s2", OP_MAX, IN, {0}, S(2, 2), S(2, 2), {0},
     VS_PAD_SAME},
    {"max_pool.same.k3s1", OP_MAX, IN, {0}, S(3, 3), S(1, 1), {0},
     VS_PAD_SAME},
    {"max_pool.same.k3s2", OP_MAX, IN, {0}, S(3, 3), S(2, 2), {0},
     VS_PAD_SAME},
    {"max_pool.valid.k2x3s1x2", OP_MAX, IN, {0}, S(2, 3), S(1, 2), {0},
     VS_PAD_VALID},
    {"avg_pool.valid.k2s2", OP_AVG, IN, {0}, S(2, 2), S(2, 2), {0},
     VS_PAD_VALID},
    {"avg_pool.same.k2s2", OP_AVG, IN, {0}, S(2, 2), S(2, 2), {0},
     VS_PAD_SAME},
    {"avg_pool.same.k3s1", OP_AVG, IN, {0}, S(3, 3), S(1, 1), {0},
     VS_PAD_SAME},
    {"avg_pool.same.k3s2", OP_AVG, IN, {0}, S(3, 3), S(2, 2), {0},
     VS_PAD_SAME},
    {"avg_pool.valid.k2x3s1x2", OP_AVG, IN, {0}, S(2, 3), S(1, 2), {0},
     VS_PAD_VALID},
    {"max_pool.depthwise.k1x1x2", OP_MAX, {1, 4, 4, 6}, {0}, {1, 1, 1, 2},
     {1, 1, 1, 2}, {0}, VS_PAD_VALID},
};
#define N_SPECS (sizeof specs / sizeof specs[0])

void oc_lcg_fill(uint32_t seed, float *x, int64_t n)
{
    uint32_t s = seed;
    int64_t i;
    for (i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((int32_t)(s >> 8) - (1 << 23)) / (float)(1 << 23);
    }
}

/* Input seed 1 + 2i, filter seed 2 + 2i for spec i. */
static int lcg_tensor(const int64_t *shape, uint32_t seed, vs_tensor **out)
{
    int rc = vs_tensor_new(VS_FLOAT32, 4, shape, out);
    if (rc == VS_OK)
        oc_lcg_fill(seed, (*out)->data, vs_tensor_numel(*out));
    return rc;
}

static int run_op(const oc_case *c, oc_result *r)
{
    const op_spec *s = c->spec;
    uint32_t seed = 1u + 2u * (uint32_t)c->variant;
    vs_tensor *x = NULL, *w = NULL;
    int rc = lcg_tensor(s->in, seed, &x);
    if (rc == VS_OK && s->op == OP_CONV)
        rc = lcg_tensor(s->filter, seed + 1, &w);
    if (rc == VS_OK && s->op == OP_CONV)
        rc = vs_conv2d_ex(x, w, s->strides, s->padding, s->dilations,
                          &r->tensor);
    else if (rc == VS_OK && s->op == OP_MAX)
        rc = vs_max_pool(x, s->ksize, s->strides, s->padding, &r->tensor);
    else if (rc == VS_OK)
        rc = vs_avg_pool(x, s->ksize, s->strides, s->padding, &r->tensor);
    vs_tensor_free(x);
    vs_tensor_free(w);
    return rc;
}

static void json_ints(FILE *f, const char *key, const int *v)
{
    fprintf(f, ", \"%s\": [%d, %d, %d, %d]", key, v[0], v[1], v[2], v[3]);
}

static void spec_json(const oc_case *c, FILE *f)
{
    const op_spec *s = c->spec;
    uint32_t seed = 1u + 2u * (uint32_t)c->variant;
    fprintf(f, "\"group\": \"%s\", \"input\": ", op_names[s->op]);
    oc_json_shape(f, 4, s->in);
    fprintf(f, ", \"input_seed\": %u", (unsigned)seed);
    if (s->op == OP_CONV) {
        fputs(", \"filter\": ", f);
        oc_json_shape(f, 4, s->filter);
        fprintf(f, ", \"filter_seed\": %u", (unsigned)seed + 1);
        json_ints(f, "dilations", s->dilations);
    } else {
        json_ints(f, "ksize", s->ksize);
    }
    json_ints(f, "strides", s->strides);
    fprintf(f, ", \"padding\": \"%s\"",
            s->padding == VS_PAD_SAME ? "SAME" : "VALID");
}

void oc_ops_cases(oc_add_fn add)
{
    size_t i;
    for (i = 0; i < N_SPECS; i++) {
        oc_case c;
        memset(&c, 0, sizeof c);
        snprintf(c.name, sizeof c.name, "op.%s", specs[i].id);
        c.run = run_op;
        c.spec_json = spec_json;
        c.spec = &specs[i];
        c.variant = (int)i;
        add(&c);
    }
}
