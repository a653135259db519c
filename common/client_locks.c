/* client_locks.c - the lock calls of the client library (see client.h): one
 * OP_LOCK to the inode's owner server; a wait is one call without deadline
 * that the server answers when the lock is granted (or OP_LOCK_CANCEL ends it). */
#include "client.h"
#include "client_int.h"

#include <errno.h>
#include <stdatomic.h>

#include "placement.h"

static _Atomic uint64_t next_wait_id;

void bfs_lock_wait_init(struct bfs_lock_wait *w, uint64_t ino)
{
    w->id = atomic_fetch_add(&next_wait_id, 1) + 1;   /* never 0: 0 is "no wait" */
    w->ino = ino;
    atomic_store(&w->cancelled, 0);
}

static void prep_lock(struct bfs_client *c, struct rpc_call *call, const struct bfs_lock *l,
                      uint32_t flags)
{
    bfs_call_prep(call, place_inode(l->ino, bfs_client_nodes(c)), OP_LOCK);
    call->args.ino = l->ino;
    call->args.cookie = l->owner;
    call->args.off = l->start;
    call->args.size = l->end;
    call->args.mode = l->type;
    call->args.uid = l->pid;
    call->args.flags = flags | (l->flock ? BFS_LOCK_FLOCK : 0);
}

int bfs_lock(struct bfs_client *c, const struct bfs_lock *l, struct bfs_lock_wait *w)
{
    struct bfs_attr attr;
    return bfs_lock_attr(c, l, w, &attr);
}

int bfs_lock_attr(struct bfs_client *c, const struct bfs_lock *l, struct bfs_lock_wait *w,
                  struct bfs_attr *attr)
{
    attr->ino = 0;
    struct rpc_call call;
    int rc;
    if (l->type > BFS_LOCK_WR)
        return -EINVAL;
    if (!w || l->type == BFS_LOCK_UN) {
        prep_lock(c, &call, l, 0);
        rc = bfs_call_run(c, &call, 1);
        rc = rc < 0 ? rc : call.status;
    } else {
        if (atomic_load(&w->cancelled))
            return -EINTR;
        prep_lock(c, &call, l, BFS_LOCK_WAIT);
        call.args.intent = w->id;
        rc = client_run_wait(c, &call);
    }
    if (rc == 0 && l->type != BFS_LOCK_UN) {
        client_note_lock(c, call.node);
        *attr = call.reply.attr;
    }
    return rc;
}

int bfs_lock_cancel(struct bfs_client *c, struct bfs_lock_wait *w)
{
    atomic_store(&w->cancelled, 1);
    struct rpc_call call;
    bfs_call_prep(&call, place_inode(w->ino, bfs_client_nodes(c)), OP_LOCK_CANCEL);
    call.args.ino = w->ino;
    call.args.intent = w->id;
    int rc = bfs_call_run(c, &call, 1);
    return rc < 0 ? rc : call.status;
}

int bfs_getlk(struct bfs_client *c, struct bfs_lock *l)
{
    struct rpc_call call;
    if (l->type == BFS_LOCK_UN || l->type > BFS_LOCK_WR)
        return -EINVAL;
    prep_lock(c, &call, l, BFS_LOCK_TEST);
    int rc = bfs_call_run(c, &call, 1);
    if (rc == 0)
        rc = call.status;
    if (rc == 0) {
        l->type = call.reply.mode;
        if (l->type != BFS_LOCK_UN) {
            l->start = call.reply.off;
            l->end = call.reply.size;
            l->pid = call.reply.uid;
            l->owner = 0;
        }
    }
    return rc;
}

int bfs_unlock_owner(struct bfs_client *c, uint64_t ino, uint64_t owner, int flock)
{
    struct bfs_lock l = { .ino = ino, .owner = owner, .start = 0, .end = BFS_LOCK_EOF,
                          .type = BFS_LOCK_UN, .flock = flock };
    return bfs_lock(c, &l, NULL);
}
