/* varstore: the steps of a save, shared by the files of store/save/:
 * validate -> plan chunks -> begin -> encode and dedup the chunks on the
 * pool (a large save into a rollback-journal file commits them in batches
 * as it goes, pinned by its 'saving:' row) -> checkpoint, tensor and
 * tensor_chunks rows -> checkpoint totals -> commit -> retention. The
 * checkpoint becomes visible at the last commit only. Not installed. */
#ifndef VS_SAVE_INT_H
#define VS_SAVE_INT_H

#include "store_int.h"


/* One tensor to save. */
typedef struct {
    const char *key;      /* checkpoint key */
    vs_var *var;          /* NULL for loose tensors */
    const vs_tensor *t;   /* dtype, shape, data (NULL when read) */
    /* The bytes' source when read is set (vs_save_stream): tensor index
     * of the caller's list, read a chunk at a time. */
    vs_read_fn read;
    void *read_ctx;
    size_t index;
    int read_anywhere; /* read may run on any thread, several at once */
    /* t->data is the library's own copy (an async save's snapshot),
     * which nothing else writes: read in place. Otherwise the caller's
     * bytes are copied a chunk at a time (save_work) before anything
     * reads them, so that a tensor changed during the save still gives
     * chunks whose CRC, statistics and stored bytes agree. */
    int owned;
    size_t nbytes, esize, chunk;
    int64_t numel;
    size_t first_job, n_chunks;
    int64_t tensor_id;
    uint32_t crc;
    int64_t stored;
    int any_shuffled;
    vs__stats stats;
} vs__save_item;

/* One chunk of one tensor: a slot of the window, reused by job k +
 * window once job k is consumed. */
typedef struct {
    size_t item, seq;
    /* the bytes: in.p or an owned item's; NULL for a chunk of the
     * caller's that is encoded (taken into the worker's planes) */
    const unsigned char *src;
    /* the caller's bytes, which save_work reads once: copied into in.p
     * (raw codec), else taken into the worker's planes; NULL if none */
    const unsigned char *caller;
    size_t len;
    vs__buf in;      /* the bytes read or copied (recycled buffer) */
    uint64_t hash;
    uint32_t crc;
    int codec;
    vs__buf out;     /* encoded bytes (recycled buffer) */
    const unsigned char *blob;
    size_t blob_len;
    vs__stats stats;
    /* A stored chunk with the same hash and size, fetched on the calling
     * thread so a worker can compare bytes and skip compressing
     * unchanged data. */
    int64_t cand_id;
    int cand_codec;
    size_t cand_esize, cand_len;
    uint32_t cand_crc;
    vs__buf cand;
    int64_t dup_id; /* cand_id when the bytes are equal */
} vs__save_job;

/* The whole save. */
typedef struct {
    sqlite3 *db;
    const char *path;
    int64_t step;
    vs__save_item *items;
    size_t n_items;
    vs__save_job *jobs; /* window slots: job k in jobs[k % window] */
    size_t n_jobs, window;
    size_t next_item; /* the item of the next job prepared */
    int threads;
    vs__codec_opts co;
    sqlite3_stmt *find, *ins_chunk, *ins_tc, *upd_tensor, *cand_q;
    unsigned char *scratch; /* decoded dedup candidate (calling thread) */
    size_t scratch_cap;
    int64_t new_bytes;
    vs__ws ws[VS_MAX_THREADS];   /* per worker */
    vs__buf cmp[VS_MAX_THREADS]; /* per worker: decoded candidate */
    vs__ws main_ws;                   /* calling thread's dedup checks */
    /* The file held no chunk when the save began: no candidate to look
     * up before encoding, so the workers compute the dedup hash. */
    int hash_in_workers;
    /* Output buffers recycled from consumed chunks to the next ones, so
     * that a save touches fresh memory only for its first window. */
    vs__buf *free_bufs;
    size_t n_free, free_cap;
    vs__progress pr; /* the caller's progress callback */
    /* Per chunk (n_jobs of them, in item and seq order), the id of the
     * chunk that holds its bytes, once written. */
    int64_t *chunk_ids;
    /* A batched save (batch.c): its 'saving:' row and pinned chunks. */
    int batched;
    char saving_key[40];
    int64_t *pins;
    size_t n_pins, pins_cap;
    size_t pins_in_rows; /* pins already named by a committed row */
    int64_t n_rows;      /* rows written: 'saving:<hex>', then '.1', ... */
    int64_t batch_mark; /* new_bytes at the last batch commit */
    int batch_spills;   /* the connection's cache spills then */
    int64_t lock_us;    /* when the batch was seen to spill; -1 before */
    vs__writeback wb;   /* rollback-journal files: store/file/writeback.c */
    int busy_ms;
} vs__save_ctx;

