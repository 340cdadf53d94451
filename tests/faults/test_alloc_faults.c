/* Allocation failures: the library's objects are linked into this test with
 * -Wl,--wrap for malloc, calloc, realloc, posix_memalign, aligned_alloc and
 * mmap, so every allocation the library makes goes through the counting
 * allocator below, which fails the one numbered `at`. Each operation (graph
 * building, save, restore, reads) is run with every allocation failing in
 * turn: it must end in VS_ENOMEM (or succeed, when the failure was
 * absorbed), leave no partial checkpoint, and the next attempt without a
 * failure must succeed. Leaks are caught by LeakSanitizer in the sanitizer
 * build. */
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/mman.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "fixture.h"
#include "npy.h"
#include "safetensors.h"
#include "vst.h"

#define MAX_POINTS 20000

static atomic_llong g_at = -1, g_count, g_failed;

static int should_fail(void)
{
    long long at = atomic_load(&g_at);
    if (at < 0)
        return 0;
    if (atomic_fetch_add(&g_count, 1) != at)
        return 0;
    atomic_fetch_add(&g_failed, 1);
    return 1;
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
void *__real_mmap(void *addr, size_t len, int prot, int flags, int fd,
                  off_t off);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
int __wrap_posix_memalign(void **p, size_t align, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
                  off_t off);

void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : __real_calloc(n, size);
}
void *__wrap_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : __real_realloc(p, n);
}
int __wrap_posix_memalign(void **p, size_t align, size_t n)
{
    return should_fail() ? 12 /* ENOMEM */ : __real_posix_memalign(p, align, n);
}
void *__wrap_aligned_alloc(size_t align, size_t n)
{
    return should_fail() ? NULL : __real_aligned_alloc(align, n);
}
void *__wrap_mmap(void *addr, size_t len, int prot, int flags, int fd,
                  off_t off)
{
    /* Only anonymous mappings are allocations. */
    if ((flags & MAP_ANONYMOUS) && should_fail())
        return MAP_FAILED;
    return __real_mmap(addr, len, prot, flags, fd, off);
}

/* SQLite's own allocations count too: its allocator is wrapped through
 * sqlite3_config before SQLite starts. */
static sqlite3_mem_methods g_sqlite_mem;

static void *sq_malloc(int n)
{
    return should_fail() ? NULL : g_sqlite_mem.xMalloc(n);
}
static void sq_free(void *p) { g_sqlite_mem.xFree(p); }
static void *sq_realloc(void *p, int n)
{
    return should_fail() ? NULL : g_sqlite_mem.xRealloc(p, n);
}
static int sq_size(void *p) { return g_sqlite_mem.xSize(p); }
static int sq_roundup(int n) { return g_sqlite_mem.xRoundup(n); }
static int sq_init(void *a) { return g_sqlite_mem.xInit(a); }
static void sq_shutdown(void *a) { g_sqlite_mem.xShutdown(a); }

static int wrap_sqlite_allocator(void)
{
    static sqlite3_mem_methods wrapped = {sq_malloc, sq_free,  sq_realloc,
                                          sq_size,   sq_roundup, sq_init,
                                          sq_shutdown, NULL};
    if (sqlite3_config(SQLITE_CONFIG_GETMALLOC, &g_sqlite_mem) != SQLITE_OK)
        return -1;
    wrapped.pAppData = g_sqlite_mem.pAppData;
    return sqlite3_config(SQLITE_CONFIG_MALLOC, &wrapped) == SQLITE_OK ? 0
                                                                       : -1;
}

static void arm(long long at)
{
    atomic_store(&g_at, -1);
    atomic_store(&g_count, 0);
    atomic_store(&g_failed, 0);
    atomic_store(&g_at, at);
}

static long long disarm(void)
{
    atomic_store(&g_at, -1);
    return atomic_load(&g_failed);
}

/* ---- the operations ---- */

typedef struct {
    fx_model m;   /* built without failures: for the file operations */
    int64_t step; /* what the operation expects */
} ctx;

typedef int (*op_fn)(ctx *c);
typedef void (*check_fn)(ctx *c, int rc);

static int op_build_graph(ctx *c)
{
    fx_model m;
    memset(&m, 0, sizeof m);
    int rc = fx_build(&m, "alloc_build");
    vs_graph_close(m.g);
    (void)c;
    return rc;
}

static int op_save(ctx *c)
{
    fx_set_values(&c->m, 2);
    return vs_save(c->m.g, c->m.path, 2);
}

/* vs_save in the background: failures on the calling thread (the
 * snapshot) come from the call, those on the saving thread from free; the
 * values changed after the call must not reach the checkpoint. */
