/* remote.h - the CLI's query commands against a running server (--server URL
 * --token-file F), over HTTPS only, through libcurl's GnuTLS build (coffer's one TLS
 * stack). The token file must be private (mode 0600, owned by the caller); the token
 * is sent only in the Authorization header, never on a command line or in a URL. */
#ifndef COF_REMOTE_H
#define COF_REMOTE_H

#include <stddef.h>

#include "status.h"

typedef struct {
    const char *server;     /* https://HOST:PORT */
    const char *token_file;
    const char *cacert;     /* PEM CA file; NULL: the local self-signed certificate if present,
                               else the system store */
} cof_remote;

/* kv: nkv pairs (key, value), URL-encoded here. *body malloc'd (NUL-terminated). */
cof_status cof_remote_get(const cof_remote *r, const char *path, const char *const *kv, size_t nkv,
                          long *http_status, char **body) COF_MUST_USE;

/* `coffer search --server`: follows cursors up to limit events (0: all). Exit status. */
int cof_remote_search(const cof_remote *r, const char *const *kv, size_t nkv, size_t limit, int json);
/* `coffer stats --server`. Exit status. */
int cof_remote_stats(const cof_remote *r, const char *const *kv, size_t nkv, int json);

#endif
