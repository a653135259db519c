/* chunkstore_int.h - what the chunk store's files share (chunkstore.c: ring, ops,
 * buffers, read/write/fallocate/seek; syncgroup.c: fsync groups; chunkfiles.c:
 * naming, opening, removing and listing chunk files; chunkcut.c: truncates;
 * chunkremove.c: the unlinks and the background threads). Not for anyone else:
 * the interface is chunkstore.h.
 *
 * Event-loop thread only, as the store. Functions returning int give 0 or a
 * negative errno (logged where said).
 */
#ifndef BENCHFS_CHUNKSTORE_INT_H
#define BENCHFS_CHUNKSTORE_INT_H

#include "chunkstore.h"
#include "fdcache.h"

#include <liburing.h>

#define NBUCKETS 256

/* Beyond this many chunk indices, listing the bucket is cheaper than trying
 * every index: a sparse file's size says nothing about how many chunks exist
 * (one byte written at 1 PiB would mean 2^28 unlinks of 4 MiB chunks). */
#define REMOVE_BY_INDEX_MAX 256

struct cs_remover;
struct cs_cut;
struct cs_usage;
struct cs_job;
struct cs_jobs;

/* What an op in flight is (its CQE's user_data is the op). Not the wire
 * opcodes of common/proto.h. */
enum cs_op_kind { CS_READ, CS_WRITE, CS_SYNC, CS_SYNC_PART, CS_SYNC_OPEN, CS_WRITEBACK, CS_FALLOC,
                  CS_OPEN, CS_JOB /* a chunkstore_offload job held by a cut (arg) */ };

struct cs_op {
    enum cs_op_kind kind;
    struct fd_ent *ent;     /* READ/WRITE/WRITEBACK/FALLOC, and SYNC_PART of a chunk file */
    char *buf;
    size_t len, done;
    uint64_t off;
    int buf_index;          /* FALLOC: the mode, for the log line */
    ssize_t res;            /* SYNC: first error; done list: the result */
    unsigned pending;       /* SYNC: parts not completed (+1 while queueing) */
    int bucket;             /* SYNC_PART of a bucket dir, else -1 */
    struct cs_op *parent;   /* SYNC_PART, SYNC_OPEN: its SYNC */
    struct cs_op *waiters, *wtail;  /* OPEN: ops queued on ent's open, FIFO by next */
    struct cs_op *onext;    /* OPEN: the store's list of opens in flight */
    bool create;            /* OPEN: a waiter may create the chunk file */
    bool excl;              /* OPEN: this attempt is O_CREAT|O_EXCL */
    char name[48];          /* OPEN, SYNC_OPEN: the chunk file's name (cs_chunk_name) */
    struct fdcache_unsynced *todo;  /* SYNC: evicted chunks of the ino, not opened yet */
    uint32_t todo_pos;      /* SYNC: next one in todo */
    unsigned nopen;         /* SYNC: parts on sync_only entries in flight */
    unsigned sync_flags;    /* SYNC: IORING_FSYNC_DATASYNC or 0 (held: datasync) */
    uint64_t pino, pidx;    /* held by a cut (chunkcut.c): the chunk (a SYNC: the ino) */
    bool inlined;           /* WRITE: this attempt was a pwrite, not an SQE */
    int extra_fd;           /* held SYNC: the caller's extra fd */
    chunk_cb cb;
    void *arg;
    struct cs_op *next;     /* done list, free pool */
};

struct chunkstore {
    struct io_uring ring;
    bool ring_ok;
    int efd;
    int dirfd;                          /* DATA/chunks */
    char *path;                         /* DATA/chunks, for log lines */
    int bucket_fd[NBUCKETS];            /* opened when first synced or listed */
    bool bucket_dirty[NBUCKETS];        /* names created/removed since its last sync */
    struct chunkstore_opts o;

    char *bufmem;
    size_t buf_stride;
    bool registered;
    bool *buf_used;
    int *buf_free;
    unsigned nfree;

