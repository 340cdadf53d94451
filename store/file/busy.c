/* varstore: the busy handler of every connection. SQLite's own
 * (sqlite3_busy_timeout) sleeps longer and longer between tries, up to
 * 100 ms each: a reader that comes while a save holds the file, or a
 * save that waits for a reader's short read transaction to end, would
 * then wait up to 100 ms past the moment the file is free. A batched
 * save (store/save/batch.c) frees the file between its batches for about
 * a millisecond only, before its next batch's pages go to the file: so
 * this one tries again every VS_BUSY_TRY_US microseconds. A try is one
 * fcntl() call; a waiting connection costs a few percent of a core. */
#define _GNU_SOURCE /* nanosleep, clock_gettime */
#include <stdint.h>
#include <time.h>

#include "store_int.h"

#define VS_BUSY_TRY_US 200

int64_t vs__now_us(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* When the current wait of this thread began (a wait happens on the
 * thread whose SQLite call waits, and ends before it returns). */
static _Thread_local int64_t wait_start_us;
static _Thread_local int64_t waits_begun;

int64_t vs__store_busy_waits(void)
{
    return waits_begun;
}

/* SQLite calls this with the number of earlier calls for the same lock;
 * ctx is the timeout in ms. Nonzero: try again. */
static int busy_wait(void *ctx, int tries)
{
    int64_t limit_us = (int64_t)(intptr_t)ctx * 1000;
    int64_t now = vs__now_us();
    if (tries == 0) {
        wait_start_us = now;
        waits_begun++;
    }
    /* Without a clock, count the tries as if each slept its due time. */
    int64_t waited = now >= 0 && wait_start_us >= 0
                         ? now - wait_start_us
                         : (int64_t)tries * VS_BUSY_TRY_US;
    if (waited >= limit_us)
        return 0;
    struct timespec ts = {0, VS_BUSY_TRY_US * 1000L};
    (void)nanosleep(&ts, NULL); /* EINTR: an earlier try */
    return 1;
}

int vs__store_busy(sqlite3 *db, int busy_ms)
{
    if (busy_ms <= 0)
        return sqlite3_busy_timeout(db, 0);
    return sqlite3_busy_handler(db, busy_wait, (void *)(intptr_t)busy_ms);
}
