#!/usr/bin/env bash
# Chunk removal in the background (issue 12): a file's removal holds up no other
# file's reads, a huge sparse file's unlink answers at once and leaves no chunk
# (tests/system/test_rmload); a server killed (as by kill -9) right after it
# queued a removal finishes it when it starts again, and loses nothing of the
# other files.
source "$(dirname "$0")/lib.sh"

REG=$T/reg DATA=$T/data
SLOW=1
NOTIME=
case $BUILD in *san*) SLOW=3 NOTIME=1 ;; esac
# chunk files in the data dir
chunks() { find "$1/chunks" -type f | wc -l; }

start_one "$REG" "$DATA" --chunk-size 4K || { fail "rmload: server starts"; finish; }
RMLOAD_NO_TIMING=$NOTIME timeout -k 5 $((240 * SLOW)) "$BIN/tests/system/test_rmload" "$REG" "$DATA"
check "rmload: test_rmload exits 0" test $? -eq 0
stop_server "$SERVER_PID"
check "rmload: no removal left in the journal after a clean stop" test ! -s "$DATA/chunk-removals"

# kill -9 after the removal is queued (BENCHFS_CRASH_POINT=chunks-queued)
rm -rf "$REG" "$DATA"
M=$T/m
BENCHFS_CRASH_POINT=chunks-queued start_one "$REG" "$DATA" --chunk-size 4K ||
    { fail "rmload: crash server starts"; finish; }
mount_fs "$REG" "$M" --rpc-timeout 3 || { fail "rmload: mount"; finish; }
head -c 100000 /dev/urandom >"$T/keep.ref"
cp "$T/keep.ref" "$M/keep" && sync "$M/keep"
check "rmload: keeper written" cmp -s "$T/keep.ref" "$M/keep"
kept=$(chunks "$DATA")
dd if=/dev/urandom of="$M/victim" bs=1M count=4 status=none && sync "$M/victim"
before=$(chunks "$DATA")
check "rmload: victim has its ~1000 chunk files ($((before - kept)))" test $((before - kept)) -ge 1000
timeout 30 rm -f "$M/victim" 2>/dev/null
wait_for 20 bash -c "! kill -0 $SERVER_PID"
check "rmload: the server died at the crash point" bash -c "! kill -0 $SERVER_PID 2>/dev/null"
check "rmload: ... with the removal in its journal" test -s "$DATA/chunk-removals"
start_one "$REG" "$DATA" --chunk-size 4K || { fail "rmload: restart"; finish; }
ok_gone() { [ "$(chunks "$DATA")" -eq "$kept" ]; }
check "rmload: after the restart the victim's chunks are gone ($(chunks "$DATA") -> $kept)" \
    wait_for $((30 * SLOW)) ok_gone
check "rmload: ... and the journal is empty" wait_for $((10 * SLOW)) test ! -s "$DATA/chunk-removals"
check "rmload: the keeper is whole" wait_for $((20 * SLOW)) cmp -s "$T/keep.ref" "$M/keep"
# (the failed rm left the kernel's dentry: it goes with its entry timeout)
check "rmload: the victim is gone from the namespace" wait_for $((10 * SLOW)) test ! -e "$M/victim"
timeout 60 "$BIN/benchfs-fsck" --registry-dir "$REG" >"$T/fsck.out" 2>&1
rc=$?
check "rmload: benchfs-fsck is clean (exit $rc)" test "$rc" -eq 0 || cat "$T/fsck.out"
umount_fs "$M"
stop_server "$SERVER_PID"

# kill -9 once a truncate's cut is queued (BENCHFS_CRASH_POINT=cut-queued): the
# new size is committed, the cut thread may not have started; the restarted
# server redoes the cut from DATA/chunk-cuts, and writes after it stay.
rm -rf "$REG" "$DATA"
BENCHFS_CRASH_POINT=cut-queued start_one "$REG" "$DATA" --chunk-size 4K ||
    { fail "rmload: cut crash server starts"; finish; }
mount_fs "$REG" "$M" --rpc-timeout 3 || { fail "rmload: mount (cut)"; finish; }
head -c 4000000 /dev/urandom >"$T/big.ref"
cp "$T/big.ref" "$M/big" && sync "$M/big"
check "rmload: big file written ($(chunks "$DATA") chunk files)" test "$(chunks "$DATA")" -ge 970
timeout 30 truncate -s 5000 "$M/big" 2>/dev/null
wait_for 20 bash -c "! kill -0 $SERVER_PID"
check "rmload: the server died at the cut's crash point" bash -c "! kill -0 $SERVER_PID 2>/dev/null"
check "rmload: ... with the cut in its journal" test -s "$DATA/chunk-cuts"
start_one "$REG" "$DATA" --chunk-size 4K || { fail "rmload: restart (cut)"; finish; }
ok_cut() { [ "$(chunks "$DATA")" -le 2 ]; }   # chunk 1, cut (and chunk 0 unless inline)
check "rmload: after the restart the cut is redone ($(chunks "$DATA") chunk files, then <= 2)" \
    wait_for $((30 * SLOW)) ok_cut
check "rmload: ... and the cut journal is empty" wait_for $((10 * SLOW)) test ! -s "$DATA/chunk-cuts"
head -c 5000 "$T/big.ref" >"$T/cut.ref"
check "rmload: the file is its first 5000 bytes" wait_for $((20 * SLOW)) cmp -s "$T/cut.ref" "$M/big"
printf 'after the cut' | dd of="$M/big" bs=1 seek=300000 conv=notrunc status=none
cat "$T/cut.ref" >"$T/grown.ref"
truncate -s 300000 "$T/grown.ref"
printf 'after the cut' >>"$T/grown.ref"
check "rmload: a write past the cut after the restart reads back" cmp -s "$T/grown.ref" "$M/big"
timeout 60 "$BIN/benchfs-fsck" --registry-dir "$REG" >"$T/fsck.out" 2>&1
rc=$?
check "rmload: benchfs-fsck is clean after the cut (exit $rc)" test "$rc" -eq 0 || cat "$T/fsck.out"
umount_fs "$M"
finish
