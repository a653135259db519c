#!/usr/bin/env bash
# libbenchfs (lib/benchfs.h) against real servers, on one server and on a
# three-server cluster:
#   - tests/system/test_libbenchfs: every API call and its errors, symlinks,
#     permissions and ACLs as nobody, O_APPEND from 4 threads, unlink while
#     open, 2000-entry readdir with seekdir/telldir, 8 threads at once;
#   - make install DESTDIR=... PREFIX=/usr, then a program built with
#     pkg-config against the installed library (tests/system/installed/app.c),
#     run with LD_LIBRARY_PATH; the library exports benchfs_* only.
source "$(dirname "$0")/lib.sh"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SLOW=1 SAN=0 SANFLAGS=
case $BUILD in *san*) SLOW=3 SAN=1 SANFLAGS="-fsanitize=address,undefined" ;; esac

run_api() {   # run_api LABEL REG
    local out=$T/api.$1.out
    timeout -k 5 $((60 * SLOW)) "$BIN/tests/system/test_libbenchfs" "$2" >"$out" 2>"$out.err"
    local rc=$?
    sed "s/^\(PASS\|FAIL\|SKIP\): /\1: [$1] /" "$out"
    [ "$rc" -eq 0 ] || { fail "[$1] test_libbenchfs exit $rc"; cat "$out.err"; }
}

echo "# one server (at ${SECONDS}s)"
start_one "$T/reg1" "$T/data1" || { fail "start server"; finish; }
run_api 1-server "$T/reg1"

echo "# three servers (at ${SECONDS}s)"
start_cluster "$T/reg3" "$T/data3" 3 || { fail "start cluster"; finish; }
run_api 3-servers "$T/reg3"

echo "# installed library (at ${SECONDS}s)"
INST=$T/inst
if make -s -C "$ROOT" SAN=$SAN BUILD="$BUILD" install DESTDIR="$INST" PREFIX=/usr >"$T/install.log" 2>&1; then
    pass "make install DESTDIR PREFIX=/usr"
else
    fail "make install"; cat "$T/install.log"; finish
fi
check "installed: header, pkg-config file, library with soname link" \
    test -f "$INST/usr/include/benchfs.h" -a -f "$INST/usr/lib/pkgconfig/benchfs.pc" \
         -a -f "$INST/usr/lib/libbenchfs.so.1" -a -L "$INST/usr/lib/libbenchfs.so"
check "installed: programs and the benchfs link for mount -t fuse.benchfs" \
    test -x "$INST/usr/bin/benchfs-server" -a -x "$INST/usr/bin/benchfs-fuse" -a -L "$INST/usr/bin/benchfs" \
         -a -x "$INST/usr/bin/benchfs-bench" -a -x "$INST/usr/bin/benchfs-fsck" \
         -a -x "$INST/usr/bin/benchfs-status" -a -x "$INST/usr/bin/benchfs-stage"
check "soname is libbenchfs.so.1" sh -c "objdump -p '$INST/usr/lib/libbenchfs.so.1' | grep -q 'SONAME *libbenchfs.so.1'"
others=$(nm -D --defined-only "$INST/usr/lib/libbenchfs.so.1" | awk '{print $3}' | grep -v '^benchfs_' | grep -v '^BENCHFS_1$')
check "the library exports benchfs_* only" test -z "$others"
[ -n "$others" ] && echo "exported besides benchfs_*: $others"
PKG="env PKG_CONFIG_PATH=$INST/usr/lib/pkgconfig PKG_CONFIG_SYSROOT_DIR=$INST pkg-config"
flags=$($PKG --cflags --libs benchfs 2>"$T/pc.err")
check "pkg-config --cflags --libs benchfs" test -n "$flags"
# shellcheck disable=SC2086
if cc -std=c11 -Wall -Wextra -Werror $SANFLAGS "$ROOT/tests/system/installed/app.c" $flags -o "$T/app" 2>"$T/cc.err"; then
    pass "a program builds against the installed library"
    LD_LIBRARY_PATH=$INST/usr/lib timeout -k 5 $((30 * SLOW)) "$T/app" "$T/reg3" 2>"$T/app.err"
    rc=$?
    [ "$rc" -eq 0 ] || { fail "installed app exit $rc"; cat "$T/app.err"; }
    check "the program runs on the installed libbenchfs.so.1" \
        sh -c "LD_LIBRARY_PATH='$INST/usr/lib' ldd '$T/app' | grep -q '$INST/usr/lib/libbenchfs.so.1'"
else
    fail "a program builds against the installed library"; cat "$T/cc.err" "$T/pc.err"
fi
finish
