/* kcache.c - the daemon's side of the node table: marks of what the kernel
 * may cache, counters of the changes made through the mount, and preloaded
 * processes' invalidation requests (see kcache.h). */
#include "kcache.h"

#include <errno.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/nodetab.h"

struct kcache {
    struct nodetab t;
    char path[64];
};

struct kcache *kcache_new(double attr_timeout_s, int shared)
{
    struct kcache *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    int gone = nodetab_sweep();
    if (gone > 0)
        log_info("removed %d node table(s) of benchfs-fuse daemons that are gone (killed?) from /dev/shm", gone);
    int rc = nodetab_create(k->path, sizeof k->path, attr_timeout_s, shared, &k->t);
    if (rc < 0) {
        log_warn("cannot make the node table %s (%s): preloaded processes will cache nothing "
                 "and ask the mount to forget every change", k->path, strerror(-rc));
        free(k);
        return NULL;
    }
    kcache_mark(k, 1);   /* the root */
    return k;
}

void kcache_free(struct kcache *k)
{
    if (!k)
        return;
    nodetab_unmap(&k->t);
    unlink(k->path);
    free(k);
}

void kcache_mark(struct kcache *k, uint64_t ino)
{
    if (k)
        nodetab_mark(&k->t, nodetab_ino_key(ino));
}

void kcache_mark_entry(struct kcache *k, uint64_t parent, const char *name)
{
    if (k)
        nodetab_mark(&k->t, nodetab_entry_key(parent, name));
}

void kcache_changed(struct kcache *k, uint64_t ino)
{
    if (k && ino)
        nodetab_bump(&k->t, nodetab_ino_key(ino));
}

void kcache_entry_changed(struct kcache *k, uint64_t parent, const char *name)
{
    if (!k)
        return;
    nodetab_bump(&k->t, nodetab_entry_key(parent, name));
    nodetab_bump(&k->t, nodetab_dir_key(parent));
}

/* "benchfs.inval.<hex ino>" or "benchfs.inval.<hex dir>/<name>": 0 or -errno. */
static int inval(struct fuse_session *se, const char *req)
{
    char *end;
    errno = 0;
    uint64_t ino = strtoull(req, &end, 16);
    if (errno || end == req || ino == 0)
        return -EINVAL;
    int rc;
    if (*end == '/') {
        const char *name = end + 1;
        if (!*name || strchr(name, '/'))
            return -EINVAL;
        rc = fuse_lowlevel_notify_inval_entry(se, ino, name, strlen(name));
        if (rc == 0 || rc == -ENOENT)
            rc = fuse_lowlevel_notify_inval_inode(se, ino, -1, 0);
    } else if (*end == '\0') {
        rc = fuse_lowlevel_notify_inval_inode(se, ino, -1, 0);
    } else {
        return -EINVAL;
    }
    /* ENOENT: the kernel holds nothing of it, which is what was asked. */
    return rc == -ENOENT ? 0 : rc;
}

int kcache_getxattr(struct kcache *k, struct fuse_session *se, fuse_req_t req, const char *name,
                    size_t size)
{
    if (strcmp(name, KCACHE_XATTR_OLD) == 0) {
        fuse_reply_err(req, ENODATA);   /* that format is gone (kcache.h) */
        return 1;
    }
    if (strcmp(name, NODETAB_XATTR) == 0) {
        size_t n = k ? strlen(k->path) : 0;
        if (!k)
            fuse_reply_err(req, ENODATA);
        else if (size == 0)
            fuse_reply_xattr(req, n);
        else if (size < n)
            fuse_reply_err(req, ERANGE);
        else
            fuse_reply_buf(req, k->path, n);
        return 1;
    }
    if (strncmp(name, KCACHE_XATTR_INVAL, strlen(KCACHE_XATTR_INVAL)) != 0)
        return 0;
    int rc = inval(se, name + strlen(KCACHE_XATTR_INVAL));
    if (rc < 0) {
        log_warn("getxattr %s on the root: %s", name, strerror(-rc));
        fuse_reply_err(req, -rc);
    } else if (size == 0) {
        fuse_reply_xattr(req, 0);
    } else {
        fuse_reply_buf(req, NULL, 0);
    }
    return 1;
}
