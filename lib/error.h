/* The project's one error convention.
 *
 * A function that can fail returns a negative value and fills a `struct error`: a gRPC status
 * code (what containerd and the agent understand) and a message saying what was wrong and what
 * to do. Callers add context as the error travels up ("create sandbox: start VM: ..."), and only
 * the service boundary turns it into a ttrpc status. */
#pragma once

#include <stdarg.h>
#include <stdbool.h>

enum grpc_code {
    GRPC_OK = 0,
    GRPC_CANCELLED = 1,
    GRPC_UNKNOWN = 2,
    GRPC_INVALID_ARGUMENT = 3,
    GRPC_DEADLINE_EXCEEDED = 4,
    GRPC_NOT_FOUND = 5,
    GRPC_ALREADY_EXISTS = 6,
    GRPC_PERMISSION_DENIED = 7,
    GRPC_RESOURCE_EXHAUSTED = 8,
    GRPC_FAILED_PRECONDITION = 9,
    GRPC_ABORTED = 10,
    GRPC_OUT_OF_RANGE = 11,
    GRPC_UNIMPLEMENTED = 12,
    GRPC_INTERNAL = 13,
    GRPC_UNAVAILABLE = 14,
    GRPC_DATA_LOSS = 15,
    GRPC_UNAUTHENTICATED = 16,
};

struct error {
    int code;  /* enum grpc_code; GRPC_OK while no error is set */
    char *msg; /* owned; NULL while no error is set */
};

/* clang-format off */
#define ERROR_INIT {GRPC_OK, NULL}
/* clang-format on */

/* Sets the error (replacing any previous one) and returns -1. `err` may be NULL. */
int error_set(struct error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* error_set with a va_list, for functions that take a format of their own. Returns -1. */
int error_setv(struct error *err, int code, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

/* Like error_set, with ": <strerror(errnum)>" appended. Code from errno_to_grpc(errnum). */
int error_set_errno(struct error *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Prepends "<context>: " to the message; keeps the code. Returns -1. */
int error_wrap(struct error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Moves `src` into `dst` (which is cleared first); `src` is left empty. */
void error_move(struct error *dst, struct error *src);

void error_clear(struct error *err);
bool error_is_set(const struct error *err);

/* Name of a gRPC code ("NOT_FOUND"), or "CODE(n)" for unknown values (static buffer-free). */
const char *grpc_code_name(int code);

/* The gRPC code for a failed system call's errno. */
int errno_to_grpc(int errnum);

/* For `_cleanup_(error_clear) struct error err = ERROR_INIT;` */
static inline void error_clearp(struct error *err)
{
    error_clear(err);
}
