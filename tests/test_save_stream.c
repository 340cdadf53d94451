/* Tests for vs_save_stream: a save whose bytes come from a read callback
 * writes the checkpoint vs_save_tensors writes (chunks, dedup, rows),
 * reads each byte once in order, and a failing read leaves the file's
 * last committed step intact; vs_save_stream_parallel reads on the
 * workers into a new file, for the same checkpoint. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "varstore.h"

#define STORE_TEST_NAME "vs_test_save_stream"
#include "support/store_test.h"

static uint64_t g_rnd = 0x9E3779B97F4A7C15ULL;

static uint32_t rnd(void)
{
    g_rnd ^= g_rnd << 13;
    g_rnd ^= g_rnd >> 7;
    g_rnd ^= g_rnd << 17;
    return (uint32_t)(g_rnd >> 16);
}

static void fill_random(vs_tensor *t)
{
    unsigned char *p = t->data;
    size_t n = vs_tensor_nbytes(t);
    for (size_t i = 0; i < n; i++)
        p[i] = (unsigned char)rnd();
}

static void fill_weights(vs_tensor *t)
{
    float *p = t->data;
    size_t n = (size_t)vs_tensor_numel(t);
    for (size_t i = 0; i < n; i++)
        p[i] = ((float)(rnd() >> 8) / 16777216.0f - 0.5f) * 0.2f;
}

/* ---- a read callback over tensors in memory, recording its calls ------- */

enum { MAX_CALLS = 4096 };

typedef struct {
    const vs_tensor *const *ts;
    size_t n;
    size_t calls, fail_at; /* fail_at: the call that fails (0: none) */
    int fail_code;
    const char *fail_msg;
    size_t index[MAX_CALLS];
    uint64_t off[MAX_CALLS];
    size_t len[MAX_CALLS];
} mem_src;

static int mem_read(void *vctx, size_t index, uint64_t offset, void *buf,
                    size_t len, char *err, size_t err_cap)
{
    mem_src *s = vctx;
    assert_true(index < s->n);
    assert_true(offset + len <= vs_tensor_nbytes(s->ts[index]));
    assert_non_null(err);
    assert_true(err_cap >= 64);
    if (s->calls < MAX_CALLS) {
        s->index[s->calls] = index;
        s->off[s->calls] = offset;
        s->len[s->calls] = len;
    }
    if (++s->calls == s->fail_at) {
        if (s->fail_msg != NULL)
            snprintf(err, err_cap, "%s", s->fail_msg);
        return s->fail_code;
    }
    memcpy(buf, (const unsigned char *)s->ts[index]->data + offset, len);
    return VS_OK;
}

/* The dtypes, ranks and shapes of ts, as vs_save_stream takes them. */
typedef struct {
    vs_dtype dts[16];
    int nds[16];
    const int64_t *shs[16];
} described;

static void describe(const vs_tensor *const *ts, size_t n, described *d)
{
    assert_true(n <= 16);
    for (size_t i = 0; i < n; i++) {
        d->dts[i] = ts[i]->dtype;
        d->nds[i] = ts[i]->ndim;
        d->shs[i] = ts[i]->shape;
    }
}

/* vs_save_stream of ts (read from memory through mem_read). */
static int stream_save(const char *path, int64_t step,
                       const char *const *names,
                       const vs_tensor *const *ts, size_t n, mem_src *s,
                       const vs_save_opts *o)
{
    described d;
    describe(ts, n, &d);
    s->ts = ts;
    s->n = n;
    return vs_save_stream(path, step, names, d.dts, d.nds, d.shs, n, mem_read,
                          s, o);
}

/* The rows a save writes (everything but the times and the writer), as
 * one text. */