static int op_async_save(ctx *c)
{
    fx_set_values(&c->m, 2);
    vs_async *a = NULL;
    int rc = vs_async_new(&a);
    if (rc == VS_OK)
        rc = vs_async_save(a, c->m.g, c->m.path, 2, NULL);
    fx_set_values(&c->m, 7);
    int freed = vs_async_free(a);
    return rc != VS_OK ? rc : freed;
}

/* vs_save_stream's read callback: the variables' values. */
static int read_vars(void *vctx, size_t i, uint64_t off, void *buf,
                     size_t len, char *err, size_t err_cap)
{
    vs_tensor *const *t = vctx;
    (void)err;
    (void)err_cap;
    memcpy(buf, (const unsigned char *)t[i]->data + off, len);
    return VS_OK;
}

/* Step 2 as op_save writes it, read through vs_save_stream's callback. */
static int op_save_stream(ctx *c)
{
    vs_tensor *t[FX_NVARS];
    vs_dtype dt[FX_NVARS];
    int nd[FX_NVARS];
    const int64_t *sh[FX_NVARS];
    fx_set_values(&c->m, 2);
    for (int i = 0; i < FX_NVARS; i++) {
        OK(vs_var_value(c->m.v[i], &t[i]));
        dt[i] = t[i]->dtype;
        nd[i] = t[i]->ndim;
        sh[i] = t[i]->shape;
    }
    return vs_save_stream(c->m.path, 2, fx_names, dt, nd, sh, FX_NVARS,
                          read_vars, t, NULL);
}

static int op_restore(ctx *c)
{
    fx_set_values(&c->m, 5);
    return vs_restore(c->m.g, c->m.path, 1);
}

static int op_read_handle(ctx *c)
{
    vs_ckpt *f = NULL;
    vs_tensor_info *infos = NULL;
    vs_tensor *t[FX_NVARS] = {NULL};
    size_t n = 0;
    int64_t latest = 0;
    int rc = vs_ckpt_open(c->m.path, &f);
    if (rc == VS_OK)
        rc = vs_ckpt_latest(f, &latest);
    if (rc == VS_OK)
        rc = vs_ckpt_list_variables(f, latest, &infos, &n);
    if (rc == VS_OK)
        rc = vs_ckpt_load_many(f, latest, fx_names, FX_NVARS, t);
    for (int i = 0; i < FX_NVARS; i++)
        vs_tensor_free(t[i]);
    vs_tensor_info_free(infos, n);
    vs_ckpt_close(f);
    return rc;
}

static int op_verify(ctx *c)
{
    size_t n_bad = 0;
    return vs_verify(c->m.path, &n_bad);
}

/* The CLI's readers: the step-1 model written as .npy and safetensors
 * (without failures) next to the checkpoint, then read back. */
static void reader_path(const ctx *c, const char *ext, char *out, size_t n)
{
    snprintf(out, n, "%s.%s", c->m.path, ext);
}

static int op_npy_read(ctx *c)
{
    char p[600];
    vs_tensor *t = NULL;
    reader_path(c, "npy", p, sizeof p);
    int rc = vst_npy_read(p, &t);
    vs_tensor_free(t);
    return rc;
}

static int op_safetensors_read(ctx *c)
{
    char p[600];
    vst_st_file *f = NULL;
    reader_path(c, "safetensors", p, sizeof p);
    int rc = vst_st_read(p, &f);
    vst_st_free(f);
    return rc;
}

/* What `varstore save --safetensors` reads before saving: the index. */
static int op_safetensors_index(ctx *c)
{
    char p[600];
    vst_st_index *x = NULL;
    reader_path(c, "safetensors", p, sizeof p);
    int rc = vst_st_read_index(p, &x);
    vst_st_index_free(x);
    return rc;
}

static void write_reader_inputs(ctx *c)
{
    char p[600];
    vs_tensor *t[FX_NVARS];
    for (int i = 0; i < FX_NVARS; i++)
        OK(vs_var_value(c->m.v[i], &t[i]));
    reader_path(c, "npy", p, sizeof p);
    assert_int_equal(vst_npy_write(p, t[0]), VS_OK);
    reader_path(c, "safetensors", p, sizeof p);
    assert_int_equal(vst_st_write(p, fx_names, (const vs_tensor *const *)t,
                                  FX_NVARS, NULL, NULL, 0),
                     VS_OK);
}

static void check_none(ctx *c, int rc)
{
    (void)c;
    (void)rc;
}

/* A successful save has both steps. A failed one leaves step 1 alone and
 * step 2 either absent or whole: a failure after the commit (retention, the
 * switch back to WAL) is reported with the step saved. */
static void check_save(ctx *c, int rc)
{
    if (rc == VS_OK || fx_has_step(c->m.path, 2))
        fx_expect_intact(&c->m, (const int64_t[]){1, 2}, 2);
    else
        fx_expect_intact(&c->m, (const int64_t[]){1}, 1);
}

