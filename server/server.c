/* server.c - benchfs-server: command line, startup, the event loop, clean shutdown. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/clock.h"
#include "../common/log.h"
#include "../common/registry.h"
#include "../common/ringprobe.h"
#include "../common/spin.h"
#include "../common/version.h"
#include "coord.h"
#include "dirtimes.h"
#include "gone.h"
#include "launch.h"
#include "server_int.h"

#define DRAIN_TIMEOUT_S 10      /* how long shutdown waits for in-flight requests */
#define SPIN_US 1000            /* default of BENCHFS_SPIN_US: busy-poll after the last request */
#define SIGNAL_CHECK_S 0.05     /* a busy loop still looks at the signalfd this often */
#define LOCKS_WAKE_MS 500       /* idle wake-ups while clients hold locks (keepalive) */
#define BUSY_ROUNDS 64          /* idle rounds UCX may stay busy in before the loop polls */
#define BUSY_WAKE_MS 10         /* ... and then how often (a request waits up to this) */
#define BUSY_WARN_S 2.0         /* busy that long with nothing to do: a stuck peer, said once */
#define PROGRESS_MAX 256        /* worker progress calls per loop round, at most */
#define COMPACT_QUIET_S 0.05    /* the loop looks at the store's free pages after this long
                                   without work (not at a pause within a burst) ... */
#define COMPACT_CHECK_S 1.0     /* ... at most this often */
#define COMPACT_RETRY_S 60.0    /* ... and after a compaction that failed */
#define COMPACT_BACKOFF_MAX_S 600.0 /* the longest wait after copies that writes overtook */
#define COMPACT_POLL_MS 10      /* while a copy is written, the loop looks this often */

struct server_opts {
    const char *registry_dir, *data_dir;
    uint32_t node_id, nodes, chunk_size;
    int have_node_id, have_nodes;   /* given as flags: else from the launcher */
    const char *place_source;       /* the launcher variables used, or NULL */
    char data_dir_buf[PATH_MAX];    /* --data-dir with %r and %h expanded */
    const char *log_file;           /* --log-file, expanded like --data-dir */
    char log_file_buf[PATH_MAX];
    int syslog;
    struct chunkstore_opts cs;
};

static void usage(FILE *f, const char *prog)
{
    fprintf(f,
        "Usage: %s --registry-dir DIR --data-dir DIR [options]\n"
        "\n"
        "BenchFS storage server: keeps file chunks (io_uring) and metadata (LMDB) in --data-dir\n"
        "and publishes its UCX worker address in --registry-dir for clients to find.\n"
        "\n"
        "  --registry-dir DIR        shared directory for server addresses (created, mode 0700)\n"
        "  --data-dir DIR            local directory for chunks and metadata (created);\n"
        "                            %%r is replaced by the node id, %%h by the host name\n"
        "  --node-id N               this server's id in a multi-server cluster (default: the\n"
        "                            launcher's rank, SLURM_PROCID, OMPI_COMM_WORLD_RANK,\n"
        "                            PMIX_RANK or PMI_RANK; else 0)\n"
        "  --nodes N                 number of servers in the cluster (default: the launcher's\n"
        "                            task count; else 1)\n"

        "  --log-file FILE           also append log lines to FILE (%%r and %%h as above)\n"
        "  --syslog                  also log to syslog (facility daemon)\n"
        "  --chunk-size BYTES        bytes per chunk, e.g. 4M (default 4M; fixed per data dir)\n"
        "  --uring-queue-size N      io_uring submission queue entries (default 256)\n"
        "  --uring-buffer-size BYTES registered I/O buffer size (default 1M)\n"
        "  --uring-buffers N         number of registered buffers (default 32)\n"
        "  --uring-submit-depth N    submit once this many I/Os are queued (default 32)\n"
        "  --no-inline-writes        small chunk writes always through io_uring's workers\n"
        "  --help, --version\n"
        "\n"
        "Environment: BENCHFS_LOG=error|warn|info|debug|trace, UCX_TLS and other UCX_* variables.\n",
        prog);
}

