/* A tiny driver over the public TF-checkpoint API, for the TF interop test
 * (tests/tf/test_tf_interop.py):
 *   tf_driver write PREFIX   writes the variables of make_fixtures.py
 *                            (same names, dtypes, shapes, formula values;
 *                            partitioned ones as whole tensors)
 *   tf_driver copy SRC DST   reads every tensor of the TF checkpoint SRC
 *                            and writes them as the TF checkpoint DST
 *   tf_driver many PREFIX N  writes N int32 [1] tensors
 *                            "layer_<i>/a_long_scope/kernel" = i (an index
 *                            of several blocks for N in the thousands)
 *   tf_driver dump PATH      prints each tensor of a TF checkpoint:
 *                            name TAB dtype TAB dims (comma-separated)
 *                            TAB the bytes in hex
 * Exit status 0 on success, 1 with vs_errmsg() on stderr otherwise. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "varstore.h"

static const struct {
    const char *name;
    vs_dtype dtype;
    int ndim;
    int64_t shape[2];
    int seed;
} vars[] = {
    {"dense/kernel", VS_FLOAT32, 2, {3, 4}, 1},
    {"dense/bias", VS_FLOAT32, 1, {4}, 2},
    {"outer/inner/w64", VS_FLOAT64, 2, {2, 3}, 3},
    {"outer/inner/h16", VS_FLOAT16, 1, {5}, 4},
    {"outer/bf", VS_BFLOAT16, 2, {2, 2}, 5},
    {"ints/i32", VS_INT32, 1, {3}, 6},
    {"ints/i64", VS_INT64, 2, {2, 2}, 7},
    {"ints/i8", VS_INT8, 1, {4}, 8},
    {"ints/u8", VS_UINT8, 1, {6}, 9},
    {"flags", VS_BOOL, 1, {7}, 10},
    {"global_step", VS_INT64, 0, {0}, 11},
    {"empty", VS_FLOAT32, 2, {0, 3}, 12},
    {"part/emb", VS_FLOAT32, 2, {10, 3}, 13},
    {"bigpart/w", VS_FLOAT32, 2, {130, 2}, 14},
};
#define N_VARS (sizeof vars / sizeof vars[0])

static void fill(vs_tensor *t, int seed)
{
    for (int64_t i = 0; i < vs_tensor_numel(t); i++) {
        int64_t k = (7 * i + seed) % 23;
        float f = (float)(k - 11) * 0.125f;
        switch (t->dtype) {
        case VS_FLOAT32: ((float *)t->data)[i] = f; break;
        case VS_FLOAT64: ((double *)t->data)[i] = f; break;
        case VS_FLOAT16: ((uint16_t *)t->data)[i] = vs_float_to_half(f); break;
        case VS_BFLOAT16:
            ((uint16_t *)t->data)[i] = vs_float_to_bfloat16(f);
            break;
        case VS_INT8: ((int8_t *)t->data)[i] = (int8_t)(k - 11); break;
        case VS_INT32:
            ((int32_t *)t->data)[i] = (int32_t)((k - 11) * 100000);
            break;
        case VS_INT64:
            ((int64_t *)t->data)[i] = (k - 11) * 1000000000000LL;
            break;
        case VS_UINT8: ((uint8_t *)t->data)[i] = (uint8_t)(k * 10); break;
        case VS_BOOL: ((uint8_t *)t->data)[i] = k % 3 == 0; break;
        }
    }
}

static int do_write(const char *prefix)
{
    vs_tensor *t[N_VARS] = {0};
    const char *names[N_VARS];
    int rc = VS_OK;
    for (size_t i = 0; i < N_VARS && rc == VS_OK; i++) {
        rc = vs_tensor_new(vars[i].dtype, vars[i].ndim, vars[i].shape, &t[i]);
        if (rc == VS_OK)
            fill(t[i], vars[i].seed);
        names[i] = vars[i].name;
    }
    if (rc == VS_OK)
        rc = vs_tf_write_checkpoint(prefix, names,
                                    (const vs_tensor *const *)t, N_VARS);
    for (size_t i = 0; i < N_VARS; i++)
        vs_tensor_free(t[i]);
    return rc;
}

static int dump_one(const char *path, const char *name)
{
    vs_tensor *t = NULL;
    int rc = vs_tf_load_variable(path, name, &t);
    if (rc != VS_OK)
        return rc;
    printf("%s\t%s\t", name, vs_dtype_name(t->dtype));
    for (int d = 0; d < t->ndim; d++)
        printf(d ? ",%lld" : "%lld", (long long)t->shape[d]);
    putchar('\t');
    for (size_t b = 0; b < vs_tensor_nbytes(t); b++)
        printf("%02x", ((const unsigned char *)t->data)[b]);
    putchar('\n');
    vs_tensor_free(t);
    return VS_OK;
}

static int do_copy(const char *src, const char *dst)
{
    vs_tensor_info *info = NULL;
    vs_tensor *t[64] = {0};
    const char *names[64];
    size_t n = 0;
    int rc = vs_tf_list_variables(src, &info, &n);
    if (rc == VS_OK && n > 64) {
        fprintf(stderr, "tf_driver: more than 64 tensors\n");
        rc = VS_EINVAL;
    }
    for (size_t i = 0; i < n && rc == VS_OK; i++) {
        names[i] = info[i].name;
        rc = vs_tf_load_variable(src, info[i].name, &t[i]);
    }
    if (rc == VS_OK)
        rc = vs_tf_write_checkpoint(dst, names, (const vs_tensor *const *)t, n);
    for (size_t i = 0; i < n && i < 64; i++)
        vs_tensor_free(t[i]);
    vs_tensor_info_free(info, n);
    return rc;
}

static int do_many(const char *prefix, const char *count)
{
    long n = strtol(count, NULL, 10);
    char **names;
    vs_tensor **t;
    int64_t one = 1;
    int rc = VS_OK;
    if (n <= 0 || n > 1000000)
        return vs_tf_write_checkpoint(NULL, NULL, NULL, 0); /* VS_EINVAL */
    names = calloc((size_t)n, sizeof *names);
    t = calloc((size_t)n, sizeof *t);
    if (names == NULL || t == NULL)
        rc = VS_ENOMEM;
    for (long i = 0; i < n && rc == VS_OK; i++) {
        names[i] = malloc(96);
        if (names[i] == NULL) {
            rc = VS_ENOMEM;
            break;
        }
        snprintf(names[i], 96,
                 "layer_%06ld/a_rather_long_scope_name_for_a_big_index/kernel",
                 i);
        rc = vs_tensor_new(VS_INT32, 1, &one, &t[i]);
        if (rc == VS_OK)
            *(int32_t *)t[i]->data = (int32_t)i;
    }
    if (rc == VS_OK)
        rc = vs_tf_write_checkpoint(prefix, (const char *const *)names,
                                    (const vs_tensor *const *)t, (size_t)n);
    for (long i = 0; names != NULL && t != NULL && i < n; i++) {
        free(names[i]);
        vs_tensor_free(t[i]);
    }
    free(names);
    free(t);
    return rc;
}

static int do_dump(const char *path)
{
    vs_tensor_info *info = NULL;
    size_t n = 0;
    int rc = vs_tf_list_variables(path, &info, &n);
    for (size_t i = 0; i < n && rc == VS_OK; i++)
        rc = dump_one(path, info[i].name);
    vs_tensor_info_free(info, n);
    return rc;
}

int main(int argc, char **argv)
{
    int rc;
    if (argc == 4 && strcmp(argv[1], "copy") == 0)
        rc = do_copy(argv[2], argv[3]);
    else if (argc == 4 && strcmp(argv[1], "many") == 0)
        rc = do_many(argv[2], argv[3]);
    else if (argc == 3 && strcmp(argv[1], "write") == 0)
        rc = do_write(argv[2]);
    else if (argc == 3 && strcmp(argv[1], "dump") == 0)
        rc = do_dump(argv[2]);
    else {
        fprintf(stderr, "usage: %s write PREFIX | copy SRC DST | many PREFIX N | dump PATH\n",
                argv[0]);
        return 2;
    }
    if (rc != VS_OK) {
        fprintf(stderr, "tf_driver: %s\n", vs_errmsg());
        return 1;
    }
    return 0;
}
