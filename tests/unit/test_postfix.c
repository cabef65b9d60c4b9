/* test_postfix.c - the Postfix syslog line parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "bounds.h"
#include "postfix.h"

/* 2026-11-23T12:00:00Z */
#define NOW_US (INT64_C(1795435200) * 1000000)

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    return (cof_pf_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * INT64_C(1000000);
}

static cof_status parse(cof_pf_clock *ck, const char *z, cof_pf_line *l, cof_skip_reason *sk)
{
    return cof_pf_parse(ck, cof_str_c(z), l, sk);
}

static void test_classic(void **state)
{
    (void)state;
    cof_pf_clock ck;
    cof_pf_line l;
    cof_skip_reason sk;
    cof_pf_clock_init(&ck, 0, NOW_US);
    assert_int_equal(parse(&ck, "Nov 23 14:02:03 mx1 postfix/smtp[123]: 4F1A2B3C4D: to=<a@b>, status=sent (ok)", &l, &sk), COF_OK);
    assert_int_equal(sk, COF_SKIP_NONE);
    assert_true(l.time_us == utc(2026, 11, 23, 14, 2, 3));
    assert_true(cof_str_eq_lit(l.host, "mx1"));
    assert_true(cof_str_eq_lit(l.instance, "postfix"));
    assert_true(cof_str_eq_lit(l.service, "smtp"));
    assert_int_equal(l.pid, 123);
    assert_true(cof_str_eq_lit(l.queue_id, "4F1A2B3C4D"));
    assert_true(cof_str_eq_lit(l.text, "to=<a@b>, status=sent (ok)"));

    /* space-padded and zero-padded days, a fraction, no queue id */
    assert_int_equal(parse(&ck, "Nov  3 01:02:03 mx1 postfix/smtpd[9]: connect from x[1.2.3.4]", &l, &sk), COF_OK);
    assert_true(l.time_us == utc(2026, 11, 3, 1, 2, 3));
    assert_int_equal(l.queue_id.n, 0);
    assert_true(cof_str_eq_lit(l.text, "connect from x[1.2.3.4]"));
    assert_int_equal(parse(&ck, "Nov 03 01:02:03.250000 mx1 postfix/smtpd[9]: x", &l, &sk), COF_OK);
    assert_true(l.time_us == utc(2026, 11, 3, 1, 2, 3) + 250000);

    /* NOQUEUE and long queue ids; words like "warning" are not queue ids */
    assert_int_equal(parse(&ck, "Nov 23 14:02:03 mx1 postfix/smtpd[1]: NOQUEUE: reject: RCPT", &l, &sk), COF_OK);
    assert_true(cof_str_eq_lit(l.queue_id, "NOQUEUE"));
    assert_int_equal(parse(&ck, "Nov 23 14:02:03 mx1 postfix/qmgr[1]: 4Qn7Hb1Zm9z2xyT: removed", &l, &sk), COF_OK);
    assert_true(cof_str_eq_lit(l.queue_id, "4Qn7Hb1Zm9z2xyT"));
    assert_int_equal(parse(&ck, "Nov 23 14:02:03 mx1 postfix/smtpd[1]: warning: hostname x does not resolve", &l, &sk), COF_OK);
    assert_int_equal(l.queue_id.n, 0);
    assert_true(cof_str_starts(l.text, "warning: "));
    /* CRLF input */
    assert_int_equal(parse(&ck, "Nov 23 14:02:03 mx1 postfix/qmgr[1]: ABCDEF1234: removed\r", &l, &sk), COF_OK);
    assert_true(cof_str_eq_lit(l.text, "removed"));
}

