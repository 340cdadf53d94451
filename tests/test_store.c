#define _GNU_SOURCE /* truncate, nanosleep */
/* Tests for store/: checkpoint files (schema, save, restore, dedup,
 * retention, delete, rename, verify, corruption, init_from_checkpoint). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <float.h>
#include <math.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "graph_int.h"
#include "store_int.h"

#define STORE_TEST_NAME "vs_test_store"
#include "support/store_test.h"

/* ---- helpers ------------------------------------------------------------ */

static uint64_t rs = 88172645463325252ULL;
static uint32_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return (uint32_t)rs;
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

static void assert_tensor_equal(const vs_tensor *a, const vs_tensor *b)
{
    assert_int_equal(a->dtype, b->dtype);
    assert_int_equal(a->ndim, b->ndim);
    for (int i = 0; i < a->ndim; i++)
        assert_int_equal(a->shape[i], b->shape[i]);
    size_t n = vs_tensor_nbytes(a);
    assert_int_equal(n, vs_tensor_nbytes(b));
    if (n > 0)
        assert_memory_equal(a->data, b->data, n);
}

static long long file_size(const char *p)
{
    struct stat st;
    assert_int_equal(stat(p, &st), 0);
    return (long long)st.st_size;
}

static void write_bytes(const char *p, const void *b, size_t n)
{
    FILE *f = fopen(p, "wb");
    assert_non_null(f);
    if (n > 0)
        assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

/* ---- round trips -------------------------------------------------------- */

static void test_store__every_dtype_round_trips_bit_exact(void **state)
{
    (void)state;
    static const vs_dtype dts[] = {VS_FLOAT32, VS_FLOAT64, VS_FLOAT16,
                                   VS_BFLOAT16, VS_INT8,   VS_UINT8,
                                   VS_INT32,   VS_INT64,   VS_BOOL};
    enum { ND = 9 };
    int64_t shape[] = {3, 5, 7};
    vs_tensor *ts[ND + 4];
    char names[ND + 4][32];
    const char *np[ND + 4];
    for (int i = 0; i < ND; i++) {
        ts[i] = mk(dts[i], 3, shape);
        fill_random(ts[i]);
        if (dts[i] == VS_BOOL) {
            unsigned char *b = ts[i]->data;
            for (int k = 0; k < 105; k++)
                b[k] &= 1;
        }
        snprintf(names[i], sizeof names[i], "t/%s", vs_dtype_name(dts[i]));
    }
    /* A scalar, an empty tensor, NaN/Inf payloads, a many-chunk tensor. */
    ts[ND] = mk(VS_FLOAT64, 0, NULL);
    *(double *)ts[ND]->data = -0.0;
    snprintf(names[ND], 32, "scalar");
    int64_t e[] = {0, 4};
    ts[ND + 1] = mk(VS_FLOAT32, 2, e);
    snprintf(names[ND + 1], 32, "empty");
    int64_t six[] = {6};
    ts[ND + 2] = mk(VS_FLOAT32, 1, six);
    uint32_t bits[6] = {0x7fc01234u, 0xffc00001u, 0x7f800000u, 0xff800000u,
                        0x7f800001u, 0x80000000u};
    memcpy(ts[ND + 2]->data, bits, sizeof bits);
    snprintf(names[ND + 2], 32, "nan_payloads");
    int64_t big[] = {1000, 37};
    ts[ND + 3] = mk(VS_FLOAT32, 2, big);
    fill_weights(ts[ND + 3]);
    snprintf(names[ND + 3], 32, "many_chunks");
    for (int i = 0; i < ND + 4; i++)
        np[i] = names[i];

    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.chunk_bytes = 1000; /* 148 chunks for many_chunks */
    const int codecs[] = {VS_CODEC_DEFAULT, VS_CODEC_RAW, VS_CODEC_DEFAULT};
    const int levels[] = {0, 0, 6};
    for (int c = 0; c < 3; c++) {
        remove_db(g_path); /* else chunks dedup across codecs */
        o.codec = codecs[c];
        o.level = levels[c];
        o.threads = c + 1;
        OK(vs_save_tensors(g_path, c, np, (const vs_tensor *const *)ts,
                           ND + 4, &o));
        for (int i = 0; i < ND + 4; i++) {
            vs_tensor *got = NULL;
            OK(vs_load_variable(g_path, c, np[i], &got));
            assert_tensor_equal(got, ts[i]);
            vs_tensor_free(got);
        }
        OK(vs_verify(g_path, NULL));
        /* The raw codec really stored raw; the others compressed. */
        vs_tensor_info *inf = NULL;
        size_t n = 0;
        OK(vs_list_variables(g_path, c, &inf, &n));
        assert_int_equal(n, ND + 4);
        for (size_t i = 0; i < n; i++) {
            if (strcmp(inf[i].name, "many_chunks") == 0 && c != 1) {
                assert_string_equal(inf[i].codec, "shuffle-zlib");
                assert_true(inf[i].stored_bytes < inf[i].raw_bytes);
            } else if (c == 1) {
                assert_string_equal(inf[i].codec, "raw");
                assert_int_equal(inf[i].stored_bytes, inf[i].raw_bytes);
            }
        }
        vs_tensor_info_free(inf, n);
    }
    for (int i = 0; i < ND + 4; i++)
        vs_tensor_free(ts[i]);
}

/* float64 values whose squares overflow a double get a finite mean and
 * std in the tensors row (they were stored NULL); values whose squares
 * underflow get theirs (the std was 0). */
static void test_store__huge_float64_values_get_mean_and_std(void **state)
{
    (void)state;
    int64_t s4[] = {4};
    vs_tensor *a = mk(VS_FLOAT64, 1, s4);
    double av[4] = {1e300, -1e300, 3e300, -3e300};
    memcpy(a->data, av, sizeof av);
    const char *names[] = {"huge"};
    const vs_tensor *ts[] = {a};
    OK(vs_save_tensors(g_path, 1, names, ts, 1, NULL));
    vs_tensor_info *inf = NULL;
    size_t n = 0;
    OK(vs_list_variables(g_path, VS_LATEST, &inf, &n));
    assert_int_equal(n, 1);
    assert_int_equal(inf[0].has_stats, 1);
    double want = sqrt(5.0) * 1e300;
    assert_true(fabs(inf[0].mean) <= 1e-12 * want);
    assert_true(fabs(inf[0].std - want) <= 1e-12 * want);
    assert_true(inf[0].min == -3e300 && inf[0].max == 3e300);
    vs_tensor_info_free(inf, n);
    double tv[4] = {1e-200, -1e-200, 3e-200, -3e-200};
    memcpy(a->data, tv, sizeof tv);
    OK(vs_save_tensors(g_path, 2, names, ts, 1, NULL));
    OK(vs_list_variables(g_path, VS_LATEST, &inf, &n));
    want = sqrt(5.0) * 1e-200;
    assert_int_equal(inf[0].has_stats, 1);
    assert_true(fabs(inf[0].mean) <= 1e-12 * want);
    assert_true(fabs(inf[0].std - want) <= 1e-12 * want);
    vs_tensor_info_free(inf, n);
    vs_tensor_free(a);
}

static void test_store__list_variables_sorted_with_stats(void **state)
{
    (void)state;
    int64_t s5[] = {5}, s2[] = {2};
    vs_tensor *a = mk(VS_FLOAT32, 1, s5), *b = mk(VS_INT64, 1, s2);
    float av[5] = {1, 2, 3, NAN, -INFINITY};
    memcpy(a->data, av, sizeof av);
    const char *names[] = {"z/a", "b"};
    const vs_tensor *ts[] = {a, b};
    OK(vs_save_tensors(g_path, 7, names, ts, 2, NULL));
    vs_tensor_info *inf = NULL;
    size_t n = 0;
    OK(vs_list_variables(g_path, VS_LATEST, &inf, &n));
    assert_int_equal(n, 2);
    assert_string_equal(inf[0].name, "b");
    assert_string_equal(inf[1].name, "z/a");
    assert_int_equal(inf[0].dtype, VS_INT64);
    assert_int_equal(inf[0].has_stats, 0);
    assert_int_equal(inf[1].has_stats, 1);
    assert_int_equal(inf[1].numel, 5);
    assert_int_equal(inf[1].raw_bytes, 20);
    assert_true(inf[1].min == 1.0 && inf[1].max == 3.0);
    assert_true(fabs(inf[1].mean - 2.0) < 1e-12);
    assert_true(fabs(inf[1].std - sqrt(2.0 / 3.0)) < 1e-12);
    assert_int_equal(inf[1].n_nan, 1);
    assert_int_equal(inf[1].n_inf, 1);
    assert_int_equal(inf[1].crc32, vs__crc32(0, av, sizeof av));
    vs_tensor_info_free(inf, n);

    /* The same through plain SQL (the documented query surface). */
    sqlite3 *db = raw_open(g_path);
    assert_int_equal(q_int(db, "PRAGMA application_id"), VS_APP_ID);
    assert_int_equal(q_int(db, "PRAGMA user_version"), VS_SCHEMA_VERSION);
    assert_int_equal(q_int(db, "PRAGMA page_size"), 32768);
    assert_int_equal(q_int(db, "PRAGMA auto_vacuum"), 2);
    assert_int_equal(q_int(db, "SELECT n_nan FROM tensors WHERE name='z/a' "
                               "AND step=7"),
                     1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM latest"), 2);
    assert_int_equal(q_int(db, "SELECT count(*) FROM checkpoints WHERE "
                               "created_at GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-"
                               "[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]."
                               "[0-9][0-9][0-9]Z'"),
                     1);
    assert_int_equal(q_int(db, "SELECT shape = '[5]' FROM tensors WHERE "
                               "name='z/a'"),
                     1);
    sqlite3_close(db);
    vs_tensor_free(a);
    vs_tensor_free(b);
}

/* ---- bad files ---------------------------------------------------------- */

static void test_store__missing_empty_random_foreign_files(void **state)
{
    (void)state;
    int64_t step;
    char want[1024];
    assert_int_equal(vs_latest_checkpoint(g_path, &step), VS_ENOTFOUND);
    snprintf(want, sizeof want,
             "The passed save_path is not a valid checkpoint: %s", g_path);
    assert_string_equal(vs_errmsg(), want);

    write_bytes(g_path, "", 0);
    assert_int_equal(vs_latest_checkpoint(g_path, &step), VS_EINVAL);
    snprintf(want, sizeof want,
             "%s is not a varstore checkpoint file: the file is empty", g_path);
    assert_string_equal(vs_errmsg(), want);
    /* Saving does not turn an empty file into a database either. */
    int64_t s1[] = {1};
    vs_tensor *t = mk(VS_FLOAT32, 1, s1);
    const char *nm[] = {"v"};
    const vs_tensor *tp[] = {t};
    assert_int_equal(vs_save_tensors(g_path, 1, nm, tp, 1, NULL), VS_EINVAL);
    assert_string_equal(vs_errmsg(), want);
    assert_int_equal(file_size(g_path), 0);

    unsigned char junk[5000];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)rnd();
    write_bytes(g_path, junk, sizeof junk);
    assert_int_equal(vs_save_tensors(g_path, 1, nm, tp, 1, NULL), VS_EINVAL);
    snprintf(want, sizeof want,
             "%s is not a varstore checkpoint file: not an SQLite database",
             g_path);
    assert_string_equal(vs_errmsg(), want);

    /* Another application's SQLite database: refused, nothing created. */
    remove_db(g_path);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(g_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE x(a); INSERT INTO x "
                                      "VALUES(1)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(vs_save_tensors(g_path, 1, nm, tp, 1, NULL), VS_EINVAL);
    snprintf(want, sizeof want,
             "%s is not a varstore checkpoint file: SQLite application_id is "
             "0x00000000, not 0x%08x",
             g_path, (unsigned)VS_APP_ID);
    assert_string_equal(vs_errmsg(), want);
    assert_int_equal(vs_restore(NULL, g_path, 1), VS_EINVAL);
    db = raw_open(g_path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM sqlite_master"), 1);
    sqlite3_close(db);

    /* A newer schema is refused with a clear message. */
    remove_db(g_path);
    OK(vs_save_tensors(g_path, 1, nm, tp, 1, NULL));
    db = raw_open(g_path);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL,
                                  NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(vs_latest_checkpoint(g_path, &step), VS_EINVAL);
    snprintf(want, sizeof want,
             "checkpoint file %s has schema version 99, newer than the %d "
             "this varstore %s reads; upgrade varstore",
             g_path, VS_SCHEMA_VERSION, VS_VERSION_STRING);
    assert_string_equal(vs_errmsg(), want);
    vs_tensor_free(t);
}

static void test_store__truncated_file_is_corrupt(void **state)
{
    (void)state;
    int64_t sh[] = {300000};
    vs_tensor *t = mk(VS_FLOAT32, 1, sh);
    fill_weights(t);
    save1(g_path, 1, "w", t, NULL);
    long long sz = file_size(g_path);
    assert_true(sz > 4 * 32768);
    int64_t step;
    char want[1024];
    /* Cut at a page boundary, in the middle and inside the header. */
    assert_int_equal(truncate(g_path, sz - 32768), 0);
    assert_int_equal(vs_latest_checkpoint(g_path, &step), VS_ECORRUPT);
    snprintf(want, sizeof want,
             "checkpoint file %s is corrupt: truncated (%lld bytes, header "
             "says %lld)",
             g_path, sz - 32768, sz);
    assert_string_equal(vs_errmsg(), want);
    assert_int_equal(truncate(g_path, 12345), 0);
    assert_int_equal(vs_latest_checkpoint(g_path, &step), VS_ECORRUPT);
    assert_int_equal(truncate(g_path, 50), 0);
    assert_int_equal(vs_latest_checkpoint(g_path, &step), VS_ECORRUPT);
    snprintf(want, sizeof want,
             "checkpoint file %s is corrupt: truncated to 50 bytes", g_path);
    assert_string_equal(vs_errmsg(), want);
    vs_tensor *got = NULL;
    assert_int_equal(vs_load_variable(g_path, 1, "w", &got), VS_ECORRUPT);
    assert_null(got);
    vs_tensor_free(t);
}

/* ---- corruption --------------------------------------------------------- */

/* Flips one byte at offset `at` of chunk number `nth` (by id). */
static void flip_chunk_byte(const char *path, int nth, int at)
{
    sqlite3 *db = raw_open(path);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT id FROM chunks ORDER BY id "
                                        "LIMIT 1 OFFSET ?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int(st, 1, nth);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t id = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_blob *b;
    assert_int_equal(sqlite3_blob_open(db, "main", "chunks", "data", id, 1, &b),
                     SQLITE_OK);
    unsigned char c;
    assert_int_equal(sqlite3_blob_read(b, &c, 1, at), SQLITE_OK);
    c ^= 0x10;
    assert_int_equal(sqlite3_blob_write(b, &c, 1, at), SQLITE_OK);
    sqlite3_blob_close(b);
    sqlite3_close(db);
}

/* A deflated plane's Adler-32 trailer is part of the format (FORMAT.md:
 * any zlib decodes a plane). Restore decodes literal-only planes on a
 * fast path and relies on the chunk's CRC; with only the trailer damaged
 * the values are intact and load. vs_verify checks every byte zlib would
 * and reports the chunk; a later save does not reuse it by dedup. */
static void test_store__damaged_adler_trailer(void **st)
{
    (void)st;
    int64_t sh[] = {1000};
    vs_tensor *t = mk(VS_FLOAT32, 1, sh);
    fill_weights(t);
    save1(g_path, 1, "w", t, NULL);
    /* Offset of the last byte of the first deflated plane. */
    sqlite3 *db = raw_open(g_path);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT codec, data FROM chunks",
                                        -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 1); /* shuffle-zlib */
    const unsigned char *b = sqlite3_column_blob(q, 1);
    int at = -1, pos = 4 * 5;
    for (int p = 0; p < 4 && at < 0; p++) {
        const unsigned char *h = b + 5 * p;
        int len = h[1] | h[2] << 8 | h[3] << 16 | h[4] << 24;
        if (h[0] == 1)
            at = pos + len - 1;
        pos += len;
    }
    assert_int_equal(sqlite3_step(q), SQLITE_DONE);
    sqlite3_finalize(q);
    sqlite3_close(db);
    assert_true(at > 0);
    flip_chunk_byte(g_path, 0, at);
    vs_tensor *got = NULL;
    OK(vs_load_variable(g_path, 1, "w", &got));
    assert_tensor_equal(got, t);
    vs_tensor_free(got);
    size_t nbad = 0;
    assert_int_equal(vs_verify(g_path, &nbad), VS_ECORRUPT);
    assert_int_equal(nbad, 1);
    assert_non_null(strstr(vs_errmsg(), "incorrect data check"));
    /* The same values again: stored anew, not pointed at the bad chunk. */
    save1(g_path, 2, "w", t, NULL);
    db = raw_open(g_path);
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT count(*) FROM chunks", -1, &q, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 2);
    sqlite3_finalize(q);
    sqlite3_close(db);
    assert_int_equal(vs_verify(g_path, &nbad), VS_ECORRUPT);
    assert_int_equal(nbad, 1);
    flip_chunk_byte(g_path, 0, at);
    OK(vs_verify(g_path, &nbad));
    vs_tensor_free(t);
}

static void test_store__flipped_byte_is_corrupt_never_wrong_values(void **st)
{
    (void)st;
    int64_t sh[] = {5000};
    vs_tensor *t = mk(VS_FLOAT32, 1, sh);
    fill_weights(t);
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.chunk_bytes = 4096;
    save1(g_path, 3, "layer/w", t, &o);
    /* Every byte position class: plane headers, stored planes, the
     * deflated plane, in different chunks. */
    const int where[][2] = {{0, 0}, {1, 3}, {2, 100}, {3, 2500}, {4, 700}};
    for (size_t k = 0; k < sizeof where / sizeof *where; k++) {
        flip_chunk_byte(g_path, where[k][0], where[k][1]);
        vs_tensor *got = NULL;
        assert_int_equal(vs_load_variable(g_path, 3, "layer/w", &got),
                         VS_ECORRUPT);
        assert_null(got);
        char pre[600];
        snprintf(pre, sizeof pre,
                 "checkpoint file %s is corrupt: tensor layer/w at step 3, "
                 "chunk %d: ",
                 g_path, where[k][0]);
        assert_memory_equal(vs_errmsg(), pre, strlen(pre));
        size_t nbad = 0;
        assert_int_equal(vs_verify(g_path, &nbad), VS_ECORRUPT);
        assert_int_equal(nbad, 1);
        assert_memory_equal(vs_errmsg(), pre, strlen(pre));
        flip_chunk_byte(g_path, where[k][0], where[k][1]);
        OK(vs_verify(g_path, &nbad));
        assert_int_equal(nbad, 0);
        OK(vs_load_variable(g_path, 3, "layer/w", &got));
        assert_tensor_equal(got, t);
        vs_tensor_free(got);
    }
    /* Sizes that do not add up. */
    sqlite3 *db = raw_open(g_path);
    assert_int_equal(sqlite3_exec(db, "UPDATE tensor_rows SET n_chunks=n_chunks-1",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    vs_tensor *got = NULL;
    assert_int_equal(vs_load_variable(g_path, 3, "layer/w", &got),
                     VS_ECORRUPT);
    char want[600];
    snprintf(want, sizeof want,
             "checkpoint file %s is corrupt: tensor layer/w at step 3, chunk "
             "3: sizes do not add up",
             g_path);
    assert_string_equal(vs_errmsg(), want);
    vs_tensor_free(t);
}

/* ---- dedup, replace, retention, delete, rename -------------------------- */

static void test_store__unchanged_weights_cost_under_one_percent(void **st)
{
    (void)st;
    enum { NT = 8 };
    int64_t sh[] = {512, 1024};
    vs_tensor *ts[NT];
    char nm[NT][16];
    const char *np[NT];
    for (int i = 0; i < NT; i++) {
        ts[i] = mk(VS_FLOAT32, 2, sh);
        fill_weights(ts[i]);
        snprintf(nm[i], sizeof nm[i], "l%d/w", i);
        np[i] = nm[i];
    }
    OK(vs_save_tensors(g_path, 1, np, (const vs_tensor *const *)ts, NT, NULL));
    long long s1 = file_size(g_path);
    OK(vs_save_tensors(g_path, 2, np, (const vs_tensor *const *)ts, NT, NULL));
    long long s2 = file_size(g_path);
    assert_true(s2 - s1 < s1 / 100);
    /* Also across codec settings (raw bytes compared, not blobs). */
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.level = 6;
    o.threads = 1;
    OK(vs_save_tensors(g_path, 3, np, (const vs_tensor *const *)ts, NT, &o));
    assert_true(file_size(g_path) - s1 < s1 / 50);
    sqlite3 *db = raw_open(g_path);
    assert_int_equal(q_int(db, "SELECT new_bytes FROM checkpoints WHERE "
                               "step=2"),
                     0);
    assert_int_equal(q_int(db, "SELECT count(*) FROM chunks"), NT * 2);
    sqlite3_close(db);
    /* Replacing a step with other values: old chunks freed. */
    fill_weights(ts[0]);
    OK(vs_save_tensors(g_path, 3, np, (const vs_tensor *const *)ts, NT, NULL));
    vs_tensor *got = NULL;
    OK(vs_load_variable(g_path, 3, "l0/w:0", &got));
    assert_tensor_equal(got, ts[0]);
    vs_tensor_free(got);
    db = raw_open(g_path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM checkpoints"), 3);
    assert_int_equal(q_int(db, "SELECT count(*) FROM chunks"), NT * 2 + 2);
    sqlite3_close(db);
    for (int i = 0; i < NT; i++)
        vs_tensor_free(ts[i]);
}

static void steps_are(const char *path, const int64_t *want, size_t n)
{
    vs_ckpt_info *ci = NULL;
    size_t got = 0;
    OK(vs_list_checkpoints(path, &ci, &got));
    assert_int_equal(got, n);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ci[i].step, want[i]);
    vs_free(ci);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_store__retention_as_tf_saver(void **st)
{
    (void)st;
    int64_t sh[] = {10};
    vs_tensor *t = mk(VS_FLOAT32, 1, sh);
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.max_to_keep = 2;
    /* TF testNonSharded: s1,s2,s3 -> [s2,s3]; s2 again -> [s3,s2];
     * s1 -> [s2,s1], s3 deleted. */
    for (int s = 1; s <= 3; s++) {
        fill_weights(t);
        save1(g_path, s, "v", t, &o);
        sleep_ms(2);
    }
    steps_are(g_path, (int64_t[]){2, 3}, 2);
    save1(g_path, 2, "v", t, &o);
    sleep_ms(2);
    steps_are(g_path, (int64_t[]){2, 3}, 2);
    save1(g_path, 1, "v", t, &o);
    steps_are(g_path, (int64_t[]){1, 2}, 2);
    /* Default: keep everything. */
    for (int s = 10; s < 15; s++)
        save1(g_path, s, "v", t, NULL);
    steps_are(g_path, (int64_t[]){1, 2, 10, 11, 12, 13, 14}, 7);
    /* The file's setting applies to saves without options. */
    OK(vs_set_retention(g_path, 3, 0));
    save1(g_path, 15, "v", t, NULL);
    steps_are(g_path, (int64_t[]){13, 14, 15}, 3);
    assert_int_equal(vs_set_retention(g_path, -2, 0), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "max_to_keep must be >= 0, got -2");
    vs_tensor_free(t);
}

/* A zero-initialized vs_save_opts (or one that sets only the codec) means
 * "the file's retention"; VS_KEEP_ALL overrides the file for one save. */
static void test_store__zeroed_save_opts_honour_file_retention(void **st)
{
    (void)st;
    int64_t sh[] = {10};
    vs_tensor *t = mk(VS_FLOAT32, 1, sh);
    OK(vs_set_retention(g_path, 2, 0));
    vs_save_opts zero = {0};
    vs_save_opts raw = {.codec = VS_CODEC_RAW};
    vs_save_opts all = {.max_to_keep = VS_KEEP_ALL};
    for (int s = 1; s <= 3; s++) {
        fill_weights(t);
        save1(g_path, s, "v", t, &zero);
    }
    steps_are(g_path, (int64_t[]){2, 3}, 2);
    save1(g_path, 4, "v", t, &raw);
    steps_are(g_path, (int64_t[]){3, 4}, 2);
    save1(g_path, 5, "v", t, &all);
    steps_are(g_path, (int64_t[]){3, 4, 5}, 3);
    save1(g_path, 6, "v", t, &zero);
    steps_are(g_path, (int64_t[]){5, 6}, 2);
    vs_tensor_free(t);
}

/* The file's retention setting as a string ("max_to_keep hours"). */
static void file_retention(const char *path, char *out, size_t n)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           "SELECT (SELECT value FROM meta WHERE key = "
                           "'max_to_keep') || ' ' || (SELECT value FROM meta "
                           "WHERE key = 'keep_checkpoint_every_n_hours')",
                           -1, &q, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    snprintf(out, n, "%s", (const char *)sqlite3_column_text(q, 0));
    sqlite3_finalize(q);
    sqlite3_close(db);
}

/* Hours that are no number of hours are refused before the file is
 * opened: no file is made, an existing setting stays. */
static void test_store__set_retention_refuses_nan_inf_negative_hours(
    void **st)
{
    (void)st;
    const double bad[] = {NAN, INFINITY, -INFINITY, -1.0, -0.5,
                          DBL_MAX / 3600.0 * 2.0, DBL_MAX};
    struct stat sb;
    char want[128], got[64];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(vs_set_retention(g_path, 3, bad[i]), VS_EINVAL);
        snprintf(want, sizeof want,
                 "keep_checkpoint_every_n_hours must be finite, >= 0 and at "
                 "most %g, got %g", DBL_MAX / 3600.0, bad[i]);
        assert_string_equal(vs_errmsg(), want);
        assert_int_not_equal(stat(g_path, &sb), 0); /* nothing was made */
    }
    OK(vs_set_retention(g_path, 3, 2.5));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(vs_set_retention(g_path, 4, bad[i]), VS_EINVAL);
    file_retention(g_path, got, sizeof got);
    assert_string_equal(got, "3 2.5");
    /* the largest hours whose seconds are finite, and zero, are fine */
    OK(vs_set_retention(g_path, 5, DBL_MAX / 3600.0));
    OK(vs_set_retention(g_path, 6, 0.0));
    file_retention(g_path, got, sizeof got);
    assert_string_equal(got, "6 0.0");
}

/* vs_save_opts takes the same hours (negative ones mean none): NaN, inf
 * and hours whose seconds overflow are refused before anything is
 * written. */
static void test_store__save_opts_refuse_nan_inf_hours(void **st)
{
    (void)st;
    int64_t sh[] = {4};
    vs_tensor *t = mk(VS_FLOAT32, 1, sh);
    fill_weights(t);
    const vs_tensor *ts[] = {t};
    const char *names[] = {"v"};
    const double bad[] = {NAN, INFINITY, -INFINITY, DBL_MAX / 3600.0 * 2.0};
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    struct stat sb;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        o.keep_checkpoint_every_n_hours = bad[i];
        assert_int_equal(vs_save_tensors(g_path, 1, names, ts, 1, &o),
                         VS_EINVAL);
        assert_non_null(strstr(vs_errmsg(), "keep_checkpoint_every_n_hours"));
        assert_int_not_equal(stat(g_path, &sb), 0); /* nothing was made */
    }
    o.keep_checkpoint_every_n_hours = VS_KEEP_HOURS_OFF;
    OK(vs_save_tensors(g_path, 1, names, ts, 1, &o));
    o.keep_checkpoint_every_n_hours = DBL_MAX / 3600.0;
    OK(vs_save_tensors(g_path, 2, names, ts, 1, &o));
    vs_tensor_free(t);
}

static void test_store__keep_every_n_hours(void **st)
{
    (void)st;
    int64_t sh[] = {10};
    vs_tensor *t = mk(VS_FLOAT32, 1, sh);
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.max_to_keep = 2;
    o.keep_checkpoint_every_n_hours = 0.1 / 3600.0; /* 100 ms */
    /* s1 at 0, s2 at .15, s3 at .30: s1 is not 100 ms after the first
     * checkpoint, deleted; s4 at .45: s2 is, kept for good. */
    for (int s = 1; s <= 4; s++) {
        fill_weights(t);
        save1(g_path, s, "v", t, &o);
        if (s < 4)
            sleep_ms(150);
    }
    steps_are(g_path, (int64_t[]){2, 3, 4}, 3);
    sqlite3 *db = raw_open(g_path);
    assert_int_equal(q_int(db, "SELECT keep FROM checkpoints WHERE step=2"),
                     1);
    sqlite3_close(db);
    vs_tensor_free(t);
}

/* Deleting keeps the freed pages for the next saves (the file does not
 * grow when a save of the same size follows); vs_compact gives them back. */
static void test_store__deleted_space_is_reused_then_compacted(void **st)
{
    (void)st;
    int64_t sh[] = {1 << 20};
    vs_tensor *t = mk(VS_FLOAT32, 1, sh);
    for (int s = 1; s <= 3; s++) {
        fill_weights(t);
        save1(g_path, s, "v", t, NULL);
    }
    long long before = file_size(g_path);
    OK(vs_delete_checkpoint(g_path, 2));
    assert_int_equal(file_size(g_path), before);
    fill_weights(t);
    save1(g_path, 4, "v", t, NULL); /* into the pages step 2 had */
    assert_true(file_size(g_path) < before + 100 * 1000);
    steps_are(g_path, (int64_t[]){1, 3, 4}, 3);
    assert_int_equal(vs_delete_checkpoint(g_path, 2), VS_ENOTFOUND);
    char want[600];
    snprintf(want, sizeof want, "checkpoint file %s has no step 2", g_path);
    assert_string_equal(vs_errmsg(), want);
    OK(vs_prune(g_path, 1));
    steps_are(g_path, (int64_t[]){4}, 1);
    long long pruned = file_size(g_path);
    int64_t freed = 0;
    OK(vs_compact(g_path, &freed));
    assert_true(freed > 2 * 3 * 1000 * 1000);
    assert_int_equal(file_size(g_path), pruned - freed);
    assert_int_equal(vs_prune(g_path, 0), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "keep must be >= 1, got 0");
    vs_tensor *got = NULL;
    OK(vs_load_variable(g_path, VS_LATEST, "v", &got));
    assert_tensor_equal(got, t);
    vs_tensor_free(got);
    OK(vs_verify(g_path, NULL));
    vs_tensor_free(t);
}

static void test_store__rename_prefix(void **st)
{
    (void)st;
    int64_t sh[] = {4};
    vs_tensor *a = mk(VS_FLOAT32, 1, sh), *b = mk(VS_FLOAT32, 1, sh),
              *c = mk(VS_FLOAT32, 1, sh);
    fill_weights(a);
    fill_weights(b);
    fill_weights(c);
    const char *nm[] = {"a/x", "a/y", "b/z"};
    const vs_tensor *ts[] = {a, b, c};
    OK(vs_save_tensors(g_path, 1, nm, ts, 3, NULL));
    OK(vs_save_tensors(g_path, 2, nm, ts, 3, NULL));
    OK(vs_rename_prefix(g_path, "a/", "c/", 1));
    vs_tensor *got = NULL;
    OK(vs_load_variable(g_path, 1, "c/y", &got));
    assert_tensor_equal(got, b);
    vs_tensor_free(got);
    assert_int_equal(vs_load_variable(g_path, 1, "a/y", &got), VS_ENOTFOUND);
    assert_string_equal(vs_errmsg(), "Key a/y not found in checkpoint");
    OK(vs_load_variable(g_path, 2, "a/y", &got));
    vs_tensor_free(got);
    /* Collision. */
    assert_int_equal(vs_rename_prefix(g_path, "b/z", "c/x", 1), VS_EEXIST);
    assert_string_equal(vs_errmsg(),
                        "renaming would give two tensors named c/x at step 1");
    /* Swapping-like renames in one go are fine: a/ -> a/a/ everywhere. */
    OK(vs_rename_prefix(g_path, "a/", "a/a/", VS_ALL_STEPS));
    OK(vs_load_variable(g_path, 2, "a/a/x", &got));
    assert_tensor_equal(got, a);
    vs_tensor_free(got);
    assert_int_equal(vs_rename_prefix(g_path, "nope/", "x/", VS_ALL_STEPS),
                     VS_ENOTFOUND);
    assert_string_equal(vs_errmsg(), "no tensor key starts with nope/");
    vs_tensor_free(a);
    vs_tensor_free(b);
    vs_tensor_free(c);
}

/* ---- graph save / restore ----------------------------------------------- */

static vs_tensor *val(vs_var *v)
{
    vs_tensor *t = NULL;
    OK(vs_var_value(v, &t));
    return t;
}

/* n_layers x (layerI/weights [3,3,4,8], layerI/biases [8]), created with
 * graph seed 42 but not initialized. */
static vs_graph *model_uninit(int n_layers, vs_var **vars)
{
    vs_graph *g = NULL;
    OK(vs_graph_open(&g));
    vs_graph_set_random_seed(g, 42);
    for (int i = 0; i < n_layers; i++) {
        char sc[32];
        snprintf(sc, sizeof sc, "layer%d", i);
        OK(vs_variable_scope_push(g, sc, NULL, NULL));
        int64_t ks[] = {3, 3, 4, 8}, bs[] = {8};
        vars[2 * i] = getvar(g, "weights", VS_FLOAT32, 4, ks);
        vars[2 * i + 1] = getvar(g, "biases", VS_FLOAT32, 1, bs);
        OK(vs_variable_scope_pop(g));
    }
    return g;
}

/* The same, initialized. */
static vs_graph *model(int n_layers, vs_var **vars)
{
    vs_graph *g = model_uninit(n_layers, vars);
    OK(vs_global_variables_initializer(g));
    return g;
}

static void test_store__graph_save_restore_200_variables(void **st)
{
    (void)st;
    vs_var *v[200];
    vs_graph *g = model(100, v);
    OK(vs_save(g, g_path, 100));
    /* Keep a copy, scribble, restore. */
    vs_tensor *copy[200];
    for (int i = 0; i < 200; i++) {
        vs_tensor *t = val(v[i]);
        OK(vs_tensor_from_data(t->dtype, t->ndim, t->shape, t->data, &copy[i]));
        memset(t->data, 0x5a, vs_tensor_nbytes(t));
    }
    OK(vs_restore(g, g_path, VS_LATEST));
    for (int i = 0; i < 200; i++)
        assert_tensor_equal(val(v[i]), copy[i]);

    /* A fresh graph: restore initializes. */
    vs_var *w[200];
    vs_graph *h = NULL;
    OK(vs_graph_open(&h));
    for (int i = 0; i < 100; i++) {
        char sc[32];
        snprintf(sc, sizeof sc, "layer%d", i);
        OK(vs_variable_scope_push(h, sc, NULL, NULL));
        int64_t ks[] = {3, 3, 4, 8}, bs[] = {8};
        w[2 * i] = getvar(h, "weights", VS_FLOAT32, 4, ks);
        w[2 * i + 1] = getvar(h, "biases", VS_FLOAT32, 1, bs);
        OK(vs_variable_scope_pop(h));
    }
    assert_int_equal(vs_var_is_initialized(w[0]), 0);
    OK(vs_restore(h, g_path, 100));
    for (int i = 0; i < 200; i++)
        assert_tensor_equal(val(w[i]), copy[i]);

    /* The definitions tables. */
    sqlite3 *db = raw_open(g_path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM variables"), 200);
    assert_int_equal(q_int(db, "SELECT count(*) FROM variables WHERE "
                               "name='layer7/weights' AND shape='[3,3,4,8]' "
                               "AND scope='layer7' AND trainable=1"),
                     1);
    assert_true(q_int(db, "SELECT count(*) FROM scopes") >= 100);
    sqlite3_close(db);
    for (int i = 0; i < 200; i++)
        vs_tensor_free(copy[i]);
    vs_graph_close(g);
    vs_graph_close(h);
}

static void test_store__restore_errors_keep_old_values(void **st)
{
    (void)st;
    vs_var *v[4];
    vs_graph *g = model(2, v);
    OK(vs_save(g, g_path, 1));
    vs_tensor *t0 = val(v[0]);
    vs_tensor *keep = NULL;
    OK(vs_tensor_from_data(t0->dtype, t0->ndim, t0->shape, t0->data, &keep));
    /* Damage the biases of layer1 (the last tensor saved, sorted). */
    sqlite3 *db = raw_open(g_path);
    int64_t cid = q_int(db, "SELECT chunk_id FROM tensor_chunks tc JOIN "
                            "tensors t ON t.id = tc.tensor_id WHERE "
                            "t.name='layer1/biases'");
    sqlite3_close(db);
    (void)cid;
    /* Biases are 8 floats = one raw chunk: corrupt it via SQL. */
    db = raw_open(g_path);
    char sql[200];
    snprintf(sql, sizeof sql,
             "UPDATE chunks SET data = zeroblob(32) WHERE id=%lld",
             (long long)cid);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    memset(t0->data, 0x11, vs_tensor_nbytes(t0));
    vs_tensor *scribbled = NULL;
    OK(vs_tensor_from_data(t0->dtype, t0->ndim, t0->shape, t0->data,
                           &scribbled));
    assert_int_equal(vs_restore(g, g_path, 1), VS_ECORRUPT);
    char want[600];
    snprintf(want, sizeof want,
             "checkpoint file %s is corrupt: tensor layer1/biases at step 1, "
             "chunk 0: CRC mismatch",
             g_path);
    assert_memory_equal(vs_errmsg(), want, strlen(want));
    /* layer0/weights (decoded fine, before the bad one) did not change. */
    assert_tensor_equal(val(v[0]), scribbled);

    /* Missing key, shape and dtype mismatches. */
    vs_graph *h = NULL;
    OK(vs_graph_open(&h));
    int64_t s32[] = {3, 2};
    vs_var *a = getvar(h, "layer0/weights", VS_FLOAT32, 2, s32);
    assert_int_equal(vs_restore(h, g_path, 1), VS_ESHAPE);
    assert_string_equal(vs_errmsg(),
                        "Assign requires shapes of both tensors to match. "
                        "lhs shape= [3,2] rhs shape= [3,3,4,8] (key "
                        "layer0/weights)");
    assert_int_equal(vs_var_is_initialized(a), 0);
    vs_graph_close(h);
    OK(vs_graph_open(&h));
    int64_t ks[] = {3, 3, 4, 8};
    (void)getvar(h, "layer0/weights", VS_FLOAT64, 4, ks);
    assert_int_equal(vs_restore(h, g_path, 1), VS_EDTYPE);
    assert_string_equal(vs_errmsg(),
                        "tensor_name = layer0/weights; expected dtype double "
                        "does not equal original dtype float");
    vs_graph_close(h);
    OK(vs_graph_open(&h));
    (void)getvar(h, "layer9/v", VS_FLOAT32, 0, s32);
    assert_int_equal(vs_restore(h, g_path, 1), VS_ENOTFOUND);
    assert_string_equal(vs_errmsg(), "Key layer9/v not found in checkpoint");
    assert_int_equal(vs_restore(h, g_path, 5), VS_ENOTFOUND);
    snprintf(want, sizeof want, "checkpoint file %s has no step 5", g_path);
    assert_string_equal(vs_errmsg(), want);
    vs_graph_close(h);
    vs_tensor_free(keep);
    vs_tensor_free(scribbled);
    vs_graph_close(g);
}

/* Variables that hold no value are restored in place, the others through
 * scratch; both paths, their mix, a variable listed twice, and a damaged
 * file that must leave new variables uninitialized. */
static void test_store__restore_in_place_and_through_scratch(void **st)
{
    (void)st;
    vs_var *v[4], *w[4];
    vs_graph *g = model(2, v);
    vs_save_opts so;
    memset(&so, 0, sizeof so);
    so.codec = VS_CODEC_RAW;
    OK(vs_save_ex(g, g_path, 1, &so));
    OK(vs_save(g, g_path, 2)); /* default codec */
    for (int64_t step = 1; step <= 2; step++) {
        /* Mixed: layer0/biases initialized (scratch), the rest new. */
        vs_graph *h = model_uninit(2, w);
        OK(vs_variables_initializer(h, &w[1], 1));
        OK(vs_restore(h, g_path, step));
        for (int i = 0; i < 4; i++) {
            assert_int_equal(vs_var_is_initialized(w[i]), 1);
            assert_tensor_equal(val(w[i]), val(v[i]));
        }
        vs_graph_close(h);
        /* A variable listed twice, and a subset. */
        h = model_uninit(2, w);
        vs_var *list[] = {w[2], w[2], w[3]};
        vs_restore_opts ro;
        memset(&ro, 0, sizeof ro);
        ro.vars = list;
        ro.n_vars = 3;
        ro.threads = (int)step; /* inline and pooled */
        OK(vs_restore_ex(h, g_path, step, &ro));
        assert_tensor_equal(val(w[2]), val(v[2]));
        assert_tensor_equal(val(w[3]), val(v[3]));
        assert_int_equal(vs_var_is_initialized(w[0]), 0);
        vs_graph_close(h);
    }
    /* Damage step 1's last tensor (layer1/biases: one raw chunk of 32
     * bytes): restoring into new variables fails and leaves every one of
     * them uninitialized, even those read in place before the damage. */
    sqlite3 *db = raw_open(g_path);
    int64_t cid = q_int(db, "SELECT chunk_id FROM tensor_chunks tc JOIN "
                            "tensors t ON t.id = tc.tensor_id WHERE "
                            "t.name='layer1/biases' AND t.step=1");
    char sql[200];
    snprintf(sql, sizeof sql,
             "UPDATE chunks SET data = zeroblob(32) WHERE id=%lld",
             (long long)cid);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    for (int threads = 1; threads <= 2; threads++) {
        vs_graph *h = model_uninit(2, w);
        vs_restore_opts ro;
        memset(&ro, 0, sizeof ro);
        ro.threads = threads;
        assert_int_equal(vs_restore_ex(h, g_path, 1, &ro), VS_ECORRUPT);
        for (int i = 0; i < 4; i++) {
            assert_int_equal(vs_var_is_initialized(w[i]), 0);
            vs_tensor *t = NULL;
            assert_int_equal(vs_var_value(w[i], &t), VS_EUNINIT);
        }
        vs_graph_close(h);
    }
    /* A chunk row whose data is not a blob, then one that is missing. */
    static const char *const damage[] = {
        "UPDATE chunks SET data = 7 WHERE id=%lld",
        "DELETE FROM chunks WHERE id=%lld"};
    for (int d = 0; d < 2; d++) {
        db = raw_open(g_path);
        snprintf(sql, sizeof sql, damage[d], (long long)cid);
        assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
        sqlite3_close(db);
        vs_graph *h = model_uninit(2, w);
        assert_int_equal(vs_restore(h, g_path, 1), VS_ECORRUPT);
        assert_non_null(strstr(vs_errmsg(), "tensor layer1/biases at step 1"));
        for (int i = 0; i < 4; i++)
            assert_int_equal(vs_var_is_initialized(w[i]), 0);
        vs_graph_close(h);
    }
    vs_graph_close(g);
}

/* The journal mode is a setting of the file: new files are WAL; a
 * rollback-journal file saves and restores the same bytes, stays one file
 * at rest and keeps its mode across saves, also after a mode that gives
 * up crash safety was set from outside. */
static void test_store__journal_modes(void **st)
{
    (void)st;
    char side[700];
    vs_journal jm = VS_JOURNAL_ROLLBACK;
    assert_int_equal(vs_get_journal_mode(g_path, &jm), VS_ENOTFOUND);
    assert_int_equal(vs_set_journal_mode(g_path, (vs_journal)7), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "unknown journal mode 7");
    assert_int_equal(vs_get_journal_mode(g_path, NULL), VS_EINVAL);

    vs_var *v[4];
    vs_graph *g = model(2, v);
    OK(vs_save(g, g_path, 1));
    OK(vs_get_journal_mode(g_path, &jm));
    assert_int_equal(jm, VS_JOURNAL_ROLLBACK); /* new files' default */
    OK(vs_set_journal_mode(g_path, VS_JOURNAL_WAL));
    OK(vs_get_journal_mode(g_path, &jm));
    assert_int_equal(jm, VS_JOURNAL_WAL);
    assert_sqlite_journal("wal");
    OK(vs_set_journal_mode(g_path, VS_JOURNAL_ROLLBACK));
    OK(vs_get_journal_mode(g_path, &jm));
    assert_int_equal(jm, VS_JOURNAL_ROLLBACK);
    /* SQLite itself says so (the header's bytes 18-19 are 1, not 2). */
    assert_sqlite_journal("delete");

    /* Saves in both codecs, a second unchanged save, a restore. */
    vs_save_opts so;
    memset(&so, 0, sizeof so);
    so.codec = VS_CODEC_RAW;
    OK(vs_save_ex(g, g_path, 2, &so));
    OK(vs_save(g, g_path, 3));
    OK(vs_save(g, g_path, 4));
    for (int i = 0; i < 3; i++) {
        static const char *const suffix[] = {"-journal", "-wal", "-shm"};
        snprintf(side, sizeof side, "%s%s", g_path, suffix[i]);
        assert_false(exists(side)); /* one file at rest */
    }
    OK(vs_get_journal_mode(g_path, &jm));
    assert_int_equal(jm, VS_JOURNAL_ROLLBACK);
    vs_var *w[4];
    vs_graph *h = model_uninit(2, w);
    for (int64_t step = 1; step <= 4; step++) {
        OK(vs_restore(h, g_path, step));
        for (int i = 0; i < 4; i++)
            assert_tensor_equal(val(w[i]), val(v[i]));
    }
    size_t nbad = 9;
    OK(vs_verify(g_path, &nbad));
    assert_int_equal(nbad, 0);

    /* A journal mode set from outside that gives up crash safety is put
     * back to DELETE by the next save. */
    sqlite3 *db = raw_open(g_path);
    assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode=OFF", NULL, NULL,
                                  NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    OK(vs_save(g, g_path, 5));
    assert_sqlite_journal("delete");
    OK(vs_restore(h, g_path, 5));
    for (int i = 0; i < 4; i++)
        assert_tensor_equal(val(w[i]), val(v[i]));
    vs_graph_close(h);
    vs_graph_close(g);
}

/* Switching the journal mode needs the file to itself: an open read
 * handle of a WAL file (which holds its snapshot) makes it VS_EBUSY; one
 * of a rollback-journal file holds nothing between its calls and reads on
 * after the switch; a missing file is created in the mode asked for. */
static void test_store__journal_mode_switch_needs_the_file_alone(void **st)
{
    (void)st;
    vs_var *v[4], *w[4];
    vs_graph *g = model(2, v), *h = model_uninit(2, w);
    vs_journal jm = VS_JOURNAL_WAL;
    OK(vs_set_journal_mode(g_path, VS_JOURNAL_ROLLBACK));
    OK(vs_save(g, g_path, 5));
    vs_ckpt *ck = NULL;
    OK(vs_ckpt_open(g_path, &ck));
    OK(vs_set_journal_mode(g_path, VS_JOURNAL_WAL));
    int64_t latest = 0;
    OK(vs_ckpt_latest(ck, &latest));
    assert_int_equal(latest, 5);
    vs_ckpt_close(ck);
    OK(vs_get_journal_mode(g_path, &jm));
    assert_int_equal(jm, VS_JOURNAL_WAL);
    OK(vs_ckpt_open(g_path, &ck));
    assert_int_equal(vs_set_journal_mode(g_path, VS_JOURNAL_ROLLBACK),
                     VS_EBUSY);
    assert_non_null(strstr(vs_errmsg(), "is open elsewhere"));
    vs_ckpt_close(ck);
    OK(vs_restore(h, g_path, 5));
    for (int i = 0; i < 4; i++)
        assert_tensor_equal(val(w[i]), val(v[i]));
    vs_graph_close(h);
    /* A missing file is created in the mode asked for. */
    remove_db(g_path);
    OK(vs_set_journal_mode(g_path, VS_JOURNAL_ROLLBACK));
    OK(vs_get_journal_mode(g_path, &jm));
    assert_int_equal(jm, VS_JOURNAL_ROLLBACK);
    OK(vs_save(g, g_path, 1));
    OK(vs_get_journal_mode(g_path, &jm));
    assert_int_equal(jm, VS_JOURNAL_ROLLBACK);
    vs_graph_close(g);
}

/* What a plain SQLite connection that does not wait sees of g_path in
 * the middle of a save (called from its progress callback). */
typedef struct {
    int mid_calls, mid_locked, mid_read;
    /* A varstore reader started on another thread at the first call: it
     * waits for the save and reads what it committed. */
    int start_reader, reader_started;
    pthread_t reader;
    int64_t reader_step;
    vs_tensor *reader_got;
    int reader_rc;
} solo_probe;

static void *solo_reader(void *arg)
{
    solo_probe *p = arg;
    p->reader_rc = vs_latest_checkpoint(g_path, &p->reader_step);
    if (p->reader_rc == VS_OK)
        p->reader_rc = vs_load_variable(g_path, p->reader_step, "w",
                                        &p->reader_got);
    return NULL;
}

static void solo_probe_cb(void *ctx, uint64_t done, uint64_t total)
{
    solo_probe *p = ctx;
    if (done >= total)
        return;
    if (p->start_reader && !p->reader_started) {
        assert_int_equal(pthread_create(&p->reader, NULL, solo_reader, p), 0);
        p->reader_started = 1;
    }
    p->mid_calls++;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(g_path, &db, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    int s = sqlite3_exec(db, "SELECT count(*) FROM checkpoints", NULL, NULL,
                         NULL);
    if (s == SQLITE_BUSY)
        p->mid_locked++;
    else if (s == SQLITE_OK)
        p->mid_read++;
    sqlite3_close(db);
}

static void set_meta_journal(const char *sql)
{
    sqlite3 *db = raw_open(g_path);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* The tensors of the solo-save tests: t (3 MiB: progress calls
 * mid-save) and small (40 bytes); options with the probe as progress. */
typedef struct {
    vs_tensor *t, *small;
    vs_save_opts o;
    solo_probe p;
} solo_case;

static void solo_case_make(solo_case *c)
{
    int64_t sh[] = {3 * 262144}, small[] = {10};
    c->t = mk(VS_FLOAT32, 1, sh);
    c->small = mk(VS_FLOAT32, 1, small);
    fill_weights(c->t);
    fill_weights(c->small);
    memset(&c->o, 0, sizeof c->o);
    /* Solo saves are those of WAL files. */
    OK(vs_set_journal_mode(g_path, VS_JOURNAL_WAL));
    c->o.threads = 1;
    c->o.progress = solo_probe_cb;
    c->o.progress_ctx = &c->p;
}

/* Saves c->t (or c->small) as step with the probe reset first. */
static void solo_save(solo_case *c, int64_t step, int small)
{
    const char *nm = "w";
    const vs_tensor *tt = small ? c->small : c->t;
    memset(&c->p, 0, sizeof c->p);
    OK(vs_save_tensors(g_path, step, &nm, &tt, 1, small ? NULL : &c->o));
}

static void solo_case_free(solo_case *c)
{
    vs_tensor_free(c->t);
    vs_tensor_free(c->small);
}

/* A large save into a WAL file nobody else has open runs solo (rollback-
 * journal mode under an exclusive lock: its pages are written once):
 * readers wait meanwhile, a reader arriving mid-save reads the new
 * checkpoint whole, and the file is WAL again, with no side file, when it
 * returns. */
static void test_store__large_save_alone_runs_solo(void **st)
{
    (void)st;
    solo_case c;
    solo_case_make(&c);
    solo_save(&c, 1, 0);
    assert_true(c.p.mid_calls >= 2);
    assert_int_equal(c.p.mid_locked, c.p.mid_calls);
    memset(&c.p, 0, sizeof c.p);
    c.p.start_reader = 1;
    const char *nm = "w";
    const vs_tensor *tt = c.t;
    OK(vs_save_tensors(g_path, 2, &nm, &tt, 1, &c.o));
    assert_int_equal(c.p.reader_started, 1);
    assert_int_equal(pthread_join(c.p.reader, NULL), 0);
    OK(c.p.reader_rc);
    assert_int_equal(c.p.reader_step, 2);
    assert_tensor_equal(c.p.reader_got, c.t);
    vs_tensor_free(c.p.reader_got);
    assert_int_equal(c.p.mid_locked, c.p.mid_calls);
    assert_sqlite_journal("wal");
    vs_journal jm = VS_JOURNAL_ROLLBACK;
    OK(vs_get_journal_mode(g_path, &jm));
    assert_int_equal(jm, VS_JOURNAL_WAL);
    static const char *const suffix[] = {"-journal", "-wal", "-shm"};
    for (int i = 0; i < 3; i++) {
        char side[700];
        snprintf(side, sizeof side, "%s%s", g_path, suffix[i]);
        assert_false(exists(side));
    }
    solo_case_free(&c);
}

/* With readers_never_wait, or another connection open (the save does not
 * wait for it), a large save stays an ordinary WAL save: readers read
 * during it. */
static void test_store__large_save_stays_wal_for_readers(void **st)
{
    (void)st;
    solo_case c;
    solo_case_make(&c);
    solo_save(&c, 1, 0);
    c.o.readers_never_wait = 1;
    solo_save(&c, 2, 0);
    assert_true(c.p.mid_calls >= 2);
    assert_int_equal(c.p.mid_read, c.p.mid_calls);
    c.o.readers_never_wait = 0;
    vs_ckpt *ck = NULL;
    OK(vs_ckpt_open(g_path, &ck));
    solo_save(&c, 3, 0);
    assert_true(c.p.mid_calls >= 2);
    assert_int_equal(c.p.mid_read, c.p.mid_calls);
    vs_ckpt_close(ck);
    assert_sqlite_journal("wal");
    solo_case_free(&c);
}

static void assert_meta_journal(const char *want)
{
    sqlite3 *db = raw_open(g_path);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT value FROM meta WHERE "
                                        "key='journal'",
                                        -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), want);
    sqlite3_finalize(q);
    sqlite3_close(db);
}

/* The declared mode (meta 'journal') is what writers keep: a crash that
 * left the header in rollback mode is undone by the next writer (readers
 * never write the file), also in files older than that row; a
 * rollback-journal file stays one, even after a WAL header was put there
 * from outside. Every step keeps its values throughout. */
static void test_store__declared_journal_mode_comes_back(void **st)
{
    (void)st;
    solo_case c;
    solo_case_make(&c);
    solo_save(&c, 1, 0);
    set_meta_journal("PRAGMA journal_mode=DELETE");
    vs_ckpt *ck = NULL;
    OK(vs_ckpt_open(g_path, &ck));
    vs_ckpt_close(ck);
    assert_sqlite_journal("delete");
    vs_journal jm = VS_JOURNAL_ROLLBACK;
    OK(vs_get_journal_mode(g_path, &jm));
    assert_int_equal(jm, VS_JOURNAL_WAL);
    solo_save(&c, 2, 1); /* even a small save */
    assert_sqlite_journal("wal");
    /* A file from before the row: its header rules; a solo save adds it. */
    set_meta_journal("DELETE FROM meta WHERE key='journal'");
    solo_save(&c, 3, 0);
    assert_true(c.p.mid_calls >= 2);
    assert_int_equal(c.p.mid_locked, c.p.mid_calls);
    assert_sqlite_journal("wal");
    assert_meta_journal("wal");
    OK(vs_set_journal_mode(g_path, VS_JOURNAL_ROLLBACK));
    solo_save(&c, 4, 0);
    assert_sqlite_journal("delete");
    set_meta_journal("PRAGMA journal_mode=WAL");
    OK(vs_get_journal_mode(g_path, &jm));
    assert_int_equal(jm, VS_JOURNAL_ROLLBACK);
    solo_save(&c, 5, 1);
    assert_sqlite_journal("delete");
    for (int64_t step = 1; step <= 5; step++) {
        vs_tensor *got = NULL;
        OK(vs_load_variable(g_path, step, "w", &got));
        assert_tensor_equal(got, step == 2 || step == 5 ? c.small : c.t);
        vs_tensor_free(got);
    }
    OK(vs_verify(g_path, NULL));
    solo_case_free(&c);
}

static void test_store__subset_rename_and_prefix(void **st)
{
    (void)st;
    vs_var *v[4];
    vs_graph *g = model(2, v);
    /* Save layer0/weights under the key "renamed" only. */
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    vs_var *sel[1] = {v[0]};
    const char *keys[1] = {"renamed"};
    o.vars = sel;
    o.keys = keys;
    o.n_vars = 1;
    OK(vs_save_ex(g, g_path, 1, &o));
    vs_tensor_info *inf = NULL;
    size_t n = 0;
    OK(vs_list_variables(g_path, 1, &inf, &n));
    assert_int_equal(n, 1);
    assert_string_equal(inf[0].name, "renamed");
    vs_tensor_info_free(inf, n);
    /* Restore it into layer1/weights (same shape) with the dict form. */
    vs_restore_opts ro;
    memset(&ro, 0, sizeof ro);
    vs_var *dst[1] = {v[2]};
    ro.vars = dst;
    ro.keys = keys;
    ro.n_vars = 1;
    OK(vs_restore_ex(g, g_path, 1, &ro));
    assert_tensor_equal(val(v[2]), val(v[0]));
    /* Duplicate keys, one variable under two names. */
    vs_var *two[2] = {v[0], v[1]};
    const char *dup[2] = {"k", "k"};
    o.vars = two;
    o.keys = dup;
    o.n_vars = 2;
    assert_int_equal(vs_save_ex(g, g_path, 2, &o), VS_EINVAL);
    assert_string_equal(vs_errmsg(),
                        "At least two variables have the same name: k");
    vs_var *same[2] = {v[0], v[0]};
    const char *ab[2] = {"a", "b"};
    o.vars = same;
    o.keys = ab;
    assert_int_equal(vs_save_ex(g, g_path, 2, &o), VS_EINVAL);
    assert_string_equal(vs_errmsg(),
                        "The same saveable will be restored with two names: b");
    /* Prefix restore: only layer1/ from a full save. */
    OK(vs_save(g, g_path, 3));
    memset(val(v[0])->data, 0, vs_tensor_nbytes(val(v[0])));
    memset(val(v[3])->data, 0, vs_tensor_nbytes(val(v[3])));
    memset(&ro, 0, sizeof ro);
    ro.prefix = "layer1/";
    OK(vs_restore_ex(g, g_path, 3, &ro));
    vs_tensor *b1 = NULL;
    OK(vs_load_variable(g_path, 3, "layer1/biases", &b1));
    assert_tensor_equal(val(v[3]), b1);
    vs_tensor_free(b1);
    float z = 0;
    assert_memory_equal(val(v[0])->data, &z, sizeof z);
    ro.prefix = "nothing/";
    assert_int_equal(vs_restore_ex(g, g_path, 3, &ro), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "No variables to restore");
    vs_graph_close(g);

    /* Uninitialized variables cannot be saved. */
    OK(vs_graph_open(&g));
    int64_t s2[] = {2};
    (void)getvar(g, "u", VS_FLOAT32, 1, s2);
    assert_int_equal(vs_save(g, g_path, 9), VS_EUNINIT);
    assert_string_equal(vs_errmsg(), "Attempting to use uninitialized value u");
    vs_graph_close(g);
    OK(vs_graph_open(&g));
    assert_int_equal(vs_save(g, g_path, 9), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "No variables to save");
    vs_graph_close(g);
}

/* ---- init_from_checkpoint ----------------------------------------------- */

static void test_store__init_from_checkpoint_tf_rules(void **st)
{
    (void)st;
    int64_t s23[] = {2, 3}, s4[] = {4};
    vs_tensor *a = mk(VS_FLOAT32, 2, s23), *b = mk(VS_FLOAT32, 1, s4),
              *r = mk(VS_FLOAT32, 1, s4);
    fill_weights(a);
    fill_weights(b);
    fill_weights(r);
    const char *nm[] = {"old/a", "old/sub/b", "rootv"};
    const vs_tensor *ts[] = {a, b, r};
    OK(vs_save_tensors(g_path, 5, nm, ts, 3, NULL));

    vs_graph *g = NULL;
    OK(vs_graph_open(&g));
    vs_var *na = getvar(g, "new/a", VS_FLOAT32, 2, s23);
    vs_var *nb = getvar(g, "new/sub/b", VS_FLOAT32, 1, s4);
    vs_var *other = getvar(g, "other/c", VS_FLOAT32, 1, s4);
    const char *map1[] = {"old/", "new/", NULL};
    OK(vs_init_from_checkpoint(g, g_path, map1));
    assert_int_equal(vs_var_is_initialized(na), 0); /* nothing loaded yet */
    OK(vs_global_variables_initializer(g));
    assert_tensor_equal(val(na), a);
    assert_tensor_equal(val(nb), b);
    (void)other;
    vs_graph_close(g);

    /* Single variable, root mapping, and the errors. */
    OK(vs_graph_open(&g));
    vs_var *x = getvar(g, "x/y", VS_FLOAT32, 1, s4);
    const char *map2[] = {"old/sub/b", "x/y", NULL};
    OK(vs_init_from_checkpoint(g, g_path, map2));
    OK(vs_global_variables_initializer(g));
    assert_tensor_equal(val(x), b);
    const char *map3[] = {"old/x", "x/y", NULL};
    assert_int_equal(vs_init_from_checkpoint(g, g_path, map3), VS_ENOTFOUND);
    char want[1200];
    snprintf(want, sizeof want,
             "Tensor old/x is not found in %s checkpoint {'old/a': [2, 3], "
             "'old/sub/b': [4], 'rootv': [4]}",
             g_path);
    assert_string_equal(vs_errmsg(), want);
    const char *map4[] = {"old/a", "new/", NULL};
    assert_int_equal(vs_init_from_checkpoint(g, g_path, map4), VS_EINVAL);
    assert_string_equal(vs_errmsg(),
                        "Assignment map with scope only name new should map "
                        "to scope only old/a. Should be 'scope/': "
                        "'other_scope/'.");
    const char *map5[] = {"old/a", "x/y", NULL};
    assert_int_equal(vs_init_from_checkpoint(g, g_path, map5), VS_ESHAPE);
    assert_string_equal(vs_errmsg(),
                        "Shape of variable x/y:0 ((4,)) doesn't match with "
                        "shape of tensor old/a ([2, 3]) from checkpoint "
                        "reader.");
    const char *map6[] = {"old/", "x/", NULL};
    assert_int_equal(vs_init_from_checkpoint(g, g_path, map6), VS_ENOTFOUND);
    snprintf(want, sizeof want,
             "Tensor old/y (y in old/) is not found in %s checkpoint", g_path);
    assert_string_equal(vs_errmsg(), want);
    vs_graph_close(g);

    vs_tensor_free(a);
    vs_tensor_free(b);
    vs_tensor_free(r);
}

static void test_store__init_from_checkpoint_root(void **st)
{
    (void)st;
    int64_t s4[] = {4};
    vs_tensor *r = mk(VS_FLOAT32, 1, s4);
    fill_weights(r);
    save1(g_path, 1, "rootv", r, NULL);
    vs_graph *g = NULL;
    OK(vs_graph_open(&g));
    vs_var *rv = getvar(g, "new/rootv", VS_FLOAT32, 1, s4);
    const char *map[] = {"/", "new/", NULL};
    OK(vs_init_from_checkpoint(g, g_path, map));
    OK(vs_global_variables_initializer(g));
    assert_tensor_equal(val(rv), r);
    vs_graph_close(g);
    /* {'old/': '/'}: every store variable x <- old/x. */
    save1(g_path, 2, "old/q", r, NULL);
    OK(vs_graph_open(&g));
    vs_var *q = getvar(g, "q", VS_FLOAT32, 1, s4);
    const char *map2[] = {"old/", "/", NULL};
    OK(vs_init_from_checkpoint(g, g_path, map2));
    OK(vs_global_variables_initializer(g));
    assert_tensor_equal(val(q), r);
    vs_graph_close(g);
    vs_tensor_free(r);
}

static void test_store__argument_checks(void **st)
{
    (void)st;
    int64_t s1[] = {1};
    vs_tensor *t = mk(VS_FLOAT32, 1, s1);
    const char *nm[] = {"v"};
    const vs_tensor *tp[] = {t};
    assert_int_equal(vs_save_tensors(NULL, 1, nm, tp, 1, NULL), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "checkpoint path is NULL or empty");
    assert_int_equal(vs_save_tensors(g_path, -5, nm, tp, 1, NULL), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "checkpoint step must be >= 0, got -5");
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.chunk_bytes = (size_t)1 << 30;
    assert_int_equal(vs_save_tensors(g_path, 1, nm, tp, 1, &o), VS_EINVAL);
    assert_string_equal(vs_errmsg(),
                        "chunk_bytes 1073741824 is above the limit 268435456");
    memset(&o, 0, sizeof o);
    o.level = 12;
    assert_int_equal(vs_save_tensors(g_path, 1, nm, tp, 1, &o), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "zlib level 12 is outside 0-9");
    const char *empty[] = {""};
    assert_int_equal(vs_save_tensors(g_path, 1, empty, tp, 1, NULL),
                     VS_EINVAL);
    assert_string_equal(vs_errmsg(), "checkpoint key is NULL or empty");
    vs_tensor bad = *t;
    bad.dtype = (vs_dtype)77;
    const vs_tensor *bp[] = {&bad};
    assert_int_equal(vs_save_tensors(g_path, 1, nm, bp, 1, NULL), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "tensor v has an invalid dtype (77)");
    char want[700];
    snprintf(want, sizeof want, "%s/no/such/dir/x.db", store_test_tmpdir());
    assert_int_equal(vs_save_tensors(want, 1, nm, tp, 1, NULL), VS_EINVAL);
    char msg[800];
    snprintf(msg, sizeof msg,
             "Parent directory of %s doesn't exist, can't save.", want);
    assert_string_equal(vs_errmsg(), msg);
    /* Nothing was created by the failed calls. */
    assert_int_equal(access(g_path, F_OK), -1);
    assert_int_equal(vs_list_checkpoints(g_path, NULL, NULL), VS_EINVAL);
    assert_int_equal(vs_load_variable(g_path, 1, "v", NULL), VS_EINVAL);
    assert_int_equal(vs_latest_checkpoint(g_path, NULL), VS_EINVAL);
    save1(g_path, 4, "v", t, NULL);
    int64_t step = 0;
    OK(vs_latest_checkpoint(g_path, &step));
    assert_int_equal(step, 4);
    vs_ckpt_info *ci = NULL;
    size_t n = 0;
    OK(vs_list_checkpoints(g_path, &ci, &n));
    assert_int_equal(n, 1);
    assert_int_equal(ci[0].n_tensors, 1);
    assert_int_equal(ci[0].raw_bytes, 4);
    assert_int_equal(strlen(ci[0].created_at), 24);
    vs_free(ci);
    vs_tensor_free(t);
}

static void chunk_rows(const char *path, char **out, size_t *len)
{
    sqlite3 *db = raw_open(path);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT group_concat(hex(hash) || ':' "
                                        "|| codec || ':' || crc32 || ':' || "
                                        "hex(data), ',') FROM (SELECT * FROM "
                                        "chunks ORDER BY id)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const char *t = (const char *)sqlite3_column_text(st, 0);
    assert_non_null(t);
    *len = strlen(t);
    *out = strdup(t);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_store__same_bytes_for_any_thread_count(void **st)
{
    (void)st;
    int64_t sh[] = {300, 1000};
    vs_tensor *a = mk(VS_FLOAT32, 2, sh), *b = mk(VS_FLOAT16, 2, sh);
    fill_weights(a);
    fill_random(b);
    const char *nm[] = {"a", "b"};
    const vs_tensor *ts[] = {a, b};
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.chunk_bytes = 100000;
    char *first = NULL;
    size_t flen = 0;
    for (int th = 1; th <= 4; th++) {
        remove_db(g_path);
        o.threads = th;
        OK(vs_save_tensors(g_path, 1, nm, ts, 2, &o));
        char *rows = NULL;
        size_t len = 0;
        chunk_rows(g_path, &rows, &len);
        if (first == NULL) {
            first = rows;
            flen = len;
        } else {
            assert_int_equal(len, flen);
            assert_memory_equal(rows, first, len);
            free(rows);
        }
    }
    free(first);
    vs_tensor_free(a);
    vs_tensor_free(b);
}

static void test_store__same_bytes_other_dtype_not_shared(void **st)
{
    (void)st;
    /* All-zero tensors: identical bytes, different element sizes. */
    int64_t sh[] = {4096};
    vs_tensor *a = mk(VS_FLOAT32, 1, sh), *b = mk(VS_INT32, 1, sh),
              *c = mk(VS_INT64, 1, (int64_t[]){2048}), *d = mk(VS_INT32, 1, sh);
    const char *nm[] = {"f", "i", "l", "i2"};
    const vs_tensor *ts[] = {a, b, c, d};
    for (int s = 1; s <= 2; s++)
        OK(vs_save_tensors(g_path, s, nm, ts, 4, NULL));
    for (int k = 0; k < 4; k++) {
        vs_tensor *got = NULL;
        OK(vs_load_variable(g_path, 2, nm[k], &got));
        assert_tensor_equal(got, ts[k]);
        vs_tensor_free(got);
    }
    OK(vs_verify(g_path, NULL));
    sqlite3 *db = raw_open(g_path);
    /* One chunk per element size (f, i, i2 share the 4-byte one; l has
     * its own), shared across steps. */
    assert_int_equal(q_int(db, "SELECT count(*) FROM chunks"), 2);
    assert_int_equal(q_int(db, "SELECT count(DISTINCT elem_size) FROM "
                               "chunks"),
                     2);
    sqlite3_close(db);
    vs_tensor_free(a);
    vs_tensor_free(b);
    vs_tensor_free(c);
    vs_tensor_free(d);
}

/* A first save (the file holds no chunk: its dedup hashes are computed
 * by the workers) stores equal chunks once, and a later save, which
 * hashes on the calling thread to look candidates up, finds every one of
 * them: the two ways give the same hash. */
static void test_store__first_save_hashes_as_later_saves_do(void **st)
{
    (void)st;
    int64_t sh[] = {300, 1000};
    vs_tensor *a = mk(VS_FLOAT32, 2, sh);
    fill_weights(a);
    const char *nm[] = {"a", "copy1", "copy2"};
    const vs_tensor *ts[] = {a, a, a};
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.chunk_bytes = 100000; /* 12 chunks per tensor */
    o.threads = 2;
    OK(vs_save_tensors(g_path, 1, nm, ts, 3, &o));
    sqlite3 *db = raw_open(g_path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM chunks"), 12);
    sqlite3_close(db);
    OK(vs_save_tensors(g_path, 2, nm, ts, 3, &o));
    db = raw_open(g_path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM chunks"), 12);
    assert_int_equal(q_int(db, "SELECT count(*) FROM tensor_chunks"), 72);
    sqlite3_close(db);
    for (int k = 0; k < 3; k++) {
        vs_tensor *got = NULL;
        OK(vs_load_variable(g_path, 2, nm[k], &got));
        assert_tensor_equal(got, a);
        vs_tensor_free(got);
    }
    vs_tensor_free(a);
}

static void test_store__file_without_checkpoints_and_directories(void **st)
{
    (void)st;
    int64_t step;
    char want[700];
    OK(vs_set_retention(g_path, 0, 0));
    assert_int_equal(vs_latest_checkpoint(g_path, &step), VS_ENOTFOUND);
    snprintf(want, sizeof want, "checkpoint file %s holds no checkpoints",
             g_path);
    assert_string_equal(vs_errmsg(), want);
    vs_tensor_info *inf = (vs_tensor_info *)1;
    size_t n = 7;
    assert_int_equal(vs_list_variables(g_path, VS_LATEST, &inf, &n),
                     VS_ENOTFOUND);
    assert_null(inf);
    assert_int_equal(n, 0);
    vs_ckpt_info *ci = NULL;
    OK(vs_list_checkpoints(g_path, &ci, &n));
    assert_int_equal(n, 0);
    assert_null(ci);
    OK(vs_verify(g_path, NULL));
    assert_int_equal(vs_latest_checkpoint(store_test_tmpdir(), &step),
                     VS_EINVAL);
    snprintf(want, sizeof want,
             "%s is not a varstore checkpoint file: not a regular file",
             store_test_tmpdir());
    assert_string_equal(vs_errmsg(), want);
}

/* A symbolic link as the checkpoint path is refused by name, for reads
 * and saves alike: SQLite opens the file itself with O_NOFOLLOW and names
 * its side files after the path it is given. Nothing is written through
 * the link, nor where a dangling one points. */
static void test_store__symbolic_link_as_checkpoint_path_is_refused(void **st)
{
    (void)st;
    int64_t sh[] = {4};
    vs_tensor *t = mk(VS_FLOAT32, 1, sh);
    save1(g_path, 1, "w", t, NULL);
    char link[600], dang[600], target[600], want[1400];
    snprintf(link, sizeof link, "%s.link", g_path);
    snprintf(dang, sizeof dang, "%s.dangling", g_path);
    snprintf(target, sizeof target, "%s.nowhere", g_path);
    (void)unlink(link);
    (void)unlink(dang);
    assert_int_equal(symlink(g_path, link), 0);
    assert_int_equal(symlink(target, dang), 0);
    vs_ckpt *f = NULL;
    assert_int_equal(vs_ckpt_open(link, &f), VS_EINVAL);
    assert_null(f);
    snprintf(want, sizeof want,
             "%s is a symbolic link: a checkpoint file is opened by its own "
             "name (give the path of the file it points to)",
             link);
    assert_string_equal(vs_errmsg(), want);
    const char *nm = "w";
    const vs_tensor *tt = t;
    assert_int_equal(vs_save_tensors(link, 2, &nm, &tt, 1, NULL), VS_EINVAL);
    assert_int_equal(vs_save_tensors(dang, 1, &nm, &tt, 1, NULL), VS_EINVAL);
    assert_false(exists(target));
    vs_ckpt_info *ci = NULL;
    size_t n = 0;
    OK(vs_list_checkpoints(g_path, &ci, &n));
    assert_int_equal(n, 1); /* step 2 was not saved through the link */
    vs_free(ci);
    assert_int_equal(unlink(link), 0);
    assert_int_equal(unlink(dang), 0);
    vs_tensor_free(t);
}

/* ---- progress callbacks ------------------------------------------------- */

#define MIB ((uint64_t)1 << 20)

/* What a progress callback saw. */
typedef struct {
    uint64_t done[4096], total[4096];
    size_t n;
    int foreign_thread; /* calls from a thread other than the caller's */
    pthread_t self;
    /* At the done == total call: the file's newest step (save), or whether
     * the variable already holds the restored bytes (restore). */
    const char *path;
    int64_t latest_at_end;
    vs_var *watch;
    const void *want;
    size_t want_len;
    int watch_ok_at_end;
} prec;

static void prec_init(prec *r)
{
    memset(r, 0, sizeof *r);
    r->self = pthread_self();
    r->latest_at_end = -100;
}

static void prec_cb(void *ctx, uint64_t done, uint64_t total)
{
    prec *r = ctx;
    if (!pthread_equal(pthread_self(), r->self))
        r->foreign_thread++;
    if (r->n < 4096) {
        r->done[r->n] = done;
        r->total[r->n] = total;
    }
    r->n++;
    if (done == total && r->path != NULL) {
        int64_t step = -1;
        if (vs_latest_checkpoint(r->path, &step) == VS_OK)
            r->latest_at_end = step;
    }
    if (done == total && r->watch != NULL) {
        vs_tensor *t = NULL;
        r->watch_ok_at_end = vs_var_value(r->watch, &t) == VS_OK &&
                             vs_tensor_nbytes(t) == r->want_len &&
                             memcmp(t->data, r->want, r->want_len) == 0;
    }
}

/* The rules of the public contract: same total on every call; done
 * strictly increasing; intermediate calls below total and at least 1 MiB
 * apart; the last call (and only it) has done == total; no gap above
 * max_gap bytes (about a MiB: the bar keeps moving); all calls on the
 * caller's thread. */
static void prec_check(const prec *r, uint64_t total, uint64_t max_gap)
{
    assert_true(r->n >= 1);
    assert_true(r->n <= 4096);
    assert_int_equal(r->foreign_thread, 0);
    uint64_t prev = 0;
    for (size_t i = 0; i < r->n; i++) {
        assert_int_equal(r->total[i], total);
        if (i > 0)
            assert_true(r->done[i] > prev);
        assert_true(r->done[i] - prev <= max_gap);
        if (i + 1 < r->n) {
            assert_true(r->done[i] < total);
            assert_true(r->done[i] - prev >= MIB);
        }
        prev = r->done[i];
    }
    assert_int_equal(r->done[r->n - 1], total);
}

static void test_store__save_progress(void **st)
{
    (void)st;
    /* A multi-chunk tensor (5 MiB + 3 KiB), a small one, an empty one. */
    int64_t sb[] = {5 * 262144 + 768}, ss[] = {10, 10}, se[] = {0};
    vs_tensor *big = mk(VS_FLOAT32, 1, sb), *small = mk(VS_INT32, 2, ss),
              *empty = mk(VS_FLOAT64, 1, se);
    fill_weights(big);
    fill_random(small);
    const char *nm[] = {"big", "small", "empty"};
    const vs_tensor *ts[] = {big, small, empty};
    uint64_t total = vs_tensor_nbytes(big) + vs_tensor_nbytes(small);

    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.threads = 4; /* compression on pool threads */
    o.progress = prec_cb;
    static prec r;
    prec_init(&r);
    r.path = g_path;
    o.progress_ctx = &r;
    OK(vs_save_tensors(g_path, 7, nm, ts, 3, &o));
    /* 1 MiB chunks: a call per chunk, never more than a chunk apart. */
    prec_check(&r, total, MIB + 4096);
    assert_true(r.n >= 6);
    /* The last call comes after the commit: step 7 was in the file. */
    assert_int_equal(r.latest_at_end, 7);

    /* Small chunks: at most one call per MiB all the same. */
    o.chunk_bytes = 65536;
    o.threads = 3;
    prec_init(&r);
    r.path = g_path;
    OK(vs_save_tensors(g_path, 8, nm, ts, 3, &o));
    prec_check(&r, total, MIB + 65536);
    assert_true(r.n >= 5 && r.n <= 6);
    assert_int_equal(r.latest_at_end, 8);

    /* Inline (threads 1), and chunks above a MiB: one call per chunk. */
    o.chunk_bytes = 3 * MIB;
    o.threads = 1;
    prec_init(&r);
    OK(vs_save_tensors(g_path, 9, nm, ts, 3, &o));
    prec_check(&r, total, 3 * MIB);
    assert_int_equal(r.n, 3); /* 3 MiB, 5 MiB + 3 KiB, then all */
    assert_int_equal(r.done[0], 3 * MIB);

    /* Only empty tensors: one call, 0 of 0. */
    prec_init(&r);
    OK(vs_save_tensors(g_path, 10, &nm[2], &ts[2], 1, &o));
    assert_int_equal(r.n, 1);
    assert_int_equal(r.done[0], 0);
    assert_int_equal(r.total[0], 0);

    /* No callback: a context alone is ignored. */
    o.progress = NULL;
    prec_init(&r);
    OK(vs_save_tensors(g_path, 11, nm, ts, 3, &o));
    assert_int_equal(r.n, 0);

    /* A save that fails before writing reports nothing. */
    o.progress = prec_cb;
    o.level = 12;
    assert_int_equal(vs_save_tensors(g_path, 12, nm, ts, 3, &o), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "zlib level 12 is outside 0-9");
    assert_int_equal(r.n, 0);

    vs_tensor *got = NULL;
    OK(vs_load_variable(g_path, 9, "big", &got));
    assert_tensor_equal(got, big);
    vs_tensor_free(got);
    vs_tensor_free(big);
    vs_tensor_free(small);
    vs_tensor_free(empty);
}

static void test_store__restore_progress(void **st)
{
    (void)st;
    vs_graph *g = NULL;
    OK(vs_graph_open(&g));
    int64_t sb[] = {4 * 262144 + 100}, sc[] = {300}, si[] = {7};
    vs_var *big = getvar(g, "net/big", VS_FLOAT32, 1, sb);
    vs_var *bias = getvar(g, "net/bias", VS_FLOAT32, 1, sc);
    vs_var *steps = getvar(g, "steps", VS_INT64, 1, si);
    OK(vs_global_variables_initializer(g));
    fill_weights(val(big));
    size_t nb = vs_tensor_nbytes(val(big));
    uint64_t total = nb + vs_tensor_nbytes(val(bias)) +
                     vs_tensor_nbytes(val(steps));
    vs_tensor *copy = NULL;
    OK(vs_tensor_from_data(VS_FLOAT32, 1, sb, val(big)->data, &copy));

    /* vs_save_ex reports too. */
    static prec r;
    prec_init(&r);
    r.path = g_path;
    vs_save_opts so;
    memset(&so, 0, sizeof so);
    so.threads = 2;
    so.progress = prec_cb;
    so.progress_ctx = &r;
    OK(vs_save_ex(g, g_path, 3, &so));
    prec_check(&r, total, MIB + 4096);
    assert_int_equal(r.latest_at_end, 3);

    /* Restore everything on 4 threads; the last call comes once the
     * variables hold the restored values. */
    memset(val(big)->data, 0, nb);
    vs_restore_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.threads = 4;
    ro.progress = prec_cb;
    ro.progress_ctx = &r;
    prec_init(&r);
    r.watch = big;
    r.want = copy->data;
    r.want_len = nb;
    OK(vs_restore_ex(g, g_path, VS_LATEST, &ro));
    prec_check(&r, total, MIB + 4096);
    assert_true(r.n >= 5);
    assert_int_equal(r.watch_ok_at_end, 1);
    assert_tensor_equal(val(big), copy);

    /* A prefix: the total is the selected tensors' bytes only. */
    ro.prefix = "net/b";
    ro.threads = 1;
    prec_init(&r);
    OK(vs_restore_ex(g, g_path, 3, &ro));
    prec_check(&r, nb + vs_tensor_nbytes(val(bias)), MIB + 4096);

    /* A failed restore changes nothing and never reports the end. */
    ro.prefix = NULL;
    vs_var *extra = getvar(g, "missing", VS_FLOAT32, 1, sc);
    (void)extra;
    prec_init(&r);
    assert_int_equal(vs_restore_ex(g, g_path, 3, &ro), VS_ENOTFOUND);
    assert_string_equal(vs_errmsg(), "Key missing not found in checkpoint");
    assert_int_equal(r.n, 0);

    /* NULL callback. */
    ro.progress = NULL;
    ro.vars = &big;
    ro.n_vars = 1;
    prec_init(&r);
    OK(vs_restore_ex(g, g_path, 3, &ro));
    assert_int_equal(r.n, 0);

    vs_tensor_free(copy);
    vs_graph_close(g);
}

/* A progress callback that tries to change the variables being restored
 * (in place: they held no value) while the restore is under way. */
typedef struct {
    vs_graph *g;
    vs_var *v;
    const char *path;
    vs_tensor *zeros;
    int calls, busy_assign, busy_init, busy_restore, end_assign;
} meddle;

static void meddle_cb(void *ctx, uint64_t done, uint64_t total)
{
    meddle *m = ctx;
    m->calls++;
    if (done < total) {
        m->busy_assign += vs_assign(m->v, m->zeros) == VS_ERESTORING;
        m->busy_init += vs_variables_initializer(m->g, &m->v, 1) == VS_ERESTORING;
        m->busy_restore += vs_restore(m->g, m->path, VS_LATEST) == VS_ERESTORING;
        vs_tensor *t = NULL; /* still no value to read */
        assert_int_equal(vs_var_value(m->v, &t), VS_EUNINIT);
    } else {
        /* The last call: the variables hold their values and are free. */
        vs_tensor *t = NULL;
        OK(vs_var_value(m->v, &t));
        m->end_assign = vs_assign(m->v, t);
    }
}

static void test_store__restore_progress_cannot_meddle(void **st)
{
    (void)st;
    vs_graph *g = NULL;
    OK(vs_graph_open(&g));
    int64_t sb[] = {3 * 262144};
    vs_var *big = getvar(g, "big", VS_FLOAT32, 1, sb);
    OK(vs_global_variables_initializer(g));
    fill_weights(val(big));
    vs_tensor *copy = NULL;
    OK(vs_tensor_from_data(VS_FLOAT32, 1, sb, val(big)->data, &copy));
    OK(vs_save(g, g_path, 1));
    vs_graph_close(g);

    OK(vs_graph_open(&g));
    meddle m;
    memset(&m, 0, sizeof m);
    m.g = g;
    m.v = getvar(g, "big", VS_FLOAT32, 1, sb);
    m.path = g_path;
    OK(vs_tensor_new(VS_FLOAT32, 1, sb, &m.zeros));
    vs_restore_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.threads = 1;
    ro.progress = meddle_cb;
    ro.progress_ctx = &m;
    OK(vs_restore_ex(g, g_path, 1, &ro));
    assert_true(m.calls >= 3);
    assert_int_equal(m.busy_assign, m.calls - 1);
    assert_int_equal(m.busy_init, m.calls - 1);
    assert_int_equal(m.busy_restore, m.calls - 1);
    OK(m.end_assign);
    assert_tensor_equal(val(m.v), copy);
    /* Afterwards the variable is an ordinary one again. */
    OK(vs_assign(m.v, m.zeros));
    OK(vs_restore(g, g_path, 1));
    assert_tensor_equal(val(m.v), copy);
    vs_tensor_free(m.zeros);
    vs_tensor_free(copy);
    vs_graph_close(g);
}

static void test_store__verify_progress(void **st)
{
    (void)st;
    int64_t sb[] = {3 * 262144 + 5000}, ss[] = {64};
    vs_tensor *big = mk(VS_FLOAT32, 1, sb), *small = mk(VS_UINT8, 1, ss);
    fill_weights(big);
    fill_random(small);
    const char *nm[] = {"big", "small"};
    const vs_tensor *ts[] = {big, small};
    uint64_t one = vs_tensor_nbytes(big) + vs_tensor_nbytes(small);
    /* Two identical checkpoints: chunks are shared, checked once. */
    OK(vs_save_tensors(g_path, 1, nm, ts, 2, NULL));
    OK(vs_save_tensors(g_path, 2, nm, ts, 2, NULL));
    sqlite3 *db = raw_open(g_path);
    assert_int_equal(q_int(db, "SELECT sum(raw_bytes) FROM chunks"),
                     (int64_t)one);
    sqlite3_close(db);

    static prec r;
    vs_verify_opts vo;
    memset(&vo, 0, sizeof vo);
    vo.threads = 3;
    vo.progress = prec_cb;
    vo.progress_ctx = &r;
    size_t n_bad = 99;
    prec_init(&r);
    OK(vs_verify_ex(g_path, &vo, &n_bad));
    assert_int_equal(n_bad, 0);
    prec_check(&r, one, MIB + 5000);
    assert_true(r.n >= 4);

    /* Inline, NULL callback, NULL opts, and vs_verify itself. */
    vo.threads = 1;
    prec_init(&r);
    OK(vs_verify_ex(g_path, &vo, NULL));
    prec_check(&r, one, MIB + 5000);
    vo.progress = NULL;
    prec_init(&r);
    OK(vs_verify_ex(g_path, &vo, NULL));
    assert_int_equal(r.n, 0);
    OK(vs_verify_ex(g_path, NULL, &n_bad));
    OK(vs_verify(g_path, &n_bad));

    vo.threads = -1;
    assert_int_equal(vs_verify_ex(g_path, &vo, &n_bad), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "threads must be >= 0, got -1");
    assert_int_equal(n_bad, 0);

    /* Damage found: every byte was still checked, so the end is reported,
     * and the call fails naming the tensor. */
    db = raw_open(g_path);
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE chunks SET crc32 = (crc32 + 1) % "
                                  "4294967296 WHERE raw_bytes = 64",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_changes(db), 1);
    sqlite3_close(db);
    vo.threads = 2;
    vo.progress = prec_cb;
    prec_init(&r);
    assert_int_equal(vs_verify_ex(g_path, &vo, &n_bad), VS_ECORRUPT);
    assert_int_equal(n_bad, 2); /* "small" at steps 1 and 2 */
    assert_non_null(strstr(vs_errmsg(), "tensor small at step 1"));
    prec_check(&r, one, MIB + 5000);

    vs_tensor_free(big);
    vs_tensor_free(small);
}

/* A read handle sees one snapshot; reads through it equal
 * vs_load_variable; a bad handle or name is a clear error. */
static void test_store__read_handle_snapshot(void **state)
{
    (void)state;
    const int64_t shape[] = {3, 5};
    vs_tensor *a = mk(VS_FLOAT32, 2, shape), *b = mk(VS_FLOAT32, 2, shape);
    fill_weights(a);
    fill_weights(b);
    const char *names[] = {"layer/w"};
    const vs_tensor *ta[] = {a}, *tb[] = {b};
    /* A WAL file: a save goes on while the handle is open. */
    OK(vs_set_journal_mode(g_path, VS_JOURNAL_WAL));
    OK(vs_save_tensors(g_path, 1, names, ta, 1, NULL));

    vs_ckpt *f = NULL;
    OK(vs_ckpt_open(g_path, &f));
    /* a save that commits after the open is not seen through f */
    OK(vs_save_tensors(g_path, 2, names, tb, 1, NULL));
    int64_t latest = -1;
    OK(vs_ckpt_latest(f, &latest));
    assert_int_equal(latest, 1); /* the snapshot's newest, not the file's */
    OK(vs_latest_checkpoint(g_path, &latest));
    assert_int_equal(latest, 2);
    assert_int_equal(vs_ckpt_latest(f, NULL), VS_EINVAL);
    assert_int_equal(vs_ckpt_latest(NULL, &latest), VS_EINVAL);
    vs_tensor *got = NULL;
    OK(vs_ckpt_load(f, VS_LATEST, "layer/w:0", &got));
    assert_tensor_equal(got, a);
    vs_tensor_free(got);
    got = NULL;
    assert_int_equal(vs_ckpt_load(f, 2, "layer/w", &got), VS_ENOTFOUND);
    assert_null(got);
    assert_int_equal(vs_ckpt_load(f, 1, "nope", &got), VS_ENOTFOUND);
    assert_string_equal(vs_errmsg(), "Key nope not found in checkpoint");
    vs_tensor_info *infos = NULL;
    size_t n = 0;
    OK(vs_ckpt_list_variables(f, VS_LATEST, &infos, &n));
    assert_int_equal(n, 1);
    assert_string_equal(infos[0].name, "layer/w");
    vs_tensor_info_free(infos, n);
    vs_ckpt_close(f);

    /* a new handle sees step 2, the same bytes as vs_load_variable */
    OK(vs_ckpt_open(g_path, &f));
    OK(vs_ckpt_latest(f, &latest));
    assert_int_equal(latest, 2);
    OK(vs_ckpt_load(f, VS_LATEST, "layer/w", &got));
    assert_tensor_equal(got, b);
    vs_tensor_free(got);
    OK(vs_load_variable(g_path, 2, "layer/w", &got));
    assert_tensor_equal(got, b);
    vs_tensor_free(got);
    vs_ckpt_close(f);

    f = (vs_ckpt *)1;
    assert_int_equal(vs_ckpt_open(NULL, &f), VS_EINVAL);
    assert_null(f);
    assert_int_equal(vs_ckpt_load(NULL, 1, "layer/w", &got), VS_EINVAL);
    assert_string_equal(vs_errmsg(), "checkpoint handle is NULL");
    vs_ckpt_close(NULL);
    vs_tensor_free(a);
    vs_tensor_free(b);
}

/* vs_ckpt_load_many gives the same bytes as single loads; one missing
 * name fails them all and leaves every output NULL. */
static void test_store__read_handle_loads_many(void **state)
{
    (void)state;
    const int64_t shape[] = {3, 5};
    vs_tensor *b = mk(VS_FLOAT32, 2, shape);
    fill_weights(b);
    vs_ckpt *f = NULL;
    {
        const int64_t s3[] = {1000000};
        vs_tensor *big = mk(VS_FLOAT32, 1, s3);
        fill_weights(big);
        const char *two[] = {"layer/w", "big"};
        const vs_tensor *tt[] = {b, big};
        vs_save_opts so = {0};
        so.chunk_bytes = 65536; /* many chunks for the pool */
        OK(vs_save_tensors(g_path, 3, two, tt, 2, &so));
        OK(vs_ckpt_open(g_path, &f));
        vs_tensor *many[3] = {NULL, NULL, NULL};
        OK(vs_ckpt_load_many(f, 3, two, 2, many));
        assert_tensor_equal(many[0], b);
        assert_tensor_equal(many[1], big);
        vs_tensor_free(many[0]);
        vs_tensor_free(many[1]);
        const char *bad[] = {"big", "nope", "layer/w"};
        assert_int_equal(vs_ckpt_load_many(f, 3, bad, 3, many), VS_ENOTFOUND);
        assert_string_equal(vs_errmsg(), "Key nope not found in checkpoint");
        assert_null(many[0]);
        assert_null(many[1]);
        assert_null(many[2]);
        OK(vs_ckpt_load_many(f, 3, two, 0, many));
        vs_ckpt_close(f);
        vs_tensor_free(big);
    }
    vs_tensor_free(b);
}

/* ---- vs_ckpt_stream ------------------------------------------------------ */

#define SK_MAX 8
typedef struct {
    pthread_mutex_t mu;
    const vs_tensor *want[SK_MAX]; /* what tensor i must come out as */
    unsigned char *buf[SK_MAX];
    size_t len[SK_MAX], got[SK_MAX], writes[SK_MAX];
    int begun[SK_MAX], ended[SK_MAX];
    size_t order[SK_MAX], n_order; /* begin calls, in call order */
    int n_bad; /* a write outside begin..end, overlapping or out of range;
                  an end before every byte came */
    int fail_begin, fail_write, fail_end; /* tensor whose call fails; -1 */
    /* when set, every write also loads nested_name from nested_path (a
     * library call from a worker thread) and checks it is nested_want */
    const char *nested_path, *nested_name;
    const vs_tensor *nested_want;
} rec_sink;

static void rec_init(rec_sink *r, const vs_tensor *const *want, size_t n)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(pthread_mutex_init(&r->mu, NULL), 0);
    for (size_t i = 0; i < n; i++) {
        r->want[i] = want[i];
        r->len[i] = vs_tensor_nbytes(want[i]);
        r->buf[i] = calloc(r->len[i] + 1, 1);
        assert_non_null(r->buf[i]);
    }
    r->fail_begin = r->fail_write = r->fail_end = -1;
}

static void rec_free(rec_sink *r)
{
    for (size_t i = 0; i < SK_MAX; i++)
        free(r->buf[i]);
    pthread_mutex_destroy(&r->mu);
}

static int rec_begin(void *ctx, size_t i)
{
    rec_sink *r = ctx;
    pthread_mutex_lock(&r->mu);
    if (i >= SK_MAX || r->begun[i])
        r->n_bad++;
    else
        r->begun[i] = 1;
    r->order[r->n_order++ % SK_MAX] = i;
    pthread_mutex_unlock(&r->mu);
    return (int)i == r->fail_begin ? VS_EIO : 0;
}

static int rec_write(void *ctx, size_t i, uint64_t off, const void *data,
                     size_t len)
{
    rec_sink *r = ctx;
    int rc = 0, nested_bad = 0;
    if (r->nested_path != NULL) {
        vs_tensor *t = NULL;
        nested_bad = vs_load_variable(r->nested_path, 1, r->nested_name,
                                      &t) != VS_OK ||
                     vs_tensor_nbytes(t) !=
                         vs_tensor_nbytes(r->nested_want) ||
                     memcmp(t->data, r->nested_want->data,
                            vs_tensor_nbytes(t)) != 0;
        vs_tensor_free(t);
    }
    pthread_mutex_lock(&r->mu);
    r->n_bad += nested_bad;
    if (i >= SK_MAX || !r->begun[i] || r->ended[i] || len == 0 ||
        off > r->len[i] || len > r->len[i] - off) {
        r->n_bad++;
    } else {
        for (size_t k = 0; k < len; k++) /* overlap: a byte written twice */
            if (r->buf[i][off + k] != 0 &&
                r->buf[i][off + k] != ((const unsigned char *)data)[k])
                r->n_bad++;
        memcpy(r->buf[i] + off, data, len);
        r->got[i] += len;
        r->writes[i]++;
        if ((int)i == r->fail_write)
            rc = 1; /* a value of the caller's own, passed through */
    }
    pthread_mutex_unlock(&r->mu);
    return rc;
}

static int rec_end(void *ctx, size_t i)
{
    rec_sink *r = ctx;
    pthread_mutex_lock(&r->mu);
    if (i >= SK_MAX || !r->begun[i] || r->ended[i] || r->got[i] != r->len[i])
        r->n_bad++;
    else
        r->ended[i] = 1;
    pthread_mutex_unlock(&r->mu);
    return (int)i == r->fail_end ? VS_EIO : 0;
}

static void rec_sink_of(rec_sink *r, vs_stream_sink *sk, int threads)
{
    memset(sk, 0, sizeof *sk);
    sk->begin = rec_begin;
    sk->write = rec_write;
    sk->end = rec_end;
    sk->ctx = r;
    sk->threads = threads;
}

/* The file the stream tests read: step 1 with big (19 chunks of 64 KiB),
 * ints, none (no bytes) and small; step 2 the same with big's values
 * changed (no chunk shared with step 1) and stored raw. */
typedef struct {
    vs_tensor *big, *big2, *small, *none, *ints;
    vs_ckpt *f;                /* open on the file */
    const char *names[4];      /* an order of our own: small, none, big:0, */
    const vs_tensor *want[4];  /* ints, and their step-1 tensors */
} stream_file;

static const int64_t s_big[] = {300000};

static void stream_file_make(stream_file *sf)
{
    const int64_t s_small[] = {3, 5}, s_none[] = {0}, s_i64[] = {7};
    sf->big = mk(VS_FLOAT32, 1, s_big);
    sf->small = mk(VS_FLOAT32, 2, s_small);
    sf->none = mk(VS_FLOAT32, 1, s_none);
    sf->ints = mk(VS_INT64, 1, s_i64);
    sf->big2 = mk(VS_FLOAT32, 1, s_big);
    fill_weights(sf->big);
    fill_weights(sf->small);
    for (int k = 0; k < 7; k++)
        ((int64_t *)sf->ints->data)[k] = (int64_t)k * 1000003 - 5;
    for (int64_t k = 0; k < s_big[0]; k++)
        ((float *)sf->big2->data)[k] = -((float *)sf->big->data)[k] + 0.5f;
    const char *names[] = {"big", "ints", "none", "small"};
    const vs_tensor *tt[] = {sf->big, sf->ints, sf->none, sf->small};
    vs_save_opts so = {0};
    /* A WAL file: the tests damage it with the handle open. */
    OK(vs_set_journal_mode(g_path, VS_JOURNAL_WAL));
    so.chunk_bytes = 65536; /* 19 chunks of big: several per thread */
    OK(vs_save_tensors(g_path, 1, names, tt, 4, &so));
    const vs_tensor *tt2[] = {sf->big2, sf->ints, sf->none, sf->small};
    so.codec = VS_CODEC_RAW;
    OK(vs_save_tensors(g_path, 2, names, tt2, 4, &so));
    sqlite3 *db = raw_open(g_path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM tensor_chunks tc JOIN "
                               "chunks c ON c.id = tc.chunk_id JOIN tensors "
                               "t ON t.id = tc.tensor_id WHERE t.step = 2 "
                               "AND t.name = 'big' AND c.codec = 0"),
                     19); /* all stored raw */
    sqlite3_close(db);
    static const char *const order[] = {"small", "none", "big:0", "ints"};
    const vs_tensor *want[] = {sf->small, sf->none, sf->big, sf->ints};
    memcpy(sf->names, order, sizeof sf->names);
    memcpy(sf->want, want, sizeof sf->want);
    OK(vs_ckpt_open(g_path, &sf->f));
}

static void stream_file_free(stream_file *sf)
{
    vs_ckpt_close(sf->f);
    vs_tensor_free(sf->big);
    vs_tensor_free(sf->big2);
    vs_tensor_free(sf->small);
    vs_tensor_free(sf->none);
    vs_tensor_free(sf->ints);
}

/* Streaming gives every tensor's bytes exactly once, as vs_ckpt_load
 * would, in chunks from several threads; begin comes in order before any
 * write, end after the last byte; a tensor of no bytes gets begin and
 * end. */
static void test_store__stream_gives_each_tensor_once_in_order(void **state)
{
    (void)state;
    stream_file sf;
    stream_file_make(&sf);
    vs_stream_sink sk;
    rec_sink r;
    const vs_tensor *want2[] = {sf.small, sf.none, sf.big2, sf.ints};
    for (int64_t step = 1; step <= 2; step++) {
        for (int threads = 1; threads <= 3; threads++) {
            const vs_tensor *const *want = step == 1 ? sf.want : want2;
            rec_init(&r, want, 4);
            rec_sink_of(&r, &sk, threads);
            OK(vs_ckpt_stream(sf.f, step, sf.names, 4, &sk));
            assert_int_equal(r.n_bad, 0);
            assert_int_equal(r.n_order, 4);
            for (size_t i = 0; i < 4; i++) {
                assert_int_equal(r.order[i], i);
                assert_true(r.ended[i]);
                if (r.len[i] > 0)
                    assert_memory_equal(r.buf[i], want[i]->data, r.len[i]);
            }
            assert_int_equal(r.writes[1], 0);  /* none: no bytes */
            assert_int_equal(r.writes[2], 19); /* big: one per chunk */
            rec_free(&r);
        }
    }
    stream_file_free(&sf);
}

/* A write callback may call the library (a load of its own, here one of a
 * single chunk, run on the calling worker): neither it nor the stream
 * sees the other's buffers. */
static void test_store__stream_callback_may_call_the_library(void **state)
{
    (void)state;
    stream_file sf;
    stream_file_make(&sf);
    vs_stream_sink sk;
    rec_sink r;
    for (int rep = 0; rep < 3; rep++) {
        rec_init(&r, sf.want, 4);
        rec_sink_of(&r, &sk, 2);
        r.nested_path = g_path;
        r.nested_name = "small";
        r.nested_want = sf.small;
        OK(vs_ckpt_stream(sf.f, 1, sf.names, 4, &sk));
        assert_int_equal(r.n_bad, 0);
        for (size_t i = 0; i < 4; i++)
            if (r.len[i] > 0)
                assert_memory_equal(r.buf[i], sf.want[i]->data, r.len[i]);
        rec_free(&r);
    }
    stream_file_free(&sf);
}

/* Streams names (want: their tensors) with one callback failing (fail:
 * which of begin, write, end on tensor at); expects rc and a message
 * containing msg. Returns the sink for the caller's checks (rec_free). */
static void stream_failing(vs_ckpt *f, const char *const *names,
                           const vs_tensor *const *want, int threads,
                           int fail, int at, int rc, const char *msg,
                           rec_sink *r)
{
    vs_stream_sink sk;
    rec_init(r, want, 4);
    rec_sink_of(r, &sk, threads);
    if (fail == 0)
        r->fail_begin = at;
    else if (fail == 1)
        r->fail_write = at;
    else
        r->fail_end = at;
    assert_int_equal(vs_ckpt_stream(f, 1, names, 4, &sk), rc);
    assert_non_null(strstr(vs_errmsg(), msg));
    assert_int_equal(r->n_bad, 0);
}

/* A failing callback stops the stream: the tensors before have ended,
 * the failing one has not, and after a failing begin nothing else
 * begins. */
static void test_store__stream_stops_at_a_failing_callback(void **state)
{
    (void)state;
    stream_file sf;
    stream_file_make(&sf);
    vs_ckpt *f = sf.f;
    rec_sink r;
    const char *const *names2 = sf.names;
    const vs_tensor *const *want = sf.want;
    for (int threads = 1; threads <= 2; threads++) {
        stream_failing(f, names2, want, threads, 0, 2, VS_EIO,
                       "begin failed on tensor big", &r);
        assert_true(r.ended[0] && r.ended[1]);
        assert_false(r.ended[2]);
        assert_false(r.begun[3]);
        assert_int_equal(r.writes[2] + r.writes[3], 0);
        rec_free(&r);
        /* a value of the caller's own is passed through */
        stream_failing(f, names2, want, threads, 1, 2, 1,
                       "write failed on tensor big", &r);
        assert_true(r.ended[0] && r.ended[1]);
        assert_false(r.ended[2] || r.ended[3]);
        rec_free(&r);
        /* on the tensor of no bytes: it ends after the tensor before
         * it, so that one ended; nothing after it ends */
        stream_failing(f, names2, want, threads, 2, 1, VS_EIO,
                       "end failed on tensor none", &r);
        assert_true(r.ended[0]);
        assert_false(r.ended[2] || r.ended[3]);
        rec_free(&r);
    }
    stream_file_free(&sf);
}

/* A missing name calls nothing; bad arguments are refused. */
static void test_store__stream_argument_checks(void **state)
{
    (void)state;
    stream_file sf;
    stream_file_make(&sf);
    vs_ckpt *f = sf.f;
    vs_stream_sink sk;
    rec_sink r;
    const char *const *names2 = sf.names;
    const char *bad[] = {"small", "nope"};
    rec_init(&r, sf.want, 2);
    rec_sink_of(&r, &sk, 2);
    assert_int_equal(vs_ckpt_stream(f, 1, bad, 2, &sk), VS_ENOTFOUND);
    assert_string_equal(vs_errmsg(), "Key nope not found in checkpoint");
    assert_int_equal(r.n_order, 0);
    rec_free(&r);
    sk.write = NULL;
    assert_int_equal(vs_ckpt_stream(f, 1, names2, 4, &sk), VS_EINVAL);
    rec_sink_of(&r, &sk, 2);
    assert_int_equal(vs_ckpt_stream(f, 1, names2, 4, NULL), VS_EINVAL);
    assert_int_equal(vs_ckpt_stream(NULL, 1, names2, 4, &sk), VS_EINVAL);
    assert_int_equal(vs_ckpt_stream(f, 1, NULL, 4, &sk), VS_EINVAL);
    OK(vs_ckpt_stream(f, 1, names2, 0, &sk));
    stream_file_free(&sf);
}

/* Streams names at step, expecting VS_ECORRUPT naming what; the sink for
 * the caller's checks (rec_free). */
static void stream_corrupt(int64_t step, const char *const *names,
                           const vs_tensor *const *want, int threads,
                           const char *what, rec_sink *r)
{
    vs_ckpt *f = NULL;
    vs_stream_sink sk;
    OK(vs_ckpt_open(g_path, &f));
    rec_init(r, want, 4);
    rec_sink_of(r, &sk, threads);
    assert_int_equal(vs_ckpt_stream(f, step, names, 4, &sk), VS_ECORRUPT);
    assert_non_null(strstr(vs_errmsg(), what));
    assert_int_equal(r->n_bad, 0);
    vs_ckpt_close(f);
}

/* Damage in big's 10th chunk at step 1: VS_ECORRUPT naming it; the
 * tensors before it ended, big did not; a tensor of no bytes after the
 * damaged one never ends (begun ahead or not). */
static void test_store__stream_stops_at_a_damaged_chunk(void **state)
{
    (void)state;
    stream_file sf;
    stream_file_make(&sf);
    raw_exec(g_path, "UPDATE chunks SET crc32 = (crc32 + 1) % 4294967296 "
                     "WHERE id = (SELECT tc.chunk_id FROM tensor_chunks tc "
                     "JOIN tensors t ON t.id = tc.tensor_id WHERE t.step = "
                     "1 AND t.name = 'big' AND tc.seq = 9)");
    const char *names2[] = {"small", "none", "big:0", "ints"};
    const vs_tensor *want2[] = {sf.small, sf.none, sf.big, sf.ints};
    const char *names3[] = {"small", "big", "none", "ints"};
    const vs_tensor *want3[] = {sf.small, sf.big, sf.none, sf.ints};
    rec_sink r;
    for (int threads = 1; threads <= 2; threads++) {
        stream_corrupt(1, names2, want2, threads,
                       "tensor big at step 1, chunk 9", &r);
        assert_true(r.ended[0] && r.ended[1]);
        assert_false(r.ended[2] || r.ended[3]);
        rec_free(&r);
        stream_corrupt(1, names3, want3, threads, "tensor big at step 1",
                       &r);
        assert_true(r.ended[0]);
        assert_false(r.ended[1] || r.ended[2] || r.ended[3]);
        rec_free(&r);
    }
    stream_file_free(&sf);
}

/* Damage met while reading a chunk's row (ints' only chunk at step 2 is
 * 8 bytes short) rather than decoding it, and a tensor of no bytes that
 * claims a CRC: the tensors before still end, in order, and the error
 * names the damaged one. */
static void test_store__stream_stops_at_a_damaged_chunk_row(void **state)
{
    (void)state;
    stream_file sf;
    stream_file_make(&sf);
    raw_exec(g_path, "UPDATE chunks SET raw_bytes = raw_bytes - 8 WHERE id "
                     "= (SELECT tc.chunk_id FROM tensor_chunks tc JOIN "
                     "tensors t ON t.id = tc.tensor_id WHERE t.step = 2 AND "
                     "t.name = 'ints')");
    raw_exec(g_path, "UPDATE tensor_rows SET crc32 = 5 WHERE id = (SELECT id "
                     "FROM tensors WHERE step = 2 AND name = 'none')");
    const char *names4[] = {"small", "big", "ints", "none"};
    const vs_tensor *want4[] = {sf.small, sf.big2, sf.ints, sf.none};
    const char *names5[] = {"small", "big", "none", "ints"};
    const vs_tensor *want5[] = {sf.small, sf.big2, sf.none, sf.ints};
    rec_sink r;
    for (int threads = 1; threads <= 2; threads++) {
        stream_corrupt(2, names4, want4, threads, "tensor ints at step 2",
                       &r);
        assert_non_null(strstr(vs_errmsg(), "sizes do not add up"));
        assert_true(r.ended[0] && r.ended[1]);
        assert_false(r.ended[2] || r.ended[3]);
        rec_free(&r);
        stream_corrupt(2, names5, want5, threads, "tensor none at step 2",
                       &r);
        assert_true(r.ended[0] && r.ended[1]);
        assert_false(r.begun[2] || r.ended[2] || r.begun[3]);
        rec_free(&r);
    }
    stream_file_free(&sf);
}

/* A trailing ":0" names a variable's value and is dropped (TF's
 * load_variable), unless a tensor is stored under that very key: then
 * every read gives that tensor, and "a" still gives "a". */
static void test_store__key_ending_in_colon_zero(void **state)
{
    (void)state;
    const int64_t s2[] = {2}, s3[] = {3};
    vs_tensor *a = mk(VS_FLOAT32, 1, s2), *a0 = mk(VS_FLOAT32, 1, s3),
              *b = mk(VS_FLOAT32, 1, s2);
    fill_weights(a);
    fill_weights(a0);
    fill_weights(b);
    ((float *)a0->data)[0] = 123.0f;
    const char *names[] = {"a", "a:0", "b"};
    const vs_tensor *tt[] = {a, a0, b};
    OK(vs_save_tensors(g_path, 1, names, tt, 3, NULL));
    vs_tensor *got = NULL;
    OK(vs_load_variable(g_path, 1, "a:0", &got));
    assert_tensor_equal(got, a0);
    vs_tensor_free(got);
    OK(vs_load_variable(g_path, VS_LATEST, "a", &got));
    assert_tensor_equal(got, a);
    vs_tensor_free(got);
    OK(vs_load_variable(g_path, 1, "b:0", &got));
    assert_tensor_equal(got, b); /* TF's form */
    vs_tensor_free(got);
    assert_int_equal(vs_load_variable(g_path, 1, "c:0", &got), VS_ENOTFOUND);
    assert_string_equal(vs_errmsg(), "Key c not found in checkpoint");

    vs_ckpt *f = NULL;
    OK(vs_ckpt_open(g_path, &f));
    vs_tensor *many[3] = {NULL, NULL, NULL};
    const char *want[] = {"a:0", "a", "b:0"};
    OK(vs_ckpt_load_many(f, 1, want, 3, many));
    assert_tensor_equal(many[0], a0);
    assert_tensor_equal(many[1], a);
    assert_tensor_equal(many[2], b);
    for (int i = 0; i < 3; i++)
        vs_tensor_free(many[i]);
    /* streamed under the names vs_list_variables gives */
    vs_tensor_info *infos = NULL;
    size_t n = 0;
    OK(vs_ckpt_list_variables(f, 1, &infos, &n));
    assert_int_equal(n, 3);
    const char *keys[3];
    const vs_tensor *exp[3];
    for (size_t i = 0; i < n; i++) {
        keys[i] = infos[i].name;
        exp[i] = strcmp(keys[i], "a") == 0 ? a
                 : strcmp(keys[i], "a:0") == 0 ? a0 : b;
    }
    rec_sink r;
    vs_stream_sink sk;
    rec_init(&r, exp, 3);
    rec_sink_of(&r, &sk, 2);
    OK(vs_ckpt_stream(f, 1, keys, 3, &sk));
    assert_int_equal(r.n_bad, 0);
    for (size_t i = 0; i < 3; i++)
        assert_memory_equal(r.buf[i], exp[i]->data, r.len[i]);
    rec_free(&r);
    vs_tensor_info_free(infos, n);
    vs_ckpt_close(f);
    vs_tensor_free(a);
    vs_tensor_free(a0);
    vs_tensor_free(b);
}

/* A failed sqlite3_bind_* is an error naming the file, never a NULL
 * parameter: with SQLITE_LIMIT_LENGTH below the key's length the key's
 * bind fails (SQLITE_TOOBIG), where a silent NULL would have made the
 * lookup report "Key ... not found". */
static void test_store__failed_bind_is_an_error(void **state)
{
    (void)state;
    const int64_t shape[] = {4};
    vs_tensor *t = mk(VS_FLOAT32, 1, shape);
    fill_weights(t);
    /* longer than the limit set below, which must still admit the
     * lookup's SQL text (SQLite caps statement length at it too) */
    char key[400];
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    memcpy(key, "layer/", 6);
    save1(g_path, 1, key, t, NULL);
    char want[1024];

    sqlite3 *db = NULL;
    OK(vs__store_open(g_path, VS_OPEN_READ, 0, &db));
    vs__load_item it;
    memset(&it, 0, sizeof it);
    it.key = key;
    int old = sqlite3_limit(db, SQLITE_LIMIT_LENGTH, 300);
    assert_int_equal(vs__load_lookup(db, g_path, 1, &it, 1), VS_ERROR);
    snprintf(want, sizeof want,
             "cannot read checkpoint file %s: string or blob too big", g_path);
    assert_string_equal(vs_errmsg(), want);
    /* the connection stays usable: with the limit back, the same lookup
     * finds the tensor */
    sqlite3_limit(db, SQLITE_LIMIT_LENGTH, old);
    OK(vs__load_lookup(db, g_path, 1, &it, 1));
    assert_int_equal(it.nbytes, 4 * sizeof(float));
    assert_int_equal(it.n_chunks, 1);

    /* vs__store_bindfail: SQLITE_RANGE and SQLITE_NOMEM map to VS codes
     * and messages, and the statement is reset with its bindings cleared
     * (a later step sees NULL, not the value bound before the failure). */
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT ?1", -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_bind_int(st, 1, 7), SQLITE_OK);
    int b = sqlite3_bind_int(st, 5, 1);
    assert_int_equal(b, SQLITE_RANGE);
    assert_int_equal(vs__store_bindfail(st, b, "cannot update checkpoint file",
                                        g_path),
                     VS_ERROR);
    snprintf(want, sizeof want,
             "cannot update checkpoint file %s: column index out of range",
             g_path);
    assert_string_equal(vs_errmsg(), want);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_type(st, 0), SQLITE_NULL);
    assert_int_equal(vs__store_bindfail(st, SQLITE_NOMEM,
                                        "cannot save checkpoint to", g_path),
                     VS_ENOMEM);
    snprintf(want, sizeof want, "cannot save checkpoint to %s: out of memory",
             g_path);
    assert_string_equal(vs_errmsg(), want);
    /* reset: the statement runs again from the start */
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    sqlite3_finalize(st);
    vs__store_close(db);
    vs_tensor_free(t);
}

/* n_vars so large that n_vars * sizeof(pointer) overflows: VS_EINVAL
 * before anything is read from the list. */
static void test_store__n_vars_overflow(void **state)
{
    (void)state;
    vs_var *vars[2];
    vs_graph *g = model(1, vars);
    size_t huge = SIZE_MAX / sizeof(vs_var *) + 1;
    char want[128];
    snprintf(want, sizeof want, "n_vars %zu is too large", huge);

    vs_save_opts so;
    memset(&so, 0, sizeof so);
    so.vars = vars;
    so.n_vars = huge;
    assert_int_equal(vs_save_ex(g, g_path, 1, &so), VS_EINVAL);
    assert_string_equal(vs_errmsg(), want);
    struct stat sb;
    assert_int_not_equal(stat(g_path, &sb), 0); /* nothing was written */

    so.n_vars = 2;
    OK(vs_save_ex(g, g_path, 1, &so));
    vs_restore_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.vars = vars;
    ro.n_vars = huge;
    assert_int_equal(vs_restore_ex(g, g_path, 1, &ro), VS_EINVAL);
    assert_string_equal(vs_errmsg(), want);
    ro.n_vars = 2;
    OK(vs_restore_ex(g, g_path, 1, &ro));
    vs_graph_close(g);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_store__every_dtype_round_trips_bit_exact),
        T(test_store__list_variables_sorted_with_stats),
        T(test_store__huge_float64_values_get_mean_and_std),
        T(test_store__missing_empty_random_foreign_files),
        T(test_store__truncated_file_is_corrupt),
        T(test_store__symbolic_link_as_checkpoint_path_is_refused),
        T(test_store__damaged_adler_trailer),
        T(test_store__flipped_byte_is_corrupt_never_wrong_values),
        T(test_store__unchanged_weights_cost_under_one_percent),
        T(test_store__retention_as_tf_saver),
        T(test_store__zeroed_save_opts_honour_file_retention),
        T(test_store__set_retention_refuses_nan_inf_negative_hours),
        T(test_store__save_opts_refuse_nan_inf_hours),
        T(test_store__keep_every_n_hours),
        T(test_store__deleted_space_is_reused_then_compacted),
        T(test_store__rename_prefix),
        T(test_store__graph_save_restore_200_variables),
        T(test_store__restore_errors_keep_old_values),
        T(test_store__restore_in_place_and_through_scratch),
        T(test_store__journal_modes),
        T(test_store__journal_mode_switch_needs_the_file_alone),
        T(test_store__large_save_alone_runs_solo),
        T(test_store__large_save_stays_wal_for_readers),
        T(test_store__declared_journal_mode_comes_back),
        T(test_store__subset_rename_and_prefix),
        T(test_store__init_from_checkpoint_tf_rules),
        T(test_store__init_from_checkpoint_root),
        T(test_store__argument_checks),
        T(test_store__same_bytes_for_any_thread_count),
        T(test_store__same_bytes_other_dtype_not_shared),
        T(test_store__first_save_hashes_as_later_saves_do),
        T(test_store__file_without_checkpoints_and_directories),
        T(test_store__save_progress),
        T(test_store__restore_progress),
        T(test_store__restore_progress_cannot_meddle),
        T(test_store__verify_progress),
        T(test_store__read_handle_snapshot),
        T(test_store__read_handle_loads_many),
        T(test_store__stream_gives_each_tensor_once_in_order),
        T(test_store__stream_callback_may_call_the_library),
        T(test_store__stream_stops_at_a_failing_callback),
        T(test_store__stream_argument_checks),
        T(test_store__stream_stops_at_a_damaged_chunk),
        T(test_store__stream_stops_at_a_damaged_chunk_row),
        T(test_store__key_ending_in_colon_zero),
        T(test_store__failed_bind_is_an_error),
        T(test_store__n_vars_overflow),
    };
    return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
