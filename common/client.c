/* client.c - the BenchFS client library: each call routed to the servers that
 * hold its data (placement.h), sent over rpc.h (see client.h for the contract). */
#include "client.h"
#include "client_int.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "endian.h"
#include "clock.h"
#include "log.h"
#include "placement.h"
#include "registry.h"
#include "rpc.h"
#include "xattr.h"

#define WINDOW 4                /* data RPCs one call keeps in flight */
#define DIR_SLOTS 4096          /* inodes known to be directories (a power of two) */
#define COOKIE_NODE_SHIFT 56    /* readdir cookies: node index in the top 8 bits */

struct bfs_client {
    char registry_dir[PATH_MAX];
    uint32_t nodes, chunk_size;
    double rpc_timeout_s;
    struct rpc_client *rpc;
    pthread_mutex_t reconnect_lock;
    uint32_t *pids;             /* by node: the server process connected to (registry) */
    _Atomic unsigned char *locked;   /* by node: a lock was granted there (client_locks.c) */
    /* Inode numbers seen as directories (direct-mapped; 0: empty). A type never
     * changes and numbers are never reused, so an entry never goes stale: a
     * removed directory is refused by the servers (its tombstones). */
    _Atomic uint64_t dirs[DIR_SLOTS];
};

uint32_t bfs_client_nodes(const struct bfs_client *c) { return c->nodes; }
uint32_t bfs_client_chunk_size(const struct bfs_client *c) { return c->chunk_size; }

void bfs_client_set_wait_hook(struct bfs_client *c, void (*fn)(void *), void *arg, double after_s)
{
    rpc_client_set_wait_hook(c->rpc, fn, arg, after_s);
}

void client_note_lock(struct bfs_client *c, uint32_t node)
{
    if (node < c->nodes)
        atomic_store(&c->locked[node], 1);
}

/* A new connection to node: the server forgot our old one (it restarted, or
 * saw the connection fail) and with it every lock we held there. */
static void locks_lost(struct bfs_client *c, uint32_t node)
{
    if (atomic_exchange(&c->locked[node], 0))
        log_warn("server node %u: connected anew; the locks this client held there are gone "
                 "(released by the server with the old connection)", node);
}

/* A server we lost may be back: re-read its registry file and reconnect. */
static int reconnect(struct bfs_client *c, uint32_t node)
{
    char path[PATH_MAX];
    struct registry_entry e;
    int rc = 0;
    pthread_mutex_lock(&c->reconnect_lock);
    if (!rpc_client_connected(c->rpc, node)) {
        registry_path(c->registry_dir, node, c->nodes, path, sizeof path);
        rc = registry_read(path, &e);
        if (rc == 0) {
            if (e.chunk_size != c->chunk_size || e.cluster_size != c->nodes) {
                log_error("server node %u came back with another configuration (%s)", node, path);
                rc = -ENOTCONN;
            } else {
                rc = rpc_client_connect(c->rpc, node, e.addr, e.addr_len);
                if (rc == 0) {
                    c->pids[node] = e.pid;
                    log_info("server node %u: reconnected (%s)", node, path);
                    locks_lost(c, node);
                }
            }
            registry_entry_clear(&e);
        } else {
            log_debug("server node %u: cannot reconnect: %s: %s", node, path, strerror(-rc));
            rc = -ENOTCONN;
        }
    }
    pthread_mutex_unlock(&c->reconnect_lock);
    return rc < 0 ? -ENOTCONN : 0;
}

/* A call to node timed out: a server killed and started again (a new process in
 * the registry) is not noticed by UCX until its keepalive gives up, and calls
 * meanwhile go to the dead one; connect to the new one now. */
static void recheck(struct bfs_client *c, uint32_t node)
{
    char path[PATH_MAX];
    struct registry_entry e;
    pthread_mutex_lock(&c->reconnect_lock);
    registry_path(c->registry_dir, node, c->nodes, path, sizeof path);
    if (registry_read(path, &e) == 0) {
        if (e.pid != c->pids[node] && e.chunk_size == c->chunk_size && e.cluster_size == c->nodes &&
            rpc_client_connect(c->rpc, node, e.addr, e.addr_len) == 0) {
            log_info("server node %u: a new server process (pid %u, was %u): reconnected", node,
                     e.pid, c->pids[node]);
            c->pids[node] = e.pid;
            locks_lost(c, node);
        }
        registry_entry_clear(&e);
    }
    pthread_mutex_unlock(&c->reconnect_lock);
}

/* Sends calls and waits for all; returns a transport error or 0 (see each call's status). */
static int run(struct bfs_client *c, struct rpc_call *calls, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (calls[i].node >= c->nodes)
            return -ESTALE;   /* an inode number naming no server of this cluster */
        if (!rpc_client_connected(c->rpc, calls[i].node)) {
            int rc = reconnect(c, calls[i].node);
            if (rc < 0)
                return rc;
        }
    }
    int rc = rpc_run(c->rpc, calls, n);
    for (size_t i = 0; rc == -ETIMEDOUT && i < n; i++)
        if (calls[i].status == -ETIMEDOUT)
            recheck(c, calls[i].node);
    return rc;
}

