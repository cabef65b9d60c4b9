/* export_cli.c - `coffer export request|approve|reject|list|fetch` (docs/EXPORT.md).
 * Every step acts as the principal of --token-file (ident.h), is audited and
 * announced (notice.h). */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "access.h"
#include "change.h"
#include "cli.h"
#include "export.h"
#include "fsutil.h"
#include "ident.h"
#include "notice.h"
#include "poison.h"
#include "progress.h"
#include "store.h"
#include "timefmt.h"

static const char usage_export[] =
    "usage: coffer export request --tenant T --from T1 --to T2 --reason TEXT [--token-file F]\n"
    "       coffer export approve ID [--token-file F]\n"
    "       coffer export reject ID [--token-file F]\n"
    "       coffer export list [--json]\n"
    "       coffer export fetch ID --out FILE [--token-file F]\n"
    "\n"
    "Bulk export of a tenant's events (personal fields unsealed) under the two-person\n"
    "rule: the requester (EXPORT permission, role exporter) states a reason, another\n"
    "person with ADMIN or EXPORT on the tenant approves within 24 h, and the requester\n"
    "fetches it once within 24 h of approval. At most export_per_day requests per\n"
    "requester per 24 h (default 3). Each export carries poison records unique to the\n"
    "requester; an export that would contain a planted poison record is withheld and the\n"
    "requester suspended. The token file may also be given as COFFER_TOKEN_FILE.\n"
    "See docs/EXPORT.md.\n";

static int is_help(const char *a) { return !strcmp(a, "--help") || !strcmp(a, "-h"); }

typedef struct {
    const char *tenant, *from, *to, *reason, *token_file, *out, *id;
    int json;
} opts;

static int parse_opts(const char *cmd, int argc, char **argv, opts *o, int want_id)
{
    memset(o, 0, sizeof *o);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(usage_export, stdout);
            return 0;
        }
        if (!strcmp(a, "--json")) {
            o->json = 1;
            continue;
        }
        const char **dst = !strcmp(a, "--tenant") ? &o->tenant : !strcmp(a, "--from") ? &o->from
                         : !strcmp(a, "--to") ? &o->to : !strcmp(a, "--reason") ? &o->reason
                         : !strcmp(a, "--token-file") ? &o->token_file
                         : !strcmp(a, "--out") ? &o->out : NULL;
        if (!dst && want_id && !o->id && a[0] != '-') {
            o->id = a;
            continue;
        }
        if (!dst) {
            fprintf(stderr, "coffer export %s: unexpected argument %s (try --help)\n", cmd, a);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "coffer export %s: %s needs a value\n", cmd, a);
            return 2;
        }
        *dst = argv[++i];
    }
    if (want_id && !o->id) {
        fprintf(stderr, "coffer export %s: name the export ID (coffer export list)\n", cmd);
        return 2;
    }
    return 1;
}

/* The caller, from the token file; its access document in *acc. */
static int caller(const cof_config *cfg, const opts *o, int64_t now, cof_access **acc,
                  char principal[COF_MAX_PRINCIPAL_NAME + 1])
{
    const char *tf = cof_ident_token_path(o->token_file);
    if (!tf) {
        fprintf(stderr, "coffer export: name your token with --token-file F (or "
                        "COFFER_TOKEN_FILE): exports act as a person\n");
        return 0;
    }
    cof_status st = cof_ident_token_file(cfg, tf, now, acc, principal);
    if (st) {
        cof_cli_fail(st, "export");
        return 0;
    }
    return 1;
}

static uint32_t perms_on(const cof_access *acc, const char *principal, const char *tenant,
                         int64_t now)
{
    const cof_principal *p = cof_access_find(acc, principal);
    return p ? cof_access_perms(acc, p, tenant, now) : 0;
}

static cof_status record(const cof_config *cfg, const cof_notice *n)
{
    cof_keyring *k = NULL;
    cof_status st = cof_keyring_open(cfg->data_dir, cfg->key_file, &k);
    if (!st)
        st = cof_notice_record(cfg, k, n);
    cof_keyring_close(k);
    return st;
}

static const char *t_s(int64_t us, char *buf, size_t cap)
{
    return us ? cof_time_format_sec(us, buf, cap) : "-";
}

