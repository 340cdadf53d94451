/* Hostile places for a checkpoint file: a save into a read-only file or
 * folder fails with a clear error and leaves every byte and name as it
 * was; a disk that fills up during a save (a small tmpfs in a private
 * mount namespace, or RLIMIT_FSIZE where that is not possible) fails the
 * save and leaves the last committed step intact, and the next save
 * succeeds once there is room. Each case runs in a forked child (another
 * uid, a mount, a limit); the child's exit status is its failures. */
#define _GNU_SOURCE /* unshare, mount, mkdtemp */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>

#include "varstore.h"
#include "support/tmp_dir.h"
#include "support/vs_test.h"

#define SKIP 77

static int setup(void **state)
{
    (void)state;
    return tmp_dir_make("vs_test_places");
}

/* A float32 tensor of n values that depend on seed (no two chunks alike,
 * and incompressible enough that n values cost about 4n bytes). */
static vs_tensor *noise(int64_t n, uint32_t seed)
{
    vs_tensor *t = NULL;
    if (vs_tensor_new(VS_FLOAT32, 1, &n, &t) != VS_OK)
        return NULL;
    uint32_t x = seed * 2654435761u + 1;
    for (int64_t i = 0; i < n; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        ((uint32_t *)t->data)[i] = x;
    }
    return t;
}

static int save_noise(const char *path, int64_t step, int64_t n)
{
    vs_tensor *t = noise(n, (uint32_t)step);
    if (t == NULL)
        return VS_ENOMEM;
    const char *name = "net/w";
    const vs_tensor *tt = t;
    int rc = vs_save_tensors(path, step, &name, &tt, 1, NULL);
    vs_tensor_free(t);
    return rc;
}

/* 0 when step loads with the values save_noise(step, n) wrote. */
static int step_intact(const char *path, int64_t step, int64_t n)
{
    vs_tensor *want = noise(n, (uint32_t)step), *got = NULL;
    int bad = want == NULL || vs_load_variable(path, step, "net/w", &got) ||
              got->shape[0] != n ||
              memcmp(got->data, want->data, (size_t)n * 4) != 0;
    if (bad)
        fprintf(stderr, "step %lld: %s\n", (long long)step, vs_errmsg());
    vs_tensor_free(want);
    vs_tensor_free(got);
    return bad;
}

/* The names in dir (sorted would not matter: counted and compared). */
static int n_entries(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    if (d == NULL)
        return -1;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static unsigned char *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0)
        return NULL;
    long len = ftell(f);
    unsigned char *b = len >= 0 ? malloc((size_t)len + 1) : NULL;
    rewind(f);
    if (b != NULL && fread(b, 1, (size_t)len, f) != (size_t)len) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)len;
    return b;
}

/* What the refusal must say (set before the child is forked). */
static const char *g_want = "";

/* In the child, as uid 65534: a save (replacing step 1, adding step 3,
 * and into a new file) fails with a message saying g_want, and the
 * folder holds the same names and the file the same bytes. */
static int child_save_refused(void)
{
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
        return SKIP;
    size_t n0 = 0, n1 = 0;
    unsigned char *before = slurp(g_path, &n0);
    int entries = n_entries(), fails = 0;
    char fresh[200];
    snprintf(fresh, sizeof fresh, "%s/new.db", dir);
    const int64_t steps[] = {1, 3};
    for (int i = 0; i < 2; i++) {
        int rc = save_noise(g_path, steps[i], 1000);
        fails += rc == VS_OK || strstr(vs_errmsg(), g_want) == NULL;
        if (rc != VS_OK)
            fprintf(stderr, "refused (%d): %s\n", rc, vs_errmsg());
    }
    int rc = save_noise(fresh, 1, 1000);
    fails += rc == VS_OK && access(fresh, F_OK) != 0; /* a folder we own */
    unsigned char *after = slurp(g_path, &n1);
    fails += before == NULL || after == NULL || n0 != n1 ||
             memcmp(before, after, n0) != 0;
    fails += step_intact(g_path, 1, 1000) + step_intact(g_path, 2, 1000);
    size_t bad = 1;
    fails += vs_verify(g_path, &bad) != VS_OK || bad != 0;
    fails += n_entries() != entries + (rc == VS_OK);
    free(before);
    free(after);
    return fails;
}

