/* chunkcut.c - truncating a live file's chunks without blocking the event loop
 * (chunkstore_truncate; issue 12), and what ops see while a cut is under way.
 *
 * A truncate forgets the cached fds of the chunks past the new size, notes a
 * job in DATA/chunk-cuts and hands it to the cut thread (chunkremove.c), which
 * unlinks those chunk files and cuts the one the new size falls in; the reply
 * goes out at once. Until the job is done and marked done in the journal, its
 * chunks [first, end) are "being cut": a read, write or fallocate of one waits
 * on the cut (cs_op_park), and so does an fsync of the inode, so no op ever
 * sees a chunk the thread has not reached yet, and a redone cut (replay after
 * kill -9) can never undo a write: no write happened after a cut not marked.
 * Jobs on the worker (chunkstore_offload: seek) wait for the inode's cuts too;
 * a scan (fsck) leaves out the chunks a cut deletes (cs_cut_gone).
 */
#include "chunkstore_int.h"

#include "../common/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct cs_cut {
    uint64_t ino, first, end;   /* chunks [first, end) of ino are being cut */
    uint64_t len;               /* chunk first is cut to len bytes; 0: unlinked too */
    uint64_t seq;               /* the cut thread's job */
    struct cs_op *waiters, *wtail;   /* ops held until it is done, FIFO by next */
    struct cs_cut *next;        /* the store's list, by seq */
};

static uint64_t chunks_for(const struct chunkstore *cs, uint64_t size)
{
    return size / cs->o.chunk_size + (size % cs->o.chunk_size != 0);
}

static int cut_add(struct chunkstore *cs, uint64_t seq, uint64_t ino, uint64_t first,
                   uint64_t end, uint64_t len)
{
    struct cs_cut *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    *c = (struct cs_cut){ .ino = ino, .first = first, .end = end, .len = len, .seq = seq };
    if (cs->cuts_tail) cs->cuts_tail->next = c; else cs->cuts = c;
    cs->cuts_tail = c;
    return 0;
}

/* The latest cut of ino whose chunks hold idx (any chunk if idx is UINT64_MAX). */
static struct cs_cut *cut_find(struct chunkstore *cs, uint64_t ino, uint64_t idx)
{
    struct cs_cut *found = NULL;
    for (struct cs_cut *c = cs->cuts; c; c = c->next)
        if (c->ino == ino && (idx == UINT64_MAX || (idx >= c->first && idx < c->end)))
            found = c;
    return found;
}

struct replayed { struct chunkstore *cs; int err; };

static void add_replayed(void *arg, uint64_t seq, uint64_t ino, uint64_t first, uint64_t end,
                         uint64_t cut)
{
    struct replayed *rp = arg;
    if (!rp->err)
        rp->err = cut_add(rp->cs, seq, ino, first, end, cut);
}

int cs_cuts_start(struct chunkstore *cs, const char *data_dir)
{
    int r = cs_remover_start(data_dir, "chunk-cuts", true, cs->path, cs->dirfd, cs->efd,
                             &cs->cutter);
    if (r < 0)
        return r;
    /* What a killed server left is being redone: ops wait for it as for any cut. */
    struct replayed rp = { cs, 0 };
    cs_remover_each(cs->cutter, add_replayed, &rp);
    if (rp.err)
        return rp.err;
    if (cs->cuts) {   /* names go, and a clean stop syncs them */
        cs->wrote = true;
        for (struct cs_cut *c = cs->cuts; c; c = c->next)
            cs->bucket_dirty[cs_bucket_of(c->ino)] = true;
    }
    return 0;
}

void cs_cuts_stop(struct chunkstore *cs)
{
    cs_remover_stop(cs->cutter);
    cs->cutter = NULL;
    while (cs->cuts) {   /* none has waiters left: the store drained */
        struct cs_cut *c = cs->cuts;
        cs->cuts = c->next;
        free(c);
    }
    cs->cuts_tail = NULL;
}

int chunkstore_truncate(struct chunkstore *cs, uint64_t ino, uint64_t old_size, uint64_t new_size)
{
    if (new_size >= old_size)   /* growing: the new bytes are a hole and read as zeros */
        return 0;
    uint64_t len = new_size % cs->o.chunk_size;
    uint64_t first = new_size / cs->o.chunk_size, end = chunks_for(cs, old_size);
    if (end <= first)
        return 0;   /* (not when new_size < old_size: end > first) */
    /* The cut chunk keeps its fd (and what it owes the next fsync); the rest go. */
    cs_forget_range(cs, ino, first + !!len, end);
    uint64_t seq;
    int r = cs_remover_queue(cs->cutter, ino, first, end, len, &seq);
    if (r == 0 && (r = cut_add(cs, seq, ino, first, end, len)) < 0) {
        /* Queued, but ops cannot be held for it: wait here rather than race it. */
        log_error("chunkstore: ino %016llx: out of memory for a cut; waiting for it",
                  (unsigned long long)ino);
        cs_remover_wait(cs->cutter);
        r = 0;
    }
    if (r < 0) {
        log_error("chunkstore: ino %016llx: cannot queue the cut of chunks [%llu, %llu): %s",
                  (unsigned long long)ino, (unsigned long long)first, (unsigned long long)end,
                  strerror(-r));
        return r;
    }
    cs->bucket_dirty[cs_bucket_of(ino)] = true;   /* names go soon; an fsync waits for them */
    cs->wrote = true;
    return 0;
}

