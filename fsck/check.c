/* check.c - the invariants of a BenchFS namespace over collected tables (see
 * check.h and docs/DESIGN.md, "benchfs-fsck"). */
#include "check.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/placement.h"

#define LOSTFOUND "lost+found"

/* What the entries say about one inode (parallel to the sorted inodes). */
struct agg {
    uint32_t names;     /* valid entries naming it */
    uint32_t subdirs;   /* valid directory entries under it */
    uint64_t parent;    /* a directory: the parent of its first valid entry */
    int orphan;         /* listed in its node's orphans table */
    int inl;            /* -1: no inline record, 0: inline mode, 1: chunk mode */
    int walk;           /* reachability: 0 unknown, 1 on the path, 2 reachable, 3 not */
};

struct ctx {
    struct fsck_db *db;
    struct fsck_report *r;
    struct agg *agg;
    int err;
};

/* ---- lookups over the sorted tables ---- */

static int cmp_u64(uint64_t a, uint64_t b) { return a < b ? -1 : a > b; }

static int inode_cmp(const void *a, const void *b)
{
    const struct fsck_inode *x = a, *y = b;
    int c = cmp_u64(x->ino, y->ino);
    return c ? c : cmp_u64(x->node, y->node);
}

static int intent_cmp(const void *a, const void *b)
{
    const struct fsck_intent *x = a, *y = b;
    int c = cmp_u64(x->node, y->node);
    return c ? c : cmp_u64(x->id, y->id);
}

static int dent_cmp(const void *a, const void *b)
{
    const struct fsck_dent *x = a, *y = b;
    int c = cmp_u64(x->parent, y->parent);
    if (!c)
        c = cmp_u64(x->node, y->node);
    if (!c)
        c = cmp_u64(x->len, y->len);
    return c ? c : memcmp(x->name, y->name, x->len);
}

static int chunk_cmp(const void *a, const void *b)
{
    const struct fsck_chunk *x = a, *y = b;
    int c = cmp_u64(x->ino, y->ino);
    if (!c)
        c = cmp_u64(x->idx, y->idx);
    return c ? c : cmp_u64(x->node, y->node);
}

/* Index of inode ino kept on node, or -1. */
static long find_inode(const struct fsck_db *db, uint64_t ino, uint32_t node)
{
    struct fsck_inode key = { .ino = ino, .node = node };
    if (!db->n_inodes)
        return -1;
    const struct fsck_inode *p = bsearch(&key, db->inodes, db->n_inodes, sizeof key, inode_cmp);
    return p ? (long)(p - db->inodes) : -1;
}

/* Index of ino on its owner node (the only place it counts), or -1. */
static long find_owned(const struct fsck_db *db, uint64_t ino)
{
    uint32_t owner = place_inode(ino, db->nodes);
    return owner == UINT32_MAX ? -1 : find_inode(db, ino, owner);
}

static int has_intent(const struct fsck_db *db, uint32_t node, uint64_t id)
{
    struct fsck_intent key = { .node = node, .id = id };
    return db->n_intents && bsearch(&key, db->intents, db->n_intents, sizeof key, intent_cmp) != NULL;
}

/* 1 if any entry on any node (valid or not) has parent dir. */
static int has_children(const struct fsck_db *db, uint64_t dir)
{
    size_t lo = 0, hi = db->n_dents;
    while (lo < hi) {   /* first entry with parent >= dir */
        size_t mid = lo + (hi - lo) / 2;
        if (db->dents[mid].parent < dir)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < db->n_dents && db->dents[lo].parent == dir;
}

/* ---- reporting ---- */

static const char *type_name(uint32_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFDIR: return "directory";
    case S_IFREG: return "file";
    case S_IFLNK: return "symlink";
    default: return "unknown";
    }
}

/* name as printable text: bytes outside printable ASCII (and '"', '\') as \xNN. */
static void quote(const char *name, size_t len, char *out, size_t size)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 5 < size; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
            out[o++] = (char)c;
        else
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
    }
    out[o] = '\0';
}

static struct fsck_problem *add(struct ctx *c, int severity, const char *kind, enum fsck_fix fix,
                                uint32_t node, uint64_t ino, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));

