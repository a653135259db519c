#!/usr/bin/env bash
# libbenchfs-preload.so: unchanged programs on a BenchFS mount over RPC.
#   - test_preload (tests/system/test_preload.c) under the preload library:
#     every intercepted call, fd integrity (each preload fd is a reserved
#     /dev/null kernel fd: that is how a test knows the open did not go
#     through FUSE), dup/fork (parent and child write the same fd, offsets
#     shared), *at calls with a dirfd, chdir + relative paths, stdio, what is
#     converted to the mount (mmap, flock, fcntl locks, a FIFO), 8 threads
#   - exec with inherited fds, dup2 over stdout, a program started before the
#     mount, preload and plain processes on the same files (close-to-open),
#     st_dev/st_ino as the mount shows them, BENCHFS_PRELOAD=0,
#     BENCHFS_LOG=debug, Python's open and os.*, fsx under the preload
# Runs on NODES servers (tests/run.sh runs it on 1 and on 3).
source "$(dirname "$0")/lib.sh"

PL=$BIN/libbenchfs-preload.so
REG=$T/reg DATA=$T/data MNT=$T/mnt
SLOW=1
case $BUILD in *san*) SLOW=3 ;; esac
tmo() { local s=$1; shift; timeout -k 5 $((s * SLOW)) "$@"; }
pre() { tmo 60 env LD_PRELOAD="$PL" "$@"; }           # a program under the preload
plain() { tmo 60 env -u LD_PRELOAD "$@"; }             # the same, through the mount
section() { echo "# $1 (at ${SECONDS}s)"; }

# An ASan build of the library cannot be preloaded into programs without the
# ASan runtime: this suite runs in the normal build (the SAN build still builds it).
case $BUILD in *san*) skip "preload suite under a sanitizer build (the preloaded .so needs the ASan runtime first)"; finish ;; esac
[ -f "$PL" ] || { fail "$PL is built"; finish; }

start_server "$REG" "$DATA" || { fail "server starts"; finish; }

section "a program started before the mount"
mkfifo "$T/go"
pre "$BIN/tests/system/test_preload" late "$MNT" <"$T/go" >"$T/late.out" 2>&1 &
late=$!
exec 7>"$T/go"          # the program now waits for a line
mount_fs "$REG" "$MNT" || { fail "mount"; finish; }
echo go >&7
exec 7>&-
wait "$late"; rc=$?
cat "$T/late.out"
check "the late program exits 0" test "$rc" -eq 0
check "its file is on the mount" test "$(plain cat "$MNT/late")" = late

section "test_preload"
mkdir "$MNT/t"
pre "$BIN/tests/system/test_preload" "$MNT/t" 2>&1; rc=$?
[ "$rc" -eq 0 ] || [ "$rc" -eq 1 ] || fail "test_preload exited $rc"

section "shells, exec, dup2"
plain sh -c 'echo inherited >"$1"' sh "$MNT/inh"
check "exec with an inherited fd (the preloaded shell opens it, cat reads it)" \
    test "$(pre sh -c 'exec 3<"$1"; cat <&3' sh "$MNT/inh")" = inherited
check "exec with an inherited fd at an offset" \
    test "$(pre sh -c 'exec 3<"$1"; dd bs=3 count=1 status=none <&3 >/dev/null; exec cat <&3' sh "$MNT/inh")" = erited
check "sh -c 'cat <&3' 3<file" test "$(pre sh -c 'cat <&3' 3<"$MNT/inh")" = inherited
pre sh -c 'echo x >"$1"; echo y >>"$1"' sh "$MNT/redir"
check "sh -c 'echo x > f; echo y >> f'" test "$(plain cat "$MNT/redir")" = "$(printf 'x\ny')"
pre python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
assert os.readlink("/proc/self/fd/%d" % fd) == "/dev/null", "not over RPC"
os.dup2(fd, 1)
print("over stdout", flush=True)
os.write(fd, b"and the fd\n")
' "$MNT/dup2out"
check "dup2 over stdout: print lands in the file" \
    test "$(plain cat "$MNT/dup2out")" = "$(printf 'over stdout\nand the fd')"

