/* main.c - the coffer command line. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "config.h"
#include "fsutil.h"
#include "ingest.h"
#include "keyring.h"
#include "output.h"
#include "access.h"
#include "query.h"
#include "tlsconf.h"
#include "remote.h"
#include "server.h"
#include "seal.h"
#include "store.h"
#include "timefmt.h"

#include "version.h"
#define COF_API_PAGE 1000

static const char usage_main[] =
    "usage: coffer [--data-dir DIR] [--key-file FILE] [--config FILE] COMMAND [ARGS]\n"
    "\n"
    "A breach-resistant store for email delivery logs.\n"
    "\n"
    "Commands:\n"
    "  init                    create the master key (if missing) and an empty store\n"
    "  ingest FILE...          read Postfix (or JSON lines) logs into the store\n"
    "  search                  the trail of the messages matching one exact value\n"
    "  stats                   delivery counts and delays, grouped and bucketed\n"
    "  verify                  check every segment's checksums and seals\n"
    "  info                    what the store holds and how big it is\n"
    "  serve                   the HTTPS API and syslog intake (docs/API.md)\n"
    "  check [--json]          audit this installation's files, listeners, TLS, policies,\n"
    "                          grants, tokens, alert sinks and audit chain\n"
    "  acl propose|grant|revoke|suspend|approve|reject|list|view|show|bootstrap\n"
    "                          access changes under two-person review (docs/GOVERNANCE.md)\n"
    "  lockdown [lift|status]  stop every personal-field read and export at once\n"
    "  token create|list|revoke  API tokens for principals (docs/ACCESS.md)\n"
    "  audit verify|show|pubkey  check and read the audit trail (docs/AUDIT.md)\n"
    "  incident report         who read what in a time window, from the verified audit trail\n"
    "  verify-evidence FILE --pubkey K  check a signed `check --evidence` report offline\n"
    "  backup OUT_DIR | restore BACKUP_DIR  sealed copies of a live store (docs/BACKUP.md)\n"
    "  probe TARGET...         scan your own hosts for data stores open without credentials\n"
    "  retention show|run      per-tenant retention: crypto-shred expired tenant-days\n"
    "  subject find|export|erase ADDRESS  data-subject access and erasure (GDPR 15, 17)\n"
    "  poison plant|list       synthetic trap records that catch bulk reads (docs/POISON.md)\n"
    "  export request|approve|reject|list|fetch  bulk export under approval (docs/EXPORT.md)\n"
    "  help [COMMAND]          this text, or a command's options\n"
    "\n"
    "Global options (also settable in the config file):\n"
    "  --data-dir DIR          the store (default ./coffer-data)\n"
    "  --key-file FILE         the master key (default ~/.config/coffer/master.key);\n"
    "                          must be mode 0600, owned by you, outside the data dir\n"
    "  --config FILE           a config file (see docs/CONFIG.md); unknown keys are errors\n"
    "  --version               print the version\n";

static const char usage_ingest[] =
    "usage: coffer ingest [--format postfix|json] [--year YYYY] [--follow] [--progress] FILE...\n"
    "\n"
    "Reads Postfix syslog (classic or RFC 3339 stamps, any syslog_name, several hosts and\n"
    "instances) or JSON lines (docs/JSONL.md), correlates the lines of each message into\n"
    "one event per recipient delivery attempt, seals personal fields and stores them.\n"
    "FILE may be '-' for standard input; .gz files are read directly. Re-ingesting a\n"
    "file, or resuming an interrupted run, stores nothing twice.\n"
    "\n"
    "  --format F     postfix (default) or json\n"
    "  --year YYYY    year of classic stamps (default: inferred, with new-year rollover)\n"
    "  --follow       keep reading as the file grows, through rotation (tail -F);\n"
    "                 Ctrl-C or SIGTERM stops cleanly\n"
    "  --progress     show the progress bar even when stderr is not a terminal\n";

static const char usage_search[] =
    "usage: coffer search (--rcpt A | --sender A | --msgid ID | --queue-id Q | --sasl U |\n"
    "                      --client-ip IP) [--since T] [--until T] [--tenant T]\n"
    "                      [--json] [--masked] [--limit N]\n"
    "\n"
    "Prints every event of the matching messages, grouped by message, oldest first.\n"
    "Exact match only (no wildcards). Sealed values are shown only with the master key;\n"
    "--masked shows j***@example.com instead. T: 2026-11-23, 2026-11-23T14:00:00Z, or\n"
    "an age such as 2h or 7d. --json prints one JSON object per event.\n"
    "\n"
    "  --server URL --token-file F [--cacert F]   ask a running coffer serve instead\n"
    "                 (docs/API.md); the token file must be mode 0600\n";

static const char usage_stats[] =
    "usage: coffer stats [--by status,dsn_class,rcpt_domain,relay,tenant] [--bucket 1h]\n"
    "                    [--since T] [--until T] [--tenant T] [--json]\n"
    "\n"
    "Counts events per group (default --by status) and time bucket, with delay\n"
    "percentiles p50/p90/p99. Uses clear columns only: no master key needed.\n"
    "\n"
    "  --server URL --token-file F [--cacert F]   ask a running coffer serve instead\n";

typedef struct {
    cof_config cfg;
    const char *config_file;
    int have_data_dir, have_key_file;
    char data_dir[4096], key_file[4096];
} globals;

void cof_cli_fail(cof_status st, const char *what)
{
    fprintf(stderr, "coffer: %s: %s\n", what, *cof_err_msg() ? cof_err_msg() : cof_status_str(st));
}
#define die_status cof_cli_fail

/* Global options may appear before or after the command. Returns 0 or 2 (usage). */
static int take_global(globals *g, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    const char *names[] = { "--data-dir", "--key-file", "--config" };
    for (int k = 0; k < 3; k++) {
        size_t n = strlen(names[k]);
        const char *val = NULL;
        if (strcmp(a, names[k]) == 0) {
            if (*i + 1 >= argc) {
                fprintf(stderr, "coffer: %s needs a value\n", names[k]);
                return 2;
            }
            val = argv[++*i];
        } else if (strncmp(a, names[k], n) == 0 && a[n] == '=') {
            val = a + n + 1;
        } else {
            continue;
        }
        if (strlen(val) >= 4096 || !*val) {
            fprintf(stderr, "coffer: %s: bad value\n", names[k]);
            return 2;
        }
        if (k == 0) {
            snprintf(g->data_dir, sizeof g->data_dir, "%s", val);
            g->have_data_dir = 1;
        } else if (k == 1) {
            snprintf(g->key_file, sizeof g->key_file, "%s", val);
            g->have_key_file = 1;
        } else {
            g->config_file = val;
        }
        return 1;
    }
    return 0;
}

