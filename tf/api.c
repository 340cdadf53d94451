/* varstore tf/: the public calls on TensorFlow checkpoints (declared in
 * include/varstore.h, block "TensorFlow checkpoints"). */
#include "tf_int.h"

int vs_tf_list_variables(const char *prefix_or_dir, vs_tensor_info **out,
                         size_t *n)
{
    vs__tf_bundle *b;
    int rc;
    if (out == NULL || n == NULL || prefix_or_dir == NULL)
        return vs__fail(VS_EINVAL, "vs_tf_list_variables: NULL argument");
    *out = NULL;
    *n = 0;
    rc = vs__tf_open(prefix_or_dir, &b);
    if (rc != VS_OK)
        return rc;
    rc = vs__tf_list(b, out, n);
    vs__tf_close(b);
    return rc;
}

int vs_tf_load_variable(const char *prefix_or_dir, const char *name,
                        vs_tensor **out)
{
    vs__tf_bundle *b;
    int rc;
    if (out == NULL || name == NULL || prefix_or_dir == NULL)
        return vs__fail(VS_EINVAL, "vs_tf_load_variable: NULL argument");
    *out = NULL;
    rc = vs__tf_open(prefix_or_dir, &b);
    if (rc != VS_OK)
        return rc;
    rc = vs__tf_load(b, name, out);
    vs__tf_close(b);
    return rc;
}

int vs_tf_write_checkpoint(const char *prefix, const char *const *names,
                           const vs_tensor *const *tensors, size_t n)
{
    return vs__tf_write(prefix, names, tensors, n);
}

int vs_tf_is_checkpoint(const char *path)
{
    return vs__tf_is_checkpoint(path);
}
