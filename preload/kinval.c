/* kinval.c - makes the mount's kernel caches forget what this process changed
 * over RPC (the daemon's side and the protocol: fuse/kcache.h).
 *
 * libbenchfs tells every change of a name or of an inode's metadata
 * (benchfs_on_change). The daemon's table says which inodes the kernel may
 * hold; only for those does the change cost a getxattr on the mount root (one
 * FUSE round trip, answered after the kernel has forgotten). A process whose
 * files the kernel never looked up (mdtest in a directory it made itself)
 * pays one table lookup per change. */
#include "preload.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../fuse/kcache.h"

#define TABLE_BYTES ((size_t)1 << (KCACHE_BITS_LOG2 - 3))

static int may_be_cached(const struct pl_mount *m, uint64_t key)
{
    if (!m->kbits)
        return 1;   /* no table: ask for every change */
    uint32_t s = kcache_slot(key);
    return (atomic_load_explicit(&m->kbits[s >> 6], memory_order_acquire) >> (s & 63)) & 1;
}

static long root_getxattr(const struct pl_mount *m, const char *name, void *buf, size_t size)
{
    /* The raw call: the kernel's, whatever else is interposed. */
    return syscall(SYS_getxattr, m->mnt, name, buf, size);
}

static void changed(void *arg, uint64_t ino, const char *name)
{
    struct pl_mount *m = arg;
    /* An entry: only if the kernel may hold that name (its directory's times
     * and link count may stay cached for attr_timeout, as close-to-open allows). */
    if (!atomic_load_explicit(&m->kinval, memory_order_relaxed) ||
        !may_be_cached(m, name ? kcache_entry_key(ino, name) : ino))
        return;
    char x[XATTR_NAME_MAX + 1];
    int n = snprintf(x, sizeof x, KCACHE_XATTR_INVAL "%" PRIx64 "%s%s", ino, name ? "/" : "",
                     name ? name : "");
    if (n < 0 || (size_t)n >= sizeof x) {
        /* A name too long to ask about: the directory's attributes at least. */
        PL_DEBUG("name too long to have the kernel forget its entry: %s", name);
        snprintf(x, sizeof x, KCACHE_XATTR_INVAL "%" PRIx64, ino);
    }
    int saved = errno;
    if (root_getxattr(m, x, NULL, 0) < 0) {
        if (errno == ENOTSUP || errno == ENOSYS) {
            atomic_store(&m->kinval, 0);
            pl_warn("the mount %s takes no cache invalidations (-o noxattr?): other processes may "
                    "see this one's changes only after the mount's cache timeouts", m->mnt);
        } else {
            PL_DEBUG("%s on %s: %s", x, m->mnt, strerror(errno));
        }
    } else {
        PL_DEBUG("the kernel forgot %s", x + strlen(KCACHE_XATTR_INVAL));
    }
    errno = saved;
}

void pl_kinval_attach(struct pl_mount *m, benchfs_t *fs)
{
    char path[256];
    long n = root_getxattr(m, KCACHE_XATTR_TABLE, path, sizeof path - 1);
    if (n < 0 && (errno == ENOTSUP || errno == ENOSYS)) {
        PL_DEBUG("%s takes no cache invalidations", m->mnt);
        return;
    }
    m->kbits = NULL;
    if (n > 0) {
        path[n] = '\0';
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        void *p = fd < 0 ? MAP_FAILED : mmap(NULL, TABLE_BYTES, PROT_READ, MAP_SHARED, fd, 0);
        if (fd >= 0)
            close(fd);
        if (p != MAP_FAILED)
            m->kbits = p;
        else
            PL_DEBUG("cannot map %s (%s): every change is told to the mount", path, strerror(errno));
    }
    atomic_store(&m->kinval, 1);
    BFS(on_change)(fs, changed, m);
}

void pl_kinval_forget(struct pl_mount *m)
{
    /* The mapping is inherited over fork; a new connection attaches again. */
    if (m->kbits)
        munmap((void *)m->kbits, TABLE_BYTES);
    m->kbits = NULL;
    atomic_store(&m->kinval, 0);
}
