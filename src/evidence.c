/* evidence.c - the signed evidence report (evidence.h): built from the same sources
 * `coffer check` reads, signed with the audit key, verified offline. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "access.h"
#include "audit_int.h"
#include "check.h"
#include "event.h"
#include "evidence.h"
#include "fsutil.h"
#include "keyring.h"
#include "timefmt.h"
#include "version.h"

#define DUMP_FLAGS (JSON_SORT_KEYS | JSON_COMPACT)

/* Whole seconds are enough for an auditor. */
static json_t *time_s(int64_t us)
{
    char tb[40];
    if (!us)
        return json_string("never");
    cof_time_format(us - us % 1000000, tb, sizeof tb);
    char *dot = strchr(tb, '.');
    if (dot) {
        dot[0] = 'Z';
        dot[1] = 0;
    }
    return json_string(tb);
}

/* ---- configuration (no secrets: paths, never key or secret contents) ---- */

/* "https://host:port" of a webhook URL: a user part, path or query may hold a secret. */
static json_t *url_origin(const char *u)
{
    if (!*u)
        return json_null();
    const char *p = strstr(u, "://");
    if (!p)
        return json_string("(not a URL)");
    size_t scheme = (size_t)(p + 3 - u);
    p += 3;
    size_t hn = strcspn(p, "/?#");
    const char *at = memchr(p, '@', hn);
    if (at) {
        hn -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    char buf[1100];
    snprintf(buf, sizeof buf, "%.*s%.*s", (int)(scheme < 16 ? scheme : 16), u,
             (int)(hn < 1000 ? hn : 1000), p);
    return json_string(buf);
}

static json_t *policies_json(const uint8_t *pol, uint32_t mask)
{
    json_t *o = json_object();
    char buf[32];
    for (int f = 0; f < COF_NFIELDS; f++)
        if (mask & (1u << f))
            json_object_set_new(o, cof_field_name((cof_field)f),
                                json_string(pol[f] ? cof_policy_str(pol[f], buf, sizeof buf) : "drop"));
    return o;
}

static json_t *config_json(const cof_config *c)
{
    static const char *const fsync_names[] = { "always", "batch", "never" };
    const cof_server_config *s = &c->srv;
    json_t *rules = json_array(), *nets = json_array();
    for (uint32_t i = 0; i < c->nrules; i++) {
        const cof_tenant_rule *r = &c->rules[i];
        const char *kind = r->kind == COF_RULE_SASL ? "sasl_username"
                         : r->kind == COF_RULE_SENDER_DOMAIN ? "sender_domain" : "client_net";
        const char *pat = r->pattern;
        /* an exact SMTP username is a personal value: only "*@domain" rules are shown */
        if (r->kind == COF_RULE_SASL && strncmp(pat, "*@", 2) != 0)
            pat = "(an exact username, withheld)";
        json_array_append_new(rules, json_pack("{s:s,s:s,s:s}", "kind", kind, "pattern", pat,
                                               "tenant", r->tenant));
    }
    for (uint32_t i = 0; i < c->nallowed; i++) {
        char ab[64];
        const cof_netmask *m = &c->allowed[i];
        if (m->family == 4)
            snprintf(ab, sizeof ab, "%u.%u.%u.%u/%u", m->net[0], m->net[1], m->net[2], m->net[3],
                     m->prefix_len);
        else {
            char *p = ab;
            for (int k = 0; k < 16; k += 2)
                p += snprintf(p, 8, "%s%x", k ? ":" : "", (unsigned)(m->net[k] << 8 | m->net[k + 1]));
            snprintf(p, 8, "/%u", m->prefix_len);
        }
        json_array_append_new(nets, json_string(ab));
    }
    return json_pack("{s:s,s:s,s:s,s:I,s:s,s:I,s:I,s:I,s:I,s:I,s:I,"
                     "s:{s:s,s:s,s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I},"
                     "s:o,s:o,s:{s:b,s:o,s:s,s:s,s:s},s:s}",
                     "data_dir", c->data_dir, "key_file", c->key_file, "fsync",
                     fsync_names[c->fsync <= COF_FSYNC_NEVER ? c->fsync : 0], "commit_events",
                     (json_int_t)c->commit_events, "default_tenant", c->default_tenant,
                     "prefix_v4", (json_int_t)c->prefix_v4, "prefix_v6", (json_int_t)c->prefix_v6,
                     "hold_seconds", (json_int_t)c->hold_seconds, "idle_seconds",
                     (json_int_t)c->idle_seconds, "max_open_messages",
                     (json_int_t)c->max_open_messages, "cache_mb", (json_int_t)c->cache_mb,
                     "server", "listen", s->listen, "syslog_listen", s->syslog_listen,
                     "syslog_plain_listen", s->syslog_plain_listen, "tls_cert", s->tls_cert,
                     "tls_key", s->tls_key, "syslog_client_ca", s->syslog_client_ca,
                     "max_connections", (json_int_t)s->max_connections, "per_ip_connections",
                     (json_int_t)s->per_ip_connections, "max_body_bytes",
                     (json_int_t)s->max_body_bytes, "max_header_bytes",
                     (json_int_t)s->max_header_bytes, "idle_timeout", (json_int_t)s->idle_timeout,
                     "header_timeout", (json_int_t)s->header_timeout, "request_timeout",
                     (json_int_t)s->request_timeout, "rate_limit", (json_int_t)s->rate_limit,
                     "budget_per_hour", (json_int_t)s->budget_per_hour, "lockout_failures",
                     (json_int_t)s->lockout_failures, "threads", (json_int_t)s->threads,
                     "tenant_rules", rules, "allowed_networks", nets, "alerts", "syslog",
                     c->alert_syslog, "webhook", url_origin(c->alert_webhook),
                     "webhook_secret_file", c->alert_webhook_secret_file, "webhook_ca",
                     c->alert_webhook_ca, "command", c->alert_command, "probe_pin_sha256",
                     c->probe_pin_sha256);
}

/* ---- who holds which access ---- */

static json_t *access_json(const cof_config *cfg, cof_keyring *kr, int64_t now)
{
    cof_access *a = NULL;
    json_t *o = json_object(), *ps = json_array(), *toks = json_array();
    cof_status st = cof_access_load(cfg->data_dir, &a);
    if (st)
        json_object_set_new(o, "error", json_string(st == COF_NOTFOUND ? "no access.json"
                                                                        : "access.json unreadable"));
    for (uint32_t i = 0; a && i < a->nprincipals; i++) {
        const cof_principal *p = &a->principals[i];
        json_t *gs = json_array();
        for (uint32_t g = 0; g < p->ngrants; g++) {
            const cof_grant *gr = &p->grants[g];
            json_t *ts = json_array();
            for (uint32_t t = 0; t < gr->ntenants; t++)
                json_array_append_new(ts, json_string(gr->tenants[t]));
            json_array_append_new(gs, json_pack("{s:s,s:o,s:o,s:b}", "role",
                                                cof_role_name(gr->role), "tenants", ts,
                                                "expires", time_s(gr->expires), "expired",
                                                gr->expires && gr->expires <= now));
        }
        json_array_append_new(ps, json_pack("{s:s,s:b,s:I,s:b,s:o}", "name", p->name,
                                            "suspended", p->suspended, "budget_per_hour",
                                            (json_int_t)p->budget_per_hour,
                                            "client_certificate", p->cert_sha256[0] != 0,
                                            "grants", gs));
    }
    if (a) {
        json_object_set_new(o, "version", json_integer((json_int_t)a->version));
        json_object_set_new(o, "updated", time_s(a->updated));
        json_object_set_new(o, "listeners", json_pack("{s:s,s:s,s:s}", "api", a->listeners.api,
                                                      "syslog_tls", a->listeners.syslog_tls,
                                                      "syslog_plain", a->listeners.syslog_plain));
    }
    json_object_set_new(o, "principals", ps);
    uint8_t *k = sodium_malloc(32);
    cof_tokens *tk = NULL;
    cof_token_info *ti = NULL;
    size_t n = 0;
    if (kr && k && cof_keyring_subkey(kr, "token-hash", k) == COF_OK &&
        cof_tokens_open(cfg->data_dir, k, &tk) == COF_OK && cof_tokens_list(tk, &ti, &n) == COF_OK) {
        for (size_t i = 0; i < n; i++) /* ids and dates only: never a secret or hash */
            json_array_append_new(toks, json_pack("{s:s,s:s,s:o,s:o,s:s}", "id", ti[i].id,
                                                  "principal", ti[i].principal, "created",
                                                  time_s(ti[i].created), "expires",
                                                  time_s(ti[i].expires), "state",
                                                  ti[i].revoked ? "revoked"
                                                  : (ti[i].expires && now >= ti[i].expires) ? "expired"
                                                                                            : "live"));
    } else {
        json_object_set_new(o, "tokens_error", json_string("tokens.json could not be read"));
    }
    cof_err_clear();
    json_object_set_new(o, "tokens", toks);
    free(ti);
    cof_tokens_close(tk);
    if (k)
        sodium_free(k);
    cof_access_free(a);
    return o;
}

/* ---- approval history: DATA/changes/<id>.json (the lead's proposal format) ---- */

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static json_t *change_summary(const json_t *c)
{
    json_t *appr = json_array(), *sev = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(c, "approvals"), i, v)
        json_array_append_new(appr, json_pack("{s:s?,s:s?}", "principal",
                                              json_string_value(json_object_get(v, "principal")),
                                              "time", json_string_value(json_object_get(v, "time"))));
    json_array_foreach(json_object_get(c, "findings"), i, v) {
        const char *s = json_string_value(json_object_get(v, "severity"));
        json_array_append_new(sev, json_string(s ? s : "?"));
    }
    json_t *o = json_pack("{s:s?,s:s?,s:s?,s:s?,s:s?,s:s?,s:o,s:I,s:o}", "id",
                          json_string_value(json_object_get(c, "id")), "kind",
                          json_string_value(json_object_get(c, "kind")), "proposer",
                          json_string_value(json_object_get(c, "proposer")), "state",
                          json_string_value(json_object_get(c, "state")), "created",
                          json_string_value(json_object_get(c, "created")), "applied",
                          json_string_value(json_object_get(c, "applied")), "approvals", appr,
                          "rejections", (json_int_t)json_array_size(json_object_get(c, "rejections")),
                          "finding_severities", sev);
    json_t *req = json_object_get(c, "required");
    if (o && json_is_integer(req))
        json_object_set(o, "required", req);
    return o;
}

