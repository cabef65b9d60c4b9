/* access.c - the access document: parse (hostile input), validate, dump, save, load,
 * and the permission rules of access.h (default deny).
 *
 * Invariants of a cof_access once built (by parse, new, clone or the mutators):
 *   1. principals[] is sorted by name (strcmp) and names are unique and valid;
 *   2. every grant has 1..COF_MAX_GRANT_TENANTS tenants, each "*" or a valid tenant
 *      name, no duplicates; a customer grant has exactly one tenant and never "*";
 *   3. cert_sha256 is "" or 64 lowercase hex, and no two principals share one.
 * The parser refuses unknown keys at every level: a typo in a security document must
 * never be silently ignored. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "access.h"
#include "config.h"
#include "fsutil.h"
#include "timefmt.h"

#define ACCESS_FORMAT "coffer-access-1"
#define ACCESS_FILE "access.json"
/* Unsealed events per hour a principal may be given; far above any human use, low
 * enough that budget arithmetic (per-hour counters) never overflows 32 bits. */
#define COF_MAX_BUDGET_PER_HOUR 100000000u
/* Longest JSON path named in an error ("principals.<64>.grants[63].tenants[255]"). */
#define PATH_CAP 160

static const char *const role_names[COF_NROLES] = {
    "ingest", "support", "analyst", "auditor", "admin", "customer", "metrics", "exporter"
};

const char *cof_role_name(cof_role r)
{
    return (unsigned)r < COF_NROLES ? role_names[r] : "?";
}

cof_status cof_role_parse(cof_str s, cof_role *out)
{
    for (int r = 0; r < COF_NROLES; r++)
        if (cof_str_eq_lit(s, role_names[r])) {
            *out = (cof_role)r;
            return COF_OK;
        }
    return COF_ERR(COF_BADINPUT, "unknown role (use ingest, support, analyst, auditor, admin, "
                   "customer, metrics or exporter)");
}

uint32_t cof_role_perms(cof_role r)
{
    switch (r) {
    case COF_ROLE_INGEST: return COF_PERM_INGEST;
    case COF_ROLE_SUPPORT: return COF_PERM_TRAIL;
    case COF_ROLE_ANALYST: return COF_PERM_STATS;
    case COF_ROLE_AUDITOR: return COF_PERM_AUDIT | COF_PERM_METRICS;
    case COF_ROLE_ADMIN: return COF_PERM_ADMIN | COF_PERM_METRICS; /* never TRAIL */
    case COF_ROLE_CUSTOMER: return COF_PERM_TRAIL | COF_PERM_STATS;
    case COF_ROLE_METRICS: return COF_PERM_METRICS;
    case COF_ROLE_EXPORTER: return COF_PERM_EXPORT; /* only through approved exports */
    default: return 0;
    }
}

static int principal_name_valid(cof_str s)
{
    if (s.n == 0 || s.n > COF_MAX_PRINCIPAL_NAME)
        return 0;
    for (size_t i = 0; i < s.n; i++) {
        char c = s.p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '@' || c == '-'))
            return 0;
    }
    return 1;
}

static int tenant_valid(cof_str s)
{
    return cof_str_eq_lit(s, "*") || cof_tenant_name_valid(s);
}

static int hex64_valid(cof_str s)
{
    if (s.n != 64)
        return 0;
    for (size_t i = 0; i < 64; i++) {
        char c = s.p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return 0;
    }
    return 1;
}

/* "" or HOST:PORT with a port of 1..65535 (IPv6 hosts in brackets). The server decides
 * which addresses are acceptable (loopback-only for plain syslog). */
static int listener_valid(cof_str s)
{
    if (s.n == 0)
        return 1;
    if (s.n >= sizeof(((cof_listeners *)0)->api))
        return 0;
    size_t colon = s.n;
    for (size_t i = 0; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        if (c <= 0x20 || c >= 0x7f)
            return 0;
        if (c == ':')
            colon = i;
    }
    if (colon == 0 || colon >= s.n - 1)
        return 0;
    uint64_t port;
    return cof_str_to_u64(cof_str_make(s.p + colon + 1, s.n - colon - 1), 65535, &port) &&
           port > 0;
}