int bfs_call_run(struct bfs_client *c, struct rpc_call *calls, size_t n)
{
    return run(c, calls, n);
}

int client_run_wait(struct bfs_client *c, struct rpc_call *call)
{
    if (call->node >= c->nodes)
        return -ESTALE;
    if (!rpc_client_connected(c->rpc, call->node)) {
        int rc = reconnect(c, call->node);
        if (rc < 0)
            return rc;
    }
    int rc = rpc_run_wait(c->rpc, call);
    return rc < 0 ? rc : call->status;
}

static int run1(struct bfs_client *c, struct rpc_call *call)
{
    int rc = run(c, call, 1);
    return rc < 0 ? rc : call->status;
}

/* run1 for the operations a server may refuse with -EBUSY because another
 * multi-server operation holds what they need (server/coord.h): that one
 * finishes within a few round trips, so this tries again after a growing pause,
 * within the RPC timeout. */
static int run1_busy(struct bfs_client *c, struct rpc_call *call)
{
    double deadline = bfs_mono_s() + c->rpc_timeout_s;
    long pause_us = 200;
    for (;;) {
        int rc = run1(c, call);
        if (rc != -EBUSY || bfs_mono_s() + pause_us / 1e6 > deadline)
            return rc;
        struct timespec ts = { 0, (pause_us + rand() % pause_us) * 1000L };
        nanosleep(&ts, NULL);
        if (pause_us < 50000)
            pause_us *= 2;
    }
}

void bfs_call_prep(struct rpc_call *call, uint32_t node, uint32_t op)
{
    memset(&call->args, 0, sizeof call->args);
    call->node = node;
    call->op = op;
    call->data = NULL;
    call->data_len = 0;
    call->rbuf = NULL;
    call->rbuf_len = 0;
    call->raw = NULL;
    call->raw_len = 0;
}

static int check_name(const char *name, size_t *len)
{
    *len = strnlen(name, BFS_NAME_MAX + 1);
    if (*len > BFS_NAME_MAX)
        return -ENAMETOOLONG;
    return *len == 0 ? -EINVAL : 0;
}

/* Prepares an op on entry (parent, name), addressed to the server that holds it. */
static int prep_entry(struct bfs_client *c, struct rpc_call *call, uint32_t op, uint64_t parent,
                      const char *name)
{
    size_t len;
    int rc = check_name(name, &len);
    if (rc < 0)
        return rc;
    bfs_call_prep(call, place_dentry(parent, name, len, c->nodes), op);
    call->args.parent = parent;
    call->args.name = name;
    call->args.name_len = (uint32_t)len;
    return 0;
}

/* Runs one op on every node but skip (UINT32_MAX: all), e.g. to remove chunks. */
static int on_all_nodes(struct bfs_client *c, uint32_t skip, uint32_t op, const struct bfs_msg *args)
{
    int first = 0;
    for (uint32_t base = 0; base < c->nodes; base += WINDOW) {
        struct rpc_call calls[WINDOW];
        size_t n = 0;
        for (uint32_t node = base; node < c->nodes && node < base + WINDOW; node++) {
            if (node == skip)
                continue;
            bfs_call_prep(&calls[n], node, op);
            calls[n++].args = *args;
        }
        int rc = run(c, calls, n);
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = calls[i].status;
        if (rc < 0 && !first)
            first = rc;
    }
    return first;
}

/* An inode lost its last link on its owner: its chunks on the other nodes go too. */
static void remove_remote_chunks(struct bfs_client *c, uint64_t ino, uint64_t size)
{
    if (c->nodes <= 1 || size <= c->chunk_size)
        return;
    struct bfs_msg a = { .ino = ino, .size = size };
    int rc = on_all_nodes(c, place_inode(ino, c->nodes), OP_REMOVE, &a);
    if (rc < 0)
        log_warn("ino %llx: removing chunks on other servers failed: %s", (unsigned long long)ino,
                 strerror(-rc));
}

/* After UNLINK/RENAME/PURGE: a server that freed an inode and could not take
 * care of its chunks on the other nodes itself (see BFS_DROP_FREED) leaves that
 * to the client. (A link dropped on another server is the servers' business:
 * server/coord.h.) */
static int settle_drop(struct bfs_client *c, const struct bfs_msg *drop)
{
    if (drop->ino && (drop->flags & BFS_DROP_FREED))
        remove_remote_chunks(c, drop->ino, drop->size);
    return 0;
}

static _Atomic uint64_t *dir_slot(struct bfs_client *c, uint64_t ino)
{
    return &c->dirs[place_mix64(ino) & (DIR_SLOTS - 1)];
}

static void note_dir(struct bfs_client *c, uint64_t ino, uint32_t mode)
{
    if (S_ISDIR(mode))
        atomic_store_explicit(dir_slot(c, ino), ino, memory_order_relaxed);
}

