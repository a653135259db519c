#!/usr/bin/env bash
# Extended attributes and POSIX ACLs on real mounts, on one server and on a
# three-server cluster (where an inode's owner is often not its entry's server):
#   - tests/system/test_xattr: round trips (binary, empty, 64 KiB values), every
#     errno (ENODATA, EEXIST, ERANGE, E2BIG, EOPNOTSUPP, EPERM), ctime, hard links,
#     attributes gone from the servers with the inode's last name (OP_SCAN)
#   - cp -a, rsync -aX and tar --xattrs keep attributes and ACLs, into the mount
#     and back out; a second mount sees what the first set
#   - setfacl/getfacl; nobody refused by an ACL entry and allowed by another;
#     trusted.* refused to (and hidden from) nobody
#   - a default ACL is inherited by new files and directories (mode as Linux
#     computes it, also for entries whose parent lives on another server); the
#     umask applies without one; chmod and the ACL mask follow each other
#   - attributes survive a restart of the servers
#   - benchfs-fsck: an attribute of a missing inode is reported and repaired;
#     online (OP_SCAN) the cluster checks clean
#   - -o no_default_permissions: attributes and ACLs are stored (not enforced);
#     -o noxattr: none (ENOTSUP), files work as before
# Every command that touches a mount runs under `timeout`.
source "$(dirname "$0")/lib.sh"

