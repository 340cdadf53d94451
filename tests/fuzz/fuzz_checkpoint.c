/* Fuzz target over whole checkpoint files. The first input byte picks how
 * the rest makes a file:
 *   0: the bytes are the file;
 *   1: a valid checkpoint (made once, in-process) with bytes overwritten at
 *      positions the input gives (bit rot, torn writes);
 *   2: the same checkpoint with rows edited through SQL (values the input
 *      gives, bound as parameters, in columns of a fixed list).
 * Every read of the public API then runs on the file (each tensor alone,
 * then all of a step in one vs_ckpt_load_many). Beyond "no crash,
 * no leak": a failure sets a message; a tensor that loads has the dtype
 * and shape the listing gives; and when vs_verify passes, every listed
 * tensor of every step loads. Built with libFuzzer when VS_FUZZ is on
 * (clang), and as a plain replay program for CTest. */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "varstore.h"

/* The valid checkpoint the edits start from, its bytes in memory. */
static uint8_t *g_seed;
static size_t g_seed_n;

static void make_seed(const char *path)
{
    static const int64_t s_big[] = {3000}, s_mat[] = {4, 5}, s_one[] = {1};
    const int64_t *shapes[] = {s_big, s_mat, s_one};
    const int ndims[] = {1, 2, 0};
    const vs_dtype dts[] = {VS_FLOAT32, VS_FLOAT16, VS_INT64};
    const char *names[] = {"net/w", "net/h", "step"};
    vs_tensor *t[3] = {NULL, NULL, NULL};
    vs_save_opts o = {.chunk_bytes = 4096, .threads = 1};
    unlink(path);
    for (int i = 0; i < 3; i++) {
        if (vs_tensor_new(dts[i], ndims[i], shapes[i], &t[i]) != VS_OK)
            vs_fuzz_die("seed tensor", vs_errmsg());
        uint8_t *p = t[i]->data;
        for (size_t k = 0; k < vs_tensor_nbytes(t[i]); k++)
            p[k] = (uint8_t)(k * 7 + (k >> 8));
    }
    for (int64_t step = 1; step <= 2; step++)
        if (vs_save_tensors(path, step, names, (const vs_tensor *const *)t, 3,
                            &o) != VS_OK)
            vs_fuzz_die("seed save", vs_errmsg());
    for (int i = 0; i < 3; i++)
        vs_tensor_free(t[i]);
    FILE *f = fopen(path, "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0)
        vs_fuzz_die("seed read", path);
    long n = ftell(f);
    g_seed = malloc((size_t)n);
    if (n <= 0 || g_seed == NULL || fseek(f, 0, SEEK_SET) != 0 ||
        fread(g_seed, 1, (size_t)n, f) != (size_t)n)
        vs_fuzz_die("seed read", path);
    fclose(f);
    g_seed_n = (size_t)n;
}

/* Mode 1: the seed with input-given bytes written at input-given offsets
 * (4 bytes offset, 1 byte value, repeated). */
static const uint8_t *rot(const uint8_t *in, size_t n, size_t *out_n)
{
    static uint8_t *buf;
    free(buf);
    buf = malloc(g_seed_n);
    if (buf == NULL)
        vs_fuzz_die("out of memory", "rot");
    memcpy(buf, g_seed, g_seed_n);
    for (size_t i = 0; i + 5 <= n; i += 5) {
        uint32_t off = (uint32_t)in[i] | (uint32_t)in[i + 1] << 8 |
                       (uint32_t)in[i + 2] << 16 | (uint32_t)in[i + 3] << 24;
        buf[off % g_seed_n] = in[i + 4];
    }
    *out_n = g_seed_n;
    return buf;
}

/* Mode 2: rows edited with bound values. The statements are constants. */
static const char *const edits[] = {
    "UPDATE tensor_rows SET dtype = ?1 WHERE rowid = ?2",
    "UPDATE tensor_rows SET shape = ?1 WHERE rowid = ?2",
    "UPDATE tensor_rows SET numel = ?1 WHERE rowid = ?2",
    "UPDATE tensor_rows SET codec = ?1 WHERE rowid = ?2",
    "UPDATE tensor_rows SET chunk_bytes = ?1 WHERE rowid = ?2",
    "UPDATE tensor_rows SET n_chunks = ?1 WHERE rowid = ?2",
    "UPDATE tensor_rows SET raw_bytes = ?1 WHERE rowid = ?2",
    "UPDATE tensor_rows SET crc32 = ?1 WHERE rowid = ?2",
    "UPDATE tensor_rows SET step = ?1 WHERE rowid = ?2",
    "UPDATE names SET name = ?1 WHERE rowid = ?2",
    "DELETE FROM tensor_rows WHERE rowid = ?2 AND ?1 IS NOT 0",
    "UPDATE chunks SET crc32 = ?1 WHERE rowid = ?2",
    "UPDATE chunks SET raw_bytes = ?1 WHERE rowid = ?2",
    "UPDATE chunks SET elem_size = ?1 WHERE rowid = ?2",
    "UPDATE chunks SET codec = ?1 WHERE rowid = ?2",
    "UPDATE chunks SET stored_bytes = ?1 WHERE rowid = ?2",
    "UPDATE chunks SET data = ?1 WHERE rowid = ?2",
    "DELETE FROM chunks WHERE rowid = ?2 AND ?1 IS NOT 0",
    "UPDATE tensor_chunks SET chunk_id = ?1 WHERE rowid = ?2",
    "UPDATE tensor_chunks SET seq = ?1 WHERE rowid = ?2",
    "DELETE FROM tensor_chunks WHERE rowid = ?2 AND ?1 IS NOT 0",
    "UPDATE checkpoints SET step = ?1 WHERE rowid = ?2",
    "UPDATE checkpoints SET n_tensors = ?1 WHERE rowid = ?2",
    "UPDATE meta SET value = ?1 WHERE rowid = ?2",
    "UPDATE tensor_rows SET name_id = ?1 WHERE rowid = ?2",
    "DELETE FROM names WHERE rowid = ?2 AND ?1 IS NOT 0",
};
#define N_EDITS (sizeof edits / sizeof edits[0])

/* Binds ?1 from the input: the type byte picks int, real, text, blob or
 * NULL; returns the bytes consumed. */
static size_t bind_value(sqlite3_stmt *st, const uint8_t *in, size_t n)
{
    if (n < 2)
        return n;
    size_t len = in[1] % 9;
    if (len > n - 2)
        len = n - 2;
    int64_t v = 0;
    memcpy(&v, in + 2, len < 8 ? len : 8);
    switch (in[0] % 5) {
    case 0: sqlite3_bind_int64(st, 1, v); break;
    case 1: sqlite3_bind_double(st, 1, (double)v / 7.0); break;
    case 2: sqlite3_bind_text(st, 1, (const char *)in + 2, (int)len,
                              SQLITE_TRANSIENT);
            break;
    case 3: sqlite3_bind_blob(st, 1, in + 2, (int)len, SQLITE_TRANSIENT);
            break;
    default: sqlite3_bind_null(st, 1); break;
    }
    return 2 + len;
}

static void edit(const char *path, const uint8_t *in, size_t n)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK)
        vs_fuzz_die("open for edits", sqlite3_errmsg(db));
    size_t i = 0;
    while (i + 2 <= n) {
        sqlite3_stmt *st = NULL;
        const char *sql = edits[in[i] % N_EDITS];
        int64_t row = 1 + in[i + 1] % 8;
        i += 2;
        if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
            i += bind_value(st, in + i, n - i);
            sqlite3_bind_int64(st, 2, row);
            (void)sqlite3_step(st); /* a constraint may refuse it: fine */
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
}

