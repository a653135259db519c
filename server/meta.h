/* meta.h - one server's metadata store: inode records and directory entries in LMDB.
 *
 * Every function works on this node's LMDB environment only and is one LMDB
 * transaction: it either happens whole or not at all. Functions return 0 or a
 * negative errno; nothing here blocks on the network.
 *
 * Placement (see common/placement.h): the entry (parent, name) lives on the node
 * chosen by hashing (parent, name); that node allocates the child's inode number
 * (its node id in the high 16 bits) and keeps the inode record. So an operation may
 * find that the inode an entry points to lives on another node ("remote"): the
 * function then does the local half and tells the caller, who asks the owner for
 * the rest (meta_nlink there).
 *
 * Inline data: the bytes of chunk 0 of a small regular file live here too (see
 * meta_inline_write), in the same transactions as its inode: deleting an inode
 * (unlink, nlink, purge, rename over it, orphan purge) deletes them, a truncate
 * cuts them.
 *
 * Extended attributes live here too (xattr_store.h), and go in the transaction
 * that deletes their inode.
 *
 * Durability: the environment is opened with MDB_NOSYNC and MDB_WRITEMAP, so a
 * commit reaches the page cache (it survives kill -9 of the server) but not the
 * disk; meta_fd()'s fdatasync (or meta_sync) makes every committed change
 * durable. A machine crash between syncs may lose the store (WRITEMAP writes pages
 * back in no order). The file is allocated on disk as far as LMDB's map reaches
 * (16 MiB at first, doubling ahead of need): a full disk is -ENOSPC, never SIGBUS.
 *
 * Not thread-safe: the server's single event-loop thread owns the store.
 *
 * Where it is done: meta.c (open, close, sync), meta_records.c (the records'
 * formats), meta_ns.c (lookup .. rename), meta_attr.c (setattr, atime, wrote,
 * fallocate), meta_scan.c, meta_inline.c ("inline data"), meta_intents.c and
 * meta_steps.c ("multi-server operations"), meta_compact.c ("giving back the free
 * pages"); their shared internals: meta_int.h.
 */
#ifndef BENCHFS_META_H
#define BENCHFS_META_H

#include <stddef.h>
#include <stdint.h>
#include "../common/types.h"

/* The store's format (its info table's "format"): a server opens and upgrades
 * older ones; tools that read stores directly (benchfs-fsck) check it. */
#define META_STORE_FORMAT 4

struct meta_store;

/* Opens (creating if needed) the store under dir ("dir/meta.lmdb" files).
 * A new store records node_id and chunk_size; an existing one must match them
 * (-EINVAL and a log line naming the mismatch otherwise). Node 0 creates the
 * root directory (ino 1, mode 0755, uid/gid 0) on first open.
 * Returns 0 and *out, or a negative errno (logged with the path). */
int meta_open(const char *dir, uint32_t node_id, uint32_t chunk_size, struct meta_store **out);

/* Syncs to disk and closes. NULL is fine. */
void meta_close(struct meta_store *m);

/* The file descriptor whose fdatasync makes all commits so far durable. */
int meta_fd(struct meta_store *m);

/* Blocking fdatasync of the store. */
int meta_sync(struct meta_store *m);
/* Access times a read recorded (meta_read_atime) are kept in memory, shown by
 * every read of the inode, and written in one transaction by this: the server
 * calls it by meta_atime_deadline, before an fsync's sync; meta_sync and
 * meta_close call it too. 0 or -errno (then they are kept and tried again). */
int meta_atime_flush(struct meta_store *m);
/* CLOCK_MONOTONIC seconds by which meta_atime_flush should run; 0: nothing to write. */
double meta_atime_deadline(const struct meta_store *m);

