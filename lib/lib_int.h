/* lib_int.h - what libbenchfs's files share beyond benchfs.h (the contract):
 *   conn.c   connect/disconnect, the benchfs_t, attributes as struct stat;
 *   cache.c  the name and attribute cache (attr_timeout), thread-safe;
 *   path.c   path resolution: ".", "..", symlinks (40; absolute: -EXDEV);
 *   perm.c   the caller's credentials and the kernel's permission checks;
 *   owner.c  what a new inode gets: owner, group (setgid), inherited ACLs;
 *   file.c   open files (handles), their I/O, unlink-while-open;
 *   ns.c     the namespace by path (stat, mkdir, unlink, rename, ...);
 *   attr.c   chmod, chown, utimens, truncate (by path and by handle);
 *   dir.c    directory streams.
 * Functions here return 0 or a negative errno, like the API, and are thread-safe. */
#ifndef BENCHFS_LIB_INT_H
#define BENCHFS_LIB_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/client.h"
#include "../common/nodetab.h"
#include "../common/types.h"
#include "benchfs.h"

#define EXPORT __attribute__((visibility("default")))

/* ---- cache.c: dentries (parent, name) -> ino and attributes ino -> bfs_attr ----
 * Two set-associative tables (WAYS entries a set, the keys of a set side by
 * side): a lookup touches a cache line or two, not a chain of entries spread
 * over the heap. A full set replaces its oldest entry. */
#define CACHE_SETS 4096         /* per table, a power of two */
#define CACHE_WAYS 4
#define CACHE_LOCKS 64          /* stripes (a set is always under the same one) */
struct cache_aset;
struct cache_dset;
/* What an attribute entry depends on: the counters of its inode's key and of
 * its contents key (a directory's times, size, link count) in the node table. */
struct cache_stamp {
    uint64_t ino, dir;
};
struct lib_cache {
    int64_t ttl_ns;             /* <= 0: nothing is cached */
    struct cache_aset *attrs;
    struct cache_dset *dents;
    int shared;                 /* tab is the node's table (benchfs_node_table) */
    struct nodetab tab;
    pthread_mutex_t mu[CACHE_LOCKS];
};
/* 0 or -ENOMEM. */
int cache_init(struct lib_cache *k, double timeout_s);
void cache_fini(struct lib_cache *k);
/* 1 and *ino when (parent, name) was seen within the timeout (and its entry
 * key's counter is still the stamp it was put with), else 0. */
int cache_get_entry(struct lib_cache *k, uint64_t parent, const char *name, uint64_t *ino);
/* stamp: cache_entry_stamp read before the request that answered. */
void cache_put_entry(struct lib_cache *k, uint64_t parent, const char *name, uint64_t ino,
                     uint64_t stamp);
void cache_drop_entry(struct lib_cache *k, uint64_t parent, const char *name);
/* 1 and *a when ino's attributes were seen within the timeout (the inode
 * key's counter unchanged), else 0; with all, not when their times and sizes
 * are stale (cache_stale_attr, or the contents key's counter moved). */
int cache_get_attr(struct lib_cache *k, uint64_t ino, int all, struct bfs_attr *a);
/* st: cache_attr_stamp of a->ino read before the request that answered. */
void cache_put_attr(struct lib_cache *k, const struct bfs_attr *a, const struct cache_stamp *st);
/* An answer about an inode not known before the request (a lookup's): cached
 * only if nothing changed on the node since gen (cache_gen before the request). */
void cache_put_attr_since(struct lib_cache *k, const struct bfs_attr *a, uint64_t gen);
void cache_drop_attr(struct lib_cache *k, uint64_t ino);
/* A directory this client made or removed an entry in: its times, size and
 * link count changed, its mode, owner and ACL flags (what a path walk checks)
 * did not. */
void cache_stale_attr(struct lib_cache *k, uint64_t ino);
/* The node table (lock-free; all 0 and no-ops without one). Takes t's view;
 * call before other threads use the cache. */
void cache_share(struct lib_cache *k, const struct nodetab *t);
uint64_t cache_gen(const struct lib_cache *k);
uint64_t cache_entry_stamp(const struct lib_cache *k, uint64_t parent, const char *name);
void cache_attr_stamp(const struct lib_cache *k, uint64_t ino, struct cache_stamp *st);
/* This client changed ino (attributes, data, link count): its counter moves. */
void cache_changed(struct lib_cache *k, uint64_t ino);
/* The same for a change whose answer it caches: 1 (and st->ino moved on) when
 * no other change of ino's slot came since st was read, so st stamps the answer. */
int cache_changed_own(struct lib_cache *k, uint64_t ino, struct cache_stamp *st);
/* This client made, removed or replaced the entry (parent, name). */
void cache_entry_changed(struct lib_cache *k, uint64_t parent, const char *name);
/* ... and caches what it made: 1 (and *stamp moved on) as cache_changed_own. */
int cache_entry_changed_own(struct lib_cache *k, uint64_t parent, const char *name, uint64_t *stamp);

