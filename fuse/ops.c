/* ops.c - the FUSE low-level operations, each mapped onto the client library.
 *
 * Rules every handler follows:
 *   - it replies exactly once, on every path (an error rc < 0 becomes
 *     fuse_reply_err(req, -rc) through reply_fail, which also logs it);
 *   - names longer than BFS_NAME_MAX are refused with ENAMETOOLONG before any RPC;
 *   - new inodes belong to the caller (fuse_req_ctx uid/gid), with a setgid
 *     parent's group (new_owner), and inherit its default ACL or lose the umask
 *     (xattrs.h);
 *   - permissions are the kernel's to check (default_permissions, see main.c);
 *     what it leaves to file systems is done here (kill_priv, atime).
 * The library's calls are synchronous, so a handler simply blocks its FUSE
 * worker thread; libfuse's multithreaded loop keeps other requests moving.
 */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/clock.h"
#include "../common/log.h"
#include "fileops.h"
#include "lockops.h"
#include "pagecache.h"
#include "xattrs.h"

/* st_ino reported for ".." when the parent is not known (as libfuse's
 * high-level API does); only old getcwd implementations ever look at it. */
#define BFS_FUSE_UNKNOWN_INO 0xffffffffULL

/* "." and ".." take directory offsets 1 and 2; an entry's offset is its
 * readdir cookie shifted past them, so no cookie value can collide with them. */
#define BFS_DIR_OFF_FIRST 2

/* ------------------------------------------------------------------ helpers */

