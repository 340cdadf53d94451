/* Replays fuzz inputs through a fuzz target without libFuzzer (any
 * compiler): fuzz_replay_<target> FILE... runs LLVMFuzzerTestOneInput on
 * each file and exits 0 when none aborted. CTest runs it on
 * tests/fuzz/corpus/<target>/ (seeds and inputs that once crashed). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "fuzz_common.h"

int main(int argc, char **argv)
{
    int i;
    if (argc < 2) {
        fprintf(stderr, "usage: %s FILE...\n", argv[0]);
        return 2;
    }
    for (i = 1; i < argc; i++) {
        FILE *f = fopen(argv[i], "rb");
        uint8_t *buf = NULL;
        size_t n = 0, cap = 0, got;
        if (f == NULL) {
            perror(argv[i]);
            return 1;
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
                    return 1;
                }
                buf = nb;
            }
            got = fread(buf + n, 1, cap - n, f);
            n += got;
        } while (got > 0);
        if (ferror(f)) {
            perror(argv[i]);
            free(buf);
            fclose(f);
            return 1;
        }
        fclose(f);
        LLVMFuzzerTestOneInput(buf, n);
        free(buf);
    }
    if (vs_fuzz_path()[0] != '\0')
        unlink(vs_fuzz_path());
    printf("replayed %d inputs\n", argc - 1);
    return 0;
}
