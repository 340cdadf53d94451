/* varstore: file-level checkpoint calls: latest, list, delete, prune,
 * verify, rename, retention settings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* Ends the read transaction and closes db; returns rc, or the failure
 * to end the transaction when rc was VS_OK (after an error, that failure
 * cannot change what the caller reports, so it is deliberately ignored). */
static int close_read_tx(sqlite3 *db, const char *path, int rc)
{
    int e = vs__store_end_read(db, path);
    vs__store_close(db);
    return rc != VS_OK ? rc : e;
}

static int commit_close(sqlite3 *db, const char *path, int rc)
{
    if (rc == VS_OK) {
        int s = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        if (s != SQLITE_OK)
            rc = vs__store_sqlfail(db, s, "cannot commit to checkpoint file",
                                   path);
    }
    /* Already failing: the rollback's result cannot change the error (and
     * closing the connection rolls back in any case). */
    if (rc != VS_OK && db != NULL && !sqlite3_get_autocommit(db))
        (void)sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    vs__store_close(db);
    return rc;
}

int vs_latest_checkpoint(const char *path, int64_t *step)
{
    if (step == NULL)
        return vs__fail(VS_EINVAL, "step is NULL");
    sqlite3 *db = NULL;
    int rc = vs__store_open_read(path, &db);
    if (rc != VS_OK)
        return rc;
    int64_t s = 0;
    rc = vs__store_resolve_step(db, path, VS_LATEST, &s);
    rc = close_read_tx(db, path, rc);
    if (rc == VS_OK)
        *step = s;
    return rc;
}

int vs_list_checkpoints(const char *path, vs_ckpt_info **out, size_t *n)
{
    if (out == NULL || n == NULL)
        return vs__fail(VS_EINVAL, "out and n must not be NULL");
    *out = NULL;
    *n = 0;
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    vs_ckpt_info *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = vs__store_open_read(path, &db);
    if (rc != VS_OK)
        return rc;
    rc = vs__store_prepare(db,
                           "SELECT step, created_at, n_tensors, raw_bytes, "
                           "stored_bytes FROM checkpoints ORDER BY step",
                           &st, path);
    int s = SQLITE_DONE;
    while (rc == VS_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        vs_ckpt_info *p = vs__grow(v, cnt, &cap, sizeof *p, 16);
        if (p == NULL) {
            rc = VS_ENOMEM;
            break;
        }
        v = p;
        vs_ckpt_info *e = &v[cnt++];
        memset(e, 0, sizeof *e);
        e->step = sqlite3_column_int64(st, 0);
        const char *c = (const char *)sqlite3_column_text(st, 1);
        snprintf(e->created_at, sizeof e->created_at, "%s",
                 c != NULL ? c : "");
        e->n_tensors = sqlite3_column_int64(st, 2);
        e->raw_bytes = sqlite3_column_int64(st, 3);
        e->stored_bytes = sqlite3_column_int64(st, 4);
    }
    if (rc == VS_OK && s != SQLITE_DONE)
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
    sqlite3_finalize(st);
    rc = close_read_tx(db, path, rc);
    if (rc != VS_OK) {
        vs__free(v);
        return rc;
    }
    *out = cnt ? v : NULL;
    if (cnt == 0)
        vs__free(v);
    *n = cnt;
    return VS_OK;
}

int vs_delete_checkpoint(const char *path, int64_t step)
{
    if (step < 0)
        return vs__fail(VS_EINVAL, "invalid checkpoint step %lld",
                        (long long)step);
    sqlite3 *db = NULL;
    int rc = vs__store_open(path, VS_OPEN_WRITE, 0, &db);
    if (rc != VS_OK)
        return rc;
    rc = vs__store_begin_write(db, path, VS_BUSY_DEFAULT_MS);
    if (rc != VS_OK) {
        vs__store_close(db);
        return rc;
    }
    int64_t s;
    rc = vs__store_resolve_step(db, path, step, &s);
    if (rc == VS_OK)
        rc = vs__store_delete_step_rows(db, path, step);
    if (rc == VS_OK)
        rc = vs__store_free_orphans(db, path, NULL);
    return commit_close(db, path, rc);
}

