/* incident.c - the incident report from the audit trail (incident.h).
 *
 * One pass over the verified trail. Aggregates are jansson objects used as bounded
 * maps: groups["principal\n source"] -> group; a group's "actions", "tenants" and
 * "categories" maps; subject sets are objects whose keys are blind tokens. Every map is
 * capped (incident.h); the subject sets share one global budget. The JSON report is
 * then assembled from the maps, and the text is rendered from the JSON only, so both
 * forms always say the same thing. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_int.h"
#include "incident.h"
#include "timefmt.h"

/* What a trail lookup that returned personal fields in clear exposes (the default field
 * policy's sealed fields, docs/CONFIG.md), used when a record names no categories. */
static const char *const personal_categories[] = {
    "recipient address", "sender address", "client IP", "SASL username", "message-id",
    "delivery metadata",
};
static const char *const known_categories[] = {
    "recipient address", "sender address", "client IP", "SASL username", "subject",
    "message-id", "delivery metadata", "aggregate statistics (no personal data)",
};

typedef struct {
    const cof_incident_query *q;
    json_t *groups;   /* key -> group object */
    json_t *tenants;  /* tenant -> {"events","requests","subjects":{},"extra"} */
    json_t *cats;     /* category -> 1 over every group */
    size_t nsubjects; /* tokens held in all sets */
    int capped;       /* a subject set stopped growing */
    int approx;       /* some answers counted subjects by "subjects" only */
    uint64_t in_window, last_ckpt;
    int64_t first, last;
    cof_status st;
} builder;

static json_int_t geti(const json_t *o, const char *k)
{
    return json_integer_value(json_object_get(o, k));
}

static void inc(json_t *o, const char *k, json_int_t by)
{
    json_object_set_new(o, k, json_integer(geti(o, k) + by));
}

/* The map's entry for k, created as an empty object; past the cap "(other)". */
static json_t *entry(json_t *map, const char *k)
{
    json_t *e = json_object_get(map, k);
    if (e)
        return e;
    if (json_object_size(map) >= COF_INCIDENT_MAX_KEYS)
        k = "(other)";
    e = json_object_get(map, k);
    if (!e) {
        e = json_object();
        json_object_set_new(map, k, e);
    }
    return e;
}

static int blind_token_ok(const char *v)
{
    return v && strlen(v) == 34 && v[0] == 'b' && v[1] == ':' &&
           strspn(v + 2, "0123456789abcdef") == 32;
}

static void subject_add(builder *b, json_t *set, const char *tok)
{
    if (json_object_get(set, tok))
        return;
    if (b->nsubjects >= COF_INCIDENT_MAX_SUBJECTS) {
        b->capped = 1;
        return;
    }
    json_object_set_new(set, tok, json_true());
    b->nsubjects++;
}

static json_t *set_of(json_t *o)
{
    json_t *s = json_object_get(o, "subjects");
    if (!s) {
        s = json_object();
        json_object_set_new(o, "subjects", s);
    }
    return s;
}

/* Parse an address as written in "source" ("127.0.0.1", "::1", "::ffff:1.2.3.4"). */
static int source_in(const cof_netmask *m, const char *src)
{
    uint8_t a[16];
    if (inet_pton(AF_INET, src, a) == 1)
        return cof_netmask_contains(m, 4, a);
    if (inet_pton(AF_INET6, src, a) != 1)
        return 0;
    static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
    if (!memcmp(a, mapped, 12) && m->family == 4)
        return cof_netmask_contains(m, 4, a + 12);
    return cof_netmask_contains(m, 6, a);
}

/* Actions whose events flow into coffer (ingest) rather than out of it. */
static int inbound(const char *action)
{
    return !strcmp(action, "events") || !strncmp(action, "syslog", 6) ||
           !strncmp(action, "ingest", 6);
}

