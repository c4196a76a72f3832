#include "lib/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static enum log_level current_level = LOG_LEVEL_INFO;
static int log_fd = STDERR_FILENO;

void log_set_level(enum log_level level)
{
    __atomic_store_n(&current_level, level, __ATOMIC_RELAXED);
}

enum log_level log_get_level(void)
{
    return __atomic_load_n(&current_level, __ATOMIC_RELAXED);
}

void log_set_fd(int fd)
{
    __atomic_store_n(&log_fd, fd, __ATOMIC_RELAXED);
}

static const char *level_name(enum log_level level)
{
    switch (level) {
    case LOG_LEVEL_ERROR:
        return "error";
    case LOG_LEVEL_WARN:
        return "warning";
    case LOG_LEVEL_INFO:
        return "info";
    default:
        return "debug";
    }
}

/* Appends msg as a logfmt quoted string; control bytes are escaped so one event stays one line. */
static int append_quoted(char *buf, int pos, int size, const char *msg)
{
    static const char hex[] = "0123456789abcdef";
    if (pos < size - 1)
        buf[pos++] = '"';
    for (const unsigned char *p = (const unsigned char *)msg; *p && pos < size - 7; p++) {
        switch (*p) {
        case '"':
        case '\\':
            buf[pos++] = '\\';
            buf[pos++] = (char)*p;
            break;
        case '\n':
            buf[pos++] = '\\';
            buf[pos++] = 'n';
            break;
        case '\t':
            buf[pos++] = '\\';
            buf[pos++] = 't';
            break;
        default:
            if (*p < 0x20 || *p == 0x7f) {
                buf[pos++] = '\\';
                buf[pos++] = 'x';
                buf[pos++] = hex[*p >> 4];
                buf[pos++] = hex[*p & 15];
            } else {
                buf[pos++] = (char)*p;
            }
        }
    }
    if (pos < size - 1)
        buf[pos++] = '"';
    buf[pos] = '\0';
    return pos;
}

int log_format_line(char *buf, int size, enum log_level level, const char *msg)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int pos = snprintf(
        buf, (size_t)size,
        "time=\"%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ\" level=%s msg=", tm.tm_year + 1900,
        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec, level_name(level));
    if (pos >= size)
        pos = size - 1;
    pos = append_quoted(buf, pos, size - 1, msg);
    buf[pos++] = '\n';
    buf[pos] = '\0';
    return pos;
}

void log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    if (level > log_get_level())
        return;
    char msg[3072];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    char line[4096];
    int n = log_format_line(line, sizeof(line), level, msg);
    /* A vanished reader (containerd restarting) must not hurt the shim: ignore errors. */
    (void)!write(__atomic_load_n(&log_fd, __ATOMIC_RELAXED), line, (size_t)n);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vmsg(level, fmt, ap);
    va_end(ap);
}
