/* gen_postfix.c - deterministic generator of realistic Postfix syslog traffic.
 *
 * Writes the log of a busy multi-host Postfix installation (interleaved queue ids,
 * SASL submission, TLS, header_checks warnings, NOQUEUE rejects, deferrals with a
 * retry pass, bounces with their non-delivery notifications, expiries, a second
 * "postfix-out" instance) and, with --truth, one TSV row per delivery event the
 * log encodes. See bench/README.md for the line formats and the truth columns.
 *
 * Determinism: every random choice comes from xoshiro256** seeded by splitmix64
 * from --seed; lines leave a time-ordered heap with an insertion sequence number
 * as tie-breaker. Equal arguments give identical bytes (same libm).
 *
 * Model (all times are microseconds since the epoch, UTC):
 *   1. Arrivals are Poisson with a diurnal rate.
 *   2. An arrival is planned whole: every line's time, every recipient's attempts
 *      and their outcomes. Rows are counted here, so --events N gives exactly N
 *      truth rows (the last few arrivals are forced to one row each).
 *   3. The lines of the first delivery pass go on the heap. A retry pass is put on
 *      the heap by one wake-up entry when its time comes (keeps the heap small),
 *      and a non-delivery notification is planned when its parent's bounce line
 *      is written.
 *   4. The heap is drained up to the next arrival; a line is written, and its truth
 *      row with it, when it leaves the heap, so both files are in time order.
 *
 * Invariant: nothing is pushed with a time earlier than the line being written,
 * so the output is sorted by time (ties keep push order, which follows the order
 * Postfix writes them in).
 *
 * The log lines and truth rows are written by gen/write.c; constants, the PRNG,
 * output buffering and the model's types are in gen/gen.h and gen/util.c.
 *
 * Only libc and libm. Names and domains are made of syllables under reserved names
 * (.example, .test, example.com/.net/.org, home.arpa); addresses come from the
 * documentation ranges 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "gen/gen.h"

/* ------------------------------------------------------------- time */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    z += 719468;
    const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = (unsigned)(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void tc_update(gen_t *g, int64_t t)
{
    int64_t sec = t / US_PER_SEC;
    if (sec == g->tc_sec)
        return;
    static const char *const MON[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    int64_t y;
    unsigned mo, d;
    civil_from_days(sec / 86400, &y, &mo, &d);
    unsigned sod = (unsigned)(sec % 86400);
    unsigned hh = sod / 3600, mi = sod / 60 % 60, ss = sod % 60;
    char *w = g->tc_classic;
    w = put_mem(w, MON[mo - 1], 3);
    *w++ = ' ';
    *w++ = d < 10 ? ' ' : (char)('0' + d / 10);
    *w++ = (char)('0' + d % 10);
    *w++ = ' ';
    w = put_u0(w, hh, 2);
    *w++ = ':';
    w = put_u0(w, mi, 2);
    *w++ = ':';
    w = put_u0(w, ss, 2);
    *w = 0;
    w = g->tc_iso;
    w = put_u0(w, (uint64_t)y, 4);
    *w++ = '-';
    w = put_u0(w, mo, 2);
    *w++ = '-';
    w = put_u0(w, d, 2);
    *w++ = 'T';
    w = put_mem(w, g->tc_classic + 7, 8);
    *w = 0;
    g->tc_sec = sec;
}

/* Syslog prefix: "<time> <host> <instance>/<service>[<pid>]: ". */
char *put_prefix(gen_t *g, char *w, int64_t t, const msg_t *m, const char *svc,
                 uint32_t pid)
{
    tc_update(g, t);
    if (g->rfc3339) {
        w = put_mem(w, g->tc_iso, 19);
        *w++ = '.';
        w = put_u0(w, (uint64_t)(t % US_PER_SEC), 6);
        w = PUT_LIT(w, "+00:00");
    } else {
        w = put_mem(w, g->tc_classic, 15);
    }
    *w++ = ' ';
    w = put_s(w, g->hosts[m->host].name);
    *w++ = ' ';
    w = m->inst ? PUT_LIT(w, "postfix-out/") : PUT_LIT(w, "postfix/");
    w = put_s(w, svc);
    *w++ = '[';
    w = put_u(w, pid);
    return PUT_LIT(w, "]: ");
}

/* Postfix prints delays with two significant digits and at most two decimals
 * ("0.41", "0.06", "3.3", "30", "1221"). Writes that text and returns the
 * milliseconds it denotes. */
int64_t put_delay(char **wp, int64_t us)
{
    char *w = *wp;
    int64_t ms;
    if (us < 0)
        us = 0;
    int64_t s = us / US_PER_SEC;
    if (s >= 10) {
        w = put_u(w, (uint64_t)s);
        ms = s * 1000;
    } else if (s >= 1) {
        int64_t tenth = us % US_PER_SEC / 100000;
        w = put_u(w, (uint64_t)s);
        if (tenth) {
            *w++ = '.';
            *w++ = (char)('0' + tenth);
        }
        ms = s * 1000 + tenth * 100;
    } else {
        int64_t cs = us / 10000;
        if (cs == 0) {
            *w++ = '0';
        } else {
            w = PUT_LIT(w, "0.");
            *w++ = (char)('0' + cs / 10);
            if (cs % 10)
                *w++ = (char)('0' + cs % 10);
        }
        ms = cs * 10;
    }
    *wp = w;
    return ms;
}

/* ------------------------------------------------------------- names */

static const char *const SYL[] = {
    "ka", "lo", "mi", "ren", "tas", "vo", "bel", "dri", "sa", "nor", "qui", "te",
    "lan", "mar", "es", "ul", "fen", "gra", "hol", "ix", "jo", "ker", "lum", "nys",
    "or", "pel", "ru", "sil", "tor", "ven", "wyn", "yar", "zel", "an", "bro", "cal",
    "dun", "el", "fi", "gor", "ha", "is", "ja", "kor", "li", "mo", "na", "ob",
    "pa", "ri", "so", "tu", "va", "we", "xa", "yo", "za", "ber", "cin", "dor",
};
#define N_SYL (sizeof(SYL) / sizeof(SYL[0]))

static char *put_word(char *w, rng_t *r, int nsyl)
{
    for (int i = 0; i < nsyl; i++)
        w = put_s(w, SYL[rng_below(r, N_SYL)]);
    return w;
}

static char *put_localpart(char *w, rng_t *r)
{
    char first[32], last[32];
    char *fe = put_word(first, r, 1 + (int)rng_below(r, 3));
    char *le = put_word(last, r, 2 + (int)rng_below(r, 2));
    double u = rng_unif(r);
    if (u < 0.40) {
        w = put_mem(w, first, (size_t)(fe - first));
        *w++ = '.';
        w = put_mem(w, last, (size_t)(le - last));
    } else if (u < 0.55) {
        w = put_mem(w, first, (size_t)(fe - first));
    } else if (u < 0.70) {
        *w++ = first[0];
        w = put_mem(w, last, (size_t)(le - last));
    } else if (u < 0.80) {
        w = put_mem(w, first, (size_t)(fe - first));
        *w++ = '.';
        w = put_mem(w, last, (size_t)(le - last));
        w = put_u(w, rng_below(r, 100));
    } else if (u < 0.90) {
        w = put_mem(w, first, (size_t)(fe - first));
        *w++ = '_';
        w = put_mem(w, last, (size_t)(le - last));
    } else {
        w = put_mem(w, first, (size_t)(fe - first));
        w = put_u(w, rng_range(r, 1, 9999));
    }
    return w;
}

static const char *const ROLES[] = { "info", "sales", "support", "contact", "office",
                                     "billing", "jobs", "team", "hello", "admin" };
#define N_ROLES 10

static uint32_t pool_add(gen_t *g, const char *s, size_t n)
{
    if (g->pool_len + n + 1 > g->pool_cap) {
        size_t cap = g->pool_cap ? g->pool_cap * 2 : (1u << 20);
        char *p = realloc(g->pool, cap);
        if (!p) {
            fprintf(stderr, "gen_postfix: out of memory\n");
            exit(1);
        }
        g->pool = p;
        g->pool_cap = cap;
    }
    uint32_t off = (uint32_t)g->pool_len;
    memcpy(g->pool + off, s, n);
    g->pool[off + n] = 0;
    g->pool_len += n + 1;
    return off;
}

static void *xcalloc(size_t n, size_t sz)
{
    void *p = calloc(n, sz);
    if (!p) {
        fprintf(stderr, "gen_postfix: out of memory\n");
        exit(1);
    }
    return p;
}

static void build_tables(gen_t *g)
{
    rng_t r;
    rng_seed(&r, g->seed ^ 0x5eed7ab1e5ULL);
    char buf[256];

    g->tenants = xcalloc(g->ntenants, sizeof(tenant_t));
    for (uint32_t i = 0; i < g->ntenants; i++) {
        tenant_t *t = &g->tenants[i];
        char *w = put_word(t->name, &r, 2 + (int)rng_below(&r, 2));
        if (rng_chance(&r, 0.2)) {
            *w++ = '-';
            w = put_word(w, &r, 2);
        }
        w = PUT_LIT(w, ".example.net");
        *w = 0;
        double u = rng_unif(&r);
        t->agent = u < 0.5 ? AG_VIRTUAL : u < 0.85 ? AG_LMTP : AG_LOCAL;
        t->store = (uint8_t)rng_below(&r, 4);
    }

    static const char *const SUFFIX[] = { ".test", ".test", ".example", ".example.com", ".example.org" };
    static const char *const MXPRE[] = { "mx1.", "mx.", "mail.", "in1.smtp.", "mx2." };
    static const char *const OUTPRE[] = { "mail.", "mail-out.", "smtp1.", "out.", "o1.mta." };
    g->extdoms = xcalloc(N_EXT_DOMAINS, sizeof(extdom_t));
    for (uint32_t i = 0; i < N_EXT_DOMAINS; i++) {
        extdom_t *d = &g->extdoms[i];
        char *w = put_word(d->name, &r, 2 + (int)rng_below(&r, 2));
        if (rng_chance(&r, 0.15)) {
            *w++ = '-';
            w = put_word(w, &r, 2);
        }
        w = put_s(w, SUFFIX[rng_below(&r, 5)]);
        *w = 0;
        w = put_s(d->mx, MXPRE[rng_below(&r, 5)]);
        w = put_s(w, d->name);
        *w = 0;
        w = put_ip(d->mx_ip, rng_next(&r));
        *w = 0;
        if (rng_chance(&r, 0.1)) {
            w = PUT_LIT(d->out_host, "unknown");
        } else {
            w = put_s(d->out_host, OUTPRE[rng_below(&r, 5)]);
            w = put_s(w, d->name);
        }
        *w = 0;
        w = put_ip(d->out_ip, rng_next(&r));
        *w = 0;
        d->msgid_style = (uint8_t)rng_below(&r, 4);
        {
            double v = rng_unif(&r); /* Postfix, Exim, Exchange, other */
            d->ok_style = v < 0.45 ? 0 : v < 0.7 ? 1 : v < 0.8 ? 2 : 3;
        }
    }

    zipf_init(&g->z_tenant, g->ntenants, 0.9);
    zipf_init(&g->z_extdom, N_EXT_DOMAINS, 1.0);

    g->local_users = xcalloc(N_LOCAL_USERS, sizeof(addr_t));
    for (uint32_t i = 0; i < N_LOCAL_USERS; i++) {
        addr_t *a = &g->local_users[i];
        char *w = buf;
        if (rng_chance(&r, 0.03))
            w = put_s(w, ROLES[rng_below(&r, N_ROLES)]);
        else
            w = put_localpart(w, &r);
        a->lp_len = (uint16_t)(w - buf);
        a->dom = zipf_draw(&g->z_tenant, &r);
        *w++ = '@';
        w = put_s(w, g->tenants[a->dom].name);
        a->len = (uint16_t)(w - buf);
        a->off = pool_add(g, buf, a->len);
    }
    g->ext_addrs = xcalloc(N_EXT_ADDRS, sizeof(addr_t));
    for (uint32_t i = 0; i < N_EXT_ADDRS; i++) {
        addr_t *a = &g->ext_addrs[i];
        char *w = buf;
        if (rng_chance(&r, 0.06))
            w = put_s(w, ROLES[rng_below(&r, N_ROLES)]);
        else
            w = put_localpart(w, &r);
        a->lp_len = (uint16_t)(w - buf);
        a->dom = zipf_draw(&g->z_extdom, &r);
        *w++ = '@';
        w = put_s(w, g->extdoms[a->dom].name);
        a->len = (uint16_t)(w - buf);
        a->off = pool_add(g, buf, a->len);
    }
    zipf_init(&g->z_local, N_LOCAL_USERS, 0.8);
    zipf_init(&g->z_ext, N_EXT_ADDRS, 0.8);

    for (uint32_t h = 0; h < g->nhosts; h++) {
        host_t *hp = &g->hosts[h];
        char *w = PUT_LIT(hp->name, "mx");
        w = put_u(w, h + 1);
        *w = 0;
        w = put_s(hp->fqdn, hp->name);
        w = PUT_LIT(w, ".mail.example.net");
        *w = 0;
        hp->long_ids = g->nhosts > 1 && h == g->nhosts - 1;
        hp->pid_next = (uint32_t)rng_range(&r, 2000, 60000);
        hp->inode = (uint32_t)rng_range(&r, INODE_MIN, 0x7FFFF);
        for (int i = 0; i < 2; i++) {
            hp->qmgr_pid[i] = (uint32_t)rng_range(&r, 800, 1900);
            for (int k = 0; k < 6; k++)
                hp->cleanup_pid[i][k] = (uint32_t)rng_range(&r, 2000, 90000);
            for (int k = 0; k < 2; k++)
                hp->bounce_pid[i][k] = (uint32_t)rng_range(&r, 2000, 90000);
        }
        for (int a = 0; a < 4; a++)
            for (int k = 0; k < 4; k++)
                hp->agent_pid[a][k] = (uint32_t)rng_range(&r, 2000, 90000);
    }
}

static char *put_addr(char *w, const gen_t *g, const addr_t *a)
{
    return put_mem(w, g->pool + a->off, a->len);
}

/* ---------------------------------------------------------- messages */

msg_t *MSG(gen_t *g, uint32_t i)
{
    return &g->chunks[i / MSG_CHUNK][i % MSG_CHUNK];
}

static uint32_t msg_alloc(gen_t *g)
{
    uint32_t i;
    if (g->free_head != NO_FREE) {
        i = g->free_head;
        g->free_head = MSG(g, i)->next_free;
    } else {
        if (g->nmsgs == g->nchunks * MSG_CHUNK) {
            msg_t **c = realloc(g->chunks, sizeof(*c) * (g->nchunks + 1));
            if (!c) {
                fprintf(stderr, "gen_postfix: out of memory\n");
                exit(1);
            }
            g->chunks = c;
            g->chunks[g->nchunks++] = xcalloc(MSG_CHUNK, sizeof(msg_t));
        }
        i = g->nmsgs++;
    }
    msg_t *m = MSG(g, i);
    memset(m, 0, sizeof(*m));
    return i;
}

static void msg_free(gen_t *g, uint32_t i)
{
    MSG(g, i)->next_free = g->free_head;
    g->free_head = i;
}

static inline int hless(const hent_t *a, const hent_t *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static void push(gen_t *g, int64_t t, uint32_t mi, uint8_t ev, uint8_t arg)
{
    if (t < g->now)
        t = g->now; /* keeps the output sorted; planning never asks for this */
    if (g->hn == g->hcap) {
        size_t cap = g->hcap ? g->hcap * 2 : 4096;
        hent_t *h = realloc(g->heap, cap * sizeof(*h));
        if (!h) {
            fprintf(stderr, "gen_postfix: out of memory\n");
            exit(1);
        }
        g->heap = h;
        g->hcap = cap;
    }
    hent_t e = { t, g->seq++, mi, ev, arg };
    size_t i = g->hn++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!hless(&e, &g->heap[p]))
            break;
        g->heap[i] = g->heap[p];
        i = p;
    }
    g->heap[i] = e;
    MSG(g, mi)->refs++;
}

static hent_t pop(gen_t *g)
{
    hent_t top = g->heap[0];
    hent_t last = g->heap[--g->hn];
    size_t i = 0, n = g->hn;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && hless(&g->heap[c + 1], &g->heap[c]))
            c++;
        if (!hless(&g->heap[c], &last))
            break;
        g->heap[i] = g->heap[c];
        i = c;
    }
    if (n)
        g->heap[i] = last;
    return top;
}

