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
 * What may be lost: nothing for long, and never more than times. The first
 * touch of a directory in a window is written down in the store before the
 * change is answered (meta.h, "parents' times owed"), and the record goes once
 * a touch at least as late was taken; a start sends what the records still
 * owe (a kill -9 then costs the times at most the window's changes: the record
 * holds the window's first stamp). A touch whose owner cannot be reached is
 * tried again every DIRTIMES_RETRY_S, DIRTIMES_TRIES times, then left to the
 * record and the next start; one the owner refuses is dropped with a warning.
 * A stop sends what is queued (for at most DIRTIMES_STOP_S).
 *
 * Threads: dirtimes_start, dirtimes_note, dirtimes_ready, dirtimes_settle and
 * dirtimes_stop from the event loop only (they use the store); the touches are
 * sent by a thread of the module's own, which never touches the store, through
 * a client of the cluster of its own (it reaches the other servers through the
 * registry, as the coordinator does).
 */
#ifndef BENCHFS_DIRTIMES_H
#define BENCHFS_DIRTIMES_H

#include <stdint.h>
#include "meta.h"

#define DIRTIMES_WINDOW_MS 10   /* a touch waits this long for more of its directory */
#define DIRTIMES_STOP_S 3.0     /* a stop sends what is queued for at most this long */
#define DIRTIMES_RETRY_S 1.0    /* an owner out of reach: the touch is tried again then */
#define DIRTIMES_TRIES 30       /* ... this often, then left to the record */

struct dirtimes;


/* Starts the thread, for a cluster of nodes servers, and queues what meta's
 * records still owe. registry_dir and meta are kept (not copied): they must
 * outlive the module. 0, or -errno (nothing started). */
int dirtimes_start(const char *registry_dir, uint32_t nodes, struct meta_store *meta,
                   struct dirtimes **out);

/* Directory dir, whose inode lives on another server, changed at stamp (wall
 * clock, ns): queues a touch, or merges it into the one queued. The first of a
 * window is written down first: 0, or the store's error (then the touch is
 * still queued, and only a crash before it is sent loses it). -EAGAIN, and
 * nothing queued, while the module is not connected to the cluster yet (it
 * connects once every server has registered; a server that died before that
 * keeps it waiting), with 65,536 directories queued already, or for a
 * directory of no node of the cluster (a bad number in a request): the
 * client then sets the times itself. */
int dirtimes_note(struct dirtimes *dt, uint64_t dir, int64_t stamp);

/* 1 when touches were taken whose records dirtimes_settle may forget (no
 * system call). */
int dirtimes_ready(struct dirtimes *dt);
/* Forgets those records (one transaction): 0 or the store's error (the records
 * stay, and are settled with the next ones). */
int dirtimes_settle(struct dirtimes *dt);

/* Sends what is queued (for at most DIRTIMES_STOP_S), ends the thread, logs
 * what it did and frees everything. NULL is fine. */
void dirtimes_stop(struct dirtimes *dt);

#endif
