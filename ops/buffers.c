/* varstore: the aligned (64-byte, zero-filled, huge-page friendly)
 * buffers that hold tensor data: single buffers, the big mappings kept for
 * reuse (process-wide, under a mutex) and the arenas of a graph's
 * variables. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE 1

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#include "ops_int.h"

/* ------------------------------------------------------------------------ */
/* Aligned buffers                                                           */

#define VS_ALIGN 64
#define VS_HUGE ((size_t)2 * 1024 * 1024)
#define BUF_MAGIC 0x76734275u /* "vsBu" */

/* Every buffer has a 64-byte header just before the data, so that
 * vs__aligned_free knows how it was obtained. */
typedef struct {
    uint32_t magic;
    uint32_t mapped; /* 1: mmap'ed (base, len); 0: posix_memalign (base) */
    void *base;
    size_t len;
} buf_header;

/* Writes the header of the buffer whose data starts at p. */
static void put_header(char *p, uint32_t mapped, void *base, size_t len)
{
    buf_header h;
    h.magic = BUF_MAGIC;
    h.mapped = mapped;
    h.base = base;
    h.len = len;
    memcpy(p - VS_ALIGN, &h, sizeof h);
}

/* A heap buffer, zero-filled when zero is set. */
static void *heap_alloc(size_t nbytes, int zero)
{
    void *base = NULL;
    size_t total;
    if (vs__add_size(nbytes, VS_ALIGN, &total) != 0)
        return NULL;
    if (posix_memalign(&base, VS_ALIGN, total) != 0)
        return NULL;
    if (zero)
        memset(base, 0, total);
    char *p = (char *)base + VS_ALIGN;
    put_header(p, 0, base, total);
    return p;
}

void *vs__aligned_alloc(size_t nbytes)
{
    char *p;
    size_t total;

#if defined(__linux__) && defined(MAP_ANONYMOUS)
    /* Big buffers: fresh anonymous memory (already zero) on a 2 MiB
     * boundary. No memset: the first writer touches it at full speed.
     * No huge-page advice either: on the KVM machines the project runs
     * on (free page reporting hands freed 2 MiB blocks back to the
     * host), a first touch of 512 MiB advised MADV_HUGEPAGE took
     * 0.34-1.4 s, erratic, against a steady 0.20-0.30 s in 4 KiB pages;
     * a cold 500 MB load spent 45 % of its CPU zeroing huge pages. */
    if (nbytes >= VS_HUGE &&
        vs__add_size(nbytes, VS_HUGE + VS_ALIGN, &total) == 0) {
        void *m = mmap(NULL, total, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m != MAP_FAILED) {
            uintptr_t a = ((uintptr_t)m + VS_ALIGN + VS_HUGE - 1) &
                          ~(uintptr_t)(VS_HUGE - 1);
            p = (char *)a;
            put_header(p, 1, m, total);
            return p;
        }
        /* fall through to the heap */
    }
#endif
    return heap_alloc(nbytes, 1);
}

#if defined(__linux__) && defined(MAP_ANONYMOUS)
/* Big mappings freed by vs__aligned_free, kept for vs__aligned_alloc_uninit
 * (buffers a load overwrites whole): decoding into fresh huge pages spent
 * about 8 % of a CLI restore --npy (when it still loaded whole tensors;
 * it streams now) in the kernel zeroing them. At most
 * BIG_KEEP mappings and BIG_KEEP_BYTES in all; the zero-filled allocator
 * never takes from here. Results of pthread_mutex_lock/unlock on this
 * statically initialized default mutex are not checked: they fail only
 * on a programming error. */
#define BIG_KEEP 4
#define BIG_KEEP_BYTES ((size_t)48 << 20)
static pthread_mutex_t big_mu = PTHREAD_MUTEX_INITIALIZER;
static struct {
    void *base;
    size_t len;
} big_kept[BIG_KEEP];
static size_t big_n, big_bytes;

/* Where the data of a mapping at base starts (as vs__aligned_alloc lays
 * it out: 2 MiB aligned, the header just before). */
static char *big_data(void *base)
{
    return (char *)(((uintptr_t)base + VS_ALIGN + VS_HUGE - 1) &
                    ~(uintptr_t)(VS_HUGE - 1));
}

static int big_keep(void *base, size_t len)
{
    int kept = 0;
    if (len > BIG_KEEP_BYTES)
        return 0;
    pthread_mutex_lock(&big_mu);
    if (big_n < BIG_KEEP && big_bytes + len <= BIG_KEEP_BYTES) {
        big_kept[big_n].base = base;
        big_kept[big_n].len = len;
        big_n++;
        big_bytes += len;
        kept = 1;
    }
    pthread_mutex_unlock(&big_mu);
    return kept;
}

/* A kept mapping with room for nbytes, wasting at most half of it. */
static void *big_take(size_t nbytes)
{
    size_t best = BIG_KEEP, best_room = 0;
    void *p = NULL;
    pthread_mutex_lock(&big_mu);
    for (size_t i = 0; i < big_n; i++) {
        size_t off = (size_t)(big_data(big_kept[i].base) -
                              (char *)big_kept[i].base);
        size_t room = big_kept[i].len - off;
        if (room >= nbytes && room / 2 <= nbytes &&
            (best == BIG_KEEP || room < best_room)) {
            best = i;
            best_room = room;
        }
    }
    if (best != BIG_KEEP) {
        void *base = big_kept[best].base;
        size_t len = big_kept[best].len;
        big_bytes -= len;
        big_kept[best] = big_kept[--big_n];
        p = big_data(base);
        put_header(p, 1, base, len);
    }
    pthread_mutex_unlock(&big_mu);
    return p;
}
#endif

