/* file.c - open files: benchfs_open (close-to-open attributes, O_CREAT,
 * O_EXCL, O_TRUNC, atime), their I/O (pread, pwrite, O_APPEND at the owner,
 * O_SYNC), fstat, fsync and close; and the table of inodes open through this
 * benchfs_t, by which an unlink or a rename over an open file keeps it
 * readable until its last close (BFS_UNLINK_KEEP, then bfs_purge: what the
 * mount does, fuse/ops_file.c). */
#include "lib_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "../common/attrstat.h"
#include "../common/clock.h"
#include "../common/log.h"

#define IO_MAX 0x7ffff000u      /* what Linux moves in one read or write at most */
#define PRE_MAX 8192            /* a file this small comes with an open's lookup (bfs_lookup_data) */
#define RELATIME_AGE_NS (24LL * 3600 * 1000000000)

/* ------------------------------------------------------------- open table */

struct open_ent {
    struct open_ent *next;
    uint64_t ino;
    unsigned count;             /* open handles */
    unsigned unlinking;         /* keeping unlinks in flight: the entry stays until they end */
    int orphan;                 /* unlinked while open: purge once unused */
};

void open_table_init(struct lib_open *o)
{
    memset(o, 0, sizeof *o);
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->plain_done, NULL);
}

void open_table_fini(struct lib_open *o)
{
    for (size_t i = 0; i < OPEN_BUCKETS; i++) {
        while (o->b[i]) {
            struct open_ent *e = o->b[i];
            o->b[i] = e->next;
            free(e);
        }
    }
    pthread_cond_destroy(&o->plain_done);
    pthread_mutex_destroy(&o->mu);
}

static struct open_ent **slot(struct lib_open *o, uint64_t ino)
{
    struct open_ent **p = &o->b[(ino ^ (ino >> 48)) % OPEN_BUCKETS];
    while (*p && (*p)->ino != ino)
        p = &(*p)->next;
    return p;
}

/* The plain unlinks begun so far: taken before an open's lookup. */
static uint64_t open_seq(benchfs_t *fs)
{
    pthread_mutex_lock(&fs->open.mu);
    uint64_t seq = fs->open.next_ticket;
    pthread_mutex_unlock(&fs->open.mu);
    return seq;
}

/* Counts a handle of ino (from now on every unlink keeps it), then waits for
 * the plain unlinks already in flight. *recheck: one of them, or one begun
 * since seq, may have removed the name the lookup found, so the inode may be
 * gone (open_alive). */
static int open_get(benchfs_t *fs, uint64_t ino, uint64_t seq, int *recheck)
{
    struct lib_open *o = &fs->open;
    int rc = 0;
    pthread_mutex_lock(&o->mu);
    struct open_ent **p = slot(o, ino);
    if (!*p && (*p = calloc(1, sizeof **p)))
        (*p)->ino = ino;
    if (*p) {
        (*p)->count++;
        o->count++;
        uint64_t mine = o->next_ticket;
        *recheck = mine != seq || o->plain_head != NULL;
        while (o->plain_head && o->plain_head->ticket < mine)
            pthread_cond_wait(&o->plain_done, &o->mu);
    } else {
        rc = -ENOMEM;
    }
    pthread_mutex_unlock(&o->mu);
    return rc;
}

/* Takes e out of the table once nothing uses it; the caller holds the lock.
 * True when it was unlinked while open: the caller purges it. */
static int open_unused(struct open_ent **p)
{
    struct open_ent *e = *p;
    if (e->count || e->unlinking)
        return 0;
    int purge = e->orphan;
    *p = e->next;
    free(e);
    return purge;
}

/* Frees an inode unlinked while open here, now unused. The server frees it
 * only at nlink 0 (a failed unlink or another hard link keeps it). */
