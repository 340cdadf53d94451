/* Tests for tools/npy.c: .npy files are composed here byte by byte from
 * NumPy's published format (not by the writer under test), read, checked
 * value by value, written back and compared byte for byte. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "npy.h"
#include "vst.h"
#include "support/vs_test.h"

#define TMP_PREFIX "test_npy"
#define TMP_SUFFIX ".npy"
#include "support/file_util.h"
#include "tools_fifo.h"

/* Composes a .npy file: magic, version major.0, header length (2 bytes for
 * 1.0, 4 otherwise, little-endian), header text padded with spaces and a
 * final '\n' to a multiple of 64, then data. */
static size_t compose(unsigned char *out, int major, const char *dict,
                      const void *data, size_t dlen)
{
    size_t pre = major == 1 ? 10 : 12, hl = strlen(dict), pos, total;
    memcpy(out, "\x93NUMPY", 6);
    out[6] = (unsigned char)major;
    out[7] = 0;
    total = pre + hl + 1;
    while (total % 64)
        total++;
    hl = total - pre;
    if (major == 1) {
        out[8] = (unsigned char)(hl & 0xff);
        out[9] = (unsigned char)(hl >> 8);
    } else {
        out[8] = (unsigned char)(hl & 0xff);
        out[9] = (unsigned char)(hl >> 8);
        out[10] = 0;
        out[11] = 0;
    }
    pos = pre;
    memcpy(out + pos, dict, strlen(dict));
    pos += strlen(dict);
    while (pos < total - 1)
        out[pos++] = ' ';
    out[pos++] = '\n';
    if (dlen)
        memcpy(out + pos, data, dlen);
    return pos + dlen;
}

/* Writes a .npy 1.0 file of dict and data at tmp_path. */
static void put_npy(const char *dict, const void *data, size_t dlen)
{
    unsigned char file[512];
    write_file(tmp_path, file, compose(file, 1, dict, data, dlen));
}

static void test_npy__v1_f32_round_trip_bit_exact(void **state)
{
    static const unsigned char data[24] = {
        0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40, /* 1, 2 */
        0x00, 0x00, 0x40, 0x40, 0x00, 0x00, 0xc0, 0x7f, /* 3, nan */
        0x00, 0x00, 0x80, 0xff, 0x01, 0x00, 0x00, 0x80, /* -inf, -denorm */
    };
    unsigned char file[256], *back;
    size_t n, nback;
    vs_tensor *t = NULL;
    const float *v;
    (void)state;

    n = compose(file, 1,
                "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
                data, sizeof data);
    assert_int_equal(n, 128 + 24); /* 10 + 59 + '\n' padded to 128 */
    write_file(tmp_path, file, n);
    OK(vst_npy_read(tmp_path, &t));
    assert_int_equal(t->dtype, VS_FLOAT32);
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 2);
    assert_int_equal(t->shape[1], 3);
    v = t->data;
    assert_true(v[0] == 1.0f && v[1] == 2.0f && v[2] == 3.0f);
    assert_true(v[3] != v[3]);
    assert_memory_equal(t->data, data, sizeof data);

    /* The writer produces exactly NumPy's layout, so the bytes match. */
    OK(vst_npy_write(tmp_path, t));
    back = read_file(tmp_path, &nback);
    assert_int_equal(nback, n);
    assert_memory_equal(back, file, n);
    free(back);
    vs_tensor_free(t);
}

static void test_npy__v2_v3_headers_read(void **state)
{
    static const int32_t data[3] = {7, -8, 9};
    unsigned char file[256];
    size_t n;
    vs_tensor *t = NULL;
    int major;
    (void)state;

    for (major = 2; major <= 3; major++) {
        n = compose(file, major,
                    "{\"shape\": (3,), \"fortran_order\": False, "
                    "\"descr\": \"<i4\"}",
                    data, sizeof data);
        write_file(tmp_path, file, n);
        OK(vst_npy_read(tmp_path, &t));
        assert_int_equal(t->dtype, VS_INT32);
        assert_int_equal(t->ndim, 1);
        assert_int_equal(t->shape[0], 3);
        assert_memory_equal(t->data, data, sizeof data);
        vs_tensor_free(t);
        t = NULL;
    }
}

/* A big-endian int32 (2,) = 258, -2, written at tmp_path; and the check
 * of what is read from it. */
