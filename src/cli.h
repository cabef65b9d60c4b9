/* cli.h - subcommands that live in their own modules (main.c dispatches to them).
 * Each takes the finished configuration (globals and config file applied) and the
 * arguments after the command name, and returns the process exit status: 0 success,
 * 1 failure, 2 usage error (or the command's documented codes). */
#ifndef COF_CLI_H
#define COF_CLI_H

#include "config.h"
#include "audit.h"
#include "keyring.h"
#include "ingest.h"
#include "status.h"
#include <stddef.h>
#include <stdint.h>

int cof_cmd_probe(const cof_config *cfg, int argc, char **argv);
int cof_cmd_audit(const cof_config *cfg, int argc, char **argv);
int cof_cmd_token(const cof_config *cfg, int argc, char **argv);
int cof_cmd_serve(const cof_config *cfg, int argc, char **argv);
int cof_cmd_check(const cof_config *cfg, int argc, char **argv);
int cof_cmd_poison(const cof_config *cfg, int argc, char **argv);
int cof_cmd_export(const cof_config *cfg, int argc, char **argv);

/* File ingest's inbound poison check (poison_cli.c): when DATA/poison.reg exists, opens
 * it and the alert sinks and hooks them into o, so mail to a poison address raises
 * "poison.left" (once per set per run). *out is NULL when there is nothing to watch.
 * Close after the run (flushes the alerts). */
typedef struct cof_poison_watch cof_poison_watch;
cof_status cof_poison_watch_open(const cof_config *cfg, cof_store *s, cof_ingest_opts *o,
                                 cof_poison_watch **out) COF_MUST_USE;
void cof_poison_watch_close(cof_poison_watch *w);
int cof_cmd_incident(const cof_config *cfg, int argc, char **argv);
int cof_cmd_verify_evidence(const cof_config *cfg, int argc, char **argv);
int cof_cmd_acl(const cof_config *cfg, int argc, char **argv);
int cof_cmd_lockdown(const cof_config *cfg, int argc, char **argv);
/* token_cli.c: the first administrators (coffer init --admins, coffer acl bootstrap). */
int cof_cmd_acl_bootstrap(const cof_config *cfg, const char *admins, const char *token_dir,
                          int single_admin, int quiet);

/* cliutil.c: record a governance command in the audit trail (source "local"). */
cof_status cof_cli_audit(const cof_config *cfg, const char *principal, const char *action,
                         const char *params_json, const char *outcome,
                         const char *const *tenants, size_t ntenants, uint64_t events,
                         uint64_t *seq) COF_MUST_USE;
/* Open the alert sinks the access document (else the config) names; close waits up to
 * 15 s for delivery. */
struct cof_alerts;
cof_status cof_cli_alerts_open(const cof_config *cfg, struct cof_alerts **out) COF_MUST_USE;
void cof_cli_alerts_close(struct cof_alerts *a);
int cof_cmd_backup(const cof_config *cfg, int argc, char **argv);
int cof_cmd_restore(const cof_config *cfg, int argc, char **argv);

/* The audit trail's Ed25519 public key: from --pubkey ARG (64 hex characters, or a file
 * holding them) when arg is not NULL, else derived from the keyring (needs the master
 * key). */
cof_status cof_cli_audit_pubkey(const cof_config *cfg, const char *arg, uint8_t pk[32]) COF_MUST_USE;

int cof_cmd_retention(const cof_config *cfg, int argc, char **argv);
int cof_cmd_subject(const cof_config *cfg, int argc, char **argv);

/* cli_audit.c: cof_cli_audit for a whole record (event ids too), signed with the
 * subkey of an already open keyring kr. Durable when it returns OK. */
cof_status cof_cli_audit_rec(const cof_config *cfg, cof_keyring *kr, const cof_audit_rec *r,
                             uint64_t *seq) COF_MUST_USE;
/* Print "coffer: WHAT: detail" for a failed status (never key bytes or personal values). */
void cof_cli_fail(cof_status st, const char *what);

#endif
