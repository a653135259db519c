/* dirtimes.c - the touches of parent directories on other servers (dirtimes.h):
 * a table of the directories waiting for one, in the order they were first
 * noted, and a thread that sends those whose window has passed, a batch at a
 * time, as NLINKs through a client of the cluster of its own. */
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

#define BUCKETS 4096            /* hash chains of the table (a power of 2) */
#define PENDING_MAX 65536       /* directories waiting at most; more are dropped, logged */
#define BATCH 64                /* touches sent together */
#define RPC_TIMEOUT_S 2.0       /* one touch's wait for its owner */

/* A directory waiting for its touch. */
struct ent {
    uint64_t dir;
    uint32_t node;
    int64_t stamp;              /* the latest change noted (wall clock, ns) */
    int64_t due;                /* monotonic ns: sent from then on */
    struct ent *hnext;          /* hash chain */
    struct ent *next;           /* queue, oldest first */
};

/* Counters, for the log line at stop. */
struct dirtimes_stats {
    uint64_t noted;     /* dirtimes_note calls */
    uint64_t sent;      /* NLINKs sent (noted - sent were merged into others or lost) */
    uint64_t failed;    /* touches an owner did not take (down; a directory gone is not counted) */
    uint64_t dropped;   /* touches never sent: the table full, no client, or the stop's deadline */
};

struct dirtimes {
    const char *registry_dir;
    pthread_t thread;
    pthread_mutex_t lock;       /* guards everything below but the client and calls */
    pthread_cond_t cond;        /* CLOCK_MONOTONIC: a first entry, or stop */
    struct ent *table[BUCKETS];
    struct ent *head, *tail;
    unsigned pending;
    int stop;
    double stop_deadline;       /* monotonic s: the stop's sends end here */
    struct dirtimes_stats st;
    int warned_full;
    struct bfs_client *client;  /* the thread's; NULL until the first batch connects */
    struct rpc_call *calls;     /* the thread's: BATCH of them */
};

static struct ent **slot(struct dirtimes *dt, uint64_t dir)
{
    struct ent **p = &dt->table[place_mix64(dir) & (BUCKETS - 1)];
    while (*p && (*p)->dir != dir)
        p = &(*p)->hnext;
    return p;
}

/* Takes the oldest entry out of the queue and the table (lock held, head set). */
static struct ent *take_head(struct dirtimes *dt)
{
    struct ent *e = dt->head;
    if (!(dt->head = e->next))
        dt->tail = NULL;
    *slot(dt, e->dir) = e->hnext;
    dt->pending--;
    return e;
}

void dirtimes_note(struct dirtimes *dt, uint64_t dir, uint32_t node, int64_t stamp)
{
    pthread_mutex_lock(&dt->lock);
    dt->st.noted++;
    struct ent **p = slot(dt, dir);
    struct ent *e = *p;
    if (e) {
        if (stamp > e->stamp)
            e->stamp = stamp;
    } else if (dt->pending >= PENDING_MAX || !(e = malloc(sizeof *e))) {
        dt->st.dropped++;
        if (!dt->warned_full++)
            log_warn("dirtimes: %u directories wait for their times already: directory ino %llx "
                     "on node %u keeps its old times (said once)", dt->pending,
                     (unsigned long long)dir, node);
    } else {
        *e = (struct ent){ .dir = dir, .node = node, .stamp = stamp,
                           .due = bfs_mono_ns() + DIRTIMES_WINDOW_MS * 1000000LL };
        *p = e;
        if (dt->tail)
            dt->tail->next = e;
        else
            dt->head = e;
        dt->tail = e;
        if (dt->pending++ == 0)
            pthread_cond_signal(&dt->cond);   /* the thread sleeps only on an empty queue */
    }
    pthread_mutex_unlock(&dt->lock);
}

/* A directory removed meanwhile is no failure: its times went with it. */
static int dir_gone(int status)
{
    return status == -ENOENT || status == -ENOTDIR || status == -ESTALE;
}

