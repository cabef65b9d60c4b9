/* notice.c - audit record and alert for a CLI governance action (notice.h), through
 * the shared CLI helpers (cliutil.c): the same trail as the server, and the alert
 * sinks the access document names. */
#include "notice.h"

#include <stdio.h>

#include "audit.h"
#include "cli.h"

cof_status cof_notice_record(const cof_config *cfg, cof_keyring *k, const cof_notice *n)
{
    cof_audit_rec r = { .principal = n->principal ? n->principal : "-", .source = "local",
                        .action = n->action, .params_json = n->params_json,
                        .outcome = n->outcome ? n->outcome : "ok", .tenants = n->tenants,
                        .ntenants = n->ntenants, .events = n->events };
    cof_status st = cof_cli_audit_rec(cfg, k, &r, NULL);
    if (st || !n->alert_kind)
        return st;
    /* The action is recorded; an alert that cannot be sent is reported, not fatal. */
    cof_alerts *al = NULL;
    if (cof_cli_alerts_open(cfg, &al) != COF_OK ||
        cof_alert_raise(al, n->alert_kind, n->severity, n->summary, n->details_json) != COF_OK)
        fprintf(stderr, "coffer: warning: alert %s not delivered: %s\n", n->alert_kind,
                cof_err_msg());
    cof_cli_alerts_close(al);
    return COF_OK;
}
