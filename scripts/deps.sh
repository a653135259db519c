#!/usr/bin/env bash
# scripts/deps.sh - installs the Debian 12 packages BenchFS builds, runs and is
# tested with (only the missing ones; needs root). Safe to run again.
set -eu
pkgs=(
    build-essential pkg-config          # compiler, make, pkg-config
    libucx-dev ucx-utils                # UCX (RPC transport)
    libfuse3-dev fuse3                  # FUSE client and fusermount3
    liburing-dev                        # io_uring chunk store
    liblmdb-dev                         # metadata store
    fio                                 # I/O benchmarks and integrity tests
    clang libclang-rt-14-dev            # libFuzzer target
    python3 iproute2 procps psmisc util-linux   # test helpers (flock(1) is util-linux)
    sqlite3                             # two writers on two mounts (tests/system/locks.sh)
    git rsync vim-tiny                  # real programs on the mount (tests/system/tools.sh)
    attr acl                            # getfattr/setfattr, getfacl/setfacl (tests/system/xattr.sh)
    slurm-wlm munge openmpi-bin         # the job kit under a real Slurm and mpirun (tests/system/jobkit.sh)
    bc                                  # bench/stage/run-stage-bench.sh
    gdb                                 # kills a client in the middle of a UCX send (tests/system/rpc.sh)
)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "Installing: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "scripts/deps.sh: need root to install packages (or install them yourself)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
[ -c /dev/fuse ] || echo "warning: /dev/fuse is missing: mounting will fail (modprobe fuse?)" >&2
exit 0
