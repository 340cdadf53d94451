/* varstore: the rows a save writes besides the chunks: the checkpoint
 * row (then its totals) and one row per tensor. */
#include <math.h>
#include <string.h>

#include "file/schema.h"
#include "save_int.h"

int vs__save_is_float(vs_dtype dt)
{
    return dt == VS_FLOAT32 || dt == VS_FLOAT64 || dt == VS_FLOAT16 ||
           dt == VS_BFLOAT16;
}

/* Returns the sqlite3_bind_* result. */
static int bind_double_or_null(sqlite3_stmt *st, int i, int ok, double v)
{
    if (ok && isfinite(v))
        return sqlite3_bind_double(st, i, v);
    return sqlite3_bind_null(st, i);
}

/* Returns the sqlite3_bind_* result. */
static int bind_int64_or_null(sqlite3_stmt *st, int i, int ok, int64_t v)
{
    if (ok)
        return sqlite3_bind_int64(st, i, v);
    return sqlite3_bind_null(st, i);
}

/* Steps a statement that must complete; finalizes it. */
static int step_done(sqlite3 *db, sqlite3_stmt *st, int b, const char *path)
{
    int rc = VS_OK;
    if (b != SQLITE_OK)
        rc = vs__store_bindfail(st, b, "cannot save checkpoint to", path);
    else if (sqlite3_step(st) != SQLITE_DONE)
        rc = vs__store_sqlfail(db, sqlite3_errcode(db),
                               "cannot save checkpoint to", path);
    sqlite3_finalize(st);
    return rc;
}

/* Deletes the rows of an existing step (its chunks stay until the end, so
 * the new save can share them). */
int vs__save_replace_step(sqlite3 *db, const char *path, int64_t step,
                          int *replaced)
{
    sqlite3_stmt *st;
    *replaced = 0;
    int rc = vs__store_prepare(db, "SELECT 1 FROM checkpoints WHERE step=?1",
                               &st, path);
    if (rc != VS_OK)
        return rc;
    int b = sqlite3_bind_int64(st, 1, step);
    if (b != SQLITE_OK) {
        rc = vs__store_bindfail(st, b, "cannot save checkpoint to", path);
        sqlite3_finalize(st);
        return rc;
    }
    int s = sqlite3_step(st);
    if (s != SQLITE_ROW && s != SQLITE_DONE)
        rc = vs__store_sqlfail(db, s, "cannot save checkpoint to", path);
    sqlite3_finalize(st);
    if (rc != VS_OK || s != SQLITE_ROW)
        return rc;
    *replaced = 1;
    return vs__store_delete_step_rows(db, path, step);
}

int vs__save_checkpoint_row(sqlite3 *db, const char *path, int64_t step)
{
    char when[32];
    double now = vs__now_iso(when);
    sqlite3_stmt *st;
    int rc = vs__store_prepare(db,
                               "INSERT INTO checkpoints(step, created_at, "
                               "created_unix, writer) VALUES (?1, ?2, ?3, ?4)",
                               &st, path);
    if (rc != VS_OK)
        return rc;
    int b = sqlite3_bind_int64(st, 1, step);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, 2, when, -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = sqlite3_bind_double(st, 3, now);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, 4, "varstore " VS_VERSION_STRING, -1,
                              SQLITE_STATIC);
    return step_done(db, st, b, path);
}

/* Binds the columns of it's row known before its chunks are written. */
static int bind_tensor_row(sqlite3_stmt *st, int64_t step,
                           const vs__save_item *it)
{
    char shp[VS_SHAPE_STR_MAX];
    const char *dts = vs__dtype_str(it->t->dtype);
    vs__shape_json(it->t->ndim, it->t->shape, shp, sizeof shp);
    int b = sqlite3_bind_int64(st, 1, step);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, 2, it->key, -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, 3, dts, -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, 4, shp, -1, SQLITE_TRANSIENT);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(
            st, 10, (int64_t)vs__store_meta_crc(it->key, dts, shp));
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 5, it->numel);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 6, (int64_t)it->chunk);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 7, (int64_t)it->n_chunks);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 8, (int64_t)it->nbytes);
    if (b == SQLITE_OK)
        b = bind_int64_or_null(st, 9, vs__save_is_float(it->t->dtype), 0);
    return b;
}