static json_t *approvals_json(const char *data_dir)
{
    char dir[4200], path[4500];
    json_t *o = json_object(), *list = json_array(), *bad = json_array();
    char **names = NULL;
    size_t n = 0, cap = 0;
    int truncated = 0;
    snprintf(dir, sizeof dir, "%s/changes", data_dir);
    DIR *d = opendir(dir);
    struct dirent *de;
    while (d && (de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (l < 6 || l > 64 || strcmp(de->d_name + l - 5, ".json") != 0 || de->d_name[0] == '.')
            continue;
        if (n >= COF_EVIDENCE_MAX_CHANGES) {
            truncated = 1;
            break;
        }
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 64;
            char **np = realloc(names, nc * sizeof *names);
            if (!np)
                break;
            names = np;
            cap = nc;
        }
        if (!(names[n] = strdup(de->d_name)))
            break;
        n++;
    }
    if (d)
        closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n; i++) {
        uint8_t *buf = NULL;
        size_t bn = 0;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        json_t *c = NULL;
        if (cof_fs_read_file(path, COF_EVIDENCE_MAX_CHANGE_BYTES, &buf, &bn) == COF_OK)
            c = json_loadb((const char *)buf, bn, JSON_REJECT_DUPLICATES, NULL);
        free(buf);
        cof_err_clear();
        json_t *s = json_is_object(c) ? change_summary(c) : NULL;
        if (s)
            json_array_append_new(list, s);
        else
            json_array_append_new(bad, json_string(names[i]));
        json_decref(c);
        free(names[i]);
    }
    free(names);
    json_object_set_new(o, "changes", list);
    json_object_set_new(o, "unreadable", bad);
    json_object_set_new(o, "truncated", json_boolean(truncated));
    return o;
}