static uint32_t new_pid(gen_t *g, host_t *h)
{
    h->pid_next += 1 + (uint32_t)rng_below(&g->rng, 6);
    if (h->pid_next > PID_MAX)
        h->pid_next = PID_MIN + (uint32_t)rng_below(&g->rng, 1000);
    return h->pid_next;
}

/* Postfix queue id for a file created at time t: short ids are the microseconds
 * (5 hex digits) then the inode number in hex; long ids (enable_long_queue_ids)
 * are seconds and microseconds in base 51, 'z', then the inode in base 51. */
static void make_qid(gen_t *g, host_t *h, int64_t t, char *out)
{
    h->inode += 1 + (uint32_t)rng_below(&g->rng, 3);
    if (h->inode > INODE_MAX)
        h->inode = INODE_MIN + (uint32_t)rng_below(&g->rng, 4096);
    uint64_t usec = (uint64_t)(t % US_PER_SEC), sec = (uint64_t)(t / US_PER_SEC);
    char *w = out;
    if (!h->long_ids) {
        w = put_hex0(w, usec, 5, 1);
        w = put_hex(w, h->inode, 1);
    } else {
        char tmp[16];
        int n = 0;
        do {
            tmp[n++] = B51[sec % 51];
            sec /= 51;
        } while (sec);
        while (n)
            *w++ = tmp[--n];
        for (int i = 3; i >= 0; i--) {
            w[i] = B51[usec % 51];
            usec /= 51;
        }
        w += 4;
        *w++ = 'z';
        uint32_t ino = h->inode;
        n = 0;
        do {
            tmp[n++] = B51[ino % 51];
            ino /= 51;
        } while (ino);
        while (n)
            *w++ = tmp[--n];
    }
    *w = 0;
}

