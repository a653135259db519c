#!/usr/bin/env bash
# System tests of the FUSE client: a real server and real benchfs-fuse mounts,
# used through ordinary system calls and tools.
#   - the command line: --help, --version, bad flags, no server (clear message
#     within --timeout, no mount left behind)
#   - test_fuse (every operation and its errors, through syscalls) on a default
#     mount, on -o writeback_cache, and a data subset on -o direct_io
#   - cp -a / diff -r / tar of real trees, benchfs-bench --dir, fio verify
#   - a mount of a two-server cluster
#   - two mounts of one cluster (close-to-open; with all cache timeouts 0),
#     -o ro, permissions as another user (-o default_permissions,allow_other)
#   - SIGTERM unmounts; kill -9 of the server gives errors, not hangs, and a
#     restarted server is picked up again
# Every command that touches a mount runs under `timeout`.
source "$(dirname "$0")/lib.sh"

REG=$T/reg DATA=$T/data
FUSE=$BIN/benchfs-fuse
# Other users must reach the mount points under $T (for the permission tests).
chmod 0711 "$T"
# Sanitizer builds are several times slower: longer limits, smaller fio files.
SLOW=1
case $BUILD in *san*) SLOW=3 ;; esac
tmo() { local s=$1; shift; timeout -k 5 $((s * SLOW)) "$@"; }

