/* Tensor names stored once (schema version 3): long names do not grow
 * each step's rows, a name goes with its last row (delete, prune,
 * retention, a replaced step, rename), reads by (step, name) and lists of
 * a step use the indexes, and the integrity checks know the names table
 * and the schema's views. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "file/schema.h"
#include "varstore.h"

#define STORE_TEST_NAME "vs_test_names"
#include "support/store_test.h"

#define N_LONG 2000
#define LONG_LEN 4000
#define N_STEPS 10

static long long size_of(const char *p)
{
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    return (long long)sb.st_size;
}

/* 2000 tensors named by 4000 characters, saved with the same values at
 * 10 steps: each step after the first adds its rows, not its names. The
 * names are 8 MB; version 2 stored them in every step's rows and again in
 * its UNIQUE(step, name) index (16 MB more per step). */
static void test_names__long_names_do_not_grow_each_step(void **state)
{
    (void)state;
    char **names = calloc(N_LONG, sizeof *names);
    vs_tensor **ts = calloc(N_LONG, sizeof *ts);
    assert_non_null(names);
    assert_non_null(ts);
    int64_t one = 1;
    for (int i = 0; i < N_LONG; i++) {
        names[i] = malloc(LONG_LEN + 1);
        assert_non_null(names[i]);
        char pre[16];
        int k = snprintf(pre, sizeof pre, "layer%04d/", i);
        memset(names[i], 'n', LONG_LEN);
        memcpy(names[i], pre, (size_t)k);
        names[i][LONG_LEN] = '\0';
        ts[i] = mk(VS_FLOAT32, 1, &one);
        *(float *)ts[i]->data = (float)i;
    }
    long long first = 0;
    for (int64_t step = 1; step <= N_STEPS; step++) {
        OK(vs_save_tensors(g_path, step, (const char *const *)names,
                           (const vs_tensor *const *)ts, N_LONG, NULL));
        if (step == 1)
            first = size_of(g_path);
    }
    long long per_step = (size_of(g_path) - first) / (N_STEPS - 1);
    long long names_bytes = (long long)N_LONG * LONG_LEN;
    print_message("file after step 1: %lld bytes, then %lld per step (names: "
                  "%lld bytes)\n",
                  first, per_step, names_bytes);
    assert_true(per_step < names_bytes / 10);
    vs_tensor *got = NULL;
    OK(vs_load_variable(g_path, 7, names[N_LONG - 1], &got));
    assert_true(*(float *)got->data == (float)(N_LONG - 1));
    vs_tensor_free(got);
    for (int i = 0; i < N_LONG; i++) {
        free(names[i]);
        vs_tensor_free(ts[i]);
    }
    free(names);
    free(ts);
}

/* Saves one small tensor under each of the n names at step. */
static void save_names(int64_t step, const char *const *nm, size_t n,
                       const vs_save_opts *o)
{
    int64_t sh = 3;
    vs_tensor *t = mk(VS_FLOAT32, 1, &sh);
    const vs_tensor *ts[8];
    assert_true(n <= 8);
    for (size_t i = 0; i < n; i++)
        ts[i] = t;
    OK(vs_save_tensors(g_path, step, nm, ts, n, o));
    vs_tensor_free(t);
}

/* The rows of names, in name order, joined by ','. */
static void assert_names_are(const char *want)
{
    sqlite3 *db = raw_open(g_path);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT group_concat(name, ',') FROM "
                                        "(SELECT name FROM names ORDER BY "
                                        "name)",
                                        -1, &st, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    const char *got = (const char *)sqlite3_column_text(st, 0);
    assert_string_equal(got != NULL ? got : "", want);
    sqlite3_finalize(st);
    sqlite3_close(db);
    size_t bad = 1;
    OK(vs_verify(g_path, &bad));
    assert_int_equal(bad, 0);
}

static void test_names__a_name_goes_with_its_last_row(void **state)
{
    (void)state;
    const char *s1[] = {"a", "b"}, *s2[] = {"a", "c"}, *s3[] = {"a", "d"},
               *s2b[] = {"a", "e"}, *s4[] = {"f"};
    save_names(1, s1, 2, NULL);
    save_names(2, s2, 2, NULL);
    save_names(3, s3, 2, NULL);
    assert_names_are("a,b,c,d");
    OK(vs_delete_checkpoint(g_path, 1));
    assert_names_are("a,c,d");
    save_names(2, s2b, 2, NULL); /* the step replaced */
    assert_names_are("a,d,e");
    OK(vs_prune(g_path, 1));
    assert_names_are("a,d");
    vs_save_opts o = {.max_to_keep = 1};
    save_names(4, s4, 1, &o); /* retention deletes step 3 */
    assert_names_are("f");
}

static void test_names__rename_moves_rows_to_the_new_name(void **state)
{
    (void)state;
    const char *s1[] = {"net/a", "net/b"}, *s2[] = {"net/a"};
    save_names(1, s1, 2, NULL);
    save_names(2, s2, 1, NULL);
    OK(vs_rename_prefix(g_path, "net", "model", 2));
    assert_names_are("model/a,net/a,net/b");
    OK(vs_rename_prefix(g_path, "net", "model", VS_ALL_STEPS));
    assert_names_are("model/a,model/b");
    /* A rename onto a name another renamed row leaves. */
    const char *s3[] = {"x/a/y", "x/y"};
    save_names(3, s3, 2, NULL);
    OK(vs_rename_prefix(g_path, "x/", "x/a/", 3));
    assert_names_are("model/a,model/b,x/a/a/y,x/a/y");
    vs_tensor *got = NULL;
    OK(vs_load_variable(g_path, 3, "x/a/a/y", &got));
    vs_tensor_free(got);
    OK(vs_load_variable(g_path, 1, "model/b", &got));
    vs_tensor_free(got);
}

