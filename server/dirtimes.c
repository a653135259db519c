/* dirtimes.c - the touches of parent directories on other servers (dirtimes.h):
 * a table of the directories waiting for one, in two queues, each in the order
 * its touches fall due and each with a thread that sends them, a batch at a
 * time, as NLINKs through one client of the cluster: new touches, and those
 * whose owner could not be reached (and every touch of an owner in that state
 * until it answers again), so that a server that is gone delays only its own
 * touches, once it was found gone; and the list of touches the owners took,
 * whose records the event loop then forgets. */
#include "dirtimes.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "../common/client.h"
#include "../common/clock.h"
#include "../common/log.h"
#include "../common/placement.h"
#include "../common/proto.h"
#include "../common/rpc.h"
#include "server_int.h"

#define BUCKETS 4096            /* hash chains of the table (a power of 2) */
#define PENDING_MAX 65536       /* directories waiting at most; more are left to their clients */
#define BATCH 64                /* touches sent together */
#define RPC_TIMEOUT_S 0.5       /* one touch's wait for its owner (it takes microseconds) */
#define CONNECT_PAUSE_S 0.2     /* between tries to connect to the cluster at start */

/* A directory waiting for its touch. */
struct ent {
    uint64_t dir;
    uint32_t node;
    int64_t stamp;              /* the latest change noted (wall clock, ns) */
    int64_t due;                /* monotonic ns: sent from then on */
    int tries;                  /* sends that could not reach the owner */
    struct ent *hnext;          /* hash chain */
    struct ent *next;           /* its queue */
};

enum { Q_NEW, Q_RETRY, NQUEUES };   /* each in due order: new ones wait a window, retries longer */

struct queue {
    struct ent *head, *tail;
    pthread_cond_t cond;        /* CLOCK_MONOTONIC: a first entry, the client, or stop */
    struct dirtimes *dt;        /* for its sender */
    int kind;                   /* Q_NEW or Q_RETRY */
    pthread_t thread;           /* its sender */
    int started;
    struct rpc_call *calls;     /* the sender's: BATCH of them */
};

/* Counters, for the log line at stop. */
struct dirtimes_stats {
    uint64_t noted;     /* dirtimes_note calls */
    uint64_t sent;      /* touches sent (the others were merged into them) */
    uint64_t refused;   /* touches an owner refused (a directory gone is not counted) */
    uint64_t left;      /* touches left to their records: the table full, the owner out of
                         * reach DIRTIMES_TRIES times, or the stop's deadline */
};

struct dirtimes {
    const char *registry_dir;
    uint32_t nodes;
    struct meta_store *meta;    /* the event loop's alone */
    pthread_mutex_t lock;       /* guards everything below but the calls */
    struct ent *table[BUCKETS];
    struct queue q[NQUEUES];
    unsigned pending;
    unsigned char *down;        /* by node: its last touch could not reach it */
    int stop;
    double stop_deadline;       /* monotonic s: the stop's sends end here */
    struct dirtimes_stats st;
    int warned_full;
    struct meta_dirtime *taken; /* touches the owners took: records to forget */
    size_t ntaken, cap_taken;
    atomic_int has_taken;
    int hold;                   /* BENCHFS_FAULT=dirtimes-hold (tests): nothing is sent */
    int connected;              /* client is open (set once, by the first sender) */
    struct bfs_client *client;  /* both senders' (the library is thread-safe) */
};

static struct ent **slot(struct dirtimes *dt, uint64_t dir)
{
    struct ent **p = &dt->table[place_mix64(dir) & (BUCKETS - 1)];
    while (*p && (*p)->dir != dir)
        p = &(*p)->hnext;
    return p;
}

/* Queues e on q, and in the table (lock held). */
static void enqueue(struct dirtimes *dt, int q, struct ent *e)
{
    struct queue *qu = &dt->q[q];
    e->next = NULL;
    e->hnext = NULL;
    *slot(dt, e->dir) = e;
    if (qu->tail) {
        qu->tail->next = e;
    } else {
        qu->head = e;
        pthread_cond_signal(&qu->cond);   /* its sender sleeps without a deadline only then */
    }
    qu->tail = e;
    dt->pending++;
}

/* Takes the head of q out of its queue and the table (lock held, head set). */
static struct ent *take(struct dirtimes *dt, int q)
{
    struct queue *qu = &dt->q[q];
    struct ent *e = qu->head;
    if (!(qu->head = e->next))
        qu->tail = NULL;
    *slot(dt, e->dir) = e->hnext;
    dt->pending--;
    return e;
}

