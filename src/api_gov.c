/* api_gov.c - access changes and lockdown over the API (docs/API.md, GOVERNANCE.md).
 *
 *   GET  /v1/changes                 pending and past changes (admin, auditor)
 *   POST /v1/changes                 propose: body = a whole access document, or
 *                                    {"document": {...}, "reason": "..."} (admin)
 *   GET  /v1/changes/ID              one change with its proposed document
 *   POST /v1/changes/ID/approve      (admin; never the proposer)
 *   POST /v1/changes/ID/reject       body {"reason": "..."} optional (admin)
 *   GET  /v1/lockdown                status (admin, auditor)
 *   POST /v1/lockdown                {"reason": "..."}: stops personal-field reads now (admin)
 *   POST /v1/lockdown/lift           proposes lifting it (needs a second administrator)
 *
 * The same rules as `coffer acl` (change.c): the principal of the token is the person. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "change.h"
#include "timefmt.h"

static char *change_body(const cof_change *c, int with_doc)
{
    char *s = NULL;
    return cof_change_json(c, with_doc, &s) == COF_OK ? s : NULL;
}

static void change_params(audit_info *ai, const cof_change *c, const char *id)
{
    ai->params = json_pack("{s:s}", "change", c ? c->id : id ? id : "-");
    if (c && ai->params) {
        json_object_set_new(ai->params, "kind", json_string(cof_change_kind_name(c->kind)));
        json_object_set_new(ai->params, "state", json_string(cof_change_state_name(c->state)));
        json_object_set_new(ai->params, "people", json_integer(1 + c->napprovals));
        json_object_set_new(ai->params, "required", json_integer(c->required));
    }
}

/* Map a change-module status to an answer. */
static enum MHD_Result change_answer(cof_server *s, struct MHD_Connection *c, req *r,
                                     audit_info *ai, cof_status st, cof_change *ch,
                                     const char *event, unsigned ok_status)
{
    enum MHD_Result ret;
    change_params(ai, ch, NULL);
    if (st == COF_OK) {
        cof_change_announce(s->alerts, ch, event, r->p->name);
        if (ch->state == COF_CST_APPLIED && strcmp(event, "applied") != 0)
            cof_change_announce(s->alerts, ch, "applied", r->p->name);
        atomic_fetch_add(&s->alerts_raised, 1);
        char *b = change_body(ch, 0);
        ret = b ? cof_api_finish(s, c, r, ai, ok_status, b, "application/json", 0)
                : cof_api_finish_err(s, c, r, ai, 500, "out of memory", 0);
    } else {
        /* Messages of the change module name principals, ids and versions: policy, not
         * personal values. */
        unsigned code = st == COF_DENIED ? 403 : st == COF_NOTFOUND ? 404
                      : st == COF_AGAIN || st == COF_EXISTS ? 409 : st == COF_BADINPUT ? 400 : 500;
        ret = cof_api_finish_err(s, c, r, ai, code, code == 500 ? "the change failed" : cof_err_msg(),
                                 0);
    }
    cof_change_free(ch);
    return ret;
}

/* Parse a small JSON object body; NULL with *why on error. An empty body is {}. */
static json_t *body_json(req *r, const char **why)
{
    if (r->too_big) {
        *why = "request body too large";
        return NULL;
    }
    if (r->body.n == 0)
        return json_object();
    json_t *o = json_loadb((const char *)r->body.p, r->body.n, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        *why = "the body must be a JSON object";
        return NULL;
    }
    return o;
}

static const char *reason_of(json_t *o, const char **why)
{
    json_t *v = json_object_get(o, "reason");
    if (!v)
        return NULL;
    if (!json_is_string(v) || json_string_length(v) > COF_MAX_REASON ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        *why = "reason must be a string of at most 500 bytes";
        return "";
    }
    return json_string_value(v);
}

static enum MHD_Result list_changes(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai)
{
    cof_change **v = NULL;
    size_t n = 0;
    if (cof_change_list(s->cfg->data_dir, cof_time_now_us(), &v, &n) != COF_OK)
        return cof_api_finish_err(s, c, r, ai, 500, "the changes cannot be read", 0);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        char *t = change_body(v[i], 0);
        json_t *o = t ? json_loads(t, 0, NULL) : NULL;
        free(t);
        if (o)
            json_array_append_new(arr, o);
        cof_change_free(v[i]);
    }
    free(v);
    json_t *o = json_pack("{s:o}", "changes", arr);
    char *b = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return b ? cof_api_finish(s, c, r, ai, 200, b, "application/json", 0)
             : cof_api_finish_err(s, c, r, ai, 500, "out of memory", 0);
}

