/* token_cli.c - `coffer token create|list|revoke` (docs/ACCESS.md).
 *
 * create writes the grant into DATA_DIR/access.json first (under DATA_DIR/access.lock,
 * so concurrent creators never lose each other's principals), then the token. If the
 * second step fails, a grant without any credential is left, which authorises nobody.
 * The default principal name is "tok-" plus 16 fresh random hex digits (not the token
 * id, which does not exist until the token does). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "access.h"
#include "cli.h"
#include "config.h"
#include "fsutil.h"
#include "ident.h"
#include "alert.h"
#include "keyring.h"
#include "timefmt.h"

static const char usage_token[] =
    "usage: coffer token create --principal NAME [--expires 30d|RFC3339] [--out FILE]\n"
    "       coffer token list [--json]\n"
    "       coffer token revoke ID\n"
    "       (create and revoke act as you: --token-file FILE or COFFER_TOKEN_FILE)\n"
    "\n"
    "API tokens authenticate requests to `coffer serve` (docs/ACCESS.md).\n";

static const char usage_create[] =
    "usage: coffer token create --principal NAME [--expires 30d|RFC3339] [--out FILE]\n"
    "                           [--token-file ADMIN_TOKEN_FILE]\n"
    "\n"
    "Issues a credential for a principal that an approved access change introduced\n"
    "(`coffer acl grant`, docs/GOVERNANCE.md): tokens never carry access of their own, so\n"
    "creating one cannot widen access. Only an administrator may create tokens; the\n"
    "creation is recorded in the audit trail and raises a token.created alert.\n"
    "The token is printed ONCE on stdout (only the token and a newline), or written to\n"
    "FILE (created with mode 0600; never overwritten). Only a keyed hash is stored.\n"
    "\n"
    "  --principal NAME  an existing principal of access.json with at least one live grant\n"
    "  --expires E       a duration from now (30d, 12h) or an RFC 3339 time; default 30d;\n"
    "                    tokens always expire\n"
    "  --out FILE        write the token to FILE (mode 0600) instead of stdout\n"
    "  --token-file F    your own (administrator's) token; or COFFER_TOKEN_FILE\n";

static const char usage_list[] =
    "usage: coffer token list [--json]\n"
    "\n"
    "Lists every token: id, principal, its grants from access.json, created, expires,\n"
    "state (live, expired, revoked). Never shows a secret.\n";

static const char usage_revoke[] =
    "usage: coffer token revoke ID\n"
    "\n"
    "Revokes the token with this id (the 16 hex digits after \"cof_\"). Takes effect at\n"
    "once: a running server re-reads tokens.json on its next request.\n";

static int is_help(const char *a) { return !strcmp(a, "--help") || !strcmp(a, "-h"); }

/* Open the keyring and derive the token-hash subkey into sodium_malloc memory. */
static cof_status open_tokens(const cof_config *cfg, cof_tokens **out)
{
    cof_keyring *k = NULL;
    uint8_t *key = sodium_malloc(COF_KEY_LEN);
    cof_status st;
    if (!key)
        return COF_ERR(COF_NOMEM, "key memory");
    if ((st = cof_keyring_open(cfg->data_dir, cfg->key_file, &k)) ||
        (st = cof_keyring_subkey(k, "token-hash", key)))
        goto out;
    st = cof_tokens_open(cfg->data_dir, key, out);
out:
    sodium_free(key);
    cof_keyring_close(k);
    return st;
}

static cof_status lock_access(const cof_config *cfg, int *fd)
{
    char path[4200];
    int w = snprintf(path, sizeof path, "%s/access.lock", cfg->data_dir);
    if (w < 0 || (size_t)w >= sizeof path)
        return COF_ERR(COF_LIMIT, "data directory path too long");
    return cof_fs_lock(path, fd);
}

/* "never" -> 0; a duration -> now + d; else a strict-enough absolute time in the future. */
static int parse_expires(const char *s, int64_t now, int64_t *out)
{
    int64_t d;
    if (!strcmp(s, "never")) {
        *out = 0;
        return 1;
    }
    if (cof_duration_parse(cof_str_c(s), &d) == COF_OK) {
        *out = now + d;
        return 1;
    }
    if (strlen(s) >= 20 && s[10] == 'T' && cof_time_parse(cof_str_c(s), now, &d) == COF_OK) {
        if (d <= now) {
            fprintf(stderr, "coffer token create: --expires is in the past\n");
            return 0;
        }
        *out = d;
        return 1;
    }
    fprintf(stderr, "coffer token create: bad --expires (use 30d, 12h, never, or an RFC 3339 "
            "time like 2026-12-31T00:00:00Z)\n");
    return 0;
}

