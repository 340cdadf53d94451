/* varstore: the command-line tool. inspect, save, restore, diff, verify,
 * prune and rename checkpoint files, and move tensors to and from NumPy
 * .npy files and safetensors files. Written only against the public API
 * (varstore.h) plus the tools' own format modules.
 *
 * Exit status: 0 success, 1 error (including corruption found), 2 usage
 * error. Errors go to stderr as "varstore: <message>"; --help to stdout. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#ifdef __GLIBC__
#include <malloc.h> /* mallopt */
#endif

#include "npy.h"
#include "safetensors.h"
#include "varstore.h"
#include "vst.h"

#define EXIT_OK 0
#define EXIT_ERR 1
#define EXIT_USAGE 2

/* ------------------------------------------------------------------------ */
/* Help texts                                                                */

static const char help_main[] =
    "usage: varstore <command> [options]\n"
    "\n"
    "Inspect and manage varstore checkpoint files (SQLite databases holding\n"
    "many checkpoints), and move tensors to and from NumPy and safetensors.\n"
    "\n"
    "commands:\n"
    "  inspect   list checkpoints and tensors; print values and statistics\n"
    "  save      import .npy files or a safetensors file as a checkpoint\n"
    "  restore   export a checkpoint to .npy files or a safetensors file\n"
    "  diff      compare two checkpoints (of one file or of two files)\n"
    "  verify    check the schema and every chunk's CRC\n"
    "  prune     keep the newest N checkpoints, delete the rest\n"
    "  rename    rename a scope prefix in place, atomically\n"
    "\n"
    "options:\n"
    "  -h, --help     show this help; 'varstore <command> --help' (or\n"
    "                 'varstore help <command>') shows a command's options\n"
    "  --version      print the varstore version\n"
    "\n"
    "exit status: 0 success, 1 error (including corruption found), 2 usage\n"
    "error. Errors are printed on stderr as 'varstore: <message>'.\n"
    "\n"
    "example:\n"
    "  varstore inspect model.db\n";

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

static const char help_save[] =
    "usage: varstore save FILE --step N (--npy DIR | --safetensors SRC)\n"
    "                     [--prefix SCOPE/] [--codec CODEC] [--journal MODE]\n"
    "\n"
    "Imports tensors as checkpoint N of FILE (created if missing), in one\n"
    "transaction: either every tensor is saved or none is.\n"
    "\n"
    "options:\n"
    "  --step N           the checkpoint's step (required)\n"
    "  --npy DIR          import every .npy file under DIR, recursively;\n"
    "                     DIR/conv1/weights.npy becomes conv1/weights (other\n"
    "                     files are ignored)\n"
    "  --safetensors SRC  import every tensor of the safetensors file SRC\n"
    "  --prefix SCOPE/    put every name under SCOPE/ (a '/' is added if\n"
    "                     missing)\n"
    "  --codec CODEC      shuffle-zlib (default: byte shuffle + zlib on the\n"
    "                     byte planes where it pays) or raw (stored as is:\n"
    "                     bigger file, fastest save and restore)\n"
    "  --journal MODE     set FILE's journal mode first, kept in the file:\n"
    "                     wal (new files: readers never wait for a save) or\n"
    "                     rollback (a save writes its pages once, about\n"
    "                     twice as fast; readers wait while a save writes);\n"
    "                     fails if FILE is open elsewhere\n"
    "  -h, --help         show this help\n"
    "\n"
    "example:\n"
    "  varstore save model.db --step 1 --npy weights/ --prefix net/\n";

static const char help_restore[] =
    "usage: varstore restore FILE [--step N] (--npy DIR | --safetensors DST)\n"
    "                        [--tensor NAME ...]\n"
    "\n"
    "Exports a checkpoint bit-exactly. With --npy, conv1/weights becomes\n"
    "DIR/conv1/weights.npy (DIR and subfolders are created): the inverse of\n"
    "'varstore save --npy'. NumPy has no bfloat16: bfloat16 tensors are\n"
    "written as float32 (every bfloat16 value is exactly a float32), with a\n"
    "note on stderr; use --safetensors to keep them bfloat16.\n"
    "\n"
    "options:\n"
    "  --step N           export checkpoint N (default: the newest)\n"
    "  --npy DIR          write one .npy file per tensor under DIR\n"
    "  --safetensors DST  write one safetensors file; its __metadata__\n"
    "                     records the step as \"step\"\n"
    "  --tensor NAME      export only NAME; repeatable (default: all)\n"
    "  -h, --help         show this help\n"
    "\n"
    "example:\n"
    "  varstore restore model.db --step 100 --npy out/ --tensor conv1/weights\n";

static const char help_diff[] =
    "usage: varstore diff FILE STEP_A STEP_B [--json]\n"
    "       varstore diff FILE_A FILE_B [--json]\n"
    "\n"
    "Compares two checkpoints: two steps of one file, or the newest\n"
    "checkpoints of two files. Lists tensors added, removed and changed\n"
    "(dtype, shape, or values: how many elements differ, the largest\n"
    "absolute difference |b-a| and the largest relative difference\n"
    "|b-a| / max(|a|, |b|)). Exit status 0 whether or not they differ.\n"
    "\n"
    "options:\n"
    "  --json      print the result as one JSON document\n"
    "  -h, --help  show this help\n"
    "\n"
    "examples:\n"
    "  varstore diff model.db 100 200\n"
    "  varstore diff old.db new.db\n";

static const char help_verify[] =
    "usage: varstore verify FILE\n"
    "\n"
    "Checks the schema and every stored chunk's CRC32. Exit status 0 when\n"
    "all is well, 1 when anything is damaged: each bad tensor is named,\n"
    "with its step, on stderr.\n"
    "\n"
    "options:\n"
    "  -h, --help  show this help\n"
    "\n"
    "example:\n"
    "  varstore verify model.db\n";

static const char help_prune[] =
    "usage: varstore prune FILE --keep N\n"
    "\n"
    "Keeps the newest N checkpoints and deletes the others; chunks no kept\n"
    "checkpoint uses are freed.\n"
    "\n"
    "options:\n"
    "  --keep N    how many of the newest checkpoints to keep (at least 1)\n"
    "  -h, --help  show this help\n"
    "\n"
    "example:\n"
    "  varstore prune model.db --keep 5\n";

static const char help_rename[] =
    "usage: varstore rename FILE OLD/ NEW/ [--step N]\n"
    "\n"
    "Renames every tensor whose name starts with OLD/ to start with NEW/\n"
    "instead, in one transaction (the fix for a scope renamed in a\n"
    "refactor). It fails, changing nothing, if a new name is taken or if\n"
    "no name starts with OLD/.\n"
    "\n"
    "options:\n"
    "  --step N    rename in checkpoint N only (default: every checkpoint)\n"
    "  -h, --help  show this help\n"
    "\n"
    "example:\n"
    "  varstore rename model.db tower/conv1/ tower/block1/conv1/\n";

/* ------------------------------------------------------------------------ */
/* Messages and arguments                                                    */

static int err(const char *fmt, ...) VST_PRINTF(1, 2);
static int err(const char *fmt, ...)
{
    va_list ap;
    fputs("varstore: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_ERR;
}

static int usage(const char *cmd, const char *fmt, ...) VST_PRINTF(2, 3);
static int usage(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    fputs("varstore: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nTry 'varstore %s--help' for more information.\n",
            cmd ? cmd : "");
    return EXIT_USAGE;
}

static int is_help(const char *a)
{
    return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

/* Strict integer parse; 0 on success. */
static int parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;
    if (s == NULL || *s == '\0')
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0')
        return -1;
    *out = (int64_t)v;
    return 0;
}

/* Matches option `name` at argv[*i], as "--name VALUE" or "--name=VALUE".
 * Returns 1 and sets *val when matched, 0 when not this option, -1 when the
 * value is missing. */
static int opt_value(int argc, char **argv, int *i, const char *name,
                     const char **val)
{
    size_t n = strlen(name);
    const char *a = argv[*i];
    if (strncmp(a, name, n) != 0)
        return 0;
    if (a[n] == '=') {
        *val = a + n + 1;
        return 1;
    }
    if (a[n] != '\0')
        return 0;
    if (*i + 1 >= argc)
        return -1;
    *val = argv[++*i];
    return 1;
}

/* Fails unless path names an existing file (commands that only read must
 * never create one). */
static int need_file(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return err("cannot open '%s': %s", path, strerror(errno));
    if (!S_ISREG(st.st_mode))
        return err("'%s' is not a regular file", path);
    return EXIT_OK;
}

static const char *human(int64_t bytes, char *buf, size_t cap)
{
    static const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)bytes;
    int u = 0;
    if (bytes < 1024) {
        snprintf(buf, cap, "%lld B", (long long)bytes);
        return buf;
    }
    while (v >= 1024.0 && u < 4) {
        v /= 1024.0;
        u++;
    }
    snprintf(buf, cap, "%.1f %s", v, unit[u]);
    return buf;
}

/* ------------------------------------------------------------------------ */
/* Progress bar (stderr, only on a terminal, only once work takes a while)   */

/* A bar counts items (tensors, files) or, started with
 * progress_start_bytes, raw bytes reported by the library's progress
 * callbacks (progress_cb). It appears once the work has run for
 * VARSTORE_PROGRESS_DELAY seconds (default 0.5) and is redrawn at most
 * ten times a second; progress_end erases it. */
