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
 * inside the input, the tail assembles bytes one at a time. Inlined once per width so
 * the compiler sees constant shifts. */
static inline __attribute__((always_inline)) size_t unpack_fast(const uint8_t *p, size_t avail,
                                                                size_t n, unsigned w,
                                                                uint32_t *out)
{
    const uint64_t mask = (1ull << w) - 1;
    size_t lim = avail >= 8 ? (avail - 8) * 8 / w + 1 : 0;
    if (lim > n)
        lim = n;
    for (size_t i = 0; i < lim; i++) {
        size_t bit = i * w;
        uint64_t x;
        memcpy(&x, p + (bit >> 3), 8);
        out[i] = (uint32_t)((x >> (bit & 7)) & mask);
    }
    return lim;
}

#define UNPACK_CASE(W)                                                                     \
    case W:                                                                                \
        i = unpack_fast(p, avail, n, W, out);                                              \
        break;

int cof_colenc_unpack(const uint8_t *p, size_t avail, size_t n, unsigned w, uint32_t *out)
{
    if (w > 32 || cof_colenc_packed_len(n, w) > avail)
        return 0;
    if (w == 0) {
        memset(out, 0, n * sizeof *out);
        return 1;
    }
    size_t i = 0;
    switch (w) {
        UNPACK_CASE(1) UNPACK_CASE(2) UNPACK_CASE(3) UNPACK_CASE(4) UNPACK_CASE(5)
        UNPACK_CASE(6) UNPACK_CASE(7) UNPACK_CASE(8) UNPACK_CASE(9) UNPACK_CASE(10)
        UNPACK_CASE(11) UNPACK_CASE(12) UNPACK_CASE(13) UNPACK_CASE(14) UNPACK_CASE(15)
        UNPACK_CASE(16) UNPACK_CASE(17) UNPACK_CASE(18) UNPACK_CASE(19) UNPACK_CASE(20)
        UNPACK_CASE(21) UNPACK_CASE(22) UNPACK_CASE(23) UNPACK_CASE(24) UNPACK_CASE(25)
        UNPACK_CASE(26) UNPACK_CASE(27) UNPACK_CASE(28) UNPACK_CASE(29) UNPACK_CASE(30)
        UNPACK_CASE(31) UNPACK_CASE(32)
    }
    const uint64_t mask = (1ull << w) - 1;
    for (size_t bit = i * w; i < n; i++, bit += w) {
        uint64_t x = 0;
        size_t byte = bit >> 3;
        for (size_t k = 0; k < 8 && byte + k < avail; k++)
            x |= (uint64_t)p[byte + k] << (8 * k);
        out[i] = (uint32_t)((x >> (bit & 7)) & mask);
    }
    return 1;
}

void cof_colenc_pack64(cof_colbuf *b, const uint64_t *v, size_t n, unsigned w)
{
    size_t len = cof_colenc_packed_len(n, w);
    uint8_t *o = cof_colbuf_extend(b, len);
    if (!o || len == 0)
        return;
    memset(o, 0, len);
    const uint64_t mask = w >= 64 ? ~0ull : (1ull << w) - 1;
    size_t bit = 0;
    for (size_t i = 0; i < n; i++, bit += w) {
        uint64_t x = v[i] & mask;
        size_t byte = bit >> 3;
        unsigned sh = bit & 7, span = w + sh;
        uint64_t lo = x << sh;
        for (unsigned k = 0; k * 8 < span && k < 8; k++)
            o[byte + k] |= (uint8_t)(lo >> (8 * k));
        if (span > 64)
            o[byte + 8] |= (uint8_t)(x >> (64 - sh));
    }
}

