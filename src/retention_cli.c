/* retention_cli.c - `coffer retention show|run` (docs/RETENTION.md). */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alert.h"
#include "cli.h"
#include "ident.h"
#include "retention.h"
#include "timefmt.h"

static const char usage_retention[] =
    "usage: coffer retention show [--now T] [--json]\n"
    "       coffer retention run [--dry-run] [--now T] [--json] [--token-file F]\n"
    "\n"
    "Per-tenant retention from the access document (\"retention\": {\"default_days\": N,\n"
    "\"tenants\": {\"acme\": 30}}; 0 keeps forever). A tenant-day older than today minus\n"
    "its retention is crypto-shredded: its segments are removed and its data key is\n"
    "destroyed; then the master key is rotated, so copies of the data directory made\n"
    "before cannot be read with the current key file (docs/RETENTION.md).\n"
    "\n"
    "show        per tenant: retention, days held, oldest day held, days and events due\n"
    "run         shred what is due (needs the writer lock: a running `coffer serve`\n"
    "            applies retention itself every hour); audited as retention.run\n"
    "  --dry-run     say what run would shred, change nothing\n"
    "  --now T       decide as if it were T (RFC 3339 or 2026-11-24), for what-if and tests\n"
    "  --json        one JSON object\n"
    "  --token-file F  the API token of the person running it, for the audit trail\n"
    "                (or COFFER_TOKEN_FILE); without it the record names \"system\"\n";

static const char *day_str(uint32_t day, char *buf, size_t cap)
{
    char tmp[64];
    cof_time_format((int64_t)day * 86400000000LL, tmp, sizeof tmp);
    snprintf(buf, cap, "%.10s", tmp);
    return buf;
}

static void print_table(const cof_retention_report *rep)
{
    char b1[16], b2[16], b3[16];
    printf("%-20s %-9s %9s %-11s %8s %-23s %12s\n", "tenant", "retention", "days held",
           "oldest", "days due", "due range", "events due");
    for (size_t i = 0; i < rep->n; i++) {
        const cof_retention_tenant *t = &rep->t[i];
        char ret[16], range[40];
        if (t->days)
            snprintf(ret, sizeof ret, "%ud", t->days);
        else
            snprintf(ret, sizeof ret, "forever");
        if (t->days_due)
            snprintf(range, sizeof range, "%s..%s", day_str(t->first_due, b1, sizeof b1),
                     day_str(t->last_due, b2, sizeof b2));
        else
            snprintf(range, sizeof range, "-");
        printf("%-20s %-9s %9u %-11s %8u %-23s %12" PRIu64 "\n", t->tenant, ret, t->days_held,
               t->days_held ? day_str(t->oldest_day, b3, sizeof b3) : "-", t->days_due, range,
               t->events_due);
    }
    if (!rep->n)
        printf("(no tenant holds any data)\n");
}

static int store_busy(cof_status st)
{
    return st == COF_DENIED && strstr(cof_err_msg(), "another coffer process is writing");
}

