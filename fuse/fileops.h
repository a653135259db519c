/* fileops.h - the FUSE operations on file data beyond read and write:
 * fallocate, lseek (SEEK_DATA / SEEK_HOLE) and copy_file_range, each mapped
 * onto the client library's call (common/client.h, common/fileops.c). O_APPEND
 * writes are op_write's (fuse/ops_file.c: bfs_append for a handle with O_APPEND).
 *
 * Each replies exactly once; after a change the mount's page-cache version of
 * the file is forgotten (pagecache.h) and the kernel's cached attributes
 * dropped (st_blocks, size). Called from any FUSE worker thread. */
#ifndef BENCHFS_FUSE_FILEOPS_H
#define BENCHFS_FUSE_FILEOPS_H

#include "ops.h"

void bfs_op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                      struct fuse_file_info *fi);
void bfs_op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, struct fuse_file_info *fi);
void bfs_op_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in,
                            struct fuse_file_info *fi_in, fuse_ino_t ino_out, off_t off_out,
                            struct fuse_file_info *fi_out, size_t len, int flags);

#endif