/* The same tensors in one vs_ckpt_load_many (one lookup of them all,
 * one decode): 1 when it fails, which must set a message. */
static int load_all_at_once(vs_ckpt *f, int64_t step,
                            const vs_tensor_info *infos, size_t n,
                            const char *path)
{
    const char **names = calloc(n ? n : 1, sizeof *names);
    vs_tensor **out = calloc(n ? n : 1, sizeof *out);
    if (names == NULL || out == NULL)
        vs_fuzz_die("out of memory", "load_all_at_once");
    for (size_t i = 0; i < n; i++)
        names[i] = infos[i].name;
    int bad = 0;
    if (n > 0 && vs_ckpt_load_many(f, step, names, n, out) != VS_OK) {
        if (vs_errmsg()[0] == '\0')
            vs_fuzz_die("a failed load_many set no message", path);
        bad = 1;
    }
    for (size_t i = 0; i < n; i++)
        vs_tensor_free(out[i]);
    free(names);
    free(out);
    return bad;
}

/* Loads every listed tensor of step through f, one by one and all at
 * once; returns the failures. A loaded tensor must match its listing. */
static int load_step(vs_ckpt *f, int64_t step, const char *path)
{
    vs_tensor_info *infos = NULL;
    size_t n = 0;
    int bad = 0;
    if (vs_ckpt_list_variables(f, step, &infos, &n) != VS_OK)
        return 1;
    for (size_t i = 0; i < n; i++) {
        vs_tensor *t = NULL;
        if (vs_ckpt_load(f, step, infos[i].name, &t) != VS_OK) {
            if (vs_errmsg()[0] == '\0')
                vs_fuzz_die("a failed load set no message", path);
            bad++;
            continue;
        }
        if (t->dtype != infos[i].dtype || t->ndim != infos[i].ndim ||
            memcmp(t->shape, infos[i].shape,
                   sizeof t->shape[0] * (size_t)t->ndim) != 0)
            vs_fuzz_die("a loaded tensor differs from its listing", path);
        vs_tensor_free(t);
    }
    bad += load_all_at_once(f, step, infos, n, path);
    vs_tensor_info_free(infos, n);
    return bad;
}

