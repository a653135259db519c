#!/usr/bin/env bash
# Locks across clients: two mounts of one cluster, on 1 and on 3 servers.
#   - test_locks: fcntl record locks (conflicts, splits and merges seen through
#     F_GETLK, F_SETLKW waits, EDEADLK, a signal's EINTR, OFD locks, release on
#     close, a killed holder, 20 waiters that must not freeze the mount)
#   - flock(1): an exclusive lock on A makes B's -n fail and B's blocking call
#     wait until A lets go; -w's alarm interrupts a wait and leaves no lock
#   - SQLite (sqlite3) writing from both mounts at once, 1000 transactions each:
#     integrity_check ok, every row there exactly once
#   - a holder's benchfs-fuse killed with kill -9: its locks go within the RPC
#     timeout; the owner server killed while B waits: B's wait ends with an error;
#     the owner server restarted: its locks are gone and the holder's mount says so
source "$(dirname "$0")/lib.sh"

SLOW=1
case $BUILD in *san*) SLOW=3 ;; esac
tmo() { local s=$1; shift; timeout -k 5 $((s * SLOW)) "$@"; }
section() { echo "# $1 (at ${SECONDS}s)"; }
label() { sed -u "s/^\(PASS\|FAIL\|SKIP\): /\1: [$1] /"; }
RPC_TIMEOUT=10   # mount_fs's --timeout

# in_flock FILE: a flock(1) of FILE sits in flock(2) (syscall 73), waiting.
in_flock() {
    local p
    for p in $(pgrep -x flock); do
        grep -qF "$1" "/proc/$p/cmdline" 2>/dev/null &&
            [ "$(cut -d' ' -f1 "/proc/$p/syscall" 2>/dev/null)" = 73 ] && return 0
    done
    return 1
}

# hold_flock FILE FIFO: flock -x FILE in the background until FIFO is written; sets HOLDER.
hold_flock() {
    mkfifo "$2"
    flock -x "$1" -c "echo held >'$2.held'; read -r _ <'$2'" &
    HOLDER=$!
    wait_for $((10 * SLOW)) test -s "$2.held"
}

flock_tests() {   # flock_tests A B TAG
    local a=$1 b=$2 tag=$3 f=locked.$3 t0 w
    : >"$a/$f"
    hold_flock "$a/$f" "$T/fifo.$tag" || { fail "[$tag] flock holder on A"; return; }
    check "[$tag] flock -n on B fails while A holds it" \
        tmo 20 bash -c "! flock -n '$b/$f' -c true"
    check "[$tag] flock -s -n on B fails too" tmo 20 bash -c "! flock -s -n '$b/$f' -c true"
    # B's blocking flock waits for A's release (it writes its time once it has the lock).
    tmo 30 flock -x "$b/$f" -c "date +%s.%N >'$T/got.$tag'" &
    w=$!
    # (in flock(2) already; then 0.3 s to show it does not get the lock meanwhile)
    if wait_for $((10 * SLOW)) in_flock "$b/$f" && sleep 0.3 && [ ! -e "$T/got.$tag" ]; then
        pass "[$tag] B's blocking flock waits"
    else fail "[$tag] B's blocking flock waits"; fi
    t0=$(date +%s.%N)
    echo go >"$T/fifo.$tag"
    wait "$HOLDER"
    wait "$w"; local rc=$?
    check "[$tag] B's blocking flock got the lock once A let go" \
        test "$rc" -eq 0 -a -e "$T/got.$tag"
    [ -e "$T/got.$tag" ] && python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) >= float(sys.argv[2]) else 1)" \
        "$(cat "$T/got.$tag")" "$t0" && pass "[$tag] ... not before" || fail "[$tag] ... not before"
    # -w 1: the alarm interrupts the wait (FUSE_INTERRUPT), no lock is left behind.
    rm -f "$T/fifo.$tag" "$T/fifo.$tag.held"
    hold_flock "$a/$f" "$T/fifo.$tag" || { fail "[$tag] flock holder on A again"; return; }
    local s=$SECONDS
    tmo 20 flock -w 1 "$b/$f" -c true; rc=$?
    check "[$tag] flock -w 1 on B gives up after its timeout" test "$rc" -eq 1 -a $((SECONDS - s)) -le $((5 * SLOW))
    echo go >"$T/fifo.$tag"
    wait "$HOLDER"
    check "[$tag] ... and left no lock: A takes it at once" tmo 20 flock -n "$a/$f" -c true
    check "[$tag] shared flocks on A and B together" \
        tmo 20 flock -s "$a/$f" -c "flock -s -n '$b/$f' -c true"
    rm -f "$T/fifo.$tag" "$T/fifo.$tag.held" "$a/$f"
}

