/* server.h - the BenchFS storage server as a callable entry point, so that
 * benchfs-server and `benchfs-bench --mode server` are the same program. */
#ifndef BENCHFS_SERVER_H
#define BENCHFS_SERVER_H

/* Parses the server's flags (argv[0] is the program name; a leading
 * "--mode server" pair is skipped by the caller), prints the seed's startup
 * lines, serves until SIGINT/SIGTERM, shuts down cleanly.
 * Returns the process exit status (0 after a clean stop, 2 for bad usage, 1 for errors). */
int server_main(int argc, char **argv);

#endif
