#!/usr/bin/env bash
# System tests of the server over UCX, without FUSE: every RPC (test_rpc),
# hostile requests, durability across kill -9, the benchmark's client mode
# reaching the server, the registry and the server's handling of bad input.
source "$(dirname "$0")/lib.sh"

REG=$T/reg DATA=$T/data

# -- bad command lines get a message and a non-zero exit, never a crash
"$BIN/benchfs-server" --bogus >"$T/out" 2>&1; rc=$?
check "server: unknown flag exits 2" test "$rc" -eq 2
check "server: unknown flag is named" grep -q "bogus" "$T/out"
"$BIN/benchfs-server" --registry-dir "$REG" >"$T/out" 2>&1; rc=$?
check "server: missing --data-dir exits 2" test "$rc" -eq 2
"$BIN/benchfs-server" --registry-dir "$REG" --data-dir "$DATA" --chunk-size 12x >"$T/out" 2>&1; rc=$?
check "server: bad --chunk-size exits 2" test "$rc" -eq 2
touch "$T/file"
"$BIN/benchfs-server" --registry-dir "$REG" --data-dir "$T/file/sub" >"$T/out" 2>&1; rc=$?
check "server: data dir under a file is refused" test "$rc" -eq 1

# -- a client without a server times out with the seed's RegistryError
timeout 20 "$BIN/benchfs-bench" --mode client --registry-dir "$T/noreg" --timeout 1 >"$T/out" 2>&1; rc=$?
check "client: no server -> exit 1" test "$rc" -eq 1
check "client: no server -> RegistryError" grep -q "RegistryError" "$T/out"

start_server "$REG" "$DATA" --chunk-size 64K || { fail "server starts"; finish; }
pass "server starts"
check "server prints the seed's lines" grep -q "Server worker address registered to $REG" "$DATA.log"
check "registry: server.addr published" test -f "$REG/server.addr"
check "registry: dir is 0700" test "$(stat -c %a "$REG")" = 700
check "registry: cluster key is 0600" test "$(stat -c %a "$REG/cluster.key")" = 600

"$BIN/benchfs-server" --registry-dir "$REG" --data-dir "$DATA" >"$T/out2" 2>&1; rc=$?
check "server: data dir in use is refused" test "$rc" -eq 1
check "server: data dir in use is explained" grep -q "in use by another benchfs-server" "$T/out2"

# -- the benchmark's client mode runs to the end and every op reaches the server
timeout 120 "$BIN/benchfs-bench" --mode client --registry-dir "$REG" --iterations 50 --warmup 5 \
    --sizes 1024,4096 --show-server-counters --json "$T/bench.json" >"$T/bench.out" 2>&1; rc=$?
check "bench client mode completes" test "$rc" -eq 0
for line in "Successfully connected to server" "Metadata Create (file creation)" \
            "Small Write (4096 bytes)" "Small Read (1024 bytes)" "Throughput:" "p99:"; do
    check "bench prints '$line'" grep -qF "$line" "$T/bench.out"
done
# create, 2 writes, 2 reads, then the stat phase (after the seed's phases)
check "bench writes JSON" python3 -c "import json,sys; d=json.load(open('$T/bench.json')); r=d['results']; sys.exit(0 if len(r)==6 and [x['name'] for x in r][-1]=='metadata_stat' and r[-1]['iterations']==50 else 1)"
check "bench prints the stat phase" grep -qF "Metadata Stat (file stat)" "$T/bench.out"
# The server is fresh: its counters are the benchmark's own: 55 creates, 2x55
# files created and written, 2x55 reads (cleanup comes after the counters).
counters=$(grep '^Server node 0 requests:' "$T/bench.out")
echo "$counters"
count() { echo "$counters" | grep -o "$1 [0-9]*" | awk '{print $2}'; }
check "bench: every create reached the server" test "$(count CREATE)" = $((55 + 2 * 55 + 2))  # + run dir and thread dir
check "bench: every write reached the server" test "$(count WRITE)" = $((2 * 55))
check "bench: every read reached the server" test "$(count READ)" = $((2 * 55))

