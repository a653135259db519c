#!/usr/bin/env bash
# Load: 16 threads of mixed create/write/read/append/truncate/rename/unlink for
# LOAD_SECONDS (60) on one mount, then 4 mounts (4 clients) at once, each
# checking every byte it reads; each client's files are then re-checked through
# another client's mount. Memory of the server and of the FUSE client must stay
# flat while the load runs: anonymous RSS may not grow by more than LEAK_SLACK_KB
# between a sample taken after warm-up and one at the end (the sanitizer build
# checks leaks with LeakSanitizer instead: its quarantine makes RSS meaningless).
source "$(dirname "$0")/../system/lib.sh"

SECS=${LOAD_SECONDS:-60}
SLACK=${LEAK_SLACK_KB:-16384}
LOAD=$BIN/tests/system/mixload
REG=$T/reg
sanitized=0
ldd "$BIN/benchfs-server" | grep -q libasan && sanitized=1

rss_anon() { awk '/^RssAnon:/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
fuse_pid() { pgrep -f "benchfs-fuse $1 " | head -n 1; }

# check_flat NAME PID BEFORE_KB: PID's anonymous RSS now is within SLACK of BEFORE_KB.
check_flat() {
    local name=$1 pid=$2 before=$3 after
    after=$(rss_anon "$pid")
    if [ "$sanitized" = 1 ]; then
        echo "$name RssAnon ${before} -> ${after} kB (not checked under ASan; LeakSanitizer checks leaks)"
        return
    fi
    check "$name memory stable under load (RssAnon ${before} -> ${after} kB, slack ${SLACK} kB)" \
        test "$after" -le $((before + SLACK))
}

start_server "$REG" "$T/data" --chunk-size 64K || { fail "server starts"; finish; }
SRV=$SERVER_PID
for i in 1 2 3 4; do
    mount_fs "$REG" "$T/m$i" || { fail "mount $i"; finish; }
done
F1=$(fuse_pid "$T/m1")
check "the FUSE daemon is found" test -n "$F1"

# Phase 1: 16 threads on one mount. Memory is sampled once the load has warmed
# up (LMDB pages, fd cache, buffers and thread stacks are at their working size).
"$LOAD" run "$T/m1" 16 "$SECS" "$T/manifest1" >"$T/load1.out" 2>&1 &
load=$!
sleep $((SECS / 3))
s_before=$(rss_anon "$SRV") f_before=$(rss_anon "$F1")
wait_for $((SECS + 120)) bash -c "! kill -0 $load"
kill -KILL "$load" 2>/dev/null
wait "$load"; rc=$?
cat "$T/load1.out"
check "16 threads x ${SECS} s of mixed load with every byte checked" test "$rc" -eq 0
check_flat "server (16 threads)" "$SRV" "$s_before"
check_flat "FUSE client (16 threads)" "$F1" "$f_before"

# Phase 2: four clients at once, 4 threads each, in directories of their own.
s_before=$(rss_anon "$SRV")
pids=()
for i in 1 2 3 4; do
    mkdir -p "$T/m$i/c$i"
    "$LOAD" run "$T/m$i/c$i" 4 $((SECS / 2)) "$T/manifest-c$i" >"$T/load-c$i.out" 2>&1 &
    pids+=($!)
done
for i in 1 2 3 4; do
    p=${pids[$((i - 1))]}
    wait_for $((SECS + 120)) bash -c "! kill -0 $p"
    kill -KILL "$p" 2>/dev/null
    wait "$p"; rc=$?
    cat "$T/load-c$i.out"
    check "client $i of 4 concurrent clients: mixed load with every byte checked" test "$rc" -eq 0
done
check_flat "server (4 clients)" "$SRV" "$s_before"

# Another client sees each client's files, byte for byte (close-to-open).
for i in 1 2 3 4; do
    j=$((i % 4 + 1))
    sed "s|^$T/m$i/|$T/m$j/|" "$T/manifest-c$i" >"$T/manifest-c$i-via-$j"
    timeout 120 "$LOAD" check "$T/manifest-c$i-via-$j" >"$T/check.out" 2>&1; rc=$?
    cat "$T/check.out"
    check "client $i's files read back through mount $j" test "$rc" -eq 0
done
sed "s|^$T/m1/|$T/m2/|" "$T/manifest1" >"$T/manifest1-via-2"
timeout 120 "$LOAD" check "$T/manifest1-via-2" >"$T/check.out" 2>&1; rc=$?
cat "$T/check.out"
check "the 16-thread run's files read back through another mount" test "$rc" -eq 0

for i in 1 2 3 4; do
    check "mount $i unmounts" umount_fs "$T/m$i"
done
check "the server stops cleanly after the load" stop_server "$SRV" TERM
finish