    struct fdcache fdc;                 /* open chunk files, unsynced set */
    struct cs_remover *remover;         /* the background removal thread */
    struct cs_remover *cutter;          /* the cut thread (truncates: chunkcut.c) */
    struct cs_cut *cuts, *cuts_tail;    /* cuts not done yet, oldest first */
    struct cs_usage *usage;             /* the usage count running (chunkusage.c), or NULL */
    struct cs_jobs *jobs;               /* the worker thread (chunkjobs.c), once started */

    struct cs_op *done_head, *done_tail;
    struct cs_op *pool;
    unsigned inflight;                  /* user ops whose callback has not run */
    unsigned sqes_out;                  /* SQEs queued or in the kernel, not reaped */
    struct cs_op *held_head, *held_tail;    /* completions for the next poll: held back by
                                             * cs_open_wait, and inline writes */
    bool holding;                       /* in cs_open_wait: reap runs only opens */
    struct cs_op *opens;                /* CS_OPEN ops in flight (by onext) */
    bool resubmitted;                   /* poll queued SQEs itself: submit them */
    bool wrote;                         /* anything to sync at close */
    bool inline_ok;                     /* the file system punts buffered writes (see chunkstore.c) */
    int64_t inline_pause_until;         /* monotonic ns: a slow inline write sent writes to the ring */
    uint64_t inline_writes, inline_slow;    /* counts, for the log at close */
};

/* ---- chunkstore.c: ops and the ring ---- */

/* A zeroed op (buf_index, bucket -1), or NULL when out of memory. */
struct cs_op *cs_op_new(struct chunkstore *cs, enum cs_op_kind kind, chunk_cb cb, void *arg);
/* Back to the pool; NULL is fine. */
void cs_op_free(struct chunkstore *cs, struct cs_op *op);
/* Drops op's fd reference, frees op, runs a user op's callback; returns 1. */
int cs_op_finish(struct chunkstore *cs, struct cs_op *op, ssize_t res);
/* Finishes op (res) from the next chunkstore_poll, never inside the caller. */
void cs_done_push(struct chunkstore *cs, struct cs_op *op, ssize_t res);
/* A free SQE (submitting what is queued when the SQ is full), or NULL. */
struct io_uring_sqe *cs_get_sqe(struct chunkstore *cs);
/* Submits once submit_depth SQEs are queued. */
void cs_maybe_submit(struct chunkstore *cs);

/* Queues the I/O of a READ, WRITE or FALLOC op whose op->ent is open (the
 * caller counted it in inflight). 0 or -errno (op untouched). */
int cs_op_start(struct chunkstore *cs, struct cs_op *op);
/* Gets op's chunk (ino, idx) (cs_ent_get_async) and queues its I/O now or once
 * the file is open. 0, or -errno (op untouched, no reference held). */
int cs_op_launch(struct chunkstore *cs, struct cs_op *op, uint64_t ino, uint64_t idx, bool create);
/* Blocking, for the store's blocking calls (seek, truncate, removals): runs the
 * ring until e (referenced by the caller) is no longer opening. Other
 * completions are held for the next chunkstore_poll: no callback runs here.
 * 0 or -errno from io_uring. */
int cs_open_wait(struct chunkstore *cs, struct fd_ent *e);

/* ---- syncgroup.c ---- */

/* The CQE of one fsync of a group; returns how many callbacks ran (0 or 1). */
int cs_sync_part_done(struct chunkstore *cs, struct cs_op *part, int res);
/* The CQE of the OPENAT of an evicted chunk to sync (a CS_SYNC_OPEN op); as above. */
int cs_sync_open_done(struct chunkstore *cs, struct cs_op *op, int res);

/* ---- chunkfiles.c ---- */

/* Name of chunk (ino, idx) relative to DATA/chunks; 48 bytes are enough. Any thread. */
void cs_chunk_name(char *name, size_t size, uint64_t ino, uint64_t idx);
/* ino's bucket directory (0..NBUCKETS-1). */
int cs_bucket_of(uint64_t ino);
/* Opens chunk (ino, idx) read-write; with create, makes it if missing (and
 * marks its bucket dirty). An fd, -ENOENT (not logged) or -errno (logged). On
 * EMFILE/ENFILE it evicts idle cached fds and tries again. */
