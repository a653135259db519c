/* xattrcache.h - which inodes this mount last heard have no extended
 * attributes (BFS_ATTR_XATTRS clear), so that getxattr and listxattr of them are
 * answered without an RPC.
 *
 * Why: the kernel asks for security.capability before every write(2) to a file
 * (file_remove_privs), since FUSE inodes never get S_NOSEC; one RPC per write
 * would cost small writes a round trip. Filled from every attribute the daemon
 * replies to the kernel with, every open and every WRITE reply of a file's
 * owner. The caller says how old an answer may be: attr_timeout for what a
 * user asks (like the kernel's own copy of the attributes, an attribute another
 * client sets is seen after that at the latest), longer for the kernel's
 * question before a write (XATTRCACHE_CAP_AGE_S: writes to a file's chunks on
 * other servers bring no attributes back). Fixed slots indexed by inode (a
 * collision forgets one). Thread-safe.
 */
#ifndef BENCHFS_FUSE_XATTRCACHE_H
#define BENCHFS_FUSE_XATTRCACHE_H

#include <stdbool.h>
#include <stdint.h>
#include "../common/types.h"

struct xattrcache;

/* NULL when out of memory. */
struct xattrcache *xattrcache_new(void);
void xattrcache_free(struct xattrcache *xc);

/* How old the answer to the kernel's security.capability question before each
 * write may be: a capability another client sets on a file this mount is writing
 * may survive this mount's writes for that long. */
#define XATTRCACHE_CAP_AGE_S 30.0

/* a says (now) whether a->ino has attributes. */
void xattrcache_put(struct xattrcache *xc, const struct bfs_attr *a);
/* A write of ino succeeded that brought no attributes back (its chunk lives on
 * another server than its inode): what is known of ino counts as new again, so
 * a file this mount keeps writing is not asked about at every write once its
 * answer is XATTRCACHE_CAP_AGE_S old (one it stops writing for that long is). */
void xattrcache_touch(struct xattrcache *xc, uint64_t ino);
/* true when ino was said, at most max_age_s seconds ago, to have no extended attributes. */
bool xattrcache_none(struct xattrcache *xc, uint64_t ino, double max_age_s);

#endif
