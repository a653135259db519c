#!/usr/bin/env bash
# A client killed inside a shared-memory send on a cluster of three: the server
# it was sending to finds its UCX ring stuck and restarts in place
# (server/selfprobe.c); a new client, which needs all three servers, waits for
# it while it opens and then runs the benchmark's phases. (tests/system/rpc.sh
# checks the same on one server.)
source "$(dirname "$0")/lib.sh"

REG=$T/reg DATA=$T/data
[ -z "${UCX_TLS:-}" ] || { skip "stuck ring (UCX_TLS=$UCX_TLS: no shared memory)"; finish; }
start_cluster "$REG" "$DATA" 3 --chunk-size 64K || { fail "3 servers start"; finish; }
# gdb kills the client inside its 31st shared-memory send (connected by then),
# in the message's pack callback: a slot of some server's ring taken, never marked.
timeout 60 gdb -batch -nx -ex 'break main' -ex run -ex 'break *uct_mm_ep_am_bcopy' \
    -ex 'ignore 2 30' -ex continue -ex 'tbreak *$rdx' -ex continue -ex kill \
    --args "$BIN/benchfs-bench" --mode client --registry-dir "$REG" --iterations 50 \
    --warmup 0 --sizes 4096 >"$T/gdb.out" 2>&1
check "gdb stopped the client inside a send" grep -q "hit Temporary breakpoint" "$T/gdb.out"
timeout 90 "$BIN/benchfs-bench" --mode client --registry-dir "$REG" --iterations 50 --warmup 0 \
    --sizes 4096 >"$T/next.out" 2>&1
check "3 servers: the next client is served by all three" test $? -eq 0
check "3 servers: the server it was sending to restarted in place" \
    eval '[ "$(cat "$DATA.log" "$DATA".[12].log | grep -c "restarting in place")" -eq 1 ]'
for k in 0 1 2; do
    check "3 servers: node $k is still its first process" kill -0 "${CLUSTER_PIDS[$k]}"
done
finish
