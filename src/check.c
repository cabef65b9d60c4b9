/* check.c - `coffer check`: audit the configuration and files of an installation the
 * way the incidents' operators never did: listeners, TLS, key and data-directory modes
 * and owners, field policies, tokens, grants, alert sinks, the audit chain. Every
 * finding has a severity, what was seen and the fix; critical findings make the exit
 * status 1. The same findings can be collected into a JSON array (check.h) for the
 * signed evidence report (evidence.c). */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "access.h"
#include "alert.h"
#include "audit.h"
#include "check.h"
#include "evidence.h"
#include "cli.h"
#include "fsutil.h"
#include "keyring.h"
#include "server.h"
#include "syslogd.h"
#include "timefmt.h"
#include "tlsconf.h"

typedef struct {
    int json;
    unsigned counts[5];
    json_t *collect; /* non-NULL: append findings here instead of printing */
} report;

static void finding(report *r, cof_severity sev, const char *check, const char *seen, const char *fix)
{
    r->counts[sev]++;
    if (r->collect) {
        json_array_append_new(r->collect, json_pack("{s:s,s:s,s:s,s:s}", "severity",
                                                     cof_severity_name(sev), "check", check,
                                                     "evidence", seen, "fix", fix));
    } else if (r->json) {
        json_t *o = json_pack("{s:s,s:s,s:s,s:s}", "severity", cof_severity_name(sev), "check", check,
                              "evidence", seen, "fix", fix);
        char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
        if (s)
            printf("%s\n", s);
        free(s);
        json_decref(o);
    } else {
        printf("%-8s %-26s %s\n%-8s %-26s fix: %s\n", cof_severity_name(sev), check, seen, "", "", fix);
    }
}

/* Mode and owner of a path that must be private (mode exactly want). */
static void check_private(report *r, const char *path, const char *what, mode_t want, int required)
{
    struct stat sb;
    char seen[4400], fix[4400];
    if (lstat(path, &sb) != 0) {
        if (required) {
            snprintf(seen, sizeof seen, "%s %s is missing", what, path);
            finding(r, COF_SEV_CRITICAL, "file.missing", seen, "run coffer init, or fix the path in the config");
        }
        return;
    }
    if (S_ISLNK(sb.st_mode)) {
        snprintf(seen, sizeof seen, "%s %s is a symbolic link", what, path);
        finding(r, COF_SEV_HIGH, "file.symlink", seen, "keep the file itself at this path");
        return;
    }
    if ((sb.st_mode & 07777) != want) {
        snprintf(seen, sizeof seen, "%s %s has mode %04o", what, path, (unsigned)(sb.st_mode & 07777));
        snprintf(fix, sizeof fix, "chmod %04o %s", (unsigned)want, path);
        finding(r, (sb.st_mode & 077) ? COF_SEV_CRITICAL : COF_SEV_LOW, "file.mode", seen, fix);
    }
    if (sb.st_uid != geteuid()) {
        snprintf(seen, sizeof seen, "%s %s is owned by uid %u, not by the user running coffer (%u)", what,
                 path, (unsigned)sb.st_uid, (unsigned)geteuid());
        finding(r, COF_SEV_HIGH, "file.owner", seen, "chown it to the user that runs coffer");
    }
}

static void check_files(report *r, const cof_config *cfg)
{
    char p[4400];
    check_private(r, cfg->data_dir, "data directory", 0700, 1);
    check_private(r, cfg->key_file, "master key", 0600, 1);
    int inside = 0;
    if (cof_fs_is_inside(cfg->key_file, cfg->data_dir, &inside) == COF_OK && inside)
        finding(r, COF_SEV_CRITICAL, "key.inside_data_dir",
                "the master key lies inside the data directory: a copy of the data carries its key",
                "move the key file out of the data directory and set key_file");
    static const char *const files[] = { "keyring", "MANIFEST", "access.json", "tokens.json" };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", cfg->data_dir, files[i]);
        check_private(r, p, files[i], 0600, i < 2);
    }
}

