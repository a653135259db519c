/* rpc.c - client side of BenchFS RPC (see rpc.h for the threading model). */
#include "rpc.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "byteorder.h"
#include "clock.h"
#include "log.h"
#include "ucx.h"

#define TABLE_SIZE 256          /* in-flight calls hash buckets */
#define CANCEL_GRACE_S 2.0      /* after a timeout, how long cancelled sends may take */
#define HELLO_TIMEOUT_S 2.0     /* how long one HELLO may take to be answered */
#define HELLO_ATTEMPTS 3
#define POKE_S 0.002            /* a call unanswered this long gets its server probed */
#define YIELD_AFTER_S 20e-6     /* a waiting leader spins this long before it yields its core */
#define LONG_WAIT_WAKE_S 0.5    /* with only rpc_run_wait calls out: progress this often (keepalive) */

struct rpc_client;

struct node_conn {
    struct rpc_client *rc;
    uint32_t node;
    ucp_ep_h ep;
    uint32_t client;            /* our id at this server (OP_HELLO); 0 until then */
    int failed;                 /* the endpoint reported an error: close and reconnect */
    double poked_at;            /* when we last sent this node a probe */
    void *poke_req;             /* that probe's send, if still in flight */
    uint8_t poke_hdr[BFS_REQ_HDR_LEN];
};

struct rpc_client {
    struct ucx_worker w;
    pthread_mutex_t lock;       /* guards everything below and every call into UCX */
    pthread_cond_t cond;        /* a call finished or the leader stepped down */
    int leader;                 /* a thread is progressing the worker */
    int leader_sleeping;        /* ... and waits in epoll: kick it after sending */
    unsigned sending;           /* requests UCX has not finished sending */
    int closing;                /* rpc_client_destroy runs: endpoint errors are expected */
    int epfd, kick_fd;
    uint32_t nodes;
    struct node_conn *conn;
    struct rpc_call *table[TABLE_SIZE];
    uint64_t next_id;
    uint8_t key[BFS_KEY_LEN];
    double timeout_s;
    double spin_s;
    ucp_address_t *addr;        /* our worker address, sent in OP_HELLO */
    size_t addr_len;
    void (*wait_hook)(void *);  /* rpc_client_set_wait_hook */
    void *wait_hook_arg;
    double wait_hook_s;
};

/* One rpc_run's promise to call the wait hook at most once, after hook_at. */
struct hook_due {
    double at;
    int done;
};

static void hook_check(struct rpc_client *rc, struct hook_due *h, double t)
{
    if (!h->done && rc->wait_hook && t >= h->at) {
        h->done = 1;
        rc->wait_hook(rc->wait_hook_arg);
    }
}

static void table_insert(struct rpc_client *rc, struct rpc_call *call)
{
    struct rpc_call **b = &rc->table[call->id % TABLE_SIZE];
    call->hnext = *b;
    *b = call;
}

