/* varstore CLI: `varstore inspect` (cmd_inspect). Lists checkpoints and
 * tensors, prints values as NumPy's str() does (with its elision and float
 * layout), statistics, and the whole listing as one JSON document. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "varstore.h"
#include "vst.h"

/* ------------------------------------------------------------------------ */
/* Help text                                                                 */

static const char help_inspect[] =
    "usage: varstore inspect FILE [--step N] [--tensor NAME] [--all-tensors]\n"
    "                        [--all-tensor-names] [--stats] [--json] [--full]\n"
    "\n"
    "Lists the checkpoints in FILE and, for the newest one (or --step N),\n"
    "every tensor with its dtype, shape, size and compression.\n"
    "\n"
    "options:\n"
    "  --step N            inspect checkpoint N instead of the newest\n"
    "  --tensor NAME       print the values of tensor NAME (NumPy layout;\n"
    "                      large tensors are elided in the middle); repeatable\n"
    "  --all-tensors       print the values of every tensor\n"
    "  --all-tensor-names  print only the tensor names, one per line\n"
    "  --stats             add min, max, mean, std and NaN/Inf counts\n"
    "  --json              print everything as one JSON document (values in\n"
    "                      full, nested like the shape; NaN and Inf as null)\n"
    "  --full              print every value, without eliding\n"
    "  -h, --help          show this help\n"
    "\n"
    "examples:\n"
    "  varstore inspect model.db\n"
    "  varstore inspect model.db --step 100 --tensor conv1/weights --stats\n"
    "  varstore inspect model.db --json > model.json\n";

/* ------------------------------------------------------------------------ */
/* Number formatting                                                         */

