/* segment.c - the segment reader (cof_seg_*). Format: segment_int.h; writer:
 * segment_write.c.
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
#define BR COF_SEG_BLOCK_ROWS
#define NKINDS 32
#define CACHE_BUCKETS 4096u
#define KEY_PAGE 0x10000u /* cache key1 for index pages: KEY_PAGE | field */
#define KEY_ROW 0x20000u  /* cache key1 for materialized rows (key2: row id) */

#define SEG_BAD(s, what) COF_ERR(COF_CORRUPT, "segment %s: %s", (s)->path, (what))

typedef struct {
    uint8_t kind, field;
    uint32_t dict_n;
    seg_frame dict;
    seg_frame *blk;
} seg_col;

typedef struct {
    uint8_t tok[COF_TOKEN_LEN];
    uint32_t ntok;
    seg_frame fr;
} seg_page;

typedef struct {
    uint32_t ntokens, npages;
    seg_page *pages;
} seg_index;

/* One decoded block (or index page) in the cache. */
typedef struct seg_ce {
    struct seg_ce *prev, *next, *hnext;
    uint32_t key1, key2;
    size_t bytes;
    int pins;
    uint8_t has_fp;
    uint8_t owned;      /* decoded for one get, not in the cache: freed on unpin */
    uint8_t raw_inline; /* raw is part of this allocation (row entries) */
    uint8_t fp[16];
    uint32_t n, d;
    void *a;       /* numeric values; clear ids; row -> entry+1 (u16); page tokens */
    cof_str *val;  /* sealed entries */
    uint32_t *off;   /* page: offsets of each token's gaps (k + 1) */
    uint32_t *cnt;   /* page: rows per token - 1 */
    uint32_t *first; /* page: first row per token */
    uint8_t *raw;  /* buffer the strings / postings point into */
    size_t raw_n;
} seg_ce;

struct cof_seg {
    char *path;
    int fd;
    unsigned flags;
    uint64_t fsize, data_end;
    cof_seg_meta meta;
    uint32_t nrows, nblocks, ncols;
    int64_t min_time, max_time;
    int64_t *btmin, *btmax;
    seg_col *cols;
    int16_t colix[NKINDS][COF_NFIELDS];
    seg_index idx[COF_NFIELDS];
    int has_idx[COF_NFIELDS];
    /* dictionaries, loaded on first use */
    cof_str *dict[COF_NFIELDS];
    uint8_t *dict_raw[COF_NFIELDS];
    int dict_loaded[COF_NFIELDS];
    /* row -> token ordinal + 1 and the tokens, per indexed field (load_inverse) */
    uint32_t *inv_row[COF_NFIELDS];
    uint8_t *inv_tok[COF_NFIELDS];
    int inv_loaded;
    /* scratch */
    ZSTD_DCtx *dz;
    uint8_t *io, *rawb, *plain;
    size_t io_cap, raw_cap, plain_cap;
    int64_t *sc_time;
    uint8_t *sc_status, *sc_dir;
    int32_t *sc_delay;
    uint64_t *sc_size;
    uint32_t *sc_clear[COF_NFIELDS];
    uint32_t *sc_zero;
    uint64_t *sc_u64, *sc_u64b; /* decoder scratch, BR values each */
    uint32_t *sc_ix;
    /* cache */
    seg_ce *bucket[CACHE_BUCKETS];
    seg_ce *lru_head, *lru_tail;
    size_t cache_bytes, cache_max;
    uint8_t fp_salt[16];
};

static uint32_t blk_rows(const cof_seg *s, uint32_t b)
{
    uint32_t lo = b * BR;
    return s->nrows - lo < BR ? s->nrows - lo : BR;
}

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
static cof_status read_frame(cof_seg *s, const seg_frame *fr)
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
    cof_status st = read_frame(s, fr);
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
         * >= 0 and at most UINT64_MAX / BR, so the sum cannot wrap and ends at span
         * only if every time stayed inside the block's range */
        uint32_t *d = s->sc_ix, mx = 0;
        if (!cof_colenc_unpack(pk, pl, n - 1, w, d))
            return SEG_BAD(s, "time block length");
        for (uint32_t i = 0; i + 1 < n; i++)
            mx = d[i] > mx ? d[i] : mx;
        if (__builtin_add_overflow((uint64_t)mx, dmin, &step) ||
            __builtin_mul_overflow(step, scale, &step) || step > UINT64_MAX / BR)
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

static void ce_free(seg_ce *e)
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
    return (h ^ (h >> 13)) & (CACHE_BUCKETS - 1);
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
static void lru_back(cof_seg *s, seg_ce *e)
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