static void waiter_add(struct cs_cut *c, struct cs_op *op)
{
    op->next = NULL;
    if (c->wtail) c->wtail->next = op; else c->waiters = op;
    c->wtail = op;
}

int cs_op_park(struct chunkstore *cs, struct cs_op *op, uint64_t ino, uint64_t idx, bool create)
{
    struct cs_cut *c = cs->cuts ? cut_find(cs, ino, idx) : NULL;
    if (!c)
        return 0;
    op->pino = ino;
    op->pidx = idx;
    op->create = create;
    waiter_add(c, op);
    return 1;
}

int cs_sync_park(struct chunkstore *cs, uint64_t ino, int datasync, int extra_fd, chunk_cb cb,
                 void *arg)
{
    struct cs_cut *c = cs->cuts ? cut_find(cs, ino, UINT64_MAX) : NULL;
    if (!c)
        return 0;
    struct cs_op *op = cs_op_new(cs, CS_SYNC, cb, arg);
    if (!op)
        return -ENOMEM;
    op->pino = ino;
    op->sync_flags = (unsigned)datasync;
    op->extra_fd = extra_fd;
    cs->inflight++;
    waiter_add(c, op);
    return 1;
}

int cs_job_park(struct chunkstore *cs, uint64_t ino, struct cs_job *job)
{
    struct cs_cut *c = cs->cuts ? cut_find(cs, ino, UINT64_MAX) : NULL;
    if (!c)
        return 0;
    struct cs_op *op = cs_op_new(cs, CS_JOB, NULL, job);
    if (!op)
        return -ENOMEM;
    waiter_add(c, op);
    return 1;
}

/* A held op goes on as if it came now (it may be held again by a later cut). */
static int resume(struct chunkstore *cs, struct cs_op *op)
{
    if (op->kind == CS_JOB) {
        struct cs_job *job = op->arg;
        cs_op_free(cs, op);
        cs_job_resume(cs, job);
        return 0;
    }
    if (op->kind != CS_SYNC) {
        if (cs_op_park(cs, op, op->pino, op->pidx, op->create))
            return 0;
        int r = cs_op_launch(cs, op, op->pino, op->pidx, op->create);
        if (r < 0)
            cs_done_push(cs, op, r);
        return 0;
    }
    uint64_t ino = op->pino;
    int datasync = (int)op->sync_flags, extra_fd = op->extra_fd;
    chunk_cb cb = op->cb;
    void *arg = op->arg;
    cs->inflight--;
    cs_op_free(cs, op);
    int r = chunkstore_fsync(cs, ino, datasync, extra_fd, cb, arg);
    if (r < 0 && cb)
        cb(arg, r);   /* from the store's poll, where callbacks run */
    return r < 0;
}

int cs_cuts_poll(struct chunkstore *cs)
{
    if (!cs->cutter)
        return 0;
    cs_remover_poll(cs->cutter);
    uint64_t marked = cs_remover_marked(cs->cutter);
    int ran = 0;
    while (cs->cuts && cs->cuts->seq < marked) {
        struct cs_cut *c = cs->cuts;
        cs->cuts = c->next;
        if (!cs->cuts)
            cs->cuts_tail = NULL;
        /* The cut chunk's new length reaches the disk with the inode's next fsync. */
        if (c->len)
            fdcache_mark_unsynced(&cs->fdc, c->ino, c->first);
        for (struct cs_op *op = c->waiters, *next; op; op = next) {
            next = op->next;
            ran += resume(cs, op);
        }
        cs->resubmitted = true;   /* poll submits what the held ops queued */
        free(c);
    }
    return ran;
}

bool cs_cuts_wants_poll(struct chunkstore *cs)
{
    return cs_remover_wants_poll(cs->cutter);
}

bool cs_cuts_pending(struct chunkstore *cs)
{
    return cs->cuts != NULL;
}

int cs_cuts_wait(struct chunkstore *cs)
{
    if (!cs->cutter)
        return 0;
    cs_remover_wait(cs->cutter);
    return cs_cuts_poll(cs);
}

bool cs_cut_gone(struct chunkstore *cs, uint64_t ino, uint64_t idx)
{
    for (struct cs_cut *c = cs->cuts; c; c = c->next)
        if (c->ino == ino && idx >= c->first && idx < c->end && (idx > c->first || !c->len))
            return true;
    return false;
}
