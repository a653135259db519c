/* tree.c - the source tree as a list of entries, parents before children (see stage.h). */
#include "stage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A set of strings (open addressing, FNV-1a). */
struct strset {
    char **slot;
    size_t cap, n;
};

static uint64_t fnv(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static int set_has(const struct strset *s, const char *key)
{
    if (!s->cap)
        return 0;
    for (size_t i = fnv(key) & (s->cap - 1);; i = (i + 1) & (s->cap - 1)) {
        if (!s->slot[i])
            return 0;
        if (strcmp(s->slot[i], key) == 0)
            return 1;
    }
}

static int set_add(struct strset *s, const char *key)
{
    if (set_has(s, key))
        return 0;
    if (2 * (s->n + 1) > s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 64;
        char **slot = calloc(cap, sizeof *slot);
        if (!slot)
            return -ENOMEM;
        for (size_t k = 0; k < s->cap; k++) {
            if (!s->slot[k])
                continue;
            size_t i = fnv(s->slot[k]) & (cap - 1);
            while (slot[i])
                i = (i + 1) & (cap - 1);
            slot[i] = s->slot[k];
        }
        free(s->slot);
        s->slot = slot;
        s->cap = cap;
    }
    char *copy = strdup(key);
    if (!copy)
        return -ENOMEM;
    size_t i = fnv(key) & (s->cap - 1);
    while (s->slot[i])
        i = (i + 1) & (s->cap - 1);
    s->slot[i] = copy;
    s->n++;
    return 0;
}

static void set_free(struct strset *s)
{
    for (size_t i = 0; i < s->cap; i++)
        free(s->slot[i]);
    free(s->slot);
}

static int add_entry(struct job *j, long parent, const char *name, struct shandle *h,
                     const struct sattr *a)
{
    if (j->n == j->cap) {
        size_t cap = j->cap ? 2 * j->cap : 1024;
        struct entry *e = realloc(j->e, cap * sizeof *e);
        if (!e)
            return -ENOMEM;
        j->e = e;
        j->cap = cap;
    }
    struct entry *e = &j->e[j->n];
    memset(e, 0, sizeof *e);
    const char *prel = parent >= 0 ? j->e[parent].rel : "";
    size_t pl = strlen(prel), nl = strlen(name);
    if (!(e->rel = malloc(pl + nl + 2)))
        return -ENOMEM;
    if (pl) {
        memcpy(e->rel, prel, pl);
        e->rel[pl++] = '/';
    }
    memcpy(e->rel + pl, name, nl + 1);
    e->name = e->rel + pl;
    e->parent = parent;
    e->a = *a;
    e->src = *h;
    e->link_of = -1;
    e->seg_dst.fd = -1;
    h->path = NULL;   /* the entry owns it now */
    j->n++;
    if (!S_ISDIR(a->mode)) {
        j->files_total++;
        if (S_ISREG(a->mode))
            j->bytes_total += a->size;
    }
    return 0;
}

int tree_add_root(struct job *j, struct shandle *root, const struct sattr *a)
{
    return add_entry(j, -1, "", root, a);
}

struct walk {
    struct job *j;
    long dir;
    const struct strset *listed, *ancestors;   /* NULL: everything */
    int all;                                   /* the directory is wanted whole */
};

static int add_child(void *arg, const char *name, struct shandle *child, const struct sattr *a)
{
    struct walk *w = arg;
    struct job *j = w->j;
    if (w->listed && !w->all) {
        char rel[8192];
        const char *prel = j->e[w->dir].rel;
        snprintf(rel, sizeof rel, "%s%s%s", prel, *prel ? "/" : "", name);
        if (!set_has(w->listed, rel) && !set_has(w->ancestors, rel)) {
            side_handle_free(child);
            return 0;
        }
    }
    int rc = add_entry(j, w->dir, name, child, a);
    side_handle_free(child);
    return rc;
}

/* Manifest lines: paths relative to the root (a leading "./" or "/" is
 * dropped), empty lines and "#" comments skipped. */
static int read_manifest(struct job *j, const char *path, struct strset *listed, struct strset *anc)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        int rc = -errno;
        fprintf(stderr, PROG ": --manifest %s: %s\n", path, strerror(errno));
        return rc;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &cap, f)) >= 0) {
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == '/'))
            line[--len] = '\0';
        char *p = line;
        while (*p == '/' || (p[0] == '.' && p[1] == '/'))
            p += *p == '/' ? 1 : 2;
        if (!*p || *p == '#')
            continue;
        if (strstr(p, "/../") || strncmp(p, "../", 3) == 0 || strcmp(p, "..") == 0) {
            stage_report(j, p, 0, "'..' is not allowed in a manifest", -EINVAL);
            continue;
        }
        rc = set_add(listed, p);
        for (char *s = strrchr(p, '/'); rc == 0 && s; s = strrchr(p, '/')) {
            *s = '\0';
            rc = set_add(anc, p);
        }
    }
    free(line);
    fclose(f);
    return rc;
}

