/* varstore CLI: the helpers every command shares (declared in cli.h):
 * error and usage messages, option parsing, the progress bar, JSON text,
 * tensor lookup by name, the tensor list that save and restore fill, and
 * join(). */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "utf8.h"
#include "varstore.h"

/* ------------------------------------------------------------------------ */
/* Messages and arguments                                                    */

static const char *err_context; /* cli_err_context's text, or NULL */

void cli_err_context(const char *ctx)
{
    err_context = ctx;
}

/* cli_err_hold's state: holding, and the message held (NULL: none). */
static int err_holding;
static char *err_held;

void cli_err_hold(int on)
{
    if (on)
        cli_err_release(0);
    err_holding = on;
}

void cli_err_release(int print)
{
    if (print && err_held != NULL)
        fprintf(stderr, "varstore: %s\n", err_held);
    free(err_held);
    err_held = NULL;
    err_holding = 0;
}

/* The message of fmt (after the context) kept as the held one: 0, or -1
 * when it cannot be (out of memory): then it is printed at once. */
static int err_keep(const char *fmt, va_list ap)
{
    va_list again;
    const char *ctx = err_context != NULL ? err_context : "";
    size_t lc = strlen(ctx);
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, again);
    va_end(again);
    char *m = n < 0 ? NULL : malloc(lc + (size_t)n + 1);
    if (m == NULL)
        return -1;
    memcpy(m, ctx, lc);
    (void)vsnprintf(m + lc, (size_t)n + 1, fmt, ap);
    err_held = m;
    return 0;
}

int cli_err(const char *fmt, ...)
{
    va_list ap;
    if (err_holding && err_held != NULL)
        return EXIT_ERR; /* only the first is kept */
    va_start(ap, fmt);
    int kept = err_holding ? err_keep(fmt, ap) : -1;
    va_end(ap);
    if (kept == 0)
        return EXIT_ERR;
    fputs("varstore: ", stderr);
    if (err_context != NULL)
        fputs(err_context, stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return EXIT_ERR;
}

int usage(const char *cmd, const char *fmt, ...)
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

int is_help(const char *a)
{
    return strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0;
}

/* Strict integer parse; 0 on success. */
int parse_i64(const char *s, int64_t *out)
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
int opt_value(int argc, char **argv, int *i, const char *name,
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

int str_option(int argc, char **argv, int *i, const str_opt *opts, size_t n,
               const char *cmd)
{
    const char *v;
    size_t k;
    int r;
    for (k = 0; k < n; k++) {
        if ((r = opt_value(argc, argv, i, opts[k].name, &v)) == 0)
            continue;
        if (r < 0) {
            usage(cmd, "%s", opts[k].need);
            return -1;
        }
        *opts[k].val = v;
        return 1;
    }
    return 0;
}

/* Fails unless path names an existing regular file (commands that only
 * read must never create one), checked as every input is: opened without
 * blocking (a FIFO is refused, never waited on), then fstat. */
int need_file(const char *path)
{
    int fd = vst_open_regular(path, NULL);
    if (fd < 0)
        return cli_err("%s", vst_errmsg());
    (void)close(fd); /* opened read-only only to check it */
    return EXIT_OK;
}

int need_checkpoint(const char *path)
{
    return vs_tf_is_checkpoint(path) ? EXIT_OK : need_file(path);
}

int need_utf8(const char *what, const char *s)
{
    if (vs__utf8_valid(s, strlen(s)))
        return EXIT_OK;
    return cli_err("%s is not valid UTF-8", what);
}

const char *human(int64_t bytes, char *buf, size_t cap)
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

/* The progress type, and what a bar shows when: cli.h. */

static double since(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - t0->tv_sec) +
           (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

void progress_start(progress *p, const char *label, uint64_t total)
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

void progress_start_bytes(progress *p, const char *label,
                          uint64_t total)
{
    progress_start(p, label, total);
    p->bytes = 1;
}

void progress_update(progress *p, uint64_t done)
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
void progress_cb(void *ctx, uint64_t done, uint64_t total)
{
    progress *p = ctx;
    p->total = total;
    progress_update(p, done);
}

void progress_end(progress *p)
{
    if (p->shown) {
        fprintf(stderr, "\r%*s\r", 72, "");
        fflush(stderr);
    }
}

/* ------------------------------------------------------------------------ */
/* JSON text                                                                 */

/* Control characters are escaped (\n, else \u00XX) and each byte that is
 * not part of valid UTF-8 is written as U+FFFD: the text is always JSON. */
void json_str(FILE *f, const char *s)
{
    size_t n = strlen(s), i = 0, l;
    fputc('"', f);
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        l = vs__utf8_seq(s + i, n - i);
        if (l == 0)
            fputs("\\ufffd", f);
        else if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", f);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fwrite(s + i, 1, l, f);
        i += l ? l : 1;
    }
    fputc('"', f);
}

void json_num(FILE *f, double v)
{
    if (isfinite(v))
        fprintf(f, "%.17g", v);
    else
        fputs("null", f);
}

void json_shape(FILE *f, int ndim, const int64_t *shape)
{
    int k;
    fputc('[', f);
    for (k = 0; k < ndim; k++)
        fprintf(f, "%s%lld", k ? "," : "", (long long)shape[k]);
    fputc(']', f);
}

/* ------------------------------------------------------------------------ */
/* Tensor lookup                                                             */

const vs_tensor_info *find_info(const vs_tensor_info *infos, size_t n,
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

/* ------------------------------------------------------------------------ */
/* Tensor lists (save, restore) and join                                     */

static void tl_release(const tensor_list *l, vs_tensor *t)
{
    if (l->release != NULL)
        l->release(t);
    else
        vs_tensor_free(t);
}

void tl_free(tensor_list *l)
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
int tl_add(tensor_list *l, char *name, vs_tensor *t)
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
    return cli_err("out of memory");
}

char *join(const char *a, const char *sep, const char *b)
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