static struct rpc_call *table_take(struct rpc_client *rc, uint64_t id)
{
    for (struct rpc_call **p = &rc->table[id % TABLE_SIZE]; *p; p = &(*p)->hnext) {
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
static void finish(struct rpc_client *rc, struct rpc_call *call, int status)
{
    call->status = status;
    call->done = 1;
    pthread_cond_broadcast(&rc->cond);
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

/* ---- UCX callbacks (run inside ucp_worker_progress, under rc->lock) ---- */

static void ep_error_cb(void *arg, ucp_ep_h ep, ucs_status_t status)
{
    struct node_conn *nc = arg;
    struct rpc_client *rc = nc->rc;
    (void)ep;
    log_at(rc->closing ? LOG_DEBUG : LOG_WARN, "server node %u: connection lost: %s", nc->node,
           ucs_status_string(status));
    nc->failed = 1;
    for (int b = 0; b < TABLE_SIZE; b++) {
        for (struct rpc_call **p = &rc->table[b]; *p;) {
            struct rpc_call *c = *p;
            if (c->node != nc->node) {
                p = &c->hnext;
                continue;
            }
            *p = c->hnext;
            finish(rc, c, -ENOTCONN);
        }
    }
}

static void send_cb(void *request, ucs_status_t status, void *user_data)
{
    struct rpc_call *call = user_data;
    struct rpc_client *rc = call->owner;
    ucp_request_free(request);
    call->send_req = NULL;
    call->send_done = 1;
    rc->sending--;
    /* A failed send gets no reply: settle the call now rather than at its timeout. */
    if (status != UCS_OK && !call->done && table_take(rc, call->id))
        finish(rc, call, status == UCS_ERR_CANCELED ? -ETIMEDOUT : ucx_errno(status));
    else if (call->done)
        pthread_cond_broadcast(&rc->cond);
}

static void recv_cb(void *request, ucs_status_t status, size_t length, void *user_data)
{
    struct rpc_call *call = user_data;
    ucp_request_free(request);
    call->recv_pending = 0;
    if (status != UCS_OK)
        call->status = ucx_errno(status);
    else
        call->rdata_len = length;
    pthread_cond_broadcast(&call->owner->cond);
}

static ucs_status_t reply_cb(void *arg, const void *header, size_t header_length, void *data,
                             size_t length, const ucp_am_recv_param_t *param)
{
    struct rpc_client *rc = arg;
    struct bfs_rep_hdr h;
    if (header_length < BFS_REP_HDR_LEN ||
        proto_rep_hdr_decode(header, BFS_REP_HDR_LEN, &h) < 0 ||
        h.args_len != header_length - BFS_REP_HDR_LEN || h.data_len != length) {
        log_warn("dropping a malformed reply (%zu header bytes, %zu data bytes)", header_length, length);
        return UCS_OK;
    }
    struct rpc_call *call = table_take(rc, h.id);
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
            /* Rendezvous: UCX moves the bytes straight into the caller's buffer. */
            ucp_request_param_t rp = {
                .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
                .cb.recv_am = recv_cb,
                .user_data = call,
            };
            call->recv_pending = 1;
            ucs_status_ptr_t r = ucp_am_recv_data_nbx(rc->w.worker, data, call->rbuf, length, &rp);
            if (r == NULL) {
                call->recv_pending = 0;
                call->rdata_len = length;
                ret = UCS_INPROGRESS;
            } else if (UCS_PTR_IS_ERR(r)) {
                call->recv_pending = 0;
                status = ucx_errno(UCS_PTR_STATUS(r));   /* not kept: UCX releases it */
            } else {
                ret = UCS_INPROGRESS;
            }
        } else {
            memcpy(call->rbuf, data, length);
            call->rdata_len = length;
        }
    }
    finish(rc, call, status);
    return ret;
}

/* ---- endpoints ---- */

static void close_ep(struct rpc_client *rc, struct node_conn *nc)
{
    if (!nc->ep)
        return;
    ucp_request_param_t p = { .op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS, .flags = UCP_EP_CLOSE_FLAG_FORCE };
    ucx_wait(&rc->w, ucp_ep_close_nbx(nc->ep, &p));
    nc->ep = NULL;
}

int rpc_client_connect(struct rpc_client *rc, uint32_t node, const void *addr, size_t len)
{
    if (node >= rc->nodes || len == 0)
        return -EINVAL;
    struct node_conn *nc = &rc->conn[node];
    pthread_mutex_lock(&rc->lock);
    close_ep(rc, nc);
    nc->client = 0;
    ucp_ep_params_t ep = {
        .field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                      UCP_EP_PARAM_FIELD_ERR_HANDLER,
        .address = addr,
        .err_mode = UCP_ERR_HANDLING_MODE_PEER,
        .err_handler = { .cb = ep_error_cb, .arg = nc },
    };
    ucs_status_t st = ucp_ep_create(rc->w.worker, &ep, &nc->ep);
    nc->failed = st != UCS_OK;
    if (st != UCS_OK)
        nc->ep = NULL;
    pthread_mutex_unlock(&rc->lock);
    if (st != UCS_OK) {
        log_error("server node %u: cannot create UCX endpoint: %s", node, ucs_status_string(st));
        return ucx_errno(st);
    }

    /* Introduce ourselves: the server connects back to our worker address and
     * sends replies on that endpoint, which it owns. Connecting back can fail
     * transiently (seen with UCX_TLS=tcp: "connection refused"); the server
     * then cannot answer at all, so try a few times with a short wait. */
    struct rpc_call *hello = calloc(1, sizeof *hello);
    if (!hello)
        return -ENOMEM;
    int rc_ = -ETIMEDOUT;
    double wait = rc->timeout_s < HELLO_TIMEOUT_S ? rc->timeout_s : HELLO_TIMEOUT_S;
    for (int attempt = 0; attempt < HELLO_ATTEMPTS && (rc_ == -ETIMEDOUT || rc_ == -ENOTCONN);
         attempt++) {
        memset(hello, 0, sizeof *hello);
        hello->node = node;
        hello->op = OP_HELLO;
        hello->data = rc->addr;
        hello->data_len = rc->addr_len;
        rc_ = rpc_run_timeout(rc, hello, 1, wait);
        if (rc_ == 0)
            rc_ = hello->status;
        if (rc_ == 0 && !hello->reply.client)
            rc_ = -EPROTO;
        if (rc_ < 0)
            log_info("server node %u: HELLO attempt %d: %s", node, attempt + 1, strerror(-rc_));
    }
    pthread_mutex_lock(&rc->lock);
    if (rc_ == 0)
        nc->client = hello->reply.client;
    else
        nc->failed = 1;
    pthread_mutex_unlock(&rc->lock);
    free(hello);
    if (rc_ < 0)
        log_error("server node %u: no answer to HELLO: %s", node, strerror(-rc_));
    return rc_ == -ETIMEDOUT ? -ENOTCONN : rc_;
}

int rpc_client_connected(struct rpc_client *rc, uint32_t node)
{
    pthread_mutex_lock(&rc->lock);
    int ok = node < rc->nodes && rc->conn[node].ep && !rc->conn[node].failed &&
             rc->conn[node].client;
    pthread_mutex_unlock(&rc->lock);
    return ok;
}

/* ---- calls ---- */

static void send_call(struct rpc_client *rc, struct rpc_call *call)
{
    call->done = call->send_done = call->recv_pending = 0;
    call->status = 0;
    call->rdata_len = 0;
    call->send_req = NULL;
    call->owner = rc;
    memset(&call->reply, 0, sizeof call->reply);

    struct node_conn *nc = call->node < rc->nodes ? &rc->conn[call->node] : NULL;
    size_t alen = proto_args_size(call->op, 0, &call->args);
    int usable = nc && nc->ep && !nc->failed && (nc->client || call->op == OP_HELLO);
    if (!usable || alen > BFS_MAX_ARGS_LEN || call->data_len > BFS_MAX_DATA_LEN) {
        call->send_done = 1;
        finish(rc, call, !nc || alen > BFS_MAX_ARGS_LEN || call->data_len > BFS_MAX_DATA_LEN
                             ? -EINVAL : -ENOTCONN);
        return;
    }
    call->id = ++rc->next_id;
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
    table_insert(rc, call);

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
        if (table_take(rc, call->id))
            finish(rc, call, ucx_errno(UCS_PTR_STATUS(r)));
    } else {
        call->send_req = r;
        rc->sending++;
    }
}