/* The shortest %g text that reads back as the same value of the dtype. */
static void fmt_float(double v, vs_dtype dt, char *buf, size_t cap)
{
    int p, maxp = dt == VS_FLOAT64 ? 17 : 9;
    if (isnan(v)) {
        snprintf(buf, cap, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(buf, cap, v > 0 ? "inf" : "-inf");
        return;
    }
    for (p = 1; p <= maxp; p++) {
        double back;
        snprintf(buf, cap, "%.*g", p, v);
        back = strtod(buf, NULL);
        if (dt == VS_FLOAT64 ? back == v
            : dt == VS_FLOAT32 ? (float)back == (float)v
            : dt == VS_FLOAT16
                ? vs_float_to_half((float)back) == vs_float_to_half((float)v)
                : vs_float_to_bfloat16((float)back) ==
                      vs_float_to_bfloat16((float)v))
            return;
    }
}

/* Human (NumPy str) text of element i. */
static void fmt_elem(const vs_tensor *t, size_t i, char *buf, size_t cap)
{
    if (t->dtype == VS_BOOL) {
        snprintf(buf, cap, "%s", vst_elem_f64(t, i) != 0.0 ? "True" : "False");
    } else if (vs_dtype_is_floating(t->dtype)) {
        fmt_float(vst_elem_f64(t, i), t->dtype, buf, cap);
        size_t l = strlen(buf);
        if (strpbrk(buf, ".eni") == NULL && l + 1 < cap) {
            buf[l] = '.'; /* NumPy writes 1. for a float one */
            buf[l + 1] = '\0';
        }
    } else {
        snprintf(buf, cap, "%lld", (long long)vst_elem_i64(t, i));
    }
}

/* JSON text of element i (non-finite floats as null). */
static void json_elem(const vs_tensor *t, size_t i, char *buf, size_t cap)
{
    if (t->dtype == VS_BOOL) {
        snprintf(buf, cap, "%s", vst_elem_f64(t, i) != 0.0 ? "true" : "false");
    } else if (vs_dtype_is_floating(t->dtype)) {
        double v = vst_elem_f64(t, i);
        if (!isfinite(v))
            snprintf(buf, cap, "null");
        else
            fmt_float(v, t->dtype, buf, cap);
    } else {
        snprintf(buf, cap, "%lld", (long long)vst_elem_i64(t, i));
    }
}

/* ------------------------------------------------------------------------ */
/* NumPy-like value printing                                                 */

#define EDGE 3
#define THRESHOLD 1000
#define LINE_WIDTH 75
#define FLOAT_PREC 8 /* NumPy's default print precision */

/* Float layout, decided over the shown elements as NumPy's FloatingFormat
 * does (floatmode 'maxprec'): positional unless the largest magnitude is
 * >= 1e8, or the smallest non-zero one < 1e-4, or their ratio > 1e3. */
typedef struct {
    int exp;       /* scientific notation */
    int pad_left;  /* width of the integer part (with sign) */
    int pad_right; /* positional: fraction digits; scientific: unused */
    int prec;      /* scientific: mantissa fraction digits for all */
    int exp_size;  /* scientific: exponent digits */
    double min_nz, max_nz; /* non-zero finite magnitudes */
    int any_nz, any_nan, any_inf, any_neg_inf;
} float_fmt;

typedef struct {
    const vs_tensor *t;
    size_t stride[VS_MAX_DIMS];
    int summarize;
    int is_float;
    float_fmt ff;
    int width;   /* of every element text */
    int col;     /* current output column */
    int pending; /* padding spaces owed; dropped at a line end (rstrip) */
    FILE *f;
} printer;

static void flush_pending(printer *p)
{
    if (p->pending > 0)
        fprintf(p->f, "%*s", p->pending, "");
    p->pending = 0;
}

static void newline(printer *p)
{
    p->pending = 0;
    fputc('\n', p->f);
}

static int reads_back(const char *buf, double v, vs_dtype dt)
{
    double back = strtod(buf, NULL);
    switch (dt) {
    case VS_FLOAT64: return back == v;
    case VS_FLOAT32: return (float)back == (float)v;
    case VS_FLOAT16:
        return vs_float_to_half((float)back) == vs_float_to_half((float)v);
    default:
        return vs_float_to_bfloat16((float)back) ==
               vs_float_to_bfloat16((float)v);
    }
}

/* Fewest fraction digits (<= FLOAT_PREC) that identify v: positional
 * ("%.*f") or, sci != 0, of the mantissa ("%.*e"). */
static int fewest_digits(double v, vs_dtype dt, int sci)
{
    char buf[400];
    int f;
    for (f = 0; f < FLOAT_PREC; f++) {
        if (sci)
            snprintf(buf, sizeof buf, "%.*e", f, v);
        else
            snprintf(buf, sizeof buf, "%.*f", f, v);
        if (reads_back(buf, v, dt))
            return f;
    }
    return FLOAT_PREC;
}

/* Positional text of a finite v: "-12.5", "3." (trailing zeros of a
 * FLOAT_PREC rounding trimmed, as NumPy's trim='.'). */
static void fixed_text(double v, vs_dtype dt, char *buf, size_t cap)
{
    int f = fewest_digits(v, dt, 0);
    size_t l;
    snprintf(buf, cap, "%.*f", f, v);
    l = strlen(buf);
    if (f == 0) {
        if (l + 1 < cap) {
            buf[l] = '.';
            buf[l + 1] = '\0';
        }
        return;
    }
    while (l > 0 && buf[l - 1] == '0')
        buf[--l] = '\0';
}

/* Scientific text with prec fraction digits and exp_size exponent digits:
 * "1.2500e-01". */
static void sci_text(double v, int prec, int exp_size, char *buf, size_t cap)
{
    char tmp[64], *e;
    long ex;
    snprintf(tmp, sizeof tmp, "%.*e", prec, v);
    e = strchr(tmp, 'e');
    if (e == NULL) {
        snprintf(buf, cap, "%s", tmp);
        return;
    }
    ex = strtol(e + 1, NULL, 10);
    *e = '\0';
    snprintf(buf, cap, "%s%se%c%0*ld", tmp, prec == 0 ? "." : "",
             ex < 0 ? '-' : '+', exp_size, ex < 0 ? -ex : ex);
}

static int shown(const printer *p, int dim, int64_t i)
{
    int64_t n = p->t->shape[dim];
    return !p->summarize || n <= 2 * EDGE || i < EDGE || i >= n - EDGE;
}

/* Calls fn on every shown element. */
static void visit(printer *p, int dim, size_t off,
                  void (*fn)(printer *, size_t))
{
    int64_t i;
    if (dim == p->t->ndim) {
        fn(p, off);
        return;
    }
    for (i = 0; i < p->t->shape[dim]; i++)
        if (shown(p, dim, i))
            visit(p, dim + 1, off + (size_t)i * p->stride[dim], fn);
}

static void scan_range(printer *p, size_t off)
{
    float_fmt *ff = &p->ff;
    double v = vst_elem_f64(p->t, off), a = fabs(v);
    if (isnan(v)) {
        ff->any_nan = 1;
        return;
    }
    if (isinf(v)) {
        ff->any_inf = 1;
        if (v < 0)
            ff->any_neg_inf = 1;
        return;
    }
    if (a == 0.0)
        return;
    if (!ff->any_nz || a < ff->min_nz)
        ff->min_nz = a;
    if (!ff->any_nz || a > ff->max_nz)
        ff->max_nz = a;
    ff->any_nz = 1;
}

static void scan_pads(printer *p, size_t off)
{
    float_fmt *ff = &p->ff;
    double v = vst_elem_f64(p->t, off);
    char buf[400];
    const char *dot;
    int il, fl;
    if (!isfinite(v))
        return;
    if (ff->exp) {
        char *e;
        int d = fewest_digits(v, p->t->dtype, 1), el;
        if (d > ff->prec)
            ff->prec = d;
        snprintf(buf, sizeof buf, "%.*e", d, v);
        dot = strchr(buf, '.');
        e = strchr(buf, 'e');
        il = (int)((dot ? dot : e) - buf);
        el = (int)strlen(e + 2); /* after "e+" */
        if (il > ff->pad_left)
            ff->pad_left = il;
        if (el > ff->exp_size)
            ff->exp_size = el;
        return;
    }
    fixed_text(v, p->t->dtype, buf, sizeof buf);
    dot = strchr(buf, '.');
    il = (int)(dot - buf);
    fl = (int)strlen(dot + 1);
    if (il > ff->pad_left)
        ff->pad_left = il;
    if (fl > ff->pad_right)
        ff->pad_right = fl;
}

static void scan_width(printer *p, size_t off)
{
    char buf[64];
    int w;
    fmt_elem(p->t, off, buf, sizeof buf);
    w = (int)strlen(buf);
    if (w > p->width)
        p->width = w;
}

static void pr_elem(printer *p, size_t off)
{
    char buf[400];
    double v;
    const float_fmt *ff = &p->ff;

    if (!p->is_float) {
        fmt_elem(p->t, off, buf, sizeof buf);
        p->col += fprintf(p->f, "%*s", p->width, buf);
        return;
    }
    v = vst_elem_f64(p->t, off);
    if (!isfinite(v)) {
        p->col += fprintf(p->f, "%*s", p->width,
                          isnan(v) ? "nan" : v > 0 ? "inf" : "-inf");
        return;
    }
    if (ff->exp) {
        char *dot;
        sci_text(v, ff->prec, ff->exp_size, buf, sizeof buf);
        dot = strchr(buf, '.');
        p->col += fprintf(p->f, "%*.*s%s", ff->pad_left, (int)(dot - buf),
                          buf, dot);
    } else {
        const char *dot;
        fixed_text(v, p->t->dtype, buf, sizeof buf);
        dot = strchr(buf, '.');
        p->col += fprintf(p->f, "%*.*s%s", ff->pad_left, (int)(dot - buf),
                          buf, dot);
        p->pending = ff->pad_right + 1 - (int)strlen(dot);
        p->col += p->pending;
    }
}

static void pr_rec(printer *p, int dim, size_t off)
{
    int ndim = p->t->ndim, k;
    int64_t n = p->t->shape[dim], i;
    int first = 1;

    flush_pending(p);
    p->col += fprintf(p->f, "[");
    for (i = 0; i < n; i++) {
        if (!shown(p, dim, i)) {
            if (i == EDGE) {
                if (dim == ndim - 1) {
                    if (p->col + 4 > LINE_WIDTH - 1 - dim) {
                        newline(p);
                        p->col = fprintf(p->f, "%*s", dim + 1, "");
                        p->col += fprintf(p->f, "...");
                    } else {
                        flush_pending(p);
                        p->col += fprintf(p->f, " ...");
                    }
                } else {
                    for (k = 0; k < ndim - dim - 1; k++)
                        newline(p);
                    p->col = fprintf(p->f, "%*s...", dim + 1, "");
                }
                first = 0;
            }
            continue;
        }
        if (dim == ndim - 1) {
            if (!first) {
                /* NumPy keeps one column per open bracket for ']' */
                if (p->col + 1 + p->width > LINE_WIDTH - 1 - dim) {
                    newline(p);
                    p->col = fprintf(p->f, "%*s", dim + 1, "");
                } else {
                    flush_pending(p);
                    p->col += fprintf(p->f, " ");
                }
            }
            pr_elem(p, off + (size_t)i * p->stride[dim]);
        } else {
            if (!first) {
                for (k = 0; k < ndim - dim - 1; k++)
                    newline(p);
                p->col = fprintf(p->f, "%*s", dim + 1, "");
            }
            pr_rec(p, dim + 1, off + (size_t)i * p->stride[dim]);
        }
        first = 0;
    }
    flush_pending(p);
    p->col += fprintf(p->f, "]");
}

/* Prints t as NumPy's str() does (default print options). */
static void print_values(FILE *f, const vs_tensor *t, int full)
{
    printer p;
    int k;
    int64_t numel = vs_tensor_numel(t);

    memset(&p, 0, sizeof p);
    p.t = t;
    p.f = f;
    p.summarize = !full && numel > THRESHOLD;
    for (k = t->ndim - 1; k >= 0; k--)
        p.stride[k] = k == t->ndim - 1
                          ? 1
                          : p.stride[k + 1] * (size_t)t->shape[k + 1];
    if (t->ndim == 0) {
        /* a 0-d array prints as its scalar: 3.25, 1.0, True, 7 */
        char buf[64];
        if (vs_dtype_is_floating(t->dtype)) {
            size_t l;
            fmt_float(vst_elem_f64(t, 0), t->dtype, buf, sizeof buf);
            l = strlen(buf);
            if (strpbrk(buf, ".eni") == NULL && l + 2 < sizeof buf)
                memcpy(buf + l, ".0", 3);
        } else {
            fmt_elem(t, 0, buf, sizeof buf);
        }
        fprintf(f, "%s\n", buf);
        return;
    }
    if (numel == 0) {
        fputs("[]\n", f);
        return;
    }
    p.is_float = vs_dtype_is_floating(t->dtype);
    if (p.is_float) {
        float_fmt *ff = &p.ff;
        visit(&p, 0, 0, scan_range);
        ff->exp = ff->any_nz && (ff->max_nz >= 1e8 || ff->min_nz < 1e-4 ||
                                 ff->max_nz / ff->min_nz > 1e3);
        visit(&p, 0, 0, scan_pads);
        if (ff->exp) {
            if (ff->exp_size < 2)
                ff->exp_size = 2;
            ff->pad_right = ff->exp_size + 2 + ff->prec;
        }
        if (ff->any_nan || ff->any_inf) {
            int off = ff->pad_right + 1;
            int inflen = 3 + ff->any_neg_inf;
            if (3 - off > ff->pad_left)
                ff->pad_left = 3 - off;
            if (inflen - off > ff->pad_left)
                ff->pad_left = inflen - off;
        }
        p.width = ff->pad_left + 1 + ff->pad_right;
    } else {
        visit(&p, 0, 0, scan_width);
    }
    pr_rec(&p, 0, 0);
    fputc('\n', f);
}

/* Nested JSON arrays, every value. */
static void json_values_rec(FILE *f, const vs_tensor *t, int dim, size_t off,
                            const size_t *stride)
{
    int64_t i;
    char buf[64];
    if (dim == t->ndim) {
        json_elem(t, off, buf, sizeof buf);
        fputs(buf, f);
        return;
    }
    fputc('[', f);
    for (i = 0; i < t->shape[dim]; i++) {
        if (i)
            fputc(',', f);
        json_values_rec(f, t, dim + 1, off + (size_t)i * stride[dim], stride);
    }
    fputc(']', f);
}

static void json_values(FILE *f, const vs_tensor *t)
{
    size_t stride[VS_MAX_DIMS];
    int k;
    for (k = t->ndim - 1; k >= 0; k--)
        stride[k] =
            k == t->ndim - 1 ? 1 : stride[k + 1] * (size_t)t->shape[k + 1];
    json_values_rec(f, t, 0, 0, stride);
}

/* ------------------------------------------------------------------------ */
/* Statistics                                                                */

typedef struct {
    double min, max, mean, std;
    int64_t n_nan, n_inf, count; /* count: finite values used */
} stats;

static void compute_stats(const vs_tensor *t, stats *s)
{
    size_t i, n = (size_t)vs_tensor_numel(t);
    double mean = 0.0, m2 = 0.0;
    memset(s, 0, sizeof *s);
    s->min = INFINITY;
    s->max = -INFINITY;
    for (i = 0; i < n; i++) {
        double v = vst_elem_f64(t, i), d;
        if (isnan(v)) {
            s->n_nan++;
            continue;
        }
        if (isinf(v)) {
            s->n_inf++;
            continue;
        }
        s->count++;
        if (v < s->min)
            s->min = v;
        if (v > s->max)
            s->max = v;
        d = v - mean; /* Welford */
        mean += d / (double)s->count;
        m2 += d * (v - mean);
    }
    s->mean = s->count ? mean : NAN;
    s->std = s->count ? sqrt(m2 / (double)s->count) : NAN;
    if (!s->count) {
        s->min = NAN;
        s->max = NAN;
    }
}

/* Stats of a listed tensor: the stored ones for floats, else computed. */
static int info_stats(const char *path, int64_t step,
                      const vs_tensor_info *ti, stats *s)
{
    vs_tensor *t = NULL;
    if (ti->has_stats) {
        s->min = ti->min;
        s->max = ti->max;
        s->mean = ti->mean;
        s->std = ti->std;
        s->n_nan = ti->n_nan;
        s->n_inf = ti->n_inf;
        return EXIT_OK;
    }
    if (vs_load_variable(path, step, ti->name, &t) != VS_OK)
        return cli_err("%s", vs_errmsg());
    compute_stats(t, s);
    vs_tensor_free(t);
    return EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* inspect                                                                   */

static int inspect_json(const char *path, const char *journal,
                        const vs_ckpt_info *ck, size_t nck, int64_t step,
                        const vs_tensor_info *infos, size_t n,
                        int want_stats, const char **tensors, int n_tensors,
                        int all_tensors)
{
    FILE *f = stdout;
    size_t i;
    progress pg;

    fputs("{\"file\":", f);
    json_str(f, path);
    fputs(",\"journal\":", f);
    json_str(f, journal);
    fputs(",\"checkpoints\":[", f);
    for (i = 0; i < nck; i++) {
        fprintf(f, "%s{\"step\":%lld,\"created_at\":", i ? "," : "",
                (long long)ck[i].step);
        json_str(f, ck[i].created_at);
        fprintf(f,
                ",\"n_tensors\":%lld,\"raw_bytes\":%lld,"
                "\"stored_bytes\":%lld}",
                (long long)ck[i].n_tensors, (long long)ck[i].raw_bytes,
                (long long)ck[i].stored_bytes);
    }
    fputs("]", f);
    if (nck == 0) {
        fputs("}\n", f);
        return EXIT_OK;
    }
    fprintf(f, ",\"step\":%lld,\"tensors\":[", (long long)step);
    progress_start(&pg, "inspect", n);
    for (i = 0; i < n; i++) {
        const vs_tensor_info *ti = &infos[i];
        int with_values = all_tensors, k;
        for (k = 0; k < n_tensors && !with_values; k++)
            with_values = find_info(infos, n, tensors[k]) == ti;
        fprintf(f, "%s{\"name\":", i ? "," : "");
        json_str(f, ti->name);
        fprintf(f, ",\"dtype\":\"%s\",\"shape\":", vs_dtype_name(ti->dtype));
        json_shape(f, ti->ndim, ti->shape);
        fprintf(f,
                ",\"numel\":%lld,\"raw_bytes\":%lld,\"stored_bytes\":%lld,"
                "\"codec\":",
                (long long)ti->numel, (long long)ti->raw_bytes,
                (long long)ti->stored_bytes);
        json_str(f, ti->codec);
        fprintf(f, ",\"crc32\":%lu", (unsigned long)ti->crc32);
        if (want_stats) {
            stats s;
            if (info_stats(path, step, ti, &s) != EXIT_OK)
                return EXIT_ERR;
            fputs(",\"stats\":{\"min\":", f);
            json_num(f, s.min);
            fputs(",\"max\":", f);
            json_num(f, s.max);
            fputs(",\"mean\":", f);
            json_num(f, s.mean);
            fputs(",\"std\":", f);
            json_num(f, s.std);
            fprintf(f, ",\"n_nan\":%lld,\"n_inf\":%lld}", (long long)s.n_nan,
                    (long long)s.n_inf);
        }
        if (with_values) {
            vs_tensor *t = NULL;
            if (vs_load_variable(path, step, ti->name, &t) != VS_OK)
                return cli_err("%s", vs_errmsg());
            fputs(",\"values\":", f);
            json_values(f, t);
            vs_tensor_free(t);
        }
        fputc('}', f);
        progress_update(&pg, i + 1);
    }
    progress_end(&pg);
    fputs("]}\n", f);
    return EXIT_OK;
}

static int print_tensor(const char *path, int64_t step,
                        const vs_tensor_info *ti, int full)
{
    vs_tensor *t = NULL;
    char sb[VST_SHAPE_STR_MAX];
    if (vs_load_variable(path, step, ti->name, &t) != VS_OK)
        return cli_err("%s", vs_errmsg());
    printf("tensor_name: %s\n", ti->name);
    printf("dtype: %s  shape: %s\n", vs_dtype_name(t->dtype),
           vst_shape_str(t->ndim, t->shape, sb, sizeof sb));
    print_values(stdout, t, full);
    vs_tensor_free(t);
    return EXIT_OK;
}

/* What the command line asks for. */
typedef struct {
    const char *path;
    const char **tensors; /* --tensor names (argc slots) */
    int n_tensors, all_tensors, all_names, want_stats, want_json, full;
    int have_step;
    int64_t step;
} inspect_args;

/* A flag option of inspect: 1 if a is one (its field set), else 0. */
static int inspect_flag(const char *a, inspect_args *o)
{
    const struct {
        const char *name;
        int *field;
    } flags[] = {
        {"--all-tensors", &o->all_tensors},
        {"--all-tensor-names", &o->all_names},
        {"--stats", &o->want_stats},
        {"--json", &o->want_json},
        {"--full", &o->full},
    };
    size_t k;
    for (k = 0; k < sizeof flags / sizeof flags[0]; k++) {
        if (strcmp(a, flags[k].name) == 0) {
            *flags[k].field = 1;
            return 1;
        }
    }
    return 0;
}

/* Parses argv into o. -1: go on; else the exit status (help printed or a
 * usage error). */
static int inspect_parse(int argc, char **argv, inspect_args *o)
{
    const char *v;
    int i, r;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(help_inspect, stdout);
            return EXIT_OK;
        } else if ((r = opt_value(argc, argv, &i, "--step", &v)) != 0) {
            if (r < 0 || parse_i64(v, &o->step) != 0 || o->step < 0)
                return usage("inspect ",
                             "--step needs a non-negative integer");
            o->have_step = 1;
        } else if ((r = opt_value(argc, argv, &i, "--tensor", &v)) != 0) {
            if (r < 0)
                return usage("inspect ", "--tensor needs a tensor name");
            o->tensors[o->n_tensors++] = v;
        } else if (inspect_flag(a, o)) {
            continue;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage("inspect ", "unknown option '%s'", a);
        } else if (o->path == NULL) {
            o->path = a;
        } else {
            return usage("inspect ", "unexpected argument '%s'", a);
        }
    }
    if (o->path == NULL)
        return usage("inspect ", "inspect needs a FILE");
    return -1;
}

