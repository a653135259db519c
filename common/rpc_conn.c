/* rpc_conn.c - the client's lanes (rpc_int.h) and their endpoints: creating
 * and destroying a client, connecting to a server (HELLO), picking the lane a
 * call goes on. */
#include "rpc.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/random.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "ringprobe.h"
#include "rpc_int.h"
#include "ucx.h"

#define HELLO_TIMEOUT_S 2.0     /* how long one HELLO may take to be answered */
#define HELLO_ATTEMPTS 3
#define DEFAULT_LANES 1         /* BENCHFS_CLIENT_LANES; 4 measured no faster here: docs/DESIGN.md */
#define CLOSE_WAIT_S 10.0       /* rpc_client_destroy waits this long for endpoint closes */
#define LANE_RETRY_S 5.0        /* a lane that could not connect to a server uses lane 0 this long */

/* Threads are given lanes round-robin, once: a thread keeps its lane (and its
 * lane's warm worker) for all its calls, on every client of the process. */
static atomic_uint next_thread_lane;
static _Thread_local unsigned thread_lane;   /* 1 + the thread's number; 0: none yet */

/* ---- endpoints ---- */

static void close_done(void *request, ucs_status_t status, void *user_data)
{
    struct rpc_lane *ln = user_data;
    (void)status;
    ucp_request_free(request);
    ln->closing_eps--;
}

void rpc_close_ep(struct rpc_lane *ln, struct node_conn *nc)
{
    if (!nc->ep)
        return;
    /* Not waited for: a close can take long (UCX flushes, or times out on a
     * dead peer), and only this endpoint's calls care, which have failed. */
    ucp_request_param_t p = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS | UCP_OP_ATTR_FIELD_CALLBACK |
                        UCP_OP_ATTR_FIELD_USER_DATA,
        .flags = UCP_EP_CLOSE_FLAG_FORCE,
        .cb.send = close_done,
        .user_data = ln,
    };
    ucs_status_ptr_t r = ucp_ep_close_nbx(nc->ep, &p);
    if (UCS_PTR_IS_PTR(r))
        ln->closing_eps++;
    nc->ep = NULL;
}

int rpc_conn_usable(const struct rpc_lane *ln, const struct node_conn *nc)
{
    return atomic_load(&nc->up) && !atomic_load(&nc->failed) &&
           atomic_load(&nc->gen) == atomic_load(&ln->rc->srv[nc->node].gen);
}

/* A new endpoint of lane ln to node at addr (generation gen), replacing any
 * old one (ln->lock held). 0 or -errno. */
static int ep_open(struct rpc_lane *ln, struct node_conn *nc, const void *addr, uint64_t gen)
{
    atomic_store(&nc->up, 0);
    rpc_close_ep(ln, nc);
    nc->client = 0;
    atomic_store(&nc->gen, gen);
    if (!ln->w.worker) {   /* lost with a stuck ring, no new one yet (rpc_ring.c) */
        atomic_store(&nc->failed, 1);
        return -ENOTCONN;
    }
    ucp_ep_params_t ep = {
        .field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                      UCP_EP_PARAM_FIELD_ERR_HANDLER,
        .address = addr,
        .err_mode = UCP_ERR_HANDLING_MODE_PEER,
        .err_handler = { .cb = rpc_ep_error_cb, .arg = nc },
    };
    ucs_status_t st = ucp_ep_create(ln->w.worker, &ep, &nc->ep);
    atomic_store(&nc->failed, st != UCS_OK);
    if (st != UCS_OK) {
        nc->ep = NULL;
        log_error("server node %u: cannot create UCX endpoint: %s", nc->node,
                  ucs_status_string(st));
        return ucx_errno(st);
    }
    return 0;
}

/* Connects lane ln to node at addr (generation gen) and says HELLO. The
 * caller has set nc->connecting, so that no other thread does it at once. */
