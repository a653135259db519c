/* inherit.c - a new inode's inherited ACLs (see inherit.h). */
#include "inherit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "acl.h"
#include "log.h"
#include "xattr.h"

/* parent (elsewhere) has a default ACL: the new inode's access ACL and mode
 * from it, and for a directory the default ACL itself, as a list for CREATE.
 * *found = 0 when the parent has none after all (its flag was old). */
static int inherit_from(struct bfs_client *c, uint64_t parent, uint32_t *mode,
                        struct bfs_inherit *ih, int *found)
{
    uint8_t *def = malloc(BFS_XATTR_SIZE_MAX), *acc = NULL, *list = NULL;
    ssize_t n = def ? bfs_getxattr(c, parent, BFS_ACL_DEFAULT, def, BFS_XATTR_SIZE_MAX) : -ENOMEM;
    int rc = n < 0 ? (int)n : 0;
    *found = rc == 0;
    if (rc == -ENODATA)
        rc = 0;
    if (rc == 0 && *found) {
        size_t len = (size_t)n, used = 0;
        if (!(acc = malloc(len)) || !(list = malloc(2 * (BFS_XATTR_REC_HDR + 32 + len)))) {
            rc = -ENOMEM;
        } else if ((rc = bfs_acl_inherit(def, len, mode, acc)) < 0) {
            log_warn("directory ino=%" PRIu64 ": its default ACL is not valid", parent);
            rc = -EIO;
        } else {
            if (rc == 1)
                used += bfs_xattr_rec_put(list + used, BFS_ACL_ACCESS, strlen(BFS_ACL_ACCESS), acc, len);
            if (S_ISDIR(*mode))
                used += bfs_xattr_rec_put(list + used, BFS_ACL_DEFAULT, strlen(BFS_ACL_DEFAULT), def, len);
            ih->xattrs = list;
            ih->xattrs_len = used;
            list = NULL;
            rc = 0;
        }
    }
    free(list);
    free(acc);
    free(def);
    return rc;
}

int bfs_inherit_prepare(struct bfs_client *c, uint64_t parent, int parent_local, int defacl,
                        uint32_t umask, uint32_t *mode, struct bfs_inherit *ih)
{
    int found = 0, rc;
    *ih = (struct bfs_inherit){ .umask = umask & 0777 };
    /* The entry's server holds the parent: it inherits or applies the umask.
     * Without a default ACL the server applies the umask too. */
    if (parent_local || !defacl || S_ISLNK(*mode))
        return 0;
    if ((rc = inherit_from(c, parent, mode, ih, &found)) < 0)
        return rc;
    if (found)
        ih->umask = 0;   /* a default ACL replaces the umask */
    return 0;
}

void bfs_inherit_free(struct bfs_inherit *ih)
{
    free((void *)ih->xattrs);
    ih->xattrs = NULL;
    ih->xattrs_len = 0;
}
