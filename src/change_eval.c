/* change_eval.c - what a proposed access document would change, and how dangerous it
 * is (change.h). The result is shown to every approver before they approve.
 *
 * Widening vs narrowing is decided structurally, not by sampling permissions: every
 * grant of the proposal must be covered by a live grant of the current document (same
 * role, a subset of its tenants, an expiry no later), and every other setting must
 * move only in the closing direction. Anything else widens. */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "change.h"
#include "syslogd.h"
#include "timefmt.h"

typedef struct {
    cof_change *c;
    int widen, narrow, lockdown, lift, critical;
    cof_status st;
} ev;

static void effect(ev *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void effect(ev *e, const char *fmt, ...)
{
    if (e->st || e->c->neffects >= COF_MAX_CHANGE_LINES)
        return;
    char buf[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    char **ne = realloc(e->c->effects, (e->c->neffects + 1) * sizeof *ne);
    char *d = strdup(buf);
    if (!ne || !d) {
        free(d);
        if (ne)
            e->c->effects = ne;
        e->st = COF_ERR(COF_NOMEM, "evaluating a change");
        return;
    }
    e->c->effects = ne;
    ne[e->c->neffects++] = d;
}

static void finding(ev *e, cof_severity sev, const char *check, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void finding(ev *e, cof_severity sev, const char *check, const char *fmt, ...)
{
    if (e->st || e->c->nfindings >= COF_MAX_CHANGE_LINES)
        return;
    cof_change_finding *nf = realloc(e->c->findings, (e->c->nfindings + 1) * sizeof *nf);
    if (!nf) {
        e->st = COF_ERR(COF_NOMEM, "evaluating a change");
        return;
    }
    e->c->findings = nf;
    cof_change_finding *f = &nf[e->c->nfindings++];
    memset(f, 0, sizeof *f);
    f->sev = sev;
    snprintf(f->check, sizeof f->check, "%s", check);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(f->what, sizeof f->what, fmt, ap);
    va_end(ap);
    if (sev == COF_SEV_CRITICAL)
        e->critical = 1;
}

static const char *tstr(int64_t us, char *buf, size_t cap)
{
    return us ? cof_time_format_sec(us, buf, cap) : "never";
}

static void tenants_str(const cof_grant *g, char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = 0;
    for (uint32_t i = 0; i < g->ntenants && n + 4 < cap; i++) {
        int w = snprintf(buf + n, cap - n, "%s%s", i ? "," : "", g->tenants[i]);
        if (w < 0 || (size_t)w >= cap - n) {
            snprintf(buf + (cap > 4 ? cap - 4 : 0), 4, "...");
            return;
        }
        n += (size_t)w;
    }
}

static int has_tenant(const cof_grant *g, const char *t)
{
    for (uint32_t i = 0; i < g->ntenants; i++)
        if (!strcmp(g->tenants[i], t))
            return 1;
    return 0;
}

/* a expires no later than b (0 = never). */
static int expiry_le(int64_t a, int64_t b)
{
    return b == 0 || (a != 0 && a <= b);
}

/* Is grant g (of the proposal) covered by a live grant of p (current)? */
static int covered(const cof_grant *g, const cof_principal *p, int64_t now)
{
    if (g->expires && g->expires <= now)
        return 1; /* a lapsed grant gives nothing, whoever holds it */
    if (!p)
        return 0;
    for (uint32_t i = 0; i < p->ngrants; i++) {
        const cof_grant *h = &p->grants[i];
        if (h->role != g->role || (h->expires && h->expires <= now) ||
            !expiry_le(g->expires, h->expires))
            continue;
        if (has_tenant(h, "*"))
            return 1;
        int all = 1;
        for (uint32_t t = 0; t < g->ntenants && all; t++)
            all = strcmp(g->tenants[t], "*") != 0 && has_tenant(h, g->tenants[t]);
        if (all)
            return 1;
    }
    return 0;
}

static int live_admin(const cof_principal *p, int64_t now)
{
    if (!p || p->suspended)
        return 0;
    for (uint32_t i = 0; i < p->ngrants; i++)
        if (p->grants[i].role == COF_ROLE_ADMIN &&
            (!p->grants[i].expires || p->grants[i].expires > now))
            return 1;
    return 0;
}

static void eval_principal(ev *e, const cof_principal *cp, const cof_principal *pp,
                           const cof_config *cfg, int64_t now)
{
    char tb[400], xb[40];
    const char *name = pp ? pp->name : cp->name;
    if (!cp && pp) {
        effect(e, "new principal %s", name);
        if (pp->ngrants || pp->cert_sha256[0])
            e->widen = 1;
    }
    if (cp && !pp) {
        effect(e, "principal %s is removed with all its grants", name);
        e->narrow = 1;
        return;
    }
    for (uint32_t i = 0; i < pp->ngrants; i++) {
        const cof_grant *g = &pp->grants[i];
        if (covered(g, cp, now))
            continue;
        tenants_str(g, tb, sizeof tb);
        effect(e, "%s gains %s on %s (until %s)", name, cof_role_name(g->role), tb,
               tstr(g->expires, xb, sizeof xb));
        e->widen = 1;
        uint32_t perms = cof_role_perms(g->role);
        if ((perms & (COF_PERM_TRAIL | COF_PERM_EXPORT)) && has_tenant(g, "*"))
            finding(e, COF_SEV_CRITICAL, "grant.all_tenants",
                    "%s would read personal fields of every tenant (%s on *)", name,
                    cof_role_name(g->role));
        if (g->role == COF_ROLE_ADMIN && !live_admin(cp, now))
            finding(e, COF_SEV_CRITICAL, "grant.new_admin", "%s becomes an administrator", name);
        if (!g->expires)
            finding(e, COF_SEV_MEDIUM, "grant.no_expiry", "%s's %s grant never expires", name,
                    cof_role_name(g->role));
    }
    if (cp)
        for (uint32_t i = 0; i < cp->ngrants; i++) {
            const cof_grant *g = &cp->grants[i];
            if ((g->expires && g->expires <= now) || covered(g, pp, now))
                continue;
            tenants_str(g, tb, sizeof tb);
            effect(e, "%s loses %s on %s", name, cof_role_name(g->role), tb);
            e->narrow = 1;
        }
    int was_susp = cp ? cp->suspended : 0;
    if (was_susp && !pp->suspended) {
        effect(e, "%s is no longer suspended", name);
        e->widen = 1;
    } else if (!was_susp && pp->suspended) {
        effect(e, "%s is suspended", name);
        e->narrow = 1;
    }
    uint32_t cb = cp && cp->budget_per_hour ? cp->budget_per_hour : cfg->srv.budget_per_hour;
    uint32_t pb = pp->budget_per_hour ? pp->budget_per_hour : cfg->srv.budget_per_hour;
    if (cp && pb != cb) {
        effect(e, "%s's unseal budget per hour: %u -> %u", name, cb, pb);
        if (pb > cb)
            e->widen = 1;
        else
            e->narrow = 1;
    }
    const char *cc = cp ? cp->cert_sha256 : "";
    if (strcmp(cc, pp->cert_sha256) != 0) {
        if (!pp->cert_sha256[0]) {
            effect(e, "%s's client certificate is unmapped", name);
            e->narrow = 1;
        } else {
            effect(e, "%s is mapped to client certificate sha256 %.16s...", name, pp->cert_sha256);
            e->widen = 1;
        }
    }
}

/* Is HOST:PORT bound to loopback only? Unparsable values count as public. */
static int loopback_only(const char *hp)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    int lo = 0;
    if (cof_net_parse_hostport(hp, &ss, &sl, &lo) != COF_OK)
        return 0;
    return lo;
}

static void eval_listener(ev *e, const char *what, const char *cur, const char *prop, int tls,
                          const cof_config *cfg)
{
    if (!strcmp(cur, prop))
        return;
    if (!prop[0]) {
        effect(e, "listener %s (%s) is closed", what, cur);
        e->narrow = 1;
        return;
    }
    e->widen = 1;
    int lo = loopback_only(prop);
    effect(e, "listener %s: %s -> %s%s", what, cur[0] ? cur : "(closed)", prop,
           lo ? " (loopback only)" : " (reachable from outside loopback)");
    if (lo)
        return;
    if (!tls)
        finding(e, COF_SEV_CRITICAL, "listener.public_plain",
                "%s would listen on %s without TLS", what, prop);
    else if (!cfg->srv.tls_cert[0])
        finding(e, COF_SEV_CRITICAL, "listener.public_no_cert",
                "%s would listen on %s without an operator certificate (the server refuses to "
                "start that way)", what, prop);
    else
        finding(e, COF_SEV_HIGH, "listener.public", "%s becomes reachable from outside loopback "
                "on %s", what, prop);
}

static uint32_t retention_of(const cof_access *a, const char *tenant)
{
    return cof_access_retention_days(a, tenant);
}

static void eval_retention(ev *e, const cof_access *cur, const cof_access *prop,
                           const cof_config *cfg)
{
    const cof_access *docs[2] = { cur, prop };
    for (int d = 0; d < 2; d++)
        for (uint32_t i = 0; i <= docs[d]->gov.nretention; i++) {
            /* i == nretention stands for the default. */
            const char *t = i < docs[d]->gov.nretention ? docs[d]->gov.retention[i].tenant : NULL;
            if (d == 1 && t) {
                int seen = 0; /* tenants of cur were compared in pass 0 */
                for (uint32_t j = 0; j < cur->gov.nretention && !seen; j++)
                    seen = !strcmp(cur->gov.retention[j].tenant, t);
                if (seen)
                    continue;
            }
            if (d == 1 && !t)
                continue;
            uint32_t a = t ? retention_of(cur, t) : cur->gov.retention_default_days;
            uint32_t b = t ? retention_of(prop, t) : prop->gov.retention_default_days;
            if (a == b)
                continue;
            e->widen = 1; /* data governance: always reviewed, even when shortened */
            char ab[32], bb[32];
            snprintf(ab, sizeof ab, a ? "%u days" : "forever", a);
            snprintf(bb, sizeof bb, b ? "%u days" : "forever", b);
            effect(e, "retention of %s: %s -> %s", t ? t : "every other tenant", ab, bb);
            if ((b == 0 || b > cfg->retention_ceiling_days) && (a != 0 && a <= cfg->retention_ceiling_days))
                finding(e, COF_SEV_CRITICAL, "retention.ceiling",
                        "retention of %s raised past the ceiling of %u days (to %s)",
                        t ? t : "every other tenant", cfg->retention_ceiling_days, bb);
            else if (b == 0 || b > cfg->retention_ceiling_days)
                finding(e, COF_SEV_HIGH, "retention.ceiling",
                        "retention of %s stays past the ceiling of %u days",
                        t ? t : "every other tenant", cfg->retention_ceiling_days);
        }
}

typedef struct {
    int syslog;
    const char *webhook, *command, *secret, *ca;
} sinks;

static sinks sinks_of(const cof_access *a, const cof_config *cfg)
{
    if (a->gov.has_alerts)
        return (sinks){ a->gov.alert_syslog, a->gov.alert_webhook, a->gov.alert_command,
                        a->gov.alert_webhook_secret_file, a->gov.alert_webhook_ca };
    return (sinks){ cfg->alert_syslog, cfg->alert_webhook, cfg->alert_command,
                    cfg->alert_webhook_secret_file, cfg->alert_webhook_ca };
}

static void eval_alerts(ev *e, const cof_access *cur, const cof_access *prop, const cof_config *cfg)
{
    sinks a = sinks_of(cur, cfg), b = sinks_of(prop, cfg);
    struct { const char *name; const char *x, *y; } s[] = {
        { "webhook", a.webhook, b.webhook }, { "command", a.command, b.command },
        { "webhook secret file", a.secret, b.secret }, { "webhook CA", a.ca, b.ca } };
    if (a.syslog != b.syslog) {
        effect(e, "alert sink syslog: %s -> %s", a.syslog ? "on" : "off", b.syslog ? "on" : "off");
        e->widen = 1;
        if (!b.syslog)
            finding(e, COF_SEV_CRITICAL, "alerts.sink_removed", "the syslog alert sink is removed");
    }
    for (size_t i = 0; i < sizeof s / sizeof *s; i++) {
        if (!strcmp(s[i].x, s[i].y))
            continue;
        e->widen = 1;
        effect(e, "alert %s: %s -> %s", s[i].name, s[i].x[0] ? s[i].x : "(none)",
               s[i].y[0] ? s[i].y : "(none)");
        if (i < 2 && s[i].x[0] && !s[i].y[0])
            finding(e, COF_SEV_CRITICAL, "alerts.sink_removed", "the %s alert sink is removed",
                    s[i].name);
    }
}

static int personal(cof_field f)
{
    return f == COF_F_MESSAGE_ID || f == COF_F_CLIENT_HOST || f == COF_F_CLIENT_IP ||
           f == COF_F_SASL_USERNAME || f == COF_F_SENDER || f == COF_F_RECIPIENT ||
           f == COF_F_ORIG_RECIPIENT || f == COF_F_RESPONSE || f == COF_F_SUBJECT;
}

/* Effective policy of (tenant, field) under a document, in the order
 * cof_access_apply_config produces: the document's rule for the tenant, the config
 * file's own rule for the tenant, the document's "*" rule, the config file's default. */
static uint8_t policy_of(const cof_access *a, const cof_config *cfg, const char *tenant, cof_field f)
{
    int star = !strcmp(tenant, "*"), have_star = 0;
    uint8_t star_v = 0;
    for (uint32_t i = 0; i < a->gov.npolicies; i++) {
        const cof_policy_rule *r = &a->gov.policies[i];
        if (r->field != f)
            continue;
        if (!strcmp(r->tenant, tenant))
            return r->policy;
        if (!strcmp(r->tenant, "*")) {
            have_star = 1;
            star_v = r->policy;
        }
    }
    if (!star && cof_config_policy(cfg, tenant, f) != cfg->policy[f])
        return cof_config_policy(cfg, tenant, f);
    return have_star ? star_v : cfg->policy[f];
}

static void eval_policies(ev *e, const cof_access *cur, const cof_access *prop, const cof_config *cfg)
{
    const cof_access *docs[2] = { cur, prop };
    for (int d = 0; d < 2; d++)
        for (uint32_t i = 0; i < docs[d]->gov.npolicies; i++) {
            const cof_policy_rule *r = &docs[d]->gov.policies[i];
            if (d == 1) { /* rules also in cur were compared in pass 0 */
                int seen = 0;
                for (uint32_t j = 0; j < cur->gov.npolicies && !seen; j++)
                    seen = cur->gov.policies[j].field == r->field &&
                           !strcmp(cur->gov.policies[j].tenant, r->tenant);
                if (seen)
                    continue;
            }
            cof_field f = (cof_field)r->field;
            uint8_t a = policy_of(cur, cfg, r->tenant, f), b = policy_of(prop, cfg, r->tenant, f);
            if (a == b)
                continue;
            char ab[64], bb[64];
            e->widen = 1;
            effect(e, "field policy of %s for %s: %s -> %s", cof_field_name(f),
                   strcmp(r->tenant, "*") ? r->tenant : "every tenant",
                   cof_policy_str(a, ab, sizeof ab), cof_policy_str(b, bb, sizeof bb));
            if (f == COF_F_SUBJECT && a == 0 && b != 0)
                finding(e, COF_SEV_CRITICAL, "policy.subject_on", "subject logging is turned on for %s",
                        strcmp(r->tenant, "*") ? r->tenant : "every tenant");
            if (personal(f) && (b & COF_P_KEEP) && !(a & COF_P_KEEP))
                finding(e, COF_SEV_CRITICAL, "policy.clear_text",
                        "%s would be stored in clear text for %s", cof_field_name(f),
                        strcmp(r->tenant, "*") ? r->tenant : "every tenant");
        }
}

static void eval_gov(ev *e, const cof_access *cur, const cof_access *prop)
{
    const cof_access_gov *a = &cur->gov, *b = &prop->gov;
    if (a->approvals != b->approvals) {
        effect(e, "people needed for a widening change: %u -> %u", a->approvals, b->approvals);
        e->widen = 1;
        if (b->approvals < a->approvals)
            finding(e, COF_SEV_CRITICAL, "governance.approvals", "fewer approvals needed (%u -> %u)",
                    a->approvals, b->approvals);
    }
    if (a->single_admin != b->single_admin) {
        effect(e, "single-administrator mode: %s -> %s", a->single_admin ? "on" : "off",
               b->single_admin ? "on" : "off");
        e->widen = 1;
        if (b->single_admin)
            finding(e, COF_SEV_CRITICAL, "governance.single_admin",
                    "one administrator could change access alone");
    }
    if (a->proposal_ttl_hours != b->proposal_ttl_hours) {
        effect(e, "proposal lifetime: %u h -> %u h", a->proposal_ttl_hours, b->proposal_ttl_hours);
        e->widen = 1;
    }
    if (a->lockdown_since && !b->lockdown_since) {
        effect(e, "the lockdown declared by %s is lifted: personal-field reads and exports "
               "resume", a->lockdown_by);
        e->lift = 1;
    } else if (!a->lockdown_since && b->lockdown_since) {
        effect(e, "lockdown: every personal-field read and export stops");
        e->lockdown = 1;
    }
}

cof_status cof_change_evaluate(const cof_access *cur, const cof_access *prop, const cof_config *cfg,
                               int64_t now, cof_change *c)
{
    ev e = { .c = c };
    uint32_t i = 0, j = 0;
    /* Both principal arrays are sorted by name: walk them together. */
    while ((i < cur->nprincipals || j < prop->nprincipals) && !e.st) {
        int cmp = i >= cur->nprincipals ? 1 : j >= prop->nprincipals
                      ? -1 : strcmp(cur->principals[i].name, prop->principals[j].name);
        if (cmp < 0)
            eval_principal(&e, &cur->principals[i++], NULL, cfg, now);
        else if (cmp > 0)
            eval_principal(&e, NULL, &prop->principals[j++], cfg, now);
        else
            eval_principal(&e, &cur->principals[i++], &prop->principals[j++], cfg, now);
    }
    eval_listener(&e, "api", cur->listeners.api, prop->listeners.api, 1, cfg);
    eval_listener(&e, "syslog_tls", cur->listeners.syslog_tls, prop->listeners.syslog_tls, 1, cfg);
    eval_listener(&e, "syslog_plain", cur->listeners.syslog_plain, prop->listeners.syslog_plain, 0,
                  cfg);
    eval_gov(&e, cur, prop);
    eval_retention(&e, cur, prop, cfg);
    eval_alerts(&e, cur, prop, cfg);
    eval_policies(&e, cur, prop, cfg);
    if (e.st)
        return e.st;
    /* The rule in force decides, not the one proposed (a proposal cannot lower the bar
     * for itself); single_admin likewise counts only once it is in force. */
    uint32_t base = cur->gov.approvals;
    if (e.lift && !e.widen) {
        c->kind = COF_CHANGE_LIFT;
        c->required = cur->gov.single_admin ? 1 : (base < 2 ? 2 : base);
    } else if (e.widen || e.lift) {
        c->kind = COF_CHANGE_WIDEN;
        c->required = base;
    } else {
        c->kind = e.lockdown ? COF_CHANGE_LOCKDOWN : COF_CHANGE_NARROW;
        c->required = 1;
        if (!e.narrow && !e.lockdown)
            effect(&e, "no change of access");
    }
    if (c->kind == COF_CHANGE_WIDEN || c->kind == COF_CHANGE_LIFT)
        if (e.critical)
            c->required++;
    return e.st;
}

cof_severity cof_change_worst(const cof_change *c)
{
    cof_severity w = COF_SEV_INFO;
    for (uint32_t i = 0; i < c->nfindings; i++)
        if (c->findings[i].sev > w)
            w = c->findings[i].sev;
    return w;
}
