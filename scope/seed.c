/* varstore: TF's random_seed.get_seed: the graph-level seed and the
 * kernel seeds of each op. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <time.h>
#include <unistd.h>

#include "scope_int.h"

#define DEFAULT_GRAPH_SEED 87654321
#define MAXINT32 2147483647LL

void vs_graph_set_random_seed(vs_graph *g, int64_t seed)
{
    if (g == NULL)
        return;
    g->has_seed = seed >= 0;
    g->graph_seed = seed;
}

/* A seed from the OS for TF's "no seed at all" case. */
static int64_t random_seed_from_os(void)
{
    uint64_t x = 0;
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd >= 0) {
        ssize_t n = read(fd, &x, sizeof x);
        close(fd);
        if (n == (ssize_t)sizeof x)
            return (int64_t)(x % (uint64_t)MAXINT32) + 1;
    }
    {
        struct timespec ts;
        static _Thread_local uint64_t bump;
        clock_gettime(CLOCK_REALTIME, &ts);
        x = (uint64_t)ts.tv_nsec * 6364136223846793005ULL +
            (uint64_t)ts.tv_sec + ++bump;
    }
    return (int64_t)(x % (uint64_t)MAXINT32) + 1;
}

void vs__graph_get_seed(vs_graph *g, int64_t op_seed, int64_t *seed,
                        int64_t *seed2)
{
    int have_op = op_seed >= 0;
    int64_t s1, s2;
    if (g->has_seed) {
        s1 = g->graph_seed;
        s2 = have_op ? op_seed : g->op_count;
    } else if (have_op) {
        s1 = DEFAULT_GRAPH_SEED;
        s2 = op_seed;
    } else {
        /* TF passes (0, 0): the kernel seeds itself from the OS. */
        *seed = random_seed_from_os();
        *seed2 = random_seed_from_os();
        return;
    }
    s1 %= MAXINT32;
    s2 %= MAXINT32;
    if (s1 == 0 && s2 == 0)
        s2 = MAXINT32;
    *seed = s1;
    *seed2 = s2;
}
