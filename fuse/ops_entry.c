/* ops_entry.c - the FUSE operations on names and inodes: lookup and forget,
 * attributes (getattr, setattr), readlink, and making (mknod, mkdir, symlink,
 * link), removing (unlink, rmdir) and renaming entries, with the owner a new
 * entry gets. Rules and helpers: ops.c, ops_int.h. */
#include "ops_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "../common/log.h"
#include "dirstash.h"
#include "pagecache.h"
#include "xattrs.h"

static int64_t timespec_to_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

/* ------------------------------------------------------- names and inodes */

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct bfs_fuse *fs = fs_of(req);
    struct bfs_attr a;
    int rc = check_name(name);
    /* Before the lookup: the kernel caches what it gets, found or not. */
    kcache_mark_entry(fs->kcache, parent, name);
    if (rc == 0)
        rc = bfs_lookup(fs->client, parent, name, &a);
    if (rc == -ENOENT && fs->opts.negative_timeout > 0) {
        /* ino 0 with a timeout: the kernel caches "no such name". */
        struct fuse_entry_param e;
        memset(&e, 0, sizeof e);
        e.entry_timeout = fs->opts.negative_timeout;
        log_rc("lookup", parent, name, rc);
        fuse_reply_entry(req, &e);
        return;
    }
    if (rc < 0) {
        reply_fail(req, "lookup", parent, name, rc);
        return;
    }
    reply_entry(req, "lookup", parent, name, &a);
}

/* No inode state lives here (FUSE inode numbers are BenchFS's), so the
 * kernel's forgets free nothing; open-but-unlinked inodes are tracked by open
 * handles instead (openfiles.h). */
