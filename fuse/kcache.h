/* kcache.h - what the kernel may cache for this mount, told to preloaded
 * processes on the same node, and their requests to make it forget.
 *
 * A process under libbenchfs-preload.so changes names and attributes over RPC,
 * past this mount; the kernel's dentry and attribute caches (entry_timeout,
 * attr_timeout) would go on showing other processes the old state. So:
 *   - every inode the daemon hands the kernel (fill_entry, and the parent of a
 *     lookup) is marked in a table shared through a file in /dev/shm (a hashed
 *     bitmap: a set bit means "maybe cached", never cleared; a clear bit means
 *     the kernel never saw the inode, so there is nothing to forget);
 *   - getxattr(mount root, "benchfs.kcache") gives that file's path;
 *   - getxattr(mount root, "benchfs.inval.<hex ino>") makes the kernel forget
 *     ino's attributes, and "benchfs.inval.<hex dir>/<name>" the entry name in
 *     dir and dir's attributes, before the reply (fuse_lowlevel_notify_inval_*:
 *     getxattr holds no inode lock, so this cannot deadlock on the directory).
 * The preload library checks the table after each change it made and asks only
 * for inodes the kernel may hold (docs/DESIGN.md "The preload library").
 * Thread-safe: marks are atomic; the table is fixed-size. */
#ifndef BENCHFS_FUSE_KCACHE_H
#define BENCHFS_FUSE_KCACHE_H

#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>
#include <stdint.h>

#define KCACHE_XATTR_TABLE "benchfs.kcache"
#define KCACHE_XATTR_INVAL "benchfs.inval."
#define KCACHE_BITS_LOG2   20   /* 128 KiB: false positives cost one round trip */

struct kcache;

/* Creates the shared table (logged and NULL when /dev/shm cannot hold it: then
 * preloaded processes ask for every change, which is slower but right). */
struct kcache *kcache_new(void);
/* Removes the table's file and frees. NULL is fine. */
void kcache_free(struct kcache *k);
/* The kernel is about to learn of ino. k may be NULL. */
void kcache_mark(struct kcache *k, uint64_t ino);
/* getxattr of a benchfs.* name on the root: 1 if handled (replied), 0 if not ours. */
int kcache_getxattr(struct kcache *k, struct fuse_session *se, fuse_req_t req, const char *name,
                    size_t size);

/* The slot of ino in a table of 2^KCACHE_BITS_LOG2 bits (the preload uses it too). */
static inline uint32_t kcache_slot(uint64_t ino)
{
    return (uint32_t)((ino * 0x9E3779B97F4A7C15ull) >> (64 - KCACHE_BITS_LOG2));
}

#endif
