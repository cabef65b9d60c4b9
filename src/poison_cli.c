/* poison_cli.c - `coffer poison plant|list` (docs/POISON.md), and the inbound "data
 * has left" watch that file ingest runs when a poison registry exists. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "access.h"
#include "alert.h"
#include "cli.h"
#include "fsutil.h"
#include "ident.h"
#include "notice.h"
#include "poison.h"
#include "store.h"
#include "timefmt.h"

static const char usage_poison[] =
    "usage: coffer poison plant --tenant T --count N [--domain D] [--from T1] [--to T2]\n"
    "                           [--reveal FILE] [--token-file F]\n"
    "       coffer poison list [--json]\n"
    "\n"
    "Poison records are synthetic delivery events, indistinguishable from real ones once\n"
    "stored, to addresses nobody legitimately looks up. An answer that would contain one\n"
    "is withheld, its requester suspended and an alert raised; mail that reaches one\n"
    "later (file ingest) raises \"poison.left\". See docs/POISON.md.\n"
    "\n"
    "plant  adds N (1..10000) events for tenant T with times in [T1, T2) (default: the\n"
    "       last 7 days). --domain D puts the addresses in a domain you receive mail for\n"
    "       (recommended); otherwise domains follow the tenant's own traffic. The store\n"
    "       must not be open by another writer (stop coffer serve first).\n"
    "       --reveal FILE writes the planted addresses to a new file (mode 0600), e.g. to\n"
    "       route the poison domain to a mailbox; they are shown nowhere else.\n"
    "       --token-file F (or COFFER_TOKEN_FILE): act as that token's principal, which\n"
    "       needs the admin permission on T; without one the action is recorded as the\n"
    "       local operator's.\n"
    "list   the sets: id, tenant, kind (planted, watermark), owner, count, created.\n"
    "       Never addresses.\n";

static int is_help(const char *a) { return !strcmp(a, "--help") || !strcmp(a, "-h"); }

/* The caller: the token's principal (needs ADMIN on tenant), or the local operator. */
static int who(const cof_config *cfg, const char *token_file, const char *tenant, int64_t now,
               char principal[COF_MAX_PRINCIPAL_NAME + 1])
{
    const char *tf = cof_ident_token_path(token_file);
    if (!tf) {
        snprintf(principal, COF_MAX_PRINCIPAL_NAME + 1, "operator");
        return 1;
    }
    cof_access *acc = NULL;
    cof_status st = cof_ident_token_file(cfg, tf, now, &acc, principal);
    if (st) {
        cof_cli_fail(st, "poison");
        return 0;
    }
    const cof_principal *p = cof_access_find(acc, principal);
    int ok = p && (cof_access_perms(acc, p, tenant, now) & COF_PERM_ADMIN);
    cof_access_free(acc);
    if (!ok)
        fprintf(stderr, "coffer poison: %s lacks the admin permission on tenant %s\n", principal,
                tenant);
    return ok;
}

