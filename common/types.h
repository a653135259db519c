/* types.h - the few values every BenchFS component agrees on.
 *
 * Inode numbers: the high 16 bits name the node (server) that owns the
 * inode record and chunk 0; the low 48 bits are that node's counter.
 * The root directory is inode 1 on node 0, which is also FUSE_ROOT_ID.
 */
#ifndef BENCHFS_TYPES_H
#define BENCHFS_TYPES_H

#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#define BFS_ROOT_INO      1ULL
#define BFS_INO_NODE_SHIFT 48
#define BFS_MAX_NODES     256           /* cluster size limit (readdir cookies keep the node in 8 bits) */
#define BFS_NAME_MAX      255           /* bytes in one directory entry name */
#define BFS_SYMLINK_MAX   4095          /* bytes in a symlink target */
#define BFS_DEFAULT_CHUNK_SIZE (4u << 20)
#define BFS_MAX_IO        (1u << 20)    /* largest data payload of one READ/WRITE RPC */

static inline uint32_t bfs_ino_node(uint64_t ino) { return (uint32_t)(ino >> BFS_INO_NODE_SHIFT); }

/* What stat(2) needs of an inode; times in nanoseconds since the epoch. */
struct bfs_attr {
    uint64_t ino;
    uint32_t mode;      /* file type bits and permission bits, as in st_mode */
    uint32_t nlink;
    uint32_t uid;
    uint32_t gid;
    uint64_t size;
    int64_t  atime_ns;
    int64_t  mtime_ns;
    int64_t  ctime_ns;
    uint64_t rdev;      /* device number of a character or block device (as dev_t), else 0 */
    uint64_t blocks;    /* 512-byte units stored (st_blocks); set by the owner, never taken in */
    uint32_t flags;     /* BFS_ATTR_*: what else the inode has; set by the owner, never taken in */
};

/* bfs_attr.flags: the extended attributes an inode has (server/xattr_store.h). A
 * directory's BFS_ATTR_DEFACL tells a creating client whether the new inode
 * inherits anything, without asking the directory's server. */
enum {
    BFS_ATTR_XATTRS = 1u << 0,   /* it has extended attributes */
    BFS_ATTR_ACL    = 1u << 1,   /* an access ACL (system.posix_acl_access) */
    BFS_ATTR_DEFACL = 1u << 2,   /* a default ACL (system.posix_acl_default) */
};

/* Which fields a SETATTR changes (bfs_attr's fields of the same name). */
enum {
    BFS_SET_MODE  = 1u << 0,
    BFS_SET_UID   = 1u << 1,
    BFS_SET_GID   = 1u << 2,
    BFS_SET_SIZE  = 1u << 3,
    BFS_SET_ATIME = 1u << 4,
    BFS_SET_MTIME = 1u << 5,
    BFS_SET_ATIME_NOW = 1u << 6,   /* server's clock instead of the given value */
    BFS_SET_MTIME_NOW = 1u << 7,
    BFS_SET_CTIME = 1u << 8,
    BFS_SET_SIZE_GROW = 1u << 9,   /* size = max(size, given): a write landed on another node */
    /* An open for reading: atime = now, ctime kept (other bits are ignored);
     * with ATIME_RELATIME only when atime <= mtime or ctime, or is 24 h old. */
    BFS_SET_ATIME_READ = 1u << 10,
    BFS_SET_ATIME_RELATIME = 1u << 11,
};

/* Whether type (st_mode & S_IFMT) is one BenchFS stores: every type mknod(2),
 * mkdir(2) and symlink(2) make. The one list every component checks against. */
static inline int bfs_valid_type(uint32_t type)
{
    switch (type) {
    case S_IFREG:
    case S_IFDIR:
    case S_IFLNK:
    case S_IFIFO:
    case S_IFSOCK:
    case S_IFCHR:
    case S_IFBLK:
        return 1;
    default:
        return 0;
    }
}

/* One directory entry as readdir returns it. */
struct bfs_dirent {
    uint64_t ino;
    uint64_t cookie;    /* pass back to continue after this entry; never 0 */
    uint32_t type;      /* the st_mode type bits: S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO,
                           S_IFSOCK, S_IFCHR or S_IFBLK (bfs_valid_type) */
    char     name[BFS_NAME_MAX + 1];
};

#endif
