/* varstore: the graph — its SQLite registry, unique names (TF's
 * Graph.unique_name), name scopes and seeds. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    return vs__fail(VS_ERROR, "registry: %s: %s", what, sqlite3_errmsg(g->db));
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

static vs_var *var_by_id(vs_graph *g, sqlite3_int64 id)
{
    if (id < 0 || (uint64_t)id >= g->n_vars)
        return NULL;
    return g->vars[id].v;
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

size_t vs_get_collection(vs_graph *g, const char *key, const char *scope_regex,
                         vs_var **out, size_t cap)
{
    sqlite3_stmt *st;
    size_t n = 0;
    int rc;
    if (g == NULL || key == NULL) {
        vs__fail(VS_EINVAL, "vs_get_collection: graph and key are required");
        return 0;
    }
    st = g->st[ST_COLL_LIST];
    if (sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK ||
        (scope_regex ? sqlite3_bind_text(st, 2, scope_regex, -1, SQLITE_STATIC)
                     : sqlite3_bind_null(st, 2)) != SQLITE_OK) {
        vs__graph_sqlfail(g, "bind");
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return 0;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n < cap && out != NULL)
            out[n] = var_by_id(g, sqlite3_column_int64(st, 0));
        n++;
    }
    if (rc != SQLITE_DONE) {
        vs__fail(VS_EINVAL, "%s", sqlite3_errmsg(g->db));
        n = 0;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return n;
}

/* Escapes regex metacharacters so a scope name matches literally. */
static char *regex_escape(const char *s, const char *suffix)
{
    size_t n = strlen(s), i, j = 0, slen = strlen(suffix);
    char *out = vs__malloc(2 * n + slen + 1);
    if (out == NULL)
        return NULL;
    for (i = 0; i < n; i++) {
        if (strchr(".[]()*+?{}|^$\\", s[i]) != NULL)
            out[j++] = '\\';
        out[j++] = s[i];
    }
    memcpy(out + j, suffix, slen + 1);
    return out;
}

size_t vs_scope_get_collection(vs_graph *g, const vs_scope *scope,
                               const char *key, vs_var **out, size_t cap)
{
    char *pat;
    size_t n;
    if (scope == NULL || scope->name[0] == '\0')
        return vs_get_collection(g, key, NULL, out, cap);
    pat = regex_escape(scope->name, "/");
    if (pat == NULL) {
        vs__fail(VS_ENOMEM, "out of memory");
        return 0;
    }
    n = vs_get_collection(g, key, pat, out, cap);
    vs__free(pat);
    return n;
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
static int slash_reserve(vs_graph *g, size_t len)
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

/* Makes stack (owned, len bytes, slash_reserve done) the current name
 * stack. The old one goes to *old when old is not NULL, else is freed. */
static void stack_replace(vs_graph *g, char *stack, size_t len, char **old)
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
        rc = vs__fail(VS_ERROR, "cannot create the registry: %s",
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
    rc = slash_reserve(g, 0);
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

/* ---- seeds (TF's random_seed.get_seed) ---- */

#define DEFAULT_GRAPH_SEED 87654321
#define MAXINT32 2147483647LL

void vs_graph_set_random_seed(vs_graph *g, int64_t seed)
{
    if (g == NULL)
        return;
    g->has_seed = seed >= 0;
    g->graph_seed = seed;
}

/* A seed from the OS for TF's "no seed at all" case. */
static int64_t random_seed_from_os(void)
{
    uint64_t x = 0;
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd >= 0) {
        ssize_t n = read(fd, &x, sizeof x);
        close(fd);
        if (n == (ssize_t)sizeof x)
            return (int64_t)(x % (uint64_t)MAXINT32) + 1;
    }
    {
        struct timespec ts;
        static _Thread_local uint64_t bump;
        clock_gettime(CLOCK_REALTIME, &ts);
        x = (uint64_t)ts.tv_nsec * 6364136223846793005ULL +
            (uint64_t)ts.tv_sec + ++bump;
    }
    return (int64_t)(x % (uint64_t)MAXINT32) + 1;
}

void vs__graph_get_seed(vs_graph *g, int64_t op_seed, int64_t *seed,
                        int64_t *seed2)
{
    int have_op = op_seed >= 0;
    int64_t s1, s2;
    if (g->has_seed) {
        s1 = g->graph_seed;
        s2 = have_op ? op_seed : g->op_count;
    } else if (have_op) {
        s1 = DEFAULT_GRAPH_SEED;
        s2 = op_seed;
    } else {
        /* TF passes (0, 0): the kernel seeds itself from the OS. */
        *seed = random_seed_from_os();
        *seed2 = random_seed_from_os();
        return;
    }
    s1 %= MAXINT32;
    s2 %= MAXINT32;
    if (s1 == 0 && s2 == 0)
        s2 = MAXINT32;
    *seed = s1;
    *seed2 = s2;
}

/* ---- unique names (Graph.unique_name) ---- */

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

/* Runs statement `which` with key (klen bytes) bound as ?1. *n: for a
 * read (ST_NAMES_GET), its first column or 0 without a row; for a write,
 * the rows it changed. */
static int names_op(vs_graph *g, int which, const char *key, size_t klen,
                    int64_t *n)
{
    sqlite3_stmt *st = g->st[which];
    int rc;
    *n = 0;
    if (sqlite3_bind_text(st, 1, key, (int)klen, SQLITE_STATIC) != SQLITE_OK) {
        sqlite3_reset(st);
        return vs__graph_sqlfail(g, "bind");
    }
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *n = sqlite3_column_int64(st, 0);
    else if (rc == SQLITE_DONE && which != ST_NAMES_GET)
        *n = sqlite3_changes(g->db);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return vs__graph_sqlfail(g, which == ST_NAMES_GET ? "read"
                                                            : "write");
    return VS_OK;
}

/* i = the use count of key; with mark, counts one more use. */
static int names_count(vs_graph *g, const char *key, size_t klen, int mark,
                       int64_t *i)
{
    int64_t changed;
    int rc;
    if (!mark)
        return names_op(g, ST_NAMES_GET, key, klen, i);
    *i = 0;
    g->names_seen = 0;
    rc = names_op(g, ST_NAMES_BUMP, key, klen, &changed);
    if (rc != VS_OK)
        return rc;
    if (changed == 1) {
        *i = g->names_seen;
        return VS_OK;
    }
    return names_op(g, ST_NAMES_ADD, key, klen, &changed);
}

/* Writes "_<v>" (v >= 0) at dst; returns its length (at most 21). */
static size_t put_suffix(char *dst, int64_t v)
{
    char tmp[24];
    size_t n = 0, k;
    uint64_t u = (uint64_t)v;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u != 0);
    dst[0] = '_';
    for (k = 0; k < n; k++)
        dst[1 + k] = tmp[n - 1 - k];
    return n + 1;
}

