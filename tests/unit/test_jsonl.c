/* test_jsonl.c - JSON lines to events: schema, types, ranges, hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "jsonl.h"

/* A copy of the last event delivered. */
typedef struct {
    int calls;
    cof_event ev;
    char s[COF_NFIELDS][COF_MAX_FIELD + 1];
    cof_status ret;
} got_t;

static got_t got;

static cof_status on_event(void *ctx, const cof_event *ev)
{
    got_t *g = ctx;
    g->calls++;
    g->ev = *ev;
    for (int i = 0; i < COF_NFIELDS; i++) {
        assert_true(ev->f[i].n <= COF_MAX_FIELD);
        if (ev->f[i].n)
            memcpy(g->s[i], ev->f[i].p, ev->f[i].n);
        g->s[i][ev->f[i].n] = 0;
        g->ev.f[i] = cof_str_make(g->s[i], ev->f[i].n);
    }
    return g->ret;
}

static cof_skip_reason parse_n(const char *p, size_t n)
{
    cof_skip_reason skip = COF_NSKIP;
    memset(&got, 0, sizeof got);
    assert_int_equal(cof_jsonl_parse(cof_str_make(p, n), 77, on_event, &got, &skip), COF_OK);
    assert_int_equal(got.calls, skip == COF_SKIP_NONE ? 1 : 0);
    return skip;
}

static cof_skip_reason parse(const char *z) { return parse_n(z, strlen(z)); }

#define REQ "\"time\":\"2026-11-23T14:02:03Z\",\"status\":\"sent\",\"recipient\":\"r@example.org\""

/* {REQ, extra} */
static cof_skip_reason parse_with(const char *extra)
{
    char buf[COF_MAX_LINE + 64];
    int n = snprintf(buf, sizeof buf, "{" REQ "%s%s}", *extra ? "," : "", extra);
    assert_true(n > 0 && (size_t)n < sizeof buf);
    return parse_n(buf, (size_t)n);
}

static void test_full_event(void **state)
{
    (void)state;
    const char *line =
        "{\"time\":\"2026-11-23T14:02:03.123456Z\",\"host\":\"mx1\",\"instance\":\"postfix-out\","
        "\"direction\":\"outbound\",\"queue_id\":\"4BcDeF12GhZ\",\"message_id\":\"<a@b>\","
        "\"client_host\":\"c.example\",\"client_ip\":\"192.0.2.7\",\"sasl_method\":\"PLAIN\","
        "\"sasl_username\":\"alice\",\"sender\":\"a@example.com\",\"recipient\":\"b@example.org\","
        "\"orig_recipient\":\"bb@example.org\",\"relay_host\":\"mx.example.org\","
        "\"relay_ip\":\"198.51.100.2\",\"relay_port\":25,\"status\":\"deferred\",\"dsn\":\"4.4.1\","
        "\"delay\":1.25,\"delays\":[0.01,0,0.1,1.14],\"size\":12345,\"nrcpt\":3,"
        "\"response\":\"connect to mx: Connection timed out\",\"tls\":\"TLSv1.3 TLS_AES_256_GCM_SHA384\","
        "\"subject\":\"Hello \\u00e9t\\u00e9\",\"tenant\":\"acme\",\"bounce_of\":\"4BcDeF12GhY\"}";
    assert_int_equal(parse(line), COF_SKIP_NONE);
    const cof_event *e = &got.ev;
    assert_int_equal(e->time_us, 1795442523123456LL);
    assert_int_equal(e->direction, COF_DIR_OUTBOUND);
    assert_int_equal(e->status, COF_ST_DEFERRED);
    assert_int_equal(e->relay_port, 25);
    assert_int_equal(e->delay_ms, 1250);
    assert_int_equal(e->delays_ms[0], 10);
    assert_int_equal(e->delays_ms[1], 0);
    assert_int_equal(e->delays_ms[2], 100);
    assert_int_equal(e->delays_ms[3], 1140);
    assert_int_equal(e->size, 12345);
    assert_int_equal(e->nrcpt, 3);
    assert_int_equal(e->src_off, 77);
    assert_int_equal(e->src_idx, 0);
    static const char *want[COF_NFIELDS] = {
        [COF_F_HOST] = "mx1", [COF_F_INSTANCE] = "postfix-out",
        [COF_F_QUEUE_ID] = "4BcDeF12GhZ", [COF_F_MESSAGE_ID] = "<a@b>",
        [COF_F_CLIENT_HOST] = "c.example", [COF_F_CLIENT_IP] = "192.0.2.7",
        [COF_F_SASL_METHOD] = "PLAIN", [COF_F_SASL_USERNAME] = "alice",
        [COF_F_SENDER] = "a@example.com", [COF_F_RECIPIENT] = "b@example.org",
        [COF_F_ORIG_RECIPIENT] = "bb@example.org", [COF_F_RELAY_HOST] = "mx.example.org",
        [COF_F_RELAY_IP] = "198.51.100.2", [COF_F_DSN] = "4.4.1",
        [COF_F_RESPONSE] = "connect to mx: Connection timed out",
        [COF_F_TLS] = "TLSv1.3 TLS_AES_256_GCM_SHA384", [COF_F_SUBJECT] = "Hello \xc3\xa9t\xc3\xa9",
        [COF_F_TENANT] = "acme", [COF_F_BOUNCE_OF] = "4BcDeF12GhY",
    };
    for (int i = 0; i < COF_NFIELDS; i++)
        assert_string_equal(got.s[i], want[i]);
}