static void ce_remove(cof_seg *s, seg_ce *e)
{
    seg_ce **pp = &s->bucket[ce_hash(e->key1, e->key2)];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(s, e);
    s->cache_bytes -= e->bytes;
    ce_free(e);
}

static seg_ce *ce_find(cof_seg *s, uint32_t k1, uint32_t k2)
{
    for (seg_ce *e = s->bucket[ce_hash(k1, k2)]; e; e = e->hnext)
        if (e->key1 == k1 && e->key2 == k2) {
            lru_unlink(s, e);
            lru_front(s, e);
            return e;
        }
    return NULL;
}

static void ce_insert(cof_seg *s, seg_ce *e)
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
            ce_remove(s, v);
        v = prev;
    }
}

static void cache_clear(cof_seg *s)
{
    while (s->lru_head)
        ce_remove(s, s->lru_head);
}

void cof_seg_set_cache(cof_seg *s, size_t max_bytes)
{
    s->cache_max = max_bytes;
    seg_ce *v = s->lru_tail;
    while (s->cache_bytes > s->cache_max && v) {
        seg_ce *prev = v->prev;
        if (!v->pins)
            ce_remove(s, v);
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

static cof_status load_dict(cof_seg *s, int f);

static void inv_free(cof_seg *s)
{
    for (int f = 0; f < COF_NFIELDS; f++) {
        free(s->inv_row[f]);
        free(s->inv_tok[f]);
        s->inv_row[f] = NULL;
        s->inv_tok[f] = NULL;
    }
}


/* Decode a numeric or clear column block into out (n rows). */
static cof_status dec_plain_block(cof_seg *s, int ci, uint32_t b, void *out)
{
    const seg_col *c = &s->cols[ci];
    uint8_t *p;
    if (!s->sc_ix) { /* allocated on first decode: open handles that only look up stay small */
        s->sc_u64 = malloc(BR * sizeof *s->sc_u64);
        s->sc_u64b = malloc(BR * sizeof *s->sc_u64b);
        s->sc_ix = malloc(BR * sizeof *s->sc_ix);
        if (!s->sc_u64 || !s->sc_u64b || !s->sc_ix) {
            free(s->sc_ix);
            s->sc_ix = NULL;
            return COF_ERR(COF_NOMEM, "segment %s: decode buffers", s->path);
        }
    }
    cof_status st = load(s, &c->blk[b], NULL, c->kind, c->field, b, 0, &p);
    if (st)
        return st;
    uint32_t n = blk_rows(s, b);
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
static cof_status get_plain(cof_seg *s, int ci, uint32_t b, int own, seg_ce **out)
{
    seg_ce *e = ce_find(s, (uint32_t)ci, b);
    if (!e) {
        uint32_t n = blk_rows(s, b);
        e = ce_new((uint32_t)ci, b);
        if (!e || !(e->a = malloc(n * num_width(s->cols[ci].kind)))) {
            ce_free(e);
            return COF_ERR(COF_NOMEM, "segment %s: block cache", s->path);
        }
        cof_status st = dec_plain_block(s, ci, b, e->a);
        if (st) {
            ce_free(e);
            return st;
        }
        e->n = n;
        e->bytes = sizeof *e + n * num_width(s->cols[ci].kind);
        e->owned = (uint8_t)own;
        if (!own)
            ce_insert(s, e);
    }
    e->pins++;
    *out = e;
    return COF_OK;
}

/* Sealed block of column ci, decrypted with key (fp: its fingerprint), pinned. */
static cof_status get_sealed(cof_seg *s, int ci, uint32_t b, const uint8_t *key,
                             const uint8_t fp[16], int own, seg_ce **out)
{
    seg_ce *e = ce_find(s, (uint32_t)ci, b);
    if (e && !sodium_memcmp(e->fp, fp, 16)) {
        e->pins++;
        *out = e;
        return COF_OK;
    }
    if (e)
        ce_remove(s, e); /* opened under another key */
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
    e->n = blk_rows(s, b);
    cof_colrd r = cof_colrd_make(p, e->raw_n);
    uint64_t d;
    if (!cof_colrd_varint_max(&r, e->n, &d)) {
        ce_free(e);
        return SEG_BAD(s, "sealed block header");
    }
    if (!(e->a = malloc(e->n * sizeof(uint16_t)))) {
        ce_free(e);
        return COF_ERR(COF_NOMEM, "segment %s: sealed block", s->path);
    }
    if ((st = dec_codes(s, &r, e->n, (uint32_t)d, e->a))) {
        ce_free(e);
        return st;
    }
    e->d = (uint32_t)d;
    if (!(e->val = malloc((d ? d : 1) * sizeof *e->val))) {
        ce_free(e);
        return COF_ERR(COF_NOMEM, "segment %s: sealed block", s->path);
    }
    if ((st = dec_values(s, &r, e->d, e->val))) {
        ce_free(e);
        return st;
    }
    e->bytes = sizeof *e + e->raw_n + d * sizeof *e->val + e->n * 2;
    e->owned = (uint8_t)own;
    if (!own)
        ce_insert(s, e);
    e->pins++;
    *out = e;
    return COF_OK;
}

/* ---- token index pages ---- */

static int tokcmp(const uint8_t *a, const uint8_t *b) { return memcmp(a, b, COF_TOKEN_LEN); }

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
    if (tokcmp(tok, P->tok) != 0)
        return SEG_BAD(s, "index page does not start at its directory token");
    const uint8_t *last = tok;
    for (uint32_t i = 1; i < k; i++) {
        if (tokcmp(last, last + COF_TOKEN_LEN) >= 0)
            return SEG_BAD(s, "index page tokens not sorted");
        last += COF_TOKEN_LEN;
    }
    if (pg + 1 < ix->npages && tokcmp(last, ix->pages[pg + 1].tok) >= 0)
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

/* Rows of token t of a decoded page; the posting was validated by dec_page. */
typedef struct {
    cof_colrd r;
    uint64_t left, row;
    int first;
} page_iter;

static void page_iter_init(const seg_ce *pg, uint32_t t, page_iter *it)
{
    it->r = cof_colrd_make(pg->raw + pg->off[t], pg->off[t + 1] - pg->off[t]);
    it->first = 1;
    it->row = pg->first[t];
    it->left = (uint64_t)pg->cnt[t] + 1;
}

static int page_iter_next(page_iter *it, uint32_t *row)
{
    uint64_t v;
    if (!it->left)
        return 0;
    if (!it->first) {
        if (!cof_colrd_varint(&it->r, &v))
            return 0;
        it->row += v + 1;
    }
    it->first = 0;
    it->left--;
    *row = (uint32_t)it->row;
    return 1;
}

/* Load and decode index page pg of field f into a fresh entry, not in the cache. */
static cof_status page_decode(cof_seg *s, int f, uint32_t pg, seg_ce **out)
{
    uint8_t *p;
    const seg_frame *fr = &s->idx[f].pages[pg].fr;
    seg_ce *e;
    cof_status st = load(s, fr, NULL, SEGC_TOKEN, (unsigned)f, pg, 1, &p);
    if (st)
        return st;
    if (!(e = ce_new(KEY_PAGE | (uint32_t)f, pg))) {
        free(p);
        return COF_ERR(COF_NOMEM, "segment %s: index page", s->path);
    }
    e->raw = p;
    e->raw_n = fr->raw;
    if ((st = dec_page(s, f, pg, e))) {
        ce_free(e);
        return st;
    }
    *out = e;
    return COF_OK;
}

static cof_status get_page(cof_seg *s, int f, uint32_t pg, seg_ce **out)
{
    seg_ce *e = ce_find(s, KEY_PAGE | (uint32_t)f, pg);
    if (!e) {
        cof_status st = page_decode(s, f, pg, &e);
        if (st)
            return st;
        ce_insert(s, e);
    }
    e->pins++;
    *out = e;
    return COF_OK;
}

/* ---- dictionaries ---- */

static int strcmp_slices(cof_str a, cof_str b)
{
    size_t m = a.n < b.n ? a.n : b.n;
    int c = m ? memcmp(a.p, b.p, m) : 0;
    return c ? c : (a.n < b.n ? -1 : a.n > b.n);
}

static cof_status load_dict(cof_seg *s, int f)
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
        if (i > 1 && strcmp_slices(d[i - 1], d[i]) >= 0) {
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
    if (s->nrows > COF_SEG_MAX_ROWS || s->nblocks != (s->nrows + BR - 1) / BR)
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
                (pg && tokcmp(ix->pages[pg - 1].tok, P->tok) >= 0))
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
    cache_clear(s);
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
    inv_free(s);
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

/* ---- queries ---- */

static void unpin(seg_ce *e)
{
    if (e && e->owned)
        ce_free(e);
    else if (e)
        e->pins--;
}

cof_status cof_seg_lookup(cof_seg *s, cof_field f, const uint8_t token[COF_TOKEN_LEN],
                          uint32_t *rows, size_t cap, size_t *n)
{
    *n = 0;
    if ((unsigned)f >= COF_NFIELDS)
        return COF_ERR(COF_BADINPUT, "segment lookup: bad field");
    if (!s->has_idx[f] || s->idx[f].npages == 0)
        return COF_OK;
    const seg_index *ix = &s->idx[f];
    /* last page whose first token <= token */
    uint32_t lo = 0, hi = ix->npages;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (tokcmp(ix->pages[mid].tok, token) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return COF_OK;
    seg_ce *pg;
    cof_status st = get_page(s, f, lo - 1, &pg);
    if (st)
        return st;
    const uint8_t *tok = pg->a;
    uint32_t a = 0, b = pg->n;
    while (a < b) {
        uint32_t mid = a + (b - a) / 2;
        int c = tokcmp(tok + (size_t)mid * COF_TOKEN_LEN, token);
        if (c == 0) {
            page_iter it;
            page_iter_init(pg, (uint32_t)mid, &it);
            uint32_t row;
            size_t cnt = 0;
            while (page_iter_next(&it, &row)) {
                if (cnt < cap)
                    rows[cnt] = row;
                cnt++;
            }
            *n = cnt;
            break;
        }
        if (c < 0)
            a = mid + 1;
        else
            b = mid;
    }
    unpin(pg);
    lru_back(s, pg);
    return COF_OK;
}

static cof_status ensure_u32(cof_seg *s, uint32_t **p)
{
    if (!*p && !(*p = calloc(BR, sizeof **p)))
        return COF_ERR(COF_NOMEM, "segment %s: scan buffers", s->path);
    return COF_OK;
}

cof_status cof_seg_lookup_clear(cof_seg *s, cof_field f, cof_str value, uint32_t *rows,
                                size_t cap, size_t *n)
{
    *n = 0;
    if ((unsigned)f >= COF_NFIELDS)
        return COF_ERR(COF_BADINPUT, "segment lookup: bad field");
    int ci = s->colix[SEGC_CLEAR][f];
    if (ci < 0 || value.n == 0)
        return COF_OK;
    cof_status st = load_dict(s, f);
    if (st)
        return st;
    uint32_t lo = 1, hi = s->cols[ci].dict_n + 1, id = 0;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp_slices(s->dict[f][mid], value);
        if (c == 0) {
            id = mid;
            break;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (!id)
        return COF_OK;
    if ((st = ensure_u32(s, &s->sc_clear[f])))
        return st;
    size_t cnt = 0;
    for (uint32_t b = 0; b < s->nblocks; b++) {
        if ((st = dec_plain_block(s, ci, b, s->sc_clear[f])))
            return st;
        uint32_t nr = blk_rows(s, b);
        const uint32_t *ids = s->sc_clear[f];
        for (uint32_t i = 0; i < nr; i++)
            if (ids[i] == id) {
                if (cnt < cap)
                    rows[cnt] = b * BR + i;
                cnt++;
            }
    }
    *n = cnt;
    return COF_OK;
}

/* The blocks get needs for one block, pinned while its rows are materialized. */
typedef struct {
    seg_ce *num[SEGC_NNUM];
    seg_ce *clear[COF_NFIELDS], *seal[COF_NFIELDS];
} seg_pins;

static void unpin_all(seg_pins *p)
{
    for (int k = 0; k < SEGC_NNUM; k++)
        unpin(p->num[k]);
    for (int f = 0; f < COF_NFIELDS; f++) {
        unpin(p->clear[f]);
        unpin(p->seal[f]);
    }
    memset(p, 0, sizeof *p);
}

static cof_status pin_block(cof_seg *s, uint32_t b, const uint8_t *key, const uint8_t fp[16],
                            int own, seg_pins *p)
{
    cof_status st;
    for (unsigned k = SEGC_TIME; k < SEGC_NNUM; k++)
        if ((st = get_plain(s, s->colix[k][0], b, own, &p->num[k])))
            return st;
    for (int f = 0; f < COF_NFIELDS; f++) {
        int ci = s->colix[SEGC_CLEAR][f];
        if (ci >= 0 && ((st = load_dict(s, f)) || (st = get_plain(s, ci, b, own, &p->clear[f]))))
            return st;
        ci = s->colix[SEGC_SEALED][f];
        if (key && ci >= 0 && (st = get_sealed(s, ci, b, key, fp, own, &p->seal[f])))
            return st;
    }
    return COF_OK;
}

/* Row -> token of every indexed field, for gets that fill tokens (the store's merge).
 * Built once from all index pages; bounded by the segment itself: 4 bytes per row and
 * 8 per distinct token of each indexed field. Pages are decoded outside the cache so
 * the sweep does not evict what queries keep there. */
static cof_status load_inverse_fields(cof_seg *s);

/* All or nothing: a failure (corrupt page) leaves no partial inverse behind. */
static cof_status load_inverse(cof_seg *s)
{
    if (s->inv_loaded)
        return COF_OK;
    cof_status st = load_inverse_fields(s);
    if (st)
        inv_free(s);
    else
        s->inv_loaded = 1;
    return st;
}

static cof_status load_inverse_fields(cof_seg *s)
{
    for (int f = 0; f < COF_NFIELDS; f++) {
        if (!s->has_idx[f] || s->idx[f].ntokens == 0)
            continue;
        const seg_index *ix = &s->idx[f];
        s->inv_row[f] = calloc((size_t)s->nrows + 1, sizeof *s->inv_row[f]);
        s->inv_tok[f] = malloc(((size_t)ix->ntokens + 1) * COF_TOKEN_LEN);
        if (!s->inv_row[f] || !s->inv_tok[f])
            return COF_ERR(COF_NOMEM, "segment %s: token inverse", s->path);
        uint32_t ord = 0;
        for (uint32_t pg = 0; pg < ix->npages; pg++) {
            seg_ce *e;
            cof_status st = page_decode(s, f, pg, &e);
            if (st)
                return st;
            for (uint32_t t = 0; t < e->n; t++, ord++) {
                memcpy(s->inv_tok[f] + (size_t)ord * COF_TOKEN_LEN,
                       (const uint8_t *)e->a + (size_t)t * COF_TOKEN_LEN, COF_TOKEN_LEN);
                page_iter it;
                page_iter_init(e, t, &it);
                uint32_t row;
                while (page_iter_next(&it, &row)) {
                    if (s->inv_row[f][row]) {
                        ce_free(e);
                        return SEG_BAD(s, "row in two posting lists of one field");
                    }
                    s->inv_row[f][row] = ord + 1;
                }
            }
            ce_free(e);
        }
    }
    return COF_OK;
}

static void fill_record(const cof_seg *s, const seg_pins *p, uint32_t b, uint32_t i,
                        int tokens, cof_record *r)
{
    cof_record_init(r);
    r->time_us = ((const int64_t *)p->num[SEGC_TIME]->a)[i];
    r->status = ((const uint8_t *)p->num[SEGC_STATUS]->a)[i];
    r->direction = ((const uint8_t *)p->num[SEGC_DIR]->a)[i];
    r->delay_ms = ((const int32_t *)p->num[SEGC_DELAY]->a)[i];
    memcpy(r->delays_ms, (const int32_t *)p->num[SEGC_DELAYS]->a + 4 * (size_t)i,
           sizeof r->delays_ms);
    r->size = ((const uint64_t *)p->num[SEGC_SIZE]->a)[i];
    r->nrcpt = ((const uint32_t *)p->num[SEGC_NRCPT]->a)[i];
    r->relay_port = ((const uint16_t *)p->num[SEGC_PORT]->a)[i];
    for (int f = 0; f < COF_NFIELDS; f++) {
        if (p->clear[f])
            r->clear[f] = s->dict[f][((const uint32_t *)p->clear[f]->a)[i]];
        if (tokens && s->inv_row[f]) {
            uint32_t t = s->inv_row[f][b * BR + i];
            if (t) {
                memcpy(r->token[f], s->inv_tok[f] + (size_t)(t - 1) * COF_TOKEN_LEN,
                       COF_TOKEN_LEN);
                r->token_mask |= 1u << f;
            }
        }
        if (p->seal[f]) {
            uint16_t e = ((const uint16_t *)p->seal[f]->a)[i];
            if (e)
                r->sealed[f] = p->seal[f]->val[e - 1];
        }
    }
}

/* ---- row cache ----
 * Lookups touch ~100 rows spread over ~100 blocks; caching those blocks would take
 * ~1 MiB each, so instead get_notokens keeps each materialized row (numeric values,
 * clear dictionary ids and, with a key, the sealed values) as one small entry in the
 * same bounded LRU; the blocks decoded to make them are freed after use rather than
 * cached, so they cannot push the rows out. Sealed plaintext is tagged with the key's fingerprint, served only
 * to the same key and wiped on eviction, like sealed blocks. */
/* Row entry bytes: u32 cmask | u32 smask | u8 status | u8 direction | varints: time -
 * segment min, size, zigzag delay, 4 zigzag delays, nrcpt, port, one dictionary id per
 * cmask bit | per smask bit: varint length, bytes. About 250 bytes for a typical row. */
static size_t put_varint(uint8_t *o, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        o[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    o[n++] = (uint8_t)v;
    return n;
}

static void row_put(cof_seg *s, const seg_pins *p, uint32_t i, uint32_t row, const cof_record *r,
                    int has_key, const uint8_t fp[16])
{
    uint8_t fixed[10 + 10 * 9 + 5 * COF_NFIELDS], *o = fixed + 8;
    uint32_t cmask = 0, smask = 0;
    size_t len;
    *o++ = r->status;
    *o++ = r->direction;
    o += put_varint(o, (uint64_t)(r->time_us - s->min_time));
    o += put_varint(o, r->size);
    o += put_varint(o, cof_zigzag(r->delay_ms));
    for (int k = 0; k < 4; k++)
        o += put_varint(o, cof_zigzag(r->delays_ms[k]));
    o += put_varint(o, r->nrcpt);
    o += put_varint(o, r->relay_port);
    for (int f = 0; f < COF_NFIELDS; f++)
        if (p->clear[f] && ((const uint32_t *)p->clear[f]->a)[i]) {
            cmask |= 1u << f;
            o += put_varint(o, ((const uint32_t *)p->clear[f]->a)[i]);
        }
    cof_set_le32(fixed, cmask);
    len = (size_t)(o - fixed);
    for (int f = 0; f < COF_NFIELDS; f++)
        if (r->sealed[f].n) {
            smask |= 1u << f;
            len += 2 + r->sealed[f].n; /* n <= COF_MAX_FIELD < 2^14: two varint bytes */
        }
    cof_set_le32(fixed + 4, smask);
    seg_ce *e = ce_find(s, KEY_ROW, row);
    if (e) {
        if (e->pins)
            return;
        ce_remove(s, e);
    }
    if (!(e = calloc(1, sizeof *e + len)))
        return; /* caching is best effort */
    e->key1 = KEY_ROW;
    e->key2 = row;
    e->raw = (uint8_t *)(e + 1);
    e->raw_inline = 1;
    memcpy(e->raw, fixed, (size_t)(o - fixed));
    uint8_t *w = e->raw + (o - fixed);
    for (int f = 0; f < COF_NFIELDS; f++)
        if (smask >> f & 1) {
            size_t l = r->sealed[f].n;
            w[0] = (uint8_t)(l | 0x80);
            w[1] = (uint8_t)(l >> 7);
            memcpy(w + 2, r->sealed[f].p, l);
            w += 2 + l;
        }
    e->raw_n = len;
    e->has_fp = (uint8_t)has_key;
    if (has_key)
        memcpy(e->fp, fp, 16);
    e->bytes = sizeof *e + len;
    ce_insert(s, e);
}

/* A cached row usable by this caller: same key (or both without one). */
static seg_ce *row_find(cof_seg *s, uint32_t row, int has_key, const uint8_t fp[16])
{
    seg_ce *e = ce_find(s, KEY_ROW, row);
    if (!e || e->has_fp != has_key || (has_key && sodium_memcmp(e->fp, fp, 16)))
        return NULL;
    return e;
}

/* Entries are our own writing (row_put), so the reads cannot fail. */
static void row_get(const cof_seg *s, const seg_ce *e, cof_record *r)
{
    cof_colrd rd = cof_colrd_make(e->raw, e->raw_n);
    uint32_t cmask = cof_le32(e->raw), smask = cof_le32(e->raw + 4);
    uint64_t v[9] = { 0 };
    rd.p += 8;
    cof_record_init(r);
    (void)(cof_colrd_u8(&rd, &r->status) && cof_colrd_u8(&rd, &r->direction));
    for (int k = 0; k < 9; k++)
        (void)cof_colrd_varint(&rd, &v[k]);
    r->time_us = s->min_time + (int64_t)v[0];
    r->size = v[1];
    r->delay_ms = (int32_t)cof_unzigzag(v[2]);
    for (int k = 0; k < 4; k++)
        r->delays_ms[k] = (int32_t)cof_unzigzag(v[3 + k]);
    r->nrcpt = (uint32_t)v[7];
    r->relay_port = (uint16_t)v[8];
    for (int f = 0; f < COF_NFIELDS; f++)
        if (cmask >> f & 1) {
            uint64_t id = 0;
            (void)cof_colrd_varint(&rd, &id);
            r->clear[f] = s->dict[f][id];
        }
    for (int f = 0; f < COF_NFIELDS; f++)
        if (smask >> f & 1) {
            uint64_t l = 0;
            const uint8_t *b = NULL;
            (void)(cof_colrd_varint(&rd, &l) && cof_colrd_bytes(&rd, (size_t)l, &b));
            r->sealed[f] = cof_str_make((const char *)b, (size_t)l);
        }
}

static cof_status get_rows(cof_seg *s, const uint8_t *key, const uint32_t *rows, size_t n,
                           int tokens, cof_seg_row_fn fn, void *ctx)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i] >= s->nrows || (i && rows[i] < rows[i - 1]))
            return COF_ERR(COF_BADINPUT, "segment %s: row ids not ascending or out of range",
                           s->path);
    cof_status st;
    if (tokens && n && (st = load_inverse(s)))
        return st;
    uint8_t fp[16] = { 0 };
    if (key)
        crypto_generichash(fp, sizeof fp, key, COF_KEY_LEN, s->fp_salt, sizeof s->fp_salt);
    seg_pins p;
    memset(&p, 0, sizeof p);
    st = COF_OK;
    size_t i = 0;
    int rc = !tokens && s->cache_max > 0; /* row cache: query gets only */
    while (i < n && !st) {
        uint32_t b = rows[i] / BR;
        size_t j = i;
        int hit = rc;
        while (j < n && rows[j] / BR == b) {
            hit = hit && row_find(s, rows[j], key != NULL, fp);
            j++;
        }
        if (hit) {
            for (; i < j && !st; i++) {
                seg_ce *e = row_find(s, rows[i], key != NULL, fp);
                cof_record r;
                if (!e) { /* only if the callback itself evicted it: decode the block */
                    hit = 0;
                    break;
                }
                e->pins++;
                row_get(s, e, &r);
                st = fn(ctx, rows[i], &r);
                e->pins--;
                sodium_memzero(r.sealed, sizeof r.sealed);
            }
            if (hit || st)
                continue;
        }
        if ((st = pin_block(s, b, key, fp, rc, &p)))
            break;
        for (; i < j && !st; i++) {
            cof_record r;
            fill_record(s, &p, b, rows[i] - b * BR, tokens, &r);
            if (rc)
                row_put(s, &p, rows[i] - b * BR, rows[i], &r, key != NULL, fp);
            st = fn(ctx, rows[i], &r);
            sodium_memzero(r.sealed, sizeof r.sealed);
        }
        unpin_all(&p);
    }
    unpin_all(&p);
    cof_seg_set_cache(s, s->cache_max); /* trim what pinning let overflow */
    sodium_memzero(fp, sizeof fp);
    return st;
}

cof_status cof_seg_get(cof_seg *s, const uint8_t *key, const uint32_t *rows, size_t n,
                       cof_seg_row_fn fn, void *ctx)
{
    return get_rows(s, key, rows, n, 1, fn, ctx);
}

cof_status cof_seg_get_notokens(cof_seg *s, const uint8_t *key, const uint32_t *rows, size_t n,
                                cof_seg_row_fn fn, void *ctx)
{
    return get_rows(s, key, rows, n, 0, fn, ctx);
}

cof_status cof_seg_scan2(cof_seg *s, uint32_t field_mask, uint32_t num_mask, int64_t since,
                         int64_t until, cof_seg_block_fn fn, void *ctx)
{
    cof_status st;
    if (field_mask >> COF_NFIELDS || num_mask & ~(uint32_t)COF_SCAN_ALL)
        return COF_ERR(COF_BADINPUT, "segment scan: bad field or column mask");
    if (!s->sc_time) {
        s->sc_time = malloc(BR * sizeof *s->sc_time);
        s->sc_status = malloc(BR);
        s->sc_dir = malloc(BR);
        s->sc_delay = malloc(BR * sizeof *s->sc_delay);
        s->sc_size = malloc(BR * sizeof *s->sc_size);
        if (!s->sc_time || !s->sc_status || !s->sc_dir || !s->sc_delay || !s->sc_size)
            return COF_ERR(COF_NOMEM, "segment %s: scan buffers", s->path);
    }
    cof_seg_block blk;
    memset(&blk, 0, sizeof blk);
    for (int f = 0; f < COF_NFIELDS; f++) {
        if (!(field_mask >> f & 1))
            continue;
        if (s->colix[SEGC_CLEAR][f] < 0) {
            if ((st = ensure_u32(s, &s->sc_zero)))
                return st;
            blk.clear_id[f] = s->sc_zero;
            continue;
        }
        if ((st = ensure_u32(s, &s->sc_clear[f])) || (st = load_dict(s, f)))
            return st;
        blk.clear_id[f] = s->sc_clear[f];
        blk.dict[f] = s->dict[f];
        blk.dict_n[f] = s->cols[s->colix[SEGC_CLEAR][f]].dict_n;
    }
    /* time always; the other numeric columns only when asked for */
    static const struct {
        uint32_t bit;
        unsigned kind;
    } opt[] = { { COF_SCAN_STATUS, SEGC_STATUS },
                { COF_SCAN_DIRECTION, SEGC_DIR },
                { COF_SCAN_DELAY, SEGC_DELAY },
                { COF_SCAN_SIZE, SEGC_SIZE } };
    void *dst[4] = { s->sc_status, s->sc_dir, s->sc_delay, s->sc_size };
    blk.time_us = s->sc_time;
    blk.status = num_mask & COF_SCAN_STATUS ? s->sc_status : NULL;
    blk.direction = num_mask & COF_SCAN_DIRECTION ? s->sc_dir : NULL;
    blk.delay_ms = num_mask & COF_SCAN_DELAY ? s->sc_delay : NULL;
    blk.size = num_mask & COF_SCAN_SIZE ? s->sc_size : NULL;
    for (uint32_t b = 0; b < s->nblocks; b++) {
        if (s->btmax[b] < since || s->btmin[b] >= until)
            continue;
        if ((st = dec_plain_block(s, s->colix[SEGC_TIME][0], b, s->sc_time)))
            return st;
        for (int k = 0; k < 4; k++)
            if ((num_mask & opt[k].bit) &&
                (st = dec_plain_block(s, s->colix[opt[k].kind][0], b, dst[k])))
                return st;
        for (int f = 0; f < COF_NFIELDS; f++) {
            int ci = s->colix[SEGC_CLEAR][f];
            if ((field_mask >> f & 1) && ci >= 0 &&
                (st = dec_plain_block(s, ci, b, s->sc_clear[f])))
                return st;
        }
        blk.first_row = b * BR;
        blk.nrows = blk_rows(s, b);
        if ((st = fn(ctx, &blk)))
            return st;
    }
    return COF_OK;
}

cof_status cof_seg_scan(cof_seg *s, uint32_t field_mask, int64_t since, int64_t until,
                        cof_seg_block_fn fn, void *ctx)
{
    return cof_seg_scan2(s, field_mask, COF_SCAN_ALL, since, until, fn, ctx);
}

cof_status cof_seg_verify(cof_seg *s, const uint8_t *key)
{
    cof_status st = COF_OK;
    uint8_t fp[16] = { 0 };
    if (key)
        crypto_generichash(fp, sizeof fp, key, COF_KEY_LEN, s->fp_salt, sizeof s->fp_salt);
    cache_clear(s); /* verify what is on disk, not what was decoded earlier */
    for (int f = 0; f < COF_NFIELDS; f++)
        if (s->colix[SEGC_CLEAR][f] >= 0 && !s->dict_loaded[f] && (st = load_dict(s, f)))
            return st;
    for (uint32_t b = 0; b < s->nblocks && !st; b++) {
        seg_pins p;
        memset(&p, 0, sizeof p);
        st = pin_block(s, b, key, fp, 0, &p);
        for (int f = 0; f < COF_NFIELDS && !st && !key; f++) {
            int ci = s->colix[SEGC_SEALED][f];
            if (ci >= 0)
                st = read_frame(s, &s->cols[ci].blk[b]); /* no key: checksum only */
        }
        unpin_all(&p);
        cache_clear(s);
    }
    for (int f = 0; f < COF_NFIELDS && !st; f++)
        for (uint32_t pg = 0; s->has_idx[f] && pg < s->idx[f].npages && !st; pg++) {
            seg_ce *e;
            if (!(st = get_page(s, f, pg, &e)))
                unpin(e);
        }
    cache_clear(s);
    sodium_memzero(fp, sizeof fp);
    return st;
}

uint64_t cof_seg_column_bytes(const cof_seg *s, unsigned kind, unsigned field, int index)
{
    uint64_t t = 0;
    if (field >= COF_NFIELDS || kind >= NKINDS)
        return 0;
    if (index) {
        for (uint32_t pg = 0; s->has_idx[field] && pg < s->idx[field].npages; pg++)
            t += s->idx[field].pages[pg].fr.len;
        return t;
    }
    int ci = s->colix[kind][field];
    if (ci < 0)
        return 0;
    if (kind == SEGC_CLEAR)
        t += s->cols[ci].dict.len;
    for (uint32_t b = 0; b < s->nblocks; b++)
        t += s->cols[ci].blk[b].len;
    return t;
}
