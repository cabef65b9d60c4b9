/* poison_gen.c - synthetic delivery events that look like the tenant's own.
 *
 * Clear values (host, instance, domains, relay, status, DSN, delay, size, TLS, client
 * network, time of day) are copied from rows sampled out of the tenant's segments, so
 * statistics over clear columns cannot single out planted rows. Personal values are
 * fresh and random: a plausible personal address (never role-like: nobody looks up a
 * random person), a sender of the same kind, a new queue id and message-id. Searchable
 * values that could coincide with a real one are left out: an IPv4 client address in
 * a real /24 would collide with real clients, so events whose sample came from an IPv4
 * client carry no client address (like locally submitted mail); IPv6 clients get a
 * random interface id inside the sampled prefix. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "poison_int.h"

static const char *const first[] = {
    "anna", "lukas", "maria", "jonas", "sophie", "felix", "laura", "paul", "julia", "leon",
    "emma", "noah", "mia", "elias", "hannah", "ben", "lea", "finn", "clara", "jan",
    "sarah", "tim", "lisa", "max", "nina", "david", "eva", "simon", "katrin", "martin",
    "james", "olivia", "william", "amelia", "oliver", "isla", "george", "ava", "harry",
    "grace", "thomas", "chloe", "daniel", "ella", "samuel", "lucy", "joseph", "ruby",
    "pierre", "camille", "louis", "chloe", "hugo", "ines", "marco", "giulia", "luca",
    "chiara", "pablo", "lucia", "javier", "carmen", "piotr", "anja", "tomasz", "agata",
    "erik", "ingrid", "lars", "sigrid", "mehmet", "elif", "yusuf", "zeynep", "arjun",
    "priya", "kenji", "yuki", "wei", "mei", "andrea", "stefan", "petra", "michael",
    "sandra", "robert", "monika", "frank", "sabine", "peter", "ursula", "markus", "birgit",
};
static const char *const last[] = {
    "mueller", "schmidt", "schneider", "fischer", "weber", "meyer", "wagner", "becker",
    "schulz", "hoffmann", "koch", "richter", "klein", "wolf", "neumann", "schwarz",
    "zimmermann", "braun", "krueger", "hartmann", "lange", "werner", "krause", "lehmann",
    "smith", "jones", "taylor", "brown", "williams", "wilson", "johnson", "davies",
    "robinson", "wright", "thompson", "evans", "walker", "white", "roberts", "green",
    "hall", "wood", "jackson", "clarke", "martin", "bernard", "dubois", "durand",
    "lefebvre", "moreau", "laurent", "rossi", "russo", "ferrari", "esposito", "bianchi",
    "romano", "garcia", "fernandez", "lopez", "martinez", "sanchez", "perez", "nowak",
    "kowalski", "wisniewski", "jansen", "devries", "bakker", "visser", "andersson",
    "johansson", "karlsson", "nilsson", "yilmaz", "kaya", "demir", "sahin", "sharma",
    "patel", "tanaka", "suzuki", "chen", "wang", "novak", "horvat", "kovacs", "nagy",
};
/* Common mailbox providers, for stores with no rows to sample domains from. */
static const char *const domains[] = {
    "gmail.com", "outlook.com", "hotmail.com", "yahoo.com", "gmx.de", "web.de",
    "icloud.com", "t-online.de", "orange.fr", "proton.me", "aol.com", "gmx.net",
};
#define N(a) (sizeof(a) / sizeof((a)[0]))

static uint32_t rnd(uint32_t n) { return n ? randombytes_uniform(n) : 0; }

const char *cof_poison_gen_domain(void) { return domains[rnd(N(domains))]; }

void cof_poison_gen_address(const char *domain, char *out, size_t cap)
{
    const char *f = first[rnd(N(first))], *l = last[rnd(N(last))];
    unsigned d2 = 10 + rnd(90), d4 = 1950 + rnd(56), d3 = 100 + rnd(900);
    switch (rnd(8)) {
    case 0: snprintf(out, cap, "%s.%s%u@%s", f, l, d2, domain); break;
    case 1: snprintf(out, cap, "%c%s%u@%s", f[0], l, d3, domain); break;
    case 2: snprintf(out, cap, "%s.%s.%u@%s", f, l, d4, domain); break;
    case 3: snprintf(out, cap, "%s_%s%u@%s", f, l, d2, domain); break;
    case 4: snprintf(out, cap, "%c%c%u%u@%s", f[0], l[0], d4, d2, domain); break;
    case 5: snprintf(out, cap, "%s%c%u@%s", f, l[0], d3, domain); break;
    case 6: snprintf(out, cap, "%c.%s%u@%s", f[0], l, d4, domain); break;
    default: snprintf(out, cap, "%s.%s%u@%s", l, f, d2, domain); break;
    }
}

