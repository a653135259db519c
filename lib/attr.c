/* attr.c - changing attributes, by path and by handle: chmod, chown,
 * utimens, truncate, with the kernel's rules (setattr_prepare): chmod and
 * chown by the owner (a chmod by someone outside the file's group drops
 * setgid; a chown drops setuid/setgid of a non-directory), times set to
 * "now" by anyone who may write, other times by the owner, truncate with
 * write permission (and setuid/setgid cleared by anyone but root). */
#include "lib_int.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "../common/log.h"

static int setattr(benchfs_t *fs, uint64_t ino, uint32_t mask, const struct bfs_attr *in)
{
    struct bfs_attr out;
    struct cache_stamp st;
    cache_attr_stamp(&fs->cache, ino, &st);
    int rc = bfs_setattr(fs->c, ino, mask, in, &out);
    if (rc == 0)
        lib_changed_to(fs, &out, &st);
    else
        lib_changed(fs, ino);
    return rc;
}

int attr_chmod(benchfs_t *fs, struct cred *cr, const struct bfs_attr *a, mode_t mode)
{
    int rc = perm_owner(fs, cr, a);
    if (rc < 0)
        return rc;
    uint32_t m = mode & 07777;
    if ((m & S_ISGID) && cr->uid != 0 && !(fs->flags & BENCHFS_OPT_NO_PERMS) &&
        !cred_in_group(cr, a->gid))
        m &= ~(uint32_t)S_ISGID;
    struct bfs_attr in = { .mode = m };
    return setattr(fs, a->ino, BFS_SET_MODE, &in);
}