static void test_minimal_and_nulls(void **state)
{
    (void)state;
    assert_int_equal(parse("{" REQ "}"), COF_SKIP_NONE);
    assert_int_equal(got.ev.delay_ms, COF_NO_DELAY);
    assert_int_equal(got.ev.delays_ms[2], COF_NO_DELAY);
    assert_int_equal(got.ev.direction, COF_DIR_UNKNOWN);
    assert_int_equal(got.ev.f[COF_F_SENDER].n, 0);
    assert_int_equal(parse_with("\"sender\":null,\"delay\":null,\"delays\":null,\"size\":null,"
                                "\"direction\":\"unknown\",\"subject\":\"\""),
                     COF_SKIP_NONE);
    assert_int_equal(got.ev.delay_ms, COF_NO_DELAY);
    assert_int_equal(got.ev.f[COF_F_SUBJECT].n, 0);
    /* white space around and inside is JSON's business */
    assert_int_equal(parse("  { \"time\" : 0 ,\t\"status\":\"rejected\",\"recipient\":\"x\" }\r"),
                     COF_SKIP_NONE);
    assert_int_equal(got.ev.status, COF_ST_REJECTED);
}

static void test_times(void **state)
{
    (void)state;
    static const struct {
        const char *json;
        int64_t us;
    } ok[] = {
        { "\"1970-01-01T00:00:00Z\"", 0 },
        { "\"2026-11-23T14:02:03Z\"", 1795442523000000LL },
        { "\"2026-11-23t14:02:03z\"", 1795442523000000LL },
        { "\"2026-11-23 14:02:03\"", 1795442523000000LL },
        { "\"2026-11-23T15:02:03.5+01:00\"", 1795442523500000LL },
        { "\"2026-11-23T13:32:03.1234567-00:30\"", 1795442523123456LL },
        { "\"2024-02-29T00:00:00Z\"", 1709164800000000LL },
        { "\"2016-12-31T23:59:60Z\"", 1483228800000000LL },
        { "1795442523", 1795442523000000LL },
        { "1795442523.25", 1795442523250000LL },
        { "\"9999-12-31T23:59:59Z\"", 253402300799000000LL },
    };
    char buf[256];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(buf, sizeof buf, "{\"time\":%s,\"status\":\"sent\",\"recipient\":\"x\"}",
                 ok[i].json);
        assert_int_equal(parse(buf), COF_SKIP_NONE);
        assert_int_equal(got.ev.time_us, ok[i].us);
    }
    static const char *bad[] = {
        "\"2026-02-29T00:00:00Z\"", "\"2026-11-23\"", "\"1969-12-31T23:59:59Z\"",
        "\"1970-01-01T00:00:00+00:01\"", "\"2026-11-23T24:00:00Z\"", "\"2026-13-01T00:00:00Z\"",
        "\"2026-11-23T14:02:03.Z\"", "\"2026-11-23T14:02:03+0100\"", "\"2026-11-23T14:02:03Zx\"",
        "\"2026-11-23T14:02:03+24:00\"", "\"Nov 23 14:02:03\"", "\"\"", "-1", "-0.5",
        "1e300", "253402300800", "\"+026-11-23T14:02:03Z\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(buf, sizeof buf, "{\"time\":%s,\"status\":\"sent\",\"recipient\":\"x\"}",
                 bad[i]);
        assert_int_equal(parse(buf), COF_SKIP_TIME);
    }
    assert_int_equal(parse("{\"time\":true,\"status\":\"sent\",\"recipient\":\"x\"}"),
                     COF_SKIP_MALFORMED);
    assert_int_equal(parse("{\"time\":null,\"status\":\"sent\",\"recipient\":\"x\"}"),
                     COF_SKIP_MALFORMED);
}