/* ---- sampling ---- */

typedef struct {
    cof_psamples *out;
    int64_t since, until;
    uint32_t segs;
} sctx;

#define MAX_SAMPLE_SEGMENTS 64
#define SAMPLE_FIELDS                                                                     \
    ((1u << COF_F_HOST) | (1u << COF_F_INSTANCE) | (1u << COF_F_RECIPIENT) |               \
     (1u << COF_F_SENDER) | (1u << COF_F_RELAY_HOST) | (1u << COF_F_RELAY_IP) |            \
     (1u << COF_F_CLIENT_IP) | (1u << COF_F_TLS) | (1u << COF_F_DSN) | (1u << COF_F_SASL_METHOD))

static void copy_clear(const cof_seg_block *b, cof_field f, uint32_t row, char *dst, size_t cap)
{
    dst[0] = 0;
    if (!b->clear_id[f])
        return;
    uint32_t id = b->clear_id[f][row];
    if (id == 0 || id > b->dict_n[f])
        return;
    cof_str v = b->dict[f][id];
    if (v.n < cap && !memchr(v.p, 0, v.n)) {
        memcpy(dst, v.p, v.n);
        dst[v.n] = 0;
    }
}

/* A clear address column holds the domain (policy "domain") or, under "keep", the whole
 * address: keep only what follows the last '@'. */
static void domain_only(char *s)
{
    char *at = strrchr(s, '@');
    if (at)
        memmove(s, at + 1, strlen(at + 1) + 1);
}

static cof_status on_block(void *ctx, const cof_seg_block *b)
{
    sctx *x = ctx;
    cof_psamples *o = x->out;
    for (uint32_t i = 0; i < b->nrows; i++) {
        if (b->time_us[i] < x->since || b->time_us[i] >= x->until)
            continue;
        o->seen++;
        uint64_t slot = o->n < COF_POISON_SAMPLES ? o->n
                        : rnd(o->seen > UINT32_MAX ? UINT32_MAX : (uint32_t)o->seen);
        if (slot >= COF_POISON_SAMPLES)
            continue;
        cof_psample *s = &o->s[slot];
        if (o->n < COF_POISON_SAMPLES)
            o->n++;
        s->t = b->time_us[i];
        s->status = b->status[i];
        s->direction = b->direction[i];
        s->delay_ms = b->delay_ms[i];
        s->size = b->size[i];
        copy_clear(b, COF_F_HOST, i, s->host, sizeof s->host);
        copy_clear(b, COF_F_INSTANCE, i, s->inst, sizeof s->inst);
        copy_clear(b, COF_F_RECIPIENT, i, s->rdom, sizeof s->rdom);
        copy_clear(b, COF_F_SENDER, i, s->sdom, sizeof s->sdom);
        copy_clear(b, COF_F_RELAY_HOST, i, s->relay_host, sizeof s->relay_host);
        copy_clear(b, COF_F_RELAY_IP, i, s->relay_ip, sizeof s->relay_ip);
        copy_clear(b, COF_F_CLIENT_IP, i, s->cprefix, sizeof s->cprefix);
        copy_clear(b, COF_F_TLS, i, s->tls, sizeof s->tls);
        copy_clear(b, COF_F_DSN, i, s->dsn, sizeof s->dsn);
        copy_clear(b, COF_F_SASL_METHOD, i, s->sasl_method, sizeof s->sasl_method);
        domain_only(s->rdom);
        domain_only(s->sdom);
    }
    return COF_OK;
}

static cof_status on_seg(void *ctx, const cof_seg_info *info, cof_seg *seg)
{
    sctx *x = ctx;
    (void)info;
    if (x->segs++ >= MAX_SAMPLE_SEGMENTS)
        return COF_AGAIN; /* enough: stop the walk */
    return cof_seg_scan(seg, SAMPLE_FIELDS, x->since, x->until, on_block, x);
}

static void skip_damaged(void *ctx, const char *path, const char *reason)
{
    (void)ctx, (void)path, (void)reason; /* sampling does without a damaged segment */
}