static char *file_rows(const char *path)
{
    static const char *const q =
        "SELECT (SELECT group_concat(r, ';') FROM (SELECT step || ':' || "
        "n_tensors || ':' || raw_bytes || ':' || stored_bytes || ':' || "
        "new_bytes || ':' || ifnull(tensors_crc, '-') AS r FROM checkpoints "
        "ORDER BY step)) || '|' || (SELECT group_concat(r, ';') FROM (SELECT "
        "id || ':' || step || ':' || name || ':' || dtype || ':' || shape || "
        "':' || numel || ':' || codec || ':' || chunk_bytes || ':' || "
        "n_chunks || ':' || raw_bytes || ':' || stored_bytes || ':' || crc32 "
        "|| ':' || ifnull(quote(min), '-') || ':' || ifnull(quote(max), '-') "
        "|| ':' || ifnull(quote(mean), '-') || ':' || ifnull(quote(std), "
        "'-') || ':' || ifnull(n_nan, '-') || ':' || ifnull(n_inf, '-') AS r "
        "FROM tensors ORDER BY id)) || '|' || (SELECT group_concat(r, ';') "
        "FROM (SELECT tensor_id || ':' || seq || ':' || chunk_id AS r FROM "
        "tensor_chunks ORDER BY tensor_id, seq)) || '|' || (SELECT "
        "group_concat(r, ';') FROM (SELECT id || ':' || hex(hash) || ':' || "
        "crc32 || ':' || raw_bytes || ':' || elem_size || ':' || codec || "
        "':' || stored_bytes || ':' || hex(data) AS r FROM chunks ORDER BY "
        "id))";
    sqlite3 *db = raw_open(path);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const char *t = (const char *)sqlite3_column_text(st, 0);
    assert_non_null(t);
    char *out = strdup(t);
    assert_non_null(out);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

/* Tensors of several dtypes: many chunks, a bool, a scalar, an empty one. */
enum { NT = 6 };
typedef struct {
    vs_tensor *t[NT];
    const char *names[NT];
} model;

static void model_new(model *m)
{
    static const char *const nm[NT] = {"w/big", "b/half", "a/mask",
                                       "s/scalar", "e/empty", "i/ids"};
    int64_t big[] = {300, 1000}, half[] = {700, 33}, mask[] = {1000};
    int64_t empty[] = {0, 5}, ids[] = {12345};
    m->t[0] = mk(VS_FLOAT32, 2, big);
    fill_weights(m->t[0]);
    m->t[1] = mk(VS_FLOAT16, 2, half);
    fill_random(m->t[1]);
    m->t[2] = mk(VS_BOOL, 1, mask);
    unsigned char *b = m->t[2]->data;
    for (int i = 0; i < 1000; i++)
        b[i] = (unsigned char)(rnd() & 1);
    m->t[3] = mk(VS_FLOAT64, 0, NULL);
    *(double *)m->t[3]->data = -2.5;
    m->t[4] = mk(VS_FLOAT32, 2, empty);
    m->t[5] = mk(VS_INT64, 1, ids);
    fill_random(m->t[5]);
    for (int i = 0; i < NT; i++)
        m->names[i] = nm[i];
}

static void model_free(model *m)
{
    for (int i = 0; i < NT; i++)
        vs_tensor_free(m->t[i]);
}

/* Two steps (the second with one tensor changed, so the rest dedups)
 * into path: with vs_save_tensors, or streamed. */
static void save_two_steps(const char *path, model *m, int streamed,
                           const vs_save_opts *o)
{
    const vs_tensor *const *ts = (const vs_tensor *const *)m->t;
    mem_src s;
    for (int step = 1; step <= 2; step++) {
        memset(&s, 0, sizeof s);
        if (streamed)
            OK(stream_save(path, step, m->names, ts, NT, &s, o));
        else
            OK(vs_save_tensors(path, step, m->names, ts, NT, o));
        if (step == 1)
            ((unsigned char *)m->t[0]->data)[77] ^= 1; /* one chunk changes */
    }
    ((unsigned char *)m->t[0]->data)[77] ^= 1;
}

static void test_save_stream__same_checkpoint_as_save_tensors(void **state)
{
    (void)state;
    model m;
    model_new(&m);
    char other[600];
    snprintf(other, sizeof other, "%s.tensors.db", g_path);
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.chunk_bytes = 100000;
    for (int threads = 1; threads <= 3; threads += 2) {
        for (int codec = VS_CODEC_DEFAULT; codec <= VS_CODEC_RAW; codec++) {
            o.threads = threads;
            o.codec = codec;
            remove_db(g_path);
            remove_db(other);
            save_two_steps(other, &m, 0, &o);
            save_two_steps(g_path, &m, 1, &o);
            char *want = file_rows(other), *got = file_rows(g_path);
            assert_string_equal(got, want);
            free(want);
            free(got);
        }
    }
    /* Step 2 stored only the changed chunk: dedup against step 1. */
    sqlite3 *db = raw_open(g_path);
    int64_t new2 = q_int(db, "SELECT new_bytes FROM checkpoints WHERE step=2");
    int64_t chunk = q_int(db, "SELECT max(stored_bytes) FROM chunks");
    assert_true(new2 > 0 && new2 <= chunk);
    sqlite3_close(db);
    size_t n_bad = 1;
    OK(vs_verify(g_path, &n_bad));
    assert_int_equal(n_bad, 0);
    remove_db(other);
    model_free(&m);
}

/* A streamed save into a file of vs_save_tensors' checkpoints stores no
 * chunk again, and reads back bit-exact. */
static void test_save_stream__dedups_against_earlier_steps(void **state)
{
    (void)state;
    model m;
    model_new(&m);
    const vs_tensor *const *ts = (const vs_tensor *const *)m.t;
    OK(vs_save_tensors(g_path, 1, m.names, ts, NT, NULL));
    mem_src s;
    memset(&s, 0, sizeof s);
    OK(stream_save(g_path, 2, m.names, ts, NT, &s, NULL));
    sqlite3 *db = raw_open(g_path);
    assert_int_equal(q_int(db, "SELECT new_bytes FROM checkpoints WHERE "
                               "step=2"),
                     0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM chunks WHERE id NOT IN "
                               "(SELECT chunk_id FROM tensor_chunks JOIN "
                               "tensors ON tensors.id=tensor_id WHERE "
                               "step=1)"),
                     0);
    sqlite3_close(db);
    for (int i = 0; i < NT; i++) {
        vs_tensor *got = NULL;
        OK(vs_load_variable(g_path, 2, m.names[i], &got));
        assert_int_equal(vs_tensor_nbytes(got), vs_tensor_nbytes(m.t[i]));
        if (vs_tensor_nbytes(got) > 0)
            assert_memory_equal(got->data, m.t[i]->data,
                                vs_tensor_nbytes(got));
        vs_tensor_free(got);
    }
    model_free(&m);
}

