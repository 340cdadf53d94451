/* A fault-injecting SQLite VFS for tests: it wraps the default VFS and
 * becomes the default itself, so every connection the library opens goes
 * through it. It counts the writes, syncs and truncations of every file
 * and fails the one numbered `at` (counting from 0), or, in disk-full
 * mode, every write from that one on, until faults are cleared. */
#ifndef VS_TEST_IO_SHIM_H
#define VS_TEST_IO_SHIM_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
    IO_FAULT_NONE = 0,
    IO_FAULT_ONCE,     /* the at-th write/sync/truncate fails, once */
    IO_FAULT_DISK_FULL /* from the at-th write on, every write is SQLITE_FULL */
} io_fault_mode;

/* Registers the shim as the default VFS (idempotent). Returns SQLITE_OK. */
int io_shim_install(void);
/* Arms a fault: mode and the index of the operation that fails. */
void io_shim_arm(io_fault_mode mode, int64_t at);
/* Disarms; returns how many operations failed since the last arm. */
int64_t io_shim_clear(void);
/* Write/sync/truncate operations counted since the last arm. */
int64_t io_shim_ops(void);
/* Of those, the syncs. */
int64_t io_shim_syncs(void);
/* Of the SHARED locks taken on database files since the last arm, those
 * taken before the first RESERVED one: the read transactions before the
 * first write transaction, plus that transaction's own SHARED lock. */
int64_t io_shim_shared_before_write(void);
/* Records the offset of every read of a database file (not a journal)
 * into offsets, up to cap of them, until io_shim_traced_reads, which
 * stops it and returns how many were recorded. */
void io_shim_trace_reads(int64_t *offsets, size_t cap);
size_t io_shim_traced_reads(void);

#endif /* VS_TEST_IO_SHIM_H */
