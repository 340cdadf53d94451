/* Tests for tools/save_source.c, what `varstore save` reads while the
 * library saves: .npy data read a chunk at a time as vst_npy_read would
 * give it (byte-swapped, Fortran order made C order), bool values and
 * files changed after their check refused with clear errors, and the
 * CLI's peak resident size bounded whatever the input's size. */
#define _DEFAULT_SOURCE /* wait4 */
#define _POSIX_C_SOURCE 200809L /* nanosleep, st_mtim */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "npy.h"
#include "save_source.h"
#include "vs_test.h"
#include "vst.h"

static char g_dir[512];

static int setup(void **state)
{
    static int counter;
    const char *t = getenv("VS_TEST_TMPDIR");
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s/vs_test_save_source_%ld_%d",
             t != NULL && *t != '\0' ? t : "/tmp", (long)getpid(), counter++);
    return mkdir(g_dir, 0700);
}

static void rm_in(const char *name)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", g_dir, name);
    (void)unlink(p); /* some do not exist */
}

static int teardown(void **state)
{
    static const char *const files[] = {"a.npy", "d/big.npy",
                                        "big.safetensors", "m.db",
                                        "m.db-wal", "m.db-shm",
                                        "m.db-journal"};
    (void)state;
    for (size_t i = 0; i < sizeof files / sizeof *files; i++)
        rm_in(files[i]);
    char d[600];
    snprintf(d, sizeof d, "%s/d", g_dir);
    (void)rmdir(d);
    return rmdir(g_dir);
}

/* Writes a .npy file: header text hdr (padded to 64 bytes), then data. */
static void write_npy(const char *path, const char *hdr, const void *data,
                      size_t n)
{
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0, 0};
    char h[256];
    size_t hl = strlen(hdr);
    size_t total = (10 + hl + 1 + 63) / 64 * 64 - 10;
    assert_true(total < sizeof h);
    memcpy(h, hdr, hl);
    memset(h + hl, ' ', total - hl);
    h[total - 1] = '\n';
    pre[8] = (unsigned char)(total & 0xff);
    pre[9] = (unsigned char)(total >> 8);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(pre, 1, 10, f), 10);
    assert_int_equal(fwrite(h, 1, total, f), total);
    if (n > 0)
        assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* A list of the one .npy file path, probed. */
static void list_of(vst_src_list *l, const char *path)
{
    vst_npy_info info;
    vst_src s;
    OK(vst_npy_probe(path, &info));
    memset(&s, 0, sizeof s);
    s.name = strdup("t");
    s.path = strdup(path);
    s.what = strdup(path);
    assert_true(s.name != NULL && s.path != NULL && s.what != NULL);
    s.dtype = info.dtype;
    s.ndim = info.ndim;
    memcpy(s.shape, info.shape, sizeof s.shape);
    s.nbytes = info.nbytes;
    s.kind = info.fortran ? VST_SRC_NPY : VST_SRC_FILE;
    s.off = info.data_off;
    s.file_size = info.file_size;
    s.file_id = info.file_id;
    s.swap = info.swap;
    vst_src_init(l);
    OK(vst_src_add(l, &s));
}

/* The file's data read in pieces of `piece` bytes equals vst_npy_read's. */
static void expect_read_as_npy_read(const char *path, size_t piece)
{
    vst_src_list l;
    vs_tensor *want = NULL;
    char err[256];
    list_of(&l, path);
    OK(vst_npy_read(path, &want));
    size_t n = vs_tensor_nbytes(want);
    unsigned char *got = malloc(n);
    assert_non_null(got);
    for (size_t off = 0; off < n; off += piece) {
        size_t len = n - off < piece ? n - off : piece;
        OK(vst_src_read(&l, 0, off, got + off, len, err, sizeof err));
    }
    assert_memory_equal(got, want->data, n);
    /* Read whole, as a small save reads it: the same bytes, shape too. */
    vst_src_whole w;
    OK(vst_src_read_all(&l, &w));
    assert_ptr_equal(w.ptrs[0], &w.t[0]);
    assert_int_equal(w.t[0].dtype, want->dtype);
    assert_int_equal(w.t[0].ndim, want->ndim);
    assert_memory_equal(w.t[0].shape, want->shape,
                        (size_t)want->ndim * sizeof *want->shape);
    assert_memory_equal(w.t[0].data, want->data, n);
    vst_src_whole_free(&w);
    free(got);
    vs_tensor_free(want);
    vst_src_free(&l);
}

