/* Replays fuzz inputs through a fuzz target without libFuzzer (any
 * compiler):
 *   fuzz_replay_<target> FILE...
 * runs LLVMFuzzerTestOneInput on each file and exits 0 when none aborted.
 * CTest runs it on tests/fuzz/corpus/<target>/ (seeds and inputs that once
 * crashed).
 *   fuzz_replay_<target> --mutate N [--seed S] FILE...
 * also runs N random mutations of each file (bit flips, byte writes,
 * inserted, deleted and duplicated runs, truncation): a plain mutational
 * fuzzer for machines without clang. An input that aborts stays in
 * <tmp>/vs_fuzz_crash_<pid> (printed) to be added to the corpus. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"

static uint8_t *read_file(const char *path, size_t *n_out)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0, got;
    if (f == NULL) {
        perror(path);
        return NULL;
    }
    do {
        if (n == cap) {
            uint8_t *nb;
            cap = cap ? 2 * cap : 4096;
            nb = realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                fprintf(stderr, "out of memory\n");
                return NULL;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
    } while (got > 0);
    if (ferror(f)) {
        perror(path);
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *n_out = n;
    return buf;
}

static uint64_t g_rng = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

/* One to eight random edits of in (n bytes) into out (capacity cap). */
static size_t mutate(const uint8_t *in, size_t n, uint8_t *out, size_t cap)
{
    size_t m = n < cap ? n : cap;
    memcpy(out, in, m);
    for (int k = 1 + (int)(rnd() % 8); k > 0; k--) {
        size_t at = m ? (size_t)(rnd() % m) : 0;
        size_t len = 1 + (size_t)(rnd() % 16);
        switch (rnd() % 5) {
        case 0: if (m) out[at] ^= (uint8_t)(1u << (rnd() % 8)); break;
        case 1: if (m) out[at] = (uint8_t)rnd(); break;
        case 2: /* delete a run */
            if (at + len > m)
                len = m - at;
            memmove(out + at, out + at + len, m - at - len);
            m -= len;
            break;
        case 3: /* duplicate a run (or insert bytes) */
            if (m + len > cap || at + len > m)
                break;
            memmove(out + at + len, out + at, m - at);
            m += len;
            break;
        default: m = at; break; /* truncate */
        }
    }
    return m;
}

/* Runs count mutations of buf; keeps each input on disk while it runs. */
static void mutate_runs(const uint8_t *buf, size_t n, long count)
{
    size_t cap = n + 64;
    uint8_t *m = malloc(cap);
    char keep[4200];
    snprintf(keep, sizeof keep, "%s/vs_fuzz_crash_%ld",
             getenv("VS_TEST_TMPDIR") ? getenv("VS_TEST_TMPDIR") : "/tmp",
             (long)getpid());
    if (m == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    for (long i = 0; i < count; i++) {
        size_t len = mutate(buf, n, m, cap);
        FILE *f = fopen(keep, "wb");
        if (f != NULL) {
            if (len)
                fwrite(m, 1, len, f);
            fclose(f);
        }
        LLVMFuzzerTestOneInput(m, len);
    }
    unlink(keep);
    free(m);
}

int main(int argc, char **argv)
{
    long mutations = 0, inputs = 0;
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "--mutate") == 0) {
        mutations = strtol(argv[i + 1], NULL, 10);
        i += 2;
        if (i + 1 < argc && strcmp(argv[i], "--seed") == 0) {
            g_rng ^= (uint64_t)strtoull(argv[i + 1], NULL, 10);
            i += 2;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "usage: %s [--mutate N [--seed S]] FILE...\n",
                argv[0]);
        return 2;
    }
    for (; i < argc; i++) {
        size_t n = 0;
        uint8_t *buf = read_file(argv[i], &n);
        if (buf == NULL)
            return 1;
        LLVMFuzzerTestOneInput(buf, n);
        inputs++;
        if (mutations > 0) {
            mutate_runs(buf, n, mutations);
            inputs += mutations;
        }
        free(buf);
    }
    if (vs_fuzz_path()[0] != '\0')
        unlink(vs_fuzz_path());
    printf("replayed %ld inputs\n", inputs);
    return 0;
}
