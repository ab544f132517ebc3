/* Internal: setting the thread's error message. */
#ifndef FERRY_ERROR_H
#define FERRY_ERROR_H

#include "ferry/base.h"

/* Sets the thread's message (printf-style) and returns s, so callers write
 *   return ferry_error(FERRY_ERR_FORMAT, "%s: header length %llu past end of file", path, n); */
ferry_status ferry_error(ferry_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ferry_clear_error(void);
/* The status of the thread's last ferry_error (FERRY_ERR_INVALID when none was set). */
ferry_status ferry_last_status(void);

/* Internal invariant violated: print file:line and abort. Never for bad user input. */
#define FERRY_ASSERT(cond)                                                                       \
    do {                                                                                         \
        if (!(cond)) ferry_abort(__FILE__, __LINE__, #cond);                                     \
    } while (0)
_Noreturn void ferry_abort(const char *file, int line, const char *what);

#endif
