/* record.h - a delivery event after the field policy: the form the store keeps.
 *
 * For each string field f (cof_field):
 *   clear[f]   stored in the clear, dictionary-encoded: the whole value under policy
 *              "keep", the domain under "domain", the network prefix under "prefix";
 *   sealed[f]  the whole value, stored only AEAD-encrypted (policy "seal"); it exists in
 *              clear text in memory only, never on disk;
 *   token[f]   keyed blind index of the normalized value (policies "seal" and "blind"),
 *              present when bit f of token_mask is set.
 * The numeric fields are always clear. clear[COF_F_TENANT] names the tenant.
 *
 * Ownership: the cof_str point into memory owned by whoever filled the record
 * (an arena); the record is valid as long as that memory is. */
#ifndef COF_RECORD_H
#define COF_RECORD_H

#include <stdint.h>

#include "buf.h"
#include "event.h"
#include "str.h"

#define COF_TOKEN_LEN 8 /* 64-bit keyed BLAKE2b: equality only, per tenant */

typedef struct {
    int64_t time_us;
    uint8_t direction;
    uint8_t status;
    uint16_t relay_port;
    int32_t delay_ms;
    int32_t delays_ms[4];
    uint64_t size;
    uint32_t nrcpt;
    cof_str clear[COF_NFIELDS];
    cof_str sealed[COF_NFIELDS];
    uint32_t token_mask;
    uint8_t token[COF_NFIELDS][COF_TOKEN_LEN];
} cof_record;

static inline void cof_record_init(cof_record *r)
{
    memset(r, 0, sizeof *r);
    r->delay_ms = COF_NO_DELAY;
    for (int i = 0; i < 4; i++)
        r->delays_ms[i] = COF_NO_DELAY;
}

/* Serialize a record (WAL payload). Compact: varints and presence masks. */
cof_status cof_record_encode(const cof_record *r, cof_buf *out) COF_MUST_USE;
/* Parse one record from rd; strings point into rd's bytes. COF_CORRUPT if malformed. */
cof_status cof_record_decode(cof_rd *rd, cof_record *r) COF_MUST_USE;

#endif