/* Giving back the free pages of a store that has shrunk (meta_compact.c). LMDB
 * keeps the pages the store no longer needs on a free list that every commit
 * pays for, and never shortens its file.
 * meta_pages: the store's live and free pages (of its high-water mark). 0 or -errno.
 * meta_compact_due: whether a compaction pays: none under way, at least 1,024
 *   free pages, more free than live, and at most 65,536 live ones (256 MiB).
 *   0: not; META_COMPACT_NOW: and the store is small (at most 256 live pages,
 *   1 MiB): meta_compact in the loop takes milliseconds; META_COMPACT_ASIDE:
 *   begin it on its thread. Cheap: a read transaction and a stat of each table.
 * meta_compact_begin: starts writing a compact copy (meta.lmdb.compact) on a
 *   thread of its own, under a read transaction: the store goes on as before
 *   meanwhile. 0, or -errno: -EBUSY one is under way, -ENOSPC the disk has less
 *   room than twice the live pages (the copy must not take the store's).
 * meta_compact_running: 1 while one is under way (begun, not finished).
 * meta_compact_finish: with wait 0, returns 0 while the copy is being written.
 *   Once it is written and fdatasync'd: if no write committed since it began,
 *   swaps it in (closes the environment, renames the copy over the store, fsyncs
 *   the directory, opens it again): 1; if one did, drops the copy: -EAGAIN.
 *   -errno (logged) when the copy failed or could not be renamed (the store as
 *   it was, open); -ENOENT: none begun. For the swap no transaction may be
 *   open and nothing may hold meta_fd() (an fsync in flight): it changes.
 *   -ENOTRECOVERABLE when the store could not be opened again: nothing but
 *   meta_close may be called then (the file on disk is whole; the next open
 *   takes it).
 * meta_compact: both, waiting for the copy: 0 or as meta_compact_finish.
 * The map's growth waits for a copy being written (and drops it when the map
 * is nearly full); meta_close drops it. */
#define META_COMPACT_NOW   1
#define META_COMPACT_ASIDE 2
int meta_pages(struct meta_store *m, size_t *live, size_t *free_pages);
/* Clears the reader slots of processes that died with a read transaction on this
 * store open (another program that opened it and was killed): LMDB reuses no
 * page freed after such a slot's snapshot, so the file would only grow. Returns
 * how many (logged), or -errno. Cheap: a scan of the lock file's reader table. */
int meta_readers_check(struct meta_store *m);
int meta_compact_due(struct meta_store *m);
int meta_compact_begin(struct meta_store *m);
int meta_compact_running(const struct meta_store *m);
int meta_compact_finish(struct meta_store *m, int wait);
int meta_compact(struct meta_store *m);

/* Number of inode records (for statfs). */
uint64_t meta_inode_count(struct meta_store *m);

/* Looks up name (len bytes, no NUL needed) in directory parent.
 * -ENOENT if absent. *type gets the S_IFMT bits of the child. */
int meta_lookup(struct meta_store *m, uint64_t parent, const char *name, size_t len,
                uint64_t *ino, uint32_t *type);

/* Decodes and checks inode record rec of ino (an inodes-table value, as meta_scan
 * gives it): 0 and *out, or -EIO (logged). For tools. */
int meta_decode_inode(uint64_t ino, const void *rec, size_t len, struct bfs_attr *out);

/* -ENOENT if ino has no record here. */
int meta_getattr(struct meta_store *m, uint64_t ino, struct bfs_attr *out);

/* Changes the fields named by mask (BFS_SET_*) from in; ctime becomes now_ns
 * for any change. BFS_SET_SIZE_GROW raises size to in->size if larger (and sets
 * mtime = ctime = now_ns): the bookkeeping after a write (meta_wrote also counts
 * the bytes written). *out (if not NULL) gets the attributes after, *before (if
 * not NULL) those before: the caller cuts chunks when the size shrank (the
 * inline bytes past the new size are cut here). -EISDIR for a size change of a
 * directory, -EINVAL for one of any other non-regular file and for a size above
 * INT64_MAX (-EFBIG for BFS_SET_SIZE_GROW).
 *
 * Every attribute out carries blocks (st_blocks): for a regular file the bytes
 * below its size that writes covered, in 512-byte units, from up to 8 written
 * extents its record keeps (beyond that the smallest is forgotten, so it errs
 * low, never high); exact for a file written without holes. Other types: 0. */
int meta_setattr(struct meta_store *m, uint64_t ino, uint32_t mask, const struct bfs_attr *in,
                 int64_t now_ns, struct bfs_attr *out, struct bfs_attr *before);

/* A read of ino (BFS_SET_ATIME_READ): atime = now_ns, ctime unchanged; with
 * relatime only when atime <= mtime or ctime, or atime is 24 h older than
 * now_ns. The store is written only then (*touched = 1). *out gets the
 * attributes after. -ENOENT if absent. */
