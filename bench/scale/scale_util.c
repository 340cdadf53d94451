/* bench/scale: errors, clock and arguments of the scale bench's C
 * programs (scale_util.h). */
#define _POSIX_C_SOURCE 200809L
#include "scale_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

const char *sc_prog = "scale";

void sc_die(const char *what, const char *detail)
{
    fprintf(stderr, "%s: %s: %s\n", sc_prog, what, detail);
    exit(1);
}

void sc_check(int rc, const char *what)
{
    if (rc != VS_OK)
        sc_die(what, vs_errmsg());
}

double sc_now(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        sc_die("clock_gettime", strerror(errno));
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int64_t sc_int_arg(const char *s, const char *what)
{
    char *end = NULL;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0)
        sc_die(what, "expected a non-negative integer");
    return (int64_t)v;
}

int sc_peak_reset(void)
{
    FILE *f = fopen("/proc/self/clear_refs", "w");
    if (f == NULL)
        return -1;
    int ok = fputs("5", f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* VmHWM in bytes, or -1. */
static int64_t peak_rss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kib = -1;
    if (f == NULL)
        return -1;
    while (kib < 0 && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmHWM: %lld kB", &kib) != 1)
            kib = -1;
    fclose(f);
    return kib < 0 ? -1 : (int64_t)kib * 1024;
}

void sc_print_peak(FILE *out, int reset)
{
    int64_t b = reset == 0 ? peak_rss() : -1;
    if (b < 0)
        fprintf(out, "\"peak_rss\": null");
    else
        fprintf(out, "\"peak_rss\": %lld", (long long)b);
}
