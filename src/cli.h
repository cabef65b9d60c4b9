/* cli.h - subcommands that live in their own modules (main.c dispatches to them).
 * Each takes the finished configuration (globals and config file applied) and the
 * arguments after the command name, and returns the process exit status: 0 success,
 * 1 failure, 2 usage error (or the command's documented codes). */
#ifndef COF_CLI_H
#define COF_CLI_H

#include "config.h"
#include "audit.h"
#include "keyring.h"
#include "status.h"

int cof_cmd_probe(const cof_config *cfg, int argc, char **argv);
int cof_cmd_audit(const cof_config *cfg, int argc, char **argv);
int cof_cmd_token(const cof_config *cfg, int argc, char **argv);
int cof_cmd_serve(const cof_config *cfg, int argc, char **argv);
int cof_cmd_check(const cof_config *cfg, int argc, char **argv);

int cof_cmd_retention(const cof_config *cfg, int argc, char **argv);
int cof_cmd_subject(const cof_config *cfg, int argc, char **argv);

/* Append one record to the audit trail (cli_audit.c) with kr's signing subkey; *seq
 * (may be NULL) gets its sequence number. The record is durable when this returns OK. */
cof_status cof_cli_audit(const cof_config *cfg, cof_keyring *kr, const cof_audit_rec *r,
                         uint64_t *seq) COF_MUST_USE;
/* Print "coffer: WHAT: detail" for a failed status (never key bytes or personal values). */
void cof_cli_fail(cof_status st, const char *what);

#endif
