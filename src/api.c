/* api.c - the HTTPS API routes (docs/API.md).
 *
 * Every request but GET /healthz: source back-off check -> bearer token -> principal
 * (access document) -> principal lockout and rate -> route permission -> work ->
 * audit record (durable) -> response. If the audit record cannot be written, the
 * response is replaced by 503 and no data leaves (an answer that is not recorded is
 * never given).
 *
 * Uniform answers: a missing, malformed, unknown, wrong, expired or revoked token is
 * the same 401; a tenant outside the principal's scope answers exactly like a tenant
 * with no matching data. Error bodies never carry paths, keys or personal values. */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "apiparam.h"
#include "buf.h"
#include "output.h"
#include "poison.h"
#include "query.h"
#include "api_int.h"
#include "server_int.h"
#include "timefmt.h"




/* ------------------------------------------------------------ responses */

static const char *code_name(unsigned status)
{
    switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 408: return "request_timeout";
    case 413: return "too_large";
    case 423: return "locked";
    case 429: return "too_many_requests";
    case 503: return "unavailable";
    default: return "error";
    }
}

static enum MHD_Result send_body(cof_server *s, struct MHD_Connection *c, req *r, unsigned status,
                                 char *body, const char *ctype, unsigned retry_after)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", ctype);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
    if (status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"coffer\"");
    if (retry_after) {
        char ra[16];
        snprintf(ra, sizeof ra, "%u", retry_after);
        MHD_add_response_header(resp, "Retry-After", ra);
    }
    enum MHD_Result ret = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    r->done = 1;
    atomic_fetch_add(&s->req_total, 1);
    atomic_fetch_add(&s->req_by_class[status / 100 < 6 ? status / 100 : 5], 1);
    uint64_t us = (uint64_t)(cof_time_now_us() - r->start_us);
    static const uint64_t lim[COF_LAT_BUCKETS] = { 500, 1000, 2500, 5000, 10000, 50000, 250000, 1000000 };
    int b = 0;
    while (b < COF_LAT_BUCKETS && us > lim[b])
        b++;
    atomic_fetch_add(&s->lat_hist[b], 1);
    atomic_fetch_add(&s->lat_sum_us, us);
    return ret;
}

static enum MHD_Result send_json(cof_server *s, struct MHD_Connection *c, req *r, unsigned status,
                                 char *body)
{
    return send_body(s, c, r, status, body, "application/json", 0);
}

static char *err_body(unsigned status, const char *msg)
{
    json_t *o = json_pack("{s:{s:s,s:s}}", "error", "code", code_name(status), "message", msg);
    char *b = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return b ? b : strdup("{\"error\":{\"code\":\"error\",\"message\":\"out of memory\"}}");
}

static enum MHD_Result send_err(cof_server *s, struct MHD_Connection *c, req *r, unsigned status,
                                const char *msg, unsigned retry_after)
{
    return send_body(s, c, r, status, err_body(status, msg), "application/json", retry_after);
}

/* ------------------------------------------------------------ audit */


/* Write the audit record of this request; non-OK means the response must not go out. */
static cof_status audit(cof_server *s, req *r, audit_info *ai, const char *outcome, unsigned status)
{
    char *params = ai->params ? json_dumps(ai->params, JSON_COMPACT) : NULL;
    cof_audit_rec ar = { .principal = r->p ? r->p->name : (r->tok.principal[0] ? r->tok.principal : "-"),
                         .source = r->source, .action = ai->action, .params_json = params,
                         .outcome = outcome, .status = (int)status, .tenants = ai->tenants,
                         .ntenants = ai->ntenants, .events = ai->events,
                         .ids = ai->ids[0] ? ai->ids : NULL };
    cof_status st = cof_audit_append(s->audit, &ar, NULL);
    free(params);
    if (st && !cof_audit_failed(s->audit))
        fprintf(stderr, "coffer serve: audit record not written: %s\n", cof_err_msg());
    if (st && !atomic_exchange(&s->audit_alerted, 1))
        cof_server_alert(s, "audit.failed", COF_SEV_CRITICAL,
                         "the audit trail cannot be written: the server serves no data until "
                         "it is repaired and restarted", NULL);
    return st;
}

static const char *outcome_of(unsigned status)
{
    if (status < 300) return "ok";
    if (status == 401 || status == 403 || status == 423) return "denied";
    if (status == 404) return "not_found";
    if (status == 429) return "limited";
    if (status == 400 || status == 405 || status == 413) return "bad_request";
    return "error";
}

/* Audit, then send (or 503 if the audit failed). Takes ownership of body and ai->params. */
enum MHD_Result cof_api_finish(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai,
                              unsigned status, char *body, const char *ctype, unsigned retry)
{
    cof_status st = audit(s, r, ai, outcome_of(status), status);
    json_decref(ai->params);
    ai->params = NULL;
    if (st) {
        free(body);
        return send_err(s, c, r, 503, "the audit trail cannot be written; no data is served", 0);
    }
    return send_body(s, c, r, status, body, ctype, retry);
}

enum MHD_Result cof_api_finish_err(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai,
                                  unsigned status, const char *msg, unsigned retry)
{
    return cof_api_finish(s, c, r, ai, status, err_body(status, msg), "application/json", retry);
}

/* ------------------------------------------------------------ parameters */

typedef struct {
    const char *const *allowed;
    const char *bad;
} argcheck;

static enum MHD_Result check_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind, (void)value;
    argcheck *a = cls;
    for (const char *const *k = a->allowed; *k; k++)
        if (!strcmp(*k, key))
            return MHD_YES;
    a->bad = key;
    return MHD_NO;
}

/* NULL if every query argument is allowed, else a static description. */
const char *cof_api_unknown_arg(struct MHD_Connection *c, const char *const *allowed)
{
    argcheck a = { allowed, NULL };
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, check_arg, &a);
    return a.bad ? "unknown query parameter" : NULL;
}