/* A new entry of parent goes to server node. That server checks a parent it
 * holds; one that lives elsewhere must be seen to be a directory here first
 * (the kernel's path walk did, so this costs a GETATTR only for a parent this
 * client never looked at): -ENOTDIR, -ENOENT, or 0. */
static int check_parent_dir(struct bfs_client *c, uint64_t parent, uint32_t node)
{
    struct bfs_attr a;
    if (place_inode(parent, c->nodes) == node || parent == BFS_ROOT_INO ||
        atomic_load_explicit(dir_slot(c, parent), memory_order_relaxed) == parent)
        return 0;
    int rc = bfs_getattr(c, parent, &a);
    return rc < 0 ? rc : S_ISDIR(a.mode) ? 0 : -ENOTDIR;
}

int bfs_getattr(struct bfs_client *c, uint64_t ino, struct bfs_attr *out)
{
    struct rpc_call call;
    bfs_call_prep(&call, place_inode(ino, c->nodes), OP_GETATTR);
    call.args.ino = ino;
    int rc = run1(c, &call);
    if (rc == 0) {
        *out = call.reply.attr;
        note_dir(c, ino, out->mode);
    }
    return rc;
}

/* An entry whose inode lives on another server: the inode may be replaced (a
 * rename over the name) between the two calls, and then the name names another
 * inode by the time the first one is gone: look again, so a name that always
 * exists is never reported missing. */
#define LOOKUP_TRIES 8
int bfs_getattr_read(struct bfs_client *c, uint64_t ino, int relatime, struct bfs_attr *out,
                     int *touched)
{
    struct rpc_call call;
    bfs_call_prep(&call, place_inode(ino, c->nodes), OP_SETATTR);
    call.args.ino = ino;
    call.args.mask = BFS_SET_ATIME_READ | (relatime ? BFS_SET_ATIME_RELATIME : 0);
    int rc = run1(c, &call);
    if (rc == 0) {
        *out = call.reply.attr;
        *touched = call.reply.size == 1;
    }
    return rc;
}

int bfs_parent_is_local(const struct bfs_client *c, uint64_t parent, const char *name)
{
    size_t len = strnlen(name, BFS_NAME_MAX + 1);
    return place_dentry(parent, name, len, c->nodes) == place_inode(parent, c->nodes);
}

int bfs_lookup(struct bfs_client *c, uint64_t parent, const char *name, struct bfs_attr *out)
{
    struct rpc_call call;
    int rc = prep_entry(c, &call, OP_LOOKUP, parent, name);
    for (int tries = 0; rc == 0 && tries < LOOKUP_TRIES; tries++) {
        if ((rc = run1(c, &call)) < 0)
            return rc;
        if (call.reply.flags & 1) {
            *out = call.reply.attr;
            note_dir(c, out->ino, out->mode);
            return 0;
        }
        if ((rc = bfs_getattr(c, call.reply.ino, out)) != -ENOENT)
            return rc;
        rc = 0;
    }
    return rc ? rc : -ENOENT;
}

/* bfs_setattr; off: with BFS_SET_SIZE_GROW alone, where the write that ends at
 * in->size began (the owner counts [off, in->size) as stored). */
static int setattr_call(struct bfs_client *c, uint64_t ino, uint32_t mask, const struct bfs_attr *in,
                        uint64_t off, struct bfs_attr *out)
{
    struct rpc_call call;
    bfs_call_prep(&call, place_inode(ino, c->nodes), OP_SETATTR);
    call.args.ino = ino;
    call.args.mask = mask;
    call.args.attr = *in;
    call.args.off = off;
    int rc = run1(c, &call);
    if (rc < 0)
        return rc;
    *out = call.reply.attr;
    /* The owner cut its own chunks; chunks past the new end may live elsewhere. */
    if ((mask & BFS_SET_SIZE) && c->nodes > 1 && out->size < call.reply.size &&
        call.reply.size > c->chunk_size) {
        struct bfs_msg a = { .ino = ino, .size = out->size, .off = call.reply.size };
        rc = on_all_nodes(c, call.node, OP_TRUNCATE, &a);
    }
    return rc;
}

int bfs_setattr(struct bfs_client *c, uint64_t ino, uint32_t mask, const struct bfs_attr *in,
                struct bfs_attr *out)
{
    /* A bare SIZE_GROW from a caller claims no bytes written: [size, size). */
    return setattr_call(c, ino, mask, in, in->size, out);
}

/* An entry of parent was made or removed on server node: when parent's inode
 * lives elsewhere, its owner updates its times and, for a subdirectory (delta +1
 * made, -1 removed), its nlink (the entry's server did so itself otherwise). The
 * entry is in place either way, so a failure here only leaves the times or nlink
 * off: logged (benchfs-fsck repairs a count). */