static void put_be_i4(void)
{
    static const unsigned char be_i4[8] = {0x00, 0x00, 0x01, 0x02,
                                           0xff, 0xff, 0xff, 0xfe};
    put_npy("{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }",
            be_i4, sizeof be_i4);
}

static void check_be_i4(const vs_tensor *t)
{
    assert_int_equal(t->dtype, VS_INT32);
    assert_int_equal(((const int32_t *)t->data)[0], 0x0102);
    assert_int_equal(((const int32_t *)t->data)[1], -2);
}

/* A 2x3 int64 array [[0,1,2],[3,4,5]] stored column-major (0 3 1 4 2 5)
 * at tmp_path; and the check that it reads as 0..5 in C order. */
static void put_fortran_i8(void)
{
    static const int64_t fdata[6] = {0, 3, 1, 4, 2, 5};
    put_npy("{'descr': '<i8', 'fortran_order': True, 'shape': (2, 3), }",
            fdata, sizeof fdata);
}

static void check_fortran_i8(const vs_tensor *t)
{
    int i;
    assert_int_equal(t->ndim, 2);
    for (i = 0; i < 6; i++)
        assert_int_equal(((const int64_t *)t->data)[i], i);
}

static void test_npy__big_endian_converted(void **state)
{
    static const unsigned char be_f8[8] = {0x3f, 0xf8, 0, 0, 0, 0, 0, 0};
    vs_tensor *t = NULL;
    (void)state;

    put_be_i4();
    OK(vst_npy_read(tmp_path, &t));
    check_be_i4(t);
    vs_tensor_free(t);

    put_npy("{'descr': '>f8', 'fortran_order': False, 'shape': (), }",
            be_f8, sizeof be_f8);
    OK(vst_npy_read(tmp_path, &t));
    assert_int_equal(t->ndim, 0);
    assert_true(((double *)t->data)[0] == 1.5);
    vs_tensor_free(t);
}

static void test_npy__fortran_order_transposed(void **state)
{
    /* A 2x2x2 array with value = 4i+2j+k stored column-major. */
    static const int8_t f3[8] = {0, 4, 2, 6, 1, 5, 3, 7};
    vs_tensor *t = NULL;
    int i;
    (void)state;

    put_fortran_i8();
    OK(vst_npy_read(tmp_path, &t));
    check_fortran_i8(t);
    vs_tensor_free(t);

    put_npy("{'descr': '|i1', 'fortran_order': True, 'shape': (2, 2, 2)}",
            f3, sizeof f3);
    OK(vst_npy_read(tmp_path, &t));
    for (i = 0; i < 8; i++)
        assert_int_equal(((int8_t *)t->data)[i], i);
    vs_tensor_free(t);
}

/* vst_npy_load maps a little-endian C-order file and copies the others;
 * either way the values are vst_npy_read's, and bad files fail the same. */
static void test_npy__load_maps_or_copies(void **state)
{
    static const float le[6] = {1.5f, -2.0f, 3.25f, 0.0f, -0.5f, 7.0f};
    static const unsigned char bad_bool[2] = {1, 2};
    vs_tensor *a = NULL, *b = NULL;
    (void)state;

    put_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            le, sizeof le);
    OK(vst_npy_load(tmp_path, &a));
    OK(vst_npy_read(tmp_path, &b));
    assert_int_equal(a->ndim, 2);
    assert_int_equal(a->shape[1], 3);
    assert_memory_equal(a->data, b->data, sizeof le);
    /* mapped: the data lies inside the file's bytes, not a fresh buffer */
    assert_int_equal(((uintptr_t)a->data) % 64, 0);
    vst_npy_release(a);
    vs_tensor_free(b);

    put_be_i4();
    OK(vst_npy_load(tmp_path, &a));
    check_be_i4(a);
    vst_npy_release(a);

    put_fortran_i8();
    OK(vst_npy_load(tmp_path, &a));
    check_fortran_i8(a);
    vst_npy_release(a);

    put_npy("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }",
            bad_bool, sizeof bad_bool);
    a = (vs_tensor *)1;
    assert_int_equal(vst_npy_load(tmp_path, &a), VS_ECORRUPT);
    assert_null(a);
    assert_int_equal(vst_npy_read(tmp_path, &b), VS_ECORRUPT);
    vst_npy_release(NULL);
}