/* Parses a byte count with an optional K/M/G suffix (binary units). */
static int parse_size(const char *flag, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno || *s == '-')
        goto bad;
    int shift = 0;
    if (*end) {
        switch (*end | 32) {
        case 'k': shift = 10; break;
        case 'm': shift = 20; break;
        case 'g': shift = 30; break;
        default: goto bad;
        }
        end++;
        if ((*end | 32) == 'i' && (end[1] | 32) == 'b')
            end += 2;
        else if ((*end | 32) == 'b')
            end++;
        if (*end)
            goto bad;
    }
    if (v > (max >> shift))
        goto range;
    v <<= shift;
    if (v < min)
        goto range;
    *out = v;
    return 0;
range:
    fprintf(stderr, "Error: %s %s is out of range (%llu..%llu)\n", flag, s,
            (unsigned long long)min, (unsigned long long)max);
    return -ERANGE;
bad:
    fprintf(stderr, "Error: %s wants a number, got '%s'\n", flag, s);
    return -EINVAL;
}

static const char *env_lookup(void *arg, const char *name)
{
    (void)arg;
    return getenv(name);
}

/* Under srun/mpirun: what the flags did not say comes from the launcher, and
 * --data-dir's %r/%h are expanded (one template serves every rank). */
static int place_from_launcher(struct server_opts *o)
{
    char err[256], host[256] = "localhost";
    struct launch_place p;
    if (!o->have_node_id || !o->have_nodes) {
        int rc = launch_place_from_env(env_lookup, NULL, BFS_MAX_NODES, &p, err, sizeof err);
        if (rc < 0) {
            fprintf(stderr, "Error: %s\n", err);
            return rc;
        }
        if (rc > 0) {
            if (!o->have_node_id)
                o->node_id = p.rank;
            if (!o->have_nodes)
                o->nodes = p.size;
            o->place_source = p.source;
        }
    }
    if (gethostname(host, sizeof host - 1) < 0)
        snprintf(host, sizeof host, "localhost");
    if (launch_expand_dir(o->data_dir, o->node_id, host, o->data_dir_buf, sizeof o->data_dir_buf,
                          err, sizeof err) < 0) {
        fprintf(stderr, "Error: %s\n", err);
        return -EINVAL;
    }
    o->data_dir = o->data_dir_buf;
    if (o->log_file) {
        if (launch_expand_dir(o->log_file, o->node_id, host, o->log_file_buf, sizeof o->log_file_buf,
                              err, sizeof err) < 0) {
            fprintf(stderr, "Error: --log-file: %s\n", err);
            return -EINVAL;
        }
        o->log_file = o->log_file_buf;
    }
    return 0;
}

