/* chunkstore.h - file data on local disk through io_uring.
 *
 * A file's bytes are cut into chunks of chunk_size; chunk (ino, idx) is the file
 * DATA/chunks/XX/<ino as 16 hex digits>.<idx> (XX: a 2-hex-digit bucket from ino),
 * named from the numbers only, never from anything a client sent as a path, so no
 * request reaches outside DATA.
 *
 * I/O is asynchronous: a call queues an SQE and returns; the completion callback
 * runs later from chunkstore_poll(). The owner's event loop, once per iteration:
 *   chunkstore_poll() reaps every CQE (no system call), chunkstore_flush() submits
 *   what was queued (batching: a submission also happens whenever submit_depth
 *   SQEs are queued); before it sleeps, chunkstore_arm() and, if that found
 *   nothing, epoll on chunkstore_eventfd().
 * Writes touch only the bytes written; reads of holes or past a chunk file's end
 * return zeros. Open chunk files are kept in a small fd cache.
 *
 * Not thread-safe: one event-loop thread owns a store. The store has threads
 * of its own: for removals of gone files (chunkstore_remove_later), for cuts
 * (chunkstore_truncate), and one per usage count (chunkstore_usage).
 */
#ifndef BENCHFS_CHUNKSTORE_H
#define BENCHFS_CHUNKSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct chunkstore;

struct chunkstore_opts {
    uint32_t chunk_size;     /* bytes per chunk (> 0) */
    uint32_t queue_size;     /* io_uring SQ entries (default 256) */
    uint32_t buffer_size;    /* bytes per registered buffer (default 1 MiB) */
    uint32_t buffer_count;   /* registered buffers (default 32) */
    uint32_t submit_depth;   /* submit once this many SQEs are queued (default 32) */
    uint32_t fd_cache;       /* open chunk files kept (default 512) */
    bool no_inline_writes;   /* small writes always through io_uring (see chunkstore.c
                              * "Inline writes"; default: inline where it pays) */
};

/* Completion: res is the byte count (reads: always the full length asked) or a
 * negative errno. Runs from chunkstore_poll() or, for an error found before
 * queueing, never: the queueing call returns the error instead. */
typedef void (*chunk_cb)(void *arg, ssize_t res);

/* Sets up io_uring, registers the buffers (if the kernel refuses, e.g.
 * RLIMIT_MEMLOCK, logs a warning and goes on with plain buffers) and creates
 * DATA/chunks. 0 or negative errno (logged). */
int chunkstore_open(const char *data_dir, const struct chunkstore_opts *opts, struct chunkstore **out);

/* Waits for queued and in-flight I/O (their callbacks run) and makes what was
 * written durable (syncfs). The store stays open: buffers handed out may still
 * be returned. */
void chunkstore_drain(struct chunkstore *cs);
/* chunkstore_drain, then frees everything: every buffer must be back (a reply
 * still being sent from one must be finished or cancelled first). NULL is fine. */
void chunkstore_close(struct chunkstore *cs);

int chunkstore_eventfd(struct chunkstore *cs);
/* Reaps all available completions, running callbacks. Returns how many. Does not
 * touch the eventfd: polling costs no system call while the owner is busy. */
int chunkstore_poll(struct chunkstore *cs);
/* True when chunkstore_poll has something to do (completions, or kernel work
 * that will post some). No system call: for an owner that busy-polls. */
bool chunkstore_ready(struct chunkstore *cs);
/* Before the owner sleeps on the eventfd: clears it, then says whether there
 * is work already (then poll instead of sleeping: its signal may have come
 * before the clear). */
bool chunkstore_arm(struct chunkstore *cs);
/* Submits queued SQEs. 0 or negative errno. */
int chunkstore_flush(struct chunkstore *cs);
/* Operations queued or in flight. */
unsigned chunkstore_inflight(struct chunkstore *cs);

