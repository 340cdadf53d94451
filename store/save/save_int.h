/* varstore: the steps of a save, shared by the files of store/save/. A
 * save is one transaction: validate -> plan chunks -> begin (solo or WAL)
 * -> checkpoint and tensor rows -> encode and dedup on the pool ->
 * checkpoint totals -> commit -> retention. Not installed. */
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
    const unsigned char *src; /* the caller's memory, or in.p */
    size_t len;
    vs__buf in;      /* the bytes read (recycled buffer) */
    uint64_t hash;
    uint32_t crc;
    int codec;
    vs__buf out;     /* encoded bytes (recycled buffer) */
    unsigned char *blob;
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
    /* Output buffers recycled from consumed chunks to the next ones, so
     * that a save touches fresh memory only for its first window. */
    vs__buf *free_bufs;
    size_t n_free, free_cap;
    vs__progress pr; /* the caller's progress callback */
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
 * unchanged) on the pool and written with its tensor_chunks row. */
int vs__save_chunks(vs__save_ctx *c);

/* save.c: saves items (keys set, tensors checked) as checkpoint step; g
 * may be NULL. */
int vs__save_items(const char *path, int64_t step, vs__save_item *items,
                   size_t n, const vs_save_opts *o, vs_graph *g);

/* definitions.c: the graph's scopes and the saved variables'
 * definitions. */
int vs__save_definitions(vs__save_ctx *c, vs_graph *g);

/* retention.c: TF Saver's retention after the commit, with the options'
 * settings or the file's. */
int vs__save_retention(sqlite3 *db, const char *path, const vs_save_opts *o,
                       int busy_ms);

#endif /* VS_SAVE_INT_H */
