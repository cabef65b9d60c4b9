/* change.h - every change of the access document is a proposal under review
 * (docs/GOVERNANCE.md).
 *
 * A proposal is a whole new access document. It is evaluated against the current one
 * (change_eval.c): who gains or loses which role on which tenants, listeners that become
 * reachable, governed settings that move, and critical findings. Then:
 *  - a change that only narrows access (a grant removed or shortened, a principal
 *    suspended or removed, a listener closed, a lockdown declared) takes effect at once
 *    on one administrator's word: an operator told of an exposure must close it in
 *    seconds;
 *  - anything that widens waits for approvals by distinct other administrators:
 *    `required` people in all, the proposer included (gov.approvals, default 2), plus
 *    one more for each proposal with a critical finding. The proposer cannot approve
 *    its own proposal; a second token of the same principal is the same person;
 *  - lifting a lockdown is a widening change that always needs two people (one with
 *    gov.single_admin);
 *  - a proposal expires after gov.proposal_ttl_hours; a proposal whose base version is
 *    no longer current when it would apply becomes "stale" (re-propose on the new
 *    document): approvals are given to a concrete diff, never to a moving target.
 *
 * Files: DATA/changes/<id>.json (0600; format in docs/GOVERNANCE.md), one per proposal,
 * replaced atomically; DATA/access.lock (flock) serialises every read-modify-write of
 * access.json and of change files. Applying = write the new access.json with version
 * base+1, then mark the change applied; a crash between the two leaves a document whose
 * version is base+1 and a change still "approved-pending": cof_change_load repairs it by
 * comparing the document (the applied version records which change made it). */
#ifndef COF_CHANGE_H
#define COF_CHANGE_H

#include <stdint.h>

#include "access.h"
#include "alert.h"
#include "config.h"
#include "status.h"

#define COF_CHANGE_IDLEN 18        /* "c-" + 16 hex */
#define COF_MAX_CHANGE_LINES 512   /* effects, findings per proposal */
#define COF_MAX_CHANGE_VOTES 16    /* approvals or rejections recorded per proposal */
#define COF_MAX_CHANGES 100000     /* change files listed */
#define COF_MAX_CHANGE_BYTES (8u << 20)

typedef enum {
    COF_CHANGE_WIDEN = 0, COF_CHANGE_NARROW, COF_CHANGE_LOCKDOWN, COF_CHANGE_LIFT
} cof_change_kind;

typedef enum {
    COF_CST_PENDING = 0, COF_CST_APPLIED, COF_CST_REJECTED, COF_CST_EXPIRED, COF_CST_STALE
} cof_change_state;

typedef struct {
    cof_severity sev;
    char check[48];
    char what[400];
} cof_change_finding;

typedef struct {
    char principal[COF_MAX_PRINCIPAL_NAME + 1];
    int64_t time;
    char reason[COF_MAX_REASON + 1];
} cof_change_vote;

typedef struct {
    char id[COF_CHANGE_IDLEN + 1];
    cof_change_kind kind;
    char proposer[COF_MAX_PRINCIPAL_NAME + 1];
    int64_t created, expires;
    uint64_t base_version;
    char summary[COF_MAX_REASON + 1];   /* the proposer's stated reason */
    char **effects;
    uint32_t neffects;
    cof_change_finding *findings;
    uint32_t nfindings;
    uint32_t required;                   /* people in all, the proposer included */
    cof_change_vote approvals[COF_MAX_CHANGE_VOTES];
    uint32_t napprovals;
    cof_change_vote rejections[COF_MAX_CHANGE_VOTES];
    uint32_t nrejections;
    cof_change_state state;
    int64_t applied;
    uint64_t applied_version;
    cof_access *doc;                     /* the proposed document */
} cof_change;

const char *cof_change_kind_name(cof_change_kind k);
const char *cof_change_state_name(cof_change_state s);
void cof_change_free(cof_change *c);

/* change_eval.c: fill c->kind (WIDEN or NARROW; LOCKDOWN/LIFT when that is the only
 * move), effects, findings and required from the difference cur -> prop at now. */
cof_status cof_change_evaluate(const cof_access *cur, const cof_access *prop,
                               const cof_config *cfg, int64_t now, cof_change *c) COF_MUST_USE;
/* Highest severity among the findings (COF_SEV_INFO when none). */
cof_severity cof_change_worst(const cof_change *c);

/* Propose prop as the next access document, by proposer (who must hold ADMIN now).
 * Narrowing changes are applied before returning (state APPLIED); widening ones are
 * saved PENDING. *out: the change (free with cof_change_free). */
cof_status cof_change_propose(const cof_config *cfg, const cof_access *prop, const char *proposer,
                              const char *reason, int64_t now, cof_change **out) COF_MUST_USE;
/* Approve; applies when enough distinct people agree. COF_DENIED: the approver is the
 * proposer, already approved, or not an administrator; COF_AGAIN: no longer pending
 * (expired, stale, rejected, applied: *out tells). */
cof_status cof_change_approve(const cof_config *cfg, const char *id, const char *approver,
                              int64_t now, cof_change **out) COF_MUST_USE;
/* Reject: any administrator (the proposer too, withdrawing it). */
cof_status cof_change_reject(const cof_config *cfg, const char *id, const char *who,
                             const char *reason, int64_t now, cof_change **out) COF_MUST_USE;
/* Declare a lockdown at once (narrowing), or propose to lift it (needs two people). */
cof_status cof_change_lockdown(const cof_config *cfg, const char *by, const char *reason,
                               int64_t now, cof_change **out) COF_MUST_USE;
cof_status cof_change_lift(const cof_config *cfg, const char *by, const char *reason,
                           int64_t now, cof_change **out) COF_MUST_USE;
/* Suspend a principal at once (narrowing; used on a poison hit and by operators).
 * by: the administrator, or "coffer" for automatic responses. */
cof_status cof_change_suspend(const char *data_dir, const char *principal, const char *by,
                              const char *reason, int64_t now,
                              char id_out[COF_CHANGE_IDLEN + 1]) COF_MUST_USE;

/* Load one change (expired pending proposals read as EXPIRED). */
cof_status cof_change_load(const char *data_dir, const char *id, int64_t now,
                           cof_change **out) COF_MUST_USE;
/* Every change, oldest first. Free each with cof_change_free and the array with free. */
cof_status cof_change_list(const char *data_dir, int64_t now, cof_change ***out,
                           size_t *n) COF_MUST_USE;
/* Parse a change file (bounded, hostile input: fuzzed by fuzz_change). */
cof_status cof_change_parse(const char *buf, size_t n, const char *name,
                            cof_change **out) COF_MUST_USE;
/* JSON text of a change (the file format; with_doc 0 leaves the document out). */
cof_status cof_change_json(const cof_change *c, int with_doc, char **out) COF_MUST_USE;
/* A valid change id ("c-" + 16 lowercase hex). */
int cof_change_id_valid(const char *id);

/* Raise the alert for a change event ("proposed", "approved", "rejected", "applied")
 * with id, kind, proposer, approvals, required, findings and effects (principal and
 * tenant names, never personal values). a may be NULL. */
void cof_change_announce(cof_alerts *a, const cof_change *c, const char *event, const char *by);

#endif