const char *cof_api_arg(struct MHD_Connection *c, const char *k)
{
    return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, k);
}



/* Tenants a request may touch for perm: *all, or names (pointers into the document). */
int cof_api_tenants_for(cof_server *s, req *r, uint32_t perm, const char *want, int *all,
                       const char **names, uint32_t *n)
{
    (void)s;
    uint32_t k = 0;
    cof_access_scope(r->acc->a, r->p, perm, cof_time_now_us(), all, names, MAX_SCOPE, &k);
    if (want) {
        int in = *all;
        for (uint32_t i = 0; i < k && !in; i++)
            in = !strcmp(names[i], want);
        *all = 0;
        *n = 0;
        if (in) {
            names[0] = want;
            *n = 1;
        }
        return 1;
    }
    *n = k;
    return 1;
}


static enum MHD_Result collect_arg(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void)kind;
    kvset *k = cls;
    if (k->n == COF_API_MAX_PARAMS + 1)
        return MHD_NO; /* one beyond the maximum is enough to refuse */
    k->kv[k->n].k = key;
    k->kv[k->n].v = value ? value : "";
    k->n++;
    return MHD_YES;
}

void cof_api_args_of(struct MHD_Connection *c, kvset *k)
{
    k->n = 0;
    MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, collect_arg, k);
}

/* The start every route shares: name the action, check the route's permission, collect
 * the query arguments. 1 when the request is already answered (*ret set). */
int cof_api_route_begin(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai,
                       const char *action, uint32_t perm, const char *deny, kvset *kv,
                       enum MHD_Result *ret)
{
    ai->action = action;
    if (!(cof_access_any_perms(r->acc->a, r->p, cof_time_now_us()) & perm)) {
        *ret = cof_api_finish_err(s, c, r, ai, 403, deny, 0);
        return 1;
    }
    if (kv)
        cof_api_args_of(c, kv);
    return 0;
}

/* ------------------------------------------------------------ routes */


