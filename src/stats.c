/* stats.c - delivery statistics from clear columns only (cof_query_stats in query.h).
 *
 * Per segment, each dictionary used for grouping is mapped once to global string ids;
 * per row the work is a few array loads, one hash probe and a histogram increment, so
 * the scan runs at the speed the segment decoder delivers column blocks. Delay
 * percentiles come from a log-linear histogram (3 mantissa bits: at most 12.5% error). */
#include <stdio.h>
#include <stdlib.h>

#include "progress.h"
#include "query.h"

#define HIST 256
#define MAX_GROUPS 200000 /* bounded result: beyond this, narrow the query */

typedef struct {
    int64_t bucket;
    uint32_t rcpt, relay, tenant;
    uint8_t status, dsn;
} gkey;

typedef struct {
    gkey k;
    uint64_t count, delay_n;
    uint32_t *hist;
} group;

typedef struct {
    char **s;
    uint32_t *len;
    size_t n, cap;
    uint32_t *tab; /* open addressing: gid+1, 0 empty */
    size_t tcap;
} intern;

typedef struct {
    uint32_t by;
    int64_t bucket_us, since, until, origin;
    group *g;
    size_t ng, gcap;
    uint32_t *gtab; /* group index + 1 */
    size_t gtcap;
    intern strs;
    /* per segment */
    const cof_str *map_dict[3];
    uint32_t *map[3]; /* rcpt, relay: dict id -> gid; dsn: dict id -> class */
    uint32_t map_cap[3];
    uint32_t tenant_gid;
    uint64_t scanned, total;
    /* Dense per-segment table: group of (status, dsn class, rcpt id, relay id), indexed
     * directly by the segment's dictionary ids, so the per-row work is array loads
     * instead of a hash probe. Entries are group indexes + 1 (0: not yet looked up). */
    uint32_t *dense;
    size_t dense_n, dense_cap;
    uint32_t d_rc, d_rl; /* dimensions (dict_n + 1, or 1 when not grouped) */
} sctx;

#define DENSE_MAX (1u << 22) /* entries per segment table; larger falls back to hashing */

static uint64_t hash_bytes(const void *p, size_t n)
{
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}

static cof_status intern_str(intern *t, cof_str v, uint32_t *gid)
{
    if (t->n * 2 >= t->tcap) {
        size_t ncap = t->tcap ? t->tcap * 2 : 1024;
        uint32_t *nt = calloc(ncap, sizeof *nt);
        if (!nt)
            return COF_ERR(COF_NOMEM, "out of memory");
        for (size_t i = 0; i < t->n; i++) {
            size_t h = hash_bytes(t->s[i], t->len[i]) & (ncap - 1);
            while (nt[h])
                h = (h + 1) & (ncap - 1);
            nt[h] = (uint32_t)i + 1;
        }
        free(t->tab);
        t->tab = nt;
        t->tcap = ncap;
    }
    if (!v.p)
        v.p = "";
    size_t h = hash_bytes(v.p, v.n) & (t->tcap - 1);
    while (t->tab[h]) {
        uint32_t i = t->tab[h] - 1;
        if (t->len[i] == v.n && memcmp(t->s[i], v.p, v.n) == 0) {
            *gid = i;
            return COF_OK;
        }
        h = (h + 1) & (t->tcap - 1);
    }
    if (t->n == t->cap) {
        size_t nc = t->cap ? t->cap * 2 : 256;
        char **ns = realloc(t->s, nc * sizeof *ns);
        if (!ns)
            return COF_ERR(COF_NOMEM, "out of memory");
        t->s = ns;
        uint32_t *nl = realloc(t->len, nc * sizeof *nl);
        if (!nl)
            return COF_ERR(COF_NOMEM, "out of memory");
        t->len = nl;
        t->cap = nc;
    }
    char *copy = malloc(v.n + 1);
    if (!copy)
        return COF_ERR(COF_NOMEM, "out of memory");
    if (v.n)
        memcpy(copy, v.p, v.n);
    copy[v.n] = 0;
    t->s[t->n] = copy;
    t->len[t->n] = (uint32_t)v.n;
    t->tab[h] = (uint32_t)t->n + 1;
    *gid = (uint32_t)t->n++;
    return COF_OK;
}

