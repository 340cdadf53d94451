/* Checkpoint save/restore through the library, on the reference model that
 * bench/make_model.py writes (PREFIX.f32 + PREFIX.tsv). Not a test: it
 * measures, checks that every restore is bit-exact, and prints one JSON
 * document of every run's figures (report.py takes the medians).
 *
 * Rows (each run uses a fresh file, which has a rollback journal unless
 * the row says otherwise):
 *   default    vs_save (default codec, default threads), then a second
 *              vs_save of the unchanged weights as the next step
 *   default_t1 vs_save_ex with threads = 1, restored with threads = 1
 *   raw        vs_save_ex with VS_CODEC_RAW, then a second unchanged save
 *   raw_rollback, default_rollback
 *              the same into a file set to VS_JOURNAL_ROLLBACK before the
 *              timed save (the default's own path, set explicitly)
 *   raw_shared, default_shared
 *              into a file set to VS_JOURNAL_WAL, with
 *              vs_save_opts.readers_never_wait: the save stays a WAL one
 *              (pages written twice), as it does when another connection
 *              has a WAL file open
 * Restores: "fresh" = into a newly built graph whose variables exist but are
 * not initialized (TF's build-then-restore), with the file in the page cache
 * (warm) or after posix_fadvise(POSIX_FADV_DONTNEED) on the file and its
 * -wal/-shm (cold); "inited" = again into the same, now initialized graph.
 * Sizes are the bytes on disk of the file plus any -wal/-shm after the save.
 *
 * Usage: ckpt_bench PREFIX WORKDIR [runs] */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "varstore.h"

#define MAX_TENSORS 4096
#define MAX_RUNS 100
#define N_ROWS 7

typedef struct {
    char *name;
    int ndim;
    int64_t shape[VS_MAX_DIMS];
    size_t offset, nbytes;
} spec;

static spec specs[MAX_TENSORS];
static size_t n_specs;
static unsigned char *model;
static size_t model_bytes;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "ckpt_bench: %s: %s\n", what, detail);
    exit(1);
}

static void check(int rc, const char *what)
{
    if (rc != VS_OK)
        die(what, vs_errmsg());
}

static double now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        die("clock_gettime", strerror(errno));
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p == NULL)
        die("malloc", "out of memory");
    memcpy(p, s, n);
    return p;
}

static void load_model(const char *prefix)
{
    char path[4096], line[8192];
    FILE *f;
    struct stat st;
    size_t got = 0;
    int fd;

    if (snprintf(path, sizeof path, "%s.tsv", prefix) >= (int)sizeof path)
        die(prefix, "path too long");
    f = fopen(path, "r");
    if (f == NULL)
        die(path, strerror(errno));
    while (fgets(line, sizeof line, f) != NULL) {
        spec *s;
        char *name, *shape, *off, *nb, *end, *tok, *save = NULL;
        size_t numel = 1;
        if (strchr(line, '\n') == NULL)
            die(path, "line too long or unterminated");
        if (n_specs == MAX_TENSORS)
            die(path, "too many tensors");
        s = &specs[n_specs];
        name = strtok_r(line, "\t\n", &save);
        shape = strtok_r(NULL, "\t\n", &save);
        off = strtok_r(NULL, "\t\n", &save);
        nb = strtok_r(NULL, "\t\n", &save);
        if (name == NULL || shape == NULL || off == NULL || nb == NULL)
            die(path, "expected name, shape, offset, bytes");
        s->name = xstrdup(name);
        s->ndim = 0;
        for (tok = strtok_r(shape, ",", &save); tok != NULL;
             tok = strtok_r(NULL, ",", &save)) {
            long long d;
            if (s->ndim == VS_MAX_DIMS)
                die(s->name, "too many dimensions");
            errno = 0;
            d = strtoll(tok, &end, 10);
            if (errno != 0 || *end != '\0' || d <= 0 || d > (1LL << 31))
                die(s->name, "bad dimension");
            s->shape[s->ndim++] = d;
            numel *= (size_t)d;
        }
        errno = 0;
        s->offset = (size_t)strtoull(off, &end, 10);
        if (errno != 0 || *end != '\0')
            die(s->name, "bad offset");
        s->nbytes = (size_t)strtoull(nb, &end, 10);
        if (errno != 0 || *end != '\0' || s->nbytes != numel * 4)
            die(s->name, "byte count does not match the shape");
        n_specs++;
    }
    if (ferror(f) || fclose(f) != 0)
        die(path, "read error");
    if (n_specs == 0)
        die(path, "no tensors");

    snprintf(path, sizeof path, "%s.f32", prefix);
    fd = open(path, O_RDONLY);
    if (fd < 0 || fstat(fd, &st) != 0)
        die(path, strerror(errno));
    model_bytes = (size_t)st.st_size;
    model = malloc(model_bytes ? model_bytes : 1);
    if (model == NULL)
        die("malloc", "out of memory");
    while (got < model_bytes) {
        ssize_t r = read(fd, model + got, model_bytes - got);
        if (r <= 0)
            die(path, r < 0 ? strerror(errno) : "short read");
        got += (size_t)r;
    }
    close(fd);
    for (size_t i = 0; i < n_specs; i++)
        if (specs[i].offset > model_bytes ||
            specs[i].nbytes > model_bytes - specs[i].offset)
            die(specs[i].name, "extends past the end of the .f32 file");
}