/* The data categories a record's answer carried into cats (an object used as a set). */
static void categories_of(const char *action, const json_t *params, uint64_t events,
                          json_t *cats)
{
    const json_t *c = json_object_get(params, "categories");
    if (json_is_array(c)) {
        size_t i;
        const json_t *v;
        json_array_foreach(c, i, v) {
            if (i >= COF_INCIDENT_MAX_CATEGORIES)
                break;
            const char *z = json_string_value(v);
            for (size_t k = 0; z && k < sizeof known_categories / sizeof *known_categories; k++)
                if (!strcmp(z, known_categories[k]))
                    json_object_set_new(cats, z, json_true());
        }
        return;
    }
    if (!strcmp(action, "stats")) {
        json_object_set_new(cats, "aggregate statistics (no personal data)", json_true());
        return;
    }
    if (events == 0 || inbound(action) || !strcmp(action, "audit") || !strcmp(action, "metrics"))
        return;
    /* a trail (or any other answer with events) is personal unless it says it was
     * masked: an old record without "unsealed" is counted as the worse case */
    if (json_is_false(json_object_get(params, "unsealed"))) {
        json_object_set_new(cats, "delivery metadata", json_true());
        return;
    }
    for (size_t k = 0; k < sizeof personal_categories / sizeof *personal_categories; k++)
        json_object_set_new(cats, personal_categories[k], json_true());
}

static cof_status visit(void *ctx, const cof_audit_entry *e)
{
    builder *b = ctx;
    if (cof_str_eq_lit(e->action, "checkpoint")) {
        b->last_ckpt = e->seq;
        return COF_OK;
    }
    const cof_incident_query *q = b->q;
    if ((q->from && e->time < q->from) || (q->to && e->time >= q->to))
        return COF_OK;
    /* the strings keep their JSON escapes in e: read them from the parsed line */
    json_error_t jerr;
    json_t *rec = json_loadb(e->line.p, e->line.n, JSON_REJECT_DUPLICATES, &jerr);
    const char *principal = json_string_value(json_object_get(rec, "principal"));
    const char *source = json_string_value(json_object_get(rec, "source"));
    const char *action = json_string_value(json_object_get(rec, "action"));
    const char *outcome = json_string_value(json_object_get(rec, "outcome"));
    json_t *params = json_object_get(rec, "params"), *tl = json_object_get(rec, "tenants");
    cof_status st = COF_OK;
    if (!principal || !source || !action || !outcome || !json_is_object(params) ||
        !json_is_array(tl)) {
        st = COF_ERR(COF_CORRUPT, "audit record seq %llu: missing fields",
                     (unsigned long long)e->seq);
        goto out;
    }
    if ((q->principal && strcmp(principal, q->principal) != 0) ||
        (q->has_source && !source_in(&q->source, source)))
        goto out;
    b->in_window++;
    if (!b->first || e->time < b->first)
        b->first = e->time;
    if (e->time > b->last)
        b->last = e->time;
    char key[2 * COF_AUDIT_MAX_NAME + 2];
    snprintf(key, sizeof key, "%s\n%s", principal, source);
    json_t *g = json_object_get(b->groups, key);
    if (!g) {
        if (json_object_size(b->groups) >= COF_INCIDENT_MAX_GROUPS) {
            st = COF_ERR(COF_LIMIT, "more than %d principal/source pairs: narrow the report "
                         "with --principal or --source", COF_INCIDENT_MAX_GROUPS);
            goto out;
        }
        g = json_pack("{s:s,s:s,s:I,s:I,s:{},s:{},s:{},s:I,s:I}", "principal", principal,
                      "source", source, "requests", (json_int_t)0, "denied", (json_int_t)0,
                      "actions", "tenants", "categories", "first", (json_int_t)e->time,
                      "last", (json_int_t)e->time);
        if (!g || json_object_set_new(b->groups, key, g) != 0) {
            st = COF_ERR(COF_NOMEM, "incident report");
            goto out;
        }
    }
    inc(g, "requests", 1);
    if (!strcmp(outcome, "denied"))
        inc(g, "denied", 1);
    if (e->time < geti(g, "first"))
        json_object_set_new(g, "first", json_integer(e->time));
    if (e->time > geti(g, "last"))
        json_object_set_new(g, "last", json_integer(e->time));
    inc(entry(json_object_get(g, "actions"), action), outcome, 1);
    /* only answers that went out carry data: ones with events, and lookups (a trail
     * or statistics request reads a tenant even when it finds nothing) */
    if (strcmp(outcome, "ok") != 0 || inbound(action) ||
        (e->events == 0 && strcmp(action, "trail") != 0 && strcmp(action, "stats") != 0))
        goto out;
    json_t *cats = json_object_get(g, "categories");
    categories_of(action, params, e->events, cats);
    categories_of(action, params, e->events, b->cats);
    /* the tenant the events belong to: one name, or the set the answer spanned */
    char tkey[COF_AUDIT_MAX_NAME + 16] = "";
    size_t i;
    json_t *tv;
    json_array_foreach(tl, i, tv) {
        const char *z = json_string_value(tv);
        size_t used = strlen(tkey);
        if (!z || used + strlen(z) + 2 >= sizeof tkey) {
            snprintf(tkey + used, sizeof tkey - used, "%s(more)", used ? "+" : "");
            break;
        }
        snprintf(tkey + used, sizeof tkey - used, "%s%s", used ? "+" : "", z);
    }
    if (!tkey[0])
        snprintf(tkey, sizeof tkey, "(none)");
    json_t *gt = entry(json_object_get(g, "tenants"), tkey);
    json_t *at = entry(b->tenants, tkey);
    inc(gt, "requests", 1);
    inc(at, "requests", 1);
    inc(gt, "events", (json_int_t)(e->events > (uint64_t)INT64_MAX / 2 ? 0 : e->events));
    inc(at, "events", (json_int_t)(e->events > (uint64_t)INT64_MAX / 2 ? 0 : e->events));
    if (e->events == 0)
        goto out;
    const char *val = json_string_value(json_object_get(params, "value"));
    if (blind_token_ok(val)) {
        subject_add(b, set_of(gt), val);
        subject_add(b, set_of(at), val);
    }
    json_int_t ns = json_integer_value(json_object_get(params, "subjects"));
    if (ns > 0 && ns <= COF_INCIDENT_MAX_SUBJECTS_PER_RECORD) {
        inc(gt, "extra", ns);
        inc(at, "extra", ns);
        b->approx = 1;
    }
out:
    json_decref(rec);
    return st;
}

