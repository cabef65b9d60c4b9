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
#include "keyring.h"
#include "timefmt.h"

static const char usage_token[] =
    "usage: coffer token create --role ROLE --tenant T[,T...] [--principal NAME]\n"
    "                           [--expires 30d|never|RFC3339] [--out FILE]\n"
    "       coffer token list [--json]\n"
    "       coffer token revoke ID\n"
    "\n"
    "API tokens authenticate requests to `coffer serve` (docs/ACCESS.md).\n";

static const char usage_create[] =
    "usage: coffer token create --role ROLE --tenant T[,T...] [--principal NAME]\n"
    "                           [--expires 30d|never|RFC3339] [--out FILE]\n"
    "\n"
    "Grants ROLE on the tenants to the principal in DATA_DIR/access.json (adding the\n"
    "principal if needed; default name tok-<random hex>) and creates a token for it.\n"
    "The token is printed ONCE on stdout (only the token and a newline), or written to\n"
    "FILE (created with mode 0600; never overwritten). Only a keyed hash is stored.\n"
    "\n"
    "  --role ROLE       ingest, support, analyst, auditor, admin, customer or metrics\n"
    "  --tenant T,...    tenant names, or * for every tenant (customer: exactly one, no *)\n"
    "  --principal NAME  1..64 of A-Za-z0-9._@- (default tok-<16 random hex>)\n"
    "  --expires E       a duration from now (30d, 12h), never, or an RFC 3339 time;\n"
    "                    default 30d. The grant expires with the token.\n"
    "  --out FILE        write the token to FILE (mode 0600) instead of stdout\n";

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
    cof_status st = cof_fs_open(path, O_RDWR | O_CREAT | O_NOFOLLOW, 0600, fd);
    if (st)
        return st;
    while (flock(*fd, LOCK_EX) != 0) {
        if (errno == EINTR)
            continue;
        st = COF_ERRNO("flock %s", path);
        (void)close(*fd);
        *fd = -1;
        return st;
    }
    return COF_OK;
}

/* Split "a,b,c" into at most COF_MAX_GRANT_TENANTS names (pointers into buf, which is
 * modified). 0 on a usage error (message printed). */
static int split_tenants(char *buf, const char **out, uint32_t *n)
{
    *n = 0;
    for (char *p = buf;;) {
        char *c = strchr(p, ',');
        if (c)
            *c = 0;
        if (*n >= COF_MAX_GRANT_TENANTS) {
            fprintf(stderr, "coffer token create: more than %d tenants\n", COF_MAX_GRANT_TENANTS);
            return 0;
        }
        if (!(strcmp(p, "*") == 0 || cof_tenant_name_valid(cof_str_c(p)))) {
            fprintf(stderr, "coffer token create: invalid tenant name in --tenant (1..%d of "
                    "A-Za-z0-9._-, or *)\n", COF_MAX_TENANT_NAME);
            return 0;
        }
        for (uint32_t i = 0; i < *n; i++)
            if (strcmp(out[i], p) == 0) {
                fprintf(stderr, "coffer token create: a tenant is named twice in --tenant\n");
                return 0;
            }
        out[(*n)++] = p;
        if (!c)
            break;
        p = c + 1;
    }
    return 1;
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
    if (!us)
        return "never";
    cof_time_format(us, buf, cap);
    /* Whole seconds are enough for people: drop ".ffffff". */
    char *dot = strchr(buf, '.');
    if (dot) {
        dot[0] = 'Z';
        dot[1] = 0;
    }
    return buf;
}

