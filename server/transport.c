/* transport.c - the server's side of the wire: receive requests (checked before
 * anything uses them), fetch their bulk, queue them for the handlers, answer the
 * connection requests (OP_HELLO, OP_BYE) itself, and send replies on the
 * server's own endpoint to each client (see proto.h, OP_HELLO). */
#include "server_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"
#include "../common/ringprobe.h"

#define RNDV_STALL_MIN 65536   /* BENCHFS_FAULT=rndv-stall: replies this large stall the server */
#define RNDV_STALL_S 15        /* ... for this long */

#define CONN_SLOT(id) ((id) & 0xffffu)
#define MAX_CONNS 65535u

/* ---- connections ---- */

static void conn_put(struct srv_conn *c)
{
    if (c)
        c->refs--;
}

static void conn_error_cb(void *arg, ucp_ep_h ep, ucs_status_t status)
{
    struct srv_conn *c = arg;
    (void)ep;
    log_info("client %u: connection lost: %s", c->id, ucs_status_string(status));
    if (!c->failed) {
        c->failed = 1;
        c->srv->dying++;
    }
    ringprobe_kick(c->srv->probe);   /* a peer that died may have died sending to us */
}

/* The connection named by a request's client id, or NULL if it is unknown or gone. */
static struct srv_conn *conn_get(struct server *s, uint32_t id)
{
    uint32_t slot = CONN_SLOT(id);
    struct srv_conn *c = slot < s->nconns ? s->conns[slot] : NULL;
    if (!c || c->id != id || c->failed)
        return NULL;
    c->refs++;
    return c;
}

/* A lane has one connection here (proto.h, OP_HELLO): older ones of c's
 * identity are left over from a HELLO whose reply was lost or from a worker
 * the client replaced. UCX does not see them die (the process lives), so they
 * go now, with their locks. */
static void forget_older(struct server *s, struct srv_conn *c)
{
    for (uint32_t slot = 1; c->ident && slot < s->nconns; slot++) {
        struct srv_conn *old = s->conns[slot];
        if (!old || old == c || old->ident != c->ident || old->failed)
            continue;
        log_info("client %u: replaced by client %u (a new connection of the same client lane)",
                 old->id, c->id);
        old->failed = 1;
        s->dying++;
    }
}

/* OP_HELLO: connects back to the client at the worker address in r's bulk and
 * makes r->conn that connection; 0 or -errno. */
static int conn_hello(struct server *s, struct srv_req *r)
{
    uint32_t slot;
    for (slot = 1; slot < s->nconns && s->conns[slot]; slot++)
        ;
    if (slot >= MAX_CONNS)
        return -EMFILE;
    if (slot >= s->nconns) {
        uint32_t n = s->nconns ? s->nconns * 2 : 64;
        struct srv_conn **t = realloc(s->conns, n * sizeof *t);
        if (!t)
            return -ENOMEM;
        memset(t + s->nconns, 0, (n - s->nconns) * sizeof *t);
        s->conns = t;
        s->nconns = n;
    }
    struct srv_conn *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    c->srv = s;
    if (++s->conn_generation == 0)
        s->conn_generation = 1;
    c->id = slot | (uint32_t)s->conn_generation << 16;
    /* Our own endpoint to the client's worker: we learn when it fails. */
    ucp_ep_params_t ep = {
        .field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                      UCP_EP_PARAM_FIELD_ERR_HANDLER,
        .address = r->data,
        .err_mode = UCP_ERR_HANDLING_MODE_PEER,
        .err_handler = { .cb = conn_error_cb, .arg = c },
    };
    ucs_status_t st = ucp_ep_create(s->w.worker, &ep, &c->ep);
    if (st != UCS_OK) {
        log_warn("HELLO: cannot connect back to the client: %s", ucs_status_string(st));
        free(c);
        return -ECONNREFUSED;   /* (no connection: this reply cannot be sent) */
    }
    s->conns[slot] = c;
    c->refs = 1;
    r->conn = c;
    r->r.client = c->id;
    c->ident = r->a.cookie;
    log_debug("client %u: connected (lane %016llx)", c->id, (unsigned long long)c->ident);
    forget_older(s, c);
    return 0;
}

/* OP_BYE: the client goes. */
static void conn_bye(struct srv_req *r)
{
    /* Replying still works: the endpoint closes once the reply has gone. */
    if (r->conn && !r->conn->failed) {
        r->conn->failed = 1;
        r->srv->dying++;
    }
}

