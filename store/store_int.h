/* varstore: checkpoint store internals (chunk codec, thread pool, file
 * access). Shared by the files of store/ and by the tests. Not installed. */
#ifndef VS_STORE_INT_H
#define VS_STORE_INT_H

#include <sqlite3.h>
#include <string.h>

#include "vs_common.h"

/* vs__realloc of n elements of size bytes each; NULL (the caller reports
 * VS_ENOMEM) also when n * size overflows. */
static inline void *vs__realloc_n(void *p, size_t n, size_t size)
{
    size_t bytes;
    if (vs__mul_size(n, size, &bytes) != 0)
        return NULL;
    return vs__realloc(p, bytes);
}

/* Room for element n of an array of size-byte items: returns p when
 * n < *cap, else p grown to twice *cap (first when empty) with *cap
 * updated, or NULL with the VS_ENOMEM message set (p is then untouched and
 * still the caller's to free). */
static inline void *vs__grow(void *p, size_t n, size_t *cap, size_t size,
                             size_t first)
{
    size_t nc;
    void *q;
    if (n < *cap)
        return p;
    if (*cap > SIZE_MAX / 2) {
        vs__fail(VS_ENOMEM, "out of memory");
        return NULL;
    }
    nc = *cap ? *cap * 2 : first;
    q = vs__realloc_n(p, nc, size);
    if (q == NULL) {
        vs__fail(VS_ENOMEM, "out of memory");
        return NULL;
    }
    *cap = nc;
    return q;
}

/* ---- the file ---------------------------------------------------------- */

/* PRAGMA application_id of every varstore checkpoint file: "VaSt". */
#define VS_APP_ID 0x56615374
/* PRAGMA user_version: the schema version this library writes. */
#define VS_SCHEMA_VERSION 3
/* Page size of new files: large pages make tensor blobs fast to write
 * and read; 32 KiB wastes half of what 64 KiB does in each blob's last
 * overflow page (docs/FORMAT.md, "Choices"). */
#define VS_PAGE_SIZE 32768
/* Default chunk size (raw bytes) and the largest accepted. */
#define VS_CHUNK_DEFAULT ((size_t)1 << 20)
#define VS_CHUNK_MAX ((size_t)256 << 20)
#define VS_BUSY_DEFAULT_MS 10000

/* Chunk codecs (chunks.codec). */
#define VS_CHUNK_RAW 0
#define VS_CHUNK_SHUFFLE_ZLIB 1
/* Plane methods inside a shuffle-zlib chunk. */
#define VS_PLANE_STORED 0
#define VS_PLANE_ZLIB 1

/* How a file is opened. */
enum { VS_OPEN_READ = 0, VS_OPEN_WRITE = 1, VS_OPEN_CREATE = 2 };

/* Opens the checkpoint file at path. READ and WRITE need an existing,
 * valid varstore file (application_id, schema version and tables are
 * checked before anything else); CREATE also makes a new file when path
 * does not exist (atomically: built aside, then linked into place).
 * busy_ms is the busy timeout. On failure *out is NULL and the message
 * names the file. */
int vs__store_open(const char *path, int mode, int busy_ms, sqlite3 **out);
void vs__store_close(sqlite3 *db);
/* (store/file/) The steps of vs__store_open. vs__store_check_header
 * checks the first 100 bytes before SQLite sees the file (VS_ENOTFOUND:
 * missing) and gives its page size (page_size may be NULL);
 * vs__store_create_file makes a new file atomically; open_plain is
 * sqlite3_open_v2 on a path that is never read as a URI. */
int vs__store_check_header(const char *path, uint32_t *page_size);
/* The same, and *rollback: 1 when the header says the file is in
 * rollback-journal mode (bytes 18 and 19 both 1), 0 otherwise (WAL). Read
 * without any lock: a writer may switch the mode at any time. */
int vs__store_check_header_mode(const char *path, uint32_t *page_size,
                                int *rollback);
int vs__store_create_file(const char *path);
/* The steps of vs__store_create_file, for a save that fills the new file
 * before it has its name: create_aside builds the empty file (schema,
 * identity) under *tmp, a name next to path, without syncing it;
 * link_aside syncs tmp, links it to path and syncs the directory, or
 * sets *exists when path appeared meanwhile (VS_OK, nothing linked);
 * drop_aside removes tmp and its journal. link_aside and drop_aside free
 * tmp. reap_aside removes what killed writers left beside path: files of
 * that pattern whose pid runs no process here and that have not changed
 * for a minute. */
int vs__store_create_aside(const char *path, char **tmp);
int vs__store_link_aside(char *tmp, const char *path, int *exists);
void vs__store_drop_aside(char *tmp);
void vs__store_reap_aside(const char *path);
int vs__store_open_plain(const char *path, sqlite3 **db, int flags);
/* A connection that never writes the file (SQLite's result): read-only
 * through SQLite's locks and WAL, or immutable (no locks, no side files)
 * when nothing can write the file and it has no WAL. */