static int64_t retry_due(void)
{
    return bfs_mono_ns() + (int64_t)(DIRTIMES_RETRY_S * 1e9);
}

/* Queues a touch of dir at stamp, or merges it into the one queued (lock held):
 * 1 queued anew, 0 merged, -ENOSPC (the table full or no memory: logged once),
 * -EINVAL (dir's node is not in the cluster: a request's or a record's bad
 * number). A touch of an owner found gone waits with the retries. */
static int queue_touch(struct dirtimes *dt, uint64_t dir, int64_t stamp)
{
    uint32_t node = place_inode(dir, dt->nodes);
    if (node >= dt->nodes)
        return -EINVAL;
    dt->st.noted++;
    struct ent *e = *slot(dt, dir);
    if (e) {
        if (stamp > e->stamp)
            e->stamp = stamp;
        return 0;
    }
    if (dt->pending >= PENDING_MAX || !(e = malloc(sizeof *e))) {
        dt->st.left++;
        if (!dt->warned_full++)
            log_warn("dirtimes: %u directories wait for their times already: more are left to "
                     "their clients (or, from the records, to the next start) (said once)",
                     dt->pending);
        return -ENOSPC;
    }
    int q = dt->down[node] ? Q_RETRY : Q_NEW;
    *e = (struct ent){ .dir = dir, .node = node, .stamp = stamp,
                       .due = q == Q_RETRY ? retry_due()
                                           : bfs_mono_ns() + DIRTIMES_WINDOW_MS * 1000000LL };
    enqueue(dt, q, e);
    return 1;
}

int dirtimes_note(struct dirtimes *dt, uint64_t dir, int64_t stamp)
{
    pthread_mutex_lock(&dt->lock);
    int fresh = dt->connected || dt->hold ? queue_touch(dt, dir, stamp) : -EAGAIN;
    pthread_mutex_unlock(&dt->lock);
    if (fresh < 0)
        return -EAGAIN;   /* not connected, no room, or a bad number: the client's */
    /* The window's first stamp is written down; the later ones ride on it. */
    return fresh ? meta_dirtime_put(dt->meta, dir, stamp) : 0;
}

int dirtimes_ready(struct dirtimes *dt)
{
    return atomic_load_explicit(&dt->has_taken, memory_order_relaxed);
}

int dirtimes_settle(struct dirtimes *dt)
{
    pthread_mutex_lock(&dt->lock);
    struct meta_dirtime *d = dt->taken;
    size_t n = dt->ntaken;
    dt->taken = NULL;
    dt->ntaken = dt->cap_taken = 0;
    atomic_store(&dt->has_taken, 0);
    pthread_mutex_unlock(&dt->lock);
    /* On an error the records stay: the next start sends them again, a no-op. */
    int rc = n ? meta_dirtimes_settle(dt->meta, d, n) : 0;
    free(d);
    return rc;
}

/* The owner took e's touch, or refused it for good (lock held): its record may
 * go. Without memory it stays, which costs a no-op touch at the next start. */
static void forget_record(struct dirtimes *dt, const struct ent *e)
{
    if (dt->ntaken == dt->cap_taken) {
        size_t cap = dt->cap_taken ? 2 * dt->cap_taken : 64;
        struct meta_dirtime *nd = realloc(dt->taken, cap * sizeof *nd);
        if (!nd)
            return;
        dt->taken = nd;
        dt->cap_taken = cap;
    }
    dt->taken[dt->ntaken++] = (struct meta_dirtime){ .dir = e->dir, .stamp = e->stamp };
    atomic_store(&dt->has_taken, 1);
}

/* e's owner could not be reached (lock held): tried again later with the
 * retries, merged into a touch of the same directory queued meanwhile, or
 * left to its record. */
static void retry(struct dirtimes *dt, struct ent *e)
{
    struct ent *q = *slot(dt, e->dir);
    if (q) {
        if (e->stamp > q->stamp)
            q->stamp = e->stamp;
        free(e);
    } else if (!dt->stop && ++e->tries < DIRTIMES_TRIES) {
        e->due = retry_due();
        enqueue(dt, Q_RETRY, e);
    } else {
        dt->st.left++;
        free(e);
    }
}

/* A directory removed meanwhile is no failure: its times went with it. */
static int dir_gone(int status)
{
    return status == -ENOENT || status == -ENOTDIR || status == -ESTALE;
}

/* Sends the touches of one owner, batch[0..n), with calls (lock not held),
 * then sorts out what became of each (lock taken): a call that did not run
 * through (the owner out of reach, or not even sent: client_run stops at the
 * first node it cannot reach) is tried again later, and the owner counts as
 * gone until one of its touches gets through. */
