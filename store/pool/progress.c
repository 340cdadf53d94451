/* varstore: progress reports to a caller's callback, about every MiB of
 * raw bytes, always from the calling thread. */
#include <string.h>

#include "store_int.h"

void vs__progress_init(vs__progress *p, vs__progress_fn fn, void *ctx,
                       uint64_t total)
{
    memset(p, 0, sizeof *p);
    p->fn = fn;
    p->ctx = ctx;
    p->total = total;
}

void vs__progress_add(vs__progress *p, uint64_t n)
{
    if (p == NULL || p->fn == NULL || p->ended)
        return;
    p->done = n > p->total - p->done ? p->total : p->done + n;
    if (p->done < p->total && p->done - p->last >= VS_PROGRESS_STEP) {
        p->last = p->done;
        p->fn(p->ctx, p->done, p->total);
    }
}

void vs__progress_end(vs__progress *p)
{
    if (p == NULL || p->fn == NULL || p->ended)
        return;
    p->ended = 1;
    p->done = p->total;
    p->last = p->total;
    p->fn(p->ctx, p->total, p->total);
}