int vs__store_open_reader(const char *path, sqlite3 **db);
/* (store/file/busy.c) Sets db's busy handler: retries every 1-2 ms for
 * up to busy_ms (0: none), where SQLite's sqlite3_busy_timeout sleeps up
 * to 100 ms between tries. SQLite's result. */
int vs__store_busy(sqlite3 *db, int busy_ms);
/* How many waits for a lock this thread began through that handler:
 * each is a transaction that found the file held (tests count them). */
int64_t vs__store_busy_waits(void);
/* The monotonic clock in microseconds (-1 if it cannot be read). */
int64_t vs__now_us(void);
/* VS_ECORRUPT when the file's -wal was not written by this file (its page
 * size, or meta 'file_id' seen through it, differ from the file's own);
 * db reads the file through its WAL and must be read-only. */
/* Whether path has a -wal file with at least a header in it. */
int vs__store_wal_present(const char *path);
int vs__store_check_wal_owner(sqlite3 *db, const char *path,
                              uint32_t page_size);
/* (store/file/integrity.c) PRAGMA user_version. */
int vs__store_version(sqlite3 *db, const char *path, int *ver);
/* tensors.meta_crc: CRC-32 of name, NUL, dtype, NUL, shape (JSON text). */
uint32_t vs__store_meta_crc(const char *name, const char *dtype,
                            const char *shape);
/* checkpoints.tensors_crc: CRC-32 over the step's tensor names in name
 * order, each followed by its NUL; this adds one name. */
uint32_t vs__store_names_crc_add(uint32_t crc, const char *name);
/* VS_ECORRUPT when step's tensor rows do not match its checkpoint row
 * (count, and from version 2 the names' CRC). */
int vs__store_check_step(sqlite3 *db, const char *path, int64_t step);
/* Sets step's tensors_crc and n_tensors from its rows as they are. */
int vs__store_seal_step(sqlite3 *db, const char *path, int64_t step);
/* VS_ECORRUPT when the file holds a trigger or a view the schema does not
 * define, or SQL vs__store_check_schema_sql refuses. */
int vs__store_check_sql_objects(sqlite3 *db, const char *path);
/* VS_ECORRUPT when, from version 3 (ver, the file's user_version), the
 * views tensors and latest are not the schema's text: readers query
 * tensors, and a view of the file's own could give other rows or never
 * end (a recursive one). */
int vs__store_check_views(sqlite3 *db, const char *path, int ver);
/* (store/file/schema_sql.c) SQL the file would run on our rows:
 * VS_ECORRUPT when a table of the schema holds a generated column
 * (_table_sql, what a reader checks), or (_schema_sql, writers and
 * verify) also a CHECK constraint or an expression default, or an index
 * is not the schema's own text. */
int vs__store_check_table_sql(sqlite3 *db, const char *path);
int vs__store_check_schema_sql(sqlite3 *db, const char *path);
/* (store/admin/verify_rows.c) vs_verify's checks of rows no read of a
 * listed tensor meets (negative steps, empty names, rows of no
 * checkpoint, name or tensor, chunks whose stored_bytes is not their
 * data's length): note gets one VS_ECORRUPT message per kind found. */
typedef void (*vs__verify_note_fn)(void *ctx, const char *why);
int vs__verify_rows(sqlite3 *db, const char *path, vs__verify_note_fn note,
                    void *ctx);
/* Brings an older file to VS_SCHEMA_VERSION (inside a write
 * transaction); nothing for a current one. */
int vs__store_upgrade(sqlite3 *db, const char *path);
/* (store/file/names.c, schema version 3) Adds name to names unless it
 * is there; put is a statement of VS_SQL_PUT_NAME (file/schema.h).
 * Errors read "<what> <path>: ...". */
int vs__store_put_name(sqlite3 *db, sqlite3_stmt *put, const char *name,
                       const char *what, const char *path);
/* Deletes the names that only step's tensor rows use (before the rows). */
int vs__store_drop_step_names(sqlite3 *db, const char *path, int64_t step);
/* Deletes every name no tensor row uses. */
int vs__store_drop_unused_names(sqlite3 *db, const char *path);
/* Version 2 -> 3 (inside a write transaction): the tensors table becomes
 * names + tensor_rows and the view tensors. */
int vs__store_upgrade_names(sqlite3 *db, const char *path);
/* (store/file/writeback.c) Starts the disk's writes of a file's dirty
 * pages every VS_WRITEBACK_BYTES a save writes, so that the commit's fsync
 * has little left to wait for. A hint: fd -1 (none found, or not Linux)
 * does nothing. Every MiB: a 5 MB save into a new file, in turns with
 * 4 MiB, 13.2 -> 10.8 ms (raw); 500 MB no slower. */
#define VS_WRITEBACK_BYTES ((uint64_t)1 << 20)
typedef struct {
    int fd;           /* SQLite's descriptor of the file; never closed here */
    uint64_t pending; /* bytes written since the last start */
} vs__writeback;
void vs__writeback_init(vs__writeback *w, sqlite3 *db, const char *path);
void vs__writeback_add(vs__writeback *w, uint64_t bytes);
/* Writes started since the process began (for tests). */
size_t vs__writeback_starts(void);
/* A write connection's journal mode and synchronous setting. */
int vs__store_write_durability(sqlite3 *db, const char *path, int busy_ms);
/* Maps the connection's last SQLite error to a VS code and message:
 * "<what> <path>: <sqlite message>". */
