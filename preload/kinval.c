/* kinval.c - the node table (common/nodetab.h) in a preloaded process: it
 * is handed to libbenchfs (benchfs_node_table), whose caches then follow
 * every change on this node, and it says which inodes the mount's kernel
 * caches may hold, which must forget what this process changed over RPC
 * (the daemon's side and the protocol: fuse/kcache.h).
 *
 * libbenchfs tells every change of a name or of an inode's metadata
 * (benchfs_on_change). Only for inodes the kernel may hold does the change
 * cost a getxattr on the mount root (one FUSE round trip, answered after the
 * kernel has forgotten). A process whose files the kernel never looked up
 * (mdtest in a directory it made itself) pays one table lookup per change. */
#include "preload.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static int may_be_cached(const struct pl_mount *m, uint64_t key)
{
    if (!m->has_tab)
        return 1;   /* no table: ask for every change */
    return nodetab_marked(&m->tab, key);
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
        !may_be_cached(m, name ? nodetab_entry_key(ino, name) : nodetab_ino_key(ino)))
        return;
    char x[XATTR_NAME_MAX + 1];
    int n = snprintf(x, sizeof x, NODETAB_XATTR_INVAL "%" PRIx64 "%s%s", ino, name ? "/" : "",
                     name ? name : "");
    if (n < 0 || (size_t)n >= sizeof x) {
        /* A name too long to ask about: the directory's attributes at least. */
        PL_DEBUG("name too long to have the kernel forget its entry: %s", name);
        snprintf(x, sizeof x, NODETAB_XATTR_INVAL "%" PRIx64, ino);
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
        PL_DEBUG("the kernel forgot %s", x + strlen(NODETAB_XATTR_INVAL));
    }
    errno = saved;
}

int pl_kinval_table(struct pl_mount *m)
{
    if (m->tab_tried)
        return m->has_tab;
    m->tab_tried = 1;
    char path[256];
    long n = root_getxattr(m, NODETAB_XATTR, path, sizeof path - 1);
    m->kinval_ok = !(n < 0 && (errno == ENOTSUP || errno == ENOSYS));
    if (n <= 0) {
        PL_DEBUG("%s has no node table (%s): no caching of names and attributes, every change "
                 "is told to the mount", m->mnt, n < 0 ? strerror(errno) : "empty");
        return 0;
    }
    path[n] = '\0';
    int rc = nodetab_map(path, &m->tab);
    if (rc < 0) {
        PL_DEBUG("cannot use the node table %s of %s (%s): no caching of names and attributes",
                 path, m->mnt, strerror(-rc));
        return 0;
    }
    m->has_tab = 1;
    PL_DEBUG("node table %s of %s: attr_timeout %.3f s", path, m->mnt, m->tab.attr_timeout_s);
    return 1;
}

void pl_kinval_attach(struct pl_mount *m, benchfs_t *fs)
{
    if (m->has_tab) {
        int rc = BFS(node_table)(fs, m->tab.base, m->tab.bytes);
        if (rc < 0)
            pl_warn("libbenchfs takes no node table of %s (%s)", m->mnt, strerror(-rc));
    }
    /* ENOTSUP/ENOSYS on the table's getxattr: -o noxattr, no invalidations. */
    atomic_store(&m->kinval, m->kinval_ok);
    BFS(on_change)(fs, changed, m);
}

void pl_kinval_forget(struct pl_mount *m)
{
    /* The table's mapping is inherited over fork and stays; a new connection
     * attaches again. */
    atomic_store(&m->kinval, 0);
}
