/* What tests/fixtures/format_v2.db holds: a file of schema version 2 (the
 * format before names were stored once), written by varstore 0.1.0 at
 * commit 962de0e with tests/fixtures/make_format_v2.c, which includes
 * this header. The tests of the upgrade to version 3 check every value
 * against the formulas below, bit for bit.
 *
 * Steps 1 and 2 (vs_save of a graph): scope "net" with
 *   net/conv1/weights  float32 [3,3,2,4]  fx2_value(step, 0, i)
 *   net/conv1/biases   float32 [4]        fx2_value(1, 1, i) at both steps
 *   net/embed          float32 [10,4]     fx2_value(step, 2, i), a
 *                      partitioned variable (3 parts along axis 0), saved
 *                      whole
 *   <fx2_long_name>    float32 [5]        fx2_value(step, 3, i)
 *   global_step        int64 []           10 * step
 * Step 3 (vs_save_tensors):
 *   <fx2_key_name>     float32 [6]        fx2_value(3, 4, i)
 *   ints               int32 [2,2]        3 * i - 5
 *   net/conv1/biases   float32 [4]        fx2_value(1, 1, i) (shared chunk)
 */
#ifndef VS_FORMAT_V2_FIXTURE_H
#define VS_FORMAT_V2_FIXTURE_H

#include <stdint.h>
#include <string.h>

/* A variable name of 1000 characters under scope "net" and a checkpoint
 * key of 4000 (VS_NAME_MAX). */
#define FX2_LONG_LEN 1000
#define FX2_KEY_LEN 4000

static inline float fx2_value(int64_t step, int k, int64_t i)
{
    return (float)(step * 1000 + k * 100 + i) * 0.5f;
}

/* "net/www...w", FX2_LONG_LEN characters; buf has FX2_LONG_LEN + 1. */
static inline const char *fx2_long_name(char *buf)
{
    memcpy(buf, "net/", 4);
    memset(buf + 4, 'w', FX2_LONG_LEN - 4);
    buf[FX2_LONG_LEN] = '\0';
    return buf;
}

/* "key/kkk...k", FX2_KEY_LEN characters; buf has FX2_KEY_LEN + 1. */
static inline const char *fx2_key_name(char *buf)
{
    memcpy(buf, "key/", 4);
    memset(buf + 4, 'k', FX2_KEY_LEN - 4);
    buf[FX2_KEY_LEN] = '\0';
    return buf;
}

#endif /* VS_FORMAT_V2_FIXTURE_H */