int vs__store_sqlfail(sqlite3 *db, int src, const char *what,
                      const char *path);
/* A failed sqlite3_bind_* (b: its result code). Every bind in store/ is
 * checked with one pattern:
 *     int b = sqlite3_bind_x(st, 1, ...);
 *     if (b == SQLITE_OK)
 *         b = sqlite3_bind_y(st, 2, ...);
 *     if (b != SQLITE_OK)
 *         return vs__store_bindfail(st, b, "<what>", path);
 * Resets st and clears its bindings (nothing half-bound is ever stepped)
 * and returns the error "<what> <path>: <sqlite message>" (VS_ENOMEM for
 * SQLITE_NOMEM, VS_ERROR for SQLITE_TOOBIG / SQLITE_RANGE).
 * (sqlite3_reset and sqlite3_finalize results are not checked in store/:
 * they only repeat the error of the statement's last step, which every
 * caller checks where it steps.) */
int vs__store_bindfail(sqlite3_stmt *st, int b, const char *what,
                       const char *path);
/* Ends the read transaction of db (COMMIT; nothing to do outside one).
 * A failure is an error naming path (the transaction is rolled back). */
int vs__store_end_read(sqlite3 *db, const char *path);
/* Ends the read transaction and closes db; returns rc, or the failure
 * to end the transaction when rc was VS_OK (after an error, that failure
 * cannot change what the caller reports). */
int vs__store_close_read(sqlite3 *db, const char *path, int rc);
/* Commits (when rc is VS_OK; else rolls back) and closes db; returns rc
 * or the commit's failure. */
int vs__store_commit_close(sqlite3 *db, const char *path, int rc);
/* Opens path (VS_OPEN_WRITE or VS_OPEN_CREATE) and begins a write
 * transaction with the default busy timeout (*db NULL on failure). */
int vs__store_open_write(const char *path, int mode, sqlite3 **db);
/* Opens path (VS_OPEN_CREATE) for a save with busy timeout busy_ms. A
 * rollback-journal file that keeps its journal mode is checked in the
 * save's write transaction, begun here (*in_tx 1): one lock of the file,
 * not one per check and one more to write. Otherwise (*in_tx 0) as
 * vs__store_open: the caller begins the write transaction. nosync: the
 * file is a new one that has no name yet (vs__store_create_aside), whose
 * commits need no sync. */
int vs__store_open_save(const char *path, int busy_ms, int nosync,
                        sqlite3 **out, int *in_tx);
/* Steps st, which must complete (SQLITE_DONE), and finalizes it; b is the
 * result of its binds (st is not stepped unless SQLITE_OK). Errors read
 * "cannot update checkpoint file <path>: ...". */
int vs__store_step_done(sqlite3 *db, sqlite3_stmt *st, int b,
                        const char *path);
/* Opens path for reading and begins a read transaction (*db NULL on
 * failure). */
int vs__store_open_read(const char *path, sqlite3 **db);
/* The same, except that a rollback-journal file (as its header says)
 * that a writer holds is not waited for: *pending is then 1, no read
 * transaction is open, and the open's checks are left to the caller's
 * first read transaction (vs__store_read_checks). */
int vs__store_open_read_try(const char *path, sqlite3 **db, int *pending);
/* A reader's checks (identity, version, tables) and its cache size, as
 * its open runs them, in the caller's open read transaction: also its
 * first statement, which takes the file's lock. */
int vs__store_read_checks(sqlite3 *db, const char *path);
/* BEGIN IMMEDIATE with the busy timeout; VS_EBUSY on timeout. */
int vs__store_begin_write(sqlite3 *db, const char *path, int busy_ms);
/* Its two steps: the BEGIN IMMEDIATE alone (VS_EBUSY on timeout), then
 * what every write transaction writes first (meta 'file_id' and
 * 'writes', and a schema upgrade); rolled back on failure. */
int vs__store_begin_immediate(sqlite3 *db, const char *path, int busy_ms);
int vs__store_write_marks(sqlite3 *db, const char *path);
int vs__store_exec(sqlite3 *db, const char *sql, const char *path);
int vs__store_prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st,
                      const char *path);
/* Resolves step (VS_LATEST: newest) to an existing checkpoint. */
int vs__store_resolve_step(sqlite3 *db, const char *path, int64_t step,
                           int64_t *out);
/* Deletes the rows of checkpoint step (not its chunks), and the names
 * no other step uses. */
int vs__store_delete_step_rows(sqlite3 *db, const char *path, int64_t step);
/* Saves in progress (file/saves.c): a large save's meta rows
 * 'saving:<token>' and 'saving:<token>.<n>' pin the chunks it committed
 * before its checkpoint. _put writes one row naming ids; _drop deletes
 * key and the rows key.<n>. */
