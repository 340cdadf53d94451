/* varstore: a loadable SQLite extension (libvarstore_sqlite) giving SQL
 * functions over the tensors stored in the checkpoint file the connection
 * has open:
 *
 *   vs_tensor_json(step, name)       nested JSON array (like ndarray.tolist)
 *   vs_tensor_values(step, name)     flat JSON array, row-major order
 *   vs_tensor_at(step, name, i)      element at flat index i (REAL/INTEGER)
 *   vs_tensor_numel(step, name)      number of elements
 *   vs_tensor_l2(step, name)         L2 norm, sqrt(sum x^2)
 *   vs_tensor_mean(step, name)       arithmetic mean
 *   vs_tensor_min(step, name), vs_tensor_max(step, name)
 *   vs_tensor_max_abs_diff(step_a, name_a, step_b, name_b)
 *
 * step NULL or -1 means the newest checkpoint. Tensors are read through the
 * public API (vs_load_variable on the connection's own file name), which
 * verifies every chunk's CRC; the last tensors read are cached per
 * connection until the file changes (PRAGMA data_version).
 *
 * Entry points: sqlite3_varstoresqlite_init (the name SQLite derives from
 * the file name "libvarstore_sqlite" when .load is given no entry point)
 * and sqlite3_varstore_sqlite_init (the same, by its natural spelling). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1

#include "elem.h"
#include "varstore.h"

#define JSON_SUBTYPE 74 /* 'J': SQLite's JSON functions take it as JSON */
#define CACHE_SLOTS 2

typedef struct {
    char *path;
    char *name;
    int64_t step; /* as asked: -1 for the newest */
    sqlite3_int64 data_version; /* file_version() when read */
    vs_tensor *t;
    unsigned long used; /* LRU clock */
} cache_slot;

typedef struct {
    cache_slot slot[CACHE_SLOTS];
    unsigned long clock;
    int refs; /* one per registered function (SQLite calls state_free as
                 each is deleted or replaced, or when registering fails) */
} ext_state;

static void state_free(void *p)
{
    ext_state *s = p;
    int i;
    if (s == NULL || --s->refs > 0)
        return;
    for (i = 0; i < CACHE_SLOTS; i++) {
        sqlite3_free(s->slot[i].path);
        sqlite3_free(s->slot[i].name);
        vs_tensor_free(s->slot[i].t);
    }
    sqlite3_free(s);
}

static int is_int_dtype(vs_dtype d)
{
    return d == VS_INT8 || d == VS_UINT8 || d == VS_INT32 || d == VS_INT64 ||
           d == VS_BOOL;
}

static void result_error(sqlite3_context *ctx, const char *fmt, ...)
{
    va_list ap;
    char *m;
    va_start(ap, fmt);
    m = sqlite3_vmprintf(fmt, ap);
    va_end(ap);
    if (m == NULL) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    sqlite3_result_error(ctx, m, -1);
    sqlite3_free(m);
}

/* A number that changes whenever the main database file changes: PRAGMA
 * data_version (commits by other connections, including the library's own)
 * mixed with this connection's change count. 0 when unknown (no caching). */
static sqlite3_int64 file_version(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    sqlite3_int64 v = 0;
    if (sqlite3_prepare_v2(db, "PRAGMA main.data_version", -1, &st, NULL) !=
        SQLITE_OK)
        return 0;
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (v == 0)
        return 0;
    return v * 1000003 + (sqlite3_int64)sqlite3_total_changes(db) + 1;
}

/* The tensor (step, name) of this connection's file; borrowed from the
 * cache. NULL after setting the SQL error. */
