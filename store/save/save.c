/* varstore: saving checkpoints (vs_save, vs_save_ex, vs_save_tensors).
 * A save is one SQLite transaction, or (large, rollback journal) batches
 * of chunks and then one; its steps are in the other files of store/save/
 * (save_int.h). */
#define _DEFAULT_SOURCE /* lstat */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "save_int.h"

/* Raw bytes from which a save into a WAL file tries the solo path
 * (vs__store_solo_begin): below it, switching the journal costs more
 * than writing the pages twice. */
#define VS_SOLO_MIN_BYTES ((uint64_t)1 << 20)
/* ... and up to which: readers wait for a solo save up to their busy
 * timeout (10 s by default), so larger saves stay WAL saves and never
 * make a reader wait that long. */
#define VS_SOLO_MAX_BYTES ((uint64_t)1 << 30)
/* Saves of at most this many raw bytes into a file that does not exist
 * yet fill the new file before it gets its name (vs__store_create_aside):
 * one sync of the file and one of its folder, where creating the file and
 * then saving into it took seven (5 MB: 4.8 ms of syncs under strace).
 * Larger saves commit in batches into the named file, so that a crash
 * never leaves an unnamed file of their size behind. */
#define VS_ASIDE_MAX_BYTES ((uint64_t)16 << 20)

/* An open save transaction. */
typedef struct {
    sqlite3 *db;
    int solo, in_tx, busy;
} save_tx;

/* Opens (or creates) the file, takes the solo path for a mid-sized save
 * when it can, and begins the write transaction (a rollback-journal
 * file's open begins it). aside (else NULL): the file to open instead of
 * c->path, a new one that has no name yet (vs__save_run), whose commit
 * needs no sync. raw_bytes: the tensors' bytes. */
static int tx_begin(save_tx *tx, const char *aside, const vs__save_ctx *c,
                    const vs_save_opts *o, uint64_t raw_bytes)
{
    int rc = vs__store_open_save(aside != NULL ? aside : c->path, tx->busy,
                                 aside != NULL, &tx->db, &tx->in_tx);
    if (rc != VS_OK || tx->in_tx)
        return rc;
    if (raw_bytes >= VS_SOLO_MIN_BYTES && raw_bytes <= VS_SOLO_MAX_BYTES &&
        (o == NULL || !o->readers_never_wait)) {
        rc = vs__store_solo_begin(tx->db, c->path, tx->busy, &tx->solo);
        if (rc != VS_OK)
            return rc;
    }
    rc = vs__store_begin_write(tx->db, c->path, tx->busy);
    tx->in_tx = rc == VS_OK;
    return rc;
}

static int tx_commit(save_tx *tx, const char *path)
{
    int s = sqlite3_exec(tx->db, "COMMIT", NULL, NULL, NULL);
    if (s != SQLITE_OK)
        return vs__store_sqlfail(tx->db, s, "cannot commit checkpoint to",
                                 path);
    tx->in_tx = 0;
    return VS_OK;
}

static void tx_end(save_tx *tx, const char *path)
{
    /* Already failing: the rollback's result cannot change the error (and
     * closing the connection rolls back in any case). */
    if (tx->in_tx)
        (void)sqlite3_exec(tx->db, "ROLLBACK", NULL, NULL, NULL);
    if (tx->solo)
        vs__store_solo_end(tx->db, path);
    vs__store_close(tx->db);
    tx->db = NULL;
}

/* The chunks (committed in batches when the save is batched), then the
 * rows that make the checkpoint visible, in the last transaction. */
static int write_checkpoint(vs__save_ctx *c, const vs__save_defs *defs)
{
    int replaced = 0;
    int rc = vs__save_chunks(c);
    if (rc == VS_OK)
        rc = vs__save_replace_step(c->db, c->path, c->step, &replaced);
    if (rc == VS_OK)
        rc = vs__save_checkpoint_row(c->db, c->path, c->step);
    if (rc == VS_OK)
        rc = vs__save_tensor_rows(c);
    if (rc == VS_OK)
        rc = vs__save_chunk_rows(c);
    if (rc == VS_OK && defs != NULL)
        rc = vs__save_defs_write(c, defs);
    if (rc == VS_OK)
        rc = vs__save_checkpoint_totals(c);
    if (rc == VS_OK)
        rc = vs__save_batch_finish(c);
    if (rc == VS_OK && replaced)
        rc = vs__store_free_orphans(c->db, c->path, NULL);
    return rc;
}

/* Begins the save's first transaction; in a file with a rollback journal,
 * with pages written as they come, and batched when the save is large. */