static void count_subdir(struct bfs_client *c, uint64_t parent, uint32_t node, int delta)
{
    uint32_t owner = place_inode(parent, c->nodes);
    if (owner == node)
        return;
    struct rpc_call call;
    bfs_call_prep(&call, owner, OP_NLINK);
    call.args.ino = parent;
    call.args.delta = delta;
    call.args.flags = BFS_F_SUBDIR;
    int rc = run1(c, &call);
    if (rc < 0)
        log_warn("directory ino %llx on server node %u: counting a subdirectory (%+d) failed: %s",
                 (unsigned long long)parent, owner, delta, strerror(-rc));
}

static int create(struct bfs_client *c, uint64_t parent, const char *name, uint32_t mode,
                  uint64_t rdev, const char *target, uint32_t uid, uint32_t gid,
                  const struct bfs_inherit *ih, struct bfs_attr *out)
{
    struct rpc_call call;
    int rc = prep_entry(c, &call, OP_CREATE, parent, name);
    if (rc < 0)
        return rc;
    if ((rc = check_parent_dir(c, parent, call.node)) < 0)
        return rc;
    call.args.mode = mode;
    call.args.rdev = rdev;
    call.args.uid = uid;
    call.args.gid = gid;
    if (target) {
        size_t tlen = strnlen(target, BFS_SYMLINK_MAX + 1);
        if (tlen > BFS_SYMLINK_MAX)
            return -ENAMETOOLONG;
        call.args.target = target;
        call.args.target_len = (uint32_t)tlen;
    }
    if (ih) {
        if (ih->xattrs_len > BFS_XATTR_INHERIT_MAX)
            return -E2BIG;
        call.args.mask = ih->umask;
        call.data = ih->xattrs_len ? ih->xattrs : NULL;
        call.data_len = ih->xattrs_len;
    }
    rc = run1(c, &call);
    if (rc < 0)
        return rc;
    *out = call.reply.attr;
    note_dir(c, out->ino, out->mode);
    /* A directory is counted in its parent by the servers (server/coord.h). */
    if (!S_ISDIR(mode))
        count_subdir(c, parent, call.node, 0);
    return 0;
}

int bfs_create(struct bfs_client *c, uint64_t parent, const char *name, uint32_t mode,
               uint32_t uid, uint32_t gid, struct bfs_attr *out)
{
    if (!S_ISREG(mode) && !S_ISDIR(mode))
        return -EINVAL;
    return create(c, parent, name, mode, 0, NULL, uid, gid, NULL, out);
}

int bfs_mknod(struct bfs_client *c, uint64_t parent, const char *name, uint32_t mode,
              uint64_t rdev, uint32_t uid, uint32_t gid, struct bfs_attr *out)
{
    uint32_t type = mode & S_IFMT;
    if (type != S_IFREG && type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR &&
        type != S_IFBLK)
        return -EINVAL;
    return create(c, parent, name, mode, (type == S_IFCHR || type == S_IFBLK) ? rdev : 0, NULL,
                  uid, gid, NULL, out);
}

int bfs_make(struct bfs_client *c, uint64_t parent, const char *name, uint32_t mode, uint64_t rdev,
             uint32_t uid, uint32_t gid, const struct bfs_inherit *ih, struct bfs_attr *out)
{
    uint32_t type = mode & S_IFMT;
    if (type == S_IFLNK || !bfs_valid_type(type))
        return -EINVAL;
    return create(c, parent, name, mode, (type == S_IFCHR || type == S_IFBLK) ? rdev : 0, NULL,
                  uid, gid, ih, out);
}

/* ---- extended attributes ---- */

static int prep_xattr(struct bfs_client *c, struct rpc_call *call, uint32_t op, uint64_t ino,
                      const char *name)
{
    bfs_call_prep(call, place_inode(ino, c->nodes), op);
    call->args.ino = ino;
    if (!name)
        return 0;
    size_t len = strnlen(name, BFS_XATTR_NAME_MAX + 1);
    if (len == 0 || len > BFS_XATTR_NAME_MAX)
        return -ERANGE;   /* as Linux says of a name it cannot take */
    call->args.name = name;
    call->args.name_len = (uint32_t)len;
    return 0;
}

ssize_t bfs_getxattr(struct bfs_client *c, uint64_t ino, const char *name, void *buf, size_t size)
{
    struct rpc_call call;
    int rc = prep_xattr(c, &call, OP_GETXATTR, ino, name);
    if (rc < 0)
        return rc;
    size = size < BFS_XATTR_SIZE_MAX ? size : BFS_XATTR_SIZE_MAX;
    call.args.len = (uint32_t)size;
    call.rbuf = buf;
    call.rbuf_len = size;
    if ((rc = run1(c, &call)) < 0)
        return rc;
    if (size && call.rdata_len != call.reply.len)
        return -EPROTO;   /* a value that did not come whole */
    return (ssize_t)call.reply.len;
}

