/* ucx.h - the UCX context and worker setup that server and client share.
 *
 * One worker with Active Messages and wakeup (its event fd can be epolled, so an
 * idle process sleeps). Before ucp_init, UCX_POSIX_ERROR_HANDLING and
 * UCX_SYSV_ERROR_HANDLING default to "y": BenchFS endpoints use peer error
 * handling, which UCX 1.13 otherwise refuses on shared memory and silently
 * replaces by TCP. Variables the user set (UCX_TLS, ...) are left alone.
 */
#ifndef BENCHFS_UCX_H
#define BENCHFS_UCX_H

#include <stddef.h>
#include <ucp/api/ucp.h>

struct ucx_worker {
    ucp_context_h ctx;
    ucp_worker_h  worker;
    int           efd;            /* epoll this; see ucx_worker_arm */
    size_t        max_am_header;
};

/* multi_thread: the worker is used from several threads (under the caller's lock,
 * UCS_THREAD_MODE_SERIALIZED). Returns 0 or -errno; logs
 * "Failed to create UCX context: ..." (the seed's words) on failure. */
/* A client's worker (multi_thread) gets a 1 s keepalive, a server's 2 s (see ucx.c). */
int ucx_worker_open(struct ucx_worker *w, int multi_thread);
void ucx_worker_close(struct ucx_worker *w);

/* Progresses until there is nothing left to do, then arms the event fd.
 * Returns 1 when armed (sleep on efd is safe), 0 when new work arrived while
 * arming (progress again), or -errno. */
int ucx_worker_arm(struct ucx_worker *w);

/* Maps a UCS status to a negative errno. */
int ucx_errno(ucs_status_t st);

/* Waits (progressing) for a request from a *_nbx call, at most 10 s; returns its
 * status as -errno (-ETIMEDOUT if it gave up). Only for setup and teardown. */
int ucx_wait(struct ucx_worker *w, ucs_status_ptr_t req);

#endif