typedef struct {
    const char *label;
    uint64_t total;
    struct timespec start;
    double delay, drawn; /* seconds: before showing; of the last draw */
    int tty, shown, bytes;
} progress;

static double since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) +
           (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

static void progress_start(progress *p, const char *label, uint64_t total)
{
    const char *d = getenv("VARSTORE_PROGRESS_DELAY");
    char *end;
    p->label = label;
    p->total = total;
    p->tty = isatty(STDERR_FILENO);
    p->shown = 0;
    p->bytes = 0;
    p->drawn = 0;
    p->delay = 0.5;
    if (d != NULL && *d != '\0') {
        double v = strtod(d, &end);
        if (*end == '\0' && v >= 0 && v <= 1e6)
            p->delay = v;
    }
    clock_gettime(CLOCK_MONOTONIC, &p->start);
}

static void progress_start_bytes(progress *p, const char *label,
                                 uint64_t total)
{
    progress_start(p, label, total);
    p->bytes = 1;
}

static void progress_update(progress *p, uint64_t done)
{
    int width = 30, fill, k;
    double t;
    if (!p->tty || p->total == 0)
        return;
    t = since(&p->start);
    if (!p->shown && t < p->delay)
        return;
    if (p->shown && done < p->total && t - p->drawn < 0.1)
        return;
    p->shown = 1;
    p->drawn = t;
    if (done > p->total)
        done = p->total;
    fill = (int)((double)width * (double)done / (double)p->total);
    fprintf(stderr, "\r%s [", p->label);
    for (k = 0; k < width; k++)
        fputc(k < fill ? '=' : (k == fill ? '>' : ' '), stderr);
    if (p->bytes) {
        char a[32], b[32];
        fprintf(stderr, "] %s / %s   ", human((int64_t)done, a, sizeof a),
                human((int64_t)p->total, b, sizeof b));
    } else {
        fprintf(stderr, "] %llu/%llu", (unsigned long long)done,
                (unsigned long long)p->total);
    }
    fflush(stderr);
}

/* The library's progress callback (vs_save_opts.progress, ...): ctx is a
 * progress started with progress_start_bytes. Called on this thread. */
static void progress_cb(void *ctx, uint64_t done, uint64_t total)
{
    progress *p = ctx;
    p->total = total;
    progress_update(p, done);
}

static void progress_end(progress *p)
{
    if (p->shown) {
        fprintf(stderr, "\r%*s\r", 72, "");
        fflush(stderr);
    }
}

/* ------------------------------------------------------------------------ */
/* Element access and number formatting                                      */

static double elem_f64(const vs_tensor *t, size_t i)
{
    switch (t->dtype) {
    case VS_FLOAT32: return ((const float *)t->data)[i];
    case VS_FLOAT64: return ((const double *)t->data)[i];
    case VS_FLOAT16: return vs_half_to_float(((const uint16_t *)t->data)[i]);
    case VS_BFLOAT16:
        return vs_bfloat16_to_float(((const uint16_t *)t->data)[i]);
    case VS_INT8: return ((const int8_t *)t->data)[i];
    case VS_UINT8: return ((const uint8_t *)t->data)[i];
    case VS_INT32: return ((const int32_t *)t->data)[i];
    case VS_INT64: return (double)((const int64_t *)t->data)[i];
    case VS_BOOL: return ((const uint8_t *)t->data)[i] ? 1.0 : 0.0;
    }
    return 0.0;
}

static int64_t elem_i64(const vs_tensor *t, size_t i)
{
    if (t->dtype == VS_INT64)
        return ((const int64_t *)t->data)[i];
    return (int64_t)elem_f64(t, i);
}

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
        snprintf(buf, cap, "%s", elem_f64(t, i) != 0.0 ? "True" : "False");
    } else if (vs_dtype_is_floating(t->dtype)) {
        fmt_float(elem_f64(t, i), t->dtype, buf, cap);
        size_t l = strlen(buf);
        if (strpbrk(buf, ".eni") == NULL && l + 1 < cap) {
            buf[l] = '.'; /* NumPy writes 1. for a float one */
            buf[l + 1] = '\0';
        }
    } else {
        snprintf(buf, cap, "%lld", (long long)elem_i64(t, i));
    }
}

/* JSON text of element i (non-finite floats as null). */
static void json_elem(const vs_tensor *t, size_t i, char *buf, size_t cap)
{
    if (t->dtype == VS_BOOL) {
        snprintf(buf, cap, "%s", elem_f64(t, i) != 0.0 ? "true" : "false");
    } else if (vs_dtype_is_floating(t->dtype)) {
        double v = elem_f64(t, i);
        if (!isfinite(v))
            snprintf(buf, cap, "null");
        else
            fmt_float(v, t->dtype, buf, cap);
    } else {
        snprintf(buf, cap, "%lld", (long long)elem_i64(t, i));
    }
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.17g", v);
    else
        fputs("null", f);
}

