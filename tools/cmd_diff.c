/* varstore CLI: `varstore diff` (cmd_diff). Compares two checkpoints (two
 * steps of one file, or the newest of two files): tensors added, removed
 * and changed, with counts and largest differences of changed values. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "varstore.h"
#include "vst.h"

/* ------------------------------------------------------------------------ */
/* Help text                                                                 */

static const char help_diff[] =
    "usage: varstore diff FILE STEP_A STEP_B [--json]\n"
    "       varstore diff FILE_A FILE_B [--json]\n"
    "\n"
    "Compares two checkpoints: two steps of one file, or the newest\n"
    "checkpoints of two files. Lists tensors added, removed and changed\n"
    "(dtype, shape, or values: how many elements differ, the largest\n"
    "absolute difference |b-a| and the largest relative difference\n"
    "|b-a| / max(|a|, |b|)). Exit status 0 whether or not they differ.\n"
    "\n"
    "options:\n"
    "  --json      print the result as one JSON document\n"
    "  -h, --help  show this help\n"
    "\n"
    "examples:\n"
    "  varstore diff model.db 100 200\n"
    "  varstore diff old.db new.db\n";

/* ------------------------------------------------------------------------ */
/* diff                                                                      */

typedef struct {
    int64_t n_diff;
    double max_abs, max_rel;
} cmp_result;

static void compare_values(const vs_tensor *a, const vs_tensor *b,
                           cmp_result *c)
{
    size_t i, n = (size_t)vs_tensor_numel(a), es = vs_dtype_size(a->dtype);
    const unsigned char *pa = a->data, *pb = b->data;
    memset(c, 0, sizeof *c);
    for (i = 0; i < n; i++) {
        double x, y, d, m;
        if (memcmp(pa + i * es, pb + i * es, es) == 0)
            continue;
        c->n_diff++;
        x = vst_elem_f64(a, i);
        y = vst_elem_f64(b, i);
        if (a->dtype == VS_INT64) {
            /* |b - a| in uint64_t: exact, and no signed overflow (UB) for
             * values of opposite signs far apart */
            int64_t ia = vst_elem_i64(a, i), ib = vst_elem_i64(b, i);
            d = (double)(ib >= ia ? (uint64_t)ib - (uint64_t)ia
                                  : (uint64_t)ia - (uint64_t)ib);
        } else {
            d = fabs(y - x);
        }
        if (isnan(d)) {
            /* a NaN on either side (or inf - inf): infinitely different */
            c->max_abs = INFINITY;
            c->max_rel = INFINITY;
            continue;
        }
        m = fmax(fabs(x), fabs(y));
        if (d > c->max_abs)
            c->max_abs = d;
        if (m > 0 && isfinite(m) && d / m > c->max_rel)
            c->max_rel = d / m;
        else if (!isfinite(m))
            c->max_rel = INFINITY;
    }
}

/* The two checkpoints compared: file and step of each, their tensors. */
typedef struct {
    const char *pa, *pb;
    int64_t sa, sb;
    int want_json;
    vs_tensor_info *ia, *ib;
    size_t na, nb;
    int64_t n_added, n_removed, n_changed, n_same;
} diff_run;

/* Parses argv into d (files and steps resolved). -1: go on; else the exit
 * status (help printed, a usage error, or an error). */
static int diff_parse(int argc, char **argv, diff_run *d)
{
    const char *pos[3] = {NULL, NULL, NULL};
    int npos = 0, i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(help_diff, stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            d->want_json = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage("diff ", "unknown option '%s'", a);
        } else if (npos < 3) {
            pos[npos++] = a;
        } else {
            return usage("diff ", "unexpected argument '%s'", a);
        }
    }
    if (npos < 2)
        return usage("diff ", "diff needs FILE STEP_A STEP_B or FILE_A "
                              "FILE_B");
    if (npos == 3) {
        d->pa = d->pb = pos[0];
        if (parse_i64(pos[1], &d->sa) != 0 || d->sa < 0 ||
            parse_i64(pos[2], &d->sb) != 0 || d->sb < 0)
            return usage("diff ", "STEP_A and STEP_B must be non-negative "
                                  "integers");
        return need_file(d->pa) != EXIT_OK ? EXIT_ERR : -1;
    }
    d->pa = pos[0];
    d->pb = pos[1];
    if (need_file(d->pa) != EXIT_OK || need_file(d->pb) != EXIT_OK)
        return EXIT_ERR;
    if (vs_latest_checkpoint(d->pa, &d->sa) != VS_OK ||
        vs_latest_checkpoint(d->pb, &d->sb) != VS_OK)
        return cli_err("%s", vs_errmsg());
    return -1;
}

/* One name of either side: x (a's tensor) and/or y (b's). */
typedef struct {
    const vs_tensor_info *x, *y;
    const char *status;
    cmp_result cr;
    int meta_changed, values;
} diff_item;

/* Compares x and y (both present): dtype and shape, else every value. */
static int diff_both(diff_run *d, diff_item *it)
{
    const vs_tensor_info *x = it->x, *y = it->y;
    int same_shape = x->ndim == y->ndim &&
                     memcmp(x->shape, y->shape,
                            (size_t)x->ndim * sizeof x->shape[0]) == 0;
    if (x->dtype != y->dtype || !same_shape) {
        it->meta_changed = 1;
    } else {
        vs_tensor *ta = NULL, *tb = NULL;
        if (vs_load_variable(d->pa, d->sa, x->name, &ta) != VS_OK ||
            vs_load_variable(d->pb, d->sb, y->name, &tb) != VS_OK) {
            vs_tensor_free(ta);
            return cli_err("%s", vs_errmsg());
        }
        compare_values(ta, tb, &it->cr);
        vs_tensor_free(ta);
        vs_tensor_free(tb);
        it->values = 1;
    }
    if (it->meta_changed || it->cr.n_diff > 0) {
        it->status = "changed";
        d->n_changed++;
    } else {
        it->status = "unchanged";
        d->n_same++;
    }
    return EXIT_OK;
}

