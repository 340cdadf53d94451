/* What operations cost in I/O, counted through the io_shim VFS: deleting
 * a checkpoint, pruning, and retention inside a save write a number of
 * pages that depends on the rows deleted, not on the bytes of the tensors
 * (no freed page is overwritten, whatever the SQLite build's
 * secure_delete default); a small save into a new file asks SQLite for no
 * sync; a save
 * into an existing file locks it once before its write transaction; a
 * load reads the file in order. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "io_shim.h"
#include "varstore.h"

#define STORE_TEST_NAME "vs_test_io_cost"
#include "store_test.h"

/* mib MiB of distinct values (32 pages of 32 KiB per MiB). */
static void save_mib(int64_t step, int64_t mib, const vs_save_opts *o)
{
    int64_t sh[1] = {mib << 18};
    vs_tensor *t = mk(VS_FLOAT32, 1, sh);
    float *f = t->data;
    for (int64_t i = 0; i < sh[0]; i++)
        f[i] = (float)(step * 7919 + i % 100003) * 0.001f + (float)i;
    save1(g_path, step, "w", t, o);
    vs_tensor_free(t);
}

static void save_step(int64_t step, const vs_save_opts *o)
{
    save_mib(step, 8, o);
}

/* Write operations (writes, syncs, truncations) of one delete. */
static int64_t ops_of_delete(int64_t step)
{
    io_shim_arm(IO_FAULT_ONCE, INT64_MAX); /* counts, fails none */
    OK(vs_delete_checkpoint(g_path, step));
    return io_shim_ops();
}

static int64_t ops_of_prune(int keep)
{
    io_shim_arm(IO_FAULT_ONCE, INT64_MAX); /* counts, fails none */
    OK(vs_prune(g_path, keep));
    return io_shim_ops();
}

static void test_io_cost__deleting_writes_per_row_not_per_byte(void **st)
{
    (void)st;
    vs_save_opts raw = {0};
    raw.codec = VS_CODEC_RAW;
    save_mib(1, 2, &raw);
    save_mib(2, 32, &raw);
    save_mib(3, 2, &raw);
    save_mib(4, 32, &raw);
    save_mib(5, 2, &raw);
    int64_t small = ops_of_delete(1), big = ops_of_delete(2);
    print_message("writes: delete of 2 MiB %lld, of 32 MiB %lld\n",
                  (long long)small, (long long)big);
    /* Overwriting the freed pages would be 64 and 1024 writes. */
    assert_true(big < small + small / 2 + 16);
    int64_t prune = ops_of_prune(1); /* 34 MiB */
    print_message("writes: prune of 34 MiB %lld\n", (long long)prune);
    assert_true(prune < small + small / 2 + 16);
}

static void test_io_cost__retention_adds_few_writes_to_a_save(void **st)
{
    (void)st;
    vs_save_opts keep2 = {0}, all = {0};
    keep2.codec = all.codec = VS_CODEC_RAW;
    keep2.max_to_keep = 2;
    all.max_to_keep = VS_KEEP_ALL;
    for (int64_t s = 1; s <= 3; s++)
        save_step(s, &all);
    io_shim_arm(IO_FAULT_ONCE, INT64_MAX); /* counts, fails none */
    save_step(4, &all);
    int64_t without = io_shim_ops();
    io_shim_arm(IO_FAULT_ONCE, INT64_MAX); /* counts, fails none */
    save_step(5, &keep2); /* also deletes steps 1 to 3 */
    int64_t with = io_shim_ops();
    print_message("writes: save %lld, save deleting 3 steps %lld\n",
                  (long long)without, (long long)with);
    assert_true(with < without + without / 10 + 64);
}

/* Saves reuse the pages retention frees: after 40 saves with
 * max_to_keep = 3 the file holds about 3 steps, plus the one being
 * written before the oldest goes. */
static void test_io_cost__retention_keeps_the_file_near_its_kept_size(
    void **st)
{
    (void)st;
    vs_save_opts keep3 = {0};
    keep3.codec = VS_CODEC_RAW;
    keep3.max_to_keep = 3;
    for (int64_t s = 1; s <= 40; s++)
        save_mib(s, 2, &keep3);
    struct stat sb;
    assert_int_equal(stat(g_path, &sb), 0);
    print_message("file after 40 saves of 2 MiB, 3 kept: %lld bytes\n",
                  (long long)sb.st_size);
    assert_true(sb.st_size < (long long)(5 * 2 + 1) << 20);
}