static struct bfs_fuse *fs_of(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

/* Errors that mean "the cluster has a problem", worth a warning; the others
 * (ENOENT, EEXIST, ...) are a file system's daily business and logged at debug. */
static int is_cluster_error(int rc)
{
    return rc == -ETIMEDOUT || rc == -ENOTCONN || rc == -EIO || rc == -ENOMEM ||
           rc == -ECONNREFUSED || rc == -ECONNRESET;
}

static void log_rc(const char *op, uint64_t ino, const char *name, int rc)
{
    if (is_cluster_error(rc))
        log_warn("%s ino=%" PRIu64 "%s%s: %s", op, ino, name ? " name=" : "", name ? name : "",
                 strerror(-rc));
    else
        log_debug("%s ino=%" PRIu64 "%s%s: %s", op, ino, name ? " name=" : "", name ? name : "",
                  rc < 0 ? strerror(-rc) : "ok");
}

static void reply_fail(fuse_req_t req, const char *op, uint64_t ino, const char *name, int rc)
{
    log_rc(op, ino, name, rc);
    fuse_reply_err(req, rc < 0 ? -rc : EIO);
}

/* Replies 0 (or the error) to the requests that carry no data back. */
static void reply_status(fuse_req_t req, const char *op, uint64_t ino, const char *name, int rc)
{
    if (rc < 0) {
        reply_fail(req, op, ino, name, rc);
        return;
    }
    log_rc(op, ino, name, 0);
    fuse_reply_err(req, 0);
}

/* For the operations that name an inode the kernel got from a lookup:
 * -ENOENT means the inode itself is gone (another client removed the file
 * within entry_timeout). ESTALE tells the VFS so, and it retries the path walk
 * once with a fresh lookup (LOOKUP_REVAL), which finds the new file or no
 * file, as NFS clients do. */
static int inode_rc(int rc)
{
    return rc == -ENOENT ? -ESTALE : rc;
}

static int check_name(const char *name)
{
    return strlen(name) > BFS_NAME_MAX ? -ENAMETOOLONG : 0;
}

static struct timespec ns_to_timespec(int64_t ns)
{
    /* Floor division, so times before 1970 keep tv_nsec in [0, 1e9). */
    int64_t sec = ns / 1000000000;
    int64_t rem = ns % 1000000000;
    if (rem < 0) {
        rem += 1000000000;
        sec--;
    }
    return (struct timespec){ .tv_sec = (time_t)sec, .tv_nsec = (long)rem };
}

static int64_t timespec_to_ns(const struct timespec *ts)
{
    return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static void attr_to_stat(const struct bfs_fuse *fs, const struct bfs_attr *a, struct stat *st)
{
    memset(st, 0, sizeof *st);
    st->st_ino = a->ino;
    st->st_mode = a->mode;
    st->st_nlink = a->nlink;
    st->st_uid = a->uid;
    st->st_gid = a->gid;
    st->st_size = (off_t)a->size;
    st->st_rdev = (dev_t)a->rdev;
    st->st_blksize = fs->blksize;
    /* The owner counts the bytes writes stored (server/meta.h): a sparse file
     * shows its holes to du, and it never says more than the size. */
    st->st_blocks = (blkcnt_t)a->blocks;
    st->st_atim = ns_to_timespec(a->atime_ns);
    st->st_mtim = ns_to_timespec(a->mtime_ns);
    st->st_ctim = ns_to_timespec(a->ctime_ns);
    /* Every directory attribute the kernel gets from us passes here: what it
     * checks a create against is what the create's group comes from. */
    if (S_ISDIR(a->mode))
        dircache_put(fs->dirs, a, fs->opts.attr_timeout);
    xattrcache_put(fs->xattrs, a);
}

static void fill_entry(const struct bfs_fuse *fs, const struct bfs_attr *a,
                       struct fuse_entry_param *e)
{
    memset(e, 0, sizeof *e);
    e->ino = a->ino;
    /* Inode numbers come from per-server counters and are never reused, so
     * one generation is enough. */
    e->generation = 0;
    attr_to_stat(fs, a, &e->attr);
    e->attr_timeout = fs->opts.attr_timeout;
    e->entry_timeout = fs->opts.entry_timeout;
}

static void reply_entry(fuse_req_t req, const char *op, uint64_t parent, const char *name,
                        const struct bfs_attr *a)
{
    struct fuse_entry_param e;
    fill_entry(fs_of(req), a, &e);
    log_rc(op, parent, name, 0);
    fuse_reply_entry(req, &e);
}

/* Frees an inode that was unlinked while open here, now that nothing has it
 * open any more. The server frees it only if its nlink is 0 (server/meta.h,
 * meta_purge), so a failed unlink or another hard link that still names the
 * inode keeps it, and no getattr is needed first. */
static void purge_orphan(struct bfs_fuse *fs, uint64_t ino)
{
    int rc = bfs_purge(fs->client, ino);
    if (rc < 0 && rc != -ENOENT)
        log_warn("purge of unlinked open file ino=%" PRIu64 " failed: %s", ino, strerror(-rc));
    else
        log_debug("purge ino=%" PRIu64 ": %s", ino, rc == 0 ? "ok" : strerror(-rc));
}

/* What an unlink or a rename over a name does about open files (openfiles.h). */
struct keep {
    uint64_t ino;   /* the open inode the server is to keep (BFS_UNLINK_KEEP), or 0 */
    int plain;      /* counted as a plain unlink: opens that began later wait for it */
    struct openfiles_plain p;
};

/* The first step of an unlink or a rename over a name: when something is open
 * on this mount, find which inode the name refers to and, if it is open,
 * mark it so the server keeps it (BFS_UNLINK_KEEP); else the name can be
 * removed outright. Costs a lookup RPC only while files are open. */
static void keep_if_open(struct bfs_fuse *fs, uint64_t parent, const char *name, struct keep *k)
{
    struct bfs_attr a;
    k->ino = 0;
    k->plain = 0;
    if (openfiles_unlink_fast(fs->open, &k->p))
        k->plain = 1;
    else if (bfs_lookup(fs->client, parent, name, &a) == 0 && S_ISREG(a.mode)) {
        if (openfiles_unlink_begin(fs->open, a.ino, &k->p))
            k->ino = a.ino;
        else
            k->plain = 1;
    }   /* else the unlink itself reports a missing name; only files have data */
}

static void keep_done(struct bfs_fuse *fs, struct keep *k)
{
    if (k->ino && openfiles_unlink_end(fs->open, k->ino))
        purge_orphan(fs, k->ino);
    if (k->plain)
        openfiles_unlink_plain_end(fs->open, &k->p);
}

/* ------------------------------------------------------------ init/destroy */

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
    struct bfs_fuse *fs = userdata;

    /* One write or read request carries at most one RPC's payload, so a 1 MiB
     * request is one round trip (libfuse then asks for 256-page requests).
     * Read-ahead: the kernel keeps min(this, what it offered), which is the
     * bdi's read_ahead_kb (128 KiB by default); raise it at run time with
     * /sys/class/bdi/0:N/read_ahead_kb. */
    unsigned offered_ra = conn->max_readahead;
    conn->max_write = BFS_MAX_IO;
    conn->max_readahead = BFS_MAX_IO;

    /* With HANDLE_KILLPRIV the file system must clear setuid/setgid bits on
     * write and chown itself; the servers do not, so let the kernel do it. */
    conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;

    /* With AUTO_INVAL_DATA the kernel drops a file's pages whenever it sees
     * a new mtime, also one from this mount's own writes. Open decides
     * instead (pagecache.h): pages stay until a change by someone else. */
    if (fs->pages)
        conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;

    /* Writeback caching defers writes in the kernel, which weakens what other
     * clients see; it is strictly opt-in. */
    conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
    if (fs->opts.writeback_cache) {
        if (conn->capable & FUSE_CAP_WRITEBACK_CACHE)
            conn->want |= FUSE_CAP_WRITEBACK_CACHE;
        else
            log_warn("the kernel does not offer writeback caching; -o writeback_cache ignored");
    }

    /* POSIX ACLs: the kernel checks them (it needs default_permissions, which
     * the capability turns on) and leaves their inheritance and the umask to us
     * (DONT_MASK: the umask must not apply when a default ACL does). Without
     * default_permissions ACLs are stored attributes, not enforced. */
    if (!fs->opts.no_default_permissions && !fs->opts.noxattr) {
        if ((conn->capable & FUSE_CAP_POSIX_ACL) && (conn->capable & FUSE_CAP_DONT_MASK))
            conn->want |= FUSE_CAP_POSIX_ACL | FUSE_CAP_DONT_MASK;
        else
            log_warn("the kernel does not offer POSIX ACLs: they are stored, not enforced");
    }
    /* Locks are the servers' (lockops.h), so that every mount sees them. */
    if ((conn->capable & FUSE_CAP_POSIX_LOCKS) && (conn->capable & FUSE_CAP_FLOCK_LOCKS))
        conn->want |= FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS;
    else
        log_warn("the kernel does not offer FUSE locks: locks hold for this mount only");

    /* Explicit -o max_write=, max_readahead=, ... override the above. */
    if (fs->conn_opts)
        fuse_apply_conn_info_opts(fs->conn_opts, conn);

    log_info("FUSE protocol %u.%u, max_write %u, read-ahead %u, writeback cache %s, ACLs %s, locks %s",
             conn->proto_major, conn->proto_minor, conn->max_write,
             conn->max_readahead < offered_ra ? conn->max_readahead : offered_ra,
             (conn->want & FUSE_CAP_WRITEBACK_CACHE) ? "on" : "off",
             (conn->want & FUSE_CAP_POSIX_ACL) ? "enforced" : "not enforced",
             (conn->want & FUSE_CAP_POSIX_LOCKS) ? "cluster-wide" : "local");
}

/* Called once the session ends (unmount): the kernel will send no more
 * releases, so purge what was unlinked while still open. */
static void op_destroy(void *userdata)
{
    struct bfs_fuse *fs = userdata;
    uint64_t *inos;
    size_t n = openfiles_drain_unlinked(fs->open, &inos);
    for (size_t i = 0; i < n; i++)
        purge_orphan(fs, inos[i]);
    free(inos);
}

/* ------------------------------------------------------- names and inodes */

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct bfs_fuse *fs = fs_of(req);
    struct bfs_attr a;
    int rc = check_name(name);
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
static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
    (void)ino;
    (void)nlookup;
    fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
    (void)count;
    (void)forgets;
    fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)fi;
    struct bfs_fuse *fs = fs_of(req);
    struct bfs_attr a;
    int rc = bfs_getattr(fs->client, ino, &a);
    if (rc < 0) {
        reply_fail(req, "getattr", ino, NULL, inode_rc(rc));
        return;
    }
    struct stat st;
    attr_to_stat(fs, &a, &st);
    fuse_reply_attr(req, &st, fs->opts.attr_timeout);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
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
static int make_node(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t type,
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
    rc = bfs_make(fs_of(req)->client, parent, name, m, (uint64_t)rdev, uid, gid, &ih, out);
    xattrs_inherit_free(&ih);
    return rc;
}

