/* locks.h - the lock table of one server: POSIX record locks (fcntl F_SETLK,
 * F_SETLKW, F_GETLK; OFD locks arrive as POSIX locks whose owner is the open
 * file) and flock(2) locks of the inodes this server owns. In memory only.
 *
 * A lock owner is (client, owner): the client's connection id at this server
 * and the client's own owner number (FUSE: the kernel's lock_owner), so two
 * clients never share an owner. POSIX locks and flock locks never conflict
 * with each other (as on Linux); within a kind, two locks conflict when their
 * byte ranges overlap, their owners differ and one of them is a write lock.
 *
 * POSIX locks of one owner behave exactly as Linux's: a new lock replaces the
 * owner's locks where they overlap (splitting them), adjacent or overlapping
 * locks of the same type merge, an unlock of part of a range splits it, and a
 * request is all or nothing. A flock conversion is not atomic (Linux's neither):
 * the owner's old lock goes first, then the new one is tried.
 *
 * A request that has to wait (locks_wait) is queued with an opaque ctx; the
 * table answers it later through done(arg, ctx, status): 0 once granted (the
 * lock is held by then), -EINTR when cancelled, -ECONNRESET when its client
 * went, or the status given to locks_end_waiters. Waiters of a file are looked
 * at in arrival order whenever a lock of it goes away. Before queueing a POSIX
 * request the table follows "owner waits for owner" through the waiters of
 * every file here, up to 10 steps as Linux does: a cycle back to the caller is
 * -EDEADLK. Cycles through locks of inodes of other servers are not seen.
 *
 * Pure data structure, single-threaded (the server's event loop); done() is
 * called from inside the call that ended the wait and must not call back in.
 */
#ifndef BENCHFS_LOCKS_H
#define BENCHFS_LOCKS_H

#include <stddef.h>
#include <stdint.h>

#define LOCKS_MAX_END 0x7fffffffffffffffull   /* the largest offset (OFFSET_MAX) */

enum { LOCK_KIND_POSIX = 0, LOCK_KIND_FLOCK = 1 };

/* One lock or request. type is BFS_LOCK_RD/WR/UN (proto.h); the range is
 * [start, end], end inclusive, end <= LOCKS_MAX_END (to the end of file: that). */
struct lock_req {
    uint64_t ino;
    uint64_t owner;
    uint64_t start, end;
    uint32_t client;
    uint32_t pid;        /* reported by locks_test */
    uint8_t kind;
    uint8_t type;
};

struct lock_table;
typedef void (*lock_done_fn)(void *arg, void *ctx, int status);

/* max: locks and waiters the table may hold at most (-ENOLCK past it). NULL
 * when out of memory. */
struct lock_table *locks_new(lock_done_fn done, void *arg, size_t max);
/* Frees everything; waiters are dropped without done() (end them first). */
void locks_free(struct lock_table *t);

/* -EINVAL if q is malformed (type, kind, range; a flock must cover the whole file). */
int locks_check(const struct lock_req *q);

/* F_GETLK: 1 and *conflict filled with a lock that q conflicts with, or 0. */
int locks_test(struct lock_table *t, const struct lock_req *q, struct lock_req *conflict);
/* F_SETLK (and every unlock): 0 when applied, -EAGAIN on a conflict, -ENOLCK
 * when the table is full or memory ran out (nothing changed then). */
int locks_set(struct lock_table *t, const struct lock_req *q);
/* F_SETLKW: 0 when applied now, 1 when queued (done() follows), -EDEADLK,
 * -EINTR when wait_id was cancelled before it came (locks_cancel), -ENOLCK. */
int locks_wait(struct lock_table *t, const struct lock_req *q, uint64_t wait_id, void *ctx);
/* Ends client's waiter wait_id with -EINTR through done() and returns 1; 0 when
 * there is none, in which case the id is remembered (the last 64 such), so a
 * request that was overtaken by its cancel is refused when it comes. */
int locks_cancel(struct lock_table *t, uint32_t client, uint64_t wait_id);
/* Drops every lock of client (waiters it blocked may be granted) and ends its
 * waiters with -ECONNRESET. Returns how many locks and waiters went. */
size_t locks_drop_client(struct lock_table *t, uint32_t client);
/* Ends every waiter with status (a server stopping). */
void locks_end_waiters(struct lock_table *t, int status);

/* Locks and waiters held (0: the table is empty). */
size_t locks_count(const struct lock_table *t);
size_t locks_waiting(const struct lock_table *t);

#endif