int vs__store_saving_key(char out[40]);
int vs__store_saving_put(sqlite3 *db, const char *path, const char *key,
                         const int64_t *ids, size_t n);
int vs__store_saving_drop(sqlite3 *db, const char *path, const char *key);
/* Drops the rows of saves whose writer is gone (*reaped: how many). */
int vs__store_reap_saves(sqlite3 *db, const char *path, int *reaped);
/* Deletes every chunk no tensor refers to and no save in progress pins
 * (reaping the rows of gone writers first); returns bytes freed in *freed
 * (may be NULL). The pages stay free in the file, for reuse. */
int vs__store_free_orphans(sqlite3 *db, const char *path, int64_t *freed);
/* The file's size in SQLite's pages, as of the open transaction. */
int vs__store_file_bytes(sqlite3 *db, const char *path, int64_t *bytes);
/* Runs a "PRAGMA journal_mode[=...]" and gives its one result, lower
 * case ("wal", "delete", ...). */
int vs__store_journal_pragma(sqlite3 *db, const char *path, const char *sql,
                             char out[16]);
/* The file's declared journal mode, meta 'journal': "wal" or "delete";
 * "" when the row is missing or unknown (the header's mode rules). */
int vs__store_declared_journal(sqlite3 *db, const char *path, char out[16]);
/* In an open transaction: *kept 1 when the journal mode is DELETE and
 * the file declares DELETE or nothing, so that a writer needs no change
 * of mode (vs__store_write_durability) and keeps synchronous=EXTRA. */
int vs__store_journal_kept(sqlite3 *db, const char *path, int *kept);
/* Sets meta 'journal' to mode ("wal" or "delete"). */
int vs__store_declare_journal(sqlite3 *db, const char *path, const char *mode);
/* Before a large save, outside a transaction: a WAL file that no other
 * connection has open goes to rollback-journal mode under an exclusive
 * lock (*solo = 1) so its pages are written once. After the commit,
 * vs__store_solo_end puts WAL back unless the file now declares the
 * rollback journal; the lock ends with the connection. */
int vs__store_solo_begin(sqlite3 *db, const char *path, int busy_ms,
                         int *solo);
void vs__store_solo_end(sqlite3 *db, const char *path);

/* TF's DataTypeString ("float", "double", "half", ...). */
const char *vs__dtype_tf_string(vs_dtype dt);
/* Parses "[2,3]" (JSON array of non-negative integers) into ndim/shape;
 * -1 if malformed. */
int vs__parse_shape_json(const char *s, int *ndim, int64_t *shape);
size_t vs__elem_size(vs_dtype dt);
/* "float32", ... (as vs_dtype_name) and back; -1 for an unknown name. */
const char *vs__dtype_str(vs_dtype dt);
int vs__dtype_parse(const char *s, vs_dtype *out);
/* The folder of path, a new string: "." when path has no '/', "/" for
 * "/name"; NULL when out of memory. */
char *vs__store_dir_of(const char *path);
/* Fresh anonymous memory of n bytes (zero), for vs__big_free. huge: advise
 * huge pages, for scratch that a process allocates and frees again soon
 * (a restore's decode buffer: ~15 % faster restores of a 45 MB model
 * repeated in one process). Memory touched once in a process's life (a
 * background save's snapshot) is faster in 4 KiB pages on the project's
 * KVM machines: vs__aligned_alloc (ops/buffers.c) says why. */
void *vs__big_alloc(size_t n, int huge);
void vs__big_free(void *p, size_t n);
/* "2026-11-25T17:10:28.123Z" for now; also returns seconds since 1970. */
double vs__now_iso(char buf[32]);

/* ---- chunk codec ------------------------------------------------------- */

/* CRC-32 (ISO-HDLC, as zlib's crc32) of n bytes, continuing crc
 * (store/crc.c): carry-less multiply folding where the CPU has PCLMULQDQ,
 * else zlib. vs__crc32_zlib always uses zlib (the tests compare the two);
 * vs__crc32_has_clmul says which one vs__crc32 uses. */
uint32_t vs__crc32(uint32_t crc, const void *p, size_t n);
uint32_t vs__crc32_zlib(uint32_t crc, const void *p, size_t n);
int vs__crc32_has_clmul(void);
/* Decodes a zlib stream made of literal-only deflate blocks (what the
 * codec's Z_HUFFMAN_ONLY planes are) into exactly out_len bytes
 * (store/inflate.c): 0 when done, -1 when the stream is anything else or
 * damaged (out may then be partly written; decode it with zlib). The
 * Adler-32 trailer is not checked: the chunk CRC covers the bytes. */
int vs__inflate_literals(const unsigned char *in, size_t in_len,
                         unsigned char *out, size_t out_len);
/* The 8 bytes at p as a little-endian integer (one load on a
 * little-endian host). */
static inline uint64_t vs__load_le64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, sizeof v);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}
/* Whether the CPU has AVX2 (store/codec/cpu.c; 0 off x86). */
int vs__cpu_avx2(void);
/* Adler-32 of p[0..n) continuing from adler (1 to start): the value
 * zlib's adler32_z gives, faster with AVX2 (store/codec/adler.c). */
