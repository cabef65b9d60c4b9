/* test_segment.c - segment writer and reader: round trips, indexes, scans, AEAD
 * binding, corruption and truncation detection, and the no-plaintext guarantee. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "colenc.h"
#include "seal.h"
#include "segment.h"
#include "segment_int.h"

#define DAY 20000u
#define DAY0 ((int64_t)DAY * 86400000000LL)
#define NREC 20000

#define OK(x)                                                                              \
    do {                                                                                   \
        cof_status st_ = (x);                                                              \
        if (st_)                                                                           \
            fail_msg("%s -> %d: %s (%s)", #x, st_, cof_err_msg(), cof_err_where());       \
    } while (0)

static char tmpdir[64];
static uint8_t key[COF_KEY_LEN], key2[COF_KEY_LEN], bkey[COF_SEAL_KEYBYTES];
static uint64_t rng = 88172645463325252ull;

static uint64_t rnd(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Test records own their strings here. */
typedef struct {
    cof_record r;
    char buf[COF_NFIELDS][2][COF_MAX_FIELD + 1];
    uint32_t seq;
} trec;

static trec *recs;
static size_t nrecs;

static void set_str(trec *t, int f, int sealed, const char *fmt, ...) COF_PRINTF(4, 5);
static void set_str(trec *t, int f, int sealed, const char *fmt, ...)
{
    char *b = t->buf[f][sealed];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(b, COF_MAX_FIELD + 1, fmt, ap);
    va_end(ap);
    cof_str s = cof_str_make(b, (size_t)n);
    if (sealed)
        t->r.sealed[f] = s;
    else
        t->r.clear[f] = s;
}

static void gen(size_t n, int with_max)
{
    free(recs);
    recs = calloc(n, sizeof *recs);
    assert_non_null(recs);
    nrecs = n;
    static const cof_field tokf[] = { COF_F_RECIPIENT, COF_F_SENDER, COF_F_MESSAGE_ID,
                                      COF_F_QUEUE_ID, COF_F_CLIENT_IP, COF_F_SASL_USERNAME };
    for (size_t i = 0; i < n; i++) {
        trec *t = &recs[i];
        cof_record_init(&t->r);
        t->seq = (uint32_t)i;
        t->r.time_us = DAY0 + (int64_t)(rnd() % 86400000000ull);
        t->r.status = (uint8_t)(rnd() % COF_NSTATUS);
        t->r.direction = (uint8_t)(rnd() % 4);
        t->r.relay_port = (uint16_t)(rnd() % 3 ? 25 : 0);
        t->r.delay_ms = rnd() % 5 ? (int32_t)(rnd() % 100000) : COF_NO_DELAY;
        for (int k = 0; k < 4; k++)
            t->r.delays_ms[k] = rnd() % 7 ? (int32_t)(rnd() % 5000) : COF_NO_DELAY;
        t->r.size = rnd() % 10000000;
        t->r.nrcpt = (uint32_t)(rnd() % 4);
        unsigned long msg = (unsigned long)(i / 2);
        set_str(t, COF_F_HOST, 0, "mx%lu.example.net", rnd() % 3);
        set_str(t, COF_F_INSTANCE, 0, "postfix%lu", rnd() % 2);
        if (rnd() % 4)
            set_str(t, COF_F_RELAY_HOST, 0, "relay%lu.dest.example", rnd() % 50);
        set_str(t, COF_F_RECIPIENT, 0, "dom%lu.example", rnd() % 40); /* domain policy */
        set_str(t, COF_F_DSN, 0, "2.0.%lu", rnd() % 3);
        set_str(t, COF_F_RECIPIENT, 1, "rcpt%lu@dom.example", rnd() % 500);
        set_str(t, COF_F_SENDER, 1, "sender%lu@src.example", rnd() % 200);
        set_str(t, COF_F_MESSAGE_ID, 1, "<%lu.uniq@mid.example>", msg * 7919);
        set_str(t, COF_F_QUEUE_ID, 0, "Q%lX", msg * 31337);
        if (rnd() % 2)
            set_str(t, COF_F_CLIENT_IP, 1, "198.51.%lu.7", rnd() % 256);
        if (rnd() % 5 == 0)
            set_str(t, COF_F_SASL_USERNAME, 1, "login%lu", rnd() % 30);
        set_str(t, COF_F_RESPONSE, 1, "250 2.0.0 Ok: queued as Z%lu", msg);
        if (with_max && i % 97 == 0) {
            memset(t->buf[COF_F_SUBJECT][1], 'S', COF_MAX_FIELD);
            t->buf[COF_F_SUBJECT][1][COF_MAX_FIELD] = 0;
            snprintf(t->buf[COF_F_SUBJECT][1], 32, "subject-%zu-", i);
            t->buf[COF_F_SUBJECT][1][strlen(t->buf[COF_F_SUBJECT][1])] = 'S';
            t->r.sealed[COF_F_SUBJECT] = cof_str_make(t->buf[COF_F_SUBJECT][1], COF_MAX_FIELD);
            memset(t->buf[COF_F_TLS][0], 'T', COF_MAX_FIELD);
            t->r.clear[COF_F_TLS] = cof_str_make(t->buf[COF_F_TLS][0], COF_MAX_FIELD);
        }
        if (i % 13 == 0) /* empty is absent */
            t->r.clear[COF_F_DSN] = cof_str_make("", 0);
        for (size_t k = 0; k < sizeof tokf / sizeof tokf[0]; k++) {
            cof_field f = tokf[k];
            cof_str v = t->r.sealed[f].n ? t->r.sealed[f] : t->r.clear[f];
            if (f == COF_F_QUEUE_ID && rnd() % 10 == 0)
                continue;
            if (!v.n)
                continue;
            OK(cof_seal_token(bkey, f, v, t->r.token[f]));
            t->r.token_mask |= 1u << f;
        }
    }
}