static int finish_globals(globals *g)
{
    cof_status st = cof_config_init(&g->cfg);
    if (!st && g->config_file)
        st = cof_config_load(&g->cfg, g->config_file);
    if (st) {
        die_status(st, "configuration");
        return 2;
    }
    if (g->have_data_dir)
        snprintf(g->cfg.data_dir, sizeof g->cfg.data_dir, "%s", g->data_dir);
    if (g->have_key_file)
        snprintf(g->cfg.key_file, sizeof g->cfg.key_file, "%s", g->key_file);
    return 0;
}

static int need_value(int argc, char **argv, int i)
{
    if (i + 1 >= argc) {
        fprintf(stderr, "coffer: %s needs a value\n", argv[i]);
        return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- init */

/* The access document and the loopback TLS certificate (kept next to the master key,
 * outside the data directory, so a copy of the data carries no private key). */
static int init_server_files(globals *g)
{
    cof_access *a = NULL;
    cof_status st = cof_access_load(g->cfg.data_dir, &a);
    if (st == COF_NOTFOUND) {
        if (!(st = cof_access_new(&a)) && !(st = cof_access_save(a, g->cfg.data_dir)))
            printf("created access document %s/access.json (no principals yet: coffer init "
                   "--admins, then coffer acl grant)\n", g->cfg.data_dir);
    }
    cof_access_free(a);
    if (st) {
        die_status(st, "init");
        return 1;
    }
    char cert[4200], key[4200], dir[4200];
    cof_server_default_tls(&g->cfg, cert, sizeof cert, key, sizeof key);
    if ((st = cof_fs_dir_of(cert, dir, sizeof dir)) || (st = cof_fs_mkdir_p(dir, 0700)) ||
        (st = cof_tls_global_init())) {
        die_status(st, "init");
        return 1;
    }
    st = cof_tls_selfsigned(cert, key);
    if (st == COF_OK)
        printf("created a self-signed certificate for loopback use: %s\n"
               "  To serve beyond loopback, install a real certificate and key and set\n"
               "  tls_cert = /path/fullchain.pem and tls_key = /path/privkey.pem in the config.\n",
               cert);
    else if (st != COF_EXISTS) {
        die_status(st, "init");
        return 1;
    }
    return 0;
}

/* The governed settings of access.json (field policies, alert sinks) override the
 * config file's for the commands that ingest or serve (docs/GOVERNANCE.md). A store
 * without an access document keeps the config file's. Non-zero on a broken document. */
static int governed(globals *g)
{
    cof_access *a = NULL;
    cof_status st = cof_access_load(g->cfg.data_dir, &a);
    if (st == COF_NOTFOUND)
        return 0;
    if (!st)
        st = cof_access_apply_config(a, &g->cfg);
    cof_access_free(a);
    if (st)
        die_status(st, "access document");
    return st != COF_OK;
}

static int cmd_init(globals *g, int argc, char **argv)
{
    const char *admins = NULL, *token_dir = NULL;
    int single = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            printf("usage: coffer init [--admins NAME,NAME [--token-dir DIR] [--single-admin]]\n\n"
                   "Creates the master key file (if missing), an empty store with its keyring,\n"
                   "the access document and a loopback TLS certificate.\n\n"
                   "  --admins A,B      the first administrators (two or more: access changes\n"
                   "                    need two people); each gets a token in DIR/NAME.token\n"
                   "  --token-dir DIR   where to write their tokens (default: next to the key)\n"
                   "  --single-admin    allow exactly one administrator (reported by coffer check)\n");
            return 0;
        }
        if (!strcmp(argv[i], "--single-admin")) {
            single = 1;
            continue;
        }
        if ((!strcmp(argv[i], "--admins") || !strcmp(argv[i], "--token-dir")) && i + 1 < argc) {
            *(!strcmp(argv[i], "--admins") ? &admins : &token_dir) = argv[i + 1];
            i++;
            continue;
        }
        fprintf(stderr, "coffer init: unknown option %s (try --help)\n", argv[i]);
        return 2;
    }
    if (admins && !strchr(admins, ',') && !single) {
        fprintf(stderr, "coffer init: one administrator cannot pass the two-person rule: name "
                "two (--admins alice,bob), or pass --single-admin to run with one (coffer check "
                "reports it)\n");
        return 2;
    }
    char tdir[4200];
    if (admins && !token_dir) {
        if (cof_fs_dir_of(g->cfg.key_file, tdir, sizeof tdir) != COF_OK) {
            fprintf(stderr, "coffer init: key file path too long\n");
            return 2;
        }
        token_dir = tdir;
    }
    cof_status st = cof_fs_mkdir_p(g->cfg.data_dir, 0700);
    if (st) {
        die_status(st, "init");
        return 1;
    }
    st = cof_master_create(g->cfg.key_file, g->cfg.data_dir);
    if (st == COF_OK)
        printf("created master key %s (mode 0600). Keep it OUTSIDE backups of the data "
               "directory: whoever has both can read the sealed fields.\n", g->cfg.key_file);
    else if (st == COF_EXISTS)
        printf("using existing master key %s\n", g->cfg.key_file);
    else {
        die_status(st, "init");
        return 1;
    }
    if ((st = cof_store_create(&g->cfg)) || (st = cof_keyring_create(g->cfg.data_dir, g->cfg.key_file))) {
        die_status(st, "init");
        return 1;
    }
    printf("created store %s\n", g->cfg.data_dir);
    int rc = init_server_files(g);
    if (!rc && admins)
        rc = cof_cmd_acl_bootstrap(&g->cfg, admins, token_dir, single, 0);
    return rc;
}

