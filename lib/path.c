/* path.c - path resolution as the kernel walks a path (path_lookupat):
 * components one by one from the root, "." and ".." (a stack of the
 * directories walked: ".." of the root is the root), symbolic links followed
 * by splicing their target into what is left of the path (at most 40 per
 * resolution; an absolute target leaves the file system: -EXDEV), search
 * permission checked on every directory passed. Lookups go through the
 * cache (cache.c) unless the caller wants the final name fresh. */
#include "lib_int.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LINKS 40
#define MAX_DEPTH 2048          /* directories a PATH_MAX path can descend */
#define WORK_MAX  (2 * PATH_MAX) /* a path with a symlink's target spliced in */

/* The server's answer for (parent, name), cached (d: a small file's bytes too). */
static int lookup_fresh(benchfs_t *fs, uint64_t parent, const char *name, struct bfs_attr *a,
                        struct bfs_lookup_data *d)
{
    uint64_t stamp = cache_entry_stamp(&fs->cache, parent, name), gen = cache_gen(&fs->cache);
    int rc = d ? bfs_lookup_data(fs->c, parent, name, a, d) : bfs_lookup(fs->c, parent, name, a);
    if (rc == 0) {
        cache_put_entry(&fs->cache, parent, name, a->ino, stamp);
        cache_put_attr_since(&fs->cache, a, gen);
    } else if (rc == -ENOENT) {
        cache_drop_entry(&fs->cache, parent, name);
    }
    return rc;
}

int path_lookup(benchfs_t *fs, uint64_t parent, const char *name, int how, struct bfs_attr *a)
{
    uint64_t ino;
    if (how != GET_FRESH && cache_get_entry(&fs->cache, parent, name, &ino)) {
        if (cache_get_attr(&fs->cache, ino, how == GET_ALL, a))
            return 0;
        /* The name is known, its attributes are not: ask for them with a
         * stamp (a lookup's answer can only be stamped if the node was quiet). */
        int rc = lib_getattr(fs, ino, GET_FRESH, a);
        if (rc != -ENOENT && rc != -ESTALE)
            return rc;
        cache_drop_entry(&fs->cache, parent, name);   /* gone meanwhile (another node) */
    }
    return lookup_fresh(fs, parent, name, a, NULL);
}

void path_forget(benchfs_t *fs, uint64_t parent, const char *name)
{
    cache_drop_entry(&fs->cache, parent, name);
    cache_stale_attr(&fs->cache, parent);
    lib_entry_changed(fs, parent, name);
}

/* The walk's state: the directories from the root down to the current one.
 * It lives on the caller's stack and allocates nothing for a path without
 * symlinks or deeper than STACK_INLINE (a walk per call: no heap traffic). */
#define STACK_INLINE 64
struct walk {
    uint64_t inl[STACK_INLINE];
    uint64_t *stack;            /* inl, or allocated when deeper */
    int depth, cap;             /* stack[depth - 1] is the current directory */
    struct bfs_attr cur;        /* its attributes */
    const char *work;           /* what is left to walk: the path, or buf */
    char *buf;                  /* the path with a symlink's target spliced in (WORK_MAX) */
    size_t pos;                 /* where in work */
    int links;
};

static int push(struct walk *w, uint64_t ino)
{
    if (w->depth == w->cap) {
        if (w->cap >= MAX_DEPTH)
            return -ENAMETOOLONG;
        int cap = 2 * w->cap;
        uint64_t *p = malloc((size_t)cap * sizeof *p);
        if (!p)
            return -ENOMEM;
        memcpy(p, w->stack, (size_t)w->depth * sizeof *p);
        if (w->stack != w->inl)
            free(w->stack);
        w->stack = p;
        w->cap = cap;
    }
    w->stack[w->depth++] = ino;
    return 0;
}

/* Splices the target of link into work at pos (replacing the component that
 * named it). 0, -EXDEV (absolute target), -ELOOP, -ENAMETOOLONG, -ENOENT (empty). */
static int splice_link(benchfs_t *fs, struct walk *w, const struct bfs_attr *link)
{
    char target[BFS_SYMLINK_MAX + 1];
    if (++w->links > MAX_LINKS)
        return -ELOOP;
    ssize_t n = bfs_readlink(fs->c, link->ino, target, BFS_SYMLINK_MAX);
    if (n < 0)
        return (int)n;
    if (n == 0)
        return -ENOENT;
    if (target[0] == '/')
        return -EXDEV;
    /* Nothing left after the link: its target is the end of the path (no
     * slash added, which would demand a directory). */
    size_t rest = strlen(w->work + w->pos), sep = rest ? 1 : 0;
    if ((size_t)n + sep + rest + 1 > WORK_MAX)
        return -ENAMETOOLONG;
    if (!w->buf && !(w->buf = malloc(WORK_MAX)))
        return -ENOMEM;
    memmove(w->buf + n + sep, w->work + w->pos, rest + 1);
    memcpy(w->buf, target, (size_t)n);
    if (sep)
        w->buf[n] = '/';
    w->work = w->buf;
    w->pos = 0;
    return 0;
}

