/* The fault-injecting VFS of io_shim.h. Every method forwards to the real
 * VFS or file; xWrite, xSync and xTruncate first ask should_fail(). */
#include "io_shim.h"

#include <sqlite3.h>
#include <stdatomic.h>
#include <string.h>

typedef struct {
    sqlite3_file base;  /* must come first: SQLite's view of the file */
    sqlite3_file *real; /* the real VFS's file, allocated right after */
    int main_db;        /* a database file (not a journal or WAL) */
} shim_file;

static sqlite3_vfs shim_vfs;
static sqlite3_vfs *real_vfs;
static atomic_int g_mode;
static atomic_llong g_at, g_ops, g_failed, g_syncs, g_shared_pre;
static atomic_int g_reserved;

static int should_fail(void)
{
    io_fault_mode mode = (io_fault_mode)atomic_load(&g_mode);
    if (mode == IO_FAULT_NONE)
        return 0;
    long long n = atomic_fetch_add(&g_ops, 1);
    long long at = atomic_load(&g_at);
    int fail = mode == IO_FAULT_ONCE ? n == at : n >= at;
    if (fail)
        atomic_fetch_add(&g_failed, 1);
    return fail;
}

static int fault_code(int io_code)
{
    return atomic_load(&g_mode) == IO_FAULT_DISK_FULL ? SQLITE_FULL : io_code;
}

static sqlite3_file *R(sqlite3_file *f) { return ((shim_file *)f)->real; }

static int s_close(sqlite3_file *f)
{
    return R(f)->pMethods ? R(f)->pMethods->xClose(R(f)) : SQLITE_OK;
}
/* io_shim_trace_reads: where reads of database files go. */
static int64_t *g_trace;
static size_t g_trace_cap;
static atomic_size_t g_trace_n;

static int s_read(sqlite3_file *f, void *b, int n, sqlite3_int64 off)
{
    if (g_trace != NULL && ((shim_file *)f)->main_db) {
        size_t i = atomic_fetch_add(&g_trace_n, 1);
        if (i < g_trace_cap)
            g_trace[i] = off;
    }
    return R(f)->pMethods->xRead(R(f), b, n, off);
}
static int s_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 off)
{
    if (should_fail())
        return fault_code(SQLITE_IOERR_WRITE);
    return R(f)->pMethods->xWrite(R(f), b, n, off);
}
static int s_truncate(sqlite3_file *f, sqlite3_int64 size)
{
    if (should_fail())
        return fault_code(SQLITE_IOERR_TRUNCATE);
    return R(f)->pMethods->xTruncate(R(f), size);
}
static int s_sync(sqlite3_file *f, int flags)
{
    if (atomic_load(&g_mode) != IO_FAULT_NONE)
        atomic_fetch_add(&g_syncs, 1);
    if (should_fail())
        return SQLITE_IOERR_FSYNC;
    return R(f)->pMethods->xSync(R(f), flags);
}
static int s_size(sqlite3_file *f, sqlite3_int64 *out)
{
    return R(f)->pMethods->xFileSize(R(f), out);
}
static int s_lock(sqlite3_file *f, int l)
{
    if (atomic_load(&g_mode) != IO_FAULT_NONE && ((shim_file *)f)->main_db) {
        if (l == SQLITE_LOCK_RESERVED)
            atomic_store(&g_reserved, 1);
        else if (l == SQLITE_LOCK_SHARED && !atomic_load(&g_reserved))
            atomic_fetch_add(&g_shared_pre, 1);
    }
    return R(f)->pMethods->xLock(R(f), l);
}
static int s_unlock(sqlite3_file *f, int l)
{
    return R(f)->pMethods->xUnlock(R(f), l);
}
static int s_check(sqlite3_file *f, int *out)
{
    return R(f)->pMethods->xCheckReservedLock(R(f), out);
}
static int s_fcntl(sqlite3_file *f, int op, void *arg)
{
    return R(f)->pMethods->xFileControl(R(f), op, arg);
}
static int s_sector(sqlite3_file *f) { return R(f)->pMethods->xSectorSize(R(f)); }
static int s_devchar(sqlite3_file *f)
{
    return R(f)->pMethods->xDeviceCharacteristics(R(f));
}
static int s_shmmap(sqlite3_file *f, int pg, int sz, int ext, void volatile **p)
{
    return R(f)->pMethods->xShmMap(R(f), pg, sz, ext, p);
}
static int s_shmlock(sqlite3_file *f, int off, int n, int flags)
{
    return R(f)->pMethods->xShmLock(R(f), off, n, flags);
}
static void s_shmbarrier(sqlite3_file *f) { R(f)->pMethods->xShmBarrier(R(f)); }
static int s_shmunmap(sqlite3_file *f, int del)
{
    return R(f)->pMethods->xShmUnmap(R(f), del);
}
static int s_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **p)
{
    return R(f)->pMethods->xFetch(R(f), off, n, p);
}
static int s_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
    return R(f)->pMethods->xUnfetch(R(f), off, p);
}

