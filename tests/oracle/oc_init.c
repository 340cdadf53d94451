/* Value cases: every initializer, through vs_get_variable with a graph seed
 * and an op seed, for each dtype TF allows; compared bit for bit. */
#include "oc.h"

#include <stdlib.h>
#include <string.h>

#define F_ALL ((1u << VS_FLOAT32) | (1u << VS_FLOAT64) | \
               (1u << VS_FLOAT16) | (1u << VS_BFLOAT16))
#define F32 (1u << VS_FLOAT32)
#define GSEED 1234

typedef struct {
    char id[48];      /* oracle.py's name for the initializer */
    vs_init init;     /* op seed included */
    int ndim;
    int64_t shape[VS_MAX_DIMS];
    unsigned dtypes;  /* bit per vs_dtype */
    int64_t graph_seed; /* VS_NO_SEED: none */
    int parts;        /* > 0: fixed_size_partitioner(parts) on axis 0 */
    int via_scope;    /* initializer and dtype from the variable scope */
} init_spec;

#define MAX_SPECS 64
static init_spec specs[MAX_SPECS];
static size_t n_specs;
static const double list_values[] = {1.0, 2.0, 3.5};
static const double too_many[] = {1, 2, 3, 4, 5, 6, 7, 8};

static init_spec *spec(const char *id, vs_init in, int ndim, int64_t d0,
                       int64_t d1, unsigned dtypes)
{
    init_spec *s = &specs[n_specs++];
    snprintf(s->id, sizeof s->id, "%s", id);
    s->init = in;
    s->ndim = ndim;
    s->shape[0] = d0;
    s->shape[1] = d1;
    s->shape[2] = 4;
    s->shape[3] = 8;
    s->dtypes = dtypes;
    s->graph_seed = GSEED;
    return s;
}

/* The [3, 3, 4, 8] conv kernel shape. */
static void conv_shape(init_spec *s)
{
    s->ndim = 4;
    s->shape[0] = 3;
    s->shape[1] = 3;
}

static const char *const mode_names[] = {"fan_in", "fan_out", "fan_avg"};
static const char *const dist_names[] = {"truncated_normal", "uniform",
                                         "untruncated_normal", "normal"};

static void variance_scaling_specs(void)
{
    int m, d;
    for (m = 0; m < 3; m++)
        for (d = 0; d < 4; d++) {
            char id[48];
            snprintf(id, sizeof id, "variance_scaling.%s.%s", mode_names[m],
                     dist_names[d]);
            conv_shape(spec(id, vs_init_variance_scaling(1.7, m, d,
                                                         11 + m * 4 + d),
                            4, 3, 3, F_ALL));
        }
}

static void basic_specs(void)
{
    const unsigned ints = (1u << VS_INT64) | (1u << VS_INT32);
    spec("zeros", vs_init_zeros(), 2, 5, 7, F_ALL | ints);
    spec("ones", vs_init_ones(), 2, 5, 7, F_ALL | ints);
    spec("constant", vs_init_constant(0.3), 2, 5, 7, F_ALL);
    spec("constant_list", vs_init_constant_values(list_values, 3), 2, 2, 3,
         F_ALL | ints);
    spec("random_normal", vs_init_random_normal(0.5, 2.0, 7), 2, 5, 7, F_ALL);
    spec("truncated_normal", vs_init_truncated_normal(-1.0, 1.5, 8), 2, 5, 7,
         F_ALL);
    spec("random_uniform", vs_init_random_uniform(-2.0, 3.0, 9), 2, 5, 7,
         F_ALL);
    spec("random_uniform_int", vs_init_random_uniform(-5, 17, 10), 2, 5, 7,
         ints);
}

