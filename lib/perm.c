/* perm.c - the caller's credentials and the checks the kernel makes on a
 * mount with default_permissions (generic_permission, with the file's POSIX
 * access ACL when it has one; sticky directories; ownership). */
#include "lib_int.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/fsuid.h>
#include <unistd.h>

#include "../common/acl.h"
#include "../common/byteorder.h"
#include "../common/xattr.h"

/* ACL tags (Linux's posix_acl_xattr.h). */
enum { TAG_USER_OBJ = 1, TAG_USER = 2, TAG_GROUP_OBJ = 4, TAG_GROUP = 8, TAG_MASK = 0x10,
       TAG_OTHER = 0x20 };

/* BENCHFS_OPT_CACHE_IDS: a thread's fsuid and fsgid, read again when ids_gen
 * has moved since. The generation is taken before the ids are read, so a change
 * made meanwhile is read again on the next call. */
static atomic_int ids_cached;
static atomic_uint ids_gen = 1;
static _Thread_local struct {
    unsigned gen;               /* 0: never read */
    uid_t uid;
    gid_t gid;
} thread_ids;

void cred_cache_ids(void)
{
    atomic_store(&ids_cached, 1);
}

EXPORT void benchfs_ids_changed(void)
{
    if (atomic_fetch_add(&ids_gen, 1) + 1 == 0)   /* 0 would read as "never read" */
        atomic_fetch_add(&ids_gen, 1);
}

/* An invalid id changes nothing and returns the thread's current one. */
static void fs_ids(uid_t *uid, gid_t *gid)
{
    *uid = (uid_t)setfsuid((uid_t)-1);
    *gid = (gid_t)setfsgid((gid_t)-1);
}

void cred_get(struct cred *cr, int real)
{
    cr->real = real;
    cr->ngroups = -1;
    cr->groups = cr->small;
    if (real) {
        cr->uid = getuid();
        cr->gid = getgid();
    } else if (atomic_load_explicit(&ids_cached, memory_order_relaxed)) {
        unsigned gen = atomic_load(&ids_gen);
        if (thread_ids.gen != gen) {
            fs_ids(&thread_ids.uid, &thread_ids.gid);
            thread_ids.gen = gen;
        }
        cr->uid = thread_ids.uid;
        cr->gid = thread_ids.gid;
    } else {
        fs_ids(&cr->uid, &cr->gid);
    }
}

void cred_put(struct cred *cr)
{
    if (cr->groups != cr->small)
        free(cr->groups);
    cr->groups = cr->small;
    cr->ngroups = -1;
}

/* The supplementary groups, fetched once per call that needs them. */
static void fetch_groups(struct cred *cr)
{
    int n = getgroups(CRED_SMALL, cr->small);
    if (n < 0) {
        int want = getgroups(0, NULL);
        gid_t *g = want > 0 ? malloc((size_t)want * sizeof *g) : NULL;
        n = g ? getgroups(want, g) : -1;
        if (n < 0) {
            free(g);
            n = 0;   /* none known: only the primary group counts */
        } else {
            cr->groups = g;
        }
    }
    cr->ngroups = n;
}

int cred_in_group(struct cred *cr, gid_t gid)
{
    if (gid == cr->gid)
        return 1;
    if (cr->ngroups < 0)
        fetch_groups(cr);
    for (int i = 0; i < cr->ngroups; i++)
        if (cr->groups[i] == gid)
            return 1;
    return 0;
}

