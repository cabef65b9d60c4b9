/* acl_cli.c - `coffer acl ...` and `coffer lockdown ...`: access changes under
 * two-person review (change.h, docs/GOVERNANCE.md). Every command that acts is done as
 * the principal of the caller's API token (--token-file), recorded in the audit trail
 * and announced on the alert sinks. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "access.h"
#include "alert.h"
#include "change.h"
#include "cli.h"
#include "fsutil.h"
#include "ident.h"
#include "keyring.h"
#include "timefmt.h"

static const char usage_acl[] =
    "usage: coffer acl show [--json]\n"
    "       coffer acl propose FILE|- [--reason TEXT]        propose a whole new access.json\n"
    "       coffer acl grant PRINCIPAL --role ROLE --tenant T[,T...] [--expires E] [--reason TEXT]\n"
    "       coffer acl revoke PRINCIPAL [--role ROLE] [--reason TEXT]\n"
    "       coffer acl suspend PRINCIPAL --reason TEXT\n"
    "       coffer acl approve ID\n"
    "       coffer acl reject ID [--reason TEXT]\n"
    "       coffer acl list [--all] [--json]\n"
    "       coffer acl view ID [--json]\n"
    "       coffer acl bootstrap --admins NAME[,NAME...] --token-dir DIR [--single-admin]\n"
    "\n"
    "Every change of DATA_DIR/access.json (principals, grants, listeners, retention, alert\n"
    "sinks, field policies) is a proposal. Changes that only narrow access (removing a\n"
    "grant, suspending, closing a listener) apply at once; anything that widens waits\n"
    "for approval by other administrators: 2 people by default, one more when the\n"
    "evaluation finds something critical. Proposals expire (default 72 h).\n"
    "\n"
    "Commands that act need the caller's API token: --token-file FILE (mode 0600) or\n"
    "COFFER_TOKEN_FILE. Approvals count principals, not tokens. See docs/GOVERNANCE.md.\n";

static const char usage_lockdown[] =
    "usage: coffer lockdown --reason TEXT        stop every personal-field read and export now\n"
    "       coffer lockdown lift [--reason TEXT] propose to lift it (needs two administrators)\n"
    "       coffer lockdown status\n"
    "\n"
    "A lockdown applies at once on one administrator's word; statistics, ingest and\n"
    "administration keep running. Lifting it is a proposal that another administrator\n"
    "approves with `coffer acl approve ID`. Needs --token-file FILE or COFFER_TOKEN_FILE.\n";

typedef struct {
    const char *token_file, *reason, *role, *tenant, *expires, *admins, *token_dir;
    int json, all, single_admin;
    const char *pos[2];
    int npos;
} opts;

static int parse_opts(const char *cmd, int argc, char **argv, opts *o, int maxpos)
{
    memset(o, 0, sizeof *o);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = !strcmp(a, "--token-file") ? &o->token_file
                         : !strcmp(a, "--reason") ? &o->reason : !strcmp(a, "--role") ? &o->role
                         : !strcmp(a, "--tenant") ? &o->tenant
                         : !strcmp(a, "--expires") ? &o->expires
                         : !strcmp(a, "--admins") ? &o->admins
                         : !strcmp(a, "--token-dir") ? &o->token_dir : NULL;
        if (dst) {
            if (i + 1 >= argc) {
                fprintf(stderr, "coffer %s: %s needs a value\n", cmd, a);
                return 0;
            }
            *dst = argv[++i];
        } else if (!strcmp(a, "--json")) {
            o->json = 1;
        } else if (!strcmp(a, "--all")) {
            o->all = 1;
        } else if (!strcmp(a, "--single-admin")) {
            o->single_admin = 1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "coffer %s: unknown option %s (try --help)\n", cmd, a);
            return 0;
        } else if (o->npos < maxpos) {
            o->pos[o->npos++] = a;
        } else {
            fprintf(stderr, "coffer %s: unexpected argument (try --help)\n", cmd);
            return 0;
        }
    }
    if (o->reason && strlen(o->reason) > COF_MAX_REASON) {
        fprintf(stderr, "coffer %s: --reason is longer than %d bytes\n", cmd, COF_MAX_REASON);
        return 0;
    }
    return 1;
}

static const char *tfmt(int64_t us, char *b, size_t cap)
{
    return us ? cof_time_format_sec(us, b, cap) : "-";
}

/* Print a change for people: what it does, what was found, who agreed. */
static void print_change(const cof_change *c, int json)
{
    if (json) {
        char *s = NULL;
        if (cof_change_json(c, 0, &s) == COF_OK)
            printf("%s\n", s);
        free(s);
        return;
    }
    char b1[40], b2[40];
    printf("change %s  %s  %s  proposed by %s at %s, expires %s\n", c->id,
           cof_change_kind_name(c->kind), cof_change_state_name(c->state), c->proposer,
           tfmt(c->created, b1, sizeof b1), tfmt(c->expires, b2, sizeof b2));
    if (c->summary[0])
        printf("  reason: %s\n", c->summary);
    for (uint32_t i = 0; i < c->neffects; i++)
        printf("  effect: %s\n", c->effects[i]);
    for (uint32_t i = 0; i < c->nfindings; i++)
        printf("  %-8s %s: %s\n", cof_severity_name(c->findings[i].sev), c->findings[i].check,
               c->findings[i].what);
    printf("  people: %u of %u required (%s", 1 + c->napprovals, c->required, c->proposer);
    for (uint32_t i = 0; i < c->napprovals; i++)
        printf(", %s", c->approvals[i].principal);
    printf(")\n");
    for (uint32_t i = 0; i < c->nrejections; i++)
        printf("  rejected by %s: %s\n", c->rejections[i].principal, c->rejections[i].reason);
    if (c->state == COF_CST_APPLIED)
        printf("  applied at %s as access.json version %llu\n", tfmt(c->applied, b1, sizeof b1),
               (unsigned long long)c->applied_version);
    else if (c->state == COF_CST_PENDING)
        printf("  waiting for %u more: another administrator runs `coffer acl approve %s`\n",
               c->required - 1 - c->napprovals, c->id);
}

