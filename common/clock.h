/* clock.h - the clocks BenchFS reads, one helper each.
 *
 * Durations, deadlines and timed waits use CLOCK_MONOTONIC, which a change of
 * the wall clock (NTP, an admin) cannot move: a wait of 30 s takes 30 s. Only
 * file times (atime/mtime/ctime) are wall-clock time. A condition variable
 * that a timed wait uses must be made with bfs_cond_init_mono, and a
 * semaphore waited on with sem_clockwait(..., CLOCK_MONOTONIC, ...).
 */
#ifndef BENCHFS_CLOCK_H
#define BENCHFS_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

static inline int64_t bfs_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline double bfs_mono_s(void) { return (double)bfs_mono_ns() / 1e9; }

/* Wall-clock time in ns since the epoch: what file times are stamped with. */
static inline int64_t bfs_wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* The CLOCK_MONOTONIC instant s seconds from now (s >= 0), for timed waits. */
static inline struct timespec bfs_mono_after(double s)
{
    int64_t t = bfs_mono_ns() + (int64_t)(s * 1e9);
    return (struct timespec){ .tv_sec = (time_t)(t / 1000000000LL), .tv_nsec = (long)(t % 1000000000LL) };
}

/* pthread_cond_init for a condition whose timed waits take bfs_mono_after's deadlines. */
static inline int bfs_cond_init_mono(pthread_cond_t *cond)
{
    pthread_condattr_t ca;
    int rc = pthread_condattr_init(&ca);
    if (rc == 0)
        rc = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (rc == 0)
        rc = pthread_cond_init(cond, &ca);
    pthread_condattr_destroy(&ca);
    return rc;
}

#endif
