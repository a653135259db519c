/* rpc.c - client side of BenchFS RPC: sending calls and waiting for them on a
 * lane (see rpc.h for the threading model, rpc_int.h for lanes; rpc_conn.c
 * makes the lanes and their endpoints). */
#include "rpc.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include "byteorder.h"
#include "clock.h"
#include "log.h"
#include "rpc_int.h"
#include "ucx.h"

#define CANCEL_GRACE_S 2.0      /* after a deadline, how long UCX may take to give buffers back */
#define GIVE_UP_S 10.0          /* ... and past that, how long before we stop waiting for it */
#define POKE_S 0.002            /* a call unanswered this long gets its server probed */
#define LONG_WAIT_WAKE_S 0.5    /* with only rpc_run_wait calls out: progress this often (keepalive) */

/* One rpc_run's promise to call the wait hook at most once, after hook_at. */
struct hook_due {
    double at;
    int done;
};

static void hook_check(struct rpc_lane *ln, struct hook_due *h, double t)
{
    struct rpc_client *rc = ln->rc;
    if (!h->done && rc->wait_hook && t >= h->at) {
        h->done = 1;
        rc->wait_hook(rc->wait_hook_arg);
    }
}

static void table_insert(struct rpc_lane *ln, struct rpc_call *call)
{
    struct rpc_call **b = &ln->table[call->id % RPC_TABLE_SIZE];
    call->hnext = *b;
    *b = call;
}

static struct rpc_call *table_take(struct rpc_lane *ln, uint64_t id)
{
    for (struct rpc_call **p = &ln->table[id % RPC_TABLE_SIZE]; *p; p = &(*p)->hnext) {
        if ((*p)->id == id) {
            struct rpc_call *c = *p;
            *p = c->hnext;
            c->hnext = NULL;
            return c;
        }
    }
    return NULL;
}

/* Marks a call answered (or failed) and wakes the threads waiting for theirs. */
static void finish(struct rpc_lane *ln, struct rpc_call *call, int status)
{
    call->status = status;
    call->done = 1;
    pthread_cond_broadcast(&ln->cond);
}

static int call_settled(const struct rpc_call *c)
{
    return c->done && c->send_done && !c->recv_pending;
}

static int all_settled(const struct rpc_call *calls, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!call_settled(&calls[i]))
            return 0;
    return 1;
}

void rpc_fail_calls(struct rpc_lane *ln, uint32_t node, int status)
{
    for (int b = 0; b < RPC_TABLE_SIZE; b++) {
        for (struct rpc_call **p = &ln->table[b]; *p;) {
            struct rpc_call *c = *p;
            if (node != UINT32_MAX && c->node != node) {
                p = &c->hnext;
                continue;
            }
            *p = c->hnext;
            c->hnext = NULL;
            finish(ln, c, status);
        }
    }
}

/* The lane's list of calls sent and not yet returned to their callers, which
 * a new worker must settle (rpc_ring.c). */
static void live_link(struct rpc_lane *ln, struct rpc_call *call)
{
    call->lnext = ln->live;
    call->lprev = &ln->live;
    if (ln->live)
        ln->live->lprev = &call->lnext;
    ln->live = call;
}

static void live_unlink(struct rpc_call *call)
{
    if (!call->lprev)
        return;
    *call->lprev = call->lnext;
    if (call->lnext)
        call->lnext->lprev = call->lprev;
    call->lnext = NULL;
    call->lprev = NULL;
}

/* ---- UCX callbacks (run inside ucp_worker_progress, under ln->lock) ---- */

void rpc_ep_error_cb(void *arg, ucp_ep_h ep, ucs_status_t status)
{
    struct node_conn *nc = arg;
    struct rpc_lane *ln = nc->ln;
    (void)ep;
    log_at(ln->rc->closing ? LOG_DEBUG : LOG_WARN, "server node %u: connection lost (lane %u): %s",
           nc->node, ln->index, ucs_status_string(status));
    nc->failed = 1;
    /* Every lane's endpoint to a server dies with it, but UCX tells each
     * worker only when that worker is progressed, and an idle lane is not:
     * the client's reconnect (common/client.c) asks lane 0 alone. So a lane
     * that learns the server is gone says so for lane 0 too, if both talk to
     * the same address of it; the reconnect then gives the node a new
     * generation, and every lane connects anew before its next call there
     * (rpc_conn_usable), instead of each failing once on its own dead endpoint. */
    struct node_conn *primary = &ln->rc->lanes[0].conn[nc->node];
    if (ln->index != 0 && atomic_load(&primary->gen) == atomic_load(&nc->gen))
        atomic_store(&primary->failed, 1);
    rpc_fail_calls(ln, nc->node, -ENOTCONN);
    /* It may have died in the middle of a reply to us, which leaves our
     * shared-memory ring stuck for every server (rpc_ring.c). */
    if (!ln->rc->closing)
        rpc_ring_suspect(ln);
}