in_mounts() { grep -qF " $1 " /proc/mounts; }
# The daemon serving mount point $1 (empty if none).
daemon_pid() { pgrep -f -x -- "$FUSE $1 .*" | head -n 1; }
gone() { ! kill -0 "$1" 2>/dev/null; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
mt() { tmo 20 "$@"; }   # a short command on a mount
# section NAME: prints where the time goes (not a test line)
section() { echo "# $1 (at ${SECONDS}s)"; }
as_nobody() { tmo 20 setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

# run_test_fuse LABEL MNT [TEST...]: test_fuse on MNT (of the cluster in
# $TF_REG, default $REG); its PASS/FAIL lines get LABEL so that the runs on
# different mounts can be told apart.
# Under the preload every read is an RPC (no page cache): test_odd_offsets_chunks'
# ~450,000 byte-wise preads take 30-40 s on an idle 2-core machine and several
# minutes when it is loaded (RPC round trips wait for the scheduler), hence
# the longer limit.
TF_LIMIT=300
[ -n "${TEST_PRELOAD:-}" ] && TF_LIMIT=900
run_test_fuse() {
    local label=$1 mnt=$2 rc; shift 2
    tmo "$TF_LIMIT" "$BIN/tests/system/test_fuse" "$mnt" "${TF_REG:-$REG}" "$@" 2>&1 |
        sed -u "s/^\(PASS\|FAIL\|SKIP\): /\1: [$label] /"
    rc=${PIPESTATUS[0]}
    # 1 is "some test failed" (its FAIL line is above); anything else is a crash.
    [ "$rc" -eq 0 ] || [ "$rc" -eq 1 ] || fail "[$label] test_fuse exited $rc"
}

section "command line"
tmo 10 "$FUSE" --help >"$T/out" 2>&1; rc=$?
check "--help exits 0" test "$rc" -eq 0
check "--help explains --registry-dir" grep -q -- "--registry-dir DIR" "$T/out"
check "--help lists the FUSE options" grep -q -- "-o allow_other" "$T/out"
tmo 10 "$FUSE" --version >"$T/out" 2>&1; rc=$?
check "--version exits 0" test "$rc" -eq 0
check "--version names the program" grep -q "^benchfs-fuse [0-9]" "$T/out"
check "--version names libfuse" grep -q "FUSE library version 3" "$T/out"

mkdir -p "$T/m0"
tmo 10 "$FUSE" "$T/m0" --registry-dir "$T/noreg" --bogus >"$T/out" 2>&1; rc=$?
check "bad flag exits 2" test "$rc" -eq 2
check "bad flag is named" grep -q -- "--bogus" "$T/out"
tmo 10 "$FUSE" "$T/m0" --registry-dir "$T/noreg" -o no_such_option >"$T/out" 2>&1; rc=$?
check "bad -o option exits 2" test "$rc" -eq 2
check "bad -o option is named" grep -q "no_such_option" "$T/out"
tmo 10 "$FUSE" "$T/m0" --registry-dir "$T/noreg" --timeout abc >"$T/out" 2>&1; rc=$?
check "bad --timeout value exits 2" test "$rc" -eq 2
tmo 10 "$FUSE" "$T/m0" >"$T/out" 2>&1; rc=$?
check "missing --registry-dir exits 2" test "$rc" -eq 2
check "missing --registry-dir is explained" grep -q -- "--registry-dir DIR is required" "$T/out"
tmo 10 "$FUSE" --registry-dir "$T/noreg" >"$T/out" 2>&1; rc=$?
check "missing mount point exits 2" test "$rc" -eq 2
check "no mount after bad command lines" eval "! in_mounts $T/m0"

# No server: a clear message within --timeout, exit 1, nothing mounted.
start=$SECONDS
tmo 30 "$FUSE" "$T/m0" --registry-dir "$T/noreg" --timeout 2 >"$T/out" 2>&1; rc=$?
took=$((SECONDS - start))
check "no server: exit 1" test "$rc" -eq 1
check "no server: gives up within --timeout (took ${took}s)" test "$took" -le $((2 + 3 * SLOW))
check "no server: says why" grep -q "no BenchFS server registered in $T/noreg" "$T/out"
check "no server: names the RegistryError" grep -q "RegistryError" "$T/out"
check "no server: no mount left" eval "! in_mounts $T/m0"
check "no server: no daemon left" test -z "$(daemon_pid "$T/m0")"

section "one mount"
start_server "$REG" "$DATA" --chunk-size 64K || { fail "server starts"; finish; }
pass "server starts"
MAIN_PID=$SERVER_PID   # start_server sets SERVER_PID again for the cluster below

tmo 30 "$FUSE" "$T/missing/mnt" --registry-dir "$REG" --timeout 5 >"$T/out" 2>&1; rc=$?
check "mount point that does not exist: exits non-zero" test "$rc" -ne 0
check "mount point that does not exist: explained" grep -q "bad mount point.*No such file" "$T/out"

MNT=$T/mnt
mount_fs "$REG" "$MNT" || { fail "mount"; finish; }
need_fusectl || fail "the FUSE control file system mounts (test_fuse waits on it)"
pass "mount returns once mounted"
check "mount is fuse.benchfs in /proc/mounts" grep -qF "benchfs:$REG $MNT fuse.benchfs " /proc/mounts
check "df works on the mount" eval "tmo 20 df '$MNT' >/dev/null"
check "the mount's root is an empty directory" test -z "$(tmo 20 ls -A "$MNT")"

run_test_fuse mount "$MNT"

# -- du counts what is stored, not the size; special files as the tools make them
mt dd if=/dev/zero of="$MNT/sparse" bs=1 count=1 seek=$((1 << 30)) status=none
check "du: a 1 GiB sparse file takes a few KiB" test "$(mt du -k "$MNT/sparse" | cut -f1)" -le 4
mt dd if=/dev/zero of="$MNT/full" bs=64K count=16 status=none
check "du: a 1 MiB file written through takes 1 MiB" test "$(mt du -k "$MNT/full" | cut -f1)" -eq 1024
mt rm -f "$MNT/sparse" "$MNT/full"
mt mkfifo "$MNT/fifo" && mt mknod "$MNT/null" c 1 3
check "mkfifo + mknod: ls -l shows p and c 1, 3" eval "mt ls -l '$MNT/fifo' | grep -q '^p' && mt ls -l '$MNT/null' | grep -q '^c.* 1, *3 '"
check "find -type p / -type c" test "$(mt find "$MNT" -maxdepth 1 \( -type p -o -type c \) | wc -l)" -eq 2
mt rm -f "$MNT/fifo" "$MNT/null"

# -- real trees: cp -a keeps contents, modes, owners and times; diff -r agrees
cptree() {   # cptree NAME SRC
    local name=$1 src=$2 dst="$MNT/cp/$(basename "$2")"
    mt mkdir -p "$MNT/cp"
    local start=$SECONDS
    if ! tmo 120 cp -a "$src" "$MNT/cp/"; then
        fail "cp -a $name"
        return
    fi
    pass "cp -a $name ($((SECONDS - start))s)"
    check "diff -r $name" tmo 120 diff -r "$src" "$dst"
    # same names, types, modes, owners, sizes (not of directories), mtimes
    # (to the ns), link targets
    local fmt='%p %y %m %u %g %s %T@ %l\n' dfmt='%p %y %m %u %g - %T@\n'
    (cd "$src" && find . \( -type d -printf "$dfmt" \) -o -printf "$fmt" | sort) >"$T/list.src"
    (cd "$dst" && tmo 60 find . \( -type d -printf "$dfmt" \) -o -printf "$fmt" | sort) >"$T/list.dst"
    cmp -s "$T/list.src" "$T/list.dst" || diff "$T/list.src" "$T/list.dst" | head -5
    check "cp -a $name keeps modes, owners, sizes and times" cmp -s "$T/list.src" "$T/list.dst"
}
cptree "/usr/share/doc/fuse3" /usr/share/doc/fuse3
cptree "/usr/share/doc/libfuse3-dev" /usr/share/doc/libfuse3-dev
cptree "/usr/include/linux ($(find /usr/include/linux | wc -l) entries)" /usr/include/linux
check "rm -r of a copied tree" tmo 60 rm -r "$MNT/cp/linux"
check "the tree is gone" test ! -e "$MNT/cp/linux"

# -- tar: create on the mount, extract on the mount, compare (tar -d checks
# contents, modes, times, symlinks and hard links)
src=$T/tarsrc
mkdir -p "$src/dir/sub" "$src/empty"
cp -r /usr/share/doc/libfuse3-dev "$src/dir/"
head -c 300000 /dev/urandom >"$src/dir/random"
ln "$src/dir/random" "$src/dir/hardlink"
ln -s ../dir/random "$src/dir/sub/symlink"
ln -s /nonexistent "$src/dangling"
truncate -s 5M "$src/sparse" && printf 'end' >>"$src/sparse"
chmod 0600 "$src/dir/random"
touch -d '2001-02-03 04:05:06.123456789' "$src/dir/sub"
mt mkdir -p "$MNT/tar/x"
check "tar create onto the mount" tmo 60 tar -C "$src" -cf "$MNT/tar/t.tar" .
check "tar create from the mount (gzip)" tmo 60 tar -C "$src" -czf "$MNT/tar/t.tgz" .
check "tar extract on the mount" tmo 60 tar -C "$MNT/tar/x" -xpf "$MNT/tar/t.tar"
check "tar -d: extracted tree matches the archive" tmo 60 tar -C "$MNT/tar/x" -df "$MNT/tar/t.tar"
check "diff -r against the source" tmo 60 diff -r --no-dereference "$src" "$MNT/tar/x"
check "hard link survives tar" test "$(mt stat -c %i "$MNT/tar/x/dir/random")" = "$(mt stat -c %i "$MNT/tar/x/dir/hardlink")"
check "symlink survives tar" test "$(mt readlink "$MNT/tar/x/dir/sub/symlink")" = ../dir/random
check "gzip archive on the mount lists the same" \
    eval "cmp -s <(tmo 60 tar -tzf '$MNT/tar/t.tgz' | sort) <(tar -C '$src' -cf - . | tar -tf - | sort)"
tmo 60 tar -C "$MNT/tar/x" -cf "$T/back.tar" . && mkdir "$T/back" && tar -C "$T/back" -xpf "$T/back.tar"
check "tar of the mount extracts to the same tree" diff -r --no-dereference "$src" "$T/back"

# -- the small-file benchmark runs to the end on the mount
mt mkdir -p "$MNT/bench"
tmo 120 "$BIN/benchfs-bench" --dir "$MNT/bench" --iterations 50 --warmup 5 \
    --json "$T/bench.json" >"$T/bench.out" 2>&1; rc=$?
check "benchfs-bench --dir on the mount completes" test "$rc" -eq 0
for line in "Metadata Create (file creation)" "Small Write (4096 bytes)" "Small Read (1024 bytes)" \
            "Iterations: 50" "Average:" "Throughput:" "p50:" "p99:"; do
    check "bench prints '$line'" grep -qF "$line" "$T/bench.out"
done
[ "$rc" -eq 0 ] || tail -20 "$T/bench.out"
check "bench JSON has the results" python3 -c "import json,sys; d=json.load(open('$T/bench.json')); sys.exit(0 if len(d['results'])>=5 else 1)"
check "bench cleans up after itself" test -z "$(tmo 20 ls -A "$MNT/bench")"

# -- fio verify: data written by fio, checksummed, read back
mt mkdir -p "$MNT/fio"
FIO_SIZE=()
[ "$SLOW" -gt 1 ] && FIO_SIZE=(--size=16m)
start=$SECONDS
tmo 200 fio --directory="$MNT/fio" "${FIO_SIZE[@]}" "$(dirname "$0")/../../bench/fio/verify.fio" \
    >"$T/fio.out" 2>&1; rc=$?
check "fio verify.fio exits 0 ($((SECONDS - start))s)" test "$rc" -eq 0
check "fio reports err= 0" grep -q "err= 0" "$T/fio.out"
check "fio reports no verify failure" eval "! grep -Eqi 'verify.*(fail|bad|mismatch)|bad magic|crc32c: ' '$T/fio.out'"
[ "$rc" -eq 0 ] || tail -30 "$T/fio.out"
check "fio removed its files" test -z "$(tmo 20 ls -A "$MNT/fio")"

section "other mount modes"
WB=$T/wb
if mount_fs "$REG" "$WB" -o writeback_cache; then
    run_test_fuse writeback_cache "$WB"
else
    fail "mount -o writeback_cache"
fi
DIO=$T/dio
if mount_fs "$REG" "$DIO" -o direct_io; then
    # direct_io: every read and write is one request (no page cache, so no
    # shared mmap, and byte-sized reads are slow): the data tests only.
    run_test_fuse direct_io "$DIO" create_read_write sparse truncate append fsync \
        unlink_while_open concurrent_writers rename_file hardlink blocks
    check "[direct_io] cp -a + diff -r" eval "tmo 60 cp -a /usr/share/doc/libfuse3-dev '$DIO/' && tmo 60 diff -r /usr/share/doc/libfuse3-dev '$DIO/libfuse3-dev'"
else
    fail "mount -o direct_io"
fi

section "two servers"
# A mount of a two-server cluster: entries, inodes and chunks spread over both.
CREG=$T/creg CM=$T/cm
if start_server "$CREG" "$T/c0" --nodes 2 --node-id 0 --chunk-size 64K &&
   start_server "$CREG" "$T/c1" --nodes 2 --node-id 1 --chunk-size 64K &&
   mount_fs "$CREG" "$CM" -o max_threads=40; then
    C1_PID=$SERVER_PID
    # Directory renames are left out (EXDEV across servers: mv copies).
    TF_REG=$CREG run_test_fuse cluster "$CM" create_read_write odd_offsets_chunks sparse \
        truncate append excl_eexist enoent enotdir eisdir hardlink chmod_chown_utimens statfs \
        rename_file rename_noreplace mkdir_rmdir \
        fsync readdir_20000 seekdir readdir_while_unlinking access mmap concurrent_writers \
        special_files fifo_pipe unix_socket blocks
    check "[cluster] cp -a + diff -r" eval "tmo 60 cp -a /usr/share/doc/libfuse3-dev '$CM/' && tmo 60 diff -r /usr/share/doc/libfuse3-dev '$CM/libfuse3-dev'"
    # rename(2) of 16 files to new names in the same directory (about half of
    # them move to the other server), then each over an existing file
    mt sh -c "mkdir '$CM/rn' && cd '$CM/rn' && for i in \$(seq 0 15); do echo \$i >f\$i; echo old >h\$i; done"
    out=$(tmo 20 python3 -c '
import errno, os, sys
d = sys.argv[1]
ok = exdev = 0
for i in range(16):
    try:
        os.rename(f"{d}/f{i}", f"{d}/g{i}"); ok += 1
    except OSError as e:
        if e.errno != errno.EXDEV: raise
        exdev += 1
replaced = 0
for i in range(16):
    if os.path.exists(f"{d}/g{i}"):
        os.rename(f"{d}/g{i}", f"{d}/h{i}"); replaced += 1
bad = sum(open(f"{d}/h{i}").read() != f"{i}\n" for i in range(replaced))
print(ok, exdev, bad, len(os.listdir(d)))' "$CM/rn")
    read -r rn_ok rn_exdev rn_bad rn_left <<<"$out"
    check "[cluster] rename(2) of files within a directory, across servers too (${rn_ok:-?} of 16)" \
        test "${rn_ok:-0}" -eq 16 -a "${rn_exdev:-1}" -eq 0
    check "[cluster] rename(2) over existing files keeps the moved contents (${rn_bad:-?} wrong)" \
        test "${rn_bad:-1}" -eq 0
    check "[cluster] after the renames exactly the 16 new names are left (${rn_left:-?})" \
        test "${rn_left:-0}" -eq 16
    mt sh -c "cd '$CM/rn' && for i in \$(seq 0 15); do echo \$i >f\$i; done"
    mt sh -c "cd '$CM/rn' && for i in \$(seq 0 15); do [ -e f\$i ] && mv f\$i g\$i; done"
    check "[cluster] mv of every file works" \
        eval "mt sh -c 'cd $CM/rn && for i in \$(seq 0 15); do [ \$(cat g\$i) = \$i ] || exit 1; done; ! ls f* 2>/dev/null'"
    # a directory's st_nlink is 2 + its subdirectories
    mt sh -c "mkdir '$CM/nl' && cd '$CM/nl' && mkdir d1 d2 d3 d4 d5 d6 d7 d8"
    nlink_is() { test "$(mt stat -c %h "$1")" = "$2"; }
    wait_for 5 nlink_is "$CM/nl" 10   # the kernel may show its copy for attr_timeout (1 s)
    nl=$(mt stat -c %h "$CM/nl")
    check "[cluster] st_nlink of a directory counts its subdirectories on both servers ($nl)" test "$nl" = 10
    mt rmdir "$CM/nl/d1" "$CM/nl/d2" "$CM/nl/d3" "$CM/nl/d4" "$CM/nl/d5"
    wait_for 5 nlink_is "$CM/nl" 5
    nl=$(mt stat -c %h "$CM/nl")
    check "[cluster] ... and follows rmdir ($nl)" test "$nl" = 5
    # directories moved between two parents (those whose old and new entries
    # share a server; the others give EXDEV): each parent's nlink stays
    # 2 + its subdirectories, wherever the parents' inodes live
    out=$(tmo 30 python3 -c '
import errno, os, sys, time
d = sys.argv[1]
for p in ("p1", "p2"):
    os.mkdir(f"{d}/{p}")
for i in range(16):
    os.mkdir(f"{d}/p1/d{i}")
os.mkdir(f"{d}/p2/x")
moved = 0
for i in range(16):
    try:
        os.rename(f"{d}/p1/d{i}", f"{d}/p2/e{i}"); moved += 1
    except OSError as e:
        if e.errno != errno.EXDEV: raise
for i in range(4):   # over an empty directory, where the server allows it
    try:
        os.rename(f"{d}/p1/d{i}", f"{d}/p2/x")
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.ENOENT): raise
def wrong():
    return [p for p in ("p1", "p2")
            if os.stat(f"{d}/{p}").st_nlink != 2 + sum(os.path.isdir(f"{d}/{p}/{n}") for n in os.listdir(f"{d}/{p}"))]
# The kernel may show its copy of the attributes for attr_timeout (1 s).
deadline = time.monotonic() + 5
while (bad := wrong()) and time.monotonic() < deadline:
    time.sleep(0.05)
print(moved, len(bad))' "$CM/nl")
    read -r nl_moved nl_bad <<<"$out"
    check "[cluster] directories moved between parents keep both parents' nlink right (${nl_moved:-?} moved, ${nl_bad:-?} wrong)" \
        test "${nl_moved:-0}" -gt 0 -a "${nl_bad:-1}" -eq 0
    # A server that stops answering holds up only the calls that need it: other
    # threads of the mount take the next requests (fuse/loop.c) and the other
    # server answers them. 32 files, about half on each server; stat(2) from
    # 32 threads while server 1 is stopped for 2 s (the mount may use 40
    # threads: each blocked call holds one). With one thread only the calls
    # queued before the first one to server 1 would be answered.
    # On a mount of its own with entry_timeout=0, so that every stat below
    # reaches the servers (the kernel revalidates each name).
    CS=$T/cs
    mount_fs "$CREG" "$CS" -o max_threads=40,entry_timeout=0 || fail "[cluster] a mount for the stall test"
    mkdir "$CS/stall" && for i in $(seq 0 31); do : >"$CS/stall/f$i"; done
    # Under the preload library each stat walks the path from the root and
    # reads the directory's attributes over RPC (no caching by default): with
    # BENCHFS_ATTR_TIMEOUT it caches them as the kernel does for the mount.
    out=$(BENCHFS_ATTR_TIMEOUT=5 tmo 60 python3 - "$CS/stall" "$C1_PID" <<'EOF'
import os, signal, sys, threading, time
d, pid = sys.argv[1], int(sys.argv[2])
fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
# The kernel checks each lookup against the directory's attributes
# (default_permissions): fetch them now, while both servers answer, so that a
# directory inode on server 1 does not hold up every lookup.
os.fstat(fd)
os.stat(d)   # the same for the preload library's path walk
done = []
def one(name):
    os.stat(name, dir_fd=fd)
    done.append(name)
os.kill(pid, signal.SIGSTOP)
try:
    ts = [threading.Thread(target=one, args=(f"f{i}",)) for i in range(32)]
    for t in ts:
        t.start()
    time.sleep(2)
    early = len(done)
finally:
    os.kill(pid, signal.SIGCONT)
for t in ts:
    t.join(30)
print(early, len(done))
EOF
)
    read -r st_early st_all <<<"$out"
    kill -CONT "$C1_PID" 2>/dev/null
    check "[cluster] with server 1 stopped, calls to server 0 are answered (${st_early:-?} of 32 within 2 s, >= 6)" \
        test "${st_early:-0}" -ge 6 -a "${st_early:-32}" -lt 32
    check "[cluster] ... and the rest once it runs again (${st_all:-?} of 32)" test "${st_all:-0}" -eq 32
    mt fusermount3 -u "$CS"
    mt fusermount3 -u "$CM"
else
    fail "two-server cluster and its mount"
fi

section "two mounts"
# Close-to-open: what one mount wrote and closed, the other sees on open.
A=$T/ma B=$T/mb
mount_fs "$REG" "$A" && mount_fs "$REG" "$B" || { fail "two mounts"; finish; }
mt sh -c "mkdir '$A/shared' && printf 'written in A' >'$A/shared/f'"
check "B sees A's new file" test "$(tmo 10 cat "$B/shared/f")" = "written in A"
head -c 200000 /dev/urandom >"$T/r1"
head -c 200000 /dev/urandom >"$T/r2"
tmo 20 cp "$T/r1" "$A/shared/data"
check "B reads A's data" tmo 20 cmp -s "$T/r1" "$B/shared/data"
# rewrite in place (same size, so only the data changes): B's cached pages go at open
tmo 20 dd if="$T/r2" of="$B/shared/data" conv=notrunc status=none
check "A reads B's rewrite after open (no stale pages)" tmo 20 cmp -s "$T/r2" "$A/shared/data"
tmo 20 sh -c "cat '$T/r1' >>'$A/shared/data'"
# A keeps the pages it wrote itself across opens (pagecache.h): reading them
# back costs no READ RPC; a change by B still drops them at A's next open.
reads() {   # the server's READ count (the probe itself reads once)
    timeout 30 "$BIN/benchfs-bench" --mode client --registry-dir "$REG" --iterations 1 --warmup 0 \
        --sizes 1 --show-server-counters 2>/dev/null | grep -o "READ [0-9]*" | awk '{print $2}'
}
head -c 4096 "$T/r1" >"$T/keep1"; head -c 4096 "$T/r2" >"$T/keep2"
tmo 10 cp "$T/keep1" "$A/shared/keep"
r0=$(reads)
check "A reads back its own write" tmo 10 cmp -s "$T/keep1" "$A/shared/keep"
check "A reads it again" tmo 10 cmp -s "$T/keep1" "$A/shared/keep"
r1=$(reads)
if [ -n "${TEST_PRELOAD:-}" ]; then   # the preload path caches no data: each read is an RPC
    skip "A's re-reads come from its page cache (under the preload: no page cache)"
else
    check "A's re-reads of its own write come from its page cache (READ RPCs: $((r1 - r0 - 1)))" \
        test "$((r1 - r0))" -eq 1
fi
tmo 10 dd if="$T/keep2" of="$B/shared/keep" conv=notrunc status=none
check "A reads B's same-size rewrite of a small file after open" tmo 10 cmp -s "$T/keep2" "$A/shared/keep"
cat "$T/r2" "$T/r1" >"$T/r21"
check "B sees A's append: new size" test "$(tmo 10 stat -c %s "$B/shared/data")" = 400000
check "B reads A's append" tmo 20 cmp -s "$T/r21" "$B/shared/data"
tmo 20 sh -c "printf ' and B' >>'$B/shared/f'"
check "A sees B's append on the small file" test "$(tmo 10 cat "$A/shared/f")" = "written in A and B"
tmo 10 mkdir "$A/shared/dir" && tmo 10 touch "$A/shared/dir/x"
check "B lists A's new directory" test "$(tmo 10 ls "$B/shared/dir")" = x
tmo 10 mv "$B/shared/f" "$B/shared/g"
check "A opens B's renamed file by its new name" test "$(tmo 10 cat "$A/shared/g")" = "written in A and B"
tmo 10 rm "$B/shared/g"
check "A cannot open a file B removed" eval "! tmo 10 cat '$A/shared/g' 2>/dev/null"
tmo 10 chmod 0600 "$A/shared/data"
mode_is() { test "$(tmo 10 stat -c %a "$1")" = "$2"; }
# B's kernel may show its copy for attr_timeout (1 s), not much longer.
check "B sees A's chmod once attr_timeout is over" wait_for 3 mode_is "$B/shared/data" 600
check "A's rm -r works" tmo 20 rm -r "$A/shared"
check "B sees A's rm -r once entry_timeout is over" wait_for 3 eval "! tmo 10 stat '$B/shared'"
# a name B found missing is cached as missing for negative_timeout (1 s) only
check "B: no such name yet" eval "! mt stat '$B/late' 2>/dev/null"
mt touch "$A/late"
check "B sees A's new name after negative_timeout" wait_for $((2 + SLOW)) eval "mt stat '$B/late' >/dev/null"
mt fusermount3 -u "$A"; mt fusermount3 -u "$B"

# With all caching timeouts 0, the other mount sees every change at once.
Z="-o attr_timeout=0,entry_timeout=0,negative_timeout=0"
mount_fs "$REG" "$A" $Z && mount_fs "$REG" "$B" $Z || { fail "two mounts with timeouts 0"; finish; }
check "[timeouts 0] B: no such name yet" eval "! mt stat '$B/z' 2>/dev/null"
mt sh -c "printf abc >'$A/z'"
check "[timeouts 0] B sees A's new file at once" test "$(mt cat "$B/z")" = abc
mt chmod 0604 "$A/z"
check "[timeouts 0] B sees A's chmod at once" test "$(mt stat -c %a "$B/z")" = 604
mt sh -c "printf defg >>'$B/z'"
check "[timeouts 0] A sees B's append at once" test "$(mt stat -c %s "$A/z")" = 7
mt rm "$A/z"
check "[timeouts 0] B sees A's rm at once" eval "! mt stat '$B/z' 2>/dev/null"
mt fusermount3 -u "$A"; mt fusermount3 -u "$B"

# -o ro: the kernel refuses changes
R=$T/ro
if mount_fs "$REG" "$R" -o ro; then
    check "[ro] reads work" eval "mt ls '$R/' >/dev/null"
    mt touch "$R/nope" >"$T/out" 2>&1
    check "[ro] create gives EROFS" grep -q "Read-only file system" "$T/out"
    mt fusermount3 -u "$R"
else
    fail "mount -o ro"
fi

section "permissions"
# -o default_permissions,allow_other: the kernel checks modes for other users
# (default_permissions is benchfs-fuse's default; naming it must still work;
# tests/system/perms.sh tests the rest).
P=$T/perm
mount_fs "$REG" "$P" -o default_permissions,allow_other || { fail "mount -o default_permissions,allow_other"; finish; }
mt sh -c "cd '$P' && mkdir -p acc/priv acc/pub acc/closed &&
    echo secret >acc/priv/f && echo secret >acc/secret && echo public >acc/ro &&
    chmod 0755 acc acc/closed && chmod 0700 acc/priv && chmod 0777 acc/pub &&
    chmod 0600 acc/secret && chmod 0644 acc/ro" || fail "permission test files"
denied() {   # denied NAME CMD...: CMD as nobody fails with EACCES
    local n=$1; shift
    if as_nobody "$@" >"$T/out" 2>&1; then fail "$n (succeeded)"; return; fi
    if grep -q "Permission denied" "$T/out"; then pass "$n"; else fail "$n: $(cat "$T/out")"; fi
}
check "nobody reads a 0644 file" test "$(as_nobody cat "$P/acc/ro")" = public
denied "nobody cannot read a 0600 file (EACCES)" cat "$P/acc/secret"
denied "nobody cannot list a 0700 directory (EACCES)" ls "$P/acc/priv"
denied "nobody cannot reach into a 0700 directory (EACCES)" cat "$P/acc/priv/f"
denied "nobody cannot write a 0644 file (EACCES)" sh -c "echo x >'$P/acc/ro'"
denied "nobody cannot truncate a 0644 file (EACCES)" truncate -s 0 "$P/acc/ro"
denied "nobody cannot create in a 0755 directory (EACCES)" touch "$P/acc/closed/new"
denied "nobody cannot mkdir in a 0755 directory (EACCES)" mkdir "$P/acc/closed/new"
denied "nobody cannot remove from a 0755 directory (EACCES)" rm -f "$P/acc/ro"
denied "nobody cannot rename in a 0755 directory (EACCES)" mv "$P/acc/ro" "$P/acc/ro2"
as_nobody chmod 0666 "$P/acc/ro" >"$T/out" 2>&1
check "nobody cannot chmod root's file (EPERM)" grep -q "Operation not permitted" "$T/out"
check "access(W_OK) as nobody is refused" eval "! as_nobody test -w '$P/acc/ro'"
check "the files are untouched" test "$(mt cat "$P/acc/ro")" = public
check "nobody creates in a 0777 directory" as_nobody sh -c "mkdir '$P/acc/pub/mine' && echo mine >'$P/acc/pub/mine/f'"
check "nobody's new files belong to nobody" test "$(mt stat -c %U:%G "$P/acc/pub/mine/f")" = nobody:nogroup
check "nobody reads back" test "$(as_nobody cat "$P/acc/pub/mine/f")" = mine
# without allow_other, other users cannot use the mount at all
denied "without allow_other other users are refused (EACCES)" stat "$MNT"
mt fusermount3 -u "$P"

section "SIGTERM"
S=$T/sig
mount_fs "$REG" "$S" || { fail "mount for SIGTERM"; finish; }
pid=$(daemon_pid "$S")
check "the daemon is found" test -n "$pid"
if [ -n "$pid" ]; then
    kill -TERM "$pid"
    check "SIGTERM: the daemon exits" wait_for $((10 * SLOW)) gone "$pid"
    check "SIGTERM: unmounted" eval "! in_mounts $S && ! mountpoint -q $S"
fi
# SIGTERM while a file unlinked on the mount is still open: the daemon frees
# the inode on the servers as it shuts down (the kernel sends no more releases).
mount_fs "$REG" "$S" || { fail "mount for SIGTERM with an open file"; finish; }
pid=$(daemon_pid "$S")
mt sh -c "echo orphan >'$S/orphan'"
ino=$(mt stat -c %i "$S/orphan")
timeout 60 sleep 60 <"$S/orphan" &   # holds the file open
holder=$!
wait_for 10 test -e "/proc/$holder/fd/0"
mt rm "$S/orphan"
if [ -n "${TEST_PRELOAD:-}" ]; then
    # rm under the preload is another client than the mount holding the file
    # open: as across nodes, its unlink does not keep the mount's open file.
    skip "unlinked while open (under the preload: rm is another client than the holder's mount)"
else
    check "unlinked while open: the servers keep the inode" eval "'$BIN/tests/system/test_fuse' --inode '$REG' '$ino' >/dev/null"
    check "unlinked while open: still readable through /proc/PID/fd" test "$(mt cat "/proc/$holder/fd/0")" = orphan
fi
[ -n "$pid" ] && kill -TERM "$pid"
check "SIGTERM with an open file: the daemon exits" wait_for $((10 * SLOW)) gone "$pid"
kill "$holder"; wait "$holder" 2>/dev/null
"$BIN/tests/system/test_fuse" --inode "$REG" "$ino" >/dev/null; rc=$?
check "SIGTERM with an open file: the unlinked inode was freed" test "$rc" -eq 1
check "SIGTERM with an open file: unmounted" eval "! in_mounts $S"

# fusermount3 -u: the daemon exits too
mount_fs "$REG" "$S" || { fail "mount again after SIGTERM"; finish; }
pid=$(daemon_pid "$S")
check "mount again on the same mount point" test -n "$pid"
check "fusermount3 -u" tmo 20 fusermount3 -u "$S"
[ -n "$pid" ] && check "fusermount3 -u: the daemon exits" wait_for $((10 * SLOW)) gone "$pid"

section "server dies"
# kill -9 of the server: operations fail within the RPC timeout (3 s) with
# EIO/ENOTCONN/ETIMEDOUT instead of hanging; the mount can be unmounted; a
# restarted server is used again without remounting.
K1=$T/k1 K2=$T/k2
# Timeouts 0: every operation below reaches the (dead) server, none is
# answered from the kernel's cache.
mount_fs "$REG" "$K1" --rpc-timeout 3 $Z && mount_fs "$REG" "$K2" --rpc-timeout 3 $Z ||
    { fail "mounts with --rpc-timeout 3"; finish; }
mt sh -c "printf durable >'$K1/kept' && sync -d '$K1/kept'" || fail "write + fsync before the kill"
tmo 10 cat "$K2/kept" >/dev/null
kpid=$(daemon_pid "$K1")
kill -KILL "$MAIN_PID"; wait "$MAIN_PID" 2>/dev/null
errs="Input/output error|Transport endpoint is not connected|Connection timed out"
dead_op() {   # dead_op NAME CMD...: fails with a cluster error within the RPC timeout
    local n=$1 t0 ms rc; shift
    t0=$(now_ms)
    timeout -k 5 30 "$@" >"$T/out" 2>&1; rc=$?
    ms=$(($(now_ms) - t0))
    if [ "$rc" -eq 0 ]; then fail "$n: succeeded with the server dead"
    elif [ "$rc" -ge 124 ]; then fail "$n: hung (killed after 30 s)"
    elif ! grep -Eq "$errs" "$T/out"; then fail "$n: wrong error: $(cat "$T/out")"
    elif [ "$ms" -gt $((3000 + 4000 * SLOW)) ]; then fail "$n: took ${ms} ms"
    else pass "$n: $(grep -Eo "$errs" "$T/out" | head -n 1) after ${ms} ms"
    fi
}
dead_op "server killed: stat of a new name errors" stat "$K1/never-seen"
dead_op "server killed: open of a file errors" cat "$K1/kept"
dead_op "server killed: create errors" touch "$K1/new-file"
dead_op "server killed: readdir errors" ls "$K1/"
check "server killed: fusermount3 -u works" tmo 20 fusermount3 -u "$K1"
check "server killed: unmounted" eval "! in_mounts $K1"
[ -n "$kpid" ] && check "server killed: the daemon exits after unmount" wait_for $((10 * SLOW)) gone "$kpid"

# Only node 0 was killed (NODES=3: the others still run): it alone restarts.
if [ "${NODES:-1}" -gt 1 ]; then
    start_one "$REG" "$DATA" --nodes "$NODES" --node-id 0 --chunk-size 64K
else
    start_server "$REG" "$DATA" --chunk-size 64K
fi || { fail "server restarts"; finish; }
MAIN_PID=$SERVER_PID
check "restarted server: the other mount reconnects and reads fsynced data" \
    wait_for $((20 * SLOW)) eval "test \"\$(timeout 10 cat '$K2/kept')\" = durable"
check "restarted server: the mount writes again" tmo 20 sh -c "echo again >'$K2/after' && test \"\$(cat '$K2/after')\" = again"

section "leftovers"
pids=$(pgrep -f -- "$FUSE $T/")
for m in "$K2" "$MNT" "$WB" "$DIO"; do in_mounts "$m" && mt fusermount3 -u "$m"; done
for p in $pids; do wait_for $((10 * SLOW)) gone "$p"; done
check "no benchfs mount left" eval "! grep -qF ' $T/' /proc/mounts"
check "no benchfs-fuse daemon left" test -z "$(pgrep -f -- "$FUSE $T/")"
stop_server "$MAIN_PID" TERM; wait "$MAIN_PID"; rc=$?
check "the server stops cleanly after all of it (exit 0)" test "$rc" -eq 0
finish