uint32_t vs__adler32(uint32_t adler, const void *p, size_t n);
/* The byte histogram of p[0..n) (n < 2^32) (store/codec/deflate.c). */
void vs__byte_hist(const unsigned char *p, size_t n, uint32_t hist[256]);
/* A plane's byte histogram, whole and by segments of seg_len bytes (the
 * last may be shorter): where the literal encoder may start a block. */
#define VS_HIST_SEGS 16
typedef struct {
    uint32_t all[256];
    uint32_t seg[VS_HIST_SEGS][256];
    size_t seg_len;
    int n_seg; /* >= 1 */
} vs__plane_hist;
void vs__plane_hist_count(vs__plane_hist *h, const unsigned char *p,
                          size_t n);
/* Writes src[0..n) (1 <= n < 2^32) at dst as a zlib stream of literals
 * only, what zlib's Z_HUFFMAN_ONLY deflate makes (store/codec/deflate.c),
 * with Huffman codes built from h (vs__plane_hist_count of src). Returns
 * the stream's length, or 0 (dst then undefined) when it would take more
 * than cap bytes; never writes past dst + cap. Deterministic. */
size_t vs__deflate_literals(const unsigned char *src, size_t n,
                            const vs__plane_hist *h, unsigned char *dst,
                            size_t cap);
uint32_t vs__crc32_combine(uint32_t crc1, uint32_t crc2, size_t len2);
/* A stored CRC column: 0 with *crc set when it holds an integer in
 * 0..2^32-1, -1 otherwise (a damaged file: the value is never reduced
 * modulo 2^32). */
static inline int vs__crc_column(sqlite3_stmt *st, int col, uint32_t *crc)
{
    int64_t v = sqlite3_column_int64(st, col);
    if (sqlite3_column_type(st, col) != SQLITE_INTEGER || v < 0 ||
        v > (int64_t)UINT32_MAX)
        return -1;
    *crc = (uint32_t)v;
    return 0;
}
/* A stored chunk codec column: its value when it holds an integer codec
 * number (0 or 1; vs__chunk_decode_ws names any other), -1 otherwise: a
 * value outside int is never truncated into a valid codec. */
static inline int vs__codec_column(sqlite3_stmt *st, int col)
{
    int64_t v = sqlite3_column_int64(st, col);
    if (sqlite3_column_type(st, col) != SQLITE_INTEGER || v < 0 ||
        v > 255)
        return -1;
    return (int)v;
}
/* The 64-bit content hash used to find dedup candidates (FORMAT.md). */
uint64_t vs__hash64(const void *p, size_t n);
/* The same hash a block at a time: vs__hash64_blocks takes the whole
 * 32-byte blocks of its n bytes and returns how many bytes that is; the
 * rest (under 32 bytes) can only go to vs__hash64_final, as the last. */
typedef struct {
    uint64_t h[4];
    uint64_t n; /* bytes taken so far */
} vs__hash_state;
void vs__hash64_init(vs__hash_state *s);
size_t vs__hash64_blocks(vs__hash_state *s, const void *p, size_t n);
uint64_t vs__hash64_final(const vs__hash_state *s, const void *tail,
                          size_t n);

typedef struct {
    int level;    /* 0: Huffman-only (the default), 1-9: zlib
                     level with the default strategy */
    int raw_only; /* VS_CODEC_RAW */
} vs__codec_opts;

/* A growable byte buffer, reused across the chunks of one call (a fresh
 * buffer costs a page fault per page on first touch). */
typedef struct {
    unsigned char *p;
    size_t cap;
} vs__buf;
int vs__buf_reserve(vs__buf *b, size_t n); /* VS_ENOMEM, b unchanged */
void vs__buf_free(vs__buf *b);
/* Room an encoded chunk of n bytes may need. */
size_t vs__chunk_bound(size_t n, size_t elem_size);

/* A worker's reusable codec state: plane scratch and zlib streams. */
typedef struct {
    vs__buf planes;
    vs__buf blk;    /* vs__chunk_take's block of the caller's bytes */
    void *def;      /* z_stream for deflate, or NULL */
    int def_level;  /* settings def was made with */
    void *inf;      /* z_stream for inflate, or NULL */
    int strict;     /* nonzero: a plane decoded on the fast path has its
                       Adler-32 trailer checked too, as zlib does (for
                       verify and dedup; restore relies on the chunk CRC) */
} vs__ws;
void vs__ws_free(vs__ws *w);

/* Encodes one chunk of n raw bytes (elements of elem_size bytes; n is a
 * multiple) into out (grown as needed), with ws as scratch: nothing is
 * allocated once the buffers are large enough. *codec is VS_CHUNK_*,
 * *out_len the encoded size. Deterministic. Errors go to err (cap
 * bytes). vs__chunk_decode_ws decodes as vs__chunk_decode, with ws. */
