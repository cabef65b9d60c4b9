/* access.h - who may do what: the access document and API tokens.
 *
 * The access document (DATA_DIR/access.json, mode 0600) is the single, versioned
 * statement of principals, their role grants and tenant scopes, and the listeners.
 * Every change of it is a new version (the governance layer puts each change under
 * two-person review). API tokens live apart, in DATA_DIR/tokens.json, because they
 * are credentials, not policy: only their keyed hashes are stored.
 *
 * access.json (docs/ACCESS.md):
 *   { "format": "coffer-access-1", "version": 7, "updated": "2026-11-23T10:00:00Z",
 *     "listeners": { "api": "127.0.0.1:8443", "syslog_tls": "127.0.0.1:6514",
 *                    "syslog_plain": "" },
 *     "principals": {
 *       "alice": { "suspended": false, "budget_per_hour": 500,
 *                  "grants": [ { "role": "support", "tenants": ["acme"],
 *                                "expires": "2026-12-31T00:00:00Z" } ] },
 *       "mta1":  { "cert_sha256": "<64 hex>", "grants": [ { "role": "ingest",
 *                                                         "tenants": ["*"] } ] } } }
 *
 * Rules (default deny):
 *  1. A principal's permissions on a tenant are the union of its unexpired grants
 *     whose tenant list holds that tenant or "*". Suspended principals have none.
 *  2. Roles: ingest = INGEST; support = TRAIL (exact-match, unsealed); analyst =
 *     STATS; auditor = AUDIT|METRICS; admin = ADMIN|METRICS (never TRAIL: separation
 *     of duties); customer = TRAIL|STATS and must name exactly one tenant, never "*";
 *     metrics = METRICS; exporter = EXPORT (reads personal data only through bulk
 *     exports a second person approved, export.h). Unknown roles are a parse error.
 *  3. Names: principals 1..64 of [A-Za-z0-9._@-]; tenants as cof_tenant_name_valid.
 *
 * Tokens: "cof_" || 16 hex id || "_" || 43 base64url chars (256 random bits). Stored:
 * id, principal, created, expires, revoked, and BLAKE2b-256 keyed (keyring subkey
 * "token-hash") of the whole token string; compared with sodium_memcmp. The file is
 * re-read when it changes on disk, so `coffer token revoke` reaches a running server
 * on its next request. Read-modify-write of tokens.json holds an flock on
 * DATA_DIR/tokens.lock.
 *
 * Thread safety: cof_access is immutable after load (the server swaps whole
 * documents); cof_tokens has an internal mutex. */
#ifndef COF_ACCESS_H
#define COF_ACCESS_H

#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include "config.h"
#include "status.h"
#include "str.h"

enum {
    COF_PERM_INGEST = 1,
    COF_PERM_TRAIL = 2,   /* exact-match trail lookups with personal fields unsealed */
    COF_PERM_STATS = 4,
    COF_PERM_AUDIT = 8,   /* audit trail and incident data */
    COF_PERM_ADMIN = 16,  /* principals, tokens, configuration */
    COF_PERM_METRICS = 32,
    COF_PERM_EXPORT = 64  /* bulk export (governance) */
};

#define COF_MAX_PRINCIPAL_NAME 64
#define COF_MAX_PRINCIPALS 4096
#define COF_MAX_GRANTS 64          /* per principal */
#define COF_MAX_GRANT_TENANTS 256  /* per grant */
#define COF_MAX_ACCESS_BYTES (4u << 20)
#define COF_MAX_TOKENS 65536
#define COF_TOKEN_STRLEN 64        /* "cof_" 16 "_" 43 */
#define COF_TOKEN_IDLEN 16

typedef enum {
    COF_ROLE_INGEST = 0, COF_ROLE_SUPPORT, COF_ROLE_ANALYST, COF_ROLE_AUDITOR,
    COF_ROLE_ADMIN, COF_ROLE_CUSTOMER, COF_ROLE_METRICS, COF_ROLE_EXPORTER, COF_NROLES
} cof_role;

const char *cof_role_name(cof_role r);
cof_status cof_role_parse(cof_str s, cof_role *out) COF_MUST_USE;
uint32_t cof_role_perms(cof_role r);