/* ---------------------------------------------------------------- ingest */

static volatile sig_atomic_t stop_flag;
static void on_stop(int sig) { (void)sig; stop_flag = 1; }

static int cmd_ingest(globals *g, int argc, char **argv)
{
    cof_ingest_opts o;
    memset(&o, 0, sizeof o);
    o.stop = &stop_flag;
    const char **files = calloc((size_t)argc + 1, sizeof *files);
    int nfiles = 0;
    if (!files)
        return 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_ingest, stdout);
            free(files);
            return 0;
        } else if (!strcmp(a, "--format")) {
            if (!need_value(argc, argv, i))
                goto usage;
            const char *v = argv[++i];
            if (!strcmp(v, "postfix"))
                o.format = COF_FMT_POSTFIX;
            else if (!strcmp(v, "json"))
                o.format = COF_FMT_JSON;
            else {
                fprintf(stderr, "coffer ingest: --format is postfix or json\n");
                goto usage;
            }
        } else if (!strcmp(a, "--year")) {
            uint64_t y;
            if (!need_value(argc, argv, i))
                goto usage;
            if (!cof_str_to_u64(cof_str_c(argv[++i]), 9999, &y) || y < 1970) {
                fprintf(stderr, "coffer ingest: --year takes a year such as 2026\n");
                goto usage;
            }
            o.year = (int)y;
        } else if (!strcmp(a, "--follow")) {
            o.follow = 1;
        } else if (!strcmp(a, "--progress")) {
            o.progress = 1;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "coffer ingest: unknown option %s\n", a);
            goto usage;
        } else {
            files[nfiles++] = a;
        }
    }
    if (!nfiles) {
        fprintf(stderr, "coffer ingest: name at least one FILE (or - for standard input)\n");
        goto usage;
    }
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop; /* no SA_RESTART: a blocked read returns */
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    cof_store *s;
    cof_status st = cof_store_open(&g->cfg, COF_STORE_WRITE, &s);
    if (st) {
        die_status(st, "ingest");
        free(files);
        return 1;
    }
    cof_ingest_summary sum;
    cof_poison_watch *pw = NULL;
    st = cof_poison_watch_open(&g->cfg, s, &o, &pw);
    if (!st)
        st = cof_ingest_run(s, files, nfiles, &o, &sum);
    else
        memset(&sum, 0, sizeof sum);
    cof_status cst = cof_store_close(s);
    cof_poison_watch_close(pw);
    if (!st)
        st = cst;
    free(files);
    fprintf(stderr, "lines read      %12" PRIu64 "\n", sum.lines);
    fprintf(stderr, "events stored   %12" PRIu64 "\n", sum.events_stored);
    if (sum.events_duplicate)
        fprintf(stderr, "already stored  %12" PRIu64 "  (skipped: ingested before)\n",
                sum.events_duplicate);
    if (sum.events_shredded)
        fprintf(stderr, "skipped: retention: day shredded %8" PRIu64 "\n", sum.events_shredded);
    if (sum.sources_done)
        fprintf(stderr, "files unchanged %12" PRIu64 "\n", sum.sources_done);
    for (int r = 1; r < COF_NSKIP; r++)
        if (sum.skipped[r])
            fprintf(stderr, "skipped: %-14s %8" PRIu64 "\n", cof_skip_name((cof_skip_reason)r),
                    sum.skipped[r]);
    if (sum.seconds > 0)
        fprintf(stderr, "time            %12.2f s  (%.0f events/s, %.1f MB/s)\n", sum.seconds,
                (double)sum.events_stored / sum.seconds, (double)sum.bytes / sum.seconds / 1e6);
    if (st) {
        die_status(st, "ingest");
        fprintf(stderr, "coffer: events acknowledged before the error are stored; run the same "
                        "command again to continue where it stopped\n");
        return 1;
    }
    return 0;
