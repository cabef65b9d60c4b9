/* access_gov.c - the governed settings of the access document: the review rule,
 * lockdown, retention, alert sinks and field policies (docs/GOVERNANCE.md).
 *
 * They live in access.json, not in the config file, so that changing any of them is a
 * proposal under two-person review like a grant (change.c), and so that one file says
 * everything an auditor must see. The config file keeps its alert.* and policy keys as
 * defaults for installations whose document does not name them.
 *
 *   "governance": { "approvals": 2, "single_admin": false, "proposal_ttl_hours": 72 },
 *   "lockdown":   { "since": RFC3339, "by": "alice", "reason": "..." },   (absent: none)
 *   "retention":  { "default_days": 0, "tenants": { "acme": 30 } },     (0: keep forever)
 *   "alerts":     { "syslog": true, "webhook": "https://...", "webhook_secret_file": "...",
 *                   "webhook_ca": "...", "command": "/path" },
 *   "policies":   { "*": { "subject": "drop" }, "acme": { "subject": "seal" } } */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "access.h"
#include "timefmt.h"

#define GOV_MAX_APPROVALS 9
#define GOV_MAX_TTL_HOURS (24u * 30u)
#define GOV_MAX_RETENTION_DAYS (365u * 100u)

static cof_status gerr(const char *name, const char *path, const char *what)
{
    return COF_ERR(COF_BADINPUT, "%s: %s: %s", name, path, what);
}

static cof_status gkeys(json_t *obj, const char *const *allowed, const char *name, const char *path)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        int found = 0;
        for (const char *const *a = allowed; *a; a++)
            if (!strcmp(*a, k))
                found = 1;
        if (!found)
            /* The key comes from the document; name the object, not the key. */
            return gerr(name, path, "unknown key");
    }
    return COF_OK;
}

static int gstr(json_t *v, char *dst, size_t cap)
{
    if (!json_is_string(v) || json_string_length(v) >= cap ||
        strlen(json_string_value(v)) != json_string_length(v))
        return -1;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int guint(json_t *v, uint32_t lo, uint32_t hi, uint32_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < (json_int_t)lo ||
        json_integer_value(v) > (json_int_t)hi)
        return -1;
    *out = (uint32_t)json_integer_value(v);
    return 0;
}

void cof_access_gov_defaults(cof_access *a)
{
    a->gov.approvals = 2;
    a->gov.proposal_ttl_hours = 72;
    a->gov.alert_syslog = 1;
}

static cof_status parse_governance(json_t *j, const char *name, cof_access *a)
{
    static const char *const keys[] = { "approvals", "single_admin", "proposal_ttl_hours", NULL };
    cof_status st;
    json_t *v;
    if (!json_is_object(j))
        return gerr(name, "governance", "must be an object");
    if ((st = gkeys(j, keys, name, "governance")))
        return st;
    if ((v = json_object_get(j, "single_admin"))) {
        if (!json_is_boolean(v))
            return gerr(name, "governance.single_admin", "must be true or false");
        a->gov.single_admin = json_is_true(v);
    }
    if ((v = json_object_get(j, "approvals")) &&
        guint(v, a->gov.single_admin ? 1 : 2, GOV_MAX_APPROVALS, &a->gov.approvals))
        return gerr(name, "governance.approvals",
                    "must be 2..9 (1 only with \"single_admin\": true)");
    if ((v = json_object_get(j, "proposal_ttl_hours")) &&
        guint(v, 1, GOV_MAX_TTL_HOURS, &a->gov.proposal_ttl_hours))
        return gerr(name, "governance.proposal_ttl_hours", "must be 1..720");
    return COF_OK;
}

