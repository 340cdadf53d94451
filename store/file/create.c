/* varstore: creating a checkpoint file: the schema, built aside and
 * linked into place. */
#define _GNU_SOURCE /* link(), fsync() on directories, O_CLOEXEC */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file/schema.h"
#include "store_int.h"

static const char *const schema_sql =
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value);\n"
    "CREATE TABLE checkpoints(\n"
    "  step INTEGER PRIMARY KEY,\n"
    "  created_at TEXT NOT NULL,\n"
    "  created_unix REAL NOT NULL,\n"
    "  n_tensors INTEGER NOT NULL DEFAULT 0,\n"
    "  raw_bytes INTEGER NOT NULL DEFAULT 0,\n"
    "  stored_bytes INTEGER NOT NULL DEFAULT 0,\n"
    "  new_bytes INTEGER NOT NULL DEFAULT 0,\n"
    "  keep INTEGER NOT NULL DEFAULT 0,\n"
    "  writer TEXT,\n"
    "  tensors_crc INTEGER);\n"
    "CREATE TABLE scopes(\n"
    "  name TEXT PRIMARY KEY, parent TEXT, reuse, dtype TEXT,\n"
    "  initializer TEXT, name_scope TEXT);\n"
    "CREATE TABLE variables(\n"
    "  name TEXT PRIMARY KEY, key TEXT, scope TEXT, dtype TEXT, shape TEXT,\n"
    "  trainable INTEGER, initializer TEXT, step INTEGER);\n"
    VS_SQL_NAMES_TABLE ";\n" VS_SQL_TENSOR_ROWS_TABLE ";\n"
    VS_SQL_TENSOR_ROWS_INDEX ";\n"
    "CREATE TABLE chunks(\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  hash INTEGER NOT NULL,\n"
    "  crc32 INTEGER NOT NULL,\n"
    "  raw_bytes INTEGER NOT NULL,\n"
    "  elem_size INTEGER NOT NULL,\n"
    "  codec INTEGER NOT NULL,\n"
    "  stored_bytes INTEGER NOT NULL,\n"
    "  data BLOB NOT NULL);\n"
    VS_SQL_CHUNKS_INDEX ";\n"
    "CREATE TABLE tensor_chunks(\n"
    "  tensor_id INTEGER NOT NULL,\n"
    "  seq INTEGER NOT NULL,\n"
    "  chunk_id INTEGER NOT NULL,\n"
    "  PRIMARY KEY(tensor_id, seq)) WITHOUT ROWID;\n"
    VS_SQL_TENSOR_CHUNKS_INDEX ";\n"
    VS_SQL_TENSORS_VIEW ";\n" VS_SQL_LATEST_VIEW ";\n"
    "INSERT INTO meta(key, value) VALUES ('format', 'varstore'),\n"
    "  ('max_to_keep', 0), ('keep_checkpoint_every_n_hours', 0);\n";

/* Makes the new name of path durable (fsync of its directory). File
 * systems that cannot fsync a directory (EINVAL) are accepted. */
