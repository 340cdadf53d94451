/* varstore CLI: the commands that check or change a file in place:
 * `varstore verify` (cmd_verify), `varstore prune` (cmd_prune) and
 * `varstore rename` (cmd_rename). */
#define _POSIX_C_SOURCE 200809L

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
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
    "checkpoint uses are freed, and their space is reused by the next saves\n"
    "('varstore compact' gives it back to the file system).\n"
    "\n"
    "options:\n"
    "  --keep N    how many of the newest checkpoints to keep (at least 1)\n"
    "  -h, --help  show this help\n"
    "\n"
    "example:\n"
    "  varstore prune model.db --keep 5\n";

static const char help_compact[] =
    "usage: varstore compact FILE\n"
    "\n"
    "Gives the space of deleted checkpoints back to the file system: the file\n"
    "shrinks to what its checkpoints use. Moves the pages after the free\n"
    "space, so it takes time in proportion to them; saves reuse free space\n"
    "without it.\n"
    "\n"
    "options:\n"
    "  -h, --help  show this help\n"
    "\n"
    "example:\n"
    "  varstore compact model.db\n";

static const char help_rename[] =
    "usage: varstore rename FILE OLD/ NEW/ [--step N]\n"
    "\n"
    "Renames every tensor in scope OLD/ to scope NEW/ instead, in one\n"
    "transaction (the fix for a scope renamed in a refactor). OLD/ and NEW/\n"
    "are whole leading parts of a name: a '/' is added to each if missing,\n"
    "so 'rename FILE layer1 block1' renames layer1/w to block1/w and never\n"
    "touches layer10/w. It fails, changing nothing, if a new name is taken\n"
    "or if no name is in OLD/. OLD/ and NEW/ must be valid UTF-8.\n"
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

    if (vs_list_checkpoints(path, &ck, &nck) != VS_OK)
        return 0; /* the caller says what verify found */
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
        if (named == 0 && n_bad == 0) /* none in tensor data (schema) */
            return cli_err("%s", first);
        if (named == 0) /* damage outside tensor data as well */
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

/* What rename's command line asks for. */
typedef struct {
    const char *pos[3]; /* FILE OLD NEW */
    int npos, have_step;
    int64_t step;
} rename_args;

/* Parses argv into o. -1: go on; else the exit status. */
static int rename_parse(int argc, char **argv, rename_args *o)
{
    const char *v;
    int i, r;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(help_rename, stdout);
            return EXIT_OK;
        } else if ((r = opt_value(argc, argv, &i, "--step", &v)) != 0) {
            if (r < 0 || parse_i64(v, &o->step) != 0 || o->step < 0)
                return usage("rename ", "--step needs a non-negative "
                                        "integer");
            o->have_step = 1;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage("rename ", "unknown option '%s'", a);
        } else if (o->npos < 3) {
            o->pos[o->npos++] = a;
        } else {
            return usage("rename ", "unexpected argument '%s'", a);
        }
    }
    if (o->npos != 3)
        return usage("rename ", "rename needs FILE OLD/ NEW/");
    if (o->pos[1][0] == '\0')
        return usage("rename ", "OLD/ must not be empty");
    return -1;
}

/* How many names (in the step asked for, or in every checkpoint) start
 * with prefix; (size_t)-1 after printing an error. */
static size_t count_prefixed(const rename_args *o, const char *prefix)
{
    vs_ckpt_info *ck = NULL;
    size_t nck = 0, c, matches = 0, plen = strlen(prefix);
    if (vs_list_checkpoints(o->pos[0], &ck, &nck) != VS_OK) {
        cli_err("%s", vs_errmsg());
        return (size_t)-1;
    }
    for (c = 0; c < nck; c++) {
        vs_tensor_info *infos = NULL;
        size_t n = 0, k;
        if (o->have_step && ck[c].step != o->step)
            continue;
        if (vs_list_variables(o->pos[0], ck[c].step, &infos, &n) != VS_OK) {
            vs_free(ck);
            cli_err("%s", vs_errmsg());
            return (size_t)-1;
        }
        for (k = 0; k < n; k++)
            matches += strncmp(infos[k].name, prefix, plen) == 0;
        vs_tensor_info_free(infos, n);
    }
    vs_free(ck);
    return matches;
}

/* OLD and NEW name whole scopes: each ends with '/' (added if missing;
 * an empty NEW stays empty: the top level). */
static int rename_exec(const rename_args *o, const char *from, const char *to)
{
    size_t matches;
    if (need_file(o->pos[0]) != EXIT_OK ||
        need_utf8("OLD/", from) != EXIT_OK || need_utf8("NEW/", to) != EXIT_OK)
        return EXIT_ERR;
    /* Count the names it would touch: none is most likely a typo. */
    matches = count_prefixed(o, from);
    if (matches == (size_t)-1)
        return EXIT_ERR;
    if (matches == 0 && o->have_step)
        return cli_err("no tensor name starts with '%s' in step %lld of %s",
                       from, (long long)o->step, o->pos[0]);
    if (matches == 0)
        return cli_err("no tensor name starts with '%s' in %s", from,
                       o->pos[0]);
    if (vs_rename_prefix(o->pos[0], from, to,
                         o->have_step ? o->step : VS_ALL_STEPS) != VS_OK)
        return cli_err("%s", vs_errmsg());
    if (o->have_step)
        printf("renamed %zu tensors from '%s' to '%s' in step %lld\n",
               matches, from, to, (long long)o->step);
    else
        printf("renamed %zu tensors from '%s' to '%s' in every checkpoint\n",
               matches, from, to);
    return EXIT_OK;
}

/* s as a scope: s itself when empty or ending with '/', else s + "/". */
static char *as_scope(const char *s)
{
    size_t n = strlen(s);
    return join(s, n == 0 || s[n - 1] == '/' ? "" : "/", "");
}

int cmd_rename(int argc, char **argv)
{
    rename_args o;
    char *from, *to;
    int rc;
    memset(&o, 0, sizeof o);
    rc = rename_parse(argc, argv, &o);
    if (rc >= 0)
        return rc;
    from = as_scope(o.pos[1]);
    to = as_scope(o.pos[2]);
    rc = from == NULL || to == NULL ? cli_err("out of memory")
                                    : rename_exec(&o, from, to);
    free(from);
    free(to);
    return rc;
}

int cmd_compact(int argc, char **argv)
{
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(help_compact, stdout);
            return EXIT_OK;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage("compact ", "unknown option '%s'", a);
        } else if (path == NULL) {
            path = a;
        } else {
            return usage("compact ", "unexpected argument '%s'", a);
        }
    }
    if (path == NULL)
        return usage("compact ", "compact needs a FILE");
    if (need_file(path) != EXIT_OK)
        return EXIT_ERR;
    int64_t freed = 0;
    if (vs_compact(path, &freed) != VS_OK)
        return cli_err("%s", vs_errmsg());
    printf("%s: gave back %lld bytes\n", path, (long long)freed);
    return EXIT_OK;
}