static enum MHD_Result propose(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai)
{
    const char *why = NULL;
    json_t *o = body_json(r, &why);
    if (!o)
        return cof_api_finish_err(s, c, r, ai, why && !strcmp(why, "request body too large")
                                                   ? 413 : 400, why, 0);
    json_t *doc = json_object_get(o, "document");
    const char *reason = doc ? reason_of(o, &why) : NULL;
    if (why) {
        json_decref(o);
        return cof_api_finish_err(s, c, r, ai, 400, why, 0);
    }
    char *text = json_dumps(doc ? doc : o, JSON_COMPACT);
    cof_access *prop = NULL;
    cof_status st = text ? cof_access_parse(text, strlen(text), "proposed document", &prop)
                         : COF_NOMEM;
    free(text);
    if (st) {
        json_decref(o);
        /* The parser names the JSON path that failed, never a value. */
        return cof_api_finish_err(s, c, r, ai, 400, st == COF_NOMEM ? "out of memory" : cof_err_msg(),
                                  0);
    }
    cof_change *ch = NULL;
    st = cof_change_propose(s->cfg, prop, r->p->name, reason, cof_time_now_us(), &ch);
    cof_access_free(prop);
    json_decref(o);
    return change_answer(s, c, r, ai, st, ch, "proposed", 201);
}

static enum MHD_Result one_change(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai,
                                  const char *id, const char *verb)
{
    cof_change *ch = NULL;
    if (!verb) {
        cof_status st = cof_change_load(s->cfg->data_dir, id, cof_time_now_us(), &ch);
        change_params(ai, ch, id);
        if (st) {
            cof_change_free(ch);
            return cof_api_finish_err(s, c, r, ai, st == COF_NOTFOUND ? 404 : 500,
                                      st == COF_NOTFOUND ? "no such change" : "the change cannot be read",
                                      0);
        }
        char *b = change_body(ch, 1);
        cof_change_free(ch);
        return b ? cof_api_finish(s, c, r, ai, 200, b, "application/json", 0)
                 : cof_api_finish_err(s, c, r, ai, 500, "out of memory", 0);
    }
    const char *why = NULL;
    json_t *o = body_json(r, &why);
    const char *reason = o ? reason_of(o, &why) : NULL;
    if (why) {
        json_decref(o);
        change_params(ai, NULL, id);
        return cof_api_finish_err(s, c, r, ai, 400, why, 0);
    }
    int64_t now = cof_time_now_us();
    cof_status st = !strcmp(verb, "approve")
                        ? cof_change_approve(s->cfg, id, r->p->name, now, &ch)
                        : cof_change_reject(s->cfg, id, r->p->name, reason, now, &ch);
    json_decref(o);
    if (st == COF_AGAIN) {
        change_params(ai, ch, id);
        cof_change_free(ch);
        return cof_api_finish_err(s, c, r, ai, 409, cof_err_msg(), 0);
    }
    return change_answer(s, c, r, ai, st, ch, !strcmp(verb, "approve") ? "approved" : "rejected",
                         200);
}

static enum MHD_Result lockdown(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai,
                                int lift)
{
    const char *why = NULL;
    json_t *o = body_json(r, &why);
    const char *reason = o ? reason_of(o, &why) : NULL;
    if (!why && !lift && !reason)
        why = "a lockdown needs {\"reason\": \"...\"}";
    if (why) {
        json_decref(o);
        return cof_api_finish_err(s, c, r, ai, 400, why, 0);
    }
    cof_change *ch = NULL;
    int64_t now = cof_time_now_us();
    cof_status st = lift ? cof_change_lift(s->cfg, r->p->name, reason, now, &ch)
                         : cof_change_lockdown(s->cfg, r->p->name, reason, now, &ch);
    json_decref(o);
    /* Every later request re-reads access.json within 100 ms (server.c), so the
     * lockdown holds for all of them from then on. */
    return change_answer(s, c, r, ai, st, ch, lift ? "proposed" : "applied", lift ? 201 : 200);
}

static enum MHD_Result lockdown_status(cof_server *s, struct MHD_Connection *c, req *r,
                                       audit_info *ai)
{
    const cof_access_gov *g = &r->acc->a->gov;
    char tb[40];
    json_t *o = g->lockdown_since
                    ? json_pack("{s:b,s:s,s:s,s:s}", "locked", 1, "since",
                                cof_time_format(g->lockdown_since, tb, sizeof tb), "by",
                                g->lockdown_by, "reason", g->lockdown_reason)
                    : json_pack("{s:b}", "locked", 0);
    char *b = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return b ? cof_api_finish(s, c, r, ai, 200, b, "application/json", 0)
             : cof_api_finish_err(s, c, r, ai, 500, "out of memory", 0);
}

