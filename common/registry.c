/* registry.c - address files and the cluster key in the shared registry dir (see registry.h). */
#include "registry.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "byteorder.h"
#include "clock.h"
#include "log.h"

static const uint8_t reg_magic[8] = { 'B', 'F', 'S', 'R', 'E', 'G', 0, 0 };
#define REGISTRY_VERSION 1
#define KEY_FILE "cluster.key"


int registry_prepare_dir(const char *dir)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s", dir) >= (int)sizeof path)
        return -ENAMETOOLONG;
    /* mkdir -p: create each missing component; only the last gets 0700 on purpose. */
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
            int rc = -errno;
            log_error("RegistryError: cannot create %s: %s", path, strerror(errno));
            return rc;
        }
        *p = '/';
    }
    if (mkdir(path, 0700) < 0 && errno != EEXIST) {
        int rc = -errno;
        log_error("RegistryError: cannot create registry directory %s: %s", path, strerror(errno));
        return rc;
    }
    struct stat st;
    if (stat(path, &st) < 0 || !S_ISDIR(st.st_mode)) {
        log_error("RegistryError: %s is not a directory", path);
        return -ENOTDIR;
    }
    if (access(path, W_OK | X_OK) < 0) {
        int rc = -errno;
        log_error("RegistryError: registry directory %s is not writable: %s", path, strerror(errno));
        return rc;
    }
    if (st.st_mode & 077)
        log_warn("registry directory %s has mode %03o; it holds the cluster key, 0700 is advised",
                 path, (unsigned)(st.st_mode & 0777));
    return 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (char)(c | 32);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int key_parse(const char *text, size_t len, uint8_t key[BFS_KEY_LEN])
{
    while (len && (text[len - 1] == '\n' || text[len - 1] == '\r'))
        len--;
    if (len != 2 * BFS_KEY_LEN)
        return -EBADMSG;
    for (int i = 0; i < BFS_KEY_LEN; i++) {
        int hi = hexval(text[2 * i]), lo = hexval(text[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -EBADMSG;
        key[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

int registry_key_load(const char *dir, uint8_t key[BFS_KEY_LEN])
{
    char path[PATH_MAX], text[128];
    snprintf(path, sizeof path, "%s/" KEY_FILE, dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int rc = -errno;
        log_error("RegistryError: cannot read cluster key %s: %s", path, strerror(errno));
        return rc;
    }
    ssize_t n = read(fd, text, sizeof text);
    int rc = n < 0 ? -errno : key_parse(text, (size_t)n, key);
    close(fd);
    if (rc < 0)
        log_error("RegistryError: cluster key %s is malformed (want %d hex digits)", path, 2 * BFS_KEY_LEN);
    return rc;
}

int registry_key_init(const char *dir, uint8_t key[BFS_KEY_LEN])
{
    char path[PATH_MAX], tmp[PATH_MAX], text[2 * BFS_KEY_LEN + 2];
    snprintf(path, sizeof path, "%s/" KEY_FILE, dir);
    if (access(path, F_OK) == 0)
        return registry_key_load(dir, key);

    if (getrandom(key, BFS_KEY_LEN, 0) != BFS_KEY_LEN) {
        log_error("RegistryError: getrandom for the cluster key failed: %s", strerror(errno));
        return -EIO;
    }
    for (int i = 0; i < BFS_KEY_LEN; i++)
        snprintf(text + 2 * i, 3, "%02x", key[i]);
    text[2 * BFS_KEY_LEN] = '\n';
    snprintf(tmp, sizeof tmp, "%s/.cluster.key.%d", dir, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        int rc = -errno;
        log_error("RegistryError: cannot create %s: %s", tmp, strerror(errno));
        return rc;
    }
    int rc = 0;
    if (write(fd, text, 2 * BFS_KEY_LEN + 1) != 2 * BFS_KEY_LEN + 1 || fsync(fd) < 0)
        rc = -EIO;
    close(fd);
    /* link() fails if another server created the key meanwhile: then use theirs. */
    if (rc == 0 && link(tmp, path) < 0)
        rc = errno == EEXIST ? 1 : -errno;
    unlink(tmp);
    if (rc == 1)
        return registry_key_load(dir, key);
    if (rc < 0)
        log_error("RegistryError: cannot write cluster key %s: %s", path, strerror(-rc));
    return rc;
}

int registry_path(const char *dir, uint32_t node_id, uint32_t cluster_size, char *buf, size_t size)
{
    int n = cluster_size <= 1 ? snprintf(buf, size, "%s/server.addr", dir)
                              : snprintf(buf, size, "%s/node-%u.addr", dir, node_id);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int registry_poke_path(const char *dir, uint32_t node_id, uint32_t cluster_size, char *buf,
                       size_t size)
{
    int n = cluster_size <= 1 ? snprintf(buf, size, "%s/server.poke", dir)
                              : snprintf(buf, size, "%s/node-%u.poke", dir, node_id);
    return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

int registry_poke(const char *dir, uint32_t node_id, uint32_t cluster_size)
{
    char path[PATH_MAX];
    int rc = registry_poke_path(dir, node_id, cluster_size, path, sizeof path);
    if (rc < 0)
        return rc;
    /* Closing a file opened for writing is the event (IN_CLOSE_WRITE). */
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return -errno;
    close(fd);
    return 0;
}

size_t registry_encode(const struct registry_entry *e, uint8_t *out, size_t size)
{
    size_t total = REGISTRY_HEADER_LEN + e->addr_len;
    if (size < total)
        return 0;
    memset(out, 0, REGISTRY_HEADER_LEN);
    memcpy(out, reg_magic, 8);
    put_le32(out + 8, REGISTRY_VERSION);
    put_le32(out + 12, e->node_id);
    put_le32(out + 16, e->cluster_size);
    put_le32(out + 20, e->chunk_size);
    put_le32(out + 24, e->pid);
    put_le32(out + 28, (uint32_t)e->addr_len);
    memcpy(out + 32, e->host, strnlen(e->host, sizeof e->host - 1));
    memcpy(out + REGISTRY_HEADER_LEN, e->addr, e->addr_len);
    return total;
}

int registry_decode(const uint8_t *buf, size_t len, struct registry_entry *e)
{
    memset(e, 0, sizeof *e);
    if (len < REGISTRY_HEADER_LEN || memcmp(buf, reg_magic, 8) != 0)
        return -EBADMSG;
    if (get_le32(buf + 8) != REGISTRY_VERSION)
        return -EPROTONOSUPPORT;
    e->node_id = get_le32(buf + 12);
    e->cluster_size = get_le32(buf + 16);
    e->chunk_size = get_le32(buf + 20);
    e->pid = get_le32(buf + 24);
    uint32_t alen = get_le32(buf + 28);
    if (e->cluster_size == 0 || e->cluster_size > BFS_MAX_NODES || e->node_id >= e->cluster_size ||
        e->chunk_size == 0 || alen == 0 || alen > REGISTRY_ADDR_MAX || len - REGISTRY_HEADER_LEN != alen)
        return -EBADMSG;
    memcpy(e->host, buf + 32, 63);
    e->host[63] = '\0';
    e->addr = malloc(alen);
    if (!e->addr)
        return -ENOMEM;
    memcpy(e->addr, buf + REGISTRY_HEADER_LEN, alen);
    e->addr_len = alen;
    return 0;
}

void registry_entry_clear(struct registry_entry *e)
{
    free(e->addr);
    e->addr = NULL;
    e->addr_len = 0;
}

static void my_host(char host[64])
{
    memset(host, 0, 64);
    if (gethostname(host, 63) < 0)
        strcpy(host, "unknown");
}

int registry_publish(const char *dir, struct registry_entry *e)
{
    char path[PATH_MAX], tmp[PATH_MAX + 32];
    int rc = registry_path(dir, e->node_id, e->cluster_size, path, sizeof path);
    if (rc < 0)
        return rc;
    e->pid = (uint32_t)getpid();
    my_host(e->host);
    size_t size = REGISTRY_HEADER_LEN + e->addr_len;
    uint8_t *buf = malloc(size);
    if (!buf)
        return -ENOMEM;
    registry_encode(e, buf, size);
    snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = -errno;
        goto out;
    }
    if (write(fd, buf, size) != (ssize_t)size || fsync(fd) < 0)
        rc = errno ? -errno : -EIO;
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) < 0)
        rc = -errno;
    if (rc < 0)
        unlink(tmp);
out:
    if (rc < 0)
        log_error("RegistryError: cannot publish %s: %s", path, strerror(-rc));
    free(buf);
    return rc;
}

int registry_read(const char *path, struct registry_entry *e)
{
    int stale = 0;
    int rc = registry_read_any(path, e, &stale);
    if (rc == 0 && stale) {
        registry_entry_clear(e);
        rc = -ESTALE;
    }
    return rc;
}

int registry_read_any(const char *path, struct registry_entry *e, int *stale)
{
    uint8_t *buf = NULL;
    *stale = 0;
    int rc;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        rc = -errno;
        goto out;
    }
    if (st.st_size < REGISTRY_HEADER_LEN || st.st_size > REGISTRY_HEADER_LEN + REGISTRY_ADDR_MAX) {
        rc = -EBADMSG;
        goto out;
    }
    buf = malloc((size_t)st.st_size);
    if (!buf) {
        rc = -ENOMEM;
        goto out;
    }
    ssize_t n = pread(fd, buf, (size_t)st.st_size, 0);
    if (n != st.st_size) {
        rc = n < 0 ? -errno : -EBADMSG;
        goto out;
    }
    rc = registry_decode(buf, (size_t)n, e);
    if (rc == 0) {
        char host[64];
        my_host(host);
        /* Same host and the publishing process is gone: the file is a leftover. */
        if (strcmp(host, e->host) == 0 && kill((pid_t)e->pid, 0) < 0 && errno == ESRCH)
            *stale = 1;
    }
out:
    free(buf);
    close(fd);
    return rc;
}

int registry_unpublish(const char *dir, uint32_t node_id, uint32_t cluster_size)
{
    char path[PATH_MAX];
    struct registry_entry e;
    int rc = registry_path(dir, node_id, cluster_size, path, sizeof path);
    if (rc < 0)
        return rc;
    rc = registry_read(path, &e);
    if (rc < 0)
        return rc == -ENOENT ? 0 : rc;
    int ours = e.pid == (uint32_t)getpid();
    registry_entry_clear(&e);
    if (ours && unlink(path) < 0)
        return -errno;
    return 0;
}

static const char *why(int rc)
{
    switch (rc) {
    case -ENOENT: return "the file does not exist (is the server running? same --registry-dir?)";
    case -ESTALE: return "the file was left by a server process that is no longer running";
    case -EBADMSG: return "the file is not a BenchFS registry file or is damaged";
    case -EPROTONOSUPPORT: return "the file is from another BenchFS format version";
    default: return strerror(-rc);
    }
}

/* Polls path until it reads cleanly or the deadline passes. Polling (not inotify)
 * because the registry is usually on NFS, where inotify sees no remote changes. */
static int wait_file(const char *path, double deadline, struct registry_entry *e, double timeout_s)
{
    useconds_t nap = 10000;
    int rc;
    for (;;) {
        rc = registry_read(path, e);
        if (rc == 0)
            return 0;
        if (rc == -EACCES || rc == -ENOTDIR || bfs_mono_s() >= deadline)
            break;
        usleep(nap);
        if (nap < 200000)
            nap *= 2;
    }
    log_error("RegistryError: waited %g s for %s: %s", timeout_s, path, why(rc));
    return rc == -ENOENT ? -ETIMEDOUT : rc;
}

int registry_wait(const char *dir, double timeout_s, struct registry_entry **entries, uint32_t *n)
{
    char one[PATH_MAX], first[PATH_MAX];
    struct registry_entry e;
    double deadline = bfs_mono_s() + timeout_s;
    registry_path(dir, 0, 1, one, sizeof one);
    registry_path(dir, 0, 2, first, sizeof first);

    if (access(dir, R_OK | X_OK) < 0 && errno != ENOENT) {
        int rc = -errno;
        log_error("RegistryError: cannot read registry directory %s: %s", dir, strerror(errno));
        return rc;
    }
    /* The first file tells the cluster size: server.addr (one server) or node-0.addr. */
    int rc;
    useconds_t nap = 10000;
    for (;;) {
        rc = registry_read(one, &e);
        if (rc == 0)
            break;
        int rc0 = registry_read(first, &e);
        if (rc0 == 0) {
            rc = 0;
            break;
        }
        if (rc == -ENOENT)
            rc = rc0;
        if (bfs_mono_s() >= deadline) {
            log_error("RegistryError: no server registered in %s (waited %g s for %s): %s",
                      dir, timeout_s, one, why(rc));
            return rc == -ENOENT ? -ETIMEDOUT : rc;
        }
        usleep(nap);
        if (nap < 200000)
            nap *= 2;
    }

    uint32_t size = e.cluster_size;
    struct registry_entry *all = calloc(size, sizeof *all);
    if (!all) {
        registry_entry_clear(&e);
        return -ENOMEM;
    }
    all[e.node_id] = e;
    for (uint32_t i = 0; i < size; i++) {
        char path[PATH_MAX];
        if (all[i].addr)
            continue;
        registry_path(dir, i, size, path, sizeof path);
        rc = wait_file(path, deadline, &all[i], timeout_s);
        if (rc == 0 && (all[i].cluster_size != size || all[i].node_id != i ||
                        all[i].chunk_size != e.chunk_size)) {
            log_error("RegistryError: %s disagrees with the cluster (node %u of %u, chunk size %u;"
                      " expected node %u of %u, chunk size %u)", path, all[i].node_id,
                      all[i].cluster_size, all[i].chunk_size, i, size, e.chunk_size);
            rc = -EBADMSG;
        }
        if (rc < 0) {
            registry_entries_free(all, size);
            return rc;
        }
    }
    *entries = all;
    *n = size;
    return 0;
}

void registry_entries_free(struct registry_entry *entries, uint32_t n)
{
    for (uint32_t i = 0; entries && i < n; i++)
        registry_entry_clear(&entries[i]);
    free(entries);
}
