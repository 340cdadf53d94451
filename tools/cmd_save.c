/* varstore CLI: `varstore save` (cmd_save): its command line, and its
 * sources. Imports every .npy file under a directory (the .npy-tree
 * walker), every tensor of a safetensors file or every variable of a TF
 * checkpoint as one checkpoint, in one transaction, for each --step:
 * every input is checked first, then save_steps.c saves it. */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "utf8.h"
#include "npy.h"
#include "safetensors.h"
#include "save_source.h"
#include "save_steps.h"
#include "varstore.h"
#include "vst.h"

/* ------------------------------------------------------------------------ */
/* Help text                                                                 */

static const char help_save[] =
    "usage: varstore save FILE --step N (--npy DIR | --safetensors SRC |\n"
    "                     --tf-checkpoint TF) [--step N SOURCE ...]\n"
    "                     [--prefix SCOPE/] [--codec CODEC] [--journal MODE]\n"
    "\n"
    "Imports tensors as checkpoint N of FILE (created if missing), in one\n"
    "transaction: either every tensor is saved or none is. A checkpoint N\n"
    "already in FILE is replaced, as TF's Saver overwrites a step: save\n"
    "then says so. Tensor names (file names under DIR, --prefix) must be\n"
    "valid UTF-8. Several --step N SOURCE pairs save a checkpoint each, in\n"
    "order (the k-th --step goes with the k-th source), the next input\n"
    "read while the one before is written; the first failure stops there,\n"
    "and the steps saved before it stay.\n"
    "\n"
    "options:\n"
    "  --step N           the checkpoint's step (required)\n"
    "  --npy DIR          import every .npy file under DIR, recursively;\n"
    "                     DIR/conv1/weights.npy becomes conv1/weights (other\n"
    "                     files are ignored)\n"
    "  --safetensors SRC  import every tensor of the safetensors file SRC\n"
    "  --tf-checkpoint TF import every variable of a TensorFlow checkpoint:\n"
    "                     a prefix (model.ckpt-100), a folder holding TF's\n"
    "                     `checkpoint` file (its latest), or a SavedModel\n"
    "                     folder; partitioned variables are saved whole\n"
    "  --prefix SCOPE/    put every name under SCOPE/ (a '/' is added if\n"
    "                     missing)\n"
    "  --codec CODEC      shuffle-zlib (default: byte shuffle + zlib on the\n"
    "                     byte planes where it pays) or raw (stored as is:\n"
    "                     bigger file, fastest save and restore). Chunks\n"
    "                     are deduplicated: a chunk FILE already holds is\n"
    "                     not stored again and keeps the form it was first\n"
    "                     stored in, so a raw save of data saved before\n"
    "                     compressed stays compressed (and the reverse)\n"
    "  --journal MODE     set FILE's journal mode first, kept in the file:\n"
    "                     rollback (new files: a save writes its pages once;\n"
    "                     readers wait for each of its short commits) or wal\n"
    "                     (readers read while a save writes, but a save of\n"
    "                     1 MiB to 1 GiB into a file nobody has open takes\n"
    "                     it alone; other saves write their pages twice);\n"
    "                     fails if FILE is open elsewhere\n"
    "  -h, --help         show this help\n"
    "\n"
    "examples:\n"
    "  varstore save model.db --step 1 --npy weights/ --prefix net/\n"
    "  varstore save run.db --step 10 --npy s10/ --step 20 --npy s20/\n";

/* ------------------------------------------------------------------------ */
/* save                                                                      */

enum { NPY_SKIP, NPY_FILE, NPY_DIR };

/* What walk_npy does with the entry at full (rel: its path under the
 * root): NPY_FILE (rel ends in .npy, after a name), NPY_DIR, or NPY_SKIP
 * for other files, and for a broken or looping symbolic link under
 * another name (no file there). An exit status; a .npy that cannot be
 * read as a file is an error (printed), never left out silently. */
