/* subject.h - data-subject tools: every event about an address (GDPR article 15
 * access) and its erasure (article 17). docs/SUBJECT.md.
 *
 * "About an address": the address is the event's recipient, original recipient,
 * sender or SASL username (the fields of cof_field where an address appears), found
 * by exact match exactly as `coffer search` finds it (cof_query_trail: the blind index
 * of a sealed field, the dictionary of a clear one), per tenant.
 *
 * Erasure rewrites every segment holding a matching row without those rows (new
 * segment id, same tenant-day, indexes rebuilt by the segment writer), replaces the
 * MANIFEST and deletes the old files (store.h maintenance rules; crash-safe). Rows
 * still in the WAL or the memtable are flushed into segments first. */
#ifndef COF_SUBJECT_H
#define COF_SUBJECT_H

#include <stddef.h>
#include <stdint.h>

#include "query.h"
#include "status.h"
#include "store.h"

#define COF_SUBJECT_NFIELDS 4
/* Tenants one subject request may name: bounds the per-tenant receipts. */
#define COF_SUBJECT_MAX_TENANTS 1024
/* Erasure passes: each removes up to COF_MAX_TRAIL_EVENTS rows; a subject with more
 * than this many passes' worth of events is reported as not fully erased. */
#define COF_SUBJECT_MAX_PASSES 1000

/* The fields searched, in this order (bit i of cof_subject_event.matched). */
extern const cof_field cof_subject_fields[COF_SUBJECT_NFIELDS];

typedef struct {
    cof_trail_event e;  /* strings owned by the result */
    const char *tenant; /* = e.r.clear[COF_F_TENANT], NUL-terminated copy */
    uint32_t matched;   /* bit i: the address is in cof_subject_fields[i] */
} cof_subject_event;

typedef struct {
    cof_subject_event *ev; /* oldest first; each event once */
    size_t n;
    int truncated;         /* a field's lookup hit COF_MAX_TRAIL_EVENTS */
    void *mem;             /* internal */
} cof_subject_result;

/* Every event about address in the given tenants. unseal: decrypt sealed fields
 * (articles 15 copies need them); the caller has checked the permissions. */
cof_status cof_subject_find(cof_store *s, const char *const *tenants, size_t ntenants,
                            cof_str address, int unseal, cof_subject_result *out) COF_MUST_USE;
void cof_subject_result_free(cof_subject_result *r);

typedef struct {
    char tenant[COF_MAX_TENANT_NAME + 1];
    uint64_t events;             /* rows erased */
    uint32_t segments_rewritten; /* replaced by a segment without those rows */
    uint32_t segments_removed;   /* every row was about the address */
    uint64_t remaining;          /* found again after erasing (0 unless something failed) */
} cof_subject_erased;

/* Erase every event about address in tenants; out[i] reports tenants[i]. s must be
 * opened for writing. On error, out holds what was erased before it (each segment
 * rewrite is atomic). */
cof_status cof_subject_erase(cof_store *s, const char *const *tenants, size_t ntenants,
                             cof_str address, cof_subject_erased *out) COF_MUST_USE;

/* Data categories of personal fields present in the events (for the audit record's
 * "categories": "recipient address", "sender address", "client IP", "SASL username",
 * "subject", "message-id", "delivery metadata"): bit i of the result names
 * cof_subject_category_names[i]. */
#define COF_SUBJECT_NCATEGORIES 7
extern const char *const cof_subject_category_names[COF_SUBJECT_NCATEGORIES];
uint32_t cof_subject_categories(const cof_subject_result *r);

#endif
