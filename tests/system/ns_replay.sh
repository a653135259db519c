#!/usr/bin/env bash
# Replay of interrupted multi-server operations, at each point that matters: a
# cluster of three whose servers kill themselves (as kill -9 would) at one point
# of one kind of operation (BENCHFS_CRASH_POINT, see server_int.h); the
# operation on the mount fails after the RPC timeout; the dead server is started
# again and replays its intents; then benchfs-fsck is clean and the namespace is
# the one the commit point says: the old state before it, the new one after.
# Last, the parents' times a server owes others, after a kill -9 (dirtimes).
source "$(dirname "$0")/lib.sh"

REG=$T/reg DATA=$T/data
SLOW=1
case $BUILD in *san*) SLOW=3 ;; esac
tmo() { local s=$1; shift; timeout -k 5 $((s * SLOW)) "$@"; }
M=$T/m V=$T/v   # V: a mount without caches, to look
CLUSTER_PIDS=()
fsck_clean() { tmo 60 "$BIN/benchfs-fsck" --registry-dir "$REG" >"$T/fsck.out" 2>&1; }
nlink() { stat -c %h "$1"; }

# crash POINT SETUP OP: a fresh cluster with the crash point, SETUP and OP run
# in the mount; OP's server dies; it is restarted without the point.
crash() {
    local point=$1 setup=$2 op=$3 k dead=
    for m in "$M" "$V"; do mountpoint -q "$m" && umount_fs "$m"; done
    for p in "${CLUSTER_PIDS[@]}"; do stop_server "$p" KILL; done
    rm -rf "$REG" "$DATA" "$DATA".*
    BENCHFS_CRASH_POINT=$point start_cluster "$REG" "$DATA" 3 || return 1
    mount_fs "$REG" "$M" --rpc-timeout 3 || return 1
    mount_fs "$REG" "$V" --rpc-timeout 10 -o entry_timeout=0,attr_timeout=0,negative_timeout=0 || return 1
    (cd "$M" && tmo 30 bash -c "$setup") || { echo "setup of $point failed"; return 1; }
    (cd "$M" && tmo 60 bash -c "$op") >/dev/null 2>&1
    for k in 0 1 2; do
        kill -0 "${CLUSTER_PIDS[$k]}" 2>/dev/null || dead=$k
    done
    [ -n "$dead" ] || { echo "no server reached crash point $point"; return 1; }
    wait "${CLUSTER_PIDS[$dead]}" 2>/dev/null
    local d=$DATA; [ "$dead" -gt 0 ] && d=$DATA.$dead
    start_one "$REG" "$d" --nodes 3 --node-id "$dead" || return 1
    CLUSTER_PIDS[$dead]=$SERVER_PID
    CRASHED=$dead
    wait_for $((30 * SLOW)) fsck_clean || { cat "$T/fsck.out"; return 1; }
}

# expect NAME CMD...: run in the view mount
expect() { local n=$1; shift; check "$n" bash -c "cd '$V' && $*"; }

ren_setup='mkdir -p A B A/src B/dst && echo x > A/src/marker'
ren_op='python3 -c "import os; os.rename(\"A/src\", \"B/dst\")"'

if crash rename-fenced "$ren_setup" "$ren_op"; then
    pass "rename-fenced: server $CRASHED died with a directory target fenced; fsck clean after the replay"
    expect "rename-fenced: rolled back: the source is whole" test -f A/src/marker
    expect "rename-fenced: ... the target is still there, empty" '[ -d B/dst ] && [ -z "$(ls -A B/dst)" ]'
    expect "rename-fenced: ... and takes entries again (fence lifted)" touch B/dst/new
    expect "rename-fenced: ... parents counted" '[ $(stat -c %h A) = 3 ] && [ $(stat -c %h B) = 3 ]'
else fail "rename-fenced: crash and recovery"; fi

if crash rename-installed "$ren_setup" "$ren_op"; then
    pass "rename-installed: server $CRASHED died after the commit point; fsck clean after the replay"
    expect "rename-installed: finished: the directory is at its new name" test -f B/dst/marker
    expect "rename-installed: ... the old name is gone" test ! -e A/src
    expect "rename-installed: ... parents counted" '[ $(stat -c %h A) = 2 ] && [ $(stat -c %h B) = 3 ]'
    expect "rename-installed: ... its .. is the new parent" '[ $(stat -c %i B/dst/..) = $(stat -c %i B) ]'
else fail "rename-installed: crash and recovery"; fi