/* What inspect read from the file. */
typedef struct {
    vs_ckpt_info *ck;
    size_t nck;
    vs_tensor_info *infos;
    size_t n;
    const char *journal;
    int64_t step;
} inspect_data;

/* Whether tensor ti was asked for by --tensor (or --all-tensors). */
static int inspect_wanted(const inspect_args *o, const inspect_data *d,
                          const vs_tensor_info *ti)
{
    int i, want = o->all_tensors;
    for (i = 0; i < o->n_tensors && !want; i++)
        want = find_info(d->infos, d->n, o->tensors[i]) == ti;
    return want;
}

/* --tensor / --all-tensors without --json: each one's values (and stats). */
static int print_selected(const inspect_args *o, const inspect_data *d)
{
    size_t k;
    for (k = 0; k < d->n; k++) {
        stats s;
        if (!inspect_wanted(o, d, &d->infos[k]))
            continue;
        if (print_tensor(o->path, d->step, &d->infos[k], o->full) != EXIT_OK)
            return EXIT_ERR;
        if (!o->want_stats)
            continue;
        if (info_stats(o->path, d->step, &d->infos[k], &s) != EXIT_OK)
            return EXIT_ERR;
        printf("min %.9g  max %.9g  mean %.9g  std %.9g  nan %lld  "
               "inf %lld\n",
               s.min, s.max, s.mean, s.std, (long long)s.n_nan,
               (long long)s.n_inf);
    }
    return EXIT_OK;
}

