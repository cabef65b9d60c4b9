/* poison.h - poison records: synthetic delivery events nobody legitimately looks up
 * (threat model A3), and watermarks that make each bulk export traceable.
 *
 * A poison set is N synthetic recipient addresses with their delivery events:
 *   planted    stored in the tenant's data through the ordinary event sink, so they are
 *              sealed and counted exactly like real events; any answer that would
 *              contain one is withheld, its requester suspended and "poison.hit" raised;
 *   watermark  made for one bulk export (owner = the requester), interleaved into that
 *              export only and never stored; if one of its addresses ever receives mail
 *              the export has left: "poison.left" names the owner.
 *
 * Registry DATA/poison.reg (mode 0600, atomic replace, read-modify-write under an
 * flock on DATA/poison.lock):
 *   "COFPOIS1" | u32le version (1) | XChaCha20-Poly1305 box (key: keyring subkey
 *   "poison-reg", AD "coffer-poison-reg-v1") of:
 *     varint nsets, then per set: id (8 bytes), tenant, owner, domain (each varint
 *     length + bytes), kind u8, created, since, until (u64le), count (varint) and count x
 *     { recipient token (8), sender token (8), address hash (16) }.
 * The addresses themselves are never stored: the tokens are the tenant's blind tokens
 * (seal.h, what the store keeps in cof_record.token[]) of the address as recipient and
 * as sender; the address hash is BLAKE2b-128 keyed with subkey "poison-addr" over
 * "coffer-poison-addr-v1" || normalized address, tenant-independent, for inbound
 * detection whatever tenant the inbound mail is attributed to.
 *
 * Invariants:
 *  1. The registry is hostile input: its size is capped before reading, the box is
 *     authenticated before parsing, every count is checked against the bytes left
 *     (nothing is allocated from a declared count alone).
 *  2. Matching never needs an address: a record matches through its tokens (computed
 *     from its unsealed value when the record carries none), an address through its
 *     keyed hash.
 *  3. Error details and alerts name set ids, kinds, owners and tenants, never addresses.
 *
 * Thread safety: a cof_poison is not locked inside; the server swaps or reloads it under
 * its own lock (cof_poison_reload_if_changed between requests). Matching functions only
 * read. */
#ifndef COF_POISON_H
#define COF_POISON_H

#include <stdint.h>

#include "buf.h"
#include "event.h"
#include "keyring.h"
#include "record.h"
#include "status.h"
#include "store.h"

#define COF_POISON_FILE "poison.reg"
#define COF_POISON_IDLEN 16 /* hex digits of a set id */

/* Registry file size: 1M addresses at 32 bytes each plus set headers; capped before
 * reading (the file is hostile input). */
#define COF_MAX_POISON_BYTES (40u << 20)
/* Sets in one registry (each export adds one). */
#define COF_MAX_POISON_SETS 65536
/* Addresses in all sets together: bounds the in-memory index (~50 MiB). */
#define COF_MAX_POISON_ADDRS (1u << 20)
/* Addresses planted by one command: enough to be found by any bulk read of a tenant,
 * few enough not to distort its statistics. */
#define COF_MAX_POISON_PLANT 10000
/* Addresses per export watermark. */
#define COF_MAX_POISON_WATERMARK 100

typedef enum { COF_POISON_PLANTED = 1, COF_POISON_WATERMARK = 2 } cof_poison_kind;
const char *cof_poison_kind_name(cof_poison_kind k);

typedef struct cof_poison cof_poison;

/* What a match found (no address in it). */
typedef struct {
    char set_id[COF_POISON_IDLEN + 1];
    cof_poison_kind kind;
    char owner[65];                          /* "" for planted traps */
    char tenant[COF_MAX_TENANT_NAME + 1];
} cof_poison_hit;

/* A set as `coffer poison list` shows it. */
typedef struct {
    char id[COF_POISON_IDLEN + 1];
    char tenant[COF_MAX_TENANT_NAME + 1];
    cof_poison_kind kind;
    char owner[65];
    char domain[256];                        /* "" = mixed domains */
    int64_t created, since, until;           /* UTC microseconds */
    uint32_t count;
} cof_poison_set_info;

