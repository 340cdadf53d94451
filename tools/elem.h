/* varstore tools: element i of a tensor as a number, for the CLI and the
 * SQLite extension. */
#ifndef VS_TOOLS_ELEM_H
#define VS_TOOLS_ELEM_H

#include <stddef.h>
#include <stdint.h>

#include "varstore.h"

/* Element i of t as a double (bool: 0 or 1). */
double vst_elem_f64(const vs_tensor *t, size_t i);
/* Element i of t as an int64_t: exact for int64, else the double's. */
int64_t vst_elem_i64(const vs_tensor *t, size_t i);

#endif /* VS_TOOLS_ELEM_H */