void *vs__aligned_alloc_uninit(size_t nbytes)
{
#if defined(__linux__) && defined(MAP_ANONYMOUS)
    if (nbytes >= VS_HUGE) {
        void *p = big_take(nbytes);
        return p != NULL ? p : vs__aligned_alloc(nbytes);
    }
#endif
    /* A heap buffer with no zero fill: the fill would be a pass over
     * every byte (and its first touch of every page) before the caller
     * writes them all anyway; a 5 MB load of ~100 tensors spent about a
     * quarter of its time in it. */
    return heap_alloc(nbytes, 0);
}

void vs__aligned_free(void *p)
{
    buf_header h;
    if (p == NULL)
        return;
    memcpy(&h, (char *)p - VS_ALIGN, sizeof h);
    if (h.magic != BUF_MAGIC)
        abort(); /* not from vs__aligned_alloc: a programming error */
    memset((char *)p - VS_ALIGN, 0, sizeof h); /* a second free aborts */
    if (h.mapped == 2)
        return; /* carved from an arena: vs__arena_free releases it */
#if defined(__linux__) && defined(MAP_ANONYMOUS)
    if (h.mapped) {
        if (!big_keep(h.base, h.len))
            (void)munmap(h.base, h.len);
        return;
    }
#endif
    free(h.base);
}

/* ---- arenas: the buffers of one graph's variables ---------------------- */

/* Variable buffers live as long as their graph. Carving them out of a few
 * big huge-page slabs instead of one mapping (or heap block) each means
 * that first touch faults 2 MiB at a time for all of them, not only for
 * buffers of 2 MiB and more: a ResNet-18 has a quarter of its bytes in
 * tensors under 2 MiB. Restoring a 45 MB model into a new graph, again
 * and again in one process (bench/ckpt_bench), took 0.029-0.030 s with
 * the advice here and on the restore's scratch, 0.036-0.039 s without:
 * a graph's memory is often that of the graph freed just before, still
 * backed by the host (vs__aligned_alloc has the other case).
 * Buffers under VS_ARENA_MIN stay on the heap, so a graph of a few small
 * variables never maps a slab. Under AddressSanitizer every buffer comes
 * from vs__aligned_alloc, where overruns of heap buffers are caught. */
#define VS_ARENA_MIN ((size_t)64 * 1024)
#define VS_SLAB_MIN ((size_t)8 * 1024 * 1024)

#if defined(__SANITIZE_ADDRESS__)
#define VS_ARENA_MMAP 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VS_ARENA_MMAP 0
#endif
#endif
#ifndef VS_ARENA_MMAP
#if defined(__linux__) && defined(MAP_ANONYMOUS)
#define VS_ARENA_MMAP 1
#else
#define VS_ARENA_MMAP 0
#endif
#endif

struct vs__slab {
    struct vs__slab *next;
    void *map;
    size_t map_len;
    char *cur, *end; /* free space, 64-byte aligned */
};

#if VS_ARENA_MMAP
static size_t slab_room(const struct vs__slab *s)
{
    return s != NULL ? (size_t)(s->end - s->cur) : 0;
}
#endif

void *vs__arena_alloc(vs__arena *a, size_t nbytes)
{
#if VS_ARENA_MMAP
    size_t need, usable, total;
    struct vs__slab *s;
    if (a == NULL || nbytes < VS_ARENA_MIN ||
        vs__add_size(nbytes, 2 * VS_ALIGN - 1, &need) != 0)
        return vs__aligned_alloc(nbytes);
    need &= ~(size_t)(VS_ALIGN - 1); /* header + data, rounded up */
    /* First fit among the newest few slabs (older ones are nearly full;
     * bounding the walk keeps many big variables linear). */
    int walked = 0;
    for (s = a->slabs; s != NULL && slab_room(s) < need && walked < 8;
         s = s->next)
        walked++;
    if (s != NULL && slab_room(s) < need)
        s = NULL;
    if (s == NULL) {
        usable = need > VS_SLAB_MIN ? need : VS_SLAB_MIN;
        if (vs__add_size(usable, VS_HUGE - 1, &usable) != 0 ||
            vs__add_size(usable & ~(VS_HUGE - 1), VS_HUGE, &total) != 0)
            return vs__aligned_alloc(nbytes);
        usable &= ~(VS_HUGE - 1);
        s = malloc(sizeof *s);
        if (s == NULL)
            return NULL;
        void *m = mmap(NULL, total, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED) {
            free(s);
            return vs__aligned_alloc(nbytes);
        }
        s->map = m;
        s->map_len = total;
        s->cur = (char *)(((uintptr_t)m + VS_HUGE - 1) &
                          ~(uintptr_t)(VS_HUGE - 1));
        s->end = s->cur + usable;
#ifdef MADV_HUGEPAGE
        (void)madvise(s->cur, usable, MADV_HUGEPAGE); /* advice only */
#endif
        s->next = a->slabs;
        a->slabs = s;
    }
    char *p = s->cur + VS_ALIGN;
    s->cur += need;
    put_header(p, 2, NULL, 0);
    return p; /* fresh anonymous memory: already zero */
#else
    (void)a;
    return vs__aligned_alloc(nbytes);
#endif
}

void vs__arena_free(vs__arena *a)
{
    if (a == NULL)
        return;
#if VS_ARENA_MMAP
    struct vs__slab *s = a->slabs, *next;
    for (; s != NULL; s = next) {
        next = s->next;
        (void)munmap(s->map, s->map_len); /* only fails on a bad range */
        free(s);
    }
#endif
    a->slabs = NULL;
}