/* A registered buffer of at least len bytes, or NULL when none is free or len is
 * larger than buffer_size (the caller then uses its own memory and passes
 * buf_index -1). Give it back with chunkstore_buf_put. */
void *chunkstore_buf_get(struct chunkstore *cs, size_t len, int *buf_index);
void chunkstore_buf_put(struct chunkstore *cs, int buf_index);

/* Queues a write of len bytes at offset off of chunk (ino, idx), creating the
 * chunk file if needed. buf must stay valid until cb runs; buf_index is the
 * registered buffer buf lies in (from chunkstore_buf_get) or -1.
 * -EINVAL if off + len > chunk_size. */
int chunkstore_write(struct chunkstore *cs, uint64_t ino, uint64_t idx, uint64_t off,
                     const void *buf, int buf_index, size_t len, chunk_cb cb, void *arg);

/* Queues a read; holes and bytes past the chunk file's end read as zeros, and a
 * missing chunk file is all zeros. Same rules as chunkstore_write. */
int chunkstore_read(struct chunkstore *cs, uint64_t ino, uint64_t idx, uint64_t off,
                    void *buf, int buf_index, size_t len, chunk_cb cb, void *arg);

/* Queues fallocate(2) of [off, off+len) of chunk (ino, idx) with mode (FALLOC_FL_*),
 * creating the chunk file unless mode punches a hole (a missing file is a hole
 * already: nothing to do). cb gets 0 or -errno (-EOPNOTSUPP if the local file
 * system cannot do mode). -EINVAL if len is 0 or the range leaves the chunk. */
int chunkstore_fallocate(struct chunkstore *cs, uint64_t ino, uint64_t idx, uint64_t off,
                         size_t len, int mode, chunk_cb cb, void *arg);

/* Blocking, any thread (an openat and lseek of its own: io_uring has no lseek;
 * the file system answers from its extent tree): the first data (whence SEEK_DATA) or hole
 * (SEEK_HOLE) of chunk (ino, idx) at or after in-chunk offset off, as the local
 * file system reports them: 0 and *out (< chunk_size), or -ENXIO when there is no
 * data at or after off in the chunk (a missing chunk file is all hole; so are the
 * bytes past the file's end). */
int chunkstore_seek(struct chunkstore *cs, uint64_t ino, uint64_t idx, uint64_t off, int whence,
                    uint64_t *out);

/* Blocking, any thread: the lowest (at most max) indices in [first, end) with a chunk file of
 * ino here, ascending, into out; *n gets how many (0: none). Tried index by index
 * over a short range, from one listing of ino's bucket over a long one (as
 * chunkstore_remove). 0 or -errno. Seek and this read the disk as it is: chunks
 * a cut (chunkstore_truncate) has not reached yet are there; chunkstore_offload
 * runs them after the cuts of the inode. */
int chunkstore_chunks(struct chunkstore *cs, uint64_t ino, uint64_t first, uint64_t end,
                      uint64_t *out, size_t max, size_t *n);
/* The lowest one: 0 and *idx, or -ENOENT. */
int chunkstore_first_chunk(struct chunkstore *cs, uint64_t ino, uint64_t first, uint64_t end,
                           uint64_t *idx);

/* Not blocking: runs work(arg) on the store's worker thread (started on first
 * use) once no cut of ino is under way, then done(arg) from chunkstore_poll
 * (counted in chunkstore_inflight meanwhile). work may use only what any thread
 * may (chunkstore_seek, chunkstore_chunks) and its own arg. 0 or -errno (done
 * never runs). */
int chunkstore_offload(struct chunkstore *cs, uint64_t ino, void (*work)(void *arg),
                       void (*done)(void *arg), void *arg);

/* Queues fdatasync (fsync if !datasync) of every chunk file of ino written since
 * its last sync, of the directories where new chunk files were created, and of
 * extra_fd if >= 0 (the metadata store's); cb runs once all are done. */
int chunkstore_fsync(struct chunkstore *cs, uint64_t ino, int datasync, int extra_fd,
                     chunk_cb cb, void *arg);

