/* varstore: checks of a checkpoint file's first 100 bytes before
 * SQLite opens it. */
#define _POSIX_C_SOURCE 200809L /* lstat */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "store_int.h"

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           (uint32_t)p[3];
}

/* The file's first bytes and its stat; VS_ENOTFOUND when it is missing.
 *
 * The bytes are read through SQLite's default VFS, not with open() and
 * close(): closing any descriptor of a file drops every POSIX lock this
 * process holds on it, so a raw close() would silently release the locks
 * of other connections to the same file in this process (a vs_ckpt handle,
 * the sqlite3 shell running the extension), letting a writer overwrite the
 * pages they read. SQLite's unix VFS keeps such a descriptor open until the
 * locks are gone. */
static int load_head(const char *path, unsigned char h[100], size_t *got,
                     struct stat *st)
{
    *got = 0;
    /* SQLite opens the file with O_NOFOLLOW, and names its side files
     * (-journal, -wal) after the name it is given: a link is refused. */
    if (lstat(path, st) == 0 && S_ISLNK(st->st_mode))
        return vs__fail(VS_EINVAL,
                        "%s is a symbolic link: a checkpoint file is opened "
                        "by its own name (give the path of the file it "
                        "points to)",
                        path);
    if (stat(path, st) != 0) {
        if (errno == ENOENT)
            return vs__fail(VS_ENOTFOUND,
                            "The passed save_path is not a valid checkpoint: "
                            "%s",
                            path);
        return vs__fail(VS_EIO, "cannot open checkpoint file %s: %s", path,
                        strerror(errno));
    }
    if (!S_ISREG(st->st_mode))
        return vs__fail(VS_EINVAL,
                        "%s is not a varstore checkpoint file: not a regular "
                        "file",
                        path);
    sqlite3_vfs *vfs = sqlite3_vfs_find(NULL);
    sqlite3_file *f = vfs != NULL ? vs__calloc(1, (size_t)vfs->szOsFile)
                                  : NULL;
    if (f == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    int out_flags = 0;
    int s = vfs->xOpen(vfs, path, f, SQLITE_OPEN_READONLY |
                                         SQLITE_OPEN_MAIN_DB, &out_flags);
    sqlite3_int64 size = 0;
    if (s == SQLITE_OK)
        s = f->pMethods->xFileSize(f, &size);
    if (s == SQLITE_OK && size > 0) {
        *got = size < 100 ? (size_t)size : 100;
        s = f->pMethods->xRead(f, h, (int)*got, 0);
    }
    if (f->pMethods != NULL)
        (void)f->pMethods->xClose(f); /* read-only: nothing to lose */
    vs__free(f);
    if (s == SQLITE_NOMEM)
        return vs__fail(VS_ENOMEM, "out of memory");
    if (s != SQLITE_OK)
        return vs__fail(VS_EIO, "cannot read checkpoint file %s: %s", path,
                        sqlite3_errstr(s));
    return VS_OK;
}

/* SQLite's magic, varstore's application id and a version it reads. */
static int check_identity(const char *path, const unsigned char *h,
                          size_t got)
{
    static const char magic[16] = "SQLite format 3";
    if (got == 0)
        return vs__fail(VS_EINVAL,
                        "%s is not a varstore checkpoint file: the file is "
                        "empty",
                        path);
    if (memcmp(h, magic, got < 16 ? got : 16) != 0)
        return vs__fail(VS_EINVAL,
                        "%s is not a varstore checkpoint file: not an SQLite "
                        "database",
                        path);
    if (got < 100)
        return vs__fail(VS_ECORRUPT,
                        "checkpoint file %s is corrupt: truncated to %zu "
                        "bytes",
                        path, got);
    uint32_t app = be32(h + 68);
    if (app != VS_APP_ID)
        return vs__fail(VS_EINVAL,
                        "%s is not a varstore checkpoint file: SQLite "
                        "application_id is 0x%08x, not 0x%08x",
                        path, (unsigned)app, (unsigned)VS_APP_ID);
    uint32_t ver = be32(h + 60);
    if (ver > VS_SCHEMA_VERSION)
        return vs__fail(VS_EINVAL,
                        "checkpoint file %s has schema version %u, newer than "
                        "the %d this varstore %s reads; upgrade varstore",
                        path, (unsigned)ver, VS_SCHEMA_VERSION,
                        VS_VERSION_STRING);
    if (ver < 1)
        return vs__fail(VS_ECORRUPT,
                        "checkpoint file %s is corrupt: schema version %u",
                        path, (unsigned)ver);
    return VS_OK;
}

/* Nonzero while a -wal with content or a -journal is beside path: the
 * main file's size may then legitimately disagree with its header. */
static int side_file_busy(const char *path)
{
    char *wal = vs__asprintf("%s-wal", path);
    char *jrn = vs__asprintf("%s-journal", path);
    struct stat wst;
    int busy = wal == NULL || jrn == NULL ||
               (stat(wal, &wst) == 0 && wst.st_size > 0) ||
               stat(jrn, &wst) == 0;
    vs__free(wal);
    vs__free(jrn);
    return busy;
}

/* Page size, and the file's size against its header's page count. */
static int check_size(const char *path, const unsigned char *h,
                      const struct stat *st, uint32_t *page_size)
{
    uint32_t psz = (uint32_t)h[16] << 8 | h[17];
    if (psz == 1)
        psz = 65536;
    if (psz < 512 || (psz & (psz - 1)) != 0)
        return vs__fail(VS_ECORRUPT,
                        "checkpoint file %s is corrupt: bad page size %u",
                        path, (unsigned)psz);
    if (page_size != NULL)
        *page_size = psz;
    /* The in-header size is valid when the change counters agree, and
     * only meaningful when no WAL is being checkpointed into the file
     * (a checkpoint writes page 1 before it extends the file). */
    if (side_file_busy(path))
        return VS_OK;
    uint32_t npages = be32(h + 28);
    if (be32(h + 24) == be32(h + 92) && npages > 0 &&
        (uint64_t)npages * psz > (uint64_t)st->st_size)
        return vs__fail(VS_ECORRUPT,
                        "checkpoint file %s is corrupt: truncated (%lld "
                        "bytes, header says %llu)",
                        path, (long long)st->st_size,
                        (unsigned long long)npages * psz);
    if ((uint64_t)st->st_size % psz != 0)
        return vs__fail(VS_ECORRUPT,
                        "checkpoint file %s is corrupt: size %lld is not a "
                        "multiple of the page size %u",
                        path, (long long)st->st_size, (unsigned)psz);
    return VS_OK;
}

/* Bytes 56..59: the text encoding, 1 (UTF-8) in every file varstore
 * writes. SQLite would read the schema's text as UTF-16 and report a
 * "malformed database schema" in garbled characters. */
static int check_encoding(const char *path, const unsigned char *h)
{
    uint32_t enc = be32(h + 56);
    if (enc == 1)
        return VS_OK;
    return vs__fail(VS_ECORRUPT,
                    "checkpoint file %s is corrupt: text encoding %u, not 1 "
                    "(UTF-8)",
                    path, (unsigned)enc);
}

int vs__store_check_header_mode(const char *path, uint32_t *page_size,
                                int *rollback)
{
    unsigned char h[100];
    size_t got = 0;
    struct stat st;
    int rc = load_head(path, h, &got, &st);
    if (rc == VS_OK)
        rc = check_identity(path, h, got);
    if (rc == VS_OK)
        rc = check_size(path, h, &st, page_size);
    if (rc == VS_OK)
        rc = check_encoding(path, h);
    /* Bytes 18/19, the write and read versions: 1 in rollback-journal
     * mode, 2 in WAL mode (SQLite switches to WAL on a read version 2). */
    if (rc == VS_OK && rollback != NULL)
        *rollback = h[18] == 1 && h[19] == 1;
    return rc;
}

int vs__store_check_header(const char *path, uint32_t *page_size)
{
    return vs__store_check_header_mode(path, page_size, NULL);
}