static void json_shape(FILE *f, int ndim, const int64_t *shape)
{
    int k;
    fputc('[', f);
    for (k = 0; k < ndim; k++)
        fprintf(f, "%s%lld", k ? "," : "", (long long)shape[k]);
    fputc(']', f);
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

/* Fewest fraction digits (<= FLOAT_PREC) that identify v, positional. */
static int fixed_digits(double v, vs_dtype dt)
{
    char buf[400];
    int f;
    for (f = 0; f < FLOAT_PREC; f++) {
        snprintf(buf, sizeof buf, "%.*f", f, v);
        if (reads_back(buf, v, dt))
            return f;
    }
    return FLOAT_PREC;
}

/* Fewest mantissa fraction digits (<= FLOAT_PREC) that identify v. */
static int sci_digits(double v, vs_dtype dt)
{
    char buf[64];
    int f;
    for (f = 0; f < FLOAT_PREC; f++) {
        snprintf(buf, sizeof buf, "%.*e", f, v);
        if (reads_back(buf, v, dt))
            return f;
    }
    return FLOAT_PREC;
}

/* Positional text of a finite v: "-12.5", "3." (trailing zeros of a
 * FLOAT_PREC rounding trimmed, as NumPy's trim='.'). */
static void fixed_text(double v, vs_dtype dt, char *buf, size_t cap)
{
    int f = fixed_digits(v, dt);
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
    double v = elem_f64(p->t, off), a = fabs(v);
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
    double v = elem_f64(p->t, off);
    char buf[400];
    const char *dot;
    int il, fl;
    if (!isfinite(v))
        return;
    if (ff->exp) {
        char *e;
        int d = sci_digits(v, p->t->dtype), el;
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
    v = elem_f64(p->t, off);
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
            fmt_float(elem_f64(t, 0), t->dtype, buf, sizeof buf);
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
        double v = elem_f64(t, i), d;
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
        return err("%s", vs_errmsg());
    compute_stats(t, s);
    vs_tensor_free(t);
    return EXIT_OK;
}

/* ------------------------------------------------------------------------ */
/* inspect                                                                   */

static const vs_tensor_info *find_info(const vs_tensor_info *infos, size_t n,
                                       const char *name)
{
    size_t i;
    size_t len = strlen(name);
    if (len > 2 && strcmp(name + len - 2, ":0") == 0)
        len -= 2; /* "foo/v:0" names the variable foo/v */
    for (i = 0; i < n; i++)
        if (strlen(infos[i].name) == len &&
            strncmp(infos[i].name, name, len) == 0)
            return &infos[i];
    return NULL;
}

static int inspect_json(const char *path, const char *journal,
                        const vs_ckpt_info *ck, size_t nck, int64_t step, const vs_tensor_info *infos, size_t n,
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
                return err("%s", vs_errmsg());
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
        return err("%s", vs_errmsg());
    printf("tensor_name: %s\n", ti->name);
    printf("dtype: %s  shape: %s\n", vs_dtype_name(t->dtype),
           vst_shape_str(t->ndim, t->shape, sb, sizeof sb));
    print_values(stdout, t, full);
    vs_tensor_free(t);
    return EXIT_OK;
}

static int cmd_inspect(int argc, char **argv)
{
    const char *path = NULL, *v, *journal = "wal";
    const char **tensors = NULL;
    vs_journal jm = VS_JOURNAL_WAL;
    int n_tensors = 0, all_tensors = 0, all_names = 0, want_stats = 0;
    int want_json = 0, full = 0, have_step = 0, i, r, rc = EXIT_ERR;
    int64_t step = VS_LATEST;
    vs_ckpt_info *ck = NULL;
    vs_tensor_info *infos = NULL;
    size_t nck = 0, n = 0, k;
    char b1[32], b2[32], sb[VST_SHAPE_STR_MAX];

    tensors = calloc((size_t)argc + 1, sizeof *tensors);
    if (tensors == NULL)
        return err("out of memory");
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(help_inspect, stdout);
            free(tensors);
            return EXIT_OK;
        } else if ((r = opt_value(argc, argv, &i, "--step", &v)) != 0) {
            if (r < 0 || parse_i64(v, &step) != 0 || step < 0) {
                free(tensors);
                return usage("inspect ",
                             "--step needs a non-negative integer");
            }
            have_step = 1;
        } else if ((r = opt_value(argc, argv, &i, "--tensor", &v)) != 0) {
            if (r < 0) {
                free(tensors);
                return usage("inspect ", "--tensor needs a tensor name");
            }
            tensors[n_tensors++] = v;
        } else if (strcmp(a, "--all-tensors") == 0) {
            all_tensors = 1;
        } else if (strcmp(a, "--all-tensor-names") == 0) {
            all_names = 1;
        } else if (strcmp(a, "--stats") == 0) {
            want_stats = 1;
        } else if (strcmp(a, "--json") == 0) {
            want_json = 1;
        } else if (strcmp(a, "--full") == 0) {
            full = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            free(tensors);
            return usage("inspect ", "unknown option '%s'", a);
        } else if (path == NULL) {
            path = a;
        } else {
            free(tensors);
            return usage("inspect ", "unexpected argument '%s'", a);
        }
    }
    if (path == NULL) {
        free(tensors);
        return usage("inspect ", "inspect needs a FILE");
    }
    if (need_file(path) != EXIT_OK)
        goto done;
    if (vs_list_checkpoints(path, &ck, &nck) != VS_OK ||
        vs_get_journal_mode(path, &jm) != VS_OK) {
        err("%s", vs_errmsg());
        goto done;
    }
    journal = jm == VS_JOURNAL_WAL ? "wal" : "rollback";
    if (nck == 0) {
        if (have_step || n_tensors > 0) {
            err("%s has no checkpoints", path);
            goto done;
        }
        if (want_json)
            rc = inspect_json(path, journal, ck, nck, 0, NULL, 0, 0, NULL,
                              0, 0);
        else if (!all_names)
            printf("%s: no checkpoints\n", path);
        rc = EXIT_OK;
        goto done;
    }
    if (!have_step) {
        step = ck[nck - 1].step;
    } else {
        for (k = 0; k < nck && ck[k].step != step; k++)
            ;
        if (k == nck) {
            err("%s has no checkpoint at step %lld", path, (long long)step);
            goto done;
        }
    }
    if (vs_list_variables(path, step, &infos, &n) != VS_OK) {
        err("%s", vs_errmsg());
        goto done;
    }
    for (i = 0; i < n_tensors; i++) {
        if (find_info(infos, n, tensors[i]) == NULL) {
            err("tensor '%s' not found in step %lld of %s", tensors[i],
                (long long)step, path);
            goto done;
        }
    }
    if (want_json) {
        rc = inspect_json(path, journal, ck, nck, step, infos, n, want_stats,
                          tensors,
                          n_tensors, all_tensors);
        goto done;
    }
    if (all_names) {
        for (k = 0; k < n; k++)
            printf("%s\n", infos[k].name);
        rc = EXIT_OK;
        goto done;
    }
    if (n_tensors > 0 || all_tensors) {
        for (k = 0; k < n; k++) {
            int want = all_tensors;
            for (i = 0; i < n_tensors && !want; i++)
                want = find_info(infos, n, tensors[i]) == &infos[k];
            if (!want)
                continue;
            if (print_tensor(path, step, &infos[k], full) != EXIT_OK)
                goto done;
            if (want_stats) {
                stats s;
                if (info_stats(path, step, &infos[k], &s) != EXIT_OK)
                    goto done;
                printf("min %.9g  max %.9g  mean %.9g  std %.9g  nan %lld  "
                       "inf %lld\n",
                       s.min, s.max, s.mean, s.std, (long long)s.n_nan,
                       (long long)s.n_inf);
            }
        }
        rc = EXIT_OK;
        goto done;
    }

    printf("file: %s\n", path);
    printf("journal: %s\n", journal);
    printf("checkpoints: %zu\n", nck);
    printf("  %12s  %-24s %8s %12s %12s\n", "step", "created_at", "tensors",
           "raw", "stored");
    for (k = 0; k < nck; k++)
        printf("  %12lld  %-24s %8lld %12s %12s\n", (long long)ck[k].step,
               ck[k].created_at, (long long)ck[k].n_tensors,
               human(ck[k].raw_bytes, b1, sizeof b1),
               human(ck[k].stored_bytes, b2, sizeof b2));
    printf("\nstep %lld: %zu tensors\n", (long long)step, n);
    {
        int wname = 4, wshape = 5;
        for (k = 0; k < n; k++) {
            int l = (int)strlen(infos[k].name);
            int s = (int)strlen(vst_shape_str(infos[k].ndim, infos[k].shape,
                                              sb, sizeof sb));
            if (l > wname)
                wname = l;
            if (s > wshape)
                wshape = s;
        }
        printf("  %-*s  %-8s  %-*s  %10s  %10s  %-12s", wname, "name",
               "dtype", wshape, "shape", "size", "stored", "codec");
        if (want_stats)
            printf("  %12s %12s %12s %12s %6s %6s", "min", "max", "mean",
                   "std", "nan", "inf");
        printf("\n");
        for (k = 0; k < n; k++) {
            const vs_tensor_info *ti = &infos[k];
            printf("  %-*s  %-8s  %-*s  %10s  %10s  %-12s", wname, ti->name,
                   vs_dtype_name(ti->dtype), wshape,
                   vst_shape_str(ti->ndim, ti->shape, sb, sizeof sb),
                   human(ti->raw_bytes, b1, sizeof b1),
                   human(ti->stored_bytes, b2, sizeof b2), ti->codec);
            if (want_stats) {
                stats s;
                if (info_stats(path, step, ti, &s) != EXIT_OK)
                    goto done;
                printf("  %12.6g %12.6g %12.6g %12.6g %6lld %6lld", s.min,
                       s.max, s.mean, s.std, (long long)s.n_nan,
                       (long long)s.n_inf);
            }
            printf("\n");
        }
    }
    rc = EXIT_OK;
done:
    vs_tensor_info_free(infos, n);
    vs_free(ck);
    free(tensors);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* save                                                                      */

typedef struct {
    char **names;
    vs_tensor **tensors;
    size_t n, cap;
    void (*release)(vs_tensor *); /* frees a tensor; NULL: vs_tensor_free */
} tensor_list;

static void tl_release(const tensor_list *l, vs_tensor *t)
{
    if (l->release != NULL)
        l->release(t);
    else
        vs_tensor_free(t);
}

static void tl_free(tensor_list *l)
{
    size_t i;
    for (i = 0; i < l->n; i++) {
        free(l->names[i]);
        tl_release(l, l->tensors[i]);
    }
    free(l->names);
    free(l->tensors);
    memset(l, 0, sizeof *l);
}

/* Takes ownership of name and t (frees both on failure). */
static int tl_add(tensor_list *l, char *name, vs_tensor *t)
{
    if (l->n == l->cap) {
        size_t nc = l->cap ? 2 * l->cap : 32;
        char **nn = realloc(l->names, nc * sizeof *nn);
        vs_tensor **nt;
        if (nn == NULL)
            goto oom;
        l->names = nn;
        nt = realloc(l->tensors, nc * sizeof *nt);
        if (nt == NULL)
            goto oom;
        l->tensors = nt;
        l->cap = nc;
    }
    l->names[l->n] = name;
    l->tensors[l->n] = t;
    l->n++;
    return EXIT_OK;
oom:
    free(name);
    tl_release(l, t);
    return err("out of memory");
}

static char *join(const char *a, const char *sep, const char *b)
{
    size_t la = strlen(a), ls = strlen(sep), lb = strlen(b);
    char *p = malloc(la + ls + lb + 1);
    if (p == NULL)
        return NULL;
    memcpy(p, a, la);
    memcpy(p + la, sep, ls);
    memcpy(p + la + ls, b, lb + 1);
    return p;
}

/* Collects the relative paths (without .npy) of .npy files under dir. */
static int walk_npy(const char *root, const char *rel, int depth,
                    char ***out, size_t *n, size_t *cap)
{
    char *dirpath = rel[0] ? join(root, "/", rel) : join(root, "", "");
    DIR *d;
    struct dirent *de;
    int rc = EXIT_OK;

    if (dirpath == NULL)
        return err("out of memory");
    if (depth > 64) {
        free(dirpath);
        return err("'%s': directories nested too deeply (a symlink loop?)",
                   root);
    }
    d = opendir(dirpath);
    if (d == NULL) {
        rc = err("cannot open directory '%s': %s", dirpath, strerror(errno));
        free(dirpath);
        return rc;
    }
    while (rc == EXIT_OK && (de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        char *full, *r;
        struct stat st;
        size_t l;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
            continue;
        full = join(dirpath, "/", nm);
        r = rel[0] ? join(rel, "/", nm) : join(nm, "", "");
        if (full == NULL || r == NULL) {
            free(full);
            free(r);
            rc = err("out of memory");
            break;
        }
        if (stat(full, &st) != 0) {
            rc = err("cannot stat '%s': %s", full, strerror(errno));
        } else if (S_ISDIR(st.st_mode)) {
            rc = walk_npy(root, r, depth + 1, out, n, cap);
        } else if (S_ISREG(st.st_mode) && (l = strlen(r)) > 4 &&
                   strcmp(r + l - 4, ".npy") == 0 && r[l - 5] != '/') {
            if (*n == *cap) {
                size_t nc = *cap ? 2 * *cap : 32;
                char **np = realloc(*out, nc * sizeof *np);
                if (np == NULL) {
                    rc = err("out of memory");
                } else {
                    *out = np;
                    *cap = nc;
                }
            }
            if (rc == EXIT_OK) {
                r[l - 4] = '\0';
                (*out)[(*n)++] = r;
                r = NULL;
            }
        }
        free(full);
        free(r);
    }
    closedir(d);
    free(dirpath);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_npy_dir(const char *dir, const char *prefix, tensor_list *l)
{
    char **rels = NULL;
    size_t n = 0, cap = 0, i;
    int rc;
    progress pg;

    l->release = vst_npy_release; /* the list holds mapped .npy files */
    rc = walk_npy(dir, "", 0, &rels, &n, &cap);
    if (rc == EXIT_OK && n == 0)
        rc = err("no .npy files under '%s'", dir);
    if (rc == EXIT_OK && n > 1)
        qsort(rels, n, sizeof *rels, cmp_str);
    progress_start(&pg, "reading", n);
    for (i = 0; rc == EXIT_OK && i < n; i++) {
        char *rel_npy = join(rels[i], ".npy", ""), *file = NULL, *name;
        vs_tensor *t = NULL;
        if (rel_npy != NULL)
            file = join(dir, "/", rel_npy);
        free(rel_npy);
        if (file == NULL) {
            rc = err("out of memory");
            break;
        }
        /* mapped, not copied: the inputs are only read */
        if (vst_npy_load(file, &t) != VS_OK) {
            rc = err("%s", vst_errmsg());
            free(file);
            break;
        }
        free(file);
        name = join(prefix, "", rels[i]);
        if (name == NULL) {
            vst_npy_release(t);
            rc = err("out of memory");
            break;
        }
        rc = tl_add(l, name, t);
        progress_update(&pg, i + 1);
    }
    progress_end(&pg);
    for (i = 0; i < n; i++)
        free(rels[i]);
    free(rels);
    return rc;
}

static int load_safetensors(const char *src, const char *prefix,
                            tensor_list *l)
{
    vst_st_file *f = NULL;
    size_t i;
    int rc = EXIT_OK;

    if (vst_st_read(src, &f) != VS_OK)
        return err("%s", vst_errmsg());
    if (f->n == 0)
        rc = err("%s: no tensors", src);
    for (i = 0; rc == EXIT_OK && i < f->n; i++) {
        char *name = join(prefix, "", f->names[i]);
        if (name == NULL) {
            rc = err("out of memory");
            break;
        }
        rc = tl_add(l, name, f->tensors[i]);
        f->tensors[i] = NULL; /* owned by the list now */
    }
    vst_st_free(f);
    return rc;
}

static int cmd_save(int argc, char **argv)
{
    const char *path = NULL, *npy = NULL, *st = NULL, *prefix = "", *v;
    char *pfx = NULL;
    int64_t step = 0;
    int have_step = 0, i, r, rc, codec = VS_CODEC_DEFAULT, journal = -1;
    tensor_list l = {0};
    size_t k;
    int64_t total = 0;
    char hb[32];
    vs_save_opts so;
    progress pg;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(help_save, stdout);
            return EXIT_OK;
        } else if ((r = opt_value(argc, argv, &i, "--step", &v)) != 0) {
            if (r < 0 || parse_i64(v, &step) != 0 || step < 0)
                return usage("save ", "--step needs a non-negative integer");
            have_step = 1;
        } else if ((r = opt_value(argc, argv, &i, "--npy", &v)) != 0) {
            if (r < 0)
                return usage("save ", "--npy needs a directory");
            npy = v;
        } else if ((r = opt_value(argc, argv, &i, "--safetensors", &v)) !=
                   0) {
            if (r < 0)
                return usage("save ", "--safetensors needs a file");
            st = v;
        } else if ((r = opt_value(argc, argv, &i, "--prefix", &v)) != 0) {
            if (r < 0)
                return usage("save ", "--prefix needs a scope");
            prefix = v;
        } else if ((r = opt_value(argc, argv, &i, "--codec", &v)) != 0) {
            if (r < 0 || (strcmp(v, "raw") != 0 &&
                          strcmp(v, "shuffle-zlib") != 0))
                return usage("save ", "--codec needs raw or shuffle-zlib");
            codec = strcmp(v, "raw") == 0 ? VS_CODEC_RAW : VS_CODEC_DEFAULT;
        } else if ((r = opt_value(argc, argv, &i, "--journal", &v)) != 0) {
            if (r < 0 || (strcmp(v, "wal") != 0 && strcmp(v, "rollback") != 0))
                return usage("save ", "--journal needs wal or rollback");
            journal = strcmp(v, "wal") == 0 ? VS_JOURNAL_WAL
                                            : VS_JOURNAL_ROLLBACK;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage("save ", "unknown option '%s'", a);
        } else if (path == NULL) {
            path = a;
        } else {
            return usage("save ", "unexpected argument '%s'", a);
        }
    }
    if (path == NULL)
        return usage("save ", "save needs a FILE");
    if (!have_step)
        return usage("save ", "save needs --step N");
    if ((npy == NULL) == (st == NULL))
        return usage("save ", "save needs exactly one of --npy DIR and "
                              "--safetensors SRC");
    if (prefix[0] != '\0' && prefix[strlen(prefix) - 1] != '/')
        pfx = join(prefix, "/", "");
    else
        pfx = join(prefix, "", "");
    if (pfx == NULL)
        return err("out of memory");
    rc = npy ? load_npy_dir(npy, pfx, &l) : load_safetensors(st, pfx, &l);
    free(pfx);
    if (rc == EXIT_OK && journal >= 0 &&
        vs_set_journal_mode(path, (vs_journal)journal) != VS_OK)
        rc = err("%s", vs_errmsg());
    if (rc == EXIT_OK) {
        for (k = 0; k < l.n; k++)
            total += (int64_t)vs_tensor_nbytes(l.tensors[k]);
        memset(&so, 0, sizeof so);
        so.max_to_keep = -1; /* the file's retention setting */
        so.codec = codec;
        so.progress = progress_cb;
        so.progress_ctx = &pg;
        progress_start_bytes(&pg, "saving", (uint64_t)total);
        if (vs_save_tensors(path, step, (const char *const *)l.names,
                            (const vs_tensor *const *)l.tensors, l.n,
                            &so) != VS_OK) {
            progress_end(&pg);
            rc = err("%s", vs_errmsg());
        } else {
            progress_end(&pg);
        }
        if (rc == EXIT_OK)
            printf("saved %zu tensors (%s) as step %lld in %s\n", l.n,
                   human(total, hb, sizeof hb), (long long)step, path);
    }
    tl_free(&l);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* restore                                                                   */

/* A name is written as a path under DIR: no empty, "." or ".." part. */
static int name_is_safe_path(const char *name)
{
    const char *p = name;
    if (*p == '\0')
        return 0;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == 0 || (l == 1 && p[0] == '.') ||
            (l == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        if (e == NULL)
            return 1;
        p = e + 1;
    }
}

/* mkdir -p of every directory part of path (not the last part). The first
 * `known` bytes of path name a directory known to exist (path[known] is a
 * '/'; 0: none known), whose parts are not made or checked again. */
static int make_parents(char *path, size_t known)
{
    char *s = strrchr(path, '/');
    if (s == NULL || s == path || (size_t)(s - path) <= known)
        return EXIT_OK;
    if (known == 0) {
        /* Nothing known yet: the parent may well exist, one stat. */
        struct stat st;
        int is_dir;
        *s = '\0';
        is_dir = stat(path, &st) == 0 && S_ISDIR(st.st_mode);
        *s = '/';
        if (is_dir)
            return EXIT_OK;
    }
    /* Part by part below the known folder: in a new tree, one mkdir per
     * new folder. */
    for (s = path + known + 1; *s; s++) {
        struct stat st;
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(path, 0777) == 0) { /* made here: a directory */
            *s = '/';
            continue;
        }
        if (errno != EEXIST) {
            int e = errno;
            err("cannot create directory '%s': %s", path, strerror(e));
            *s = '/';
            return EXIT_ERR;
        }
        if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
            err("'%s' exists and is not a directory", path);
            *s = '/';
            return EXIT_ERR;
        }
        *s = '/';
    }
    return EXIT_OK;
}