static int cmp_trec(const void *a, const void *b)
{
    const trec *x = a, *y = b;
    if (x->r.time_us != y->r.time_us)
        return x->r.time_us < y->r.time_us ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* After sorting recs, point each record's strings back at its own buffers. */
static void sort_recs(void)
{
    qsort(recs, nrecs, sizeof *recs, cmp_trec);
    for (size_t i = 0; i < nrecs; i++)
        for (int f = 0; f < COF_NFIELDS; f++) {
            if (recs[i].r.clear[f].n)
                recs[i].r.clear[f].p = recs[i].buf[f][0];
            if (recs[i].r.sealed[f].n)
                recs[i].r.sealed[f].p = recs[i].buf[f][1];
        }
}

static void path_of(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", tmpdir, name);
}

static void write_seg(const char *path, uint64_t seg_id, const uint8_t *k)
{
    cof_seg_meta m;
    memset(&m, 0, sizeof m);
    snprintf(m.tenant, sizeof m.tenant, "acme");
    m.day = DAY;
    m.seg_id = seg_id;
    cof_segw *w;
    unlink(path);
    OK(cof_segw_open(path, &m, k, &w));
    for (size_t i = 0; i < nrecs; i++)
        OK(cof_segw_add(w, &recs[i].r));
    OK(cof_segw_finish(w));
    cof_segw_free(w);
}

static int str_same(cof_str a, cof_str b) { return a.n == b.n && (!a.n || !memcmp(a.p, b.p, a.n)); }

typedef struct {
    const trec *exp; /* sorted expectation */
    int with_key;
    size_t seen;
} check_ctx;

static cof_status check_row(void *vctx, uint32_t row, const cof_record *r)
{
    check_ctx *c = vctx;
    const cof_record *e = &c->exp[row].r;
    assert_true(r->time_us == e->time_us);
    assert_int_equal(r->status, e->status);
    assert_int_equal(r->direction, e->direction);
    assert_int_equal(r->relay_port, e->relay_port);
    assert_int_equal(r->delay_ms, e->delay_ms);
    assert_memory_equal(r->delays_ms, e->delays_ms, sizeof e->delays_ms);
    assert_true(r->size == e->size);
    assert_int_equal(r->nrcpt, e->nrcpt);
    assert_int_equal(r->token_mask, e->token_mask);
    for (int f = 0; f < COF_NFIELDS; f++) {
        assert_true(str_same(r->clear[f], e->clear[f]));
        if (c->with_key)
            assert_true(str_same(r->sealed[f], e->sealed[f]));
        else
            assert_int_equal(r->sealed[f].n, 0);
        if (e->token_mask >> f & 1)
            assert_memory_equal(r->token[f], e->token[f], COF_TOKEN_LEN);
    }
    c->seen++;
    return COF_OK;
}

/* The same without tokens (cof_seg_get_notokens). */
static cof_status check_row_notok(void *vctx, uint32_t row, const cof_record *r)
{
    check_ctx *c = vctx;
    cof_record x = *r;
    assert_int_equal(r->token_mask, 0);
    x.token_mask = c->exp[row].r.token_mask;
    memcpy(x.token, c->exp[row].r.token, sizeof x.token);
    return check_row(vctx, row, &x);
}

static uint32_t *all_rows(size_t n)
{
    uint32_t *rows = malloc((n ? n : 1) * sizeof *rows);
    for (size_t i = 0; i < n; i++)
        rows[i] = (uint32_t)i;
    return rows;
}

static void test_roundtrip(void **state)
{
    (void)state;
    char path[128];
    path_of(path, sizeof path, "rt.seg");
    gen(NREC, 1);
    write_seg(path, 7, key);
    sort_recs();
    cof_seg *s;
    OK(cof_seg_open(path, &s));
    assert_int_equal(cof_seg_nrows(s), NREC);
    assert_true(cof_seg_min_time(s) == recs[0].r.time_us);
    assert_true(cof_seg_max_time(s) == recs[NREC - 1].r.time_us);
    assert_string_equal(cof_seg_meta_get(s)->tenant, "acme");
    assert_true(cof_seg_meta_get(s)->seg_id == 7);
    uint32_t *rows = all_rows(NREC);
    check_ctx c = { recs, 1, 0 };
    OK(cof_seg_get(s, key, rows, NREC, check_row, &c));
    assert_int_equal(c.seen, NREC);
    c.with_key = 0;
    c.seen = 0;
    OK(cof_seg_get(s, NULL, rows, NREC, check_row, &c));
    assert_int_equal(c.seen, NREC);
    /* a sparse subset, twice (second time from the cache) */
    uint32_t sub[50];
    for (int i = 0; i < 50; i++)
        sub[i] = (uint32_t)(i * 397);
    c.with_key = 1;
    for (int k = 0; k < 2; k++)
        OK(cof_seg_get(s, key, sub, 50, check_row, &c));
    /* no cache at all */
    cof_seg_set_cache(s, 0);
    OK(cof_seg_get(s, key, sub, 50, check_row, &c));
    /* query gets: no tokens; second time from the row cache; never to another key */
    check_ctx q = { recs, 1, 0 };
    for (int k = 0; k < 2; k++)
        OK(cof_seg_get_notokens(s, key, sub, 50, check_row_notok, &q));
    q.with_key = 0;
    OK(cof_seg_get_notokens(s, NULL, sub, 50, check_row_notok, &q));
    assert_int_equal(cof_seg_get_notokens(s, key2, sub, 50, check_row_notok, &q), COF_CORRUPT);
    q.with_key = 1;
    OK(cof_seg_get_notokens(s, key, sub, 50, check_row_notok, &q));
    assert_int_equal(q.seen, 200);
    cof_seg_set_cache(s, 8u << 20);
    OK(cof_seg_get_notokens(s, key, rows, NREC, check_row_notok, &q));
    OK(cof_seg_get_notokens(s, key, rows, NREC, check_row_notok, &q));
    /* and tokens still come back in full after that */
    OK(cof_seg_get(s, key, sub, 50, check_row, &c));
    /* rows must ascend */
    uint32_t bad[2] = { 5, 3 };
    assert_int_equal(cof_seg_get(s, key, bad, 2, check_row, &c), COF_BADINPUT);
    OK(cof_seg_verify(s, key));
    OK(cof_seg_verify(s, NULL));
    cof_seg_close(s);
    free(rows);
}

static void test_lookup(void **state)
{
    (void)state;
    char path[128];
    path_of(path, sizeof path, "lk.seg");
    gen(NREC, 0);
    write_seg(path, 8, key);
    sort_recs();
    cof_seg *s;
    OK(cof_seg_open(path, &s));
    static uint32_t rows[NREC], exp[NREC];
    static const cof_field tf[] = { COF_F_RECIPIENT, COF_F_SENDER, COF_F_MESSAGE_ID,
                                    COF_F_QUEUE_ID, COF_F_CLIENT_IP, COF_F_SASL_USERNAME };
    for (int probe = 0; probe < 300; probe++) {
        cof_field f = tf[probe % 6];
        size_t at = rnd() % NREC;
        while (!(recs[at].r.token_mask >> f & 1))
            at = (at + 1) % NREC;
        size_t ne = 0, n;
        for (size_t i = 0; i < NREC; i++)
            if ((recs[i].r.token_mask >> f & 1) &&
                !memcmp(recs[i].r.token[f], recs[at].r.token[f], COF_TOKEN_LEN))
                exp[ne++] = (uint32_t)i;
        OK(cof_seg_lookup(s, f, recs[at].r.token[f], rows, NREC, &n));
        assert_int_equal(n, ne);
        assert_memory_equal(rows, exp, ne * sizeof *rows);
        if (ne > 1) { /* cap smaller than the match count: total still reported */
            OK(cof_seg_lookup(s, f, recs[at].r.token[f], rows, 1, &n));
            assert_int_equal(n, ne);
            assert_int_equal(rows[0], exp[0]);
        }
    }
    uint8_t absent[COF_TOKEN_LEN];
    size_t n = 99;
    for (int k = 0; k < 50; k++) {
        randombytes_buf(absent, sizeof absent);
        OK(cof_seg_lookup(s, COF_F_RECIPIENT, absent, rows, NREC, &n));
        assert_int_equal(n, 0);
    }
    memset(absent, 0, sizeof absent);
    OK(cof_seg_lookup(s, COF_F_RECIPIENT, absent, rows, NREC, &n));
    assert_int_equal(n, 0);
    memset(absent, 0xff, sizeof absent);
    OK(cof_seg_lookup(s, COF_F_RECIPIENT, absent, rows, NREC, &n));
    assert_int_equal(n, 0);
    OK(cof_seg_lookup(s, COF_F_SUBJECT, absent, rows, NREC, &n));
    assert_int_equal(n, 0);
    /* lookup_clear */
    cof_str dom = COF_STR_LIT("dom7.example");
    size_t ne = 0;
    for (size_t i = 0; i < NREC; i++)
        if (str_same(recs[i].r.clear[COF_F_RECIPIENT], dom))
            exp[ne++] = (uint32_t)i;
    assert_true(ne > 0);
    OK(cof_seg_lookup_clear(s, COF_F_RECIPIENT, dom, rows, NREC, &n));
    assert_int_equal(n, ne);
    assert_memory_equal(rows, exp, ne * sizeof *rows);
    OK(cof_seg_lookup_clear(s, COF_F_RECIPIENT, COF_STR_LIT("nope.example"),
                                          rows, NREC, &n));
    assert_int_equal(n, 0);
    OK(cof_seg_lookup_clear(s, COF_F_SUBJECT, dom, rows, NREC, &n));
    assert_int_equal(n, 0);
    cof_seg_close(s);
}

typedef struct {
    const trec *exp;
    int64_t since, until;
    size_t in_range, blocks;
    uint32_t dom_id_ok;
} scan_ctx;

static cof_status scan_cb(void *vctx, const cof_seg_block *b)
{
    scan_ctx *c = vctx;
    c->blocks++;
    assert_non_null(b->clear_id[COF_F_RECIPIENT]);
    assert_non_null(b->clear_id[COF_F_SUBJECT]); /* requested, never present: all zero */
    for (uint32_t i = 0; i < b->nrows; i++) {
        const cof_record *e = &c->exp[b->first_row + i].r;
        assert_true(b->time_us[i] == e->time_us);
        assert_int_equal(b->status[i], e->status);
        assert_int_equal(b->direction[i], e->direction);
        assert_int_equal(b->delay_ms[i], e->delay_ms);
        assert_true(b->size[i] == e->size);
        uint32_t id = b->clear_id[COF_F_RECIPIENT][i];
        assert_true(id <= b->dict_n[COF_F_RECIPIENT]);
        assert_true(str_same(b->dict[COF_F_RECIPIENT][id], e->clear[COF_F_RECIPIENT]));
        assert_int_equal(b->clear_id[COF_F_SUBJECT][i], 0);
        if (b->time_us[i] >= c->since && b->time_us[i] < c->until)
            c->in_range++;
    }
    return COF_OK;
}

static void test_scan(void **state)
{
    (void)state;
    char path[128];
    path_of(path, sizeof path, "lk.seg"); /* from test_lookup: recs are sorted */
    cof_seg *s;
    OK(cof_seg_open(path, &s));
    uint32_t mask = 1u << COF_F_RECIPIENT | 1u << COF_F_SUBJECT;
    int64_t ranges[][2] = { { INT64_MIN, INT64_MAX }, { DAY0 + 3600000000LL, DAY0 + 7200000000LL },
                            { DAY0 - 5, DAY0 }, { DAY0 + 86400000000LL, INT64_MAX } };
    for (size_t k = 0; k < 4; k++) {
        scan_ctx c = { recs, ranges[k][0], ranges[k][1], 0, 0, 0 };
        OK(cof_seg_scan(s, mask, c.since, c.until, scan_cb, &c));
        size_t exp = 0;
        for (size_t i = 0; i < nrecs; i++)
            exp += recs[i].r.time_us >= c.since && recs[i].r.time_us < c.until;
        assert_int_equal(c.in_range, exp);
        if (k == 1)
            assert_true(c.blocks < (NREC + COF_SEG_BLOCK_ROWS - 1) / COF_SEG_BLOCK_ROWS);
        if (k >= 2)
            assert_int_equal(c.blocks, 0);
    }
    cof_seg_close(s);
}

static cof_status noop_row(void *ctx, uint32_t row, const cof_record *r)
{
    (void)ctx, (void)row, (void)r;
    return COF_OK;
}

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc(*n + 1);
    assert_int_equal(fread(b, 1, *n, f), *n);
    fclose(f);
    return b;
}

