/* audit_cli.c - `coffer audit verify|show|pubkey` (see docs/AUDIT.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "audit_int.h"
#include "cli.h"
#include "fsutil.h"
#include "keyring.h"
#include "timefmt.h"

static const char usage_audit[] =
    "usage: coffer audit verify [--public-key FILE]\n"
    "       coffer audit show [--since T] [--until T] [--principal P] [--action A]\n"
    "                         [--json] [--limit N]\n"
    "       coffer audit pubkey\n"
    "\n"
    "verify  checks the hash chain, every checkpoint signature and HEAD; exit 0 when\n"
    "        intact, 1 with the first problem (file, line, seq). --public-key FILE (64\n"
    "        hex characters, from `coffer audit pubkey`) checks without the master key.\n"
    "show    prints records oldest first (a table, or the JSON lines with --json).\n"
    "        T: 2026-11-23, 2026-11-23T14:00:00Z, or an age such as 2h.\n"
    "pubkey  prints the trail's Ed25519 public key (needs the master key).\n";

/* The signing seed from the keyring (caller sodium_free's it). */
static cof_status load_seed(const cof_config *cfg, uint8_t **seed)
{
    cof_keyring *k = NULL;
    *seed = sodium_malloc(COF_KEY_LEN);
    if (!*seed)
        return COF_ERR(COF_NOMEM, "audit seed");
    cof_status st = cof_keyring_open(cfg->data_dir, cfg->key_file, &k);
    if (!st)
        st = cof_keyring_subkey(k, "audit-ed25519", *seed);
    cof_keyring_close(k);
    if (st) {
        sodium_free(*seed);
        *seed = NULL;
    }
    return st;
}

static cof_status load_pubkey_file(const char *path, uint8_t pk[32])
{
    uint8_t *buf = NULL;
    size_t n = 0;
    cof_status st = cof_fs_read_file(path, 4096, &buf, &n);
    if (st)
        return st;
    cof_str s = cof_str_trim(cof_str_make((const char *)buf, n));
    size_t bin_len = 0;
    if (s.n != 64 || sodium_hex2bin(pk, 32, s.p, s.n, NULL, &bin_len, NULL) != 0 || bin_len != 32)
        st = COF_ERR(COF_BADINPUT, "%s: not a 64-hex-character public key", path);
    free(buf);
    return st;
}

cof_status cof_cli_audit_pubkey(const cof_config *cfg, const char *arg, uint8_t pk[32])
{
    if (arg) {
        size_t n = strlen(arg), bin_len = 0;
        if (n == 64 && strspn(arg, "0123456789abcdefABCDEF") == 64)
            return sodium_hex2bin(pk, 32, arg, n, NULL, &bin_len, NULL) == 0 && bin_len == 32
                       ? COF_OK
                       : COF_ERR(COF_BADINPUT, "not a 64-hex-character public key");
        return load_pubkey_file(arg, pk);
    }
    uint8_t *seed;
    cof_status st = load_seed(cfg, &seed);
    if (st)
        return st;
    st = cof_audit_public_key(seed, pk);
    sodium_free(seed);
    return st;
}

static int cmd_pubkey(const cof_config *cfg, int argc, char **argv)
{
    if (argc != 0) {
        fputs(usage_audit, stderr);
        return 2;
    }
    uint8_t *seed, pk[32];
    char hex[65];
    cof_status st = load_seed(cfg, &seed);
    if (st) {
        cof_cli_fail(st, "audit pubkey");
        return 1;
    }
    st = cof_audit_public_key(seed, pk);
    sodium_free(seed);
    if (st) {
        cof_cli_fail(st, "audit pubkey");
        return 1;
    }
    cof_audit_hex(pk, 32, hex);
    printf("%s\n", hex);
    return 0;
}

