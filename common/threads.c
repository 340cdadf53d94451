/* varstore: the library's one answer to "how many CPUs" (common/). */
#define _POSIX_C_SOURCE 200809L

#include <stdatomic.h>
#include <unistd.h>

#include "vs_common.h"

/* Online CPUs, 0 until first asked. Every thread that asks before the
 * first store computes the same value, so the race is benign. */
static atomic_int online_cpus;

int vs__cpu_count(void)
{
    int n = atomic_load(&online_cpus);
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c < 1 ? 1 : (c > VS_MAX_THREADS ? VS_MAX_THREADS : (int)c);
        atomic_store(&online_cpus, n);
    }
    return n;
}
