/* log.c - see log.h */
#include <syslog.h>
/* syslog.h's LOG_INFO/LOG_DEBUG macros collide with our level names: take the
 * priorities we need, then let log.h's names be ours. */
static const int syslog_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_DEBUG };
static const int syslog_note = LOG_NOTICE;
#undef LOG_INFO
#undef LOG_DEBUG
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int bfs_log_level = LOG_WARN;
static const char *log_prog = "benchfs";
static char log_tag[256];
static int log_fd = -1, log_syslog, log_no_stderr;
static const char *const level_names[] = { "ERROR", "WARN", "INFO", "DEBUG", "TRACE" };

void log_init(const char *progname)
{
    if (progname)
        log_prog = progname;
    const char *v = getenv("BENCHFS_LOG");
    if (!v || !*v)
        return;
    for (int i = LOG_ERROR; i <= LOG_TRACE; i++) {
        if (strcasecmp(v, level_names[i]) == 0) {
            bfs_log_level = i;
            return;
        }
    }
    fprintf(stderr, "%s: WARN: BENCHFS_LOG=%s not understood (use error|warn|info|debug|trace)\n",
            log_prog, v);
}

void log_set_tag(const char *tag)
{
    snprintf(log_tag, sizeof log_tag, "%s", tag ? tag : "");
}

int log_open_file(const char *path)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    if (log_fd >= 0)
        close(log_fd);
    log_fd = fd;
    return 0;
}

void log_use_syslog(void)
{
    openlog(log_prog, LOG_PID | LOG_NDELAY, LOG_DAEMON);
    log_syslog = 1;
}

void log_detach(void)
{
    log_no_stderr = 1;
}

void log_close(void)
{
    if (log_fd >= 0)
        close(log_fd);
    log_fd = -1;
    if (log_syslog)
        closelog();
    log_syslog = 0;
}

/* Formats and writes one line; note: a log_note line (no level filter, not on
 * stderr when another sink takes it). */
static void emit(int level, int note, const char *fmt, va_list ap)
{
    char msg[1024], rest[1400], line[1500];
    vsnprintf(msg, sizeof msg, fmt, ap);
    const char *lname = note ? "NOTE" : level_names[level];
    if (log_syslog)
        syslog(note ? syslog_note : syslog_prio[level], "%s%s%s: %s", log_tag, log_tag[0] ? ": " : "",
               lname, msg);

    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(rest, sizeof rest, "%s[%d]%s%s%s %s: %s\n", log_prog, (int)getpid(), log_tag[0] ? " " : "",
             log_tag, log_tag[0] ? ":" : "", lname, msg);
    if (log_fd >= 0) {
        int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %s", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                         ts.tv_nsec / 1000, rest);
        size_t len = n < 0 ? 0 : (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
        /* Nowhere better to say that the file failed: the other sinks still get the line. */
        if (len && write(log_fd, line, len) < 0)
            len = 0;
    }
    if (!log_no_stderr && !note)
        fprintf(stderr, "%02d:%02d:%02d.%06ld %s", tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000,
                rest);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(level, 0, fmt, ap);
    va_end(ap);
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    if ((int)level <= bfs_log_level)
        emit(level, 0, fmt, ap);
}

void log_note(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    emit(0, 1, fmt, ap);
    va_end(ap);
}