FSCK=$BIN/benchfs-fsck DMG=$BIN/tests/system/fsck_damage
chmod 0711 "$T"   # nobody must reach the mount points under $T
SLOW=1
case $BUILD in *san*) SLOW=3 ;; esac
tmo() { local s=$1; shift; timeout -k 5 $((s * SLOW)) "$@"; }
mt() { tmo 30 "$@"; }
section() { echo "# $1 (at ${SECONDS}s)"; }
as_nobody() { tmo 20 setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
mode_of() { mt stat -c %a "$1"; }
# dump DIR [user]: every attribute and ACL below DIR (with "user": its user.*
# attributes only), by path relative to DIR in sorted order (BenchFS lists a
# directory in hash order).
dump() {
    (cd "$1" && find . -mindepth 1 | LC_ALL=C sort | while read -r f; do
        if [ "${2:-}" = user ]; then mt getfattr -h -d -e hex -- "$f" 2>/dev/null; continue; fi
        mt getfattr -h -d -m - -e hex -- "$f" 2>/dev/null
        [ -L "$f" ] || mt getfacl -p -- "$f" 2>/dev/null
    done)
}

if ! command -v setfattr >/dev/null || ! command -v setfacl >/dev/null; then
    skip "attr and acl packages (setfattr, setfacl) are not installed: scripts/deps.sh"
    finish
fi

# A local tree with attributes and ACLs, for the copies.
SRC=$T/src
mkdir -p "$SRC/sub"
printf 'one\n' >"$SRC/a"; printf 'two\n' >"$SRC/sub/b"; ln -s a "$SRC/l"
if ! setfattr -n user.k -v v1 "$SRC/a" 2>/dev/null; then
    skip "the local file system of $T takes no user.* attributes: no copies to compare"
    SRC=
else
    setfattr -n user.bin -v 0x00ff00 "$SRC/sub/b"
    setfattr -n user.d -v dir "$SRC/sub"
    setfacl -m u:nobody:r,g:nogroup:rw "$SRC/a"
    setfacl -d -m u:nobody:rx "$SRC/sub"
fi

# suite NODES: everything on a fresh cluster of NODES servers.
suite() {
    local n=$1 REG=$T/reg$1 DATA=$T/data$1 P=$T/p$1 Q=$T/q$1 k
    NODES=$n start_server "$REG" "$DATA" --chunk-size 64K || { fail "$n: servers start"; return; }
    local pids=("${CLUSTER_PIDS[@]:-$SERVER_PID}")
    [ "$n" -eq 1 ] && pids=("$SERVER_PID")
    mount_fs "$REG" "$P" -o allow_other || { fail "$n: mount"; return; }

    section "$n server(s): system calls"
    mt "$BIN/tests/system/test_xattr" "$P" "$REG" >"$T/tx.out" 2>&1
    local rc=$?
    sed "s/^\(PASS\|FAIL\): /\1: $n: /" "$T/tx.out"
    [ "$rc" -eq 0 ] || fail "$n: test_xattr exits $rc"

    section "$n server(s): copies"
    if [ -n "$SRC" ]; then
        mt cp -a "$SRC" "$P/cp" && mt cp -a "$P/cp" "$T/cp-back$n"
        check "$n: cp -a into the mount keeps attributes and ACLs" \
            diff <(dump "$SRC") <(dump "$P/cp")
        check "$n: cp -a out of the mount keeps them" diff <(dump "$SRC") <(dump "$T/cp-back$n")
        mt rsync -aX "$SRC/" "$P/rs/" && mt rsync -aX "$P/rs/" "$T/rs-back$n/"
        check "$n: rsync -aX into the mount keeps attributes" \
            diff <(dump "$SRC" user) <(dump "$P/rs" user)
        check "$n: rsync -aX out of the mount keeps them" \
            diff <(dump "$SRC" user) <(dump "$T/rs-back$n" user)
        mt tar --xattrs --xattrs-include='*' --acls -C "$SRC" -cf "$T/src$n.tar" . &&
            mkdir -p "$P/tar" && mt tar --xattrs --xattrs-include='*' --acls -C "$P/tar" -xf "$T/src$n.tar" &&
            mt tar --xattrs --xattrs-include='*' --acls -C "$P/tar" -cf "$T/back$n.tar" . &&
            mkdir -p "$T/tar-back$n" &&
            mt tar --xattrs --xattrs-include='*' --acls -C "$T/tar-back$n" -xf "$T/back$n.tar"
        check "$n: tar --xattrs into the mount keeps attributes" diff <(dump "$SRC") <(dump "$P/tar")
        check "$n: tar --xattrs out of the mount keeps them" diff <(dump "$SRC") <(dump "$T/tar-back$n")
    fi
    mount_fs "$REG" "$Q" || fail "$n: second mount"
    mt setfattr -n user.from -v first "$P/cp/a" 2>/dev/null || mt setfattr -n user.from -v first "$P/rs/a"
    check "$n: a second mount sees the attribute" \
        eval "mt getfattr --absolute-names -n user.from --only-values '$Q/cp/a' 2>/dev/null | grep -qx first ||
              mt getfattr --absolute-names -n user.from --only-values '$Q/rs/a' | grep -qx first"

    section "$n server(s): ACLs"
    mt sh -c "mkdir '$P/acl' && chmod 0755 '$P/acl' && echo secret >'$P/acl/f' && chmod 0600 '$P/acl/f' &&
        echo open >'$P/acl/g' && chmod 0644 '$P/acl/g'"
    if as_nobody cat "$P/acl/f" >/dev/null 2>&1; then fail "$n: nobody reads a 0600 file"
    else pass "$n: nobody cannot read root's 0600 file"; fi
    mt setfacl -m u:nobody:r "$P/acl/f"
    check "$n: getfacl shows the entry" eval "mt getfacl -p '$P/acl/f' | grep -qx 'user:nobody:r--'"
    check "$n: an ACL entry lets nobody read it" eval "as_nobody cat '$P/acl/f' | grep -qx secret"
    check "$n: the mode's group bits are the mask" test "$(mode_of "$P/acl/f")" = 640
    mt setfacl -m u:nobody:- "$P/acl/g"
    if as_nobody cat "$P/acl/g" >/dev/null 2>&1; then fail "$n: nobody reads despite u:nobody:---"
    else pass "$n: an ACL entry refuses nobody a file others may read"; fi
    mt setfacl -m u:nobody:rw "$P/acl/f" && mt chmod 0640 "$P/acl/f"
    check "$n: chmod sets the mask (getfacl)" eval "mt getfacl -p '$P/acl/f' | grep -qx 'mask::r--'"
    if as_nobody sh -c "echo x >>'$P/acl/f'" 2>/dev/null; then fail "$n: nobody writes through an r-- mask"
    else pass "$n: the mask chmod set limits the named entry (no write)"; fi
    check "$n: ... which still reads" eval "as_nobody cat '$P/acl/f' | grep -qx secret"
    mt setfacl -m m::rw "$P/acl/f"
    check "$n: setting the mask sets the mode" test "$(mode_of "$P/acl/f")" = 660
    mt setfacl -b "$P/acl/f"
    check "$n: setfacl -b leaves a plain mode" \
        eval "[ \"\$(mt getfattr --absolute-names -m - -d '$P/acl/f' 2>/dev/null | grep -c posix_acl)\" = 0 ]"
    mt setfattr -n trusted.t -v x "$P/acl/g"
    if as_nobody setfattr -n trusted.u -v x "$P/acl/g" 2>/dev/null; then fail "$n: nobody sets trusted.*"
    else pass "$n: nobody cannot set trusted.*"; fi
    check "$n: trusted.* is hidden from nobody's list" \
        eval "! as_nobody getfattr --absolute-names -m - -d '$P/acl/g' 2>/dev/null | grep -q trusted"
    check "$n: root lists trusted.*" eval "mt getfattr --absolute-names -m - -d '$P/acl/g' | grep -q trusted.t"

    section "$n server(s): inheritance"
    mt mkdir "$P/inh" && mt setfacl -d -m u:nobody:rwx,g::r-x,o::- "$P/inh"
    local bad=0
    for k in $(seq 12); do   # names on every server: parents local and remote
        mt sh -c "umask 022; echo x >'$P/inh/f$k'; mkdir '$P/inh/d$k'"
        [ "$(mode_of "$P/inh/f$k")" = 660 ] || { bad=1; echo "f$k: mode $(mode_of "$P/inh/f$k")"; }
        [ "$(mode_of "$P/inh/d$k")" = 770 ] || { bad=1; echo "d$k: mode $(mode_of "$P/inh/d$k")"; }
        mt getfacl -p "$P/inh/f$k" | grep -q "^user:nobody:rwx.*effective:rw-" || { bad=1; echo "f$k: no access ACL"; }
        mt getfacl -p "$P/inh/d$k" | grep -qx "default:user:nobody:rwx" || { bad=1; echo "d$k: no default ACL"; }
    done
    check "$n: new files and directories inherit the default ACL (umask not applied)" test "$bad" -eq 0
    mt sh -c "umask 022; echo x >'$P/inh/d3/deeper'"
    check "$n: ... and a new directory passes it on" \
        eval "mt getfacl -p '$P/inh/d3/deeper' | grep -q '^user:nobody:rwx'"
    check "$n: nobody writes through an inherited entry" as_nobody sh -c "echo y >>'$P/inh/f1'"
    mt mkdir "$P/plain"
    mt sh -c "umask 027; echo x >'$P/plain/f'; mkdir '$P/plain/d'; mknod '$P/plain/p' p"
    check "$n: without a default ACL the umask applies (file 640)" test "$(mode_of "$P/plain/f")" = 640
    check "$n: ... directory 750" test "$(mode_of "$P/plain/d")" = 750
    check "$n: ... fifo 640" test "$(mode_of "$P/plain/p")" = 640

    section "$n server(s): restart"
    dump "$P/acl" >"$T/before$n" && dump "$P/inh" >>"$T/before$n"
    umount_fs "$Q"
    for k in "${pids[@]}"; do stop_server "$k"; done
    NODES=$n start_server "$REG" "$DATA" --chunk-size 64K || { fail "$n: restart"; return; }
    pids=("${CLUSTER_PIDS[@]:-$SERVER_PID}")
    [ "$n" -eq 1 ] && pids=("$SERVER_PID")
    wait_for 20 mt stat "$P/acl" >/dev/null
    check "$n: attributes and ACLs survive a restart" diff "$T/before$n" <(dump "$P/acl"; dump "$P/inh")
    mt "$FSCK" --registry-dir "$REG" >"$T/fsck$n.out" 2>&1
    check "$n: online fsck (OP_SCAN of the xattrs table) is clean" test $? -eq 0
    umount_fs "$P"
    if [ "$n" -eq 1 ]; then
        section "fsck"
        stop_server "$SERVER_PID"
        "$DMG" "$DATA" put xattrs "$(printf '%016x' 123456789)757365722e67686f7374" 6869
        mt "$FSCK" --data-dir "$DATA" >"$T/f.out" 2>&1
        check "fsck: an attribute of a missing inode is a problem" \
            grep -q "xattr-without-inode.*user.ghost" "$T/f.out"
        mt "$FSCK" --repair --data-dir "$DATA" >"$T/f.out" 2>&1
        check "fsck: --repair removes it" grep -q "extended attribute removed" "$T/f.out"
        mt "$FSCK" --data-dir "$DATA" >"$T/f.out" 2>&1
        check "fsck: clean after the repair" test $? -eq 0
        start_server "$REG" "$DATA" --chunk-size 64K || return

        section "-o no_default_permissions"
        mount_fs "$REG" "$P" -o no_default_permissions 2>/dev/null || { fail "mount"; return; }
        mt setfattr -n user.x -v 1 "$P/acl/g"
        check "no_default_permissions: attributes work" \
            eval "mt getfattr --absolute-names -n user.x --only-values '$P/acl/g' | grep -qx 1"
        mt setfacl -m u:nobody:rwx "$P/acl/g"
        check "no_default_permissions: ACLs are stored" \
            eval "mt getfacl -p '$P/acl/g' | grep -qx 'user:nobody:rwx'"
        umount_fs "$P"

        section "-o noxattr"
        mount_fs "$REG" "$P" -o noxattr || { fail "mount -o noxattr"; return; }
        if mt setfattr -n user.y -v 1 "$P/acl/g" 2>"$T/nx.err"; then fail "noxattr: setfattr works"
        else check "noxattr: attributes are not supported" grep -q "not supported" "$T/nx.err"; fi
        check "noxattr: files still work" eval "mt sh -c 'echo z >\"$P/acl/nx\"' && grep -qx z '$P/acl/nx'"
        umount_fs "$P"
    fi
    for k in "${pids[@]}"; do stop_server "$k"; done
}

suite 1
suite 3
finish
