#!/usr/bin/env bash
# tests/run.sh - runs every test and prints the totals as the last line:
#   "N passed, N failed, N skipped"
# Unit tests are the binaries build/tests/unit/*; system tests are the scripts
# tests/system/*.sh (fast) and, with --stress, tests/stress/*.sh too. A test
# program prints "PASS: name", "FAIL: name" or "SKIP: name" lines; one that
# exits non-zero or times out without printing a FAIL counts as one failure.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
TEST_TIMEOUT=${TEST_TIMEOUT:-600}
stress=0
[ "${1:-}" = "--stress" ] && stress=1

passed=0 failed=0 skipped=0
failures=()

run_one() {
    local name=$1; shift
    local out rc
    out=$(mktemp)
    echo "=== $name"
    timeout --kill-after=10 "$TEST_TIMEOUT" "$@" >"$out" 2>&1
    rc=$?
    cat "$out"
    local p f s
    p=$(grep -c '^PASS: ' "$out"); f=$(grep -c '^FAIL: ' "$out"); s=$(grep -c '^SKIP: ' "$out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        [ "$rc" -eq 124 ] && echo "FAIL: $name (timed out after ${TEST_TIMEOUT}s)" || echo "FAIL: $name (exit $rc)"
        f=1
    fi
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    [ "$f" -gt 0 ] && failures+=("$name")
    rm -f "$out"
}

for t in "$BUILD"/tests/unit/*; do
    [ -x "$t" ] && run_one "unit/$(basename "$t")" "$t"
done
for t in tests/system/*.sh; do
    [ -f "$t" ] && run_one "system/$(basename "$t" .sh)" bash "$t"
done
if [ "$stress" = 1 ]; then
    for t in tests/stress/*.sh; do
        [ -f "$t" ] && run_one "stress/$(basename "$t" .sh)" bash "$t"
    done
fi

echo
[ "${#failures[@]}" -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
