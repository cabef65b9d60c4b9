/* test_probe.c - probe targets (allowed_networks refusal, CIDR bounds, ports) and the
 * service-answer parsers on known replies. No sockets: target expansion never makes one. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alert.h"
#include "probe_int.h"

static cof_status add(cof_config *c, cof_probe_plan *p, const char *t)
{
    return cof_probe_plan_add(c, p, t);
}

static void test_targets(void **state)
{
    (void)state;
    cof_config c;
    cof_probe_plan p;
    memset(&p, 0, sizeof p);
    assert_int_equal(cof_config_init(&c), COF_OK);
    assert_int_equal(add(&c, &p, "127.0.0.1"), COF_OK);
    assert_int_equal(add(&c, &p, "127.0.0.1:6379"), COF_OK);
    assert_int_equal(add(&c, &p, "[::1]:8443"), COF_OK);
    assert_int_equal(add(&c, &p, "::1"), COF_OK);
    assert_int_equal(p.nhosts, 4);
    assert_int_equal(p.hosts[1].port, 6379);
    assert_int_equal(p.hosts[2].family, 6);
    assert_int_equal(add(&c, &p, "10.1.2.3"), COF_DENIED);
    assert_true(strstr(cof_err_msg(), "allowed_networks") != NULL);
    assert_int_equal(add(&c, &p, "192.0.2.0/24"), COF_DENIED);
    assert_int_equal(add(&c, &p, "[2001:db8::1]:80"), COF_DENIED);
    assert_int_equal(add(&c, &p, "127.0.0.0/7"), COF_LIMIT);    /* too big, and outside */
    assert_int_equal(add(&c, &p, "10.0.0.0/8"), COF_LIMIT);     /* too big first */
    assert_int_equal(add(&c, &p, "127.0.0.1:0"), COF_BADINPUT);
    assert_int_equal(add(&c, &p, "127.0.0.1:70000"), COF_BADINPUT);
    assert_int_equal(add(&c, &p, "[::1"), COF_BADINPUT);
    assert_int_equal(p.nhosts, 4); /* refusals add nothing */
    assert_int_equal(add(&c, &p, "127.0.1.0/30"), COF_OK); /* .1 and .2 */
    assert_int_equal(p.nhosts, 6);
    assert_int_equal(add(&c, &p, "127.0.0.0/16"), COF_OK); /* the largest accepted */
    assert_true(p.nhosts > 65000);
    cof_probe_plan_free(&p);
    /* A CIDR must lie wholly inside one allowed network. */
    assert_int_equal(cof_config_set(&c, cof_str_c("allowed_networks"), cof_str_c("10.0.0.0/24"), "t"), COF_OK);
    assert_int_equal(add(&c, &p, "10.0.0.0/23"), COF_DENIED);
    assert_int_equal(add(&c, &p, "10.0.0.128/25"), COF_OK);
    assert_int_equal(add(&c, &p, "127.0.0.1"), COF_DENIED);
    cof_probe_plan_free(&p);
    cof_config_free(&c);
}

static void test_ports(void **state)
{
    (void)state;
    cof_probe_plan p;
    memset(&p, 0, sizeof p);
    assert_int_equal(cof_probe_plan_ports(&p, NULL), COF_OK);
    assert_true(p.nports >= 15);
    assert_int_equal(cof_probe_plan_ports(&p, "all"), COF_OK);
    assert_int_equal(p.nports, 65535);
    assert_int_equal(cof_probe_plan_ports(&p, "22, 80,8000-8002,80"), COF_OK);
    assert_int_equal(p.nports, 5);
    assert_int_equal(p.ports[4], 8002);
    assert_int_equal(cof_probe_plan_ports(&p, "0"), COF_BADINPUT);
    assert_int_equal(cof_probe_plan_ports(&p, "90-80"), COF_BADINPUT);
    assert_int_equal(cof_probe_plan_ports(&p, "65536"), COF_BADINPUT);
    assert_int_equal(cof_probe_plan_ports(&p, "x"), COF_BADINPUT);
    cof_probe_plan_free(&p);
}

