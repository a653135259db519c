#!/usr/bin/env bash
# Where the daemons' logs go: benchfs-server --log-file (and its startup and
# stop notes), a startup error in the log file too, a daemonized benchfs-fuse's
# lines in --log-file naming the mount point, and in syslog: the last in a
# private mount namespace whose /dev/log is a socket this test listens on
# (this machine may have no syslog daemon; we do not depend on one).
source "$(dirname "$0")/lib.sh"

REG=$T/reg MNT=$T/mnt
start_server "$REG" "$T/data" --log-file "$T/server-%r.log" || { fail "logs: server starts"; finish; }
check "logs: server's startup note names the node" grep -q "node 0: NOTE: starting: node 0 of 1" "$T/server-0.log"
check "logs: ... and says when it is ready" grep -q "node 0: NOTE: ready" "$T/server-0.log"

# A second server on the same data dir fails: the reason is in its log file too.
"$BIN/benchfs-server" --registry-dir "$REG" --data-dir "$T/data" --log-file "$T/second.log" >"$T/second.out" 2>&1
check "logs: a startup error is on stderr" grep -q "Error: data directory .* is in use" "$T/second.out"
check "logs: ... and in the log file" grep -q "NOTE: Error: data directory .* is in use" "$T/second.log"

# A daemonized mount (no -f): its stderr is /dev/null, its log file has its lines.
BENCHFS_LOG=info mount_fs "$REG" "$MNT" --log-file "$T/fuse.log" || { fail "logs: mount"; finish; }
echo hello >"$MNT/f" && cat "$MNT/f" >/dev/null
check "logs: the daemon's mount note reaches the log file" grep -q "$MNT: NOTE: mounted BenchFS" "$T/fuse.log"
check "logs: the daemon's info lines name the mount point" grep -q "$MNT: INFO: serving requests" "$T/fuse.log"
umount_fs "$MNT"
wait_for 10 grep -q "NOTE: unmounted $MNT" "$T/fuse.log"
check "logs: unmounting is noted" grep -q "NOTE: unmounted $MNT" "$T/fuse.log"

# syslog: in a mount namespace of its own, /dev is a copy whose log is our socket.
if command -v unshare >/dev/null && unshare -m true 2>/dev/null; then
    cat >"$T/syslogd.py" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
open(sys.argv[1] + ".ready", "w").close()
s.settimeout(30)
with open(sys.argv[2], "ab", buffering=0) as out:
    try:
        while True:
            out.write(s.recv(4096) + b"\n")
    except socket.timeout:
        pass
PY
    cat >"$T/inns.sh" <<'NS'
set -u
T=$1 BIN=$2 REG=$3
# The mount lives in this namespace only: never leave it (or its daemon) behind.
trap 'fusermount3 -u "$T/mnt2" 2>/dev/null || umount -l "$T/mnt2" 2>/dev/null; kill %1 2>/dev/null' EXIT
mount --make-rprivate /
mkdir -p "$T/olddev" "$T/mnt2"
mount --rbind /dev "$T/olddev"
mount -t tmpfs -o mode=755 tmpfs /dev
for n in null zero full random urandom fuse tty; do
    [ -e "$T/olddev/$n" ] && touch "/dev/$n" && mount --bind "$T/olddev/$n" "/dev/$n"
done
mkdir -p /dev/shm /dev/pts && mount --bind "$T/olddev/shm" /dev/shm
timeout 40 python3 "$T/syslogd.py" /dev/log "$T/syslog.out" &
for _ in $(seq 100); do [ -e /dev/log.ready ] && break; sleep 0.05; done
timeout 30 "$BIN/benchfs-fuse" "$T/mnt2" --registry-dir "$REG" --timeout 10 || exit 1
ls "$T/mnt2" >/dev/null
fusermount3 -u "$T/mnt2"
for _ in $(seq 100); do grep -q "unmounted" "$T/syslog.out" 2>/dev/null && break; sleep 0.05; done
NS
    timeout 60 unshare -m bash "$T/inns.sh" "$T" "$BIN" "$REG" >"$T/ns.out" 2>&1
    check "logs: the daemon's mount note reaches syslog" \
        grep -q "benchfs-fuse\[[0-9]*\]: $T/mnt2: NOTE: mounted BenchFS" "$T/syslog.out"
    check "logs: syslog has the unmount too" grep -q "NOTE: unmounted $T/mnt2" "$T/syslog.out"
    grep -q "NOTE" "$T/syslog.out" 2>/dev/null || cat "$T/ns.out"
else
    skip "logs: syslog (cannot make a private mount namespace here: unshare -m failed)"
fi
finish
