#!/usr/bin/env bash
# bench/threads/run-threads-bench.sh - many threads and many processes on one client
# (issue 12; make bench runs it). For each build (this one, and BASE_BUILD if given,
# e.g. main's build in a scratch worktree, measured in alternating rounds so that
# both see the same machine), one benchfs-server and one benchfs-fuse mount:
#   mount T=1/4/16   benchfs-bench --dir MNT --threads T (FILES/T ops per thread)
#   client T=1/4/16  benchfs-bench --mode client --threads T
#   mount P=4        4 benchfs-bench processes at once on the mount, each timed loop
#                    started together (--sync-dir); their ops over the common window
#                    (first start to last end), and as "P4sum" the plain sum of the
#                    4 processes' own rates (inflated when their windows differ)
# metrics create, write4k, read4k (ops/s, --sizes 4096); best of ROUNDS rounds. Prints
# the ops/s, the ratios 4/1 and 16/4 threads (and P4/T1), and, with BASE_BUILD, this
# build's T=1 figures over the base's. Then the CPU time (utime+stime, /proc/PID/stat)
# an idle server and an idle mount use over 5 s.
# With LANES="1 2 4" each build runs once per lane count (BENCHFS_CLIENT_LANES for the
# mount and the client mode), alternating within each round.
# Environment: BUILD (default build), BASE_BUILD (a build dir, optional), ROUNDS
# (default 3), FILES (default 2000), LANES (default: the built-in default), TMPDIR.
set -u
cd "$(dirname "$0")/../.." || exit 1
ROOT=$PWD
BUILDS=("$ROOT/${BUILD:-build}")
[ -n "${BASE_BUILD:-}" ] && BUILDS+=("$(cd "$BASE_BUILD" && pwd)")
ROUNDS=${ROUNDS:-3} FILES=${FILES:-2000} LANES=${LANES:-default}
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
    for l in $LANES; do
        bin=${BUILDS[b]} c=b$b.l$l tag=b$b.l$l.r$r d=$W/b$b.l$l.r$r
        unset BENCHFS_CLIENT_LANES
        [ "$l" = default ] || export BENCHFS_CLIENT_LANES=$l
        start "$bin" "$tag" || { FAILED=1; stop_all; continue; }
        for t in 1 4 16; do
            mkdir -p "$d/mnt/t$t"
            bench "$bin" "$W/res.$c.r$r.mount.T$t.json" --dir "$d/mnt/t$t" --threads "$t" \
                --iterations $((FILES / t))
            bench "$bin" "$W/res.$c.r$r.client.T$t.json" --mode client --registry-dir "$d/reg" \
                --threads "$t" --iterations $((FILES / t))
        done
        pids=()
        mkdir -p "$d/sync"
        for p in 1 2 3 4; do
            mkdir -p "$d/mnt/p$p"
            # (this build's benchfs-bench for a base build's mount too: it has --sync-dir)
            bench "${BUILDS[0]}" "$W/res.$c.r$r.mount.P4.$p.json" --dir "$d/mnt/p$p" --iterations $((FILES / 4)) \
                --sync-dir "$d/sync" --sync-count 4 &
            pids+=("$!")
        done
        wait "${pids[@]}"   # not a bare wait: the server and the mount are children too
        if [ "$r" = 1 ]; then   # idle CPU, once per configuration
            sleep 1
            s0=$(cpu_ticks "$SERVER") f0=$(cpu_ticks "$FUSE")
            sleep 5
            s1=$(cpu_ticks "$SERVER") f1=$(cpu_ticks "$FUSE")
            echo "{\"server_ticks\": $((s1 - s0)), \"fuse_ticks\": $((f1 - f0)), \"hz\": $(getconf CLK_TCK)}" \
                >"$W/idle.$c.json"
        fi
        stop_all
        unset BENCHFS_CLIENT_LANES
    done
  done
done

