/* varstore CLI: the commands that check or change a file in place:
 * `varstore verify` (cmd_verify), `varstore prune` (cmd_prune) and
 * `varstore rename` (cmd_rename). */
#define _POSIX_C_SOURCE 200809L

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "varstore.h"

/* ------------------------------------------------------------------------ */
/* Help texts                                                                */

static const char help_verify[] =
    "usage: varstore verify FILE\n"
    "\n"
    "Checks the schema and every stored chunk's CRC32. Exit status 0 when\n"
    "all is well, 1 when anything is damaged: each bad tensor is named,\n"
    "with its step, on stderr.\n"
    "\n"
    "options:\n"
    "  -h, --help  show this help\n"
    "\n"
    "example:\n"
    "  varstore verify model.db\n";

static const char help_prune[] =
    "usage: varstore prune FILE --keep N\n"
    "\n"
    "Keeps the newest N checkpoints and deletes the others; chunks no kept\n"
    "checkpoint uses are freed.\n"
    "\n"
    "options:\n"
    "  --keep N    how many of the newest checkpoints to keep (at least 1)\n"
    "  -h, --help  show this help\n"
    "\n"
    "example:\n"
    "  varstore prune model.db --keep 5\n";

static const char help_rename[] =
    "usage: varstore rename FILE OLD/ NEW/ [--step N]\n"
    "\n"
    "Renames every tensor whose name starts with OLD/ to start with NEW/\n"
    "instead, in one transaction (the fix for a scope renamed in a\n"
    "refactor). It fails, changing nothing, if a new name is taken or if\n"
    "no name starts with OLD/.\n"
    "\n"
    "options:\n"
    "  --step N    rename in checkpoint N only (default: every checkpoint)\n"
    "  -h, --help  show this help\n"
    "\n"
    "example:\n"
    "  varstore rename model.db tower/conv1/ tower/block1/conv1/\n";

/* ------------------------------------------------------------------------ */
/* verify, prune, rename                                                     */

/* After vs_verify found damage: reads every tensor of every checkpoint and
 * names each bad one. Returns the count found. */
static size_t name_bad_tensors(const char *path)
{
    vs_ckpt_info *ck = NULL;
    size_t nck = 0, c, bad = 0;

    if (vs_list_checkpoints(path, &ck, &nck) != VS_OK) {
        cli_err("%s", vs_errmsg());
        return 0;
    }
    for (c = 0; c < nck; c++) {
        vs_tensor_info *infos = NULL;
        size_t n = 0, k;
        if (vs_list_variables(path, ck[c].step, &infos, &n) != VS_OK) {
            cli_err("step %lld: %s", (long long)ck[c].step, vs_errmsg());
            bad++;
            continue;
        }
        for (k = 0; k < n; k++) {
            vs_tensor *t = NULL;
            if (vs_load_variable(path, ck[c].step, infos[k].name, &t) !=
                VS_OK) {
                /* the library's text names the tensor and the step */
                if (strstr(vs_errmsg(), infos[k].name) != NULL)
                    cli_err("%s", vs_errmsg());
                else
                    cli_err("step %lld: tensor '%s' is damaged: %s",
                            (long long)ck[c].step, infos[k].name, vs_errmsg());
                bad++;
            }
            vs_tensor_free(t);
        }
        vs_tensor_info_free(infos, n);
    }
    vs_free(ck);
    return bad;
}

int cmd_verify(int argc, char **argv)
{
    const char *path = NULL;
    size_t n_bad = 0, nck = 0, k;
    int64_t n_tensors = 0;
    vs_ckpt_info *ck = NULL;
    int i, rc;
    vs_verify_opts vo;
    progress pg;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(help_verify, stdout);
            return EXIT_OK;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage("verify ", "unknown option '%s'", a);
        } else if (path == NULL) {
            path = a;
        } else {
            return usage("verify ", "unexpected argument '%s'", a);
        }
    }
    if (path == NULL)
        return usage("verify ", "verify needs a FILE");
    if (need_file(path) != EXIT_OK)
        return EXIT_ERR;
    memset(&vo, 0, sizeof vo);
    vo.progress = progress_cb;
    vo.progress_ctx = &pg;
    progress_start_bytes(&pg, "verifying", 0);
    rc = vs_verify_ex(path, &vo, &n_bad);
    progress_end(&pg);
    if (rc == VS_ECORRUPT) {
        char first[1024];
        size_t named;
        snprintf(first, sizeof first, "%s", vs_errmsg());
        named = name_bad_tensors(path);
        if (named == 0) /* damage outside tensor data (schema, index) */
            cli_err("%s", first);
        return cli_err("%s: %zu damaged tensor%s found", path,
                       n_bad > named ? n_bad : named,
                       (n_bad > named ? n_bad : named) == 1 ? "" : "s");
    }
    if (rc != VS_OK)
        return cli_err("%s", vs_errmsg());
    if (vs_list_checkpoints(path, &ck, &nck) != VS_OK)
        return cli_err("%s", vs_errmsg());
    for (k = 0; k < nck; k++)
        n_tensors += ck[k].n_tensors;
    vs_free(ck);
    printf("%s: ok (%zu checkpoints, %lld tensors)\n", path, nck,
           (long long)n_tensors);
    return EXIT_OK;
}

