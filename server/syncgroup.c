/* syncgroup.c - chunkstore_fsync (chunkstore.h): one fsync group per call.
 *
 * A group (a CS_SYNC op) is the parts it queues, each one io_uring fsync (a
 * CS_SYNC_PART op): every cached chunk file of the ino written since its last
 * sync, the evicted ones from the fd cache's unsynced set (opened again by an
 * io_uring OPENAT, a CS_SYNC_OPEN op, at most SYNC_OPEN_MAX at a time: the loop
 * never waits for an open), the ino's bucket directory if names changed in it,
 * and the caller's extra fd. The group's callback runs once every part has
 * completed, with the first error. A part that fails marks what it synced
 * unsynced again, so the next fsync retries it.
 */
#include "chunkstore_int.h"

#include "../common/log.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#define SYNC_OPEN_MAX 64             /* evicted chunk files one fsync has open at once */

/* Queues one fsync of a group; a failure to queue counts as the group's error.
 * 0 if queued. */
static int sync_part(struct chunkstore *cs, struct cs_op *p, int fd, unsigned flags,
                     struct fd_ent *e, int bucket)
{
    struct cs_op *part = cs_op_new(cs, CS_SYNC_PART, NULL, NULL);
    struct io_uring_sqe *sqe = part ? cs_get_sqe(cs) : NULL;
    if (!sqe) {
        int r = part ? -EBUSY : -ENOMEM;
        log_error("chunkstore: cannot queue fsync: %s", strerror(-r));
        if (e) fdcache_mark_unsynced(&cs->fdc, e->ino, e->idx);
        if (bucket >= 0) cs->bucket_dirty[bucket] = true;
        if (!p->res) p->res = r;
        cs_op_free(cs, part);
        return r;
    }
    if (e)
        fdcache_ref(&cs->fdc, e);
    part->ent = e;
    part->bucket = bucket;
    part->parent = p;
    p->pending++;
    io_uring_prep_fsync(sqe, fd, flags);
    io_uring_sqe_set_data(sqe, part);
    cs->sqes_out++;
    cs_maybe_submit(cs);
    return 0;
}

/* Queues the io_uring OPENAT of evicted chunk op->pino, op->pidx (a
 * CS_SYNC_OPEN op of group op->parent). 0 or -EBUSY. */
static int open_queue(struct chunkstore *cs, struct cs_op *op)
{
    struct io_uring_sqe *sqe = cs_get_sqe(cs);
    if (!sqe)
        return -EBUSY;
    io_uring_prep_openat(sqe, cs->dirfd, op->name, O_RDWR | O_CLOEXEC, 0);
    io_uring_sqe_set_data(sqe, op);
    cs->sqes_out++;
    cs_maybe_submit(cs);
    return 0;
}

/* The evicted chunk (ino, idx) of group p could not be synced (err): a later
 * fsync tries again. */
static void evicted_failed(struct chunkstore *cs, struct cs_op *p, uint64_t ino, uint64_t idx,
                           int err)
{
    if (!p->res)
        p->res = err;
    fdcache_mark_unsynced(&cs->fdc, ino, idx);
}

/* Queues syncs of the evicted chunks in p->todo, opening each file again
 * through io_uring (OPENAT, then its fsync: cs_sync_open_done). At most
 * SYNC_OPEN_MAX are open or opening at once (a big file may have thousands):
 * each completion calls this again for the next. */
static void sync_evicted(struct chunkstore *cs, struct cs_op *p)
{
    struct fdcache_unsynced *u = p->todo;
    if (!u)
        return;
    while (p->todo_pos < u->n && p->nopen < SYNC_OPEN_MAX) {
        uint64_t idx = u->idx[p->todo_pos++];
        struct cs_op *op = cs_op_new(cs, CS_SYNC_OPEN, NULL, NULL);
        int r = op ? 0 : -ENOMEM;
        if (op) {
            op->parent = p;
            op->pino = u->ino;
            op->pidx = idx;
            cs_chunk_name(op->name, sizeof op->name, u->ino, idx);
            r = open_queue(cs, op);
        }
        if (r < 0) {
            log_error("chunkstore: cannot queue the open of evicted chunk ino %016llx idx %llu "
                      "to sync it: %s", (unsigned long long)u->ino, (unsigned long long)idx,
                      strerror(-r));
            cs_op_free(cs, op);
            evicted_failed(cs, p, u->ino, idx, r);
            continue;
        }
        p->pending++;
        p->nopen++;
    }
    cs->resubmitted = true;   /* from a completion: poll submits what was queued */
    if (p->todo_pos == u->n) {
        fdcache_unsynced_free(u);
        p->todo = NULL;
    }
}

