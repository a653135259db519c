#!/usr/bin/env bash
# A UCX shared-memory ring left stuck by a process killed in the middle of a
# send to it (common/ringprobe.h), on a cluster of three, both ways:
# - a client killed sending to a server: that server restarts in place
#   (server/server.c); a new client, which needs all three servers, waits for
#   it while it opens and then runs the benchmark's phases (tests/system/rpc.sh
#   checks the same on one server);
# - a server killed replying to a mount: the mount's lane gets a new worker
#   (common/rpc_ring.c) and the mount serves every file again once the server
#   is back, without a remount.
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

# -- a server killed in the middle of a reply to the mount. Node 1 runs under
# gdb, which kills it inside a shared-memory send (its 301st: by then the mount
# reads in a loop, and the mount is all it answers), in the pack callback.
# (Servers at log level info: a connection replaced is logged there.)
export BENCHFS_LOG=info
REG2=$T/reg2 DATA2=$T/data2 MNT=$T/mnt
start_one "$REG2" "$DATA2" --nodes 3 --node-id 0 || { fail "cluster 2: node 0 starts"; finish; }
: >"$DATA2.1.log"
timeout 120 gdb -batch -nx -ex 'break main' \
    -ex "run --registry-dir $REG2 --data-dir $DATA2.1 --nodes 3 --node-id 1 >$DATA2.1.log 2>&1" \
    -ex 'break *uct_mm_ep_am_bcopy' -ex 'ignore 2 300' -ex continue -ex 'tbreak *$rdx' \
    -ex continue -ex kill --args "$BIN/benchfs-server" >"$T/gdb2.out" 2>&1 &
GDB=$!
SERVER_PIDS+=("$GDB")   # stopped by cleanup (gdb kills its server) if the test ends early
wait_for 30 grep -q "Server is ready" "$DATA2.1.log" || { fail "cluster 2: node 1 starts under gdb"; finish; }
start_one "$REG2" "$DATA2.2" --nodes 3 --node-id 2 || { fail "cluster 2: node 2 starts"; finish; }
mount_fs "$REG2" "$MNT" --log-file "$T/mnt.log" || { fail "cluster 2: mount"; finish; }
for i in $(seq 30); do head -c 4096 /dev/urandom >"$MNT/f$i"; done
cat "$MNT"/f* >"$T/before"
# Reads until told to stop (or 120 s), so that node 1 has replies to send.
( end=$((SECONDS + 120)); n=0
  while [ "$SECONDS" -lt "$end" ] && [ ! -e "$T/stop" ]; do
      cat "$MNT/f$((n % 30 + 1))" >/dev/null 2>&1; n=$((n + 1))
  done ) &
READER=$!
timeout 100 tail --pid="$GDB" -f /dev/null
check "mount: gdb killed node 1 inside a reply" grep -q "hit Temporary breakpoint" "$T/gdb2.out"
start_one "$REG2" "$DATA2.1" --nodes 3 --node-id 1 || { fail "cluster 2: node 1 starts again"; finish; }
check "mount: every file reads back the same once node 1 is back" \
    wait_for 60 eval 'cat "$MNT"/f* 2>/dev/null | cmp -s - "$T/before"'
touch "$T/stop"; wait "$READER"
check "mount: its lane got a new UCX worker" grep -q "new UCX worker open" "$T/mnt.log"
check "mount: new files on every node" eval 'for i in $(seq 12); do echo $i >"$MNT/new$i" || exit 1; done'
# Nodes 0 and 2 are the processes the old worker was connected to: the new
# worker's HELLO has them forget that connection (and any locks of it).
for k in 0 2; do
    d=$DATA2; [ "$k" -gt 0 ] && d=$DATA2.$k
    check "mount: node $k forgot the old worker's connection" grep -q "replaced by client" "$d.log"
done
check "mount: still mounted, no remount" mountpoint -q "$MNT"
finish
