#!/usr/bin/env bash
# bench/stage/run-stage-bench.sh - benchfs-stage in against cp -a and rsync -a into a
# BenchFS mount, measured side by side in the same run (make bench runs it).
#
#   10,000 x 4 KiB files in 100 directories, and 4 x LARGE_MIB MiB files (default 256)
#   copied from a local directory into one benchfs-server (default settings) by
#     cp -a SRC MNT/x            through the FUSE mount
#     rsync -a SRC/ MNT/x/       through the FUSE mount
#     benchfs-stage in SRC MNT/x through the client library (16 workers)
# each into a fresh directory, ROUNDS times (default 3); the best round of each
# counts (on a shared machine other work only slows a run down). Prints seconds,
# files/s or MB/s, and the ratios stage/cp and stage/rsync.
# Environment: BUILD (default build), ROUNDS, LARGE_MIB, SMALL_FILES, TMPDIR.
set -u
cd "$(dirname "$0")/../.." || exit 1
BIN=$PWD/${BUILD:-build}
ROUNDS=${ROUNDS:-3} LARGE_MIB=${LARGE_MIB:-256} SMALL_FILES=${SMALL_FILES:-10000}
W=$(mktemp -d "${TMPDIR:-/tmp}/benchfs-stagebench.XXXXXX")
SERVER=
cleanup() {
    fusermount3 -u "$W/mnt" 2>/dev/null || umount -l "$W/mnt" 2>/dev/null
    [ -n "$SERVER" ] && kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
for p in cp rsync python3; do command -v "$p" >/dev/null || { echo "run-stage-bench.sh: $p is missing" >&2; exit 1; }; done

"$BIN/benchfs-server" --registry-dir "$W/reg" --data-dir "$W/data" >"$W/server.log" 2>&1 &
SERVER=$!
for _ in $(seq 200); do grep -q "Server is ready" "$W/server.log" && break; sleep 0.1; done
grep -q "Server is ready" "$W/server.log" || { cat "$W/server.log"; exit 1; }
mkdir -p "$W/mnt"
timeout 60 "$BIN/benchfs-fuse" "$W/mnt" --registry-dir "$W/reg" || exit 1

python3 - "$W/small" "$SMALL_FILES" "$W/large" "$LARGE_MIB" <<'PY'
import os, sys
small, n, large, mib = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
for d in range(100):
    os.makedirs(os.path.join(small, "d%02d" % d))
for i in range(n):
    with open(os.path.join(small, "d%02d" % (i % 100), "f%05d" % i), "wb") as f:
        f.write(os.urandom(4096))
os.makedirs(large)
block = os.urandom(1 << 20)
for k in range(4):
    with open(os.path.join(large, "big%d" % k), "wb") as f:
        for _ in range(mib):
            f.write(block)
PY
sync

now() { date +%s.%N; }
# timed SECONDS-VAR CMD...: runs CMD (which must succeed), sets the variable.
declare -A BEST
run() {   # run KEY CMD...
    local key=$1; shift
    local t0 t1 d
    t0=$(now)
    if ! "$@" >"$W/run.out" 2>&1; then
        echo "run-stage-bench.sh: $key failed:" >&2; cat "$W/run.out" >&2; FAILED=1; return
    fi
    t1=$(now)
    d=$(echo "$t1 - $t0" | bc -l)
    printf '  %-14s round %d: %.2f s\n' "$key" "$r" "$d"
    if [ -z "${BEST[$key]:-}" ] || [ "$(echo "$d < ${BEST[$key]}" | bc -l)" = 1 ]; then BEST[$key]=$d; fi
}
FAILED=0
for r in $(seq "$ROUNDS"); do
    for set in small large; do
        run "$set-cp" cp -a "$W/$set" "$W/mnt/cp-$set-$r"
        run "$set-rsync" rsync -a "$W/$set/" "$W/mnt/rsync-$set-$r/"
        run "$set-stage" "$BIN/benchfs-stage" in "$W/$set" "$W/mnt/stage-$set-$r"
        # Identical copies, or the numbers mean nothing.
        diff -r "$W/$set" "$W/mnt/stage-$set-$r" >/dev/null || { echo "stage copy of $set differs" >&2; FAILED=1; }
        rm -rf "$W/mnt/cp-$set-$r" "$W/mnt/rsync-$set-$r" "$W/mnt/stage-$set-$r"
    done
done

echo
echo "benchfs-stage in vs cp -a and rsync -a into the mount (best of $ROUNDS rounds):"
small_bytes=$((SMALL_FILES * 4096)) large_bytes=$((4 * LARGE_MIB * 1048576))
for set in small large; do
    for m in cp rsync stage; do
        t=${BEST[$set-$m]:-}
        [ -n "$t" ] || continue
        if [ "$set" = small ]; then
            printf '  %-6s %-6s %8.2f s  %9.0f files/s\n' "$set" "$m" "$t" "$(echo "$SMALL_FILES / $t" | bc -l)"
        else
            printf '  %-6s %-6s %8.2f s  %9.1f MB/s\n' "$set" "$m" "$t" "$(echo "$large_bytes / $t / 1000000" | bc -l)"
        fi
    done
    if [ -n "${BEST[$set-stage]:-}" ] && [ -n "${BEST[$set-cp]:-}" ] && [ -n "${BEST[$set-rsync]:-}" ]; then
        printf '  %-6s ratio stage/cp %.2fx, stage/rsync %.2fx (higher is faster)\n' "$set" \
            "$(echo "${BEST[$set-cp]} / ${BEST[$set-stage]}" | bc -l)" \
            "$(echo "${BEST[$set-rsync]} / ${BEST[$set-stage]}" | bc -l)"
    fi
done
echo "  (small: $SMALL_FILES x 4 KiB = $((small_bytes / 1048576)) MiB; large: 4 x $LARGE_MIB MiB)"
exit "$FAILED"
