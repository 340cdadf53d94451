/* varstore: vs_rename_prefix: renames the tensor keys under a scope prefix
 * in one transaction. A prefix matches whole scope components: "layer1"
 * renames "layer1" and "layer1/..." but not "layer10/w"; a prefix ending
 * in '/' renames every key that starts with it. */
#include <stdlib.h>
#include <string.h>

#include "file/schema.h"
#include "store_int.h"
#include "utf8.h"

typedef struct {
    int64_t id, step;
    char *name; /* final name */
    uint32_t meta_crc; /* for the final name (renamed rows) */
    int renamed;
} ren_row;

typedef struct {
    sqlite3 *db;
    const char *path, *old_prefix, *new_prefix;
    size_t olen;
    ren_row *rows;
    size_t n, cap, n_ren;
} rename_run;

static int cmp_ren(const void *a, const void *b)
{
    const ren_row *x = a, *y = b;
    if (x->step != y->step)
        return x->step < y->step ? -1 : 1;
    return strcmp(x->name, y->name);
}

/* Whether name lies under the prefix (whole components). */
static int under_prefix(const rename_run *r, const char *name)
{
    if (strncmp(name, r->old_prefix, r->olen) != 0)
        return 0;
    if (r->old_prefix[r->olen - 1] == '/')
        return 1;
    return name[r->olen] == '\0' || name[r->olen] == '/';
}

