/* ringprobe.h - is a UCX worker's shared-memory receive ring still moving?
 *
 * UCX's shared-memory transport (mm: posix, sysv) puts every local sender's
 * messages into one ring of the receiving worker: a sender takes a slot, fills
 * it, then marks it written, and the worker reads the slots in order. A sender
 * killed between taking and marking (kill -9 in the middle of a send) leaves a
 * slot that is never marked, and the worker reads nothing after it, from
 * anyone on this host, for ever. UCX has no way out of that ring. It happens to
 * a server when a client dies sending it a request (measured here: about one
 * kill -9 in 25 of a client writing 4 KiB files), and to a client's worker when
 * a server dies sending it a reply.
 *
 * A probe is a second worker of the process, on the target worker's context,
 * with an endpoint to the target: a local sender like any peer. When told that
 * a peer died (ringprobe_kick), it pings the target through its ring; a ping
 * not read within RINGPROBE_DEADLINE_S, looked at right after the target was
 * progressed (which reads a moving ring's messages in order), means the ring
 * is stuck. Only then: a
 * ping every second while awake was once seen to keep a server busy
 * (tests/stress/idle_client.sh; not understood), so pings go only with a cause.
 * What to do about a stuck ring is the owner's business: a server restarts
 * itself in place (server/server.c), a client gives the lane a new worker
 * (common/rpc_ring.c).
 *
 * Threads: every call under whatever serialises the target worker (the server's
 * loop thread; a client lane's lock), never inside the target's progress.
 */
#ifndef BENCHFS_RINGPROBE_H
#define BENCHFS_RINGPROBE_H

#include <ucp/api/ucp.h>

#define RINGPROBE_DEADLINE_S 2.0   /* a ping this late: the ring is stuck */

struct ringprobe;

/* Opens a probe of target (a worker of ctx) and registers the ping's handler
 * (BFS_AM_PROBE) on target; multi_thread as for ucx_worker_open. Returns 0 or
 * -errno (then *out is NULL and nothing is left registered). */
int ringprobe_open(ucp_context_h ctx, ucp_worker_h target, int multi_thread,
                   struct ringprobe **out);

/* Unregisters the handler from target (still open) and frees the probe (NULL: no-op). */
void ringprobe_close(struct ringprobe *p, ucp_worker_h target);

/* A peer died: ping at the next ringprobe_poll (NULL: no-op). */
void ringprobe_kick(struct ringprobe *p);

/* 1 while a ping is due or on its way. */
int ringprobe_busy(const struct ringprobe *p);

/* Sends a ping that is due and progresses the probe's own worker. Call it right
 * after target was progressed: returns 1 if the last
 * ping went more than RINGPROBE_DEADLINE_S ago and is still unread (the ring is
 * stuck), else 0, lowering *timeout_ms (-1: none) to when to look again. */
int ringprobe_poll(struct ringprobe *p, double now, int *timeout_ms);

#endif