/* ---- the rest ---- */

static json_t *audit_json(const cof_config *cfg, const uint8_t pk[32])
{
    cof_audit_report rep;
    char pkh[65];
    cof_audit_hex(pk, 32, pkh);
    if (cof_audit_verify(cfg->data_dir, pk, &rep) != COF_OK) {
        cof_err_clear();
        return json_pack("{s:s,s:s}", "status", "could not be read", "public_key", pkh);
    }
    json_t *o = json_pack("{s:s,s:I,s:I,s:I,s:s,s:s}", "status",
                          cof_audit_problem_name(rep.problem), "records", (json_int_t)rep.records,
                          "checkpoints", (json_int_t)rep.checkpoints, "last_seq",
                          (json_int_t)rep.last_seq, "head", rep.last_seq ? rep.head : "",
                          "public_key", pkh);
    if (o && rep.problem != COF_AUDIT_OK)
        json_object_set_new(o, "broken_at", json_pack("{s:s,s:I,s:I}", "file", rep.file, "line",
                                                      (json_int_t)rep.line, "seq",
                                                      (json_int_t)rep.seq));
    return o;
}

/* The policy of field f for tenant as the server applies it: access.json's rule for the
 * tenant, else the config file's tenant override, else access.json's "*" rule, else the
 * config's default (cof_access_apply_config overlays in this order). */
