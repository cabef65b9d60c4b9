/* audit_int.h - internals shared by the audit writer (audit.c), the reader
 * (audit_read.c), the CLI, tests and the fuzzer. Not part of the public contract.
 *
 * Hash input (invariant 2 of audit.h), byte for byte:
 *   "coffer-audit-v1" || prev (32 raw bytes) || line[0 .. len-75)
 * where the line (without its newline) always ends with ,"hash":"<64 hex>"} (75 bytes).
 * Checkpoint signature message:
 *   "coffer-audit-ckpt-v1" || u64 big-endian seq || head (32 raw bytes). */
#ifndef COF_AUDIT_INT_H
#define COF_AUDIT_INT_H

#include <stdint.h>

#include "audit.h"

#define COF_AUDIT_DOMAIN "coffer-audit-v1"
#define COF_AUDIT_CKPT_DOMAIN "coffer-audit-ckpt-v1"
#define COF_AUDIT_HASH_TAIL 75 /* strlen(",\"hash\":\"") + 64 + strlen("\"}") */

/* Files in one trail directory: 2^20 files of 64 MiB is 64 TiB; more is damage. */
#define COF_AUDIT_MAX_FILES (1u << 20)
/* Longest principal/source/action/outcome/tenant written (escaped bytes); longer
 * values are cut and the record marked "cut":true. */
#define COF_AUDIT_MAX_NAME 1024
/* Tenants array text in one record; past it the remaining tenants are left out (cut). */
#define COF_AUDIT_MAX_TENANTS_BYTES 16384
/* Bytes formatted but not yet written (group commit). Appenders wait past it, so a
 * slow disk back-pressures callers instead of growing memory. */
#define COF_AUDIT_MAX_PENDING (8u << 20)

/* One parsed line with the fields only verification needs. */
typedef struct {
    cof_audit_entry e;
    int checkpoint;
    int cut;
    uint8_t prev[32], hash[32], head[32], sig[64];
    size_t hashed_len; /* bytes of the line covered by the hash */
} cof_audit_parsed;

cof_status cof_audit_parse_full(cof_str line, cof_audit_parsed *p) COF_MUST_USE;

/* hash = BLAKE2b-256(domain || prev || line[0..hashed_len)). */
void cof_audit_line_hash(const uint8_t prev[32], const char *line, size_t hashed_len,
                         uint8_t out[32]);
void cof_audit_ckpt_msg(uint64_t seq, const uint8_t head[32], uint8_t msg[20 + 8 + 32]);

/* Lowercase hex of n bytes into out (2n + 1 bytes, NUL-terminated). */
void cof_audit_hex(const uint8_t *b, size_t n, char *out);

/* Chain checker: feed lines in order; the first problem sticks in rep. */
typedef struct {
    const uint8_t *pk; /* NULL: do not check signatures */
    uint64_t next_seq;
    uint8_t prev[32];
    uint64_t head_seq;     /* HEAD's seq to look for (0 = none) */
    uint8_t head_hash[32]; /* its hash */
    int head_seen;         /* 1 matched, -1 the record differs */
    char head_file[256];
    uint64_t head_line;
    cof_audit_report *rep;
} cof_audit_chain;

void cof_audit_chain_init(cof_audit_chain *c, const uint8_t *pk, cof_audit_report *rep);
/* Returns the problem found at this line (also recorded in rep), COF_AUDIT_OK if none. */
cof_audit_problem cof_audit_chain_line(cof_audit_chain *c, cof_str line, const char *file,
                                       uint64_t lineno);

/* JSON string escaping as the writer does it: ", \ and control characters escaped,
 * invalid UTF-8 and NUL replaced by U+FFFD. Writes at most cap bytes (no quotes, no NUL);
 * *cut = 1 if the input did not fit (it is cut at a character boundary). */
size_t cof_audit_escape(cof_str s, char *out, size_t cap, int *cut);

/* Test hooks: the writer's current descriptor (-1 if none), and a smaller rotation size. */
int cof_audit_test_fd(cof_audit *a);
void cof_audit_test_file_bytes(cof_audit *a, uint64_t bytes);

#endif
