#!/usr/bin/env bash
# benchfs-stage on a 2-server cluster: a tree of 10,000 small files, big sparse
# files, symlinks, hard links, a FIFO, odd names, modes, owners and old times
# goes in (named by a path under the mount) and out again (named by
# --registry-dir and a path inside BenchFS) identical; a rerun copies nothing;
# a file that cannot be read is reported by name and the rest is copied;
# --verify finds a byte changed behind its back and copies the file again;
# --manifest copies only what it lists; a terminal gets a progress bar.
source "$(dirname "$0")/lib.sh"
HERE=$(cd "$(dirname "$0")" && pwd)
FILES=${STAGE_FILES:-10000}

REG=$T/reg MNT=$T/mnt SRC=$T/src
start_server "$REG" "$T/d0" --nodes 2 --node-id 0 || { fail "stage: node 0 starts"; finish; }
start_server "$REG" "$T/d1" --nodes 2 --node-id 1 || { fail "stage: node 1 starts"; finish; }
python3 "$HERE/stage_tree.py" make "$SRC" "$FILES" || { fail "stage: source tree made"; finish; }
mount_fs "$REG" "$MNT" || { fail "stage: mount"; finish; }
total=$(find "$SRC" -mindepth 1 ! -type d -printf x | wc -c)   # (one name holds a newline)

# In: DST is a path under the mount; the registry is found from the mount.
timeout 300 "$BIN/benchfs-stage" in "$SRC" "$MNT/input" >"$T/in.out" 2>"$T/in.err"
rc=$?
cat "$T/in.out" "$T/in.err"
check "stage: in exits 0" test "$rc" -eq 0
check "stage: in copied all $total files" grep -q "$total files: $total copied, 0 skipped, 0 failed" "$T/in.out"
check "stage: one summary line (not a terminal: no progress bar)" test "$(wc -l <"$T/in.out")" -eq 1 -a ! -s "$T/in.err"
python3 "$HERE/stage_tree.py" compare --meta "$SRC" "$MNT/input" >"$T/cmp.in" 2>&1
check "stage: modes, owners, times, links, holes kept in BenchFS (stat through the mount)" test $? -eq 0
tail -3 "$T/cmp.in"
check "stage: hard link count 3 in BenchFS" test "$(stat -c %h "$MNT/input/d002/linked")" -eq 3

# A rerun copies nothing.
timeout 300 "$BIN/benchfs-stage" in "$SRC" "$MNT/input" >"$T/again.out" 2>&1
check "stage: rerun exits 0" test $? -eq 0
check "stage: rerun copies nothing" grep -q "$total files: 0 copied, $total skipped, 0 failed" "$T/again.out"
cat "$T/again.out"

# A file that cannot be read (root without CAP_DAC_OVERRIDE: mode 000 stops it)
# is named; the others, a new one among them, are copied.
if [ "$(id -u)" -eq 0 ] && setpriv --bounding-set -dac_override,-dac_read_search \
        --inh-caps -dac_override,-dac_read_search true 2>/dev/null; then
    echo secret >"$SRC/d005/unreadable" && chmod 000 "$SRC/d005/unreadable"
    echo new >"$SRC/d006/fresh"
    timeout 300 setpriv --bounding-set -dac_override,-dac_read_search --inh-caps -dac_override,-dac_read_search \
        "$BIN/benchfs-stage" in "$SRC" "$MNT/input" >"$T/unr.out" 2>"$T/unr.err"
    rc=$?
    cat "$T/unr.out" "$T/unr.err"
    check "stage: an unreadable file -> exit 1" test "$rc" -eq 1
    check "stage: ... named in the error" grep -q "$SRC/d005/unreadable: cannot open: Permission denied" "$T/unr.err"
    check "stage: ... counted" grep -q "$((total + 2)) files: 1 copied, $total skipped, 1 failed" "$T/unr.out"
    check "stage: ... and the rest is copied" cmp -s "$SRC/d006/fresh" "$MNT/input/d006/fresh"
    rm -f "$SRC/d005/unreadable"
