/* varstore tools: TensorFlow checkpoint import, export and listing for the
 * CLI (see tf_cli.h). */
#include <stdlib.h>

#include "tf_cli.h"
#include "vst.h"

/* The tensors moved by an import or an export: infos[i].name names t[i]. */
typedef struct {
    vs_tensor_info *infos;
    const char **names;
    vs_tensor **t;
    size_t n;
} tensor_set;

/* A library failure, its message moved to the tools' channel. */
static int lib_fail(int rc)
{
    return vst_fail(rc, "%s", vs_errmsg());
}

/* Allocates names and t for the n listed tensors; names[i] borrowed. */
static int set_alloc(tensor_set *s)
{
    s->names = calloc(s->n + 1, sizeof *s->names);
    s->t = calloc(s->n + 1, sizeof *s->t);
    if (s->names == NULL || s->t == NULL)
        return vst_fail(VS_ENOMEM, "out of memory");
    for (size_t i = 0; i < s->n; i++)
        s->names[i] = s->infos[i].name;
    return VS_OK;
}

/* Frees the set; on success reports its size through n_out. */
static int set_done(tensor_set *s, int rc, size_t *n_out)
{
    if (rc == VS_OK && n_out != NULL)
        *n_out = s->n;
    for (size_t i = 0; s->t != NULL && i < s->n; i++)
        vs_tensor_free(s->t[i]);
    free(s->t);
    free(s->names);
    vs_tensor_info_free(s->infos, s->n);
    return rc;
}

int vst_tf_list(const char *tf_path, vs_tensor_info **out, size_t *n)
{
    int rc;
    if (tf_path == NULL || out == NULL || n == NULL)
        return vst_fail(VS_EINVAL, "vst_tf_list: NULL argument");
    rc = vs_tf_list_variables(tf_path, out, n);
    return rc == VS_OK ? VS_OK : lib_fail(rc);
}

int vst_tf_import(const char *tf_path, const char *db_path, int64_t step,
                  const vs_save_opts *opts, size_t *n_out)
{
    tensor_set s = {0};
    int rc;
    if (tf_path == NULL || db_path == NULL)
        return vst_fail(VS_EINVAL, "vst_tf_import: NULL path");
    /* One vs_tf_load_variable per tensor: each re-reads the (small) index;
     * the tools see only the public API. */
    rc = vst_tf_list(tf_path, &s.infos, &s.n);
    if (rc == VS_OK)
        rc = set_alloc(&s);
    for (size_t i = 0; rc == VS_OK && i < s.n; i++) {
        rc = vs_tf_load_variable(tf_path, s.names[i], &s.t[i]);
        if (rc != VS_OK)
            rc = lib_fail(rc);
    }
    if (rc == VS_OK) {
        rc = vs_save_tensors(db_path, step, s.names,
                             (const vs_tensor *const *)s.t, s.n, opts);
        if (rc != VS_OK)
            rc = lib_fail(rc);
    }
    return set_done(&s, rc, n_out);
}

int vst_tf_export(const char *db_path, int64_t step, const char *prefix,
                  size_t *n_out)
{
    vs_ckpt *f = NULL;
    tensor_set s = {0};
    int rc;
    if (db_path == NULL || prefix == NULL)
        return vst_fail(VS_EINVAL, "vst_tf_export: NULL path");
    rc = vs_ckpt_open(db_path, &f);
    if (rc == VS_OK && step == VS_LATEST)
        rc = vs_ckpt_latest(f, &step);
    if (rc == VS_OK)
        rc = vs_ckpt_list_variables(f, step, &s.infos, &s.n);
    if (rc != VS_OK)
        rc = lib_fail(rc);
    if (rc == VS_OK)
        rc = set_alloc(&s);
    if (rc == VS_OK) {
        rc = vs_ckpt_load_many(f, step, s.names, s.n, s.t);
        if (rc == VS_OK)
            rc = vs_tf_write_checkpoint(prefix, s.names,
                                        (const vs_tensor *const *)s.t, s.n);
        if (rc != VS_OK)
            rc = lib_fail(rc);
    }
    vs_ckpt_close(f);
    return set_done(&s, rc, n_out);
}