static int parse_args(int argc, char **argv, struct server_opts *o)
{
    enum { O_REG = 256, O_DATA, O_NODE, O_NODES, O_CHUNK, O_QSIZE, O_BUFSZ, O_BUFS, O_DEPTH, O_HELP, O_VER,
           O_LOGFILE, O_SYSLOG, O_NOINLINE };
    static const struct option opts[] = {
        { "registry-dir", required_argument, 0, O_REG },
        { "data-dir", required_argument, 0, O_DATA },
        { "node-id", required_argument, 0, O_NODE },
        { "nodes", required_argument, 0, O_NODES },
        { "chunk-size", required_argument, 0, O_CHUNK },
        { "uring-queue-size", required_argument, 0, O_QSIZE },
        { "uring-buffer-size", required_argument, 0, O_BUFSZ },
        { "uring-buffers", required_argument, 0, O_BUFS },
        { "uring-submit-depth", required_argument, 0, O_DEPTH },
        { "no-inline-writes", no_argument, 0, O_NOINLINE },
        { "log-file", required_argument, 0, O_LOGFILE },
        { "syslog", no_argument, 0, O_SYSLOG },
        { "help", no_argument, 0, O_HELP },
        { "version", no_argument, 0, O_VER },
        { 0, 0, 0, 0 },
    };
    uint64_t v;
    int c, rc = 0;
    *o = (struct server_opts){ .nodes = 1, .chunk_size = BFS_DEFAULT_CHUNK_SIZE,
                               .cs = { .queue_size = 256, .buffer_size = 1u << 20,
                                       .buffer_count = 32, .submit_depth = 32, .fd_cache = 512 } };
    optind = 1;
    opterr = 1;
    while (rc == 0 && (c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case O_REG: o->registry_dir = optarg; break;
        case O_DATA: o->data_dir = optarg; break;
        case O_NODE: rc = parse_size("--node-id", optarg, 0, BFS_MAX_NODES - 1, &v); o->node_id = (uint32_t)v; o->have_node_id = 1; break;
        case O_NODES: rc = parse_size("--nodes", optarg, 1, BFS_MAX_NODES, &v); o->nodes = (uint32_t)v; o->have_nodes = 1; break;
        case O_CHUNK: rc = parse_size("--chunk-size", optarg, 4096, 1u << 30, &v); o->chunk_size = (uint32_t)v; break;
        case O_QSIZE: rc = parse_size("--uring-queue-size", optarg, 1, 32768, &v); o->cs.queue_size = (uint32_t)v; break;
        case O_BUFSZ: rc = parse_size("--uring-buffer-size", optarg, 4096, 1u << 30, &v); o->cs.buffer_size = (uint32_t)v; break;
        case O_BUFS: rc = parse_size("--uring-buffers", optarg, 1, 4096, &v); o->cs.buffer_count = (uint32_t)v; break;
        case O_DEPTH: rc = parse_size("--uring-submit-depth", optarg, 1, 32768, &v); o->cs.submit_depth = (uint32_t)v; break;
        case O_NOINLINE: o->cs.no_inline_writes = true; break;
        case O_LOGFILE: o->log_file = optarg; break;
        case O_SYSLOG: o->syslog = 1; break;
        case O_HELP: usage(stdout, argv[0]); return 1;
        case O_VER: printf("benchfs-server %s\n", BENCHFS_VERSION); return 1;
        default: rc = -EINVAL; break;
        }
    }
    if (rc == 0 && optind < argc) {
        fprintf(stderr, "Error: unexpected argument '%s'\n", argv[optind]);
        rc = -EINVAL;
    }
    if (rc == 0 && (!o->registry_dir || !o->data_dir)) {
        fprintf(stderr, "Error: --registry-dir and --data-dir are required\n");
        rc = -EINVAL;
    }
    if (rc == 0)
        rc = place_from_launcher(o);
    if (rc == 0 && o->node_id >= o->nodes) {
        fprintf(stderr, "Error: --node-id %u must be below --nodes %u\n", o->node_id, o->nodes);
        rc = -EINVAL;
    }
    if (rc == 0 && (o->cs.queue_size & (o->cs.queue_size - 1))) {
        fprintf(stderr, "Error: --uring-queue-size must be a power of two\n");
        rc = -EINVAL;
    }
    if (rc < 0)
        fprintf(stderr, "Try '%s --help' for more information.\n", argv[0]);
    o->cs.chunk_size = o->chunk_size;
    return rc;
}

/* A startup error: on stderr as always ("Error: ..."), and in the log file and
 * syslog too, where an admin of a daemon or a batch job looks. */
__attribute__((format(printf, 1, 2))) static void fatal(const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "Error: %s\n", msg);
    log_note("Error: %s", msg);
}

/* mkdir -p of the data dir, then an exclusive lock so two servers never share it. */
static int lock_data_dir(const char *dir, int *lock_fd)
{
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    }
    if (mkdir(path, 0700) < 0 && errno != EEXIST) {
        int rc = -errno;
        fatal("cannot create data directory %s: %s", dir, strerror(-rc));
        return rc;
    }
    snprintf(path, sizeof path, "%s/benchfs.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        int rc = -errno;
        fatal("data directory %s is not usable: %s", dir, strerror(errno));
        return rc;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        char pid[32] = "?";
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 1] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        fatal("data directory %s is in use by another benchfs-server (pid %s);"
                " servers sharing a host need one each, e.g. --data-dir %s-%%r", dir, pid, dir);
        close(fd);
        return -EBUSY;
    }
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, buf, (size_t)n, 0) != n)
        log_warn("cannot write pid to %s: %s", path, strerror(errno));
    *lock_fd = fd;
    return 0;
}