static uint8_t effective_policy(const cof_config *cfg, const cof_access *a, const char *tenant,
                                int f)
{
    for (uint32_t i = 0; a && tenant && i < a->gov.npolicies; i++)
        if (a->gov.policies[i].field == f && !strcmp(a->gov.policies[i].tenant, tenant))
            return a->gov.policies[i].policy;
    for (uint32_t i = 0; tenant && i < cfg->ntpol; i++)
        if (!strcmp(cfg->tpol[i].tenant, tenant) && (cfg->tpol[i].set_mask & (1u << f)))
            return cfg->tpol[i].policy[f];
    for (uint32_t i = 0; a && i < a->gov.npolicies; i++)
        if (a->gov.policies[i].field == f && !strcmp(a->gov.policies[i].tenant, "*"))
            return a->gov.policies[i].policy;
    return cfg->policy[f];
}

static json_t *effective_json(const cof_config *cfg, const cof_access *a, const char *tenant)
{
    uint8_t pol[COF_NFIELDS];
    for (int f = 0; f < COF_NFIELDS; f++)
        pol[f] = effective_policy(cfg, a, tenant, f);
    return policies_json(pol, 0xffffffffu);
}

#define EVIDENCE_MAX_TENANTS 4096 /* tenants listed with their effective settings */

/* Field policies and retention, effective per known tenant. */
static void tenant_settings(const cof_config *cfg, json_t **policies, json_t **retention,
                            json_t **alerts)
{
    cof_access *a = NULL;
    if (cof_access_load(cfg->data_dir, &a) != COF_OK)
        a = NULL;
    cof_err_clear();
    const char **names = calloc(EVIDENCE_MAX_TENANTS, sizeof *names);
    uint32_t n = names ? cof_check_known_tenants(cfg, a, names, EVIDENCE_MAX_TENANTS) : 0;
    json_t *pt = json_object(), *rt = json_object(), *rules = json_object();
    for (uint32_t i = 0; i < n; i++) {
        json_object_set_new(pt, names[i], effective_json(cfg, a, names[i]));
        json_object_set_new(rt, names[i],
                            json_integer(a ? (json_int_t)cof_access_retention_days(a, names[i]) : 0));
    }
    for (uint32_t i = 0; a && i < a->gov.nretention; i++)
        json_object_set_new(rules, a->gov.retention[i].tenant,
                            json_integer((json_int_t)a->gov.retention[i].days));
    *policies = json_pack("{s:o,s:o,s:s}", "default", effective_json(cfg, a, NULL), "tenants", pt,
                          "source", a ? "the config file overlaid by access.json policies"
                                      : "the config file (access.json unreadable)");
    *retention = json_pack("{s:I,s:o,s:o,s:s}", "default_days",
                           (json_int_t)(a ? a->gov.retention_default_days : 0), "rules", rules,
                           "tenants", rt, "meaning",
                           "days data is kept per tenant; 0 = keep forever");
    /* governed alert sinks replace the config file's (cof_access_apply_config) */
    *alerts = a && a->gov.has_alerts
                  ? json_pack("{s:b,s:o,s:s,s:s,s:s,s:s}", "syslog", a->gov.alert_syslog,
                              "webhook", url_origin(a->gov.alert_webhook),
                              "webhook_secret_file", a->gov.alert_webhook_secret_file,
                              "webhook_ca", a->gov.alert_webhook_ca, "command",
                              a->gov.alert_command, "source", "access.json")
                  : NULL;
    free(names);
    cof_access_free(a);
}

static cof_status audit_seed(const cof_config *cfg, cof_keyring **kr, uint8_t **seed)
{
    *seed = sodium_malloc(32);
    if (!*seed)
        return COF_ERR(COF_NOMEM, "audit seed");
    cof_status st = cof_keyring_open(cfg->data_dir, cfg->key_file, kr);
    if (!st)
        st = cof_keyring_subkey(*kr, "audit-ed25519", *seed);
    return st;
}

