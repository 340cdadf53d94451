/* I/O faults during saves, prunes and renames: every write, sync and
 * truncation the operation makes fails in turn (tests/faults/io_shim.c), once
 * or as a disk that stays full. Each failure must be a clean error (VS_EIO),
 * leave the earlier checkpoints intact and restorable (a first save: no
 * file at all), and the next operation must succeed once the fault is
 * gone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>

#include "fixture.h"
#include "io_shim.h"

/* At most this many fault points per operation (a save of the model makes
 * a few hundred writes); the sweep stops earlier once an operation runs
 * to its end without meeting the fault. */
#define MAX_POINTS 5000

typedef int (*op_fn)(fx_model *m);
/* After op returned VS_OK: its whole effect is in the file. */
typedef void (*done_fn)(fx_model *m);

static void saved_step2(fx_model *m)
{
    fx_expect_intact(m, (const int64_t[]){1, 2}, 2);
}

static void deleted_step1(fx_model *m)
{
    assert_false(fx_has_step(m->path, 1));
}

static void renamed(fx_model *m)
{
    vs_tensor *t = NULL;
    OK(vs_load_variable(m->path, 1, "model/conv/b", &t));
    vs_tensor_free(t);
    assert_int_equal(vs_load_variable(m->path, 1, "net/conv/b", &t),
                     VS_ENOTFOUND);
}

static int op_save_step2(fx_model *m)
{
    fx_set_values(m, 2);
    return vs_save(m->g, m->path, 2);
}

static int op_save_step2_raw_keep1(fx_model *m)
{
    vs_save_opts o = {.codec = VS_CODEC_RAW, .max_to_keep = 2};
    fx_set_values(m, 2);
    return vs_save_ex(m->g, m->path, 2, &o);
}

static int op_delete_step1(fx_model *m)
{
    return vs_delete_checkpoint(m->path, 1);
}

static int op_rename(fx_model *m)
{
    return vs_rename_prefix(m->path, "net/", "model/", VS_ALL_STEPS);
}

/* A fresh file holding step 1 (written without faults). */
static void fresh_file(fx_model *m)
{
    fx_unlink(m->path);
    fx_set_values(m, 1);
    OK(vs_save(m->g, m->path, 1));
}

/* Runs op with the fault at `at`; returns 1 when the fault was met. */
static int run_with_fault(fx_model *m, op_fn op, io_fault_mode mode,
                          int64_t at, int *rc)
{
    io_shim_arm(mode, at);
    *rc = op(m);
    return io_shim_clear() > 0;
}

/* Sweeps every fault point of op; `kept` are the steps that must survive
 * any failure of it. */
static void sweep(op_fn op, done_fn done, io_fault_mode mode,
                  const int64_t *kept, size_t n_kept, const char *tag)
{
    fx_model m;
    OK(fx_build(&m, tag));
    int64_t at = 0, n_failed = 0;
    for (; at < MAX_POINTS; at++) {
        int rc = VS_OK;
        fresh_file(&m);
        if (!run_with_fault(&m, op, mode, at, &rc)) {
            OK(rc); /* ran to its end: no fault left to try */
            break;
        }
        if (rc != VS_OK && rc != VS_EIO)
            fail_msg("%s, fault %lld: code %d (%s)", tag, (long long)at, rc,
                     vs_errmsg());
        if (rc != VS_OK) {
            assert_true(strlen(vs_errmsg()) > 0);
            n_failed++;
        } else {
            done(&m); /* VS_OK despite the fault: the work was still done */
        }
        fx_expect_intact(&m, kept, n_kept);
        /* The next operation succeeds. */
        fx_set_values(&m, 7);
        OK(vs_save(m.g, m.path, 7));
        fx_expect_intact(&m, (const int64_t[]){7}, 1);
    }
    assert_true(at > 0);          /* the operation did write */
    assert_true(at < MAX_POINTS); /* and the sweep reached its end */
    assert_true(n_failed > 0);    /* faults reached the caller */
    print_message("%s: %lld fault points, %lld reported as VS_EIO, the "
                  "others absorbed\n",
                  tag, (long long)at, (long long)n_failed);
    fx_unlink(m.path);
    vs_graph_close(m.g);
}

