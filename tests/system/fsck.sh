#!/usr/bin/env bash
# benchfs-fsck on a 3-server cluster on this host: a namespace made by the
# benchmark and by shell commands on a mount checks clean online and offline;
# then the stopped stores are damaged in known ways (tests/system/fsck_damage),
# fsck names each damage, --repair fixes it, a second run is clean, and after a
# restart the files read back through a mount.
source "$(dirname "$0")/lib.sh"

REG=$T/reg MNT=$T/mnt
FSCK=$BIN/benchfs-fsck DMG=$BIN/tests/system/fsck_damage
DIRS=(--data-dir "$T/d0" --data-dir "$T/d2" --data-dir "$T/d1")   # any order
mt() { timeout 30 "$@"; }

start_all() {
    PIDS=()
    for k in 0 1 2; do
        start_server "$REG" "$T/d$k" --nodes 3 --node-id "$k" --chunk-size 64K || return 1
        PIDS+=("$SERVER_PID")
    done
}
stop_all() {
    local p ok=0
    for p in "${PIDS[@]}"; do stop_server "$p" TERM || ok=1; done
    return $ok
}
hex() { printf '%x' "$1"; }
be64() { printf '%016x' "$1"; }
be32() { printf '%08x' "$1"; }
le() {  # le WIDTH_BYTES VALUE: little-endian hex
    local h i out=""; h=$(printf "%0$(($1 * 2))x" "$2")
    for ((i = ${#h} - 2; i >= 0; i -= 2)); do out+=${h:i:2}; done
    echo "$out"
}

start_all || { fail "fsck: cluster starts"; finish; }
mt "$BIN/benchfs-bench" --mode client --registry-dir "$REG" --keep --iterations 40 --warmup 0 \
    --sizes 4096,200000 >"$T/bench.out" 2>&1
check "fsck: benchmark populates the cluster" test $? -eq 0

# A namespace with directories, hard links, a symlink, a rename, a removal.
head -c 200000 /dev/urandom >"$T/big"
head -c 3000 /dev/urandom >"$T/small"
mount_fs "$REG" "$MNT" || { fail "fsck: mount"; finish; }
mt mkdir -p "$MNT/a/sub/deeper" "$MNT/b" &&
    mt cp "$T/big" "$MNT/a/f2" && mt ln "$MNT/a/f2" "$MNT/b/f2link" &&
    mt cp "$T/small" "$MNT/a/f1" && mt mv "$MNT/a/f1" "$MNT/b/f1moved" &&
    mt cp "$T/small" "$MNT/a/gone" && mt cp "$T/big" "$MNT/a/lost" &&
    mt touch "$MNT/a/keep" && mt rm "$MNT/a/keep" && mt ln -s ../a/f2 "$MNT/b/sym" &&
    mt rmdir "$MNT/a/sub/deeper"
check "fsck: shell commands on the mount" test $? -eq 0
A=$(mt stat -c %i "$MNT/a") F2=$(mt stat -c %i "$MNT/a/f2")
GONE=$(mt stat -c %i "$MNT/a/gone") LOST=$(mt stat -c %i "$MNT/a/lost")
SUB=$(mt stat -c %i "$MNT/a/sub")
umount_fs "$MNT"

mt "$FSCK" --registry-dir "$REG" >"$T/on.out" 2>&1; rc=$?
cat "$T/on.out"
check "fsck: online check of the running cluster is clean (exit $rc)" test "$rc" -eq 0
check "fsck: online summary says clean on 3 nodes" grep -q "checked on 3 nodes: clean" "$T/on.out"
# While the cluster works: the scan must cope (a change between pages may look
# like a problem for a moment; only what a re-check sees again is reported).
timeout 60 "$BIN/benchfs-bench" --mode client --registry-dir "$REG" --iterations 300 --warmup 0 \
    --sizes 4096,100000 --threads 2 >"$T/busy.out" 2>&1 &
BUSY=$!
sleep 0.5
mt "$FSCK" --registry-dir "$REG" >"$T/busy-fsck.out" 2>&1; rc=$?
cat "$T/busy-fsck.out"
check "fsck: online check under load completes (exit $rc: 0 or 1)" test "$rc" -le 1
check "fsck: ... with a summary" grep -q "checked on 3 nodes" "$T/busy-fsck.out"
wait "$BUSY"; check "fsck: the load ran to its end" test $? -eq 0
mt "$FSCK" --registry-dir "$REG" >"$T/out" 2>&1; rc=$?
check "fsck: clean again once the load is over (exit $rc)" test "$rc" -eq 0

mt "$FSCK" --registry-dir "$REG" --repair >"$T/out" 2>&1; rc=$?
check "fsck: --repair online is refused (exit $rc)" test "$rc" -eq 2
check "fsck: ... saying why" grep -q "stopped servers only" "$T/out"
mt "$FSCK" --repair "${DIRS[@]}" >"$T/out" 2>&1; rc=$?
check "fsck: --repair of running servers' dirs is refused (exit $rc)" test "$rc" -eq 2
check "fsck: ... naming the running server" grep -q "in use by a running benchfs-server" "$T/out"

stop_all; check "fsck: servers stop" test $? -eq 0
mt "$FSCK" "${DIRS[@]}" >"$T/off.out" 2>&1; rc=$?
cat "$T/off.out"
check "fsck: offline check is clean (exit $rc)" test "$rc" -eq 0
mt "$FSCK" --data-dir "$T/d0" --data-dir "$T/d1" >"$T/out" 2>&1; rc=$?
check "fsck: a missing node's data dir is a usage error (exit $rc)" test "$rc" -eq 2

# Damage, one of each kind, on the node that holds the record.
node_of() { echo $(( $1 >> 48 )); }
ghost_node=$("$DMG" place 1 ghost 3)
lost_node=$("$DMG" place "$(hex "$A")" lost 3)
sub_node=$("$DMG" place "$(hex "$A")" sub 3)
"$DMG" "$T/d$(node_of "$GONE")" del-inode "$(hex "$GONE")" &&
    "$DMG" "$T/d$(node_of "$F2")" set-nlink "$(hex "$F2")" 5 &&
    "$DMG" "$T/d$ghost_node" add-entry 1 ghost 2000000abcdef &&
    "$DMG" "$T/d1" add-chunk 1000000777777 3 &&
    "$DMG" "$T/d$lost_node" del-entry "$(hex "$A")" lost &&
    "$DMG" "$T/d$sub_node" del-entry "$(hex "$A")" sub &&
    "$DMG" "$T/d1" put fences "$(be64 "$A")" "01$(le 4 2)$(le 8 99)" &&
    "$DMG" "$T/d0" put applied "$(be64 $(( (2 << 48) | 99 )))01" "00" &&
    "$DMG" "$T/d$(node_of "$A")" put parents "$(be64 "$A")" "$(le 8 5)"
check "fsck: stores damaged" test $? -eq 0

mt "$FSCK" "${DIRS[@]}" >"$T/bad.out" 2>&1; rc=$?
cat "$T/bad.out"
check "fsck: damage found (exit $rc)" test "$rc" -eq 1
check "fsck: the deleted inode's entry dangles" \
    grep -q "^problem: dangling-entry: .*name \"gone\") -> ino 0x$(hex "$GONE")" "$T/bad.out"
check "fsck: the entry to a missing inode is named" \
    grep -q "^problem: dangling-entry: node $ghost_node: entry (parent 0x1, name \"ghost\")" "$T/bad.out"
check "fsck: the wrong nlink is named" \
    grep -q "^problem: wrong-nlink: .*ino 0x$(hex "$F2") (file): nlink 5, entries naming it: 2" "$T/bad.out"
check "fsck: the orphan chunk is named" \
    grep -q "^problem: orphan-chunk: node 1: chunk file ino 0x1000000777777 idx 3" "$T/bad.out"
check "fsck: the inode without entry is named" \
    grep -q "^problem: unnamed-inode: .*ino 0x$(hex "$LOST") (file)" "$T/bad.out"
check "fsck: the directory without entry is named" \
    grep -q "^problem: unnamed-inode: .*ino 0x$(hex "$SUB") (directory)" "$T/bad.out"
check "fsck: its old parent's nlink is named" \
    grep -q "^problem: wrong-nlink: .*ino 0x$(hex "$A") (directory): nlink 3, its subdirectories make it 2" "$T/bad.out"
check "fsck: the stale fence is named" \
    grep -q "^problem: stale-fence: node 1: fence on directory 0x$(hex "$A") held by intent 99 of node 2" "$T/bad.out"
check "fsck: the stale applied mark is named" \
    grep -q "^problem: stale-applied-mark: node 0: applied mark of intent 0x2000000000063 step 1 of node 2" "$T/bad.out"
check "fsck: the wrong parents record is named" \
    grep -q "^problem: wrong-parent-record: .*directory 0x$(hex "$A"): parents says 0x5, its entry is under 0x1" "$T/bad.out"
check "fsck: the summary counts problems" grep -Eq "checked on 3 nodes: [0-9]+ problems" "$T/bad.out"

mt "$FSCK" --repair "${DIRS[@]}" >"$T/fix.out" 2>&1; rc=$?
cat "$T/fix.out"
check "fsck: --repair exits 1 (problems were found) (rc $rc)" test "$rc" -eq 1
check "fsck: --repair removes the dangling entries" \
    test "$(grep -c '^repaired: .*removed entry' "$T/fix.out")" -eq 2
check "fsck: --repair sets the nlink" grep -q "^repaired: .*ino 0x$(hex "$F2"): nlink set to 2" "$T/fix.out"
check "fsck: --repair deletes the orphan chunk" grep -q "^repaired: node 1: deleted chunk file" "$T/fix.out"
check "fsck: --repair creates lost+found" grep -q "^repaired: node 0: created /lost+found" "$T/fix.out"
check "fsck: --repair links the unnamed file there" \
    grep -q "^repaired: .*ino 0x$(hex "$LOST") linked as /lost+found/#$(hex "$LOST")" "$T/fix.out"
check "fsck: --repair's own re-check is clean" grep -q "after repair: .*: clean" "$T/fix.out"

mt "$FSCK" "${DIRS[@]}" >"$T/again.out" 2>&1; rc=$?
cat "$T/again.out"
check "fsck: a second run after the repair is clean (exit $rc)" test "$rc" -eq 0

# A pending intent (an interrupted multi-server operation) is a problem offline,
# with the advice to start the servers; --repair leaves it to the replay.
"$DMG" "$T/d2" put intents "$(be64 99)" "00"
mt "$FSCK" "${DIRS[@]}" >"$T/pend.out" 2>&1; rc=$?
cat "$T/pend.out"
check "fsck: a pending intent is a problem offline (exit $rc)" test "$rc" -eq 1
check "fsck: ... named" grep -q "^problem: pending-intent: node 2: intent 99 pending" "$T/pend.out"
check "fsck: ... with the replay advice" grep -q "replayed when their servers start" "$T/pend.out"
"$DMG" "$T/d2" del intents "$(be64 99)"
mt "$FSCK" "${DIRS[@]}" >/dev/null 2>&1
check "fsck: clean again without it" test $? -eq 0

# The repaired cluster works: the files read back, lost+found holds the lost one.
start_all || { fail "fsck: cluster restarts"; finish; }
mount_fs "$REG" "$MNT" || { fail "fsck: mount after repair"; finish; }
check "fsck: hard-linked file reads back" mt cmp "$T/big" "$MNT/b/f2link"
check "fsck: its nlink is 2" test "$(mt stat -c %h "$MNT/a/f2")" = 2
check "fsck: renamed file reads back" mt cmp "$T/small" "$MNT/b/f1moved"
check "fsck: the lost file reads back from lost+found" mt cmp "$T/big" "$MNT/lost+found/#$(hex "$LOST")"
check "fsck: the lost directory is in lost+found" test -d "$MNT/lost+found/#$(hex "$SUB")"
check "fsck: lost+found's nlink counts it" test "$(mt stat -c %h "$MNT/lost+found")" = 3
check "fsck: the dangling entries are gone" test ! -e "$MNT/ghost" -a ! -e "$MNT/a/gone"
check "fsck: a new file can be made in lost+found's neighbourhood" mt touch "$MNT/a/new"
umount_fs "$MNT"
mt "$FSCK" --registry-dir "$REG" >"$T/on2.out" 2>&1; rc=$?
cat "$T/on2.out"
check "fsck: online check after the restart is clean (exit $rc)" test "$rc" -eq 0
stop_all
finish