/* Tables are sized to their content: each column as wide as its heading
 * (or the width it always had) or its widest value, whatever the values
 * (a step of 19 digits, a size of 4194304.0 TiB, a min of -1.79769e+308). */
static int widest(int w, const char *text)
{
    int l = (int)strlen(text);
    return l > w ? l : w;
}

static const char *lld_text(long long v, char *buf, size_t cap)
{
    snprintf(buf, cap, "%lld", v);
    return buf;
}

static const char *g_text(double v, char *buf, size_t cap)
{
    snprintf(buf, cap, "%.6g", v);
    return buf;
}

/* The checkpoints, one line each. */
static void print_ckpts(const inspect_data *d)
{
    char b1[32], b2[32], b3[32];
    int ws = 12, wc = 24, wt = 8, wr = 12, wst = 12;
    size_t k;
    for (k = 0; k < d->nck; k++) {
        const vs_ckpt_info *c = &d->ck[k];
        ws = widest(ws, lld_text(c->step, b1, sizeof b1));
        wc = widest(wc, c->created_at);
        wt = widest(wt, lld_text(c->n_tensors, b1, sizeof b1));
        wr = widest(wr, human(c->raw_bytes, b1, sizeof b1));
        wst = widest(wst, human(c->stored_bytes, b1, sizeof b1));
    }
    printf("  %*s  %-*s %*s %*s %*s\n", ws, "step", wc, "created_at", wt,
           "tensors", wr, "raw", wst, "stored");
    for (k = 0; k < d->nck; k++) {
        const vs_ckpt_info *c = &d->ck[k];
        printf("  %*lld  %-*s %*s %*s %*s\n", ws, (long long)c->step, wc,
               c->created_at, wt, lld_text(c->n_tensors, b3, sizeof b3), wr,
               human(c->raw_bytes, b1, sizeof b1), wst,
               human(c->stored_bytes, b2, sizeof b2));
    }
}