usage:
    free(files);
    fputs(usage_ingest, stderr);
    return 2;
}

/* ---------------------------------------------------------------- search */

static void warn_corrupt(void *ctx, const char *path, const char *reason)
{
    (void)ctx;
    fprintf(stderr, "coffer: warning: %s is damaged (%s); its events are left out of this answer\n",
            path, reason);
}

static int parse_time_opt(const char *cmd, const char *v, int64_t *out)
{
    cof_status st = cof_time_parse(cof_str_c(v), cof_time_now_us(), out);
    if (st) {
        fprintf(stderr, "coffer %s: %s\n", cmd, cof_err_msg());
        return 0;
    }
    return 1;
}

static int cmd_search(globals *g, int argc, char **argv)
{
    cof_trail_query q;
    memset(&q, 0, sizeof q);
    q.since = INT64_MIN;
    q.until = INT64_MAX;
    q.unseal = 1;
    int json = 0, masked = 0, nkeys = 0;
    cof_remote rem = { 0 };
    const char *kv[16];
    size_t nkv = 0;
    static const struct { const char *opt; cof_field f; const char *api; } keys[] = {
        { "--rcpt", COF_F_RECIPIENT, "rcpt" }, { "--sender", COF_F_SENDER, "sender" },
        { "--msgid", COF_F_MESSAGE_ID, "msgid" }, { "--queue-id", COF_F_QUEUE_ID, "queue_id" },
        { "--sasl", COF_F_SASL_USERNAME, "sasl" }, { "--client-ip", COF_F_CLIENT_IP, "client_ip" },
        { "--orig-rcpt", COF_F_ORIG_RECIPIENT, "orig_rcpt" } };
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int matched = 0;
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            if (!strcmp(a, keys[k].opt)) {
                if (!need_value(argc, argv, i))
                    goto usage;
                q.field = keys[k].f;
                q.value = cof_str_c(argv[++i]);
                nkeys++;
                matched = 1;
                if (nkv < 6) {
                    kv[2 * nkv] = keys[k].api;
                    kv[2 * nkv++ + 1] = argv[i];
                }
            }
        if (matched)
            continue;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_search, stdout);
            return 0;
        } else if (!strcmp(a, "--server") || !strcmp(a, "--token-file") || !strcmp(a, "--cacert")) {
            if (!need_value(argc, argv, i))
                goto usage;
            *(a[2] == 's' ? &rem.server : a[2] == 't' ? &rem.token_file : &rem.cacert) = argv[++i];
        } else if (!strcmp(a, "--since") || !strcmp(a, "--until")) {
            if (!need_value(argc, argv, i) ||
                !parse_time_opt("search", argv[i + 1], a[2] == 's' ? &q.since : &q.until))
                goto usage;
            kv[2 * nkv] = a + 2;
            kv[2 * nkv++ + 1] = argv[++i];
        } else if (!strcmp(a, "--tenant")) {
            if (!need_value(argc, argv, i))
                goto usage;
            q.tenant = argv[++i];
            kv[2 * nkv] = "tenant";
            kv[2 * nkv++ + 1] = q.tenant;
        } else if (!strcmp(a, "--limit")) {
            uint64_t v;
            if (!need_value(argc, argv, i) || !cof_str_to_u64(cof_str_c(argv[++i]), COF_MAX_TRAIL_EVENTS, &v) || !v) {
                fprintf(stderr, "coffer search: --limit takes 1 to %d\n", COF_MAX_TRAIL_EVENTS);
                goto usage;
            }
            q.limit = (size_t)v;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--masked")) {
            masked = 1;
        } else {
            fprintf(stderr, "coffer search: unknown option %s\n", a);
            goto usage;
        }
    }
    if (nkeys != 1) {
        fprintf(stderr, "coffer search: give exactly one of --rcpt, --sender, --msgid, --queue-id, "
                        "--sasl, --client-ip\n");
        goto usage;
    }
    if (rem.server || rem.token_file) {
        if (!rem.server || !rem.token_file) {
            fprintf(stderr, "coffer search: --server and --token-file go together\n");
            goto usage;
        }
        if (masked) {
            fprintf(stderr, "coffer search: --masked is for local stores; the server decides what "
                            "a principal may see\n");
            goto usage;
        }
        char cert[4200], key[4200];
        cof_server_default_tls(&g->cfg, cert, sizeof cert, key, sizeof key);
        if (!rem.cacert && access(cert, R_OK) == 0)
            rem.cacert = cert;
        char lim[24];
        snprintf(lim, sizeof lim, "%zu", q.limit && q.limit < COF_API_PAGE ? q.limit : (size_t)COF_API_PAGE);
        kv[2 * nkv] = "limit";
        kv[2 * nkv++ + 1] = lim;
        return cof_remote_search(&rem, kv, nkv, q.limit, json);
    }
    /* Without the key file, search what the clear columns allow (queue ids), masked. */
    int flags = 0;
    struct stat sb;
    if (stat(g->cfg.key_file, &sb) != 0 && errno == ENOENT) {
        flags = COF_STORE_NOKEY;
        q.unseal = 0;
    }
    cof_store *s;
    cof_status st = cof_store_open(&g->cfg, flags, &s);
    if (st) {
        die_status(st, "search");
        return 1;
    }
    cof_store_set_error_hook(s, warn_corrupt, NULL);
    cof_trail t;
    st = cof_query_trail(s, &q, &t);
    if (!st) {
        if (json)
            st = cof_output_trail_json(stdout, &t, masked);
        else
            cof_output_trail_table(stdout, &t, masked);
    }
    cof_trail_free(&t);
    cof_store_abandon(s);
    if (st) {
        die_status(st, "search");
        return 1;
    }
    return 0;
