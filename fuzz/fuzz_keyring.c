/* fuzz_keyring.c - arbitrary bytes as a keyring must never crash.
 *
 * First byte even: the rest is a whole keyring file image (header, key check, box).
 * First byte odd: the rest is the plaintext behind the AEAD, sealed here with the fixed
 * master key, so the entry parser is reached (random bytes never pass the tag).
 * A keyring that opens is then exercised through the public lookups. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "keyring.h"

static const uint8_t master[COF_KEY_LEN] = {
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
    0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42,
};

typedef struct {
    cof_keyring *k;
    unsigned seen;
} walk;

static cof_status visit(void *ctx, const char *tenant, uint32_t day)
{
    walk *w = ctx;
    const uint8_t *key = NULL;
    volatile uint8_t sink;
    if (cof_keyring_data_key(w->k, tenant, day, 0, &key) != COF_OK)
        abort(); /* every listed key must be found */
    sink = key[0] ^ key[COF_KEY_LEN - 1];
    (void)sink;
    if (++w->seen % 3 == 0)
        (void)cof_keyring_destroy_data_key(w->k, tenant, day); /* save fails: in memory */
    return COF_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cof_keyring *k = NULL;
    uint8_t *file = NULL;
    size_t n = 0;
    const uint8_t *key;
    if (size == 0)
        return 0;
    if (data[0] & 1) {
        if (cof_keyring_wrap_mem(data + 1, size - 1, master, &file, &n) != COF_OK)
            return 0;
        (void)cof_keyring_open_mem(file, n, master, "fuzz", &k);
        free(file);
    } else {
        (void)cof_keyring_open_mem(data + 1, size - 1, master, "fuzz", &k);
    }
    if (!k)
        return 0;
    if (cof_keyring_wal_key(k, &key) != COF_OK || !key)
        abort();
    walk w = { k, 0 };
    (void)cof_keyring_each_data_key(k, visit, &w);
    (void)cof_keyring_blind_key(k, "fuzz", &key);
    (void)cof_keyring_data_key(k, "fuzz", 1, 0, &key);
    cof_keyring_close(k);
    return 0;
}
