#!/usr/bin/env bash
# The namespace on a cluster of three servers on this host:
#   - test_ns: the multi-server namespace through two mounts (one without
#     caches), names chosen by placement so every cross-server case is hit
#   - test_dirtimes: parents' times that the entries' servers set after their
#     answer (server/dirtimes.h): at once for the client that made the change,
#     soon for another, a utimensat after a create kept, a burst coalesced
#   - the suites written for one server, unchanged, on the three: the RPC tests
#     (test_rpc), the FUSE tests (test_fuse), fsx and the mixed load on the mount
#   - benchfs-fsck after all of it: online while the servers run, then offline
#     over their data dirs once they stopped; both clean
# (tools.sh, tests/stress/fsx.sh and load.sh run on three servers too: NODES=3,
# see tests/run.sh.)
source "$(dirname "$0")/lib.sh"

REG=$T/reg DATA=$T/data
SLOW=1
case $BUILD in *san*) SLOW=3 ;; esac
tmo() { local s=$1; shift; timeout -k 5 $((s * SLOW)) "$@"; }
section() { echo "# $1 (at ${SECONDS}s)"; }
# label LABEL: prefixes the PASS/FAIL/SKIP lines of a test program.
label() { sed -u "s/^\(PASS\|FAIL\|SKIP\): /\1: [$1] /"; }

start_cluster "$REG" "$DATA" 3 --chunk-size 64K || { fail "3 servers start"; finish; }
mount_fs "$REG" "$T/m" || { fail "mount"; finish; }
mount_fs "$REG" "$T/m2" -o entry_timeout=0,attr_timeout=0,negative_timeout=0 ||
    { fail "mount without caches"; finish; }

section "test_ns"
tmo 300 "$BIN/tests/system/test_ns" "$T/m" "$T/m2" "$REG" 2>&1 | label ns
rc=${PIPESTATUS[0]}
[ "$rc" -le 1 ] || fail "test_ns exited $rc"

section "test_rpc on 3 servers"
tmo 300 "$BIN/tests/system/test_rpc" "$REG" 2>&1 | label "rpc, 3 servers"
rc=${PIPESTATUS[0]}
[ "$rc" -le 1 ] || fail "test_rpc on 3 servers exited $rc"

section "test_dirtimes: parents' times set by the entries' servers"
tmo 120 "$BIN/tests/system/test_dirtimes" "$REG" 2>&1 | label dirtimes
rc=${PIPESTATUS[0]}
[ "$rc" -le 1 ] || fail "test_dirtimes exited $rc"

section "test_fuse on 3 servers"
need_fusectl || fail "the FUSE control file system mounts (test_fuse waits on it)"
tmo 300 "$BIN/tests/system/test_fuse" "$T/m" "$REG" 2>&1 | label "fuse, 3 servers"
rc=${PIPESTATUS[0]}
[ "$rc" -le 1 ] || fail "test_fuse on 3 servers exited $rc"

section "fsx and the mixed load on 3 servers"
tmo 200 "$BIN/tests/system/fsx" -N $((3000 / SLOW)) -S 7 -l 1M -o 128K -t 60 -L "3 servers" \
    "$T/m/fsx.file" 2>&1 | tail -n 3
check "fsx on 3 servers" test "${PIPESTATUS[0]}" -eq 0
mkdir -p "$T/m/load"
tmo 200 "$BIN/tests/system/mixload" run "$T/m/load" 8 $((10 * SLOW)) "$T/manifest" >"$T/load.out" 2>&1; rc=$?
tail -n 3 "$T/load.out"
check "mixed load on 3 servers (8 threads)" test "$rc" -eq 0
tmo 200 "$BIN/tests/system/mixload" check "$T/manifest" >"$T/check.out" 2>&1; rc=$?
tail -n 2 "$T/check.out"
check "mixed load on 3 servers: every byte checked" test "$rc" -eq 0

section "fsck"
tmo 120 "$BIN/benchfs-fsck" --registry-dir "$REG" >"$T/fsck.out" 2>&1; rc=$?
tail -n 3 "$T/fsck.out"
check "fsck online: clean after all of it" test "$rc" -eq 0
umount_fs "$T/m2"
umount_fs "$T/m"
for p in "${CLUSTER_PIDS[@]}"; do stop_server "$p" TERM; done
tmo 120 "$BIN/benchfs-fsck" --data-dir "$DATA" --data-dir "$DATA.1" --data-dir "$DATA.2" \
    >"$T/fsck.out" 2>&1; rc=$?
tail -n 3 "$T/fsck.out"
check "fsck offline: clean" test "$rc" -eq 0
finish
