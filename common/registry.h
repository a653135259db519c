/* registry.h - how servers publish their UCX worker addresses and clients find them.
 *
 * The registry is a directory R shared by all nodes (NFS across hosts, any
 * local directory on one host), mode 0700. It holds:
 *   cluster.key      the cluster's secret (32 hex digits, mode 0600), created by
 *                    the first server; every request carries it.
 *   server.addr      the address file of a one-server cluster, or
 *   node-<id>.addr   one per server of a larger cluster.
 * An address file is a fixed header (magic, format version, node id, cluster
 * size, chunk size, pid, host name, address length) followed by the address
 * bytes. It is written to a temporary name and rename()d into place, so a
 * reader never sees half a file. Every function returns 0 or a negative errno
 * and logs what went wrong with the path ("RegistryError: ...").
 */
#ifndef BENCHFS_REGISTRY_H
#define BENCHFS_REGISTRY_H

#include <stddef.h>
#include <stdint.h>
#include "proto.h"

#define REGISTRY_HEADER_LEN 96
#define REGISTRY_ADDR_MAX   (64 * 1024)   /* UCX worker addresses are a few hundred bytes */

struct registry_entry {
    uint32_t node_id;
    uint32_t cluster_size;
    uint32_t chunk_size;
    uint32_t pid;
    char     host[64];
    size_t   addr_len;
    uint8_t *addr;        /* owned: registry_entry_clear frees it */
};

/* Creates dir (and missing parents) with mode 0700; an existing dir is kept.
 * -ENOTDIR, -EACCES, ... with a message naming the path. */
int registry_prepare_dir(const char *dir);

/* Server side: reads dir/cluster.key, creating it (0600, random) if absent. */
int registry_key_init(const char *dir, uint8_t key[BFS_KEY_LEN]);
/* Client side: reads dir/cluster.key; -ENOENT if absent, -EBADMSG if malformed. */
int registry_key_load(const char *dir, uint8_t key[BFS_KEY_LEN]);

/* Writes the address file's path for node_id of a cluster_size cluster into buf. */
int registry_path(const char *dir, uint32_t node_id, uint32_t cluster_size, char *buf, size_t size);

/* The "poke" file of node_id: a client that got no answer to its HELLO
 * touches it (registry_poke), and the server, which watches it with inotify
 * (server/poke.c), looks at its shared-memory receive queue: a client killed
 * in the middle of its HELLO leaves that queue stuck with no connection whose
 * failure would say so (common/ringprobe.h). Same naming as registry_path,
 * ".poke" for ".addr". */
int registry_poke_path(const char *dir, uint32_t node_id, uint32_t cluster_size, char *buf,
                       size_t size);
/* Touches node_id's poke file: 0 or -errno (nothing is waited for). */
int registry_poke(const char *dir, uint32_t node_id, uint32_t cluster_size);

/* Atomically publishes e as node e->node_id's file (e->pid/host are filled in here). */
int registry_publish(const char *dir, struct registry_entry *e);
/* Removes node's file if it is still ours (same pid): a newer server's file stays. */
int registry_unpublish(const char *dir, uint32_t node_id, uint32_t cluster_size);

/* Pure encode/decode of a file's bytes, for tests and for registry_read.
 * decode: -EBADMSG "not a BenchFS registry file" (magic), -EPROTONOSUPPORT
 * (format version), -EBADMSG for lengths that do not add up or an out-of-range
 * node id / cluster size / chunk size. */
size_t registry_encode(const struct registry_entry *e, uint8_t *out, size_t size);
int registry_decode(const uint8_t *buf, size_t len, struct registry_entry *e);

/* Reads and checks one address file. A file left by a server process that is
 * gone (same host, pid not running) gives -ESTALE. */
int registry_read(const char *path, struct registry_entry *e);
/* registry_read that keeps a stale file's entry (for benchfs-status to show
 * whose it was): 0 with *stale = 1 where registry_read gives -ESTALE. */
int registry_read_any(const char *path, struct registry_entry *e, int *stale);
void registry_entry_clear(struct registry_entry *e);

/* Waits up to timeout_s for the cluster: first server.addr or node-0.addr (to
 * learn the cluster size), then every node's file. On success *entries is an
 * array of *n entries indexed by node id (free with registry_entries_free).
 * -ETIMEDOUT with "RegistryError: ... waited N s for PATH" if one never came. */
int registry_wait(const char *dir, double timeout_s, struct registry_entry **entries, uint32_t *n);
void registry_entries_free(struct registry_entry *entries, uint32_t n);

#endif
