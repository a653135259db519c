#!/usr/bin/env bash
# O_APPEND across clients, fallocate, SEEK_DATA/SEEK_HOLE and copy_file_range,
# through real mounts, on one server and on a cluster of three at once (64K
# chunks, two mounts each):
#   - test_dataops append: 4 writers on 2 mounts append 10,000 records each to
#     one file; every record present once and intact (and once more with one of
#     the mounts -o writeback_cache, on one server)
#   - test_dataops fs: O_APPEND offsets, bfs_append, fallocate modes and errors,
#     st_blocks, SEEK_DATA/SEEK_HOLE, copy_file_range (also a copy the server
#     does beside a migration of its destination's inline bytes)
#   - cp --sparse=always and tar -S keep a sparse file sparse; fio with
#     fallocate=native writes and verifies
#   - test_dataops local (alone on each cluster): copies the servers do
#     themselves move no READ or WRITE
#   - the servers logged no errors
source "$(dirname "$0")/lib.sh"

SLOW=1
case $BUILD in *san*) SLOW=3 ;; esac
tmo() { local s=$1; shift; timeout -k 5 $((s * SLOW)) "$@"; }
label() { sed -u "s/^\(PASS\|FAIL\|SKIP\): /\1: [$1] /"; }

start_one "$T/reg1" "$T/d1" --chunk-size 64K || { fail "1 server starts"; finish; }
start_cluster "$T/reg3" "$T/d3" 3 --chunk-size 64K || { fail "3 servers start"; finish; }
for c in 1 3; do
    mount_fs "$T/reg$c" "$T/m$c" || { fail "mount ($c)"; finish; }
    mount_fs "$T/reg$c" "$T/n$c" || { fail "second mount ($c)"; finish; }
done
# Appends from a writeback_cache mount are the servers' too (O_APPEND handles are direct_io).
mount_fs "$T/reg1" "$T/w1" -o writeback_cache || { fail "writeback_cache mount"; finish; }

# Sparse copies with real programs: data at 0, 1 MiB and 33 MiB in a 40 MiB file.
sparse_tools() {
    local m=$1 f=$1/tools.sparse
    tmo 30 python3 - "$f" <<'EOF' || { echo "FAIL: making a sparse file"; return; }
import os, sys
fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o644)
for off in (0, 1 << 20, 33 << 20):
    os.pwrite(fd, bytes(range(256)) * 16, off)
os.ftruncate(fd, 40 << 20)
EOF
    blocks() { stat -c %b "$1"; }
    tmo 30 cp --sparse=always "$f" "$m/tools.cp" && tmo 30 cmp "$f" "$m/tools.cp" && [ "$(blocks "$m/tools.cp")" -le 64 ] &&
        echo "PASS: cp --sparse=always keeps holes ($(blocks "$m/tools.cp") blocks)" ||
        echo "FAIL: cp --sparse=always keeps holes"
    # seek: tar finds the holes by SEEK_DATA/SEEK_HOLE, not by reading zeros.
    mkdir -p "$m/tools.x" && tmo 30 tar --hole-detection=seek -S -cf "$m/tools.tar" -C "$m" tools.sparse &&
        [ "$(stat -c %s "$m/tools.tar")" -lt $((1 << 20)) ] &&
        tmo 30 tar -xf "$m/tools.tar" -C "$m/tools.x" && tmo 30 cmp "$f" "$m/tools.x/tools.sparse" &&
        [ "$(blocks "$m/tools.x/tools.sparse")" -le 64 ] &&
        echo "PASS: tar -S keeps holes (archive $(stat -c %s "$m/tools.tar") bytes)" ||
        echo "FAIL: tar -S keeps holes"
    if tmo 60 fio --name=falloc --directory="$m" --filename=fio.falloc --size=4m --bs=64k --rw=write \
           --fallocate=native --verify=crc32c --do_verify=1 --end_fsync=1 --verify_state_save=0 >"$m/../fio$2.out" 2>&1 &&
       ! grep -qi "fallocate" "$m/../fio$2.out" && [ "$(stat -c %s "$m/fio.falloc")" -eq $((4 << 20)) ]; then
        echo "PASS: fio with fallocate=native"
    else
        cat "$m/../fio$2.out"; echo "FAIL: fio with fallocate=native"
    fi
}

# Both clusters at once, each its appenders, its fs tests and the tools in parallel.
# (Waits for these jobs only: the servers are background jobs of this shell too.)
jobs_=()
for c in 1 3; do
    tmo 300 "$BIN/tests/system/test_dataops" append "$T/m$c" "$T/n$c" 2>&1 | label "append, $c" >"$T/out.a$c" &
    jobs_+=($!)
    tmo 120 "$BIN/tests/system/test_dataops" fs "$T/m$c" "$T/reg$c" 2>&1 | label "$c" >"$T/out.f$c" &
    jobs_+=($!)
    sparse_tools "$T/n$c" "$c" 2>&1 | label "tools, $c" >"$T/out.t$c" &
    jobs_+=($!)
done
tmo 300 "$BIN/tests/system/test_dataops" append "$T/w1" "$T/m1" 2>&1 | label "append, writeback_cache" >"$T/out.aw" &
jobs_+=($!)
wait "${jobs_[@]}"
for c in 1 3; do
    tmo 60 "$BIN/tests/system/test_dataops" local "$T/m$c" "$T/reg$c" 2>&1 | label "$c" >"$T/out.l$c"
done
cat "$T"/out.*
t_pass=$(cat "$T"/out.* | grep -c '^PASS')
t_fail=$(cat "$T"/out.* | grep -c '^FAIL')
for c in 1 3; do
    [ "$(grep -c '^PASS' "$T/out.a$c")" -eq 1 ] || fail "append test ($c) did not pass"
    [ "$(grep -c '^PASS' "$T/out.f$c")" -eq 7 ] || fail "fs tests ($c): not all 7 passed"
    [ "$(grep -c '^PASS' "$T/out.l$c")" -eq 1 ] || fail "local copy test ($c) did not pass"
    [ "$(grep -c '^PASS' "$T/out.t$c")" -eq 3 ] || fail "tools ($c): not all 3 passed"
done
[ "$(grep -c '^PASS' "$T/out.aw")" -eq 1 ] || fail "append test (writeback_cache) did not pass"
grep -h "WARN\|ERROR" "$T"/d1.log "$T"/d3*.log | grep -v "RegistryError: waited" | head -n 5
errors=$(cat "$T"/d1.log "$T"/d3*.log | grep -c "\] ERROR: ")
check "the servers logged no errors ($errors)" test "$errors" -eq 0
echo "dataops: $t_pass passed, $t_fail failed in ${SECONDS}s"
finish
