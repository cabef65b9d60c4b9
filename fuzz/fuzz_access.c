/* fuzz_access.c - hostile input to the access layer: cof_access_parse (and, for every
 * document it accepts, the rules and a dump -> parse -> dump fixed point), the strict
 * token-string parser, and the tokens.json parser. Never crash, never leak. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "access.h"
#include "token_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    cof_access *a = NULL;
    if (cof_access_parse(buf, size, "fuzz", &a) == COF_OK) {
        char *d1 = NULL, *d2 = NULL;
        size_t n1 = 0, n2 = 0;
        cof_access *b = NULL;
        if (cof_access_dump(a, &d1, &n1) != COF_OK || cof_access_parse(d1, n1, "dump", &b) != COF_OK ||
            cof_access_dump(b, &d2, &n2) != COF_OK || n1 != n2 || memcmp(d1, d2, n1) != 0)
            abort(); /* an accepted document must survive its own round trip */
        for (uint32_t i = 0; i < a->nprincipals; i++) {
            const cof_principal *p = &a->principals[i];
            const char *names[16];
            uint32_t n;
            int all;
            uint32_t any = cof_access_any_perms(a, p, 0);
            uint32_t star = cof_access_perms(a, p, NULL, 0);
            if ((star & ~any) || (p->suspended && any))
                abort();
            (void)cof_access_perms(a, p, "acme", INT64_MAX);
            cof_access_scope(a, p, COF_PERM_TRAIL, 0, &all, names, 16, &n);
            if (n > 16 || (all && n))
                abort();
            if ((cof_access_perms(a, p, NULL, 0) & COF_PERM_TRAIL) == 0)
                for (uint32_t k = 0; k < n; k++)
                    if (!(cof_access_perms(a, p, names[k], 0) & COF_PERM_TRAIL))
                        abort();
            if (p->cert_sha256[0] && cof_access_by_cert(a, p->cert_sha256) != p)
                abort();
        }
        free(d1);
        free(d2);
        cof_access_free(b);
        cof_access_free(a);
    }
    char id[COF_TOKEN_IDLEN + 1];
    if (cof_token_parse(cof_str_make(buf, size), id) && (size != COF_TOKEN_STRLEN || strlen(id) != 16))
        abort();
    cof_token_entry *e = NULL;
    size_t n = 0;
    if (cof_tokens_parse_mem(buf, size, "fuzz", &e, &n) == COF_OK)
        free(e);
    return 0;
}