int meta_read_atime(struct meta_store *m, uint64_t ino, int relatime, int64_t now_ns,
                    struct bfs_attr *out, int *touched);

/* A write put bytes [off, end) of regular file ino in place (on any node):
 * meta_setattr(BFS_SET_SIZE_GROW, size end) that also counts them in blocks.
 * -EINVAL if off > end. */
int meta_wrote(struct meta_store *m, uint64_t ino, uint64_t off, uint64_t end, int64_t now_ns,
               struct bfs_attr *out, struct bfs_attr *before);

/* fallocate(2)'s bookkeeping for [off, off+len) of regular file ino at its owner,
 * one transaction (mode: FALLOC_FL_KEEP_SIZE, PUNCH_HOLE | KEEP_SIZE, ZERO_RANGE
 * with or without KEEP_SIZE, as the caller checked them; the chunk files are the
 * caller's): mode 0 and ZERO_RANGE count the range below the size as stored
 * (st_blocks) and, without KEEP_SIZE, raise the size to off+len; PUNCH_HOLE stops
 * counting it. PUNCH_HOLE and ZERO_RANGE zero the inline bytes in the range.
 * mtime = ctime = now_ns when bytes or the size changed. *out: the attributes
 * after. -ENOENT, -EISDIR, -EINVAL (not a regular file, len 0), -EFBIG (past
 * INT64_MAX). */
int meta_fallocate(struct meta_store *m, uint64_t ino, uint64_t off, uint64_t len, int mode,
                   int64_t now_ns, struct bfs_attr *out);

/* Positive answers of the functions that add an entry, besides 0 and -errno:
 *   META_FENCED  the parent directory is fenced here by a multi-server operation in
 *                progress (an rmdir, or a rename over it): nothing changed; run the
 *                request again once the fence is gone (a removed directory then
 *                gives -ENOENT).
 *   META_COORD   (meta_rename) the rename needs the coordinator; nothing changed.
 * A parent removed by another node's rmdir gives -ENOENT (its fence says so). */
enum { META_FENCED = 3, META_COORD = 4 };

/* Creates an entry and a new inode on this node, of mode's type: a regular
 * file, directory (nlink 2), symlink (target, target_len bytes, for S_IFLNK),
 * FIFO, socket, or character or block device (rdev kept; 0 for other types).
 * -EINVAL for another type, -EEXIST if the name is taken, -ENAMETOOLONG /
 * -EINVAL for bad names (empty, ".", "..", containing '/'), -ENOTDIR / -ENOENT
 * if parent lives here and is not a directory / is missing. If parent lives here
 * its mtime/ctime become now_ns and a new directory raises its nlink, and if it
 * is setgid the new inode gets its group (a new directory the setgid bit too),
 * as Linux's inode_init_owner; for a parent elsewhere the client has done that in
 * uid/gid/mode. */
int meta_mknod(struct meta_store *m, uint64_t parent, const char *name, size_t len,
               uint32_t mode, uint64_t rdev, uint32_t uid, uint32_t gid,
               const char *target, size_t target_len, int64_t now_ns, struct bfs_attr *out);

/* What a new inode inherits besides its owner (POSIX ACLs, xattr_store.h). */
struct meta_inherit {
    uint32_t umask;         /* applied to the mode unless a local parent has a default ACL */
    const void *xattrs;     /* attributes for the new inode (common/xattr.h's list), or NULL */
    size_t xattrs_len;
};

/* meta_mknod, and the new inode inherits from a local parent's default ACL or
 * loses ih->umask, and gets the attributes ih lists (xattr_inherit), in the
 * same transaction. -EINVAL for a bad list; ih NULL: meta_mknod. */
int meta_mknod_inherit(struct meta_store *m, uint64_t parent, const char *name, size_t len,
                       uint32_t mode, uint64_t rdev, uint32_t uid, uint32_t gid,
                       const char *target, size_t target_len, const struct meta_inherit *ih,
                       int64_t now_ns, struct bfs_attr *out);

/* meta_mknod with rdev 0. */
int meta_create(struct meta_store *m, uint64_t parent, const char *name, size_t len,
                uint32_t mode, uint32_t uid, uint32_t gid,
                const char *target, size_t target_len, int64_t now_ns, struct bfs_attr *out);

