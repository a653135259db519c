/* mounts.c - which paths are BenchFS: the fuse.benchfs mounts of the kernel's
 * mount table (source "benchfs:REGISTRY"), and the lazy connection to each
 * mount's cluster. /proc/self/mountinfo stays open; when a lookup misses, a
 * poll with timeout 0 asks the kernel whether the table changed since it was
 * read (POLLPRI|POLLERR), so a program started before the mount finds it. */
#include "preload.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/mountinfo.h"

#define MAX_MOUNTS 32

/* One published, immutable view of the table. Old views are never freed (a
 * lookup may still read one; the table changes rarely), nor are mounts. */
struct view {
    int n;
    struct pl_mount *m[MAX_MOUNTS];
};

int pl_attr_cached;
static struct view *_Atomic current;
static pthread_mutex_t reload_lock = PTHREAD_MUTEX_INITIALIZER;
static int info_fd = -1;
static struct pl_mount *known[MAX_MOUNTS * 4];
static int nknown;

static struct pl_mount *mount_for(const struct where *w)
{
    for (int i = 0; i < nknown; i++)
        if (strcmp(known[i]->mnt, w->mnt) == 0 && strcmp(known[i]->registry, w->registry) == 0)
            return known[i];
    if (nknown == (int)(sizeof known / sizeof known[0]))
        return NULL;
    struct pl_mount *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    strcpy(m->mnt, w->mnt);
    m->mnt_len = strcmp(w->mnt, "/") == 0 ? 0 : strlen(w->mnt);
    strcpy(m->registry, w->registry);
    pthread_mutex_init(&m->lock, NULL);
    known[nknown++] = m;
    return m;
}

/* Reads the whole table through fd (from offset 0: that also re-arms poll). */
static char *read_table(int fd)
{
    size_t cap = 1 << 16, n = 0;
    char *text = malloc(cap);
    while (text) {
        ssize_t got = REAL(pread)(fd, text + n, cap - n - 1, (off_t)n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            free(text);
            return NULL;
        }
        n += (size_t)got;
        if (got == 0)
            break;
        if (n == cap - 1) {
            char *p = realloc(text, cap * 2);
            if (!p) {
                free(text);
                return NULL;
            }
            text = p;
            cap *= 2;
        }
    }
    if (text)
        text[n] = '\0';
    return text;
}

