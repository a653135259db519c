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

# -- a client outlives its server: errors while it is gone, works once it is back
coproc RECON { "$BIN/tests/system/test_reconnect" "$REG" 2>"$T/recon.err"; }
recon_pid=$RECON_PID   # bash forgets RECON_PID once the coprocess ends
if read -r -t 20 line <&"${RECON[0]}" && [ "$line" = up ]; then
    kill -KILL "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
    echo go >&"${RECON[1]}"
    if read -r -t 20 line <&"${RECON[0]}" && [ "$line" = down ]; then
        start_server "$REG" "$DATA" --chunk-size 64K || fail "server restarts for the client"
        echo go >&"${RECON[1]}"
    fi
fi
timeout 60 cat <&"${RECON[0]}"
wait "$recon_pid" 2>/dev/null || cat "$T/recon.err"

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