static void test_save_source__big_endian_and_fortran_read_as_c_order(void **st)
{
    (void)st;
    char p[600];
    snprintf(p, sizeof p, "%s/a.npy", g_dir);
    /* int32 big-endian (3, 5): 0..14 */
    unsigned char be[60];
    for (int i = 0; i < 15; i++) {
        be[4 * i] = be[4 * i + 1] = be[4 * i + 2] = 0;
        be[4 * i + 3] = (unsigned char)i;
    }
    write_npy(p, "{'descr': '>i4', 'fortran_order': False, 'shape': (3, 5), }",
              be, sizeof be);
    expect_read_as_npy_read(p, 8);
    /* float32 Fortran-ordered (4, 6), read in pieces of 3 elements */
    float f[24];
    for (int i = 0; i < 24; i++)
        f[i] = (float)i * 0.5f;
    write_npy(p, "{'descr': '<f4', 'fortran_order': True, 'shape': (4, 6), }",
              f, sizeof f);
    expect_read_as_npy_read(p, 12);
}

/* A bool byte other than 0/1 beyond the first check buffer (1 MiB): the
 * element is counted from the tensor's start. */
static void test_save_source__bad_bool_named_with_its_element(void **st)
{
    (void)st;
    char p[600];
    size_t n = 1500001;
    unsigned char *b = calloc(n, 1);
    assert_non_null(b);
    b[1500000] = 7;
    snprintf(p, sizeof p, "%s/a.npy", g_dir);
    write_npy(p, "{'descr': '|b1', 'fortran_order': False, 'shape': "
                 "(1500001,), }",
              b, n);
    free(b);
    vst_src_list l;
    list_of(&l, p);
    assert_int_equal(vst_src_check_bools(&l), VS_ECORRUPT);
    char want[700];
    snprintf(want, sizeof want, "%s: bool element 1500000 is 7, not 0 or 1",
             p);
    assert_string_equal(vst_errmsg(), want);
    /* ... and in a read of the chunk that holds it */
    unsigned char buf[16];
    char err[512];
    OK(vst_src_read(&l, 0, 0, buf, sizeof buf, err, sizeof err));
    assert_int_equal(vst_src_read(&l, 0, 1499990, buf, 11, err, sizeof err),
                     VS_ECORRUPT);
    assert_string_equal(err, want);
    /* ... and in a whole read, which then holds nothing */
    vst_src_whole w;
    assert_int_equal(vst_src_read_all(&l, &w), VS_ECORRUPT);
    assert_null(w.block);
    assert_null(w.t);
    assert_string_equal(vst_errmsg(), want);
    vst_src_free(&l);
}

/* A file truncated or grown after its check: an error naming it, never a
 * crash (the data is read, not mapped) nor wrong bytes. */
static void test_save_source__file_changed_after_check_is_an_error(void **st)
{
    (void)st;
    char p[600], err[512];
    float v[256] = {0};
    snprintf(p, sizeof p, "%s/a.npy", g_dir);
    write_npy(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (256,), }",
              v, sizeof v);
    vst_src_list l;
    list_of(&l, p);
    assert_int_equal(truncate(p, 200), 0);
    assert_int_equal(vst_src_read(&l, 0, 0, v, 64, err, sizeof err), VS_EIO);
    assert_non_null(strstr(err, "changed while being saved"));
    assert_non_null(strstr(err, p));
    vst_src_whole w;
    assert_int_equal(vst_src_read_all(&l, &w), VS_EIO);
    assert_null(w.block);
    assert_non_null(strstr(vst_errmsg(), "changed while being saved"));
    /* Asking beyond the tensor is refused too. */
    assert_int_equal(vst_src_read(&l, 0, 1020, v, 8, err, sizeof err),
                     VS_EINVAL);
    assert_int_equal(vst_src_read(&l, 1, 0, v, 8, err, sizeof err),
                     VS_EINVAL);
    vst_src_free(&l);
}

/* A file truncated while being read, after its size was checked at open
 * (a streamed save's reads, on one thread or on every core): the error
 * says it changed, not that the disk failed ("Input/output error"). */