int cof_colenc_unpack64(const uint8_t *p, size_t avail, size_t n, unsigned w, uint64_t *out)
{
    if (w > 64 || cof_colenc_packed_len(n, w) > avail)
        return 0;
    if (w == 0) {
        memset(out, 0, n * sizeof *out);
        return 1;
    }
    const uint64_t mask = w == 64 ? ~0ull : (1ull << w) - 1;
    size_t bit = 0;
    for (size_t i = 0; i < n; i++, bit += w) {
        size_t byte = bit >> 3;
        unsigned sh = bit & 7;
        uint64_t x = 0;
        if (byte + 8 <= avail) {
            memcpy(&x, p + byte, 8);
        } else {
            for (size_t k = 0; k < 8 && byte + k < avail; k++)
                x |= (uint64_t)p[byte + k] << (8 * k);
        }
        x >>= sh;
        if (sh + w > 64) /* sh >= 1 here; the byte exists: packed_len covers it */
            x |= (uint64_t)p[byte + 8] << (64 - sh);
        out[i] = x & mask;
    }
    return 1;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

void cof_colenc_ints(cof_colbuf *b, const uint64_t *v, size_t n, uint64_t *scratch)
{
    uint64_t lo = UINT64_MAX, hi = 0, g = 0;
    for (size_t i = 0; i < n; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
    }
    if (n == 0)
        lo = 0;
    for (size_t i = 0; i < n && g != 1; i++)
        g = cof_gcd(g, v[i] - lo);
    if (g == 0)
        g = 1;
    unsigned wf = cof_colenc_width((hi - lo) / g);
    size_t for_len = varint_len(lo) + varint_len(g) + 1 + cof_colenc_packed_len(n, wf);
    /* dictionary: sorted distinct values */
    memcpy(scratch, v, n * sizeof *v);
    qsort(scratch, n, sizeof *scratch, cmp_u64);
    size_t d = 0, dict_len = 0;
    for (size_t i = 0; i < n; i++)
        if (d == 0 || scratch[i] != scratch[d - 1]) {
            dict_len += d ? varint_len(scratch[i] - scratch[d - 1] - 1) : varint_len(scratch[i]);
            scratch[d++] = scratch[i];
        }
    unsigned wd = d ? cof_colenc_width(d - 1) : 0;
    size_t dl = varint_len(d) + dict_len + 1 + cof_colenc_packed_len(n, wd);
    if (d == 0 || for_len <= dl) {
        cof_colbuf_u8(b, 0);
        cof_colbuf_varint(b, lo);
        cof_colbuf_varint(b, g);
        cof_colbuf_u8(b, (uint8_t)wf);
        size_t len = cof_colenc_packed_len(n, wf);
        uint8_t *o = cof_colbuf_extend(b, len);
        if (!o || !len)
            return;
        memset(o, 0, len);
        /* pack in place: shift each value in without a second array */
        size_t bit = 0;
        for (size_t i = 0; i < n; i++, bit += wf) {
            uint64_t x = (v[i] - lo) / g;
            size_t byte = bit >> 3;
            unsigned sh = bit & 7, span = wf + sh;
            uint64_t l = x << sh;
            for (unsigned k = 0; k * 8 < span && k < 8; k++)
                o[byte + k] |= (uint8_t)(l >> (8 * k));
            if (span > 64)
                o[byte + 8] |= (uint8_t)(x >> (64 - sh));
        }
        return;
    }
    cof_colbuf_u8(b, 1);
    cof_colbuf_varint(b, d);
    for (size_t i = 0; i < d; i++)
        cof_colbuf_varint(b, i ? scratch[i] - scratch[i - 1] - 1 : scratch[0]);
    cof_colbuf_u8(b, (uint8_t)wd);
    size_t len = cof_colenc_packed_len(n, wd);
    uint8_t *o = cof_colbuf_extend(b, len);
    if (!o || !len)
        return;
    memset(o, 0, len);
    size_t bit = 0;
    for (size_t i = 0; i < n; i++, bit += wd) {
        size_t a = 0, z = d; /* index of v[i] in the sorted distinct values */
        while (a + 1 < z) {
            size_t m = (a + z) / 2;
            if (scratch[m] <= v[i])
                a = m;
            else
                z = m;
        }
        uint64_t l = (uint64_t)a << (bit & 7);
        for (unsigned k = 0; k * 8 < wd + (bit & 7) && k < 8; k++)
            o[(bit >> 3) + k] |= (uint8_t)(l >> (8 * k));
    }
}

int cof_colenc_ints_dec(cof_colrd *r, size_t n, uint64_t *out, uint64_t *scratch,
                        uint32_t *ix)
{
    uint8_t mode, w;
    const uint8_t *p;
    if (!cof_colrd_u8(r, &mode))
        return 0;
    if (mode == 0) {
        uint64_t base, g;
        if (!cof_colrd_varint(r, &base) || !cof_colrd_varint(r, &g) || g == 0 ||
            !cof_colrd_u8(r, &w) || w > 64 ||
            !cof_colrd_bytes(r, cof_colenc_packed_len(n, w), &p))
            return 0;
        size_t len = cof_colenc_packed_len(n, w);
        if (w <= 32) { /* the common case: the per-width loops, widened in place */
            if (!cof_colenc_unpack(p, len, n, w, ix))
                return 0;
            for (size_t i = 0; i < n; i++)
                out[i] = base + (uint64_t)ix[i] * g; /* unsigned: wraps, callers range-check */
            return 1;
        }
        if (!cof_colenc_unpack64(p, len, n, w, out))
            return 0;
        for (size_t i = 0; i < n; i++)
            out[i] = base + out[i] * g;
        return 1;
    }
    uint64_t d, x;
    if (mode != 1 || !cof_colrd_varint_max(r, n, &d) || d == 0)
        return 0;
    for (size_t i = 0; i < d; i++) {
        if (!cof_colrd_varint(r, &x))
            return 0;
        if (i) {
            if (x >= UINT64_MAX - scratch[i - 1])
                return 0; /* distinct values must ascend inside u64 */
            x += scratch[i - 1] + 1;
        }
        scratch[i] = x;
    }
    if (!cof_colrd_u8(r, &w) || w > 16 || !cof_colrd_bytes(r, cof_colenc_packed_len(n, w), &p))
        return 0;
    if (!cof_colenc_unpack(p, cof_colenc_packed_len(n, w), n, w, ix))
        return 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t k = ix[i];
        if (k >= d)
            return 0;
        out[i] = scratch[k];
    }
    return 1;
}

static inline __attribute__((always_inline)) size_t unpack8_fast(const uint8_t *p, size_t avail,
                                                                 size_t n, unsigned w,
                                                                 uint8_t *out)
{
    const uint64_t mask = (1ull << w) - 1;
    size_t lim = avail >= 8 ? (avail - 8) * 8 / w + 1 : 0;
    if (lim > n)
        lim = n;
    for (size_t i = 0; i < lim; i++) {
        size_t bit = i * w;
        uint64_t x;
        memcpy(&x, p + (bit >> 3), 8);
        out[i] = (uint8_t)((x >> (bit & 7)) & mask);
    }
    return lim;
}

#define UNPACK8_CASE(W)                                                                    \
    case W:                                                                                \
        i = unpack8_fast(p, avail, n, W, out);                                             \
        break;

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
    size_t i = 0;
    switch (w) {
        UNPACK8_CASE(1) UNPACK8_CASE(2) UNPACK8_CASE(3) UNPACK8_CASE(4) UNPACK8_CASE(5)
        UNPACK8_CASE(6) UNPACK8_CASE(7)
    }
    const uint64_t mask = (1ull << w) - 1;
    for (size_t bit = i * w; i < n; i++, bit += w) {
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