void transport_reap(struct server *s)
{
    for (uint32_t slot = 1; s->dying && slot < s->nconns; slot++) {
        struct srv_conn *c = s->conns[slot];
        if (!c || !c->failed)
            continue;
        /* Now, not once the last request lets go: a lock waiter holds it. */
        if (!c->gone_told) {
            c->gone_told = 1;
            handlers_conn_gone(s, c->id);
        }
        if (c->refs)
            continue;
        if (c->ep && !c->close_req) {
            ucp_request_param_t p = { .op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
                                      .flags = UCP_EP_CLOSE_FLAG_FORCE };
            void *req = ucp_ep_close_nbx(c->ep, &p);
            c->ep = NULL;
            if (UCS_PTR_IS_PTR(req)) {
                c->close_req = req;
                continue;
            }
        }
        if (c->close_req) {
            if (ucp_request_check_status(c->close_req) == UCS_INPROGRESS)
                continue;
            ucp_request_free(c->close_req);
        }
        log_debug("client %u: forgotten", c->id);
        s->conns[slot] = NULL;
        s->dying--;
        free(c);
    }
}

/* ---- requests ---- */

static struct srv_req *req_alloc(struct server *s)
{
    struct srv_req *r = s->free_reqs;
    if (r)
        s->free_reqs = r->next;
    else if (!(r = malloc(sizeof *r)))
        return NULL;
    r->srv = s;
    r->conn = NULL;
    r->hello_ep = NULL;
    r->data = r->rdata = NULL;
    r->data_len = r->rdata_len = 0;
    r->data_buf = r->rdata_buf = -1;
    r->stage = 0;
    r->next = NULL;
    memset(&r->a, 0, sizeof r->a);
    memset(&r->r, 0, sizeof r->r);
    s->inflight++;
    return r;
}

static void req_release(struct srv_req *r)
{
    struct server *s = r->srv;
    handlers_buf_put(s, r->data, r->data_buf);
    handlers_buf_put(s, r->rdata, r->rdata_buf);
    conn_put(r->conn);
    r->next = s->free_reqs;
    s->free_reqs = r;
    s->inflight--;
}

static void enqueue_ready(struct server *s, struct srv_req *r)
{
    req_append(&s->ready_head, &s->ready_tail, r);
}

struct srv_req *transport_next_ready(struct server *s)
{
    struct srv_req *r = s->ready_head;
    if (r) {
        s->ready_head = r->next;
        if (!s->ready_head)
            s->ready_tail = NULL;
    }
    return r;
}

void transport_run(struct server *s, struct srv_req *r)
{
    if (r->op > 0 && r->op < OP_MAX)
        s->counters[r->op]++;
    switch (r->op) {
    case OP_HELLO:
        log_debug("request %llu: HELLO", (unsigned long long)r->id);
        srv_reply(r, conn_hello(s, r));
        break;
    case OP_BYE:
        log_debug("request %llu: BYE from client %u", (unsigned long long)r->id,
                  r->conn ? r->conn->id : 0);
        conn_bye(r);
        srv_reply(r, 0);
        break;
    default:
        handle_request(s, r);
    }
}

static void reply_done_cb(void *request, ucs_status_t status, void *user_data)
{
    struct srv_req *r = user_data;
    if (status != UCS_OK)
        log_info("request %llu (%s): reply not delivered: %s", (unsigned long long)r->id,
                 proto_op_name(r->op), ucs_status_string(status));
    ucp_request_free(request);
    r->srv->sending--;
    req_release(r);
}