/* Message-ID in the style of the sending software. */
static void make_msgid(gen_t *g, msg_t *m, int style, const char *domain, int64_t t)
{
    uint64_t a = rng_next(&g->rng), b = rng_next(&g->rng);
    char *w = m->msgid;
    *w++ = '<';
    switch (style) {
    case 0: { /* Postfix: YYYYMMDDHHMMSS.QID@myhostname */
        tc_update(g, t);
        const char *iso = g->tc_iso;
        w = put_mem(w, iso, 4);
        w = put_mem(w, iso + 5, 2);
        w = put_mem(w, iso + 8, 2);
        w = put_mem(w, iso + 11, 2);
        w = put_mem(w, iso + 14, 2);
        w = put_mem(w, iso + 17, 2);
        *w++ = '.';
        w = put_s(w, m->qid);
        *w++ = '@';
        w = put_s(w, g->hosts[m->host].fqdn);
        break;
    }
    case 1: /* webmail style */
        w = PUT_LIT(w, "CA");
        *w++ = "FGHJKLMN+"[a % 9];
        a /= 9;
        w = put_token(w, a, B62, 62, 20);
        *w++ = '=';
        w = put_token(w, b, B62, 62, 18);
        w = PUT_LIT(w, "@mail.example.com");
        break;
    case 2: /* UUID */
        w = put_hex0(w, a >> 32, 8, 0);
        *w++ = '-';
        w = put_hex0(w, (a >> 16) & 0xffff, 4, 0);
        *w++ = '-';
        w = put_hex0(w, 0x4000 | (a & 0xfff), 4, 0);
        *w++ = '-';
        w = put_hex0(w, 0x8000 | (b >> 50), 4, 0);
        *w++ = '-';
        w = put_hex0(w, b & 0xffffffffffffULL, 12, 0);
        *w++ = '@';
        w = put_s(w, domain);
        break;
    default: /* mailer: time.counter.random@domain */
        w = put_u(w, (uint64_t)(t / US_PER_SEC));
        *w++ = '.';
        w = put_u(w, a % 1000000);
        *w++ = '.';
        w = put_hex(w, b, 0);
        w = PUT_LIT(w, "@mailer.");
        w = put_s(w, domain);
        break;
    }
    *w++ = '>';
    *w = 0;
}

