#!/usr/bin/env bash
# The job kit (scripts/slurm/) for real: a one-node Slurm (munge, slurmctld,
# slurmd from Debian's slurm-wlm, a generated slurm.conf, own ports and munge
# socket) runs the kit's batch script with 3 servers, a mount, stage in, an
# application on 3 tasks and stage out; a bare `srun -n 3 benchfs-server` step
# stopped with SIGTERM leaves no registry file; and the same kit with mpirun -np 3
# (Debian's openmpi-bin). Each checks that 3 servers registered, the data came
# back byte for byte, and every server, mount and daemon stopped. Everything
# started here is stopped when the test ends, however it ends.
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
KIT=$ROOT/scripts/slurm
SL=$T/slurm
DAEMONS=()      # munged, slurmctld, slurmd
KIT_REGS=()     # registries a kit may still run on

jk_cleanup() {
    local r p
    for r in "${KIT_REGS[@]}"; do
        [ -f "$r/kit.env" ] && timeout 60 "$KIT/benchfs-stop" --registry "$r" --timeout 20 >/dev/null 2>&1
    done
    [ -n "${SLURM_CONF:-}" ] && timeout 10 scancel --full --quiet --user=root >/dev/null 2>&1
    for p in "${DAEMONS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${DAEMONS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
    cleanup
}
trap jk_cleanup EXIT

# The input of the jobs: small files, one of 3 MB.
mkdir -p "$T/pfs/in/sub"
for i in $(seq 40); do head -c $((i * 997)) /dev/urandom >"$T/pfs/in/sub/f$i"; done
head -c 3000000 /dev/urandom >"$T/pfs/in/big"
ln -s sub/f1 "$T/pfs/in/link"
# The application: every task copies the input to output/task-RANK.
cat >"$T/app.sh" <<'EOF2'
#!/bin/bash
set -e
rank=${SLURM_PROCID:-${OMPI_COMM_WORLD_RANK:-0}}
mkdir -p "$BENCHFS_MNT/output"
cp -a "$BENCHFS_MNT/input" "$BENCHFS_MNT/output/task-$rank"
echo "app task $rank: $(find "$BENCHFS_MNT/output/task-$rank" -type f | wc -l) files"
EOF2
chmod +x "$T/app.sh"

# server_pids REG: the pids the servers logged (benchfs-server[PID] in their log files).
server_pids() { grep -ho "benchfs-server\[[0-9]*\]" "$1"/logs/server-*.log 2>/dev/null | tr -dc '0-9\n' | sort -u; }
# all_stopped NAME REG MNT: no server alive, no registry file, no mount.
all_stopped() {
    local name=$1 reg=$2 mnt=$3 p alive=0
    for p in $(server_pids "$reg"); do kill -0 "$p" 2>/dev/null && alive=$((alive + 1)); done
    check "$name: every server process ended" test "$alive" -eq 0
    check "$name: no registry file left" test -z "$(ls "$reg"/*.addr 2>/dev/null)"
    check "$name: not mounted any more" eval "! mountpoint -q '$mnt'"
}
# same_output NAME OUT: every task's copy equals the input, byte for byte.
same_output() {
    local name=$1 out=$2 k
    for k in 0 1 2; do
        check "$name: task $k's output staged out byte for byte" diff -r "$T/pfs/in" "$out/task-$k"
    done
}

