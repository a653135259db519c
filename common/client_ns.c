/* client_ns.c - the namespace calls of the client library (client.h): each is
 * one request to the server of its entry or inode (placement.h); operations
 * with steps on several servers are done by the servers (server/coord.h). */
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

#include "clock.h"
#include "byteorder.h"
#include "log.h"
#include "placement.h"
#include "registry.h"
#include "rpc.h"
#include "xattr.h"

/* An entry whose inode lives on another server: the inode may be replaced (a
 * rename over the name) between the LOOKUP and the GETATTR, and then the name
 * names another inode by the time the first one is gone: bfs_lookup looks
 * again, so a name that always exists is never reported missing. */
#define LOOKUP_TRIES 8

int client_check_name(const char *name, size_t *len)
{
    *len = strnlen(name, BFS_NAME_MAX + 1);
    if (*len > BFS_NAME_MAX)
        return -ENAMETOOLONG;
    return *len == 0 ? -EINVAL : 0;
}

/* Prepares an op on entry (parent, name), addressed to the server that holds it. */
int client_prep_entry(struct bfs_client *c, struct rpc_call *call, uint32_t op, uint64_t parent,
                      const char *name)
{
    size_t len;
    int rc = client_check_name(name, &len);
    if (rc < 0)
        return rc;
    bfs_call_prep(call, place_dentry(parent, name, len, c->nodes), op);
    call->args.parent = parent;
    call->args.name = name;
    call->args.name_len = (uint32_t)len;
    return 0;
}

/* An inode lost its last link on its owner: its chunks on the other nodes go too. */
void client_remove_remote_chunks(struct bfs_client *c, uint64_t ino, uint64_t size)
{
    if (c->nodes <= 1 || size <= c->chunk_size)
        return;
    struct bfs_msg a = { .ino = ino, .size = size };
    int rc = client_on_all_nodes(c, place_inode(ino, c->nodes), OP_REMOVE, &a);
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
        client_remove_remote_chunks(c, drop->ino, drop->size);
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
    int rc = client_run1(c, &call);
    if (rc == 0) {
        *out = call.reply.attr;
        note_dir(c, ino, out->mode);
        client_times_apply(c, out);
    }
    return rc;
}

int bfs_getattr_read(struct bfs_client *c, uint64_t ino, int relatime, struct bfs_attr *out,
                     int *touched)
{
    struct rpc_call call;
    bfs_call_prep(&call, place_inode(ino, c->nodes), OP_SETATTR);
    call.args.ino = ino;
    call.args.mask = BFS_SET_ATIME_READ | (relatime ? BFS_SET_ATIME_RELATIME : 0);
    int rc = client_run1(c, &call);
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
    return bfs_lookup_data(c, parent, name, out, NULL);
}

