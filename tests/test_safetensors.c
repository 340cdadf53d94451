/* Tests for tools/safetensors.c: files are composed here byte by byte from
 * the published safetensors format (8-byte little-endian header length,
 * JSON header, data section), read, checked, written back and compared. */
#define _GNU_SOURCE /* O_TMPFILE */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "safetensors.h"
#include "vst.h"
#include "support/vs_test.h"

#define TMP_PREFIX "test_st"
#define TMP_SUFFIX ".safetensors"
#include "support/file_util.h"
#include "tools_fifo.h"

/* 8-byte LE length of the (space-padded to a multiple of 8 when pad) header,
 * the header, then the data. Returns the total size. */
static size_t compose(unsigned char *out, const char *hdr, int pad,
                      const void *data, size_t dlen)
{
    size_t hl = strlen(hdr), i;
    memcpy(out + 8, hdr, hl);
    while (pad && hl % 8)
        out[8 + hl++] = ' ';
    for (i = 0; i < 8; i++)
        out[i] = (unsigned char)((uint64_t)hl >> (8 * i));
    if (dlen)
        memcpy(out + 8 + hl, data, dlen);
    return 8 + hl + dlen;
}

/* Every dtype, the names given out of order in the header and offsets in
 * file order; the tensors sorted by name, where each one's data is in the
 * file's data section, and how many bytes. */
static const char every_hdr[] =
    "{\"__metadata__\":{\"format\":\"pt\",\"step\":\"7\"},"
    "\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
    "\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[16,24]},"
    "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[24,28]},"
    "\"z\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[28,32]},"
    "\"d\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[32,40]},"
    "\"i\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[40,44]},"
    "\"m\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[44,46]},"
    "\"q\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[46,47]},"
    "\"u\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[47,48]},"
    "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[48,48]}}";
static const char *const every_names[] = {"b", "d", "e", "h", "i",
                                          "m", "q", "u", "w", "z"};
static const size_t every_off[] = {16, 32, 48, 24, 40, 44, 46, 47, 0, 28};
static const size_t every_len[] = {8, 8, 0, 4, 4, 2, 1, 1, 16, 4};
/* What the writer writes for them: the same, in sorted order. */
static const char every_hdr_back[] =
    "{\"__metadata__\":{\"format\":\"pt\",\"step\":\"7\"},"
    "\"b\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]},"
    "\"d\":{\"dtype\":\"F64\",\"shape\":[],\"data_offsets\":[8,16]},"
    "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[16,16]},"
    "\"h\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[16,20]},"
    "\"i\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[20,24]},"
    "\"m\":{\"dtype\":\"BOOL\",\"shape\":[2],\"data_offsets\":[24,26]},"
    "\"q\":{\"dtype\":\"I8\",\"shape\":[1],\"data_offsets\":[26,27]},"
    "\"u\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[27,28]},"
    "\"w\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[28,44]},"
    "\"z\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[44,48]}}";

/* The data section of every_hdr: arbitrary bytes, floats in w, valid bools
 * in m. */
static void every_data(unsigned char data[48])
{
    const float w[4] = {1.0f, -2.5f, 3.0f, 0.125f};
    size_t i;
    for (i = 0; i < 48; i++)
        data[i] = (unsigned char)(i * 13 + 5);
    memcpy(data, w, sizeof w);
    data[44] = 1;
    data[45] = 0;
}

static void check_every_read(const vst_st_file *f, const unsigned char *data)
{
    size_t i;
    assert_int_equal(f->n, 10);
    for (i = 0; i < f->n; i++) {
        assert_string_equal(f->names[i], every_names[i]);
        assert_int_equal(vs_tensor_nbytes(f->tensors[i]), every_len[i]);
        if (every_len[i])
            assert_memory_equal(f->tensors[i]->data, data + every_off[i],
                                every_len[i]);
    }
    assert_int_equal(f->tensors[8]->dtype, VS_FLOAT32);
    assert_int_equal(f->tensors[8]->ndim, 2);
    assert_true(((float *)f->tensors[8]->data)[1] == -2.5f);
    assert_int_equal(f->tensors[9]->dtype, VS_BFLOAT16);
    assert_int_equal(f->tensors[1]->ndim, 0);
    assert_int_equal(f->tensors[2]->shape[1], 3);
    assert_int_equal(f->n_meta, 2);
    assert_string_equal(f->meta_keys[0], "format");
    assert_string_equal(f->meta_values[0], "pt");
    assert_string_equal(f->meta_keys[1], "step");
    assert_string_equal(f->meta_values[1], "7");
}

