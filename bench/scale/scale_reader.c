/* scale_reader: a second process reading a checkpoint file while the
 * scale bench saves into it (its readers row). Runs until SIGTERM or
 * SIGINT, then prints what it saw.
 *
 * Usage: scale_reader DB poll          every ~10 ms: open the file, find
 *                                      the latest step, close; each poll
 *                                      timed, the longest kept
 *        scale_reader DB restore STEP  loads every tensor of STEP, again
 *                                      and again
 * Prints "ready" once it has read the file once (the caller starts the
 * save then), and at the end {"loops": n, "max_s": s, "mean_s": s,
 * "errors": n, "last_error": "..."}. A failed read is counted, not fatal
 * (the caller fails the row when errors > 0). */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "scale_util.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

static int poll_once(const char *db)
{
    vs_ckpt *f = NULL;
    int64_t step = 0;
    int rc = vs_ckpt_open(db, &f);
    if (rc == VS_OK)
        rc = vs_ckpt_latest(f, &step);
    vs_ckpt_close(f);
    return rc;
}

static int restore_once(const char *db, int64_t step)
{
    vs_ckpt *f = NULL;
    vs_tensor_info *info = NULL;
    size_t n = 0;
    int rc = vs_ckpt_open(db, &f);
    if (rc == VS_OK)
        rc = vs_ckpt_list_variables(f, step, &info, &n);
    const char **names = calloc(n ? n : 1, sizeof *names);
    vs_tensor **out = calloc(n ? n : 1, sizeof *out);
    if (rc == VS_OK && (names == NULL || out == NULL))
        sc_die("calloc", "out of memory");
    for (size_t i = 0; rc == VS_OK && i < n; i++)
        names[i] = info[i].name;
    if (rc == VS_OK)
        rc = vs_ckpt_load_many(f, step, names, n, out);
    for (size_t i = 0; rc == VS_OK && i < n; i++)
        vs_tensor_free(out[i]);
    free(out);
    free(names);
    vs_tensor_info_free(info, n);
    vs_ckpt_close(f);
    return rc;
}

static void pause_10ms(void)
{
    struct timespec ts = {0, 10 * 1000 * 1000};
    nanosleep(&ts, NULL); /* EINTR: the signal ends the loop anyway */
}

int main(int argc, char **argv)
{
    sc_prog = "scale_reader";
    int restore = argc == 4 && strcmp(argv[2], "restore") == 0;
    if (!restore && !(argc == 3 && strcmp(argv[2], "poll") == 0)) {
        fprintf(stderr, "usage: scale_reader DB poll | DB restore STEP\n");
        return 2;
    }
    int64_t step = restore ? sc_int_arg(argv[3], "STEP") : 0;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    if (sigaction(SIGTERM, &sa, NULL) != 0 || sigaction(SIGINT, &sa, NULL) != 0)
        sc_die("sigaction", "failed");
    sc_check(restore ? restore_once(argv[1], step) : poll_once(argv[1]),
             "first read");
    printf("ready\n");
    if (fflush(stdout) != 0)
        sc_die("stdout", "write failed");
    long loops = 0, errors = 0;
    double max_s = 0, sum_s = 0;
    char last_error[256] = "";
    while (!stop) {
        double t0 = sc_now();
        int rc = restore ? restore_once(argv[1], step) : poll_once(argv[1]);
        double dt = sc_now() - t0;
        loops++;
        sum_s += dt;
        max_s = dt > max_s ? dt : max_s;
        if (rc != VS_OK) {
            errors++;
            snprintf(last_error, sizeof last_error, "%s", vs_errmsg());
            for (char *c = last_error; *c; c++)
                *c = (*c == '"' || *c == '\\' || *c < ' ') ? '\'' : *c;
        }
        if (!restore)
            pause_10ms();
    }
    printf("{\"loops\": %ld, \"max_s\": %.6f, \"mean_s\": %.6f, \"errors\": %ld, "
           "\"last_error\": \"%s\"}\n",
           loops, max_s, loops ? sum_s / (double)loops : 0.0, errors, last_error);
    return fflush(stdout) == 0 ? 0 : 1;
}
