/* varstore: graph collections (TF's get_collection and
 * VariableScope.get_collection): variables listed under a key in creation
 * order, optionally filtered by a scope regex. */
#include <string.h>

#include "scope_int.h"
#include "scope_export.h"

/* The members of key (filtered by scope_regex when not NULL): up to cap
 * into out, their count into *n. VS_EINVAL for a bad regex, VS_ENOMEM. */
static int collection_query(vs_graph *g, const char *key,
                            const char *scope_regex, vs_var **out, size_t cap,
                            size_t *n)
{
    sqlite3_stmt *st;
    int rc;
    *n = 0;
    if (g == NULL || key == NULL)
        return vs__fail(VS_EINVAL,
                        "vs_get_collection: graph and key are required");
    st = g->st[ST_COLL_LIST];
    if (sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC) != SQLITE_OK ||
        (scope_regex ? sqlite3_bind_text(st, 2, scope_regex, -1, SQLITE_STATIC)
                     : sqlite3_bind_null(st, 2)) != SQLITE_OK) {
        rc = vs__graph_sqlfail(g, "bind");
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        return rc;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_int64 id = sqlite3_column_int64(st, 0);
        if (*n < cap && out != NULL)
            out[*n] = id < 0 ? NULL : vs__graph_var_at(g, (size_t)id);
        (*n)++;
    }
    int code = VS_OK;
    if (rc != SQLITE_DONE) {
        /* a bad regex is the caller's; running out of memory is not */
        code = vs__fail(rc == SQLITE_NOMEM ? VS_ENOMEM : VS_EINVAL, "%s",
                        sqlite3_errmsg(g->db));
        *n = 0;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return code;
}

size_t vs_get_collection(vs_graph *g, const char *key, const char *scope_regex,
                         vs_var **out, size_t cap)
{
    size_t n = 0;
    (void)collection_query(g, key, scope_regex, out, cap, &n);
    return n;
}

int vs__collection_all(vs_graph *g, const char *key, vs_var ***out, size_t *n)
{
    size_t total = 0;
    *out = NULL;
    *n = 0;
    int rc = collection_query(g, key, NULL, NULL, 0, &total);
    if (rc != VS_OK)
        return rc;
    vs_var **v = vs__calloc(total ? total : 1, sizeof *v);
    if (v == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    size_t got = 0;
    rc = collection_query(g, key, NULL, v, total, &got);
    if (rc == VS_OK && got != total)
        rc = vs__fail(VS_ERROR, "the collection %s changed", key);
    if (rc != VS_OK) {
        vs__free(v);
        return rc;
    }
    *out = v;
    *n = total;
    return VS_OK;
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
