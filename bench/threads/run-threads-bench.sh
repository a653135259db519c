#!/usr/bin/env bash
# bench/threads/run-threads-bench.sh - many threads and many processes on one client
# (issue 12; make bench runs it). For each build (this one, and BASE_BUILD if given,
# e.g. main's build in a scratch worktree, measured in alternating rounds so that
# both see the same machine), one benchfs-server and one benchfs-fuse mount:
#   mount T=1/4/16   benchfs-bench --dir MNT --threads T (FILES/T ops per thread)
#   client T=1/4/16  benchfs-bench --mode client --threads T
#   mount P=4        4 benchfs-bench processes at once on the mount (sum of their ops/s)
# metrics create, write4k, read4k (ops/s, --sizes 4096); best of ROUNDS rounds. Prints
# the ops/s, the ratios 4/1 and 16/4 threads (and P4/T1), and, with BASE_BUILD, this
# build's T=1 figures over the base's. Then the CPU time (utime+stime, /proc/PID/stat)
# an idle server and an idle mount use over 5 s.
# Environment: BUILD (default build), BASE_BUILD (a build dir, optional), ROUNDS
# (default 3), FILES (default 2000), TMPDIR.
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BUILDS=("$ROOT/${BUILD:-build}")
[ -n "${BASE_BUILD:-}" ] && BUILDS+=("$(cd "$BASE_BUILD" && pwd)")
ROUNDS=${ROUNDS:-3} FILES=${FILES:-2000}
W=$(mktemp -d "${TMPDIR:-/tmp}/benchfs-threads.XXXXXX") || exit 1
SERVER="" FUSE="" MNT=""
FAILED=0
warn() { printf 'run-threads-bench.sh: %s\n' "$*" >&2; }
stop_all() {
    if [ -n "$MNT" ]; then
        timeout 20 fusermount3 -u "$MNT" 2>/dev/null || timeout 20 umount -l "$MNT" 2>/dev/null
    fi
    [ -n "$FUSE" ] && kill -TERM "$FUSE" 2>/dev/null && wait "$FUSE" 2>/dev/null
    [ -n "$SERVER" ] && kill -TERM "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null
    SERVER="" FUSE="" MNT=""
}
cleanup() { stop_all; rm -rf --one-file-system "$W"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# start BIN TAG: a server and a mount of it in $W/TAG.
start() {
    local bin=$1 d=$W/$2
    mkdir -p "$d/reg" "$d/data" "$d/mnt"
    "$bin/benchfs-server" --registry-dir "$d/reg" --data-dir "$d/data" >"$d/server.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 300); do grep -q "Server is ready" "$d/server.log" && break; sleep 0.1; done
    grep -q "Server is ready" "$d/server.log" || { warn "server did not start"; cat "$d/server.log" >&2; return 1; }
    "$bin/benchfs-fuse" "$d/mnt" --registry-dir "$d/reg" --timeout 30 -f >"$d/fuse.log" 2>&1 &
    FUSE=$! MNT=$d/mnt
    for _ in $(seq 300); do mountpoint -q "$d/mnt" && break; sleep 0.1; done
    mountpoint -q "$d/mnt" || { warn "mount failed"; cat "$d/fuse.log" >&2; return 1; }
}

# bench BIN OUT.json ARGS...: one benchfs-bench run, bounded.
bench() {
    local bin=$1 out=$2; shift 2
    timeout --kill-after=10 300 "$bin/benchfs-bench" "$@" --warmup 20 --sizes 4096 --json "$out" \
        >"$out.log" 2>&1 || { warn "benchfs-bench $* failed:"; tail -3 "$out.log" >&2; rm -f "$out"; FAILED=1; }
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

for r in $(seq "$ROUNDS"); do
    for b in "${!BUILDS[@]}"; do
        bin=${BUILDS[b]} tag=b$b.r$r d=$W/b$b.r$r
        start "$bin" "$tag" || { FAILED=1; stop_all; continue; }
        for t in 1 4 16; do
            mkdir -p "$d/mnt/t$t"
            bench "$bin" "$W/res.b$b.r$r.mount.T$t.json" --dir "$d/mnt/t$t" --threads "$t" \
                --iterations $((FILES / t))
            bench "$bin" "$W/res.b$b.r$r.client.T$t.json" --mode client --registry-dir "$d/reg" \
                --threads "$t" --iterations $((FILES / t))
        done
        pids=()
        for p in 1 2 3 4; do
            mkdir -p "$d/mnt/p$p"
            bench "$bin" "$W/res.b$b.r$r.mount.P4.$p.json" --dir "$d/mnt/p$p" --iterations $((FILES / 4)) &
            pids+=("$!")
        done
        wait "${pids[@]}"   # not a bare wait: the server and the mount are children too
        if [ "$r" = 1 ]; then   # idle CPU, once per build
            sleep 1
            s0=$(cpu_ticks "$SERVER") f0=$(cpu_ticks "$FUSE")
            sleep 5
            s1=$(cpu_ticks "$SERVER") f1=$(cpu_ticks "$FUSE")
            echo "{\"server_ticks\": $((s1 - s0)), \"fuse_ticks\": $((f1 - f0)), \"hz\": $(getconf CLK_TCK)}" \
                >"$W/idle.b$b.json"
        fi
        stop_all
    done
done

python3 - "$W" "${BUILDS[@]}" <<'PY'
import glob, json, os, re, sys
w, builds = sys.argv[1], sys.argv[2:]
names = {"metadata_create": "create", "small_write": "write4k", "small_read": "read4k"}
best = {}   # (build, target) -> metric -> best ops/s
p4 = {}     # (build, round) -> metric -> sum over the 4 processes
for f in glob.glob(os.path.join(w, "res.*.json")):
    m = re.match(r"res\.b(\d+)\.r(\d+)\.(\w+)\.(T\d+|P4)(?:\.(\d))?\.json$", os.path.basename(f))
    if not m:
        continue
    b, r, mode, what = int(m.group(1)), m.group(2), m.group(3), m.group(4)
    try:
        res = json.load(open(f))["results"]
    except (OSError, ValueError, KeyError):
        continue
    for x in res:
        k = names.get(x["name"])
        if not k:
            continue
        if what == "P4":
            d = p4.setdefault((b, r), {})
            d[k] = d.get(k, 0) + x["ops_per_sec"]
        else:
            d = best.setdefault((b, f"{mode} {what}"), {})
            d[k] = max(d.get(k, 0), x["ops_per_sec"])
for (b, r), d in p4.items():
    e = best.setdefault((b, "mount P4"), {})
    for k, v in d.items():
        e[k] = max(e.get(k, 0), v)
targets = ["mount T1", "mount T4", "mount T16", "mount P4", "client T1", "client T4", "client T16"]
metrics = ["create", "write4k", "read4k"]
def g(b, t, m):
    return best.get((b, t), {}).get(m)
def ratio(x, y):
    return f"{x / y:.2f}" if x and y else "-"
for b, path in enumerate(builds):
    print(f"\n{'this build' if b == 0 else 'base build'}: {path} (ops/s, best round)")
    print(f"{'':12}" + "".join(f"{t:>12}" for t in targets))
    for m in metrics:
        print(f"{m:12}" + "".join(f"{g(b, t, m) or 0:>12.0f}" for t in targets))
    print(f"{'ratios':12}{'mnt 4/1':>12}{'mnt 16/4':>12}{'mnt P4/T1':>12}{'cli 4/1':>12}{'cli 16/4':>12}")
    for m in metrics:
        print(f"{m:12}" + "".join(f"{r:>12}" for r in (
            ratio(g(b, "mount T4", m), g(b, "mount T1", m)), ratio(g(b, "mount T16", m), g(b, "mount T4", m)),
            ratio(g(b, "mount P4", m), g(b, "mount T1", m)), ratio(g(b, "client T4", m), g(b, "client T1", m)),
            ratio(g(b, "client T16", m), g(b, "client T4", m)))))
    try:
        idle = json.load(open(os.path.join(w, f"idle.b{b}.json")))
        hz = idle["hz"]
        print(f"idle 5 s: server {idle['server_ticks'] / hz:.2f} s CPU, mount {idle['fuse_ticks'] / hz:.2f} s CPU")
    except (OSError, ValueError):
        pass
if len(builds) > 1:
    print("\nthis build / base build (same run):")
    print(f"{'':12}" + "".join(f"{t:>12}" for t in targets))
    for m in metrics:
        print(f"{m:12}" + "".join(f"{ratio(g(0, t, m), g(1, t, m)):>12}" for t in targets))
PY
[ "$FAILED" = 0 ] || { warn "some measurements failed"; exit 1; }