static void test_save_source__file_truncated_while_read_says_it_changed(
    void **st)
{
    (void)st;
    char p[600], err[512];
    float v[256] = {0};
    snprintf(p, sizeof p, "%s/a.npy", g_dir);
    write_npy(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (256,), }",
              v, sizeof v);
    vst_src_list l;
    list_of(&l, p);
    OK(vst_src_read(&l, 0, 0, v, 64, err, sizeof err)); /* opens it */
    assert_int_equal(truncate(p, 200), 0);
    assert_int_equal(vst_src_read(&l, 0, 512, v, 64, err, sizeof err),
                     VS_EIO);
    assert_non_null(strstr(err, "changed while being saved"));
    assert_non_null(strstr(err, p));
    assert_null(strstr(err, "Input/output error"));
    vst_src_free(&l);
    /* the reader every thread shares: opened (and checked) first; the
     * file written anew is described anew (it is another file now) */
    write_npy(p, "{'descr': '<f4', 'fortran_order': False, 'shape': (256,), }",
              v, sizeof v);
    list_of(&l, p);
    assert_int_equal(vst_src_share(&l), 1);
    assert_int_equal(truncate(p, 200), 0);
    assert_int_equal(
        vst_src_read_shared(&l, 0, 512, v, 64, err, sizeof err), VS_EIO);
    assert_non_null(strstr(err, "changed while being saved"));
    assert_non_null(strstr(err, p));
    assert_null(strstr(err, "Input/output error"));
    vst_src_free(&l);
}

/* Writes len bytes of value c at pos of path, in place (its size kept),
 * again until its modification time shows it (the kernel's file clock
 * ticks every few ms): a rewrite at the same size a reader can tell. */
static void rewrite_in_place(const char *path, uint64_t pos, size_t len,
                             int c)
{
    struct stat before, after;
    unsigned char buf[256];
    const struct timespec ms = {0, 1000000};
    assert_true(len <= sizeof buf);
    memset(buf, c, len);
    assert_int_equal(stat(path, &before), 0);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    for (int tries = 0; tries < 5000; tries++) {
        assert_int_equal(vst_pwrite_all(fd, buf, len, pos), 0);
        assert_int_equal(fstat(fd, &after), 0);
        if (after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
            after.st_mtim.tv_nsec != before.st_mtim.tv_nsec)
            break;
        (void)nanosleep(&ms, NULL);
    }
    assert_int_equal(close(fd), 0);
    assert_int_equal(after.st_size, before.st_size);
    assert_true(after.st_mtim.tv_sec != before.st_mtim.tv_sec ||
                after.st_mtim.tv_nsec != before.st_mtim.tv_nsec);
}

static void expect_rewritten(int rc, const char *err, const char *p)
{
    assert_int_equal(rc, VS_EIO);
    assert_non_null(strstr(err, "changed while being saved (written over "
                                "or replaced at the same size"));
    assert_non_null(strstr(err, p));
}

#define F256 "{'descr': '<f4', 'fortran_order': False, 'shape': (256,), }"

/* A file written over in place at its size after its check: an error
 * (its size alone, checked before, said nothing), whether it happens
 * between two reads, before the file is opened, under the reader every
 * thread shares, or before a whole (Fortran-ordered) read. */
static void test_save_source__file_rewritten_at_same_size_is_an_error(
    void **st)
{
    (void)st;
    char p[600], err[512];
    float v[256] = {0};
    vst_src_list l;
    snprintf(p, sizeof p, "%s/a.npy", g_dir);
    write_npy(p, F256, v, sizeof v);
    list_of(&l, p);
    OK(vst_src_read(&l, 0, 0, v, 64, err, sizeof err)); /* opens it */
    rewrite_in_place(p, l.s[0].off + 512, 64, 0x41);
    expect_rewritten(vst_src_read(&l, 0, 512, v, 64, err, sizeof err), err,
                     p);
    vst_src_free(&l);
    write_npy(p, F256, v, sizeof v); /* before it is opened */
    list_of(&l, p);
    rewrite_in_place(p, l.s[0].off, 4, 0x42);
    expect_rewritten(vst_src_read(&l, 0, 0, v, 64, err, sizeof err), err, p);
    vst_src_free(&l);
    write_npy(p, F256, v, sizeof v); /* the shared reader */
    list_of(&l, p);
    assert_int_equal(vst_src_share(&l), 1);
    rewrite_in_place(p, l.s[0].off + 8, 4, 0x43);
    expect_rewritten(vst_src_read_shared(&l, 0, 0, v, 64, err, sizeof err),
                     err, p);
    vst_src_free(&l);
    write_npy(p, "{'descr': '<f4', 'fortran_order': True, 'shape': (4, 6), }",
              v, 24 * sizeof(float)); /* read whole */
    list_of(&l, p);
    assert_int_equal(l.s[0].kind, VST_SRC_NPY);
    rewrite_in_place(p, l.s[0].off, 4, 0x44);
    expect_rewritten(vst_src_read(&l, 0, 0, v, 64, err, sizeof err), err, p);
    vst_src_free(&l);
}