section "preload and plain processes on the same files"
pre sh -c 'printf one >"$1"' sh "$MNT/mix"
check "plain reads what the preload wrote" test "$(plain cat "$MNT/mix")" = one
plain sh -c 'printf two >"$1"' sh "$MNT/mix"
check "the preload reads what plain wrote (close-to-open)" test "$(pre cat "$MNT/mix")" = two
pre python3 -c 'import sys; open(sys.argv[1], "a").write("+3")' "$MNT/mix"
check "plain sees the preload's append" test "$(plain cat "$MNT/mix")" = two+3
plain rm "$MNT/mix"
check "the preload sees plain's unlink" pre sh -c '! test -e "$1"' sh "$MNT/mix"
pre mkdir "$MNT/pdir"; pre touch "$MNT/pdir/a"
check "plain lists what the preload made" test "$(plain ls "$MNT/pdir")" = a
check "st_dev and st_ino are the mount's" \
    test "$(pre stat -c '%d %i %s' "$MNT/inh")" = "$(plain stat -c '%d %i %s' "$MNT/inh")"
check "st_dev of a directory is the mount's" \
    test "$(pre stat -c '%d %i' "$MNT/pdir")" = "$(plain stat -c '%d %i' "$MNT/pdir")"
# What the kernel has cached for the mount (entries and attributes, 1 s), a
# preloaded process changes over RPC: plain processes must see it at once
# (fuse/kcache.h: the kernel forgets it before the preloaded call returns).
plain sh -c 'mkdir "$1/kc" && echo a >"$1/kc/f" && echo b >"$1/kc/g" && echo c >"$1/kc/h"' sh "$MNT"
plain ls -l "$MNT/kc" >/dev/null
pre rm "$MNT/kc/f"
check "plain does not see a cached name the preload removed" plain sh -c '! test -e "$1"' sh "$MNT/kc/f"
pre mv "$MNT/kc/g" "$MNT/kc/g2"
check "plain writes anew under a cached name the preload renamed away" \
    plain sh -c 'echo new >"$1" && test "$(cat "$1")" = new' sh "$MNT/kc/g"
check "plain sees the renamed file under its new name" test "$(plain cat "$MNT/kc/g2")" = b
pre chmod 0600 "$MNT/kc/h"
check "plain sees the mode the preload set on a cached inode" test "$(plain stat -c %a "$MNT/kc/h")" = 600
plain stat "$MNT/kc/new" >/dev/null 2>&1   # a negative entry
pre sh -c 'echo made >"$1"' sh "$MNT/kc/new"
check "plain sees a file the preload made under a cached negative name" test "$(plain cat "$MNT/kc/new")" = made

section "one node sees every change at once (node table), another node within attr_timeout"
# A long-lived preloaded process (plwatch.py) caches names and attributes;
# plain processes (through the mount's daemon) and other preloaded processes
# change them; it must see each change at once, as through the kernel's one
# cache. A second mount of the same servers is another node: its daemon has
# its own table, so there a change shows only once the cache expires.
MNT2=$T/mnt2
mount_fs "$REG" "$MNT2" -o attr_timeout=3 || fail "a second mount (another node)"
coproc WATCH { exec env LD_PRELOAD="$PL" BENCHFS_LOG=debug timeout -k 5 $((240 * SLOW)) \
    python3 "$(dirname "$0")/plwatch.py" 2>"$T/watch.err"; }
ask() {   # ask CMD PATH: the watcher's answer, or TIMEOUT
    local r
    echo "$1 $2" >&"${WATCH[1]}" && IFS= read -r -t $((20 * SLOW)) r <&"${WATCH[0]}" || r=TIMEOUT
    echo "$r"
}
field() { local a; read -ra a <<<"$2"; echo "${a[$1]}"; }   # field N LINE (from 0)
# ask_until CMD PATH WANT SECONDS: polls until the answer is WANT (0) or the deadline (1).
ask_until() {
    local end=$((SECONDS + $4))
    while :; do
        [ "$(ask "$1" "$2")" = "$3" ] && return 0
        [ "$SECONDS" -ge "$end" ] && return 1
        sleep 0.1
    done
}
plain mkdir -p "$MNT/nc/d1/sub" "$MNT/nc/rd"
plain sh -c 'echo one >"$1/nc/d1/sub/f"; echo x >"$1/nc/rd/x"; echo m >"$1/nc/m"' sh "$MNT"
tab=$(plain python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], "benchfs.nodetab").decode())' "$MNT")
check "the mount names its node table; private to its user (no allow_other)" \
    test "$(stat -c %a "$tab" 2>&1)" = 600
check "the watcher's files go over RPC" test "$(ask fd "$MNT/nc/m")" = /dev/null
check "the watcher caches with the mount's node table" \
    grep -q "cached, coherent on this node" "$T/watch.err"
