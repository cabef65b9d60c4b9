/* segment_write.c - the segment writer (cof_segw_*). Format: segment_int.h.
 *
 * Invariants:
 *  1. Nothing personal reaches the file in the clear: sealed[] values are written only
 *     inside AEAD boxes; clear[] values go to dictionaries; tokens are keyed hashes.
 *  2. The file appears under its final name only complete: it is written as
 *     "<path>.tmp", fsynced, renamed and the directory fsynced; any failure before the
 *     rename removes the temporary file (cof_segw_free), so a crash leaves either no
 *     segment or a whole one (a stale .tmp at worst, never a torn segment).
 *  3. Rows are written in (time_us, insertion order): a stable sort, so equal times
 *     keep the order they were added in and row ids are deterministic.
 *  4. Every frame's offset, length, decoded length and crc32c are recorded in meta;
 *     meta's own are in the footer and the footer and header carry their own crc32c.
 *  5. Each sealed block is boxed with associated data naming tenant, segment id,
 *     column and block index (cof_seg_ad), so no box can be moved undetected.
 *  6. The data key lives in sodium_malloc'd memory and is wiped by sodium_free.
 *
 * States: open --add*--> open --finish--> finished (file durable) ; any --free--> gone.
 * A failed finish leaves the writer failed: only free is allowed. */
#include "segment_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "colenc.h"
#include "crc.h"
#include "seal.h"

#define DAY_US 86400000000LL
/* Bytes of variable row data kept before COF_NOMEM (strings, ids, tokens). */
#define SEGW_MAX_VAR ((size_t)16 << 30)

typedef struct {
    int64_t time_us;
    uint64_t size;
    uint64_t var_off; /* into w->var: u32 cmask, smask, tmask, ids, sealed, tokens */
    int32_t delay_ms;
    int32_t delays_ms[4];
    uint32_t nrcpt;
    uint32_t seq;
    uint32_t tok_rel; /* tokens start at var_off + tok_rel */
    uint16_t relay_port;
    uint8_t direction, status;
} segw_row;

/* Interning table: string -> id (1-based), strings kept in one buffer. */
typedef struct {
    cof_colbuf bytes;
    uint64_t *off;   /* per id-1: offset << 16 | len (len <= COF_MAX_FIELD) */
    uint32_t *slots; /* open addressing: id or 0 */
    uint32_t n, nslots;
} segw_dict;

struct cof_segw {
    char *path, *tmp;
    int fd;
    int failed, finished, created;
    int level;
    cof_seg_meta meta;
    uint8_t *key; /* sodium_malloc'd */
    segw_row *rows;
    size_t nrows, cap;
    cof_colbuf var;
    segw_dict dict[COF_NFIELDS];
    uint32_t clear_any, sealed_any, token_any;
    /* finish state */
    ZSTD_CCtx *zc;
    cof_colbuf out, pay, zb, meta_b;
    uint64_t foff;
    uint32_t *order;
    uint32_t *remap[COF_NFIELDS];
    uint64_t *nv, *ns; /* numeric block scratch, COF_SEG_BLOCK_ROWS each */
};

