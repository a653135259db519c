#!/usr/bin/env bash
# Durability under crashes: 20 cycles of a write+fsync load, kill -9 of the
# server at a random moment, restart on the same data dir, and a check that
# every write acknowledged by fsync is there, byte for byte.
source "$(dirname "$0")/../system/lib.sh"

REG=$T/reg DATA=$T/data LOG=$T/acks
CYCLES=${KILL_CYCLES:-20}
survived=0
start_server "$REG" "$DATA" --chunk-size 16K || { fail "server starts"; finish; }
for cycle in $(seq "$CYCLES"); do
    "$BIN/tests/stress/durable_load" "$REG" "$LOG" write >"$T/load.out" 2>&1 &
    load=$!
    sleep "0.$((RANDOM % 9 + 1))"
    kill -KILL "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null
    # the load notices within its RPC timeout (3 s) and stops
    for _ in $(seq 100); do kill -0 "$load" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$load" 2>/dev/null; wait "$load" 2>/dev/null
    start_server "$REG" "$DATA" --chunk-size 16K || { fail "restart after kill -9 (cycle $cycle)"; break; }
    if timeout 60 "$BIN/tests/stress/durable_load" "$REG" "$LOG" check >"$T/check.out" 2>&1; then
        survived=$((survived + 1))
    else
        cat "$T/check.out"; fail "fsynced data intact after kill -9 (cycle $cycle)"
    fi
done
acks=$(wc -l <"$LOG" 2>/dev/null || echo 0)
cat "$T/check.out"
check "survived $survived of $CYCLES kill -9 cycles ($acks fsynced writes acknowledged)" \
    test "$survived" -eq "$CYCLES"
check "the load made progress ($acks acknowledged writes)" test "$acks" -gt "$CYCLES"
finish
