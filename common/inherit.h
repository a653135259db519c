/* inherit.h - what a new inode inherits from its directory (POSIX default
 * ACLs), for any client of the library: benchfs-fuse (fuse/xattrs.c) and
 * libbenchfs (lib/) build the same struct bfs_inherit for bfs_make.
 *
 * The server that makes the entry decides itself when it also holds the
 * parent's inode (bfs_parent_is_local); for a parent elsewhere the client
 * decides from the parent's attributes (BFS_ATTR_DEFACL) and, for a parent
 * with a default ACL, fetches it (one GETXATTR) and sends what it inherits
 * along with the CREATE. Thread-safe; no state.
 */
#ifndef BENCHFS_INHERIT_H
#define BENCHFS_INHERIT_H

#include <stdint.h>

#include "client.h"

/* What a new inode of *mode (type and permission bits) in parent inherits:
 * parent_local says the entry's server holds parent (it decides), defacl what
 * the parent's attributes say, umask the creator's (applied where no default
 * ACL is). *ih gets the umask and any inherited attributes, and *mode what the
 * inheritance made of it. 0 or -errno (the GETXATTR of the default ACL failed,
 * -EIO for an invalid one). Free ih with bfs_inherit_free, also after an error. */
int bfs_inherit_prepare(struct bfs_client *c, uint64_t parent, int parent_local, int defacl,
                        uint32_t umask, uint32_t *mode, struct bfs_inherit *ih);
void bfs_inherit_free(struct bfs_inherit *ih);

#endif