static void test_type_errors(void **state)
{
    (void)state;
    static const char *bad[] = {
        "\"size\":\"12\"", "\"size\":-1", "\"size\":1.5", "\"size\":true",
        "\"size\":99999999999999999999", "\"size\":1e400", "\"relay_port\":65536",
        "\"relay_port\":-1", "\"relay_port\":\"25\"", "\"nrcpt\":4294967296", "\"nrcpt\":-1",
        "\"delay\":\"1\"", "\"delay\":-0.5", "\"delay\":1e10", "\"delay\":false",
        "\"delays\":[1,2,3]", "\"delays\":[1,2,3,4,5]", "\"delays\":[1,2,3,\"4\"]",
        "\"delays\":[1,2,3,-4]", "\"delays\":\"1/2/3\"", "\"delays\":\"1/2/3/4/5\"",
        "\"delays\":\"a/b/c/d\"", "\"delays\":\"1//3/4\"", "\"delays\":\"-1/2/3/4\"",
        "\"delays\":{}", "\"direction\":\"sideways\"", "\"direction\":1", "\"sender\":5",
        "\"sender\":[\"a\"]", "\"sender\":{}", "\"sender\":true", "\"queue_id\":1.5",
        "\"Recipient\":\"x\"", "\"recipients\":\"x\"", "\"colour\":null", "\"\":1",
        "\"src_off\":1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(parse_with(bad[i]), COF_SKIP_MALFORMED);
    assert_int_equal(parse("{\"time\":0,\"status\":\"ok\",\"recipient\":\"x\"}"), COF_SKIP_MALFORMED);
    assert_int_equal(parse("{\"time\":0,\"status\":\"unknown\",\"recipient\":\"x\"}"),
                     COF_SKIP_MALFORMED);
    assert_int_equal(parse("{\"time\":0,\"status\":null,\"recipient\":\"x\"}"), COF_SKIP_MALFORMED);
    /* upper bounds that are still fine */
    assert_int_equal(parse_with("\"size\":9223372036854775807,\"nrcpt\":4294967295,"
                                "\"relay_port\":65535,\"delays\":\"0.01/0/0.1/1.2e+02\""),
                     COF_SKIP_NONE);
    assert_int_equal(got.ev.size, 9223372036854775807ull);
    assert_int_equal(got.ev.delays_ms[3], 120000);
}

static void test_missing_required(void **state)
{
    (void)state;
    assert_int_equal(parse("{\"status\":\"sent\",\"recipient\":\"x\"}"), COF_SKIP_MALFORMED);
    assert_int_equal(parse("{\"time\":0,\"recipient\":\"x\"}"), COF_SKIP_MALFORMED);
    assert_int_equal(parse("{\"time\":0,\"status\":\"sent\"}"), COF_SKIP_MALFORMED);
    assert_int_equal(parse("{\"time\":0,\"status\":\"sent\",\"recipient\":\"\"}"), COF_SKIP_MALFORMED);
    assert_int_equal(parse("{\"time\":0,\"status\":\"sent\",\"recipient\":null}"), COF_SKIP_MALFORMED);
    assert_int_equal(parse("{}"), COF_SKIP_MALFORMED);
}

static void test_syntax(void **state)
{
    (void)state;
    assert_int_equal(parse("{" REQ ",\"time\":0}"), COF_SKIP_MALFORMED);      /* duplicate */
    assert_int_equal(parse("{" REQ ",\"sender\":\"a\",\"sender\":\"a\"}"), COF_SKIP_MALFORMED);
    assert_int_equal(parse("{" REQ "} x"), COF_SKIP_MALFORMED);                /* trailing */
    assert_int_equal(parse("{" REQ "}{}"), COF_SKIP_MALFORMED);
    assert_int_equal(parse("{" REQ ","), COF_SKIP_MALFORMED);
    assert_int_equal(parse("[" REQ "]"), COF_SKIP_MALFORMED);
    assert_int_equal(parse("[]"), COF_SKIP_MALFORMED);
    assert_int_equal(parse("42"), COF_SKIP_MALFORMED);
    assert_int_equal(parse("\"x\""), COF_SKIP_MALFORMED);
    assert_int_equal(parse("{'time':0}"), COF_SKIP_MALFORMED);
    assert_int_equal(parse("\xef\xbb\xbf{" REQ "}"), COF_SKIP_MALFORMED); /* BOM */
    assert_int_equal(parse(""), COF_SKIP_UNKNOWN);
    assert_int_equal(parse("  \t "), COF_SKIP_UNKNOWN);
}

static void test_nesting(void **state)
{
    (void)state;
    assert_int_equal(parse_with("\"delays\":[[1],2,3,4]"), COF_SKIP_MALFORMED);
    assert_int_equal(parse_with("\"sender\":{\"a\":{}}"), COF_SKIP_MALFORMED);
    /* brackets inside strings, escaped quotes, do not count */
    assert_int_equal(parse_with("\"subject\":\"[[[{{{\\\"[[[\\\\\",\"dsn\":\"5.0.0\""), COF_SKIP_NONE);
    assert_string_equal(got.s[COF_F_SUBJECT], "[[[{{{\"[[[\\");
    /* very deep: rejected by the scan before jansson sees it */
    size_t n = COF_MAX_LINE;
    char *p = malloc(n);
    assert_non_null(p);
    memset(p, '[', n / 2);
    memset(p + n / 2, ']', n / 2);
    assert_int_equal(parse_n(p, n), COF_SKIP_MALFORMED);
    free(p);
}

static void test_bytes(void **state)
{
    (void)state;
    assert_int_equal(parse("{" REQ ",\"subject\":\"a\xff\"}"), COF_SKIP_UTF8);
    assert_int_equal(parse("{" REQ ",\"subject\":\"\xc0\xaf\"}"), COF_SKIP_UTF8); /* overlong */
    assert_int_equal(parse("{" REQ ",\"subject\":\"\xed\xa0\x80\"}"), COF_SKIP_UTF8); /* surrogate */
    assert_int_equal(parse("{" REQ ",\"subject\":\"\\ud800\"}"), COF_SKIP_MALFORMED);
    assert_int_equal(parse("{" REQ ",\"subject\":\"\\u0000\"}"), COF_SKIP_MALFORMED);
    assert_int_equal(parse("{" REQ ",\"subject\":\"\\u001b[31m\"}"), COF_SKIP_BINARY);
    assert_int_equal(parse("{" REQ ",\"subject\":\"a\\tb\"}"), COF_SKIP_BINARY);
    assert_int_equal(parse("{" REQ ",\"subject\":\"a\x01\"}"), COF_SKIP_BINARY);
    assert_int_equal(parse_n("{" REQ "}\0", sizeof("{" REQ "}")), COF_SKIP_BINARY);
    assert_int_equal(parse("{" REQ ",\"subject\":\"\\ud83d\\ude00\"}"), COF_SKIP_NONE);
    assert_string_equal(got.s[COF_F_SUBJECT], "\xf0\x9f\x98\x80");
}

static void test_lengths(void **state)
{
    (void)state;
    char v[COF_MAX_FIELD + 64], extra[COF_MAX_FIELD + 128];
    /* subject: cut at COF_MAX_FIELD, never inside a character */
    memset(v, 'a', COF_MAX_FIELD - 1);
    memcpy(v + COF_MAX_FIELD - 1, "\xc3\xa9zzz", 6);
    snprintf(extra, sizeof extra, "\"subject\":\"%s\"", v);
    assert_int_equal(parse_with(extra), COF_SKIP_NONE);
    assert_int_equal(got.ev.f[COF_F_SUBJECT].n, COF_MAX_FIELD - 1);
    snprintf(extra, sizeof extra, "\"response\":\"%s\"", v);
    assert_int_equal(parse_with(extra), COF_SKIP_NONE);
    assert_int_equal(got.ev.f[COF_F_RESPONSE].n, COF_MAX_FIELD - 1);
    /* exactly COF_MAX_FIELD is fine anywhere, one more is not for identities */
    memset(v, 'b', COF_MAX_FIELD);
    v[COF_MAX_FIELD] = 0;
    snprintf(extra, sizeof extra, "\"sender\":\"%s\"", v);
    assert_int_equal(parse_with(extra), COF_SKIP_NONE);
    v[COF_MAX_FIELD] = 'b';
    v[COF_MAX_FIELD + 1] = 0;
    snprintf(extra, sizeof extra, "\"sender\":\"%s\"", v);
    assert_int_equal(parse_with(extra), COF_SKIP_MALFORMED);
    memset(v, 't', COF_MAX_TENANT_NAME + 1);
    v[COF_MAX_TENANT_NAME + 1] = 0;
    snprintf(extra, sizeof extra, "\"tenant\":\"%s\"", v);
    assert_int_equal(parse_with(extra), COF_SKIP_MALFORMED);
    v[COF_MAX_TENANT_NAME] = 0;
    snprintf(extra, sizeof extra, "\"tenant\":\"%s\"", v);
    assert_int_equal(parse_with(extra), COF_SKIP_NONE);
    /* the line itself */
    char *p = malloc(COF_MAX_LINE + 1);
    assert_non_null(p);
    memset(p, ' ', COF_MAX_LINE + 1);
    memcpy(p, "{" REQ "}", sizeof("{" REQ "}") - 1);
    assert_int_equal(parse_n(p, COF_MAX_LINE), COF_SKIP_NONE);
    assert_int_equal(parse_n(p, COF_MAX_LINE + 1), COF_SKIP_OVERLONG);
    free(p);
}

static void test_callback_error(void **state)
{
    (void)state;
    cof_skip_reason skip;
    memset(&got, 0, sizeof got);
    got.ret = COF_FULL;
    cof_str line = COF_STR_LIT("{" REQ "}");
    assert_int_equal(cof_jsonl_parse(line, 1, on_event, &got, &skip), COF_FULL);
    assert_int_equal(got.calls, 1);
    assert_int_equal(skip, COF_SKIP_NONE);
}

static void test_seconds(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        int32_t ms;
    } ok[] = {
        { "0", 0 }, { "0.01", 10 }, { "1.2e+02", 120000 }, { "1.5E1", 15000 },
        { "0.0005", 1 }, { "0.0004", 0 }, { "2147483.647", 2147483647 }, { "1e-30", 0 },
        { "000012", 12000 }, { "0.00000000000000000000000000001", 0 },
        { "123456789012345678901234e-20", 1234568 },
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int32_t ms = -5;
        assert_true(cof_jsonl_seconds_ms(cof_str_c(ok[i].s), &ms));
        assert_int_equal(ms, ok[i].ms);
    }
    static const char *bad[] = { "", ".", "1.", ".5", "-1", "+1", "1e", "1e+", "2147483.648",
                                 "1e10", "1e99999", "0x10", "1 ", " 1", "1/2", "nan" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t ms;
        assert_false(cof_jsonl_seconds_ms(cof_str_c(bad[i]), &ms));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_event),
        cmocka_unit_test(test_minimal_and_nulls),
        cmocka_unit_test(test_times),
        cmocka_unit_test(test_type_errors),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_syntax),
        cmocka_unit_test(test_nesting),
        cmocka_unit_test(test_bytes),
        cmocka_unit_test(test_lengths),
        cmocka_unit_test(test_callback_error),
        cmocka_unit_test(test_seconds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
