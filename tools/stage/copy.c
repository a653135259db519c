/* copy.c - copying one entry at a time from the source side to the destination (see stage.h). */
#include "stage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define BLOCK 4096   /* a block of zeros is left a hole */

enum { SRC = 0, DST = 1 };

static uint64_t min64(uint64_t a, uint64_t b) { return a < b ? a : b; }

/* The destination directory entry i goes into, or NULL after reporting. */
static struct shandle *parent_dst(struct job *j, size_t i)
{
    long p = j->e[i].parent;
    if (p >= 0 && j->e[p].dst_ok)
        return &j->e[p].dst;
    stage_error(j, i, DST, "not copied: its directory could not be made", -ENOENT);
    return NULL;
}

static int all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Writes buf (n bytes at off) but its whole blocks of zeros, so holes stay
 * holes; *end: the end of the last byte written so far. */
static int write_sparse(struct job *j, struct sfile *df, const uint8_t *buf, size_t n, uint64_t off,
                        uint64_t *end)
{
    size_t i = 0;
    while (i < n) {
        size_t be = min64(n, i + BLOCK - (off + i) % BLOCK);
        if (all_zero(buf + i, be - i)) {
            i = be;
            continue;
        }
        size_t start = i;
        for (i = be; i < n; i = be) {
            be = min64(n, i + BLOCK - (off + i) % BLOCK);
            if (all_zero(buf + i, be - i))
                break;
        }
        ssize_t w = side_pwrite(&j->dst, df, buf + start, i - start, off + start);
        if (w < 0)
            return (int)w;
        if (off + i > *end)
            *end = off + i;
    }
    return 0;
}

/* Copies the data of [from, to) (holes of the source skipped). *side: which
 * side an error came from. */
static int copy_range(struct worker *w, struct sfile *sf, struct sfile *df, uint64_t from, uint64_t to,
                      uint64_t *end, int *side)
{
    struct job *j = w->j;
    for (uint64_t off = from; off < to;) {
        uint64_t ds, de;
        int rc = side_next_data(&j->src, sf, off, to, &ds, &de);
        *side = SRC;
        if (rc < 0)
            return rc;
        if (rc == 1)
            break;
        for (uint64_t p = ds; p < de;) {
            size_t len = (size_t)min64(STAGE_BUF, de - p);
            ssize_t n = side_pread(&j->src, sf, w->buf, len, p);
            *side = SRC;
            if (n < 0)
                return (int)n;
            if (n == 0)
                return 0;   /* the file shrank meanwhile: what is there is copied */
            *side = DST;
            if ((rc = write_sparse(j, df, w->buf, (size_t)n, p, end)) < 0)
                return rc;
            p += (uint64_t)n;
            j->bytes_done += (uint64_t)n;
            j->bytes_copied += (uint64_t)n;
            if ((size_t)n < len)
                return 0;
        }
        off = de;
    }
    return 0;
}

static int same_owner(const struct job *j, const struct sattr *a, const struct sattr *b)
{
    return !j->dst.keep_owner || (a->uid == b->uid && a->gid == b->gid);
}

/* An existing destination that matches: keep it, fixing what differs but the data. */
static void keep_existing(struct job *j, size_t i, const struct sattr *da, uint32_t type)
{
    struct entry *e = &j->e[i];
    unsigned what = 0;
    if (type != S_IFLNK && (da->mode & 07777) != (e->a.mode & 07777))
        what |= SA_MODE;
    if (!same_owner(j, &e->a, da))
        what |= SA_OWNER | SA_MODE;   /* chown may clear setuid bits: the mode again */
    if (da->mtime_ns != e->a.mtime_ns)
        what |= SA_TIMES;
    if (what) {
        what |= SA_TIMES;   /* a change of mode or owner leaves the times, but be sure */
        int rc = side_setattr(&j->dst, &e->dst, NULL, &e->a, what, type);
        if (rc < 0) {
            stage_error(j, i, DST, "cannot set mode, owner or times", rc);
            return;
        }
    }
    e->state = E_SKIPPED;
    j->skipped++;
    j->files_done++;
}

