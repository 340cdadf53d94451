/* varstore tools: TensorFlow checkpoint import, export and listing for the
 * CLI (see tf_cli.h). */
#include <stdlib.h>

#include "tf_cli.h"
#include "vst.h"

/* A library failure, its message moved to the tools' channel. */
static int lib_fail(int rc)
{
    return vst_fail(rc, "%s", vs_errmsg());
}

static void free_tensors(vs_tensor **t, size_t n)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        vs_tensor_free(t[i]);
    free(t);
}

int vst_tf_list(const char *tf_path, vs_tensor_info **out, size_t *n)
{
    int rc;
    if (tf_path == NULL || out == NULL || n == NULL)
        return vst_fail(VS_EINVAL, "vst_tf_list: NULL argument");
    rc = vs_tf_list_variables(tf_path, out, n);
    return rc == VS_OK ? VS_OK : lib_fail(rc);
}

/* Loads the listed tensors of a TF checkpoint, in list order. */
static int tf_load_all(const char *tf_path, const vs_tensor_info *infos,
                       size_t n, const char **names, vs_tensor **t)
{
    for (size_t i = 0; i < n; i++) {
        int rc = vs_tf_load_variable(tf_path, infos[i].name, &t[i]);
        if (rc != VS_OK)
            return lib_fail(rc);
        names[i] = infos[i].name;
    }
    return VS_OK;
}

int vst_tf_import(const char *tf_path, const char *db_path, int64_t step,
                  const vs_save_opts *opts, size_t *n_out)
{
    vs_tensor_info *infos = NULL;
    const char **names = NULL;
    vs_tensor **t = NULL;
    size_t n = 0;
    int rc;
    if (tf_path == NULL || db_path == NULL)
        return vst_fail(VS_EINVAL, "vst_tf_import: NULL path");
    rc = vst_tf_list(tf_path, &infos, &n);
    if (rc != VS_OK)
        return rc;
    names = calloc(n + 1, sizeof *names);
    t = calloc(n + 1, sizeof *t);
    if (names == NULL || t == NULL)
        rc = vst_fail(VS_ENOMEM, "out of memory");
    if (rc == VS_OK)
        rc = tf_load_all(tf_path, infos, n, names, t);
    if (rc == VS_OK) {
        rc = vs_save_tensors(db_path, step, names,
                             (const vs_tensor *const *)t, n, opts);
        if (rc != VS_OK)
            rc = lib_fail(rc);
    }
    if (rc == VS_OK && n_out != NULL)
        *n_out = n;
    free_tensors(t, n);
    free(names);
    vs_tensor_info_free(infos, n);
    return rc;
}

/* The names and tensors of one step of an open varstore file. */
static int ckpt_read_all(vs_ckpt *f, int64_t step, vs_tensor_info **infos,
                         size_t *n, const char ***names, vs_tensor ***t)
{
    int rc = vs_ckpt_list_variables(f, step, infos, n);
    if (rc != VS_OK)
        return lib_fail(rc);
    *names = calloc(*n + 1, sizeof **names);
    *t = calloc(*n + 1, sizeof **t);
    if (*names == NULL || *t == NULL)
        return vst_fail(VS_ENOMEM, "out of memory");
    for (size_t i = 0; i < *n; i++)
        (*names)[i] = (*infos)[i].name;
    rc = vs_ckpt_load_many(f, step, *names, *n, *t);
    return rc == VS_OK ? VS_OK : lib_fail(rc);
}

int vst_tf_export(const char *db_path, int64_t step, const char *prefix,
                  size_t *n_out)
{
    vs_ckpt *f = NULL;
    vs_tensor_info *infos = NULL;
    const char **names = NULL;
    vs_tensor **t = NULL;
    size_t n = 0;
    int rc;
    if (db_path == NULL || prefix == NULL)
        return vst_fail(VS_EINVAL, "vst_tf_export: NULL path");
    rc = vs_ckpt_open(db_path, &f);
    if (rc == VS_OK && step == VS_LATEST)
        rc = vs_ckpt_latest(f, &step);
    if (rc != VS_OK)
        rc = lib_fail(rc);
    if (rc == VS_OK)
        rc = ckpt_read_all(f, step, &infos, &n, &names, &t);
    if (rc == VS_OK) {
        rc = vs_tf_write_checkpoint(prefix, names,
                                    (const vs_tensor *const *)t, n);
        if (rc != VS_OK)
            rc = lib_fail(rc);
    }
    if (rc == VS_OK && n_out != NULL)
        *n_out = n;
    free_tensors(t, n);
    free(names);
    vs_tensor_info_free(infos, n);
    vs_ckpt_close(f);
    return rc;
}