/* bfloat16 -> float32, exact. Replaces *t. */
static int widen_bf16(vs_tensor **t)
{
    vs_tensor *w = NULL;
    size_t i, n = (size_t)vs_tensor_numel(*t);
    if (vs_tensor_new(VS_FLOAT32, (*t)->ndim, (*t)->shape, &w) != VS_OK)
        return err("%s", vs_errmsg());
    for (i = 0; i < n; i++)
        ((float *)w->data)[i] =
            vs_bfloat16_to_float(((const uint16_t *)(*t)->data)[i]);
    vs_tensor_free(*t);
    *t = w;
    return EXIT_OK;
}

/* The most raw bytes `restore` reads in one vs_ckpt_load_many call; a
 * tensor larger than this is a batch of its own. VARSTORE_BATCH_BYTES
 * overrides it (the tests use it to get many batches). With --safetensors
 * every tensor is kept until the file is written, so one big batch is
 * cheapest. With --npy the batches are written while the next one is read:
 * about 16 batches, so that the first is written early and the last
 * little is left to write after the reading ends, but at least 4 MiB each
 * (every call has a cost of its own: the pool's threads, the lookups), and
 * at most 64 MiB, which bounds the memory used (two batches). On a
 * 46.8 MB model (102 tensors) and 2 cores, batches of 2 to 8 MiB were
 * about equally fast, and one batch of everything the slowest. */
