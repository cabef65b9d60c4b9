/* evidence.h - the signed evidence report for a customer's auditor (docs/EVIDENCE.md).
 *
 * `coffer check --evidence FILE` writes one JSON document:
 *   {"format":"coffer-evidence-1","pubkey":"<64 hex>","report":{...},"sig":"<128 hex>"}
 * serialized canonically (jansson JSON_SORT_KEYS | JSON_COMPACT) and ended by one
 * newline. report holds the generation time, host, coffer version, the `coffer check`
 * findings, the configuration without secrets, who holds which access, the approval
 * history (DATA/changes/<id>.json), the audit chain's status, retention and field policies.
 * sig is Ed25519 (seed: keyring subkey "audit-ed25519", the key `coffer audit pubkey`
 * prints) over "coffer-evidence-v1" || the canonical bytes of report.
 *
 * Verification (`coffer verify-evidence FILE --pubkey HEX|FILE`) is offline and trusts
 * only the public key it is given: the embedded pubkey must equal it, the file must be
 * exactly the canonical serialization of what it parses to (so no byte of it can change
 * without detection: whitespace, escapes and hex case included), and the signature must
 * verify. The report's contents are integers and strings only (no floating point), so
 * re-serialization is exact. */
#ifndef COF_EVIDENCE_H
#define COF_EVIDENCE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "config.h"
#include "status.h"

#define COF_EVIDENCE_FORMAT "coffer-evidence-1"
#define COF_EVIDENCE_DOMAIN "coffer-evidence-v1"
/* An evidence file the verifier reads: reports of large installations (thousands of
 * principals and changes) stay far below; more is not a report. */
#define COF_EVIDENCE_MAX_BYTES (32u << 20)
/* Change files read into the approval history; past it the report says "truncated". */
#define COF_EVIDENCE_MAX_CHANGES 100000
/* One change file (DATA/changes/<id>.json) read; a bigger one is listed as unreadable. */
#define COF_EVIDENCE_MAX_CHANGE_BYTES (4u << 20)
/* Nesting depth of the verified document (jansson recurses while parsing/dumping). */
#define COF_EVIDENCE_MAX_DEPTH 32

/* Build the report (unsigned) for the installation cfg describes. Needs the master key
 * (keyring) for the token list and the audit chain's status. *out: caller decref's. */
cof_status cof_evidence_build(const cof_config *cfg, int64_t now, json_t **out) COF_MUST_USE;

/* Sign report with the seed: *out (malloc'd, *n bytes) is the whole file content. */
cof_status cof_evidence_sign(const json_t *report, const uint8_t seed[32], char **out,
                             size_t *n) COF_MUST_USE;

/* Verify file content buf[0..n) against pk (hostile input: fuzzed). COF_OK when valid
 * (*report, if not NULL, gets the report object, caller decref's); COF_CORRUPT when
 * invalid with *why (a static string) saying what failed. */
cof_status cof_evidence_verify(const char *buf, size_t n, const uint8_t pk[32], json_t **report,
                               const char **why) COF_MUST_USE;

/* The key's fingerprint for people: "SHA256:" + base64 (no padding) of SHA-256(pk), as
 * ssh prints keys. out >= 52 bytes. */
void cof_evidence_fingerprint(const uint8_t pk[32], char *out, size_t cap);

/* Build, sign with the keyring's audit key and write path (mode 0600; COF_EXISTS
 * unless force). fpr (>= 52 bytes, may be NULL) gets the key's fingerprint. */
cof_status cof_evidence_write(const cof_config *cfg, const char *path, int force,
                              char *fpr, size_t fpr_cap) COF_MUST_USE;

#endif