static void open_purge(benchfs_t *fs, uint64_t ino)
{
    int rc = bfs_purge(fs->c, ino);
    if (rc < 0 && rc != -ENOENT)
        log_warn("purge of unlinked open file ino=%" PRIu64 " failed: %s", ino, strerror(-rc));
}

/* Drops a handle of ino; purges the inode if it was unlinked meanwhile and this was the last. */
static void open_put(benchfs_t *fs, uint64_t ino)
{
    struct lib_open *o = &fs->open;
    int purge = 0;
    pthread_mutex_lock(&o->mu);
    struct open_ent **p = slot(o, ino);
    if (*p && (*p)->count) {
        (*p)->count--;
        purge = open_unused(p);
    }
    o->count--;
    pthread_mutex_unlock(&o->mu);
    if (purge)
        open_purge(fs, ino);
}

/* Lists k as a plain unlink in flight; the caller holds the lock. */
static void plain_begin(struct lib_open *o, struct open_keep *k)
{
    k->plain = 1;
    k->p.ticket = o->next_ticket++;
    k->p.next = NULL;
    k->p.prev = o->plain_tail;
    if (o->plain_tail)
        o->plain_tail->next = &k->p;
    else
        o->plain_head = &k->p;
    o->plain_tail = &k->p;
}

unsigned open_unlink_begin(benchfs_t *fs, const struct bfs_attr *a, struct open_keep *k)
{
    struct lib_open *o = &fs->open;
    k->ino = 0;
    k->plain = 0;
    if (!S_ISREG(a->mode))
        return 0;   /* only files have data an open could lose */
    pthread_mutex_lock(&o->mu);
    struct open_ent *e = o->count ? *slot(o, a->ino) : NULL;
    if (e && e->count) {
        e->orphan = 1;
        e->unlinking++;
        k->ino = a->ino;
    } else {
        plain_begin(o, k);
    }
    pthread_mutex_unlock(&o->mu);
    return k->ino ? BFS_UNLINK_KEEP : 0;
}

int open_unlink_unseen(benchfs_t *fs, struct open_keep *k)
{
    struct lib_open *o = &fs->open;
    k->ino = 0;
    k->plain = 0;
    pthread_mutex_lock(&o->mu);
    if (o->count == 0)
        plain_begin(o, k);
    pthread_mutex_unlock(&o->mu);
    return k->plain;
}

void open_unlink_end(benchfs_t *fs, struct open_keep *k)
{
    struct lib_open *o = &fs->open;
    int purge = 0;
    if (!k->ino && !k->plain)
        return;
    pthread_mutex_lock(&o->mu);
    if (k->ino) {
        struct open_ent **p = slot(o, k->ino);
        if (*p && (*p)->unlinking) {
            (*p)->unlinking--;
            purge = open_unused(p);
        }
    } else {
        if (k->p.prev)
            k->p.prev->next = k->p.next;
        else
            o->plain_head = k->p.next;
        if (k->p.next)
            k->p.next->prev = k->p.prev;
        else
            o->plain_tail = k->p.prev;
        pthread_cond_broadcast(&o->plain_done);
    }
    pthread_mutex_unlock(&o->mu);
    if (purge)
        open_purge(fs, k->ino);
}

/* ------------------------------------------------------------------ open */

int lib_kill_priv(benchfs_t *fs, struct cred *cr, struct bfs_attr *a)
{
    uint32_t kill = bfs_privs_to_kill(cr->uid, a->mode);
    if (!kill)
        return 0;
    struct bfs_attr in = { .mode = a->mode & 07777 & ~kill };
    int rc = bfs_setattr(fs->c, a->ino, BFS_SET_MODE, &in, a);
    lib_changed(fs, a->ino);
    return rc;
}

/* The permission bits an open with flags needs. */
static int open_mask(int flags)
{
    int acc = flags & O_ACCMODE, mask = 0;
    if (acc == O_RDONLY || acc == O_RDWR)
        mask |= MAY_R;
    if (acc == O_WRONLY || acc == O_RDWR || (flags & O_TRUNC))
        mask |= MAY_W;
    return mask;
}

