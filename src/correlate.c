/* correlate.c - Postfix lines -> delivery events (contract in correlate.h).
 *
 * State:
 *   messages  pool of slots, open-addressed hash on (host, instance, queue id), an LRU
 *             list by last activity (eviction, idle drop) and an age list by first pos
 *             (cof_corr_oldest_open). Strings live in a per-slot buffer, as offsets.
 *   sessions  smtpd/smtp facts keyed by (host, instance, service, pid), inline
 *             fixed-size strings, same two lists.
 *   pending   FIFO ring of delivery attempts. Their own strings live in 64 KiB chunks
 *             that are recycled once every attempt in them is emitted.
 *
 * Invariants:
 *   I1 attempts enter the ring in (pos, idx) order and leave it only from the head,
 *      so emission is monotone in (pos, src_idx).
 *   I2 a message slot is reused only when it is out of the hash table and no attempt
 *      refers to it (npending == 0): an attempt reads its message at emission time,
 *      which is how later lines (qmgr from=, cleanup message-id) still fill it in.
 *   I3 evicting or dropping a message first emits the ring up to its last attempt.
 *
 * Message life:  (first line) -> OPEN --removed/reject/discard--> ZOMBIE --npending==0--> FREE
 *                OPEN --evicted/idle--> (ring drained through it) --> FREE */
#include "correlate.h"

#include <stdlib.h>
#include <sys/random.h>

#include <sodium.h>

#include "bounds.h"
#include "postfix.h"

#define NONE UINT32_MAX
#define CHUNK (64u << 10)
/* A freed slot keeps buffers this small for reuse (no malloc per message in the steady
 * state); at most max_open * (256 + 4 * sizeof(rcpt)) bytes, outside the byte budget. */
#define MSG_BUF_KEEP 256u
#define MSG_RC_KEEP 4u
#define US INT64_C(1000000)

/* ---- intrusive doubly-linked lists over slot indices ---- */

typedef struct { uint32_t prev, next; } link;
typedef struct { uint32_t head, tail; } list;

static void list_push(list *l, link *lk, uint32_t i)
{
    lk[i].prev = l->tail;
    lk[i].next = NONE;
    if (l->tail != NONE)
        lk[l->tail].next = i;
    else
        l->head = i;
    l->tail = i;
}

static void list_del(list *l, link *lk, uint32_t i)
{
    if (lk[i].prev != NONE)
        lk[lk[i].prev].next = lk[i].next;
    else
        l->head = lk[i].next;
    if (lk[i].next != NONE)
        lk[lk[i].next].prev = lk[i].prev;
    else
        l->tail = lk[i].prev;
    lk[i].prev = lk[i].next = NONE;
}

/* ---- open addressing, linear probing, backward-shift deletion ---- */

typedef struct { uint32_t idx, h; } tslot;
typedef struct { tslot *s; uint32_t mask; } htab;

static cof_status ht_init(htab *t, uint32_t max)
{
    uint32_t n = 16;
    while (n < max * 2u && n < (1u << 30))
        n <<= 1;
    t->s = malloc((size_t)n * sizeof *t->s);
    if (!t->s)
        return COF_ERR(COF_NOMEM, "correlator hash table");
    for (uint32_t i = 0; i < n; i++)
        t->s[i].idx = NONE;
    t->mask = n - 1;
    return COF_OK;
}

static void ht_insert(htab *t, uint32_t h, uint32_t idx)
{
    uint32_t i = h & t->mask;
    while (t->s[i].idx != NONE)
        i = (i + 1) & t->mask;
    t->s[i].idx = idx;
    t->s[i].h = h;
}

static void ht_remove(htab *t, uint32_t h, uint32_t idx)
{
    uint32_t i = h & t->mask;
    while (t->s[i].idx != idx) {
        if (t->s[i].idx == NONE)
            return;
        i = (i + 1) & t->mask;
    }
    /* shift back every following entry that would not be found past the hole */
    uint32_t j = i;
    for (;;) {
        t->s[i].idx = NONE;
        for (;;) {
            j = (j + 1) & t->mask;
            if (t->s[j].idx == NONE)
                return;
            uint32_t home = t->s[j].h & t->mask;
            if (((j - home) & t->mask) >= ((j - i) & t->mask))
                break;
        }
        t->s[i] = t->s[j];
        i = j;
    }
}

/* Double the table (load factor kept <= 1/2). */
static cof_status ht_grow(htab *t)
{
    htab n;
    if (ht_init(&n, (t->mask + 1)) != COF_OK)
        return COF_NOMEM;
    for (uint32_t i = 0; i <= t->mask; i++)
        if (t->s[i].idx != NONE)
            ht_insert(&n, t->s[i].h, t->s[i].idx);
    free(t->s);
    *t = n;
    return COF_OK;
}

/* Keyed hash of up to four parts (SipHash-2-4, random key per correlator): log lines
 * are attacker-influenced, so probe chains must not be collidable offline. */
static uint32_t khash(const unsigned char *key, cof_str a, cof_str b, cof_str c3, uint32_t d)
{
    unsigned char buf[3 * 258 + 4], out[crypto_shorthash_BYTES];
    size_t n = 0;
    cof_str parts[3] = { a, b, c3 };
    for (int i = 0; i < 3; i++) {
        size_t k = parts[i].n < 256 ? parts[i].n : 256; /* longer keys: prefix only */
        if (k)
            memcpy(buf + n, parts[i].p, k);
        n += k;
        buf[n++] = 0;
    }
    memcpy(buf + n, &d, 4);
    n += 4;
    crypto_shorthash(out, buf, n, key);
    uint32_t h;
    memcpy(&h, out, 4);
    return h;
}

/* Cut s to at most max bytes without splitting a UTF-8 sequence. */
static cof_str cut(cof_str s, size_t max)
{
    if (s.n <= max)
        return s;
    size_t n = max;
    while (n > 0 && ((unsigned char)s.p[n] & 0xC0) == 0x80)
        n--;
    return cof_str_make(s.p, n);
}

/* ---- types ---- */

typedef struct { uint32_t off, len; } span;

enum { RS_NONE = 0 }; /* recipient status: cof_delivery_status, 0 none yet */

typedef struct {
    uint32_t h;
    span addr, orig;
    uint8_t st, dir;
} rcpt;

enum { M_USED = 1, M_TABLE = 2, M_SMTPD = 4, M_PICKUP = 8, M_DONE = 16 };

typedef struct {
    uint32_t h;
    uint8_t flags;
    span f[COF_NFIELDS];
    char *buf;
    uint32_t used, cap;
    rcpt *rc;
    uint32_t nrc, rccap;
    uint64_t size;
    uint32_t nrcpt;
    uint32_t npending;
    uint64_t last_seq;
    uint64_t first_pos;
    int64_t last_us;
} msg;

#define S_KEY 128
#define S_PEER 300
#define S_TLS 128
#define S_SM 32
#define S_SU 256

typedef struct {
    uint32_t h, pid;
    uint8_t used, kh, ki, ks;
    uint16_t peer_n, tls_n, sm_n, su_n;
    uint64_t pos;
    int64_t last_us;
    char key[S_KEY];
    char peer[S_PEER];
    char tls[S_TLS];
    char sm[S_SM];
    char su[S_SU];
} sess;

