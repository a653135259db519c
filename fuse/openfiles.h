/* openfiles.h - which inodes are open on this mount, so that unlink-while-open works.
 *
 * POSIX lets a process keep using a file after its last name is removed. The
 * server cannot know what a FUSE mount has open, so the mount tells it: an
 * unlink (or a rename over a file) of an inode that is open here passes
 * BFS_UNLINK_KEEP, which leaves the inode at nlink 0, and the last release
 * frees it with bfs_purge(). This table answers "is it open?" and remembers
 * "was it unlinked while open?".
 *
 * The protocol between unlink and release, all calls thread-safe:
 *
 *   unlink:  keep = openfiles_unlink_begin(t, ino);   (true: pass BFS_UNLINK_KEEP)
 *            rc = bfs_unlink(..., keep ? BFS_UNLINK_KEEP : 0);
 *            if (keep && openfiles_unlink_end(t, ino)) purge ino;
 *   open:    openfiles_open(t, ino);
 *   release: if (openfiles_release(t, ino)) purge ino;
 *
 * unlink_begin pins the entry until unlink_end, so a release that races with
 * an unlink RPC in flight never decides "not unlinked, nothing to purge" before
 * the server has dropped the name: whichever of the two comes last purges.
 * "Purge" means: if the inode's nlink is 0, bfs_purge it (another hard link
 * may still name it, or the unlink RPC may have failed).
 *
 * Only this mount's opens are known: a file open on another client and
 * unlinked here is freed at once (as on NFS without silly rename).
 */
#ifndef BENCHFS_FUSE_OPENFILES_H
#define BENCHFS_FUSE_OPENFILES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct openfiles;

/* NULL when out of memory. */
struct openfiles *openfiles_new(void);
void openfiles_free(struct openfiles *t);

/* Counts one more open handle of ino. -ENOMEM or 0. */
int openfiles_open(struct openfiles *t, uint64_t ino);
/* Drops one handle; true when that was the last one of an inode unlinked
 * while open and no unlink is in flight: the caller should purge it. */
bool openfiles_release(struct openfiles *t, uint64_t ino);

/* True when nothing is open (unlink then needs no lookup to find out). */
bool openfiles_empty(struct openfiles *t);

/* Before unlinking/replacing ino: if ino is open here, marks it unlinked,
 * pins the entry and returns true (pass BFS_UNLINK_KEEP, then call
 * openfiles_unlink_end). False: not open, unlink normally. */
bool openfiles_unlink_begin(struct openfiles *t, uint64_t ino);
/* After the unlink RPC: true when every handle was released meanwhile, so
 * the caller should purge. */
bool openfiles_unlink_end(struct openfiles *t, uint64_t ino);

/* At unmount: the inodes still open and unlinked (the kernel sends no more
 * releases). Empties the table; *out gets a malloc'd array (free it) of the
 * returned count of inodes, NULL when there are none or memory ran out. */
size_t openfiles_drain_unlinked(struct openfiles *t, uint64_t **out);

#endif