/* Open DATA/poison.reg with keys derived from k (an empty registry when the file does
 * not exist). k must outlive the handle. COF_CORRUPT for a damaged or foreign file. */
cof_status cof_poison_open(const char *data_dir, cof_keyring *k, cof_poison **out) COF_MUST_USE;
void cof_poison_close(cof_poison *p);

/* Re-read the registry if its size, mtime or inode changed since the last read (one
 * stat(2)). *changed (may be NULL) = 1 if it was re-read. On error the old sets stay. */
cof_status cof_poison_reload_if_changed(cof_poison *p, int *changed) COF_MUST_USE;

/* Number of sets (0: nothing to match; callers may skip matching). */
uint32_t cof_poison_nsets(const cof_poison *p);
/* Snapshot of the sets (*out malloc'd, free with free()). */
cof_status cof_poison_list(const cof_poison *p, cof_poison_set_info **out,
                           uint32_t *n) COF_MUST_USE;

/* 1 if r's recipient or sender belongs to a set of tenant (planted and watermark
 * alike), filling *hit (may be NULL); 0 otherwise. r's tokens are used when present,
 * else the token is computed from r's unsealed value with the tenant's blind key. */
int cof_poison_match_record(const cof_poison *p, const char *tenant, const cof_record *r,
                            cof_poison_hit *hit);
/* The same for planted sets only (what a bulk export must never contain). */
int cof_poison_match_planted(const cof_poison *p, const char *tenant, const cof_record *r,
                             cof_poison_hit *hit);

/* 1 if addr (any form: "<A@B>", case) is an address of any set, any tenant (inbound
 * "data has left" detection). */
int cof_poison_match_address(const cof_poison *p, cof_str addr, cof_poison_hit *hit);

/* Plant n (1..COF_MAX_POISON_PLANT) synthetic events for tenant into s (opened for
 * writing, with the keyring p was opened with), times in [since, until), recipients
 * at domain (NULL: domains sampled from the tenant's own traffic, or common ones),
 * registered as a planted set before the events are committed. The other clear values
 * (hosts, relays, statuses, delays, sizes, client networks) are sampled from the
 * tenant's stored rows so the planted rows cannot be told apart. reveal: NULL, or a
 * buffer that receives the addresses, one per line (the caller wipes it). */
cof_status cof_poison_plant(cof_poison *p, cof_store *s, const char *tenant, uint32_t n,
                            const char *domain, int64_t since, int64_t until,
                            cof_buf *reveal, char set_id[COF_POISON_IDLEN + 1]) COF_MUST_USE;

/* A watermark for one export: n (1..COF_MAX_POISON_WATERMARK) synthetic events of
 * tenant in [since, until), clear values sampled from s like planted ones, registered
 * as a watermark set with owner before returning. *out is an array of n records in
 * time order (policy applied: what a stored record holds, sealed values in clear
 * memory), owned by *mem; free both with cof_poison_records_free. Nothing is stored. */
typedef struct cof_poison_records cof_poison_records;
cof_status cof_poison_watermark(cof_poison *p, cof_store *s, const char *tenant,
                                const char *owner, uint32_t n, int64_t since, int64_t until,
                                char set_id[COF_POISON_IDLEN + 1], const cof_record **out,
                                cof_poison_records **mem) COF_MUST_USE;
void cof_poison_records_free(cof_poison_records *m);

/* ---- internal: for tests and fuzzers ---- */
/* Parse a registry payload (the plaintext inside the box): hostile input. */
cof_status cof_poison_parse_payload(const uint8_t *pt, size_t n, uint32_t *nsets,
                                    uint32_t *naddrs) COF_MUST_USE;
/* Parse a whole registry image with a given 32-byte registry key. */
cof_status cof_poison_parse_file(const uint8_t *file, size_t n, const uint8_t key[32],
                                 uint32_t *nsets) COF_MUST_USE;

#endif
