/* varstore tools: the safetensors dtype names (F16 BF16 F32 F64 I8 U8 I32
 * I64 BOOL) and the dtypes they stand for, for the reader and the writer. */
#include <string.h>

#include "safetensors.h"
#include "vst.h"

static const struct {
    const char *name;
    vs_dtype dtype;
} st_types[] = {
    {"F16", VS_FLOAT16}, {"BF16", VS_BFLOAT16}, {"F32", VS_FLOAT32},
    {"F64", VS_FLOAT64}, {"I8", VS_INT8},       {"U8", VS_UINT8},
    {"I32", VS_INT32},   {"I64", VS_INT64},     {"BOOL", VS_BOOL},
};
#define N_ST_TYPES (sizeof st_types / sizeof st_types[0])

const char *vst_st_dtype_name(vs_dtype dtype)
{
    size_t i;
    for (i = 0; i < N_ST_TYPES; i++)
        if (st_types[i].dtype == dtype)
            return st_types[i].name;
    return NULL;
}

int vst_st_dtype_from_name(const char *name, vs_dtype *out)
{
    size_t i;
    for (i = 0; i < N_ST_TYPES; i++) {
        if (strcmp(st_types[i].name, name) == 0) {
            *out = st_types[i].dtype;
            return VS_OK;
        }
    }
    return vst_fail(VS_EDTYPE, "unknown dtype '%s'", name);
}