static const vs_tensor *get_tensor(sqlite3_context *ctx, sqlite3_value *vstep,
                                   sqlite3_value *vname)
{
    ext_state *s = sqlite3_user_data(ctx);
    sqlite3 *db = sqlite3_context_db_handle(ctx);
    const char *path = sqlite3_db_filename(db, "main");
    const char *name;
    int64_t step;
    sqlite3_int64 dv;
    cache_slot *slot = NULL;
    vs_tensor *t = NULL;
    int i, rc;

    if (path == NULL || path[0] == '\0') {
        sqlite3_result_error(ctx,
                             "varstore: the main database is not a file "
                             "(open a checkpoint file: sqlite3 model.db)",
                             -1);
        return NULL;
    }
    if (sqlite3_value_type(vname) != SQLITE_TEXT) {
        sqlite3_result_error(ctx, "varstore: the tensor name must be text",
                             -1);
        return NULL;
    }
    name = (const char *)sqlite3_value_text(vname);
    if (sqlite3_value_type(vstep) == SQLITE_NULL) {
        step = VS_LATEST;
    } else if (sqlite3_value_type(vstep) == SQLITE_INTEGER) {
        step = sqlite3_value_int64(vstep);
        if (step < 0 && step != VS_LATEST) {
            result_error(ctx, "varstore: step %lld is negative",
                         (long long)step);
            return NULL;
        }
    } else {
        sqlite3_result_error(ctx,
                             "varstore: the step must be an integer (NULL "
                             "or -1: the newest)",
                             -1);
        return NULL;
    }
    dv = file_version(db);
    for (i = 0; i < CACHE_SLOTS; i++) {
        cache_slot *c = &s->slot[i];
        if (c->t != NULL && c->step == step && c->data_version == dv &&
            dv != 0 && strcmp(c->name, name) == 0 &&
            strcmp(c->path, path) == 0) {
            c->used = ++s->clock;
            return c->t;
        }
    }
    rc = vs_load_variable(path, step, name, &t);
    if (rc != VS_OK) {
        result_error(ctx, "varstore: %s", vs_errmsg());
        return NULL;
    }
    /* Evict the least recently used slot. */
    for (i = 0; i < CACHE_SLOTS; i++)
        if (slot == NULL || s->slot[i].used < slot->used)
            slot = &s->slot[i];
    sqlite3_free(slot->path);
    sqlite3_free(slot->name);
    vs_tensor_free(slot->t);
    slot->path = sqlite3_mprintf("%s", path);
    slot->name = sqlite3_mprintf("%s", name);
    slot->t = t;
    slot->step = step;
    slot->data_version = dv;
    slot->used = ++s->clock;
    if (slot->path == NULL || slot->name == NULL) {
        sqlite3_free(slot->path);
        sqlite3_free(slot->name);
        vs_tensor_free(slot->t);
        memset(slot, 0, sizeof *slot);
        sqlite3_result_error_nomem(ctx);
        return NULL;
    }
    return t;
}

/* The shortest %g text that reads back as the same value of the dtype. */
static void fmt_num(const vs_tensor *t, size_t i, char *buf, size_t cap)
{
    double v;
    int p, maxp;
    if (is_int_dtype(t->dtype)) {
        snprintf(buf, cap, "%lld", (long long)vst_elem_i64(t, i));
        return;
    }
    v = vst_elem_f64(t, i);
    if (!isfinite(v)) {
        snprintf(buf, cap, "null");
        return;
    }
    maxp = t->dtype == VS_FLOAT64 ? 17 : 9;
    for (p = 1; p <= maxp; p++) {
        double back;
        snprintf(buf, cap, "%.*g", p, v);
        back = strtod(buf, NULL);
        if (t->dtype == VS_FLOAT64 ? back == v
            : t->dtype == VS_FLOAT32 ? (float)back == (float)v
            : t->dtype == VS_FLOAT16
                ? vs_float_to_half((float)back) == vs_float_to_half((float)v)
                : vs_float_to_bfloat16((float)back) ==
                      vs_float_to_bfloat16((float)v))
            return;
    }
}

static void json_rec(sqlite3_str *out, const vs_tensor *t, int dim,
                     size_t off, const size_t *stride)
{
    int64_t i;
    char buf[64];
    if (dim == t->ndim) {
        fmt_num(t, off, buf, sizeof buf);
        sqlite3_str_appendall(out, buf);
        return;
    }
    sqlite3_str_appendchar(out, 1, '[');
    /* Stop once the text is over SQLite's length limit: a shape such as
     * (10**12, 0) has no elements but would loop 10**12 times. */
    for (i = 0; i < t->shape[dim] && sqlite3_str_errcode(out) == SQLITE_OK;
         i++) {
        if (i)
            sqlite3_str_appendchar(out, 1, ',');
        json_rec(out, t, dim + 1, off + (size_t)i * stride[dim], stride);
    }
    sqlite3_str_appendchar(out, 1, ']');
}

static void result_json(sqlite3_context *ctx, sqlite3_str *out)
{
    int rc = sqlite3_str_errcode(out);
    char *z = sqlite3_str_finish(out);
    if (rc != SQLITE_OK || z == NULL) {
        sqlite3_free(z);
        if (rc == SQLITE_TOOBIG)
            sqlite3_result_error_toobig(ctx);
        else
            sqlite3_result_error_nomem(ctx);
        return;
    }
    sqlite3_result_text(ctx, z, -1, sqlite3_free);
    sqlite3_result_subtype(ctx, JSON_SUBTYPE);
}

