/* varstore: batched saves. In a rollback-journal file a save writes each
 * page once, but readers wait while a commit writes its pages; so a save
 * larger than VS_SAVE_BATCH_BYTES commits its chunks in batches of about
 * that size (shorter when the save runs slowly: VS_SAVE_BATCH_US), and
 * its checkpoint (the rows that make it visible) in a last short
 * transaction. Until then its 'saving:' meta rows (store/file/
 * saves.c) pin the chunks it wrote or shares, so that no other writer
 * collects them; a crash leaves chunks that the next writer collects. */
#define _GNU_SOURCE /* nanosleep */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "save_int.h"

/* The writer's page cache during a save into a rollback-journal file.
 * Small, so that SQLite writes the chunks' pages to the file as they come
 * (a cache spill), while the disk writes the earlier ones: the commit
 * then waits for little. It takes the file's exclusive lock at the first
 * spill rather than at the commit, so a reader waits for a batch's
 * encoding as well as its writing: about the same time, since the two
 * now overlap. The catalogue's pages in use stay (least recently used go
 * first). */
#define VS_SAVE_SPILL_CACHE "PRAGMA cache_size=-4096" /* KiB */
/* Saves up to this many raw bytes keep the writer's 16 MiB cache: all
 * their pages go to the file at the commit, and the journal is synced
 * once (a spill syncs it first). */
#define VS_SAVE_SPILL_MIN_BYTES ((uint64_t)16 << 20)
/* A new file filled aside (vs__store_create_aside) syncs nothing until
 * its commit, so its spills cost only the writes the commit would make;
 * a cache this small reuses its pages' memory instead of touching fresh
 * memory for every page of the save (a 5 MB save, in turns with the
 * 16 MiB cache: 26 -> 23 ms in the library, 38 -> 35 ms by the CLI). */
#define VS_SAVE_ASIDE_CACHE "PRAGMA cache_size=-256" /* KiB */
/* The pause after a batch's commit, for waiting readers. */
#define VS_SAVE_BATCH_GAP_US 1000

int64_t vs__save_batch_us = VS_SAVE_BATCH_US;

/* The connection's cache spills so far: SQLite takes the file's
 * exclusive lock to write its first page to the file (-1 if unknown). */
static int spills(sqlite3 *db)
{
    int cur = 0, high = 0;
    if (sqlite3_db_status(db, SQLITE_DBSTATUS_CACHE_SPILL, &cur, &high, 0) !=
        SQLITE_OK)
        return -1;
    return cur;
}

/* A new batch: bytes, spills and lock time counted from here. */
static void batch_mark(vs__save_ctx *c)
{
    c->batch_mark = c->new_bytes;
    c->batch_spills = spills(c->db);
    c->lock_us = -1;
}

/* The save's next row: 'saving:<hex>' first (when the save begins), then
 * at each batch commit 'saving:<hex>.<n>' naming that batch's chunks. A
 * save writes each pinned id once, however many batches it has, and the
 * newest row's time is the save's last commit. */
static int write_row(vs__save_ctx *c)
{
    char key[64];
    if (c->n_rows == 0)
        snprintf(key, sizeof key, "%s", c->saving_key);
    else
        snprintf(key, sizeof key, "%s.%lld", c->saving_key,
                 (long long)c->n_rows);
    int rc = vs__store_saving_put(c->db, c->path, key,
                                  c->pins + c->pins_in_rows,
                                  c->n_pins - c->pins_in_rows);
    if (rc == VS_OK) {
        c->pins_in_rows = c->n_pins;
        c->n_rows++;
    }
    return rc;
}

static int batch_begin(vs__save_ctx *c)
{
    int rc = vs__store_saving_key(c->saving_key);
    if (rc == VS_OK)
        rc = write_row(c);
    c->batched = rc == VS_OK;
    batch_mark(c);
    return rc;
}

int vs__save_journal_setup(vs__save_ctx *c, uint64_t raw_bytes,
                           const char *aside)
{
    char mode[16];
    int rc = vs__store_journal_pragma(c->db, c->path, "PRAGMA journal_mode",
                                      mode);
    if (rc != VS_OK || strcmp(mode, "delete") != 0)
        return rc;
    if (aside != NULL)
        rc = vs__store_exec(c->db, VS_SAVE_ASIDE_CACHE, c->path);
    else if (raw_bytes > VS_SAVE_SPILL_MIN_BYTES)
        rc = vs__store_exec(c->db, VS_SAVE_SPILL_CACHE, c->path);
    if (rc == VS_OK)
        vs__writeback_init(&c->wb, c->db, aside != NULL ? aside : c->path);
    if (rc == VS_OK && raw_bytes > (uint64_t)VS_SAVE_BATCH_BYTES)
        rc = batch_begin(c);
    return rc;
}