# ---- mpirun ----
if command -v mpirun >/dev/null; then
    R=$T/mpi/reg M=$T/mpi/mnt
    KIT_REGS+=("$R")
    export BENCHFS_BIN=$BIN BENCHFS_LAUNCHER=mpirun BENCHFS_SERVERS=3 BENCHFS_NODES=1 BENCHFS_REGISTRY=$R \
           BENCHFS_DATA=$T/mpi/data-%r BENCHFS_MNT=$M BENCHFS_TIMEOUT=60 \
           BENCHFS_LAUNCHER_OPTS="--allow-run-as-root --oversubscribe"
    timeout 120 "$KIT/benchfs-start" >"$T/mpi.start" 2>&1
    rc=$?
    cat "$T/mpi.start"
    check "mpirun: benchfs-start exits 0" test "$rc" -eq 0
    check "mpirun: 3 servers registered, node ids from OMPI_COMM_WORLD_RANK" \
        grep -q "3 servers, 3 up" "$T/mpi.start"
    check "mpirun: mounted" mountpoint -q "$M"
    timeout 120 "$BIN/benchfs-stage" in "$T/pfs/in" "$M/input" >"$T/mpi.in" 2>&1
    check "mpirun: stage in" grep -q " 0 failed" "$T/mpi.in"
    BENCHFS_MNT=$M timeout 120 mpirun --allow-run-as-root --oversubscribe -np 3 -x BENCHFS_MNT "$T/app.sh" \
        </dev/null >"$T/mpi.app" 2>&1
    check "mpirun: the application ran on 3 ranks" test "$(grep -c "app task" "$T/mpi.app")" -eq 3
    timeout 120 "$KIT/benchfs-stop" --registry "$R" --stage-out "$M/output" "$T/mpi/out" --clean >"$T/mpi.stop" 2>&1
    rc=$?
    cat "$T/mpi.stop"
    check "mpirun: benchfs-stop exits 0" test "$rc" -eq 0
    same_output mpirun "$T/mpi/out"
    all_stopped mpirun "$R" "$M"
    check "mpirun: data dirs removed (--clean)" test -z "$(ls -d "$T"/mpi/data-* 2>/dev/null)"
    unset BENCHFS_BIN BENCHFS_LAUNCHER BENCHFS_SERVERS BENCHFS_NODES BENCHFS_REGISTRY BENCHFS_DATA BENCHFS_MNT \
          BENCHFS_TIMEOUT BENCHFS_LAUNCHER_OPTS
    echo "jobkit: mpirun part done after ${SECONDS} s"
else
    skip "mpirun: mpirun not installed (Debian package openmpi-bin)"
fi

# ---- Slurm ----
slurm_skip() { skip "slurm: $*"; finish; }
for p in munged slurmctld slurmd sbatch srun squeue scancel sinfo; do
    command -v "$p" >/dev/null || PATH=$PATH:/usr/sbin command -v "$p" >/dev/null ||
        slurm_skip "$p not installed (Debian packages slurm-wlm and munge)"
done
PATH=$PATH:/usr/sbin
mkdir -p "$SL/state" "$SL/spool" "$SL/munge" && chmod 700 "$SL/munge"
# munge: its own key and socket, so nothing of the machine's is touched.
dd if=/dev/urandom of="$SL/munge/key" bs=1024 count=1 status=none && chmod 600 "$SL/munge/key"
munged --force --foreground --socket="$SL/munge/sock" --key-file="$SL/munge/key" \
    --pid-file="$SL/munge/pid" --log-file="$SL/munge/log" --seed-file="$SL/munge/seed" >"$SL/munge/out" 2>&1 &
DAEMONS+=("$!")
wait_for 10 test -S "$SL/munge/sock" || slurm_skip "munged did not start: $(tail -3 "$SL/munge/log" "$SL/munge/out" 2>&1)"
read -r P1 P2 < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
H=$(hostname -s)
cat >"$SL/slurm.conf" <<EOF2
ClusterName=benchfstest
SlurmctldHost=$H
SlurmctldPort=$P1
SlurmdPort=$P2
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SL/munge/sock
StateSaveLocation=$SL/state
SlurmdSpoolDir=$SL/spool
SlurmctldPidFile=$SL/slurmctld.pid
SlurmdPidFile=$SL/slurmd.pid
SlurmctldLogFile=$SL/slurmctld.log
SlurmdLogFile=$SL/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SlurmdParameters=config_overrides
NodeName=$H CPUs=8 State=UNKNOWN
PartitionName=test Nodes=ALL Default=YES MaxTime=30 State=UP
EOF2
export SLURM_CONF=$SL/slurm.conf
slurmctld -D -i >"$SL/slurmctld.out" 2>&1 &
DAEMONS+=("$!")
slurmd -D >"$SL/slurmd.out" 2>&1 &
DAEMONS+=("$!")
wait_for 30 bash -c '[ "$(sinfo -h -o %T 2>/dev/null)" = idle ]' ||
    slurm_skip "the one-node cluster did not come up (sinfo: $(sinfo -h -o '%T %E' 2>&1 | head -1));" \
               "slurmd: $(tail -3 "$SL/slurmd.log" "$SL/slurmd.out" 2>&1 | tr '\n' ' ')"