static void json_side(const char *key, const vs_tensor_info *t)
{
    printf(",\"%s\":{\"dtype\":\"%s\",\"shape\":", key,
           vs_dtype_name(t->dtype));
    json_shape(stdout, t->ndim, t->shape);
    printf("}");
}

static void diff_print_json(const diff_item *it, int first)
{
    printf("%s{\"name\":", first ? "" : ",");
    json_str(stdout, (it->x ? it->x : it->y)->name);
    printf(",\"status\":\"%s\"", it->status);
    if (it->x)
        json_side("a", it->x);
    if (it->y)
        json_side("b", it->y);
    if (it->values) {
        printf(",\"n_diff\":%lld,\"max_abs\":", (long long)it->cr.n_diff);
        json_num(stdout, it->cr.max_abs);
        printf(",\"max_rel\":");
        json_num(stdout, it->cr.max_rel);
    }
    printf("}");
}

static void diff_print_text(const diff_item *it)
{
    const vs_tensor_info *x = it->x, *y = it->y;
    char s1[VST_SHAPE_STR_MAX], s2[VST_SHAPE_STR_MAX];
    if (x && !y)
        printf("removed    %s  %s %s\n", x->name, vs_dtype_name(x->dtype),
               vst_shape_str(x->ndim, x->shape, s1, sizeof s1));
    else if (y && !x)
        printf("added      %s  %s %s\n", y->name, vs_dtype_name(y->dtype),
               vst_shape_str(y->ndim, y->shape, s1, sizeof s1));
    else if (it->meta_changed)
        printf("changed    %s  %s %s -> %s %s\n", x->name,
               vs_dtype_name(x->dtype),
               vst_shape_str(x->ndim, x->shape, s1, sizeof s1),
               vs_dtype_name(y->dtype),
               vst_shape_str(y->ndim, y->shape, s2, sizeof s2));
    else if (it->cr.n_diff > 0)
        printf("changed    %s  %lld of %lld elements differ, max abs %.9g, "
               "max rel %.9g\n",
               x->name, (long long)it->cr.n_diff, (long long)x->numel,
               it->cr.max_abs, it->cr.max_rel);
}

/* Walks both sorted lists together, printing each name's result. */
static int diff_walk(diff_run *d)
{
    size_t ka = 0, kb = 0;
    int first = 1;
    progress pg;
    progress_start(&pg, "comparing", d->na + d->nb);
    while (ka < d->na || kb < d->nb) {
        int c = ka == d->na   ? 1
                : kb == d->nb ? -1
                              : strcmp(d->ia[ka].name, d->ib[kb].name);
        diff_item it;
        memset(&it, 0, sizeof it);
        it.x = c <= 0 ? &d->ia[ka] : NULL;
        it.y = c >= 0 ? &d->ib[kb] : NULL;
        if (it.x && !it.y) {
            it.status = "removed";
            d->n_removed++;
        } else if (it.y && !it.x) {
            it.status = "added";
            d->n_added++;
        } else if (diff_both(d, &it) != EXIT_OK) {
            progress_end(&pg);
            return EXIT_ERR;
        }
        if (d->want_json)
            diff_print_json(&it, first);
        else
            diff_print_text(&it);
        first = 0;
        ka += c <= 0;
        kb += c >= 0;
        progress_update(&pg, ka + kb);
    }
    progress_end(&pg);
    return EXIT_OK;
}

static int diff_exec(diff_run *d)
{
    if (vs_list_variables(d->pa, d->sa, &d->ia, &d->na) != VS_OK ||
        vs_list_variables(d->pb, d->sb, &d->ib, &d->nb) != VS_OK)
        return cli_err("%s", vs_errmsg());
    if (d->want_json) {
        printf("{\"a\":{\"file\":");
        json_str(stdout, d->pa);
        printf(",\"step\":%lld},\"b\":{\"file\":", (long long)d->sa);
        json_str(stdout, d->pb);
        printf(",\"step\":%lld},\"tensors\":[", (long long)d->sb);
    } else {
        printf("--- %s step %lld\n+++ %s step %lld\n", d->pa,
               (long long)d->sa, d->pb, (long long)d->sb);
    }
    if (diff_walk(d) != EXIT_OK)
        return EXIT_ERR;
    if (d->want_json)
        printf("],\"added\":%lld,\"removed\":%lld,\"changed\":%lld,"
               "\"unchanged\":%lld}\n",
               (long long)d->n_added, (long long)d->n_removed,
               (long long)d->n_changed, (long long)d->n_same);
    else
        printf("%lld added, %lld removed, %lld changed, %lld unchanged\n",
               (long long)d->n_added, (long long)d->n_removed,
               (long long)d->n_changed, (long long)d->n_same);
    return EXIT_OK;
}

int cmd_diff(int argc, char **argv)
{
    diff_run d;
    int rc;
    memset(&d, 0, sizeof d);
    rc = diff_parse(argc, argv, &d);
    if (rc < 0)
        rc = diff_exec(&d);
    vs_tensor_info_free(d.ia, d.na);
    vs_tensor_info_free(d.ib, d.nb);
    return rc;
}
