/* test_stats.c - latency recorder, summary and duration formatting (common/stats.c). */
#include "../test.h"
#include "../../common/stats.h"

#include <stdlib.h>

static void test_percentiles_1_to_100(void)
{
    struct lat_stats s;
    REQUIRE(lat_init(&s, 0) == 0);
    /* Added out of order: the summary must sort. */
    for (uint64_t i = 100; i >= 1; i--)
        REQUIRE(lat_add(&s, i) == 0);
    struct lat_summary sum;
    REQUIRE(lat_summarize(&s, &sum) == 0);
    CHECK_EQ(sum.count, 100);
    CHECK_EQ(sum.p50, 50);
    CHECK_EQ(sum.p99, 99);
    CHECK_EQ(sum.min, 1);
    CHECK_EQ(sum.max, 100);
    CHECK_EQ(sum.total_ns, 5050);
    CHECK_EQ(sum.avg, 50);     /* 50.5 rounded down */
    /* The recorder itself is untouched (a copy was sorted). */
    CHECK_EQ(s.ns[0], 100);
    CHECK_EQ(s.ns[99], 1);
    lat_free(&s);
}

static void test_nearest_rank(void)
{
    /* Nearest rank is ceil(p * n / 100): for 10 samples p50 is the 5th, p99 the 10th. */
    uint64_t ten[10] = { 10, 20, 30, 40, 50, 60, 70, 80, 90, 100 };
    CHECK_EQ(lat_percentile_sorted(ten, 10, 50), 50);
    CHECK_EQ(lat_percentile_sorted(ten, 10, 99), 100);
    CHECK_EQ(lat_percentile_sorted(ten, 10, 100), 100);
    CHECK_EQ(lat_percentile_sorted(ten, 10, 1), 10);
    uint64_t three[3] = { 1, 2, 3 };
    CHECK_EQ(lat_percentile_sorted(three, 3, 50), 2);   /* ceil(1.5) = 2 */
    CHECK_EQ(lat_percentile_sorted(three, 3, 99), 3);
    CHECK_EQ(lat_percentile_sorted(NULL, 0, 50), 0);

    /* 1000 samples: p99 is rank 990. */
    uint64_t *big = malloc(1000 * sizeof *big);
    REQUIRE(big);
    for (int i = 0; i < 1000; i++)
        big[i] = (uint64_t)i + 1;
    CHECK_EQ(lat_percentile_sorted(big, 1000, 99), 990);
    CHECK_EQ(lat_percentile_sorted(big, 1000, 50), 500);
    /* 101 samples: ceil(50.5) = 51, ceil(99.99) = 100. */
    CHECK_EQ(lat_percentile_sorted(big, 101, 50), 51);
    CHECK_EQ(lat_percentile_sorted(big, 101, 99), 100);
    free(big);
}

static void test_single_sample(void)
{
    struct lat_stats s;
    REQUIRE(lat_init(&s, 1) == 0);
    REQUIRE(lat_add(&s, 777) == 0);
    struct lat_summary sum;
    REQUIRE(lat_summarize(&s, &sum) == 0);
    CHECK_EQ(sum.count, 1);
    CHECK_EQ(sum.min, 777);
    CHECK_EQ(sum.max, 777);
    CHECK_EQ(sum.avg, 777);
    CHECK_EQ(sum.p50, 777);
    CHECK_EQ(sum.p99, 777);
    CHECK_EQ(sum.total_ns, 777);
    lat_free(&s);
}

static void test_empty(void)
{
    struct lat_stats s;
    REQUIRE(lat_init(&s, 0) == 0);
    struct lat_summary sum;
    memset(&sum, 0xff, sizeof sum);
    REQUIRE(lat_summarize(&s, &sum) == 0);
    CHECK_EQ(sum.count, 0);
    CHECK_EQ(sum.total_ns, 0);
    CHECK_EQ(sum.min, 0);
    CHECK_EQ(sum.max, 0);
    CHECK_EQ(sum.avg, 0);
    CHECK_EQ(sum.p50, 0);
    CHECK_EQ(sum.p99, 0);
    lat_free(&s);
    lat_free(&s);   /* freeing twice is harmless */
}

