/* stats.h - latency samples and their summary, and durations printed the way
 * the seed's Rust tool printed them. Pure logic: no I/O, no clocks, no locks
 * (one lat_stats per thread; merge them afterwards).
 *
 *   struct lat_stats s; lat_init(&s, 100);
 *   lat_add(&s, 1234);  ...              // nanoseconds per operation
 *   struct lat_summary sum; lat_summarize(&s, &sum);
 *   char b[FMT_DURATION_MAX]; fmt_duration(sum.p99, b, sizeof b);
 *   lat_free(&s);
 */
#ifndef BENCHFS_STATS_H
#define BENCHFS_STATS_H

#include <stddef.h>
#include <stdint.h>

/* A growable array of samples, in nanoseconds, in the order they were added. */
struct lat_stats {
    uint64_t *ns;
    size_t count;
    size_t cap;
};

/* Starts empty with room for cap_hint samples (0 is fine), so that lat_add
 * inside a timed loop does not reallocate. Returns 0 or -ENOMEM (then s is
 * still a valid empty recorder). */
int lat_init(struct lat_stats *s, size_t cap_hint);
/* Appends one sample. Returns 0 or -ENOMEM (the sample is then not recorded). */
int lat_add(struct lat_stats *s, uint64_t ns);
/* Appends all of src's samples to dst; src is unchanged. Returns 0 or -ENOMEM
 * (then dst is unchanged). */
int lat_merge(struct lat_stats *dst, const struct lat_stats *src);
/* Frees the samples and leaves s empty (usable again after lat_init). */
void lat_free(struct lat_stats *s);

struct lat_summary {
    uint64_t count;
    uint64_t total_ns;   /* sum of the samples (not wall time) */
    uint64_t min, max;
    uint64_t avg;        /* total_ns / count, rounded down */
    uint64_t p50, p99;   /* nearest-rank percentiles: the sample at rank ceil(p/100 * count) */
};

/* Summarizes s without changing it (sorts a copy). With no samples every field
 * is 0. Returns 0 or -ENOMEM (then *out is all zero). */
int lat_summarize(const struct lat_stats *s, struct lat_summary *out);

/* The nearest-rank percentile p (0 < p <= 100) of n sorted samples; 0 if n is 0. */
uint64_t lat_percentile_sorted(const uint64_t *sorted, size_t n, unsigned p);

/* Enough for any uint64_t duration ("18446744073.71s" and the NUL). */
#define FMT_DURATION_MAX 32

/* Writes ns as Rust's Debug for Duration does, rounded to at most 3 decimals
 * with trailing zeros dropped: the unit is s, ms, µs (UTF-8 "\xc2\xb5s") or ns
 * by magnitude, e.g. 0 -> "0ns", 999 -> "999ns", 1500 -> "1.5µs",
 * 5001000 -> "5.001ms", 500000000 -> "500ms", 1200000000 -> "1.2s".
 * A value that rounds up to 1000 of a unit is shown in the next unit
 * (999999999 -> "1s"). Like snprintf: writes at most n-1 bytes and a NUL
 * (nothing if n is 0) and returns the length of the whole string. */
size_t fmt_duration(uint64_t ns, char *buf, size_t n);

#endif