int server_fault(const char *what)
{
    static const char *fault;
    static int read;
    if (!read) {
        fault = getenv("BENCHFS_FAULT");
        read = 1;
        if (fault)
            log_warn("BENCHFS_FAULT=%s: this server misbehaves on purpose (tests only)", fault);
    }
    return fault && strcmp(fault, what) == 0;
}

static void purge_orphan(void *arg, uint64_t ino, uint64_t size)
{
    struct server *s = arg;
    int rc = chunkstore_remove_later(s->cs, ino, size);
    if (rc < 0)
        log_warn("orphan ino %llx: cannot queue the removal of its chunks: %s",
                 (unsigned long long)ino, strerror(-rc));
}

/* Handles everything that is ready; returns how much work was done. */
static unsigned run_once(struct server *s)
{
    unsigned work = 0, n;
    /* Bounded: a worker that always finds something (a flood of requests, a
     * transport retrying) must not keep the ready requests, the disk's
     * completions and signals waiting. */
    for (int i = 0; i < PROGRESS_MAX && (n = ucp_worker_progress(s->w.worker)); i++)
        work += n;
    for (struct srv_req *r; (r = transport_next_ready(s)); work++) {
        if (s->closing && r->op != OP_BYE)
            srv_reply(r, -ESHUTDOWN);   /* the client library takes it as a lost server */
        else
            transport_run(s, r);
    }
    work += (unsigned)chunkstore_poll(s->cs);
    chunkstore_flush(s->cs);
    double atimes_due = meta_atime_deadline(s->meta);
    if (atimes_due > 0 && bfs_mono_s() >= atimes_due && meta_atime_flush(s->meta) == 0)
        work++;
    if (s->coord && coord_ready(s->coord)) {
        coord_poll(s->coord);
        work++;
    }
    if (s->dirtimes && dirtimes_ready(s->dirtimes)) {   /* touches taken: their records go */
        if (dirtimes_settle(s->dirtimes) < 0)
            log_warn("dirtimes: the records of touches taken stay (sent again at the next start)");
        work++;
    }
    if (s->dying)
        transport_reap(s);
    return work;
}

/* About to sleep: gives the store's free pages back when most of it is free
 * (meta.h, meta_compact_due), looked at once the loop has had no work for
 * COMPACT_QUIET_S (a burst's short pauses do not count) and again only after
 * new work. A small store is compacted here, a bigger one's copy is written on
 * a thread; either is swapped in at a moment with nothing in flight (no
 * request, no disk I/O: no transaction open and nothing holding the store's
 * fd; the coordinator's thread never touches the store, its steps here come as
 * requests). A copy that writes overtook is dropped and tried again later, less
 * often each time. A store that cannot be opened again ends the loop:
 * -ENOTRECOVERABLE. */
static int maybe_compact(struct server *s)
{
    double now = bfs_mono_s();
    int quiet = !s->inflight && !s->sending && !s->receiving && !chunkstore_inflight(s->cs);
    int rc;
    if (meta_compact_running(s->meta)) {
        if (!quiet)
            return 0;
        rc = meta_compact_finish(s->meta, 0);
        if (rc == 0 || rc == -ENOTRECOVERABLE)
            return rc;   /* still being written, or the end */
        double wait = COMPACT_RETRY_S;   /* the copy failed (logged) */
        if (rc == 1) {
            wait = COMPACT_CHECK_S;
            s->compact_backoff = 0;
        } else if (rc == -EAGAIN) {   /* writes overtook the copy: later, less often each time */
            wait = s->compact_backoff ? 2 * s->compact_backoff : COMPACT_CHECK_S;
            s->compact_backoff = wait = wait < COMPACT_BACKOFF_MAX_S ? wait : COMPACT_BACKOFF_MAX_S;
        }
        s->compact_at = now + wait;
        return 0;
    }
    if (now < s->compact_at || s->last_work <= s->compact_looked ||
        now - s->last_work < COMPACT_QUIET_S)
        return 0;   /* too soon, nothing new since the last look, or no quiet spell yet */
    s->compact_at = now + COMPACT_CHECK_S;
    s->compact_looked = now;
    meta_readers_check(s->meta);   /* a dead outside reader would pin the free pages */
    switch (meta_compact_due(s->meta)) {
    case META_COMPACT_NOW:   /* small: copied here, in milliseconds */
        rc = quiet ? meta_compact(s->meta) : 0;
        break;
    case META_COMPACT_ASIDE:
        rc = meta_compact_begin(s->meta);
        break;
    default:
        return 0;
    }
    if (rc == -ENOTRECOVERABLE)
        return rc;
    if (rc < 0)
        s->compact_at = now + COMPACT_RETRY_S;   /* logged, or no room for the copy */
    return 0;
}