static struct fsck_problem *add(struct ctx *c, int severity, const char *kind, enum fsck_fix fix,
                                uint32_t node, uint64_t ino, const char *fmt, ...)
{
    struct fsck_report *r = c->r;
    if (r->n_p == r->cap_p) {
        size_t ncap = r->cap_p ? 2 * r->cap_p : 64;
        struct fsck_problem *p = realloc(r->p, ncap * sizeof *p);
        if (!p) {
            c->err = -ENOMEM;
            return NULL;
        }
        r->p = p;
        r->cap_p = ncap;
    }
    struct fsck_problem *p = &r->p[r->n_p++];
    memset(p, 0, sizeof *p);
    p->severity = severity;
    p->kind = kind;
    p->fix = fix;
    p->node = node;
    p->ino = ino;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->detail, sizeof p->detail, fmt, ap);
    va_end(ap);
    if (severity == FSCK_PROBLEM)
        r->problems++;
    else
        r->notes++;
    return p;
}

/* A problem about entry e; the fix (if any) names the entry. */
static struct fsck_problem *add_dent(struct ctx *c, const struct fsck_dent *e, const char *kind,
                                     enum fsck_fix fix, const char *why)
{
    char q[4 * BFS_NAME_MAX + 1];
    quote(e->name, e->len, q, sizeof q);
    struct fsck_problem *p = add(c, FSCK_PROBLEM, kind, fix, e->node, e->ino,
                                 "node %" PRIu32 ": entry (parent 0x%" PRIx64 ", name \"%s\") -> "
                                 "ino 0x%" PRIx64 " (%s): %s", e->node, e->parent, q, e->ino,
                                 type_name(e->type), why);
    if (p) {
        p->parent = e->parent;
        p->len = e->len;
        memcpy(p->name, e->name, e->len + 1);
        p->type = e->type;
    }
    return p;
}

size_t fsck_lost_name(uint64_t ino, char *buf, size_t size)
{
    int n = snprintf(buf, size, "#%" PRIx64, ino);
    return n < 0 ? 0 : (size_t)n;
}

/* ---- the invariants ---- */

/* 1: where each entry is, what it names, under what. Valid entries are counted. */
static void check_entries(struct ctx *c)
{
    struct fsck_db *db = c->db;
    for (size_t i = 0; i < db->n_dents; i++) {
        const struct fsck_dent *e = &db->dents[i];
        uint32_t want = place_dentry(e->parent, e->name, e->len, db->nodes);
        if (want != e->node) {
            char why[64];
            snprintf(why, sizeof why, "stored on the wrong node (placement: node %" PRIu32 ")", want);
            add_dent(c, e, "misplaced-entry", FIX_NONE, why);
        }
        long pi = find_owned(db, e->parent);
        if (pi < 0 || !S_ISDIR(db->inodes[pi].mode) || db->inodes[pi].nlink == 0) {
            add_dent(c, e, "entry-without-parent", FIX_DEL_DENT,
                     pi < 0 ? "its parent directory does not exist"
                     : S_ISDIR(db->inodes[pi].mode) ? "its parent directory was removed (nlink 0)"
                     : "its parent is not a directory");
            continue;
        }
        long ci = find_owned(db, e->ino);
        if (ci < 0) {
            add_dent(c, e, "dangling-entry", FIX_DEL_DENT,
                     "no such inode on its owner node");
            continue;
        }
        if (e->ino == BFS_ROOT_INO) {
            add_dent(c, e, "entry-names-root", FIX_DEL_DENT, "the root has no entry");
            continue;
        }
        const struct fsck_inode *ch = &db->inodes[ci];
        if ((ch->mode & S_IFMT) != e->type) {
            char why[64];
            snprintf(why, sizeof why, "the inode is a %s", type_name(ch->mode));
            struct fsck_problem *p = add_dent(c, e, "entry-type-mismatch", FIX_SET_DENT_TYPE, why);
            if (p)
                p->value = ch->mode & S_IFMT;
        }
        c->agg[ci].names++;
        if (S_ISDIR(ch->mode)) {
            c->agg[pi].subdirs++;
            if (c->agg[ci].names == 1)
                c->agg[ci].parent = e->parent;
        }
    }
}

/* The existing lost+found (a valid directory entry "lost+found" in the root). */
static void find_lostfound(struct ctx *c)
{
    struct fsck_db *db = c->db;
    for (size_t i = 0; i < db->n_dents; i++) {
        const struct fsck_dent *e = &db->dents[i];
        if (e->parent != BFS_ROOT_INO || e->len != sizeof LOSTFOUND - 1 ||
            memcmp(e->name, LOSTFOUND, e->len) != 0)
            continue;
        long ci = find_owned(db, e->ino);
        if (ci >= 0 && S_ISDIR(db->inodes[ci].mode) && db->inodes[ci].nlink > 0)
            c->r->lostfound = e->ino;
        else if (ci >= 0)
            c->r->lostfound_blocked = 1;
    }
}