/* Makes the destination of entry i with make(); a name already taken is
 * looked at: 1 (and e->dst set) when identical(...) says it can stay, else it
 * is removed (never a directory) and made again. 0 made, <0 failed (reported). */
typedef int (*make_fn)(struct job *j, size_t i, struct shandle *pd, void *arg);
typedef int (*same_fn)(struct job *j, size_t i, const struct shandle *h, const struct sattr *da, void *arg);

static int make_or_keep(struct job *j, size_t i, struct shandle *pd, make_fn make, same_fn same,
                        void *arg, struct sattr *da_out)
{
    struct entry *e = &j->e[i];
    int rc = make(j, i, pd, arg);
    if (rc != -EEXIST)
        goto out;
    struct shandle h = { 0 };
    struct sattr da;
    if ((rc = side_lookup(&j->dst, pd, e->name, &h, &da)) < 0)
        goto out;
    if (same && same(j, i, &h, &da, arg)) {
        e->dst = h;
        e->dst_ok = 1;
        *da_out = da;
        return 1;
    }
    side_handle_free(&h);
    if (S_ISDIR(da.mode)) {
        stage_error(j, i, DST, "a directory of that name is in the way", -EISDIR);
        return -EISDIR;
    }
    if ((rc = side_unlink(&j->dst, pd, e->name, 0)) < 0) {
        stage_error(j, i, DST, "cannot replace the existing file", rc);
        return rc;
    }
    rc = make(j, i, pd, arg);
out:
    if (rc < 0) {
        stage_error(j, i, DST, "cannot create", rc);
        return rc;
    }
    e->dst_ok = 1;
    return 0;
}

/* The data (if any) is in: the attributes, then the entry counts as copied. */
static void finish_copy(struct job *j, size_t i, struct sfile *f, unsigned what, uint32_t type)
{
    struct entry *e = &j->e[i];
    int rc = side_setattr(&j->dst, &e->dst, f, &e->a, what, type);
    if (rc < 0) {
        stage_error(j, i, DST, "cannot set size, mode, owner or times", rc);
        return;
    }
    e->state = E_COPIED;
    j->copied++;
    j->files_done++;
}

/* ---- regular files ---- */

struct file_ctx {
    struct sfile df;
    int force;   /* copy even if it looks identical (--verify found it was not) */
};

static int make_file(struct job *j, size_t i, struct shandle *pd, void *arg)
{
    struct file_ctx *x = arg;
    struct entry *e = &j->e[i];
    side_handle_free(&e->dst);
    return side_create(&j->dst, pd, e->name, &e->a, &e->dst, &x->df);
}

static int same_file(struct job *j, size_t i, const struct shandle *h, const struct sattr *da, void *arg)
{
    (void)h;
    const struct file_ctx *x = arg;
    const struct sattr *a = &j->e[i].a;
    return !x->force && S_ISREG(da->mode) && da->size == a->size && da->mtime_ns == a->mtime_ns;
}

static void drop_partial(struct job *j, size_t i, struct shandle *pd)
{
    side_unlink(&j->dst, pd, j->e[i].name, 0);   /* a half copy must not look finished */
    j->e[i].dst_ok = 0;
}

