/* Shared by the fuzz targets: writing the input to a per-process file and
 * failing loudly. Header-only so each target is one translation unit. */
#ifndef VS_FUZZ_COMMON_H
#define VS_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static inline _Noreturn void vs_fuzz_die(const char *what,
                                         const char *detail)
{
    fprintf(stderr, "fuzz: %s: %s\n", what, detail);
    abort();
}

/* The file the inputs are written to ("" before the first). */
static inline char *vs_fuzz_path(void)
{
    static char path[4096];
    return path;
}

/* Writes the input to "<dir>/vs_fuzz_<tag>_<pid>" (dir: $VS_TEST_TMPDIR,
 * else /tmp) and returns that path (static storage). */
static inline const char *vs_fuzz_write_input(const char *tag,
                                              const uint8_t *data,
                                              size_t size)
{
    char *path = vs_fuzz_path();
    FILE *f;
    if (path[0] == '\0') {
        const char *dir = getenv("VS_TEST_TMPDIR");
        int n = snprintf(path, 4096, "%s/vs_fuzz_%s_%ld",
                         dir && *dir ? dir : "/tmp", tag, (long)getpid());
        if (n < 0 || (size_t)n >= 4096)
            vs_fuzz_die("temporary path too long", dir);
    }
    f = fopen(path, "wb");
    if (f == NULL)
        vs_fuzz_die("cannot create", path);
    if ((size > 0 && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        vs_fuzz_die("cannot write", path);
    return path;
}

#endif /* VS_FUZZ_COMMON_H */
