/* status.c - OP_STATUS (see status.h). */
#include "status.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"

/* Allocated bytes (holes are free) of the regular files in dir, counted in *files. */
static void sum_dir(int dirfd, uint64_t *files, uint64_t *bytes, int chunks_only)
{
    DIR *d = fdopendir(dirfd);
    if (!d) {
        close(dirfd);
        return;
    }
    for (struct dirent *de; (de = readdir(d));) {
        uint64_t ino, idx;
        struct stat st;
        if (de->d_name[0] == '.' || (chunks_only && chunkstore_name_parse(de->d_name, &ino, &idx) < 0))
            continue;
        if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
            continue;
        (*files)++;
        *bytes += (uint64_t)st.st_blocks * 512;
    }
    closedir(d);
}

static void count_chunks(const char *data_dir, struct bfs_status *st)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/chunks", data_dir);
    int top = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (top < 0) {
        log_warn("status: cannot read %s: %s", path, strerror(errno));
        return;
    }
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "%02x", b);
        int fd = openat(top, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd >= 0)
            sum_dir(fd, &st->chunk_files, &st->chunk_bytes, 1);
    }
    close(top);
}

int status_reply(struct server *s, struct srv_req *r)
{
    struct bfs_status st = { .node_id = s->node_id, .nodes = s->nodes, .pid = (uint32_t)getpid(),
                             .chunk_size = s->chunk_size, .ncounters = OP_MAX };
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t up = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - s->started_ns;
    st.uptime_ms = up > 0 ? (uint64_t)up / 1000000 : 0;
    if (gethostname(st.host, sizeof st.host - 1) < 0)
        snprintf(st.host, sizeof st.host, "unknown");
    st.inodes = meta_inode_count(s->meta);
    count_chunks(s->data_dir, &st);
    /* The metadata store's files sit at the top of the data dir. */
    uint64_t meta_files = 0;
    int fd = open(s->data_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0)
        sum_dir(fd, &meta_files, &st.meta_bytes, 0);
    struct statvfs vfs;
    if (statvfs(s->data_dir, &vfs) == 0) {
        st.free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
        st.total_bytes = (uint64_t)vfs.f_blocks * vfs.f_frsize;
    } else {
        log_warn("status: statvfs %s: %s", s->data_dir, strerror(errno));
    }
    memcpy(st.counters, s->counters, sizeof st.counters);
    if (!(r->rdata = malloc(proto_status_size())))
        return -ENOMEM;
    r->rdata_len = proto_status_encode(&st, r->rdata);
    r->r.len = (uint32_t)r->rdata_len;
    return 0;
}