/* Every byte read once: a tensor's ranges in increasing order, whole
 * elements, at most a chunk, tensors one after the other, none of an
 * empty tensor. */
static void test_save_stream__reads_each_byte_once_in_order(void **state)
{
    (void)state;
    model m;
    model_new(&m);
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.chunk_bytes = 65536;
    o.threads = 4;
    mem_src s;
    memset(&s, 0, sizeof s);
    OK(stream_save(g_path, 1, m.names, (const vs_tensor *const *)m.t, NT, &s,
                   &o));
    assert_true(s.calls < MAX_CALLS);
    uint64_t next[NT] = {0};
    int done[NT] = {0};
    size_t cur = (size_t)-1;
    for (size_t k = 0; k < s.calls; k++) {
        size_t i = s.index[k];
        size_t es = vs_dtype_size(m.t[i]->dtype);
        if (i != cur) {
            assert_false(done[i]); /* not back to a finished tensor */
            if (cur != (size_t)-1)
                done[cur] = 1;
            cur = i;
        }
        assert_int_equal(s.off[k], next[i]);
        assert_true(s.len[k] > 0 && s.len[k] <= o.chunk_bytes);
        assert_int_equal(s.len[k] % es, 0);
        next[i] += s.len[k];
    }
    for (int i = 0; i < NT; i++)
        assert_int_equal(next[i], vs_tensor_nbytes(m.t[i]));
    model_free(&m);
}