static void send_cb(void *request, ucs_status_t status, void *user_data)
{
    struct rpc_call *call = user_data;
    struct rpc_lane *ln = call->lane;
    ucp_request_free(request);
    call->send_req = NULL;
    call->send_done = 1;
    ln->sending--;
    /* A failed send gets no reply: settle the call now rather than at its timeout. */
    if (status != UCS_OK && !call->done && table_take(ln, call->id))
        finish(ln, call, status == UCS_ERR_CANCELED ? -ETIMEDOUT : ucx_errno(status));
    else if (call->done)
        pthread_cond_broadcast(&ln->cond);
}

static void recv_cb(void *request, ucs_status_t status, size_t length, void *user_data)
{
    struct rpc_call *call = user_data;
    ucp_request_free(request);
    call->recv_pending = 0;
    call->reply_ep = NULL;
    /* A call given up on at its deadline keeps that status (-ETIMEDOUT). */
    if (call->status == 0) {
        if (status != UCS_OK)
            call->status = ucx_errno(status);
        else
            call->rdata_len = length;
    }
    pthread_cond_broadcast(&call->lane->cond);
}

/* Receives a rendezvous reply's bulk straight into the caller's buffer.
 * Returns what the AM handler returns to UCX, and sets *status on failure. */
static ucs_status_t recv_rndv(struct rpc_lane *ln, struct rpc_call *call, void *data, size_t length,
                              const ucp_am_recv_param_t *param, int *status)
{
    ucp_request_param_t rp = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
        .cb.recv_am = recv_cb,
        .user_data = call,
    };
    if (ln->rc->fault == 1) {
        /* Tests only: as if the receive could not be started. The descriptor
         * is then released by returning UCS_OK (ucp.h: a rendezvous handler
         * that starts no receive and returns UCS_OK lets UCX drop the data). */
        log_warn("request %llu (%s): BENCHFS_FAULT=client-recv-fail: not receiving %zu bytes",
                 (unsigned long long)call->id, proto_op_name(call->op), length);
        *status = -EIO;
        return UCS_OK;
    }
    call->recv_pending = 1;
    call->reply_ep = (param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP) ? param->reply_ep : NULL;
    ucs_status_ptr_t r = ucp_am_recv_data_nbx(ln->w.worker, data, call->rbuf, length, &rp);
    if (r == NULL) {
        call->recv_pending = 0;
        call->reply_ep = NULL;
        call->rdata_len = length;
        return UCS_INPROGRESS;
    }
    if (UCS_PTR_IS_ERR(r)) {
        /* ucp.h: after ucp_am_recv_data_nbx, UCX owns the descriptor even
         * when the receive fails; nothing of ours is left pending. */
        call->recv_pending = 0;
        call->reply_ep = NULL;
        log_warn("request %llu (%s): receiving the reply's %zu bytes failed: %s",
                 (unsigned long long)call->id, proto_op_name(call->op), length,
                 ucs_status_string(UCS_PTR_STATUS(r)));
        *status = ucx_errno(UCS_PTR_STATUS(r));
        return UCS_OK;   /* with UCS_INPROGRESS, a receive that never started would keep it */
    }
    return UCS_INPROGRESS;
}

