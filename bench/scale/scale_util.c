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
