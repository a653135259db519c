#!/usr/bin/env bash
# Real programs on a BenchFS mount, as a user runs them on a local disk:
#   - git: init, add, commit, branch, status, gc (packs, renames, links), fsck
#   - make: builds a C program, then has nothing to do (mtimes are right), then
#     rebuilds what a touched source needs
#   - rsync -a onto the mount and back: the trees match (a FIFO and a device
#     too), and a second rsync finds nothing to transfer (sizes, modes and
#     mtimes were kept)
#   - an editor's save (vim writes a new file and renames it over), sed -i
#   - ls -l of a directory with 100,000 entries lists each exactly once
# Every command that touches the mount runs under `timeout`.
source "$(dirname "$0")/lib.sh"

REG=$T/reg DATA=$T/data MNT=$T/mnt
SLOW=1
case $BUILD in *san*) SLOW=3 ;; esac
tmo() { local s=$1; shift; timeout -k 5 $((s * SLOW)) "$@"; }
section() { echo "# $1 (at ${SECONDS}s)"; }

start_server "$REG" "$DATA" || { fail "server starts"; finish; }
mount_fs "$REG" "$MNT" || { fail "mount"; finish; }

# ---------------------------------------------------------------- git
section "git"
if command -v git >/dev/null; then
    G=$MNT/repo
    g() { tmo 60 git -C "$G" -c user.name=t -c user.email=t@example.com "$@"; }
    mkdir "$G"
    check "git init" g init -q
    for i in $(seq 20); do echo "line $i" >"$G/f$i.txt"; done
    mkdir "$G/sub" && printf 'int main(void) { return 0; }\n' >"$G/sub/main.c"
    check "git add" g add -A
    check "git commit" g commit -q -m first
    echo "changed" >>"$G/f1.txt"
    git -C "$G" mv f2.txt sub/moved.txt 2>/dev/null
    check "git commit of a change and a rename" g commit -q -am second
    check "git branch + checkout" g checkout -q -b side
    echo "side" >"$G/side.txt"
    g add side.txt && g commit -q -m side >/dev/null
    check "git checkout back" g checkout -q -
    check "git log shows both commits" test "$(g log --oneline | wc -l)" -eq 2
    check "git status: clean tree" test -z "$(g status --porcelain)"
    check "git gc" g gc -q
    check "git fsck --full" g fsck --full --no-progress
    check "git show after gc" test "$(g show HEAD:f1.txt | tail -n 1)" = changed
    check "side.txt is not on this branch" test ! -e "$G/side.txt"
else
    fail "git is installed (scripts/deps.sh installs it)"
fi

# ---------------------------------------------------------------- make
section "make"
P=$MNT/proj
mkdir "$P"
cat >"$P/hello.c" <<'EOF'
#include <stdio.h>
#include "msg.h"
int main(void) { puts(MSG); return 0; }
EOF
echo '#define MSG "hello from benchfs"' >"$P/msg.h"
printf 'hello: hello.o\n\tcc -o $@ hello.o\nhello.o: hello.c msg.h\n\tcc -c -o $@ hello.c\n' >"$P/Makefile"
check "make builds" tmo 60 make -s -C "$P"
check "the program runs from the mount" test "$(tmo 10 "$P/hello")" = "hello from benchfs"
out=$(tmo 60 make -C "$P" 2>&1)
check "make again has nothing to do" grep -q "is up to date" <<<"$out"
sleep 1.1   # make compares mtimes at 1 s granularity on some systems
echo '#define MSG "rebuilt"' >"$P/msg.h"
out=$(tmo 60 make -C "$P" 2>&1)
check "a changed header rebuilds the object" grep -q "cc -c" <<<"$out"
check "the rebuilt program runs" test "$(tmo 10 "$P/hello")" = rebuilt

