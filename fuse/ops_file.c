/* ops_file.c - the FUSE operations on open files: open and create (close-to-open
 * attributes, O_TRUNC, atime, the page-cache version), read, write (O_APPEND at
 * the owner), flush, release and fsync; and the open-files protocol (openfiles.h)
 * by which an unlink or rename keeps a file open here and the last release
 * frees it. Rules and helpers: ops.c, ops_int.h. */
#include "ops_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/attrstat.h"
#include "../common/clock.h"
#include "../common/log.h"
#include "lockops.h"
#include "pagecache.h"

/* ------------------------------------------------------- open-files protocol */

/* Frees an inode that was unlinked while open here, now that nothing has it
 * open any more. The server frees it only if its nlink is 0 (server/meta.h,
 * meta_purge), so a failed unlink or another hard link that still names the
 * inode keeps it, and no getattr is needed first. */
void purge_orphan(struct bfs_fuse *fs, uint64_t ino)
{
    int rc = bfs_purge(fs->client, ino);
    if (rc < 0 && rc != -ENOENT)
        log_warn("purge of unlinked open file ino=%" PRIu64 " failed: %s", ino, strerror(-rc));
    else
        log_debug("purge ino=%" PRIu64 ": %s", ino, rc == 0 ? "ok" : strerror(-rc));
}

/* The first step of an unlink or a rename over a name: when something is open
 * on this mount, find which inode the name refers to and, if it is open,
 * mark it so the server keeps it (BFS_UNLINK_KEEP); else the name can be
 * removed outright. Costs a lookup RPC only while files are open. */
void keep_if_open(struct bfs_fuse *fs, uint64_t parent, const char *name, struct keep *k)
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

void keep_done(struct bfs_fuse *fs, struct keep *k)
{
    if (k->ino && openfiles_unlink_end(fs->open, k->ino))
        purge_orphan(fs, k->ino);
    if (k->plain)
        openfiles_unlink_plain_end(fs->open, &k->p);
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
    uint32_t kill = bfs_privs_to_kill(fuse_req_ctx(req)->uid, a->mode);
    if (!kill)
        return 0;
    struct bfs_attr in = { .mode = a->mode & 07777 & ~kill };
    uint64_t ino = a->ino;
    int rc = bfs_setattr(fs_of(req)->client, ino, BFS_SET_MODE, &in, a);
    kcache_changed(fs_of(req)->kcache, ino);
    return rc;
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
        kcache_changed(fs->kcache, ino);
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

void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
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

void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
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
    kcache_mark_entry(fs->kcache, parent, name);
    set_open_flags(fs, &a, fi);
    log_rc("create", parent, name, 0);
    reply_open_counted(req, fs, a.ino, &e, fi);
}

void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
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

void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
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
    if (size)
        kcache_changed(fs->kcache, ino);   /* size and times: preloaded processes' stat */
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
void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    int rc = lockops_flush(fs_of(req), ino, fi);
    if (rc < 0)   /* a lost server has dropped them already */
        log_warn("flush ino=%" PRIu64 ": releasing locks: %s", (uint64_t)ino, strerror(-rc));
    fuse_reply_err(req, 0);
}

void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    struct bfs_fuse *fs = fs_of(req);
    lockops_release(fs, ino, fi);
    release_handle(fs, ino);
    fuse_reply_err(req, 0);
}

void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void)fi;
    int rc = bfs_fsync(fs_of(req)->client, ino, datasync);
    reply_status(req, "fsync", ino, NULL, rc);
}
