/* stage.h - benchfs-stage's shared state: the job (both sides, options,
 * counters), the entries of the tree being copied, and the phases that fill
 * and copy them (tree.c walks, copy.c copies, main.c runs the phases and the
 * workers). Entries are made by one thread (the walk) before any worker runs;
 * a worker then owns the entries of the tasks it takes; counters are atomic.
 */
#ifndef BENCHFS_STAGE_H
#define BENCHFS_STAGE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "side.h"

#define PROG "benchfs-stage"
#define STAGE_BUF (4u << 20)          /* bytes one read or write moves */
#define STAGE_SEGMENT (64ull << 20)   /* files above this are copied in segments by several workers */
#define STAGE_LINK_BUF 4097           /* a symlink target and its NUL */

enum estate { E_PENDING, E_COPIED, E_SKIPPED, E_FAILED };

struct entry {
    char *rel;              /* path below the root ("" for the root itself), owned */
    const char *name;       /* its last component (in rel) */
    long parent;            /* index of the parent directory, -1 for the root */
    struct sattr a;         /* the source's attributes */
    struct shandle src, dst;
    long link_of;           /* another name of an inode copied as entry link_of, else -1 */
    int dst_ok;             /* dst is valid */
    _Atomic int state;      /* enum estate */
    _Atomic unsigned segs_left;   /* segmented file: segments still to copy */
    _Atomic int seg_failed;
    struct sfile seg_dst;   /* segmented file: opened by each segment, not shared */
};

struct job {
    int in;                 /* 1: local -> BenchFS, 0: BenchFS -> local */
    struct side src, dst;
    struct entry *e;
    size_t n, cap;
    unsigned jobs;
    int verify, progress;
    /* counters (files: every entry but directories) */
    _Atomic uint64_t files_total, files_done, copied, skipped, failed, repaired;
    _Atomic uint64_t bytes_total, bytes_done, bytes_copied;
    pthread_mutex_t err_lock;
};

/* One worker's scratch. */
struct worker {
    struct job *j;
    uint8_t *buf, *buf2;    /* STAGE_BUF each */
};

/* "benchfs-stage: SIDE/rel: what: strerror(-err)" on stderr (SIDE: the
 * destination's root when dst_side, else the source's) and counts a failure. */
void stage_report(struct job *j, const char *rel, int dst_side, const char *what, int err);
/* The same message, not counted as a failure. */
void stage_warn(struct job *j, const char *rel, int dst_side, const char *what, int err);
/* stage_report for entry i, which is then marked failed. */
void stage_error(struct job *j, size_t i, int dst_side, const char *what, int err);

/* tree.c: walks the source from its root (entry 0, already added), adding
 * every entry below it, or with a manifest (paths relative to the root, one a
 * line) those listed, their directories' contents and their ancestors. Then
 * marks later names of a hard-linked inode (link_of). Errors are reported per
 * entry; returns 0 or -ENOMEM. */
int tree_add_root(struct job *j, struct shandle *root, const struct sattr *a);
int tree_walk(struct job *j, const char *manifest);

/* copy.c, each for one entry: */
int copy_dirs(struct job *j);                  /* all directories, in order (one thread) */
void copy_entry(struct worker *w, size_t i);   /* a file, symlink or special file */
/* A file of more than STAGE_SEGMENT bytes: prepare (one thread) says how many
 * segments to copy (0: skipped or failed); copy_segment by any worker; the one
 * that copies the last sets the attributes. */
unsigned copy_prepare_big(struct worker *w, size_t i);
void copy_segment(struct worker *w, size_t i, unsigned seg);
void copy_links(struct job *j);                /* the other names of hard links (one thread) */
void copy_verify(struct worker *w, size_t i);  /* --verify: checksums; a skipped file that differs is copied again */
void copy_finish_dirs(struct job *j);          /* directories' modes, owners, times, deepest first */

#endif
