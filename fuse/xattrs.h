/* xattrs.h - extended attributes on the mount: the four FUSE xattr operations,
 * and what a new inode inherits (POSIX ACLs).
 *
 * The attributes live with the inode on its owner server (server/xattr_store.h);
 * every operation here is one RPC there. With FUSE_CAP_POSIX_ACL (ops.c's init)
 * the kernel checks ACLs itself, caches them, and asks for them as the
 * attributes system.posix_acl_access/_default; it leaves to the file system
 * what Linux's file systems do in posix_acl_create and posix_acl_chmod, which
 * the servers do in the same transactions as the create, chmod or setfacl.
 *
 * Inheritance at a create (the kernel applies no umask, DONT_MASK): the new
 * inode takes its parent's default ACL, or else loses the umask. The server that
 * makes the entry decides when it also holds the parent's inode (every create on
 * one server): it reads the parent in the create's transaction anyway. For a
 * parent elsewhere the daemon decides from the parent's attributes
 * (BFS_ATTR_DEFACL, from dircache.h: no RPC for a parent without a default ACL)
 * and, for a parent with one, fetches it (one GETXATTR) and sends what it
 * inherits along with the CREATE.
 */
#ifndef BENCHFS_FUSE_XATTRS_H
#define BENCHFS_FUSE_XATTRS_H

#include "ops.h"

void xattrs_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
                        size_t size, int flags);
void xattrs_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void xattrs_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void xattrs_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

/* What a new inode of *mode (type and permission bits) in parent inherits, for
 * bfs_make: parent_local says the entry's server holds parent (it decides),
 * defacl what the parent's attributes say. *ih gets the umask and any inherited
 * attributes, and *mode what the inheritance made of it. 0 or -errno (the
 * GETXATTR of the default ACL failed). Free ih with xattrs_inherit_free. */
int xattrs_inherit(fuse_req_t req, fuse_ino_t parent, int parent_local, bool defacl,
                   uint32_t *mode, struct bfs_inherit *ih);
void xattrs_inherit_free(struct bfs_inherit *ih);

#endif