static void make_subject(gen_t *g, msg_t *m)
{
    rng_t *r = &g->rng;
    char *w = m->subject;
    char word[32];
    char *we = put_word(word, r, 2 + (int)rng_below(r, 2));
    word[0] = (char)(word[0] - 'a' + 'A');
    size_t wl = (size_t)(we - word);
    switch (rng_below(r, 8)) {
    case 0:
        w = PUT_LIT(w, "Invoice ");
        w = put_u(w, (uint64_t)rng_range(r, 1000, 99999));
        w = PUT_LIT(w, " for ");
        w = put_mem(w, word, wl);
        break;
    case 1:
        w = PUT_LIT(w, "Re: ");
        w = put_mem(w, word, wl);
        w = PUT_LIT(w, " meeting notes");
        break;
    case 2:
        w = PUT_LIT(w, "Your order #");
        w = put_u(w, (uint64_t)rng_range(r, 100000, 9999999));
        w = PUT_LIT(w, " has shipped");
        break;
    case 3:
        w = PUT_LIT(w, "Weekly ");
        w = put_mem(w, word, wl);
        w = PUT_LIT(w, " report");
        break;
    case 4:
        w = PUT_LIT(w, "Fwd: ");
        w = put_mem(w, word, wl);
        w = PUT_LIT(w, " contract draft v");
        w = put_u(w, (uint64_t)rng_range(r, 2, 9));
        break;
    case 5:
        w = PUT_LIT(w, "Password reset request");
        break;
    case 6:
        w = PUT_LIT(w, "Welcome to ");
        w = put_mem(w, word, wl);
        break;
    default:
        w = PUT_LIT(w, "Invitation: ");
        w = put_mem(w, word, wl);
        w = PUT_LIT(w, " review @ Tue 10:00");
        break;
    }
    *w = 0;
}

static void copy_addr(char *dst, const gen_t *g, const addr_t *a)
{
    char *w = put_addr(dst, g, a);
    *w = 0;
}

static int rcpt_taken(const msg_t *m, int n, const char *addr)
{
    for (int i = 0; i < n; i++)
        if (strcmp(m->r[i].addr, addr) == 0)
            return 1;
    return 0;
}

static void pick_local_rcpt(gen_t *g, msg_t *m, int i, int allow_orig)
{
    rcpt_t *r = &m->r[i];
    const addr_t *a;
    int tries = 0;
    do {
        a = &g->local_users[zipf_draw(&g->z_local, &g->rng)];
        copy_addr(r->addr, g, a);
    } while (rcpt_taken(m, i, r->addr) && ++tries < 8);
    r->dom = a->dom;
    r->agent = g->tenants[a->dom].agent;
    if (allow_orig && rng_chance(&g->rng, P_ORIG_TO)) {
        char *w = put_s(r->orig, ROLES[rng_below(&g->rng, N_ROLES)]);
        *w++ = '@';
        w = put_s(w, g->tenants[a->dom].name);
        *w = 0;
    }
}

static void pick_ext_rcpt(gen_t *g, msg_t *m, int i)
{
    rcpt_t *r = &m->r[i];
    const addr_t *a;
    int tries = 0;
    do {
        a = &g->ext_addrs[zipf_draw(&g->z_ext, &g->rng)];
        copy_addr(r->addr, g, a);
    } while (rcpt_taken(m, i, r->addr) && ++tries < 8);
    r->dom = a->dom;
    r->agent = AG_SMTP;
}

/* Plan one attempt starting when the queue manager picks the message up at
 * t_pick; `a` is the time already spent before the queue manager (delays a),
 * `wait` extra queue time counted in delays b (retry passes). */
