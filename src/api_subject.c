/* api_subject.c - data-subject requests over the API (docs/SUBJECT.md), so they work
 * while `coffer serve` holds the store:
 *
 *   POST /v1/subjects/find   {"address": "...", "tenant": "T"?}   GDPR art. 15: every
 *                            event about the address in the caller's trail tenants,
 *                            unsealed (support or customer; stopped by a lockdown)
 *   POST /v1/subjects/erase  {"address": "...", "tenant": "T"?}   art. 17: rewrite the
 *                            segments without those events (admin on the tenants;
 *                            allowed during a lockdown, it shows nothing); a receipt
 *
 * The address travels in the body, never in the URL (URLs end up in proxy logs), and
 * reaches the audit trail only as its blind token. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "output.h"
#include "subject.h"
#include "timefmt.h"

#define SUBJECT_MAX_ADDR 320

static int parse_body(req *r, char addr[SUBJECT_MAX_ADDR + 1], char tenant[COF_MAX_TENANT_NAME + 1])
{
    json_t *o = r->body.n && !r->too_big
                    ? json_loadb((const char *)r->body.p, r->body.n, JSON_REJECT_DUPLICATES, NULL)
                    : NULL;
    json_t *a = json_object_get(o, "address"), *t = json_object_get(o, "tenant");
    int ok = json_is_object(o) && json_is_string(a) && json_string_length(a) >= 1 &&
             json_string_length(a) <= SUBJECT_MAX_ADDR &&
             strlen(json_string_value(a)) == json_string_length(a) &&
             (!t || (json_is_string(t) && cof_tenant_name_valid(cof_str_c(json_string_value(t)))));
    if (ok) {
        memcpy(addr, json_string_value(a), json_string_length(a) + 1);
        snprintf(tenant, COF_MAX_TENANT_NAME + 1, "%s", t ? json_string_value(t) : "");
    }
    json_decref(o);
    return ok;
}

static enum MHD_Result find(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai,
                            const char *addr, const char **tenants, size_t nt)
{
    cof_subject_result res;
    memset(&res, 0, sizeof res);
    pthread_mutex_lock(&s->store_mu);
    if (cof_poison_reload_if_changed(s->poison, NULL) != COF_OK)
        fprintf(stderr, "coffer serve: poison registry not reloaded: %s\n", cof_err_msg());
    cof_status st = cof_subject_find(s->store, tenants, nt, cof_str_c(addr), 1, &res);
    cof_poison_hit hit;
    int trapped = 0;
    for (size_t i = 0; !st && i < res.n && !trapped && cof_poison_nsets(s->poison); i++)
        trapped = cof_poison_match_record(s->poison, res.ev[i].tenant, &res.ev[i].e.r, &hit);
    pthread_mutex_unlock(&s->store_mu);
    if (st) {
        cof_subject_result_free(&res);
        return cof_api_finish_err(s, c, r, ai, 500, "the lookup failed", 0);
    }
    if (trapped) {
        cof_subject_result_free(&res);
        return cof_api_poison_hit(s, c, r, ai, &hit);
    }
    int breached = 0;
    uint64_t give = res.n ? cof_guard_budget(s->guard, r->p->name, r->p->budget_per_hour, res.n,
                                             cof_time_now_us(), &breached) : 0;
    int unsealed = give == res.n;
    if (breached)
        cof_server_alert(s, "budget.breach", COF_SEV_HIGH,
                         "a principal exhausted its hourly budget of unsealed events", NULL);
    cof_buf b;
    cof_buf_init(&b, 256u << 20);
    cof_status bs = cof_buf_add(&b, "{\"events\":[", 11);
    for (size_t i = 0; i < res.n && !bs; i++) {
        if (i)
            bs = cof_buf_add(&b, ",", 1);
        if (!bs)
            bs = cof_output_event_jsonbuf(&res.ev[i].e.r, !unsealed, &b);
    }
    char tail[120];
    int tn = snprintf(tail, sizeof tail, "],\"count\":%zu,\"truncated\":%s,\"unsealed\":%s}", res.n,
                      res.truncated ? "true" : "false", unsealed ? "true" : "false");
    if (!bs)
        bs = cof_buf_add(&b, tail, (size_t)tn + 1);
    ai->events = res.n;
    if (ai->params) {
        json_object_set_new(ai->params, "subjects", json_integer(res.n ? 1 : 0));
        json_object_set_new(ai->params, "unsealed", json_boolean(unsealed && res.n));
        json_t *ca = json_array();
        uint32_t cm = cof_subject_categories(&res);
        for (int i = 0; ca && i < COF_SUBJECT_NCATEGORIES; i++)
            if (cm & (1u << i))
                json_array_append_new(ca, json_string(cof_subject_category_names[i]));
        if (ca)
            json_object_set_new(ai->params, "categories", ca);
    }
    cof_subject_result_free(&res);
    if (bs) {
        cof_buf_free(&b);
        return cof_api_finish_err(s, c, r, ai, 500, "the answer is too large", 0);
    }
    atomic_fetch_add(&s->events_returned, ai->events);
    return cof_api_finish(s, c, r, ai, 200, (char *)b.p, "application/json", 0);
}

static enum MHD_Result erase(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai,
                             const char *addr, const char **tenants, size_t nt, const char *blind)
{
    cof_subject_erased *out = calloc(nt ? nt : 1, sizeof *out);
    if (!out)
        return cof_api_finish_err(s, c, r, ai, 500, "out of memory", 0);
    pthread_mutex_lock(&s->store_mu);
    cof_status st = cof_subject_erase(s->store, tenants, nt, cof_str_c(addr), out);
    pthread_mutex_unlock(&s->store_mu);
    uint64_t total = 0, remaining = 0;
    json_t *per = json_array();
    for (size_t i = 0; i < nt && per; i++) {
        total += out[i].events;
        remaining += out[i].remaining;
        if (out[i].events || out[i].remaining)
            json_array_append_new(per, json_pack("{s:s,s:I,s:i,s:i,s:I}", "tenant", out[i].tenant,
                                                 "events_erased", (json_int_t)out[i].events,
                                                 "segments_rewritten", (int)out[i].segments_rewritten,
                                                 "segments_removed", (int)out[i].segments_removed,
                                                 "remaining", (json_int_t)out[i].remaining));
    }
    free(out);
    if (ai->params)
        json_object_set_new(ai->params, "events_erased", json_integer((json_int_t)total));
    char when[40];
    json_t *o = json_pack("{s:s,s:s,s:s,s:o,s:I,s:b}", "receipt", "coffer-erasure-1", "time",
                          cof_time_format(cof_time_now_us(), when, sizeof when), "subject", blind,
                          "tenants", per ? per : json_array(), "events_erased", (json_int_t)total,
                          "complete", !st && !remaining);
    char *body = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (st) {
        free(body);
        return cof_api_finish_err(s, c, r, ai, 500, "the erasure did not complete; run it again", 0);
    }
    char sum[160];
    snprintf(sum, sizeof sum, "data subject %s erased by %s: %llu events", blind, r->p->name,
             (unsigned long long)total);
    cof_server_alert(s, "subject.erased", COF_SEV_MEDIUM, sum, NULL);
    return body ? cof_api_finish(s, c, r, ai, 200, body, "application/json", 0)
                : cof_api_finish_err(s, c, r, ai, 500, "out of memory", 0);
}

int cof_api_subject_route(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai,
                          const char *url, const char *method, enum MHD_Result *ret)
{
    int is_find = !strcmp(url, "/v1/subjects/find"), is_erase = !strcmp(url, "/v1/subjects/erase");
    if (!is_find && !is_erase)
        return 0;
    ai->action = is_find ? "subject.find" : "subject.erase";
    if (strcmp(method, "POST") != 0) {
        ai->params = json_pack("{s:s}", "method", strlen(method) > 16 ? "(long)" : method);
        *ret = cof_api_finish_err(s, c, r, ai, 405, "method not allowed (POST the address)", 0);
        return 1;
    }
    uint32_t perm = is_find ? COF_PERM_TRAIL : COF_PERM_ADMIN;
    int64_t now = cof_time_now_us();
    if (!(cof_access_any_perms(r->acc->a, r->p, now) & perm)) {
        *ret = cof_api_finish_err(s, c, r, ai, 403, is_find ? "this principal may not read trails"
                                                            : "only administrators erase", 0);
        return 1;
    }
    if (is_find && cof_access_locked(r->acc->a)) {
        *ret = cof_api_finish_err(s, c, r, ai, 423, "lockdown in force: personal-field reads are "
                                                    "stopped", 0);
        return 1;
    }
    char addr[SUBJECT_MAX_ADDR + 1], tenant[COF_MAX_TENANT_NAME + 1];
    if (!parse_body(r, addr, tenant)) {
        *ret = cof_api_finish_err(s, c, r, ai, 400, "send {\"address\": \"...\", \"tenant\": "
                                                    "\"T\" (optional)}", 0);
        return 1;
    }
    char blind[40];
    if (cof_audit_blind(s->audit_blind_key, cof_str_c(addr), blind) != COF_OK)
        snprintf(blind, sizeof blind, "b:?");
    ai->params = json_pack("{s:s}", "value", blind);
    /* Tenants: the caller's scope for the permission (all stored tenants for "*"). */
    int all = 0;
    const char *names[MAX_SCOPE];
    uint32_t nn = 0;
    cof_api_tenants_for(s, r, perm, tenant[0] ? tenant : NULL, &all, names, &nn);
    const char **tenants = names;
    size_t nt = nn;
    cof_seg_info *segs = NULL;
    size_t nsegs = 0;
    if (all) {
        /* Every tenant the store holds (from its segment list), bounded. */
        pthread_mutex_lock(&s->store_mu);
        cof_status st = cof_store_segments(s->store, &segs, &nsegs);
        pthread_mutex_unlock(&s->store_mu);
        if (st) {
            *ret = cof_api_finish_err(s, c, r, ai, 500, "the store cannot be listed", 0);
            return 1;
        }
        nt = 0;
        for (size_t i = 0; i < nsegs && nt < MAX_SCOPE; i++) {
            int seen = 0;
            for (size_t j = 0; j < nt && !seen; j++)
                seen = !strcmp(names[j], segs[i].tenant);
            if (!seen)
                names[nt++] = segs[i].tenant;
        }
    }
    for (size_t i = 0; i < nt && ai->ntenants < MAX_SCOPE; i++)
        ai->tenants[ai->ntenants++] = tenants[i];
    if (!nt) {
        free(segs);
        /* Out of scope answers exactly like no data. */
        *ret = is_find ? cof_api_finish(s, c, r, ai, 200,
                                        strdup("{\"events\":[],\"count\":0,\"truncated\":false,"
                                               "\"unsealed\":false}"), "application/json", 0)
                       : erase(s, c, r, ai, addr, tenants, 0, blind);
        return 1;
    }
    *ret = is_find ? find(s, c, r, ai, addr, tenants, nt) : erase(s, c, r, ai, addr, tenants, nt, blind);
    free(segs);
    return 1;
}
