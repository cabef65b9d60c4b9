/* fuzz_audit.c - the audit trail's readers on arbitrary bytes: the line parser, the
 * chain checker over a multi-line buffer (as cof_audit_verify walks a file), and the
 * writer's JSON string escaper (whatever it produces must be a valid JSON string). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit_int.h"
#include "seal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t pk[32];
    static int ready;
    if (!ready) {
        uint8_t seed[32] = { 1 };
        if (cof_seal_init() != COF_OK || cof_audit_public_key(seed, pk) != COF_OK)
            abort();
        ready = 1;
    }
    const char *s = (const char *)data;

    /* one line */
    cof_audit_entry e;
    if (cof_audit_parse_line(cof_str_make(s, size), &e) == COF_OK) {
        /* slices lie inside the line */
        if (e.line.p != s || e.line.n != size || e.action.n == 0 || e.seq == 0)
            abort();
        if (e.params_json.p && (e.params_json.p < s || e.params_json.p + e.params_json.n > s + size))
            abort();
    }

    /* many lines through the chain checker */
    cof_audit_report rep;
    cof_audit_chain c;
    cof_audit_chain_init(&c, pk, &rep);
    size_t start = 0;
    uint64_t lineno = 0;
    for (size_t i = 0; i < size; i++) {
        if (data[i] != '\n')
            continue;
        if (cof_audit_chain_line(&c, cof_str_make(s + start, i - start), "fuzz", ++lineno))
            break;
        start = i + 1;
    }
    if (rep.problem == COF_AUDIT_OK && rep.records + rep.checkpoints != rep.last_seq)
        abort();

    /* again with every parsable line's hash made right (as a forger would), so the
     * prev, seq, head and signature checks behind the hash check are reached */
    cof_audit_chain_init(&c, pk, &rep);
    start = 0;
    lineno = 0;
    char *fixed = malloc(COF_AUDIT_MAX_LINE);
    if (!fixed)
        return 0;
    for (size_t i = 0; i < size; i++) {
        if (data[i] != '\n')
            continue;
        size_t n = i - start;
        cof_audit_parsed p;
        if (n <= COF_AUDIT_MAX_LINE && cof_audit_parse_full(cof_str_make(s + start, n), &p) == COF_OK) {
            uint8_t h[32];
            char hex[65];
            memcpy(fixed, s + start, n);
            cof_audit_line_hash(p.prev, fixed, p.hashed_len, h);
            cof_audit_hex(h, 32, hex);
            memcpy(fixed + p.hashed_len + 9, hex, 64);
            if (cof_audit_chain_line(&c, cof_str_make(fixed, n), "fuzz", ++lineno) ==
                COF_AUDIT_EDITED)
                abort(); /* the hash was just made right */
        }
        if (rep.problem)
            break;
        start = i + 1;
    }
    free(fixed);

    /* escaping: the output always parses back as a JSON string */
    char out[4096 + 8];
    int cut = 0;
    size_t n = cof_audit_escape(cof_str_make(s, size), out + 6, 4096, &cut);
    memcpy(out, "{\"k\":\"", 6);
    memcpy(out + 6 + n, "\"}", 2);
    json_error_t err;
    json_t *j = json_loadb(out, n + 8, JSON_REJECT_DUPLICATES, &err);
    if (!j)
        abort();
    json_decref(j);
    return 0;
}
