/* seal.h - the two cryptographic constructions coffer stores data with (libsodium).
 *
 * Blind token: BLAKE2b-64 keyed with the tenant's blind-index key over
 *   "coffer-token-v1" || field id || normalized value
 * so equal values give equal tokens within one tenant and one field, and nothing
 * links tenants or fields. Normalization: trim ASCII white space, strip one pair of
 * enclosing <>, ASCII case-fold.
 *
 * Sealed box: XChaCha20-Poly1305-IETF with a random 192-bit nonce:
 *   out = nonce(24) || ciphertext(n) || tag(16)
 * The associated data is chosen by the caller and binds the box to where it lives
 * (tenant, segment, column, block; or WAL file and frame). Decryption verifies the tag
 * before releasing anything and zeroes the output on failure. */
#ifndef COF_SEAL_H
#define COF_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include "event.h"
#include "record.h"
#include "status.h"
#include "str.h"

#define COF_SEAL_KEYBYTES 32
#define COF_SEAL_NONCEBYTES 24
#define COF_SEAL_TAGBYTES 16
#define COF_SEAL_OVERHEAD (COF_SEAL_NONCEBYTES + COF_SEAL_TAGBYTES)

/* Initialize libsodium once; COF_DENIED if it cannot. */
cof_status cof_seal_init(void) COF_MUST_USE;

/* Normalize v into out (cap bytes). COF_LIMIT if it does not fit. */
cof_status cof_seal_normalize(cof_str v, char *out, size_t cap, size_t *n) COF_MUST_USE;

/* Token of field f's value v under a tenant's blind key. */
cof_status cof_seal_token(const uint8_t key[COF_SEAL_KEYBYTES], cof_field f, cof_str v,
                          uint8_t out[COF_TOKEN_LEN]) COF_MUST_USE;

/* Seal n bytes of pt into out, which must hold n + COF_SEAL_OVERHEAD bytes. */
cof_status cof_seal_box(const uint8_t key[COF_SEAL_KEYBYTES], const uint8_t *ad, size_t adlen,
                        const uint8_t *pt, size_t n, uint8_t *out) COF_MUST_USE;

/* Open a box of n bytes into out (n - COF_SEAL_OVERHEAD bytes). COF_CORRUPT if the box is
 * short, was altered, moved (other ad) or sealed under another key. */
cof_status cof_seal_open(const uint8_t key[COF_SEAL_KEYBYTES], const uint8_t *ad, size_t adlen,
                         const uint8_t *in, size_t n, uint8_t *out) COF_MUST_USE;

/* Constant-time equality for secrets and tokens. */
int cof_seal_equal(const void *a, const void *b, size_t n);

#endif
