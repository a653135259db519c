#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS - runs the protocol fuzz target for a bounded time
# over a copy of the kept corpus (tests/fuzz/corpus); a crash is a failure and
# its input is printed so it can be added to the corpus.
set -u
cd "$(dirname "$0")/../.."
secs=${1:-60}
make -s fuzz || { echo "FAIL: fuzz target builds"; exit 1; }
work=$(mktemp -d /tmp/benchfs-fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
cp -r tests/fuzz/corpus "$work/corpus"
if build/fuzz/fuzz_proto -max_total_time="$secs" -artifact_prefix="$work/" "$work/corpus" >"$work/log" 2>&1; then
    tail -n 1 "$work/log"
    echo "PASS: fuzz_proto ran ${secs}s without a crash ($(grep -o 'Done [0-9]* runs' "$work/log"))"
else
    tail -n 40 "$work/log"
    for a in "$work"/crash-* "$work"/leak-* "$work"/timeout-*; do [ -f "$a" ] && od -A x -t x1z "$a" | head -20; done
    echo "FAIL: fuzz_proto found a crash"
    exit 1
fi
