/* fileops.c - fallocate, lseek and copy_file_range on the mount (see fileops.h). */
#include "fileops.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "pagecache.h"

static void fail(fuse_req_t req, const char *op, uint64_t ino, int rc)
{
    if (rc == -ETIMEDOUT || rc == -ENOTCONN || rc == -EIO || rc == -ENOMEM)
        log_warn("%s ino=%" PRIu64 ": %s", op, ino, strerror(-rc));
    else
        log_debug("%s ino=%" PRIu64 ": %s", op, ino, strerror(-rc));
    fuse_reply_err(req, rc < 0 ? -rc : EIO);
}

/* ino's data or size changed here: the next open drops its cached pages, and
 * the kernel fetches its attributes again (st_blocks, size). */
static void changed(struct bfs_fuse *fs, uint64_t ino)
{
    kcache_changed(fs->kcache, ino);
    if (fs->pages)
        pagecache_forget(fs->pages, ino);
    if (fs->se) {
        /* off < 0: attributes only; takes no lock the kernel holds for this request. */
        int rc = fuse_lowlevel_notify_inval_inode(fs->se, ino, -1, 0);
        if (rc < 0 && rc != -ENOENT)
            log_debug("inval_inode ino=%" PRIu64 ": %s", ino, strerror(-rc));
    }
}

void bfs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                      struct fuse_file_info *fi)
{
    (void)fi;
    struct bfs_fuse *fs = fuse_req_userdata(req);
    int rc = off < 0 || len <= 0 ? -EINVAL
                                 : bfs_fallocate(fs->client, ino, mode, (uint64_t)off, (uint64_t)len, NULL);
    changed(fs, ino);
    if (rc < 0) {
        fail(req, "fallocate", ino, rc);
        return;
    }
    fuse_reply_err(req, 0);
}

/* The kernel answers SEEK_SET, SEEK_CUR and SEEK_END itself. */
void bfs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi)
{
    (void)fi;
    struct bfs_fuse *fs = fuse_req_userdata(req);
    uint64_t at = 0;
    int rc = off < 0 ? -ENXIO
             : whence == SEEK_DATA || whence == SEEK_HOLE
                 ? bfs_seek(fs->client, ino, (uint64_t)off, whence, &at)
                 : -EINVAL;
    if (rc < 0) {
        fail(req, "lseek", ino, rc);
        return;
    }
    fuse_reply_lseek(req, (off_t)at);
}

void bfs_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
                            struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
                            struct fuse_file_info *fi_out, size_t len, int flags)
{
    (void)fi_in;
    (void)fi_out;
    struct bfs_fuse *fs = fuse_req_userdata(req);
    ssize_t n = flags ? -EINVAL
                : off_in < 0 || off_out < 0
                    ? -EINVAL
                    : bfs_copy_range(fs->client, ino_in, (uint64_t)off_in, ino_out,
                                     (uint64_t)off_out, len);
    changed(fs, ino_out);
    if (n < 0) {
        fail(req, "copy_file_range", ino_out, (int)n);
        return;
    }
    fuse_reply_write(req, (size_t)n);
}
