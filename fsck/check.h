/* check.h - the checker of benchfs-fsck: every invariant of a BenchFS namespace,
 * over the tables of all nodes collected in memory (struct fsck_db).
 *
 * A loader (load_lmdb.c: stopped servers' stores; load_rpc.c: a running cluster
 * through OP_SCAN) feeds raw (table, key, value) records of each node into
 * fsck_db_add; it decodes them per the on-disk layout of server/meta.c and notes
 * records it cannot decode as problems. fsck_check then computes everything and
 * says, for each violation, what a repair would do (struct fsck_problem.fix);
 * it is pure: no I/O, so tests feed it synthetic tables.
 *
 * Repairs are planned against the state as loaded, so that after doing all of
 * them a second check is clean: entries found bad are left out of every count
 * (the nlink a fix sets is the one the remaining entries call for), and inodes
 * no valid entry names go to lost+found (the fix that creates lost+found, or
 * links a directory into it, raises the parent's nlink itself).
 *
 * Functions return 0 or a negative errno (-ENOMEM only).
 */
#ifndef BENCHFS_FSCK_CHECK_H
#define BENCHFS_FSCK_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include "../common/types.h"

/* The tables of a store; the numbers are also OP_SCAN's (proto.h). */
enum fsck_table {
    FSCK_T_INFO, FSCK_T_INODES, FSCK_T_DENTRIES, FSCK_T_ORPHANS, FSCK_T_INLINE,
    FSCK_T_FENCES, FSCK_T_INTENTS, FSCK_T_APPLIED, FSCK_T_PARENTS,
    FSCK_T_CHUNKS,      /* not LMDB: the chunk files, key ino (u64 BE) | idx (u64 BE) */
    FSCK_T_XATTRS,      /* extended attributes: ino (u64 BE) | name -> value */
    FSCK_T_MAX
};
extern const char *const fsck_table_name[FSCK_T_MAX];

struct fsck_inode  { uint32_t node; uint64_t ino; uint32_t mode, nlink; uint64_t size; };
struct fsck_dent   { uint32_t node; uint64_t parent, ino; uint32_t type, len; char name[BFS_NAME_MAX + 1]; };
struct fsck_orphan { uint32_t node; uint64_t ino; };
struct fsck_inline { uint32_t node; uint64_t ino; int chunks; /* 1: chunk mode */ };
struct fsck_chunk  { uint32_t node; uint64_t ino, idx; };
struct fsck_fence  { uint32_t node; uint64_t dir; uint8_t state; uint32_t coord; uint64_t intent; };
struct fsck_intent { uint32_t node; uint64_t id; };
struct fsck_applied { uint32_t node, coord; uint64_t intent; uint8_t step; };
struct fsck_parent { uint32_t node; uint64_t dir, parent; };
struct fsck_xattr  { uint32_t node; uint64_t ino; uint32_t len; char name[BFS_NAME_MAX + 1]; };

enum fsck_fix {
    FIX_NONE,
    FIX_DEL_DENT,       /* delete entry (parent, name) on node */
    FIX_SET_DENT_TYPE,  /* entry (parent, name) on node: type := value */
    FIX_SET_NLINK,      /* inode ino on node: nlink := value */
    FIX_LOSTFOUND,      /* link ino (type) into lost+found as "#<hex>"; non-directories get nlink 1 */
    FIX_ADD_ORPHAN,     /* orphans record for ino on node */
    FIX_DEL_ORPHAN,
    FIX_DEL_CHUNK,      /* chunk file (ino, idx) on node */
    FIX_DEL_INLINE,     /* inline record of ino on node */
    FIX_DEL_FENCE,      /* fence of directory ino on node */
    FIX_DEL_APPLIED,    /* applied mark (coord, value = intent, idx = step) on node */
    FIX_SET_PARENT,     /* parents record of directory ino on node := value */
    FIX_DEL_PARENT,
    FIX_DEL_XATTR,      /* extended attribute (ino, name) on node */
};

enum { FSCK_PROBLEM = 0, FSCK_NOTE = 1 };   /* a note is reported, not counted */

