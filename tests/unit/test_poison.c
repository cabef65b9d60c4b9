/* test_poison.c - the poison registry: round trip, tamper, matching by token and by
 * address, watermarks, and planted events going through the store like real ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "fsutil.h"
#include "policy.h"
#include "poison.h"
#include "query.h"
#include "seal.h"
#include "store.h"

#define DAY (86400LL * 1000000)
#define T0 (1763942400LL * 1000000) /* 2025-11-24T00:00:00Z */

typedef struct {
    char root[64], data[128], key[128];
    cof_config cfg;
} env;

static void make_env(env *e)
{
    snprintf(e->root, sizeof e->root, "/tmp/coffer-poison-XXXXXX");
    assert_non_null(mkdtemp(e->root));
    snprintf(e->data, sizeof e->data, "%s/data", e->root);
    snprintf(e->key, sizeof e->key, "%s/keys/master.key", e->root);
    assert_int_equal(cof_config_init(&e->cfg), COF_OK);
    snprintf(e->cfg.data_dir, sizeof e->cfg.data_dir, "%s", e->data);
    snprintf(e->cfg.key_file, sizeof e->cfg.key_file, "%s", e->key);
    e->cfg.fsync = COF_FSYNC_NEVER;
    assert_int_equal(cof_fs_mkdir_p(e->data, 0700), COF_OK);
    assert_int_equal(cof_master_create(e->key, e->data), COF_OK);
    assert_int_equal(cof_store_create(&e->cfg), COF_OK);
    assert_int_equal(cof_keyring_create(e->data, e->key), COF_OK);
}

static void free_env(env *e)
{
    char cmd[200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", e->root);
    assert_int_equal(system(cmd), 0);
    cof_config_free(&e->cfg);
}

static uint64_t rows_of(cof_store *s)
{
    cof_store_totals t;
    assert_int_equal(cof_store_totals_get(s, &t), COF_OK);
    return t.rows;
}

/* Plant, reopen, and find every planted address by token, by address and in the store. */
static void test_plant_roundtrip_match(void **state)
{
    (void)state;
    env e;
    make_env(&e);
    cof_store *s;
    cof_poison *p;
    cof_buf rev;
    cof_buf_init(&rev, 1 << 20);
    char id[COF_POISON_IDLEN + 1];
    assert_int_equal(cof_store_open(&e.cfg, COF_STORE_WRITE, &s), COF_OK);
    cof_keyring *k = cof_store_keyring(s);
    assert_int_equal(cof_poison_open(e.data, k, &p), COF_OK);
    assert_int_equal(cof_poison_nsets(p), 0);
    assert_int_equal(cof_poison_plant(p, s, "acme", 12, "traps.example.net", T0, T0 + 7 * DAY,
                                      &rev, id), COF_OK);
    assert_int_equal(strlen(id), 16);
    assert_int_equal(cof_store_flush(s), COF_OK);
    assert_int_equal(rows_of(s), 12);
    /* the registry is sealed, 0600, and holds no address */
    char path[300];
    struct stat sb;
    snprintf(path, sizeof path, "%s/poison.reg", e.data);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    uint8_t *file;
    size_t fn;
    assert_int_equal(cof_fs_read_file(path, 1 << 20, &file, &fn), COF_OK);
    assert_null(memmem(file, fn, "traps.example.net", 17));
    free(file);

    /* a fresh handle reads the same set back */
    cof_poison *q;
    assert_int_equal(cof_poison_open(e.data, k, &q), COF_OK);
    cof_poison_set_info *sets;
    uint32_t n;
    assert_int_equal(cof_poison_list(q, &sets, &n), COF_OK);
    assert_int_equal(n, 1);
    assert_string_equal(sets[0].id, id);
    assert_string_equal(sets[0].tenant, "acme");
    assert_int_equal(sets[0].kind, COF_POISON_PLANTED);
    assert_int_equal(sets[0].count, 12);
    free(sets);

    /* every revealed address matches by address, and its stored row by token */
    char *line = (char *)rev.p;
    int addrs = 0;
    assert_int_equal(cof_buf_add_u8(&rev, 0), COF_OK);
    line = (char *)rev.p;
    for (char *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = 0;
        cof_poison_hit hit;
        assert_true(strstr(line, "@traps.example.net") != NULL);
        assert_true(cof_poison_match_address(q, cof_str_c(line), &hit));
        assert_string_equal(hit.set_id, id);
        assert_int_equal(hit.kind, COF_POISON_PLANTED);
        char up[400];
        snprintf(up, sizeof up, " <%s> ", line);
        for (char *c = up; *c; c++)
            *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 32 : *c);
        assert_true(cof_poison_match_address(q, cof_str_c(up), NULL)); /* normalized */

        cof_trail_query tq = { COF_F_RECIPIENT, cof_str_c(line), 0, INT64_MAX, "acme", 1, 0 };
        cof_trail t;
        assert_int_equal(cof_query_trail(s, &tq, &t), COF_OK);
        assert_int_equal(t.n, 1);
        /* a trail record carries no tokens: the match computes one from the value */
        assert_true(cof_poison_match_record(q, "acme", &t.ev[0].r, &hit));
        assert_true(cof_poison_match_planted(q, "acme", &t.ev[0].r, NULL));
        assert_false(cof_poison_match_record(q, "other", &t.ev[0].r, NULL));
        assert_true(t.ev[0].r.time_us >= T0 && t.ev[0].r.time_us < T0 + 7 * DAY);
        cof_trail_free(&t);
        addrs++;
    }
    assert_int_equal(addrs, 12);
    assert_false(cof_poison_match_address(q, cof_str_c("someone.else@traps.example.net"), NULL));

    /* a record with a real recipient does not match */
    const uint8_t *bk;
    assert_int_equal(cof_keyring_blind_key(k, "acme", &bk), COF_OK);
    cof_record r;
    cof_record_init(&r);
    assert_int_equal(cof_seal_token(bk, COF_F_RECIPIENT, cof_str_c("jo@example.org"),
                                    r.token[COF_F_RECIPIENT]), COF_OK);
    r.token_mask = 1u << COF_F_RECIPIENT;
    assert_false(cof_poison_match_record(q, "acme", &r, NULL));

    cof_poison_close(q);
    cof_poison_close(p);
    assert_int_equal(cof_store_close(s), COF_OK);
    sodium_memzero(rev.p, rev.cap);
    cof_buf_free(&rev);
    free_env(&e);
}

