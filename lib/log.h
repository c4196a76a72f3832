/* One line per event in containerd's logrus text form:
 *   time="2026-11-23T11:17:27.123456789Z" level=info msg="..."
 * written with a single write(2) to the log fd (stderr unless changed), so lines from
 * concurrent threads never interleave. Never log init-data contents or policies. */
#pragma once

#include <stdarg.h>

enum log_level { LOG_LEVEL_ERROR, LOG_LEVEL_WARN, LOG_LEVEL_INFO, LOG_LEVEL_DEBUG };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* The fd lines go to (default 2). The caller keeps ownership. */
void log_set_fd(int fd);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap);

/* Formats one line into buf (always NUL-terminated); returns its length. For tests. */
int log_format_line(char *buf, int size, enum log_level level, const char *msg);

#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LEVEL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
