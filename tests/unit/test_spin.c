/* test_spin.c - the adaptive spin policy (common/spin.h), on a fake clock:
 * spins that pay grow the budget, spins that run out shrink it to nothing (an
 * idle poller sleeps at once), a sleep woken soon after the wait began raises
 * the budget again, a spin that lost its core to another thread (not to
 * the host) ends at once and teaches nothing for a while, and no spin runs
 * while more threads are runnable than there are cores (a fake count: the
 * check is off by default, and the other tests run without it). */
#include <stdlib.h>

#include "../../common/spin.h"
#include "../test.h"

#define US 1e-6

/* One wait of a poller whose work comes `work_after` seconds after the wait
 * began (< 0: not within this wait): it spins with turns every `step`
 * seconds, and if the spin ends without the work it sleeps until the work
 * comes (or for a second), as the server's loop and a client's leader do.
 * Returns 0 if it did not spin, 1 if the spin found the work, 2 if it slept. */
static int one_wait(struct bfs_spin *s, double *now, double work_after, double step)
{
    double start = *now;
    int how = 0;
    if (bfs_spin_begin(s, *now) > 0) {
        for (;;) {
            *now += step;
            if (work_after >= 0 && *now - start >= work_after) {
                bfs_spin_hit(s, *now);
                return 1;
            }
            if (!bfs_spin_turn(s, *now))
                break;
        }
        how = 2;
    }
    bfs_spin_sleep(s);
    double woke = work_after >= 0 ? start + work_after : *now + 1.0;
    *now = woke > *now ? woke : *now;
    if (work_after >= 0)
        bfs_spin_woke(s, *now);
    return how;
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
        one_wait(&s, &now, -1, 1 * US);
    CHECK(s.budget_s == 0);
    CHECK(s.misses >= 4);
    /* Budget 0 and nothing comes (an idle poller): no spin at all. */
    int spun = 0;
    for (int i = 0; i < 32; i++)
        spun += one_wait(&s, &now, -1, 1 * US) != 0;
    CHECK_EQ(spun, 0);
    /* Work that comes later than the longest spin teaches nothing either. */
    for (int i = 0; i < 32; i++)
        spun += one_wait(&s, &now, 150 * US, 1 * US) != 0;
    CHECK_EQ(spun, 0);
    CHECK(s.budget_s == 0);
    CHECK_EQ(s.wakes, 0);
}

static void test_short_sleeps_bring_the_spin_back(void)
{
    setenv("BENCHFS_SPIN_US", "100", 1);
    struct bfs_spin s;
    bfs_spin_init(&s, 1000);
    double now = 1.0;
    for (int i = 0; i < 10; i++)
        one_wait(&s, &now, -1, 1 * US);
    CHECK(s.budget_s == 0);
    /* Work comes 10 us after each wait begins: the first wait sleeps and is
     * woken, which is enough to spin again; the spins find the work. */
    CHECK_EQ(one_wait(&s, &now, 10 * US, 1 * US), 0);
    CHECK_EQ(s.wakes, 1);
    CHECK(s.budget_s >= 20 * US - 1e-9);
    int found = 0;
    for (int i = 0; i < 20; i++)
        found += one_wait(&s, &now, 10 * US, 1 * US) == 1;
    CHECK_EQ(found, 20);
    CHECK(s.budget_s > 99 * US);   /* and hits grow it to the maximum */
    /* A spin too short for the work: it runs out, but the sleep that follows
     * raises the budget past the wait. */
    bfs_spin_init(&s, 1000);
    s.budget_s = 8 * US;
    CHECK_EQ(one_wait(&s, &now, 30 * US, 1 * US), 2);
    CHECK(s.budget_s >= 60 * US - 1e-9);
    CHECK_EQ(one_wait(&s, &now, 30 * US, 1 * US), 1);
}

/* The thread's involuntary context switches, as the tests have them. */
static long fake_switch_count;
static long fake_switches(void)
{
    return fake_switch_count;
}

/* A spin of at most 1 ms begun at now, on the fake switch count. */
static void begin_faked(struct bfs_spin *s, double now)
{
    setenv("BENCHFS_SPIN_US", "1000", 1);
    bfs_spin_init(s, 1000);
    s->switches = fake_switches;
    CHECK(bfs_spin_begin(s, now) > 0);
}