static void plan_attempt(gen_t *g, const msg_t *m, rcpt_t *r, attempt_t *at, int64_t t_pick,
                         int64_t a, int64_t wait, int status, int resp)
{
    rng_t *rg = &g->rng;
    int64_t b = rng_range(rg, 0, 30 * MS), c, d;
    at->status = (uint8_t)status;
    at->resp = (uint8_t)resp;
    at->nonce = rng_next(rg);
    if (r->agent == AG_SMTP) {
        at->pid = new_pid(g, &g->hosts[m->host]);
        if (resp == RS_TIMEOUT) {
            c = 30 * US_PER_SEC + rng_range(rg, 0, 20 * MS);
            d = 0;
        } else if (resp == RS_REFUSED) {
            c = rng_range(rg, 5 * MS, 300 * MS);
            d = 0;
        } else {
            c = rng_range(rg, 60 * MS, 1500 * MS);
            d = rng_range(rg, 30 * MS, 600 * MS);
            if (status == ST_SENT || resp == RS_SPAM)
                d += (int64_t)m->size / (int64_t)rng_range(rg, 2, 12);
            if (rng_chance(rg, P_TLS_OUT)) {
                at->tls = (uint8_t)(1 + rng_below(rg, N_SUITES));
                at->trust = (uint8_t)rng_below(rg, 3);
            }
        }
    } else {
        at->pid = g->hosts[m->host].agent_pid[r->agent][rng_below(rg, 4)];
        c = r->agent == AG_LMTP ? rng_range(rg, 1 * MS, 8 * MS) : 0;
        d = rng_range(rg, 3 * MS, 60 * MS) + (int64_t)m->size / 50;
    }
    at->d[0] = a;
    at->d[1] = b + wait;
    at->d[2] = c;
    at->d[3] = d;
    at->t = t_pick + b + c + d;
}

/* Plans both passes of a queued message and pushes the first. Returns its rows. */
static uint64_t plan_delivery(gen_t *g, uint32_t mi, int simple)
{
    msg_t *m = MSG(g, mi);
    rng_t *rg = &g->rng;
    uint64_t rows = 0;
    int pending = 0;
    int64_t t_end = m->t_active;
    int64_t a = m->t_active - m->t_client;

    push(g, m->t_active, mi, E_ACTIVE, 0);
    for (int i = 0; i < m->nrcpt; i++) {
        rcpt_t *r = &m->r[i];
        int status = ST_SENT, resp = RS_OK;
        if (r->agent == AG_SMTP && r->dom != DOM_INTERNAL && !simple) {
            double u = rng_unif(rg);
            if (u < P_DEFER) {
                status = ST_DEFERRED;
                double v = rng_unif(rg);
                resp = v < 0.5 ? RS_TIMEOUT : v < 0.6 ? RS_REFUSED : RS_TRY_LATER;
                pending++;
            } else if (u < P_DEFER + P_BOUNCE) {
                status = ST_BOUNCED;
                double v = rng_unif(rg);
                resp = v < 0.6 ? RS_UNKNOWN : v < 0.8 ? RS_FULL : RS_SPAM;
                m->bounce_pass[0] = 1;
            }
        }
        attempt_t *at = &r->att[0];
        plan_attempt(g, m, r, at, m->t_active, a, 0, status, resp);
        r->natt = 1;
        rows++;
        if (at->tls)
            push(g, at->t - at->d[3] - rng_range(rg, 1 * MS, 20 * MS), mi, E_TLS_OUT,
                 (uint8_t)i);
        push(g, at->t, mi, E_DELIVER, (uint8_t)i);
        if (at->t > t_end)
            t_end = at->t;
    }
    int64_t t_after = t_end + rng_range(rg, 1 * MS, 15 * MS);
    if (m->bounce_pass[0]) {
        push(g, t_after, mi, E_BOUNCE, 0);
        t_after += rng_range(rg, 2 * MS, 20 * MS);
        rows++;
    }
    if (!pending) {
        push(g, t_after, mi, E_REMOVED, 0);
        return rows;
    }

    /* Retry pass, all pending recipients together. */
    m->expire = rng_chance(rg, P_EXPIRE);
    m->t_retry = t_end + (m->expire ? rng_range(rg, 2 * 3600 * US_PER_SEC, 6 * 3600 * US_PER_SEC)
                                    : rng_range(rg, 300 * US_PER_SEC, 4000 * US_PER_SEC));
    for (int i = 0; i < m->nrcpt; i++) {
        rcpt_t *r = &m->r[i];
        if (r->att[0].status != ST_DEFERRED)
            continue;
        attempt_t *at = &r->att[1];
        if (m->expire) {
            memset(at, 0, sizeof(*at));
            at->status = ST_EXPIRED;
            at->t = m->t_retry;
        } else {
            int bounce = rng_chance(rg, P_RETRY_BOUNCE);
            plan_attempt(g, m, r, at, m->t_retry, a, m->t_retry - m->t_active,
                         bounce ? ST_BOUNCED : ST_SENT,
                         bounce ? (rng_chance(rg, 0.7) ? RS_UNKNOWN : RS_FULL) : RS_OK);
        }
        if (at->status != ST_SENT)
            m->bounce_pass[1] = 1;
        r->natt = 2;
        rows++;
    }
    if (m->bounce_pass[1])
        rows++;
    push(g, m->t_retry, mi, E_PASS2, 0);
    return rows;
}

void pass2_push(gen_t *g, uint32_t mi)
{
    msg_t *m = MSG(g, mi);
    rng_t *rg = &g->rng;
    int64_t t_end = m->t_retry;
    if (m->expire) {
        push(g, m->t_retry, mi, E_EXPIRED, 0);
    } else {
        push(g, m->t_retry, mi, E_ACTIVE, 1);
        for (int i = 0; i < m->nrcpt; i++) {
            rcpt_t *r = &m->r[i];
            if (r->natt < 2)
                continue;
            attempt_t *at = &r->att[1];
            if (at->tls)
                push(g, at->t - at->d[3] - rng_range(rg, 1 * MS, 20 * MS), mi, E_TLS_OUT,
                     (uint8_t)(i | 0x10));
            push(g, at->t, mi, E_DELIVER, (uint8_t)(i | 0x10));
            if (at->t > t_end)
                t_end = at->t;
        }
    }
    int64_t t_after = t_end + rng_range(rg, 1 * MS, 15 * MS);
    if (m->bounce_pass[1]) {
        push(g, t_after, mi, E_BOUNCE, 1);
        t_after += rng_range(rg, 2 * MS, 20 * MS);
    }
    push(g, t_after, mi, E_REMOVED, 0);
}

static uint64_t msg_size(rng_t *r)
{
    double s = exp(8.9 + 1.25 * rng_gauss(r));
    if (s < 600)
        s = 600;
    if (s > 30e6)
        s = 30e6;
    return (uint64_t)s;
}

static int pick_nrcpt(rng_t *r)
{
    double u = rng_unif(r);
    return u < 0.36 ? 1 : u < 0.64 ? 2 : 3;
}