static int cmd_request(const cof_config *cfg, int argc, char **argv)
{
    opts o;
    int r = parse_opts("request", argc, argv, &o, 0), rc = 1;
    if (r != 1)
        return r;
    int64_t now = cof_time_now_us(), since, until;
    if (!o.tenant || !o.from || !o.to) {
        fprintf(stderr, "coffer export request: --tenant, --from and --to are required\n");
        return 2;
    }
    if (!o.reason) {
        fprintf(stderr, "coffer export request: an export needs a stated --reason TEXT\n");
        return 2;
    }
    if (cof_time_parse(cof_str_c(o.from), now, &since) || cof_time_parse(cof_str_c(o.to), now, &until)) {
        fprintf(stderr, "coffer export request: %s\n", cof_err_msg());
        return 2;
    }
    cof_access *acc = NULL;
    char who[COF_MAX_PRINCIPAL_NAME + 1];
    if (!caller(cfg, &o, now, &acc, who))
        return 1;
    cof_export e;
    cof_status st;
    if (cof_access_locked(acc)) {
        fprintf(stderr, "coffer export request: a lockdown holds: no export until it is lifted\n");
        goto out;
    }
    if (!(perms_on(acc, who, o.tenant, now) & COF_PERM_EXPORT)) {
        fprintf(stderr, "coffer export request: %s lacks the export permission on tenant %s\n",
                who, o.tenant);
        goto out;
    }
    if ((st = cof_export_request(cfg, who, o.tenant, since, until, o.reason, now, &e))) {
        cof_cli_fail(st, "export request");
        goto out;
    }
    char a[40], b[40], params[400], summary[400];
    snprintf(params, sizeof params, "{\"id\":\"%s\",\"tenant\":\"%s\",\"since\":\"%s\",\"until\":\"%s\"}",
             e.id, e.tenant, t_s(since, a, sizeof a), t_s(until, b, sizeof b));
    snprintf(summary, sizeof summary, "%s requests bulk export %s of tenant %s; a second person "
             "must approve it", who, e.id, e.tenant);
    const char *tenants[1] = { e.tenant };
    cof_notice n = { who, "export.request", params, "ok", tenants, 1, 0, "export.requested",
                     COF_SEV_MEDIUM, summary, params };
    if ((st = record(cfg, &n))) {
        cof_cli_fail(st, "export request: audit");
        goto out;
    }
    printf("%s\n", e.id);
    fprintf(stderr, "export %s requested; it needs approval by another person within 24 h "
                    "(coffer export approve %s)\n", e.id, e.id);
    rc = 0;
out:
    cof_access_free(acc);
    return rc;
}

static int cmd_decide(const cof_config *cfg, int argc, char **argv, int approve)
{
    const char *verb = approve ? "approve" : "reject";
    opts o;
    int r = parse_opts(verb, argc, argv, &o, 1), rc = 1;
    if (r != 1)
        return r;
    int64_t now = cof_time_now_us();
    cof_access *acc = NULL;
    char who[COF_MAX_PRINCIPAL_NAME + 1];
    cof_export e;
    if (!caller(cfg, &o, now, &acc, who))
        return 1;
    cof_status st = cof_export_get(cfg->data_dir, o.id, now, &e);
    if (!st) {
        uint32_t perms = perms_on(acc, who, e.tenant, now);
        st = approve ? cof_export_approve(cfg->data_dir, o.id, who, perms, now, &e)
                     : cof_export_reject(cfg->data_dir, o.id, who, perms, now, &e);
    }
    char params[300], summary[400];
    snprintf(params, sizeof params, "{\"id\":\"%s\",\"requester\":\"%s\"}", o.id,
             st == COF_NOTFOUND ? "" : e.requester);
    const char *tenants[1] = { e.tenant };
    cof_notice n = { who, approve ? "export.approve" : "export.reject", params,
                     st ? "denied" : "ok", tenants, st == COF_NOTFOUND ? 0 : 1, 0, NULL,
                     COF_SEV_INFO, NULL, NULL };
    if (st) {
        cof_cli_fail(st, approve ? "export approve" : "export reject");
        if (st != COF_NOTFOUND && record(cfg, &n))
            cof_cli_fail(COF_IO, "export: audit");
        goto out;
    }
    snprintf(summary, sizeof summary, "%s %s bulk export %s of tenant %s requested by %s", who,
             approve ? "approved" : "rejected", e.id, e.tenant, e.requester);
    n.alert_kind = approve ? "export.approved" : "export.rejected";
    n.severity = approve ? COF_SEV_HIGH : COF_SEV_INFO;
    n.summary = summary;
    n.details_json = params;
    if ((st = record(cfg, &n))) {
        cof_cli_fail(st, "export: audit");
        goto out;
    }
    printf("export %s %s\n", e.id, cof_export_state_name(e.state));
    rc = 0;
out:
    cof_access_free(acc);
    return rc;
}