static void send_node(struct dirtimes *dt, struct rpc_call *calls, struct ent **batch, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        bfs_call_prep(&calls[i], batch[i]->node, OP_NLINK);
        calls[i].args.ino = batch[i]->dir;
        calls[i].args.flags = BFS_F_SUBDIR | BFS_F_STAMP;
        calls[i].args.stamp = (uint64_t)batch[i]->stamp;
    }
    int rc = bfs_call_run(dt->client, calls, n);
    pthread_mutex_lock(&dt->lock);
    dt->down[batch[0]->node] = rc < 0;
    if (rc == 0)
        dt->st.sent += n;
    for (size_t i = 0; i < n; i++) {
        struct ent *e = batch[i];
        int status = calls[i].status;
        if (rc < 0 || rpc_transport_error(status)) {
            retry(dt, e);
            continue;
        }
        if (status < 0 && !dir_gone(status) && dt->st.refused++ == 0)
            log_warn("dirtimes: node %u refused the times of directory ino %llx: %s (said once)",
                     e->node, (unsigned long long)e->dir, strerror(-status));
        forget_record(dt, e);
        free(e);
    }
    pthread_mutex_unlock(&dt->lock);
}

/* Sends batch[0..n) (lock not held), one owner at a time, so that an owner out
 * of reach costs the others no touch. */
static void send_batch(struct dirtimes *dt, struct rpc_call *calls, struct ent **batch, size_t n)
{
    for (size_t i = 1; i < n; i++)   /* by owner (a batch is at most BATCH long) */
        for (size_t j = i; j > 0 && batch[j - 1]->node > batch[j]->node; j--) {
            struct ent *t = batch[j];
            batch[j] = batch[j - 1];
            batch[j - 1] = t;
        }
    for (size_t i = 0, k; i < n; i = k) {
        for (k = i + 1; k < n && batch[k]->node == batch[i]->node; k++)
            ;
        send_node(dt, calls, batch + i, k - i);
    }
}

/* Connects to the cluster, once every node has registered (lock held; the
 * touches queued meanwhile wait). Afterwards a node that goes away fails only
 * its own calls. 0, or -ESHUTDOWN at a stop. */
static int connect_cluster(struct dirtimes *dt, struct queue *qu)
{
    struct bfs_client_opts o = { .registry_dir = dt->registry_dir, .registry_timeout_s = 1,
                                 .rpc_timeout_s = RPC_TIMEOUT_S };
    while (!dt->stop) {
        pthread_mutex_unlock(&dt->lock);
        int rc = bfs_client_open(&o, &dt->client);
        pthread_mutex_lock(&dt->lock);
        if (rc == 0) {
            dt->connected = 1;
            pthread_cond_broadcast(&dt->q[Q_RETRY].cond);   /* the other sender waits for it */
            return 0;
        }
        struct timespec ts = bfs_mono_after(CONNECT_PAUSE_S);
        if (!dt->stop)
            pthread_cond_timedwait(&qu->cond, &dt->lock, &ts);
    }
    return -ESHUTDOWN;
}

/* One queue's sender: each entry once it falls due; at a stop, all of them at
 * once until the stop's deadline, after which the rest are left to their
 * records. The new touches' sender connects the client first. */
static void *sender_main(void *arg)
{
    struct queue *qu = arg;
    struct dirtimes *dt = qu->dt;
    struct ent *batch[BATCH];
    pthread_mutex_lock(&dt->lock);
    if (qu->kind == Q_NEW && !dt->hold)
        connect_cluster(dt, qu);
    for (;;) {
        while (!dt->stop && (!qu->head || !dt->connected))
            pthread_cond_wait(&qu->cond, &dt->lock);
        if (!qu->head)
            break;   /* stopping, nothing queued */
        int64_t now = bfs_mono_ns();
        if (!dt->stop && qu->head->due > now) {
            struct timespec ts = bfs_mono_after((double)(qu->head->due - now) / 1e9);
            pthread_cond_timedwait(&qu->cond, &dt->lock, &ts);
            continue;
        }
        if (dt->stop && (!dt->connected || bfs_mono_s() > dt->stop_deadline)) {
            unsigned left = 0;
            for (; qu->head; left++)
                free(take(dt, qu->kind));
            dt->st.left += left;
            log_warn("dirtimes: stopping: %u directories wait for their times (their records "
                     "are sent at the next start)", left);
            break;
        }
        size_t n = 0;
        while (n < BATCH && qu->head && (dt->stop || qu->head->due <= now))
            batch[n++] = take(dt, qu->kind);
        pthread_mutex_unlock(&dt->lock);
        send_batch(dt, qu->calls, batch, n);
        pthread_mutex_lock(&dt->lock);
    }
    pthread_mutex_unlock(&dt->lock);
    return NULL;
}