/* How an attempt's direction is decided at emission. */
enum { D_FIXED, D_DELIVER, D_REJECT };

typedef struct {
    uint64_t pos, seq;
    int64_t time_us;
    uint32_t idx, msg;
    uint32_t chunk, off;
    int32_t delay_ms, delays_ms[4];
    uint16_t relay_port;
    uint8_t status, rule, dir, ready;
    uint8_t own_tls; /* smtp hop: its own TLS line or none, never the inbound session's */
    uint16_t flen[COF_NFIELDS];
} attempt;

struct cof_corr {
    cof_corr_opts o;
    cof_event_fn fn;
    void *ctx;
    cof_pf_clock clk;
    unsigned char hkey[crypto_shorthash_KEYBYTES];
    int64_t now_us; /* log clock: the largest line time seen */
    uint64_t last_pos;
    int have_pos;
    uint32_t line_idx; /* events completed by the current line so far */
    cof_corr_stats st;

    msg *m;
    link *m_lru, *m_age;
    uint32_t m_cap, m_n, m_free;
    list lru, age;
    htab mt;
    size_t msg_bytes;

    sess *s;
    link *s_lru, *s_age;
    uint32_t s_cap, s_n, s_free;
    list slru, sage;
    htab stab;

    attempt *a;
    uint32_t a_cap, a_head, a_n;
    uint64_t seq_head, seq_next;
    char **chunk;
    uint32_t *chunk_live;
    uint32_t nchunk, max_chunk, cur_chunk, cur_off;
    uint32_t *chunk_free;
    uint32_t nchunk_free;
};

const char *cof_skip_name(cof_skip_reason r)
{
    static const char *const n[COF_NSKIP] = {
        "none", "malformed", "not_postfix", "unknown", "overlong",
        "binary", "utf8", "truncated", "time",
    };
    return (unsigned)r < COF_NSKIP ? n[r] : "?";
}

void cof_corr_opts_default(cof_corr_opts *o)
{
    memset(o, 0, sizeof *o);
    o->hold_seconds = 300;
    o->idle_seconds = 6 * 86400;
    o->max_open = COF_MAX_OPEN_MESSAGES;
    o->max_pending = 262144;
}

/* ---- pending ring ---- */

static attempt *att_at(cof_corr *c, uint32_t k) { return &c->a[(c->a_head + k) & (c->a_cap - 1)]; }

static cof_status msg_release(cof_corr *c, uint32_t mi);

static cof_status emit(cof_corr *c, const attempt *a)
{
    cof_event ev;
    cof_event_init(&ev);
    ev.time_us = a->time_us;
    ev.status = a->status;
    ev.relay_port = a->relay_port;
    ev.delay_ms = a->delay_ms;
    memcpy(ev.delays_ms, a->delays_ms, sizeof ev.delays_ms);
    ev.src_off = a->pos;
    ev.src_idx = a->idx;
    const msg *m = a->msg != NONE ? &c->m[a->msg] : NULL;
    if (m) {
        for (int f = 0; f < COF_NFIELDS; f++)
            if (m->f[f].len)
                ev.f[f] = cof_str_make(m->buf + m->f[f].off, m->f[f].len); /* len > 0 */
        ev.size = m->size;
        ev.nrcpt = m->nrcpt;
    }
    if (a->own_tls)
        ev.f[COF_F_TLS] = COF_STR_NULL;
    const char *p = c->chunk[a->chunk] + a->off;
    for (int f = 0; f < COF_NFIELDS; f++)
        if (a->flen[f]) {
            ev.f[f] = cof_str_make(p, a->flen[f]);
            p += a->flen[f];
        }
    int sasl = ev.f[COF_F_SASL_USERNAME].n > 0;
    int smtpd = m ? (m->flags & M_SMTPD) != 0 : 0;
    int pickup = m ? (m->flags & M_PICKUP) != 0 : 0;
    switch (a->rule) {
    case D_FIXED:
        ev.direction = a->dir;
        break;
    case D_DELIVER:
        ev.direction = smtpd ? COF_DIR_INBOUND : COF_DIR_LOCAL;
        break;
    default: /* D_REJECT: at smtpd, or cleanup checks of a received message */
        ev.direction = sasl              ? COF_DIR_OUTBOUND
                       : pickup && !smtpd ? COF_DIR_LOCAL
                                          : COF_DIR_INBOUND;
        break;
    }
    return c->fn(c->ctx, &ev);
}

/* Emit and pop the head attempt. On a callback error it stays at the head. */
static cof_status pop_head(cof_corr *c)
{
    attempt *a = att_at(c, 0);
    cof_status st = emit(c, a);
    if (st != COF_OK)
        return st;
    c->st.events++;
    if (--c->chunk_live[a->chunk] == 0 && a->chunk != c->cur_chunk)
        c->chunk_free[c->nchunk_free++] = a->chunk;
    uint32_t mi = a->msg;
    c->a_head = (c->a_head + 1) & (c->a_cap - 1);
    c->a_n--;
    c->seq_head++;
    if (mi != NONE) {
        msg *m = &c->m[mi];
        m->npending--;
        if (m->npending == 0 && !(m->flags & M_TABLE))
            return msg_release(c, mi);
    }
    return COF_OK;
}

static int head_ready(const cof_corr *c, const attempt *a)
{
    if (a->ready)
        return 1;
    if (a->msg != NONE && (c->m[a->msg].flags & M_DONE))
        return 1;
    return c->now_us - a->time_us >= (int64_t)c->o.hold_seconds * US;
}

static cof_status release_ready(cof_corr *c)
{
    while (c->a_n && head_ready(c, att_at(c, 0))) {
        cof_status st = pop_head(c);
        if (st != COF_OK)
            return st;
    }
    return COF_OK;
}

/* Emit everything up to and including attempt sequence number seq. */
static cof_status release_through(cof_corr *c, uint64_t seq)
{
    while (c->a_n && c->seq_head <= seq) {
        cof_status st = pop_head(c);
        if (st != COF_OK)
            return st;
    }
    return COF_OK;
}

static cof_status ring_grow(cof_corr *c)
{
    uint32_t ncap = c->a_cap ? c->a_cap * 2 : 1024;
    attempt *na = malloc((size_t)ncap * sizeof *na);
    if (!na)
        return COF_ERR(COF_NOMEM, "correlator pending ring");
    for (uint32_t k = 0; k < c->a_n; k++)
        na[k] = *att_at(c, k);
    free(c->a);
    c->a = na;
    c->a_cap = ncap;
    c->a_head = 0;
    return COF_OK;
}

/* Room for need bytes of attempt strings; may release the oldest attempts. */
static cof_status chunk_room(cof_corr *c, uint32_t need)
{
    for (;;) {
        if (c->nchunk && CHUNK - c->cur_off >= need)
            return COF_OK;
        /* the current chunk is full: move on to a free or new one */
        if (c->nchunk && c->chunk_live[c->cur_chunk] == 0) {
            c->cur_off = 0;
            continue;
        }
        uint32_t k;
        if (c->nchunk_free) {
            k = c->chunk_free[--c->nchunk_free];
        } else if (c->nchunk < c->max_chunk) {
            char *b = malloc(CHUNK);
            if (!b)
                return COF_ERR(COF_NOMEM, "correlator pending chunk");
            k = c->nchunk++;
            c->chunk[k] = b;
            c->chunk_live[k] = 0;
        } else {
            /* COF_MAX_PENDING_BYTES reached: the pending queue is full */
            if (c->a_n == 0)
                return COF_ERR(COF_LIMIT, "pending attempt larger than its budget");
            cof_status st = pop_head(c);
            if (st != COF_OK)
                return st;
            continue;
        }
        c->cur_chunk = k;
        c->cur_off = 0;
    }
}

