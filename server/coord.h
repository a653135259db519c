/* coord.h - the coordinator of multi-server namespace operations.
 *
 * A rename between entries that live on different nodes, a rename that moves a
 * directory between parents or replaces a directory, and an rmdir on a cluster
 * have steps on several nodes. The node holding the operation's (first) entry
 * coordinates it, as CephFS's and Lustre DNE's metadata servers do:
 *
 *   1. its event loop begins an *intent* in its store (meta_intent_begin: durable
 *      before anything changes), locks the entry and calls coord_submit;
 *   2. the coordinator's own thread runs the steps as ordinary RPCs to the nodes
 *      concerned, itself included (so the event loop stays the only user of the
 *      store); participants mark each step they do (meta.h), so a step sent twice
 *      is done once;
 *   3. the result comes back to the event loop (coord_fd readable, coord_poll),
 *      which marks the intent done, answers the request, unlocks the entry and
 *      hands the intent back so the participants forget its marks; then it ends.
 *
 * At start every intent left in the store is replayed: an operation not yet
 * committed (see coord.c for each kind's commit point) is rolled back, one that is
 * committed is finished. Nothing is lost, and no step is done twice.
 *
 * A step that cannot reach its node is retried until the node answers or the
 * server stops (the intent stays and is replayed at the next start); the client
 * waiting for the answer may meanwhile see its RPC time out.
 *
 * Threads: every function here is called from the event loop's thread.
 */
#ifndef BENCHFS_COORD_H
#define BENCHFS_COORD_H

#include <stdint.h>
#include "meta.h"

struct server;
struct srv_req;
struct coord;

/* What an intent does: one entry of coord.c's table each. */
enum coord_kind {
    COORD_RENAME = 1,   /* parent/name -> newparent/newname, flags BFS_F_NOREPLACE|KEEP */
    COORD_RMDIR = 2,    /* parent/name, a directory empty on every node */
    COORD_UNLINK = 3,   /* parent/name removed here; its inode ino lives elsewhere */
    COORD_LINK = 4,     /* parent/name to be made here for ino (type), which lives elsewhere */
    COORD_MKDIR = 5,    /* directory parent/name made here; parent lives elsewhere */
    COORD_CHUNKS = 6,   /* ino (size) was freed here: its chunks on the other nodes go */
};

/* Starts the coordinator thread (which connects to the cluster through the
 * registry in the background). 0 or -errno. */
int coord_start(struct server *s, struct coord **out);
/* Asks the thread to stop: it finishes the job it runs (steps that cannot reach
 * their node give up), hands back the others unrun, closes its connections and
 * ends; the event loop keeps running (and coord_poll-ing) until coord_idle. */
void coord_shutdown(struct coord *c);
/* 1 once the thread has ended and every job it handed back was polled. */
int coord_idle(struct coord *c);
/* Stops the thread if it still runs (an unfinished intent stays in the store for
 * the next start) and frees everything. NULL is fine. */
void coord_stop(struct coord *c);

/* Readable when coord_poll has work; coord_ready says so without a system call. */
int coord_fd(const struct coord *c);
int coord_ready(struct coord *c);

/* Runs intent in (stored ACTIVE or DONE by the caller); r (NULL: nobody waits) is
 * answered when it is done, through handlers_intent_finished. replay: in was
 * found in the store at start (it may have been interrupted anywhere). */
void coord_submit(struct coord *c, const struct meta_intent *in, struct srv_req *r, int replay);

/* Handles finished intents: calls handlers_intent_finished(s, in, r, status) for
 * each whose steps are done and meta_intent_end for each that is forgotten. */
void coord_poll(struct coord *c);

#endif
