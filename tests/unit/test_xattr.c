/* test_xattr.c - unit tests of the xattr store (server/xattr_store.c) on real
 * LMDB stores in temp dirs, and of the POSIX ACL rules (common/acl.c). */
#include "../test.h"
#include "meta_fixture.h"
#include "../../common/acl.h"
#include "../../common/byteorder.h"
#include "../../common/xattr.h"
#include "../../server/meta.h"
#include "../../server/xattr_store.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>


static uint64_t mk(struct meta_store *m, uint64_t parent, const char *name, uint32_t mode)
{
    struct bfs_attr a;
    const char *tgt = S_ISLNK(mode) ? "t" : NULL;
    return meta_create(m, parent, name, strlen(name), mode, 0, 0, tgt, tgt ? 1 : 0, 1, &a) ? 0 : a.ino;
}

/* An ACL: entries of (tag, perm, id); returns its length. */
struct ent { unsigned tag, perm; uint32_t id; };
static size_t acl(uint8_t *out, const struct ent *e, size_t n)
{
    put_le32(out, 2);
    for (size_t i = 0; i < n; i++) {
        put_le16(out + 4 + 8 * i, (uint16_t)e[i].tag);
        put_le16(out + 6 + 8 * i, (uint16_t)e[i].perm);
        put_le32(out + 8 + 8 * i, e[i].id);
    }
    return 4 + 8 * n;
}
#define U 0xffffffffu
static unsigned perm_of(const uint8_t *a, size_t len, unsigned tag)
{
    for (size_t off = 4; off < len; off += 8)
        if (get_le16(a + off) == tag)
            return get_le16(a + off + 2);
    return 99;
}

static void test_names(void)
{
    char big[300];
    memset(big, 'a', sizeof big);
    memcpy(big, "user.", 5);
    CHECK_EQ(bfs_xattr_ns("user.a", 6), BFS_XNS_USER);
    CHECK_EQ(bfs_xattr_ns("trusted.a", 9), BFS_XNS_TRUSTED);
    CHECK_EQ(bfs_xattr_ns("security.selinux", 16), BFS_XNS_SECURITY);
    CHECK_EQ(bfs_xattr_ns(BFS_ACL_ACCESS, strlen(BFS_ACL_ACCESS)), BFS_XNS_ACL_ACCESS);
    CHECK_EQ(bfs_xattr_ns(BFS_ACL_DEFAULT, strlen(BFS_ACL_DEFAULT)), BFS_XNS_ACL_DEFAULT);
    CHECK_EQ(bfs_xattr_ns("system.foo", 10), -EOPNOTSUPP);
    CHECK_EQ(bfs_xattr_ns("os2.x", 5), -EOPNOTSUPP);
    CHECK_EQ(bfs_xattr_ns("user.", 5), -EINVAL);
    CHECK_EQ(bfs_xattr_ns("user.a\0b", 8), -EINVAL);
    CHECK_EQ(bfs_xattr_ns("", 0), -ERANGE);
    CHECK_EQ(bfs_xattr_ns(big, 255), BFS_XNS_USER);
    CHECK_EQ(bfs_xattr_ns(big, 256), -ERANGE);
    /* the inherited-attribute list */
    uint8_t buf[64];
    size_t n = bfs_xattr_rec_put(buf, "user.a", 6, "xy", 2), pos = 0, nl, vl;
    n += bfs_xattr_rec_put(buf + n, "user.b", 6, "", 0);
    const char *name;
    const void *val;
    CHECK_EQ(bfs_xattr_rec_next(buf, n, &pos, &name, &nl, &val, &vl), 1);
    CHECK(nl == 6 && vl == 2 && !memcmp(name, "user.a", 6) && !memcmp(val, "xy", 2));
    CHECK_EQ(bfs_xattr_rec_next(buf, n, &pos, &name, &nl, &val, &vl), 1);
    CHECK(nl == 6 && vl == 0);
    CHECK_EQ(bfs_xattr_rec_next(buf, n, &pos, &name, &nl, &val, &vl), 0);
    pos = 0;
    CHECK_EQ(bfs_xattr_rec_next(buf, n - 1, &pos, &name, &nl, &val, &vl), 1);
    CHECK_EQ(bfs_xattr_rec_next(buf, n - 1, &pos, &name, &nl, &val, &vl), -EBADMSG);
}

