/* varstore: TF Saver's retention, run after a save's commit: beyond
 * max_to_keep, a checkpoint at least N hours after the last one kept for
 * good is kept for good (keep = 1), the others deleted, oldest first. */
#include <math.h>
#include <string.h>

#include "save_int.h"

static int read_meta_num(sqlite3 *db, const char *path, const char *key,
                         double *v, int *found)
{
    sqlite3_stmt *st;
    int rc = vs__store_prepare(db, "SELECT value FROM meta WHERE key=?1", &st,
                               path);
    if (rc != VS_OK)
        return rc;
    *found = 0;
    int b = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (b != SQLITE_OK) {
        rc = vs__store_bindfail(st, b, "cannot read checkpoint file", path);
        sqlite3_finalize(st);
        return rc;
    }
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL) {
        *v = sqlite3_column_double(st, 0);
        *found = 1;
    } else if (s != SQLITE_ROW && s != SQLITE_DONE) {
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
    }
    sqlite3_finalize(st);
    return rc;
}

static int write_meta_num(sqlite3 *db, const char *path, const char *key,
                          double v)
{
    sqlite3_stmt *st;
    int rc = vs__store_prepare(
        db, "INSERT OR REPLACE INTO meta(key, value) VALUES (?1, ?2)", &st,
        path);
    if (rc != VS_OK)
        return rc;
    int b = sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = v == floor(v) && fabs(v) < 9e15
                ? sqlite3_bind_int64(st, 2, (int64_t)v)
                : sqlite3_bind_double(st, 2, v);
    return vs__store_step_done(db, st, b, path);
}

/* The checkpoints not kept for good, oldest save first. */
typedef struct {
    int64_t *steps;
    double *times;
    size_t n, cap;
} candidates;

static void candidates_free(candidates *c)
{
    vs__free(c->steps);
    vs__free(c->times);
}

static int candidates_push(candidates *c, int64_t step, double t)
{
    if (c->n == c->cap) {
        size_t nc = c->cap;
        int64_t *ns = vs__grow(c->steps, c->n, &nc, sizeof *ns, 16);
        if (ns == NULL)
            return VS_ENOMEM;
        c->steps = ns;
        double *nt = vs__realloc_n(c->times, nc, sizeof *nt);
        if (nt == NULL)
            return vs__fail(VS_ENOMEM, "out of memory");
        c->times = nt;
        c->cap = nc;
    }
    c->steps[c->n] = step;
    c->times[c->n] = t;
    c->n++;
    return VS_OK;
}

static int load_candidates(sqlite3 *db, const char *path, candidates *c)
{
    sqlite3_stmt *st;
    int rc = vs__store_prepare(db,
                               "SELECT step, created_unix FROM checkpoints "
                               "WHERE keep=0 ORDER BY created_unix, step",
                               &st, path);
    if (rc != VS_OK)
        return rc;
    int s;
    while (rc == VS_OK && (s = sqlite3_step(st)) == SQLITE_ROW)
        rc = candidates_push(c, sqlite3_column_int64(st, 0),
                             sqlite3_column_double(st, 1));
    if (rc == VS_OK && s != SQLITE_DONE)
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
    sqlite3_finalize(st);
    return rc;
}

/* When the next checkpoint kept for good is due: meta 'next_keep_time',
 * else N hours after the file's first checkpoint. */
static int next_keep_time(sqlite3 *db, const char *path, double hours,
                          double first, double *next)
{
    int found = 0;
    int rc = read_meta_num(db, path, "next_keep_time", next, &found);
    if (rc != VS_OK || found)
        return rc;
    sqlite3_stmt *q;
    rc = vs__store_prepare(db, "SELECT min(created_unix) FROM checkpoints",
                           &q, path);
    if (rc != VS_OK)
        return rc;
    int s = sqlite3_step(q);
    if (s != SQLITE_ROW)
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
    else if (sqlite3_column_type(q, 0) != SQLITE_NULL)
        first = sqlite3_column_double(q, 0);
    sqlite3_finalize(q);
    *next = first + hours * 3600.0;
    return rc;
}