static void copy_file(struct worker *w, size_t i, int force)
{
    struct job *j = w->j;
    struct entry *e = &j->e[i];
    struct shandle *pd = parent_dst(j, i);
    struct sfile sf = { .fd = -1 };
    struct file_ctx x = { .df = { .fd = -1 }, .force = force };
    struct sattr da;
    if (!pd)
        return;
    /* The source first: one that cannot be read leaves nothing behind. */
    int rc = side_open(&j->src, &e->src, 0, &sf);
    if (rc < 0) {
        stage_error(j, i, SRC, "cannot open", rc);
        return;
    }
    rc = make_or_keep(j, i, pd, make_file, same_file, &x, &da);
    if (rc != 0) {
        side_close(&j->src, &sf);
        if (rc == 1) {
            j->bytes_done += e->a.size;
            keep_existing(j, i, &da, S_IFREG);
        }
        return;
    }
    uint64_t end = 0;
    int side = SRC;
    rc = copy_range(w, &sf, &x.df, 0, e->a.size, &end, &side);
    side_close(&j->src, &sf);
    if (rc < 0) {
        stage_error(j, i, side, side == SRC ? "read failed" : "write failed", rc);
        side_close(&j->dst, &x.df);
        drop_partial(j, i, pd);
        return;
    }
    finish_copy(j, i, &x.df, SA_MODE | SA_OWNER | SA_TIMES | (end < e->a.size ? SA_SIZE : 0), S_IFREG);
    side_close(&j->dst, &x.df);
}

unsigned copy_prepare_big(struct worker *w, size_t i)
{
    struct job *j = w->j;
    struct entry *e = &j->e[i];
    struct shandle *pd = parent_dst(j, i);
    struct file_ctx x = { .df = { .fd = -1 } };
    struct sattr da;
    if (!pd)
        return 0;
    struct sfile sf = { .fd = -1 };
    int rc = side_open(&j->src, &e->src, 0, &sf);
    if (rc < 0) {
        stage_error(j, i, SRC, "cannot open", rc);
        return 0;
    }
    side_close(&j->src, &sf);
    rc = make_or_keep(j, i, pd, make_file, same_file, &x, &da);
    if (rc == 1) {
        j->bytes_done += e->a.size;
        keep_existing(j, i, &da, S_IFREG);
    }
    if (rc != 0)
        return 0;
    /* The size first: segments then write inside the file, holes stay holes. */
    rc = side_setattr(&j->dst, &e->dst, &x.df, &e->a, SA_SIZE, S_IFREG);
    side_close(&j->dst, &x.df);
    if (rc < 0) {
        stage_error(j, i, DST, "cannot set the size", rc);
        drop_partial(j, i, pd);
        return 0;
    }
    unsigned n = (unsigned)((e->a.size + STAGE_SEGMENT - 1) / STAGE_SEGMENT);
    e->segs_left = n;
    e->seg_failed = 0;
    return n;
}

void copy_segment(struct worker *w, size_t i, unsigned seg)
{
    struct job *j = w->j;
    struct entry *e = &j->e[i];
    struct sfile sf = { .fd = -1 }, df = { .fd = -1 };
    uint64_t from = seg * STAGE_SEGMENT, to = min64(e->a.size, from + STAGE_SEGMENT), end = 0;
    int side = SRC, rc = side_open(&j->src, &e->src, 0, &sf);
    if (rc == 0) {
        side = DST;
        rc = side_open(&j->dst, &e->dst, 1, &df);
    }
    if (rc == 0)
        rc = copy_range(w, &sf, &df, from, to, &end, &side);
    side_close(&j->src, &sf);
    side_close(&j->dst, &df);
    if (rc < 0 && atomic_exchange(&e->seg_failed, 1) == 0) {
        char what[96];
        snprintf(what, sizeof what, "%s failed (bytes %llu-%llu)", side == SRC ? "read" : "write",
                 (unsigned long long)from, (unsigned long long)to);
        stage_report(j, e->rel, side, what, rc);
    }
    if (atomic_fetch_sub(&e->segs_left, 1) != 1)
        return;
    /* The last segment is in: the file is done. */
    if (e->seg_failed) {
        e->state = E_FAILED;
        return;
    }
    finish_copy(j, i, NULL, SA_MODE | SA_OWNER | SA_TIMES, S_IFREG);
}

/* ---- symlinks and special files ---- */

static int make_symlink(struct job *j, size_t i, struct shandle *pd, void *arg)
{
    struct entry *e = &j->e[i];
    return side_symlink(&j->dst, pd, e->name, arg, &e->a, &e->dst);
}