/* Strict RFC 3339 UTC: "YYYY-MM-DDTHH:MM:SS[.1-9 digits]Z", after 1970. */
cof_status cof_access_time(cof_str s, int64_t *out)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    if (s.n < 20 || s.n > 30 || s.p[s.n - 1] != 'Z')
        return COF_BADINPUT;
    for (size_t i = 0; i < 19; i++) {
        char c = s.p[i];
        if (shape[i] == 'd' ? !(c >= '0' && c <= '9') : c != shape[i])
            return COF_BADINPUT;
    }
    if (s.n > 20) {
        if (s.p[19] != '.' || s.n < 22)
            return COF_BADINPUT;
        for (size_t i = 20; i < s.n - 1; i++)
            if (!(s.p[i] >= '0' && s.p[i] <= '9'))
                return COF_BADINPUT;
    }
    int64_t t;
    if (cof_time_parse(s, 0, &t) != COF_OK || t <= 0)
        return COF_BADINPUT;
    *out = t;
    return COF_OK;
}

/* ---------------------------------------------------------------- memory */

static void grant_free(cof_grant *g)
{
    for (uint32_t i = 0; i < g->ntenants; i++)
        free(g->tenants[i]);
    free(g->tenants);
    g->tenants = NULL;
    g->ntenants = 0;
}

static void principal_free(cof_principal *p)
{
    for (uint32_t i = 0; i < p->ngrants; i++)
        grant_free(&p->grants[i]);
    free(p->grants);
    p->grants = NULL;
    p->ngrants = 0;
}

void cof_access_free(cof_access *a)
{
    if (!a)
        return;
    for (uint32_t i = 0; i < a->nprincipals; i++)
        principal_free(&a->principals[i]);
    free(a->principals);
    cof_access_gov_free(a);
    free(a);
}

static cof_status set_listener(char *dst, size_t cap, const char *v)
{
    size_t n = strlen(v);
    if (n >= cap)
        return COF_ERR(COF_LIMIT, "listener address too long");
    memcpy(dst, v, n + 1);
    return COF_OK;
}

cof_status cof_access_new(cof_access **out)
{
    cof_access *a = calloc(1, sizeof *a);
    if (!a)
        return COF_ERR(COF_NOMEM, "access document");
    a->version = 1;
    a->updated = cof_time_now_us();
    cof_access_gov_defaults(a);
    cof_status st = set_listener(a->listeners.api, sizeof a->listeners.api, "127.0.0.1:8443");
    if (!st)
        st = set_listener(a->listeners.syslog_tls, sizeof a->listeners.syslog_tls,
                          "127.0.0.1:6514");
    if (st) {
        cof_access_free(a);
        return st;
    }
    *out = a;
    return COF_OK;
}

static int grant_has_tenant(const cof_grant *g, const char *t)
{
    for (uint32_t i = 0; i < g->ntenants; i++)
        if (strcmp(g->tenants[i], t) == 0)
            return 1;
    return 0;
}

