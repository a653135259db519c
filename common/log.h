/* log.h - leveled logging, chosen by BENCHFS_LOG=error|warn|info|debug|trace
 * (default warn), to up to three sinks:
 *   stderr            unless log_detach() was called (a daemon's stderr is /dev/null);
 *   a file            log_open_file(): appended, one write(2) per line;
 *   syslog            log_use_syslog(): facility daemon, ident = the program name.
 * Every line names the program, its pid and the tag (log_set_tag: the mount
 * point, "node 3", ...). Thread-safe: one write per line and sink.
 * log_note() is for startup and shutdown facts (and fatal errors) an admin
 * looks for in the log: it ignores the level and goes to the file and syslog
 * only (in the foreground stdout and stderr have them already).
 */
#ifndef BENCHFS_LOG_H
#define BENCHFS_LOG_H

#include <stdarg.h>

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG, LOG_TRACE };

extern int bfs_log_level;

/* Reads BENCHFS_LOG once; call early in main(). Unknown values warn and keep the default. */
void log_init(const char *progname);
/* Copies tag (at most 255 bytes are kept); NULL or "" removes it. Call before threads start. */
void log_set_tag(const char *tag);
/* Opens path for appending (created 0640). Returns 0 or -errno (the caller reports it). */
int log_open_file(const char *path);
/* From now on lines also go to syslog (LOG_DAEMON). */
void log_use_syslog(void);
/* Stop writing to stderr (before it is pointed at /dev/null). */
void log_detach(void);
/* Closes the file and syslog (at exit; no thread may log afterwards). */
void log_close(void);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* log_msg with a va_list (for libraries' log callbacks); the level is checked here. */
void log_vmsg(enum log_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define log_at(lvl, ...) do { if ((lvl) <= bfs_log_level) log_msg((lvl), __VA_ARGS__); } while (0)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)
#define log_warn(...)  log_at(LOG_WARN, __VA_ARGS__)
#define log_info(...)  log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)
#define log_trace(...) log_at(LOG_TRACE, __VA_ARGS__)

#endif