/* The drain: no new clients, no new intents; once the coordinator's intents
 * are done (their steps need this server, and other servers' coordinators may
 * too), no new requests (s->closing: -ESHUTDOWN); the loop ends once what runs
 * is done, or at the drain's deadline. */
static void begin_stop(struct server *s, int *stopping, double *deadline)
{
    /* New clients must not find us while we drain. */
    registry_unpublish(s->registry_dir, s->node_id, s->nodes);
    if (s->coord)
        coord_shutdown(s->coord);
    lockreq_stop(s);
    *stopping = 1;
    const char *env = getenv("BENCHFS_DRAIN_TIMEOUT_S");   /* tests: a shorter wait */
    double drain = env && atof(env) > 0 ? atof(env) : DRAIN_TIMEOUT_S;
    *deadline = bfs_mono_s() + drain;
}

/* A SIGINT or SIGTERM waiting in sfd (non-blocking) starts the drain; during a
 * drain to restart in place, it makes that drain the last. */
static void take_signal(struct server *s, int sfd, int *stopping, double *deadline)
{
    struct signalfd_siginfo si;
    if (read(sfd, &si, sizeof si) != sizeof si)
        return;
    if (*stopping) {
        if (s->restart) {
            s->restart = 0;
            log_note("received %s while restarting: stopping instead", strsignal((int)si.ssi_signo));
        }
        return;
    }
    printf("\nReceived %s, shutting down (finishing %u in-flight requests)...\n",
           strsignal((int)si.ssi_signo), s->inflight);
    log_note("received %s: shutting down", strsignal((int)si.ssi_signo));
    fflush(stdout);
    begin_stop(s, stopping, deadline);
}

/* Our shared-memory ring is stuck (common/ringprobe.h): no local client reaches us
 * again through this worker. Drain, then server_main starts this program anew
 * in this process (same pid, same flags), with a new worker and ring. */
static void begin_restart(struct server *s, int *stopping, double *deadline)
{
    log_error("UCX's shared-memory receive queue is stuck (a local process killed in the middle "
              "of sending to this server?): no local client can reach it; restarting in place");
    printf("\nShared-memory receive queue stuck: restarting (finishing %u in-flight requests)...\n",
           s->inflight);
    fflush(stdout);
    s->restart = 1;
    begin_stop(s, stopping, deadline);
}