static void test_instances(void **state)
{
    (void)state;
    cof_pf_clock ck;
    cof_pf_line l;
    cof_skip_reason sk;
    cof_pf_clock_init(&ck, 2026, 0);
    assert_int_equal(parse(&ck, "Nov 23 14:02:03 h postfix/submission/smtpd[5]: x", &l, &sk), COF_OK);
    assert_true(cof_str_eq_lit(l.instance, "postfix"));
    assert_true(cof_str_eq_lit(l.service, "smtpd"));
    assert_int_equal(parse(&ck, "Nov 23 14:02:03 h postfix-out/smtp[6]: x", &l, &sk), COF_OK);
    assert_true(cof_str_eq_lit(l.instance, "postfix-out"));
    assert_true(cof_str_eq_lit(l.service, "smtp"));
    assert_int_equal(parse(&ck, "Nov 23 14:02:03 h postfix-out/submission/smtpd[7]: x", &l, &sk), COF_OK);
    assert_true(cof_str_eq_lit(l.instance, "postfix-out"));
    assert_true(cof_str_eq_lit(l.service, "smtpd"));
    assert_int_equal(parse(&ck, "Nov 23 14:02:03 h postfix/postfix-script[8]: starting", &l, &sk), COF_OK);
    assert_true(cof_str_eq_lit(l.service, "postfix-script"));
    assert_int_equal(parse(&ck, "Nov 23 14:02:03 h sshd[9]: Accepted publickey", &l, &sk), COF_BADINPUT);
    assert_int_equal(sk, COF_SKIP_NOT_POSTFIX);
    assert_int_equal(parse(&ck, "Nov 23 14:02:03 h dovecot: imap-login: Login", &l, &sk), COF_BADINPUT);
    assert_int_equal(sk, COF_SKIP_NOT_POSTFIX);
}

static void test_rfc3339(void **state)
{
    (void)state;
    cof_pf_clock ck;
    cof_pf_line l;
    cof_skip_reason sk;
    cof_pf_clock_init(&ck, 0, NOW_US);
    assert_int_equal(parse(&ck, "2026-11-23T14:02:03.123456+01:00 h postfix/smtp[1]: x", &l, &sk), COF_OK);
    assert_true(l.time_us == utc(2026, 11, 23, 13, 2, 3) + 123456);
    assert_int_equal(parse(&ck, "2026-11-23T14:02:03Z h postfix/smtp[1]: x", &l, &sk), COF_OK);
    assert_true(l.time_us == utc(2026, 11, 23, 14, 2, 3));
    assert_int_equal(parse(&ck, "2026-11-23T23:30:00.5-05:30 h postfix/smtp[1]: x", &l, &sk), COF_OK);
    assert_true(l.time_us == utc(2026, 11, 24, 5, 0, 0) + 500000);
    assert_int_equal(parse(&ck, "2024-02-29T00:00:00+00:00 h postfix/smtp[1]: x", &l, &sk), COF_OK);
    assert_true(l.time_us == utc(2024, 2, 29, 0, 0, 0));
    /* seven fraction digits, a missing zone, Feb 30, an out-of-range hour */
    const char *bad[] = {
        "2026-11-23T14:02:03.1234567+01:00 h postfix/smtp[1]: x",
        "2026-11-23T14:02:03 h postfix/smtp[1]: x",
        "2026-02-30T14:02:03Z h postfix/smtp[1]: x",
        "2026-11-23T24:02:03Z h postfix/smtp[1]: x",
        "2026-11-23T14:02:03+1:00 h postfix/smtp[1]: x",
        "2026-11-23T14:02:03.Z h postfix/smtp[1]: x",
        "Foo 23 14:02:03 h postfix/smtp[1]: x",
        "Nov 32 14:02:03 h postfix/smtp[1]: x",
        "Nov 23 14:62:03 h postfix/smtp[1]: x",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(&ck, bad[i], &l, &sk), COF_BADINPUT);
        assert_int_equal(sk, COF_SKIP_TIME);
    }
}