cof_status cof_poison_sample(cof_store *s, const char *tenant, int64_t since, int64_t until,
                             cof_psamples *out)
{
    memset(out, 0, sizeof *out);
    out->s = calloc(COF_POISON_SAMPLES, sizeof *out->s);
    if (!out->s)
        return COF_ERR(COF_NOMEM, "out of memory");
    sctx x = { out, since, until, 0 };
    cof_status st = cof_store_each_segment(s, tenant, since, until, on_seg, skip_damaged, &x);
    if (st == COF_AGAIN)
        st = COF_OK;
    if (!st && out->n == 0) { /* nothing in the window: any of the tenant's rows */
        x.since = INT64_MIN;
        x.until = INT64_MAX;
        x.segs = 0;
        st = cof_store_each_segment(s, tenant, INT64_MIN, INT64_MAX, on_seg, skip_damaged, &x);
        if (st == COF_AGAIN)
            st = COF_OK;
        /* those times lie outside the window: keep only their time of day */
        for (uint32_t i = 0; i < out->n; i++) {
            int64_t day = 86400LL * 1000000;
            int64_t tod = ((out->s[i].t % day) + day) % day;
            int64_t span_days = (until - since) / day;
            int64_t base = since - ((since % day) + day) % day;
            out->s[i].t = base + (int64_t)rnd((uint32_t)(span_days + 1)) * day + tod;
        }
    }
    return st;
}

/* ---- one event ---- */

typedef struct {
    char *p;
    size_t n, cap;
} sb;

/* Append a formatted string to the arena and return it as a slice (empty if full). */
static cof_str put(sb *b, const char *fmt, ...) COF_PRINTF(2, 3);
static cof_str put(sb *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= b->cap - b->n)
        return COF_STR_NULL;
    cof_str s = cof_str_make(b->p + b->n, (size_t)k);
    b->n += (size_t)k + 1;
    return s;
}

static int is_local_relay(const char *r)
{
    return !strcmp(r, "local") || !strcmp(r, "virtual") || !strcmp(r, "none") ||
           !strncmp(r, "private/", 8) || strstr(r, "lmtp") || strstr(r, "dovecot");
}

static void random_hex(char *out, size_t n, int upper)
{
    static const char lo[] = "0123456789abcdef", up[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++)
        out[i] = (upper ? up : lo)[rnd(16)];
    out[n] = 0;
}

/* A random address inside an IPv6 prefix "2001:db8:1::/48"; 0 for IPv4 or junk. */
static int v6_in_prefix(const char *prefix, char *out, size_t cap)
{
    char net[64];
    const char *slash = strchr(prefix, '/');
    uint8_t a[16];
    uint64_t bits;
    if (!slash || (size_t)(slash - prefix) >= sizeof net ||
        !cof_str_to_u64(cof_str_c(slash + 1), 128, &bits))
        return 0;
    memcpy(net, prefix, (size_t)(slash - prefix));
    net[slash - prefix] = 0;
    if (inet_pton(AF_INET6, net, a) != 1)
        return 0;
    uint8_t r[16];
    randombytes_buf(r, sizeof r);
    for (unsigned i = 0; i < 16; i++) {
        int keep = (int)bits - (int)(i * 8);
        uint8_t m = keep >= 8 ? 0xFF : keep <= 0 ? 0 : (uint8_t)(0xFF << (8 - keep));
        a[i] = (uint8_t)((a[i] & m) | (r[i] & (uint8_t)~m));
    }
    return inet_ntop(AF_INET6, a, out, (socklen_t)cap) != NULL;
}

static cof_str response(sb *b, const cof_psample *s, const char *rcpt, const char *qid)
{
    const char *relay = s ? s->relay_host : "";
    switch (s ? s->status : COF_ST_SENT) {
    case COF_ST_SENT:
        if (!strcmp(relay, "local"))
            return put(b, "delivered to mailbox");
        if (!strcmp(relay, "virtual"))
            return put(b, "delivered to maildir");
        if (is_local_relay(relay))
            return put(b, "250 2.0.0 <%s> %s Saved", rcpt, qid);
        return put(b, "250 2.0.0 Ok: queued as %c%c%c%c%c%c%c%c%c%c", 'A' + (int)rnd(6),
                   '0' + (int)rnd(10), 'A' + (int)rnd(6), '0' + (int)rnd(10), 'A' + (int)rnd(6),
                   '0' + (int)rnd(10), '0' + (int)rnd(10), 'A' + (int)rnd(6), '0' + (int)rnd(10),
                   '0' + (int)rnd(10));
    case COF_ST_DEFERRED:
        return put(b, "host %s[%s] said: 450 4.2.0 <%s>: Recipient address rejected: "
                   "Greylisted, see https://postgrey.schweikert.ch/help/%s.html "
                   "(in reply to RCPT TO command)",
                   relay[0] ? relay : "mx", s && s->relay_ip[0] ? s->relay_ip : "",
                   rcpt, strchr(rcpt, '@') + 1);
    case COF_ST_BOUNCED:
        return put(b, "host %s[%s] said: 550 5.1.1 <%s>: Recipient address rejected: User "
                   "unknown in virtual mailbox table (in reply to RCPT TO command)",
                   relay[0] ? relay : "mx", s && s->relay_ip[0] ? s->relay_ip : "", rcpt);
    default:
        return COF_STR_NULL;
    }
}