int cs_sync_open_done(struct chunkstore *cs, struct cs_op *op, int res)
{
    struct cs_op *p = op->parent;
    /* Out of fds: give back an idle cached one and try again. */
    if ((res == -EMFILE || res == -ENFILE) && fdcache_evict_one(&cs->fdc) && open_queue(cs, op) == 0) {
        cs->resubmitted = true;
        return 0;
    }
    p->nopen--;
    if (res >= 0) {
        /* Out of the table, so closed when its sync completes. */
        struct fd_ent *e = fdcache_detached(op->pino, op->pidx, res);
        if (!e) {
            close(res);
            evicted_failed(cs, p, op->pino, op->pidx, -ENOMEM);
        } else {
            if (sync_part(cs, p, res, p->sync_flags, e, -1) == 0)
                p->nopen++;
            fdcache_put(&cs->fdc, e);
        }
    } else if (res != -ENOENT) {   /* ENOENT: removed since, nothing to sync */
        log_error("chunkstore: open %s/%s to sync it: %s", cs->path, op->name, strerror(-res));
        evicted_failed(cs, p, op->pino, op->pidx, res);
    }
    cs_op_free(cs, op);
    sync_evicted(cs, p);
    cs->resubmitted = true;
    if (--p->pending)
        return 0;
    return cs_op_finish(cs, p, p->res);
}

int cs_sync_part_done(struct chunkstore *cs, struct cs_op *part, int res)
{
    struct cs_op *p = part->parent;
    if (res < 0) {
        if (part->ent) {
            log_error("chunkstore: fsync of chunk ino %016llx idx %llu: %s",
                      (unsigned long long)part->ent->ino, (unsigned long long)part->ent->idx,
                      strerror(-res));
            /* a later fsync tries again */
            fdcache_mark_unsynced(&cs->fdc, part->ent->ino, part->ent->idx);
        } else if (part->bucket >= 0) {
            log_error("chunkstore: fsync of %s/%02x: %s", cs->path, part->bucket, strerror(-res));
            cs->bucket_dirty[part->bucket] = true;
        } else {
            log_error("chunkstore: fsync of extra fd: %s", strerror(-res));
        }
        if (!p->res)
            p->res = res;
    }
    if (part->ent) {
        if (part->ent->sync_only)
            p->nopen--;
        fdcache_put(&cs->fdc, part->ent);   /* closes a sync_only fd */
    }
    cs_op_free(cs, part);
    sync_evicted(cs, p);   /* the fd slot is free for the next evicted chunk */
    if (--p->pending)
        return 0;
    return cs_op_finish(cs, p, p->res);
}

struct dirty_ctx {
    struct chunkstore *cs;
    struct cs_op *p;
    unsigned flags;
};

static void sync_dirty(void *arg, struct fd_ent *e)
{
    struct dirty_ctx *c = arg;
    sync_part(c->cs, c->p, e->fd, c->flags, e, -1);
}

int chunkstore_fsync(struct chunkstore *cs, uint64_t ino, int datasync, int extra_fd,
                     chunk_cb cb, void *arg)
{
    /* After the cuts of ino under way: their deletions and cut are what it syncs. */
    int held = cs_sync_park(cs, ino, datasync, extra_fd, cb, arg);
    if (held)
        return held < 0 ? held : 0;
    struct cs_op *p = cs_op_new(cs, CS_SYNC, cb, arg);
    if (!p)
        return -ENOMEM;
    p->pending = 1;   /* held while queueing, so no part can finish the group early */
    cs->inflight++;
    unsigned flags = datasync ? IORING_FSYNC_DATASYNC : 0;

    /* The cached chunk files of ino written since their last sync. The flag is
     * cleared now: a write completing later sets it again for the next fsync. */
    fdcache_take_dirty(&cs->fdc, ino, sync_dirty, &(struct dirty_ctx){ cs, p, flags });
    /* Then those evicted unsynced. After the loop above, not before: its dirty
     * entries are now held by their syncs, so an eviction by the opens below
     * (on EMFILE) cannot move one of them into the set behind our back. */
    p->todo = fdcache_unsynced_detach(&cs->fdc, ino);
    p->sync_flags = flags;
    sync_evicted(cs, p);
    /* All chunks of ino live in one bucket: sync it if names changed there, so
     * new chunk files are found after a crash. Directories get a full fsync. */
    int b = cs_bucket_of(ino);
    if (cs->bucket_dirty[b]) {
        int dfd = cs_bucket_dir_fd(cs, b);
        if (dfd < 0) {
            if (!p->res)
                p->res = dfd;
        } else {
            cs->bucket_dirty[b] = false;
            sync_part(cs, p, dfd, 0, NULL, b);
        }
    }
    if (extra_fd >= 0)
        sync_part(cs, p, extra_fd, flags, NULL, -1);
    if (--p->pending == 0)
        cs_done_push(cs, p, p->res);
    return 0;
}
