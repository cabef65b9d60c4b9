/* fuzz_change.c - hostile change files (DATA/changes/<id>.json): cof_change_parse, and
 * for every accepted proposal the evaluation against an empty document and against
 * itself (no change may ever be judged widening against itself), then serialising. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "change.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cof_change *c = NULL;
    if (cof_change_parse((const char *)data, size, "fuzz", &c) != COF_OK)
        return 0;
    char *s = NULL;
    if (cof_change_json(c, 1, &s) != COF_OK)
        abort();
    free(s);
    if (c->doc) {
        static cof_config cfg;
        static int inited;
        if (!inited) {
            if (cof_config_init(&cfg) != COF_OK)
                abort();
            inited = 1;
        }
        cof_access *empty = NULL;
        cof_change e1, e2;
        memset(&e1, 0, sizeof e1);
        memset(&e2, 0, sizeof e2);
        if (cof_access_new(&empty) != COF_OK)
            abort();
        (void)cof_change_evaluate(empty, c->doc, &cfg, 1700000000000000, &e1);
        if (cof_change_evaluate(c->doc, c->doc, &cfg, 1700000000000000, &e2) == COF_OK &&
            (e2.kind == COF_CHANGE_WIDEN || e2.kind == COF_CHANGE_LIFT || e2.required != 1))
            abort(); /* the identity change narrows nothing and widens nothing */
        for (uint32_t i = 0; i < e1.neffects; i++)
            free(e1.effects[i]);
        for (uint32_t i = 0; i < e2.neffects; i++)
            free(e2.effects[i]);
        free(e1.effects);
        free(e1.findings);
        free(e2.effects);
        free(e2.findings);
        cof_access_free(empty);
    }
    cof_change_free(c);
    return 0;
}
