/* buf.h - growable byte buffer with a mandatory maximum size (curl's dynbuf idea):
 * nothing external can make it grow without bound. */
#ifndef COF_BUF_H
#define COF_BUF_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

typedef struct {
    uint8_t *p;
    size_t n, cap, max;
} cof_buf;

void cof_buf_init(cof_buf *b, size_t max);
void cof_buf_free(cof_buf *b);
static inline void cof_buf_reset(cof_buf *b) { b->n = 0; }
/* Make room for extra more bytes; COF_LIMIT past max, COF_NOMEM if allocation fails. */
cof_status cof_buf_reserve(cof_buf *b, size_t extra) COF_MUST_USE;
cof_status cof_buf_add(cof_buf *b, const void *p, size_t n) COF_MUST_USE;
cof_status cof_buf_add_u8(cof_buf *b, uint8_t v) COF_MUST_USE;
cof_status cof_buf_add_varint(cof_buf *b, uint64_t v) COF_MUST_USE;
cof_status cof_buf_add_u32le(cof_buf *b, uint32_t v) COF_MUST_USE;
cof_status cof_buf_add_u64le(cof_buf *b, uint64_t v) COF_MUST_USE;

/* Bounded reader over bytes; every get fails (returns 0) instead of reading past end. */
typedef struct {
    const uint8_t *p, *end;
} cof_rd;

static inline cof_rd cof_rd_make(const void *p, size_t n)
{
    return (cof_rd){ (const uint8_t *)p, (const uint8_t *)p + n };
}
int cof_rd_varint(cof_rd *r, uint64_t *v);
int cof_rd_u8(cof_rd *r, uint8_t *v);
int cof_rd_u32le(cof_rd *r, uint32_t *v);
int cof_rd_u64le(cof_rd *r, uint64_t *v);
int cof_rd_bytes(cof_rd *r, size_t n, const uint8_t **p);

static inline void cof_put_u32le(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static inline uint32_t cof_get_u32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline void cof_put_u64le(uint8_t *p, uint64_t v)
{
    cof_put_u32le(p, (uint32_t)v);
    cof_put_u32le(p + 4, (uint32_t)(v >> 32));
}
static inline uint64_t cof_get_u64le(const uint8_t *p)
{
    return (uint64_t)cof_get_u32le(p) | (uint64_t)cof_get_u32le(p + 4) << 32;
}

#endif
