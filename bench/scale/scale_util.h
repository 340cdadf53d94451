/* bench/scale: what the scale bench's C programs share: fatal errors,
 * the clock, the model (a safetensors file read whole into memory, outside
 * any timing), its per-step perturbation, and the checksum manifest that
 * proves a load bit-exact. Not API: the programs print JSON that
 * bench/scale/scale.py reads. */
#ifndef VS_BENCH_SCALE_UTIL_H
#define VS_BENCH_SCALE_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "safetensors.h"
#include "varstore.h"

/* The program's name, for messages (set by main). */
extern const char *sc_prog;

/* Prints "<prog>: what: detail" to stderr and exits 1. */
void sc_die(const char *what, const char *detail);
/* Dies with vs_errmsg() unless rc is VS_OK. */
void sc_check(int rc, const char *what);
/* CLOCK_MONOTONIC in seconds. */
double sc_now(void);
/* A non-negative integer argument, or death naming it. */
int64_t sc_int_arg(const char *s, const char *what);
/* Sets the process's peak RSS to its current RSS (Linux: "5" written to
 * /proc/self/clear_refs), so that the peak read later is that of what
 * ran since (an operation), not of what came before (reading the model).
 * Returns 0, or -1 where the kernel does not allow it. */
int sc_peak_reset(void);
/* Writes the JSON member peak_rss to out: the peak RSS in bytes (VmHWM
 * of /proc/self/status), or null when reset (sc_peak_reset's result) is
 * not 0 or VmHWM is unknown. */
void sc_print_peak(FILE *out, int reset);

/* The model at path (safetensors), read into memory; dies on failure. */
vst_st_file *sc_model_read(const char *path);
/* Keeps tensors in file order while their sum stays within max_bytes
 * (at least one); frees the others. max_bytes 0: keeps all. Returns the
 * bytes kept. */
uint64_t sc_model_limit(vst_st_file *m, uint64_t max_bytes);
/* Distinct data for a step: XORs the low 8 mantissa bits of every value
 * with a pseudo-random stream seeded by seed (0: no change), as
 * fine-tuning changes every weight; the values stay random, so no codec
 * gets free compression. */
void sc_perturb(vst_st_file *m, uint64_t seed);

/* Writes "{"name": [crc32, "dtype", [d0, ...]], ...}" (zlib's CRC-32 of
 * each tensor's bytes) to out. */
void sc_print_manifest(FILE *out, const char *const *names,
                       vs_tensor *const *tensors, size_t n);

#endif /* VS_BENCH_SCALE_UTIL_H */
