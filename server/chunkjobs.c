/* chunkjobs.c - chunkstore_offload (chunkstore.h): the store's worker thread,
 * which runs the blocking calls a request needs (SEEK's listings and lseeks)
 * so the event loop never waits for them (issue 12).
 *
 * One thread, started on the first job, at normal priority (a client waits for
 * each job). Jobs go to it through a FIFO under a mutex, and come back on a
 * done list under the same mutex; the thread signals the store's eventfd, and
 * a counter of finished jobs lets the loop's poll skip the mutex when there is
 * nothing. The mutex is held for list operations only, never across a job.
 */
#include "chunkstore_int.h"

#include "../common/log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct cs_job {
    uint64_t ino;
    void (*work)(void *arg);
    void (*done)(void *arg);
    void *arg;
    struct cs_job *next;
};

struct cs_jobs {
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct cs_job *todo, *todo_tail, *done, *done_tail;   /* under mu */
    bool stop;                          /* under mu */
    _Atomic uint64_t finished;          /* jobs on the done list ever (the thread) */
    uint64_t submitted, taken;          /* jobs handed to the thread, done ones taken back */
    int loop_efd;
};

static void append(struct cs_job **head, struct cs_job **tail, struct cs_job *j)
{
    j->next = NULL;
    if (*tail) (*tail)->next = j; else *head = j;
    *tail = j;
}

static void *run(void *arg)
{
    struct cs_jobs *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->todo && !w->stop)
            pthread_cond_wait(&w->cv, &w->mu);
        struct cs_job *j = w->todo;
        if (!j)
            break;   /* stop, and nothing left */
        w->todo = j->next;
        if (!w->todo)
            w->todo_tail = NULL;
        pthread_mutex_unlock(&w->mu);
        j->work(j->arg);
        pthread_mutex_lock(&w->mu);
        append(&w->done, &w->done_tail, j);
        atomic_fetch_add_explicit(&w->finished, 1, memory_order_release);
        uint64_t one = 1;
        if (write(w->loop_efd, &one, sizeof one) < 0)
            log_warn("chunkstore: worker: wake the loop: %s", strerror(errno));
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static int jobs_start(struct chunkstore *cs)
{
    struct cs_jobs *w = calloc(1, sizeof *w);
    if (!w)
        return -ENOMEM;
    w->loop_efd = cs->efd;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    int r = pthread_create(&w->tid, NULL, run, w);
    if (r) {
        log_error("chunkstore: cannot start the worker thread: %s", strerror(r));
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        free(w);
        return -r;
    }
    cs->jobs = w;
    return 0;
}

/* Hands j to the thread (counted in inflight until its done runs). */
static void submit(struct chunkstore *cs, struct cs_job *j)
{
    struct cs_jobs *w = cs->jobs;
    w->submitted++;
    pthread_mutex_lock(&w->mu);
    append(&w->todo, &w->todo_tail, j);
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

int chunkstore_offload(struct chunkstore *cs, uint64_t ino, void (*work)(void *arg),
                       void (*done)(void *arg), void *arg)
{
    int r = cs->jobs ? 0 : jobs_start(cs);
    struct cs_job *j = r ? NULL : malloc(sizeof *j);
    if (!j)
        return r ? r : -ENOMEM;
    *j = (struct cs_job){ ino, work, done, arg, NULL };
    cs->inflight++;
    r = cs_job_park(cs, ino, j);   /* after the cuts of ino under way */
    if (r == 0)
        submit(cs, j);
    if (r < 0) {
        cs->inflight--;
        free(j);
        return r;
    }
    return 0;
}

void cs_job_resume(struct chunkstore *cs, struct cs_job *j)
{
    if (cs_job_park(cs, j->ino, j) == 0)   /* (-ENOMEM: go now; its cut is done) */
        submit(cs, j);
}

bool cs_jobs_ready(struct chunkstore *cs)
{
    struct cs_jobs *w = cs->jobs;
    return w && atomic_load_explicit(&w->finished, memory_order_acquire) != w->taken;
}

int cs_jobs_poll(struct chunkstore *cs)
{
    if (!cs_jobs_ready(cs))
        return 0;
    struct cs_jobs *w = cs->jobs;
    pthread_mutex_lock(&w->mu);
    struct cs_job *j = w->done;
    w->done = w->done_tail = NULL;
    pthread_mutex_unlock(&w->mu);
    int ran = 0;
    for (struct cs_job *next; j; j = next, ran++) {
        next = j->next;
        w->taken++;
        cs->inflight--;
        j->done(j->arg);
        free(j);
    }
    return ran;
}

void cs_jobs_stop(struct chunkstore *cs)
{
    struct cs_jobs *w = cs->jobs;
    if (!w)
        return;
    pthread_mutex_lock(&w->mu);
    w->stop = true;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->tid, NULL);   /* it finishes what was queued */
    cs_jobs_poll(cs);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w);
    cs->jobs = NULL;
}

bool cs_jobs_pending(struct chunkstore *cs)
{
    return cs->jobs && cs->jobs->submitted != cs->jobs->taken;
}

int cs_jobs_wait(struct chunkstore *cs)
{
    int ran = 0;
    while (cs_jobs_pending(cs)) {
        if (!cs_jobs_ready(cs)) {
            struct timespec ts = { 0, 1000000 };
            nanosleep(&ts, NULL);
        }
        ran += cs_jobs_poll(cs);
    }
    return ran;
}
