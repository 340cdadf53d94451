/* varstore: the chunk list of each tensor a read asks for, checked
 * against its tensor row, read just before the tensor's first chunk:
 * a chunk's row shares its page with the start of its bytes, so listing
 * the tensors one at a time reads the file in the order the chunks are
 * read, where listing them all first read pages all over it. */
#include <stdint.h>

#include "store_int.h"

static int corrupt(const char *path, const vs__load_item *it, size_t seq,
                   const char *why)
{
    return vs__fail(VS_ECORRUPT,
                    "checkpoint file %s is corrupt: tensor %s at step %lld, "
                    "chunk %zu: %s",
                    path, it->key, (long long)it->step, seq, why);
}

/* Row st of chunk seq of it into r; *off is where the chunk begins. */
static int take_ref(sqlite3_stmt *st, const char *path,
                    const vs__load_item *it, size_t seq, size_t *off,
                    vs__chunk_ref *r)
{
    int64_t got = sqlite3_column_int64(st, 0);
    int64_t es = sqlite3_column_int64(st, 2);
    int64_t raw = sqlite3_column_int64(st, 3);
    r->codec = vs__codec_column(st, 1);
    r->chunk_id = sqlite3_column_int64(st, 5);
    if (vs__crc_column(st, 4, &r->crc) != 0)
        return corrupt(path, it, seq, "bad CRC value");
    if (got != (int64_t)seq || es != (int64_t)it->esize || raw <= 0 ||
        (uint64_t)raw > it->nbytes - *off ||
        (seq + 1 == it->n_chunks && (uint64_t)raw != it->nbytes - *off))
        return corrupt(path, it, seq, "sizes do not add up");
    r->off = *off;
    r->len = (size_t)raw;
    *off += r->len;
    return VS_OK;
}

int vs__load_chunk_list_prepare(sqlite3 *db, const char *path,
                                sqlite3_stmt **st)
{
    return vs__store_prepare(db,
                             "SELECT tc.seq, c.codec, c.elem_size, "
                             "c.raw_bytes, c.crc32, c.id FROM "
                             "tensor_chunks tc JOIN chunks c ON c.id = "
                             "tc.chunk_id WHERE tc.tensor_id=?1 ORDER BY "
                             "tc.seq",
                             st, path);
}

int vs__load_chunk_list_item(sqlite3 *db, sqlite3_stmt *st, const char *path,
                             const vs__load_item *it, vs__chunk_ref *refs,
                             size_t *done)
{
    size_t off = 0;
    sqlite3_reset(st);
    int b = sqlite3_bind_int64(st, 1, it->tensor_id);
    if (b != SQLITE_OK)
        return vs__store_bindfail(st, b, "cannot read checkpoint file", path);
    for (size_t q = 0; q < it->n_chunks; q++) {
        int s = sqlite3_step(st);
        if (s == SQLITE_DONE)
            return corrupt(path, it, q, "chunk missing");
        if (s != SQLITE_ROW)
            return vs__store_sqlfail(db, s, "cannot read checkpoint file",
                                     path);
        int rc = take_ref(st, path, it, q, &off, &refs[q]);
        if (rc != VS_OK)
            return rc;
        if (q + 1 < it->n_chunks)
            (*done)++;
    }
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        return corrupt(path, it, it->n_chunks, "more chunks than recorded");
    if (s != SQLITE_DONE)
        return vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
    if (it->n_chunks > 0)
        (*done)++;
    return VS_OK;
}