/* Audit and announce one change event done by who. */
static void record(const cof_config *cfg, const cof_change *c, const char *event, const char *who,
                   const char *action)
{
    json_t *p = json_pack("{s:s,s:s,s:s,s:i,s:i}", "change", c->id, "kind",
                          cof_change_kind_name(c->kind), "state", cof_change_state_name(c->state),
                          "people", (int)(1 + c->napprovals), "required", (int)c->required);
    char *pj = p ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    if (cof_cli_audit(cfg, who, action, pj, "ok", NULL, 0, 0, NULL) != COF_OK)
        fprintf(stderr, "coffer acl: warning: not recorded in the audit trail: %s\n", cof_err_msg());
    free(pj);
    cof_alerts *al = NULL;
    if (cof_cli_alerts_open(cfg, &al) != COF_OK) {
        fprintf(stderr, "coffer acl: warning: alert sinks unavailable: %s\n", cof_err_msg());
        return;
    }
    cof_change_announce(al, c, event, who);
    if (c->state == COF_CST_APPLIED && strcmp(event, "applied") != 0)
        cof_change_announce(al, c, "applied", who);
    cof_cli_alerts_close(al);
}

static void record_refusal(const cof_config *cfg, const char *who, const char *action,
                           const char *id)
{
    json_t *p = json_pack("{s:s?,s:s}", "change", id, "why", cof_err_msg());
    char *pj = p ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    if (cof_cli_audit(cfg, who, action, pj, "denied", NULL, 0, 0, NULL) != COF_OK)
        fprintf(stderr, "coffer acl: warning: not recorded in the audit trail\n");
    free(pj);
}

static int who_am_i(const cof_config *cfg, const opts *o, char who[COF_MAX_PRINCIPAL_NAME + 1])
{
    cof_access *a = NULL;
    cof_status st = cof_ident_token_file(cfg, o->token_file, cof_time_now_us(), &a, who);
    cof_access_free(a);
    if (st) {
        cof_cli_fail(st, "acl");
        return 0;
    }
    return 1;
}

static int finish(const cof_config *cfg, cof_status st, cof_change *c, const char *event,
                  const char *who, const char *action, const char *id, int json)
{
    if (st && st != COF_AGAIN) {
        cof_cli_fail(st, action);
        record_refusal(cfg, who, action, id);
        cof_change_free(c);
        return 1;
    }
    if (st == COF_AGAIN) {
        fprintf(stderr, "coffer: %s: %s\n", action, cof_err_msg());
        if (c)
            print_change(c, json);
        cof_change_free(c);
        return 1;
    }
    print_change(c, json);
    record(cfg, c, event, who, action);
    cof_change_free(c);
    return 0;
}