/* Queues what the store's records still owe (a crash, or an owner out of reach
 * until the last stop). Each is one the owner did not take as far as we know;
 * one it did take is a no-op there. */
static int replay(struct dirtimes *dt)
{
    struct meta_dirtime *d;
    size_t n;
    int rc = meta_dirtimes_list(dt->meta, &d, &n);
    if (rc < 0) {
        log_error("dirtimes: cannot read the store's records: %s", strerror(-rc));
        return rc;
    }
    pthread_mutex_lock(&dt->lock);
    for (size_t i = 0; i < n; i++)
        if (queue_touch(dt, d[i].dir, d[i].stamp) == -EINVAL)
            log_warn("dirtimes: a record for directory ino %llx, of no node of this cluster, "
                     "skipped", (unsigned long long)d[i].dir);
    pthread_mutex_unlock(&dt->lock);
    if (n)
        log_info("dirtimes: %zu directories on other servers are owed their times from before "
                 "the last stop: sending them", n);
    free(d);
    return 0;
}

/* Ends the senders, after the stop's sends (then nothing uses the client). */
static void stop_senders(struct dirtimes *dt)
{
    pthread_mutex_lock(&dt->lock);
    dt->stop = 1;
    dt->stop_deadline = bfs_mono_s() + DIRTIMES_STOP_S;
    for (int q = 0; q < NQUEUES; q++)
        pthread_cond_broadcast(&dt->q[q].cond);
    pthread_mutex_unlock(&dt->lock);
    for (int q = 0; q < NQUEUES; q++)
        if (dt->q[q].started)
            pthread_join(dt->q[q].thread, NULL);
    bfs_client_close(dt->client);
    dt->client = NULL;
}

static void free_all(struct dirtimes *dt)
{
    for (int q = 0; q < NQUEUES; q++) {
        while (dt->q[q].head)
            free(take(dt, q));
        pthread_cond_destroy(&dt->q[q].cond);
        free(dt->q[q].calls);
    }
    pthread_mutex_destroy(&dt->lock);
    free(dt->taken);
    free(dt->down);
    free(dt);
}

int dirtimes_start(const char *registry_dir, uint32_t nodes, struct meta_store *meta,
                   struct dirtimes **out)
{
    struct dirtimes *dt = calloc(1, sizeof *dt);
    if (!dt)
        return -ENOMEM;
    dt->registry_dir = registry_dir;
    dt->nodes = nodes;
    dt->meta = meta;
    dt->hold = server_fault("dirtimes-hold");   /* a test of the records' replay */
    pthread_mutex_init(&dt->lock, NULL);
    for (int q = 0; q < NQUEUES; q++) {
        bfs_cond_init_mono(&dt->q[q].cond);
        dt->q[q].dt = dt;
        dt->q[q].kind = q;
    }
    int rc = 0;
    dt->down = calloc(nodes, 1);
    for (int q = 0; q < NQUEUES && dt->down; q++)
        if (!(dt->q[q].calls = calloc(BATCH, sizeof *dt->q[q].calls)))
            rc = -ENOMEM;
    if (!dt->down)
        rc = -ENOMEM;
    if (rc == 0)
        rc = replay(dt);
    for (int q = 0; q < NQUEUES && rc == 0; q++) {
        if ((rc = -pthread_create(&dt->q[q].thread, NULL, sender_main, &dt->q[q])) < 0)
            log_error("dirtimes: cannot start a thread: %s", strerror(-rc));
        else
            dt->q[q].started = 1;
    }
    if (rc < 0) {
        stop_senders(dt);
        free_all(dt);
        return rc;
    }
    *out = dt;
    return 0;
}

void dirtimes_stop(struct dirtimes *dt)
{
    if (!dt)
        return;
    stop_senders(dt);
    if (dirtimes_settle(dt) < 0)
        log_warn("dirtimes: the records of touches taken stay (sent again at the next start)");
    log_info("dirtimes: %llu touches of directories on other servers noted, %llu sent, "
             "%llu refused, %llu left to their records", (unsigned long long)dt->st.noted,
             (unsigned long long)dt->st.sent, (unsigned long long)dt->st.refused,
             (unsigned long long)dt->st.left);
    free_all(dt);
}