/* The next component of work (skipping slashes) into name: its length, 0 at the end. */
static int next_name(struct walk *w, char *name, int *last, int *slash_after)
{
    const char *p = w->work + w->pos;
    while (*p == '/')
        p++;
    const char *e = p;
    while (*e && *e != '/')
        e++;
    size_t len = (size_t)(e - p);
    if (len > BFS_NAME_MAX)
        return -ENAMETOOLONG;
    memcpy(name, p, len);
    name[len] = '\0';
    *slash_after = *e == '/';
    const char *q = e;
    while (*q == '/')
        q++;
    *last = *q == '\0';
    w->pos = (size_t)(e - w->work);
    return (int)len;
}

int path_resolve(benchfs_t *fs, struct cred *cr, const char *path, int flags, struct res *r)
{
    return path_resolve_data(fs, cr, path, flags, NULL, r);
}

int path_resolve_data(benchfs_t *fs, struct cred *cr, const char *path, int flags,
                      struct bfs_lookup_data *d, struct res *r)
{
    struct walk walk, *w = &walk;
    w->stack = w->inl;
    w->cap = STACK_INLINE;
    w->buf = NULL;
    size_t plen = strnlen(path, PATH_MAX);
    int rc = 0;
    uint64_t watch = (flags & RES_WATCH) ? r->watch : 0;
    memset(r, 0, sizeof *r);
    r->watch = watch;
    if (plen == 0)
        rc = -ENOENT;
    else if (plen >= PATH_MAX)
        rc = -ENAMETOOLONG;
    if (rc == 0)
        rc = lib_getattr(fs, BFS_ROOT_INO, GET_PERM, &w->cur);
    if (rc < 0)
        goto out;
    w->work = path;
    w->pos = 0;
    w->depth = 1;
    w->stack[0] = BFS_ROOT_INO;
    w->links = 0;
    r->parent = BFS_ROOT_INO;
    r->pattr = w->cur;
    r->attr = w->cur;
    r->found = 1;
    for (;;) {
        char name[BFS_NAME_MAX + 1];
        int last, slash;
        int len = next_name(w, name, &last, &slash);
        if (len < 0) {
            rc = len;
            break;
        }
        if (len == 0)
            break;   /* only slashes were left: the path names the current directory */
        if (!S_ISDIR(w->cur.mode)) {
            rc = -ENOTDIR;
            break;
        }
        if ((rc = perm_check(fs, cr, &w->cur, MAY_X)) < 0)
            break;
        if (last) {
            r->trailing_slash = slash;
            r->parent = w->stack[w->depth - 1];
            r->pattr = w->cur;
        }
        if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
            if (name[1] == '.' && w->depth > 1) {
                w->depth--;
                if ((rc = lib_getattr(fs, w->stack[w->depth - 1], GET_PERM, &w->cur)) < 0)
                    break;
            }
            if (last) {
                /* The path ends at a directory itself: no entry name to act on. */
                r->name[0] = '\0';
                r->attr = w->cur;
                r->found = 1;
                break;
            }
            continue;
        }
        struct bfs_attr a;
        if (last && (flags & RES_NOFINAL)) {
            memcpy(r->name, name, (size_t)len + 1);
            r->found = 0;
            break;
        }
        int how = !last ? GET_PERM : (flags & RES_FRESH) ? GET_FRESH : GET_ALL;
        rc = d && how == GET_FRESH ? lookup_fresh(fs, w->stack[w->depth - 1], name, &a, d)
                                   : path_lookup(fs, w->stack[w->depth - 1], name, how, &a);
        if (rc == -ENOENT && last) {
            memcpy(r->name, name, (size_t)len + 1);
            r->found = 0;
            rc = 0;
            break;
        }
        if (rc < 0)
            break;
        if (S_ISLNK(a.mode) && (!last || slash || (flags & RES_FOLLOW))) {
            if ((rc = splice_link(fs, w, &a)) < 0)
                break;
            continue;
        }
        if (last) {
            memcpy(r->name, name, (size_t)len + 1);
            r->attr = a;
            r->found = 1;
            break;
        }
        if (!S_ISDIR(a.mode)) {
            rc = -ENOTDIR;
            break;
        }
        if ((rc = push(w, a.ino)) < 0)
            break;
        w->cur = a;
    }
    if (rc == 0 && r->found && r->trailing_slash && !S_ISDIR(r->attr.mode))
        rc = -ENOTDIR;
    /* A path that ends at a directory itself: its attributes were walked
     * with for permissions; the caller shows them. */
    if (rc == 0 && r->found && r->name[0] == '\0')
        rc = lib_getattr(fs, r->attr.ino, (flags & RES_FRESH) ? GET_FRESH : GET_ALL, &r->attr);
    /* The stack: the final name's parent and its ancestors. */
    for (int i = 0; rc == 0 && watch && i < w->depth; i++)
        if (w->stack[i] == watch)
            r->watched = 1;
    /* Only the root or slashes: r is the root as set up above. */
out:
    if (w->stack != w->inl)
        free(w->stack);
    free(w->buf);
    return rc;
}
