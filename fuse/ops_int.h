/* ops_int.h - what the files of the FUSE operations share; private to fuse/ops*.c.
 *
 * The operations are split by job, and ops.c's table (bfs_fuse_ops, ops.h)
 * names each once:
 *   ops.c        the file system as a whole (init, destroy, statfs, access),
 *                the table, and the reply helpers below;
 *   ops_entry.c  names and inodes: lookup, forget, getattr/setattr, readlink,
 *                and making, linking, removing and renaming entries;
 *   ops_file.c   open files: open/create, read/write, flush/release/fsync, and
 *                the open-files protocol an unlink or rename takes part in;
 *   ops_dir.c    directory handles and listings (readdir, readdirplus).
 * fileops.c, lockops.c and xattrs.c hold the rest of the table's operations.
 *
 * Every op_* follows ops.c's rules (it replies exactly once, on every path) and
 * runs on whichever FUSE worker thread took the request; the helpers here may
 * be called from any of them (the state they touch locks itself).
 */
#ifndef BENCHFS_FUSE_OPS_INT_H
#define BENCHFS_FUSE_OPS_INT_H

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "ops.h"

/* ------------------------------------------------------------------ helpers */

static inline struct bfs_fuse *fs_of(fuse_req_t req)
{
    return fuse_req_userdata(req);
}

/* For the operations that name an inode the kernel got from a lookup:
 * -ENOENT means the inode itself is gone (another client removed the file
 * within entry_timeout). ESTALE tells the VFS so, and it retries the path walk
 * once with a fresh lookup (LOOKUP_REVAL), which finds the new file or no
 * file, as NFS clients do. */
static inline int inode_rc(int rc)
{
    return rc == -ENOENT ? -ESTALE : rc;
}

/* 0, or -ENAMETOOLONG for a name no server would take (checked before any RPC). */
static inline int check_name(const char *name)
{
    return strlen(name) > BFS_NAME_MAX ? -ENAMETOOLONG : 0;
}

/* ops.c. Logs op's outcome rc (0 or -errno) on ino (and name if not NULL):
 * a warning when the cluster has a problem, at debug level otherwise. */
void log_rc(const char *op, uint64_t ino, const char *name, int rc);
/* Logs rc and replies its errno (EIO if rc is not negative). */
void reply_fail(fuse_req_t req, const char *op, uint64_t ino, const char *name, int rc);
/* Replies 0 (or the error) to the requests that carry no data back. */
void reply_status(fuse_req_t req, const char *op, uint64_t ino, const char *name, int rc);
/* *st gets a as the kernel sees it. Every attribute replied to the kernel
 * passes here, which notes a directory's group (dircache.h) and whether the
 * inode has extended attributes (xattrcache.h). */
void attr_to_stat(const struct bfs_fuse *fs, const struct bfs_attr *a, struct stat *st);
/* *e gets a with this mount's timeouts; replied, it counts as a lookup. */
void fill_entry(const struct bfs_fuse *fs, const struct bfs_attr *a, struct fuse_entry_param *e);
/* Replies a as the entry name in parent (after logging op's success). */
void reply_entry(fuse_req_t req, const char *op, uint64_t parent, const char *name,
                 const struct bfs_attr *a);

/* ops_entry.c. Creates a node of type (a directory, or any type mknod makes,
 * with rdev for a device) named name in parent, owned by the caller (a setgid
 * parent's group; its default ACL or the umask, xattrs.h). *out gets its
 * attributes. 0 or -errno. */
int make_node(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t type, mode_t mode,
              dev_t rdev, struct bfs_attr *out);

/* ------------------------------------- the open-files protocol (ops_file.c) */

/* Frees an inode that was unlinked while open here, now that nothing has it
 * open any more (logs a failure; the server keeps an inode still linked). */
void purge_orphan(struct bfs_fuse *fs, uint64_t ino);

/* What an unlink or a rename over a name does about open files (openfiles.h). */
struct keep {
    uint64_t ino;   /* the open inode the server is to keep (BFS_UNLINK_KEEP), or 0 */
    int plain;      /* counted as a plain unlink: opens that began later wait for it */
    struct openfiles_plain p;
};

/* Before removing name from parent: fills *k, whose ino says whether to ask
 * the server to keep the inode (BFS_UNLINK_KEEP). Costs a lookup RPC only
 * while files are open. Every call is followed by one keep_done. */
void keep_if_open(struct bfs_fuse *fs, uint64_t parent, const char *name, struct keep *k);
/* After the removal, whatever its outcome: ends what keep_if_open began, and
 * purges the inode if its last open ended meanwhile. */
void keep_done(struct bfs_fuse *fs, struct keep *k);

/* ------------------------------------------- the ops, named in ops.c's table */

/* ops_entry.c */
void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets);
void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
                struct fuse_file_info *fi);
void op_readlink(fuse_req_t req, fuse_ino_t ino);
void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev);
void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void op_symlink(fuse_req_t req, const char *target, fuse_ino_t parent, const char *name);
void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname);
void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
               const char *newname, unsigned int flags);

/* ops_file.c */
void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
               struct fuse_file_info *fi);
void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
              struct fuse_file_info *fi);
void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);

/* ops_dir.c */
void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, struct fuse_file_info *fi);
void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi);
void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi);

#endif