/* One line of the tensors table as text: name, dtype, shape, size,
 * stored, codec, then the statistics (min, max, mean, std, nan, inf). */
typedef struct {
    const char *c[12];
    char shape[VST_SHAPE_STR_MAX], num[12][32];
} tensor_row;

static void tensor_cells(const vs_tensor_info *ti, const stats *s,
                         tensor_row *r)
{
    r->c[0] = ti->name;
    r->c[1] = vs_dtype_name(ti->dtype);
    r->c[2] = vst_shape_str(ti->ndim, ti->shape, r->shape, sizeof r->shape);
    r->c[3] = human(ti->raw_bytes, r->num[3], sizeof r->num[3]);
    r->c[4] = human(ti->stored_bytes, r->num[4], sizeof r->num[4]);
    r->c[5] = ti->codec;
    if (s == NULL)
        return;
    r->c[6] = g_text(s->min, r->num[6], sizeof r->num[6]);
    r->c[7] = g_text(s->max, r->num[7], sizeof r->num[7]);
    r->c[8] = g_text(s->mean, r->num[8], sizeof r->num[8]);
    r->c[9] = g_text(s->std, r->num[9], sizeof r->num[9]);
    r->c[10] = lld_text(s->n_nan, r->num[10], sizeof r->num[10]);
    r->c[11] = lld_text(s->n_inf, r->num[11], sizeof r->num[11]);
}