static uint32_t hist_bucket(int32_t ms)
{
    uint32_t v = (uint32_t)ms;
    if (v < 8)
        return v;
    uint32_t e = 31u - (uint32_t)__builtin_clz(v);
    return (e - 2) * 8 + ((v >> (e - 3)) & 7);
}

static int32_t hist_value(uint32_t b)
{
    if (b < 8)
        return (int32_t)b;
    uint32_t e = b / 8 + 2, sub = b % 8;
    uint64_t lo = (uint64_t)(8 + sub) << (e - 3), hi = lo + ((uint64_t)1 << (e - 3));
    uint64_t mid = (lo + hi - 1) / 2;
    return mid > INT32_MAX ? INT32_MAX : (int32_t)mid;
}

/* Word-wise mix of a group key (hot path: once per row whose group changes). */
static uint64_t hash_key(const gkey *k)
{
    uint64_t h = (uint64_t)k->bucket * 0x9E3779B97F4A7C15ull;
    h ^= ((uint64_t)k->rcpt << 32 | k->relay) * 0xC2B2AE3D27D4EB4Full;
    h ^= ((uint64_t)k->tenant << 16 | (uint64_t)k->status << 8 | k->dsn) * 0x165667B19E3779F9ull;
    return h ^ (h >> 31);
}

static int key_eq(const gkey *a, const gkey *b)
{
    return a->bucket == b->bucket && a->rcpt == b->rcpt && a->relay == b->relay &&
           a->tenant == b->tenant && a->status == b->status && a->dsn == b->dsn;
}

static cof_status group_for(sctx *x, const gkey *k, group **out)
{
    if (x->ng * 2 >= x->gtcap) {
        size_t ncap = x->gtcap ? x->gtcap * 2 : 1024;
        uint32_t *nt = calloc(ncap, sizeof *nt);
        if (!nt)
            return COF_ERR(COF_NOMEM, "out of memory");
        for (size_t i = 0; i < x->ng; i++) {
            size_t h = hash_key(&x->g[i].k) & (ncap - 1);
            while (nt[h])
                h = (h + 1) & (ncap - 1);
            nt[h] = (uint32_t)i + 1;
        }
        free(x->gtab);
        x->gtab = nt;
        x->gtcap = ncap;
    }
    size_t h = hash_key(k) & (x->gtcap - 1);
    while (x->gtab[h]) {
        group *g = &x->g[x->gtab[h] - 1];
        if (key_eq(&g->k, k)) {
            *out = g;
            return COF_OK;
        }
        h = (h + 1) & (x->gtcap - 1);
    }
    if (x->ng >= MAX_GROUPS)
        return COF_ERR(COF_LIMIT,
                       "more than %d groups; use fewer --by dimensions, a larger --bucket or a "
                       "shorter time range", MAX_GROUPS);
    if (x->ng == x->gcap) {
        size_t nc = x->gcap ? x->gcap * 2 : 256;
        group *ng = realloc(x->g, nc * sizeof *ng);
        if (!ng)
            return COF_ERR(COF_NOMEM, "out of memory");
        x->g = ng;
        x->gcap = nc;
    }
    group *g = &x->g[x->ng];
    memset(g, 0, sizeof *g);
    g->k = *k;
    x->gtab[h] = (uint32_t)x->ng + 1;
    x->ng++;
    *out = g;
    return COF_OK;
}

/* Map a segment dictionary to global ids (or DSN classes), once per segment. */
static cof_status map_dict(sctx *x, int which, const cof_str *dict, uint32_t dict_n)
{
    if (x->map_dict[which] == dict)
        return COF_OK;
    uint32_t n = dict_n + 1; /* ids run 0..dict_n; 0 is "absent" */
    if (n > x->map_cap[which]) {
        uint32_t *m = realloc(x->map[which], n * sizeof *m);
        if (!m)
            return COF_ERR(COF_NOMEM, "out of memory");
        x->map[which] = m;
        x->map_cap[which] = n;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (which == 2) { /* dsn class: first digit */
            char c = dict[i].n ? dict[i].p[0] : 0;
            x->map[2][i] = (c == '2' || c == '4' || c == '5') ? (uint32_t)(c - '0') : 0;
            continue;
        }
        cof_status st = intern_str(&x->strs, i == 0 ? COF_STR_NULL : dict[i], &x->map[which][i]);
        if (st)
            return st;
    }
    x->map_dict[which] = dict;
    return COF_OK;
}

