/* Fuzz target for the safetensors reader (tools/safetensors.c): the input
 * bytes are written to a file and read back with vst_st_read. Checks the
 * contract beyond "no crash": on success sorted unique names and tensors
 * whose bytes fit in the file, on failure *out NULL and a message naming
 * the file. Built with libFuzzer when VS_FUZZ is on (clang), and as a plain
 * replay program (fuzz_replay.c) for CTest. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "safetensors.h"
#include "vst.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = vs_fuzz_write_input("st", data, size);
    vst_st_file *f = (vst_st_file *)&f; /* must be reset to NULL */
    int rc = vst_st_read(path, &f);

    if (rc == VS_OK) {
        size_t i, total = 0;
        if (f == NULL)
            vs_fuzz_die("vst_st_read: NULL file on success", path);
        for (i = 0; i < f->n; i++) {
            const vs_tensor *t = f->tensors[i];
            size_t nbytes = 0;
            if (f->names[i] == NULL || t == NULL ||
                vs_shape_check(t->dtype, t->ndim, t->shape, NULL, &nbytes) !=
                    VS_OK ||
                (nbytes > 0 && t->data == NULL))
                vs_fuzz_die("vst_st_read: bad tensor on success", path);
            if (i > 0 && strcmp(f->names[i - 1], f->names[i]) >= 0)
                vs_fuzz_die("vst_st_read: names not sorted and unique", path);
            total += nbytes;
        }
        if (total > size)
            vs_fuzz_die("vst_st_read: more tensor bytes than file bytes",
                        path);
        for (i = 0; i < f->n_meta; i++)
            if (f->meta_keys[i] == NULL || f->meta_values[i] == NULL)
                vs_fuzz_die("vst_st_read: NULL metadata", path);
        vst_st_free(f);
    } else {
        if (f != NULL)
            vs_fuzz_die("vst_st_read: *out not NULL on failure", path);
        if (rc >= 0 || strstr(vst_errmsg(), path) == NULL)
            vs_fuzz_die("vst_st_read: error without the file name",
                        vst_errmsg());
    }
    return 0;
}
