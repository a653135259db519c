/* ops_dir.c - the FUSE operations on directories: opendir, releasedir and
 * fsyncdir (handles carry no state), readdir and readdirplus ("." and "..",
 * then the servers' entries with their cookies as offsets).
 * Rules and helpers: ops.c, ops_int.h. */
#include "ops_int.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "../common/log.h"

/* st_ino reported for ".." when the parent is not known (as libfuse's
 * high-level API does); only old getcwd implementations ever look at it. */
#define BFS_FUSE_UNKNOWN_INO 0xffffffffULL

/* "." and ".." take directory offsets 1 and 2; an entry's offset is its
 * readdir cookie shifted past them, so no cookie value can collide with them. */
#define BFS_DIR_OFF_FIRST 2

/* ------------------------------------------------------------- directories */

/* Directory handles carry no state: the offset the kernel passes back is the
 * position (readdir cookie), so opendir/releasedir have nothing to keep. */
void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    fi->fh = 0;
    fuse_reply_open(req, fi);
}

void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
    (void)ino;
    (void)fi;
    fuse_reply_err(req, 0);
}

void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
    (void)fi;
    int rc = bfs_fsync(fs_of(req)->client, ino, datasync);
    reply_status(req, "fsyncdir", ino, NULL, rc);
}

/* Offsets are opaque 64-bit values to the kernel (cookies carry the node
 * index in their top bits, so they may look negative as an off_t). */
static off_t cookie_to_off(uint64_t cookie)
{
    return (off_t)(cookie + BFS_DIR_OFF_FIRST);
}

/* Fills "." (offset 1) and ".." (offset 2) when off says they are still due.
 * plus: in readdirplus form, without attributes (ino 0: no lookup is counted,
 * and the kernel never instantiates "." or ".." anyway). Adds *used bytes;
 * returns 0 when the buffer filled up before both were in (the rest then
 * comes with the next call, whose offset says where to resume). */
static int fill_dots(fuse_req_t req, fuse_ino_t ino, uint64_t off, char *buf, size_t size,
                     int plus, size_t *used)
{
    static const char *const names[BFS_DIR_OFF_FIRST] = { ".", ".." };
    for (uint64_t i = off; i < BFS_DIR_OFF_FIRST; i++) {
        struct fuse_entry_param e;
        memset(&e, 0, sizeof e);
        e.attr.st_mode = S_IFDIR;
        e.attr.st_ino = i == 0 ? ino : (ino == FUSE_ROOT_ID ? FUSE_ROOT_ID : BFS_FUSE_UNKNOWN_INO);
        char *at = buf + *used;
        size_t room = size - *used;
        off_t next = (off_t)(i + 1);
        size_t need = plus ? fuse_add_direntry_plus(req, at, room, names[i], &e, next)
                           : fuse_add_direntry(req, at, room, names[i], &e.attr, next);
        if (need > room)
            return 0;
        *used += need;
    }
    return 1;
}

/* Plain readdir: entries go straight into the reply buffer from the callback. */
struct rd_fill {
    fuse_req_t req;
    char *buf;
    size_t size;
    size_t used;
};

static int rd_fill_one(void *arg, const struct bfs_dirent *d)
{
    struct rd_fill *f = arg;
    struct stat st;
    memset(&st, 0, sizeof st);
    st.st_ino = d->ino;
    st.st_mode = d->type;
    size_t need = fuse_add_direntry(f->req, f->buf + f->used, f->size - f->used, d->name, &st,
                                    cookie_to_off(d->cookie));
    if (need > f->size - f->used)
        return 1;   /* full: this entry comes again with the next call */
    f->used += need;
    return 0;
}

/* readdirplus: the entries that fit are collected first and their attributes
 * fetched afterwards, outside the library's callback. */
struct rdp_collect {
    fuse_req_t req;
    struct bfs_dirent *ents;
    size_t n, cap;
    size_t room;    /* bytes left in the reply buffer */
};

static int rdp_collect_one(void *arg, const struct bfs_dirent *d)
{
    struct rdp_collect *c = arg;
    size_t need = fuse_add_direntry_plus(c->req, NULL, 0, d->name, NULL, 0);
    if (need > c->room)
        return 1;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        struct bfs_dirent *p = realloc(c->ents, cap * sizeof *p);
        if (!p)
            return 1;   /* reply with what we have; the rest comes next call */
        c->ents = p;
        c->cap = cap;
    }
    c->ents[c->n++] = *d;
    c->room -= need;
    return 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, uint64_t off, int plus)
{
    struct bfs_fuse *fs = fs_of(req);
    const char *op = plus ? "readdirplus" : "readdir";
    char *buf = malloc(size ? size : 1);
    if (!buf) {
        reply_fail(req, op, ino, NULL, -ENOMEM);
        return;
    }
    size_t used = 0;
    int dots_fit = fill_dots(req, ino, off, buf, size, plus, &used);
    uint64_t cookie = off > BFS_DIR_OFF_FIRST ? off - BFS_DIR_OFF_FIRST : 0;
    int rc = 0;

    if (dots_fit && !plus) {
        struct rd_fill f = { .req = req, .buf = buf, .size = size, .used = used };
        rc = bfs_readdir(fs->client, ino, cookie, rd_fill_one, &f);
        used = f.used;
    } else if (dots_fit) {
        struct rdp_collect c = { .req = req, .room = size - used };
        rc = bfs_readdir(fs->client, ino, cookie, rdp_collect_one, &c);
        for (size_t i = 0; i < c.n; i++) {
            const struct bfs_dirent *d = &c.ents[i];
            struct fuse_entry_param e;
            struct bfs_attr a;
            int arc = bfs_getattr(fs->client, d->ino, &a);
            if (arc == 0) {
                /* Counts as a lookup for the kernel (it will forget it). */
                fill_entry(fs, &a, &e);
                kcache_mark_entry(fs->kcache, ino, d->name);
            } else {
                /* Gone or unreachable since it was listed: list it without
                 * attributes (ino 0 counts no lookup), as plain readdir would. */
                log_debug("readdirplus ino=%" PRIu64 " name=%s: getattr: %s", (uint64_t)ino,
                          d->name, strerror(-arc));
                memset(&e, 0, sizeof e);
                e.attr.st_ino = d->ino;
                e.attr.st_mode = d->type;
            }
            used += fuse_add_direntry_plus(req, buf + used, size - used, d->name, &e,
                                           cookie_to_off(d->cookie));
        }
        free(c.ents);
    }

    /* An error after some entries were filled: send those; the next call
     * resumes after them and meets the error again if it persists. */
    if (rc < 0 && used == 0)
        reply_fail(req, op, ino, NULL, rc);
    else
        fuse_reply_buf(req, buf, used);
    free(buf);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                struct fuse_file_info *fi)
{
    (void)fi;
    do_readdir(req, ino, size, (uint64_t)off, 0);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi)
{
    (void)fi;
    do_readdir(req, ino, size, (uint64_t)off, 1);
}
