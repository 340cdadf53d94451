/* varstore CLI: what the command's source files share. The helpers are
 * defined in cli_common.c; each command is in a file of its own
 * (cmd_inspect.c, cmd_save.c, cmd_restore.c, cmd_diff.c, and cmd_admin.c
 * for verify, prune and rename); varstore.c holds main() and the command
 * table. Only the CLI includes this header. */
#ifndef VS_TOOLS_CLI_H
#define VS_TOOLS_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "elem.h"
#include "varstore.h"
#include "vst.h"

/* Exit status of the command and of the helpers below that return one. */
#define EXIT_OK 0
#define EXIT_ERR 1
#define EXIT_USAGE 2

/* ------------------------------------------------------------------------ */
/* Messages and arguments                                                    */

/* Prints "varstore: <message>" on stderr; returns EXIT_ERR. (Not named
 * err: that is a function of the C library, err(3).) */
int cli_err(const char *fmt, ...) VST_PRINTF(1, 2);
/* Text cli_err prints after "varstore: " until cleared with NULL: what
 * the messages are about ("step 20: "); ctx must live until then. */
void cli_err_context(const char *ctx);
/* From cli_err_hold(1) until cli_err_hold(0), cli_err keeps its first
 * message instead of printing it (later ones are dropped); then
 * cli_err_release prints it (print 1) or drops it (print 0). For an error
 * that counts only if an earlier failure, known later, does not: one
 * error is printed. */
void cli_err_hold(int on);
void cli_err_release(int print);
/* Prints the usage error and where to find help (cmd: "save " or NULL);
 * returns EXIT_USAGE. */
int usage(const char *cmd, const char *fmt, ...) VST_PRINTF(2, 3);
int is_help(const char *a);
int parse_i64(const char *s, int64_t *out);
int opt_value(int argc, char **argv, int *i, const char *name,
              const char **val);
/* A string option: its name ("--npy"), where its value goes, and the
 * usage error when the value is missing ("--npy needs a directory"). */
typedef struct {
    const char *name;
    const char **val;
    const char *need;
} str_opt;
/* Matches argv[*i] against opts[0..n) (as opt_value): 1 matched (value
 * stored), 0 none of them, -1 a missing value (usage error printed for
 * command cmd, "save "). */
int str_option(int argc, char **argv, int *i, const str_opt *opts, size_t n,
               const char *cmd);
int need_file(const char *path);
/* As need_file, but a TensorFlow checkpoint (a prefix, a folder holding
 * TF's `checkpoint` file, a SavedModel folder) is accepted too: for the
 * commands that only read (inspect, diff). */
int need_checkpoint(const char *path);
/* Fails (printing "<what> is not valid UTF-8") unless s is valid UTF-8. */
int need_utf8(const char *what, const char *s);
/* "512 B", "1.5 KiB", ...: bytes as text in buf; returns buf. */
const char *human(int64_t bytes, char *buf, size_t cap);

/* ------------------------------------------------------------------------ */
/* Progress bar (stderr, only on a terminal, only once work takes a while)   */

/* A bar counts items (tensors, files) or, started with
 * progress_start_bytes, raw bytes reported by the library's progress
 * callbacks (progress_cb). It appears once the work has run for
 * VARSTORE_PROGRESS_DELAY seconds (default 0.5) and is redrawn at most
 * ten times a second; progress_end erases it. */
typedef struct {
    const char *label;
    uint64_t total;
    struct timespec start;
    double delay, drawn; /* seconds: before showing; of the last draw */
    int tty, shown, bytes;
} progress;

void progress_start(progress *p, const char *label, uint64_t total);
void progress_start_bytes(progress *p, const char *label, uint64_t total);
void progress_update(progress *p, uint64_t done);
void progress_cb(void *ctx, uint64_t done, uint64_t total);
void progress_end(progress *p);

/* ------------------------------------------------------------------------ */
/* Element access (elem.h) and JSON text                                    */

/* Element i of t: vst_elem_f64, vst_elem_i64 (elem.h). */
/* A JSON string; a number (non-finite: null); a shape as [2,3]. */
void json_str(FILE *f, const char *s);
void json_num(FILE *f, double v);
void json_shape(FILE *f, int ndim, const int64_t *shape);

/* ------------------------------------------------------------------------ */
/* Tensor lookup                                                             */

/* The listed tensor named name ("foo/v:0" names foo/v); NULL if none. */
const vs_tensor_info *find_info(const vs_tensor_info *infos, size_t n,
                                const char *name);

/* ------------------------------------------------------------------------ */
/* Tensor lists (save, restore) and join                                     */

typedef struct {
    char **names;
    vs_tensor **tensors;
    size_t n, cap;
    void (*release)(vs_tensor *); /* frees a tensor; NULL: vs_tensor_free */
} tensor_list;

void tl_free(tensor_list *l);
int tl_add(tensor_list *l, char *name, vs_tensor *t);
/* A new string a + sep + b (freed with free); NULL when out of memory. */
char *join(const char *a, const char *sep, const char *b);

/* ------------------------------------------------------------------------ */
/* Commands: argv[0] is the command's name; each returns an exit status.     */

int cmd_inspect(int argc, char **argv);     /* cmd_inspect.c */
int cmd_save(int argc, char **argv);        /* cmd_save.c */
int cmd_restore(int argc, char **argv);     /* cmd_restore.c */
int cmd_diff(int argc, char **argv);        /* cmd_diff.c */
int cmd_verify(int argc, char **argv);      /* cmd_admin.c */
int cmd_prune(int argc, char **argv);       /* cmd_admin.c */
int cmd_compact(int argc, char **argv);     /* cmd_admin.c */
int cmd_rename(int argc, char **argv);      /* cmd_admin.c */

#endif /* VS_TOOLS_CLI_H */
