/* openfiles.h - which inodes are open on this mount, so that unlink-while-open works.
 *
 * POSIX lets a process keep using a file after its last name is removed. The
 * server cannot know what a FUSE mount has open, so the mount tells it: an
 * unlink (or a rename over a file) of an inode that is open here passes
 * BFS_UNLINK_KEEP, which leaves the inode at nlink 0, and the last release
 * frees it with bfs_purge(). This table answers "is it open?" and remembers
 * "was it unlinked while open?".
 *
 * The protocol between unlink, open and release, all calls thread-safe:
 *
 *   unlink:  if openfiles_unlink_fast(t, &p): nothing is open, unlink the
 *                name and call openfiles_unlink_plain_end(t, &p) after the RPC;
 *            else look the name up (ino), then
 *            keep = openfiles_unlink_begin(t, ino, &p);  (true: pass BFS_UNLINK_KEEP)
 *            rc = bfs_unlink(..., keep ? BFS_UNLINK_KEEP : 0);
 *            keep ? (openfiles_unlink_end(t, ino) && purge ino)
 *                 : openfiles_unlink_plain_end(t, &p);
 *   open:    openfiles_open(t, ino) BEFORE asking the server for the inode;
 *            openfiles_release if the open then fails;
 *   release: if (openfiles_release(t, ino)) purge ino;
 *
 * An open and an unlink of the same file may run at once (the kernel does not
 * order them). An unlink that decides to keep nothing ("plain") is counted
 * until its RPC is answered, and an open, once its handle is counted (so every
 * later unlink finds it and keeps the file), waits for the plain unlinks
 * already in flight: its GETATTR then comes after them and sees the file gone
 * (ESTALE), instead of opening a file the server is freeing. It waits for those
 * only, never for a later one, so at most one round trip, and only while such
 * unlinks are in flight.
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

/* A plain unlink in flight: the caller's (e.g. on its stack) from
 * openfiles_unlink_fast/_begin to openfiles_unlink_plain_end. */
struct openfiles_plain {
    struct openfiles_plain *prev, *next;
    uint64_t ticket;
};

/* NULL when out of memory. */
struct openfiles *openfiles_new(void);
void openfiles_free(struct openfiles *t);

/* Counts one more open handle of ino, then waits until no plain unlink that
 * began before is in flight. -ENOMEM or 0. */
int openfiles_open(struct openfiles *t, uint64_t ino);
/* Drops one handle; true when that was the last one of an inode unlinked
 * while open and no unlink is in flight: the caller should purge it. */
bool openfiles_release(struct openfiles *t, uint64_t ino);

/* Before an unlink/replace: true when nothing is open (the name needs no
 * lookup; the unlink is plain, p is in use: call openfiles_unlink_plain_end). */
bool openfiles_unlink_fast(struct openfiles *t, struct openfiles_plain *p);
/* Before unlinking/replacing ino: if ino is open here, marks it unlinked,
 * pins the entry and returns true (pass BFS_UNLINK_KEEP, then call
 * openfiles_unlink_end). False: not open, the unlink is plain (p is in use). */
bool openfiles_unlink_begin(struct openfiles *t, uint64_t ino, struct openfiles_plain *p);
/* After the unlink RPC: true when every handle was released meanwhile, so
 * the caller should purge. */
bool openfiles_unlink_end(struct openfiles *t, uint64_t ino);
/* After a plain unlink's RPC (answered, whatever the answer). */
void openfiles_unlink_plain_end(struct openfiles *t, struct openfiles_plain *p);

/* At unmount: the inodes still open and unlinked (the kernel sends no more
 * releases). Empties the table; *out gets a malloc'd array (free it) of the
 * returned count of inodes, NULL when there are none or memory ran out. */
size_t openfiles_drain_unlinked(struct openfiles *t, uint64_t **out);

#endif
