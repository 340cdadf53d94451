/* varstore: a load's destination memory made resident ahead of its
 * reads. A load into fresh memory spends much of its time in page faults
 * (the kernel finding, zeroing and mapping each 4 KiB page on first
 * touch): about 0.23-0.30 s for 512 MiB on one thread of the development
 * VM, where the reading thread copies the same 512 MiB from the page
 * cache in a fraction of that. The faults of different threads run in
 * parallel (0.13-0.16 s for 512 MiB on two), so a helper thread asks the
 * kernel to populate the destinations, in the order the load fills them,
 * while the calling thread reads: the reads then copy into pages already
 * there.
 *
 * MADV_POPULATE_WRITE (Linux 5.14) faults pages in writable without
 * changing their contents, so the helper may run over memory that the
 * load is writing at the same time. Where the kernel or the memory does
 * not take it (an older kernel, a mapping that refuses it), the helper
 * stops and the load faults its pages itself, as it always did. The
 * helper stops as soon as the load ends: it never outlives the call. */
#define _GNU_SOURCE /* MADV_POPULATE_WRITE */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "store_int.h"

#if defined(__linux__) && !defined(MADV_POPULATE_WRITE)
#define MADV_POPULATE_WRITE 23 /* linux/mman.h: older C library headers */
#endif

/* Loads of fewer destination bytes than this fault their pages alone: a
 * thread's start would cost about what it saves. */
#define VS_PREFAULT_MIN_BYTES ((uint64_t)4 << 20)
/* Populated per call, so that a stop request is seen soon. */
#define VS_PREFAULT_STEP ((size_t)2 << 20)

struct vs__prefault {
    pthread_t thread;
    const vs__load_item *items;
    size_t n;
    atomic_int stop;
};

static atomic_size_t g_bytes, g_starts;

size_t vs__prefault_bytes(void) { return atomic_load(&g_bytes); }
size_t vs__prefault_starts(void) { return atomic_load(&g_starts); }

int vs__prefault_finish; /* read and set on the calling thread only */

#if defined(__linux__)
/* Whether the load writes item it into fresh memory (not a variable's
 * own buffer, already in use). */
static int fresh_dst(const vs__load_item *it)
{
    return it->dst != NULL && !it->in_place;
}

/* Populates the whole pages of [p, p + len), a step at a time; 0 once
 * told to stop or refused. */
static int populate(struct vs__prefault *pf, unsigned char *p, size_t len,
                    size_t page)
{
    uintptr_t a = ((uintptr_t)p + page - 1) & ~(uintptr_t)(page - 1);
    uintptr_t end = ((uintptr_t)p + len) & ~(uintptr_t)(page - 1);
    while (a < end) {
        if (atomic_load_explicit(&pf->stop, memory_order_relaxed))
            return 0;
        size_t n = end - a < VS_PREFAULT_STEP ? end - a : VS_PREFAULT_STEP;
        if (madvise((void *)a, n, MADV_POPULATE_WRITE) != 0)
            return 0;
        atomic_fetch_add_explicit(&g_bytes, n, memory_order_relaxed);
        a += n;
    }
    return 1;
}

static void *prefault_main(void *arg)
{
    struct vs__prefault *pf = arg;
    long ps = sysconf(_SC_PAGESIZE);
    size_t page = ps > 0 ? (size_t)ps : 4096;
    for (size_t i = 0; i < pf->n; i++) {
        const vs__load_item *it = &pf->items[i];
        if (fresh_dst(it) && !populate(pf, it->dst, it->nbytes, page))
            break;
    }
    return NULL;
}
#endif

vs__prefault *vs__prefault_start(const vs__load_item *items, size_t n,
                                 int threads)
{
#if defined(__linux__)
    uint64_t bytes = 0;
    for (size_t i = 0; i < n; i++)
        if (fresh_dst(&items[i]))
            bytes += items[i].nbytes;
    if (bytes < VS_PREFAULT_MIN_BYTES || threads < 2)
        return NULL;
    struct vs__prefault *pf = vs__calloc(1, sizeof *pf);
    if (pf == NULL)
        return NULL; /* an optimization: the load goes on without it */
    pf->items = items;
    pf->n = n;
    atomic_init(&pf->stop, 0);
    if (pthread_create(&pf->thread, NULL, prefault_main, pf) != 0) {
        vs__free(pf);
        return NULL;
    }
    atomic_fetch_add(&g_starts, 1);
    return pf;
#else
    (void)items;
    (void)n;
    (void)threads;
    return NULL;
#endif
}

void vs__prefault_stop(vs__prefault *pf)
{
    if (pf == NULL)
        return;
    if (!vs__prefault_finish)
        atomic_store(&pf->stop, 1);
    /* Joining a thread this call started cannot fail. */
    (void)pthread_join(pf->thread, NULL);
    vs__free(pf);
}