/* Validates and deep-copies; p is unchanged on failure. */
cof_status cof_access_add_grant(cof_principal *p, cof_role role, const char *const *tenants,
                                uint32_t ntenants, int64_t expires)
{
    if ((unsigned)role >= COF_NROLES)
        return COF_ERR(COF_BADINPUT, "unknown role");
    if (ntenants == 0)
        return COF_ERR(COF_BADINPUT, "a grant needs at least one tenant");
    if (ntenants > COF_MAX_GRANT_TENANTS)
        return COF_ERR(COF_LIMIT, "more than %d tenants in one grant", COF_MAX_GRANT_TENANTS);
    if (p->ngrants >= COF_MAX_GRANTS)
        return COF_ERR(COF_LIMIT, "more than %d grants for one principal", COF_MAX_GRANTS);
    if (expires < 0)
        return COF_ERR(COF_BADINPUT, "grant expiry before 1970");
    if (role == COF_ROLE_CUSTOMER && (ntenants != 1 || strcmp(tenants[0], "*") == 0))
        return COF_ERR(COF_BADINPUT, "a customer grant names exactly one tenant, never \"*\"");
    cof_grant g = { .role = role, .expires = expires };
    g.tenants = calloc(ntenants, sizeof *g.tenants);
    if (!g.tenants)
        return COF_ERR(COF_NOMEM, "grant");
    for (uint32_t i = 0; i < ntenants; i++) {
        if (!tenants[i] || !tenant_valid(cof_str_c(tenants[i]))) {
            grant_free(&g);
            return COF_ERR(COF_BADINPUT, "invalid tenant name (1..%d of A-Za-z0-9._- or \"*\")",
                           COF_MAX_TENANT_NAME);
        }
        if (grant_has_tenant(&g, tenants[i])) {
            grant_free(&g);
            return COF_ERR(COF_BADINPUT, "tenant named twice in one grant");
        }
        if (!(g.tenants[i] = strdup(tenants[i]))) {
            grant_free(&g);
            return COF_ERR(COF_NOMEM, "grant");
        }
        g.ntenants = i + 1;
    }
    cof_grant *ng = realloc(p->grants, (p->ngrants + 1) * sizeof *ng);
    if (!ng) {
        grant_free(&g);
        return COF_ERR(COF_NOMEM, "grant");
    }
    p->grants = ng;
    p->grants[p->ngrants++] = g;
    return COF_OK;
}

