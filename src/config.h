/* config.h - coffer's configuration: defaults, the config file, field policies and
 * tenant rules.
 *
 * File format: UTF-8 text, one "key = value" per line, '#' starts a comment line.
 * Unknown keys and malformed values are errors naming the file and line (a typo in a
 * security setting must never be silently ignored). Keys:
 *   data_dir = DIR                    key_file = FILE
 *   fsync = always|batch|never        (WAL durability; default always)
 *   commit_events = N                 (group commit size; default 8192)
 *   default_tenant = NAME             (default "default")
 *   policy.FIELD = POLICY             (field policy for every tenant)
 *   tenant.NAME.FIELD = POLICY        (a tenant's own policy for a field, e.g. subject)
 *   tenant_rule = KIND:PATTERN => TENANT   (ordered; first match wins)
 *       KIND: sasl_username (exact or "*@domain"), sender_domain (exact or ".suffix"),
 *             client_net (CIDR, v4 or v6)
 *   prefix_v4 = 24                    prefix_v6 = 48
 *   hold_seconds = 300  idle_seconds = 518400  max_open_messages = 65536
 *   cache_mb = 1024                   (decoded blocks kept in memory by readers)
 *   retention_ceiling_days = 400      (access changes keeping data longer need one more
 *                                      approver; docs/GOVERNANCE.md)
 *   server: listen, syslog_listen, syslog_plain_listen = HOST:PORT; tls_cert, tls_key,
 *   syslog_client_ca = FILE; max_connections, per_ip_connections, max_body_bytes,
 *   max_header_bytes, idle_timeout, header_timeout, request_timeout, rate_limit,
 *   budget_per_hour, lockout_failures, threads, retention_seconds = N (see
 *   cof_server_config)
 * Probe and alert sinks (see alert.h and docs/PROBE.md):
 *   allowed_networks = CIDR[,CIDR...] (probe targets; default 127.0.0.0/8,::1/128)
 *   alert.syslog = on|off   alert.webhook = https://...   alert.webhook_secret_file = FILE
 *   alert.webhook_ca = FILE   alert.command = /path   probe.pin_sha256 = HEX
 * Governance: export_per_day = N (bulk export requests per requester per 24 h; 3)
 * POLICY is "keep", "drop", or a comma list of seal|blind with optional domain|prefix,
 * or domain|prefix alone. */
#ifndef COF_CONFIG_H
#define COF_CONFIG_H

#include <stdint.h>

#include "bounds.h"
#include "event.h"
#include "status.h"
#include "str.h"

/* Field policy flags; 0 means "drop". */
enum {
    COF_P_KEEP = 1,   /* whole value in the clear */
    COF_P_DOMAIN = 2, /* addresses: the domain part in the clear */
    COF_P_PREFIX = 4, /* IPs: the network prefix in the clear */
    COF_P_BLIND = 8,  /* keyed blind index (exact-match search) */
    COF_P_SEAL = 16   /* encrypted value (AEAD) plus a blind index */
};

typedef enum { COF_FSYNC_ALWAYS = 0, COF_FSYNC_BATCH, COF_FSYNC_NEVER } cof_fsync_mode;

typedef enum { COF_RULE_SASL = 1, COF_RULE_SENDER_DOMAIN, COF_RULE_CLIENT_NET } cof_rule_kind;

typedef struct {
    uint8_t kind;           /* cof_rule_kind */
    uint8_t family;         /* client_net: 4 or 6 */
    uint8_t prefix_len;     /* client_net */
    uint8_t net[16];        /* client_net, masked */
    char pattern[COF_MAX_ADDR + 1];
    char tenant[COF_MAX_TENANT_NAME + 1];
} cof_tenant_rule;

typedef struct {
    char tenant[COF_MAX_TENANT_NAME + 1];
    uint8_t policy[COF_NFIELDS];
    uint32_t set_mask; /* fields this tenant overrides */
} cof_tenant_policy;

