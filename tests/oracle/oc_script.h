/* Scripted cases: a program on a fresh graph that prints what it sees.
 * Shared by oc_names.c, oc_reuse.c and oc_partition.c. */
#ifndef VS_ORACLE_OC_SCRIPT_H
#define VS_ORACLE_OC_SCRIPT_H

#include "oc.h"

typedef struct {
    const char *name;
    void (*fn)(vs_graph *g, oc_result *r);
} oc_script;

/* Adds one case per script (name "group.script"). */
void oc_add_scripts(oc_add_fn add, const char *group, const oc_script *s,
                    size_t n);

/* Prints "error CODE: message" when rc is not VS_OK. */
void oc_step(oc_result *r, int rc);
/* Pushes print what they opened (the scope and name scope lines) or their
 * error; pops print only an error. */
void oc_vpush(vs_graph *g, oc_result *r, const char *name, vs_reuse reuse);
void oc_npush(vs_graph *g, oc_result *r, const char *name);
/* After entering a variable scope some other way: rc's error, or the
 * scope and name scope lines. */
void oc_show_entered(vs_graph *g, oc_result *r, int rc);
#define oc_vpop(g, r) oc_step((r), vs_variable_scope_pop(g))
#define oc_npop(g, r) oc_step((r), vs_name_scope_pop(g))
/* "name_scope <current>" (with its trailing "/"). */
void oc_name_scope_line(vs_graph *g, oc_result *r);
/* "scope <name> <original_name_scope> reuse=<True|False|AUTO>" of the
 * current variable scope. */
void oc_scope_line(vs_graph *g, oc_result *r);
/* vs_get_variable, float32 unless dt; prints the var or the error and
 * returns the variable (NULL on failure). ndim < 0: no shape. */
vs_var *oc_getv(vs_graph *g, oc_result *r, const char *name, int ndim,
                const int64_t *shape, vs_dtype dt);
/* oc_vpush, oc_getv (float32), oc_vpop. */
vs_var *oc_getv_in(vs_graph *g, oc_result *r, const char *scope,
                   vs_reuse reuse, const char *name, int ndim,
                   const int64_t *shape);
/* "collection KEY [REGEX]: name name ...". */
void oc_collection_line(vs_graph *g, oc_result *r, const char *key,
                        const char *regex);

#endif /* VS_ORACLE_OC_SCRIPT_H */