/* The file at tmp_path is exactly every_hdr_back and the data in name
 * order. */
static void check_every_written(const unsigned char *data)
{
    unsigned char data2[48], file2[2048], *back;
    size_t pos = 0, n2, nback, i;
    for (i = 0; i < 10; i++) {
        memcpy(data2 + pos, data + every_off[i], every_len[i]);
        pos += every_len[i];
    }
    n2 = compose(file2, every_hdr_back, 1, data2, pos);
    back = read_file(tmp_path, &nback);
    assert_int_equal(nback, n2);
    assert_memory_equal(back, file2, n2);
    free(back);
}

static void test_safetensors__read_every_dtype_and_write_back(void **state)
{
    unsigned char data[48], file[2048];
    vst_st_file *f = NULL, *g = NULL;
    size_t i;
    (void)state;

    every_data(data);
    write_file(tmp_path, file, compose(file, every_hdr, 1, data, sizeof data));
    OK(vst_st_read(tmp_path, &f));
    check_every_read(f, data);
    /* Written back: exactly the composed layout for the sorted names. */
    OK(vst_st_write(tmp_path, (const char *const *)f->names,
                    (const vs_tensor *const *)f->tensors, f->n,
                    (const char *const *)f->meta_keys,
                    (const char *const *)f->meta_values, f->n_meta));
    check_every_written(data);
    OK(vst_st_read(tmp_path, &g));
    assert_int_equal(g->n, f->n);
    for (i = 0; i < g->n; i++)
        assert_memory_equal(g->tensors[i]->data, f->tensors[i]->data,
                            vs_tensor_nbytes(f->tensors[i]));
    vst_st_free(f);
    vst_st_free(g);
}

static void test_safetensors__unpadded_header_and_no_metadata(void **state)
{
    static const char hdr[] =
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,3]}}";
    unsigned char file[256];
    vst_st_file *f = NULL;
    size_t n;
    (void)state;
    n = compose(file, hdr, 0, "xyz", 3);
    write_file(tmp_path, file, n);
    OK(vst_st_read(tmp_path, &f));
    assert_int_equal(f->n, 1);
    assert_int_equal(f->n_meta, 0);
    assert_memory_equal(f->tensors[0]->data, "xyz", 3);
    vst_st_free(f);
}

static void test_safetensors__escaped_names_decoded(void **state)
{
    static const char hdr[] =
        "{\"a\\u00e9/\\\"q\":{\"dtype\":\"I8\",\"shape\":[1],"
        "\"data_offsets\":[0,1]}}";
    unsigned char file[256];
    vst_st_file *f = NULL, *g = NULL;
    size_t n;
    (void)state;
    n = compose(file, hdr, 1, "\x7f", 1);
    write_file(tmp_path, file, n);
    OK(vst_st_read(tmp_path, &f));
    assert_int_equal(f->n, 1);
    assert_string_equal(f->names[0], "a\xc3\xa9/\"q");
    /* and written back escaped, read back the same */
    OK(vst_st_write(tmp_path, (const char *const *)f->names,
                    (const vs_tensor *const *)f->tensors, 1, NULL, NULL, 0));
    OK(vst_st_read(tmp_path, &g));
    assert_string_equal(g->names[0], f->names[0]);
    vst_st_free(f);
    vst_st_free(g);
}

static void expect_fail(const void *bytes, size_t n, int code,
                        const char *msg)
{
    vst_st_file *f = (vst_st_file *)&f; /* must come back NULL */
    char want[800];
    write_file(tmp_path, bytes, n);
    if (vst_st_read(tmp_path, &f) != code)
        fail_msg("unexpected code, message: %s", vst_errmsg());
    assert_null(f);
    snprintf(want, sizeof want, "%s: %s", tmp_path, msg);
    assert_string_equal(vst_errmsg(), want);
}