/* Index of name, or the insertion point (negated minus one) if absent. */
static long find_index(const cof_access *a, const char *name)
{
    long lo = 0, hi = (long)a->nprincipals;
    while (lo < hi) {
        long mid = lo + (hi - lo) / 2;
        int c = strcmp(a->principals[mid].name, name);
        if (c == 0)
            return mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -lo - 1;
}

const cof_principal *cof_access_find(const cof_access *a, const char *name)
{
    if (!a || !name)
        return NULL;
    long i = find_index(a, name);
    return i >= 0 ? &a->principals[i] : NULL;
}

/* Pointers to principals are invalidated by an insertion. */
cof_status cof_access_upsert(cof_access *a, const char *name, cof_principal **out)
{
    if (!name || !principal_name_valid(cof_str_c(name)))
        return COF_ERR(COF_BADINPUT, "invalid principal name (1..%d of A-Za-z0-9._@-)",
                       COF_MAX_PRINCIPAL_NAME);
    long i = find_index(a, name);
    if (i >= 0) {
        *out = &a->principals[i];
        return COF_OK;
    }
    if (a->nprincipals >= COF_MAX_PRINCIPALS)
        return COF_ERR(COF_LIMIT, "more than %d principals", COF_MAX_PRINCIPALS);
    size_t at = (size_t)(-i - 1);
    cof_principal *np = realloc(a->principals, (a->nprincipals + 1) * sizeof *np);
    if (!np)
        return COF_ERR(COF_NOMEM, "principal");
    a->principals = np;
    memmove(&np[at + 1], &np[at], (a->nprincipals - at) * sizeof *np);
    memset(&np[at], 0, sizeof *np);
    memcpy(np[at].name, name, strlen(name) + 1);
    a->nprincipals++;
    *out = &np[at];
    return COF_OK;
}

cof_status cof_access_clone(const cof_access *a, cof_access **out)
{
    cof_access *c = calloc(1, sizeof *c);
    cof_status st = COF_OK;
    if (!c)
        return COF_ERR(COF_NOMEM, "access document");
    c->version = a->version;
    c->updated = a->updated;
    c->listeners = a->listeners;
    if ((st = cof_access_gov_copy(a, c)))
        goto out;
    if (a->nprincipals) {
        c->principals = calloc(a->nprincipals, sizeof *c->principals);
        if (!c->principals) {
            st = COF_ERR(COF_NOMEM, "access document");
            goto out;
        }
    }
    for (uint32_t i = 0; i < a->nprincipals; i++) {
        const cof_principal *s = &a->principals[i];
        cof_principal *d = &c->principals[i];
        memcpy(d->name, s->name, sizeof d->name);
        memcpy(d->cert_sha256, s->cert_sha256, sizeof d->cert_sha256);
        d->suspended = s->suspended;
        d->budget_per_hour = s->budget_per_hour;
        c->nprincipals = i + 1;
        for (uint32_t g = 0; g < s->ngrants; g++) {
            const cof_grant *sg = &s->grants[g];
            if ((st = cof_access_add_grant(d, sg->role, (const char *const *)sg->tenants,
                                           sg->ntenants, sg->expires)))
                goto out;
        }
    }
out:
    if (st) {
        cof_access_free(c);
        return st;
    }
    *out = c;
    return COF_OK;
}

const cof_principal *cof_access_by_cert(const cof_access *a, const char sha256_hex[65])
{
    if (!a || !sha256_hex || !sha256_hex[0])
        return NULL;
    for (uint32_t i = 0; i < a->nprincipals; i++)
        if (a->principals[i].cert_sha256[0] &&
            strcmp(a->principals[i].cert_sha256, sha256_hex) == 0)
            return &a->principals[i];
    return NULL;
}

/* ---------------------------------------------------------------- rules */

static int grant_live(const cof_grant *g, int64_t now)
{
    return g->expires == 0 || now < g->expires;
}

uint32_t cof_access_perms(const cof_access *a, const cof_principal *p, const char *tenant,
                          int64_t now)
{
    (void)a;
    uint32_t perms = 0;
    if (!p || p->suspended)
        return 0;
    for (uint32_t i = 0; i < p->ngrants; i++) {
        const cof_grant *g = &p->grants[i];
        if (!grant_live(g, now))
            continue;
        if (grant_has_tenant(g, "*") || (tenant && grant_has_tenant(g, tenant)))
            perms |= cof_role_perms(g->role);
    }
    return perms;
}

uint32_t cof_access_any_perms(const cof_access *a, const cof_principal *p, int64_t now)
{
    (void)a;
    uint32_t perms = 0;
    if (!p || p->suspended)
        return 0;
    for (uint32_t i = 0; i < p->ngrants; i++)
        if (grant_live(&p->grants[i], now))
            perms |= cof_role_perms(p->grants[i].role);
    return perms;
}

/* A tenant is in scope when the union of p's live grants on it holds every bit of perm
 * (so support on acme plus analyst on acme gives TRAIL|STATS on acme). */
void cof_access_scope(const cof_access *a, const cof_principal *p, uint32_t perm, int64_t now,
                      int *all, const char **names, uint32_t cap, uint32_t *n)
{
    *all = 0;
    *n = 0;
    if (!p || p->suspended || perm == 0)
        return;
    if ((cof_access_perms(a, p, NULL, now) & perm) == perm) {
        *all = 1;
        return;
    }
    for (uint32_t i = 0; i < p->ngrants && *n < cap; i++) {
        const cof_grant *g = &p->grants[i];
        if (!grant_live(g, now) || !(cof_role_perms(g->role) & perm))
            continue;
        for (uint32_t t = 0; t < g->ntenants && *n < cap; t++) {
            const char *name = g->tenants[t];
            int seen = 0;
            for (uint32_t k = 0; k < *n && !seen; k++)
                seen = strcmp(names[k], name) == 0;
            if (seen || strcmp(name, "*") == 0)
                continue;
            if ((cof_role_perms(g->role) & perm) == perm ||
                (cof_access_perms(a, p, name, now) & perm) == perm)
                names[(*n)++] = name;
        }
    }
}

/* ---------------------------------------------------------------- parse */

static cof_status perr(const char *name, const char *path, const char *what)
{
    return COF_ERR(COF_BADINPUT, "%s: %s: %s", name, path[0] ? path : "(top)", what);
}

/* Refuse keys other than those listed (NULL-terminated). */
static cof_status only_keys(json_t *obj, const char *const *allowed, const char *name,
                            const char *path)
{
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v) {
        int ok = 0;
        for (int i = 0; allowed[i] && !ok; i++)
            ok = strcmp(k, allowed[i]) == 0;
        if (!ok) {
            char sub[PATH_CAP + 80];
            /* Keys are named only when they look like identifiers (never echo junk). */
            int plain = strlen(k) <= 64 && principal_name_valid(cof_str_c(k));
            snprintf(sub, sizeof sub, "%s%s%s", path, path[0] ? "." : "", plain ? k : "?");
            return perr(name, sub, "unknown key");
        }
    }
    return COF_OK;
}