/* Copies a symlink's target into buf (at most size bytes, no NUL) and its length
 * into *len. -EINVAL if ino is not a symlink, -ENOENT if absent. */
int meta_readlink(struct meta_store *m, uint64_t ino, char *buf, size_t size, size_t *len);

/* Adds entry (parent, name) -> ino of type. If ino lives here: -EPERM for a
 * directory, nlink+1, ctime = now_ns, *out filled and *remote = 0; otherwise
 * *remote = 1 and the caller raises nlink on the owner. -EEXIST if taken. */
int meta_link(struct meta_store *m, uint64_t ino, uint32_t type, uint64_t parent,
              const char *name, size_t len, int64_t now_ns, struct bfs_attr *out, int *remote);

/* What an unlink or rename did to the inode that lost an entry. */
struct meta_drop {
    uint64_t ino;       /* inode that lost an entry (0: none) */
    int      remote;    /* lives on another node: caller must meta_nlink(-1) there */
    int      freed;     /* its last link went and it is not kept: delete its chunks */
    uint64_t size;      /* its size, to know which chunks to delete */
    int      dir_moved; /* rename: a directory changed parents (old -1, new +1 in nlink) */
    int      dir_gone;  /* rename: a directory was replaced (new parent -1 in nlink) */
};

/* Removes entry (parent, name). rmdir (is_dir=1) wants a directory (-ENOTDIR)
 * that is empty here (-ENOTEMPTY); unlink wants a non-directory (-EISDIR).
 * When the child lives here its nlink drops; at 0 the record is deleted unless
 * keep_orphan (a client still has it open: it stays, nlink 0, until
 * meta_purge). A removed directory lowers a local parent's nlink. */
int meta_unlink(struct meta_store *m, uint64_t parent, const char *name, size_t len,
                int is_dir, int keep_orphan, int64_t now_ns, struct meta_drop *drop);

/* Directory ino gained (delta +1) or lost (-1) a subdirectory, or (0) another
 * entry, whose entry lives on another server: its nlink follows (never below 2,
 * never freed) and its mtime = ctime = now_ns. -ENOTDIR, -ENOENT, -EINVAL (not
 * local, bad delta). */
int meta_touch_dir(struct meta_store *m, uint64_t ino, int delta, int64_t now_ns);
/* ---- parents' times owed to other servers (server/dirtimes.h) ----
 * A directory on another server whose new times this server has queued is
 * written down (one record a directory, the first stamp of its queued touch)
 * and forgotten once a touch at least as late was taken there, so that a
 * restart sends what a kill -9 left unsent (at most the queue's window older
 * than the last change). The records are the event loop's, as the rest. */
struct meta_dirtime {
    uint64_t dir;
    int64_t stamp;      /* wall clock, ns */
};
int meta_dirtime_put(struct meta_store *m, uint64_t dir, int64_t stamp_ns);
/* Forgets each d[i].dir whose record's stamp is at most d[i].stamp (a later one
 * stays: its touch is on its way); one transaction. */
int meta_dirtimes_settle(struct meta_store *m, const struct meta_dirtime *d, size_t n);
/* Every record (for the start); *out is malloc'd, freed by the caller. */
int meta_dirtimes_list(struct meta_store *m, struct meta_dirtime **out, size_t *n);

/* Local directory ino's mtime = ctime = stamp_ns, if that is later than its
 * ctime (else nothing changes, and 0): the times of an entry made or removed
 * on another server, which that server sends later (server/dirtimes.h), so
 * that one overtaken by a later change of the directory is a no-op. Errors as
 * meta_touch_dir's. */
int meta_stamp_dir(struct meta_store *m, uint64_t ino, int64_t stamp_ns);

/* Adds delta (+1 or -1) to the nlink of local inode ino (the remote half of
 * link/unlink/rename). At 0 the record goes unless keep_orphan; drop says so. */
int meta_nlink(struct meta_store *m, uint64_t ino, int delta, int keep_orphan,
               int64_t now_ns, struct meta_drop *drop);

/* Deletes inode ino if its nlink is 0 (an orphan whose last user closed it);
 * 0 and drop->freed = 0 if it still has links. -ENOENT if absent. */
int meta_purge(struct meta_store *m, uint64_t ino, struct meta_drop *drop);

