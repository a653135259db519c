/* test_lanes.c - one client, four threads on four lanes (BENCHFS_CLIENT_LANES=4,
 * set by the calling script), outlives a server: a restart of it costs the
 * client at most one failed call (not one per lane), and while a server is
 * gone, calls to the others are not held up.   test_lanes REGISTRY
 * Protocol with the calling script (tests/system/rpc.sh):
 *   prints "up"     -> the script kills the last node (kill -9), restarts it, sends a line;
 *   with 2+ nodes, prints "kill" -> the script kills the last node, sends a line;
 *                   prints "down" -> the script restarts it, sends a line.
 * Each thread keeps the lane it got at its first call (round-robin, common/
 * rpc_conn.c): main's first call takes lane 0, so threads 0..3 are on lanes
 * 1, 2, 3 and 0, and the first to call after a restart is not on lane 0 (the
 * lane the client's reconnect looks at). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../common/client.h"
#include "../../common/clock.h"
#include "../../common/log.h"
#include "../../common/rpc.h"
#include "../test.h"
#include "../testutil.h"

#define NT 4
#define RPC_TIMEOUT_S 3.0
#define STALL_S 1.5         /* a call to a live server while another is down: far above
                             * its normal ~0.1 ms, far below a HELLO's 2 s or a timeout */
#define DOWN_S 4.0          /* how long the threads call while the node is down */

static struct bfs_client *c;
static uint32_t nodes, victim;

/* One job for one worker thread at a time; main waits for it. */
struct worker {
    pthread_t tid;
    int k;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    void (*job)(struct worker *);
    int quit;
    /* results */
    int rc;                 /* the last call's */
    int fails, calls;
    double max_s;
};
static struct worker w[NT];
static atomic_int stop_calls;

static int call_node(uint32_t node)
{
    struct rpc_call call;
    bfs_call_prep(&call, node, OP_STATFS);
    int rc = bfs_call_run(c, &call, 1);
    return rc < 0 ? rc : call.status;
}

static void *worker_main(void *arg)
{
    struct worker *me = arg;
    pthread_mutex_lock(&me->mu);
    for (;;) {
        while (!me->job && !me->quit)
            pthread_cond_wait(&me->cv, &me->mu);
        if (me->quit)
            break;
        pthread_mutex_unlock(&me->mu);
        me->job(me);
        pthread_mutex_lock(&me->mu);
        me->job = NULL;
        pthread_cond_broadcast(&me->cv);
    }
    pthread_mutex_unlock(&me->mu);
    return NULL;
}

static void start_job(struct worker *x, void (*job)(struct worker *))
{
    pthread_mutex_lock(&x->mu);
    x->rc = 0;
    x->fails = x->calls = 0;
    x->max_s = 0;
    x->job = job;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
}

static void wait_job(struct worker *x)
{
    pthread_mutex_lock(&x->mu);
    while (x->job)
        pthread_cond_wait(&x->cv, &x->mu);
    pthread_mutex_unlock(&x->mu);
}

static void run_job(struct worker *x, void (*job)(struct worker *))
{
    start_job(x, job);
    wait_job(x);
}


/* Every node, a few times: this thread's lane connects to each server. */
static void job_warm(struct worker *me)
{
    for (int i = 0; i < 20; i++)
        for (uint32_t n = 0; n < nodes; n++) {
            me->calls++;
            if ((me->rc = call_node(n)) < 0)
                me->fails++;
        }
}

/* One call to the victim, timed. */
static void job_one(struct worker *me)
{
    double t = bfs_mono_s();
    me->rc = call_node(victim);
    me->max_s = bfs_mono_s() - t;
    me->calls = 1;
    me->fails = me->rc < 0;
}

/* Calls to the victim (down) until told to stop. */
static void job_victim_loop(struct worker *me)
{
    while (!atomic_load(&stop_calls)) {
        double t = bfs_mono_s();
        int rc = call_node(victim);
        double s = bfs_mono_s() - t;
        me->calls++;
        if (rc == 0 || (rc != -ENOTCONN && rc != -ETIMEDOUT && rc != -EIO)) {
            me->rc = rc == 0 ? -EEXIST : rc;   /* a dead server answered, or an odd error */
            me->fails++;
        }
        if (s > me->max_s)
            me->max_s = s;
        struct timespec ts = { 0, 10000000 };   /* no busy loop of failures */
        nanosleep(&ts, NULL);
    }
}

/* Calls to node 0 (up) until told to stop; each timed. */
static void job_live_loop(struct worker *me)
{
    while (!atomic_load(&stop_calls)) {
        double t = bfs_mono_s();
        int rc = call_node(0);
        double s = bfs_mono_s() - t;
        me->calls++;
        if (rc < 0) {
            me->rc = rc;
            me->fails++;
        }
        if (s > me->max_s)
            me->max_s = s;
    }
}