usage:
    fputs(usage_search, stderr);
    return 2;
}

/* ---------------------------------------------------------------- stats */

static int cmd_stats(globals *g, int argc, char **argv)
{
    uint32_t by = COF_BY_STATUS;
    int64_t bucket = 0, since = INT64_MIN, until = INT64_MAX;
    const char *tenant = NULL;
    int json = 0;
    cof_remote rem = { 0 };
    const char *kv[16];
    size_t nkv = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_stats, stdout);
            return 0;
        } else if (!strcmp(a, "--server") || !strcmp(a, "--token-file") || !strcmp(a, "--cacert")) {
            if (!need_value(argc, argv, i))
                goto usage;
            *(a[2] == 's' ? &rem.server : a[2] == 't' ? &rem.token_file : &rem.cacert) = argv[++i];
            continue;
        }
        if ((!strcmp(a, "--by") || !strcmp(a, "--bucket") || !strcmp(a, "--since") ||
             !strcmp(a, "--until") || !strcmp(a, "--tenant")) && i + 1 < argc && nkv < 6) {
            kv[2 * nkv] = a + 2;
            kv[2 * nkv++ + 1] = argv[i + 1];
        }
        if (!strcmp(a, "--by")) {
            if (!need_value(argc, argv, i))
                goto usage;
            if (cof_stats_by_parse(cof_str_c(argv[++i]), &by)) {
                fprintf(stderr, "coffer stats: %s\n", cof_err_msg());
                goto usage;
            }
        } else if (!strcmp(a, "--bucket")) {
            if (!need_value(argc, argv, i))
                goto usage;
            if (cof_duration_parse(cof_str_c(argv[++i]), &bucket)) {
                fprintf(stderr, "coffer stats: %s\n", cof_err_msg());
                goto usage;
            }
        } else if (!strcmp(a, "--since") || !strcmp(a, "--until")) {
            if (!need_value(argc, argv, i) ||
                !parse_time_opt("stats", argv[i + 1], a[2] == 's' ? &since : &until))
                goto usage;
            i++;
        } else if (!strcmp(a, "--tenant")) {
            if (!need_value(argc, argv, i))
                goto usage;
            tenant = argv[++i];
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else {
            fprintf(stderr, "coffer stats: unknown option %s\n", a);
            goto usage;
        }
    }
    if (rem.server || rem.token_file) {
        if (!rem.server || !rem.token_file) {
            fprintf(stderr, "coffer stats: --server and --token-file go together\n");
            goto usage;
        }
        char cert[4200], key[4200];
        cof_server_default_tls(&g->cfg, cert, sizeof cert, key, sizeof key);
        if (!rem.cacert && access(cert, R_OK) == 0)
            rem.cacert = cert;
        return cof_remote_stats(&rem, kv, nkv, json);
    }
    cof_store *s;
    cof_status st = cof_store_open(&g->cfg, COF_STORE_NOKEY, &s);
    if (st) {
        die_status(st, "stats");
        return 1;
    }
    cof_store_set_error_hook(s, warn_corrupt, NULL);
    cof_stats res;
    st = cof_query_stats(s, by, bucket, since, until, tenant, &res);
    if (!st) {
        if (json)
            st = cof_output_stats_json(stdout, &res, by, bucket);
        else
            cof_output_stats_table(stdout, &res, by, bucket);
    }
    cof_stats_free(&res);
    cof_store_abandon(s);
    if (st) {
        die_status(st, "stats");
        return 1;
    }
    return 0;
