/* varstore CLI: a tree of new files built beside its destination and
 * renamed into place when complete (see outtree.h). */
#define _POSIX_C_SOURCE 200809L

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "outtree.h"
#include "restore.h"

#define DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/* Removes name (a file, or a folder and all in it) in folder at; best
 * effort: it is only ever called on a failure already being reported. */
static void remove_at(int at, const char *name, int depth)
{
    int fd;
    DIR *d;
    struct dirent *de;
    if (unlinkat(at, name, 0) == 0 || errno != EISDIR || depth > 256)
        return;
    fd = openat(at, name, DIR_FLAGS);
    if (fd < 0)
        return;
    d = fdopendir(fd);
    if (d == NULL) {
        (void)close(fd);
        return;
    }
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            remove_at(dirfd(d), de->d_name, depth + 1);
    (void)closedir(d);
    (void)unlinkat(at, name, AT_REMOVEDIR);
}

/* 1 when the folder path holds nothing, 0 when it holds something, -1
 * when it cannot be read (errno set). */
static int dir_is_empty(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *de;
    int empty = 1;
    if (d == NULL)
        return -1;
    while (empty && (de = readdir(d)) != NULL)
        empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
    (void)closedir(d);
    return empty;
}

/* dest is new, or an empty folder that is not a symbolic link. */
static int check_dest(const char *dest)
{
    struct stat st;
    int e;
    if (lstat(dest, &st) != 0) {
        if (errno == ENOENT)
            return EXIT_OK;
        return cli_err("cannot access '%s': %s", dest, strerror(errno));
    }
    if (S_ISLNK(st.st_mode))
        return cli_err("'%s' is a symbolic link: restore --npy writes only "
                       "into a new or empty directory",
                       dest);
    if (!S_ISDIR(st.st_mode))
        return cli_err("'%s' exists and is not a directory", dest);
    e = dir_is_empty(dest);
    if (e < 0)
        return cli_err("cannot open directory '%s': %s", dest,
                       strerror(errno));
    if (e == 0)
        return cli_err("'%s' is not empty: restore --npy writes into a new "
                       "or empty directory (nothing is overwritten)",
                       dest);
    return EXIT_OK;
}

/* Opens the folder dest is in and makes the private folder in it. */
static int make_private(out_tree *t)
{
    static unsigned long counter;
    char *parent = t->base == t->dest ? join(".", "", "")
                   : t->base == t->dest + 1
                       ? join("/", "", "")
                       : fmt_new("%.*s", (int)(t->base - t->dest - 1),
                                 t->dest);
    int tries;
    if (parent == NULL)
        return cli_err("out of memory");
    t->parent_fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(parent);
    if (t->parent_fd < 0)
        return cli_err("cannot create directory '%s': %s", t->dest,
                       strerror(errno));
    for (tries = 0; tries < 100; tries++) {
        char *name = fmt_new(".%s.tmp-%ld-%lu", t->base, (long)getpid(),
                             counter++);
        if (name == NULL)
            return cli_err("out of memory");
        if (mkdirat(t->parent_fd, name, 0700) == 0) {
            t->tmpname = name; /* ours: removed again unless committed */
            break;
        }
        free(name);
        if (errno != EEXIST)
            return cli_err("cannot create a directory beside '%s': %s",
                           t->dest, strerror(errno));
    }
    if (t->tmpname == NULL)
        return cli_err("cannot create a directory beside '%s': %s", t->dest,
                       strerror(EEXIST));
    t->root_fd = openat(t->parent_fd, t->tmpname, DIR_FLAGS);
    if (t->root_fd < 0)
        return cli_err("cannot open a directory beside '%s': %s", t->dest,
                       strerror(errno));
    return EXIT_OK;
}

int out_tree_begin(out_tree *t, const char *dest)
{
    size_t len = strlen(dest);
    char *sl;
    memset(t, 0, sizeof *t);
    t->parent_fd = t->root_fd = t->cur_fd = -1;
    while (len > 1 && dest[len - 1] == '/')
        len--;
    t->dest = fmt_new("%.*s", (int)len, dest);
    if (t->dest == NULL)
        return cli_err("out of memory");
    sl = strrchr(t->dest, '/');
    t->base = sl ? sl + 1 : t->dest;
    if (check_dest(t->dest) != EXIT_OK || make_private(t) != EXIT_OK) {
        out_tree_abort(t);
        return EXIT_ERR;
    }
    return EXIT_OK;
}

