/* bench/scale: the model in memory, its per-step perturbation and its
 * checksum manifest (scale_util.h). */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "scale_util.h"
#include "vst.h"

vst_st_file *sc_model_read(const char *path)
{
    vst_st_file *m = NULL;
    if (vst_st_read(path, &m) != VS_OK)
        sc_die(path, vst_errmsg());
    if (m->n == 0)
        sc_die(path, "the model holds no tensor");
    return m;
}

uint64_t sc_model_limit(vst_st_file *m, uint64_t max_bytes)
{
    uint64_t kept = 0;
    size_t n = 0;
    while (n < m->n) {
        uint64_t b = vs_tensor_nbytes(m->tensors[n]);
        if (max_bytes != 0 && n > 0 && kept + b > max_bytes)
            break;
        kept += b;
        n++;
    }
    for (size_t i = n; i < m->n; i++) {
        vs_tensor_free(m->tensors[i]);
        free(m->names[i]);
        m->tensors[i] = NULL;
        m->names[i] = NULL;
    }
    m->n = n;
    return kept;
}

/* splitmix64: a fast stream that differs for every seed. */
static uint64_t next_rand(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void sc_perturb(vst_st_file *m, uint64_t seed)
{
    if (seed == 0)
        return;
    uint64_t s = seed * 0x2545F4914F6CDD1Dull;
    for (size_t i = 0; i < m->n; i++) {
        vs_tensor *t = m->tensors[i];
        size_t esize = vs_dtype_size(t->dtype);
        size_t nbytes = vs_tensor_nbytes(t);
        unsigned char *p = t->data;
        /* The lowest byte of each little-endian element. */
        for (size_t off = 0; off + esize <= nbytes; off += 8 * esize) {
            uint64_t r = next_rand(&s);
            for (size_t k = 0; k < 8 && off + k * esize < nbytes; k++)
                p[off + k * esize] ^= (unsigned char)(r >> (8 * k));
        }
    }
}

static uint32_t crc_of(const unsigned char *p, size_t n)
{
    uLong crc = crc32(0L, Z_NULL, 0);
    while (n > 0) {
        uInt part = n > (1u << 30) ? (1u << 30) : (uInt)n;
        crc = crc32(crc, p, part);
        p += part;
        n -= part;
    }
    return (uint32_t)crc;
}

void sc_print_manifest(FILE *out, const char *const *names,
                       vs_tensor *const *tensors, size_t n)
{
    fputc('{', out);
    for (size_t i = 0; i < n; i++) {
        const vs_tensor *t = tensors[i];
        if (strpbrk(names[i], "\"\\") != NULL)
            sc_die(names[i], "a name the manifest cannot hold");
        fprintf(out, "%s\"%s\": [%lu, \"%s\", [", i ? ", " : "", names[i],
                (unsigned long)crc_of(t->data, vs_tensor_nbytes(t)),
                vs_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++)
            fprintf(out, "%s%lld", d ? ", " : "", (long long)t->shape[d]);
        fputs("]]", out);
    }
    fputc('}', out);
}
