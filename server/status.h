/* status.h - OP_STATUS: what a server tells benchfs-status about itself.
 * Called on the server's event-loop thread only. */
#ifndef BENCHFS_STATUS_H
#define BENCHFS_STATUS_H

#include "server_int.h"

/* Fills the reply of OP_STATUS request r: its bulk (malloc'd, freed with the
 * request) holds a struct bfs_status as proto_status_encode writes it. It
 * walks the chunk directories (a stat per chunk file, blocking: the cost of an
 * admin's look, about a second per million chunk files). 0 or -ENOMEM; a data
 * dir that cannot be read is logged and counted as empty. */
int status_reply(struct server *s, struct srv_req *r);

#endif
