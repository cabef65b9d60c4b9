/* backup_cli.c - `coffer backup OUT_DIR`, `coffer backup --verify DIR` and
 * `coffer restore DIR` (docs/BACKUP.md). The work is in backup.c; this file parses
 * arguments, draws progress and, after a restore, opens the store to prove it reads. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alert.h"
#include "backup.h"
#include "cli.h"
#include "ident.h"
#include "keyring.h"
#include "progress.h"
#include "store.h"
#include "timefmt.h"
#include "version.h"

static const char usage_backup[] =
    "usage: coffer backup OUT_DIR [--token-file F] [--progress]\n"
    "       coffer backup --verify BACKUP_DIR [--progress]\n"
    "\n"
    "Copies the store into OUT_DIR (new, or an empty directory) while `coffer serve` or\n"
    "`coffer ingest` keeps writing: a consistent snapshot holding every event acknowledged\n"
    "before the backup started. Files stay sealed; nothing is decrypted and no key is\n"
    "needed. The master key is NOT copied: keep the key file separately. OUT_DIR/BACKUP\n"
    "lists every file with its size and BLAKE2b-256 hash.\n"
    "\n"
    "  --verify DIR   check every file of a backup against its BACKUP list (no key needed)\n"
    "  --token-file F the caller's API token (or COFFER_TOKEN_FILE): the audit record and\n"
    "                 the backup.taken alert name its principal; without one, \"-\"\n"
    "  --progress     show the progress bar even when stderr is not a terminal\n"
    "\n"
    "With the master key at hand the backup is recorded in the audit trail (action\n"
    "\"backup\") and announced to the alert sinks.\n";

static const char usage_restore[] =
    "usage: coffer restore BACKUP_DIR --data-dir NEW_DIR [--key-file FILE] [--token-file F]\n"
    "                      [--progress]\n"
    "\n"
    "Checks every file of the backup against BACKUP (refusing on a mismatch, naming the\n"
    "file), copies it into NEW_DIR (new, or an empty directory; directories 0700, files\n"
    "0600), then opens the store with the master key, which replays the write-ahead log,\n"
    "and prints what it holds. The key is checked before anything is copied. The restore\n"
    "is recorded in the restored store's audit trail (action \"restore\"; principal of\n"
    "--token-file or COFFER_TOKEN_FILE, checked against the backup's tokens, else \"-\").\n";

typedef struct {
    cof_progress bar;
    const char *what;
    int bad;
} cli_ctx;

static void on_progress(void *ctx, uint64_t done, uint64_t total, uint64_t files)
{
    cli_ctx *c = ctx;
    (void)files;
    cof_progress_update(&c->bar, done, total, done >> 20, "MiB");
}

static void on_note(void *ctx, const char *path, const char *why)
{
    cli_ctx *c = ctx;
    c->bad++;
    fprintf(stderr, "coffer: %s: %s: %s\n", c->what, path, why);
}

/* Who runs the command: the principal of the token file given (or COFFER_TOKEN_FILE),
 * checked against the store laid out in dir; "-" (a local operator) without one. */
static int who_runs(const cof_config *cfg, const char *dir, const char *token_file,
                    const char *what, char who[COF_MAX_PRINCIPAL_NAME + 1])
{
    const char *tf = cof_ident_token_path(token_file);
    if (!tf) {
        snprintf(who, COF_MAX_PRINCIPAL_NAME + 1, "-");
        return 1;
    }
    cof_config *c = malloc(sizeof *c);
    if (!c)
        return 0;
    *c = *cfg; /* shallow, read only: never freed through the copy */
    snprintf(c->data_dir, sizeof c->data_dir, "%s", dir);
    cof_access *a = NULL;
    cof_status st = cof_ident_token_file(c, tf, cof_time_now_us(), &a, who);
    cof_access_free(a);
    free(c);
    if (st)
        cof_cli_fail(st, what);
    return st == COF_OK;
}

/* Audit record in cfg's store and an alert; failures are warnings (the backup itself
 * holds nothing in clear). Params carry counts and the store id, never paths. */
static void record(const cof_config *cfg, const char *who, const char *action,
                   const char *outcome, const cof_backup_result *r, const char *created)
{
    json_t *p = json_pack("{s:I,s:I,s:I,s:s}", "files", (json_int_t)r->files, "bytes",
                          (json_int_t)r->bytes, "segments", (json_int_t)r->segments, "store",
                          r->store_id);
    if (p && created)
        json_object_set_new(p, "backup_created", json_string(created));
    char *pj = p ? json_dumps(p, JSON_COMPACT) : NULL;
    json_decref(p);
    if (cof_cli_audit(cfg, who, action, pj, outcome, NULL, 0, 0, NULL) != COF_OK)
        fprintf(stderr, "coffer %s: warning: not recorded in the audit trail: %s\n", action,
                cof_err_msg());
    cof_alerts *al = NULL;
    if (!strcmp(outcome, "ok") && cof_cli_alerts_open(cfg, &al) == COF_OK) {
        char sum[160];
        snprintf(sum, sizeof sum, "%s of store %s by %s: %" PRIu64 " files, %" PRIu64 " bytes",
                 action, r->store_id, who, r->files, r->bytes);
        if (cof_alert_raise(al, !strcmp(action, "backup") ? "backup.taken" : "backup.restored",
                            COF_SEV_MEDIUM, sum, pj) != COF_OK)
            fprintf(stderr, "coffer %s: warning: alert not queued\n", action);
        cof_cli_alerts_close(al);
    }
    free(pj);
}