static int lane_connect(struct rpc_lane *ln, uint32_t node, const void *addr, uint64_t gen)
{
    struct node_conn *nc = &ln->conn[node];
    pthread_mutex_lock(&ln->lock);
    int err = ep_open(ln, nc, addr, gen);
    unsigned renewals = ln->renewals;
    if (err < 0)
        nc->connecting = 0;
    pthread_mutex_unlock(&ln->lock);
    if (err < 0)
        return err;

    /* Introduce ourselves: the server connects back to this lane's worker
     * address and sends replies on that endpoint, which it owns. Connecting
     * back can fail transiently (seen with UCX_TLS=tcp: "connection refused");
     * the server then cannot answer at all, so try a few times with a short wait. */
    struct rpc_call *hello = calloc(1, sizeof *hello);
    int rc_ = hello ? -ETIMEDOUT : -ENOMEM;
    double wait = ln->rc->timeout_s < HELLO_TIMEOUT_S ? ln->rc->timeout_s : HELLO_TIMEOUT_S;
    for (int attempt = 0; hello && attempt < HELLO_ATTEMPTS && (rc_ == -ETIMEDOUT || rc_ == -ENOTCONN);
         attempt++) {
        /* The lane got a new worker meanwhile (rpc_ring.c): a new endpoint on it. */
        pthread_mutex_lock(&ln->lock);
        int e = 0;
        if (ln->renewals != renewals) {
            renewals = ln->renewals;
            e = ep_open(ln, nc, addr, gen);
        }
        pthread_mutex_unlock(&ln->lock);
        if (e < 0 && e != -ENOTCONN) {
            rc_ = e;
            break;
        }
        memset(hello, 0, sizeof *hello);
        hello->node = node;
        hello->op = OP_HELLO;   /* its bulk, the lane's address, is filled in when it is sent */
        rc_ = rpc_lane_run(ln, hello, 1, wait);
        if (rc_ == 0)
            rc_ = hello->status;
        if (rc_ == 0 && !hello->reply.client)
            rc_ = -EPROTO;
        if (rc_ < 0)
            log_info("server node %u: HELLO attempt %d (lane %u): %s", node, attempt + 1,
                     ln->index, strerror(-rc_));
    }
    pthread_mutex_lock(&ln->lock);
    if (rc_ == 0) {
        nc->client = hello->reply.client;
        atomic_store(&nc->up, 1);
    } else {
        nc->failed = 1;
    }
    nc->connecting = 0;
    pthread_mutex_unlock(&ln->lock);
    free(hello);
    if (rc_ < 0)
        log_error("server node %u: no answer to HELLO (lane %u): %s", node, ln->index,
                  strerror(-rc_));
    return rc_ == -ETIMEDOUT ? -ENOTCONN : rc_;
}

/* A copy of node's address and its generation, for a lane to connect with. */
static void *addr_copy(struct rpc_client *rc, uint32_t node, uint64_t *gen)
{
    pthread_mutex_lock(&rc->addr_lock);
    struct srv_addr *a = &rc->srv[node];
    void *p = a->addr ? malloc(a->len) : NULL;
    if (p)
        memcpy(p, a->addr, a->len);
    *gen = atomic_load(&a->gen);
    pthread_mutex_unlock(&rc->addr_lock);
    return p;
}

int rpc_client_connect(struct rpc_client *rc, uint32_t node, const void *addr, size_t len)
{
    if (node >= rc->nodes || len == 0)
        return -EINVAL;
    void *copy = malloc(len);
    if (!copy)
        return -ENOMEM;
    memcpy(copy, addr, len);
    pthread_mutex_lock(&rc->addr_lock);
    struct srv_addr *a = &rc->srv[node];
    free(a->addr);
    a->addr = copy;
    a->len = len;
    /* Every lane's connection to the old address is now stale: lanes other
     * than 0 reconnect at their next call there. */
    uint64_t gen = atomic_fetch_add(&a->gen, 1) + 1;
    pthread_mutex_unlock(&rc->addr_lock);
    struct rpc_lane *ln = &rc->lanes[0];
    pthread_mutex_lock(&ln->lock);
    ln->conn[node].connecting = 1;
    pthread_mutex_unlock(&ln->lock);
    return lane_connect(ln, node, addr, gen);
}

int rpc_client_connected(struct rpc_client *rc, uint32_t node)
{
    if (node >= rc->nodes)
        return 0;
    return rpc_conn_usable(&rc->lanes[0], &rc->lanes[0].conn[node]);
}

/* ---- which lane ---- */

static int lane_open(struct rpc_client *rc, struct rpc_lane *ln, unsigned index);

