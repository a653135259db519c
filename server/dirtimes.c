/* dirtimes.c - the touches of parent directories on other servers (dirtimes.h):
 * a table of the directories waiting for one, in two queues (new touches, and
 * those whose owner could not be reached, each in the order they fall due), a
 * thread that sends those whose time has come, a batch at a time, as NLINKs
 * through a client of the cluster of its own, and the list of touches the
 * owners took, whose records the event loop then forgets. */
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
#define PENDING_MAX 65536       /* directories waiting at most; more wait for their records */
#define BATCH 64                /* touches sent together */
#define RPC_TIMEOUT_S 2.0       /* one touch's wait for its owner */

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
    pthread_t thread;
    pthread_mutex_t lock;       /* guards everything below but the client and calls */
    pthread_cond_t cond;        /* CLOCK_MONOTONIC: a first entry, or stop */
    struct ent *table[BUCKETS];
    struct queue q[NQUEUES];
    unsigned pending;
    int stop;
    double stop_deadline;       /* monotonic s: the stop's sends end here */
    struct dirtimes_stats st;
    int warned_full;
    struct meta_dirtime *taken; /* touches the owners took: records to forget */
    size_t ntaken, cap_taken;
    atomic_int has_taken;
    int hold;                   /* BENCHFS_FAULT=dirtimes-hold (tests): nothing is sent */
    struct bfs_client *client;  /* the thread's; NULL until a batch connects */
    struct rpc_call *calls;     /* the thread's: BATCH of them */
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
    if (qu->tail)
        qu->tail->next = e;
    else
        qu->head = e;
    qu->tail = e;
    if (dt->pending++ == 0)
        pthread_cond_signal(&dt->cond);   /* the thread sleeps without a deadline only then */
}

/* The queue whose head falls due first, or -1 if both are empty (lock held). */
static int first_due(const struct dirtimes *dt)
{
    const struct ent *a = dt->q[Q_NEW].head, *b = dt->q[Q_RETRY].head;
    if (!a && !b)
        return -1;
    return !b || (a && a->due <= b->due) ? Q_NEW : Q_RETRY;
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

/* Queues a touch of dir at stamp, or merges it into the one queued (lock held):
 * 1 queued anew, 0 merged, -ENOSPC (the table full or no memory: logged once). */
static int queue_touch(struct dirtimes *dt, uint64_t dir, int64_t stamp)
{
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
            log_warn("dirtimes: %u directories wait for their times already: directory ino %llx "
                     "waits for its record's replay at the next start (said once)", dt->pending,
                     (unsigned long long)dir);
        return -ENOSPC;
    }
    *e = (struct ent){ .dir = dir, .node = place_inode(dir, dt->nodes), .stamp = stamp,
                       .due = bfs_mono_ns() + DIRTIMES_WINDOW_MS * 1000000LL };
    enqueue(dt, Q_NEW, e);
    return 1;
}

