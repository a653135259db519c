/* syncgroup.c - chunkstore_fsync (chunkstore.h): one fsync group per call.
 *
 * A group (a CS_SYNC op) is the parts it queues, each one io_uring fsync (a
 * CS_SYNC_PART op): every cached chunk file of the ino written since its last
 * sync, the evicted ones from the fd cache's unsynced set (opened again, at most
 * SYNC_OPEN_MAX at a time), the ino's bucket directory if names changed in it,
 * and the caller's extra fd. The group's callback runs once every part has
 * completed, with the first error. A part that fails marks what it synced
 * unsynced again, so the next fsync retries it.
 */
#include "chunkstore_int.h"

#include "../common/log.h"

#include <errno.h>
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

/* Queues syncs of the evicted chunks in p->todo, opening each file again. At
 * most SYNC_OPEN_MAX are open at once (a big file may have thousands): each
 * completion calls this again for the next. */
static void sync_evicted(struct chunkstore *cs, struct cs_op *p)
{
    struct fdcache_unsynced *u = p->todo;
    if (!u)
        return;
    while (p->todo_pos < u->n && p->nopen < SYNC_OPEN_MAX) {
        uint64_t idx = u->idx[p->todo_pos++];
        int fd = cs_chunk_open(cs, u->ino, idx, false);
        if (fd == -ENOENT)
            continue;   /* removed since: nothing to sync */
        /* Out of the table, so closed when its sync completes. */
        struct fd_ent *e = fd >= 0 ? fdcache_detached(u->ino, idx, fd) : NULL;
        if (!e) {
            if (fd >= 0)
                close(fd);
            if (!p->res)
                p->res = fd >= 0 ? -ENOMEM : fd;
            fdcache_mark_unsynced(&cs->fdc, u->ino, idx);
            continue;
        }
        if (sync_part(cs, p, fd, p->sync_flags, e, -1) == 0)
            p->nopen++;
        fdcache_put(&cs->fdc, e);
    }
    cs->resubmitted = true;   /* from a completion: poll submits what was queued */
    if (p->todo_pos == u->n) {
        fdcache_unsynced_free(u);
        p->todo = NULL;
    }
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