/* A new attempt at the ring's tail, its strings from f[] (copied, capped). */
static cof_status att_add(cof_corr *c, const cof_pf_line *ln, uint64_t pos, uint32_t mi,
                          const cof_str *f, attempt **out)
{
    cof_status st;
    if (c->a_n >= c->o.max_pending && (st = pop_head(c)) != COF_OK)
        return st;
    if (c->a_n == c->a_cap && (st = ring_grow(c)) != COF_OK)
        return st;
    uint32_t need = 0;
    cof_str s[COF_NFIELDS];
    for (int i = 0; i < COF_NFIELDS; i++) {
        s[i] = cut(f[i], COF_MAX_FIELD);
        need += (uint32_t)s[i].n;
    }
    if ((st = chunk_room(c, need)) != COF_OK)
        return st;
    /* chunk_room may have popped the message's own last attempt and released it */
    if (mi != NONE && !(c->m[mi].flags & M_USED))
        mi = NONE;
    attempt *a = att_at(c, c->a_n);
    memset(a, 0, sizeof *a);
    a->pos = pos;
    a->seq = c->seq_next++;
    a->time_us = ln->time_us;
    a->idx = c->line_idx++;
    a->msg = mi;
    a->chunk = c->cur_chunk;
    a->off = c->cur_off;
    a->delay_ms = COF_NO_DELAY;
    for (int i = 0; i < 4; i++)
        a->delays_ms[i] = COF_NO_DELAY;
    char *p = c->chunk[a->chunk] + a->off;
    for (int i = 0; i < COF_NFIELDS; i++) {
        if (s[i].n) {
            memcpy(p, s[i].p, s[i].n);
            p += s[i].n;
        }
        a->flen[i] = (uint16_t)s[i].n;
    }
    c->cur_off += need;
    c->chunk_live[a->chunk]++;
    c->a_n++;
    if (mi != NONE) {
        c->m[mi].npending++;
        c->m[mi].last_seq = a->seq;
    }
    *out = a;
    return COF_OK;
}

/* ---- messages ---- */

/* A span of the slot buffer as a slice (buf may be NULL while every span is empty). */
static cof_str sp(const msg *m, span x)
{
    return x.len ? cof_str_make(m->buf + x.off, x.len) : COF_STR_NULL;
}

static cof_str mf(const msg *m, int f) { return sp(m, m->f[f]); }

/* Append bytes to the slot buffer; 0 if over COF_MAX_MESSAGE_BYTES or no memory. */
static int msg_put(cof_corr *c, msg *m, cof_str v, span *out)
{
    if (v.n > COF_MAX_MESSAGE_BYTES - m->used)
        return 0;
    if (m->used + v.n > m->cap) {
        uint32_t ncap = m->cap ? m->cap : 256;
        while (ncap < m->used + v.n)
            ncap *= 2;
        if (ncap > COF_MAX_MESSAGE_BYTES)
            ncap = COF_MAX_MESSAGE_BYTES;
        char *nb = realloc(m->buf, ncap);
        if (!nb)
            return 0;
        c->msg_bytes += ncap - m->cap;
        m->buf = nb;
        m->cap = ncap;
    }
    if (v.n)
        memcpy(m->buf + m->used, v.p, v.n);
    out->off = m->used;
    out->len = (uint32_t)v.n;
    m->used += (uint32_t)v.n;
    return 1;
}

static void msg_set(cof_corr *c, msg *m, int f, cof_str v)
{
    v = cut(v, COF_MAX_FIELD);
    if (v.n == 0 || cof_str_eq(mf(m, f), v))
        return;
    span sp;
    if (msg_put(c, m, v, &sp))
        m->f[f] = sp;
}

static void msg_unlink(cof_corr *c, uint32_t mi)
{
    msg *m = &c->m[mi];
    if (m->flags & M_TABLE) {
        ht_remove(&c->mt, m->h, mi);
        list_del(&c->age, c->m_age, mi);
        m->flags &= (uint8_t)~M_TABLE;
    }
}

/* Return a slot to the free list (precondition: unlinked, npending == 0). */
static cof_status msg_release(cof_corr *c, uint32_t mi)
{
    msg *m = &c->m[mi];
    list_del(&c->lru, c->m_lru, mi);
    c->msg_bytes -= m->cap + m->rccap * sizeof(rcpt); /* the budget counts open slots */
    if (m->cap > MSG_BUF_KEEP) {
        free(m->buf);
        m->buf = NULL;
        m->cap = 0;
    }
    if (m->rccap > MSG_RC_KEEP) {
        free(m->rc);
        m->rc = NULL;
        m->rccap = 0;
    }
    m->flags = 0;
    m->used = 0;
    m->nrc = 0;
    c->m_n--;
    c->m_lru[mi].next = c->m_free;
    c->m_free = mi;
    return COF_OK;
}

/* Evict or drop message mi: emit its pending attempts first (I3). */
static cof_status msg_drop(cof_corr *c, uint32_t mi)
{
    msg *m = &c->m[mi];
    msg_unlink(c, mi);
    if (m->npending) /* the last pop releases the slot */
        return release_through(c, m->last_seq);
    return msg_release(c, mi);
}

static cof_status evict_one(cof_corr *c, uint32_t keep)
{
    uint32_t v = c->lru.head;
    if (v == keep)
        v = c->m_lru[v].next;
    if (v == NONE)
        return COF_OK;
    if (c->m[v].flags & M_TABLE) /* not for a removed message waiting on its events */
        c->st.evicted++;
    return msg_drop(c, v);
}

static uint32_t msg_hash(const cof_corr *c, const cof_pf_line *ln, cof_str qid)
{
    return khash(c->hkey, ln->host, ln->instance, qid, 0);
}

static uint32_t msg_find(cof_corr *c, const cof_pf_line *ln, cof_str qid, uint32_t h)
{
    for (uint32_t i = h & c->mt.mask;; i = (i + 1) & c->mt.mask) {
        uint32_t k = c->mt.s[i].idx;
        if (k == NONE)
            return NONE;
        if (c->mt.s[i].h != h)
            continue;
        const msg *m = &c->m[k];
        if (cof_str_eq(mf(m, COF_F_QUEUE_ID), qid) && cof_str_eq(mf(m, COF_F_HOST), ln->host) &&
            cof_str_eq(mf(m, COF_F_INSTANCE), ln->instance))
            return k;
    }
}

static void touch(cof_corr *c, uint32_t mi, const cof_pf_line *ln)
{
    msg *m = &c->m[mi];
    if (ln->time_us > m->last_us)
        m->last_us = ln->time_us;
    if (c->lru.tail != mi) {
        list_del(&c->lru, c->m_lru, mi);
        list_push(&c->lru, c->m_lru, mi);
    }
}