/* 2, 3: link counts, names, orphans. */
static void check_inodes(struct ctx *c)
{
    struct fsck_db *db = c->db;
    for (size_t i = 0; i < db->n_inodes; i++) {
        const struct fsck_inode *in = &db->inodes[i];
        struct agg *a = &c->agg[i];
        uint32_t owner = place_inode(in->ino, db->nodes);
        if (owner != in->node) {
            add(c, FSCK_PROBLEM, "misplaced-inode", FIX_NONE, in->node, in->ino,
                "node %" PRIu32 ": ino 0x%" PRIx64 " (%s): record on a node that does not own "
                "it (owner: %s%" PRIu32 ")", in->node, in->ino, type_name(in->mode),
                owner == UINT32_MAX ? "outside the cluster, node " : "node ",
                bfs_ino_node(in->ino));
            continue;
        }
        int dir = S_ISDIR(in->mode);
        uint32_t want = dir ? 2 + a->subdirs : a->names;
        if (in->ino == BFS_ROOT_INO) {
            if (!dir)
                add(c, FSCK_PROBLEM, "root-not-directory", FIX_NONE, in->node, in->ino,
                    "node 0: ino 0x1: the root is a %s", type_name(in->mode));
            else if (in->nlink != want) {
                struct fsck_problem *p = add(c, FSCK_PROBLEM, "wrong-nlink", FIX_SET_NLINK,
                                             in->node, in->ino, "node 0: ino 0x1 (root "
                                             "directory): nlink %" PRIu32 ", its %" PRIu32
                                             " subdirectories make it %" PRIu32, in->nlink,
                                             a->subdirs, want);
                if (p)
                    p->value = want;
            }
            if (a->orphan)
                add(c, FSCK_PROBLEM, "orphan-with-links", FIX_DEL_ORPHAN, in->node, in->ino,
                    "node 0: ino 0x1 (root directory): listed in orphans");
            continue;
        }
        if (in->nlink == 0 && a->names == 0) {
            if (!a->orphan)
                add(c, FSCK_PROBLEM, "unlisted-orphan", FIX_ADD_ORPHAN, in->node, in->ino,
                    "node %" PRIu32 ": ino 0x%" PRIx64 " (%s): nlink 0 but not in orphans "
                    "(never purged)", in->node, in->ino, type_name(in->mode));
            continue;
        }
        if (a->orphan)
            add(c, FSCK_PROBLEM, "orphan-with-links", FIX_DEL_ORPHAN, in->node, in->ino,
                "node %" PRIu32 ": ino 0x%" PRIx64 " (%s): in orphans but nlink %" PRIu32
                ", %" PRIu32 " entries", in->node, in->ino, type_name(in->mode), in->nlink,
                a->names);
        if (a->names == 0) {
            struct fsck_problem *p = add(c, FSCK_PROBLEM, "unnamed-inode", FIX_LOSTFOUND,
                                         in->node, in->ino, "node %" PRIu32 ": ino 0x%" PRIx64
                                         " (%s): nlink %" PRIu32 " but no entry names it",
                                         in->node, in->ino, type_name(in->mode), in->nlink);
            if (p)
                p->type = in->mode & S_IFMT;
            if (!dir)
                continue;   /* lost+found's entry sets nlink 1 */
        } else if (dir && a->names > 1) {
            add(c, FSCK_PROBLEM, "directory-hard-link", FIX_NONE, in->node, in->ino,
                "node %" PRIu32 ": ino 0x%" PRIx64 " (directory): named by %" PRIu32
                " entries", in->node, in->ino, a->names);
        }
        if (in->nlink != want) {
            struct fsck_problem *p = add(c, FSCK_PROBLEM, "wrong-nlink", FIX_SET_NLINK, in->node,
                                         in->ino, "node %" PRIu32 ": ino 0x%" PRIx64 " (%s): "
                                         "nlink %" PRIu32 ", %s %" PRIu32, in->node, in->ino,
                                         type_name(in->mode), in->nlink,
                                         dir ? "its subdirectories make it" : "entries naming it:",
                                         want);
            if (p)
                p->value = want;
        }
    }
}

