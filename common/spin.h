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
 *     SPIN_MIN_S the budget is 0 (sleep at once), and one wait in
 *     SPIN_PROBE_EVERY then spins SPIN_MIN_S to learn whether spinning pays again;
 *   - it backs off when the poller is descheduled: past its first microseconds a
 *     spin yields its core at every turn, and a turn that took more than
 *     SPIN_DESCHED_S means another thread ran on this core (the core is wanted):
 *     the spin ends at once and the budget is quartered.
 * An idle poller therefore sleeps after a few misses and uses no CPU.
 * Knobs: BENCHFS_SPIN_US (the maximum, microseconds; 0: never spin) and
 * BENCHFS_SPIN_ADAPT=0 (always spin the maximum, the old behaviour).
 * One struct per polling thread (or per lock that serialises polling): not
 * thread-safe by itself.
 */
#ifndef BENCHFS_SPIN_H
#define BENCHFS_SPIN_H

#include <stdint.h>

struct bfs_spin {
    double max_s, budget_s;
    int adapt;
    unsigned probe;               /* sleeps since the last probe (budget 0) */
    double started, last;         /* the spin running now */
    /* counters, for measurements (bfs_spin_log) */
    uint64_t spins, hits, misses, descheds;
    double spun_s;
};

/* default_us: the maximum unless BENCHFS_SPIN_US says otherwise. */
void bfs_spin_init(struct bfs_spin *s, double default_us);
/* Starts a spin at time now: returns its budget in seconds (0: do not spin). */
double bfs_spin_begin(struct bfs_spin *s, double now);
/* One turn of the spin that found nothing, at time now (after the poll):
 * yields the core past the first microseconds. 1: go on spinning; 0: the
 * spin is over (budget spent, or descheduled), sleep now. */
int bfs_spin_turn(struct bfs_spin *s, double now);
/* The spin found work. */
void bfs_spin_hit(struct bfs_spin *s, double now);
/* What the spins did, one log line at level info (tag names the poller). */
void bfs_spin_log(const struct bfs_spin *s, const char *tag);

#endif