static const sqlite3_io_methods shim_methods = {
    3,        s_close,  s_read,       s_write,     s_truncate, s_sync,
    s_size,   s_lock,   s_unlock,     s_check,     s_fcntl,    s_sector,
    s_devchar, s_shmmap, s_shmlock,   s_shmbarrier, s_shmunmap, s_fetch,
    s_unfetch,
};

static int s_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f,
                  int flags, int *out_flags)
{
    (void)vfs;
    shim_file *sf = (shim_file *)f;
    sf->real = (sqlite3_file *)(sf + 1);
    memset(sf->real, 0, (size_t)real_vfs->szOsFile);
    sf->main_db = (flags & SQLITE_OPEN_MAIN_DB) != 0;
    int rc = real_vfs->xOpen(real_vfs, name, sf->real, flags, out_flags);
    /* A real file that failed to open has no methods: SQLite then calls
     * no method of ours but xClose, which checks. */
    f->pMethods = &shim_methods;
    return rc;
}

#define FWD(name, args, call)                                                  \
    static int name args                                                       \
    {                                                                          \
        (void)v;                                                               \
        return real_vfs->call;                                                 \
    }
FWD(s_delete, (sqlite3_vfs * v, const char *p, int sync),
    xDelete(real_vfs, p, sync))
FWD(s_access, (sqlite3_vfs * v, const char *p, int flags, int *out),
    xAccess(real_vfs, p, flags, out))
FWD(s_fullpath, (sqlite3_vfs * v, const char *p, int n, char *out),
    xFullPathname(real_vfs, p, n, out))
FWD(s_random, (sqlite3_vfs * v, int n, char *out),
    xRandomness(real_vfs, n, out))
FWD(s_sleep, (sqlite3_vfs * v, int us), xSleep(real_vfs, us))
FWD(s_time, (sqlite3_vfs * v, double *out), xCurrentTime(real_vfs, out))
FWD(s_lasterr, (sqlite3_vfs * v, int n, char *out),
    xGetLastError(real_vfs, n, out))
FWD(s_time64, (sqlite3_vfs * v, sqlite3_int64 *out),
    xCurrentTimeInt64(real_vfs, out))
#undef FWD

int io_shim_install(void)
{
    if (real_vfs != NULL)
        return SQLITE_OK;
    real_vfs = sqlite3_vfs_find(NULL);
    if (real_vfs == NULL)
        return SQLITE_ERROR;
    shim_vfs.iVersion = 2;
    shim_vfs.szOsFile = (int)sizeof(shim_file) + real_vfs->szOsFile;
    shim_vfs.mxPathname = real_vfs->mxPathname;
    shim_vfs.zName = "vs_fault_shim";
    shim_vfs.xOpen = s_open;
    shim_vfs.xDelete = s_delete;
    shim_vfs.xAccess = s_access;
    shim_vfs.xFullPathname = s_fullpath;
    shim_vfs.xDlOpen = NULL;
    shim_vfs.xRandomness = s_random;
    shim_vfs.xSleep = s_sleep;
    shim_vfs.xCurrentTime = s_time;
    shim_vfs.xGetLastError = s_lasterr;
    shim_vfs.xCurrentTimeInt64 = s_time64;
    return sqlite3_vfs_register(&shim_vfs, 1);
}

void io_shim_arm(io_fault_mode mode, int64_t at)
{
    atomic_store(&g_mode, IO_FAULT_NONE);
    atomic_store(&g_ops, 0);
    atomic_store(&g_failed, 0);
    atomic_store(&g_syncs, 0);
    atomic_store(&g_shared_pre, 0);
    atomic_store(&g_reserved, 0);
    atomic_store(&g_at, (long long)at);
    atomic_store(&g_mode, (int)mode);
}

int64_t io_shim_clear(void)
{
    atomic_store(&g_mode, IO_FAULT_NONE);
    return (int64_t)atomic_load(&g_failed);
}

int64_t io_shim_ops(void) { return (int64_t)atomic_load(&g_ops); }

int64_t io_shim_syncs(void) { return (int64_t)atomic_load(&g_syncs); }

int64_t io_shim_shared_before_write(void)
{
    return (int64_t)atomic_load(&g_shared_pre);
}

void io_shim_trace_reads(int64_t *offsets, size_t cap)
{
    g_trace = NULL;
    g_trace_cap = cap;
    atomic_store(&g_trace_n, 0);
    g_trace = offsets;
}

size_t io_shim_traced_reads(void)
{
    size_t n = atomic_load(&g_trace_n);
    g_trace = NULL;
    return n < g_trace_cap ? n : g_trace_cap;
}