static void spit(const char *path, const uint8_t *b, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b, 1, n, f), n);
    fclose(f);
}

static void test_keys_and_moves(void **state)
{
    (void)state;
    char pa[128], pb[128];
    path_of(pa, sizeof pa, "ka.seg");
    path_of(pb, sizeof pb, "kb.seg");
    gen(3000, 0);
    write_seg(pa, 1, key);
    write_seg(pb, 2, key);
    uint32_t *rows = all_rows(3000);
    cof_seg *s;
    /* wrong key */
    OK(cof_seg_open(pa, &s));
    assert_int_equal(cof_seg_get(s, key2, rows, 3000, noop_row, NULL), COF_CORRUPT);
    assert_non_null(strstr(cof_err_msg(), pa));
    assert_int_equal(cof_seg_verify(s, key2), COF_CORRUPT);
    OK(cof_seg_get(s, key, rows, 3000, noop_row, NULL));
    /* the cache must not hand plaintext opened with key to another key */
    assert_int_equal(cof_seg_get(s, key2, rows, 3000, noop_row, NULL), COF_CORRUPT);
    cof_seg_close(s);
    /* move every block of B (same layout, other segment id) into A */
    size_t na, nb;
    uint8_t *a = slurp(pa, &na), *b = slurp(pb, &nb);
    uint64_t meta_off = cof_le64(a + na - SEG_FOOTER_LEN);
    /* meta differs (segment id), the frames before it have the same layout */
    assert_true(meta_off == cof_le64(b + nb - SEG_FOOTER_LEN));
    memcpy(a + SEG_HEADER_LEN, b + SEG_HEADER_LEN, meta_off - SEG_HEADER_LEN);
    char pm[128];
    path_of(pm, sizeof pm, "moved.seg");
    spit(pm, a, na);
    /* checksums in A's meta already catch it... */
    OK(cof_seg_open(pm, &s));
    assert_int_equal(cof_seg_get(s, key, rows, 3000, noop_row, NULL), COF_CORRUPT);
    cof_seg_close(s);
    /* ...and with checksums off (an attacker who fixes them) the AEAD tag does */
    OK(cof_seg_open_flags(pm, COF_SEG_OPEN_NOCRC, &s));
    assert_int_equal(cof_seg_get(s, key, rows, 3000, noop_row, NULL), COF_CORRUPT);
    assert_non_null(strstr(cof_err_msg(), "authentication"));
    assert_int_equal(cof_seg_verify(s, key), COF_CORRUPT);
    /* clear data and tokens still read without a key */
    OK(cof_seg_get(s, NULL, rows, 3000, noop_row, NULL));
    cof_seg_close(s);
    /* the associated data binds segment, column and block */
    cof_seg_meta m = { "acme", DAY, 1 };
    uint8_t ad[SEG_AD_LEN], ad2[SEG_AD_LEN], pt[5] = "hello", box[5 + COF_SEAL_OVERHEAD], o[5];
    cof_seg_ad(ad, &m, SEGC_SEALED, COF_F_RECIPIENT, 3);
    OK(cof_seal_box(key, ad, sizeof ad, pt, 5, box));
    OK(cof_seal_open(key, ad, sizeof ad, box, sizeof box, o));
    cof_seg_ad(ad2, &m, SEGC_SEALED, COF_F_RECIPIENT, 4);
    assert_int_equal(cof_seal_open(key, ad2, sizeof ad2, box, sizeof box, o), COF_CORRUPT);
    cof_seg_ad(ad2, &m, SEGC_SEALED, COF_F_SENDER, 3);
    assert_int_equal(cof_seal_open(key, ad2, sizeof ad2, box, sizeof box, o), COF_CORRUPT);
    m.seg_id = 2;
    cof_seg_ad(ad2, &m, SEGC_SEALED, COF_F_RECIPIENT, 3);
    assert_int_equal(cof_seal_open(key, ad2, sizeof ad2, box, sizeof box, o), COF_CORRUPT);
    m.seg_id = 1;
    snprintf(m.tenant, sizeof m.tenant, "acmf");
    cof_seg_ad(ad2, &m, SEGC_SEALED, COF_F_RECIPIENT, 3);
    assert_int_equal(cof_seal_open(key, ad2, sizeof ad2, box, sizeof box, o), COF_CORRUPT);
    free(a);
    free(b);
    free(rows);
}