/* Every read of the public API on the file; returns the failed loads. */
static int read_all(const char *path)
{
    vs_ckpt_info *steps = NULL;
    vs_ckpt *f = NULL;
    size_t n = 0;
    int bad = 0;
    if (vs_list_checkpoints(path, &steps, &n) != VS_OK)
        return 1;
    if (vs_ckpt_open(path, &f) == VS_OK) {
        for (size_t i = 0; i < n; i++)
            bad += load_step(f, steps[i].step, path);
        vs_ckpt_close(f);
    } else {
        bad++;
    }
    vs_free(steps);
    return bad;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    if (g_seed == NULL)
        make_seed(vs_fuzz_write_input("ckpt", NULL, 0));
    /* No -wal or -shm of an earlier input beside this one. */
    char side[4200];
    snprintf(side, sizeof side, "%s-wal", vs_fuzz_path());
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", vs_fuzz_path());
    unlink(side);
    const uint8_t *body = data + 1;
    size_t n = size - 1;
    const char *path;
    switch (data[0] % 3) {
    case 0: path = vs_fuzz_write_input("ckpt", body, n); break;
    case 1: {
        size_t m = 0;
        const uint8_t *b = rot(body, n, &m);
        path = vs_fuzz_write_input("ckpt", b, m);
        break;
    }
    default:
        path = vs_fuzz_write_input("ckpt", g_seed, g_seed_n);
        edit(path, body, n);
        break;
    }
    size_t n_bad = 0;
    int verified = vs_verify(path, &n_bad) == VS_OK;
    int bad_loads = read_all(path);
    if (verified && bad_loads > 0)
        vs_fuzz_die("verify passed but a tensor does not load", path);
    return 0;
}
