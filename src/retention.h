/* retention.h - per-tenant retention by crypto-shredding (docs/RETENTION.md).
 *
 * A tenant keeps cof_access_retention_days(a, tenant) days (0 = forever). A tenant-day
 * D is due when D < today - days (UTC days since 1970-01-01): with 7 days and today
 * 2026-11-24, 2026-11-17 is kept and 2026-11-16 is shredded. Shredding a tenant-day
 * removes its segments from the store and destroys its data key; after every due day
 * is shredded the master key is rotated, so an older copy of the keyring (a backup, a
 * snapshot, a copied data directory) no longer opens with the current key file and
 * the old key file no longer opens the current keyring (THREAT-MODEL.md A8).
 *
 * Thread safety: none inside; the caller serializes store calls (the CLI is single
 * threaded, the server calls cof_retention_run under its store mutex). */
#ifndef COF_RETENTION_H
#define COF_RETENTION_H

#include <stddef.h>
#include <stdint.h>

#include "access.h"
#include "bounds.h"
#include "status.h"
#include "store.h"

#define COF_RETENTION_PENDING "retention.pending" /* DATA/ marker: rotation owed */
#define COF_RETENTION_MAX_DAYS 36500u             /* the access document's bound */

typedef struct {
    char tenant[COF_MAX_TENANT_NAME + 1];
    uint32_t days;         /* retention in days; 0 = keep forever */
    uint32_t days_held;    /* tenant-days with a live data key */
    uint32_t oldest_day;   /* oldest of them (UTC day number); 0 when none held */
    uint32_t days_due;     /* held days older than the cutoff */
    uint32_t first_due, last_due; /* range of the due days (0 when none) */
    uint64_t events_due;   /* events in the segments of the due days */
    uint32_t segments_due;
} cof_retention_tenant;

typedef struct {
    int64_t now;               /* the time the plan was made for (UTC microseconds) */
    uint32_t today;            /* its UTC day */
    cof_retention_tenant *t;   /* sorted by tenant name */
    size_t n;
    /* cof_retention_run only: */
    uint32_t days_shredded;    /* data keys destroyed by this run */
    uint64_t events_shredded;  /* events in the segments removed */
    uint32_t segments_removed;
    int rotated;               /* the master key was rotated */
    int rotation_resumed;      /* an earlier run's pending rotation was completed */
} cof_retention_report;

/* What a run at now would do; changes nothing. Needs the keyring (the store opened
 * with the master key; read-only is fine). A NULL document keeps everything. */
cof_status cof_retention_plan(cof_store *s, const cof_access *a, int64_t now,
                              cof_retention_report *rep) COF_MUST_USE;

/* Shred every due tenant-day, then rotate the master key (see retention.c for the
 * crash-safe order). s must be opened for writing. rep is filled as by the plan
 * plus what was done; free it with cof_retention_report_free even on error. */
cof_status cof_retention_run(cof_store *s, const cof_access *a, int64_t now,
                             cof_retention_report *rep) COF_MUST_USE;

void cof_retention_report_free(cof_retention_report *rep);

/* Audit params and alert details of a report: a JSON object (no personal value: tenant
 * names, day numbers and counts). *out malloc'd. */
cof_status cof_retention_report_json(const cof_retention_report *rep, int dry_run,
                                     char **out) COF_MUST_USE;

#endif