static void reload(void)
{
    pthread_mutex_lock(&reload_lock);
    pl_in_lib++;
    if (info_fd < 0)
        info_fd = REAL(open)("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    char *text = info_fd >= 0 ? read_table(info_fd) : NULL;
    struct view *v = calloc(1, sizeof *v);
    if (text && v) {
        static struct where w[MAX_MOUNTS];   /* under reload_lock */
        int n = where_list(text, w, MAX_MOUNTS);
        for (int i = 0; i < n; i++) {
            struct pl_mount *m = mount_for(&w[i]);
            if (m)
                v->m[v->n++] = m;
        }
        PL_DEBUG("mount table read: %d BenchFS mount(s)", v->n);
    }
    free(text);
    if (v)
        atomic_store(&current, v);
    pl_in_lib--;
    pthread_mutex_unlock(&reload_lock);
}

static int table_changed(void)
{
    struct pollfd p = { .fd = info_fd, .events = POLLPRI };
    return info_fd >= 0 && REAL(poll)(&p, 1, 0) > 0 && (p.revents & (POLLPRI | POLLERR));
}

static struct pl_mount *lookup(const struct view *v, const char *abs, const char **inner)
{
    struct pl_mount *best = NULL;
    for (int i = 0; i < v->n; i++) {
        struct pl_mount *m = v->m[i];
        size_t n = m->mnt_len;
        if (strncmp(abs, m->mnt, n) != 0 || (abs[n] != '\0' && abs[n] != '/'))
            continue;
        if (!best || n >= best->mnt_len)   /* deepest; the later of equals (mounted over) */
            best = m;
    }
    if (best)
        *inner = abs[best->mnt_len] ? abs + best->mnt_len : "/";
    return best;
}

struct pl_mount *pl_mount_find(const char *abs, const char **inner)
{
    struct view *v = atomic_load(&current);
    if (!v) {
        reload();
        v = atomic_load(&current);
        if (!v)
            return NULL;
    }
    struct pl_mount *m = lookup(v, abs, inner);
    if (m || !table_changed())
        return m;
    reload();
    v = atomic_load(&current);
    return v ? lookup(v, abs, inner) : NULL;
}

benchfs_t *pl_mount_fs(struct pl_mount *m)
{
    benchfs_t *fs = atomic_load(&m->fs);
    if (fs)
        return fs;
    pl_init();
    pthread_mutex_lock(&m->lock);
    fs = atomic_load(&m->fs);
    if (!fs && !m->failed) {
        struct stat st;
        struct benchfs_opts o = { .connect_timeout_s = 10, .flags = BENCHFS_OPT_CACHE_IDS };
        const char *t = getenv("BENCHFS_CONNECT_TIMEOUT");
        if (t && atof(t) > 0)
            o.connect_timeout_s = atof(t);
        pl_in_lib++;
        int rc = REAL(stat)(m->mnt, &st) == 0 ? 0 : -errno;
        /* Every process is its own libbenchfs client, and the processes of
         * one program (make, rsync, git, a shell script) must see each
         * other's changes at once, as they do through the mount's one kernel
         * cache: names and attributes are cached (for the mount's
         * attr_timeout) only with the mount's node table, whose counters
         * every change on this node moves. BENCHFS_ATTR_TIMEOUT=S caches for
         * S seconds instead (0: not at all); without a table another
         * process's changes may then show that late. */
        int tab = rc == 0 && pl_kinval_table(m);
        const char *a = getenv("BENCHFS_ATTR_TIMEOUT");
        if (a && *a)
            o.attr_timeout_s = atof(a) > 0 ? atof(a) : -1;
        else
            o.attr_timeout_s = tab && m->tab.attr_timeout_s > 0 ? m->tab.attr_timeout_s : -1;
        if (o.attr_timeout_s > 0 && !tab)
            pl_attr_cached = 1;
        PL_DEBUG("%s: names and attributes %s", m->mnt,
                 o.attr_timeout_s <= 0 ? "not cached"
                 : tab ? "cached, coherent on this node (node table)"
                       : "cached for BENCHFS_ATTR_TIMEOUT, not coherent on this node (no node table)");
        if (rc == 0 && pl_api_load() < 0)
            rc = -ELIBACC;
        if (rc == 0)
            rc = BFS(connect)(m->registry, &o, &fs);
        if (rc == 0)
            pl_kinval_attach(m, fs);
        pl_in_lib--;
        if (rc < 0) {
            m->failed = 1;
            fs = NULL;
            pl_warn("cannot connect to the servers of %s (registry %s): %s; the mount does everything",
                    m->mnt, m->registry, strerror(-rc));
        } else {
            m->dev = st.st_dev;
            atomic_store(&m->fs, fs);
            PL_DEBUG("connected to %s (registry %s)", m->mnt, m->registry);
        }
    }
    pthread_mutex_unlock(&m->lock);
    return fs;
}

void pl_mounts_forget(void)
{
    /* The child owns copies of the parent's connections' memory but not their
     * sockets or threads: drop them unclosed, connect anew on the next call. */
    for (int i = 0; i < nknown; i++) {
        atomic_store(&known[i]->fs, NULL);
        pl_kinval_forget(known[i]);
        pthread_mutex_init(&known[i]->lock, NULL);
    }
    pthread_mutex_init(&reload_lock, NULL);
    /* /proc/self named the parent when it was opened. */
    if (info_fd >= 0)
        REAL(close)(info_fd);
    info_fd = -1;
}
