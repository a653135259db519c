/* xattrcache.h - which inodes this mount last heard have no extended
 * attributes (BFS_ATTR_XATTRS clear), so that getxattr and listxattr of them are
 * answered without an RPC.
 *
 * Why: the kernel asks for security.capability before every write(2) to a file
 * (file_remove_privs), since FUSE inodes never get S_NOSEC; one RPC per write
 * would cost small writes a round trip. Filled from every attribute the daemon
 * replies to the kernel with and from every WRITE reply of a file's owner, so a
 * file being written stays known; valid for attr_timeout, like the kernel's own
 * copy of the attributes: an attribute another client sets is seen here after
 * that at the latest. Fixed slots indexed by inode (a collision forgets one).
 * Thread-safe.
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

/* a says whether a->ino has attributes, for ttl_s seconds (<= 0: not kept). */
void xattrcache_put(struct xattrcache *xc, const struct bfs_attr *a, double ttl_s);
/* true when ino is known (and still valid) to have no extended attributes. */
bool xattrcache_none(struct xattrcache *xc, uint64_t ino);

#endif
