/* status.h - coffer's status codes and the error detail that travels with them.
 *
 * Every fallible function returns a cof_status and writes results through pointers.
 * A failing function may record a human-readable detail with COF_ERR(); the detail
 * is thread-local, carries the file and line that detected the problem, and must
 * never contain a personal value (addresses, IPs, usernames, message-ids, subjects)
 * nor key material: callers pass field names, paths and counts only. */
#ifndef COF_STATUS_H
#define COF_STATUS_H

#include <stddef.h>

typedef enum {
    COF_OK = 0,
    COF_AGAIN = 1,       /* not an error: need more bytes / try later */
    COF_BADINPUT = -1,   /* malformed input from outside (log line, config, argument) */
    COF_CORRUPT = -2,    /* on-disk data failed validation (checksum, bounds, AEAD) */
    COF_IO = -3,         /* operating system I/O error (errno kept in the detail) */
    COF_NOMEM = -4,      /* allocation failed or a configured memory bound was reached */
    COF_DENIED = -5,     /* permission, key or mode check refused the operation */
    COF_NOTFOUND = -6,   /* the named thing does not exist */
    COF_LIMIT = -7,      /* a bound from bounds.h was exceeded */
    COF_FULL = -8,       /* no space left on device */
    COF_EXISTS = -9      /* refused to overwrite something that exists */
} cof_status;

#define COF_MUST_USE __attribute__((warn_unused_result))
#define COF_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* Short stable name of a status ("bad input", "corrupt", ...). Never NULL. */
const char *cof_status_str(cof_status st);

/* Record the detail for the current thread's last error; returns st so call sites
 * can write `return COF_ERR(COF_CORRUPT, "segment %s: bad footer", path);`. */
cof_status cof_err_set(cof_status st, const char *file, int line, const char *fmt, ...)
    COF_PRINTF(4, 5);
#define COF_ERR(st, ...) cof_err_set((st), __FILE__, __LINE__, __VA_ARGS__)

/* Like COF_ERR, appending strerror(errno) and mapping ENOSPC to COF_FULL,
 * EACCES/EPERM/EROFS to COF_DENIED and ENOENT to COF_NOTFOUND. */
cof_status cof_err_errno(const char *file, int line, const char *fmt, ...) COF_PRINTF(3, 4);
#define COF_ERRNO(...) cof_err_errno(__FILE__, __LINE__, __VA_ARGS__)

/* The last detail recorded on this thread ("" if none), and where it was raised. */
const char *cof_err_msg(void);
const char *cof_err_where(void);
void cof_err_clear(void);

#endif
