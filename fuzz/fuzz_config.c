/* fuzz_config.c - the config parser on arbitrary bytes: never crash, never leak. */
#include <stddef.h>
#include <stdint.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cof_config c;
    if (cof_config_init(&c) != COF_OK)
        return 0;
    if (cof_config_load_buf(&c, (const char *)data, size, "fuzz") == COF_OK) {
        char buf[64];
        for (int f = 0; f < COF_NFIELDS; f++)
            (void)cof_policy_str(cof_config_policy(&c, "t", (cof_field)f), buf, sizeof buf);
    }
    cof_config_free(&c);
    return 0;
}
