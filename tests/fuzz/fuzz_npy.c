/* Fuzz target for the .npy reader (tools/npy.c): the input bytes are written
 * to a file and read back with vst_npy_read. Checks the reader's contract
 * beyond "no crash": on success a well-formed tensor, on failure *out NULL
 * and a message naming the file. Built with libFuzzer when VS_FUZZ is on
 * (clang), and as a plain replay program (fuzz_replay.c) for CTest. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_common.h"
#include "npy.h"
#include "vst.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = vs_fuzz_write_input("npy", data, size);
    vs_tensor *t = (vs_tensor *)&t; /* must be reset to NULL */
    int rc = vst_npy_read(path, &t);

    if (rc == VS_OK) {
        size_t nbytes = 0;
        if (t == NULL ||
            vs_shape_check(t->dtype, t->ndim, t->shape, NULL, &nbytes) !=
                VS_OK ||
            (nbytes > 0 && t->data == NULL) || nbytes > size)
            vs_fuzz_die("vst_npy_read: bad tensor on success", path);
        if (t->dtype == VS_BOOL) {
            size_t i;
            for (i = 0; i < nbytes; i++)
                if (((const uint8_t *)t->data)[i] > 1)
                    vs_fuzz_die("vst_npy_read: bool byte > 1", path);
        }
        vs_tensor_free(t);
    } else {
        if (t != NULL)
            vs_fuzz_die("vst_npy_read: *out not NULL on failure", path);
        if (rc >= 0 || strstr(vst_errmsg(), path) == NULL)
            vs_fuzz_die("vst_npy_read: error without the file name",
                        vst_errmsg());
    }
    return 0;
}