static cof_status pool_grow(cof_corr *c)
{
    uint32_t ncap = c->m_cap ? c->m_cap * 2 : 256;
    if (ncap > c->o.max_open)
        ncap = c->o.max_open;
    msg *nm = realloc(c->m, (size_t)ncap * sizeof *nm);
    if (!nm)
        return COF_ERR(COF_NOMEM, "correlator message pool");
    c->m = nm;
    link *l1 = realloc(c->m_lru, (size_t)ncap * sizeof *l1);
    if (l1)
        c->m_lru = l1;
    link *l2 = l1 ? realloc(c->m_age, (size_t)ncap * sizeof *l2) : NULL;
    if (l2)
        c->m_age = l2;
    if (!l1 || !l2)
        return COF_ERR(COF_NOMEM, "correlator message pool");
    for (uint32_t i = ncap; i-- > c->m_cap;) {
        memset(&c->m[i], 0, sizeof c->m[i]);
        c->m_lru[i].next = c->m_free;
        c->m_free = i;
    }
    c->m_cap = ncap;
    return COF_OK;
}

/* Find the open message of this line's queue id, creating it if create. */
static cof_status msg_get(cof_corr *c, const cof_pf_line *ln, cof_str qid, uint64_t pos,
                          int create, uint32_t *out)
{
    uint32_t h = msg_hash(c, ln, qid);
    uint32_t mi = msg_find(c, ln, qid, h);
    cof_status st;
    if (mi != NONE || !create) {
        *out = mi;
        if (mi != NONE)
            touch(c, mi, ln);
        return COF_OK;
    }
    while (c->m_n && (c->m_n >= c->o.max_open || c->msg_bytes >= COF_MAX_CORR_BYTES)) {
        uint32_t before = c->m_n;
        if ((st = evict_one(c, NONE)) != COF_OK)
            return st;
        if (c->m_n == before)
            break; /* cannot happen: an evicted slot is released by its last pop */
    }
    if (c->m_free == NONE && c->m_cap < c->o.max_open && (st = pool_grow(c)) != COF_OK)
        return st;
    if (c->m_free == NONE)
        return COF_ERR(COF_LIMIT, "correlator message pool exhausted");
    mi = c->m_free;
    c->m_free = c->m_lru[mi].next;
    msg *m = &c->m[mi];
    memset(m->f, 0, sizeof m->f);
    m->h = h;
    m->flags = M_USED | M_TABLE;
    m->used = 0;
    m->nrc = 0;
    m->size = 0;
    m->nrcpt = 0;
    m->npending = 0;
    m->first_pos = pos;
    m->last_us = ln->time_us;
    c->m_n++;
    c->msg_bytes += m->cap + m->rccap * sizeof(rcpt);
    msg_set(c, m, COF_F_HOST, ln->host);
    msg_set(c, m, COF_F_INSTANCE, ln->instance);
    msg_set(c, m, COF_F_QUEUE_ID, qid);
    ht_insert(&c->mt, h, mi);
    list_push(&c->lru, c->m_lru, mi);
    list_push(&c->age, c->m_age, mi);
    *out = mi;
    return COF_OK;
}

static rcpt *rcpt_get(cof_corr *c, msg *m, cof_str addr, cof_str orig)
{
    addr = cut(addr, COF_MAX_FIELD);
    /* a filter for the bounded linear scan below, not a table key: FNV-1a will do */
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < addr.n; i++)
        h = (h ^ (unsigned char)addr.p[i]) * 16777619u;
    for (uint32_t i = 0; i < m->nrc; i++)
        if (m->rc[i].h == h && cof_str_eq(sp(m, m->rc[i].addr), addr))
            return &m->rc[i];
    if (m->nrc >= COF_MAX_RCPT_PER_MESSAGE)
        return NULL;
    if (m->nrc == m->rccap) {
        uint32_t ncap = m->rccap ? m->rccap * 2 : 4;
        if (ncap > COF_MAX_RCPT_PER_MESSAGE)
            ncap = COF_MAX_RCPT_PER_MESSAGE;
        rcpt *nr = realloc(m->rc, ncap * sizeof *nr);
        if (!nr)
            return NULL;
        c->msg_bytes += (ncap - m->rccap) * sizeof *nr;
        m->rc = nr;
        m->rccap = ncap;
    }
    rcpt r = { .h = h };
    if (!msg_put(c, m, addr, &r.addr))
        return NULL;
    if (!msg_put(c, m, cut(orig, COF_MAX_FIELD), &r.orig))
        r.orig.len = 0;
    m->rc[m->nrc] = r;
    return &m->rc[m->nrc++];
}

/* ---- sessions ---- */

static uint32_t sess_hash(const cof_corr *c, const cof_pf_line *ln)
{
    return khash(c->hkey, ln->host, ln->instance, ln->service, ln->pid);
}

static uint32_t sess_find(cof_corr *c, const cof_pf_line *ln, uint32_t h)
{
    for (uint32_t i = h & c->stab.mask;; i = (i + 1) & c->stab.mask) {
        uint32_t k = c->stab.s[i].idx;
        if (k == NONE)
            return NONE;
        const sess *s = &c->s[k];
        if (c->stab.s[i].h == h && s->pid == ln->pid &&
            cof_str_eq(cof_str_make(s->key, s->kh), ln->host) &&
            cof_str_eq(cof_str_make(s->key + s->kh, s->ki), ln->instance) &&
            cof_str_eq(cof_str_make(s->key + s->kh + s->ki, s->ks), ln->service))
            return k;
    }
}

static void sess_del(cof_corr *c, uint32_t si)
{
    sess *s = &c->s[si];
    ht_remove(&c->stab, s->h, si);
    list_del(&c->slru, c->s_lru, si);
    list_del(&c->sage, c->s_age, si);
    s->used = 0;
    c->s_n--;
    c->s_lru[si].next = c->s_free;
    c->s_free = si;
}