/* One flipped byte anywhere, or another store's key: COF_CORRUPT, never a parse. */
static void test_tamper_corrupt(void **state)
{
    (void)state;
    env e;
    make_env(&e);
    cof_store *s;
    cof_poison *p;
    char id[COF_POISON_IDLEN + 1];
    assert_int_equal(cof_store_open(&e.cfg, COF_STORE_WRITE, &s), COF_OK);
    assert_int_equal(cof_poison_open(e.data, cof_store_keyring(s), &p), COF_OK);
    assert_int_equal(cof_poison_plant(p, s, "acme", 3, NULL, T0, T0 + DAY, NULL, id), COF_OK);
    cof_poison_close(p);
    char path[300];
    snprintf(path, sizeof path, "%s/poison.reg", e.data);
    uint8_t *file;
    size_t n;
    assert_int_equal(cof_fs_read_file(path, 1 << 20, &file, &n), COF_OK);
    for (size_t i = 0; i < n; i += 7) {
        file[i] ^= 0x20;
        assert_int_equal(cof_fs_replace(path, file, n, 0600), COF_OK);
        assert_int_equal(cof_poison_open(e.data, cof_store_keyring(s), &p), COF_CORRUPT);
        file[i] ^= 0x20;
    }
    assert_int_equal(cof_fs_replace(path, file, n, 0600), COF_OK);
    assert_int_equal(cof_poison_open(e.data, cof_store_keyring(s), &p), COF_OK);
    assert_int_equal(cof_poison_nsets(p), 1);
    cof_poison_close(p);
    uint8_t other[32] = { 1 };
    uint32_t ns;
    assert_int_equal(cof_poison_parse_file(file, n, other, &ns), COF_CORRUPT);
    free(file);
    /* the wrong mode is refused */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(cof_poison_open(e.data, cof_store_keyring(s), &p), COF_DENIED);
    assert_int_equal(cof_store_close(s), COF_OK);
    free_env(&e);
}