/* A read failing mid-save: the save fails with the callback's code and
 * message, and the file keeps its last committed step as it was. */
static void test_save_stream__failing_read_keeps_last_step(void **state)
{
    (void)state;
    model m;
    model_new(&m);
    const vs_tensor *const *ts = (const vs_tensor *const *)m.t;
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.chunk_bytes = 100000;
    OK(vs_save_tensors(g_path, 1, m.names, ts, NT, &o));
    char *before = file_rows(g_path);
    for (int threads = 1; threads <= 2; threads++) {
        for (int64_t step = 1; step <= 2; step++) { /* replace, or add */
            mem_src s;
            memset(&s, 0, sizeof s);
            s.fail_at = 6; /* w/big's second chunk (names sorted) */
            s.fail_code = VS_EIO;
            s.fail_msg = "disk on fire";
            o.threads = threads;
            assert_int_equal(stream_save(g_path, step, m.names, ts, NT, &s,
                                         &o),
                             VS_EIO);
            assert_int_equal(s.calls, 6);
            assert_non_null(strstr(vs_errmsg(), "disk on fire"));
            assert_non_null(strstr(vs_errmsg(), "bytes 100000 to 200000 of "
                                                "tensor w/big"));
            char *after = file_rows(g_path);
            assert_string_equal(after, before);
            free(after);
        }
    }
    size_t n_bad = 1;
    OK(vs_verify(g_path, &n_bad));
    assert_int_equal(n_bad, 0);
    free(before);
    model_free(&m);
}

/* A failing read that writes no message: the code's text stands in. */
static void test_save_stream__failing_read_without_message(void **state)
{
    (void)state;
    model m;
    model_new(&m);
    mem_src s;
    memset(&s, 0, sizeof s);
    s.fail_at = 1;
    s.fail_code = VS_ECORRUPT;
    assert_int_equal(stream_save(g_path, 3, m.names,
                                 (const vs_tensor *const *)m.t, NT, &s, NULL),
                     VS_ECORRUPT);
    assert_non_null(strstr(vs_errmsg(), vs_errstr(VS_ECORRUPT)));
    vs_ckpt_info *ci = NULL;
    size_t n = 9;
    OK(vs_list_checkpoints(g_path, &ci, &n));
    assert_int_equal(n, 0);
    vs_free(ci);
    model_free(&m);
}

static int never_read(void *ctx, size_t index, uint64_t offset, void *buf,
                      size_t len, char *err, size_t err_cap)
{
    (void)index;
    (void)offset;
    (void)buf;
    (void)len;
    (void)err;
    (void)err_cap;
    ++*(int *)ctx;
    return VS_EIO;
}

/* 2^62 bytes (more than one save takes): refused before its chunk list
 * is allocated, before any read and before the file is created. */
static void test_save_stream__more_than_a_save_takes_refused(void **st)
{
    (void)st;
    int reads = 0;
    const char *nm[] = {"a", "b"};
    vs_dtype dt[] = {VS_FLOAT32, VS_FLOAT32};
    int nd[] = {1, 1};
    int64_t s1[] = {4}, vast[] = {(int64_t)1 << 60};
    const int64_t *sh[] = {s1, vast};
    assert_int_equal(vs_save_stream(g_path, 1, nm, dt, nd, sh, 2, never_read,
                                    &reads, NULL),
                     VS_EINVAL);
    assert_non_null(strstr(vs_errmsg(), "the most one save takes"));
    assert_int_equal(reads, 0);
    assert_false(exists(g_path));
}

/* Bad names, dtypes, shapes (absurd sizes included) and options are
 * refused before any read and before the file is created. */