# -- every RPC
# -- a registry directory this user may not use: a clear message, exit non-zero, no wait
chmod 711 "$T"   # others may pass through $T, but $T/preg is root's and 0700
mkdir -m 700 "$T/preg"; mkdir -m 777 "$T/pdata" "$T/pmnt"
as_nobody() { timeout 30 setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
as_nobody "$BIN/benchfs-server" --registry-dir "$T/preg" --data-dir "$T/pdata/d" >"$T/out" 2>&1; rc=$?
check "server: registry dir without permission exits 1" test "$rc" -eq 1
check "server: ... and says the registry dir is not writable" grep -q "$T/preg is not writable: Permission denied" "$T/out"
as_nobody "$BIN/benchfs-bench" --mode client --registry-dir "$T/preg" --timeout 20 --iterations 1 >"$T/out" 2>&1; rc=$?
check "client: registry dir without permission fails at once" test "$rc" -ne 0 -a "$rc" -ne 124
check "client: ... and says it cannot read the registry dir" grep -q "cannot read registry directory $T/preg: Permission denied" "$T/out"
as_nobody "$BIN/benchfs-fuse" "$T/pmnt" --registry-dir "$T/preg" --timeout 20 >"$T/out" 2>&1; rc=$?
check "fuse: registry dir without permission fails at once" test "$rc" -ne 0 -a "$rc" -ne 124
check "fuse: ... and says so" grep -q "cannot read registry directory $T/preg: Permission denied" "$T/out"
check "fuse: ... and leaves no mount behind" bash -c "! mountpoint -q '$T/pmnt'"

"$BIN/tests/system/test_rpc" "$REG"; rc=$?
[ "$rc" -eq 0 ] || echo "test_rpc exited $rc"

# -- hostile requests get error replies and the server keeps serving
"$BIN/tests/system/test_hostile" "$REG"; rc=$?
[ "$rc" -eq 0 ] || echo "test_hostile exited $rc"
check "server survives hostile requests" kill -0 "$SERVER_PID"
check "server logs the malformed requests it dropped" grep -q "dropping a request from an unknown client" "$DATA.log"
check "server logs the requests it rejected" grep -q "rejected: Bad message" "$DATA.log"

# -- a client killed in the middle of its writes leaves the server healthy
chunk_files() { find "$DATA/chunks" -type f 2>/dev/null | wc -l; }
before=$(chunk_files)
# 20,000 creates first, then as many 64 KiB writes (1.3 GB: it is killed long before).
"$BIN/benchfs-bench" --mode client --registry-dir "$REG" --iterations 20000 --warmup 0 \
    --sizes 65536 >/dev/null 2>&1 &
victim=$!
# Killed once its writes are landing: 100 new chunk files (64 KiB writes are not inline).
check "client killed mid-write: it was writing" wait_for 90 eval '[ "$(chunk_files)" -ge $((before + 100)) ]'
kill -KILL "$victim"; wait "$victim" 2>/dev/null
timeout 60 "$BIN/benchfs-bench" --mode client --registry-dir "$REG" --iterations 20 --warmup 0 \
    --sizes 4096 >"$T/after-kill.out" 2>&1
check "client killed mid-write: server serves the next client" test $? -eq 0
check "client killed mid-write: server still running" kill -0 "$SERVER_PID"

# -- a client killed in the middle of a shared-memory send leaves the server's
# UCX ring stuck for every local sender (it took a slot and never marked it
# written): gdb kills it inside a send (its 31st, once connected), in the
# message's pack callback. Keepalive finds it dead; the server sees its own
# ping not arrive and restarts in place (server/selfprobe.c); the next client
# waits for it.
if [ -z "${UCX_TLS:-}" ]; then
    timeout 60 gdb -batch -nx -ex 'break main' -ex run -ex 'break *uct_mm_ep_am_bcopy' \
        -ex 'ignore 2 30' -ex continue -ex 'tbreak *$rdx' -ex continue -ex kill \
        --args "$BIN/benchfs-bench" --mode client --registry-dir "$REG" --iterations 50 \
        --warmup 0 --sizes 4096 >"$T/gdb.out" 2>&1
    check "killed mid-send: gdb stopped the client inside a send" grep -q "hit Temporary breakpoint" "$T/gdb.out"
    timeout 60 "$BIN/benchfs-bench" --mode client --registry-dir "$REG" --iterations 20 --warmup 0 \
        --sizes 4096 >"$T/after-send.out" 2>&1
    check "killed mid-send: the next client is served" test $? -eq 0
    check "killed mid-send: the server restarted in place" grep -q "restarting in place" "$DATA.log"
    check "killed mid-send: same process, ready again" \
        eval 'kill -0 "$SERVER_PID" && [ "$(grep -c "Server is ready" "$DATA.log")" -ge 2 ]'
    # ... and killed inside its very first send (its HELLO): the server has no
    # connection whose failure would tell it. The next client's HELLO goes
    # unanswered; it pokes the server's file in the registry (server/poke.c),
    # and the server finds its ring stuck and restarts in place.
    timeout 60 gdb -batch -nx -ex 'break main' -ex run -ex 'break *uct_mm_ep_am_bcopy' \
        -ex continue -ex 'tbreak *$rdx' -ex continue -ex kill \
        --args "$BIN/benchfs-bench" --mode client --registry-dir "$REG" --iterations 5 \
        --warmup 0 --sizes 4096 >"$T/gdb-hello.out" 2>&1
    check "killed in its HELLO: gdb stopped the client inside its first send" \
        grep -q "hit Temporary breakpoint" "$T/gdb-hello.out"
    timeout 60 "$BIN/benchfs-bench" --mode client --registry-dir "$REG" --iterations 20 --warmup 0 \
        --sizes 4096 >"$T/after-hello.out" 2>&1
    check "killed in its HELLO: the next client is served" test $? -eq 0
    check "killed in its HELLO: the server, poked, restarted in place" \
        eval 'kill -0 "$SERVER_PID" && [ "$(grep -c "restarting in place" "$DATA.log")" -ge 2 ]'
else
    skip "killed mid-send (UCX_TLS=$UCX_TLS: no shared memory)"
fi

# -- a wrong cluster key is refused
cp "$REG/cluster.key" "$T/key.saved"
echo 00000000000000000000000000000000 > "$REG/cluster.key"
timeout 30 "$BIN/benchfs-bench" --mode client --registry-dir "$REG" --iterations 1 --warmup 0 >"$T/out" 2>&1; rc=$?
check "wrong cluster key is refused" test "$rc" -ne 0
check "wrong cluster key gives EACCES" grep -q "Permission denied" "$T/out"
cp "$T/key.saved" "$REG/cluster.key"

# -- fsynced data survives kill -9 and a restart
"$BIN/tests/system/test_rpc" "$REG" durable-write
check "durable: write + fsync" test $? -eq 0
kill -KILL "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
start_server "$REG" "$DATA" --chunk-size 64K || { fail "server restarts after kill -9"; finish; }
pass "server restarts after kill -9 (stale registry file replaced)"
"$BIN/tests/system/test_rpc" "$REG" durable-check
check "durable: data intact after kill -9" test $? -eq 0

# -- a client outlives its server: errors while it is gone, works once it is
# back; then a new server process replaces the old one twice while the client
# is idle (test_reconnect.c says what it checks after each line)
coproc RECON { timeout -k 5 120 "$BIN/tests/system/test_reconnect" "$REG" 2>"$T/recon.err"; }
recon_pid=$RECON_PID   # bash forgets RECON_PID once the coprocess ends
# Read from a copy of the pipe: bash unsets RECON (and closes its fds) once the
# coprocess ends, maybe between two reads; the copy then gives EOF.
exec {recon_out}<&"${RECON[0]}"
while read -r -t 60 line <&"$recon_out"; do
    case $line in
    up|replace)
        kill -KILL "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
        if [ "$line" = replace ]; then
            start_server "$REG" "$DATA" --chunk-size 64K || fail "server is replaced for the client"
        fi
        echo go >&"${RECON[1]}" ;;
    down)
        start_server "$REG" "$DATA" --chunk-size 64K || fail "server restarts for the client"
        echo go >&"${RECON[1]}" ;;
    *) echo "$line" ;;
    esac