void srv_reply(struct srv_req *r, int status)
{
    struct srv_conn *c = r->conn;
    ucp_ep_h ep = c ? c->ep : r->hello_ep;
    /* A BYE's connection is marked failed but still gets its reply. */
    if (!ep || (c && c->failed && r->op != OP_BYE)) {
        log_debug("request %llu (%s): client gone, reply dropped", (unsigned long long)r->id,
                  proto_op_name(r->op));
        req_release(r);
        return;
    }
    size_t alen = status == 0 ? proto_args_size(r->op, 1, &r->r) : 0;
    if (alen > BFS_MAX_ARGS_LEN) {
        log_error("request %llu (%s): reply too large", (unsigned long long)r->id, proto_op_name(r->op));
        status = -EOVERFLOW;
        alen = 0;
    }
    size_t dlen = status == 0 ? r->rdata_len : 0;
    struct bfs_rep_hdr h = { .magic = BFS_PROTO_MAGIC, .status = status, .id = r->id,
                             .args_len = (uint32_t)alen, .data_len = (uint32_t)dlen };
    proto_rep_hdr_encode(&h, r->rhdr);
    if (alen)
        proto_args_encode(r->op, 1, &r->r, r->rhdr + BFS_REP_HDR_LEN);
    log_trace("request %llu (%s): reply status %d, %zu bytes", (unsigned long long)r->id,
              proto_op_name(r->op), status, dlen);

    ucp_request_param_t p = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
        .cb.send = reply_done_cb,
        .user_data = r,
    };
    ucs_status_ptr_t sp = ucp_am_send_nbx(ep, BFS_AM_REPLY, r->rhdr, BFS_REP_HDR_LEN + alen,
                                          r->rdata, dlen, &p);
    if (UCS_PTR_IS_ERR(sp))
        log_info("request %llu (%s): cannot send reply: %s", (unsigned long long)r->id,
                 proto_op_name(r->op), ucs_status_string(UCS_PTR_STATUS(sp)));
    if (UCS_PTR_IS_PTR(sp))
        r->srv->sending++;
    else
        req_release(r);
    /* Tests only: a server that has started a large (rendezvous) reply and then
     * stops serving, so that the reply's data never arrives in time. */
    if (dlen >= RNDV_STALL_MIN && UCS_PTR_IS_PTR(sp) && server_fault("rndv-stall")) {
        log_warn("BENCHFS_FAULT=rndv-stall: stalling %d s after a %zu-byte reply", RNDV_STALL_S, dlen);
        sleep(RNDV_STALL_S);
    }
}

static void data_done_cb(void *request, ucs_status_t status, size_t length, void *user_data)
{
    struct srv_req *r = user_data;
    ucp_request_free(request);
    r->srv->receiving--;
    if (status != UCS_OK || length != r->data_len) {
        log_warn("request %llu (%s): receiving %zu data bytes failed: %s", (unsigned long long)r->id,
                 proto_op_name(r->op), r->data_len, ucs_status_string(status));
        srv_reply(r, status != UCS_OK ? -EIO : -EBADMSG);
        return;
    }
    enqueue_ready(r->srv, r);
}

/* Constant time, so the key cannot be guessed byte by byte from reply timing. */
static int key_ok(const uint8_t *a, const uint8_t *b)
{
    uint8_t d = 0;
    for (int i = 0; i < BFS_KEY_LEN; i++)
        d |= (uint8_t)(a[i] ^ b[i]);
    return d == 0;
}

/* Checks one request; on success r->a holds its fields. */
static int check_request(struct server *s, struct srv_req *r, const struct bfs_req_hdr *h,
                         const uint8_t *header, size_t header_length, size_t length)
{
    if (h->args_len != header_length - BFS_REQ_HDR_LEN || h->data_len != length)
        return -EBADMSG;
    if (!key_ok(h->key, s->key))
        return -EACCES;
    if (length > proto_req_data_max(h->op))
        return -EBADMSG;
    if (h->op == OP_HELLO && (length == 0 || length > 65536))
        return -EBADMSG;
    memcpy(r->args, header + BFS_REQ_HDR_LEN, h->args_len);
    return proto_args_decode(h->op, 0, r->args, h->args_len, &r->a);
}