void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    (void)ino;
    (void)nlookup;
    fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    (void)count;
    (void)forgets;
    fuse_reply_none(req);
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    struct bfs_fuse *fs = fs_of(req);
    struct bfs_attr a;
    /* A directory this mount just changed: its server said what it left. */
    int rc = 0;
    if (!dirstash_take(fs->dstash, ino, &a)) {
        struct dirstash_look look = dirstash_look(fs->dstash, ino);
        if ((rc = bfs_getattr(fs->client, ino, &a)) == 0 && S_ISDIR(a.mode))
            dirstash_seen(fs->dstash, look, &a);
    }
    if (rc < 0) {
        reply_fail(req, "getattr", ino, NULL, inode_rc(rc));
        return;
    }
    struct stat st;
    attr_to_stat(fs, &a, &st);
    fuse_reply_attr(req, &st, fs->opts.attr_timeout);
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                struct fuse_file_info *fi)
{
    (void)fi;
    struct bfs_fuse *fs = fs_of(req);
    struct bfs_attr in, out;
    uint32_t mask = 0;
    memset(&in, 0, sizeof in);

    if (to_set & FUSE_SET_ATTR_MODE) {
        mask |= BFS_SET_MODE;
        in.mode = attr->st_mode & 07777;
    }
    if (to_set & FUSE_SET_ATTR_UID) {
        mask |= BFS_SET_UID;
        in.uid = attr->st_uid;
    }
    if (to_set & FUSE_SET_ATTR_GID) {
        mask |= BFS_SET_GID;
        in.gid = attr->st_gid;
    }
    if (to_set & FUSE_SET_ATTR_SIZE) {
        if (attr->st_size < 0) {
            reply_fail(req, "setattr", ino, NULL, -EINVAL);
            return;
        }
        mask |= BFS_SET_SIZE;
        in.size = (uint64_t)attr->st_size;
    }
    /* libfuse sets ATIME together with ATIME_NOW; NOW wins (server's clock). */
    if (to_set & FUSE_SET_ATTR_ATIME_NOW) {
        mask |= BFS_SET_ATIME_NOW;
    } else if (to_set & FUSE_SET_ATTR_ATIME) {
        mask |= BFS_SET_ATIME;
        in.atime_ns = timespec_to_ns(&attr->st_atim);
    }
    if (to_set & FUSE_SET_ATTR_MTIME_NOW) {
        mask |= BFS_SET_MTIME_NOW;
    } else if (to_set & FUSE_SET_ATTR_MTIME) {
        mask |= BFS_SET_MTIME;
        in.mtime_ns = timespec_to_ns(&attr->st_mtim);
    }
    if (to_set & FUSE_SET_ATTR_CTIME) {
        mask |= BFS_SET_CTIME;
        in.ctime_ns = timespec_to_ns(&attr->st_ctim);
    }

    /* Nothing we store was asked for (e.g. only KILL_SUID hints): the kernel
     * still needs the current attributes back. */
    if (mask && fs->pages)
        pagecache_forget(fs->pages, ino);
    int rc = mask ? bfs_setattr(fs->client, ino, mask, &in, &out)
                  : bfs_getattr(fs->client, ino, &out);
    if (mask) {
        kcache_changed(fs->kcache, ino);
        dirstash_forget(fs->dstash, ino);
    }
    if (rc == -ENOENT && to_set == (FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_CTIME)) {
        /* With writeback caching the kernel keeps a regular file's times
         * itself and flushes them with exactly this request, also right after
         * the file's last name was removed (fuse_flush_time_update), when the
         * servers have already freed the inode. An error here would be
         * recorded against the whole file system and make the next syncfs()
         * fail with ESTALE; a deleted file's times need no storing, so say
         * done. Only regular files under writeback caching get CTIME, and
         * the kernel's flush ignores this reply's attributes; a user's
         * futimens() setting mtime alone looks the same and also succeeds,
         * which for a file already deleted (by another client) is harmless. */
        memset(&out, 0, sizeof out);
        out.ino = ino;
        out.mode = S_IFREG;
        out.mtime_ns = in.mtime_ns;
        out.ctime_ns = in.ctime_ns;
        log_debug("setattr ino=%" PRIu64 ": times of a deleted file dropped", (uint64_t)ino);
        struct stat st;
        attr_to_stat(fs, &out, &st);
        fuse_reply_attr(req, &st, 0);
        return;
    }
    if (rc < 0) {
        reply_fail(req, "setattr", ino, NULL, inode_rc(rc));
        return;
    }
    log_rc("setattr", ino, NULL, 0);
    struct stat st;
    attr_to_stat(fs, &out, &st);
    fuse_reply_attr(req, &st, fs->opts.attr_timeout);
}

/* The owner of a new entry in parent: the caller, with the group of parent
 * if parent is setgid, and then a new directory is setgid too (Linux's
 * inode_init_owner). The entry's server does that itself when it holds
 * parent's inode; otherwise the daemon does, with the parent's attributes
 * it last replied with (dircache.h), fetching them only if they expired.
 * *pi (if not NULL) gets what the parent's attributes say for xattrs_inherit
 * (nothing is needed when the entry's server holds the parent: *local = 1). */
static int new_owner(fuse_req_t req, fuse_ino_t parent, const char *name, uint32_t *mode,
                     uint32_t *uid, uint32_t *gid, int *local, struct dircache_info *pi)
{
    struct bfs_fuse *fs = fs_of(req);
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    struct dircache_info info;
    *uid = ctx->uid;
    *gid = ctx->gid;
    if ((*local = bfs_parent_is_local(fs->client, parent, name)))
        return 0;
    if (!dircache_get(fs->dirs, parent, &info)) {
        struct bfs_attr a;
        int rc = bfs_getattr(fs->client, parent, &a);
        if (rc < 0)
            return rc;
        dircache_put(fs->dirs, &a, fs->opts.attr_timeout);
        info = (struct dircache_info){ .setgid = (a.mode & S_ISGID) != 0, .gid = a.gid,
                                       .defacl = (a.flags & BFS_ATTR_DEFACL) != 0 };
    }
    if (info.setgid) {
        *gid = info.gid;
        if (S_ISDIR(*mode))
            *mode |= S_ISGID;
    }
    if (pi)
        *pi = info;
    return 0;
}