static void named_specs(void)
{
    conv_shape(spec("glorot_uniform", vs_init_glorot_uniform(21), 4, 0, 0,
                    F_ALL));
    spec("glorot_normal", vs_init_glorot_normal(22), 2, 6, 10, F_ALL);
    conv_shape(spec("he_normal", vs_init_he_normal(23), 4, 0, 0, F_ALL));
    conv_shape(spec("he_uniform", vs_init_he_uniform(24), 4, 0, 0, F_ALL));
    conv_shape(spec("lecun_normal", vs_init_lecun_normal(25), 4, 0, 0, F_ALL));
    conv_shape(spec("lecun_uniform", vs_init_lecun_uniform(26), 4, 0, 0,
                    F_ALL));
    conv_shape(spec("xavier_uniform", vs_init_xavier(1, 27), 4, 0, 0, F_ALL));
    spec("xavier_normal", vs_init_xavier(0, 28), 2, 6, 10, F_ALL);
    spec("xavier_conv2d_uniform", vs_init_xavier_conv2d(1, 29), 2, 1, 9,
         F32);
    spec("orthogonal.tall", vs_init_orthogonal(1.3, 30), 2, 6, 4, F_ALL);
    spec("orthogonal.wide", vs_init_orthogonal(1.0, 31), 2, 3, 5, F_ALL);
    conv_shape(spec("orthogonal.conv", vs_init_orthogonal(0.7, 32), 4, 0, 0,
                    F_ALL));
    spec("identity", vs_init_identity(2.0), 2, 4, 6, F_ALL);
}

static init_spec *with_shape(init_spec *s, int ndim, const int64_t *shape)
{
    int i;
    s->ndim = ndim;
    for (i = 0; i < ndim; i++)
        s->shape[i] = shape[i];
    return s;
}

/* Fans of rank 0, 1 and 5, a 1x1 matrix, an int64 range beyond 32 bits,
 * and the scope's initializer and dtype inherited. */
static void edge_specs(void)
{
    static const int64_t r5[] = {2, 3, 4, 5, 6}, one[] = {1, 1};
    const unsigned wide = (1u << VS_FLOAT32) | (1u << VS_FLOAT64);
    with_shape(spec("edge.glorot_uniform.scalar", vs_init_glorot_uniform(70),
                    0, 0, 0, wide), 0, NULL);
    spec("edge.glorot_uniform.vector", vs_init_glorot_uniform(71), 1, 7, 0,
         wide);
    with_shape(spec("edge.he_normal.rank5", vs_init_he_normal(72), 0, 0, 0,
                    wide), 5, r5);
    with_shape(spec("edge.lecun_uniform.1x1", vs_init_lecun_uniform(73), 0, 0,
                    0, wide), 2, one);
    with_shape(spec("edge.xavier_uniform.scalar", vs_init_xavier(1, 74), 0,
                    0, 0, wide), 0, NULL);
    spec("edge.xavier_normal.vector", vs_init_xavier(0, 75), 1, 9, 0, wide);
    with_shape(spec("edge.variance_scaling.rank5",
                    vs_init_variance_scaling(0.3, VS_FAN_OUT,
                                             VS_DIST_UNTRUNCATED_NORMAL, 76),
                    0, 0, 0, wide), 5, r5);
    spec("edge.random_uniform_int.wide",
         vs_init_random_uniform(-1099511627776.0, 1099511627776.0, 77), 2, 5,
         7, 1u << VS_INT64);
    {
        vs_init none;
        memset(&none, 0, sizeof none);
        none.seed = VS_NO_SEED;
        spec("default_initializer", none, 2, 5, 7,
             (1u << VS_INT32) | (1u << VS_INT64) | (1u << VS_BOOL) |
                 (1u << VS_UINT8));
    }
    spec("scope_default.random_uniform", vs_init_random_uniform(-1, 1, 78),
         2, 5, 7, wide | (1u << VS_FLOAT16))->via_scope = 1;
    spec("scope_default.glorot_normal", vs_init_glorot_normal(79), 2, 6, 10,
         wide | (1u << VS_BFLOAT16))->via_scope = 1;
}

