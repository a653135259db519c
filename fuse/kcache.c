/* kcache.c - the table of inodes the kernel may cache, shared with preloaded
 * processes, and their invalidation requests (see kcache.h). */
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

#define KCACHE_BYTES ((size_t)1 << (KCACHE_BITS_LOG2 - 3))

struct kcache {
    _Atomic uint64_t *bits;
    char path[64];
};

struct kcache *kcache_new(void)
{
    struct kcache *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    snprintf(k->path, sizeof k->path, "/dev/shm/benchfs-kcache.%d.XXXXXX", (int)getpid());
    int fd = mkstemp(k->path);
    if (fd < 0) {
        log_warn("cannot create %s (%s): preloaded processes will ask the mount to forget every change",
                 k->path, strerror(errno));
        free(k);
        return NULL;
    }
    void *p = MAP_FAILED;
    if (fchmod(fd, 0644) == 0 && ftruncate(fd, (off_t)KCACHE_BYTES) == 0)
        p = mmap(NULL, KCACHE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    int err = errno;
    close(fd);
    if (p == MAP_FAILED) {
        log_warn("cannot map %s (%s): preloaded processes will ask the mount to forget every change",
                 k->path, strerror(err));
        unlink(k->path);
        free(k);
        return NULL;
    }
    k->bits = p;
    kcache_mark(k, 1);   /* the root */
    return k;
}

void kcache_free(struct kcache *k)
{
    if (!k)
        return;
    munmap((void *)k->bits, KCACHE_BYTES);
    unlink(k->path);
    free(k);
}

void kcache_mark(struct kcache *k, uint64_t ino)
{
    if (!k)
        return;
    uint32_t s = kcache_slot(ino);
    uint64_t bit = 1ull << (s & 63);
    /* Read first: after the first lookup the word is shared, not written. */
    if (!(atomic_load_explicit(&k->bits[s >> 6], memory_order_relaxed) & bit))
        atomic_fetch_or(&k->bits[s >> 6], bit);
}

void kcache_mark_entry(struct kcache *k, uint64_t parent, const char *name)
{
    if (k)
        kcache_mark(k, kcache_entry_key(parent, name));
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
    if (strcmp(name, KCACHE_XATTR_TABLE) == 0) {
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
