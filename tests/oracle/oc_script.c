/* Scripted cases: the steps they share, each printing only on failure. */
#include "oc_script.h"

#include <string.h>

static int run_script(const oc_case *c, oc_result *r)
{
    const oc_script *s = c->spec;
    vs_graph *g = NULL;
    int rc = vs_graph_open(&g);
    if (rc != VS_OK)
        return rc;
    s->fn(g, r);
    vs_graph_close(g);
    return VS_OK;
}

static void script_json(const oc_case *c, FILE *f)
{
    (void)c;
    fputs("\"group\": \"script\"", f);
}

void oc_add_scripts(oc_add_fn add, const char *group, const oc_script *s,
                    size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        oc_case c;
        memset(&c, 0, sizeof c);
        snprintf(c.name, sizeof c.name, "%s.%s", group, s[i].name);
        c.run = run_script;
        c.spec_json = script_json;
        c.spec = &s[i];
        add(&c);
    }
}

void oc_step(oc_result *r, int rc)
{
    if (rc != VS_OK)
        oc_rc(r, rc);
}

void oc_vpush(vs_graph *g, oc_result *r, const char *name, vs_reuse reuse)
{
    vs_scope_opts o;
    memset(&o, 0, sizeof o);
    o.reuse = reuse;
    oc_show_entered(g, r, vs_variable_scope_push(g, name, &o, NULL));
}

void oc_show_entered(vs_graph *g, oc_result *r, int rc)
{
    oc_step(r, rc);
    if (rc == VS_OK) {
        oc_scope_line(g, r);
        oc_name_scope_line(g, r);
    }
}

void oc_npush(vs_graph *g, oc_result *r, const char *name)
{
    int rc = vs_name_scope_push(g, name);
    oc_step(r, rc);
    if (rc == VS_OK)
        oc_name_scope_line(g, r);
}

void oc_name_scope_line(vs_graph *g, oc_result *r)
{
    oc_line(r, "name_scope %s", vs_name_scope_current(g));
}

static const char *reuse_text(vs_reuse reuse)
{
    return reuse == VS_AUTO_REUSE ? "AUTO"
           : reuse == VS_REUSE    ? "True"
                                  : "False";
}

void oc_scope_line(vs_graph *g, oc_result *r)
{
    const vs_scope *s = vs_get_variable_scope(g);
    oc_line(r, "scope %s %s reuse=%s", vs_scope_name(s),
            vs_scope_original_name_scope(s), reuse_text(vs_scope_reuse(s)));
}

vs_var *oc_getv(vs_graph *g, oc_result *r, const char *name, int ndim,
                const int64_t *shape, vs_dtype dt)
{
    vs_var_opts o;
    vs_var *v = NULL;
    int rc;
    memset(&o, 0, sizeof o);
    o.ndim = ndim < 0 ? 0 : ndim;
    static const int64_t scalar[1] = {0};
    o.shape = ndim < 0 ? NULL : shape ? shape : scalar;
    o.dtype = dt;
    rc = vs_get_variable(g, name, &o, &v);
    if (rc != VS_OK) {
        oc_rc(r, rc);
        return NULL;
    }
    oc_var(r, v);
    return v;
}

vs_var *oc_getv_in(vs_graph *g, oc_result *r, const char *scope,
                   vs_reuse reuse, const char *name, int ndim,
                   const int64_t *shape)
{
    vs_var *v;
    oc_vpush(g, r, scope, reuse);
    v = oc_getv(g, r, name, ndim, shape, 0);
    oc_vpop(g, r);
    return v;
}

void oc_collection_line(vs_graph *g, oc_result *r, const char *key,
                        const char *regex)
{
    vs_var *vars[64];
    char buf[2048];
    size_t n = vs_get_collection(g, key, regex, vars, 64), i, at = 0;
    buf[0] = '\0';
    for (i = 0; i < n && i < 64 && at < sizeof buf; i++)
        at += (size_t)snprintf(buf + at, sizeof buf - at, " %s",
                               vs_var_name(vars[i]));
    oc_line(r, "collection %s%s%s:%s", key, regex ? " " : "",
            regex ? regex : "", buf);
}