usage:
    fputs(usage_stats, stderr);
    return 2;
}

/* ---------------------------------------------------------------- verify, info */

typedef struct {
    cof_keyring *kr;
    uint64_t ok, bad, rows;
} verify_ctx;

static void verify_err(void *ctx, const char *path, const char *reason)
{
    verify_ctx *v = ctx;
    v->bad++;
    fprintf(stderr, "CORRUPT %s: %s\n", path, reason);
}

static cof_status verify_seg(void *ctx, const cof_seg_info *info, cof_seg *seg)
{
    verify_ctx *v = ctx;
    const uint8_t *key = NULL;
    if (v->kr && cof_keyring_data_key(v->kr, info->tenant, info->day, 0, &key) != COF_OK)
        key = NULL;
    cof_status st = cof_seg_verify(seg, key);
    if (st) {
        v->bad++;
        fprintf(stderr, "CORRUPT segment %016" PRIx64 " (tenant %s): %s\n", info->seg_id,
                info->tenant, cof_err_msg());
    } else {
        v->ok++;
        v->rows += info->nrows;
    }
    return COF_OK;
}

static int cmd_verify(globals *g, int argc, char **argv)
{
    if (argc > 0) {
        fputs("usage: coffer verify\n\nReads every block of every segment and checks checksums "
              "and (with the master key) seals.\n", argc == 1 && !strcmp(argv[0], "--help") ? stdout : stderr);
        return argc == 1 && !strcmp(argv[0], "--help") ? 0 : 2;
    }
    struct stat sb;
    int flags = stat(g->cfg.key_file, &sb) == 0 ? 0 : COF_STORE_NOKEY;
    cof_store *s;
    cof_status st = cof_store_open(&g->cfg, flags, &s);
    if (st) {
        die_status(st, "verify");
        return 1;
    }
    verify_ctx v = { cof_store_keyring(s), 0, 0, 0 };
    st = cof_store_each_segment(s, NULL, INT64_MIN, INT64_MAX, verify_seg, verify_err, &v);
    cof_store_abandon(s);
    printf("%" PRIu64 " segments ok (%" PRIu64 " events), %" PRIu64 " corrupt%s\n", v.ok, v.rows,
           v.bad, flags ? " (no master key: seals not checked)" : "");
    if (st)
        die_status(st, "verify");
    return st || v.bad ? 1 : 0;
}