/* Open, then get every row with the key, scan, verify: the first failure. */
static cof_status read_all(const char *path)
{
    cof_seg *s;
    cof_status st = cof_seg_open(path, &s);
    if (st)
        return st;
    uint32_t n = cof_seg_nrows(s);
    uint32_t *rows = all_rows(n);
    st = cof_seg_verify(s, key);
    cof_status st2 = cof_seg_get(s, key, rows, n, noop_row, NULL);
    free(rows);
    cof_seg_close(s);
    if (!st)
        st = st2;
    return st;
}

static void test_corruption(void **state)
{
    (void)state;
    char pa[128], pc[128];
    path_of(pa, sizeof pa, "cor.seg");
    path_of(pc, sizeof pc, "cor-bad.seg");
    gen(9000, 0);
    write_seg(pa, 3, key);
    size_t n;
    uint8_t *a = slurp(pa, &n);
    OK(read_all(pa));
    size_t step = n / 400 + 1, tested = 0;
    for (size_t pos = 0; pos < n; pos += (pos < 64 || pos + 64 > n) ? 1 : step) {
        uint8_t bit = (uint8_t)(1u << (rnd() % 8));
        a[pos] ^= bit;
        spit(pc, a, n);
        cof_status st = read_all(pc);
        if (st != COF_CORRUPT)
            fail_msg("flip at %zu of %zu not detected (%d)", pos, n, st);
        assert_non_null(strstr(cof_err_msg(), pc));
        a[pos] ^= bit;
        tested++;
    }
    assert_true(tested > 400);
    /* truncations and appended bytes */
    size_t cuts[] = { 0, 1, 31, 32, 67, n / 2, n - 37, n - 36, n - 1 };
    for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
        spit(pc, a, cuts[k]);
        assert_int_equal(read_all(pc), COF_CORRUPT);
        assert_non_null(strstr(cof_err_msg(), pc));
    }
    uint8_t *longer = malloc(n + 1);
    memcpy(longer, a, n);
    longer[n] = 0;
    spit(pc, longer, n + 1);
    assert_int_equal(read_all(pc), COF_CORRUPT);
    free(longer);
    free(a);
}