/* The event loop: epoll over the UCX worker, the io_uring eventfd and a signalfd. */
static int serve(struct server *s, int sfd)
{
    int epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd < 0)
        return -errno;
    int fds[5] = { s->w.efd, chunkstore_eventfd(s->cs), sfd, s->coord ? coord_fd(s->coord) : -1,
                   s->poke_fd };
    for (int i = 0; i < 5; i++) {
        if (fds[i] < 0)
            continue;
        struct epoll_event ev = { .events = EPOLLIN, .data.fd = fds[i] };
        if (epoll_ctl(epfd, EPOLL_CTL_ADD, fds[i], &ev) < 0) {
            int rc = -errno;
            close(epfd);
            return rc;
        }
    }
    struct bfs_spin spin;
    bfs_spin_init(&spin, SPIN_US);
    int stopping = 0, busy_rounds = 0, busy_logged = 0;
    double stop_deadline = 0, signals_at = 0, busy_since = 0;

    for (;;) {
        /* A loop that never runs out of work never reaches epoll_wait: look at the
         * signalfd every SIGNAL_CHECK_S anyway (one read, non-blocking). */
        double now = bfs_mono_s();
        if (now > signals_at) {
            signals_at = now + SIGNAL_CHECK_S;
            take_signal(s, sfd, &stopping, &stop_deadline);
            if (s->poke_fd >= 0)
                poke_take(s);
        }
        unsigned work = run_once(s);
        if (work)
            s->last_work = now;
        int probe_ms = -1;
        if (!stopping && ringprobe_poll(s->probe, now, &probe_ms))
            begin_restart(s, &stopping, &stop_deadline);
        if (stopping) {   /* before anything else: a busy loop must end too */
            if (!s->closing && (!s->coord || coord_idle(s->coord)))
                s->closing = 1;
            if ((s->closing && s->inflight == 0 && chunkstore_inflight(s->cs) == 0) ||
                bfs_mono_s() > stop_deadline)
                break;
        }
        if (work) {
            bfs_spin_woke(&spin, now);   /* teaches the spin if we had slept */
            busy_rounds = 0;
            continue;
        }
        if (!stopping) {
            /* Spin a while: the next request usually follows the last reply
             * closely, and a server that sleeps is woken onto its client's
             * core, where they then take turns. The spin adapts (common/spin.h):
             * it stops as soon as another thread wants this core, and shrinks
             * when it does not pay. */
            double t = bfs_mono_s();
            unsigned got = 0;
            if (bfs_spin_begin(&spin, t) > 0) {
                for (;;) {
                    got = ucp_worker_progress(s->w.worker) || chunkstore_ready(s->cs) ||
                          (s->coord && coord_ready(s->coord));
                    t = bfs_mono_s();
                    if (got) {
                        bfs_spin_hit(&spin, t);
                        break;
                    }
                    if (!bfs_spin_turn(&spin, t))
                        break;
                }
            }
            if (got)
                continue;
        }
        int armed = ucx_worker_arm(&s->w);
        if (chunkstore_arm(s->cs))
            continue;
        /* UCX busy with nothing for us: a send it retries, such as a keepalive
         * to a client whose FIFO is full because it is stopped (kill -STOP,
         * ^Z) and takes nothing in. Spinning on it would cost a core for as
         * long; after BUSY_ROUNDS such rounds, poll (every millisecond while
         * our own replies, request data or closes are under way, else every
         * BUSY_WAKE_MS). Short spells of it are common (a client's endpoint
         * going away): only one that lasts is worth a word. */
        if (armed == 0) {
            if (busy_rounds < BUSY_ROUNDS) {
                if (++busy_rounds == BUSY_ROUNDS)
                    busy_since = bfs_mono_s();
                continue;
            }
            if (!busy_logged && bfs_mono_s() - busy_since > BUSY_WARN_S) {
                log_warn("UCX has stayed busy for %.0f s with nothing for us to do (a client "
                         "not taking its messages in: stopped?): polling meanwhile", BUSY_WARN_S);
                busy_logged = 1;
            }
        }
        /* UCX raises no event when a queued send can go on (no POLLOUT): with
         * replies still queued, sleep only briefly. */
        int timeout = s->sending || s->receiving || s->dying ? 1 : armed == 0 ? BUSY_WAKE_MS
                    : stopping || armed < 0 ? 100 : -1;
        /* UCX's keepalive runs only when the worker is progressed: with locks
         * held, wake up to let it find clients that died (and their locks go). */
        if (timeout < 0 && lockreq_active(s))
            timeout = LOCKS_WAKE_MS;
        if (probe_ms >= 0 && (timeout < 0 || timeout > probe_ms))
            timeout = probe_ms;
        double atimes_due = meta_atime_deadline(s->meta);
        if (atimes_due > 0) {   /* wake to write the access times reads recorded */
            int ms = (int)((atimes_due - bfs_mono_s()) * 1000) + 1;
            if (ms < 1)
                ms = 1;
            if (timeout < 0 || timeout > ms)
                timeout = ms;
        }
        if (!stopping && maybe_compact(s) < 0) {
            close(epfd);
            return -ENOTRECOVERABLE;
        }
        if (meta_compact_running(s->meta) && (timeout < 0 || timeout > COMPACT_POLL_MS))
            timeout = COMPACT_POLL_MS;   /* to swap the copy in once it is written */
        if (!stopping && s->last_work > s->compact_looked) {   /* a look is owed: wake for it */
            double look_at = s->last_work + COMPACT_QUIET_S;
            if (look_at < s->compact_at)
                look_at = s->compact_at;
            int ms = (int)((look_at - bfs_mono_s()) * 1000) + 1;
            if (ms < 1)
                ms = 1;
            if (timeout < 0 || timeout > ms)
                timeout = ms;
        }
        struct epoll_event ev[5];
        bfs_spin_sleep(&spin);
        int n = epoll_wait(epfd, ev, 5, timeout);
        for (int i = 0; i < n; i++) {
            if (ev[i].data.fd == sfd)
                take_signal(s, sfd, &stopping, &stop_deadline);
            else if (ev[i].data.fd == s->poke_fd)
                poke_take(s);
        }
    }
    if (s->inflight)
        log_warn("shutdown: %u requests still in flight at the drain's deadline; their replies are cancelled",
                 s->inflight);
    if (s->bad_requests)
        log_warn("rejected %llu malformed or unauthenticated requests while running",
                 (unsigned long long)s->bad_requests);
    bfs_spin_log(&spin, "event loop");
    close(epfd);
    return 0;
}

