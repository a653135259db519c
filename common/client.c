/* client.c - the BenchFS client library's connections: opening a client from
 * the registry, sending calls and waiting for them (reconnecting to restarted
 * servers, retrying -EBUSY), calls on every node, statfs and counters. The
 * operations themselves are in client_ns.c, client_data.c, client_xattr.c,
 * client_locks.c and fileops.c (client_int.h); client.h is the contract. */
#include "client.h"
#include "client_int.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "byteorder.h"
#include "hash.h"
#include "log.h"
#include "placement.h"
#include "registry.h"
#include "rpc.h"
#include "xattr.h"

uint32_t bfs_client_nodes(const struct bfs_client *c) { return c->nodes; }

uint32_t bfs_client_chunk_size(const struct bfs_client *c) { return c->chunk_size; }

void bfs_client_set_wait_hook(struct bfs_client *c, void (*fn)(void *), void *arg, double after_s)
{
    rpc_client_set_wait_hook(c->rpc, fn, arg, after_s);
}

void client_note_lock(struct bfs_client *c, uint32_t node)
{
    if (node < c->nodes)
        atomic_store(&c->locked[node], 1);
}

/* A new connection to node: the server forgot our old one (it restarted, or
 * saw the connection fail) and with it every lock we held there. */
static void locks_lost(struct bfs_client *c, uint32_t node)
{
    if (atomic_exchange(&c->locked[node], 0))
        log_warn("server node %u: connected anew; the locks this client held there are gone "
                 "(released by the server with the old connection)", node);
}

/* The server e names is not the one node's calls went to: another process, or
 * the same process restarted in place with a new worker. */
static int other_server(const struct bfs_client *c, uint32_t node, const struct registry_entry *e)
{
    return e->pid != c->pids[node] || bfs_fnv1a(e->addr, e->addr_len, 0) != c->addr_ids[node];
}

static void server_known(struct bfs_client *c, uint32_t node, const struct registry_entry *e)
{
    c->pids[node] = e->pid;
    c->addr_ids[node] = bfs_fnv1a(e->addr, e->addr_len, 0);
}

/* rpc_client_connect's answer rc for node: a HELLO nobody answered may mean
 * that the server's shared-memory queue is stuck with no connection to tell
 * it so (a client killed inside its HELLO): poke it (common/registry.h). */
static int connected(struct bfs_client *c, uint32_t node, int rc)
{
    if (rc == -ENOTCONN) {
        int p = registry_poke(c->registry_dir, node, c->nodes);
        log_debug("server node %u: no answer to HELLO; poked it: %s", node,
                  p < 0 ? strerror(-p) : "ok");
    }
    return rc;
}

/* A server we lost may be back: re-read its registry file and reconnect. */
static int reconnect(struct bfs_client *c, uint32_t node)
{
    char path[PATH_MAX];
    struct registry_entry e;
    int rc = 0;
    pthread_mutex_lock(&c->reconnect_locks[node]);
    if (!rpc_client_connected(c->rpc, node)) {
        registry_path(c->registry_dir, node, c->nodes, path, sizeof path);
        rc = registry_read(path, &e);
        if (rc == 0) {
            if (e.chunk_size != c->chunk_size || e.cluster_size != c->nodes) {
                log_error("server node %u came back with another configuration (%s)", node, path);
                rc = -ENOTCONN;
            } else {
                rc = connected(c, node, rpc_client_connect(c->rpc, node, e.addr, e.addr_len));
                if (rc == 0) {
                    if (other_server(c, node, &e))
                        atomic_store(&c->replaced[node], bfs_mono_ns());
                    atomic_store(&c->fresh[node], bfs_mono_ns());
                    server_known(c, node, &e);
                    log_info("server node %u: reconnected (%s)", node, path);
                    locks_lost(c, node);
                }
            }
            registry_entry_clear(&e);
        } else {
            log_debug("server node %u: cannot reconnect: %s: %s", node, path, strerror(-rc));
            rc = -ENOTCONN;
        }
    }
    pthread_mutex_unlock(&c->reconnect_locks[node]);
    return rc < 0 ? -ENOTCONN : 0;
}

