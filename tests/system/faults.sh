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

# A server that starts a rendezvous (large) reply and then stops serving for 15 s
# (BENCHFS_FAULT=rndv-stall): the reply's data never arrives in time. Over TCP the
# data needs the server's progress (shared memory would let the client fetch it
# alone). The read must end at the client's deadline (--rpc-timeout 2, plus the grace
# for UCX to hand the buffer back), long before the server wakes up.
export UCX_TLS=tcp
UCX_TLS=tcp BENCHFS_FAULT=rndv-stall start_server "$T/reg2" "$T/data2" --chunk-size 1M ||
    { fail "rndv-stall server starts"; finish; }
mount_fs "$T/reg2" "$T/c" || { fail "mount C"; finish; }
mount_fs "$T/reg2" "$T/d" --rpc-timeout 2 --log-file "$T/d.log" || { fail "mount D"; finish; }
head -c 1048576 /dev/urandom >"$T/src2"
check "a 1 MiB file is written" cp "$T/src2" "$T/c/g"
t0=$SECONDS
timeout 30 dd if="$T/d/g" of=/dev/null bs=1M 2>"$T/err2"; rc=$?
took=$((SECONDS - t0))
check "a reply whose data never arrives fails the read" test "$rc" -ne 0 -a "$rc" -ne 124
check "... by the client's deadline, not the server's 15 s stall (took ${took} s)" test "$took" -lt 10
check "... and the client says why" grep -q "the reply's data did not arrive in time" "$T/d.log"
check "the server stalled on purpose" grep -q "BENCHFS_FAULT=rndv-stall" "$T/data2.log"
unset UCX_TLS

# A client whose receive of a rendezvous reply fails (BENCHFS_FAULT=client-recv-fail,
# in the client): the read fails with EIO, the reply's data is given back (the
# server's send finishes: it stops with no replies left), and the mount goes on.
start_server "$T/reg3" "$T/data3" --chunk-size 1M || { fail "third server starts"; finish; }
mount_fs "$T/reg3" "$T/e" || { fail "mount E"; finish; }
BENCHFS_FAULT=client-recv-fail mount_fs "$T/reg3" "$T/f" --log-file "$T/f.log" || { fail "mount F"; finish; }
check "a 1 MiB file is written" cp "$T/src2" "$T/e/g"
check "a small file is written" sh -c "echo small >'$T/e/s'"
# O_DIRECT: every read goes to the server as asked (the kernel retries a failed
# readahead with smaller reads, which may not need a rendezvous).
timeout 20 dd if="$T/f/g" of=/dev/null bs=1M iflag=direct 2>"$T/err3"; rc=$?
check "a failed receive fails the read" test "$rc" -ne 0
check "... with EIO" grep -q "Input/output error" "$T/err3"
check "... through the fault hook" grep -q "BENCHFS_FAULT=client-recv-fail" "$T/f.log"
check "the mount still serves small reads" test "$(timeout 20 cat "$T/f/s")" = small
umount_fs "$T/e"; umount_fs "$T/f"
stop_server "$SERVER_PID"
check "the server stopped with no reply left unsent" sh -c "! grep -q 'replies still not finished' '$T/data3.log'"
finish