int bfs_setxattr(struct bfs_client *c, uint64_t ino, const char *name, const void *val, size_t len,
                 int flags, struct bfs_attr *out)
{
    struct rpc_call call;
    int rc = prep_xattr(c, &call, OP_SETXATTR, ino, name);
    if (rc < 0)
        return rc;
    if (len > BFS_XATTR_SIZE_MAX)
        return -E2BIG;
    call.args.flags = (uint32_t)flags;
    call.data = len ? val : NULL;
    call.data_len = len;
    if ((rc = run1(c, &call)) == 0 && out)
        *out = call.reply.attr;
    return rc;
}

ssize_t bfs_listxattr(struct bfs_client *c, uint64_t ino, char *buf, size_t size)
{
    struct rpc_call call;
    prep_xattr(c, &call, OP_LISTXATTR, ino, NULL);
    size = size < BFS_XATTR_LIST_MAX ? size : BFS_XATTR_LIST_MAX;
    call.args.len = (uint32_t)size;
    call.rbuf = buf;
    call.rbuf_len = size;
    int rc = run1(c, &call);
    if (rc < 0)
        return rc;
    if (size && call.rdata_len != call.reply.len)
        return -EPROTO;
    return (ssize_t)call.reply.len;
}

int bfs_removexattr(struct bfs_client *c, uint64_t ino, const char *name, struct bfs_attr *out)
{
    struct rpc_call call;
    int rc = prep_xattr(c, &call, OP_REMOVEXATTR, ino, name);
    if (rc < 0)
        return rc;
    if ((rc = run1(c, &call)) == 0 && out)
        *out = call.reply.attr;
    return rc;
}

int bfs_symlink(struct bfs_client *c, uint64_t parent, const char *name, const char *target,
                uint32_t uid, uint32_t gid, struct bfs_attr *out)
{
    return create(c, parent, name, S_IFLNK | 0777, 0, target, uid, gid, NULL, out);
}

ssize_t bfs_readlink(struct bfs_client *c, uint64_t ino, char *buf, size_t size)
{
    struct rpc_call call;
    bfs_call_prep(&call, place_inode(ino, c->nodes), OP_READLINK);
    call.args.ino = ino;
    int rc = run1(c, &call);
    if (rc < 0)
        return rc;
    size_t n = call.reply.target_len < size ? call.reply.target_len : size;
    memcpy(buf, call.reply.target, n);
    return (ssize_t)call.reply.target_len;
}

int bfs_link(struct bfs_client *c, uint64_t ino, uint64_t newparent, const char *newname,
             struct bfs_attr *out)
{
    struct rpc_call call;
    struct bfs_attr a = { .mode = S_IFREG };
    size_t len;
    int rc = check_name(newname, &len);
    if (rc < 0)
        return rc;
    uint32_t node = place_dentry(newparent, newname, len, c->nodes);
    uint32_t owner = place_inode(ino, c->nodes);
    /* The entry's server needs the type when it does not hold the inode. */
    if ((node != owner && (rc = bfs_getattr(c, ino, &a)) < 0) ||
        (rc = check_parent_dir(c, newparent, node)) < 0)
        return rc;
    bfs_call_prep(&call, node, OP_LINK);
    call.args.ino = ino;
    call.args.mode = a.mode & S_IFMT;
    call.args.parent = newparent;
    call.args.name = newname;
    call.args.name_len = (uint32_t)len;
    if ((rc = run1_busy(c, &call)) < 0)
        return rc;
    /* A link to an inode on another server was coordinated by the entry's server
     * (server/coord.h), parent included: only the attributes are to be fetched. */
    if (call.reply.flags & BFS_DROP_COORD)
        return bfs_getattr(c, ino, out);
    count_subdir(c, newparent, node, 0);
    *out = call.reply.attr;
    return 0;
}

static int unlink_entry(struct bfs_client *c, uint64_t parent, const char *name, uint32_t flags)
{
    struct rpc_call call;
    int rc = prep_entry(c, &call, OP_UNLINK, parent, name);
    if (rc < 0)
        return rc;
    call.args.flags = flags;
    /* An rmdir in a cluster is the entry server's to coordinate, parent included. */
    if ((rc = run1_busy(c, &call)) < 0 || (call.reply.flags & BFS_DROP_COORD))
        return rc;
    count_subdir(c, parent, call.node, (flags & BFS_F_RMDIR) ? -1 : 0);
    return settle_drop(c, &call.reply);
}

int bfs_unlink(struct bfs_client *c, uint64_t parent, const char *name, unsigned flags)
{
    return unlink_entry(c, parent, name, (flags & BFS_UNLINK_KEEP) ? BFS_F_KEEP : 0);
}

int bfs_rmdir(struct bfs_client *c, uint64_t parent, const char *name)
{
    return unlink_entry(c, parent, name, BFS_F_RMDIR);
}

