/* apiparam.c - query parameter validation (apiparam.h). */
#include "apiparam.h"

#include <string.h>

#include <sodium.h>

#include "config.h"
#include "query.h"
#include "timefmt.h"

static const struct {
    const char *arg;
    cof_field field;
} lookup_fields[] = {
    { "rcpt", COF_F_RECIPIENT },   { "sender", COF_F_SENDER },       { "msgid", COF_F_MESSAGE_ID },
    { "queue_id", COF_F_QUEUE_ID }, { "sasl", COF_F_SASL_USERNAME }, { "client_ip", COF_F_CLIENT_IP },
    { "orig_rcpt", COF_F_ORIG_RECIPIENT },
};

#define BAD(msg) (*why = (msg), COF_BADINPUT)

/* Every key known, none twice, every value bounded. */
static cof_status check_keys(const cof_kv *kv, size_t n, const char *const *allowed, const char **why)
{
    if (n > COF_API_MAX_PARAMS)
        return BAD("too many query parameters");
    for (size_t i = 0; i < n; i++) {
        int known = 0;
        for (const char *const *a = allowed; *a && !known; a++)
            known = !strcmp(*a, kv[i].k);
        if (!known)
            return BAD("unknown query parameter");
        if (strlen(kv[i].v) > COF_API_MAX_VALUE)
            return BAD("query parameter value too long");
        for (size_t j = 0; j < i; j++)
            if (!strcmp(kv[i].k, kv[j].k))
                return BAD("a query parameter is repeated");
    }
    return COF_OK;
}

static const char *get(const cof_kv *kv, size_t n, const char *k)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(kv[i].k, k))
            return kv[i].v;
    return NULL;
}

static int time_arg(const char *v, int64_t now, int64_t dflt, int64_t *out)
{
    if (!v || !*v) {
        *out = dflt;
        return 1;
    }
    return strlen(v) <= 64 && cof_time_parse(cof_str_c(v), now, out) == COF_OK;
}

static int uint_arg(const char *v, uint64_t dflt, uint64_t max, uint64_t *out)
{
    if (!v) {
        *out = dflt;
        return 1;
    }
    return cof_str_to_u64(cof_str_c(v), max, out) && *out > 0;
}

static int tenant_arg(const char *v)
{
    return !v || cof_tenant_name_valid(cof_str_c(v));
}

cof_status cof_api_trail_params(const cof_kv *kv, size_t n, int64_t now, cof_trail_params *o,
                                const char **why)
{
    static const char *const allowed[] = { "rcpt", "sender", "msgid", "queue_id", "sasl", "client_ip",
                                           "orig_rcpt", "since", "until", "tenant", "limit", "cursor",
                                           NULL };
    memset(o, 0, sizeof *o);
    cof_status st = check_keys(kv, n, allowed, why);
    if (st)
        return st;
    for (size_t i = 0; i < sizeof lookup_fields / sizeof lookup_fields[0]; i++) {
        const char *v = get(kv, n, lookup_fields[i].arg);
        if (!v)
            continue;
        if (o->arg)
            return BAD("give exactly one of rcpt, sender, msgid, queue_id, sasl, client_ip, orig_rcpt");
        o->arg = lookup_fields[i].arg;
        o->field = lookup_fields[i].field;
        o->value = v;
    }
    if (!o->arg)
        return BAD("give exactly one of rcpt, sender, msgid, queue_id, sasl, client_ip, orig_rcpt "
                   "(exact match; no listing)");
    o->value_len = strlen(o->value);
    if (o->value_len == 0 || o->value_len > COF_MAX_ADDR || strpbrk(o->value, "*%?"))
        return BAD("lookups are exact-match only: one complete value, no wildcards or prefixes");
    const char *sv = get(kv, n, "since"), *uv = get(kv, n, "until");
    o->has_since = sv != NULL;
    o->has_until = uv != NULL;
    if (!time_arg(sv, now, INT64_MIN, &o->since) || !time_arg(uv, now, INT64_MAX, &o->until))
        return BAD("since/until: use 2026-11-23, RFC 3339, or an age like 2h");
    if (!uint_arg(get(kv, n, "limit"), 100, COF_API_MAX_PAGE, &o->limit))
        return BAD("limit must be 1..1000");
    o->tenant = get(kv, n, "tenant");
    if (!tenant_arg(o->tenant))
        return BAD("invalid tenant name");
    const char *cur = get(kv, n, "cursor");
    if (cur) {
        size_t rl = 0;
        if (strlen(cur) > 32 ||
            sodium_base642bin(o->cursor, sizeof o->cursor, cur, strlen(cur), NULL, &rl, NULL,
                              sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 || rl != 12)
            return BAD("invalid cursor");
        o->has_cursor = 1;
    }
    return COF_OK;
}

cof_status cof_api_stats_params(const cof_kv *kv, size_t n, int64_t now, cof_stats_params *o,
                                const char **why)
{
    static const char *const allowed[] = { "by", "bucket", "since", "until", "tenant", NULL };
    memset(o, 0, sizeof *o);
    cof_status st = check_keys(kv, n, allowed, why);
    if (st)
        return st;
    o->by = COF_BY_STATUS;
    o->by_s = get(kv, n, "by");
    if (o->by_s && (strlen(o->by_s) > 128 || cof_stats_by_parse(cof_str_c(o->by_s), &o->by) != COF_OK))
        return BAD("by: a comma list of status, dsn_class, rcpt_domain, relay, tenant");
    o->bucket_s = get(kv, n, "bucket");
    if (o->bucket_s && (strlen(o->bucket_s) > 16 ||
                        cof_duration_parse(cof_str_c(o->bucket_s), &o->bucket) != COF_OK || o->bucket <= 0))
        return BAD("bucket: a duration such as 1h or 15m");
    if (!time_arg(get(kv, n, "since"), now, INT64_MIN, &o->since) ||
        !time_arg(get(kv, n, "until"), now, INT64_MAX, &o->until))
        return BAD("since/until: use 2026-11-23, RFC 3339, or an age like 2h");
    o->tenant = get(kv, n, "tenant");
    if (!tenant_arg(o->tenant))
        return BAD("invalid tenant name");
    return COF_OK;
}

cof_status cof_api_audit_params(const cof_kv *kv, size_t n, int64_t now, cof_audit_params *o,
                                const char **why)
{
    static const char *const allowed[] = { "since", "until", "principal", "action", "limit", NULL };
    memset(o, 0, sizeof *o);
    cof_status st = check_keys(kv, n, allowed, why);
    if (st)
        return st;
    if (!time_arg(get(kv, n, "since"), now, 0, &o->since) || !time_arg(get(kv, n, "until"), now, 0, &o->until))
        return BAD("since/until: use 2026-11-23, RFC 3339, or an age like 2h");
    if (!uint_arg(get(kv, n, "limit"), 100, COF_API_MAX_PAGE, &o->limit))
        return BAD("limit must be 1..1000");
    o->principal = get(kv, n, "principal");
    o->action = get(kv, n, "action");
    if ((o->principal && strlen(o->principal) > 64) || (o->action && strlen(o->action) > 64))
        return BAD("principal or action too long");
    return COF_OK;
}

int cof_api_batch_id_valid(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 128)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
              c == '_' || c == ':' || c == '-'))
            return 0;
    }
    return 1;
}
