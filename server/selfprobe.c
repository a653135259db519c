/* selfprobe.c - is the server's shared-memory receive queue still moving?
 *
 * UCX's shared-memory transport (mm: posix, sysv) puts every local sender's
 * messages into one ring of the receiving worker: a sender takes a slot, fills
 * it, then marks it written, and the worker reads the slots in order. A sender
 * killed between taking and marking (kill -9 of a client in the middle of a
 * call) leaves a slot that is never marked, and the worker reads nothing after
 * it, from anyone on this host: the server looks alive and answers no local
 * client again (measured here: about one kill -9 in 25 of a client writing
 * 4 KiB files). UCX has no way out of that ring.
 *
 * So the server sends itself a ping through the ring, from a second worker of
 * its own (a local sender like any client), when it learns that a peer died
 * (selfprobe_kick: UCX's keepalive found its endpoint dead; a dead client's
 * next-in-line senders wake the loop for it), and only then: with a ping every
 * second while awake, the server of a client stopped by kill -STOP was once
 * seen using a whole core (tests/stress/idle_client.sh in CI; not understood,
 * so the pings go only when there is a cause). A ping not received within
 * PROBE_DEADLINE_S means the ring is stuck; the loop then restarts the server
 * in place (server.c), which gets it a new worker and a new ring.
 *
 * Loop thread only, like the rest of the transport.
 */
#include "server_int.h"

#include "../common/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define PROBE_DEADLINE_S 2.0   /* a ping this late: the ring is stuck */
#define PROBE_WAKE_MS 10       /* the loop looks this often while a ping is on its way */

struct selfprobe {
    ucp_worker_h worker;       /* on the server's context: its own ring, its own sends */
    ucp_ep_h ep;               /* to the server's worker, as a local client's */
    uint64_t hdr;              /* the ping on its way (its number); UCX reads it until sent */
    uint64_t sent, seen;       /* the last ping sent, the last received */
    double sent_at;            /* when the last went */
    void *req;                 /* the last ping's send while UCX still holds it */
    int kicked;                /* a peer died: ping now */
};

static ucs_status_t ping_cb(void *arg, const void *header, size_t header_length, void *data,
                            size_t length, const ucp_am_recv_param_t *param)
{
    struct selfprobe *p = arg;
    uint64_t n;
    (void)data;
    (void)param;
    /* Anyone can send this id; only our own number counts. */
    if (header_length == sizeof n && length == 0) {
        memcpy(&n, header, sizeof n);
        if (n == p->sent)
            p->seen = n;
    }
    return UCS_OK;
}

int selfprobe_init(struct server *s)
{
    struct selfprobe *p = calloc(1, sizeof *p);
    ucp_address_t *addr = NULL;
    size_t addr_len;
    ucs_status_t st = UCS_ERR_NO_MEMORY;
    if (!p)
        goto fail;
    ucp_worker_params_t wp = { .field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
                               .thread_mode = UCS_THREAD_MODE_SINGLE };
    if ((st = ucp_worker_create(s->w.ctx, &wp, &p->worker)) != UCS_OK ||
        (st = ucp_worker_get_address(s->w.worker, &addr, &addr_len)) != UCS_OK)
        goto fail;
    ucp_ep_params_t ep = { .field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS, .address = addr };
    st = ucp_ep_create(p->worker, &ep, &p->ep);
    ucp_worker_release_address(s->w.worker, addr);
    if (st != UCS_OK)
        goto fail;
    ucp_am_handler_param_t hp = {
        .field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB |
                      UCP_AM_HANDLER_PARAM_FIELD_ARG,
        .id = BFS_AM_PROBE,
        .cb = ping_cb,
        .arg = p,
    };
    if ((st = ucp_worker_set_am_recv_handler(s->w.worker, &hp)) != UCS_OK)
        goto fail;
    s->probe = p;
    return 0;
fail:
    log_warn("cannot set up the look at the shared-memory receive queue (%s): a client killed "
             "in the middle of a call may leave this server deaf to local clients",
             ucs_status_string(st));
    s->probe = p;
    selfprobe_fini(s);
    return ucx_errno(st);
}

void selfprobe_fini(struct server *s)
{
    struct selfprobe *p = s->probe;
    if (!p)
        return;
    if (s->w.worker) {
        ucp_am_handler_param_t hp = { .field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID |
                                                    UCP_AM_HANDLER_PARAM_FIELD_CB,
                                      .id = BFS_AM_PROBE, .cb = NULL };
        ucp_worker_set_am_recv_handler(s->w.worker, &hp);
    }
    if (p->req) {
        ucp_request_cancel(p->worker, p->req);
        ucp_request_free(p->req);
    }
    if (p->ep) {
        ucp_request_param_t cp = { .op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
                                   .flags = UCP_EP_CLOSE_FLAG_FORCE };
        void *req = ucp_ep_close_nbx(p->ep, &cp);
        if (UCS_PTR_IS_PTR(req)) {
            /* Bounded: a forced close of an endpoint in this process ends in a few rounds. */
            for (int i = 0; i < 1000 && ucp_request_check_status(req) == UCS_INPROGRESS; i++) {
                ucp_worker_progress(p->worker);
                ucp_worker_progress(s->w.worker);
            }
            ucp_request_free(req);
        }
    }
    if (p->worker)
        ucp_worker_destroy(p->worker);
    free(p);
    s->probe = NULL;
}

void selfprobe_kick(struct server *s)
{
    if (s->probe)
        s->probe->kicked = 1;
}

static void ping(struct selfprobe *p, double now)
{
    p->hdr = ++p->sent;
    p->sent_at = now;
    p->kicked = 0;
    ucp_request_param_t sp = { .op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
                               .flags = UCP_AM_SEND_FLAG_EAGER };
    ucs_status_ptr_t r = ucp_am_send_nbx(p->ep, BFS_AM_PROBE, &p->hdr, sizeof p->hdr, NULL, 0, &sp);
    if (UCS_PTR_IS_PTR(r)) {
        p->req = r;
    } else if (UCS_PTR_IS_ERR(r)) {
        /* Not a verdict on the ring: this ping is given up, the next is tried. */
        log_warn("cannot send the shared-memory queue's ping: %s",
                 ucs_status_string(UCS_PTR_STATUS(r)));
        p->seen = p->sent;
    }
}

int selfprobe_poll(struct server *s, double now, int *timeout_ms)
{
    struct selfprobe *p = s->probe;
    if (!p)
        return 0;
    if (p->seen == p->sent && !p->req) {
        if (!p->kicked)
            return 0;   /* the cheap case, on every round of the loop */
        ping(p, now);
    }
    ucp_worker_progress(p->worker);   /* the ping's send, its endpoint's wireup */
    if (p->req && ucp_request_check_status(p->req) != UCS_INPROGRESS) {
        ucp_request_free(p->req);
        p->req = NULL;
    }
    if (p->seen == p->sent)
        return 0;
    if (now - p->sent_at > PROBE_DEADLINE_S)
        return 1;
    if (*timeout_ms < 0 || *timeout_ms > PROBE_WAKE_MS)
        *timeout_ms = PROBE_WAKE_MS;
    return 0;
}
