/* pagecache.h - which version of each file the kernel's page cache of this
 * mount holds, so that open can keep cached pages that are still right.
 *
 * Close-to-open consistency asks open to see every change another client made
 * before it. Dropping the cached pages at every open does that, but also throws
 * away what this mount itself just wrote or read. A file's version is its
 * owner's (ctime, mtime, size): ctime changes with every change of the file on
 * its owner server. The table remembers, per inode, the version the cached
 * pages are known to match:
 *
 *   open(a):  a = fresh attributes from the server. If they are the remembered
 *             version, nothing changed since: keep the pages. Otherwise drop
 *             them and remember a (pages read from now on are of a or newer).
 *   write:    the owner answered with the ctime before the write and the
 *             attributes after it. If the before-ctime is the remembered
 *             version's, only this write happened in between, and the pages
 *             (which the kernel updated with the written bytes) match the new
 *             version: remember it. Otherwise, or when the reply did not say
 *             (a write spread over several chunks or servers), forget.
 *   anything else that changes a file here (setattr): forget.
 *
 * Pages read under an older version than remembered can only be newer than
 * it, never older, and a newer server version shows at the next open.
 * A fixed number of slots, indexed by inode: a collision forgets the other
 * inode, which only costs it a re-read. Thread-safe.
 */
#ifndef BENCHFS_FUSE_PAGECACHE_H
#define BENCHFS_FUSE_PAGECACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/types.h"

struct pagecache;

/* slots: rounded up to a power of two. NULL when out of memory. */
struct pagecache *pagecache_new(size_t slots);
void pagecache_free(struct pagecache *pc);

/* At open, with a = the file's attributes fetched for this open: true when the
 * cached pages may be kept. */
bool pagecache_open(struct pagecache *pc, const struct bfs_attr *a);
/* After a write of ino by this mount: pre_ctime is the owner's ctime before
 * it, post its attributes after it. */
void pagecache_wrote(struct pagecache *pc, uint64_t ino, int64_t pre_ctime, const struct bfs_attr *post);
/* The next open of ino drops its pages. */
void pagecache_forget(struct pagecache *pc, uint64_t ino);

#endif