/* A new graph with every model variable created; with `assign`, holding the
 * model's values, else uninitialized. */
static vs_graph *build_graph(int assign, vs_var **vars)
{
    vs_graph *g = NULL;
    vs_init zeros = vs_init_zeros();
    check(vs_graph_open(&g), "vs_graph_open");
    for (size_t i = 0; i < n_specs; i++) {
        vs_var_opts o;
        memset(&o, 0, sizeof o);
        o.shape = specs[i].shape;
        o.ndim = specs[i].ndim;
        o.dtype = VS_FLOAT32;
        o.initializer = &zeros;
        check(vs_get_variable(g, specs[i].name, &o, &vars[i]),
              "vs_get_variable");
        if (assign) {
            vs_tensor t;
            memset(&t, 0, sizeof t);
            t.dtype = VS_FLOAT32;
            t.ndim = specs[i].ndim;
            memcpy(t.shape, specs[i].shape, sizeof t.shape);
            t.data = model + specs[i].offset;
            check(vs_assign(vars[i], &t), "vs_assign");
        }
    }
    return g;
}

/* Every variable bit-equal to the model (outside any timed region). */
static void verify(vs_var **vars, const char *what)
{
    for (size_t i = 0; i < n_specs; i++) {
        vs_tensor *t = NULL;
        check(vs_var_value(vars[i], &t), "vs_var_value");
        if (vs_tensor_nbytes(t) != specs[i].nbytes ||
            memcmp(t->data, model + specs[i].offset, specs[i].nbytes) != 0) {
            fprintf(stderr, "ckpt_bench: %s: %s is not bit-exact\n", what,
                    specs[i].name);
            exit(1);
        }
    }
}

static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
#define N_SUFFIXES 4

static long long disk_bytes(const char *path)
{
    char p[4200];
    long long total = 0;
    for (int i = 0; i < N_SUFFIXES; i++) {
        struct stat st;
        snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
        if (stat(p, &st) == 0)
            total += (long long)st.st_size;
        else if (errno != ENOENT)
            die(p, strerror(errno));
        else if (i == 0)
            die(p, "missing after a save");
    }
    return total;
}

static void remove_db(const char *path)
{
    char p[4200];
    for (int i = 0; i < N_SUFFIXES; i++) {
        snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
        if (unlink(p) != 0 && errno != ENOENT)
            die(p, strerror(errno));
    }
}

/* Drops the file's (clean, already durable) pages from the page cache. */
static void make_cold(const char *path)
{
    char p[4200];
    for (int i = 0; i < N_SUFFIXES; i++) {
        int fd, rc;
        snprintf(p, sizeof p, "%s%s", path, suffixes[i]);
        fd = open(p, O_RDONLY);
        if (fd < 0) {
            if (errno == ENOENT && i > 0)
                continue;
            die(p, strerror(errno));
        }
        if (fdatasync(fd) != 0)
            die(p, strerror(errno));
        rc = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        close(fd);
        if (rc != 0)
            die("posix_fadvise", strerror(rc));
    }
}

typedef struct {
    const char *name;
    double save[MAX_RUNS], save2[MAX_RUNS];
    double rwarm[MAX_RUNS], rcold[MAX_RUNS], rinit[MAX_RUNS];
    long long size[MAX_RUNS], added[MAX_RUNS], stored[MAX_RUNS];
    int has_save2;
} row;

static void print_d(const char *key, const double *v, int n, int last)
{
    printf("      \"%s\": [", key);
    for (int i = 0; i < n; i++)
        printf("%s%.6f", i ? ", " : "", v[i]);
    printf("]%s\n", last ? "" : ",");
}

static void print_ll(const char *key, const long long *v, int n, int last)
{
    printf("      \"%s\": [", key);
    for (int i = 0; i < n; i++)
        printf("%s%lld", i ? ", " : "", v[i]);
    printf("]%s\n", last ? "" : ",");
}

static long long stored_bytes(const char *path, int64_t step)
{
    vs_ckpt_info *info = NULL;
    size_t n = 0;
    long long s = -1;
    check(vs_list_checkpoints(path, &info, &n), "vs_list_checkpoints");
    for (size_t i = 0; i < n; i++)
        if (info[i].step == step) {
            if (info[i].n_tensors != (int64_t)n_specs ||
                info[i].raw_bytes != (int64_t)model_bytes)
                die(path, "checkpoint catalogue disagrees with the model");
            s = (long long)info[i].stored_bytes;
        }
    vs_free(info);
    if (s < 0)
        die(path, "saved step missing from vs_list_checkpoints");
    return s;
}