/* Creates a node of type (a directory, or any type mknod makes, with rdev for
 * a device) named name in parent, owned by the caller. */
int make_node(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t type,
              mode_t mode, dev_t rdev, struct bfs_attr *out)
{
    int rc = check_name(name);
    if (rc < 0)
        return rc;
    /* The umask applies only where no default ACL does (xattrs.h); without
     * FUSE_CAP_DONT_MASK the kernel has applied it already, and again is harmless. */
    uint32_t m = (uint32_t)(type | (mode & 07777));
    uint32_t uid, gid;
    int local;
    struct dircache_info pi = { 0 };
    struct bfs_inherit ih;
    if ((rc = new_owner(req, parent, name, &m, &uid, &gid, &local, &pi)) < 0 ||
        (rc = xattrs_inherit(req, parent, local, pi.defacl, &m, &ih)) < 0)
        return rc;
    struct bfs_fuse *fs = fs_of(req);
    struct bfs_attr pa;
    uint64_t ticket = dirstash_begin(fs->dstash, parent);
    rc = bfs_make(fs->client, parent, name, m, (uint64_t)rdev, uid, gid, &ih, out, &pa);
    dirstash_end(fs->dstash, parent, ticket, rc == 0 ? &pa : NULL);
    kcache_entry_changed(fs->kcache, parent, name);
    xattrs_inherit_free(&ih);
    return rc;
}

/* Regular files, FIFOs, sockets (also bind() of an AF_UNIX socket) and
 * character and block devices: the servers keep the type, mode and rdev, and
 * the kernel gives the node its behaviour (a pipe, a socket, a driver). The
 * kernel checked CAP_MKNOD for devices already. */
void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
    struct bfs_attr a;
    mode_t type = (mode & S_IFMT) ? (mode & S_IFMT) : S_IFREG;   /* 0: a regular file */
    int rc = type == S_IFDIR ? -EINVAL : make_node(req, parent, name, type, mode, rdev, &a);
    if (rc < 0) {
        reply_fail(req, "mknod", parent, name, rc);
        return;
    }
    reply_entry(req, "mknod", parent, name, &a);
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    struct bfs_attr a;
    int rc = make_node(req, parent, name, S_IFDIR, mode, 0, &a);
    if (rc < 0) {
        reply_fail(req, "mkdir", parent, name, rc);
        return;
    }
    reply_entry(req, "mkdir", parent, name, &a);
}

void op_symlink(fuse_req_t req, const char *target, fuse_ino_t parent, const char *name)
{
    struct bfs_fuse *fs = fs_of(req);
    struct bfs_attr a;
    int rc = check_name(name);
    if (rc == 0 && strlen(target) > BFS_SYMLINK_MAX)
        rc = -ENAMETOOLONG;
    uint32_t mode = S_IFLNK, uid, gid;
    if (rc == 0)
        rc = new_owner(req, parent, name, &mode, &uid, &gid, &(int){ 0 }, NULL);
    if (rc == 0) {
        struct bfs_attr pa;
        uint64_t ticket = dirstash_begin(fs->dstash, parent);
        rc = bfs_symlink(fs->client, parent, name, target, uid, gid, &a, &pa);
        dirstash_end(fs->dstash, parent, ticket, rc == 0 ? &pa : NULL);
    }
    if (rc == 0)
        kcache_entry_changed(fs->kcache, parent, name);
    if (rc < 0) {
        reply_fail(req, "symlink", parent, name, rc);
        return;
    }
    reply_entry(req, "symlink", parent, name, &a);
}