static json_t *time_json(int64_t us)
{
    char tb[40];
    return us ? json_string(cof_time_format(us, tb, sizeof tb)) : json_null();
}

static json_t *keys_array(const json_t *set)
{
    json_t *a = json_array();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)set, k, v)
        json_array_append_new(a, json_string(k));
    return a;
}

/* A tenants map as an array of {"tenant","requests","events","subjects","subjects_extra"}. */
static json_t *tenants_array(json_t *map, json_int_t *events, json_int_t *subjects,
                             json_int_t *extra)
{
    json_t *a = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(map, k, v) {
        json_int_t ns = (json_int_t)json_object_size(json_object_get(v, "subjects"));
        json_array_append_new(a, json_pack("{s:s,s:I,s:I,s:I,s:I}", "tenant", k, "requests",
                                           geti(v, "requests"), "events", geti(v, "events"),
                                           "subjects", ns, "subjects_extra", geti(v, "extra")));
        if (events)
            *events += geti(v, "events");
        if (subjects)
            *subjects += ns;
        if (extra)
            *extra += geti(v, "extra");
    }
    return a;
}

static json_t *group_json(json_t *g)
{
    json_t *acts = json_array();
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(g, "actions"), k, v)
        json_array_append_new(acts, json_pack("{s:s,s:O}", "action", k, "outcomes", v));
    return json_pack("{s:O,s:O,s:O,s:O,s:o,s:o,s:o,s:o,s:o}", "principal",
                     json_object_get(g, "principal"), "source", json_object_get(g, "source"),
                     "requests", json_object_get(g, "requests"), "denied",
                     json_object_get(g, "denied"), "first", time_json(geti(g, "first")), "last",
                     time_json(geti(g, "last")), "actions", acts, "tenants",
                     tenants_array(json_object_get(g, "tenants"), NULL, NULL, NULL),
                     "categories", keys_array(json_object_get(g, "categories")));
}