static cof_str jstr(json_t *v)
{
    return cof_str_make(json_string_value(v), json_string_length(v));
}

static cof_status parse_grant(json_t *jg, cof_principal *p, const char *name, const char *path)
{
    static const char *const keys[] = { "role", "tenants", "expires", NULL };
    char sub[PATH_CAP + 80];
    cof_status st;
    if (!json_is_object(jg))
        return perr(name, path, "must be an object");
    if ((st = only_keys(jg, keys, name, path)))
        return st;
    json_t *jr = json_object_get(jg, "role");
    json_t *jt = json_object_get(jg, "tenants");
    json_t *je = json_object_get(jg, "expires");
    cof_role role;
    snprintf(sub, sizeof sub, "%s.role", path);
    if (!json_is_string(jr))
        return perr(name, sub, "missing or not a string");
    if (cof_role_parse(jstr(jr), &role) != COF_OK)
        return perr(name, sub, "unknown role (ingest, support, analyst, auditor, admin, "
                    "customer, metrics)");
    int64_t expires = 0;
    snprintf(sub, sizeof sub, "%s.expires", path);
    if (je && (!json_is_string(je) || cof_access_time(jstr(je), &expires) != COF_OK))
        return perr(name, sub, "not an RFC 3339 UTC time (2026-12-31T00:00:00Z)");
    snprintf(sub, sizeof sub, "%s.tenants", path);
    if (!json_is_array(jt))
        return perr(name, sub, "missing or not an array");
    size_t nt = json_array_size(jt);
    if (nt == 0)
        return perr(name, sub, "empty (name at least one tenant, or \"*\")");
    if (nt > COF_MAX_GRANT_TENANTS)
        return COF_ERR(COF_LIMIT, "%s: %s: more than %d tenants", name, sub,
                       COF_MAX_GRANT_TENANTS);
    if (role == COF_ROLE_CUSTOMER && nt != 1)
        return perr(name, sub, "a customer grant names exactly one tenant");
    const char *tenants[COF_MAX_GRANT_TENANTS];
    for (size_t i = 0; i < nt; i++) {
        json_t *v = json_array_get(jt, i);
        snprintf(sub, sizeof sub, "%s.tenants[%zu]", path, i);
        if (!json_is_string(v) || !tenant_valid(jstr(v)))
            return perr(name, sub, "not a tenant name (1..64 of A-Za-z0-9._-) or \"*\"");
        if (role == COF_ROLE_CUSTOMER && cof_str_eq_lit(jstr(v), "*"))
            return perr(name, sub, "a customer grant never names \"*\"");
        tenants[i] = json_string_value(v);
        for (size_t k = 0; k < i; k++)
            if (strcmp(tenants[k], tenants[i]) == 0)
                return perr(name, sub, "tenant named twice");
    }
    if ((st = cof_access_add_grant(p, role, tenants, (uint32_t)nt, expires)))
        return COF_ERR(st, "%s: %s: %s", name, path, cof_err_msg());
    return COF_OK;
}