/* Deletes every orphan (nlink 0) record, e.g. at startup after a crash, calling
 * cb for each so the caller can delete its chunks. Returns how many, or -errno. */
int meta_purge_orphans(struct meta_store *m, void (*cb)(void *arg, uint64_t ino, uint64_t size),
                       void *arg);

/* META_RENAME_CLUSTER: the cluster has several nodes, so a rename that moves a
 * directory between parents, replaces a directory, or renames or replaces an inode
 * that lives on another node (whose ctime or nlink changes there) is refused with
 * META_COORD: it goes through the coordinator (coord.h). */
enum { META_RENAME_NOREPLACE = 1, META_RENAME_CLUSTER = 2 };

/* Renames entry (op, on) to (np, nn); both entries live on this node.
 * Replacing follows rename(2): a directory only replaces an empty directory
 * (-ENOTEMPTY / -ENOTDIR), a non-directory only a non-directory (-EISDIR);
 * NOREPLACE gives -EEXIST if the target exists. Renaming an entry onto itself
 * (same inode) succeeds and changes nothing. The replaced inode loses a link,
 * reported in *replaced as for meta_unlink. A moved directory updates local
 * parents' nlink. */
int meta_rename(struct meta_store *m, uint64_t op, const char *on, size_t onlen,
                uint64_t np, const char *nn, size_t nnlen, unsigned flags, int keep_orphan,
                int64_t now_ns, struct meta_drop *replaced);

/* Lists entries of directory parent stored here, in a stable order: those after
 * cookie (0: from the start), at most max of them, into out. *n gets how many,
 * *eof = 1 when there are no more. Cookies are below 2^56 and never 0, 1 or 2
 * (those are the client's for the start, "." and ".."). */
int meta_readdir(struct meta_store *m, uint64_t parent, uint64_t cookie,
                 struct bfs_dirent *out, size_t max, size_t *n, int *eof);

/* 1 if directory parent has any entry here, 0 if none, or -errno. */
int meta_has_entries(struct meta_store *m, uint64_t parent);

/* The dentries key of (parent, name): parent (u64 BE) | name hash (u64 BE) | name,
 * as the store keeps it (see meta_records.c), for tools that read or repair a stopped
 * store directly (benchfs-fsck). out has room for 16 + BFS_NAME_MAX bytes;
 * returns the key's length. */
size_t meta_dentry_key(uint64_t parent, const char *name, size_t len, unsigned char *out);

/* Tables meta_scan reads: the numbers are OP_SCAN's (proto.h; its 9 is the
 * chunk files, not a table of this store). */
enum meta_table {
    META_T_INFO, META_T_INODES, META_T_DENTRIES, META_T_ORPHANS, META_T_INLINE,
    META_T_FENCES, META_T_INTENTS, META_T_APPLIED, META_T_PARENTS, META_T_MAX,
    META_T_XATTRS = 10,     /* extended attributes (xattr_store.h) */
};

/* One page of raw records of table, in key order, read-only: those with keys
 * after the after_len bytes of after (after_len 0: from the first), encoded into
 * out (size bytes) as u16 LE key length | u32 LE value length | key | value,
 * as many as fit. *used gets the bytes, *count the records, *eof = 1 when no
 * record follows the last one. A table this store does not have is empty.
 * -EMSGSIZE if the first record does not fit, -EINVAL for a bad table. */
int meta_scan(struct meta_store *m, int table, const void *after, size_t after_len,
              void *out, size_t size, size_t *used, size_t *count, int *eof);

/* ---- inline data (like ext4's inline_data) ----
 *
 * A regular file's chunk-0 bytes are kept here, not in a chunk file, as long as all
 * of them lie in [0, meta_inline_max()): a small file then costs one LMDB commit
 * per write instead of a chunk file. A new regular file starts in "inline mode"
 * with no bytes; once a chunk-0 write reaches past the limit the file is in "chunk
 * mode" for good and its chunk 0 is a chunk file like any other (files of a store
 * from before inline data are in chunk mode). In inline mode the chunk-0 bytes
 * past the stored ones read as zeros, and a chunk-0 file of the inode (left by a
 * crash during a migration) is not data. Chunks 1.. are never inline.
 */
enum {
    META_CHUNKS = 1,    /* ino is in chunk mode: its chunk 0 is in the chunk store */
    META_MIGRATE = 2,   /* the write does not fit inline: move the inline bytes first */
};