static cof_status parse_lockdown(json_t *j, const char *name, cof_access *a)
{
    static const char *const keys[] = { "since", "by", "reason", NULL };
    cof_status st;
    json_t *v;
    if (!json_is_object(j))
        return gerr(name, "lockdown", "must be an object");
    if ((st = gkeys(j, keys, name, "lockdown")))
        return st;
    v = json_object_get(j, "since");
    if (!json_is_string(v) ||
        cof_access_time(cof_str_make(json_string_value(v), json_string_length(v)),
                        &a->gov.lockdown_since) != COF_OK ||
        a->gov.lockdown_since <= 0)
        return gerr(name, "lockdown.since", "missing or not an RFC 3339 UTC time");
    if ((v = json_object_get(j, "by")) && gstr(v, a->gov.lockdown_by, sizeof a->gov.lockdown_by))
        return gerr(name, "lockdown.by", "must be a principal name");
    if ((v = json_object_get(j, "reason")) &&
        gstr(v, a->gov.lockdown_reason, sizeof a->gov.lockdown_reason))
        return gerr(name, "lockdown.reason", "must be a string of at most 500 bytes");
    return COF_OK;
}

static cof_status parse_retention(json_t *j, const char *name, cof_access *a)
{
    static const char *const keys[] = { "default_days", "tenants", NULL };
    cof_status st;
    json_t *v;
    if (!json_is_object(j))
        return gerr(name, "retention", "must be an object");
    if ((st = gkeys(j, keys, name, "retention")))
        return st;
    if ((v = json_object_get(j, "default_days")) &&
        guint(v, 0, GOV_MAX_RETENTION_DAYS, &a->gov.retention_default_days))
        return gerr(name, "retention.default_days", "must be 0 (keep) .. 36500");
    json_t *jt = json_object_get(j, "tenants");
    if (!jt)
        return COF_OK;
    if (!json_is_object(jt))
        return gerr(name, "retention.tenants", "must be an object");
    size_t n = json_object_size(jt);
    if (n > COF_MAX_GOV_RULES)
        return COF_ERR(COF_LIMIT, "%s: retention.tenants: more than %d", name, COF_MAX_GOV_RULES);
    if (n && !(a->gov.retention = calloc(n, sizeof *a->gov.retention)))
        return COF_ERR(COF_NOMEM, "%s", name);
    const char *k;
    json_object_foreach(jt, k, v) {
        cof_retention_rule *r = &a->gov.retention[a->gov.nretention];
        if (!cof_tenant_name_valid(cof_str_c(k)))
            return gerr(name, "retention.tenants", "a tenant name is not valid");
        memcpy(r->tenant, k, strlen(k) + 1);
        if (guint(v, 0, GOV_MAX_RETENTION_DAYS, &r->days))
            return gerr(name, "retention.tenants", "days must be 0 (keep) .. 36500");
        a->gov.nretention++;
    }
    return COF_OK;
}

static cof_status parse_alerts(json_t *j, const char *name, cof_access *a)
{
    static const char *const keys[] = { "syslog", "webhook", "webhook_secret_file", "webhook_ca",
                                        "command", NULL };
    cof_status st;
    json_t *v;
    if (!json_is_object(j))
        return gerr(name, "alerts", "must be an object");
    if ((st = gkeys(j, keys, name, "alerts")))
        return st;
    a->gov.has_alerts = 1;
    if ((v = json_object_get(j, "syslog"))) {
        if (!json_is_boolean(v))
            return gerr(name, "alerts.syslog", "must be true or false");
        a->gov.alert_syslog = json_is_true(v);
    }
    struct { const char *k; char *dst; size_t cap; } s[] = {
        { "webhook", a->gov.alert_webhook, sizeof a->gov.alert_webhook },
        { "webhook_secret_file", a->gov.alert_webhook_secret_file,
          sizeof a->gov.alert_webhook_secret_file },
        { "webhook_ca", a->gov.alert_webhook_ca, sizeof a->gov.alert_webhook_ca },
        { "command", a->gov.alert_command, sizeof a->gov.alert_command },
    };
    for (size_t i = 0; i < sizeof s / sizeof *s; i++)
        if ((v = json_object_get(j, s[i].k)) && gstr(v, s[i].dst, s[i].cap))
            return gerr(name, "alerts", "a sink setting is not a string of bounded length");
    return COF_OK;
}