static ucs_status_t request_cb(void *arg, const void *header, size_t header_length, void *data,
                               size_t length, const ucp_am_recv_param_t *param)
{
    struct server *s = arg;
    struct bfs_req_hdr h;
    int rc = proto_req_hdr_decode(header, header_length < BFS_REQ_HDR_LEN ? header_length
                                                                          : BFS_REQ_HDR_LEN, &h);
    if (rc == 0 && header_length > BFS_REQ_HDR_LEN + BFS_MAX_ARGS_LEN)
        rc = -EBADMSG;
    struct srv_conn *c = h.op == OP_HELLO ? NULL : conn_get(s, h.client);
    if (!c && rc == 0 && h.op == OP_NOP && h.client == 0)
        return UCS_OK;   /* a client's probe behind its stalled HELLO: only its bytes matter */
    if (!c && h.op != OP_HELLO) {
        /* Not our protocol, or a client that did not say HELLO: nobody to answer. */
        s->bad_requests++;
        log_warn("dropping a request from an unknown client %u (%zu header bytes)", h.client,
                 header_length);
        return UCS_OK;
    }
    struct srv_req *r = req_alloc(s);
    if (!r) {
        conn_put(c);
        log_error("request %llu: out of memory", (unsigned long long)h.id);
        return UCS_OK;
    }
    r->id = h.id;
    r->op = h.op;
    r->conn = c;
    if (rc == 0)
        rc = check_request(s, r, &h, header, header_length, length);
    if (rc < 0) {
        s->bad_requests++;
        log_warn("request %llu (%s) from client %u: rejected: %s", (unsigned long long)h.id,
                 proto_op_name(h.op), h.client, strerror(-rc));
        /* A refused HELLO has no connection yet: answer on the endpoint it came by. */
        if (h.op == OP_HELLO && (param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP))
            r->hello_ep = param->reply_ep;
        srv_reply(r, rc);
        return UCS_OK;
    }
    if (length == 0) {
        enqueue_ready(s, r);
        return UCS_OK;
    }

    /* Write payloads land in a registered io_uring buffer when one is free. */
    r->data_len = length;
    if (!(r->data = handlers_buf_get(s, length, &r->data_buf))) {
        srv_reply(r, -ENOMEM);
        return UCS_OK;
    }
    if (!(param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV)) {
        memcpy(r->data, data, length);
        enqueue_ready(s, r);
        return UCS_OK;
    }
    ucp_request_param_t p = {
        .op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA,
        .cb.recv_am = data_done_cb,
        .user_data = r,
    };
    ucs_status_ptr_t sp = ucp_am_recv_data_nbx(s->w.worker, data, r->data, length, &p);
    if (sp == NULL) {
        enqueue_ready(s, r);
    } else if (UCS_PTR_IS_PTR(sp)) {
        s->receiving++;   /* until data_done_cb */
    } else {
        log_warn("request %llu (%s): receiving its %zu bytes of data failed: %s",
                 (unsigned long long)r->id, proto_op_name(r->op), length,
                 ucs_status_string(UCS_PTR_STATUS(sp)));
        srv_reply(r, -EIO);
        return UCS_OK;   /* not kept: UCX releases the descriptor */
    }
    return UCS_INPROGRESS;
}

int transport_init(struct server *s)
{
    int rc = ucx_worker_open(&s->w, 0);
    if (rc < 0)
        return rc;
    if (s->w.max_am_header < BFS_REQ_HDR_LEN + BFS_MAX_ARGS_LEN)
        log_warn("UCX allows only %zu bytes of AM header; long names or symlink targets may fail",
                 s->w.max_am_header);
    ucp_am_handler_param_t hp = {
        .field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB |
                      UCP_AM_HANDLER_PARAM_FIELD_ARG,
        .id = BFS_AM_REQUEST,
        .cb = request_cb,
        .arg = s,
    };
    ucs_status_t st = ucp_worker_set_am_recv_handler(s->w.worker, &hp);
    if (st != UCS_OK) {
        log_error("cannot register the RPC handler: %s", ucs_status_string(st));
        goto fail;
    }
    return 0;
fail:
    ucx_worker_close(&s->w);
    return ucx_errno(st);
}

void transport_fini(struct server *s)
{
    for (uint32_t slot = 1; slot < s->nconns; slot++) {
        struct srv_conn *c = s->conns[slot];
        if (!c)
            continue;
        if (c->ep) {
            ucp_request_param_t p = { .op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
                                      .flags = UCP_EP_CLOSE_FLAG_FORCE };
            ucx_wait(&s->w, ucp_ep_close_nbx(c->ep, &p));
            c->ep = NULL;
        } else if (c->close_req) {
            ucx_wait(&s->w, c->close_req);
            c->close_req = NULL;
        }
    }
    /* Replies cancelled by the closes finish in their callbacks, which give
     * their requests (and chunk-store buffers) and connections back: let them
     * run before the connections are freed. */
    for (int i = 0; s->w.worker && s->sending && i < 10000; i++)
        ucp_worker_progress(s->w.worker);
    if (s->sending)
        log_warn("shutdown: %u replies still not finished by UCX", s->sending);
    for (uint32_t slot = 1; slot < s->nconns; slot++)
        free(s->conns[slot]);
    free(s->conns);
    s->conns = NULL;
    s->nconns = 0;
    if (s->w.worker)
        ucx_worker_close(&s->w);
    while (s->free_reqs) {
        struct srv_req *r = s->free_reqs;
        s->free_reqs = r->next;
        free(r);
    }
}
