/* ringprobe.c - pings through a worker's shared-memory ring (ringprobe.h). */
#include "ringprobe.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "proto.h"
#include "ucx.h"

#define PROBE_WAKE_MS 10       /* look this often while a ping is on its way */
#define CLOSE_ROUNDS 1000      /* a forced close of an endpoint in this process ends in a few */

struct ringprobe {
    ucp_worker_h worker;       /* on the target's context: its own ring, its own sends */
    ucp_ep_h ep;               /* to the target, as a local peer's */
    uint64_t hdr;              /* the ping on its way (its number); UCX reads it until sent */
    uint64_t sent, seen;       /* the last ping sent, the last received */
    double sent_at;            /* when the last went */
    void *req;                 /* the last ping's send while UCX still holds it */
    int kicked;                /* a peer died: ping now */
};

static ucs_status_t ping_cb(void *arg, const void *header, size_t header_length, void *data,
                            size_t length, const ucp_am_recv_param_t *param)
{
    struct ringprobe *p = arg;
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

/* p NULL: unregisters it. */
static ucs_status_t set_handler(ucp_worker_h target, struct ringprobe *p)
{
    ucp_am_handler_param_t hp = {
        .field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB |
                      UCP_AM_HANDLER_PARAM_FIELD_ARG,
        .id = BFS_AM_PROBE,
        .cb = p ? ping_cb : NULL,
        .arg = p,
    };
    return ucp_worker_set_am_recv_handler(target, &hp);
}

int ringprobe_open(ucp_context_h ctx, ucp_worker_h target, int multi_thread,
                   struct ringprobe **out)
{
    struct ringprobe *p = calloc(1, sizeof *p);
    ucp_address_t *addr = NULL;
    size_t addr_len;
    ucs_status_t st = UCS_ERR_NO_MEMORY;
    *out = NULL;
    if (!p)
        return -ENOMEM;
    ucp_worker_params_t wp = {
        .field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
        .thread_mode = multi_thread ? UCS_THREAD_MODE_SERIALIZED : UCS_THREAD_MODE_SINGLE,
    };
    if ((st = ucp_worker_create(ctx, &wp, &p->worker)) != UCS_OK ||
        (st = ucp_worker_get_address(target, &addr, &addr_len)) != UCS_OK)
        goto fail;
    ucp_ep_params_t ep = { .field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS, .address = addr };
    st = ucp_ep_create(p->worker, &ep, &p->ep);
    ucp_worker_release_address(target, addr);
    if (st != UCS_OK)
        goto fail;
    if ((st = set_handler(target, p)) != UCS_OK)
        goto fail;
    *out = p;
    return 0;
fail:
    ringprobe_close(p, NULL);
    return ucx_errno(st);
}

void ringprobe_close(struct ringprobe *p, ucp_worker_h target)
{
    if (!p)
        return;
    if (target)
        set_handler(target, NULL);
    if (p->req) {
        ucp_request_cancel(p->worker, p->req);
        ucp_request_free(p->req);
    }
    if (p->ep) {
        ucp_request_param_t cp = { .op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS,
                                   .flags = UCP_EP_CLOSE_FLAG_FORCE };
        void *req = ucp_ep_close_nbx(p->ep, &cp);
        if (UCS_PTR_IS_PTR(req)) {
            for (int i = 0; i < CLOSE_ROUNDS && ucp_request_check_status(req) == UCS_INPROGRESS;
                 i++) {
                ucp_worker_progress(p->worker);
                if (target)
                    ucp_worker_progress(target);
            }
            ucp_request_free(req);
        }
    }
    if (p->worker)
        ucp_worker_destroy(p->worker);
    free(p);
}

void ringprobe_kick(struct ringprobe *p)
{
    if (p)
        p->kicked = 1;
}

int ringprobe_busy(const struct ringprobe *p)
{
    return p && (p->kicked || p->seen != p->sent || p->req);
}

static void ping(struct ringprobe *p, double now)
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

int ringprobe_poll(struct ringprobe *p, double now, int *timeout_ms)
{
    if (!p)
        return 0;
    if (p->seen == p->sent && !p->req) {
        if (!p->kicked)
            return 0;   /* the cheap case, on every round of the caller's loop */
        ping(p, now);
    }
    ucp_worker_progress(p->worker);   /* the ping's send, its endpoint's wireup */
    if (p->req && ucp_request_check_status(p->req) != UCS_INPROGRESS) {
        ucp_request_free(p->req);
        p->req = NULL;
    }
    if (p->seen == p->sent)
        return 0;
    if (now - p->sent_at > RINGPROBE_DEADLINE_S)
        return 1;
    if (*timeout_ms < 0 || *timeout_ms > PROBE_WAKE_MS)
        *timeout_ms = PROBE_WAKE_MS;
    return 0;
}