st=$(ask stat "$MNT/nc/d1/sub/f")
check "the watcher stats a file" test "${st%% *}" = 644
plain mv "$MNT/nc/d1" "$MNT/nc/d2"
check "plain renames a directory: the old path is gone at once" \
    test "$(ask stat "$MNT/nc/d1/sub/f")" = ENOENT
check "... and the new path is there" test "$(ask stat "$MNT/nc/d2/sub/f")" = "$st"
plain chmod 600 "$MNT/nc/d2/sub/f"
check "plain chmod: seen at once" test "$(field 0 "$(ask stat "$MNT/nc/d2/sub/f")")" = 600
plain sh -c 'echo more >>"$1"' sh "$MNT/nc/d2/sub/f"
check "plain write: the new size at once" test "$(field 2 "$(ask stat "$MNT/nc/d2/sub/f")")" = 9
plain ln "$MNT/nc/d2/sub/f" "$MNT/nc/d2/sub/f2"
check "plain link: the link count at once" test "$(field 3 "$(ask stat "$MNT/nc/d2/sub/f")")" = 2
plain rm "$MNT/nc/d2/sub/f"
check "plain unlink: seen at once" test "$(ask stat "$MNT/nc/d2/sub/f")" = ENOENT
old=$(field 1 "$(ask stat "$MNT/nc/rd")")
check "the watcher reads a file in a directory" test "$(ask read "$MNT/nc/rd/x")" = x
plain rm -r "$MNT/nc/rd"; plain mkdir "$MNT/nc/rd"; plain sh -c 'echo y >"$1"' sh "$MNT/nc/rd/y"
check "plain rmdir + mkdir: the old file is gone at once" test "$(ask stat "$MNT/nc/rd/x")" = ENOENT
check "... the new directory is a new inode" test "$(field 1 "$(ask stat "$MNT/nc/rd")")" != "$old"
check "... with its new file" test "$(ask read "$MNT/nc/rd/y")" = y
# A small file's bytes come with the open's lookup; a held open reads them
# until a change on the node moves the file's counter.
plain sh -c 'echo s1 >"$1"' sh "$MNT/nc/s"
check "the watcher holds a small file open" test "$(ask hold "$MNT/nc/s")" = s1
check "... its read came with the open (no READ)" grep -q "(from the open)" "$T/watch.err"
plain sh -c 'echo s2 changed >"$1"' sh "$MNT/nc/s"
check "plain write: the held open reads it at once" test "$(ask again -)" = "s2 changed"
pre sh -c 'echo s3 >"$1"' sh "$MNT/nc/s"
check "a preloaded write: the held open reads it at once" test "$(ask again -)" = s3
# Another preloaded process's changes (libbenchfs bumps the same counters).
ask stat "$MNT/nc/m" >/dev/null
pre chmod 640 "$MNT/nc/m"
check "a preloaded chmod: seen at once by the watcher" test "$(field 0 "$(ask stat "$MNT/nc/m")")" = 640
pre sh -c 'echo mm >>"$1"' sh "$MNT/nc/m"
check "a preloaded write: the new size at once" test "$(field 2 "$(ask stat "$MNT/nc/m")")" = 5
pre mv "$MNT/nc/d2" "$MNT/nc/d3"
check "a preloaded rename of a directory: seen at once" test "$(ask stat "$MNT/nc/d2/sub/f2")" = ENOENT
check "... under its new name" test "$(field 3 "$(ask stat "$MNT/nc/d3/sub/f2")")" = 1
pre rm "$MNT/nc/d3/sub/f2"
check "a preloaded unlink: seen at once" test "$(ask stat "$MNT/nc/d3/sub/f2")" = ENOENT
pre mkdir "$MNT/nc/d3/sub/new"
check "a preloaded mkdir: seen at once" test "$(field 0 "$(ask stat "$MNT/nc/d3/sub/new")")" = 755
# Another node: the watcher caches through the second mount, the change is
# made through the first; it shows once the second mount's 3 s have passed.
if mountpoint -q "$MNT2"; then
    t0=$SECONDS
    before=$(ask stat "$MNT2/nc/m")
    check "the other node's watcher sees the file" test "$(field 0 "$before")" = 640
    plain chmod 604 "$MNT/nc/m"
    now=$(ask stat "$MNT2/nc/m")
    if [ $((SECONDS - t0)) -lt 2 ]; then
        check "another node's change is not seen at once (the cache is used)" test "$now" = "$before"
    else
        skip "another node's change not seen at once (the machine took too long to tell)"
    fi
    check "another node's change shows within its attr_timeout (3 s)" \
        ask_until stat "$MNT2/nc/m" "604 ${before#* }" $((3 + 10 * SLOW))
    plain mv "$MNT/nc/d3" "$MNT/nc/d4"
    check "another node's rename shows within its attr_timeout" \
        ask_until stat "$MNT2/nc/d3/sub/new" ENOENT $((3 + 10 * SLOW))
    umount_fs "$MNT2"