static int keep_for_good(sqlite3 *db, const char *path, int64_t step)
{
    sqlite3_stmt *u;
    int rc = vs__store_prepare(db,
                               "UPDATE checkpoints SET keep=1 WHERE step=?1",
                               &u, path);
    if (rc != VS_OK)
        return rc;
    return vs__store_step_done(db, u, sqlite3_bind_int64(u, 1, step), path);
}

/* Keeps or deletes every candidate beyond the newest max_to_keep. */
static int thin_out(sqlite3 *db, const char *path, const candidates *c,
                    int max_to_keep, double hours)
{
    double next_keep = 0;
    int rc = VS_OK;
    if (hours > 0)
        rc = next_keep_time(db, path, hours, c->times[0], &next_keep);
    for (size_t i = 0; rc == VS_OK && i + (size_t)max_to_keep < c->n; i++) {
        if (hours > 0 && c->times[i] >= next_keep) {
            rc = keep_for_good(db, path, c->steps[i]);
            next_keep += hours * 3600.0;
        } else {
            rc = vs__store_delete_step_rows(db, path, c->steps[i]);
        }
    }
    if (rc == VS_OK && hours > 0)
        rc = write_meta_num(db, path, "next_keep_time", next_keep);
    if (rc == VS_OK)
        rc = vs__store_free_orphans(db, path, NULL);
    return rc;
}

/* Runs in its own transaction. */
static int apply_retention(sqlite3 *db, const char *path, int max_to_keep,
                           double hours, int busy_ms)
{
    if (max_to_keep <= 0)
        return VS_OK;
    int rc = vs__store_begin_write(db, path, busy_ms);
    if (rc != VS_OK)
        return rc;
    candidates c = {0};
    rc = load_candidates(db, path, &c);
    int changes = rc == VS_OK && c.n > (size_t)max_to_keep;
    if (changes)
        rc = thin_out(db, path, &c, max_to_keep, hours);
    candidates_free(&c);
    /* Nothing to thin out: no commit (and no sync) for the transaction. */
    if (rc == VS_OK)
        return vs__store_exec(db, changes ? "COMMIT" : "ROLLBACK", path);
    /* Already failing: the rollback's result cannot change the error (and
     * closing the connection rolls back in any case). */
    (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

/* The options' setting where given (VS_KEEP_ALL, VS_KEEP_HOURS_OFF turn
 * it off), else the file's meta row. */
static int retention_settings(sqlite3 *db, const char *path,
                              const vs_save_opts *o, int *keep, double *hours)
{
    double v = 0;
    int found = 0, rc = VS_OK;
    if (o != NULL && o->max_to_keep != 0) {
        *keep = o->max_to_keep > 0 ? o->max_to_keep : 0;
    } else {
        rc = read_meta_num(db, path, "max_to_keep", &v, &found);
        *keep = found && v > 0 && v < 2147483647.0 ? (int)v : 0;
    }
    if (rc != VS_OK)
        return rc;
    if (o != NULL && o->keep_checkpoint_every_n_hours != 0) {
        *hours = o->keep_checkpoint_every_n_hours > 0
                     ? o->keep_checkpoint_every_n_hours
                     : 0;
        return VS_OK;
    }
    rc = read_meta_num(db, path, "keep_checkpoint_every_n_hours", &v, &found);
    *hours = found && v > 0 ? v : 0;
    return rc;
}

int vs__save_retention(sqlite3 *db, const char *path, const vs_save_opts *o,
                       int busy_ms)
{
    int keep = 0;
    double hours = 0;
    int rc = retention_settings(db, path, o, &keep, &hours);
    if (rc != VS_OK)
        return rc;
    return apply_retention(db, path, keep, hours, busy_ms);
}
