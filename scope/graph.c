/* varstore: the graph itself: its SQLite registry (schema, statements,
 * the SQL functions they call), the variable table, scope objects and the
 * name stack; opening and freeing it. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "ops_int.h"
#include "scope_int.h"

/* The registry. Keys are the full names; every decision is a query.
 * 64 KiB pages: the store's b-tree is two levels deep at 100,000 names
 * (three at 4 KiB), so a random lookup fetches fewer pages. */
static const char *const schema_sql =
    "PRAGMA page_size=65536;"
    "PRAGMA journal_mode=OFF;"
    "PRAGMA synchronous=OFF;"
    "PRAGMA temp_store=MEMORY;"
    "CREATE TABLE names_in_use(key TEXT PRIMARY KEY, n INTEGER NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE TABLE var_scope_counts(name TEXT PRIMARY KEY,"
    " n INTEGER NOT NULL) WITHOUT ROWID;"
    "CREATE TABLE var_scope_count_log(seq INTEGER PRIMARY KEY, name TEXT"
    " NOT NULL, old_n INTEGER);"
    "CREATE TABLE scopes(name TEXT PRIMARY KEY, parent TEXT, reuse TEXT,"
    " dtype TEXT, initializer TEXT, name_scope TEXT) WITHOUT ROWID;"
    "CREATE TABLE variables(id INTEGER PRIMARY KEY, name TEXT NOT NULL"
    " UNIQUE, store_key TEXT, scope TEXT, dtype TEXT NOT NULL,"
    " shape TEXT NOT NULL, trainable INTEGER NOT NULL, initializer TEXT);"
    "CREATE TABLE store(key TEXT PRIMARY KEY, id INTEGER NOT NULL)"
    " WITHOUT ROWID;"
    "CREATE TABLE collections(key TEXT NOT NULL, seq INTEGER NOT NULL,"
    " var_id INTEGER NOT NULL, PRIMARY KEY(key, seq)) WITHOUT ROWID;";

static const char *const stmt_sql[ST_COUNT] = {
    [ST_BEGIN] = "BEGIN",
    [ST_NAMES_GET] = "SELECT n FROM names_in_use WHERE key=?1",
    /* Counts one more use of a key in use; vs_seen() hands the old count
     * to the graph (one statement reads and writes the row). */
    [ST_NAMES_BUMP] = "UPDATE names_in_use SET n=vs_seen(n)+1 WHERE key=?1",
    [ST_NAMES_ADD] = "INSERT INTO names_in_use(key, n) VALUES(?1, 1)",
    /* Marks an unused key (n = 1); does nothing when it is in use. */
    [ST_NAMES_CLAIM] = "INSERT INTO names_in_use(key, n) VALUES(?1, 1)"
                       " ON CONFLICT(key) DO NOTHING",
    [ST_SCOPECOUNT_GET] = "SELECT n FROM var_scope_counts WHERE name=?1",
    [ST_SCOPECOUNT_OPEN] = "INSERT INTO var_scope_counts(name, n)"
                           " VALUES(?1, 1) ON CONFLICT(name)"
                           " DO UPDATE SET n=n+1",
    [ST_SCOPECOUNT_CLOSE_SUB] = "UPDATE var_scope_counts SET n=0"
                                " WHERE name >= ?1 || '/'"
                                " AND name < ?1 || '0'",
    /* Undo log of count changes made inside re-entered scopes (TF copies
     * the whole count table on entry and restores it on exit). */
    [ST_SCOPECOUNT_LOG_ONE] = "INSERT INTO var_scope_count_log(name, old_n)"
                              " VALUES(?1, (SELECT n FROM var_scope_counts"
                              " WHERE name=?1))",
    [ST_SCOPECOUNT_LOG_SUB] = "INSERT INTO var_scope_count_log(name, old_n)"
                              " SELECT name, n FROM var_scope_counts"
                              " WHERE name >= ?1 || '/' AND name < ?1 || '0'"
                              " AND n != 0",
    [ST_SCOPECOUNT_LOG_READ] = "SELECT name, old_n FROM var_scope_count_log"
                               " WHERE seq > ?1 ORDER BY seq DESC",
    [ST_SCOPECOUNT_LOG_DROP] = "DELETE FROM var_scope_count_log"
                               " WHERE seq > ?1",
    [ST_SCOPECOUNT_LOG_MAX] = "SELECT coalesce(max(seq), 0)"
                              " FROM var_scope_count_log",
    [ST_SCOPECOUNT_SET] = "INSERT INTO var_scope_counts(name, n)"
                          " VALUES(?1, ?2) ON CONFLICT(name)"
                          " DO UPDATE SET n=excluded.n",
    [ST_SCOPECOUNT_DELETE] = "DELETE FROM var_scope_counts WHERE name=?1",
    [ST_SCOPE_PUT] = "INSERT OR REPLACE INTO scopes(name, parent, reuse,"
                     " dtype, initializer, name_scope)"
                     " VALUES(?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_STORE_GET] = "SELECT id FROM store WHERE key=?1",
    [ST_STORE_PUT] = "INSERT INTO store(key, id) VALUES(?1, ?2)",
    [ST_VAR_PUT] = "INSERT INTO variables(id, name, store_key, scope, dtype,"
                   " shape, trainable, initializer)"
                   " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    [ST_VAR_BY_OP] = "SELECT id FROM variables WHERE name=?1",
    [ST_COLL_PUT] = "INSERT INTO collections(key, seq, var_id)"
                    " VALUES(?1, ?2, ?3)",
    [ST_COLL_LIST] = "SELECT c.var_id FROM collections c"
                     " JOIN variables v ON v.id = c.var_id"
                     " WHERE c.key=?1 AND (?2 IS NULL"
                     " OR vs_rematch(?2, v.name || ':0'))"
                     " ORDER BY c.seq",
};