static uint64_t batch_bytes(uint64_t sel_bytes, int pipelined)
{
    const char *d = getenv("VARSTORE_BATCH_BYTES");
    const uint64_t lo = (uint64_t)4 << 20, hi = (uint64_t)64 << 20;
    char *end;
    if (d != NULL && *d != '\0') {
        unsigned long long v = strtoull(d, &end, 10);
        if (*end == '\0')
            return (uint64_t)v;
    }
    if (!pipelined)
        return (uint64_t)512 << 20;
    sel_bytes /= 16;
    return sel_bytes < lo ? lo : sel_bytes > hi ? hi : sel_bytes;
}

/* One batch of selected tensors: idx[i] indexes the checkpoint's infos,
 * names[i] is that tensor's name, t[i] the tensor read (owned; NULL once
 * handed on or freed). */
typedef struct {
    size_t *idx;
    const char **names;
    vs_tensor **t;
    size_t n;
} rs_batch;

/* restore --npy's writer: a thread that writes the files of batch k while
 * the main thread reads batch k+1. The main thread hands a batch over in
 * `slot` and may not hand the next one over before the writer has emptied
 * the slot, so at most two batches are in memory: the one being written
 * and the one being read. While the writer runs it alone prints (the
 * bfloat16 notes, its errors, the progress bar); the main thread prints
 * only after npy_writer_finish.
 *
 * Results of pthread_mutex_lock/unlock, pthread_cond_wait/signal and
 * pthread_join are not checked: on the default-type objects initialized
 * (checked) in npy_writer_start and the thread it created, POSIX lets them
 * fail only on a programming error (EINVAL, EPERM, EDEADLK, ESRCH), never
 * at run time. */
typedef struct {
    const char *dir;
    const vs_tensor_info *infos;
    progress *pg;
    uint64_t done_bytes;
    char *dir_ok; /* the directory the last file went into (it exists) */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    rs_batch *slot; /* handed over and not yet written; NULL: empty */
    int closed;     /* no batch will follow */
    int failed;     /* a write failed; its error is printed */
    int threaded;   /* 0: no thread could be started, write inline */
    pthread_t th;
} npy_writer;

/* How many of the first plen bytes of file (its folder) name a folder
 * known to exist: the longest part of them, ending before a '/' or at
 * plen, that is dir_ok (a folder made or checked) or a folder above it. */
static size_t known_dir(const char *file, size_t plen, const char *dir_ok)
{
    size_t i, k = 0;
    if (dir_ok == NULL)
        return 0;
    for (i = 0; i < plen && dir_ok[i] != '\0' && file[i] == dir_ok[i]; i++)
        if (file[i] == '/')
            k = i;
    if ((i == plen || file[i] == '/') &&
        (dir_ok[i] == '\0' || dir_ok[i] == '/'))
        k = i;
    return k;
}

/* Writes t (owned: freed here) as DIR/<name>.npy. *dir_ok is the calling
 * thread's own memory of the last folder written into. */
static int npy_write_one(npy_writer *w, char **dir_ok, const char *name,
                         vs_tensor *t)
{
    char *rel = join(name, ".npy", ""), *file = NULL, *slash;
    size_t plen, known;
    int rc = EXIT_OK;
    if (rel != NULL)
        file = join(w->dir, "/", rel);
    free(rel);
    if (file == NULL) {
        vs_tensor_free(t);
        return err("out of memory");
    }
    if (t->dtype == VS_BFLOAT16) {
        fprintf(stderr,
                "varstore: note: bfloat16 tensor '%s' written as float32 "
                "(NumPy has no bfloat16; the values are exact)\n",
                name);
        rc = widen_bf16(&t);
    }
    /* Names come sorted, so siblings follow each other: the folder the
     * previous file went into, and the folders above it, need no making
     * or checking again. */
    slash = strrchr(file, '/'); /* not NULL: file is DIR/... */
    plen = (size_t)(slash - file);
    known = known_dir(file, plen, *dir_ok);
    if (rc == EXIT_OK && known < plen) {
        rc = make_parents(file, known);
        if (rc == EXIT_OK) {
            free(*dir_ok);
            *slash = '\0';
            *dir_ok = join(file, "", ""); /* NULL: just not remembered */
            *slash = '/';
        }
    }
    if (rc == EXIT_OK && vst_npy_write(file, t) != VS_OK)
        rc = err("%s", vst_errmsg());
    free(file);
    vs_tensor_free(t);
    return rc;
}

/* A batch written by two threads at once: the writer and a helper
 * started for the batch. Creating the files and copying their bytes into
 * the page cache is kernel work that takes most of a restore --npy (ext4's
 * inode allocation alone is a fifth of it after many deletions); on two
 * cores two threads do it in about half the time. Each takes the next
 * tensor not yet taken; after a failure the rest are freed, not written.
 * Folders are made race-free (make_parents accepts EEXIST). */
typedef struct {
    npy_writer *w;
    rs_batch *b;
    atomic_size_t next;            /* the next tensor to take */
    atomic_int failed;             /* a write failed (its error printed) */
    atomic_uint_least64_t written; /* raw bytes of the files written */
} batch_share;

/* Takes and writes tensors until the batch is used up; only the writer
 * (report != 0) moves the progress bar. */
static void write_share(batch_share *s, char **dir_ok, int report)
{
    npy_writer *w = s->w;
    rs_batch *b = s->b;
    for (;;) {
        size_t i = atomic_fetch_add(&s->next, 1);
        if (i >= b->n)
            return;
        vs_tensor *t = b->t[i]; /* index i is this thread's alone */
        const vs_tensor_info *ti = &w->infos[b->idx[i]];
        b->t[i] = NULL;
        if (atomic_load(&s->failed)) {
            vs_tensor_free(t);
            continue;
        }
        if (npy_write_one(w, dir_ok, ti->name, t) != EXIT_OK) {
            atomic_store(&s->failed, 1);
            continue;
        }
        uint64_t rb = ti->raw_bytes > 0 ? (uint64_t)ti->raw_bytes : 0;
        uint64_t sum = atomic_fetch_add(&s->written, rb) + rb;
        if (report)
            progress_update(w->pg, w->done_bytes + sum);
    }
}

static void *share_main(void *arg)
{
    char *dir_ok = NULL;
    write_share(arg, &dir_ok, 0);
    free(dir_ok);
    return NULL;
}

/* Writes (and frees) every tensor of b. */
static int npy_write_batch(npy_writer *w, rs_batch *b)
{
    batch_share s;
    pthread_t helper;
    s.w = w;
    s.b = b;
    atomic_init(&s.next, 0);
    atomic_init(&s.failed, 0);
    atomic_init(&s.written, 0);
    /* Without a helper thread (none could be started) the writer writes
     * the whole batch itself. */
    int two = b->n > 1 && pthread_create(&helper, NULL, share_main, &s) == 0;
    write_share(&s, &w->dir_ok, 1);
    if (two)
        pthread_join(helper, NULL);
    w->done_bytes += atomic_load(&s.written);
    progress_update(w->pg, w->done_bytes);
    return atomic_load(&s.failed) ? EXIT_ERR : EXIT_OK;
}

static void *npy_writer_main(void *arg)
{
    npy_writer *w = arg;
    for (;;) {
        rs_batch *b;
        int rc;
        pthread_mutex_lock(&w->mu);
        while (w->slot == NULL && !w->closed)
            pthread_cond_wait(&w->cv, &w->mu);
        b = w->slot;
        pthread_mutex_unlock(&w->mu);
        if (b == NULL)
            return NULL; /* closed, and every batch written */
        rc = npy_write_batch(w, b);
        pthread_mutex_lock(&w->mu);
        w->slot = NULL;
        w->failed = rc != EXIT_OK;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        if (rc != EXIT_OK)
            return NULL; /* nothing after a failure is written */
    }
}

/* Starts the writer thread; without one (pthread_create failed), batches
 * are written by npy_writer_put itself. */
static int npy_writer_start(npy_writer *w, const char *dir,
                            const vs_tensor_info *infos, progress *pg)
{
    memset(w, 0, sizeof *w);
    w->dir = dir;
    w->infos = infos;
    w->pg = pg;
    if (pthread_mutex_init(&w->mu, NULL) != 0)
        return err("cannot create a mutex");
    if (pthread_cond_init(&w->cv, NULL) != 0) {
        pthread_mutex_destroy(&w->mu);
        return err("cannot create a condition variable");
    }
    w->threaded = pthread_create(&w->th, NULL, npy_writer_main, w) == 0;
    return EXIT_OK;
}

/* Hands b over to be written, once the previous batch is written. Returns
 * EXIT_ERR, without handing b over, if a write has failed (b is left to
 * the caller to free). */