static void expect_hdr_fail(const char *hdr, size_t dlen, int code,
                            const char *msg)
{
    unsigned char file[4096], data[256] = {0};
    size_t n = compose(file, hdr, 1, data, dlen);
    expect_fail(file, n, code, msg);
}

static void test_safetensors__hostile_lengths_and_json_refused(void **state)
{
    unsigned char file[256];
    size_t n;
    (void)state;

    expect_fail("\x10\0\0", 3, VS_ECORRUPT,
                "truncated safetensors file (3 bytes, the header length "
                "alone is 8)");
    n = compose(file, "{}", 1, NULL, 0);
    file[0] = 0x40; /* 64-byte header in a 16-byte file */
    expect_fail(file, n, VS_ECORRUPT,
                "header length 64 goes beyond the end of the file (16 "
                "bytes)");
    memcpy(file, "\x01\xe1\xf5\x05\0\0\0\0", 8); /* 100000001 */
    expect_fail(file, n, VS_ECORRUPT,
                "header length 100000001 exceeds the 100 MB limit");
    memcpy(file, "\0\0\0\0\0\0\0\x80", 8);
    expect_fail(file, n, VS_ECORRUPT,
                "header length 9223372036854775808 exceeds the 100 MB limit");
    expect_hdr_fail("{\"a\":", 0, VS_ECORRUPT, "header is not valid JSON");
    expect_hdr_fail("[1,2]", 0, VS_ECORRUPT, "header is not a JSON object");
    expect_hdr_fail("{\"a\":[1]}", 0, VS_ECORRUPT,
                    "tensor 'a': entry is not a JSON object");
}

static void test_safetensors__hostile_layouts_refused(void **state)
{
    (void)state;
    expect_hdr_fail(
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", 8,
        VS_ECORRUPT,
        "tensor 'a': data_offsets [0, 12] go beyond the data section (8 "
        "bytes)");
    expect_hdr_fail(
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
        12, VS_ECORRUPT, "tensors 'a' and 'b' overlap in the data section");
    expect_hdr_fail(
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]}}",
        16, VS_ECORRUPT,
        "bytes 8 to 12 of the data section belong to no tensor");
    expect_hdr_fail(
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 10,
        VS_ECORRUPT, "bytes 8 to 10 of the data section belong to no tensor");
    expect_hdr_fail(
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
        VS_ECORRUPT,
        "tensor 'a': shape (3,) of F32 needs 12 bytes but data_offsets [0, "
        "8] hold 8");
    expect_hdr_fail("{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,"
                    "4294967296],\"data_offsets\":[0,8]}}",
                    8, VS_EINVAL,
                    "tensor 'a': shape (4294967296, 4294967296) of float64 "
                    "is too large: 147573952589676412928 bytes overflows "
                    "size_t");
    expect_hdr_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[99999999999999999999"
                    "],\"data_offsets\":[0,4]}}",
                    4, VS_ECORRUPT,
                    "tensor 'a': shape holds a value that is not a 64-bit "
                    "integer");
    expect_hdr_fail(
        "{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4,
        VS_ECORRUPT, "tensor 'a': shape holds -1");
    expect_hdr_fail("{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                    "\"data_offsets\":[0,4]}}",
                    4, VS_EINVAL,
                    "tensor 'a': shape has more than 8 dimensions");
}

static void test_safetensors__hostile_fields_refused(void **state)
{
    unsigned char file[256], data[1] = {3};
    size_t n;
    (void)state;
    expect_hdr_fail(
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
        "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}",
        2, VS_ECORRUPT, "duplicate tensor name 'a'");
    expect_hdr_fail(
        "{\"a\":{\"dtype\":\"C64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
        VS_EDTYPE,
        "tensor 'a': unknown dtype 'C64' (F16 BF16 F32 F64 I8 U8 I32 I64 "
        "BOOL are read)");
    expect_hdr_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[1]}}", 1, VS_ECORRUPT,
                    "tensor 'a': missing field 'data_offsets'");
    expect_hdr_fail(
        "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,0]}}", 1,
        VS_ECORRUPT, "tensor 'a': data_offsets [1, 0] end before they begin");
    expect_hdr_fail("{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":"
                    "[0,1],\"extra\":1}}",
                    1, VS_ECORRUPT, "tensor 'a': unknown field 'extra'");
    expect_hdr_fail(
        "{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
        1, VS_ECORRUPT, "header has a NUL character (\\u0000) in a string");
    expect_hdr_fail("{\"__metadata__\":{\"k\":1}}", 0, VS_ECORRUPT,
                    "__metadata__ value of 'k' is not a string");
    expect_hdr_fail(
        "{\"m\":{\"dtype\":\"BOOL\",\"shape\":[1],\"data_offsets\":[0,1]}}", 0,
        VS_ECORRUPT,
        "tensor 'm': data_offsets [0, 1] go beyond the data section (0 "
        "bytes)");
    n = compose(file,
                "{\"m\":{\"dtype\":\"BOOL\",\"shape\":[1],"
                "\"data_offsets\":[0,1]}}",
                1, data, 1);
    expect_fail(file, n, VS_ECORRUPT,
                "tensor 'm': bool element 0 is 3, not 0 or 1");
}