# ---------------------------------------------------------------- rsync
section "rsync"
if command -v rsync >/dev/null; then
    src=$T/rsrc
    mkdir -p "$src/a/b" "$src/empty"
    head -c 300000 /dev/urandom >"$src/a/big"
    head -c 5000 /dev/urandom >"$src/a/b/small"
    echo x >"$src/mode600" && chmod 600 "$src/mode600"
    ln -s a/big "$src/link"
    ln "$src/a/b/small" "$src/hard"
    touch -d '2001-02-03 04:05:06' "$src/a/big"
    mkfifo "$src/fifo" && mknod "$src/null" c 1 3   # rsync -a copies specials and devices
    check "rsync -aH onto the mount" tmo 60 rsync -aH "$src/" "$MNT/rs/"
    check "rsync -aH back from the mount" tmo 60 rsync -aH "$MNT/rs/" "$T/rback/"
    # (diff would open the FIFO and wait: the special files are compared by stat)
    check "the trees match" diff -r --no-dereference --exclude=fifo --exclude=null "$src" "$T/rback"
    check "FIFO and device kept" test "$(stat -c '%F %a %t,%T' "$MNT/rs/fifo" "$MNT/rs/null")" = \
        "$(stat -c '%F %a %t,%T' "$src/fifo" "$src/null")"
    check "mtimes kept" test "$(stat -c %Y "$T/rback/a/big")" = "$(stat -c %Y "$src/a/big")"
    check "modes kept" test "$(stat -c %a "$MNT/rs/mode600")" = 600
    check "hard link kept" test "$(stat -c %i "$MNT/rs/hard")" = "$(stat -c %i "$MNT/rs/a/b/small")"
    out=$(tmo 60 rsync -aHi "$src/" "$MNT/rs/")
    # (Under the preload rsync stats its directories through O_PATH fds, the
    # kernel's, right after setting their times over RPC: the mount's kernel
    # forgets those attributes before the call returns, fuse/kcache.h.)
    check "a second rsync transfers nothing" test -z "$out"
    [ -z "$out" ] || echo "$out" | head -5
else
    fail "rsync is installed (scripts/deps.sh installs it)"
fi

# ---------------------------------------------------------------- editors
section "editors"
E=$MNT/edit
mkdir "$E"
printf 'alpha\nbeta\ngamma\n' >"$E/doc.txt"
vim=$(command -v vim.tiny || command -v vim || command -v vi)
if [ -n "$vim" ]; then
    # Ex mode, no vimrc; writebackup makes vim save to a new file and rename it.
    check "vim saves an edit" tmo 30 "$vim" -Es -u NONE -c 'set nocompatible backup writebackup' \
        -c '%s/beta/BETA/' -c 'wq' "$E/doc.txt"
    check "the saved file has the edit" test "$(sed -n 2p "$E/doc.txt")" = BETA
else
    fail "vim is installed (scripts/deps.sh installs vim-tiny)"
fi
check "sed -i edits in place (new file renamed over)" tmo 30 sed -i 's/gamma/GAMMA/' "$E/doc.txt"
check "the file has both edits" test "$(tr '\n' ' ' <"$E/doc.txt")" = "alpha BETA GAMMA "
check "no temporary files left" test "$(ls -A "$E" | grep -cv '^doc.txt\(~\)\?$')" -eq 0

# ---------------------------------------------------------------- 100,000 entries
section "ls -l of 100,000 entries"
D=$MNT/many
mkdir "$D"
N=100000
# Under the preload ls -l's xattr calls are the kernel's: a FUSE lookup per
# entry the RPC readdir did not prime. 20,000 keeps the suite's time.
[ -n "${TEST_PRELOAD:-}" ] && N=20000
if tmo 300 python3 - "$D" "$N" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
for i in range(n):
    os.close(os.open("f%06d" % i, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644, dir_fd=fd))
EOF
then
    pass "create $N files in one directory"
    tmo 300 ls -l "$D" >"$T/ls.out"; rc=$?
    check "ls -l exits 0" test "$rc" -eq 0
    check "ls -l lists $N entries" test "$(grep -c ' f[0-9]\{6\}$' "$T/ls.out")" -eq "$N"
    check "each name exactly once" test -z "$(awk '{print $NF}' "$T/ls.out" | grep '^f' | sort | uniq -d)"
    check "names are the ones created" test "$(awk '{print $NF}' "$T/ls.out" | grep '^f' | sort | sed -n '1p;$p' | tr '\n' ' ')" = "f000000 $(printf 'f%06d' $((N - 1))) "
    check "rm -r of the directory" tmo 300 rm -r "$D"
    check "it is gone" test ! -e "$D"
else
    fail "create $N files in one directory"
fi

umount_fs "$MNT"
finish