static void test_acl_rules(void)
{
    uint8_t a[128], out[128];
    const struct ent base[] = { { 1, 6, U }, { 4, 4, U }, { 0x20, 4, U } };
    const struct ent full[] = { { 1, 7, U }, { 2, 7, 65534 }, { 4, 5, U }, { 0x10, 7, U }, { 0x20, 5, U } };
    size_t bl = acl(a, base, 3);
    uint32_t mode = S_IFREG | 04777;
    CHECK_EQ(bfs_acl_valid(a, bl), 0);
    CHECK_EQ(bfs_acl_to_mode(a, bl, &mode), 0);   /* the mode says it all */
    CHECK_EQ(mode, S_IFREG | 04644);
    /* invalid: short, bad version, unsorted, a named user without a mask */
    CHECK_EQ(bfs_acl_valid(a, 4 + 2 * 8), -EINVAL);
    put_le32(a, 1);
    CHECK_EQ(bfs_acl_valid(a, bl), -EINVAL);
    const struct ent unsorted[] = { { 4, 4, U }, { 1, 6, U }, { 0x20, 4, U } };
    CHECK_EQ(bfs_acl_valid(a, acl(a, unsorted, 3)), -EINVAL);
    const struct ent nomask[] = { { 1, 6, U }, { 2, 6, 5 }, { 4, 4, U }, { 0x20, 4, U } };
    CHECK_EQ(bfs_acl_valid(a, acl(a, nomask, 4)), -EINVAL);
    /* a mask stands for the group class in the mode */
    size_t fl = acl(a, full, 5);
    mode = S_IFDIR | 0;
    CHECK_EQ(bfs_acl_to_mode(a, fl, &mode), 1);
    CHECK_EQ(mode, S_IFDIR | 0775);
    /* chmod: owner, mask, other follow; named entries stay */
    CHECK_EQ(bfs_acl_chmod(a, fl, 0640), 0);
    CHECK_EQ(perm_of(a, fl, 1), 6);
    CHECK_EQ(perm_of(a, fl, 2), 7);
    CHECK_EQ(perm_of(a, fl, 4), 5);
    CHECK_EQ(perm_of(a, fl, 0x10), 4);
    CHECK_EQ(perm_of(a, fl, 0x20), 0);
    /* inherit (posix_acl_create): 0666 with this default -> 0660 + ACL */
    fl = acl(a, full, 5);
    mode = S_IFREG | 0666;
    CHECK_EQ(bfs_acl_inherit(a, fl, &mode, out), 1);
    CHECK_EQ(mode, S_IFREG | 0664);
    CHECK_EQ(perm_of(out, fl, 1), 6);
    CHECK_EQ(perm_of(out, fl, 0x10), 6);
    CHECK_EQ(perm_of(out, fl, 2), 7);   /* named entries are kept, the mask limits them */
    CHECK_EQ(perm_of(out, fl, 0x20), 4);
    /* a base-only default: the mode says it all */
    bl = acl(a, base, 3);
    mode = S_IFDIR | 0777;
    CHECK_EQ(bfs_acl_inherit(a, bl, &mode, out), 0);
    CHECK_EQ(mode, S_IFDIR | 0644);
}