/* Names must be valid UTF-8 (issue 13.4): raw invalid bytes, and an
 * escaped lone surrogate (which SQLite's JSON decodes to invalid UTF-8),
 * are refused by the reader; the writer refuses such a name too. */
static void test_safetensors__invalid_utf8_names_refused(void **state)
{
    int64_t shape[1] = {1};
    vs_tensor *t = NULL;
    const char *bad = "a\xff";
    const vs_tensor *ts[1];
    (void)state;
    expect_hdr_fail("{\"a\xff\":{\"dtype\":\"U8\",\"shape\":[1],"
                    "\"data_offsets\":[0,1]}}",
                    1, VS_ECORRUPT, "a tensor name is not valid UTF-8");
    expect_hdr_fail("{\"a\\ud800\":{\"dtype\":\"U8\",\"shape\":[1],"
                    "\"data_offsets\":[0,1]}}",
                    1, VS_ECORRUPT, "a tensor name is not valid UTF-8");
    expect_hdr_fail("{\"__metadata__\":{\"k\":\"\xc0\xaf\"}}", 0,
                    VS_ECORRUPT, "__metadata__ entry is not valid UTF-8");
    OK(vs_tensor_new(VS_UINT8, 1, shape, &t));
    ts[0] = t;
    assert_int_equal(vst_st_write(tmp_path, &bad, ts, 1, NULL, NULL, 0),
                     VS_EINVAL);
    vs_tensor_free(t);
}

/* vst_st_read of path; *out must stay NULL. */
static int read_fifo(const char *path)
{
    vst_st_file *f = NULL;
    int rc = vst_st_read(path, &f);
    assert_null(f);
    return rc;
}

/* A FIFO is refused at once, never waited on (save --safetensors FIFO used
 * to hang). */
static void test_safetensors__fifo_refused_without_waiting(void **state)
{
    (void)state;
    expect_fifo_refused(read_fifo);
}

static void test_safetensors__write_failures_leave_nothing(void **state)
{
    int64_t shape[1] = {2};
    vs_tensor *t = NULL;
    const vs_tensor *ts[2];
    const char *names[2] = {"x", "x"};
    char bad[600];
    (void)state;

    OK(vs_tensor_new(VS_FLOAT32, 1, shape, &t));
    ts[0] = ts[1] = t;
    assert_int_equal(vst_st_write(tmp_path, names, ts, 2, NULL, NULL, 0),
                     VS_EINVAL);
    {
        char want[600];
        snprintf(want, sizeof want, "%s: duplicate tensor name 'x'", tmp_path);
        assert_string_equal(vst_errmsg(), want);
    }
    assert_int_equal(access(tmp_path, F_OK), -1);
    snprintf(bad, sizeof bad, "%s.nodir/x.safetensors", tmp_path);
    assert_int_equal(vst_st_write(bad, names, ts, 1, NULL, NULL, 0), VS_EIO);
    assert_int_equal(access(bad, F_OK), -1);
    vs_tensor_free(t);
}

/* How many files match the glob pattern. */
static size_t tmp_files(const char *pattern)
{
    glob_t g;
    int r = glob(pattern, 0, NULL, &g);
    size_t n = r == 0 ? g.gl_pathc : 0;
    assert_true(r == 0 || r == GLOB_NOMATCH);
    globfree(&g);
    return n;
}