int vs__unique_name(vs_graph *g, const char *name, int mark, int at_root,
                    char **out)
{
    /* The lowercase key and its probes "<key>_<i>" are built here: the
     * statements bind them in place (no copies per call). */
    char key[VS_NAME_MAX + 24];
    char *full;
    size_t k, len, nlen = strlen(name), slen = 0, plen;
    int64_t i, n;
    int rc;

    *out = NULL;
    if (!at_root && g->stack[0])
        slen = strlen(g->stack);
    len = slen ? slen + 1 + nlen : nlen;
    if (len > VS_NAME_MAX)
        return vs__fail(VS_EINVAL, "name is too long: %zu bytes (at most %d)",
                        len, VS_NAME_MAX);
    full = vs__malloc(len + 24); /* room for "_<i>" */
    if (full == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    if (slen) {
        memcpy(full, g->stack, slen);
        full[slen] = '/';
    }
    memcpy(full + len - nlen, name, nlen + 1);
    /* Lookups ignore case (late TF 1.x); the result keeps the caller's. */
    for (k = 0; k < len; k++)
        key[k] = (char)tolower((unsigned char)full[k]);
    key[len] = '\0';
    rc = names_count(g, key, len, mark, &i);
    if (rc != VS_OK)
        goto fail;
    if (i > 0) {
        /* TF: the first "<key>_<i>", i counting up, not in use; marking
         * claims it (an insert that does nothing when the key is taken). */
        for (;; i++) {
            plen = len + put_suffix(key + len, i);
            rc = names_op(g, mark ? ST_NAMES_CLAIM : ST_NAMES_GET, key, plen,
                          &n);
            if (rc != VS_OK)
                goto fail;
            if (mark ? n == 1 : n == 0)
                break;
        }
        put_suffix(full + len, i);
        full[plen] = '\0';
    }
    if (mark)
        g->op_count++;
    *out = full;
    return VS_OK;
fail:
    vs__free(full);
    return rc;
}

int vs_unique_name(vs_graph *g, const char *name, int mark_used, char **out)
{
    if (out != NULL)
        *out = NULL;
    if (g == NULL || name == NULL || out == NULL)
        return vs__fail(VS_EINVAL, "vs_unique_name: graph, name and out are "
                                   "required");
    if (name[0] == '\0')
        return vs__fail(VS_EINVAL, "vs_unique_name: empty name");
    return vs__unique_name(g, name, mark_used, 0, out);
}

/* ---- name scopes (Graph.name_scope) ---- */

/* TF 1.15: at the root ^[A-Za-z0-9.][A-Za-z0-9_.\-/]*$, nested
 * ^[A-Za-z0-9_.\-/]*$. */
int vs__check_scope_name(const char *name, int nested)
{
    const unsigned char *p = (const unsigned char *)name;
    size_t len = strlen(name);
    if (len > VS_NAME_MAX)
        return vs__fail(VS_EINVAL, "name is too long: %zu bytes (at most %d)",
                        len, VS_NAME_MAX);
    if (!nested && *p != '\0' && !(isalnum(*p) || *p == '.'))
        goto bad;
    for (; *p; p++) {
        if (!(isalnum(*p) || *p == '_' || *p == '.' || *p == '-' ||
              *p == '/'))
            goto bad;
    }
    return VS_OK;
bad:
    return vs__fail(VS_EINVAL, "'%s' is not a valid scope name", name);
}

static int push_frame(vs_graph *g, const vs_frame *f)
{
    if (g->n_frames == g->cap_frames) {
        size_t cap = g->cap_frames ? 2 * g->cap_frames : 16;
        vs_frame *p = vs__realloc(g->frames, cap * sizeof *p);
        if (p == NULL)
            return vs__fail(VS_ENOMEM, "out of memory");
        g->frames = p;
        g->cap_frames = cap;
    }
    g->frames[g->n_frames++] = *f;
    return VS_OK;
}

/* Enters name scope `name` and pushes a frame of the given kind holding
 * what to restore. NULL or "" resets to the root; "x/" re-enters x. */
int vs__name_scope_enter(vs_graph *g, const char *name, int kind)
{
    vs_frame f;
    char *next = NULL;
    size_t len;
    int rc;

    memset(&f, 0, sizeof f);
    f.kind = kind;
    if (name == NULL || name[0] == '\0') {
        next = vs__strdup("");
    } else {
        size_t nlen = strlen(name);
        rc = vs__check_scope_name(name, g->stack[0] != '\0');
        if (rc != VS_OK)
            return rc;
        if (name[nlen - 1] == '/')
            next = vs__strndup(name, nlen - 1);
        else {
            rc = vs__unique_name(g, name, 1, 0, &next);
            if (rc != VS_OK)
                return rc;
        }
    }
    if (next == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    len = strlen(next);
    rc = slash_reserve(g, len);
    if (rc == VS_OK)
        rc = push_frame(g, &f);
    if (rc != VS_OK) {
        vs__free(next);
        return rc;
    }
    /* The frame keeps the old stack (no copy) to restore on exit. */
    stack_replace(g, next, len, &g->frames[g->n_frames - 1].saved_stack);
    return VS_OK;
}

int vs_name_scope_push(vs_graph *g, const char *name)
{
    if (g == NULL)
        return vs__fail(VS_EINVAL, "vs_name_scope_push: graph is NULL");
    return vs__name_scope_enter(g, name, FRAME_NAME);
}

/* Restores the name stack saved in frame f (if it saved one). */
int vs__frame_restore_stack(vs_graph *g, vs_frame *f)
{
    size_t len;
    int rc;
    if (f->saved_stack == NULL)
        return VS_OK;
    len = strlen(f->saved_stack);
    rc = slash_reserve(g, len); /* fits: it was current once */
    if (rc != VS_OK) {
        vs__free(f->saved_stack);
        f->saved_stack = NULL;
        return rc;
    }
    stack_replace(g, f->saved_stack, len, NULL);
    f->saved_stack = NULL; /* the graph owns it again */
    return VS_OK;
}

int vs_name_scope_pop(vs_graph *g)
{
    vs_frame *f;
    if (g == NULL)
        return vs__fail(VS_EINVAL, "vs_name_scope_pop: graph is NULL");
    if (g->n_frames == 0)
        return vs__fail(VS_EINVAL, "no name scope is open");
    f = &g->frames[g->n_frames - 1];
    if (f->kind != FRAME_NAME)
        return vs__fail(VS_EINVAL, "Improper nesting of name_scope: variable "
                                   "scope '%s' is still open inside it",
                        f->scope->name);
    g->n_frames--;
    return vs__frame_restore_stack(g, f);
}

const char *vs_name_scope_current(const vs_graph *g)
{
    return g ? g->stack_slash : "";
}