static void test_npy__every_dtype(void **state)
{
    static const struct {
        const char *descr;
        vs_dtype dtype;
        size_t size;
    } cases[] = {
        {"<f2", VS_FLOAT16, 2}, {"<f4", VS_FLOAT32, 4}, {"<f8", VS_FLOAT64, 8},
        {"|i1", VS_INT8, 1},    {"|u1", VS_UINT8, 1},   {"<i4", VS_INT32, 4},
        {"<i8", VS_INT64, 8},   {"|b1", VS_BOOL, 1},
    };
    unsigned char file[256], data[32], *back;
    char dict[128];
    size_t i, n, nback;
    vs_tensor *t = NULL;
    (void)state;

    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t k;
        for (k = 0; k < 4 * cases[i].size; k++)
            data[k] = cases[i].dtype == VS_BOOL ? (unsigned char)(k & 1)
                                                : (unsigned char)(k * 37 + 1);
        snprintf(dict, sizeof dict,
                 "{'descr': '%s', 'fortran_order': False, 'shape': (2, 2), }",
                 cases[i].descr);
        n = compose(file, 1, dict, data, 4 * cases[i].size);
        write_file(tmp_path, file, n);
        OK(vst_npy_read(tmp_path, &t));
        assert_int_equal(t->dtype, cases[i].dtype);
        assert_memory_equal(t->data, data, 4 * cases[i].size);
        assert_string_equal(vst_npy_descr(t->dtype), cases[i].descr);
        OK(vst_npy_write(tmp_path, t));
        back = read_file(tmp_path, &nback);
        assert_int_equal(nback, n);
        assert_memory_equal(back, file, n);
        free(back);
        vs_tensor_free(t);
        t = NULL;
    }
}

static void test_npy__empty_and_scalar(void **state)
{
    vs_tensor *t = NULL;
    (void)state;

    put_npy("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }",
            NULL, 0);
    OK(vst_npy_read(tmp_path, &t));
    assert_int_equal(t->ndim, 2);
    assert_int_equal(t->shape[0], 0);
    assert_int_equal(t->shape[1], 5);
    vs_tensor_free(t);
}

static void test_npy__bfloat16_write_refused(void **state)
{
    int64_t shape[1] = {2};
    vs_tensor *t = NULL;
    char want[600];
    (void)state;

    OK(vs_tensor_new(VS_BFLOAT16, 1, shape, &t));
    assert_int_equal(vst_npy_write(tmp_path, t), VS_EDTYPE);
    snprintf(want, sizeof want,
             "%s: bfloat16 has no NumPy dtype (convert it to float32, which "
             "is exact)",
             tmp_path);
    assert_string_equal(vst_errmsg(), want);
    assert_int_equal(access(tmp_path, F_OK), -1);
    vs_tensor_free(t);
}

/* Writes bytes, expects the read to fail with code and "<path>: msg". */
static void expect_fail(const void *bytes, size_t n, int code,
                        const char *msg)
{
    vs_tensor *t = (vs_tensor *)&t; /* poisoned: must come back NULL */
    char want[800];
    write_file(tmp_path, bytes, n);
    assert_int_equal(vst_npy_read(tmp_path, &t), code);
    assert_null(t);
    snprintf(want, sizeof want, "%s: %s", tmp_path, msg);
    assert_string_equal(vst_errmsg(), want);
}

static void test_npy__hostile_prefix_refused(void **state)
{
    unsigned char file[512], data[64] = {0};
    size_t n, big = (2u << 20) + 12;
    unsigned char *b;
    (void)state;

    expect_fail("\x93NUMP", 5, VS_ECORRUPT,
                "truncated .npy file (5 bytes, the fixed prefix alone is 10)");
    expect_fail("\x93NUMPZ\x01\x00\x00\x00", 10, VS_ECORRUPT,
                "not a .npy file (bad magic)");
    n = compose(file, 1, "{'descr': '<f4', 'fortran_order': False, "
                         "'shape': (2,), }", data, 8);
    file[6] = 4;
    expect_fail(file, n, VS_ECORRUPT,
                "unsupported .npy format version 4.0 (1.0, 2.0 and 3.0 are)");
    /* header length beyond the file */
    n = compose(file, 1, "{'descr': '<f4', 'fortran_order': False, "
                         "'shape': (2,), }", data, 8);
    file[8] = 0xff;
    file[9] = 0x7f;
    expect_fail(file, n, VS_ECORRUPT,
                "header length 32767 goes beyond the end of the file (136 "
                "bytes)");
    /* v2 header length beyond the file (4-byte length) */
    n = compose(file, 2, "{'descr': '<f4', 'fortran_order': False, "
                         "'shape': (2,), }", data, 8);
    file[11] = 0x80;
    expect_fail(file, n, VS_ECORRUPT,
                "header length 2147483764 goes beyond the end of the file "
                "(136 bytes)");
    /* a header over the 1 MB cap (inside a file that long) */
    b = calloc(1, big);
    assert_non_null(b);
    memcpy(b, "\x93NUMPY\x02\x00\x00\x00\x20\x00", 12); /* 2 MiB */
    expect_fail(b, big, VS_ECORRUPT,
                "header length 2097152 exceeds the 1 MB limit");
    free(b);
}