int cs_chunk_open(struct chunkstore *cs, uint64_t ino, uint64_t idx, bool create);
/* Blocking: the cached entry of (ino, idx), opened if needed (waiting for an
 * open in flight), with a reference taken (give it back with fdcache_put).
 * -ENOENT when missing and !create. */
int cs_ent_get(struct chunkstore *cs, uint64_t ino, uint64_t idx, bool create,
               struct fd_ent **out);
/* Not blocking: gives op (a READ, WRITE or FALLOC, counted in inflight) the
 * entry of (ino, idx) in op->ent, with a reference. 0: it is open, queue the
 * I/O. 1: its open is in flight (an io_uring OPENAT, started here on a miss);
 * op waits on it and is started (cs_op_start) or finished with its error
 * when it completes. -errno: nothing taken. */
int cs_ent_get_async(struct chunkstore *cs, uint64_t ino, uint64_t idx, bool create,
                     struct cs_op *op);
/* The CQE of a CS_OPEN op; runs no callback (returns 0). */
int cs_open_done(struct chunkstore *cs, struct cs_op *op, int res);
/* Blocking: waits for the opens in flight of chunks [first, end) of ino, so a
 * removal cannot race a create that has not happened yet. */
void cs_opens_wait(struct chunkstore *cs, uint64_t ino, uint64_t first, uint64_t end);
/* Blocking only on opens in flight: forgets the cached fds and unsynced marks
 * of chunks [first, end) of ino (unsynced: all from first on), after the opens
 * in flight among them completed. */
void cs_forget_range(struct chunkstore *cs, uint64_t ino, uint64_t first, uint64_t end);
/* The store's fd of bucket directory b, opened on first use; -errno (logged). */
int cs_bucket_dir_fd(struct chunkstore *cs, int b);

/* ---- chunkcut.c ---- */

/* Starts the cut thread (journal DATA/chunk-cuts; what a killed server left is
 * redone, its chunks held as any cut's). 0 or -errno. */
int cs_cuts_start(struct chunkstore *cs, const char *data_dir);
/* Stops the thread (finishing its jobs) and frees the cuts. */
void cs_cuts_stop(struct chunkstore *cs);
/* 1 if chunk (ino, idx) is being cut: op (a READ, WRITE or FALLOC, counted in
 * inflight, no entry) now waits for it, then goes on through cs_op_launch or
 * finishes with its error. 0: not held. */
int cs_op_park(struct chunkstore *cs, struct cs_op *op, uint64_t ino, uint64_t idx, bool create);
/* 1 if a cut of ino is under way: the fsync is held (counted in inflight) and
 * made once it is done. 0: go ahead. -ENOMEM. */
int cs_sync_park(struct chunkstore *cs, uint64_t ino, int datasync, int extra_fd, chunk_cb cb,
                 void *arg);
/* From chunkstore_poll: cuts done are dropped, their ops resumed. Returns the
 * callbacks that ran. */
int cs_cuts_poll(struct chunkstore *cs);
bool cs_cuts_wants_poll(struct chunkstore *cs);
/* True while a cut is under way. */
bool cs_cuts_pending(struct chunkstore *cs);
/* Blocks (polling) until the cut thread is idle, then resumes the held ops. */
int cs_cuts_wait(struct chunkstore *cs);
/* True when a cut under way deletes chunk (ino, idx). */
bool cs_cut_gone(struct chunkstore *cs, uint64_t ino, uint64_t idx);

/* 1 if a cut of ino is under way: job (a chunkstore_offload's) waits for it,
 * then goes through cs_job_resume. 0: go ahead. -ENOMEM. */
int cs_job_park(struct chunkstore *cs, uint64_t ino, struct cs_job *job);

/* ---- chunkjobs.c ---- */