static uint32_t sess_get(cof_corr *c, const cof_pf_line *ln, uint64_t pos, int create)
{
    uint32_t h = sess_hash(c, ln);
    uint32_t si = sess_find(c, ln, h);
    if (si != NONE) {
        sess *s = &c->s[si];
        if (ln->time_us > s->last_us)
            s->last_us = ln->time_us;
        list_del(&c->slru, c->s_lru, si);
        list_push(&c->slru, c->s_lru, si);
        return si;
    }
    if (!create || ln->host.n + ln->instance.n + ln->service.n > S_KEY || ln->host.n > 255)
        return NONE;
    if (c->s_n >= COF_MAX_SESSIONS)
        sess_del(c, c->slru.head);
    if ((c->s_n + 1) * 2 > c->stab.mask + 1 && ht_grow(&c->stab) != COF_OK)
        return NONE;
    if (c->s_free == NONE) {
        uint32_t ncap = c->s_cap ? c->s_cap * 2 : 64;
        sess *ns = realloc(c->s, (size_t)ncap * sizeof *ns);
        if (!ns)
            return NONE;
        c->s = ns;
        link *l1 = realloc(c->s_lru, (size_t)ncap * sizeof *l1);
        if (!l1)
            return NONE;
        c->s_lru = l1;
        link *l2 = realloc(c->s_age, (size_t)ncap * sizeof *l2);
        if (!l2)
            return NONE;
        c->s_age = l2;
        for (uint32_t i = ncap; i-- > c->s_cap;) {
            c->s[i].used = 0;
            c->s_lru[i].next = c->s_free;
            c->s_free = i;
        }
        c->s_cap = ncap;
    }
    si = c->s_free;
    c->s_free = c->s_lru[si].next;
    sess *s = &c->s[si];
    s->h = h;
    s->pid = ln->pid;
    s->used = 1;
    s->kh = (uint8_t)ln->host.n;
    s->ki = (uint8_t)ln->instance.n;
    s->ks = (uint8_t)ln->service.n;
    if (ln->host.n) /* memcpy from a NULL empty slice is undefined */
        memcpy(s->key, ln->host.p, ln->host.n);
    if (ln->instance.n)
        memcpy(s->key + s->kh, ln->instance.p, ln->instance.n);
    if (ln->service.n)
        memcpy(s->key + s->kh + s->ki, ln->service.p, ln->service.n);
    s->peer_n = s->tls_n = s->sm_n = s->su_n = 0;
    s->pos = pos;
    s->last_us = ln->time_us;
    c->s_n++;
    ht_insert(&c->stab, h, si);
    list_push(&c->slru, c->s_lru, si);
    list_push(&c->sage, c->s_age, si);
    return si;
}

static void sput(char *dst, uint16_t *n, size_t cap, cof_str v)
{
    v = cut(v, cap);
    if (v.n)
        memcpy(dst, v.p, v.n);
    *n = (uint16_t)v.n;
}

/* ---- small text helpers ---- */

static cof_str after(cof_str s, const char *at) { return cof_str_make(at, (size_t)(s.p + s.n - at)); }

static cof_str skip_lit(cof_str s, const char *z)
{
    size_t n = strlen(z);
    return cof_str_make(s.p + n, s.n - n);
}

/* "TLSv1.3 TLS_AES_256_GCM_SHA384" from a TLS line into buf; 0 if not one. */
static int tls_of(cof_str t, cof_str *peer, char *buf, size_t cap, size_t *n)
{
    cof_str proto, cipher;
    if (!cof_pf_tls_established(t, peer, &proto, &cipher))
        return 0;
    *n = 0;
    if (proto.n && cipher.n && proto.n + 1 + cipher.n <= cap) {
        memcpy(buf, proto.p, proto.n);
        buf[proto.n] = ' ';
        memcpy(buf + proto.n + 1, cipher.p, cipher.n);
        *n = proto.n + 1 + cipher.n;
    }
    return 1;
}

/* ---- line handlers; each returns COF_OK and sets *used, or a callback error ---- */

typedef struct {
    cof_corr *c;
    const cof_pf_line *ln;
    uint64_t pos;
    cof_skip_reason skip; /* for handlers that find a truncated field */
} ctx;

static cof_status on_delivery(ctx *x, uint32_t mi, int *used)
{
    cof_corr *c = x->c;
    const cof_pf_line *ln = x->ln;
    cof_str rest = ln->text, f[COF_NFIELDS];
    cof_pf_kv kv;
    cof_status st;
    cof_str relay = COF_STR_NULL, delays = COF_STR_NULL, delay = COF_STR_NULL;
    int status = 0;
    memset(f, 0, sizeof f);
    while ((st = cof_pf_kv_next(&rest, &kv)) == COF_OK) {
        if (cof_str_eq_lit(kv.key, "to"))
            f[COF_F_RECIPIENT] = kv.val;
        else if (cof_str_eq_lit(kv.key, "orig_to"))
            f[COF_F_ORIG_RECIPIENT] = kv.val;
        else if (cof_str_eq_lit(kv.key, "relay"))
            relay = kv.val;
        else if (cof_str_eq_lit(kv.key, "delay"))
            delay = kv.val;
        else if (cof_str_eq_lit(kv.key, "delays"))
            delays = kv.val;
        else if (cof_str_eq_lit(kv.key, "dsn"))
            f[COF_F_DSN] = kv.val;
        else if (cof_str_eq_lit(kv.key, "status")) {
            cof_delivery_status s;
            if (cof_status_from_name(kv.val, &s) && s <= COF_ST_EXPIRED)
                status = (int)s;
            f[COF_F_RESPONSE] = kv.note;
        }
    }
    if (st == COF_BADINPUT) {
        x->skip = COF_SKIP_TRUNCATED;
        return COF_OK;
    }
    if (!status)
        return COF_OK; /* address verification probes ("deliverable") and the like */
    int outbound = cof_str_eq_lit(ln->service, "smtp") || cof_str_eq_lit(ln->service, "relay");
    uint16_t port = 0;
    /* as logged: "none" for a connection that failed, "local"/"virtual" for agents */
    cof_pf_split_peer(relay, &f[COF_F_RELAY_HOST], &f[COF_F_RELAY_IP], &port);
    char tls[S_TLS];
    /* only network agents log "TLS connection established to" */
    int net = outbound || cof_str_eq_lit(ln->service, "lmtp");
    uint32_t si = net && c->s_n ? sess_get(c, ln, x->pos, 0) : NONE;
    if (si != NONE && c->s[si].tls_n && cof_str_eq(cof_str_make(c->s[si].peer, c->s[si].peer_n), relay)) {
        memcpy(tls, c->s[si].tls, c->s[si].tls_n);
        f[COF_F_TLS] = cof_str_make(tls, c->s[si].tls_n);
    }
    msg *m = &c->m[mi];
    rcpt *r = rcpt_get(c, m, f[COF_F_RECIPIENT], f[COF_F_ORIG_RECIPIENT]);
    attempt *a;
    if ((st = att_add(c, ln, x->pos, mi, f, &a)) != COF_OK)
        return st;
    a->status = (uint8_t)status;
    a->relay_port = port;
    a->delay_ms = delay.n ? cof_pf_seconds_ms(delay) : COF_NO_DELAY;
    for (int i = 0; i < 4 && delays.n; i++) {
        const char *sl = memchr(delays.p, '/', delays.n);
        size_t k = sl ? (size_t)(sl - delays.p) : delays.n;
        a->delays_ms[i] = cof_pf_seconds_ms(cof_str_make(delays.p, k));
        delays = sl ? after(delays, sl + 1) : COF_STR_NULL;
    }
    if (outbound) {
        a->rule = D_FIXED;
        a->dir = COF_DIR_OUTBOUND;
        a->own_tls = 1;
    } else {
        a->rule = D_DELIVER;
    }
    if (r && (c->m[mi].flags & M_USED)) {
        r->st = (uint8_t)status;
        r->dir = outbound ? COF_DIR_OUTBOUND : 0;
    }
    *used = 1;
    return COF_OK;
}

/* qmgr "from=<s>, status=expired, returned to sender": one event per recipient not
 * yet finally delivered; completes the message. */