pass "slurm: munged, slurmctld and slurmd up"
echo "jobkit: Slurm up after ${SECONDS} s"

# A bare step of 3 servers placed by srun, stopped with SIGTERM to the step.
R=$T/srun/reg
timeout 60 srun -n 3 --job-name=bare-servers "$BIN/benchfs-server" --registry-dir "$R" \
    --data-dir "$T/srun/data-%r" >"$T/srun.out" 2>&1 &
srun_pid=$!
wait_for 30 test -f "$R/node-2.addr" -a -f "$R/node-1.addr" -a -f "$R/node-0.addr"
check "srun: 3 servers registered with node ids from SLURM_PROCID" test -f "$R/node-2.addr"
timeout 10 "$BIN/benchfs-status" --registry-dir "$R" >"$T/srun.status" 2>&1
check "srun: all 3 answer" grep -q "3 servers, 3 up" "$T/srun.status"
step=$(squeue --steps -h -o "%i %j" | awk '$2 == "bare-servers" { print $1; exit }')
[ -n "$step" ] && scancel --signal=TERM "$step"
wait_for 30 eval "! kill -0 $srun_pid"
check "srun: SIGTERM to the step ($step) stops all 3 servers" test "$(grep -c "Server stopped" "$T/srun.out")" -eq 3
check "srun: ... and removes every registry file" test -z "$(ls "$R"/*.addr 2>/dev/null)"

echo "jobkit: bare srun step done after ${SECONDS} s"

# The kit's batch script: start, stage in, application, stage out, stop.
R=$T/job/reg M=$T/job/mnt
KIT_REGS+=("$R")
# (sbatch --wait polls with growing pauses, seconds after the job ended: poll scontrol instead.)
job=$(timeout 30 sbatch --parsable -o "$T/job.out" -N 1 --ntasks-per-node=3 --time=5 \
    --export=ALL,BENCHFS_BIN="$BIN",BENCHFS_KIT="$KIT",BENCHFS_REGISTRY="$R",BENCHFS_DATA="$T/job/data-%r",BENCHFS_MNT="$M",BENCHFS_SERVERS=3,BENCHFS_TIMEOUT=60,BENCHFS_STAGE_IN="$T/pfs/in input",BENCHFS_STAGE_OUT="output $T/job/out" \
    "$KIT/benchfs.sbatch" "$T/app.sh" 2>"$T/sbatch.err")
job_state() { scontrol show job -o "$job" 2>/dev/null | grep -o "JobState=[A-Z_]*" | cut -d= -f2; }
ended() { case $(job_state) in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY|BOOT_FAIL|DEADLINE) return 0 ;; esac; return 1; }
[ -n "$job" ] && wait_for 150 ended
state=$(job_state)
cat "$T/sbatch.err" "$T/job.out"
scontrol show job -o "$job" 2>/dev/null | grep -o "StartTime=[^ ]* EndTime=[^ ]*"
check "slurm: the batch job $job completed (state ${state:-none})" test "$state" = COMPLETED
check "slurm: 3 servers registered" grep -q "3 servers, 3 up" "$T/job.out"
check "slurm: mounted" grep -q "BenchFS is up" "$T/job.out"
check "slurm: staged in" grep -q "benchfs-stage in: .* 0 failed" "$T/job.out"
check "slurm: the application ran on 3 tasks" test "$(grep -c "app task" "$T/job.out")" -eq 3
check "slurm: staged out" grep -q "benchfs-stage out: .* 0 failed" "$T/job.out"
same_output slurm "$T/job/out"
all_stopped slurm "$R" "$M"
check "slurm: no job step left" test -z "$(squeue -h 2>/dev/null)"
echo "jobkit: batch job done after ${SECONDS} s"
finish