int attr_chown(benchfs_t *fs, struct cred *cr, const struct bfs_attr *a, uid_t uid, gid_t gid)
{
    uint32_t mask = 0;
    struct bfs_attr in = { 0 };
    int rc = 0, check = cr->uid != 0 && !(fs->flags & BENCHFS_OPT_NO_PERMS);
    if (uid != (uid_t)-1) {
        if (check && (uid != a->uid || cr->uid != a->uid))
            rc = -EPERM;   /* only root gives a file away */
        mask |= BFS_SET_UID;
        in.uid = uid;
    }
    if (rc == 0 && gid != (gid_t)-1) {
        if (check && (cr->uid != a->uid || (gid != a->gid && !cred_in_group(cr, gid))))
            rc = -EPERM;
        mask |= BFS_SET_GID;
        in.gid = gid;
    }
    if (rc < 0)
        return rc;
    if (!mask)
        return 0;
    /* Linux's chown_common: setuid, and setgid of a group-executable file, go. */
    if (!S_ISDIR(a->mode)) {
        uint32_t m = a->mode & 07777;
        if (m & S_ISUID)
            m &= ~(uint32_t)S_ISUID;
        if ((m & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
            m &= ~(uint32_t)S_ISGID;
        if (m != (a->mode & 07777)) {
            mask |= BFS_SET_MODE;
            in.mode = m;
        }
    }
    return setattr(fs, a->ino, mask, &in);
}

static int time_valid(const struct timespec *t)
{
    return t->tv_nsec == UTIME_NOW || t->tv_nsec == UTIME_OMIT ||
           (t->tv_nsec >= 0 && t->tv_nsec < 1000000000);
}

int attr_utimens(benchfs_t *fs, struct cred *cr, const struct bfs_attr *a, const struct timespec t[2],
                 int by_handle_writable)
{
    struct timespec now2[2] = { { 0, UTIME_NOW }, { 0, UTIME_NOW } };
    if (!t)
        t = now2;
    if (!time_valid(&t[0]) || !time_valid(&t[1]))
        return -EINVAL;
    uint32_t mask = 0;
    struct bfs_attr in = { 0 };
    int explicit = 0;
    if (t[0].tv_nsec == UTIME_NOW)
        mask |= BFS_SET_ATIME_NOW;
    else if (t[0].tv_nsec != UTIME_OMIT) {
        mask |= BFS_SET_ATIME;
        in.atime_ns = (int64_t)t[0].tv_sec * 1000000000 + t[0].tv_nsec;
        explicit = 1;
    }
    if (t[1].tv_nsec == UTIME_NOW)
        mask |= BFS_SET_MTIME_NOW;
    else if (t[1].tv_nsec != UTIME_OMIT) {
        mask |= BFS_SET_MTIME;
        in.mtime_ns = (int64_t)t[1].tv_sec * 1000000000 + t[1].tv_nsec;
        explicit = 1;
    }
    if (!mask)
        return 0;
    int rc = 0;
    if (explicit)
        rc = perm_owner(fs, cr, a);
    else if (perm_owner(fs, cr, a) < 0 && !by_handle_writable)
        rc = perm_check(fs, cr, a, MAY_W);
    if (rc < 0)
        return rc;
    return setattr(fs, a->ino, mask, &in);
}

int attr_truncate(benchfs_t *fs, struct cred *cr, const struct bfs_attr *a, off_t size, int check)
{
    if (size < 0)
        return -EINVAL;
    if (S_ISDIR(a->mode))
        return -EISDIR;
    if (!S_ISREG(a->mode))
        return -EINVAL;
    int rc = check ? perm_check(fs, cr, a, MAY_W) : 0;
    if (rc < 0)
        return rc;
    struct bfs_attr in = { .size = (uint64_t)size }, out;
    rc = bfs_setattr(fs->c, a->ino, BFS_SET_SIZE, &in, &out);
    lib_changed(fs, a->ino);
    if (rc == 0)
        rc = lib_kill_priv(fs, cr, &out);
    return rc;
}

/* ---- by path ---- */

/* Resolves path for an attribute change: follow unless AT_SYMLINK_NOFOLLOW. */
static int resolve_for(benchfs_t *fs, struct cred *cr, const char *path, int flags, struct res *r)
{
    if (flags & ~AT_SYMLINK_NOFOLLOW)
        return -EINVAL;
    int rc = path_resolve(fs, cr, path, (flags & AT_SYMLINK_NOFOLLOW) ? 0 : RES_FOLLOW, r);
    if (rc == 0 && !r->found)
        rc = -ENOENT;
    return rc;
}

static int finish(const char *op, const char *path, struct cred *cr, int rc)
{
    cred_put(cr);
    log_debug("%s %s: %s", op, path, rc < 0 ? strerror(-rc) : "ok");
    return rc;
}

EXPORT int benchfs_chmod(benchfs_t *fs, const char *path, mode_t mode, int flags)
{
    struct cred cr;
    struct res r;
    cred_get(&cr, 0);
    int rc = resolve_for(fs, &cr, path, flags, &r);
    if (rc == 0 && S_ISLNK(r.attr.mode))
        rc = -EOPNOTSUPP;
    if (rc == 0)
        rc = attr_chmod(fs, &cr, &r.attr, mode);
    return finish("chmod", path, &cr, rc);
}

EXPORT int benchfs_chown(benchfs_t *fs, const char *path, uid_t uid, gid_t gid, int flags)
{
    struct cred cr;
    struct res r;
    cred_get(&cr, 0);
    int rc = resolve_for(fs, &cr, path, flags, &r);
    if (rc == 0)
        rc = attr_chown(fs, &cr, &r.attr, uid, gid);
    return finish("chown", path, &cr, rc);
}

EXPORT int benchfs_utimens(benchfs_t *fs, const char *path, const struct timespec times[2], int flags)
{
    struct cred cr;
    struct res r;
    cred_get(&cr, 0);
    int rc = resolve_for(fs, &cr, path, flags, &r);
    if (rc == 0)
        rc = attr_utimens(fs, &cr, &r.attr, times, 0);
    return finish("utimens", path, &cr, rc);
}

EXPORT int benchfs_truncate(benchfs_t *fs, const char *path, off_t size)
{
    struct cred cr;
    struct res r;
    cred_get(&cr, 0);
    int rc = resolve_for(fs, &cr, path, 0, &r);
    if (rc == 0)
        rc = attr_truncate(fs, &cr, &r.attr, size, 1);
    return finish("truncate", path, &cr, rc);
}

/* ---- by handle ---- */

static int handle_attr(benchfs_file_t *f, struct cred *cr, struct bfs_attr *a)
{
    cred_get(cr, 0);
    return lib_getattr(f->fs, f->ino, GET_ALL, a);
}

EXPORT int benchfs_ftruncate(benchfs_file_t *f, off_t size)
{
    struct cred cr;
    struct bfs_attr a;
    int rc = handle_attr(f, &cr, &a);
    if (rc == 0 && (f->type == S_IFDIR || (f->flags & O_ACCMODE) == O_RDONLY))
        rc = -EINVAL;   /* as Linux: not open for writing */
    if (rc == 0)
        rc = attr_truncate(f->fs, &cr, &a, size, 0);
    cred_put(&cr);
    return rc;
}

EXPORT int benchfs_fchmod(benchfs_file_t *f, mode_t mode)
{
    struct cred cr;
    struct bfs_attr a;
    int rc = handle_attr(f, &cr, &a);
    if (rc == 0)
        rc = attr_chmod(f->fs, &cr, &a, mode);
    cred_put(&cr);
    return rc;
}

EXPORT int benchfs_fchown(benchfs_file_t *f, uid_t uid, gid_t gid)
{
    struct cred cr;
    struct bfs_attr a;
    int rc = handle_attr(f, &cr, &a);
    if (rc == 0)
        rc = attr_chown(f->fs, &cr, &a, uid, gid);
    cred_put(&cr);
    return rc;
}

EXPORT int benchfs_futimens(benchfs_file_t *f, const struct timespec times[2])
{
    struct cred cr;
    struct bfs_attr a;
    int rc = handle_attr(f, &cr, &a);
    if (rc == 0)
        rc = attr_utimens(f->fs, &cr, &a, times, (f->flags & O_ACCMODE) != O_RDONLY);
    cred_put(&cr);
    return rc;
}