cof_status cof_evidence_build(const cof_config *cfg, int64_t now, json_t **out)
{
    *out = NULL;
    cof_keyring *kr = NULL;
    uint8_t *seed = NULL, pk[32];
    json_t *r = NULL, *findings = json_array(), *policies = NULL, *retention = NULL;
    unsigned counts[5] = { 0 };
    char host[256] = "";
    cof_status st = audit_seed(cfg, &kr, &seed);
    if (st || (st = cof_audit_public_key(seed, pk)))
        goto out;
    if ((st = cof_check_collect(cfg, findings, counts)))
        goto out;
    json_t *alerts = NULL;
    tenant_settings(cfg, &policies, &retention, &alerts);
    if (gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "(unknown)");
    r = json_pack("{s:o,s:s,s:s,s:O,s:{s:I,s:I,s:I,s:I,s:I},s:o,s:o,s:o,s:o,s:o,s:o}",
                  "generated", time_s(now), "host", host, "coffer_version", COF_VERSION,
                  "findings", findings, "summary", "critical",
                  (json_int_t)counts[COF_SEV_CRITICAL], "high", (json_int_t)counts[COF_SEV_HIGH],
                  "medium", (json_int_t)counts[COF_SEV_MEDIUM], "low",
                  (json_int_t)counts[COF_SEV_LOW], "info", (json_int_t)counts[COF_SEV_INFO],
                  "configuration", config_json(cfg), "access", access_json(cfg, kr, now),
                  "approvals", approvals_json(cfg->data_dir), "audit", audit_json(cfg, pk),
                  "retention", retention, "field_policies", policies);
    policies = retention = NULL;
    if (r && alerts)
        json_object_set_new(json_object_get(r, "configuration"), "alerts", alerts);
    else
        json_decref(alerts);
    if (!r)
        st = COF_ERR(COF_NOMEM, "evidence report");
out:
    json_decref(findings);
    json_decref(policies);
    json_decref(retention);
    if (seed)
        sodium_free(seed);
    cof_keyring_close(kr);
    if (!st)
        *out = r;
    return st;
}

/* domain || canonical report bytes, malloc'd. */
static cof_status signed_message(const json_t *report, uint8_t **msg, size_t *n)
{
    char *rb = json_dumps(report, DUMP_FLAGS);
    if (!rb)
        return COF_ERR(COF_NOMEM, "evidence report bytes");
    size_t rl = strlen(rb), dl = sizeof COF_EVIDENCE_DOMAIN - 1;
    *msg = malloc(dl + rl);
    if (!*msg) {
        free(rb);
        return COF_ERR(COF_NOMEM, "evidence message");
    }
    memcpy(*msg, COF_EVIDENCE_DOMAIN, dl);
    memcpy(*msg + dl, rb, rl);
    *n = dl + rl;
    free(rb);
    return COF_OK;
}

cof_status cof_evidence_sign(const json_t *report, const uint8_t seed[32], char **out, size_t *n)
{
    *out = NULL;
    uint8_t *msg = NULL, pk[32], sig[64];
    size_t mn = 0;
    char pkh[65], sigh[129];
    json_t *env = NULL;
    uint8_t *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    cof_status st = sk ? signed_message(report, &msg, &mn) : COF_ERR(COF_NOMEM, "signing key");
    if (st)
        goto out;
    crypto_sign_seed_keypair(pk, sk, seed);
    crypto_sign_detached(sig, NULL, msg, mn, sk);
    sodium_bin2hex(pkh, sizeof pkh, pk, 32);
    sodium_bin2hex(sigh, sizeof sigh, sig, 64);
    env = json_pack("{s:s,s:s,s:O,s:s}", "format", COF_EVIDENCE_FORMAT, "pubkey", pkh, "report",
                    report, "sig", sigh);
    char *body = env ? json_dumps(env, DUMP_FLAGS) : NULL;
    if (!body) {
        st = COF_ERR(COF_NOMEM, "evidence document");
        goto out;
    }
    size_t bl = strlen(body);
    char *file = realloc(body, bl + 2);
    if (!file) {
        free(body);
        st = COF_ERR(COF_NOMEM, "evidence document");
        goto out;
    }
    file[bl] = '\n';
    file[bl + 1] = 0;
    /* what the verifier will see: a report that does not survive re-serialization
     * (it never should: integers and strings only) is a bug, caught here */
    const char *why = NULL;
    if ((st = cof_evidence_verify(file, bl + 1, pk, NULL, &why))) {
        free(file);
        st = COF_ERR(COF_CORRUPT, "evidence self-check failed: %s", why ? why : "?");
        goto out;
    }
    *out = file;
    *n = bl + 1;
out:
    json_decref(env);
    free(msg);
    if (sk)
        sodium_free(sk);
    return st;
}