static void test_growth_and_merge(void)
{
    struct lat_stats a, b;
    REQUIRE(lat_init(&a, 2) == 0);
    REQUIRE(lat_init(&b, 0) == 0);
    /* Far past the initial capacity, so the array must grow. */
    for (uint64_t i = 0; i < 1000; i++)
        REQUIRE(lat_add(&a, 1000 + i) == 0);
    for (uint64_t i = 0; i < 10; i++)
        REQUIRE(lat_add(&b, 5 + i) == 0);
    REQUIRE(lat_merge(&a, &b) == 0);
    CHECK_EQ(a.count, 1010);
    CHECK_EQ(b.count, 10);          /* source unchanged */
    CHECK_EQ(a.ns[999], 1999);      /* order kept: a's samples, then b's */
    CHECK_EQ(a.ns[1000], 5);
    CHECK_EQ(a.ns[1009], 14);

    struct lat_summary sum;
    REQUIRE(lat_summarize(&a, &sum) == 0);
    CHECK_EQ(sum.count, 1010);
    CHECK_EQ(sum.min, 5);
    CHECK_EQ(sum.max, 1999);
    uint64_t total = 0;
    for (uint64_t i = 0; i < 1000; i++)
        total += 1000 + i;
    for (uint64_t i = 0; i < 10; i++)
        total += 5 + i;
    CHECK_EQ(sum.total_ns, total);
    CHECK_EQ(sum.avg, total / 1010);

    /* Merging an empty recorder, or into an empty one. */
    struct lat_stats e;
    REQUIRE(lat_init(&e, 0) == 0);
    REQUIRE(lat_merge(&a, &e) == 0);
    CHECK_EQ(a.count, 1010);
    REQUIRE(lat_merge(&e, &b) == 0);
    CHECK_EQ(e.count, 10);
    CHECK_EQ(e.ns[0], 5);
    lat_free(&e);
    lat_free(&a);
    lat_free(&b);
}

#define FMT_IS(ns, want) do { char _b[FMT_DURATION_MAX]; \
    size_t _n = fmt_duration((ns), _b, sizeof _b); \
    if (strcmp(_b, (want)) != 0 || _n != strlen(want)) { \
        fprintf(stderr, "  %s:%d: fmt_duration(%llu) = \"%s\" (%zu), want \"%s\"\n", __FILE__, \
                __LINE__, (unsigned long long)(ns), _b, _n, (want)); test_failed_checks++; } \
    } while (0)

static void test_fmt_duration(void)
{
    FMT_IS(0, "0ns");
    FMT_IS(1, "1ns");
    FMT_IS(999, "999ns");
    FMT_IS(1000, "1\xc2\xb5s");
    FMT_IS(1500, "1.5\xc2\xb5s");
    FMT_IS(12500, "12.5\xc2\xb5s");
    FMT_IS(999999, "999.999\xc2\xb5s");
    FMT_IS(1000000, "1ms");
    FMT_IS(5001000, "5.001ms");
    FMT_IS(2100000, "2.1ms");
    FMT_IS(15020000, "15.02ms");
    FMT_IS(500000000, "500ms");
    FMT_IS(500123000, "500.123ms");
    FMT_IS(1000000000, "1s");
    FMT_IS(1200000000, "1.2s");
    FMT_IS(3600000000000ull, "3600s");
    /* Rounding to 3 decimals, half up. */
    FMT_IS(5001499, "5.001ms");
    FMT_IS(5001500, "5.002ms");
    FMT_IS(1234567, "1.235ms");
    FMT_IS(1000400, "1ms");
    FMT_IS(1999500, "2ms");
    FMT_IS(1234567891, "1.235s");
    /* Rounding up into the next unit. */
    FMT_IS(999999499, "999.999ms");
    FMT_IS(999999500, "1s");
    FMT_IS(UINT64_MAX, "18446744073.71s");
}

static void test_fmt_duration_truncates(void)
{
    char b[4];
    memset(b, 'x', sizeof b);
    CHECK_EQ(fmt_duration(5001000, b, sizeof b), strlen("5.001ms"));
    CHECK(strcmp(b, "5.0") == 0);
    char one = 'x';
    CHECK_EQ(fmt_duration(5, &one, 1), 3);
    CHECK_EQ(one, '\0');
    CHECK_EQ(fmt_duration(5, NULL, 0), 3);
}

int main(void)
{
    RUN(test_percentiles_1_to_100);
    RUN(test_nearest_rank);
    RUN(test_single_sample);
    RUN(test_empty);
    RUN(test_growth_and_merge);
    RUN(test_fmt_duration);
    RUN(test_fmt_duration_truncates);
    return test_summary();
}
