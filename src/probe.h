/* probe.h - `coffer probe`: the outside view of the operator's own hosts (THREAT-MODEL
 * A1, A5). Targets are expanded and checked against allowed_networks before any
 * socket exists; a connect scan (non-blocking, bounded concurrency, per-host rate
 * limit) finds open ports; one detector per service then says what each open port
 * reveals without credentials, never reading records. docs/PROBE.md has the detail. */
#ifndef COF_PROBE_H
#define COF_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "alert.h"
#include "config.h"
#include "status.h"

/* Hosts in one plan: a /16 (the largest CIDR accepted) plus a few more. */
#define COF_PROBE_MAX_HOSTS 70000
/* Largest CIDR scanned: /16 for IPv4, /112 for IPv6 (65,536 addresses). */
#define COF_PROBE_MIN_PREFIX4 16
#define COF_PROBE_MIN_PREFIX6 112
/* Bytes read from one service answer: enough for any banner, status page or
 * metadata reply; more is never needed and never read (no record contents). */
#define COF_PROBE_MAX_READ (64u << 10)
/* Findings kept from one run. */
#define COF_PROBE_MAX_FINDINGS 65536

typedef struct {
    int family;       /* 4 or 6 */
    uint8_t addr[16];
    uint16_t port;    /* 0: use the plan's port list */
    char name[256];   /* as given (Host header, TLS name); the address text for CIDRs */
} cof_probe_host;

typedef struct {
    cof_probe_host *hosts;
    size_t nhosts;
    uint16_t *ports;  /* the default or --ports list */
    size_t nports;
} cof_probe_plan;

typedef struct {
    int connect_timeout_ms; /* default 1000 */
    int read_timeout_ms;    /* default 2000 */
    unsigned concurrency;   /* connects in flight; default 512 */
    unsigned rate;          /* connects per second per host; default 4000 */
    unsigned workers;       /* detector threads; default 16 */
    const char *ca_file;    /* TLS verification (NULL: system store) */
    const char *pin_sha256; /* hex SHA-256 of the certificate or its public key, or NULL */
    int progress;           /* progress bar on stderr when it is a terminal */
} cof_probe_opts;

typedef struct {
    char target[64];     /* address text */
    uint16_t port;
    char service[24];    /* "redis", "elasticsearch", "coffer", ... */
    char check[40];      /* stable id of the check, e.g. "redis.no-auth" */
    cof_severity sev;
    char evidence[400];  /* short; names and counts only, never record contents */
    char fix[300];       /* a concrete configuration change */
} cof_finding;

void cof_probe_opts_default(cof_probe_opts *o);

/* Add one target (HOST, HOST:PORT, [V6]:PORT, CIDR). Refuses (COF_DENIED, message
 * naming allowed_networks) any address outside cfg->allowed, and (COF_LIMIT) CIDRs
 * larger than /16 or /112. Resolves names; every resolved address must be allowed.
 * Never creates a socket. */
cof_status cof_probe_plan_add(const cof_config *cfg, cof_probe_plan *p,
                              const char *spec) COF_MUST_USE;
/* Add every target of a file (one per line, '#' comments). */
cof_status cof_probe_plan_add_file(const cof_config *cfg, cof_probe_plan *p,
                                   const char *path) COF_MUST_USE;
/* "all", "1-1024", "22,80,8000-8100", or NULL for the default list. */
cof_status cof_probe_plan_ports(cof_probe_plan *p, const char *spec) COF_MUST_USE;
void cof_probe_plan_free(cof_probe_plan *p);

/* Scan and detect. *out (malloc'd, *n entries) sorted by severity (highest first),
 * then target and port. *nopen receives the number of open ports found. */
cof_status cof_probe_run(const cof_probe_plan *p, const cof_probe_opts *o, cof_finding **out,
                         size_t *n, size_t *nopen) COF_MUST_USE;

#endif