static int same_symlink(struct job *j, size_t i, const struct shandle *h, const struct sattr *da, void *arg)
{
    (void)i;
    char target[STAGE_LINK_BUF];
    return S_ISLNK(da->mode) && side_readlink(&j->dst, h, target, sizeof target) == 0 &&
           strcmp(target, arg) == 0;
}

static int make_node(struct job *j, size_t i, struct shandle *pd, void *arg)
{
    (void)arg;
    struct entry *e = &j->e[i];
    return side_mknod(&j->dst, pd, e->name, &e->a, &e->dst);
}

static int same_node(struct job *j, size_t i, const struct shandle *h, const struct sattr *da, void *arg)
{
    (void)h, (void)arg;
    const struct sattr *a = &j->e[i].a;
    return (da->mode & S_IFMT) == (a->mode & S_IFMT) && da->rdev == a->rdev;
}

static void copy_other(struct worker *w, size_t i)
{
    struct job *j = w->j;
    struct entry *e = &j->e[i];
    uint32_t type = e->a.mode & S_IFMT;
    char target[STAGE_LINK_BUF];
    struct sattr da;
    struct shandle *pd = parent_dst(j, i);
    if (!pd)
        return;
    int rc;
    if (type == S_IFLNK) {
        if ((rc = side_readlink(&j->src, &e->src, target, sizeof target)) < 0) {
            stage_error(j, i, SRC, "cannot read the symlink", rc);
            return;
        }
        rc = make_or_keep(j, i, pd, make_symlink, same_symlink, target, &da);
    } else {
        rc = make_or_keep(j, i, pd, make_node, same_node, NULL, &da);
    }
    if (rc == 1)
        keep_existing(j, i, &da, type);
    if (rc != 0)
        return;
    finish_copy(j, i, NULL, SA_MODE | SA_OWNER | SA_TIMES, type);
}

void copy_entry(struct worker *w, size_t i)
{
    if (S_ISREG(w->j->e[i].a.mode))
        copy_file(w, i, 0);
    else
        copy_other(w, i);
}

/* ---- directories ---- */

static int make_dir(struct job *j, size_t i, struct shandle *pd, void *arg)
{
    (void)arg;
    struct entry *e = &j->e[i];
    return side_mkdir(&j->dst, pd, e->name, &e->a, &e->dst);
}

static int same_dir(struct job *j, size_t i, const struct shandle *h, const struct sattr *da, void *arg)
{
    (void)j, (void)i, (void)h, (void)arg;
    return S_ISDIR(da->mode);
}

int copy_dirs(struct job *j)
{
    for (size_t i = 1; i < j->n; i++) {
        struct entry *e = &j->e[i];
        struct sattr da;
        if (!S_ISDIR(e->a.mode))
            continue;
        struct shandle *pd = parent_dst(j, i);
        if (pd)
            make_or_keep(j, i, pd, make_dir, same_dir, NULL, &da);
    }
    return 0;
}

void copy_finish_dirs(struct job *j)
{
    for (size_t i = j->n; i-- > 0;) {
        struct entry *e = &j->e[i];
        if (!S_ISDIR(e->a.mode) || !e->dst_ok)
            continue;
        int rc = side_setattr(&j->dst, &e->dst, NULL, &e->a, SA_MODE | SA_OWNER | SA_TIMES, S_IFDIR);
        if (rc < 0)
            stage_error(j, i, DST, "cannot set the directory's mode, owner or times", rc);
    }
}

/* ---- hard links ---- */

