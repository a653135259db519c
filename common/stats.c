/* stats.c - see stats.h */
#include "stats.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int lat_reserve(struct lat_stats *s, size_t want)
{
    if (want <= s->cap)
        return 0;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < want) {
        if (cap > SIZE_MAX / 2)
            return -ENOMEM;
        cap *= 2;
    }
    if (cap > SIZE_MAX / sizeof *s->ns)
        return -ENOMEM;
    uint64_t *p = realloc(s->ns, cap * sizeof *p);
    if (!p)
        return -ENOMEM;
    s->ns = p;
    s->cap = cap;
    return 0;
}

int lat_init(struct lat_stats *s, size_t cap_hint)
{
    s->ns = NULL;
    s->count = 0;
    s->cap = 0;
    return cap_hint ? lat_reserve(s, cap_hint) : 0;
}

int lat_add(struct lat_stats *s, uint64_t ns)
{
    if (s->count == s->cap) {
        int rc = lat_reserve(s, s->count + 1);
        if (rc)
            return rc;
    }
    s->ns[s->count++] = ns;
    return 0;
}

int lat_merge(struct lat_stats *dst, const struct lat_stats *src)
{
    if (src->count == 0)
        return 0;
    if (src->count > SIZE_MAX - dst->count)
        return -ENOMEM;
    int rc = lat_reserve(dst, dst->count + src->count);
    if (rc)
        return rc;
    memcpy(dst->ns + dst->count, src->ns, src->count * sizeof *src->ns);
    dst->count += src->count;
    return 0;
}

void lat_free(struct lat_stats *s)
{
    free(s->ns);
    s->ns = NULL;
    s->count = 0;
    s->cap = 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

uint64_t lat_percentile_sorted(const uint64_t *sorted, size_t n, unsigned p)
{
    if (n == 0)
        return 0;
    if (p > 100)
        p = 100;
    /* Nearest rank: the smallest sample with at least p% of the samples at or
     * below it, i.e. rank ceil(p * n / 100) (1-based). Computed as
     * n / 100 * p plus the remainder's share, so that p * n cannot overflow. */
    size_t rank = (n / 100) * p + ((n % 100) * p + 99) / 100;
    if (rank < 1)
        rank = 1;
    if (rank > n)
        rank = n;
    return sorted[rank - 1];
}

int lat_summarize(const struct lat_stats *s, struct lat_summary *out)
{
    memset(out, 0, sizeof *out);
    if (s->count == 0)
        return 0;
    uint64_t *sorted = malloc(s->count * sizeof *sorted);
    if (!sorted)
        return -ENOMEM;
    memcpy(sorted, s->ns, s->count * sizeof *sorted);
    qsort(sorted, s->count, sizeof *sorted, cmp_u64);

    uint64_t total = 0;
    for (size_t i = 0; i < s->count; i++)
        total += sorted[i];
    out->count = s->count;
    out->total_ns = total;
    out->min = sorted[0];
    out->max = sorted[s->count - 1];
    out->avg = total / s->count;
    out->p50 = lat_percentile_sorted(sorted, s->count, 50);
    out->p99 = lat_percentile_sorted(sorted, s->count, 99);
    free(sorted);
    return 0;
}

size_t fmt_duration(uint64_t ns, char *buf, size_t n)
{
    /* Largest unit first; "µs" is U+00B5 as Rust prints it. */
    static const struct { uint64_t div; const char *name; } units[] = {
        { 1000000000ull, "s" }, { 1000000ull, "ms" }, { 1000ull, "\xc2\xb5s" },
    };
    char tmp[FMT_DURATION_MAX];
    int len = -1;
    size_t u = 0;
    while (u < 3 && ns < units[u].div)
        u++;
    if (u == 3) {
        len = snprintf(tmp, sizeof tmp, "%lluns", (unsigned long long)ns);
    } else {
        for (;;) {
            /* Thousandths of the unit, rounded half up. */
            uint64_t step = units[u].div / 1000;
            uint64_t q = ns / step + ((ns % step) * 2 >= step && step > 1 ? 1 : 0);
            uint64_t whole = q / 1000;
            unsigned frac = (unsigned)(q % 1000);
            if (whole >= 1000 && u > 0) {
                u--;    /* e.g. 999.9996ms rounds to 1000ms: say 1s instead */
                continue;
            }
            if (frac == 0) {
                len = snprintf(tmp, sizeof tmp, "%llu%s", (unsigned long long)whole,
                               units[u].name);
            } else {
                char digits[4];
                snprintf(digits, sizeof digits, "%03u", frac);
                for (int i = 2; i > 0 && digits[i] == '0'; i--)
                    digits[i] = '\0';
                len = snprintf(tmp, sizeof tmp, "%llu.%s%s", (unsigned long long)whole, digits,
                               units[u].name);
            }
            break;
        }
    }
    if (len < 0)
        len = 0;
    if (n > 0) {
        size_t c = (size_t)len < n - 1 ? (size_t)len : n - 1;
        memcpy(buf, tmp, c);
        buf[c] = '\0';
    }
    return (size_t)len;
}
