/* xattr.h - extended attributes as every BenchFS component sees them: the
 * namespaces, Linux's limits, and the list format a CREATE carries the
 * attributes a new inode inherits in (its POSIX ACLs, see acl.h).
 *
 * Limits and errors are Linux's (xattr(7)): a name is at most 255 bytes with
 * its prefix (-ERANGE beyond), a value at most 64 KiB (-E2BIG), a list of an
 * inode's names at most 64 KiB. Pure functions, thread-safe.
 */
#ifndef BENCHFS_XATTR_H
#define BENCHFS_XATTR_H

#include <stddef.h>
#include <stdint.h>

#define BFS_XATTR_NAME_MAX 255          /* bytes of a name, prefix included (XATTR_NAME_MAX) */
#define BFS_XATTR_SIZE_MAX 65536        /* bytes of a value (XATTR_SIZE_MAX) */
#define BFS_XATTR_LIST_MAX 65536        /* bytes of an inode's NUL-separated names (XATTR_LIST_MAX) */
#define BFS_ACL_ACCESS     "system.posix_acl_access"
#define BFS_ACL_DEFAULT    "system.posix_acl_default"

/* Flags of a set: XATTR_CREATE and XATTR_REPLACE of <sys/xattr.h> (same values). */
enum { BFS_XATTR_CREATE = 1, BFS_XATTR_REPLACE = 2 };

/* The namespace of a name. */
enum bfs_xattr_ns { BFS_XNS_USER, BFS_XNS_TRUSTED, BFS_XNS_SECURITY, BFS_XNS_ACL_ACCESS,
                    BFS_XNS_ACL_DEFAULT };

/* Which namespace name (len bytes, no NUL needed) is in: a bfs_xattr_ns, or
 * -ERANGE (empty or longer than BFS_XATTR_NAME_MAX, as Linux says), -EINVAL (a
 * prefix with nothing after it, a NUL inside), -EOPNOTSUPP (any other prefix,
 * "system." other than the two ACLs included). */
int bfs_xattr_ns(const char *name, size_t len);

/* The inherited-attribute list (a CREATE's bulk): records of u16 LE name length
 * | u32 LE value length | name | value, back to back. */
#define BFS_XATTR_REC_HDR 6
#define BFS_XATTR_INHERIT_MAX (2 * (BFS_XATTR_REC_HDR + BFS_XATTR_NAME_MAX + BFS_XATTR_SIZE_MAX))
size_t bfs_xattr_rec_put(uint8_t *out, const char *name, size_t nlen, const void *val, size_t vlen);
/* The record at *pos of buf (len bytes), advancing *pos: 1, 0 at the end, or
 * -EBADMSG when it does not fit the buffer or the limits. */
int bfs_xattr_rec_next(const void *buf, size_t len, size_t *pos, const char **name, size_t *nlen,
                       const void **val, size_t *vlen);

#endif
