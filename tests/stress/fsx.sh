#!/usr/bin/env bash
# fsx (tests/system/fsx.c) on real BenchFS mounts: random writes (also past
# EOF), reads (also across EOF), truncates, fsyncs, close + reopen, mmap reads
# and writes, copy_file_range and recreates of one file, every read checked
# byte for byte against an in-memory model and st_size after every op.
#   - first on a local directory: a check of fsx itself
#   - a server with --chunk-size 64K, so that writes cross many chunk
#     boundaries (and files cross the 16 KiB inline-data threshold often)
#   - a default mount: three seeds, then two fsx at once on two files
#   - a -o writeback_cache mount: one seed
#   - a -o direct_io mount (no shared mmap there: fsx says so and does plain
#     reads and writes instead): a short run
#   - the server logged no errors and stops cleanly
# Seeds count up from FSX_SEED (default: from the clock), printed first; a
# FAIL line names its seed, and the `reproduce:` line above it the fsx flags.
# FSX_OPS is the ops per run (default 10000; 1/3 of that in sanitizer builds).
# Each run also has a time budget (fsx -t; about 2 minutes in all): on a
# loaded machine it stops early, still checks the whole file, and its PASS
# line says how many ops it did. ~80 s on an idle slow 2-core machine; each
# run is killed (a FAIL) if it is still going 60 s after its budget.
source "$(dirname "$0")/../system/lib.sh"

FSX=$BIN/tests/system/fsx
REG=$T/reg DATA=$T/data
SLOW=1
case $BUILD in *san*) SLOW=3 ;; esac
OPS=${FSX_OPS:-$((10000 / SLOW))}
SEED=${FSX_SEED:-$(($(date +%s) % 1000000 * 10))}
# 1 MiB files, writes up to 128 KiB: 16 chunks of 64 KiB, two FUSE writes
# per big op, and the file shrinks below 16 KiB often (see fsx.c).
SIZES=(-l 1M -o 128K)
TOTAL_OPS=0
FSX_PIDS=()
# An fsx still running when the script is stopped goes before the mounts
# (TERM to its `timeout`, which passes it on).
trap 'for p in "${FSX_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done; cleanup' EXIT
echo "# fsx: $OPS ops per run, seeds from $SEED (FSX_SEED=$SEED FSX_OPS=$OPS bash $0 repeats them)"

# start_fsx LABEL FILE SEED SECS [fsx flags...]: one run in the background
# with a time budget of SECS, its output in $T/fsx.SEED; sets FSX_PID.
start_fsx() {
    local label=$1 file=$2 seed=$3 secs=$4; shift 4
    echo "# fsx $label: $FSX -N $OPS -S $seed ${SIZES[*]} -t $secs $* $file"
    timeout -k 5 $((secs + 60)) "$FSX" -N "$OPS" -S "$seed" "${SIZES[@]}" -t "$secs" "$@" \
        -L "$label" "$file" >"$T/fsx.$seed" 2>&1 &
    FSX_PID=$!
    FSX_PIDS+=("$FSX_PID")
}

# end_fsx PID LABEL SEED: waits for the run (bounded by its timeout), shows
# its output (its own PASS or FAIL line), and fails a run that crashed or
# timed out without one.
end_fsx() {
    local pid=$1 label=$2 seed=$3 rc
    wait "$pid"; rc=$?
    cat "$T/fsx.$seed"
    if [ "$rc" -eq 0 ]; then
        grep -q "^PASS: fsx $label " "$T/fsx.$seed" ||
            fail "fsx $label seed $seed: exit 0 without a PASS line"
    elif [ "$rc" -ne 1 ] || ! grep -q "^FAIL: " "$T/fsx.$seed"; then
        if [ "$rc" -ge 124 ]; then
            fail "fsx $label seed $seed: hung (killed 60 s after its budget) or died of a signal (exit $rc)"
        else
            fail "fsx $label seed $seed: exit $rc without a FAIL line"
        fi
    fi
    # counted here as well so that finish sees fsx's own FAIL lines
    grep -q "^FAIL: " "$T/fsx.$seed" && t_fail=$((t_fail + 1))
    grep -q "^PASS: " "$T/fsx.$seed" && t_pass=$((t_pass + 1))
    local n
    n=$(sed -n 's/^PASS: .* \([0-9]*\) ops seed .*/\1/p' "$T/fsx.$seed")
    TOTAL_OPS=$((TOTAL_OPS + ${n:-0}))
}