/* Sends batch[0..n) (lock not held) and frees it. */
static void send_batch(struct dirtimes *dt, struct ent **batch, size_t n)
{
    uint64_t sent = 0, failed = 0, dropped = 0;
    int rc = 0;
    if (!dt->client) {
        struct bfs_client_opts o = { .registry_dir = dt->registry_dir, .registry_timeout_s = 1,
                                     .rpc_timeout_s = RPC_TIMEOUT_S };
        rc = bfs_client_open(&o, &dt->client);
    }
    if (rc < 0) {
        dropped = n;
        log_warn("dirtimes: cannot reach the cluster (%s): %zu directories keep their old times",
                 strerror(-rc), n);
    } else {
        for (size_t i = 0; i < n; i++) {
            struct rpc_call *call = &dt->calls[i];
            bfs_call_prep(call, batch[i]->node, OP_NLINK);
            call->args.ino = batch[i]->dir;
            call->args.flags = BFS_F_SUBDIR | BFS_F_STAMP;
            call->args.stamp = (uint64_t)batch[i]->stamp;
        }
        rc = bfs_call_run(dt->client, dt->calls, n);
        sent = n;
        for (size_t i = 0; i < n; i++) {
            int status = rc < 0 ? rc : dt->calls[i].status;
            if (status == 0 || dir_gone(status))
                continue;
            if (failed++ == 0)
                log_warn("dirtimes: directory ino %llx on node %u keeps its old times: %s",
                         (unsigned long long)batch[i]->dir, batch[i]->node, strerror(-status));
        }
    }
    for (size_t i = 0; i < n; i++)
        free(batch[i]);
    pthread_mutex_lock(&dt->lock);
    dt->st.sent += sent;
    dt->st.failed += failed;
    dt->st.dropped += dropped;
    pthread_mutex_unlock(&dt->lock);
}

/* Sends each entry once its window has passed; at a stop, all of them at once
 * until the stop's deadline, after which the rest are dropped. */
static void *dirtimes_main(void *arg)
{
    struct dirtimes *dt = arg;
    struct ent *batch[BATCH];
    pthread_mutex_lock(&dt->lock);
    for (;;) {
        while (!dt->stop && !dt->head)
            pthread_cond_wait(&dt->cond, &dt->lock);
        if (!dt->head)
            break;
        int64_t now = bfs_mono_ns();
        if (!dt->stop && dt->head->due > now) {
            struct timespec ts = bfs_mono_after((double)(dt->head->due - now) / 1e9);
            pthread_cond_timedwait(&dt->cond, &dt->lock, &ts);
            continue;
        }
        if (dt->stop && bfs_mono_s() > dt->stop_deadline) {
            unsigned left = dt->pending;
            while (dt->head)
                free(take_head(dt));
            dt->st.dropped += left;
            log_warn("dirtimes: stopping: %u directories keep their old times (no time left)", left);
            break;
        }
        size_t n = 0;
        while (n < BATCH && dt->head && (dt->stop || dt->head->due <= now))
            batch[n++] = take_head(dt);
        pthread_mutex_unlock(&dt->lock);
        send_batch(dt, batch, n);
        pthread_mutex_lock(&dt->lock);
    }
    pthread_mutex_unlock(&dt->lock);
    bfs_client_close(dt->client);
    dt->client = NULL;
    return NULL;
}

int dirtimes_start(const char *registry_dir, struct dirtimes **out)
{
    struct dirtimes *dt = calloc(1, sizeof *dt);
    if (!dt || !(dt->calls = calloc(BATCH, sizeof *dt->calls))) {
        free(dt);
        return -ENOMEM;
    }
    dt->registry_dir = registry_dir;
    pthread_mutex_init(&dt->lock, NULL);
    bfs_cond_init_mono(&dt->cond);
    int rc = -pthread_create(&dt->thread, NULL, dirtimes_main, dt);
    if (rc < 0) {
        log_error("dirtimes: cannot start its thread: %s", strerror(-rc));
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
    log_info("dirtimes: %llu touches of directories on other servers noted, %llu sent, "
             "%llu not taken, %llu dropped", (unsigned long long)dt->st.noted,
             (unsigned long long)dt->st.sent, (unsigned long long)dt->st.failed,
             (unsigned long long)dt->st.dropped);
    pthread_cond_destroy(&dt->cond);
    pthread_mutex_destroy(&dt->lock);
    free(dt->calls);
    free(dt);
}