/* Regular files, FIFOs, sockets (also bind() of an AF_UNIX socket) and
 * character and block devices: the servers keep the type, mode and rdev, and
 * the kernel gives the node its behaviour (a pipe, a socket, a driver). The
 * kernel checked CAP_MKNOD for devices already. */
static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
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

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
    struct bfs_attr a;
    int rc = make_node(req, parent, name, S_IFDIR, mode, 0, &a);
    if (rc < 0) {
        reply_fail(req, "mkdir", parent, name, rc);
        return;
    }
    reply_entry(req, "mkdir", parent, name, &a);
}

static void op_symlink(fuse_req_t req, const char *target, fuse_ino_t parent, const char *name)
{
    struct bfs_fuse *fs = fs_of(req);
    struct bfs_attr a;
    int rc = check_name(name);
    if (rc == 0 && strlen(target) > BFS_SYMLINK_MAX)
        rc = -ENAMETOOLONG;
    uint32_t mode = S_IFLNK, uid, gid;
    if (rc == 0)
        rc = new_owner(req, parent, name, &mode, &uid, &gid, &(int){ 0 }, NULL);
    if (rc == 0)
        rc = bfs_symlink(fs->client, parent, name, target, uid, gid, &a);
    if (rc < 0) {
        reply_fail(req, "symlink", parent, name, rc);
        return;
    }
    reply_entry(req, "symlink", parent, name, &a);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
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

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
    struct bfs_fuse *fs = fs_of(req);
    struct bfs_attr a;
    int rc = check_name(newname);
    if (rc == 0)
        rc = bfs_link(fs->client, ino, newparent, newname, &a);
    if (rc < 0) {
        reply_fail(req, "link", newparent, newname, rc);
        return;
    }
    reply_entry(req, "link", newparent, newname, &a);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct bfs_fuse *fs = fs_of(req);
    int rc = check_name(name);
    if (rc < 0) {
        reply_fail(req, "unlink", parent, name, rc);
        return;
    }
    struct keep k;
    keep_if_open(fs, parent, name, &k);
    rc = bfs_unlink(fs->client, parent, name, k.ino ? BFS_UNLINK_KEEP : 0);
    keep_done(fs, &k);
    reply_status(req, "unlink", parent, name, rc);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
    struct bfs_fuse *fs = fs_of(req);
    int rc = check_name(name);
    if (rc == 0)
        rc = bfs_rmdir(fs->client, parent, name);
    reply_status(req, "rmdir", parent, name, rc);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
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
    keep_done(fs, &k);
    reply_status(req, "rename", parent, name, rc);
}

