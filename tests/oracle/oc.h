/* The oracle's cases, computed with varstore: names, reuse decisions,
 * errors, collections and partitions (text lines), initializer values and
 * op outputs (tensors). The driver (oracle_driver.c) prints them for
 * oracle.py to compare with TensorFlow; test_oracle_fixtures.c compares them
 * with what TensorFlow produced earlier (tests/fixtures/oracle/). */
#ifndef VS_ORACLE_OC_H
#define VS_ORACLE_OC_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "varstore.h"

/* What one case produced: text lines, or a tensor. */
typedef struct oc_result {
    char *text; /* '\n'-terminated lines; NULL when none */
    size_t len, cap;
    vs_tensor *tensor; /* value cases; owned */
    int oom;           /* a line could not be stored */
} oc_result;

typedef struct oc_case oc_case;
struct oc_case {
    char name[96];
    /* Fills r; returns VS_OK, or a code when varstore refused the case (the
     * runner then records "error CODE: message" as the result). */
    int (*run)(const oc_case *c, oc_result *r);
    /* Writes the JSON object fields after "name" (no braces) that oracle.py
     * needs to build the same program in TensorFlow. */
    void (*spec_json)(const oc_case *c, FILE *f);
    const void *spec; /* the group's parameters */
    int variant;      /* a dtype or an index, as the group uses it */
};

/* ---- results (oc_result.c) ---- */
void oc_result_free(oc_result *r);
/* Appends one line (printf format, no newline). */
void oc_line(oc_result *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends "ok" for VS_OK, else "error VS_E...: message". */
void oc_rc(oc_result *r, int rc);
/* Appends "var NAME SHAPE DTYPE trainable=T". */
void oc_var(oc_result *r, const vs_var *v);
/* TF's shape text: "(2, 3)", "(5,)", "()". */
void oc_shape_str(int ndim, const int64_t *shape, char *buf, size_t n);
const char *oc_code_name(int code);
/* Runs c into r; a refusal becomes the line "error CODE: message". */
void oc_run(const oc_case *c, oc_result *r);
/* Writes s as a JSON string (quoted, escaped). */
void oc_json_str(FILE *f, const char *s);
void oc_json_shape(FILE *f, int ndim, const int64_t *shape);

/* ---- the registry (oc_registry.c) ---- */
size_t oc_num_cases(void);
const oc_case *oc_case_at(size_t i);
const oc_case *oc_find(const char *name);

/* ---- groups: each appends its cases with add (oc_registry.c) ---- */
typedef void (*oc_add_fn)(const oc_case *c);
void oc_names_cases(oc_add_fn add);
void oc_reuse_cases(oc_add_fn add);
void oc_partition_cases(oc_add_fn add);
void oc_init_cases(oc_add_fn add);
void oc_ops_cases(oc_add_fn add);

/* ---- deterministic inputs for op cases (oc_ops.c) ----
 * x[i] in [-1, 1), exactly representable in float32, from a 32-bit LCG
 * (x = x * 1664525 + 1013904223 mod 2^32; value = ((x >> 8) - 2^23) / 2^23).
 * oracle.py computes the same numbers. */
void oc_lcg_fill(uint32_t seed, float *x, int64_t n);

#endif /* VS_ORACLE_OC_H */
