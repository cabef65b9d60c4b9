/* segment.c - the segment reader (cof_seg_*): open, frames, decoders, cache, index
 * pages and dictionaries; the queries are in segment_read.c. Format and the state
 * both share: segment_int.h; writer: segment_write.c.
 *
 * Every byte read from the file is hostile. The order of checks is always: bounds of
 * the frame against the file (done once at open for every frame), crc32c of the frame
 * bytes, then (sealed) the AEAD tag, then the declared zstd content size against the
 * size recorded in meta and COF_SEG_MAX_BLOCK_BYTES before allocating, then a decoder
 * that must consume the payload exactly and range-checks every value it produces.
 *
 * A cof_seg is not thread-safe: it owns one descriptor, scratch buffers and a bounded
 * LRU cache of decoded blocks and index pages (cof_seg_set_cache). Sealed plaintext
 * is cached only together with a fingerprint of the key that opened it and served
 * only to callers presenting the same key; it is wiped when evicted. */
#include "segment_int.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "colenc.h"
#include "crc.h"
#include "seal.h"

#define DAY_US 86400000000LL

static int grow(uint8_t **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 1;
    size_t nc = need < 4096 ? 4096 : need;
    uint8_t *np = malloc(nc);
    if (!np)
        return 0;
    free(*p);
    *p = np;
    *cap = nc;
    return 1;
}

/* ---- frames ---- */