static void print_address(const void *addr, size_t len)
{
    const uint8_t *p = addr;
    printf("Server address: WorkerAddress(%zu bytes: ", len);
    for (size_t i = 0; i < len && i < 16; i++)
        printf("%02x", p[i]);
    printf("%s)\n", len > 16 ? "..." : "");
}

int server_main(int argc, char **argv)
{
    struct server_opts o;
    struct server s = { 0 };
    int lock_fd = -1, sfd = -1, status = 1, published = 0;
    ucp_address_t *addr = NULL;
    size_t addr_len = 0;

    log_init("benchfs-server");
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc > 0 ? 0 : 2;
    char tag[32];
    snprintf(tag, sizeof tag, "node %u", o.node_id);
    log_set_tag(tag);
    if (o.syslog)
        log_use_syslog();
    if (o.log_file && (rc = log_open_file(o.log_file)) < 0) {
        fatal("cannot open log file %s: %s", o.log_file, strerror(-rc));
        log_close();
        return 1;
    }
    log_note("starting: node %u of %u, data dir %s, registry %s", o.node_id, o.nodes, o.data_dir,
             o.registry_dir);
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    s.started_ns = (int64_t)t0.tv_sec * 1000000000 + t0.tv_nsec;
    s.node_id = o.node_id;
    s.nodes = o.nodes;
    s.chunk_size = o.chunk_size;
    s.data_dir = o.data_dir;
    s.registry_dir = o.registry_dir;
    s.poke_fd = -1;

    printf("Starting BenchFS server...\n\n");
    printf("  Data directory:     %s\n", o.data_dir);
    printf("  Registry directory: %s\n", o.registry_dir);
    if (o.place_source)
        printf("  Node:               %u of %u (from %s)\n", o.node_id, o.nodes, o.place_source);
    printf("\n");
    printf("Setting up server node...\n");
    fflush(stdout);

    /* Signals go to a signalfd so the loop stops cleanly between requests. */
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGTERM);
    sigprocmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0)
        goto out;

    if (lock_data_dir(o.data_dir, &lock_fd) < 0 || registry_prepare_dir(o.registry_dir) < 0 ||
        registry_key_init(o.registry_dir, s.key) < 0)
        goto out;
    if ((rc = meta_open(o.data_dir, o.node_id, o.chunk_size, &s.meta)) < 0) {
        fatal("cannot open the metadata store in %s: %s", o.data_dir, strerror(-rc));
        goto out;
    }
    if ((rc = chunkstore_open(o.data_dir, &o.cs, &s.cs)) < 0) {
        fatal("cannot open the chunk store in %s: %s", o.data_dir, strerror(-rc));
        goto out;
    }
    if (!(s.gone = gone_new())) {
        log_error("out of memory");
        goto out;
    }
    rc = meta_purge_orphans(s.meta, purge_orphan, &s);
    if (rc > 0)
        log_info("removed %d files that were unlinked while open when the server stopped", rc);
    /* The RPC handler is in place before the address is published. */
    if (transport_init(&s) < 0)
        goto out;
    /* The look at our shared-memory ring (common/ringprobe.h); without it the
     * server still serves. */
    if ((rc = ringprobe_open(s.w.ctx, s.w.worker, 0, &s.probe)) < 0)
        log_warn("cannot set up the look at the shared-memory receive queue (%s): a client "
                 "killed in the middle of a call may leave this server deaf to local clients",
                 strerror(-rc));
    else if ((rc = poke_open(&s)) < 0)   /* the probe's other cause (poke.c) */
        log_warn("cannot watch %s (%s): a client killed in the middle of its HELLO may leave "
                 "this server deaf to local clients", s.poke_path, strerror(-rc));
    ucs_status_t st = ucp_worker_get_address(s.w.worker, &addr, &addr_len);
    if (st != UCS_OK) {
        log_error("cannot get the UCX worker address: %s", ucs_status_string(st));
        goto out;
    }
    struct registry_entry e = { .node_id = o.node_id, .cluster_size = o.nodes,
                                .chunk_size = o.chunk_size, .addr = (uint8_t *)addr,
                                .addr_len = addr_len };
    if (registry_publish(o.registry_dir, &e) < 0)
        goto out;
    published = 1;
    /* A cluster's multi-server operations: the coordinator reaches this node through
     * the registry like any client, so it starts once the address is published. */
    if (o.nodes > 1 && (coord_start(&s, &s.coord) < 0 || handlers_replay(&s) < 0 ||
                        dirtimes_start(o.registry_dir, o.nodes, s.meta, &s.dirtimes) < 0))
        goto out;
    printf("Server worker address registered to %s\n", o.registry_dir);
    print_address(addr, addr_len);
    printf("\nRegistering RPC handlers...\n");
    log_debug("All RPC handlers registered successfully");
    log_note("ready: address published in %s", o.registry_dir);
    printf("Server is ready and listening for requests.\n");
    printf("Press Ctrl+C to stop the server.\n");
    fflush(stdout);

    if ((rc = serve(&s, sfd)) < 0) {
        log_error("event loop failed: %s", strerror(-rc));
        goto out;
    }
    status = 0;