static cof_status on_expired(ctx *x, uint32_t mi)
{
    cof_corr *c = x->c;
    msg *m = &c->m[mi];
    cof_str f[COF_NFIELDS];
    cof_status st;
    int any = 0;
    for (uint32_t i = 0; i < m->nrc; i++) {
        m = &c->m[mi];
        rcpt r = m->rc[i];
        if (r.st == COF_ST_SENT || r.st == COF_ST_BOUNCED || r.st == COF_ST_EXPIRED)
            continue;
        memset(f, 0, sizeof f);
        /* att_add never touches this message's buffer: the slices stay valid */
        f[COF_F_RECIPIENT] = sp(m, r.addr);
        f[COF_F_ORIG_RECIPIENT] = sp(m, r.orig);
        attempt *a;
        if ((st = att_add(c, x->ln, x->pos, mi, f, &a)) != COF_OK)
            return st;
        a->status = COF_ST_EXPIRED;
        a->ready = 1;
        a->own_tls = 1; /* no connection carried an expiry */
        a->rule = r.dir ? D_FIXED : D_DELIVER;
        a->dir = r.dir;
        if (c->m[mi].flags & M_USED)
            c->m[mi].rc[i].st = COF_ST_EXPIRED;
        any = 1;
    }
    if (!any && m->nrc == 0) {
        memset(f, 0, sizeof f);
        attempt *a;
        if ((st = att_add(c, x->ln, x->pos, mi, f, &a)) != COF_OK)
            return st;
        a->status = COF_ST_EXPIRED;
        a->ready = 1;
        a->own_tls = 1;
        a->rule = D_DELIVER;
    }
    if (c->m[mi].flags & M_USED)
        c->m[mi].flags |= M_DONE;
    return COF_OK;
}

static cof_status on_qmgr(ctx *x, uint32_t mi, int *used)
{
    cof_corr *c = x->c;
    cof_str t = x->ln->text;
    if (cof_str_eq_lit(t, "removed")) {
        msg *m = &c->m[mi];
        m->flags |= M_DONE;
        msg_unlink(c, mi);
        *used = 1;
        if (m->npending == 0)
            return msg_release(c, mi);
        return COF_OK;
    }
    if (!cof_str_starts(t, "from="))
        return COF_OK;
    cof_str rest = t;
    cof_pf_kv kv;
    cof_status st;
    int expired = 0;
    while ((st = cof_pf_kv_next(&rest, &kv)) == COF_OK) {
        msg *m = &c->m[mi];
        uint64_t v;
        if (cof_str_eq_lit(kv.key, "from"))
            msg_set(c, m, COF_F_SENDER, kv.val);
        else if (cof_str_eq_lit(kv.key, "size") && cof_str_to_u64(kv.val, UINT64_MAX, &v))
            m->size = v;
        else if (cof_str_eq_lit(kv.key, "nrcpt") && cof_str_to_u64(kv.val, UINT32_MAX, &v))
            m->nrcpt = (uint32_t)v;
        else if (cof_str_eq_lit(kv.key, "status") && cof_str_eq_lit(kv.val, "expired"))
            expired = 1;
    }
    if (st == COF_BADINPUT) {
        x->skip = COF_SKIP_TRUNCATED;
        return COF_OK;
    }
    *used = 1;
    return expired ? on_expired(x, mi) : COF_OK;
}

/* smtpd or cleanup reject/discard/hold (mi may be NONE for NOQUEUE). */
static cof_status on_action(ctx *x, uint32_t mi, const cof_pf_action *ac, int is_cleanup,
                            int *used)
{
    cof_corr *c = x->c;
    cof_str f[COF_NFIELDS], subject = ac->subject;
    int status = ac->status;
    memset(f, 0, sizeof f);
    f[COF_F_CLIENT_HOST] = ac->client_host;
    f[COF_F_CLIENT_IP] = ac->client_ip;
    f[COF_F_SENDER] = ac->sender;
    f[COF_F_RECIPIENT] = ac->recipient;
    f[COF_F_RESPONSE] = ac->response;
    f[COF_F_DSN] = ac->dsn;
    cof_status st;
    char ssm[S_SM], ssu[S_SU], stls[S_TLS];
    if (mi == NONE) {
        /* no message: the event carries the line's own identity and session facts */
        f[COF_F_HOST] = x->ln->host;
        f[COF_F_INSTANCE] = x->ln->instance;
        uint32_t si = sess_get(c, x->ln, x->pos, 0);
        if (si != NONE) {
            const sess *s = &c->s[si];
            memcpy(ssm, s->sm, s->sm_n);
            memcpy(ssu, s->su, s->su_n);
            memcpy(stls, s->tls, s->tls_n);
            f[COF_F_SASL_METHOD] = cof_str_make(ssm, s->sm_n);
            f[COF_F_SASL_USERNAME] = cof_str_make(ssu, s->su_n);
            f[COF_F_TLS] = cof_str_make(stls, s->tls_n);
        }
    } else {
        msg *m = &c->m[mi];
        if (is_cleanup && subject.n)
            msg_set(c, m, COF_F_SUBJECT, subject);
        msg_set(c, m, COF_F_SENDER, f[COF_F_SENDER]);
        if (f[COF_F_CLIENT_HOST].n && !cof_str_eq_lit(f[COF_F_CLIENT_HOST], "local")) {
            msg_set(c, m, COF_F_CLIENT_HOST, f[COF_F_CLIENT_HOST]);
            msg_set(c, m, COF_F_CLIENT_IP, f[COF_F_CLIENT_IP]);
        }
        f[COF_F_CLIENT_HOST] = f[COF_F_CLIENT_IP] = f[COF_F_SENDER] = COF_STR_NULL;
    }
    /* cleanup: the whole message -> one event per known recipient (else the line's) */
    uint32_t n = 0;
    if (is_cleanup && mi != NONE)
        n = c->m[mi].nrc;
    attempt *a;
    if (n == 0) {
        if ((st = att_add(c, x->ln, x->pos, mi, f, &a)) != COF_OK)
            return st;
        a->status = (uint8_t)status;
        a->ready = 1;
        a->rule = D_REJECT;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (mi != NONE && !(c->m[mi].flags & M_USED))
            break;
        const msg *m = &c->m[mi];
        f[COF_F_RECIPIENT] = sp(m, m->rc[i].addr);
        f[COF_F_ORIG_RECIPIENT] = sp(m, m->rc[i].orig);
        if ((st = att_add(c, x->ln, x->pos, mi, f, &a)) != COF_OK)
            return st;
        a->status = (uint8_t)status;
        a->ready = 1;
        a->rule = D_REJECT;
    }
    /* a cleanup reject or discard ends the message without a qmgr "removed" */
    if (is_cleanup && mi != NONE && status != COF_ST_HELD && (c->m[mi].flags & M_USED)) {
        c->m[mi].flags |= M_DONE;
        msg_unlink(c, mi);
        if (c->m[mi].npending == 0 && (st = msg_release(c, mi)) != COF_OK)
            return st;
    }
    *used = 1;
    return COF_OK;
}

