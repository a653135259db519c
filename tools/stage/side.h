/* side.h - one side of a stage copy: a local tree (POSIX calls) or a tree
 * inside BenchFS (the client library, no FUSE). The copier (copy.c) sees both
 * through this table, so "in" and "out" are the same code with the sides swapped.
 *
 * Handles: a local node is its path (owned by whoever holds the handle, freed
 * with side_handle_free); a BenchFS node is its inode number. Every call
 * returns 0 (or a byte count) or a negative errno and logs nothing: the
 * caller names the file in its message. Every call may be made from any thread
 * at once (the library is thread-safe, POSIX calls are).
 */
#ifndef BENCHFS_STAGE_SIDE_H
#define BENCHFS_STAGE_SIDE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct bfs_client;

struct shandle {
    uint64_t ino;     /* BenchFS */
    char *path;       /* local: malloc'd */
};

/* What stage keeps of a node; times in ns since the epoch. */
struct sattr {
    uint32_t mode, uid, gid, nlink;
    uint64_t size, id, rdev, dev;   /* id/dev: identity for hard links (inode, device) */
    int64_t atime_ns, mtime_ns;
};

/* What side_setattr sets. */
enum { SA_MODE = 1, SA_OWNER = 2, SA_TIMES = 4, SA_SIZE = 8 };

/* An open regular file (for data). */
struct sfile {
    int fd;           /* local */
    uint64_t ino;     /* BenchFS */
};

typedef int (*side_list_fn)(void *arg, const char *name, struct shandle *child, const struct sattr *a);

struct side {
    int bfs;                      /* 1: BenchFS through c, 0: local */
    struct bfs_client *c;
    uint32_t uid, gid;            /* owner of what we create when not keeping owners */
    int keep_owner;               /* root: copy uid/gid */
    char display[4096];           /* how messages name the root: a path, or benchfs:PATH */
};

void side_handle_free(struct shandle *h);
int side_handle_copy(const struct shandle *from, struct shandle *to);

/* lstat-like. */
int side_stat(struct side *s, const struct shandle *h, struct sattr *out);
/* The child name of dir: -ENOENT if absent; *out (if not NULL) gets its handle. */
int side_lookup(struct side *s, const struct shandle *dir, const char *name, struct shandle *out,
                struct sattr *a);
/* Calls fn for every entry but . and .. with its handle (fn takes ownership
 * of *child) and attributes, until fn returns non-zero (returned). An entry
 * that vanished meanwhile is left out. */
int side_list(struct side *s, const struct shandle *dir, side_list_fn fn, void *arg);

/* Creation: -EEXIST when the name is taken (nothing is replaced here).
 * Directories are made 0700 (the final mode comes last, so a read-only one can
 * still be filled); files get a->mode and are opened for writing into *f. */
int side_mkdir(struct side *s, const struct shandle *dir, const char *name, const struct sattr *a,
               struct shandle *out);
int side_create(struct side *s, const struct shandle *dir, const char *name, const struct sattr *a,
                struct shandle *out, struct sfile *f);
int side_symlink(struct side *s, const struct shandle *dir, const char *name, const char *target,
                 const struct sattr *a, struct shandle *out);
/* FIFOs, sockets, devices (a->rdev). */
int side_mknod(struct side *s, const struct shandle *dir, const char *name, const struct sattr *a,
               struct shandle *out);
/* Target into buf (NUL-terminated; -ENAMETOOLONG if it does not fit). */
int side_readlink(struct side *s, const struct shandle *h, char *buf, size_t size);
/* A new name dir/name for the existing node h. */
int side_link(struct side *s, const struct shandle *h, const struct shandle *dir, const char *name);
/* Removes a non-directory (dir: 0) or an empty directory (dir: 1). */
int side_unlink(struct side *s, const struct shandle *dir, const char *name, int is_dir);

/* Sets what (SA_*) of a on h, or through f when f is open (local: fchown,
 * fchmod, futimens; symlinks: no mode). Owners only with keep_owner. */
int side_setattr(struct side *s, const struct shandle *h, struct sfile *f, const struct sattr *a,
                 unsigned what, uint32_t type);

/* Data of a regular file. */
int side_open(struct side *s, const struct shandle *h, int write, struct sfile *f);
void side_close(struct side *s, struct sfile *f);
ssize_t side_pread(struct side *s, struct sfile *f, void *buf, size_t len, uint64_t off);
ssize_t side_pwrite(struct side *s, struct sfile *f, const void *buf, size_t len, uint64_t off);
/* The next data extent at or after off, below size: [*start, *end). Where a
 * side knows no holes (BenchFS) the rest is data. 0, or 1 when only holes remain. */
int side_next_data(struct side *s, struct sfile *f, uint64_t off, uint64_t size, uint64_t *start,
                   uint64_t *end);

#endif
