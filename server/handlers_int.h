/* handlers_int.h - what the request handlers' three files share, private to them:
 *   handlers.c       the table of handlers (one entry per opcode), the dispatcher, the
 *                    small metadata ops (lookup, getattr, setattr, readdir, xattrs, ...)
 *   handlers_data.c  file data: READ, WRITE (where a chunk is read and written),
 *                    FSYNC, TRUNCATE, REMOVE; inline data's migration to chunk file 0;
 *                    the request bulk buffers
 *   handlers_ns.c    the namespace: create, link, unlink, rename (and their
 *                    multi-server form: intents, entry locks, fence waits) and the
 *                    coordinator's steps on this node
 * Every op handler (handle_*) follows the table's reply convention (handlers.c):
 * 0 or -errno: the dispatcher replies with it; 1: r is answered already or will
 * be (completion, wait, coordinator). Event-loop thread only. */
#ifndef BENCHFS_HANDLERS_INT_H
#define BENCHFS_HANDLERS_INT_H

#include "server_int.h"

/* 1 when inode ino is this node's (its owner keeps its metadata). */
static inline int ino_local(const struct server *s, uint64_t ino)
{
    return bfs_ino_node(ino) == s->node_id;
}

/* handlers.c: runs the requests of queue head (a migration's, an entry lock's or
 * a fence's waiters) in order, as if they arrived now. */
void handlers_run_queue(struct server *s, struct srv_req *head);

/* handlers_data.c */
int handle_read(struct server *s, struct srv_req *r);      /* a piece of one chunk */
int handle_fsync(struct server *s, struct srv_req *r);     /* the inode's chunk files (+ LMDB) */
int handle_truncate(struct server *s, struct srv_req *r);  /* this node's chunks of a shrunk file */
int handle_remove(struct server *s, struct srv_req *r);    /* this node's chunks of a freed file */

/* handlers_ns.c: the client's namespace ops ... */
int handle_create(struct server *s, struct srv_req *r);
int handle_link(struct server *s, struct srv_req *r);
int handle_unlink(struct server *s, struct srv_req *r);
int handle_rename(struct server *s, struct srv_req *r);
int handle_nlink(struct server *s, struct srv_req *r);     /* another node's link change */
int handle_purge(struct server *s, struct srv_req *r);     /* an orphan's last close */
/* ... and the coordinator's steps of multi-server operations (coord.h) */
int handle_install(struct server *s, struct srv_req *r);
int handle_drop_entry(struct server *s, struct srv_req *r);
int handle_dir_adjust(struct server *s, struct srv_req *r);
int handle_drop(struct server *s, struct srv_req *r);
int handle_moved(struct server *s, struct srv_req *r);
int handle_gain(struct server *s, struct srv_req *r);
int handle_fence(struct server *s, struct srv_req *r);
int handle_move_lock(struct server *s, struct srv_req *r);
int handle_step(struct server *s, struct srv_req *r);
int handle_forget(struct server *s, struct srv_req *r);
int handle_note(struct server *s, struct srv_req *r);
/* 1 when r, which names an entry (both: a rename's two), now waits for the
 * multi-server operation holding it; 0 when none does. */
int handlers_entry_wait(struct server *s, struct srv_req *r, int both);

#endif