static int usage(const char *u, int argc, char **argv)
{
    int help = argc == 1 && !strcmp(argv[0], "--help");
    fputs(u, help ? stdout : stderr);
    return help ? 0 : 2;
}

int cof_cmd_backup(const cof_config *cfg, int argc, char **argv)
{
    const char *dir = NULL, *token_file = NULL;
    int verify = 0, force = 0;
    char who[COF_MAX_PRINCIPAL_NAME + 1];
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--progress"))
            force = 1;
        else if (!strcmp(argv[i], "--token-file") && i + 1 < argc)
            token_file = argv[++i];
        else if (!strcmp(argv[i], "--verify"))
            verify = 1;
        else if (argv[i][0] == '-' || dir)
            return usage(usage_backup, argc, argv);
        else
            dir = argv[i];
    }
    if (!dir)
        return usage(usage_backup, argc, argv);
    cli_ctx c = { .what = verify ? "backup --verify" : "backup" };
    cof_backup_result r;
    if (!verify && !who_runs(cfg, cfg->data_dir, token_file, "backup", who))
        return 1;
    cof_progress_start(&c.bar, verify ? "verify" : "backup", force);
    cof_status st = verify ? cof_backup_verify(dir, on_progress, on_note, &c, &r)
                           : cof_backup_take(cfg->data_dir, dir, COF_VERSION, on_progress,
                                             on_note, &c, &r);
    cof_progress_end(&c.bar);
    if (!verify)
        record(cfg, who, "backup", st ? "error" : "ok", &r, NULL);
    if (st) {
        cof_cli_fail(st, c.what);
        return 1;
    }
    if (verify) {
        printf("backup %s: all %" PRIu64 " files match BACKUP (%" PRIu64 " bytes, %" PRIu64
               " segments); store %s\n",
               dir, r.files, r.bytes, r.segments, r.store_id);
        return 0;
    }
    printf("backup of %s written to %s\n"
           "files           %" PRIu64 " (%" PRIu64 " bytes)\n"
           "segments        %" PRIu64 "\nwal files       %" PRIu64 "\nspool files     %" PRIu64
           "\naudit files     %" PRIu64 "\nmanifest re-reads %" PRIu64 "\nstore id        %s\n"
           "The master key is NOT in the backup (everything in it stays sealed): keep the key\n"
           "file %s separately and safely; without it the backup cannot be read.\n",
           cfg->data_dir, dir, r.files, r.bytes, r.segments, r.wal_files, r.spool_files,
           r.audit_files, r.retries, r.store_id, cfg->key_file);
    return 0;
}

int cof_cmd_restore(const cof_config *cfg, int argc, char **argv)
{
    const char *dir = NULL, *token_file = NULL;
    int force = 0;
    char who[COF_MAX_PRINCIPAL_NAME + 1];
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--progress"))
            force = 1;
        else if (!strcmp(argv[i], "--token-file") && i + 1 < argc)
            token_file = argv[++i];
        else if (argv[i][0] == '-' || dir)
            return usage(usage_restore, argc, argv);
        else
            dir = argv[i];
    }
    if (!dir)
        return usage(usage_restore, argc, argv);
    cli_ctx c = { .what = "restore" };
    cof_backup_result r;
    cof_store *s = NULL;
    cof_store_totals t;
    /* The key first: a wrong key is found before anything is copied. */
    cof_keyring *k = NULL;
    cof_status st = cof_keyring_open(dir, cfg->key_file, &k);
    cof_keyring_close(k);
    if (st) {
        cof_cli_fail(st, "restore: the master key must open the backup's keyring");
        return 1;
    }
    if (!who_runs(cfg, dir, token_file, "restore", who))
        return 1;
    cof_progress_start(&c.bar, "restore", force);
    st = cof_backup_restore(dir, cfg->data_dir, on_progress, &c, &r);
    cof_progress_end(&c.bar);
    if (st) {
        cof_cli_fail(st, "restore");
        return 1;
    }
    /* Prove it reads: a writer's open replays the WAL, close writes it to segments. */
    st = cof_store_open(cfg, COF_STORE_WRITE, &s);
    if (!st)
        st = cof_store_close(s);
    s = NULL;
    if (!st)
        st = cof_store_open(cfg, 0, &s);
    if (!st)
        st = cof_store_totals_get(s, &t);
    if (s)
        cof_store_abandon(s);
    if (st) {
        cof_cli_fail(st, "restore: the restored store does not open");
        return 1;
    }
    record(cfg, who, "restore", "ok", &r, r.created);
    printf("restored %" PRIu64 " files (%" PRIu64 " bytes) from %s into %s\n"
           "store id        %s\nsegments        %" PRIu64 "\nevents          %" PRIu64 "\n",
           r.files, r.bytes, dir, cfg->data_dir, r.store_id, t.segments, t.rows);
    if (r.spool_files)
        printf("spool files     %" PRIu64 " (acknowledged server intake; `coffer serve` stores "
               "what is not yet in the store when it starts)\n",
               r.spool_files);
    return 0;
}