/* ------------------------------------------------------------------- files */

/* Close-to-open: the kernel's cached attributes of ino may be up to
 * attr_timeout old. When the file changed within that window (plus a second
 * for clock skew between nodes), or this open has just changed its atime
 * (touched), they may predate the change, so drop them and let the kernel
 * fetch fresh ones on its next use (read, stat, append). Files that have not
 * changed lately keep their cache and cost nothing. */
static void invalidate_if_recent(struct bfs_fuse *fs, const struct bfs_attr *a, int touched)
{
    if (fs->opts.attr_timeout <= 0 || !fs->se)
        return;
    int64_t changed = a->mtime_ns > a->ctime_ns ? a->mtime_ns : a->ctime_ns;
    int64_t window = (int64_t)((fs->opts.attr_timeout + 1.0) * 1e9);
    /* touched: this open changed atime, which the kernel's copy predates. */
    if (touched || bfs_wall_ns() - changed < window) {
        /* off < 0: attributes only; this takes no lock the open holds. */
        int rc = fuse_lowlevel_notify_inval_inode(fs->se, a->ino, -1, 0);
        if (rc < 0 && rc != -ENOENT)
            log_debug("inval_inode ino=%" PRIu64 ": %s", a->ino, strerror(-rc));
    }
}

/* a: the attributes fetched for this open. */
static void set_open_flags(struct bfs_fuse *fs, const struct bfs_attr *a,
                           struct fuse_file_info *fi)
{
    /* A handle number of its own: locks remember the open file they came by. */
    static _Atomic uint64_t next_fh;
    fi->fh = atomic_fetch_add_explicit(&next_fh, 1, memory_order_relaxed) + 1;
    /* Keep the cached pages only if the file is still the version they hold
     * (pagecache.h); another client may have written it. */
    fi->keep_cache = fs->pages && pagecache_open(fs->pages, a);
    xattrcache_put(fs->xattrs, a);
    /* O_APPEND: the owner server picks the offset (op_write), so the kernel's
     * page cache, which would put the bytes at its own idea of the end, is
     * bypassed for this handle (with writeback_cache too). */
    fi->direct_io = fs->opts.direct_io || (fi->flags & O_APPEND) ? 1 : 0;
    /* FLUSH has nothing to do here (see op_flush) unless the file saw locks:
     * spare close() the round trip. The kernel still flushes with writeback
     * caching, to write pages back. */
    fi->noflush = !lockops_want_flush(fs, a->ino);
}

/* Drops a counted handle of ino (openfiles.h): a release, or an open that failed. */
static void release_handle(struct bfs_fuse *fs, uint64_t ino)
{
    if (openfiles_release(fs->open, ino))
        purge_orphan(fs, ino);
}

/* Replies to an open or create whose handle is counted; if the reply cannot be
 * delivered (the open was interrupted) the kernel will never release it, so undo. */