int bfs_purge(struct bfs_client *c, uint64_t ino)
{
    struct rpc_call call;
    bfs_call_prep(&call, place_inode(ino, c->nodes), OP_PURGE);
    call.args.ino = ino;
    int rc = run1(c, &call);
    if (rc == 0 && (call.reply.flags & BFS_DROP_FREED))
        remove_remote_chunks(c, ino, call.reply.size);
    return rc;
}

int bfs_rename(struct bfs_client *c, uint64_t parent, const char *name, uint64_t newparent,
               const char *newname, unsigned flags, unsigned keep)
{
    struct rpc_call call;
    size_t len, newlen;
    int rc = check_name(name, &len);
    if (rc == 0)
        rc = check_name(newname, &newlen);
    if (rc < 0)
        return rc;
    /* The source entry's server renames, or coordinates the rename with the
     * servers of the target, of the parents and of the inodes (server/coord.h). */
    uint32_t node = place_dentry(parent, name, len, c->nodes);
    if ((rc = check_parent_dir(c, newparent, place_dentry(newparent, newname, newlen, c->nodes))) < 0)
        return rc;
    bfs_call_prep(&call, node, OP_RENAME);
    call.args.parent = parent;
    call.args.name = name;
    call.args.name_len = (uint32_t)len;
    call.args.newparent = newparent;
    call.args.newname = newname;
    call.args.newname_len = (uint32_t)newlen;
    call.args.flags = ((flags & BFS_RENAME_NOREPLACE) ? BFS_F_NOREPLACE : 0) |
                      ((keep & BFS_UNLINK_KEEP) ? BFS_F_KEEP : 0);
    if ((rc = run1_busy(c, &call)) < 0 || (call.reply.flags & BFS_DROP_COORD))
        return rc;
    /* A rename the server did alone had both entries there, and on a cluster moved
     * no directory between parents: the parents' times remain, and a replaced
     * file's link where its inode lives. */
    count_subdir(c, parent, node, 0);
    if (newparent != parent)
        count_subdir(c, newparent, node, 0);
    return settle_drop(c, &call.reply);
}

int bfs_readdir(struct bfs_client *c, uint64_t dir, uint64_t cookie, bfs_dirent_fn fn, void *arg)
{
    size_t cap = BFS_READDIR_MAX * (22 + BFS_NAME_MAX);
    uint8_t *buf = malloc(cap);
    if (!buf)
        return -ENOMEM;
    uint32_t node = (uint32_t)(cookie >> COOKIE_NODE_SHIFT);
    uint64_t pos = cookie & ((1ULL << COOKIE_NODE_SHIFT) - 1);
    int rc = 0, stop = 0;
    while (rc == 0 && !stop && node < c->nodes) {
        struct rpc_call call;
        bfs_call_prep(&call, node, OP_READDIR);
        call.args.ino = dir;
        call.args.cookie = pos;
        call.args.len = BFS_READDIR_MAX;
        call.rbuf = buf;
        call.rbuf_len = cap;
        if ((rc = run1(c, &call)) < 0)
            break;
        size_t off = 0;
        struct bfs_dirent d;
        uint32_t seen = 0;
        int k;
        while (!stop && (k = proto_dirent_decode(buf, call.rdata_len, &off, &d)) == 1) {
            if (d.cookie < 3 || d.cookie >> COOKIE_NODE_SHIFT) {
                k = -EBADMSG;
                break;
            }
            pos = d.cookie;
            d.cookie |= (uint64_t)node << COOKIE_NODE_SHIFT;
            note_dir(c, d.ino, d.type);
            seen++;
            stop = fn(arg, &d);
        }
        if (!stop && (k < 0 || seen != call.reply.len)) {
            log_warn("READDIR of ino %llx on node %u: malformed entries", (unsigned long long)dir, node);
            rc = -EIO;
        } else if (!stop && (call.reply.flags & 1)) {
            node++;
            pos = 0;
        }
    }
    free(buf);
    return rc;
}

int bfs_statfs(struct bfs_client *c, struct statvfs *out)
{
    memset(out, 0, sizeof *out);
    uint64_t bytes = 0, bfree = 0, bavail = 0, files = 0, ffree = 0;
    for (uint32_t node = 0; node < c->nodes; node++) {
        struct rpc_call call;
        bfs_call_prep(&call, node, OP_STATFS);
        int rc = run1(c, &call);
        if (rc < 0)
            return rc;
        const struct bfs_statfs *s = &call.reply.st;
        bytes += s->blocks * s->bsize;
        bfree += s->bfree * s->bsize;
        bavail += s->bavail * s->bsize;
        files += s->files;
        ffree += s->ffree;
    }
    out->f_bsize = out->f_frsize = 4096;
    out->f_blocks = bytes / 4096;
    out->f_bfree = bfree / 4096;
    out->f_bavail = bavail / 4096;
    out->f_files = files;
    out->f_ffree = ffree;
    out->f_favail = ffree;
    out->f_namemax = BFS_NAME_MAX;
    return 0;
}