/* A server killed and started again (a new process in the registry) is not
 * noticed by UCX until its keepalive gives up, and keepalive runs only while
 * the client waits for something: calls meanwhile go to the dead process. So
 * before a call to a server silent for IDLE_RECHECK_NS, and after a call that
 * timed out, the registry is read, and a new process is connected to at once.
 * known_before: nothing to do if the node was known fresh after that time. */
#define IDLE_RECHECK_NS 1000000000LL

static void recheck(struct bfs_client *c, uint32_t node, int64_t known_before)
{
    char path[PATH_MAX];
    struct registry_entry e;
    pthread_mutex_lock(&c->reconnect_locks[node]);
    if (atomic_load(&c->fresh[node]) > known_before) {   /* another thread just looked */
        pthread_mutex_unlock(&c->reconnect_locks[node]);
        return;
    }
    registry_path(c->registry_dir, node, c->nodes, path, sizeof path);
    if (registry_read(path, &e) == 0) {
        if (other_server(c, node, &e) && e.chunk_size == c->chunk_size && e.cluster_size == c->nodes &&
            connected(c, node, rpc_client_connect(c->rpc, node, e.addr, e.addr_len)) == 0) {
            log_info("server node %u: a new server process (pid %u, was %u) or a restart in "
                     "place: reconnected", node, e.pid, c->pids[node]);
            server_known(c, node, &e);
            atomic_store(&c->replaced[node], bfs_mono_ns());
            locks_lost(c, node);
        }
        registry_entry_clear(&e);
    }
    atomic_store(&c->fresh[node], bfs_mono_ns());
    pthread_mutex_unlock(&c->reconnect_locks[node]);
}

/* A call whose server went away is sent again, once, to the server now
 * registered, if that cannot do anything twice: a call that reached no server
 * (not_sent: its connection was known broken, e.g. by another lane, see
 * common/rpc_conn.c), or a safe one (proto_op_safe) whose connection broke or
 * whose server was replaced by a new process since the calls were sent (start:
 * bfs_mono_ns then) — a server merely slow is not asked twice. So a restart is
 * invisible to lookups and reads. Returns the first transport error left. */
static int resend_lost(struct bfs_client *c, struct rpc_call *calls, size_t n, int64_t start)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        struct rpc_call *call = &calls[i];
        int again = 0;
        if (call->status == -ENOTCONN)
            again = (call->not_sent || proto_op_safe(call->op)) && reconnect(c, call->node) == 0;
        else if (call->status == -ETIMEDOUT)
            again = proto_op_safe(call->op) && atomic_load(&c->replaced[call->node]) >= start;
        if (again) {
            log_debug("server node %u: %s sent again after a reconnect", call->node,
                      proto_op_name(call->op));
            rpc_run(c->rpc, call, 1);
        }
        if (rc == 0 && rpc_transport_error(call->status))
            rc = call->status;
    }
    return rc;
}

/* Before a call to node at time now: a connection to the server registered there. */
static int ready(struct bfs_client *c, uint32_t node, int64_t now)
{
    if (node >= c->nodes)
        return -ESTALE;   /* an inode number naming no server of this cluster */
    if (!rpc_client_connected(c->rpc, node))
        return reconnect(c, node);
    if (now - atomic_load(&c->fresh[node]) > IDLE_RECHECK_NS)
        recheck(c, node, now - IDLE_RECHECK_NS);
    return 0;
}

/* Sends calls and waits for all; returns a transport error or 0 (see each call's status). */
int client_run(struct bfs_client *c, struct rpc_call *calls, size_t n)
{
    int64_t start = bfs_mono_ns();
    for (size_t i = 0; i < n; i++) {
        int rc = ready(c, calls[i].node, start);
        if (rc < 0)
            return rc;
    }
    int rc = rpc_run(c->rpc, calls, n);
    int64_t end = bfs_mono_ns();
    for (size_t i = 0; i < n; i++)
        if (!rpc_transport_error(calls[i].status))
            atomic_store(&c->fresh[calls[i].node], end);
    for (size_t i = 0; rc == -ETIMEDOUT && i < n; i++)
        if (calls[i].status == -ETIMEDOUT)
            recheck(c, calls[i].node, INT64_MAX);
    if (rc == -ETIMEDOUT || rc == -ENOTCONN)
        rc = resend_lost(c, calls, n, start);
    return rc;
}