/* An existing inode a, opened with flags: type and permission checks. */
static int open_check(benchfs_t *fs, struct cred *cr, const struct bfs_attr *a, int flags)
{
    if (S_ISLNK(a->mode))
        return -ELOOP;   /* O_NOFOLLOW met a link (a followed one is resolved) */
    if ((flags & O_DIRECTORY) && !S_ISDIR(a->mode))
        return -ENOTDIR;
    if (S_ISDIR(a->mode) && ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_TRUNC | O_CREAT))))
        return -EISDIR;
    if (!S_ISDIR(a->mode) && !S_ISREG(a->mode))
        return -EOPNOTSUPP;   /* a FIFO, socket or device: the kernel gives it its behaviour */
    if ((flags & O_NOATIME) && perm_owner(fs, cr, a) < 0)
        return -EPERM;
    return perm_check(fs, cr, a, open_mask(flags));
}

/* What an open of an existing regular file does at its owner: O_TRUNC. The
 * attributes from the fresh lookup are the close-to-open ones. The access time
 * (relatime, the mount's default) is the first read's business, as in Linux,
 * and rides on that read's request to the owner: *access = 1 when relatime
 * would move it. */
static int open_touch(benchfs_t *fs, struct cred *cr, struct bfs_attr *a, int flags, int *access)
{
    int rc = 0;
    *access = 0;
    if (!S_ISREG(a->mode))
        return 0;
    if (flags & O_TRUNC) {
        struct bfs_attr in = { 0 };
        if ((rc = bfs_setattr(fs->c, a->ino, BFS_SET_SIZE, &in, a)) == 0)
            rc = lib_kill_priv(fs, cr, a);
        lib_changed(fs, a->ino);
    } else if ((flags & O_ACCMODE) != O_WRONLY && !(flags & O_NOATIME) &&
               (a->atime_ns <= a->mtime_ns || a->atime_ns <= a->ctime_ns ||
                lib_now_ns() - a->atime_ns >= RELATIME_AGE_NS)) {
        *access = 1;
    }
    return rc;
}

/* After open_get asked for it: a plain unlink of this process may have
 * removed the name since the lookup and the server freed the inode (or keeps
 * it only for another client's open). Then the name was gone first. */
static int open_alive(benchfs_t *fs, struct bfs_attr *a)
{
    struct bfs_attr now;
    int rc = bfs_getattr(fs->c, a->ino, &now);
    if (rc == -ENOENT || rc == -ESTALE || (rc == 0 && now.nlink == 0))
        return -ENOENT;
    if (rc == 0)
        *a = now;
    return rc;
}

/* An open whose reads may come from its lookup's answer: reading only, and
 * a node table that tells of this node's changes (without one, this process's
 * own writes through another handle would not be seen), and attributes that
 * may be cached at all. */
static int pre_wanted(const benchfs_t *fs, int flags)
{
    return fs->cache.shared && fs->cache.ttl_ns > 0 && (flags & O_ACCMODE) == O_RDONLY &&
           !(flags & (O_CREAT | O_TRUNC | O_DIRECTORY));
}

/* Keeps what the lookup brought (d) for f's reads, if nothing changed on the
 * node since gen (cache_gen before the lookup): then the inode's stamp, read
 * now, is the bytes' too. */
static void pre_keep(benchfs_file_t *f, const struct bfs_lookup_data *d, uint64_t gen)
{
    benchfs_t *fs = f->fs;
    cache_attr_stamp(&fs->cache, f->ino, &f->pre_st);
    if (d->len < 0 || cache_gen(&fs->cache) != gen || !(f->pre = malloc(d->len ? (size_t)d->len : 1)))
        return;
    memcpy(f->pre, d->buf, (size_t)d->len);
    f->pre_len = (size_t)d->len;
    f->pre_until = bfs_mono_ns() + fs->cache.ttl_ns;
    atomic_store(&f->pre_ok, 1);
}

