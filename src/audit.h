/* audit.h - the tamper-evident audit trail: every request and administrative action.
 *
 * Files: DATA_DIR/audit/<16 hex digit file seq>.log, JSON lines, append-only, mode
 * 0600; DATA_DIR/audit/HEAD, the newest signed checkpoint (atomically replaced);
 * DATA_DIR/audit/LOCK, the appenders' flock (empty, 0600).
 *
 * Record (one line, keys in this order, no spaces):
 *   {"seq":N,"time":"RFC3339 with microseconds Z","principal":"...","source":"...",
 *    "action":"...","params":{...},"outcome":"...","status":N,"tenants":[...],
 *    "events":N,"ids":"...","prev":"<64 hex>","hash":"<64 hex>"}
 * Checkpoint record (every COF_AUDIT_CHECKPOINT_EVERY records counted across all
 * writing processes, on close, and at most 1 s after the last unsigned record):
 *   {"seq":N,"time":"...","action":"checkpoint","head":"<hash of record N-1>",
 *    "sig":"<Ed25519 over 'coffer-audit-ckpt-v1' || u64be N || head, 128 hex>",
 *    "prev":"...","hash":"..."}
 *
 * Invariants:
 *  1. seq starts at 1 and increases by exactly 1 across files.
 *  2. hash = BLAKE2b-256("coffer-audit-v1" || prev || the line's bytes up to and
 *     excluding ',"hash":'), prev of record 1 is 64 zeros; so editing, removing or
 *     reordering any record breaks the chain at that point.
 *  3. A record is appended and fdatasync'ed before cof_audit_append returns OK
 *     (group commit: concurrent appenders share one fsync). If the write fails the
 *     trail is marked failed and every later append fails too: the server then
 *     refuses queries (it must never answer what it cannot record).
 *     Several processes may append at once (the server and CLI commands): seq and prev
 *     are assigned only under an exclusive flock on DATA_DIR/audit/LOCK (0600), after
 *     the writer has read every line other processes appended since it last wrote
 *     (following their rotations), so invariants 1 and 2 hold across processes; a
 *     line another writer appended that does not continue the chain fails the trail.
 *  4. HEAD is written after a checkpoint record is durable, and the same head
 *     (seq, hash, signature) goes to syslog (LOG_AUTHPRIV), so truncation of the
 *     files below a checkpoint is detected from HEAD or from the syslog copy.
 *
 * Personal values never appear: callers put blind tokens (cof_audit_blind) in params. */
#ifndef COF_AUDIT_H
#define COF_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "str.h"

#define COF_AUDIT_CHECKPOINT_EVERY 1000
#define COF_AUDIT_MAX_LINE 65536        /* one record; longer params/ids are cut, marked */
#define COF_AUDIT_FILE_BYTES (64u << 20) /* rotate after this many bytes */

typedef struct cof_audit cof_audit;

typedef struct {
    int64_t time;            /* UTC microseconds; 0 = now */
    const char *principal;   /* "-" when unauthenticated */
    const char *source;      /* client address, e.g. "127.0.0.1" */
    const char *action;      /* "trail", "stats", "events", "audit", "whoami", "metrics",
                                "token.create", "token.revoke", "auth", "serve.start" ... */
    const char *params_json; /* a JSON object (already free of personal values) or NULL */
    const char *outcome;     /* "ok", "denied", "not_found", "limited", "bad_request", "error" */
    int status;              /* HTTP status or 0 */
    const char *const *tenants; /* tenants touched */
    size_t ntenants;
    uint64_t events;         /* events returned */
    const char *ids;         /* compact event id ranges "SEG:ROW-ROW,SEG:ROW" or NULL */
} cof_audit_rec;

/* Open (creating DATA_DIR/audit, 0700) for appending; other processes may hold writers
 * on the same trail (invariant 3). sign_seed: keyring subkey "audit-ed25519" (the
 * Ed25519 seed; copied into sodium_malloc memory). Verifies the tail of the newest file
 * first, under the flock: a torn last line (crash mid-write) is truncated, a broken
 * chain is COF_CORRUPT (the server will not start on a damaged trail). */