static cof_status on_smtpd(ctx *x, int *used)
{
    cof_corr *c = x->c;
    const cof_pf_line *ln = x->ln;
    cof_str t = ln->text, rest;
    cof_status st;
    if (ln->queue_id.n == 0) {
        if (cof_str_starts(t, "connect from ")) {
            uint32_t si = sess_get(c, ln, x->pos, 1);
            if (si != NONE) {
                sess *s = &c->s[si];
                s->pos = x->pos; /* a reused pid starts over */
                list_del(&c->sage, c->s_age, si);
                list_push(&c->sage, c->s_age, si);
                s->tls_n = s->sm_n = s->su_n = 0;
                sput(s->peer, &s->peer_n, S_PEER, skip_lit(t, "connect from "));
            }
            *used = 1;
        } else if (cof_str_starts(t, "disconnect from ")) {
            uint32_t si = sess_get(c, ln, x->pos, 0);
            if (si != NONE)
                sess_del(c, si);
            *used = 1;
        } else {
            cof_str peer;
            char buf[S_TLS];
            size_t n;
            if (tls_of(t, &peer, buf, sizeof buf, &n)) {
                uint32_t si = sess_get(c, ln, x->pos, 1);
                if (si != NONE)
                    sput(c->s[si].tls, &c->s[si].tls_n, S_TLS, cof_str_make(buf, n));
                *used = 1;
            }
        }
        return COF_OK;
    }
    int noq = cof_str_eq_lit(ln->queue_id, "NOQUEUE");
    cof_pf_action ac;
    if ((st = cof_pf_action_parse(t, &ac)) != COF_AGAIN) {
        uint32_t mi = NONE;
        if (st != COF_OK) {
            x->skip = COF_SKIP_TRUNCATED;
            return COF_OK;
        }
        if (!noq && (st = msg_get(c, ln, ln->queue_id, x->pos, 1, &mi)) != COF_OK)
            return st;
        return on_action(x, mi, &ac, 0, used);
    }
    if (noq || !cof_str_starts(t, "client="))
        return COF_OK;
    uint32_t mi;
    if ((st = msg_get(c, ln, ln->queue_id, x->pos, 1, &mi)) != COF_OK)
        return st;
    msg *m = &c->m[mi];
    m->flags |= M_SMTPD;
    cof_pf_kv kv;
    cof_str sm = COF_STR_NULL, su = COF_STR_NULL;
    rest = t;
    while ((st = cof_pf_kv_next(&rest, &kv)) == COF_OK) {
        if (cof_str_eq_lit(kv.key, "client")) {
            cof_str h, ip;
            uint16_t port;
            cof_pf_split_peer(kv.val, &h, &ip, &port);
            msg_set(c, m, COF_F_CLIENT_HOST, h);
            msg_set(c, m, COF_F_CLIENT_IP, ip);
        } else if (cof_str_eq_lit(kv.key, "sasl_method")) {
            sm = kv.val;
        } else if (cof_str_eq_lit(kv.key, "sasl_username")) {
            su = kv.val;
        }
    }
    msg_set(c, m, COF_F_SASL_METHOD, sm);
    msg_set(c, m, COF_F_SASL_USERNAME, su);
    uint32_t si = sess_get(c, ln, x->pos, 0);
    if (si != NONE) {
        sess *s = &c->s[si];
        msg_set(c, m, COF_F_TLS, cof_str_make(s->tls, s->tls_n));
        if (su.n) {
            sput(s->sm, &s->sm_n, S_SM, sm);
            sput(s->su, &s->su_n, S_SU, su);
        }
    }
    *used = 1;
    return COF_OK;
}

static cof_status on_cleanup(ctx *x, int *used)
{
    cof_corr *c = x->c;
    const cof_pf_line *ln = x->ln;
    cof_str t = ln->text;
    cof_pf_action ac;
    cof_status st;
    uint32_t mi;
    if (ln->queue_id.n == 0 || cof_str_eq_lit(ln->queue_id, "NOQUEUE"))
        return COF_OK;
    if (cof_str_starts(t, "message-id=")) {
        cof_str v = skip_lit(t, "message-id="); /* kept as logged, <angle brackets> too */
        if ((st = msg_get(c, ln, ln->queue_id, x->pos, 1, &mi)) != COF_OK)
            return st;
        msg_set(c, &c->m[mi], COF_F_MESSAGE_ID, v);
        *used = 1;
        return COF_OK;
    }
    if (cof_str_starts(t, "warning: header Subject: ") || cof_str_starts(t, "info: header Subject: ")) {
        cof_str h = skip_lit(t, cof_str_starts(t, "info: ") ? "info: " : "warning: ");
        memset(&ac, 0, sizeof ac);
        if ((st = cof_pf_action_body(h, &ac)) != COF_OK) {
            x->skip = st == COF_BADINPUT ? COF_SKIP_TRUNCATED : COF_SKIP_UNKNOWN;
            return COF_OK;
        }
        if ((st = msg_get(c, ln, ln->queue_id, x->pos, 1, &mi)) != COF_OK)
            return st;
        msg_set(c, &c->m[mi], COF_F_SUBJECT, ac.subject);
        *used = 1;
        return COF_OK;
    }
    if ((st = cof_pf_action_parse(t, &ac)) != COF_AGAIN) {
        if (st != COF_OK) {
            x->skip = COF_SKIP_TRUNCATED;
            return COF_OK;
        }
        if ((st = msg_get(c, ln, ln->queue_id, x->pos, 1, &mi)) != COF_OK)
            return st;
        return on_action(x, mi, &ac, 1, used);
    }
    return COF_OK;
}

static cof_status on_queue_line(ctx *x, int *used)
{
    cof_corr *c = x->c;
    const cof_pf_line *ln = x->ln;
    cof_str svc = ln->service, t = ln->text;
    cof_status st;
    uint32_t mi;
    if (cof_str_eq_lit(svc, "smtpd"))
        return on_smtpd(x, used);
    if (cof_str_eq_lit(svc, "cleanup"))
        return on_cleanup(x, used);
    if (ln->queue_id.n == 0 || cof_str_eq_lit(ln->queue_id, "NOQUEUE")) {
        /* delivery agents: TLS facts for the pid's next deliveries */
        cof_str peer;
        char buf[S_TLS];
        size_t n;
        if (cof_pf_find(t, " TLS connection established to ") &&
            tls_of(t, &peer, buf, sizeof buf, &n)) {
            uint32_t si = sess_get(c, ln, x->pos, 1);
            if (si != NONE) {
                sput(c->s[si].peer, &c->s[si].peer_n, S_PEER, peer);
                sput(c->s[si].tls, &c->s[si].tls_n, S_TLS, cof_str_make(buf, n));
            }
            *used = 1;
        }
        return COF_OK;
    }
    if (cof_str_starts(t, "to=<")) {
        if ((st = msg_get(c, ln, ln->queue_id, x->pos, 1, &mi)) != COF_OK)
            return st;
        return on_delivery(x, mi, used);
    }
    if (cof_str_eq_lit(svc, "qmgr") || cof_str_eq_lit(svc, "nqmgr")) {
        int create = !cof_str_eq_lit(t, "removed");
        if ((st = msg_get(c, ln, ln->queue_id, x->pos, create, &mi)) != COF_OK)
            return st;
        if (mi == NONE) {
            *used = 1; /* "removed" of a message we never saw */
            return COF_OK;
        }
        return on_qmgr(x, mi, used);
    }
    if (cof_str_eq_lit(svc, "pickup") && cof_str_starts(t, "uid=")) {
        if ((st = msg_get(c, ln, ln->queue_id, x->pos, 1, &mi)) != COF_OK)
            return st;
        c->m[mi].flags |= M_PICKUP;
        /* "uid=1000 from=<u>" is space separated, not a ", " list */
        const char *fr = cof_pf_find(t, " from=<");
        if (fr) {
            cof_str v = after(t, fr + 7);
            if (v.n && v.p[v.n - 1] == '>')
                msg_set(c, &c->m[mi], COF_F_SENDER, cof_str_make(v.p, v.n - 1));
        }
        *used = 1;
        return COF_OK;
    }
    if (cof_str_eq_lit(svc, "bounce")) {
        const char *nt = cof_pf_rfind(t, "notification: ");
        if (!nt)
            return COF_OK;
        cof_str q2 = after(t, nt + 14);
        if (!cof_pf_is_queue_id(q2))
            return COF_OK;
        if ((st = msg_get(c, ln, q2, x->pos, 1, &mi)) != COF_OK)
            return st;
        msg_set(c, &c->m[mi], COF_F_BOUNCE_OF, ln->queue_id);
        *used = 1;
        return COF_OK;
    }
    return COF_OK;
}

