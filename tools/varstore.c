/* varstore: the command-line tool. inspect, save, restore, diff, verify,
 * prune and rename checkpoint files, and move tensors to and from NumPy
 * .npy files and safetensors files. Written only against the public API
 * (varstore.h) plus the tools' own format modules.
 *
 * Exit status: 0 success, 1 error (including corruption found), 2 usage
 * error. Errors go to stderr as "varstore: <message>"; --help to stdout.
 *
 * This file holds main(), the main help text and the command table; the
 * commands are in cmd_*.c, what they share in cli.h and cli_common.c. */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "varstore.h"

/* ------------------------------------------------------------------------ */
/* Help text                                                                 */

static const char help_main[] =
    "usage: varstore <command> [options]\n"
    "\n"
    "Inspect and manage varstore checkpoint files (SQLite databases holding\n"
    "many checkpoints), and move tensors to and from NumPy and safetensors.\n"
    "\n"
    "commands:\n"
    "  inspect   list checkpoints and tensors; print values and statistics\n"
    "  save      import .npy files or a safetensors file as a checkpoint\n"
    "  restore   export a checkpoint to .npy files or a safetensors file\n"
    "  diff      compare two checkpoints (of one file or of two files)\n"
    "  verify    check the schema and every chunk's CRC\n"
    "  prune     keep the newest N checkpoints, delete the rest\n"
    "  compact   give the space of deleted checkpoints back\n"
    "  rename    rename a scope prefix in place, atomically\n"
    "\n"
    "options:\n"
    "  -h, --help     show this help; 'varstore <command> --help' (or\n"
    "                 'varstore help <command>') shows a command's options\n"
    "  --version      print the varstore version\n"
    "\n"
    "exit status: 0 success, 1 error (including corruption found), 2 usage\n"
    "error. Errors are printed on stderr as 'varstore: <message>'.\n"
    "\n"
    "example:\n"
    "  varstore inspect model.db\n";

/* ------------------------------------------------------------------------ */
/* The command table and main                                                */

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        int (*fn)(int, char **);
    } cmds[] = {
        {"inspect", cmd_inspect}, {"save", cmd_save},
        {"restore", cmd_restore}, {"diff", cmd_diff},
        {"verify", cmd_verify},   {"prune", cmd_prune},
        {"rename", cmd_rename},   {"compact", cmd_compact},
    };
    size_t i;
    int rc;

    if (argc < 2)
        return usage(NULL, "missing command");
    if (is_help(argv[1])) {
        fputs(help_main, stdout);
        return EXIT_OK;
    }
    if (strcmp(argv[1], "--version") == 0) {
        printf("varstore %s\n", vs_version());
        return EXIT_OK;
    }
    if (strcmp(argv[1], "help") == 0) {
        if (argc < 3) {
            fputs(help_main, stdout);
            return EXIT_OK;
        }
        for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
            if (strcmp(argv[2], cmds[i].name) == 0) {
                char *hv[3] = {argv[2], (char *)"--help", NULL};
                return cmds[i].fn(2, hv);
            }
        }
        return usage(NULL, "unknown command '%s'", argv[2]);
    }
    for (i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        if (strcmp(argv[1], cmds[i].name) == 0) {
            rc = cmds[i].fn(argc - 1, argv + 1);
            if (fflush(stdout) != 0 || ferror(stdout)) {
                fprintf(stderr, "varstore: cannot write the output: %s\n",
                        strerror(errno));
                return EXIT_ERR;
            }
            return rc;
        }
    }
    return usage(NULL, "unknown command '%s'", argv[1]);
}
