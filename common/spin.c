/* spin.c - see spin.h */
#include "spin.h"

#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"

#define SPIN_MIN_S 5e-6          /* a budget below this is no spin at all */
#define SPIN_YIELD_AFTER_S 20e-6 /* spin this long before yielding the core at every turn */
#define SPIN_DESCHED_S 50e-6     /* a turn this long: did another thread have the core? */
#define SPIN_QUIET_S 20e-3       /* after that, sleeps teach nothing for this long */
#define SPIN_LOAD_CHECK_S 10e-3  /* how often a poller reads the machine's runnable count */
#define SPIN_CHECK_EVERY 8       /* yields between two looks at the switch count; the
                                  * core is wanted if half of them ran another thread */

static long thread_switches(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_THREAD, &ru) == 0 ? ru.ru_nivcsw : -1;
}

/* The fourth field of /proc/loadavg, "running/total": threads runnable now. */
static int machine_runnable(void)
{
    char buf[128];
    int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    int running = -1;
    return sscanf(buf, "%*s %*s %*s %d/", &running) == 1 ? running : -1;
}

static int process_cores(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0)
        return CPU_COUNT(&set);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : -1;
}

void bfs_spin_init(struct bfs_spin *s, double default_us)
{
    const char *e = getenv("BENCHFS_SPIN_US");
    double us = e ? atof(e) : default_us;
    const char *a = getenv("BENCHFS_SPIN_ADAPT");
    const char *l = getenv("BENCHFS_SPIN_LOAD");
    *s = (struct bfs_spin){ 0 };
    s->max_s = us > 0 ? us / 1e6 : 0;
    s->budget_s = s->max_s;
    s->adapt = !(a && a[0] == '0');
    s->load_check = s->adapt && l && l[0] == '1';
    s->switches = thread_switches;
    s->runnable = machine_runnable;
    s->cores = process_cores;
}

/* More threads runnable than cores, as read at most every SPIN_LOAD_CHECK_S. */
static int overloaded(struct bfs_spin *s, double now)
{
    if (!s->load_check)
        return 0;
    if (now >= s->load_next) {
        s->load_next = now + SPIN_LOAD_CHECK_S;
        int r = s->runnable(), c = s->cores();
        s->overloaded = r > 0 && c > 0 && r > c;
    }
    return s->overloaded;
}

double bfs_spin_begin(struct bfs_spin *s, double now)
{
    double b = s->adapt ? s->budget_s : s->max_s;
    s->started = s->last = now;
    s->asleep = 0;
    s->learn = now >= s->quiet_until;
    s->switches0 = -1;
    s->yields = 0;
    if (b > 0 && overloaded(s, now)) {
        s->overloads++;
        return 0;   /* the budget stays: it is for when the cores are free again */
    }
    if (b > 0)
        s->spins++;
    return b;
}

static void shrink(struct bfs_spin *s, double by)
{
    if (!s->adapt)
        return;
    s->budget_s /= by;
    if (s->budget_s < SPIN_MIN_S)
        s->budget_s = 0;
}

/* Have at least `need` other threads' turns run on this core since the last
 * look? The first look of a spin only takes the count. */
static int core_taken(struct bfs_spin *s, long need)
{
    long n = s->switches();
    int taken = s->switches0 >= 0 && n - s->switches0 >= need;
    s->switches0 = n;
    s->yields = 0;
    return taken;
}

int bfs_spin_turn(struct bfs_spin *s, double now)
{
    double b = s->adapt ? s->budget_s : s->max_s;
    if (b == 0)
        return 0;
    double gap = now - s->last;
    s->last = now;
    /* The core is wanted if another thread had it for a long turn, or took
     * most of our yields (a spinner of its own); a thread that runs briefly
     * when we yield (the FUSE daemon, the application) is what the yield is for. */
    int wanted = 0;
    if (s->adapt && gap > SPIN_DESCHED_S)
        wanted = core_taken(s, 1);
    else if (s->adapt && s->yields >= SPIN_CHECK_EVERY)
        wanted = core_taken(s, SPIN_CHECK_EVERY / 2);
    if (wanted) {
        s->descheds++;
        s->learn = 0;
        s->quiet_until = now + SPIN_QUIET_S;
        s->spun_s += now - s->started;
        shrink(s, 4);
        return 0;
    }
    if (overloaded(s, now)) {
        s->overloads++;
        s->spun_s += now - s->started;
        return 0;
    }
    if (now - s->started >= b) {
        s->misses++;
        s->spun_s += now - s->started;
        shrink(s, 2);
        return 0;
    }
    if (now - s->started > SPIN_YIELD_AFTER_S) {
        if (s->adapt && s->switches0 < 0)
            core_taken(s, 1);   /* the count before the first yield */
        sched_yield();
        s->yields++;
    }
    return 1;
}

void bfs_spin_hit(struct bfs_spin *s, double now)
{
    s->hits++;
    s->spun_s += now - s->started;
    if (!s->adapt)
        return;
    s->budget_s = s->budget_s < SPIN_MIN_S ? SPIN_MIN_S : s->budget_s * 2;
    if (s->budget_s > s->max_s)
        s->budget_s = s->max_s;
}

void bfs_spin_sleep(struct bfs_spin *s)
{
    s->asleep = s->learn;
}

void bfs_spin_woke(struct bfs_spin *s, double now)
{
    if (!s->asleep)
        return;
    s->asleep = 0;
    double wait = now - s->started;
    if (!s->adapt || wait >= s->max_s)
        return;
    /* Work came while we slept, sooner than the longest spin: one twice this
     * long would have caught it without the wake-up. */
    s->wakes++;
    double b = 2 * wait < SPIN_MIN_S ? SPIN_MIN_S : 2 * wait;
    if (b > s->max_s)
        b = s->max_s;
    if (b > s->budget_s)
        s->budget_s = b;
}

void bfs_spin_log(const struct bfs_spin *s, const char *tag)
{
    log_info("%s: %llu spins (%llu found work, %llu ran out, %llu descheduled), %llu sleeps "
             "woken sooner than the longest spin, %llu waits not spun or cut short on a "
             "loaded machine, %.3f s spinning",
             tag, (unsigned long long)s->spins, (unsigned long long)s->hits,
             (unsigned long long)s->misses, (unsigned long long)s->descheds,
             (unsigned long long)s->wakes, (unsigned long long)s->overloads, s->spun_s);
}