/* Makes (if new) and opens the folder part[0..len) in folder fd: its
 * descriptor, or -1 with *e the errno. */
static int open_part(int fd, const char *part, size_t len, int *e)
{
    char *name = fmt_new("%.*s", (int)len, part);
    int nfd = -1;
    *e = ENOMEM;
    if (name == NULL)
        return -1;
    if (mkdirat(fd, name, 0777) == 0 || errno == EEXIST)
        nfd = openat(fd, name, DIR_FLAGS);
    *e = errno;
    free(name);
    return nfd;
}

/* Opens the folder rel[0..len) of the tree, making each part: a new
 * descriptor, or -1 with *why set. */
static int open_dirs(out_tree *t, const char *rel, size_t len, char **why)
{
    int fd = t->root_fd, nfd, e;
    size_t a = 0, b;
    while (a < len) {
        for (b = a; b < len && rel[b] != '/'; b++)
            ;
        nfd = open_part(fd, rel + a, b - a, &e);
        if (fd != t->root_fd)
            (void)close(fd); /* a folder opened read-only for the walk */
        if (nfd < 0) {
            *why = e == ENOTDIR || e == ELOOP
                       ? fmt_new("'%s/%.*s' exists and is not a directory",
                                 t->dest, (int)b, rel)
                       : fmt_new("cannot create directory '%s/%.*s': %s",
                                 t->dest, (int)b, rel, strerror(e));
            return -1;
        }
        fd = nfd;
        a = b + 1;
    }
    return fd;
}

/* The open folder rel[0..len) of the tree: the last one again, or a new
 * one kept as the last one. -1 with *why set on failure. */
static int folder_fd(out_tree *t, const char *rel, size_t len, char **why)
{
    int fd;
    if (len == 0)
        return t->root_fd;
    if (t->cur_rel != NULL && strlen(t->cur_rel) == len &&
        memcmp(t->cur_rel, rel, len) == 0)
        return t->cur_fd;
    fd = open_dirs(t, rel, len, why);
    if (fd < 0)
        return -1;
    if (t->cur_fd >= 0)
        (void)close(t->cur_fd); /* read-only: nothing of it to lose */
    free(t->cur_rel);
    t->cur_fd = fd;
    t->cur_rel = fmt_new("%.*s", (int)len, rel); /* NULL: not remembered */
    return fd;
}

int out_tree_create(out_tree *t, const char *rel, char **why)
{
    const char *sl = strrchr(rel, '/');
    size_t dlen = sl ? (size_t)(sl - rel) : 0;
    int dfd = folder_fd(t, rel, dlen, why), fd;
    if (dfd < 0)
        return -1;
    fd = openat(dfd, sl ? sl + 1 : rel,
                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
    if (fd < 0)
        *why = fmt_new("cannot create '%s/%s': %s", t->dest, rel,
                       strerror(errno));
    return fd;
}

static void release(out_tree *t)
{
    if (t->cur_fd >= 0)
        (void)close(t->cur_fd); /* folders opened read-only */
    if (t->root_fd >= 0)
        (void)close(t->root_fd);
    if (t->parent_fd >= 0)
        (void)close(t->parent_fd);
    free(t->cur_rel);
    free(t->tmpname);
    free(t->dest);
    memset(t, 0, sizeof *t);
    t->parent_fd = t->root_fd = t->cur_fd = -1;
}

int out_tree_commit(out_tree *t)
{
    mode_t mask = umask(0);
    umask(mask);
    if (fchmod(t->root_fd, 0777 & ~mask) != 0 ||
        renameat(t->parent_fd, t->tmpname, t->parent_fd, t->base) != 0) {
        cli_err("cannot create directory '%s': %s", t->dest,
                strerror(errno));
        out_tree_abort(t);
        return EXIT_ERR;
    }
    if (fsync(t->parent_fd) != 0 && errno != EINVAL) {
        cli_err("cannot make '%s' durable: %s", t->dest, strerror(errno));
        release(t);
        return EXIT_ERR;
    }
    release(t);
    return EXIT_OK;
}

void out_tree_abort(out_tree *t)
{
    if (t->parent_fd >= 0 && t->tmpname != NULL)
        remove_at(t->parent_fd, t->tmpname, 0);
    release(t);
}