static cof_status read_input(const char *path, char **buf, size_t *n)
{
    if (strcmp(path, "-") != 0)
        return cof_fs_read_file(path, COF_MAX_ACCESS_BYTES, (uint8_t **)buf, n);
    size_t cap = 65536, len = 0;
    char *b = malloc(cap);
    if (!b)
        return COF_ERR(COF_NOMEM, "stdin");
    for (;;) {
        if (len == cap) {
            if (cap >= COF_MAX_ACCESS_BYTES) {
                free(b);
                return COF_ERR(COF_LIMIT, "stdin: larger than %u bytes", COF_MAX_ACCESS_BYTES);
            }
            char *nb = realloc(b, cap * 2);
            if (!nb) {
                free(b);
                return COF_ERR(COF_NOMEM, "stdin");
            }
            b = nb;
            cap *= 2;
        }
        ssize_t r = read(0, b + len, cap - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(b);
            return COF_ERRNO("read stdin");
        }
        if (r == 0)
            break;
        len += (size_t)r;
    }
    *buf = b;
    *n = len;
    return COF_OK;
}

static int cmd_propose(const cof_config *cfg, const opts *o)
{
    char who[COF_MAX_PRINCIPAL_NAME + 1];
    if (o->npos != 1) {
        fprintf(stderr, "coffer acl propose: give the proposed access document (FILE or -)\n");
        return 2;
    }
    if (!who_am_i(cfg, o, who))
        return 1;
    char *buf = NULL;
    size_t n = 0;
    cof_access *prop = NULL;
    cof_change *c = NULL;
    cof_status st = read_input(o->pos[0], &buf, &n);
    if (!st)
        st = cof_access_parse(buf, n, strcmp(o->pos[0], "-") ? o->pos[0] : "stdin", &prop);
    free(buf);
    if (st) {
        cof_cli_fail(st, "acl propose");
        return 1;
    }
    st = cof_change_propose(cfg, prop, who, o->reason, cof_time_now_us(), &c);
    cof_access_free(prop);
    return finish(cfg, st, c, "proposed", who, "acl.propose", NULL, o->json);
}

/* Edits of the current document that `grant`, `revoke` turn into proposals. */
static int split_list(char *buf, const char **out, uint32_t cap, uint32_t *n)
{
    *n = 0;
    for (char *p = buf, *c; p; p = c ? c + 1 : NULL) {
        if ((c = strchr(p, ',')))
            *c = 0;
        if (*n >= cap || !*p)
            return 0;
        out[(*n)++] = p;
    }
    return 1;
}

