/* varstore: before a read sizes memory by what tensor rows declare, the
 * chunk rows must account for it. A tensor row's shape, numel, raw_bytes
 * and n_chunks agree with each other (lookup.c), but all of them are
 * numbers a damaged or hostile file can declare together: a shape of
 * 2^40 elements, or 2^30 chunks, whose memory (the tensor, restore's
 * scratch, a load's list of jobs) would be asked for before the first
 * chunk row is read. So a read of many bytes or many chunks first checks,
 * for each tensor, that it has exactly n_chunks chunk rows, numbered 0..n-1,
 * each with a chunk of its element size, and that their raw sizes add up
 * to the tensor's, each within what its stored bytes can hold: a raw
 * chunk's bytes are its data, and a shuffle-zlib chunk's planes are zlib
 * streams, which inflate to at most 1032 times their size. What a read
 * then allocates is backed by rows and bytes that are in the file. */
#include <stdint.h>

#include "store_int.h"

/* Reads of at most this many declared bytes, and this many chunks, in
 * all, allocate without the check: its queries would cost more than the
 * memory is worth. */
#define VS_LOAD_TRUST_BYTES ((uint64_t)64 << 20)
#define VS_LOAD_TRUST_CHUNKS ((uint64_t)16384)

/* deflate's largest ratio: a 258-byte match in as little as 2 bits. */
#define VS_INFLATE_MAX_RATIO 1032

static const char evidence_sql[] =
    "SELECT count(*), min(tc.seq), max(tc.seq), "
    "sum(CASE WHEN c.raw_bytes BETWEEN 1 AND ?2 THEN c.raw_bytes END), "
    "sum(c.id IS NULL OR c.elem_size IS NOT ?3 OR "
    "c.raw_bytes NOT BETWEEN 1 AND ?2 OR NOT ("
    "(c.codec = 0 AND c.raw_bytes = length(c.data)) OR "
    "(c.codec = 1 AND c.raw_bytes <= ?4 * length(c.data)))) "
    "FROM tensor_chunks tc LEFT JOIN chunks c ON c.id = tc.chunk_id "
    "WHERE tc.tensor_id = ?1";

static int bind_item(sqlite3_stmt *st, const vs__load_item *it)
{
    sqlite3_reset(st);
    int b = sqlite3_bind_int64(st, 1, it->tensor_id);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 2, (int64_t)VS_CHUNK_MAX);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 3, (int64_t)it->esize);
    if (b == SQLITE_OK)
        b = sqlite3_bind_int64(st, 4, VS_INFLATE_MAX_RATIO);
    return b;
}

/* VS_ECORRUPT unless its chunk rows account for its bytes. A size out of
 * range is left out of the sum (which cannot then overflow) and counted
 * as bad. */
static int check_item(sqlite3 *db, sqlite3_stmt *st, const char *path,
                      const vs__load_item *it)
{
    int b = bind_item(st, it);
    if (b != SQLITE_OK)
        return vs__store_bindfail(st, b, "cannot read checkpoint file", path);
    int s = sqlite3_step(st);
    if (s != SQLITE_ROW)
        return vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
    int64_t rows = sqlite3_column_int64(st, 0);
    int64_t lo = sqlite3_column_int64(st, 1);
    int64_t hi = sqlite3_column_int64(st, 2);
    int64_t sum = sqlite3_column_int64(st, 3);
    int64_t bad = sqlite3_column_int64(st, 4);
    int ok = (uint64_t)rows == (uint64_t)it->n_chunks && lo == 0 &&
             hi == rows - 1 && sum >= 0 &&
             (uint64_t)sum == (uint64_t)it->nbytes && bad == 0;
    if (ok) {
        sqlite3_reset(st);
        return VS_OK;
    }
    return vs__fail(VS_ECORRUPT,
                    "checkpoint file %s is corrupt: tensor %s at step %lld: "
                    "its %lld chunk rows do not hold the %zu bytes in %zu "
                    "chunks its row declares",
                    path, it->key, (long long)it->step, (long long)rows,
                    it->nbytes, it->n_chunks);
}

int vs__load_check_evidence(sqlite3 *db, const char *path,
                            const vs__load_item *items, size_t n)
{
    uint64_t bytes = 0, chunks = 0;
    for (size_t i = 0; i < n; i++) {
        bytes += items[i].nbytes;
        chunks += items[i].n_chunks;
        if (bytes < items[i].nbytes || chunks < items[i].n_chunks) {
            bytes = UINT64_MAX; /* wrapped: surely too many */
            break;
        }
    }
    if (bytes <= VS_LOAD_TRUST_BYTES && chunks <= VS_LOAD_TRUST_CHUNKS)
        return VS_OK;
    sqlite3_stmt *st = NULL;
    int rc = vs__store_prepare(db, evidence_sql, &st, path);
    for (size_t i = 0; i < n && rc == VS_OK; i++)
        if (items[i].n_chunks > 0)
            rc = check_item(db, st, path, &items[i]);
    sqlite3_finalize(st);
    return rc;
}
