#define _POSIX_C_SOURCE 200809L /* gmtime_r */
/* varstore: TensorFlow checkpoints read where a varstore file is read
 * (vs_latest_checkpoint, vs_list_checkpoints, vs_list_variables,
 * vs_load_variable, vs_restore, vs_init_from_checkpoint). A TF checkpoint
 * holds one step: the number TF's Saver puts at the end of its prefix
 * ("model.ckpt-1000"), or 0 for a prefix without one; VS_LATEST names it
 * too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store_int.h"
#include "tf_bundle.h"

int64_t vs__tf_step(const vs__tf_bundle *b)
{
    const char *p = vs__tf_prefix(b);
    const char *dash = strrchr(p, '-');
    if (dash == NULL || dash[1] == '\0' || strchr(dash, '/') != NULL)
        return 0;
    int64_t s = 0;
    for (const char *c = dash + 1; *c != '\0'; c++) {
        if (*c < '0' || *c > '9' || s > (INT64_MAX - 9) / 10)
            return 0;
        s = s * 10 + (*c - '0');
    }
    return s;
}

int vs__tf_open_step(const char *path, int64_t step, vs__tf_bundle **out)
{
    int rc = vs__tf_open(path, out);
    if (rc != VS_OK || step == VS_LATEST || step == vs__tf_step(*out))
        return rc;
    rc = vs__fail(VS_ENOTFOUND,
                  "TensorFlow checkpoint %s has no step %lld (it holds step "
                  "%lld only)",
                  vs__tf_prefix(*out), (long long)step,
                  (long long)vs__tf_step(*out));
    vs__tf_close(*out);
    *out = NULL;
    return rc;
}

int vs__tf_latest(const char *path, int64_t *step)
{
    vs__tf_bundle *b = NULL;
    int rc = vs__tf_open(path, &b);
    if (rc == VS_OK)
        *step = vs__tf_step(b);
    vs__tf_close(b);
    return rc;
}

int vs__tf_list_variables(const char *path, int64_t step,
                          vs_tensor_info **out, size_t *n)
{
    vs__tf_bundle *b = NULL;
    int rc = vs__tf_open_step(path, step, &b);
    if (rc == VS_OK)
        rc = vs__tf_list(b, out, n);
    vs__tf_close(b);
    return rc;
}

int vs__tf_load_variable(const char *path, int64_t step, const char *name,
                         vs_tensor **out)
{
    vs__tf_bundle *b = NULL;
    int rc = vs__tf_open_step(path, step, &b);
    if (rc == VS_OK)
        rc = vs__tf_load(b, name, out);
    vs__tf_close(b);
    return rc;
}

/* a + b (both >= 0), held at INT64_MAX: an index may declare tensors
 * whose sizes add up beyond it (nothing is read to list them). */
static int64_t add_held(int64_t a, int64_t b)
{
    return b > INT64_MAX - a ? INT64_MAX : a + b;
}

/* The one checkpoint of a TF checkpoint, as vs_list_checkpoints lists it:
 * created at the index file's modification time. */
int vs__tf_list_checkpoints(const char *path, vs_ckpt_info **out, size_t *n)
{
    vs__tf_bundle *b = NULL;
    vs_tensor_info *infos = NULL;
    size_t nt = 0;
    int rc = vs__tf_open(path, &b);
    if (rc == VS_OK)
        rc = vs__tf_list(b, &infos, &nt);
    vs_ckpt_info *ck = NULL;
    if (rc == VS_OK && (ck = vs__calloc(1, sizeof *ck)) == NULL)
        rc = vs__fail(VS_ENOMEM, "out of memory");
    if (rc == VS_OK) {
        ck->step = vs__tf_step(b);
        ck->n_tensors = (int64_t)nt;
        for (size_t i = 0; i < nt; i++) {
            ck->raw_bytes = add_held(ck->raw_bytes, infos[i].raw_bytes);
            ck->stored_bytes =
                add_held(ck->stored_bytes, infos[i].stored_bytes);
        }
        char index[4200];
        struct stat st;
        struct tm tm;
        snprintf(index, sizeof index, "%s.index", vs__tf_prefix(b));
        if (stat(index, &st) == 0 && gmtime_r(&st.st_mtime, &tm) != NULL)
            strftime(ck->created_at, sizeof ck->created_at,
                     "%Y-%m-%dT%H:%M:%SZ", &tm);
        *out = ck;
        *n = 1;
    }
    vs_tensor_info_free(infos, nt);
    vs__tf_close(b);
    return rc;
}
