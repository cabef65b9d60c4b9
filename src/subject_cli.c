/* subject_cli.c - `coffer subject find|export|erase ADDRESS` (docs/SUBJECT.md).
 *
 * Who may do what (access.h rules; separation of duties):
 *   find, export  the caller's principal needs TRAIL on each tenant searched (support
 *                 or customer role): they show personal fields in the clear. Refused
 *                 while a lockdown holds.
 *   erase         ADMIN on each tenant erased: it shows no personal value (the receipt
 *                 has counts and the address's blind token only).
 * Without --tenant, every tenant where the caller holds that permission (with a "*"
 * grant: every tenant the store holds). A --tenant outside the caller's scope is
 * refused, not silently skipped: an erasure must never look done when it was not.
 * Every command is audited before it answers (find, export) or as soon as it has
 * acted (erase); no answer without a record. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "access.h"
#include "change.h"
#include "cli.h"
#include "fsutil.h"
#include "ident.h"
#include "notice.h"
#include "output.h"
#include "poison.h"
#include "subject.h"
#include "timefmt.h"

static const char usage_subject[] =
    "usage: coffer subject find ADDRESS [--tenant T[,T...]] [--json] [--token-file F]\n"
    "       coffer subject export ADDRESS --out FILE [--tenant T[,T...]] [--token-file F]\n"
    "       coffer subject erase ADDRESS [--tenant T[,T...]] [--json] [--token-file F]\n"
    "\n"
    "Every event about ADDRESS (as recipient, original recipient, sender or SASL\n"
    "username; exact match) across the tenants the caller may see (docs/SUBJECT.md).\n"
    "\n"
    "find     prints the events (a table, or one JSON object per event with --json);\n"
    "         needs the support or customer role (TRAIL) on the tenants\n"
    "export   writes an article 15 copy: every event unsealed, its fields explained,\n"
    "         the tenants and the time, to FILE (created with mode 0600, never replaced)\n"
    "erase    removes every such event (article 17): rewrites the segments that hold\n"
    "         them and prints a receipt; needs the admin role on the tenants and the\n"
    "         writer lock (stop `coffer serve` first)\n"
    "  --tenant T,...   only these tenants (each must be in the caller's scope)\n"
    "  --token-file F   the caller's API token (or COFFER_TOKEN_FILE); mode 0600\n"
    "All three are audited (subject.find, subject.export, subject.erase) with the\n"
    "address's blind token, never the address.\n";

enum { SUB_FIND, SUB_EXPORT, SUB_ERASE };
static const char *const sub_names[] = { "find", "export", "erase" };

/* Field explanations for the export (the JSON names of README.md). */
static const char *const field_help[][2] = {
    { "time", "when the log line that completed this event was written (UTC)" },
    { "host", "the mail server that logged it" },
    { "instance", "the Postfix instance on that server" },
    { "direction", "inbound (received for a local mailbox), outbound (sent to another server), local" },
    { "queue_id", "the mail server's id of the message while it was queued" },
    { "message_id", "the Message-ID header of the message" },
    { "client_host", "host name of the client that handed the message in" },
    { "client_ip", "IP address of that client" },
    { "sasl_method", "how the sending client authenticated" },
    { "sasl_username", "the account name the sending client authenticated as" },
    { "sender", "envelope sender address" },
    { "recipient", "envelope recipient address" },
    { "orig_recipient", "the recipient address before aliasing or forwarding" },
    { "relay_host", "the server the message was handed to" },
    { "relay_ip", "its IP address" },
    { "relay_port", "its port" },
    { "status", "sent, deferred, bounced, expired, rejected, discarded or held" },
    { "dsn", "the delivery status code" },
    { "delay", "seconds from arrival to this attempt" },
    { "delays", "the delay split: before queue, in queue, connection setup, transmission" },
    { "size", "message size in bytes" },
    { "nrcpt", "number of recipients of the message" },
    { "response", "the receiving server's answer" },
    { "tls", "the TLS protocol and cipher of the connection" },
    { "subject", "the Subject header (kept only where the tenant opted in)" },
    { "tenant", "the customer of the mail provider this event belongs to" },
    { "bounce_of", "queue id of the message a bounce notification reports on" },
};

static void usage_fail(const char *msg)
{
    fprintf(stderr, "coffer subject: %s\n", msg);
    fputs(usage_subject, stderr);
}