static int contains(const uint8_t *h, size_t hn, const char *needle, size_t nn)
{
    if (nn == 0 || nn > hn)
        return 0;
    return memmem(h, hn, needle, nn) != NULL;
}

static void test_no_plaintext(void **state)
{
    (void)state;
    char pa[128];
    path_of(pa, sizeof pa, "np.seg");
    gen(5000, 1);
    write_seg(pa, 4, key);
    size_t n;
    uint8_t *a = slurp(pa, &n);
    size_t checked = 0;
    for (size_t i = 0; i < nrecs; i++)
        for (int f = 0; f < COF_NFIELDS; f++) {
            cof_str v = recs[i].r.sealed[f];
            if (!v.n)
                continue;
            char hex[2 * COF_MAX_FIELD + 1], b64[2 * COF_MAX_FIELD];
            sodium_bin2hex(hex, sizeof hex, (const uint8_t *)v.p, v.n);
            sodium_bin2base64(b64, sizeof b64, (const uint8_t *)v.p, v.n,
                              sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
            if (contains(a, n, v.p, v.n) || contains(a, n, hex, strlen(hex)) ||
                contains(a, n, b64, strlen(b64)))
                fail_msg("sealed value of field %s found in the file", cof_field_name(f));
            checked++;
        }
    assert_true(checked > 5000);
    /* the search itself works */
    assert_true(contains(a, n, (const char *)a + n / 2, 12));
    free(a);
}

static void test_edges(void **state)
{
    (void)state;
    char pa[128], tmp[140];
    path_of(pa, sizeof pa, "edge.seg");
    /* empty segment */
    nrecs = 0;
    write_seg(pa, 5, key);
    cof_seg *s;
    OK(cof_seg_open(pa, &s));
    assert_int_equal(cof_seg_nrows(s), 0);
    size_t n = 1;
    uint32_t rows[4];
    uint8_t t[COF_TOKEN_LEN] = { 0 };
    OK(cof_seg_lookup(s, COF_F_RECIPIENT, t, rows, 4, &n));
    assert_int_equal(n, 0);
    OK(cof_seg_verify(s, key));
    cof_seg_close(s);
    /* refuses to overwrite; bad rows rejected; free without finish removes the tmp */
    cof_seg_meta m = { "acme", DAY, 9 };
    cof_segw *w;
    assert_int_equal(cof_segw_open(pa, &m, key, &w), COF_EXISTS);
    path_of(pa, sizeof pa, "edge2.seg");
    OK(cof_segw_open(pa, &m, key, &w));
    cof_record r;
    cof_record_init(&r);
    r.time_us = DAY0 - 1;
    assert_int_equal(cof_segw_add(w, &r), COF_BADINPUT);
    r.time_us = DAY0;
    r.status = COF_NSTATUS;
    assert_int_equal(cof_segw_add(w, &r), COF_BADINPUT);
    r.status = 1;
    static char big[COF_MAX_FIELD + 1];
    r.sealed[COF_F_SUBJECT] = cof_str_make(big, sizeof big);
    assert_int_equal(cof_segw_add(w, &r), COF_LIMIT);
    snprintf(tmp, sizeof tmp, "%s.tmp", pa);
    struct stat sb;
    assert_int_equal(stat(tmp, &sb), 0);
    cof_segw_free(w);
    assert_int_not_equal(stat(tmp, &sb), 0);
    assert_int_not_equal(stat(pa, &sb), 0);
    /* missing file */
    assert_int_equal(cof_seg_open(pa, &s), COF_NOTFOUND);
}

/* Every fuzzer crash kept under tests/data/segment/ must be rejected cleanly. */
static void test_regressions(void **state)
{
    (void)state;
    const char *dir = getenv("COF_TEST_DATA");
    if (!dir)
        skip();
    char list[512];
    snprintf(list, sizeof list, "%s/segment", dir);
    FILE *ls;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "ls %s 2>/dev/null", list);
    ls = popen(cmd, "r");
    assert_non_null(ls);
    char name[256];
    while (fgets(name, sizeof name, ls)) {
        name[strcspn(name, "\n")] = 0;
        char p[800];
        snprintf(p, sizeof p, "%s/%s", list, name);
        cof_status st = read_all(p);
        assert_true(st == COF_OK || st == COF_CORRUPT);
    }
    pclose(ls);
}