static void test_year_inference(void **state)
{
    (void)state;
    cof_pf_clock ck;
    cof_pf_line l;
    cof_skip_reason sk;
    /* now = 2027-01-10: a December stamp is last year's */
    int64_t jan10 = utc(2027, 1, 10, 0, 0, 0);
    cof_pf_clock_init(&ck, 0, jan10);
    assert_int_equal(parse(&ck, "Dec 31 23:59:58 h postfix/qmgr[1]: x", &l, &sk), COF_OK);
    assert_true(l.time_us == utc(2026, 12, 31, 23, 59, 58));
    /* a small step back is not a rollover */
    assert_int_equal(parse(&ck, "Dec 31 23:59:50 h postfix/qmgr[1]: x", &l, &sk), COF_OK);
    assert_true(l.time_us == utc(2026, 12, 31, 23, 59, 50));
    /* Dec -> Jan: next year */
    assert_int_equal(parse(&ck, "Jan  1 00:00:01 h postfix/qmgr[1]: x", &l, &sk), COF_OK);
    assert_true(l.time_us == utc(2027, 1, 1, 0, 0, 1));
    /* a late December line after the rollover stays in the old year */
    assert_int_equal(parse(&ck, "Dec 31 23:59:59 h postfix/qmgr[1]: x", &l, &sk), COF_OK);
    assert_true(l.time_us == utc(2026, 12, 31, 23, 59, 59));
    assert_int_equal(parse(&ck, "Jan  1 00:00:02 h postfix/qmgr[1]: x", &l, &sk), COF_OK);
    assert_true(l.time_us == utc(2027, 1, 1, 0, 0, 2));

    /* a month not later than now: this year */
    cof_pf_clock_init(&ck, 0, jan10);
    assert_int_equal(parse(&ck, "Jan  9 10:00:00 h postfix/qmgr[1]: x", &l, &sk), COF_OK);
    assert_true(l.time_us == utc(2027, 1, 9, 10, 0, 0));

    /* a fixed year, with rollover from it */
    cof_pf_clock_init(&ck, 2020, jan10);
    assert_int_equal(parse(&ck, "Feb 29 10:00:00 h postfix/qmgr[1]: x", &l, &sk), COF_OK);
    assert_true(l.time_us == utc(2020, 2, 29, 10, 0, 0));
    assert_int_equal(parse(&ck, "Dec 31 10:00:00 h postfix/qmgr[1]: x", &l, &sk), COF_OK);
    assert_int_equal(parse(&ck, "Jan  1 10:00:00 h postfix/qmgr[1]: x", &l, &sk), COF_OK);
    assert_true(l.time_us == utc(2021, 1, 1, 10, 0, 0));
    /* Feb 29 in a non-leap year is a bad time */
    assert_int_equal(parse(&ck, "Feb 29 10:00:00 h postfix/qmgr[1]: x", &l, &sk), COF_BADINPUT);
    assert_int_equal(sk, COF_SKIP_TIME);
}

static void test_hostile(void **state)
{
    (void)state;
    cof_pf_clock ck;
    cof_pf_line l;
    cof_skip_reason sk;
    cof_pf_clock_init(&ck, 2026, 0);
    static char big[COF_MAX_LINE + 10];
    memset(big, 'a', sizeof big);
    assert_int_equal(cof_pf_parse(&ck, cof_str_make(big, sizeof big), &l, &sk), COF_BADINPUT);
    assert_int_equal(sk, COF_SKIP_OVERLONG);
    const char bin[] = "Nov 23 14:02:03 h postfix/smtp[1]: a\0b";
    assert_int_equal(cof_pf_parse(&ck, cof_str_make(bin, sizeof bin - 1), &l, &sk), COF_BADINPUT);
    assert_int_equal(sk, COF_SKIP_BINARY);
    assert_int_equal(parse(&ck, "Nov 23 14:02:03 h postfix/smtp[1]: \x1b[31m", &l, &sk), COF_BADINPUT);
    assert_int_equal(sk, COF_SKIP_BINARY);
    assert_int_equal(parse(&ck, "Nov 23 14:02:03 h postfix/smtp[1]: \xc3\x28", &l, &sk), COF_BADINPUT);
    assert_int_equal(sk, COF_SKIP_UTF8);
    assert_int_equal(parse(&ck, "Nov 23 14:02:03 h postfix/smtp[1]: tab\there caf\xc3\xa9", &l, &sk), COF_OK);
    const char *malformed[] = {
        "", "   ", "Nov 23 14:02:03", "Nov 23 14:02:03 ", "Nov 23 14:02:03 host",
        "Nov 23 14:02:03 host postfix/smtp[12", "Nov 23 14:02:03 host postfix/smtp[]: x",
        "Nov 23 14:02:03 host postfix/smtp[1234567890]: x", "Nov 23 14:02:03 host postfix/smtp[1] x",
        "{\"json\": 1}",
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        assert_int_equal(parse(&ck, malformed[i], &l, &sk), COF_BADINPUT);
        assert_int_equal(sk, COF_SKIP_MALFORMED);
    }
    /* every prefix of a good line parses or is skipped, never read past n */
    const char *good = "2026-11-23T14:02:03.123456+01:00 host postfix/smtp[123]: ABCDE12345: to=<a@b>";
    for (size_t n = 0; n <= strlen(good); n++) {
        char *cp = malloc(n ? n : 1); /* exact size: ASan catches over-reads */
        memcpy(cp, good, n);
        cof_status st = cof_pf_parse(&ck, cof_str_make(cp, n), &l, &sk);
        assert_true(st == COF_OK || sk != COF_SKIP_NONE);
        free(cp);
    }
}

