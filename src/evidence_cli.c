/* evidence_cli.c - `coffer verify-evidence FILE --pubkey HEX|FILE` (docs/EVIDENCE.md).
 * Offline: needs neither the data directory nor the master key. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "evidence.h"
#include "fsutil.h"

static const char usage_verify[] =
    "usage: coffer verify-evidence FILE --pubkey HEX|FILE [--show]\n"
    "\n"
    "Checks a signed evidence report (written by `coffer check --evidence FILE`) with the\n"
    "audit public key the operator published (`coffer audit pubkey`): 64 hex characters,\n"
    "or a file holding them. The key embedded in the report is not trusted. Exit 0 when\n"
    "valid, 1 when invalid (it says what failed), 2 on a usage error. --show prints the\n"
    "verified report.\n";

int cof_cmd_verify_evidence(const cof_config *cfg, int argc, char **argv)
{
    const char *file = NULL, *pkarg = NULL;
    int show = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage_verify, stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--pubkey") && i + 1 < argc) {
            pkarg = argv[++i];
        } else if (!strcmp(argv[i], "--show")) {
            show = 1;
        } else if (argv[i][0] != '-' && !file) {
            file = argv[i];
        } else {
            fputs(usage_verify, stderr);
            return 2;
        }
    }
    if (!file || !pkarg) {
        fputs(usage_verify, stderr);
        return 2;
    }
    uint8_t pk[32];
    cof_status st = cof_cli_audit_pubkey(cfg, pkarg, pk);
    if (st) {
        cof_cli_fail(st, "verify-evidence: --pubkey");
        return 2;
    }
    char fpr[64];
    cof_evidence_fingerprint(pk, fpr, sizeof fpr);
    uint8_t *buf = NULL;
    size_t n = 0;
    if ((st = cof_fs_read_file(file, COF_EVIDENCE_MAX_BYTES, &buf, &n))) {
        cof_cli_fail(st, "verify-evidence");
        return 1;
    }
    json_t *rep = NULL;
    const char *why = NULL;
    st = cof_evidence_verify((const char *)buf, n, pk, &rep, &why);
    free(buf);
    if (st) {
        printf("evidence INVALID: %s (key %s)\n", why ? why : cof_err_msg(), fpr);
        return 1;
    }
    const json_t *au = json_object_get(rep, "audit"), *sm = json_object_get(rep, "summary");
    printf("evidence valid: signed by key %s\n"
           "  generated %s on host %s by coffer %s\n"
           "  findings: %lld critical, %lld high, %lld medium, %lld low, %lld info\n"
           "  audit trail: %s, %lld records, head seq %lld\n",
           fpr, json_string_value(json_object_get(rep, "generated")),
           json_string_value(json_object_get(rep, "host")),
           json_string_value(json_object_get(rep, "coffer_version")),
           (long long)json_integer_value(json_object_get(sm, "critical")),
           (long long)json_integer_value(json_object_get(sm, "high")),
           (long long)json_integer_value(json_object_get(sm, "medium")),
           (long long)json_integer_value(json_object_get(sm, "low")),
           (long long)json_integer_value(json_object_get(sm, "info")),
           json_string_value(json_object_get(au, "status")),
           (long long)json_integer_value(json_object_get(au, "records")),
           (long long)json_integer_value(json_object_get(au, "last_seq")));
    if (show) {
        char *s = json_dumps(rep, JSON_INDENT(2) | JSON_SORT_KEYS);
        if (s)
            puts(s);
        free(s);
    }
    json_decref(rep);
    return fflush(stdout) == 0 ? 0 : 1;
}
