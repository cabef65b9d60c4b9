/* api_export.c - bulk export under approval over the API (docs/EXPORT.md, export.h).
 *
 *   POST /v1/exports                 {"tenant","since","until","reason"}: request (needs
 *                                    the export permission on the tenant)
 *   GET  /v1/exports                 list: administrators and auditors see all, others
 *                                    their own
 *   GET  /v1/exports/ID              one
 *   POST /v1/exports/ID/approve      a second person (admin or exporter on the tenant)
 *   POST /v1/exports/ID/reject
 *   GET  /v1/exports/ID/data         the requester fetches it, once: JSON lines, unsealed,
 *                                    watermarked; withheld if it would include a poison
 *                                    record (the requester is then suspended)
 *
 * A lockdown stops requests and fetches (423); approvals and rejections go on. The body of a fetch is built
 * in memory up to COF_EXPORT_MAX_BODY (never on disk, where it would be clear text);
 * a larger export asks for a narrower window. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "export.h"
#include "timefmt.h"

#define COF_EXPORT_MAX_BODY (256u << 20) /* bytes of one fetch answer, held in memory */

static json_t *jt(int64_t us)
{
    char b[40];
    return us ? json_string(cof_time_format(us, b, sizeof b)) : json_null();
}

static json_t *export_json(const cof_export *e)
{
    return json_pack("{s:s,s:s,s:s,s:o,s:o,s:s,s:o,s:o,s:s,s:s?,s:o,s:I,s:s?}", "id", e->id,
                     "requester", e->requester, "tenant", e->tenant, "since", jt(e->since),
                     "until", jt(e->until), "reason", e->reason, "created", jt(e->created),
                     "expires", jt(e->expires), "state", cof_export_state_name(e->state),
                     "approver", e->approver[0] ? e->approver : NULL, "approved", jt(e->approved),
                     "events", (json_int_t)e->events, "watermark",
                     e->watermark[0] ? e->watermark : NULL);
}

static enum MHD_Result send_export(cof_server *s, struct MHD_Connection *c, req *r,
                                   audit_info *ai, unsigned status, const cof_export *e)
{
    json_t *o = export_json(e);
    char *b = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return b ? cof_api_finish(s, c, r, ai, status, b, "application/json", 0)
             : cof_api_finish_err(s, c, r, ai, 500, "out of memory", 0);
}

static unsigned status_of(cof_status st)
{
    return st == COF_DENIED ? 403 : st == COF_NOTFOUND ? 404 : st == COF_LIMIT ? 429
         : st == COF_BADINPUT ? 400 : st == COF_AGAIN || st == COF_EXISTS ? 409 : 500;
}

static void announce(cof_server *s, const char *kind, const cof_export *e, const char *by)
{
    char d[400], sum[200];
    snprintf(d, sizeof d, "{\"export\":\"%s\",\"tenant\":\"%s\",\"requester\":\"%s\",\"by\":\"%s\"}",
             e->id, e->tenant, e->requester, by);
    snprintf(sum, sizeof sum, "%s: export %s of tenant %s by %s", kind, e->id, e->tenant, by);
    cof_server_alert(s, kind, !strcmp(kind, "export.fetched") ? COF_SEV_HIGH : COF_SEV_MEDIUM, sum, d);
}