/* The article 33 facts from the finished maps. */
static json_t *article33(builder *b, json_t *accessors, json_int_t events, json_int_t subjects,
                         json_int_t extra)
{
    json_t *nature = json_array(), *dsc = json_array();
    json_int_t reads = 0, readers = 0, failed = 0, denied_other = 0;
    json_t *sources = json_object(), *fsources = json_object();
    size_t i;
    json_t *a;
    json_array_foreach(accessors, i, a) {
        const char *p = json_string_value(json_object_get(a, "principal"));
        const char *s = json_string_value(json_object_get(a, "source"));
        json_int_t ev = 0;
        size_t j;
        json_t *t;
        json_array_foreach(json_object_get(a, "tenants"), j, t)
            ev += geti(t, "events");
        if (!strcmp(p, "-")) {
            failed += geti(a, "denied");
            if (geti(a, "denied") > 0)
                json_object_set_new(fsources, s, json_true());
        } else {
            denied_other += geti(a, "denied");
        }
        if (ev > 0 && strcmp(p, "-") != 0) {
            readers++;
            reads += ev;
            json_object_set_new(sources, s, json_true());
        }
    }
    char line[256];
    if (readers) {
        snprintf(line, sizeof line, "authenticated API reads of %lld event%s by %lld "
                 "principal/source pair%s from %zu source address%s", (long long)reads,
                 reads == 1 ? "" : "s", (long long)readers, readers == 1 ? "" : "s",
                 json_object_size(sources), json_object_size(sources) == 1 ? "" : "es");
        json_array_append_new(nature, json_string(line));
    }
    if (failed) {
        snprintf(line, sizeof line, "%lld failed authentication attempt%s from %zu source "
                 "address%s", (long long)failed, failed == 1 ? "" : "s",
                 json_object_size(fsources), json_object_size(fsources) == 1 ? "" : "es");
        json_array_append_new(nature, json_string(line));
    }
    if (denied_other) {
        snprintf(line, sizeof line, "%lld request%s by authenticated principals refused "
                 "(no permission)", (long long)denied_other, denied_other == 1 ? "" : "s");
        json_array_append_new(nature, json_string(line));
    }
    if (!json_array_size(nature))
        json_array_append_new(nature, json_string("no access to personal data recorded"));
    const char *k;
    json_t *v;
    json_object_foreach(b->tenants, k, v) {
        if (geti(v, "events") <= 0 || !strcmp(k, "(none)"))
            continue;
        snprintf(line, sizeof line, "mail recipients and senders of tenant %s", k);
        json_array_append_new(dsc, json_string(line));
    }
    json_decref(sources);
    json_decref(fsources);
    return json_pack("{s:o,s:{s:o,s:o},s:o,s:o,s:I,s:I,s:b,s:b,s:I}", "nature", nature,
                     "time_window", "first", time_json(b->first), "last", time_json(b->last),
                     "data_subject_categories", dsc, "personal_data_categories",
                     keys_array(b->cats), "subjects", subjects, "subjects_extra", extra,
                     "subjects_approximate", b->approx || b->capped, "subjects_lower_bound",
                     b->capped, "records", events);
}