/* A header dict, the data bytes after it (zeros), and the failure. */
typedef struct {
    const char *dict;
    size_t dlen;
    int code;
    const char *msg;
} dict_case;

static void expect_dicts_fail(const dict_case *c, size_t n)
{
    unsigned char file[512], data[64] = {0};
    size_t i;
    for (i = 0; i < n; i++)
        expect_fail(file, compose(file, 1, c[i].dict, data, c[i].dlen),
                    c[i].code, c[i].msg);
}

#define NPY_F "'fortran_order': False, "
#define NPY_UNSUPPORTED(d)                                                     \
    "dtype '" d "' is not supported (varstore stores <f2 <f4 <f8 |i1 |u1 "     \
    "<i4 <i8 |b1, either byte order)"

static void test_npy__hostile_sizes_refused(void **state)
{
    static const dict_case cases[] = {
        /* data shorter and longer than the shape */
        {"{'descr': '<f4', " NPY_F "'shape': (2, 3), }", 20, VS_ECORRUPT,
         "shape (2, 3) of float32 needs 24 data bytes but the file has 20"},
        {"{'descr': '<f4', " NPY_F "'shape': (2, 3), }", 28, VS_ECORRUPT,
         "shape (2, 3) of float32 needs 24 data bytes but the file has 28"},
        /* overflowing shapes */
        {"{'descr': '<f8', " NPY_F "'shape': (4294967296, 4294967296), }", 8,
         VS_EINVAL,
         "shape (4294967296, 4294967296) of float64 is too large: "
         "147573952589676412928 bytes overflows size_t"},
        {"{'descr': '<f8', " NPY_F "'shape': (99999999999999999999,), }", 8,
         VS_ECORRUPT,
         "bad .npy header: shape dimension does not fit in 64 bits"},
        {"{'descr': '<f4', " NPY_F "'shape': (1,1,1,1,1,1,1,1,1), }", 4,
         VS_EINVAL, "shape has more than 8 dimensions"},
    };
    (void)state;
    expect_dicts_fail(cases, sizeof cases / sizeof cases[0]);
}

static void test_npy__hostile_headers_refused(void **state)
{
    static const dict_case cases[] = {
        {"{'descr': '<i2', " NPY_F "'shape': (2,), }", 4, VS_EDTYPE,
         NPY_UNSUPPORTED("<i2")},
        {"{'descr': '|f4', " NPY_F "'shape': (2,), }", 8, VS_EDTYPE,
         NPY_UNSUPPORTED("|f4")},
        {"{'descr': [('a', '<f4')], " NPY_F "'shape': (2,), }", 8, VS_EDTYPE,
         "structured dtypes are not supported"},
        {"{'descr': '<f4', 'shape': (2,), }", 8, VS_ECORRUPT,
         "bad .npy header: missing key 'fortran_order'"},
        {"{'descr': '<f4', " NPY_F "'shape': (2,), 'extra': 1}", 8,
         VS_ECORRUPT, "bad .npy header: unknown key 'extra'"},
        {"{'descr': '<f4', 'descr': '<f4', " NPY_F "'shape': (2,)}", 8,
         VS_ECORRUPT, "bad .npy header: key 'descr' appears twice"},
        {"{'descr': '<f4', " NPY_F "'shape': (2), }", 8, VS_ECORRUPT,
         "bad .npy header: shape (n) is not a tuple; a 1-tuple is written "
         "(n,)"},
        {"{'descr': '<f4', 'fortran_order': false, 'shape': (2,), }", 8,
         VS_ECORRUPT, "bad .npy header: fortran_order is not True or False"},
        {"{'descr': '<f4', " NPY_F "'shape': (-2,), }", 8, VS_ECORRUPT,
         "bad .npy header: expected a non-negative integer in shape"},
        {"{'descr': '<f4', " NPY_F "'shape': (2,), } x", 8, VS_ECORRUPT,
         "bad .npy header: text after the closing '}'"},
        {"['descr', '<f4']", 8, VS_ECORRUPT, "bad .npy header: not a dict"},
    };
    (void)state;
    expect_dicts_fail(cases, sizeof cases / sizeof cases[0]);
}

