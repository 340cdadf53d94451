/* Test support: where tests put checkpoint files, and removing one with
 * its SQLite side files. Include after cmocka.h. */
#ifndef VS_TEST_DB_FILE_H
#define VS_TEST_DB_FILE_H

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* The directory for test files: $VS_TEST_TMPDIR (CTest sets it), else
 * /tmp. */
static inline const char *vs_test_tmpdir(void)
{
    const char *d = getenv("VS_TEST_TMPDIR");
    return d != NULL && *d != '\0' ? d : "/tmp";
}

/* Removes the database at p and its -wal, -shm and -journal files (those
 * missing are no error). */
static inline void vs_test_remove_db(const char *p)
{
    static const char *const side[] = {"-wal", "-shm", "-journal"};
    char b[4096 + 16];
    size_t i;
    unlink(p);
    for (i = 0; i < sizeof side / sizeof side[0]; i++) {
        snprintf(b, sizeof b, "%s%s", p, side[i]);
        unlink(b);
    }
}

#endif /* VS_TEST_DB_FILE_H */
