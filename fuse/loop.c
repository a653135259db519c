/* loop.c - see loop.h */
#include "loop.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/clock.h"
#include "../common/log.h"

struct bfs_loop {
    struct fuse_session *se;
    pthread_mutex_t lock;       /* guards everything below */
    pthread_cond_t idle_cv;     /* idle threads wait here for the read turn */
    sem_t finish;               /* posted once, when the loop ends */
    int reading;                /* a thread has the read turn */
    int turn_offered;           /* bfs_loop_blocked woke or started a thread to read */
    int stop;                   /* the loop is ending: threads leave */
    int error;                  /* first error reading from the kernel */
    unsigned idle;              /* threads waiting on idle_cv */
    unsigned nthreads, max_threads;
    unsigned parked;            /* handlers in a wait without bound: not counted */
    unsigned cap;               /* threads' slots */
    pthread_t *threads;
    void (*stop_hook)(void *);  /* bfs_loop_set_stop_hook */
    void *stop_arg;
};

/* Ends the loop (lock held): every thread leaves at its next turn. */
static void end_loop(struct bfs_loop *l, int err)
{
    if (err < 0 && !l->error)
        l->error = err;
    if (l->stop)
        return;
    l->stop = 1;
    pthread_cond_broadcast(&l->idle_cv);
    sem_post(&l->finish);
}

static void free_buf(void *arg)
{
    struct fuse_buf *buf = arg;
    free(buf->mem);
    buf->mem = NULL;
}

static void *worker(void *arg)
{
    struct bfs_loop *l = arg;
    struct fuse_buf buf;
    memset(&buf, 0, sizeof buf);
    /* Only read(2) may be cancelled: a request being handled is finished. */
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
    pthread_cleanup_push(free_buf, &buf);
    pthread_mutex_lock(&l->lock);
    for (;;) {
        while (l->reading && !l->stop) {
            l->idle++;
            pthread_cond_wait(&l->idle_cv, &l->lock);
            l->idle--;
        }
        if (l->stop || fuse_session_exited(l->se)) {
            end_loop(l, 0);
            break;
        }
        l->reading = 1;
        l->turn_offered = 0;
        pthread_mutex_unlock(&l->lock);

        pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
        int res = fuse_session_receive_buf(l->se, &buf);
        pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);

        pthread_mutex_lock(&l->lock);
        /* The turn is free, but nobody is woken for it: if this request is
         * quick, this thread reads the next one itself. */
        l->reading = 0;
        if (res == -EINTR)
            continue;
        if (res <= 0) {   /* 0 or -ENODEV: unmounted or exited */
            if (res < 0 && res != -ENODEV)
                log_error("reading FUSE requests: %s", strerror(-res));
            end_loop(l, res == -ENODEV ? 0 : res);
            break;
        }
        pthread_mutex_unlock(&l->lock);
        fuse_session_process_buf(l->se, &buf);
        pthread_mutex_lock(&l->lock);
    }
    pthread_mutex_unlock(&l->lock);
    pthread_cleanup_pop(1);
    return NULL;
}

/* Starts one more worker (lock held). Workers take no signals: the thread
 * running the loop does. */
static int start_worker(struct bfs_loop *l)
{
    if (l->nthreads >= l->max_threads + l->parked)
        return -EAGAIN;
    if (l->nthreads == l->cap) {
        pthread_t *t = realloc(l->threads, 2 * l->cap * sizeof *t);
        if (!t)
            return -ENOMEM;
        l->threads = t;
        l->cap *= 2;
    }
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int rc = pthread_create(&l->threads[l->nthreads], NULL, worker, l);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc) {
        log_warn("FUSE loop: cannot start thread %u: %s", l->nthreads + 1, strerror(rc));
        return -rc;
    }
    l->nthreads++;
    return 0;
}

/* Lets an idle or a new thread read, if nobody does (lock held). */
static void offer_turn(struct bfs_loop *l)
{
    if (!l->reading && !l->turn_offered && !l->stop) {
        if (l->idle) {
            pthread_cond_signal(&l->idle_cv);
            l->turn_offered = 1;
        } else if (start_worker(l) == 0) {
            l->turn_offered = 1;
        }
    }
}

void bfs_loop_blocked(void *arg)
{
    struct bfs_loop *l = arg;
    pthread_mutex_lock(&l->lock);
    offer_turn(l);
    pthread_mutex_unlock(&l->lock);
}

void bfs_loop_set_stop_hook(struct bfs_loop *l, void (*fn)(void *), void *arg)
{
    l->stop_hook = fn;
    l->stop_arg = arg;
}

void bfs_loop_park(void *arg)
{
    struct bfs_loop *l = arg;
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    l->parked++;
    offer_turn(l);
    pthread_mutex_unlock(&l->lock);
}

void bfs_loop_unpark(void *arg)
{
    struct bfs_loop *l = arg;
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    l->parked--;
    pthread_mutex_unlock(&l->lock);
}

struct bfs_loop *bfs_loop_new(struct fuse_session *se, unsigned max_threads)
{
    struct bfs_loop *l = calloc(1, sizeof *l);
    if (!l)
        return NULL;
    l->se = se;
    l->max_threads = max_threads ? max_threads : 1;
    l->cap = l->max_threads;
    if (!(l->threads = calloc(l->cap, sizeof *l->threads))) {
        free(l);
        return NULL;
    }
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->idle_cv, NULL);
    sem_init(&l->finish, 0, 0);
    return l;
}

int bfs_loop_run(struct bfs_loop *l)
{
    pthread_mutex_lock(&l->lock);
    int rc = start_worker(l);
    pthread_mutex_unlock(&l->lock);
    if (rc < 0)
        return rc;
    /* A worker posts when the session ends; a signal handler that ends it
     * (fuse_session_exit) interrupts the wait, or, if the signal went to
     * another thread, the next timeout notices. */
    while (!fuse_session_exited(l->se)) {
        struct timespec ts = bfs_mono_after(1.0);
        if (sem_clockwait(&l->finish, CLOCK_MONOTONIC, &ts) == 0)
            break;
    }
    pthread_mutex_lock(&l->lock);
    end_loop(l, 0);
    unsigned n = l->nthreads;   /* no thread starts once stop is set */
    pthread_mutex_unlock(&l->lock);
    if (l->stop_hook)
        l->stop_hook(l->stop_arg);
    for (unsigned i = 0; i < n; i++)
        pthread_cancel(l->threads[i]);   /* takes effect only in read(2) */
    for (unsigned i = 0; i < n; i++)
        pthread_join(l->threads[i], NULL);
    return l->error;
}

void bfs_loop_free(struct bfs_loop *l)
{
    if (!l)
        return;
    sem_destroy(&l->finish);
    pthread_cond_destroy(&l->idle_cv);
    pthread_mutex_destroy(&l->lock);
    free(l->threads);
    free(l);
}