int cof_cmd_retention(const cof_config *cfg, int argc, char **argv)
{
    const char *sub = argc ? argv[0] : NULL;
    const char *token_file = NULL;
    int dry = 0, json = 0, rc = 1;
    int64_t now = cof_time_now_us();
    if (!sub || !strcmp(sub, "--help") || !strcmp(sub, "-h")) {
        fputs(usage_retention, sub ? stdout : stderr);
        return sub ? 0 : 2;
    }
    int run = !strcmp(sub, "run");
    if (!run && strcmp(sub, "show") != 0) {
        fprintf(stderr, "coffer retention: unknown subcommand %s\n", sub);
        fputs(usage_retention, stderr);
        return 2;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_retention, stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (run && !strcmp(a, "--dry-run")) {
            dry = 1;
        } else if ((!strcmp(a, "--now") || (run && !strcmp(a, "--token-file"))) && i + 1 < argc) {
            if (a[2] == 't') {
                token_file = argv[++i];
            } else if (cof_time_parse(cof_str_c(argv[++i]), now, &now) != COF_OK) {
                fprintf(stderr, "coffer retention: --now: %s\n", cof_err_msg());
                return 2;
            }
        } else {
            fprintf(stderr, "coffer retention %s: unknown option or missing value: %s\n", sub, a);
            fputs(usage_retention, stderr);
            return 2;
        }
    }
    char who[COF_MAX_PRINCIPAL_NAME + 1] = "system";
    cof_access *a = NULL;
    cof_store *s = NULL;
    cof_alerts *al = NULL;
    cof_retention_report rep;
    memset(&rep, 0, sizeof rep);
    cof_status st;
    const char *what = run ? (dry ? "retention run --dry-run" : "retention run") : "retention show";
    if (run && !dry && cof_ident_token_path(token_file)) {
        /* the person running it, checked before the master key rotates */
        if ((st = cof_ident_token_file(cfg, token_file, cof_time_now_us(), &a, who)))
            goto fail;
        const cof_principal *p = cof_access_find(a, who);
        if (!p || !(cof_access_any_perms(a, p, cof_time_now_us()) & COF_PERM_ADMIN)) {
            st = COF_ERR(COF_DENIED, "running retention needs the admin role");
            goto fail;
        }
    } else if ((st = cof_access_load(cfg->data_dir, &a)) == COF_NOTFOUND) {
        a = NULL; /* no access document: every tenant keeps everything */
        st = COF_OK;
    } else if (st) {
        goto fail;
    }
    if ((st = cof_store_open(cfg, run && !dry ? COF_STORE_WRITE : 0, &s))) {
        if (store_busy(st)) {
            fprintf(stderr, "coffer %s: the store is held by another writer; a running "
                            "`coffer serve` applies retention itself every hour\n", what);
            goto out;
        }
        goto fail;
    }
    if (!run || dry) {
        st = cof_retention_plan(s, a, now, &rep);
    } else {
        st = cof_retention_run(s, a, now, &rep);
        /* Audited whatever the outcome: a half-done run is worth a record too. The
         * record's events stay 0: nothing was returned to anyone (the incident report
         * counts events as disclosed); the counts are in params. */
        char *params = NULL;
        const char **tn = calloc(rep.n ? rep.n : 1, sizeof *tn);
        size_t ntn = 0;
        for (size_t i = 0; tn && i < rep.n; i++)
            if (rep.t[i].days_due)
                tn[ntn++] = rep.t[i].tenant;
        cof_status pst = cof_retention_report_json(&rep, 0, &params);
        cof_status ast = cof_cli_audit(cfg, who, "retention.run", pst ? NULL : params,
                                       st ? "error" : "ok", tn, ntn, 0, NULL);
        if (!st && rep.days_shredded && cof_cli_alerts_open(cfg, &al) == COF_OK) {
            char summary[200];
            snprintf(summary, sizeof summary,
                     "retention shredded %u tenant-days (%" PRIu64 " events) of %zu tenants; "
                     "master key rotated", rep.days_shredded, rep.events_shredded, ntn);
            if (cof_alert_raise(al, "retention.shredded", COF_SEV_INFO, summary, params))
                fprintf(stderr, "coffer retention run: warning: alert not raised: %s\n",
                        cof_err_msg());
        }
        free(params);
        free(tn);
        if (!st && ast)
            st = ast;
    }
    if (st)
        goto fail;
    if (json) {
        char *j = NULL;
        if ((st = cof_retention_report_json(&rep, !run || dry, &j)))
            goto fail;
        printf("%s\n", j);
        free(j);
    } else {
        char today[16];
        printf("today (UTC): %s%s\n", day_str(rep.today, today, sizeof today),
               a ? "" : "   (no access document: every tenant keeps its data forever)");
        print_table(&rep);
        if (run && !dry) {
            printf("shredded %u tenant-days: %" PRIu64 " events in %u segments removed, their "
                   "data keys destroyed\n", rep.days_shredded, rep.events_shredded,
                   rep.segments_removed);
            if (rep.rotated)
                printf("master key rotated%s: the previous key file no longer opens this store, "
                       "and copies made before no longer open with %s\n",
                       rep.rotation_resumed ? " (completing an interrupted run)" : "",
                       cfg->key_file);
        }
    }
    rc = 0;
    goto out;
fail:
    cof_cli_fail(st, what);
out:
    cof_retention_report_free(&rep);
    cof_cli_alerts_close(al); /* waits for delivery */
    if (s) {
        cof_status cst = run && !dry ? cof_store_close(s) : COF_OK;
        if (!run || dry)
            cof_store_abandon(s);
        if (cst && !rc) {
            cof_cli_fail(cst, what);
            rc = 1;
        }
    }
    cof_access_free(a);
    return rc;
}
