/* varstore: variable scopes (TF's variable_scope / _pure_variable_scope):
 * naming, reuse inheritance, defaults, default-name counters. */
#include <string.h>

#include "scope_int.h"


int vs__init_copy(const vs_init *src, vs_init *dst, double **values_out)
{
    double *vals = NULL;
    *dst = *src;
    *values_out = NULL;
    if (src->values != NULL && src->n_values > 0) {
        size_t bytes;
        if (vs__mul_size(src->n_values, sizeof(double), &bytes) != 0)
            return vs__fail(VS_EINVAL, "initializer value list is too long");
        vals = vs__malloc(bytes);
        if (vals == NULL)
            return vs__fail(VS_ENOMEM, "out of memory");
        memcpy(vals, src->values, bytes);
    }
    dst->values = vals;
    *values_out = vals;
    return VS_OK;
}

const char *vs__init_kind_name(const vs_init *init)
{
    if (init == NULL)
        return NULL;
    switch (init->kind) {
    case VS_INIT_ZEROS: return "zeros";
    case VS_INIT_ONES: return "ones";
    case VS_INIT_CONSTANT: return "constant";
    case VS_INIT_RANDOM_NORMAL: return "random_normal";
    case VS_INIT_TRUNCATED_NORMAL: return "truncated_normal";
    case VS_INIT_RANDOM_UNIFORM: return "random_uniform";
    case VS_INIT_VARIANCE_SCALING:
        if (init->a == 1.0 && init->mode == VS_FAN_AVG)
            return init->distribution == VS_DIST_UNIFORM ? "glorot_uniform"
                                                         : "glorot_normal";
        return "variance_scaling";
    case VS_INIT_XAVIER: return "xavier";
    case VS_INIT_ORTHOGONAL: return "orthogonal";
    case VS_INIT_IDENTITY: return "identity";
    default: return "unknown";
    }
}

static int set_scope_init(vs_scope *s, const vs_init *init)
{
    vs_init copy;
    double *vals;
    int rc;
    if (init == NULL || init->kind == VS_INIT_NONE) {
        vs__free(s->init_values);
        s->init_values = NULL;
        s->has_init = 0;
        memset(&s->init, 0, sizeof s->init);
        return VS_OK;
    }
    rc = vs__init_copy(init, &copy, &vals);
    if (rc != VS_OK)
        return rc;
    vs__free(s->init_values);
    s->init = copy;
    s->init_values = vals;
    s->has_init = 1;
    return VS_OK;
}

static const char *reuse_text(vs_reuse r)
{
    return r == VS_REUSE ? "true" : r == VS_AUTO_REUSE ? "auto" : "false";
}

/* Records a scope object in the registry's scopes table. */
static int record_scope(vs_graph *g, const vs_scope *s, const char *parent)
{
    sqlite3_stmt *st = g->st[ST_SCOPE_PUT];
    const char *init = s->has_init ? vs__init_kind_name(&s->init) : NULL;
    return vs__graph_run_bound(
        g, st,
        sqlite3_bind_text(st, 1, s->name, -1, SQLITE_STATIC) == SQLITE_OK &&
            sqlite3_bind_text(st, 2, parent, -1, SQLITE_STATIC) ==
                SQLITE_OK &&
            sqlite3_bind_text(st, 3, reuse_text(s->reuse), -1,
                              SQLITE_STATIC) == SQLITE_OK &&
            sqlite3_bind_text(st, 4, vs_dtype_name(s->dtype), -1,
                              SQLITE_STATIC) == SQLITE_OK &&
            sqlite3_bind_text(st, 5, init, -1, SQLITE_STATIC) == SQLITE_OK &&
            sqlite3_bind_text(st, 6, s->name_scope, -1, SQLITE_STATIC) ==
                SQLITE_OK);
}

static int count_text_op(vs_graph *g, int which, const char *name)
{
    sqlite3_stmt *st = g->st[which];
    int rc;
    if (sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC) != SQLITE_OK)
        return vs__graph_sqlfail(g, "bind");
    rc = vs__graph_exec(g, st);
    sqlite3_clear_bindings(st);
    return rc;
}

/* Re-reads the undo log's newest position into g->log_seq (after a
 * failure, when the table and the cached value may disagree). */
