/* notice.c - audit record and alert for a CLI governance action (notice.h). */
#include "notice.h"

#include <stdio.h>

#include <sodium.h>

#include "audit.h"

cof_status cof_notice_record(const cof_config *cfg, cof_keyring *k, const cof_notice *n)
{
    cof_audit *a = NULL;
    cof_alerts *al = NULL;
    uint8_t *seed = sodium_malloc(32);
    cof_status st;
    if (!seed)
        return COF_ERR(COF_NOMEM, "key memory");
    if ((st = cof_keyring_subkey(k, "audit-ed25519", seed)) ||
        (st = cof_audit_open(cfg->data_dir, seed, &a)))
        goto out;
    cof_audit_rec r = { 0 };
    r.principal = n->principal ? n->principal : "-";
    r.source = "cli";
    r.action = n->action;
    r.params_json = n->params_json;
    r.outcome = n->outcome ? n->outcome : "ok";
    r.tenants = n->tenants;
    r.ntenants = n->ntenants;
    r.events = n->events;
    if ((st = cof_audit_append(a, &r, NULL)) || (st = cof_audit_checkpoint(a)))
        goto out;
    if (!n->alert_kind)
        goto out;
    /* The action is recorded; an alert that cannot be sent is reported, not fatal. */
    if (cof_alerts_open(cfg, &al) != COF_OK ||
        cof_alert_raise(al, n->alert_kind, n->severity, n->summary, n->details_json) != COF_OK ||
        cof_alerts_flush(al, 10000) != COF_OK)
        fprintf(stderr, "coffer: warning: alert %s not delivered: %s\n", n->alert_kind,
                cof_err_msg());
out:
    cof_alerts_close(al);
    cof_audit_close(a);
    sodium_free(seed);
    return st;
}
