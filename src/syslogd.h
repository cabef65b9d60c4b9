/* syslogd.h - the syslog intake: RFC 5425 syslog over TLS with client certificates,
 * and plain TCP on loopback only.
 *
 * Each accepted connection gets a thread (bounded by max_conns; extra connections are
 * closed at once). TLS connections must present a client certificate that chains to
 * the configured CA; its SHA-256 fingerprint is mapped to an ingest principal through
 * the authz callback (the access document). Frames (framer.h) become log lines
 * (cof_syslog_to_line) and are handed to the sink in batches, in arrival order per
 * connection. A sink error other than COF_LIMIT closes the connection (the peer
 * reconnects and resends what TCP did not deliver). Idle connections are closed after
 * idle_seconds; a TLS handshake must finish within handshake_seconds. */
#ifndef COF_SYSLOGD_H
#define COF_SYSLOGD_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "str.h"

#define COF_SYSLOG_BATCH_LINES 4096

typedef struct cof_syslogd cof_syslogd;

/* Map a client certificate to a principal. OK and principal filled, or COF_DENIED
 * (the connection is closed and the failure counted). */
typedef cof_status (*cof_syslog_authz_fn)(void *ctx, const char fp_sha256[65], const char *peer,
                                          char principal[65]);
/* Take a batch of lines from one principal. */
typedef cof_status (*cof_syslog_sink_fn)(void *ctx, const char *principal, const char *peer,
                                         const cof_str *lines, size_t n);
/* Report an event worth auditing/alerting ("auth", "protocol", "limit"), never with
 * message content. */
typedef void (*cof_syslog_note_fn)(void *ctx, const char *what, const char *peer,
                                   const char *detail);

typedef struct {
    const char *tls_listen;    /* "HOST:PORT" or NULL */
    const char *plain_listen;  /* "HOST:PORT" or NULL; must be a loopback address */
    const char *plain_principal; /* principal for plain loopback senders ("local") */
    const char *cert_pem, *key_pem; /* server certificate and key (PEM text) */
    const char *client_ca_pem; /* CA for client certificates (PEM text); required for TLS */
    uint32_t max_conns;        /* default 256 */
    uint32_t idle_seconds;     /* default 300 */
    uint32_t handshake_seconds;/* default 10 */
    cof_syslog_authz_fn authz;
    cof_syslog_sink_fn sink;
    cof_syslog_note_fn note;
    void *ctx;
} cof_syslogd_opts;

typedef struct {
    uint64_t conns_accepted, conns_rejected, auth_failures, frames, bad_frames, lines;
} cof_syslogd_stats;

/* Bind and start (threads run until stop). COF_DENIED if plain_listen is not loopback. */
cof_status cof_syslogd_start(const cof_syslogd_opts *o, cof_syslogd **out) COF_MUST_USE;
/* The bound port of the TLS (tls = 1) or plain listener (for ":0" in tests). */
uint16_t cof_syslogd_port(const cof_syslogd *d, int tls);
/* Replace the certificates (SIGHUP); existing connections keep theirs. */
cof_status cof_syslogd_reload(cof_syslogd *d, const char *cert_pem, const char *key_pem,
                              const char *client_ca_pem) COF_MUST_USE;
void cof_syslogd_stats_get(const cof_syslogd *d, cof_syslogd_stats *s);
/* Stop accepting, let every connection deliver what it has read, join, free. */
void cof_syslogd_stop(cof_syslogd *d);

/* Parse "HOST:PORT" / "[V6]:PORT" into a sockaddr (numeric hosts only, plus
 * "localhost"); *loopback = 1 for 127/8 and ::1. */
struct sockaddr_storage;
cof_status cof_net_parse_hostport(const char *s, struct sockaddr_storage *ss,
                                  unsigned *sslen, int *loopback) COF_MUST_USE;

#endif