fi
BENCHFS_ATTR_TIMEOUT=0 BENCHFS_LOG=debug pre stat "$MNT/nc/m" >/dev/null 2>"$T/log"
check "BENCHFS_ATTR_TIMEOUT=0: no caching" grep -q "names and attributes not cached" "$T/log"
exec {WATCH[1]}>&-
wait "$WATCH_PID" 2>/dev/null
plain rm -r "$MNT/nc"

section "switches"
fdpath='import os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644); print(os.readlink("/proc/self/fd/%d" % fd))'
check "under the preload an fd of the mount is the reserved /dev/null" \
    test "$(pre python3 -c "$fdpath" "$MNT/sw")" = /dev/null
check "BENCHFS_PRELOAD=0: nothing intercepted (the fd is the mount's file)" \
    test "$(BENCHFS_PRELOAD=0 pre python3 -c "$fdpath" "$MNT/sw")" = "$MNT/sw"
BENCHFS_LOG=debug pre cat "$MNT/inh" >/dev/null 2>"$T/log"
check "BENCHFS_LOG=debug says what was intercepted" grep -q "intercepted open $MNT/inh" "$T/log"
BENCHFS_LOG=debug pre cat /etc/hostname >/dev/null 2>"$T/log"
check "a path outside the mount is not intercepted" eval "! grep -q 'intercepted' '$T/log'"

section "Python open and os.*"
pre python3 - "$MNT/py" >"$T/py.out" 2>&1 <<'PY'
import os, sys
d = sys.argv[1]
os.mkdir(d)
with open(os.path.join(d, "a.txt"), "w") as f:
    assert os.readlink("/proc/self/fd/%d" % f.fileno()) == "/dev/null"
    f.write("alpha\n" * 1000)
with open(os.path.join(d, "a.txt")) as f:
    assert f.read() == "alpha\n" * 1000
os.rename(os.path.join(d, "a.txt"), os.path.join(d, "b.txt"))
assert os.listdir(d) == ["b.txt"], os.listdir(d)
st = os.stat(os.path.join(d, "b.txt"))
assert st.st_size == 6000
os.chmod(os.path.join(d, "b.txt"), 0o600)
assert os.stat(os.path.join(d, "b.txt")).st_mode & 0o777 == 0o600
os.symlink("b.txt", os.path.join(d, "l"))
assert os.readlink(os.path.join(d, "l")) == "b.txt"
assert [e.name for e in os.scandir(d)] and os.path.isfile(os.path.join(d, "l"))
os.truncate(os.path.join(d, "b.txt"), 10)
assert os.path.getsize(os.path.join(d, "b.txt")) == 10
os.remove(os.path.join(d, "l")); os.remove(os.path.join(d, "b.txt")); os.rmdir(d)
print("ok")
PY
grep -qx ok "$T/py.out" || cat "$T/py.out"
check "a Python program using open and os.* (with the fds over RPC)" grep -qx ok "$T/py.out"

section "fsx under the preload"
# -P: plain I/O on the RPC path all along; then the full mix, where the first
# mmap moves the file to the mount (and the rest of the run checks that).
tmo 120 env LD_PRELOAD="$PL" "$BIN/tests/system/fsx" -P -N $((3000 / SLOW)) -S 11 -l 256K -o 64K -t 30 \
    -L "preload, RPC path" "$MNT/fsx.rpc" 2>&1 | tail -n 3
check "fsx -P under the preload (RPC path)" test "${PIPESTATUS[0]}" -eq 0
tmo 120 env LD_PRELOAD="$PL" "$BIN/tests/system/fsx" -N $((1500 / SLOW)) -S 12 -l 256K -o 64K -t 30 \
    -L "preload, converted" "$MNT/fsx.file" 2>&1 | tail -n 3
check "fsx under the preload (mmap converts the fd)" test "${PIPESTATUS[0]}" -eq 0

finish
