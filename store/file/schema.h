/* varstore: the SQL text of schema version 3 that the file creation, the
 * upgrade from older versions and the integrity checks share: tensor
 * names stored once (table names), the per-step rows (tensor_rows) that
 * refer to them by id, and the views that give every reader the columns
 * of the old tensors table. A view's text is compared with the file's
 * (sqlite_master.sql) as it is, so it must never change within a
 * version. */
#ifndef VS_SCHEMA_H
#define VS_SCHEMA_H

#define VS_SQL_NAMES_TABLE                                                  \
    "CREATE TABLE names(\n"                                                 \
    "  id INTEGER PRIMARY KEY,\n"                                           \
    "  name TEXT NOT NULL UNIQUE)"

#define VS_SQL_TENSOR_ROWS_TABLE                                            \
    "CREATE TABLE tensor_rows(\n"                                           \
    "  id INTEGER PRIMARY KEY,\n"                                           \
    "  step INTEGER NOT NULL,\n"                                            \
    "  name_id INTEGER NOT NULL,\n"                                         \
    "  dtype TEXT NOT NULL,\n"                                              \
    "  shape TEXT NOT NULL,\n"                                              \
    "  numel INTEGER NOT NULL,\n"                                           \
    "  codec TEXT NOT NULL,\n"                                              \
    "  chunk_bytes INTEGER NOT NULL,\n"                                     \
    "  n_chunks INTEGER NOT NULL,\n"                                        \
    "  raw_bytes INTEGER NOT NULL,\n"                                       \
    "  stored_bytes INTEGER NOT NULL,\n"                                    \
    "  crc32 INTEGER NOT NULL,\n"                                           \
    "  min REAL, max REAL, mean REAL, std REAL,\n"                          \
    "  n_nan INTEGER, n_inf INTEGER,\n"                                     \
    "  meta_crc INTEGER,\n"                                                 \
    "  UNIQUE(step, name_id))"

/* A tensor's steps (and whether a name is still used) without a scan. */
#define VS_SQL_TENSOR_ROWS_INDEX                                            \
    "CREATE INDEX tensor_rows_by_name ON tensor_rows(name_id, step)"

/* Dedup candidates by hash; a chunk's users (is it still used?). Every
 * format version writes these two as they are. */
#define VS_SQL_CHUNKS_INDEX "CREATE INDEX chunks_by_hash ON chunks(hash)"
#define VS_SQL_TENSOR_CHUNKS_INDEX                                          \
    "CREATE INDEX tensor_chunks_by_chunk ON tensor_chunks(chunk_id)"

/* Exactly the columns, in the order, of version 2's tensors table. */
#define VS_SQL_TENSORS_VIEW                                                 \
    "CREATE VIEW tensors AS SELECT r.id AS id, r.step AS step,\n"           \
    "  n.name AS name, r.dtype AS dtype, r.shape AS shape,\n"               \
    "  r.numel AS numel, r.codec AS codec, r.chunk_bytes AS chunk_bytes,\n" \
    "  r.n_chunks AS n_chunks, r.raw_bytes AS raw_bytes,\n"                 \
    "  r.stored_bytes AS stored_bytes, r.crc32 AS crc32, r.min AS min,\n"   \
    "  r.max AS max, r.mean AS mean, r.std AS std, r.n_nan AS n_nan,\n"     \
    "  r.n_inf AS n_inf, r.meta_crc AS meta_crc\n"                          \
    "  FROM tensor_rows r JOIN names n ON n.id = r.name_id"

#define VS_SQL_LATEST_VIEW                                                  \
    "CREATE VIEW latest AS SELECT * FROM tensors\n"                         \
    "  WHERE step = (SELECT max(step) FROM checkpoints)"

/* Adds a name to names unless it is there (then SELECT its id). */
#define VS_SQL_PUT_NAME                                                     \
    "INSERT INTO names(name) VALUES (?1) ON CONFLICT(name) DO NOTHING"

#endif /* VS_SCHEMA_H */