static int npy_writer_put(npy_writer *w, rs_batch *b)
{
    int failed;
    if (!w->threaded) {
        if (npy_write_batch(w, b) != EXIT_OK)
            w->failed = 1;
        return w->failed ? EXIT_ERR : EXIT_OK;
    }
    pthread_mutex_lock(&w->mu);
    while (w->slot != NULL)
        pthread_cond_wait(&w->cv, &w->mu);
    failed = w->failed;
    if (!failed) {
        w->slot = b;
        pthread_cond_signal(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return failed ? EXIT_ERR : EXIT_OK;
}

/* Whether a write has failed so far (a batch being written may still). */
static int npy_writer_failed(npy_writer *w)
{
    int failed;
    if (!w->threaded)
        return w->failed;
    pthread_mutex_lock(&w->mu);
    failed = w->failed;
    pthread_mutex_unlock(&w->mu);
    return failed;
}

/* Waits until every batch handed over is written (or a write failed) and
 * ends the thread. EXIT_ERR if a write failed (its error is printed). */
static int npy_writer_finish(npy_writer *w)
{
    if (w->threaded) {
        pthread_mutex_lock(&w->mu);
        w->closed = 1;
        pthread_cond_signal(&w->cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->th, NULL);
        w->threaded = 0;
    }
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    free(w->dir_ok);
    w->dir_ok = NULL;
    return w->failed ? EXIT_ERR : EXIT_OK;
}

/* The next batch: selected tensors from *k on, in order, up to cap raw
 * bytes (at least one tensor). */
static void next_batch(const vs_tensor_info *infos, const char *sel,
                       size_t n, size_t *k, uint64_t cap, rs_batch *b)
{
    uint64_t bytes = 0;
    b->n = 0;
    for (; *k < n; (*k)++) {
        uint64_t rb;
        if (!sel[*k])
            continue;
        rb = infos[*k].raw_bytes > 0 ? (uint64_t)infos[*k].raw_bytes : 0;
        if (b->n > 0 && bytes + rb > cap)
            break;
        bytes += rb;
        b->idx[b->n] = *k;
        b->names[b->n] = infos[*k].name;
        b->t[b->n] = NULL;
        b->n++;
    }
}

static void batch_free(rs_batch *b)
{
    size_t i;
    for (i = 0; b->t != NULL && i < b->n; i++)
        vs_tensor_free(b->t[i]);
    free(b->idx);
    free(b->names);
    free(b->t);
}

static int cmd_restore(int argc, char **argv)
{
    const char *path = NULL, *npy = NULL, *st = NULL, *v;
    const char **want = NULL;
    int n_want = 0, have_step = 0, i, r, rc = EXIT_ERR;
    int64_t step = VS_LATEST;
    vs_tensor_info *infos = NULL;
    vs_ckpt *ck = NULL; /* one open and one snapshot for every read */
    rs_batch bufs[2] = {{0}, {0}}; /* read into in turn */
    npy_writer w;
    int have_writer = 0;
    size_t n = 0, k, j, i_b, n_sel = 0;
    uint64_t sel_bytes = 0, done_bytes = 0, cap;
    char *sel = NULL;
    tensor_list l = {0};
    progress pg;

    want = calloc((size_t)argc + 1, sizeof *want);
    if (want == NULL)
        return err("out of memory");
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(help_restore, stdout);
            free(want);
            return EXIT_OK;
        } else if ((r = opt_value(argc, argv, &i, "--step", &v)) != 0) {
            if (r < 0 || parse_i64(v, &step) != 0 || step < 0) {
                free(want);
                return usage("restore ",
                             "--step needs a non-negative integer");
            }
            have_step = 1;
        } else if ((r = opt_value(argc, argv, &i, "--npy", &v)) != 0) {
            if (r < 0) {
                free(want);
                return usage("restore ", "--npy needs a directory");
            }
            npy = v;
        } else if ((r = opt_value(argc, argv, &i, "--safetensors", &v)) !=
                   0) {
            if (r < 0) {
                free(want);
                return usage("restore ", "--safetensors needs a file");
            }
            st = v;
        } else if ((r = opt_value(argc, argv, &i, "--tensor", &v)) != 0) {
            if (r < 0) {
                free(want);
                return usage("restore ", "--tensor needs a tensor name");
            }
            want[n_want++] = v;
        } else if (a[0] == '-' && a[1] != '\0') {
            free(want);
            return usage("restore ", "unknown option '%s'", a);
        } else if (path == NULL) {
            path = a;
        } else {
            free(want);
            return usage("restore ", "unexpected argument '%s'", a);
        }
    }
    if (path == NULL) {
        free(want);
        return usage("restore ", "restore needs a FILE");
    }
    if ((npy == NULL) == (st == NULL)) {
        free(want);
        return usage("restore ", "restore needs exactly one of --npy DIR and "
                                 "--safetensors DST");
    }
    if (need_file(path) != EXIT_OK)
        goto done;
    /* One connection and one snapshot: the newest step is the one read. */
    if (vs_ckpt_open(path, &ck) != VS_OK ||
        (!have_step && vs_ckpt_latest(ck, &step) != VS_OK) ||
        vs_ckpt_list_variables(ck, step, &infos, &n) != VS_OK) {
        err("%s", vs_errmsg());
        goto done;
    }
    sel = calloc(n + 1, 1);
    if (sel == NULL) {
        err("out of memory");
        goto done;
    }
    for (i = 0; i < n_want; i++) {
        const vs_tensor_info *ti = find_info(infos, n, want[i]);
        if (ti == NULL) {
            err("tensor '%s' not found in step %lld of %s", want[i],
                (long long)step, path);
            goto done;
        }
        sel[ti - infos] = 1;
    }
    for (k = 0; k < n; k++) {
        if (n_want == 0)
            sel[k] = 1;
        n_sel += sel[k];
        if (sel[k] && infos[k].raw_bytes > 0)
            sel_bytes += (uint64_t)infos[k].raw_bytes;
    }
    if (npy != NULL) {
        for (k = 0; k < n; k++) {
            if (sel[k] && !name_is_safe_path(infos[k].name)) {
                err("tensor name '%s' cannot be written as a file under '%s' "
                    "(an empty, '.' or '..' part)",
                    infos[k].name, npy);
                goto done;
            }
        }
        if (mkdir(npy, 0777) != 0 && errno != EEXIST) {
            err("cannot create directory '%s': %s", npy, strerror(errno));
            goto done;
        }
    }
    /* The selected tensors are read in batches of up to batch_bytes() raw
     * bytes, each with one vs_ckpt_load_many call, which decodes all its
     * chunks on the library's thread pool. With --npy a writer thread
     * writes batch k while batch k+1 is read (npy_writer). The bar moves
     * per tensor, weighted by its raw bytes, once it is written (--npy) or
     * read (--safetensors, written as one file at the end). */
    cap = batch_bytes(sel_bytes, npy != NULL);
#if defined(__GLIBC__) && defined(M_MMAP_THRESHOLD) && defined(M_TRIM_THRESHOLD)
    /* Each vs_ckpt_load_many call frees its read buffers and the writer
     * frees the small tensors it wrote; with glibc's defaults much of that
     * memory goes back to the system and the next batch faults fresh
     * pages in (on the bench model in 4 MiB batches: 13,100 page faults
     * instead of 8,600, and no faster than one batch). Keep it for reuse:
     * what is kept is at most what the batches used. A failure only keeps
     * the defaults. */
    (void)mallopt(M_MMAP_THRESHOLD, 32 << 20);
    (void)mallopt(M_TRIM_THRESHOLD, 64 << 20);
#endif
    for (j = 0; j < 2; j++) {
        bufs[j].idx = calloc(n_sel + 1, sizeof *bufs[j].idx);
        bufs[j].names = calloc(n_sel + 1, sizeof *bufs[j].names);
        bufs[j].t = calloc(n_sel + 1, sizeof *bufs[j].t);
        if (bufs[j].idx == NULL || bufs[j].names == NULL ||
            bufs[j].t == NULL) {
            err("out of memory");
            goto done;
        }
    }
    progress_start_bytes(&pg, "restoring", sel_bytes);
    if (npy != NULL) {
        if (npy_writer_start(&w, npy, infos, &pg) != EXIT_OK)
            goto done;
        have_writer = 1;
    }
    for (k = 0, j = 0; k < n; j ^= 1) {
        rs_batch *b = &bufs[j];
        /* bufs[j ^ 1] may still be being written: b is free */
        next_batch(infos, sel, n, &k, cap, b);
        if (b->n == 0)
            break;
        if (have_writer && npy_writer_failed(&w))
            break; /* reported by the writer; nothing more is read */
        if (vs_ckpt_load_many(ck, step, b->names, b->n, b->t) != VS_OK) {
            /* The batches before this one come first: a failure writing
             * them is the one reported. */
            b->n = 0;
            if (have_writer) {
                have_writer = 0;
                if (npy_writer_finish(&w) != EXIT_OK) {
                    progress_end(&pg);
                    goto done;
                }
            }
            progress_end(&pg);
            err("%s", vs_errmsg());
            goto done;
        }
        if (have_writer) {
            if (npy_writer_put(&w, b) != EXIT_OK)
                break; /* b is freed below */
            continue;
        }
        for (i_b = 0; i_b < b->n; i_b++) {
            const vs_tensor_info *ti = &infos[b->idx[i_b]];
            char *name = join(ti->name, "", "");
            vs_tensor *t = b->t[i_b];
            b->t[i_b] = NULL;
            if (name == NULL) {
                vs_tensor_free(t);
                progress_end(&pg);
                err("out of memory");
                goto done;
            }
            if (tl_add(&l, name, t) != EXIT_OK) {
                progress_end(&pg);
                goto done;
            }
            if (ti->raw_bytes > 0)
                done_bytes += (uint64_t)ti->raw_bytes;
            progress_update(&pg, done_bytes);
        }
    }
    if (have_writer) {
        have_writer = 0;
        if (npy_writer_finish(&w) != EXIT_OK) {
            progress_end(&pg);
            goto done;
        }
    }
    progress_end(&pg);
    if (st != NULL) {
        char stepbuf[32];
        const char *mk[2] = {"format", "step"};
        const char *mv[2];
        snprintf(stepbuf, sizeof stepbuf, "%lld", (long long)step);
        mv[0] = "varstore";
        mv[1] = stepbuf;
        if (vst_st_write(st, (const char *const *)l.names,
                         (const vs_tensor *const *)l.tensors, l.n, mk, mv,
                         2) != VS_OK) {
            err("%s", vst_errmsg());
            goto done;
        }
    }
    printf("restored %zu tensors of step %lld to %s\n", n_sel,
           (long long)step, npy ? npy : st);
    rc = EXIT_OK;
done:
    tl_free(&l);
    free(sel);
    vs_tensor_info_free(infos, n);
    vs_ckpt_close(ck);
    if (have_writer) /* only on a path that already failed */
        (void)npy_writer_finish(&w);
    batch_free(&bufs[0]);
    batch_free(&bufs[1]);
    free(want);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* diff                                                                      */

typedef struct {
    int64_t n_diff;
    double max_abs, max_rel;
} cmp_result;

static void compare_values(const vs_tensor *a, const vs_tensor *b,
                           cmp_result *c)
{
    size_t i, n = (size_t)vs_tensor_numel(a), es = vs_dtype_size(a->dtype);
    const unsigned char *pa = a->data, *pb = b->data;
    memset(c, 0, sizeof *c);
    for (i = 0; i < n; i++) {
        double x, y, d, m;
        if (memcmp(pa + i * es, pb + i * es, es) == 0)
            continue;
        c->n_diff++;
        x = elem_f64(a, i);
        y = elem_f64(b, i);
        if (a->dtype == VS_INT64) {
            /* |b - a| in uint64_t: exact, and no signed overflow (UB) for
             * values of opposite signs far apart */
            int64_t ia = elem_i64(a, i), ib = elem_i64(b, i);
            d = (double)(ib >= ia ? (uint64_t)ib - (uint64_t)ia
                                  : (uint64_t)ia - (uint64_t)ib);
        } else {
            d = fabs(y - x);
        }
        if (isnan(d)) {
            /* a NaN on either side (or inf - inf): infinitely different */
            c->max_abs = INFINITY;
            c->max_rel = INFINITY;
            continue;
        }
        m = fmax(fabs(x), fabs(y));
        if (d > c->max_abs)
            c->max_abs = d;
        if (m > 0 && isfinite(m) && d / m > c->max_rel)
            c->max_rel = d / m;
        else if (!isfinite(m))
            c->max_rel = INFINITY;
    }
}

static int cmd_diff(int argc, char **argv)
{
    const char *pos[3] = {NULL, NULL, NULL};
    const char *pa, *pb;
    int npos = 0, want_json = 0, i, rc = EXIT_ERR, first = 1;
    int64_t sa, sb;
    vs_tensor_info *ia = NULL, *ib = NULL;
    size_t na = 0, nb = 0, ka = 0, kb = 0;
    int64_t n_added = 0, n_removed = 0, n_changed = 0, n_same = 0;
    char s1[VST_SHAPE_STR_MAX], s2[VST_SHAPE_STR_MAX];
    progress pg;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(help_diff, stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            want_json = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage("diff ", "unknown option '%s'", a);
        } else if (npos < 3) {
            pos[npos++] = a;
        } else {
            return usage("diff ", "unexpected argument '%s'", a);
        }
    }
    if (npos < 2)
        return usage("diff ", "diff needs FILE STEP_A STEP_B or FILE_A "
                              "FILE_B");
    if (npos == 3) {
        pa = pb = pos[0];
        if (parse_i64(pos[1], &sa) != 0 || sa < 0 ||
            parse_i64(pos[2], &sb) != 0 || sb < 0)
            return usage("diff ", "STEP_A and STEP_B must be non-negative "
                                  "integers");
        if (need_file(pa) != EXIT_OK)
            return EXIT_ERR;
    } else {
        pa = pos[0];
        pb = pos[1];
        if (need_file(pa) != EXIT_OK || need_file(pb) != EXIT_OK)
            return EXIT_ERR;
        if (vs_latest_checkpoint(pa, &sa) != VS_OK ||
            vs_latest_checkpoint(pb, &sb) != VS_OK)
            return err("%s", vs_errmsg());
    }
    if (vs_list_variables(pa, sa, &ia, &na) != VS_OK ||
        vs_list_variables(pb, sb, &ib, &nb) != VS_OK) {
        err("%s", vs_errmsg());
        goto done;
    }
    if (want_json) {
        printf("{\"a\":{\"file\":");
        json_str(stdout, pa);
        printf(",\"step\":%lld},\"b\":{\"file\":", (long long)sa);
        json_str(stdout, pb);
        printf(",\"step\":%lld},\"tensors\":[", (long long)sb);
    } else {
        printf("--- %s step %lld\n+++ %s step %lld\n", pa, (long long)sa, pb,
               (long long)sb);
    }
    progress_start(&pg, "comparing", na + nb);
    while (ka < na || kb < nb) {
        int c = ka == na ? 1 : kb == nb ? -1 : strcmp(ia[ka].name,
                                                      ib[kb].name);
        const char *status;
        const vs_tensor_info *x = c <= 0 ? &ia[ka] : NULL;
        const vs_tensor_info *y = c >= 0 ? &ib[kb] : NULL;
        cmp_result cr;
        int meta_changed = 0, values = 0;

        memset(&cr, 0, sizeof cr);
        if (x && !y) {
            status = "removed";
            n_removed++;
        } else if (y && !x) {
            status = "added";
            n_added++;
        } else {
            int same_shape = x->ndim == y->ndim &&
                             memcmp(x->shape, y->shape,
                                    (size_t)x->ndim * sizeof x->shape[0]) == 0;
            if (x->dtype != y->dtype || !same_shape) {
                meta_changed = 1;
            } else {
                vs_tensor *ta = NULL, *tb = NULL;
                if (vs_load_variable(pa, sa, x->name, &ta) != VS_OK ||
                    vs_load_variable(pb, sb, y->name, &tb) != VS_OK) {
                    progress_end(&pg);
                    vs_tensor_free(ta);
                    err("%s", vs_errmsg());
                    goto done;
                }
                compare_values(ta, tb, &cr);
                vs_tensor_free(ta);
                vs_tensor_free(tb);
                values = 1;
            }
            if (meta_changed || cr.n_diff > 0) {
                status = "changed";
                n_changed++;
            } else {
                status = "unchanged";
                n_same++;
            }
        }
        if (want_json) {
            const vs_tensor_info *z = x ? x : y;
            printf("%s{\"name\":", first ? "" : ",");
            json_str(stdout, z->name);
            printf(",\"status\":\"%s\"", status);
            if (x) {
                printf(",\"a\":{\"dtype\":\"%s\",\"shape\":",
                       vs_dtype_name(x->dtype));
                json_shape(stdout, x->ndim, x->shape);
                printf("}");
            }
            if (y) {
                printf(",\"b\":{\"dtype\":\"%s\",\"shape\":",
                       vs_dtype_name(y->dtype));
                json_shape(stdout, y->ndim, y->shape);
                printf("}");
            }
            if (values) {
                printf(",\"n_diff\":%lld,\"max_abs\":", (long long)cr.n_diff);
                json_num(stdout, cr.max_abs);
                printf(",\"max_rel\":");
                json_num(stdout, cr.max_rel);
            }
            printf("}");
            first = 0;
        } else if (x && !y) {
            printf("removed    %s  %s %s\n", x->name, vs_dtype_name(x->dtype),
                   vst_shape_str(x->ndim, x->shape, s1, sizeof s1));
        } else if (y && !x) {
            printf("added      %s  %s %s\n", y->name, vs_dtype_name(y->dtype),
                   vst_shape_str(y->ndim, y->shape, s1, sizeof s1));
        } else if (meta_changed) {
            printf("changed    %s  %s %s -> %s %s\n", x->name,
                   vs_dtype_name(x->dtype),
                   vst_shape_str(x->ndim, x->shape, s1, sizeof s1),
                   vs_dtype_name(y->dtype),
                   vst_shape_str(y->ndim, y->shape, s2, sizeof s2));
        } else if (cr.n_diff > 0) {
            printf("changed    %s  %lld of %lld elements differ, max abs "
                   "%.9g, max rel %.9g\n",
                   x->name, (long long)cr.n_diff, (long long)x->numel,
                   cr.max_abs, cr.max_rel);
        }
        if (c <= 0)
            ka++;
        if (c >= 0)
            kb++;
        progress_update(&pg, ka + kb);
    }
    progress_end(&pg);
    if (want_json)
        printf("],\"added\":%lld,\"removed\":%lld,\"changed\":%lld,"
               "\"unchanged\":%lld}\n",
               (long long)n_added, (long long)n_removed, (long long)n_changed,
               (long long)n_same);
    else
        printf("%lld added, %lld removed, %lld changed, %lld unchanged\n",
               (long long)n_added, (long long)n_removed, (long long)n_changed,
               (long long)n_same);
    rc = EXIT_OK;
done:
    vs_tensor_info_free(ia, na);
    vs_tensor_info_free(ib, nb);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* verify, prune, rename                                                     */

/* After vs_verify found damage: reads every tensor of every checkpoint and
 * names each bad one. Returns the count found. */
static size_t name_bad_tensors(const char *path)
{
    vs_ckpt_info *ck = NULL;
    size_t nck = 0, c, bad = 0;

    if (vs_list_checkpoints(path, &ck, &nck) != VS_OK) {
        err("%s", vs_errmsg());
        return 0;
    }
    for (c = 0; c < nck; c++) {
        vs_tensor_info *infos = NULL;
        size_t n = 0, k;
        if (vs_list_variables(path, ck[c].step, &infos, &n) != VS_OK) {
            err("step %lld: %s", (long long)ck[c].step, vs_errmsg());
            bad++;
            continue;
        }
        for (k = 0; k < n; k++) {
            vs_tensor *t = NULL;
            if (vs_load_variable(path, ck[c].step, infos[k].name, &t) !=
                VS_OK) {
                /* the library's text names the tensor and the step */
                if (strstr(vs_errmsg(), infos[k].name) != NULL)
                    err("%s", vs_errmsg());
                else
                    err("step %lld: tensor '%s' is damaged: %s",
                        (long long)ck[c].step, infos[k].name, vs_errmsg());
                bad++;
            }
            vs_tensor_free(t);
        }
        vs_tensor_info_free(infos, n);
    }
    vs_free(ck);
    return bad;
}

static int cmd_verify(int argc, char **argv)
{
    const char *path = NULL;
    size_t n_bad = 0, nck = 0, k;
    int64_t n_tensors = 0;
    vs_ckpt_info *ck = NULL;
    int i, rc;
    vs_verify_opts vo;
    progress pg;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(help_verify, stdout);
            return EXIT_OK;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage("verify ", "unknown option '%s'", a);
        } else if (path == NULL) {
            path = a;
        } else {
            return usage("verify ", "unexpected argument '%s'", a);
        }
    }
    if (path == NULL)
        return usage("verify ", "verify needs a FILE");
    if (need_file(path) != EXIT_OK)
        return EXIT_ERR;
    memset(&vo, 0, sizeof vo);
    vo.progress = progress_cb;
    vo.progress_ctx = &pg;
    progress_start_bytes(&pg, "verifying", 0);
    rc = vs_verify_ex(path, &vo, &n_bad);
    progress_end(&pg);
    if (rc == VS_ECORRUPT) {
        char first[1024];
        size_t named;
        snprintf(first, sizeof first, "%s", vs_errmsg());
        named = name_bad_tensors(path);
        if (named == 0) /* damage outside tensor data (schema, index) */
            err("%s", first);
        return err("%s: %zu damaged tensor%s found", path,
                   n_bad > named ? n_bad : named,
                   (n_bad > named ? n_bad : named) == 1 ? "" : "s");
    }
    if (rc != VS_OK)
        return err("%s", vs_errmsg());
    if (vs_list_checkpoints(path, &ck, &nck) != VS_OK)
        return err("%s", vs_errmsg());
    for (k = 0; k < nck; k++)
        n_tensors += ck[k].n_tensors;
    vs_free(ck);
    printf("%s: ok (%zu checkpoints, %lld tensors)\n", path, nck,
           (long long)n_tensors);
    return EXIT_OK;
}

