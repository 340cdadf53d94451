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
        x = elem_f64(a, i);
        y = elem_f64(b, i);
        if (a->dtype == VS_INT64) {
            /* |b - a| in uint64_t: exact, and no signed overflow (UB) for
             * values of opposite signs far apart */
            int64_t ia = elem_i64(a, i), ib = elem_i64(b, i);
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

int cmd_diff(int argc, char **argv)
{
    const char *pos[3] = {NULL, NULL, NULL};
    const char *pa, *pb;
    int npos = 0, want_json = 0, i, rc = EXIT_ERR, first = 1;
    int64_t sa, sb;
    vs_tensor_info *ia = NULL, *ib = NULL;
    size_t na = 0, nb = 0, ka = 0, kb = 0;
    int64_t n_added = 0, n_removed = 0, n_changed = 0, n_same = 0;
    char s1[VST_SHAPE_STR_MAX], s2[VST_SHAPE_STR_MAX];
    progress pg;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(help_diff, stdout);
            return EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            want_json = 1;
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
        pa = pb = pos[0];
        if (parse_i64(pos[1], &sa) != 0 || sa < 0 ||
            parse_i64(pos[2], &sb) != 0 || sb < 0)
            return usage("diff ", "STEP_A and STEP_B must be non-negative "
                                  "integers");
        if (need_file(pa) != EXIT_OK)
            return EXIT_ERR;
    } else {
        pa = pos[0];
        pb = pos[1];
        if (need_file(pa) != EXIT_OK || need_file(pb) != EXIT_OK)
            return EXIT_ERR;
        if (vs_latest_checkpoint(pa, &sa) != VS_OK ||
            vs_latest_checkpoint(pb, &sb) != VS_OK)
            return cli_err("%s", vs_errmsg());
    }
    if (vs_list_variables(pa, sa, &ia, &na) != VS_OK ||
        vs_list_variables(pb, sb, &ib, &nb) != VS_OK) {
        cli_err("%s", vs_errmsg());
        goto done;
    }
    if (want_json) {
        printf("{\"a\":{\"file\":");
        json_str(stdout, pa);
        printf(",\"step\":%lld},\"b\":{\"file\":", (long long)sa);
        json_str(stdout, pb);
        printf(",\"step\":%lld},\"tensors\":[", (long long)sb);
    } else {
        printf("--- %s step %lld\n+++ %s step %lld\n", pa, (long long)sa, pb,
               (long long)sb);
    }
    progress_start(&pg, "comparing", na + nb);
    while (ka < na || kb < nb) {
        int c = ka == na ? 1 : kb == nb ? -1 : strcmp(ia[ka].name,
                                                      ib[kb].name);
        const char *status;
        const vs_tensor_info *x = c <= 0 ? &ia[ka] : NULL;
        const vs_tensor_info *y = c >= 0 ? &ib[kb] : NULL;
        cmp_result cr;
        int meta_changed = 0, values = 0;

        memset(&cr, 0, sizeof cr);
        if (x && !y) {
            status = "removed";
            n_removed++;
        } else if (y && !x) {
            status = "added";
            n_added++;
        } else {
            int same_shape = x->ndim == y->ndim &&
                             memcmp(x->shape, y->shape,
                                    (size_t)x->ndim * sizeof x->shape[0]) == 0;
            if (x->dtype != y->dtype || !same_shape) {
                meta_changed = 1;
            } else {
                vs_tensor *ta = NULL, *tb = NULL;
                if (vs_load_variable(pa, sa, x->name, &ta) != VS_OK ||
                    vs_load_variable(pb, sb, y->name, &tb) != VS_OK) {
                    progress_end(&pg);
                    vs_tensor_free(ta);
                    cli_err("%s", vs_errmsg());
                    goto done;
                }
                compare_values(ta, tb, &cr);
                vs_tensor_free(ta);
                vs_tensor_free(tb);
                values = 1;
            }
            if (meta_changed || cr.n_diff > 0) {
                status = "changed";
                n_changed++;
            } else {
                status = "unchanged";
                n_same++;
            }
        }
        if (want_json) {
            const vs_tensor_info *z = x ? x : y;
            printf("%s{\"name\":", first ? "" : ",");
            json_str(stdout, z->name);
            printf(",\"status\":\"%s\"", status);
            if (x) {
                printf(",\"a\":{\"dtype\":\"%s\",\"shape\":",
                       vs_dtype_name(x->dtype));
                json_shape(stdout, x->ndim, x->shape);
                printf("}");
            }
            if (y) {
                printf(",\"b\":{\"dtype\":\"%s\",\"shape\":",
                       vs_dtype_name(y->dtype));
                json_shape(stdout, y->ndim, y->shape);
                printf("}");
            }
            if (values) {
                printf(",\"n_diff\":%lld,\"max_abs\":", (long long)cr.n_diff);
                json_num(stdout, cr.max_abs);
                printf(",\"max_rel\":");
                json_num(stdout, cr.max_rel);
            }
            printf("}");
            first = 0;
        } else if (x && !y) {
            printf("removed    %s  %s %s\n", x->name, vs_dtype_name(x->dtype),
                   vst_shape_str(x->ndim, x->shape, s1, sizeof s1));
        } else if (y && !x) {
            printf("added      %s  %s %s\n", y->name, vs_dtype_name(y->dtype),
                   vst_shape_str(y->ndim, y->shape, s1, sizeof s1));
        } else if (meta_changed) {
            printf("changed    %s  %s %s -> %s %s\n", x->name,
                   vs_dtype_name(x->dtype),
                   vst_shape_str(x->ndim, x->shape, s1, sizeof s1),
                   vs_dtype_name(y->dtype),
                   vst_shape_str(y->ndim, y->shape, s2, sizeof s2));
        } else if (cr.n_diff > 0) {
            printf("changed    %s  %lld of %lld elements differ, max abs "
                   "%.9g, max rel %.9g\n",
                   x->name, (long long)cr.n_diff, (long long)x->numel,
                   cr.max_abs, cr.max_rel);
        }
        if (c <= 0)
            ka++;
        if (c >= 0)
            kb++;
        progress_update(&pg, ka + kb);
    }
    progress_end(&pg);
    if (want_json)
        printf("],\"added\":%lld,\"removed\":%lld,\"changed\":%lld,"
               "\"unchanged\":%lld}\n",
               (long long)n_added, (long long)n_removed, (long long)n_changed,
               (long long)n_same);
    else
        printf("%lld added, %lld removed, %lld changed, %lld unchanged\n",
               (long long)n_added, (long long)n_removed, (long long)n_changed,
               (long long)n_same);
    rc = EXIT_OK;
done:
    vs_tensor_info_free(ia, na);
    vs_tensor_info_free(ib, nb);
    return rc;
}
