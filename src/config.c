/* config.c - defaults, config file parsing and field policies. */
#include "config.h"

#include <stddef.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static int copy_z(char *dst, size_t cap, cof_str v)
{
    if (v.n >= cap)
        return 0;
    memcpy(dst, v.p, v.n);
    dst[v.n] = 0;
    return 1;
}

/* Default field policies (THREAT-MODEL.md A2 and the store issue). */
static void default_policy(uint8_t p[COF_NFIELDS])
{
    for (int f = 0; f < COF_NFIELDS; f++)
        p[f] = COF_P_KEEP;
    p[COF_F_MESSAGE_ID] = COF_P_SEAL;
    p[COF_F_CLIENT_HOST] = COF_P_SEAL;
    p[COF_F_CLIENT_IP] = COF_P_SEAL | COF_P_PREFIX;
    p[COF_F_SASL_USERNAME] = COF_P_SEAL;
    p[COF_F_SENDER] = COF_P_SEAL | COF_P_DOMAIN;
    p[COF_F_RECIPIENT] = COF_P_SEAL | COF_P_DOMAIN;
    p[COF_F_ORIG_RECIPIENT] = COF_P_SEAL | COF_P_DOMAIN;
    p[COF_F_RESPONSE] = COF_P_SEAL;
    p[COF_F_SUBJECT] = 0; /* dropped unless a tenant opts in */
}

/* ---- probe and alert sinks (probe issue): allowed_networks, alert.*, probe.* ---- */

cof_status cof_netmask_parse(cof_str v, cof_netmask *out)
{
    char buf[64];
    cof_netmask m;
    memset(&m, 0, sizeof m);
    v = cof_str_trim(v);
    const char *slash = memchr(v.p, '/', v.n);
    cof_str addr = cof_str_make(v.p, slash ? (size_t)(slash - v.p) : v.n);
    if (!copy_z(buf, sizeof buf, addr))
        return COF_ERR(COF_BADINPUT, "network address too long");
    uint64_t plen;
    if (inet_pton(AF_INET, buf, m.net) == 1) {
        m.family = 4;
        plen = 32;
    } else if (inet_pton(AF_INET6, buf, m.net) == 1) {
        m.family = 6;
        plen = 128;
    } else {
        return COF_ERR(COF_BADINPUT, "not an IPv4 or IPv6 network");
    }
    if (slash && !cof_str_to_u64(cof_str_make(slash + 1, v.n - (size_t)(slash - v.p) - 1), plen,
                                 &plen))
        return COF_ERR(COF_BADINPUT, "bad prefix length");
    m.prefix_len = (uint8_t)plen;
    for (size_t i = 0; i < 16; i++) {
        int keep = (int)plen - (int)(i * 8);
        uint8_t mask = keep >= 8 ? 0xFF : keep <= 0 ? 0 : (uint8_t)(0xFF << (8 - keep));
        if (m.net[i] & (uint8_t)~mask)
            return COF_ERR(COF_BADINPUT, "host bits set after the prefix length");
    }
    *out = m;
    return COF_OK;
}

int cof_netmask_contains(const cof_netmask *m, int family, const uint8_t *addr)
{
    if (m->family != family)
        return 0;
    int plen = m->prefix_len;
    for (int i = 0; i < (family == 4 ? 4 : 16) && plen > 0; i++, plen -= 8) {
        uint8_t mask = plen >= 8 ? 0xFF : (uint8_t)(0xFF << (8 - plen));
        if ((addr[i] & mask) != m->net[i])
            return 0;
    }
    return 1;
}

static cof_status set_allowed(cof_config *c, cof_str v, const char *where)
{
    cof_netmask list[COF_MAX_ALLOWED_NETWORKS];
    uint32_t n = 0;
    cof_status st;
    while (v.n) {
        const char *comma = memchr(v.p, ',', v.n);
        cof_str w = cof_str_trim(cof_str_make(v.p, comma ? (size_t)(comma - v.p) : v.n));
        v = comma ? cof_str_make(comma + 1, v.n - (size_t)(comma - v.p) - 1) : COF_STR_NULL;
        if (n >= COF_MAX_ALLOWED_NETWORKS)
            return COF_ERR(COF_LIMIT, "%s: more than %d allowed_networks", where,
                           COF_MAX_ALLOWED_NETWORKS);
        if ((st = cof_netmask_parse(w, &list[n])))
            return COF_ERR(st, "%s: allowed_networks: %s", where, cof_err_msg());
        n++;
    }
    if (n == 0)
        return COF_ERR(COF_BADINPUT, "%s: allowed_networks needs at least one CIDR", where);
    memcpy(c->allowed, list, n * sizeof list[0]);
    c->nallowed = n;
    return COF_OK;
}

