#!/usr/bin/env bash
# bench/scale/run-scale.sh - scale-out on one host (issue 12): clusters of 1, 2
# and 4 benchfs-servers (one registry, a data dir each), one benchfs-bench client
# with 4 threads over RPC. Per phase (create, write4k, read4k):
#   ops/s                 from benchfs-bench --json
#   CPU per request       of each server: its threads' time on a CPU in ns
#                         (/proc/PID/task/*/schedstat; /proc/PID/stat's 10 ms
#                         ticks are too coarse for a 20 % criterion) at the
#                         phase's begin and end (benchfs-bench --phase-hook),
#                         divided by the requests that server served meanwhile
#                         (its request counters, passed to the hook)
#   spread                max/min of the per-server request counts (<= 1.2 wanted)
#   CPU/op vs 1 server    the servers' mean CPU per request over the 1-server
#                         figure of the same run (within 20 % wanted)
# Readdir fan-out is reported on its own (a listing asks every server): the
# servers' total CPU per listing of a 1000-entry directory through a mount.
# Idle: a server and a mount doing nothing for 5 s (CPU time delta, ~0 wanted).
# Output: a table on stdout and $BUILD/bench/scale.json. Exit 1 if a measurement
# failed (the wanted figures are reported, not enforced: the machine is shared).
#   bench/scale/run-scale.sh [--quick] [--iterations N] [--servers "1 2 4"]
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BUILD=${BUILD:-build}
BIN=$ROOT/$BUILD
OUT=$ROOT/$BUILD/bench
ITER=2000 SERVERS="1 2 4" LISTINGS=20 IDLE_S=5
while [ $# -gt 0 ]; do
    case $1 in
    --quick) ITER=500 LISTINGS=5 ;;
    --iterations) ITER=${2:-}; shift ;;
    --servers) SERVERS=${2:-}; shift ;;
    -h|--help) sed -n 2,22p "$0"; exit 0 ;;
    *) echo "usage: bench/scale/run-scale.sh [--quick] [--iterations N] [--servers \"1 2 4\"]" >&2; exit 2 ;;
    esac
    shift
done
case $ITER in ''|*[!0-9]*) echo "run-scale.sh: not a number: '$ITER'" >&2; exit 2 ;; esac
for p in benchfs-server benchfs-bench benchfs-fuse; do
    [ -x "$BIN/$p" ] || { echo "run-scale.sh: $BIN/$p missing: run make first" >&2; exit 1; }
