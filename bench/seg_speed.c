/* seg_speed.c - segment micro benchmark: bytes per event on realistic synthetic
 * records, aggregation scan speed (status x recipient domain, with cof_seg_scan2 and
 * with cof_seg_scan), and recipient lookup latency (token -> rows ->
 * cof_seg_get_notokens with sealed decrypt): one probe repeated, then 200 recipients of
 * ~100 rows each, p50/p99 cold, repeated at once, and on a second pass.
 *
 *   seg_speed [rows] [dir]        (defaults: 1000000 rows, /tmp)
 *   COF_BENCH_LEVEL=n             zstd level for the writer (default 3)
 *   COF_BENCH_CACHE_MB=n          per-segment cache for the lookups (default 8 MiB)
 *   COF_BENCH_SCANS=n, COF_BENCH_REPS=n   repetitions of the scans / the probe lookup */
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "seal.h"
#include "segment.h"
#include "segment_int.h"

#define DAY 20000u
#define DAY0 ((int64_t)DAY * 86400000000LL)

static uint64_t rs = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    rs ^= rs << 13;
    rs ^= rs >> 7;
    rs ^= rs << 17;
    return rs;
}
static double unif(void) { return (double)(rnd() >> 11) / 9007199254740992.0; }

/* Zipf(s=1) over [0, n) by inverse CDF on a precomputed table. */
typedef struct {
    double *cdf;
    uint32_t n;
} zipf;
static void zipf_init(zipf *z, uint32_t n, double s)
{
    z->n = n;
    z->cdf = malloc(n * sizeof *z->cdf);
    double sum = 0;
    for (uint32_t i = 0; i < n; i++)
        z->cdf[i] = (sum += 1.0 / pow(i + 1.0, s));
    for (uint32_t i = 0; i < n; i++)
        z->cdf[i] /= sum;
}
static uint32_t zipf_draw(const zipf *z)
{
    double u = unif();
    uint32_t lo = 0, hi = z->n - 1;
    while (lo < hi) {
        uint32_t m = (lo + hi) / 2;
        if (z->cdf[m] < u)
            lo = m + 1;
        else
            hi = m;
    }
    return lo;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static const char *const words[] = { "alpha", "bravo", "carol", "delta", "echo", "fox",
                                     "golf", "hotel", "india", "julia", "kilo", "lima" };

#define NDOM 5000
#define NRCPT_POP 200000
#define NSEND_POP 20000

static char *arena;
static size_t arena_n, arena_cap;
static cof_str keep(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static cof_str keep(const char *fmt, ...)
{
    if (arena_n + 512 > arena_cap) {
        arena = malloc(arena_cap = 64u << 20);
        arena_n = 0;
    }
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(arena + arena_n, 512, fmt, ap);
    va_end(ap);
    cof_str s = cof_str_make(arena + arena_n, (size_t)n);
    arena_n += (size_t)n;
    return s;
}

static uint8_t blind[COF_SEAL_KEYBYTES], dkey[COF_KEY_LEN];

static void tok(cof_record *r, cof_field f, cof_str v)
{
    if (!v.n)
        return;
    if (cof_seal_token(blind, f, v, r->token[f]) == COF_OK)
        r->token_mask |= 1u << f;
}

static cof_str domain_of(cof_str a)
{
    const char *at = memchr(a.p, '@', a.n);
    return at ? cof_str_make(at + 1, a.n - (size_t)(at + 1 - a.p)) : a;
}

typedef struct {
    uint64_t counts[COF_NSTATUS][NDOM + 1];
    uint64_t rows;
} agg;

static cof_status agg_cb(void *ctx, const cof_seg_block *b)
{
    agg *a = ctx;
    const uint8_t *st = b->status;
    const uint32_t *dom = b->clear_id[COF_F_RECIPIENT];
    uint32_t dn = b->dict_n[COF_F_RECIPIENT];
    for (uint32_t i = 0; i < b->nrows; i++)
        a->counts[st[i]][dom[i] <= NDOM ? dom[i] : 0]++;
    a->rows += b->nrows;
    (void)dn;
    return COF_OK;
}

static size_t got_rows, got_sealed;
static cof_status row_cb(void *ctx, uint32_t row, const cof_record *r)
{
    (void)ctx, (void)row;
    got_rows++;
    got_sealed += r->sealed[COF_F_RECIPIENT].n != 0;
    return COF_OK;
}

#define NSET 200
static uint8_t set_tok[NSET][COF_TOKEN_LEN];
static int have_set[NSET];

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* One lookup + get_notokens with the key; milliseconds, or -1 on error. */
static double timed_lookup(cof_seg *s, const uint8_t *t, uint32_t *rows, size_t cap, size_t *n)
{
    double l0 = 0;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    l0 = (double)ts.tv_sec + ts.tv_nsec / 1e9;
    if (cof_seg_lookup(s, COF_F_RECIPIENT, t, rows, cap, n) ||
        cof_seg_get_notokens(s, dkey, rows, *n, row_cb, NULL))
        return -1;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((double)ts.tv_sec + ts.tv_nsec / 1e9 - l0) * 1e3;
}

static void pct(const char *what, double *ms, int n, double rows)
{
    qsort(ms, (size_t)n, sizeof *ms, cmp_d);
    printf("  %-44s p50 %8.3f ms  p99 %8.3f ms  max %8.3f ms  (avg %.0f rows)\n", what,
           ms[n / 2], ms[(n * 99) / 100], ms[n - 1], rows / n);
}

int main(int argc, char **argv)
{
    size_t nrows = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
    const char *dir = argc > 2 ? argv[2] : "/tmp";
    int level = getenv("COF_BENCH_LEVEL") ? (int)strtol(getenv("COF_BENCH_LEVEL"), NULL, 10) : 3;
    if (cof_seal_init())
        return 1;
    randombytes_buf(blind, sizeof blind);
    randombytes_buf(dkey, sizeof dkey);
    zipf zr, zd, zs;
    zipf_init(&zr, NRCPT_POP, 1.0);
    zipf_init(&zd, NDOM, 1.1);
    zipf_init(&zs, NSEND_POP, 1.0);
    zipf zc;
    zipf_init(&zc, 50000, 1.0);
    uint32_t *rdom = malloc(NRCPT_POP * sizeof *rdom);
    for (uint32_t i = 0; i < NRCPT_POP; i++)
        rdom[i] = zipf_draw(&zd);

    char path[512];
    snprintf(path, sizeof path, "%s/seg_speed-%d.seg", dir, (int)getpid());
    cof_seg_meta m;
    memset(&m, 0, sizeof m);
    snprintf(m.tenant, sizeof m.tenant, "bench");
    m.day = DAY;
    m.seg_id = 42;
    cof_segw *w;
    if (cof_segw_open(path, &m, dkey, &w)) {
        fprintf(stderr, "open: %s\n", cof_err_msg());
        return 1;
    }
    cof_segw_set_level(w, level);
    double t0 = now();
    int64_t t = DAY0 + 1000;
    size_t made = 0;
    uint8_t probe_tok[COF_TOKEN_LEN];
    int have_probe = 0;
    uint32_t probe_ix = 0;
    while (made < nrows) {
        /* one message: 1-3 recipients */
        t += (int64_t)(-log(1.0 - unif()) * 86400e6 / (double)nrows * 1.55);
        if (t >= DAY0 + 86400000000LL - 10000000)
            t = DAY0 + 86400000000LL - 10000000;
        double u = unif();
        int nr = u < 0.6 ? 1 : u < 0.85 ? 2 : 3;
        uint32_t snd = zipf_draw(&zs);
        cof_str sender = keep("%s.%s%u@%s%u.example", words[snd % 12], words[snd / 12 % 12], snd,
                              words[snd % 7], snd % 900);
        cof_str mid = keep("<%016llx.%08x@%s.mail.example>", (unsigned long long)rnd(),
                           (unsigned)rnd(), words[rnd() % 12]);
        cof_str qid = keep("%010llX", (unsigned long long)(rnd() & 0xffffffffffull));
        int dir_ = u < 0.7 ? COF_DIR_OUTBOUND : unif() < 0.83 ? COF_DIR_INBOUND : COF_DIR_LOCAL;
        int submit = dir_ == COF_DIR_OUTBOUND && unif() < 0.8;
        uint32_t cl = zipf_draw(&zc) * 2654435761u; /* clients repeat: Zipf over 50k */
        cof_str cip = keep("%u.%u.%u.%u", 10 + cl % 40, cl >> 8 & 255, cl >> 16 & 15, cl >> 24);
        cof_str cipp = keep("%u.%u.%u.0/24", 10 + cl % 40, cl >> 8 & 255, cl >> 16 & 15);
        cof_str sasl = submit ? keep("user%u", snd % 3000) : COF_STR_NULL;
        uint64_t size = 2000 + (uint64_t)(-log(1.0 - unif()) * 40000);
        for (int k = 0; k < nr && made < nrows; k++, made++) {
            cof_record r;
            cof_record_init(&r);
            r.time_us = t + (int64_t)(unif() * 2e6);
            if (r.time_us >= DAY0 + 86400000000LL)
                r.time_us = DAY0 + 86400000000LL - 1;
            double v = unif();
            r.status = v < 0.9 ? COF_ST_SENT : v < 0.96 ? COF_ST_DEFERRED : v < 0.99 ? COF_ST_BOUNCED
                                                                               : COF_ST_REJECTED;
            r.direction = (uint8_t)dir_;
            r.relay_port = dir_ == COF_DIR_OUTBOUND ? 25 : 0;
            /* Postfix prints delay= and delays= with 10 ms resolution (delay=0.54) */
            r.delay_ms = 10 * (int32_t)(-log(1.0 - unif()) * 80);
            r.delays_ms[0] = 10 * (int32_t)(unif() * 10);
            r.delays_ms[1] = 10 * (int32_t)(unif() * 2);
            r.delays_ms[2] = 10 * (int32_t)(unif() * 30);
            r.delays_ms[3] = 10 * (int32_t)(unif() * 50);
            r.size = size;
            r.nrcpt = (uint32_t)nr;
            uint32_t rc = zipf_draw(&zr);
            cof_str rcpt = keep("%s%u@%s%u.example", words[rc % 12], rc, words[rdom[rc] % 12],
                                rdom[rc]);
            r.clear[COF_F_HOST] = keep("mx%u.bench.example", (unsigned)(rnd() % 3));
            r.clear[COF_F_INSTANCE] = cof_str_c(dir_ == COF_DIR_OUTBOUND ? "postfix-out" : "postfix");
            r.clear[COF_F_RECIPIENT] = domain_of(rcpt);
            r.clear[COF_F_SENDER] = domain_of(sender);
            r.clear[COF_F_CLIENT_IP] = cipp;
            r.clear[COF_F_DSN] = cof_str_c(r.status == COF_ST_SENT ? "2.0.0"
                                           : r.status == COF_ST_DEFERRED ? "4.4.1" : "5.1.1");
            r.clear[COF_F_TLS] = cof_str_c(v < 0.8 ? "TLSv1.3 TLS_AES_256_GCM_SHA384" : "");
            r.clear[COF_F_TENANT] = cof_str_c("bench");
            if (dir_ == COF_DIR_OUTBOUND) {
                r.clear[COF_F_RELAY_HOST] = keep("mx.%s%u.example", words[rdom[rc] % 12], rdom[rc]);
                r.clear[COF_F_RELAY_IP] = keep("203.0.%u.0/24", rdom[rc] % 256);
            }
            if (submit)
                r.clear[COF_F_SASL_METHOD] = cof_str_c("PLAIN");
            r.sealed[COF_F_RECIPIENT] = rcpt;
            r.sealed[COF_F_SENDER] = sender;
            r.sealed[COF_F_MESSAGE_ID] = mid;
            r.sealed[COF_F_CLIENT_IP] = cip;
            r.sealed[COF_F_SASL_USERNAME] = sasl;
            r.sealed[COF_F_RESPONSE] =
                r.status == COF_ST_SENT ? keep("250 2.0.0 Ok: queued as %010llX",
                                               (unsigned long long)(rnd() & 0xffffffffffull))
                : r.status == COF_ST_DEFERRED ? cof_str_c("421 4.7.0 Try again later")
                                              : keep("550 5.1.1 <%.*s>: Recipient address rejected",
                                                     (int)rcpt.n, rcpt.p);
            tok(&r, COF_F_RECIPIENT, rcpt);
            tok(&r, COF_F_SENDER, sender);
            tok(&r, COF_F_MESSAGE_ID, mid);
            tok(&r, COF_F_QUEUE_ID, qid);
            r.clear[COF_F_QUEUE_ID] = COF_STR_NULL;
            tok(&r, COF_F_CLIENT_IP, cip);
            tok(&r, COF_F_SASL_USERNAME, sasl);
            /* the lookup set: 200 recipients of rank 600..998 (~80-130 rows per million) */
            if (rc >= 600 && rc < 1000 && !(rc & 1) && !have_set[(rc - 600) / 2]) {
                memcpy(set_tok[(rc - 600) / 2], r.token[COF_F_RECIPIENT], COF_TOKEN_LEN);
                have_set[(rc - 600) / 2] = 1;
            }
            /* probe: a recipient of rank ~700 (about 100 rows per million) */
            if (!have_probe && rc == 700) {
                memcpy(probe_tok, r.token[COF_F_RECIPIENT], COF_TOKEN_LEN);
                have_probe = 1;
                probe_ix = rc;
            }
            if (cof_segw_add(w, &r)) {
                fprintf(stderr, "add: %s\n", cof_err_msg());
                return 1;
            }
        }
    }
    double t1 = now();
    if (cof_segw_finish(w)) {
        fprintf(stderr, "finish: %s\n", cof_err_msg());
        return 1;
    }
    double t2 = now();
    cof_segw_free(w);

    cof_seg *s;
    if (cof_seg_open(path, &s)) {
        fprintf(stderr, "open: %s\n", cof_err_msg());
        return 1;
    }
    uint64_t fs = cof_seg_file_size(s);
    printf("rows %zu  zstd level %d  file %llu bytes  => %.2f bytes/event\n", nrows, level,
           (unsigned long long)fs, (double)fs / (double)nrows);
    printf("write: generate+add %.2fs, finish (sort, encode, fsync) %.2fs\n", t1 - t0, t2 - t1);
    static const char *const kn[] = { "", "time", "status", "direction", "delay", "delays",
                                      "size", "nrcpt", "relay_port" };
    printf("bytes/event by column:\n");
    double tnum = 0, tclear = 0, tseal = 0, tidx = 0;
    for (unsigned k = SEGC_TIME; k < SEGC_NNUM; k++) {
        double c = (double)cof_seg_column_bytes(s, k, 0, 0) / (double)nrows;
        tnum += c;
        printf("  %-22s %6.2f\n", kn[k], c);
    }
    for (unsigned f = 0; f < COF_NFIELDS; f++) {
        double c = (double)cof_seg_column_bytes(s, SEGC_CLEAR, f, 0) / (double)nrows;
        double se = (double)cof_seg_column_bytes(s, SEGC_SEALED, f, 0) / (double)nrows;
        double ix = (double)cof_seg_column_bytes(s, SEGC_TOKEN, f, 1) / (double)nrows;
        tclear += c;
        tseal += se;
        tidx += ix;
        if (c + se + ix > 0)
            printf("  %-22s clear %5.2f  sealed %5.2f  index %5.2f\n",
                   cof_field_name((cof_field)f), c, se, ix);
    }
    printf("totals: numeric %.2f  clear %.2f  sealed %.2f  token index %.2f  meta+framing %.2f\n",
           tnum, tclear, tseal, tidx, (double)fs / (double)nrows - tnum - tclear - tseal - tidx);

    /* scan: status x recipient domain, all rows */
    agg *a = calloc(1, sizeof *a);
    double best = 1e9;
    int scans = getenv("COF_BENCH_SCANS") ? (int)strtol(getenv("COF_BENCH_SCANS"), NULL, 10) : 5;
    for (int rep = 0; rep < scans; rep++) {
        memset(a, 0, sizeof *a);
        double s0 = now();
        if (cof_seg_scan2(s, 1u << COF_F_RECIPIENT, COF_SCAN_STATUS, INT64_MIN, INT64_MAX, agg_cb,
                          a)) {
            fprintf(stderr, "scan: %s\n", cof_err_msg());
            return 1;
        }
        double d = now() - s0;
        best = d < best ? d : best;
    }
    printf("scan2 status x recipient-domain (time, status, recipient ids): %llu rows, best of %d "
           "%.1f ms => %.1f M rows/s\n",
           (unsigned long long)a->rows, scans, best * 1e3, (double)a->rows / best / 1e6);
    best = 1e9;
    for (int rep = 0; rep < scans; rep++) {
        memset(a, 0, sizeof *a);
        double s0 = now();
        if (cof_seg_scan(s, 1u << COF_F_RECIPIENT, INT64_MIN, INT64_MAX, agg_cb, a)) {
            fprintf(stderr, "scan: %s\n", cof_err_msg());
            return 1;
        }
        double d = now() - s0;
        best = d < best ? d : best;
    }
    printf("scan (all numeric columns) status x recipient-domain: %llu rows, best of %d %.1f ms "
           "=> %.1f M rows/s\n",
           (unsigned long long)a->rows, scans, best * 1e3, (double)a->rows / best / 1e6);

    /* lookup: token -> rows -> get with sealed decrypt */
    if (have_probe) {
        static uint32_t rows[1 << 20];
        size_t n = 0;
        cof_seg_close(s);
        if (cof_seg_open(path, &s))
            return 1;
        if (getenv("COF_BENCH_CACHE_MB"))
            cof_seg_set_cache(s, (size_t)strtoul(getenv("COF_BENCH_CACHE_MB"), NULL, 10) << 20);
        int reps = getenv("COF_BENCH_REPS") ? (int)strtol(getenv("COF_BENCH_REPS"), NULL, 10) : 6;
        for (int rep = 0; rep < reps; rep++) {
            got_rows = got_sealed = 0;
            double l0 = now();
            if (cof_seg_lookup(s, COF_F_RECIPIENT, probe_tok, rows, 1 << 20, &n))
                return 1;
            double l1 = now();
            if (cof_seg_get_notokens(s, dkey, rows, n, row_cb, NULL)) {
                fprintf(stderr, "get: %s\n", cof_err_msg());
                return 1;
            }
            double l2 = now();
            printf("lookup rank-%u recipient (%s): %zu rows, lookup %.3f ms, get+decrypt %.3f ms, "
                   "total %.3f ms\n", probe_ix, rep == 0 ? "cold decode, warm page cache" : "warm",
                   n, (l1 - l0) * 1e3, (l2 - l1) * 1e3, (l2 - l0) * 1e3);
        }
        if (got_sealed != n)
            printf("WARNING: sealed recipient missing in %zu rows\n", n - got_sealed);
        /* 200 recipients: cold pass, warm second pass, and each repeated at once */
        static double cold[NSET], warm[NSET], again[NSET];
        int k = 0;
        double nrows_sum = 0;
        cof_seg_close(s);
        if (cof_seg_open(path, &s))
            return 1;
        if (getenv("COF_BENCH_CACHE_MB"))
            cof_seg_set_cache(s, (size_t)strtoul(getenv("COF_BENCH_CACHE_MB"), NULL, 10) << 20);
        for (int i = 0; i < NSET; i++)
            if (have_set[i]) {
                if ((cold[k] = timed_lookup(s, set_tok[i], rows, 1 << 20, &n)) < 0)
                    return 1;
                nrows_sum += (double)n;
                if ((again[k] = timed_lookup(s, set_tok[i], rows, 1 << 20, &n)) < 0)
                    return 1;
                k++;
            }
        k = 0;
        for (int i = 0; i < NSET; i++)
            if (have_set[i] && (warm[k++] = timed_lookup(s, set_tok[i], rows, 1 << 20, &n)) < 0)
                return 1;
        printf("lookup + get_notokens(key) of %d recipients, cache %s MiB:\n", k,
               getenv("COF_BENCH_CACHE_MB") ? getenv("COF_BENCH_CACHE_MB") : "default");
        pct("cold (first touch of each)", cold, k, nrows_sum);
        pct("warm (same recipient again at once)", again, k, nrows_sum);
        pct("warm (second pass over all 200)", warm, k, nrows_sum);
    }
    double v0 = now();
    cof_status vs = cof_seg_verify(s, dkey);
    printf("verify with key: %s in %.2f s\n", cof_status_str(vs), now() - v0);
    cof_seg_close(s);
    unlink(path);
    free(a);
    return 0;
}