enum MHD_Result cof_api_poison_hit(cof_server *s, struct MHD_Connection *c, req *r,
                                   audit_info *ai, const cof_poison_hit *hit)
{
    char cid[COF_CHANGE_IDLEN + 1] = "";
    cof_status st = cof_change_suspend(s->cfg->data_dir, r->p->name, "coffer",
                                       "a response would have included a poison record",
                                       cof_time_now_us(), cid);
    if (st && st != COF_EXISTS)
        fprintf(stderr, "coffer serve: suspending %s failed: %s\n", r->p->name, cof_err_msg());
    json_t *d = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "principal", r->p->name, "source", r->source,
                          "set", hit->set_id, "kind", cof_poison_kind_name(hit->kind), "tenant",
                          hit->tenant, "change", cid);
    char *ds = d ? json_dumps(d, JSON_COMPACT) : NULL;
    char sum[200];
    snprintf(sum, sizeof sum, "poison record reached by %s: response withheld, principal suspended",
             r->p->name);
    cof_server_alert(s, "poison.hit", COF_SEV_CRITICAL, sum, ds);
    free(ds);
    if (!ai->params)
        ai->params = json_object();
    if (ai->params) {
        json_object_set_new(ai->params, "poison", json_string(hit->set_id));
        json_object_set_new(ai->params, "suspended", json_string(cid));
    }
    json_decref(d);
    /* The answer does not say why: a caller must not learn which records are traps. */
    return cof_api_finish_err(s, c, r, ai, 403, "this principal is suspended", 0);
}

int cof_api_gov_route(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai,
                      const char *url, const char *method, enum MHD_Result *ret)
{
    int get = !strcmp(method, "GET"), post = !strcmp(method, "POST");
    uint32_t perms = cof_access_any_perms(r->acc->a, r->p, cof_time_now_us());
    if (!strcmp(url, "/v1/changes") || !strncmp(url, "/v1/changes/", 12)) {
        const char *rest = url[11] ? url + 12 : NULL;
        char id[COF_CHANGE_IDLEN + 1] = "";
        const char *verb = NULL;
        if (rest) {
            size_t l = strcspn(rest, "/");
            if (l != COF_CHANGE_IDLEN)
                return 0;
            memcpy(id, rest, l);
            if (!cof_change_id_valid(id))
                return 0;
            verb = rest[l] ? rest + l + 1 : NULL;
            if (verb && strcmp(verb, "approve") != 0 && strcmp(verb, "reject") != 0)
                return 0;
        }
        ai->action = !rest ? (get ? "changes.list" : "changes.propose")
                   : !verb ? "changes.view" : !strcmp(verb, "approve") ? "changes.approve"
                                                                        : "changes.reject";
        int bad = !rest ? !(get || post) : !verb ? !get : !post;
        if (bad) {
            ai->params = json_pack("{s:s}", "method", strlen(method) > 16 ? "(long)" : method);
            *ret = cof_api_finish_err(s, c, r, ai, 405, "method not allowed", 0);
            return 1;
        }
        uint32_t need = get ? (COF_PERM_ADMIN | COF_PERM_AUDIT) : COF_PERM_ADMIN;
        if (!(perms & need)) {
            *ret = cof_api_finish_err(s, c, r, ai, 403, "only administrators change access", 0);
            return 1;
        }
        *ret = !rest ? (get ? list_changes(s, c, r, ai) : propose(s, c, r, ai))
                     : one_change(s, c, r, ai, id, verb);
        return 1;
    }
    if (!strcmp(url, "/v1/lockdown") || !strcmp(url, "/v1/lockdown/lift")) {
        int lift = url[12] != 0;
        ai->action = lift ? "lockdown.lift" : get ? "lockdown.status" : "lockdown";
        if (!(post || (get && !lift))) {
            ai->params = json_pack("{s:s}", "method", strlen(method) > 16 ? "(long)" : method);
            *ret = cof_api_finish_err(s, c, r, ai, 405, "method not allowed", 0);
            return 1;
        }
        uint32_t need = get ? (COF_PERM_ADMIN | COF_PERM_AUDIT) : COF_PERM_ADMIN;
        if (!(perms & need)) {
            *ret = cof_api_finish_err(s, c, r, ai, 403, "only administrators declare a lockdown", 0);
            return 1;
        }
        *ret = get ? lockdown_status(s, c, r, ai) : lockdown(s, c, r, ai, lift);
        return 1;
    }
    return 0;
}