void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
    struct bfs_fuse *fs = fs_of(req);
    char buf[BFS_SYMLINK_MAX + 1];
    ssize_t n = bfs_readlink(fs->client, ino, buf, BFS_SYMLINK_MAX);
    if (n < 0) {
        reply_fail(req, "readlink", ino, NULL, inode_rc((int)n));
        return;
    }
    buf[n > BFS_SYMLINK_MAX ? BFS_SYMLINK_MAX : n] = '\0';
    fuse_reply_readlink(req, buf);
}

void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    struct bfs_fuse *fs = fs_of(req);
    struct bfs_attr a;
    int rc = check_name(newname);
    if (rc == 0) {
        struct bfs_attr pa;
        uint64_t ticket = dirstash_begin(fs->dstash, newparent);
        rc = bfs_link(fs->client, ino, newparent, newname, &a, &pa);
        dirstash_end(fs->dstash, newparent, ticket, rc == 0 ? &pa : NULL);
    }
    if (rc == 0) {
        kcache_entry_changed(fs->kcache, newparent, newname);
        kcache_changed(fs->kcache, ino);
    }
    if (rc < 0) {
        reply_fail(req, "link", newparent, newname, rc);
        return;
    }
    reply_entry(req, "link", newparent, newname, &a);
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct bfs_fuse *fs = fs_of(req);
    int rc = check_name(name);
    if (rc < 0) {
        reply_fail(req, "unlink", parent, name, rc);
        return;
    }
    struct keep k;
    struct bfs_attr pa;
    keep_if_open(fs, parent, name, &k);
    uint64_t ticket = dirstash_begin(fs->dstash, parent);
    rc = bfs_unlink(fs->client, parent, name, k.ino ? BFS_UNLINK_KEEP : 0, &pa);
    dirstash_end(fs->dstash, parent, ticket, rc == 0 ? &pa : NULL);
    /* The unlinked inode is only known when open here (its link count). */
    kcache_entry_changed(fs->kcache, parent, name);
    kcache_changed(fs->kcache, k.ino);
    keep_done(fs, &k);
    reply_status(req, "unlink", parent, name, rc);
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct bfs_fuse *fs = fs_of(req);
    int rc = check_name(name);
    /* The removed directory's own copy goes too (its ino is not known here):
     * an fstat of it through an open fd must ask the servers. */
    if (rc == 0)
        rc = bfs_rmdir(fs->client, parent, name);
    dirstash_forget_all(fs->dstash);
    kcache_entry_changed(fs->kcache, parent, name);
    reply_status(req, "rmdir", parent, name, rc);
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
               const char *newname, unsigned int flags)
{
    struct bfs_fuse *fs = fs_of(req);
    int rc = check_name(name);
    if (rc == 0)
        rc = check_name(newname);
    /* RENAME_EXCHANGE (and RENAME_WHITEOUT) have no BenchFS counterpart. */
    if (rc == 0 && (flags & ~(unsigned int)RENAME_NOREPLACE))
        rc = -EINVAL;
    if (rc < 0) {
        reply_fail(req, "rename", parent, name, rc);
        return;
    }
    unsigned bflags = (flags & RENAME_NOREPLACE) ? BFS_RENAME_NOREPLACE : 0;
    /* A rename over an open file removes that file's name: keep it as unlink does. */
    struct keep k = { 0 };
    if (!(flags & RENAME_NOREPLACE))
        keep_if_open(fs, newparent, newname, &k);
    rc = bfs_rename(fs->client, parent, name, newparent, newname, bflags,
                    k.ino ? BFS_UNLINK_KEEP : 0);
    /* Both parents, and the moved inode if a directory (its ctime, its ".."). */
    dirstash_forget_all(fs->dstash);
    kcache_entry_changed(fs->kcache, parent, name);
    kcache_entry_changed(fs->kcache, newparent, newname);
    kcache_changed(fs->kcache, k.ino);
    keep_done(fs, &k);
    reply_status(req, "rename", parent, name, rc);
}