/* Initializers TF refuses: both sides must refuse with TF's text. */
static void refused_specs(void)
{
    static const int64_t cube[] = {2, 2, 2};
    const unsigned i32 = 1u << VS_INT32;
    spec("refused.too_many_values", vs_init_constant_values(too_many, 8), 2,
         2, 3, F32);
    spec("refused.negative_scale",
         vs_init_variance_scaling(-1.0, VS_FAN_IN, VS_DIST_UNIFORM, 80), 2, 3,
         4, F32);
    spec("refused.orthogonal_vector", vs_init_orthogonal(1.0, 81), 1, 5, 0,
         F32);
    with_shape(spec("refused.identity_cube", vs_init_identity(1.0), 0, 0, 0,
                    F32), 3, cube);
    spec("refused.glorot_uniform_int", vs_init_glorot_uniform(82), 2, 3, 4,
         i32);
    spec("refused.random_normal_int", vs_init_random_normal(0, 1, 83), 2, 3,
         4, i32);
    spec("refused.truncated_normal_int", vs_init_truncated_normal(0, 1, 84), 2,
         3, 4, i32);
    spec("refused.xavier_int", vs_init_xavier(1, 85), 2, 3, 4, i32);
}

static void seed_and_size_specs(void)
{
    spec("seed.zero_zero", vs_init_random_normal(0, 1, 0), 2, 5, 7, F32)
        ->graph_seed = 0;
    spec("seed.op_seed_wraps", vs_init_random_normal(0, 1, 2147483647 + 5LL),
         2, 5, 7, F32);
    spec("seed.op_only", vs_init_random_normal(0, 1, 40), 2, 5, 7, F32)
        ->graph_seed = VS_NO_SEED;
    spec("seed.graph_only", vs_init_random_normal(0, 1, VS_NO_SEED), 2, 5, 7,
         F32);
    spec("seed.big_graph_seed", vs_init_random_uniform(0, 1, 41), 2, 5, 7,
         F32)->graph_seed = 3000000000LL;
    spec("large.random_uniform", vs_init_random_uniform(-1, 1, 50), 2, 1100,
         1000, F32);
    spec("large.truncated_normal", vs_init_truncated_normal(0, 1, 51), 2,
         1024, 1100, F32);
    spec("large.glorot_normal", vs_init_glorot_normal(52), 2, 1030, 1024,
         (1u << VS_FLOAT32) | (1u << VS_FLOAT16));
    spec("partitioned.glorot_uniform", vs_init_glorot_uniform(60), 2, 10, 6,
         F32)->parts = 3;
    spec("partitioned.truncated_normal", vs_init_truncated_normal(0, 1, 61),
         2, 10, 6, F32)->parts = 3;
    spec("partitioned.xavier_uniform", vs_init_xavier(1, 62), 2, 10, 6, F32)
        ->parts = 3;
    spec("partitioned.identity", vs_init_identity(1.5), 2, 6, 6, F32)->parts =
        2;
}

static const char *kind_name(int kind)
{
    static const char *const names[] = {
        "none", "zeros", "ones", "constant", "random_normal",
        "truncated_normal", "random_uniform", "variance_scaling", "xavier",
        "orthogonal", "identity"};
    return kind >= 0 && kind <= VS_INIT_IDENTITY ? names[kind] : "?";
}

static void spec_json(const oc_case *c, FILE *f)
{
    const init_spec *s = c->spec;
    size_t i;
    fprintf(f, "\"group\": \"init\", \"init\": ");
    oc_json_str(f, s->id);
    fprintf(f, ", \"kind\": \"%s\", \"a\": %.17g, \"b\": %.17g",
            kind_name(s->init.kind), s->init.a, s->init.b);
    fprintf(f, ", \"dtype\": \"%s\", \"shape\": ",
            vs_dtype_name((vs_dtype)c->variant));
    oc_json_shape(f, s->ndim, s->shape);
    if (s->graph_seed >= 0)
        fprintf(f, ", \"graph_seed\": %lld", (long long)s->graph_seed);
    if (s->init.seed >= 0)
        fprintf(f, ", \"op_seed\": %lld", (long long)s->init.seed);
    if ((s->init.kind == VS_INIT_VARIANCE_SCALING ||
         s->init.kind == VS_INIT_XAVIER) &&
        s->init.mode >= 0 && s->init.mode < 3 &&
        s->init.distribution >= 0 && s->init.distribution < 4)
        fprintf(f, ", \"mode\": \"%s\", \"distribution\": \"%s\"",
                mode_names[s->init.mode], dist_names[s->init.distribution]);
    if (s->init.n_values) {
        fputs(", \"values\": [", f);
        for (i = 0; i < s->init.n_values; i++)
            fprintf(f, "%s%.17g", i ? ", " : "", s->init.values[i]);
        fputc(']', f);
    }
    if (s->parts)
        fprintf(f, ", \"parts\": %d", s->parts);
    if (s->via_scope)
        fputs(", \"via_scope\": true", f);
}