static void test_store(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a;
    char buf[256];
    size_t n;
    REQUIRE(m);
    uint64_t f = mk(m, 1, "f", S_IFREG | 0644), l = mk(m, 1, "l", S_IFLNK | 0777);
    uint64_t p = mk(m, 1, "p", S_IFIFO | 0644), d = mk(m, 1, "d", S_IFDIR | 0755);
    REQUIRE(f && l && p && d);
    CHECK_EQ(meta_getattr(m, f, &a), 0);
    CHECK_EQ(a.flags, 0);
    CHECK_EQ(xattr_get(m, f, "user.a", 6, buf, sizeof buf, &n), -ENODATA);
    CHECK_EQ(xattr_set(m, f, "user.a", 6, "hello", 5, 0, 50, &a), 0);
    CHECK_EQ(a.ctime_ns, 50);
    CHECK_EQ(a.flags, BFS_ATTR_XATTRS);
    CHECK_EQ(xattr_get(m, f, "user.a", 6, buf, sizeof buf, &n), 0);
    CHECK(n == 5 && !memcmp(buf, "hello", 5));
    CHECK_EQ(xattr_get(m, f, "user.a", 6, NULL, 0, &n), 0);
    CHECK_EQ(n, 5);
    CHECK_EQ(xattr_get(m, f, "user.a", 6, buf, 4, &n), -ERANGE);
    CHECK_EQ(xattr_set(m, f, "user.a", 6, "x", 1, BFS_XATTR_CREATE, 51, NULL), -EEXIST);
    CHECK_EQ(xattr_set(m, f, "user.b", 6, "x", 1, BFS_XATTR_REPLACE, 51, NULL), -ENODATA);
    CHECK_EQ(xattr_set(m, f, "user.b", 6, "", 0, BFS_XATTR_CREATE, 52, NULL), 0);
    CHECK_EQ(xattr_set(m, f, "bogus.b", 7, "", 0, 0, 52, NULL), -EOPNOTSUPP);
    CHECK_EQ(xattr_set(m, f, "user.big", 8, buf, BFS_XATTR_SIZE_MAX + 1, 0, 52, NULL), -E2BIG);
    CHECK_EQ(xattr_set(m, l, "user.a", 6, "x", 1, 0, 52, NULL), -EPERM);
    CHECK_EQ(xattr_set(m, p, "user.a", 6, "x", 1, 0, 52, NULL), -EPERM);
    CHECK_EQ(xattr_set(m, l, "trusted.a", 9, "x", 1, 0, 52, NULL), 0);
    CHECK_EQ(xattr_set(m, 12345, "user.a", 6, "x", 1, 0, 52, NULL), -ENOENT);
    CHECK_EQ(xattr_list(m, f, buf, sizeof buf, &n), 0);
    CHECK(n == 14 && !memcmp(buf, "user.a\0user.b\0", 14));
    CHECK_EQ(xattr_list(m, f, buf, 10, &n), -ERANGE);
    CHECK_EQ(xattr_list(m, d, buf, sizeof buf, &n), 0);
    CHECK_EQ(n, 0);
    CHECK_EQ(xattr_remove(m, f, "user.a", 6, 60, &a), 0);
    CHECK_EQ(a.ctime_ns, 60);
    CHECK_EQ(a.flags, BFS_ATTR_XATTRS);   /* user.b is left */
    CHECK_EQ(xattr_remove(m, f, "user.a", 6, 61, NULL), -ENODATA);
    CHECK_EQ(xattr_remove(m, f, "user.b", 6, 62, &a), 0);
    CHECK_EQ(a.flags, 0);
    /* the list limit: names past 64 KiB are ENOSPC */
    char name[256];
    int i, rc = 0;
    for (i = 0; rc == 0 && i < 1000; i++) {
        int len = snprintf(name, sizeof name, "user.%0240d", i);
        rc = xattr_set(m, d, name, (size_t)len, "", 0, 0, 70, NULL);
    }
    CHECK_EQ(rc, -ENOSPC);
    CHECK_EQ(i - 1, BFS_XATTR_LIST_MAX / 246);
    /* everything goes with the inode, in its transaction */
    struct meta_drop drop;
    CHECK_EQ(xattr_set(m, f, "user.z", 6, "1", 1, 0, 80, NULL), 0);
    CHECK_EQ(meta_unlink(m, 1, "f", 1, 0, 0, 81, &drop), 0);
    CHECK_EQ(drop.freed, 1);
    CHECK_EQ(meta_unlink(m, 1, "d", 1, 1, 0, 81, &drop), 0);
    size_t used, cnt;
    int eof;
    static char page[1 << 20];
    CHECK_EQ(meta_scan(m, META_T_XATTRS, NULL, 0, page, sizeof page, &used, &cnt, &eof), 0);
    CHECK_EQ(cnt, 1);   /* only the symlink's */
    CHECK_EQ(get_be64((uint8_t *)page + 6), l);
    teardown(m);
}

