#!/usr/bin/env bash
# A "multi-host" cluster on one machine, built from Linux network namespaces:
#
#     host A (netns)        host B (netns)        host C (netns)
#     server node 0         server node 1         benchfs-bench, benchfs-fuse
#     bfsA 10.213.0.1       bfsB 10.213.0.2       bfsC 10.213.0.3
#          \                      |                      /
#           pA ------------- br0 (bridge netns) ------- pC
#
# The namespaces have no other interface and no route (nothing leaves the
# machine); they share the file system, so the registry is an ordinary
# directory. UCX may use TCP over each host's veth only (UCX_TLS=tcp,self,
# UCX_NET_DEVICES=bfsX): no shared memory between "hosts". Proves:
#   - both servers start in their namespaces and publish their addresses
#   - benchfs-bench --mode client on host C reaches both (servers' counters)
#   - a FUSE mount made on host C: files written and read back (checksums),
#     spread over both servers; the traffic is TCP over the veths
#   - kill -9 of server B: operations routed to B fail (EIO/ENOTCONN) within
#     the mount's --rpc-timeout, files on A keep working; B restarted: all back
# Skips (exit 0) where the machine cannot make namespaces, veths or bridges.
source "$(dirname "$0")/lib.sh"

SLOW=1
case $BUILD in *san*) SLOW=3 ;; esac
tmo() { local s=$1; shift; timeout -k 5 $((s * SLOW)) "$@"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
gone() { ! kill -0 "$1" 2>/dev/null; }
section() { echo "# $1 (at ${SECONDS}s)"; }

TAG=bfs$$
NS_A=$TAG-A NS_B=$TAG-B NS_C=$TAG-C NS_BR=$TAG-br
NAMESPACES=()          # created by this test; deleted by netns_cleanup
FUSE_PIDS=()           # benchfs-fuse -f processes (in their own mount namespaces)
MNT=$T/mnt
RUN_NETNS_MADE=0       # this test made /run/netns a mount point (ip netns add does)
REG=$T/reg DA=$T/dA DB=$T/dB
RPC_TMO=3              # the mount's --rpc-timeout
export UCX_TLS=tcp,self
unset UCX_NET_DEVICES

# Runs after everything: unmount (inside the mount's own namespace), stop the
# FUSE daemons, lib.sh's cleanup (servers, $T), then the namespaces (their veths
# and the bridge go with them).
netns_cleanup() {
    local p ns
    trap '' INT TERM   # a signal now must not cut the cleanup short
    for p in "${FUSE_PIDS[@]}"; do
        gone "$p" && continue
        timeout -k 2 10 nsenter -t "$p" -m -- fusermount3 -u "$MNT" 2>/dev/null ||
            timeout -k 2 10 nsenter -t "$p" -m -- umount -l "$MNT" 2>/dev/null
        kill -TERM "$p" 2>/dev/null
        for _ in $(seq 50); do gone "$p" && break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
    cleanup
    for ns in "${NAMESPACES[@]}"; do ip netns del "$ns" 2>/dev/null; done
    if [ "$RUN_NETNS_MADE" = 1 ] && [ -z "$(ip netns list 2>/dev/null)" ]; then
        umount /run/netns 2>/dev/null && rmdir /run/netns 2>/dev/null
    fi
    return 0
}
trap netns_cleanup EXIT

# -- can this machine do it at all? Anything missing is a SKIP, not a failure.
skip_all() { skip "netns: $1"; exit 0; }
[ "$(id -u)" -eq 0 ] || skip_all "needs root (network namespaces, veths, mounts)"
command -v ip >/dev/null || skip_all "'ip' not found (Debian package iproute2; scripts/deps.sh installs it)"
command -v nsenter >/dev/null || skip_all "'nsenter' not found (Debian package util-linux)"
command -v ss >/dev/null || skip_all "'ss' not found (Debian package iproute2)"
mountpoint -q /run/netns 2>/dev/null || RUN_NETNS_MADE=1

section "network"
netns_add() {
    local err
    err=$(ip netns add "$1" 2>&1) || skip_all "cannot create a network namespace: $err"
    NAMESPACES+=("$1")
    ip -n "$1" link set lo up
    ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null
}
netns_add "$NS_BR"
err=$(ip -n "$NS_BR" link add br0 type bridge 2>&1) || skip_all "cannot create a bridge: $err"
ip -n "$NS_BR" link set br0 up
IP_A=10.213.0.1 IP_B=10.213.0.2 IP_C=10.213.0.3
for h in A B C; do
    ns=$TAG-$h ip_var=IP_$h
    netns_add "$ns"
    # Both ends are created inside their namespaces: nothing appears in the root one.
    err=$(ip link add "bfs$h" netns "$ns" type veth peer name "p$h" netns "$NS_BR" 2>&1) ||
        skip_all "cannot create a veth pair: $err"
    ip -n "$NS_BR" link set "p$h" master br0 up
    ip -n "$ns" addr add "${!ip_var}/24" dev "bfs$h"
    ip -n "$ns" link set "bfs$h" up
done
check "netns: host C has only lo and its veth" \
    test "$(ip -n "$NS_C" -o link show | awk -F': ' '{print $2}' | sed 's/@.*//' | sort | tr '\n' ' ')" = "bfsC lo "
check "netns: host C has no default route (nothing leaves the machine)" \
    test -z "$(ip -n "$NS_C" route show default)"
# A TCP connect to a closed port is refused (RST) once the hosts can reach
# each other: no ping needed.
reach() {   # reach NS IP: a TCP SYN from NS gets an answer from IP
    tmo 3 ip netns exec "$1" bash -c "exec 3<>/dev/tcp/$2/9" 2>&1 | grep -q "Connection refused"
}
check "netns: host C reaches host A over the bridge" wait_for 10 reach "$NS_C" "$IP_A"
check "netns: host C reaches host B over the bridge" wait_for 10 reach "$NS_C" "$IP_B"
check "netns: host A reaches host B over the bridge" wait_for 10 reach "$NS_A" "$IP_B"

# "${ON_X[@]}" CMD...: CMD on host X with UCX restricted to that host's veth.
# (`ip netns exec` and env exec: the PID of `"${ON_X[@]}" CMD &` is CMD's own.)
for h in A B C; do eval "ON_$h=(ip netns exec '$TAG-$h' env UCX_NET_DEVICES=bfs$h)"; done

# start_ns_server HOST DATA NODE: a server of the 2-node cluster on HOST.
start_ns_server() {
    local h=$1 data=$2 node=$3
    local -n on=ON_$h
    "${on[@]}" "$BIN/benchfs-server" --registry-dir "$REG" --data-dir "$data" \
        --nodes 2 --node-id "$node" --chunk-size 64K >"$data.log" 2>&1 &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    if ! wait_for $((20 * SLOW)) grep -q "Server is ready" "$data.log"; then
        echo "server on host $h did not start:"; cat "$data.log"; return 1
    fi
}

section "servers"
start_ns_server A "$DA" 0 || { fail "netns: server A (node 0) starts on host A"; finish; }
PID_A=$SERVER_PID
pass "netns: server A (node 0) starts on host A"
start_ns_server B "$DB" 1 || { fail "netns: server B (node 1) starts on host B"; finish; }
PID_B=$SERVER_PID
pass "netns: server B (node 1) starts on host B"
check "netns: both servers published (node-0.addr, node-1.addr)" \
    test -f "$REG/node-0.addr" -a -f "$REG/node-1.addr"
check "netns: server A runs in host A's network namespace" \
    test "$(readlink "/proc/$PID_A/ns/net")" = "$(ip netns exec "$NS_A" readlink /proc/self/ns/net)"
check "netns: server B runs in host B's network namespace" \
    test "$(readlink "/proc/$PID_B/ns/net")" = "$(ip netns exec "$NS_B" readlink /proc/self/ns/net)"

section "benchmark client on host C"
t0=$(now_ms)
tmo 90 "${ON_C[@]}" "$BIN/benchfs-bench" --mode client --registry-dir "$REG" --timeout 10 \
    --iterations 20 --warmup 2 --sizes 1024,4096 --show-server-counters >"$T/bench.out" 2>&1
rc=$?
bench_ms=$(($(now_ms) - t0))
check "netns: benchfs-bench --mode client on host C completes (${bench_ms} ms)" test "$rc" -eq 0
[ "$rc" -eq 0 ] || tail -20 "$T/bench.out"
awk '/^  [A-Z].*\(/ { sub(/^  /, ""); name = $0 } /Average:/ { avg = $2 " " $3 }
     /Throughput:/ { printf "  %-34s avg %-10s %s ops/s\n", name, avg, $2 } /^Server node/' "$T/bench.out"
# 22 creates + 2 x 22 files created and written + run dir + thread dir, 2 x 22 writes, 2 x 22 reads
sum_c=0 sum_w=0 sum_r=0
for node in 0 1; do
    line=$(grep "^Server node $node requests:" "$T/bench.out")
    c=$(echo "$line" | grep -o "CREATE [0-9]*" | awk '{print $2}')
    w=$(echo "$line" | grep -o "WRITE [0-9]*" | awk '{print $2}')
    r=$(echo "$line" | grep -o "READ [0-9]*" | awk '{print $2}')
    check "netns: server node $node got requests from host C (${c:-0} creates, ${w:-0} writes, ${r:-0} reads)" \
        test "${c:-0}" -gt 0 -a "${w:-0}" -gt 0 -a "${r:-0}" -gt 0
    sum_c=$((sum_c + ${c:-0})) sum_w=$((sum_w + ${w:-0})) sum_r=$((sum_r + ${r:-0}))
done
check "netns: every create, write and read reached a server ($sum_c/68, $sum_w/44, $sum_r/44)" \
    test "$sum_c" -eq 68 -a "$sum_w" -eq 44 -a "$sum_r" -eq 44

if [ ! -c /dev/fuse ] || ! command -v fusermount3 >/dev/null; then
    skip "netns: FUSE mount on host C (no /dev/fuse or fusermount3)"
    stop_server "$PID_B" TERM; stop_server "$PID_A" TERM
    finish
fi

section "FUSE mount on host C"
# benchfs-fuse -f in the background: its PID is known, and `ip netns exec`
# gives it a mount namespace of its own (a copy of the root one, not
# propagated back): the mount lives there, and only there.
mkdir -p "$MNT"
txC0=$(ip netns exec "$NS_C" cat /sys/class/net/bfsC/statistics/tx_bytes)
"${ON_C[@]}" "$BIN/benchfs-fuse" "$MNT" --registry-dir "$REG" --timeout 10 --rpc-timeout "$RPC_TMO" -f \
    >"$T/fuse.log" 2>&1 &
FPID=$!
FUSE_PIDS+=("$FPID")
in_fuse_ns() { grep -qF " $MNT fuse.benchfs " "/proc/$FPID/mounts"; }
if ! wait_for $((20 * SLOW)) in_fuse_ns; then
    fail "netns: benchfs-fuse mounts on host C"; cat "$T/fuse.log"; finish
fi
pass "netns: benchfs-fuse mounts on host C"
check "netns: the mount is in benchfs-fuse's own mount namespace, not the root one" \
    eval "test \"\$(readlink /proc/$FPID/ns/mnt)\" != \"\$(readlink /proc/self/ns/mnt)\" && ! grep -qF ' $MNT ' /proc/self/mounts"
check "netns: a new 'ip netns exec' on host C does not see it either (fresh mount namespace)" \
    eval "! ip netns exec '$NS_C' grep -qF ' $MNT ' /proc/self/mounts"
# onC CMD...: CMD in the mount's mount namespace (and host C's network one).
onC() { tmo 20 nsenter -t "$FPID" -m -n -- "$@"; }

# 16 small files (inline in their owner's LMDB) and 6 of 200000 bytes (4 chunks
# of 64 KiB each, spread by hash), written on host C.
mkdir -p "$T/src"
for i in $(seq -w 0 15); do head -c 4096 /dev/urandom >"$T/src/s$i"; done
for i in 0 1 2 3 4 5; do head -c 200000 /dev/urandom >"$T/src/big$i"; done
(cd "$T/src" && sha256sum -- *) >"$T/sums"
check "netns: files written on host C" onC cp "$T"/src/* "$MNT/"
txC1=$(ip netns exec "$NS_C" cat /sys/class/net/bfsC/statistics/tx_bytes)
check "netns: the data left host C through its veth ($((txC1 - txC0)) bytes sent, >= 1265536)" \
    test $((txC1 - txC0)) -ge $((16 * 4096 + 6 * 200000))
# open drops the file's cached pages (close-to-open): these reads come from the servers
check "netns: files read back on host C match (sha256)" onC sh -c "cd '$MNT' && sha256sum --quiet -c '$T/sums'"

# An inode number carries its owner's node id in its top 16 bits.
OWN_A=() OWN_B=()
for i in $(seq -w 0 15); do
    ino=$(onC stat -c %i "$MNT/s$i") || continue
    if [ $((ino >> 48)) -eq 0 ]; then OWN_A+=("s$i"); else OWN_B+=("s$i"); fi
done
echo "small files owned by A: ${OWN_A[*]}; by B: ${OWN_B[*]}"
check "netns: files land on both servers (${#OWN_A[@]} owned by A, ${#OWN_B[@]} by B)" \
    test "${#OWN_A[@]}" -gt 0 -a "${#OWN_B[@]}" -gt 0
ca=$(find "$DA/chunks" -type f | wc -l) cb=$(find "$DB/chunks" -type f | wc -l)
check "netns: chunk files on both servers' disks (A $ca, B $cb)" test "$ca" -gt 0 -a "$cb" -gt 0

# The traffic is TCP between the hosts' addresses: the servers hold connections
# with host C's address (and C with theirs).
tcp_peers() { ip netns exec "$1" ss -tnH state established | awk '{print $4}' | sed 's/:[0-9]*$//' | sort -u; }
check "netns: server A has TCP connections with host C" eval "tcp_peers '$NS_A' | grep -qx '$IP_C'"
check "netns: server B has TCP connections with host C" eval "tcp_peers '$NS_B' | grep -qx '$IP_C'"
check "netns: host C has TCP connections with A and B" \
    eval "tcp_peers '$NS_C' | grep -qx '$IP_A' && tcp_peers '$NS_C' | grep -qx '$IP_B'"

section "server B killed"
errs="Input/output error|Transport endpoint is not connected"
# dead_op NAME CMD...: fails with EIO/ENOTCONN within the mount's --rpc-timeout
dead_op() {
    local n=$1 t0 ms rc; shift
    t0=$(now_ms)
    timeout -k 5 $((10 * SLOW + RPC_TMO)) nsenter -t "$FPID" -m -n -- "$@" >"$T/out" 2>&1; rc=$?
    ms=$(($(now_ms) - t0))
    if [ "$rc" -eq 0 ]; then fail "$n: succeeded with server B dead"
    elif [ "$rc" -ge 124 ]; then fail "$n: hung (killed after $((10 * SLOW + RPC_TMO)) s)"
    elif ! grep -Eq "$errs" "$T/out"; then fail "$n: wrong error: $(cat "$T/out")"
    elif [ "$ms" -gt $((RPC_TMO * 1000 + 1000 * SLOW)) ]; then fail "$n: took ${ms} ms (--rpc-timeout $RPC_TMO)"
    else pass "$n: $(grep -Eo "$errs" "$T/out" | head -n 1) after ${ms} ms"
    fi
}
if [ "${#OWN_A[@]}" -gt 0 ] && [ "${#OWN_B[@]}" -gt 0 ]; then
    FA=${OWN_A[0]} FB=${OWN_B[0]}
    kill -KILL "$PID_B"; wait "$PID_B" 2>/dev/null
    sleep 1.2   # entry/attr timeouts: nothing is answered from the kernel's cache
    dead_op "netns: B dead: reading a file owned by B fails" cat "$MNT/$FB"
    dead_op "netns: B dead: stat of a file owned by B fails" stat "$MNT/$FB"
    dead_op "netns: B dead: listing the root (entries on both) fails" ls "$MNT/"
    check "netns: B dead: a file owned by A reads back intact" \
        eval "onC cat '$MNT/$FA' | cmp -s - '$T/src/$FA'"
    check "netns: B dead: every file owned by A reads back intact" \
        onC sh -c "cd '$MNT' && grep -E ' ($(echo "${OWN_A[@]}" | tr ' ' '|'))\$' '$T/sums' | sha256sum --quiet -c -"
    head -c 4096 /dev/urandom >"$T/newA"
    check "netns: B dead: a file owned by A can be rewritten and read back" \
        onC sh -c "cat '$T/newA' >'$MNT/$FA' && cmp -s '$T/newA' '$MNT/$FA'"
    cp "$T/newA" "$T/src/$FA"
    # New names go to A or B by hash: those on A are created, those on B fail.
    made=0 refused=0 bad=
    for i in $(seq 0 11); do
        if onC touch "$MNT/new$i" 2>"$T/out"; then made=$((made + 1))
        elif grep -Eq "$errs" "$T/out"; then refused=$((refused + 1))
        else bad="$bad $(cat "$T/out")"
        fi
    done
    check "netns: B dead: creates routed to A work, to B fail ($made made, $refused EIO/ENOTCONN${bad:+, other:$bad})" \
        test "$made" -gt 0 -a "$refused" -gt 0 -a -z "$bad"

    section "server B restarted"
    start_ns_server B "$DB" 1 || { fail "netns: server B restarts on host B"; finish; }
    PID_B=$SERVER_PID
    pass "netns: server B restarts on host B (stale node-1.addr replaced)"
    check "netns: B back: the mount reconnects and reads B's file" \
        wait_for $((20 * SLOW)) eval "onC cat '$MNT/$FB' | cmp -s - '$T/src/$FB'"
    (cd "$T/src" && sha256sum -- *) >"$T/sums"
    check "netns: B back: every file reads back intact (sha256)" onC sh -c "cd '$MNT' && sha256sum --quiet -c '$T/sums'"
    check "netns: B back: every new name can be created" \
        onC sh -c "cd '$MNT' && for i in \$(seq 0 11); do touch new\$i || exit 1; done"
    check "netns: B back: the listing is complete (22 + 12 names)" test "$(onC ls "$MNT" | wc -l)" -eq 34
else
    fail "netns: server kill test needs files on both servers"
fi

section "stop"
check "netns: fusermount3 -u inside the mount's namespace" onC fusermount3 -u "$MNT"
check "netns: benchfs-fuse exits after the unmount" wait_for $((10 * SLOW)) gone "$FPID"
wait "$FPID" 2>/dev/null
stop_server "$PID_B" TERM; check "netns: server B stops cleanly" test ! -e "$REG/node-1.addr"
stop_server "$PID_A" TERM; check "netns: server A stops cleanly" test ! -e "$REG/node-0.addr"
echo "# done (at ${SECONDS}s)"
finish
