/* ops.c - the FUSE low-level operations, each mapped onto the client library:
 * the ops table, the file system as a whole (init, destroy, statfs, access)
 * and the reply helpers every op uses (ops_int.h says which file has which op).
 *
 * Rules every handler follows:
 *   - it replies exactly once, on every path (an error rc < 0 becomes
 *     fuse_reply_err(req, -rc) through reply_fail, which also logs it);
 *   - names longer than BFS_NAME_MAX are refused with ENAMETOOLONG before any RPC;
 *   - new inodes belong to the caller (fuse_req_ctx uid/gid), with a setgid
 *     parent's group (new_owner, ops_entry.c), and inherit its default ACL or
 *     lose the umask (xattrs.h);
 *   - permissions are the kernel's to check (default_permissions, see main.c);
 *     what it leaves to file systems is done here (kill_priv, atime: ops_file.c).
 * The library's calls are synchronous, so a handler simply blocks its FUSE
 * worker thread; libfuse's multithreaded loop keeps other requests moving.
 */
#include "ops_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/attrstat.h"
#include "../common/log.h"
#include "fileops.h"
#include "lockops.h"
#include "xattrs.h"

/* ------------------------------------------------------------------ helpers */

/* Errors that mean "the cluster has a problem", worth a warning; the others
 * (ENOENT, EEXIST, ...) are a file system's daily business and logged at debug. */
static int is_cluster_error(int rc)
{
    return rc == -ETIMEDOUT || rc == -ENOTCONN || rc == -EIO || rc == -ENOMEM ||
           rc == -ECONNREFUSED || rc == -ECONNRESET;
}

void log_rc(const char *op, uint64_t ino, const char *name, int rc)
{
    if (is_cluster_error(rc))
        log_warn("%s ino=%" PRIu64 "%s%s: %s", op, ino, name ? " name=" : "", name ? name : "",
                 strerror(-rc));
    else
        log_debug("%s ino=%" PRIu64 "%s%s: %s", op, ino, name ? " name=" : "", name ? name : "",
                  rc < 0 ? strerror(-rc) : "ok");
}

void reply_fail(fuse_req_t req, const char *op, uint64_t ino, const char *name, int rc)
{
    log_rc(op, ino, name, rc);
    fuse_reply_err(req, rc < 0 ? -rc : EIO);
}

/* Replies 0 (or the error) to the requests that carry no data back. */
void reply_status(fuse_req_t req, const char *op, uint64_t ino, const char *name, int rc)
{
    if (rc < 0) {
        reply_fail(req, op, ino, name, rc);
        return;
    }
    log_rc(op, ino, name, 0);
    fuse_reply_err(req, 0);
}

void attr_to_stat(const struct bfs_fuse *fs, const struct bfs_attr *a, struct stat *st)
{
    bfs_attr_to_stat(a, fs->blksize, st);
    /* Every directory attribute the kernel gets from us passes here: what it
     * checks a create against is what the create's group comes from. */
    if (S_ISDIR(a->mode))
        dircache_put(fs->dirs, a, fs->opts.attr_timeout);
    xattrcache_put(fs->xattrs, a);
}

void fill_entry(const struct bfs_fuse *fs, const struct bfs_attr *a,
                struct fuse_entry_param *e)
{
    memset(e, 0, sizeof *e);
    e->ino = a->ino;
    kcache_mark(fs->kcache, a->ino);
    /* Inode numbers come from per-server counters and are never reused, so
     * one generation is enough. */
    e->generation = 0;
    attr_to_stat(fs, a, &e->attr);
    e->attr_timeout = fs->opts.attr_timeout;
    e->entry_timeout = fs->opts.entry_timeout;
}

void reply_entry(fuse_req_t req, const char *op, uint64_t parent, const char *name,
                 const struct bfs_attr *a)
{
    struct fuse_entry_param e;
    fill_entry(fs_of(req), a, &e);
    kcache_mark_entry(fs_of(req)->kcache, parent, name);
    log_rc(op, parent, name, 0);
    fuse_reply_entry(req, &e);
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