/* 3: orphans records of inodes that are not there. */
static void check_orphans(struct ctx *c)
{
    struct fsck_db *db = c->db;
    for (size_t i = 0; i < db->n_orphans; i++) {
        const struct fsck_orphan *o = &db->orphans[i];
        long k = find_inode(db, o->ino, o->node);
        if (k >= 0 && place_inode(o->ino, db->nodes) == o->node)
            c->agg[k].orphan = 1;
        else
            add(c, FSCK_PROBLEM, "orphan-without-inode", FIX_DEL_ORPHAN, o->node, o->ino,
                "node %" PRIu32 ": orphans lists ino 0x%" PRIx64 ", which has no inode record "
                "on this node", o->node, o->ino);
    }
}

/* 4: every directory reaches the root through its entries. */
static void check_reachable(struct ctx *c)
{
    struct fsck_db *db = c->db;
    long *path = malloc((db->n_inodes + 1) * sizeof *path);
    if (!path) {
        c->err = -ENOMEM;
        return;
    }
    for (size_t i = 0; i < db->n_inodes; i++) {
        const struct fsck_inode *in = &db->inodes[i];
        if (!S_ISDIR(in->mode) || c->agg[i].walk || c->agg[i].names == 0 ||
            place_inode(in->ino, db->nodes) != in->node)
            continue;
        size_t n = 0;
        long cur = (long)i;
        int verdict, cycle = 0;
        for (;;) {
            struct agg *a = &c->agg[cur];
            if (db->inodes[cur].ino == BFS_ROOT_INO || a->walk == 2 || a->names == 0) {
                verdict = 2;    /* the root, or a directory lost+found will take */
                break;
            }
            if (a->walk == 3) {
                verdict = 3;
                break;
            }
            if (a->walk == 1) {     /* back on this walk's path: a cycle */
                add(c, FSCK_PROBLEM, "directory-cycle", FIX_NONE, db->inodes[cur].node,
                    db->inodes[cur].ino, "node %" PRIu32 ": ino 0x%" PRIx64 " (directory, "
                    "parent 0x%" PRIx64 "): its ancestors loop back to it, not to the root",
                    db->inodes[cur].node, db->inodes[cur].ino, a->parent);
                verdict = 3;
                cycle = 1;
                break;
            }
            a->walk = 1;
            path[n++] = cur;
            cur = find_owned(db, a->parent);  /* exists: the entry was valid */
            if (cur < 0) {
                verdict = 3;
                break;
            }
        }
        for (size_t k = 0; k < n; k++)
            c->agg[path[k]].walk = verdict;
        if (verdict == 3 && !cycle)
            add(c, FSCK_PROBLEM, "unreachable-directory", FIX_NONE, in->node, in->ino,
                "node %" PRIu32 ": ino 0x%" PRIx64 " (directory, parent 0x%" PRIx64 "): not "
                "reachable from the root (an ancestor is in a cycle)", in->node, in->ino,
                c->agg[i].parent);
    }
    free(path);
}

/* 5: chunk files belong to regular files, within their size, on the right node. */
static void check_chunks(struct ctx *c)
{
    struct fsck_db *db = c->db;
    for (size_t i = 0; i < db->n_chunks; i++) {
        const struct fsck_chunk *ch = &db->chunks[i];
        long k = find_owned(db, ch->ino);
        struct fsck_problem *p;
        if (k < 0) {
            p = add(c, FSCK_PROBLEM, "orphan-chunk", FIX_DEL_CHUNK, ch->node, ch->ino,
                    "node %" PRIu32 ": chunk file ino 0x%" PRIx64 " idx %" PRIu64
                    ": no such inode on its owner node", ch->node, ch->ino, ch->idx);
        } else if (!S_ISREG(db->inodes[k].mode)) {
            p = add(c, FSCK_PROBLEM, "chunk-of-non-file", FIX_DEL_CHUNK, ch->node, ch->ino,
                    "node %" PRIu32 ": chunk file ino 0x%" PRIx64 " idx %" PRIu64 ": the inode "
                    "is a %s", ch->node, ch->ino, ch->idx, type_name(db->inodes[k].mode));
        } else {
            uint32_t want = place_chunk(ch->ino, ch->idx, db->nodes);
            if (want != ch->node)
                add(c, FSCK_PROBLEM, "misplaced-chunk", FIX_NONE, ch->node, ch->ino,
                    "node %" PRIu32 ": chunk file ino 0x%" PRIx64 " idx %" PRIu64
                    ": placement puts it on node %" PRIu32, ch->node, ch->ino, ch->idx, want);
            if (ch->idx == 0 && c->agg[k].inl != 1) {
                p = add(c, FSCK_NOTE, "leftover-chunk", FIX_DEL_CHUNK, ch->node, ch->ino,
                        "node %" PRIu32 ": chunk file ino 0x%" PRIx64 " idx 0: the file is in "
                        "inline mode, so this is a leftover of an interrupted migration (not "
                        "data)", ch->node, ch->ino);
            } else if (ch->idx >= db->inodes[k].size / db->chunk_size +
                                  (db->inodes[k].size % db->chunk_size != 0)) {
                p = add(c, FSCK_PROBLEM, "chunk-past-eof", FIX_DEL_CHUNK, ch->node, ch->ino,
                        "node %" PRIu32 ": chunk file ino 0x%" PRIx64 " idx %" PRIu64
                        ": past the file's size %" PRIu64, ch->node, ch->ino, ch->idx,
                        db->inodes[k].size);
            } else {
                continue;
            }
        }
        if (p)
            p->idx = ch->idx;
    }
}

