/* test_config.c - config keys, policies and tenant attribution. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "policy.h"
#include "seal.h"
#include "timefmt.h"

static cof_status set(cof_config *c, const char *k, const char *v)
{
    return cof_config_set(c, cof_str_c(k), cof_str_c(v), "test");
}

static void test_defaults(void **state)
{
    (void)state;
    cof_config c;
    assert_int_equal(cof_config_init(&c), COF_OK);
    assert_int_equal(c.policy[COF_F_RECIPIENT], COF_P_SEAL | COF_P_DOMAIN);
    assert_int_equal(c.policy[COF_F_SENDER], COF_P_SEAL | COF_P_DOMAIN);
    assert_int_equal(c.policy[COF_F_CLIENT_IP], COF_P_SEAL | COF_P_PREFIX);
    assert_int_equal(c.policy[COF_F_SUBJECT], 0);
    assert_int_equal(c.policy[COF_F_RESPONSE], COF_P_SEAL);
    assert_int_equal(c.policy[COF_F_DSN], COF_P_KEEP);
    assert_int_equal(c.policy[COF_F_QUEUE_ID], COF_P_KEEP);
    assert_int_equal(c.fsync, COF_FSYNC_ALWAYS);
    cof_config_free(&c);
}

static void test_unknown_and_bad(void **state)
{
    (void)state;
    cof_config c;
    assert_int_equal(cof_config_init(&c), COF_OK);
    assert_int_equal(set(&c, "data_dri", "/x"), COF_BADINPUT);
    assert_int_equal(set(&c, "policy.recipient", "sael"), COF_BADINPUT);
    assert_int_equal(set(&c, "policy.relay_host", "domain"), COF_BADINPUT);
    assert_int_equal(set(&c, "policy.recipient", "seal,blind"), COF_BADINPUT);
    assert_int_equal(set(&c, "policy.tenant", "drop"), COF_BADINPUT);
    assert_int_equal(set(&c, "policy.nosuch", "keep"), COF_BADINPUT);
    assert_int_equal(set(&c, "fsync", "sometimes"), COF_BADINPUT);
    assert_int_equal(set(&c, "commit_events", "0"), COF_BADINPUT);
    assert_int_equal(set(&c, "commit_events", "99999999999999999999999"), COF_BADINPUT);
    assert_int_equal(set(&c, "tenant_rule", "sasl_username:x"), COF_BADINPUT);
    assert_int_equal(set(&c, "tenant_rule", "color:red => t"), COF_BADINPUT);
    assert_int_equal(set(&c, "tenant_rule", "client_net:300.1.1.1/8 => t"), COF_BADINPUT);
    assert_int_equal(set(&c, "tenant_rule", "client_net:10.0.0.0/33 => t"), COF_BADINPUT);
    assert_int_equal(set(&c, "tenant_rule", "sender_domain:x => bad name!"), COF_BADINPUT);
    assert_int_equal(set(&c, "policy.client_ip", " blind , prefix "), COF_OK);
    assert_int_equal(c.policy[COF_F_CLIENT_IP], COF_P_BLIND | COF_P_PREFIX);
    cof_config_free(&c);
}

static void test_load_file(void **state)
{
    (void)state;
    char path[] = "/tmp/cof-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *txt = "# comment\n\ndata_dir = /srv/coffer\nfsync = batch\nbogus = 1\n";
    assert_int_equal(write(fd, txt, strlen(txt)), (ssize_t)strlen(txt));
    close(fd);
    cof_config c;
    assert_int_equal(cof_config_init(&c), COF_OK);
    assert_int_equal(cof_config_load(&c, path), COF_BADINPUT);
    assert_non_null(strstr(cof_err_msg(), ":5"));
    assert_string_equal(c.data_dir, "/srv/coffer");
    assert_int_equal(c.fsync, COF_FSYNC_BATCH);
    unlink(path);
    cof_config_free(&c);
}

static void test_tenant_rules(void **state)
{
    (void)state;
    cof_config c;
    assert_int_equal(cof_config_init(&c), COF_OK);
    assert_int_equal(set(&c, "tenant_rule", "sasl_username:*@acme.example => acme"), COF_OK);
    assert_int_equal(set(&c, "tenant_rule", "sender_domain:.beta.example => beta"), COF_OK);
    assert_int_equal(set(&c, "tenant_rule", "client_net:2001:db8:1::/48 => gamma"), COF_OK);
    assert_int_equal(set(&c, "tenant_rule", "client_net:192.0.2.0/24 => delta"), COF_OK);
    char buf[COF_MAX_TENANT_NAME + 1];
    cof_event ev;
    cof_event_init(&ev);
    assert_string_equal(cof_policy_tenant(&c, &ev, buf), "default");
    ev.f[COF_F_SASL_USERNAME] = cof_str_c("Bob@ACME.example");
    assert_string_equal(cof_policy_tenant(&c, &ev, buf), "acme");
    cof_event_init(&ev);
    ev.f[COF_F_SENDER] = cof_str_c("x@mail.beta.example");
    assert_string_equal(cof_policy_tenant(&c, &ev, buf), "beta");
    ev.f[COF_F_SENDER] = cof_str_c("x@notbeta.example");
    assert_string_equal(cof_policy_tenant(&c, &ev, buf), "default");
    cof_event_init(&ev);
    ev.f[COF_F_CLIENT_IP] = cof_str_c("2001:db8:1:ffff::7");
    assert_string_equal(cof_policy_tenant(&c, &ev, buf), "gamma");
    ev.f[COF_F_CLIENT_IP] = cof_str_c("192.0.2.77");
    assert_string_equal(cof_policy_tenant(&c, &ev, buf), "delta");
    ev.f[COF_F_CLIENT_IP] = cof_str_c("192.0.3.77");
    assert_string_equal(cof_policy_tenant(&c, &ev, buf), "default");
    ev.f[COF_F_TENANT] = cof_str_c("explicit");
    assert_string_equal(cof_policy_tenant(&c, &ev, buf), "explicit");
    cof_config_free(&c);
}

static void test_policy_apply(void **state)
{
    (void)state;
    cof_config c;
    assert_int_equal(cof_config_init(&c), COF_OK);
    assert_int_equal(set(&c, "tenant.acme.subject", "seal"), COF_OK);
    uint8_t key[32];
    memset(key, 7, sizeof key);
    cof_event ev;
    cof_event_init(&ev);
    ev.f[COF_F_RECIPIENT] = cof_str_c("Alice@Example.COM");
    ev.f[COF_F_CLIENT_IP] = cof_str_c("198.51.100.23");
    ev.f[COF_F_SUBJECT] = cof_str_c("Hello");
    ev.f[COF_F_QUEUE_ID] = cof_str_c("3F1A2B");
    ev.f[COF_F_DSN] = cof_str_c("2.0.0");
    cof_policy_scratch sc;
    cof_record r;
    assert_int_equal(cof_policy_apply(&c, "default", key, &ev, &sc, &r), COF_OK);
    assert_true(cof_str_eq_lit(r.clear[COF_F_RECIPIENT], "Example.COM"));
    assert_true(cof_str_eq_lit(r.sealed[COF_F_RECIPIENT], "Alice@Example.COM"));
    assert_true(cof_str_eq_lit(r.clear[COF_F_CLIENT_IP], "198.51.100.0/24"));
    assert_true(r.token_mask & (1u << COF_F_RECIPIENT));
    assert_true(r.token_mask & (1u << COF_F_CLIENT_IP));
    assert_int_equal(r.clear[COF_F_SUBJECT].n + r.sealed[COF_F_SUBJECT].n, 0); /* dropped */
    assert_true(cof_str_eq_lit(r.clear[COF_F_QUEUE_ID], "3F1A2B"));
    assert_true(cof_str_eq_lit(r.clear[COF_F_TENANT], "default"));
    /* the token ignores case and <> */
    uint8_t tok[COF_TOKEN_LEN];
    assert_int_equal(cof_seal_token(key, COF_F_RECIPIENT, cof_str_c(" <alice@example.com> "), tok), COF_OK);
    assert_memory_equal(tok, r.token[COF_F_RECIPIENT], COF_TOKEN_LEN);
    /* another field, same value: another token */
    assert_int_equal(cof_seal_token(key, COF_F_SENDER, cof_str_c("alice@example.com"), tok), COF_OK);
    assert_memory_not_equal(tok, r.token[COF_F_RECIPIENT], COF_TOKEN_LEN);
    /* tenant opt-in seals the subject */
    assert_int_equal(cof_policy_apply(&c, "acme", key, &ev, &sc, &r), COF_OK);
    assert_true(cof_str_eq_lit(r.sealed[COF_F_SUBJECT], "Hello"));
    assert_int_equal(r.clear[COF_F_SUBJECT].n, 0);
    /* IPv6 prefix */
    ev.f[COF_F_CLIENT_IP] = cof_str_c("2001:db8:aa:bb::1");
    assert_int_equal(cof_policy_apply(&c, "default", key, &ev, &sc, &r), COF_OK);
    assert_true(cof_str_eq_lit(r.clear[COF_F_CLIENT_IP], "2001:db8:aa::/48"));
    cof_config_free(&c);
}

