/* test_clock.c - timed waits keep their length when the wall clock jumps.
 *
 * This binary's own clock_gettime stands in for libc's (the helpers in
 * common/clock.h call it by name): it moves CLOCK_REALTIME an hour ahead, as an
 * NTP step or an admin might. A deadline taken from the wall clock would then
 * wait an hour (alarm() ends the test after 5 s); the monotonic ones must not. */
#include <errno.h>
#include <semaphore.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../../common/clock.h"
#include "../test.h"

static long wall_jump_s;

int clock_gettime(clockid_t id, struct timespec *ts)
{
    long rc = syscall(SYS_clock_gettime, id, ts);
    if (rc == 0 && id == CLOCK_REALTIME)
        ts->tv_sec += wall_jump_s;
    return (int)rc;
}

static double real_mono_s(void)
{
    struct timespec ts;
    syscall(SYS_clock_gettime, CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_cond_wait_ignores_wall_clock(void)
{
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv;
    REQUIRE(bfs_cond_init_mono(&cv) == 0);
    wall_jump_s = 3600;
    double t0 = real_mono_s();
    struct timespec dl = bfs_mono_after(0.05);
    pthread_mutex_lock(&mu);
    int rc;
    while ((rc = pthread_cond_timedwait(&cv, &mu, &dl)) == 0)
        ;
    pthread_mutex_unlock(&mu);
    double took = real_mono_s() - t0;
    wall_jump_s = 0;
    CHECK_EQ(rc, ETIMEDOUT);
    CHECK(took >= 0.049 && took < 2.0);
    pthread_cond_destroy(&cv);
}

static void test_sem_wait_ignores_wall_clock(void)
{
    sem_t sem;
    REQUIRE(sem_init(&sem, 0, 0) == 0);
    wall_jump_s = 3600;
    double t0 = real_mono_s();
    struct timespec dl = bfs_mono_after(0.05);
    int rc = sem_clockwait(&sem, CLOCK_MONOTONIC, &dl);
    int err = errno;
    double took = real_mono_s() - t0;
    wall_jump_s = 0;
    CHECK_EQ(rc, -1);
    CHECK_EQ(err, ETIMEDOUT);
    CHECK(took >= 0.049 && took < 2.0);
    sem_destroy(&sem);
}

static void test_helpers_agree(void)
{
    double a = bfs_mono_s();
    int64_t b = bfs_mono_ns();
    CHECK(b / 1e9 - a >= 0 && b / 1e9 - a < 1.0);
    struct timespec t = bfs_mono_after(1.5);
    double at = (double)t.tv_sec + (double)t.tv_nsec / 1e9;
    CHECK(at - bfs_mono_s() > 1.4 && at - bfs_mono_s() <= 1.5);
    CHECK(t.tv_nsec >= 0 && t.tv_nsec < 1000000000L);
    wall_jump_s = 3600;
    int64_t w = bfs_wall_ns();
    wall_jump_s = 0;
    CHECK(w - bfs_wall_ns() > 3599LL * 1000000000LL);   /* file times do follow the wall clock */
}

int main(void)
{
    alarm(5);   /* a wall-clock deadline would wait an hour */
    RUN(test_helpers_agree);
    RUN(test_cond_wait_ignores_wall_clock);
    RUN(test_sem_wait_ignores_wall_clock);
    return test_summary();
}