/* The first n cells of a line (6, or 12 with the statistics) in columns
 * w: text left-aligned, numbers right-aligned. */
static void tensor_line(const int *w, const char *const *c, int n)
{
    printf("  %-*s  %-*s  %-*s  %*s  %*s  %-*s", w[0], c[0], w[1], c[1],
           w[2], c[2], w[3], c[3], w[4], c[4], w[5], c[5]);
    for (int k = 6; k < n; k++)
        printf(k == 6 ? "  %*s" : " %*s", w[k], c[k]);
    printf("\n");
}

/* The step's tensors, one line each; st: their statistics, or NULL. */
static void print_tensors(const inspect_data *d, const stats *st)
{
    static const char *const head[12] = {
        "name", "dtype", "shape", "size", "stored", "codec",
        "min",  "max",   "mean",  "std",  "nan",    "inf"};
    int w[12] = {4, 8, 5, 10, 10, 12, 12, 12, 12, 12, 6, 6};
    int n = st != NULL ? 12 : 6;
    tensor_row r;
    size_t k;
    for (k = 0; k < d->n; k++) {
        tensor_cells(&d->infos[k], st != NULL ? &st[k] : NULL, &r);
        for (int c = 0; c < n; c++)
            w[c] = widest(w[c], r.c[c]);
    }
    tensor_line(w, head, n);
    for (k = 0; k < d->n; k++) {
        tensor_cells(&d->infos[k], st != NULL ? &st[k] : NULL, &r);
        tensor_line(w, r.c, n);
    }
}

