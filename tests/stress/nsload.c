/* nsload.c - a namespace load with a journal, and its checker (tests/stress/ns_crash.sh).
 *
 *   nsload run REGISTRY ROOT SEED JOURNAL [OPS]
 *   nsload verify REGISTRY ROOT JOURNAL
 *
 * run makes directory ROOT under the file system's root and does OPS (default
 * unbounded) random namespace operations below it over RPC: mkdir, rmdir,
 * create, write, unlink, link, and renames of files and directories between
 * directories (which the placement spreads over the servers, so most are
 * multi-server operations). Before each operation it appends "B <op>" to
 * JOURNAL and after its success "K"; it keeps a model of the tree. A failure
 * the model does not predict is a bug ("X <errno>", exit 4); a server that does
 * not answer (ETIMEDOUT, ENOTCONN) ends the run (exit 3): the last operation may
 * or may not have happened.
 *
 * verify replays JOURNAL into the model, with and without its unfinished last
 * operation, and compares the servers' tree below ROOT with both: every entry
 * (name, type), every file's content and size, every file's link count, every
 * directory's nlink. Exit 0 if the tree is one of the two, 1 if not.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../common/client.h"

#define MAX_OBJ 96
#define NAME_LEN 16
#define FILE_MAX (150 << 10)    /* writes up to this much: several 64 KiB chunks */

/* An object: a directory or a file. Entries name objects: a directory has one
 * (its parent, name), a file one per link. */
struct ent {
    int used;
    int obj;            /* what it names */
    int dir;            /* the directory it is in (an object index) */
    char name[NAME_LEN];
};

struct obj {
    int used, is_dir;
    uint64_t ino;       /* as the servers said when it was made (run only) */
    uint64_t version;   /* files: what the last write put there (0: empty) */
    uint32_t size;
};

struct model {
    struct obj o[MAX_OBJ];
    struct ent e[MAX_OBJ * 2];
    unsigned next_name;
};

enum { NS_MKDIR, NS_RMDIR, NS_CREATE, NS_WRITE, NS_UNLINK, NS_LINK, NS_MVFILE, NS_MVDIR, NOPS };

/* One operation, as the journal records it. Indices are the model's. */
struct op {
    int kind;
    int a, b;           /* the entry acted on; a target entry (rename over, -1: new name) */
    int dir;            /* the directory of a new name */
    char name[NAME_LEN];
    uint64_t version;
    uint32_t size;
};

static int new_obj(struct model *m, int is_dir)
{
    for (int i = 1; i < MAX_OBJ; i++)
        if (!m->o[i].used) {
            m->o[i] = (struct obj){ .used = 1, .is_dir = is_dir };
            return i;
        }
    return -1;
}

static int has_free_obj(const struct model *m)
{
    for (int i = 1; i < MAX_OBJ; i++)
        if (!m->o[i].used)
            return 1;
    return 0;
}

static int new_ent(struct model *m)
{
    for (int i = 0; i < MAX_OBJ * 2; i++)
        if (!m->e[i].used)
            return i;
    return -1;
}

static int links_of(const struct model *m, int obj)
{
    int n = 0;
    for (int i = 0; i < MAX_OBJ * 2; i++)
        n += m->e[i].used && m->e[i].obj == obj;
    return n;
}

static int subdirs_of(const struct model *m, int dir)
{
    int n = 0;
    for (int i = 0; i < MAX_OBJ * 2; i++)
        n += m->e[i].used && m->e[i].dir == dir && m->o[m->e[i].obj].is_dir;
    return n;
}

static int entries_of(const struct model *m, int dir)
{
    int n = 0;
    for (int i = 0; i < MAX_OBJ * 2; i++)
        n += m->e[i].used && m->e[i].dir == dir;
    return n;
}

/* The entry naming directory obj (-1: the root). */
static int ent_of_dir(const struct model *m, int obj)
{
    for (int i = 0; i < MAX_OBJ * 2; i++)
        if (m->e[i].used && m->e[i].obj == obj)
            return i;
    return -1;
}

/* 1 if directory x is d or below it. */
static int under(const struct model *m, int x, int d)
{
    for (int depth = 0; depth < MAX_OBJ; depth++) {
        if (x == d)
            return 1;
        int e = ent_of_dir(m, x);
        if (e < 0)
            return 0;
        x = m->e[e].dir;
    }
    return 0;
}