/* The server's settings (coffer serve; docs/CONFIG.md). Empty strings: not set. */
typedef struct {
    char listen[300];            /* API HOST:PORT (default: the access document's) */
    char syslog_listen[300];     /* syslog over TLS HOST:PORT */
    char syslog_plain_listen[300]; /* plain TCP syslog, loopback only */
    char tls_cert[4096], tls_key[4096]; /* default: next to the master key */
    char syslog_client_ca[4096]; /* CA of syslog client certificates */
    uint32_t max_connections;    /* 10000 */
    uint32_t per_ip_connections; /* 512 */
    uint32_t max_body_bytes;     /* 16 MiB */
    uint32_t max_header_bytes;   /* 16 KiB (per-connection memory for headers) */
    uint32_t idle_timeout;       /* seconds a connection may stay silent; 30 */
    uint32_t header_timeout;     /* seconds to send a complete request head; 10 */
    uint32_t request_timeout;    /* seconds for a whole request; 60 */
    uint32_t rate_limit;         /* requests per second per principal; 200 */
    uint32_t budget_per_hour;    /* unsealed events per principal per hour; 1000 */
    uint32_t lockout_failures;   /* failed authentications before lockout; 20 */
    uint32_t threads;            /* HTTP worker threads; 8 */
    uint32_t retention_seconds;  /* how often the server applies retention; 3600 */
} cof_server_config;
/* An IPv4 or IPv6 network (probe issue: allowed_networks). */
typedef struct {
    uint8_t family;     /* 4 or 6 */
    uint8_t prefix_len;
    uint8_t net[16];    /* masked */
} cof_netmask;

/* Parse "ADDR[/LEN]" (v4 or v6; host bits must be zero). */
cof_status cof_netmask_parse(cof_str v, cof_netmask *out) COF_MUST_USE;
/* 1 if the address (4 or 16 bytes per family) lies inside m. */
int cof_netmask_contains(const cof_netmask *m, int family, const uint8_t *addr);
/* Most allowed_networks entries accepted. */
#define COF_MAX_ALLOWED_NETWORKS 256

typedef struct {
    char data_dir[4096];
    char key_file[4096];
    cof_fsync_mode fsync;
    uint32_t commit_events;
    char default_tenant[COF_MAX_TENANT_NAME + 1];
    uint8_t policy[COF_NFIELDS];
    uint32_t prefix_v4, prefix_v6;
    uint32_t hold_seconds, idle_seconds, max_open_messages;
    uint32_t cache_mb;           /* decoded blocks kept by readers, all segments; 1024 */
    uint32_t retention_ceiling_days; /* a proposal keeping data longer is critical; 400 */
    cof_server_config srv;
    cof_tenant_rule *rules;
    uint32_t nrules;
    cof_tenant_policy *tpol;
    uint32_t ntpol;
    /* --- probe and alert sinks (probe issue; keep together) --- */
    cof_netmask allowed[COF_MAX_ALLOWED_NETWORKS]; /* allowed_networks (inline: the config
                                                      owns no heap memory for it) */
    uint32_t nallowed;
    int alert_syslog;        /* alert.syslog (default on) */
    char alert_webhook[1024];        /* alert.webhook ("" = none) */
    char alert_webhook_secret_file[4096];
    char alert_webhook_ca[4096];
    char alert_command[4096];        /* alert.command ("" = none) */
    char probe_pin_sha256[65];       /* probe.pin_sha256, lowercase hex ("" = none) */
    /* --- end probe and alert sinks --- */
    uint32_t export_per_day;         /* bulk export requests per requester per 24 h; 3 */
} cof_config;

/* Defaults (data_dir "./coffer-data", key_file "~/.config/coffer/master.key"). */
cof_status cof_config_init(cof_config *c) COF_MUST_USE;
void cof_config_free(cof_config *c);

/* Read a config file on top of the current values. */
cof_status cof_config_load(cof_config *c, const char *path) COF_MUST_USE;

/* The same over a buffer (path names it in errors). */
cof_status cof_config_load_buf(cof_config *c, const char *buf, size_t n,
                               const char *path) COF_MUST_USE;

/* Set one key; where names the origin for error messages ("file:line"). */
cof_status cof_config_set(cof_config *c, cof_str key, cof_str value, const char *where) COF_MUST_USE;

/* Parse a POLICY string for field f. */
cof_status cof_policy_parse(cof_field f, cof_str v, uint8_t *flags) COF_MUST_USE;
/* Render flags as a policy string ("seal,domain"); buf of >= 32 bytes. */
const char *cof_policy_str(uint8_t flags, char *buf, size_t cap);

/* The effective policy of field f for tenant. */
uint8_t cof_config_policy(const cof_config *c, const char *tenant, cof_field f);

/* A valid tenant name: 1..COF_MAX_TENANT_NAME of [A-Za-z0-9._-]. */
int cof_tenant_name_valid(cof_str name);

#endif
