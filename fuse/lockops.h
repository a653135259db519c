/* lockops.h - the FUSE lock operations of benchfs-fuse (getlk, setlk, flock)
 * and what open, flush and release do for them.
 *
 * Locks live at each inode's owner server (common/client.h, server/locks.h);
 * the kernel hands them to FUSE with an owner (FUSE_CAP_POSIX_LOCKS and
 * FUSE_CAP_FLOCK_LOCKS): a process's file table for POSIX locks, the open file
 * for OFD and flock locks. A wait (F_SETLKW, flock without LOCK_NB) is one RPC
 * the server answers at the grant; its thread is parked (fuse/loop.h), so
 * waits never use up the loop's threads, and a signal to the waiting process
 * (FUSE_INTERRUPT) cancels it at the server: EINTR, no lock left behind.
 * Close releases locks as Linux does (lockowners.h): a process's POSIX locks
 * at FLUSH (any close of the file), OFD and flock locks at RELEASE (the open
 * file's last close).
 */
#ifndef BENCHFS_FUSE_LOCKOPS_H
#define BENCHFS_FUSE_LOCKOPS_H

#include "ops.h"

struct lockstate;

/* NULL when out of memory. */
struct lockstate *lockstate_new(void);
void lockstate_free(struct lockstate *ls);

void lockops_getlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock);
void lockops_setlk(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, struct flock *lock,
                   int sleep);
void lockops_flock(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi, int op);

/* open: true when ino's closes must reach FLUSH (it saw locks on this mount). */
bool lockops_want_flush(struct bfs_fuse *fs, uint64_t ino);
/* FLUSH of ino by fi->lock_owner: its POSIX locks go. 0 or -errno. */
int lockops_flush(struct bfs_fuse *fs, uint64_t ino, const struct fuse_file_info *fi);
/* RELEASE of fi: its flock lock and the OFD locks taken through it go. */
void lockops_release(struct bfs_fuse *fs, uint64_t ino, const struct fuse_file_info *fi);
/* The loop ends (void *: struct bfs_fuse): every wait in progress ends (EINTR). */
void lockops_stop(void *fs);

#endif