/* The piecewise writer: pieces put in any order (here backwards, two per
 * tensor) give the file vst_st_write gives; a piece outside its tensor or
 * not of whole elements is refused; a commit with bytes missing at the end
 * fails and leaves nothing; a discard leaves nothing. */
static void test_safetensors__piecewise_writer(void **state)
{
    int64_t s1[1] = {6}, s2[2] = {2, 3};
    vs_tensor *a = NULL, *b = NULL;
    vst_st_writer *w = NULL;
    vst_st_file *f = NULL;
    char other[600], want[700];
    const char *mk[1] = {"k"}, *mv[1] = {"v"};
    (void)state;

    OK(vs_tensor_new(VS_FLOAT32, 1, s1, &a));
    OK(vs_tensor_new(VS_FLOAT16, 2, s2, &b));
    for (int i = 0; i < 6; i++) {
        ((float *)a->data)[i] = (float)i * 1.5f - 2.0f;
        ((uint16_t *)b->data)[i] = (uint16_t)(i * 1000 + 2500);
    }
    const char *names[2] = {"a", "b/c"};
    const vs_tensor *ts[2] = {a, b};
    snprintf(other, sizeof other, "%s.whole", tmp_path);
    OK(vst_st_write(other, names, ts, 2, mk, mv, 1));

    vst_st_desc d[2] = {{"a", VS_FLOAT32, 1, s1}, {"b/c", VS_FLOAT16, 2, s2}};
    OK(vst_st_create(tmp_path, d, 2, mk, mv, 1, &w));
    assert_int_equal(access(tmp_path, F_OK), -1); /* not before commit */
    OK(vst_st_put(w, 1, 6, (char *)b->data + 6, 6));
    OK(vst_st_put(w, 1, 0, b->data, 6));
    OK(vst_st_put(w, 0, 12, (char *)a->data + 12, 12));
    OK(vst_st_put(w, 0, 0, a->data, 12));
    assert_int_equal(vst_st_put(w, 0, 20, a->data, 8), VS_EINVAL);
    assert_int_equal(vst_st_put(w, 1, 1, b->data, 2), VS_EINVAL);
    assert_int_equal(vst_st_put(w, 2, 0, b->data, 2), VS_EINVAL);
    OK(vst_st_commit(w));
    {
        FILE *x = fopen(tmp_path, "rb"), *y = fopen(other, "rb");
        unsigned char bx[512], by[512];
        size_t nx, ny;
        assert_non_null(x);
        assert_non_null(y);
        nx = fread(bx, 1, sizeof bx, x);
        ny = fread(by, 1, sizeof by, y);
        fclose(x);
        fclose(y);
        assert_int_equal(nx, ny);
        assert_memory_equal(bx, by, nx);
    }
    OK(vst_st_read(tmp_path, &f));
    assert_int_equal(f->n, 2);
    vst_st_free(f);
    remove(other);
    remove(tmp_path);

    /* the last tensor never put: the commit fails, nothing is left */
    OK(vst_st_create(tmp_path, d, 2, NULL, NULL, 0, &w));
    OK(vst_st_put(w, 0, 0, a->data, 24));
    assert_int_equal(vst_st_commit(w), VS_EIO);
    assert_non_null(strstr(vst_errmsg(), "bytes written of"));
    assert_int_equal(access(tmp_path, F_OK), -1);
    /* a discard leaves nothing either (the temporary file is gone: the
     * folder holds no file named after tmp_path's) */
    snprintf(want, sizeof want, "%s.tmp-*", tmp_path);
    OK(vst_st_create(tmp_path, d, 2, NULL, NULL, 0, &w));
    assert_true(tmp_files(want) <= 1); /* none where O_TMPFILE works */
    vst_st_discard(w);
    assert_int_equal(access(tmp_path, F_OK), -1);
    assert_int_equal(tmp_files(want), 0);
    /* a DST that is a folder: refused before anything is written */
    {
        char dir[600];
        snprintf(dir, sizeof dir, "%s.d", tmp_path);
        assert_int_equal(mkdir(dir, 0777), 0);
        assert_int_equal(vst_st_create(dir, d, 2, NULL, NULL, 0, &w),
                         VS_EIO);
        assert_null(w);
        assert_non_null(strstr(vst_errmsg(), "Is a directory"));
        assert_int_equal(rmdir(dir), 0);
    }
    vs_tensor_free(a);
    vs_tensor_free(b);
}