static void check_tls_and_listeners(report *r, const cof_config *cfg, const cof_access *a)
{
    char cert[4200], key[4200], seen[4600];
    cof_server_default_tls(cfg, cert, sizeof cert, key, sizeof key);
    if (cfg->srv.tls_cert[0]) {
        snprintf(cert, sizeof cert, "%s", cfg->srv.tls_cert);
        snprintf(key, sizeof key, "%s", cfg->srv.tls_key);
    }
    int selfsigned = 1;
    cof_status st = cof_tls_is_selfsigned(cert, &selfsigned);
    check_private(r, key, "TLS key", 0600, st == COF_OK);
    const char *addrs[3] = { cfg->srv.listen[0] ? cfg->srv.listen : a ? a->listeners.api : "",
                             cfg->srv.syslog_listen[0] ? cfg->srv.syslog_listen
                                                        : a ? a->listeners.syslog_tls : "",
                             cfg->srv.syslog_plain_listen[0] ? cfg->srv.syslog_plain_listen
                                                              : a ? a->listeners.syslog_plain : "" };
    static const char *const names[3] = { "API", "syslog (TLS)", "syslog (plain)" };
    for (int i = 0; i < 3; i++) {
        if (!addrs[i] || !*addrs[i])
            continue;
        struct sockaddr_storage ss;
        unsigned sl;
        int loop = 0;
        if (cof_net_parse_hostport(addrs[i], &ss, &sl, &loop) != COF_OK) {
            snprintf(seen, sizeof seen, "%s listener '%s' is not a valid HOST:PORT", names[i], addrs[i]);
            finding(r, COF_SEV_HIGH, "listener.invalid", seen, "use a numeric address and a port");
            continue;
        }
        if (loop)
            continue;
        if (i == 2) {
            snprintf(seen, sizeof seen, "plain (unencrypted) syslog configured on %s", addrs[i]);
            finding(r, COF_SEV_CRITICAL, "listener.plaintext", seen,
                    "use syslog_listen with TLS and client certificates; plain syslog only on loopback");
        } else if (st != COF_OK || selfsigned || !cfg->srv.tls_cert[0]) {
            snprintf(seen, sizeof seen, "%s listener on %s without an operator certificate (coffer serve "
                     "will refuse to start)", names[i], addrs[i]);
            finding(r, COF_SEV_CRITICAL, "listener.no_certificate", seen,
                    "set tls_cert and tls_key to your certificate chain and key");
        } else {
            snprintf(seen, sizeof seen, "%s listener on %s is reachable beyond this host (TLS)", names[i],
                     addrs[i]);
            finding(r, COF_SEV_INFO, "listener.public", seen,
                    "expected for a server; keep the firewall and allowed clients narrow");
        }
    }
}

static void check_policies(report *r, const cof_config *cfg)
{
    char seen[256], fix[256], buf[32];
    for (int f = 0; f < COF_NFIELDS; f++) {
        if (!cof_field_is_personal((cof_field)f))
            continue;
        if (cfg->policy[f] & COF_P_KEEP) {
            snprintf(seen, sizeof seen, "personal field %s is stored in the clear (policy %s)",
                     cof_field_name((cof_field)f), cof_policy_str(cfg->policy[f], buf, sizeof buf));
            snprintf(fix, sizeof fix, "policy.%s = seal (or drop)", cof_field_name((cof_field)f));
            finding(r, COF_SEV_HIGH, "policy.clear_personal", seen, fix);
        }
    }
    for (uint32_t i = 0; i < cfg->ntpol; i++)
        for (int f = 0; f < COF_NFIELDS; f++)
            if ((cfg->tpol[i].set_mask & (1u << f)) && cof_field_is_personal((cof_field)f) &&
                (cfg->tpol[i].policy[f] & COF_P_KEEP)) {
                snprintf(seen, sizeof seen, "tenant %s keeps personal field %s in the clear",
                         cfg->tpol[i].tenant, cof_field_name((cof_field)f));
                finding(r, COF_SEV_HIGH, "policy.clear_personal", seen, "seal or drop it for that tenant");
            }
}

uint32_t cof_check_known_tenants(const cof_config *cfg, const cof_access *a, const char **out,
                                 uint32_t cap)
{
    uint32_t n = 0;
#define ADD_TENANT(z)                                                                      \
    do {                                                                                   \
        const char *t_ = (z);                                                              \
        int dup_ = !strcmp(t_, "*");                                                       \
        for (uint32_t k_ = 0; k_ < n && !dup_; k_++)                                       \
            dup_ = !strcmp(out[k_], t_);                                                   \
        if (!dup_ && n < cap)                                                              \
            out[n++] = t_;                                                                 \
    } while (0)
    ADD_TENANT(cfg->default_tenant);
    for (uint32_t i = 0; i < cfg->nrules; i++)
        ADD_TENANT(cfg->rules[i].tenant);
    for (uint32_t i = 0; i < cfg->ntpol; i++)
        ADD_TENANT(cfg->tpol[i].tenant);
    for (uint32_t i = 0; a && i < a->nprincipals; i++)
        for (uint32_t g = 0; g < a->principals[i].ngrants; g++)
            for (uint32_t t = 0; t < a->principals[i].grants[g].ntenants; t++)
                ADD_TENANT(a->principals[i].grants[g].tenants[t]);
    for (uint32_t i = 0; a && i < a->gov.nretention; i++)
        ADD_TENANT(a->gov.retention[i].tenant);
#undef ADD_TENANT
    return n;
}

#define CHECK_MAX_TENANTS 4096 /* tenants listed by the retention check */