/* The table of checkpoints, then of the step's tensors (their statistics
 * gathered first: the columns are sized to them). */
static int print_table(const inspect_args *o, const inspect_data *d)
{
    stats *st = NULL;
    size_t k;
    if (o->want_stats) {
        st = calloc(d->n ? d->n : 1, sizeof *st);
        if (st == NULL)
            return cli_err("out of memory");
        for (k = 0; k < d->n; k++)
            if (info_stats(o->path, d->step, &d->infos[k], &st[k]) !=
                EXIT_OK) {
                free(st);
                return EXIT_ERR;
            }
    }
    printf("file: %s\n", o->path);
    printf("journal: %s\n", d->journal);
    printf("checkpoints: %zu\n", d->nck);
    print_ckpts(d);
    printf("\nstep %lld: %zu tensors\n", (long long)d->step, d->n);
    print_tensors(d, st);
    free(st);
    return EXIT_OK;
}

/* A file without checkpoints. */
static int inspect_empty(const inspect_args *o, const inspect_data *d)
{
    if (o->have_step || o->n_tensors > 0)
        return cli_err("%s has no checkpoints", o->path);
    if (o->want_json)
        return inspect_json(o->path, d->journal, d->ck, 0, 0, NULL, 0, 0,
                            NULL, 0, 0);
    if (!o->all_names)
        printf("%s: no checkpoints\n", o->path);
    return EXIT_OK;
}

