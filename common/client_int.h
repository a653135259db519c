/* client_int.h - what the client library's files share beyond client.h:
 *   client.c        connections, sending and waiting (reconnects, -EBUSY retries),
 *                   calls on every node, statfs and counters, open/close;
 *   client_ns.c     the namespace: lookup, attributes, create, link, unlink,
 *                   rename, readdir (each one request to the entry's server;
 *                   multi-server operations are the servers', server/coord.h);
 *   client_data.c   the data path: reads and writes striped over the chunks;
 *   client_xattr.c  extended attributes, at the inode's owner;
 *   client_locks.c  locks; fileops.c  append, fallocate, seek, copy;
 *   client_times.c  the parent times this client changed that are on their way.
 * Every function here is thread-safe, as the library's (client.h). */
#ifndef BENCHFS_CLIENT_INT_H
#define BENCHFS_CLIENT_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>

#include "client.h"

#define WINDOW 4                /* data RPCs one call keeps in flight */
#define DIR_SLOTS 4096          /* inodes known to be directories (a power of two) */
#define COOKIE_NODE_SHIFT 56    /* readdir cookies: node index in the top 8 bits */
#define TIMES_SLOTS 64          /* parents whose times this client awaits (client_times.c) */

struct bfs_client {
    char registry_dir[PATH_MAX];
    uint32_t nodes, chunk_size;
    double rpc_timeout_s;
    struct rpc_client *rpc;
    pthread_mutex_t *reconnect_locks;   /* by node: one reconnect at a time, per server */
    uint32_t *pids;             /* by node: the server process connected to (registry) */
    uint64_t *addr_ids;         /* ... and a hash of its worker address: a server restarted
                                   in place (server/selfprobe.c) keeps its pid, not that */
    /* By node (bfs_mono_ns): when the connected process was last known to be
     * the registered one (an answer, or a look at its registry file), and when
     * the client last connected to a new process there (client.c). */
    _Atomic int64_t *fresh, *replaced;
    _Atomic unsigned char *locked;   /* by node: a lock was granted there (client_locks.c) */
    /* Inode numbers seen as directories (direct-mapped; 0: empty). A type never
     * changes and numbers are never reused, so an entry never goes stale: a
     * removed directory is refused by the servers (its tombstones). */
    _Atomic uint64_t dirs[DIR_SLOTS];
    /* Parents whose times their servers set after answering (client_times.c). */
    pthread_mutex_t times_lock;
    struct client_stamp {
        uint64_t dir;           /* 0: a free slot */
        int64_t stamp;          /* the latest change this client made (wall clock, ns) */
        int64_t until;          /* bfs_mono_ns: forgotten then */
    } times[TIMES_SLOTS];
    _Atomic unsigned ntimes;    /* slots in use: 0 makes client_times_apply free */
    int times_by_client;        /* BENCHFS_PARENT_TIMES=client: the client's own NLINKs */
};

/* client.c */
/* Sends calls (reconnecting to nodes that were lost) and waits for all: a
 * transport error or 0 (see each call's status); -ESTALE for a node outside
 * the cluster. */
int client_run(struct bfs_client *c, struct rpc_call *calls, size_t n);
/* One call: its status or a transport error. */
int client_run1(struct bfs_client *c, struct rpc_call *call);
/* client_run1, tried again after a growing pause while the server answers
 * -EBUSY (another multi-server operation holds what it needs), within the RPC
 * timeout. */
int client_run1_busy(struct bfs_client *c, struct rpc_call *call);
/* op with args on every node but skip (UINT32_MAX: all): the first error, or 0. */
int client_on_all_nodes(struct bfs_client *c, uint32_t skip, uint32_t op, const struct bfs_msg *args);
/* One call the server answers when it can (rpc_run_wait: no deadline), after
 * reconnecting to its node if it was lost. The call's status or a transport error. */
int client_run_wait(struct bfs_client *c, struct rpc_call *call);
/* A lock was granted at node: should the client connect to it anew later, it
 * logs that those locks are gone. Any thread. */
void client_note_lock(struct bfs_client *c, uint32_t node);

/* client_ns.c */
/* 0 and *len for a valid entry name; -ENAMETOOLONG, -EINVAL (empty). */
int client_check_name(const char *name, size_t *len);
/* Prepares op on entry (parent, name), addressed to the server that holds it. */
int client_prep_entry(struct bfs_client *c, struct rpc_call *call, uint32_t op, uint64_t parent,
                      const char *name);
/* SETATTR at ino's owner (off: where a SIZE_GROW write began), then what a
 * size change means for the chunks on other nodes. */
int client_setattr_call(struct bfs_client *c, uint64_t ino, uint32_t mask, const struct bfs_attr *in,
                        uint64_t off, struct bfs_attr *out);
/* An inode lost its last link on its owner: its chunks on the other nodes go too. */
void client_remove_remote_chunks(struct bfs_client *c, uint64_t ino, uint64_t size);

/* client_times.c (any thread; init before and fini after every other use) */
void client_times_init(struct bfs_client *c);
void client_times_fini(struct bfs_client *c);
/* BFS_F_TIMES, or 0 where BENCHFS_PARENT_TIMES=client asks the client to send
 * its NLINKs itself: the flag an entry op without BFS_F_PATTR carries. */
uint32_t client_times_flag(const struct bfs_client *c);
/* Directory dir's times are being set to stamp by the entry's server: lays
 * stamp over dir's attributes read from now on, for a while. -ENOSPC: no room
 * (the caller sets the times itself). */
int client_times_note(struct bfs_client *c, uint64_t dir, int64_t stamp);
/* a (read from a server) gets the stamp noted for a->ino, if later than its
 * times; a stamp the owner has shown it has, or too old, is forgotten. */
void client_times_apply(struct bfs_client *c, struct bfs_attr *a);
/* A setattr of dir: its stamp, if noted, is forgotten. */
void client_times_forget(struct bfs_client *c, uint64_t dir);

#endif