static int npy_entry(const char *full, const char *rel, int *kind)
{
    struct stat st;
    size_t l = strlen(rel);
    int npy = l > 4 && strcmp(rel + l - 4, ".npy") == 0 && rel[l - 5] != '/';
    *kind = NPY_SKIP;
    if (stat(full, &st) != 0) {
        if (!npy && (errno == ENOENT || errno == ELOOP))
            return EXIT_OK;
        return cli_err("cannot stat '%s': %s", full, strerror(errno));
    }
    if (S_ISDIR(st.st_mode))
        *kind = NPY_DIR;
    else if (npy && !S_ISREG(st.st_mode))
        return cli_err("'%s' is not a regular file", full);
    else if (npy)
        *kind = NPY_FILE;
    return EXIT_OK;
}

/* Collects the relative paths (without .npy) of .npy files under dir. */
static int walk_npy(const char *root, const char *rel, int depth,
                    char ***out, size_t *n, size_t *cap)
{
    char *dirpath = rel[0] ? join(root, "/", rel) : join(root, "", "");
    DIR *d;
    struct dirent *de;
    int rc = EXIT_OK;

    if (dirpath == NULL)
        return cli_err("out of memory");
    if (depth > 64) {
        free(dirpath);
        return cli_err("'%s': directories nested too deeply (a symlink loop?)",
                       root);
    }
    d = opendir(dirpath);
    if (d == NULL) {
        rc = cli_err("cannot open directory '%s': %s", dirpath,
                     strerror(errno));
        free(dirpath);
        return rc;
    }
    while (rc == EXIT_OK && (de = readdir(d)) != NULL) {
        const char *nm = de->d_name;
        char *full, *r;
        int kind = NPY_SKIP;
        if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
            continue;
        full = join(dirpath, "/", nm);
        r = rel[0] ? join(rel, "/", nm) : join(nm, "", "");
        if (full == NULL || r == NULL) {
            free(full);
            free(r);
            rc = cli_err("out of memory");
            break;
        }
        if (!vs__utf8_valid(nm, strlen(nm))) {
            rc = cli_err("a name in '%s' is not valid UTF-8 (tensor names "
                         "are)", dirpath);
        } else if ((rc = npy_entry(full, r, &kind)) == EXIT_OK &&
                   kind == NPY_DIR) {
            rc = walk_npy(root, r, depth + 1, out, n, cap);
        } else if (rc == EXIT_OK && kind == NPY_FILE) {
            if (*n == *cap) {
                size_t nc = *cap ? 2 * *cap : 32;
                char **np = realloc(*out, nc * sizeof *np);
                if (np == NULL) {
                    rc = cli_err("out of memory");
                } else {
                    *out = np;
                    *cap = nc;
                }
            }
            if (rc == EXIT_OK) {
                r[strlen(r) - 4] = '\0';
                (*out)[(*n)++] = r;
                r = NULL;
            }
        }
        free(full);
        free(r);
    }
    closedir(d);
    free(dirpath);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A new string in the format of fmt (freed with free); NULL when out of
 * memory. */
static char *fmt_str(const char *fmt, const char *a, const char *b)
{
    int n = snprintf(NULL, 0, fmt, a, b);
    char *p = n < 0 ? NULL : malloc((size_t)n + 1);
    if (p != NULL)
        (void)snprintf(p, (size_t)n + 1, fmt, a, b);
    return p;
}

/* The .npy file DIR/rel.npy, probed (header, shape, size), as a source
 * named prefix + rel. */
static int add_npy(vst_src_list *l, const char *dir, const char *rel,
                   const char *prefix)
{
    vst_npy_info info;
    vst_src s;
    memset(&s, 0, sizeof s);
    s.path = fmt_str("%s/%s.npy", dir, rel);
    if (s.path == NULL)
        return cli_err("out of memory");
    if (vst_npy_probe(s.path, &info) != VS_OK) {
        free(s.path);
        return cli_err("%s", vst_errmsg());
    }
    s.name = join(prefix, "", rel);
    s.what = join(s.path, "", "");
    s.dtype = info.dtype;
    s.ndim = info.ndim;
    memcpy(s.shape, info.shape, sizeof s.shape);
    s.nbytes = info.nbytes;
    s.kind = info.fortran ? VST_SRC_NPY : VST_SRC_FILE;
    s.off = info.data_off;
    s.file_size = info.file_size;
    s.file_id = info.file_id;
    s.swap = info.swap;
    if (s.name == NULL || s.what == NULL) {
        free(s.name);
        free(s.what);
        free(s.path);
        return cli_err("out of memory");
    }
    return vst_src_add(l, &s) == VS_OK ? EXIT_OK : cli_err("out of memory");
}

/* Every .npy file under dir, its header checked (the data is read while
 * saving). */
static int load_npy_dir(const char *dir, const char *prefix, vst_src_list *l)
{
    char **rels = NULL;
    size_t n = 0, cap = 0, i;
    int rc;
    progress pg;

    rc = walk_npy(dir, "", 0, &rels, &n, &cap);
    if (rc == EXIT_OK && n == 0)
        rc = cli_err("no .npy files under '%s'", dir);
    if (rc == EXIT_OK && n > 1)
        qsort(rels, n, sizeof *rels, cmp_str);
    progress_start(&pg, "reading", n);
    for (i = 0; rc == EXIT_OK && i < n; i++) {
        rc = add_npy(l, dir, rels[i], prefix);
        progress_update(&pg, i + 1);
    }
    progress_end(&pg);
    for (i = 0; i < n; i++)
        free(rels[i]);
    free(rels);
    return rc;
}

/* Tensor e of the safetensors file src as a source. */
static int add_st(vst_src_list *l, const char *src, const vst_file_id *fid,
                  const vst_st_entry *e, const char *prefix)
{
    vst_src s;
    if (prefix[0] == '\0' && e->name[0] == '\0')
        return cli_err("%s: a tensor has an empty name (checkpoint keys are "
                       "not empty)",
                       src);
    memset(&s, 0, sizeof s);
    s.name = join(prefix, "", e->name);
    s.path = join(src, "", "");
    s.what = fmt_str("%s: tensor '%s'", src, e->name);
    if (s.name == NULL || s.path == NULL || s.what == NULL) {
        free(s.name);
        free(s.path);
        free(s.what);
        return cli_err("out of memory");
    }
    s.dtype = e->dtype;
    s.ndim = e->ndim;
    memcpy(s.shape, e->shape, sizeof s.shape);
    s.nbytes = e->nbytes;
    s.kind = VST_SRC_FILE;
    s.off = e->offset;
    s.file_size = fid->size;
    s.file_id = *fid;
    s.swap = !vst_host_little();
    return vst_src_add(l, &s) == VS_OK ? EXIT_OK : cli_err("out of memory");
}

static int load_safetensors(const char *src, const char *prefix,
                            vst_src_list *l)
{
    vst_st_index *x = NULL;
    size_t i;
    int rc = EXIT_OK;

    if (vst_st_read_index(src, &x) != VS_OK)
        return cli_err("%s", vst_errmsg());
    if (x->n == 0)
        rc = cli_err("%s: no tensors", src);
    for (i = 0; rc == EXIT_OK && i < x->n; i++)
        rc = add_st(l, src, &x->file_id, &x->e[i], prefix);
    vst_st_index_free(x);
    return rc;
}

/* Variable info of the TF checkpoint src as a source (read whole, one at
 * a time, while saving). */
static int add_tf(vst_src_list *l, const char *src,
                  const vs_tensor_info *info, const char *prefix)
{
    vst_src s;
    int64_t numel;
    memset(&s, 0, sizeof s);
    if (vs_shape_check(info->dtype, info->ndim, info->shape, &numel,
                       &s.nbytes) != VS_OK)
        return cli_err("%s: %s: %s", src, info->name, vs_errmsg());
    s.name = join(prefix, "", info->name);
    s.path = join(src, "", "");
    s.tf_name = join(info->name, "", "");
    s.what = fmt_str("%s: tensor '%s'", src, info->name);
    if (s.name == NULL || s.path == NULL || s.tf_name == NULL ||
        s.what == NULL) {
        free(s.name);
        free(s.path);
        free(s.tf_name);
        free(s.what);
        return cli_err("out of memory");
    }
    s.dtype = info->dtype;
    s.ndim = info->ndim;
    memcpy(s.shape, info->shape, sizeof s.shape);
    s.kind = VST_SRC_TF;
    return vst_src_add(l, &s) == VS_OK ? EXIT_OK : cli_err("out of memory");
}

/* Every variable of a TF checkpoint (partitioned ones whole); tensors of
 * dtypes varstore has no counterpart for are refused by the reader. */
static int load_tf(const char *src, const char *prefix, vst_src_list *l)
{
    vs_tensor_info *infos = NULL;
    size_t n = 0, i;
    int rc = EXIT_OK;

    if (vs_tf_list_variables(src, &infos, &n) != VS_OK)
        return cli_err("%s", vs_errmsg());
    if (n == 0)
        rc = cli_err("%s: no tensors", src);
    for (i = 0; rc == EXIT_OK && i < n; i++)
        rc = add_tf(l, src, &infos[i], prefix);
    vs_tensor_info_free(infos, n);
    return rc;
}

/* What the command line asks for: the k-th --step goes with the k-th
 * source (--npy, --safetensors or --tf-checkpoint), in the order given. */
typedef struct {
    const char *path, *prefix;
    save_job *jobs; /* argc entries: room for any command line */
    size_t n_steps, n_srcs;
    int codec, journal; /* journal -1: leave it */
    unsigned given;     /* GIVEN_* bits: the options met so far */
} save_args;

/* The options that apply to every step, each given once at most. */
enum { GIVEN_CODEC = 1u, GIVEN_JOURNAL = 2u, GIVEN_PREFIX = 4u };

/* Marks option bit (name) given: 0, or -1 (usage error printed) if it
 * was given before: as if per step, while one applies to every step. */
static int given_once(save_args *o, unsigned bit, const char *name)
{
    if (o->given & bit) {
        usage("save ", "%s is given twice (one applies to every step)",
              name);
        return -1;
    }
    o->given |= bit;
    return 0;
}

/* Option --codec or --journal at argv[*i]: 1 matched (set in o), 0 not
 * this option, -1 a usage error (printed). */
static int save_mode_opt(int argc, char **argv, int *i, save_args *o)
{
    const char *v;
    int r;
    if ((r = opt_value(argc, argv, i, "--codec", &v)) != 0) {
        if (r < 0 ||
            (strcmp(v, "raw") != 0 && strcmp(v, "shuffle-zlib") != 0)) {
            usage("save ", "--codec needs raw or shuffle-zlib");
            return -1;
        }
        o->codec = strcmp(v, "raw") == 0 ? VS_CODEC_RAW : VS_CODEC_DEFAULT;
        return given_once(o, GIVEN_CODEC, "--codec") < 0 ? -1 : 1;
    }
    if ((r = opt_value(argc, argv, i, "--journal", &v)) != 0) {
        if (r < 0 || (strcmp(v, "wal") != 0 && strcmp(v, "rollback") != 0)) {
            usage("save ", "--journal needs wal or rollback");
            return -1;
        }
        o->journal = strcmp(v, "wal") == 0 ? VS_JOURNAL_WAL
                                           : VS_JOURNAL_ROLLBACK;
        return given_once(o, GIVEN_JOURNAL, "--journal") < 0 ? -1 : 1;
    }
    return 0;
}

/* Option --npy, --safetensors or --tf-checkpoint (the next source) or
 * --prefix at argv[*i], as save_mode_opt. */
static int save_path_opt(int argc, char **argv, int *i, save_args *o)
{
    save_job *j = &o->jobs[o->n_srcs];
    const str_opt srcs[3] = {
        {"--npy", &j->npy, "--npy needs a directory"},
        {"--safetensors", &j->st, "--safetensors needs a file"},
        {"--tf-checkpoint", &j->tf, "--tf-checkpoint needs a checkpoint"},
    };
    const str_opt prefix = {"--prefix", &o->prefix, "--prefix needs a scope"};
    int r = str_option(argc, argv, i, srcs, 3, "save ");
    if (r > 0)
        o->n_srcs++;
    if (r != 0)
        return r;
    r = str_option(argc, argv, i, &prefix, 1, "save ");
    return r > 0 && given_once(o, GIVEN_PREFIX, "--prefix") < 0 ? -1 : r;
}

/* After the options: a step for every source, and no step twice. */
static int save_check_jobs(const save_args *o)
{
    if (o->n_steps == 0)
        return usage("save ", "save needs --step N");
    if (o->n_steps == 1 && o->n_srcs != 1)
        return usage("save ", "save needs exactly one of --npy DIR, "
                              "--safetensors SRC and --tf-checkpoint TF");
    if (o->n_srcs != o->n_steps)
        return usage("save ", "each --step needs its own source (--npy, "
                              "--safetensors or --tf-checkpoint); steps: "
                              "%zu, sources: %zu",
                     o->n_steps, o->n_srcs);
    for (size_t k = 0; k < o->n_steps; k++)
        for (size_t m = 0; m < k; m++)
            if (o->jobs[m].step == o->jobs[k].step)
                return usage("save ", "step %lld is given twice",
                             (long long)o->jobs[k].step);
    return -1;
}

/* Parses argv into o. -1: go on; else the exit status. */
static int save_parse(int argc, char **argv, save_args *o)
{
    const char *v;
    int i, r;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(help_save, stdout);
            return EXIT_OK;
        } else if ((r = opt_value(argc, argv, &i, "--step", &v)) != 0) {
            int64_t *step = &o->jobs[o->n_steps].step;
            if (r < 0 || parse_i64(v, step) != 0 || *step < 0)
                return usage("save ", "--step needs a non-negative integer");
            o->n_steps++;
        } else if ((r = save_path_opt(argc, argv, &i, o)) != 0 ||
                   (r = save_mode_opt(argc, argv, &i, o)) != 0) {
            if (r < 0)
                return EXIT_USAGE;
        } else if (a[0] == '-' && a[1] != '\0') {
            return usage("save ", "unknown option '%s'", a);
        } else if (o->path == NULL) {
            o->path = a;
        } else {
            return usage("save ", "unexpected argument '%s'", a);
        }
    }
    if (o->path == NULL)
        return usage("save ", "save needs a FILE");
    return save_check_jobs(o);
}

