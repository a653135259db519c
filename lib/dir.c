/* dir.c - directory streams: "." and ".." first, then the entries of every
 * server in pages (bfs_readdir). A position (telldir, d_off) is the place
 * after an entry: 1 after ".", 2 after "..", and a server's readdir cookie
 * shifted past those for the others; a cookie resumes after its entry even if
 * the directory changed, so no entry shows twice. */
#include "lib_int.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "../common/log.h"

#define DIR_PAGE BFS_READDIR_MAX    /* entries fetched at a time (one READDIR reply) */
#define POS_FIRST 2                 /* positions 1 and 2: after "." and after ".." */

struct benchfs_dir {
    benchfs_t *fs;
    benchfs_file_t *own;        /* opened by benchfs_opendir (closed with the stream) */
    uint64_t ino, parent;
    pthread_mutex_t mu;         /* readdir from several threads: one at a time */
    long pos;                   /* where the next entry comes from */
    struct bfs_dirent *page;    /* fetched entries after pos */
    size_t n, next;
    int end;                    /* the servers have no entries after the page */
};

static int dir_make(benchfs_file_t *f, benchfs_file_t *own, benchfs_dir_t **out)
{
    if (f->type != S_IFDIR)
        return -ENOTDIR;
    benchfs_dir_t *d = calloc(1, sizeof *d);
    if (!d || !(d->page = malloc(DIR_PAGE * sizeof *d->page))) {
        free(d);
        return -ENOMEM;
    }
    d->fs = f->fs;
    d->own = own;
    d->ino = f->ino;
    d->parent = f->parent;
    pthread_mutex_init(&d->mu, NULL);
    *out = d;
    return 0;
}

EXPORT int benchfs_fdopendir(benchfs_file_t *f, benchfs_dir_t **out)
{
    return dir_make(f, NULL, out);
}

EXPORT int benchfs_opendir(benchfs_t *fs, const char *path, benchfs_dir_t **out)
{
    benchfs_file_t *f;
    int rc = benchfs_open(fs, path, O_RDONLY | O_DIRECTORY, 0, &f);
    if (rc < 0)
        return rc;
    if ((rc = dir_make(f, f, out)) < 0)
        benchfs_close(f);
    return rc;
}

struct collect {
    benchfs_dir_t *d;
};

static int collect_one(void *arg, const struct bfs_dirent *e)
{
    benchfs_dir_t *d = ((struct collect *)arg)->d;
    if (d->n == DIR_PAGE)
        return 1;   /* full: this entry comes with the next page */
    d->page[d->n++] = *e;
    return 0;
}

/* Fetches the entries after d->pos (past the dots). */
static int refill(benchfs_dir_t *d)
{
    d->n = d->next = 0;
    struct collect c = { d };
    uint64_t cookie = d->pos > POS_FIRST ? (uint64_t)d->pos - POS_FIRST : 0;
    int rc = bfs_readdir(d->fs->c, d->ino, cookie, collect_one, &c);
    log_debug("readdir ino=%" PRIu64 " from %llu: %zu entries%s", d->ino, (unsigned long long)cookie,
              d->n, rc < 0 ? " (error)" : "");
    if (rc < 0)
        return rc;
    d->end = d->n < DIR_PAGE;
    return 0;
}

static unsigned char dtype(uint32_t type)
{
    return (unsigned char)IFTODT(type);
}

static void fill(struct dirent *ent, uint64_t ino, long off, unsigned char type, const char *name)
{
    memset(ent, 0, offsetof(struct dirent, d_name));
    ent->d_ino = (ino_t)ino;
    ent->d_off = off;
    ent->d_reclen = sizeof *ent;
    ent->d_type = type;
    size_t len = strnlen(name, sizeof ent->d_name - 1);
    memcpy(ent->d_name, name, len);
    ent->d_name[len] = '\0';
}

EXPORT int benchfs_readdir(benchfs_dir_t *d, struct dirent *ent)
{
    int rc = 1;
    pthread_mutex_lock(&d->mu);
    if (d->pos < POS_FIRST) {
        int dot = d->pos == 0;
        d->pos++;
        fill(ent, dot ? d->ino : d->parent, d->pos, DT_DIR, dot ? "." : "..");
        goto out;
    }
    if (d->next == d->n) {
        if (d->end) {
            rc = 0;
            goto out;
        }
        if ((rc = refill(d)) < 0)
            goto out;
        if (d->n == 0) {
            d->end = 1;
            rc = 0;
            goto out;
        }
        rc = 1;
    }
    const struct bfs_dirent *e = &d->page[d->next++];
    d->pos = (long)(e->cookie + POS_FIRST);
    fill(ent, e->ino, d->pos, dtype(e->type), e->name);
out:
    pthread_mutex_unlock(&d->mu);
    return rc;
}

EXPORT long benchfs_telldir(benchfs_dir_t *d)
{
    pthread_mutex_lock(&d->mu);
    long pos = d->pos;
    pthread_mutex_unlock(&d->mu);
    return pos;
}

EXPORT void benchfs_seekdir(benchfs_dir_t *d, long pos)
{
    pthread_mutex_lock(&d->mu);
    d->pos = pos;   /* opaque: a cookie with a high node index looks negative */
    d->n = d->next = 0;
    d->end = 0;
    pthread_mutex_unlock(&d->mu);
}

EXPORT void benchfs_rewinddir(benchfs_dir_t *d)
{
    benchfs_seekdir(d, 0);
}

EXPORT int benchfs_closedir(benchfs_dir_t *d)
{
    if (!d)
        return 0;
    int rc = benchfs_close(d->own);
    pthread_mutex_destroy(&d->mu);
    free(d->page);
    free(d);
    return rc;
}
