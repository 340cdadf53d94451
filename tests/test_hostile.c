/* Hostile checkpoint files: files edited through SQL the way an attacker
 * with the sqlite3 library can, checksums (meta_crc, tensors_crc)
 * recomputed so that only the deeper checks can notice. Declared sizes
 * that no chunk row backs, SQL views that never end, codec numbers beyond
 * an int, and rows that no read of a listed tensor meets: each is a clear
 * VS_ECORRUPT naming what is wrong, never a huge allocation, a hang or a
 * reinterpretation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "varstore.h"

#define STORE_TEST_NAME "vs_test_hostile"
#include "support/store_test.h"

/* CRC-32 (zlib's), bit by bit: what the attacker recomputes. */
static uint32_t crc32_add(uint32_t crc, const void *p, size_t n)
{
    const unsigned char *b = p;
    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= b[i];
        for (int k = 0; k < 8; k++)
            crc = crc & 1 ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
    }
    return ~crc;
}

static void exec_bound(sqlite3 *db, const char *sql, int64_t a, int64_t b)
{
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_bind_int64(st, 1, a), SQLITE_OK);
    assert_int_equal(sqlite3_bind_int64(st, 2, b), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
}

/* Every tensor row's meta_crc from its name, dtype and shape. */
static void reseal_rows(sqlite3 *db)
{
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT id, name, dtype, shape FROM "
                                        "tensors",
                                        -1, &q, NULL),
                     SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW) {
        uint32_t c = 0;
        for (int col = 1; col <= 3; col++) {
            const char *s = (const char *)sqlite3_column_text(q, col);
            c = crc32_add(c, s, strlen(s) + (col < 3));
        }
        exec_bound(db, "UPDATE tensor_rows SET meta_crc=?1 WHERE id=?2", c,
                   sqlite3_column_int64(q, 0));
    }
    sqlite3_finalize(q);
}

/* Every checkpoint row's tensors_crc and n_tensors from its rows. */
static void reseal_steps(sqlite3 *db)
{
    sqlite3_stmt *q = NULL, *n = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT step FROM checkpoints",
                                        -1, &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT name FROM tensors WHERE "
                                        "step=?1 ORDER BY name",
                                        -1, &n, NULL),
                     SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW) {
        int64_t step = sqlite3_column_int64(q, 0), count = 0;
        uint32_t c = 0;
        sqlite3_reset(n);
        assert_int_equal(sqlite3_bind_int64(n, 1, step), SQLITE_OK);
        while (sqlite3_step(n) == SQLITE_ROW) {
            const char *s = (const char *)sqlite3_column_text(n, 0);
            c = crc32_add(c, s, strlen(s) + 1);
            count++;
        }
        exec_bound(db, "UPDATE checkpoints SET tensors_crc=?1 WHERE step=?2",
                   c, step);
        exec_bound(db, "UPDATE checkpoints SET n_tensors=?1 WHERE step=?2",
                   count, step);
    }
    sqlite3_finalize(q);
    sqlite3_finalize(n);
}