static cof_status parse_policies(json_t *j, const char *name, cof_access *a)
{
    if (!json_is_object(j))
        return gerr(name, "policies", "must be an object");
    size_t n = 0;
    const char *k, *fk;
    json_t *v, *fv;
    json_object_foreach(j, k, v) {
        if (!json_is_object(v))
            return gerr(name, "policies", "each tenant's policies must be an object");
        n += json_object_size(v);
        if (n > COF_MAX_GOV_RULES)
            return COF_ERR(COF_LIMIT, "%s: policies: more than %d rules", name, COF_MAX_GOV_RULES);
    }
    if (n && !(a->gov.policies = calloc(n, sizeof *a->gov.policies)))
        return COF_ERR(COF_NOMEM, "%s", name);
    json_object_foreach(j, k, v) {
        if (strcmp(k, "*") != 0 && !cof_tenant_name_valid(cof_str_c(k)))
            return gerr(name, "policies", "a tenant name is not valid (or \"*\")");
        json_object_foreach(v, fk, fv) {
            cof_policy_rule *r = &a->gov.policies[a->gov.npolicies];
            cof_field f;
            if (!cof_field_from_name(cof_str_c(fk), &f) || f == COF_F_TENANT)
                return gerr(name, "policies", "unknown field name");
            if (!json_is_string(fv) ||
                cof_policy_parse(f, cof_str_make(json_string_value(fv), json_string_length(fv)),
                                 &r->policy) != COF_OK)
                return gerr(name, "policies", "a policy is not valid for its field");
            memcpy(r->tenant, k, strlen(k) + 1);
            r->field = (uint8_t)f;
            a->gov.npolicies++;
        }
    }
    return COF_OK;
}

cof_status cof_access_gov_parse(json_t *root, const char *name, cof_access *a)
{
    cof_status st = COF_OK;
    json_t *v;
    cof_access_gov_defaults(a);
    if ((v = json_object_get(root, "governance")) && (st = parse_governance(v, name, a)))
        return st;
    if ((v = json_object_get(root, "lockdown")) && (st = parse_lockdown(v, name, a)))
        return st;
    if ((v = json_object_get(root, "retention")) && (st = parse_retention(v, name, a)))
        return st;
    if ((v = json_object_get(root, "alerts")) && (st = parse_alerts(v, name, a)))
        return st;
    if ((v = json_object_get(root, "policies")) && (st = parse_policies(v, name, a)))
        return st;
    return COF_OK;
}

static int jset(json_t *o, const char *k, json_t *v)
{
    return v ? json_object_set_new(o, k, v) : -1;
}

int cof_access_gov_dump(const cof_access *a, json_t *root)
{
    const cof_access_gov *g = &a->gov;
    char tb[40];
    int bad = 0;
    json_t *jg = json_object();
    bad |= !jg;
    bad |= jset(jg, "approvals", json_integer(g->approvals));
    bad |= jset(jg, "single_admin", json_boolean(g->single_admin));
    bad |= jset(jg, "proposal_ttl_hours", json_integer(g->proposal_ttl_hours));
    bad |= jset(root, "governance", jg);
    if (g->lockdown_since) {
        json_t *jl = json_object();
        bad |= !jl;
        bad |= jset(jl, "since", json_string(cof_time_format(g->lockdown_since, tb, sizeof tb)));
        bad |= jset(jl, "by", json_string(g->lockdown_by));
        bad |= jset(jl, "reason", json_string(g->lockdown_reason));
        bad |= jset(root, "lockdown", jl);
    }
    json_t *jr = json_object(), *jt = json_object();
    bad |= !jr || !jt;
    bad |= jset(jr, "default_days", json_integer(g->retention_default_days));
    for (uint32_t i = 0; i < g->nretention && !bad; i++)
        bad |= jset(jt, g->retention[i].tenant, json_integer(g->retention[i].days));
    bad |= jset(jr, "tenants", jt);
    bad |= jset(root, "retention", jr);
    if (g->has_alerts) {
        json_t *ja = json_object();
        bad |= !ja;
        bad |= jset(ja, "syslog", json_boolean(g->alert_syslog));
        bad |= jset(ja, "webhook", json_string(g->alert_webhook));
        bad |= jset(ja, "webhook_secret_file", json_string(g->alert_webhook_secret_file));
        bad |= jset(ja, "webhook_ca", json_string(g->alert_webhook_ca));
        bad |= jset(ja, "command", json_string(g->alert_command));
        bad |= jset(root, "alerts", ja);
    }
    if (g->npolicies) {
        json_t *jp = json_object();
        bad |= !jp;
        for (uint32_t i = 0; i < g->npolicies && !bad; i++) {
            const cof_policy_rule *r = &g->policies[i];
            json_t *t = json_object_get(jp, r->tenant);
            if (!t) {
                t = json_object();
                bad |= jset(jp, r->tenant, t);
            }
            char pb[64];
            bad |= !t || jset(t, cof_field_name((cof_field)r->field),
                              json_string(cof_policy_str(r->policy, pb, sizeof pb)));
        }
        bad |= jset(root, "policies", jp);
    }
    return bad;
}