static cof_status probe_alert_defaults(cof_config *c)
{
    c->alert_syslog = 1;
    return set_allowed(c, cof_str_c("127.0.0.0/8,::1/128"), "default");
}

/* 1 if key was one of ours (result in *st). */
static int probe_alert_set(cof_config *c, cof_str key, cof_str v, const char *where,
                           cof_status *st)
{
    *st = COF_OK;
    if (cof_str_eq_lit(key, "allowed_networks")) {
        *st = set_allowed(c, v, where);
        return 1;
    }
    if (cof_str_eq_lit(key, "alert.syslog")) {
        if (cof_str_eq_lit(v, "on") || cof_str_eq_lit(v, "yes") || cof_str_eq_lit(v, "true"))
            c->alert_syslog = 1;
        else if (cof_str_eq_lit(v, "off") || cof_str_eq_lit(v, "no") || cof_str_eq_lit(v, "false"))
            c->alert_syslog = 0;
        else
            *st = COF_ERR(COF_BADINPUT, "%s: alert.syslog must be on or off", where);
        return 1;
    }
    if (cof_str_eq_lit(key, "alert.webhook")) {
        /* https only: alerts carry findings about the operator's hosts. */
        if (v.n && !cof_str_starts(v, "https://"))
            *st = COF_ERR(COF_BADINPUT, "%s: alert.webhook must be an https:// URL", where);
        else if (!copy_z(c->alert_webhook, sizeof c->alert_webhook, v))
            *st = COF_ERR(COF_BADINPUT, "%s: alert.webhook too long", where);
        else
            for (size_t i = 0; i < v.n; i++)
                if ((unsigned char)v.p[i] <= 0x20 || (unsigned char)v.p[i] >= 0x7F)
                    *st = COF_ERR(COF_BADINPUT, "%s: alert.webhook has spaces or non-ASCII", where);
        return 1;
    }
    struct { const char *k; char *dst; size_t cap; } paths[] = {
        { "alert.webhook_secret_file", c->alert_webhook_secret_file,
          sizeof c->alert_webhook_secret_file },
        { "alert.webhook_ca", c->alert_webhook_ca, sizeof c->alert_webhook_ca },
        { "alert.command", c->alert_command, sizeof c->alert_command } };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++)
        if (cof_str_eq_lit(key, paths[i].k)) {
            if (!copy_z(paths[i].dst, paths[i].cap, v))
                *st = COF_ERR(COF_BADINPUT, "%s: %s too long", where, paths[i].k);
            else if (v.n && !strcmp(paths[i].k, "alert.command") && v.p[0] != '/')
                *st = COF_ERR(COF_BADINPUT, "%s: alert.command needs an absolute path", where);
            return 1;
        }
    if (cof_str_eq_lit(key, "probe.pin_sha256")) {
        char tmp[65];
        int okhex = v.n == 64 || v.n == 0;
        for (size_t i = 0; okhex && i < v.n; i++) {
            char ch = v.p[i];
            if (ch >= 'A' && ch <= 'F')
                ch = (char)(ch - 'A' + 'a');
            if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f')))
                okhex = 0;
            tmp[i] = ch;
        }
        if (!okhex)
            *st = COF_ERR(COF_BADINPUT, "%s: probe.pin_sha256 must be 64 hex digits", where);
        else {
            memcpy(c->probe_pin_sha256, tmp, v.n);
            c->probe_pin_sha256[v.n] = 0;
        }
        return 1;
    }
    return 0;
}
/* ---- end probe and alert sinks ---- */

