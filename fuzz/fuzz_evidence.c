/* fuzz_evidence.c - the evidence verifier on arbitrary bytes: once against a fixed key,
 * and once against the key the input embeds (so inputs can reach the signature check
 * and the report it returns). A valid verdict must come with a report object. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "evidence.h"
#include "seal.h"

static void check_one(const char *s, size_t n, const uint8_t pk[32])
{
    json_t *rep = NULL;
    const char *why = NULL;
    cof_status st = cof_evidence_verify(s, n, pk, &rep, &why);
    if (st == COF_OK && (!json_is_object(rep) || why))
        abort();
    if (st != COF_OK && (rep || !why))
        abort();
    json_decref(rep);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t pk[32];
    static int ready;
    if (!ready) {
        uint8_t seed[32] = { 7 }, sk[64];
        if (cof_seal_init() != COF_OK)
            abort();
        crypto_sign_seed_keypair(pk, sk, seed);
        ready = 1;
    }
    const char *s = (const char *)data;
    check_one(s, size, pk);
    json_t *root = size > 1 ? json_loadb(s, size - 1, 0, NULL) : NULL;
    const char *h = json_string_value(json_object_get(root, "pubkey"));
    uint8_t epk[32];
    size_t bl = 0;
    if (h && strlen(h) == 64 && sodium_hex2bin(epk, 32, h, 64, NULL, &bl, NULL) == 0 && bl == 32)
        check_one(s, size, epk);
    json_decref(root);
    return 0;
}