cof_status cof_incident_report(const char *data_dir, const uint8_t pk[32],
                               const cof_incident_query *q, cof_audit_report *rep,
                               json_t **out)
{
    *out = NULL;
    cof_status st = cof_audit_verify(data_dir, pk, rep);
    if (st)
        return st;
    if (rep->problem != COF_AUDIT_OK)
        return COF_ERR(COF_CORRUPT, "the audit trail is broken at %s:%llu (seq %llu): %s",
                       rep->file, (unsigned long long)rep->line, (unsigned long long)rep->seq,
                       cof_audit_problem_name(rep->problem));
    builder b;
    memset(&b, 0, sizeof b);
    b.q = q;
    b.groups = json_object();
    b.tenants = json_object();
    b.cats = json_object();
    json_t *accessors = json_array(), *r = NULL;
    if (!b.groups || !b.tenants || !b.cats || !accessors) {
        st = COF_ERR(COF_NOMEM, "incident report");
        goto out;
    }
    cof_audit_filter f = { .include_checkpoints = 1 };
    if ((st = cof_audit_each(data_dir, &f, visit, &b)))
        goto out;
    const char *k;
    json_t *g;
    json_object_foreach(b.groups, k, g)
        json_array_append_new(accessors, group_json(g));
    json_int_t events = 0, subjects = 0, extra = 0;
    json_t *tenants = tenants_array(b.tenants, &events, &subjects, &extra);
    char head[65];
    snprintf(head, sizeof head, "%s", rep->last_seq ? rep->head : "");
    r = json_pack("{s:s,s:{s:o,s:o},s:{s:s?,s:s?},s:{s:s,s:I,s:I,s:I,s:I,s:s},s:I,s:o,s:o}",
                  "format", "coffer-incident-1", "window", "from", time_json(q->from), "to",
                  time_json(q->to), "filters", "principal", q->principal, "source", NULL,
                  "audit", "status", "intact", "records", (json_int_t)rep->records,
                  "checkpoints", (json_int_t)rep->checkpoints, "last_seq",
                  (json_int_t)rep->last_seq, "last_checkpoint_seq", (json_int_t)b.last_ckpt,
                  "head", head, "records_in_window", (json_int_t)b.in_window, "accessors",
                  accessors, "tenants", tenants);
    accessors = NULL;
    if (!r) {
        st = COF_ERR(COF_NOMEM, "incident report");
        goto out;
    }
    if (q->has_source) {
        char ab[INET6_ADDRSTRLEN + 8];
        inet_ntop(q->source.family == 4 ? AF_INET : AF_INET6, q->source.net, ab, sizeof ab);
        size_t n = strlen(ab);
        snprintf(ab + n, sizeof ab - n, "/%u", q->source.prefix_len);
        json_object_set_new(json_object_get(r, "filters"), "source", json_string(ab));
    }
    json_object_set_new(r, "article33", article33(&b, json_object_get(r, "accessors"), events,
                                                  subjects, extra));
    *out = r;
    r = NULL;
out:
    json_decref(r);
    json_decref(accessors);
    json_decref(b.groups);
    json_decref(b.tenants);
    json_decref(b.cats);
    return st;
}

/* ---- text ---- */

static const char *str_or(const json_t *o, const char *k, const char *dflt)
{
    const char *z = json_string_value(json_object_get(o, k));
    return z ? z : dflt;
}

static void list_line(FILE *f, const char *label, const json_t *arr)
{
    size_t i;
    json_t *v;
    fprintf(f, "%s", label);
    if (!json_array_size(arr))
        fprintf(f, "none");
    json_array_foreach(arr, i, v)
        fprintf(f, "%s%s", i ? ", " : "", json_string_value(v));
    fputc('\n', f);
}