static void reply_open_counted(fuse_req_t req, struct bfs_fuse *fs, uint64_t ino,
                               const struct fuse_entry_param *e, struct fuse_file_info *fi)
{
    int rc = e ? fuse_reply_create(req, e, fi) : fuse_reply_open(req, fi);
    if (rc < 0)
        release_handle(fs, ino);
}

/* open(O_TRUNC) truncates here, not through the kernel's setattr (ATOMIC_O_TRUNC),
 * and a direct_io write bypasses the page cache, so the kernel's
 * file_remove_privs does not run: as it would, a truncate or write by anyone
 * but root clears setuid, and setgid of a group-executable file. The daemon
 * cannot see capabilities; uid 0 stands for CAP_FSETID. */
static int kill_priv(fuse_req_t req, struct bfs_attr *a)
{
    uint32_t kill = 0;
    if (fuse_req_ctx(req)->uid == 0 || !S_ISREG(a->mode))
        return 0;
    if (a->mode & S_ISUID)
        kill |= S_ISUID;
    if ((a->mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
        kill |= S_ISGID;
    if (!kill)
        return 0;
    struct bfs_attr in = { .mode = a->mode & 07777 & ~kill };
    return bfs_setattr(fs_of(req)->client, a->ino, BFS_SET_MODE, &in, a);
}

/* Opens an existing file: fresh attributes (close-to-open; an inode another
 * client deleted fails here, and the caller turns that into ESTALE), O_TRUNC
 * done here because the kernel leaves it to us (FUSE_CAP_ATOMIC_O_TRUNC, on
 * by default in libfuse). */
static int open_existing(fuse_req_t req, uint64_t ino, int flags, struct bfs_attr *a)
{
    struct bfs_fuse *fs = fs_of(req);
    int rc, touched = 0;
    if (flags & O_TRUNC) {
        struct bfs_attr in;
        memset(&in, 0, sizeof in);
        rc = bfs_setattr(fs->client, ino, BFS_SET_SIZE, &in, a);
        if (rc == 0)
            rc = kill_priv(req, a);
    } else if ((flags & O_ACCMODE) != O_WRONLY && fs->opts.atime != BFS_ATIME_NEVER &&
               !fs->opts.read_only) {
        /* The kernel keeps no atime for FUSE (S_NOATIME) and serves cached
         * pages without asking: an open for reading stands for its reads, and
         * the owner applies the atime rule in the same round trip. */
        rc = bfs_getattr_read(fs->client, ino, fs->opts.atime == BFS_ATIME_RELATIME, a, &touched);
    } else {
        rc = bfs_getattr(fs->client, ino, a);
    }
    if (rc == 0 && !(flags & O_TRUNC))
        invalidate_if_recent(fs, a, touched);
    if (rc == 0 && S_ISDIR(a->mode))
        rc = -EISDIR;
    return rc;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct bfs_fuse *fs = fs_of(req);
    struct bfs_attr a;
    /* Counted before the server is asked: an unlink meanwhile keeps the file. */
    int rc = openfiles_open(fs->open, ino);
    if (rc == 0 && (rc = open_existing(req, ino, fi->flags, &a)) < 0)
        release_handle(fs, ino);
    if (rc < 0) {
        reply_fail(req, "open", ino, NULL, inode_rc(rc));
        return;
    }
    set_open_flags(fs, &a, fi);
    log_rc("open", ino, NULL, 0);
    reply_open_counted(req, fs, ino, NULL, fi);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
                      struct fuse_file_info *fi)
{
    struct bfs_fuse *fs = fs_of(req);
    struct bfs_attr a;
    int counted = 0;
    int rc = make_node(req, parent, name, S_IFREG, mode, 0, &a);
    if (rc == -EEXIST && !(fi->flags & O_EXCL)) {
        /* Another client created the name after the kernel's lookup missed:
         * open(O_CREAT) without O_EXCL must open the existing file. */
        rc = bfs_lookup(fs->client, parent, name, &a);
        if (rc == 0 && (rc = openfiles_open(fs->open, a.ino)) == 0) {
            counted = 1;
            rc = open_existing(req, a.ino, fi->flags, &a);
        }
    }
    /* A new file: nobody else can unlink it before this reply (the kernel
     * holds the directory), so it is counted now. */
    if (rc == 0 && !counted && (rc = openfiles_open(fs->open, a.ino)) == 0)
        counted = 1;
    if (rc < 0) {
        if (counted)
            release_handle(fs, a.ino);
        reply_fail(req, "create", parent, name, rc);
        return;
    }
    struct fuse_entry_param e;
    fill_entry(fs, &a, &e);
    set_open_flags(fs, &a, fi);
    log_rc("create", parent, name, 0);
    reply_open_counted(req, fs, a.ino, &e, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    (void)fi;
    struct bfs_fuse *fs = fs_of(req);
    if (off < 0) {
        reply_fail(req, "read", ino, NULL, -EINVAL);
        return;
    }
    if (size == 0) {
        fuse_reply_buf(req, NULL, 0);
        return;
    }
    char *buf = malloc(size);
    if (!buf) {
        reply_fail(req, "read", ino, NULL, -ENOMEM);
        return;
    }
    ssize_t n = bfs_read(fs->client, ino, buf, size, (uint64_t)off);
    if (n < 0)
        reply_fail(req, "read", ino, NULL, (int)n);
    else
        fuse_reply_buf(req, buf, (size_t)n);
    free(buf);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
                     struct fuse_file_info *fi)
{
    struct bfs_fuse *fs = fs_of(req);
    /* fi->flags are the file's flags at this write (also O_APPEND set by fcntl):
     * an append goes where the owner says, whatever offset the kernel chose from
     * its i_size (a pwrite on an O_APPEND fd appends too, as on Linux). Pages
     * the kernel writes back (writepage) were placed by the kernel already. */
    int append = (fi->flags & O_APPEND) && !fi->writepage;
    if (off < 0 && !append) {
        reply_fail(req, "write", ino, NULL, -EINVAL);
        return;
    }
    struct bfs_wcc wcc;
    uint64_t at;
    ssize_t n = !size ? 0
                : append ? bfs_append(fs->client, ino, buf, size, &at, &wcc)
                         : bfs_write_wcc(fs->client, ino, buf, size, (uint64_t)off, &wcc);
    if (fs->pages && size) {
        /* An append's bytes are not in the kernel's pages (direct_io). */
        if (n == (ssize_t)size && wcc.valid && !append)
            pagecache_wrote(fs->pages, ino, wcc.pre_ctime, &wcc.post);
        else
            pagecache_forget(fs->pages, ino);
    }
    /* The next write's security.capability question is answered from this. */
    if (size && n == (ssize_t)size && wcc.valid)
        xattrcache_put(fs->xattrs, &wcc.post);
    else if (n > 0)
        xattrcache_touch(fs->xattrs, ino);
    if (n < 0) {
        reply_fail(req, "write", ino, NULL, (int)n);
        return;
    }
    /* The kernel clears setuid/setgid on a write by anyone but root only
     * through its page cache: a direct_io write (an append, -o direct_io) is
     * ours to do, as for O_TRUNC. */
    if (n > 0 && (append || fs->opts.direct_io) && fuse_req_ctx(req)->uid != 0) {
        struct bfs_attr a = wcc.post;
        int rc = wcc.valid ? 0 : bfs_getattr(fs->client, ino, &a);
        if (rc == 0)
            rc = kill_priv(req, &a);
        if (rc < 0)
            log_warn("write ino=%" PRIu64 ": clearing setuid/setgid failed: %s", (uint64_t)ino,
                     strerror(-rc));
    }
    fuse_reply_write(req, (size_t)n);
}

/* Writes went to the servers as they came (or, with writeback caching, the
 * kernel writes its dirty pages back before it flushes), so there is nothing
 * buffered here to send. Durability is fsync's job. A close releases the
 * closing process's POSIX locks of the file. */
static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    int rc = lockops_flush(fs_of(req), ino, fi);
    if (rc < 0)   /* a lost server has dropped them already */
        log_warn("flush ino=%" PRIu64 ": releasing locks: %s", (uint64_t)ino, strerror(-rc));
    fuse_reply_err(req, 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct bfs_fuse *fs = fs_of(req);
    lockops_release(fs, ino, fi);
    release_handle(fs, ino);
    fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void)fi;
    int rc = bfs_fsync(fs_of(req)->client, ino, datasync);
    reply_status(req, "fsync", ino, NULL, rc);
}

/* ------------------------------------------------------------- directories */

/* Directory handles carry no state: the offset the kernel passes back is the
 * position (readdir cookie), so opendir/releasedir have nothing to keep. */
static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    fi->fh = 0;
    fuse_reply_open(req, fi);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    (void)fi;
    fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void)fi;
    int rc = bfs_fsync(fs_of(req)->client, ino, datasync);
    reply_status(req, "fsyncdir", ino, NULL, rc);
}

