/* cli.h - subcommands that live in their own modules (main.c dispatches to them).
 * Each takes the finished configuration (globals and config file applied) and the
 * arguments after the command name, and returns the process exit status: 0 success,
 * 1 failure, 2 usage error (or the command's documented codes). */
#ifndef COF_CLI_H
#define COF_CLI_H

#include <stdint.h>

#include "config.h"
#include "status.h"

int cof_cmd_probe(const cof_config *cfg, int argc, char **argv);
int cof_cmd_audit(const cof_config *cfg, int argc, char **argv);
int cof_cmd_token(const cof_config *cfg, int argc, char **argv);
int cof_cmd_serve(const cof_config *cfg, int argc, char **argv);
int cof_cmd_check(const cof_config *cfg, int argc, char **argv);
int cof_cmd_incident(const cof_config *cfg, int argc, char **argv);
int cof_cmd_verify_evidence(const cof_config *cfg, int argc, char **argv);

/* Append one record for an administrative CLI action to the audit trail (safe while
 * `coffer serve` runs; audit.h invariant 3). Principal "cli", source "local"; the
 * caller's uid is added to params_json (an object or NULL). Opens and closes the
 * writer (which signs a checkpoint on close). */
cof_status cof_cli_audit(const cof_config *cfg, const char *action, const char *params_json,
                         const char *const *tenants, size_t ntenants,
                         const char *outcome) COF_MUST_USE;

/* The audit trail's Ed25519 public key: from --pubkey ARG (64 hex characters, or a file
 * holding them) when arg is not NULL, else derived from the keyring (needs the master
 * key). */
cof_status cof_cli_audit_pubkey(const cof_config *cfg, const char *arg, uint8_t pk[32]) COF_MUST_USE;

/* Print "coffer: WHAT: detail" for a failed status (never key bytes or personal values). */
void cof_cli_fail(cof_status st, const char *what);

#endif