cof_status cof_config_init(cof_config *c)
{
    memset(c, 0, sizeof *c);
    snprintf(c->data_dir, sizeof c->data_dir, "%s", "./coffer-data");
    const char *home = getenv("HOME");
    if (!home || !*home)
        home = "/root";
    if ((size_t)snprintf(c->key_file, sizeof c->key_file, "%s/.config/coffer/master.key", home) >=
        sizeof c->key_file)
        return COF_ERR(COF_LIMIT, "HOME is too long");
    c->fsync = COF_FSYNC_ALWAYS;
    c->commit_events = 8192;
    snprintf(c->default_tenant, sizeof c->default_tenant, "%s", "default");
    default_policy(c->policy);
    c->prefix_v4 = 24;
    c->prefix_v6 = 48;
    c->cache_mb = 1024;
    c->export_per_day = 3;
    c->retention_ceiling_days = 400;
    c->srv.max_connections = 10000;
    c->srv.per_ip_connections = 512;
    c->srv.max_body_bytes = 16u << 20;
    c->srv.max_header_bytes = 16u << 10;
    c->srv.idle_timeout = 30;
    c->srv.header_timeout = 10;
    c->srv.request_timeout = 60;
    c->srv.rate_limit = 200;
    c->srv.budget_per_hour = 1000;
    c->srv.retention_seconds = 3600;
    c->srv.lockout_failures = 20;
    c->srv.threads = 8;
    c->hold_seconds = 300;
    c->idle_seconds = 6 * 86400;
    c->max_open_messages = COF_MAX_OPEN_MESSAGES;
    return probe_alert_defaults(c);
}

void cof_config_free(cof_config *c)
{
    free(c->rules);
    free(c->tpol);
    c->rules = NULL;
    c->tpol = NULL;
    c->nrules = c->ntpol = 0;
}