static void test_failed_write_during_save_keeps_earlier_steps(void **state)
{
    (void)state;
    sweep(op_save_step2, saved_step2, IO_FAULT_ONCE, (const int64_t[]){1}, 1, "save");
}

static void test_full_disk_during_save_keeps_earlier_steps(void **state)
{
    (void)state;
    sweep(op_save_step2, saved_step2, IO_FAULT_DISK_FULL, (const int64_t[]){1}, 1,
          "save_full");
}

static void test_failed_write_during_raw_save_with_retention(void **state)
{
    (void)state;
    sweep(op_save_step2_raw_keep1, saved_step2, IO_FAULT_ONCE, (const int64_t[]){1}, 1,
          "save_raw");
}

static void test_failed_write_during_delete_is_all_or_nothing(void **state)
{
    (void)state;
    /* Step 1 may be gone or whole: only the file's integrity is asked. */
    sweep(op_delete_step1, deleted_step1, IO_FAULT_ONCE, NULL, 0, "delete");
}

static void test_full_disk_during_rename_is_all_or_nothing(void **state)
{
    (void)state;
    sweep(op_rename, renamed, IO_FAULT_DISK_FULL, NULL, 0, "rename");
}

/* Names in path's folder that start with its name and are not it or its
 * side files: a new file built aside and left behind. */
static int files_left_aside(const char *path)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    assert_non_null(slash);
    *slash = '\0';
    const char *base = slash + 1;
    size_t bl = strlen(base);
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strncmp(e->d_name, base, bl) == 0 &&
             strncmp(e->d_name + bl, ".vs-new-", 8) == 0;
    assert_int_equal(closedir(d), 0);
    return n;
}

/* A first save into a path that does not exist fills the new file before
 * it gets its name: a failure at any write leaves no file (and nothing
 * beside it), a success the whole step, and the next save succeeds. */
static void first_save_sweep(io_fault_mode mode, const char *tag)
{
    fx_model m;
    OK(fx_build(&m, tag));
    int64_t at = 0, n_failed = 0;
    for (; at < MAX_POINTS; at++) {
        int rc = VS_OK;
        fx_unlink(m.path);
        fx_set_values(&m, 1);
        io_shim_arm(mode, at);
        rc = vs_save(m.g, m.path, 1);
        if (io_shim_clear() == 0) {
            OK(rc); /* ran to its end: no fault left to try */
            break;
        }
        if (rc != VS_OK) {
            assert_int_equal(rc, VS_EIO);
            assert_true(strlen(vs_errmsg()) > 0);
            assert_int_equal(access(m.path, F_OK), -1); /* no file */
            n_failed++;
        } else {
            fx_expect_intact(&m, (const int64_t[]){1}, 1);
        }
        assert_int_equal(files_left_aside(m.path), 0);
        fx_set_values(&m, 7);
        OK(vs_save(m.g, m.path, 7));
        fx_expect_intact(&m, (const int64_t[]){7}, 1);
    }
    assert_true(at > 0 && at < MAX_POINTS);
    assert_true(n_failed > 0);
    print_message("%s: %lld fault points, %lld reported as VS_EIO\n", tag,
                  (long long)at, (long long)n_failed);
    fx_unlink(m.path);
    vs_graph_close(m.g);
}

static void test_failed_write_during_a_first_save_leaves_no_file(void **st)
{
    (void)st;
    first_save_sweep(IO_FAULT_ONCE, "first_save");
}

static void test_full_disk_during_a_first_save_leaves_no_file(void **st)
{
    (void)st;
    first_save_sweep(IO_FAULT_DISK_FULL, "first_save_full");
}

int main(void)
{
    if (io_shim_install() != 0) {
        fprintf(stderr, "cannot install the fault VFS\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failed_write_during_save_keeps_earlier_steps),
        cmocka_unit_test(test_full_disk_during_save_keeps_earlier_steps),
        cmocka_unit_test(test_failed_write_during_raw_save_with_retention),
        cmocka_unit_test(test_failed_write_during_delete_is_all_or_nothing),
        cmocka_unit_test(test_full_disk_during_rename_is_all_or_nothing),
        cmocka_unit_test(test_failed_write_during_a_first_save_leaves_no_file),
        cmocka_unit_test(test_full_disk_during_a_first_save_leaves_no_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
