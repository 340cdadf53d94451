/* varstore: SQL a file could make run on our reads and writes, beyond
 * triggers and views (integrity.c): an index on an expression or with a
 * WHERE clause is evaluated on every row a writer inserts, a CHECK
 * constraint or an expression DEFAULT on every insert, a generated column
 * whenever it is read. With SQLITE_DBCONFIG_TRUSTED_SCHEMA off they call
 * no function with side effects, but a hostile one can still cost a
 * second and a gigabyte per row (printf('%.*c', 999999999, 'x')): a save
 * of 12 chunks into a file with such an index took 15 s and 330 MB
 * instead of 0.1 s. So indexes must be the schema's own, word for word
 * (or SQLite's automatic ones), and the tables a reader or writer uses
 * hold no CHECK, AS (generated column) or DEFAULT (expression); readers,
 * which insert nothing, refuse only the generated columns. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "file/schema.h"
#include "store_int.h"

static int is_word_char(int c)
{
    return isalnum(c) || c == '_';
}

/* Whether sql has the keyword w (any case) as a whole word, followed
 * (when paren) by optional space and '('. */
static int has_word(const char *sql, const char *w, int paren)
{
    size_t n = strlen(w);
    for (const char *p = sql; *p != '\0'; p++) {
        if ((p > sql && is_word_char((unsigned char)p[-1])) ||
            strncasecmp(p, w, n) != 0 || is_word_char((unsigned char)p[n]))
            continue;
        const char *q = p + n;
        while (isspace((unsigned char)*q))
            q++;
        if (!paren || *q == '(')
            return 1;
    }
    return 0;
}

/* VS_ECORRUPT when one of the schema's tables holds an expression a
 * write would evaluate (write), or one a read would (a generated column). */
static int check_tables(sqlite3 *db, const char *path, int write)
{
    sqlite3_stmt *st = NULL;
    int rc = vs__store_prepare(db,
                               "SELECT name, sql FROM sqlite_master WHERE "
                               "type='table' AND name IN ('meta', "
                               "'checkpoints', 'scopes', 'variables', "
                               "'names', 'tensor_rows', 'tensors', 'chunks', "
                               "'tensor_chunks')",
                               &st, path);
    int s = SQLITE_DONE;
    while (rc == VS_OK && (s = sqlite3_step(st)) == SQLITE_ROW) {
        const char *sql = (const char *)sqlite3_column_text(st, 1);
        if (sql != NULL && !has_word(sql, "AS", 0) &&
            (!write ||
             (!has_word(sql, "CHECK", 0) && !has_word(sql, "DEFAULT", 1))))
            continue;
        rc = vs__fail(VS_ECORRUPT,
                      "checkpoint file %s is corrupt: table %s holds SQL (a "
                      "CHECK constraint, a generated column or an expression "
                      "default) that the varstore schema does not define",
                      path, (const char *)sqlite3_column_text(st, 0));
    }
    if (rc == VS_OK && s != SQLITE_DONE)
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
    sqlite3_finalize(st);
    return rc;
}

/* VS_ECORRUPT when an index is not one of the schema's, as its text. */
static int check_indexes(sqlite3 *db, const char *path)
{
    sqlite3_stmt *st = NULL;
    int rc = vs__store_prepare(
        db,
        "SELECT name FROM sqlite_master WHERE type='index' AND NOT (sql IS "
        "NULL AND name GLOB 'sqlite_autoindex_*') AND NOT (name = "
        "'tensor_rows_by_name' AND sql = ?1) AND NOT (name = "
        "'chunks_by_hash' AND sql = ?2) AND NOT (name = "
        "'tensor_chunks_by_chunk' AND sql = ?3) LIMIT 1",
        &st, path);
    if (rc != VS_OK)
        return rc;
    int b = sqlite3_bind_text(st, 1, VS_SQL_TENSOR_ROWS_INDEX, -1,
                              SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, 2, VS_SQL_CHUNKS_INDEX, -1,
                              SQLITE_STATIC);
    if (b == SQLITE_OK)
        b = sqlite3_bind_text(st, 3, VS_SQL_TENSOR_CHUNKS_INDEX, -1,
                              SQLITE_STATIC);
    int s = b == SQLITE_OK ? sqlite3_step(st) : SQLITE_OK;
    if (b != SQLITE_OK)
        rc = vs__store_bindfail(st, b, "cannot read checkpoint file", path);
    else if (s == SQLITE_ROW)
        rc = vs__fail(VS_ECORRUPT,
                      "checkpoint file %s is corrupt: it holds an index (%s) "
                      "that the varstore schema does not define",
                      path, (const char *)sqlite3_column_text(st, 0));
    else if (s != SQLITE_DONE)
        rc = vs__store_sqlfail(db, s, "cannot read checkpoint file", path);
    sqlite3_finalize(st);
    return rc;
}

int vs__store_check_table_sql(sqlite3 *db, const char *path)
{
    return check_tables(db, path, 0);
}

int vs__store_check_schema_sql(sqlite3 *db, const char *path)
{
    int rc = check_tables(db, path, 1);
    return rc == VS_OK ? check_indexes(db, path) : rc;
}