/* Cursor: base64url(u32 offset || 8-byte keyed MAC of principal and query). */
static void cursor_mac(cof_server *s, req *r, const char *qdesc, uint32_t off, uint8_t mac[8])
{
    crypto_generichash_state h;
    crypto_generichash_init(&h, s->cursor_key, 32, 8);
    crypto_generichash_update(&h, (const uint8_t *)r->p->name, strlen(r->p->name) + 1);
    crypto_generichash_update(&h, (const uint8_t *)qdesc, strlen(qdesc) + 1);
    uint8_t ob[4] = { (uint8_t)off, (uint8_t)(off >> 8), (uint8_t)(off >> 16), (uint8_t)(off >> 24) };
    crypto_generichash_update(&h, ob, 4);
    crypto_generichash_final(&h, mac, 8);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Audit params of an answer with personal data (docs/INCIDENT.md reads them). */
static void audit_subjects(audit_info *ai, uint64_t *subj, size_t n, uint32_t fields, int unsealed)
{
    size_t distinct = 0;
    if (n) {
        qsort(subj, n, sizeof *subj, cmp_u64);
        distinct = 1;
        for (size_t i = 1; i < n; i++)
            distinct += subj[i] != subj[i - 1];
    }
    static const struct { cof_field f; const char *cat; } cats[] = {
        { COF_F_RECIPIENT, "recipient address" }, { COF_F_ORIG_RECIPIENT, "recipient address" },
        { COF_F_SENDER, "sender address" }, { COF_F_CLIENT_IP, "client IP" },
        { COF_F_CLIENT_HOST, "client IP" }, { COF_F_SASL_USERNAME, "SASL username" },
        { COF_F_SUBJECT, "subject" }, { COF_F_MESSAGE_ID, "message-id" },
        { COF_F_RESPONSE, "delivery metadata" } };
    json_t *ca = json_array();
    for (size_t i = 0; ca && i < sizeof cats / sizeof *cats; i++) {
        if (!(fields & (1u << cats[i].f)))
            continue;
        int dup = 0;
        for (size_t j = 0; j < json_array_size(ca) && !dup; j++)
            dup = !strcmp(json_string_value(json_array_get(ca, j)), cats[i].cat);
        if (!dup)
            json_array_append_new(ca, json_string(cats[i].cat));
    }
    int meta = 0;
    for (size_t j = 0; ca && j < json_array_size(ca) && !meta; j++)
        meta = !strcmp(json_string_value(json_array_get(ca, j)), "delivery metadata");
    if (ca && !meta)
        json_array_append_new(ca, json_string("delivery metadata"));
    if (ai->params) {
        json_object_set_new(ai->params, "subjects", json_integer((json_int_t)distinct));
        json_object_set_new(ai->params, "unsealed", json_boolean(unsealed && fields));
        if (ca)
            json_object_set_new(ai->params, "categories", ca);
        ca = NULL;
    }
    json_decref(ca);
}

static enum MHD_Result route_trail(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai)
{
    kvset kv;
    enum MHD_Result ret;
    if (cof_api_route_begin(s, c, r, ai, "trail", COF_PERM_TRAIL, "this principal may not read trails", &kv, &ret))
        return ret;
    /* A lockdown stops every personal-field read at once, for everyone (statistics,
     * ingest and administration go on). */
    if (cof_access_locked(r->acc->a))
        return cof_api_finish_err(s, c, r, ai, 423, "lockdown in force: personal-field reads are "
                                                    "stopped until two administrators lift it", 0);
    cof_trail_params tp;
    const char *why = "bad request";
    if (cof_api_trail_params(kv.kv, kv.n, cof_time_now_us(), &tp, &why) != COF_OK)
        return cof_api_finish_err(s, c, r, ai, 400, why, 0);
    const char *value = tp.value;
    size_t vn = tp.value_len;
    int64_t since = tp.since, until = tp.until;
    uint64_t limit = tp.limit, off = 0;
    const char *tenant = tp.tenant;
    /* Audit parameters: the value only as its blind token. */
    char tok[40];
    if (cof_audit_blind(s->audit_blind_key, cof_str_make(value, vn), tok) != COF_OK)
        snprintf(tok, sizeof tok, "b:?");
    ai->params = json_pack("{s:s,s:s}", "field", tp.arg, "value", tok);
    if (tenant)
        json_object_set_new(ai->params, "tenant", json_string(tenant));
    if (tp.has_since)
        json_object_set_new(ai->params, "since", json_integer(since));
    if (tp.has_until)
        json_object_set_new(ai->params, "until", json_integer(until));
    char qdesc[512];
    snprintf(qdesc, sizeof qdesc, "%s=%s|%" PRId64 "|%" PRId64 "|%s", tp.arg, tok, since, until,
             tenant ? tenant : "");
    if (tp.has_cursor) {
        uint8_t mac[8];
        const uint8_t *raw = tp.cursor;
        off = (uint64_t)raw[0] | (uint64_t)raw[1] << 8 | (uint64_t)raw[2] << 16 | (uint64_t)raw[3] << 24;
        cursor_mac(s, r, qdesc, (uint32_t)off, mac);
        if (sodium_memcmp(mac, raw + 4, 8) != 0)
            return cof_api_finish_err(s, c, r, ai, 400, "invalid cursor", 0);
        json_object_set_new(ai->params, "offset", json_integer((json_int_t)off));
    }
    int all = 0;
    const char *names[MAX_SCOPE];
    uint32_t nn = 0;
    cof_api_tenants_for(s, r, COF_PERM_TRAIL, tenant, &all, names, &nn);
    size_t nq = all ? 1 : nn;
    cof_trail *res = calloc(nq ? nq : 1, sizeof *res);
    if (!res)
        return cof_api_finish_err(s, c, r, ai, 500, "out of memory", 0);
    cof_status st = COF_OK;
    size_t total = 0;
    int truncated = 0;
    pthread_mutex_lock(&s->store_mu);
    if (cof_poison_reload_if_changed(s->poison, NULL) != COF_OK)
        fprintf(stderr, "coffer serve: poison registry not reloaded: %s\n", cof_err_msg());
    for (size_t i = 0; i < nq && !st; i++) {
        cof_trail_query q = { .field = tp.field, .value = cof_str_make(value, vn),
                              .since = since, .until = until, .tenant = all ? NULL : names[i],
                              .unseal = 1, .limit = (size_t)(off + limit + 1) };
        st = cof_query_trail(s->store, &q, &res[i]);
        if (!st) {
            total += res[i].n;
            /* Each tenant is asked for one page beyond the cursor: "truncated" means the
             * hard cap on one lookup was hit, not that another page follows. */
            truncated |= res[i].truncated && q.limit >= COF_MAX_TRAIL_EVENTS;
        }
    }
    /* Poison: an answer that would include a trap record is withheld, whatever else it
     * holds (the registry is read under store_mu). */
    cof_poison_hit hit;
    int poisoned = 0;
    if (!st && cof_poison_nsets(s->poison)) {
        size_t pend = off + limit < total ? off + limit : total, k = 0;
        for (size_t i = 0; i < nq && !poisoned; i++)
            for (size_t j = 0; j < res[i].n && !poisoned; j++, k++) {
                if (k < off || k >= pend)
                    continue;
                const cof_record *pr = &res[i].ev[j].r;
                char tn[COF_MAX_TENANT_NAME + 1];
                snprintf(tn, sizeof tn, "%.*s", (int)pr->clear[COF_F_TENANT].n,
                         pr->clear[COF_F_TENANT].p ? pr->clear[COF_F_TENANT].p : "");
                poisoned = cof_poison_match_record(s->poison, tn, pr, &hit);
            }
    }
    pthread_mutex_unlock(&s->store_mu);
    if (poisoned) {
        ret = cof_api_poison_hit(s, c, r, ai, &hit);
        goto out;
    }
    if (st) {
        ret = cof_api_finish_err(s, c, r, ai, st == COF_BADINPUT ? 400 : 500,
                         st == COF_BADINPUT ? "invalid value" : "the lookup failed", 0);
        goto out;
    }
    /* The page [off, off + limit) of the concatenated results. */
    size_t end = off + limit < total ? off + limit : total;
    size_t page = off < total ? end - off : 0;
    int breached = 0;
    uint64_t give = page ? cof_guard_budget(s->guard, r->p->name, r->p->budget_per_hour, page,
                                            cof_time_now_us(), &breached)
                         : 0;
    int unsealed = give == page;
    if (breached) {
        char d[160];
        snprintf(d, sizeof d, "{\"principal\":\"%s\",\"budget_per_hour\":%u}", r->p->name,
                 r->p->budget_per_hour ? r->p->budget_per_hour : s->cfg->srv.budget_per_hour);
        cof_server_alert(s, "budget.breach", COF_SEV_HIGH,
                         "a principal exhausted its hourly budget of unsealed events", d);
    }
    /* The body is written directly (no JSON tree): trails can be large and this is
     * the hot path. */
    cof_buf body;
    cof_buf_init(&body, 256u << 20);
    cof_status bs = cof_buf_add(&body, "{\"events\":[", 11);
    /* For the audit record (and so the incident report): distinct data subjects by
     * recipient token, and which personal categories left in clear. */
    uint64_t *subj = page ? calloc(page, sizeof *subj) : NULL;
    size_t nsubj = 0;
    uint32_t shown_fields = 0;
    size_t idx = 0;
    uint64_t rseg = 0;
    uint32_t rlo = 0, rhi = 0;
    int have = 0;
    for (size_t i = 0; i < nq && !bs; i++)
        for (size_t j = 0; j < res[i].n && !bs; j++, idx++) {
            if (idx < off || idx >= end)
                continue;
            const cof_trail_event *e = &res[i].ev[j];
            /* Over budget: only what the clear columns show (as without the key). */
            cof_record rec = e->r;
            if (!unsealed)
                for (int f = 0; f < COF_NFIELDS; f++)
                    rec.sealed[f] = COF_STR_NULL;
            for (int f = 0; f < COF_NFIELDS; f++)
                if (rec.sealed[f].p)
                    shown_fields |= 1u << f;
            if (subj && (rec.token_mask & (1u << COF_F_RECIPIENT)))
                memcpy(&subj[nsubj++], rec.token[COF_F_RECIPIENT], sizeof *subj);
            if (idx > off)
                bs = cof_buf_add(&body, ",", 1);
            if (!bs)
                bs = cof_output_event_jsonbuf(&rec, 0, &body);
            if (have && e->seg_id == rseg && e->row == rhi + 1) {
                rhi = e->row;
            } else {
                if (have)
                    cof_audit_ids_add(ai->ids, MAX_IDS_TEXT, rseg, rlo, rhi);
                rseg = e->seg_id;
                rlo = rhi = e->row;
                have = 1;
            }
        }
    if (have)
        cof_audit_ids_add(ai->ids, MAX_IDS_TEXT, rseg, rlo, rhi);
    ai->events = page;
    audit_subjects(ai, subj, nsubj, shown_fields, unsealed);
    free(subj);
    if (all)
        ai->tenants[ai->ntenants++] = tenant ? tenant : "*";
    else
        for (uint32_t i = 0; i < nn && ai->ntenants < MAX_SCOPE; i++)
            ai->tenants[ai->ntenants++] = names[i];
    atomic_fetch_add(&s->events_returned, page);
    if (unsealed)
        atomic_fetch_add(&s->unsealed_returned, page);
    char tail[160];
    int tn = snprintf(tail, sizeof tail, "],\"count\":%zu,\"truncated\":%s,\"unsealed\":%s%s,\"next_cursor\":",
                      page, truncated ? "true" : "false", unsealed ? "true" : "false",
                      unsealed ? "" : ",\"budget_exhausted\":true");
    if (!bs)
        bs = cof_buf_add(&body, tail, (size_t)tn);
    if (!bs && end < total) {
        uint8_t raw[12];
        uint32_t no = (uint32_t)end;
        raw[0] = (uint8_t)no, raw[1] = (uint8_t)(no >> 8), raw[2] = (uint8_t)(no >> 16),
        raw[3] = (uint8_t)(no >> 24);
        cursor_mac(s, r, qdesc, no, raw + 4);
        char b64[32];
        sodium_bin2base64(b64, sizeof b64, raw, 12, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        char cb[48];
        int cn = snprintf(cb, sizeof cb, "\"%s\"}", b64);
        bs = cof_buf_add(&body, cb, (size_t)cn);
    } else if (!bs) {
        bs = cof_buf_add(&body, "null}", 5);
    }
    if (!bs)
        bs = cof_buf_add(&body, "", 1);
    if (bs) {
        cof_buf_free(&body);
        ret = cof_api_finish_err(s, c, r, ai, 500, "the answer is too large; use a smaller limit", 0);
    } else {
        ret = cof_api_finish(s, c, r, ai, 200, (char *)body.p, "application/json", 0);
    }
out:
    for (size_t i = 0; i < nq; i++)
        cof_trail_free(&res[i]);
    free(res);
    return ret;
}

/* Render stats rows through the CLI's JSON writer (same fields as `coffer stats --json`). */
static cof_status stats_rows(const cof_stats *st, uint32_t by, int64_t bucket, json_t *rows)
{
    char *mem = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&mem, &n);
    if (!f)
        return COF_ERR(COF_NOMEM, "out of memory");
    cof_status s = cof_output_stats_json(f, st, by, bucket);
    fclose(f);
    /* The CLI writes {"groups":[...],...}: take its groups as the API's rows. */
    json_t *o = s ? NULL : json_loads(mem, 0, NULL);
    json_t *g = json_object_get(o, "groups");
    size_t i;
    json_t *row;
    json_array_foreach(g, i, row)
        json_array_append(rows, row);
    json_decref(o);
    free(mem);
    return s;
}

static enum MHD_Result route_stats(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai)
{
    kvset kv;
    enum MHD_Result ret;
    if (cof_api_route_begin(s, c, r, ai, "stats", COF_PERM_STATS, "this principal may not read statistics", &kv,
                    &ret))
        return ret;
    cof_stats_params sp;
    const char *why = "bad request";
    if (cof_api_stats_params(kv.kv, kv.n, cof_time_now_us(), &sp, &why) != COF_OK)
        return cof_api_finish_err(s, c, r, ai, 400, why, 0);
    uint32_t by = sp.by;
    int64_t bucket = sp.bucket, since = sp.since, until = sp.until;
    const char *tenant = sp.tenant, *bys = sp.by_s, *bk = sp.bucket_s;
    ai->params = json_pack("{s:s?,s:s?,s:s?}", "by", bys, "bucket", bk, "tenant", tenant);
    int all = 0;
    const char *names[MAX_SCOPE];
    uint32_t nn = 0;
    cof_api_tenants_for(s, r, COF_PERM_STATS, tenant, &all, names, &nn);
    size_t nq = all ? 1 : nn;
    if (!all && nn > 1)
        by |= COF_BY_TENANT; /* rows of several tenants must say whose they are */
    json_t *rows = json_array();
    uint64_t total = 0, scanned = 0;
    cof_status st = COF_OK;
    pthread_mutex_lock(&s->store_mu);
    for (size_t i = 0; i < nq && !st; i++) {
        cof_stats res;
        st = cof_query_stats(s->store, by, bucket, since, until, all ? tenant : names[i], &res);
        if (!st) {
            total += res.total;
            scanned += res.scanned;
            st = stats_rows(&res, by, bucket, rows);
            cof_stats_free(&res);
        }
    }
    pthread_mutex_unlock(&s->store_mu);
    if (st) {
        json_decref(rows);
        return cof_api_finish_err(s, c, r, ai, 500, "the statistics query failed", 0);
    }
    if (all)
        ai->tenants[ai->ntenants++] = tenant ? tenant : "*";
    else
        for (uint32_t i = 0; i < nn && ai->ntenants < MAX_SCOPE; i++)
            ai->tenants[ai->ntenants++] = names[i];
    json_t *o = json_pack("{s:o,s:I,s:I}", "rows", rows, "total", (json_int_t)total, "scanned",
                          (json_int_t)scanned);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return body ? cof_api_finish(s, c, r, ai, 200, body, "application/json", 0)
                : cof_api_finish_err(s, c, r, ai, 500, "out of memory", 0);
}

typedef struct {
    json_t *ring[COF_API_MAX_PAGE];
    size_t n, head, cap;
} audit_ring;

static cof_status audit_collect(void *ctx, const cof_audit_entry *e)
{
    audit_ring *ar = ctx;
    json_t *o = json_loadb(e->line.p, e->line.n, 0, NULL);
    if (!o)
        return COF_OK;
    size_t slot = (ar->head + ar->n) % ar->cap;
    if (ar->n == ar->cap) {
        json_decref(ar->ring[ar->head]);
        slot = ar->head;
        ar->head = (ar->head + 1) % ar->cap;
    } else {
        ar->n++;
    }
    ar->ring[slot] = o;
    return COF_OK;
}

static enum MHD_Result route_audit(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai)
{
    kvset kv;
    enum MHD_Result ret;
    if (cof_api_route_begin(s, c, r, ai, "audit", COF_PERM_AUDIT, "this principal may not read the audit trail",
                    &kv, &ret))
        return ret;
    cof_audit_params apm;
    const char *why = "bad request";
    if (cof_api_audit_params(kv.kv, kv.n, cof_time_now_us(), &apm, &why) != COF_OK)
        return cof_api_finish_err(s, c, r, ai, 400, why, 0);
    int64_t since = apm.since, until = apm.until;
    uint64_t limit = apm.limit;
    const char *pr = apm.principal, *ac = apm.action;
    ai->params = json_pack("{s:s?,s:s?}", "principal", pr, "action", ac);
    cof_audit_filter f = { .since = since, .until = until, .principal = pr, .action = ac };
    audit_ring *ar = calloc(1, sizeof *ar);
    if (!ar)
        return cof_api_finish_err(s, c, r, ai, 500, "out of memory", 0);
    ar->cap = (size_t)limit;
    cof_status st = cof_audit_each(s->cfg->data_dir, &f, audit_collect, ar);
    json_t *recs = json_array();
    for (size_t i = 0; i < ar->n; i++)
        json_array_append_new(recs, ar->ring[(ar->head + i) % ar->cap]);
    free(ar);
    if (st) {
        json_decref(recs);
        return cof_api_finish_err(s, c, r, ai, 500, "the audit trail could not be read", 0);
    }
    ai->events = json_array_size(recs);
    json_t *o = json_pack("{s:o}", "records", recs);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return body ? cof_api_finish(s, c, r, ai, 200, body, "application/json", 0)
                : cof_api_finish_err(s, c, r, ai, 500, "out of memory", 0);
}

static enum MHD_Result route_whoami(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai)
{
    ai->action = "whoami";
    int64_t now = cof_time_now_us();
    char tb[40];
    json_t *grants = json_array();
    for (uint32_t i = 0; i < r->p->ngrants; i++) {
        const cof_grant *g = &r->p->grants[i];
        json_t *ts = json_array();
        for (uint32_t k = 0; k < g->ntenants; k++)
            json_array_append_new(ts, json_string(g->tenants[k]));
        json_t *go = json_pack("{s:s,s:o}", "role", cof_role_name(g->role), "tenants", ts);
        if (g->expires)
            json_object_set_new(go, "expires", json_string(cof_time_format(g->expires, tb, sizeof tb)));
        if (g->expires && g->expires <= now)
            json_object_set_new(go, "lapsed", json_true());
        json_array_append_new(grants, go);
    }
    uint32_t perms = cof_access_any_perms(r->acc->a, r->p, now);
    static const char *pn[] = { "ingest", "trail", "stats", "audit", "admin", "metrics", "export" };
    json_t *pa = json_array();
    for (int i = 0; i < 7; i++)
        if (perms & (1u << i))
            json_array_append_new(pa, json_string(pn[i]));
    json_t *o = json_pack("{s:s,s:s,s:o,s:o}", "principal", r->p->name, "token_id", r->tok.id,
                          "grants", grants, "permissions", pa);
    json_object_set_new(o, "token_expires",
                        r->tok.expires ? json_string(cof_time_format(r->tok.expires, tb, sizeof tb))
                                       : json_null());
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return body ? cof_api_finish(s, c, r, ai, 200, body, "application/json", 0)
                : cof_api_finish_err(s, c, r, ai, 500, "out of memory", 0);
}

static enum MHD_Result route_metrics(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai)
{
    enum MHD_Result ret;
    if (cof_api_route_begin(s, c, r, ai, "metrics", COF_PERM_METRICS, "this principal may not read metrics", NULL,
                    &ret))
        return ret;
    cof_guard_stats gs;
    cof_guard_stats_get(s->guard, &gs);
    cof_intake_stats is;
    cof_intake_stats_get(s->intake, &is);
    cof_buf b;
    cof_buf_init(&b, 1u << 20);
    char line[512];
#define M(...)                                                                                     \
    do {                                                                                           \
        int k_ = snprintf(line, sizeof line, __VA_ARGS__);                                         \
        if (k_ > 0 && cof_buf_add(&b, line, (size_t)k_ < sizeof line ? (size_t)k_ : sizeof line - 1)) \
            break;                                                                                 \
    } while (0)
    M("# HELP coffer_requests_total HTTP requests answered, by status class.\n"
      "# TYPE coffer_requests_total counter\n");
    for (int k = 1; k <= 5; k++)
        M("coffer_requests_total{class=\"%dxx\"} %" PRIuFAST64 "\n", k, atomic_load(&s->req_by_class[k]));
    M("# HELP coffer_request_seconds Request latency.\n# TYPE coffer_request_seconds histogram\n");
    static const char *le[COF_LAT_BUCKETS] = { "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.05", "0.25", "1" };
    uint64_t cum = 0;
    for (int k = 0; k < COF_LAT_BUCKETS; k++) {
        cum += atomic_load(&s->lat_hist[k]);
        M("coffer_request_seconds_bucket{le=\"%s\"} %" PRIu64 "\n", le[k], cum);
    }
    cum += atomic_load(&s->lat_hist[COF_LAT_BUCKETS]);
    M("coffer_request_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n", cum);
    M("coffer_request_seconds_sum %.6f\ncoffer_request_seconds_count %" PRIu64 "\n",
      (double)atomic_load(&s->lat_sum_us) / 1e6, cum);
    M("# HELP coffer_auth_failures_total Failed authentications (API and syslog).\n"
      "# TYPE coffer_auth_failures_total counter\ncoffer_auth_failures_total %" PRIuFAST64 "\n",
      atomic_load(&s->auth_failures));
    M("# HELP coffer_lockouts_total Lockouts started.\n# TYPE coffer_lockouts_total counter\n"
      "coffer_lockouts_total %" PRIu64 "\n", gs.lockouts);
    M("# HELP coffer_locked_out Sources and principals locked out now.\n# TYPE coffer_locked_out gauge\n"
      "coffer_locked_out %" PRIu64 "\n", gs.locked_now);
    M("# HELP coffer_rate_limited_total Requests refused by the per-principal rate.\n"
      "# TYPE coffer_rate_limited_total counter\ncoffer_rate_limited_total %" PRIu64 "\n", gs.rate_limited);
    M("# HELP coffer_alerts_total Alerts raised.\n# TYPE coffer_alerts_total counter\n"
      "coffer_alerts_total %" PRIuFAST64 "\n", atomic_load(&s->alerts_raised));
    M("# HELP coffer_ingest_lines_total Lines accepted into the spool.\n"
      "# TYPE coffer_ingest_lines_total counter\ncoffer_ingest_lines_total %" PRIuFAST64 "\n",
      atomic_load(&s->ingest_lines));
    M("# HELP coffer_ingest_events_total Events stored by the server.\n"
      "# TYPE coffer_ingest_events_total counter\ncoffer_ingest_events_total %" PRIu64 "\n",
      is.events_stored);
    M("# HELP coffer_events_returned_total Events returned by trail lookups.\n"
      "# TYPE coffer_events_returned_total counter\ncoffer_events_returned_total %" PRIuFAST64 "\n",
      atomic_load(&s->events_returned));
    M("# HELP coffer_connections_open Open HTTPS connections.\n# TYPE coffer_connections_open gauge\n"
      "coffer_connections_open %" PRIuFAST64 "\n", atomic_load(&s->conns_open));
    M("# HELP coffer_connections_killed_total Connections closed for a slow request head.\n"
      "# TYPE coffer_connections_killed_total counter\ncoffer_connections_killed_total %" PRIuFAST64 "\n",
      atomic_load(&s->conns_killed));
    /* Events by status, from the clear status column (no key involved). */
    cof_stats st;
    pthread_mutex_lock(&s->store_mu);
    cof_status qs = cof_query_stats(s->store, COF_BY_STATUS, 0, INT64_MIN, INT64_MAX, NULL, &st);
    pthread_mutex_unlock(&s->store_mu);
    if (!qs) {
        M("# HELP coffer_events Stored events by delivery status.\n# TYPE coffer_events gauge\n");
        for (size_t i = 0; i < st.n; i++)
            M("coffer_events{status=\"%s\"} %" PRIu64 "\n",
              cof_status_name((cof_delivery_status)st.rows[i].status), st.rows[i].count);
        cof_stats_free(&st);
    }
#undef M
    char *body = malloc(b.n + 1);
    if (body) {
        memcpy(body, b.p, b.n);
        body[b.n] = 0;
    }
    cof_buf_free(&b);
    return body ? cof_api_finish(s, c, r, ai, 200, body, "text/plain; version=0.0.4", 0)
                : cof_api_finish_err(s, c, r, ai, 500, "out of memory", 0);
}

static enum MHD_Result route_events(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai)
{
    static const char *const allowed[] = { "batch_id", "tenant", "format", NULL };
    enum MHD_Result ret;
    if (cof_api_route_begin(s, c, r, ai, "events", COF_PERM_INGEST, "this principal may not write events", NULL,
                    &ret))
        return ret;
    if (cof_api_unknown_arg(c, allowed))
        return cof_api_finish_err(s, c, r, ai, 400, "unknown query parameter", 0);
    if (r->too_big)
        return cof_api_finish_err(s, c, r, ai, 413, "request body too large", 0);
    const char *ct = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    const char *fmt = cof_api_arg(c, "format");
    cof_format kind;
    if ((fmt && !strcmp(fmt, "json")) ||
        (!fmt && ct && (!strncmp(ct, "application/x-ndjson", 20) || !strncmp(ct, "application/json", 16) ||
                        !strncmp(ct, "application/jsonl", 17))))
        kind = COF_FMT_JSON;
    else if ((fmt && !strcmp(fmt, "syslog")) || (!fmt && ct && !strncmp(ct, "text/plain", 10)))
        kind = COF_FMT_POSTFIX;
    else
        return cof_api_finish_err(s, c, r, ai, 400, "send application/x-ndjson (JSON lines) or text/plain "
                                            "(syslog lines), or format=json|syslog", 0);
    const char *bid = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Idempotency-Key");
    if (!bid)
        bid = cof_api_arg(c, "batch_id");
    if (bid && !cof_api_batch_id_valid(bid))
        return cof_api_finish_err(s, c, r, ai, 400, "batch id: 1..128 of [A-Za-z0-9._:-]", 0);
    /* Tenant: a principal that may write one tenant writes that tenant only. */
    const char *tenant = cof_api_arg(c, "tenant");
    int all = 0;
    const char *names[MAX_SCOPE];
    uint32_t nn = 0;
    cof_api_tenants_for(s, r, COF_PERM_INGEST, NULL, &all, names, &nn);
    const char *forced = NULL;
    if (tenant) {
        int in = all;
        for (uint32_t i = 0; i < nn && !in; i++)
            in = !strcmp(names[i], tenant);
        if (!cof_tenant_name_valid(cof_str_c(tenant)) || !in)
            return cof_api_finish_err(s, c, r, ai, 403, "this principal may not write that tenant", 0);
        forced = tenant;
    } else if (!all) {
        if (nn != 1)
            return cof_api_finish_err(s, c, r, ai, 400, "this principal writes several tenants: say which "
                                                "with tenant=", 0);
        forced = names[0];
    }
    ai->params = json_pack("{s:s,s:s?,s:s?}", "format", kind == COF_FMT_JSON ? "json" : "syslog",
                           "tenant", forced, "batch_id", bid);
    if (forced)
        ai->tenants[ai->ntenants++] = forced;
    /* Split into lines (CRLF tolerated). */
    size_t cap = 1024, n = 0;
    cof_str *lines = malloc(cap * sizeof *lines);
    const char *p = (const char *)r->body.p, *e = p + r->body.n;
    while (lines && p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        const char *le = nl ? nl : e;
        size_t len = (size_t)(le - p);
        if (len && p[len - 1] == '\r')
            len--;
        if (len) {
            if (n == COF_MAX_BATCH_LINES) {
                free(lines);
                return cof_api_finish_err(s, c, r, ai, 413, "more than 100000 lines in one batch", 0);
            }
            if (n == cap) {
                cap *= 2;
                cof_str *nw = realloc(lines, cap * sizeof *nw);
                if (!nw) {
                    free(lines);
                    lines = NULL;
                    break;
                }
                lines = nw;
            }
            lines[n++] = cof_str_make(p, len);
        }
        p = nl ? nl + 1 : e;
    }
    if (!lines)
        return cof_api_finish_err(s, c, r, ai, 500, "out of memory", 0);
    cof_intake_ack ack;
    cof_status st = cof_intake_submit(s->intake, kind, r->p->name, forced,
                                      bid ? cof_str_c(bid) : COF_STR_NULL, lines, n, &ack);
    free(lines);
    if (st)
        return cof_api_finish_err(s, c, r, ai, 503, "events could not be stored durably; retry later", 5);
    atomic_fetch_add(&s->ingest_lines, ack.lines);
    ai->events = ack.lines;
    json_t *o = json_pack("{s:I,s:I,s:b}", "accepted", (json_int_t)ack.lines, "skipped_overlong",
                          (json_int_t)ack.skipped_overlong, "duplicate", (int)ack.duplicate_batch);
    if (bid)
        json_object_set_new(o, "batch_id", json_string(bid));
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return body ? cof_api_finish(s, c, r, ai, 202, body, "application/json", 0)
                : cof_api_finish_err(s, c, r, ai, 500, "out of memory", 0);
}

/* ------------------------------------------------------------ authentication */

/* 0 = authenticated; else an HTTP status to answer with (and *retry for 429). */
static unsigned authenticate(cof_server *s, struct MHD_Connection *c, req *r, unsigned *retry,
                             const char **why)
{
    int64_t now = cof_time_now_us();
    memset(&r->tok, 0, sizeof r->tok);
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (!h || strncmp(h, "Bearer ", 7) != 0) {
        /* No credential: nothing is being guessed, so no back-off; the same 401 a
         * wrong token gets. */
        *why = "missing";
        *retry = 0;
        return 401;
    }
    *retry = cof_guard_wait(s->guard, COF_GUARD_SOURCE, r->source, now);
    if (*retry) {
        /* An attempt during back-off counts as a failure: hammering leads to lockout. */
        *why = "source backing off";
        atomic_fetch_add(&s->auth_failures, 1);
        if (cof_guard_fail(s->guard, COF_GUARD_SOURCE, r->source, now)) {
            char d[120];
            snprintf(d, sizeof d, "{\"source\":\"%s\"}", r->source);
            cof_server_alert(s, "auth.lockout", COF_SEV_HIGH, "repeated failed authentication: locked out", d);
        }
        return 429;
    }
    const char *t = h + 7;
    cof_status st = cof_tokens_check(s->tokens, cof_str_make(t, strnlen(t, COF_TOKEN_STRLEN + 1)), now,
                                     &r->tok, why);
    if (!st) {
        *retry = cof_guard_wait(s->guard, COF_GUARD_PRINCIPAL, r->tok.principal, now);
        if (*retry) {
            *why = "principal locked out";
            return 429;
        }
        r->acc = cof_server_access_get(s, 0);
        r->p = cof_access_find(r->acc->a, r->tok.principal);
        if (!r->p) { /* a principal created a moment ago: look at the file now */
            cof_server_access_put(s, r->acc);
            r->acc = cof_server_access_get(s, 1);
            r->p = cof_access_find(r->acc->a, r->tok.principal);
        }
        if (!r->p || r->p->suspended) {
            *why = r->p ? "principal suspended" : "principal unknown";
            r->p = NULL;
            st = COF_DENIED;
        }
    }
    if (st) {
        atomic_fetch_add(&s->auth_failures, 1);
        int lock = cof_guard_fail(s->guard, COF_GUARD_SOURCE, r->source, now);
        if (r->tok.principal[0])
            lock |= cof_guard_fail(s->guard, COF_GUARD_PRINCIPAL, r->tok.principal, now);
        if (lock) {
            char d[200];
            snprintf(d, sizeof d, "{\"source\":\"%s\",\"principal\":\"%s\"}", r->source,
                     r->tok.principal[0] ? r->tok.principal : "-");
            cof_server_alert(s, "auth.lockout", COF_SEV_HIGH,
                             "repeated failed authentication: locked out", d);
        }
        return 401;
    }
    cof_guard_ok(s->guard, COF_GUARD_SOURCE, r->source);
    if (!cof_guard_rate(s->guard, r->p->name, now)) {
        *why = "rate";
        *retry = 1;
        return 429;
    }
    return 0;
}

/* ------------------------------------------------------------ handler */

/* A known route's name, or "other": never the raw path (it may hold personal values). */
static const char *route_name(const char *url)
{
    static const char *const known[] = { "/v1/trail", "/v1/stats", "/v1/audit", "/v1/whoami",
                                         "/metrics", "/v1/events", "/v1/changes", "/v1/exports",
                                         "/v1/lockdown", "/v1/lockdown/lift",
                                         "/v1/subjects/find", "/v1/subjects/erase", NULL };
    for (const char *const *k = known; *k; k++)
        if (!strcmp(url, *k))
            return *k;
    return "other";
}

static void source_of(struct MHD_Connection *c, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(out, cap, "?");
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)cap);
}