static void test_acl_store(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a;
    uint8_t v[128], got[128];
    size_t n;
    REQUIRE(m);
    uint64_t f = mk(m, 1, "f", S_IFREG | 0600), d = mk(m, 1, "d", S_IFDIR | 0755);
    REQUIRE(f && d);
    const struct ent full[] = { { 1, 7, U }, { 2, 4, 65534 }, { 4, 0, U }, { 0x10, 4, U }, { 0x20, 0, U } };
    const struct ent base[] = { { 1, 6, U }, { 4, 4, U }, { 0x20, 0, U } };
    size_t fl = acl(v, full, 5);
    CHECK_EQ(xattr_set(m, f, BFS_ACL_ACCESS, strlen(BFS_ACL_ACCESS), v, fl, 0, 5, &a), 0);
    CHECK_EQ(a.mode, S_IFREG | 0740);
    CHECK_EQ(a.flags, BFS_ATTR_XATTRS | BFS_ATTR_ACL);
    CHECK_EQ(xattr_set(m, f, BFS_ACL_ACCESS, strlen(BFS_ACL_ACCESS), "bad", 3, 0, 5, NULL), -EINVAL);
    CHECK_EQ(xattr_set(m, f, BFS_ACL_DEFAULT, strlen(BFS_ACL_DEFAULT), v, fl, 0, 5, NULL), -EACCES);
    /* chmod rewrites the ACL in the same transaction */
    struct bfs_attr in = { .mode = 0604 };
    CHECK_EQ(meta_setattr(m, f, BFS_SET_MODE, &in, 6, &a, NULL), 0);
    CHECK_EQ(xattr_get(m, f, BFS_ACL_ACCESS, strlen(BFS_ACL_ACCESS), got, sizeof got, &n), 0);
    CHECK_EQ(n, fl);
    CHECK_EQ(perm_of(got, n, 1), 6);
    CHECK_EQ(perm_of(got, n, 0x10), 0);
    CHECK_EQ(perm_of(got, n, 0x20), 4);
    CHECK_EQ(perm_of(got, n, 2), 4);
    /* an ACL the mode says all of is not kept */
    size_t bl = acl(v, base, 3);
    CHECK_EQ(xattr_set(m, f, BFS_ACL_ACCESS, strlen(BFS_ACL_ACCESS), v, bl, 0, 7, &a), 0);
    CHECK_EQ(a.mode, S_IFREG | 0640);
    CHECK_EQ(a.flags, 0);
    CHECK_EQ(xattr_get(m, f, BFS_ACL_ACCESS, strlen(BFS_ACL_ACCESS), NULL, 0, &n), -ENODATA);
    /* inheritance from a local parent with a default ACL: no umask */
    fl = acl(v, full, 5);
    CHECK_EQ(xattr_set(m, d, BFS_ACL_DEFAULT, strlen(BFS_ACL_DEFAULT), v, fl, 0, 8, &a), 0);
    CHECK_EQ(a.flags, BFS_ATTR_XATTRS | BFS_ATTR_DEFACL);
    struct meta_inherit ih = { .umask = 077 };
    CHECK_EQ(meta_mknod_inherit(m, d, "g", 1, S_IFREG | 0666, 0, 0, 0, NULL, 0, &ih, 9, &a), 0);
    CHECK_EQ(a.mode, S_IFREG | 0640);   /* owner rw, mask r, other none */
    CHECK_EQ(a.flags, BFS_ATTR_XATTRS | BFS_ATTR_ACL);
    CHECK_EQ(meta_getattr(m, a.ino, &a), 0);
    CHECK_EQ(a.flags, BFS_ATTR_XATTRS | BFS_ATTR_ACL);
    CHECK_EQ(meta_mknod_inherit(m, d, "sub", 3, S_IFDIR | 0777, 0, 0, 0, NULL, 0, &ih, 9, &a), 0);
    CHECK_EQ(a.mode, S_IFDIR | 0740);
    CHECK_EQ(a.flags, BFS_ATTR_XATTRS | BFS_ATTR_ACL | BFS_ATTR_DEFACL);
    CHECK_EQ(xattr_get(m, a.ino, BFS_ACL_DEFAULT, strlen(BFS_ACL_DEFAULT), got, sizeof got, &n), 0);
    CHECK(n == fl && !memcmp(got, v, fl));
    /* without a default ACL the umask applies; a symlink takes nothing */
    CHECK_EQ(meta_mknod_inherit(m, 1, "h", 1, S_IFREG | 0666, 0, 0, 0, NULL, 0, &ih, 9, &a), 0);
    CHECK_EQ(a.mode, S_IFREG | 0600);
    CHECK_EQ(meta_mknod_inherit(m, d, "ln", 2, S_IFLNK | 0777, 0, 0, 0, "x", 1, &ih, 9, &a), 0);
    CHECK_EQ(a.mode, S_IFLNK | 0777);
    CHECK_EQ(a.flags, 0);
    /* a client's list for a parent elsewhere: stored, checked */
    uint8_t list[256];
    size_t ll = bfs_xattr_rec_put(list, BFS_ACL_ACCESS, strlen(BFS_ACL_ACCESS), v, fl);
    struct meta_inherit cl = { .umask = 0, .xattrs = list, .xattrs_len = ll };
    uint64_t remote_parent = (uint64_t)1 << BFS_INO_NODE_SHIFT | 5;
    CHECK_EQ(meta_mknod_inherit(m, remote_parent, "r", 1, S_IFREG | 0640, 0, 0, 0, NULL, 0, &cl, 9, &a), 0);
    CHECK_EQ(a.flags, BFS_ATTR_XATTRS | BFS_ATTR_ACL);
    ll = bfs_xattr_rec_put(list, "user.", 5, "", 0);
    cl.xattrs_len = ll;
    CHECK_EQ(meta_mknod_inherit(m, remote_parent, "s", 1, S_IFREG | 0640, 0, 0, 0, NULL, 0, &cl, 9, &a),
             -EINVAL);
    uint64_t ino;
    uint32_t type;
    CHECK_EQ(meta_lookup(m, remote_parent, "s", 1, &ino, &type), -ENOENT);   /* nothing made */
    teardown(m);
}