static cof_status parse_principal(json_t *jp, cof_principal *p, const char *name,
                                  const char *path)
{
    static const char *const keys[] = { "suspended", "budget_per_hour", "cert_sha256",
                                        "grants", NULL };
    char sub[PATH_CAP + 40];
    cof_status st;
    if (!json_is_object(jp))
        return perr(name, path, "must be an object");
    if ((st = only_keys(jp, keys, name, path)))
        return st;
    json_t *v;
    if ((v = json_object_get(jp, "suspended"))) {
        snprintf(sub, sizeof sub, "%s.suspended", path);
        if (!json_is_boolean(v))
            return perr(name, sub, "must be true or false");
        p->suspended = json_is_true(v);
    }
    if ((v = json_object_get(jp, "budget_per_hour"))) {
        snprintf(sub, sizeof sub, "%s.budget_per_hour", path);
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > (json_int_t)COF_MAX_BUDGET_PER_HOUR)
            return perr(name, sub, "must be an integer 0..100000000");
        p->budget_per_hour = (uint32_t)json_integer_value(v);
    }
    if ((v = json_object_get(jp, "cert_sha256"))) {
        snprintf(sub, sizeof sub, "%s.cert_sha256", path);
        if (!json_is_string(v) || !hex64_valid(jstr(v)))
            return perr(name, sub, "must be 64 lowercase hex digits (SHA-256 of the DER "
                        "certificate)");
        memcpy(p->cert_sha256, json_string_value(v), 65);
    }
    json_t *jg = json_object_get(jp, "grants");
    snprintf(sub, sizeof sub, "%s.grants", path);
    if (!json_is_array(jg))
        return perr(name, sub, "missing or not an array");
    if (json_array_size(jg) > COF_MAX_GRANTS)
        return COF_ERR(COF_LIMIT, "%s: %s: more than %d grants", name, sub, COF_MAX_GRANTS);
    for (size_t i = 0; i < json_array_size(jg); i++) {
        snprintf(sub, sizeof sub, "%s.grants[%zu]", path, i);
        if ((st = parse_grant(json_array_get(jg, i), p, name, sub)))
            return st;
    }
    return COF_OK;
}

static int cmp_principal(const void *x, const void *y)
{
    return strcmp(((const cof_principal *)x)->name, ((const cof_principal *)y)->name);
}

static cof_status parse_doc(json_t *root, const char *name, cof_access *a)
{
    static const char *const keys[] = { "format", "version", "updated", "listeners",
                                        "principals", "governance", "lockdown", "retention",
                                        "alerts", "policies", NULL };
    static const char *const lkeys[] = { "api", "syslog_tls", "syslog_plain", NULL };
    cof_status st;
    if (!json_is_object(root))
        return perr(name, "", "must be a JSON object");
    if ((st = only_keys(root, keys, name, "")))
        return st;
    json_t *v = json_object_get(root, "format");
    if (!json_is_string(v) || !cof_str_eq_lit(jstr(v), ACCESS_FORMAT))
        return perr(name, "format", "must be \"" ACCESS_FORMAT "\"");
    v = json_object_get(root, "version");
    if (!json_is_integer(v) || json_integer_value(v) < 1)
        return perr(name, "version", "missing or not an integer >= 1");
    a->version = (uint64_t)json_integer_value(v);
    v = json_object_get(root, "updated");
    if (!json_is_string(v) || cof_access_time(jstr(v), &a->updated) != COF_OK)
        return perr(name, "updated", "missing or not an RFC 3339 UTC time");
    json_t *jl = json_object_get(root, "listeners");
    if (!json_is_object(jl))
        return perr(name, "listeners", "missing or not an object");
    if ((st = only_keys(jl, lkeys, name, "listeners")))
        return st;
    char *dst[3] = { a->listeners.api, a->listeners.syslog_tls, a->listeners.syslog_plain };
    for (int i = 0; i < 3; i++) {
        char sub[64];
        snprintf(sub, sizeof sub, "listeners.%s", lkeys[i]);
        v = json_object_get(jl, lkeys[i]);
        if (!v)
            continue;
        if (!json_is_string(v) || !listener_valid(jstr(v)))
            return perr(name, sub, "must be \"\" or HOST:PORT");
        memcpy(dst[i], json_string_value(v), json_string_length(v) + 1);
    }
    json_t *jp = json_object_get(root, "principals");
    if (!json_is_object(jp))
        return perr(name, "principals", "missing or not an object");
    size_t np = json_object_size(jp);
    if (np > COF_MAX_PRINCIPALS)
        return COF_ERR(COF_LIMIT, "%s: principals: more than %d", name, COF_MAX_PRINCIPALS);
    if (np) {
        a->principals = calloc(np, sizeof *a->principals);
        if (!a->principals)
            return COF_ERR(COF_NOMEM, "%s", name);
    }
    const char *k;
    json_object_foreach(jp, k, v) {
        char path[PATH_CAP];
        /* Key lengths come from the document: check before using them in a path. */
        if (!principal_name_valid(cof_str_c(k)))
            return perr(name, "principals", "a principal name is not 1..64 of A-Za-z0-9._@-");
        snprintf(path, sizeof path, "principals.%s", k);
        cof_principal *p = &a->principals[a->nprincipals++];
        memcpy(p->name, k, strlen(k) + 1);
        if ((st = parse_principal(v, p, name, path)))
            return st;
    }
    if (a->nprincipals)
        qsort(a->principals, a->nprincipals, sizeof *a->principals, cmp_principal);
    for (uint32_t i = 0; i < a->nprincipals; i++) {
        const cof_principal *p = &a->principals[i];
        if (!p->cert_sha256[0])
            continue;
        for (uint32_t j = i + 1; j < a->nprincipals; j++)
            if (strcmp(p->cert_sha256, a->principals[j].cert_sha256) == 0) {
                char path[PATH_CAP];
                snprintf(path, sizeof path, "principals.%s.cert_sha256", a->principals[j].name);
                return perr(name, path, "the same certificate is mapped to two principals");
            }
    }
    return cof_access_gov_parse(root, name, a);
}

