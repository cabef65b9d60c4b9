/* policy.c - tenant attribution and field minimization. */
#include "policy.h"

#include <arpa/inet.h>
#include <stdio.h>

#include "seal.h"

cof_str cof_policy_domain(cof_str a)
{
    a = cof_str_trim(a);
    for (size_t i = a.n; i > 0; i--)
        if (a.p[i - 1] == '@')
            return cof_str_make(a.p + i, a.n - i);
    return COF_STR_NULL;
}

static int parse_ip(cof_str ip, uint8_t out[16], int *family)
{
    char buf[64];
    if (ip.n == 0 || ip.n >= sizeof buf)
        return 0;
    memcpy(buf, ip.p, ip.n);
    buf[ip.n] = 0;
    if (inet_pton(AF_INET, buf, out) == 1) {
        *family = 4;
        return 1;
    }
    if (inet_pton(AF_INET6, buf, out) == 1) {
        *family = 6;
        return 1;
    }
    return 0;
}

static void mask_bits(uint8_t *a, size_t nbytes, uint32_t bits)
{
    for (size_t i = 0; i < nbytes; i++) {
        int keep = (int)bits - (int)(i * 8);
        a[i] &= keep >= 8 ? 0xFF : keep <= 0 ? 0 : (uint8_t)(0xFF << (8 - keep));
    }
}

int cof_policy_prefix(cof_str ip, uint32_t v4_bits, uint32_t v6_bits, char *out, size_t cap)
{
    uint8_t a[16];
    int fam;
    char txt[INET6_ADDRSTRLEN];
    if (!parse_ip(ip, a, &fam))
        return 0;
    uint32_t bits = fam == 4 ? v4_bits : v6_bits;
    mask_bits(a, fam == 4 ? 4 : 16, bits);
    if (!inet_ntop(fam == 4 ? AF_INET : AF_INET6, a, txt, sizeof txt))
        return 0;
    int k = snprintf(out, cap, "%s/%u", txt, bits);
    return k > 0 && (size_t)k < cap;
}

static int rule_matches(const cof_tenant_rule *r, const cof_event *ev)
{
    switch (r->kind) {
    case COF_RULE_SASL: {
        cof_str u = ev->f[COF_F_SASL_USERNAME];
        if (!u.n)
            return 0;
        if (r->pattern[0] == '*') { /* "*@domain": suffix match */
            cof_str suf = cof_str_c(r->pattern + 1);
            return u.n >= suf.n && cof_str_ieq(cof_str_make(u.p + u.n - suf.n, suf.n), suf);
        }
        return cof_str_ieq(u, cof_str_c(r->pattern));
    }
    case COF_RULE_SENDER_DOMAIN: {
        cof_str d = cof_policy_domain(ev->f[COF_F_SENDER]);
        if (!d.n)
            return 0;
        cof_str pat = cof_str_c(r->pattern);
        if (pat.p[0] == '.') /* ".example.com": the domain and its subdomains */
            return cof_str_ieq(d, cof_str_make(pat.p + 1, pat.n - 1)) ||
                   (d.n > pat.n && cof_str_ieq(cof_str_make(d.p + d.n - pat.n, pat.n), pat));
        return cof_str_ieq(d, pat);
    }
    case COF_RULE_CLIENT_NET: {
        uint8_t a[16];
        int fam;
        if (!parse_ip(ev->f[COF_F_CLIENT_IP], a, &fam) || fam != r->family)
            return 0;
        mask_bits(a, fam == 4 ? 4 : 16, r->prefix_len);
        return memcmp(a, r->net, fam == 4 ? 4 : 16) == 0;
    }
    }
    return 0;
}

const char *cof_policy_tenant(const cof_config *c, const cof_event *ev, char *buf)
{
    cof_str t = ev->f[COF_F_TENANT];
    if (t.n && cof_tenant_name_valid(t)) {
        memcpy(buf, t.p, t.n);
        buf[t.n] = 0;
        return buf;
    }
    for (uint32_t i = 0; i < c->nrules; i++)
        if (rule_matches(&c->rules[i], ev))
            return c->rules[i].tenant;
    return c->default_tenant;
}

cof_status cof_policy_apply(const cof_config *c, const char *tenant, const uint8_t blind_key[32],
                            const cof_event *ev, cof_policy_scratch *scratch, cof_record *rec)
{
    cof_record_init(rec);
    rec->time_us = ev->time_us;
    rec->direction = ev->direction;
    rec->status = ev->status;
    rec->relay_port = ev->relay_port;
    rec->delay_ms = ev->delay_ms;
    memcpy(rec->delays_ms, ev->delays_ms, sizeof rec->delays_ms);
    rec->size = ev->size;
    rec->nrcpt = ev->nrcpt;
    for (int f = 0; f < COF_NFIELDS; f++) {
        cof_str v = ev->f[f];
        if (f == COF_F_TENANT) {
            rec->clear[f] = cof_str_c(tenant);
            continue;
        }
        if (!v.n)
            continue;
        if (v.n > COF_MAX_FIELD)
            v.n = COF_MAX_FIELD;
        uint8_t p = cof_config_policy(c, tenant, (cof_field)f);
        if (p & COF_P_KEEP)
            rec->clear[f] = v;
        if (p & COF_P_DOMAIN)
            rec->clear[f] = cof_policy_domain(v);
        if ((p & COF_P_PREFIX) &&
            cof_policy_prefix(v, c->prefix_v4, c->prefix_v6, scratch->prefix[f],
                              sizeof scratch->prefix[f]))
            rec->clear[f] = cof_str_c(scratch->prefix[f]);
        if (p & COF_P_SEAL)
            rec->sealed[f] = v;
        if (p & (COF_P_SEAL | COF_P_BLIND)) {
            cof_status st = cof_seal_token(blind_key, (cof_field)f, v, rec->token[f]);
            if (st == COF_OK)
                rec->token_mask |= 1u << f;
            else if (st != COF_LIMIT)
                return st;
        }
    }
    return COF_OK;
}
