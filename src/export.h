/* export.h - bulk export under approval (threat model A6): a stated reason, a second
 * person's approval, a daily rate limit, one fetch, and a watermark of poison records
 * unique to the requester in every export.
 *
 * State: DATA/exports/<id>.json (0600), one file per export, read-modify-write under an
 * flock on DATA/exports/LOCK:
 *   {"format":"coffer-export-1","id":"x-<16 hex>","requester":"alice","tenant":"acme",
 *    "since":RFC3339,"until":RFC3339,"reason":"...","created":RFC3339,
 *    "expires":RFC3339,"state":"pending","approver":null,"approved":null,
 *    "rejected_by":null,"rejected":null,"done":null,"events":null,"watermark":null,
 *    "withheld_set":null}
 *
 * States:
 *   pending --approve (other person, ADMIN or EXPORT on the tenant)--> approved
 *   pending --reject--> rejected          pending --24 h pass--> expired
 *   approved --fetch (requester, within 24 h of approval)--> done
 *   approved --fetch finds a planted poison record--> withheld
 *   approved --24 h pass without a fetch--> expired
 * Only the transitions above exist; done, rejected, expired and withheld are final, so
 * an export is written at most once.
 *
 * The routes and the CLI check who the caller is (ident.h / api.c) and pass names and
 * permissions in; these functions enforce the rules that concern the export itself. */
#ifndef COF_EXPORT_H
#define COF_EXPORT_H

#include <stddef.h>
#include <stdint.h>

#include "access.h"
#include "config.h"
#include "poison.h"
#include "status.h"
#include "store.h"

#define COF_EXPORT_IDLEN 18                /* "x-" + 16 hex */
#define COF_EXPORT_MAX_REASON 500          /* characters (UTF-8 code points) */
#define COF_EXPORT_WINDOW_US (24LL * 3600 * 1000000) /* approval, then fetch window */
#define COF_EXPORT_WATERMARK 8             /* synthetic events per export */
/* Export state files kept: every request leaves one (the record of who asked). */
#define COF_MAX_EXPORTS 100000
#define COF_MAX_EXPORT_FILE (64u << 10)
/* Distinct data subjects counted exactly (8 bytes each); past it the count is a floor. */
#define COF_EXPORT_MAX_SUBJECTS (1u << 22)

typedef enum {
    COF_EXPORT_PENDING = 0,
    COF_EXPORT_APPROVED,
    COF_EXPORT_REJECTED,
    COF_EXPORT_DONE,
    COF_EXPORT_EXPIRED,
    COF_EXPORT_WITHHELD
} cof_export_state;

const char *cof_export_state_name(cof_export_state s);

typedef struct {
    char id[COF_EXPORT_IDLEN + 1];
    char requester[COF_MAX_PRINCIPAL_NAME + 1];
    char tenant[COF_MAX_TENANT_NAME + 1];
    int64_t since, until;                    /* [since, until), UTC microseconds */
    char reason[4 * COF_EXPORT_MAX_REASON + 1];
    int64_t created, expires;                /* expires: approval, then fetch deadline */
    cof_export_state state;
    char approver[COF_MAX_PRINCIPAL_NAME + 1];
    int64_t approved;                        /* 0 = not */
    char rejected_by[COF_MAX_PRINCIPAL_NAME + 1];
    int64_t rejected;
    int64_t done;
    uint64_t events;                         /* real events written */
    char watermark[COF_POISON_IDLEN + 1];    /* the watermark set, once fetched */
    char withheld_set[COF_POISON_IDLEN + 1]; /* the planted set that stopped it */
} cof_export;

/* A new pending export. The reason must be 1..COF_EXPORT_MAX_REASON characters of
 * UTF-8 without control characters; since < until; the requester may have made at
 * most cfg->export_per_day requests in the last 24 h (COF_LIMIT past it). The caller
 * has checked that requester holds COF_PERM_EXPORT on tenant. */
cof_status cof_export_request(const cof_config *cfg, const char *requester, const char *tenant,
                              int64_t since, int64_t until, const char *reason, int64_t now,
                              cof_export *out) COF_MUST_USE;

/* Approve a pending export. approver_perms: the approver's permissions on the export's
 * tenant (cof_access_perms); it must hold COF_PERM_ADMIN or COF_PERM_EXPORT and must not
 * be the requester (COF_DENIED). An expired request is COF_DENIED (and marked expired). */
cof_status cof_export_approve(const char *data_dir, const char *id, const char *approver,
                              uint32_t approver_perms, int64_t now, cof_export *out) COF_MUST_USE;

/* Reject a pending export: the requester withdraws it, or someone who could approve it. */
cof_status cof_export_reject(const char *data_dir, const char *id, const char *by,
                             uint32_t by_perms, int64_t now, cof_export *out) COF_MUST_USE;

/* Read one export (pending or approved past its deadline read as expired). COF_NOTFOUND
 * for an unknown or malformed id. */
cof_status cof_export_get(const char *data_dir, const char *id, int64_t now,
                          cof_export *out) COF_MUST_USE;

/* Every export, oldest first (*out malloc'd; free with free()). */
cof_status cof_export_list(const char *data_dir, int64_t now, cof_export **out,
                           size_t *n) COF_MUST_USE;

/* Output of cof_export_write: bytes go to fn (return non-OK to stop). */
typedef cof_status (*cof_export_out_fn)(void *ctx, const void *p, size_t n);
/* Progress: rows read of rows to read (both passes together). */
typedef void (*cof_export_progress_fn)(void *ctx, uint64_t done, uint64_t total);

typedef struct {
    uint64_t events;       /* real events written */
    uint64_t watermarks;   /* synthetic events interleaved */
    uint64_t subjects;     /* distinct recipient and sender blind tokens (a floor when capped) */
    int subjects_capped;
    uint32_t categories;   /* bit per COF_F_* field returned unsealed */
    uint64_t damaged;      /* segments left out because they failed to read */
    char watermark[COF_POISON_IDLEN + 1]; /* the watermark set registered */
    cof_poison_hit hit;    /* when COF_DENIED because of a planted poison record */
    int poisoned;          /* 1 if hit is set */
} cof_export_result;

/* Write export id for requester: JSON lines (cof_output_event_jsonbuf, unsealed) of
 * every event of its tenant in [since, until), with the watermark's synthetic events
 * interleaved in time order. Two passes over the segments, nothing held in memory but
 * one block of rows:
 *   1. every real record is checked against planted poison sets: on a hit nothing is
 *      written, the export becomes "withheld", res->hit names the set and COF_DENIED is
 *      returned; the caller suspends requester (cof_change_suspend) and raises
 *      "poison.hit";
 *   2. the watermark set is registered, the export marked done (one fetch only: a
 *      failure after this point does not make it fetchable again), and the events are
 *      written.
 * COF_DENIED also when the caller is not the requester or the export is not approved
 * (or past its fetch deadline). s must be opened with the keyring (not NOKEY). */
cof_status cof_export_write(cof_store *s, cof_poison *p, const char *id, const char *requester,
                            int64_t now, cof_export_out_fn fn, void *ctx,
                            cof_export_progress_fn progress, void *pctx,
                            cof_export_result *res) COF_MUST_USE;

/* JSON array of the data categories in a result's mask (for audit params), e.g.
 * ["recipient address","delivery metadata"]; into out (cap >= 200). */
const char *cof_export_categories(uint32_t mask, char *out, size_t cap);

#endif
