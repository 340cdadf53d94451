/* varstore tools: element access (see elem.h). */
#include "elem.h"

double vst_elem_f64(const vs_tensor *t, size_t i)
{
    switch (t->dtype) {
    case VS_FLOAT32: return ((const float *)t->data)[i];
    case VS_FLOAT64: return ((const double *)t->data)[i];
    case VS_FLOAT16: return vs_half_to_float(((const uint16_t *)t->data)[i]);
    case VS_BFLOAT16:
        return vs_bfloat16_to_float(((const uint16_t *)t->data)[i]);
    case VS_INT8: return ((const int8_t *)t->data)[i];
    case VS_UINT8: return ((const uint8_t *)t->data)[i];
    case VS_INT32: return ((const int32_t *)t->data)[i];
    case VS_INT64: return (double)((const int64_t *)t->data)[i];
    case VS_BOOL: return ((const uint8_t *)t->data)[i] ? 1.0 : 0.0;
    }
    return 0.0;
}

int64_t vst_elem_i64(const vs_tensor *t, size_t i)
{
    if (t->dtype == VS_INT64)
        return ((const int64_t *)t->data)[i];
    return (int64_t)vst_elem_f64(t, i);
}
