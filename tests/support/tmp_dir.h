/* Test support: a temporary folder per test, dir, with g_path (its g.db)
 * in it; removed after the test, made writable first (a test may have
 * taken its write permission away). Include after cmocka.h. */
#ifndef VS_TEST_TMP_DIR_H
#define VS_TEST_TMP_DIR_H

#include <stdio.h>
#include <stdlib.h>

static char dir[64], g_path[128];

/* dir = /tmp/PREFIX_XXXXXX, made; 0 or -1. */
static int tmp_dir_make(const char *prefix)
{
    snprintf(dir, sizeof dir, "/tmp/%s_XXXXXX", prefix);
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(g_path, sizeof g_path, "%s/g.db", dir);
    return 0;
}

static int tmp_dir_remove(void **state)
{
    (void)state;
    char cmd[200];
    snprintf(cmd, sizeof cmd, "chmod -R u+w %s; rm -rf %s", dir, dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
