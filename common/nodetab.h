/* nodetab.h - the node table: what the BenchFS clients of one node (a FUSE
 * mount's daemon and the preloaded processes using that mount) share so that,
 * on that node, every process sees every other's changes at once, as through
 * the kernel's one cache (docs/DESIGN.md "The preload library").
 *
 * One file in /dev/shm per mount, made by the daemon (fuse/kcache.c) and
 * mapped MAP_SHARED by every client; getxattr(mount root, "benchfs.nodetab")
 * gives its path. It holds, after a checked header:
 *   - marks: a hashed bitmap of the inodes and entries (directory, name) the
 *     kernel may cache (set by the daemon before it tells the kernel, never
 *     cleared): a preloaded process asks the mount to forget a change only if
 *     the kernel may hold it (preload/kinval.c);
 *   - counters: hashed slots of 64-bit change counters. Every change on the
 *     node bumps, after the servers made it, the counters of what it changed:
 *       the inode's key (nodetab_ino_key) for its attributes, data, xattrs and
 *       ACLs, its link count (link, unlink) and ctime (rename);
 *       the entry's key (nodetab_entry_key) for a name made, removed or
 *       replaced, with the directory's contents key (nodetab_dir_key) for the
 *       directory's times, size and link count.
 *     A cached answer records the counters it depends on, read before the
 *     request that filled it, and is good only while they are unchanged (a
 *     slot two keys share only costs a miss). The directory's own key is not
 *     bumped by entries made in it: what a path walk checks (mode, owner, ACL
 *     flags) stays cached through a create in the directory;
 *   - gen: bumped before any counter, so a reader can tell that nothing at all
 *     changed on the node while it learned an inode it had no stamp for.
 * Any process that may use the mount may write the counters; a wrong value
 * there only lets cached state live until attr_timeout, as across nodes.
 * Thread- and process-safe: lock-free atomics on the shared mapping. */
#ifndef BENCHFS_NODETAB_H
#define BENCHFS_NODETAB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define NODETAB_XATTR      "benchfs.nodetab"  /* getxattr(mount root): the file's path */
/* getxattr(mount root, this + "<hex ino>" or "<hex dir>/<name>"): the kernel
 * forgets that inode's attributes, or that entry (fuse/kcache.h). */
#define NODETAB_XATTR_INVAL "benchfs.inval."
#define NODETAB_MAGIC      0x4254444f4e534642ull   /* "BFSNODTB" little-endian */
#define NODETAB_VERSION    1
#define NODETAB_MARK_LOG2  24   /* 2^24 mark bits: 2 MiB, a page backed once a mark is in it */
#define NODETAB_COUNT_LOG2 16   /* 2^16 counters: 512 KiB */

/* The file's first bytes. A reader checks all of it (nodetab_attach). */
struct nodetab_header {
    uint64_t magic;
    uint32_t version;
    uint32_t header_bytes;      /* where gen is: sizeof this, rounded to 64 */
    uint64_t file_bytes;        /* the whole file */
    uint32_t mark_log2, count_log2;
    uint64_t marks_off, counts_off;  /* byte offsets, 64-aligned */
    uint32_t attr_timeout_ms;   /* the mount's -o attr_timeout */
    uint32_t reserved;
};

/* A view of a mapped table (not owned: see nodetab_create/nodetab_map). */
struct nodetab {
    void *base;
    size_t bytes;
    _Atomic uint64_t *gen;
    _Atomic uint64_t *marks;
    _Atomic uint64_t *counts;
    uint32_t mark_log2, count_log2;
    double attr_timeout_s;
};

/* The file's size for the built-in geometry. */
size_t nodetab_bytes(void);
/* Writes a fresh header (zeroed table) into base (nodetab_bytes() of them). */
void nodetab_format(void *base, double attr_timeout_s);
/* Checks the header of bytes mapped at base and fills *t: 0, -EPROTO (not a
 * table, or another version), -EINVAL (sizes and offsets disagree). */
int nodetab_attach(void *base, size_t bytes, struct nodetab *t);

