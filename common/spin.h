/* spin.h - when a thread that waits for the network busy-polls, and for how long.
 *
 * A poller (the server's event loop, a client thread leading its UCX worker)
 * spins a while before it sleeps on the worker's event fd: a reply or the next
 * request usually follows within microseconds, and sleeping and being woken
 * costs more than that. On a machine whose cores are all taken (an
 * application, its FUSE daemon and a server on 2 cores) a spin takes the core
 * the application needs. So the spin adapts:
 *   - it is capped by its success: a spin that found work doubles the next
 *     budget (up to the maximum), one that ran out halves it; below
 *     SPIN_MIN_S the budget is 0 (sleep at once);
 *   - it learns from its sleeps: work that came sooner than the maximum
 *     after the poller began to wait (it slept, and was woken) would have
 *     been caught by a spin of that length, so the next budget is at least
 *     twice that wait. Without this a budget once at 0 stayed there while
 *     requests came every few microseconds, each paying a wake-up (~50 us on
 *     a VM whose idle vCPUs halt: 10x slower creates on a mount);
 *   - it backs off when the core is wanted: past its first microseconds a
 *     spin yields its core at every turn, and the thread's count of
 *     involuntary context switches (getrusage) tells when others ran on it:
 *     a turn that took over SPIN_DESCHED_S with a switch in it (another
 *     thread had the core that long), or half of SPIN_CHECK_EVERY yields
 *     that each ran another thread (two spinners on one core handing it to
 *     each other), ends the spin at once, quarters the budget, and sleeps
 *     teach nothing for SPIN_QUIET_S (the cores are taken: several servers
 *     on one host, more threads than cores). A long turn with no switch is
 *     the hypervisor's (a VM's vCPU stolen by its host): the spin goes on;
 *   - with BENCHFS_SPIN_LOAD=1 it does not spin on a machine with more
 *     runnable threads than the process may use cores (/proc/loadavg's
 *     running count, read at most every SPIN_LOAD_CHECK_S by each poller,
 *     spinners included): such a spin keeps a runnable thread off its core,
 *     and the work it waits for is often that thread's (two servers and a
 *     client on 2 cores: each server "found work" in 97 % of its spins and
 *     spun all the time it waited). Off by default: it halves the servers'
 *     CPU per request with 2 or 4 servers on this 2-core host, but with one
 *     server a passing third thread stops the spins a mount or a preloaded
 *     program lives on (docs/DESIGN.md "Spinning", measured).
 * An idle poller therefore sleeps after a few misses and uses no CPU.
 * Knobs: BENCHFS_SPIN_US (the maximum, microseconds; 0: never spin),
 * BENCHFS_SPIN_ADAPT=0 (always spin the maximum, the old behaviour) and
 * BENCHFS_SPIN_LOAD=1 (no spin while more threads are runnable than cores).
 * One struct per polling thread (or per lock that serialises polling): not
 * thread-safe by itself.
 */
#ifndef BENCHFS_SPIN_H
#define BENCHFS_SPIN_H

#include <stdint.h>

struct bfs_spin {
    double max_s, budget_s;
    int adapt;
    double started, last;         /* the wait (and spin) running now */
    int asleep;                   /* the poller slept in this wait, and may learn from it */
    int learn;                    /* this wait may teach (no desched in it, none lately) */
    double quiet_until;           /* sleeps teach nothing before this (a recent desched) */
    long switches0;               /* the switch count at the last check (-1: none yet) */
    unsigned yields;              /* yields since that check */
    /* The calling thread's involuntary context switches; tests replace it. */
    long (*switches)(void);
    /* Threads runnable on the machine now, and the cores this process may use
     * (-1: unknown); tests replace them. load_next: when to look again. */
    int (*runnable)(void);
    int (*cores)(void);
    int load_check, overloaded;
    double load_next;
    /* counters, for measurements (bfs_spin_log) */
    uint64_t spins, hits, misses, descheds, wakes, overloads;
    double spun_s;
};

/* default_us: the maximum unless BENCHFS_SPIN_US says otherwise. */
void bfs_spin_init(struct bfs_spin *s, double default_us);
/* The poller has run out of work at time now and begins to wait: returns the
 * budget of its spin in seconds (0: do not spin, sleep at once). */
double bfs_spin_begin(struct bfs_spin *s, double now);
/* One turn of the spin that found nothing, at time now (after the poll):
 * yields the core past the first microseconds. 1: go on spinning; 0: the
 * spin is over (budget spent, or descheduled), sleep now. */
int bfs_spin_turn(struct bfs_spin *s, double now);
/* The spin found work. */
void bfs_spin_hit(struct bfs_spin *s, double now);
/* The poller goes to sleep in the wait bfs_spin_begin began (its spin, if
 * any, is over). */
void bfs_spin_sleep(struct bfs_spin *s);
/* The poller found work at time now, not spinning: after a sleep of this
 * wait, a wait shorter than the maximum raises the budget to twice its
 * length. Call it whenever progress finds work (it does nothing otherwise). */
void bfs_spin_woke(struct bfs_spin *s, double now);
/* What the spins did, one log line at level info (tag names the poller). */
void bfs_spin_log(const struct bfs_spin *s, const char *tag);

#endif
