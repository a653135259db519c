#!/usr/bin/env bash
# scripts/test.sh - the one command that runs every test on a fresh Debian 12
# machine: installs the packages, builds BenchFS normally and with
# AddressSanitizer + UBSan, and runs unit, system, fuzz and stress tests.
# Last line: "N passed, N failed, N skipped".
set -u
cd "$(dirname "$0")/.."
if ! scripts/deps.sh; then
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
fi
jobs=$(nproc)
if ! make -j"$jobs" all || ! make -j"$jobs" SAN=1 all; then
    echo "build failed"
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
fi
exec tests/run.sh --san --fuzz --stress
