# tests/system/lib.sh - sourced by system tests: temporary directories, servers
# and mounts that are always stopped and unmounted when the test exits, however
# it exits. Every wait is bounded.
set -u
BUILD=${BUILD:-build}
BIN=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/$BUILD
T=$(mktemp -d /tmp/benchfs-test.XXXXXX)
SERVER_PIDS=()
MOUNTS=()
FUSECTL_MOUNTED=0
t_pass=0 t_fail=0
# Sanitizer reports of every process a test starts land in $T/san.*; any is a failure.
export ASAN_OPTIONS="log_path=$T/san:detect_leaks=1:abort_on_error=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="log_path=$T/san:print_stacktrace=1:halt_on_error=1"
# Third-party leaks we cannot fix (each explained in the file); a suppressed one
# writes no report (print_suppressions=0), so it is not counted as one.
export LSAN_OPTIONS="suppressions=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

# tests/run.sh's preload suite sets TEST_PRELOAD (build/libbenchfs-preload.so):
# then the test's own programs run under it (LD_PRELOAD), the servers and the
# mount daemons without (start_one, mount_fs). Programs that load UCX
# themselves (test_fuse) need UCX_MEM_EVENTS=no for the preload library to see
# their mmap calls (docs/DESIGN.md "The preload library").
if [ -n "${TEST_PRELOAD:-}" ]; then
    export LD_PRELOAD=$TEST_PRELOAD UCX_MEM_EVENTS=no
fi
# NO_PRELOAD CMD...: CMD without the preload library (servers, mount daemons).
# (env execs CMD: a background one's $! is CMD's pid.)
NO_PRELOAD=(env -u LD_PRELOAD -u UCX_MEM_EVENTS)

cleanup() {
    local m p
    for m in "${MOUNTS[@]}"; do
        fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
    done
    for p in "${SERVER_PIDS[@]}"; do
        kill -TERM "$p" 2>/dev/null
    done
    for p in "${SERVER_PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
    [ "$FUSECTL_MOUNTED" = 1 ] && umount /sys/fs/fuse/connections 2>/dev/null
    if compgen -G "$T/san.*" >/dev/null; then
        cat "$T"/san.*
        echo "FAIL: sanitizer reports in $(basename "$0")"
    fi
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

pass() { echo "PASS: $1"; t_pass=$((t_pass + 1)); }
fail() { echo "FAIL: $1"; t_fail=$((t_fail + 1)); }
skip() { echo "SKIP: $1"; }
# check NAME CMD...: runs CMD, PASS if it exits 0.
check() { local n=$1; shift; if "$@"; then pass "$n"; else fail "$n"; fi; }
finish() { [ "$t_fail" -eq 0 ]; exit $?; }

# wait_for SECONDS CMD...: polls CMD until it succeeds or time runs out.
wait_for() {
    local limit=$1; shift
    local end=$((SECONDS + limit))
    until "$@" 2>/dev/null; do
        [ "$SECONDS" -ge "$end" ] && return 1
        sleep 0.05
    done
}

# start_server REG DATA [flags...]: starts benchfs-server, waits until it is ready.
# Sets SERVER_PID. Output goes to DATA.log. With NODES=N (N > 1) in the
# environment and no --nodes flag, starts a cluster of N servers instead (data
# dirs DATA, DATA.1, ...; SERVER_PID is node 0's, CLUSTER_PIDS all): a suite
# written for one server then runs unchanged on N.
start_server() {
    local reg=$1 data=$2; shift 2
    if [ "${NODES:-1}" -gt 1 ] && [[ " $* " != *" --nodes "* ]]; then
        start_cluster "$reg" "$data" "$NODES" "$@"
        return
    fi
    start_one "$reg" "$data" "$@"
}

start_one() {
    local reg=$1 data=$2; shift 2
    mkdir -p "$(dirname "$data")"
    # Emptied here, not only by the redirection below: that one happens in the
    # child, maybe after wait_for has found the last run's "Server is ready".
    : >"$data.log"
    "${NO_PRELOAD[@]}" "$BIN/benchfs-server" --registry-dir "$reg" --data-dir "$data" "$@" >"$data.log" 2>&1 &
    SERVER_PID=$!
    SERVER_PIDS+=("$SERVER_PID")
    if ! wait_for 20 grep -q "Server is ready" "$data.log"; then
        echo "server did not start:"; cat "$data.log"; return 1
    fi
}

# start_cluster REG DATA N [flags...]: N servers (node K's data dir DATA for K 0,
# DATA.K otherwise). CLUSTER_PIDS gets their pids by node; SERVER_PID is node 0's.
start_cluster() {
    local reg=$1 data=$2 n=$3 k d; shift 3
    CLUSTER_PIDS=()
    for ((k = 0; k < n; k++)); do
        d=$data; [ "$k" -gt 0 ] && d=$data.$k
        start_one "$reg" "$d" --nodes "$n" --node-id "$k" "$@" || return 1
        CLUSTER_PIDS+=("$SERVER_PID")
    done
    SERVER_PID=${CLUSTER_PIDS[0]}
}

# A server drains its requests for up to 10 s (DRAIN_TIMEOUT_S) before it stops,
# so a stop is given 30 s before it counts as a hang.
stop_server() {   # stop_server PID [SIGNAL]
    kill "-${2:-TERM}" "$1" 2>/dev/null
    for _ in $(seq 300); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null; return 1
}

# mount_fs REG MNT [flags...]: mounts benchfs-fuse (it returns once mounted).
mount_fs() {
    local reg=$1 mnt=$2; shift 2
    mkdir -p "$mnt"
    MOUNTS+=("$mnt")
    "${NO_PRELOAD[@]}" timeout 60 "$BIN/benchfs-fuse" "$mnt" --registry-dir "$reg" --timeout 10 "$@" || return 1
    wait_for 10 mountpoint -q "$mnt"
}

umount_fs() { fusermount3 -u "$1"; }

# need_fusectl: the kernel's FUSE control file system (/sys/fs/fuse/connections:
# each mount's count of requests in flight), mounted for the test if it is not.
need_fusectl() {
    grep -q " /sys/fs/fuse/connections fusectl " /proc/mounts && return 0
    mount -t fusectl fusectl /sys/fs/fuse/connections || return 1
    FUSECTL_MOUNTED=1
}
