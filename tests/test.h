/* test.h - the tiny harness every C test uses.
 *
 *   static void test_roundtrip(void) { CHECK(x == 1); CHECK_EQ(a, b); }
 *   int main(void) { RUN(test_roundtrip); return test_summary(); }
 *
 * Each RUN prints "PASS: name" or "FAIL: name" (after the failed checks with
 * file:line); tests/run.sh counts those lines. A check that fails does not stop
 * the test; a test returns early only where it cannot go on (use REQUIRE).
 */
#ifndef BENCHFS_TEST_H
#define BENCHFS_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int test_failed_checks;   /* in the current test */
static int test_passed, test_failed;

#define CHECK(cond) do { if (!(cond)) { \
    fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    test_failed_checks++; } } while (0)
#define CHECK_EQ(a, b) do { long long _a = (long long)(a), _b = (long long)(b); if (_a != _b) { \
    fprintf(stderr, "  %s:%d: check failed: %s == %s (%lld != %lld)\n", __FILE__, __LINE__, \
            #a, #b, _a, _b); test_failed_checks++; } } while (0)
/* Like CHECK, but returns from the test function when it fails. */
#define REQUIRE(cond) do { if (!(cond)) { \
    fprintf(stderr, "  %s:%d: required: %s\n", __FILE__, __LINE__, #cond); \
    test_failed_checks++; return; } } while (0)

#define RUN(fn) do { test_failed_checks = 0; fn(); \
    if (test_failed_checks) { test_failed++; printf("FAIL: %s\n", #fn); } \
    else { test_passed++; printf("PASS: %s\n", #fn); } fflush(stdout); } while (0)

static inline int test_summary(void)
{
    return test_failed ? 1 : 0;
}

#endif