done
exec {recon_out}<&-
if [ -n "${RECON[1]:-}" ]; then exec {RECON[1]}>&-; fi
wait "$recon_pid" 2>/dev/null || { fail "test_reconnect"; cat "$T/recon.err"; }

# -- four lanes (threads on UCX workers of their own) outlive a server: a restart
# costs one failed call, not one per lane, and while one server is down calls to
# the others are not held up. On one server and on a cluster of two of its own
# (this suite's server stays as it is); the last node is the victim.
lanes_run() {
    local n=$1 victim line lanes_pid p
    local reg=$T/lanes$n/reg data=$T/lanes$n/data
    if [ "$n" -gt 1 ]; then
        start_cluster "$reg" "$data" "$n" --chunk-size 64K || { fail "lanes: $n servers start"; return 1; }
    else
        start_one "$reg" "$data" --chunk-size 64K || { fail "lanes: the server starts"; return 1; }
        CLUSTER_PIDS=("$SERVER_PID")
    fi
    victim=${CLUSTER_PIDS[n - 1]}
    local vdata=$data; [ "$n" -gt 1 ] && vdata=$data.$((n - 1))
    local vflags=(--chunk-size 64K); [ "$n" -gt 1 ] && vflags+=(--nodes "$n" --node-id $((n - 1)))
    coproc LANES { BENCHFS_LOG=${LANES_LOG:-warn} BENCHFS_CLIENT_LANES=4 timeout -k 5 120 \
        "$BIN/tests/system/test_lanes" "$reg" 2>"$T/lanes$n.err"; }
    lanes_pid=$LANES_PID   # bash forgets LANES_PID once the coprocess ends
    local lanes_out   # a copy of the pipe, as for RECON above
    exec {lanes_out}<&"${LANES[0]}"
    while read -r -t 60 line <&"$lanes_out"; do
        case $line in
        up|kill|down)
            if [ "$line" != down ]; then kill -KILL "$victim"; wait "$victim" 2>/dev/null; fi
            if [ "$line" != kill ]; then
                start_one "$reg" "$vdata" "${vflags[@]}" || fail "lanes ($n servers): the victim restarts"
                victim=$SERVER_PID CLUSTER_PIDS[n - 1]=$SERVER_PID
            fi
            echo go >&"${LANES[1]}" ;;
        *) echo "$line (lanes, $n servers)" ;;
        esac
    done
    exec {lanes_out}<&-
    # A test still waiting for a line gets EOF (bash closes the pipes of one that ended).
    if [ -n "${LANES[1]:-}" ]; then exec {LANES[1]}>&-; fi
    wait "$lanes_pid" 2>/dev/null || { fail "test_lanes on $n servers"; cat "$T/lanes$n.err"; }
    grep "down:" "$T/lanes$n.err"; [ -n "${LANES_KEEP:-}" ] && cp "$T/lanes$n.err" "$LANES_KEEP.$n"
    for p in "${CLUSTER_PIDS[@]}"; do stop_server "$p"; done
}
RPC_SERVER=$SERVER_PID
lanes_run 1
lanes_run 2
SERVER_PID=$RPC_SERVER

