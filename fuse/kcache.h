/* kcache.h - what the kernel may cache for this mount, told to preloaded
 * processes on the same node, and their requests to make it forget.
 *
 * A process under libbenchfs-preload.so changes names and attributes over RPC,
 * past this mount; the kernel's dentry and attribute caches (entry_timeout,
 * attr_timeout) would go on showing other processes the old state. So:
 *   - every inode the daemon hands the kernel (fill_entry), and every entry
 *     (directory, name) it answers a lookup, create or readdirplus for, found
 *     or not, is marked in a table shared through a file in /dev/shm (a hashed
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
/* ... of the entry name of parent (found or not: negative entries count). */
void kcache_mark_entry(struct kcache *k, uint64_t parent, const char *name);
/* getxattr of a benchfs.* name on the root: 1 if handled (replied), 0 if not ours. */
int kcache_getxattr(struct kcache *k, struct fuse_session *se, fuse_req_t req, const char *name,
                    size_t size);

/* The key of the entry name in directory parent (marked in the same table). */
static inline uint64_t kcache_entry_key(uint64_t parent, const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull ^ parent;   /* FNV-1a over the name */
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

/* The slot of ino (or of an entry's key) in a table of 2^KCACHE_BITS_LOG2 bits (the preload uses it too). */
static inline uint32_t kcache_slot(uint64_t ino)
{
    return (uint32_t)((ino * 0x9E3779B97F4A7C15ull) >> (64 - KCACHE_BITS_LOG2));
}

#endif