/* Runs child in a child process (it drops privileges or unshares
 * namespaces, which the test process must not): it must exit 0, or SKIP
 * when this machine cannot do what it needs (said as skipped: why). */
static void in_child(int (*child)(void), const char *why)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(child());
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    if (WEXITSTATUS(st) == SKIP) {
        printf("skipped: %s\n", why);
        return;
    }
    assert_int_equal(WEXITSTATUS(st), 0);
}

static void run_refused(mode_t file_mode, mode_t dir_mode, const char *want)
{
    g_want = want;
    assert_int_equal(save_noise(g_path, 1, 1000), VS_OK);
    assert_int_equal(save_noise(g_path, 2, 1000), VS_OK);
    assert_int_equal(chmod(g_path, file_mode), 0);
    assert_int_equal(chmod(dir, dir_mode), 0);
    in_child(child_save_refused, "cannot drop to uid 65534");
}

static void test_hostile_places__save_into_a_read_only_file_changes_nothing(
    void **s)
{
    (void)s;
    run_refused(0444, 0777, "attempt to write a readonly database");
}

static void test_hostile_places__save_in_a_read_only_folder_changes_nothing(
    void **s)
{
    (void)s;
    /* the file is writable: the folder is what refuses */
    run_refused(0666, 0555, "its folder is not writable");
}

/* How the child's disk is made small: a 3 MiB tmpfs over dir (root, a
 * private mount namespace), else a 3 MiB RLIMIT_FSIZE. */
static int small_disk(void)
{
    if (geteuid() == 0 && unshare(CLONE_NEWNS) == 0 &&
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0 &&
        mount("tmpfs", dir, "tmpfs", 0, "size=3m") == 0)
        return 0;
    struct rlimit rl = {3 << 20, 3 << 20};
    if (signal(SIGXFSZ, SIG_IGN) == SIG_ERR || setrlimit(RLIMIT_FSIZE, &rl))
        return -1;
    return 1;
}

/* In the child: step 1 (1 MB), then a step of 8 MB that cannot fit: the
 * save fails with VS_EIO and a message, step 1 is intact and verifies,
 * and a save that fits succeeds after. */
static int child_full_disk(void)
{
    int how = small_disk();
    if (how < 0)
        return SKIP;
    fprintf(stderr, "small disk: %s\n",
            how == 0 ? "3 MiB tmpfs" : "RLIMIT_FSIZE");
    int fails = save_noise(g_path, 1, 250000) != VS_OK;
    int rc = save_noise(g_path, 2, 2000000);
    if (rc != VS_EIO || vs_errmsg()[0] == '\0')
        fprintf(stderr, "full disk (%s): %d %s\n",
                how == 0 ? "tmpfs" : "RLIMIT_FSIZE", rc, vs_errmsg());
    fails += rc != VS_EIO;
    fails += step_intact(g_path, 1, 250000);
    vs_ckpt_info *infos = NULL;
    size_t n = 0, bad = 1;
    fails += vs_list_checkpoints(g_path, &infos, &n) != VS_OK || n != 1;
    vs_free(infos);
    fails += vs_verify(g_path, &bad) != VS_OK || bad != 0;
    fails += save_noise(g_path, 3, 1000) != VS_OK;
    fails += step_intact(g_path, 3, 1000) + step_intact(g_path, 1, 250000);
    return fails;
}

static void test_hostile_places__full_disk_mid_save_keeps_the_last_step(
    void **s)
{
    (void)s;
    in_child(child_full_disk, "no way to make a small disk");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, tmp_dir_remove)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_hostile_places__save_into_a_read_only_file_changes_nothing),
        T(test_hostile_places__save_in_a_read_only_folder_changes_nothing),
        T(test_hostile_places__full_disk_mid_save_keeps_the_last_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