/* plan.c: checks of the caller's keys, tensors and options, and the cut
 * into chunks. */
int vs__save_check_key(const char *key);
int vs__save_check_tensor(const char *key, const vs_tensor *t,
                          size_t *nbytes, int64_t *numel);
/* Options, step, and unique keys (and, with a graph, variables saved
 * once); sorts items by key. */
int vs__save_validate(int64_t step, vs__save_item *items, size_t n,
                      const vs_save_opts *o, int with_graph);
/* The dtype and shape of a tensor to save, checked: its byte and
 * element counts. */
int vs__save_check_shape(const char *key, vs_dtype dtype, int ndim,
                         const int64_t *shape, size_t *nbytes,
                         int64_t *numel);
/* Fills c (items, job window, codec settings, buffers) for the save; c
 * is zeroed first. On failure c holds nothing to free. */
int vs__save_plan(vs__save_ctx *c, const char *path, int64_t step,
                  vs__save_item *items, size_t n, const vs_save_opts *o);
void vs__save_ctx_free(vs__save_ctx *c);
/* Job k (prepared in order): its slot, cleared, with its item, seq and
 * length set. */
vs__save_job *vs__save_next_job(vs__save_ctx *c, size_t k);
/* A buffer back to the free list (or freed); b is left empty. */
void vs__save_recycle(vs__save_ctx *c, vs__buf *b);

/* rows.c: the rows of the checkpoint and of its tensors. */
int vs__save_replace_step(sqlite3 *db, const char *path, int64_t step,
                          int *replaced);
int vs__save_checkpoint_row(sqlite3 *db, const char *path, int64_t step);
int vs__save_tensor_rows(vs__save_ctx *c);
/* The tensor row's codec, stored bytes, CRC and statistics. */
int vs__save_finish_item(vs__save_ctx *c, vs__save_item *it);
int vs__save_checkpoint_totals(vs__save_ctx *c);
int vs__save_is_float(vs_dtype dt);

/* chunks.c: every chunk read (or pointed at), hashed, encoded (or found
 * unchanged) on the pool and written (its id in chunk_ids); then, with
 * the tensor rows written, the tensor_chunks rows and each tensor row's
 * final values. */
int vs__save_chunks(vs__save_ctx *c);
int vs__save_chunk_rows(vs__save_ctx *c);

/* batch.c: a save whose chunks are committed in batches before its
 * checkpoint's transaction, so that each batch (which readers of a
 * rollback-journal file wait for) stays short and every page is written
 * once. A batch commits once it wrote VS_SAVE_BATCH_BYTES of new bytes,
 * or once it has held the file's exclusive lock (from its first cache
 * spill) for VS_SAVE_BATCH_US (vs__save_batch_us), whichever comes first:
 * the bytes bound a quiet save's batches, the time a loaded machine's. */
#define VS_SAVE_BATCH_BYTES ((int64_t)32 << 20)
#define VS_SAVE_BATCH_US ((int64_t)50000)
/* In the first transaction, for a file with a rollback journal: a small
 * page cache, so that pages go to the file as chunks come, with the
 * disk's writes started as they do (c->wb); and, for a save of more than
 * VS_SAVE_BATCH_BYTES raw bytes, batches and the 'saving:' row. aside
 * (else NULL): the connection's file, a new one filled before it has its
 * name (a smaller cache). */
int vs__save_journal_setup(vs__save_ctx *c, uint64_t raw_bytes,
                           const char *aside);
/* After chunk id is written or shared: pins it, and commits the batch
 * once VS_SAVE_BATCH_BYTES of new bytes are written since the last, or
 * once it has held the file's lock for VS_SAVE_BATCH_US. */
int vs__save_batch_chunk(vs__save_ctx *c, int64_t id);
/* Begins the next batch's transaction if the last one was committed. */
int vs__save_batch_resume(vs__save_ctx *c);
/* In the last transaction: checks that every pinned chunk is still
 * there, and drops the row. */