/* Applies op to the model (it succeeded). */
static void apply(struct model *m, const struct op *op)
{
    int e, o;
    switch (op->kind) {
    case NS_MKDIR:
    case NS_CREATE:
        o = new_obj(m, op->kind == NS_MKDIR);
        e = new_ent(m);
        m->e[e] = (struct ent){ .used = 1, .obj = o, .dir = op->dir };
        memcpy(m->e[e].name, op->name, NAME_LEN);
        break;
    case NS_RMDIR:
        m->o[m->e[op->a].obj].used = 0;
        m->e[op->a].used = 0;
        break;
    case NS_WRITE:
        m->o[m->e[op->a].obj].version = op->version;
        m->o[m->e[op->a].obj].size = op->size;
        break;
    case NS_UNLINK:
        o = m->e[op->a].obj;
        m->e[op->a].used = 0;
        if (!links_of(m, o))
            m->o[o].used = 0;
        break;
    case NS_LINK:
        e = new_ent(m);
        m->e[e] = (struct ent){ .used = 1, .obj = m->e[op->a].obj, .dir = op->dir };
        memcpy(m->e[e].name, op->name, NAME_LEN);
        break;
    case NS_MVFILE:
    case NS_MVDIR:
        if (op->b >= 0) {
            o = m->e[op->b].obj;
            m->e[op->b].used = 0;
            if (!links_of(m, o))
                m->o[o].used = 0;
        }
        m->e[op->a].dir = op->dir;
        memcpy(m->e[op->a].name, op->name, NAME_LEN);
        break;
    }
}

/* ------------------------------------------------------------------ run */

static struct bfs_client *cl;
static uint64_t root_ino;

static uint64_t ino_of_dir(const struct model *m, int dir)
{
    return dir == 0 ? root_ino : m->o[dir].ino;
}

static int pick_ent(const struct model *m, int want_dir, int want_empty)
{
    int cand[MAX_OBJ * 2], n = 0;
    for (int i = 0; i < MAX_OBJ * 2; i++) {
        const struct ent *e = &m->e[i];
        if (!e->used || m->o[e->obj].is_dir != want_dir)
            continue;
        if (want_empty && entries_of(m, e->obj))
            continue;
        cand[n++] = i;
    }
    return n ? cand[rand() % n] : -1;
}

static int pick_dir(const struct model *m)
{
    int cand[MAX_OBJ], n = 0;
    cand[n++] = 0;
    for (int i = 1; i < MAX_OBJ; i++)
        if (m->o[i].used && m->o[i].is_dir)
            cand[n++] = i;
    return cand[rand() % n];
}

/* A random operation the model allows; 0, or -1 if this kind cannot be done now. */
static int choose(struct model *m, struct op *op)
{
    *op = (struct op){ .kind = rand() % NOPS, .a = -1, .b = -1 };
    snprintf(op->name, NAME_LEN, "n%u", m->next_name++);
    op->dir = pick_dir(m);
    switch (op->kind) {
    case NS_MKDIR:
    case NS_CREATE:
        return has_free_obj(m) ? 0 : -1;
    case NS_RMDIR:
        return (op->a = pick_ent(m, 1, 1)) >= 0 ? 0 : -1;
    case NS_WRITE:
        /* One write over all of [0, size), never shorter than the file: every
         * byte of the file is this version's. */
        if ((op->a = pick_ent(m, 0, 0)) < 0)
            return -1;
        op->version = ((uint64_t)rand() << 32) | (uint32_t)rand();
        op->size = 16 + (uint32_t)(rand() % 4 == 0 ? rand() % FILE_MAX : rand() % 200);
        if (op->size < m->o[m->e[op->a].obj].size)
            op->size = m->o[m->e[op->a].obj].size;
        return 0;
    case NS_UNLINK:
        return (op->a = pick_ent(m, 0, 0)) >= 0 ? 0 : -1;
    case NS_LINK:
        return (op->a = pick_ent(m, 0, 0)) >= 0 ? 0 : -1;
    case NS_MVFILE:
        if ((op->a = pick_ent(m, 0, 0)) < 0)
            return -1;
        if (rand() % 3 == 0 && (op->b = pick_ent(m, 0, 0)) >= 0 && op->b != op->a &&
            m->e[op->b].obj != m->e[op->a].obj) {
            op->dir = m->e[op->b].dir;
            memcpy(op->name, m->e[op->b].name, NAME_LEN);
        } else {
            op->b = -1;
        }
        return 0;
    case NS_MVDIR:
        if ((op->a = pick_ent(m, 1, 0)) < 0 || under(m, op->dir, m->e[op->a].obj))
            return -1;
        if (rand() % 3 == 0 && (op->b = pick_ent(m, 1, 1)) >= 0 && op->b != op->a &&
            !under(m, m->e[op->b].dir, m->e[op->a].obj)) {
            op->dir = m->e[op->b].dir;
            memcpy(op->name, m->e[op->b].name, NAME_LEN);
        } else {
            op->b = -1;
        }
        return 0;
    }
    return -1;
}

