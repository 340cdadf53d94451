/* Readers never write a checkpoint file: a -wal beside it that belongs to
 * another database is refused and left alone, and every reading call
 * works on a read-only file, folder or mount without leaving side files. */
#define _GNU_SOURCE /* unshare, mount, mkdtemp */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "varstore.h"
#include "support/tmp_dir.h"
#include "support/vs_test.h"

static char other[128];

static int setup(void **state)
{
    (void)state;
    if (tmp_dir_make("vs_test_ro") != 0)
        return -1;
    snprintf(other, sizeof other, "%s/other.db", dir);
    return 0;
}

static int exists(const char *base, const char *suffix)
{
    char p[400];
    struct stat sb;
    snprintf(p, sizeof p, "%s%s", base, suffix);
    return stat(p, &sb) == 0;
}

static void save_steps(const char *path, int64_t first, int n)
{
    int64_t shape[1] = {1000};
    vs_tensor *t = NULL;
    OK(vs_tensor_new(VS_FLOAT32, 1, shape, &t));
    for (int s = 0; s < n; s++) {
        for (int i = 0; i < 1000; i++)
            ((float *)t->data)[i] = (float)(first + s) + (float)i * 0.5f;
        const char *nm = "net/w";
        const vs_tensor *tt = t;
        OK(vs_save_tensors(path, first + s, &nm, &tt, 1, NULL));
    }
    vs_tensor_free(t);
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long len = ftell(f);
    assert_true(len >= 0);
    rewind(f);
    unsigned char *b = malloc((size_t)len + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void copy_file(const char *from, const char *to)
{
    size_t n;
    unsigned char *b = slurp(from, &n);
    FILE *f = fopen(to, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
    free(b);
}

/* Runs sql on path through plain SQLite and keeps the resulting -wal
 * (no checkpoint at close). */
static void write_kept_wal(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE,
                                       1, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    assert_true(exists(path, "-wal"));
}

/* Puts wal beside g_path, checks that every reader and a writer refuse it
 * with VS_ECORRUPT and that g_path is unchanged, then takes it away. */
static void assert_foreign_wal_refused(const char *wal)
{
    char gwal[400];
    snprintf(gwal, sizeof gwal, "%s-wal", g_path);
    size_t n0, n1;
    unsigned char *before = slurp(g_path, &n0);
    copy_file(wal, gwal);
    vs_ckpt_info *infos = NULL;
    size_t n = 0, bad = 0;
    vs_ckpt *ck = NULL;
    assert_int_equal(vs_list_checkpoints(g_path, &infos, &n), VS_ECORRUPT);
    assert_non_null(strstr(vs_errmsg(), "belongs to another database"));
    assert_int_equal(vs_verify(g_path, &bad), VS_ECORRUPT);
    assert_int_equal(vs_ckpt_open(g_path, &ck), VS_ECORRUPT);
    assert_null(ck);
    int64_t shape[1] = {4};
    vs_tensor *t = NULL;
    OK(vs_tensor_new(VS_FLOAT32, 1, shape, &t));
    const char *nm = "x";
    const vs_tensor *tt = t;
    assert_int_equal(vs_save_tensors(g_path, 9, &nm, &tt, 1, NULL),
                     VS_ECORRUPT);
    vs_tensor_free(t);
    unsigned char *after = slurp(g_path, &n1);
    assert_int_equal(n0, n1);
    assert_memory_equal(before, after, n0);
    free(before);
    free(after);
    /* Without it, every step is still there. */
    assert_int_equal(unlink(gwal), 0);
    char shm[400];
    snprintf(shm, sizeof shm, "%s-shm", g_path);
    (void)unlink(shm);
    OK(vs_list_checkpoints(g_path, &infos, &n));
    assert_int_equal(n, 2);
    vs_free(infos);
    OK(vs_verify(g_path, &bad));
    assert_int_equal(bad, 0);
}

static void test_readonly__wal_of_another_varstore_file_is_refused(void **s)
{
    (void)s;
    OK(vs_set_journal_mode(g_path, VS_JOURNAL_WAL));
    OK(vs_set_journal_mode(other, VS_JOURNAL_WAL));
    save_steps(g_path, 1, 2);
    save_steps(other, 1, 1);
    /* A plain SQLite reader keeps other's log from being merged at the
     * writer's close: the log of a real save stays beside other. */
    sqlite3 *keep = NULL;
    assert_int_equal(sqlite3_open(other, &keep), SQLITE_OK);
    assert_int_equal(sqlite3_exec(keep, "SELECT count(*) FROM meta", NULL,
                                  NULL, NULL),
                     SQLITE_OK);
    save_steps(other, 5, 1);
    char wal[400];
    snprintf(wal, sizeof wal, "%s-wal", other);
    assert_true(exists(other, "-wal"));
    assert_foreign_wal_refused(wal);
    assert_int_equal(sqlite3_close(keep), SQLITE_OK);
}

static void test_readonly__wal_of_a_plain_sqlite_db_is_refused(void **s)
{
    (void)s;
    save_steps(g_path, 1, 2);
    char wal[400];
    snprintf(wal, sizeof wal, "%s-wal", other);
    /* Same page size as varstore files: only its contents differ. */
    write_kept_wal(other, "PRAGMA page_size=32768; PRAGMA journal_mode=WAL; "
                          "CREATE TABLE t(x); INSERT INTO t VALUES (1);");
    assert_foreign_wal_refused(wal);
    /* Another page size: refused from the log's header alone. */
    char plain4k[128];
    snprintf(plain4k, sizeof plain4k, "%s/p4k.db", dir);
    write_kept_wal(plain4k, "PRAGMA page_size=4096; PRAGMA journal_mode=WAL; "
                            "CREATE TABLE t(x); INSERT INTO t VALUES (1);");
    snprintf(wal, sizeof wal, "%s-wal", plain4k);
    assert_foreign_wal_refused(wal);
}

/* Every reading call on g_path; 0 when all succeed and leave no side
 * file. Runs in a child process: the result is its exit status. */
static int read_everything(void)
{
    vs_ckpt_info *infos = NULL;
    vs_tensor_info *tinf = NULL;
    size_t n = 0, bad = 1;
    int64_t latest = -1;
    vs_tensor *t = NULL;
    vs_ckpt *ck = NULL;
    vs_journal jm;
    int fails = 0;
    fails += vs_list_checkpoints(g_path, &infos, &n) != VS_OK || n != 2;
    vs_free(infos);
    fails += vs_latest_checkpoint(g_path, &latest) != VS_OK || latest != 2;
    fails += vs_verify(g_path, &bad) != VS_OK || bad != 0;
    fails += vs_load_variable(g_path, 1, "net/w", &t) != VS_OK ||
             ((float *)t->data)[2] != 2.0f;
    vs_tensor_free(t);
    fails += vs_list_variables(g_path, 2, &tinf, &n) != VS_OK || n != 1;
    vs_tensor_info_free(tinf, n);
    fails += vs_get_journal_mode(g_path, &jm) != VS_OK;
    fails += vs_ckpt_open(g_path, &ck) != VS_OK;
    vs_ckpt_close(ck);
    if (fails)
        fprintf(stderr, "read failed: %s\n", vs_errmsg());
    fails += exists(g_path, "-wal") || exists(g_path, "-shm");
    return fails;
}

/* how: 0 a read-only file, 1 a read-only folder, 2 a read-only mount. */
static int child_reads(int how)
{
    if (how == 2) {
        if (unshare(CLONE_NEWNS) != 0 ||
            mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
            mount(dir, dir, NULL, MS_BIND, NULL) != 0 ||
            mount(NULL, dir, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) !=
                0)
            return 77;
    } else if (geteuid() == 0) {
        if (setgid(65534) != 0 || setuid(65534) != 0)
            return 77;
    }
    return read_everything();
}

static void run_child(int how)
{
    save_steps(g_path, 1, 2);
    assert_false(exists(g_path, "-wal"));
    assert_int_equal(chmod(g_path, how == 0 ? 0444 : 0644), 0);
    assert_int_equal(chmod(dir, how == 1 ? 0555 : 0777), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child_reads(how));
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) == 77) {
        printf("skipped: %s\n", how == 2 ? "no private mount namespace"
                                         : "cannot drop to uid 65534");
        return;
    }
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_false(exists(g_path, "-wal"));
    assert_false(exists(g_path, "-shm"));
}

static void test_readonly__reads_a_read_only_file(void **s)
{
    (void)s;
    run_child(0);
}

static void test_readonly__reads_in_a_read_only_folder(void **s)
{
    (void)s;
    run_child(1);
}

static void test_readonly__reads_on_a_read_only_mount(void **s)
{
    (void)s;
    if (geteuid() != 0) {
        printf("skipped: a private mount namespace needs root\n");
        return;
    }
    run_child(2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_readonly__wal_of_another_varstore_file_is_refused, setup,
            tmp_dir_remove),
        cmocka_unit_test_setup_teardown(
            test_readonly__wal_of_a_plain_sqlite_db_is_refused, setup,
            tmp_dir_remove),
        cmocka_unit_test_setup_teardown(test_readonly__reads_a_read_only_file,
                                        setup, tmp_dir_remove),
        cmocka_unit_test_setup_teardown(
            test_readonly__reads_in_a_read_only_folder, setup, tmp_dir_remove),
        cmocka_unit_test_setup_teardown(
            test_readonly__reads_on_a_read_only_mount, setup, tmp_dir_remove),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
