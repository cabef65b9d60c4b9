/* notice.h - an audited, announced governance action taken from the command line
 * (poison plant, export request/approve/reject/fetch, ...): one audit record and,
 * optionally, one alert to the configured sinks.
 *
 * The audit record is appended (and fsync'ed) before cof_notice_record returns OK, so
 * a CLI command calls it before it reports success or releases data. The alert is
 * queued and flushed with a bounded wait; a failing alert sink is reported on stderr
 * but does not undo the action (the audit record is the proof that it happened). */
#ifndef COF_NOTICE_H
#define COF_NOTICE_H

#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "config.h"
#include "keyring.h"
#include "status.h"

typedef struct {
    const char *principal;       /* who acted ("-" if unknown) */
    const char *action;          /* audit action, e.g. "export.fetch" */
    const char *params_json;     /* JSON object free of personal values, or NULL */
    const char *outcome;         /* "ok", "denied", ... */
    const char *const *tenants;
    size_t ntenants;
    uint64_t events;
    const char *alert_kind;      /* NULL: no alert */
    cof_severity severity;
    const char *summary;
    const char *details_json;    /* JSON object free of personal values, or NULL */
} cof_notice;

cof_status cof_notice_record(const cof_config *cfg, cof_keyring *k,
                             const cof_notice *n) COF_MUST_USE;

#endif