/* A process killed while it writes (after create and some puts, before
 * the commit) leaves neither DST nor a temporary file: the data is in a
 * file with no name (O_TMPFILE). Skipped where the folder has no
 * O_TMPFILE (the writer then uses a named temporary file). */
static void test_safetensors__killed_writer_leaves_nothing(void **state)
{
    char want[700], dir[600];
    int64_t s1[1] = {1 << 20};
    vst_st_desc d[1] = {{"w", VS_FLOAT32, 1, s1}};
    (void)state;
    snprintf(dir, sizeof dir, "%s", tmp_path);
    char *sl = strrchr(dir, '/');
    if (sl != NULL)
        *sl = '\0';
    else
        snprintf(dir, sizeof dir, ".");
#ifdef O_TMPFILE
    int probe = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
    if (probe < 0)
        skip();
    close(probe);
#else
    skip();
#endif
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        vst_st_writer *w = NULL;
        static float buf[1 << 16];
        if (vst_st_create(tmp_path, d, 1, NULL, NULL, 0, &w) != VS_OK ||
            vst_st_put(w, 0, 0, buf, sizeof buf) != VS_OK)
            _exit(3);
        raise(SIGKILL);
        _exit(4);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
    assert_int_equal(access(tmp_path, F_OK), -1);
    snprintf(want, sizeof want, "%s.tmp-*", tmp_path);
    assert_int_equal(tmp_files(want), 0);
}

/* Every truncation and many byte changes of a valid file: each read either
 * succeeds or fails with out NULL, never crashes (ASan/UBSan). */
static void test_safetensors__mutations_never_crash(void **state)
{
    static const char hdr[] =
        "{\"__metadata__\":{\"k\":\"v\"},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
        "\"b\":{\"dtype\":\"BOOL\",\"shape\":[2,1],\"data_offsets\":[8,10]}}";
    static const unsigned char data[10] = {0, 0, 128, 63, 0, 0, 0, 64, 1, 0};
    static const char repl[] = "{}[],:\"0123456789-eE. \\ux";
    unsigned char file[512], mut[512];
    size_t n, len, k;
    uint32_t seed = 777;
    vst_st_file *f;
    int rc;
    (void)state;

    n = compose(file, hdr, 1, data, sizeof data);
    for (len = 0; len < n; len++) {
        f = NULL;
        write_file(tmp_path, file, len);
        assert_int_not_equal(vst_st_read(tmp_path, &f), VS_OK);
        assert_null(f);
    }
    for (k = 0; k < 600; k++) {
        size_t pos;
        memcpy(mut, file, n);
        seed = seed * 1103515245u + 12345u;
        pos = (seed >> 8) % n;
        seed = seed * 1103515245u + 12345u;
        /* mostly JSON-ish characters, sometimes any byte */
        mut[pos] = k % 4 ? (unsigned char)repl[(seed >> 16) % (sizeof repl - 1)]
                         : (unsigned char)(seed >> 20);
        write_file(tmp_path, mut, n);
        f = NULL;
        rc = vst_st_read(tmp_path, &f);
        if (rc == VS_OK)
            assert_non_null(f);
        else
            assert_null(f);
        vst_st_free(f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_safetensors__read_every_dtype_and_write_back),
        T(test_safetensors__unpadded_header_and_no_metadata),
        T(test_safetensors__escaped_names_decoded),
        T(test_safetensors__hostile_lengths_and_json_refused),
        T(test_safetensors__hostile_layouts_refused),
        T(test_safetensors__hostile_fields_refused),
        T(test_safetensors__invalid_utf8_names_refused),
        T(test_safetensors__fifo_refused_without_waiting),
        T(test_safetensors__write_failures_leave_nothing),
        T(test_safetensors__piecewise_writer),
        T(test_safetensors__killed_writer_leaves_nothing),
        T(test_safetensors__mutations_never_crash),
#undef T
    };
    return cmocka_run_group_tests_name("safetensors", tests, NULL, NULL);
}