typedef struct {
    cof_role role;
    char **tenants;      /* "*" = every tenant */
    uint32_t ntenants;
    int64_t expires;     /* UTC microseconds; 0 = never */
} cof_grant;

typedef struct {
    char name[COF_MAX_PRINCIPAL_NAME + 1];
    int suspended;
    uint32_t budget_per_hour;  /* unsealed events per hour; 0 = default (1000) */
    char cert_sha256[65];      /* lowercase hex of a client certificate's SHA-256 (DER), or "" */
    cof_grant *grants;
    uint32_t ngrants;
} cof_principal;

typedef struct {
    char api[300];             /* HOST:PORT or "" (not listening) */
    char syslog_tls[300];
    char syslog_plain[300];    /* loopback only (enforced by the server) */
} cof_listeners;

/* Governed settings (access_gov.c, docs/GOVERNANCE.md): they live in the access
 * document so that every change of them goes through the same two-person review. */
#define COF_MAX_GOV_RULES 4096     /* retention and field-policy rules */
#define COF_MAX_REASON 500

typedef struct {
    char tenant[COF_MAX_TENANT_NAME + 1];
    uint32_t days;
} cof_retention_rule;

typedef struct {
    char tenant[COF_MAX_TENANT_NAME + 1]; /* "*" = every tenant */
    uint8_t field;                        /* cof_field */
    uint8_t policy;                       /* COF_P_* flags (config.h); 0 = drop */
} cof_policy_rule;

typedef struct {
    uint32_t approvals;          /* distinct people for a widening change, proposer included;
                                    default 2, range 2..9 (1 only with single_admin) */
    int single_admin;            /* explicit: one administrator may widen alone */
    uint32_t proposal_ttl_hours; /* default 72 */
    int64_t lockdown_since;      /* UTC us; 0 = no lockdown */
    char lockdown_by[COF_MAX_PRINCIPAL_NAME + 1];
    char lockdown_reason[COF_MAX_REASON + 1];
    uint32_t retention_default_days;  /* 0 = keep forever */
    cof_retention_rule *retention;
    uint32_t nretention;
    int has_alerts;              /* the document names the alert sinks (overrides config) */
    int alert_syslog;
    char alert_webhook[1024];
    char alert_webhook_secret_file[4096];
    char alert_webhook_ca[4096];
    char alert_command[4096];
    cof_policy_rule *policies;
    uint32_t npolicies;
} cof_access_gov;

typedef struct cof_access {
    uint64_t version;
    int64_t updated;           /* UTC microseconds */
    cof_listeners listeners;
    cof_access_gov gov;
    cof_principal *principals; /* sorted by name */
    uint32_t nprincipals;
} cof_access;

/* Parse and validate a document (hostile input: fuzzed). name is for error details
 * ("access.json"). Errors name the JSON path that failed ("principals.alice.grants[0].role"). */
cof_status cof_access_parse(const char *buf, size_t n, const char *name,
                            cof_access **out) COF_MUST_USE;
/* Load DATA_DIR/access.json; COF_NOTFOUND if missing. The file must be mode 0600 and
 * owned by the effective uid (cof_fs_check_private). */
cof_status cof_access_load(const char *data_dir, cof_access **out) COF_MUST_USE;
/* Serialize (canonical: sorted keys, 2-space indent). *out malloc'd, NUL-terminated. */
cof_status cof_access_dump(const cof_access *a, char **out, size_t *n) COF_MUST_USE;
/* Atomically replace DATA_DIR/access.json (0600). Does not bump the version: callers do. */
cof_status cof_access_save(const cof_access *a, const char *data_dir) COF_MUST_USE;
/* An empty document (version 1, listeners api=127.0.0.1:8443, syslog_tls=127.0.0.1:6514). */
cof_status cof_access_new(cof_access **out) COF_MUST_USE;
cof_status cof_access_clone(const cof_access *a, cof_access **out) COF_MUST_USE;
void cof_access_free(cof_access *a);

const cof_principal *cof_access_find(const cof_access *a, const char *name);
/* Find or add a principal (no grants). */
cof_status cof_access_upsert(cof_access *a, const char *name, cof_principal **out) COF_MUST_USE;
cof_status cof_access_add_grant(cof_principal *p, cof_role role, const char *const *tenants,
                                uint32_t ntenants, int64_t expires) COF_MUST_USE;