done
mkdir -p "$OUT"
W=$(mktemp -d "${TMPDIR:-/tmp}/benchfs-scale.XXXXXX") || exit 1
PIDS=() MNTS=()
cleanup() {
    local m p
    for m in "${MNTS[@]}"; do fusermount3 -u "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null
    done
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
FAILED=0
log() { echo "run-scale: $*" >&2; }

# cpu_ns PID: the CPU time of PID's threads in ns (schedstat's first field).
cpu_ns() { awk '{ s += $1 } END { printf "%d\n", s }' /proc/"$1"/task/*/schedstat; }

# start_servers N: a cluster of N in $W/reg.N; CL_PIDS gets their pids.
start_servers() {
    local n=$1 k
    CL_PIDS=()
    for ((k = 0; k < n; k++)); do
        "$BIN/benchfs-server" --registry-dir "$W/reg.$n" --data-dir "$W/data.$n.$k" \
            --nodes "$n" --node-id "$k" >"$W/server.$n.$k.log" 2>&1 &
        CL_PIDS+=($!) PIDS+=($!)
    done
    for ((k = 0; k < n; k++)); do
        local i
        for i in $(seq 200); do grep -q "Server is ready" "$W/server.$n.$k.log" && break; sleep 0.1; done
        grep -q "Server is ready" "$W/server.$n.$k.log" || { log "server $k of $n did not start"; cat "$W/server.$n.$k.log" >&2; return 1; }
    done
}
stop_pids() {
    local p
    for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
    for p in "$@"; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$p" 2>/dev/null || true   # gone already: the usual case
    done
    return 0
}

# The phase hook: "phase begin|end count0 count1 ..." -> one line per call with
# the servers' CPU ns appended (SCALE_PIDS, SCALE_LOG from the environment).
cat >"$W/hook.sh" <<'HOOK'
#!/usr/bin/env bash
cpu=""
for p in $SCALE_PIDS; do
    cpu="$cpu $(awk '{ s += $1 } END { printf "%d\n", s }' /proc/"$p"/task/*/schedstat)"
done
echo "$* |$cpu" >>"$SCALE_LOG"
HOOK
chmod +x "$W/hook.sh"

for n in $SERVERS; do
    log "$n server(s): benchfs-bench --threads 4 --iterations $ITER"
    start_servers "$n" || { FAILED=1; continue; }
    SCALE_PIDS="${CL_PIDS[*]}" SCALE_LOG="$W/phases.$n" timeout 600 "$BIN/benchfs-bench" --mode client \
        --registry-dir "$W/reg.$n" --threads 4 --iterations "$ITER" --warmup 50 --sizes 4096 \
        --show-server-counters --phase-hook "$W/hook.sh" --json "$W/bench.$n.json" >"$W/bench.$n.out" 2>&1 ||
        { log "benchfs-bench on $n servers failed:"; cat "$W/bench.$n.out" >&2; FAILED=1; }
    # readdir fan-out: a directory of 1000 entries listed through a mount
    m=$W/mnt.$n
    mkdir -p "$m"
    if timeout 60 "$BIN/benchfs-fuse" "$m" --registry-dir "$W/reg.$n" --timeout 10 \
        -o entry_timeout=0,attr_timeout=0 >"$W/fuse.$n.log" 2>&1; then
        MNTS+=("$m")
        mkdir "$m/d" && (cd "$m/d" && seq 1000 | xargs touch) || FAILED=1
        before=""; for p in "${CL_PIDS[@]}"; do before="$before $(cpu_ns "$p")"; done
        t0=$(date +%s.%N)
        for ((i = 0; i < LISTINGS; i++)); do ls -f "$m/d" | wc -l >"$W/ls.$n"; done
        t1=$(date +%s.%N)
        after=""; for p in "${CL_PIDS[@]}"; do after="$after $(cpu_ns "$p")"; done
        echo "$LISTINGS $(cat "$W/ls.$n") $t0 $t1 |$before |$after" >"$W/readdir.$n"
        fusermount3 -u "$m"
    else
        log "mount of $n servers failed"; cat "$W/fuse.$n.log" >&2; FAILED=1
    fi
    stop_pids "${CL_PIDS[@]}"
done

# idle: one server and one mount, nothing to do for IDLE_S seconds
log "idle: a server and a mount doing nothing for ${IDLE_S} s"
start_servers 1 && {
    m=$W/mnt.idle
    mkdir -p "$m"
    timeout 60 "$BIN/benchfs-fuse" "$m" --registry-dir "$W/reg.1" --timeout 10 >"$W/fuse.idle.log" 2>&1 &&
        MNTS+=("$m")
    fpid=$(pgrep -n -f "benchfs-fuse $m" || true)
    ls "$m" >/dev/null 2>&1
    sleep 1
    s0=$(cpu_ns "${CL_PIDS[0]}") f0=$( [ -n "$fpid" ] && cpu_ns "$fpid" || echo -1)
    sleep "$IDLE_S"
    s1=$(cpu_ns "${CL_PIDS[0]}") f1=$( [ -n "$fpid" ] && cpu_ns "$fpid" || echo -1)
    echo "$IDLE_S $s0 $s1 $f0 $f1 1000000000" >"$W/idle"
    fusermount3 -u "$m"
    stop_pids "${CL_PIDS[@]}"
} || FAILED=1

python3 - "$W" "$OUT/scale.json" "$SERVERS" 1000000000 <<'PY' || FAILED=1
import json, os, sys
w, out, servers, tck = sys.argv[1], sys.argv[2], [int(x) for x in sys.argv[3].split()], int(sys.argv[4])
res = {"servers": {}, "cpu_units_per_s": tck}
names = {"create": "metadata_create", "write4096": "small_write", "read4096": "small_read"}
base = {}
print("\n=== scale-out: one client, 4 threads, over RPC (same run) ===")
print("%-8s %-9s %10s %-34s %-30s %7s %9s" % ("servers", "phase", "ops/s", "CPU us/request per server",
                                              "requests per server", "max/min", "CPU vs 1"))
for n in servers:
    try:
        bench = json.load(open(os.path.join(w, "bench.%d.json" % n)))
        lines = open(os.path.join(w, "phases.%d" % n)).read().splitlines()
    except OSError as e:
        print("%d servers: no results (%s)" % (n, e)); continue
    ops = {r["name"]: r["ops_per_sec"] for r in bench["results"]}
    marks = {}
    for ln in lines:
        left, cpu = ln.split("|")
        f = left.split()
        marks[(f[0], f[1])] = ([int(x) for x in f[2:]], [float(x) for x in cpu.split()])
    entry = {}
    for ph in ("create", "write4096", "read4096"):
        if (ph, "begin") not in marks or (ph, "end") not in marks:
            continue
        (c0, u0), (c1, u1) = marks[(ph, "begin")], marks[(ph, "end")]
        # the hook's own counter requests (one per server per call) are not the phase's
        reqs = [b - a - 1 for a, b in zip(c0, c1)]
        cpu_s = [(b - a) / tck for a, b in zip(u0, u1)]
        per = [c / r * 1e6 if r > 0 else None for c, r in zip(cpu_s, reqs)]
        valid = [p for p in per if p is not None]
        mean = sum(cpu_s) / sum(reqs) * 1e6 if sum(reqs) else None
        spread = max(reqs) / min(reqs) if min(reqs) > 0 else None
        if n == servers[0]:
            base[ph] = mean
        rel = mean / base[ph] if mean and base.get(ph) else None
        entry[ph] = {"ops_per_sec": ops.get(names[ph]), "requests": reqs, "cpu_s": cpu_s,
                     "cpu_us_per_request": per, "cpu_us_per_request_all": mean,
                     "max_min_requests": spread, "cpu_per_request_vs_first": rel}
        print("%-8d %-9s %10.0f %-34s %-30s %7s %9s" % (
            n, ph, ops.get(names[ph]) or 0, " ".join("%.1f" % p if p is not None else "-" for p in per),
            " ".join(str(r) for r in reqs), "%.2f" % spread if spread else "-",
            "%.2f" % rel if rel else "-"))
    try:
        f = open(os.path.join(w, "readdir.%d" % n)).read().split("|")
        head = f[0].split()
        listings, entries, t0, t1 = int(head[0]), int(head[1]), float(head[2]), float(head[3])
        b, a = [float(x) for x in f[1].split()], [float(x) for x in f[2].split()]
        cpu = sum(y - x for x, y in zip(b, a)) / tck
        entry["readdir"] = {"listings": listings, "entries": entries,
                            "listings_per_sec": listings / (t1 - t0),
                            "servers_cpu_ms_per_listing": cpu / listings * 1e3}
    except (OSError, ValueError, IndexError):
        pass
    res["servers"][str(n)] = entry
print("\nreaddir fan-out (a 1000-entry directory listed through a mount; every server asked):")
for n in servers:
    r = res["servers"].get(str(n), {}).get("readdir")
    if r:
        print("  %d server(s): %.1f listings/s, servers' CPU %.2f ms per listing (%d entries seen)" % (
            n, r["listings_per_sec"], r["servers_cpu_ms_per_listing"], r["entries"]))
try:
    secs, s0, s1, f0, f1, t = open(os.path.join(w, "idle")).read().split()
    secs, t = float(secs), int(t)
    srv = (int(s1) - int(s0)) / t
    mnt = (int(f1) - int(f0)) / t if int(f0) >= 0 else None
    res["idle"] = {"seconds": secs, "server_cpu_s": srv, "mount_cpu_s": mnt}
    print("\nidle for %.0f s: server CPU %.3f s, mount CPU %s s" % (
        secs, srv, "%.3f" % mnt if mnt is not None else "(not measured)"))
except (OSError, ValueError):
    print("\nidle: not measured")
json.dump(res, open(out, "w"), indent=1)
print("results: %s" % out)
PY
exit $FAILED