/* Not blocking: the file shrank from old_size to new_size; the store's cut
 * thread deletes the chunk files wholly past new_size and cuts the one
 * new_size falls in. Noted in DATA/chunk-cuts before this returns (redone at
 * the next open after a kill); until it is done, reads, writes, fallocates of
 * those chunks and fsyncs of ino wait for it, and seek, listings and scans see
 * the chunks as it leaves them. 0 or -errno (-ENOMEM: nothing queued). */
int chunkstore_truncate(struct chunkstore *cs, uint64_t ino, uint64_t old_size, uint64_t new_size);

/* Blocking: deletes every chunk file of ino (those that can exist for size;
 * for a large sparse size it lists ino's bucket instead of trying each index). */
int chunkstore_remove(struct chunkstore *cs, uint64_t ino, uint64_t size);
/* Blocking: deletes chunk (ino, idx). */
int chunkstore_remove_chunk(struct chunkstore *cs, uint64_t ino, uint64_t idx);

/* Not blocking, for a file that is gone (its inode number is never used
 * again): as chunkstore_remove / chunkstore_remove_chunk, but the unlinks run
 * on the store's removal thread. The removal is noted in DATA/chunk-removals
 * before this returns (page cache, no sync), so a server killed before it is
 * done finishes it at its next chunkstore_open; close and drain wait for it.
 * Reads of ino meanwhile may still find chunks: no one may use ino again.
 * 0 or -ENOMEM (nothing queued). */
int chunkstore_remove_later(struct chunkstore *cs, uint64_t ino, uint64_t size);
int chunkstore_remove_chunk_later(struct chunkstore *cs, uint64_t ino, uint64_t idx);
/* Background removals and cuts queued or running. */
unsigned chunkstore_removals(struct chunkstore *cs);
/* Blocks until there are none (polling; for a clean stop and tests); ops held
 * by cuts go on. */
void chunkstore_removals_wait(struct chunkstore *cs);

/* What the data dir holds on disk: the chunk files and their allocated bytes
 * (st_blocks: holes are free), and the other regular files at the top of the
 * data dir (the metadata store's). err: -errno if DATA/chunks could not be read. */
struct chunkstore_usage {
    uint64_t chunk_files, chunk_bytes, top_files, top_bytes;
    int err;
};
typedef void (*chunk_usage_cb)(void *arg, const struct chunkstore_usage *u);
/* Not blocking: counts them on a helper thread (a stat per file); cb runs from
 * chunkstore_poll (counted in chunkstore_inflight meanwhile). A call while a
 * count runs gets that count's result. 0 or -errno (cb never runs). */
int chunkstore_usage(struct chunkstore *cs, chunk_usage_cb cb, void *arg);

/* Naming (for tools reading a stopped store, e.g. benchfs-fsck): chunk (ino, idx)
 * is DATA/chunks/<bucket as %02x>/<ino as %016llx>.<idx as %llu>. */
int chunkstore_bucket(uint64_t ino);
/* Parses a file name in a bucket directory: 0 and *ino, *idx, or -EINVAL if it
 * is not a chunk file's name. */
int chunkstore_name_parse(const char *name, uint64_t *ino, uint64_t *idx);

/* Blocking, read-only: lists chunk files in (bucket, ino, idx) order, those after
 * (after_ino, after_idx) into out (size bytes) as OP_SCAN records (proto.h: u16 LE 16 | u32 LE 0 | ino u64 BE |
 * idx u64 BE). first: list from the first chunk (the after values are ignored).
 * *used, *count, *eof as meta_scan. Files of other names are skipped, and so
 * are the chunks of inodes whose removal is queued (chunkstore_remove_later). */
int chunkstore_scan(struct chunkstore *cs, int first, uint64_t after_ino, uint64_t after_idx,
                    void *out, size_t size, size_t *used, size_t *count, int *eof);

#endif
