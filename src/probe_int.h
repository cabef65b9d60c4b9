/* probe_int.h - internals shared by probe.c (engine), probe_svc.c (binary protocols),
 * probe_http.c (HTTP, TLS and coffer) and probe_parse.c (pure parsers, fuzzed). */
#ifndef COF_PROBE_INT_H
#define COF_PROBE_INT_H

#include <gnutls/gnutls.h>
#include <pthread.h>

#include "probe.h"
#include "str.h"

/* One open endpoint handed to the detectors. */
typedef struct {
    int family;
    uint8_t addr[16];
    uint16_t port;
    char addr_text[64];
    const char *name; /* the name the operator gave (Host header, TLS name) */
    const cof_probe_opts *o;
} cof_probe_ep;

/* Findings of one run (shared by the detector threads). */
typedef struct {
    cof_finding *v;
    size_t n, cap;
    pthread_mutex_t mu;
} cof_findings;

void cof_probe_add(cof_findings *f, const cof_probe_ep *ep, const char *service,
                   const char *check, cof_severity sev, const char *fix, const char *fmt, ...)
    COF_PRINTF(7, 8);

/* A connection: plain or TLS. */
typedef struct {
    int fd;
    gnutls_session_t tls;
    gnutls_certificate_credentials_t cred;
    const cof_probe_opts *o;
} cof_probe_conn;

/* Blocking-with-timeout connect (connect_timeout_ms); 0 on success. */
int cof_probe_connect(const cof_probe_ep *ep, cof_probe_conn *c);
/* TLS handshake on a connected c; 0 on success. verified/pinned report the checks. */
int cof_probe_tls(const cof_probe_ep *ep, cof_probe_conn *c, int *verified, int *pinned,
                  char *why, size_t whycap);
int cof_probe_send(cof_probe_conn *c, const void *b, size_t n);
/* Read until `until` returns nonzero on what was read so far, EOF, cap, or the read
 * timeout (wait_ms; -1: read_timeout_ms). Returns bytes read, -1 on error. */
long cof_probe_recv(cof_probe_conn *c, uint8_t *buf, size_t cap, int wait_ms,
                    int (*until)(const uint8_t *b, size_t n));
void cof_probe_close(cof_probe_conn *c);

/* Detectors. cof_probe_detect runs the identification sequence on one endpoint. */
void cof_probe_detect(const cof_probe_ep *ep, cof_findings *f);
/* HTTP family (probe_http.c). tls: 1 to speak HTTPS. first: an answer already seen
 * to the PING probe (may be NULL). Returns 1 if the endpoint spoke HTTP. */
int cof_probe_http(const cof_probe_ep *ep, cof_findings *f, int tls);

/* ---- pure parsers (probe_parse.c); all bounded, never trust a declared length ---- */

/* HTTP/1.x response: COF_AGAIN if the head is incomplete. */
typedef struct {
    int status;
    cof_str head; /* header lines */
    cof_str body; /* what was read after the head (de-chunked if chunked and complete) */
} cof_http_resp;
cof_status cof_http_parse(const uint8_t *b, size_t n, uint8_t *scratch, size_t scratch_cap,
                          cof_http_resp *r) COF_MUST_USE;
/* Value of a header (case-insensitive name), trimmed; COF_STR_NULL if absent. */
cof_str cof_http_header(cof_str head, const char *name);

/* Redis INFO: version and the total keys over all databases. */
typedef struct {
    char version[32];
    uint64_t keys;
    unsigned dbs;
} cof_redis_info;
cof_status cof_redis_info_parse(const uint8_t *b, size_t n, cof_redis_info *out) COF_MUST_USE;

/* memcached "stats". */
typedef struct {
    char version[32];
    uint64_t items;
    int have_items;
} cof_mc_stats;
cof_status cof_mc_stats_parse(const uint8_t *b, size_t n, cof_mc_stats *out) COF_MUST_USE;

/* PostgreSQL backend messages after a StartupMessage. auth: -1 unknown, else the
 * AuthenticationRequest code (0 = ok/trust, 3 clear, 5 md5, 10 SASL). */
typedef struct {
    int auth;
    int error;
    char version[32];
} cof_pg_reply;
cof_status cof_pg_parse(const uint8_t *b, size_t n, cof_pg_reply *out) COF_MUST_USE;

/* MySQL/MariaDB initial handshake (protocol 10). */
typedef struct {
    char version[64];
    uint32_t caps;
    uint8_t seq;
    char plugin[40];
} cof_my_greeting;
cof_status cof_my_greeting_parse(const uint8_t *b, size_t n, cof_my_greeting *out) COF_MUST_USE;
/* First payload byte of the packet in b (0x00 OK, 0xFF ERR, 0xFE switch), seq too. */
cof_status cof_my_packet_kind(const uint8_t *b, size_t n, int *kind, uint8_t *seq) COF_MUST_USE;

/* MongoDB OP_MSG reply: ok, database count (listDatabases), version (buildInfo). */
typedef struct {
    int is_reply;
    double ok;
    int have_ok;
    long ndatabases;  /* -1 if absent */
    char first_db[64];
    char version[32];
    int auth_error;   /* errmsg/codeName says authentication/unauthorized */
} cof_mongo_reply;
cof_status cof_mongo_parse(const uint8_t *b, size_t n, cof_mongo_reply *out) COF_MUST_USE;

/* A directory listing ("Index of /"): log-like file names. */
typedef struct {
    int is_listing;
    unsigned nlogs;
    char example[64];
} cof_dirlist;
void cof_dirlist_parse(cof_str body, cof_dirlist *out);

/* Printable, single-line, truncated copy of untrusted text for evidence. */
void cof_probe_clean(const char *in, size_t n, char *out, size_t cap);

#endif