/* vst_src_read, writing over its file in place at its size (after the
 * first chunk is read): a change in the middle of a streamed save. */
static int read_then_rewrite(void *ctx, size_t i, uint64_t off, void *buf,
                             size_t len, char *err, size_t err_cap)
{
    vst_src_list *l = ctx;
    int rc = vst_src_read(l, i, off, buf, len, err, err_cap);
    if (rc == VS_OK && off == 0)
        rewrite_in_place(l->s[i].path, l->s[i].off + 40000, 8, 0x45);
    return rc;
}

/* A streamed save whose source is written over at its size midway fails
 * with that error, and commits nothing of its step (the step saved
 * before stays). */
static void test_save_source__save_of_file_rewritten_midway_commits_nothing(
    void **st)
{
    (void)st;
    char p[600], db[600];
    static float v[16384];
    vst_src_list l;
    vs_save_opts o;
    vs_ckpt_info *ck = NULL;
    size_t nck = 0;
    const char *name = "t";
    vs_dtype dt = VS_FLOAT32;
    int nd = 1;
    int64_t shape[1] = {16384};
    const int64_t *shapes[1] = {shape};
    for (int i = 0; i < 16384; i++)
        v[i] = (float)i;
    snprintf(p, sizeof p, "%s/a.npy", g_dir);
    snprintf(db, sizeof db, "%s/m.db", g_dir);
    write_npy(p, "{'descr': '<f4', 'fortran_order': False, "
                 "'shape': (16384,), }", v, sizeof v);
    list_of(&l, p);
    memset(&o, 0, sizeof o);
    o.chunk_bytes = 4096; /* 16 chunks */
    OK(vs_save_stream(db, 1, &name, &dt, &nd, shapes, 1, vst_src_read, &l,
                      &o));
    assert_int_not_equal(vs_save_stream(db, 2, &name, &dt, &nd, shapes, 1,
                                        read_then_rewrite, &l, &o),
                         VS_OK);
    assert_non_null(strstr(vs_errmsg(), "changed while being saved"));
    vst_src_free(&l);
    OK(vs_list_checkpoints(db, &ck, &nck));
    assert_int_equal(nck, 1);
    assert_int_equal(ck[0].step, 1);
    vs_free(ck);
}

/* ---- the CLI's peak resident size -------------------------------------- */

#ifndef VS_SANITIZED
#define BIG_BYTES ((off_t)320 << 20)

/* DIR/d/big.npy: float32 (80, 1 Mi), 320 MiB of zeros, sparse (no disk
 * space, no time to write it). */
static void write_sparse_npy(void)
{
    char d[600], p[700];
    unsigned char hdr[VST_NPY_HEADER_MAX];
    size_t hl = 0, nbytes = 0;
    int64_t shape[2] = {80, (int64_t)1 << 20};
    snprintf(d, sizeof d, "%s/d", g_dir);
    assert_int_equal(mkdir(d, 0700), 0);
    snprintf(p, sizeof p, "%s/big.npy", d);
    OK(vst_npy_header(p, VS_FLOAT32, 2, shape, hdr, sizeof hdr, &hl,
                      &nbytes));
    assert_int_equal((off_t)nbytes, BIG_BYTES);
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(vst_pwrite_all(fd, hdr, hl, 0), 0);
    assert_int_equal(ftruncate(fd, (off_t)hl + BIG_BYTES), 0);
    assert_int_equal(close(fd), 0);
}

/* DIR/big.safetensors: the same shape, 320 MiB written, each MiB of it
 * starting with its index (a uint32) and then filled with the index's
 * low byte, so that no chunk repeats another. */
static void write_safetensors(void)
{
    char p[600], json[160];
    snprintf(p, sizeof p, "%s/big.safetensors", g_dir);
    int jl = snprintf(json, sizeof json,
                      "{\"big\":{\"dtype\":\"F32\",\"shape\":[80,1048576],"
                      "\"data_offsets\":[0,%lld]}}",
                      (long long)BIG_BYTES);
    assert_true(jl > 0 && jl + 8 < (int)sizeof json);
    while (jl % 8 != 0)
        json[jl++] = ' '; /* padding, as safetensors writers do */
    unsigned char len[8];
    for (int i = 0; i < 8; i++)
        len[i] = (unsigned char)((uint64_t)jl >> (8 * i));
    int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(vst_pwrite_all(fd, len, 8, 0), 0);
    assert_int_equal(vst_pwrite_all(fd, json, (size_t)jl, 8), 0);
    static unsigned char mib[1 << 20];
    for (off_t at = 0; at < BIG_BYTES; at += (off_t)sizeof mib) {
        uint32_t k = (uint32_t)(at >> 20);
        memset(mib, (int)(k & 0xff), sizeof mib);
        memcpy(mib, &k, sizeof k); /* k 0 and 256: still different */
        assert_int_equal(vst_pwrite_all(fd, mib, sizeof mib,
                                        (uint64_t)(8 + jl + at)),
                         0);
    }
    assert_int_equal(close(fd), 0);
}

