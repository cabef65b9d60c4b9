/* cliutil.c - what every governance command does after acting: record it in the audit
 * trail and raise its alert (cli.h). CLI commands append to the same hash-chained
 * trail as the server (audit.h: appends from several processes are serialised). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "access.h"
#include "alert.h"
#include "audit.h"
#include "cli.h"
#include "keyring.h"

cof_status cof_cli_audit_rec(const cof_config *cfg, cof_keyring *kr, const cof_audit_rec *r,
                             uint64_t *seq)
{
    cof_audit *au = NULL;
    uint8_t *seed = sodium_malloc(COF_KEY_LEN);
    cof_status st;
    if (!seed)
        return COF_ERR(COF_NOMEM, "key memory");
    if (!(st = cof_keyring_subkey(kr, "audit-ed25519", seed)) &&
        !(st = cof_audit_open(cfg->data_dir, seed, &au)))
        st = cof_audit_append(au, r, seq);
    cof_audit_close(au); /* writes the checkpoint that signs the record */
    sodium_free(seed);
    return st;
}

cof_status cof_cli_audit(const cof_config *cfg, const char *principal, const char *action,
                         const char *params_json, const char *outcome,
                         const char *const *tenants, size_t ntenants, uint64_t events,
                         uint64_t *seq)
{
    cof_keyring *k = NULL;
    cof_status st = cof_keyring_open(cfg->data_dir, cfg->key_file, &k);
    if (st)
        return st;
    cof_audit_rec r = { .principal = principal ? principal : "-", .source = "local",
                        .action = action, .params_json = params_json,
                        .outcome = outcome ? outcome : "ok", .tenants = tenants,
                        .ntenants = ntenants, .events = events };
    st = cof_cli_audit_rec(cfg, k, &r, seq);
    cof_keyring_close(k);
    return st;
}

cof_status cof_cli_alerts_open(const cof_config *cfg, cof_alerts **out)
{
    /* The access document names the sinks when it has them (they are governed). */
    cof_config *c = calloc(1, sizeof *c);
    cof_access *doc = NULL;
    cof_status st;
    *out = NULL;
    if (!c)
        return COF_ERR(COF_NOMEM, "alerts");
    *c = *cfg; /* shallow: only scalar alert fields are overwritten below */
    if (cof_access_load(cfg->data_dir, &doc) == COF_OK) {
        c->tpol = NULL; /* policies are not needed for alerts; never free cfg's arrays */
        c->ntpol = 0;
        c->rules = NULL;
        c->nrules = 0;
        if (doc->gov.has_alerts) {
            c->alert_syslog = doc->gov.alert_syslog;
            snprintf(c->alert_webhook, sizeof c->alert_webhook, "%s", doc->gov.alert_webhook);
            snprintf(c->alert_webhook_secret_file, sizeof c->alert_webhook_secret_file, "%s",
                     doc->gov.alert_webhook_secret_file);
            snprintf(c->alert_webhook_ca, sizeof c->alert_webhook_ca, "%s",
                     doc->gov.alert_webhook_ca);
            snprintf(c->alert_command, sizeof c->alert_command, "%s", doc->gov.alert_command);
        }
    }
    st = cof_alerts_open(c, out);
    cof_access_free(doc);
    free(c);
    return st;
}

void cof_cli_alerts_close(cof_alerts *a)
{
    if (!a)
        return;
    /* A CLI process is short-lived: give the sinks time to deliver (and retry once or
     * twice) before exiting, and say so if they did not. */
    if (cof_alerts_flush(a, 15000) != COF_OK)
        fprintf(stderr, "coffer: warning: not every alert was delivered: %s\n", cof_err_msg());
    cof_alerts_close(a);
}