/* Later names of an inode that has several: link_of = the first one's index. */
static int mark_links(struct job *j)
{
    size_t cap = 64;
    while (cap < 2 * j->n)
        cap *= 2;
    long *slot = malloc(cap * sizeof *slot);
    if (!slot)
        return -ENOMEM;
    for (size_t i = 0; i < cap; i++)
        slot[i] = -1;
    for (size_t i = 0; i < j->n; i++) {
        struct entry *e = &j->e[i];
        if (S_ISDIR(e->a.mode) || e->a.nlink < 2)
            continue;
        uint64_t h = (e->a.id * 0x9E3779B97F4A7C15ull) ^ e->a.dev;
        for (size_t k = h & (cap - 1);; k = (k + 1) & (cap - 1)) {
            if (slot[k] < 0) {
                slot[k] = (long)i;
                break;
            }
            const struct entry *f = &j->e[slot[k]];
            if (f->a.id == e->a.id && f->a.dev == e->a.dev) {
                e->link_of = slot[k];
                if (S_ISREG(e->a.mode))
                    j->bytes_total -= e->a.size;   /* its bytes are copied once */
                break;
            }
        }
    }
    free(slot);
    return 0;
}

int tree_walk(struct job *j, const char *manifest)
{
    struct strset listed = { 0 }, anc = { 0 };
    int rc = 0;
    if (manifest && (rc = read_manifest(j, manifest, &listed, &anc)) < 0)
        goto out;
    /* Breadth first over the growing list: a directory's children follow it. */
    for (size_t i = 0; i < j->n && rc == 0; i++) {
        struct entry *e = &j->e[i];
        if (!S_ISDIR(e->a.mode))
            continue;
        int all = !manifest;
        if (manifest && i > 0) {
            /* Wanted whole if listed itself or below a listed directory. */
            all = set_has(&listed, e->rel);
            for (long p = e->parent; !all && p > 0; p = j->e[p].parent)
                all = set_has(&listed, j->e[p].rel);
        }
        struct walk w = { .j = j, .dir = (long)i, .listed = manifest ? &listed : NULL,
                          .ancestors = &anc, .all = all };
        /* A copy of the handle: adding children moves the entries. */
        struct shandle dir;
        int r = side_handle_copy(&j->e[i].src, &dir);
        if (r == 0)
            r = side_list(&j->src, &dir, add_child, &w);
        side_handle_free(&dir);
        if (r == -ENOMEM)
            rc = r;
        else if (r < 0)
            stage_report(j, j->e[i].rel, 0, "cannot list directory", r);
    }
    if (manifest && rc == 0) {
        /* Each listed path must have been found. */
        struct strset seen = { 0 };
        for (size_t i = 1; i < j->n && rc == 0; i++)
            rc = set_add(&seen, j->e[i].rel);
        for (size_t k = 0; k < listed.cap && rc == 0; k++)
            if (listed.slot[k] && !set_has(&seen, listed.slot[k]))
                stage_report(j, listed.slot[k], 0, "listed in the manifest but not found", -ENOENT);
        set_free(&seen);
    }
    if (rc == 0)
        rc = mark_links(j);
out:
    set_free(&listed);
    set_free(&anc);
    return rc;
}