/* Offsets are opaque 64-bit values to the kernel (cookies carry the node
 * index in their top bits, so they may look negative as an off_t). */
static off_t cookie_to_off(uint64_t cookie)
{
    return (off_t)(cookie + BFS_DIR_OFF_FIRST);
}

/* Fills "." (offset 1) and ".." (offset 2) when off says they are still due.
 * plus: in readdirplus form, without attributes (ino 0: no lookup is counted,
 * and the kernel never instantiates "." or ".." anyway). Adds *used bytes;
 * returns 0 when the buffer filled up before both were in (the rest then
 * comes with the next call, whose offset says where to resume). */
static int fill_dots(fuse_req_t req, fuse_ino_t ino, uint64_t off, char *buf, size_t size,
                     int plus, size_t *used)
{
    static const char *const names[BFS_DIR_OFF_FIRST] = { ".", ".." };
    for (uint64_t i = off; i < BFS_DIR_OFF_FIRST; i++) {
        struct fuse_entry_param e;
        memset(&e, 0, sizeof e);
        e.attr.st_mode = S_IFDIR;
        e.attr.st_ino = i == 0 ? ino : (ino == FUSE_ROOT_ID ? FUSE_ROOT_ID : BFS_FUSE_UNKNOWN_INO);
        char *at = buf + *used;
        size_t room = size - *used;
        off_t next = (off_t)(i + 1);
        size_t need = plus ? fuse_add_direntry_plus(req, at, room, names[i], &e, next)
                           : fuse_add_direntry(req, at, room, names[i], &e.attr, next);
        if (need > room)
            return 0;
        *used += need;
    }
    return 1;
}