static void test_record_codec(void **state)
{
    (void)state;
    cof_record r, d;
    cof_record_init(&r);
    r.time_us = -5;
    r.status = COF_ST_BOUNCED;
    r.delay_ms = 1234;
    r.delays_ms[2] = 7;
    r.size = 1ull << 40;
    r.clear[COF_F_HOST] = cof_str_c("mx1");
    r.sealed[COF_F_RECIPIENT] = cof_str_c("a@b");
    r.token_mask = 1u << COF_F_RECIPIENT;
    memset(r.token[COF_F_RECIPIENT], 0xAB, COF_TOKEN_LEN);
    cof_buf b;
    cof_buf_init(&b, 1 << 20);
    assert_int_equal(cof_record_encode(&r, &b), COF_OK);
    cof_rd rd = cof_rd_make(b.p, b.n);
    assert_int_equal(cof_record_decode(&rd, &d), COF_OK);
    assert_true(rd.p == rd.end);
    assert_int_equal(d.time_us, -5);
    assert_int_equal(d.delay_ms, 1234);
    assert_int_equal(d.delays_ms[0], COF_NO_DELAY);
    assert_int_equal(d.delays_ms[2], 7);
    assert_true(d.size == (1ull << 40));
    assert_true(cof_str_eq_lit(d.sealed[COF_F_RECIPIENT], "a@b"));
    assert_memory_equal(d.token[COF_F_RECIPIENT], r.token[COF_F_RECIPIENT], COF_TOKEN_LEN);
    /* every truncation is rejected, never read past the end */
    for (size_t n = 0; n < b.n; n++) {
        rd = cof_rd_make(b.p, n);
        assert_int_equal(cof_record_decode(&rd, &d), COF_CORRUPT);
    }
    cof_buf_free(&b);
}

