/* owner.c - making a new inode as the mount makes it (fuse/ops_entry.c's
 * new_owner and make_node): owned by the caller, with the group of a setgid
 * parent (and then a new directory setgid too: Linux's inode_init_owner),
 * inheriting the parent's default ACL (common/inherit.h). The entry's server
 * does both itself when it also holds the parent's inode. */
#include "lib_int.h"

#include <errno.h>
#include <string.h>

#include "../common/inherit.h"

int owner_make(benchfs_t *fs, struct cred *cr, const struct res *r, uint32_t mode,
               const char *target, struct bfs_attr *out)
{
    if (r->name[0] == '\0' || r->found)
        return -EEXIST;
    if (!S_ISDIR(r->pattr.mode))
        return -ENOTDIR;
    int rc = perm_check(fs, cr, &r->pattr, MAY_W | MAY_X);
    if (rc < 0)
        return rc;
    uint32_t uid = (uint32_t)cr->uid, gid = (uint32_t)cr->gid;
    int local = bfs_parent_is_local(fs->c, r->parent, r->name);
    uint64_t stamp = cache_entry_stamp(&fs->cache, r->parent, r->name), gen = cache_gen(&fs->cache);
    /* r->pattr is at most attr_timeout old: the mount's dircache gives the
     * same age to the parent's setgid bit and default-ACL flag. */
    if (!local && (r->pattr.mode & S_ISGID)) {
        gid = r->pattr.gid;
        if (S_ISDIR(mode))
            mode |= S_ISGID;
    }
    if (target) {
        rc = bfs_symlink(fs->c, r->parent, r->name, target, uid, gid, out, NULL);
    } else {
        struct bfs_inherit ih;
        rc = bfs_inherit_prepare(fs->c, r->parent, local, (r->pattr.flags & BFS_ATTR_DEFACL) != 0, 0,
                                 &mode, &ih);
        if (rc == 0)
            rc = bfs_make(fs->c, r->parent, r->name, mode, 0, uid, gid, &ih, out, NULL);
        bfs_inherit_free(&ih);
    }
    /* The parent's times and link count changed; the name is the new inode's
     * (or, after an error, unknown). */
    if (rc == 0) {
        /* The new inode's stamps before this change's own bumps (which move gen). */
        cache_put_attr_since(&fs->cache, out, gen);
        cache_stale_attr(&fs->cache, r->parent);
        if (cache_entry_changed_own(&fs->cache, r->parent, r->name, &stamp))
            cache_put_entry(&fs->cache, r->parent, r->name, out->ino, stamp);
        if (fs->on_change)
            fs->on_change(fs->on_change_arg, r->parent, r->name);
    } else {
        path_forget(fs, r->parent, r->name);
    }
    return rc;
}