static void test_save_stream__bad_arguments_refused_before_reading(void **st)
{
    (void)st;
    int reads = 0;
    const char *nm[] = {"a", "b"};
    vs_dtype dt[] = {VS_FLOAT32, VS_FLOAT32};
    int nd[] = {1, 1};
    int64_t s1[] = {4}, huge[] = {INT64_MAX / 2, 4}, neg[] = {-1};
    const int64_t *sh[] = {s1, s1};
    vs_save_opts o;
    memset(&o, 0, sizeof o);
#define REFUSED(call)                                                         \
    do {                                                                      \
        assert_int_equal((call), VS_EINVAL);                                  \
        assert_int_equal(reads, 0);                                           \
        assert_false(exists(g_path));                                         \
    } while (0)
    REFUSED(vs_save_stream(g_path, 1, nm, dt, nd, sh, 2, NULL, &reads, NULL));
    REFUSED(vs_save_stream(NULL, 1, nm, dt, nd, sh, 2, never_read, &reads,
                           NULL));
    REFUSED(vs_save_stream(g_path, 1, NULL, dt, nd, sh, 2, never_read, &reads,
                           NULL));
    REFUSED(vs_save_stream(g_path, 1, nm, NULL, nd, sh, 2, never_read,
                           &reads, NULL));
    REFUSED(vs_save_stream(g_path, 1, nm, dt, NULL, sh, 2, never_read,
                           &reads, NULL));
    REFUSED(vs_save_stream(g_path, 1, nm, dt, nd, NULL, 2, never_read,
                           &reads, NULL));
    REFUSED(vs_save_stream(g_path, 1, nm, dt, nd, sh, 0, never_read, &reads,
                           NULL));
    REFUSED(vs_save_stream(g_path, -1, nm, dt, nd, sh, 2, never_read,
                           &reads, NULL));
    const char *dup[] = {"a", "a"};
    REFUSED(vs_save_stream(g_path, 1, dup, dt, nd, sh, 2, never_read, &reads,
                           NULL));
    assert_non_null(strstr(vs_errmsg(), "same name: a"));
    vs_dtype bad_dt[] = {VS_FLOAT32, (vs_dtype)99};
    REFUSED(vs_save_stream(g_path, 1, nm, bad_dt, nd, sh, 2, never_read,
                           &reads, NULL));
    int bad_nd[] = {1, VS_MAX_DIMS + 1};
    REFUSED(vs_save_stream(g_path, 1, nm, dt, bad_nd, sh, 2, never_read,
                           &reads, NULL));
    int nd2[] = {1, 2};
    const int64_t *sh_huge[] = {s1, huge};
    REFUSED(vs_save_stream(g_path, 1, nm, dt, nd2, sh_huge, 2, never_read,
                           &reads, NULL));
    assert_non_null(strstr(vs_errmsg(), "tensor b is too large"));
    const int64_t *sh_neg[] = {s1, neg};
    REFUSED(vs_save_stream(g_path, 1, nm, dt, nd, sh_neg, 2, never_read,
                           &reads, NULL));
    const int64_t *sh_null[] = {s1, NULL};
    REFUSED(vs_save_stream(g_path, 1, nm, dt, nd, sh_null, 2, never_read,
                           &reads, NULL));
    o.chunk_bytes = (size_t)1 << 40;
    REFUSED(vs_save_stream(g_path, 1, nm, dt, nd, sh, 2, never_read, &reads,
                           &o));
#undef REFUSED
    /* Scalars need no shape; tensors of no bytes are never read. */
    int nd0[] = {0, 1};
    int64_t zero[] = {0};
    const int64_t *sh0[] = {NULL, zero};
    float v = 1.5f;
    mem_src s;
    memset(&s, 0, sizeof s);
    vs_tensor scalar = {VS_FLOAT32, 0, {0}, &v};
    vs_tensor empty = {VS_FLOAT32, 1, {0}, NULL};
    const vs_tensor *ts[] = {&scalar, &empty};
    s.ts = ts;
    s.n = 2;
    OK(vs_save_stream(g_path, 1, nm, dt, nd0, sh0, 2, mem_read, &s, NULL));
    assert_int_equal(s.calls, 1);
    vs_tensor *got = NULL;
    OK(vs_load_variable(g_path, 1, "a", &got));
    assert_true(*(float *)got->data == 1.5f);
    vs_tensor_free(got);
}

