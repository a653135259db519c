/* ns.c - the namespace by path: stat, lstat, access, mkdir, rmdir, unlink,
 * rename, link, symlink, readlink, statvfs, with the kernel's permission
 * rules (write and search on the parents, sticky directories). What each
 * call changes is dropped from this client's cache. */
#include "lib_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../common/log.h"

/* Resolves path with the caller's credentials: one place for every call's
 * prologue. real: the real ids (access(2)). */
#define WITH_CRED(real) struct cred cr; cred_get(&cr, (real))

static int done(const char *op, const char *path, struct cred *cr, int rc)
{
    cred_put(cr);
    log_debug("%s %s: %s", op, path, rc < 0 ? strerror(-rc) : "ok");
    return rc;
}

static int stat_path(benchfs_t *fs, const char *path, int follow, struct stat *st)
{
    WITH_CRED(0);
    struct res r;
    int rc = path_resolve(fs, &cr, path, follow ? RES_FOLLOW : 0, &r);
    if (rc == 0 && !r.found)
        rc = -ENOENT;
    if (rc == 0)
        lib_attr_to_stat(fs, &r.attr, st);
    return done(follow ? "stat" : "lstat", path, &cr, rc);
}

EXPORT int benchfs_stat(benchfs_t *fs, const char *path, struct stat *st)
{
    return stat_path(fs, path, 1, st);
}

EXPORT int benchfs_lstat(benchfs_t *fs, const char *path, struct stat *st)
{
    return stat_path(fs, path, 0, st);
}

EXPORT int benchfs_access(benchfs_t *fs, const char *path, int mode, int flags)
{
    if ((mode & ~(R_OK | W_OK | X_OK)) || (flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW)))
        return -EINVAL;
    WITH_CRED(!(flags & AT_EACCESS));
    struct res r;
    int rc = path_resolve(fs, &cr, path, (flags & AT_SYMLINK_NOFOLLOW) ? 0 : RES_FOLLOW, &r);
    if (rc == 0 && !r.found)
        rc = -ENOENT;
    if (rc == 0 && mode) {
        /* With BENCHFS_OPT_NO_PERMS the caller checks: this answers for existence only. */
        int mask = ((mode & R_OK) ? MAY_R : 0) | ((mode & W_OK) ? MAY_W : 0) | ((mode & X_OK) ? MAY_X : 0);
        rc = perm_check(fs, &cr, &r.attr, mask);
    }
    return done("access", path, &cr, rc);
}

EXPORT int benchfs_mkdir(benchfs_t *fs, const char *path, mode_t mode)
{
    WITH_CRED(0);
    struct res r;
    struct bfs_attr a;
    int rc = path_resolve(fs, &cr, path, 0, &r);
    if (rc == 0)
        rc = owner_make(fs, &cr, &r, S_IFDIR | (mode & 01777), NULL, &a);
    return done("mkdir", path, &cr, rc);
}

EXPORT int benchfs_symlink(benchfs_t *fs, const char *target, const char *path)
{
    WITH_CRED(0);
    struct res r;
    struct bfs_attr a;
    size_t tlen = strnlen(target, BFS_SYMLINK_MAX + 1);
    int rc = tlen == 0 ? -ENOENT : tlen > BFS_SYMLINK_MAX ? -ENAMETOOLONG : 0;
    if (rc == 0)
        rc = path_resolve(fs, &cr, path, 0, &r);
    if (rc == 0 && r.trailing_slash && !r.found)
        rc = -ENOENT;
    if (rc == 0)
        rc = owner_make(fs, &cr, &r, S_IFLNK | 0777, target, &a);
    return done("symlink", path, &cr, rc);
}

EXPORT ssize_t benchfs_readlink(benchfs_t *fs, const char *path, char *buf, size_t size)
{
    WITH_CRED(0);
    struct res r;
    char tmp[BFS_SYMLINK_MAX + 1];
    ssize_t n = 0;
    int rc = size == 0 ? -EINVAL : path_resolve(fs, &cr, path, 0, &r);
    if (rc == 0 && !r.found)
        rc = -ENOENT;
    if (rc == 0 && !S_ISLNK(r.attr.mode))
        rc = -EINVAL;
    if (rc == 0 && (n = bfs_readlink(fs->c, r.attr.ino, tmp, BFS_SYMLINK_MAX)) < 0)
        rc = (int)n;
    if (rc == 0) {
        if ((size_t)n > size)
            n = (ssize_t)size;
        memcpy(buf, tmp, (size_t)n);
    }
    done("readlink", path, &cr, rc);
    return rc < 0 ? rc : n;
}