static void log_resync(vs_graph *g)
{
    sqlite3_stmt *st = g->st[ST_SCOPECOUNT_LOG_MAX];
    if (sqlite3_step(st) == SQLITE_ROW)
        g->log_seq = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
}

/* Changes a count (open or close sub-scopes), first logging the old
 * values when a re-entered scope is open, so its exit can undo them. */
static int count_change(vs_graph *g, int which, const char *name)
{
    int rc;
    if (g->n_reentry > 0) {
        rc = count_text_op(g, which == ST_SCOPECOUNT_OPEN
                                  ? ST_SCOPECOUNT_LOG_ONE
                                  : ST_SCOPECOUNT_LOG_SUB,
                           name);
        if (rc != VS_OK) {
            log_resync(g);
            return rc;
        }
        /* seq is an INTEGER PRIMARY KEY: the rows just logged got the
         * highest ones, the last of them last_insert_rowid. */
        if (sqlite3_changes(g->db) > 0)
            g->log_seq = sqlite3_last_insert_rowid(g->db);
    }
    return count_text_op(g, which, name);
}

/* Undoes the count changes logged after pos, newest first. */
static int count_undo(vs_graph *g, int64_t pos)
{
    sqlite3_stmt *rd = g->st[ST_SCOPECOUNT_LOG_READ];
    int rc = VS_OK, step;
    /* Nothing logged since pos: no rows to undo (the common case). */
    if (g->log_seq == pos)
        return VS_OK;
    if (sqlite3_bind_int64(rd, 1, pos) != SQLITE_OK)
        return vs__graph_sqlfail(g, "bind");
    while ((step = sqlite3_step(rd)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(rd, 0);
        sqlite3_stmt *w;
        if (name == NULL) {
            rc = vs__fail(VS_ENOMEM, "out of memory");
            break;
        }
        if (sqlite3_column_type(rd, 1) == SQLITE_NULL) {
            w = g->st[ST_SCOPECOUNT_DELETE];
            if (sqlite3_bind_text(w, 1, name, -1, SQLITE_TRANSIENT) !=
                SQLITE_OK)
                rc = vs__graph_sqlfail(g, "bind");
        } else {
            w = g->st[ST_SCOPECOUNT_SET];
            if (sqlite3_bind_text(w, 1, name, -1, SQLITE_TRANSIENT) !=
                    SQLITE_OK ||
                sqlite3_bind_int64(w, 2, sqlite3_column_int64(rd, 1)) !=
                    SQLITE_OK)
                rc = vs__graph_sqlfail(g, "bind");
        }
        if (rc == VS_OK)
            rc = vs__graph_exec(g, w);
        else
            sqlite3_reset(w);
        sqlite3_clear_bindings(w);
        if (rc != VS_OK)
            break;
    }
    if (rc == VS_OK && step != SQLITE_DONE)
        rc = vs__graph_sqlfail(g, "read");
    sqlite3_reset(rd);
    sqlite3_clear_bindings(rd);
    if (rc != VS_OK)
        return rc;
    rd = g->st[ST_SCOPECOUNT_LOG_DROP];
    if (sqlite3_bind_int64(rd, 1, pos) != SQLITE_OK)
        return vs__graph_sqlfail(g, "bind");
    rc = vs__graph_exec(g, rd);
    sqlite3_clear_bindings(rd);
    if (rc != VS_OK) {
        log_resync(g);
        return rc;
    }
    /* Frames close in LIFO order: the row at pos (pos > 0) was logged
     * before this frame opened and stays until an outer frame closes. */
    g->log_seq = pos;
    return VS_OK;
}

/* The newest undo-log position (0 when empty). */
static int64_t log_position(const vs_graph *g)
{
    return g->log_seq;
}

/* TF's _get_unique_variable_scope(prefix): prefix, or prefix_k with the
 * first k whose count under the current scope is 0. Case-sensitive. */
static int unique_var_scope(vs_graph *g, const char *prefix, char **out)
{
    const char *parent = g->current->name;
    char *base, *cand = NULL;
    int64_t n, idx;
    int rc;

    *out = NULL;
    base = parent[0] ? vs__asprintf("%s/%s", parent, prefix)
                     : vs__strdup(prefix);
    if (base == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    rc = vs__graph_count(g, ST_SCOPECOUNT_GET, base, &n);
    if (rc != VS_OK || n == 0) {
        vs__free(base);
        if (rc == VS_OK) {
            *out = vs__strdup(prefix);
            if (*out == NULL)
                rc = vs__fail(VS_ENOMEM, "out of memory");
        }
        return rc;
    }
    for (idx = 1;; idx++) {
        vs__free(cand);
        cand = vs__asprintf("%s_%lld", base, (long long)idx);
        if (cand == NULL) {
            rc = vs__fail(VS_ENOMEM, "out of memory");
            break;
        }
        rc = vs__graph_count(g, ST_SCOPECOUNT_GET, cand, &n);
        if (rc != VS_OK)
            break;
        if (n == 0) {
            *out = vs__asprintf("%s_%lld", prefix, (long long)idx);
            if (*out == NULL)
                rc = vs__fail(VS_ENOMEM, "out of memory");
            break;
        }
    }
    vs__free(cand);
    vs__free(base);
    return rc;
}

static int check_reuse(const vs_scope_opts *opts)
{
    if (opts && opts->reuse != VS_REUSE_INHERIT && opts->reuse != VS_REUSE &&
        opts->reuse != VS_AUTO_REUSE)
        return vs__fail(VS_EINVAL,
                        "The reuse parameter must be True or False or None.");
    if (opts && opts->dtype != 0 && vs_dtype_size(opts->dtype) == 0)
        return vs__fail(VS_EINVAL, "invalid dtype %d for a variable scope",
                        (int)opts->dtype);
    return VS_OK;
}

/* Undo for a failed entry: pops the name scope frame pushed for it. */
static void undo_name_scope(vs_graph *g, int opened)
{
    if (opened) {
        g->n_frames--;
        (void)vs__frame_restore_stack(g, &g->frames[g->n_frames]);
    }
}

/* Opens the auxiliary name scope of a variable scope (or, with
 * no_auxiliary_name_scope, re-enters the current one). An empty ns_name
 * opens none, unless always is set (TF's default-name scope opens
 * name_scope(default_name) even for "", which goes back to the root).
 * Sets *opened and, when ns_out is not NULL, the name scope string into
 * *ns_out (owned by the caller). */
static int open_aux(vs_graph *g, const char *ns_name, int always,
                    const vs_scope_opts *opts, int *opened, char **ns_out)
{
    int rc;
    *opened = 0;
    if (ns_out != NULL)
        *ns_out = NULL;
    if (opts && opts->no_auxiliary_name_scope) {
        /* TF re-enters the current name scope: ops stay where they are. */
        if (ns_out == NULL)
            return VS_OK;
        *ns_out = vs__strdup(g->stack_slash);
        return *ns_out ? VS_OK : vs__fail(VS_ENOMEM, "out of memory");
    }
    if (!always && (ns_name == NULL || ns_name[0] == '\0')) {
        if (ns_out == NULL)
            return VS_OK;
        *ns_out = vs__strdup("");
        return *ns_out ? VS_OK : vs__fail(VS_ENOMEM, "out of memory");
    }
    rc = vs__name_scope_enter(g, ns_name, FRAME_VAR);
    if (rc != VS_OK)
        return rc;
    *opened = 1;
    if (ns_out == NULL)
        return VS_OK;
    *ns_out = vs__strdup(g->stack_slash);
    if (*ns_out == NULL) {
        undo_name_scope(g, 1);
        *opened = 0;
        return vs__fail(VS_ENOMEM, "out of memory");
    }
    return VS_OK;
}

/* The _pure_variable_scope part: makes the scope object, updates the
 * default-name counts and pushes (or completes) the frame. */
static int enter_pure(vs_graph *g, const char *new_name, const char *ns,
                      vs_reuse reuse, const vs_scope *copy_from,
                      const vs_scope_opts *opts, int opened, int reentry,
                      vs_scope **out)
{
    vs_scope *s;
    vs_scope *parent = g->current;
    vs_frame f;
    int64_t log_pos = 0;
    int rc;

    s = vs__scope_new(g, new_name, ns);
    if (s == NULL)
        return vs__fail(VS_ENOMEM, "out of memory");
    s->reuse = reuse;
    s->dtype = copy_from->dtype;
    rc = set_scope_init(s, copy_from->has_init ? &copy_from->init : NULL);
    if (rc == VS_OK && opts && opts->initializer)
        rc = set_scope_init(s, opts->initializer);
    if (rc != VS_OK) {
        vs__scope_free(g, s);
        return rc;
    }
    if (opts && opts->dtype)
        s->dtype = opts->dtype;
    /* (partitioned variables) inherited, or the captured scope's */
    s->has_partitioner = copy_from->has_partitioner;
    s->partitioner = copy_from->partitioner;

    /* TF opens the scope's count, then copies the table for re-entry. */
    rc = count_change(g, ST_SCOPECOUNT_OPEN, new_name);
    if (rc == VS_OK && reentry)
        log_pos = log_position(g);
    /* A re-entry changes no definition: only new scopes are recorded. */
    if (rc == VS_OK && !reentry)
        rc = record_scope(g, s, parent->name);
    if (rc != VS_OK) {
        vs__scope_free(g, s);
        return rc;
    }

    if (opened) {
        /* The name scope frame is on top: it becomes this scope's frame. */
        vs_frame *top = &g->frames[g->n_frames - 1];
        top->scope = s;
        top->saved_scope = parent;
        top->reentry = reentry;
        top->log_pos = log_pos;
    } else {
        memset(&f, 0, sizeof f);
        f.kind = FRAME_VAR;
        f.scope = s;
        f.saved_scope = parent;
        f.reentry = reentry;
        f.log_pos = log_pos;
        if (g->n_frames == g->cap_frames) {
            size_t cap = g->cap_frames ? 2 * g->cap_frames : 16;
            vs_frame *p = vs__realloc(g->frames, cap * sizeof *p);
            if (p == NULL) {
                /* the count change stays: harmless, as after TF's exit */
                vs__scope_free(g, s);
                return vs__fail(VS_ENOMEM, "out of memory");
            }
            g->frames = p;
            g->cap_frames = cap;
        }
        g->frames[g->n_frames++] = f;
    }
    g->current = s;
    if (reentry)
        g->n_reentry++;
    if (out) {
        s->pinned = 1;
        *out = s;
    }
    return VS_OK;
}

int vs_variable_scope_push(vs_graph *g, const char *name,
                           const vs_scope_opts *opts, vs_scope **out)
{
    vs_scope *parent;
    char *unique = NULL, *ns = NULL, *new_name = NULL;
    const char *ns_name;
    int opened = 0, rc;
    vs_reuse reuse;

    if (out)
        *out = NULL;
    if (g == NULL)
        return vs__fail(VS_EINVAL, "vs_variable_scope_push: graph is NULL");
    rc = check_reuse(opts);
    if (rc != VS_OK)
        return rc;
    parent = g->current;
    if (name == NULL) {
        const char *dflt = opts ? opts->default_name : NULL;
        if (opts && opts->reuse != VS_REUSE_INHERIT)
            return vs__fail(VS_EINVAL,
                            "reuse=VS_REUSE cannot be used without a "
                            "name_or_scope");
        if (dflt == NULL)
            return vs__fail(VS_EINVAL, "If default_name is None then "
                                       "name_or_scope is required");
        ns_name = dflt;
    } else {
        ns_name = name;
    }
    /* The name scope first: it validates the name. */
    rc = open_aux(g, ns_name, name == NULL, opts, &opened, &ns);
    if (rc != VS_OK)
        return rc;
    if (name == NULL) {
        rc = unique_var_scope(g, opts->default_name, &unique);
        if (rc != VS_OK)
            goto fail;
        name = unique;
    }
    new_name = parent->name[0] ? vs__asprintf("%s/%s", parent->name, name)
                               : vs__strdup(name);
    if (new_name == NULL) {
        rc = vs__fail(VS_ENOMEM, "out of memory");
        goto fail;
    }
    if (strlen(new_name) > VS_NAME_MAX) {
        rc = vs__fail(VS_EINVAL, "scope name is too long: %zu bytes (at "
                                 "most %d)",
                      strlen(new_name), VS_NAME_MAX);
        goto fail;
    }
    /* A child cannot turn reuse off: reuse = requested or parent.reuse. */
    reuse = (opts && opts->reuse != VS_REUSE_INHERIT) ? opts->reuse
                                                       : parent->reuse;
    rc = enter_pure(g, new_name, ns, reuse, parent,
                    opts, opened, 0, out);
    if (rc != VS_OK)
        goto fail;
    vs__free(unique);
    vs__free(ns);
    vs__free(new_name);
    return VS_OK;
fail:
    undo_name_scope(g, opened);
    vs__free(unique);
    vs__free(ns);
    vs__free(new_name);
    return rc;
}

int vs_variable_scope_reenter(vs_graph *g, vs_scope *scope,
                              const vs_scope_opts *opts)
{
    const char *last;
    int opened = 0, rc;
    vs_reuse reuse;

    if (g == NULL || scope == NULL)
        return vs__fail(VS_EINVAL, "vs_variable_scope_reenter: graph and "
                                   "scope are required");
    if (scope->g != g)
        return vs__fail(VS_EINVAL, "scope '%s' belongs to another graph",
                        scope->name);
    rc = check_reuse(opts);
    if (rc != VS_OK)
        return rc;
    /* The name scope opened is the last component of the scope's name,
     * relative to the current name scope; the root opens none. */
    last = strrchr(scope->name, '/');
    last = last ? last + 1 : scope->name;
    /* (the scope keeps its original name scope: no string needed) */
    rc = open_aux(g, last, 0, opts, &opened, NULL);
    if (rc != VS_OK)
        return rc;
    /* Re-entry takes the captured object's reuse unless a truthy one is
     * given; the enclosing scope is not consulted. */
    reuse = (opts && opts->reuse != VS_REUSE_INHERIT) ? opts->reuse
                                                       : scope->reuse;
    rc = enter_pure(g, scope->name, scope->name_scope, reuse, scope, opts,
                    opened, 1, NULL);
    if (rc != VS_OK)
        undo_name_scope(g, opened);
    return rc;
}

static int pop_var(vs_graph *g, const vs_scope *expect)
{
    vs_frame *f;
    int rc;

    if (g == NULL)
        return vs__fail(VS_EINVAL, "vs_variable_scope_pop: graph is NULL");
    if (g->n_frames == 0)
        return vs__fail(VS_EINVAL, "no variable scope is open");
    f = &g->frames[g->n_frames - 1];
    if (f->kind != FRAME_VAR || (expect != NULL && f->scope != expect))
        return vs__fail(VS_EINVAL, "Improper nesting of variable_scope.");
    if (f->reentry)
        rc = count_undo(g, f->log_pos);
    else
        rc = count_change(g, ST_SCOPECOUNT_CLOSE_SUB, f->scope->name);
    if (rc != VS_OK)
        return rc;
    if (f->reentry)
        g->n_reentry--;
    g->current = f->saved_scope;
    g->n_frames--;
    if (!f->scope->pinned)
        vs__scope_free(g, f->scope);
    return vs__frame_restore_stack(g, f);
}

int vs_variable_scope_pop(vs_graph *g)
{
    return pop_var(g, NULL);
}

int vs_variable_scope_exit(vs_graph *g, vs_scope *scope)
{
    if (scope == NULL)
        return vs__fail(VS_EINVAL, "vs_variable_scope_exit: scope is NULL");
    return pop_var(g, scope);
}

void vs_scope_reuse_variables(vs_scope *scope)
{
    if (scope)
        scope->reuse = VS_REUSE;
}

const char *vs_scope_name(const vs_scope *scope)
{
    return scope ? scope->name : "";
}

const char *vs_scope_original_name_scope(const vs_scope *scope)
{
    return scope ? scope->name_scope : "";
}

vs_reuse vs_scope_reuse(const vs_scope *scope)
{
    return scope ? scope->reuse : VS_REUSE_INHERIT;
}

vs_dtype vs_scope_dtype(const vs_scope *scope)
{
    return scope ? scope->dtype : VS_FLOAT32;
}

const vs_init *vs_scope_initializer(const vs_scope *scope)
{
    return (scope && scope->has_init) ? &scope->init : NULL;
}

void vs_scope_set_initializer(vs_scope *scope, const vs_init *init)
{
    if (scope == NULL)
        return;
    if (set_scope_init(scope, init) != VS_OK)
        return; /* out of memory: the message is set, the old one stays */
}

vs_scope *vs_get_variable_scope(vs_graph *g)
{
    if (g == NULL)
        return NULL;
    g->current->pinned = 1; /* the caller may keep it for re-entry */
    return g->current;
}