static void check_retention(report *r, const cof_config *cfg, const cof_access *a)
{
    const char *names[CHECK_MAX_TENANTS];
    char seen[256], fix[256];
    uint32_t n = cof_check_known_tenants(cfg, a, names, CHECK_MAX_TENANTS);
    for (uint32_t i = 0; a && i < n; i++) {
        if (cof_access_retention_days(a, names[i]) != 0)
            continue;
        snprintf(seen, sizeof seen, "tenant %s: data is kept forever (no retention)", names[i]);
        snprintf(fix, sizeof fix, "a retention rule for %s (or a default) in access.json, as a "
                 "reviewed change", names[i]);
        finding(r, COF_SEV_LOW, "retention.forever", seen, fix);
    }
}

static void check_access(report *r, const cof_config *cfg, const cof_access *a, cof_keyring *kr)
{
    char seen[512];
    int64_t now = cof_time_now_us();
    unsigned admins = 0;
    for (uint32_t i = 0; a && i < a->nprincipals; i++) {
        const cof_principal *p = &a->principals[i];
        for (uint32_t g = 0; g < p->ngrants; g++) {
            const cof_grant *gr = &p->grants[g];
            if (gr->expires && gr->expires <= now)
                continue;
            if (gr->role == COF_ROLE_ADMIN && !p->suspended)
                admins++;
            int all = 0;
            for (uint32_t t = 0; t < gr->ntenants; t++)
                all |= !strcmp(gr->tenants[t], "*");
            if (all && (cof_role_perms(gr->role) & COF_PERM_TRAIL)) {
                snprintf(seen, sizeof seen, "principal %s may unseal personal fields of every tenant (%s on *)",
                         p->name, cof_role_name(gr->role));
                finding(r, COF_SEV_MEDIUM, "grant.all_tenants", seen,
                        "grant support on the tenants this person serves, not on *");
            }
        }
    }
    if (a && admins < 2) {
        /* one administrator means nobody reviews the widening changes (threat A5) */
        snprintf(seen, sizeof seen, "single-administrator installation: %u principal%s with an "
                 "unexpired admin grant%s", admins, admins == 1 ? "" : "s",
                 a->gov.single_admin ? " (explicit setting)" : "");
        if (a->gov.single_admin)
            finding(r, COF_SEV_MEDIUM, "access.single_admin",
                    "single-administrator installation (explicit setting): widening changes "
                    "are applied without a second person",
                    "add a second administrator (coffer acl grant NAME --role admin --tenant "
                    "'*') and unset single_admin");
        else
            finding(r, COF_SEV_CRITICAL, "access.single_admin", seen,
                    "coffer acl grant NAME --role admin --tenant '*' for a second "
                    "administrator, or set single_admin explicitly (reviewed change)");
    }
    if (a && a->gov.lockdown_since) {
        char tb[40];
        snprintf(seen, sizeof seen, "a lockdown is in force since %s: no personal-field read or "
                 "export", cof_time_format(a->gov.lockdown_since, tb, sizeof tb));
        finding(r, COF_SEV_INFO, "access.lockdown", seen,
                "coffer lockdown lift, once the incident is handled");
    }
    check_retention(r, cfg, a);
    if (!kr)
        return;
    uint8_t *k = sodium_malloc(32);
    cof_tokens *tk = NULL;
    cof_token_info *ti = NULL;
    size_t n = 0;
    if (k && cof_keyring_subkey(kr, "token-hash", k) == COF_OK &&
        cof_tokens_open(cfg->data_dir, k, &tk) == COF_OK && cof_tokens_list(tk, &ti, &n) == COF_OK) {
        for (size_t i = 0; i < n; i++)
            if (!ti[i].revoked && !ti[i].expires) {
                snprintf(seen, sizeof seen, "token %s of principal %s never expires", ti[i].id, ti[i].principal);
                finding(r, COF_SEV_MEDIUM, "token.no_expiry", seen,
                        "coffer token revoke it and create one with --expires");
            }
    }
    free(ti);
    cof_tokens_close(tk);
    sodium_free(k);
}

static void check_alerts(report *r, const cof_config *cfg)
{
    if (!cfg->alert_syslog && !cfg->alert_webhook[0] && !cfg->alert_command[0])
        finding(r, COF_SEV_HIGH, "alerts.none",
                "no alert sink: lockouts, budget breaches and access changes reach nobody",
                "set alert.syslog = on, or alert.webhook / alert.command");
    else if (!cfg->alert_webhook[0] && !cfg->alert_command[0])
        finding(r, COF_SEV_LOW, "alerts.syslog_only", "alerts go to the local syslog only",
                "add alert.webhook or alert.command so someone is told");
}