static cof_status on_block(void *ctx, const cof_seg_block *b)
{
    sctx *x = ctx;
    cof_status st;
    const uint32_t *rc = NULL, *rl = NULL, *ds = NULL;
    if (x->by & COF_BY_RCPT_DOMAIN) {
        if ((st = map_dict(x, 0, b->dict[COF_F_RECIPIENT], b->dict_n[COF_F_RECIPIENT])))
            return st;
        rc = b->clear_id[COF_F_RECIPIENT];
    }
    if (x->by & COF_BY_RELAY) {
        if ((st = map_dict(x, 1, b->dict[COF_F_RELAY_HOST], b->dict_n[COF_F_RELAY_HOST])))
            return st;
        rl = b->clear_id[COF_F_RELAY_HOST];
    }
    if (x->by & COF_BY_DSN_CLASS) {
        if ((st = map_dict(x, 2, b->dict[COF_F_DSN], b->dict_n[COF_F_DSN])))
            return st;
        ds = b->clear_id[COF_F_DSN];
    }
    if (!x->bucket_us) {
        uint32_t d_rc = rc ? b->dict_n[COF_F_RECIPIENT] + 1 : 1;
        uint32_t d_rl = rl ? b->dict_n[COF_F_RELAY_HOST] + 1 : 1;
        uint64_t need = (uint64_t)COF_NSTATUS * 6 * d_rc * d_rl;
        if (need <= DENSE_MAX) {
            if (x->dense_n != need || x->d_rc != d_rc || x->d_rl != d_rl) {
                /* a new segment (on_seg resets dense_n): size and clear the table */
                if (need > x->dense_cap) {
                    uint32_t *nd = realloc(x->dense, need * sizeof *nd);
                    if (!nd)
                        return COF_ERR(COF_NOMEM, "out of memory");
                    x->dense = nd;
                    x->dense_cap = need;
                }
                memset(x->dense, 0, need * sizeof *x->dense);
                x->dense_n = need;
                x->d_rc = d_rc;
                x->d_rl = d_rl;
            }
            for (uint32_t i = 0; i < b->nrows; i++) {
                int64_t t = b->time_us[i];
                x->scanned++;
                if (t < x->since || t >= x->until)
                    continue;
                uint32_t st_ = b->status ? b->status[i] : 0;
                uint32_t dc = ds ? x->map[2][ds[i]] : 0;
                uint32_t ri = rc ? rc[i] : 0, li = rl ? rl[i] : 0;
                if (st_ >= COF_NSTATUS || dc > 5 || ri >= d_rc || li >= d_rl)
                    return COF_ERR(COF_CORRUPT, "segment block with an id out of range");
                size_t idx = (((size_t)st_ * 6 + dc) * d_rc + ri) * d_rl + li;
                uint32_t gi = x->dense[idx];
                group *g;
                if (!gi) {
                    gkey k;
                    memset(&k, 0, sizeof k);
                    k.bucket = INT64_MIN;
                    k.tenant = x->tenant_gid;
                    k.status = (uint8_t)st_;
                    k.dsn = (uint8_t)dc;
                    k.rcpt = rc ? x->map[0][ri] : 0;
                    k.relay = rl ? x->map[1][li] : 0;
                    if ((st = group_for(x, &k, &g)))
                        return st;
                    x->dense[idx] = (uint32_t)(g - x->g) + 1;
                } else {
                    g = &x->g[gi - 1];
                }
                g->count++;
                x->total++;
                int32_t d = b->delay_ms ? b->delay_ms[i] : -1;
                if (d >= 0) {
                    if (!g->hist && !(g->hist = calloc(HIST, sizeof *g->hist)))
                        return COF_ERR(COF_NOMEM, "out of memory");
                    g->hist[hist_bucket(d)]++;
                    g->delay_n++;
                }
            }
            return COF_OK;
        }
    }
    gkey k;
    memset(&k, 0, sizeof k);
    k.bucket = INT64_MIN;
    k.tenant = x->tenant_gid;
    group *last = NULL;
    gkey lastk = k;
    for (uint32_t i = 0; i < b->nrows; i++) {
        int64_t t = b->time_us[i];
        x->scanned++;
        if (t < x->since || t >= x->until)
            continue;
        if (x->bucket_us)
            k.bucket = x->origin + (t - x->origin) / x->bucket_us * x->bucket_us;
        if (b->status)
            k.status = b->status[i];
        if (rc)
            k.rcpt = x->map[0][rc[i]];
        if (rl)
            k.relay = x->map[1][rl[i]];
        if (ds)
            k.dsn = (uint8_t)x->map[2][ds[i]];
        group *g = NULL;
        if (last && key_eq(&k, &lastk)) {
            g = last;
        } else {
            if ((st = group_for(x, &k, &g)))
                return st;
            last = g;
            lastk = k;
        }
        g->count++;
        x->total++;
        int32_t d = b->delay_ms[i];
        if (d >= 0) {
            if (!g->hist && !(g->hist = calloc(HIST, sizeof *g->hist)))
                return COF_ERR(COF_NOMEM, "out of memory");
            g->hist[hist_bucket(d)]++;
            g->delay_n++;
        }
    }
    return COF_OK;
}

