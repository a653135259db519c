#!/usr/bin/env bash
# mount(8) and fstab: `mount -t fuse.benchfs REGISTRY MNT -o ...` and an fstab
# line work through fuse3's mount helper (mount.fuse3 runs the program named by
# the subtype, "benchfs", as `benchfs REGISTRY MNT -o OPTS`). mount(8) looks for
# that program in the standard PATH only, so the test puts build/benchfs in
# /usr/local/bin inside a mount namespace of its own (nothing is installed).
source "$(dirname "$0")/lib.sh"

command -v mount.fuse3 >/dev/null || PATH=$PATH:/sbin:/usr/sbin command -v mount.fuse3 >/dev/null ||
    { skip "mount helper: mount.fuse3 not installed (Debian package fuse3)"; finish; }
unshare -m true 2>/dev/null || { skip "mount helper: cannot make a mount namespace (unshare -m)"; finish; }
REG=$T/reg MNT=$T/mnt
start_server "$REG" "$T/data" || { fail "mount helper: server starts"; finish; }
mkdir -p "$T/bin" "$MNT"
ln -s "$BIN/benchfs-fuse" "$T/bin/benchfs"
echo "$REG $MNT fuse.benchfs noauto,nofail,_netdev,timeout=10,log_file=$T/fstab.log 0 0" >"$T/fstab"
cat >"$T/inns.sh" <<'NS'
set -u
T=$1 REG=$2 MNT=$3
trap 'umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null' EXIT
mount --make-rprivate / && mount --bind "$T/bin" /usr/local/bin || exit 3
timeout 30 mount -t fuse.benchfs "$REG" "$MNT" -o timeout=10,log_file="$T/fuse.log" || { echo "mount -t failed"; exit 1; }
grep " $MNT " /proc/self/mountinfo
echo through-mount-t >"$MNT/f" && umount "$MNT" || exit 1
timeout 30 mount -T "$T/fstab" "$MNT" || { echo "mount from fstab failed"; exit 1; }
grep " $MNT " /proc/self/mountinfo
cat "$MNT/f"
umount "$MNT"
NS
timeout 90 unshare -m bash "$T/inns.sh" "$T" "$REG" "$MNT" >"$T/ns.out" 2>&1
rc=$?
cat "$T/ns.out"
check "mount helper: mount -t fuse.benchfs and the fstab line mount and unmount (exit $rc)" test "$rc" -eq 0
check "mount helper: the mount is fuse.benchfs named benchfs:REGISTRY" grep -q "fuse.benchfs benchfs:$REG" "$T/ns.out"
check "mount helper: data written through the first mount is read through the second" \
    grep -qx through-mount-t "$T/ns.out"
check "mount helper: -o log_file= reached benchfs-fuse" grep -q "NOTE: mounted BenchFS" "$T/fuse.log"
check "mount helper: fstab options reached it too" grep -q "NOTE: mounted BenchFS" "$T/fstab.log"
finish
