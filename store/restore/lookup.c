/* varstore: finding the tensor rows a read asks for, with the checks
 * that their dtype, shape and sizes add up. */
#include <stdint.h>

#include "store_int.h"

int vs__load_lookup(sqlite3 *db, const char *path, int64_t step,
                    vs__load_item *items, size_t n)
{
    sqlite3_stmt *st;
    int rc = vs__store_prepare(db,
                               "SELECT id, dtype, shape, numel, n_chunks, "
                               "raw_bytes, crc32 FROM tensors WHERE step=?1 "
                               "AND name=?2",
                               &st, path);
    if (rc != VS_OK)
        return rc;
    for (size_t i = 0; i < n; i++) {
        vs__load_item *it = &items[i];
        sqlite3_reset(st);
        int b = sqlite3_bind_int64(st, 1, step);
        if (b == SQLITE_OK)
            b = sqlite3_bind_text(st, 2, it->key, -1, SQLITE_STATIC);
        if (b != SQLITE_OK) {
            rc = vs__store_bindfail(st, b, "cannot read checkpoint file",
                                    path);
            break;
        }
        int s = sqlite3_step(st);
        if (s == SQLITE_DONE) {
            rc = vs__fail(VS_ENOTFOUND, "Key %s not found in checkpoint",
                          it->key);
            break;
        }
        if (s != SQLITE_ROW) {
            rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
            break;
        }
        const char *dts = (const char *)sqlite3_column_text(st, 1);
        const char *shs = (const char *)sqlite3_column_text(st, 2);
        int64_t numel = sqlite3_column_int64(st, 3);
        int64_t nch = sqlite3_column_int64(st, 4);
        int64_t raw = sqlite3_column_int64(st, 5);
        it->tensor_id = sqlite3_column_int64(st, 0);
        int bad_crc = vs__crc_column(st, 6, &it->crc) != 0;
        it->step = step;
        int bad = bad_crc || vs__dtype_parse(dts, &it->dtype) != 0 ||
                  vs__parse_shape_json(shs, &it->ndim, it->shape) != 0;
        uint64_t count = 1;
        for (int d = 0; !bad && d < it->ndim; d++) {
            if (it->shape[d] != 0 &&
                count > (uint64_t)INT64_MAX / (uint64_t)it->shape[d])
                bad = 1;
            else
                count *= (uint64_t)it->shape[d];
        }
        if (!bad) {
            it->esize = vs__elem_size(it->dtype);
            bad = (uint64_t)numel != count || raw < 0 ||
                  count > (uint64_t)INT64_MAX / it->esize ||
                  (uint64_t)raw != count * it->esize ||
                  (uint64_t)raw > SIZE_MAX || nch < 0 ||
                  (raw == 0) != (nch == 0) ||
                  (uint64_t)nch > (uint64_t)raw / it->esize;
        }
        if (bad) {
            rc = vs__fail(VS_ECORRUPT,
                          "checkpoint file %s is corrupt: tensor %s at step "
                          "%lld: sizes do not add up",
                          path, it->key, (long long)step);
            break;
        }
        it->nbytes = (size_t)raw;
        it->n_chunks = (size_t)nch;
    }
    sqlite3_finalize(st);
    return rc;
}
