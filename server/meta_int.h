/* meta_int.h - what meta.c shares with the other parts of the metadata store
 * (xattr_store.c): its LMDB transactions and inode records, so that they work
 * in the same environment and, where an operation needs it, the same
 * transaction. Not for the rest of the server: it uses meta.h and
 * xattr_store.h. Single-threaded as the store. */
#ifndef BENCHFS_META_INT_H
#define BENCHFS_META_INT_H

#include <lmdb.h>
#include <stdint.h>
#include "meta.h"

/* A write transaction (the map grown first when needed), and its one exit:
 * commit when rc is 0, else abort; returns rc or the commit's error. */
int meta_wr_begin(struct meta_store *m, MDB_txn **txn);
int meta_wr_end(MDB_txn *txn, int rc);
/* The store's reusable read transaction; end it before the next begin. */
int meta_rd_begin(struct meta_store *m, MDB_txn **txn);
void meta_rd_end(struct meta_store *m);

/* ino's record in txn: 0, -ENOENT, -EIO (corrupt, logged). a->flags carries
 * the record's BFS_ATTR_* bits. */
int meta_inode_get(struct meta_store *m, MDB_txn *txn, uint64_t ino, struct bfs_attr *a);
/* Rewrites an existing record with a's attributes and flags, keeping its tail. */
int meta_inode_update(struct meta_store *m, MDB_txn *txn, const struct bfs_attr *a);

/* The xattrs table: ino (u64 BE) | name -> value. */
MDB_dbi meta_xattr_dbi(const struct meta_store *m);

/* An LMDB error as a negative errno, logged with what and ino (MDB_NOTFOUND is
 * -ENOENT, not logged). */
int meta_db_err(int rc, const char *what, uint64_t ino);

#endif