static cof_status on_seg(void *ctx, const cof_seg_info *info, cof_seg *seg)
{
    sctx *x = ctx;
    uint32_t mask = 0;
    if (x->by & COF_BY_RCPT_DOMAIN)
        mask |= 1u << COF_F_RECIPIENT;
    if (x->by & COF_BY_RELAY)
        mask |= 1u << COF_F_RELAY_HOST;
    if (x->by & COF_BY_DSN_CLASS)
        mask |= 1u << COF_F_DSN;
    x->tenant_gid = 0;
    if (x->by & COF_BY_TENANT) {
        cof_status st = intern_str(&x->strs, cof_str_c(info->tenant), &x->tenant_gid);
        if (st)
            return st;
    }
    for (int i = 0; i < 3; i++)
        x->map_dict[i] = NULL;
    x->dense_n = 0; /* the dense table is per segment (its dictionaries) */
    /* time is always decoded; status only when grouped by it; delay for percentiles */
    uint32_t num = COF_SCAN_DELAY | ((x->by & COF_BY_STATUS) ? COF_SCAN_STATUS : 0);
    return cof_seg_scan2(seg, mask, num, x->since, x->until, on_block, x);
}

static int32_t percentile(const uint32_t *h, uint64_t n, double p)
{
    uint64_t want = (uint64_t)(p * (double)n + 0.999999), acc = 0;
    if (want == 0)
        want = 1;
    for (uint32_t b = 0; b < HIST; b++) {
        acc += h[b];
        if (acc >= want)
            return hist_value(b);
    }
    return hist_value(HIST - 1);
}

static int cmp_rows(const void *a, const void *b)
{
    const cof_stats_row *x = a, *y = b;
    if (x->bucket_start != y->bucket_start)
        return x->bucket_start < y->bucket_start ? -1 : 1;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    if (x->status != y->status)
        return x->status < y->status ? -1 : 1;
    return 0;
}

typedef struct {
    intern strs;
} stats_mem;

