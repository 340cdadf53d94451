/* varstore tools: a checkpoint step exported as a TensorFlow checkpoint
 * (see tf_cli.h). */
#include <stdlib.h>

#include "tf_cli.h"
#include "vst.h"

int vst_tf_export(vs_ckpt *f, int64_t step, const char *const *names,
                  size_t n, const char *prefix)
{
    vs_tensor **t;
    int rc;
    if (f == NULL || prefix == NULL || (names == NULL && n > 0))
        return vst_fail(VS_EINVAL, "vst_tf_export: NULL argument");
    t = calloc(n + 1, sizeof *t);
    if (t == NULL)
        return vst_fail(VS_ENOMEM, "out of memory");
    rc = vs_ckpt_load_many(f, step, names, n, t);
    if (rc == VS_OK)
        rc = vs_tf_write_checkpoint(prefix, names,
                                    (const vs_tensor *const *)t, n);
    if (rc != VS_OK)
        rc = vst_fail(rc, "%s", vs_errmsg());
    for (size_t i = 0; i < n; i++)
        vs_tensor_free(t[i]);
    free(t);
    return rc;
}