static int cmd_verify(const cof_config *cfg, int argc, char **argv)
{
    const char *pkfile = NULL;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--public-key") && i + 1 < argc) {
            pkfile = argv[++i];
        } else {
            fputs(usage_audit, stderr);
            return 2;
        }
    }
    uint8_t pk[32];
    cof_status st;
    if (pkfile) {
        st = load_pubkey_file(pkfile, pk);
    } else {
        uint8_t *seed;
        st = load_seed(cfg, &seed);
        if (!st) {
            st = cof_audit_public_key(seed, pk);
            sodium_free(seed);
        }
    }
    if (st) {
        cof_cli_fail(st, "audit verify");
        return 1;
    }
    cof_audit_report rep;
    if ((st = cof_audit_verify(cfg->data_dir, pk, &rep))) {
        cof_cli_fail(st, "audit verify");
        return 1;
    }
    if (rep.problem == COF_AUDIT_OK) {
        printf("audit trail intact: %llu records, %llu checkpoints, head seq=%llu hash=%s\n",
               (unsigned long long)rep.records, (unsigned long long)rep.checkpoints,
               (unsigned long long)rep.last_seq, rep.last_seq ? rep.head : "-");
        return 0;
    }
    if (!strcmp(rep.file, "HEAD") && rep.problem == COF_AUDIT_TRUNCATED && rep.seq == 0)
        printf("audit trail BROKEN at HEAD: missing although checkpoints exist (removed?)\n");
    else
        printf("audit trail BROKEN at %s:%llu (seq %llu): %s\n", rep.file,
               (unsigned long long)rep.line, (unsigned long long)rep.seq,
               cof_audit_problem_name(rep.problem));
    return 1;
}

typedef struct {
    int json;
    uint64_t limit, shown;
} show_ctx;

static void pr(cof_str s, int width)
{
    printf("%-*.*s ", width, (int)s.n, s.p);
}

static cof_status show_one(void *ctx, const cof_audit_entry *e)
{
    show_ctx *x = ctx;
    if (x->limit && x->shown >= x->limit)
        return COF_AGAIN; /* stop early; not an error */
    x->shown++;
    if (x->json) {
        fwrite(e->line.p, 1, e->line.n, stdout);
        fputc('\n', stdout);
        return COF_OK;
    }
    char tb[40];
    cof_time_format(e->time, tb, sizeof tb);
    /* drop the brackets of the tenants array for the table */
    cof_str t = e->tenants_json;
    if (t.n >= 2) {
        t.p++;
        t.n -= 2;
    }
    printf("%-27s ", tb);
    pr(e->principal, 16);
    pr(e->source, 15);
    pr(e->action, 13);
    pr(e->outcome, 11);
    printf("%3d ", e->status);
    pr(t, 16);
    printf("%llu\n", (unsigned long long)e->events);
    return COF_OK;
}

static int cmd_show(const cof_config *cfg, int argc, char **argv)
{
    cof_audit_filter f;
    show_ctx x = { 0, 0, 0 };
    memset(&f, 0, sizeof f);
    int64_t now = cof_time_now_us();
    for (int i = 0; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(o, "--json")) {
            x.json = 1;
            continue;
        }
        if (!v) {
            fputs(usage_audit, stderr);
            return 2;
        }
        i++;
        if (!strcmp(o, "--since") || !strcmp(o, "--until")) {
            int64_t t;
            if (cof_time_parse(cof_str_c(v), now, &t) != COF_OK) {
                fprintf(stderr, "coffer: audit show: %s: bad time\n", o);
                return 2;
            }
            if (o[2] == 's')
                f.since = t;
            else
                f.until = t;
        } else if (!strcmp(o, "--principal")) {
            f.principal = v;
        } else if (!strcmp(o, "--action")) {
            f.action = v;
        } else if (!strcmp(o, "--limit")) {
            if (!cof_str_to_u64(cof_str_c(v), UINT64_MAX, &x.limit)) {
                fprintf(stderr, "coffer: audit show: --limit: not a number\n");
                return 2;
            }
        } else {
            fputs(usage_audit, stderr);
            return 2;
        }
    }
    if (!x.json)
        printf("%-27s %-16s %-15s %-13s %-11s %3s %-16s %s\n", "time", "principal", "source",
               "action", "outcome", "st", "tenants", "events");
    cof_status st = cof_audit_each(cfg->data_dir, &f, show_one, &x);
    if (st && st != COF_AGAIN) {
        cof_cli_fail(st, "audit show");
        return 1;
    }
    return 0;
}

int cof_cmd_audit(const cof_config *cfg, int argc, char **argv)
{
    if (argc < 1) {
        fputs(usage_audit, stderr);
        return 2;
    }
    if (!strcmp(argv[0], "verify"))
        return cmd_verify(cfg, argc - 1, argv + 1);
    if (!strcmp(argv[0], "show"))
        return cmd_show(cfg, argc - 1, argv + 1);
    if (!strcmp(argv[0], "pubkey"))
        return cmd_pubkey(cfg, argc - 1, argv + 1);
    if (!strcmp(argv[0], "help") || !strcmp(argv[0], "--help")) {
        fputs(usage_audit, stdout);
        return 0;
    }
    fputs(usage_audit, stderr);
    return 2;
}
