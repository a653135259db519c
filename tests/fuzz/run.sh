#!/usr/bin/env bash
# tests/fuzz/run.sh SECONDS - runs the fuzz targets for a bounded time, half of
# it each, over copies of their kept corpora:
#   fuzz_proto     the protocol decoder   (tests/fuzz/corpus)
#   fuzz_handlers  the request handlers   (tests/fuzz/corpus-handlers)
# A crash is a failure and its input is printed so it can be added to the corpus.
# One PASS/FAIL line per target; exits 1 if any failed.
set -u
cd "$(dirname "$0")/../.."
secs=${1:-60}
make -s fuzz || { echo "FAIL: fuzz targets build"; exit 1; }
work=$(mktemp -d /tmp/benchfs-fuzz.XXXXXX)
# fuzz_handlers keeps its data directory on tmpfs when there is one (it syncs often).
shm=$(mktemp -d /dev/shm/benchfs-fuzz.XXXXXX 2>/dev/null || mktemp -d "$work/data.XXXXXX")
trap 'rm -rf "$work" "$shm"' EXIT
status=0

# run NAME CORPUS SECONDS [libFuzzer options...]
run() {
    local name=$1 corpus=$2 t=$3 dir="$work/$1"
    shift 3
    mkdir -p "$dir"
    cp -r "$corpus" "$dir/corpus"
    if FUZZ_HANDLERS_TMP="$shm" build/fuzz/"$name" -max_total_time="$t" -artifact_prefix="$dir/" \
        "$@" "$dir/corpus" >"$dir/log" 2>&1; then
        tail -n 1 "$dir/log"
        echo "PASS: $name ran ${t}s without a crash ($(grep -o 'Done [0-9]* runs' "$dir/log"))"
    else
        tail -n 40 "$dir/log"
        for a in "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-*; do [ -f "$a" ] && od -A x -t x1z "$a" | head -20; done
        echo "FAIL: $name found a crash"
        status=1
    fi
}

half=$((secs / 2 > 0 ? secs / 2 : 1))
rest=$((secs - half > 0 ? secs - half : 1))
run fuzz_proto tests/fuzz/corpus "$half"
# -timeout: a request the handlers never answer fails after 10 s by itself.
run fuzz_handlers tests/fuzz/corpus-handlers "$rest" -timeout=30
exit $status
