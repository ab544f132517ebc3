/* Ferry — status codes, errors and element types shared by every part of the library. */
#ifndef FERRY_BASE_H
#define FERRY_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define FERRY_VERSION_STRING "0.1.0"

/* Every fallible library call returns one of these; the message that goes with a non-OK status
 * (naming the file, tensor or shape concerned) is available from ferry_last_error(). */
typedef enum ferry_status {
    FERRY_OK = 0,
    FERRY_ERR_INVALID,     /* bad argument or option */
    FERRY_ERR_SHAPE,       /* tensor shapes do not fit the operation */
    FERRY_ERR_IO,          /* open/read/write/rename failed */
    FERRY_ERR_FORMAT,      /* file contents are malformed */
    FERRY_ERR_CHECKSUM,    /* file contents differ from the recorded SHA-256 */
    FERRY_ERR_NOMEM,       /* allocation failed */
    FERRY_ERR_UNSUPPORTED, /* valid request this build or backend cannot do */
    FERRY_ERR_NOT_FOUND,   /* named thing (data set, tensor, parameter) does not exist */
    FERRY_ERR_DEVICE,      /* backend or device failure */
    FERRY_ERR_DIVERGED,    /* training produced a non-finite loss or parameter */
} ferry_status;

/* Message of the last error set on this thread ("" if none). Valid until the next error. */
const char *ferry_last_error(void);
/* Name of a status code, e.g. "FERRY_ERR_FORMAT". */
const char *ferry_status_name(ferry_status s);

typedef enum ferry_dtype {
    FERRY_F32 = 0,
    FERRY_I32 = 1,
    FERRY_I64 = 2, /* files only (a PyTorch state dict's counters): tensors and stores hold F32 and I32 */
} ferry_dtype;

size_t ferry_dtype_size(ferry_dtype t);
const char *ferry_dtype_name(ferry_dtype t);

#define FERRY_MAX_DIMS 4

/* Creates dir and every missing parent (mode 0755); FERRY_OK when it exists afterwards, else an
 * error naming the path. */
ferry_status ferry_mkdir_p(const char *dir);
/* Creates the missing parent folders of a file path (nothing for a bare file name). */
ferry_status ferry_mkdir_parents(const char *path);
/* Seconds on a monotonic clock (for durations). */
double ferry_now_s(void);

#ifdef __cplusplus
}
#endif
#endif