static void check_audit(report *r, const cof_config *cfg, cof_keyring *kr)
{
    char seen[512];
    uint8_t *seed = sodium_malloc(32);
    uint8_t pk[32];
    cof_audit_report rep;
    if (!seed || cof_keyring_subkey(kr, "audit-ed25519", seed) != COF_OK ||
        cof_audit_public_key(seed, pk) != COF_OK || cof_audit_verify(cfg->data_dir, pk, &rep) != COF_OK) {
        finding(r, COF_SEV_HIGH, "audit.unreadable", "the audit trail could not be checked",
                "coffer audit verify says why");
    } else if (rep.problem != COF_AUDIT_OK) {
        snprintf(seen, sizeof seen, "audit trail broken at %s:%llu (seq %llu): %s", rep.file,
                 (unsigned long long)rep.line, (unsigned long long)rep.seq,
                 cof_audit_problem_name(rep.problem));
        finding(r, COF_SEV_CRITICAL, "audit.broken", seen,
                "treat as an incident: compare with the syslog copy of the chain head");
    }
    sodium_free(seed);
}

static void run_checks(report *r, const cof_config *cfg)
{
    check_files(r, cfg);
    cof_access *a = NULL;
    if (cof_access_load(cfg->data_dir, &a) != COF_OK)
        finding(r, COF_SEV_MEDIUM, "access.unreadable", "the access document could not be read",
                "coffer init creates it; check its mode (0600) and JSON");
    check_tls_and_listeners(r, cfg, a);
    check_policies(r, cfg);
    cof_keyring *kr = NULL;
    if (cof_keyring_open(cfg->data_dir, cfg->key_file, &kr) != COF_OK)
        finding(r, COF_SEV_CRITICAL, "key.unusable", "the master key does not open the keyring",
                "point key_file at this store's master key");
    check_access(r, cfg, a, kr);
    check_alerts(r, cfg);
    if (kr)
        check_audit(r, cfg, kr);
    cof_keyring_close(kr);
    cof_access_free(a);
}

cof_status cof_check_collect(const cof_config *cfg, json_t *findings, unsigned counts[5])
{
    if (!json_is_array(findings))
        return COF_ERR(COF_BADINPUT, "check: findings must be a JSON array");
    report r = { 0 };
    r.collect = findings;
    run_checks(&r, cfg);
    for (int i = 0; i < 5; i++)
        counts[i] += r.counts[i];
    return COF_OK;
}

int cof_cmd_check(const cof_config *cfg, int argc, char **argv)
{
    report r = { 0 };
    const char *evidence = NULL;
    int force = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--json")) {
            r.json = 1;
        } else if (!strcmp(argv[i], "--evidence") && i + 1 < argc) {
            evidence = argv[++i];
        } else if (!strcmp(argv[i], "--force")) {
            force = 1;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: coffer check [--json] [--evidence FILE [--force]]\n\n"
                   "Audits this installation: data directory, key and TLS files (modes, owners,\n"
                   "location), listeners and certificates, field policies, grants across all\n"
                   "tenants, tokens without expiry, alert sinks, and the audit chain. Prints each\n"
                   "finding with its severity and fix. Exit 1 on a critical finding, 0 otherwise.\n"
                   "--evidence FILE also writes the signed evidence report for an auditor\n"
                   "(mode 0600; an existing FILE only with --force); check it offline with\n"
                   "coffer verify-evidence FILE --pubkey KEY (docs/EVIDENCE.md).\n");
            return 0;
        } else {
            fprintf(stderr, "coffer check: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (force && !evidence) {
        fprintf(stderr, "coffer check: --force only goes with --evidence FILE\n");
        return 2;
    }
    if (evidence && !force && access(evidence, F_OK) == 0) {
        fprintf(stderr, "coffer check: %s exists (use --force to replace it)\n", evidence);
        return 1;
    }
    if (!r.json)
        printf("%-8s %-26s %s\n", "SEVERITY", "CHECK", "EVIDENCE");
    run_checks(&r, cfg);
    if (!r.json)
        printf("\n%u critical, %u high, %u medium, %u low, %u info\n", r.counts[COF_SEV_CRITICAL],
               r.counts[COF_SEV_HIGH], r.counts[COF_SEV_MEDIUM], r.counts[COF_SEV_LOW],
               r.counts[COF_SEV_INFO]);
    if (evidence) {
        char fpr[64];
        fflush(stdout);
        cof_status st = cof_evidence_write(cfg, evidence, force, fpr, sizeof fpr);
        if (st) {
            /* not cof_cli_fail (main.c): evidence.c links check.c into programs without it */
            fprintf(stderr, "coffer: check --evidence: %s\n", cof_err_msg());
            return 1;
        }
        fprintf(stderr, "coffer check: signed evidence written to %s (key %s)\n", evidence, fpr);
    }
    return r.counts[COF_SEV_CRITICAL] ? 1 : 0;
}
