/* varstore: dtypes, shapes and small utilities of the store (time
 * stamps, decode scratch memory, a path's folder). */
#define _GNU_SOURCE /* clock_gettime, gmtime_r, MAP_ANONYMOUS */
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "store_int.h"

double vs__now_iso(char buf[32])
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        ts.tv_sec = time(NULL);
        ts.tv_nsec = 0;
    }
    struct tm tmv;
    if (gmtime_r(&ts.tv_sec, &tmv) == NULL)
        memset(&tmv, 0, sizeof tmv);
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tmv.tm_year + 1900, tmv.tm_mon + 1, tmv.tm_mday, tmv.tm_hour,
             tmv.tm_min, tmv.tm_sec, (int)(ts.tv_nsec / 1000000));
    tmp[31] = '\0';
    memcpy(buf, tmp, strlen(tmp) + 1);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

size_t vs__elem_size(vs_dtype dt) { return vs_dtype_size(dt); }

const char *vs__dtype_str(vs_dtype dt) { return vs_dtype_name(dt); }

int vs__dtype_parse(const char *s, vs_dtype *out)
{
    return s != NULL && vs_dtype_from_name(s, out) == VS_OK ? 0 : -1;
}

char *vs__store_dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        return vs__strdup(".");
    size_t n = slash == path ? 1 : (size_t)(slash - path);
    char *d = vs__malloc(n + 1);
    if (d != NULL) {
        memcpy(d, path, n);
        d[n] = '\0';
    }
    return d;
}

void *vs__big_alloc(size_t n, int huge)
{
    if (n == 0)
        n = 1;
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
#ifdef MADV_HUGEPAGE
    if (huge && n >= ((size_t)2 << 20))
        (void)madvise(p, n, MADV_HUGEPAGE);
#endif
    return p;
}

void vs__big_free(void *p, size_t n)
{
    /* munmap fails only for a range vs__big_alloc did not return */
    if (p != NULL)
        (void)munmap(p, n == 0 ? 1 : n);
}

const char *vs__dtype_tf_string(vs_dtype dt)
{
    switch (dt) {
    case VS_FLOAT32: return "float";
    case VS_FLOAT64: return "double";
    case VS_FLOAT16: return "half";
    case VS_BFLOAT16: return "bfloat16";
    case VS_INT8: return "int8";
    case VS_UINT8: return "uint8";
    case VS_INT32: return "int32";
    case VS_INT64: return "int64";
    case VS_BOOL: return "bool";
    default: return "invalid";
    }
}

static const char *skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
        s++;
    return s;
}

int vs__parse_shape_json(const char *s, int *ndim, int64_t *shape)
{
    int n = 0;
    if (s == NULL)
        return -1;
    s = skip_ws(s);
    if (*s != '[')
        return -1;
    s = skip_ws(s + 1);
    if (*s == ']') {
        if (*skip_ws(s + 1) != '\0')
            return -1;
        *ndim = 0;
        return 0;
    }
    for (;;) {
        if (n >= VS_MAX_DIMS || *s < '0' || *s > '9')
            return -1;
        int64_t v = 0;
        while (*s >= '0' && *s <= '9') {
            if (v > (INT64_MAX - 9) / 10)
                return -1;
            v = v * 10 + (*s - '0');
            s++;
        }
        shape[n++] = v;
        s = skip_ws(s);
        if (*s == ',') {
            s = skip_ws(s + 1);
            continue;
        }
        if (*s == ']' && *skip_ws(s + 1) == '\0')
            break;
        return -1;
    }
    *ndim = n;
    return 0;
}