/* Plain readdir: entries go straight into the reply buffer from the callback. */
struct rd_fill {
    fuse_req_t req;
    char *buf;
    size_t size;
    size_t used;
};

static int rd_fill_one(void *arg, const struct bfs_dirent *d)
{
    struct rd_fill *f = arg;
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_ino = d->ino;
    st.st_mode = d->type;
    size_t need = fuse_add_direntry(f->req, f->buf + f->used, f->size - f->used, d->name, &st,
                                    cookie_to_off(d->cookie));
    if (need > f->size - f->used)
        return 1;   /* full: this entry comes again with the next call */
    f->used += need;
    return 0;
}

/* readdirplus: the entries that fit are collected first and their attributes
 * fetched afterwards, outside the library's callback. */
struct rdp_collect {
    fuse_req_t req;
    struct bfs_dirent *ents;
    size_t n, cap;
    size_t room;    /* bytes left in the reply buffer */
};

static int rdp_collect_one(void *arg, const struct bfs_dirent *d)
{
    struct rdp_collect *c = arg;
    size_t need = fuse_add_direntry_plus(c->req, NULL, 0, d->name, NULL, 0);
    if (need > c->room)
        return 1;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        struct bfs_dirent *p = realloc(c->ents, cap * sizeof *p);
        if (!p)
            return 1;   /* reply with what we have; the rest comes next call */
        c->ents = p;
        c->cap = cap;
    }
    c->ents[c->n++] = *d;
    c->room -= need;
    return 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, uint64_t off, int plus)
{
    struct bfs_fuse *fs = fs_of(req);
    const char *op = plus ? "readdirplus" : "readdir";
    char *buf = malloc(size ? size : 1);
    if (!buf) {
        reply_fail(req, op, ino, NULL, -ENOMEM);
        return;
    }
    size_t used = 0;
    int dots_fit = fill_dots(req, ino, off, buf, size, plus, &used);
    uint64_t cookie = off > BFS_DIR_OFF_FIRST ? off - BFS_DIR_OFF_FIRST : 0;
    int rc = 0;

    if (dots_fit && !plus) {
        struct rd_fill f = { .req = req, .buf = buf, .size = size, .used = used };
        rc = bfs_readdir(fs->client, ino, cookie, rd_fill_one, &f);
        used = f.used;
    } else if (dots_fit) {
        struct rdp_collect c = { .req = req, .room = size - used };
        rc = bfs_readdir(fs->client, ino, cookie, rdp_collect_one, &c);
        for (size_t i = 0; i < c.n; i++) {
            const struct bfs_dirent *d = &c.ents[i];
            struct fuse_entry_param e;
            struct bfs_attr a;
            int arc = bfs_getattr(fs->client, d->ino, &a);
            if (arc == 0) {
                /* Counts as a lookup for the kernel (it will forget it). */
                fill_entry(fs, &a, &e);
            } else {
                /* Gone or unreachable since it was listed: list it without
                 * attributes (ino 0 counts no lookup), as plain readdir would. */
                log_debug("readdirplus ino=%" PRIu64 " name=%s: getattr: %s", (uint64_t)ino,
                          d->name, strerror(-arc));
                memset(&e, 0, sizeof e);
                e.attr.st_ino = d->ino;
                e.attr.st_mode = d->type;
            }
            used += fuse_add_direntry_plus(req, buf + used, size - used, d->name, &e,
                                           cookie_to_off(d->cookie));
        }
        free(c.ents);
    }

    /* An error after some entries were filled: send those; the next call
     * resumes after them and meets the error again if it persists. */
    if (rc < 0 && used == 0)
        reply_fail(req, op, ino, NULL, rc);
    else
        fuse_reply_buf(req, buf, used);
    free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                       struct fuse_file_info *fi)
{
    (void)fi;
    do_readdir(req, ino, size, (uint64_t)off, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                           struct fuse_file_info *fi)
{
    (void)fi;
    do_readdir(req, ino, size, (uint64_t)off, 1);
}

/* ------------------------------------------------------------ file system */

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
    struct statvfs st;
    memset(&st, 0, sizeof st);
    int rc = bfs_statfs(fs_of(req)->client, &st);
    if (rc < 0) {
        reply_fail(req, "statfs", ino, NULL, rc);
        return;
    }
    if (st.f_namemax == 0)
        st.f_namemax = BFS_NAME_MAX;
    fuse_reply_statfs(req, &st);
}