void copy_links(struct job *j)
{
    for (size_t i = 0; i < j->n; i++) {
        struct entry *e = &j->e[i];
        if (e->link_of < 0)
            continue;
        struct entry *first = &j->e[e->link_of];
        struct shandle *pd = parent_dst(j, i);
        struct sattr fa, da;
        struct shandle h = { 0 };
        if (!pd)
            continue;
        if (first->state == E_FAILED || !first->dst_ok) {
            char what[4200];
            snprintf(what, sizeof what, "not linked: %s, another name of this file, failed", first->rel);
            stage_error(j, i, DST, what, -EIO);
            continue;
        }
        int rc = side_stat(&j->dst, &first->dst, &fa);
        if (rc < 0) {
            stage_error(j, i, DST, "cannot link: the first name is gone", rc);
            continue;
        }
        rc = side_lookup(&j->dst, pd, e->name, &h, &da);
        side_handle_free(&h);
        if (rc == 0 && da.id == fa.id && (da.mode & S_IFMT) == (fa.mode & S_IFMT)) {
            e->state = E_SKIPPED;
            j->skipped++;
            j->files_done++;
            continue;
        }
        if (rc == 0 && S_ISDIR(da.mode)) {
            stage_error(j, i, DST, "a directory of that name is in the way", -EISDIR);
            continue;
        }
        if (rc == 0 && (rc = side_unlink(&j->dst, pd, e->name, 0)) < 0) {
            stage_error(j, i, DST, "cannot replace the existing file", rc);
            continue;
        }
        if ((rc = side_link(&j->dst, &first->dst, pd, e->name)) < 0) {
            stage_error(j, i, DST, "cannot link", rc);
            continue;
        }
        e->state = E_COPIED;
        j->copied++;
        j->files_done++;
    }
}

/* ---- --verify ---- */

/* A 64-bit checksum of the whole file (the same on both sides: same reads). */
static int checksum(struct worker *w, struct side *s, const struct shandle *h, uint64_t *sum)
{
    struct sfile f = { .fd = -1 };
    int rc = side_open(s, h, 0, &f);
    if (rc < 0)
        return rc;
    uint64_t hsh = 0x243F6A8885A308D3ull, off = 0;
    for (;;) {
        ssize_t n = side_pread(s, &f, w->buf, STAGE_BUF, off);
        if (n < 0) {
            rc = (int)n;
            break;
        }
        size_t k = 0;
        for (; k + 8 <= (size_t)n; k += 8) {
            uint64_t v;
            memcpy(&v, w->buf + k, 8);
            hsh = (hsh ^ v) * 0x9E3779B97F4A7C15ull;
            hsh ^= hsh >> 31;
        }
        for (; k < (size_t)n; k++)
            hsh = (hsh ^ w->buf[k]) * 0x100000001B3ull;
        off += (uint64_t)n;
        if ((size_t)n < STAGE_BUF)
            break;
    }
    side_close(s, &f);
    *sum = hsh ^ off;
    return rc;
}

void copy_verify(struct worker *w, size_t i)
{
    struct job *j = w->j;
    struct entry *e = &j->e[i];
    if (!S_ISREG(e->a.mode) || e->link_of >= 0 || (e->state != E_COPIED && e->state != E_SKIPPED))
        return;
    for (int pass = 0; pass < 2; pass++) {
        uint64_t s1, s2;
        int rc = checksum(w, &j->src, &e->src, &s1);
        if (rc < 0) {
            stage_error(j, i, SRC, "verify: cannot read", rc);
            return;
        }
        if ((rc = checksum(w, &j->dst, &e->dst, &s2)) < 0) {
            stage_error(j, i, DST, "verify: cannot read the copy", rc);
            return;
        }
        if (s1 == s2) {
            if (pass == 1)
                j->repaired++;
            return;
        }
        if (e->state != E_SKIPPED || pass == 1) {
            stage_error(j, i, DST, "verify: the copy differs from the source (was it changed meanwhile?)",
                        -EIO);
            return;
        }
        /* Same size and time, other bytes: it was changed behind our back. */
        stage_warn(j, e->rel, DST, "verify: differs from the source though size and time match; "
                                   "copying it again", 0);
        j->skipped--;
        j->files_done--;
        j->bytes_done -= e->a.size;
        copy_file(w, i, 1);
        if (e->state != E_COPIED)
            return;
        j->copied--;   /* counted as repaired instead */
    }
}
