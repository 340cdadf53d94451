/* tf/: TensorFlow checkpoints read and written. The fixtures of
 * tests/fixtures/tf/ come from TF's own Saver (tests/tf/make_fixtures.py);
 * their values follow one formula, recomputed here. */
#define _DEFAULT_SOURCE 1 /* realpath */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tf_int.h"
#include "varstore.h"
#include "vs_test.h"

#define FIX VS_TF_FIXTURES
#define PREFIX FIX "/model.ckpt"

#include "tf_fixture.h"

/* Loads every fixture variable from path and checks it bit for bit. */
static void check_all(const char *path)
{
    for (size_t i = 0; i < N_VARS; i++) {
        vs_tensor *t = NULL;
        OK(vs_tf_load_variable(path, vars[i].name, &t));
        check_fixture_tensor(&vars[i], t);
        vs_tensor_free(t);
    }
}

/* ---- temporary folders ---- */

static char tmp_dir[512];

static int setup(void **state)
{
    const char *base = getenv("VS_TEST_TMPDIR");
    (void)state;
    snprintf(tmp_dir, sizeof tmp_dir, "%s/vs_tf_XXXXXX",
             base && *base ? base : "/tmp");
    return mkdtemp(tmp_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[600];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static char *path_in(const char *name)
{
    static char buf[4][700];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp_dir, name);
    return buf[k];
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b;
    long len;
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    len = ftell(f);
    assert_true(len >= 0);
    rewind(f);
    b = malloc((size_t)len + 1);
    assert_non_null(b);
    assert_int_equal(fread(b, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    *n = (size_t)len;
    return b;
}

static void spit(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    if (n)
        assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static int count_entries(const char *dir)
{
    char cmd[700];
    FILE *p;
    int n = -1;
    snprintf(cmd, sizeof cmd, "ls -A '%s' | wc -l", dir);
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

/* Copies the fixture bundle to tmp_dir/model.ckpt.* */
static void copy_fixture(uint8_t **index, size_t *ni, uint8_t **data,
                         size_t *nd)
{
    *index = slurp(PREFIX ".index", ni);
    *data = slurp(PREFIX ".data-00000-of-00001", nd);
    spit(path_in("model.ckpt.index"), *index, *ni);
    spit(path_in("model.ckpt.data-00000-of-00001"), *data, *nd);
}

/* ---- CRC-32C ---- */

static void test_crc32c_known_values_and_paths_agree(void **state)
{
    uint8_t buf[1000];
    (void)state;
    assert_int_equal(vs__crc32c(0, "123456789", 9), 0xe3069283u);
    assert_int_equal(vs__crc32c_sw(0, "123456789", 9), 0xe3069283u);
    assert_int_equal(vs__crc32c(0, "", 0), 0);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    for (size_t n = 0; n < sizeof buf; n += 37) {
        uint32_t whole = vs__crc32c(0, buf, n);
        assert_int_equal(whole, vs__crc32c_sw(0, buf, n));
        assert_int_equal(whole, vs__crc32c(vs__crc32c(0, buf, n / 3),
                                           buf + n / 3, n - n / 3));
        assert_int_equal(vs__crc32c_unmask(vs__crc32c_mask(whole)), whole);
    }
    assert_int_equal(vs__crc32c_mask(0), 0xa282ead8u);
}

/* ---- slice keys (TF's OrderedCode) ---- */

static void test_slice_key_signed_numbers_follow_ordered_code(void **state)
{
    vs__tf_buf b = {0};
    vs__tf_slice s = {2, {0x424242, -0x800}, {-1, 65}};
    static const uint8_t want[] = {
        0x00, 'v', 0x00, 0x01, 0x01, 0x02,  /* 0, "v", rank 2 */
        0xf0, 0x42, 0x42, 0x42, 0x7f,       /* 0x424242, -1 */
        0x38, 0x00, 0xc0, 0x41};            /* -0x800, 65 */
    (void)state;
    OK(vs__tf_slice_key("v", 2, &s, &b));
    assert_int_equal(b.len, sizeof want);
    assert_memory_equal(b.p, want, sizeof want);
    vs__tfbuf_free(&b);
}

/* ---- reading TF's fixtures ---- */

static void test_reads_every_fixture_tensor_bit_exact(void **state)
{
    (void)state;
    check_all(PREFIX);
}

static void test_lists_fixture_variables_sorted_partitioned_once(void **state)
{
    vs_tensor_info *info = NULL;
    size_t n = 0;
    (void)state;
    OK(vs_tf_list_variables(PREFIX, &info, &n));
    assert_int_equal(n, N_VARS);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(info[i].name, vars[i].name);
        assert_int_equal(info[i].dtype, vars[i].dtype);
        assert_int_equal(info[i].ndim, vars[i].ndim);
        for (int d = 0; d < vars[i].ndim; d++)
            assert_int_equal(info[i].shape[d], vars[i].shape[d]);
        assert_string_equal(info[i].codec, "tf-bundle");
    }
    assert_int_equal(info[0].raw_bytes, 130 * 2 * 4);
    vs_tensor_info_free(info, n);
}

static void test_reads_directory_state_file_index_and_savedmodel(void **state)
{
    (void)state;
    check_all(FIX);                       /* folder with `checkpoint` */
    check_all(FIX "/checkpoint");         /* the state file itself */
    check_all(PREFIX ".index");           /* the index file */
    check_all(FIX "/saved_model");        /* SavedModel folder */
    check_all(FIX "/saved_model/variables");
    assert_int_equal(vs_tf_is_checkpoint(FIX), 1);
    assert_int_equal(vs_tf_is_checkpoint(FIX "/saved_model"), 1);
    assert_int_equal(vs_tf_is_checkpoint(PREFIX), 1);
    assert_int_equal(vs_tf_is_checkpoint(FIX "/nope"), 0);
    assert_int_equal(vs_tf_is_checkpoint(tmp_dir), 0);
}

static void test_state_file_with_absolute_path_and_escapes(void **state)
{
    char text[1200];
    char *abs = realpath(PREFIX ".index", NULL);
    (void)state;
    assert_non_null(abs);
    abs[strlen(abs) - 6] = '\0';
    snprintf(text, sizeof text,
             "# a comment\nmodel_checkpoint_path: \"%s\"\n"
             "all_model_checkpoint_paths: \"x\\\\y\\101\\x42\"\n"
             "all_model_checkpoint_timestamps: 1700000000.5\n"
             "last_preserved_timestamp: 1.5e9\n",
             abs);
    free(abs);
    spit(path_in("checkpoint"), text, strlen(text));
    check_all(tmp_dir);
    {
        const char *st = "model_checkpoint_path: \"no\\\"such\"\n";
        char want[900];
        vs_tensor *t = NULL;
        spit(path_in("checkpoint"), st, strlen(st));
        snprintf(want, sizeof want,
                 "Unsuccessful TensorSliceReader constructor: Failed to "
                 "find any matching files for %s/no\"such", tmp_dir);
        FAILS(vs_tf_load_variable(tmp_dir, "flags", &t), VS_ENOTFOUND, want);
        assert_null(t);
        spit(path_in("checkpoint"), "all_model_checkpoint_paths: \"a\"\n",
             strlen("all_model_checkpoint_paths: \"a\"\n"));
        assert_int_equal(vs_tf_load_variable(tmp_dir, "flags", &t),
                         VS_ENOTFOUND);
        assert_non_null(strstr(vs_errmsg(), "no model_checkpoint_path"));
        spit(path_in("checkpoint"), "model_checkpoint_path \"a\"\n",
             strlen("model_checkpoint_path \"a\"\n"));
        assert_int_equal(vs_tf_load_variable(tmp_dir, "flags", &t),
                         VS_ECORRUPT);
    }
}

static void test_reads_two_shard_checkpoint_from_sharded_saver(void **state)
{
    /* make_fixtures.py SHARDED: s/a on shard 0, s/b on shard 1 */
    static const fixture_var sharded[] = {
        {"s/a", VS_FLOAT32, 2, {2, 3}, 15},
        {"s/b", VS_INT64, 1, {4}, 16},
    };
    uint8_t *data;
    size_t nd;
    vs_tensor *t = NULL;
    (void)state;
    for (size_t i = 0; i < 2; i++) {
        OK(vs_tf_load_variable(FIX "/sharded/model.ckpt", sharded[i].name, &t));
        check_fixture_tensor(&sharded[i], t);
        vs_tensor_free(t);
    }
    /* shard 1 damaged: s/a still reads, s/b fails naming shard 1's file */
    data = slurp(FIX "/sharded/model.ckpt.data-00000-of-00002", &nd);
    spit(path_in("m.data-00000-of-00002"), data, nd);
    free(data);
    data = slurp(FIX "/sharded/model.ckpt.data-00001-of-00002", &nd);
    data[nd - 1] ^= 0x80;
    spit(path_in("m.data-00001-of-00002"), data, nd);
    free(data);
    data = slurp(FIX "/sharded/model.ckpt.index", &nd);
    spit(path_in("m.index"), data, nd);
    free(data);
    OK(vs_tf_load_variable(path_in("m"), "s/a", &t));
    vs_tensor_free(t);
    assert_int_equal(vs_tf_load_variable(path_in("m"), "s/b", &t), VS_ECORRUPT);
    assert_non_null(strstr(vs_errmsg(), "m.data-00001-of-00002"));
}

static void test_tf2_object_checkpoint_lists_values_not_object_graph(
    void **state)
{
    /* make_fixtures.py TF2_OBJECTS */
    static const fixture_var objs[] = {
        {"model/dense/.ATTRIBUTES/VARIABLE_VALUE", VS_FLOAT32, 2, {2, 3}, 17},
        {"model/step/.ATTRIBUTES/VARIABLE_VALUE", VS_INT64, 0, {0}, 18},
    };
    vs_tensor_info *info = NULL;
    vs_tensor *t = NULL;
    size_t n = 0;
    (void)state;
    OK(vs_tf_list_variables(FIX "/tf2/model.ckpt", &info, &n));
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(info[i].name, objs[i].name);
        OK(vs_tf_load_variable(FIX "/tf2/model.ckpt", objs[i].name, &t));
        check_fixture_tensor(&objs[i], t);
        vs_tensor_free(t);
    }
    vs_tensor_info_free(info, n);
    assert_int_equal(vs_tf_load_variable(FIX "/tf2/model.ckpt",
                                         "_CHECKPOINTABLE_OBJECT_GRAPH", &t),
                     VS_EDTYPE);
    assert_non_null(strstr(vs_errmsg(), "'_CHECKPOINTABLE_OBJECT_GRAPH' has "
                                        "dtype string"));
}

static void test_missing_key_uses_tf_text_and_colon_zero_is_stripped(
    void **state)
{
    vs_tensor *t = NULL;
    (void)state;
    FAILS(vs_tf_load_variable(PREFIX, "foo/v", &t), VS_ENOTFOUND,
          "Key foo/v not found in checkpoint");
    assert_null(t);
    OK(vs_tf_load_variable(PREFIX, "dense/bias:0", &t));
    check_fixture_tensor(&vars[1], t);
    vs_tensor_free(t);
    FAILS(vs_tf_load_variable(FIX "/nope", "x", &t), VS_ENOTFOUND,
          "Unsuccessful TensorSliceReader constructor: Failed to find any "
          "matching files for " FIX "/nope");
}

/* ---- damage ---- */

/* Opens tmp_dir/model.ckpt and loads everything: VS_OK only when every
 * value is the fixture's. */
static int load_everything(void)
{
    for (size_t i = 0; i < N_VARS; i++) {
        vs_tensor *t = NULL;
        int rc = vs_tf_load_variable(path_in("model.ckpt"), vars[i].name, &t);
        if (rc != VS_OK) {
            assert_null(t);
            return rc;
        }
        check_fixture_tensor(&vars[i], t);
        vs_tensor_free(t);
    }
    return VS_OK;
}

static void test_every_index_bit_flip_is_detected(void **state)
{
    uint8_t *index, *data;
    size_t ni, nd, missed = 0;
    (void)state;
    copy_fixture(&index, &ni, &data, &nd);
    for (size_t i = 0; i < ni; i++) {
        int rc;
        index[i] ^= (uint8_t)(1u << (i % 8));
        spit(path_in("model.ckpt.index"), index, ni);
        rc = load_everything();
        index[i] ^= (uint8_t)(1u << (i % 8));
        if (rc == VS_OK) {
            missed++; /* only the footer's zero padding is unchecked */
            assert_true(i >= ni - 48 && i < ni - 8);
            continue;
        }
        assert_int_equal(rc, VS_ECORRUPT);
        assert_non_null(strstr(vs_errmsg(), "model.ckpt.index"));
    }
    assert_true(missed < 40);
    free(index);
    free(data);
}

static void test_every_data_bit_flip_is_detected(void **state)
{
    uint8_t *index, *data;
    size_t ni, nd;
    (void)state;
    copy_fixture(&index, &ni, &data, &nd);
    for (size_t i = 0; i < nd; i += 3) {
        data[i] ^= 0x10;
        spit(path_in("model.ckpt.data-00000-of-00001"), data, nd);
        assert_int_equal(load_everything(), VS_ECORRUPT);
        assert_non_null(strstr(vs_errmsg(), "Checksum does not match: stored "));
        assert_non_null(strstr(vs_errmsg(),
                               " vs. calculated on the restored bytes "));
        assert_non_null(strstr(vs_errmsg(), "model.ckpt.data-00000-of-00001"));
        data[i] ^= 0x10;
    }
    free(index);
    free(data);
}

static void test_truncations_and_wrong_magic_are_corrupt(void **state)
{
    uint8_t *index, *data;
    size_t ni, nd;
    (void)state;
    copy_fixture(&index, &ni, &data, &nd);
    for (size_t n = 0; n < ni; n += 7) {
        spit(path_in("model.ckpt.index"), index, n);
        assert_int_equal(load_everything(), VS_ECORRUPT);
    }
    spit(path_in("model.ckpt.index"), index, ni);
    for (size_t n = 0; n < nd; n += 97) {
        spit(path_in("model.ckpt.data-00000-of-00001"), data, n);
        assert_int_equal(load_everything(), VS_ECORRUPT);
        assert_true(strstr(vs_errmsg(), "Read less bytes than requested") !=
                        NULL ||
                    strstr(vs_errmsg(), "its data files hold") != NULL);
    }
    spit(path_in("model.ckpt.data-00000-of-00001"), data, nd);
    OK(load_everything());
    index[ni - 1] ^= 0x01;
    spit(path_in("model.ckpt.index"), index, ni);
    assert_int_equal(load_everything(), VS_ECORRUPT);
    assert_non_null(strstr(vs_errmsg(), "bad magic number"));
    free(index);
    free(data);
}

/* ---- writing ---- */

/* One tensor of each dtype (plus a scalar and an empty one), filled with
 * a byte pattern. */
static size_t make_tensors(vs_tensor **t, const char **names)
{
    static const struct {
        const char *name;
        vs_dtype dt;
        int ndim;
        int64_t shape[3];
    } spec[] = {
        {"a/f32", VS_FLOAT32, 2, {3, 5}},   {"a/f64", VS_FLOAT64, 1, {4}},
        {"a/f16", VS_FLOAT16, 3, {2, 1, 3}}, {"b/bf16", VS_BFLOAT16, 1, {9}},
        {"b/i8", VS_INT8, 1, {5}},          {"b/u8", VS_UINT8, 2, {2, 2}},
        {"c/i32", VS_INT32, 1, {6}},        {"c/i64", VS_INT64, 0, {0}},
        {"c/bool", VS_BOOL, 1, {3}},        {"d/empty", VS_FLOAT32, 2, {0, 7}},
        {"\xc3\xa9t\xc3\xa9/x y", VS_FLOAT32, 1, {1}},
    };
    size_t n = sizeof spec / sizeof spec[0];
    for (size_t i = 0; i < n; i++) {
        OK(vs_tensor_new(spec[i].dt, spec[i].ndim, spec[i].shape, &t[i]));
        for (size_t b = 0; b < vs_tensor_nbytes(t[i]); b++)
            ((uint8_t *)t[i]->data)[b] = (uint8_t)(b * 29 + i);
        if (spec[i].dt == VS_BOOL)
            for (size_t b = 0; b < 3; b++)
                ((uint8_t *)t[i]->data)[b] = (uint8_t)(b & 1);
        names[i] = spec[i].name;
    }
    return n;
}

static void test_write_then_read_every_dtype_round_trips(void **state)
{
    vs_tensor *t[16];
    const char *names[16];
    size_t n = make_tensors(t, names), nl;
    vs_tensor_info *info;
    (void)state;
    OK(vs_tf_write_checkpoint(path_in("model.ckpt-7"), names,
                              (const vs_tensor *const *)t, n));
    assert_int_equal(count_entries(tmp_dir), 3);
    {
        struct stat st;
        mode_t mask = umask(022);
        umask(mask);
        assert_int_equal(stat(path_in("model.ckpt-7.index"), &st), 0);
        assert_int_equal(st.st_mode & 0777, 0666 & ~mask);
    }
    OK(vs_tf_list_variables(tmp_dir, &info, &nl));
    assert_int_equal(nl, n);
    for (size_t i = 0; i < n; i++) {
        vs_tensor *back = NULL;
        OK(vs_tf_load_variable(tmp_dir, names[i], &back));
        assert_int_equal(back->dtype, t[i]->dtype);
        assert_int_equal(back->ndim, t[i]->ndim);
        assert_memory_equal(back->shape, t[i]->shape,
                            sizeof(int64_t) * (size_t)t[i]->ndim);
        assert_int_equal(vs_tensor_nbytes(back), vs_tensor_nbytes(t[i]));
        if (vs_tensor_nbytes(back))
            assert_memory_equal(back->data, t[i]->data, vs_tensor_nbytes(back));
        vs_tensor_free(back);
    }
    for (size_t i = 1; i < nl; i++)
        assert_true(strcmp(info[i - 1].name, info[i].name) < 0);
    vs_tensor_info_free(info, nl);
    for (size_t i = 0; i < n; i++)
        vs_tensor_free(t[i]);
}

static void test_writer_round_trips_tf_values_and_writes_state_file(void **state)
{
    /* TF's values (non-partitioned) through our writer and back. */
    vs_tensor *t[N_VARS];
    const char *names[N_VARS];
    size_t n = 0;
    (void)state;
    for (size_t i = 0; i < N_VARS; i++) {
        if (strstr(vars[i].name, "part") != NULL)
            continue;
        OK(vs_tf_load_variable(PREFIX, vars[i].name, &t[n]));
        names[n++] = vars[i].name;
    }
    OK(vs_tf_write_checkpoint(path_in("m"), names,
                              (const vs_tensor *const *)t, n));
    for (size_t i = 0; i < n; i++) {
        vs_tensor *back = NULL;
        OK(vs_tf_load_variable(path_in("m"), names[i], &back));
        assert_memory_equal(back->data, t[i]->data, vs_tensor_nbytes(t[i]));
        vs_tensor_free(back);
        vs_tensor_free(t[i]);
    }
    {
        size_t ns;
        uint8_t *st = slurp(path_in("checkpoint"), &ns);
        const char *want = "model_checkpoint_path: \"m\"\n"
                           "all_model_checkpoint_paths: \"m\"\n";
        assert_int_equal(ns, strlen(want));
        assert_memory_equal(st, want, ns);
        free(st);
    }
}

/* The data blocks an index holds (entries of its index block). */
static size_t count_data_blocks(const char *index_path)
{
    vs__tf_table t;
    size_t blocks = 0;
    const uint8_t *p, *end;
    uint64_t off, size;
    OK(vs__tf_table_read(index_path, &t));
    p = t.bytes + t.len - 48;
    end = t.bytes + t.len - 8;
    assert_int_equal(vs__pb_varint(&p, end, &off), 0); /* metaindex */
    assert_int_equal(vs__pb_varint(&p, end, &size), 0);
    assert_int_equal(vs__pb_varint(&p, end, &off), 0); /* index block */
    assert_int_equal(vs__pb_varint(&p, end, &size), 0);
    /* index entries use one restart each: their count ends the block */
    blocks = (size_t)t.bytes[off + size - 4] |
             (size_t)t.bytes[off + size - 3] << 8;
    vs__tf_table_free(&t);
    return blocks;
}

static void test_many_tensors_span_several_index_blocks(void **state)
{
    enum { N = 6000 };
    static char names[N][128];
    const char *np[N];
    vs_tensor *t[N];
    vs_tensor_info *info;
    size_t nl;
    int64_t one = 1;
    (void)state;
    for (int i = 0; i < N; i++) {
        snprintf(names[i], sizeof names[i],
                 "layer_%04d_%d/a_rather_long_scope_name_that_makes_"
                 "the_index_big/kernel", i, i % 7);
        np[i] = names[i];
        OK(vs_tensor_new(VS_INT32, 1, &one, &t[i]));
        *(int32_t *)t[i]->data = i;
    }
    OK(vs_tf_write_checkpoint(path_in("big"), np, (const vs_tensor *const *)t,
                              N));
    assert_true(count_data_blocks(path_in("big.index")) >= 2);
    OK(vs_tf_list_variables(path_in("big"), &info, &nl));
    assert_int_equal(nl, N);
    vs_tensor_info_free(info, nl);
    for (int i = 0; i < N; i += 97) {
        vs_tensor *back = NULL;
        OK(vs_tf_load_variable(path_in("big"), names[i], &back));
        assert_int_equal(*(int32_t *)back->data, i);
        vs_tensor_free(back);
    }
    for (int i = 0; i < N; i++)
        vs_tensor_free(t[i]);
}

static void test_failed_writes_leave_nothing_behind(void **state)
{
    vs_tensor *t[16], bad = {VS_FLOAT32, 1, {4}, NULL};
    const char *names[16];
    size_t n = make_tensors(t, names);
    const vs_tensor *mixed[16];
    (void)state;
    /* a bad tensor in the middle: found while the data file is written */
    for (size_t i = 0; i < n; i++)
        mixed[i] = t[i];
    mixed[6] = &bad;
    assert_int_equal(vs_tf_write_checkpoint(path_in("ck"), names, mixed, n),
                     VS_EINVAL);
    assert_non_null(strstr(vs_errmsg(), names[6]));
    assert_int_equal(count_entries(tmp_dir), 0);
    /* duplicate names */
    names[3] = names[2];
    assert_int_equal(vs_tf_write_checkpoint(path_in("ck"), names,
                                            (const vs_tensor *const *)t, n),
                     VS_EINVAL);
    assert_int_equal(count_entries(tmp_dir), 0);
    names[3] = "b/bf16";
    /* the index's final name is a folder: refused before any write */
    assert_int_equal(mkdir(path_in("ck.index"), 0755), 0);
    assert_int_equal(vs_tf_write_checkpoint(path_in("ck"), names,
                                            (const vs_tensor *const *)t, n),
                     VS_EIO);
    assert_int_equal(count_entries(tmp_dir), 1); /* the folder only */
    assert_int_equal(rmdir(path_in("ck.index")), 0);
    /* a folder that does not exist */
    assert_int_equal(vs_tf_write_checkpoint(path_in("no/ck"), names,
                                            (const vs_tensor *const *)t, n),
                     VS_EIO);
    assert_int_equal(vs_tf_write_checkpoint(path_in("dir/"), names,
                                            (const vs_tensor *const *)t, n),
                     VS_EINVAL);
    assert_int_equal(count_entries(tmp_dir), 0);
    for (size_t i = 0; i < n; i++)
        vs_tensor_free(t[i]);
}

/* ---- hand-built indexes ---- */

/* Writes tmp_dir/h.index holding the header and one entry, name -> e,
 * and an 8-byte data file. */
static void write_index(const char *name, const vs__tf_entry *e)
{
    vs__tf_buf header = {0}, ent = {0}, table = {0};
    vs__tf_kv kv[2];
    vs__tf_header_encode(&header);
    vs__tf_entry_encode(e, &ent);
    kv[0] = (vs__tf_kv){(uint8_t *)"", 0, header.p, header.len};
    kv[1] = (vs__tf_kv){(uint8_t *)(uintptr_t)name, strlen(name), ent.p,
                        ent.len};
    OK(vs__tf_table_build(kv, 2, &table));
    spit(path_in("h.index"), table.p, table.len);
    spit(path_in("h.data-00000-of-00001"), "\0\0\0\0\0\0\0\0", 8);
    vs__tfbuf_free(&header);
    vs__tfbuf_free(&ent);
    vs__tfbuf_free(&table);
}

static void test_unsupported_dtype_is_refused_naming_tensor(void **state)
{
    vs__tf_entry e = {0};
    vs_tensor *t = NULL;
    vs_tensor_info *info = NULL;
    size_t n = 5;
    (void)state;
    e.tf_dtype = 7; /* DT_STRING */
    e.size = 8;
    e.crc32c_masked = vs__crc32c_mask(vs__crc32c(0, "\0\0\0\0\0\0\0\0", 8));
    write_index("words", &e);
    FAILS(vs_tf_load_variable(path_in("h"), "words", &t), VS_EDTYPE,
          "tensor 'words' has dtype string, which varstore does not support "
          "(float32, float64, float16, bfloat16, int8, uint8, int32, int64, "
          "bool)");
    OK(vs_tf_list_variables(path_in("h"), &info, &n));
    assert_int_equal(n, 0);
    assert_null(info);
    e.tf_dtype = 1; /* float32 [1] whose size (8) disagrees */
    e.ndim = 1;
    e.shape[0] = 1;
    write_index("f", &e);
    assert_int_equal(vs_tf_load_variable(path_in("h"), "f", &t), VS_ECORRUPT);
    /* TF's text */
    assert_non_null(strstr(vs_errmsg(), "h.index: Invalid size in bundle "
                                        "entry: key f; stored size 8; "
                                        "expected size 4"));
    e.shape[0] = 1000000000; /* more than the data file holds */
    e.size = 4000000000;
    write_index("f", &e);
    assert_int_equal(vs_tf_load_variable(path_in("h"), "f", &t), VS_ECORRUPT);
    assert_non_null(strstr(vs_errmsg(), "h.data-00000-of-00001: Read less "
                                        "bytes than requested: tensor 'f' is "
                                        "4000000000 bytes at offset 0, the "
                                        "file holds 8"));
    e.shape[0] = 2;
    e.size = 8;
    e.shard_id = 1;
    write_index("f", &e);
    assert_int_equal(vs_tf_load_variable(path_in("h"), "f", &t), VS_ECORRUPT);
    assert_non_null(strstr(vs_errmsg(), "shard 1 of 1"));
    e.shard_id = 0;
    write_index("f", &e);
    OK(vs_tf_load_variable(path_in("h"), "f", &t));
    vs_tensor_free(t);
}

static void test_snappy_block_is_refused_with_a_clear_message(void **state)
{
    vs__tf_entry e = {0};
    uint8_t *index;
    size_t ni;
    vs_tensor *t = NULL;
    uint32_t crc;
    (void)state;
    e.tf_dtype = 1;
    write_index("v", &e);
    index = slurp(path_in("h.index"), &ni);
    /* the one data block starts at byte 0 and its trailer ends where the
     * metaindex block (the footer's first handle) begins: mark the block
     * snappy and give it a valid CRC, so only the type byte is wrong */
    {
        const uint8_t *p = index + ni - 48, *end = index + ni - 8;
        uint64_t off, size;
        assert_int_equal(vs__pb_varint(&p, end, &off), 0);
        assert_int_equal(off > 5, 1);
        size = off - 5; /* data block: [0, size), trailer after it */
        index[size] = 1;
        crc = vs__crc32c(0, index, (size_t)size + 1);
        index[size + 1] = (uint8_t)vs__crc32c_mask(crc);
        index[size + 2] = (uint8_t)(vs__crc32c_mask(crc) >> 8);
        index[size + 3] = (uint8_t)(vs__crc32c_mask(crc) >> 16);
        index[size + 4] = (uint8_t)(vs__crc32c_mask(crc) >> 24);
    }
    spit(path_in("h.index"), index, ni);
    assert_int_equal(vs_tf_load_variable(path_in("h"), "v", &t), VS_ECORRUPT);
    assert_non_null(strstr(vs_errmsg(), "snappy"));
    free(index);
}

static void test_is_checkpoint_rejects_sqlite_file_named_checkpoint(
    void **state)
{
    (void)state;
    spit(path_in("checkpoint"), "SQLite format 3\0rest", 21);
    assert_int_equal(vs_tf_is_checkpoint(path_in("checkpoint")), 0);
    assert_int_equal(vs_tf_is_checkpoint(tmp_dir), 0);
}

/* A varstore file where the writer would put its state file or its index
 * (the CLI's `restore dir/checkpoint --tf-checkpoint dir/model` read from
 * such a store) is refused before anything is written, and kept. */
static void test_writer_never_replaces_a_varstore_file(void **state)
{
    static const char sqlite[] = "SQLite format 3\0rest";
    vs_tensor *t[16];
    const char *names[16];
    size_t n = make_tensors(t, names), len;
    uint8_t *kept;
    (void)state;
    spit(path_in("checkpoint"), sqlite, sizeof sqlite);
    assert_int_equal(vs_tf_write_checkpoint(path_in("model"), names,
                                            (const vs_tensor *const *)t, n),
                     VS_EEXIST);
    assert_non_null(strstr(vs_errmsg(), "checkpoint is a varstore"));
    assert_int_equal(count_entries(tmp_dir), 1);
    kept = slurp(path_in("checkpoint"), &len);
    assert_int_equal(len, sizeof sqlite);
    assert_memory_equal(kept, sqlite, len);
    free(kept);
    assert_int_equal(unlink(path_in("checkpoint")), 0);
    spit(path_in("model.index"), sqlite, sizeof sqlite);
    assert_int_equal(vs_tf_write_checkpoint(path_in("model"), names,
                                            (const vs_tensor *const *)t, n),
                     VS_EEXIST);
    assert_non_null(strstr(vs_errmsg(), "model.index is a varstore"));
    assert_int_equal(count_entries(tmp_dir), 1);
    for (size_t i = 0; i < n; i++)
        vs_tensor_free(t[i]);
}

/* A FIFO in the data shard's place (here under an empty tensor, which
 * the data files' total size does not stop) is refused, never waited on. */
static void test_fifo_data_shard_is_refused_not_waited_on(void **state)
{
    vs_tensor *t = NULL;
    const vs_tensor *ts[1];
    const char *names[1] = {"z"};
    int64_t shape[2] = {0, 3};
    (void)state;
    OK(vs_tensor_new(VS_FLOAT32, 2, shape, &t));
    ts[0] = t;
    OK(vs_tf_write_checkpoint(path_in("e"), names, ts, 1));
    vs_tensor_free(t);
    t = NULL;
    assert_int_equal(unlink(path_in("e.data-00000-of-00001")), 0);
    assert_int_equal(mkfifo(path_in("e.data-00000-of-00001"), 0600), 0);
    alarm(20); /* a hang fails the test instead of stalling it */
    assert_int_equal(vs_tf_load_variable(path_in("e"), "z", &t), VS_EIO);
    alarm(0);
    assert_null(t);
    assert_non_null(strstr(vs_errmsg(),
                           "e.data-00000-of-00001: not a regular file"));
}

/* x fails with code, its message holding part (paths vary). */
#define REFUSED(x, code, part)                                                 \
    do {                                                                       \
        assert_int_equal((x), (code));                                         \
        if (strstr(vs_errmsg(), (part)) == NULL) {                             \
            print_error("'%s' lacks '%s'\n", vs_errmsg(), (part));           \
            fail();                                                            \
        }                                                                      \
    } while (0)

/* An index may declare tensors far bigger than any data: the listing,
 * which callers allocate from, refuses them (their declared size, then
 * their bytes against the data file), never reports 2^62-byte tensors. */
static void test_listing_refuses_declared_sizes_the_data_cannot_hold(
    void **state)
{
    vs__tf_entry e = {0};
    vs_tensor_info *info = NULL;
    vs_ckpt_info *ck = NULL;
    size_t n = 0;
    (void)state;
    e.tf_dtype = 4; /* uint8 [2^62], its entry's size 0 */
    e.ndim = 1;
    e.shape[0] = INT64_C(1) << 62;
    write_index("a", &e);
    REFUSED(vs_tf_list_variables(path_in("h"), &info, &n), VS_ECORRUPT,
          "Invalid size in bundle entry: key a; stored size 0; expected "
          "size 4611686018427387904");
    e.size = INT64_C(1) << 62; /* the data file holds 8 bytes */
    write_index("a", &e);
    REFUSED(vs_tf_list_variables(path_in("h"), &info, &n), VS_ECORRUPT,
          "h.data-00000-of-00001: Read less bytes than requested: tensor "
          "'a' is 4611686018427387904 bytes at offset 0, the file holds 8");
    assert_null(info);
    assert_int_equal(vs_list_checkpoints(path_in("h"), &ck, &n),
                     VS_ECORRUPT);
    assert_null(ck);
    e.shape[0] = 8; /* all 8, then one beyond the end */
    e.size = 8;
    e.crc32c_masked = vs__crc32c_mask(vs__crc32c(0, "\0\0\0\0\0\0\0\0", 8));
    write_index("a", &e);
    OK(vs_tf_list_variables(path_in("h"), &info, &n));
    assert_int_equal(n, 1);
    assert_int_equal(info[0].raw_bytes, 8);
    vs_tensor_info_free(info, n);
    e.offset = 1;
    write_index("a", &e);
    REFUSED(vs_tf_list_variables(path_in("h"), &info, &n), VS_ECORRUPT,
          "tensor 'a' is 8 bytes at offset 1, the file holds 8");
}

/* Each tensor is checked against its own shard, not all shards' bytes:
 * a 2^39-byte tensor of an 8-byte shard beside a (sparse) 2^40-byte one
 * is refused before anything is allocated for it (allocated, and out of
 * memory or an AddressSanitizer abort, before). */
static void test_tensor_beyond_its_own_shard_is_refused_unallocated(
    void **state)
{
    vs__tf_entry e = {0};
    vs__tf_buf header = {0}, ent = {0}, table = {0};
    vs__tf_kv kv[2];
    vs_tensor *t = NULL;
    vs_tensor_info *info = NULL;
    size_t n = 0;
    FILE *f;
    (void)state;
    e.tf_dtype = 4; /* uint8 [2^39] in shard 0 of 2 */
    e.ndim = 1;
    e.shape[0] = e.size = INT64_C(1) << 39;
    vs__tf_header_encode(&header);
    assert_int_equal(header.p[0], 0x08); /* num_shards 1 ... */
    header.p[1] = 2;                     /* ... made 2 */
    vs__tf_entry_encode(&e, &ent);
    kv[0] = (vs__tf_kv){(uint8_t *)"", 0, header.p, header.len};
    kv[1] = (vs__tf_kv){(uint8_t *)"big", 3, ent.p, ent.len};
    OK(vs__tf_table_build(kv, 2, &table));
    spit(path_in("s.index"), table.p, table.len);
    spit(path_in("s.data-00000-of-00002"), "\0\0\0\0\0\0\0\0", 8);
    f = fopen(path_in("s.data-00001-of-00002"), "wb");
    assert_non_null(f);
    if (ftruncate(fileno(f), (off_t)(INT64_C(1) << 40)) != 0) {
        fclose(f); /* no sparse files that big here */
        skip();
    }
    assert_int_equal(fclose(f), 0);
    REFUSED(vs_tf_load_variable(path_in("s"), "big", &t), VS_ECORRUPT,
          "s.data-00000-of-00002: Read less bytes than requested: tensor "
          "'big' is 549755813888 bytes at offset 0, the file holds 8");
    assert_null(t);
    REFUSED(vs_tf_list_variables(path_in("s"), &info, &n), VS_ECORRUPT,
          "Read less bytes than requested");
    vs__tfbuf_free(&header);
    vs__tfbuf_free(&ent);
    vs__tfbuf_free(&table);
}

/* A shape with a 0 after big extents has 0 elements: counted without a
 * running product (signed overflow before: [2^62, 3, 0]). */
static void test_empty_shape_after_huge_extents_lists_and_loads(void **state)
{
    vs__tf_entry e = {0};
    vs_tensor_info *info = NULL;
    vs_tensor *t = NULL;
    size_t n = 0;
    (void)state;
    e.tf_dtype = 4; /* uint8 [2^62, 3, 0] */
    e.ndim = 3;
    e.shape[0] = INT64_C(1) << 62;
    e.shape[1] = 3;
    e.crc32c_masked = vs__crc32c_mask(0); /* of no bytes */
    write_index("z", &e);
    OK(vs_tf_list_variables(path_in("h"), &info, &n));
    assert_int_equal(n, 1);
    assert_int_equal(info[0].numel, 0);
    assert_int_equal(info[0].raw_bytes, 0);
    vs_tensor_info_free(info, n);
    OK(vs_tf_load_variable(path_in("h"), "z", &t));
    assert_int_equal(vs_tensor_numel(t), 0);
    vs_tensor_free(t);
}

/* A varstore file named like an index, or beside one, is not taken for
 * a TF checkpoint (the store API and the CLI would read it as one). */
static void test_sqlite_file_named_like_an_index_is_not_a_checkpoint(
    void **state)
{
    uint8_t *index, *data;
    size_t ni, nd;
    (void)state;
    spit(path_in("store.index"), "SQLite format 3\0rest", 21);
    assert_int_equal(vs_tf_is_checkpoint(path_in("store.index")), 0);
    copy_fixture(&index, &ni, &data, &nd); /* tmp_dir/model.ckpt.* */
    assert_int_equal(vs_tf_is_checkpoint(path_in("model.ckpt")), 1);
    spit(path_in("model.ckpt"), "SQLite format 3\0rest", 21);
    assert_int_equal(vs_tf_is_checkpoint(path_in("model.ckpt")), 0);
    assert_int_equal(vs_tf_is_checkpoint(path_in("model.ckpt.index")), 1);
    free(index);
    free(data);
}

/* A table by hand: one data block holding `body` (entries), an index
 * block with n_index entries all pointing at it, an empty metaindex. */
static void put_block(vs__tf_buf *out, const vs__tf_buf *entries,
                      uint64_t h[2])
{
    size_t start = out->len;
    uint32_t crc;
    vs__tfbuf_put(out, entries->p, entries->len);
    vs__tfbuf_fixed32(out, 0); /* restart 0 */
    vs__tfbuf_fixed32(out, 1);
    h[0] = start;
    h[1] = out->len - start;
    vs__tfbuf_put(out, "", 1);
    crc = vs__crc32c(0, out->p + start, out->len - start);
    vs__tfbuf_fixed32(out, vs__crc32c_mask(crc));
}

static void hand_table(const vs__tf_buf *body, int n_index)
{
    vs__tf_buf out = {0}, index = {0}, none = {0}, hv = {0};
    uint64_t data_h[2], meta_h[2], index_h[2];
    put_block(&out, body, data_h);
    vs__tfbuf_varint(&hv, data_h[0]);
    vs__tfbuf_varint(&hv, data_h[1]);
    for (int i = 0; i < n_index; i++) {
        uint8_t head[3] = {0, 0, (uint8_t)hv.len}; /* key "" each time */
        vs__tfbuf_put(&index, head, 3);
        vs__tfbuf_put(&index, hv.p, hv.len);
    }
    put_block(&out, &none, meta_h);
    put_block(&out, &index, index_h);
    {
        size_t f = out.len;
        vs__tfbuf_varint(&out, meta_h[0]);
        vs__tfbuf_varint(&out, meta_h[1]);
        vs__tfbuf_varint(&out, index_h[0]);
        vs__tfbuf_varint(&out, index_h[1]);
        while (out.len < f + 40)
            vs__tfbuf_put(&out, "", 1);
        vs__tfbuf_fixed32(&out, 0x8b80fb57u);
        vs__tfbuf_fixed32(&out, 0xdb477524u);
    }
    assert_false(out.oom);
    spit(path_in("h.index"), out.p, out.len);
    vs__tfbuf_free(&out);
    vs__tfbuf_free(&index);
    vs__tfbuf_free(&hv);
}

static void test_hostile_tables_are_refused_in_bounded_work(void **state)
{
    vs__tf_buf body = {0};
    vs_tensor_info *info = NULL;
    size_t n = 0;
    (void)state;
    /* keys growing by one byte each: 4 bytes of file per ever longer key */
    for (int i = 0; i < 20000; i++) {
        uint8_t e[4] = {0, 1, 0, 'k'};
        vs__tf_buf s = {0};
        vs__tfbuf_varint(&s, (uint64_t)i); /* shared: the whole last key */
        vs__tfbuf_put(&body, s.p, s.len);
        vs__tfbuf_put(&body, e + 1, 3);
        vs__tfbuf_free(&s);
    }
    hand_table(&body, 1);
    assert_int_equal(vs_tf_list_variables(path_in("h"), &info, &n),
                     VS_ECORRUPT);
    assert_non_null(strstr(vs_errmsg(), "keys expand"));
    /* the same data block listed twice by the index */
    body.len = 0;
    vs__tfbuf_put(&body, "\0\0\0", 3); /* key "", empty value */
    hand_table(&body, 2);
    assert_int_equal(vs_tf_list_variables(path_in("h"), &info, &n),
                     VS_ECORRUPT);
    assert_non_null(strstr(vs_errmsg(), "overlapping"));
    vs__tfbuf_free(&body);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_crc32c_known_values_and_paths_agree),
        T(test_slice_key_signed_numbers_follow_ordered_code),
        T(test_reads_every_fixture_tensor_bit_exact),
        T(test_lists_fixture_variables_sorted_partitioned_once),
        T(test_reads_directory_state_file_index_and_savedmodel),
        T(test_state_file_with_absolute_path_and_escapes),
        T(test_missing_key_uses_tf_text_and_colon_zero_is_stripped),
        T(test_reads_two_shard_checkpoint_from_sharded_saver),
        T(test_tf2_object_checkpoint_lists_values_not_object_graph),
        T(test_every_index_bit_flip_is_detected),
        T(test_every_data_bit_flip_is_detected),
        T(test_truncations_and_wrong_magic_are_corrupt),
        T(test_write_then_read_every_dtype_round_trips),
        T(test_writer_round_trips_tf_values_and_writes_state_file),
        T(test_many_tensors_span_several_index_blocks),
        T(test_failed_writes_leave_nothing_behind),
        T(test_unsupported_dtype_is_refused_naming_tensor),
        T(test_snappy_block_is_refused_with_a_clear_message),
        T(test_is_checkpoint_rejects_sqlite_file_named_checkpoint),
        T(test_writer_never_replaces_a_varstore_file),
        T(test_fifo_data_shard_is_refused_not_waited_on),
        T(test_listing_refuses_declared_sizes_the_data_cannot_hold),
        T(test_tensor_beyond_its_own_shard_is_refused_unallocated),
        T(test_empty_shape_after_huge_extents_lists_and_loads),
        T(test_sqlite_file_named_like_an_index_is_not_a_checkpoint),
        T(test_hostile_tables_are_refused_in_bounded_work),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