static int cmd_edit(const cof_config *cfg, const opts *o, int grant)
{
    const char *cmd = grant ? "acl grant" : "acl revoke";
    char who[COF_MAX_PRINCIPAL_NAME + 1];
    if (o->npos != 1) {
        fprintf(stderr, "coffer %s: name the principal\n", cmd);
        return 2;
    }
    cof_role role = COF_ROLE_INGEST;
    if ((grant || o->role) && (!o->role || cof_role_parse(cof_str_c(o->role), &role) != COF_OK)) {
        fprintf(stderr, "coffer %s: --role must be one of ingest, support, analyst, auditor, "
                "admin, customer, metrics, exporter\n", cmd);
        return 2;
    }
    const char *tenants[COF_MAX_GRANT_TENANTS];
    uint32_t nt = 0;
    char tbuf[COF_MAX_GRANT_TENANTS * (COF_MAX_TENANT_NAME + 1)];
    int64_t now = cof_time_now_us(), expires = 0;
    if (grant) {
        if (!o->tenant || strlen(o->tenant) >= sizeof tbuf) {
            fprintf(stderr, "coffer acl grant: --tenant T[,T...] is required\n");
            return 2;
        }
        memcpy(tbuf, o->tenant, strlen(o->tenant) + 1);
        if (!split_list(tbuf, tenants, COF_MAX_GRANT_TENANTS, &nt)) {
            fprintf(stderr, "coffer acl grant: bad --tenant list\n");
            return 2;
        }
        for (uint32_t i = 0; i < nt; i++)
            if (strcmp(tenants[i], "*") != 0 && !cof_tenant_name_valid(cof_str_c(tenants[i]))) {
                fprintf(stderr, "coffer acl grant: invalid tenant name in --tenant\n");
                return 2;
            }
        int64_t d;
        const char *e = o->expires ? o->expires : "90d";
        if (!strcmp(e, "never"))
            expires = 0;
        else if (cof_duration_parse(cof_str_c(e), &d) == COF_OK)
            expires = now + d;
        else if (cof_access_time(cof_str_c(e), &expires) != COF_OK || expires <= now) {
            fprintf(stderr, "coffer acl grant: bad --expires (30d, 12h, never, or a future "
                    "RFC 3339 time)\n");
            return 2;
        }
    }
    if (!who_am_i(cfg, o, who))
        return 1;
    cof_access *cur = NULL, *next = NULL;
    cof_change *c = NULL;
    cof_status st;
    if ((st = cof_access_load(cfg->data_dir, &cur)) || (st = cof_access_clone(cur, &next)))
        goto fail;
    if (grant) {
        cof_principal *p;
        if ((st = cof_access_upsert(next, o->pos[0], &p)) ||
            (st = cof_access_add_grant(p, role, tenants, nt, expires)))
            goto fail;
    } else {
        cof_principal *p = NULL;
        for (uint32_t i = 0; i < next->nprincipals; i++)
            if (!strcmp(next->principals[i].name, o->pos[0]))
                p = &next->principals[i];
        if (!p) {
            st = COF_ERR(COF_NOTFOUND, "no principal %s", o->pos[0]);
            goto fail;
        }
        uint32_t kept = 0;
        for (uint32_t i = 0; i < p->ngrants; i++) {
            if (!o->role || p->grants[i].role == role) {
                for (uint32_t t = 0; t < p->grants[i].ntenants; t++)
                    free(p->grants[i].tenants[t]);
                free(p->grants[i].tenants);
                continue;
            }
            p->grants[kept++] = p->grants[i];
        }
        p->ngrants = kept;
    }
    /* Proposed against the document just read; if another change lands in between, the
     * proposal is evaluated against the newer one (cof_change_propose re-reads it under
     * the lock), so what approvers see is what would apply. */
    st = cof_change_propose(cfg, next, who, o->reason, now, &c);
    cof_access_free(next);
    cof_access_free(cur);
    return finish(cfg, st, c, "proposed", who, grant ? "acl.grant" : "acl.revoke", NULL, o->json);
fail:
    cof_access_free(next);
    cof_access_free(cur);
    cof_cli_fail(st, cmd);
    return 1;
}

static int cmd_vote(const cof_config *cfg, const opts *o, int approve)
{
    char who[COF_MAX_PRINCIPAL_NAME + 1];
    if (o->npos != 1 || !cof_change_id_valid(o->pos[0])) {
        fprintf(stderr, "coffer acl %s: give a change id (c- and 16 hex digits)\n",
                approve ? "approve" : "reject");
        return 2;
    }
    if (!who_am_i(cfg, o, who))
        return 1;
    cof_change *c = NULL;
    cof_status st = approve ? cof_change_approve(cfg, o->pos[0], who, cof_time_now_us(), &c)
                            : cof_change_reject(cfg, o->pos[0], who, o->reason, cof_time_now_us(), &c);
    return finish(cfg, st, c, approve ? "approved" : "rejected", who,
                  approve ? "acl.approve" : "acl.reject", o->pos[0], o->json);
}

static int cmd_suspend(const cof_config *cfg, const opts *o)
{
    char who[COF_MAX_PRINCIPAL_NAME + 1], id[COF_CHANGE_IDLEN + 1];
    if (o->npos != 1 || !o->reason) {
        fprintf(stderr, "coffer acl suspend: give the principal and --reason\n");
        return 2;
    }
    if (!who_am_i(cfg, o, who))
        return 1;
    int64_t now = cof_time_now_us();
    cof_status st = cof_change_suspend(cfg->data_dir, o->pos[0], who, o->reason, now, id);
    cof_change *c = NULL;
    if (!st)
        st = cof_change_load(cfg->data_dir, id, now, &c);
    return finish(cfg, st, c, "applied", who, "acl.suspend", NULL, o->json);
}

static int cmd_list(const cof_config *cfg, const opts *o)
{
    cof_change **v = NULL;
    size_t n = 0;
    cof_status st = cof_change_list(cfg->data_dir, cof_time_now_us(), &v, &n);
    if (st) {
        cof_cli_fail(st, "acl list");
        return 1;
    }
    size_t shown = 0;
    for (size_t i = 0; i < n; i++) {
        if (o->all || v[i]->state == COF_CST_PENDING) {
            print_change(v[i], o->json);
            shown++;
        }
        cof_change_free(v[i]);
    }
    free(v);
    if (!shown && !o->json)
        printf("no %schanges\n", o->all ? "" : "pending ");
    return 0;
}

