/* Saves into rollback-journal files write their pages as the chunks come,
 * not all at the commit (a small page cache that spills), and start the
 * disk's writes early through SQLite's own descriptor of the file
 * (store/file/writeback.c): found only when it is the unix VFS's and open
 * on the very file, the one a first save fills before it has its name. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "store_int.h"
#include "varstore.h"

#define STORE_TEST_NAME "vs_test_writeback"
#include "support/store_test.h"

/* mib MiB of float32 values that no chunk shares. */
static vs_tensor *distinct(int64_t mib, uint32_t seed)
{
    int64_t sh[1] = {mib << 18};
    vs_tensor *t = mk(VS_FLOAT32, 1, sh);
    uint32_t *u = t->data;
    uint32_t x = seed * 2654435761u + 1u;
    for (int64_t i = 0; i < sh[0]; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        u[i] = (x & 0x3fffffffu) | 0x3c000000u; /* finite values */
    }
    return t;
}

/* A write connection to path, which gets a checkpoint first. */
static sqlite3 *writer_of(const char *path, uint32_t seed)
{
    vs_tensor *t = distinct(1, seed);
    save1(path, 1, "w", t, NULL);
    vs_tensor_free(t);
    sqlite3 *db = NULL;
    OK(vs__store_open(path, VS_OPEN_WRITE, 0, &db));
    return db;
}

static void test_writeback__finds_sqlites_descriptor_of_the_file(void **st)
{
    (void)st;
    sqlite3 *db = writer_of(g_path, 1);
    vs__writeback w;
    vs__writeback_init(&w, db, g_path);
#ifdef __linux__
    assert_true(w.fd >= 0);
    struct stat a, b;
    assert_int_equal(fstat(w.fd, &a), 0);
    assert_int_equal(stat(g_path, &b), 0);
    assert_true(a.st_dev == b.st_dev && a.st_ino == b.st_ino);
    /* Kicking the disk's writes is a hint that changes nothing else. */
    vs__writeback_add(&w, VS_WRITEBACK_BYTES);
    assert_true(w.fd >= 0);
    assert_int_equal(w.pending, 0);
#else
    assert_int_equal(w.fd, -1);
#endif
    vs__store_close(db);
}

static void test_writeback__none_for_a_connection_of_another_file(void **st)
{
    (void)st;
    vs__store_close(writer_of(g_path, 2));
    char other[600];
    snprintf(other, sizeof other, "%s.other", g_path);
    remove_db(other);
    sqlite3 *db = writer_of(other, 3);
    vs__writeback w;
    /* The connection's file is not the path given: no descriptor. */
    vs__writeback_init(&w, db, g_path);
    assert_int_equal(w.fd, -1);
    vs__writeback_add(&w, 2 * VS_WRITEBACK_BYTES); /* does nothing */
    assert_int_equal(w.fd, -1);
    vs__store_close(db);
    remove_db(other);
}

/* The file's size on disk, at each progress call of the save. */
typedef struct {
    const char *path;
    long long max_size;
    uint64_t done_at_max;
} growth;

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    growth *g = ctx;
    struct stat sb;
    if (done < total && stat(g->path, &sb) == 0 &&
        (long long)sb.st_size > g->max_size) {
        g->max_size = (long long)sb.st_size;
        g->done_at_max = done;
    }
}

static void test_writeback__a_save_writes_pages_before_its_commit(void **st)
{
    (void)st;
    /* 24 MiB: one transaction (no batches), larger than the page cache. */
    vs_tensor *t = distinct(24, 3);
    growth g = {g_path, 0, 0};
    vs_save_opts o = {0};
    o.codec = VS_CODEC_RAW;
    o.progress = on_progress;
    o.progress_ctx = &g;
    save1(g_path, 1, "w", t, &o);
    vs_tensor_free(t);
    /* Before the commit, most of what was encoded is in the file already
     * (a cache that kept every page would leave the file at its empty
     * size until the commit). */
    assert_true(g.max_size >= (long long)16 << 20);
    assert_true((uint64_t)g.max_size <= g.done_at_max + ((uint64_t)8 << 20));
    size_t n = 0;
    vs_ckpt_info *cks = NULL;
    OK(vs_list_checkpoints(g_path, &cks, &n));
    assert_int_equal(n, 1);
    vs_free(cks);
    size_t bad = 1;
    OK(vs_verify(g_path, &bad));
    assert_int_equal(bad, 0);
}

/* A first save fills its new file under a temporary name: the writes it
 * starts are on that file's descriptor (found under that name, not the
 * path the file gets at the end). */
static void test_writeback__a_first_save_starts_its_files_writes(void **st)
{
    (void)st;
    vs_tensor *t = distinct(6, 4); /* built aside: at most 16 MiB */
    vs_save_opts o = {0};
    o.codec = VS_CODEC_RAW;
    size_t before = vs__writeback_starts();
    save1(g_path, 1, "w", t, &o);
    size_t starts = vs__writeback_starts() - before;
    print_message("writes started during a 6 MiB first save: %zu\n", starts);
    assert_true(starts >= 4);
    vs_tensor *got = NULL;
    OK(vs_load_variable(g_path, 1, "w", &got));
    assert_memory_equal(got->data, t->data, vs_tensor_nbytes(t));
    vs_tensor_free(got);
    vs_tensor_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_writeback__finds_sqlites_descriptor_of_the_file),
        T(test_writeback__none_for_a_connection_of_another_file),
        T(test_writeback__a_save_writes_pages_before_its_commit),
        T(test_writeback__a_first_save_starts_its_files_writes),
#undef T
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
