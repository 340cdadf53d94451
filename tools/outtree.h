/* varstore CLI: a tree of new files built in a fresh private folder beside
 * its destination and renamed into place only when complete (restore
 * --npy). Every path inside it is resolved from an open folder descriptor
 * with O_NOFOLLOW, and files are created with O_EXCL: nothing is ever
 * written through a symbolic link or outside the tree, and a tree that is
 * not committed is removed whole. */
#ifndef VS_TOOLS_OUTTREE_H
#define VS_TOOLS_OUTTREE_H

typedef struct {
    char *dest;       /* the destination as given, without trailing '/' */
    const char *base; /* its last part (in dest) */
    char *tmpname; /* the private folder's name in parent */
    int parent_fd, root_fd;
    char *cur_rel; /* the folder (relative) of the last file, or NULL */
    int cur_fd;    /* open on cur_rel, or -1 */
} out_tree;

/* Checks dest (a new name, or an empty folder; never a symbolic link or a
 * folder with anything in it) and creates the private folder beside it.
 * On failure prints the error and returns EXIT_ERR. */
int out_tree_begin(out_tree *t, const char *dest);

/* Creates the file rel ("a/b.npy": folders made as needed) inside the
 * tree, for writing: its descriptor, or -1 with *why the message (owned;
 * NULL when out of memory). Not thread-safe. */
int out_tree_create(out_tree *t, const char *rel, char **why);

/* Renames the complete tree to dest (mode 0777 less the umask, as mkdir
 * would make it). On failure prints the error, removes the tree and
 * returns EXIT_ERR. Either way t is released. */
int out_tree_commit(out_tree *t);

/* Removes the tree and releases t. */
void out_tree_abort(out_tree *t);

#endif /* VS_TOOLS_OUTTREE_H */