/* 6: inline records belong to regular files (and mark their chunk-0 mode). */
static void check_inline(struct ctx *c)
{
    struct fsck_db *db = c->db;
    for (size_t i = 0; i < db->n_inl; i++) {
        const struct fsck_inline *r = &db->inl[i];
        long k = find_inode(db, r->ino, r->node);
        if (k < 0 || place_inode(r->ino, db->nodes) != r->node)
            add(c, FSCK_PROBLEM, "inline-without-inode", FIX_DEL_INLINE, r->node, r->ino,
                "node %" PRIu32 ": inline record of ino 0x%" PRIx64 ", which has no inode "
                "record on this node", r->node, r->ino);
        else if (!S_ISREG(db->inodes[k].mode))
            add(c, FSCK_PROBLEM, "inline-of-non-file", FIX_DEL_INLINE, r->node, r->ino,
                "node %" PRIu32 ": inline record of ino 0x%" PRIx64 ", a %s", r->node, r->ino,
                type_name(db->inodes[k].mode));
        else
            c->agg[k].inl = r->chunks;
    }
}

/* 6b: extended attributes belong to an inode on their node (its owner). */
static void check_xattrs(struct ctx *c)
{
    struct fsck_db *db = c->db;
    for (size_t i = 0; i < db->n_xattrs; i++) {
        const struct fsck_xattr *r = &db->xattrs[i];
        if (find_inode(db, r->ino, r->node) >= 0 && place_inode(r->ino, db->nodes) == r->node)
            continue;
        char shown[4 * BFS_NAME_MAX + 8];
        quote(r->name, r->len, shown, sizeof shown);
        struct fsck_problem *p = add(c, FSCK_PROBLEM, "xattr-without-inode", FIX_DEL_XATTR,
                                     r->node, r->ino, "node %" PRIu32 ": extended attribute \"%s\" "
                                     "of ino 0x%" PRIx64 ", which has no inode record on this node",
                                     r->node, shown, r->ino);
        if (p) {
            p->len = r->len;
            memcpy(p->name, r->name, r->len);
        }
    }
}