static int sync_dir(const char *path)
{
    char *dir = vs__store_dir_of(path);
    if (dir == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    int rc = VS_OK;
    int fd = open(dir, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        rc = vs__fail(VS_EIO, "cannot sync the directory of %s: %s", path,
                      strerror(errno));
    } else {
        if (fsync(fd) != 0 && errno != EINVAL)
            rc = vs__fail(VS_EIO, "cannot sync the directory of %s: %s",
                          path, strerror(errno));
        /* read-only descriptor: close cannot lose data */
        (void)close(fd);
    }
    vs__free(dir);
    return rc;
}

/* TF's text when the folder of path is missing. */
static int check_parent_dir(const char *path)
{
    char *dir = vs__store_dir_of(path);
    if (dir == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    int rc = VS_OK;
    struct stat dst;
    if (stat(dir, &dst) != 0 || !S_ISDIR(dst.st_mode))
        rc = vs__fail(VS_EINVAL,
                      "Parent directory of %s doesn't exist, can't save.",
                      path);
    vs__free(dir);
    return rc;
}

/* Makes tmp's bytes durable before the file gets its name. */
static int sync_file(const char *tmp, const char *path)
{
    int fd = open(tmp, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int rc = VS_OK;
    if (fd < 0 || fdatasync(fd) != 0)
        rc = vs__fail(VS_EIO, "cannot create checkpoint file %s: %s", path,
                      strerror(errno));
    if (fd >= 0)
        (void)close(fd); /* read-only descriptor: nothing to lose */
    return rc;
}

/* Writes the schema, identity and a fresh file id into the new database
 * tmp and closes it. No journal and no sync: until it is linked into
 * place, a torn tmp is nobody's file (the caller removes it), so one
 * fdatasync before the link replaces a journal's three and the journal
 * file's creation. One transaction: auto_vacuum, set before it,
 * would write the empty file's first page in its own. The file is a
 * rollback-journal file (section 7 of docs/FORMAT.md: a save writes each
 * page once): journal_mode is the connection's, not the file's. */
static int build_file(const char *tmp, const char *path)
{
    sqlite3 *db = NULL;
    int s = vs__store_open_plain(tmp, &db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    char *sql = NULL;
    if (s == SQLITE_OK) {
        sql = vs__asprintf(
            "PRAGMA page_size=%d; PRAGMA journal_mode=OFF; "
            "PRAGMA synchronous=OFF; BEGIN; "
            "PRAGMA auto_vacuum=INCREMENTAL; %s INSERT INTO meta(key, value) VALUES ('journal', "
            "'delete'), ('file_id', lower(hex(randomblob(16)))); "
            "PRAGMA application_id=%d; PRAGMA user_version=%d; COMMIT;",
            VS_PAGE_SIZE, schema_sql, (int)VS_APP_ID, VS_SCHEMA_VERSION);
        if (sql == NULL) {
            (void)sqlite3_close(db); /* failing already */
            return vs__fail(VS_ENOMEM, "out of memory");
        }
        s = sqlite3_exec(db, sql, NULL, NULL, NULL);
        vs__free(sql);
    }
    if (s != SQLITE_OK) {
        int rc = vs__store_sqlfail(db, s, "cannot create checkpoint file",
                                   path);
        (void)sqlite3_close(db); /* failing already */
        return rc;
    }
    s = sqlite3_close(db);
    if (s != SQLITE_OK)
        return vs__fail(VS_EIO, "cannot create checkpoint file %s: %s", path,
                        sqlite3_errstr(s));
    return VS_OK;
}

/* Tries for the new file aside of a name not yet taken. */
#define ASIDE_TRIES 64

/* Creates a new empty file "<path>.vs-new-<pid>-<n>" (O_EXCL: never an
 * existing file or a symbolic link, which a killed run whose pid this
 * process has again may have left there) for build_file; its name in
 * *tmp. A journal beside it can only be such a run's: removed. */
static int claim_aside(const char *path, char **tmp)
{
    static atomic_uint counter;
    for (int i = 0; i < ASIDE_TRIES; i++) {
        unsigned c = atomic_fetch_add(&counter, 1u);
        char *t = vs__asprintf("%s.vs-new-%ld-%u", path, (long)getpid(), c);
        char *j = t != NULL ? vs__asprintf("%s-journal", t) : NULL;
        if (j == NULL) {
            vs__free(t);
            return vs__fail(VS_ENOMEM, "out of memory");
        }
        int fd = open(t, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        int e = errno;
        if (fd >= 0) {
            (void)close(fd); /* empty, nothing written: nothing to lose */
            (void)unlink(j); /* none, usually */
            vs__free(j);
            *tmp = t;
            return VS_OK;
        }
        vs__free(j);
        vs__free(t);
        if (e != EEXIST)
            return vs__fail(VS_EIO, "cannot create checkpoint file %s: %s",
                            path, strerror(e));
    }
    return vs__fail(VS_EIO,
                    "cannot create checkpoint file %s: %d names beside it "
                    "for the new file are taken",
                    path, ASIDE_TRIES);
}

int vs__store_create_aside(const char *path, char **tmp)
{
    *tmp = NULL;
    int rc = check_parent_dir(path);
    if (rc != VS_OK)
        return rc;
    vs__store_reap_aside(path);
    char *t = NULL;
    rc = claim_aside(path, &t);
    if (rc != VS_OK)
        return rc;
    rc = build_file(t, path);
    if (rc != VS_OK) {
        vs__store_drop_aside(t);
        return rc;
    }
    *tmp = t;
    return VS_OK;
}

int vs__store_link_aside(char *tmp, const char *path, int *exists)
{
    *exists = 0;
    int rc = sync_file(tmp, path);
    if (rc == VS_OK && link(tmp, path) != 0) {
        if (errno == EEXIST)
            *exists = 1;
        else
            rc = vs__fail(VS_EIO, "cannot create checkpoint file %s: %s",
                          path, strerror(errno));
    }
    /* Linked under path (or failing anyway): a failed unlink only leaves
     * the temporary name behind. */
    vs__store_drop_aside(tmp);
    return rc == VS_OK && !*exists ? sync_dir(path) : rc;
}

void vs__store_drop_aside(char *tmp)
{
    if (tmp == NULL)
        return;
    /* A failed save may leave its journal (a full disk stops the
     * rollback): nobody else opens tmp, so both go. Nothing else to do if
     * an unlink fails. */
    char *journal = vs__asprintf("%s-journal", tmp);
    if (journal != NULL)
        (void)unlink(journal);
    vs__free(journal);
    (void)unlink(tmp);
    vs__free(tmp);
}

/* Builds a new file next to path and links it into place (never replacing
 * an existing file). VS_OK also when another process created it first. */
int vs__store_create_file(const char *path)
{
    char *tmp = NULL;
    int exists = 0;
    int rc = vs__store_create_aside(path, &tmp);
    return rc == VS_OK ? vs__store_link_aside(tmp, path, &exists) : rc;
}