static const char *fmt_time(int64_t us, char *buf, size_t cap)
{
    return us ? cof_time_format_sec(us, buf, cap) : "never";
}

/* Audit a token event and raise its alert (never the secret: the id only). */
static void token_record(const cof_config *cfg, const char *who, const char *action,
                         const char *kind, const char *principal, const char *id, int64_t expires)
{
    char eb[40];
    json_t *p = json_pack("{s:s,s:s,s:s}", "token", id, "for", principal, "expires",
                          fmt_time(expires, eb, sizeof eb));
    char *pj = p ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    if (cof_cli_audit(cfg, who, action, pj, "ok", NULL, 0, 0, NULL) != COF_OK)
        fprintf(stderr, "coffer token: warning: not recorded in the audit trail: %s\n",
                cof_err_msg());
    cof_alerts *al = NULL;
    if (cof_cli_alerts_open(cfg, &al) == COF_OK) {
        char sum[200];
        snprintf(sum, sizeof sum, "%s token %s for principal %s", !strcmp(kind, "token.created") ?
                 "created" : "revoked", id, principal);
        if (cof_alert_raise(al, kind, COF_SEV_MEDIUM, sum, pj) != COF_OK)
            fprintf(stderr, "coffer token: warning: alert not queued\n");
        cof_cli_alerts_close(al);
    }
    free(pj);
}

/* The caller must be an administrator (identified by its own token). */
static int admin_caller(const cof_config *cfg, const char *token_file, const char *cmd,
                        char who[COF_MAX_PRINCIPAL_NAME + 1])
{
    cof_access *a = NULL;
    int64_t now = cof_time_now_us();
    cof_status st = cof_ident_token_file(cfg, token_file, now, &a, who);
    if (st) {
        cof_cli_fail(st, cmd);
        return 0;
    }
    int ok = (cof_access_any_perms(a, cof_access_find(a, who), now) & COF_PERM_ADMIN) != 0;
    cof_access_free(a);
    if (!ok)
        fprintf(stderr, "coffer %s: %s is not an administrator\n", cmd, who);
    return ok;
}

