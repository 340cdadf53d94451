/* A save of at most 16 MiB into a path that does not exist fills the new
 * file before it gets its name (store/save/save.c, store/file/create.c):
 * afterwards only the file is there, whole; another writer that creates
 * the file meanwhile gets the save in its file; a streamed save and a
 * large one take the named file's path; what killed writers left beside
 * the path goes. I/O faults during a first save:
 * tests/faults/test_io_faults.c. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "varstore.h"

#define STORE_TEST_NAME "vs_test_first_save"
#include "support/store_test.h"

/* Entries of g_path's folder whose name starts with g_path's (the file,
 * its side files and anything built beside it). */
static int entries_named_like_the_file(void)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s", g_path);
    char *slash = strrchr(dir, '/');
    assert_non_null(slash);
    *slash = '\0';
    const char *base = slash + 1;
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strncmp(e->d_name, base, strlen(base)) == 0;
    assert_int_equal(closedir(d), 0);
    return n;
}

/* A float32 tensor of n values v0, v0 + 1, ... (mod 1000). */
static vs_tensor *ramp(int64_t n, float v0)
{
    vs_tensor *t = mk(VS_FLOAT32, 1, (int64_t[]){n});
    for (int64_t i = 0; i < n; i++)
        ((float *)t->data)[i] = v0 + (float)(i % 1000);
    return t;
}

static void expect_ramp(int64_t step, const char *name, int64_t n, float v0)
{
    vs_tensor *t = NULL;
    OK(vs_load_variable(g_path, step, name, &t));
    assert_int_equal(t->shape[0], n);
    for (int64_t i = 0; i < n; i++)
        assert_true(((float *)t->data)[i] == v0 + (float)(i % 1000));
    vs_tensor_free(t);
}

static int64_t steps_in_file(void)
{
    vs_ckpt_info *info = NULL;
    size_t n = 0;
    OK(vs_list_checkpoints(g_path, &info, &n));
    vs_free(info);
    return (int64_t)n;
}

static void expect_verifies(void)
{
    size_t bad = 1;
    OK(vs_verify(g_path, &bad));
    assert_int_equal(bad, 0);
}

static void test_first_save__leaves_only_the_whole_file(void **state)
{
    (void)state;
    vs_tensor *t = ramp(600000, 1.0f); /* 2.4 MB */
    save1(g_path, 3, "w", t, NULL);
    vs_tensor_free(t);
    assert_int_equal(entries_named_like_the_file(), 1);
    assert_int_equal(steps_in_file(), 1);
    expect_ramp(3, "w", 600000, 1.0f);
    expect_verifies();
}

/* The progress callback of the first save creates the file meanwhile,
 * with a save of its own (once). */
typedef struct {
    int created;
} creator;

static void create_meanwhile(void *ctx, uint64_t done, uint64_t total)
{
    creator *c = ctx;
    if (c->created || done >= total)
        return;
    c->created = 1;
    vs_tensor *t = ramp(1000, 7.0f);
    save1(g_path, 7, "other", t, NULL);
    vs_tensor_free(t);
}

static void test_first_save__a_file_created_meanwhile_gets_the_save(
    void **state)
{
    (void)state;
    creator c = {0};
    vs_save_opts o;
    memset(&o, 0, sizeof o);
    o.progress = create_meanwhile;
    o.progress_ctx = &c;
    vs_tensor *t = ramp(600000, 1.0f); /* chunks of 1 MiB: progress calls */
    save1(g_path, 1, "w", t, &o);
    vs_tensor_free(t);
    assert_int_equal(c.created, 1);
    assert_int_equal(steps_in_file(), 2);
    expect_ramp(1, "w", 600000, 1.0f);
    expect_ramp(7, "other", 1000, 7.0f);
    assert_int_equal(entries_named_like_the_file(), 1);
    expect_verifies();
}

/* vs_save_stream's source reads each byte once: its first save goes
 * through the named file, and is whole there. */
static int read_ramp(void *ctx, size_t index, uint64_t offset, void *buf,
                     size_t len, char *err, size_t err_cap)
{
    (void)ctx;
    (void)index;
    (void)err;
    (void)err_cap;
    float *f = buf;
    for (size_t i = 0; i < len / sizeof *f; i++)
        f[i] = 2.0f + (float)((offset / sizeof *f + i) % 1000);
    return VS_OK;
}

