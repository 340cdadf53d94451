/* varstore: the busy handler of every connection. SQLite's own
 * (sqlite3_busy_timeout) sleeps longer and longer between tries, up to
 * 100 ms each: a reader that comes while a save holds the file, or a
 * save that waits for a reader's short read transaction to end, would
 * then wait up to 100 ms past the moment the file is free. This one
 * tries again every millisecond or two. */
#define _GNU_SOURCE /* nanosleep */
#include <stdint.h>
#include <time.h>

#include "store_int.h"

/* The wait between tries: 1 ms for the first 50 tries (a short read
 * transaction, a small commit), then 2 ms. */
static int wait_ms(int tries)
{
    return tries < 50 ? 1 : 2;
}

/* SQLite calls this with the number of earlier calls for the same lock;
 * ctx is the timeout in ms. Nonzero: try again. */
static int busy_wait(void *ctx, int tries)
{
    int64_t limit = (int64_t)(intptr_t)ctx;
    /* the time slept so far, from the number of tries */
    int64_t slept = tries < 50 ? tries : 50 + (int64_t)(tries - 50) * 2;
    if (slept >= limit)
        return 0;
    int ms = wait_ms(tries);
    struct timespec ts = {0, (long)ms * 1000000L};
    (void)nanosleep(&ts, NULL); /* EINTR: an earlier try */
    return 1;
}

int vs__store_busy(sqlite3 *db, int busy_ms)
{
    if (busy_ms <= 0)
        return sqlite3_busy_timeout(db, 0);
    return sqlite3_busy_handler(db, busy_wait, (void *)(intptr_t)busy_ms);
}
