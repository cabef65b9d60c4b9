/* colenc.h - column encoding primitives for segment files: a growable output buffer
 * with a sticky out-of-memory flag, LEB128 varints, zigzag, LSB-first bit-packing,
 * and a bounded reader whose every get fails instead of reading past the end.
 *
 * Decoders here take hostile bytes: they never read outside [p, end) and report
 * failure by return value; callers turn that into COF_CORRUPT with the path. */
#ifndef COF_COLENC_H
#define COF_COLENC_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ---- output ---- */
typedef struct {
    uint8_t *p;
    size_t n, cap;
    int oom; /* sticky: set when an allocation failed; later puts are ignored */
} cof_colbuf;

void cof_colbuf_free(cof_colbuf *b);
static inline void cof_colbuf_reset(cof_colbuf *b) { b->n = 0; b->oom = 0; }
/* Room for extra more bytes; returns the write position or NULL (and sets oom). */
uint8_t *cof_colbuf_extend(cof_colbuf *b, size_t extra);
void cof_colbuf_put(cof_colbuf *b, const void *p, size_t n);
void cof_colbuf_u8(cof_colbuf *b, uint8_t v);
void cof_colbuf_u32(cof_colbuf *b, uint32_t v);
void cof_colbuf_u64(cof_colbuf *b, uint64_t v);
void cof_colbuf_varint(cof_colbuf *b, uint64_t v);

static inline uint64_t cof_gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}
static inline uint64_t cof_zigzag(int64_t v) { return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63); }
static inline int64_t cof_unzigzag(uint64_t v) { return (int64_t)(v >> 1) ^ -(int64_t)(v & 1); }

/* Bits needed to hold every value in [0, maxv]. */
static inline unsigned cof_colenc_width(uint64_t maxv)
{
    return maxv ? 64u - (unsigned)__builtin_clzll(maxv) : 0u;
}

/* Append n values of w bits (0..32) each, LSB first; ceil(n*w/8) bytes. */
void cof_colenc_pack(cof_colbuf *b, const uint32_t *v, size_t n, unsigned w);
static inline size_t cof_colenc_packed_len(size_t n, unsigned w) { return (n * w + 7) / 8; }
/* Unpack n values of w bits from p (avail bytes). 0 if avail is too short or w > 32.
 * One loop per width, so the shifts and masks are constants. */
int cof_colenc_unpack(const uint8_t *p, size_t avail, size_t n, unsigned w, uint32_t *out);
/* The same for up to 64 bits per value. */
void cof_colenc_pack64(cof_colbuf *b, const uint64_t *v, size_t n, unsigned w);
int cof_colenc_unpack64(const uint8_t *p, size_t avail, size_t n, unsigned w, uint64_t *out);

/* Integer block of n u64 values (signed columns map v to (uint64_t)v ^ 1 << 63, which
 * keeps the order), choosing the smaller of
 *   u8 0 | varint base | varint scale>=1 | u8 w | n x w bits (v - base) / scale
 *   u8 1 | varint D>=1 | varint first | D-1 varints (gap - 1) | u8 w | n x w bits index
 * (frame of reference with a common factor, e.g. 10 ms delays; or a sorted dictionary
 * of the block's distinct values). scratch holds n values. */
void cof_colenc_ints(cof_colbuf *b, const uint64_t *v, size_t n, uint64_t *scratch);

/* Same into bytes (w <= 8). */
int cof_colenc_unpack8(const uint8_t *p, size_t avail, size_t n, unsigned w, uint8_t *out);

/* ---- bounded input ---- */
typedef struct {
    const uint8_t *p, *end;
} cof_colrd;

static inline cof_colrd cof_colrd_make(const void *p, size_t n)
{
    return (cof_colrd){ (const uint8_t *)p, (const uint8_t *)p + n };
}
static inline size_t cof_colrd_left(const cof_colrd *r) { return (size_t)(r->end - r->p); }

int cof_colrd_varint_slow(cof_colrd *r, uint64_t *v);
/* 1 and the value, or 0 on truncation / more than 64 bits. Values of up to four bytes
 * (all row data in practice) decode inline when ten bytes remain. */
static inline int cof_colrd_varint(cof_colrd *r, uint64_t *v)
{
    const uint8_t *p = r->p;
    if (r->end - p >= 10) {
        uint64_t x = p[0], c;
        if (x < 0x80) {
            r->p = p + 1;
            *v = x;
            return 1;
        }
        x &= 0x7f;
        for (unsigned k = 1; k < 4; k++) {
            c = p[k];
            x |= (c & 0x7f) << (7 * k);
            if (c < 0x80) {
                r->p = p + k + 1;
                *v = x;
                return 1;
            }
        }
    }
    return cof_colrd_varint_slow(r, v);
}
/* Decode one integer block (cof_colenc_ints) from r into out; scratch and ix hold n
 * values each. 0 if malformed. */
int cof_colenc_ints_dec(cof_colrd *r, size_t n, uint64_t *out, uint64_t *scratch,
                        uint32_t *ix);

/* A varint that must be <= max. */
static inline int cof_colrd_varint_max(cof_colrd *r, uint64_t max, uint64_t *v)
{
    return cof_colrd_varint(r, v) && *v <= max;
}
static inline int cof_colrd_u8(cof_colrd *r, uint8_t *v)
{
    if (r->p >= r->end)
        return 0;
    *v = *r->p++;
    return 1;
}
int cof_colrd_u32(cof_colrd *r, uint32_t *v);
int cof_colrd_u64(cof_colrd *r, uint64_t *v);
/* Borrow n bytes (pointer into the input). */
int cof_colrd_bytes(cof_colrd *r, size_t n, const uint8_t **p);

static inline uint32_t cof_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t cof_le64(const uint8_t *p)
{
    return (uint64_t)cof_le32(p) | (uint64_t)cof_le32(p + 4) << 32;
}
static inline void cof_set_le32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline void cof_set_le64(uint8_t *p, uint64_t v)
{
    cof_set_le32(p, (uint32_t)v);
    cof_set_le32(p + 4, (uint32_t)(v >> 32));
}

#endif