static int cmd_prune(int argc, char **argv)
{
    const char *path = NULL, *v;
    int64_t keep = -1;
    int i, r, first = 1;
    vs_ckpt_info *before = NULL, *after = NULL;
    size_t nb = 0, na = 0, k, j;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(help_prune, stdout);
            return EXIT_OK;
        } else if ((r = opt_value(argc, argv, &i, "--keep", &v)) != 0) {
            if (r < 0 || parse_i64(v, &keep) != 0 || keep < 1 ||
                keep > INT_MAX)
                return usage("prune ", "--keep needs an integer of at least "
                                       "1");
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage("prune ", "unknown option '%s'", a);
        } else if (path == NULL) {
            path = a;
        } else {
            return usage("prune ", "unexpected argument '%s'", a);
        }
    }
    if (path == NULL)
        return usage("prune ", "prune needs a FILE");
    if (keep < 0)
        return usage("prune ", "prune needs --keep N");
    if (need_file(path) != EXIT_OK)
        return EXIT_ERR;
    if (vs_list_checkpoints(path, &before, &nb) != VS_OK)
        return err("%s", vs_errmsg());
    if (vs_prune(path, (int)keep) != VS_OK) {
        vs_free(before);
        return err("%s", vs_errmsg());
    }
    if (vs_list_checkpoints(path, &after, &na) != VS_OK) {
        vs_free(before);
        return err("%s", vs_errmsg());
    }
    printf("deleted:");
    for (k = 0; k < nb; k++) {
        for (j = 0; j < na && after[j].step != before[k].step; j++)
            ;
        if (j == na) {
            printf("%s %lld", first ? "" : ",", (long long)before[k].step);
            first = 0;
        }
    }
    printf("%s\nkept:", first ? " none" : "");
    for (j = 0; j < na; j++)
        printf("%s %lld", j ? "," : "", (long long)after[j].step);
    printf("%s\n", na ? "" : " none");
    vs_free(before);
    vs_free(after);
    return EXIT_OK;
}