static int cmd_view(const cof_config *cfg, const opts *o)
{
    cof_change *c = NULL;
    if (o->npos != 1) {
        fprintf(stderr, "coffer acl view: give a change id\n");
        return 2;
    }
    cof_status st = cof_change_load(cfg->data_dir, o->pos[0], cof_time_now_us(), &c);
    if (st) {
        cof_cli_fail(st, "acl view");
        return 1;
    }
    print_change(c, o->json);
    cof_change_free(c);
    return 0;
}

static int cmd_show(const cof_config *cfg, const opts *o)
{
    (void)o;
    cof_access *a = NULL;
    char *s = NULL;
    size_t n = 0;
    cof_status st = cof_access_load(cfg->data_dir, &a);
    if (!st)
        st = cof_access_dump(a, &s, &n);
    cof_access_free(a);
    if (st) {
        cof_cli_fail(st, "acl show");
        return 1;
    }
    fwrite(s, 1, n, stdout);
    free(s);
    return 0;
}

static int cmd_bootstrap(const cof_config *cfg, const opts *o)
{
    if (!o->admins || !o->token_dir) {
        fprintf(stderr, "coffer acl bootstrap: --admins NAME[,NAME] and --token-dir DIR are "
                "required\n");
        return 2;
    }
    return cof_cmd_acl_bootstrap(cfg, o->admins, o->token_dir, o->single_admin, 0);
}

int cof_cmd_acl(const cof_config *cfg, int argc, char **argv)
{
    if (argc < 1 || !strcmp(argv[0], "--help") || !strcmp(argv[0], "-h")) {
        fputs(usage_acl, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    const char *sub = argv[0];
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_acl, stdout);
            return 0;
        }
    opts o;
    if (!parse_opts("acl", argc - 1, argv + 1, &o, 1))
        return 2;
    if (!strcmp(sub, "propose"))
        return cmd_propose(cfg, &o);
    if (!strcmp(sub, "grant"))
        return cmd_edit(cfg, &o, 1);
    if (!strcmp(sub, "revoke"))
        return cmd_edit(cfg, &o, 0);
    if (!strcmp(sub, "approve"))
        return cmd_vote(cfg, &o, 1);
    if (!strcmp(sub, "reject"))
        return cmd_vote(cfg, &o, 0);
    if (!strcmp(sub, "suspend"))
        return cmd_suspend(cfg, &o);
    if (!strcmp(sub, "list"))
        return cmd_list(cfg, &o);
    if (!strcmp(sub, "view"))
        return cmd_view(cfg, &o);
    if (!strcmp(sub, "show"))
        return cmd_show(cfg, &o);
    if (!strcmp(sub, "bootstrap"))
        return cmd_bootstrap(cfg, &o);
    fprintf(stderr, "coffer acl: unknown subcommand (try --help)\n");
    return 2;
}

int cof_cmd_lockdown(const cof_config *cfg, int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_lockdown, stdout);
            return 0;
        }
    int lift = argc > 0 && !strcmp(argv[0], "lift");
    int status = argc > 0 && !strcmp(argv[0], "status");
    opts o;
    if (!parse_opts("lockdown", argc - (lift || status), argv + (lift || status), &o, 0))
        return 2;
    if (status) {
        cof_access *a = NULL;
        cof_status st = cof_access_load(cfg->data_dir, &a);
        if (st) {
            cof_cli_fail(st, "lockdown status");
            return 1;
        }
        char b[40];
        if (a->gov.lockdown_since)
            printf("lockdown in force since %s, declared by %s: %s\n",
                   tfmt(a->gov.lockdown_since, b, sizeof b), a->gov.lockdown_by,
                   a->gov.lockdown_reason);
        else
            printf("no lockdown\n");
        cof_access_free(a);
        return 0;
    }
    if (!lift && !o.reason) {
        fprintf(stderr, "coffer lockdown: --reason TEXT is required (it goes to the alert and "
                "the audit trail)\n");
        return 2;
    }
    char who[COF_MAX_PRINCIPAL_NAME + 1];
    if (!who_am_i(cfg, &o, who))
        return 1;
    cof_change *c = NULL;
    int64_t now = cof_time_now_us();
    cof_status st = lift ? cof_change_lift(cfg, who, o.reason, now, &c)
                         : cof_change_lockdown(cfg, who, o.reason, now, &c);
    return finish(cfg, st, c, lift ? "proposed" : "applied", who,
                  lift ? "lockdown.lift" : "lockdown", NULL, o.json);
}
