/* loop.h - the multithreaded request loop of benchfs-fuse.
 *
 * libfuse's multithreaded loop keeps all its idle threads in read(2) on
 * /dev/fuse, and the kernel hands each request to the one that has waited
 * longest: an application making one call at a time has its requests go round
 * the threads, each a wake-up of a cold thread, often on the other core. Here
 * one thread at a time reads; the thread that got a request handles it and
 * then reads again, so a stream of calls is served by one warm thread, as in
 * single-threaded mode (measured on 2 cores: create and unlink ~1.5x faster
 * than libfuse's loop). Another thread takes over reading only when a handler
 * waits on the servers for long: the client library calls bfs_loop_blocked()
 * then (bfs_client_set_wait_hook), and an idle thread, or a new one up to
 * max_threads, starts reading. So concurrent requests still overlap their
 * RPCs, and a slow server never holds up the requests behind one call.
 *
 * Worker threads block every signal; the thread that calls bfs_loop_run
 * waits for the session to end, and a signal that ends it (libfuse's
 * fuse_set_signal_handlers) interrupts that wait. Ending stops the thread in
 * read(2) by cancellation; threads handling a request finish it first.
 */
#ifndef BENCHFS_FUSE_LOOP_H
#define BENCHFS_FUSE_LOOP_H

#define FUSE_USE_VERSION 34
#include <fuse_lowlevel.h>

struct bfs_loop;

/* NULL when out of memory. max_threads >= 1. */
struct bfs_loop *bfs_loop_new(struct fuse_session *se, unsigned max_threads);
/* Serves requests until the session ends (unmount, signal, fuse_session_exit).
 * Returns 0, or a negative errno if reading from the kernel failed or no
 * thread could be started. Call once. */
int bfs_loop_run(struct bfs_loop *l);
/* After bfs_loop_run has returned (or instead of it). NULL is fine. */
void bfs_loop_free(struct bfs_loop *l);

/* The wait hook (void *: a struct bfs_loop): a handler of this loop will be a
 * while; if nobody reads requests, let an idle or a new thread do it. Cheap,
 * never blocks on the kernel. */
void bfs_loop_blocked(void *l);

/* A handler of this loop will wait without bound (a lock it waits for, see
 * fuse/lockops.c): until bfs_loop_unpark, its thread does not count against
 * max_threads, and an idle or a new thread takes over reading at once. So
 * any number of blocked lock requests never starve the mount (each costs a
 * thread while it waits; threads, once started, stay until the loop ends).
 * NULL is fine (another loop than this one: nothing to do). */
void bfs_loop_park(void *l);
void bfs_loop_unpark(void *l);
/* fn(arg) runs once when the loop ends, before it waits for the threads
 * still handling requests: it must make parked handlers finish (end waits). */
void bfs_loop_set_stop_hook(struct bfs_loop *l, void (*fn)(void *), void *arg);

#endif
