/* notice.c - audit record and alert for a CLI governance action (notice.h), through
 * the shared CLI helpers (cliutil.c): the same trail as the server, and the alert
 * sinks the access document names. */
#include "notice.h"

#include <stdio.h>

#include "cli.h"

cof_status cof_notice_record(const cof_config *cfg, cof_keyring *k, const cof_notice *n)
{
    (void)k; /* cof_cli_audit derives the audit key itself */
    cof_status st = cof_cli_audit(cfg, n->principal, n->action, n->params_json, n->outcome,
                                  n->tenants, n->ntenants, n->events, NULL);
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