static int cmd_info(globals *g, int argc, char **argv)
{
    if (argc > 0) {
        fputs("usage: coffer info\n", argc == 1 && !strcmp(argv[0], "--help") ? stdout : stderr);
        return argc == 1 && !strcmp(argv[0], "--help") ? 0 : 2;
    }
    cof_store *s;
    cof_status st = cof_store_open(&g->cfg, COF_STORE_NOKEY, &s);
    if (st) {
        die_status(st, "info");
        return 1;
    }
    cof_store_totals t;
    st = cof_store_totals_get(s, &t);
    cof_store_abandon(s);
    if (st) {
        die_status(st, "info");
        return 1;
    }
    uint64_t total = t.segment_bytes + t.wal_bytes + t.other_bytes;
    printf("data dir        %s\nevents          %" PRIu64 "\nsegments        %" PRIu64
           "\nsegment bytes   %" PRIu64 "\nwal bytes       %" PRIu64 "\nother bytes     %" PRIu64
           "\nbytes/event     %.1f\n",
           g->cfg.data_dir, t.rows, t.segments, t.segment_bytes, t.wal_bytes, t.other_bytes,
           t.rows ? (double)total / (double)t.rows : 0.0);
    return 0;
}

/* ---------------------------------------------------------------- main */

int main(int argc, char **argv)
{
    globals g;
    memset(&g, 0, sizeof g);
    umask(077);
    /* Decrypted personal values live in ordinary memory while a query or the server
     * runs (keys are in sodium_malloc memory, excluded from dumps): no core dumps, and
     * no ptrace by other processes of the same user. */
    struct rlimit no_core = { 0, 0 };
    (void)setrlimit(RLIMIT_CORE, &no_core);
    (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (cof_seal_init() != COF_OK) {
        fprintf(stderr, "coffer: cannot initialize libsodium\n");
        return 1;
    }
    /* Split argv into global options and the command with its own arguments. */
    char **rest = calloc((size_t)argc + 1, sizeof *rest);
    int nrest = 0;
    if (!rest)
        return 1;
    for (int i = 1; i < argc; i++) {
        int r = take_global(&g, argc, argv, &i);
        if (r == 2) {
            free(rest);
            return 2;
        }
        if (r == 0)
            rest[nrest++] = argv[i];
    }
    int rc;
    int delegate = 0;
    if (nrest == 0 || !strcmp(rest[0], "help") || !strcmp(rest[0], "--help") || !strcmp(rest[0], "-h")) {
        if (nrest >= 2 && !strcmp(rest[0], "help") &&
            (!strcmp(rest[1], "serve") || !strcmp(rest[1], "token") || !strcmp(rest[1], "audit") ||
             !strcmp(rest[1], "probe") || !strcmp(rest[1], "init") || !strcmp(rest[1], "check") ||
             !strcmp(rest[1], "poison") || !strcmp(rest[1], "export") ||
             !strcmp(rest[1], "backup") || !strcmp(rest[1], "restore") ||
             !strcmp(rest[1], "acl") || !strcmp(rest[1], "lockdown") ||
             !strcmp(rest[1], "retention") || !strcmp(rest[1], "subject") ||
             !strcmp(rest[1], "incident") || !strcmp(rest[1], "verify-evidence"))) {
            /* Commands that print their own usage: "help X" is "X --help". */
            static char help_opt[] = "--help";
            rest[0] = rest[1];
            rest[1] = help_opt;
            nrest = 2;
            delegate = 1;
        } else if (nrest >= 2 && !strcmp(rest[0], "help")) {
            const char *c = rest[1];
            const char *u = !strcmp(c, "ingest") ? usage_ingest : !strcmp(c, "search") ? usage_search
                          : !strcmp(c, "stats") ? usage_stats : usage_main;
            fputs(u, stdout);
        } else {
            fputs(usage_main, nrest ? stdout : stderr);
        }
        if (!delegate) {
            free(rest);
            return nrest ? 0 : 2;
        }
    }
    if (!strcmp(rest[0], "--version")) {
        printf("coffer %s\n", COF_VERSION);
        free(rest);
        return 0;
    }
    if ((rc = finish_globals(&g))) {
        free(rest);
        return rc;
    }
    const char *cmd = rest[0];
    int cargc = nrest - 1;
    char **cargv = rest + 1;
    if (!strcmp(cmd, "init"))
        rc = cmd_init(&g, cargc, cargv);
    else if (!strcmp(cmd, "ingest"))
        rc = governed(&g) ? 1 : cmd_ingest(&g, cargc, cargv);
    else if (!strcmp(cmd, "search"))
        rc = cmd_search(&g, cargc, cargv);
    else if (!strcmp(cmd, "stats"))
        rc = cmd_stats(&g, cargc, cargv);
    else if (!strcmp(cmd, "verify"))
        rc = cmd_verify(&g, cargc, cargv);
    else if (!strcmp(cmd, "info"))
        rc = cmd_info(&g, cargc, cargv);
    /* Subcommands in their own modules (cli.h); one line each. */
    else if (!strcmp(cmd, "serve"))
        rc = governed(&g) ? 1 : cof_cmd_serve(&g.cfg, cargc, cargv);
    else if (!strcmp(cmd, "check"))
        rc = cof_cmd_check(&g.cfg, cargc, cargv);
    else if (!strcmp(cmd, "token")) rc = cof_cmd_token(&g.cfg, cargc, cargv);
    else if (!strcmp(cmd, "audit")) rc = cof_cmd_audit(&g.cfg, cargc, cargv);
    else if (!strcmp(cmd, "probe")) rc = cof_cmd_probe(&g.cfg, cargc, cargv);
    else if (!strcmp(cmd, "poison")) rc = cof_cmd_poison(&g.cfg, cargc, cargv);
    else if (!strcmp(cmd, "export")) rc = cof_cmd_export(&g.cfg, cargc, cargv);
    else if (!strcmp(cmd, "incident")) rc = cof_cmd_incident(&g.cfg, cargc, cargv);
    else if (!strcmp(cmd, "verify-evidence")) rc = cof_cmd_verify_evidence(&g.cfg, cargc, cargv);
    else if (!strcmp(cmd, "acl")) rc = cof_cmd_acl(&g.cfg, cargc, cargv);
    else if (!strcmp(cmd, "lockdown")) rc = cof_cmd_lockdown(&g.cfg, cargc, cargv);
    else if (!strcmp(cmd, "retention")) rc = cof_cmd_retention(&g.cfg, cargc, cargv);
    else if (!strcmp(cmd, "subject")) rc = cof_cmd_subject(&g.cfg, cargc, cargv);
    else if (!strcmp(cmd, "backup")) rc = cof_cmd_backup(&g.cfg, cargc, cargv);
    else if (!strcmp(cmd, "restore")) rc = cof_cmd_restore(&g.cfg, cargc, cargv);
    else {
        fprintf(stderr, "coffer: unknown command '%s' (try coffer --help)\n", cmd);
        rc = 2;
    }
    cof_config_free(&g.cfg);
    free(rest);
    return rc;
}
