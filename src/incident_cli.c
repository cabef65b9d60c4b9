/* incident_cli.c - `coffer incident report` (docs/INCIDENT.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "incident.h"
#include "timefmt.h"

static const char usage_incident[] =
    "usage: coffer incident report --from T --to T [--principal P] [--source CIDR]\n"
    "                              [--json] [--pubkey HEX|FILE]\n"
    "\n"
    "From the audit trail: which principals and source addresses made which requests,\n"
    "how many events of which tenants and data categories each received, how many\n"
    "distinct data subjects (counted by blind token), and the facts a GDPR article 33\n"
    "notification needs. Refuses (exit 1) when the trail does not verify, naming the\n"
    "file, line and seq where it breaks.\n"
    "\n"
    "  --from T, --to T   the window [from, to): 2026-11-23, 2026-11-23T14:00:00Z, or an\n"
    "                     age such as 2h\n"
    "  --principal P      only this principal (\"-\" for unauthenticated requests)\n"
    "  --source CIDR      only requests from this network (127.0.0.2, 10.0.0.0/8, ::1)\n"
    "  --json             the report as one JSON object\n"
    "  --pubkey HEX|FILE  verify with this public key (from `coffer audit pubkey`): no\n"
    "                     master key needed, e.g. on a copy of the data directory\n";

static int report(const cof_config *cfg, int argc, char **argv)
{
    cof_incident_query q;
    memset(&q, 0, sizeof q);
    const char *pkarg = NULL;
    int json = 0, have_from = 0, have_to = 0;
    int64_t now = cof_time_now_us();
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--json")) {
            json = 1;
            continue;
        }
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            fputs(usage_incident, stdout);
            return 0;
        }
        if (!v || (strcmp(o, "--from") && strcmp(o, "--to") && strcmp(o, "--principal") &&
                   strcmp(o, "--source") && strcmp(o, "--pubkey"))) {
            fprintf(stderr, "coffer incident report: %s option %s (try --help)\n",
                    v ? "unknown" : "incomplete", strlen(o) <= 32 ? o : "...");
            return 2;
        }
        i++;
        if (!strcmp(o, "--from") || !strcmp(o, "--to")) {
            int64_t t;
            if (cof_time_parse(cof_str_c(v), now, &t) != COF_OK) {
                fprintf(stderr, "coffer incident report: %s: bad time\n", o);
                return 2;
            }
            if (o[2] == 'f') {
                q.from = t;
                have_from = 1;
            } else {
                q.to = t;
                have_to = 1;
            }
        } else if (!strcmp(o, "--principal")) {
            q.principal = v;
        } else if (!strcmp(o, "--source")) {
            if (cof_netmask_parse(cof_str_c(v), &q.source) != COF_OK) {
                fprintf(stderr, "coffer incident report: --source: not an address or CIDR "
                        "network (host bits must be zero)\n");
                return 2;
            }
            q.has_source = 1;
        } else {
            pkarg = v;
        }
    }
    if (!have_from || !have_to || q.to <= q.from) {
        fprintf(stderr, "coffer incident report: --from and --to are required, --from before "
                "--to (try --help)\n");
        return 2;
    }
    uint8_t pk[32];
    cof_status st = cof_cli_audit_pubkey(cfg, pkarg, pk);
    if (st) {
        cof_cli_fail(st, "incident report: public key");
        return 1;
    }
    cof_audit_report rep;
    json_t *r = NULL;
    st = cof_incident_report(cfg->data_dir, pk, &q, &rep, &r);
    if (st == COF_CORRUPT && rep.problem != COF_AUDIT_OK) {
        fprintf(stderr, "coffer incident report: refused: the audit trail is BROKEN at %s:%llu "
                "(seq %llu): %s. Nothing in it can be relied on past that point; keep a copy "
                "and investigate with `coffer audit verify`.\n", rep.file,
                (unsigned long long)rep.line, (unsigned long long)rep.seq,
                cof_audit_problem_name(rep.problem));
        return 1;
    }
    if (st) {
        cof_cli_fail(st, "incident report");
        return 1;
    }
    if (json) {
        char *s = json_dumps(r, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
        if (s)
            puts(s);
        st = s ? COF_OK : COF_NOMEM;
        free(s);
    } else {
        st = cof_incident_text(r, stdout);
    }
    json_decref(r);
    if (st || fflush(stdout) != 0) {
        fprintf(stderr, "coffer incident report: writing the report failed\n");
        return 1;
    }
    return 0;
}

int cof_cmd_incident(const cof_config *cfg, int argc, char **argv)
{
    if (argc >= 1 && !strcmp(argv[0], "report"))
        return report(cfg, argc - 1, argv + 1);
    if (argc >= 1 && (!strcmp(argv[0], "--help") || !strcmp(argv[0], "help"))) {
        fputs(usage_incident, stdout);
        return 0;
    }
    fputs(usage_incident, stderr);
    return 2;
}