/* Integer blocks and bit-packing: every width, both modes, extremes, truncation. */
static void test_colenc(void **state)
{
    (void)state;
    enum { N = 3000 };
    static uint64_t v[N], out[N], scr[N];
    static uint32_t ix[N], v32[N], o32[N];
    cof_colbuf b = { 0 };
    for (int kase = 0; kase < 200; kase++) {
        size_t n = kase < 3 ? (size_t)kase : 1 + rnd() % N;
        unsigned bits = (unsigned)(kase % 65);
        uint64_t base = rnd(), mul = kase % 3 == 0 ? 10 : 1;
        for (size_t i = 0; i < n; i++) {
            uint64_t x = bits == 64 ? rnd() : bits ? rnd() & ((1ull << bits) - 1) : 0;
            if (kase % 5 == 1)
                x %= 7; /* few distinct: dictionary */
            v[i] = base + x * mul;
            if (kase % 11 == 2 && i % 17 == 0)
                v[i] = UINT64_MAX;
        }
        cof_colbuf_reset(&b);
        cof_colenc_ints(&b, v, n, scr);
        assert_false(b.oom);
        cof_colrd r = cof_colrd_make(b.p, b.n);
        assert_true(cof_colenc_ints_dec(&r, n, out, scr, ix));
        assert_true(r.p == r.end);
        assert_memory_equal(out, v, n * sizeof *v);
        for (size_t cut = 0; cut < b.n; cut += 1 + b.n / 7) {
            r = cof_colrd_make(b.p, cut);
            assert_false(cof_colenc_ints_dec(&r, n, out, scr, ix) && r.p == r.end && cut < b.n);
        }
        /* u32 and u64 packers at this width */
        unsigned w = bits > 32 ? 32 : bits;
        for (size_t i = 0; i < n; i++)
            v32[i] = w == 32 ? (uint32_t)rnd() : (uint32_t)(rnd() & ((1ull << w) - 1));
        cof_colbuf_reset(&b);
        cof_colenc_pack(&b, v32, n, w);
        assert_int_equal(b.n, cof_colenc_packed_len(n, w));
        assert_true(cof_colenc_unpack(b.p, b.n, n, w, o32));
        assert_memory_equal(o32, v32, n * sizeof *v32);
        if (w <= 8) {
            static uint8_t o8[N];
            assert_true(cof_colenc_unpack8(b.p, b.n, n, w, o8));
            for (size_t i = 0; i < n; i++)
                assert_int_equal(o8[i], v32[i]);
        }
        cof_colbuf_reset(&b);
        cof_colenc_pack64(&b, v, n, bits);
        assert_true(cof_colenc_unpack64(b.p, b.n, n, bits, out));
        for (size_t i = 0; i < n; i++)
            assert_true(out[i] == (bits == 64 ? v[i] : v[i] & ((1ull << bits) - 1)));
    }
    cof_colbuf_free(&b);
}

static int setup(void **state)
{
    (void)state;
    if (cof_seal_init())
        return -1;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/cofseg-XXXXXX");
    if (!mkdtemp(tmpdir))
        return -1;
    randombytes_buf(key, sizeof key);
    randombytes_buf(key2, sizeof key2);
    randombytes_buf(bkey, sizeof bkey);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    free(recs);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),      cmocka_unit_test(test_lookup),
        cmocka_unit_test(test_scan),           cmocka_unit_test(test_keys_and_moves),
        cmocka_unit_test(test_corruption),     cmocka_unit_test(test_no_plaintext),
        cmocka_unit_test(test_edges),          cmocka_unit_test(test_regressions),
        cmocka_unit_test(test_colenc),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
