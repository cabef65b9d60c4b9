/* alert.h - alert sinks shared by the probe and governance: syslog, a signed HTTPS
 * webhook, and a command.
 *
 * Config keys (docs/CONFIG.md):
 *   alert.syslog = on|off            (default on; LOG_AUTH facility, "coffer-alert")
 *   alert.webhook = https://HOST[:PORT]/PATH    (https only; loopback or allowed_networks)
 *   alert.webhook_secret_file = FILE (0600; HMAC-SHA256 key, >= 32 bytes)
 *   alert.webhook_ca = FILE          (PEM CA for the webhook; default system store)
 *   alert.command = /path/to/program (run without a shell; alert JSON on stdin)
 * An alert is one JSON object: {"time","kind","severity","summary","details":{...},
 * "host","id"}. The webhook POSTs it with "X-Coffer-Signature: sha256=<hex HMAC of the
 * body>" and "X-Coffer-Alert-Id". Delivery is asynchronous (a bounded queue and one
 * thread); a failing sink is retried with exponential back-off (1 s .. 5 min, 8
 * tries), and its failure is itself raised as an alert on the other sinks. Alerts
 * never carry personal values (callers pass blind tokens). */
#ifndef COF_ALERT_H
#define COF_ALERT_H

#include "config.h"
#include "status.h"

typedef struct cof_alerts cof_alerts;

typedef enum { COF_SEV_INFO = 0, COF_SEV_LOW, COF_SEV_MEDIUM, COF_SEV_HIGH, COF_SEV_CRITICAL } cof_severity;
const char *cof_severity_name(cof_severity s);
cof_status cof_severity_parse(const char *s, cof_severity *out) COF_MUST_USE;

cof_status cof_alerts_open(const cof_config *cfg, cof_alerts **out) COF_MUST_USE;
/* Queue an alert (never blocks on a sink). details_json: a JSON object text or NULL. */
cof_status cof_alert_raise(cof_alerts *a, const char *kind, cof_severity sev,
                           const char *summary, const char *details_json) COF_MUST_USE;
/* Wait up to timeout_ms for the queue to drain (tests, shutdown). */
cof_status cof_alerts_flush(cof_alerts *a, int timeout_ms) COF_MUST_USE;
/* Counters for metrics. */
typedef struct { uint64_t raised, delivered, failed, dropped; } cof_alert_stats;
void cof_alerts_stats_get(cof_alerts *a, cof_alert_stats *s);
void cof_alerts_close(cof_alerts *a);

#endif
