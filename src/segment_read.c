/* segment_read.c - queries on an open segment: token and clear-value lookups, gets
 * (row materialization with a bounded row cache), block scans, verify. Open, decoding
 * and the block / page cache are in segment.c; the state they share: segment_int.h.
 *
 * The same rules as in segment.c hold: every byte from the file is hostile and is
 * checked before use there; sealed plaintext is served only to the key that opened it
 * and wiped when dropped. */
#include "segment_int.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "colenc.h"

static void unpin(seg_ce *e)
{
    if (e && e->owned)
        cof_segi_ce_free(e);
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
        if (cof_segi_tokcmp(ix->pages[mid].tok, token) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0)
        return COF_OK;
    seg_ce *pg;
    cof_status st = cof_segi_get_page(s, f, lo - 1, &pg);
    if (st)
        return st;
    const uint8_t *tok = pg->a;
    uint32_t a = 0, b = pg->n;
    while (a < b) {
        uint32_t mid = a + (b - a) / 2;
        int c = cof_segi_tokcmp(tok + (size_t)mid * COF_TOKEN_LEN, token);
        if (c == 0) {
            seg_page_iter it;
            cof_segi_page_iter_init(pg, (uint32_t)mid, &it);
            uint32_t row;
            size_t cnt = 0;
            while (cof_segi_page_iter_next(&it, &row)) {
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
    cof_segi_lru_back(s, pg);
    return COF_OK;
}

static cof_status ensure_u32(cof_seg *s, uint32_t **p)
{
    if (!*p && !(*p = calloc(SEG_BR, sizeof **p)))
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
    cof_status st = cof_segi_load_dict(s, f);
    if (st)
        return st;
    uint32_t lo = 1, hi = s->cols[ci].dict_n + 1, id = 0;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = cof_segi_strcmp_slices(s->dict[f][mid], value);
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
        if ((st = cof_segi_dec_plain_block(s, ci, b, s->sc_clear[f])))
            return st;
        uint32_t nr = cof_segi_blk_rows(s, b);
        const uint32_t *ids = s->sc_clear[f];
        for (uint32_t i = 0; i < nr; i++)
            if (ids[i] == id) {
                if (cnt < cap)
                    rows[cnt] = b * SEG_BR + i;
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
        if ((st = cof_segi_get_plain(s, s->colix[k][0], b, own, &p->num[k])))
            return st;
    for (int f = 0; f < COF_NFIELDS; f++) {
        int ci = s->colix[SEGC_CLEAR][f];
        if (ci >= 0 && ((st = cof_segi_load_dict(s, f)) ||
                        (st = cof_segi_get_plain(s, ci, b, own, &p->clear[f]))))
            return st;
        ci = s->colix[SEGC_SEALED][f];
        if (key && ci >= 0 && (st = cof_segi_get_sealed(s, ci, b, key, fp, own, &p->seal[f])))
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
        cof_segi_inv_free(s);
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
            cof_status st = cof_segi_page_decode(s, f, pg, &e);
            if (st)
                return st;
            for (uint32_t t = 0; t < e->n; t++, ord++) {
                memcpy(s->inv_tok[f] + (size_t)ord * COF_TOKEN_LEN,
                       (const uint8_t *)e->a + (size_t)t * COF_TOKEN_LEN, COF_TOKEN_LEN);
                seg_page_iter it;
                cof_segi_page_iter_init(e, t, &it);
                uint32_t row;
                while (cof_segi_page_iter_next(&it, &row)) {
                    if (s->inv_row[f][row]) {
                        cof_segi_ce_free(e);
                        return SEG_BAD(s, "row in two posting lists of one field");
                    }
                    s->inv_row[f][row] = ord + 1;
                }
            }
            cof_segi_ce_free(e);
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
            uint32_t t = s->inv_row[f][b * SEG_BR + i];
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
    seg_ce *e = cof_segi_ce_find(s, SEG_KEY_ROW, row);
    if (e) {
        if (e->pins)
            return;
        cof_segi_ce_remove(s, e);
    }
    if (!(e = calloc(1, sizeof *e + len)))
        return; /* caching is best effort */
    e->key1 = SEG_KEY_ROW;
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
    cof_segi_ce_insert(s, e);
}

/* A cached row usable by this caller: same key (or both without one). */
static seg_ce *row_find(cof_seg *s, uint32_t row, int has_key, const uint8_t fp[16])
{
    seg_ce *e = cof_segi_ce_find(s, SEG_KEY_ROW, row);
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
        uint32_t b = rows[i] / SEG_BR;
        size_t j = i;
        int hit = rc;
        while (j < n && rows[j] / SEG_BR == b) {
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
            fill_record(s, &p, b, rows[i] - b * SEG_BR, tokens, &r);
            if (rc)
                row_put(s, &p, rows[i] - b * SEG_BR, rows[i], &r, key != NULL, fp);
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
        s->sc_time = malloc(SEG_BR * sizeof *s->sc_time);
        s->sc_status = malloc(SEG_BR);
        s->sc_dir = malloc(SEG_BR);
        s->sc_delay = malloc(SEG_BR * sizeof *s->sc_delay);
        s->sc_size = malloc(SEG_BR * sizeof *s->sc_size);
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
        if ((st = ensure_u32(s, &s->sc_clear[f])) || (st = cof_segi_load_dict(s, f)))
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
        if ((st = cof_segi_dec_plain_block(s, s->colix[SEGC_TIME][0], b, s->sc_time)))
            return st;
        for (int k = 0; k < 4; k++)
            if ((num_mask & opt[k].bit) &&
                (st = cof_segi_dec_plain_block(s, s->colix[opt[k].kind][0], b, dst[k])))
                return st;
        for (int f = 0; f < COF_NFIELDS; f++) {
            int ci = s->colix[SEGC_CLEAR][f];
            if ((field_mask >> f & 1) && ci >= 0 &&
                (st = cof_segi_dec_plain_block(s, ci, b, s->sc_clear[f])))
                return st;
        }
        blk.first_row = b * SEG_BR;
        blk.nrows = cof_segi_blk_rows(s, b);
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
    cof_segi_cache_clear(s); /* verify what is on disk, not what was decoded earlier */
    for (int f = 0; f < COF_NFIELDS; f++)
        if (s->colix[SEGC_CLEAR][f] >= 0 && !s->dict_loaded[f] && (st = cof_segi_load_dict(s, f)))
            return st;
    for (uint32_t b = 0; b < s->nblocks && !st; b++) {
        seg_pins p;
        memset(&p, 0, sizeof p);
        st = pin_block(s, b, key, fp, 0, &p);
        for (int f = 0; f < COF_NFIELDS && !st && !key; f++) {
            int ci = s->colix[SEGC_SEALED][f];
            if (ci >= 0)
                st = cof_segi_read_frame(s, &s->cols[ci].blk[b]); /* no key: checksum only */
        }
        unpin_all(&p);
        cof_segi_cache_clear(s);
    }
    for (int f = 0; f < COF_NFIELDS && !st; f++)
        for (uint32_t pg = 0; s->has_idx[f] && pg < s->idx[f].npages && !st; pg++) {
            seg_ce *e;
            if (!(st = cof_segi_get_page(s, f, pg, &e)))
                unpin(e);
        }
    cof_segi_cache_clear(s);
    sodium_memzero(fp, sizeof fp);
    return st;
}

uint64_t cof_seg_column_bytes(const cof_seg *s, unsigned kind, unsigned field, int index)
{
    uint64_t t = 0;
    if (field >= COF_NFIELDS || kind >= SEG_NKINDS)
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