static enum MHD_Result request_export(cof_server *s, struct MHD_Connection *c, req *r,
                                      audit_info *ai, int64_t now)
{
    json_t *o = r->body.n && !r->too_big
                    ? json_loadb((const char *)r->body.p, r->body.n, JSON_REJECT_DUPLICATES, NULL)
                    : NULL;
    const char *tenant = json_string_value(json_object_get(o, "tenant"));
    const char *reason = json_string_value(json_object_get(o, "reason"));
    const char *ss = json_string_value(json_object_get(o, "since"));
    const char *us = json_string_value(json_object_get(o, "until"));
    int64_t since = 0, until = 0;
    enum MHD_Result ret;
    if (!json_is_object(o) || !tenant || !ss || !us ||
        !cof_tenant_name_valid(cof_str_c(tenant)) ||
        cof_access_time(cof_str_c(ss), &since) != COF_OK ||
        cof_access_time(cof_str_c(us), &until) != COF_OK) {
        ret = cof_api_finish_err(s, c, r, ai, 400, "send {\"tenant\", \"since\", \"until\" (RFC 3339 "
                                                   "UTC), \"reason\"}", 0);
        goto out;
    }
    ai->params = json_pack("{s:s,s:s,s:s}", "tenant", tenant, "since", ss, "until", us);
    ai->tenants[ai->ntenants++] = tenant;
    if (!(cof_access_perms(r->acc->a, r->p, tenant, now) & COF_PERM_EXPORT)) {
        ret = cof_api_finish_err(s, c, r, ai, 403, "this principal may not export that tenant", 0);
        goto out;
    }
    if (!reason || !*reason) {
        ret = cof_api_finish_err(s, c, r, ai, 400, "an export needs a stated reason", 0);
        goto out;
    }
    cof_export e;
    cof_status st = cof_export_request(s->cfg, r->p->name, tenant, since, until, reason, now, &e);
    if (st) {
        unsigned code = status_of(st);
        ret = cof_api_finish_err(s, c, r, ai, code, code == 500 ? "the request failed" : cof_err_msg(),
                                 code == 429 ? 3600 : 0);
        goto out;
    }
    json_object_set_new(ai->params, "export", json_string(e.id));
    announce(s, "export.requested", &e, r->p->name);
    ret = send_export(s, c, r, ai, 201, &e);
out:
    json_decref(o);
    return ret;
}

static enum MHD_Result list_exports(cof_server *s, struct MHD_Connection *c, req *r,
                                    audit_info *ai, int64_t now, uint32_t perms)
{
    cof_export *v = NULL;
    size_t n = 0;
    if (cof_export_list(s->cfg->data_dir, now, &v, &n) != COF_OK)
        return cof_api_finish_err(s, c, r, ai, 500, "the exports cannot be read", 0);
    int all = (perms & (COF_PERM_ADMIN | COF_PERM_AUDIT)) != 0;
    json_t *arr = json_array();
    for (size_t i = 0; i < n && arr; i++)
        if (all || !strcmp(v[i].requester, r->p->name))
            json_array_append_new(arr, export_json(&v[i]));
    free(v);
    json_t *o = json_pack("{s:o}", "exports", arr);
    char *b = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return b ? cof_api_finish(s, c, r, ai, 200, b, "application/json", 0)
             : cof_api_finish_err(s, c, r, ai, 500, "out of memory", 0);
}

static cof_status to_buf(void *ctx, const void *p, size_t n)
{
    return cof_buf_add(ctx, p, n);
}

static enum MHD_Result fetch(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai,
                             const cof_export *e, int64_t now)
{
    cof_buf out;
    cof_buf_init(&out, COF_EXPORT_MAX_BODY);
    cof_export_result res;
    memset(&res, 0, sizeof res);
    pthread_mutex_lock(&s->store_mu);
    if (cof_poison_reload_if_changed(s->poison, NULL) != COF_OK)
        fprintf(stderr, "coffer serve: poison registry not reloaded: %s\n", cof_err_msg());
    cof_status st = cof_export_write(s->store, s->poison, e->id, r->p->name, now, to_buf, &out,
                                     NULL, NULL, &res);
    pthread_mutex_unlock(&s->store_mu);
    if (st == COF_DENIED && res.poisoned) {
        cof_buf_free(&out);
        return cof_api_poison_hit(s, c, r, ai, &res.hit);
    }
    if (st) {
        cof_buf_free(&out);
        unsigned code = st == COF_FULL || st == COF_LIMIT ? 413 : status_of(st);
        return cof_api_finish_err(s, c, r, ai, code,
                                  code == 413 ? "the export is too large for one answer: request "
                                                "a narrower window"
                                  : code == 500 ? "the export failed" : cof_err_msg(), 0);
    }
    char cats[256];
    ai->events = res.events;
    if (ai->params) {
        json_object_set_new(ai->params, "subjects", json_integer((json_int_t)res.subjects));
        json_object_set_new(ai->params, "unsealed", json_true());
        json_object_set_new(ai->params, "watermark", json_string(res.watermark));
        json_t *ca = json_loads(cof_export_categories(res.categories, cats, sizeof cats), 0, NULL);
        if (ca)
            json_object_set_new(ai->params, "categories", ca);
    }
    announce(s, "export.fetched", e, r->p->name);
    if (cof_buf_add(&out, "", 1) != COF_OK) {
        cof_buf_free(&out);
        return cof_api_finish_err(s, c, r, ai, 413, "the export is too large for one answer", 0);
    }
    return cof_api_finish(s, c, r, ai, 200, (char *)out.p, "application/x-ndjson", 0);
}