int bfs_call_run(struct bfs_client *c, struct rpc_call *calls, size_t n)
{
    return client_run(c, calls, n);
}

int client_run_wait(struct bfs_client *c, struct rpc_call *call)
{
    int rc = ready(c, call->node, bfs_mono_ns());
    if (rc < 0)
        return rc;
    rc = rpc_run_wait(c->rpc, call);
    if (!rpc_transport_error(call->status))
        atomic_store(&c->fresh[call->node], bfs_mono_ns());
    return rc < 0 ? rc : call->status;
}

int client_run1(struct bfs_client *c, struct rpc_call *call)
{
    int rc = client_run(c, call, 1);
    return rc < 0 ? rc : call->status;
}

/* run1 for the operations a server may refuse with -EBUSY because another
 * multi-server operation holds what they need (server/coord.h): that one
 * finishes within a few round trips, so this tries again after a growing pause,
 * within the RPC timeout. */
int client_run1_busy(struct bfs_client *c, struct rpc_call *call)
{
    double deadline = bfs_mono_s() + c->rpc_timeout_s;
    long pause_us = 200;
    for (;;) {
        int rc = client_run1(c, call);
        if (rc != -EBUSY || bfs_mono_s() + pause_us / 1e6 > deadline)
            return rc;
        struct timespec ts = { 0, (pause_us + rand() % pause_us) * 1000L };
        nanosleep(&ts, NULL);
        if (pause_us < 50000)
            pause_us *= 2;
    }
}

void bfs_call_prep(struct rpc_call *call, uint32_t node, uint32_t op)
{
    memset(&call->args, 0, sizeof call->args);
    call->node = node;
    call->op = op;
    call->data = NULL;
    call->data_len = 0;
    call->rbuf = NULL;
    call->rbuf_len = 0;
    call->raw = NULL;
    call->raw_len = 0;
}

/* Runs one op on every node but skip (UINT32_MAX: all), e.g. to remove chunks. */
int client_on_all_nodes(struct bfs_client *c, uint32_t skip, uint32_t op, const struct bfs_msg *args)
{
    int first = 0;
    for (uint32_t base = 0; base < c->nodes; base += WINDOW) {
        struct rpc_call calls[WINDOW];
        size_t n = 0;
        for (uint32_t node = base; node < c->nodes && node < base + WINDOW; node++) {
            if (node == skip)
                continue;
            bfs_call_prep(&calls[n], node, op);
            calls[n++].args = *args;
        }
        int rc = client_run(c, calls, n);
        for (size_t i = 0; i < n && rc == 0; i++)
            rc = calls[i].status;
        if (rc < 0 && !first)
            first = rc;
    }
    return first;
}

int bfs_statfs(struct bfs_client *c, struct statvfs *out)
{
    memset(out, 0, sizeof *out);
    uint64_t bytes = 0, bfree = 0, bavail = 0, files = 0, ffree = 0;
    for (uint32_t node = 0; node < c->nodes; node++) {
        struct rpc_call call;
        bfs_call_prep(&call, node, OP_STATFS);
        int rc = client_run1(c, &call);
        if (rc < 0)
            return rc;
        const struct bfs_statfs *s = &call.reply.st;
        bytes += s->blocks * s->bsize;
        bfree += s->bfree * s->bsize;
        bavail += s->bavail * s->bsize;
        files += s->files;
        ffree += s->ffree;
    }
    out->f_bsize = out->f_frsize = 4096;
    out->f_blocks = bytes / 4096;
    out->f_bfree = bfree / 4096;
    out->f_bavail = bavail / 4096;
    out->f_files = files;
    out->f_ffree = ffree;
    out->f_favail = ffree;
    out->f_namemax = BFS_NAME_MAX;
    return 0;
}

int bfs_server_counters(struct bfs_client *c, uint32_t node, uint64_t *counts, size_t n)
{
    uint8_t raw[OP_MAX * 8];
    struct rpc_call call;
    bfs_call_prep(&call, node, OP_COUNTERS);
    call.rbuf = raw;
    call.rbuf_len = sizeof raw;
    int rc = client_run1(c, &call);
    if (rc < 0)
        return rc;
    size_t have = call.rdata_len / 8;
    if (have > n)
        have = n;
    for (size_t i = 0; i < have; i++)
        counts[i] = get_le64(raw + 8 * i);
    return (int)have;
}

