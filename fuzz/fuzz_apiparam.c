/* fuzz_apiparam.c - the API's query parameters: the input is split like a query string
 * ("k=v&k=v", percent-decoded as the HTTP library does) and handed to the trail,
 * stats and audit validators and the batch-id check. Checks the bounds they promise:
 * an accepted trail lookup has exactly one complete value without wildcards, a limit in
 * 1..1000, and a valid tenant. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "apiparam.h"
#include "bounds.h"
#include "config.h"

static int hexv(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* In-place percent and '+' decoding; stops at NUL like a C string would. */
static void unescape(char *s)
{
    char *o = s;
    for (char *p = s; *p; p++) {
        if (*p == '%' && hexv(p[1]) >= 0 && hexv(p[2]) >= 0) {
            *o++ = (char)(hexv(p[1]) * 16 + hexv(p[2]));
            p += 2;
        } else {
            *o++ = *p == '+' ? ' ' : *p;
        }
    }
    *o = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 8192)
        return 0;
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    cof_kv kv[COF_API_MAX_PARAMS + 1];
    size_t n = 0;
    char *save = NULL;
    for (char *tok = strtok_r(buf, "&", &save); tok && n < COF_API_MAX_PARAMS + 1;
         tok = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(tok, '=');
        if (eq)
            *eq = 0;
        unescape(tok);
        if (eq)
            unescape(eq + 1);
        kv[n].k = tok;
        kv[n].v = eq ? eq + 1 : "";
        n++;
    }
    const char *why = NULL;
    const int64_t now = 1795000000000000LL;
    cof_trail_params tp;
    if (cof_api_trail_params(kv, n, now, &tp, &why) == COF_OK) {
        if (!tp.arg || !tp.value || tp.value_len == 0 || tp.value_len > COF_MAX_ADDR ||
            strpbrk(tp.value, "*%?") || tp.limit < 1 || tp.limit > COF_API_MAX_PAGE ||
            (tp.tenant && !cof_tenant_name_valid(cof_str_c(tp.tenant))))
            abort();
    } else if (!why) {
        abort(); /* every refusal says why */
    }
    cof_stats_params sp;
    why = NULL;
    if (cof_api_stats_params(kv, n, now, &sp, &why) == COF_OK) {
        if (sp.bucket < 0 || (sp.tenant && !cof_tenant_name_valid(cof_str_c(sp.tenant))))
            abort();
    } else if (!why) {
        abort();
    }
    cof_audit_params ap;
    why = NULL;
    if (cof_api_audit_params(kv, n, now, &ap, &why) == COF_OK) {
        if (ap.limit < 1 || ap.limit > COF_API_MAX_PAGE)
            abort();
    } else if (!why) {
        abort();
    }
    for (size_t i = 0; i < n; i++)
        (void)cof_api_batch_id_valid(kv[i].v);
    free(buf);
    return 0;
}