int bfs_lookup_data(struct bfs_client *c, uint64_t parent, const char *name, struct bfs_attr *out,
                    struct bfs_lookup_data *d)
{
    struct rpc_call call;
    int rc = client_prep_entry(c, &call, OP_LOOKUP, parent, name);
    if (d) {
        d->len = -1;
        call.args.len = (uint32_t)(d->cap < UINT32_MAX ? d->cap : UINT32_MAX);
        call.args.uid = d->uid;
        call.args.mask = d->atime ? BFS_SET_ATIME_READ | BFS_SET_ATIME_RELATIME : 0;
        call.rbuf = d->buf;
        call.rbuf_len = d->cap;
    }
    for (int tries = 0; rc == 0 && tries < LOOKUP_TRIES; tries++) {
        if ((rc = client_run1(c, &call)) < 0)
            return rc;
        if (call.reply.flags & 1) {
            *out = call.reply.attr;
            note_dir(c, out->ino, out->mode);
            client_times_apply(c, out);
            /* The whole file, or nothing: a length that is not its size is not it. */
            if (d && (call.reply.flags & 2) && S_ISREG(out->mode) && call.rdata_len == out->size)
                d->len = (ssize_t)call.rdata_len;
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
int client_setattr_call(struct bfs_client *c, uint64_t ino, uint32_t mask, const struct bfs_attr *in,
                        uint64_t off, struct bfs_attr *out)
{
    struct rpc_call call;
    client_times_forget(c, ino);   /* what the owner answers is newer */
    bfs_call_prep(&call, place_inode(ino, c->nodes), OP_SETATTR);
    call.args.ino = ino;
    call.args.mask = mask;
    call.args.attr = *in;
    call.args.off = off;
    int rc = client_run1(c, &call);
    if (rc < 0)
        return rc;
    *out = call.reply.attr;
    /* The owner cut its own chunks; chunks past the new end may live elsewhere. */
    if ((mask & BFS_SET_SIZE) && c->nodes > 1 && out->size < call.reply.size &&
        call.reply.size > c->chunk_size) {
        struct bfs_msg a = { .ino = ino, .size = out->size, .off = call.reply.size };
        rc = client_on_all_nodes(c, call.node, OP_TRUNCATE, &a);
    }
    return rc;
}

int bfs_setattr(struct bfs_client *c, uint64_t ino, uint32_t mask, const struct bfs_attr *in,
                struct bfs_attr *out)
{
    /* A bare SIZE_GROW from a caller claims no bytes written: [size, size). */
    return client_setattr_call(c, ino, mask, in, in->size, out);
}

/* The parent's attributes a reply brought (ino 0: none) to *pout, if asked. */
static void give_parent(const struct rpc_call *call, uint64_t parent, struct bfs_attr *pout)
{
    if (!pout)
        return;
    if (call->reply.pattr.ino == parent)
        *pout = call->reply.pattr;
    else
        memset(pout, 0, sizeof *pout);
}

/* An entry of parent was made or removed on server node, whose reply was call:
 * when parent's inode lives elsewhere, its owner updates its times and, for a
 * subdirectory (delta +1 made, -1 removed), its nlink (the entry's server did so
 * itself otherwise). The entry's server sends the times itself when the call
 * asked it to (BFS_F_TIMES): this client then only remembers them
 * (client_times.c), or, with no room for that, sends them now. *pout (if not
 * NULL) gets the parent's attributes after that from whichever server holds
 * it, or only the times the entry's server gives it (ino 0, client.h). The
 * entry is in place either way, so a failure here only leaves the times or
 * nlink off: logged (benchfs-fsck repairs a count). */
static void count_subdir(struct bfs_client *c, uint64_t parent, const struct rpc_call *entry_call,
                         int delta, struct bfs_attr *pout)
{
    uint32_t owner = place_inode(parent, c->nodes);
    if (owner == entry_call->node) {
        give_parent(entry_call, parent, pout);
        return;
    }
    int64_t stamp = (int64_t)entry_call->reply.stamp;
    int later = delta == 0 && (entry_call->reply.flags & BFS_TIMES_LATER);
    if (later && client_times_note(c, parent, stamp) == 0) {
        if (pout)   /* the times alone (client.h) */
            *pout = (struct bfs_attr){ .mtime_ns = stamp, .ctime_ns = stamp };
        return;
    }
    struct rpc_call call;
    bfs_call_prep(&call, owner, OP_NLINK);
    call.args.ino = parent;
    call.args.delta = delta;
    call.args.flags = BFS_F_SUBDIR | (pout ? BFS_F_PATTR : 0) | (later ? BFS_F_STAMP : 0);
    call.args.stamp = later ? (uint64_t)stamp : 0;
    int rc = client_run1(c, &call);
    if (rc < 0) {
        log_warn("directory ino %llx on server node %u: counting a subdirectory (%+d) failed: %s",
                 (unsigned long long)parent, owner, delta, strerror(-rc));
        memset(&call.reply.pattr, 0, sizeof call.reply.pattr);
    }
    give_parent(&call, parent, pout);
}

static int create(struct bfs_client *c, uint64_t parent, const char *name, uint32_t mode,
                  uint64_t rdev, const char *target, uint32_t uid, uint32_t gid,
                  const struct bfs_inherit *ih, struct bfs_attr *out, struct bfs_attr *pout)
{
    if (pout)
        memset(pout, 0, sizeof *pout);
    struct rpc_call call;
    int rc = client_prep_entry(c, &call, OP_CREATE, parent, name);
    if (rc < 0)
        return rc;
    if ((rc = check_parent_dir(c, parent, call.node)) < 0)
        return rc;
    call.args.mode = mode;
    call.args.rdev = rdev;
    call.args.uid = uid;
    call.args.gid = gid;
    call.args.flags = (pout ? BFS_F_PATTR : 0) | client_times_flag(c);
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
    rc = client_run1(c, &call);
    if (rc < 0)
        return rc;
    *out = call.reply.attr;
    note_dir(c, out->ino, out->mode);
    /* A directory is counted in its parent by the servers (server/coord.h):
     * a coordinated mkdir brings no parent's attributes. */
    if (!S_ISDIR(mode))
        count_subdir(c, parent, &call, 0, pout);
    else
        give_parent(&call, parent, pout);
    return 0;
}

int bfs_create(struct bfs_client *c, uint64_t parent, const char *name, uint32_t mode,
               uint32_t uid, uint32_t gid, struct bfs_attr *out)
{
    if (!S_ISREG(mode) && !S_ISDIR(mode))
        return -EINVAL;
    return create(c, parent, name, mode, 0, NULL, uid, gid, NULL, out, NULL);
}

int bfs_mknod(struct bfs_client *c, uint64_t parent, const char *name, uint32_t mode,
              uint64_t rdev, uint32_t uid, uint32_t gid, struct bfs_attr *out)
{
    uint32_t type = mode & S_IFMT;
    if (type != S_IFREG && type != S_IFIFO && type != S_IFSOCK && type != S_IFCHR &&
        type != S_IFBLK)
        return -EINVAL;
    return create(c, parent, name, mode, (type == S_IFCHR || type == S_IFBLK) ? rdev : 0, NULL,
                  uid, gid, NULL, out, NULL);
}

int bfs_make(struct bfs_client *c, uint64_t parent, const char *name, uint32_t mode, uint64_t rdev,
             uint32_t uid, uint32_t gid, const struct bfs_inherit *ih, struct bfs_attr *out,
             struct bfs_attr *parent_out)
{
    uint32_t type = mode & S_IFMT;
    if (parent_out)
        memset(parent_out, 0, sizeof *parent_out);
    if (type == S_IFLNK || !bfs_valid_type(type))
        return -EINVAL;
    return create(c, parent, name, mode, (type == S_IFCHR || type == S_IFBLK) ? rdev : 0, NULL,
                  uid, gid, ih, out, parent_out);
}

int bfs_symlink(struct bfs_client *c, uint64_t parent, const char *name, const char *target,
                uint32_t uid, uint32_t gid, struct bfs_attr *out, struct bfs_attr *parent_out)
{
    return create(c, parent, name, S_IFLNK | 0777, 0, target, uid, gid, NULL, out, parent_out);
}

ssize_t bfs_readlink(struct bfs_client *c, uint64_t ino, char *buf, size_t size)
{
    struct rpc_call call;
    bfs_call_prep(&call, place_inode(ino, c->nodes), OP_READLINK);
    call.args.ino = ino;
    int rc = client_run1(c, &call);
    if (rc < 0)
        return rc;
    size_t n = call.reply.target_len < size ? call.reply.target_len : size;
    memcpy(buf, call.reply.target, n);
    return (ssize_t)call.reply.target_len;
}

int bfs_link(struct bfs_client *c, uint64_t ino, uint64_t newparent, const char *newname,
             struct bfs_attr *out, struct bfs_attr *parent_out)
{
    struct rpc_call call;
    struct bfs_attr a = { .mode = S_IFREG };
    size_t len;
    if (parent_out)
        memset(parent_out, 0, sizeof *parent_out);
    int rc = client_check_name(newname, &len);
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
    call.args.flags = (parent_out ? BFS_F_PATTR : 0) | client_times_flag(c);
    if ((rc = client_run1_busy(c, &call)) < 0)
        return rc;
    /* A link to an inode on another server was coordinated by the entry's server
     * (server/coord.h), parent included: only the attributes are to be fetched. */
    if (call.reply.flags & BFS_DROP_COORD)
        return bfs_getattr(c, ino, out);
    count_subdir(c, newparent, &call, 0, parent_out);
    *out = call.reply.attr;
    return 0;
}

static int unlink_entry(struct bfs_client *c, uint64_t parent, const char *name, uint32_t flags,
                        uint64_t *ino, struct bfs_attr *pout)
{
    struct rpc_call call;
    if (pout)
        memset(pout, 0, sizeof *pout);
    int rc = client_prep_entry(c, &call, OP_UNLINK, parent, name);
    if (rc < 0)
        return rc;
    call.args.flags = flags | (pout ? BFS_F_PATTR : 0) | client_times_flag(c);
    /* An rmdir in a cluster is the entry server's to coordinate, parent included. */
    rc = client_run1_busy(c, &call);
    if (rc == 0 && ino)
        *ino = call.reply.ino;
    if (rc < 0 || (call.reply.flags & BFS_DROP_COORD))
        return rc;
    count_subdir(c, parent, &call, (flags & BFS_F_RMDIR) ? -1 : 0, pout);
    return settle_drop(c, &call.reply);
}

int bfs_unlink(struct bfs_client *c, uint64_t parent, const char *name, unsigned flags,
               struct bfs_attr *parent_out)
{
    return unlink_entry(c, parent, name, (flags & BFS_UNLINK_KEEP) ? BFS_F_KEEP : 0, NULL,
                        parent_out);
}

int bfs_unlink_ino(struct bfs_client *c, uint64_t parent, const char *name, unsigned flags,
                   uint64_t *ino)
{
    *ino = 0;
    return unlink_entry(c, parent, name, (flags & BFS_UNLINK_KEEP) ? BFS_F_KEEP : 0, ino, NULL);
}

int bfs_rmdir(struct bfs_client *c, uint64_t parent, const char *name)
{
    return unlink_entry(c, parent, name, BFS_F_RMDIR, NULL, NULL);
}

int bfs_purge(struct bfs_client *c, uint64_t ino)
{
    struct rpc_call call;
    bfs_call_prep(&call, place_inode(ino, c->nodes), OP_PURGE);
    call.args.ino = ino;
    int rc = client_run1(c, &call);
    if (rc == 0 && (call.reply.flags & BFS_DROP_FREED))
        client_remove_remote_chunks(c, ino, call.reply.size);
    return rc;
}

int bfs_rename(struct bfs_client *c, uint64_t parent, const char *name, uint64_t newparent,
               const char *newname, unsigned flags, unsigned keep)
{
    struct rpc_call call;
    size_t len, newlen;
    int rc = client_check_name(name, &len);
    if (rc == 0)
        rc = client_check_name(newname, &newlen);
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
                      ((keep & BFS_UNLINK_KEEP) ? BFS_F_KEEP : 0) | client_times_flag(c);
    if ((rc = client_run1_busy(c, &call)) < 0 || (call.reply.flags & BFS_DROP_COORD))
        return rc;
    /* A rename the server did alone had both entries there, and on a cluster moved
     * no directory between parents: the parents' times remain, and a replaced
     * file's link where its inode lives. */
    count_subdir(c, parent, &call, 0, NULL);
    if (newparent != parent)
        count_subdir(c, newparent, &call, 0, NULL);
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
        if ((rc = client_run1(c, &call)) < 0)
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
