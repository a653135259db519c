#!/usr/bin/env bash
# tests/run.sh - runs the test suites and prints the totals as the last line:
#   "N passed, N failed, N skipped"
#   tests/run.sh            unit + system tests of build/ (BUILD=... for another build)
#   tests/run.sh --san      ... and again with the ASan+UBSan build in build/san
#   tests/run.sh --fuzz     ... and the fuzz targets (decoder, handlers) for FUZZ_SECONDS (default 120) in all
#   tests/run.sh --stress   ... and the longer tests in tests/stress/
# The real-tools test, and with --stress fsx and the load, also run on three
# servers (NODES=3) in the first build; the preload library's test on three,
# the FUSE and real-tools tests under it on one and three, and fsx under it
# (preload_suite; PRELOAD_ALL=0 leaves out the FUSE and real-tools runs).
# Unit tests are the binaries BUILD/tests/unit/*; system tests the scripts
# tests/system/*.sh. A test program prints "PASS: name", "FAIL: name" or
# "SKIP: name" lines; one that exits non-zero or times out without printing a
# FAIL line counts as one failure.
set -u
cd "$(dirname "$0")/.."
TEST_TIMEOUT=${TEST_TIMEOUT:-900}
san=0 fuzz=0 stress=0
for arg in "$@"; do
    case $arg in
    --san) san=1 ;;
    --fuzz) fuzz=1 ;;
    --stress) stress=1 ;;
    *) echo "usage: $0 [--san] [--fuzz] [--stress]" >&2; exit 2 ;;
    esac
done

passed=0 failed=0 skipped=0
failures=()

run_one() {
    local name=$1; shift
    local out rc p f s
    out=$(mktemp)
    echo "=== $name"
    timeout --kill-after=10 "$TEST_TIMEOUT" "$@" >"$out" 2>&1 </dev/null
    rc=$?
    cat "$out"
    p=$(grep -c '^PASS: ' "$out"); f=$(grep -c '^FAIL: ' "$out"); s=$(grep -c '^SKIP: ' "$out")
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        if [ "$rc" -eq 124 ]; then echo "FAIL: $name (timed out after ${TEST_TIMEOUT}s)"
        else echo "FAIL: $name (exit $rc)"; fi
        f=1
    fi
    passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
    [ "$f" -gt 0 ] && failures+=("$name")
    rm -f "$out"
}

suite() {   # suite BUILD LABEL
    local build=$1 label=$2 t
    for t in "$build"/tests/unit/*; do
        [ -x "$t" ] && run_one "$label unit/$(basename "$t")" "$t"
    done
    for t in tests/system/*.sh; do
        [ -f "$t" ] && run_one "$label system/$(basename "$t" .sh)" env BUILD="$build" bash "$t"
    done
    if [ "$stress" = 1 ]; then
        for t in tests/stress/*.sh; do
            [ -f "$t" ] && run_one "$label stress/$(basename "$t" .sh)" env BUILD="$build" bash "$t"
        done
    fi
}

# The suites written for one server that run unchanged on a cluster (lib.sh's
# start_server honours NODES): again on three servers, in the first build only.
# (tests/system/ns.sh runs the RPC, FUSE, fsx and load programs on three itself.)
cluster_suite() {   # cluster_suite BUILD LABEL
    local build=$1 label=$2
    run_one "$label system/tools" env BUILD="$build" NODES=3 bash tests/system/tools.sh
    if [ "$stress" = 1 ]; then
        run_one "$label stress/fsx" env BUILD="$build" NODES=3 bash tests/stress/fsx.sh
        run_one "$label stress/load" env BUILD="$build" NODES=3 LOAD_SECONDS=30 bash tests/stress/load.sh
    fi
}

# The preload library's own test on 3 servers (tests/system/preload.sh runs on
# 1 in suite), the FUSE tests and the real-tools test with every program they
# run under libbenchfs-preload.so (lib.sh: TEST_PRELOAD; servers and mount
# daemons without it) on 1 and 3 servers, and with --stress fsx under it.
# First build only: an ASan .so cannot be preloaded into programs without the
# ASan runtime. One after another, not beside other suites: on 2 cores the
# timing checks (stall, dead server, waits) need the machine to themselves.
# PRELOAD_ALL=0 leaves out the FUSE and real-tools runs (about 10 minutes).
preload_suite() {   # preload_suite BUILD LABEL
    local build=$1 label=$2 pl nodes
    pl=$(pwd)/$build/libbenchfs-preload.so
    if [ "${PRELOAD_ALL:-1}" = 1 ]; then
        for nodes in 1 3; do
            # (byte-wise test_fuse reads are one RPC each here: a longer limit)
            TEST_TIMEOUT=$((TEST_TIMEOUT * 2)) run_one "$label system/fuse, $nodes server(s)" env BUILD="$build" NODES=$nodes TEST_PRELOAD="$pl" bash tests/system/fuse.sh
            run_one "$label system/tools, $nodes server(s)" env BUILD="$build" NODES=$nodes TEST_PRELOAD="$pl" bash tests/system/tools.sh
        done
    fi
    run_one "$label system/preload, 3 servers" env BUILD="$build" NODES=3 bash tests/system/preload.sh
    if [ "$stress" = 1 ]; then
        run_one "$label stress/fsx" env BUILD="$build" TEST_PRELOAD="$pl" bash tests/stress/fsx.sh
    fi
}

suite "${BUILD:-build}" "[${BUILD:-build}]"
cluster_suite "${BUILD:-build}" "[${BUILD:-build}, 3 servers]"
preload_suite "${BUILD:-build}" "[${BUILD:-build}, preload]"
[ "$san" = 1 ] && suite build/san "[asan+ubsan]"
if [ "$fuzz" = 1 ]; then
    run_one "fuzz (fuzz_proto, fuzz_handlers)" bash tests/fuzz/run.sh "${FUZZ_SECONDS:-120}"
fi

echo
[ "${#failures[@]}" -gt 0 ] && echo "failed: ${failures[*]}"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
