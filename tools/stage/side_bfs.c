/* side_bfs.c - the BenchFS side of a stage copy: the client library, by inode (see side.h). */
#include "side_impl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../../common/client.h"
#include "../../common/placement.h"

#define ATTR_BATCH 64   /* GETATTRs a listing keeps in flight */

static void to_sattr(const struct bfs_attr *b, struct sattr *a)
{
    *a = (struct sattr){ .mode = b->mode, .uid = b->uid, .gid = b->gid, .nlink = b->nlink,
                         .size = b->size, .id = b->ino, .rdev = b->rdev,
                         .atime_ns = b->atime_ns, .mtime_ns = b->mtime_ns };
}

int sb_stat(struct side *s, const struct shandle *h, struct sattr *out)
{
    struct bfs_attr b;
    int rc = bfs_getattr(s->c, h->ino, &b);
    if (rc == 0)
        to_sattr(&b, out);
    return rc;
}

int sb_lookup(struct side *s, const struct shandle *dir, const char *name, struct shandle *out,
              struct sattr *a)
{
    struct bfs_attr b;
    int rc = bfs_lookup(s->c, dir->ino, name, &b);
    if (rc < 0)
        return rc;
    if (out)
        *out = (struct shandle){ .ino = b.ino };
    if (a)
        to_sattr(&b, a);
    return 0;
}

struct names {
    struct bfs_dirent *d;
    size_t n, cap;
};

static int collect(void *arg, const struct bfs_dirent *d)
{
    struct names *l = arg;
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        struct bfs_dirent *p = realloc(l->d, cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        l->d = p;
        l->cap = cap;
    }
    l->d[l->n++] = *d;
    return 0;
}

/* Readdir, then the entries' attributes ATTR_BATCH at a time (one round trip
 * for many, instead of one per entry). */
int sb_list(struct side *s, const struct shandle *dir, side_list_fn fn, void *arg)
{
    struct names l = { 0 };
    int rc = bfs_readdir(s->c, dir->ino, 0, collect, &l);
    struct rpc_call *calls = rc == 0 && l.n ? calloc(ATTR_BATCH, sizeof *calls) : NULL;
    if (rc == 0 && l.n && !calls)
        rc = -ENOMEM;
    uint32_t nodes = bfs_client_nodes(s->c);
    for (size_t i = 0; rc == 0 && i < l.n; i += ATTR_BATCH) {
        size_t n = l.n - i < ATTR_BATCH ? l.n - i : ATTR_BATCH;
        for (size_t k = 0; k < n; k++) {
            bfs_call_prep(&calls[k], place_inode(l.d[i + k].ino, nodes), OP_GETATTR);
            calls[k].args.ino = l.d[i + k].ino;
        }
        if ((rc = bfs_call_run(s->c, calls, n)) < 0)
            break;
        for (size_t k = 0; rc == 0 && k < n; k++) {
            if (calls[k].status == -ENOENT)
                continue;   /* removed meanwhile */
            if ((rc = calls[k].status) < 0)
                break;
            struct sattr a;
            struct shandle h = { .ino = l.d[i + k].ino };
            to_sattr(&calls[k].reply.attr, &a);
            rc = fn(arg, l.d[i + k].name, &h, &a);
        }
    }
    free(calls);
    free(l.d);
    return rc;
}

static uint32_t owner_uid(struct side *s, const struct sattr *a) { return s->keep_owner ? a->uid : s->uid; }
static uint32_t owner_gid(struct side *s, const struct sattr *a) { return s->keep_owner ? a->gid : s->gid; }

int sb_mkdir(struct side *s, const struct shandle *dir, const char *name, const struct sattr *a,
             struct shandle *out)
{
    struct bfs_attr b;
    int rc = bfs_create(s->c, dir->ino, name, S_IFDIR | 0700, owner_uid(s, a), owner_gid(s, a), &b);
    if (rc == 0 && out)
        *out = (struct shandle){ .ino = b.ino };
    return rc;
}

int sb_create(struct side *s, const struct shandle *dir, const char *name, const struct sattr *a,
              struct shandle *out, struct sfile *f)
{
    struct bfs_attr b;
    /* The servers keep the mode as given (no umask: the caller's job) and check
     * no permissions, so the final mode can be set now. */
    int rc = bfs_create(s->c, dir->ino, name, S_IFREG | (a->mode & 07777), owner_uid(s, a),
                        owner_gid(s, a), &b);
    if (rc < 0)
        return rc;
    if (out)
        *out = (struct shandle){ .ino = b.ino };
    f->ino = b.ino;
    f->fd = -1;
    return 0;
}