static void fill(char *buf, uint64_t version, uint32_t size)
{
    int n = snprintf(buf, 17, "v=%014llx", (unsigned long long)(version & 0xffffffffffffffULL));
    for (uint32_t i = (uint32_t)n; i < size; i++)
        buf[i] = (char)('a' + (version + i) % 26);
}

/* Does op over RPC: 0 or -errno. */
static int perform(struct model *m, const struct op *op)
{
    static char buf[FILE_MAX + 256];
    struct bfs_attr a;
    const struct ent *e = op->a >= 0 ? &m->e[op->a] : NULL;
    int rc;
    switch (op->kind) {
    case NS_MKDIR:
    case NS_CREATE:
        rc = bfs_create(cl, ino_of_dir(m, op->dir), op->name,
                        op->kind == NS_MKDIR ? S_IFDIR | 0755 : S_IFREG | 0644, 0, 0, &a);
        if (rc == 0) {
            apply(m, op);
            for (int i = 0; i < MAX_OBJ * 2; i++)
                if (m->e[i].used && m->e[i].dir == op->dir && !strcmp(m->e[i].name, op->name))
                    m->o[m->e[i].obj].ino = a.ino;
        }
        return rc;
    case NS_RMDIR:
        rc = bfs_rmdir(cl, ino_of_dir(m, e->dir), e->name);
        break;
    case NS_WRITE: {
        fill(buf, op->version, op->size);
        ssize_t n = bfs_write(cl, m->o[e->obj].ino, buf, op->size, 0);
        rc = n == (ssize_t)op->size ? 0 : n < 0 ? (int)n : -EIO;
        break;
    }
    case NS_UNLINK:
        rc = bfs_unlink(cl, ino_of_dir(m, e->dir), e->name, 0, NULL);
        break;
    case NS_LINK:
        rc = bfs_link(cl, m->o[e->obj].ino, ino_of_dir(m, op->dir), op->name, &a, NULL);
        break;
    default:
        rc = bfs_rename(cl, ino_of_dir(m, e->dir), e->name, ino_of_dir(m, op->dir), op->name, 0, 0);
        break;
    }
    if (rc == 0)
        apply(m, op);
    return rc;
}