/* The step inspected (the newest, or --step N if the file has it) and its
 * tensors listed into d; every --tensor name checked. */
static int inspect_load(const inspect_args *o, inspect_data *d)
{
    size_t k;
    int i;
    d->step = d->ck[d->nck - 1].step;
    if (o->have_step) {
        for (k = 0; k < d->nck && d->ck[k].step != o->step; k++)
            ;
        if (k == d->nck)
            return cli_err("%s has no checkpoint at step %lld", o->path,
                           (long long)o->step);
        d->step = o->step;
    }
    if (vs_list_variables(o->path, d->step, &d->infos, &d->n) != VS_OK)
        return cli_err("%s", vs_errmsg());
    for (i = 0; i < o->n_tensors; i++)
        if (find_info(d->infos, d->n, o->tensors[i]) == NULL)
            return cli_err("tensor '%s' not found in step %lld of %s",
                           o->tensors[i], (long long)d->step, o->path);
    return EXIT_OK;
}

static int inspect_run(const inspect_args *o, inspect_data *d)
{
    vs_journal jm = VS_JOURNAL_WAL;
    size_t k;
    if (need_checkpoint(o->path) != EXIT_OK)
        return EXIT_ERR;
    int tf = vs_tf_is_checkpoint(o->path);
    if (vs_list_checkpoints(o->path, &d->ck, &d->nck) != VS_OK ||
        (!tf && vs_get_journal_mode(o->path, &jm) != VS_OK))
        return cli_err("%s", vs_errmsg());
    d->journal = tf ? "none (TensorFlow checkpoint)"
                    : jm == VS_JOURNAL_WAL ? "wal" : "rollback";
    if (d->nck == 0)
        return inspect_empty(o, d);
    if (inspect_load(o, d) != EXIT_OK)
        return EXIT_ERR;
    if (o->want_json)
        return inspect_json(o->path, d->journal, d->ck, d->nck, d->step,
                            d->infos, d->n, o->want_stats, o->tensors,
                            o->n_tensors, o->all_tensors);
    if (o->all_names) {
        for (k = 0; k < d->n; k++)
            printf("%s\n", d->infos[k].name);
        return EXIT_OK;
    }
    if (o->n_tensors > 0 || o->all_tensors)
        return print_selected(o, d);
    return print_table(o, d);
}

int cmd_inspect(int argc, char **argv)
{
    inspect_args o;
    inspect_data d;
    int rc;

    memset(&o, 0, sizeof o);
    memset(&d, 0, sizeof d);
    o.step = VS_LATEST;
    o.tensors = calloc((size_t)argc + 1, sizeof *o.tensors);
    if (o.tensors == NULL)
        return cli_err("out of memory");
    rc = inspect_parse(argc, argv, &o);
    if (rc < 0)
        rc = inspect_run(&o, &d);
    vs_tensor_info_free(d.infos, d.n);
    vs_free(d.ck);
    free(o.tensors);
    return rc;
}