int cmd_prune(int argc, char **argv)
{
    const char *path = NULL, *v;
    int64_t keep = -1;
    int i, r, first = 1;
    vs_ckpt_info *before = NULL, *after = NULL;
    size_t nb = 0, na = 0, k, j;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(help_prune, stdout);
            return EXIT_OK;
        } else if ((r = opt_value(argc, argv, &i, "--keep", &v)) != 0) {
            if (r < 0 || parse_i64(v, &keep) != 0 || keep < 1 ||
                keep > INT_MAX)
                return usage("prune ", "--keep needs an integer of at least "
                                       "1");
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage("prune ", "unknown option '%s'", a);
        } else if (path == NULL) {
            path = a;
        } else {
            return usage("prune ", "unexpected argument '%s'", a);
        }
    }
    if (path == NULL)
        return usage("prune ", "prune needs a FILE");
    if (keep < 0)
        return usage("prune ", "prune needs --keep N");
    if (need_file(path) != EXIT_OK)
        return EXIT_ERR;
    if (vs_list_checkpoints(path, &before, &nb) != VS_OK)
        return cli_err("%s", vs_errmsg());
    if (vs_prune(path, (int)keep) != VS_OK) {
        vs_free(before);
        return cli_err("%s", vs_errmsg());
    }
    if (vs_list_checkpoints(path, &after, &na) != VS_OK) {
        vs_free(before);
        return cli_err("%s", vs_errmsg());
    }
    printf("deleted:");
    for (k = 0; k < nb; k++) {
        for (j = 0; j < na && after[j].step != before[k].step; j++)
            ;
        if (j == na) {
            printf("%s %lld", first ? "" : ",", (long long)before[k].step);
            first = 0;
        }
    }
    printf("%s\nkept:", first ? " none" : "");
    for (j = 0; j < na; j++)
        printf("%s %lld", j ? "," : "", (long long)after[j].step);
    printf("%s\n", na ? "" : " none");
    vs_free(before);
    vs_free(after);
    return EXIT_OK;
}

int cmd_rename(int argc, char **argv)
{
    const char *pos[3] = {NULL, NULL, NULL}, *v;
    int npos = 0, i, r, have_step = 0;
    int64_t step = VS_ALL_STEPS;
    vs_ckpt_info *ck = NULL;
    size_t nck = 0, c, matches = 0;

    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(help_rename, stdout);
            return EXIT_OK;
        } else if ((r = opt_value(argc, argv, &i, "--step", &v)) != 0) {
            if (r < 0 || parse_i64(v, &step) != 0 || step < 0)
                return usage("rename ", "--step needs a non-negative "
                                        "integer");
            have_step = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage("rename ", "unknown option '%s'", a);
        } else if (npos < 3) {
            pos[npos++] = a;
        } else {
            return usage("rename ", "unexpected argument '%s'", a);
        }
    }
    if (npos != 3)
        return usage("rename ", "rename needs FILE OLD/ NEW/");
    if (pos[1][0] == '\0')
        return usage("rename ", "OLD/ must not be empty");
    if (need_file(pos[0]) != EXIT_OK)
        return EXIT_ERR;
    /* Count the names it would touch: none is most likely a typo. */
    if (vs_list_checkpoints(pos[0], &ck, &nck) != VS_OK)
        return cli_err("%s", vs_errmsg());
    for (c = 0; c < nck; c++) {
        vs_tensor_info *infos = NULL;
        size_t n = 0, k;
        if (have_step && ck[c].step != step)
            continue;
        if (vs_list_variables(pos[0], ck[c].step, &infos, &n) != VS_OK) {
            vs_free(ck);
            return cli_err("%s", vs_errmsg());
        }
        for (k = 0; k < n; k++)
            matches += strncmp(infos[k].name, pos[1], strlen(pos[1])) == 0;
        vs_tensor_info_free(infos, n);
    }
    vs_free(ck);
    if (matches == 0) {
        if (have_step)
            return cli_err("no tensor name starts with '%s' in step %lld "
                           "of %s", pos[1], (long long)step, pos[0]);
        return cli_err("no tensor name starts with '%s' in %s", pos[1],
                       pos[0]);
    }
    if (vs_rename_prefix(pos[0], pos[1], pos[2], step) != VS_OK)
        return cli_err("%s", vs_errmsg());
    if (have_step)
        printf("renamed %zu tensors from '%s' to '%s' in step %lld\n",
               matches, pos[1], pos[2], (long long)step);
    else
        printf("renamed %zu tensors from '%s' to '%s' in every checkpoint\n",
               matches, pos[1], pos[2]);
    return EXIT_OK;
}