int vs_prune(const char *path, int keep)
{
    if (keep < 1)
        return vs__fail(VS_EINVAL, "keep must be >= 1, got %d", keep);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = vs__store_open(path, VS_OPEN_WRITE, 0, &db);
    if (rc != VS_OK)
        return rc;
    rc = vs__store_begin_write(db, path, VS_BUSY_DEFAULT_MS);
    if (rc != VS_OK) {
        vs__store_close(db);
        return rc;
    }
    int64_t *steps = NULL;
    size_t n = 0, cap = 0;
    rc = vs__store_prepare(db,
                           "SELECT step FROM checkpoints ORDER BY step DESC "
                           "LIMIT -1 OFFSET ?1",
                           &st, path);
    int s = SQLITE_DONE;
    if (rc == VS_OK) {
        int b = sqlite3_bind_int(st, 1, keep);
        if (b != SQLITE_OK)
            rc = vs__store_bindfail(st, b, "cannot read checkpoint file",
                                    path);
    }
    while (rc == VS_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t *p = vs__grow(steps, n, &cap, sizeof *p, 16);
        if (p == NULL) {
            rc = VS_ENOMEM;
            break;
        }
        steps = p;
        steps[n++] = sqlite3_column_int64(st, 0);
    }
    if (rc == VS_OK && s != SQLITE_DONE)
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
    sqlite3_finalize(st);
    for (size_t i = 0; rc == VS_OK && i < n; i++)
        rc = vs__store_delete_step_rows(db, path, steps[i]);
    if (rc == VS_OK && n > 0)
        rc = vs__store_free_orphans(db, path, NULL);
    vs__free(steps);
    return commit_close(db, path, rc);
}

int vs_set_retention(const char *path, int max_to_keep,
                     double keep_checkpoint_every_n_hours)
{
    if (max_to_keep == VS_KEEP_ALL)
        max_to_keep = 0; /* the file's form of "keep all" */
    if (max_to_keep < 0)
        return vs__fail(VS_EINVAL, "max_to_keep must be >= 0, got %d",
                        max_to_keep);
    if (!(keep_checkpoint_every_n_hours >= 0))
        return vs__fail(VS_EINVAL,
                        "keep_checkpoint_every_n_hours must be >= 0");
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int rc = vs__store_open(path, VS_OPEN_CREATE, 0, &db);
    if (rc != VS_OK)
        return rc;
    rc = vs__store_begin_write(db, path, VS_BUSY_DEFAULT_MS);
    if (rc != VS_OK) {
        vs__store_close(db);
        return rc;
    }
    rc = vs__store_prepare(db,
                           "INSERT OR REPLACE INTO meta(key, value) VALUES "
                           "('max_to_keep', ?1), "
                           "('keep_checkpoint_every_n_hours', ?2)",
                           &st, path);
    if (rc == VS_OK) {
        int b = sqlite3_bind_int(st, 1, max_to_keep);
        if (b == SQLITE_OK)
            b = sqlite3_bind_double(st, 2, keep_checkpoint_every_n_hours);
        if (b != SQLITE_OK)
            rc = vs__store_bindfail(st, b, "cannot update checkpoint file",
                                    path);
    }
    if (rc == VS_OK) {
        int s = sqlite3_step(st);
        if (s != SQLITE_DONE)
            rc = vs__store_sqlfail(db, s, "cannot update checkpoint file",
                                   path);
    }
    sqlite3_finalize(st);
    return commit_close(db, path, rc);
}

/* ---- journal mode ------------------------------------------------------ */

#define JOURNAL_BUSY_MS 250

