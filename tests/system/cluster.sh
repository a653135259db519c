#!/usr/bin/env bash
# A cluster of two servers (--nodes 2) on this host sharing one registry:
# placement spreads entries, inodes and chunks over both, and the client's
# calls route to the right one. Proves it with the servers' own counters and
# byte-checked benchmark reads; and that a client waits for every node.
source "$(dirname "$0")/lib.sh"

REG=$T/reg
start_server "$REG" "$T/d0" --nodes 2 --node-id 0 --chunk-size 64K || { fail "node 0 starts"; finish; }
N0=$SERVER_PID

# Only one of two nodes registered: the client waits, then names the missing file.
timeout 30 "$BIN/benchfs-bench" --mode client --registry-dir "$REG" --timeout 1 \
    --iterations 1 --warmup 0 >"$T/out" 2>&1; rc=$?
check "cluster: missing node -> client fails" test "$rc" -ne 0
check "cluster: missing node is named" grep -q "node-1.addr" "$T/out"

start_server "$REG" "$T/d1" --nodes 2 --node-id 1 --chunk-size 64K || { fail "node 1 starts"; finish; }
N1=$SERVER_PID
check "cluster: node files published" test -f "$REG/node-0.addr" -a -f "$REG/node-1.addr"

timeout 120 "$BIN/benchfs-bench" --mode client --registry-dir "$REG" --iterations 200 --warmup 10 \
    --sizes 4096,200000 --threads 2 --show-server-counters >"$T/bench.out" 2>&1; rc=$?
check "cluster: benchmark over two nodes completes (reads byte-checked)" test "$rc" -eq 0
grep "^Server node" "$T/bench.out"
for node in 0 1; do
    line=$(grep "^Server node $node requests:" "$T/bench.out")
    creates=$(echo "$line" | grep -o "CREATE [0-9]*" | awk '{print $2}')
    writes=$(echo "$line" | grep -o "WRITE [0-9]*" | awk '{print $2}')
    check "cluster: node $node creates entries (${creates:-0})" test "${creates:-0}" -gt 100
    check "cluster: node $node stores data (${writes:-0} writes)" test "${writes:-0}" -gt 100
done

# Each node's own data directory holds chunks of files owned by the other
# (200000-byte files span 4 chunks of 64 KiB, placed by hash).
timeout 60 "$BIN/benchfs-bench" --mode client --registry-dir "$REG" --iterations 20 --warmup 0 \
    --sizes 200000 --keep >"$T/keep.out" 2>&1
c0=$(find "$T/d0/chunks" -type f -name '0001*' | wc -l)
c1=$(find "$T/d1/chunks" -type f -name '0000*' | wc -l)
check "cluster: node 0 holds chunks of node 1's inodes ($c0)" test "$c0" -gt 0
check "cluster: node 1 holds chunks of node 0's inodes ($c1)" test "$c1" -gt 0

stop_server "$N1" TERM; check "cluster: node 1 stops cleanly" test ! -e "$REG/node-1.addr"
stop_server "$N0" TERM; check "cluster: node 0 stops cleanly" test ! -e "$REG/node-0.addr"
finish
