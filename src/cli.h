/* cli.h - subcommands that live in their own modules (main.c dispatches to them).
 * Each takes the finished configuration (globals and config file applied) and the
 * arguments after the command name, and returns the process exit status: 0 success,
 * 1 failure, 2 usage error (or the command's documented codes). */
#ifndef COF_CLI_H
#define COF_CLI_H

#include "config.h"
#include "status.h"

int cof_cmd_probe(const cof_config *cfg, int argc, char **argv);
int cof_cmd_audit(const cof_config *cfg, int argc, char **argv);
int cof_cmd_token(const cof_config *cfg, int argc, char **argv);
int cof_cmd_serve(const cof_config *cfg, int argc, char **argv);
int cof_cmd_check(const cof_config *cfg, int argc, char **argv);
int cof_cmd_backup(const cof_config *cfg, int argc, char **argv);
int cof_cmd_restore(const cof_config *cfg, int argc, char **argv);

/* Print "coffer: WHAT: detail" for a failed status (never key bytes or personal values). */
void cof_cli_fail(cof_status st, const char *what);

#endif