int vs_set_journal_mode(const char *path, vs_journal mode)
{
    if (mode != VS_JOURNAL_WAL && mode != VS_JOURNAL_ROLLBACK)
        return vs__fail(VS_EINVAL, "unknown journal mode %d", (int)mode);
    /* Another connection makes the change fail: wait for it only
     * briefly, it is usually a reader that stays open. */
    sqlite3 *db = NULL;
    int rc = vs__store_open(path, VS_OPEN_CREATE, JOURNAL_BUSY_MS, &db);
    if (rc != VS_OK)
        return rc;
    const char *want = mode == VS_JOURNAL_WAL ? "wal" : "delete";
    char got[16];
    /* Leaving WAL checkpoints it and deletes it: with EXTRA the deletion
     * is synced too, as every later rollback-journal commit will be. */
    if (mode == VS_JOURNAL_ROLLBACK) {
        int s = sqlite3_exec(db, "PRAGMA synchronous=EXTRA", NULL, NULL, NULL);
        if (s != SQLITE_OK) {
            rc = vs__store_sqlfail(db, s, "cannot set the journal mode of",
                                   path);
            vs__store_close(db);
            return rc;
        }
    }
    rc = vs__store_journal_pragma(db, path,
                                  mode == VS_JOURNAL_WAL
                                      ? "PRAGMA journal_mode=WAL"
                                      : "PRAGMA journal_mode=DELETE",
                                  got);
    /* Another connection having the file open: SQLite either keeps the
     * old mode without an error or fails with SQLITE_BUSY. */
    if ((rc == VS_OK && strcmp(got, want) != 0) || rc == VS_EBUSY)
        rc = vs__fail(VS_EBUSY,
                      "cannot change the journal mode of %s to %s: the file "
                      "is open elsewhere",
                      path, mode == VS_JOURNAL_WAL ? "WAL" : "rollback");
    /* Then the declared mode that writers keep. A crash in between leaves
     * the old one declared: the next writer switches the header back, as
     * if this call had not been made. */
    char decl[16];
    if (rc == VS_OK)
        rc = vs__store_declared_journal(db, path, decl);
    if (rc == VS_OK && strcmp(decl, want) != 0)
        rc = vs__store_declare_journal(db, path, want);
    vs__store_close(db);
    return rc;
}

int vs_get_journal_mode(const char *path, vs_journal *mode)
{
    if (mode == NULL)
        return vs__fail(VS_EINVAL, "mode is NULL");
    sqlite3 *db = NULL;
    int rc = vs__store_open(path, VS_OPEN_READ, 0, &db);
    if (rc != VS_OK)
        return rc;
    /* The declared mode: the header may differ for a moment (a large
     * save running solo, or a crash during one). */
    char got[16];
    rc = vs__store_declared_journal(db, path, got);
    if (rc == VS_OK && got[0] == '\0')
        rc = vs__store_journal_pragma(db, path, "PRAGMA journal_mode", got);
    if (rc == VS_OK)
        *mode = strcmp(got, "wal") == 0 ? VS_JOURNAL_WAL : VS_JOURNAL_ROLLBACK;
    vs__store_close(db);
    return rc;
}

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
    return commit_close(db, path, rc);
}

/* ---- verify ------------------------------------------------------------ */

typedef struct {
    int64_t id;
    int codec;
    size_t esize, len;
    uint32_t crc;
    vs__buf buf;
    size_t blob_len;
    int bad;
    char why[160];
} ver_job;

#define MAX_THREADS 64

typedef struct {
    sqlite3 *db;
    const char *path;
    sqlite3_stmt *st;
    ver_job *jobs;
    vs__ws ws[MAX_THREADS];
    vs__buf out[MAX_THREADS];
    vs__buf free_bufs[4 * MAX_THREADS + 4];
    size_t n_free;
    vs__progress pr;
} ver_ctx;

