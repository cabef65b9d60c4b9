/* colenc.c - varints, bit-packing and bounded reading for segment columns. */
#include "colenc.h"

#include <stdlib.h>

void cof_colbuf_free(cof_colbuf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
    b->oom = 0;
}

uint8_t *cof_colbuf_extend(cof_colbuf *b, size_t extra)
{
    if (b->oom)
        return NULL;
    if (extra > SIZE_MAX / 2 - b->n) {
        b->oom = 1;
        return NULL;
    }
    if (b->n + extra > b->cap) {
        size_t nc = b->cap ? b->cap : 256;
        while (nc < b->n + extra)
            nc *= 2;
        uint8_t *np = realloc(b->p, nc);
        if (!np) {
            b->oom = 1;
            return NULL;
        }
        b->p = np;
        b->cap = nc;
    }
    uint8_t *w = b->p + b->n;
    b->n += extra;
    return w;
}

void cof_colbuf_put(cof_colbuf *b, const void *p, size_t n)
{
    if (n == 0)
        return;
    uint8_t *w = cof_colbuf_extend(b, n);
    if (w)
        memcpy(w, p, n);
}

void cof_colbuf_u8(cof_colbuf *b, uint8_t v) { cof_colbuf_put(b, &v, 1); }

void cof_colbuf_u32(cof_colbuf *b, uint32_t v)
{
    uint8_t t[4];
    cof_set_le32(t, v);
    cof_colbuf_put(b, t, 4);
}

void cof_colbuf_u64(cof_colbuf *b, uint64_t v)
{
    uint8_t t[8];
    cof_set_le64(t, v);
    cof_colbuf_put(b, t, 8);
}

void cof_colbuf_varint(cof_colbuf *b, uint64_t v)
{
    uint8_t t[10];
    size_t n = 0;
    while (v >= 0x80) {
        t[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    t[n++] = (uint8_t)v;
    cof_colbuf_put(b, t, n);
}

void cof_colenc_pack(cof_colbuf *b, const uint32_t *v, size_t n, unsigned w)
{
    size_t len = cof_colenc_packed_len(n, w);
    uint8_t *o = cof_colbuf_extend(b, len);
    if (!o || len == 0)
        return;
    memset(o, 0, len);
    uint64_t acc = 0;
    unsigned bits = 0;
    size_t k = 0;
    uint64_t mask = w == 64 ? ~0ull : ((1ull << w) - 1);
    for (size_t i = 0; i < n; i++) {
        acc |= ((uint64_t)v[i] & mask) << bits;
        bits += w;
        while (bits >= 8) {
            o[k++] = (uint8_t)acc;
            acc >>= 8;
            bits -= 8;
        }
    }
    if (bits)
        o[k++] = (uint8_t)acc;
}

/* The fast loop loads 8 bytes at the value's first byte; it runs while that load stays
 * inside the input, the tail assembles bytes one at a time. */
int cof_colenc_unpack(const uint8_t *p, size_t avail, size_t n, unsigned w, uint32_t *out)
{
    if (w > 32 || cof_colenc_packed_len(n, w) > avail)
        return 0;
    if (w == 0) {
        memset(out, 0, n * sizeof *out);
        return 1;
    }
    const uint64_t mask = (1ull << w) - 1;
    size_t i = 0, bit = 0;
    for (; i < n && (bit >> 3) + 8 <= avail; i++, bit += w) {
        uint64_t x;
        memcpy(&x, p + (bit >> 3), 8);
        out[i] = (uint32_t)((x >> (bit & 7)) & mask);
    }
    for (; i < n; i++, bit += w) {
        uint64_t x = 0;
        size_t byte = bit >> 3;
        for (size_t k = 0; k < 8 && byte + k < avail; k++)
            x |= (uint64_t)p[byte + k] << (8 * k);
        out[i] = (uint32_t)((x >> (bit & 7)) & mask);
    }
    return 1;
}

int cof_colenc_unpack8(const uint8_t *p, size_t avail, size_t n, unsigned w, uint8_t *out)
{
    if (w > 8 || cof_colenc_packed_len(n, w) > avail)
        return 0;
    if (w == 0) {
        memset(out, 0, n);
        return 1;
    }
    if (w == 8) {
        memcpy(out, p, n);
        return 1;
    }
    const uint64_t mask = (1ull << w) - 1;
    size_t i = 0, bit = 0;
    for (; i < n && (bit >> 3) + 8 <= avail; i++, bit += w) {
        uint64_t x;
        memcpy(&x, p + (bit >> 3), 8);
        out[i] = (uint8_t)((x >> (bit & 7)) & mask);
    }
    for (; i < n; i++, bit += w) {
        uint64_t x = 0;
        size_t byte = bit >> 3;
        for (size_t k = 0; k < 2 && byte + k < avail; k++)
            x |= (uint64_t)p[byte + k] << (8 * k);
        out[i] = (uint8_t)((x >> (bit & 7)) & mask);
    }
    return 1;
}

int cof_colrd_varint_slow(cof_colrd *r, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return 0;
        uint8_t c = *r->p++;
        if (shift == 63 && c > 1)
            return 0; /* more than 64 bits */
        x |= (uint64_t)(c & 0x7f) << shift;
        if (c < 0x80) {
            *v = x;
            return 1;
        }
    }
    return 0;
}

int cof_colrd_u32(cof_colrd *r, uint32_t *v)
{
    if (cof_colrd_left(r) < 4)
        return 0;
    *v = cof_le32(r->p);
    r->p += 4;
    return 1;
}

int cof_colrd_u64(cof_colrd *r, uint64_t *v)
{
    if (cof_colrd_left(r) < 8)
        return 0;
    *v = cof_le64(r->p);
    r->p += 8;
    return 1;
}

int cof_colrd_bytes(cof_colrd *r, size_t n, const uint8_t **p)
{
    if (cof_colrd_left(r) < n)
        return 0;
    *p = r->p;
    r->p += n;
    return 1;
}