int dirtimes_note(struct dirtimes *dt, uint64_t dir, int64_t stamp)
{
    pthread_mutex_lock(&dt->lock);
    int fresh = queue_touch(dt, dir, stamp);
    pthread_mutex_unlock(&dt->lock);
    /* The window's first stamp is written down; the later ones ride on it. A
     * table too full to queue the touch still keeps the record for the next start. */
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

/* e's owner could not be reached (lock held): tried again later, merged into a
 * touch of the same directory queued meanwhile, or left to its record. */
static void retry(struct dirtimes *dt, struct ent *e)
{
    struct ent *q = *slot(dt, e->dir);
    if (q) {
        if (e->stamp > q->stamp)
            q->stamp = e->stamp;
        free(e);
    } else if (!dt->stop && ++e->tries < DIRTIMES_TRIES) {
        e->due = bfs_mono_ns() + (int64_t)(DIRTIMES_RETRY_S * 1e9);
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

/* Sends batch[0..n) (lock not held), then sorts out what became of each. */
static void send_batch(struct dirtimes *dt, struct ent **batch, size_t n)
{
    int rc = 0;
    if (!dt->client) {
        struct bfs_client_opts o = { .registry_dir = dt->registry_dir, .registry_timeout_s = 1,
                                     .rpc_timeout_s = RPC_TIMEOUT_S };
        if ((rc = bfs_client_open(&o, &dt->client)) < 0)
            log_warn("dirtimes: cannot reach the cluster (%s): %zu directories wait for their "
                     "times", strerror(-rc), n);
    }
    if (rc == 0) {
        for (size_t i = 0; i < n; i++) {
            struct rpc_call *call = &dt->calls[i];
            bfs_call_prep(call, batch[i]->node, OP_NLINK);
            call->args.ino = batch[i]->dir;
            call->args.flags = BFS_F_SUBDIR | BFS_F_STAMP;
            call->args.stamp = (uint64_t)batch[i]->stamp;
        }
        rc = bfs_call_run(dt->client, dt->calls, n);
    }
    pthread_mutex_lock(&dt->lock);
    if (rc == 0)
        dt->st.sent += n;
    for (size_t i = 0; i < n; i++) {
        struct ent *e = batch[i];
        int status = rc < 0 ? rc : dt->calls[i].status;
        if (status < 0 && rpc_transport_error(status)) {
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

/* Sends each entry once it falls due; at a stop, all of them at once until the
 * stop's deadline, after which the rest are left to their records. */
static void *dirtimes_main(void *arg)
{
    struct dirtimes *dt = arg;
    struct ent *batch[BATCH];
    pthread_mutex_lock(&dt->lock);
    for (;;) {
        while (!dt->stop && (!dt->pending || dt->hold))
            pthread_cond_wait(&dt->cond, &dt->lock);
        int q = first_due(dt);
        if (q < 0)
            break;   /* stopping, nothing queued */
        int64_t now = bfs_mono_ns();
        if (!dt->stop && dt->q[q].head->due > now) {
            struct timespec ts = bfs_mono_after((double)(dt->q[q].head->due - now) / 1e9);
            pthread_cond_timedwait(&dt->cond, &dt->lock, &ts);
            continue;
        }
        if (dt->stop && (dt->hold || bfs_mono_s() > dt->stop_deadline)) {
            log_warn("dirtimes: stopping: %u directories wait for their times (their records "
                     "are sent at the next start)", dt->pending);
            dt->st.left += dt->pending;
            while ((q = first_due(dt)) >= 0)
                free(take(dt, q));
            break;
        }
        size_t n = 0;
        while (n < BATCH && (q = first_due(dt)) >= 0 && (dt->stop || dt->q[q].head->due <= now))
            batch[n++] = take(dt, q);
        pthread_mutex_unlock(&dt->lock);
        send_batch(dt, batch, n);
        pthread_mutex_lock(&dt->lock);
    }
    pthread_mutex_unlock(&dt->lock);
    bfs_client_close(dt->client);
    dt->client = NULL;
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
        queue_touch(dt, d[i].dir, d[i].stamp);
    pthread_mutex_unlock(&dt->lock);
    if (n)
        log_info("dirtimes: %zu directories on other servers are owed their times from before "
                 "the last stop: sending them", n);
    free(d);
    return 0;
}

int dirtimes_start(const char *registry_dir, uint32_t nodes, struct meta_store *meta,
                   struct dirtimes **out)
{
    struct dirtimes *dt = calloc(1, sizeof *dt);
    if (!dt || !(dt->calls = calloc(BATCH, sizeof *dt->calls))) {
        free(dt);
        return -ENOMEM;
    }
    dt->registry_dir = registry_dir;
    dt->nodes = nodes;
    dt->meta = meta;
    dt->hold = server_fault("dirtimes-hold");   /* a test of the records' replay */
    pthread_mutex_init(&dt->lock, NULL);
    bfs_cond_init_mono(&dt->cond);
    int rc = replay(dt);
    if (rc == 0 && (rc = -pthread_create(&dt->thread, NULL, dirtimes_main, dt)) < 0)
        log_error("dirtimes: cannot start its thread: %s", strerror(-rc));
    if (rc < 0) {
        for (int q; (q = first_due(dt)) >= 0;)
            free(take(dt, q));
        pthread_cond_destroy(&dt->cond);
        pthread_mutex_destroy(&dt->lock);
        free(dt->calls);
        free(dt);
        return rc;
    }
    *out = dt;
    return 0;
}

void dirtimes_stop(struct dirtimes *dt)
{
    if (!dt)
        return;
    pthread_mutex_lock(&dt->lock);
    dt->stop = 1;
    dt->stop_deadline = bfs_mono_s() + DIRTIMES_STOP_S;
    pthread_cond_signal(&dt->cond);
    pthread_mutex_unlock(&dt->lock);
    pthread_join(dt->thread, NULL);
    if (dirtimes_settle(dt) < 0)
        log_warn("dirtimes: the records of touches taken stay (sent again at the next start)");
    log_info("dirtimes: %llu touches of directories on other servers noted, %llu sent, "
             "%llu refused, %llu left to their records", (unsigned long long)dt->st.noted,
             (unsigned long long)dt->st.sent, (unsigned long long)dt->st.refused,
             (unsigned long long)dt->st.left);
    pthread_cond_destroy(&dt->cond);
    pthread_mutex_destroy(&dt->lock);
    free(dt->calls);
    free(dt);
}
