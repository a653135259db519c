/* ucx_fork.h - a forked child's UCX must not wake its parent's UCX thread.
 *
 * UCX (1.13) runs one async thread per process; it epolls the fds of every
 * worker of the process. fork copies that thread's state into the child but
 * not the thread, and the child's copy of the epoll fd is the parent's epoll
 * instance, not a new one. A child that opens a worker of its own (the preload
 * library's child connects anew; so may a libbenchfs program's) adds its fds
 * to the parent's set. The parent's thread has no handler for them and is
 * woken by each as long as it stays readable: measured, fio's parent process
 * spent 54 % of a core in epoll_wait while its forked job wrote over RPC, and
 * the job itself ran at a fifth of its speed on this 2-core machine.
 *
 * The cure, at fork in the child: the fd number UCX's thread epolls is given a
 * new, empty epoll instance. The child has no async thread either way (UCX
 * does not survive fork; nothing in the child ever waited on that set), so it
 * loses nothing, and the parent's set is its own again.
 *
 * UCX does not say which fd its thread epolls. It is found while a worker
 * opens: the epoll instance created during ucx_worker_open that watches the
 * read end of a pipe also created then (the thread's wake-up pipe). It is
 * checked again in the child (still that epoll, still watching that pipe)
 * before it is replaced, so a thread UCX stopped and an fd number reused
 * since are left alone.
 *
 * Called by ucx.c only, from any thread.
 */
#ifndef BENCHFS_UCX_FORK_H
#define BENCHFS_UCX_FORK_H

#include <stdbool.h>
#include <stddef.h>

/* The epoll and pipe fds that existed before a worker's open. */
struct ucx_fork_scan {
    int *fds;
    size_t n;
    bool active;   /* the list is complete: scan_end may look */
};

/* Before ucp_init: notes the process's epoll and pipe fds (if they cannot all
 * be listed, the end finds nothing and the record stays as it was). */
void ucx_fork_scan_begin(struct ucx_fork_scan *s);
/* After ucp_worker_create: records the async thread's epoll if this open made
 * it, registers the fork handler once, and frees s. A second call does
 * nothing. Logs at debug level. */
void ucx_fork_scan_end(struct ucx_fork_scan *s);

#endif