static int ver_prepare(void *vctx, size_t k, char *err, size_t cap)
{
    (void)err;
    (void)cap;
    ver_ctx *c = vctx;
    ver_job *j = &c->jobs[k];
    int s = sqlite3_step(c->st);
    if (s != SQLITE_ROW)
        return s == SQLITE_DONE
                   ? vs__fail(VS_ECORRUPT,
                              "checkpoint file %s is corrupt: chunk count "
                              "changed",
                              c->path)
                   : vs__store_sqlfail(c->db, s, "cannot read checkpoint file",
                                       c->path);
    j->id = sqlite3_column_int64(c->st, 0);
    j->codec = sqlite3_column_int(c->st, 1);
    int64_t es = sqlite3_column_int64(c->st, 2);
    int64_t raw = sqlite3_column_int64(c->st, 3);
    j->crc = (uint32_t)sqlite3_column_int64(c->st, 4);
    const void *d = sqlite3_column_blob(c->st, 5);
    int dl = sqlite3_column_bytes(c->st, 5);
    if (es < 1 || es > 16 || raw < 0 || raw > (int64_t)VS_CHUNK_MAX ||
        raw % es != 0) {
        j->bad = 1;
        snprintf(j->why, sizeof j->why, "chunk %lld: bad sizes",
                 (long long)j->id);
        return VS_OK;
    }
    j->esize = (size_t)es;
    j->len = (size_t)raw;
    j->blob_len = (size_t)dl;
    if (c->n_free > 0)
        j->buf = c->free_bufs[--c->n_free];
    if (vs__buf_reserve(&j->buf, j->blob_len) != VS_OK)
        return vs__fail(VS_ENOMEM, "out of memory");
    if (dl > 0)
        memcpy(j->buf.p, d, j->blob_len);
    return VS_OK;
}

static int ver_work(void *vctx, size_t k, char *err, size_t cap)
{
    ver_ctx *c = vctx;
    ver_job *j = &c->jobs[k];
    if (j->bad)
        return VS_OK;
    int w = vs__pool_worker();
    if (vs__buf_reserve(&c->out[w], j->len) != VS_OK) {
        snprintf(err, cap, "out of memory");
        return VS_ENOMEM;
    }
    unsigned char *buf = c->out[w].p;
    char why[128];
    int rc = vs__chunk_decode_ws(j->codec, j->esize, j->buf.p, j->blob_len,
                                 buf, j->len, &c->ws[w], why, sizeof why);
    if (rc == VS_ENOMEM) {
        snprintf(err, cap, "%s", why);
        return rc;
    }
    if (rc != VS_OK) {
        j->bad = 1;
        snprintf(j->why, sizeof j->why, "%s", why);
    } else {
        uint32_t crc = vs__crc32(0, buf, j->len);
        if (crc != j->crc) {
            j->bad = 1;
            snprintf(j->why, sizeof j->why,
                     "CRC mismatch (stored 0x%08x, computed 0x%08x)",
                     (unsigned)j->crc, (unsigned)crc);
        }
    }
    return VS_OK;
}

static int ver_consume(void *vctx, size_t k, char *err, size_t cap)
{
    (void)err;
    (void)cap;
    ver_ctx *c = vctx;
    ver_job *j = &c->jobs[k];
    if (c->n_free < sizeof c->free_bufs / sizeof *c->free_bufs) {
        c->free_bufs[c->n_free++] = j->buf;
        j->buf.p = NULL;
        j->buf.cap = 0;
    } else {
        vs__buf_free(&j->buf);
    }
    vs__progress_add(&c->pr, j->len); /* 0 for a chunk with bad sizes */
    return VS_OK;
}

static int cmp_job_id(const void *key, const void *elem)
{
    int64_t a = *(const int64_t *)key, b = ((const ver_job *)elem)->id;
    return a < b ? -1 : a > b;
}

int vs_verify(const char *path, size_t *n_bad)
{
    return vs_verify_ex(path, NULL, n_bad);
}

