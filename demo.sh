#!/usr/bin/env bash
# demo.sh - the main job in one command (`make demo`), on a fresh Debian 12 machine as
# root: install the packages, build, start a BenchFS server, mount it, run the
# small-file benchmark (the seed's report) and a fio job on the mount, and clean up.
#
# Everything lives in one temporary directory (registry, data, mount point), so the
# demo never clashes with a real /mnt/benchfs or with another run. Cleanup (unmount,
# stop the server, remove the directory) runs however the script ends: success, a
# failed step, Ctrl+C or SIGTERM. Every wait has a time limit.
set -u
cd "$(dirname "$0")" || exit 1
ROOT=$PWD
BIN=$ROOT/build

usage() {
    cat <<EOF
usage: ./demo.sh [--keep] [--iterations N]

Installs packages (scripts/deps.sh), builds (make -j2), starts benchfs-server and
benchfs-fuse in a temporary directory, runs benchfs-bench and fio bench/fio/seqwrite.fio
on the mount, then unmounts, stops the server and removes the directory.

  --keep           leave the server and the mount up at the end (prints how to stop them)
  --iterations N   benchfs-bench iterations per benchmark (default: its own, 100)
EOF
}

KEEP=0 ITER=()
while [ $# -gt 0 ]; do
    case $1 in
    --keep) KEEP=1 ;;
    --iterations)
        case ${2:-} in ''|*[!0-9]*) echo "demo.sh: --iterations needs a number" >&2; exit 2 ;; esac
        ITER=(--iterations "$2"); shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; exit 2 ;;
    esac
    shift
done

T=""            # the temporary directory
SERVER_PID="" FUSE_PID="" MNT=""
CURRENT=""      # the bounded command running now, so an interrupt can stop it
DONE=0          # set once every step succeeded (--keep applies only then)

step() { printf '\n==> %s\n' "$*"; }
die() { printf '\ndemo.sh: FAILED: %s\n' "$*" >&2; exit 1; }

source "$ROOT/scripts/proc.sh"
warn() { echo "demo.sh: $*" >&2; }

# shellcheck disable=SC2317  # called from the traps
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    [ -n "$CURRENT" ] && stop_pid "$CURRENT"
    if [ "$KEEP" = 1 ] && [ "$DONE" = 1 ]; then
        step "Left running (--keep):"
        echo "    mount:  $MNT   (benchfs-fuse pid $FUSE_PID)"
        echo "    server: pid $SERVER_PID, registry $T/reg, data $T/data, log $T/server.log"
        echo "  To stop:  fusermount3 -u $MNT; kill $SERVER_PID; rm -rf $T"
        exit "$rc"
    fi
    step "Cleaning up"
    # Unmount first: benchfs-fuse exits by itself once its mount is gone.
    if [ -n "$MNT" ] && mountpoint -q "$MNT" 2>/dev/null; then
        timeout 20 fusermount3 -u "$MNT" 2>/dev/null || timeout 20 umount -l "$MNT" 2>/dev/null ||
            echo "demo.sh: could not unmount $MNT" >&2
    fi
    stop_pid "$FUSE_PID"
    stop_pid "$SERVER_PID"      # SIGTERM: the server finishes, syncs, unregisters
    # --one-file-system: never descend into a mount that refused to go away.
    [ -n "$T" ] && rm -rf --one-file-system "$T"
    [ "$rc" = 0 ] && echo "Done: unmounted, server stopped, temporary files removed."
    exit "$rc"
}
trap cleanup EXIT
trap 'echo; echo "demo.sh: interrupted" >&2; exit 130' INT
trap 'echo "demo.sh: terminated" >&2; exit 143' TERM

step "Installing packages (scripts/deps.sh)"
bounded 1800 scripts/deps.sh || die "scripts/deps.sh (run as root, or install the packages it lists)"

step "Building (make -j2)"
bounded 900 make -j2 -s || die "the build"

T=$(mktemp -d "${TMPDIR:-/tmp}/benchfs-demo.XXXXXX") || die "mktemp"
MNT=$T/mnt
step "Starting benchfs-server (registry $T/reg, data $T/data)"
"$BIN/benchfs-server" --registry-dir "$T/reg" --data-dir "$T/data" >"$T/server.log" 2>&1 &
SERVER_PID=$!
if ! wait_until 30 grep -q "Server is ready" "$T/server.log"; then
    cat "$T/server.log" >&2; die "the server did not become ready within 30 s"
fi
sed -n '/^Starting/,/^Server is ready/p' "$T/server.log" | sed 's/^/    /'

step "Mounting BenchFS on $MNT"
mkdir -p "$MNT"
# -f keeps benchfs-fuse in the foreground of its own background job: we know its pid.
"$BIN/benchfs-fuse" "$MNT" --registry-dir "$T/reg" --timeout 30 -f >"$T/fuse.log" 2>&1 &
FUSE_PID=$!
if ! wait_until 40 mountpoint -q "$MNT"; then
    cat "$T/fuse.log" >&2; die "benchfs-fuse did not mount $MNT within 40 s"
fi
echo "    $(grep " $MNT " /proc/mounts)"

step "Small-file benchmark: benchfs-bench --dir $MNT ${ITER[*]}"
bounded 900 "$BIN/benchfs-bench" --dir "$MNT" "${ITER[@]}" || die "benchfs-bench"

step "fio on the mount: fio --directory=$MNT bench/fio/seqwrite.fio"
bounded -o "$T/fio.log" 300 fio --directory="$MNT" bench/fio/seqwrite.fio ||
    { cat "$T/fio.log" >&2; die "fio"; }
# fio's summary: the job line, its bandwidth and latency lines, and the run status.
grep -E '^seqwrite: \(g|^ +write:|^ +clat \(|^ +WRITE:' "$T/fio.log" | sed 's/^ */    /'
find "$MNT" -maxdepth 1 -type f -printf '    on the mount: %f, %s bytes\n'

DONE=1
exit 0
