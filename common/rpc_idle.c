/* rpc_idle.c - progressing a client's idle lanes now and then.
 *
 * UCX moves only while its worker is progressed, and a lane's worker is
 * progressed only while a thread waits for calls on it (rpc.c). A client that
 * makes no calls for a while (an idle mount, a process computing) would never
 * take in the keepalives its servers send it; over shared memory those fill
 * the lane's receive FIFO (64 messages: about 2 minutes of a server's 2 s
 * keepalive), and each of those servers then finds UCX always busy, retrying
 * the send (seen: 100 % of a core per server). So one thread per client
 * progresses every lane nobody is progressing, every IDLE_PROGRESS_S. It never
 * waits for a lane: a lane whose lock is taken is in use, so not idle.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"
#include "rpc_int.h"

#define IDLE_PROGRESS_S 10.0    /* well within a server's FIFO fill time (above) */
#define IDLE_PROGRESS_MAX 64    /* progress calls per lane and pass: a bound, as ucx_worker_arm's */

static void progress_idle_lanes(struct rpc_client *rc)
{
    for (unsigned i = 0; i < rc->nlanes; i++) {
        struct rpc_lane *ln = &rc->lanes[i];
        if (atomic_load(&ln->open) <= 0 || pthread_mutex_trylock(&ln->lock) != 0)
            continue;
        if (!ln->leader && ln->w.worker) {
            /* As a leader would (replies and endpoint errors land in their
             * callbacks, under the lock); then any waiter may lead again. */
            ln->leader = 1;
            for (int k = 0; k < IDLE_PROGRESS_MAX && ucp_worker_progress(ln->w.worker); k++)
                ;
            ln->leader = 0;
            pthread_cond_broadcast(&ln->cond);
        }
        pthread_mutex_unlock(&ln->lock);
    }
}

static void *idler(void *arg)
{
    struct rpc_client *rc = arg;
    const char *env = getenv("BENCHFS_IDLE_PROGRESS_S");   /* tests: a shorter period */
    double period = env && atof(env) > 0 ? atof(env) : IDLE_PROGRESS_S;
    pthread_mutex_lock(&rc->idle_lock);
    while (!rc->idle_stop) {
        struct timespec ts = bfs_mono_after(period);
        if (pthread_cond_timedwait(&rc->idle_cond, &rc->idle_lock, &ts) != ETIMEDOUT)
            continue;   /* woken: rpc_idle_stop (or a spurious wake-up) */
        pthread_mutex_unlock(&rc->idle_lock);
        progress_idle_lanes(rc);
        pthread_mutex_lock(&rc->idle_lock);
    }
    pthread_mutex_unlock(&rc->idle_lock);
    return NULL;
}

int rpc_idle_start(struct rpc_client *rc)
{
    pthread_mutex_init(&rc->idle_lock, NULL);
    bfs_cond_init_mono(&rc->idle_cond);
    rc->idle_inited = 1;
    /* Its signals blocked: they go to the program's own threads. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int err = pthread_create(&rc->idle_thread, NULL, idler, rc);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err) {
        log_error("cannot start the client's idle-progress thread: %s", strerror(err));
        return -err;
    }
    rc->idle_running = 1;
    rc->idle_pid = getpid();
    return 0;
}

void rpc_idle_stop(struct rpc_client *rc)
{
    if (!rc->idle_inited)
        return;
    /* In a fork child the thread is not there to stop or join (the client
     * does not survive fork: lib/benchfs.h; this only keeps a close from hanging). */
    if (rc->idle_running && rc->idle_pid == getpid()) {
        pthread_mutex_lock(&rc->idle_lock);
        rc->idle_stop = 1;
        pthread_cond_signal(&rc->idle_cond);
        pthread_mutex_unlock(&rc->idle_lock);
        pthread_join(rc->idle_thread, NULL);
        rc->idle_running = 0;
    }
    pthread_cond_destroy(&rc->idle_cond);
    pthread_mutex_destroy(&rc->idle_lock);
    rc->idle_inited = 0;
}