/* Watermarks: owner recorded, records in time order inside the window, not stored, and
 * a second handle sees the new set after reload_if_changed. */
static void test_watermark(void **state)
{
    (void)state;
    env e;
    make_env(&e);
    cof_store *s;
    cof_poison *p, *q;
    char id[COF_POISON_IDLEN + 1];
    assert_int_equal(cof_store_open(&e.cfg, COF_STORE_WRITE, &s), COF_OK);
    assert_int_equal(cof_poison_open(e.data, cof_store_keyring(s), &p), COF_OK);
    assert_int_equal(cof_poison_open(e.data, cof_store_keyring(s), &q), COF_OK);
    const cof_record *recs;
    cof_poison_records *mem;
    assert_int_equal(cof_poison_watermark(p, s, "acme", "alice", 5, T0, T0 + DAY, id, &recs,
                                          &mem), COF_OK);
    for (int i = 0; i < 5; i++) {
        assert_true(recs[i].time_us >= T0 && recs[i].time_us < T0 + DAY);
        if (i)
            assert_true(recs[i].time_us >= recs[i - 1].time_us);
        assert_true(recs[i].sealed[COF_F_RECIPIENT].n > 0);
        assert_true(cof_str_eq_lit(recs[i].clear[COF_F_TENANT], "acme"));
        cof_poison_hit hit;
        assert_true(cof_poison_match_record(p, "acme", &recs[i], &hit));
        assert_int_equal(hit.kind, COF_POISON_WATERMARK);
        assert_string_equal(hit.owner, "alice");
        assert_false(cof_poison_match_planted(p, "acme", &recs[i], NULL));
        assert_true(cof_poison_match_address(p, recs[i].sealed[COF_F_RECIPIENT], NULL));
    }
    int changed = 0;
    assert_false(cof_poison_match_address(q, recs[0].sealed[COF_F_RECIPIENT], NULL));
    assert_int_equal(cof_poison_reload_if_changed(q, &changed), COF_OK);
    assert_int_equal(changed, 1);
    assert_true(cof_poison_match_address(q, recs[0].sealed[COF_F_RECIPIENT], NULL));
    assert_int_equal(cof_poison_reload_if_changed(q, &changed), COF_OK);
    assert_int_equal(changed, 0);
    cof_poison_records_free(mem);
    assert_int_equal(cof_store_flush(s), COF_OK);
    assert_int_equal(rows_of(s), 0); /* watermarks are never stored */
    /* bad arguments */
    assert_int_equal(cof_poison_watermark(p, s, "acme", "", 5, T0, T0 + DAY, id, &recs, &mem),
                     COF_BADINPUT);
    assert_int_equal(cof_poison_plant(p, s, "acme", 0, NULL, T0, T0 + DAY, NULL, id), COF_BADINPUT);
    assert_int_equal(cof_poison_plant(p, s, "acme", 3, "bad domain", T0, T0 + DAY, NULL, id),
                     COF_BADINPUT);
    assert_int_equal(cof_poison_plant(p, s, "acme", 3, NULL, T0 + DAY, T0, NULL, id), COF_BADINPUT);
    cof_poison_close(q);
    cof_poison_close(p);
    assert_int_equal(cof_store_close(s), COF_OK);
    free_env(&e);
}

/* The payload parser on hostile bytes: counts beyond the data are refused. */
static void test_payload_bounds(void **state)
{
    (void)state;
    uint32_t ns, na;
    uint8_t huge[] = { 0xff, 0xff, 0x03 }; /* 65535 sets declared, none present */
    assert_int_equal(cof_poison_parse_payload(huge, sizeof huge, &ns, &na), COF_CORRUPT);
    uint8_t empty[] = { 0 };
    assert_int_equal(cof_poison_parse_payload(empty, 1, &ns, &na), COF_OK);
    assert_int_equal(ns, 0);
    uint8_t trailing[] = { 0, 1 };
    assert_int_equal(cof_poison_parse_payload(trailing, 2, &ns, &na), COF_CORRUPT);
}

int main(void)
{
    assert_int_equal(cof_seal_init(), COF_OK);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plant_roundtrip_match),
        cmocka_unit_test(test_tamper_corrupt),
        cmocka_unit_test(test_watermark),
        cmocka_unit_test(test_payload_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