cof_status cof_incident_text(const json_t *r, FILE *f)
{
    const json_t *au = json_object_get(r, "audit"), *fl = json_object_get(r, "filters");
    const json_t *w = json_object_get(r, "window"), *a33 = json_object_get(r, "article33");
    size_t i, j;
    json_t *a, *t;
    fprintf(f, "INCIDENT REPORT (from the audit trail)\n\n");
    fprintf(f, "Window:       %s .. %s\n", str_or(w, "from", "(start)"), str_or(w, "to", "(now)"));
    if (json_is_string(json_object_get(fl, "principal")) || json_is_string(json_object_get(fl, "source")))
        fprintf(f, "Filters:      principal %s, source %s\n", str_or(fl, "principal", "(any)"),
                str_or(fl, "source", "(any)"));
    fprintf(f, "Audit trail:  intact (verified with the public key): %lld records, %lld "
            "checkpoints, last seq %lld, last checkpoint seq %lld, head %s\n",
            (long long)geti(au, "records"), (long long)geti(au, "checkpoints"),
            (long long)geti(au, "last_seq"), (long long)geti(au, "last_checkpoint_seq"),
            str_or(au, "head", "-"));
    fprintf(f, "Records in the window: %lld\n\n", (long long)geti(r, "records_in_window"));
    fprintf(f, "WHO ACCESSED WHAT\n");
    if (!json_array_size(json_object_get(r, "accessors")))
        fprintf(f, "  nothing recorded\n");
    json_array_foreach(json_object_get(r, "accessors"), i, a) {
        const char *p = str_or(a, "principal", "?");
        fprintf(f, "\n  %s from %s: %lld request%s, %lld denied; first %s, last %s\n",
                strcmp(p, "-") ? p : "(unauthenticated)", str_or(a, "source", "?"),
                (long long)geti(a, "requests"), geti(a, "requests") == 1 ? "" : "s",
                (long long)geti(a, "denied"), str_or(a, "first", "-"), str_or(a, "last", "-"));
        fprintf(f, "    requests:");
        json_array_foreach(json_object_get(a, "actions"), j, t) {
            const char *ok;
            json_t *n;
            json_object_foreach(json_object_get(t, "outcomes"), ok, n)
                fprintf(f, " %s %s %lld;", str_or(t, "action", "?"), ok,
                        (long long)json_integer_value(n));
        }
        fputc('\n', f);
        json_array_foreach(json_object_get(a, "tenants"), j, t) {
            fprintf(f, "    tenant %s: %lld event%s received, %lld distinct data subject%s",
                    str_or(t, "tenant", "?"), (long long)geti(t, "events"),
                    geti(t, "events") == 1 ? "" : "s", (long long)geti(t, "subjects"),
                    geti(t, "subjects") == 1 ? "" : "s");
            if (geti(t, "subjects_extra"))
                fprintf(f, " (+ up to %lld more in multi-subject answers, approximate)",
                        (long long)geti(t, "subjects_extra"));
            fputc('\n', f);
        }
        list_line(f, "    data categories: ", json_object_get(a, "categories"));
    }
    fprintf(f, "\nPER TENANT\n");
    if (!json_array_size(json_object_get(r, "tenants")))
        fprintf(f, "  no data went out\n");
    json_array_foreach(json_object_get(r, "tenants"), i, t) {
        fprintf(f, "  %s: %lld events in %lld answers, %lld distinct data subjects",
                str_or(t, "tenant", "?"), (long long)geti(t, "events"),
                (long long)geti(t, "requests"), (long long)geti(t, "subjects"));
        if (geti(t, "subjects_extra"))
            fprintf(f, " (+ up to %lld, approximate)", (long long)geti(t, "subjects_extra"));
        fputc('\n', f);
    }
    fprintf(f, "\nFOR A GDPR ARTICLE 33 NOTIFICATION\n");
    list_line(f, "  Nature of the access:        ", json_object_get(a33, "nature"));
    const json_t *tw = json_object_get(a33, "time_window");
    fprintf(f, "  Time of the accesses:        %s .. %s\n", str_or(tw, "first", "-"),
            str_or(tw, "last", "-"));
    list_line(f, "  Categories of data subjects: ", json_object_get(a33, "data_subject_categories"));
    list_line(f, "  Categories of personal data: ", json_object_get(a33, "personal_data_categories"));
    fprintf(f, "  Approximate number of data subjects: %s%lld distinct (counted by blind token)",
            json_is_true(json_object_get(a33, "subjects_lower_bound")) ? "at least " : "",
            (long long)geti(a33, "subjects"));
    if (geti(a33, "subjects_extra"))
        fprintf(f, ", plus up to %lld in answers that carried several subjects (approximate: "
                "they may overlap)", (long long)geti(a33, "subjects_extra"));
    fprintf(f, "\n  Approximate number of records: %lld events\n", (long long)geti(a33, "records"));
    fprintf(f, "  Audit chain: intact up to seq %lld (last signed checkpoint seq %lld)\n",
            (long long)geti(au, "last_seq"), (long long)geti(au, "last_checkpoint_seq"));
    return ferror(f) ? COF_ERR(COF_IO, "writing the report") : COF_OK;
}