void cof_poison_gen_event(const cof_psample *s, const char *rcpt, int64_t since, int64_t until,
                          cof_event *ev, char *sbuf, size_t cap)
{
    sb b = { sbuf, 0, cap };
    cof_event_init(ev);
    int64_t span = until - since, t;
    if (s) { /* the sample's time, a few minutes either way: the tenant's daily rhythm */
        t = s->t + ((int64_t)rnd(1800) - 900) * 1000000 + (int64_t)rnd(1000000);
    } else {
        uint64_t r;
        randombytes_buf(&r, sizeof r);
        t = since + (int64_t)(r % (uint64_t)span);
    }
    if (s && s->t % 1000000 == 0) /* classic syslog stamps: whole seconds, like the sample */
        t -= ((t % 1000000) + 1000000) % 1000000;
    if (t < since)
        t = since;
    if (t >= until)
        t = until - 1;
    ev->time_us = t;
    ev->direction = s ? s->direction : COF_DIR_OUTBOUND;
    ev->status = s && s->status ? s->status : COF_ST_SENT;
    ev->nrcpt = 1;
    ev->size = s && s->size ? s->size : 2000 + rnd(120000);
    ev->delay_ms = s && s->delay_ms >= 0 ? s->delay_ms : (int32_t)(200 + rnd(4000));
    /* Postfix logs delays with two decimals: split in 10 ms steps. */
    int32_t d = ev->delay_ms / 10 * 10, a = (int32_t)((int64_t)d * (40 + rnd(40)) / 1000) * 10;
    int32_t bq = (int32_t)rnd((uint32_t)(d - a) / 40 + 1) * 10;
    int32_t c = (int32_t)rnd((uint32_t)(d - a - bq) / 20 + 1) * 10;
    ev->delay_ms = d;
    ev->delays_ms[0] = a;
    ev->delays_ms[1] = bq;
    ev->delays_ms[2] = c;
    ev->delays_ms[3] = d - a - bq - c;

    char qid[16], sender[COF_MAX_ADDR + 1], cip[64];
    random_hex(qid, 10, 1);
    const char *sdom = s && s->sdom[0] ? s->sdom : cof_poison_gen_domain();
    cof_poison_gen_address(sdom, sender, sizeof sender);
    ev->f[COF_F_HOST] = put(&b, "%s", s && s->host[0] ? s->host : "mx1");
    ev->f[COF_F_INSTANCE] = put(&b, "%s", s && s->inst[0] ? s->inst : "postfix");
    ev->f[COF_F_QUEUE_ID] = put(&b, "%s", qid);
    char u[33];
    random_hex(u, 32, 0);
    ev->f[COF_F_MESSAGE_ID] = put(&b, "<%.8s-%.4s-4%.3s-a%.3s-%.12s@%s>", u, u + 8, u + 12, u + 15,
                                  u + 18, sdom);
    if (s && v6_in_prefix(s->cprefix, cip, sizeof cip)) {
        ev->f[COF_F_CLIENT_HOST] = put(&b, "unknown");
        ev->f[COF_F_CLIENT_IP] = put(&b, "%s", cip);
    }
    ev->f[COF_F_SENDER] = put(&b, "%s", sender);
    ev->f[COF_F_RECIPIENT] = put(&b, "%s", rcpt);
    if (s && s->sasl_method[0]) {
        ev->f[COF_F_SASL_METHOD] = put(&b, "%s", s->sasl_method);
        ev->f[COF_F_SASL_USERNAME] = put(&b, "%s", sender);
    }
    const char *relay = s && s->relay_host[0] ? s->relay_host : "";
    if (relay[0]) {
        ev->f[COF_F_RELAY_HOST] = put(&b, "%s", relay);
        if (s->relay_ip[0]) {
            ev->f[COF_F_RELAY_IP] = put(&b, "%s", s->relay_ip);
            ev->relay_port = 25;
        }
    } else if (!s) {
        ev->f[COF_F_RELAY_HOST] = put(&b, "mx.%s", strchr(rcpt, '@') + 1);
    }
    const char *dsn = s && s->dsn[0] ? s->dsn
                    : ev->status == COF_ST_SENT ? "2.0.0"
                    : ev->status == COF_ST_DEFERRED ? "4.2.0" : "5.1.1";
    ev->f[COF_F_DSN] = put(&b, "%s", dsn);
    ev->f[COF_F_RESPONSE] = response(&b, s, rcpt, qid);
    if (s && s->tls[0])
        ev->f[COF_F_TLS] = put(&b, "%s", s->tls);
}