static int cmd_plant(const cof_config *cfg, int argc, char **argv)
{
    const char *tenant = NULL, *count_s = NULL, *domain = NULL, *from_s = "7d", *to_s = NULL;
    const char *reveal_path = NULL, *token_file = NULL;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (is_help(a)) {
            fputs(usage_poison, stdout);
            return 0;
        }
        const char **dst = !strcmp(a, "--tenant") ? &tenant : !strcmp(a, "--count") ? &count_s
                         : !strcmp(a, "--domain") ? &domain : !strcmp(a, "--from") ? &from_s
                         : !strcmp(a, "--to") ? &to_s : !strcmp(a, "--reveal") ? &reveal_path
                         : !strcmp(a, "--token-file") ? &token_file : NULL;
        if (!dst) {
            fprintf(stderr, "coffer poison plant: unknown option %s (try --help)\n", a);
            return 2;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "coffer poison plant: %s needs a value\n", a);
            return 2;
        }
        *dst = argv[++i];
    }
    uint64_t count;
    int64_t now = cof_time_now_us(), since, until = now;
    if (!tenant || !count_s) {
        fprintf(stderr, "coffer poison plant: --tenant and --count are required (try --help)\n");
        return 2;
    }
    if (!cof_str_to_u64(cof_str_c(count_s), COF_MAX_POISON_PLANT, &count) || count == 0) {
        fprintf(stderr, "coffer poison plant: --count takes 1..%u\n", COF_MAX_POISON_PLANT);
        return 2;
    }
    if (cof_time_parse(cof_str_c(from_s), now, &since) ||
        (to_s && cof_time_parse(cof_str_c(to_s), now, &until))) {
        fprintf(stderr, "coffer poison plant: %s\n", cof_err_msg());
        return 2;
    }
    char principal[COF_MAX_PRINCIPAL_NAME + 1];
    if (!who(cfg, token_file, tenant, now, principal))
        return 1;
    int rfd = -1, rc = 1;
    cof_store *s = NULL;
    cof_poison *p = NULL;
    cof_buf reveal;
    cof_buf_init(&reveal, (size_t)COF_MAX_POISON_PLANT * (COF_MAX_ADDR + 1));
    char set_id[COF_POISON_IDLEN + 1];
    cof_status st;
    /* The reveal file first: fail before planting if it exists. */
    if (reveal_path &&
        (st = cof_fs_open(reveal_path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600, &rfd))) {
        cof_cli_fail(st, "poison plant: --reveal");
        goto out;
    }
    if ((st = cof_store_open(cfg, COF_STORE_WRITE, &s))) {
        cof_cli_fail(st, "poison plant (stop coffer serve first: planting needs the store's "
                         "writer lock)");
        goto out;
    }
    if ((st = cof_poison_open(cfg->data_dir, cof_store_keyring(s), &p)) ||
        (st = cof_poison_plant(p, s, tenant, (uint32_t)count, domain, since, until,
                               reveal_path ? &reveal : NULL, set_id))) {
        cof_cli_fail(st, "poison plant");
        goto out;
    }
    if (rfd >= 0 && ((st = cof_fs_write_all(rfd, reveal.p, reveal.n, reveal_path)) ||
                     (st = cof_fs_fsync(rfd, reveal_path)))) {
        cof_cli_fail(st, "poison plant: --reveal");
        goto out;
    }
    char params[400], details[400], summary[300];
    snprintf(params, sizeof params, "{\"tenant\":\"%s\",\"count\":%" PRIu64 ",\"set\":\"%s\"%s}",
             tenant, count, set_id, domain ? ",\"domain\":true" : "");
    snprintf(details, sizeof details, "{\"tenant\":\"%s\",\"count\":%" PRIu64 ",\"set\":\"%s\","
             "\"by\":\"%s\"}", tenant, count, set_id, principal);
    snprintf(summary, sizeof summary, "%s planted %" PRIu64 " poison records in tenant %s (set %s)",
             principal, count, tenant, set_id);
    const char *tenants[1] = { tenant };
    cof_notice n = { principal, "poison.plant", params, "ok", tenants, 1, count,
                     "poison.planted", COF_SEV_INFO, summary, details };
    cof_status cst = cof_store_close(s);
    s = NULL;
    if (cst) {
        cof_cli_fail(cst, "poison plant");
        goto out;
    }
    /* The keyring was the store's: open it again for the audit record. */
    cof_keyring *k = NULL;
    if ((st = cof_keyring_open(cfg->data_dir, cfg->key_file, &k)) ||
        (st = cof_notice_record(cfg, k, &n))) {
        cof_keyring_close(k);
        cof_cli_fail(st, "poison plant: audit");
        goto out;
    }
    cof_keyring_close(k);
    printf("planted %" PRIu64 " poison records in tenant %s: set %s\n", count, tenant, set_id);
    if (reveal_path)
        printf("addresses written to %s (mode 0600); keep it private\n", reveal_path);
    rc = 0;
out:
    if (s) {
        cst = cof_store_close(s);
        (void)cst;
    }
    cof_poison_close(p);
    if (rfd >= 0) {
        (void)close(rfd);
        if (rc)
            (void)unlink(reveal_path);
    }
    if (reveal.p)
        sodium_memzero(reveal.p, reveal.cap);
    cof_buf_free(&reveal);
    return rc;
}

static const char *fmt_time(int64_t us, char *buf, size_t cap)
{
    return cof_time_format_sec(us, buf, cap);
}