#ifndef VS_SANITIZED
/* Bytes made up from their offset (incompressible, the same for the same
 * offset): a model that is nowhere in memory. */
static int gen_read(void *ctx, size_t index, uint64_t offset, void *buf,
                    size_t len, char *err, size_t err_cap)
{
    (void)ctx;
    (void)err;
    (void)err_cap;
    uint64_t *p = buf;
    assert_int_equal(offset % 8, 0);
    assert_int_equal(len % 8, 0);
    for (size_t i = 0; i < len / 8; i++) {
        uint64_t x = (offset / 8 + i) * 0x9E3779B97F4A7C15ULL + index;
        x ^= x >> 31;
        x *= 0xBF58476D1CE4E5B9ULL;
        p[i] = x ^ (x >> 29);
    }
    return VS_OK;
}

static long max_rss_kb(void)
{
    struct rusage ru;
    assert_int_equal(getrusage(RUSAGE_SELF, &ru), 0);
    return ru.ru_maxrss;
}
#endif

/* 160 MiB streamed: the process's peak resident size grows by a few
 * chunks per thread and SQLite's cache, not by the model. */
static void test_save_stream__memory_does_not_grow_with_the_model(void **st)
{
    (void)st;
#ifdef VS_SANITIZED
    print_message("skipped: resident size is not meaningful under the "
                  "sanitizers\n");
    skip();
#else
    const char *nm[] = {"huge/a", "huge/b"};
    vs_dtype dt[] = {VS_INT64, VS_FLOAT64};
    int nd[] = {2, 1};
    int64_t sa[] = {1024, 12288}, sb[] = {(int64_t)8 << 20};
    const int64_t *sh[] = {sa, sb};
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.codec = VS_CODEC_RAW;
    o.threads = 2;
    long before = max_rss_kb();
    OK(vs_save_stream(g_path, 1, nm, dt, nd, sh, 2, gen_read, NULL, &o));
    long grew = max_rss_kb() - before;
    print_message("peak resident size grew by %ld KiB\n", grew);
    assert_true(grew < 64 * 1024);
    vs_ckpt_info *ci = NULL;
    size_t n = 0;
    OK(vs_list_checkpoints(g_path, &ci, &n));
    assert_int_equal(n, 1);
    assert_int_equal(ci[0].raw_bytes, (int64_t)160 << 20);
    vs_free(ci);
#endif
}

/* ---- vs_save_stream_parallel ------------------------------------------ */

/* A read callback over tensors in memory that may run on any thread: it
 * counts the bytes each tensor was asked for and the calls made off the
 * thread that started the save, under a mutex; one range can fail. */
typedef struct {
    const vs_tensor *const *ts;
    size_t n;
    pthread_mutex_t mu;
    pthread_t caller;
    size_t calls, off_caller;
    uint64_t bytes[NT];
    size_t fail_index;
    uint64_t fail_off; /* the range that fails (fail_index < n) */
} par_src;

static int par_read(void *vctx, size_t index, uint64_t offset, void *buf,
                    size_t len, char *err, size_t err_cap)
{
    par_src *s = vctx;
    if (index >= s->n || offset + len > vs_tensor_nbytes(s->ts[index]))
        return VS_EINVAL;
    assert_int_equal(pthread_mutex_lock(&s->mu), 0);
    s->calls++;
    s->off_caller += !pthread_equal(pthread_self(), s->caller);
    s->bytes[index] += len;
    assert_int_equal(pthread_mutex_unlock(&s->mu), 0);
    if (index == s->fail_index && offset == s->fail_off) {
        snprintf(err, err_cap, "disk on fire");
        return VS_EIO;
    }
    memcpy(buf, (const unsigned char *)s->ts[index]->data + offset, len);
    return VS_OK;
}