cof_status cof_access_parse(const char *buf, size_t n, const char *name, cof_access **out)
{
    if (!name)
        name = "access document";
    if (n > COF_MAX_ACCESS_BYTES)
        return COF_ERR(COF_LIMIT, "%s: larger than %u bytes", name, COF_MAX_ACCESS_BYTES);
    json_error_t jerr;
    json_t *root = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        /* jansson's text names the problem (e.g. a duplicate key) and its position; it
         * may quote a key, which is policy text, not a personal value. */
        return COF_ERR(COF_BADINPUT, "%s: line %d column %d: %s", name, jerr.line, jerr.column,
                       jerr.text);
    cof_access *a = calloc(1, sizeof *a);
    cof_status st;
    if (!a) {
        st = COF_ERR(COF_NOMEM, "%s", name);
        goto out;
    }
    if ((st = parse_doc(root, name, a)))
        goto out;
    *out = a;
    a = NULL;
out:
    cof_access_free(a);
    json_decref(root);
    return st;
}

/* ---------------------------------------------------------------- dump */

static int set_new(json_t *obj, const char *key, json_t *v)
{
    return v ? json_object_set_new(obj, key, v) : -1;
}

static json_t *jtime(int64_t us)
{
    char buf[40];
    return json_string(cof_time_format(us, buf, sizeof buf));
}