static int cmd_list(const cof_config *cfg, int argc, char **argv)
{
    opts o;
    int r = parse_opts("list", argc, argv, &o, 0);
    if (r != 1)
        return r;
    cof_export *all = NULL;
    size_t n = 0;
    cof_status st = cof_export_list(cfg->data_dir, cof_time_now_us(), &all, &n);
    if (st) {
        cof_cli_fail(st, "export list");
        return 1;
    }
    char a[40], b[40], c[40];
    if (!o.json)
        printf("%-18s  %-9s  %-16s  %-12s  %-20s  %-20s  %s\n", "ID", "STATE", "REQUESTER",
               "TENANT", "FROM", "TO", "APPROVER");
    for (size_t i = 0; i < n; i++) {
        const cof_export *e = &all[i];
        if (!o.json) {
            printf("%-18s  %-9s  %-16s  %-12s  %-20s  %-20s  %s\n", e->id,
                   cof_export_state_name(e->state), e->requester, e->tenant,
                   t_s(e->since, a, sizeof a), t_s(e->until, b, sizeof b),
                   e->approver[0] ? e->approver : "-");
            continue;
        }
        json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:I}", "id", e->id, "state",
                              cof_export_state_name(e->state), "requester", e->requester,
                              "tenant", e->tenant, "since", t_s(e->since, a, sizeof a), "until",
                              t_s(e->until, b, sizeof b), "reason", e->reason, "created",
                              t_s(e->created, c, sizeof c), "approver", e->approver,
                              "watermark", e->watermark, "events", (json_int_t)e->events);
        char *txt = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        if (txt)
            printf("%s\n", txt);
        free(txt);
        json_decref(j);
    }
    free(all);
    return 0;
}

typedef struct {
    int fd;
    const char *path;
    cof_progress prog;
} fetch_out;

static cof_status to_file(void *ctx, const void *p, size_t n)
{
    fetch_out *f = ctx;
    return cof_fs_write_all(f->fd, p, n, f->path);
}

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
    fetch_out *f = ctx;
    cof_progress_update(&f->prog, done, total, done, "rows");
}

/* A poison hit: suspend the requester at once (a narrowing change) and alert. */
static void poisoned(const cof_config *cfg, const char *who, const cof_export *e,
                     const cof_export_result *res, int64_t now)
{
    char change_id[32] = "", summary[500], details[500], params[400];
    cof_status st = cof_change_suspend(cfg->data_dir, who, "coffer",
                                       "bulk export reached a poison record", now, change_id);
    if (st)
        cof_cli_fail(st, "export fetch: suspending the requester");
    snprintf(summary, sizeof summary, "bulk export %s of tenant %s by %s would have returned poison "
             "set %s: withheld, %s suspended", e->id, e->tenant, who, res->hit.set_id, who);
    snprintf(details, sizeof details, "{\"principal\":\"%s\",\"tenant\":\"%s\",\"export\":\"%s\","
             "\"set\":\"%s\",\"change\":\"%s\"}", who, e->tenant, e->id, res->hit.set_id, change_id);
    snprintf(params, sizeof params, "{\"id\":\"%s\",\"poison\":\"%s\",\"unsealed\":false}", e->id,
             res->hit.set_id);
    const char *tenants[1] = { e->tenant };
    cof_notice n = { who, "export.fetch", params, "denied", tenants, 1, 0, "poison.hit",
                     COF_SEV_CRITICAL, summary, details };
    if (record(cfg, &n))
        cof_cli_fail(COF_IO, "export fetch: audit");
}

