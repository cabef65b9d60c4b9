/* record.c - the record's byte encoding, used by the write-ahead log.
 *
 * Layout: varint zigzag(time_us), u8 direction, u8 status, varint relay_port,
 * varint delay+1, 4 x varint delays+1, varint size, varint nrcpt,
 * varint token_mask, 8 bytes per set token (field order),
 * varint clear_mask, per set field varint len + bytes,
 * varint sealed_mask, per set field varint len + bytes. */
#include "record.h"

#include "bounds.h"

static uint64_t zz(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static int64_t unzz(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

static cof_status put_strs(cof_buf *b, const cof_str *s)
{
    uint32_t mask = 0;
    for (int f = 0; f < COF_NFIELDS; f++)
        if (s[f].n)
            mask |= 1u << f;
    cof_status st = cof_buf_add_varint(b, mask);
    for (int f = 0; f < COF_NFIELDS && !st; f++)
        if (s[f].n) {
            st = cof_buf_add_varint(b, s[f].n);
            if (!st)
                st = cof_buf_add(b, s[f].p, s[f].n);
        }
    return st;
}

cof_status cof_record_encode(const cof_record *r, cof_buf *b)
{
    cof_status st = cof_buf_add_varint(b, zz(r->time_us));
    if (!st) st = cof_buf_add_u8(b, r->direction);
    if (!st) st = cof_buf_add_u8(b, r->status);
    if (!st) st = cof_buf_add_varint(b, r->relay_port);
    if (!st) st = cof_buf_add_varint(b, (uint64_t)((int64_t)r->delay_ms + 1));
    for (int i = 0; i < 4 && !st; i++)
        st = cof_buf_add_varint(b, (uint64_t)((int64_t)r->delays_ms[i] + 1));
    if (!st) st = cof_buf_add_varint(b, r->size);
    if (!st) st = cof_buf_add_varint(b, r->nrcpt);
    if (!st) st = cof_buf_add_varint(b, r->token_mask);
    for (int f = 0; f < COF_NFIELDS && !st; f++)
        if (r->token_mask & (1u << f))
            st = cof_buf_add(b, r->token[f], COF_TOKEN_LEN);
    if (!st) st = put_strs(b, r->clear);
    if (!st) st = put_strs(b, r->sealed);
    return st;
}

static int get_strs(cof_rd *rd, cof_str *s)
{
    uint64_t mask;
    if (!cof_rd_varint(rd, &mask) || mask >> COF_NFIELDS)
        return 0;
    for (int f = 0; f < COF_NFIELDS; f++) {
        s[f] = COF_STR_NULL;
        if (!(mask & (1u << f)))
            continue;
        uint64_t n;
        const uint8_t *p;
        if (!cof_rd_varint(rd, &n) || n == 0 || n > COF_MAX_FIELD || !cof_rd_bytes(rd, n, &p))
            return 0;
        s[f] = cof_str_make((const char *)p, n);
    }
    return 1;
}

static int get_delay(cof_rd *rd, int32_t *out)
{
    uint64_t v;
    if (!cof_rd_varint(rd, &v) || v > (uint64_t)INT32_MAX + 1)
        return 0;
    *out = (int32_t)((int64_t)v - 1);
    return 1;
}

cof_status cof_record_decode(cof_rd *rd, cof_record *r)
{
    uint64_t v, mask;
    cof_record_init(r);
    if (!cof_rd_varint(rd, &v))
        goto bad;
    r->time_us = unzz(v);
    if (!cof_rd_u8(rd, &r->direction) || !cof_rd_u8(rd, &r->status) || r->status >= COF_NSTATUS ||
        r->direction > COF_DIR_LOCAL)
        goto bad;
    if (!cof_rd_varint(rd, &v) || v > 65535)
        goto bad;
    r->relay_port = (uint16_t)v;
    if (!get_delay(rd, &r->delay_ms))
        goto bad;
    for (int i = 0; i < 4; i++)
        if (!get_delay(rd, &r->delays_ms[i]))
            goto bad;
    if (!cof_rd_varint(rd, &r->size) || !cof_rd_varint(rd, &v) || v > UINT32_MAX)
        goto bad;
    r->nrcpt = (uint32_t)v;
    if (!cof_rd_varint(rd, &mask) || mask >> COF_NFIELDS)
        goto bad;
    r->token_mask = (uint32_t)mask;
    for (int f = 0; f < COF_NFIELDS; f++)
        if (mask & (1u << f)) {
            const uint8_t *p;
            if (!cof_rd_bytes(rd, COF_TOKEN_LEN, &p))
                goto bad;
            memcpy(r->token[f], p, COF_TOKEN_LEN);
        }
    if (!get_strs(rd, r->clear) || !get_strs(rd, r->sealed))
        goto bad;
    return COF_OK;
bad:
    return COF_ERR(COF_CORRUPT, "malformed record");
}