/* After a restart of the victim: each thread in turn makes one call there.
 * The first may meet its lane's dead endpoint; that failure must reconnect
 * every lane, so the others' first calls work. Then every call works. */
static void check_back(const char *when)
{
    int fails = 0;
    for (int k = 0; k < NT; k++) {
        run_job(&w[k], job_one);
        if (w[k].rc < 0) {
            fails++;
            fprintf(stderr, "  %s: thread %d's first call to node %u: %s (%.2f s)\n", when, k,
                    victim, strerror(-w[k].rc), w[k].max_s);
        }
        CHECK(w[k].max_s < RPC_TIMEOUT_S + 2);
    }
    CHECK(fails <= 1);
    /* Later calls: all answered, on every lane. */
    for (int k = 0; k < NT; k++)
        start_job(&w[k], job_warm);
    for (int k = 0; k < NT; k++) {
        wait_job(&w[k]);
        if (w[k].fails)
            fprintf(stderr, "  %s: thread %d: %d of %d calls failed (last: %s)\n", when, k,
                    w[k].fails, w[k].calls, strerror(-w[k].rc));
        CHECK_EQ(w[k].fails, 0);
    }
}

static void test_restart_costs_one_call(void)
{
    /* One thread after the other: thread k's first call gives it lane k + 1 (mod 4). */
    for (int k = 0; k < NT; k++) {
        run_job(&w[k], job_warm);
        REQUIRE(w[k].fails == 0);
    }
    tu_wait_line("up");   /* the victim is killed and started again meanwhile */
    check_back("after a restart");
}

static void test_down_server_does_not_stall_others(void)
{
    tu_wait_line("kill");   /* the victim is killed meanwhile */
    atomic_store(&stop_calls, 0);
    start_job(&w[0], job_victim_loop);
    for (int k = 1; k < NT; k++)
        start_job(&w[k], job_live_loop);
    double end = bfs_mono_s() + DOWN_S;
    while (bfs_mono_s() < end) {
        struct timespec ts = { 0, 50000000 };
        nanosleep(&ts, NULL);
    }
    atomic_store(&stop_calls, 1);
    for (int k = 0; k < NT; k++)
        wait_job(&w[k]);
    fprintf(stderr, "  down: node %u: %d calls, slowest %.3f s; node 0: slowest %.3f / %.3f / %.3f s "
            "(%d / %d / %d calls)\n", victim, w[0].calls, w[0].max_s, w[1].max_s, w[2].max_s,
            w[3].max_s, w[1].calls, w[2].calls, w[3].calls);
    CHECK_EQ(w[0].fails, 0);                     /* every call to the dead one failed */
    CHECK(w[0].calls > 0 && w[0].max_s < RPC_TIMEOUT_S + 2);
    for (int k = 1; k < NT; k++) {
        CHECK_EQ(w[k].fails, 0);
        CHECK(w[k].calls > 0 && w[k].max_s < STALL_S);
    }
    tu_wait_line("down");   /* the victim is started again meanwhile */
    check_back("after a restart from down");
}

int main(int argc, char **argv)
{
    struct bfs_client_opts o = { .registry_dir = argc > 1 ? argv[1] : "", .registry_timeout_s = 10,
                                 .rpc_timeout_s = RPC_TIMEOUT_S };
    log_init("test_lanes");   /* BENCHFS_LOG */
    for (int k = 0; k < NT; k++) {
        w[k].k = k;
        pthread_mutex_init(&w[k].mu, NULL);
        pthread_cond_init(&w[k].cv, NULL);
        if (pthread_create(&w[k].tid, NULL, worker_main, &w[k]) != 0) {
            fprintf(stderr, "cannot start thread %d\n", k);
            return 1;
        }
    }
    int rc = 1;
    if (argc != 2 || bfs_client_open(&o, &c) < 0) {
        fprintf(stderr, "usage: %s REGISTRY (with servers running)\n", argv[0]);
        goto out;
    }
    nodes = bfs_client_nodes(c);
    victim = nodes - 1;
    if ((rc = call_node(0)) < 0) {   /* main takes lane 0 */
        fprintf(stderr, "first call: %s\n", strerror(-rc));
        rc = 1;
        goto out;
    }
    RUN(test_restart_costs_one_call);
    if (nodes > 1)
        RUN(test_down_server_does_not_stall_others);
    else
        printf("SKIP: test_down_server_does_not_stall_others (one server)\n");
    rc = test_summary();
out:
    for (int k = 0; k < NT; k++) {
        pthread_mutex_lock(&w[k].mu);
        w[k].quit = 1;
        pthread_cond_broadcast(&w[k].cv);
        pthread_mutex_unlock(&w[k].mu);
        pthread_join(w[k].tid, NULL);
    }
    bfs_client_close(c);
    return rc;
}
