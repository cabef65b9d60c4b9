/* fuzz_poison.c - arbitrary bytes as a poison registry must never crash.
 *
 * First byte even: the rest is a whole registry file image (magic, version, box) under a
 * fixed key. First byte odd: the rest is the payload behind the AEAD, so the set parser
 * is reached (random bytes never pass the tag). */
#include <stddef.h>
#include <stdint.h>

#include "poison.h"

static const uint8_t key[32] = { 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
                                 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint32_t ns, na;
    if (size < 1)
        return 0;
    if (data[0] & 1)
        (void)cof_poison_parse_payload(data + 1, size - 1, &ns, &na);
    else
        (void)cof_poison_parse_file(data + 1, size - 1, key, &ns);
    return 0;
}