int cof_api_export_route(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai,
                         const char *url, const char *method, enum MHD_Result *ret)
{
    if (strcmp(url, "/v1/exports") != 0 && strncmp(url, "/v1/exports/", 12) != 0)
        return 0;
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    int64_t now = cof_time_now_us();
    uint32_t perms = cof_access_any_perms(r->acc->a, r->p, now);
    const char *rest = url[11] ? url + 12 : NULL;
    char id[COF_EXPORT_IDLEN + 1] = "";
    const char *verb = NULL;
    if (rest) {
        size_t l = strcspn(rest, "/");
        if (l != COF_EXPORT_IDLEN || rest[0] != 'x' || rest[1] != '-')
            return 0;
        /* The id goes into the audit record: only "x-" + lowercase hex, never other text
         * from the URL. */
        for (size_t i = 2; i < l; i++)
            if (!((rest[i] >= '0' && rest[i] <= '9') || (rest[i] >= 'a' && rest[i] <= 'f')))
                return 0;
        memcpy(id, rest, l);
        verb = rest[l] ? rest + l + 1 : NULL;
        if (verb && strcmp(verb, "approve") && strcmp(verb, "reject") && strcmp(verb, "data"))
            return 0;
    }
    ai->action = !rest ? (post ? "export.request" : "export.list")
               : !verb ? "export.view" : !strcmp(verb, "data") ? "export.fetch"
               : !strcmp(verb, "approve") ? "export.approve" : "export.reject";
    int data = verb && !strcmp(verb, "data");
    int bad = !rest ? !(get || post) : (!verb || data) ? !get : !post;
    if (bad) {
        ai->params = json_pack("{s:s}", "method", strlen(method) > 16 ? "(long)" : method);
        *ret = cof_api_finish_err(s, c, r, ai, 405, "method not allowed", 0);
        return 1;
    }
    if (!(perms & (COF_PERM_EXPORT | COF_PERM_ADMIN | COF_PERM_AUDIT))) {
        *ret = cof_api_finish_err(s, c, r, ai, 403, "this principal has no part in exports", 0);
        return 1;
    }
    int locked = cof_access_locked(r->acc->a);
    if (locked && ((!rest && post) || data)) {
        *ret = cof_api_finish_err(s, c, r, ai, 423, "lockdown in force: exports are stopped", 0);
        return 1;
    }
    if (!rest) {
        *ret = post ? request_export(s, c, r, ai, now) : list_exports(s, c, r, ai, now, perms);
        return 1;
    }
    cof_export e;
    ai->params = json_pack("{s:s}", "export", id);
    cof_status st = cof_export_get(s->cfg->data_dir, id, now, &e);
    if (st) {
        *ret = cof_api_finish_err(s, c, r, ai, 404, "no such export", 0);
        return 1;
    }
    ai->tenants[ai->ntenants++] = e.tenant;
    uint32_t tperms = cof_access_perms(r->acc->a, r->p, e.tenant, now);
    int mine = !strcmp(e.requester, r->p->name);
    if (!verb) {
        *ret = mine || (perms & (COF_PERM_ADMIN | COF_PERM_AUDIT)) || (tperms & COF_PERM_EXPORT)
                   ? send_export(s, c, r, ai, 200, &e)
                   : cof_api_finish_err(s, c, r, ai, 404, "no such export", 0);
        return 1;
    }
    if (data) {
        *ret = mine ? fetch(s, c, r, ai, &e, now)
                    : cof_api_finish_err(s, c, r, ai, 403, "only the requester fetches an export", 0);
        return 1;
    }
    int approve = !strcmp(verb, "approve");
    st = approve ? cof_export_approve(s->cfg->data_dir, id, r->p->name, tperms, now, &e)
                 : cof_export_reject(s->cfg->data_dir, id, r->p->name, tperms, now, &e);
    if (st) {
        unsigned code = status_of(st);
        *ret = cof_api_finish_err(s, c, r, ai, code, code == 500 ? "the change failed" : cof_err_msg(), 0);
        return 1;
    }
    announce(s, approve ? "export.approved" : "export.rejected", &e, r->p->name);
    *ret = send_export(s, c, r, ai, 200, &e);
    return 1;
}
