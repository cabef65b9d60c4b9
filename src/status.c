/* status.c - status names and the thread-local error detail. */
#include "status.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static _Thread_local char err_msg[512];
static _Thread_local char err_where[128];

const char *cof_status_str(cof_status st)
{
    switch (st) {
    case COF_OK: return "ok";
    case COF_AGAIN: return "again";
    case COF_BADINPUT: return "bad input";
    case COF_CORRUPT: return "corrupt";
    case COF_IO: return "I/O error";
    case COF_NOMEM: return "out of memory";
    case COF_DENIED: return "denied";
    case COF_NOTFOUND: return "not found";
    case COF_LIMIT: return "limit exceeded";
    case COF_FULL: return "no space left";
    case COF_EXISTS: return "already exists";
    }
    return "unknown status";
}

static void set_where(const char *file, int line)
{
    const char *base = strrchr(file, '/');
    snprintf(err_where, sizeof err_where, "%s:%d", base ? base + 1 : file, line);
}

cof_status cof_err_set(cof_status st, const char *file, int line, const char *fmt, ...)
{
    /* Format aside first: callers may pass cof_err_msg() itself as an argument
     * ("reading X: %s", cof_err_msg()), which vsnprintf must not overwrite as it reads. */
    char tmp[sizeof err_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    memcpy(err_msg, tmp, sizeof err_msg);
    set_where(file, line);
    return st;
}

cof_status cof_err_errno(const char *file, int line, const char *fmt, ...)
{
    int e = errno;
    cof_status st = COF_IO;
    if (e == ENOSPC || e == EDQUOT)
        st = COF_FULL;
    else if (e == EACCES || e == EPERM || e == EROFS)
        st = COF_DENIED;
    else if (e == ENOENT)
        st = COF_NOTFOUND;
    else if (e == ENOMEM)
        st = COF_NOMEM;
    char tmp[sizeof err_msg];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof tmp)
        snprintf(tmp + n, sizeof tmp - (size_t)n, ": %s", strerror(e));
    memcpy(err_msg, tmp, sizeof err_msg);
    set_where(file, line);
    errno = e;
    return st;
}

const char *cof_err_msg(void) { return err_msg; }
const char *cof_err_where(void) { return err_where; }
void cof_err_clear(void) { err_msg[0] = 0; err_where[0] = 0; }
