/* varstore: vs_rename_prefix: renames tensor keys under a scope prefix
 * in one transaction. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* ---- rename ------------------------------------------------------------ */

typedef struct {
    int64_t id, step;
    char *name; /* final name */
    int renamed;
} ren_row;

static int cmp_ren(const void *a, const void *b)
{
    const ren_row *x = a, *y = b;
    if (x->step != y->step)
        return x->step < y->step ? -1 : 1;
    return strcmp(x->name, y->name);
}

int vs_rename_prefix(const char *path, const char *old_prefix,
                     const char *new_prefix, int64_t step)
{
    if (old_prefix == NULL || *old_prefix == '\0' || new_prefix == NULL)
        return vs__fail(VS_EINVAL,
                        "old_prefix must be non-empty and new_prefix non-NULL");
    if (step < 0 && step != VS_ALL_STEPS)
        return vs__fail(VS_EINVAL, "invalid checkpoint step %lld",
                        (long long)step);
    size_t olen = strlen(old_prefix);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    ren_row *rows = NULL;
    size_t n = 0, cap = 0, n_ren = 0;
    int rc = vs__store_open(path, VS_OPEN_WRITE, 0, &db);
    if (rc != VS_OK)
        return rc;
    rc = vs__store_begin_write(db, path, VS_BUSY_DEFAULT_MS);
    if (rc != VS_OK) {
        vs__store_close(db);
        return rc;
    }
    if (step != VS_ALL_STEPS) {
        int64_t s;
        rc = vs__store_resolve_step(db, path, step, &s);
        if (rc != VS_OK)
            goto out;
    }
    rc = vs__store_prepare(db,
                           step == VS_ALL_STEPS
                               ? "SELECT id, step, name FROM tensors"
                               : "SELECT id, step, name FROM tensors WHERE "
                                 "step=?1",
                           &st, path);
    if (rc != VS_OK)
        goto out;
    if (step != VS_ALL_STEPS) {
        int b = sqlite3_bind_int64(st, 1, step);
        if (b != SQLITE_OK) {
            rc = vs__store_bindfail(st, b, "cannot read checkpoint file",
                                    path);
            goto out;
        }
    }
    int s;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        ren_row *p = vs__grow(rows, n, &cap, sizeof *p, 64);
        if (p == NULL) {
            rc = VS_ENOMEM;
            goto out;
        }
        rows = p;
        ren_row *r = &rows[n];
        r->id = sqlite3_column_int64(st, 0);
        r->step = sqlite3_column_int64(st, 1);
        const char *name = (const char *)sqlite3_column_text(st, 2);
        if (name == NULL)
            name = "";
        r->renamed = strncmp(name, old_prefix, olen) == 0;
        r->name = r->renamed ? vs__asprintf("%s%s", new_prefix, name + olen)
                             : vs__strdup(name);
        if (r->name == NULL) {
            rc = vs__fail(VS_ENOMEM, "out of memory");
            goto out;
        }
        if (r->renamed && (*r->name == '\0' || strlen(r->name) > VS_NAME_MAX)) {
            rc = vs__fail(VS_EINVAL, "renaming %s gives an invalid key", name);
            vs__free(r->name);
            goto out;
        }
        n_ren += (size_t)r->renamed;
        n++;
    }
    if (s != SQLITE_DONE) {
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;
    if (n_ren == 0) {
        rc = vs__fail(VS_ENOTFOUND, "no tensor key starts with %s",
                      old_prefix);
        goto out;
    }
    qsort(rows, n, sizeof *rows, cmp_ren);
    for (size_t i = 0; i + 1 < n; i++) {
        if (rows[i].step == rows[i + 1].step &&
            strcmp(rows[i].name, rows[i + 1].name) == 0) {
            rc = vs__fail(VS_EEXIST,
                          "renaming would give two tensors named %s at step "
                          "%lld",
                          rows[i].name, (long long)rows[i].step);
            goto out;
        }
    }
    /* Two passes so no intermediate state breaks UNIQUE(step, name). */
    rc = vs__store_prepare(db, "UPDATE tensors SET name=?1 WHERE id=?2", &st,
                           path);
    for (int pass = 0; rc == VS_OK && pass < 2; pass++) {
        for (size_t i = 0; i < n; i++) {
            if (!rows[i].renamed)
                continue;
            char tmp[40];
            snprintf(tmp, sizeof tmp, "\x01vs-rename-%lld",
                     (long long)rows[i].id);
            sqlite3_reset(st);
            int b = sqlite3_bind_text(st, 1, pass == 0 ? tmp : rows[i].name,
                                      -1, SQLITE_TRANSIENT);
            if (b == SQLITE_OK)
                b = sqlite3_bind_int64(st, 2, rows[i].id);
            if (b != SQLITE_OK) {
                rc = vs__store_bindfail(st, b, "cannot update checkpoint file",
                                        path);
                break;
            }
            s = sqlite3_step(st);
            if (s != SQLITE_DONE) {
                rc = vs__store_sqlfail(db, s, "cannot update checkpoint file",
                                       path);
                break;
            }
        }
    }
out:
    sqlite3_finalize(st);
    for (size_t i = 0; i < n; i++)
        vs__free(rows[i].name);
    vs__free(rows);
    return vs__store_commit_close(db, path, rc);
}