# run_fsx LABEL FILE SECS [fsx flags...]: one run with the next seed, in front.
run_fsx() {
    local label=$1 file=$2 secs=$3 seed=$SEED; shift 3
    SEED=$((SEED + 1))
    local start=$SECONDS
    start_fsx "$label" "$file" "$seed" "$secs" "$@"
    end_fsx "$FSX_PID" "$label" "$seed"
    echo "# fsx $label: $((SECONDS - start))s"
}

# fsx itself, on a local file system: a FAIL here is fsx's bug (or the
# kernel's), not BenchFS's.
mkdir -p "$T/local"
run_fsx local "$T/local/f" 10

start_server "$REG" "$DATA" --chunk-size 64K || { fail "server starts"; finish; }
MNT=$T/mnt
mount_fs "$REG" "$MNT" || { fail "mount"; finish; }
for i in 1 2 3; do
    run_fsx "mount #$i" "$MNT/f$i" 20
done

# Two at once: one FUSE daemon and one server interleave the requests of two
# files (their chunks, inline data and migrations).
start=$SECONDS
s1=$SEED s2=$((SEED + 1))
SEED=$((SEED + 2))
start_fsx "mount concurrent A" "$MNT/ca" "$s1" 25; p1=$FSX_PID
start_fsx "mount concurrent B" "$MNT/cb" "$s2" 25; p2=$FSX_PID
end_fsx "$p1" "mount concurrent A" "$s1"
end_fsx "$p2" "mount concurrent B" "$s2"
echo "# fsx concurrent: $((SECONDS - start))s"

WB=$T/wb
if mount_fs "$REG" "$WB" -o writeback_cache; then
    run_fsx writeback_cache "$WB/f" 20
else
    fail "mount -o writeback_cache"
fi

DIO=$T/dio
if mount_fs "$REG" "$DIO" -o direct_io; then
    OPS=$((OPS / 3)) run_fsx direct_io "$DIO/f" 8
    grep -q "mmap not supported here" "$T/fsx.$((SEED - 1))" &&
        echo "# direct_io: no shared mmap on this kernel; fsx did plain reads and writes instead"
else
    fail "mount -o direct_io"
fi

daemons=$(pgrep -f -- "$BIN/benchfs-fuse $T/")
for m in "$MNT" "$WB" "$DIO"; do
    grep -qF " $m " /proc/mounts && timeout 20 fusermount3 -u "$m"
done
check "all fsx mounts unmounted" eval "! grep -qF ' $T/' /proc/mounts"
for p in $daemons; do wait_for 10 eval "! kill -0 $p"; done
check "no benchfs-fuse daemon left" test -z "$(pgrep -f -- "$BIN/benchfs-fuse $T/")"
errors=$(grep -c "\] ERROR: " "$DATA.log")
[ "$errors" -eq 0 ] || grep "\] ERROR: " "$DATA.log" | head -n 20
check "the server logged no errors ($errors)" test "$errors" -eq 0
stop_server "$SERVER_PID" TERM; wait "$SERVER_PID"; rc=$?
[ "$rc" -eq 0 ] || tail -n 20 "$DATA.log"
check "the server stops cleanly after fsx (exit 0)" test "$rc" -eq 0
echo "# fsx: $TOTAL_OPS ops checked in all, ${SECONDS}s"
finish