/* Copies the value of every part, in order, into r->tensor (the parts
 * split axis 0, so their bytes follow each other). */
static int collect(vs_var *const *vars, size_t n, const init_spec *s,
                   vs_dtype dt, oc_result *r)
{
    size_t i, at = 0;
    int rc = vs_tensor_new(dt, s->ndim, s->shape, &r->tensor);
    for (i = 0; rc == VS_OK && i < n; i++) {
        vs_tensor *t = NULL;
        size_t nb;
        rc = vs_var_value(vars[i], &t);
        if (rc != VS_OK)
            break;
        nb = vs_tensor_nbytes(t);
        if (at + nb > vs_tensor_nbytes(r->tensor))
            return VS_ERROR;
        memcpy((char *)r->tensor->data + at, t->data, nb);
        at += nb;
    }
    return rc;
}

static int make_vars(vs_graph *g, const init_spec *s, vs_dtype dt,
                     vs_var **vars, size_t *n)
{
    vs_var_opts o;
    int rc;
    memset(&o, 0, sizeof o);
    o.shape = s->shape;
    o.ndim = s->ndim;
    o.dtype = s->via_scope ? 0 : dt;
    o.initializer = s->via_scope ? NULL : &s->init;
    if (s->parts > 0) {
        vs_partitioner p = vs_partitioner_fixed_size(s->parts, 0);
        vs_partitioned *pv = NULL;
        size_t i;
        rc = vs_get_partitioned_variable(g, "v", &o, &p, &pv);
        if (rc != VS_OK)
            return rc;
        *n = vs_partitioned_num_parts(pv);
        for (i = 0; i < *n && i < 16; i++)
            vars[i] = vs_partitioned_part(pv, i);
        return *n <= 16 ? VS_OK : VS_ERROR;
    }
    *n = 1;
    return vs_get_variable(g, "v", &o, &vars[0]);
}

static int run_init(const oc_case *c, oc_result *r)
{
    const init_spec *s = c->spec;
    vs_graph *g = NULL;
    vs_var *vars[16];
    size_t n = 0;
    int rc = vs_graph_open(&g);
    if (rc != VS_OK)
        return rc;
    if (s->graph_seed >= 0)
        vs_graph_set_random_seed(g, s->graph_seed);
    if (s->via_scope) {
        vs_scope_opts so;
        memset(&so, 0, sizeof so);
        so.initializer = &s->init;
        so.dtype = (vs_dtype)c->variant;
        rc = vs_variable_scope_push(g, "s", &so, NULL);
    }
    if (rc == VS_OK)
        rc = make_vars(g, s, (vs_dtype)c->variant, vars, &n);
    if (rc == VS_OK)
        rc = vs_global_variables_initializer(g);
    if (rc == VS_OK)
        rc = collect(vars, n, s, (vs_dtype)c->variant, r);
    vs_graph_close(g);
    return rc;
}

void oc_init_cases(oc_add_fn add)
{
    size_t i;
    int d;
    if (n_specs == 0) {
        basic_specs();
        variance_scaling_specs();
        named_specs();
        edge_specs();
        refused_specs();
        seed_and_size_specs();
    }
    for (i = 0; i < n_specs; i++)
        for (d = VS_FLOAT32; d <= VS_BOOL; d++) {
            oc_case c;
            if (!(specs[i].dtypes & (1u << d)))
                continue;
            int n;
            memset(&c, 0, sizeof c);
            n = snprintf(c.name, sizeof c.name, "init.%s.%s", specs[i].id,
                         vs_dtype_name((vs_dtype)d));
            if (n < 0 || (size_t)n >= sizeof c.name)
                continue; /* never: ids are short */
            c.run = run_init;
            c.spec_json = spec_json;
            c.spec = &specs[i];
            c.variant = d;
            add(&c);
        }
}