static int cmd_list(const cof_config *cfg, int argc, char **argv)
{
    int json = 0;
    for (int i = 0; i < argc; i++) {
        if (is_help(argv[i])) {
            fputs(usage_poison, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--json") != 0) {
            fprintf(stderr, "coffer poison list: unknown option %s\n", argv[i]);
            return 2;
        }
        json = 1;
    }
    cof_keyring *k = NULL;
    cof_poison *p = NULL;
    cof_poison_set_info *sets = NULL;
    uint32_t n = 0;
    cof_status st;
    if ((st = cof_keyring_open(cfg->data_dir, cfg->key_file, &k)) ||
        (st = cof_poison_open(cfg->data_dir, k, &p)) || (st = cof_poison_list(p, &sets, &n))) {
        cof_cli_fail(st, "poison list");
        cof_poison_close(p);
        cof_keyring_close(k);
        return 1;
    }
    char t[64];
    if (!json)
        printf("%-16s  %-16s  %-9s  %-16s  %6s  %s\n", "SET", "TENANT", "KIND", "OWNER", "COUNT",
               "CREATED");
    for (uint32_t i = 0; i < n; i++) {
        const cof_poison_set_info *s = &sets[i];
        if (json)
            printf("{\"id\":\"%s\",\"tenant\":\"%s\",\"kind\":\"%s\",\"owner\":\"%s\",\"count\":%u,"
                   "\"created\":\"%s\"}\n", s->id, s->tenant, cof_poison_kind_name(s->kind),
                   s->owner, (unsigned)s->count, fmt_time(s->created, t, sizeof t));
        else
            printf("%-16s  %-16s  %-9s  %-16s  %6u  %s\n", s->id, s->tenant,
                   cof_poison_kind_name(s->kind), s->owner[0] ? s->owner : "-",
                   (unsigned)s->count, fmt_time(s->created, t, sizeof t));
    }
    free(sets);
    cof_poison_close(p);
    cof_keyring_close(k);
    return 0;
}

int cof_cmd_poison(const cof_config *cfg, int argc, char **argv)
{
    if (argc < 1 || is_help(argv[0])) {
        fputs(usage_poison, argc < 1 ? stderr : stdout);
        return argc < 1 ? 2 : 0;
    }
    if (!strcmp(argv[0], "plant"))
        return cmd_plant(cfg, argc - 1, argv + 1);
    if (!strcmp(argv[0], "list"))
        return cmd_list(cfg, argc - 1, argv + 1);
    fprintf(stderr, "coffer poison: unknown subcommand %s (plant or list)\n", argv[0]);
    return 2;
}

/* ---- the ingest watch ---- */

#define WATCH_MAX_SETS 64 /* distinct sets alerted per run; more hits are counted only */

struct cof_poison_watch {
    cof_poison *p;
    cof_alerts *alerts;
    uint64_t hits;
    char seen[WATCH_MAX_SETS][COF_POISON_IDLEN + 1];
    uint32_t nseen;
};

static void on_left(void *ctx, const cof_poison_hit *hit)
{
    cof_poison_watch *w = ctx;
    w->hits++;
    for (uint32_t i = 0; i < w->nseen; i++)
        if (!strcmp(w->seen[i], hit->set_id))
            return;
    if (w->nseen < WATCH_MAX_SETS)
        memcpy(w->seen[w->nseen++], hit->set_id, COF_POISON_IDLEN + 1);
    char summary[400], details[400];
    const char *owner = hit->owner[0] ? hit->owner : "";
    snprintf(summary, sizeof summary,
             "mail reached a poison address of %s set %s (tenant %s%s%s): data from coffer "
             "has left", cof_poison_kind_name(hit->kind), hit->set_id, hit->tenant,
             owner[0] ? ", exported by " : "", owner);
    snprintf(details, sizeof details,
             "{\"set\":\"%s\",\"kind\":\"%s\",\"owner\":\"%s\",\"tenant\":\"%s\"}", hit->set_id,
             cof_poison_kind_name(hit->kind), owner, hit->tenant);
    fprintf(stderr, "coffer: ALERT poison.left: %s\n", summary);
    if (w->alerts && cof_alert_raise(w->alerts, "poison.left", COF_SEV_CRITICAL, summary,
                                     details) != COF_OK)
        fprintf(stderr, "coffer: warning: alert poison.left not queued: %s\n", cof_err_msg());
}

cof_status cof_poison_watch_open(const cof_config *cfg, cof_store *s, cof_ingest_opts *o,
                                 cof_poison_watch **out)
{
    char path[4200];
    struct stat sb;
    *out = NULL;
    snprintf(path, sizeof path, "%s/" COF_POISON_FILE, cfg->data_dir);
    if (stat(path, &sb) != 0 || !cof_store_keyring(s))
        return COF_OK; /* no registry: nothing to watch */
    cof_poison_watch *w = calloc(1, sizeof *w);
    if (!w)
        return COF_ERR(COF_NOMEM, "out of memory");
    cof_status st = cof_poison_open(cfg->data_dir, cof_store_keyring(s), &w->p);
    if (!st)
        st = cof_alerts_open(cfg, &w->alerts);
    if (st) {
        cof_poison_watch_close(w);
        return st;
    }
    o->poison = w->p;
    o->on_poison = on_left;
    o->poison_ctx = w;
    *out = w;
    return COF_OK;
}

void cof_poison_watch_close(cof_poison_watch *w)
{
    if (!w)
        return;
    if (w->hits)
        fprintf(stderr, "poison addresses reached %10" PRIu64 "  (alert poison.left raised)\n",
                w->hits);
    if (w->alerts) {
        if (cof_alerts_flush(w->alerts, 10000) != COF_OK)
            fprintf(stderr, "coffer: warning: alerts not delivered: %s\n", cof_err_msg());
        cof_alerts_close(w->alerts);
    }
    cof_poison_close(w->p);
    free(w);
}
