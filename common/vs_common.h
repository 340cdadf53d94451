/* varstore: internal helpers shared by every module (errors, allocation,
 * strings, shape printing). Not installed. */
#ifndef VS_COMMON_H
#define VS_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "varstore.h"

#if defined(__GNUC__) || defined(__clang__)
#define VS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define VS_PRINTF(a, b)
#endif

/* Longest message kept by vs_errmsg(); a longer one is cut and ends in
 * "..." (never silently). */
#define VS_ERRMSG_MAX 4096
/* Longest variable / scope name accepted (bytes, without the NUL). */
#define VS_NAME_MAX 4000

/* Sets this thread's error message and returns code (a VS_E* value). */
int vs__fail(int code, const char *fmt, ...) VS_PRINTF(2, 3);
int vs__vfail(int code, const char *fmt, va_list ap) VS_PRINTF(2, 0);
/* Prefixes the current message: "<prefix><old message>"; returns code. */
int vs__fail_prefix(int code, const char *fmt, ...) VS_PRINTF(2, 3);

/* Allocation: NULL on failure (the caller reports VS_ENOMEM). */
void *vs__malloc(size_t n);
void *vs__calloc(size_t n, size_t size);
void *vs__realloc(void *p, size_t n);
void vs__free(void *p);
char *vs__strdup(const char *s);
char *vs__strndup(const char *s, size_t n);
/* A new string formatted as printf; NULL on failure. */
char *vs__asprintf(const char *fmt, ...) VS_PRINTF(1, 2);
char *vs__vasprintf(const char *fmt, va_list ap) VS_PRINTF(1, 0);

/* Overflow-checked arithmetic: 0 on success, -1 on overflow. */
int vs__mul_size(size_t a, size_t b, size_t *out);
int vs__add_size(size_t a, size_t b, size_t *out);

/* TF1 TensorShape.__str__: "(2, 3)", "(5,)", "()"; ndim < 0 gives
 * "<unknown>". Writes into buf (always NUL-terminated); returns buf. */
char *vs__shape_str(int ndim, const int64_t *shape, char *buf, size_t cap);
/* TensorShape::DebugString style without spaces: "[2,3]", "[]". */
char *vs__shape_brackets(int ndim, const int64_t *shape, char *buf, size_t cap);
/* JSON array text: "[2,2,1,1]", "[]": the same text as
 * vs__shape_brackets (kept for store/'s callers). */
char *vs__shape_json(int ndim, const int64_t *shape, char *buf, size_t cap);
/* Python's repr of a list of ints: "[2, 1, 1]", "[]" (negatives as
 * numbers). */
char *vs__int_list(int n, const int64_t *v, char *buf, size_t cap);
#define VS_SHAPE_STR_MAX (VS_MAX_DIMS * 24 + 16)

/* Most threads one call of the library starts (a GEMM, a fill, a pool of
 * (de)compression workers). */
#define VS_MAX_THREADS 64
/* The number of online CPUs, in [1, VS_MAX_THREADS]: asked once (sysconf
 * reads a file on Linux), then cached. Thread-safe. */
int vs__cpu_count(void);

#endif /* VS_COMMON_H */