/* How fresh attributes must be (lib_getattr, path_lookup). */
enum { GET_PERM = 0,    /* cached, for the permission fields only */
       GET_ALL = 1,     /* cached, every field (what stat shows) */
       GET_FRESH = 2 }; /* from the server (close-to-open) */

/* ---- file.c: which inodes this benchfs_t has open (unlink keeps them) ---- */
#define OPEN_BUCKETS 1024
struct open_ent;
/* A plain unlink in flight (one that found its file not open here and so
 * passed no BFS_UNLINK_KEEP): on the unlinker's stack, listed oldest first. */
struct open_plain {
    struct open_plain *prev, *next;
    uint64_t ticket;
};
struct lib_open {
    pthread_mutex_t mu;
    size_t count;               /* open handles of regular files */
    struct open_ent *b[OPEN_BUCKETS];
    uint64_t next_ticket;       /* plain unlinks begun so far */
    struct open_plain *plain_head, *plain_tail;
    pthread_cond_t plain_done;  /* broadcast when a plain unlink ends */
};

struct benchfs {
    struct bfs_client *c;
    struct lib_cache cache;
    struct lib_open open;
    unsigned flags;             /* BENCHFS_OPT_* */
    dev_t dev;                  /* st_dev of every file (a hash of the registry dir) */
    blksize_t blksize;          /* st_blksize: the I/O size of one RPC */
    benchfs_change_fn *on_change;   /* benchfs_on_change's, or NULL */
    void *on_change_arg;
};

struct benchfs_file {
    benchfs_t *fs;
    uint64_t ino;
    uint64_t parent;            /* the directory it was opened in (".." of a directory) */
    uint32_t type;              /* S_IFREG or S_IFDIR */
    uint32_t mode_at_open;      /* setuid/setgid seen at open: a write may clear them */
    int flags;                  /* the O_* flags of the open */
    atomic_int access;          /* 1: the first read records the access (relatime atime) */
    /* A small file's bytes, brought by the open's lookup (bfs_lookup_data):
     * reads are served from them while no change of the inode on this node
     * came (pre_st, the node table) and the attribute timeout since the open
     * has not passed (pre_until), as a cached page would be. Never freed
     * before close (a reader may be copying), only given up (pre_ok 0). */
    char *pre;
    size_t pre_len;
    atomic_int pre_ok;
    struct cache_stamp pre_st;
    int64_t pre_until;          /* CLOCK_MONOTONIC ns */
};

/* conn.c */
/* The inode-level client under fs (benchfs-bench's server counters). */
struct bfs_client *lib_client(benchfs_t *fs);
void lib_attr_to_stat(const benchfs_t *fs, const struct bfs_attr *a, struct stat *st);
/* Attributes of ino, as fresh as how says (GET_*). */
int lib_getattr(benchfs_t *fs, uint64_t ino, int how, struct bfs_attr *a);
/* What a change of ino's metadata this client made means for its cache:
 * ino's attributes go (and the change hook is told). */
void lib_changed(benchfs_t *fs, uint64_t ino);
/* The same after a change of a's inode whose answer a is: cached when no
 * other change of it came since st was read (before the request). */
void lib_changed_to(benchfs_t *fs, const struct bfs_attr *a, struct cache_stamp *st);
/* The entry name of parent was made, removed or replaced: its counters move
 * and the change hook is told. */
void lib_entry_changed(benchfs_t *fs, uint64_t parent, const char *name);
int64_t lib_now_ns(void);

/* ---- perm.c ---- */
#define CRED_SMALL 32
struct cred {
    uid_t uid;
    gid_t gid;
    int ngroups;                /* -1: not fetched yet */
    gid_t *groups;
    gid_t small[CRED_SMALL];
    int real;                   /* the real ids (access(2) without AT_EACCESS) */
};
enum { MAY_X = 1, MAY_W = 2, MAY_R = 4 };
/* The calling thread's filesystem ids (real = 0) or real ids; groups on demand. */
void cred_get(struct cred *cr, int real);
/* BENCHFS_OPT_CACHE_IDS was asked for: from now on, for the whole process. */
void cred_cache_ids(void);
void cred_put(struct cred *cr);
/* 1 when the caller is in group gid (its primary or a supplementary one). */
int cred_in_group(struct cred *cr, gid_t gid);
/* The kernel's generic_permission: mode bits, or the access ACL when the
 * inode has one; root passes but needs one execute bit for MAY_X on a file.
 * 0 or -EACCES (or the ACL fetch's error). Passes with BENCHFS_OPT_NO_PERMS. */
int perm_check(benchfs_t *fs, struct cred *cr, const struct bfs_attr *a, int mask);
/* A sticky directory dir: may the caller remove or rename away victim? 0 or -EPERM. */
int perm_sticky(benchfs_t *fs, struct cred *cr, const struct bfs_attr *dir, const struct bfs_attr *victim);
/* The caller owns a (or is root): 0 or -EPERM. */
int perm_owner(benchfs_t *fs, struct cred *cr, const struct bfs_attr *a);