static void test_parsers(void **state)
{
    (void)state;
    static const char info[] = "$70\r\n# Keyspace\r\ndb0:keys=2,expires=0,avg_ttl=0\r\ndb3:keys=40,expires=1\r\n\r\n";
    cof_redis_info ri;
    assert_int_equal(cof_redis_info_parse((const uint8_t *)info, sizeof info - 1, &ri), COF_OK);
    assert_int_equal(ri.keys, 42);
    assert_int_equal(ri.dbs, 2);
    static const char st[] = "STAT pid 1\r\nSTAT version 1.6.18\r\nSTAT curr_items 7\r\nEND\r\n";
    cof_mc_stats mc;
    assert_int_equal(cof_mc_stats_parse((const uint8_t *)st, sizeof st - 1, &mc), COF_OK);
    assert_string_equal(mc.version, "1.6.18");
    assert_int_equal(mc.items, 7);
    static const uint8_t pg[] = { 'R', 0, 0, 0, 8, 0, 0, 0, 0, 'S', 0, 0, 0, 24, 's', 'e', 'r', 'v',
                                  'e', 'r', '_', 'v', 'e', 'r', 's', 'i', 'o', 'n', 0, '1', '5', '.',
                                  '1', 0 };
    cof_pg_reply pr;
    assert_int_equal(cof_pg_parse(pg, sizeof pg, &pr), COF_OK);
    assert_int_equal(pr.auth, 0);
    assert_string_equal(pr.version, "15.1");
    static const uint8_t sasl[] = { 'R', 0, 0, 0, 8, 0, 0, 0, 10 };
    assert_int_equal(cof_pg_parse(sasl, sizeof sasl, &pr), COF_OK);
    assert_int_equal(pr.auth, 10);
    static const uint8_t bogus[] = { 'R', 0xFF, 0xFF, 0xFF, 0xFF, 0 };
    assert_int_equal(cof_pg_parse(bogus, sizeof bogus, &pr), COF_BADINPUT);
    static const char http[] = "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n"
                               "5\r\nIndex\r\n9\r\n of /<a h\r\n10\r\nref=\"mail.log\">m\r\n0\r\n\r\n";
    uint8_t scratch[256];
    cof_http_resp r;
    assert_int_equal(cof_http_parse((const uint8_t *)http, sizeof http - 1, scratch, sizeof scratch, &r), COF_OK);
    assert_int_equal(r.status, 200);
    assert_true(cof_str_eq_lit(cof_http_header(r.head, "content-type"), "text/html"));
    assert_true(cof_str_eq_lit(r.body, "Index of /<a href=\"mail.log\">m"));
    cof_dirlist dl;
    cof_dirlist_parse(r.body, &dl);
    assert_true(dl.is_listing);
    assert_int_equal(dl.nlogs, 1);
    assert_string_equal(dl.example, "mail.log");
    assert_int_equal(cof_http_parse((const uint8_t *)"HTTP/1.1 200", 12, NULL, 0, &r), COF_AGAIN);
    assert_int_equal(cof_http_parse((const uint8_t *)"SSH-2.0-x\r\n", 11, NULL, 0, &r), COF_BADINPUT);
    char clean[16];
    cof_probe_clean("ab\x01\"c\r\nzz", 9, clean, sizeof clean);
    assert_string_equal(clean, "ab??c");
}

static void test_severity(void **state)
{
    (void)state;
    cof_severity s;
    assert_int_equal(cof_severity_parse("high", &s), COF_OK);
    assert_int_equal(s, COF_SEV_HIGH);
    assert_string_equal(cof_severity_name(COF_SEV_CRITICAL), "critical");
    assert_int_equal(cof_severity_parse("severe", &s), COF_BADINPUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_targets), cmocka_unit_test(test_ports),
        cmocka_unit_test(test_parsers), cmocka_unit_test(test_severity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