/* posix_acl_permission: the bits the ACL (len bytes, valid) gives the caller. */
static int acl_perm(struct cred *cr, const struct bfs_attr *a, const uint8_t *v, size_t len,
                    int mask)
{
    size_t n = (len - 4) / 8;
    int mask_perm = 7, found_group = 0, group_ok = 0, user_perm = -1;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *e = v + 4 + 8 * i;
        unsigned tag = get_le16(e), perm = get_le16(e + 2) & 7;
        uint32_t id = get_le32(e + 4);
        switch (tag) {
        case TAG_USER_OBJ:
            if (a->uid == cr->uid)
                return (perm & mask) == (unsigned)mask ? 0 : -EACCES;
            break;
        case TAG_USER:
            if (id == cr->uid)
                user_perm = (int)perm;
            break;
        case TAG_GROUP_OBJ:
            if (cred_in_group(cr, a->gid)) {
                found_group = 1;
                if ((perm & mask) == (unsigned)mask)
                    group_ok = 1;
            }
            break;
        case TAG_GROUP:
            if (cred_in_group(cr, id)) {
                found_group = 1;
                if ((perm & mask) == (unsigned)mask)
                    group_ok = 1;
            }
            break;
        case TAG_MASK:
            mask_perm = (int)perm;
            break;
        case TAG_OTHER:
            if (user_perm >= 0)
                return ((user_perm & mask_perm) & mask) == mask ? 0 : -EACCES;
            if (found_group)
                return group_ok && (mask_perm & mask) == mask ? 0 : -EACCES;
            return ((int)perm & mask) == mask ? 0 : -EACCES;
        default:
            break;
        }
    }
    return -EACCES;   /* no other entry: not a valid ACL (checked before) */
}

/* The file has an access ACL: check against it. */
static int check_acl(benchfs_t *fs, struct cred *cr, const struct bfs_attr *a, int mask)
{
    uint8_t buf[4 + 8 * 64];
    uint8_t *v = buf;
    ssize_t n = bfs_getxattr(fs->c, a->ino, BFS_ACL_ACCESS, buf, sizeof buf);
    if (n == -ERANGE) {
        v = malloc(BFS_XATTR_SIZE_MAX);
        n = v ? bfs_getxattr(fs->c, a->ino, BFS_ACL_ACCESS, v, BFS_XATTR_SIZE_MAX) : -ENOMEM;
    }
    int rc;
    if (n == -ENODATA)
        rc = 1;   /* removed meanwhile: the mode bits decide */
    else if (n < 0)
        rc = (int)n;
    else if (bfs_acl_valid(v, (size_t)n) < 0)
        rc = -EACCES;   /* the servers check what they store; refuse what they did not */
    else
        rc = acl_perm(cr, a, v, (size_t)n, mask);
    if (v != buf)
        free(v);
    return rc;
}

int perm_check(benchfs_t *fs, struct cred *cr, const struct bfs_attr *a, int mask)
{
    if ((fs->flags & BENCHFS_OPT_NO_PERMS) || !mask)
        return 0;
    uint32_t mode = a->mode;
    if (cr->uid == 0) {
        /* CAP_DAC_OVERRIDE: all but execute of a file no one may execute. */
        if (!(mask & MAY_X) || S_ISDIR(mode) || (mode & 0111))
            return 0;
        return -EACCES;
    }
    if (a->uid != cr->uid && (a->flags & BFS_ATTR_ACL)) {
        int rc = check_acl(fs, cr, a, mask);
        if (rc <= 0)
            return rc;
    }
    unsigned bits;
    if (a->uid == cr->uid)
        bits = (mode >> 6) & 7;
    else if (cred_in_group(cr, a->gid))
        bits = (mode >> 3) & 7;
    else
        bits = mode & 7;
    return (bits & (unsigned)mask) == (unsigned)mask ? 0 : -EACCES;
}

int perm_sticky(benchfs_t *fs, struct cred *cr, const struct bfs_attr *dir, const struct bfs_attr *victim)
{
    if ((fs->flags & BENCHFS_OPT_NO_PERMS) || !(dir->mode & S_ISVTX))
        return 0;
    if (cr->uid == 0 || cr->uid == dir->uid || cr->uid == victim->uid)
        return 0;
    return -EPERM;
}

int perm_owner(benchfs_t *fs, struct cred *cr, const struct bfs_attr *a)
{
    if ((fs->flags & BENCHFS_OPT_NO_PERMS) || cr->uid == 0 || cr->uid == a->uid)
        return 0;
    return -EPERM;
}
