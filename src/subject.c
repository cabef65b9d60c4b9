/* subject.c - data-subject find and erase (see subject.h). */
#include "subject.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "bounds.h"

const cof_field cof_subject_fields[COF_SUBJECT_NFIELDS] = {
    COF_F_RECIPIENT, COF_F_ORIG_RECIPIENT, COF_F_SENDER, COF_F_SASL_USERNAME
};

const char *const cof_subject_category_names[COF_SUBJECT_NCATEGORIES] = {
    "recipient address", "sender address", "client IP", "SASL username", "subject",
    "message-id", "delivery metadata"
};

typedef struct {
    cof_trail *trails; /* one per (tenant, field) */
    size_t ntrails;
    char (*names)[COF_MAX_TENANT_NAME + 1];
} subject_mem;

static int cmp_identity(const void *x, const void *y)
{
    const cof_subject_event *a = x, *b = y;
    int c = strcmp(a->tenant, b->tenant);
    if (c)
        return c;
    if (a->e.seg_id != b->e.seg_id)
        return a->e.seg_id < b->e.seg_id ? -1 : 1;
    return (a->e.row > b->e.row) - (a->e.row < b->e.row);
}

static int cmp_time(const void *x, const void *y)
{
    const cof_subject_event *a = x, *b = y;
    if (a->e.r.time_us != b->e.r.time_us)
        return a->e.r.time_us < b->e.r.time_us ? -1 : 1;
    return cmp_identity(x, y);
}

static cof_status check_tenants(const char *const *tenants, size_t ntenants)
{
    if (ntenants > COF_SUBJECT_MAX_TENANTS)
        return COF_ERR(COF_LIMIT, "more than %d tenants in one request", COF_SUBJECT_MAX_TENANTS);
    for (size_t i = 0; i < ntenants; i++)
        if (!cof_tenant_name_valid(cof_str_c(tenants[i])))
            return COF_ERR(COF_BADINPUT, "invalid tenant name");
    return COF_OK;
}

cof_status cof_subject_find(cof_store *s, const char *const *tenants, size_t ntenants,
                            cof_str address, int unseal, cof_subject_result *out)
{
    memset(out, 0, sizeof *out);
    cof_status st = check_tenants(tenants, ntenants);
    if (st)
        return st;
    subject_mem *m = calloc(1, sizeof *m);
    if (!m)
        return COF_ERR(COF_NOMEM, "out of memory");
    out->mem = m;
    m->trails = calloc(ntenants * COF_SUBJECT_NFIELDS + 1, sizeof *m->trails);
    m->names = calloc(ntenants + 1, sizeof *m->names);
    if (!m->trails || !m->names)
        return COF_ERR(COF_NOMEM, "out of memory");
    size_t total = 0;
    for (size_t t = 0; t < ntenants; t++) {
        snprintf(m->names[t], sizeof m->names[t], "%s", tenants[t]);
        for (size_t f = 0; f < COF_SUBJECT_NFIELDS; f++) {
            cof_trail_query q;
            memset(&q, 0, sizeof q);
            q.field = cof_subject_fields[f];
            q.value = address;
            q.since = INT64_MIN;
            q.until = INT64_MAX;
            q.tenant = m->names[t];
            q.unseal = unseal;
            cof_trail *tr = &m->trails[m->ntrails++];
            if ((st = cof_query_trail(s, &q, tr)))
                return st;
            if (tr->truncated)
                out->truncated = 1;
            total += tr->n;
        }
    }
    out->ev = calloc(total + 1, sizeof *out->ev);
    if (!out->ev)
        return COF_ERR(COF_NOMEM, "out of memory");
    for (size_t i = 0; i < m->ntrails; i++) {
        const cof_trail *tr = &m->trails[i];
        for (size_t j = 0; j < tr->n; j++) {
            cof_subject_event *e = &out->ev[out->n++];
            e->e = tr->ev[j];
            e->tenant = m->names[i / COF_SUBJECT_NFIELDS];
            e->matched = 1u << (i % COF_SUBJECT_NFIELDS);
        }
    }
    /* One event can carry the address in several fields (mail to oneself): once. */
    qsort(out->ev, out->n, sizeof *out->ev, cmp_identity);
    size_t w = 0;
    for (size_t i = 0; i < out->n; i++) {
        if (w && cmp_identity(&out->ev[w - 1], &out->ev[i]) == 0)
            out->ev[w - 1].matched |= out->ev[i].matched;
        else
            out->ev[w++] = out->ev[i];
    }
    out->n = w;
    qsort(out->ev, out->n, sizeof *out->ev, cmp_time);
    return COF_OK;
}