/* An SMTP session: inbound from a remote MTA, SASL submission or app relay. It
 * carries one message or, for batching clients, several in a row; the first
 * message writes connect (and TLS), the last one the disconnect with the
 * session's command counts. */
static void plan_session(gen_t *g, int64_t t0, int kind, int simple)
{
    rng_t *rg = &g->rng;
    msg_t tpl;
    memset(&tpl, 0, sizeof(tpl));
    tpl.kind = (uint8_t)kind;
    tpl.host = (uint8_t)rng_below(rg, g->nhosts);
    host_t *h = &g->hosts[tpl.host];
    int msgid_style = 0, nmsg = 1;
    const char *msgid_dom = "";
    const addr_t *s;
    char *w;

    if (kind == K_INBOUND) {
        s = &g->ext_addrs[zipf_draw(&g->z_ext, rg)];
        const extdom_t *d = &g->extdoms[s->dom];
        copy_addr(tpl.sender, g, s);
        w = put_s(tpl.client_host, d->out_host);
        *w = 0;
        w = put_s(tpl.client_ip, d->out_ip);
        *w = 0;
        if (strcmp(d->out_host, "unknown") == 0) {
            w = PUT_LIT(tpl.helo, "mail.");
            w = put_s(w, d->name);
        } else {
            w = put_s(tpl.helo, d->out_host);
        }
        *w = 0;
        tpl.tls_in = rng_chance(rg, P_TLS_IN) ? (uint8_t)(1 + rng_below(rg, N_SUITES)) : 0;
        msgid_style = d->msgid_style ? d->msgid_style : 1;
        msgid_dom = d->name;
        if (rng_chance(rg, 0.4))
            nmsg = 2 + (int)rng_below(rg, 3);
    } else {
        s = &g->local_users[zipf_draw(&g->z_local, rg)];
        tpl.sender_tenant = s->dom;
        uint64_t hu = mix64((uint64_t)(s - g->local_users) ^ g->seed);
        if (kind == K_SUBMIT) {
            copy_addr(tpl.sender, g, s);
            if (rng_chance(rg, 0.3)) {
                w = put_mem(tpl.sasl, g->pool + s->off, s->lp_len);
                *w = 0;
            } else {
                memcpy(tpl.sasl, tpl.sender, sizeof(tpl.sasl));
            }
            if (hu % 2) {
                w = PUT_LIT(tpl.client_host, "unknown");
            } else {
                w = PUT_LIT(tpl.client_host, "host-");
                w = put_hex(w, hu >> 40, 0);
                w = PUT_LIT(w, ".dsl.example.org");
            }
            *w = 0;
            /* Mostly the user's usual address, sometimes on the road. */
            w = put_ip(tpl.client_ip, rng_chance(rg, 0.8) ? hu : rng_next(rg));
            *w = 0;
            w = put_mem(tpl.helo, g->pool + s->off, s->lp_len < 20 ? s->lp_len : 20);
            w = PUT_LIT(w, "-pc.home.arpa");
            *w = 0;
            tpl.tls_in = (uint8_t)(1 + rng_below(rg, N_SUITES));
            msgid_style = rng_chance(rg, 0.2) ? 0 : rng_chance(rg, 0.5) ? 1 : 2;
            if (rng_chance(rg, 0.15))
                nmsg = 2;
        } else {
            const tenant_t *t = &g->tenants[s->dom];
            if (rng_chance(rg, 0.4)) {
                w = PUT_LIT(tpl.sender, "noreply@");
                w = put_s(w, t->name);
                *w = 0;
            } else {
                copy_addr(tpl.sender, g, s);
            }
            uint64_t app = hu % 8;
            w = PUT_LIT(tpl.client_host, "app");
            w = put_u(w, app + 1);
            *w++ = '.';
            w = put_s(w, t->name);
            *w = 0;
            w = PUT_LIT(tpl.client_ip, "192.0.2.");
            w = put_u(w, 10 + (hu >> 8) % 200);
            *w = 0;
            memcpy(tpl.helo, tpl.client_host, sizeof(tpl.helo));
            tpl.inst = rng_chance(rg, P_OUT_INSTANCE);
            tpl.tls_in = rng_chance(rg, P_TLS_RELAY) ? (uint8_t)(1 + rng_below(rg, N_SUITES)) : 0;
            msgid_style = 2 + (int)(hu % 2);
            nmsg = 1 + (int)rng_below(rg, 8);
        }
        msgid_dom = g->tenants[s->dom].name;
    }
    if (simple)
        nmsg = 1;
    tpl.smtpd_pid = new_pid(g, h);
    tpl.sess_msgs = (uint8_t)nmsg;

    /* Session timeline: connect, TLS, then the messages back to back. */
    int64_t t = t0 + rng_range(rg, 150 * MS, 1200 * MS) + (tpl.sasl[0] ? 250 * MS : 0);
    unsigned sess_rcpts = 0;
    uint32_t mi = 0;
    for (int j = 0; j < nmsg; j++) {
        mi = msg_alloc(g);
        msg_t *m = MSG(g, mi);
        *m = tpl;
        m->nrcpt = (uint8_t)(simple ? 1 : pick_nrcpt(rg));
        m->size = msg_size(rg);
        if (kind == K_INBOUND) {
            for (int i = 0; i < m->nrcpt; i++)
                pick_local_rcpt(g, m, i, !simple);
        } else {
            for (int i = 0; i < m->nrcpt; i++) {
                if (kind == K_SUBMIT && !simple && rng_chance(rg, P_SUBMIT_LOCAL))
                    pick_local_rcpt(g, m, i, 0);
                else
                    pick_ext_rcpt(g, m, i);
            }
        }
        sess_rcpts += m->nrcpt;
        m->cleanup_pid = h->cleanup_pid[m->inst][rng_below(rg, 6)];
        m->t_client = t;
        int64_t t_msgid = m->t_client + rng_range(rg, 20 * MS, 400 * MS);
        int64_t t_queued = t_msgid + (int64_t)m->size / (int64_t)rng_range(rg, 2, 20) +
                           rng_range(rg, 1 * MS, 30 * MS);
        m->t_active = t_queued + rng_range(rg, 1 * MS, 40 * MS);
        make_qid(g, h, m->t_client, m->qid);
        make_msgid(g, m, msgid_style, msgid_dom, m->t_client);
        int warn = !simple && rng_chance(rg, P_SUBJECT);
        if (warn)
            make_subject(g, m);
        if (j == 0) {
            push(g, t0, mi, E_CONNECT, 0);
            if (m->tls_in)
                push(g, t0 + rng_range(rg, 15 * MS, 120 * MS), mi, E_TLS_IN, 0);
        }
        push(g, m->t_client, mi, E_CLIENT, 0);
        push(g, t_msgid, mi, E_MSGID, 0);
        if (warn)
            push(g, t_msgid + rng_range(rg, 0, 2 * MS), mi, E_WARN, 0);
        g->rows_planned += plan_delivery(g, mi, simple);
        g->n_messages++;
        t = t_queued + rng_range(rg, 5 * MS, 120 * MS);
    }
    msg_t *last = MSG(g, mi);
    last->sess_rcpts = (uint16_t)sess_rcpts;
    push(g, t + rng_range(rg, 1 * MS, 200 * MS), mi, E_DISCONNECT, 0);
    g->n_connections++;
}

