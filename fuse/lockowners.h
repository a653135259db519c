/* lockowners.h - which lock owners may hold locks taken through this mount,
 * so that close releases them as POSIX says without a round trip for files
 * that never saw a lock.
 *
 * The kernel hands FUSE every lock with an owner number: a process's file
 * table for POSIX locks, the open file itself for OFD locks (and flock). The
 * servers keep the locks; this table remembers, per inode, the pairs (owner,
 * open handle) that took one here:
 *
 *   setlk ok:  lockowners_note(t, ino, owner, fh)      (not for unlocks)
 *   flush:     if (lockowners_flush(t, ino, owner)) bfs_unlock_owner(POSIX)
 *              (a close of any fd of the file ends the process's POSIX locks)
 *   release:   n = lockowners_release(t, ino, fh, &owners): the owners that
 *              locked through fh and were never flushed (OFD locks, whose
 *              owner is the open file, which flush never names): unlock each.
 *   open:      fi->noflush = !lockowners_used(t, ino): only files that saw a
 *              lock on this mount pay for FLUSH at every close.
 *
 * "Used" is a fixed set of slots indexed by inode that is never emptied (a
 * collision forgets the other inode): an inode that lost its slot is opened
 * without FLUSH again, and then its POSIX locks go at release, the last close
 * of that open file, instead of at the close of any of its fds.
 * Thread-safe; every call is a few pointer steps under one mutex.
 */
#ifndef BENCHFS_FUSE_LOCKOWNERS_H
#define BENCHFS_FUSE_LOCKOWNERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lockowners;

/* NULL when out of memory. */
struct lockowners *lockowners_new(void);
void lockowners_free(struct lockowners *t);

/* owner took a lock of ino through open handle fh. 0 or -ENOMEM. */
int lockowners_note(struct lockowners *t, uint64_t ino, uint64_t owner, uint64_t fh);
/* owner closed an fd of ino: true when it took locks here (through any handle),
 * which the caller must now release; they are forgotten. */
bool lockowners_flush(struct lockowners *t, uint64_t ino, uint64_t owner);
/* Handle fh of ino is released: *out gets a malloc'd array (free it) of the
 * returned count of owners that took locks through fh and were not flushed
 * since, now forgotten; NULL and 0 when none. -ENOMEM: none could be listed
 * (they stay noted). */
int lockowners_release(struct lockowners *t, uint64_t ino, uint64_t fh, uint64_t **out);
/* True when ino saw a lock on this mount (so far as its slot remembers). */
bool lockowners_used(struct lockowners *t, uint64_t ino);

#endif
