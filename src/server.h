/* server.h - `coffer serve`: the HTTPS API and the syslog intake over one store.
 *
 * Secure defaults (docs/API.md): listeners bind loopback unless configured; a
 * non-loopback listener refuses to start without an operator-provided certificate
 * (coffer's self-signed loopback certificate does not count); TLS 1.2+ with AEAD
 * suites only; every route but /healthz needs a bearer token; there is no setting
 * that disables authentication. SIGTERM drains (no acknowledged event is lost), SIGHUP
 * reloads certificates and the access document. */
#ifndef COF_SERVER_H
#define COF_SERVER_H

#include "config.h"
#include "status.h"

typedef struct {
    const char *listen;         /* overrides config and access document */
    const char *syslog_listen;
    const char *syslog_plain_listen;
    int quiet;
} cof_serve_opts;

/* Run until SIGTERM/SIGINT; returns the status of the shutdown. */
cof_status cof_server_run(const cof_config *cfg, const cof_serve_opts *o) COF_MUST_USE;

/* The default certificate and key paths (next to the master key, outside the data
 * directory): DIR_OF(key_file)/tls/server.crt and server.key. */
void cof_server_default_tls(const cof_config *cfg, char *cert, size_t ccap, char *key,
                            size_t kcap);

#endif