/* Read and check a frame's on-disk bytes into s->io. */
cof_status cof_segi_read_frame(cof_seg *s, const seg_frame *fr)
{
    if (!grow(&s->io, &s->io_cap, fr->len))
        return COF_ERR(COF_NOMEM, "segment %s: read buffer", s->path);
    size_t done = 0;
    while (done < fr->len) {
        ssize_t k = pread(s->fd, s->io + done, fr->len - done, (off_t)(fr->off + done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return COF_ERRNO("segment %s: read", s->path);
        if (k == 0)
            return SEG_BAD(s, "file shorter than a frame it references");
        done += (size_t)k;
    }
    if (!(s->flags & COF_SEG_OPEN_NOCRC) && cof_crc32c(0, s->io, fr->len) != fr->crc)
        return SEG_BAD(s, "frame checksum mismatch");
    return COF_OK;
}

static cof_status unzstd(cof_seg *s, const uint8_t *z, size_t zn, uint32_t raw, uint8_t *dst)
{
    unsigned long long cs = ZSTD_getFrameContentSize(z, zn);
    if (cs == ZSTD_CONTENTSIZE_UNKNOWN || cs == ZSTD_CONTENTSIZE_ERROR || cs != raw)
        return SEG_BAD(s, "frame content size missing or different from meta");
    size_t got = ZSTD_decompressDCtx(s->dz, dst, raw, z, zn);
    if (ZSTD_isError(got) || got != raw)
        return SEG_BAD(s, "frame does not decompress");
    return COF_OK;
}

/* Load a frame's payload. keep: into a fresh malloc'd buffer (*out, caller frees),
 * else into s->rawb. key != NULL: the frame is a sealed box with this column/block. */
static cof_status load(cof_seg *s, const seg_frame *fr, const uint8_t *key, unsigned kind,
                       unsigned field, uint32_t block, int keep, uint8_t **out)
{
    cof_status st = cof_segi_read_frame(s, fr);
    if (st)
        return st;
    const uint8_t *z = s->io;
    size_t zn = fr->len;
    if (key) {
        if (fr->len < COF_SEAL_OVERHEAD)
            return SEG_BAD(s, "sealed block too short");
        if (!grow(&s->plain, &s->plain_cap, fr->len))
            return COF_ERR(COF_NOMEM, "segment %s: decrypt buffer", s->path);
        uint8_t ad[SEG_AD_LEN];
        cof_seg_ad(ad, &s->meta, kind, field, block);
        if (cof_seal_open(key, ad, SEG_AD_LEN, s->io, fr->len, s->plain))
            return COF_ERR(COF_CORRUPT, "segment %s: sealed block %u of field %s failed "
                           "authentication (wrong key or moved block)", s->path, block,
                           cof_field_name((cof_field)field));
        z = s->plain;
        zn = fr->len - COF_SEAL_OVERHEAD;
    }
    uint8_t *dst;
    if (keep) {
        dst = malloc(fr->raw ? fr->raw : 1);
        if (!dst)
            return COF_ERR(COF_NOMEM, "segment %s: block buffer", s->path);
    } else {
        if (!grow(&s->rawb, &s->raw_cap, fr->raw))
            return COF_ERR(COF_NOMEM, "segment %s: block buffer", s->path);
        dst = s->rawb;
    }
    st = unzstd(s, z, zn, fr->raw, dst);
    if (key)
        sodium_memzero(s->plain, zn);
    if (st) {
        if (keep) {
            if (key)
                sodium_memzero(dst, fr->raw);
            free(dst);
        }
        return st;
    }
    *out = dst;
    return COF_OK;
}

/* ---- decoders: each consumes its payload exactly and range-checks its output ---- */

static cof_status dec_time(cof_seg *s, uint32_t b, const uint8_t *p, size_t len, uint32_t n,
                           int64_t *out)
{
    cof_colrd r = cof_colrd_make(p, len);
    uint64_t first, scale, dmin;
    uint8_t w;
    const uint8_t *pk;
    if (!cof_colrd_u64(&r, &first) || !cof_colrd_varint(&r, &scale) || scale == 0 ||
        !cof_colrd_varint(&r, &dmin) || !cof_colrd_u8(&r, &w) || w > 64 ||
        (int64_t)first != s->btmin[b] ||
        !cof_colrd_bytes(&r, cof_colenc_packed_len(n - 1, w), &pk) || r.p != r.end)
        return SEG_BAD(s, "time block header");
    /* offsets from the block's first time, bounded by its recorded range: no overflow,
     * and the values are sorted by construction */
    uint64_t span = (uint64_t)(s->btmax[b] - (int64_t)first), acc = 0, step;
    size_t pl = cof_colenc_packed_len(n - 1, w);
    out[0] = (int64_t)first;
    if (w <= 32) {
        /* one bound for the whole block, then an unchecked prefix sum: every step is
         * >= 0 and at most UINT64_MAX / SEG_BR, so the sum cannot wrap and ends at span
         * only if every time stayed inside the block's range */
        uint32_t *d = s->sc_ix, mx = 0;
        if (!cof_colenc_unpack(pk, pl, n - 1, w, d))
            return SEG_BAD(s, "time block length");
        for (uint32_t i = 0; i + 1 < n; i++)
            mx = d[i] > mx ? d[i] : mx;
        if (__builtin_add_overflow((uint64_t)mx, dmin, &step) ||
            __builtin_mul_overflow(step, scale, &step) || step > UINT64_MAX / SEG_BR)
            return SEG_BAD(s, "time outside block range");
        for (uint32_t i = 1; i < n; i++) {
            acc += ((uint64_t)d[i - 1] + dmin) * scale;
            out[i] = (int64_t)(first + acc);
        }
    } else {
        uint64_t *d = s->sc_u64;
        if (!cof_colenc_unpack64(pk, pl, n - 1, w, d))
            return SEG_BAD(s, "time block length");
        for (uint32_t i = 1; i < n; i++) {
            if (__builtin_add_overflow(d[i - 1], dmin, &step) ||
                __builtin_mul_overflow(step, scale, &step) || step > span - acc)
                return SEG_BAD(s, "time outside block range");
            acc += step;
            out[i] = (int64_t)(first + acc);
        }
    }
    if (acc != span)
        return SEG_BAD(s, "time block does not match its range");
    return COF_OK;
}

static cof_status dec_small(cof_seg *s, const uint8_t *p, size_t len, uint32_t n,
                            unsigned limit, uint8_t *out)
{
    if (len < 1 || p[0] > 8 || len - 1 != cof_colenc_packed_len(n, p[0]) ||
        !cof_colenc_unpack8(p + 1, len - 1, n, p[0], out))
        return SEG_BAD(s, "bit-packed block length");
    uint8_t mx = 0;
    for (uint32_t i = 0; i < n; i++)
        mx = out[i] > mx ? out[i] : mx;
    if (mx >= limit)
        return SEG_BAD(s, "status or direction out of range");
    return COF_OK;
}

static cof_status dec_ids(cof_seg *s, const uint8_t *p, size_t len, uint32_t n, uint32_t max,
                          uint32_t *out)
{
    if (len < 1 || p[0] > 32 || len - 1 != cof_colenc_packed_len(n, p[0]) ||
        !cof_colenc_unpack(p + 1, len - 1, n, p[0], out))
        return SEG_BAD(s, "dictionary id block length");
    uint32_t mx = 0;
    for (uint32_t i = 0; i < n; i++)
        mx = out[i] > mx ? out[i] : mx;
    if (mx > max)
        return SEG_BAD(s, "dictionary id out of range");
    return COF_OK;
}

/* Integer blocks (cof_colenc_ints) into the typed array of kind, range-checked; one
 * conversion loop per kind so the hot loops carry no dispatch. */
static cof_status dec_ints(cof_seg *s, unsigned kind, const uint8_t *p, size_t len, uint32_t n,
                           void *out)
{
    cof_colrd r = cof_colrd_make(p, len);
    uint64_t *v = s->sc_u64;
    uint32_t runs = kind == SEGC_DELAYS ? 4 : 1;
    for (uint32_t k = 0; k < runs; k++) {
        if (!cof_colenc_ints_dec(&r, n, v, s->sc_u64b, s->sc_ix))
            return SEG_BAD(s, "integer block malformed");
        int ok = 1;
        switch (kind) {
        case SEGC_DELAY:
        case SEGC_DELAYS: {
            int32_t *o = out;
            for (uint32_t i = 0; i < n; i++) {
                int64_t x = (int64_t)(v[i] ^ (1ull << 63));
                ok &= x >= INT32_MIN && x <= INT32_MAX;
                o[(size_t)i * runs + k] = (int32_t)x;
            }
            break;
        }
        case SEGC_SIZE:
            memcpy(out, v, n * sizeof *v);
            break;
        case SEGC_NRCPT: {
            uint32_t *o = out;
            for (uint32_t i = 0; i < n; i++) {
                ok &= v[i] <= UINT32_MAX;
                o[i] = (uint32_t)v[i];
            }
            break;
        }
        default: {
            uint16_t *o = out;
            for (uint32_t i = 0; i < n; i++) {
                ok &= v[i] <= UINT16_MAX;
                o[i] = (uint16_t)v[i];
            }
        }
        }
        if (!ok)
            return SEG_BAD(s, "integer out of range for its column");
    }
    if (r.p != r.end)
        return SEG_BAD(s, "trailing bytes in integer block");
    return COF_OK;
}

/* Row codes -> entry index + 1 per row (0: no value); every entry must be used. */
static cof_status dec_codes(cof_seg *s, cof_colrd *r, uint32_t n, uint32_t d, uint16_t *out)
{
    uint32_t next = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint64_t c;
        if (!cof_colrd_varint(r, &c))
            return SEG_BAD(s, "row codes truncated");
        if (c == 0) {
            out[i] = 0;
        } else if (c == 1) {
            if (next >= d)
                return SEG_BAD(s, "row code past entry count");
            out[i] = (uint16_t)(++next);
        } else {
            if (c - 1 > next)
                return SEG_BAD(s, "row code before first entry");
            out[i] = (uint16_t)(next - (c - 1) + 1);
        }
    }
    if (next != d)
        return SEG_BAD(s, "unused entries");
    return COF_OK;
}

/* Sealed values: d entries of varint length + bytes, ending exactly at the end. */
static cof_status dec_values(cof_seg *s, cof_colrd *r, uint32_t d, cof_str *val)
{
    for (uint32_t i = 0; i < d; i++) {
        uint64_t l;
        const uint8_t *p;
        if (!cof_colrd_varint_max(r, COF_MAX_FIELD, &l) || !cof_colrd_bytes(r, (size_t)l, &p))
            return SEG_BAD(s, "sealed values truncated");
        val[i] = cof_str_make((const char *)p, (size_t)l);
    }
    if (r->p != r->end)
        return SEG_BAD(s, "trailing bytes in sealed block");
    return COF_OK;
}

/* ---- cache ---- */

void cof_segi_ce_free(seg_ce *e)
{
    if (!e)
        return;
    if (e->raw && e->has_fp)
        sodium_memzero(e->raw, e->raw_n); /* sealed plaintext */
    free(e->a);
    free(e->val);
    free(e->off);
    free(e->cnt);
    free(e->first);
    if (!e->raw_inline)
        free(e->raw);
    free(e);
}

static uint32_t ce_hash(uint32_t k1, uint32_t k2)
{
    uint32_t h = (k1 * 2654435761u) ^ k2;
    h = (h ^ (h >> 15)) * 0x85ebca6bu;
    return (h ^ (h >> 13)) & (SEG_CACHE_BUCKETS - 1);
}

static void lru_unlink(cof_seg *s, seg_ce *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        s->lru_head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        s->lru_tail = e->prev;
    e->prev = e->next = NULL;
}

static void lru_front(cof_seg *s, seg_ce *e)
{
    e->next = s->lru_head;
    e->prev = NULL;
    if (s->lru_head)
        s->lru_head->prev = e;
    s->lru_head = e;
    if (!s->lru_tail)
        s->lru_tail = e;
}

/* Least recently used position. Index pages go here after each lookup: decoding one
 * again costs tens of microseconds, a cached row saves a whole block decode, so pages
 * only use room the rows do not need. */
void cof_segi_lru_back(cof_seg *s, seg_ce *e)
{
    lru_unlink(s, e);
    e->prev = s->lru_tail;
    e->next = NULL;
    if (s->lru_tail)
        s->lru_tail->next = e;
    s->lru_tail = e;
    if (!s->lru_head)
        s->lru_head = e;
}

void cof_segi_ce_remove(cof_seg *s, seg_ce *e)
{
    seg_ce **pp = &s->bucket[ce_hash(e->key1, e->key2)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(s, e);
    s->cache_bytes -= e->bytes;
    cof_segi_ce_free(e);
}

seg_ce *cof_segi_ce_find(cof_seg *s, uint32_t k1, uint32_t k2)
{
    for (seg_ce *e = s->bucket[ce_hash(k1, k2)]; e; e = e->hnext)
        if (e->key1 == k1 && e->key2 == k2) {
            lru_unlink(s, e);
            lru_front(s, e);
            return e;
        }
    return NULL;
}

void cof_segi_ce_insert(cof_seg *s, seg_ce *e)
{
    uint32_t h = ce_hash(e->key1, e->key2);
    e->hnext = s->bucket[h];
    s->bucket[h] = e;
    lru_front(s, e);
    s->cache_bytes += e->bytes;
    seg_ce *v = s->lru_tail;
    while (s->cache_bytes > s->cache_max && v) {
        seg_ce *prev = v->prev;
        if (!v->pins && v != e)
            cof_segi_ce_remove(s, v);
        v = prev;
    }
}

void cof_segi_cache_clear(cof_seg *s)
{
    while (s->lru_head)
        cof_segi_ce_remove(s, s->lru_head);
}

void cof_seg_set_cache(cof_seg *s, size_t max_bytes)
{
    s->cache_max = max_bytes;
    seg_ce *v = s->lru_tail;
    while (s->cache_bytes > s->cache_max && v) {
        seg_ce *prev = v->prev;
        if (!v->pins)
            cof_segi_ce_remove(s, v);
        v = prev;
    }
}

static seg_ce *ce_new(uint32_t k1, uint32_t k2)
{
    seg_ce *e = calloc(1, sizeof *e);
    if (e) {
        e->key1 = k1;
        e->key2 = k2;
    }
    return e;
}

static size_t num_width(unsigned kind)
{
    switch (kind) {
    case SEGC_TIME: return 8;
    case SEGC_STATUS: case SEGC_DIR: return 1;
    case SEGC_DELAY: return 4;
    case SEGC_DELAYS: return 16;
    case SEGC_SIZE: return 8;
    case SEGC_NRCPT: return 4;
    case SEGC_PORT: return 2;
    default: return 4; /* CLEAR ids */
    }
}

void cof_segi_inv_free(cof_seg *s)
{
    for (int f = 0; f < COF_NFIELDS; f++) {
        free(s->inv_row[f]);
        free(s->inv_tok[f]);
        s->inv_row[f] = NULL;
        s->inv_tok[f] = NULL;
    }
}

/* Decode a numeric or clear column block into out (n rows). */
cof_status cof_segi_dec_plain_block(cof_seg *s, int ci, uint32_t b, void *out)
{
    const seg_col *c = &s->cols[ci];
    uint8_t *p;
    if (!s->sc_ix) { /* allocated on first decode: open handles that only look up stay small */
        s->sc_u64 = malloc(SEG_BR * sizeof *s->sc_u64);
        s->sc_u64b = malloc(SEG_BR * sizeof *s->sc_u64b);
        s->sc_ix = malloc(SEG_BR * sizeof *s->sc_ix);
        if (!s->sc_u64 || !s->sc_u64b || !s->sc_ix) {
            free(s->sc_ix);
            s->sc_ix = NULL;
            return COF_ERR(COF_NOMEM, "segment %s: decode buffers", s->path);
        }
    }
    cof_status st = load(s, &c->blk[b], NULL, c->kind, c->field, b, 0, &p);
    if (st)
        return st;
    uint32_t n = cof_segi_blk_rows(s, b);
    size_t len = c->blk[b].raw;
    switch (c->kind) {
    case SEGC_TIME: return dec_time(s, b, p, len, n, out);
    case SEGC_STATUS: return dec_small(s, p, len, n, COF_NSTATUS, out);
    case SEGC_DIR: return dec_small(s, p, len, n, COF_DIR_LOCAL + 1, out);
    case SEGC_CLEAR: return dec_ids(s, p, len, n, c->dict_n, out);
    default: return dec_ints(s, c->kind, p, len, n, out);
    }
}

/* Cached decoded numeric / clear block, pinned. own: when not cached, decode into an
 * entry owned by the caller (freed by unpin) instead of inserting it. */
cof_status cof_segi_get_plain(cof_seg *s, int ci, uint32_t b, int own, seg_ce **out)
{
    seg_ce *e = cof_segi_ce_find(s, (uint32_t)ci, b);
    if (!e) {
        uint32_t n = cof_segi_blk_rows(s, b);
        e = ce_new((uint32_t)ci, b);
        if (!e || !(e->a = malloc(n * num_width(s->cols[ci].kind)))) {
            cof_segi_ce_free(e);
            return COF_ERR(COF_NOMEM, "segment %s: block cache", s->path);
        }
        cof_status st = cof_segi_dec_plain_block(s, ci, b, e->a);
        if (st) {
            cof_segi_ce_free(e);
            return st;
        }
        e->n = n;
        e->bytes = sizeof *e + n * num_width(s->cols[ci].kind);
        e->owned = (uint8_t)own;
        if (!own)
            cof_segi_ce_insert(s, e);
    }
    e->pins++;
    *out = e;
    return COF_OK;
}

/* Sealed block of column ci, decrypted with key (fp: its fingerprint), pinned. */
cof_status cof_segi_get_sealed(cof_seg *s, int ci, uint32_t b, const uint8_t *key,
                               const uint8_t fp[16], int own, seg_ce **out)
{
    seg_ce *e = cof_segi_ce_find(s, (uint32_t)ci, b);
    if (e && !sodium_memcmp(e->fp, fp, 16)) {
        e->pins++;
        *out = e;
        return COF_OK;
    }
    if (e)
        cof_segi_ce_remove(s, e); /* opened under another key */
    const seg_col *c = &s->cols[ci];
    uint8_t *p;
    cof_status st = load(s, &c->blk[b], key, c->kind, c->field, b, 1, &p);
    if (st)
        return st;
    if (!(e = ce_new((uint32_t)ci, b))) {
        sodium_memzero(p, c->blk[b].raw);
        free(p);
        return COF_ERR(COF_NOMEM, "segment %s: block cache", s->path);
    }
    e->raw = p;
    e->raw_n = c->blk[b].raw;
    e->has_fp = 1;
    memcpy(e->fp, fp, 16);
    e->n = cof_segi_blk_rows(s, b);
    cof_colrd r = cof_colrd_make(p, e->raw_n);
    uint64_t d;
    if (!cof_colrd_varint_max(&r, e->n, &d)) {
        cof_segi_ce_free(e);
        return SEG_BAD(s, "sealed block header");
    }
    if (!(e->a = malloc(e->n * sizeof(uint16_t)))) {
        cof_segi_ce_free(e);
        return COF_ERR(COF_NOMEM, "segment %s: sealed block", s->path);
    }
    if ((st = dec_codes(s, &r, e->n, (uint32_t)d, e->a))) {
        cof_segi_ce_free(e);
        return st;
    }
    e->d = (uint32_t)d;
    if (!(e->val = malloc((d ? d : 1) * sizeof *e->val))) {
        cof_segi_ce_free(e);
        return COF_ERR(COF_NOMEM, "segment %s: sealed block", s->path);
    }
    if ((st = dec_values(s, &r, e->d, e->val))) {
        cof_segi_ce_free(e);
        return st;
    }
    e->bytes = sizeof *e + e->raw_n + d * sizeof *e->val + e->n * 2;
    e->owned = (uint8_t)own;
    if (!own)
        cof_segi_ce_insert(s, e);
    e->pins++;
    *out = e;
    return COF_OK;
}

/* ---- token index pages ---- */

static cof_status dec_page(cof_seg *s, int f, uint32_t pg, seg_ce *e)
{
    const seg_index *ix = &s->idx[f];
    const seg_page *P = &ix->pages[pg];
    cof_colrd r = cof_colrd_make(e->raw, e->raw_n);
    uint64_t k;
    const uint8_t *planes;
    if (!cof_colrd_varint(&r, &k) || k == 0 || k != P->ntok ||
        !cof_colrd_bytes(&r, (size_t)k * COF_TOKEN_LEN, &planes))
        return SEG_BAD(s, "index page header");
    e->n = (uint32_t)k;
    e->a = malloc((size_t)k * COF_TOKEN_LEN + COF_TOKEN_LEN);
    e->off = malloc(((size_t)k + 1) * sizeof *e->off);
    if (!e->a || !e->off)
        return COF_ERR(COF_NOMEM, "segment %s: index page", s->path);
    uint8_t *tok = e->a;
    for (uint32_t i = 0; i < k; i++)
        for (int b = 0; b < COF_TOKEN_LEN; b++)
            tok[(size_t)i * COF_TOKEN_LEN + b] = planes[(size_t)b * k + i];
    /* sorted, starting at the directory's token, below the next page's */
    if (cof_segi_tokcmp(tok, P->tok) != 0)
        return SEG_BAD(s, "index page does not start at its directory token");
    const uint8_t *last = tok;
    for (uint32_t i = 1; i < k; i++) {
        if (cof_segi_tokcmp(last, last + COF_TOKEN_LEN) >= 0)
            return SEG_BAD(s, "index page tokens not sorted");
        last += COF_TOKEN_LEN;
    }
    if (pg + 1 < ix->npages && cof_segi_tokcmp(last, ix->pages[pg + 1].tok) >= 0)
        return SEG_BAD(s, "index page overlaps the next");
    /* counts - 1 and first rows, bit-packed; then the gaps of every list in order */
    uint8_t wc, wr;
    const uint8_t *pc, *prow;
    if (!cof_colrd_u8(&r, &wc) || wc > 24 ||
        !cof_colrd_bytes(&r, cof_colenc_packed_len(k, wc), &pc) || !cof_colrd_u8(&r, &wr) ||
        wr > 24 || !cof_colrd_bytes(&r, cof_colenc_packed_len(k, wr), &prow))
        return SEG_BAD(s, "posting list header");
    e->cnt = malloc((size_t)k * sizeof *e->cnt);
    e->first = malloc((size_t)k * sizeof *e->first);
    if (!e->cnt || !e->first)
        return COF_ERR(COF_NOMEM, "segment %s: index page", s->path);
    if (!cof_colenc_unpack(pc, cof_colenc_packed_len(k, wc), k, wc, e->cnt) ||
        !cof_colenc_unpack(prow, cof_colenc_packed_len(k, wr), k, wr, e->first))
        return SEG_BAD(s, "posting list header");
    for (uint32_t i = 0; i < k; i++) {
        e->off[i] = (uint32_t)(r.p - e->raw);
        uint64_t row = e->first[i], gap;
        if (row >= s->nrows || e->cnt[i] >= s->nrows)
            return SEG_BAD(s, "posting list row out of range");
        for (uint32_t j = 0; j < e->cnt[i]; j++) {
            if (!cof_colrd_varint_max(&r, s->nrows, &gap) || row + gap + 1 >= s->nrows)
                return SEG_BAD(s, "posting list row out of range");
            row += gap + 1;
        }
    }
    e->off[k] = (uint32_t)(r.p - e->raw);
    if (r.p != r.end)
        return SEG_BAD(s, "trailing bytes in index page");
    e->bytes = sizeof *e + e->raw_n + (size_t)k * (COF_TOKEN_LEN + 12);
    return COF_OK;
}

/* Load and decode index page pg of field f into a fresh entry, not in the cache. */
cof_status cof_segi_page_decode(cof_seg *s, int f, uint32_t pg, seg_ce **out)
{
    uint8_t *p;
    const seg_frame *fr = &s->idx[f].pages[pg].fr;
    seg_ce *e;
    cof_status st = load(s, fr, NULL, SEGC_TOKEN, (unsigned)f, pg, 1, &p);
    if (st)
        return st;
    if (!(e = ce_new(SEG_KEY_PAGE | (uint32_t)f, pg))) {
        free(p);
        return COF_ERR(COF_NOMEM, "segment %s: index page", s->path);
    }
    e->raw = p;
    e->raw_n = fr->raw;
    if ((st = dec_page(s, f, pg, e))) {
        cof_segi_ce_free(e);
        return st;
    }
    *out = e;
    return COF_OK;
}

cof_status cof_segi_get_page(cof_seg *s, int f, uint32_t pg, seg_ce **out)
{
    seg_ce *e = cof_segi_ce_find(s, SEG_KEY_PAGE | (uint32_t)f, pg);
    if (!e) {
        cof_status st = cof_segi_page_decode(s, f, pg, &e);
        if (st)
            return st;
        cof_segi_ce_insert(s, e);
    }
    e->pins++;
    *out = e;
    return COF_OK;
}

/* ---- dictionaries ---- */

cof_status cof_segi_load_dict(cof_seg *s, int f)
{
    if (s->dict_loaded[f])
        return COF_OK;
    int ci = s->colix[SEGC_CLEAR][f];
    const seg_col *c = &s->cols[ci];
    uint8_t *p;
    cof_status st = load(s, &c->dict, NULL, SEGC_CLEAR, (unsigned)f, 0, 1, &p);
    if (st)
        return st;
    cof_colrd r = cof_colrd_make(p, c->dict.raw);
    uint64_t n;
    cof_str *d = NULL;
    if (!cof_colrd_varint(&r, &n) || n != c->dict_n) {
        st = SEG_BAD(s, "dictionary count");
        goto fail;
    }
    if (!(d = malloc(((size_t)n + 1) * sizeof *d))) {
        st = COF_ERR(COF_NOMEM, "segment %s: dictionary", s->path);
        goto fail;
    }
    d[0] = cof_str_make("", 0);
    for (uint32_t i = 1; i <= n; i++) {
        uint64_t l;
        if (!cof_colrd_varint_max(&r, COF_MAX_FIELD, &l) || l == 0) {
            st = SEG_BAD(s, "dictionary entry length");
            goto fail;
        }
        d[i].n = (size_t)l;
    }
    for (uint32_t i = 1; i <= n; i++) {
        const uint8_t *b;
        if (!cof_colrd_bytes(&r, d[i].n, &b)) {
            st = SEG_BAD(s, "dictionary truncated");
            goto fail;
        }
        d[i].p = (const char *)b;
        if (i > 1 && cof_segi_strcmp_slices(d[i - 1], d[i]) >= 0) {
            st = SEG_BAD(s, "dictionary not sorted");
            goto fail;
        }
    }
    if (r.p != r.end) {
        st = SEG_BAD(s, "trailing bytes in dictionary");
        goto fail;
    }
    s->dict[f] = d;
    s->dict_raw[f] = p;
    s->dict_loaded[f] = 1;
    return COF_OK;
fail:
    free(d);
    free(p);
    return st;
}

/* ---- open ---- */

static int rd_frame(cof_seg *s, cof_colrd *r, seg_frame *fr)
{
    if (!cof_colrd_u64(r, &fr->off) || !cof_colrd_u32(r, &fr->len) ||
        !cof_colrd_u32(r, &fr->raw) || !cof_colrd_u32(r, &fr->crc))
        return 0;
    return fr->off >= SEG_HEADER_LEN && fr->len > 0 && fr->len <= COF_SEG_MAX_BLOCK_BYTES &&
           fr->raw <= COF_SEG_MAX_BLOCK_BYTES && fr->off <= s->data_end &&
           fr->len <= s->data_end - fr->off;
}

#define FRAME_META_BYTES 20u

static cof_status parse_meta(cof_seg *s, const uint8_t *p, size_t len, uint64_t hdr_seg_id)
{
    cof_colrd r = cof_colrd_make(p, len);
    uint8_t tl;
    const uint8_t *tn;
    uint64_t mn, mx;
    if (!cof_colrd_u32(&r, &s->nrows) || !cof_colrd_u32(&r, &s->meta.day) ||
        !cof_colrd_u64(&r, &s->meta.seg_id) || !cof_colrd_u8(&r, &tl) || tl == 0 ||
        tl > COF_MAX_TENANT_NAME || !cof_colrd_bytes(&r, tl, &tn) || memchr(tn, 0, tl) ||
        !cof_colrd_u64(&r, &mn) || !cof_colrd_u64(&r, &mx) || !cof_colrd_u32(&r, &s->nblocks))
        return SEG_BAD(s, "meta header");
    memcpy(s->meta.tenant, tn, tl);
    s->meta.tenant[tl] = 0;
    s->min_time = (int64_t)mn;
    s->max_time = (int64_t)mx;
    if (s->meta.seg_id != hdr_seg_id)
        return SEG_BAD(s, "segment id differs between header and meta");
    if (s->nrows > COF_SEG_MAX_ROWS || s->nblocks != (s->nrows + SEG_BR - 1) / SEG_BR)
        return SEG_BAD(s, "row or block count");
    if (s->meta.day > SEG_MAX_DAY)
        return SEG_BAD(s, "day out of range");
    int64_t day0 = (int64_t)s->meta.day * DAY_US;
    if (s->nrows && (s->min_time < day0 || s->max_time >= day0 + DAY_US ||
                     s->min_time > s->max_time))
        return SEG_BAD(s, "time range outside the segment's day");
    if (cof_colrd_left(&r) / 16 < s->nblocks)
        return SEG_BAD(s, "time index truncated");
    s->btmin = malloc((s->nblocks + 1) * sizeof *s->btmin);
    s->btmax = malloc((s->nblocks + 1) * sizeof *s->btmax);
    if (!s->btmin || !s->btmax)
        return COF_ERR(COF_NOMEM, "segment %s: time index", s->path);
    for (uint32_t b = 0; b < s->nblocks; b++) {
        uint64_t lo = 0, hi = 0; /* present: checked against the remaining length above */
        (void)(cof_colrd_u64(&r, &lo) && cof_colrd_u64(&r, &hi));
        s->btmin[b] = (int64_t)lo;
        s->btmax[b] = (int64_t)hi;
        if (s->btmin[b] > s->btmax[b] || (b && s->btmin[b] < s->btmax[b - 1]) ||
            (b == 0 && s->btmin[0] != s->min_time) ||
            (b + 1 == s->nblocks && s->btmax[b] != s->max_time))
            return SEG_BAD(s, "time index out of order");
    }
    if (!cof_colrd_u32(&r, &s->ncols) || s->ncols > SEG_MAX_COLS)
        return SEG_BAD(s, "column count");
    s->cols = calloc(s->ncols + 1, sizeof *s->cols);
    if (!s->cols)
        return COF_ERR(COF_NOMEM, "segment %s: columns", s->path);
    for (uint32_t i = 0; i < s->ncols; i++) {
        seg_col *c = &s->cols[i];
        if (!cof_colrd_u8(&r, &c->kind) || !cof_colrd_u8(&r, &c->field) ||
            !cof_colrd_u32(&r, &c->dict_n))
            return SEG_BAD(s, "column header");
        int num = c->kind >= SEGC_TIME && c->kind < SEGC_NNUM;
        int keyed = c->kind == SEGC_CLEAR || c->kind == SEGC_SEALED;
        if (!(num || keyed) || c->field >= COF_NFIELDS || (num && c->field) ||
            (c->kind != SEGC_CLEAR && c->dict_n) || c->dict_n > s->nrows ||
            (c->kind == SEGC_CLEAR && c->dict_n == 0) || s->colix[c->kind][c->field] >= 0)
            return SEG_BAD(s, "column kind, field or dictionary size");
        s->colix[c->kind][c->field] = (int16_t)i;
        if (c->kind == SEGC_CLEAR && !rd_frame(s, &r, &c->dict))
            return SEG_BAD(s, "dictionary frame reference");
        if (cof_colrd_left(&r) / FRAME_META_BYTES < s->nblocks)
            return SEG_BAD(s, "column frames truncated");
        if (!(c->blk = malloc((s->nblocks + 1) * sizeof *c->blk)))
            return COF_ERR(COF_NOMEM, "segment %s: columns", s->path);
        for (uint32_t b = 0; b < s->nblocks; b++)
            if (!rd_frame(s, &r, &c->blk[b]))
                return SEG_BAD(s, "block frame reference");
    }
    for (unsigned k = SEGC_TIME; k < SEGC_NNUM; k++)
        if (s->colix[k][0] < 0)
            return SEG_BAD(s, "numeric column missing");
    uint32_t nidx;
    if (!cof_colrd_u32(&r, &nidx) || nidx > COF_NFIELDS)
        return SEG_BAD(s, "index count");
    for (uint32_t i = 0; i < nidx; i++) {
        uint8_t f;
        seg_index *ix;
        if (!cof_colrd_u8(&r, &f) || f >= COF_NFIELDS || s->has_idx[f])
            return SEG_BAD(s, "index field");
        ix = &s->idx[f];
        s->has_idx[f] = 1;
        if (!cof_colrd_u32(&r, &ix->ntokens) || !cof_colrd_u32(&r, &ix->npages) ||
            ix->ntokens > s->nrows || ix->npages > ix->ntokens ||
            (ix->ntokens && !ix->npages) ||
            cof_colrd_left(&r) / (COF_TOKEN_LEN + 4 + FRAME_META_BYTES) < ix->npages)
            return SEG_BAD(s, "index size");
        if (!(ix->pages = malloc((ix->npages + 1) * sizeof *ix->pages)))
            return COF_ERR(COF_NOMEM, "segment %s: index directory", s->path);
        uint64_t sum = 0;
        for (uint32_t pg = 0; pg < ix->npages; pg++) {
            seg_page *P = &ix->pages[pg];
            const uint8_t *t = NULL;
            if (!cof_colrd_bytes(&r, COF_TOKEN_LEN, &t))
                return SEG_BAD(s, "index directory truncated");
            memcpy(P->tok, t, COF_TOKEN_LEN);
            if (!cof_colrd_u32(&r, &P->ntok) || P->ntok == 0 || P->ntok > SEG_PAGE_TOKENS ||
                !rd_frame(s, &r, &P->fr) ||
                (pg && cof_segi_tokcmp(ix->pages[pg - 1].tok, P->tok) >= 0))
                return SEG_BAD(s, "index directory entry");
            sum += P->ntok;
        }
        if (sum != ix->ntokens)
            return SEG_BAD(s, "index token count");
    }
    if (r.p != r.end)
        return SEG_BAD(s, "trailing bytes in meta");
    return COF_OK;
}

static cof_status pread_exact(cof_seg *s, void *buf, size_t n, uint64_t off)
{
    size_t done = 0;
    while (done < n) {
        ssize_t k = pread(s->fd, (uint8_t *)buf + done, n - done, (off_t)(off + done));
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return COF_ERRNO("segment %s: read", s->path);
        if (k == 0)
            return SEG_BAD(s, "file truncated");
        done += (size_t)k;
    }
    return COF_OK;
}

static cof_status do_open(cof_seg *s)
{
    cof_status st;
    int nocrc = s->flags & COF_SEG_OPEN_NOCRC;
    do
        s->fd = open(s->path, O_RDONLY | O_CLOEXEC);
    while (s->fd < 0 && errno == EINTR);
    if (s->fd < 0)
        return COF_ERRNO("segment %s: open", s->path);
    struct stat sb;
    if (fstat(s->fd, &sb))
        return COF_ERRNO("segment %s: stat", s->path);
    if (!S_ISREG(sb.st_mode))
        return SEG_BAD(s, "not a regular file");
    s->fsize = (uint64_t)sb.st_size;
    if (s->fsize < SEG_HEADER_LEN + SEG_FOOTER_LEN)
        return SEG_BAD(s, "file too short (truncated?)");
    uint8_t h[SEG_HEADER_LEN], ft[SEG_FOOTER_LEN];
    if ((st = pread_exact(s, h, sizeof h, 0)) ||
        (st = pread_exact(s, ft, sizeof ft, s->fsize - SEG_FOOTER_LEN)))
        return st;
    if (memcmp(h, SEG_MAGIC, 8) != 0)
        return SEG_BAD(s, "not a segment file (bad magic)");
    if (cof_le32(h + 8) != SEG_VERSION)
        return COF_ERR(COF_CORRUPT, "segment %s: unsupported version %u", s->path,
                       cof_le32(h + 8));
    if (cof_le32(h + 12) != SEG_HEADER_LEN || cof_le32(h + 24) != 0 ||
        (!nocrc && cof_crc32c(0, h, 28) != cof_le32(h + 28)))
        return SEG_BAD(s, "header checksum mismatch");
    if (memcmp(ft + 24, SEG_FOOT_MAGIC, 8) != 0 ||
        (!nocrc && cof_crc32c(0, ft, 32) != cof_le32(ft + 32)) || cof_le32(ft + 20) != SEG_VERSION)
        return SEG_BAD(s, "footer checksum mismatch (truncated?)");
    seg_frame mf = { cof_le64(ft), cof_le32(ft + 8), cof_le32(ft + 12), cof_le32(ft + 16) };
    if (mf.off < SEG_HEADER_LEN || mf.len > COF_SEG_MAX_BLOCK_BYTES ||
        mf.raw > COF_SEG_MAX_BLOCK_BYTES || mf.off > s->fsize - SEG_FOOTER_LEN ||
        mf.len != s->fsize - SEG_FOOTER_LEN - mf.off)
        return SEG_BAD(s, "meta reference does not match the file size");
    s->data_end = mf.off;
    if (!(s->dz = ZSTD_createDCtx()))
        return COF_ERR(COF_NOMEM, "segment %s: zstd", s->path);
    uint8_t *m;
    if ((st = load(s, &mf, NULL, 0, 0, 0, 1, &m)))
        return st;
    st = parse_meta(s, m, mf.raw, cof_le64(h + 16));
    free(m);
    return st;
}

cof_status cof_seg_open_flags(const char *path, unsigned flags, cof_seg **out)
{
    *out = NULL;
    if (sodium_init() < 0)
        return COF_ERR(COF_DENIED, "libsodium failed to initialize");
    cof_seg *s = calloc(1, sizeof *s);
    size_t pl = strlen(path);
    if (!s || !(s->path = malloc(pl + 1))) {
        free(s);
        return COF_ERR(COF_NOMEM, "segment %s: open", path);
    }
    memcpy(s->path, path, pl + 1);
    s->fd = -1;
    s->flags = flags;
    s->cache_max = SEG_CACHE_DEFAULT;
    memset(s->colix, 0xff, sizeof s->colix);
    randombytes_buf(s->fp_salt, sizeof s->fp_salt);
    cof_status st = do_open(s);
    if (st) {
        cof_seg_close(s);
        return st;
    }
    *out = s;
    return COF_OK;
}

cof_status cof_seg_open(const char *path, cof_seg **out)
{
    return cof_seg_open_flags(path, 0, out);
}

void cof_seg_close(cof_seg *s)
{
    if (!s)
        return;
    cof_segi_cache_clear(s);
    if (s->fd >= 0)
        close(s->fd);
    for (uint32_t i = 0; s->cols && i < s->ncols; i++)
        free(s->cols[i].blk);
    for (int f = 0; f < COF_NFIELDS; f++) {
        free(s->idx[f].pages);
        free(s->dict[f]);
        free(s->dict_raw[f]);
        free(s->sc_clear[f]);
    }
    cof_segi_inv_free(s);
    if (s->plain)
        sodium_memzero(s->plain, s->plain_cap);
    free(s->cols);
    free(s->btmin);
    free(s->btmax);
    free(s->io);
    free(s->rawb);
    free(s->plain);
    free(s->sc_time);
    free(s->sc_status);
    free(s->sc_dir);
    free(s->sc_delay);
    free(s->sc_size);
    free(s->sc_zero);
    free(s->sc_u64);
    free(s->sc_u64b);
    free(s->sc_ix);
    ZSTD_freeDCtx(s->dz);
    free(s->path);
    free(s);
}

const cof_seg_meta *cof_seg_meta_get(const cof_seg *s) { return &s->meta; }
uint32_t cof_seg_nrows(const cof_seg *s) { return s->nrows; }
int64_t cof_seg_min_time(const cof_seg *s) { return s->min_time; }
int64_t cof_seg_max_time(const cof_seg *s) { return s->max_time; }
uint64_t cof_seg_file_size(const cof_seg *s) { return s->fsize; }
