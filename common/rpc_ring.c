/* rpc_ring.c - a lane's shared-memory receive ring: watched, and replaced
 * when it is stuck.
 *
 * A server killed in the middle of a reply to a lane leaves that lane's UCX
 * ring stuck (common/ringprobe.h): no reply from any local server reaches the
 * lane again. Seen here as a FUSE mount that answered nothing but ENOTCONN
 * after a server was killed and started again, until it was unmounted. So a
 * lane that loses a server, or whose call times out, pings its own ring (the
 * probe is opened then: most clients never need one); a ping still unread
 * RINGPROBE_DEADLINE_S later, right after the worker was progressed until it
 * found nothing, means the ring is stuck, and the lane gets a new worker:
 *   1. every call on the lane fails with -ENOTCONN, as if its server had gone
 *      (common/client.c sends again what is safe to send again);
 *   2. every endpoint is closed, and UCX is given a bounded while to finish
 *      what it still holds of the calls; what it has not is settled here, as
 *      the worker it belongs to is destroyed;
 *   3. a new worker (and context) takes the old one's place in the lane, with
 *      a new address: every server is connected to anew at the lane's next
 *      call there, and forgets the old connection (lane 0's locks with it,
 *      which common/client.c logs).
 * All under the lane's lock, by the thread leading the lane (or one that is
 * about to send and finds nobody leading), so no other thread is inside the
 * worker meanwhile.
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>

#include "clock.h"
#include "log.h"
#include "ringprobe.h"
#include "rpc_int.h"

#define DRAIN_ROUNDS 64        /* progress calls before judging the ring, at most (as ucx_worker_arm) */
#define SETTLE_S 1.0           /* how long UCX may take to give back a dropped worker's calls */
#define REOPEN_S 1.0           /* a worker that could not be opened is tried again this often */

void rpc_ring_suspect(struct rpc_lane *ln)
{
    ln->ring_suspect = 1;
}

/* Step 2 (above): the old worker's endpoints closed, its calls settled. */
static void drop_calls(struct rpc_lane *ln)
{
    rpc_fail_calls(ln, UINT32_MAX, -ENOTCONN);
    for (uint32_t i = 0; i < ln->rc->nodes; i++) {
        struct node_conn *nc = &ln->conn[i];
        rpc_close_ep(ln, nc);
        atomic_store(&nc->up, 0);
        atomic_store(&nc->failed, 1);
        nc->client = 0;
    }
    /* Cancelled sends and forced closes finish in the worker's progress. */
    double give_up = bfs_mono_s() + SETTLE_S;
    while ((ln->sending || ln->closing_eps) && bfs_mono_s() < give_up)
        ucp_worker_progress(ln->w.worker);
    unsigned left = 0;
    for (struct rpc_call *c = ln->live; c; c = c->lnext) {
        if (c->send_done && !c->recv_pending)
            continue;
        left++;
        c->send_done = 1;
        c->send_req = NULL;
        c->recv_pending = 0;
        c->reply_ep = NULL;
        if (c->status == 0)
            c->status = -ENOTCONN;
    }
    if (left)
        log_warn("lane %u: %u calls still held by the old worker after %.0f s; dropped with it",
                 ln->index, left, SETTLE_S);
    for (uint32_t i = 0; i < ln->rc->nodes; i++)
        ln->conn[i].poke_req = NULL;   /* freed with the worker */
    ln->sending = 0;
    ln->closing_eps = 0;
    pthread_cond_broadcast(&ln->cond);
}

static void renew(struct rpc_lane *ln)
{
    log_error("lane %u: this client's shared-memory receive queue is stuck (a server killed in "
              "the middle of a reply?): no local server can answer it; failing its calls in "
              "flight and opening a new UCX worker", ln->index);
    drop_calls(ln);
    rpc_lane_worker_close(ln);
    ln->ring_suspect = 0;
    ln->renewals++;
    if (rpc_lane_worker_open(ln) == 0) {
        log_note("lane %u: new UCX worker open; servers are connected to anew", ln->index);
    } else {
        ln->reopen_at = bfs_mono_s() + REOPEN_S;
        log_error("lane %u: cannot open a new UCX worker: its calls fail until one opens",
                  ln->index);
    }
}

int rpc_ring_check(struct rpc_lane *ln, double now, int *timeout_ms)
{
    if (!ln->w.worker)
        return 0;
    if (ln->ring_suspect) {
        ln->ring_suspect = 0;
        if (!ln->probe) {
            int rc = ringprobe_open(ln->w.ctx, ln->w.worker, 1, &ln->probe);
            if (rc < 0) {
                log_warn("lane %u: cannot look at the shared-memory receive queue (%s): a server "
                         "killed in the middle of a reply may leave this client deaf",
                         ln->index, strerror(-rc));
                return 0;
            }
        }
        ringprobe_kick(ln->probe);
    }
    if (!ringprobe_poll(ln->probe, now, timeout_ms))
        return 0;
    renew(ln);
    return 1;
}

void rpc_ring_before_send(struct rpc_lane *ln)
{
    if (ln->leader)
        return;   /* the leader looks at it when it runs out of work */
    if (!ln->w.worker) {
        double now = bfs_mono_s();
        if (now < ln->reopen_at)
            return;
        if (rpc_lane_worker_open(ln) == 0)
            log_note("lane %u: new UCX worker open; servers are connected to anew", ln->index);
        else
            ln->reopen_at = now + REOPEN_S;
        return;
    }
    if (!ln->ring_suspect && !ringprobe_busy(ln->probe))
        return;
    /* As the leader would: progress the worker (so that a ping waiting in a
     * ring that moves is read), then judge. */
    ln->leader = 1;
    for (int i = 0; i < DRAIN_ROUNDS && ucp_worker_progress(ln->w.worker); i++)
        ;
    int ms = -1;
    rpc_ring_check(ln, bfs_mono_s(), &ms);
    ln->leader = 0;
    pthread_cond_broadcast(&ln->cond);
}
