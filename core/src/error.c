#include "error.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local char err_msg[1024];
static _Thread_local ferry_status err_status;

ferry_status ferry_last_status(void) { return err_status ? err_status : FERRY_ERR_INVALID; }

const char *ferry_last_error(void) { return err_msg; }

void ferry_clear_error(void) { err_msg[0] = '\0'; }

/* Formatted into a scratch buffer first: a message may quote the previous one (ferry_last_error()). */
ferry_status ferry_error(ferry_status s, const char *fmt, ...)
{
    char msg[sizeof err_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    memcpy(err_msg, msg, sizeof msg);
    err_status = s;
    return s;
}

_Noreturn void ferry_abort(const char *file, int line, const char *what)
{
    fprintf(stderr, "ferry: internal error at %s:%d: %s\n", file, line, what);
    abort();
}

const char *ferry_status_name(ferry_status s)
{
    static const char *const names[] = {
        [FERRY_OK] = "FERRY_OK",
        [FERRY_ERR_INVALID] = "FERRY_ERR_INVALID",
        [FERRY_ERR_SHAPE] = "FERRY_ERR_SHAPE",
        [FERRY_ERR_IO] = "FERRY_ERR_IO",
        [FERRY_ERR_FORMAT] = "FERRY_ERR_FORMAT",
        [FERRY_ERR_CHECKSUM] = "FERRY_ERR_CHECKSUM",
        [FERRY_ERR_NOMEM] = "FERRY_ERR_NOMEM",
        [FERRY_ERR_UNSUPPORTED] = "FERRY_ERR_UNSUPPORTED",
        [FERRY_ERR_NOT_FOUND] = "FERRY_ERR_NOT_FOUND",
        [FERRY_ERR_DEVICE] = "FERRY_ERR_DEVICE",
        [FERRY_ERR_DIVERGED] = "FERRY_ERR_DIVERGED",
    };
    if ((unsigned)s < sizeof names / sizeof names[0] && names[s]) return names[s];
    return "FERRY_ERR_UNKNOWN";
}

size_t ferry_dtype_size(ferry_dtype t)
{
    return t == FERRY_I64 ? 8 : 4;
}

const char *ferry_dtype_name(ferry_dtype t) { return t == FERRY_I64 ? "I64" : t == FERRY_I32 ? "I32" : "F32"; }
