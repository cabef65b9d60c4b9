/* buf.c - bounded growable buffer and bounded reader. */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

void cof_buf_init(cof_buf *b, size_t max)
{
    b->p = NULL;
    b->n = b->cap = 0;
    b->max = max;
}

void cof_buf_free(cof_buf *b)
{
    free(b->p);
    b->p = NULL;
    b->n = b->cap = 0;
}

cof_status cof_buf_reserve(cof_buf *b, size_t extra)
{
    if (extra > b->max || b->n > b->max - extra)
        return COF_ERR(COF_LIMIT, "buffer would exceed %zu bytes", b->max);
    size_t need = b->n + extra;
    if (need <= b->cap)
        return COF_OK;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > b->max / 2 ? b->max : cap * 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p)
        return COF_ERR(COF_NOMEM, "out of memory growing a buffer to %zu bytes", cap);
    b->p = p;
    b->cap = cap;
    return COF_OK;
}

cof_status cof_buf_add(cof_buf *b, const void *p, size_t n)
{
    cof_status st = cof_buf_reserve(b, n);
    if (st)
        return st;
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
    return COF_OK;
}

cof_status cof_buf_add_u8(cof_buf *b, uint8_t v) { return cof_buf_add(b, &v, 1); }

cof_status cof_buf_add_varint(cof_buf *b, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    while (v >= 0x80) {
        tmp[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    tmp[n++] = (uint8_t)v;
    return cof_buf_add(b, tmp, n);
}

cof_status cof_buf_add_u32le(cof_buf *b, uint32_t v)
{
    uint8_t t[4];
    cof_put_u32le(t, v);
    return cof_buf_add(b, t, 4);
}

cof_status cof_buf_add_u64le(cof_buf *b, uint64_t v)
{
    uint8_t t[8];
    cof_put_u64le(t, v);
    return cof_buf_add(b, t, 8);
}

int cof_rd_varint(cof_rd *r, uint64_t *v)
{
    uint64_t x = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return 0;
        uint8_t c = *r->p++;
        if (shift == 63 && c > 1)
            return 0;
        x |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) {
            *v = x;
            return 1;
        }
    }
    return 0;
}

int cof_rd_u8(cof_rd *r, uint8_t *v)
{
    if (r->p >= r->end)
        return 0;
    *v = *r->p++;
    return 1;
}

int cof_rd_u32le(cof_rd *r, uint32_t *v)
{
    if (r->end - r->p < 4)
        return 0;
    *v = cof_get_u32le(r->p);
    r->p += 4;
    return 1;
}

int cof_rd_u64le(cof_rd *r, uint64_t *v)
{
    if (r->end - r->p < 8)
        return 0;
    *v = cof_get_u64le(r->p);
    r->p += 8;
    return 1;
}

int cof_rd_bytes(cof_rd *r, size_t n, const uint8_t **p)
{
    if ((size_t)(r->end - r->p) < n)
        return 0;
    *p = r->p;
    r->p += n;
    return 1;
}