static void test_kv(void **state)
{
    (void)state;
    cof_str rest = COF_STR_LIT("to=<r@x>, orig_to=<o@x>, relay=mx.example.com[192.0.2.1]:25, "
                               "conn_use=2, delay=1.2, delays=0.1/0.01/0.5/0.6, dsn=2.0.0, "
                               "status=sent (250 2.0.0 OK (queued as X) id=1)");
    cof_pf_kv kv;
    const char *keys[] = { "to", "orig_to", "relay", "conn_use", "delay", "delays", "dsn", "status" };
    const char *vals[] = { "r@x", "o@x", "mx.example.com[192.0.2.1]:25", "2", "1.2",
                           "0.1/0.01/0.5/0.6", "2.0.0", "sent" };
    for (int i = 0; i < 8; i++) {
        assert_int_equal(cof_pf_kv_next(&rest, &kv), COF_OK);
        assert_true(cof_str_eq_lit(kv.key, keys[i]));
        assert_true(cof_str_eq_lit(kv.val, vals[i]));
    }
    assert_true(cof_str_eq_lit(kv.note, "250 2.0.0 OK (queued as X) id=1"));
    assert_int_equal(cof_pf_kv_next(&rest, &kv), COF_AGAIN);

    rest = cof_str_c("from=<a@b>, status=expired, returned to sender");
    assert_int_equal(cof_pf_kv_next(&rest, &kv), COF_OK);
    assert_int_equal(cof_pf_kv_next(&rest, &kv), COF_OK);
    assert_true(cof_str_eq_lit(kv.val, "expired"));
    assert_int_equal(cof_pf_kv_next(&rest, &kv), COF_OK);
    assert_int_equal(kv.key.n, 0);
    assert_true(cof_str_eq_lit(kv.val, "returned to sender"));
    assert_int_equal(cof_pf_kv_next(&rest, &kv), COF_AGAIN);

    /* quoted comma inside an address; empty sender; cut value */
    rest = cof_str_c("from=<\"a, b\"@x>, size=1, nrcpt=2 (queue active)");
    assert_int_equal(cof_pf_kv_next(&rest, &kv), COF_OK);
    assert_true(cof_str_eq_lit(kv.val, "\"a, b\"@x"));
    rest = cof_str_c("from=<>, size=1");
    assert_int_equal(cof_pf_kv_next(&rest, &kv), COF_OK);
    assert_int_equal(kv.val.n, 0);
    assert_true(kv.quoted);
    rest = cof_str_c("to=<abc");
    assert_int_equal(cof_pf_kv_next(&rest, &kv), COF_BADINPUT);

    cof_str h, ip;
    uint16_t port;
    cof_pf_split_peer(cof_str_c("mx[2001:db8::1]:587"), &h, &ip, &port);
    assert_true(cof_str_eq_lit(h, "mx") && cof_str_eq_lit(ip, "2001:db8::1") && port == 587);
    cof_pf_split_peer(cof_str_c("local"), &h, &ip, &port);
    assert_true(cof_str_eq_lit(h, "local") && ip.n == 0 && port == 0);
    cof_pf_split_peer(cof_str_c("mx[1.2.3.4]:99999"), &h, &ip, &port);
    assert_int_equal(port, 0);

    assert_int_equal(cof_pf_seconds_ms(cof_str_c("1.2")), 1200);
    assert_int_equal(cof_pf_seconds_ms(cof_str_c("0.01")), 10);
    assert_int_equal(cof_pf_seconds_ms(cof_str_c("3633")), 3633000);
    assert_int_equal(cof_pf_seconds_ms(cof_str_c("0")), 0);
    assert_int_equal(cof_pf_seconds_ms(cof_str_c("x")), COF_NO_DELAY);
    assert_int_equal(cof_pf_seconds_ms(cof_str_c("99999999999999")), INT32_MAX / 1000 * 1000);
}