/* Tenants present in the store (for "*" grants). names point into *segs. */
static cof_status store_tenants(cof_store *s, cof_seg_info **segs, const char ***names, size_t *n)
{
    size_t ns = 0;
    cof_status st = cof_store_segments(s, segs, &ns);
    if (st)
        return st;
    *names = calloc(ns + 1, sizeof **names);
    if (!*names)
        return COF_ERR(COF_NOMEM, "out of memory");
    *n = 0;
    for (size_t i = 0; i < ns; i++) {
        size_t j = 0;
        while (j < *n && strcmp((*names)[j], (*segs)[i].tenant) != 0)
            j++;
        if (j == *n) {
            if (*n >= COF_SUBJECT_MAX_TENANTS)
                return COF_ERR(COF_LIMIT, "more than %d tenants", COF_SUBJECT_MAX_TENANTS);
            (*names)[(*n)++] = (*segs)[i].tenant;
        }
    }
    return COF_OK;
}

static json_t *params_json(const char *blind, int unseal, uint32_t cats, uint32_t fields_mask)
{
    json_t *o = json_object(), *c = json_array(), *f = json_array();
    if (!o || !c || !f) {
        json_decref(o);
        json_decref(c);
        json_decref(f);
        return NULL;
    }
    json_object_set_new(o, "value", json_string(blind));
    json_object_set_new(o, "subjects", json_integer(1));
    json_object_set_new(o, "unsealed", json_boolean(unseal));
    for (int i = 0; i < COF_SUBJECT_NCATEGORIES; i++)
        if (cats & (1u << i))
            json_array_append_new(c, json_string(cof_subject_category_names[i]));
    json_object_set_new(o, "categories", c);
    for (int i = 0; i < COF_SUBJECT_NFIELDS; i++)
        if (fields_mask & (1u << i))
            json_array_append_new(f, json_string(cof_field_name(cof_subject_fields[i])));
    json_object_set_new(o, "matched_as", f);
    return o;
}

/* Event ids for the audit record, in the API's form "SEG:ROW-ROW,SEG:ROW" (decimal),
 * ",+" once the text is full. */
#define MAX_IDS_TEXT 4000

typedef struct {
    uint64_t seg;
    uint32_t row;
} ev_id;

static int cmp_ev_id(const void *x, const void *y)
{
    const ev_id *a = x, *b = y;
    if (a->seg != b->seg)
        return a->seg < b->seg ? -1 : 1;
    return (a->row > b->row) - (a->row < b->row);
}

static cof_status ids_of(const cof_subject_result *r, char *ids, size_t cap)
{
    ids[0] = 0;
    if (!r->n)
        return COF_OK;
    ev_id *v = malloc(r->n * sizeof *v);
    if (!v)
        return COF_ERR(COF_NOMEM, "out of memory");
    for (size_t i = 0; i < r->n; i++)
        v[i] = (ev_id){ r->ev[i].e.seg_id, r->ev[i].e.row };
    qsort(v, r->n, sizeof *v, cmp_ev_id);
    size_t lo = 0;
    for (size_t i = 1; i <= r->n; i++)
        if (i == r->n || v[i].seg != v[lo].seg || v[i].row != v[i - 1].row + 1) {
            cof_audit_ids_add(ids, cap, v[lo].seg, v[lo].row, v[i - 1].row);
            lo = i;
        }
    free(v);
    return COF_OK;
}

static json_t *matched_json(uint32_t m)
{
    json_t *a = json_array();
    for (int i = 0; a && i < COF_SUBJECT_NFIELDS; i++)
        if (m & (1u << i))
            json_array_append_new(a, json_string(cof_field_name(cof_subject_fields[i])));
    return a;
}