cof_status cof_access_dump(const cof_access *a, char **out, size_t *n)
{
    cof_status st = COF_OK;
    json_t *root = json_object(), *jl = json_object(), *jp = json_object();
    char *s = NULL;
    int bad = !root || !jl || !jp;
    bad |= set_new(root, "format", json_string(ACCESS_FORMAT));
    bad |= set_new(root, "version", json_integer((json_int_t)a->version));
    bad |= set_new(root, "updated", jtime(a->updated));
    bad |= set_new(jl, "api", json_string(a->listeners.api));
    bad |= set_new(jl, "syslog_tls", json_string(a->listeners.syslog_tls));
    bad |= set_new(jl, "syslog_plain", json_string(a->listeners.syslog_plain));
    for (uint32_t i = 0; i < a->nprincipals && !bad; i++) {
        const cof_principal *p = &a->principals[i];
        json_t *o = json_object(), *ga = json_array();
        bad |= !o || !ga;
        bad |= set_new(o, "suspended", json_boolean(p->suspended));
        bad |= set_new(o, "budget_per_hour", json_integer(p->budget_per_hour));
        if (p->cert_sha256[0])
            bad |= set_new(o, "cert_sha256", json_string(p->cert_sha256));
        for (uint32_t g = 0; g < p->ngrants && !bad; g++) {
            const cof_grant *gr = &p->grants[g];
            json_t *go = json_object(), *ta = json_array();
            bad |= !go || !ta;
            bad |= set_new(go, "role", json_string(cof_role_name(gr->role)));
            for (uint32_t t = 0; t < gr->ntenants && !bad; t++)
                bad |= json_array_append_new(ta, json_string(gr->tenants[t]));
            bad |= set_new(go, "tenants", ta);
            ta = NULL;
            if (gr->expires)
                bad |= set_new(go, "expires", jtime(gr->expires));
            bad |= json_array_append_new(ga, go);
            go = NULL;
        }
        bad |= set_new(o, "grants", ga);
        ga = NULL;
        bad |= set_new(jp, p->name, o);
        o = NULL;
    }
    bad |= cof_access_gov_dump(a, root);
    /* set_new steals even on failure; keep ownership simple by attaching last. */
    bad |= set_new(root, "listeners", jl);
    jl = NULL;
    bad |= set_new(root, "principals", jp);
    jp = NULL;
    if (bad || !(s = json_dumps(root, JSON_SORT_KEYS | JSON_INDENT(2)))) {
        st = COF_ERR(COF_NOMEM, "access document: serialising");
        goto out;
    }
    size_t len = strlen(s);
    char *r = malloc(len + 2);
    if (!r) {
        st = COF_ERR(COF_NOMEM, "access document: serialising");
        goto out;
    }
    memcpy(r, s, len);
    r[len] = '\n';
    r[len + 1] = 0;
    *out = r;
    *n = len + 1;
out:
    free(s);
    json_decref(root);
    return st;
}

/* ---------------------------------------------------------------- files */

static cof_status access_path(const char *data_dir, char *out, size_t cap)
{
    int w = snprintf(out, cap, "%s/%s", data_dir, ACCESS_FILE);
    if (w < 0 || (size_t)w >= cap)
        return COF_ERR(COF_LIMIT, "data directory path too long");
    return COF_OK;
}

cof_status cof_access_save(const cof_access *a, const char *data_dir)
{
    char path[4200];
    char *buf = NULL;
    size_t n = 0;
    cof_status st = access_path(data_dir, path, sizeof path);
    if (st || (st = cof_access_dump(a, &buf, &n)))
        return st;
    if (n > COF_MAX_ACCESS_BYTES)
        st = COF_ERR(COF_LIMIT, "%s: document larger than %u bytes", path, COF_MAX_ACCESS_BYTES);
    else
        st = cof_fs_replace(path, buf, n, 0600);
    free(buf);
    return st;
}

cof_status cof_access_load(const char *data_dir, cof_access **out)
{
    char path[4200];
    struct stat sb;
    char *buf = NULL;
    int fd = -1;
    cof_status st = access_path(data_dir, path, sizeof path);
    if (st)
        return st;
    /* Read through the descriptor whose owner and mode were checked (no path race). */
    if ((st = cof_fs_open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0, &fd)))
        return st == COF_NOTFOUND ? COF_ERR(COF_NOTFOUND, "%s not found", path) : st;
    if ((st = cof_fs_check_private(fd, path, "access document", 0600)))
        goto out;
    if (fstat(fd, &sb) != 0) {
        st = COF_ERRNO("stat %s", path);
        goto out;
    }
    if ((uint64_t)sb.st_size > COF_MAX_ACCESS_BYTES) {
        st = COF_ERR(COF_LIMIT, "%s: larger than %u bytes", path, COF_MAX_ACCESS_BYTES);
        goto out;
    }
    size_t size = (size_t)sb.st_size, got = 0;
    if (!(buf = malloc(size + 1))) {
        st = COF_ERR(COF_NOMEM, "%s", path);
        goto out;
    }
    if ((st = cof_fs_read_all(fd, buf, size, &got, path)))
        goto out;
    st = cof_access_parse(buf, got, path, out);
out:
    free(buf);
    if (fd >= 0)
        (void)close(fd);
    return st;
}
