/* log.c - see log.h */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int bfs_log_level = LOG_WARN;
static const char *log_prog = "benchfs";
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

void log_msg(enum log_level level, const char *fmt, ...)
{
    char line[1024];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%02d:%02d:%02d.%06ld %s[%d] %s: ", tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000, log_prog, (int)getpid(), level_names[level]);
    va_list ap;
    va_start(ap, fmt);
    if (n > 0 && (size_t)n < sizeof line)
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s\n", line);
}