static void test_time_parse(void **state)
{
    (void)state;
    int64_t t;
    /* fuzzer find: a stamp cut after the hour read one byte past the end */
    static const char cut[13] = { '2', '0', '2', '6', '-', '1', '1', '-', '2', '3', 'T', '1', '5' };
    assert_int_equal(cof_time_parse(cof_str_make(cut, sizeof cut), 0, &t), COF_BADINPUT);
    assert_int_equal(cof_time_parse(cof_str_c("2026-11-23T14:02:03.5+01:00"), 0, &t), COF_OK);
    assert_true(t == (1795442523LL - 3600) * 1000000 + 500000);
    assert_int_equal(cof_time_parse(cof_str_c("2026-11-23"), 0, &t), COF_OK);
    assert_int_equal(cof_time_parse(cof_str_c("2h"), 10000000000LL, &t), COF_OK);
    assert_true(t == 10000000000LL - 7200000000LL);
    assert_int_equal(cof_time_parse(cof_str_c("2026-13-01"), 0, &t), COF_BADINPUT);
    assert_int_equal(cof_time_parse(cof_str_c("2026-11-23T14:02:03+01"), 0, &t), COF_BADINPUT);
    int64_t d;
    assert_int_equal(cof_duration_parse(cof_str_c("15m"), &d), COF_OK);
    assert_true(d == 900000000LL);
    assert_int_equal(cof_duration_parse(cof_str_c("0h"), &d), COF_BADINPUT);
}

