/* xattr_store.h - extended attributes of this server's inodes, in the metadata
 * store (LMDB table "xattrs", key ino | name), so they live with the inode on
 * its owner: each call is one transaction that also updates the inode record
 * (ctime, the BFS_ATTR_* flags, the mode for an access ACL), and deleting an
 * inode deletes its attributes in the same transaction (meta_records.c calls
 * xattr_drop_all). Names, limits and errors are Linux's (common/xattr.h); POSIX
 * ACL values are checked and kept in step with the mode (common/acl.h).
 *
 * What the server cannot check is the client's: who may set trusted.* (the
 * kernel: CAP_SYS_ADMIN), and the caller's permission on the inode. The server
 * checks what only depends on the inode: user.* only on regular files and
 * directories (-EPERM), a default ACL only on a directory (-EACCES).
 * Single-threaded, as the store.
 */
#ifndef BENCHFS_XATTR_STORE_H
#define BENCHFS_XATTR_STORE_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>
#include "meta.h"

/* The value of name (nlen bytes) of ino: *vlen gets its length; with size > 0
 * the bytes go into buf (-ERANGE if it has fewer than *vlen). -ENODATA when ino
 * has no such attribute, -ENOENT when ino is not here; name errors as
 * bfs_xattr_ns. */
int xattr_get(struct meta_store *m, uint64_t ino, const char *name, size_t nlen, void *buf,
              size_t size, size_t *vlen);

/* Sets name to val (vlen <= BFS_XATTR_SIZE_MAX, else -E2BIG). flags:
 * BFS_XATTR_CREATE (-EEXIST if it exists), BFS_XATTR_REPLACE (-ENODATA if not).
 * ctime = now_ns. An access ACL sets the mode's permission bits, and one the mode
 * says all of is not kept (as Linux). -ENOSPC when the names would pass
 * BFS_XATTR_LIST_MAX. *out (if not NULL) gets the attributes after. */
int xattr_set(struct meta_store *m, uint64_t ino, const char *name, size_t nlen, const void *val,
              size_t vlen, uint32_t flags, int64_t now_ns, struct bfs_attr *out);

/* Removes name: -ENODATA if absent. ctime = now_ns; *out as above. */
int xattr_remove(struct meta_store *m, uint64_t ino, const char *name, size_t nlen, int64_t now_ns,
                 struct bfs_attr *out);

/* ino's names, each followed by a NUL, in key order: *len gets the bytes; with
 * size > 0 they go into buf (-ERANGE if fewer). -ENOENT when ino is not here. */
int xattr_list(struct meta_store *m, uint64_t ino, char *buf, size_t size, size_t *len);

/* ---- for the store's other parts, inside their transactions ---- */

/* Deletes every attribute of ino (the inode is being deleted). */
int xattr_drop_all(struct meta_store *m, MDB_txn *txn, uint64_t ino);

/* chmod of a with an access ACL (BFS_ATTR_ACL): the ACL takes a->mode's bits. */
int xattr_chmod(struct meta_store *m, MDB_txn *txn, const struct bfs_attr *a);

/* A new inode child (number allocated, record not yet stored) in parent
 * (parent->ino is 0 when parent lives on another node): with a local parent
 * that has a default ACL, child inherits it (its mode is limited by it, the
 * umask is not applied); otherwise child's mode loses umask's bits. Then the
 * attributes of the list in ih (a client's inheritance for a parent elsewhere)
 * are stored. child->flags are set to what it got. Symlinks get nothing. */
int xattr_inherit(struct meta_store *m, MDB_txn *txn, const struct bfs_attr *parent,
                  struct bfs_attr *child, const struct meta_inherit *ih);

#endif