/* Non-delivery notification for parent's pass `pass`, created at time t. The
 * bounce line naming it is written by the caller right after. */
void plan_ndr(gen_t *g, uint32_t pi, int64_t t)
{
    uint32_t mi = msg_alloc(g);
    msg_t *m = MSG(g, mi), *p = MSG(g, pi);
    rng_t *rg = &g->rng;
    m->kind = K_NDR;
    m->host = p->host;
    m->inst = p->inst;
    m->nrcpt = 1;
    m->size = (uint64_t)rng_range(rg, 2400, 7000);
    host_t *h = &g->hosts[m->host];
    m->cleanup_pid = h->cleanup_pid[m->inst][rng_below(rg, 6)];
    m->t_client = t - rng_range(rg, 100, 900);
    make_qid(g, h, m->t_client, m->qid);
    memcpy(p->ndr_qid, m->qid, sizeof(m->qid));
    make_msgid(g, m, 0, "", m->t_client);
    rcpt_t *r = &m->r[0];
    memcpy(r->addr, p->sender, sizeof(r->addr));
    if (m->inst) {
        r->agent = AG_SMTP;
        r->dom = DOM_INTERNAL;
    } else {
        r->agent = g->tenants[p->sender_tenant].agent;
        r->dom = p->sender_tenant;
    }
    m->t_active = t + rng_range(rg, 1 * MS, 4 * MS);
    push(g, m->t_client, mi, E_MSGID, 0);
    (void)plan_delivery(g, mi, 1);
    g->n_messages++;
}

static void plan_reject(gen_t *g, int64_t t0)
{
    uint32_t mi = msg_alloc(g);
    msg_t *m = MSG(g, mi);
    rng_t *rg = &g->rng;
    m->kind = K_REJECT;
    m->host = (uint8_t)rng_below(rg, g->nhosts);
    host_t *h = &g->hosts[m->host];
    m->smtpd_pid = new_pid(g, h);
    char *w = PUT_LIT(m->client_host, "unknown");
    *w = 0;
    w = put_ip(m->client_ip, rng_next(rg));
    *w = 0;
    if (rng_chance(rg, 0.5)) {
        w = put_word(m->helo, rg, 3);
        w = PUT_LIT(w, ".example");
    } else {
        *m->helo = '[';
        w = put_s(m->helo + 1, m->client_ip);
        *w++ = ']';
    }
    *w = 0;
    copy_addr(m->sender, g, &g->ext_addrs[rng_below(rg, N_EXT_ADDRS)]);
    m->nrcpt = 1;
    rcpt_t *r = &m->r[0];
    if (rng_chance(rg, 0.6)) {
        m->reject_kind = 0; /* relay attempt */
        copy_addr(r->addr, g, &g->ext_addrs[rng_below(rg, N_EXT_ADDRS)]);
    } else {
        m->reject_kind = 1; /* unknown hosted user */
        w = put_localpart(r->addr, rg);
        w = put_u(w, rng_below(rg, 1000));
        *w++ = '@';
        w = put_s(w, g->tenants[zipf_draw(&g->z_tenant, rg)].name);
        *w = 0;
    }
    m->tls_in = rng_chance(rg, 0.25) ? (uint8_t)(1 + rng_below(rg, N_SUITES)) : 0;
    int64_t t_rej = t0 + rng_range(rg, 200 * MS, 2000 * MS);
    push(g, t0, mi, E_CONNECT, 0);
    if (m->tls_in)
        push(g, t0 + rng_range(rg, 15 * MS, 120 * MS), mi, E_TLS_IN, 0);
    push(g, t_rej, mi, E_REJECT, 0);
    push(g, t_rej + rng_range(rg, 5 * MS, 500 * MS), mi, E_DISCONNECT, 0);
    g->rows_planned++;
    g->n_connections++;
}

static void plan_arrival(gen_t *g, int64_t t0)
{
    rng_t *rg = &g->rng;
    double u = rng_unif(rg);
    /* Near the end only one-row arrivals, so the row count lands exactly. */
    if (g->target - g->rows_planned < 16) {
        if (u < 0.5)
            plan_reject(g, t0);
        else
            plan_session(g, t0, K_INBOUND, 1);
        return;
    }
    if (u < P_REJECT)
        plan_reject(g, t0);
    else if (u < P_REJECT + P_INBOUND)
        plan_session(g, t0, K_INBOUND, 0);
    else if (u < P_REJECT + P_INBOUND + P_SUBMIT)
        plan_session(g, t0, K_SUBMIT, 0);
    else
        plan_session(g, t0, K_RELAY, 0);
}

/* ------------------------------------------------------------ driver */

static const char TRUTH_HEADER[] =
    "time_iso\thost\tinstance\tqueue_id\tmessage_id\tclient_host\tclient_ip\t"
    "sasl_username\tsender\trecipient\torig_recipient\trelay_host\trelay_ip\t"
    "relay_port\tstatus\tdsn\tdelay_ms\tsize\tnrcpt\tresponse\tsubject\ttls\n";

/* Mean gap between arrivals at time t: the rate swings +-50% over the day,
 * peaking at 14:00 UTC. */
static double mean_gap_us(const gen_t *g, int64_t t)
{
    double sod = (double)(t / US_PER_SEC % 86400);
    double mult = 1.0 + 0.5 * cos(6.283185307179586 * (sod - 14 * 3600.0) / 86400.0);
    return 1e6 / (g->rate * mult);
}