int vs__graph_sqlfail(vs_graph *g, const char *what)
{
    return vs__fail(sqlite3_errcode(g->db) == SQLITE_NOMEM ? VS_ENOMEM
                                                           : VS_ERROR,
                    "registry: %s: %s", what, sqlite3_errmsg(g->db));
}

int vs__graph_run_bound(vs_graph *g, sqlite3_stmt *st, int bound)
{
    int rc;
    if (!bound) {
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return vs__graph_sqlfail(g, "bind");
    }
    rc = vs__graph_exec(g, st);
    sqlite3_clear_bindings(st);
    return rc;
}

int vs__graph_exec(vs_graph *g, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return vs__graph_sqlfail(g, "write");
    return VS_OK;
}

int vs__graph_buf(vs_graph *g, size_t n)
{
    char *p;
    if (n <= g->buf_cap)
        return VS_OK;
    p = vs__realloc(g->buf, n);
    if (p == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    g->buf = p;
    g->buf_cap = n;
    return VS_OK;
}

sqlite3 *vs__graph_db(vs_graph *g)
{
    return g ? g->db : NULL;
}

size_t vs__graph_var_count(const vs_graph *g)
{
    return g ? g->n_vars : 0;
}

vs_var *vs__graph_var_at(const vs_graph *g, size_t i)
{
    return (g && i < g->n_vars) ? g->vars[i].v : NULL;
}

/* The variable of a registry id, or NULL for an id out of range. */
static vs_var *var_by_id(const vs_graph *g, sqlite3_int64 id)
{
    return id < 0 ? NULL : vs__graph_var_at(g, (size_t)id);
}

/* The variable whose id statement `which` returns for key, or NULL. */
static vs_var *var_by_key(vs_graph *g, int which, const char *key)
{
    sqlite3_stmt *st = g->st[which];
    vs_var *v = NULL;
    if (sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = var_by_id(g, sqlite3_column_int64(st, 0));
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return v;
}

vs_var *vs__graph_find_op(vs_graph *g, const char *op_name)
{
    return var_by_key(g, ST_VAR_BY_OP, op_name);
}

vs_var *vs__graph_find_store(vs_graph *g, const char *key)
{
    return var_by_key(g, ST_STORE_GET, key);
}

#ifndef SQLITE_DIRECTONLY /* SQLite before 3.30 */
#define SQLITE_DIRECTONLY 0
#endif

/* vs_seen(n): n, kept in the graph's names_seen (ST_NAMES_BUMP's way of
 * returning the count it replaces). */
static void seen_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    vs_graph *g = sqlite3_user_data(ctx);
    (void)argc;
    g->names_seen = sqlite3_value_int64(argv[0]);
    sqlite3_result_int64(ctx, g->names_seen);
}

/* ---- regex filter for collections (TF: re.match, anchored at start) ---- */

#include <regex.h>

static void regex_free(void *p)
{
    regfree(p);
    vs__free(p);
}

/* vs_rematch(pattern, text): 1 when the POSIX extended regex matches at
 * the start of text. The compiled pattern is cached per statement. */
static void rematch_func(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    regex_t *re = sqlite3_get_auxdata(ctx, 0);
    regmatch_t m;
    const char *text;
    (void)argc;
    if (re == NULL) {
        const char *pat = (const char *)sqlite3_value_text(argv[0]);
        int rc;
        if (pat == NULL) {
            sqlite3_result_error_nomem(ctx);
            return;
        }
        re = vs__malloc(sizeof *re);
        if (re == NULL) {
            sqlite3_result_error_nomem(ctx);
            return;
        }
        rc = regcomp(re, pat, REG_EXTENDED);
        if (rc != 0) {
            char msg[256];
            char *full;
            regerror(rc, re, msg, sizeof msg);
            vs__free(re);
            full = sqlite3_mprintf("invalid scope regex '%s': %s", pat, msg);
            sqlite3_result_error(ctx, full ? full : "invalid scope regex", -1);
            sqlite3_free(full);
            return;
        }
        sqlite3_set_auxdata(ctx, 0, re, regex_free);
        re = sqlite3_get_auxdata(ctx, 0);
        if (re == NULL) {
            sqlite3_result_error_nomem(ctx);
            return;
        }
    }
    text = (const char *)sqlite3_value_text(argv[1]);
    if (text == NULL) {
        sqlite3_result_int(ctx, 0);
        return;
    }
    sqlite3_result_int(ctx, regexec(re, text, 1, &m, 0) == 0 && m.rm_so == 0);
}

/* ---- open / close ---- */

/* A scope object and its two strings are one allocation. */
vs_scope *vs__scope_new(vs_graph *g, const char *name, const char *ns)
{
    size_t nlen = strlen(name), slen = strlen(ns), bytes;
    vs_scope *s;
    if (vs__add_size(sizeof *s, nlen + slen + 2, &bytes) != 0)
        return NULL;
    s = vs__calloc(1, bytes);
    if (s == NULL)
        return NULL;
    s->g = g;
    s->name = (char *)(s + 1);
    memcpy(s->name, name, nlen + 1);
    s->name_scope = s->name + nlen + 1;
    memcpy(s->name_scope, ns, slen + 1);
    s->dtype = VS_FLOAT32;
    s->next = g->scopes;
    if (g->scopes)
        g->scopes->prev = s;
    g->scopes = s;
    return s;
}

static void scope_destroy(vs_scope *s)
{
    vs__free(s->init_values);
    vs__free(s);
}

void vs__scope_free(vs_graph *g, vs_scope *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        g->scopes = s->next;
    if (s->next)
        s->next->prev = s->prev;
    scope_destroy(s);
}

/* Makes room in g->stack_slash for a name stack of len bytes (plus "/"
 * and NUL). The buffer never shrinks, so any stack that was current once
 * fits again. */
int vs__stack_reserve(vs_graph *g, size_t len)
{
    char *p;
    if (len + 2 <= g->slash_cap)
        return VS_OK;
    p = vs__realloc(g->stack_slash, len + 2);
    if (p == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    g->stack_slash = p;
    g->slash_cap = len + 2;
    return VS_OK;
}

/* Makes stack (owned, len bytes, vs__stack_reserve done) the current name
 * stack. The old one goes to *old when old is not NULL, else is freed. */
void vs__stack_replace(vs_graph *g, char *stack, size_t len, char **old)
{
    if (old != NULL)
        *old = g->stack;
    else
        vs__free(g->stack);
    g->stack = stack;
    if (len) {
        memcpy(g->stack_slash, stack, len);
        g->stack_slash[len] = '/';
        g->stack_slash[len + 1] = '\0';
    } else {
        g->stack_slash[0] = '\0';
    }
}

int vs_graph_open(vs_graph **out)
{
    vs_graph *g;
    int rc, i;
    char *err = NULL;

    if (out == NULL)
        return vs__fail(VS_EINVAL, "vs_graph_open: out is NULL");
    *out = NULL;
    g = vs__calloc(1, sizeof *g);
    if (g == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    rc = sqlite3_open_v2(":memory:", &g->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                             SQLITE_OPEN_NOMUTEX,
                         NULL);
    if (rc != SQLITE_OK) {
        rc = vs__fail(rc == SQLITE_NOMEM ? VS_ENOMEM : VS_ERROR,
                      "cannot open the registry: %s",
                      g->db ? sqlite3_errmsg(g->db) : sqlite3_errstr(rc));
        goto fail;
    }
    if (sqlite3_exec(g->db, schema_sql, NULL, NULL, &err) != SQLITE_OK) {
        rc = vs__fail(sqlite3_errcode(g->db) == SQLITE_NOMEM ? VS_ENOMEM
                                                             : VS_ERROR,
                      "cannot create the registry: %s",
                      err ? err : "unknown error");
        sqlite3_free(err);
        goto fail;
    }
    if (sqlite3_create_function(g->db, "vs_seen", 1,
                                SQLITE_UTF8 | SQLITE_DIRECTONLY, g,
                                seen_func, NULL, NULL) != SQLITE_OK) {
        rc = vs__graph_sqlfail(g, "create function");
        goto fail;
    }
    if (sqlite3_create_function(g->db, "vs_rematch", 2,
                                SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                rematch_func, NULL, NULL) != SQLITE_OK) {
        rc = vs__graph_sqlfail(g, "create function");
        goto fail;
    }
    for (i = 0; i < ST_COUNT; i++) {
        if (sqlite3_prepare_v3(g->db, stmt_sql[i], -1,
                               SQLITE_PREPARE_PERSISTENT, &g->st[i],
                               NULL) != SQLITE_OK) {
            rc = vs__graph_sqlfail(g, "prepare");
            goto fail;
        }
    }
    /* The registry is private and in memory: one transaction held open for
     * the graph's life makes every lookup skip per-statement commits. */
    rc = vs__graph_exec(g, g->st[ST_BEGIN]);
    if (rc != VS_OK)
        goto fail;
    g->root = vs__scope_new(g, "", "");
    if (g->root == NULL) {
        rc = vs__fail(VS_ENOMEM, "out of memory");
        goto fail;
    }
    g->root->pinned = 1;
    g->current = g->root;
    g->stack = vs__strdup("");
    if (g->stack == NULL) {
        rc = vs__fail(VS_ENOMEM, "out of memory");
        goto fail;
    }
    rc = vs__stack_reserve(g, 0);
    if (rc != VS_OK)
        goto fail;
    g->stack_slash[0] = '\0';
    *out = g;
    return VS_OK;
fail:
    vs__graph_free(g);
    return rc;
}

void vs__graph_free(vs_graph *g)
{
    size_t i;
    int k;
    vs_scope *s, *next;
    if (g == NULL)
        return;
    for (k = 0; k < ST_COUNT; k++)
        sqlite3_finalize(g->st[k]);
    if (g->db)
        sqlite3_close(g->db);
    vs__free(g->vars);
    for (i = 0; i < g->n_frames; i++)
        vs__free(g->frames[i].saved_stack);
    vs__free(g->frames);
    for (s = g->scopes; s; s = next) {
        next = s->next;
        scope_destroy(s);
    }
    vs__free(g->stack);
    vs__free(g->stack_slash);
    vs__free(g->buf);
    vs__free(g);
}

int vs__graph_count(vs_graph *g, int which, const char *key, int64_t *n)
{
    sqlite3_stmt *st = g->st[which];
    int rc;
    *n = 0;
    if (sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK)
        return vs__graph_sqlfail(g, "bind");
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return vs__graph_sqlfail(g, "read");
    return VS_OK;
}