/* The flags survive a reopen, and an orphan's attributes go at its purge. */
static void test_persist_and_orphans(void)
{
    struct meta_store *m = setup(0);
    struct bfs_attr a;
    struct meta_drop drop;
    size_t n;
    REQUIRE(m);
    uint64_t f = mk(m, 1, "f", S_IFREG | 0644);
    REQUIRE(f);
    CHECK_EQ(xattr_set(m, f, "user.a", 6, "1", 1, 0, 5, NULL), 0);
    meta_close(m);
    REQUIRE(meta_open(tdir, 0, CHUNK, &m) == 0);
    CHECK_EQ(meta_getattr(m, f, &a), 0);
    CHECK_EQ(a.flags, BFS_ATTR_XATTRS);
    CHECK_EQ(a.mode, S_IFREG | 0644);
    CHECK_EQ(xattr_get(m, f, "user.a", 6, NULL, 0, &n), 0);
    CHECK_EQ(meta_unlink(m, 1, "f", 1, 0, 1, 6, &drop), 0);   /* kept open */
    CHECK_EQ(xattr_get(m, f, "user.a", 6, NULL, 0, &n), 0);
    CHECK_EQ(meta_purge_orphans(m, NULL, NULL), 1);
    CHECK_EQ(xattr_get(m, f, "user.a", 6, NULL, 0, &n), -ENOENT);
    size_t used, cnt;
    int eof;
    static char page[4096];
    CHECK_EQ(meta_scan(m, META_T_XATTRS, NULL, 0, page, sizeof page, &used, &cnt, &eof), 0);
    CHECK_EQ(cnt, 0);
    teardown(m);
}

int main(void)
{
    RUN(test_names);
    RUN(test_acl_rules);
    RUN(test_store);
    RUN(test_acl_store);
    RUN(test_persist_and_orphans);
    return test_summary();
}
