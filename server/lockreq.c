/* lockreq.c - the lock requests of clients (OP_LOCK, OP_LOCK_CANCEL) on this
 * server's lock table (locks.h), which holds the locks of the inodes it owns.
 * A waiting OP_LOCK is the table's waiter (its ctx is the request): the reply
 * goes out when the table grants or ends the wait. The table is in memory: a
 * restart of the server loses every lock (docs/DESIGN.md, "Locks"). */
#include "server_int.h"

#include <errno.h>
#include <string.h>

#include "../common/log.h"
#include "locks.h"

#define LOCKS_MAX (1u << 20)   /* locks and waiters per server: past it -ENOLCK */

static void lock_done(void *arg, void *ctx, int status)
{
    struct server *s = arg;
    struct srv_req *r = ctx;
    /* The file as it is at the grant: the client revalidates its cache by it. */
    if (status == 0 && meta_getattr(s->meta, r->a.ino, &r->r.attr) < 0)
        r->r.attr.ino = 0;
    log_debug("request %llu: LOCK ino %llx: wait over: %d", (unsigned long long)r->id,
              (unsigned long long)r->a.ino, status);
    srv_reply(r, status);
}

static int table(struct server *s)
{
    if (!s->lock_table && !(s->lock_table = locks_new(lock_done, s, LOCKS_MAX)))
        return -ENOMEM;
    return 0;
}

/* The connection a lock belongs to; -ECONNRESET when it is going (a request
 * queued before its client failed must not leave a lock nobody releases). */
static int client_of(const struct srv_req *r, uint32_t *client)
{
    if (!r->conn)
        return -EINVAL;
    if (r->conn->failed || r->conn->gone_told)
        return -ECONNRESET;
    *client = r->conn->id;
    return 0;
}

int lockreq_lock(struct server *s, struct srv_req *r)
{
    const struct bfs_msg *a = &r->a;
    unsigned flags = a->flags;
    /* (a->ino is ours: the handlers' table checks it, H_OWNER) */
    if (a->mode > BFS_LOCK_WR ||
        (flags & ~(unsigned)(BFS_LOCK_FLOCK | BFS_LOCK_WAIT | BFS_LOCK_TEST)) ||
        ((flags & BFS_LOCK_WAIT) && (flags & BFS_LOCK_TEST)))
        return -EINVAL;
    struct lock_req q = {
        .ino = a->ino, .owner = a->cookie, .start = a->off, .end = a->size, .pid = a->uid,
        .kind = (flags & BFS_LOCK_FLOCK) ? LOCK_KIND_FLOCK : LOCK_KIND_POSIX,
        .type = (uint8_t)a->mode,
    };
    int rc = client_of(r, &q.client);
    if (rc == 0)
        rc = locks_check(&q);
    if (rc == 0)
        rc = table(s);
    if (rc < 0)
        return rc;
    /* A new lock needs its inode (an unlock never fails: close must work). */
    if (q.type != BFS_LOCK_UN && (rc = meta_getattr(s->meta, a->ino, &r->r.attr)) < 0)
        return rc;
    if (flags & BFS_LOCK_TEST) {
        struct lock_req c;
        if (locks_test(s->lock_table, &q, &c)) {
            r->r.mode = c.type;
            r->r.off = c.start;
            r->r.size = c.end;
            r->r.uid = c.pid;
        } else {
            r->r.mode = BFS_LOCK_UN;
        }
        memset(&r->r.attr, 0, sizeof r->r.attr);
        return 0;
    }
    if ((flags & BFS_LOCK_WAIT) && s->locks_stopped)
        return -ENOLCK;
    if (flags & BFS_LOCK_WAIT) {
        rc = locks_wait(s->lock_table, &q, a->intent, r);
        if (rc == 1)
            log_debug("request %llu: LOCK ino %llx [%llu, %llu] waits", (unsigned long long)r->id,
                      (unsigned long long)a->ino, (unsigned long long)q.start,
                      (unsigned long long)q.end);
        return rc;
    }
    return locks_set(s->lock_table, &q);
}

int lockreq_cancel(struct server *s, struct srv_req *r)
{
    uint32_t client;
    int rc = client_of(r, &client);
    if (rc == 0)
        rc = table(s);
    if (rc < 0)
        return rc;
    locks_cancel(s->lock_table, client, r->a.intent);
    return 0;
}

void lockreq_conn_gone(struct server *s, uint32_t id)
{
    size_t n = s->lock_table ? locks_drop_client(s->lock_table, id) : 0;
    if (n)
        log_info("client %u: %zu locks and lock waits released with its connection", id, n);
}

void lockreq_stop(struct server *s)
{
    s->locks_stopped = 1;
    if (s->lock_table && locks_waiting(s->lock_table)) {
        log_info("stopping: %zu lock waits end (ENOLCK)", locks_waiting(s->lock_table));
        locks_end_waiters(s->lock_table, -ENOLCK);
    }
}

void lockreq_fini(struct server *s)
{
    if (s->lock_table) {
        locks_end_waiters(s->lock_table, -ENOLCK);
        locks_free(s->lock_table);
        s->lock_table = NULL;
    }
}

int lockreq_active(const struct server *s)
{
    return s->lock_table && locks_count(s->lock_table) > 0;
}