/* Cuts [off, off+len) into pieces that stay within one chunk and one RPC. */
static size_t piece(const struct bfs_client *c, uint64_t off, size_t len, uint64_t *idx, uint64_t *coff)
{
    *idx = off / c->chunk_size;
    *coff = off % c->chunk_size;
    size_t n = c->chunk_size - *coff;
    if (n > BFS_MAX_IO)
        n = BFS_MAX_IO;
    return n < len ? n : len;
}

/* A READ reply carries the whole piece (holes read as zeros), or, from the
 * inode's owner (flags 1), the piece cut at the size it names: any other length
 * would hand the caller bytes nobody sent. pos: the piece's place in the file. */
static int check_read_reply(const struct rpc_call *call, uint64_t pos)
{
    size_t want = call->rbuf_len;
    if (call->reply.flags & 1) {
        uint64_t size = call->reply.size;
        want = pos >= size ? 0 : (size - pos < want ? (size_t)(size - pos) : want);
    }
    if (call->rdata_len == want)
        return 0;
    log_error("READ ino %llx chunk %llu from node %u: %zu bytes in the reply, %zu expected",
              (unsigned long long)call->args.ino, (unsigned long long)call->args.idx, call->node,
              call->rdata_len, want);
    return -EIO;
}

ssize_t bfs_read(struct bfs_client *c, uint64_t ino, void *buf, size_t len, uint64_t off)
{
    if (len > SSIZE_MAX || off > (uint64_t)INT64_MAX - len)
        return -EINVAL;
    int64_t size = -1;   /* the file size once a reply (or GETATTR) told it */
    size_t done = 0;
    while (done < len && (size < 0 || off + done < (uint64_t)size)) {
        struct rpc_call calls[WINDOW];
        size_t n = 0, sent = done;
        for (; n < WINDOW && sent < len; n++) {
            uint64_t idx, coff;
            size_t plen = piece(c, off + sent, len - sent, &idx, &coff);
            bfs_call_prep(&calls[n], place_chunk(ino, idx, c->nodes), OP_READ);
            calls[n].args.ino = ino;
            calls[n].args.idx = idx;
            calls[n].args.off = coff;
            calls[n].args.len = (uint32_t)plen;
            calls[n].rbuf = (uint8_t *)buf + sent;
            calls[n].rbuf_len = plen;
            sent += plen;
        }
        int rc = run(c, calls, n);
        for (size_t i = 0; i < n && rc == 0; i++) {
            rc = calls[i].status;
            if (rc == 0 && (calls[i].reply.flags & 1))
                size = (int64_t)calls[i].reply.size;
            if (rc == 0)
                rc = check_read_reply(&calls[i], off + (uint64_t)((uint8_t *)calls[i].rbuf - (uint8_t *)buf));
        }
        if (rc < 0)
            return done ? (ssize_t)done : rc;
        done = sent;
    }
    if (size < 0) {
        /* Every piece came from a node that does not own the inode. */
        struct bfs_attr a;
        int rc = bfs_getattr(c, ino, &a);
        if (rc < 0)
            return rc;
        size = (int64_t)a.size;
    }
    uint64_t end = off + done < (uint64_t)size ? off + done : (uint64_t)size;
    return end > off ? (ssize_t)(end - off) : 0;
}

ssize_t bfs_write(struct bfs_client *c, uint64_t ino, const void *buf, size_t len, uint64_t off)
{
    return bfs_write_wcc(c, ino, buf, len, off, NULL);
}