cof_status cof_query_stats(cof_store *s, uint32_t by, int64_t bucket_us, int64_t since,
                           int64_t until, const char *tenant, cof_stats *out)
{
    memset(out, 0, sizeof *out);
    sctx x;
    memset(&x, 0, sizeof x);
    x.by = by;
    x.bucket_us = bucket_us;
    x.since = since;
    x.until = until;
    x.origin = 0; /* buckets aligned to the epoch (so 1h buckets start on the hour) */
    uint64_t t0 = cof_now_ns();
    uint32_t empty;
    /* gid 0 is "" (absent), so rows without a value group under it */
    cof_status st = intern_str(&x.strs, COF_STR_NULL, &empty);
    if (!st)
        st = cof_store_each_segment(s, tenant, since, until, on_seg, NULL, &x);
    if (!st) {
        out->rows = calloc(x.ng ? x.ng : 1, sizeof *out->rows);
        if (!out->rows)
            st = COF_ERR(COF_NOMEM, "out of memory");
    }
    for (size_t i = 0; !st && i < x.ng; i++) {
        group *g = &x.g[i];
        cof_stats_row *r = &out->rows[i];
        r->bucket_start = g->k.bucket;
        r->status = g->k.status;
        r->dsn_class = g->k.dsn ? (char)('0' + g->k.dsn) : 0;
        r->rcpt_domain = (by & COF_BY_RCPT_DOMAIN) ? x.strs.s[g->k.rcpt] : NULL;
        r->relay = (by & COF_BY_RELAY) ? x.strs.s[g->k.relay] : NULL;
        r->tenant = (by & COF_BY_TENANT) ? x.strs.s[g->k.tenant] : NULL;
        r->count = g->count;
        r->delay_n = g->delay_n;
        r->p50_ms = r->p90_ms = r->p99_ms = -1;
        if (g->hist && g->delay_n) {
            r->p50_ms = percentile(g->hist, g->delay_n, 0.50);
            r->p90_ms = percentile(g->hist, g->delay_n, 0.90);
            r->p99_ms = percentile(g->hist, g->delay_n, 0.99);
        }
    }
    if (!st) {
        out->n = x.ng;
        qsort(out->rows, out->n, sizeof *out->rows, cmp_rows);
        out->total = x.total;
        out->scanned = x.scanned;
    }
    out->seconds = (double)(cof_now_ns() - t0) / 1e9;
    for (size_t i = 0; i < x.ng; i++)
        free(x.g[i].hist);
    free(x.g);
    free(x.gtab);
    free(x.dense);
    for (int i = 0; i < 3; i++)
        free(x.map[i]);
    stats_mem *m = calloc(1, sizeof *m);
    if (m) {
        m->strs = x.strs;
        out->mem = m;
    } else {
        for (size_t i = 0; i < x.strs.n; i++)
            free(x.strs.s[i]);
        free(x.strs.s);
        free(x.strs.len);
        free(x.strs.tab);
        if (!st)
            st = COF_ERR(COF_NOMEM, "out of memory");
    }
    if (st) {
        free(out->rows);
        out->rows = NULL;
        out->n = 0;
    }
    return st;
}

void cof_stats_free(cof_stats *st)
{
    stats_mem *m = st->mem;
    if (m) {
        for (size_t i = 0; i < m->strs.n; i++)
            free(m->strs.s[i]);
        free(m->strs.s);
        free(m->strs.len);
        free(m->strs.tab);
        free(m);
    }
    free(st->rows);
    memset(st, 0, sizeof *st);
}

cof_status cof_stats_by_parse(cof_str list, uint32_t *mask)
{
    uint32_t m = 0;
    while (list.n) {
        const char *comma = memchr(list.p, ',', list.n);
        cof_str w = cof_str_trim(cof_str_make(list.p, comma ? (size_t)(comma - list.p) : list.n));
        list = comma ? cof_str_make(comma + 1, list.n - (size_t)(comma - list.p) - 1) : COF_STR_NULL;
        if (cof_str_eq_lit(w, "status"))
            m |= COF_BY_STATUS;
        else if (cof_str_eq_lit(w, "dsn_class"))
            m |= COF_BY_DSN_CLASS;
        else if (cof_str_eq_lit(w, "rcpt_domain"))
            m |= COF_BY_RCPT_DOMAIN;
        else if (cof_str_eq_lit(w, "relay"))
            m |= COF_BY_RELAY;
        else if (cof_str_eq_lit(w, "tenant"))
            m |= COF_BY_TENANT;
        else
            return COF_ERR(COF_BADINPUT,
                           "--by takes status, dsn_class, rcpt_domain, relay, tenant");
    }
    *mask = m;
    return COF_OK;
}
