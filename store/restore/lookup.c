/* varstore: finding the tensor rows a read asks for, with the checks
 * that their metadata is intact (meta_crc, schema version 2) and that
 * their dtype, shape and sizes add up. */
#include <stdint.h>

#include "store_int.h"

/* Whether the row's numel, raw_bytes and n_chunks agree with its dtype
 * and shape (already parsed into it). */
static int sizes_add_up(vs__load_item *it, int64_t numel, int64_t raw,
                        int64_t nch)
{
    uint64_t count = 1;
    for (int d = 0; d < it->ndim; d++) {
        if (it->shape[d] != 0 &&
            count > (uint64_t)INT64_MAX / (uint64_t)it->shape[d])
            return 0;
        count *= (uint64_t)it->shape[d];
    }
    it->esize = vs__elem_size(it->dtype);
    if ((uint64_t)numel != count || raw < 0 ||
        count > (uint64_t)INT64_MAX / it->esize ||
        (uint64_t)raw != count * it->esize || (uint64_t)raw > SIZE_MAX ||
        nch < 0 || (raw == 0) != (nch == 0) ||
        (uint64_t)nch > (uint64_t)raw / it->esize)
        return 0;
    it->nbytes = (size_t)raw;
    it->n_chunks = (size_t)nch;
    return 1;
}

/* Column 7 (version 2): the CRC of the row's name, dtype and shape. */
static int meta_intact(sqlite3_stmt *st, const vs__load_item *it,
                       const char *dts, const char *shs)
{
    uint32_t want;
    if (vs__crc_column(st, 7, &want) != 0)
        return 0;
    return vs__store_meta_crc(it->key, dts, shs) == want;
}

/* Checks the row st holds for it and fills it in. */
static int take_row(sqlite3_stmt *st, vs__load_item *it, int64_t step,
                    int ver, const char *path)
{
    const char *dts = (const char *)sqlite3_column_text(st, 1);
    const char *shs = (const char *)sqlite3_column_text(st, 2);
    it->tensor_id = sqlite3_column_int64(st, 0);
    it->step = step;
    if (dts == NULL || shs == NULL ||
        (ver >= 2 && !meta_intact(st, it, dts, shs)))
        return vs__fail(VS_ECORRUPT,
                        "checkpoint file %s is corrupt: tensor %s at step "
                        "%lld: its name, dtype or shape does not match its "
                        "checksum",
                        path, it->key, (long long)step);
    if (vs__crc_column(st, 6, &it->crc) != 0 ||
        vs__dtype_parse(dts, &it->dtype) != 0 ||
        vs__parse_shape_json(shs, &it->ndim, it->shape) != 0 ||
        !sizes_add_up(it, sqlite3_column_int64(st, 3),
                      sqlite3_column_int64(st, 5),
                      sqlite3_column_int64(st, 4)))
        return vs__fail(VS_ECORRUPT,
                        "checkpoint file %s is corrupt: tensor %s at step "
                        "%lld: sizes do not add up",
                        path, it->key, (long long)step);
    return VS_OK;
}

static int lookup_one(sqlite3 *db, sqlite3_stmt *st, int64_t step,
                      vs__load_item *it, int ver, const char *path)
{
    sqlite3_reset(st);
    int b = sqlite3_bind_int64(st, 1, step);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, 2, it->key, -1, SQLITE_STATIC);
    if (b != SQLITE_OK)
        return vs__store_bindfail(st, b, "cannot read checkpoint file", path);
    int s = sqlite3_step(st);
    if (s == SQLITE_DONE)
        return vs__fail(VS_ENOTFOUND, "Key %s not found in checkpoint",
                        it->key);
    if (s != SQLITE_ROW)
        return vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
    return take_row(st, it, step, ver, path);
}

int vs__load_lookup(sqlite3 *db, const char *path, int64_t step,
                    vs__load_item *items, size_t n)
{
    sqlite3_stmt *st = NULL;
    int ver = 0;
    int rc = vs__store_version(db, path, &ver);
    if (rc == VS_OK)
        rc = vs__store_prepare(db,
                               ver >= 2
                                   ? "SELECT id, dtype, shape, numel, "
                                     "n_chunks, raw_bytes, crc32, meta_crc "
                                     "FROM tensors WHERE step=?1 AND name=?2"
                                   : "SELECT id, dtype, shape, numel, "
                                     "n_chunks, raw_bytes, crc32 FROM tensors "
                                     "WHERE step=?1 AND name=?2",
                               &st, path);
    for (size_t i = 0; i < n && rc == VS_OK; i++)
        rc = lookup_one(db, st, step, &items[i], ver, path);
    sqlite3_finalize(st);
    if (rc == VS_OK)
        rc = vs__load_check_evidence(db, path, items, n);
    return rc;
}
