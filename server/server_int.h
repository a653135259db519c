/* server_int.h - the storage server's state, shared by its own files only:
 * server.c (startup, event loop, shutdown), transport.c (UCX requests and
 * replies, connections), handlers.c (the table of what each RPC does; the ops
 * themselves there, in handlers_data.c, handlers_ns.c: handlers_int.h),
 * fileops.c (append, fallocate, seek, copy), lockreq.c (locks). */
#ifndef BENCHFS_SERVER_INT_H
#define BENCHFS_SERVER_INT_H

#include <limits.h>
#include <stdint.h>
#include "../common/proto.h"
#include "../common/ucx.h"
#include "chunkstore.h"
#include "crashpoint.h"
#include "meta.h"

struct server;
struct migration;   /* handlers_data.c: a small file moving from inline to chunk mode */
struct entry_lock;  /* handlers_ns.c: an entry whose multi-server operation is running */
struct fence_wait;  /* handlers_ns.c: requests waiting for a directory's fence to go */
struct coord;       /* coord.h: the coordinator of multi-server operations */
struct dirtimes;    /* dirtimes.h: touches of parent directories on other servers */
struct lock_table;  /* locks.h: the byte-range and flock locks of our inodes */

/* A client this server replies to: the server's own endpoint to the client's
 * worker (created at OP_HELLO), so the server learns when the client fails
 * and forgets it; nothing else is kept per client. */
struct srv_conn {
    struct server *srv;
    ucp_ep_h ep;
    uint32_t id;          /* slot index | generation << 16; 0 is never an id */
    uint64_t ident;       /* the client lane's identity (its HELLO's cookie; 0: none given) */
    unsigned refs;        /* requests holding this connection */
    int failed;           /* endpoint error or BYE: no more replies, close it */
    int gone_told;        /* handlers_conn_gone ran: what the client held is gone */
    void *close_req;      /* the ep close in progress */
};

/* One request from receipt to the completion of its reply. Owned by the
 * server; handlers fill r (reply fields) and rdata, then call srv_reply. */
struct srv_req {
    struct server *srv;
    uint32_t op;
    uint64_t id;
    struct srv_conn *conn;             /* who gets the reply */
    ucp_ep_h hello_ep;                 /* a refused HELLO's reply endpoint (valid in the AM callback only) */
    struct bfs_msg a;                  /* request fields; strings point into args */
    void *data;                        /* request bulk (WRITE payload) */
    size_t data_len;
    int data_buf;                      /* handlers_buf_get's buffer index, -1: malloc'd */
    int stage;                         /* a handler's own mark, 0 when r comes in: where a
                                        * request queued mid-way (a migration) goes on */
    struct bfs_msg r;                  /* reply fields */
    void *rdata;                       /* reply bulk */
    size_t rdata_len;
    int rdata_buf;                     /* handlers_buf_get's buffer index, -1: malloc'd */
    struct srv_req *next;              /* ready queue / free list */
    uint8_t args[BFS_MAX_ARGS_LEN];
    uint8_t rhdr[BFS_REP_HDR_LEN + BFS_MAX_ARGS_LEN];
};

struct server {
    uint32_t node_id, nodes, chunk_size;
    const char *data_dir, *registry_dir;
    struct meta_store *meta;
    struct chunkstore *cs;
    struct ucx_worker w;
    uint8_t key[BFS_KEY_LEN];
    struct srv_req *ready_head, *ready_tail;  /* received whole, waiting for a handler */
    struct srv_req *free_reqs;
    unsigned inflight;                 /* received and not yet fully replied */
    unsigned sending;                  /* replies UCX has not finished sending */
    unsigned receiving;                /* request data UCX has not finished receiving */
    uint64_t counters[OP_MAX];         /* requests handled, per op */
    struct srv_conn **conns;           /* by slot; NULL: free */
    uint32_t nconns;
    uint16_t conn_generation;          /* makes a reused slot's id differ from the last */
    unsigned dying;                    /* connections failed and not yet closed */
    double last_work;                  /* when the loop last found work (CLOCK_MONOTONIC s) */
    double compact_at;                 /* no look at the store's free pages before (server.c) */
    double compact_looked;             /* the last look; none again before new work */
    double compact_backoff;            /* after copies that writes overtook: the wait, s */
    struct migration *migrations;      /* inline -> chunk moves in progress (handlers_data.c) */
    struct entry_lock *locks;          /* entries of intents this node coordinates */
    struct fence_wait *fence_waits;    /* by fenced directory */
    struct coord *coord;               /* NULL on a single server */
    struct dirtimes *dirtimes;         /* NULL on a single server */
    struct gone *gone;                 /* inodes whose chunks REMOVE took lately (gone.h) */
    uint64_t move_lock;                /* node 0: the intent holding the cluster's directory-move
                                          lock (0: free), taken by its coordinator's connection */
    uint32_t move_lock_conn;
    struct lock_table *lock_table;     /* locks of inodes owned here (NULL until the first) */
    int locks_stopped;                 /* draining: no more lock waits (lockreq_stop) */
    uint64_t bad_requests;             /* rejected before a handler saw them */
    int closing;                       /* stopping: new requests are refused (server.c) */
    int64_t started_ns;                /* CLOCK_MONOTONIC at start (OP_STATUS's uptime) */
    struct ringprobe *probe;           /* the look at our shared-memory ring (NULL: none) */
    int restart;                       /* draining to restart in place, not to stop (server.c) */
    int poke_fd;                       /* inotify on the registry dir (poke.c; -1: none) */
    char poke_path[PATH_MAX];          /* our poke file ... */
    const char *poke_name;             /* ... and its name in the registry dir */
};