int vs__chunk_encode_ws(const void *raw, size_t n, size_t elem_size,
                        const vs__codec_opts *o, vs__ws *ws, vs__buf *out,
                        int *codec, size_t *out_len, char *err, size_t cap);
/* The same for a chunk whose planes vs__chunk_take left in ws->planes. */
int vs__chunk_encode_planes(size_t n, size_t elem_size,
                            const vs__codec_opts *o, vs__ws *ws,
                            vs__buf *out, int *codec, size_t *out_len,
                            char *err, size_t cap);
/* Shuffles the len bytes at src (whole elements of e bytes) into planes
 * of m bytes each, at byte at of each plane. */
void vs__shuffle_at(const unsigned char *src, size_t len, size_t e,
                    unsigned char *planes, size_t m, size_t at);
/* Whether planes (e planes of n / e bytes) hold the bytes raw, shuffled. */
int vs__planes_equal(const unsigned char *planes, const unsigned char *raw,
                     size_t n, size_t e);

/* Tests: planes the default level handed to zlib's deflate after the
 * literal encoder declined them, since the process began. */
size_t vs__codec_zlib_retries(void);
/* Planes whose full byte histogram the default codec counted (those a
 * sample did not find incompressible), since the process began (for
 * tests). */
size_t vs__codec_full_hists(void);
int vs__chunk_decode_ws(int codec, size_t elem_size, const unsigned char *blob,
                        size_t blob_len, void *dst, size_t raw_len,
                        vs__ws *ws, char *err, size_t cap);

/* Decodes a chunk into dst (exactly raw_len bytes). VS_ECORRUPT (with the
 * reason in err) when the stored bytes do not decode to exactly raw_len
 * bytes. The CRC is the caller's job. */
int vs__chunk_decode(int codec, size_t elem_size, const unsigned char *blob,
                     size_t blob_len, void *dst, size_t raw_len, char *err,
                     size_t cap);

/* Per-tensor statistics over the finite values of a float tensor; merged
 * chunk by chunk in order (deterministic). */
typedef struct {
    int64_t n;      /* finite values */
    double mean, m2, min, max;
    int64_t n_nan, n_inf;
    int scale;      /* mean and M2 are of the values times 2^-scale: 0
                       unless float64 values near DBL_MAX would overflow
                       the sums, or values below 2^-500 underflow them
                       (vs__stats_mean, vs__stats_std) */
} vs__stats;
void vs__stats_init(vs__stats *s);
/* Statistics are taken a block of this many bytes at a time (a whole
 * number of elements of every float type, and of 32-byte hash blocks). */
#define VS_STATS_BLOCK ((size_t)16 << 10)
/* Stats of n bytes of dtype dt (float types only), merged into s. */
void vs__stats_chunk(vs_dtype dt, const void *p, size_t nbytes, vs__stats *s);
/* The same, a piece at a time: vs__stats_add of the pieces of a chunk in
 * order, each a multiple of VS_STATS_BLOCK bytes but the last, into c
 * (from vs__stats_init), then vs__stats_merge(s, c), gives the bits of
 * vs__stats_chunk of the whole chunk. */
void vs__stats_add(vs_dtype dt, const void *p, size_t nbytes, vs__stats *c);
/* float32 without NaN or Inf, fast (codec/stats_f32.c): 0, changing
 * nothing, when the chunk has one (the caller takes the general loop). */
int vs__stats_f32_finite(const float *a, size_t m, vs__stats *c);
/* Tests: 1 keeps vs__stats_f32_finite on its scalar loop (which gives
 * the same bits as the vector one); 0, the default, lets it choose. */
void vs__stats_f32_scalar_only(int on);
void vs__stats_merge(vs__stats *acc, const vs__stats *b);
/* The mean and standard deviation of the finite values (s->n > 0),
 * scaled back (stats.c); finite, as the values are. */
double vs__stats_mean(const vs__stats *s);
double vs__stats_std(const vs__stats *s);

/* A chunk of the caller's bytes, read once (store/codec/take.c). */
typedef struct {
    uint64_t hash;    /* vs__hash64, if asked */
    uint32_t crc;     /* vs__crc32 */
    vs__stats stats;  /* vs__stats_chunk's, if asked (from vs__stats_init) */
} vs__taken;
#define VS_TAKE_HASH 1
#define VS_TAKE_STATS 2
/* Copies n bytes at src (elements of e bytes, dtype dt) into ws->planes,
 * shuffled, reading each byte of src once, and sets t from the same
 * copy: its CRC, and with flags its hash and statistics. VS_ENOMEM. */
int vs__chunk_take(const void *src, size_t n, size_t e, vs_dtype dt,
                   int flags, vs__ws *ws, vs__taken *t);


/* ---- thread pool ------------------------------------------------------- */

/* A job step: returns VS_OK or a VS code; work() writes its message to
 * err (cap bytes) since it may run on another thread; prepare() and
 * consume() run on the calling thread and set the message themselves. */
typedef int (*vs__job_fn)(void *ctx, size_t k, char *err, size_t cap);

