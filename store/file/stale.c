/* varstore: removing the new files a killed writer left beside a path
 * (vs__store_create_aside's "<path>.vs-new-<pid>-<n>" and its journal). */
#define _GNU_SOURCE /* kill() */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h> /* AT_SYMLINK_NOFOLLOW */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store_int.h"

/* A file older than this that no running process of this machine is
 * writing is left over. The age spares a writer on another machine (a
 * shared file system) whose pid happens to be free here: its file
 * changes as it is written, and is linked right after. */
#define STALE_AGE_S 60

/* The pid in name, which is base ".vs-new-<pid>-<n>" (with or without
 * "-journal" after it); 0 if name is not such a file. */
static long aside_pid(const char *name, const char *base, size_t bl)
{
    static const char tag[] = ".vs-new-";
    if (strncmp(name, base, bl) != 0 ||
        strncmp(name + bl, tag, sizeof tag - 1) != 0)
        return 0;
    const char *p = name + bl + sizeof tag - 1;
    char *end = NULL;
    errno = 0;
    long pid = strtol(p, &end, 10);
    if (errno != 0 || end == p || *end != '-' || pid <= 0)
        return 0;
    return pid;
}

/* Whether the file dir/name of pid's is left over. */
static int is_stale(int dfd, const char *name, long pid, time_t now)
{
    struct stat st;
    if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(st.st_mode) || now - st.st_mtime < STALE_AGE_S)
        return 0;
    return kill((pid_t)pid, 0) != 0 && errno == ESRCH;
}

void vs__store_reap_aside(const char *path)
{
    char *dir = vs__store_dir_of(path);
    if (dir == NULL)
        return; /* out of memory: the files stay for a later save */
    const char *slash = strrchr(path, '/');
    const char *base = slash != NULL ? slash + 1 : path;
    size_t bl = strlen(base);
    DIR *dh = opendir(dir);
    time_t now = time(NULL);
    for (struct dirent *e; dh != NULL && (e = readdir(dh)) != NULL;) {
        long pid = aside_pid(e->d_name, base, bl);
        if (pid > 0 && pid != (long)getpid() &&
            is_stale(dirfd(dh), e->d_name, pid, now))
            (void)unlinkat(dirfd(dh), e->d_name, 0); /* best effort */
    }
    if (dh != NULL)
        (void)closedir(dh); /* read-only: nothing to lose */
    vs__free(dir);
}