/* A read served from f->pre: its length, or -1 when those bytes may be out
 * of date (then never again for f). */
static ssize_t pre_read(benchfs_file_t *f, void *buf, size_t len, uint64_t off)
{
    struct cache_stamp st;
    cache_attr_stamp(&f->fs->cache, f->ino, &st);
    if (st.ino != f->pre_st.ino || bfs_mono_ns() >= f->pre_until) {
        atomic_store(&f->pre_ok, 0);
        return -1;
    }
    size_t n = off >= f->pre_len ? 0 : f->pre_len - off < len ? (size_t)(f->pre_len - off) : len;
    memcpy(buf, f->pre + off, n);
    return (ssize_t)n;
}

static int do_open(benchfs_t *fs, struct cred *cr, const char *path, int flags, mode_t mode,
                   benchfs_file_t **out)
{
    int excl = (flags & O_CREAT) && (flags & O_EXCL);
    /* O_CREAT|O_EXCL never follows a final link (it is an existing name). */
    int lookup = RES_FRESH | (excl || (flags & O_NOFOLLOW) ? 0 : RES_FOLLOW);
    /* O_CREAT makes the name first, as O_EXCL does, unless this client saw
     * it lately: a new file then costs one request, not a lookup and a
     * create. A name that is there after all (or that the caller may not
     * make) is looked up next, and what is there opens. */
    int try_make = (flags & O_CREAT) != 0;
    int rflags = lookup | (try_make ? RES_NOFINAL : 0);
    struct res r;
    struct bfs_attr a;
    int rc, created = 0, recheck = 0;
    uint64_t seq = open_seq(fs);   /* before the lookup: see open_get */
    char pre_buf[PRE_MAX];
    struct bfs_lookup_data pre = { .buf = pre_buf, .cap = sizeof pre_buf, .uid = cr->uid,
                                   .atime = !(flags & O_NOATIME), .len = -1 };
    int want_pre = pre_wanted(fs, flags);
    uint64_t gen = cache_gen(&fs->cache);
    if ((flags & O_ACCMODE) == O_ACCMODE)
        return -EINVAL;
    if ((flags & O_TMPFILE) == O_TMPFILE || (flags & O_PATH))
        return -EOPNOTSUPP;   /* not here: the mount (the kernel) does what it can */
    if ((flags & (O_CREAT | O_DIRECTORY)) == (O_CREAT | O_DIRECTORY))
        return -EINVAL;   /* as Linux since 6.4 */
    for (int tries = 0;; tries++) {
        if ((rc = path_resolve_data(fs, cr, path, rflags, want_pre ? &pre : NULL, &r)) < 0)
            return rc;
        if (excl && r.name[0] == '\0')
            return -EEXIST;
        uint64_t seen;
        if (!excl && (rflags & RES_NOFINAL) &&
            (r.name[0] == '\0' || cache_get_entry(&fs->cache, r.parent, r.name, &seen))) {
            rflags = lookup;   /* "/", "." or a name known to be there: look it up */
            continue;
        }
        if (r.found || !(flags & O_CREAT)) {
            if (!r.found)
                return -ENOENT;
            if (excl)
                return -EEXIST;
            a = r.attr;
            break;
        }
        if (r.trailing_slash)
            return -EISDIR;
        rc = owner_make(fs, cr, &r, S_IFREG | (mode & 07777), NULL, &a);
        if (rc == 0) {
            created = 1;
            break;
        }
        /* Made first (not after a lookup that missed it): any error may be
         * an existing name's (a parent the caller may not write, a full
         * store), so the lookup says. Else another client made the name
         * since the lookup: open it (without O_EXCL). */
        int first = (rflags & RES_NOFINAL) && !excl;
        if (!first && (rc != -EEXIST || excl || tries > 1))
            return rc;
        rflags = lookup;
    }
    if (!created && (rc = open_check(fs, cr, &a, flags)) < 0)
        return rc;
    benchfs_file_t *f = calloc(1, sizeof *f);
    if (!f)
        return -ENOMEM;
    int counted = S_ISREG(a.mode);
    /* Counted before the owner is asked: an unlink meanwhile keeps the file. */
    if (counted && (rc = open_get(fs, a.ino, seq, &recheck)) < 0) {
        free(f);
        return rc;
    }
    if (recheck && (rc = open_alive(fs, &a)) < 0) {
        open_put(fs, a.ino);
        free(f);
        return rc;
    }
    int access = 0;
    if (!created && (rc = open_touch(fs, cr, &a, flags, &access)) < 0) {
        if (counted)
            open_put(fs, a.ino);
        free(f);
        return rc;
    }
    f->fs = fs;
    f->ino = a.ino;
    f->parent = r.name[0] ? r.parent : a.ino;   /* ".." of a directory named by "." or "..": see dir.c */
    f->type = a.mode & S_IFMT;
    f->mode_at_open = a.mode;
    f->flags = flags;
    atomic_init(&f->access, access);
    atomic_init(&f->pre_ok, 0);
    /* The bytes are the lookup's: not after open_alive asked again. */
    if (want_pre && !recheck && !created && S_ISREG(a.mode))
        pre_keep(f, &pre, gen);
    *out = f;
    return 0;
}