# -- a store most of which is free is compacted: 2,000 small files that come and
# go on a server of its own, which, once idle, replaces its store with a compact
# copy (meta.h, meta_compact: a new file at meta.lmdb); fsynced data written
# before survives, also a kill -9 after it
compact_run() {
    local reg=$T/compact/reg data=$T/compact/data ino_before pid
    start_one "$reg" "$data" --chunk-size 64K || { fail "compaction: the server starts"; return 1; }
    pid=$SERVER_PID
    "$BIN/tests/system/test_rpc" "$reg" durable-write
    check "compaction: write + fsync first" test $? -eq 0
    ino_before=$(stat -c %i "$data/meta.lmdb")
    timeout 120 "$BIN/benchfs-bench" --mode client --registry-dir "$reg" --iterations 2000 \
        --warmup 0 --sizes 4096 >"$T/compact.out" 2>&1
    check "compaction: 2,000 small files come and go" test $? -eq 0
    check "compaction: the idle server compacts its store" \
        wait_for 20 eval '[ "$(stat -c %i "$data/meta.lmdb")" != "$ino_before" ]'
    check "compaction: the server serves on" timeout 60 "$BIN/benchfs-bench" --mode client \
        --registry-dir "$reg" --iterations 20 --warmup 0 --sizes 4096
    "$BIN/tests/system/test_rpc" "$reg" durable-check
    check "compaction: the fsynced data is intact" test $? -eq 0
    kill -KILL "$pid"; wait "$pid" 2>/dev/null
    start_one "$reg" "$data" --chunk-size 64K || { fail "compaction: the server restarts after kill -9"; return 1; }
    "$BIN/tests/system/test_rpc" "$reg" durable-check
    check "compaction: ... and after a kill -9 and a restart" test $? -eq 0
    stop_server "$SERVER_PID"
}
compact_run
# ... and a kill -9 in the middle of one: once the copy is written (the old
# store stays; the copy goes at the next open), and once it is renamed over the
# store (the copy is the store): either way the fsynced data is there and
# benchfs-fsck finds the namespace clean
compact_crash() {
    local point=$1 reg=$T/crash-$1/reg data=$T/crash-$1/data ino_before pid
    BENCHFS_CRASH_POINT=$point start_one "$reg" "$data" --chunk-size 64K ||
        { fail "compaction crash at $point: the server starts"; return 1; }
    pid=$SERVER_PID
    "$BIN/tests/system/test_rpc" "$reg" durable-write
    ino_before=$(stat -c %i "$data/meta.lmdb")
    timeout 120 "$BIN/benchfs-bench" --mode client --registry-dir "$reg" --iterations 2000 \
        --warmup 0 --sizes 4096 >"$T/crash-$point.out" 2>&1
    check "compaction crash at $point: the server killed itself there" \
        wait_for 20 eval '! kill -0 "$pid" 2>/dev/null && grep -q "crash point $point" "$data.log"'
    wait "$pid" 2>/dev/null
    if [ "$point" = compact-copied ]; then
        check "compaction crash at $point: the old store stays, the copy beside it" \
            eval '[ "$(stat -c %i "$data/meta.lmdb")" = "$ino_before" ] && [ -s "$data/meta.lmdb.compact" ]'
    else
        check "compaction crash at $point: the copy is the store" \
            eval '[ "$(stat -c %i "$data/meta.lmdb")" != "$ino_before" ] && [ ! -e "$data/meta.lmdb.compact" ]'
    fi
    start_one "$reg" "$data" --chunk-size 64K ||
        { fail "compaction crash at $point: the server restarts"; return 1; }
    check "compaction crash at $point: no copy is left after the restart" test ! -e "$data/meta.lmdb.compact"
    "$BIN/tests/system/test_rpc" "$reg" durable-check
    check "compaction crash at $point: the fsynced data is intact" test $? -eq 0
    check "compaction crash at $point: the server serves" timeout 60 "$BIN/benchfs-bench" \
        --mode client --registry-dir "$reg" --iterations 20 --warmup 0 --sizes 4096
    stop_server "$SERVER_PID"
    check "compaction crash at $point: benchfs-fsck finds the namespace clean" \
        timeout 60 "$BIN/benchfs-fsck" --data-dir "$data"
}
compact_crash compact-copied
compact_crash compact-renamed
# ... and on a cluster of three: each server compacts its own store, and the
# namespace across them stays whole (online benchfs-fsck)
compact_cluster() {
    local reg=$T/ccl/reg data=$T/ccl/data k p
    local -A before
    start_cluster "$reg" "$data" 3 --chunk-size 64K || { fail "compaction on 3: the servers start"; return 1; }
    for k in 0 1 2; do p=$data; [ "$k" -gt 0 ] && p=$data.$k; before[$k]=$(stat -c %i "$p/meta.lmdb"); done
    timeout 120 "$BIN/benchfs-bench" --mode client --registry-dir "$reg" --iterations 3000 \
        --warmup 0 --sizes 4096 >"$T/ccl.out" 2>&1
    check "compaction on 3: 3,000 small files come and go" test $? -eq 0
    for k in 0 1 2; do
        p=$data; [ "$k" -gt 0 ] && p=$data.$k
        check "compaction on 3: server $k compacts its store" \
            wait_for 20 eval '[ "$(stat -c %i "$p/meta.lmdb")" != "${before[$k]}" ]'
    done
    check "compaction on 3: the cluster serves on" timeout 60 "$BIN/benchfs-bench" --mode client \
        --registry-dir "$reg" --iterations 20 --warmup 0 --sizes 4096
    check "compaction on 3: online benchfs-fsck is clean" timeout 60 "$BIN/benchfs-fsck" --registry-dir "$reg"
    for p in "${CLUSTER_PIDS[@]}"; do stop_server "$p"; done
}
compact_cluster
SERVER_PID=$RPC_SERVER

# -- a stale server.addr (dead server) is reported as such
kill -KILL "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
timeout 20 "$BIN/benchfs-bench" --mode client --registry-dir "$REG" --timeout 1 >"$T/out" 2>&1
check "stale registry file is explained" grep -q "no longer running" "$T/out"

# -- clean stop: SIGTERM removes the registry file, exits 0
start_server "$REG" "$DATA" --chunk-size 64K || { fail "server restarts"; finish; }
stop_server "$SERVER_PID" TERM; wait "$SERVER_PID"; rc=$?
check "SIGTERM: exit 0" test "$rc" -eq 0
check "SIGTERM: registry file removed" test ! -e "$REG/server.addr"
finish