/* Write operations (writes, syncs, truncations) of a save of mib MiB of
 * raw bytes, as step, into the file as it is. */
static int64_t ops_of_save(int64_t step, int64_t mib, const vs_save_opts *o)
{
    io_shim_arm(IO_FAULT_ONCE, INT64_MAX); /* counts, fails none */
    save_mib(step, mib, o);
    int64_t n = io_shim_ops();
    io_shim_clear();
    return n;
}

/* A save of 64 MiB into a rollback-journal file (the default), batched
 * as it is above 32 MiB, writes each of its 2048 pages of 32 KiB once:
 * only the few pages that existed and change go to the journal. The same
 * save into a WAL file whose readers must never wait writes them twice
 * (the log, then the file at its checkpoint). */
static void test_io_cost__a_large_save_writes_each_page_once(void **st)
{
    (void)st;
    vs_save_opts raw = {0};
    raw.codec = VS_CODEC_RAW;
    save_mib(1, 1, &raw);
    int64_t once = ops_of_save(2, 64, &raw);
    OK(vs_set_journal_mode(g_path, VS_JOURNAL_WAL));
    raw.readers_never_wait = 1;
    int64_t wal = ops_of_save(3, 64, &raw);
    print_message("writes of a 64 MiB save: rollback journal %lld, WAL "
                  "%lld\n",
                  (long long)once, (long long)wal);
    assert_true(once >= 2048 && once < 2048 + 2048 / 8);
    assert_true(wal >= 2 * 2048);
}

/* Syncs SQLite asks for during a save of one small tensor to path. */
static int64_t syncs_of_save(const char *path, int64_t step)
{
    int64_t sh[1] = {1024};
    vs_tensor *t = mk(VS_FLOAT32, 1, sh);
    memset(t->data, 0, 4096);
    io_shim_arm(IO_FAULT_ONCE, INT64_MAX); /* counts, fails none */
    save1(path, step, "w", t, NULL);
    int64_t n = io_shim_syncs();
    io_shim_clear();
    vs_tensor_free(t);
    return n;
}

/* A small save into a path that does not exist fills the new file before
 * it has a name, and varstore syncs it once before linking it: SQLite is
 * asked for no sync at all, where a save into an existing file asks for
 * its journal's and the file's. */
static void test_io_cost__a_small_save_into_a_new_file_asks_sqlite_for_no_sync(
    void **st)
{
    (void)st;
    int64_t first = syncs_of_save(g_path, 1); /* creates the file */
    int64_t second = syncs_of_save(g_path, 2);
    print_message("syncs: save into a new file %lld, into an existing one "
                  "%lld\n", (long long)first, (long long)second);
    assert_true(second > 0);
    assert_int_equal(first, 0);
    vs_ckpt_info *info = NULL;
    size_t n = 0;
    OK(vs_list_checkpoints(g_path, &info, &n));
    assert_int_equal(n, 2);
    vs_free(info);
}

/* SHARED locks a save of one small tensor takes before its write
 * transaction's RESERVED lock (that transaction's own among them). */
static int64_t shared_locks_before_saving(int64_t step)
{
    int64_t sh[1] = {1024};
    vs_tensor *t = mk(VS_FLOAT32, 1, sh);
    memset(t->data, 0, 4096);
    io_shim_arm(IO_FAULT_ONCE, INT64_MAX); /* counts, fails none */
    save1(g_path, step, "w", t, NULL);
    int64_t n = io_shim_shared_before_write();
    io_shim_clear();
    vs_tensor_free(t);
    return n;
}

/* The save's checks (identity, version, tables, journal mode) run in its
 * write transaction: before it, only SQLite's loading of the schema reads
 * the file (one lock, one read transaction), not the checks and the
 * journal mode each in a transaction of their own (four locks in all
 * before, and five for a save of 1 MiB or more). */
