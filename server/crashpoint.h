/* crashpoint.h - a test's kill -9 at a chosen point of the server's work.
 *
 * When BENCHFS_CRASH_POINT names where (e.g. "rename-installed" in a
 * multi-server rename, "compact-renamed" in a compaction), the server kills
 * itself there with SIGKILL, as kill -9 would, after a log line
 * (tests/system/ns_replay.sh, tests/system/rpc.sh). Otherwise nothing happens.
 * Any thread may call it. */
#ifndef BENCHFS_CRASHPOINT_H
#define BENCHFS_CRASHPOINT_H

void server_crash_point(const char *where);

#endif