static void test_first_save__streamed_and_large_saves_are_whole(void **state)
{
    (void)state;
    const char *name = "s";
    const vs_dtype dt = VS_FLOAT32;
    const int nd = 1;
    const int64_t shape[1] = {300000};
    const int64_t *shapes[1] = {shape};
    OK(vs_save_stream(g_path, 1, &name, &dt, &nd, shapes, 1, read_ramp, NULL,
                      NULL));
    expect_ramp(1, "s", 300000, 2.0f);
    remove_db(g_path);
    vs_tensor *big = ramp(5000000, 4.0f); /* 20 MB: batched */
    save1(g_path, 2, "big", big, NULL);
    vs_tensor_free(big);
    assert_int_equal(entries_named_like_the_file(), 1);
    expect_ramp(2, "big", 5000000, 4.0f);
    expect_verifies();
}

/* A pid that runs no process: a child's, once it has exited. */
static pid_t dead_pid(void)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return pid;
}

/* g_path ".vs-new-<pid>-9" suffix, written, last changed age_s ago. */
static void left_file(char *name, size_t cap, long pid, const char *suffix,
                      int age_s)
{
    snprintf(name, cap, "%s.vs-new-%ld-9%s", g_path, pid, suffix);
    FILE *f = fopen(name, "wb");
    assert_non_null(f);
    assert_int_equal(fputs("left over", f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    struct timespec ts[2];
    ts[0].tv_sec = ts[1].tv_sec = time(NULL) - age_s;
    ts[0].tv_nsec = ts[1].tv_nsec = 0;
    assert_int_equal(utimensat(AT_FDCWD, name, ts, 0), 0);
}

/* A killed writer's new file and its journal go at the next first save;
 * a file still changing, or of a running process, stays. */
static void test_first_save__removes_files_killed_writers_left(void **state)
{
    (void)state;
    char dead[700], dead_j[700], fresh[700], live[700];
    long gone = (long)dead_pid();
    left_file(dead, sizeof dead, gone, "", 120);
    left_file(dead_j, sizeof dead_j, gone, "-journal", 120);
    left_file(fresh, sizeof fresh, gone + 100000, "", 0);
    left_file(live, sizeof live, (long)getppid(), "", 120);
    vs_tensor *t = ramp(1000, 1.0f);
    save1(g_path, 1, "w", t, NULL);
    vs_tensor_free(t);
    assert_false(exists(dead));
    assert_false(exists(dead_j));
    assert_true(exists(fresh));
    assert_true(exists(live));
    assert_int_equal(unlink(fresh), 0);
    assert_int_equal(unlink(live), 0);
    assert_int_equal(entries_named_like_the_file(), 1);
    expect_ramp(1, "w", 1000, 1.0f);
}

/* The most memory SQLite held during a raw save of a 12 MiB tensor as
 * `step` (its process-wide high-water mark, reset first); -1 when this
 * SQLite build does not count its memory. */
static sqlite3_int64 sqlite_peak_of_save(int64_t step)
{
    vs_save_opts o = {0};
    o.codec = VS_CODEC_RAW;
    o.max_to_keep = VS_KEEP_ALL;
    vs_tensor *t = ramp((int64_t)3 << 20, (float)step);
    sqlite3_int64 cur = 0, peak = 0;
    assert_int_equal(sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &cur, &peak,
                                      1), SQLITE_OK);
    save1(g_path, step, "w", t, &o);
    assert_int_equal(sqlite3_status64(SQLITE_STATUS_MEMORY_USED, &cur, &peak,
                                      0), SQLITE_OK);
    vs_tensor_free(t);
    return peak > 0 ? peak : -1;
}

/* A new file filled aside syncs nothing before its commit, so its pages
 * go to it as they come (a small page cache whose memory is reused):
 * SQLite holds little memory however large the save. The same save into
 * the existing file keeps its pages for the commit (the control: the
 * measure sees a page cache that grows with the save). */
static void test_first_save__sqlite_memory_stays_small_while_the_file_fills(
    void **state)
{
    (void)state;
    sqlite3_int64 first = sqlite_peak_of_save(1);
    if (first < 0) {
        print_message("skipped: this SQLite does not count its memory "
                      "(SQLITE_DEFAULT_MEMSTATUS=0)\n");
        skip();
    }
    sqlite3_int64 second = sqlite_peak_of_save(2);
    print_message("SQLite's peak memory: first save %lld bytes, second "
                  "%lld\n", (long long)first, (long long)second);
    assert_true(first < (sqlite3_int64)3 << 20);
    assert_true(second > (sqlite3_int64)8 << 20);
    expect_ramp(1, "w", (int64_t)3 << 20, 1.0f);
    expect_ramp(2, "w", (int64_t)3 << 20, 2.0f);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_first_save__leaves_only_the_whole_file),
        T(test_first_save__a_file_created_meanwhile_gets_the_save),
        T(test_first_save__streamed_and_large_saves_are_whole),
        T(test_first_save__removes_files_killed_writers_left),
        T(test_first_save__sqlite_memory_stays_small_while_the_file_fills),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