void cof_subject_result_free(cof_subject_result *r)
{
    subject_mem *m = r->mem;
    if (m) {
        for (size_t i = 0; i < m->ntrails; i++)
            cof_trail_free(&m->trails[i]);
        free(m->trails);
        free(m->names);
        free(m);
    }
    if (r->ev)
        sodium_memzero(r->ev, r->n * sizeof *r->ev);
    free(r->ev);
    memset(r, 0, sizeof *r);
}

uint32_t cof_subject_categories(const cof_subject_result *r)
{
    uint32_t c = 0;
    for (size_t i = 0; i < r->n; i++) {
        const cof_record *x = &r->ev[i].e.r;
        for (int f = 0; f < COF_NFIELDS; f++) {
            if (!x->sealed[f].n && !x->clear[f].n)
                continue;
            switch ((cof_field)f) {
            case COF_F_RECIPIENT: case COF_F_ORIG_RECIPIENT: c |= 1u << 0; break;
            case COF_F_SENDER: c |= 1u << 1; break;
            case COF_F_CLIENT_IP: case COF_F_CLIENT_HOST: c |= 1u << 2; break;
            case COF_F_SASL_USERNAME: c |= 1u << 3; break;
            case COF_F_SUBJECT: c |= 1u << 4; break;
            case COF_F_MESSAGE_ID: c |= 1u << 5; break;
            default: c |= 1u << 6; break;
            }
        }
    }
    return c;
}

/* ---------------------------------------------------------------- erase */

typedef struct {
    uint64_t seg_id;
    uint32_t row;
} seg_row;

static int cmp_seg_row(const void *x, const void *y)
{
    const seg_row *a = x, *b = y;
    if (a->seg_id != b->seg_id)
        return a->seg_id < b->seg_id ? -1 : 1;
    return (a->row > b->row) - (a->row < b->row);
}

/* One pass over one tenant: find (sealed fields stay sealed), rewrite each segment
 * that holds a match. *found: matches seen in this pass. */
static cof_status erase_pass(cof_store *s, const char *tenant, cof_str address,
                             cof_subject_erased *o, uint64_t *found, int *truncated)
{
    cof_subject_result r;
    seg_row *rows = NULL;
    uint32_t *drop = NULL;
    cof_status st = cof_subject_find(s, &tenant, 1, address, 0, &r);
    *found = r.n;
    *truncated = r.truncated;
    if (st || !r.n)
        goto out;
    rows = malloc(r.n * sizeof *rows);
    drop = malloc(r.n * sizeof *drop);
    if (!rows || !drop) {
        st = COF_ERR(COF_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < r.n; i++)
        rows[i] = (seg_row){ r.ev[i].e.seg_id, r.ev[i].e.row };
    qsort(rows, r.n, sizeof *rows, cmp_seg_row);
    for (size_t i = 0; i < r.n && !st;) {
        size_t j = i, nd = 0;
        for (; j < r.n && rows[j].seg_id == rows[i].seg_id; j++)
            drop[nd++] = rows[j].row; /* unique and ascending: find deduplicated */
        uint64_t new_id = 0;
        st = cof_store_rewrite_segment(s, rows[i].seg_id, drop, nd, &new_id);
        if (!st) {
            o->events += nd;
            if (new_id)
                o->segments_rewritten++;
            else
                o->segments_removed++;
        }
        i = j;
    }
out:
    free(rows);
    free(drop);
    cof_subject_result_free(&r);
    return st;
}

cof_status cof_subject_erase(cof_store *s, const char *const *tenants, size_t ntenants,
                             cof_str address, cof_subject_erased *out)
{
    cof_status st = check_tenants(tenants, ntenants);
    if (st)
        return st;
    for (size_t t = 0; t < ntenants; t++) {
        memset(&out[t], 0, sizeof out[t]);
        snprintf(out[t].tenant, sizeof out[t].tenant, "%s", tenants[t]);
    }
    /* Rows in the WAL and the memtable go to segments first, where the rewrite
     * reaches them; the flush also prunes the WAL files that held them. */
    if ((st = cof_store_commit(s)) || (st = cof_store_flush(s)))
        return st;
    cof_store_hold_merges(s); /* the row ids found must still name the same rows */
    for (size_t t = 0; t < ntenants && !st; t++) {
        uint64_t found = 0;
        int truncated = 1;
        for (int pass = 0; pass < COF_SUBJECT_MAX_PASSES && truncated && !st; pass++)
            st = erase_pass(s, tenants[t], address, &out[t], &found, &truncated);
        if (st)
            break;
        /* Check: nothing about the address is left in this tenant. */
        cof_subject_result r;
        st = cof_subject_find(s, &tenants[t], 1, address, 0, &r);
        out[t].remaining = r.n;
        cof_subject_result_free(&r);
    }
    cof_store_release_merges(s);
    return st;
}