static int pin(vs__save_ctx *c, int64_t id)
{
    if (c->n_pins == c->pins_cap) {
        size_t cap = c->pins_cap ? c->pins_cap * 2 : 256;
        int64_t *p = vs__realloc(c->pins, cap * sizeof *p);
        if (p == NULL)
            return vs__fail(VS_ENOMEM, "out of memory");
        c->pins = p;
        c->pins_cap = cap;
    }
    c->pins[c->n_pins++] = id;
    return VS_OK;
}

/* Commits the batch (with the row naming its chunks); the next
 * transaction begins when the next chunk is written, so that another
 * writer (a progress callback's, say) may get in between. */
static int commit_batch(vs__save_ctx *c)
{
    int rc = write_row(c);
    if (rc == VS_OK) {
        int s = sqlite3_exec(c->db, "COMMIT", NULL, NULL, NULL);
        if (s != SQLITE_OK)
            rc = vs__store_sqlfail(c->db, s, "cannot save checkpoint to",
                                   c->path);
    }
    batch_mark(c);
    /* The file is free until the next batch's first page goes to it
     * (about a millisecond of work): a reader waiting for it tries again
     * every 200 us (store/file/busy.c), so leave it a little longer.
     * EINTR only shortens the pause. */
    struct timespec gap = {0, VS_SAVE_BATCH_GAP_US * 1000L};
    (void)nanosleep(&gap, NULL);
    return rc;
}

int vs__save_batch_resume(vs__save_ctx *c)
{
    if (!c->batched || !sqlite3_get_autocommit(c->db))
        return VS_OK;
    return vs__store_begin_write(c->db, c->path, c->busy_ms);
}

/* Whether the batch is due to commit: its bytes are written, or it has
 * held the file's exclusive lock for its time. The lock is taken at the
 * batch's first cache spill, seen here after the chunk that made it
 * (without a count of spills: after the batch's first chunk). A batch
 * that never spills keeps no reader out before its commit, and is cut by
 * its bytes only; so is every batch when the clock cannot be read. */
static int batch_due(vs__save_ctx *c)
{
    if (c->new_bytes - c->batch_mark >= VS_SAVE_BATCH_BYTES)
        return 1;
    int64_t now = vs__now_us();
    if (c->lock_us < 0 && (c->batch_spills < 0 ||
                           spills(c->db) != c->batch_spills))
        c->lock_us = now;
    return now >= 0 && c->lock_us >= 0 &&
           now - c->lock_us >= vs__save_batch_us;
}

int vs__save_batch_chunk(vs__save_ctx *c, int64_t id)
{
    if (!c->batched)
        return VS_OK;
    int rc = pin(c, id);
    if (rc == VS_OK && batch_due(c))
        rc = commit_batch(c);
    return rc;
}

int vs__save_batch_finish(vs__save_ctx *c)
{
    if (!c->batched)
        return VS_OK;
    sqlite3_stmt *st;
    int rc = vs__store_prepare(c->db, "SELECT 1 FROM chunks WHERE id=?1", &st,
                               c->path);
    for (size_t i = 0; i < c->n_pins && rc == VS_OK; i++) {
        sqlite3_reset(st);
        int b = sqlite3_bind_int64(st, 1, c->pins[i]);
        int s = b == SQLITE_OK ? sqlite3_step(st) : b;
        if (s == SQLITE_DONE)
            rc = vs__fail(VS_EBUSY,
                          "cannot save checkpoint to %s: another writer "
                          "deleted chunk %lld of this save while it was "
                          "written (its row was taken for a gone writer's)",
                          c->path, (long long)c->pins[i]);
        else if (s != SQLITE_ROW)
            rc = vs__store_sqlfail(c->db, s, "cannot save checkpoint to",
                                   c->path);
    }
    if (st != NULL)
        sqlite3_finalize(st);
    if (rc == VS_OK)
        rc = vs__store_saving_drop(c->db, c->path, c->saving_key);
    return rc;
}

void vs__save_batch_abort(vs__save_ctx *c)
{
    if (!c->batched || c->db == NULL)
        return;
    /* Already failing: what goes wrong here changes nothing for the
     * caller, whose error stands; a row left behind is reaped later. */
    char keep[VS_ERRMSG_MAX];
    snprintf(keep, sizeof keep, "%s", vs_errmsg());
    if (!sqlite3_get_autocommit(c->db))
        (void)sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    if (vs__store_begin_write(c->db, c->path, c->busy_ms) == VS_OK) {
        int rc = vs__store_saving_drop(c->db, c->path, c->saving_key);
        if (rc == VS_OK)
            rc = vs__store_free_orphans(c->db, c->path, NULL);
        (void)sqlite3_exec(c->db, rc == VS_OK ? "COMMIT" : "ROLLBACK", NULL,
                           NULL, NULL);
    }
    (void)vs__fail(VS_ERROR, "%s", keep); /* the caller's message */
    c->batched = 0;
}