/* Probe issue: allowed_networks, alert.* and probe.pin_sha256. */
static void test_probe_alert_keys(void **state)
{
    (void)state;
    cof_config c;
    assert_int_equal(cof_config_init(&c), COF_OK);
    /* Default: loopback only. */
    assert_int_equal(c.nallowed, 2);
    uint8_t lo[4] = { 127, 1, 2, 3 }, ten[4] = { 10, 1, 2, 3 }, v6lo[16] = { 0 };
    v6lo[15] = 1;
    assert_true(cof_netmask_contains(&c.allowed[0], 4, lo));
    assert_false(cof_netmask_contains(&c.allowed[0], 4, ten));
    assert_true(cof_netmask_contains(&c.allowed[1], 6, v6lo));
    assert_int_equal(c.alert_syslog, 1);
    assert_string_equal(c.alert_webhook, "");
    assert_int_equal(set(&c, "allowed_networks", "10.0.0.0/8, 192.168.1.0/24,fd00::/8"), COF_OK);
    assert_int_equal(c.nallowed, 3);
    assert_true(cof_netmask_contains(&c.allowed[0], 4, ten));
    assert_false(cof_netmask_contains(&c.allowed[0], 4, lo));
    assert_int_equal(set(&c, "allowed_networks", "10.0.0.1/8"), COF_BADINPUT); /* host bits */
    assert_int_equal(set(&c, "allowed_networks", "10.0.0.0/33"), COF_BADINPUT);
    assert_int_equal(set(&c, "allowed_networks", "example.org"), COF_BADINPUT);
    assert_int_equal(set(&c, "allowed_networks", ""), COF_BADINPUT);
    assert_int_equal(c.nallowed, 3); /* failed sets leave the old list */
    assert_int_equal(set(&c, "alert.syslog", "off"), COF_OK);
    assert_int_equal(c.alert_syslog, 0);
    assert_int_equal(set(&c, "alert.syslog", "maybe"), COF_BADINPUT);
    assert_int_equal(set(&c, "alert.webhook", "http://127.0.0.1/x"), COF_BADINPUT);
    assert_int_equal(set(&c, "alert.webhook", "https://127.0.0.1:9443/hook"), COF_OK);
    assert_string_equal(c.alert_webhook, "https://127.0.0.1:9443/hook");
    assert_int_equal(set(&c, "alert.webhook_secret_file", "/etc/coffer/hook.key"), COF_OK);
    assert_int_equal(set(&c, "alert.webhook_ca", "/etc/coffer/ca.pem"), COF_OK);
    assert_int_equal(set(&c, "alert.command", "relative/prog"), COF_BADINPUT);
    assert_int_equal(set(&c, "alert.command", "/usr/local/bin/page-me"), COF_OK);
    assert_string_equal(c.alert_command, "/usr/local/bin/page-me");
    assert_int_equal(set(&c, "alert.nosuch", "x"), COF_BADINPUT);
    assert_int_equal(set(&c, "probe.pin_sha256", "abc"), COF_BADINPUT);
    assert_int_equal(
        set(&c, "probe.pin_sha256",
            "00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff"),
        COF_OK);
    assert_string_equal(c.probe_pin_sha256,
                        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");
    cof_config_free(&c);
}

int main(void)
{
    assert_int_equal(cof_seal_init(), COF_OK);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),     cmocka_unit_test(test_unknown_and_bad),
        cmocka_unit_test(test_load_file),    cmocka_unit_test(test_tenant_rules),
        cmocka_unit_test(test_policy_apply), cmocka_unit_test(test_record_codec),
        cmocka_unit_test(test_time_parse),   cmocka_unit_test(test_probe_alert_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