/* Whether gid is one of the caller's groups (primary or supplementary). */
static int caller_in_group(fuse_req_t req, gid_t gid)
{
    if (fuse_req_ctx(req)->gid == gid)
        return 1;
    gid_t small[64];
    gid_t *list = small;
    int n = fuse_req_getgroups(req, 64, small);
    if (n > 64) {
        list = malloc((size_t)n * sizeof *list);
        if (!list)
            return 0;
        n = fuse_req_getgroups(req, n, list);
    }
    int found = 0;
    for (int i = 0; i < n && !found; i++)
        found = list[i] == gid;
    if (list != small)
        free(list);
    return found;
}

/* access(2) and chdir. With -o default_permissions the kernel checks modes
 * itself and does not ask; without it, this applies the usual owner/group/other
 * mode bits for the caller. Root may do anything except execute a file that
 * has no execute bit at all. */
static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
    struct bfs_fuse *fs = fs_of(req);
    struct bfs_attr a;
    int rc = bfs_getattr(fs->client, ino, &a);
    if (rc < 0) {
        reply_fail(req, "access", ino, NULL, inode_rc(rc));
        return;
    }
    const struct fuse_ctx *ctx = fuse_req_ctx(req);
    int ok;
    if (mask == F_OK) {
        ok = 1;
    } else if (ctx->uid == 0) {
        ok = !(mask & X_OK) || S_ISDIR(a.mode) || (a.mode & 0111);
    } else {
        unsigned bits;
        if (ctx->uid == a.uid)
            bits = (a.mode >> 6) & 7;
        else if (caller_in_group(req, a.gid))
            bits = (a.mode >> 3) & 7;
        else
            bits = a.mode & 7;
        unsigned want = ((mask & R_OK) ? 4u : 0) | ((mask & W_OK) ? 2u : 0) | ((mask & X_OK) ? 1u : 0);
        ok = (bits & want) == want;
    }
    reply_status(req, "access", ino, NULL, ok ? 0 : -EACCES);
}

const struct fuse_lowlevel_ops bfs_fuse_ops = {
    .init = op_init,
    .destroy = op_destroy,
    .lookup = op_lookup,
    .forget = op_forget,
    .forget_multi = op_forget_multi,
    .getattr = op_getattr,
    .setattr = op_setattr,
    .readlink = op_readlink,
    .mknod = op_mknod,
    .mkdir = op_mkdir,
    .unlink = op_unlink,
    .rmdir = op_rmdir,
    .symlink = op_symlink,
    .rename = op_rename,
    .link = op_link,
    .open = op_open,
    .read = op_read,
    .write = op_write,
    .flush = op_flush,
    .release = op_release,
    .fsync = op_fsync,
    .opendir = op_opendir,
    .readdir = op_readdir,
    .releasedir = op_releasedir,
    .fsyncdir = op_fsyncdir,
    .statfs = op_statfs,
    .access = op_access,
    .create = op_create,
    .readdirplus = op_readdirplus,
    .fallocate = bfs_op_fallocate,
    .lseek = bfs_op_lseek,
    .copy_file_range = bfs_op_copy_file_range,
    .setxattr = xattrs_op_setxattr,
    .getxattr = xattrs_op_getxattr,
    .listxattr = xattrs_op_listxattr,
    .removexattr = xattrs_op_removexattr,
    .getlk = lockops_getlk,
    .setlk = lockops_setlk,
    .flock = lockops_flock,
};
