#!/usr/bin/env bash
# System tests of permissions and atime on real mounts, used by root and by
# `nobody` (no supplementary groups):
#   - a mount with -o allow_other and nothing else checks permissions
#     (default_permissions is benchfs-fuse's default): chmod, chown, truncate,
#     unlink, rename and writes of root's files are refused to nobody; nobody's
#     own files follow the POSIX chown/chmod rules
#   - setuid/setgid bits are cleared by writes and truncates of others and by
#     chown; chmod g+s by an owner outside the file's group drops the bit
#   - a setgid directory gives its group to new entries (and its setgid bit to
#     new directories), on one server and on a two-server cluster, with the
#     parent's attributes cached and without (attr_timeout=0)
#   - the sticky bit: nobody cannot remove or rename root's file in a 1777
#     directory but can its own
#   - -o no_default_permissions warns and turns the checks off
#   - atime: relatime (default), -o noatime, -o strictatime, none on -o ro
# Every command that touches a mount runs under `timeout`.
source "$(dirname "$0")/lib.sh"

REG=$T/reg DATA=$T/data
FUSE=$BIN/benchfs-fuse
chmod 0711 "$T"   # nobody must reach the mount points under $T
SLOW=1
case $BUILD in *san*) SLOW=3 ;; esac
tmo() { local s=$1; shift; timeout -k 5 $((s * SLOW)) "$@"; }
mt() { tmo 20 "$@"; }
section() { echo "# $1 (at ${SECONDS}s)"; }
as_nobody() { tmo 20 setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
mode_of() { mt stat -c %a "$1"; }
owner_of() { mt stat -c %U:%G "$1"; }

# refused NAME CMD...: CMD as nobody fails with EPERM or EACCES.
refused() {
    local n=$1; shift
    if as_nobody "$@" >"$T/out" 2>&1; then fail "$n (succeeded)"; return; fi
    if grep -Eq "Operation not permitted|Permission denied" "$T/out"; then pass "$n"
    else fail "$n: $(cat "$T/out")"; fi
}

section "command line"
tmo 10 "$FUSE" --help >"$T/out" 2>&1
check "--help documents -o no_default_permissions" grep -q -- "-o no_default_permissions" "$T/out"
check "--help documents the atime options" grep -q -- "-o strictatime" "$T/out"

start_server "$REG" "$DATA" --chunk-size 64K || { fail "server starts"; finish; }
P=$T/p
mount_fs "$REG" "$P" -o allow_other || { fail "mount -o allow_other"; finish; }
check "default_permissions is on without being asked for" \
    eval "grep -F ' $P ' /proc/mounts | grep -q default_permissions"

section "root's files"
mt sh -c "cd '$P' && mkdir d && echo root >d/f && echo other >d/g && chmod 0755 d &&
    chmod 0644 d/f d/g" || fail "root's test files"
refused "nobody cannot chmod root's file" chmod 0666 "$P/d/f"
refused "nobody cannot chown root's file to itself" chown nobody "$P/d/f"
refused "nobody cannot chgrp root's file" chgrp nogroup "$P/d/f"
refused "nobody cannot truncate root's 0644 file" truncate -s 0 "$P/d/f"
refused "nobody cannot write root's 0644 file" sh -c "echo x >>'$P/d/f'"
refused "nobody cannot open root's 0644 file with O_TRUNC" sh -c ": >'$P/d/f'"
refused "nobody cannot unlink in root's 0755 directory" rm -f "$P/d/f"
refused "nobody cannot rename in root's 0755 directory" mv "$P/d/f" "$P/d/h"
refused "nobody cannot rename over root's file" mv -f "$P/d/g" "$P/d/f"
refused "nobody cannot set root's file's times" touch -d 2001-01-01 "$P/d/f"
check "root's files are untouched" eval "test \"\$(mt cat '$P/d/f')\" = root && test \"\$(mode_of '$P/d/f')\" = 644 && test \"\$(owner_of '$P/d/f')\" = root:root"

section "nobody's own files"
mt sh -c "mkdir '$P/pub' && chmod 0777 '$P/pub'"
check "nobody creates a file" as_nobody sh -c "echo mine >'$P/pub/mine'"
check "... owned by nobody:nogroup" test "$(owner_of "$P/pub/mine")" = nobody:nogroup
check "nobody chmods its own file" as_nobody chmod 0640 "$P/pub/mine"
check "... and the mode changed" test "$(mode_of "$P/pub/mine")" = 640
refused "nobody cannot chown its own file to root" chown root "$P/pub/mine"
refused "nobody cannot chgrp its file to a group it is not in" chgrp root "$P/pub/mine"
check "nobody may chown its file to itself (no change)" as_nobody chown nobody:nogroup "$P/pub/mine"
check "nobody sets its own file's times" as_nobody touch -d 2001-01-01 "$P/pub/mine"
check "root chowns a file to anyone" mt chown daemon:users "$P/pub/mine"
check "... and it belongs to them" test "$(owner_of "$P/pub/mine")" = daemon:users

section "setuid and setgid bits"
# nobody owns a file whose group is root's: chmod g+s drops the bit (nobody
# is not in that group); u+s stays.
mt sh -c "echo x >'$P/pub/sg' && chown nobody:root '$P/pub/sg' && chmod 0755 '$P/pub/sg'"
as_nobody chmod 2755 "$P/pub/sg"
check "chmod g+s by an owner outside the group: the bit is dropped ($(mode_of "$P/pub/sg"))" \
    test "$(mode_of "$P/pub/sg")" = 755
as_nobody chmod 4755 "$P/pub/sg"
check "chmod u+s by the owner is kept ($(mode_of "$P/pub/sg"))" test "$(mode_of "$P/pub/sg")" = 4755
mt sh -c "echo x >'$P/pub/sgok' && chown nobody:nogroup '$P/pub/sgok'"
as_nobody chmod 2755 "$P/pub/sgok"
check "chmod g+s by an owner in the group is kept ($(mode_of "$P/pub/sgok"))" \
    test "$(mode_of "$P/pub/sgok")" = 2755
# root's setuid+setgid files that anyone may write
mt sh -c "cd '$P/pub' && for f in w t o; do echo data >\$f && chmod 6777 \$f; done"
check "nobody writes root's 6777 file" as_nobody sh -c "echo more >>'$P/pub/w'"
check "... which clears setuid and setgid ($(mode_of "$P/pub/w"))" test "$(mode_of "$P/pub/w")" = 777
check "nobody truncates root's 6777 file" as_nobody truncate -s 1 "$P/pub/t"
check "... which clears setuid and setgid ($(mode_of "$P/pub/t"))" test "$(mode_of "$P/pub/t")" = 777
check "nobody opens root's 6777 file with O_TRUNC" as_nobody sh -c ": >'$P/pub/o'"
check "... which clears setuid and setgid ($(mode_of "$P/pub/o"))" test "$(mode_of "$P/pub/o")" = 777
mt sh -c "echo x >'$P/pub/rw' && chmod 6777 '$P/pub/rw' && echo y >>'$P/pub/rw'"
check "root's own write keeps the bits ($(mode_of "$P/pub/rw"))" test "$(mode_of "$P/pub/rw")" = 6777
mt sh -c "echo x >'$P/pub/ch' && chmod 4755 '$P/pub/ch' && chown nobody '$P/pub/ch'"
check "chown by root clears setuid ($(mode_of "$P/pub/ch"))" test "$(mode_of "$P/pub/ch")" = 755
mt sh -c "echo x >'$P/pub/nch' && chown nobody:nogroup '$P/pub/nch' && chmod 6755 '$P/pub/nch'"
check "nobody chgrps its own 6755 file to its group" as_nobody chgrp nogroup "$P/pub/nch"
check "... which clears setuid and setgid ($(mode_of "$P/pub/nch"))" test "$(mode_of "$P/pub/nch")" = 755
mt sh -c "mkdir '$P/pub/chd' && chmod 2755 '$P/pub/chd' && chown nobody '$P/pub/chd'"
check "chown of a directory keeps its setgid bit ($(mode_of "$P/pub/chd"))" test "$(mode_of "$P/pub/chd")" = 2755

# setgid_dir LABEL MNT: new entries in a setgid directory get its group
setgid_dir() {
    local l=$1 m=$2 d=$2/sg-$1 bad=0 i
    mt sh -c "mkdir '$d' && chgrp users '$d' && chmod 2777 '$d'"
    as_nobody sh -c "cd '$d' && for i in \$(seq 0 15); do echo \$i >f\$i; mkdir d\$i; ln -s f\$i l\$i; done" ||
        fail "[$l] nobody creates in a setgid directory"
    for i in $(seq 0 15); do
        [ "$(mt stat -c %U:%G "$d/f$i")" = nobody:users ] || bad=$((bad + 1))
        [ "$(mt stat -c %U:%G:%a "$d/d$i")" = nobody:users:2755 ] || bad=$((bad + 1))
        [ "$(mt stat -c %U:%G "$d/l$i")" = nobody:users ] || bad=$((bad + 1))
    done
    check "[$l] files, directories and symlinks made by nobody in a setgid directory take its group, directories its setgid bit ($bad of 48 wrong)" \
        test "$bad" -eq 0
    as_nobody sh -c "mkdir '$d/d0/sub' && echo x >'$d/d0/sub/f'"
    check "[$l] ... and so on down the tree" test "$(mt stat -c %G:%a "$d/d0/sub"):$(mt stat -c %G "$d/d0/sub/f")" = users:2755:users
    mt sh -c "mkdir '$d/plain' && chmod 0777 '$d/plain' && chmod g-s '$d/plain' && chgrp users '$d/plain'"
    as_nobody sh -c "echo x >'$d/plain/f'"
    check "[$l] a directory without the bit gives the creator's group" test "$(mt stat -c %G "$d/plain/f")" = nogroup
}

section "setgid directories"
setgid_dir one-server "$P"

section "sticky directories"
mt sh -c "mkdir '$P/tmp' && chmod 1777 '$P/tmp' && echo r >'$P/tmp/rootf' && chmod 0666 '$P/tmp/rootf'"
refused "sticky: nobody cannot unlink root's file" rm -f "$P/tmp/rootf"
refused "sticky: nobody cannot rename root's file" mv "$P/tmp/rootf" "$P/tmp/stolen"
check "sticky: nobody creates its own file" as_nobody sh -c "echo n >'$P/tmp/mine'"
refused "sticky: nobody cannot rename its file over root's" mv -f "$P/tmp/mine" "$P/tmp/rootf"
check "sticky: nobody renames its own file" as_nobody mv "$P/tmp/mine" "$P/tmp/mine2"
check "sticky: nobody unlinks its own file" as_nobody rm "$P/tmp/mine2"
check "sticky: root's file is still there" test "$(mt cat "$P/tmp/rootf")" = r
check "sticky: root removes its file" mt rm "$P/tmp/rootf"

section "atime"
# The kernel keeps no atime for FUSE files; the daemon does, at opens for reading.
at() { mt stat -c %.9X "$1"; }   # atime, to the ns
mtm() { mt stat -c %.9Y "$1"; }
newer() { python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)" "$1" "$2"; }
mt sh -c "echo a >'$P/at' && touch -a -d '2001-01-01' '$P/at'"
sleep 0.1
mt sh -c "echo more >>'$P/at'"
a0=$(at "$P/at") m0=$(mtm "$P/at")
mt cat "$P/at" >/dev/null
a1=$(at "$P/at")
check "relatime: a read after a write sets atime ($a0 -> $a1) past mtime ($m0)" \
    eval "newer '$a1' '$m0' || test '$a1' = '$m0'"
sleep 0.2
mt cat "$P/at" >/dev/null
a2=$(at "$P/at")
check "relatime: a second read soon after does not change atime ($a1, $a2)" test "$a1" = "$a2"
check "relatime: reading does not change ctime" eval "c=\$(mt stat -c %z '$P/at'); mt cat '$P/at' >/dev/null; test \"\$(mt stat -c %z '$P/at')\" = \"\$c\""
mt fusermount3 -u "$P"

N=$T/noatime
mount_fs "$REG" "$N" -o noatime || fail "mount -o noatime"
mt sh -c "echo more >>'$N/at'"
a0=$(at "$N/at")
mt cat "$N/at" >/dev/null
sleep 0.1
mt cat "$N/at" >/dev/null
check "noatime: reads never change atime ($a0, $(at "$N/at"))" test "$(at "$N/at")" = "$a0"
mt fusermount3 -u "$N"

S=$T/strict
mount_fs "$REG" "$S" -o strictatime || fail "mount -o strictatime"
mt cat "$S/at" >/dev/null
a1=$(at "$S/at")
sleep 0.1
mt cat "$S/at" >/dev/null
a2=$(at "$S/at")
check "strictatime: every read changes atime ($a1 -> $a2)" newer "$a2" "$a1"
mt fusermount3 -u "$S"

R=$T/ro
mount_fs "$REG" "$R" -o ro,strictatime || fail "mount -o ro,strictatime"
a0=$(at "$R/at")
mt cat "$R/at" >/dev/null
check "ro: reads do not change atime, even with strictatime" test "$(at "$R/at")" = "$a0"
mt fusermount3 -u "$R"

section "no_default_permissions"
U=$T/unchecked
mkdir -p "$U"
MOUNTS+=("$U")
tmo 60 "$FUSE" "$U" --registry-dir "$REG" --timeout 10 -o allow_other,no_default_permissions \
    >"$T/warn" 2>&1
check "no_default_permissions: mounted" wait_for 10 mountpoint -q "$U"
check "no_default_permissions: warns at mount time" grep -q "warning: -o no_default_permissions: file access is not checked" "$T/warn"
check "no_default_permissions: not in the mount options" \
    eval "! grep -F ' $U ' /proc/mounts | grep -q default_permissions"
check "no_default_permissions: as documented, nobody may chmod root's file" as_nobody chmod 0666 "$U/d/f"
check "no_default_permissions: access(2) is still answered by the mode bits" \
    eval "! as_nobody test -w '$U/d/g'"
mt chmod 0644 "$U/d/f"
mt fusermount3 -u "$U"

section "two servers"
# Entries land on either server, the parent's inode on one: the daemon gives
# the group where the entry's server does not hold the parent (dircache.h).
CREG=$T/creg
if start_server "$CREG" "$T/c0" --nodes 2 --node-id 0 --chunk-size 64K &&
   start_server "$CREG" "$T/c1" --nodes 2 --node-id 1 --chunk-size 64K; then
    C=$T/c
    if mount_fs "$CREG" "$C" -o allow_other; then
        setgid_dir cluster "$C"
        mt fusermount3 -u "$C"
    else
        fail "mount of the two-server cluster"
    fi
    C0=$T/c0mnt
    if mount_fs "$CREG" "$C0" -o allow_other,attr_timeout=0,entry_timeout=0; then
        setgid_dir "cluster, attr_timeout=0" "$C0"
        mt fusermount3 -u "$C0"
    else
        fail "mount of the two-server cluster with attr_timeout=0"
    fi
else
    fail "two-server cluster"
fi
finish