static void fn_json(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const vs_tensor *t;
    size_t stride[VS_MAX_DIMS];
    sqlite3_str *out;
    int k;
    (void)argc;
    t = get_tensor(ctx, argv[0], argv[1]);
    if (t == NULL)
        return;
    for (k = t->ndim - 1; k >= 0; k--)
        stride[k] =
            k == t->ndim - 1 ? 1 : stride[k + 1] * (size_t)t->shape[k + 1];
    out = sqlite3_str_new(sqlite3_context_db_handle(ctx));
    json_rec(out, t, 0, 0, stride);
    result_json(ctx, out);
}

static void fn_values(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const vs_tensor *t;
    sqlite3_str *out;
    size_t i, n;
    char buf[64];
    (void)argc;
    t = get_tensor(ctx, argv[0], argv[1]);
    if (t == NULL)
        return;
    n = (size_t)vs_tensor_numel(t);
    out = sqlite3_str_new(sqlite3_context_db_handle(ctx));
    sqlite3_str_appendchar(out, 1, '[');
    for (i = 0; i < n; i++) {
        if (i)
            sqlite3_str_appendchar(out, 1, ',');
        fmt_num(t, i, buf, sizeof buf);
        sqlite3_str_appendall(out, buf);
    }
    sqlite3_str_appendchar(out, 1, ']');
    result_json(ctx, out);
}

static void fn_at(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const vs_tensor *t;
    int64_t i, n;
    (void)argc;
    if (sqlite3_value_type(argv[2]) != SQLITE_INTEGER) {
        sqlite3_result_error(ctx, "varstore: the index must be an integer",
                             -1);
        return;
    }
    t = get_tensor(ctx, argv[0], argv[1]);
    if (t == NULL)
        return;
    i = sqlite3_value_int64(argv[2]);
    n = vs_tensor_numel(t);
    if (i < 0 || i >= n) {
        result_error(ctx,
                     "varstore: index %lld is out of range for tensor '%s' "
                     "of %lld elements",
                     (long long)i, (const char *)sqlite3_value_text(argv[1]),
                     (long long)n);
        return;
    }
    if (is_int_dtype(t->dtype))
        sqlite3_result_int64(ctx, vst_elem_i64(t, (size_t)i));
    else if (isnan(vst_elem_f64(t, (size_t)i)))
        sqlite3_result_null(ctx); /* SQLite has no NaN */
    else
        sqlite3_result_double(ctx, vst_elem_f64(t, (size_t)i));
}

static void fn_numel(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    const vs_tensor *t;
    (void)argc;
    t = get_tensor(ctx, argv[0], argv[1]);
    if (t != NULL)
        sqlite3_result_int64(ctx, vs_tensor_numel(t));
}

/* Reductions: which = 0 l2, 1 mean, 2 min, 3 max. Empty: NULL (mean, min,
 * max) or 0 (l2). NaN results are returned as NULL. */
static void reduce(sqlite3_context *ctx, sqlite3_value **argv, int which)
{
    const vs_tensor *t = get_tensor(ctx, argv[0], argv[1]);
    size_t i, n;
    double acc = 0.0, comp = 0.0, r;
    if (t == NULL)
        return;
    n = (size_t)vs_tensor_numel(t);
    if (n == 0) {
        if (which == 0)
            sqlite3_result_double(ctx, 0.0);
        else
            sqlite3_result_null(ctx);
        return;
    }
    if (which >= 2)
        acc = vst_elem_f64(t, 0);
    for (i = 0; i < n; i++) {
        double v = vst_elem_f64(t, i), y, s;
        switch (which) {
        case 0:
        case 1:
            y = (which == 0 ? v * v : v) - comp; /* Kahan summation */
            s = acc + y;
            comp = (s - acc) - y;
            acc = s;
            break;
        case 2:
            if (v < acc || isnan(v))
                acc = isnan(acc) ? acc : v;
            break;
        default:
            if (v > acc || isnan(v))
                acc = isnan(acc) ? acc : v;
            break;
        }
    }
    r = which == 0 ? sqrt(acc) : which == 1 ? acc / (double)n : acc;
    if (isnan(r))
        sqlite3_result_null(ctx);
    else
        sqlite3_result_double(ctx, r);
}