/* Inserts it's row (its name first, unless names has it). */
static int insert_row(vs__save_ctx *c, sqlite3_stmt *put, sqlite3_stmt *st,
                      vs__save_item *it)
{
    int rc = vs__store_put_name(c->db, put, it->key,
                                "cannot save checkpoint to", c->path);
    if (rc != VS_OK)
        return rc;
    sqlite3_reset(st);
    int b = bind_tensor_row(st, c->step, it);
    if (b != SQLITE_OK)
        return vs__store_bindfail(st, b, "cannot save checkpoint to",
                                  c->path);
    if (sqlite3_step(st) != SQLITE_DONE)
        return vs__store_sqlfail(c->db, sqlite3_errcode(c->db),
                                 "cannot save checkpoint to", c->path);
    it->tensor_id = sqlite3_last_insert_rowid(c->db);
    return VS_OK;
}

/* One row per tensor (codec, sizes and CRC finished once its chunks are
 * written), referring to its name's row; each item gets its tensor_id. */
int vs__save_tensor_rows(vs__save_ctx *c)
{
    sqlite3_stmt *st = NULL, *put = NULL;
    int rc = vs__store_prepare(c->db, VS_SQL_PUT_NAME, &put, c->path);
    if (rc == VS_OK)
        rc = vs__store_prepare(c->db,
                               "INSERT INTO tensor_rows(step, name_id, dtype, "
                               "shape, numel, codec, chunk_bytes, n_chunks, "
                               "raw_bytes, stored_bytes, crc32, n_nan, n_inf, "
                               "meta_crc) VALUES (?1, (SELECT id FROM names "
                               "WHERE name=?2), ?3, ?4, ?5, 'raw', ?6, ?7, "
                               "?8, 0, 0, ?9, ?9, ?10)",
                               &st, c->path);
    for (size_t i = 0; i < c->n_items && rc == VS_OK; i++)
        rc = insert_row(c, put, st, &c->items[i]);
    sqlite3_finalize(st);
    sqlite3_finalize(put);
    return rc;
}

int vs__save_finish_item(vs__save_ctx *c, vs__save_item *it)
{
    sqlite3_stmt *st = c->upd_tensor;
    sqlite3_reset(st);
    int fl = vs__save_is_float(it->t->dtype);
    int has = fl && it->stats.n > 0;
    int b = sqlite3_bind_text(st, 1, it->any_shuffled ? "shuffle-zlib" : "raw",
                              -1, SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 2, it->stored);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 3, (int64_t)it->crc);
    if (b == SQLITE_OK)
        b = bind_double_or_null(st, 4, has, it->stats.min);
    if (b == SQLITE_OK)
        b = bind_double_or_null(st, 5, has, it->stats.max);
    if (b == SQLITE_OK)
        b = bind_double_or_null(st, 6, has,
                                 has ? vs__stats_mean(&it->stats) : 0.0);
    if (b == SQLITE_OK)
        b = bind_double_or_null(st, 7, has,
                                 has ? vs__stats_std(&it->stats) : 0.0);
    if (b == SQLITE_OK)
        b = bind_int64_or_null(st, 8, fl, it->stats.n_nan);
    if (b == SQLITE_OK)
        b = bind_int64_or_null(st, 9, fl, it->stats.n_inf);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 10, it->tensor_id);
    if (b != SQLITE_OK)
        return vs__store_bindfail(st, b, "cannot save checkpoint to",
                                  c->path);
    int s = sqlite3_step(st);
    if (s != SQLITE_DONE)
        return vs__store_sqlfail(c->db, s, "cannot save checkpoint to",
                                 c->path);
    return VS_OK;
}

int vs__save_checkpoint_totals(vs__save_ctx *c)
{
    int64_t raw_total = 0, stored_total = 0;
    uint32_t names = 0; /* items are in name order */
    for (size_t i = 0; i < c->n_items; i++) {
        raw_total += (int64_t)c->items[i].nbytes;
        stored_total += c->items[i].stored;
        names = vs__store_names_crc_add(names, c->items[i].key);
    }
    sqlite3_stmt *st;
    int rc = vs__store_prepare(c->db,
                               "UPDATE checkpoints SET n_tensors=?1, "
                               "raw_bytes=?2, stored_bytes=?3, new_bytes=?4, "
                               "tensors_crc=?6 WHERE step=?5",
                               &st, c->path);
    if (rc != VS_OK)
        return rc;
    int b = sqlite3_bind_int64(st, 1, (int64_t)c->n_items);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 2, raw_total);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 3, stored_total);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 4, c->new_bytes);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 5, c->step);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 6, (int64_t)names);
    return step_done(c->db, st, b, c->path);
}