cof_status cof_access_gov_copy(const cof_access *src, cof_access *dst)
{
    dst->gov = src->gov;
    dst->gov.retention = NULL;
    dst->gov.policies = NULL;
    dst->gov.nretention = dst->gov.npolicies = 0;
    if (src->gov.nretention) {
        if (!(dst->gov.retention = calloc(src->gov.nretention, sizeof *dst->gov.retention)))
            return COF_ERR(COF_NOMEM, "access document");
        memcpy(dst->gov.retention, src->gov.retention,
               src->gov.nretention * sizeof *dst->gov.retention);
        dst->gov.nretention = src->gov.nretention;
    }
    if (src->gov.npolicies) {
        if (!(dst->gov.policies = calloc(src->gov.npolicies, sizeof *dst->gov.policies)))
            return COF_ERR(COF_NOMEM, "access document");
        memcpy(dst->gov.policies, src->gov.policies,
               src->gov.npolicies * sizeof *dst->gov.policies);
        dst->gov.npolicies = src->gov.npolicies;
    }
    return COF_OK;
}

void cof_access_gov_free(cof_access *a)
{
    free(a->gov.retention);
    free(a->gov.policies);
    a->gov.retention = NULL;
    a->gov.policies = NULL;
    a->gov.nretention = a->gov.npolicies = 0;
}

uint32_t cof_access_retention_days(const cof_access *a, const char *tenant)
{
    for (uint32_t i = 0; i < a->gov.nretention; i++)
        if (!strcmp(a->gov.retention[i].tenant, tenant))
            return a->gov.retention[i].days;
    return a->gov.retention_default_days;
}

int cof_access_locked(const cof_access *a)
{
    return a->gov.lockdown_since != 0;
}

uint32_t cof_access_admins(const cof_access *a, int64_t now)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < a->nprincipals; i++) {
        const cof_principal *p = &a->principals[i];
        if (!p->suspended && (cof_access_any_perms(a, p, now) & COF_PERM_ADMIN))
            n++;
    }
    return n;
}

cof_status cof_access_apply_config(const cof_access *a, cof_config *cfg)
{
    const cof_access_gov *g = &a->gov;
    if (g->has_alerts) {
        cfg->alert_syslog = g->alert_syslog;
        snprintf(cfg->alert_webhook, sizeof cfg->alert_webhook, "%s", g->alert_webhook);
        snprintf(cfg->alert_webhook_secret_file, sizeof cfg->alert_webhook_secret_file, "%s",
                 g->alert_webhook_secret_file);
        snprintf(cfg->alert_webhook_ca, sizeof cfg->alert_webhook_ca, "%s", g->alert_webhook_ca);
        snprintf(cfg->alert_command, sizeof cfg->alert_command, "%s", g->alert_command);
    }
    /* "*" rules first, so a tenant's own rule overrides them as in the config file. */
    for (int pass = 0; pass < 2; pass++)
        for (uint32_t i = 0; i < g->npolicies; i++) {
            const cof_policy_rule *r = &g->policies[i];
            int star = !strcmp(r->tenant, "*");
            if (star != (pass == 0))
                continue;
            char key[160], pb[64];
            const char *fname = cof_field_name((cof_field)r->field);
            if (star)
                snprintf(key, sizeof key, "policy.%s", fname);
            else
                snprintf(key, sizeof key, "tenant.%s.%s", r->tenant, fname);
            const char *pv = cof_policy_str(r->policy, pb, sizeof pb);
            cof_status st = cof_config_set(cfg, cof_str_c(key), cof_str_c(pv), "access.json policies");
            if (st)
                return st;
        }
    return COF_OK;
}