ssize_t bfs_write_wcc(struct bfs_client *c, uint64_t ino, const void *buf, size_t len, uint64_t off,
                      struct bfs_wcc *wcc)
{
    if (wcc)
        wcc->valid = 0;
    if (len > SSIZE_MAX || off > (uint64_t)INT64_MAX - len)
        return -EFBIG;
    size_t done = 0;
    int end_by_owner = 0;   /* the owner wrote the last piece and so raised the size itself */
    int elsewhere = 0;      /* some piece went to another node: the owner did not see it */
    uint32_t owner = place_inode(ino, c->nodes);
    int rc = 0;
    while (done < len && rc == 0) {
        struct rpc_call calls[WINDOW];
        size_t n = 0, sent = done;
        for (; n < WINDOW && sent < len; n++) {
            uint64_t idx, coff;
            size_t plen = piece(c, off + sent, len - sent, &idx, &coff);
            bfs_call_prep(&calls[n], place_chunk(ino, idx, c->nodes), OP_WRITE);
            elsewhere |= calls[n].node != owner;
            calls[n].args.ino = ino;
            calls[n].args.idx = idx;
            calls[n].args.off = coff;
            calls[n].data = (const uint8_t *)buf + sent;
            calls[n].data_len = plen;
            sent += plen;
        }
        rc = run(c, calls, n);
        /* Only a prefix of pieces that all landed counts as written. */
        for (size_t i = 0; i < n && rc == 0; i++) {
            rc = calls[i].status;
            if (rc == 0 && calls[i].reply.len != calls[i].data_len) {
                log_error("WRITE ino %llx chunk %llu to node %u: the reply says %u of %zu bytes",
                          (unsigned long long)ino, (unsigned long long)calls[i].args.idx,
                          calls[i].node, calls[i].reply.len, calls[i].data_len);
                rc = -EIO;
            }
            if (rc == 0) {
                done += calls[i].data_len;
                end_by_owner = calls[i].reply.flags & 1;
            }
        }
        if (wcc && rc == 0 && calls[0].data_len == len && end_by_owner) {   /* one piece, the owner's */
            wcc->valid = 1;
            wcc->pre_ctime = (int64_t)calls[0].reply.pre_ctime;
            wcc->post = calls[0].reply.attr;
        }
    }
    if (done == 0)
        return rc;
    /* The owner learns the size, and which bytes are stored (st_blocks), of
     * what it did not write itself. */
    if (!end_by_owner || done < len || elsewhere) {
        struct bfs_attr in = { .size = off + done }, out;
        int rc2 = setattr_call(c, ino, BFS_SET_SIZE_GROW, &in, off, &out);
        if (rc2 == -ENOENT && elsewhere) {
            /* The file was freed while this wrote: its owner removed the
             * chunks it knew of, not these. (A crash here leaves them to
             * benchfs-fsck.) */
            struct bfs_msg rm = { .ino = ino, .size = off + done };
            int rc3 = on_all_nodes(c, owner, OP_REMOVE, &rm);
            if (rc3 < 0)
                log_warn("ino %llx: removing the chunks a write made after the file was removed: %s",
                         (unsigned long long)ino, strerror(-rc3));
        }
        if (rc2 < 0)
            return rc2;
    }
    return (ssize_t)done;
}

int bfs_fsync(struct bfs_client *c, uint64_t ino, int datasync)
{
    struct bfs_msg a = { .ino = ino, .flags = datasync ? 1 : 0 };
    return on_all_nodes(c, UINT32_MAX, OP_FSYNC, &a);
}

int bfs_server_counters(struct bfs_client *c, uint32_t node, uint64_t *counts, size_t n)
{
    uint8_t raw[OP_MAX * 8];
    struct rpc_call call;
    bfs_call_prep(&call, node, OP_COUNTERS);
    call.rbuf = raw;
    call.rbuf_len = sizeof raw;
    int rc = run1(c, &call);
    if (rc < 0)
        return rc;
    size_t have = call.rdata_len / 8;
    if (have > n)
        have = n;
    for (size_t i = 0; i < have; i++)
        counts[i] = get_le64(raw + 8 * i);
    return (int)have;
}

int bfs_client_open(const struct bfs_client_opts *opts, struct bfs_client **out)
{
    struct registry_entry *entries = NULL;
    uint8_t key[BFS_KEY_LEN];
    uint32_t n = 0;
    int rc;
    if (!opts || !opts->registry_dir)
        return -EINVAL;
    struct bfs_client *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    pthread_mutex_init(&c->reconnect_lock, NULL);
    if (snprintf(c->registry_dir, sizeof c->registry_dir, "%s", opts->registry_dir) >= PATH_MAX) {
        rc = -ENAMETOOLONG;
        goto fail;
    }
    double wait = opts->registry_timeout_s > 0 ? opts->registry_timeout_s : 30;
    if ((rc = registry_wait(opts->registry_dir, wait, &entries, &n)) < 0)
        goto fail;
    if ((rc = registry_key_load(opts->registry_dir, key)) < 0)
        goto fail;
    c->nodes = n;
    c->chunk_size = entries[0].chunk_size;
    if (!(c->pids = calloc(n, sizeof *c->pids)) || !(c->locked = calloc(n, sizeof *c->locked))) {
        rc = -ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < n; i++)
        c->pids[i] = entries[i].pid;
    c->rpc_timeout_s = opts->rpc_timeout_s > 0 ? opts->rpc_timeout_s : 30;
    rc = rpc_client_create(n, key, opts->rpc_timeout_s > 0 ? opts->rpc_timeout_s : 30, &c->rpc);
    for (uint32_t i = 0; rc == 0 && i < n; i++)
        rc = rpc_client_connect(c->rpc, i, entries[i].addr, entries[i].addr_len);
    if (rc < 0)
        goto fail;
    /* One round trip proves the server answers and accepts our key. */
    struct bfs_attr root;
    if ((rc = bfs_getattr(c, BFS_ROOT_INO, &root)) < 0) {
        log_error("server in %s does not answer: %s", opts->registry_dir, strerror(-rc));
        goto fail;
    }
    registry_entries_free(entries, n);
    *out = c;
    return 0;
fail:
    registry_entries_free(entries, n);
    bfs_client_close(c);
    return rc;
}

void bfs_client_close(struct bfs_client *c)
{
    if (!c)
        return;
    rpc_client_destroy(c->rpc);
    pthread_mutex_destroy(&c->reconnect_lock);
    free(c->pids);
    free((void *)c->locked);
    free(c);
}