static int lower_hex(const char *s, size_t want, uint8_t *out)
{
    size_t bl = 0;
    return s && strlen(s) == 2 * want && strspn(s, "0123456789abcdef") == 2 * want &&
           sodium_hex2bin(out, want, s, 2 * want, NULL, &bl, NULL) == 0 && bl == want;
}

#define INVALID(w)                                                                         \
    do {                                                                                   \
        *why = (w);                                                                        \
        st = COF_ERR(COF_CORRUPT, "evidence invalid: %s", (w));                            \
        goto out;                                                                          \
    } while (0)

cof_status cof_evidence_verify(const char *buf, size_t n, const uint8_t pk[32], json_t **report,
                               const char **why)
{
    static const char *const unset = "?";
    json_t *root = NULL;
    char *canon = NULL;
    uint8_t *msg = NULL, epk[32], sig[64];
    size_t mn = 0;
    cof_status st = COF_OK;
    *why = unset;
    if (report)
        *report = NULL;
    if (n == 0 || n > COF_EVIDENCE_MAX_BYTES)
        INVALID("empty, or larger than an evidence file can be");
    if (buf[n - 1] != '\n' || memchr(buf, 0, n))
        INVALID("not one line of JSON ended by a newline");
    json_error_t jerr;
    root = json_loadb(buf, n - 1, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(root) || json_object_size(root) != 4)
        INVALID("not an evidence document (JSON object with format, pubkey, report, sig)");
    const char *fmt = json_string_value(json_object_get(root, "format"));
    if (!fmt || strcmp(fmt, COF_EVIDENCE_FORMAT) != 0)
        INVALID("unknown format (want coffer-evidence-1)");
    json_t *rep = json_object_get(root, "report");
    if (!json_is_object(rep))
        INVALID("no report object");
    if (!lower_hex(json_string_value(json_object_get(root, "pubkey")), 32, epk) ||
        !lower_hex(json_string_value(json_object_get(root, "sig")), 64, sig))
        INVALID("pubkey or sig is not lowercase hex of the right length");
    /* every byte counts: the file must be exactly what its content serializes to */
    canon = json_dumps(root, DUMP_FLAGS);
    if (!canon || strlen(canon) != n - 1 || memcmp(canon, buf, n - 1) != 0)
        INVALID("not in canonical form (edited: spacing, order, escapes or content)");
    if (sodium_memcmp(epk, pk, 32) != 0)
        INVALID("signed with another key than the public key given");
    if ((st = signed_message(rep, &msg, &mn)))
        goto out;
    if (crypto_sign_verify_detached(sig, msg, mn, pk) != 0)
        INVALID("the signature does not match the report (altered or forged)");
    *why = NULL;
    if (report)
        *report = json_incref(rep);
out:
    free(msg);
    free(canon);
    json_decref(root);
    return st;
}

void cof_evidence_fingerprint(const uint8_t pk[32], char *out, size_t cap)
{
    uint8_t h[crypto_hash_sha256_BYTES];
    char b64[64];
    crypto_hash_sha256(h, pk, 32);
    sodium_bin2base64(b64, sizeof b64, h, sizeof h, sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
    snprintf(out, cap, "SHA256:%s", b64);
}

cof_status cof_evidence_write(const cof_config *cfg, const char *path, int force, char *fpr,
                              size_t fpr_cap)
{
    json_t *r = NULL;
    char *file = NULL;
    size_t n = 0;
    cof_keyring *kr = NULL;
    uint8_t *seed = NULL, pk[32];
    cof_status st = access(path, F_OK) == 0 && !force
                        ? COF_ERR(COF_EXISTS, "%s exists (use --force to replace it)", path)
                        : COF_OK;
    if (st)
        return st;
    if ((st = cof_evidence_build(cfg, cof_time_now_us(), &r)) ||
        (st = audit_seed(cfg, &kr, &seed)) || (st = cof_evidence_sign(r, seed, &file, &n)) ||
        (st = cof_audit_public_key(seed, pk)))
        goto out;
    st = force ? cof_fs_replace(path, file, n, 0600) : cof_fs_create_atomic(path, file, n, 0600);
    if (!st && fpr)
        cof_evidence_fingerprint(pk, fpr, fpr_cap);
out:
    json_decref(r);
    free(file);
    if (seed)
        sodium_free(seed);
    cof_keyring_close(kr);
    return st;
}