int bfs_client_open(const struct bfs_client_opts *opts, struct bfs_client **out)
{
    struct registry_entry *entries = NULL;
    uint8_t key[BFS_KEY_LEN];
    uint32_t n = 0;
    int rc;
    if (!opts || !opts->registry_dir)
        return -EINVAL;
    struct bfs_client *c = calloc(1, sizeof *c);
    if (!c)
        return -ENOMEM;
    client_times_init(c);
    if (snprintf(c->registry_dir, sizeof c->registry_dir, "%s", opts->registry_dir) >= PATH_MAX) {
        rc = -ENAMETOOLONG;
        goto fail;
    }
    double wait = opts->registry_timeout_s > 0 ? opts->registry_timeout_s : 30;
    if ((rc = registry_wait(opts->registry_dir, wait, &entries, &n)) < 0)
        goto fail;
    if ((rc = registry_key_load(opts->registry_dir, key)) < 0)
        goto fail;
    c->nodes = n;
    c->chunk_size = entries[0].chunk_size;
    if (!(c->pids = calloc(n, sizeof *c->pids)) || !(c->addr_ids = calloc(n, sizeof *c->addr_ids)) ||
        !(c->locked = calloc(n, sizeof *c->locked)) ||
        !(c->reconnect_locks = calloc(n, sizeof *c->reconnect_locks)) ||
        !(c->fresh = calloc(n, sizeof *c->fresh)) || !(c->replaced = calloc(n, sizeof *c->replaced))) {
        rc = -ENOMEM;
        goto fail;
    }
    for (uint32_t i = 0; i < n; i++)
        pthread_mutex_init(&c->reconnect_locks[i], NULL);
    for (uint32_t i = 0; i < n; i++) {
        server_known(c, i, &entries[i]);
        atomic_init(&c->fresh[i], bfs_mono_ns());
    }
    c->rpc_timeout_s = opts->rpc_timeout_s > 0 ? opts->rpc_timeout_s : 30;
    rc = rpc_client_create(n, key, opts->rpc_timeout_s > 0 ? opts->rpc_timeout_s : 30, &c->rpc);
    if (rc < 0)
        goto fail;
    /* A server that does not answer (restarting: in place, server/server.c,
     * or by its operator) is waited for as the registry is: each try reads its
     * registry file again. */
    double until = bfs_mono_s() + wait;
    for (uint32_t i = 0; i < n; i++) {
        rc = connected(c, i, rpc_client_connect(c->rpc, i, entries[i].addr, entries[i].addr_len));
        for (int tries = 0; rc < 0 && rpc_transport_error(rc) && bfs_mono_s() < until; tries++) {
            if (tries == 0)
                log_info("server node %u in %s does not answer yet (%s): trying again for up to "
                         "%.0f s", i, opts->registry_dir, strerror(-rc), wait);
            usleep(100 * 1000);   /* the registry file may be between two servers */
            rc = reconnect(c, i);
        }
        if (rc < 0)
            break;
    }
    /* One round trip proves the server answers and accepts our key. */
    struct bfs_attr root;
    if (rc == 0)
        rc = bfs_getattr(c, BFS_ROOT_INO, &root);
    if (rc < 0) {
        log_error("server in %s does not answer: %s", opts->registry_dir, strerror(-rc));
        goto fail;
    }
    registry_entries_free(entries, n);
    *out = c;
    return 0;
fail:
    registry_entries_free(entries, n);
    bfs_client_close(c);
    return rc;
}

void bfs_client_close(struct bfs_client *c)
{
    if (!c)
        return;
    rpc_client_destroy(c->rpc);
    for (uint32_t i = 0; c->reconnect_locks && i < c->nodes; i++)
        pthread_mutex_destroy(&c->reconnect_locks[i]);
    free(c->reconnect_locks);
    free(c->pids);
    free(c->addr_ids);
    free((void *)c->locked);
    free((void *)c->fresh);
    free((void *)c->replaced);
    client_times_fini(c);
    free(c);
}