static int par_save(const char *path, int64_t step, const model *m,
                    par_src *s, const vs_save_opts *o)
{
    described d;
    s->ts = (const vs_tensor *const *)m->t;
    s->n = NT;
    s->caller = pthread_self();
    describe(s->ts, NT, &d);
    return vs_save_stream_parallel(path, step, m->names, d.dts, d.nds, d.shs,
                                   NT, par_read, s, o);
}

static void par_init(par_src *s)
{
    memset(s, 0, sizeof *s);
    assert_int_equal(pthread_mutex_init(&s->mu, NULL), 0);
    s->fail_index = (size_t)-1;
}

/* Into a new file the workers read, each byte once, and the checkpoint
 * is vs_save_tensors'; into a file that holds chunks the calling thread
 * reads (it looks each chunk up), for the same checkpoint too. */
static void test_save_stream_parallel__reads_on_the_workers_into_a_new_file(
    void **state)
{
    (void)state;
    model m;
    model_new(&m);
    char other[600];
    snprintf(other, sizeof other, "%s.tensors.db", g_path);
    remove_db(other);
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.chunk_bytes = 65536;
    o.threads = 2;
    const vs_tensor *const *ts = (const vs_tensor *const *)m.t;
    for (int64_t step = 1; step <= 2; step++) {
        par_src s;
        par_init(&s);
        OK(par_save(g_path, step, &m, &s, &o));
        OK(vs_save_tensors(other, step, m.names, ts, NT, &o));
        for (int i = 0; i < NT; i++)
            assert_int_equal(s.bytes[i], vs_tensor_nbytes(m.t[i]));
        if (step == 1)
            assert_int_equal(s.off_caller, s.calls); /* all on workers */
        else
            assert_int_equal(s.off_caller, 0); /* all on the caller */
        assert_true(s.calls > 20);
        pthread_mutex_destroy(&s.mu);
    }
    char *want = file_rows(other), *got = file_rows(g_path);
    assert_string_equal(got, want);
    free(want);
    free(got);
    remove_db(other);
    model_free(&m);
}

/* A read failing on a worker fails the save with the callback's code and
 * message, naming the range; a new file then holds no checkpoint. */
static void test_save_stream_parallel__failing_read_on_a_worker(void **st)
{
    (void)st;
    model m;
    model_new(&m);
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.chunk_bytes = 100000;
    o.threads = 2;
    par_src s;
    par_init(&s);
    s.fail_index = 0; /* w/big: the first of the caller's list */
    s.fail_off = 200000;
    assert_int_equal(par_save(g_path, 1, &m, &s, &o), VS_EIO);
    assert_true(s.off_caller > 0);
    assert_non_null(strstr(vs_errmsg(), "disk on fire"));
    assert_non_null(strstr(vs_errmsg(), "bytes 200000 to 300000 of tensor "
                                        "w/big"));
    vs_ckpt_info *ci = NULL;
    size_t n = 9;
    if (exists(g_path)) {
        OK(vs_list_checkpoints(g_path, &ci, &n));
        assert_int_equal(n, 0);
        vs_free(ci);
    }
    pthread_mutex_destroy(&s.mu);
    model_free(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_save_stream__same_checkpoint_as_save_tensors, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_save_stream__dedups_against_earlier_steps, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_save_stream__reads_each_byte_once_in_order, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_save_stream__failing_read_keeps_last_step, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_save_stream__failing_read_without_message, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_save_stream__more_than_a_save_takes_refused, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_save_stream__bad_arguments_refused_before_reading, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_save_stream__memory_does_not_grow_with_the_model, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_save_stream_parallel__reads_on_the_workers_into_a_new_file,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_save_stream_parallel__failing_read_on_a_worker, setup,
            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