/* 1 if ln is open, opening it now if it is not (once: a lane that failed to
 * open stays closed, and its threads use lane 0). */
static int lane_opened(struct rpc_client *rc, struct rpc_lane *ln)
{
    int st = atomic_load(&ln->open);
    if (st)
        return st > 0;
    pthread_mutex_lock(&rc->addr_lock);
    if (!(st = atomic_load(&ln->open))) {
        st = lane_open(rc, ln, ln->index) == 0 ? 1 : -1;
        if (st < 0)
            log_warn("rpc lane %u cannot be opened: its threads use lane 0", ln->index);
        atomic_store(&ln->open, st);
    }
    pthread_mutex_unlock(&rc->addr_lock);
    return st > 0;
}

/* Calls whose meaning is tied to the connection they come by. */
static int primary_only(const struct rpc_call *c)
{
    return c->op == OP_LOCK || c->op == OP_LOCK_CANCEL || c->op == OP_MOVE_LOCK ||
           c->op == OP_HELLO || c->op == OP_BYE || c->long_wait;
}

/* 1 if lane ln can carry a call to node, connecting it first if need be. */
static int lane_ready(struct rpc_lane *ln, uint32_t node)
{
    struct rpc_client *rc = ln->rc;
    struct node_conn *nc = &ln->conn[node];
    pthread_mutex_lock(&ln->lock);
    int ok = rpc_conn_usable(ln, nc), busy = nc->connecting || bfs_mono_s() < nc->retry_at;
    if (!ok && !busy)
        nc->connecting = 1;
    pthread_mutex_unlock(&ln->lock);
    if (ok)
        return 1;
    if (busy || rc->closing)
        return 0;   /* lane 0 meanwhile */
    /* Only while lane 0 is connected there: a server that is down is lane 0's
     * (and the client's reconnect logic's) business, not every lane's. */
    uint64_t gen;
    void *addr = rpc_client_connected(rc, node) ? addr_copy(rc, node, &gen) : NULL;
    if (!addr) {
        pthread_mutex_lock(&ln->lock);
        nc->connecting = 0;
        pthread_mutex_unlock(&ln->lock);
        return 0;
    }
    int r = lane_connect(ln, node, addr, gen);
    free(addr);
    if (r < 0) {
        pthread_mutex_lock(&ln->lock);
        nc->retry_at = bfs_mono_s() + LANE_RETRY_S;
        pthread_mutex_unlock(&ln->lock);
        /* No answer at the address lane 0 is connected to: the server there is
         * gone (or restarted: lane 0 has not been progressed since), so lane 0's
         * endpoint is no better. Marked failed, the call falls back to lane 0
         * unsent, and the client reconnects from the registry and sends it
         * again (common/client.c) instead of meeting lane 0's dead endpoint. */
        struct node_conn *primary = &rc->lanes[0].conn[node];
        if (atomic_load(&primary->gen) == gen)
            atomic_store(&primary->failed, 1);
    }
    return r == 0;
}

struct rpc_lane *rpc_pick_lane(struct rpc_client *rc, struct rpc_call *calls, size_t n)
{
    struct rpc_lane *primary = &rc->lanes[0];
    if (rc->nlanes == 1)
        return primary;
    for (size_t i = 0; i < n; i++)
        if (primary_only(&calls[i]) || calls[i].node >= rc->nodes)
            return primary;
    if (!thread_lane)
        thread_lane = atomic_fetch_add(&next_thread_lane, 1) + 1;
    struct rpc_lane *ln = &rc->lanes[(thread_lane - 1) % rc->nlanes];
    if (ln == primary || !lane_opened(rc, ln))
        return primary;
    for (size_t i = 0; i < n; i++)
        if (!lane_ready(ln, calls[i].node))
            return primary;
    return ln;
}