int vs_verify_ex(const char *path, const vs_verify_opts *opts, size_t *n_bad)
{
    if (n_bad != NULL)
        *n_bad = 0;
    if (opts != NULL && opts->threads < 0)
        return vs__fail(VS_EINVAL, "threads must be >= 0, got %d",
                        opts->threads);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL, *tq = NULL;
    ver_ctx c;
    memset(&c, 0, sizeof c);
    for (size_t w = 0; w < MAX_THREADS; w++)
        c.ws[w].strict = 1; /* every byte zlib would check, checked */
    size_t n_chunks = 0, bad_count = 0;
    char first[VS_ERRMSG_MAX];
    first[0] = '\0';
    int rc = vs__store_open_read(path, &db);
    if (rc != VS_OK)
        return rc;
    c.db = db;
    c.path = path;
    rc = vs__store_prepare(db, "PRAGMA quick_check", &st, path);
    if (rc != VS_OK)
        goto out;
    int s = sqlite3_step(st);
    if (s != SQLITE_ROW) {
        rc = vs__store_sqlfail(db, s, "cannot check checkpoint file", path);
        goto out;
    }
    const char *qc = (const char *)sqlite3_column_text(st, 0);
    if (qc == NULL || strcmp(qc, "ok") != 0) {
        rc = vs__fail(VS_ECORRUPT, "checkpoint file %s is corrupt: %s", path,
                      qc != NULL ? qc : "quick_check failed");
        if (n_bad != NULL)
            *n_bad = 1;
        goto out;
    }
    sqlite3_finalize(st);
    st = NULL;

    /* The chunk count, and the raw bytes the pass below will check (the
     * chunks whose sizes ver_prepare accepts): the progress total. */
    int64_t cnt = 0;
    double raw_sum = 0;
    rc = vs__store_prepare(db,
                           "SELECT count(*), total(CASE WHEN elem_size "
                           "BETWEEN 1 AND 16 AND raw_bytes BETWEEN 0 AND ?1 "
                           "AND raw_bytes % elem_size = 0 THEN raw_bytes "
                           "ELSE 0 END) FROM chunks",
                           &st, path);
    if (rc != VS_OK)
        goto out;
    int b = sqlite3_bind_int64(st, 1, (int64_t)VS_CHUNK_MAX);
    if (b != SQLITE_OK) {
        rc = vs__store_bindfail(st, b, "cannot read checkpoint file", path);
        goto out;
    }
    s = sqlite3_step(st);
    if (s != SQLITE_ROW) {
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
        goto out;
    }
    cnt = sqlite3_column_int64(st, 0);
    raw_sum = sqlite3_column_double(st, 1);
    sqlite3_finalize(st);
    st = NULL;
    if (cnt < 0 || (uint64_t)cnt > SIZE_MAX / sizeof *c.jobs) {
        rc = vs__fail(VS_ENOMEM, "out of memory");
        goto out;
    }
    n_chunks = (size_t)cnt;
    vs__progress_init(&c.pr, opts != NULL ? opts->progress : NULL,
                      opts != NULL ? opts->progress_ctx : NULL,
                      raw_sum > 0 && raw_sum < 1.8e19 ? (uint64_t)raw_sum
                                                      : 0);
    c.jobs = vs__calloc(n_chunks ? n_chunks : 1, sizeof *c.jobs);
    if (c.jobs == NULL) {
        rc = vs__fail(VS_ENOMEM, "out of memory");
        goto out;
    }
    rc = vs__store_prepare(db,
                           "SELECT id, codec, elem_size, raw_bytes, crc32, "
                           "data FROM chunks ORDER BY id",
                           &c.st, path);
    if (rc != VS_OK)
        goto out;
    int t = vs__pool_threads(opts != NULL ? opts->threads : 0);
    if (t > MAX_THREADS)
        t = MAX_THREADS;
    rc = vs__pool_run(t, n_chunks, (size_t)t * 4, &c, ver_prepare, ver_work,
                      ver_consume);
    if (rc != VS_OK)
        goto out;

    /* Walk every tensor: chunk list, sizes, CRCs. */
    rc = vs__store_prepare(db,
                           "SELECT id, step, name FROM tensors ORDER BY step, "
                           "name",
                           &st, path);
    if (rc != VS_OK)
        goto out;
    rc = vs__store_prepare(db,
                           "SELECT tc.seq, tc.chunk_id, c.raw_bytes, c.crc32, "
                           "c.elem_size FROM tensor_chunks tc LEFT JOIN "
                           "chunks c ON c.id = tc.chunk_id WHERE "
                           "tc.tensor_id=?1 ORDER BY tc.seq",
                           &tq, path);
    if (rc != VS_OK)
        goto out;
    while ((s = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t step = sqlite3_column_int64(st, 1);
        const char *name = (const char *)sqlite3_column_text(st, 2);
        char *key = vs__strdup(name != NULL ? name : "");
        if (key == NULL) {
            rc = vs__fail(VS_ENOMEM, "out of memory");
            goto out;
        }
        vs__load_item it;
        memset(&it, 0, sizeof it);
        it.key = key;
        char why[VS_ERRMSG_MAX];
        why[0] = '\0';
        int r = vs__load_lookup(db, path, step, &it, 1);
        if (r == VS_ENOMEM) {
            vs__free(key);
            rc = r;
            goto out;
        }
        if (r != VS_OK) {
            snprintf(why, sizeof why, "%s", vs_errmsg());
        } else {
            sqlite3_reset(tq);
            b = sqlite3_bind_int64(tq, 1, it.tensor_id);
            if (b != SQLITE_OK) {
                rc = vs__store_bindfail(tq, b, "cannot read checkpoint file",
                                        path);
                vs__free(key);
                goto out;
            }
            size_t seq = 0, sum = 0;
            uint32_t crc = 0;
            while (why[0] == '\0' && (s = sqlite3_step(tq)) == SQLITE_ROW) {
                int64_t cid = sqlite3_column_int64(tq, 1);
                int64_t raw = sqlite3_column_int64(tq, 2);
                const ver_job *j =
                    bsearch(&cid, c.jobs, n_chunks, sizeof *c.jobs, cmp_job_id);
                if (sqlite3_column_int64(tq, 0) != (int64_t)seq ||
                    sqlite3_column_type(tq, 2) == SQLITE_NULL || j == NULL ||
                    sqlite3_column_int64(tq, 4) != (int64_t)it.esize ||
                    raw < 0 || (uint64_t)raw > it.nbytes - sum) {
                    snprintf(why, sizeof why,
                             "checkpoint file %s is corrupt: tensor %s at "
                             "step %lld, chunk %zu: sizes do not add up",
                             path, key, (long long)step, seq);
                } else if (j->bad) {
                    snprintf(why, sizeof why,
                             "checkpoint file %s is corrupt: tensor %s at "
                             "step %lld, chunk %zu: %s",
                             path, key, (long long)step, seq, j->why);
                } else {
                    crc = seq == 0 ? j->crc
                                   : vs__crc32_combine(crc, j->crc, j->len);
                    sum += (size_t)raw;
                    seq++;
                }
            }
            if (why[0] == '\0' && s != SQLITE_DONE) {
                rc = vs__store_sqlfail(db, s, "cannot read checkpoint file",
                                       path);
                vs__free(key);
                goto out;
            }
            if (why[0] == '\0' && (seq != it.n_chunks || sum != it.nbytes))
                snprintf(why, sizeof why,
                         "checkpoint file %s is corrupt: tensor %s at step "
                         "%lld: sizes do not add up",
                         path, key, (long long)step);
            else if (why[0] == '\0' && crc != it.crc)
                snprintf(why, sizeof why,
                         "checkpoint file %s is corrupt: tensor %s at step "
                         "%lld: CRC mismatch (stored 0x%08x, computed "
                         "0x%08x)",
                         path, key, (long long)step, (unsigned)it.crc,
                         (unsigned)crc);
            sqlite3_reset(tq);
        }
        vs__free(key);
        if (why[0] != '\0') {
            if (bad_count == 0)
                memcpy(first, why, sizeof first);
            bad_count++;
        }
    }
    if (s != SQLITE_DONE) {
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
        goto out;
    }
    if (n_bad != NULL)
        *n_bad = bad_count;
    vs__progress_end(&c.pr); /* everything was checked */
    if (bad_count > 0)
        rc = vs__fail(VS_ECORRUPT, "%s", first);
out:
    sqlite3_finalize(st);
    sqlite3_finalize(tq);
    sqlite3_finalize(c.st);
    if (c.jobs != NULL)
        for (size_t k = 0; k < n_chunks; k++)
            vs__buf_free(&c.jobs[k].buf);
    for (size_t k = 0; k < c.n_free; k++)
        vs__buf_free(&c.free_bufs[k]);
    for (int w = 0; w < MAX_THREADS; w++) {
        vs__ws_free(&c.ws[w]);
        vs__buf_free(&c.out[w]);
    }
    vs__free(c.jobs);
    return close_read_tx(db, path, rc);
}