/* One tensors row: its final name. */
static int add_row(rename_run *r, sqlite3_stmt *st)
{
    ren_row *p = vs__grow(r->rows, r->n, &r->cap, sizeof *p, 64);
    if (p == NULL)
        return VS_ENOMEM;
    r->rows = p;
    ren_row *row = &r->rows[r->n];
    row->id = sqlite3_column_int64(st, 0);
    row->step = sqlite3_column_int64(st, 1);
    const char *name = (const char *)sqlite3_column_text(st, 2);
    if (name == NULL)
        name = "";
    row->renamed = under_prefix(r, name);
    row->name = row->renamed
                    ? vs__asprintf("%s%s", r->new_prefix, name + r->olen)
                    : vs__strdup(name);
    if (row->name == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    r->n++;
    if (row->renamed &&
        (*row->name == '\0' || strlen(row->name) > VS_NAME_MAX))
        return vs__fail(VS_EINVAL, "renaming %s gives an invalid key", name);
    const char *dts = (const char *)sqlite3_column_text(st, 3);
    const char *shs = (const char *)sqlite3_column_text(st, 4);
    row->meta_crc = vs__store_meta_crc(row->name, dts != NULL ? dts : "",
                                       shs != NULL ? shs : "");
    r->n_ren += (size_t)row->renamed;
    return VS_OK;
}

static int load_rows(rename_run *r, int64_t step)
{
    sqlite3_stmt *st = NULL;
    int all = step == VS_ALL_STEPS;
    int rc = vs__store_prepare(r->db,
                               all ? "SELECT id, step, name, dtype, shape "
                                     "FROM tensors"
                                   : "SELECT id, step, name, dtype, shape "
                                     "FROM tensors WHERE step=?1",
                               &st, r->path);
    if (rc != VS_OK)
        return rc;
    int b = all ? SQLITE_OK : sqlite3_bind_int64(st, 1, step);
    if (b != SQLITE_OK)
        rc = vs__store_bindfail(st, b, "cannot read checkpoint file",
                                r->path);
    int s = SQLITE_DONE;
    while (rc == VS_OK && (s = sqlite3_step(st)) == SQLITE_ROW)
        rc = add_row(r, st);
    if (rc == VS_OK && s != SQLITE_DONE)
        rc = vs__store_sqlfail(r->db, s, "cannot read checkpoint file",
                               r->path);
    sqlite3_finalize(st);
    return rc;
}

/* No two tensors of a step may end up with one name. */
static int check_collisions(rename_run *r)
{
    if (r->n_ren == 0)
        return vs__fail(VS_ENOTFOUND, "no tensor key starts with %s",
                        r->old_prefix);
    qsort(r->rows, r->n, sizeof *r->rows, cmp_ren);
    for (size_t i = 0; i + 1 < r->n; i++)
        if (r->rows[i].step == r->rows[i + 1].step &&
            strcmp(r->rows[i].name, r->rows[i + 1].name) == 0)
            return vs__fail(VS_EEXIST,
                            "renaming would give two tensors named %s at "
                            "step %lld",
                            r->rows[i].name, (long long)r->rows[i].step);
    return VS_OK;
}

/* Steps st with the row's id (?2) and, when name is not NULL, its final
 * name (?1, added to names first with put) and meta_crc (?3). */
static int set_name(rename_run *r, sqlite3_stmt *put, sqlite3_stmt *st,
                    const char *name, const ren_row *row)
{
    const char *what = "cannot update checkpoint file";
    int rc = name != NULL ? vs__store_put_name(r->db, put, name, what, r->path)
                          : VS_OK;
    if (rc != VS_OK)
        return rc;
    sqlite3_reset(st);
    int b = sqlite3_bind_int64(st, 2, row->id);
    if (b == SQLITE_OK && name != NULL)
        b = sqlite3_bind_text(st, 1, name, -1, SQLITE_TRANSIENT);
    if (b == SQLITE_OK && name != NULL)
        b = sqlite3_bind_int64(st, 3, (int64_t)row->meta_crc);
    if (b != SQLITE_OK)
        return vs__store_bindfail(st, b, what, r->path);
    int s = sqlite3_step(st);
    if (s != SQLITE_DONE)
        return vs__store_sqlfail(r->db, s, what, r->path);
    return VS_OK;
}

/* Two passes (first to a name id no name has: minus the row's id) so that
 * no intermediate state breaks UNIQUE(step, name_id); then the names no
 * row uses any more go. */
static int apply_names(rename_run *r)
{
    sqlite3_stmt *put = NULL, *st[2] = {NULL, NULL};
    int rc = vs__store_prepare(r->db, VS_SQL_PUT_NAME, &put, r->path);
    if (rc == VS_OK)
        rc = vs__store_prepare(r->db,
                               "UPDATE tensor_rows SET name_id=-id WHERE "
                               "id=?2",
                               &st[0], r->path);
    if (rc == VS_OK)
        rc = vs__store_prepare(r->db,
                               "UPDATE tensor_rows SET name_id=(SELECT id "
                               "FROM names WHERE name=?1), meta_crc=?3 WHERE "
                               "id=?2",
                               &st[1], r->path);
    for (int pass = 0; rc == VS_OK && pass < 2; pass++)
        for (size_t i = 0; i < r->n && rc == VS_OK; i++)
            if (r->rows[i].renamed)
                rc = set_name(r, put, st[pass],
                              pass == 0 ? NULL : r->rows[i].name,
                              &r->rows[i]);
    sqlite3_finalize(put);
    sqlite3_finalize(st[0]);
    sqlite3_finalize(st[1]);
    return rc == VS_OK ? vs__store_drop_unused_names(r->db, r->path) : rc;
}

/* The checkpoint rows of the steps that had a tensor renamed get their
 * names' checksum again (rows are sorted by step). */
static int seal_steps(rename_run *r)
{
    int rc = VS_OK;
    size_t i = 0;
    while (i < r->n && rc == VS_OK) {
        size_t k = i;
        int any = 0;
        for (; k < r->n && r->rows[k].step == r->rows[i].step; k++)
            any |= r->rows[k].renamed;
        if (any)
            rc = vs__store_seal_step(r->db, r->path, r->rows[i].step);
        i = k;
    }
    return rc;
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
    if (!vs__utf8_valid(old_prefix, strlen(old_prefix)) ||
        !vs__utf8_valid(new_prefix, strlen(new_prefix)))
        return vs__fail(VS_EINVAL, "prefixes must be valid UTF-8");
    rename_run r;
    memset(&r, 0, sizeof r);
    r.path = path;
    r.old_prefix = old_prefix;
    r.new_prefix = new_prefix;
    r.olen = strlen(old_prefix);
    int rc = vs__store_open_write(path, VS_OPEN_WRITE, &r.db);
    if (rc != VS_OK)
        return rc;
    int64_t s;
    if (step != VS_ALL_STEPS)
        rc = vs__store_resolve_step(r.db, path, step, &s);
    if (rc == VS_OK)
        rc = load_rows(&r, step);
    if (rc == VS_OK)
        rc = check_collisions(&r);
    if (rc == VS_OK)
        rc = apply_names(&r);
    if (rc == VS_OK)
        rc = seal_steps(&r);
    for (size_t i = 0; i < r.n; i++)
        vs__free(r.rows[i].name);
    vs__free(r.rows);
    return vs__store_commit_close(r.db, path, rc);
}