/* Bytes of chunk 0 that can be inline: 16 KiB, or the chunk size if smaller. */
size_t meta_inline_max(struct meta_store *m);

/* Writes len bytes at offset off of chunk 0 of regular file ino, one transaction:
 *  0: stored inline (a gap before off reads as zeros); size raised to off+len if
 *     larger, mtime = ctime = now_ns, *out (and *before, the attributes before
 *     the write, if not NULL) filled.
 *  META_CHUNKS: ino is in chunk mode, nothing stored: write the chunk file, then
 *     meta_wrote as for any chunk. An inline file holding no
 *     bytes whose write ends past the limit turns to chunk mode here.
 *  META_MIGRATE: the write ends past meta_inline_max() and ino holds inline bytes;
 *     nothing changed. The caller copies [0, meta_inline_max()) (meta_inline_read)
 *     into chunk file 0, makes that durable, calls meta_inline_end and then writes
 *     as in chunk mode; no other write or truncate of ino's chunk 0 may run from
 *     the copy to meta_inline_end, or it is lost.
 * -ENOENT, -EISDIR, -EINVAL (not a regular file), -EIO (corrupt record). */
int meta_inline_write(struct meta_store *m, uint64_t ino, uint64_t off, const void *buf,
                      size_t len, int64_t now_ns, struct bfs_attr *out, struct bfs_attr *before);

/* Reads [off, off+len) of chunk 0 of regular file ino: 0 and buf filled, *got bytes
 * of it from the inline data and the rest zeros (the caller clamps len to the file
 * size); META_CHUNKS in chunk mode; -ENOENT, -EISDIR, -EINVAL, -EIO as above. */
int meta_inline_read(struct meta_store *m, uint64_t ino, uint64_t off, void *buf, size_t len,
                     size_t *got);

/* The end of a migration: ino turns to chunk mode and its inline bytes go.
 * 0 (also if it was in chunk mode already), or -errno as meta_inline_write. */
int meta_inline_end(struct meta_store *m, uint64_t ino);

/* ---- multi-server operations (server/coord.h) ----
 *
 * An operation whose steps land on several nodes is run by a coordinator, the node
 * holding its first entry, from an *intent* kept in the coordinator's store: begun
 * in one transaction (which looks up the entry), replayed after a crash, marked
 * done, and ended once the participants have forgotten it. Each step a participant
 * does is one transaction that also stores a *mark* (intent, step) with its result,
 * so a replayed step is answered from the mark instead of being done twice. A
 * *fence* on a directory stops new entries there (META_FENCED) while an rmdir or a
 * rename over it checks that it is empty on every node; once it is removed the
 * fence stays as a tombstone (new entries get -ENOENT).
 */
enum { META_INTENT_ACTIVE = 1, META_INTENT_DONE = 2 };

struct meta_intent {
    uint64_t id;                    /* coordinator node << 48 | counter; set by begin */
    uint32_t kind;                  /* what the coordinator does (coord.c's table) */
    uint32_t state;                 /* META_INTENT_* */
    uint32_t flags;                 /* the request's BFS_F_* */
    uint64_t ino;                   /* entry (parent, name) -> ino, type: set by begin */
    uint32_t type;
    uint64_t parent, newparent;
    uint64_t fenced;                /* a directory whose fences it may hold (meta_intent_note) */
    uint64_t size;                  /* a freed inode's size (its chunks to remove) */
    uint32_t name_len, newname_len;
    char name[BFS_NAME_MAX + 1], newname[BFS_NAME_MAX + 1];   /* not NUL-terminated */
};

/* How meta_intent_begin treats entry (in->parent, in->name) here:
 *   ENTRY  it must exist (-ENOENT): in->ino/type are set from it;
 *   DIR    the same, and it must be a directory (-ENOTDIR);
 *   NEW    it must not exist (-EEXIST) and its parent must take entries (as for a
 *          create: -ENOENT, -ENOTDIR, META_FENCED); in->ino/type are the caller's;
 *   NOENTRY the intent names no entry (in->name unused). */
enum { META_BEGIN_ENTRY, META_BEGIN_DIR, META_BEGIN_NEW, META_BEGIN_NOENTRY };
/* Checks the entry as mode says, gives in->id and stores in ACTIVE, in one
 * transaction. */
