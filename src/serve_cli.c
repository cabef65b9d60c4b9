/* serve_cli.c - `coffer serve` arguments (the server itself is server.c). */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "server.h"

static const char usage_serve[] =
    "usage: coffer serve [--listen HOST:PORT] [--syslog-listen HOST:PORT]\n"
    "                    [--syslog-plain-listen HOST:PORT] [--quiet]\n"
    "\n"
    "Runs the HTTPS API (docs/API.md) and, if configured, the syslog intake over TLS\n"
    "(docs/SYSLOG.md) on this store. Every route but /healthz needs a bearer token\n"
    "(coffer token create). Defaults bind 127.0.0.1:8443 with the self-signed loopback\n"
    "certificate from coffer init; a non-loopback address needs tls_cert and tls_key in\n"
    "the config (your certificate), or serve refuses to start. Plain (unencrypted)\n"
    "syslog is accepted on loopback only.\n"
    "\n"
    "  --listen HOST:PORT               API address (config: listen)\n"
    "  --syslog-listen HOST:PORT        syslog over TLS, client certificates required\n"
    "                                   (config: syslog_listen, syslog_client_ca)\n"
    "  --syslog-plain-listen HOST:PORT  plain TCP syslog on loopback (config:\n"
    "                                   syslog_plain_listen)\n"
    "  --quiet                          no startup line on stderr\n"
    "\n"
    "Signals: SIGTERM or Ctrl-C drains and stops (no acknowledged event is lost);\n"
    "SIGHUP reloads the certificates and the access document.\n";

int cof_cmd_serve(const cof_config *cfg, int argc, char **argv)
{
    cof_serve_opts o;
    memset(&o, 0, sizeof o);
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = !strcmp(a, "--listen") ? &o.listen
                           : !strcmp(a, "--syslog-listen") ? &o.syslog_listen
                           : !strcmp(a, "--syslog-plain-listen") ? &o.syslog_plain_listen
                                                                 : NULL;
        if (dst) {
            if (i + 1 >= argc || !*argv[i + 1] || strlen(argv[i + 1]) >= 300) {
                fprintf(stderr, "coffer serve: %s needs HOST:PORT\n", a);
                return 2;
            }
            *dst = argv[++i];
        } else if (!strcmp(a, "--quiet")) {
            o.quiet = 1;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_serve, stdout);
            return 0;
        } else {
            fprintf(stderr, "coffer serve: unknown option %s\n", a);
            fputs(usage_serve, stderr);
            return 2;
        }
    }
    cof_status st = cof_server_run(cfg, &o);
    if (st) {
        cof_cli_fail(st, "serve");
        return 1;
    }
    return 0;
}
