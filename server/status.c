/* status.c - OP_STATUS (see status.h). */
#include "status.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "../common/log.h"

struct status_job {
    struct srv_req *r;
    struct bfs_status st;
};

/* The chunk store counted the data dir (on its helper thread): the reply goes. */
static void counted(void *arg, const struct chunkstore_usage *u)
{
    struct status_job *j = arg;
    struct srv_req *r = j->r;
    struct server *s = r->srv;
    j->st.chunk_files = u->chunk_files;
    j->st.chunk_bytes = u->chunk_bytes;
    j->st.meta_bytes = u->top_bytes;   /* the metadata store's files sit at the top */
    memcpy(j->st.counters, s->counters, sizeof j->st.counters);
    int rc = 0;
    if (!(r->rdata = malloc(proto_status_size())))
        rc = -ENOMEM;
    else
        r->rdata_len = proto_status_encode(&j->st, r->rdata);
    r->r.len = (uint32_t)r->rdata_len;
    free(j);
    srv_reply(r, rc);
}

int status_reply(struct server *s, struct srv_req *r)
{
    struct status_job *j = calloc(1, sizeof *j);
    if (!j)
        return -ENOMEM;
    struct bfs_status *st = &j->st;
    *st = (struct bfs_status){ .node_id = s->node_id, .nodes = s->nodes, .pid = (uint32_t)getpid(),
                               .chunk_size = s->chunk_size, .ncounters = OP_MAX };
    j->r = r;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t up = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec - s->started_ns;
    st->uptime_ms = up > 0 ? (uint64_t)up / 1000000 : 0;
    if (gethostname(st->host, sizeof st->host - 1) < 0)
        snprintf(st->host, sizeof st->host, "unknown");
    st->inodes = meta_inode_count(s->meta);
    struct statvfs vfs;
    if (statvfs(s->data_dir, &vfs) == 0) {
        st->free_bytes = (uint64_t)vfs.f_bavail * vfs.f_frsize;
        st->total_bytes = (uint64_t)vfs.f_blocks * vfs.f_frsize;
    } else {
        log_warn("status: statvfs %s: %s", s->data_dir, strerror(errno));
    }
    /* The chunk directories are walked off the loop (a stat per chunk file). */
    int rc = chunkstore_usage(s->cs, counted, j);
    if (rc < 0) {
        free(j);
        return rc;
    }
    return 1;
}
