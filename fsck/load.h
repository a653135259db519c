/* load.h - where benchfs-fsck's tables come from (check.h's struct fsck_db).
 *
 * Offline (load_lmdb.c): the data directories of stopped servers, one per node
 * in any order (each store's info table names its node). Opened read-only, or
 * read-write for a repair, which first takes each directory's benchfs.lock the
 * way the server does (flock): a running server's directory is refused, and no
 * server can start on it while the repair runs.
 *
 * Online (load_rpc.c): a running cluster found in its registry directory, read
 * with OP_SCAN page by page (each page its own read transaction: the tables may
 * change between pages, so a checker's findings need a re-check).
 *
 * Functions return 0 or a negative errno and print what went wrong (with the
 * path or node) to stderr.
 */
#ifndef BENCHFS_FSCK_LOAD_H
#define BENCHFS_FSCK_LOAD_H

#include <stddef.h>
#include <stdio.h>
#include "check.h"

struct fsck_stores;

/* Opens dirs[0..n) (n nodes). Checks each store's format, that the node ids are
 * 0..n-1 once each and that all agree on the chunk size. rw: for fsck_lmdb_repair. */
int fsck_lmdb_open(char *const *dirs, size_t n, int rw, struct fsck_stores **out);
void fsck_lmdb_close(struct fsck_stores *s);
uint32_t fsck_lmdb_chunk_size(const struct fsck_stores *s);

/* Reads every table and chunk directory into db (fsck_db_init'ed for the nodes). */
int fsck_lmdb_load(struct fsck_stores *s, struct fsck_db *db);

/* Does the fixes of report r (planned on db): one write transaction per node,
 * all committed only if all succeeded, then the chunk files go. Prints
 * "repaired: ..." to out per action and "cannot repair: ..." for what it skips.
 * *done gets the number of actions. */
int fsck_lmdb_repair(struct fsck_stores *s, const struct fsck_db *db,
                     const struct fsck_report *r, FILE *out, size_t *done);

struct fsck_conn;

/* Connects to every server registered in registry (waits up to timeout_s). */
int fsck_rpc_open(const char *registry, double timeout_s, struct fsck_conn **out);
void fsck_rpc_close(struct fsck_conn *c);
uint32_t fsck_rpc_nodes(const struct fsck_conn *c);
uint32_t fsck_rpc_chunk_size(const struct fsck_conn *c);

/* Scans every table of every node into db (fsck_db_init'ed, online = 1). */
int fsck_rpc_load(struct fsck_conn *c, struct fsck_db *db);

#endif
