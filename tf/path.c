/* varstore tf/: which checkpoint a path names. Accepted, in this order:
 *   "<p>.index" (the index file itself)       -> prefix <p>
 *   "<p>" with "<p>.index" beside it          -> prefix <p>
 *   a directory holding variables/variables.index (a SavedModel)
 *                                             -> <dir>/variables/variables
 *   a directory holding variables.index       -> <dir>/variables
 *   a directory holding a `checkpoint` state file, or that file itself
 *                                             -> its model_checkpoint_path,
 *                                                relative to its folder
 * A varstore (SQLite) file at path is never taken for a checkpoint. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "tf_int.h"

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int has_index(const char *prefix)
{
    char *p = vs__asprintf("%s.index", prefix);
    int yes = p != NULL && is_file(p);
    vs__free(p);
    return yes;
}

/* A regular file starting as an SQLite database does: a varstore file. */
static int is_sqlite(const char *path)
{
    char head[16] = {0};
    FILE *f;
    if (!is_file(path) || (f = fopen(path, "rb")) == NULL)
        return 0;
    if (fread(head, 1, sizeof head - 1, f) == 0)
        head[0] = '\0';
    fclose(f);
    return strncmp(head, "SQLite format 3", 15) == 0;
}

static int is_state_file(const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    return strcmp(base, "checkpoint") == 0 && is_file(path) &&
           !is_sqlite(path);
}

/* Directory forms: the prefix, or NULL (no error set) when none fits. */
static char *dir_prefix(const char *dir, char **state_out)
{
    char *p = vs__asprintf("%s/variables/variables", dir);
    if (p != NULL && has_index(p))
        return p;
    vs__free(p);
    p = vs__asprintf("%s/variables", dir);
    if (p != NULL && has_index(p))
        return p;
    vs__free(p);
    p = vs__asprintf("%s/checkpoint", dir);
    if (p != NULL && is_state_file(p))
        *state_out = p;
    else
        vs__free(p);
    return NULL;
}

int vs__tf_is_checkpoint(const char *path)
{
    char *state = NULL, *p;
    int yes;
    /* a varstore file is never a TF checkpoint, whatever its name
     * ("model.index") or the files beside it ("<path>.index") */
    if (path == NULL || *path == '\0' || is_sqlite(path))
        return 0;
    if ((ends_with(path, ".index") && is_file(path)) || has_index(path) ||
        is_state_file(path))
        return 1;
    if (!is_dir(path))
        return 0;
    p = dir_prefix(path, &state);
    yes = p != NULL || state != NULL;
    vs__free(p);
    vs__free(state);
    return yes;
}

static int not_found(const char *path)
{
    return vs__fail(VS_ENOTFOUND,
                    "Unsuccessful TensorSliceReader constructor: Failed to "
                    "find any matching files for %s",
                    path);
}

/* The prefix named by the state file at `state`. */
static int from_state(const char *state, char **prefix_out)
{
    char *model = NULL, *prefix;
    const char *slash = strrchr(state, '/');
    int rc = vs__tf_state_read(state, &model);
    if (rc != VS_OK)
        return rc;
    if (model[0] == '/' || slash == NULL)
        prefix = vs__strdup(model);
    else
        prefix = vs__asprintf("%.*s/%s", (int)(slash - state), state, model);
    vs__free(model);
    if (prefix == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    if (!has_index(prefix)) {
        rc = not_found(prefix);
        vs__free(prefix);
        return rc;
    }
    *prefix_out = prefix;
    return VS_OK;
}

int vs__tf_resolve(const char *path, char **prefix_out)
{
    char *state = NULL, *p;
    int rc;
    *prefix_out = NULL;
    if (ends_with(path, ".index") && is_file(path)) {
        p = vs__strndup(path, strlen(path) - 6);
    } else if (has_index(path)) {
        p = vs__strdup(path);
    } else if (is_state_file(path)) {
        return from_state(path, prefix_out);
    } else if (is_dir(path)) {
        p = dir_prefix(path, &state);
        if (p == NULL && state != NULL) {
            rc = from_state(state, prefix_out);
            vs__free(state);
            return rc;
        }
        if (p == NULL)
            return not_found(path);
    } else {
        return not_found(path);
    }
    if (p == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    *prefix_out = p;
    return VS_OK;
}

char *vs__tf_data_name(const char *prefix, int64_t shard, int64_t n)
{
    return vs__asprintf("%s.data-%05lld-of-%05lld", prefix, (long long)shard,
                        (long long)n);
}