void rpc_client_set_wait_hook(struct rpc_client *rc, void (*fn)(void *), void *arg,
                              double after_s)
{
    /* Under addr_lock too, so that no lane opens meanwhile. */
    pthread_mutex_lock(&rc->addr_lock);
    for (unsigned i = 0; i < rc->nlanes; i++)
        if (atomic_load(&rc->lanes[i].open) > 0)
            pthread_mutex_lock(&rc->lanes[i].lock);
    rc->wait_hook = fn;
    rc->wait_hook_arg = arg;
    rc->wait_hook_s = after_s;
    for (unsigned i = rc->nlanes; i-- > 0;)
        if (atomic_load(&rc->lanes[i].open) > 0)
            pthread_mutex_unlock(&rc->lanes[i].lock);
    pthread_mutex_unlock(&rc->addr_lock);
}

/* ---- lifetime ---- */

/* A lane's identity at the servers (proto.h, OP_HELLO): random, never 0. */
static uint64_t lane_ident(unsigned index)
{
    uint64_t v = 0;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) != (ssize_t)sizeof v)
        v = ((uint64_t)getpid() << 32) ^ (uint64_t)bfs_mono_ns() ^ index;
    return v ? v : 1;
}

static int lane_open(struct rpc_client *rc, struct rpc_lane *ln, unsigned index)
{
    ln->rc = rc;
    ln->index = index;
    ln->ident = lane_ident(index);
    ln->epfd = ln->kick_fd = -1;
    pthread_mutex_init(&ln->lock, NULL);
    bfs_cond_init_mono(&ln->cond);   /* its timed waits take monotonic deadlines */
    bfs_spin_init(&ln->spin, 100.0);
    if (!(ln->conn = calloc(rc->nodes, sizeof *ln->conn)))
        return -ENOMEM;
    for (uint32_t i = 0; i < rc->nodes; i++) {
        ln->conn[i].ln = ln;
        ln->conn[i].node = i;
    }
    ln->epfd = epoll_create1(EPOLL_CLOEXEC);
    ln->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ln->epfd < 0 || ln->kick_fd < 0)
        return -errno;
    struct epoll_event kev = { .events = EPOLLIN, .data.fd = ln->kick_fd };
    if (epoll_ctl(ln->epfd, EPOLL_CTL_ADD, ln->kick_fd, &kev) < 0)
        return -errno;
    return rpc_lane_worker_open(ln);
}

int rpc_lane_worker_open(struct rpc_lane *ln)
{
    int err = ucx_worker_open(&ln->w, 1);
    if (err < 0)
        return err;
    ucp_am_handler_param_t hp = {
        .field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB |
                      UCP_AM_HANDLER_PARAM_FIELD_ARG,
        .id = BFS_AM_REPLY,
        .cb = rpc_reply_cb,
        .arg = ln,
    };
    ucs_status_t st = ucp_worker_set_am_recv_handler(ln->w.worker, &hp);
    if (st == UCS_OK)
        st = ucp_worker_get_address(ln->w.worker, &ln->addr, &ln->addr_len);
    if (st != UCS_OK) {
        err = ucx_errno(st);
        goto fail;
    }
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = ln->w.efd };
    if (epoll_ctl(ln->epfd, EPOLL_CTL_ADD, ln->w.efd, &ev) < 0) {
        err = -errno;
        goto fail;
    }
    return 0;
fail:
    rpc_lane_worker_close(ln);
    return err;
}

void rpc_lane_worker_close(struct rpc_lane *ln)
{
    if (!ln->w.worker)
        return;
    ringprobe_close(ln->probe, ln->w.worker);
    ln->probe = NULL;
    if (ln->addr)
        ucp_worker_release_address(ln->w.worker, ln->addr);
    ln->addr = NULL;
    ln->addr_len = 0;
    /* Not in the epoll set if opening failed before: ENOENT then. */
    if (ln->w.efd >= 0 && ln->epfd >= 0)
        epoll_ctl(ln->epfd, EPOLL_CTL_DEL, ln->w.efd, NULL);
    ucx_worker_close(&ln->w);
}

/* Says goodbye to every server this lane knows, so that they forget us now,
 * not when UCX notices we are gone; all at once, so that servers stopping
 * themselves cost one wait, not one each. */
static void lane_bye(struct rpc_lane *ln)
{
    struct rpc_client *rc = ln->rc;
    struct rpc_call *byes = calloc(rc->nodes, sizeof *byes);
    size_t n = 0;
    for (uint32_t i = 0; byes && i < rc->nodes; i++) {
        if (ln->conn[i].ep && !ln->conn[i].failed && ln->conn[i].client) {
            byes[n].node = i;
            byes[n++].op = OP_BYE;
        }
    }
    if (n)
        rpc_lane_run(ln, byes, n, 2.0);
    free(byes);
}