static void run(gen_t *g)
{
    int64_t next = g->start_us;
    for (;;) {
        int more = g->rows_planned < g->target;
        if (more && (g->hn == 0 || next < g->heap[0].t)) {
            g->now = next;
            plan_arrival(g, next);
            double gap = -mean_gap_us(g, next) * log(1.0 - rng_unif(&g->rng));
            next += 1 + (int64_t)gap;
            continue;
        }
        if (g->hn == 0)
            break;
        hent_t e = pop(g);
        g->now = e.t;
        write_event(g, &e);
        msg_t *m = MSG(g, e.m);
        if (--m->refs == 0)
            msg_free(g, e.m);
    }
}

static void usage(void)
{
    fprintf(stderr,
            "usage: gen_postfix --events N [--seed S] [--start 2026-11-01T00:00:00Z]\n"
            "                   [--format classic|rfc3339] [--hosts H] [--tenants T]\n"
            "                   [--rate SESSIONS_PER_SEC] [--truth FILE] [--out FILE|-]\n");
    exit(2);
}

static uint64_t parse_u64(const char *opt, const char *s, uint64_t lo, uint64_t hi)
{
    char *end;
    errno = 0;
    if (!s || !*s || *s == '-')
        goto bad;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        goto bad;
    return v;
bad:
    fprintf(stderr, "gen_postfix: %s wants an integer in [%llu, %llu]\n", opt,
            (unsigned long long)lo, (unsigned long long)hi);
    exit(2);
}

static int digits(const char *s, int n, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    *out = v;
    return 0;
}

/* "YYYY-MM-DDTHH:MM:SSZ" -> microseconds since the epoch. */
static int64_t parse_start(const char *s)
{
    unsigned y, mo, d, hh, mi, ss;
    if (strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[19] != 'Z' || digits(s, 4, &y) || digits(s + 5, 2, &mo) ||
        digits(s + 8, 2, &d) || digits(s + 11, 2, &hh) || digits(s + 14, 2, &mi) ||
        digits(s + 17, 2, &ss) || y < 1970 || y > 9000 || mo < 1 || mo > 12 || d < 1 ||
        d > 31 || hh > 23 || mi > 59 || ss > 59) {
        fprintf(stderr, "gen_postfix: --start wants YYYY-MM-DDTHH:MM:SSZ\n");
        exit(2);
    }
    int64_t days = days_from_civil(y, mo, d);
    return ((days * 86400) + hh * 3600 + mi * 60 + ss) * US_PER_SEC;
}

int main(int argc, char **argv)
{
    static gen_t G;
    gen_t *g = &G;
    const char *out = "-", *truth = NULL;
    int have_events = 0;
    g->seed = 1;
    g->start_us = parse_start("2026-11-01T00:00:00Z");
    g->nhosts = 2;
    g->ntenants = 50;
    g->rate = DEFAULT_RATE;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            usage();
        if (!v)
            usage();
        i++;
        if (strcmp(a, "--events") == 0) {
            g->target = parse_u64(a, v, 1, 1000000000000ULL);
            have_events = 1;
        } else if (strcmp(a, "--seed") == 0) {
            g->seed = parse_u64(a, v, 0, UINT64_MAX);
        } else if (strcmp(a, "--start") == 0) {
            g->start_us = parse_start(v);
        } else if (strcmp(a, "--format") == 0) {
            if (strcmp(v, "classic") == 0)
                g->rfc3339 = 0;
            else if (strcmp(v, "rfc3339") == 0)
                g->rfc3339 = 1;
            else
                usage();
        } else if (strcmp(a, "--hosts") == 0) {
            g->nhosts = (uint32_t)parse_u64(a, v, 1, MAX_HOSTS);
        } else if (strcmp(a, "--tenants") == 0) {
            g->ntenants = (uint32_t)parse_u64(a, v, 1, MAX_TENANTS);
        } else if (strcmp(a, "--rate") == 0) {
            g->rate = (double)parse_u64(a, v, 1, 1000000);
        } else if (strcmp(a, "--truth") == 0) {
            truth = v;
        } else if (strcmp(a, "--out") == 0) {
            out = v;
        } else {
            usage();
        }
    }
    if (!have_events)
        usage();

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    rng_seed(&g->rng, g->seed);
    g->free_head = NO_FREE;
    g->tc_sec = INT64_MIN;
    build_tables(g);
    ob_open(&g->out, out);
    if (truth) {
        ob_open(&g->truth, truth);
        g->have_truth = 1;
        char *w = ob_reserve(&g->truth);
        w = put_mem(w, TRUTH_HEADER, sizeof(TRUTH_HEADER) - 1);
        ob_commit(&g->truth, w);
    }
    run(g);
    ob_close(&g->out);
    uint64_t truth_bytes = 0;
    if (g->have_truth) {
        ob_close(&g->truth);
        truth_bytes = g->truth.total;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;

    uint64_t events = 0;
    for (int s = 0; s < ST_N; s++)
        events += g->rows[s];
    uint64_t bytes = g->out.total;
    fprintf(stderr, "gen_postfix: seed=%llu messages=%llu connections=%llu lines=%llu\n",
            (unsigned long long)g->seed, (unsigned long long)g->n_messages,
            (unsigned long long)g->n_connections, (unsigned long long)g->n_lines);
    fprintf(stderr, "gen_postfix: delivery_events=%llu", (unsigned long long)events);
    for (int s = 0; s < ST_N; s++)
        fprintf(stderr, " %s=%llu (%.2f%%)", ST_NAME[s], (unsigned long long)g->rows[s],
                events ? 100.0 * (double)g->rows[s] / (double)events : 0.0);
    fprintf(stderr, "\n");
    fprintf(stderr,
            "gen_postfix: bytes=%llu bytes_per_event=%.1f truth_bytes=%llu log_span_s=%lld "
            "elapsed_s=%.2f MB_per_s=%.1f\n",
            (unsigned long long)bytes, events ? (double)bytes / (double)events : 0.0,
            (unsigned long long)truth_bytes, (long long)((g->now - g->start_us) / US_PER_SEC),
            secs, secs > 0 ? (double)bytes / 1e6 / secs : 0.0);
    return 0;
}