/* Runs sql on g_path, then recomputes every checksum over metadata. */
static void tamper(const char *sql)
{
    raw_exec(g_path, sql);
    sqlite3 *db = raw_open(g_path);
    reseal_rows(db);
    reseal_steps(db);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static vs_tensor *ramp(int64_t n)
{
    vs_tensor *t = mk(VS_FLOAT32, 1, &n);
    for (int64_t i = 0; i < n; i++)
        ((float *)t->data)[i] = 0.25f * (float)i;
    return t;
}

static void expect_msg(const char *what)
{
    if (strstr(vs_errmsg(), what) == NULL)
        fail_msg("no \"%s\" in: %s", what, vs_errmsg());
}

static void assert_verify_names(const char *what)
{
    size_t bad = 0;
    assert_int_equal(vs_verify(g_path, &bad), VS_ECORRUPT);
    expect_msg(what);
    assert_true(bad >= 1);
}

static int sink_write(void *ctx, size_t i, uint64_t off, const void *d,
                      size_t len)
{
    (void)ctx, (void)i, (void)off, (void)d, (void)len;
    return 0;
}

/* A read of tensor w at step 1 through every entry point: VS_ECORRUPT
 * naming what. */
static void assert_reads_corrupt(const char *what)
{
    vs_tensor *t = NULL;
    assert_int_equal(vs_load_variable(g_path, 1, "w", &t), VS_ECORRUPT);
    assert_null(t);
    expect_msg(what);
    vs_ckpt *f = NULL;
    OK(vs_ckpt_open(g_path, &f));
    const char *names[] = {"w"};
    vs_stream_sink sink = {.write = sink_write};
    assert_int_equal(vs_ckpt_stream(f, 1, names, 1, &sink), VS_ECORRUPT);
    expect_msg(what);
    vs_tensor *many[1] = {NULL};
    assert_int_equal(vs_ckpt_load_many(f, 1, names, 1, many), VS_ECORRUPT);
    expect_msg(what);
    assert_null(many[0]);
    vs_ckpt_close(f);
    assert_verify_names(what);
}

/* A shape of 2^40 elements whose numel, raw_bytes and checksums agree:
 * before, vs_load_variable asked for 4 TiB (VS_ENOMEM; ASan aborted) and
 * the chunk list was read only after. */
static void test_hostile__declared_huge_shape_is_corrupt_not_allocated(
    void **st)
{
    (void)st;
    vs_tensor *t = ramp(1000);
    save1(g_path, 1, "w", t, NULL);
    tamper("UPDATE tensor_rows SET shape='[1099511627776]', "
           "numel=1099511627776, raw_bytes=4398046511104");
    assert_reads_corrupt("chunk rows do not hold");
    /* The listing shows what the row declares: listing allocates nothing
     * by it. */
    vs_tensor_info *infos = NULL;
    size_t n = 0;
    OK(vs_list_variables(g_path, 1, &infos, &n));
    assert_int_equal(n, 1);
    assert_int_equal(infos[0].shape[0], INT64_C(1099511627776));
    vs_tensor_info_free(infos, n);
    vs_tensor_free(t);
}

/* 2^36 one-byte chunks declared: the list of jobs (per chunk) was sized
 * by them before any chunk row was read. */
static void test_hostile__declared_chunk_count_is_corrupt_not_allocated(
    void **st)
{
    (void)st;
    int64_t n = 4000;
    vs_tensor *t = mk(VS_UINT8, 1, &n);
    memset(t->data, 7, (size_t)n);
    save1(g_path, 1, "w", t, NULL);
    tamper("UPDATE tensor_rows SET shape='[68719476736]', "
           "numel=68719476736, raw_bytes=68719476736, "
           "n_chunks=68719476736");
    assert_reads_corrupt("in 68719476736 chunks its row declares");
    vs_tensor_free(t);
}

/* The check must not refuse what dedup legitimately makes: 80 MiB of
 * zeros, 80 chunk rows sharing one chunk of a few hundred bytes. */
static void test_hostile__deduplicated_large_tensor_still_loads(void **st)
{
    (void)st;
    int64_t n = (int64_t)80 << 20;
    vs_tensor *t = mk(VS_UINT8, 1, &n);
    memset(t->data, 0, (size_t)n);
    save1(g_path, 1, "zeros", t, NULL);
    sqlite3 *db = raw_open(g_path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM chunks"), 1);
    assert_int_equal(q_int(db, "SELECT count(*) FROM tensor_chunks"), 80);
    sqlite3_close(db);
    vs_tensor *got = NULL;
    OK(vs_load_variable(g_path, 1, "zeros", &got));
    assert_memory_equal(got->data, t->data, (size_t)n);
    vs_tensor_free(got);
    OK(vs_verify(g_path, NULL));
    vs_tensor_free(t);
}

/* A view tensors that never ends (a recursive CTE with the schema's
 * columns): readers did not check the views' text and every read of a
 * tensor list hung. The alarm turns a hang into a failure. */
static void test_hostile__recursive_tensors_view_is_refused_by_readers(
    void **st)
{
    (void)st;
    vs_tensor *t = ramp(10);
    save1(g_path, 1, "w", t, NULL);
    raw_exec(g_path,
             "DROP VIEW latest; DROP VIEW tensors; "
             "CREATE VIEW tensors AS WITH RECURSIVE c(x) AS (SELECT 1 UNION "
             "ALL SELECT x + 1 FROM c) SELECT r.id AS id, r.step AS step, "
             "n.name AS name, r.dtype AS dtype, r.shape AS shape, r.numel AS "
             "numel, r.codec AS codec, r.chunk_bytes AS chunk_bytes, "
             "r.n_chunks AS n_chunks, r.raw_bytes AS raw_bytes, "
             "r.stored_bytes AS stored_bytes, r.crc32 AS crc32, r.min AS min, "
             "r.max AS max, r.mean AS mean, r.std AS std, r.n_nan AS n_nan, "
             "r.n_inf AS n_inf, r.meta_crc AS meta_crc FROM c, tensor_rows r "
             "JOIN names n ON n.id = r.name_id; "
             "CREATE VIEW latest AS SELECT * FROM tensors WHERE step = "
             "(SELECT max(step) FROM checkpoints);");
    alarm(60);
    vs_tensor_info *infos = NULL;
    size_t n = 0;
    assert_int_equal(vs_list_variables(g_path, 1, &infos, &n), VS_ECORRUPT);
    expect_msg("view tensors is not the varstore schema's");
    vs_tensor *got = NULL;
    assert_int_equal(vs_load_variable(g_path, 1, "w", &got), VS_ECORRUPT);
    vs_ckpt *f = NULL;
    int rc = vs_ckpt_open(g_path, &f);
    if (rc == VS_OK) /* the checks may wait for the first call */
        rc = vs_ckpt_list_variables(f, 1, &infos, &n);
    assert_int_equal(rc, VS_ECORRUPT);
    vs_ckpt_close(f);
    /* Refused at the open, as a truncated file is: no tensor counted. */
    assert_int_equal(vs_verify(g_path, NULL), VS_ECORRUPT);
    expect_msg("view tensors");
    const char *names[] = {"w"};
    const vs_tensor *ts[] = {t};
    assert_int_equal(vs_save_tensors(g_path, 2, names, ts, 1, NULL),
                     VS_ECORRUPT);
    alarm(0);
    vs_tensor_free(t);
}

/* A chunk codec of 2^32 + its own: read as an int it was the codec
 * again, and a save deduplicated onto the damaged chunk. */
static void test_hostile__codec_number_beyond_int_is_corrupt(void **st)
{
    (void)st;
    vs_tensor *t = ramp(3000);
    save1(g_path, 1, "w", t, NULL);
    raw_exec(g_path, "UPDATE chunks SET codec = codec + 4294967296");
    assert_reads_corrupt("unknown chunk codec");
    /* The same bytes saved again get a chunk of their own. */
    save1(g_path, 2, "w", t, NULL);
    vs_tensor *got = NULL;
    OK(vs_load_variable(g_path, 2, "w", &got));
    assert_memory_equal(got->data, t->data, vs_tensor_nbytes(t));
    vs_tensor_free(got);
    sqlite3 *db = raw_open(g_path);
    assert_int_equal(q_int(db, "SELECT count(*) FROM chunks"), 2);
    sqlite3_close(db);
    vs_tensor_free(t);
}

/* Two steps of w and b, then sql with every checksum recomputed: verify
 * names what (before, it passed all of these). */
static void rows_case(const char *sql, const char *what)
{
    vs_tensor *w = ramp(100), *b = ramp(3);
    const char *names[] = {"w", "b"};
    const vs_tensor *ts[] = {w, b};
    OK(vs_save_tensors(g_path, 1, names, ts, 2, NULL));
    OK(vs_save_tensors(g_path, 2, names, ts, 2, NULL));
    tamper(sql);
    assert_verify_names(what);
    vs_tensor_free(w);
    vs_tensor_free(b);
    remove_db(g_path);
}

static void test_hostile__rows_no_read_meets_are_named_by_verify(void **st)
{
    (void)st;
    /* A name no writer accepts: listed, and no load can ask for it. */
    rows_case("UPDATE names SET name='' WHERE name='b'",
              "a tensor at step 1 has an empty name");
    /* A name stored as a blob: listed, and no lookup by text finds it. */
    rows_case("UPDATE names SET name=CAST(name AS BLOB) WHERE name='b'",
              "has a name stored as blob, not text");
    rows_case("UPDATE checkpoints SET step=-5 WHERE step=1",
              "step -5 is negative");
    /* A tensor row moved to a step with no checkpoint row. */
    rows_case("UPDATE tensor_rows SET step=99 WHERE step=2 AND name_id="
              "(SELECT id FROM names WHERE name='b')",
              "which has no checkpoint row");
    /* A names row deleted: its tensor rows leave the view. */
    rows_case("DELETE FROM names WHERE name='b'",
              "has no name: names row");
    /* Tensor rows deleted and their chunk lists left: the next save's
     * tensor ids met them ("UNIQUE constraint failed"). */
    rows_case("DELETE FROM tensor_rows WHERE step=2",
              "which does not exist");
    rows_case("UPDATE chunks SET stored_bytes = stored_bytes + 5",
              "stored bytes, its data has");
}

/* Saves w at step 1, runs sql, and expects saves (and verify) to refuse
 * the file naming what; reads refuse it too when read_refused. */
static void sql_case(const char *sql, const char *what, int read_refused)
{
    vs_tensor *t = ramp(3000), *t2 = ramp(5000);
    save1(g_path, 1, "w", t, NULL);
    raw_exec(g_path, sql);
    const char *names[] = {"w"};
    const vs_tensor *ts[] = {t2};
    assert_int_equal(vs_save_tensors(g_path, 2, names, ts, 1, NULL),
                     VS_ECORRUPT);
    expect_msg(what);
    assert_int_equal(vs_prune(g_path, 1), VS_ECORRUPT);
    assert_int_equal(vs_verify(g_path, NULL), VS_ECORRUPT);
    expect_msg(what);
    vs_tensor *got = NULL;
    if (read_refused) {
        assert_int_equal(vs_load_variable(g_path, 1, "w", &got),
                         VS_ECORRUPT);
        expect_msg(what);
    } else {
        OK(vs_load_variable(g_path, 1, "w", &got));
        assert_memory_equal(got->data, t->data, vs_tensor_nbytes(t));
        vs_tensor_free(got);
    }
    vs_tensor_free(t);
    vs_tensor_free(t2);
    remove_db(g_path);
}

/* SQL that a write evaluates on every row it inserts: before, a save into
 * a file whose chunks had an index on printf('%.*c', 300000000, 'x') took
 * 15 s and 330 MB for 12 chunks. */
static void test_hostile__indexes_constraints_and_generated_columns_refused(
    void **st)
{
    (void)st;
    sql_case("CREATE INDEX evil ON chunks(length(printf('%.*c', 1000, "
             "'x')))",
             "it holds an index (evil)", 0);
    /* The schema's index name over another definition. */
    sql_case("DROP INDEX chunks_by_hash; CREATE INDEX chunks_by_hash ON "
             "chunks(hash) WHERE length(printf('%.*c', 1000, 'x')) > 0",
             "it holds an index (chunks_by_hash)", 0);
    sql_case("PRAGMA writable_schema=ON; UPDATE sqlite_master SET sql = "
             "replace(sql, 'data BLOB NOT NULL)', 'data BLOB NOT NULL, "
             "CHECK(length(printf(''%.*c'', 1000, ''x'')) > 0))') WHERE "
             "name = 'chunks'; PRAGMA writable_schema=OFF",
             "table chunks holds SQL", 0);
    sql_case("PRAGMA writable_schema=ON; UPDATE sqlite_master SET sql = "
             "replace(sql, 'writer TEXT', 'writer TEXT DEFAULT "
             "(printf(''%.*c'', 1000, ''x''))') WHERE name = 'checkpoints'; "
             "PRAGMA writable_schema=OFF",
             "table checkpoints holds SQL", 0);
    /* A generated column is evaluated by reads too. */
    sql_case("ALTER TABLE chunks ADD COLUMN g AS (length(printf('%.*c', "
             "1000, 'x')))",
             "table chunks holds SQL", 1);
}

/* Tensor rows deleted, their chunk list rows left: the next save's new
 * tensor row took the first gone id and met them, "UNIQUE constraint
 * failed" (VS_EIO). Now VS_ECORRUPT says what is wrong; nothing saved. */
static void test_hostile__save_meeting_orphan_chunk_rows_says_corrupt(
    void **st)
{
    (void)st;
    vs_tensor *t = ramp(100);
    save1(g_path, 1, "w", t, NULL);
    save1(g_path, 2, "w", t, NULL);
    tamper("DELETE FROM tensor_rows WHERE step=2");
    const char *names[] = {"w"};
    const vs_tensor *ts[] = {t};
    assert_int_equal(vs_save_tensors(g_path, 3, names, ts, 1, NULL),
                     VS_ECORRUPT);
    expect_msg("holds chunk list rows of tensor row");
    vs_ckpt_info *infos = NULL;
    size_t n = 0;
    OK(vs_list_checkpoints(g_path, &infos, &n));
    assert_int_equal(n, 2); /* steps 1 and 2 (empty now): no step 3 */
    vs_free(infos);
    vs_tensor_free(t);
}

/* Header byte 59 (the text encoding) set to 2, UTF-16le: SQLite read the
 * schema as UTF-16 and said "malformed database schema" in garbled
 * characters; now the header check names it. */
static void test_hostile__text_encoding_other_than_utf8_is_named(void **st)
{
    (void)st;
    vs_tensor *t = ramp(10);
    save1(g_path, 1, "w", t, NULL);
    FILE *f = fopen(g_path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 59, SEEK_SET), 0);
    assert_int_equal(fputc(2, f), 2);
    assert_int_equal(fclose(f), 0);
    vs_tensor *got = NULL;
    assert_int_equal(vs_load_variable(g_path, 1, "w", &got), VS_ECORRUPT);
    expect_msg("text encoding 2, not 1 (UTF-8)");
    assert_int_equal(vs_verify(g_path, NULL), VS_ECORRUPT);
    assert_int_equal(vs_save_tensors(g_path, 2, (const char *[]){"w"},
                                     (const vs_tensor *[]){t}, 1, NULL),
                     VS_ECORRUPT);
    expect_msg("text encoding 2");
    vs_tensor_free(t);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_hostile__declared_huge_shape_is_corrupt_not_allocated),
        T(test_hostile__declared_chunk_count_is_corrupt_not_allocated),
        T(test_hostile__deduplicated_large_tensor_still_loads),
        T(test_hostile__recursive_tensors_view_is_refused_by_readers),
        T(test_hostile__codec_number_beyond_int_is_corrupt),
        T(test_hostile__rows_no_read_meets_are_named_by_verify),
        T(test_hostile__indexes_constraints_and_generated_columns_refused),
        T(test_hostile__save_meeting_orphan_chunk_rows_says_corrupt),
        T(test_hostile__text_encoding_other_than_utf8_is_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