static int jprintf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int jprintf(int fd, const char *fmt, ...)
{
    char line[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    return write(fd, line, (size_t)n) == n ? 0 : -1;   /* one write: a line is whole or absent */
}

static int run(const char *root, unsigned seed, const char *journal, long ops)
{
    struct model *m = calloc(1, sizeof *m);
    struct bfs_attr a;
    int status = 0, fd = open(journal, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
    if (!m || fd < 0) {
        status = 2;
        goto out;
    }
    srand(seed);
    m->o[0] = (struct obj){ .used = 1, .is_dir = 1 };
    int rc = bfs_create(cl, BFS_ROOT_INO, root, S_IFDIR | 0755, 0, 0, &a);
    if (rc < 0) {
        fprintf(stderr, "nsload: mkdir /%s: %s\n", root, strerror(-rc));
        status = 2;
        goto out;
    }
    root_ino = a.ino;
    for (long i = 0; ops < 0 || i < ops; i++) {
        struct op op;
        if (choose(m, &op) < 0)
            continue;
        /* A write also names its inode (after the fields verify reads): a write
         * cut short across servers may leave chunk files past the file's end
         * (docs/DESIGN.md, "Known limits"), and ns_crash.sh tells them apart. */
        uint64_t wino = op.kind == NS_WRITE ? m->o[m->e[op.a].obj].ino : 0;
        jprintf(fd, "B %d %d %d %d %s %llu %u ino=%llx\n", op.kind, op.a, op.b, op.dir, op.name,
                (unsigned long long)op.version, op.size, (unsigned long long)wino);
        rc = perform(m, &op);
        if (rc == -ETIMEDOUT || rc == -ENOTCONN) {
            fprintf(stderr, "nsload: op %ld: %s: stopping\n", i, strerror(-rc));
            status = 3;
            break;
        }
        if (rc < 0) {
            jprintf(fd, "X %d\n", -rc);
            fprintf(stderr, "nsload: op %ld (kind %d on %s): unexpected %s\n", i, op.kind,
                    op.a >= 0 ? m->e[op.a].name : op.name, strerror(-rc));
            status = 4;
            break;
        }
        jprintf(fd, "K\n");
    }
out:
    if (fd >= 0)
        close(fd);
    free(m);
    return status;
}

/* --------------------------------------------------------------- verify */

struct seen {
    uint64_t ino[MAX_OBJ];      /* by model object: the inode its entries name */
    int torn;                   /* a file an unfinished write may have left half done */
};

struct listing {
    struct bfs_dirent d[MAX_OBJ * 2];
    int n, overflow;
};

static int list_one(void *arg, const struct bfs_dirent *d)
{
    struct listing *l = arg;
    if (l->n == MAX_OBJ * 2) {
        l->overflow = 1;
        return 1;
    }
    l->d[l->n++] = *d;
    return 0;
}

/* 0 if the servers' directory dir_ino holds exactly the model's entries of dir. */
static int compare_dir(const struct model *m, int dir, uint64_t dir_ino, struct seen *s, int say)
{
    static char buf[FILE_MAX + 256], want[FILE_MAX + 256];
    struct listing *l = calloc(1, sizeof *l);
    struct bfs_attr a;
    int bad = 0;
    if (!l || bfs_readdir(cl, dir_ino, 0, list_one, l) < 0 || l->overflow) {
        free(l);
        return 1;
    }
    if (l->n != entries_of(m, dir)) {
        if (say)
            fprintf(stderr, "  dir %d (ino %llx): %d entries, want %d\n", dir,
                    (unsigned long long)dir_ino, l->n, entries_of(m, dir));
        bad = 1;
    }
    if (bfs_getattr(cl, dir_ino, &a) < 0 || a.nlink != (uint32_t)(2 + subdirs_of(m, dir))) {
        if (say)
            fprintf(stderr, "  dir %d: nlink %u, want %d\n", dir, a.nlink, 2 + subdirs_of(m, dir));
        bad = 1;
    }
    for (int i = 0; i < MAX_OBJ * 2 && !bad; i++) {
        const struct ent *e = &m->e[i];
        if (!e->used || e->dir != dir)
            continue;
        int k;
        for (k = 0; k < l->n && strcmp(l->d[k].name, e->name); k++)
            ;
        if (k == l->n) {
            if (say)
                fprintf(stderr, "  dir %d: %s missing\n", dir, e->name);
            bad = 1;
            break;
        }
        const struct obj *o = &m->o[e->obj];
        uint64_t ino = l->d[k].ino;
        if ((l->d[k].type == S_IFDIR) != o->is_dir || (s->ino[e->obj] && s->ino[e->obj] != ino)) {
            if (say)
                fprintf(stderr, "  %s: wrong type or inode\n", e->name);
            bad = 1;
            break;
        }
        s->ino[e->obj] = ino;
        if (o->is_dir) {
            bad = compare_dir(m, e->obj, ino, s, say);
            continue;
        }
        if (e->obj == s->torn) {
            if (bfs_getattr(cl, ino, &a) < 0 || a.nlink != (uint32_t)links_of(m, e->obj))
                bad = 1;
            continue;
        }
        if (bfs_getattr(cl, ino, &a) < 0 || a.size != o->size ||
            a.nlink != (uint32_t)links_of(m, e->obj)) {
            if (say)
                fprintf(stderr, "  %s: size %llu nlink %u, want %u and %d\n", e->name,
                        (unsigned long long)a.size, a.nlink, o->size, links_of(m, e->obj));
            bad = 1;
            break;
        }
        if (o->size) {
            fill(want, o->version, o->size);
            ssize_t n = bfs_read(cl, ino, buf, o->size, 0);
            if (n != (ssize_t)o->size || memcmp(buf, want, o->size)) {
                if (say)
                    fprintf(stderr, "  %s: content differs\n", e->name);
                bad = 1;
            }
        }
    }
    free(l);
    return bad;
}

static int verify(const char *root, const char *journal)
{
    FILE *f = fopen(journal, "r");
    struct model *m = calloc(1, sizeof *m), *before = calloc(1, sizeof *m);
    struct bfs_attr a;
    char line[256];
    struct op last;
    int pending = 0, ops = 0;
    if (!f || !m || !before) {
        if (f)
            fclose(f);
        free(m);
        free(before);
        return 2;
    }
    m->o[0] = (struct obj){ .used = 1, .is_dir = 1 };
    while (fgets(line, sizeof line, f)) {
        struct op op = { 0 };
        unsigned long long v;
        if (line[0] == 'B' && sscanf(line, "B %d %d %d %d %15s %llu %u", &op.kind, &op.a, &op.b,
                                     &op.dir, op.name, &v, &op.size) == 7) {
            op.version = v;
            last = op;
            pending = 1;
        } else if (line[0] == 'K' && pending) {
            apply(m, &last);
            pending = 0;
            ops++;
        } else if (line[0] == 'X') {
            fprintf(stderr, "nsload verify: the run met an unexpected error: %s", line);
            fclose(f);
            free(m);
            free(before);
            return 1;
        }
    }
    fclose(f);
    int rc = bfs_lookup(cl, BFS_ROOT_INO, root, &a);
    if (rc < 0) {
        int nothing = rc == -ENOENT && ops == 0 && !pending;
        if (nothing)
            printf("nsload verify: the run made nothing\n");
        else
            fprintf(stderr, "nsload verify: /%s: %s\n", root, strerror(-rc));
        free(m);
        free(before);
        return nothing ? 0 : 1;
    }
    *before = *m;
    /* A write is not atomic across chunks: the file of an unfinished one may hold
     * some of it; the rest of the tree must be exact. */
    int torn = pending && last.kind == NS_WRITE ? m->e[last.a].obj : -1;
    struct seen s = { { 0 }, torn };
    int bad = compare_dir(m, 0, a.ino, &s, !pending);
    if (bad && pending) {
        /* The unfinished operation happened after all: the model with it. */
        apply(m, &last);
        s = (struct seen){ { 0 }, torn };
        bad = compare_dir(m, 0, a.ino, &s, 1);
        if (bad) {
            fprintf(stderr, "nsload verify: neither without nor with the last operation "
                            "(kind %d); without it:\n", last.kind);
            s = (struct seen){ { 0 }, torn };
            compare_dir(before, 0, a.ino, &s, 1);
        }
    }
    printf("nsload verify: %d operations%s: %s\n", ops, pending ? " and one unfinished" : "",
           bad ? "the tree differs" : "the tree matches");
    free(m);
    free(before);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 4 || (strcmp(argv[1], "run") && strcmp(argv[1], "verify")) ||
        (!strcmp(argv[1], "run") && argc < 6)) {
        fprintf(stderr, "usage: nsload run REGISTRY ROOT SEED JOURNAL [OPS] | "
                        "nsload verify REGISTRY ROOT JOURNAL\n");
        return 2;
    }
    struct bfs_client_opts o = { .registry_dir = argv[2], .registry_timeout_s = 20,
                                 .rpc_timeout_s = 5 };
    if (bfs_client_open(&o, &cl) < 0)
        return 2;
    int rc = !strcmp(argv[1], "run")
                 ? run(argv[3], (unsigned)atoi(argv[4]), argv[5], argc > 6 ? atol(argv[6]) : -1)
                 : verify(argv[3], argv[4]);
    bfs_client_close(cl);
    return rc;
}
