/* crashpoint.c - a test's kill -9 at a chosen point (crashpoint.h). */
#include "crashpoint.h"
#include "../common/log.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *point;   /* BENCHFS_CRASH_POINT, read once */

static void read_point(void)
{
    point = getenv("BENCHFS_CRASH_POINT");
}

void server_crash_point(const char *where)
{
    pthread_once(&once, read_point);
    if (point && strcmp(point, where) == 0) {
        log_warn("crash point %s: killing this server (BENCHFS_CRASH_POINT)", where);
        raise(SIGKILL);
    }
}
