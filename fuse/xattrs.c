/* xattrs.c - extended attributes on the mount, and inheritance (see xattrs.h). */
#include "xattrs.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include "../common/inherit.h"
#include "../common/log.h"
#include "../common/xattr.h"
#include "dirstash.h"

static struct bfs_fuse *fs_of(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

/* Replies the error (logged: at warning level for a cluster's trouble); an
 * inode the servers no longer have is ESTALE, as for ops.c's inode ops. */
static void reply_err(fuse_req_t req, const char *op, uint64_t ino, const char *name, int rc)
{
    if (rc == -ENOENT)
        rc = -ESTALE;
    if (rc == -ETIMEDOUT || rc == -ENOTCONN || rc == -EIO || rc == -ENOMEM)
        log_warn("%s ino=%" PRIu64 " name=%s: %s", op, ino, name ? name : "", strerror(-rc));
    else
        log_debug("%s ino=%" PRIu64 " name=%s: %s", op, ino, name ? name : "", strerror(-rc));
    fuse_reply_err(req, -rc);
}

/* A changed directory's attributes: a new default ACL counts for the next create. */
static void note_attr(struct bfs_fuse *fs, const struct bfs_attr *a)
{
    if (S_ISDIR(a->mode))
        dircache_put(fs->dirs, a, fs->opts.attr_timeout);
    xattrcache_put(fs->xattrs, a);
}

void xattrs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags)
{
    struct bfs_fuse *fs = fs_of(req);
    struct bfs_attr a;
    int rc = bfs_setxattr(fs->client, ino, name, value, size,
                          flags & (XATTR_CREATE | XATTR_REPLACE), &a);
    kcache_changed(fs->kcache, ino);   /* an ACL may have changed the mode, or the access check */
    dirstash_forget(fs->dstash, ino);
    if (rc < 0) {
        reply_err(req, "setxattr", ino, name, rc);
        return;
    }
    note_attr(fs, &a);
    fuse_reply_err(req, 0);
}

void xattrs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
    struct bfs_fuse *fs = fs_of(req);
    void *buf = NULL;
    /* Preloaded processes' requests (kcache.h). */
    if (ino == FUSE_ROOT_ID && strncmp(name, "benchfs.", 8) == 0) {
        /* A preloaded process changed what the kernel may hold: so may what this
         * mount kept of a directory be older. */
        if (strncmp(name, KCACHE_XATTR_INVAL, strlen(KCACHE_XATTR_INVAL)) == 0)
            dirstash_forget_all(fs->dstash);
        if (kcache_getxattr(fs->kcache, fs->se, req, name, size))
            return;
    }
    if (size > BFS_XATTR_SIZE_MAX)
        size = BFS_XATTR_SIZE_MAX;   /* no value is larger */
    if (size && !(buf = malloc(size))) {
        reply_err(req, "getxattr", ino, name, -ENOMEM);
        return;
    }
    /* The kernel asks for security.capability before every write (xattrcache.h). */
    double age = strcmp(name, "security.capability") == 0 && fs->opts.attr_timeout < XATTRCACHE_CAP_AGE_S
                     ? XATTRCACHE_CAP_AGE_S : fs->opts.attr_timeout;
    ssize_t n = xattrcache_none(fs->xattrs, ino, age) ? -ENODATA
                                                      : bfs_getxattr(fs->client, ino, name, buf, size);
    if (n < 0)
        reply_err(req, "getxattr", ino, name, (int)n);
    else if (size == 0)
        fuse_reply_xattr(req, (size_t)n);
    else
        fuse_reply_buf(req, buf, (size_t)n);
    free(buf);
}

/* Names of trusted.* are for CAP_SYS_ADMIN only, and the kernel does not filter
 * a FUSE file system's list (it does refuse their values): uid 0 stands for the
 * capability (the daemon sees none). Returns the list's new length. */
static size_t drop_trusted(char *list, size_t len)
{
    size_t in = 0, out = 0;
    while (in < len) {
        size_t n = strnlen(list + in, len - in) + 1;
        if (strncmp(list + in, "trusted.", 8) != 0) {
            memmove(list + out, list + in, n);
            out += n;
        }
        in += n;
    }
    return out;
}

void xattrs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
    struct bfs_fuse *fs = fs_of(req);
    /* Always the whole list: what the caller may see decides the size. */
    char *buf = malloc(BFS_XATTR_LIST_MAX);
    if (!buf) {
        reply_err(req, "listxattr", ino, NULL, -ENOMEM);
        return;
    }
    ssize_t n = xattrcache_none(fs->xattrs, ino, fs->opts.attr_timeout)
                    ? 0 : bfs_listxattr(fs->client, ino, buf, BFS_XATTR_LIST_MAX);
    if (n >= 0 && fuse_req_ctx(req)->uid != 0)
        n = (ssize_t)drop_trusted(buf, (size_t)n);
    if (n < 0)
        reply_err(req, "listxattr", ino, NULL, (int)n);
    else if (size == 0)
        fuse_reply_xattr(req, (size_t)n);
    else if ((size_t)n > size)
        reply_err(req, "listxattr", ino, NULL, -ERANGE);
    else
        fuse_reply_buf(req, buf, (size_t)n);
    free(buf);
}

void xattrs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
    struct bfs_fuse *fs = fs_of(req);
    struct bfs_attr a;
    int rc = bfs_removexattr(fs->client, ino, name, &a);
    kcache_changed(fs->kcache, ino);
    dirstash_forget(fs->dstash, ino);
    if (rc < 0) {
        reply_err(req, "removexattr", ino, name, rc);
        return;
    }
    note_attr(fs, &a);
    fuse_reply_err(req, 0);
}

/* ---- inheritance (common/inherit.h) ---- */

int xattrs_inherit(fuse_req_t req, fuse_ino_t parent, int parent_local, bool defacl,
                   uint32_t *mode, struct bfs_inherit *ih)
{
    return bfs_inherit_prepare(fs_of(req)->client, parent, parent_local, defacl,
                               fuse_req_ctx(req)->umask, mode, ih);
}

void xattrs_inherit_free(struct bfs_inherit *ih)
{
    bfs_inherit_free(ih);
}