/* ---- idle expiry ---- */

static cof_status expire_idle(cof_corr *c)
{
    cof_status st;
    int64_t idle = (int64_t)c->o.idle_seconds * US;
    while (c->lru.head != NONE) {
        uint32_t mi = c->lru.head;
        if (c->now_us - c->m[mi].last_us <= idle)
            break;
        if ((st = msg_drop(c, mi)) != COF_OK)
            return st;
    }
    int64_t sidle = (int64_t)COF_SESSION_IDLE_SECONDS * US;
    while (c->slru.head != NONE && c->now_us - c->s[c->slru.head].last_us > sidle)
        sess_del(c, c->slru.head);
    return COF_OK;
}

/* ---- public ---- */

cof_status cof_corr_new(const cof_corr_opts *o, cof_event_fn fn, void *ctx_, cof_corr **out)
{
    cof_status st;
    *out = NULL;
    if (!fn)
        return COF_ERR(COF_BADINPUT, "correlator: no event callback");
    cof_corr *c = calloc(1, sizeof *c);
    if (!c)
        return COF_ERR(COF_NOMEM, "correlator");
    if (o)
        c->o = *o;
    else
        cof_corr_opts_default(&c->o);
    if (c->o.max_open == 0 || c->o.max_open > COF_MAX_OPEN_MESSAGES)
        c->o.max_open = COF_MAX_OPEN_MESSAGES;
    if (c->o.max_pending == 0)
        c->o.max_pending = 262144;
    if (c->o.max_pending > (1u << 24))
        c->o.max_pending = 1u << 24;
    if (c->o.idle_seconds == 0)
        c->o.idle_seconds = 6 * 86400;
    c->fn = fn;
    c->ctx = ctx_;
    if (getrandom(c->hkey, sizeof c->hkey, 0) != (ssize_t)sizeof c->hkey) {
        st = COF_ERRNO("correlator: getrandom");
        goto fail;
    }
    cof_pf_clock_init(&c->clk, c->o.year, c->o.now_us);
    c->now_us = INT64_MIN / 2;
    c->m_free = c->s_free = NONE;
    c->lru.head = c->lru.tail = c->age.head = c->age.tail = NONE;
    c->slru.head = c->slru.tail = c->sage.head = c->sage.tail = NONE;
    c->max_chunk = COF_MAX_PENDING_BYTES / CHUNK;
    c->chunk = calloc(c->max_chunk, sizeof *c->chunk);
    c->chunk_live = calloc(c->max_chunk, sizeof *c->chunk_live);
    c->chunk_free = calloc(c->max_chunk, sizeof *c->chunk_free);
    if (!c->chunk || !c->chunk_live || !c->chunk_free) {
        st = COF_ERR(COF_NOMEM, "correlator");
        goto fail;
    }
    if ((st = ht_init(&c->mt, c->o.max_open)) != COF_OK ||
        (st = ht_init(&c->stab, 64)) != COF_OK) /* grows to 2 * COF_MAX_SESSIONS */
        goto fail;
    *out = c;
    return COF_OK;
fail:
    cof_corr_free(c);
    return st;
}

void cof_corr_free(cof_corr *c)
{
    if (!c)
        return;
    for (uint32_t i = 0; i < c->m_cap; i++) {
        free(c->m[i].buf);
        free(c->m[i].rc);
    }
    free(c->m);
    free(c->m_lru);
    free(c->m_age);
    free(c->mt.s);
    free(c->s);
    free(c->s_lru);
    free(c->s_age);
    free(c->stab.s);
    free(c->a);
    for (uint32_t i = 0; i < c->nchunk; i++)
        free(c->chunk[i]);
    free(c->chunk);
    free(c->chunk_live);
    free(c->chunk_free);
    free(c);
}

cof_status cof_corr_feed(cof_corr *c, cof_str line, uint64_t pos, cof_skip_reason *skip)
{
    cof_pf_line ln;
    cof_status st;
    *skip = COF_SKIP_NONE;
    if (c->have_pos && pos <= c->last_pos)
        return COF_ERR(COF_BADINPUT, "correlator: line positions must increase");
    c->have_pos = 1;
    c->last_pos = pos;
    c->st.lines++;
    c->line_idx = 0;
    if (cof_pf_parse(&c->clk, line, &ln, skip) != COF_OK) {
        c->st.skipped[*skip]++;
        return COF_OK;
    }
    if (ln.time_us > c->now_us)
        c->now_us = ln.time_us;
    if ((st = release_ready(c)) != COF_OK || (st = expire_idle(c)) != COF_OK)
        return st;
    ctx x = { c, &ln, pos, COF_SKIP_NONE };
    int used = 0;
    if ((st = on_queue_line(&x, &used)) != COF_OK)
        return st;
    while (c->msg_bytes > COF_MAX_CORR_BYTES && c->m_n > 1) {
        uint32_t before = c->m_n;
        if ((st = evict_one(c, c->lru.tail)) != COF_OK)
            return st;
        if (c->m_n == before)
            break;
    }
    if (!used)
        *skip = x.skip != COF_SKIP_NONE ? x.skip : COF_SKIP_UNKNOWN;
    if (*skip != COF_SKIP_NONE)
        c->st.skipped[*skip]++;
    return release_ready(c);
}

cof_status cof_corr_flush(cof_corr *c)
{
    while (c->a_n) {
        cof_status st = pop_head(c);
        if (st != COF_OK)
            return st;
    }
    return COF_OK;
}

uint64_t cof_corr_low_water(const cof_corr *c, uint64_t next_pos)
{
    return c->a_n ? c->a[c->a_head].pos : next_pos;
}

uint64_t cof_corr_oldest_open(const cof_corr *c, uint64_t next_pos)
{
    uint64_t p = next_pos;
    if (c->age.head != NONE && c->m[c->age.head].first_pos < p)
        p = c->m[c->age.head].first_pos;
    if (c->sage.head != NONE && c->s[c->sage.head].pos < p)
        p = c->s[c->sage.head].pos;
    return p;
}

void cof_corr_stats_get(const cof_corr *c, cof_corr_stats *out)
{
    *out = c->st;
    out->open_messages = c->m_n;
    out->pending = c->a_n;
}