/* The checks of removing r's entry (unlink, rmdir, the source or the
 * replaced target of a rename): write and search on the parent, sticky. */
static int may_delete(benchfs_t *fs, struct cred *cr, const struct res *r)
{
    int rc = perm_check(fs, cr, &r->pattr, MAY_W | MAY_X);
    if (rc == 0)
        rc = perm_sticky(fs, cr, &r->pattr, &r->attr);
    return rc;
}

/* An unlink in one request, without looking the name up first: when the
 * parent is not sticky (the victim's owner does not matter) and nothing is
 * open through fs (no keep can be due). The server checks that the name is
 * there and not a directory. 1 when done (*rc its result), 0 when the
 * caller must take the long way (a lookup first). */
static int unlink_unseen(benchfs_t *fs, struct cred *cr, const char *path, int *rc)
{
    struct res r;
    struct open_keep k;
    if (path_resolve(fs, cr, path, RES_NOFINAL, &r) < 0 || r.name[0] == '\0' || r.trailing_slash ||
        !S_ISDIR(r.pattr.mode) || (r.pattr.mode & S_ISVTX))
        return 0;   /* errors, ".", "x/", a sticky parent: the long way says */
    /* A parent the caller may not write: the long way, whose lookup says
     * -ENOENT first for a missing name, as Linux does. */
    if (perm_check(fs, cr, &r.pattr, MAY_W | MAY_X) < 0 || !open_unlink_unseen(fs, &k))
        return 0;
    uint64_t ino;
    *rc = bfs_unlink_ino(fs->c, r.parent, r.name, 0, &ino);
    open_unlink_end(fs, &k);
    path_forget(fs, r.parent, r.name);
    if (ino)
        lib_changed(fs, ino);
    return 1;
}

EXPORT int benchfs_unlink(benchfs_t *fs, const char *path)
{
    WITH_CRED(0);
    struct res r;
    int rc;
    if (unlink_unseen(fs, &cr, path, &rc))
        return done("unlink", path, &cr, rc);
    /* The name's inode now, not as cached: its type and whether it is open here. */
    rc = path_resolve(fs, &cr, path, RES_FRESH, &r);
    if (rc == 0 && !r.found)
        rc = -ENOENT;
    if (rc == 0 && (r.name[0] == '\0' || S_ISDIR(r.attr.mode)))
        rc = -EISDIR;
    if (rc == 0 && r.trailing_slash)
        rc = -ENOTDIR;
    if (rc == 0)
        rc = may_delete(fs, &cr, &r);
    if (rc == 0) {
        struct open_keep k;
        unsigned keep = open_unlink_begin(fs, &r.attr, &k);
        rc = bfs_unlink(fs->c, r.parent, r.name, keep, NULL);
        open_unlink_end(fs, &k);
        path_forget(fs, r.parent, r.name);
        lib_changed(fs, r.attr.ino);
    }
    return done("unlink", path, &cr, rc);
}

EXPORT int benchfs_rmdir(benchfs_t *fs, const char *path)
{
    WITH_CRED(0);
    struct res r;
    int rc = path_resolve(fs, &cr, path, RES_FRESH, &r);
    if (rc == 0 && !r.found)
        rc = -ENOENT;
    if (rc == 0 && r.name[0] == '\0') {
        /* What Linux says for "/", "x/." and "x/..". */
        const char *end = path + strlen(path);
        while (end > path && end[-1] == '/')
            end--;
        rc = end == path ? -EBUSY : (end - path >= 2 && end[-1] == '.' && end[-2] == '.') ? -ENOTEMPTY
                                                                                            : -EINVAL;
    }
    if (rc == 0 && !S_ISDIR(r.attr.mode))
        rc = -ENOTDIR;
    if (rc == 0)
        rc = may_delete(fs, &cr, &r);
    if (rc == 0) {
        rc = bfs_rmdir(fs->c, r.parent, r.name);
        path_forget(fs, r.parent, r.name);
        lib_changed(fs, r.attr.ino);
    }
    return done("rmdir", path, &cr, rc);
}

/* The servers refuse a directory moved below itself (-EINVAL) and a
 * non-empty directory target (-ENOTEMPTY); the rest is checked here. */
