/* dircache.h - what this mount last told the kernel about directories' group
 * and setgid bit, for the group of new entries, and whether they have a default
 * ACL, for what new entries inherit (xattrs.h).
 *
 * A new entry in a setgid directory takes the directory's group, and a new
 * directory the setgid bit too (as Linux's inode_init_owner, which the kernel
 * does not call for FUSE). The server that holds the new entry applies that
 * rule itself when it also holds the parent's inode (meta_create); otherwise
 * the daemon does, from here. Every directory attribute the daemon replies
 * with goes in, valid as long as the kernel may cache it (attr_timeout): the
 * kernel checks a create against the parent's attributes it got from us, so
 * the parent is nearly always here and a create costs no GETATTR.
 * A fixed number of slots indexed by inode (a collision forgets the other
 * directory, which costs it one GETATTR). Thread-safe.
 */
#ifndef BENCHFS_FUSE_DIRCACHE_H
#define BENCHFS_FUSE_DIRCACHE_H

#include <stdbool.h>
#include <stdint.h>
#include "../common/types.h"

struct dircache;

/* NULL when out of memory. */
struct dircache *dircache_new(void);
void dircache_free(struct dircache *dc);

/* What a new entry of a directory takes from it. */
struct dircache_info {
    bool setgid;
    uint32_t gid;
    bool defacl;      /* it has a default ACL (BFS_ATTR_DEFACL) */
};

/* Directory a->ino has a's mode, gid and flags, for ttl_s seconds from now (<= 0: not kept). */
void dircache_put(struct dircache *dc, const struct bfs_attr *a, double ttl_s);
/* true and *out when ino is known and still valid. */
bool dircache_get(struct dircache *dc, uint64_t ino, struct dircache_info *out);

#endif
