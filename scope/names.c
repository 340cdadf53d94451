/* varstore: TF's Graph.unique_name and Graph.name_scope: op and scope
 * names made unique against the registry, and the name-scope frames. */
#include <ctype.h>
#include <string.h>

#include "scope_int.h"

/* ---- unique names (Graph.unique_name) ---- */


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
    rc = vs__stack_reserve(g, len);
    if (rc == VS_OK)
        rc = push_frame(g, &f);
    if (rc != VS_OK) {
        vs__free(next);
        return rc;
    }
    /* The frame keeps the old stack (no copy) to restore on exit. */
    vs__stack_replace(g, next, len, &g->frames[g->n_frames - 1].saved_stack);
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
    rc = vs__stack_reserve(g, len); /* fits: it was current once */
    if (rc != VS_OK) {
        vs__free(f->saved_stack);
        f->saved_stack = NULL;
        return rc;
    }
    vs__stack_replace(g, f->saved_stack, len, NULL);
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