/* Runs `varstore save DIR/m.db --step 1 FLAG DIR/SRC` (output to
 * /dev/null): its exit status and peak resident size in KiB. */
static int run_save(const char *flag, const char *name, long *maxrss_kb)
{
    char db[600], src[600];
    snprintf(db, sizeof db, "%s/m.db", g_dir);
    snprintf(src, sizeof src, "%s/%s", g_dir, name);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null < 0 || dup2(null, 1) < 0)
            _exit(126);
        execl(VS_CLI, VS_CLI, "save", db, "--step", "1", flag, src,
              (char *)NULL);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    assert_int_equal(wait4(pid, &status, 0, &ru), pid);
    *maxrss_kb = ru.ru_maxrss;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs the save of DIR/name by the CLI and checks its peak resident
 * size and the tensor it saved. */
static void assert_small_save(const char *flag, const char *name)
{
    long rss = 0;
    assert_int_equal(run_save(flag, name, &rss), 0);
    /* 320 MiB imported; the save's buffers are a few MiB per thread, and
     * the CLI's baseline (library, SQLite's cache) some tens of MiB: a
     * whole-input mapping or copy would be 320 MiB more. */
    print_message("%s: peak resident size %ld KiB\n", flag, rss);
    assert_true(rss < 160 * 1024);
    char db[600];
    snprintf(db, sizeof db, "%s/m.db", g_dir);
    vs_tensor_info *infos = NULL;
    size_t n = 0;
    OK(vs_list_variables(db, 1, &infos, &n));
    assert_int_equal(n, 1);
    assert_string_equal(infos[0].name, "big");
    assert_int_equal(infos[0].raw_bytes, BIG_BYTES);
    vs_tensor_info_free(infos, n);
}
#endif

/* ASan's shadow memory and quarantine of freed blocks make the resident
 * size say nothing about the CLI's own buffers. */
#ifdef VS_SANITIZED
#define SKIP_SANITIZED()                                                   \
    do {                                                                   \
        print_message("skipped: resident size is not meaningful under "   \
                      "the sanitizers\n");                                 \
        skip();                                                            \
    } while (0)
#endif

static void test_save_source__cli_save_peak_rss_stays_small(void **st)
{
    (void)st;
#ifdef VS_SANITIZED
    SKIP_SANITIZED();
#else
    write_sparse_npy();
    assert_small_save("--npy", "d");
#endif
}

/* A safetensors file into a new checkpoint file is read by the
 * compression threads, in parallel (vs_save_stream_parallel). */
static void test_save_source__cli_safetensors_save_peak_rss_stays_small(
    void **st)
{
    (void)st;
#ifdef VS_SANITIZED
    SKIP_SANITIZED();
#else
    write_safetensors();
    assert_small_save("--safetensors", "big.safetensors");
    vs_tensor *t = NULL;
    char db[600];
    snprintf(db, sizeof db, "%s/m.db", g_dir);
    OK(vs_load_variable(db, 1, "big", &t));
    const unsigned char *b = t->data;
    for (off_t at = 0; at < BIG_BYTES; at += (off_t)1 << 20) {
        uint32_t k;
        memcpy(&k, b + at, sizeof k);
        assert_int_equal(k, (uint32_t)(at >> 20));
        assert_int_equal(b[at + 4], (at >> 20) & 0xff);
    }
    vs_tensor_free(t);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_save_source__big_endian_and_fortran_read_as_c_order, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_save_source__bad_bool_named_with_its_element, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_save_source__file_changed_after_check_is_an_error, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_save_source__file_truncated_while_read_says_it_changed,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_save_source__file_rewritten_at_same_size_is_an_error, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_save_source__save_of_file_rewritten_midway_commits_nothing,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_save_source__cli_save_peak_rss_stays_small, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_save_source__cli_safetensors_save_peak_rss_stays_small,
            setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
