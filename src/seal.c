/* seal.c - blind tokens and sealed boxes on libsodium. */
#include "seal.h"

#include <sodium.h>

cof_status cof_seal_init(void)
{
    if (sodium_init() < 0)
        return COF_ERR(COF_DENIED, "libsodium failed to initialize");
    return COF_OK;
}

cof_status cof_seal_normalize(cof_str v, char *out, size_t cap, size_t *n)
{
    v = cof_str_trim(v);
    if (v.n >= 2 && v.p[0] == '<' && v.p[v.n - 1] == '>') {
        v.p++;
        v.n -= 2;
        v = cof_str_trim(v);
    }
    if (v.n > cap)
        return COF_ERR(COF_LIMIT, "value longer than %zu bytes", cap);
    for (size_t i = 0; i < v.n; i++) {
        unsigned char c = (unsigned char)v.p[i];
        out[i] = (char)((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
    *n = v.n;
    return COF_OK;
}

cof_status cof_seal_token(const uint8_t key[COF_SEAL_KEYBYTES], cof_field f, cof_str v,
                          uint8_t out[COF_TOKEN_LEN])
{
    static const char domain[] = "coffer-token-v1";
    char norm[COF_MAX_FIELD];
    size_t n;
    cof_status st = cof_seal_normalize(v, norm, sizeof norm, &n);
    if (st)
        return st;
    crypto_generichash_state h;
    uint8_t fid = (uint8_t)f;
    crypto_generichash_init(&h, key, COF_SEAL_KEYBYTES, COF_TOKEN_LEN);
    crypto_generichash_update(&h, (const uint8_t *)domain, sizeof domain - 1);
    crypto_generichash_update(&h, &fid, 1);
    crypto_generichash_update(&h, (const uint8_t *)norm, n);
    crypto_generichash_final(&h, out, COF_TOKEN_LEN);
    sodium_memzero(norm, n);
    return COF_OK;
}

cof_status cof_seal_box(const uint8_t key[COF_SEAL_KEYBYTES], const uint8_t *ad, size_t adlen,
                        const uint8_t *pt, size_t n, uint8_t *out)
{
    randombytes_buf(out, COF_SEAL_NONCEBYTES);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + COF_SEAL_NONCEBYTES, &clen, pt, n, ad, adlen,
                                               NULL, out, key);
    return COF_OK;
}

cof_status cof_seal_open(const uint8_t key[COF_SEAL_KEYBYTES], const uint8_t *ad, size_t adlen,
                         const uint8_t *in, size_t n, uint8_t *out)
{
    if (n < COF_SEAL_OVERHEAD)
        return COF_ERR(COF_CORRUPT, "sealed box too short");
    unsigned long long mlen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(out, &mlen, NULL, in + COF_SEAL_NONCEBYTES,
                                                   n - COF_SEAL_NONCEBYTES, ad, adlen, in,
                                                   key) != 0) {
        sodium_memzero(out, n - COF_SEAL_OVERHEAD);
        return COF_ERR(COF_CORRUPT, "sealed box failed authentication");
    }
    return COF_OK;
}

int cof_seal_equal(const void *a, const void *b, size_t n)
{
    return sodium_memcmp(a, b, n) == 0;
}