sqlite_test() {   # sqlite_test A B TAG: two writers, one on each mount
    local a=$1 b=$2 tag=$3 db=sq.$3.db who
    if ! command -v sqlite3 >/dev/null; then skip "[$tag] sqlite3 is not installed"; return; fi
    tmo 30 sqlite3 "$a/$db" "CREATE TABLE t(id INTEGER PRIMARY KEY, who TEXT, n INTEGER);" ||
        { fail "[$tag] sqlite3 create"; return; }
    for who in A B; do
        # Autocommit: each INSERT is a transaction of its own (rollback journal,
        # the default). synchronous=OFF: fsync is not what is tested here.
        { echo ".timeout 60000"; echo "PRAGMA synchronous=OFF;"
          seq 1000 | sed "s/.*/INSERT INTO t(who, n) VALUES('$who', &);/"; } >"$T/$who.$tag.sql"
    done
    tmo 300 sqlite3 "$a/$db" <"$T/A.$tag.sql" >"$T/A.$tag.out" 2>&1 &
    local pa=$!
    tmo 300 sqlite3 "$b/$db" <"$T/B.$tag.sql" >"$T/B.$tag.out" 2>&1 &
    local pb=$!
    wait "$pa"; local ra=$?
    wait "$pb"; local rb=$?
    check "[$tag] sqlite3 writers on A and B both finish without error" \
        test "$ra" -eq 0 -a "$rb" -eq 0 -a ! -s "$T/A.$tag.out" -a ! -s "$T/B.$tag.out"
    [ -s "$T/A.$tag.out" ] && head -n 3 "$T/A.$tag.out"
    [ -s "$T/B.$tag.out" ] && head -n 3 "$T/B.$tag.out"
    local ic rows
    ic=$(tmo 30 sqlite3 "$b/$db" "PRAGMA integrity_check;" 2>&1)
    check "[$tag] sqlite integrity_check ok (seen from B)" test "$ic" = ok
    rows=$(tmo 30 sqlite3 "$a/$db" "SELECT who, count(*), count(DISTINCT n), min(n), max(n) FROM t GROUP BY who;" 2>&1)
    check "[$tag] sqlite: 1000 rows of each writer, each once" \
        test "$rows" = $'A|1000|1000|1|1000\nB|1000|1000|1|1000'
    [ "$rows" = $'A|1000|1000|1|1000\nB|1000|1000|1|1000' ] || echo "  rows: $rows"
    rm -f "$a/$db" "$a/$db-journal"
}