ucs_status_t rpc_reply_cb(void *arg, const void *header, size_t header_length, void *data,
                          size_t length, const ucp_am_recv_param_t *param)
{
    struct rpc_lane *ln = arg;
    struct bfs_rep_hdr h;
    if (header_length < BFS_REP_HDR_LEN ||
        proto_rep_hdr_decode(header, BFS_REP_HDR_LEN, &h) < 0 ||
        h.args_len != header_length - BFS_REP_HDR_LEN || h.data_len != length) {
        log_warn("dropping a malformed reply (%zu header bytes, %zu data bytes)", header_length, length);
        return UCS_OK;
    }
    struct rpc_call *call = table_take(ln, h.id);
    if (!call) {
        log_debug("reply to request %llu that is no longer waited for", (unsigned long long)h.id);
        return UCS_OK;
    }
    int status = h.status;
    /* A server that is stopping refuses new requests: to the caller that is a
     * server gone, as when it has stopped (-ENOTCONN), never done. */
    if (status == -ESHUTDOWN)
        status = -ENOTCONN;
    memcpy(call->rargs, (const uint8_t *)header + BFS_REP_HDR_LEN, h.args_len);
    if (status == 0 && proto_args_decode(call->op, 1, call->rargs, h.args_len, &call->reply) < 0) {
        log_warn("request %llu (%s): malformed reply arguments", (unsigned long long)h.id,
                 proto_op_name(call->op));
        status = -EPROTO;
    }
    if (status == 0 && length > call->rbuf_len) {
        log_warn("request %llu (%s): reply of %zu bytes does not fit %zu", (unsigned long long)h.id,
                 proto_op_name(call->op), length, call->rbuf_len);
        status = -EPROTO;
    }
    ucs_status_t ret = UCS_OK;
    if (status == 0 && length > 0) {
        if (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) {
            ret = recv_rndv(ln, call, data, length, param, &status);
        } else {
            memcpy(call->rbuf, data, length);
            call->rdata_len = length;
        }
    }
    finish(ln, call, status);
    return ret;
}

/* ---- calls ---- */

static void send_call(struct rpc_lane *ln, struct rpc_call *call)
{
    struct rpc_client *rc = ln->rc;
    call->done = call->send_done = call->recv_pending = call->not_sent = 0;
    call->status = 0;
    call->rdata_len = 0;
    call->send_req = NULL;
    call->reply_ep = NULL;
    call->lane = ln;
    call->hnext = call->lnext = NULL;
    call->lprev = NULL;
    memset(&call->reply, 0, sizeof call->reply);

    struct node_conn *nc = call->node < rc->nodes ? &ln->conn[call->node] : NULL;
    if (call->op == OP_HELLO && call->raw_len == 0) {
        /* The address the server is to answer: the lane's worker's now (a
         * lane can get a new worker between two attempts, rpc_ring.c). */
        call->data = ln->addr;
        call->data_len = ln->addr_len;
        call->args.cookie = ln->ident;
    }
    size_t alen = proto_args_size(call->op, 0, &call->args);
    int usable = nc && nc->ep && !nc->failed && (nc->client || call->op == OP_HELLO);
    if (!usable || alen > BFS_MAX_ARGS_LEN || call->data_len > BFS_MAX_DATA_LEN) {
        call->send_done = 1;
        call->not_sent = nc && alen <= BFS_MAX_ARGS_LEN && call->data_len <= BFS_MAX_DATA_LEN;
        finish(ln, call, !nc || alen > BFS_MAX_ARGS_LEN || call->data_len > BFS_MAX_DATA_LEN
                             ? -EINVAL : -ENOTCONN);
        return;
    }
    call->id = ++ln->next_id;
    call->sent_at = bfs_mono_s();
    struct bfs_req_hdr h = {
        .magic = BFS_PROTO_MAGIC, .version = BFS_PROTO_VERSION, .op = (uint16_t)call->op,
        .id = call->id, .args_len = (uint32_t)alen, .data_len = (uint32_t)call->data_len,
        .client = nc->client,
    };
    memcpy(h.key, rc->key, BFS_KEY_LEN);
    const void *hdr = call->hdr;
    size_t hdr_len = BFS_REQ_HDR_LEN + alen;
    if (call->raw_len > 0) {
        if (call->raw_len >= 16)
            put_le64(call->raw + 8, call->id);
        if (call->raw_len >= 32)
            put_le32(call->raw + 28, nc->client);
        hdr = call->raw;
        hdr_len = call->raw_len;
    } else {
        proto_req_hdr_encode(&h, call->hdr);
        proto_args_encode(call->op, 0, &call->args, call->hdr + BFS_REQ_HDR_LEN);
    }
    table_insert(ln, call);
    live_link(ln, call);

    ucp_request_param_t p = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA |
                        UCP_OP_ATTR_FIELD_FLAGS,
        .cb.send = send_cb,
        .user_data = call,
        /* A HELLO the server refuses (wrong key) is answered on the reply endpoint. */
        .flags = call->op == OP_HELLO ? UCP_AM_SEND_FLAG_REPLY : 0,
    };
    ucs_status_ptr_t r = ucp_am_send_nbx(nc->ep, BFS_AM_REQUEST, hdr, hdr_len, call->data,
                                         call->data_len, &p);
    if (r == NULL) {
        call->send_done = 1;
    } else if (UCS_PTR_IS_ERR(r)) {
        call->send_done = 1;
        if (table_take(ln, call->id))
            finish(ln, call, ucx_errno(UCS_PTR_STATUS(r)));
    } else {
        call->send_req = r;
        ln->sending++;
    }
}