static void lane_close(struct rpc_lane *ln)
{
    if (ln->w.worker) {
        for (uint32_t i = 0; ln->conn && i < ln->rc->nodes; i++)
            rpc_close_ep(ln, &ln->conn[i]);
        double give_up = bfs_mono_s() + CLOSE_WAIT_S;
        while (ln->closing_eps && bfs_mono_s() < give_up)
            ucp_worker_progress(ln->w.worker);
        if (ln->closing_eps)
            log_warn("lane %u: %u endpoint closes did not finish within %.0f s", ln->index,
                     ln->closing_eps, CLOSE_WAIT_S);
    }
    if (ln->calls)
        log_debug("rpc lane %u: %llu runs, %llu waited for the lock (%.3f s in all)", ln->index,
                  (unsigned long long)ln->calls, (unsigned long long)ln->lock_waits,
                  ln->lock_wait_s);
    if (ln->spin.spins) {
        char tag[32];
        snprintf(tag, sizeof tag, "rpc lane %u", ln->index);
        bfs_spin_log(&ln->spin, tag);
    }
    rpc_lane_worker_close(ln);
    if (ln->epfd >= 0)
        close(ln->epfd);
    if (ln->kick_fd >= 0)
        close(ln->kick_fd);
    pthread_mutex_destroy(&ln->lock);
    pthread_cond_destroy(&ln->cond);
    free(ln->conn);
}

static unsigned lanes_wanted(void)
{
    const char *e = getenv("BENCHFS_CLIENT_LANES");
    long n = e ? strtol(e, NULL, 10) : DEFAULT_LANES;
    return n < 1 ? 1 : n > RPC_MAX_LANES ? RPC_MAX_LANES : (unsigned)n;
}

int rpc_client_create(uint32_t nodes, const uint8_t key[BFS_KEY_LEN], double timeout_s,
                      struct rpc_client **out)
{
    struct rpc_client *rc = calloc(1, sizeof *rc);
    if (!rc)
        return -ENOMEM;
    pthread_mutex_init(&rc->addr_lock, NULL);
    rc->nodes = nodes;
    memcpy(rc->key, key, BFS_KEY_LEN);
    rc->timeout_s = timeout_s > 0 ? timeout_s : 30;
    const char *fault = getenv("BENCHFS_FAULT");
    rc->fault = fault && strcmp(fault, "client-recv-fail") == 0;
    unsigned want = lanes_wanted();
    int err = -ENOMEM;
    if (!(rc->srv = calloc(nodes ? nodes : 1, sizeof *rc->srv)) ||
        !(rc->lanes = calloc(want, sizeof *rc->lanes)))
        goto fail;
    /* Lanes other than 0 cost a UCX context each: opened, and connected, only
     * when a thread uses them. */
    rc->nlanes = want;
    for (unsigned i = 0; i < want; i++)
        rc->lanes[i].index = i;
    if ((err = lane_open(rc, &rc->lanes[0], 0)) < 0)
        goto fail;
    atomic_store(&rc->lanes[0].open, 1);
    if ((err = rpc_idle_start(rc)) < 0)
        goto fail;
    *out = rc;
    return 0;
fail:
    rpc_client_destroy(rc);
    return err;
}

void rpc_client_destroy(struct rpc_client *rc)
{
    if (!rc)
        return;
    rpc_idle_stop(rc);
    rc->closing = 1;
    for (unsigned i = 0; i < rc->nlanes; i++)
        if (atomic_load(&rc->lanes[i].open) > 0 && rc->lanes[i].w.worker)
            lane_bye(&rc->lanes[i]);
    for (unsigned i = 0; i < rc->nlanes; i++)
        if (rc->lanes[i].rc)   /* lane_open ran, maybe in part */
            lane_close(&rc->lanes[i]);
    for (uint32_t i = 0; rc->srv && i < rc->nodes; i++)
        free(rc->srv[i].addr);
    free(rc->srv);
    free(rc->lanes);
    pthread_mutex_destroy(&rc->addr_lock);
    free(rc);
}