static cof_status build_export(const cof_subject_result *r, const char *const *tenants,
                               size_t ntenants, const char *blind, char **out)
{
    char now[64];
    json_t *doc = json_object(), *ten = json_array(), *fields = json_object(), *evs = json_array();
    cof_status st = COF_ERR(COF_NOMEM, "out of memory");
    if (!doc || !ten || !fields || !evs)
        goto out;
    cof_time_format(cof_time_now_us(), now, sizeof now);
    json_object_set_new(doc, "format", json_string("coffer-subject-export-1"));
    json_object_set_new(doc, "generated", json_string(now));
    json_object_set_new(doc, "about", json_string(
        "Every delivery log event this service holds about the data subject's address, as "
        "recipient, original recipient, sender or login name (GDPR article 15)."));
    json_object_set_new(doc, "subject_reference", json_string(blind));
    for (size_t i = 0; i < ntenants; i++)
        json_array_append_new(ten, json_string(tenants[i]));
    json_object_set(doc, "tenants", ten);
    for (size_t i = 0; i < sizeof field_help / sizeof field_help[0]; i++)
        json_object_set_new(fields, field_help[i][0], json_string(field_help[i][1]));
    json_object_set_new(fields, "matched_as", json_string(
        "which of the event's fields hold the subject's address"));
    json_object_set(doc, "fields", fields);
    for (size_t i = 0; i < r->n; i++) {
        json_t *e = cof_output_event_json(&r->ev[i].e.r, 0);
        if (!e)
            goto out;
        json_object_set_new(e, "matched_as", matched_json(r->ev[i].matched));
        json_array_append_new(evs, e);
    }
    json_object_set_new(doc, "events_total", json_integer((json_int_t)r->n));
    json_object_set_new(doc, "complete", json_boolean(!r->truncated));
    json_object_set(doc, "events", evs);
    *out = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    st = *out ? COF_OK : COF_ERR(COF_NOMEM, "out of memory");
out:
    json_decref(ten);
    json_decref(fields);
    json_decref(evs);
    json_decref(doc);
    return st;
}

/* An answer holding a planted poison record (docs/POISON.md): nobody legitimately
 * looks one up. The answer is withheld, the caller suspended at once (a narrowing
 * change) and poison.hit raised; the audit record says "denied". */
static void poisoned(const cof_config *cfg, cof_keyring *kr, const char *who, const char *action,
                     const char *blind, const cof_poison_hit *hit, const char *const *tenants,
                     size_t ntenants)
{
    char change_id[COF_CHANGE_IDLEN + 1] = "", summary[600], details[600], params[300];
    cof_status st = cof_change_suspend(cfg->data_dir, who, "coffer",
                                       "a data-subject lookup reached a poison record",
                                       cof_time_now_us(), change_id);
    if (st)
        cof_cli_fail(st, "subject: suspending the caller");
    snprintf(summary, sizeof summary, "%s by %s would have returned poison set %s of tenant %s: "
             "withheld, %s suspended", action, who, hit->set_id, hit->tenant, who);
    snprintf(details, sizeof details, "{\"principal\":\"%s\",\"tenant\":\"%s\",\"set\":\"%s\","
             "\"change\":\"%s\",\"value\":\"%s\"}", who, hit->tenant, hit->set_id, change_id, blind);
    snprintf(params, sizeof params, "{\"value\":\"%s\",\"subjects\":1,\"unsealed\":false,"
             "\"poison\":\"%s\"}", blind, hit->set_id);
    cof_notice n = { who, action, params, "denied", tenants, ntenants, 0, "poison.hit",
                     COF_SEV_CRITICAL, summary, details };
    if (cof_notice_record(cfg, kr, &n))
        cof_cli_fail(COF_IO, "subject: audit");
}

static int split_list(char *buf, const char **out, size_t cap, size_t *n)
{
    *n = 0;
    for (char *p = buf;;) {
        char *c = strchr(p, ',');
        if (c)
            *c = 0;
        if (*n >= cap || !cof_tenant_name_valid(cof_str_c(p)))
            return 0;
        out[(*n)++] = p;
        if (!c)
            return 1;
        p = c + 1;
    }
}

