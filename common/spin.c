/* spin.c - see spin.h */
#include "spin.h"

#include <sched.h>
#include <stdlib.h>

#include "log.h"

#define SPIN_MIN_S 5e-6          /* a budget below this is no spin at all */
#define SPIN_YIELD_AFTER_S 20e-6 /* spin this long before yielding the core at every turn */
#define SPIN_DESCHED_S 50e-6     /* a turn this long means another thread had the core */

void bfs_spin_init(struct bfs_spin *s, double default_us)
{
    const char *e = getenv("BENCHFS_SPIN_US");
    double us = e ? atof(e) : default_us;
    const char *a = getenv("BENCHFS_SPIN_ADAPT");
    *s = (struct bfs_spin){ 0 };
    s->max_s = us > 0 ? us / 1e6 : 0;
    s->budget_s = s->max_s;
    s->adapt = !(a && a[0] == '0');
}

double bfs_spin_begin(struct bfs_spin *s, double now)
{
    double b = s->adapt ? s->budget_s : s->max_s;
    s->started = s->last = now;
    s->asleep = 0;
    s->learn = 1;
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

int bfs_spin_turn(struct bfs_spin *s, double now)
{
    double b = s->adapt ? s->budget_s : s->max_s;
    if (b == 0)
        return 0;
    double gap = now - s->last;
    s->last = now;
    if (s->adapt && gap > SPIN_DESCHED_S) {
        s->descheds++;
        s->learn = 0;
        s->spun_s += now - s->started;
        shrink(s, 4);
        return 0;
    }
    if (now - s->started >= b) {
        s->misses++;
        s->spun_s += now - s->started;
        shrink(s, 2);
        return 0;
    }
    if (now - s->started > SPIN_YIELD_AFTER_S)
        sched_yield();
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
             "woken sooner than the longest spin, %.3f s spinning",
             tag, (unsigned long long)s->spins, (unsigned long long)s->hits,
             (unsigned long long)s->misses, (unsigned long long)s->descheds,
             (unsigned long long)s->wakes, s->spun_s);
}