/* Gives up on calls past their deadline: unanswered ones fail with -ETIMEDOUT,
 * sends still in flight are cancelled (their buffers belong to the caller). A
 * reply whose rendezvous data has not arrived fails too: the connection it
 * came on is closed, which ends the receive (UCX then gives the buffer back),
 * and so is ours to that server, which is treated as broken. force: the grace
 * for that is over; close our endpoint to the server to force what is left. */
static void expire(struct rpc_lane *ln, struct rpc_call *calls, size_t n, int force)
{
    struct rpc_client *rc = ln->rc;
    for (size_t i = 0; i < n; i++) {
        struct rpc_call *c = &calls[i];
        struct node_conn *nc = c->node < rc->nodes ? &ln->conn[c->node] : NULL;
        if (!c->done && table_take(ln, c->id)) {
            log_warn("request %llu (%s) to server node %u timed out", (unsigned long long)c->id,
                     proto_op_name(c->op), c->node);
            finish(ln, c, -ETIMEDOUT);
        }
        if (!c->send_done && c->send_req)
            ucp_request_cancel(ln->w.worker, c->send_req);
        if (c->recv_pending && !force) {
            log_warn("request %llu (%s) to server node %u: the reply's data did not arrive in time",
                     (unsigned long long)c->id, proto_op_name(c->op), c->node);
            c->status = -ETIMEDOUT;
            if (c->reply_ep) {
                ucp_request_param_t p = { .op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
                                          .flags = UCP_EP_CLOSE_FLAG_FORCE };
                ucs_status_ptr_t r = ucp_ep_close_nbx(c->reply_ep, &p);
                if (UCS_PTR_IS_PTR(r))
                    ucp_request_free(r);   /* UCX finishes it on its own */
                c->reply_ep = NULL;
            }
            if (nc) {
                nc->failed = 1;
                rpc_close_ep(ln, nc);
            }
        }
        if (force && !call_settled(c) && nc) {
            nc->failed = 1;
            rpc_close_ep(ln, nc);
        }
    }
}

static void poke_done(void *request, ucs_status_t status, void *user_data)
{
    struct node_conn *nc = user_data;
    (void)status;
    ucp_request_free(request);
    nc->poke_req = NULL;
}

/* UCX 1.13's TCP transport can leave a request unread in the server's socket
 * until more bytes arrive on that connection (seen here as stalls that last
 * until the RPC timeout). A call that waits unusually long therefore gets a
 * tiny NOP sent after it to the same server; its reply is ignored. A HELLO
 * stalls the same way: its probe goes out before the server knows us (client
 * id 0), and the server drops it unanswered. Returns the time of the next check. */
static double poke_slow_servers(struct rpc_lane *ln, double now)
{
    struct rpc_client *rc = ln->rc;
    double next = now + LONG_WAIT_WAKE_S;
    for (int b = 0; b < RPC_TABLE_SIZE; b++) {
        for (struct rpc_call *c = ln->table[b]; c; c = c->hnext) {
            struct node_conn *nc = &ln->conn[c->node];
            /* A call the server answers when it can is no stall: no probes
             * (only the keepalive wake-ups, LONG_WAIT_WAKE_S). */
            if (c->long_wait)
                continue;
            next = now + POKE_S;
            if (now - c->sent_at < POKE_S || now - nc->poked_at < POKE_S || nc->poke_req ||
                !nc->ep || nc->failed)
                continue;
            struct bfs_req_hdr h = { .magic = BFS_PROTO_MAGIC, .version = BFS_PROTO_VERSION,
                                     .op = OP_NOP, .id = ++ln->next_id, .client = nc->client };
            memcpy(h.key, rc->key, BFS_KEY_LEN);
            proto_req_hdr_encode(&h, nc->poke_hdr);
            ucp_request_param_t p = {
                .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
                .cb.send = poke_done,
                .user_data = nc,
            };
            ucs_status_ptr_t r = ucp_am_send_nbx(nc->ep, BFS_AM_REQUEST, nc->poke_hdr,
                                                 BFS_REQ_HDR_LEN, NULL, 0, &p);
            if (UCS_PTR_IS_PTR(r))
                nc->poke_req = r;
            nc->poked_at = now;
            log_debug("request %llu (%s) to server node %u: no reply after %.0f ms, probing",
                      (unsigned long long)c->id, proto_op_name(c->op), c->node,
                      (now - c->sent_at) * 1e3);
        }
    }
    return next;
}