static uint64_t hash_bytes(const void *p, size_t n)
{
    /* FNV-1a: interning only; inputs are our own records, not hostile */
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static cof_str dict_str(const segw_dict *d, uint32_t id)
{
    uint64_t o = d->off[id - 1];
    return cof_str_make((const char *)d->bytes.p + (o >> 16), (size_t)(o & 0xffff));
}

static cof_status dict_intern(segw_dict *d, cof_str v, uint32_t *id)
{
    if (d->n + 1 > d->nslots / 2) {
        uint32_t ns = d->nslots ? d->nslots * 2 : 1024;
        uint32_t *sl = calloc(ns, sizeof *sl);
        uint64_t *no = realloc(d->off, (size_t)ns / 2 * sizeof *no);
        if (!sl || !no) {
            free(sl);
            if (no)
                d->off = no;
            return COF_ERR(COF_NOMEM, "segment writer: dictionary");
        }
        d->off = no;
        for (uint32_t i = 1; i <= d->n; i++) {
            cof_str s = dict_str(d, i);
            uint32_t h = (uint32_t)hash_bytes(s.p, s.n) & (ns - 1);
            while (sl[h])
                h = (h + 1) & (ns - 1);
            sl[h] = i;
        }
        free(d->slots);
        d->slots = sl;
        d->nslots = ns;
    }
    uint32_t h = (uint32_t)hash_bytes(v.p, v.n) & (d->nslots - 1);
    while (d->slots[h]) {
        if (cof_str_eq(dict_str(d, d->slots[h]), v)) {
            *id = d->slots[h];
            return COF_OK;
        }
        h = (h + 1) & (d->nslots - 1);
    }
    size_t at = d->bytes.n;
    cof_colbuf_put(&d->bytes, v.p, v.n);
    if (d->bytes.oom || at > (UINT64_MAX >> 16))
        return COF_ERR(COF_NOMEM, "segment writer: dictionary");
    d->off[d->n] = (uint64_t)at << 16 | v.n;
    d->slots[h] = ++d->n;
    *id = d->n;
    return COF_OK;
}

static void dict_free(segw_dict *d)
{
    cof_colbuf_free(&d->bytes);
    free(d->off);
    free(d->slots);
}

void cof_seg_ad(uint8_t ad[SEG_AD_LEN], const cof_seg_meta *m, unsigned kind, unsigned field,
                uint32_t block)
{
    memset(ad, 0, SEG_AD_LEN);
    memcpy(ad, SEG_AD_PREFIX, 13);
    size_t tl = strnlen(m->tenant, COF_MAX_TENANT_NAME);
    ad[13] = (uint8_t)tl;
    memcpy(ad + 14, m->tenant, tl);
    cof_set_le64(ad + 14 + COF_MAX_TENANT_NAME, m->seg_id);
    cof_set_le32(ad + 22 + COF_MAX_TENANT_NAME, kind << 8 | field);
    cof_set_le32(ad + 26 + COF_MAX_TENANT_NAME, block);
}

void cof_segw_set_level(cof_segw *w, int level) { w->level = level; }

cof_status cof_segw_open(const char *path, const cof_seg_meta *meta,
                         const uint8_t key[COF_KEY_LEN], cof_segw **out)
{
    *out = NULL;
    size_t tl = strnlen(meta->tenant, sizeof meta->tenant);
    if (tl == 0 || tl > COF_MAX_TENANT_NAME)
        return COF_ERR(COF_BADINPUT, "segment %s: tenant name empty or too long", path);
    if (meta->day > SEG_MAX_DAY)
        return COF_ERR(COF_BADINPUT, "segment %s: day %u out of range", path, meta->day);
    if (sodium_init() < 0)
        return COF_ERR(COF_DENIED, "libsodium failed to initialize");
    cof_segw *w = calloc(1, sizeof *w);
    if (!w)
        return COF_ERR(COF_NOMEM, "segment writer");
    w->fd = -1;
    w->level = SEG_ZLEVEL;
    w->meta = *meta;
    w->meta.tenant[tl] = 0;
    size_t pl = strlen(path);
    w->path = malloc(pl + 1);
    w->tmp = malloc(pl + 5);
    w->key = sodium_malloc(COF_KEY_LEN);
    if (!w->path || !w->tmp || !w->key) {
        cof_segw_free(w);
        return COF_ERR(COF_NOMEM, "segment writer");
    }
    memcpy(w->path, path, pl + 1);
    memcpy(w->tmp, path, pl);
    memcpy(w->tmp + pl, ".tmp", 5);
    memcpy(w->key, key, COF_KEY_LEN);
    struct stat sb;
    if (lstat(path, &sb) == 0) {
        cof_segw_free(w);
        return COF_ERR(COF_EXISTS, "segment %s: already exists", path);
    }
    do
        w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    while (w->fd < 0 && errno == EINTR);
    if (w->fd < 0) {
        cof_status st = COF_ERRNO("segment %s: create temporary file", path);
        cof_segw_free(w);
        return st;
    }
    w->created = 1;
    *out = w;
    return COF_OK;
}

cof_status cof_segw_add(cof_segw *w, const cof_record *r)
{
    if (w->failed || w->finished)
        return COF_ERR(COF_BADINPUT, "segment %s: writer is finished or failed", w->path);
    if (w->nrows >= COF_SEG_MAX_ROWS)
        return COF_ERR(COF_LIMIT, "segment %s: more than %u rows", w->path, COF_SEG_MAX_ROWS);
    if (r->time_us < 0 || r->time_us / DAY_US != (int64_t)w->meta.day)
        return COF_ERR(COF_BADINPUT, "segment %s: row time outside day %u", w->path,
                       w->meta.day);
    if (r->status >= COF_NSTATUS || r->direction > COF_DIR_LOCAL)
        return COF_ERR(COF_BADINPUT, "segment %s: bad status or direction", w->path);
    uint32_t cmask = 0, smask = 0, tmask = r->token_mask & ((1u << COF_NFIELDS) - 1);
    uint32_t ids[COF_NFIELDS];
    for (int f = 0; f < COF_NFIELDS; f++) {
        if (r->clear[f].n > COF_MAX_FIELD || r->sealed[f].n > COF_MAX_FIELD)
            return COF_ERR(COF_LIMIT, "segment %s: field %s longer than %u bytes", w->path,
                           cof_field_name((cof_field)f), COF_MAX_FIELD);
        if (r->sealed[f].n)
            smask |= 1u << f;
    }
    for (int f = 0; f < COF_NFIELDS; f++) {
        if (!r->clear[f].n)
            continue;
        cof_status st = dict_intern(&w->dict[f], r->clear[f], &ids[f]);
        if (st)
            return st;
        cmask |= 1u << f;
    }
    if (w->nrows == w->cap) {
        size_t nc = w->cap ? w->cap * 2 : 1024;
        segw_row *nr = realloc(w->rows, nc * sizeof *nr);
        if (!nr)
            return COF_ERR(COF_NOMEM, "segment %s: rows", w->path);
        w->rows = nr;
        w->cap = nc;
    }
    segw_row *row = &w->rows[w->nrows];
    row->time_us = r->time_us;
    row->size = r->size;
    row->delay_ms = r->delay_ms;
    memcpy(row->delays_ms, r->delays_ms, sizeof row->delays_ms);
    row->nrcpt = r->nrcpt;
    row->seq = (uint32_t)w->nrows;
    row->relay_port = r->relay_port;
    row->direction = r->direction;
    row->status = r->status;
    row->var_off = w->var.n;
    cof_colbuf_u32(&w->var, cmask);
    cof_colbuf_u32(&w->var, smask);
    cof_colbuf_u32(&w->var, tmask);
    for (int f = 0; f < COF_NFIELDS; f++)
        if (cmask >> f & 1)
            cof_colbuf_u32(&w->var, ids[f]);
    for (int f = 0; f < COF_NFIELDS; f++)
        if (smask >> f & 1) {
            cof_colbuf_u32(&w->var, (uint32_t)r->sealed[f].n);
            cof_colbuf_put(&w->var, r->sealed[f].p, r->sealed[f].n);
        }
    row->tok_rel = (uint32_t)(w->var.n - row->var_off);
    for (int f = 0; f < COF_NFIELDS; f++)
        if (tmask >> f & 1)
            cof_colbuf_put(&w->var, r->token[f], COF_TOKEN_LEN);
    if (w->var.oom || w->var.n > SEGW_MAX_VAR) {
        w->failed = 1; /* var may hold a partial row: refuse further use */
        return COF_ERR(COF_NOMEM, "segment %s: row data", w->path);
    }
    w->clear_any |= cmask;
    w->sealed_any |= smask;
    w->token_any |= tmask;
    w->nrows++;
    return COF_OK;
}

/* A row's variable part, one field at a time (no full decode): clear id (0: absent). */
static uint32_t row_clear_id(const cof_segw *w, const segw_row *row, int f)
{
    const uint8_t *p = w->var.p + row->var_off;
    uint32_t cmask = cof_le32(p);
    if (!(cmask >> f & 1))
        return 0;
    return cof_le32(p + 12 + 4 * (size_t)__builtin_popcount(cmask & ((1u << f) - 1)));
}

/* Sealed value of field f (n == 0: absent). */
static cof_str row_sealed(const cof_segw *w, const segw_row *row, int f)
{
    const uint8_t *p = w->var.p + row->var_off;
    uint32_t cmask = cof_le32(p), smask = cof_le32(p + 4);
    if (!(smask >> f & 1))
        return cof_str_make(NULL, 0);
    p += 12 + 4 * (size_t)__builtin_popcount(cmask);
    for (uint32_t m = smask & ((1u << f) - 1); m; m &= m - 1)
        p += 4 + cof_le32(p);
    return cof_str_make((const char *)p + 4, cof_le32(p));
}

/* Token of field f, or NULL. */
static const uint8_t *row_token(const cof_segw *w, const segw_row *row, int f)
{
    const uint8_t *p = w->var.p + row->var_off;
    uint32_t tmask = cof_le32(p + 8);
    if (!(tmask >> f & 1))
        return NULL;
    return p + row->tok_rel + COF_TOKEN_LEN * (size_t)__builtin_popcount(tmask & ((1u << f) - 1));
}

/* ---- output ---- */

static cof_status out_flush(cof_segw *w)
{
    size_t done = 0;
    while (done < w->out.n) {
        ssize_t k = write(w->fd, w->out.p + done, w->out.n - done);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return COF_ERRNO("segment %s: write", w->path);
        done += (size_t)k;
    }
    w->out.n = 0;
    return COF_OK;
}

static cof_status out_put(cof_segw *w, const void *p, size_t n)
{
    cof_colbuf_put(&w->out, p, n);
    if (w->out.oom)
        return COF_ERR(COF_NOMEM, "segment %s: output buffer", w->path);
    w->foff += n;
    return w->out.n >= (1u << 20) ? out_flush(w) : COF_OK;
}

/* Compress w->pay (and seal it when sealed) and append it as one frame. */
static cof_status put_frame(cof_segw *w, int sealed, unsigned kind, unsigned field,
                            uint32_t block, seg_frame *fr)
{
    if (w->pay.oom)
        return COF_ERR(COF_NOMEM, "segment %s: encoding", w->path);
    if (w->pay.n > COF_SEG_MAX_BLOCK_BYTES)
        return COF_ERR(COF_LIMIT, "segment %s: block larger than %u bytes", w->path,
                       COF_SEG_MAX_BLOCK_BYTES);
    size_t bound = ZSTD_compressBound(w->pay.n);
    cof_colbuf_reset(&w->zb);
    uint8_t *z = cof_colbuf_extend(&w->zb, bound + COF_SEAL_OVERHEAD);
    if (!z)
        return COF_ERR(COF_NOMEM, "segment %s: compression buffer", w->path);
    /* sealed: compress right after the nonce and encrypt in place (libsodium allows
     * ciphertext == plaintext, not any other overlap) */
    uint8_t *zdst = sealed ? z + COF_SEAL_NONCEBYTES : z;
    size_t zn = ZSTD_compressCCtx(w->zc, zdst, bound, w->pay.p, w->pay.n, w->level);
    if (ZSTD_isError(zn))
        return COF_ERR(COF_NOMEM, "segment %s: zstd: %s", w->path, ZSTD_getErrorName(zn));
    const uint8_t *frame = zdst;
    size_t flen = zn;
    if (sealed) {
        uint8_t ad[SEG_AD_LEN];
        cof_seg_ad(ad, &w->meta, kind, field, block);
        cof_status st = cof_seal_box(w->key, ad, SEG_AD_LEN, zdst, zn, z);
        if (st) {
            sodium_memzero(zdst, zn); /* compressed personal data */
            return st;
        }
        frame = z;
        flen = zn + COF_SEAL_OVERHEAD;
    }
    if (flen > COF_SEG_MAX_BLOCK_BYTES)
        return COF_ERR(COF_LIMIT, "segment %s: frame too large", w->path);
    fr->off = w->foff;
    fr->len = (uint32_t)flen;
    fr->raw = (uint32_t)w->pay.n;
    fr->crc = cof_crc32c(0, frame, flen);
    if (sealed)
        sodium_memzero(w->pay.p, w->pay.n);
    return out_put(w, frame, flen);
}

static void meta_frame(cof_colbuf *m, const seg_frame *fr)
{
    cof_colbuf_u64(m, fr->off);
    cof_colbuf_u32(m, fr->len);
    cof_colbuf_u32(m, fr->raw);
    cof_colbuf_u32(m, fr->crc);
}

/* Row i in written order: do_finish permutes w->rows into that order after sorting, so
 * the column passes read rows sequentially. */
static const segw_row *row_at(const cof_segw *w, size_t i) { return &w->rows[i]; }

/* Column passes read each row's variable part in row order; the parts lie in insertion
 * order in w->var, so fetch a few rows ahead. */
#define SEGW_PREFETCH 16
static void prefetch_var(const cof_segw *w, size_t i)
{
    if (i < w->nrows)
        __builtin_prefetch(w->var.p + w->rows[i].var_off);
}

/* Apply the sort permutation to w->rows in place (order[i]: the row that goes to i);
 * order is consumed. */
static void permute_rows(cof_segw *w)
{
    uint32_t *ord = w->order;
    for (size_t i = 0; i < w->nrows; i++) {
        if (ord[i] == i)
            continue;
        segw_row tmp = w->rows[i];
        size_t j = i;
        while (ord[j] != i) {
            size_t k = ord[j];
            w->rows[j] = w->rows[k];
            ord[j] = (uint32_t)j;
            j = k;
        }
        w->rows[j] = tmp;
        ord[j] = (uint32_t)j;
    }
}

/* w->order = row indices in (time_us, seq) order. Keys (time - tmin) << 24 | index
 * (times span under a day, 2^37 us; indexes are below COF_SEG_MAX_ROWS = 2^24) are
 * made in index order and radix sorted stably on their time bytes only, so equal times
 * keep insertion order. */
_Static_assert(COF_SEG_MAX_ROWS <= (1u << 24), "row index fits the low 24 key bits");

static cof_status sort_rows(cof_segw *w)
{
    size_t n = w->nrows;
    uint64_t *a = malloc((n ? n : 1) * sizeof *a), *b = malloc((n ? n : 1) * sizeof *b);
    if (!a || !b) {
        free(a);
        free(b);
        return COF_ERR(COF_NOMEM, "segment %s: finish", w->path);
    }
    int64_t tmin = INT64_MAX;
    for (size_t i = 0; i < n; i++)
        tmin = w->rows[i].time_us < tmin ? w->rows[i].time_us : tmin;
    uint64_t span = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t t = (uint64_t)(w->rows[i].time_us - tmin);
        span |= t;
        a[i] = t << 24 | i;
    }
    uint64_t *src = a, *dst = b;
    for (unsigned sh = 24; sh < 64 && span >> (sh - 24); sh += 8) {
        size_t cnt[256] = { 0 };
        for (size_t i = 0; i < n; i++)
            cnt[src[i] >> sh & 0xff]++;
        size_t sum = 0;
        for (unsigned d = 0; d < 256; d++) {
            size_t c = cnt[d];
            cnt[d] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            dst[cnt[src[i] >> sh & 0xff]++] = src[i];
        uint64_t *x = src;
        src = dst;
        dst = x;
    }
    for (size_t i = 0; i < n; i++)
        w->order[i] = (uint32_t)(src[i] & 0xffffff);
    free(a);
    free(b);
    return COF_OK;
}

/* Order-preserving map of a signed value onto u64 (for cof_colenc_ints). */
static uint64_t s2u(int64_t v) { return (uint64_t)v ^ (1ull << 63); }

/* Encode one numeric column block into w->pay. */
static void enc_numeric(cof_segw *w, unsigned kind, size_t lo, size_t n)
{
    cof_colbuf *p = &w->pay;
    uint64_t *v = w->nv;
    cof_colbuf_reset(p);
    switch (kind) {
    case SEGC_TIME: {
        /* deltas over a common factor (second-precision syslog times: 10^6), minus the
         * smallest, bit-packed */
        uint64_t g = 0, dmin = UINT64_MAX;
        for (size_t i = 1; i < n; i++) {
            v[i - 1] = (uint64_t)(row_at(w, lo + i)->time_us - row_at(w, lo + i - 1)->time_us);
            g = cof_gcd(g, v[i - 1]);
        }
        if (g == 0)
            g = 1;
        for (size_t i = 0; i + 1 < n; i++) {
            v[i] /= g;
            dmin = v[i] < dmin ? v[i] : dmin;
        }
        if (n < 2)
            dmin = 0;
        uint64_t mx = 0;
        for (size_t i = 0; i + 1 < n; i++) {
            v[i] -= dmin;
            mx = v[i] > mx ? v[i] : mx;
        }
        unsigned wd = cof_colenc_width(mx);
        cof_colbuf_u64(p, (uint64_t)row_at(w, lo)->time_us);
        cof_colbuf_varint(p, g);
        cof_colbuf_varint(p, dmin);
        cof_colbuf_u8(p, (uint8_t)wd);
        cof_colenc_pack64(p, v, n ? n - 1 : 0, wd);
        break;
    }
    case SEGC_STATUS:
    case SEGC_DIR: {
        uint32_t v32[COF_SEG_BLOCK_ROWS], mx = 0;
        for (size_t i = 0; i < n; i++) {
            v32[i] = kind == SEGC_STATUS ? row_at(w, lo + i)->status : row_at(w, lo + i)->direction;
            mx = v32[i] > mx ? v32[i] : mx;
        }
        unsigned wd = cof_colenc_width(mx);
        cof_colbuf_u8(p, (uint8_t)wd);
        cof_colenc_pack(p, v32, n, wd);
        break;
    }
    case SEGC_DELAY:
        for (size_t i = 0; i < n; i++)
            v[i] = s2u(row_at(w, lo + i)->delay_ms);
        cof_colenc_ints(p, v, n, w->ns);
        break;
    case SEGC_DELAYS:
        for (int k = 0; k < 4; k++) {
            for (size_t i = 0; i < n; i++)
                v[i] = s2u(row_at(w, lo + i)->delays_ms[k]);
            cof_colenc_ints(p, v, n, w->ns);
        }
        break;
    case SEGC_SIZE:
    case SEGC_NRCPT:
    case SEGC_PORT:
        for (size_t i = 0; i < n; i++) {
            const segw_row *r = row_at(w, lo + i);
            v[i] = kind == SEGC_SIZE ? r->size : kind == SEGC_NRCPT ? r->nrcpt : r->relay_port;
        }
        cof_colenc_ints(p, v, n, w->ns);
        break;
    }
}

static int cmp_str(cof_str a, cof_str b)
{
    size_t m = a.n < b.n ? a.n : b.n;
    int c = m ? memcmp(a.p, b.p, m) : 0;
    if (c)
        return c;
    return a.n < b.n ? -1 : a.n > b.n;
}

static int cmp_dict_ids(const void *a, const void *b, void *ctx)
{
    const segw_dict *d = ctx;
    return cmp_str(dict_str(d, *(const uint32_t *)a), dict_str(d, *(const uint32_t *)b));
}

/* Sorted dictionary frame for field f; fills w->remap[f] (old id -> new id). */
static cof_status write_dict(cof_segw *w, int f, seg_frame *fr)
{
    segw_dict *d = &w->dict[f];
    uint32_t *ids = malloc(((size_t)d->n + 1) * sizeof *ids);
    w->remap[f] = malloc(((size_t)d->n + 1) * sizeof *w->remap[f]);
    if (!ids || !w->remap[f]) {
        free(ids);
        return COF_ERR(COF_NOMEM, "segment %s: dictionary", w->path);
    }
    for (uint32_t i = 0; i < d->n; i++)
        ids[i] = i + 1;
    qsort_r(ids, d->n, sizeof *ids, cmp_dict_ids, d);
    w->remap[f][0] = 0;
    cof_colbuf_reset(&w->pay);
    cof_colbuf_varint(&w->pay, d->n);
    for (uint32_t i = 0; i < d->n; i++) {
        w->remap[f][ids[i]] = i + 1;
        cof_colbuf_varint(&w->pay, dict_str(d, ids[i]).n);
    }
    for (uint32_t i = 0; i < d->n; i++) {
        cof_str s = dict_str(d, ids[i]);
        cof_colbuf_put(&w->pay, s.p, s.n);
    }
    free(ids);
    return put_frame(w, 0, SEGC_CLEAR, (unsigned)f, 0, fr);
}

/* Per-block entries of a sealed field: its distinct values in first-row order. */
typedef struct {
    uint32_t slots[2 * COF_SEG_BLOCK_ROWS]; /* entry index + 1, open addressing */
    cof_str val[COF_SEG_BLOCK_ROWS];
    uint32_t code[COF_SEG_BLOCK_ROWS];
    uint32_t d;
} segw_ent;

static void build_entries(const cof_segw *w, int f, size_t lo, size_t n, segw_ent *e)
{
    memset(e->slots, 0, sizeof e->slots);
    e->d = 0;
    for (size_t i = 0; i < n; i++) {
        prefetch_var(w, lo + i + SEGW_PREFETCH);
        cof_str sv = row_sealed(w, row_at(w, lo + i), f);
        if (!sv.n) {
            e->code[i] = 0;
            continue;
        }
        uint64_t h = hash_bytes(sv.p, sv.n);
        uint32_t slot = (uint32_t)h & (2 * COF_SEG_BLOCK_ROWS - 1), ix = 0;
        int found = 0;
        while (e->slots[slot]) {
            ix = e->slots[slot] - 1;
            if (cof_str_eq(e->val[ix], sv)) {
                found = 1;
                break;
            }
            slot = (slot + 1) & (2 * COF_SEG_BLOCK_ROWS - 1);
        }
        if (!found) {
            ix = e->d++;
            e->slots[slot] = ix + 1;
            e->val[ix] = sv;
            e->code[i] = 1;
        } else {
            e->code[i] = e->d - ix + 1;
        }
    }
}

static void enc_codes(cof_colbuf *p, const segw_ent *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cof_colbuf_varint(p, e->code[i]);
}

/* Sealed column of field f: per block, row codes and the distinct values, boxed. */
static cof_status write_sealed(cof_segw *w, int f, uint32_t nblocks, uint32_t *ncols)
{
    cof_status st = COF_OK;
    seg_frame *sf = calloc(nblocks + 1, sizeof *sf);
    segw_ent *e = malloc(sizeof *e);
    if (!sf || !e) {
        st = COF_ERR(COF_NOMEM, "segment %s: sealed column", w->path);
        goto out;
    }
    for (uint32_t b = 0; b < nblocks; b++) {
        size_t lo = (size_t)b * COF_SEG_BLOCK_ROWS;
        size_t n = w->nrows - lo < COF_SEG_BLOCK_ROWS ? w->nrows - lo : COF_SEG_BLOCK_ROWS;
        build_entries(w, f, lo, n, e);
        cof_colbuf_reset(&w->pay);
        cof_colbuf_varint(&w->pay, e->d);
        enc_codes(&w->pay, e, n);
        for (uint32_t i = 0; i < e->d; i++) {
            cof_colbuf_varint(&w->pay, e->val[i].n);
            cof_colbuf_put(&w->pay, e->val[i].p, e->val[i].n);
        }
        if ((st = put_frame(w, 1, SEGC_SEALED, (unsigned)f, b, &sf[b])))
            goto out;
    }
    cof_colbuf_u8(&w->meta_b, SEGC_SEALED);
    cof_colbuf_u8(&w->meta_b, (uint8_t)f);
    cof_colbuf_u32(&w->meta_b, 0);
    for (uint32_t b = 0; b < nblocks; b++)
        meta_frame(&w->meta_b, &sf[b]);
    ++*ncols;
out:
    free(sf);
    free(e);
    return st;
}

typedef struct {
    uint64_t key; /* the token read big-endian: integer order == memcmp order */
    uint8_t tok[COF_TOKEN_LEN];
    uint32_t row;
} segw_pair;

_Static_assert(COF_TOKEN_LEN == 8, "a token is one u64 sort key");

static uint64_t be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

/* Stable LSD radix sort of pr[0..n) by key (tmp: n entries); pairs come in ascending
 * row order, so the result is in (token, row) order. Passes over a byte every key
 * shares are skipped. Returns the array holding the result (pr or tmp). */
static segw_pair *sort_pairs(segw_pair *pr, segw_pair *tmp, size_t n)
{
    for (unsigned sh = 0; sh < 64; sh += 8) {
        size_t cnt[256] = { 0 };
        for (size_t i = 0; i < n; i++)
            cnt[pr[i].key >> sh & 0xff]++;
        if (n == 0 || cnt[pr[0].key >> sh & 0xff] == n)
            continue;
        size_t sum = 0;
        for (unsigned b = 0; b < 256; b++) {
            size_t c = cnt[b];
            cnt[b] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            tmp[cnt[pr[i].key >> sh & 0xff]++] = pr[i];
        segw_pair *x = pr;
        pr = tmp;
        tmp = x;
    }
    return pr;
}

/* Token index of field f: sorted distinct tokens with posting lists, in pages. */
static cof_status write_index(cof_segw *w, int f, cof_colbuf *im)
{
    cof_status st = COF_OK;
    size_t np = 0;
    segw_pair *pr = malloc((w->nrows ? w->nrows : 1) * sizeof *pr);
    segw_pair *ptmp = malloc((w->nrows ? w->nrows : 1) * sizeof *ptmp);
    segw_pair *pbuf = pr;
    cof_colbuf post = { 0 }, dir = { 0 };
    if (!pr || !ptmp) {
        free(pr);
        free(ptmp);
        return COF_ERR(COF_NOMEM, "segment %s: token index", w->path);
    }
    for (size_t i = 0; i < w->nrows; i++) {
        prefetch_var(w, i + SEGW_PREFETCH);
        const uint8_t *t = row_token(w, row_at(w, i), f);
        if (t) {
            memcpy(pr[np].tok, t, COF_TOKEN_LEN);
            pr[np].key = be64(t);
            pr[np++].row = (uint32_t)i;
        }
    }
    pr = sort_pairs(pr, ptmp, np);
    uint32_t ntokens = 0, npages = 0;
    size_t i = 0;
    while (i < np) {
        /* one page: up to SEG_PAGE_TOKENS tokens or SEG_PAGE_BYTES of postings */
        uint8_t planes[COF_TOKEN_LEN][SEG_PAGE_TOKENS];
        uint32_t cnt[SEG_PAGE_TOKENS], first[SEG_PAGE_TOKENS], maxc = 0, maxr = 0;
        uint32_t k = 0;
        const uint8_t *first_tok = pr[i].tok;
        cof_colbuf_reset(&post);
        while (i < np && k < SEG_PAGE_TOKENS && post.n < SEG_PAGE_BYTES) {
            size_t j = i;
            while (j < np && pr[j].key == pr[i].key)
                j++;
            for (int b = 0; b < COF_TOKEN_LEN; b++)
                planes[b][k] = pr[i].tok[b];
            cnt[k] = (uint32_t)(j - i - 1);
            first[k] = pr[i].row;
            maxc = cnt[k] > maxc ? cnt[k] : maxc;
            maxr = first[k] > maxr ? first[k] : maxr;
            for (size_t x = i + 1; x < j; x++)
                cof_colbuf_varint(&post, pr[x].row - pr[x - 1].row - 1);
            k++;
            i = j;
        }
        unsigned wc = cof_colenc_width(maxc), wr = cof_colenc_width(maxr);
        cof_colbuf_reset(&w->pay);
        cof_colbuf_varint(&w->pay, k);
        for (int b = 0; b < COF_TOKEN_LEN; b++)
            cof_colbuf_put(&w->pay, planes[b], k);
        cof_colbuf_u8(&w->pay, (uint8_t)wc);
        cof_colenc_pack(&w->pay, cnt, k, wc);
        cof_colbuf_u8(&w->pay, (uint8_t)wr);
        cof_colenc_pack(&w->pay, first, k, wr);
        cof_colbuf_put(&w->pay, post.p, post.n);
        if (post.oom) {
            st = COF_ERR(COF_NOMEM, "segment %s: token index", w->path);
            goto out;
        }
        seg_frame fr;
        if ((st = put_frame(w, 0, SEGC_TOKEN, (unsigned)f, npages, &fr)))
            goto out;
        cof_colbuf_put(&dir, first_tok, COF_TOKEN_LEN);
        cof_colbuf_u32(&dir, k);
        meta_frame(&dir, &fr);
        ntokens += k;
        npages++;
    }
    cof_colbuf_u8(im, (uint8_t)f);
    cof_colbuf_u32(im, ntokens);
    cof_colbuf_u32(im, npages);
    cof_colbuf_put(im, dir.p, dir.n);
    if (dir.oom)
        st = COF_ERR(COF_NOMEM, "segment %s: token index", w->path);
out:
    free(pbuf);
    free(ptmp);
    cof_colbuf_free(&post);
    cof_colbuf_free(&dir);
    return st;
}

static cof_status fsync_parent(const char *path)
{
    const char *slash = strrchr(path, '/');
    char dir[PATH_MAX];
    if (!slash) {
        dir[0] = '.';
        dir[1] = 0;
    } else {
        size_t n = slash == path ? 1 : (size_t)(slash - path);
        if (n >= sizeof dir)
            return COF_ERR(COF_LIMIT, "segment %s: path too long", path);
        memcpy(dir, path, n);
        dir[n] = 0;
    }
    int fd;
    do
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return COF_ERRNO("segment %s: open directory", path);
    int rc = fsync(fd);
    cof_status st = rc ? COF_ERRNO("segment %s: fsync directory", path) : COF_OK;
    close(fd);
    return st;
}

static cof_status do_finish(cof_segw *w)
{
    cof_status st;
    uint32_t nrows = (uint32_t)w->nrows;
    uint32_t nblocks = (nrows + COF_SEG_BLOCK_ROWS - 1) / COF_SEG_BLOCK_ROWS;
    w->zc = ZSTD_createCCtx();
    w->order = malloc((w->nrows ? w->nrows : 1) * sizeof *w->order);
    w->nv = malloc(COF_SEG_BLOCK_ROWS * sizeof *w->nv);
    w->ns = malloc(COF_SEG_BLOCK_ROWS * sizeof *w->ns);
    if (!w->zc || !w->order || !w->nv || !w->ns)
        return COF_ERR(COF_NOMEM, "segment %s: finish", w->path);
    if ((st = sort_rows(w)))
        return st;
    permute_rows(w);

    uint8_t hdr[SEG_HEADER_LEN] = { 0 };
    memcpy(hdr, SEG_MAGIC, 8);
    cof_set_le32(hdr + 8, SEG_VERSION);
    cof_set_le32(hdr + 12, SEG_HEADER_LEN);
    cof_set_le64(hdr + 16, w->meta.seg_id);
    cof_set_le32(hdr + 28, cof_crc32c(0, hdr, 28));
    if ((st = out_put(w, hdr, sizeof hdr)))
        return st;

    cof_colbuf *m = &w->meta_b;
    size_t tl = strlen(w->meta.tenant);
    int64_t tmin = nrows ? row_at(w, 0)->time_us : 0;
    int64_t tmax = nrows ? row_at(w, nrows - 1)->time_us : 0;
    cof_colbuf_u32(m, nrows);
    cof_colbuf_u32(m, w->meta.day);
    cof_colbuf_u64(m, w->meta.seg_id);
    cof_colbuf_u8(m, (uint8_t)tl);
    cof_colbuf_put(m, w->meta.tenant, tl);
    cof_colbuf_u64(m, (uint64_t)tmin);
    cof_colbuf_u64(m, (uint64_t)tmax);
    cof_colbuf_u32(m, nblocks);
    for (uint32_t b = 0; b < nblocks; b++) {
        size_t lo = (size_t)b * COF_SEG_BLOCK_ROWS;
        size_t n = nrows - lo < COF_SEG_BLOCK_ROWS ? nrows - lo : COF_SEG_BLOCK_ROWS;
        cof_colbuf_u64(m, (uint64_t)row_at(w, lo)->time_us);
        cof_colbuf_u64(m, (uint64_t)row_at(w, lo + n - 1)->time_us);
    }
    size_t ncols_at = m->n;
    uint32_t ncols = 0;
    cof_colbuf_u32(m, 0);

    for (unsigned kind = SEGC_TIME; kind < SEGC_NNUM; kind++) {
        cof_colbuf_u8(m, (uint8_t)kind);
        cof_colbuf_u8(m, 0);
        cof_colbuf_u32(m, 0);
        for (uint32_t b = 0; b < nblocks; b++) {
            size_t lo = (size_t)b * COF_SEG_BLOCK_ROWS;
            size_t n = nrows - lo < COF_SEG_BLOCK_ROWS ? nrows - lo : COF_SEG_BLOCK_ROWS;
            seg_frame fr;
            enc_numeric(w, kind, lo, n);
            if ((st = put_frame(w, 0, kind, 0, b, &fr)))
                return st;
            meta_frame(m, &fr);
        }
        ncols++;
    }
    for (int f = 0; f < COF_NFIELDS; f++) {
        if (!(w->clear_any >> f & 1))
            continue;
        seg_frame fr;
        if ((st = write_dict(w, f, &fr)))
            return st;
        cof_colbuf_u8(m, SEGC_CLEAR);
        cof_colbuf_u8(m, (uint8_t)f);
        cof_colbuf_u32(m, w->dict[f].n);
        meta_frame(m, &fr);
        unsigned wd = cof_colenc_width(w->dict[f].n);
        for (uint32_t b = 0; b < nblocks; b++) {
            size_t lo = (size_t)b * COF_SEG_BLOCK_ROWS;
            size_t n = nrows - lo < COF_SEG_BLOCK_ROWS ? nrows - lo : COF_SEG_BLOCK_ROWS;
            uint32_t ids[COF_SEG_BLOCK_ROWS];
            for (size_t i = 0; i < n; i++) {
                prefetch_var(w, lo + i + SEGW_PREFETCH);
                ids[i] = w->remap[f][row_clear_id(w, row_at(w, lo + i), f)];
            }
            cof_colbuf_reset(&w->pay);
            cof_colbuf_u8(&w->pay, (uint8_t)wd);
            cof_colenc_pack(&w->pay, ids, n, wd);
            if ((st = put_frame(w, 0, SEGC_CLEAR, (unsigned)f, b, &fr)))
                return st;
            meta_frame(m, &fr);
        }
        ncols++;
    }
    for (int f = 0; f < COF_NFIELDS; f++)
        if (w->sealed_any >> f & 1)
            if ((st = write_sealed(w, f, nblocks, &ncols)))
                return st;
    if (m->oom)
        return COF_ERR(COF_NOMEM, "segment %s: meta", w->path);
    cof_set_le32(m->p + ncols_at, ncols);

    cof_colbuf im = { 0 };
    uint32_t nidx = 0;
    for (int f = 0; f < COF_NFIELDS; f++)
        if (w->token_any >> f & 1) {
            if ((st = write_index(w, f, &im))) {
                cof_colbuf_free(&im);
                return st;
            }
            nidx++;
        }
    cof_colbuf_u32(m, nidx);
    cof_colbuf_put(m, im.p, im.n);
    int im_oom = im.oom;
    cof_colbuf_free(&im);
    if (m->oom || im_oom)
        return COF_ERR(COF_NOMEM, "segment %s: meta", w->path);

    /* meta: compressed like any frame, referenced from the footer */
    cof_colbuf tmp = w->pay;
    w->pay = *m;
    *m = tmp;
    seg_frame mf;
    if ((st = put_frame(w, 0, 0, 0, 0, &mf)))
        return st;
    uint8_t foot[SEG_FOOTER_LEN];
    cof_set_le64(foot, mf.off);
    cof_set_le32(foot + 8, mf.len);
    cof_set_le32(foot + 12, mf.raw);
    cof_set_le32(foot + 16, mf.crc);
    cof_set_le32(foot + 20, SEG_VERSION);
    memcpy(foot + 24, SEG_FOOT_MAGIC, 8);
    cof_set_le32(foot + 32, cof_crc32c(0, foot, 32));
    if ((st = out_put(w, foot, sizeof foot)) || (st = out_flush(w)))
        return st;
    if (fsync(w->fd))
        return COF_ERRNO("segment %s: fsync", w->path);
    int fd = w->fd;
    w->fd = -1;
    if (close(fd))
        return COF_ERRNO("segment %s: close", w->path);
    if (rename(w->tmp, w->path))
        return COF_ERRNO("segment %s: rename", w->path);
    w->finished = 1; /* the name is in place; from here the tmp file no longer exists */
    return fsync_parent(w->path);
}

cof_status cof_segw_finish(cof_segw *w)
{
    if (w->failed || w->finished)
        return COF_ERR(COF_BADINPUT, "segment %s: writer is finished or failed", w->path);
    cof_status st = do_finish(w);
    if (st)
        w->failed = 1;
    return st;
}

void cof_segw_free(cof_segw *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (w->created && !w->finished)
        unlink(w->tmp);
    if (w->key)
        sodium_free(w->key);
    for (int f = 0; f < COF_NFIELDS; f++) {
        dict_free(&w->dict[f]);
        free(w->remap[f]);
    }
    if (w->var.p)
        sodium_memzero(w->var.p, w->var.n); /* sealed values in the clear */
    cof_colbuf_free(&w->var);
    cof_colbuf_free(&w->out);
    if (w->pay.p)
        sodium_memzero(w->pay.p, w->pay.cap);
    cof_colbuf_free(&w->pay);
    cof_colbuf_free(&w->zb);
    cof_colbuf_free(&w->meta_b);
    ZSTD_freeCCtx(w->zc);
    free(w->order);
    free(w->nv);
    free(w->ns);
    free(w->rows);
    free(w->path);
    free(w->tmp);
    free(w);
}