static int cmd_create(const cof_config *cfg, int argc, char **argv)
{
    const char *role_s = NULL, *tenant_s = NULL, *principal = NULL, *expires_s = "30d";
    const char *out_file = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(usage_create, stdout);
            return 0;
        }
        const char **dst = !strcmp(a, "--role") ? &role_s : !strcmp(a, "--tenant") ? &tenant_s
                         : !strcmp(a, "--principal") ? &principal
                         : !strcmp(a, "--expires") ? &expires_s : !strcmp(a, "--out") ? &out_file
                         : NULL;
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
    if (!role_s || !tenant_s) {
        fprintf(stderr, "coffer token create: --role and --tenant are required (try --help)\n");
        return 2;
    }
    cof_role role;
    if (cof_role_parse(cof_str_c(role_s), &role) != COF_OK) {
        fprintf(stderr, "coffer token create: unknown role '%s' (use ingest, support, analyst, "
                "auditor, admin, customer or metrics)\n",
                strlen(role_s) <= 32 ? role_s : "...");
        return 2;
    }
    size_t tl = strlen(tenant_s);
    if (tl > COF_MAX_GRANT_TENANTS * (COF_MAX_TENANT_NAME + 1)) {
        fprintf(stderr, "coffer token create: --tenant is too long\n");
        return 2;
    }
    char *tbuf = strdup(tenant_s);
    const char *tenants[COF_MAX_GRANT_TENANTS];
    uint32_t nt = 0;
    if (!tbuf) {
        fprintf(stderr, "coffer token create: out of memory\n");
        return 1;
    }
    int rc = 2, lfd = -1, ofd = -1, out_made = 0;
    cof_access *a = NULL;
    cof_tokens *t = NULL;
    char *tok = NULL;
    char pname[COF_MAX_PRINCIPAL_NAME + 1];
    int64_t now = cof_time_now_us(), expires = 0;
    cof_status st;
    if (!split_tenants(tbuf, tenants, &nt) || !parse_expires(expires_s, now, &expires))
        goto out;
    if (role == COF_ROLE_CUSTOMER && (nt != 1 || !strcmp(tenants[0], "*"))) {
        fprintf(stderr, "coffer token create: --role customer needs exactly one tenant, not *\n");
        goto out;
    }
    if (principal) {
        size_t pl = strlen(principal);
        int okp = pl >= 1 && pl <= COF_MAX_PRINCIPAL_NAME;
        for (size_t i = 0; okp && i < pl; i++) {
            char c = principal[i];
            okp = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '@' || c == '-';
        }
        if (!okp) {
            fprintf(stderr, "coffer token create: invalid --principal (1..%d of A-Za-z0-9._@-)\n",
                    COF_MAX_PRINCIPAL_NAME);
            goto out;
        }
        memcpy(pname, principal, pl + 1);
    } else {
        uint8_t rnd[8];
        randombytes_buf(rnd, sizeof rnd);
        memcpy(pname, "tok-", 4);
        sodium_bin2hex(pname + 4, sizeof pname - 4, rnd, sizeof rnd);
    }
    rc = 1;
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
    /* The grant, under the access lock: load (or start) the document, change, save. */
    if ((st = lock_access(cfg, &lfd))) {
        cof_cli_fail(st, "token create");
        goto out;
    }
    st = cof_access_load(cfg->data_dir, &a);
    if (st == COF_NOTFOUND)
        st = cof_access_new(&a);
    cof_principal *p = NULL;
    if (st || (st = cof_access_upsert(a, pname, &p)) ||
        (st = cof_access_add_grant(p, role, tenants, nt, expires))) {
        cof_cli_fail(st, "token create");
        goto out;
    }
    if (p->suspended)
        fprintf(stderr, "coffer token create: warning: principal %s is suspended; the token "
                "gives nothing until it is reinstated\n", pname);
    a->version++;
    a->updated = now;
    if ((st = cof_access_save(a, cfg->data_dir))) {
        cof_cli_fail(st, "token create: saving access.json");
        goto out;
    }
    (void)close(lfd);
    lfd = -1;
    cof_token_info info;
    if ((st = cof_tokens_create(t, pname, expires, tok, &info))) {
        cof_cli_fail(st, "token create (the grant was saved; it is harmless without a token)");
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
    char eb[40], tl_s[COF_MAX_GRANT_TENANTS * (COF_MAX_TENANT_NAME + 1) + 1];
    size_t off = 0;
    for (uint32_t i = 0; i < nt; i++) {
        size_t l = strlen(tenants[i]);
        if (i)
            tl_s[off++] = ',';
        memcpy(tl_s + off, tenants[i], l);
        off += l;
    }
    tl_s[off] = 0;
    json_t *ap = json_pack("{s:s,s:s,s:s}", "token", info.id, "principal", pname, "role",
                           cof_role_name(role));
    char *aps = ap ? json_dumps(ap, JSON_COMPACT) : NULL;
    json_decref(ap);
    st = aps ? cof_cli_audit(cfg, "token.create", aps, tenants, nt, "ok") : COF_NOMEM;
    free(aps);
    if (st) {
        cof_cli_fail(st, "token create: recording it in the audit trail (revoke the token)");
        goto out;
    }
    fprintf(stderr, "created token %s for principal %s: role %s on %s, expires %s%s%s. "
            "It is shown once; store it in a 0600 file.\n", info.id, pname, cof_role_name(role),
            tl_s, fmt_time(expires, eb, sizeof eb), out_file ? "; written to " : "",
            out_file ? out_file : "");
    rc = 0;
out:
    if (lfd >= 0)
        (void)close(lfd);
    if (ofd >= 0)
        (void)close(ofd);
    if (out_made)
        (void)unlink(out_file);
    if (tok)
        sodium_free(tok);
    cof_tokens_close(t);
    cof_access_free(a);
    free(tbuf);
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

/* For the audit record: the principal a token belongs to and its roles ("a,b"). */
static void revoked_owner(const cof_config *cfg, cof_tokens *t, const char *id, char *owner,
                          char *roles, size_t cap)
{
    cof_token_info *ti = NULL;
    cof_access *a = NULL;
    size_t n = 0;
    if (cof_tokens_list(t, &ti, &n) == COF_OK)
        for (size_t i = 0; i < n; i++)
            if (!strcmp(ti[i].id, id))
                snprintf(owner, COF_MAX_PRINCIPAL_NAME + 1, "%s", ti[i].principal);
    const cof_principal *p = NULL;
    if (cof_access_load(cfg->data_dir, &a) == COF_OK)
        p = cof_access_find(a, owner);
    for (uint32_t g = 0, off = 0; p && g < p->ngrants; g++) {
        int w = snprintf(roles + off, cap - off, "%s%s", off ? "," : "", cof_role_name(p->grants[g].role));
        if (w < 0 || (size_t)w >= cap - off)
            break;
        off += (uint32_t)w;
    }
    cof_err_clear();
    free(ti);
    cof_access_free(a);
}

static int cmd_revoke(const cof_config *cfg, int argc, char **argv)
{
    const char *id = NULL;
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(usage_revoke, stdout);
            return 0;
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
    cof_status st = open_tokens(cfg, &t);
    if (st) {
        cof_cli_fail(st, "token revoke");
        goto out;
    }
    char owner[COF_MAX_PRINCIPAL_NAME + 1] = "-", role[256] = "";
    revoked_owner(cfg, t, id, owner, role, sizeof role);
    if ((st = cof_tokens_revoke(t, id, cof_time_now_us()))) {
        if (st == COF_NOTFOUND)
            fprintf(stderr, "coffer token revoke: no token with id %s (see coffer token list)\n",
                    id);
        else
            cof_cli_fail(st, "token revoke");
        goto out;
    }
    fprintf(stderr, "revoked token %s\n", id);
    json_t *ap = json_pack("{s:s,s:s,s:s}", "token", id, "principal", owner, "role", role);
    char *aps = ap ? json_dumps(ap, JSON_COMPACT) : NULL;
    json_decref(ap);
    st = aps ? cof_cli_audit(cfg, "token.revoke", aps, NULL, 0, "ok") : COF_NOMEM;
    free(aps);
    if (st) {
        cof_cli_fail(st, "token revoke: recording it in the audit trail");
        goto out;
    }
    rc = 0;
out:
    cof_tokens_close(t);
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