/* 7: the tables of multi-server operations. */
static void check_intents(struct ctx *c)
{
    struct fsck_db *db = c->db;
    for (size_t i = 0; i < db->n_fences; i++) {
        const struct fsck_fence *f = &db->fences[i];
        if (f->state == 1 && !has_intent(db, f->coord, f->intent))
            add(c, FSCK_PROBLEM, "stale-fence", FIX_DEL_FENCE, f->node, f->dir,
                "node %" PRIu32 ": fence on directory 0x%" PRIx64 " held by intent %" PRIu64
                " of node %" PRIu32 ", which has no such intent", f->node, f->dir, f->intent,
                f->coord);
        if (f->state == 2 && has_children(db, f->dir))
            add(c, FSCK_PROBLEM, "entries-under-removed-directory", FIX_NONE, f->node, f->dir,
                "node %" PRIu32 ": directory 0x%" PRIx64 " is fenced as removed but has "
                "entries", f->node, f->dir);
    }
    for (size_t i = 0; i < db->n_intents; i++) {
        const struct fsck_intent *t = &db->intents[i];
        if (db->online)
            add(c, FSCK_NOTE, "pending-intent", FIX_NONE, t->node, 0,
                "node %" PRIu32 ": intent %" PRIu64 " pending (an operation across servers "
                "in progress)", t->node, t->id);
        else
            add(c, FSCK_PROBLEM, "pending-intent", FIX_NONE, t->node, 0,
                "node %" PRIu32 ": intent %" PRIu64 " pending: an operation across servers "
                "was interrupted; starting the servers replays it", t->node, t->id);
    }
    for (size_t i = 0; i < db->n_applied; i++) {
        const struct fsck_applied *a = &db->applied[i];
        if (has_intent(db, a->coord, a->intent))
            continue;
        struct fsck_problem *p = add(c, FSCK_PROBLEM, "stale-applied-mark", FIX_DEL_APPLIED,
                                     a->node, 0, "node %" PRIu32 ": applied mark of intent 0x%"
                                     PRIx64 " step %u of node %" PRIu32 ", which has no such "
                                     "intent", a->node, a->intent, a->step, a->coord);
        if (p) {
            p->coord = a->coord;
            p->value = a->intent;
            p->idx = a->step;
        }
    }
    for (size_t i = 0; i < db->n_parents; i++) {
        const struct fsck_parent *r = &db->parents[i];
        long k = find_inode(db, r->dir, r->node);
        if (k < 0 || !S_ISDIR(db->inodes[k].mode) || place_inode(r->dir, db->nodes) != r->node) {
            add(c, FSCK_PROBLEM, "parent-record-without-directory", FIX_DEL_PARENT, r->node,
                r->dir, "node %" PRIu32 ": parents record of 0x%" PRIx64 " (-> 0x%" PRIx64
                "), which is not a directory on this node", r->node, r->dir, r->parent);
            continue;
        }
        /* a directory no entry names gets its record from lost+found's fix */
        if (c->agg[k].names == 0 || c->agg[k].parent == r->parent)
            continue;
        struct fsck_problem *p = add(c, FSCK_PROBLEM, "wrong-parent-record", FIX_SET_PARENT,
                                     r->node, r->dir, "node %" PRIu32 ": directory 0x%" PRIx64
                                     ": parents says 0x%" PRIx64 ", its entry is under 0x%"
                                     PRIx64, r->node, r->dir, r->parent, c->agg[k].parent);
        if (p)
            p->value = c->agg[k].parent;
    }
}

int fsck_check(struct fsck_db *db, struct fsck_report *out)
{
    struct ctx c = { .db = db, .r = out };
    memset(out, 0, sizeof *out);
    if (db->nodes == 0 || db->nodes > BFS_MAX_NODES || db->chunk_size == 0)
        return -EINVAL;
    /* (an empty table's array is NULL, which qsort and bsearch may not get) */
    if (db->n_inodes)
        qsort(db->inodes, db->n_inodes, sizeof *db->inodes, inode_cmp);
    if (db->n_dents)
        qsort(db->dents, db->n_dents, sizeof *db->dents, dent_cmp);
    if (db->n_chunks)
        qsort(db->chunks, db->n_chunks, sizeof *db->chunks, chunk_cmp);
    if (db->n_intents)
        qsort(db->intents, db->n_intents, sizeof *db->intents, intent_cmp);
    if (!(c.agg = calloc(db->n_inodes + 1, sizeof *c.agg)))
        return -ENOMEM;
    for (size_t i = 0; i < db->n_inodes; i++)
        c.agg[i].inl = -1;
    for (size_t i = 0; i < db->n_bad && !c.err; i++)
        add(&c, FSCK_PROBLEM, db->bad[i].kind, FIX_NONE, db->bad[i].node, db->bad[i].ino, "%s",
            db->bad[i].detail);
    if (find_inode(db, BFS_ROOT_INO, 0) < 0)
        add(&c, FSCK_PROBLEM, "root-missing", FIX_NONE, 0, BFS_ROOT_INO,
            "node 0: ino 0x1: the root directory has no inode record");
    check_orphans(&c);
    check_inline(&c);
    check_xattrs(&c);
    check_entries(&c);
    find_lostfound(&c);
    check_inodes(&c);
    check_reachable(&c);
    check_chunks(&c);
    check_intents(&c);
    free(c.agg);
    if (c.err) {
        fsck_report_free(out);
        return c.err;
    }
    return 0;
}

void fsck_report_free(struct fsck_report *r)
{
    free(r->p);
    memset(r, 0, sizeof *r);
}

int fsck_report_has(const struct fsck_report *r, const struct fsck_problem *p)
{
    for (size_t i = 0; i < r->n_p; i++)
        if (strcmp(r->p[i].kind, p->kind) == 0 && strcmp(r->p[i].detail, p->detail) == 0)
            return 1;
    return 0;
}
