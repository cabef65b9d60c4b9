/* test_evidence.c - the signed evidence envelope: round trip; any single changed byte
 * anywhere in the file, a wrong public key, truncation and extra bytes make it
 * invalid; the fingerprint's form. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "evidence.h"
#include "seal.h"

static uint8_t seed[32], other_seed[32];

static json_t *sample_report(void)
{
    json_t *r = json_pack("{s:s,s:s,s:s,s:[{s:s,s:s,s:s,s:s}],s:{s:i,s:i},"
                          "s:{s:[{s:s,s:[{s:s,s:[s,s],s:s}]}]},s:{s:s,s:i}}",
                          "generated", "2026-11-24T00:00:00Z", "host", "mx1 \"quoted\" é",
                          "coffer_version", "0.2.0", "findings", "severity", "low", "check",
                          "alerts.syslog_only", "evidence", "alerts go to the local syslog only",
                          "fix", "add alert.webhook", "summary", "critical", 0, "low", 1,
                          "access", "principals", "name", "alice", "grants", "role", "support",
                          "tenants", "acme", "beta", "expires", "never", "audit", "status",
                          "intact", "records", 12);
    assert_non_null(r);
    return r;
}

static void sign(const uint8_t *sd, char **file, size_t *n)
{
    json_t *r = sample_report();
    assert_int_equal(cof_evidence_sign(r, sd, file, n), COF_OK);
    json_decref(r);
}

static void pk_of(const uint8_t *sd, uint8_t pk[32])
{
    uint8_t sk[64];
    crypto_sign_seed_keypair(pk, sk, sd);
    sodium_memzero(sk, sizeof sk);
}

static void test_round_trip(void **state)
{
    (void)state;
    char *file;
    size_t n;
    uint8_t pk[32];
    sign(seed, &file, &n);
    pk_of(seed, pk);
    assert_true(n > 100 && file[n - 1] == '\n');
    json_t *rep = NULL, *want = sample_report();
    const char *why = "unset";
    assert_int_equal(cof_evidence_verify(file, n, pk, &rep, &why), COF_OK);
    assert_null(why);
    assert_true(json_equal(rep, want));
    json_decref(rep);
    json_decref(want);
    /* signing the same report twice gives the same bytes (Ed25519 is deterministic) */
    char *again;
    size_t n2;
    sign(seed, &again, &n2);
    assert_int_equal(n, n2);
    assert_memory_equal(file, again, n);
    free(again);
    free(file);
}

/* Every byte, changed in three ways (low bit, case bit, replaced by a space): never
 * valid. */
static void test_any_flipped_byte(void **state)
{
    (void)state;
    char *file;
    size_t n;
    uint8_t pk[32];
    sign(seed, &file, &n);
    pk_of(seed, pk);
    char *copy = malloc(n);
    assert_non_null(copy);
    static const int how[3] = { 0x01, 0x20, -1 };
    size_t tried = 0;
    for (size_t i = 0; i < n; i++)
        for (int k = 0; k < 3; k++) {
            memcpy(copy, file, n);
            copy[i] = how[k] < 0 ? ' ' : (char)(copy[i] ^ how[k]);
            if (copy[i] == file[i])
                continue;
            const char *why = NULL;
            json_t *rep = NULL;
            cof_status st = cof_evidence_verify(copy, n, pk, &rep, &why);
            if (st == COF_OK)
                fail_msg("byte %zu changed (%d) still verifies", i, how[k]);
            assert_int_equal(st, COF_CORRUPT);
            assert_non_null(why);
            assert_null(rep);
            tried++;
        }
    assert_true(tried > 2 * n);
    free(copy);
    free(file);
}

static void test_wrong_key_and_framing(void **state)
{
    (void)state;
    char *file, *forged;
    size_t n, fn;
    uint8_t pk[32], other[32];
    sign(seed, &file, &n);
    pk_of(seed, pk);
    pk_of(other_seed, other);
    const char *why = NULL;
    assert_int_equal(cof_evidence_verify(file, n, other, NULL, &why), COF_CORRUPT);
    assert_non_null(strstr(why, "another key"));
    /* signed by another key (embedded pubkey consistent with it): still not ours */
    sign(other_seed, &forged, &fn);
    assert_int_equal(cof_evidence_verify(forged, fn, pk, NULL, &why), COF_CORRUPT);
    /* the forged one's own key accepts it: the check is the key, not the embedding */
    assert_int_equal(cof_evidence_verify(forged, fn, other, NULL, &why), COF_OK);
    /* truncated, without the newline, with bytes after it, empty */
    assert_int_equal(cof_evidence_verify(file, n - 1, pk, NULL, &why), COF_CORRUPT);
    assert_int_equal(cof_evidence_verify(file, n / 2, pk, NULL, &why), COF_CORRUPT);
    assert_int_equal(cof_evidence_verify(file, 0, pk, NULL, &why), COF_CORRUPT);
    char *longer = malloc(n + 1);
    assert_non_null(longer);
    memcpy(longer, file, n);
    longer[n] = '\n';
    assert_int_equal(cof_evidence_verify(longer, n + 1, pk, NULL, &why), COF_CORRUPT);
    free(longer);
    /* the report swapped for another signed one's: the signature no longer matches */
    json_t *a = json_loadb(file, n - 1, 0, NULL), *b = json_loadb(forged, fn - 1, 0, NULL);
    json_t *r = json_deep_copy(json_object_get(a, "report"));
    json_object_set_new(r, "host", json_string("elsewhere"));
    json_object_set_new(a, "report", r);
    char *s = json_dumps(a, JSON_SORT_KEYS | JSON_COMPACT);
    size_t sl = strlen(s);
    s = realloc(s, sl + 2);
    s[sl] = '\n';
    assert_int_equal(cof_evidence_verify(s, sl + 1, pk, NULL, &why), COF_CORRUPT);
    assert_non_null(strstr(why, "signature"));
    free(s);
    json_decref(a);
    json_decref(b);
    free(forged);
    free(file);
}

static void test_fingerprint(void **state)
{
    (void)state;
    uint8_t pk[32];
    char f1[64], f2[64];
    pk_of(seed, pk);
    cof_evidence_fingerprint(pk, f1, sizeof f1);
    assert_int_equal(strlen(f1), 7 + 43);
    assert_memory_equal(f1, "SHA256:", 7);
    pk_of(other_seed, pk);
    cof_evidence_fingerprint(pk, f2, sizeof f2);
    assert_string_not_equal(f1, f2);
}

int main(void)
{
    assert_int_equal(cof_seal_init(), COF_OK);
    randombytes_buf(seed, sizeof seed);
    randombytes_buf(other_seed, sizeof other_seed);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_any_flipped_byte),
        cmocka_unit_test(test_wrong_key_and_framing),
        cmocka_unit_test(test_fingerprint),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