out:
    if (published)
        registry_unpublish(o.registry_dir, o.node_id, o.nodes);
    if (addr)
        ucp_worker_release_address(s.w.worker, addr);
    /* In reverse order of use: the coordinator's calls, then the chunk I/O
     * (whose callbacks reply through the transport), then the transport (whose
     * unfinished replies hold chunk-store buffers), then the store. */
    coord_stop(s.coord);
    dirtimes_stop(s.dirtimes);     /* the other servers still answer: ours is a client's stop */
    lockreq_fini(&s);              /* before transport_fini: waiters still get replies */
    if (s.cs)
        chunkstore_drain(s.cs);
    poke_close(&s);
    ringprobe_close(s.probe, s.w.worker);
    transport_fini(&s);
    chunkstore_close(s.cs);
    if (s.meta && meta_sync(s.meta) < 0)
        status = 1;
    meta_close(s.meta);
    gone_free(s.gone);
    if (sfd >= 0)
        close(sfd);
    if (lock_fd >= 0)
        close(lock_fd);
    if (status == 0 && s.restart) {
        log_note("restarting in place");
        log_close();
        printf("Server restarting.\n\n");
        fflush(stdout);
        /* Everything of ours is closed above (the rest is close-on-exec or UCX's, gone with
         * its context): the new image finds the data dir as a clean stop left it. */
        execv("/proc/self/exe", argv);
        fprintf(stderr, "benchfs-server: cannot restart itself (/proc/self/exe): %s\n",
                strerror(errno));
        return 1;
    }
    if (status == 0)
        printf("Server stopped.\n");
    if (status == 0)
        log_note("stopped");
    else
        log_note("stopped with an error (see the lines above)");
    log_close();
    return status;
}
