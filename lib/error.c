#include "lib/error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/xalloc.h"

int error_setv(struct error *err, int code, const char *fmt, va_list ap)
{
    if (!err)
        return -1;
    char *msg = xvasprintf(fmt, ap);
    free(err->msg);
    err->msg = msg;
    err->code = code == GRPC_OK ? GRPC_UNKNOWN : code;
    return -1;
}

int error_set(struct error *err, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    error_setv(err, code, fmt, ap);
    va_end(ap);
    return -1;
}

int error_set_errno(struct error *err, int errnum, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    char *ctx = xvasprintf(fmt, ap);
    va_end(ap);
    char buf[128];
    const char *es = strerror_r(errnum, buf, sizeof(buf));
    free(err->msg);
    err->msg = xasprintf("%s: %s", ctx, es);
    err->code = errno_to_grpc(errnum);
    free(ctx);
    return -1;
}

int error_wrap(struct error *err, const char *fmt, ...)
{
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    char *ctx = xvasprintf(fmt, ap);
    va_end(ap);
    char *msg = err->msg ? xasprintf("%s: %s", ctx, err->msg) : ctx;
    if (msg != ctx)
        free(ctx);
    free(err->msg);
    err->msg = msg;
    if (err->code == GRPC_OK)
        err->code = GRPC_UNKNOWN;
    return -1;
}

void error_move(struct error *dst, struct error *src)
{
    error_clear(dst);
    *dst = *src;
    src->code = GRPC_OK;
    src->msg = NULL;
}

void error_clear(struct error *err)
{
    if (!err)
        return;
    free(err->msg);
    err->msg = NULL;
    err->code = GRPC_OK;
}

bool error_is_set(const struct error *err)
{
    return err && err->code != GRPC_OK;
}

const char *grpc_code_name(int code)
{
    static const char *const names[] = {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    };
    if (code >= 0 && code < (int)(sizeof(names) / sizeof(names[0])))
        return names[code];
    return "UNKNOWN_CODE";
}

int errno_to_grpc(int errnum)
{
    switch (errnum) {
    case ENOENT:
    case ESRCH:
        return GRPC_NOT_FOUND;
    case EEXIST:
    case EADDRINUSE:
        return GRPC_ALREADY_EXISTS;
    case EINVAL:
    case E2BIG:
    case ENAMETOOLONG:
        return GRPC_INVALID_ARGUMENT;
    case EACCES:
    case EPERM:
        return GRPC_PERMISSION_DENIED;
    case ETIMEDOUT:
        return GRPC_DEADLINE_EXCEEDED;
    case ENOSPC:
    case ENOMEM:
    case EMFILE:
    case ENFILE:
    case EMSGSIZE:
        return GRPC_RESOURCE_EXHAUSTED;
    case ENOTSUP:
    case ENOSYS:
        return GRPC_UNIMPLEMENTED;
    case ECONNREFUSED:
    case ECONNRESET:
    case EPIPE:
    case ENOTCONN:
    case EHOSTUNREACH:
    case ENODEV:
        return GRPC_UNAVAILABLE;
    case EBUSY:
        return GRPC_FAILED_PRECONDITION;
    case ECANCELED:
        return GRPC_CANCELLED;
    default:
        return GRPC_INTERNAL;
    }
}
