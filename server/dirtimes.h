/* dirtimes.h - the new times of parent directories that live on other servers.
 *
 * An entry made or removed here (a create, link, unlink or rename of a file)
 * whose parent directory's inode lives on another server changes that
 * directory's mtime and ctime there. A client that asks for it (BFS_F_TIMES)
 * is answered at once, and this server sends the directory's owner the new
 * time itself: a touch waits up to DIRTIMES_WINDOW_MS for the next ones of the
 * same directory, and they go as one NLINK (BFS_F_SUBDIR | BFS_F_STAMP, delta 0)
 * with the latest stamp, which the owner applies only if it is later than the
 * directory's ctime (so a touch that arrives after a later change, a utimensat
 * of the directory say, changes nothing). Before, the client sent that NLINK
 * itself after every such call: a second round trip per create, and in a
 * directory shared by many clients one to the same server for every create in
 * the cluster.
 *
 * What others see: another client sees a directory's new times within about
 * the window; the client that made the change sees them at once
 * (common/client_times.c lays its own stamps over what it reads).
 *
 * What may be lost: the times only, never an entry. A kill -9 of this server
 * loses the touches not yet sent, as a client's death before its NLINK did; a
 * touch whose owner does not answer is dropped with a warning. A stop sends
 * what is queued (for at most DIRTIMES_STOP_S).
 *
 * Threads: dirtimes_note from the event loop only; the touches are sent by a
 * thread of the module's own, through a client of the cluster of its own (it
 * reaches the other servers through the registry, as the coordinator does).
 */
#ifndef BENCHFS_DIRTIMES_H
#define BENCHFS_DIRTIMES_H

#include <stdint.h>

#define DIRTIMES_WINDOW_MS 10   /* a touch waits this long for more of its directory */
#define DIRTIMES_STOP_S 3.0     /* a stop sends what is queued for at most this long */

struct dirtimes;


/* Starts the thread. registry_dir is kept (not copied): it must outlive the
 * module. 0, or -errno (nothing started). */
int dirtimes_start(const char *registry_dir, struct dirtimes **out);

/* Directory dir, whose inode lives on server node (not this one), changed at
 * stamp (wall clock, ns): queues a touch, or merges it into the one queued. */
void dirtimes_note(struct dirtimes *dt, uint64_t dir, uint32_t node, int64_t stamp);

/* Sends what is queued (for at most DIRTIMES_STOP_S), ends the thread, logs
 * what it did and frees everything. NULL is fine. */
void dirtimes_stop(struct dirtimes *dt);

#endif
