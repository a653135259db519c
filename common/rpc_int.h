/* rpc_int.h - what rpc.c (calls) and rpc_conn.c (lanes, endpoints, lifetime)
 * share; not for other files (rpc.h is the contract).
 *
 * A client is a small pool of "lanes": each lane is one UCX worker with its own
 * lock, its own endpoint to every server (its own connection there: a HELLO of
 * its own, a client id of its own) and its own table of calls in flight. A
 * thread always uses the same lane (picked round-robin at its first call), so
 * threads on different lanes never wait for each other's lock or progress.
 * Lane 0 is the primary: it connects at rpc_client_connect, and carries every
 * call whose meaning is tied to the connection (locks: a server's lock owner is
 * (connection, owner), so a client's locks must all use one connection; the
 * directory-move lock; waits without a deadline). Other lanes connect to a
 * server at their first call to it, and fall back to lane 0 when they cannot.
 */
#ifndef BENCHFS_RPC_INT_H
#define BENCHFS_RPC_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "rpc.h"
#include "spin.h"
#include "ucx.h"

#define RPC_TABLE_SIZE 256      /* in-flight calls hash buckets, per lane */
#define RPC_MAX_LANES 16

struct rpc_lane;

struct node_conn {
    struct rpc_lane *ln;
    uint32_t node;
    ucp_ep_h ep;
    uint32_t client;            /* our id at this server (OP_HELLO); 0 until then */
    /* Atomic so that rpc_client_connected needs no lock (every call asks it): */
    _Atomic int failed;         /* the endpoint reported an error: close and reconnect */
    _Atomic int up;             /* HELLO answered on the endpoint there is now */
    _Atomic uint64_t gen;       /* which address of the server (srv_addr.gen) it connects to */
    int connecting;             /* a thread is saying HELLO on it */
    double retry_at;            /* lanes other than 0: no new connect attempt before this */
    double poked_at;            /* when we last sent this node a probe */
    void *poke_req;             /* that probe's send, if still in flight */
    uint8_t poke_hdr[BFS_REQ_HDR_LEN];
};

struct rpc_lane {
    struct rpc_client *rc;
    unsigned index;
    uint64_t ident;             /* random, for the lane's life: its HELLOs' cookie (proto.h) */
    _Atomic int open;           /* lanes other than 0 are opened at their first use */
    struct ucx_worker w;
    pthread_mutex_t lock;       /* guards everything below and every call into this worker */
    pthread_cond_t cond;        /* a call finished or the leader stepped down */
    int leader;                 /* a thread is progressing the worker */
    int leader_sleeping;        /* ... and waits in epoll: kick it after sending */
    unsigned sending;           /* requests UCX has not finished sending */
    unsigned closing_eps;       /* endpoint closes UCX has not finished */
    int epfd, kick_fd;
    struct node_conn *conn;     /* [rc->nodes] */
    struct rpc_call *table[RPC_TABLE_SIZE];
    uint64_t next_id;
    ucp_address_t *addr;        /* this worker's address, sent in OP_HELLO */
    size_t addr_len;
    struct bfs_spin spin;       /* the leader's spin (common/spin.h) */
    struct rpc_call *live;      /* calls sent here whose rpc_lane_run has not returned */
    /* rpc_ring.c: the look at this worker's shared-memory ring. */
    struct ringprobe *probe;    /* opened at the first cause (most clients never need it) */
    int ring_suspect;           /* a server died or a call timed out: ping the ring */
    double reopen_at;           /* no worker (a new one failed to open): next try then */
    unsigned renewals;          /* new workers this lane got */
    uint64_t calls, lock_waits; /* measurements: rpc runs, and those that found the lock taken */
    double lock_wait_s;         /* ... and the time they waited for it */
};

/* A server's UCX address as the registry gave it (rpc_client_connect). */
struct srv_addr {
    void *addr;
    size_t len;
    _Atomic uint64_t gen;       /* bumped at each rpc_client_connect of the node */
};