static int begin_save(save_tx *tx, const char *aside, vs__save_ctx *c,
                      const vs_save_opts *o, uint64_t total)
{
    int rc = tx_begin(tx, aside, c, o, total);
    c->db = tx->db;
    c->busy_ms = tx->busy;
    int reaped = 0;
    /* A writer killed mid-save left its row and chunks nothing uses. */
    if (rc == VS_OK)
        rc = vs__store_reap_saves(c->db, c->path, &reaped);
    if (rc == VS_OK && reaped > 0)
        rc = vs__store_free_orphans(c->db, c->path, NULL);
    if (rc == VS_OK)
        rc = vs__save_journal_setup(c, total, aside);
    return rc;
}

/* Saves items (total bytes in all) as checkpoint step of the file at
 * path, or (aside not NULL, taken) of the new file aside, then linked to
 * path: *exists when path appeared meanwhile (nothing saved there). */
static int save_at(const char *path, char *aside, int64_t step,
                   vs__save_item *items, size_t n, uint64_t total,
                   const vs_save_opts *o, const vs__save_defs *defs,
                   int *exists)
{
    vs__save_ctx c;
    int rc = vs__save_plan(&c, path, step, items, n, o);
    if (rc != VS_OK) {
        vs__store_drop_aside(aside);
        return rc;
    }
    save_tx tx = {NULL, 0, 0, 0};
    tx.busy = o != NULL && o->busy_timeout_ms ? o->busy_timeout_ms
                                              : VS_BUSY_DEFAULT_MS;
    vs__progress_init(&c.pr, o != NULL ? o->progress : NULL,
                      o != NULL ? o->progress_ctx : NULL, total);
    rc = begin_save(&tx, aside, &c, o, total);
    if (rc == VS_OK)
        rc = write_checkpoint(&c, defs);
    if (rc != VS_OK)
        vs__save_batch_abort(&c); /* its batches' chunks */
    vs__save_ctx_free(&c); /* statements finalized before the commit */
    tx.in_tx = tx.db != NULL && !sqlite3_get_autocommit(tx.db);
    int committed = rc == VS_OK && (rc = tx_commit(&tx, path)) == VS_OK;
    /* Retention, after the save is durable. */
    if (committed)
        rc = vs__save_retention(tx.db, path, o, tx.busy);
    tx_end(&tx, path);
    if (aside != NULL && committed && rc == VS_OK)
        rc = vs__store_link_aside(aside, path, exists);
    else
        vs__store_drop_aside(aside);
    /* Last, once the connection (and a solo save's lock) is gone, so that
     * the callback may open the file; not after a failure (retention's,
     * once committed), whose message the callback could overwrite. */
    if (committed && rc == VS_OK && !*exists)
        vs__progress_end(&c.pr);
    return rc;
}

/* *aside: a new file to fill before it is linked to path, for a small
 * save into a path that does not exist (NULL: save into path). Not for
 * vs_save_stream's tensors: should another writer create the file
 * meanwhile, the save is made again into that file, and a stream's bytes
 * are read once. */
static int new_file_aside(const char *path, const vs__save_item *items,
                          size_t n, uint64_t total, char **aside)
{
    *aside = NULL;
    for (size_t i = 0; i < n; i++)
        if (items[i].read != NULL)
            return VS_OK;
    struct stat st;
    if (total > VS_ASIDE_MAX_BYTES || lstat(path, &st) == 0 ||
        errno != ENOENT)
        return VS_OK;
    return vs__store_create_aside(path, aside);
}

/* Saves items (validated: vs__save_prep_*) as checkpoint step. */
int vs__save_run(const char *path, int64_t step, vs__save_item *items,
                 size_t n, const vs_save_opts *o, const vs__save_defs *defs)
{
    char *aside = NULL;
    int exists = 0;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += items[i].nbytes;
    int rc = new_file_aside(path, items, n, total, &aside);
    if (rc == VS_OK)
        rc = save_at(path, aside, step, items, n, total, o, defs, &exists);
    /* Another writer created the file meanwhile: save into it. */
    if (rc == VS_OK && exists)
        rc = save_at(path, NULL, step, items, n, total, o, defs, &exists);
    return rc;
}

/* ---- public entry points ----------------------------------------------- */

int vs_save_tensors(const char *path, int64_t step, const char *const *names,
                    const vs_tensor *const *tensors, size_t n,
                    const vs_save_opts *opts)
{
    vs__save_prep p;
    int rc = vs__save_prep_tensors(&p, path, step, names, tensors, n, opts);
    if (rc == VS_OK)
        rc = vs__save_run(path, step, p.items, p.n, opts, NULL);
    vs__save_prep_free(&p);
    return rc;
}

int vs_save_ex(vs_graph *g, const char *path, int64_t step,
               const vs_save_opts *opts)
{
    vs__save_prep p;
    int rc = vs__save_prep_graph(&p, g, path, step, opts);
    if (rc == VS_OK)
        rc = vs__save_run(path, step, p.items, p.n, opts, p.defs);
    vs__save_prep_free(&p);
    return rc;
}

int vs_save(vs_graph *g, const char *path, int64_t step)
{
    return vs_save_ex(g, path, step, NULL);
}