int cof_cmd_subject(const cof_config *cfg, int argc, char **argv)
{
    if (!argc || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        fputs(usage_subject, argc ? stdout : stderr);
        return argc ? 0 : 2;
    }
    int sub = -1;
    for (int i = 0; i < 3; i++)
        if (!strcmp(argv[0], sub_names[i]))
            sub = i;
    if (sub < 0) {
        usage_fail("unknown subcommand (find, export or erase)");
        return 2;
    }
    const char *address = NULL, *token_file = NULL, *out_file = NULL;
    char *tenant_arg = NULL;
    int json = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_subject, stdout);
            return 0;
        } else if (!strcmp(a, "--json") && sub != SUB_EXPORT) {
            json = 1;
        } else if ((!strcmp(a, "--tenant") || !strcmp(a, "--token-file") ||
                    (!strcmp(a, "--out") && sub == SUB_EXPORT)) && i + 1 < argc) {
            if (a[2] == 'o')
                out_file = argv[++i];
            else if (a[3] == 'e')
                tenant_arg = argv[++i];
            else
                token_file = argv[++i];
        } else if (a[0] != '-' && !address) {
            address = a;
        } else {
            usage_fail("unknown option, missing value, or a second ADDRESS");
            return 2;
        }
    }
    size_t alen = address ? strlen(address) : 0;
    if (!alen || alen > COF_MAX_FIELD) {
        usage_fail("give one ADDRESS of 1 to 1024 bytes");
        return 2;
    }
    for (size_t i = 0; i < alen; i++)
        if ((unsigned char)address[i] < 0x20 || address[i] == 0x7f) {
            usage_fail("ADDRESS holds a control character");
            return 2;
        }
    if (sub == SUB_EXPORT && !out_file) {
        usage_fail("export needs --out FILE");
        return 2;
    }
    const char *named[COF_SUBJECT_MAX_TENANTS];
    size_t nnamed = 0;
    if (tenant_arg && !split_list(tenant_arg, named, COF_SUBJECT_MAX_TENANTS, &nnamed)) {
        usage_fail("--tenant: invalid tenant name or too many tenants");
        return 2;
    }

    char what[32];
    snprintf(what, sizeof what, "subject %s", sub_names[sub]);
    int rc = 1;
    int64_t now = cof_time_now_us();
    char principal[COF_MAX_PRINCIPAL_NAME + 1];
    char blind[35] = "";
    cof_access *acc = NULL;
    cof_store *s = NULL;
    cof_seg_info *segs = NULL;
    const char **scope_names = NULL, **stored = NULL;
    const char **tenants = NULL;
    size_t ntenants = 0;
    cof_subject_result res;
    cof_subject_erased *erased = NULL;
    uint8_t *bkey = NULL;
    json_t *params = NULL;
    char *ptxt = NULL, *doc = NULL;
    char ids[MAX_IDS_TEXT + 8];
    memset(&res, 0, sizeof res);
    uint32_t perm = sub == SUB_ERASE ? COF_PERM_ADMIN : COF_PERM_TRAIL;

    cof_status st = cof_ident_token_file(cfg, token_file, now, &acc, principal);
    if (st)
        goto fail;
    const cof_principal *p = cof_access_find(acc, principal);
    if (sub != SUB_ERASE && cof_access_locked(acc)) {
        st = COF_ERR(COF_DENIED, "a lockdown holds: no personal-field read or export until "
                                 "it is lifted");
        goto fail;
    }
    if ((st = cof_store_open(cfg, sub == SUB_ERASE ? COF_STORE_WRITE : 0, &s))) {
        if (st == COF_DENIED && strstr(cof_err_msg(), "another coffer process is writing")) {
            fprintf(stderr, "coffer %s: the store is held by another writer (a running `coffer "
                            "serve`?); erasure needs the writer lock: stop it and run this again\n",
                    what);
            goto out;
        }
        goto fail;
    }
    /* The tenants: the caller's scope for perm, narrowed by --tenant. */
    int all = 0;
    uint32_t nscope = 0;
    scope_names = calloc(COF_SUBJECT_MAX_TENANTS, sizeof *scope_names);
    tenants = calloc(COF_SUBJECT_MAX_TENANTS, sizeof *tenants);
    if (!scope_names || !tenants) {
        st = COF_ERR(COF_NOMEM, "out of memory");
        goto fail;
    }
    if (p)
        cof_access_scope(acc, p, perm, now, &all, scope_names, COF_SUBJECT_MAX_TENANTS, &nscope);
    size_t nstored = 0;
    if (all && !nnamed && (st = store_tenants(s, &segs, &stored, &nstored)))
        goto fail;
    if (nnamed) {
        for (size_t i = 0; i < nnamed; i++) {
            int in = all;
            for (uint32_t j = 0; j < nscope && !in; j++)
                in = strcmp(scope_names[j], named[i]) == 0;
            if (!in) {
                st = COF_ERR(COF_DENIED, "%s needs the %s role on every tenant named with "
                             "--tenant; %s lacks it on one of them", what,
                             sub == SUB_ERASE ? "admin" : "support or customer", principal);
                goto fail;
            }
            tenants[ntenants++] = named[i];
        }
    } else if (all) {
        for (size_t i = 0; i < nstored; i++)
            tenants[ntenants++] = stored[i];
    } else {
        for (uint32_t i = 0; i < nscope; i++)
            tenants[ntenants++] = scope_names[i];
    }
    if (!all && !nscope) {
        st = COF_ERR(COF_DENIED, "%s needs the %s role on a tenant; %s holds it on none", what,
                     sub == SUB_ERASE ? "admin" : "support or customer", principal);
        goto fail;
    }
    /* The address's blind token names it in the audit record and the receipt. */
    bkey = sodium_malloc(COF_KEY_LEN);
    if (!bkey) {
        st = COF_ERR(COF_NOMEM, "key memory");
        goto fail;
    }
    if ((st = cof_keyring_subkey(cof_store_keyring(s), "audit-blind", bkey)) ||
        (st = cof_audit_blind(bkey, cof_str_make(address, alen), blind)))
        goto fail;

    cof_audit_rec ar = { .principal = principal, .source = "local",
                         .action = sub == SUB_FIND ? "subject.find"
                                 : sub == SUB_EXPORT ? "subject.export" : "subject.erase",
                         .outcome = "ok", .tenants = tenants, .ntenants = ntenants };
    uint64_t seq = 0;
    if (sub != SUB_ERASE) {
        if ((st = cof_subject_find(s, tenants, ntenants, cof_str_make(address, alen), 1, &res)))
            goto fail;
        cof_poison *pz = NULL;
        if ((st = cof_poison_open(cfg->data_dir, cof_store_keyring(s), &pz)))
            goto fail;
        cof_poison_hit hit;
        int trapped = 0;
        for (size_t i = 0; i < res.n && !trapped && cof_poison_nsets(pz); i++)
            trapped = cof_poison_match_planted(pz, res.ev[i].tenant, &res.ev[i].e.r, &hit);
        cof_poison_close(pz);
        if (trapped) {
            poisoned(cfg, cof_store_keyring(s), principal, ar.action, blind, &hit, tenants,
                     ntenants);
            st = COF_ERR(COF_DENIED, "the answer was withheld");
            goto fail;
        }
        uint32_t fm = 0;
        for (size_t i = 0; i < res.n; i++)
            fm |= res.ev[i].matched;
        if (!(params = params_json(blind, 1, cof_subject_categories(&res), fm)) ||
            !(ptxt = json_dumps(params, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
            st = COF_ERR(COF_NOMEM, "out of memory");
            goto fail;
        }
        if (sub == SUB_EXPORT && (st = build_export(&res, tenants, ntenants, blind, &doc)))
            goto fail;
        if ((st = ids_of(&res, ids, MAX_IDS_TEXT)))
            goto fail;
        ar.params_json = ptxt;
        ar.events = res.n;
        ar.ids = ids[0] ? ids : NULL;
        /* Recorded before anything is shown or written. */
        if ((st = cof_cli_audit_rec(cfg, cof_store_keyring(s), &ar, &seq)))
            goto fail;
        if (sub == SUB_EXPORT) {
            if ((st = cof_fs_create_atomic(out_file, doc, strlen(doc), 0600)))
                goto fail;
            fprintf(stderr, "coffer subject export: %zu events from %zu tenants written to %s "
                            "(mode 0600; audit record %" PRIu64 ")%s\n", res.n, ntenants, out_file,
                    seq, res.truncated ? "; INCOMPLETE: a lookup hit its limit" : "");
        } else {
            cof_trail view;
            memset(&view, 0, sizeof view);
            view.n = res.n;
            view.ev = calloc(res.n + 1, sizeof *view.ev);
            if (!view.ev) {
                st = COF_ERR(COF_NOMEM, "out of memory");
                goto fail;
            }
            for (size_t i = 0; i < res.n; i++)
                view.ev[i] = res.ev[i].e;
            if (json)
                st = cof_output_trail_json(stdout, &view, 0);
            else
                cof_output_trail_table(stdout, &view, 0);
            free(view.ev);
            if (st)
                goto fail;
            if (!json)
                fprintf(stderr, "%zu events about this address in %zu tenants%s\n", res.n,
                        ntenants, res.truncated ? " (INCOMPLETE: a lookup hit its limit)" : "");
        }
    } else {
        erased = calloc(ntenants + 1, sizeof *erased);
        if (!erased) {
            st = COF_ERR(COF_NOMEM, "out of memory");
            goto fail;
        }
        cof_status est = cof_subject_erase(s, tenants, ntenants, cof_str_make(address, alen),
                                           erased);
        const char *ecause = est ? cof_err_msg() : "";
        char ecopy[256];
        snprintf(ecopy, sizeof ecopy, "%s", ecause);
        uint64_t total = 0, remaining = 0;
        json_t *per = json_object();
        if (!(params = params_json(blind, 0, 0, 0)) || !per) {
            json_decref(per);
            st = COF_ERR(COF_NOMEM, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < ntenants; i++) {
            json_t *o = json_object();
            json_object_set_new(o, "events", json_integer((json_int_t)erased[i].events));
            json_object_set_new(o, "segments_rewritten", json_integer(erased[i].segments_rewritten));
            json_object_set_new(o, "segments_removed", json_integer(erased[i].segments_removed));
            json_object_set_new(o, "remaining", json_integer((json_int_t)erased[i].remaining));
            json_object_set_new(per, erased[i].tenant, o);
            total += erased[i].events;
            remaining += erased[i].remaining;
        }
        json_object_set_new(params, "erased", per);
        json_object_set_new(params, "events_erased", json_integer((json_int_t)total));
        if (!(ptxt = json_dumps(params, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
            st = COF_ERR(COF_NOMEM, "out of memory");
            goto fail;
        }
        ar.params_json = ptxt;
        ar.events = 0; /* "events" counts events returned (audit.h); erasure returns none */
        ar.outcome = est || remaining ? "error" : "ok";
        cof_status ast = cof_cli_audit_rec(cfg, cof_store_keyring(s), &ar, &seq);
        char when[64];
        cof_time_format(cof_time_now_us(), when, sizeof when);
        if (json) {
            json_t *rcpt = json_object();
            json_object_set_new(rcpt, "receipt", json_string("coffer-erasure-1"));
            json_object_set_new(rcpt, "time", json_string(when));
            json_object_set_new(rcpt, "subject_reference", json_string(blind));
            json_object_set(rcpt, "tenants", json_object_get(params, "erased"));
            json_object_set_new(rcpt, "events_erased", json_integer((json_int_t)total));
            json_object_set_new(rcpt, "complete", json_boolean(!est && !remaining));
            json_object_set_new(rcpt, "audit_seq", ast ? json_null() : json_integer((json_int_t)seq));
            char *t = json_dumps(rcpt, JSON_COMPACT | JSON_PRESERVE_ORDER);
            if (t)
                printf("%s\n", t);
            free(t);
            json_decref(rcpt);
        } else {
            printf("erasure receipt\n  time              %s\n  subject reference %s\n", when, blind);
            printf("  %-20s %10s %10s %10s\n", "tenant", "events", "rewritten", "removed");
            for (size_t i = 0; i < ntenants; i++)
                printf("  %-20s %10" PRIu64 " %10u %10u\n", erased[i].tenant, erased[i].events,
                       erased[i].segments_rewritten, erased[i].segments_removed);
            printf("  total events      %" PRIu64 "\n", total);
            if (!ast)
                printf("  audit record      seq %" PRIu64 "\n", seq);
        }
        if (est) {
            st = est;
            fprintf(stderr, "coffer subject erase: INCOMPLETE: %s (what the receipt lists is "
                            "erased; run it again to finish)\n", ecopy);
            goto out;
        }
        if (remaining) {
            fprintf(stderr, "coffer subject erase: INCOMPLETE: %" PRIu64 " events still found "
                            "after erasing; run it again\n", remaining);
            goto out;
        }
        if ((st = ast))
            goto fail;
    }
    rc = 0;
    goto out;
fail:
    cof_cli_fail(st, what);
out:
    if (s) {
        if (sub == SUB_ERASE) {
            cof_status cst = cof_store_close(s);
            if (cst && !rc) {
                cof_cli_fail(cst, what);
                rc = 1;
            }
        } else {
            cof_store_abandon(s);
        }
    }
    if (bkey)
        sodium_free(bkey);
    json_decref(params);
    free(ptxt);
    if (doc) {
        sodium_memzero(doc, strlen(doc));
        free(doc);
    }
    free(erased);
    cof_subject_result_free(&res);
    free(segs);
    free(stored);
    free(scope_names);
    free(tenants);
    cof_access_free(acc);
    return rc;
}