for point in rmdir-fenced rmdir-removed; do
    if crash "$point" 'mkdir -p A/d && touch A/keep' 'rmdir A/d'; then
        pass "$point: server $CRASHED died; fsck clean after the replay"
        expect "$point: the replay finished the rmdir" test ! -e A/d
        expect "$point: ... the parent's count" '[ $(stat -c %h A) = 2 ]'
        expect "$point: ... the name can be made again" mkdir A/d
    else fail "$point: crash and recovery"; fi
done

if crash link-counted 'mkdir -p A B && echo x > A/f' 'for i in $(seq 30); do ln A/f B/l$i || exit 1; done'; then
    pass "link-counted: server $CRASHED died between a link's count and its name; fsck clean"
    expect "link-counted: the link count is the number of names" \
        '[ $(stat -c %h A/f) = $((1 + $(ls B | wc -l))) ]'
else fail "link-counted: crash and recovery"; fi

if crash unlink-removed 'mkdir -p A B && echo x > A/f && for i in $(seq 30); do ln A/f B/l$i; done' \
        'for i in $(seq 30); do rm B/l$i || exit 1; done'; then
    pass "unlink-removed: server $CRASHED died between an unlink's name and its count; fsck clean"
    expect "unlink-removed: the link count is the number of names" \
        '[ $(stat -c %h A/f) = $((1 + $(ls B | wc -l))) ]'
    expect "unlink-removed: the file is whole" grep -qx x A/f
else fail "unlink-removed: crash and recovery"; fi

# (in the root: a mkdir under a parent elsewhere is the point, so even the first one may be it)
if crash mkdir-made 'true' 'for i in $(seq 30); do mkdir m$i || exit 1; done'; then
    pass "mkdir-made: server $CRASHED died between a mkdir and its parent's count; fsck clean"
    expect "mkdir-made: the parent counts every subdirectory" \
        '[ $(stat -c %h .) = $((2 + $(ls | wc -l))) ]'
else fail "mkdir-made: crash and recovery"; fi

# The parents' times an entry's server owes another (server/dirtimes.h): written
# down before the change is answered, so a kill -9 before they are sent does
# not lose them. Servers that hold their touches (BENCHFS_FAULT=dirtimes-hold),
# files made in a directory with their entries elsewhere, every server killed
# and started again without the fault: the records are sent at the start.
dirtimes_replay() {
    local before k d
    for m in "$M" "$V"; do mountpoint -q "$m" && umount_fs "$m"; done
    for p in "${CLUSTER_PIDS[@]}"; do stop_server "$p" KILL; done
    rm -rf "$REG" "$DATA" "$DATA".*
    BENCHFS_FAULT=dirtimes-hold start_cluster "$REG" "$DATA" 3 || return 1
    tmo 60 "$BIN/tests/system/test_dirtimes" "$REG" held >"$T/held.out" 2>&1
    cat "$T/held.out"
    before=$(tail -n 1 "$T/held.out")
    case $before in ''|*[!0-9]*) echo "held: no ctime printed"; return 1 ;; esac
    for k in 0 1 2; do kill -KILL "${CLUSTER_PIDS[$k]}"; wait "${CLUSTER_PIDS[$k]}" 2>/dev/null; done
    for k in 0 1 2; do
        d=$DATA; [ "$k" -gt 0 ] && d=$DATA.$k
        start_one "$REG" "$d" --nodes 3 --node-id "$k" || return 1
        CLUSTER_PIDS[$k]=$SERVER_PID
    done
    tmo 60 "$BIN/tests/system/test_dirtimes" "$REG" replayed "$before" 2>&1 | tee "$T/replayed.out"
    grep -q '^PASS: test_records_replayed' "$T/replayed.out"
}
check "dirtimes: a parent's times owed by a server killed before it sent them reach it after its restart" \
    dirtimes_replay
check "dirtimes: fsck clean after it" fsck_clean

# A server that is gone delays the parents' times of the others at most once
# (by its touch's 0.5 s timeout), not at every touch.
dirtimes_gone() {
    for p in "${CLUSTER_PIDS[@]}"; do stop_server "$p" KILL; done
    rm -rf "$REG" "$DATA" "$DATA".*
    start_cluster "$REG" "$DATA" 3 || return 1
    tmo 120 "$BIN/tests/system/test_dirtimes" "$REG" gone "${CLUSTER_PIDS[2]}" >"$T/gone.out" 2>&1
    cat "$T/gone.out"
    grep -q '^PASS: test_gone_server_delays_only_its_own' "$T/gone.out"
}
check "dirtimes: a server gone delays the others' parents' times once, not at every touch" \
    dirtimes_gone

finish