int meta_intent_begin(struct meta_store *m, struct meta_intent *in, int mode);
/* Stores in as DONE: a replay only has the participants forget it. */
int meta_intent_done(struct meta_store *m, const struct meta_intent *in);
/* Records in intent id the directory it is about to fence, so that a replay can
 * lift those fences. */
int meta_intent_note(struct meta_store *m, uint64_t id, uint64_t fenced);
int meta_intent_end(struct meta_store *m, uint64_t id);
/* Every intent stored here (for replay at start); *out is malloc'd, freed by the caller. */
int meta_intent_list(struct meta_store *m, struct meta_intent **out, size_t *n);

/* What a marked step did. */
struct meta_step {
    uint64_t ino;                   /* install: the inode replaced (0: none) */
    uint32_t type;                  /* install: its type */
    uint32_t flags;                 /* drop: 1 = freed; META_STEP_ABORTED */
    uint64_t size;                  /* drop: size of the freed inode */
};
enum { META_STEP_ABORTED = 2 };
/* The mark of (intent, step) here: 0 and *out, or -ENOENT. */
int meta_step_get(struct meta_store *m, uint64_t intent, uint32_t step, struct meta_step *out);
/* The same, but a missing mark is stored as META_STEP_ABORTED first: the step will
 * not be done any more (meta_install then says -ECANCELED). How a replay decides
 * whether an operation passed its commit point without racing with that step. */
int meta_step_claim(struct meta_store *m, uint64_t intent, uint32_t step, struct meta_step *out);
/* Deletes every mark of intent here. */
int meta_forget(struct meta_store *m, uint64_t intent);

enum { META_FENCE_HELD = 1, META_FENCE_DEAD = 2 };
/* Fences directory dir here for intent: -ENOTEMPTY if dir has entries here, -EBUSY
 * if another intent holds its fence, -ENOENT if it was removed; 0 also when intent
 * holds it already. */
int meta_fence(struct meta_store *m, uint64_t dir, uint64_t intent);
/* Lifts intent's fence (dead = 0), or makes it a tombstone (dead = 1). -EBUSY if
 * another intent holds it. */
int meta_unfence(struct meta_store *m, uint64_t dir, uint64_t intent, int dead);

/* Steps (marked unless said otherwise; a removed inode is not an error: nothing to do):
 * install: entry (parent, name) -> ino of type, replacing expect (0: the name must be
 *   free), else -ESTALE; the parent is checked as for a create (META_FENCED, -ENOENT,
 *   -ENOTDIR). *replaced gets what was replaced.
 * drop_entry: removes (parent, name) if it still names ino (not marked: idempotent).
 * dir_adjust: local directory dir: nlink += delta (-1..1, never below 2), mtime = ctime.
 * drop: local ino lost a name (or, whole_dir, a removed directory all): as meta_nlink -1.
 * moved: local ino was renamed: ctime; a directory's parent becomes newparent.
 * gain: local non-directory ino got a name: nlink + 1 (-ENOENT once unlinked, -EPERM
 *   for a directory, -EMLINK). */
int meta_install(struct meta_store *m, uint64_t parent, const char *name, size_t len,
                 uint64_t ino, uint32_t type, uint64_t expect, uint64_t intent, uint32_t step,
                 struct meta_step *replaced);
int meta_drop_entry(struct meta_store *m, uint64_t parent, const char *name, size_t len,
                    uint64_t ino);
int meta_dir_adjust(struct meta_store *m, uint64_t dir, int delta, uint64_t intent,
                    uint32_t step, int64_t now_ns);
int meta_drop(struct meta_store *m, uint64_t ino, int whole_dir, int keep_orphan,
              uint64_t intent, uint32_t step, int64_t now_ns, struct meta_drop *drop);
int meta_moved(struct meta_store *m, uint64_t ino, uint64_t newparent, uint64_t intent,
               uint32_t step, int64_t now_ns);
int meta_gain(struct meta_store *m, uint64_t ino, uint64_t intent, uint32_t step, int64_t now_ns);
/* The parent of local directory dir (-ENOENT: unknown, e.g. a store from before). */
#define META_DEPTH_MAX 4096   /* parents a loop check walks before it calls the table damaged */
int meta_get_parent(struct meta_store *m, uint64_t dir, uint64_t *parent);

#endif
