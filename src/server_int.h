/* server_int.h - state shared by server.c (lifecycle) and api.c (routes). */
#ifndef COF_SERVER_INT_H
#define COF_SERVER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>

#include <microhttpd.h>

#include "access.h"
#include "alert.h"
#include "audit.h"
#include "config.h"
#include "guard.h"
#include "intake.h"
#include "server.h"
#include "store.h"
#include "syslogd.h"

#define COF_MAX_BATCH_LINES 100000 /* lines in one POST /v1/events */
#define COF_LAT_BUCKETS 8

typedef struct cof_server {
    const cof_config *cfg;
    cof_store *store;
    pthread_mutex_t store_mu;   /* every store call (segment handles are not thread-safe) */
    cof_intake *intake;
    struct cof_poison *poison;  /* trap records; read and reloaded under store_mu */
    cof_audit *audit;
    cof_alerts *alerts;
    cof_tokens *tokens;
    cof_guard *guard;
    cof_syslogd *syslogd;
    struct MHD_Daemon *mhd;
    uint8_t *audit_blind_key;   /* sodium_malloc: keyring subkey "audit-blind" */
    uint8_t *cursor_key;        /* sodium_malloc: keyring subkey "api-cursor" */

    /* access document: immutable once loaded; swapped whole under access_mu when the
     * file changes; readers hold a reference for the length of a request */
    pthread_mutex_t access_mu;
    struct access_ref *access;
    struct stat access_st;
    int64_t access_checked_us;

    /* TLS credentials for the API (swapped on SIGHUP; old ones kept until exit) */
    pthread_mutex_t tls_mu;
    void *creds;                /* gnutls_certificate_credentials_t */
    void *old_creds[64];
    unsigned nold;

    /* connection tracking for the head deadline (slowloris) */
    pthread_mutex_t conn_mu;
    struct conn_info *conns;
    pthread_t sweeper;
    atomic_int stopping;
    atomic_int audit_alerted;   /* the audit.failed alert went out (once) */

    /* metrics */
    atomic_uint_fast64_t req_total, req_by_class[6], auth_failures, lockouts, alerts_raised,
        events_returned, unsealed_returned, ingest_lines, conns_open, conns_killed;
    atomic_uint_fast64_t lat_hist[COF_LAT_BUCKETS + 1];
    atomic_uint_fast64_t lat_sum_us;
    int64_t started_us;
    char api_url[400];
} cof_server;

typedef struct conn_info {
    struct conn_info *prev, *next;
    int fd;
    int64_t head_start; /* 0 while a request is being handled */
    int killed;
} conn_info;

/* api.c: the MHD access handler and completion callback. */
enum MHD_Result cof_api_handler(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_size, void **req_cls);
void cof_api_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                       enum MHD_RequestTerminationCode toe);

typedef struct access_ref {
    cof_access *a;
    int refs; /* under access_mu */
} access_ref;

/* server.c helpers used by api.c */
/* The current access document (re-read first if the file changed; checked at most
 * every 100 ms unless fresh); put it back. */
access_ref *cof_server_access_get(cof_server *s, int fresh);
void cof_server_access_put(cof_server *s, access_ref *r);
void cof_server_alert(cof_server *s, const char *kind, cof_severity sev, const char *summary,
                      const char *details_json);

#endif