static int cmd_create(const cof_config *cfg, int argc, char **argv)
{
    const char *principal = NULL, *expires_s = "30d", *out_file = NULL, *token_file = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(usage_create, stdout);
            return 0;
        }
        if (!strcmp(a, "--role") || !strcmp(a, "--tenant")) {
            fprintf(stderr, "coffer token create: %s is gone: grants are access changes under "
                    "review (coffer acl grant PRINCIPAL --role R --tenant T, then another "
                    "administrator approves); token create only issues a credential\n", a);
            return 2;
        }
        const char **dst = !strcmp(a, "--principal") ? &principal
                         : !strcmp(a, "--expires") ? &expires_s : !strcmp(a, "--out") ? &out_file
                         : !strcmp(a, "--token-file") ? &token_file : NULL;
        if (!dst) {
            fprintf(stderr, "coffer token create: unknown option %s (try --help)\n", a);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "coffer token create: %s needs a value\n", a);
            return 2;
        }
        *dst = argv[++i];
    }
    if (!principal) {
        fprintf(stderr, "coffer token create: --principal NAME is required (try --help)\n");
        return 2;
    }
    int rc = 2, ofd = -1, out_made = 0;
    cof_access *a = NULL;
    cof_tokens *t = NULL;
    char *tok = NULL;
    char who[COF_MAX_PRINCIPAL_NAME + 1];
    int64_t now = cof_time_now_us(), expires = 0;
    cof_status st;
    if (!parse_expires(expires_s, now, &expires))
        goto out;
    if (!expires) {
        fprintf(stderr, "coffer token create: tokens always expire (give a duration or a time)\n");
        goto out;
    }
    rc = 1;
    if (!admin_caller(cfg, token_file, "token create", who))
        goto out;
    if ((st = cof_access_load(cfg->data_dir, &a))) {
        cof_cli_fail(st, "token create");
        goto out;
    }
    const cof_principal *p = cof_access_find(a, principal);
    if (!p || !cof_access_any_perms(a, p, now)) {
        fprintf(stderr, "coffer token create: %s has no live grant in access.json; introduce it "
                "with an approved change first (coffer acl grant ...)\n",
                p ? principal : "this principal");
        goto out;
    }
    if (p->suspended)
        fprintf(stderr, "coffer token create: warning: principal %s is suspended; the token "
                "gives nothing until it is reinstated\n", principal);
    /* Claim the output file first, so an existing file stops us before anything is made. */
    if (out_file) {
        if ((st = cof_fs_open(out_file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600, &ofd))) {
            cof_cli_fail(st, "token create: --out");
            goto out;
        }
        out_made = 1;
        if (fchmod(ofd, 0600) != 0 ||
            (st = cof_fs_check_private(ofd, out_file, "token output file", 0600))) {
            cof_cli_fail(st, "token create: --out");
            goto out;
        }
    }
    if (!(tok = sodium_malloc(COF_TOKEN_STRLEN + 2))) {
        fprintf(stderr, "coffer token create: out of memory\n");
        goto out;
    }
    if ((st = open_tokens(cfg, &t))) {
        cof_cli_fail(st, "token create");
        goto out;
    }
    cof_token_info info;
    if ((st = cof_tokens_create(t, principal, expires, tok, &info))) {
        cof_cli_fail(st, "token create");
        goto out;
    }
    tok[COF_TOKEN_STRLEN] = '\n';
    if (ofd >= 0) {
        if ((st = cof_fs_write_all(ofd, tok, COF_TOKEN_STRLEN + 1, out_file)) ||
            (st = cof_fs_fsync(ofd, out_file)) || (st = cof_fs_close(ofd, out_file))) {
            ofd = -1;
            cof_cli_fail(st, "token create: writing --out (revoke the token)");
            goto out;
        }
        ofd = -1;
        out_made = 0; /* keep it */
    } else {
        if (fwrite(tok, 1, COF_TOKEN_STRLEN + 1, stdout) != COF_TOKEN_STRLEN + 1 ||
            fflush(stdout) != 0) {
            fprintf(stderr, "coffer token create: writing the token to stdout failed; revoke "
                    "token %s\n", info.id);
            goto out;
        }
    }
    char eb[40];
    fprintf(stderr, "created token %s for principal %s, expires %s%s%s. It is shown once; store "
            "it in a 0600 file.\n", info.id, principal, fmt_time(expires, eb, sizeof eb),
            out_file ? "; written to " : "", out_file ? out_file : "");
    token_record(cfg, who, "token.create", "token.created", principal, info.id, expires);
    rc = 0;
out:
    if (ofd >= 0)
        (void)close(ofd);
    if (out_made)
        (void)unlink(out_file);
    if (tok)
        sodium_free(tok);
    cof_tokens_close(t);
    cof_access_free(a);
    return rc;
}

/* "support:acme,beta; analyst:*" for the principal (expired grants marked). */
static void grants_str(const cof_access *a, const char *principal, int64_t now, char *buf,
                       size_t cap)
{
    size_t off = 0;
    buf[0] = 0;
    const cof_principal *p = a ? cof_access_find(a, principal) : NULL;
    if (!p) {
        snprintf(buf, cap, "(no grants)");
        return;
    }
    for (uint32_t g = 0; g < p->ngrants && off + 1 < cap; g++) {
        const cof_grant *gr = &p->grants[g];
        int w = snprintf(buf + off, cap - off, "%s%s:", g ? "; " : "", cof_role_name(gr->role));
        if (w < 0 || (size_t)w >= cap - off)
            break;
        off += (size_t)w;
        for (uint32_t i = 0; i < gr->ntenants; i++) {
            w = snprintf(buf + off, cap - off, "%s%s", i ? "," : "", gr->tenants[i]);
            if (w < 0 || (size_t)w >= cap - off)
                return;
            off += (size_t)w;
        }
        if (gr->expires && now >= gr->expires) {
            w = snprintf(buf + off, cap - off, " (expired)");
            if (w < 0 || (size_t)w >= cap - off)
                return;
            off += (size_t)w;
        }
    }
    if (p->suspended && off + 1 < cap)
        snprintf(buf + off, cap - off, " [suspended]");
}

static const char *state_of(const cof_token_info *ti, int64_t now)
{
    return ti->revoked ? "revoked" : (ti->expires && now >= ti->expires) ? "expired" : "live";
}

