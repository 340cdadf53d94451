/* varstore: which vector instructions this CPU has, found once. The
 * codec's loops that have an AVX2 version pick it at run time, so one
 * build runs on any x86-64 CPU. */
#include <pthread.h>

#include "store_int.h"

#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
/* Found by pthread_once, so every thread sees the answer fully set. */
static pthread_once_t avx2_once = PTHREAD_ONCE_INIT;
static int avx2_ok;

static void avx2_probe(void)
{
    __builtin_cpu_init();
    avx2_ok = __builtin_cpu_supports("avx2");
}

int vs__cpu_avx2(void)
{
    /* pthread_once fails only for an invalid control: never here. */
    (void)pthread_once(&avx2_once, avx2_probe);
    return avx2_ok;
}
#else
int vs__cpu_avx2(void) { return 0; }
#endif