/* Appends r to the queue [*head, *tail] (ready requests, a migration's waiters). */
static inline void req_append(struct srv_req **head, struct srv_req **tail, struct srv_req *r)
{
    r->next = NULL;
    if (*tail)
        (*tail)->next = r;
    else
        *head = r;
    *tail = r;
}

/* transport.c */
int transport_init(struct server *s);
void transport_fini(struct server *s);
/* Closes and frees failed connections; call from the loop, outside callbacks. */
void transport_reap(struct server *s);
struct srv_req *transport_next_ready(struct server *s);
/* Runs ready request r (from transport_next_ready) and counts it (OP_COUNTERS):
 * connection requests are the transport's (OP_HELLO connects back to the client
 * at the worker address in r's bulk, OP_BYE forgets the client), the rest goes
 * to handle_request. r is answered now or later, never lost. */
void transport_run(struct server *s, struct srv_req *r);
/* Sends the reply (status, and on success r's fields for the op plus rdata)
 * and releases the request once UCX is done with it. */
void srv_reply(struct srv_req *r, int status);

/* poke.c: the registry's poke file (common/registry.h). open: 0 or -errno
 * (the server then runs without: logged by the caller). take: when poke_fd is
 * readable; 1 if our file was touched (the ring probe is kicked), else 0.
 * close: also removes the file. Loop thread only. */
int poke_open(struct server *s);
void poke_close(struct server *s);
int poke_take(struct server *s);

/* Tests only: 1 when BENCHFS_FAULT names this misbehaviour ("short-read": READ
 * replies carry half their bytes), so the clients' checks of what a server
 * sends can be seen to work. */
int server_fault(const char *what);

/* handlers.c: runs r (not HELLO or BYE) through the table of handlers; r is
 * answered now or later (-ENOSYS for an opcode without a handler). */
void handle_request(struct server *s, struct srv_req *r);

/* handlers_data.c: request bulk (a WRITE's payload, a READ's reply): a
 * registered chunk-store buffer when one of len bytes is free (*buf gets its
 * index), else malloc'd memory (*buf -1); NULL when out of memory. The
 * transport and the handlers take bulk only through these. */
void *handlers_buf_get(struct server *s, size_t len, int *buf);
/* Gives back p from handlers_buf_get with its buf (NULL, -1 is fine). */
void handlers_buf_put(struct server *s, void *p, int buf);
/* The owner's attributes of regular file ino into *a: 0, -EISDIR (a directory),
 * -EINVAL (any other type: no data), or meta_getattr's -errno. */
int handlers_file_attr(struct server *s, uint64_t ino, struct bfs_attr *a);
/* The write path of OP_WRITE for r's a.ino, a.idx, a.off and data (inline data,
 * migration, chunk file; the owner raises the size and counts the bytes): 0 or
 * -errno to reply now, 1 when the reply comes from a completion. */
int handlers_write(struct server *s, struct srv_req *r);
/* Moves r's file (a.ino) from inline data to chunk file 0, then goes on with r:
 * a FALLOCATE through fileops_migrated, anything else through the write path.
 * 1 (r is answered later) or -errno. */
int handlers_migrate(struct server *s, struct srv_req *r);
/* 1 when r (which would touch chunk 0 of a.ino) now waits for that file's
 * migration to chunk mode (it runs again, from the handlers' table, once that
 * is over); 0 when none runs. */
int handlers_migration_wait(struct server *s, struct srv_req *r);

/* fileops.c: OP_APPEND (a.ino is ours: the table checks it), OP_FALLOCATE,
 * OP_SEEK, OP_COPY; each returns as handlers_write. */
int fileops_append(struct server *s, struct srv_req *r);
int fileops_fallocate(struct server *s, struct srv_req *r);
int fileops_seek(struct server *s, struct srv_req *r);
int fileops_copy(struct server *s, struct srv_req *r);
/* A FALLOCATE piece of chunk 0 whose file had to leave inline mode first, now
 * that it did: 1 or -errno. */
int fileops_migrated(struct server *s, struct srv_req *r);
/* handlers_ns.c: client connection id failed or said BYE (transport.c, once,
 * before its requests are all answered): what it held goes (its locks, the
 * directory-move lock), its waiting requests end. */
void handlers_conn_gone(struct server *s, uint32_t id);
/* Replays the intents left in the store (at start, once s->coord runs). */
int handlers_replay(struct server *s);
/* The coordinator's steps of intent in are over (status: 0 or -errno, -ESHUTDOWN
 * if it was interrupted): marks it done, answers r (if not NULL) and lets the
 * requests waiting for its entry run. */
void handlers_intent_finished(struct server *s, const struct meta_intent *in, struct srv_req *r,
                              int status);

/* lockreq.c: the lock requests (OP_LOCK, OP_LOCK_CANCEL) on s->lock_table
 * (OP_LOCK's a.ino is ours: the table of handlers checks it).
 * Each returns 0 or -errno to reply now, 1 when the reply comes later (a wait). */
int lockreq_lock(struct server *s, struct srv_req *r);
int lockreq_cancel(struct server *s, struct srv_req *r);
/* Connection id is gone: its locks are released, its waiting requests end. */
void lockreq_conn_gone(struct server *s, uint32_t id);
/* The server stops (drain): requests waiting for locks end with -ENOLCK. */
void lockreq_stop(struct server *s);
/* At exit (or a harness's restart): the table goes, with every lock. */
void lockreq_fini(struct server *s);
/* 1 while some client holds or waits for a lock here: the loop then wakes now
 * and then, so that UCX's keepalive finds a client that died. */
int lockreq_active(const struct server *s);

#endif
