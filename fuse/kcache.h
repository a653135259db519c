/* kcache.h - the daemon's side of the node table (common/nodetab.h): what the
 * kernel may cache for this mount, told to preloaded processes on the same
 * node, the counters of every change this daemon makes, and the preloaded
 * processes' requests to make the kernel forget.
 *
 * A process under libbenchfs-preload.so changes names and attributes over RPC,
 * past this mount; the kernel's dentry and attribute caches (entry_timeout,
 * attr_timeout) would go on showing other processes the old state. So:
 *   - every inode the daemon hands the kernel (fill_entry), and every entry
 *     (directory, name) it answers a lookup, create or readdirplus for, found
 *     or not, is marked in the table (kcache_mark*: a set bit means "maybe
 *     cached", never cleared; a clear bit means the kernel never saw it);
 *   - every change made through the mount bumps the table's counters
 *     (kcache_changed*, after the servers made it), so a preloaded process's
 *     cached names and attributes of what changed are no longer used;
 *   - getxattr(mount root, "benchfs.nodetab") gives the table file's path
 *     ("benchfs.kcache", an older format's, answers ENODATA: an older preload
 *     library then asks for every change, which is slower but right);
 *   - getxattr(mount root, "benchfs.inval.<hex ino>") makes the kernel forget
 *     ino's attributes, and "benchfs.inval.<hex dir>/<name>" the entry name in
 *     dir and dir's attributes, before the reply (fuse_lowlevel_notify_inval_*:
 *     getxattr holds no inode lock, so this cannot deadlock on the directory).
 * The preload library checks the marks after each change it made and asks only
 * for inodes the kernel may hold (docs/DESIGN.md "The preload library").
 * Thread-safe: marks and counters are atomic; the table is fixed-size. */
#ifndef BENCHFS_FUSE_KCACHE_H
#define BENCHFS_FUSE_KCACHE_H

#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>
#include <stdint.h>

#include "../common/nodetab.h"

#define KCACHE_XATTR_OLD   "benchfs.kcache"
#define KCACHE_XATTR_INVAL NODETAB_XATTR_INVAL

struct kcache;

/* Creates the shared table (logged and NULL when /dev/shm cannot hold it: then
 * preloaded processes cache nothing and ask for every change, which is slower
 * but right). attr_timeout_s: the mount's, told to them; shared: other users
 * may use the mount (allow_other), so they may map the table too. */
struct kcache *kcache_new(double attr_timeout_s, int shared);
/* Removes the table's file and frees. NULL is fine. */
void kcache_free(struct kcache *k);
/* The kernel is about to learn of ino. k may be NULL (here and below). */
void kcache_mark(struct kcache *k, uint64_t ino);
/* ... of the entry name of parent (found or not: negative entries count). */
void kcache_mark_entry(struct kcache *k, uint64_t parent, const char *name);
/* ino's attributes, data, xattrs or link count changed (or may have: also
 * after a failed attempt). */
void kcache_changed(struct kcache *k, uint64_t ino);
/* The entry name of parent was made, removed or replaced (parent's times and
 * link count with it). */
void kcache_entry_changed(struct kcache *k, uint64_t parent, const char *name);
/* getxattr of a benchfs.* name on the root: 1 if handled (replied), 0 if not ours. */
int kcache_getxattr(struct kcache *k, struct fuse_session *se, fuse_req_t req, const char *name,
                    size_t size);

#endif