static int cmd_rename(int argc, char **argv)
{
    const char *pos[3] = {NULL, NULL, NULL}, *v;
    int npos = 0, i, r, have_step = 0;
    int64_t step = VS_ALL_STEPS;
    vs_ckpt_info *ck = NULL;
    size_t nck = 0, c, matches = 0;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(help_rename, stdout);
            return EXIT_OK;
        } else if ((r = opt_value(argc, argv, &i, "--step", &v)) != 0) {
            if (r < 0 || parse_i64(v, &step) != 0 || step < 0)
                return usage("rename ", "--step needs a non-negative "
                                        "integer");
            have_step = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage("rename ", "unknown option '%s'", a);
        } else if (npos < 3) {
            pos[npos++] = a;
        } else {
            return usage("rename ", "unexpected argument '%s'", a);
        }
    }
    if (npos != 3)
        return usage("rename ", "rename needs FILE OLD/ NEW/");
    if (pos[1][0] == '\0')
        return usage("rename ", "OLD/ must not be empty");
    if (need_file(pos[0]) != EXIT_OK)
        return EXIT_ERR;
    /* Count the names it would touch: none is most likely a typo. */
    if (vs_list_checkpoints(pos[0], &ck, &nck) != VS_OK)
        return err("%s", vs_errmsg());
    for (c = 0; c < nck; c++) {
        vs_tensor_info *infos = NULL;
        size_t n = 0, k;
        if (have_step && ck[c].step != step)
            continue;
        if (vs_list_variables(pos[0], ck[c].step, &infos, &n) != VS_OK) {
            vs_free(ck);
            return err("%s", vs_errmsg());
        }
        for (k = 0; k < n; k++)
            matches += strncmp(infos[k].name, pos[1], strlen(pos[1])) == 0;
        vs_tensor_info_free(infos, n);
    }
    vs_free(ck);
    if (matches == 0) {
        if (have_step)
            return err("no tensor name starts with '%s' in step %lld of %s",
                       pos[1], (long long)step, pos[0]);
        return err("no tensor name starts with '%s' in %s", pos[1], pos[0]);
    }
    if (vs_rename_prefix(pos[0], pos[1], pos[2], step) != VS_OK)
        return err("%s", vs_errmsg());
    if (have_step)
        printf("renamed %zu tensors from '%s' to '%s' in step %lld\n",
               matches, pos[1], pos[2], (long long)step);
    else
        printf("renamed %zu tensors from '%s' to '%s' in every checkpoint\n",
               matches, pos[1], pos[2]);
    return EXIT_OK;
}

/* ------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"inspect", cmd_inspect}, {"save", cmd_save},
        {"restore", cmd_restore}, {"diff", cmd_diff},
        {"verify", cmd_verify},   {"prune", cmd_prune},
        {"rename", cmd_rename},
    };
    size_t i;
    int rc;

    if (argc < 2)
        return usage(NULL, "missing command");
    if (is_help(argv[1])) {
        fputs(help_main, stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("varstore %s\n", vs_version());
        return EXIT_OK;
    }
    if (strcmp(argv[1], "help") == 0) {
        if (argc < 3) {
            fputs(help_main, stdout);
            return EXIT_OK;
        }
        for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
            if (strcmp(argv[2], cmds[i].name) == 0) {
                char *hv[3] = {argv[2], (char *)"--help", NULL};
                return cmds[i].fn(2, hv);
            }
        }
        return usage(NULL, "unknown command '%s'", argv[2]);
    }
    for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(argv[1], cmds[i].name) == 0) {
            rc = cmds[i].fn(argc - 1, argv + 1);
            if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "varstore: cannot write the output: %s\n",
                        strerror(errno));
                return EXIT_ERR;
            }
            return rc;
        }
    }
    return usage(NULL, "unknown command '%s'", argv[1]);
}