static void test_actions(void **state)
{
    (void)state;
    cof_pf_action a;
    /* smtpd: the first " from " ends the stage, even if the reply says "from" too */
    assert_int_equal(cof_pf_action_parse(cof_str_c("reject: MAIL from a.example[192.0.2.1]: 553 5.7.1 <s@x>: Sender address rejected: not accepted from a.example; from=<s@x> proto=ESMTP helo=<a.example>"), &a), COF_OK);
    assert_int_equal(a.status, COF_ST_REJECTED);
    assert_true(cof_str_eq_lit(a.client_host, "a.example"));
    assert_true(cof_str_eq_lit(a.client_ip, "192.0.2.1"));
    assert_true(cof_str_eq_lit(a.response, "553 5.7.1 <s@x>: Sender address rejected: not accepted from a.example"));
    assert_true(cof_str_eq_lit(a.dsn, "5.7.1"));
    assert_true(cof_str_eq_lit(a.sender, "s@x"));
    assert_int_equal(a.recipient.n, 0);
    /* CONNECT stage: no from= */
    assert_int_equal(cof_pf_action_parse(cof_str_c("reject: CONNECT from b[192.0.2.2]: 554 5.7.1 Service unavailable; Client host [192.0.2.2] blocked using zen.example; proto=SMTP"), &a), COF_OK);
    assert_true(cof_str_eq_lit(a.client_ip, "192.0.2.2"));
    assert_true(cof_str_eq_lit(a.dsn, "5.7.1"));
    /* cleanup: the last " from " ends the subject */
    assert_int_equal(cof_pf_action_parse(cof_str_c("hold: header Subject: news from the front from c[2001:db8::5]; from=<s@x> to=<r@y> proto=ESMTP helo=<c>: 4.7.1 held"), &a), COF_OK);
    assert_int_equal(a.status, COF_ST_HELD);
    assert_true(cof_str_eq_lit(a.subject, "news from the front"));
    assert_true(cof_str_eq_lit(a.client_ip, "2001:db8::5"));
    assert_true(cof_str_eq_lit(a.recipient, "r@y"));
    assert_true(cof_str_eq_lit(a.response, "4.7.1 held"));
    assert_true(cof_str_eq_lit(a.dsn, "4.7.1"));
    assert_int_equal(cof_pf_action_parse(cof_str_c("reject_warning: RCPT from x[1.2.3.4]: 450 4.1.1 no; from=<a> to=<b>"), &a), COF_AGAIN);
    assert_int_equal(cof_pf_action_parse(cof_str_c("reject: RCPT from x[1.2.3.4]: 450 no; from=<a"), &a), COF_BADINPUT);
    assert_int_equal(cof_pf_action_parse(cof_str_c("reject: nothing useful"), &a), COF_AGAIN);

    cof_str peer, proto, cipher;
    assert_true(cof_pf_tls_established(cof_str_c("Trusted TLS connection established to mx[2001:db8::1]:25: TLSv1.2 with cipher ECDHE-RSA-AES256-GCM-SHA384 (256/256 bits)"), &peer, &proto, &cipher));
    assert_true(cof_str_eq_lit(peer, "mx[2001:db8::1]:25"));
    assert_true(cof_str_eq_lit(proto, "TLSv1.2"));
    assert_true(cof_str_eq_lit(cipher, "ECDHE-RSA-AES256-GCM-SHA384"));
    assert_true(cof_pf_tls_established(cof_str_c("Untrusted TLS connection established from x[192.0.2.9]: TLSv1.3 with cipher TLS_AES_128_GCM_SHA256"), &peer, &proto, &cipher));
    assert_true(cof_str_eq_lit(peer, "x[192.0.2.9]"));
    assert_true(cof_str_eq_lit(cipher, "TLS_AES_128_GCM_SHA256"));
    assert_false(cof_pf_tls_established(cof_str_c("Anonymous TLS connection established from x[192.0.2.9"), &peer, &proto, &cipher));

    assert_true(cof_str_eq_lit(cof_pf_dsn_in(cof_str_c("550 5.1.1 <a@b>: unknown")), "5.1.1"));
    assert_true(cof_str_eq_lit(cof_pf_dsn_in(cof_str_c("4.7.1 held")), "4.7.1"));
    assert_int_equal(cof_pf_dsn_in(cof_str_c("550 no such user")).n, 0);
    assert_int_equal(cof_pf_dsn_in(cof_str_c("")).n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_classic),        cmocka_unit_test(test_instances),
        cmocka_unit_test(test_rfc3339),        cmocka_unit_test(test_year_inference),
        cmocka_unit_test(test_hostile),        cmocka_unit_test(test_kv),
        cmocka_unit_test(test_actions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