/* The principal mapped to a client certificate, or NULL. */
const cof_principal *cof_access_by_cert(const cof_access *a, const char sha256_hex[65]);

/* Permissions of a principal on tenant at time now (rule 1). tenant NULL: the
 * permissions that hold on EVERY tenant (i.e. grants with "*"). */
uint32_t cof_access_perms(const cof_access *a, const cof_principal *p, const char *tenant,
                          int64_t now);
/* Union of permissions on any tenant (used for "may this principal call the route at
 * all"); the tenants it may see for a permission are listed by cof_access_scope. */
uint32_t cof_access_any_perms(const cof_access *a, const cof_principal *p, int64_t now);
/* Tenants where p holds perm: *all = 1 if a "*" grant gives it (then the list is
 * empty), else up to cap names copied into names[] (pointers into the document),
 * count in *n. */
void cof_access_scope(const cof_access *a, const cof_principal *p, uint32_t perm, int64_t now,
                      int *all, const char **names, uint32_t cap, uint32_t *n);

/* ---- governed settings (access_gov.c) ---- */
/* Retention of a tenant in days (its own rule, else the default); 0 = keep forever. */
uint32_t cof_access_retention_days(const cof_access *a, const char *tenant);
/* 1 while a lockdown holds: no personal-field read or export for anyone. */
int cof_access_locked(const cof_access *a);
/* Overlay the document's alert sinks and field policies onto cfg (the document wins). */
cof_status cof_access_apply_config(const cof_access *a, cof_config *cfg) COF_MUST_USE;
/* Principals with an unexpired admin grant at now. */
uint32_t cof_access_admins(const cof_access *a, int64_t now);
/* Internal to access.c/access_gov.c: parse the governed sections of root, serialize
 * them into root, deep-copy, free. */
struct json_t;
cof_status cof_access_gov_parse(struct json_t *root, const char *name, cof_access *a) COF_MUST_USE;
int cof_access_gov_dump(const cof_access *a, struct json_t *root);
cof_status cof_access_gov_copy(const cof_access *src, cof_access *dst) COF_MUST_USE;
void cof_access_gov_free(cof_access *a);
void cof_access_gov_defaults(cof_access *a);
/* Strict RFC 3339 UTC time of the document ("YYYY-MM-DDTHH:MM:SS[.frac]Z"). */
cof_status cof_access_time(cof_str s, int64_t *out) COF_MUST_USE;

/* ---- tokens ---- */
typedef struct cof_tokens cof_tokens;

typedef struct {
    char id[COF_TOKEN_IDLEN + 1];
    char principal[COF_MAX_PRINCIPAL_NAME + 1];
    int64_t created, expires;  /* expires 0 = never */
    int64_t revoked;           /* 0 = live */
} cof_token_info;

/* Open DATA_DIR/tokens.json (created empty, 0600, if missing). hash_key: keyring
 * subkey "token-hash" (copied into sodium_malloc memory). */
cof_status cof_tokens_open(const char *data_dir, const uint8_t hash_key[32],
                           cof_tokens **out) COF_MUST_USE;
void cof_tokens_close(cof_tokens *t);
/* Create a token for principal; writes the token string (shown once, never stored)
 * into out (COF_TOKEN_STRLEN + 1 bytes) and its info. Persists before returning. */
cof_status cof_tokens_create(cof_tokens *t, const char *principal, int64_t expires,
                             char out[COF_TOKEN_STRLEN + 1], cof_token_info *info) COF_MUST_USE;
/* Check a presented token (bounded: at most COF_TOKEN_STRLEN bytes looked at). Re-reads
 * the file first if it changed. OK with *info filled, or COF_DENIED for malformed,
 * unknown, wrong secret, expired or revoked; *why (static string, never the token) says
 * which, for the audit trail only: clients get one uniform answer. The id part of a
 * malformed token is never echoed. */
cof_status cof_tokens_check(cof_tokens *t, cof_str presented, int64_t now, cof_token_info *info,
                            const char **why) COF_MUST_USE;
cof_status cof_tokens_revoke(cof_tokens *t, const char *id, int64_t now) COF_MUST_USE;
/* Snapshot of every token's info (*out malloc'd). */
cof_status cof_tokens_list(cof_tokens *t, cof_token_info **out, size_t *n) COF_MUST_USE;

#endif
