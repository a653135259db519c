/* test_spin.c - the adaptive spin policy (common/spin.h), on a fake clock:
 * spins that pay grow the budget, spins that run out shrink it to nothing (an
 * idle poller sleeps at once, but probes now and then), and a spin that lost
 * its core ends at once. */
#include <stdlib.h>

#include "../../common/spin.h"
#include "../test.h"

#define US 1e-6

/* Runs one spin that finds work after `hit_after` seconds (< 0: never), with
 * turns every `step` seconds from now; returns when the spin ended and how. */
static int one_spin(struct bfs_spin *s, double *now, double hit_after, double step)
{
    double start = *now;
    if (bfs_spin_begin(s, *now) <= 0)
        return 0;   /* no spin */
    for (;;) {
        *now += step;
        if (hit_after >= 0 && *now - start >= hit_after) {
            bfs_spin_hit(s, *now);
            return 1;
        }
        if (!bfs_spin_turn(s, *now))
            return 2;
    }
}

static void test_misses_shrink_to_zero(void)
{
    setenv("BENCHFS_SPIN_US", "100", 1);
    unsetenv("BENCHFS_SPIN_ADAPT");
    struct bfs_spin s;
    bfs_spin_init(&s, 1000);
    CHECK(s.max_s > 99 * US && s.max_s < 101 * US);   /* the environment wins */
    double now = 1.0;
    for (int i = 0; i < 10; i++)
        one_spin(&s, &now, -1, 1 * US);
    CHECK(s.budget_s == 0);
    CHECK(s.misses >= 4);
    /* Budget 0: no spin, except one probe in 16. */
    int spun = 0;
    for (int i = 0; i < 32; i++)
        spun += one_spin(&s, &now, -1, 1 * US) != 0;
    CHECK_EQ(spun, 2);
}

static void test_hits_grow_to_max(void)
{
    setenv("BENCHFS_SPIN_US", "100", 1);
    struct bfs_spin s;
    bfs_spin_init(&s, 1000);
    double now = 1.0;
    for (int i = 0; i < 10; i++)
        one_spin(&s, &now, -1, 1 * US);
    CHECK(s.budget_s == 0);
    /* Work comes 2 us into a spin: the probes find it, and the budget grows back. */
    for (int i = 0; i < 200; i++)
        one_spin(&s, &now, 2 * US, 1 * US);
    CHECK(s.budget_s > 99 * US);
    CHECK(s.hits > 0);
}

static void test_descheduled_spin_ends(void)
{
    setenv("BENCHFS_SPIN_US", "1000", 1);
    struct bfs_spin s;
    bfs_spin_init(&s, 1000);
    double now = 1.0;
    CHECK(bfs_spin_begin(&s, now) > 0);
    CHECK(bfs_spin_turn(&s, now + 1 * US));
    /* A turn of 200 us: another thread had the core. */
    CHECK(!bfs_spin_turn(&s, now + 201 * US));
    CHECK_EQ(s.descheds, 1);
    CHECK(s.budget_s < 300 * US);
}

static void test_fixed_when_not_adaptive(void)
{
    setenv("BENCHFS_SPIN_US", "50", 1);
    setenv("BENCHFS_SPIN_ADAPT", "0", 1);
    struct bfs_spin s;
    bfs_spin_init(&s, 1000);
    double now = 1.0;
    for (int i = 0; i < 10; i++)
        CHECK_EQ(one_spin(&s, &now, -1, 1 * US), 2);
    CHECK(s.budget_s > 49 * US);
    unsetenv("BENCHFS_SPIN_ADAPT");
    setenv("BENCHFS_SPIN_US", "0", 1);
    bfs_spin_init(&s, 1000);
    CHECK_EQ(one_spin(&s, &now, -1, 1 * US), 0);   /* 0: never spin */
}

int main(void)
{
    RUN(test_misses_shrink_to_zero);
    RUN(test_hits_grow_to_max);
    RUN(test_descheduled_spin_ends);
    RUN(test_fixed_when_not_adaptive);
    return test_summary();
}
