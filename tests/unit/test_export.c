/* test_export.c - bulk export rules: reason, rate limit, two persons, expiry, one fetch,
 * watermark interleaving and the poison check before any byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "export.h"
#include "fsutil.h"
#include "ingest.h"
#include "seal.h"

#define HOUR (3600LL * 1000000)
#define DAY (24 * HOUR)
#define T0 (1763942400LL * 1000000) /* 2025-11-24T00:00:00Z */

typedef struct {
    char root[64], data[128], key[128];
    cof_config cfg;
} env;

static void make_env(env *e)
{
    snprintf(e->root, sizeof e->root, "/tmp/coffer-export-XXXXXX");
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

static void test_rules(void **state)
{
    (void)state;
    env e;
    make_env(&e);
    cof_export x, y;
    const char *d = e.data;
    e.cfg.export_per_day = 2;
    assert_int_equal(cof_export_request(&e.cfg, "alice", "acme", T0, T0 + DAY, "", T0, &x),
                     COF_BADINPUT);
    assert_int_equal(cof_export_request(&e.cfg, "alice", "acme", T0, T0 + DAY, "  ", T0, &x),
                     COF_BADINPUT);
    char longr[600];
    memset(longr, 'a', 501);
    longr[501] = 0;
    assert_int_equal(cof_export_request(&e.cfg, "alice", "acme", T0, T0 + DAY, longr, T0, &x),
                     COF_BADINPUT);
    assert_int_equal(cof_export_request(&e.cfg, "alice", "acme", T0 + DAY, T0, "r", T0, &x),
                     COF_BADINPUT);
    assert_int_equal(cof_export_request(&e.cfg, "alice", "acme", T0, T0 + DAY, "ticket 1", T0, &x),
                     COF_OK);
    assert_int_equal(x.state, COF_EXPORT_PENDING);
    assert_int_equal(strlen(x.id), COF_EXPORT_IDLEN);
    assert_int_equal(cof_export_request(&e.cfg, "alice", "acme", T0, T0 + DAY, "ticket 2",
                                        T0 + HOUR, &y), COF_OK);
    /* the third within 24 h is over export_per_day; another person is not */
    assert_int_equal(cof_export_request(&e.cfg, "alice", "acme", T0, T0 + DAY, "ticket 3",
                                        T0 + 2 * HOUR, &y), COF_LIMIT);
    cof_export z;
    assert_int_equal(cof_export_request(&e.cfg, "carol", "acme", T0, T0 + DAY, "t", T0, &z), COF_OK);
    /* a day later alice may ask again */
    assert_int_equal(cof_export_request(&e.cfg, "alice", "acme", T0, T0 + DAY, "ticket 4",
                                        T0 + DAY + 1, &z), COF_OK);

    /* the requester never approves; an approver needs ADMIN or EXPORT */
    assert_int_equal(cof_export_approve(d, x.id, "alice", COF_PERM_ADMIN, T0 + HOUR, &z), COF_DENIED);
    assert_int_equal(cof_export_approve(d, x.id, "bob", COF_PERM_TRAIL, T0 + HOUR, &z), COF_DENIED);
    assert_int_equal(cof_export_get(d, x.id, T0 + HOUR, &z), COF_OK);
    assert_int_equal(z.state, COF_EXPORT_PENDING);
    assert_int_equal(cof_export_approve(d, x.id, "bob", COF_PERM_ADMIN, T0 + HOUR, &z), COF_OK);
    assert_int_equal(z.state, COF_EXPORT_APPROVED);
    assert_string_equal(z.approver, "bob");
    assert_int_equal(cof_export_approve(d, x.id, "dave", COF_PERM_ADMIN, T0 + HOUR, &z), COF_DENIED);

    /* an approval that comes too late */
    assert_int_equal(cof_export_approve(d, y.id, "bob", COF_PERM_EXPORT, T0 + HOUR + DAY, &z),
                     COF_DENIED);
    assert_int_equal(cof_export_get(d, y.id, T0 + 2 * DAY, &z), COF_OK);
    assert_int_equal(z.state, COF_EXPORT_EXPIRED);
    /* an approved export not fetched in time expires too */
    assert_int_equal(cof_export_get(d, x.id, T0 + HOUR + DAY, &z), COF_OK);
    assert_int_equal(z.state, COF_EXPORT_EXPIRED);

    /* reject: the requester withdraws */
    cof_export w;
    assert_int_equal(cof_export_request(&e.cfg, "carol", "acme", T0, T0 + DAY, "t2", T0, &w), COF_OK);
    assert_int_equal(cof_export_reject(d, w.id, "mallory", 0, T0, &z), COF_DENIED);
    assert_int_equal(cof_export_reject(d, w.id, "carol", 0, T0, &z), COF_OK);
    assert_int_equal(z.state, COF_EXPORT_REJECTED);
    assert_int_equal(cof_export_approve(d, w.id, "bob", COF_PERM_ADMIN, T0, &z), COF_DENIED);

    assert_int_equal(cof_export_get(d, "x-00000000000000zz", T0, &z), COF_NOTFOUND);
    assert_int_equal(cof_export_get(d, "../../etc/passwd", T0, &z), COF_NOTFOUND);
    cof_export *all;
    size_t n;
    assert_int_equal(cof_export_list(d, T0, &all, &n), COF_OK);
    assert_int_equal(n, 5);
    free(all);
    free_env(&e);
}

typedef struct {
    cof_buf b;
} sink_buf;

static cof_status to_buf(void *ctx, const void *p, size_t n)
{
    return cof_buf_add(&((sink_buf *)ctx)->b, p, n);
}

static size_t count_lines(const cof_buf *b)
{
    size_t n = 0;
    for (size_t i = 0; i < b->n; i++)
        n += b->p[i] == '\n';
    return n;
}

static void add_events(cof_store *s, int n)
{
    cof_event_sink k;
    cof_event_sink_init(&k, s);
    for (int i = 0; i < n; i++) {
        char rcpt[64], qid[16];
        snprintf(rcpt, sizeof rcpt, "user%d@example.org", i % 7);
        snprintf(qid, sizeof qid, "ABC%04d", i);
        cof_event ev;
        cof_event_init(&ev);
        ev.time_us = T0 + (int64_t)i * HOUR / 4;
        ev.direction = COF_DIR_OUTBOUND;
        ev.status = COF_ST_SENT;
        ev.f[COF_F_HOST] = cof_str_c("mx1");
        ev.f[COF_F_INSTANCE] = cof_str_c("postfix");
        ev.f[COF_F_QUEUE_ID] = cof_str_c(qid);
        ev.f[COF_F_SENDER] = cof_str_c("news@shop.example.com");
        ev.f[COF_F_RECIPIENT] = cof_str_c(rcpt);
        ev.f[COF_F_RELAY_HOST] = cof_str_c("mx.example.org");
        assert_int_equal(cof_event_sink_add(&k, &ev, "acme"), COF_OK);
    }
    assert_int_equal(cof_store_commit(s), COF_OK);
    assert_int_equal(cof_store_flush(s), COF_OK);
}

static void test_write(void **state)
{
    (void)state;
    env e;
    make_env(&e);
    const char *d = e.data;
    cof_store *s;
    cof_poison *p;
    cof_export x, z;
    assert_int_equal(cof_store_open(&e.cfg, COF_STORE_WRITE, &s), COF_OK);
    assert_int_equal(cof_poison_open(d, cof_store_keyring(s), &p), COF_OK);
    add_events(s, 40); /* 10 hours of events from T0 */
    int64_t now = T0 + 2 * DAY;
    assert_int_equal(cof_export_request(&e.cfg, "alice", "acme", T0, T0 + DAY, "r", now, &x), COF_OK);
    sink_buf sb;
    cof_buf_init(&sb.b, 64u << 20);
    cof_export_result res;
    /* not approved yet */
    assert_int_equal(cof_export_write(s, p, x.id, "alice", now, to_buf, &sb, NULL, NULL, &res),
                     COF_DENIED);
    assert_int_equal(sb.b.n, 0);
    assert_int_equal(cof_export_approve(d, x.id, "bob", COF_PERM_ADMIN, now, &z), COF_OK);
    /* only the requester */
    assert_int_equal(cof_export_write(s, p, x.id, "bob", now, to_buf, &sb, NULL, NULL, &res),
                     COF_DENIED);
    assert_int_equal(cof_export_write(s, p, x.id, "alice", now, to_buf, &sb, NULL, NULL, &res),
                     COF_OK);
    assert_int_equal(res.events, 40);
    assert_int_equal(res.watermarks, COF_EXPORT_WATERMARK);
    assert_int_equal(res.subjects, 8); /* 7 recipients + 1 sender */
    assert_int_equal(count_lines(&sb.b), 40 + COF_EXPORT_WATERMARK);
    assert_non_null(memmem(sb.b.p, sb.b.n, "user3@example.org", 17)); /* unsealed */
    assert_true(res.categories & (1u << COF_F_RECIPIENT));
    /* the watermark is alice's; its lines are in the export */
    cof_poison_hit hit;
    int wm_lines = 0;
    char *text = calloc(1, sb.b.n + 1);
    memcpy(text, sb.b.p, sb.b.n);
    for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1) {
        *nl = 0;
        char *r = strstr(line, "\"recipient\":\"");
        assert_non_null(r);
        r += 13;
        char *q = strchr(r, '"');
        if (cof_poison_match_address(p, cof_str_make(r, (size_t)(q - r)), &hit)) {
            assert_string_equal(hit.owner, "alice");
            assert_int_equal(hit.kind, COF_POISON_WATERMARK);
            wm_lines++;
        }
    }
    free(text);
    assert_int_equal(wm_lines, COF_EXPORT_WATERMARK);
    assert_int_equal(cof_export_get(d, x.id, now, &z), COF_OK);
    assert_int_equal(z.state, COF_EXPORT_DONE);
    assert_int_equal(z.events, 40);
    assert_string_equal(z.watermark, res.watermark);
    /* one fetch only */
    cof_buf_reset(&sb.b);
    assert_int_equal(cof_export_write(s, p, x.id, "alice", now, to_buf, &sb, NULL, NULL, &res),
                     COF_DENIED);
    assert_int_equal(sb.b.n, 0);

    /* a planted trap in the window: withheld, nothing written, the hit named */
    char set[COF_POISON_IDLEN + 1];
    assert_int_equal(cof_poison_plant(p, s, "acme", 2, NULL, T0 + HOUR, T0 + 2 * HOUR, NULL, set),
                     COF_OK);
    assert_int_equal(cof_store_flush(s), COF_OK);
    assert_int_equal(cof_export_request(&e.cfg, "alice", "acme", T0, T0 + DAY, "r2", now, &x), COF_OK);
    assert_int_equal(cof_export_approve(d, x.id, "bob", COF_PERM_EXPORT, now, &z), COF_OK);
    assert_int_equal(cof_export_write(s, p, x.id, "alice", now, to_buf, &sb, NULL, NULL, &res),
                     COF_DENIED);
    assert_int_equal(sb.b.n, 0);
    assert_true(res.poisoned);
    assert_string_equal(res.hit.set_id, set);
    assert_int_equal(cof_export_get(d, x.id, now, &z), COF_OK);
    assert_int_equal(z.state, COF_EXPORT_WITHHELD);
    /* a window that misses the trap is fine */
    assert_int_equal(cof_export_request(&e.cfg, "carol", "acme", T0 + 3 * HOUR, T0 + DAY, "r3",
                                        now, &x), COF_OK);
    assert_int_equal(cof_export_approve(d, x.id, "bob", COF_PERM_EXPORT, now, &z), COF_OK);
    assert_int_equal(cof_export_write(s, p, x.id, "carol", now, to_buf, &sb, NULL, NULL, &res),
                     COF_OK);
    assert_int_equal(res.events, 40 - 12);
    cof_buf_free(&sb.b);
    cof_poison_close(p);
    assert_int_equal(cof_store_close(s), COF_OK);
    free_env(&e);
}

int main(void)
{
    assert_int_equal(cof_seal_init(), COF_OK);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules),
        cmocka_unit_test(test_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