struct rpc_client {
    uint32_t nodes;
    uint8_t key[BFS_KEY_LEN];
    double timeout_s;
    _Atomic int closing;        /* rpc_client_destroy runs: endpoint errors are expected */
    int fault;                  /* BENCHFS_FAULT=client-recv-fail (tests only) */
    unsigned nlanes;
    struct rpc_lane *lanes;
    pthread_mutex_t addr_lock;  /* guards srv[].addr/len */
    struct srv_addr *srv;
    void (*wait_hook)(void *);  /* rpc_client_set_wait_hook; written under every lane's lock */
    void *wait_hook_arg;
    double wait_hook_s;
    /* rpc_idle.c: the thread progressing idle lanes, and how it is stopped. */
    pthread_t idle_thread;
    pthread_mutex_t idle_lock;
    pthread_cond_t idle_cond;
    int idle_stop, idle_inited, idle_running;
    pid_t idle_pid;             /* the process the thread runs in */
};

/* rpc.c: sends calls on lane ln and waits for them (the body of rpc_run_timeout). */
int rpc_lane_run(struct rpc_lane *ln, struct rpc_call *calls, size_t n, double timeout_s);
/* rpc.c: the reply handler every lane's worker registers. */
ucs_status_t rpc_reply_cb(void *arg, const void *header, size_t header_length, void *data,
                          size_t length, const ucp_am_recv_param_t *param);

/* rpc_conn.c: closes nc's endpoint without waiting (ln->lock held); UCX
 * finishes the close during later progress. */
void rpc_close_ep(struct rpc_lane *ln, struct node_conn *nc);
/* rpc_conn.c: 1 if nc can carry calls now (ln->lock held). */
int rpc_conn_usable(const struct rpc_lane *ln, const struct node_conn *nc);
/* rpc_conn.c: the lane that calls[0..n) go on, connecting the calling thread's
 * lane to their servers first if it has to. */
struct rpc_lane *rpc_pick_lane(struct rpc_client *rc, struct rpc_call *calls, size_t n);
/* rpc_conn.c: the endpoint error handler (UCX calls it inside progress, lock held). */
void rpc_ep_error_cb(void *arg, ucp_ep_h ep, ucs_status_t status);

/* rpc.c: fails the unanswered calls to node (UINT32_MAX: all) with status
 * (ln->lock held). */
void rpc_fail_calls(struct rpc_lane *ln, uint32_t node, int status);

/* rpc_conn.c: opens ln's worker (its reply handler, address and place in
 * ln->epfd), and closes it (with its ring probe); ln->lock held or the lane not
 * yet shared. open: 0 or -errno (then ln->w.worker is NULL). */
int rpc_lane_worker_open(struct rpc_lane *ln);
void rpc_lane_worker_close(struct rpc_lane *ln);

/* rpc_ring.c: a lane's shared-memory receive ring, which a server killed in the
 * middle of a reply leaves stuck (common/ringprobe.h). All with ln->lock held.
 * suspect: a server died, or a call timed out (may be called in callbacks).
 * check: by the leader, right after it progressed the worker: pings the ring
 * when suspect; if the ring is stuck, gives the lane a
 * new worker (every call on the lane fails with -ENOTCONN, every endpoint is
 * dropped) and returns 1; else 0, lowering *timeout_ms (-1: none) to when to
 * look again. before_send: before a thread sends on ln: looks at the ring
 * first if that is due and nobody leads, and retries opening a worker that a
 * renewal could not open (without one, every endpoint is gone and calls fail
 * unsent with -ENOTCONN). */
void rpc_ring_suspect(struct rpc_lane *ln);
int rpc_ring_check(struct rpc_lane *ln, double now, int *timeout_ms);
void rpc_ring_before_send(struct rpc_lane *ln);

/* rpc_idle.c: starts (rpc_client_create) and stops (rpc_client_destroy, first)
 * the thread that progresses lanes nobody progresses. start: 0 or -errno. */
int rpc_idle_start(struct rpc_client *rc);
void rpc_idle_stop(struct rpc_client *rc);

#endif