python3 - "$W" "$LANES" "${BUILDS[@]}" <<'PY'
import glob, json, os, re, sys
w, lanes, builds = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
names = {"metadata_create": "create", "small_write": "write4k", "small_read": "read4k"}
best = {}   # (config, target) -> metric -> best ops/s over the rounds
p4 = {}     # (config, round) -> metric -> [ops, first start, last end, sum of rates]
for f in glob.glob(os.path.join(w, "res.*.json")):
    m = re.match(r"res\.(b\d+\.l\w+)\.r(\d+)\.(\w+)\.(T\d+|P4)(?:\.(\d))?\.json$", os.path.basename(f))
    if not m:
        continue
    c, r, mode, what = m.group(1), m.group(2), m.group(3), m.group(4)
    try:
        res = json.load(open(f))["results"]
    except (OSError, ValueError, KeyError):
        continue
    for x in res:
        k = names.get(x["name"])
        if not k:
            continue
        if what == "P4":
            d = p4.setdefault((c, r), {}).setdefault(k, [0, None, 0, 0.0, 0])
            d[0] += x["iterations"]
            d[1] = x["start_ns"] if d[1] is None else min(d[1], x["start_ns"])
            d[2] = max(d[2], x["start_ns"] + x["total_ns"])
            d[3] += x["ops_per_sec"]
            d[4] += 1
        else:
            d = best.setdefault((c, f"{mode} {what}"), {})
            d[k] = max(d.get(k, 0), x["ops_per_sec"])
for (c, r), d in p4.items():
    e, s = best.setdefault((c, "mount P4"), {}), best.setdefault((c, "mount P4sum"), {})
    for k, (ops, t0, t1, rates, n) in d.items():
        if n == 4 and t1 > t0:
            e[k] = max(e.get(k, 0), ops * 1e9 / (t1 - t0))
            s[k] = max(s.get(k, 0), rates)
targets = ["mount T1", "mount T4", "mount T16", "mount P4", "mount P4sum", "client T1", "client T4",
           "client T16"]
metrics = ["create", "write4k", "read4k"]
configs = [f"b{b}.l{l}" for b in range(len(builds)) for l in lanes]
def g(c, t, m):
    return best.get((c, t), {}).get(m)
def ratio(x, y):
    return f"{x / y:.2f}" if x and y else "-"
for c in configs:
    b, l = c.split(".")
    print(f"\n{'this build' if b == 'b0' else 'base build'}: {builds[int(b[1:])]}, lanes {l[1:]} (ops/s, best round)")
    print(f"{'':10}" + "".join(f"{t:>12}" for t in targets))
    for m in metrics:
        print(f"{m:10}" + "".join(f"{g(c, t, m) or 0:>12.0f}" for t in targets))
    print(f"{'ratios':10}{'mnt 4/1':>12}{'mnt 16/4':>12}{'mnt P4/T1':>12}{'cli 4/1':>12}{'cli 16/4':>12}")
    for m in metrics:
        print(f"{m:10}" + "".join(f"{r:>12}" for r in (
            ratio(g(c, "mount T4", m), g(c, "mount T1", m)), ratio(g(c, "mount T16", m), g(c, "mount T4", m)),
            ratio(g(c, "mount P4", m), g(c, "mount T1", m)), ratio(g(c, "client T4", m), g(c, "client T1", m)),
            ratio(g(c, "client T16", m), g(c, "client T4", m)))))
    try:
        idle = json.load(open(os.path.join(w, f"idle.{c}.json")))
        hz = idle["hz"]
        print(f"idle 5 s: server {idle['server_ticks'] / hz:.2f} s CPU, mount {idle['fuse_ticks'] / hz:.2f} s CPU")
    except (OSError, ValueError):
        pass
def compare(title, c1, c0):
    print(f"\n{title} (same run):")
    print(f"{'':10}" + "".join(f"{t:>12}" for t in targets))
    for m in metrics:
        print(f"{m:10}" + "".join(f"{ratio(g(c1, t, m), g(c0, t, m)):>12}" for t in targets))
for l in lanes:
    if len(builds) > 1:
        compare(f"this build / base build, lanes {l}", f"b0.l{l}", f"b1.l{l}")
for l in lanes[1:]:
    compare(f"this build: lanes {l} / lanes {lanes[0]}", f"b0.l{l}", f"b0.l{lanes[0]}")
PY
[ "$FAILED" = 0 ] || { warn "some measurements failed"; exit 1; }
