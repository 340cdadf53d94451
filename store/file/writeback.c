/* varstore: starting the disk's writes while a save still runs. A save
 * into a rollback-journal file keeps a small page cache, so that SQLite
 * writes its pages to the file as the chunks come (cache spill) instead
 * of all at the commit; but the kernel holds written pages in memory
 * until the commit's fsync, which then waits for the whole save's bytes
 * at once. So every VS_WRITEBACK_BYTES written, the save asks the kernel
 * to start writing the file's dirty pages out (sync_file_range with
 * SYNC_FILE_RANGE_WRITE: it starts the writes and returns). The disk then
 * works while the save encodes its next chunks, and the commit's fsync
 * finds little left to wait for.
 *
 * This is a hint: it writes nothing SQLite did not write, and the commit
 * makes the file durable as before. SQLite has no call that gives a
 * file's descriptor, so the descriptor is read from the unix VFS's file
 * object (its first fields, the same since SQLite 3.7) and trusted only
 * when that object names the unix VFS and the descriptor is open on the
 * very file (same device and inode as the path). Otherwise, and off
 * Linux, there is no hint and nothing else changes. The descriptor is
 * SQLite's: it is never closed here (closing any descriptor of a file
 * drops the process's POSIX locks on it). */
#define _GNU_SOURCE /* sync_file_range */
#include <fcntl.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "store_int.h"

static atomic_size_t g_starts;

size_t vs__writeback_starts(void) { return atomic_load(&g_starts); }

/* The start of SQLite's unixFile (os_unix.c). */
typedef struct {
    const sqlite3_io_methods *methods;
    sqlite3_vfs *vfs;
    void *inode;
    int fd;
} unix_file_head;

static int file_fd(sqlite3 *db, const char *path)
{
    sqlite3_file *f = NULL;
    sqlite3_vfs *unix_vfs = sqlite3_vfs_find("unix");
    if (unix_vfs == NULL ||
        sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &f) !=
            SQLITE_OK ||
        f == NULL || f->pMethods == NULL)
        return -1;
    const unix_file_head *u = (const unix_file_head *)(const void *)f;
    if (u->vfs != unix_vfs || u->fd < 0)
        return -1;
    struct stat a, b;
    if (fstat(u->fd, &a) != 0 || stat(path, &b) != 0 || !S_ISREG(a.st_mode) ||
        a.st_dev != b.st_dev || a.st_ino != b.st_ino)
        return -1;
    return u->fd;
}

void vs__writeback_init(vs__writeback *w, sqlite3 *db, const char *path)
{
    w->fd = -1;
    w->pending = 0;
#if defined(__linux__) && defined(SYNC_FILE_RANGE_WRITE)
    w->fd = file_fd(db, path);
#else
    (void)db;
    (void)path;
#endif
}

void vs__writeback_add(vs__writeback *w, uint64_t bytes)
{
    if (w->fd < 0)
        return;
    w->pending += bytes;
    if (w->pending < VS_WRITEBACK_BYTES)
        return;
    w->pending = 0;
#if defined(__linux__) && defined(SYNC_FILE_RANGE_WRITE)
    /* A hint: should it fail, the commit's fsync writes the pages. */
    if (sync_file_range(w->fd, 0, 0, SYNC_FILE_RANGE_WRITE) != 0)
        w->fd = -1;
    else
        atomic_fetch_add(&g_starts, 1);
#endif
}