else
    skip "stage: unreadable file (needs root and setpriv to drop CAP_DAC_OVERRIDE)"
    echo new >"$SRC/d006/fresh"
    timeout 300 "$BIN/benchfs-stage" in "$SRC" "$MNT/input" >/dev/null 2>&1
fi

# A byte changed in the copy behind our back, size and mtime kept: only --verify sees it.
python3 - "$MNT/input/d007/f00107" <<'PY'
import os, sys
p = sys.argv[1]
st = os.stat(p)
with open(p, "r+b") as f:
    f.seek(100)
    b = f.read(1)
    f.seek(100)
    f.write(bytes([b[0] ^ 0xff]))
os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))
PY
timeout 300 "$BIN/benchfs-stage" in "$SRC" "$MNT/input" >"$T/nov.out" 2>&1
check "stage: without --verify the changed file looks identical" grep -q " 0 copied" "$T/nov.out"
timeout 300 "$BIN/benchfs-stage" in "$SRC" "$MNT/input" --verify >"$T/ver.out" 2>"$T/ver.err"
rc=$?
cat "$T/ver.out" "$T/ver.err"
check "stage: --verify names the changed file" grep -q "input/d007/f00107: verify: differs from the source" "$T/ver.err"
check "stage: ... copies it again and says so (exit $rc)" grep -q "1 file(s) differed" "$T/ver.out"

# Out: SRC named by --registry-dir and a path inside BenchFS, no mount needed.
timeout 300 "$BIN/benchfs-stage" out --registry-dir "$REG" /input "$T/back" >"$T/out.out" 2>&1
rc=$?
cat "$T/out.out"
check "stage: out exits 0" test "$rc" -eq 0
python3 "$HERE/stage_tree.py" compare "$SRC" "$T/back" >"$T/cmp.out" 2>&1
check "stage: round trip identical (content, modes, owners, times, links, holes)" test $? -eq 0
tail -3 "$T/cmp.out"
# (diff says a FIFO differs from any FIFO: leave those lines out)
diff -r --no-dereference "$SRC" "$T/back" 2>&1 | grep -v "is a fifo while file .* is a fifo" >"$T/diff2"
check "stage: diff -r of source and round trip is empty" test ! -s "$T/diff2"
head -5 "$T/diff2"
check "stage: sparse file came back sparse" test "$(stat -c %b "$T/back/hole-only")" -lt 64
timeout 300 "$BIN/benchfs-stage" out --registry-dir "$REG" /input "$T/back" >"$T/out2.out" 2>&1
check "stage: out rerun copies nothing" grep -q " 0 copied, .* 0 failed" "$T/out2.out"

# --manifest: only the listed paths (and the directories leading to them).
printf '%s\n' "d010/f00010" "odd names" "# a comment" "" "not/there" >"$T/manifest"
timeout 300 "$BIN/benchfs-stage" in "$SRC" "$MNT/part" --manifest "$T/manifest" >"$T/man.out" 2>"$T/man.err"
rc=$?
cat "$T/man.out" "$T/man.err"
check "stage: --manifest: a missing path is named (exit $rc)" grep -q "not/there: listed in the manifest but not found" "$T/man.err"
check "stage: --manifest copies what it lists" cmp -s "$SRC/d010/f00010" "$MNT/part/d010/f00010"
check "stage: ... with listed directories whole" cmp -s "$SRC/odd names/with space" "$MNT/part/odd names/with space"
check "stage: ... and nothing else" test ! -e "$MNT/part/d010/f00110" -a ! -e "$MNT/part/d011"

# On a terminal: a progress bar on stderr.
if command -v script >/dev/null; then
    timeout 120 script -qec "$BIN/benchfs-stage out --registry-dir $REG /input/d012 $T/tty --progress" \
        /dev/null >"$T/tty.out" 2>&1
    check "stage: progress bar on a terminal" grep -q "files .*/s" "$T/tty.out"
fi
finish