/* Runs n jobs: prepare(k) and consume(k) on the calling thread in order k
 * = 0..n-1, work(k) on `threads` worker threads (inline when threads <= 1),
 * with at most `window` jobs prepared but not consumed. prepare/consume
 * may be NULL. Stops at the first error and returns it (with its message
 * on this thread). */
int vs__pool_run(int threads, size_t n, size_t window, void *ctx,
                 vs__job_fn prepare, vs__job_fn work, vs__job_fn consume);
/* Index of the pool worker running the current work() call (0 inline). */
int vs__pool_worker(void);
/* threads 0 -> online cores (at least 1, at most 64). */
int vs__pool_threads(int threads);
/* 1 (the jobs run inline on the calling thread) when a run's bytes are
 * at most inline_max, else threads: a job handed to a worker costs a
 * wake-up and a wait on each side (tens of microseconds), more than the
 * work of a small chunk. */
int vs__pool_threads_for(int threads, uint64_t bytes, uint64_t inline_max);
/* Jobs worker threads took since the process began (for tests). */
size_t vs__pool_handoffs(void);

/* ---- progress ----------------------------------------------------------- */

/* Raw bytes between two progress reports (the public "about every MiB"). */
#define VS_PROGRESS_STEP ((uint64_t)1 << 20)

typedef void (*vs__progress_fn)(void *ctx, uint64_t done, uint64_t total);

/* A caller's progress callback and where it stands. Used on the calling
 * thread only (from prepare/consume, never from work()). */
typedef struct {
    vs__progress_fn fn; /* NULL: reports are dropped */
    void *ctx;
    uint64_t done, total, last; /* last: done at the last report */
    int ended;                  /* the done == total call was made */
} vs__progress;

void vs__progress_init(vs__progress *p, vs__progress_fn fn, void *ctx,
                       uint64_t total);
/* Adds n bytes (done never passes total) and reports when at least
 * VS_PROGRESS_STEP bytes were added since the last report and done is
 * still below total. p may be NULL. */
void vs__progress_add(vs__progress *p, uint64_t n);
/* The last report: done = total, once. p may be NULL. */
void vs__progress_end(vs__progress *p);

/* ---- reading tensors ---------------------------------------------------- */

typedef struct {
    const char *key;       /* checkpoint key (in) */
    unsigned char *dst;    /* nbytes of destination, set before decode */
    /* from the tensors row (vs__load_lookup): */
    int64_t step, tensor_id;
    vs_dtype dtype;
    int ndim;
    int64_t shape[VS_MAX_DIMS];
    size_t esize, nbytes, n_chunks;
    uint32_t crc;
    int in_place; /* dst is the variable's own buffer (vs__restore_vars) */
} vs__load_item;

/* (store/restore/prefault.c) A helper thread that makes the items'
 * destinations resident (MADV_POPULATE_WRITE), in order, while the load
 * reads into them: the page faults run beside the reads instead of in
 * them. NULL (nothing started) for a load of less than 4 MiB, on fewer
 * than two threads, off Linux, or when the thread cannot start.
 * vs__prefault_stop stops it and waits for it (NULL: nothing). */
typedef struct vs__prefault vs__prefault;
vs__prefault *vs__prefault_start(const vs__load_item *items, size_t n,
                                 int threads);
void vs__prefault_stop(vs__prefault *pf);
/* For tests: bytes populated and helpers started since the process
 * began; while vs__prefault_finish is nonzero, vs__prefault_stop lets a
 * helper finish its work instead of stopping it (how far it gets before
 * the load ends is up to the scheduler). */
size_t vs__prefault_bytes(void);
size_t vs__prefault_starts(void);
extern int vs__prefault_finish;

/* Where one chunk of a tensor is and what it holds (tensor_chunks and
 * chunks rows). */
typedef struct {
    int64_t chunk_id;
    size_t off, len; /* its raw bytes within the tensor */
    int codec;
    uint32_t crc;
} vs__chunk_ref;
/* (store/restore/chunk_list.c) The chunk rows of one item: _prepare
 * makes the query, _item runs it for it, into refs (its n_chunks of
 * them, in seq order), checked against its tensor row, adding to *done
 * the refs read. On a failure (VS_ECORRUPT naming tensor, step and chunk,
 * or a query's) the failure belongs to ref *done (counting from refs). */
int vs__load_chunk_list_prepare(sqlite3 *db, const char *path,
                                sqlite3_stmt **st);
int vs__load_chunk_list_item(sqlite3 *db, sqlite3_stmt *st, const char *path,
                             const vs__load_item *it, vs__chunk_ref *refs,
                             size_t *done);

/* (store/restore/read_tx.c) Short read transactions. A read of many
 * chunks from a rollback-journal file ends its read transaction once it
 * has read VS_READ_TX_BYTES of stored bytes or held it VS_READ_TX_MS, so
 * that a save is never kept from committing for longer, and begins the
 * next one by checking the step is still the one it began with. */