static int cmd_fetch(const cof_config *cfg, int argc, char **argv)
{
    opts o;
    int r = parse_opts("fetch", argc, argv, &o, 1), rc = 1;
    if (r != 1)
        return r;
    if (!o.out) {
        fprintf(stderr, "coffer export fetch: --out FILE is required (a new file, mode 0600)\n");
        return 2;
    }
    int64_t now = cof_time_now_us();
    cof_access *acc = NULL;
    char who[COF_MAX_PRINCIPAL_NAME + 1];
    cof_export e;
    cof_store *s = NULL;
    cof_poison *p = NULL;
    fetch_out f = { -1, o.out, { 0 } };
    int created = 0;
    cof_export_result res;
    memset(&res, 0, sizeof res);
    if (!caller(cfg, &o, now, &acc, who))
        return 1;
    cof_status st = cof_export_get(cfg->data_dir, o.id, now, &e);
    if (st) {
        cof_cli_fail(st, "export fetch");
        goto out;
    }
    if (cof_access_locked(acc)) {
        fprintf(stderr, "coffer export fetch: a lockdown holds: no export until it is lifted\n");
        goto out;
    }
    if (strcmp(e.requester, who) != 0 || !(perms_on(acc, who, e.tenant, now) & COF_PERM_EXPORT)) {
        fprintf(stderr, "coffer export fetch: only the requester, holding the export permission "
                        "on the tenant, fetches an export\n");
        goto out;
    }
    if ((st = cof_fs_open(o.out, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600, &f.fd))) {
        cof_cli_fail(st, "export fetch: --out");
        goto out;
    }
    created = 1;
    if ((st = cof_store_open(cfg, 0, &s)) ||
        (st = cof_poison_open(cfg->data_dir, cof_store_keyring(s), &p))) {
        cof_cli_fail(st, "export fetch");
        goto out;
    }
    cof_progress_start(&f.prog, "export", 0);
    st = cof_export_write(s, p, o.id, who, now, to_file, &f, on_progress, &f, &res);
    cof_progress_end(&f.prog);
    if (st == COF_DENIED && res.poisoned) {
        cof_cli_fail(st, "export fetch");
        poisoned(cfg, who, &e, &res, now);
        goto out;
    }
    if (st || (st = cof_fs_fsync(f.fd, o.out))) {
        cof_cli_fail(st, "export fetch");
        goto out;
    }
    char cats[300], params[700], summary[400];
    cof_export_categories(res.categories, cats, sizeof cats);
    snprintf(params, sizeof params, "{\"id\":\"%s\",\"events\":%" PRIu64 ",\"subjects\":%" PRIu64
             "%s,\"unsealed\":true,\"categories\":%s,\"watermark\":\"%s\"}", o.id, res.events,
             res.subjects, res.subjects_capped ? ",\"subjects_capped\":true" : "", cats,
             res.watermark);
    snprintf(summary, sizeof summary, "%s fetched bulk export %s of tenant %s: %" PRIu64
             " events, %" PRIu64 " data subjects", who, o.id, e.tenant, res.events, res.subjects);
    const char *tenants[1] = { e.tenant };
    cof_notice n = { who, "export.fetch", params, "ok", tenants, 1, res.events, "export.fetched",
                     COF_SEV_HIGH, summary, params };
    /* No record, no data: the file is removed if the audit append fails. */
    if ((st = record(cfg, &n))) {
        cof_cli_fail(st, "export fetch: audit");
        goto out;
    }
    if (res.damaged)
        fprintf(stderr, "coffer: warning: %" PRIu64 " damaged segments were left out\n",
                res.damaged);
    fprintf(stderr, "wrote %" PRIu64 " events of tenant %s to %s\n", res.events, e.tenant, o.out);
    rc = 0;
out:
    if (f.fd >= 0)
        (void)close(f.fd);
    if (rc && created)
        (void)unlink(o.out);
    cof_poison_close(p);
    if (s) {
        cof_status cst = cof_store_close(s);
        (void)cst;
    }
    cof_access_free(acc);
    return rc;
}

int cof_cmd_export(const cof_config *cfg, int argc, char **argv)
{
    if (argc < 1 || is_help(argv[0])) {
        fputs(usage_export, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    const char *c = argv[0];
    if (!strcmp(c, "request"))
        return cmd_request(cfg, argc - 1, argv + 1);
    if (!strcmp(c, "approve"))
        return cmd_decide(cfg, argc - 1, argv + 1, 1);
    if (!strcmp(c, "reject"))
        return cmd_decide(cfg, argc - 1, argv + 1, 0);
    if (!strcmp(c, "list"))
        return cmd_list(cfg, argc - 1, argv + 1);
    if (!strcmp(c, "fetch"))
        return cmd_fetch(cfg, argc - 1, argv + 1);
    fprintf(stderr, "coffer export: unknown subcommand %s (try --help)\n", c);
    return 2;
}