static void test_descheduled_spin_ends(void)
{
    struct bfs_spin s;
    double now = 1.0;
    begin_faked(&s, now);
    /* Into the yielding part of the spin (past its first 20 us). */
    for (int i = 1; i <= 25; i++)
        CHECK(bfs_spin_turn(&s, now + i * US));
    now += 25 * US;
    /* A turn of 200 us with no switch: the host had the vCPU, not another
     * thread; the spin goes on. */
    now += 200 * US;
    CHECK(bfs_spin_turn(&s, now));
    CHECK_EQ(s.descheds, 0);
    /* A turn of 200 us in which another thread ran here: the spin ends. */
    fake_switch_count++;
    now += 200 * US;
    CHECK(!bfs_spin_turn(&s, now));
    CHECK_EQ(s.descheds, 1);
    CHECK(s.budget_s < 300 * US);
    /* The sleep after it, however short, does not raise the budget: the core
     * was wanted; nor do the sleeps of the next few milliseconds. */
    double b = s.budget_s;
    bfs_spin_sleep(&s);
    bfs_spin_woke(&s, now + 10 * US);
    CHECK(s.budget_s == b);
    now += 1000 * US;
    for (int i = 0; i < 5; i++)
        one_wait(&s, &now, 300 * US, 1 * US);
    CHECK_EQ(s.wakes, 0);
    /* Later, a short sleep teaches again. */
    now += 1.0;
    s.budget_s = 0;
    one_wait(&s, &now, 10 * US, 1 * US);
    CHECK_EQ(s.wakes, 1);
    CHECK(s.budget_s > 0);
}

static void test_spinners_sharing_a_core(void)
{
    /* Two spinners on one core yield to each other: every turn is short, but
     * the switch count grows; the spin ends within SPIN_CHECK_EVERY yields. */
    struct bfs_spin s;
    double now = 1.0;
    begin_faked(&s, now);
    int turns = 0;
    for (;;) {
        now += 1 * US;
        if (now - 1.0 > 21 * US)
            fake_switch_count++;   /* each yield ran the other spinner */
        if (!bfs_spin_turn(&s, now))
            break;
        turns++;
    }
    CHECK(turns < 40);
    CHECK_EQ(s.descheds, 1);
}

static int fake_running, fake_cores = 2;
static int fake_runnable(void) { return fake_running; }
static int fake_core_count(void) { return fake_cores; }

static void test_no_spin_on_a_loaded_machine(void)
{
    setenv("BENCHFS_SPIN_US", "100", 1);
    setenv("BENCHFS_SPIN_LOAD", "1", 1);
    struct bfs_spin s;
    bfs_spin_init(&s, 1000);
    s.runnable = fake_runnable;
    s.cores = fake_core_count;
    double now = 1.0;
    fake_running = 2;                                  /* as many as cores: spin */
    CHECK_EQ(one_wait(&s, &now, 10 * US, 1 * US), 1);
    now += 20e-3;
    fake_running = 3;                                  /* more: sleep at once */
    CHECK_EQ(one_wait(&s, &now, 10 * US, 1 * US), 0);
    CHECK_EQ(s.overloads, 1);
    CHECK(s.budget_s > 99 * US);                       /* kept for when cores are free */
    fake_running = 1;                                  /* looked at again only 10 ms later */
    CHECK_EQ(one_wait(&s, &now, 10 * US, 1 * US), 0);
    now += 20e-3;
    CHECK_EQ(one_wait(&s, &now, 10 * US, 1 * US), 1);
    /* The machine fills up during a spin: its next look ends it. */
    now += 20e-3;
    CHECK(bfs_spin_begin(&s, now) > 0);
    fake_running = 4;
    CHECK_EQ(bfs_spin_turn(&s, now + 1 * US), 1);      /* not looked at yet */
    CHECK_EQ(bfs_spin_turn(&s, now + 11e-3), 0);
    CHECK_EQ(s.overloads, 3);
    /* Without BENCHFS_SPIN_LOAD=1: spin however loaded. */
    unsetenv("BENCHFS_SPIN_LOAD");
    bfs_spin_init(&s, 1000);
    s.runnable = fake_runnable;
    s.cores = fake_core_count;
    CHECK_EQ(one_wait(&s, &now, 10 * US, 1 * US), 1);
    CHECK_EQ(s.overloads, 0);
}

static void test_fixed_when_not_adaptive(void)
{
    setenv("BENCHFS_SPIN_US", "50", 1);
    setenv("BENCHFS_SPIN_ADAPT", "0", 1);
    struct bfs_spin s;
    bfs_spin_init(&s, 1000);
    double now = 1.0;
    for (int i = 0; i < 10; i++)
        CHECK_EQ(one_wait(&s, &now, -1, 1 * US), 2);
    CHECK(s.budget_s > 49 * US);
    unsetenv("BENCHFS_SPIN_ADAPT");
    setenv("BENCHFS_SPIN_US", "0", 1);
    bfs_spin_init(&s, 1000);
    CHECK_EQ(one_wait(&s, &now, -1, 1 * US), 0);   /* 0: never spin */
    CHECK_EQ(one_wait(&s, &now, 2 * US, 1 * US), 0);
    CHECK(s.budget_s == 0);
}

int main(void)
{
    unsetenv("BENCHFS_SPIN_LOAD");
    RUN(test_misses_shrink_to_zero);
    RUN(test_short_sleeps_bring_the_spin_back);
    RUN(test_descheduled_spin_ends);
    RUN(test_spinners_sharing_a_core);
    RUN(test_fixed_when_not_adaptive);
    RUN(test_no_spin_on_a_loaded_machine);
    return test_summary();
}