/* Table files are /dev/shm/NODETAB_PREFIX<daemon pid>.<6 random characters>. */
#define NODETAB_PREFIX "benchfs-nodetab."
/* The daemon, before it makes its own: a daemon killed with -9 leaves its table
 * behind (in memory), so the tables of this user's daemons that are gone (the
 * pid in the name answers ESRCH) are removed. A live daemon whose pid this one
 * cannot see (another pid namespace) would lose only its new preloaded
 * processes' caching (they fall back to none), never their correctness.
 * (Tables of older daemons, named benchfs-kcache.<pid>.XXXXXX, too.)
 * Returns how many were removed. */
int nodetab_sweep(void);
/* The daemon: makes a table file (path: at least 64 bytes; mode 0666 when
 * other users may use the mount, else 0600) and maps it. 0 or -errno. */
int nodetab_create(char *path, size_t path_size, double attr_timeout_s, int shared, struct nodetab *t);
/* A client: maps path read-write and checks it. 0 or -errno (-EPROTO: an
 * older daemon's file). */
int nodetab_map(const char *path, struct nodetab *t);
/* Unmaps (the daemon also removes the file: nodetab_create's path). */
void nodetab_unmap(struct nodetab *t);

/* ---- keys ---- */

static inline uint64_t nodetab_ino_key(uint64_t ino) { return ino; }

/* The entry name in directory parent (FNV-1a over the name). */
static inline uint64_t nodetab_entry_key(uint64_t parent, const char *name)
{
    uint64_t h = 0xcbf29ce484222325ull ^ parent;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++)
        h = (h ^ *p) * 0x100000001b3ull;
    return h ^ (h >> 29);
}

/* A directory's contents (its times, size and link count). */
static inline uint64_t nodetab_dir_key(uint64_t dir)
{
    return nodetab_entry_key(dir, "") ^ 0x5bd1e9955bd1e995ull;
}

static inline uint32_t nodetab_slot(uint64_t key, uint32_t log2)
{
    return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> (64 - log2));
}

/* ---- counters ---- */

static inline uint64_t nodetab_count(const struct nodetab *t, uint64_t key)
{
    return atomic_load(&t->counts[nodetab_slot(key, t->count_log2)]);
}

static inline uint64_t nodetab_gen(const struct nodetab *t) { return atomic_load(t->gen); }

/* A change of key's object was made (at the servers): gen first, then the slot. */
static inline void nodetab_bump(struct nodetab *t, uint64_t key)
{
    atomic_fetch_add(t->gen, 1);
    atomic_fetch_add(&t->counts[nodetab_slot(key, t->count_log2)], 1);
}

/* The same, for a change whose result the caller wants to cache: 1 when the
 * counter was still expect (read before the change was asked for), i.e. no
 * other change of the slot came in between, so expect + 1 stamps the result. */
static inline int nodetab_bump_own(struct nodetab *t, uint64_t key, uint64_t expect)
{
    atomic_fetch_add(t->gen, 1);
    _Atomic uint64_t *c = &t->counts[nodetab_slot(key, t->count_log2)];
    if (atomic_compare_exchange_strong(c, &expect, expect + 1))
        return 1;
    atomic_fetch_add(c, 1);
    return 0;
}

/* ---- marks (the kernel may cache key) ---- */

static inline void nodetab_mark(struct nodetab *t, uint64_t key)
{
    uint32_t s = nodetab_slot(key, t->mark_log2);
    uint64_t bit = 1ull << (s & 63);
    /* Read first: after the first lookup the word is shared, not written. */
    if (!(atomic_load_explicit(&t->marks[s >> 6], memory_order_relaxed) & bit))
        atomic_fetch_or(&t->marks[s >> 6], bit);
}

static inline int nodetab_marked(const struct nodetab *t, uint64_t key)
{
    uint32_t s = nodetab_slot(key, t->mark_log2);
    return (atomic_load_explicit(&t->marks[s >> 6], memory_order_acquire) >> (s & 63)) & 1;
}

#endif