/* A job held by a cut goes to the worker (or waits for a later cut). */
void cs_job_resume(struct chunkstore *cs, struct cs_job *job);
/* True when finished jobs wait for cs_jobs_poll (no system call, no lock). */
bool cs_jobs_ready(struct chunkstore *cs);
/* From chunkstore_poll: the finished jobs' done callbacks; returns how many ran. */
int cs_jobs_poll(struct chunkstore *cs);
/* True while jobs are on the thread or finished and not polled. */
bool cs_jobs_pending(struct chunkstore *cs);
/* Blocks (polling) until no job is on the thread; runs their callbacks. */
int cs_jobs_wait(struct chunkstore *cs);
/* Stops the thread (after its queue) and runs what finished. */
void cs_jobs_stop(struct chunkstore *cs);

/* ---- chunkusage.c ---- */

/* True when the count running is done (no system call). */
bool cs_usage_ready(struct chunkstore *cs);
/* From chunkstore_poll: a finished count's callbacks; returns how many ran. */
int cs_usage_poll(struct chunkstore *cs);
/* Blocks (polling) until the count running is done, then as cs_usage_poll. */
int cs_usage_wait(struct chunkstore *cs);

/* ---- chunkremove.c ---- */

/* Any thread, blocking: deletes chunk files [first, end) of ino under dirfd
 * (DATA/chunks, named path in log lines), index by index over a short range,
 * from one listing of ino's bucket over a long one. How many were deleted, or
 * the first -errno (logged). Touches no store state. */
int cs_unlink_range(const char *path, int dirfd, uint64_t ino, uint64_t first, uint64_t end);
/* Opens DATA/<journal> (chunk-removals, or chunk-cuts with cuts), queues what a
 * killed server left in it, starts the thread (SCHED_IDLE; nice 10 with cuts). path,
 * dirfd (DATA/chunks) and loop_efd (signalled when the thread ran out of jobs;
 * with cuts, after each job) stay the caller's and must outlive it. */
int cs_remover_start(const char *data_dir, const char *journal, bool cuts, const char *path,
                     int dirfd, int loop_efd, struct cs_remover **out);
/* Notes the job in the journal, then queues it: delete chunks [first, end) of
 * ino, or with cut (> 0; cut thread only) cut chunk first to cut bytes and
 * delete the rest. *seq: the job's number (jobs finish in order). 0, -EINVAL or
 * -ENOMEM. The cs_remover_* calls but _unlink_range are the event loop's: the
 * thread shares only a ring of jobs and two counters with it, no lock. */
int cs_remover_queue(struct cs_remover *rm, uint64_t ino, uint64_t first, uint64_t end,
                     uint64_t cut, uint64_t *seq);
/* Jobs with a lower number are done (and, cut thread, marked so in the journal). */
uint64_t cs_remover_marked(struct cs_remover *rm);
/* fn for each job not marked done yet (queued, replayed or running), in order. */
void cs_remover_each(struct cs_remover *rm, void (*fn)(void *arg, uint64_t seq, uint64_t ino,
                                                      uint64_t first, uint64_t end, uint64_t cut),
                     void *arg);
/* Jobs queued or running. */
unsigned cs_remover_pending(struct cs_remover *rm);
/* From the loop's poll: hands backlog jobs to the thread as the ring frees up,
 * and empties the journal once every job in it is done (an ftruncate of a
 * small file, once per burst of removals). */
void cs_remover_poll(struct cs_remover *rm);
/* True when cs_remover_poll has something to do (no system call). */
bool cs_remover_wants_poll(struct cs_remover *rm);
/* The inodes of the jobs queued or running, ascending (may repeat): *inos
 * (malloc'd; NULL when none), *n. 0 or -ENOMEM. */
int cs_remover_inos(struct cs_remover *rm, uint64_t **inos, size_t *n);
/* Blocks (polling) until no job is queued or running. */
void cs_remover_wait(struct cs_remover *rm);
/* Finishes the queue, stops the thread, frees. NULL is fine. */
void cs_remover_stop(struct cs_remover *rm);

#endif