static void test_io_cost__saving_into_a_file_reads_it_once_before_writing(
    void **st)
{
    (void)st;
    /* Step 1 creates the file (whose building connection takes the first
     * RESERVED lock: not what is counted here). */
    (void)shared_locks_before_saving(1);
    int64_t locks = shared_locks_before_saving(2);
    print_message("SHARED locks before a save's write: %lld\n",
                  (long long)locks);
    assert_int_equal(locks, 2);
    vs_ckpt_info *info = NULL;
    size_t n = 0;
    OK(vs_list_checkpoints(g_path, &info, &n));
    assert_int_equal(n, 2);
    vs_free(info);
}

#define N_TENSORS 12
#define PAGE 32768

/* Reads of a database file, in offset order, that land more than 4 MiB
 * ahead of where the reading of chunk bytes has got to (the end of the
 * last run of consecutive pages) and not in the file's last MiB (the
 * catalogue's pages): reads that jump ahead and come back, each a seek on
 * a cold file. */
static int jumps_ahead(const int64_t *off, size_t n, int64_t file_size)
{
    int64_t frontier = 0;
    int jumps = 0;
    for (size_t i = 1; i < n; i++) {
        if (off[i] == off[i - 1] + PAGE && off[i] > frontier)
            frontier = off[i];
        else if (off[i] > frontier + (4 << 20) &&
                 off[i] < file_size - (1 << 20))
            jumps++;
    }
    return jumps;
}

/* A load of many tensors reads the file in order: each tensor's chunk
 * list is read just before its chunks (a chunk's row shares its page
 * with the start of its bytes). Listing every tensor's chunks first read
 * pages all over the file before reading it again from the start. */
static void test_io_cost__loading_many_tensors_reads_the_file_in_order(
    void **st)
{
    (void)st;
    const char *names[N_TENSORS] = {"t00", "t01", "t02", "t03", "t04", "t05",
                                    "t06", "t07", "t08", "t09", "t10", "t11"};
    vs_tensor *ts[N_TENSORS], *out[N_TENSORS];
    int64_t sh[1] = {(int64_t)3 << 17}; /* 1.5 MiB of float32: 2 chunks */
    for (int k = 0; k < N_TENSORS; k++) {
        ts[k] = mk(VS_FLOAT32, 1, sh);
        float *f = ts[k]->data;
        for (int64_t i = 0; i < sh[0]; i++)
            f[i] = (float)(k * 1000003 + i);
    }
    vs_save_opts raw = {0};
    raw.codec = VS_CODEC_RAW;
    OK(vs_save_tensors(g_path, 1, names, (const vs_tensor *const *)ts,
                       N_TENSORS, &raw));
    struct stat sb;
    assert_int_equal(stat(g_path, &sb), 0);
    vs_ckpt *f = NULL;
    OK(vs_ckpt_open(g_path, &f));
    static int64_t off[4096];
    io_shim_trace_reads(off, 4096);
    OK(vs_ckpt_load_many(f, 1, names, N_TENSORS, out));
    size_t n = io_shim_traced_reads();
    vs_ckpt_close(f);
    int jumps = jumps_ahead(off, n, (int64_t)sb.st_size);
    print_message("reads %zu, jumps ahead %d\n", n, jumps);
    assert_true(n > 12 * 48); /* every page of the chunks was read */
    /* One: the chunks b-tree's interior page, read once (the list of
     * every tensor first jumped to each page of chunk rows: 3 here). */
    assert_true(jumps <= 1);
    for (int k = 0; k < N_TENSORS; k++) {
        assert_memory_equal(out[k]->data, ts[k]->data, (size_t)3 << 19);
        vs_tensor_free(out[k]);
        vs_tensor_free(ts[k]);
    }
}

int main(void)
{
    if (io_shim_install() != SQLITE_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_io_cost__deleting_writes_per_row_not_per_byte, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_io_cost__retention_adds_few_writes_to_a_save, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_io_cost__retention_keeps_the_file_near_its_kept_size, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_io_cost__a_small_save_into_a_new_file_asks_sqlite_for_no_sync,
            setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_io_cost__saving_into_a_file_reads_it_once_before_writing,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_io_cost__loading_many_tensors_reads_the_file_in_order, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_io_cost__a_large_save_writes_each_page_once, setup,
            teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