# The holder's benchfs-fuse dies (kill -9): the server sees its connection go and
# releases its locks, within the RPC timeout.
killed_mount_test() {   # killed_mount_test REG B TAG
    local reg=$1 b=$2 tag=$3 c=$T/c.$3 f=killed.$3 pid s
    mount_fs "$reg" "$c" || { fail "[$tag] third mount"; return; }
    : >"$c/$f"
    hold_flock "$c/$f" "$T/fifo.k.$tag" || { fail "[$tag] holder on the third mount"; return; }
    check "[$tag] the third mount's flock holds on B" tmo 20 bash -c "! flock -n '$b/$f' -c true"
    pid=$(pgrep -x -f "$BIN/benchfs-fuse $c --registry-dir $reg --timeout $RPC_TIMEOUT" | head -n 1)
    if [ -z "$pid" ]; then fail "[$tag] find the third mount's benchfs-fuse"; return; fi
    s=$SECONDS
    kill -KILL "$pid"
    # Within the mount's RPC timeout (the default, 30 s); here 1-4 s, once the
    # server's keepalive (2 s) found the connection dead.
    if wait_for $((30 * SLOW)) flock -n "$b/$f" -c true; then
        pass "[$tag] kill -9 of the holder's benchfs-fuse frees its lock within the RPC timeout ($((SECONDS - s)) s)"
    else
        fail "[$tag] kill -9 of the holder's benchfs-fuse frees its lock within the RPC timeout"
        grep -h "connection lost\|released with" "$T/data.$tag"*.log
    fi
    echo go >"$T/fifo.k.$tag"   # (its close on the dead mount fails; it ends)
    wait "$HOLDER" 2>/dev/null
    umount -l "$c" 2>/dev/null || fusermount3 -u -z "$c" 2>/dev/null
    rm -f "$b/$f"
}

suite() {   # suite NODES
    local n=$1 tag reg data
    tag="${n} server$([ "$n" -gt 1 ] && echo s)"
    reg=$T/reg.$n data=$T/data.$n
    section "$tag"
    # (info: the servers log lost connections and the locks that went with them)
    BENCHFS_LOG=info NODES=$n start_server "$reg" "$data" || { fail "[$tag] servers start"; return; }
    [ "$n" -eq 1 ] && ONE_PID=$SERVER_PID
    mount_fs "$reg" "$T/a.$n" || { fail "[$tag] mount A"; return; }
    mount_fs "$reg" "$T/b.$n" || { fail "[$tag] mount B"; return; }
    tmo 120 "$BIN/tests/system/test_locks" "$T/a.$n" "$T/b.$n" 2>&1 | label "$tag"
    local rc=${PIPESTATUS[0]}
    [ "$rc" -le 1 ] || fail "[$tag] test_locks exited $rc"
    flock_tests "$T/a.$n" "$T/b.$n" "$n"
    sqlite_test "$T/a.$n" "$T/b.$n" "$n"
    killed_mount_test "$reg" "$T/b.$n" "$n"
}

suite 1
suite 3

# The owner server goes while B waits for A's lock: the wait ends with an
# error (never hangs); restarted, it has no locks (they were in memory), and
# A's mount, connecting anew, says its locks there are gone.
section "server restart"
REG=$T/reg.1 DATA=$T/data.1 A=$T/a.1 B=$T/b.1
umount_fs "$A"
mkdir -p "$T/af"
"$BIN/benchfs-fuse" "$T/af" --registry-dir "$REG" --timeout $RPC_TIMEOUT -f 2>"$T/af.log" &
AF=$!
MOUNTS+=("$T/af")
wait_for 20 mountpoint -q "$T/af" || fail "foreground mount"
: >"$T/af/r"
hold_flock "$T/af/r" "$T/fifo.r" || fail "holder before the restart"
tmo 60 flock -x "$B/r" -c true 2>"$T/wait.err" &
W=$!
wait_for $((10 * SLOW)) in_flock "$B/r" || fail "B waits for the lock"
s=$SECONDS
stop_server "$ONE_PID" KILL
wait "$W"; rc=$?
check "a wait for a lock ends with an error when the server is killed ($((SECONDS - s)) s)" \
    test "$rc" -ne 0 -a "$rc" -ne 124
start_one "$REG" "$DATA" || fail "server restarts"
check "after the restart the lock is gone: B takes it" wait_for $((RPC_TIMEOUT * SLOW)) flock -n "$B/r" -c true
echo go >"$T/fifo.r"
wait "$HOLDER"
check "A's holder ends cleanly (its unlock is harmless)" test $? -eq 0
# (A's mount connects anew at its next call: an open.)
check "A's mount logs that its locks there are gone" wait_for $((RPC_TIMEOUT * SLOW)) \
    bash -c "cat '$T/af/r' >/dev/null; grep -q 'locks this client held there are gone' '$T/af.log'"
fusermount3 -u "$T/af"
wait "$AF"
finish
