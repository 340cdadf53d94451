/* varstore: internals of ops/ (RNG, initializer checks). Not installed. */
#ifndef VS_OPS_INT_H
#define VS_OPS_INT_H

#include "vs_common.h"

/* Checks that init can fill a variable of this dtype and shape (TF's
 * creation-time errors: "Expected floating point type, got <dtype:
 * 'int32'>.", "Too many elements provided. Needed at most 6, but received
 * 8", "The tensor to initialize must be at least two-dimensional", ...)
 * without filling anything. */
int vs__init_validate(const vs_init *init, vs_dtype dtype, int ndim,
                      const int64_t *shape);

/* A variance-scaling initializer as the plain distribution it draws from
 * (random_uniform, random_normal or truncated_normal, same seed), its
 * scale taken from TF 1.15's _compute_fans of fan_shape. vs_init_fill
 * passes the tensor's own shape; a partitioned variable's part passes the
 * full shape (TF's partition_info). `in` must be VS_INIT_VARIANCE_SCALING
 * and valid (vs__init_validate). */
vs_init vs__variance_scaling_plain(const vs_init *in, int ndim,
                                   const int64_t *fan_shape);

/* ---- buffers (ops/buffers.c) ---------------------------------------- */

/* Aligned allocation for tensor data (64-byte aligned, zero-filled);
 * free with vs__aligned_free. NULL on failure. */
void *vs__aligned_alloc(size_t nbytes);
void vs__aligned_free(void *p);
/* As vs__aligned_alloc, but the contents are undefined (big buffers may
 * be mappings freed earlier, kept for this): for buffers the caller
 * overwrites whole before anyone reads them. */
void *vs__aligned_alloc_uninit(size_t nbytes);
/* vs_tensor_new with vs__aligned_alloc_uninit: the caller fills every
 * byte (or frees the tensor) before handing it out. */
int vs__tensor_new_uninit(vs_dtype dtype, int ndim, const int64_t *shape,
                          vs_tensor **out);

/* An arena of buffers freed all at once (a graph's variables): same
 * contract as vs__aligned_alloc (64-byte aligned, zero-filled; pass each
 * to vs__aligned_free, which is then a no-op), but buffers of 64 KiB and
 * more are carved out of huge-page slabs. vs__arena_free releases every
 * slab; call it after the last vs__aligned_free of its buffers. A zeroed
 * vs__arena is empty and ready. */
typedef struct vs__arena {
    struct vs__slab *slabs;
} vs__arena;
void *vs__arena_alloc(vs__arena *a, size_t nbytes);
void vs__arena_free(vs__arena *a);

/* ---- Philox RNG (owner: ops; ops/random.c) ---------------------------- */
/* Philox4x32-10 as TF's PhiloxRandom: key = low/high 32 bits of seed,
 * counter words 2 and 3 = low/high 32 bits of seed2, words 0 and 1 = 0. */
typedef struct vs__philox {
    uint32_t ctr[4];
    uint32_t key[2];
} vs__philox;

/* One Philox4x32-10 block (no state). */
void vs__philox4x32_10(const uint32_t ctr[4], const uint32_t key[2],
                       uint32_t out[4]);
void vs__philox_init(vs__philox *p, uint64_t seed, uint64_t seed2);
/* The next 4 words; advances the 128-bit counter by one. */
void vs__philox_next(vs__philox *p, uint32_t out[4]);
/* Skips n blocks of 4 words (TF's PhiloxRandom::Skip). */
void vs__philox_skip(vs__philox *p, uint64_t n);

/* TF's conversions: [0,1) float from 23 mantissa bits, [0,1) double from
 * 52 bits of (x0 & 0xfffff, x1), Box-Muller pairs. */
float vs__uint32_to_float(uint32_t x);
double vs__uint64_to_double(uint32_t x0, uint32_t x1);
void vs__box_muller_float(uint32_t x0, uint32_t x1, float *f0, float *f1);
void vs__box_muller_double(uint32_t x0, uint32_t x1, uint32_t x2,
                           uint32_t x3, double *d0, double *d1);

/* Elements [start, start + n) of the output TF's stateful kernels
 * (RandomUniform, RandomStandardNormal, TruncatedNormal, RandomUniformInt)
 * write for kernel seeds (seed, seed2); so any split of a tensor into
 * ranges gives the same bytes. Seeds (0, 0) are used as given here: the
 * caller (vs_init_fill) replaces them by random ones as TF does. */
void vs__rand_uniform_f32(uint64_t seed, uint64_t seed2, uint64_t start,
                          size_t n, float *out);
void vs__rand_uniform_f64(uint64_t seed, uint64_t seed2, uint64_t start,
                          size_t n, double *out);
void vs__rand_normal_f32(uint64_t seed, uint64_t seed2, uint64_t start,
                         size_t n, float *out);
void vs__rand_normal_f64(uint64_t seed, uint64_t seed2, uint64_t start,
                         size_t n, double *out);
void vs__rand_truncated_f32(uint64_t seed, uint64_t seed2, uint64_t start,
                            size_t n, float *out);
void vs__rand_truncated_f64(uint64_t seed, uint64_t seed2, uint64_t start,
                            size_t n, double *out);
/* Integers in [lo, hi) (lo < hi), TF's lo + bits % (hi - lo). */
void vs__rand_uniform_i32(uint64_t seed, uint64_t seed2, uint64_t start,
                          size_t n, int32_t lo, int32_t hi, int32_t *out);
void vs__rand_uniform_i64(uint64_t seed, uint64_t seed2, uint64_t start,
                          size_t n, int64_t lo, int64_t hi, int64_t *out);
/* Fresh nondeterministic seeds (TF's New64 for kernel seeds 0, 0). */
void vs__rand_fresh_seeds(uint64_t *seed, uint64_t *seed2);
/* ---- end Philox RNG ---------------------------------------------------- */

#endif /* VS_OPS_INT_H */