int sb_symlink(struct side *s, const struct shandle *dir, const char *name, const char *target,
               const struct sattr *a, struct shandle *out)
{
    struct bfs_attr b;
    int rc = bfs_symlink(s->c, dir->ino, name, target, owner_uid(s, a), owner_gid(s, a), &b, NULL);
    if (rc == 0 && out)
        *out = (struct shandle){ .ino = b.ino };
    return rc;
}

int sb_mknod(struct side *s, const struct shandle *dir, const char *name, const struct sattr *a,
             struct shandle *out)
{
    struct bfs_attr b;
    int rc = bfs_mknod(s->c, dir->ino, name, a->mode, a->rdev, owner_uid(s, a), owner_gid(s, a), &b);
    if (rc == 0 && out)
        *out = (struct shandle){ .ino = b.ino };
    return rc;
}

int sb_readlink(struct side *s, const struct shandle *h, char *buf, size_t size)
{
    ssize_t n = bfs_readlink(s->c, h->ino, buf, size);
    if (n < 0)
        return (int)n;
    if ((size_t)n >= size)
        return -ENAMETOOLONG;
    buf[n] = '\0';
    return 0;
}

int sb_link(struct side *s, const struct shandle *h, const struct shandle *dir, const char *name)
{
    struct bfs_attr b;
    return bfs_link(s->c, h->ino, dir->ino, name, &b, NULL);
}

int sb_unlink(struct side *s, const struct shandle *dir, const char *name, int is_dir)
{
    return is_dir ? bfs_rmdir(s->c, dir->ino, name) : bfs_unlink(s->c, dir->ino, name, 0, NULL);
}

int sb_setattr(struct side *s, const struct shandle *h, struct sfile *f, const struct sattr *a,
               unsigned what, uint32_t type)
{
    (void)f;
    struct bfs_attr in = { .mode = a->mode & 07777, .uid = a->uid, .gid = a->gid, .size = a->size,
                           .atime_ns = a->atime_ns, .mtime_ns = a->mtime_ns }, out;
    uint32_t mask = 0;
    if ((what & SA_SIZE) && type == S_IFREG)
        mask |= BFS_SET_SIZE;
    if ((what & SA_OWNER) && s->keep_owner)
        mask |= BFS_SET_UID | BFS_SET_GID;
    if ((what & SA_MODE) && type != S_IFLNK)
        mask |= BFS_SET_MODE;
    if (what & SA_TIMES)
        mask |= BFS_SET_ATIME | BFS_SET_MTIME;
    /* A size change sets mtime: cut first, then the times win. */
    if ((mask & BFS_SET_SIZE) && (mask & BFS_SET_MTIME)) {
        int rc = bfs_setattr(s->c, h->ino, BFS_SET_SIZE, &in, &out);
        if (rc < 0)
            return rc;
        mask &= ~(uint32_t)BFS_SET_SIZE;
    }
    return mask ? bfs_setattr(s->c, h->ino, mask, &in, &out) : 0;
}

int sb_open(struct side *s, const struct shandle *h, int write, struct sfile *f)
{
    (void)s, (void)write;
    f->fd = -1;
    f->ino = h->ino;   /* no open on the wire: reads and writes name the inode */
    return 0;
}

void sb_close(struct side *s, struct sfile *f)
{
    (void)s, (void)f;
}

ssize_t sb_pread(struct side *s, struct sfile *f, void *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = bfs_read(s->c, f->ino, (char *)buf + done, len - done, off + done);
        if (n < 0)
            return n;
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

ssize_t sb_pwrite(struct side *s, struct sfile *f, const void *buf, size_t len, uint64_t off)
{
    return bfs_write(s->c, f->ino, buf, len, off);
}

int sb_next_data(struct side *s, struct sfile *f, uint64_t off, uint64_t size, uint64_t *start,
                 uint64_t *end)
{
    (void)s, (void)f;
    if (off >= size)
        return 1;
    *start = off;   /* no SEEK_DATA on the wire: the copier skips blocks of zeros instead */
    *end = size;
    return 0;
}