/* Whether the query plan of sql reads a table whole (a SCAN). */
static int plan_scans(sqlite3 *db, const char *sql)
{
    char q[512];
    snprintf(q, sizeof q, "EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, q, -1, &st, NULL), SQLITE_OK);
    int scans = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(st, 3);
        scans |= d != NULL && strncmp(d, "SCAN", 4) == 0;
    }
    sqlite3_finalize(st);
    return scans;
}

static void test_names__step_reads_use_the_indexes(void **state)
{
    (void)state;
    const char *s1[] = {"a", "b"};
    save_names(1, s1, 2, NULL);
    save_names(2, s1, 2, NULL);
    sqlite3 *db = raw_open(g_path);
    assert_false(plan_scans(db, "SELECT id, dtype, shape, numel, n_chunks, "
                                "raw_bytes, crc32, meta_crc FROM tensors "
                                "WHERE step=?1 AND name=?2"));
    assert_false(plan_scans(db, "SELECT name, shape FROM tensors WHERE "
                                "step=?1 ORDER BY name"));
    assert_false(plan_scans(db, "SELECT step, min, max FROM tensors WHERE "
                                "name='a' ORDER BY step"));
    assert_false(plan_scans(db, "SELECT name FROM latest"));
    assert_true(plan_scans(db, "SELECT name FROM tensors")); /* the probe */
    sqlite3_close(db);
}

static void assert_refused(const char *what)
{
    const char *nm[] = {"a"};
    int64_t sh = 3;
    vs_tensor *t = mk(VS_FLOAT32, 1, &sh);
    const vs_tensor *ts[] = {t};
    assert_int_equal(vs_save_tensors(g_path, 9, nm, ts, 1, NULL),
                     VS_ECORRUPT);
    vs_tensor_free(t);
    if (strstr(vs_errmsg(), what) == NULL)
        fail_msg("no \"%s\" in %s", what, vs_errmsg());
    assert_int_equal(vs_verify(g_path, NULL), VS_ECORRUPT);
}

/* The schema's views are checked by their SQL: one that hides a step's
 * rows is refused by writers and vs_verify, as is a missing one. */
static void test_names__changed_view_is_refused(void **state)
{
    (void)state;
    const char *s1[] = {"a", "b"};
    save_names(1, s1, 2, NULL);
    raw_exec(g_path, "DROP VIEW latest; DROP VIEW tensors; "
                     "CREATE VIEW tensors AS SELECT r.id AS id, r.step AS "
                     "step, n.name AS name, r.dtype AS dtype, r.shape AS "
                     "shape, r.numel AS numel, r.codec AS codec, "
                     "r.chunk_bytes AS chunk_bytes, r.n_chunks AS n_chunks, "
                     "r.raw_bytes AS raw_bytes, r.stored_bytes AS "
                     "stored_bytes, r.crc32 AS crc32, r.min AS min, r.max AS "
                     "max, r.mean AS mean, r.std AS std, r.n_nan AS n_nan, "
                     "r.n_inf AS n_inf, r.meta_crc AS meta_crc FROM "
                     "tensor_rows r JOIN names n ON n.id = r.name_id WHERE "
                     "n.name <> 'b'; " VS_SQL_LATEST_VIEW);
    assert_refused("view tensors is not the varstore schema's");
    raw_exec(g_path, "DROP VIEW latest; DROP VIEW tensors; "
                     VS_SQL_TENSORS_VIEW);
    assert_refused("view latest is missing");
    raw_exec(g_path, VS_SQL_LATEST_VIEW);
    save_names(2, s1, 2, NULL);
    OK(vs_verify(g_path, NULL));
}

/* A tensor row whose name row is gone drops out of the view: its step no
 * longer matches its checkpoint row. */
static void test_names__row_without_its_name_is_corrupt(void **state)
{
    (void)state;
    const char *s1[] = {"a", "b"}, *s2[] = {"a"};
    save_names(1, s1, 2, NULL);
    save_names(2, s2, 1, NULL);
    raw_exec(g_path, "DELETE FROM names WHERE name='b'");
    vs_tensor *got = NULL;
    assert_int_equal(vs_load_variable(g_path, 1, "a", &got), VS_ECORRUPT);
    assert_non_null(strstr(vs_errmsg(), "step 1"));
    size_t bad = 0;
    assert_int_equal(vs_verify(g_path, &bad), VS_ECORRUPT);
    assert_int_equal(bad, 2); /* step 1, and the row that has no name */
    OK(vs_load_variable(g_path, 2, "a", &got));
    vs_tensor_free(got);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_names__long_names_do_not_grow_each_step),
        T(test_names__a_name_goes_with_its_last_row),
        T(test_names__rename_moves_rows_to_the_new_name),
        T(test_names__step_reads_use_the_indexes),
        T(test_names__changed_view_is_refused),
        T(test_names__row_without_its_name_is_corrupt),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
