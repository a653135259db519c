/* acl.h - POSIX ACLs in their extended-attribute form (the value of
 * system.posix_acl_access and system.posix_acl_default, as Linux's
 * posix_acl_xattr: u32 LE version 2, then entries of u16 LE tag | u16 LE perm |
 * u32 LE id, sorted by tag and id).
 *
 * With FUSE's POSIX ACL capability the kernel enforces ACLs, and leaves to the
 * file system what Linux's own file systems do with posix_acl_create and
 * posix_acl_chmod: a new inode inherits its directory's default ACL, and the
 * access ACL and the mode's permission bits stay in step. These are those
 * rules, as pure functions (no I/O, thread-safe). Values are checked first:
 * -EINVAL for one that is not a valid ACL.
 */
#ifndef BENCHFS_ACL_H
#define BENCHFS_ACL_H

#include <stddef.h>
#include <stdint.h>

/* 0 if v (len bytes) is a valid ACL: version 2, entries in order, one owner,
 * group and other entry, a mask when there are named users or groups; else -EINVAL. */
int bfs_acl_valid(const void *v, size_t len);

/* The permission bits access ACL v stands for go into *mode (owner, mask or
 * else group, other; the file type and setuid/setgid/sticky bits stay). 1 when
 * the ACL says more than the mode can (named entries or a mask), 0 when the
 * mode says it all (Linux then keeps no ACL), -EINVAL. */
int bfs_acl_to_mode(const void *v, size_t len, uint32_t *mode);

/* chmod of an inode with access ACL v: its owner, mask (or group, without
 * one) and other entries take mode's bits, in place. 0 or -EINVAL. */
int bfs_acl_chmod(void *v, size_t len, uint32_t mode);

/* A new inode of *mode in a directory with default ACL def (len bytes): out
 * (len bytes too) gets its access ACL, each entry limited by the mode, and
 * *mode's permission bits are limited by the ACL (posix_acl_create; the umask
 * does not apply). 1 when the new inode needs the access ACL, 0 when its mode
 * says it all, -EINVAL. A new directory also gets def as its default ACL (the
 * caller's part). */
int bfs_acl_inherit(const void *def, size_t len, uint32_t *mode, void *out);

#endif