int main(int argc, char **argv)
{
    static vs_var *vars[MAX_TENSORS], *rvars[MAX_TENSORS];
    static row rows[N_ROWS];
    char path[4096];
    vs_graph *g;
    int runs = 5;

    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: ckpt_bench PREFIX WORKDIR [runs]\n");
        return 2;
    }
    if (argc == 4) {
        runs = atoi(argv[3]);
        if (runs < 1 || runs > MAX_RUNS) {
            fprintf(stderr, "ckpt_bench: runs must be 1..%d\n", MAX_RUNS);
            return 2;
        }
    }
    load_model(argv[1]);
    if (snprintf(path, sizeof path, "%s/ckpt_bench.db", argv[2]) >=
        (int)sizeof path)
        die(argv[2], "path too long");
    g = build_graph(1, vars);
    verify(vars, "source graph");

    rows[0].name = "default";
    rows[1].name = "default_t1";
    rows[2].name = "raw";
    rows[3].name = "raw_rollback";
    rows[4].name = "default_rollback";
    rows[5].name = "raw_shared";
    rows[6].name = "default_shared";
    rows[0].has_save2 = rows[2].has_save2 = rows[3].has_save2 = 1;
    rows[4].has_save2 = 1;
    for (int r = 0; r < runs; r++) {
        for (int k = 0; k < N_ROWS; k++) {
            row *w = &rows[k];
            vs_save_opts so;
            vs_restore_opts ro;
            vs_graph *rg;
            double t0;
            int rc;

            memset(&so, 0, sizeof so);
            memset(&ro, 0, sizeof ro);
            so.max_to_keep = 0; /* the file's setting */
            if (k == 1)
                so.threads = ro.threads = 1;
            if (k == 2 || k == 3 || k == 5)
                so.codec = VS_CODEC_RAW;
            if (k == 5 || k == 6)
                so.readers_never_wait = 1;
            remove_db(path);
            /* A setting of the file, made before the timed save. */
            if (k == 3 || k == 4)
                check(vs_set_journal_mode(path, VS_JOURNAL_ROLLBACK),
                      "vs_set_journal_mode");
            if (k == 5 || k == 6)
                check(vs_set_journal_mode(path, VS_JOURNAL_WAL),
                      "vs_set_journal_mode");

            t0 = now();
            rc = k == 0 ? vs_save(g, path, 1) : vs_save_ex(g, path, 1, &so);
            w->save[r] = now() - t0;
            check(rc, k == 0 ? "vs_save" : "vs_save_ex");
            w->size[r] = disk_bytes(path);
            w->stored[r] = stored_bytes(path, 1);

            /* restore into a fresh graph, warm */
            rg = build_graph(0, rvars);
            t0 = now();
            rc = k == 1 ? vs_restore_ex(rg, path, 1, &ro)
                        : vs_restore(rg, path, 1);
            w->rwarm[r] = now() - t0;
            check(rc, "vs_restore");
            verify(rvars, "warm restore");
            /* again, into the initialized graph */
            t0 = now();
            rc = k == 1 ? vs_restore_ex(rg, path, 1, &ro)
                        : vs_restore(rg, path, 1);
            w->rinit[r] = now() - t0;
            check(rc, "vs_restore (initialized)");
            verify(rvars, "restore into initialized graph");
            vs_graph_close(rg);

            /* restore into a fresh graph, cold */
            rg = build_graph(0, rvars);
            make_cold(path);
            t0 = now();
            rc = k == 1 ? vs_restore_ex(rg, path, 1, &ro)
                        : vs_restore(rg, path, 1);
            w->rcold[r] = now() - t0;
            check(rc, "vs_restore (cold)");
            verify(rvars, "cold restore");
            vs_graph_close(rg);

            if (w->has_save2) {
                t0 = now();
                rc = k == 0 ? vs_save(g, path, 2) : vs_save_ex(g, path, 2, &so);
                w->save2[r] = now() - t0;
                check(rc, "second save");
                w->added[r] = disk_bytes(path) - w->size[r];
                (void)stored_bytes(path, 2);
            }
            remove_db(path);
        }
    }
    vs_graph_close(g);

    printf("{\n  \"tool\": \"ckpt_bench\",\n  \"version\": \"%s\",\n",
           vs_version());
    printf("  \"runs\": %d,\n  \"n_tensors\": %zu,\n  \"raw_bytes\": %zu,\n",
           runs, n_specs, model_bytes);
    printf("  \"rows\": {\n");
    for (int k = 0; k < N_ROWS; k++) {
        row *w = &rows[k];
        printf("    \"%s\": {\n", w->name);
        print_d("save_s", w->save, runs, 0);
        if (w->has_save2) {
            print_d("save2_s", w->save2, runs, 0);
            print_ll("added_bytes", w->added, runs, 0);
        }
        print_d("restore_warm_s", w->rwarm, runs, 0);
        print_d("restore_cold_s", w->rcold, runs, 0);
        print_d("restore_inited_s", w->rinit, runs, 0);
        print_ll("stored_bytes", w->stored, runs, 0);
        print_ll("size_bytes", w->size, runs, 1);
        printf("    }%s\n", k < N_ROWS - 1 ? "," : "");
    }
    printf("  }\n}\n");
    for (size_t i = 0; i < n_specs; i++)
        free(specs[i].name);
    free(model);
    return fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
}
