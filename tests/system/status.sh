#!/usr/bin/env bash
# benchfs-status on a 3-server cluster: every node up with its counts (table
# and JSON); the cluster key is checked; a killed server is reported stale and
# one stopped cleanly down, with a non-zero exit.
source "$(dirname "$0")/lib.sh"

REG=$T/reg
NODES=3 start_server "$REG" "$T/d" --chunk-size 64K || { fail "status: cluster starts"; finish; }
timeout 60 "$BIN/benchfs-bench" --mode client --registry-dir "$REG" --iterations 20 --warmup 0 \
    --sizes 200000 --keep >"$T/bench.out" 2>&1 || { cat "$T/bench.out"; fail "status: files written"; }

timeout 30 "$BIN/benchfs-status" --registry-dir "$REG" >"$T/table" 2>&1
check "status: all up -> exit 0" test $? -eq 0
cat "$T/table"
check "status: table says 3 servers, 3 up" grep -q "3 servers, 3 up" "$T/table"
check "status: each node's request counts" test "$(grep -c 'requests:.*CREATE' "$T/table")" -ge 1

timeout 30 "$BIN/benchfs-status" --registry-dir "$REG" --json >"$T/json" 2>&1
check "status: --json exit 0" test $? -eq 0
python3 - "$T/json" "$T/d" <<'PY' >"$T/json.check" 2>&1
import json, os, sys
j = json.load(open(sys.argv[1]))
assert j["nodes"] == 3 and j["up"] == 3, j
for s in j["servers"]:
    assert s["state"] == "up", s
    assert s["pid"] > 0 and s["host"] and s["uptime_s"] >= 0
    assert s["free_bytes"] > 0 and s["total_bytes"] >= s["free_bytes"]
    assert s["requests"]["STATUS"] >= 1
# Chunk files and inodes add up to what the data dirs hold.
chunks = sum(1 for k in range(3)
               for root, _, files in os.walk(sys.argv[2] + ("" if k == 0 else ".%d" % k) + "/chunks")
               for f in files)
assert sum(s["chunk_files"] for s in j["servers"]) == chunks, (chunks, j)
assert sum(s["inodes"] for s in j["servers"]) >= 20, j
assert sum(s["chunk_bytes"] for s in j["servers"]) >= 20 * 200000 * 3 // 4, j
print("ok")
PY
check "status: JSON fields hold and add up to the data dirs" grep -qx ok "$T/json.check"
grep -qx ok "$T/json.check" || cat "$T/json.check" "$T/json"

# A registry copy with another key: the servers refuse the request.
mkdir -p "$T/wrongkey" && chmod 700 "$T/wrongkey" && cp "$REG"/*.addr "$T/wrongkey/"
echo 0123456789abcdef0123456789abcdef >"$T/wrongkey/cluster.key"
timeout 30 "$BIN/benchfs-status" --registry-dir "$T/wrongkey" --timeout 3 >"$T/wrong" 2>&1
check "status: a wrong cluster key gets no answer (exit $?)" grep -q "3 servers, 0 up" "$T/wrong"

kill -KILL "${CLUSTER_PIDS[1]}"
wait "${CLUSTER_PIDS[1]}" 2>/dev/null
stop_server "${CLUSTER_PIDS[2]}" TERM
timeout 30 "$BIN/benchfs-status" --registry-dir "$REG" --timeout 3 >"$T/down" 2>&1
rc=$?
cat "$T/down"
check "status: a server down -> exit 1 ($rc)" test "$rc" -eq 1
check "status: the killed server is stale" grep -qE "^1 +stale" "$T/down"
check "status: the stopped server is down" grep -qE "^2 +down .*no registry file" "$T/down"
check "status: the live one is still up" grep -qE "^0 +up" "$T/down"
timeout 30 "$BIN/benchfs-status" --registry-dir "$REG" --json --timeout 3 >"$T/down.json" 2>&1
check "status: JSON says so too" python3 -c "
import json,sys; j=json.load(open('$T/down.json'))
assert [s['state'] for s in j['servers']] == ['up','stale','down'] and j['up'] == 1"
"$BIN/benchfs-status" --registry-dir "$T/nothing" >"$T/none" 2>&1
check "status: no cluster -> exit 2" test $? -eq 2
finish
