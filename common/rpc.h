/* rpc.h - the client side of BenchFS RPC over UCP Active Messages.
 *
 * A client is a small pool of UCX workers ("lanes", rpc_int.h), each with its
 * own lock and its own endpoint to every server node; a thread always uses the
 * same lane (BENCHFS_CLIENT_LANES, default 1: see docs/DESIGN.md), so threads on
 * different lanes never wait for each other. Calls tied to the connection
 * (locks, waits without deadline) all go on lane 0. Within a lane, any number of threads may have
 * calls in flight at once: a call is sent, then its thread waits; whichever
 * waiting thread finds no other thread progressing the lane's worker becomes
 * the "leader" and progresses it for everyone (completing other threads' calls
 * and waking them), sleeping on the worker's event fd when there is nothing to
 * do after a short spin (common/spin.h). So no thread spins while idle, and a
 * lone caller pays no thread hand-off.
 *
 * Every call has a deadline (the client's RPC timeout): it ends with
 * -ETIMEDOUT if no reply came, or if a reply's rendezvous data did not arrive
 * by then (the connection it came on is closed, which gives the buffer back;
 * rpc_run returns once UCX has, normally at once). A server whose endpoint fails (peer error
 * handling) fails its calls with -ENOTCONN, and the node is marked
 * disconnected until rpc_client_connect is called for it again. A lane whose
 * shared-memory ring a dying server left stuck fails every call on it with
 * -ENOTCONN, gets a new worker and is disconnected from every node
 * (rpc_ring.c).
 */
#ifndef BENCHFS_RPC_H
#define BENCHFS_RPC_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include "proto.h"

struct rpc_client;

/* One RPC. The caller fills the "in" fields, and owns the struct and every
 * buffer it points to until rpc_wait returns. */
struct rpc_call {
    /* in */
    uint32_t node;               /* which server */
    uint32_t op;                 /* enum bfs_op */
    struct bfs_msg args;         /* the op's request fields */
    const void *data;            /* request bulk (WRITE payload) or NULL */
    size_t data_len;
    void *rbuf;                  /* where a reply's bulk goes (READ data, READDIR entries) */
    size_t rbuf_len;
    /* Tests of the server's input checks only: when raw_len > 0, these bytes
     * go out as the request header instead of an encoded one (op still picks
     * the HELLO send flags). The call's id (bytes 8..15) and this client's id
     * (bytes 28..31) are written where raw_len reaches them, so that the
     * server can answer and the reply be matched. */
    uint8_t *raw;
    size_t raw_len;
    /* out, valid after rpc_wait */
    int status;                  /* 0 or negative errno: the server's, or a transport error */
    struct bfs_msg reply;        /* the op's reply fields; strings point into rargs */
    size_t rdata_len;            /* reply bulk bytes placed in rbuf */
    int not_sent;                /* -ENOTCONN before anything was sent (the connection was
                                  * known broken): no server saw it, it may be sent again */
    /* private */
    uint64_t id;
    double sent_at;
    struct rpc_lane *lane;
    void *reply_ep;              /* a rendezvous reply's endpoint while its data is pending */
    int done, send_done, recv_pending;
    int long_wait;               /* rpc_run_wait's: no deadline, no probes */
    void *send_req;
    struct rpc_call *hnext;      /* the lane's table of unanswered calls */
    struct rpc_call *lnext, **lprev;   /* the lane's calls sent and not yet returned */
    uint8_t hdr[BFS_REQ_HDR_LEN + BFS_MAX_ARGS_LEN];
    uint8_t rargs[BFS_MAX_ARGS_LEN];
};

/* nodes: cluster size; key: the cluster key sent with every request;
 * timeout_s: deadline of every call. */
int rpc_client_create(uint32_t nodes, const uint8_t key[BFS_KEY_LEN], double timeout_s,
                      struct rpc_client **out);
void rpc_client_destroy(struct rpc_client *rc);

/* (Re)connects node to the server's UCX worker address (from the registry)
 * and says HELLO. 0 or -errno (-ENOTCONN: the server did not answer). */
int rpc_client_connect(struct rpc_client *rc, uint32_t node, const void *addr, size_t len);
/* 1 if node has a working endpoint. */
int rpc_client_connected(struct rpc_client *rc, uint32_t node);

/* 1 for a status the transport gave (no answer from the server came). */
static inline int rpc_transport_error(int status)
{
    return status == -ENOTCONN || status == -ETIMEDOUT || status == -EPROTO;
}

/* Sends calls[0..n) and waits for all of them. Returns 0 when every call got a
 * reply (each call's own status says how it went) or the first transport error
 * (rpc_transport_error), which is also in the calls it hit. */
int rpc_run(struct rpc_client *rc, struct rpc_call *calls, size_t n);
/* The same with a deadline of its own instead of the client's RPC timeout. */
int rpc_run_timeout(struct rpc_client *rc, struct rpc_call *calls, size_t n, double timeout_s);

/* One call the server answers when it can (a lock request that waits for the
 * lock): no deadline, and no probes while it waits (see poke_slow_servers);
 * whoever progresses the worker wakes twice a second so that UCX's keepalive
 * finds a server that died: the call then ends with -ENOTCONN. To end it
 * early, have the server answer it (OP_LOCK_CANCEL). Returns as rpc_run. */
int rpc_run_wait(struct rpc_client *rc, struct rpc_call *call);

/* fn(arg) is called, at most once per rpc_run, by a thread whose calls are
 * still unanswered after_s seconds after it sent them, or that has to wait
 * while another thread's calls are in flight: a caller that serves requests
 * (the FUSE loop) can then let another thread take the next one. fn runs with
 * the lane's lock held: it must be quick and must not call into the client.
 * fn NULL removes the hook. */
void rpc_client_set_wait_hook(struct rpc_client *rc, void (*fn)(void *), void *arg,
                              double after_s);

#endif