int save_job_sources(const save_job *j, const char *prefix, vst_src_list *l)
{
    int rc = j->npy  ? load_npy_dir(j->npy, prefix, l)
             : j->st ? load_safetensors(j->st, prefix, l)
                     : load_tf(j->tf, prefix, l);
    /* Every input checked before anything is written. */
    if (rc == EXIT_OK && vst_src_check_bools(l) != VS_OK)
        rc = cli_err("%s", vst_errmsg());
    return rc;
}

static int save_run(const save_args *o)
{
    const char *prefix = o->prefix;
    char *pfx;
    if (prefix[0] != '\0' && prefix[strlen(prefix) - 1] != '/')
        pfx = join(prefix, "/", "");
    else
        pfx = join(prefix, "", "");
    if (pfx == NULL)
        return cli_err("out of memory");
    if (need_utf8("--prefix", pfx) != EXIT_OK) {
        free(pfx);
        return EXIT_ERR;
    }
    save_plan p = {o->path, pfx,      o->codec,
                   o->journal, o->jobs, o->n_steps};
    int rc = save_plan_run(&p);
    free(pfx);
    return rc;
}

int cmd_save(int argc, char **argv)
{
    save_args o;
    int rc;
    memset(&o, 0, sizeof o);
    o.prefix = "";
    o.codec = VS_CODEC_DEFAULT;
    o.journal = -1;
    o.jobs = calloc((size_t)(argc > 0 ? argc : 1), sizeof *o.jobs);
    if (o.jobs == NULL)
        return cli_err("out of memory");
    rc = save_parse(argc, argv, &o);
    if (rc < 0)
        rc = save_run(&o);
    free(o.jobs);
    return rc;
}