static int cmd_list(const cof_config *cfg, int argc, char **argv)
{
    int json = 0;
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(usage_list, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--json")) {
            json = 1;
            continue;
        }
        fprintf(stderr, "coffer token list: unknown option %s (try --help)\n", argv[i]);
        return 2;
    }
    cof_tokens *t = NULL;
    cof_access *a = NULL;
    cof_token_info *ti = NULL;
    size_t n = 0;
    int rc = 1;
    int64_t now = cof_time_now_us();
    cof_status st = open_tokens(cfg, &t);
    if (st || (st = cof_tokens_list(t, &ti, &n))) {
        cof_cli_fail(st, "token list");
        goto out;
    }
    st = cof_access_load(cfg->data_dir, &a);
    if (st && st != COF_NOTFOUND) {
        cof_cli_fail(st, "token list: access.json");
        goto out;
    }
    char cb[40], eb[40];
    if (json) {
        json_t *arr = json_array();
        for (size_t i = 0; arr && i < n; i++) {
            json_t *o = json_object(), *ga = json_array();
            const cof_principal *p = a ? cof_access_find(a, ti[i].principal) : NULL;
            for (uint32_t g = 0; p && ga && g < p->ngrants; g++) {
                json_t *go = json_object(), *ta = json_array();
                for (uint32_t k = 0; ta && k < p->grants[g].ntenants; k++)
                    json_array_append_new(ta, json_string(p->grants[g].tenants[k]));
                json_object_set_new(go, "role", json_string(cof_role_name(p->grants[g].role)));
                json_object_set_new(go, "tenants", ta);
                if (p->grants[g].expires)
                    json_object_set_new(go, "expires",
                                        json_string(fmt_time(p->grants[g].expires, eb, sizeof eb)));
                json_array_append_new(ga, go);
            }
            json_object_set_new(o, "id", json_string(ti[i].id));
            json_object_set_new(o, "principal", json_string(ti[i].principal));
            json_object_set_new(o, "suspended", json_boolean(p && p->suspended));
            json_object_set_new(o, "grants", ga);
            json_object_set_new(o, "created", json_string(fmt_time(ti[i].created, cb, sizeof cb)));
            json_object_set_new(o, "expires", ti[i].expires ? json_string(fmt_time(ti[i].expires,
                                eb, sizeof eb)) : json_null());
            if (ti[i].revoked)
                json_object_set_new(o, "revoked", json_string(fmt_time(ti[i].revoked, eb,
                                                                       sizeof eb)));
            json_object_set_new(o, "state", json_string(state_of(&ti[i], now)));
            json_array_append_new(arr, o);
        }
        char *s = arr ? json_dumps(arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        json_decref(arr);
        if (!s) {
            fprintf(stderr, "coffer token list: out of memory\n");
            goto out;
        }
        puts(s);
        free(s);
    } else {
        printf("%-16s  %-24s  %-20s  %-20s  %-7s  %s\n", "ID", "PRINCIPAL", "CREATED", "EXPIRES",
               "STATE", "GRANTS");
        for (size_t i = 0; i < n; i++) {
            char gb[512];
            grants_str(a, ti[i].principal, now, gb, sizeof gb);
            printf("%-16s  %-24s  %-20s  %-20s  %-7s  %s\n", ti[i].id, ti[i].principal,
                   fmt_time(ti[i].created, cb, sizeof cb), fmt_time(ti[i].expires, eb, sizeof eb),
                   state_of(&ti[i], now), gb);
        }
    }
    rc = fflush(stdout) == 0 ? 0 : 1;
out:
    free(ti);
    cof_access_free(a);
    cof_tokens_close(t);
    return rc;
}