EXPORT int benchfs_open(benchfs_t *fs, const char *path, int flags, mode_t mode, benchfs_file_t **out)
{
    struct cred cr;
    cred_get(&cr, 0);
    int rc = do_open(fs, &cr, path, flags, mode, out);
    cred_put(&cr);
    log_debug("open %s flags=%#x: %s", path, (unsigned)flags, rc < 0 ? strerror(-rc) : "ok");
    return rc;
}

EXPORT int benchfs_close(benchfs_file_t *f)
{
    if (!f)
        return 0;
    log_debug("close ino=%" PRIu64, f->ino);
    if (f->type == S_IFREG)
        open_put(f->fs, f->ino);
    free(f->pre);
    free(f);
    return 0;
}

EXPORT int benchfs_file_flags(const benchfs_file_t *f) { return f->flags; }

EXPORT uint64_t benchfs_file_ino(const benchfs_file_t *f) { return f->ino; }

/* -------------------------------------------------------------------- I/O */

EXPORT ssize_t benchfs_pread(benchfs_file_t *f, void *buf, size_t len, off_t off)
{
    if (f->type == S_IFDIR)
        return -EISDIR;
    if ((f->flags & O_ACCMODE) == O_WRONLY)
        return -EBADF;
    if (off < 0)
        return -EINVAL;
    if (len == 0)
        return 0;
    if (len > IO_MAX)
        len = IO_MAX;
    ssize_t n;
    /* The access time, when due, was recorded by the lookup that brought them. */
    if (atomic_load_explicit(&f->pre_ok, memory_order_relaxed) &&
        !atomic_load_explicit(&f->access, memory_order_relaxed) &&
        (n = pre_read(f, buf, len, (uint64_t)off)) >= 0) {
        log_debug("pread ino=%" PRIu64 " len=%zu off=%lld: %zd (from the open)", f->ino, len,
                  (long long)off, n);
        return n;
    }
    if (atomic_load_explicit(&f->access, memory_order_relaxed) && atomic_exchange(&f->access, 0)) {
        int touched = 0;
        n = bfs_read_access(f->fs->c, f->ino, buf, len, (uint64_t)off, 1, &touched);
        if (n < 0)
            atomic_store(&f->access, 1);   /* not recorded: the next read tries again */
        if (touched)
            cache_drop_attr(&f->fs->cache, f->ino);
    } else {
        n = bfs_read(f->fs->c, f->ino, buf, len, (uint64_t)off);
    }
    log_debug("pread ino=%" PRIu64 " len=%zu off=%lld: %zd", f->ino, len, (long long)off, n);
    return n;
}

