/* incident.h - what the audit trail says about a time window: who (principal, source
 * address) made which requests, how many events of which tenants and data categories
 * each received, how many distinct data subjects, and the facts a GDPR article 33
 * notification needs (docs/INCIDENT.md).
 *
 * The report is built only from an audit trail that verifies (cof_audit_verify with
 * the given public key); records are still parsed as hostile input (a verified trail
 * may have been written by a compromised writer holding the key), and every count and
 * every set is bounded (limits below).
 *
 * Params the report reads (audit.h records): "value" (blind token "b:" + 32 hex of the
 * looked-up personal value), "subjects" (distinct data subjects in a multi-subject
 * answer), "unsealed" (personal fields returned in clear), "categories" (data
 * categories returned). Without "categories" they are derived from the action. */
#ifndef COF_INCIDENT_H
#define COF_INCIDENT_H

#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "audit.h"
#include "config.h"
#include "status.h"

/* Distinct (principal, source) pairs in one report: past it, narrow the query. */
#define COF_INCIDENT_MAX_GROUPS 10000
/* Distinct actions per pair and tenants per pair or overall; the rest are counted
 * under "(other)". */
#define COF_INCIDENT_MAX_KEYS 256
/* Distinct blind tokens held in memory over all sets (a token is 34 bytes plus the
 * hash table's overhead, so ~200 MB); past it the subject counts are lower bounds and
 * the report says "at least". */
#define COF_INCIDENT_MAX_SUBJECTS 2000000
/* Categories named in one record's "categories" that are read. */
#define COF_INCIDENT_MAX_CATEGORIES 16
/* One record's "subjects" count is believed up to this (bigger is damage). */
#define COF_INCIDENT_MAX_SUBJECTS_PER_RECORD 100000000

typedef struct {
    int64_t from, to;      /* [from, to) UTC microseconds; 0 = open */
    const char *principal; /* exact, or NULL */
    int has_source;
    cof_netmask source;    /* source addresses inside this network only */
} cof_incident_query;

/* Verify the trail under data_dir with pk, then build the report. *rep gets the
 * verification result; when the trail is broken the return is COF_CORRUPT (nothing is
 * reported: see rep->file, line, seq, problem). *out is a JSON object (format in
 * docs/INCIDENT.md) the caller json_decref's. */
cof_status cof_incident_report(const char *data_dir, const uint8_t pk[32],
                               const cof_incident_query *q, cof_audit_report *rep,
                               json_t **out) COF_MUST_USE;

/* The report as text a data protection officer can read. */
cof_status cof_incident_text(const json_t *report, FILE *f) COF_MUST_USE;

#endif