int vs__save_batch_finish(vs__save_ctx *c);
/* After a failure: drops the row and the chunks only it pinned (best
 * effort: a row left behind is reaped once this process is gone). */
void vs__save_batch_abort(vs__save_ctx *c);

/* definitions.c: the graph's scopes and the saved variables'
 * definitions, collected from the graph (on the calling thread) into rows
 * that own their values, then written (by whichever thread saves). */
typedef struct vs__save_defs vs__save_defs;
/* The rows for items[0..n) (graph form: each item's var set); *out is
 * NULL-safe to free with vs__save_defs_free. */
int vs__save_defs_collect(vs_graph *g, const vs__save_item *items, size_t n,
                          vs__save_defs **out);
int vs__save_defs_write(vs__save_ctx *c, const vs__save_defs *d);
void vs__save_defs_free(vs__save_defs *d);

/* prepare.c: the caller's input turned into validated items (keys
 * checked, tensors checked, sorted by key, unique) and, for the graph
 * form, the definitions; what the items point at is borrowed from the
 * caller (tensors, names) except the gathered partitioned variables. */
typedef struct {
    vs__save_item *items;
    size_t n;
    vs__save_defs *defs; /* graph form; NULL for loose tensors */
    /* owned by the graph form */
    vs_tensor **whole;
    size_t n_whole;
    vs_partitioned **pvs;
    const char **gkeys;
    vs_var **vars;
} vs__save_prep;
int vs__save_prep_tensors(vs__save_prep *p, const char *path, int64_t step,
                          const char *const *names,
                          const vs_tensor *const *tensors, size_t n,
                          const vs_save_opts *opts);
int vs__save_prep_graph(vs__save_prep *p, vs_graph *g, const char *path,
                        int64_t step, const vs_save_opts *opts);
void vs__save_prep_free(vs__save_prep *p);

/* save.c: the save of prepared items, in one transaction (what vs_save*
 * run on the calling thread and vs_async_save* in the background). defs
 * may be NULL. */
int vs__save_run(const char *path, int64_t step, vs__save_item *items,
                 size_t n, const vs_save_opts *o, const vs__save_defs *defs);

/* retention.c: TF Saver's retention after the commit, with the options'
 * settings or the file's. */
int vs__save_retention(sqlite3 *db, const char *path, const vs_save_opts *o,
                       int busy_ms);

/* snapshot.c: an asynchronous save's own copy of everything the save
 * reads (tensor bytes, keys, options, path, definitions), so that the
 * caller may change or free its tensors and graph once the call returns. */

/* The memory that holds a snapshot's tensor bytes (a vs__big_alloc
 * mapping of bytes bytes), kept by a saver between its saves. */
typedef struct {
    unsigned char *p;
    size_t bytes;
} vs__snap_block;
void vs__snap_block_free(vs__snap_block *b);

typedef struct {
    char *path;
    int64_t step;
    vs_save_opts opts; /* vars and keys cleared: used by the prep only */
    int has_opts;
    vs__save_item *items;
    size_t n;
    vs_tensor *tensors; /* n, their bytes copied into block */
    vs__snap_block block;
    char **keys;        /* n */
    vs__save_defs *defs;
} vs__save_snap;
/* Copies p's items (validated) and takes p's definitions. The bytes go
 * into *spare when it is large enough and at most twice what they need
 * (memory already touched: no page faults), else into new memory; spare
 * (NULL: none) is empty on success, and holds at most one block (its own
 * or the one taken) on failure. With lend, the bytes are not copied: the
 * snapshot points at the caller's, and spare is left as it is on
 * success. */
int vs__save_snap_take(vs__save_prep *p, const char *path, int64_t step,
                       const vs_save_opts *o, int lend, vs__snap_block *spare,
                       vs__save_snap **out);
/* vs__save_run of the snapshot. */
int vs__save_snap_run(vs__save_snap *s);
/* Frees s; its block goes to *keep instead if keep is not NULL and *keep
 * is empty. */
void vs__save_snap_free(vs__save_snap *s, vs__snap_block *keep);
/* Counts snapshots that reused a spare block, and those whose bytes were
 * copied (tests). */
size_t vs__save_snap_reuses(void);
size_t vs__save_snap_copied(void);

#endif /* VS_SAVE_INT_H */