/* ---- path.c ---- */
enum {
    RES_FOLLOW = 1 << 0,        /* follow a final symlink */
    RES_FRESH  = 1 << 1,        /* look the final name up on the server (close-to-open) */
    RES_NOFINAL = 1 << 2,       /* do not look the final name up (the caller makes it) */
    RES_WATCH  = 1 << 3,        /* set r->watched (r->watch is read) */
};
struct res {
    uint64_t parent;            /* the directory the final name is in */
    struct bfs_attr pattr;      /* its attributes */
    char name[BFS_NAME_MAX + 1];/* the final name; "" when the path ends at a directory
                                   itself (the root, ".", "..") */
    int found;                  /* 1: attr holds what the path names */
    int trailing_slash;         /* the path ended in '/': it must be a directory */
    struct bfs_attr attr;
    uint64_t watch;             /* in, with RES_WATCH: a directory's inode number */
    int watched;                /* out: 1 when it is the final name's parent or above */
};
/* Resolves path (see benchfs.h) checking search permission on the way
 * (RES_WATCH: rename's check that a directory is not moved below itself).
 * 0 with r filled: r->found 0 means the final name does not exist (its
 * parent does); -ENOENT for a missing directory on the way, -ENOTDIR,
 * -ELOOP, -ENAMETOOLONG, -EXDEV (an absolute symlink), -EACCES. */
int path_resolve(benchfs_t *fs, struct cred *cr, const char *path, int flags, struct res *r);
/* The same, the final name's fresh lookup (RES_FRESH) asking for a small
 * file's bytes into d (bfs_lookup_data); d->len -1 when none came. */
int path_resolve_data(benchfs_t *fs, struct cred *cr, const char *path, int flags,
                      struct bfs_lookup_data *d, struct res *r);
/* Looks (parent, name) up: the cache's answer if it is as fresh as how says
 * (GET_*), else the server's. */
int path_lookup(benchfs_t *fs, uint64_t parent, const char *name, int how, struct bfs_attr *a);
/* The entry (parent, name) changed on this client. */
void path_forget(benchfs_t *fs, uint64_t parent, const char *name);

/* ---- owner.c ---- */
/* Makes name of *mode (type + permission bits) in r's parent, owned by the
 * caller, with a setgid parent's group and its default ACL (no umask: the
 * caller applied it). target: a symlink's. Checks write+search on the parent. */
int owner_make(benchfs_t *fs, struct cred *cr, const struct res *r, uint32_t mode,
               const char *target, struct bfs_attr *out);

/* ---- file.c ---- */
/* An unlink (or a rename over a name) and the opens of this benchfs_t, which
 * threads may race (fuse/openfiles.h is the mount's form of the protocol):
 *   struct open_keep k;
 *   flags = open_unlink_begin(fs, &attr_of_the_name, &k);   (0 or BFS_UNLINK_KEEP)
 *   rc = bfs_unlink(..., flags);
 *   open_unlink_end(fs, &k);                  (whatever rc: purges if it was the last)
 * A file open here is kept at nlink 0 until its last close. An unlink that
 * keeps nothing is "plain" until its RPC is answered; an open counts its
 * handle first and then, if a plain unlink was in flight or began since its
 * lookup, waits for those and asks the server whether the inode still exists,
 * so that it never opens a file the server is freeing. */
struct open_keep {
    uint64_t ino;               /* kept: the inode to purge once unused; 0: not kept */
    int plain;                  /* p is listed */
    struct open_plain p;
};
unsigned open_unlink_begin(benchfs_t *fs, const struct bfs_attr *a, struct open_keep *k);
/* The same for a name whose inode is not known: 1 and a plain unlink begun
 * when nothing is open through fs (no open can need a keep), else 0 and
 * nothing begun (the caller looks the name up and uses open_unlink_begin). */
int open_unlink_unseen(benchfs_t *fs, struct open_keep *k);
void open_unlink_end(benchfs_t *fs, struct open_keep *k);
void open_table_init(struct lib_open *o);
void open_table_fini(struct lib_open *o);
/* Clears setuid (and setgid of a group-executable file) after a write or a
 * truncate by anyone but root, as the kernel's file_remove_privs. */
int lib_kill_priv(benchfs_t *fs, struct cred *cr, struct bfs_attr *a);

/* ---- attr.c ---- */
/* setattr of mask on ino with the permission checks of chmod/chown/utimens/truncate. */
int attr_chmod(benchfs_t *fs, struct cred *cr, const struct bfs_attr *a, mode_t mode);
int attr_chown(benchfs_t *fs, struct cred *cr, const struct bfs_attr *a, uid_t uid, gid_t gid);
int attr_utimens(benchfs_t *fs, struct cred *cr, const struct bfs_attr *a, const struct timespec t[2],
                 int by_handle_writable);
int attr_truncate(benchfs_t *fs, struct cred *cr, const struct bfs_attr *a, off_t size, int check);

#endif