enum MHD_Result cof_api_handler(void *cls, struct MHD_Connection *c, const char *url,
                                const char *method, const char *version, const char *upload,
                                size_t *upload_size, void **req_cls)
{
    (void)version;
    cof_server *s = cls;
    req *r = *req_cls;
    if (!r) {
        /* The request head is complete: the slowloris deadline no longer applies. */
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        if (ci && ci->socket_context) {
            pthread_mutex_lock(&s->conn_mu);
            ((conn_info *)ci->socket_context)->head_start = 0;
            pthread_mutex_unlock(&s->conn_mu);
        }
        if (!(r = calloc(1, sizeof *r)))
            return MHD_NO;
        *req_cls = r;
        r->start_us = cof_time_now_us();
        source_of(c, r->source, sizeof r->source);
        cof_buf_init(&r->body, s->cfg->srv.max_body_bytes);
        if (!strcmp(url, "/healthz")) {
            /* Liveness only: no version, host, path or count. Not audited (probes). */
            if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
                return send_err(s, c, r, 405, "method not allowed", 0);
            return send_json(s, c, r, 200, strdup("{\"status\":\"ok\"}"));
        }
        audit_info ai = { .action = "auth" };
        unsigned retry = 0;
        const char *why = "";
        unsigned code = authenticate(s, c, r, &retry, &why);
        if (code) {
            ai.params = json_pack("{s:s,s:s,s:s}", "why", why, "method",
                                  strlen(method) > 16 ? "(long)" : method, "route", route_name(url));
            return cof_api_finish_err(s, c, r, &ai, code,
                              code == 401 ? "authentication required" : "too many requests; retry later",
                              retry);
        }
        if (cof_audit_failed(s->audit))
            return send_err(s, c, r, 503, "the audit trail cannot be written; no data is served", 0);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        uint64_t len = 0;
        if (cl && (!cof_str_to_u64(cof_str_c(cl), UINT64_MAX, &len) || len > s->cfg->srv.max_body_bytes)) {
            ai.action = "events";
            return cof_api_finish_err(s, c, r, &ai, 413, "request body too large", 0);
        }
        return MHD_YES;
    }
    if (r->done)
        return MHD_YES;
    if (*upload_size) {
        if (!r->too_big && cof_buf_add(&r->body, upload, *upload_size) != COF_OK)
            r->too_big = 1;
        *upload_size = 0;
        return MHD_YES;
    }
    if (cof_time_now_us() - r->start_us > (int64_t)s->cfg->srv.request_timeout * 1000000)
        return send_err(s, c, r, 408, "request took too long", 0);
    audit_info ai = { .action = "request" };
    int get = !strcmp(method, "GET");
    if (!strcmp(url, "/v1/trail") && get)
        return route_trail(s, c, r, &ai);
    if (!strcmp(url, "/v1/stats") && get)
        return route_stats(s, c, r, &ai);
    if (!strcmp(url, "/v1/audit") && get)
        return route_audit(s, c, r, &ai);
    if (!strcmp(url, "/v1/whoami") && get)
        return route_whoami(s, c, r, &ai);
    if (!strcmp(url, "/metrics") && get)
        return route_metrics(s, c, r, &ai);
    if (!strcmp(url, "/v1/events") && !strcmp(method, "POST"))
        return route_events(s, c, r, &ai);
    enum MHD_Result gret;
    if (cof_api_gov_route(s, c, r, &ai, url, method, &gret) ||
        cof_api_export_route(s, c, r, &ai, url, method, &gret) ||
        cof_api_subject_route(s, c, r, &ai, url, method, &gret))
        return gret;
    static const char *const known[] = { "/v1/trail", "/v1/stats", "/v1/audit", "/v1/whoami",
                                         "/metrics", "/v1/events", NULL };
    for (const char *const *k = known; *k; k++)
        if (!strcmp(url, *k)) {
            ai.params = json_pack("{s:s}", "method", strlen(method) > 16 ? "(long)" : method);
            return cof_api_finish_err(s, c, r, &ai, 405, "method not allowed", 0);
        }
    /* The path itself is not recorded: it could carry a personal value. */
    ai.params = json_pack("{s:s}", "route", route_name(url));
    return cof_api_finish_err(s, c, r, &ai, 404, "no such route", 0);
}

void cof_api_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                       enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    cof_server *s = cls;
    req *r = *req_cls;
    /* Keep-alive: the next request head must arrive within the deadline. */
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (ci && ci->socket_context) {
        pthread_mutex_lock(&s->conn_mu);
        ((conn_info *)ci->socket_context)->head_start = cof_time_now_us();
        pthread_mutex_unlock(&s->conn_mu);
    }
    if (!r)
        return;
    if (r->acc)
        cof_server_access_put(s, r->acc);
    cof_buf_free(&r->body);
    free(r);
    *req_cls = NULL;
}