EXPORT int benchfs_rename(benchfs_t *fs, const char *from, const char *to, unsigned flags)
{
    if (flags & RENAME_EXCHANGE)
        return -EOPNOTSUPP;   /* the mount does it (as far as BenchFS does) */
    if (flags & ~(unsigned)RENAME_NOREPLACE)
        return -EINVAL;
    WITH_CRED(0);
    struct res rf, rt;
    int rc = path_resolve(fs, &cr, from, RES_FRESH, &rf);
    if (rc == 0 && !rf.found)
        rc = -ENOENT;
    if (rc == 0) {
        rt.watch = S_ISDIR(rf.attr.mode) ? rf.attr.ino : 0;
        rc = path_resolve(fs, &cr, to, RES_FRESH | RES_WATCH, &rt);
    }
    if (rc == 0 && rt.watched)
        rc = -EINVAL;   /* a directory moved below itself */
    if (rc == 0 && (rf.name[0] == '\0' || rt.name[0] == '\0'))
        rc = -EBUSY;   /* "/", "." or "..": Linux says EBUSY (or EINVAL for "." as source) */
    if (rc == 0 && rt.trailing_slash && !S_ISDIR(rf.attr.mode))
        rc = -ENOTDIR;
    if (rc == 0 && rf.trailing_slash && !S_ISDIR(rf.attr.mode))
        rc = -ENOTDIR;
    if (rc == 0 && rt.found && rt.attr.ino == rf.attr.ino)
        rc = (flags & RENAME_NOREPLACE) ? -EEXIST : 1;   /* the same inode: nothing to do */
    if (rc == 0 && rt.found) {
        if (flags & RENAME_NOREPLACE)
            rc = -EEXIST;
        else if (S_ISDIR(rf.attr.mode) && !S_ISDIR(rt.attr.mode))
            rc = -ENOTDIR;
        else if (!S_ISDIR(rf.attr.mode) && S_ISDIR(rt.attr.mode))
            rc = -EISDIR;
    }
    if (rc == 0)
        rc = may_delete(fs, &cr, &rf);
    if (rc == 0 && rt.found)
        rc = may_delete(fs, &cr, &rt);
    else if (rc == 0)
        rc = perm_check(fs, &cr, &rt.pattr, MAY_W | MAY_X);
    /* A directory that changes parent gets a new "..": it must be writable. */
    if (rc == 0 && S_ISDIR(rf.attr.mode) && rf.parent != rt.parent)
        rc = perm_check(fs, &cr, &rf.attr, MAY_W);
    if (rc == 0) {
        /* A rename over an open file removes that file's name: keep it as unlink does. */
        struct open_keep k = { 0 };
        unsigned keep = rt.found ? open_unlink_begin(fs, &rt.attr, &k) : 0;
        rc = bfs_rename(fs->c, rf.parent, rf.name, rt.parent, rt.name,
                        (flags & RENAME_NOREPLACE) ? BFS_RENAME_NOREPLACE : 0, keep);
        open_unlink_end(fs, &k);
        path_forget(fs, rf.parent, rf.name);
        path_forget(fs, rt.parent, rt.name);
        lib_changed(fs, rf.attr.ino);
        if (rt.found)
            lib_changed(fs, rt.attr.ino);
    }
    if (rc == 1)
        rc = 0;
    return done("rename", from, &cr, rc);
}

EXPORT int benchfs_link(benchfs_t *fs, const char *from, const char *to)
{
    WITH_CRED(0);
    struct res rf, rt;
    struct bfs_attr a;
    int rc = path_resolve(fs, &cr, from, 0, &rf);
    if (rc == 0 && !rf.found)
        rc = -ENOENT;
    if (rc == 0 && S_ISDIR(rf.attr.mode))
        rc = -EPERM;
    if (rc == 0 && rf.trailing_slash)
        rc = -ENOTDIR;
    if (rc == 0)
        rc = path_resolve(fs, &cr, to, 0, &rt);
    if (rc == 0 && (rt.found || rt.name[0] == '\0'))
        rc = -EEXIST;
    if (rc == 0 && rt.trailing_slash)
        rc = -ENOENT;
    if (rc == 0)
        rc = perm_check(fs, &cr, &rt.pattr, MAY_W | MAY_X);
    if (rc == 0) {
        rc = bfs_link(fs->c, rf.attr.ino, rt.parent, rt.name, &a, NULL);
        path_forget(fs, rt.parent, rt.name);
        lib_changed(fs, rf.attr.ino);
    }
    return done("link", to, &cr, rc);
}

EXPORT int benchfs_statvfs(benchfs_t *fs, const char *path, struct statvfs *st)
{
    WITH_CRED(0);
    struct res r;
    int rc = path_resolve(fs, &cr, path, RES_FOLLOW, &r);
    if (rc == 0 && !r.found)
        rc = -ENOENT;
    if (rc == 0 && (rc = bfs_statfs(fs->c, st)) == 0)
        st->f_fsid = (unsigned long)fs->dev;
    return done("statvfs", path, &cr, rc);
}