static void test_npy__bool_bytes_other_than_0_1_refused(void **state)
{
    unsigned char file[512], data[2] = {0, 2};
    size_t n;
    (void)state;
    n = compose(file, 1, "{'descr': '|b1', " NPY_F "'shape': (2,), }", data,
                2);
    expect_fail(file, n, VS_ECORRUPT, "bool element 1 is 2, not 0 or 1");
}

/* vst_npy_read and vst_npy_load of path; *out must stay NULL. */
static int read_fifo(const char *path)
{
    vs_tensor *t = NULL;
    int rc = vst_npy_read(path, &t);
    assert_null(t);
    assert_int_equal(vst_npy_load(path, &t), rc);
    assert_null(t);
    return rc;
}

/* A FIFO is refused at once, never waited on. */
static void test_npy__fifo_refused_without_waiting(void **state)
{
    (void)state;
    expect_fifo_refused(read_fifo);
}

static void test_npy__missing_file(void **state)
{
    vs_tensor *t = NULL;
    char want[600];
    (void)state;
    assert_int_equal(vst_npy_read(tmp_path, &t), VS_EIO);
    assert_null(t);
    snprintf(want, sizeof want, "cannot open '%s': No such file or directory",
             tmp_path);
    assert_string_equal(vst_errmsg(), want);
    assert_int_equal(vst_npy_read(NULL, &t), VS_EINVAL);
    assert_int_equal(vst_npy_read(tmp_path, NULL), VS_EINVAL);
}

/* Every truncation and many single-byte changes of a valid file: each read
 * either succeeds with a consistent tensor or fails with out NULL (ASan and
 * UBSan watch the rest). */
static void test_npy__mutations_never_crash(void **state)
{
    static const int64_t data[6] = {1, 2, 3, 4, 5, 6};
    unsigned char file[256], mut[256];
    size_t n, len, k;
    uint32_t seed = 12345;
    vs_tensor *t;
    int rc;
    (void)state;

    n = compose(file, 1,
                "{'descr': '<i8', 'fortran_order': True, 'shape': (3, 2), }",
                data, sizeof data);
    for (len = 0; len < n; len++) {
        t = NULL;
        write_file(tmp_path, file, len);
        assert_int_not_equal(vst_npy_read(tmp_path, &t), VS_OK);
        assert_null(t);
    }
    for (k = 0; k < 600; k++) {
        memcpy(mut, file, n);
        seed = seed * 1103515245u + 12345u;
        mut[(seed >> 8) % n] = (unsigned char)(seed >> 20);
        seed = seed * 1103515245u + 12345u;
        if (k % 3 == 0)
            mut[(seed >> 8) % 80] = (unsigned char)(seed >> 20);
        write_file(tmp_path, mut, n);
        t = NULL;
        rc = vst_npy_read(tmp_path, &t);
        if (rc == VS_OK) {
            assert_non_null(t);
            assert_int_equal(vs_tensor_nbytes(t), 48);
            vs_tensor_free(t);
        } else {
            assert_null(t);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_npy__v1_f32_round_trip_bit_exact),
        T(test_npy__v2_v3_headers_read),
        T(test_npy__big_endian_converted),
        T(test_npy__fortran_order_transposed),
        T(test_npy__load_maps_or_copies),
        T(test_npy__every_dtype),
        T(test_npy__empty_and_scalar),
        T(test_npy__bfloat16_write_refused),
        T(test_npy__hostile_prefix_refused),
        T(test_npy__hostile_sizes_refused),
        T(test_npy__hostile_headers_refused),
        T(test_npy__bool_bytes_other_than_0_1_refused),
        T(test_npy__fifo_refused_without_waiting),
        T(test_npy__missing_file),
        T(test_npy__mutations_never_crash),
#undef T
    };
    return cmocka_run_group_tests_name("npy", tests, NULL, NULL);
}