/* A short spin first (sleeping and waking costs more than a reply takes),
 * adapted by common/spin.h. Returns 1 if progress found something. */
static int spin(struct rpc_lane *ln, struct rpc_call *calls, size_t n, struct hook_due *hook)
{
    double t = bfs_mono_s();
    if (bfs_spin_begin(&ln->spin, t) <= 0)
        return 0;
    for (;;) {
        int got = (int)ucp_worker_progress(ln->w.worker);
        t = bfs_mono_s();
        if (got) {
            bfs_spin_hit(&ln->spin, t);
            return 1;
        }
        if (all_settled(calls, n))
            return 1;
        hook_check(ln, hook, t);
        if (!bfs_spin_turn(&ln->spin, t))
            return 0;
    }
}

/* The leader's loop: progress the worker for every thread of this lane until
 * our calls settle. */
static void lead(struct rpc_lane *ln, struct rpc_call *calls, size_t n, double deadline,
                 struct hook_due *hook)
{
    struct rpc_client *rc = ln->rc;
    double next_poke = bfs_mono_s() + POKE_S;
    while (!all_settled(calls, n) && bfs_mono_s() < deadline) {
        if (ucp_worker_progress(ln->w.worker)) {
            bfs_spin_woke(&ln->spin, bfs_mono_s());   /* teaches the spin if we had slept */
            continue;
        }
        if (spin(ln, calls, n, hook))
            continue;
        int armed = ucx_worker_arm(&ln->w);
        double t = bfs_mono_s();
        /* Just progressed: the moment to judge our ring (rpc_ring.c), also
         * when UCX stays busy (a stuck ring never lets the worker arm). A
         * stuck one is replaced, and every call on it has failed. */
        int ring_ms = -1;
        if (rpc_ring_check(ln, t, &ring_ms) || armed == 0)
            continue;
        hook_check(ln, hook, t);
        double left = deadline - t;
        if (t >= next_poke) {
            next_poke = poke_slow_servers(ln, t);
            continue;
        }
        /* Wake in time for the next probe while calls are outstanding, and
         * for the wait hook (with no spin, the sleep may come before it). */
        if (next_poke - t < left)
            left = next_poke - t;
        if (!hook->done && rc->wait_hook && hook->at - t < left)
            left = hook->at - t;
        if (ring_ms >= 0 && ring_ms / 1e3 < left)
            left = ring_ms / 1e3;
        int ms = left <= 0 ? 0 : (int)(left * 1000) + 1;
        /* UCX raises no event when a queued send (or an endpoint close) can go
         * on: poll while one is. */
        if ((ln->sending || ln->closing_eps) && ms > 1)
            ms = 1;
        struct epoll_event ev[2];
        log_trace("rpc: lane %u sleeping up to %d ms (%u sends queued)", ln->index, ms, ln->sending);
        ln->leader_sleeping = 1;
        bfs_spin_sleep(&ln->spin);
        pthread_mutex_unlock(&ln->lock);
        int k = epoll_wait(ln->epfd, ev, 2, armed < 0 ? 1 : ms);
        pthread_mutex_lock(&ln->lock);
        ln->leader_sleeping = 0;
        for (int i = 0; i < k; i++) {
            uint64_t v;
            if (ev[i].data.fd == ln->kick_fd && read(ln->kick_fd, &v, sizeof v) < 0)
                (void)0; /* EAGAIN: another thread drained it */
        }
    }
}

