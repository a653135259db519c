#!/usr/bin/env bash
# Servers placed by a launcher's environment (as srun and mpirun set it): node id
# and cluster size without flags, one --data-dir template (%r, %h) for all, a
# client that waits for every node, and SIGTERM to the whole step removing every
# registry file. (tests/system/jobkit.sh runs the same under real srun/mpirun.)
source "$(dirname "$0")/lib.sh"

REG=$T/reg
host=$(hostname)
# start_env K N VARS...: node K of N placed by the given variables only.
start_env() {
    local k=$1; shift
    env "$@" "$BIN/benchfs-server" --registry-dir "$REG" --data-dir "$T/data-%h-%r" \
        --chunk-size 64K >"$T/srv$k.log" 2>&1 &
    SERVER_PIDS+=("$!")
}
start_env 0 SLURM_PROCID=0 SLURM_NTASKS=3
start_env 1 OMPI_COMM_WORLD_RANK=1 OMPI_COMM_WORLD_SIZE=3 SLURM_PROCID=0 SLURM_NTASKS=1
start_env 2 PMI_RANK=2 PMI_SIZE=3
for k in 0 1 2; do
    wait_for 20 grep -q "Server is ready" "$T/srv$k.log" || { cat "$T/srv$k.log"; fail "launch: node $k starts"; finish; }
done
check "launch: each server took its place from the launcher" \
    test -f "$REG/node-0.addr" -a -f "$REG/node-1.addr" -a -f "$REG/node-2.addr"
check "launch: the startup lines say where the place came from" \
    grep -q "Node: *1 of 3 (from OMPI_COMM_WORLD_RANK/SIZE)" "$T/srv1.log"
check "launch: --data-dir %h and %r expanded" test -d "$T/data-$host-0" -a -d "$T/data-$host-2"

timeout 60 "$BIN/benchfs-bench" --mode client --registry-dir "$REG" --iterations 30 --warmup 0 \
    --sizes 4096,200000 --show-server-counters >"$T/bench.out" 2>&1
check "launch: a client works with the 3-node cluster" grep -q "^Server node 2 requests:" "$T/bench.out"

# A broken launcher environment is refused with the variable named.
env SLURM_PROCID=3 SLURM_NTASKS=3 "$BIN/benchfs-server" --registry-dir "$T/r2" --data-dir "$T/x" >"$T/bad.out" 2>&1
rc=$?
check "launch: rank not below size refused (exit $rc)" test "$rc" -eq 2
check "launch: ... naming the variables" grep -q "SLURM_PROCID=3 is not below SLURM_NTASKS=3" "$T/bad.out"
env "$BIN/benchfs-server" --registry-dir "$T/r2" --data-dir "$T/x-%z" >"$T/bad2.out" 2>&1
check "launch: unknown %-sequence in --data-dir refused" grep -q "unknown %z" "$T/bad2.out"

# Flags still win over the environment.
env SLURM_PROCID=0 SLURM_NTASKS=3 timeout 5 "$BIN/benchfs-server" --registry-dir "$T/r3" \
    --data-dir "$T/y" --nodes 1 --node-id 0 >"$T/flags.out" 2>&1 &
SERVER_PIDS+=("$!")
wait_for 20 grep -q "Server is ready" "$T/flags.out"
check "launch: --nodes/--node-id win over the launcher" test -f "$T/r3/server.addr"
stop_server "${SERVER_PIDS[-1]}"

# What srun and mpirun do at the end of a step: SIGTERM to every task at once.
kill -TERM "${SERVER_PIDS[0]}" "${SERVER_PIDS[1]}" "${SERVER_PIDS[2]}"
for k in 0 1 2; do
    wait_for 20 grep -q "Server stopped." "$T/srv$k.log" || fail "launch: node $k stops on SIGTERM"
done
check "launch: SIGTERM to the step leaves no registry file" test -z "$(ls "$REG"/*.addr 2>/dev/null)"
finish