static int cmd_revoke(const cof_config *cfg, int argc, char **argv)
{
    const char *id = NULL, *token_file = NULL;
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(usage_revoke, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--token-file") && i + 1 < argc) {
            token_file = argv[++i];
            continue;
        }
        if (argv[i][0] == '-' || id) {
            fprintf(stderr, "coffer token revoke: unexpected argument (usage: coffer token revoke "
                    "ID)\n");
            return 2;
        }
        id = argv[i];
    }
    if (!id) {
        fprintf(stderr, "coffer token revoke: which token? (usage: coffer token revoke ID)\n");
        return 2;
    }
    /* Accept a whole token too, but only ever use (and echo) its id part. */
    char idb[COF_TOKEN_IDLEN + 1];
    size_t l = strlen(id);
    if (l == COF_TOKEN_STRLEN && !strncmp(id, "cof_", 4)) {
        memcpy(idb, id + 4, COF_TOKEN_IDLEN);
        idb[COF_TOKEN_IDLEN] = 0;
        id = idb;
        l = COF_TOKEN_IDLEN;
    }
    int okid = l == COF_TOKEN_IDLEN;
    for (size_t i = 0; okid && i < l; i++)
        okid = (id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f');
    if (!okid) {
        fprintf(stderr, "coffer token revoke: a token id is 16 lowercase hex digits (see coffer "
                "token list)\n");
        return 2;
    }
    cof_tokens *t = NULL;
    int rc = 1;
    char who[COF_MAX_PRINCIPAL_NAME + 1];
    /* Revoking narrows access, so any administrator may do it alone, at once. */
    if (!admin_caller(cfg, token_file, "token revoke", who))
        return 1;
    cof_status st = open_tokens(cfg, &t);
    if (st) {
        cof_cli_fail(st, "token revoke");
        goto out;
    }
    if ((st = cof_tokens_revoke(t, id, cof_time_now_us()))) {
        if (st == COF_NOTFOUND)
            fprintf(stderr, "coffer token revoke: no token with id %s (see coffer token list)\n",
                    id);
        else
            cof_cli_fail(st, "token revoke");
        goto out;
    }
    fprintf(stderr, "revoked token %s\n", id);
    {
        cof_token_info *ti = NULL;
        size_t n = 0;
        const char *pr = "?";
        if (cof_tokens_list(t, &ti, &n) == COF_OK)
            for (size_t i = 0; i < n; i++)
                if (!strcmp(ti[i].id, id))
                    pr = ti[i].principal;
        token_record(cfg, who, "token.revoke", "token.revoked", pr, id, 0);
        free(ti);
    }
    rc = 0;
out:
    cof_tokens_close(t);
    return rc;
}

/* The first administrators (`coffer init --admins`, `coffer acl bootstrap`): allowed
 * only while no administrator exists, because nobody could review them. Two or more by
 * default; one only with an explicit single-admin setting, which `coffer check`
 * reports. Each gets an admin grant on every tenant and a token (365 days) in
 * token_dir/NAME.token (0600, never overwritten). */
