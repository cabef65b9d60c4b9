/* query.c - trail lookups and delivery statistics. */
#include "query.h"

#include <stdio.h>
#include <stdlib.h>

#include <sodium.h>

#include "bounds.h"
#include "progress.h"
#include "seal.h"

/* ---------------------------------------------------------------- trail */

typedef struct {
    cof_store *s;
    const cof_trail_query *q;
    cof_trail *out;
    size_t cap, limit;
    uint32_t *rows;
    size_t rows_cap;
    cof_status err;
    const cof_seg_info *info;
} trail_ctx;

/* Copy a record so that its strings are owned by one allocation. */
static cof_status own_record(const cof_record *r, cof_trail_event *dst, void ***blocks,
                             size_t *nblocks)
{
    size_t total = 0;
    for (int f = 0; f < COF_NFIELDS; f++)
        total += r->clear[f].n + r->sealed[f].n;
    char *mem = malloc(total ? total : 1);
    void **nb = realloc(*blocks, (*nblocks + 1) * sizeof *nb);
    if (!mem || !nb) {
        free(mem);
        if (nb)
            *blocks = nb;
        return COF_ERR(COF_NOMEM, "out of memory");
    }
    *blocks = nb;
    (*blocks)[(*nblocks)++] = mem;
    dst->r = *r;
    for (int f = 0; f < COF_NFIELDS; f++) {
        if (r->clear[f].n) {
            memcpy(mem, r->clear[f].p, r->clear[f].n);
            dst->r.clear[f] = cof_str_make(mem, r->clear[f].n);
            mem += r->clear[f].n;
        }
        if (r->sealed[f].n) {
            memcpy(mem, r->sealed[f].p, r->sealed[f].n);
            dst->r.sealed[f] = cof_str_make(mem, r->sealed[f].n);
            mem += r->sealed[f].n;
        }
    }
    return COF_OK;
}

typedef struct {
    void **blocks;
    size_t nblocks;
} trail_mem;

static cof_status trail_row(void *ctx, uint32_t row, const cof_record *r)
{
    trail_ctx *t = ctx;
    if (r->time_us < t->q->since || r->time_us >= t->q->until)
        return COF_OK;
    if (t->out->n >= t->limit) {
        t->out->truncated = 1;
        return COF_OK;
    }
    if (t->out->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        cof_trail_event *n = realloc(t->out->ev, cap * sizeof *n);
        if (!n)
            return COF_ERR(COF_NOMEM, "out of memory");
        t->out->ev = n;
        t->cap = cap;
    }
    trail_mem *m = t->out->mem;
    cof_trail_event *e = &t->out->ev[t->out->n];
    cof_status st = own_record(r, e, &m->blocks, &m->nblocks);
    if (st)
        return st;
    e->seg_id = t->info->seg_id;
    e->row = row;
    t->out->n++;
    return COF_OK;
}

static cof_status trail_seg(void *ctx, const cof_seg_info *info, cof_seg *seg)
{
    trail_ctx *t = ctx;
    const cof_trail_query *q = t->q;
    const cof_config *cfg = cof_store_config(t->s);
    cof_keyring *kr = cof_store_keyring(t->s);
    uint8_t pol = cof_config_policy(cfg, info->tenant, q->field);
    size_t n = 0;
    cof_status st;
    t->info = info;
    t->out->segments_read++;
    for (;;) {
        if (pol & (COF_P_SEAL | COF_P_BLIND)) {
            const uint8_t *bk;
            uint8_t tok[COF_TOKEN_LEN];
            if (!kr)
                return COF_ERR(COF_DENIED, "searching a sealed field needs the master key");
            if ((st = cof_keyring_blind_key(kr, info->tenant, &bk)) ||
                (st = cof_seal_token(bk, q->field, q->value, tok)))
                return st;
            st = cof_seg_lookup(seg, q->field, tok, t->rows, t->rows_cap, &n);
            sodium_memzero(tok, sizeof tok);
        } else if (pol & COF_P_KEEP) {
            st = cof_seg_lookup_clear(seg, q->field, cof_str_trim(q->value), t->rows, t->rows_cap,
                                      &n);
        } else {
            return COF_OK; /* dropped, or only a domain/prefix kept: no exact match */
        }
        if (st)
            return st;
        if (n <= t->rows_cap)
            break;
        uint32_t *nr = realloc(t->rows, n * sizeof *nr);
        if (!nr)
            return COF_ERR(COF_NOMEM, "out of memory");
        t->rows = nr;
        t->rows_cap = n;
    }
    if (!n)
        return COF_OK;
    const uint8_t *key = NULL;
    if (q->unseal && kr) {
        st = cof_keyring_data_key(kr, info->tenant, info->day, 0, &key);
        if (st == COF_NOTFOUND)
            key = NULL; /* shredded: clear columns only */
        else if (st)
            return st;
    }
    return cof_seg_get_notokens(seg, key, t->rows, n, trail_row, t);
}

static int str_cmp(cof_str a, cof_str b)
{
    size_t m = a.n < b.n ? a.n : b.n;
    int c = m ? memcmp(a.p, b.p, m) : 0;
    return c ? c : (a.n > b.n) - (a.n < b.n);
}

