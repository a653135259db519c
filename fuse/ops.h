/* ops.h - the FUSE low-level operations of benchfs-fuse, and the state they share.
 *
 * Every operation maps onto one (sometimes two) calls of the client library
 * (common/client.h); BenchFS inode numbers are FUSE inode numbers (the root is
 * 1 on both sides), so nothing is translated and the kernel's lookup counts need
 * no bookkeeping here.
 *
 * Caching, chosen per mount with -o (see bfs_fuse_opts):
 *   - entries, attributes and negative entries are cached by the kernel for
 *     entry_timeout / attr_timeout / negative_timeout seconds (default 1 s);
 *   - file data stays in the kernel page cache with close-to-open consistency:
 *     open fetches fresh attributes and keeps the cached pages only while the
 *     file is the version they hold (pagecache.h; with -o writeback_cache it
 *     always drops them), and when the file changed recently drops the cached
 *     attributes, so a file another client wrote and closed is read correctly
 *     after open;
 *   - writes go through to the servers at once (flush has nothing to do), unless
 *     -o writeback_cache lets the kernel gather them;
 *   - -o direct_io bypasses the page cache altogether.
 */
#ifndef BENCHFS_FUSE_OPS_H
#define BENCHFS_FUSE_OPS_H

#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>

#include "../common/client.h"
#include "dircache.h"
#include "kcache.h"
#include "openfiles.h"
#include "xattrcache.h"

/* Options taken from -o (parsed in main.c with fuse_opt_parse). */
struct bfs_fuse_opts {
    double entry_timeout;     /* -o entry_timeout=S    (default 1.0) */
    double attr_timeout;      /* -o attr_timeout=S     (default 1.0) */
    double negative_timeout;  /* -o negative_timeout=S (default 1.0; 0 disables) */
    int direct_io;            /* -o direct_io: no page cache for file data */
    int writeback_cache;      /* -o writeback_cache: kernel gathers writes */
    int no_default_permissions;  /* -o no_default_permissions: the kernel checks no modes */
    int atime;                /* BFS_ATIME_*: -o relatime (default), noatime, strictatime */
    int read_only;            /* -o ro (also passed on to the kernel): no atime either */
    int noxattr;              /* -o noxattr: no extended attributes or ACLs (ENOTSUP), and
                                 no FUSE round trip per write for security.capability */
};

/* When a read changes a file's atime (the kernel leaves atime to FUSE file
 * systems): relatime as Linux mounts do by default, never, or at every open
 * for reading. */
enum { BFS_ATIME_RELATIME = 0, BFS_ATIME_NEVER, BFS_ATIME_STRICT };

/* The userdata of the FUSE session. */
struct bfs_fuse {
    struct bfs_client *client;   /* set before the session is mounted */
    struct fuse_session *se;     /* for notifications to the kernel */
    struct openfiles *open;      /* inodes open on this mount */
    struct pagecache *pages;     /* file versions in the page cache; NULL: drop pages at every open */
    struct dircache *dirs;       /* directories' group and setgid bit, for new entries */
    struct dirstash *dstash;     /* directories' attributes after this mount's changes */
    struct xattrcache *xattrs;   /* inodes without extended attributes (getxattr with no RPC) */
    struct kcache *kcache;       /* inodes the kernel may cache, for preloaded processes (kcache.h) */
    struct lockstate *locks;     /* lock owners and waits of this mount (lockops.h) */
    void *loop;                  /* fuse/loop.h's loop serving requests, or NULL */
    int single_thread;           /* -s: one thread serves everything (no lock waits) */
    struct fuse_conn_info_opts *conn_opts;  /* -o max_write=... etc., applied in init */
    struct bfs_fuse_opts opts;
    uint32_t blksize;            /* st_blksize reported: one RPC's worth of data */
};

extern const struct fuse_lowlevel_ops bfs_fuse_ops;

#endif