struct fsck_problem {
    int severity;
    const char *kind;               /* e.g. "dangling-entry" (a static string) */
    char detail[400];               /* names node, ino (hex), parent, name */
    enum fsck_fix fix;
    uint32_t node, type, coord;
    uint64_t ino, parent, value, idx;
    uint32_t len;                   /* name bytes */
    char name[BFS_NAME_MAX + 1];
};

#define FSCK_ARRAY(T, f) T *f; size_t n_##f, cap_##f

struct fsck_db {
    uint32_t nodes, chunk_size;
    int online;                         /* scanned while running: intents are notes */
    uint8_t has_table[BFS_MAX_NODES][FSCK_T_MAX];  /* the node's store has the table */
    uint64_t next_ino[BFS_MAX_NODES];   /* info "next_ino" (0: unknown) */
    FSCK_ARRAY(struct fsck_inode, inodes);
    FSCK_ARRAY(struct fsck_dent, dents);
    FSCK_ARRAY(struct fsck_orphan, orphans);
    FSCK_ARRAY(struct fsck_inline, inl);
    FSCK_ARRAY(struct fsck_chunk, chunks);
    FSCK_ARRAY(struct fsck_fence, fences);
    FSCK_ARRAY(struct fsck_intent, intents);
    FSCK_ARRAY(struct fsck_applied, applied);
    FSCK_ARRAY(struct fsck_parent, parents);
    FSCK_ARRAY(struct fsck_xattr, xattrs);
    FSCK_ARRAY(struct fsck_problem, bad);   /* records that did not decode */
};

struct fsck_report {
    FSCK_ARRAY(struct fsck_problem, p);
    size_t problems, notes;
    uint64_t lostfound;     /* ino of an existing lost+found directory, 0: none */
    int lostfound_blocked;  /* "lost+found" in the root is not a directory */
};

/* nodes: cluster size (1..BFS_MAX_NODES). */
void fsck_db_init(struct fsck_db *db, uint32_t nodes, uint32_t chunk_size);
void fsck_db_free(struct fsck_db *db);

/* Decodes one raw record of table on node (key and value as stored) and keeps
 * it; one that does not decode becomes a "corrupt-record" problem (no fix).
 * -ENOMEM, -EINVAL (node or table out of range). */
int fsck_db_add(struct fsck_db *db, uint32_t node, int table, const void *key, size_t klen,
                const void *val, size_t vlen);

/* A problem a loader found outside the tables (e.g. a stray file in a chunk
 * directory): kept as a problem with no fix. -ENOMEM. */
int fsck_db_add_bad(struct fsck_db *db, uint32_t node, const char *kind, const char *detail);

/* Typed adds (what fsck_db_add keeps), for tests. */
int fsck_add_inode(struct fsck_db *db, const struct fsck_inode *r);
int fsck_add_dent(struct fsck_db *db, const struct fsck_dent *r);
int fsck_add_orphan(struct fsck_db *db, const struct fsck_orphan *r);
int fsck_add_inline(struct fsck_db *db, const struct fsck_inline *r);
int fsck_add_chunk(struct fsck_db *db, const struct fsck_chunk *r);
int fsck_add_fence(struct fsck_db *db, const struct fsck_fence *r);
int fsck_add_intent(struct fsck_db *db, const struct fsck_intent *r);
int fsck_add_applied(struct fsck_db *db, const struct fsck_applied *r);
int fsck_add_parent(struct fsck_db *db, const struct fsck_parent *r);
int fsck_add_xattr(struct fsck_db *db, const struct fsck_xattr *r);

/* Checks every invariant; *out (zeroed here) lists the problems and notes,
 * in a stable order. db is sorted in place. Free with fsck_report_free. */
int fsck_check(struct fsck_db *db, struct fsck_report *out);
void fsck_report_free(struct fsck_report *r);

/* 1 if r lists a problem equal to p (same kind and detail): a re-check's match. */
int fsck_report_has(const struct fsck_report *r, const struct fsck_problem *p);

/* The name of the entry lost+found gets for ino: "#<ino in hex>"; returns its length. */
size_t fsck_lost_name(uint64_t ino, char *buf, size_t size);

#endif