#define VS_READ_TX_BYTES ((uint64_t)4 << 20)
#define VS_READ_TX_MS 5.0
/* A step's checkpoints row: what tells it from a step saved again. */
typedef struct {
    char created_at[64];
    double created_unix;
    int64_t n_tensors, raw_bytes, stored_bytes;
} vs__step_id;
typedef struct {
    sqlite3 *db;
    const char *path;
    int64_t step;
    int renew;      /* 0: one transaction throughout (WAL, or none open) */
    vs__step_id id; /* as the read began */
    uint64_t bytes; /* stored bytes read in this transaction */
    double t0;      /* when it began (ms, monotonic) */
} vs__read_tx;
/* Inside the read's (open) first transaction: whether to renew it, and
 * the step's identity. */
int vs__read_tx_init(vs__read_tx *t, sqlite3 *db, const char *path,
                     int64_t step);
/* Nonzero when the transaction should be renewed before the next read. */
int vs__read_tx_due(const vs__read_tx *t);
/* Ends the read transaction and begins the next (the caller has closed
 * its statements and blob handles); VS_ECHANGED "checkpoint N of F was
 * deleted or replaced while it was being read" when the step is gone or
 * is another save's. */
int vs__read_tx_renew(vs__read_tx *t);
/* Tests only: called between two read transactions of a read (NULL:
 * nothing), on the reading thread, with no transaction open. */
extern void (*vs__read_gap_hook)(const char *path);
/* (store/save/batch.c) How long a batch of a batched save may hold the
 * file's exclusive lock, in microseconds, before it commits
 * (VS_SAVE_BATCH_US; tests set it). */
extern int64_t vs__save_batch_us;

/* Finds each item's tensor row at step: VS_ENOTFOUND "Key %s not found in
 * checkpoint", VS_ECORRUPT when its sizes do not add up, or when its
 * chunk rows do not account for them (vs__load_check_evidence). */
int vs__load_lookup(sqlite3 *db, const char *path, int64_t step,
                    vs__load_item *items, size_t n);
/* (store/restore/evidence.c) VS_ECORRUPT naming the tensor unless every
 * item's chunk rows account for its declared bytes and chunks (their
 * count, numbers, element sizes and raw sizes, each within what its
 * stored bytes can decode to); checked only for reads of more than 64
 * MiB or 16384 chunks in all, before anything is sized by them.
 * vs__load_lookup runs it. */
int vs__load_check_evidence(sqlite3 *db, const char *path,
                            const vs__load_item *items, size_t n);
/* Decodes every chunk of the items into their dst, checking sizes and
 * every chunk and tensor CRC (VS_ECORRUPT naming tensor, step, chunk).
 * pr (may be NULL) gets each chunk's raw bytes as it is consumed; the
 * caller makes the last report. */
int vs__load_decode(sqlite3 *db, const char *path, vs__load_item *items,
                    size_t n, int threads, vs__progress *pr);
/* As vs__load_decode, each chunk's bytes to sink (vs_ckpt_stream). */
int vs__load_stream(sqlite3 *db, const char *path, vs__load_item *items,
                    size_t n, const vs_stream_sink *sink);
/* Restores vars from keys at step (VS_LATEST ok): all or nothing. fn (may
 * be NULL) gets progress over the raw bytes read, ending with done ==
 * total once the variables changed. pvs (may be NULL): where pvs[i] is
 * set, item i is that whole partitioned variable (full shape; vars[i] is
 * one of its parts), sliced into every part. */
int vs__restore_vars(const char *path, int64_t step, vs_var *const *vars,
                     const char *const *keys, size_t n, int threads,
                     vs__progress_fn fn, void *fn_ctx,
                     vs_partitioned *const *pvs);
/* (partitioned variables) Groups the parts of partitioned variables in
 * vars[0..*n) (keys NULL: saved under op names): the first part of each
 * keeps its slot, with (*pvs)[i] = its partitioned variable and
 * (*keys_out)[i] its full name; the other parts are removed (*n shrinks).
 * Every part of such a variable must be in the list (VS_EINVAL
 * otherwise). *pvs and *keys_out are new arrays (vs__free) of the final
 * *n entries; keys_out entries borrow from keys or the graph. */
int vs__group_partitioned(vs_var **vars, const char *const *keys, size_t *n,
                          vs_partitioned ***pvs, const char ***keys_out);

/* ---- TensorFlow checkpoints where a varstore file is read (tf_read.c) -- */

#include "tf_bundle.h"

/* The step a TF checkpoint holds: its prefix's "-N" suffix, else 0. */
int64_t vs__tf_step(const vs__tf_bundle *b);
/* Opens it; VS_ENOTFOUND unless step is VS_LATEST or its step. */
int vs__tf_open_step(const char *path, int64_t step, vs__tf_bundle **out);
int vs__tf_latest(const char *path, int64_t *step);
int vs__tf_list_checkpoints(const char *path, vs_ckpt_info **out, size_t *n);
int vs__tf_list_variables(const char *path, int64_t step,
                          vs_tensor_info **out, size_t *n);
int vs__tf_load_variable(const char *path, int64_t step, const char *name,
                         vs_tensor **out);

#endif /* VS_STORE_INT_H */