static void fn_l2(sqlite3_context *c, int n, sqlite3_value **v)
{
    (void)n;
    reduce(c, v, 0);
}
static void fn_mean(sqlite3_context *c, int n, sqlite3_value **v)
{
    (void)n;
    reduce(c, v, 1);
}
static void fn_min(sqlite3_context *c, int n, sqlite3_value **v)
{
    (void)n;
    reduce(c, v, 2);
}
static void fn_max(sqlite3_context *c, int n, sqlite3_value **v)
{
    (void)n;
    reduce(c, v, 3);
}

static void fn_max_abs_diff(sqlite3_context *ctx, int argc,
                            sqlite3_value **argv)
{
    const vs_tensor *a, *b;
    size_t i, n;
    double m = 0.0;
    (void)argc;
    a = get_tensor(ctx, argv[0], argv[1]);
    if (a == NULL)
        return;
    b = get_tensor(ctx, argv[2], argv[3]);
    if (b == NULL)
        return;
    /* b's load may have evicted a only if both share a slot: with two
     * slots and LRU, a (just used) survives. */
    if (a->ndim != b->ndim ||
        memcmp(a->shape, b->shape, (size_t)a->ndim * sizeof a->shape[0]) !=
            0) {
        result_error(ctx,
                     "varstore: tensors '%s' and '%s' have different shapes",
                     (const char *)sqlite3_value_text(argv[1]),
                     (const char *)sqlite3_value_text(argv[3]));
        return;
    }
    n = (size_t)vs_tensor_numel(a);
    for (i = 0; i < n; i++) {
        double d = fabs(vst_elem_f64(a, i) - vst_elem_f64(b, i));
        if (isnan(d) || d > m)
            m = d;
        if (isnan(m))
            break;
    }
    if (isnan(m))
        sqlite3_result_null(ctx);
    else
        sqlite3_result_double(ctx, m);
}

static int register_all(sqlite3 *db, char **pzErrMsg)
{
    static const struct {
        const char *name;
        int nargs;
        void (*fn)(sqlite3_context *, int, sqlite3_value **);
    } fns[] = {
        {"vs_tensor_json", 2, fn_json},
        {"vs_tensor_values", 2, fn_values},
        {"vs_tensor_at", 3, fn_at},
        {"vs_tensor_numel", 2, fn_numel},
        {"vs_tensor_l2", 2, fn_l2},
        {"vs_tensor_mean", 2, fn_mean},
        {"vs_tensor_min", 2, fn_min},
        {"vs_tensor_max", 2, fn_max},
        {"vs_tensor_max_abs_diff", 4, fn_max_abs_diff},
    };
    ext_state *s = sqlite3_malloc(sizeof *s);
    size_t i;
    int rc;

    if (s == NULL)
        return SQLITE_NOMEM;
    memset(s, 0, sizeof *s);
    s->refs = 1; /* ours, for the loop */
    for (i = 0; i < sizeof fns / sizeof fns[0]; i++) {
        /* Every function holds a reference to the shared state: SQLite
         * calls state_free when one is replaced (a second load, a user
         * function of the same name) or when registering it fails, so the
         * state lives as long as any of them. Not deterministic: the file
         * changes. */
        s->refs++;
        rc = sqlite3_create_function_v2(db, fns[i].name, fns[i].nargs,
                                        SQLITE_UTF8 | SQLITE_DIRECTONLY, s,
                                        fns[i].fn, NULL, NULL, state_free);
        if (rc != SQLITE_OK) {
            if (pzErrMsg != NULL)
                *pzErrMsg = sqlite3_mprintf(
                    "varstore: cannot register %s: %s", fns[i].name,
                    sqlite3_errmsg(db));
            state_free(s); /* drop ours; SQLite dropped the failed one's */
            return rc;
        }
    }
    state_free(s); /* drop ours */
    return SQLITE_OK;
}

#if defined(__GNUC__) || defined(__clang__)
#define VS_EXT_EXPORT __attribute__((visibility("default")))
#else
#define VS_EXT_EXPORT
#endif

VS_EXT_EXPORT int sqlite3_varstoresqlite_init(sqlite3 *db, char **pzErrMsg,
                                              const sqlite3_api_routines *pApi);
VS_EXT_EXPORT int sqlite3_varstore_sqlite_init(
    sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi);

int sqlite3_varstoresqlite_init(sqlite3 *db, char **pzErrMsg,
                                const sqlite3_api_routines *pApi)
{
    SQLITE_EXTENSION_INIT2(pApi);
    return register_all(db, pzErrMsg);
}

int sqlite3_varstore_sqlite_init(sqlite3 *db, char **pzErrMsg,
                                 const sqlite3_api_routines *pApi)
{
    return sqlite3_varstoresqlite_init(db, pzErrMsg, pApi);
}