cof_status cof_audit_open(const char *data_dir, const uint8_t sign_seed[32],
                          cof_audit **out) COF_MUST_USE;
/* Append one record; see invariant 3. Thread-safe and multi-process safe. *seq (may be
 * NULL) gets its seq. */
cof_status cof_audit_append(cof_audit *a, const cof_audit_rec *r, uint64_t *seq) COF_MUST_USE;
/* Write a checkpoint now if records were appended since the last one. */
cof_status cof_audit_checkpoint(cof_audit *a) COF_MUST_USE;
/* 1 once an append failed (the trail is unusable until restart). */
int cof_audit_failed(const cof_audit *a);
/* Checkpoint and close. NULL is fine. */
void cof_audit_close(cof_audit *a);

/* Ed25519 public key of a seed (for `coffer audit pubkey` and offline verification). */
cof_status cof_audit_public_key(const uint8_t sign_seed[32], uint8_t pk[32]) COF_MUST_USE;

/* Blind token of a personal value for the audit trail: "b:" + 32 hex of keyed
 * BLAKE2b-128 (key: keyring subkey "audit-blind") of the normalized value
 * (cof_seal_normalize). out >= 35 bytes. Equal values give equal tokens. */
cof_status cof_audit_blind(const uint8_t key[32], cof_str value, char out[35]) COF_MUST_USE;

/* Append the event id range SEG:LO[-HI] to ids (the record's "ids" text, cap bytes,
 * NUL-terminated); past the room left it ends the list with ",+" (more were given). */
void cof_audit_ids_add(char *ids, size_t cap, uint64_t seg, uint32_t lo, uint32_t hi);

/* ---- reading: verify and show ---- */
typedef enum {
    COF_AUDIT_OK = 0,
    COF_AUDIT_EDITED,     /* a record's hash does not match its content */
    COF_AUDIT_BROKEN,     /* prev does not match the previous record's hash (removed/reordered) */
    COF_AUDIT_SEQ,        /* seq gap or disorder */
    COF_AUDIT_BADSIG,     /* a checkpoint's signature is wrong */
    COF_AUDIT_TRUNCATED,  /* files end before HEAD's checkpoint */
    COF_AUDIT_MALFORMED   /* a line is not a record */
} cof_audit_problem;

typedef struct {
    cof_audit_problem problem;
    uint64_t seq;         /* the record where it breaks (or HEAD's seq for TRUNCATED) */
    char file[256];       /* file name (not path) and */
    uint64_t line;        /* line number where it breaks */
    uint64_t records, checkpoints;
    uint64_t last_seq;
    char head[65];        /* hash of the last record */
} cof_audit_report;

const char *cof_audit_problem_name(cof_audit_problem p);

/* Verify every file and HEAD with the public key. Returns OK when the check ran (the
 * verdict is in rep->problem), an error status when it could not run (I/O). */
cof_status cof_audit_verify(const char *data_dir, const uint8_t pk[32],
                            cof_audit_report *rep) COF_MUST_USE;

/* A parsed record for readers (strings valid during the callback). */
typedef struct {
    uint64_t seq;
    int64_t time;
    cof_str principal, source, action, params_json, outcome, ids;
    int status;
    cof_str tenants_json; /* the JSON array text */
    uint64_t events;
    cof_str line;         /* the whole line */
} cof_audit_entry;

typedef struct {
    int64_t since, until;     /* [since, until) or 0 for open */
    const char *principal;    /* exact or NULL */
    const char *action;       /* exact or NULL */
    int include_checkpoints;
} cof_audit_filter;

typedef cof_status (*cof_audit_fn)(void *ctx, const cof_audit_entry *e);
/* Visit matching records oldest first (does not verify: call cof_audit_verify first
 * where it matters). */
cof_status cof_audit_each(const char *data_dir, const cof_audit_filter *f, cof_audit_fn fn,
                          void *ctx) COF_MUST_USE;
/* Parse one line (hostile input: fuzzed). */
cof_status cof_audit_parse_line(cof_str line, cof_audit_entry *e) COF_MUST_USE;

#endif
