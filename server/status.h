/* status.h - OP_STATUS: what a server tells benchfs-status about itself.
 * Called on the server's event-loop thread only. */
#ifndef BENCHFS_STATUS_H
#define BENCHFS_STATUS_H

#include "server_int.h"

/* Answers OP_STATUS request r: its reply's bulk (malloc'd, freed with the
 * request) holds a struct bfs_status as proto_status_encode writes it. The
 * chunk directories are walked on the chunk store's helper thread
 * (chunkstore_usage: a stat per chunk file, about a second per million), so r
 * is answered later: 1, or -ENOMEM (answer now). A data dir that cannot be
 * read is logged and counted as empty. */
int status_reply(struct server *s, struct srv_req *r);

#endif
