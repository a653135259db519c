#!/usr/bin/env bash
# A server that lies about what it sends (BENCHFS_FAULT, tests only): the client
# must notice and fail the call with EIO, never hand the application bytes the
# server did not send.
source "$(dirname "$0")/lib.sh"

REG=$T/reg DATA=$T/data
BENCHFS_FAULT=short-read start_server "$REG" "$DATA" --chunk-size 64K || { fail "server starts"; finish; }
mount_fs "$REG" "$T/a" || { fail "mount A"; finish; }
mount_fs "$REG" "$T/b" || { fail "mount B"; finish; }

# 200 KiB: past the inline limit, over several chunks (the inline bytes of
# small files do not go through the chunk store's read).
head -c 204800 /dev/urandom >"$T/src"
check "a file is written" cp "$T/src" "$T/a/f"
# B has never seen it: its read goes to the server, whose replies are short.
timeout 20 cat "$T/b/f" >"$T/out" 2>"$T/err"; rc=$?
check "a short READ reply fails the read" test "$rc" -ne 0
check "... with EIO" grep -q "Input/output error" "$T/err"
check "... and hands out no bytes past what was checked" test "$(stat -c %s "$T/out")" -lt 204800
check "the server says it misbehaves on purpose" grep -q "BENCHFS_FAULT=short-read" "$DATA.log"
finish