int cof_cmd_acl_bootstrap(const cof_config *cfg, const char *admins, const char *token_dir,
                          int single_admin, int quiet)
{
    char names[8][COF_MAX_PRINCIPAL_NAME + 1];
    uint32_t n = 0;
    for (const char *p = admins; *p;) {
        const char *c = strchr(p, ',');
        size_t l = c ? (size_t)(c - p) : strlen(p);
        if (n >= 8 || l < 1 || l > COF_MAX_PRINCIPAL_NAME) {
            fprintf(stderr, "coffer: --admins: 1..8 names of 1..%d characters, comma-separated\n",
                    COF_MAX_PRINCIPAL_NAME);
            return 2;
        }
        memcpy(names[n], p, l);
        names[n][l] = 0;
        for (size_t i = 0; i < l; i++) {
            char ch = names[n][i];
            if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                  ch == '.' || ch == '_' || ch == '@' || ch == '-')) {
                fprintf(stderr, "coffer: --admins: names are A-Za-z0-9._@-\n");
                return 2;
            }
        }
        for (uint32_t i = 0; i < n; i++)
            if (!strcmp(names[i], names[n])) {
                fprintf(stderr, "coffer: --admins: a name is given twice\n");
                return 2;
            }
        n++;
        p += l + (c ? 1 : 0);
    }
    if (n == 0 || (n == 1 && !single_admin)) {
        fprintf(stderr, "coffer: one administrator cannot pass the two-person rule: name two "
                "(--admins alice,bob), or pass --single-admin to run with one (coffer check "
                "reports it)\n");
        return 2;
    }
    int lfd = -1, rc = 1;
    cof_access *a = NULL;
    cof_tokens *t = NULL;
    char *tok = NULL;
    int64_t now = cof_time_now_us(), expires = now + 365LL * 86400 * 1000000;
    cof_status st;
    if ((st = cof_fs_mkdir_p(token_dir, 0700)) || (st = lock_access(cfg, &lfd)))
        goto fail;
    st = cof_access_load(cfg->data_dir, &a);
    if (st == COF_NOTFOUND)
        st = cof_access_new(&a);
    if (st)
        goto fail;
    if (cof_access_admins(a, now) > 0) {
        fprintf(stderr, "coffer: administrators exist already; more are added by a reviewed "
                "change: coffer acl grant NAME --role admin --tenant '*'\n");
        goto out;
    }
    for (uint32_t i = 0; i < n; i++) {
        char path[4400];
        int w = snprintf(path, sizeof path, "%s/%s.token", token_dir, names[i]);
        if (w < 0 || (size_t)w >= sizeof path || access(path, F_OK) == 0) {
            fprintf(stderr, "coffer: %s/%s.token exists or the path is too long; choose another "
                    "--token-dir\n", token_dir, names[i]);
            goto out;
        }
    }
    const char *star = "*";
    for (uint32_t i = 0; i < n; i++) {
        cof_principal *p;
        if ((st = cof_access_upsert(a, names[i], &p)) ||
            (st = cof_access_add_grant(p, COF_ROLE_ADMIN, &star, 1, 0)))
            goto fail;
    }
    if (single_admin && n == 1) {
        a->gov.single_admin = 1;
        a->gov.approvals = 1;
    }
    a->version++;
    a->updated = now;
    if ((st = cof_access_save(a, cfg->data_dir)))
        goto fail;
    (void)close(lfd);
    lfd = -1;
    if (!(tok = sodium_malloc(COF_TOKEN_STRLEN + 2)) || (st = open_tokens(cfg, &t)))
        goto fail;
    for (uint32_t i = 0; i < n; i++) {
        char path[4400];
        cof_token_info info;
        snprintf(path, sizeof path, "%s/%s.token", token_dir, names[i]);
        if ((st = cof_tokens_create(t, names[i], expires, tok, &info)))
            goto fail;
        tok[COF_TOKEN_STRLEN] = '\n';
        if ((st = cof_fs_create_atomic(path, tok, COF_TOKEN_STRLEN + 1, 0600)))
            goto fail;
        if (!quiet)
            printf("administrator %s: token %s written to %s (expires in 365 days)\n", names[i],
                   info.id, path);
        token_record(cfg, names[i], "token.create", "token.created", names[i], info.id, expires);
    }
    {
        json_t *pj = json_pack("{s:s,s:i,s:b}", "admins", admins, "count", (int)n, "single_admin",
                               single_admin && n == 1);
        char *ps = pj ? json_dumps(pj, JSON_COMPACT) : NULL;
        json_decref(pj);
        if (cof_cli_audit(cfg, "-", "acl.bootstrap", ps, "ok", NULL, 0, 0, NULL) != COF_OK)
            fprintf(stderr, "coffer: warning: bootstrap not recorded in the audit trail\n");
        cof_alerts *al = NULL;
        if (cof_cli_alerts_open(cfg, &al) == COF_OK) {
            if (cof_alert_raise(al, "acl.bootstrap", COF_SEV_HIGH,
                                "first administrators created", ps) != COF_OK)
                fprintf(stderr, "coffer: warning: alert not queued\n");
            cof_cli_alerts_close(al);
        }
        free(ps);
    }
    rc = 0;
    goto out;
fail:
    cof_cli_fail(st, "bootstrap");
out:
    if (lfd >= 0)
        (void)close(lfd);
    if (tok)
        sodium_free(tok);
    cof_tokens_close(t);
    cof_access_free(a);
    return rc;
}

int cof_cmd_token(const cof_config *cfg, int argc, char **argv)
{
    if (argc < 1) {
        fputs(usage_token, stderr);
        return 2;
    }
    if (is_help(argv[0]) || !strcmp(argv[0], "help")) {
        fputs(usage_token, stdout);
        return 0;
    }
    if (!strcmp(argv[0], "create"))
        return cmd_create(cfg, argc - 1, argv + 1);
    if (!strcmp(argv[0], "list"))
        return cmd_list(cfg, argc - 1, argv + 1);
    if (!strcmp(argv[0], "revoke"))
        return cmd_revoke(cfg, argc - 1, argv + 1);
    fprintf(stderr, "coffer token: unknown subcommand '%s' (create, list or revoke)\n",
            strlen(argv[0]) <= 32 ? argv[0] : "...");
    return 2;
}
