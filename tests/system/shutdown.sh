#!/usr/bin/env bash
# A server asked to stop (SIGTERM) while clients still use it: it stops taking
# new requests, finishes or cancels what is in flight, frees in reverse order
# and exits 0 by the drain's deadline, whatever the clients do.
source "$(dirname "$0")/lib.sh"

REG=$T/reg DATA=$T/data
SLOW=1
case $BUILD in *san*) SLOW=3 ;; esac
export BENCHFS_DRAIN_TIMEOUT_S=2
gone() { ! kill -0 "$1" 2>/dev/null; }

# -- a client that keeps sending does not keep the server running
start_server "$REG" "$DATA" || { fail "server starts"; finish; }
"$BIN/benchfs-bench" --mode client --registry-dir "$REG" --iterations 1000000 --warmup 0 --threads 4 \
    --sizes 4096 >"$T/busy.out" 2>&1 &
busy=$!
check "busy client: it is working" wait_for $((20 * SLOW)) eval 'grep -q "^Successfully connected" "$T/busy.out"'
kill -TERM "$SERVER_PID"
check "busy client: the server stops by the drain's deadline" wait_for $((5 * SLOW)) gone "$SERVER_PID"
wait "$SERVER_PID"; rc=$?
check "busy client: exit 0" test "$rc" -eq 0
check "busy client: registry file removed" test ! -e "$REG/server.addr"
check "busy client: the client is told, it does not hang" wait_for $((40 * SLOW)) gone "$busy"
kill -KILL "$busy" 2>/dev/null; wait "$busy" 2>/dev/null

# -- a client that stopped with a large reply unsent: the reply is cancelled
# and its chunk-store buffer returned before the store is freed (ASan sees it)
start_server "$REG" "$DATA" || { fail "server starts again"; finish; }
reached=0
for attempt in 1 2 3; do
    "$BIN/tests/system/stalled_client" "$REG" >"$T/stall.out" 2>&1 &
    sc=$!
    stopped() { [ "$(awk '{print $3}' "/proc/$sc/stat" 2>/dev/null)" = T ]; }
    wait_for $((20 * SLOW)) stopped || { fail "stalled client: it stops itself"; cat "$T/stall.out"; break; }
    kill -TERM "$SERVER_PID"
    wait_for $((10 * SLOW)) gone "$SERVER_PID" || fail "stalled client: the server stops by the drain's deadline"
    wait "$SERVER_PID"; rc=$?
    kill -KILL "$sc" 2>/dev/null; wait "$sc" 2>/dev/null
    if grep -q "still in flight at the drain's deadline" "$DATA.log"; then
        reached=1
        check "stalled client: the server exits 0" test "$rc" -eq 0
        check "stalled client: it says the reply was cancelled" grep -q "replies are cancelled" "$DATA.log"
        break
    fi
    # The reply was taken before the client stopped: try again.
    start_server "$REG" "$DATA" || { fail "server starts again"; break; }
done
check "stalled client: a reply was held by the stopped client (in $attempt tries)" test "$reached" = 1
finish
