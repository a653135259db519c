/* ucx.c - see ucx.h */
#include "ucx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "log.h"
#include "ucx_fork.h"

#define UCX_WAIT_S 10   /* ucx_wait gives up after this long */

int ucx_errno(ucs_status_t st)
{
    switch (st) {
    case UCS_OK: return 0;
    case UCS_ERR_NO_MEMORY: return -ENOMEM;
    case UCS_ERR_TIMED_OUT: return -ETIMEDOUT;
    case UCS_ERR_CANCELED: return -ECANCELED;
    case UCS_ERR_INVALID_PARAM: return -EINVAL;
    case UCS_ERR_MESSAGE_TRUNCATED: return -EMSGSIZE;
    case UCS_ERR_UNREACHABLE:
    case UCS_ERR_ENDPOINT_TIMEOUT:
    case UCS_ERR_CONNECTION_RESET:
    case UCS_ERR_NOT_CONNECTED:
    case UCS_ERR_REJECTED:
        return -ENOTCONN;
    default: return -EIO;
    }
}

int ucx_worker_open(struct ucx_worker *w, int multi_thread)
{
    ucp_config_t *config = NULL;
    ucs_status_t st;
    memset(w, 0, sizeof *w);
    w->efd = -1;

    /* Only where shared memory may be used: otherwise UCX warns the variables
     * are unused. */
    const char *tls = getenv("UCX_TLS");
    if (!tls || strstr(tls, "all") || strstr(tls, "sm") || strstr(tls, "posix") ||
        strstr(tls, "sysv") || tls[0] == '^') {
        setenv("UCX_POSIX_ERROR_HANDLING", "y", 0);
        setenv("UCX_SYSV_ERROR_HANDLING", "y", 0);
    }

    struct ucx_fork_scan scan;
    ucx_fork_scan_begin(&scan);
    st = ucp_config_read(NULL, NULL, &config);
    if (st != UCS_OK)
        goto fail;
    /* A client notices a server killed with kill -9 by keepalive; UCX's 20 s
     * would leave its calls waiting for a dead process, also once the server is
     * running again, until they time out. A server notices a killed client the
     * same way, and only then releases its locks (server/lockreq.c): 2 s, so
     * that they go within an RPC timeout (measured: 3.5 s after kill -9). A
     * server's worker with a short keepalive was once seen to stay busy
     * (ucp_worker_arm) and never sleep; with 2 s an idle server was measured
     * to use no CPU (its loop wakes for keepalive only while locks are held,
     * server.c). UCX_KEEPALIVE_INTERVAL in the environment wins. */
    if (!getenv("UCX_KEEPALIVE_INTERVAL") &&
        (st = ucp_config_modify(config, "KEEPALIVE_INTERVAL", multi_thread ? "1s" : "2s")) !=
            UCS_OK) {
        ucp_config_release(config);
        goto fail;
    }
    ucp_params_t params = {
        .field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_MT_WORKERS_SHARED,
        .features = UCP_FEATURE_AM | UCP_FEATURE_WAKEUP,
        .mt_workers_shared = 0,
    };
    st = ucp_init(&params, config, &w->ctx);
    ucp_config_release(config);
    if (st != UCS_OK)
        goto fail;

    ucp_worker_params_t wp = {
        .field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE,
        .thread_mode = multi_thread ? UCS_THREAD_MODE_SERIALIZED : UCS_THREAD_MODE_SINGLE,
    };
    st = ucp_worker_create(w->ctx, &wp, &w->worker);
    if (st != UCS_OK)
        goto fail;
    ucx_fork_scan_end(&scan);   /* UCX's thread, if this worker started it: see ucx_fork.h */
    st = ucp_worker_get_efd(w->worker, &w->efd);
    if (st != UCS_OK)
        goto fail;
    ucp_worker_attr_t attr = { .field_mask = UCP_WORKER_ATTR_FIELD_MAX_AM_HEADER };
    st = ucp_worker_query(w->worker, &attr);
    if (st != UCS_OK)
        goto fail;
    w->max_am_header = attr.max_am_header;
    return 0;

fail:
    ucx_fork_scan_end(&scan);
    log_error("Failed to create UCX context: %s (check the UCX installation and UCX_TLS)",
              ucs_status_string(st));
    ucx_worker_close(w);
    return ucx_errno(st) == -EIO ? -EHOSTUNREACH : ucx_errno(st);
}

void ucx_worker_close(struct ucx_worker *w)
{
    if (w->worker)
        ucp_worker_destroy(w->worker);
    if (w->ctx)
        ucp_cleanup(w->ctx);
    memset(w, 0, sizeof *w);
    w->efd = -1;
}

#define ARM_PROGRESS_MAX 64   /* progress calls before arming; more: the worker is busy */

int ucx_worker_arm(struct ucx_worker *w)
{
    /* Bounded: a transport that always reports progress (seen with TCP while
     * a peer does not take its data) would otherwise keep the caller here
     * past every deadline. */
    for (int i = 0; ucp_worker_progress(w->worker); i++)
        if (i >= ARM_PROGRESS_MAX)
            return 0;
    ucs_status_t st = ucp_worker_arm(w->worker);
    if (st == UCS_ERR_BUSY)
        return 0;
    return st == UCS_OK ? 1 : ucx_errno(st);
}

int ucx_wait(struct ucx_worker *w, ucs_status_ptr_t req)
{
    if (req == NULL)
        return 0;
    if (UCS_PTR_IS_ERR(req))
        return ucx_errno(UCS_PTR_STATUS(req));
    /* Bounded: teardown must not hang on a peer that never answers. */
    double give_up = bfs_mono_s() + UCX_WAIT_S;
    ucs_status_t st;
    while ((st = ucp_request_check_status(req)) == UCS_INPROGRESS) {
        ucp_worker_progress(w->worker);
        if (bfs_mono_s() > give_up) {
            log_warn("a UCX operation did not finish within %d s; giving up on it", UCX_WAIT_S);
            ucp_request_cancel(w->worker, req);
            st = UCS_ERR_TIMED_OUT;
            break;
        }
    }
    ucp_request_free(req);
    return ucx_errno(st);
}
