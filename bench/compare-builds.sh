#!/usr/bin/env bash
# bench/compare-builds.sh OLD_BUILD NEW_BUILD [ROUNDS] - two builds of BenchFS side by
# side in one run (e.g. before and after a change): for each, one server (or
# NODES servers) and a FUSE mount, then in alternating rounds on each mount:
# benchfs-bench --dir (create, 4 KiB write, 4 KiB read), a rename loop (N files
# renamed within one directory: on one server, same-server renames), an unlink
# loop, and in client mode (RPC) create. Prints the best round of each metric per
# build and NEW/OLD; the machine is shared and noisy: compare the ratios.
#   OLD_BUILD/NEW_BUILD: directories holding benchfs-server, benchfs-fuse, benchfs-bench
#   environment: ITER (1000), NODES (1), TMPDIR, OLD_FUSE_OPTS / NEW_FUSE_OPTS (extra
#   benchfs-fuse arguments of each build's mount, e.g. "-o no_default_permissions")
set -u
[ $# -ge 2 ] || { echo "usage: $0 OLD_BUILD NEW_BUILD [ROUNDS]" >&2; exit 2; }
OLD=$(cd "$1" && pwd) NEW=$(cd "$2" && pwd) ROUNDS=${3:-3}
ITER=${ITER:-1000} NODES=${NODES:-1}
W=$(mktemp -d "${TMPDIR:-/tmp}/benchfs-compare.XXXXXX")
PIDS=()
cleanup() {
    for m in "$W"/*/mnt; do mountpoint -q "$m" && fusermount3 -u "$m"; done
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do timeout 20 tail --pid="$p" -f /dev/null; kill -KILL "$p" 2>/dev/null; done
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# setup NAME BIN [FUSE ARGS...]: servers and a mount under $W/NAME.
setup() {
    local name=$1 bin=$2 k; shift 2
    mkdir -p "$W/$name/mnt"
    for ((k = 0; k < NODES; k++)); do
        "$bin/benchfs-server" --registry-dir "$W/$name/reg" --data-dir "$W/$name/d$k" \
            --nodes "$NODES" --node-id "$k" >"$W/$name/d$k.log" 2>&1 &
        PIDS+=($!)
        timeout 20 bash -c "until grep -q 'Server is ready' '$W/$name/d$k.log'; do sleep 0.05; done" ||
            { echo "$name: server $k did not start" >&2; exit 1; }
    done
    timeout 60 "$bin/benchfs-fuse" "$W/$name/mnt" --registry-dir "$W/$name/reg" --timeout 20 "$@" ||
        { echo "$name: mount failed" >&2; exit 1; }
}

LOOP_PY='
import json, os, sys, time
d, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
os.mkdir(d)
for i in range(n):
    os.close(os.open(os.path.join(d, "f%d" % i), os.O_CREAT | os.O_WRONLY, 0o644))
t = time.perf_counter_ns()
for i in range(n):
    os.rename(os.path.join(d, "f%d" % i), os.path.join(d, "g%d" % i))
ren = time.perf_counter_ns() - t
t = time.perf_counter_ns()
for i in range(n):
    os.unlink(os.path.join(d, "g%d" % i))
unl = time.perf_counter_ns() - t
os.rmdir(d)
json.dump({"rename": n / (ren / 1e9), "unlink": n / (unl / 1e9)}, open(out, "w"))
'

# round R NAME BIN: one measurement of every metric on NAME; results in $W/NAME/r*.json
round() {
    local r=$1 name=$2 bin=$3
    mkdir -p "$W/$name/mnt/b$r"
    "$bin/benchfs-bench" --dir "$W/$name/mnt/b$r" --iterations "$ITER" --warmup 50 --sizes 4096 \
        --json "$W/$name/r$r.bench.json" >/dev/null 2>&1 || echo "$name round $r: bench failed" >&2
    python3 -c "$LOOP_PY" "$W/$name/mnt/l$r" "$ITER" "$W/$name/r$r.loop.json" ||
        echo "$name round $r: rename/unlink loop failed" >&2
    "$bin/benchfs-bench" --mode client --registry-dir "$W/$name/reg" --iterations "$ITER" \
        --warmup 50 --sizes 4096 --json "$W/$name/r$r.client.json" >/dev/null 2>&1 ||
        echo "$name round $r: client mode failed" >&2
}

# shellcheck disable=SC2086  # the options are words
setup old "$OLD" ${OLD_FUSE_OPTS:-}
setup new "$NEW" ${NEW_FUSE_OPTS:-}
for ((r = 1; r <= ROUNDS; r++)); do
    round "$r" old "$OLD"
    round "$r" new "$NEW"
done
python3 - "$W" "$ROUNDS" "$NODES" <<'EOF'
import glob, json, os, sys
w, rounds, nodes = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def best(name):
    m = {}
    for f in glob.glob(os.path.join(w, name, "r*.json")):
        d = json.load(open(f))
        kind = f.rsplit(".", 2)[1]
        vals = {}
        if kind in ("bench", "client"):
            for res in d["results"]:
                key = {"metadata_create": "create", "small_write": "write4k", "small_read": "read4k"}.get(res["name"])
                if key:
                    vals[(key if kind == "bench" else "rpc_" + key)] = res["ops_per_sec"]
        else:
            vals = d
        for k, v in vals.items():
            m[k] = max(m.get(k, 0), v)
    return m
o, n = best("old"), best("new")
print(f"{nodes} server(s), best of {rounds} rounds, ops/s")
print(f"{'metric':12} {'old':>10} {'new':>10} {'new/old':>8}")
for k in ["create", "write4k", "read4k", "rename", "unlink", "rpc_create", "rpc_write4k", "rpc_read4k"]:
    if k in o and k in n:
        print(f"{k:12} {o[k]:10.0f} {n[k]:10.0f} {n[k] / o[k]:8.2f}")
EOF
