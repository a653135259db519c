/* log.h - leveled logging to stderr, chosen by BENCHFS_LOG=error|warn|info|debug|trace
 * (default warn). Thread-safe: one fprintf per line. */
#ifndef BENCHFS_LOG_H
#define BENCHFS_LOG_H

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE };

extern int bfs_log_level;

/* Reads BENCHFS_LOG once; call early in main(). Unknown values warn and keep the default. */
void log_init(const char *progname);
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_at(lvl, ...) do { if ((lvl) <= bfs_log_level) log_msg((lvl), __VA_ARGS__); } while (0)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)
#define log_trace(...) log_at(LOG_TRACE, __VA_ARGS__)

#endif
