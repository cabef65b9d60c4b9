/* query.h - the two questions people ask of delivery logs: "what happened to this
 * mail?" (trail) and "how is delivery going?" (stats).
 *
 * Trail lookups are exact-match only: a personal field is found through its blind
 * token (computed per tenant, so the query needs the keyring), a clear field through
 * the segment dictionary; both go through per-segment indexes, never a segment scan.
 * Statistics read clear columns only and never need a personal-field key. */
#ifndef COF_QUERY_H
#define COF_QUERY_H

#include <stdint.h>

#include "store.h"

typedef struct {
    cof_field field;       /* recipient, sender, message_id, queue_id, sasl_username, client_ip */
    cof_str value;
    int64_t since, until;  /* [since, until) in UTC microseconds */
    const char *tenant;    /* NULL: every tenant */
    int unseal;            /* decrypt sealed fields (needs the keyring) */
    size_t limit;          /* max events; 0: COF_MAX_TRAIL_EVENTS */
} cof_trail_query;

/* An owned event of a trail (strings live with the result). */
typedef struct {
    cof_record r;
    uint64_t seg_id;
    uint32_t row;
} cof_trail_event;

typedef struct {
    cof_trail_event *ev; /* grouped by message (host, instance, queue id), groups oldest
                            first, events oldest first within a group */
    size_t n;
    int truncated;       /* more matched than limit */
    uint64_t segments_read;
    void *mem;           /* internal */
} cof_trail;

cof_status cof_query_trail(cof_store *s, const cof_trail_query *q, cof_trail *out) COF_MUST_USE;
void cof_trail_free(cof_trail *t);

/* Group-by dimensions for stats. */
enum {
    COF_BY_STATUS = 1,
    COF_BY_DSN_CLASS = 2,
    COF_BY_RCPT_DOMAIN = 4,
    COF_BY_RELAY = 8,
    COF_BY_TENANT = 16
};
cof_status cof_stats_by_parse(cof_str list, uint32_t *mask) COF_MUST_USE;

#define COF_HIST_BUCKETS 1024

typedef struct {
    int64_t bucket_start;  /* INT64_MIN when not bucketed */
    uint8_t status;
    char dsn_class;        /* '2', '4', '5' or 0 */
    const char *rcpt_domain, *relay, *tenant; /* NULL when not grouped by them */
    uint64_t count;
    uint64_t delay_n;      /* events with a logged delay */
    int32_t p50_ms, p90_ms, p99_ms;
} cof_stats_row;

typedef struct {
    cof_stats_row *rows;
    size_t n;
    uint64_t total, scanned;
    double seconds;
    void *mem; /* internal */
} cof_stats;

cof_status cof_query_stats(cof_store *s, uint32_t by, int64_t bucket_us, int64_t since,
                           int64_t until, const char *tenant, cof_stats *out) COF_MUST_USE;
void cof_stats_free(cof_stats *st);

/* The masked form of a value for callers without the key: "***@domain", a network
 * prefix, or "***". With the value (unsealed), "j***@example.com". */
void cof_query_mask(cof_field f, cof_str sealed, cof_str clear, char *out, size_t cap);

#endif