/* Gives up on calls past their deadline: unanswered ones fail with -ETIMEDOUT,
 * sends still in flight are cancelled (their buffers belong to the caller). */
static void expire(struct rpc_client *rc, struct rpc_call *calls, size_t n, int force)
{
    for (size_t i = 0; i < n; i++) {
        struct rpc_call *c = &calls[i];
        if (!c->done && table_take(rc, c->id)) {
            log_warn("request %llu (%s) to server node %u timed out", (unsigned long long)c->id,
                     proto_op_name(c->op), c->node);
            finish(rc, c, -ETIMEDOUT);
        }
        if (!c->send_done && c->send_req)
            ucp_request_cancel(rc->w.worker, c->send_req);
        if (force && !call_settled(c) && c->node < rc->nodes) {
            /* UCX did not give the buffers back: closing the endpoint forces it. */
            rc->conn[c->node].failed = 1;
            close_ep(rc, &rc->conn[c->node]);
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
static double poke_slow_servers(struct rpc_client *rc, double now)
{
    double next = now + LONG_WAIT_WAKE_S;
    for (int b = 0; b < TABLE_SIZE; b++) {
        for (struct rpc_call *c = rc->table[b]; c; c = c->hnext) {
            struct node_conn *nc = &rc->conn[c->node];
            /* A call the server answers when it can is no stall: no probes
             * (only the keepalive wake-ups, LONG_WAIT_WAKE_S). */
            if (c->long_wait)
                continue;
            next = now + POKE_S;
            if (now - c->sent_at < POKE_S || now - nc->poked_at < POKE_S || nc->poke_req ||
                !nc->ep || nc->failed)
                continue;
            struct bfs_req_hdr h = { .magic = BFS_PROTO_MAGIC, .version = BFS_PROTO_VERSION,
                                     .op = OP_NOP, .id = ++rc->next_id, .client = nc->client };
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

/* The leader's loop: progress the worker for every thread until our calls settle. */
static void lead(struct rpc_client *rc, struct rpc_call *calls, size_t n, double deadline,
                 struct hook_due *hook)
{
    double next_poke = bfs_mono_s() + POKE_S;
    while (!all_settled(calls, n) && bfs_mono_s() < deadline) {
        if (ucp_worker_progress(rc->w.worker))
            continue;
        /* A short spin first: sleeping and waking costs more than a reply takes. */
        double spin_start = bfs_mono_s(), spun = 0;
        int got = 0;
        while (!all_settled(calls, n) && spun < rc->spin_s) {
            if ((got = (int)ucp_worker_progress(rc->w.worker)))
                break;
            /* With more busy threads than cores (an application, this
             * client, a server), the one we wait for may share our core:
             * past the first microseconds, give it the core at once rather
             * than after our time slice. */
            if (spun > YIELD_AFTER_S)
                sched_yield();
            double t = bfs_mono_s();
            hook_check(rc, hook, t);
            spun = t - spin_start;
        }
        if (got || all_settled(calls, n))
            continue;
        int armed = ucx_worker_arm(&rc->w);
        if (armed == 0)
            continue;
        double t = bfs_mono_s();
        hook_check(rc, hook, t);
        double left = deadline - t;
        if (t >= next_poke) {
            next_poke = poke_slow_servers(rc, t);
            continue;
        }
        /* Wake in time for the next probe while calls are outstanding, and
         * for the wait hook (with no spin, the sleep may come before it). */
        if (next_poke - t < left)
            left = next_poke - t;
        if (!hook->done && rc->wait_hook && hook->at - t < left)
            left = hook->at - t;
        int ms = left <= 0 ? 0 : (int)(left * 1000) + 1;
        /* UCX raises no event when a queued send can go on: poll while one is. */
        if (rc->sending && ms > 1)
            ms = 1;
        struct epoll_event ev[2];
        log_trace("rpc: sleeping up to %d ms (%u sends queued)", ms, rc->sending);
        rc->leader_sleeping = 1;
        pthread_mutex_unlock(&rc->lock);
        int k = epoll_wait(rc->epfd, ev, 2, armed < 0 ? 1 : ms);
        pthread_mutex_lock(&rc->lock);
        rc->leader_sleeping = 0;
        for (int i = 0; i < k; i++) {
            uint64_t v;
            if (ev[i].data.fd == rc->kick_fd && read(rc->kick_fd, &v, sizeof v) < 0)
                (void)0; /* EAGAIN: another thread drained it */
        }
    }
}

int rpc_run(struct rpc_client *rc, struct rpc_call *calls, size_t n)
{
    return rpc_run_timeout(rc, calls, n, rc->timeout_s);
}

int rpc_run_timeout(struct rpc_client *rc, struct rpc_call *calls, size_t n, double timeout_s)
{
    pthread_mutex_lock(&rc->lock);
    for (size_t i = 0; i < n; i++)
        send_call(rc, &calls[i]);
    if (rc->leader && rc->leader_sleeping) {
        uint64_t one = 1;
        if (write(rc->kick_fd, &one, sizeof one) < 0)
            log_debug("kick write failed: %m");
    }
    double start = bfs_mono_s(), deadline = start + timeout_s;
    struct hook_due hook = { .at = start + rc->wait_hook_s };
    int expired = 0;
    while (!all_settled(calls, n)) {
        double t = bfs_mono_s();
        if (t >= deadline) {
            expire(rc, calls, n, expired);
            /* Cancelled sends settle within a short grace; then force. */
            deadline = t + CANCEL_GRACE_S;
            expired = 1;
            continue;
        }
        if (!rc->leader) {
            rc->leader = 1;
            lead(rc, calls, n, deadline, &hook);
            rc->leader = 0;
            pthread_cond_broadcast(&rc->cond);
        } else {
            /* Another thread's calls are in flight too: ours may wait long. */
            hook_check(rc, &hook, INFINITY);
            if (isinf(deadline)) {
                pthread_cond_wait(&rc->cond, &rc->lock);
                continue;
            }
            struct timespec ts = bfs_mono_after(deadline - t);
            pthread_cond_timedwait(&rc->cond, &rc->lock, &ts);
        }
    }
    int rc_ = 0;
    for (size_t i = 0; i < n; i++) {
        int st = calls[i].status;
        if (st != -ENOTCONN && st != -ETIMEDOUT && st != -EPROTO)
            continue;
        if (rc_ == 0)
            rc_ = st;
        /* A server that does not answer may have been restarted elsewhere (a
         * killed peer on shared memory is not always reported): have the next
         * call re-read the registry and connect anew. */
        if (st == -ETIMEDOUT && calls[i].node < rc->nodes && calls[i].op != OP_HELLO)
            rc->conn[calls[i].node].failed = 1;
    }
    pthread_mutex_unlock(&rc->lock);
    return rc_;
}

int rpc_run_wait(struct rpc_client *rc, struct rpc_call *call)
{
    call->long_wait = 1;
    int rc_ = rpc_run_timeout(rc, call, 1, INFINITY);
    call->long_wait = 0;
    return rc_;
}

void rpc_client_set_wait_hook(struct rpc_client *rc, void (*fn)(void *), void *arg,
                              double after_s)
{
    pthread_mutex_lock(&rc->lock);
    rc->wait_hook = fn;
    rc->wait_hook_arg = arg;
    rc->wait_hook_s = after_s;
    pthread_mutex_unlock(&rc->lock);
}

/* ---- lifetime ---- */

int rpc_client_create(uint32_t nodes, const uint8_t key[BFS_KEY_LEN], double timeout_s,
                      struct rpc_client **out)
{
    struct rpc_client *rc = calloc(1, sizeof *rc);
    if (!rc)
        return -ENOMEM;
    rc->epfd = rc->kick_fd = -1;
    int err = -ENOMEM;
    rc->conn = calloc(nodes, sizeof *rc->conn);
    if (!rc->conn)
        goto fail;
    rc->nodes = nodes;
    for (uint32_t i = 0; i < nodes; i++) {
        rc->conn[i].rc = rc;
        rc->conn[i].node = i;
    }
    memcpy(rc->key, key, BFS_KEY_LEN);
    rc->timeout_s = timeout_s > 0 ? timeout_s : 30;
    const char *spin = getenv("BENCHFS_SPIN_US");
    rc->spin_s = (spin ? atof(spin) : 100.0) / 1e6;
    pthread_mutex_init(&rc->lock, NULL);
    bfs_cond_init_mono(&rc->cond);   /* its timed waits take monotonic deadlines */

    err = ucx_worker_open(&rc->w, 1);
    if (err < 0)
        goto fail;
    ucp_am_handler_param_t hp = {
        .field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB |
                      UCP_AM_HANDLER_PARAM_FIELD_ARG,
        .id = BFS_AM_REPLY,
        .cb = reply_cb,
        .arg = rc,
    };
    ucs_status_t st = ucp_worker_set_am_recv_handler(rc->w.worker, &hp);
    if (st != UCS_OK) {
        err = ucx_errno(st);
        goto fail;
    }
    st = ucp_worker_get_address(rc->w.worker, &rc->addr, &rc->addr_len);
    if (st != UCS_OK) {
        err = ucx_errno(st);
        goto fail;
    }
    rc->epfd = epoll_create1(EPOLL_CLOEXEC);
    rc->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (rc->epfd < 0 || rc->kick_fd < 0) {
        err = -errno;
        goto fail;
    }
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = rc->w.efd };
    struct epoll_event kev = { .events = EPOLLIN, .data.fd = rc->kick_fd };
    if (epoll_ctl(rc->epfd, EPOLL_CTL_ADD, rc->w.efd, &ev) < 0 ||
        epoll_ctl(rc->epfd, EPOLL_CTL_ADD, rc->kick_fd, &kev) < 0) {
        err = -errno;
        goto fail;
    }
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
    rc->closing = 1;
    /* Say goodbye so the servers forget us now, not when UCX notices we are gone;
     * all at once, so that servers stopping themselves cost one wait, not one each. */
    struct rpc_call *byes = calloc(rc->nodes, sizeof *byes);
    size_t n = 0;
    for (uint32_t i = 0; byes && i < rc->nodes; i++) {
        if (rc->conn[i].ep && !rc->conn[i].failed && rc->conn[i].client) {
            byes[n].node = i;
            byes[n++].op = OP_BYE;
        }
    }
    if (n)
        rpc_run_timeout(rc, byes, n, 2.0);
    free(byes);
    if (rc->w.worker)
        for (uint32_t i = 0; i < rc->nodes; i++)
            close_ep(rc, &rc->conn[i]);

    if (rc->addr)
        ucp_worker_release_address(rc->w.worker, rc->addr);
    ucx_worker_close(&rc->w);
    if (rc->epfd >= 0)
        close(rc->epfd);
    if (rc->kick_fd >= 0)
        close(rc->kick_fd);
    pthread_mutex_destroy(&rc->lock);
    pthread_cond_destroy(&rc->cond);
    free(rc->conn);
    free(rc);
}