static int same_message(const cof_record *a, const cof_record *b)
{
    return cof_str_eq(a->clear[COF_F_QUEUE_ID], b->clear[COF_F_QUEUE_ID]) &&
           cof_str_eq(a->clear[COF_F_HOST], b->clear[COF_F_HOST]) &&
           cof_str_eq(a->clear[COF_F_INSTANCE], b->clear[COF_F_INSTANCE]);
}

static int cmp_msg_time(const void *x, const void *y)
{
    const cof_record *a = &((const cof_trail_event *)x)->r, *b = &((const cof_trail_event *)y)->r;
    int c = str_cmp(a->clear[COF_F_HOST], b->clear[COF_F_HOST]);
    if (!c) c = str_cmp(a->clear[COF_F_INSTANCE], b->clear[COF_F_INSTANCE]);
    if (!c) c = str_cmp(a->clear[COF_F_QUEUE_ID], b->clear[COF_F_QUEUE_ID]);
    if (!c) c = (a->time_us > b->time_us) - (a->time_us < b->time_us);
    return c;
}

typedef struct {
    size_t start, n;
    int64_t first;
} span;

static int cmp_span(const void *x, const void *y)
{
    const span *a = x, *b = y;
    if (a->first != b->first)
        return a->first < b->first ? -1 : 1;
    return (a->start > b->start) - (a->start < b->start);
}

/* Group by message (queue ids are reused, so a message is a run of one queue id whose
 * events are within a week of each other), groups oldest first. */
static cof_status group_trail(cof_trail *t)
{
    if (t->n < 2)
        return COF_OK;
    qsort(t->ev, t->n, sizeof *t->ev, cmp_msg_time);
    span *sp = malloc(t->n * sizeof *sp);
    cof_trail_event *out = malloc(t->n * sizeof *out);
    if (!sp || !out) {
        free(sp);
        free(out);
        return COF_ERR(COF_NOMEM, "out of memory");
    }
    size_t ns = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (i == 0 || !same_message(&t->ev[i].r, &t->ev[i - 1].r) ||
            t->ev[i].r.time_us - t->ev[i - 1].r.time_us > 7 * 86400000000LL ||
            t->ev[i].r.clear[COF_F_QUEUE_ID].n == 0)
            sp[ns++] = (span){ i, 0, t->ev[i].r.time_us };
        sp[ns - 1].n++;
    }
    qsort(sp, ns, sizeof *sp, cmp_span);
    size_t k = 0;
    for (size_t i = 0; i < ns; i++)
        for (size_t j = 0; j < sp[i].n; j++)
            out[k++] = t->ev[sp[i].start + j];
    free(t->ev);
    t->ev = out;
    free(sp);
    return COF_OK;
}

cof_status cof_query_trail(cof_store *s, const cof_trail_query *q, cof_trail *out)
{
    memset(out, 0, sizeof *out);
    if (q->value.n == 0 || q->value.n > COF_MAX_FIELD)
        return COF_ERR(COF_BADINPUT, "the search value must be 1 to %d bytes", COF_MAX_FIELD);
    switch (q->field) {
    case COF_F_RECIPIENT: case COF_F_SENDER: case COF_F_MESSAGE_ID: case COF_F_QUEUE_ID:
    case COF_F_SASL_USERNAME: case COF_F_CLIENT_IP: case COF_F_ORIG_RECIPIENT:
        break;
    default:
        return COF_ERR(COF_BADINPUT, "cannot search by %s", cof_field_name(q->field));
    }
    out->mem = calloc(1, sizeof(trail_mem));
    if (!out->mem)
        return COF_ERR(COF_NOMEM, "out of memory");
    trail_ctx t = { .s = s, .q = q, .out = out,
                    .limit = q->limit ? q->limit : COF_MAX_TRAIL_EVENTS };
    t.rows_cap = 1024;
    t.rows = malloc(t.rows_cap * sizeof *t.rows);
    if (!t.rows)
        return COF_ERR(COF_NOMEM, "out of memory");
    cof_status st = cof_store_each_segment(s, q->tenant, q->since, q->until, trail_seg, NULL, &t);
    free(t.rows);
    if (!st)
        st = group_trail(out);
    return st;
}

void cof_trail_free(cof_trail *t)
{
    trail_mem *m = t->mem;
    if (m) {
        for (size_t i = 0; i < m->nblocks; i++)
            free(m->blocks[i]);
        free(m->blocks);
        free(m);
    }
    if (t->ev)
        sodium_memzero(t->ev, t->n * sizeof *t->ev);
    free(t->ev);
    memset(t, 0, sizeof *t);
}

void cof_query_mask(cof_field f, cof_str sealed, cof_str clear, char *out, size_t cap)
{
    int addr = f == COF_F_SENDER || f == COF_F_RECIPIENT || f == COF_F_ORIG_RECIPIENT ||
               f == COF_F_SASL_USERNAME;
    if (addr && sealed.n) {
        const char *at = memchr(sealed.p, '@', sealed.n);
        size_t dl = at ? sealed.n - (size_t)(at - sealed.p) : 0;
        snprintf(out, cap, "%c***%.*s", sealed.p[0] == '@' ? '*' : sealed.p[0], (int)dl,
                 at ? at : "");
        return;
    }
    if (addr && clear.n) {
        snprintf(out, cap, "***@%.*s", (int)clear.n, clear.p);
        return;
    }
    if (clear.n) { /* a network prefix */
        snprintf(out, cap, "%.*s", (int)clear.n, clear.p);
        return;
    }
    snprintf(out, cap, "%s", (sealed.n) ? "***" : "");
}