/* After a write by anyone but root: setuid/setgid go, as the kernel does it. */
static void after_write(benchfs_file_t *f, const struct bfs_wcc *wcc)
{
    uint32_t mode = wcc->valid ? wcc->post.mode : f->mode_at_open;
    if (!(mode & (S_ISUID | S_ISGID)))
        return;
    struct cred cr;
    cred_get(&cr, 0);
    struct bfs_attr a = wcc->post;
    int rc = cr.uid == 0 ? 0 : wcc->valid ? 0 : bfs_getattr(f->fs->c, f->ino, &a);
    if (rc == 0 && cr.uid != 0)
        rc = lib_kill_priv(f->fs, &cr, &a);
    if (rc < 0)
        log_warn("write ino=%" PRIu64 ": clearing setuid/setgid failed: %s", f->ino, strerror(-rc));
    cred_put(&cr);
}

static ssize_t write_done(benchfs_file_t *f, ssize_t n, const struct bfs_wcc *wcc)
{
    log_debug("write ino=%" PRIu64 ": %zd", f->ino, n);
    /* Not lib_changed: a write's size and times follow close-to-open for the
     * kernel's cache; this node's other clients see them at once. */
    cache_drop_attr(&f->fs->cache, f->ino);
    cache_changed(&f->fs->cache, f->ino);
    if (n <= 0)
        return n;
    after_write(f, wcc);
    if (f->flags & (O_SYNC | O_DSYNC)) {
        int rc = bfs_fsync(f->fs->c, f->ino, (f->flags & O_SYNC) == O_SYNC ? 0 : 1);
        if (rc < 0)
            return rc;
    }
    return n;
}

EXPORT ssize_t benchfs_append(benchfs_file_t *f, const void *buf, size_t len, off_t *off)
{
    if (f->type == S_IFDIR)
        return -EISDIR;
    if ((f->flags & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    if (len == 0)
        return 0;
    struct bfs_wcc wcc = { 0 };
    uint64_t at = 0;
    ssize_t n = bfs_append(f->fs->c, f->ino, buf, len > IO_MAX ? IO_MAX : len, &at, &wcc);
    if (n >= 0 && off)
        *off = (off_t)at;
    return write_done(f, n, &wcc);
}

EXPORT ssize_t benchfs_pwrite(benchfs_file_t *f, const void *buf, size_t len, off_t off)
{
    if (f->flags & O_APPEND)
        return benchfs_append(f, buf, len, NULL);
    if (f->type == S_IFDIR)
        return -EISDIR;
    if ((f->flags & O_ACCMODE) == O_RDONLY)
        return -EBADF;
    if (off < 0)
        return -EINVAL;
    if (len == 0)
        return 0;
    if (len > IO_MAX)
        len = IO_MAX;
    if ((uint64_t)off + len > (uint64_t)INT64_MAX)
        return -EFBIG;
    struct bfs_wcc wcc = { 0 };
    ssize_t n = bfs_write_wcc(f->fs->c, f->ino, buf, len, (uint64_t)off, &wcc);
    return write_done(f, n, &wcc);
}

EXPORT int benchfs_fstat(benchfs_file_t *f, struct stat *st)
{
    struct bfs_attr a;
    int rc = lib_getattr(f->fs, f->ino, GET_ALL, &a);
    if (rc == 0)
        lib_attr_to_stat(f->fs, &a, st);
    log_debug("fstat ino=%" PRIu64 ": %s", f->ino, rc < 0 ? strerror(-rc) : "ok");
    return rc;
}

EXPORT int benchfs_fsync(benchfs_file_t *f, int datasync)
{
    int rc = bfs_fsync(f->fs->c, f->ino, datasync);
    log_debug("fsync ino=%" PRIu64 ": %s", f->ino, rc < 0 ? strerror(-rc) : "ok");
    return rc;
}