int cof_tenant_name_valid(cof_str name)
{
    if (name.n == 0 || name.n > COF_MAX_TENANT_NAME)
        return 0;
    for (size_t i = 0; i < name.n; i++) {
        char ch = name.p[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    return 1;
}

static int is_addr_field(cof_field f)
{
    return f == COF_F_SENDER || f == COF_F_RECIPIENT || f == COF_F_ORIG_RECIPIENT ||
           f == COF_F_SASL_USERNAME;
}

static int is_ip_field(cof_field f) { return f == COF_F_CLIENT_IP || f == COF_F_RELAY_IP; }

cof_status cof_policy_parse(cof_field f, cof_str v, uint8_t *flags)
{
    uint8_t fl = 0;
    v = cof_str_trim(v);
    if (cof_str_eq_lit(v, "keep")) {
        *flags = COF_P_KEEP;
        return COF_OK;
    }
    if (cof_str_eq_lit(v, "drop")) {
        if (f == COF_F_TENANT)
            return COF_ERR(COF_BADINPUT, "the tenant field cannot be dropped");
        *flags = 0;
        return COF_OK;
    }
    while (v.n) {
        const char *comma = memchr(v.p, ',', v.n);
        cof_str w = cof_str_trim(cof_str_make(v.p, comma ? (size_t)(comma - v.p) : v.n));
        v = comma ? cof_str_make(comma + 1, v.n - (size_t)(comma - v.p) - 1) : COF_STR_NULL;
        if (cof_str_eq_lit(w, "seal"))
            fl |= COF_P_SEAL;
        else if (cof_str_eq_lit(w, "blind"))
            fl |= COF_P_BLIND;
        else if (cof_str_eq_lit(w, "domain"))
            fl |= COF_P_DOMAIN;
        else if (cof_str_eq_lit(w, "prefix"))
            fl |= COF_P_PREFIX;
        else
            return COF_ERR(COF_BADINPUT,
                           "unknown policy word for %s (use keep, drop, seal, blind, domain, prefix)",
                           cof_field_name(f));
    }
    if (!fl)
        return COF_ERR(COF_BADINPUT, "empty policy for %s", cof_field_name(f));
    if ((fl & COF_P_SEAL) && (fl & COF_P_BLIND))
        return COF_ERR(COF_BADINPUT, "policy for %s: seal already includes a blind index",
                       cof_field_name(f));
    if ((fl & COF_P_DOMAIN) && !is_addr_field(f))
        return COF_ERR(COF_BADINPUT, "policy 'domain' applies to address fields, not %s",
                       cof_field_name(f));
    if ((fl & COF_P_PREFIX) && !is_ip_field(f))
        return COF_ERR(COF_BADINPUT, "policy 'prefix' applies to IP fields, not %s",
                       cof_field_name(f));
    if (f == COF_F_TENANT)
        return COF_ERR(COF_BADINPUT, "the tenant field is always kept");
    *flags = fl;
    return COF_OK;
}

const char *cof_policy_str(uint8_t fl, char *buf, size_t cap)
{
    if (fl == 0)
        return "drop";
    if (fl == COF_P_KEEP)
        return "keep";
    size_t n = 0;
    buf[0] = 0;
    static const struct { uint8_t bit; const char *w; } words[] = {
        { COF_P_SEAL, "seal" }, { COF_P_BLIND, "blind" }, { COF_P_DOMAIN, "domain" },
        { COF_P_PREFIX, "prefix" } };
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (fl & words[i].bit) {
            int k = snprintf(buf + n, cap - n, "%s%s", n ? "," : "", words[i].w);
            if (k < 0 || (size_t)k >= cap - n)
                break;
            n += (size_t)k;
        }
    return buf;
}

uint8_t cof_config_policy(const cof_config *c, const char *tenant, cof_field f)
{
    for (uint32_t i = 0; i < c->ntpol; i++)
        if ((c->tpol[i].set_mask & (1u << f)) && strcmp(c->tpol[i].tenant, tenant) == 0)
            return c->tpol[i].policy[f];
    return c->policy[f];
}

static cof_status parse_u32(cof_str v, uint32_t min, uint32_t max, uint32_t *out, const char *key,
                            const char *where)
{
    uint64_t x;
    if (!cof_str_to_u64(cof_str_trim(v), max, &x) || x < min)
        return COF_ERR(COF_BADINPUT, "%s: %s must be a number from %u to %u", where, key, min, max);
    *out = (uint32_t)x;
    return COF_OK;
}

static cof_status parse_cidr(cof_str v, cof_tenant_rule *r, const char *where)
{
    char buf[64];
    const char *slash = memchr(v.p, '/', v.n);
    cof_str addr = cof_str_make(v.p, slash ? (size_t)(slash - v.p) : v.n);
    if (!copy_z(buf, sizeof buf, addr))
        return COF_ERR(COF_BADINPUT, "%s: client_net address too long", where);
    uint64_t plen;
    if (inet_pton(AF_INET, buf, r->net) == 1) {
        r->family = 4;
        plen = 32;
    } else if (inet_pton(AF_INET6, buf, r->net) == 1) {
        r->family = 6;
        plen = 128;
    } else {
        return COF_ERR(COF_BADINPUT, "%s: client_net needs an IPv4 or IPv6 network", where);
    }
    if (slash) {
        uint64_t max = plen;
        if (!cof_str_to_u64(cof_str_make(slash + 1, v.n - (size_t)(slash - v.p) - 1), max, &plen))
            return COF_ERR(COF_BADINPUT, "%s: bad prefix length in client_net", where);
    }
    r->prefix_len = (uint8_t)plen;
    size_t nbytes = r->family == 4 ? 4 : 16;
    for (size_t i = 0; i < nbytes; i++) {
        int keep = (int)plen - (int)(i * 8);
        uint8_t mask = keep >= 8 ? 0xFF : keep <= 0 ? 0 : (uint8_t)(0xFF << (8 - keep));
        r->net[i] &= mask;
    }
    return COF_OK;
}

static cof_status add_rule(cof_config *c, cof_str v, const char *where)
{
    /* KIND:PATTERN => TENANT */
    const char *arrow = NULL;
    for (size_t i = 0; i + 1 < v.n; i++)
        if (v.p[i] == '=' && v.p[i + 1] == '>') {
            arrow = v.p + i;
            break;
        }
    if (!arrow)
        return COF_ERR(COF_BADINPUT, "%s: tenant_rule needs 'KIND:PATTERN => TENANT'", where);
    cof_str lhs = cof_str_trim(cof_str_make(v.p, (size_t)(arrow - v.p)));
    cof_str tenant = cof_str_trim(cof_str_make(arrow + 2, v.n - (size_t)(arrow - v.p) - 2));
    const char *colon = memchr(lhs.p, ':', lhs.n);
    if (!colon)
        return COF_ERR(COF_BADINPUT, "%s: tenant_rule needs KIND:PATTERN", where);
    cof_str kind = cof_str_make(lhs.p, (size_t)(colon - lhs.p));
    cof_str pat = cof_str_trim(cof_str_make(colon + 1, lhs.n - (size_t)(colon - lhs.p) - 1));
    if (!cof_tenant_name_valid(tenant))
        return COF_ERR(COF_BADINPUT, "%s: invalid tenant name in tenant_rule", where);
    if (pat.n == 0)
        return COF_ERR(COF_BADINPUT, "%s: empty pattern in tenant_rule", where);
    if (c->nrules >= COF_MAX_TENANT_RULES)
        return COF_ERR(COF_LIMIT, "%s: more than %d tenant rules", where, COF_MAX_TENANT_RULES);
    cof_tenant_rule *nr = realloc(c->rules, (c->nrules + 1) * sizeof *nr);
    if (!nr)
        return COF_ERR(COF_NOMEM, "out of memory");
    c->rules = nr;
    cof_tenant_rule *r = &c->rules[c->nrules];
    memset(r, 0, sizeof *r);
    copy_z(r->tenant, sizeof r->tenant, tenant);
    if (cof_str_eq_lit(kind, "sasl_username"))
        r->kind = COF_RULE_SASL;
    else if (cof_str_eq_lit(kind, "sender_domain"))
        r->kind = COF_RULE_SENDER_DOMAIN;
    else if (cof_str_eq_lit(kind, "client_net"))
        r->kind = COF_RULE_CLIENT_NET;
    else
        return COF_ERR(COF_BADINPUT,
                       "%s: tenant_rule kind must be sasl_username, sender_domain or client_net",
                       where);
    if (r->kind == COF_RULE_CLIENT_NET) {
        cof_status st = parse_cidr(pat, r, where);
        if (st)
            return st;
    } else if (!copy_z(r->pattern, sizeof r->pattern, pat)) {
        return COF_ERR(COF_BADINPUT, "%s: tenant_rule pattern too long", where);
    }
    c->nrules++;
    return COF_OK;
}

static cof_status set_tenant_policy(cof_config *c, cof_str tenant, cof_field f, uint8_t fl,
                                    const char *where)
{
    if (!cof_tenant_name_valid(tenant))
        return COF_ERR(COF_BADINPUT, "%s: invalid tenant name", where);
    cof_tenant_policy *tp = NULL;
    for (uint32_t i = 0; i < c->ntpol; i++)
        if (cof_str_eq_lit(tenant, c->tpol[i].tenant))
            tp = &c->tpol[i];
    if (!tp) {
        if (c->ntpol >= COF_MAX_TENANTS)
            return COF_ERR(COF_LIMIT, "%s: too many tenants", where);
        cof_tenant_policy *n = realloc(c->tpol, (c->ntpol + 1) * sizeof *n);
        if (!n)
            return COF_ERR(COF_NOMEM, "out of memory");
        c->tpol = n;
        tp = &c->tpol[c->ntpol++];
        memset(tp, 0, sizeof *tp);
        copy_z(tp->tenant, sizeof tp->tenant, tenant);
    }
    tp->policy[f] = fl;
    tp->set_mask |= 1u << f;
    return COF_OK;
}

/* Server keys; COF_AGAIN when key is not one of them. */
static cof_status set_server_key(cof_config *c, cof_str key, cof_str v, const char *where)
{
    cof_server_config *s = &c->srv;
    static const struct {
        const char *name;
        size_t off, cap;
    } strs[] = {
        { "listen", offsetof(cof_server_config, listen), sizeof s->listen },
        { "syslog_listen", offsetof(cof_server_config, syslog_listen), sizeof s->syslog_listen },
        { "syslog_plain_listen", offsetof(cof_server_config, syslog_plain_listen),
          sizeof s->syslog_plain_listen },
        { "tls_cert", offsetof(cof_server_config, tls_cert), sizeof s->tls_cert },
        { "tls_key", offsetof(cof_server_config, tls_key), sizeof s->tls_key },
        { "syslog_client_ca", offsetof(cof_server_config, syslog_client_ca),
          sizeof s->syslog_client_ca },
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (cof_str_eq_lit(key, strs[i].name)) {
            if (!copy_z((char *)s + strs[i].off, strs[i].cap, v))
                return COF_ERR(COF_BADINPUT, "%s: %s is too long", where, strs[i].name);
            return COF_OK;
        }
    static const struct {
        const char *name;
        size_t off;
        uint32_t lo, hi;
    } nums[] = {
        { "max_connections", offsetof(cof_server_config, max_connections), 16, 1000000 },
        { "per_ip_connections", offsetof(cof_server_config, per_ip_connections), 1, 1000000 },
        { "max_body_bytes", offsetof(cof_server_config, max_body_bytes), 1024, 1u << 30 },
        { "max_header_bytes", offsetof(cof_server_config, max_header_bytes), 4096, 1u << 20 },
        { "idle_timeout", offsetof(cof_server_config, idle_timeout), 1, 3600 },
        { "header_timeout", offsetof(cof_server_config, header_timeout), 1, 600 },
        { "request_timeout", offsetof(cof_server_config, request_timeout), 1, 3600 },
        { "rate_limit", offsetof(cof_server_config, rate_limit), 1, 10000000 },
        { "budget_per_hour", offsetof(cof_server_config, budget_per_hour), 1, 1000000000 },
        { "lockout_failures", offsetof(cof_server_config, lockout_failures), 2, 100000 },
        { "threads", offsetof(cof_server_config, threads), 1, 256 },
        { "retention_seconds", offsetof(cof_server_config, retention_seconds), 1, 86400 },
    };
    for (size_t i = 0; i < sizeof nums / sizeof nums[0]; i++)
        if (cof_str_eq_lit(key, nums[i].name))
            return parse_u32(v, nums[i].lo, nums[i].hi, (uint32_t *)((char *)s + nums[i].off),
                             nums[i].name, where);
    return COF_AGAIN;
}

cof_status cof_config_set(cof_config *c, cof_str key, cof_str v, const char *where)
{
    key = cof_str_trim(key);
    v = cof_str_trim(v);
    cof_status st;
    if (cof_str_eq_lit(key, "data_dir") || cof_str_eq_lit(key, "key_file")) {
        char *dst = cof_str_eq_lit(key, "data_dir") ? c->data_dir : c->key_file;
        if (v.n == 0 || !copy_z(dst, sizeof c->data_dir, v))
            return COF_ERR(COF_BADINPUT, "%s: %.*s needs a path", where, (int)key.n, key.p);
        return COF_OK;
    }
    if (cof_str_eq_lit(key, "fsync")) {
        if (cof_str_eq_lit(v, "always"))
            c->fsync = COF_FSYNC_ALWAYS;
        else if (cof_str_eq_lit(v, "batch"))
            c->fsync = COF_FSYNC_BATCH;
        else if (cof_str_eq_lit(v, "never"))
            c->fsync = COF_FSYNC_NEVER;
        else
            return COF_ERR(COF_BADINPUT, "%s: fsync must be always, batch or never", where);
        return COF_OK;
    }
    if (cof_str_eq_lit(key, "commit_events"))
        return parse_u32(v, 1, 1u << 20, &c->commit_events, "commit_events", where);
    if (cof_str_eq_lit(key, "retention_ceiling_days"))
        return parse_u32(v, 1, 36500, &c->retention_ceiling_days, "retention_ceiling_days", where);
    if (cof_str_eq_lit(key, "cache_mb"))
        return parse_u32(v, 16, 1u << 20, &c->cache_mb, "cache_mb", where);
    if (cof_str_eq_lit(key, "export_per_day"))
        return parse_u32(v, 1, 1000, &c->export_per_day, "export_per_day", where);
    if ((st = set_server_key(c, key, v, where)) != COF_AGAIN)
        return st;
    if (cof_str_eq_lit(key, "prefix_v4"))
        return parse_u32(v, 0, 32, &c->prefix_v4, "prefix_v4", where);
    if (cof_str_eq_lit(key, "prefix_v6"))
        return parse_u32(v, 0, 128, &c->prefix_v6, "prefix_v6", where);
    if (cof_str_eq_lit(key, "hold_seconds"))
        return parse_u32(v, 0, 86400, &c->hold_seconds, "hold_seconds", where);
    if (cof_str_eq_lit(key, "idle_seconds"))
        return parse_u32(v, 60, 60 * 86400, &c->idle_seconds, "idle_seconds", where);
    if (cof_str_eq_lit(key, "max_open_messages"))
        return parse_u32(v, 16, 1u << 22, &c->max_open_messages, "max_open_messages", where);
    if (cof_str_eq_lit(key, "default_tenant")) {
        if (!cof_tenant_name_valid(v))
            return COF_ERR(COF_BADINPUT, "%s: invalid tenant name", where);
        copy_z(c->default_tenant, sizeof c->default_tenant, v);
        return COF_OK;
    }
    if (cof_str_eq_lit(key, "tenant_rule"))
        return add_rule(c, v, where);
    if (probe_alert_set(c, key, v, where, &st)) /* probe issue */
        return st;
    if (cof_str_starts(key, "policy.")) {
        cof_field f;
        if (!cof_field_from_name(cof_str_make(key.p + 7, key.n - 7), &f))
            return COF_ERR(COF_BADINPUT, "%s: unknown field in '%.*s'", where, (int)key.n, key.p);
        uint8_t fl;
        if ((st = cof_policy_parse(f, v, &fl)))
            return COF_ERR(st, "%s: %s", where, cof_err_msg());
        c->policy[f] = fl;
        return COF_OK;
    }
    if (cof_str_starts(key, "tenant.")) {
        cof_str rest = cof_str_make(key.p + 7, key.n - 7);
        const char *dot = NULL;
        for (size_t i = rest.n; i > 0; i--)
            if (rest.p[i - 1] == '.') {
                dot = rest.p + i - 1;
                break;
            }
        cof_field f;
        if (!dot || !cof_field_from_name(cof_str_make(dot + 1, rest.n - (size_t)(dot - rest.p) - 1),
                                         &f))
            return COF_ERR(COF_BADINPUT, "%s: expected tenant.NAME.FIELD", where);
        uint8_t fl;
        if ((st = cof_policy_parse(f, v, &fl)))
            return COF_ERR(st, "%s: %s", where, cof_err_msg());
        return set_tenant_policy(c, cof_str_make(rest.p, (size_t)(dot - rest.p)), f, fl, where);
    }
    return COF_ERR(COF_BADINPUT, "%s: unknown key '%.*s'", where, (int)(key.n > 64 ? 64 : key.n),
                   key.p);
}

cof_status cof_config_load_buf(cof_config *c, const char *buf, size_t len, const char *path)
{
    cof_status st = COF_OK;
    if (len > COF_MAX_CONFIG_BYTES)
        return COF_ERR(COF_BADINPUT, "config %s: larger than %d bytes", path, COF_MAX_CONFIG_BYTES);
    cof_str all = cof_str_make(buf, len);
    if (!cof_str_utf8_valid(all)) {
        st = COF_ERR(COF_BADINPUT, "config %s: not valid UTF-8", path);
        return st;
    }
    size_t lineno = 0;
    while (all.n) {
        const char *nl = memchr(all.p, '\n', all.n);
        cof_str line = cof_str_make(all.p, nl ? (size_t)(nl - all.p) : all.n);
        all = nl ? cof_str_make(nl + 1, all.n - line.n - 1) : COF_STR_NULL;
        lineno++;
        char where[4200];
        snprintf(where, sizeof where, "%s:%zu", path, lineno);
        if (line.n > COF_MAX_CONFIG_LINE) {
            st = COF_ERR(COF_BADINPUT, "%s: line too long", where);
            return st;
        }
        line = cof_str_trim(line);
        if (line.n == 0 || line.p[0] == '#')
            continue;
        const char *eq = memchr(line.p, '=', line.n);
        if (!eq) {
            st = COF_ERR(COF_BADINPUT, "%s: expected 'key = value'", where);
            return st;
        }
        st = cof_config_set(c, cof_str_make(line.p, (size_t)(eq - line.p)),
                            cof_str_make(eq + 1, line.n - (size_t)(eq - line.p) - 1), where);
        if (st)
            return st;
    }
    return st;
}

cof_status cof_config_load(cof_config *c, const char *path)
{
    cof_status st = COF_OK;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return COF_ERRNO("cannot open config %s", path);
    struct stat sb;
    char *buf = NULL;
    if (fstat(fd, &sb) != 0) {
        st = COF_ERRNO("cannot stat config %s", path);
        goto out;
    }
    if (!S_ISREG(sb.st_mode) || sb.st_size > COF_MAX_CONFIG_BYTES) {
        st = COF_ERR(COF_BADINPUT, "config %s: not a regular file of at most %d bytes", path,
                     COF_MAX_CONFIG_BYTES);
        goto out;
    }
    buf = malloc((size_t)sb.st_size + 1);
    if (!buf) {
        st = COF_ERR(COF_NOMEM, "out of memory");
        goto out;
    }
    size_t got = 0;
    while (got < (size_t)sb.st_size) {
        ssize_t r = read(fd, buf + got, (size_t)sb.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            st = COF_ERRNO("cannot read config %s", path);
            goto out;
        }
        got += (size_t)r;
    }
    st = cof_config_load_buf(c, buf, got, path);
out:
    free(buf);
    close(fd);
    return st;
}
