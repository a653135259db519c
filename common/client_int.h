/* client_int.h - what the client library's files share beyond client.h:
 * client.c (connections, namespace and data calls) and client_locks.c (locks). */
#ifndef BENCHFS_CLIENT_INT_H
#define BENCHFS_CLIENT_INT_H

#include "client.h"

/* One call the server answers when it can (rpc_run_wait: no deadline), after
 * reconnecting to its node if it was lost. The call's status or a transport error. */
int client_run_wait(struct bfs_client *c, struct rpc_call *call);
/* A lock was granted at node: should the client connect to it anew later, it
 * logs that those locks are gone. Any thread. */
void client_note_lock(struct bfs_client *c, uint32_t node);

#endif