/* Takes the lane's lock, counting how often and how long callers wait for it
 * (the contention the lanes are there to avoid; rpc_client_destroy logs it). */
static void lane_lock(struct rpc_lane *ln)
{
    if (pthread_mutex_trylock(&ln->lock) == 0) {
        ln->calls++;
        return;
    }
    double t = bfs_mono_s();
    pthread_mutex_lock(&ln->lock);
    ln->calls++;
    ln->lock_waits++;
    ln->lock_wait_s += bfs_mono_s() - t;
}

int rpc_lane_run(struct rpc_lane *ln, struct rpc_call *calls, size_t n, double timeout_s)
{
    struct rpc_client *rc = ln->rc;
    lane_lock(ln);
    rpc_ring_before_send(ln);
    for (size_t i = 0; i < n; i++)
        send_call(ln, &calls[i]);
    if (ln->leader && ln->leader_sleeping) {
        uint64_t one = 1;
        if (write(ln->kick_fd, &one, sizeof one) < 0)
            log_debug("kick write failed: %m");
    }
    double start = bfs_mono_s(), deadline = start + timeout_s;
    struct hook_due hook = { .at = start + rc->wait_hook_s };
    int phase = 0;   /* 0: before the deadline, 1: in its grace, 2: forced */
    while (!all_settled(calls, n)) {
        double t = bfs_mono_s();
        if (t >= deadline) {
            if (phase == 2) {
                /* UCX kept a buffer of the caller's past every bound: say so
                 * loudly and wait on (returning would let UCX write into
                 * memory the caller may reuse). */
                log_error("lane %u: UCX has not released a request's buffers %.0f s after its "
                          "deadline", ln->index, t - start - timeout_s);
                deadline = t + GIVE_UP_S;
            } else {
                expire(ln, calls, n, phase);
                phase++;
                deadline = t + (phase == 1 ? CANCEL_GRACE_S : GIVE_UP_S);
            }
            continue;
        }
        if (!ln->leader) {
            ln->leader = 1;
            lead(ln, calls, n, deadline, &hook);
            ln->leader = 0;
            pthread_cond_broadcast(&ln->cond);
        } else {
            /* Another thread's calls are in flight too: ours may wait long. */
            hook_check(ln, &hook, INFINITY);
            if (isinf(deadline)) {
                pthread_cond_wait(&ln->cond, &ln->lock);
                continue;
            }
            struct timespec ts = bfs_mono_after(deadline - t);
            pthread_cond_timedwait(&ln->cond, &ln->lock, &ts);
        }
    }
    int rc_ = 0;
    for (size_t i = 0; i < n; i++) {
        live_unlink(&calls[i]);
        int st = calls[i].status;
        if (!rpc_transport_error(st))
            continue;
        if (rc_ == 0)
            rc_ = st;
        /* A server that does not answer may have been restarted elsewhere (a
         * killed peer on shared memory is not always reported): have the next
         * call re-read the registry and connect anew. */
        if (st == -ETIMEDOUT && calls[i].node < rc->nodes && calls[i].op != OP_HELLO)
            ln->conn[calls[i].node].failed = 1;
        /* ... or its reply is stuck in our ring (rpc_ring.c). */
        if (st == -ETIMEDOUT)
            rpc_ring_suspect(ln);
    }
    pthread_mutex_unlock(&ln->lock);
    return rc_;
}

int rpc_run(struct rpc_client *rc, struct rpc_call *calls, size_t n)
{
    return rpc_run_timeout(rc, calls, n, rc->timeout_s);
}

int rpc_run_timeout(struct rpc_client *rc, struct rpc_call *calls, size_t n, double timeout_s)
{
    /* Private fields are ours to set: a caller's call on its stack holds
     * garbage there, and a stray long_wait would pin the call to lane 0 and
     * stop its probes (rpc_pick_lane, poke_slow_servers). */
    for (size_t i = 0; i < n; i++)
        calls[i].long_wait = 0;
    return rpc_lane_run(rpc_pick_lane(rc, calls, n), calls, n, timeout_s);
}

int rpc_run_wait(struct rpc_client *rc, struct rpc_call *call)
{
    call->long_wait = 1;
    int rc_ = rpc_lane_run(rpc_pick_lane(rc, call, 1), call, 1, INFINITY);
    call->long_wait = 0;
    return rc_;
}