/* A failed restore keeps the variables' values. */
static void check_restore(ctx *c, int rc)
{
    fx_expect_values(&c->m, rc == VS_OK ? 1 : 5);
}

static void reset_file(ctx *c)
{
    fx_unlink(c->m.path);
    fx_set_values(&c->m, 1);
    OK(vs_save(c->m.g, c->m.path, 1));
}

/* VS_FAULT_STRIDE=k fails every k-th allocation only (the sanitizer
 * build, where each point costs more); default 1: every one. */
static long long fault_stride(void)
{
    const char *e = getenv("VS_FAULT_STRIDE");
    long long k = e != NULL ? atoll(e) : 1;
    return k > 0 ? k : 1;
}

static void sweep(op_fn op, check_fn check, int writes, const char *tag)
{
    long long stride = fault_stride();
    ctx c;
    memset(&c, 0, sizeof c);
    OK(fx_build(&c.m, tag));
    reset_file(&c);
    write_reader_inputs(&c);
    long long at = 0, n_nomem = 0, n_wrong = 0;
    for (; at < MAX_POINTS; at += stride) {
        if (writes)
            reset_file(&c);
        arm(at);
        int rc = op(&c);
        long long failed = disarm();
        if (failed == 0) {
            OK(rc); /* no allocation left to fail */
            break;
        }
        if (rc != VS_OK && rc != VS_ENOMEM) {
            /* Reported, and the sweep goes on to find the others. */
            if (n_wrong++ < 20)
                print_error("%s, allocation %lld: code %d (%s | %s)\n", tag,
                            at, rc, vs_errmsg(), vst_errmsg());
            continue;
        }
        n_nomem += rc == VS_ENOMEM;
        check(&c, rc);
        OK(op(&c)); /* and without the failure it works */
    }
    assert_true(at > 0 && at < MAX_POINTS);
    assert_true(n_nomem > 0);
    if (n_wrong > 0)
        fail_msg("%s: %lld failed allocations were not reported as "
                 "VS_ENOMEM", tag, n_wrong);
    print_message("%s: %lld allocations failed in turn, %lld reported as "
                  "VS_ENOMEM, the others absorbed\n",
                  tag, at, n_nomem);
    fx_unlink(c.m.path);
    vs_graph_close(c.m.g);
}

static void test_failed_allocation_while_building_a_graph(void **state)
{
    (void)state;
    sweep(op_build_graph, check_none, 0, "build");
}

static void test_failed_allocation_during_save_leaves_no_partial_step(void **s)
{
    (void)s;
    sweep(op_save, check_save, 1, "save");
}

static void test_failed_allocation_during_async_save_is_reported(void **s)
{
    (void)s;
    sweep(op_async_save, check_save, 1, "async_save");
}

static void test_failed_allocation_during_save_stream_leaves_no_partial_step(
    void **s)
{
    (void)s;
    sweep(op_save_stream, check_save, 1, "save_stream");
}

static void test_failed_allocation_during_restore_keeps_values(void **state)
{
    (void)state;
    sweep(op_restore, check_restore, 0, "restore");
}

static void test_failed_allocation_in_the_read_handle(void **state)
{
    (void)state;
    sweep(op_read_handle, check_none, 0, "read_handle");
}

static void test_failed_allocation_during_verify(void **state)
{
    (void)state;
    sweep(op_verify, check_none, 0, "verify");
}

static void test_failed_allocation_in_the_npy_reader(void **state)
{
    (void)state;
    sweep(op_npy_read, check_none, 0, "npy_read");
}

static void test_failed_allocation_in_the_safetensors_reader(void **state)
{
    (void)state;
    sweep(op_safetensors_read, check_none, 0, "safetensors_read");
}

static void test_failed_allocation_in_the_safetensors_index(void **state)
{
    (void)state;
    sweep(op_safetensors_index, check_none, 0, "safetensors_index");
}

int main(void)
{
    if (wrap_sqlite_allocator() != 0) {
        fprintf(stderr, "cannot wrap SQLite's allocator\n");
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_failed_allocation_while_building_a_graph),
        cmocka_unit_test(
            test_failed_allocation_during_save_leaves_no_partial_step),
        cmocka_unit_test(test_failed_allocation_during_async_save_is_reported),
        cmocka_unit_test(
            test_failed_allocation_during_save_stream_leaves_no_partial_step),
        cmocka_unit_test(test_failed_allocation_during_restore_keeps_values),
        cmocka_unit_test(test_failed_allocation_in_the_read_handle),
        cmocka_unit_test(test_failed_allocation_during_verify),
        cmocka_unit_test(test_failed_allocation_in_the_npy_reader),
        cmocka_unit_test(test_failed_allocation_in_the_safetensors_reader),
        cmocka_unit_test(test_failed_allocation_in_the_safetensors_index),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
