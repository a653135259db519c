/* testutil.h - what the C tests share besides the harness (test.h): fill
 * patterns, whole reads and writes, small file helpers. Static inline: each
 * test program takes what it uses. Clocks: common/clock.h. */
#ifndef BENCHFS_TESTUTIL_H
#define BENCHFS_TESTUTIL_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

/* A pattern that differs by offset and seed: bytes a test can regenerate to compare. */
static inline void tu_fill(void *buf, size_t len, uint64_t seed)
{
    uint8_t *p = buf;
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)(((i + seed) * 2654435761u) >> 13);
}

/* A step of a test driven by a script over stdin/stdout: says say, then
 * waits for the script's line (or its end). */
static inline void tu_wait_line(const char *say)
{
    char line[64];
    printf("%s\n", say);
    fflush(stdout);
    if (!fgets(line, sizeof line, stdin))
        line[0] = 0;
}

static inline int tu_all_zero(const void *buf, size_t len)
{
    const uint8_t *p = buf;
    for (size_t i = 0; i < len; i++)
        if (p[i])
            return 0;
    return 1;
}

/* pwrite/pread until len bytes are done: the count done (short only at end of
 * file for a read, or when the call returned 0), -1 on an error. */
static inline ssize_t tu_pwrite_all(int fd, const void *buf, size_t len, off_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);
        if (n <= 0)
            return n < 0 ? -1 : (ssize_t)done;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

static inline ssize_t tu_pread_all(int fd, void *buf, size_t len, off_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t n = pread(fd, (char *)buf + done, len - done, off + (off_t)done);
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

/* Creates or truncates path (mode 0644) with len bytes of buf: 0, or -1. */
static inline int tu_write_file(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    ssize_t n = tu_pwrite_all(fd, buf, len, 0);
    int rc = close(fd);
    return n == (ssize_t)len && rc == 0 ? 0 : -1;
}

/* Reads the whole file, at most cap bytes: the count, or -1. */
static inline ssize_t tu_read_file(const char *path, void *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = tu_pread_all(fd, buf, cap, 0);
    close(fd);
    return n;
}

/* Whether path holds exactly the len bytes of want (len < 64 KiB). */
static inline int tu_file_is(const char *path, const void *want, size_t len)
{
    static char buf[65536];
    if (len >= sizeof buf)
        return 0;
    ssize_t n = tu_read_file(path, buf, sizeof buf);
    return n == (ssize_t)len && memcmp(buf, want, len) == 0;
}

/* The same for text (a NUL-terminated string, no NUL written). */
static inline int tu_write_text(const char *path, const char *text)
{
    return tu_write_file(path, text, strlen(text));
}

static inline int tu_file_has(const char *path, const char *text)
{
    return tu_file_is(path, text, strlen(text));
}

#endif
