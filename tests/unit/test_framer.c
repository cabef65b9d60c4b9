/* test_framer.c - syslog stream framing and the syslog message -> log line conversion,
 * checked against the Postfix parser that reads the result. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "framer.h"
#include "postfix.h"

#define MAXF 64

typedef struct {
    char f[MAXF][COF_MAX_SYSLOG_FRAME + 1];
    size_t n[MAXF];
    int count;
    int fail_at; /* callback returns COF_IO on this frame (-1: never) */
} frames;

static cof_status collect(void *ctx, cof_str fr)
{
    frames *fs = ctx;
    if (fs->count == fs->fail_at)
        return COF_IO;
    assert_true(fs->count < MAXF);
    assert_true(fr.n <= COF_MAX_SYSLOG_FRAME);
    memcpy(fs->f[fs->count], fr.p, fr.n);
    fs->f[fs->count][fr.n] = 0;
    fs->n[fs->count] = fr.n;
    fs->count++;
    return COF_OK;
}

static frames *fs_new(void)
{
    frames *fs = calloc(1, sizeof *fs);
    assert_non_null(fs);
    fs->fail_at = -1;
    return fs;
}

/* Feed s in chunks of `chunk` bytes (0: all at once), then finish. */
static cof_status run(cof_framer *f, frames *fs, const char *s, size_t n, size_t chunk)
{
    cof_status st;
    cof_framer_init(f);
    if (!chunk)
        chunk = n ? n : 1;
    for (size_t off = 0; off < n; off += chunk) {
        size_t k = n - off < chunk ? n - off : chunk;
        /* an exact-size copy so an over-read trips ASan */
        uint8_t *b = malloc(k);
        memcpy(b, s + off, k);
        st = cof_framer_feed(f, b, k, collect, fs);
        free(b);
        if (st)
            return st;
    }
    return cof_framer_finish(f, collect, fs);
}

static void test_octet_and_lf(void **state)
{
    (void)state;
    static cof_framer f;
    frames *fs = fs_new();
    const char *in = "5 hello3 abc<13>lf frame\n11 has\nnewline\r\nlast";
    assert_int_equal(run(&f, fs, in, strlen(in), 0), COF_OK);
    assert_int_equal(fs->count, 5);
    assert_string_equal(fs->f[0], "hello");
    assert_string_equal(fs->f[1], "abc");
    assert_string_equal(fs->f[2], "<13>lf frame");
    assert_string_equal(fs->f[3], "has\nnewline"); /* LF inside an octet-counted frame */
    assert_string_equal(fs->f[4], "last");         /* no LF at end: delivered by finish */
    assert_int_equal(f.frames, 5);
    /* an empty line (LF or CRLF after an octet frame) is not a frame */
    memset(fs, 0, sizeof *fs);
    fs->fail_at = -1;
    in = "3 abc\r\n\n<1>x\r\n";
    assert_int_equal(run(&f, fs, in, strlen(in), 0), COF_OK);
    assert_int_equal(fs->count, 2);
    assert_string_equal(fs->f[0], "abc");
    assert_string_equal(fs->f[1], "<1>x"); /* CR before LF dropped */
    free(fs);
}

static void test_split_everywhere(void **state)
{
    (void)state;
    static cof_framer f;
    frames *fs = fs_new();
    const char *in = "13 <13>1 a b c\r\n<14>Nov 23 14:02:03 h t: m\r\n2 xy\n";
    size_t n = strlen(in);
    /* every chunk size, and every single split point */
    for (size_t chunk = 1; chunk <= n; chunk++) {
        memset(fs, 0, sizeof *fs);
        fs->fail_at = -1;
        assert_int_equal(run(&f, fs, in, n, chunk), COF_OK);
        assert_int_equal(fs->count, 3);
        assert_string_equal(fs->f[0], "<13>1 a b c\r\n"); /* counted bytes kept as sent */
        assert_string_equal(fs->f[1], "<14>Nov 23 14:02:03 h t: m");
        assert_string_equal(fs->f[2], "xy");
    }
    for (size_t cut = 0; cut <= n; cut++) {
        memset(fs, 0, sizeof *fs);
        fs->fail_at = -1;
        cof_framer_init(&f);
        assert_int_equal(cof_framer_feed(&f, (const uint8_t *)in, cut, collect, fs), COF_OK);
        assert_int_equal(cof_framer_feed(&f, (const uint8_t *)in + cut, n - cut, collect, fs),
                         COF_OK);
        assert_int_equal(cof_framer_finish(&f, collect, fs), COF_OK);
        assert_int_equal(fs->count, 3);
        assert_string_equal(fs->f[2], "xy");
    }
    free(fs);
}

static void test_max_and_oversized(void **state)
{
    (void)state;
    static cof_framer f;
    frames *fs = fs_new();
    size_t big = COF_MAX_SYSLOG_FRAME + 100;
    char *in = malloc(2 * big + 64);
    /* an oversized LF frame, then a normal one: the first is skipped and counted */
    memset(in, 'a', big);
    in[big] = '\n';
    memcpy(in + big + 1, "ok\n", 3);
    for (size_t chunk = 0; chunk <= 4096; chunk += 1024) {
        memset(fs, 0, sizeof *fs);
        fs->fail_at = -1;
        assert_int_equal(run(&f, fs, in, big + 4, chunk), COF_OK);
        assert_int_equal(fs->count, 1);
        assert_string_equal(fs->f[0], "ok");
        assert_int_equal(f.oversized, 1);
    }
    /* exactly the maximum fits, octet-counted and LF */
    int len = snprintf(in, 16, "%d ", COF_MAX_SYSLOG_FRAME);
    memset(in + len, 'b', COF_MAX_SYSLOG_FRAME);
    memset(in + len + COF_MAX_SYSLOG_FRAME, 'c', COF_MAX_SYSLOG_FRAME);
    in[len + 2 * COF_MAX_SYSLOG_FRAME] = '\n';
    memset(fs, 0, sizeof *fs);
    fs->fail_at = -1;
    assert_int_equal(run(&f, fs, in, (size_t)len + 2 * COF_MAX_SYSLOG_FRAME + 1, 1000), COF_OK);
    assert_int_equal(fs->count, 2);
    assert_int_equal(fs->n[0], COF_MAX_SYSLOG_FRAME);
    assert_int_equal(fs->n[1], COF_MAX_SYSLOG_FRAME);
    assert_int_equal(f.oversized, 0);
    /* an oversized frame at end of stream without its LF is skipped, not delivered */
    memset(in, 'd', big);
    memset(fs, 0, sizeof *fs);
    fs->fail_at = -1;
    assert_int_equal(run(&f, fs, in, big, 333), COF_OK);
    assert_int_equal(fs->count, 0);
    assert_int_equal(f.oversized, 1);
    free(in);
    free(fs);
}

static void test_bad_counts(void **state)
{
    (void)state;
    static cof_framer f;
    frames *fs = fs_new();
    static const char *bad[] = {
        "05 hello",       /* leading zero */
        "0 ",             /* zero length */
        "8193 x",         /* above the maximum */
        "99999999999999999999 x", /* would overflow */
        "12x abc",        /* non-digit after digits */
        "5\nhello",       /* missing space */
        "5hello",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(fs, 0, sizeof *fs);
        fs->fail_at = -1;
        assert_int_equal(run(&f, fs, bad[i], strlen(bad[i]), 0), COF_BADINPUT);
        assert_int_equal(fs->count, 0);
        memset(fs, 0, sizeof *fs);
        fs->fail_at = -1;
        assert_int_equal(run(&f, fs, bad[i], strlen(bad[i]), 1), COF_BADINPUT);
    }
    /* a good frame, then garbage: the good one was delivered */
    memset(fs, 0, sizeof *fs);
    fs->fail_at = -1;
    assert_int_equal(run(&f, fs, "2 ok0", 5, 0), COF_BADINPUT);
    assert_int_equal(fs->count, 1);
    /* a partial octet-counted frame at end of stream */
    memset(fs, 0, sizeof *fs);
    fs->fail_at = -1;
    assert_int_equal(run(&f, fs, "10 short", 8, 0), COF_BADINPUT);
    assert_int_equal(run(&f, fs, "10", 2, 0), COF_BADINPUT);
    /* a callback error stops feeding and is returned */
    memset(fs, 0, sizeof *fs);
    fs->fail_at = 1;
    cof_framer_init(&f);
    assert_int_equal(cof_framer_feed(&f, (const uint8_t *)"a\nb\nc\n", 6, collect, fs), COF_IO);
    assert_int_equal(fs->count, 1);
    free(fs);
}

static cof_status to_line(const char *z, char *out, size_t cap)
{
    size_t n = 0;
    cof_status st = cof_syslog_to_line(cof_str_c(z), out, cap, &n);
    if (st == COF_OK) {
        assert_true(n < cap);
        out[n] = 0;
    }
    return st;
}

static void test_to_line(void **state)
{
    (void)state;
    char out[COF_MAX_SYSLOG_FRAME + 1];
    /* RFC 5424, with and without PROCID, with structured data and a BOM */
    assert_int_equal(to_line("<22>1 2026-11-23T14:02:03.123456+01:00 mx1 postfix/smtp 123 - - "
                             "4F1A2B3C4D: to=<a@b>, status=sent (ok)", out, sizeof out), COF_OK);
    assert_string_equal(out, "2026-11-23T14:02:03.123456+01:00 mx1 postfix/smtp[123]: "
                             "4F1A2B3C4D: to=<a@b>, status=sent (ok)");
    assert_int_equal(to_line("<0>1 2026-11-23T14:02:03Z h app - ID47 - msg", out, sizeof out), COF_OK);
    assert_string_equal(out, "2026-11-23T14:02:03Z h app: msg");
    assert_int_equal(to_line("<191>1 2026-11-23T14:02:03Z h app 9 - "
                             "[exampleSDID@32473 iut=\"3\" eventSource=\"App\\\"li]cation\\\\\"]"
                             "[x@1 a=\"\\]\"] \xEF\xBB\xBFmsg here", out, sizeof out), COF_OK);
    assert_string_equal(out, "2026-11-23T14:02:03Z h app[9]: msg here");
    /* no MSG at all; a trailing LF from an octet-counted sender */
    assert_int_equal(to_line("<1>1 2026-11-23T14:02:03Z h app - - -", out, sizeof out), COF_OK);
    assert_string_equal(out, "2026-11-23T14:02:03Z h app: ");
    assert_int_equal(to_line("<1>1 2026-11-23T14:02:03Z h app - - - m\n", out, sizeof out), COF_OK);
    assert_string_equal(out, "2026-11-23T14:02:03Z h app: m");
    /* RFC 3164 and rsyslog ForwardFormat: the PRI is dropped */
    assert_int_equal(to_line("<22>Nov 23 14:02:03 mx1 postfix/qmgr[9]: ABC: removed", out, sizeof out), COF_OK);
    assert_string_equal(out, "Nov 23 14:02:03 mx1 postfix/qmgr[9]: ABC: removed");
    /* no PRI: unchanged */
    assert_int_equal(to_line("Nov 23 14:02:03 mx1 postfix/qmgr[9]: x", out, sizeof out), COF_OK);
    assert_string_equal(out, "Nov 23 14:02:03 mx1 postfix/qmgr[9]: x");
    assert_int_equal(to_line("", out, sizeof out), COF_OK);
    assert_string_equal(out, "");

    /* malformed */
    static const char *bad[] = {
        "<192>Nov 23 14:02:03 h t: m",       /* PRI out of range */
        "<1234>Nov 23 14:02:03 h t: m",      /* four digits */
        "<01>Nov 23 14:02:03 h t: m",        /* leading zero */
        "<>Nov 23 14:02:03 h t: m",
        "<13Nov 23 14:02:03 h t: m",
        "<13>",
        "<13> Nov",
        "<13>1 - h app - - - nil timestamp",
        "<13>1 2026-11-23T14:02:03Z - app - - - nil host",
        "<13>1 2026-11-23T14:02:03Z h app - -",          /* no SD */
        "<13>1 2026-11-23T14:02:03Z h app - - [x a=\"1\"", /* unterminated SD */
        "<13>1 2026-11-23T14:02:03Z h app - - [x a=\"1]",
        "<13>1 2026-11-23T14:02:03Z h app - - []",
        "<13>1 2026-11-23T14:02:03Z h app - - x msg",     /* SD neither - nor [ */
        "<13>1 2026-11-23T14:02:03Z h app - - [x]msg",    /* no SP after SD */
        "<13>1 2026-11-23T14:02:03Z  h app - - - m",      /* empty field */
        "<13>1 2026-11-23T14:02:03Z h app\x01 - - - m",   /* control byte in header */
        "<13>1 2026-11-23T14:02:03Z h aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa - - - m",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cof_status st = to_line(bad[i], out, sizeof out);
        if (st != COF_BADINPUT)
            fail_msg("accepted malformed case %zu: %s", i, bad[i]);
    }
    /* output that does not fit */
    char tiny[8];
    assert_int_equal(to_line("<1>1 2026-11-23T14:02:03Z h app - - - m", tiny, sizeof tiny), COF_LIMIT);
    assert_int_equal(to_line("no pri but long", tiny, sizeof tiny), COF_LIMIT);
}

/* What rsyslog sends (its own templates) must come out as lines the Postfix parser reads
 * with the same fields as the original log line. */
static void test_rsyslog_formats_parse(void **state)
{
    (void)state;
    static const struct {
        const char *msg, *orig;
    } cases[] = {
        /* RSYSLOG_SyslogProtocol23Format: "<%PRI%>1 %TIMESTAMP:::date-rfc3339% %HOSTNAME%
         * %APP-NAME% %PROCID% %MSGID% %STRUCTURED-DATA% %msg%\n" */
        { "<22>1 2026-11-23T14:02:03.120001+01:00 mx1 postfix/smtp 4300 - - 4F1A2B3C4D: "
          "to=<nobody@gone.example>, relay=mx.gone.example[192.0.2.99]:25, delay=0.9, "
          "dsn=5.1.1, status=bounced (host said: 550 5.1.1 unknown)\n",
          "2026-11-23T14:02:03.120001+01:00 mx1 postfix/smtp[4300]: 4F1A2B3C4D: "
          "to=<nobody@gone.example>, relay=mx.gone.example[192.0.2.99]:25, delay=0.9, "
          "dsn=5.1.1, status=bounced (host said: 550 5.1.1 unknown)" },
        { "<22>1 2026-11-23T14:05:10.120001+01:00 relay1 postfix/submission/smtpd 5120 - - "
          "connect from laptop.example.net[203.0.113.50]\n",
          "2026-11-23T14:05:10.120001+01:00 relay1 postfix/submission/smtpd[5120]: connect "
          "from laptop.example.net[203.0.113.50]" },
        /* seen from rsyslog 8.2302 (logger --rfc3164 into imtcp, forwarded with
         * SyslogProtocol23Format): MSG keeps the space that followed the tag's colon */
        { "<13>1 2026-11-23T23:01:14+00:00 vm postfix/qmgr 77 - -  ABCDEF1234: removed\n",
          "2026-11-23T23:01:14+00:00 vm postfix/qmgr[77]: ABCDEF1234: removed" },
        /* RSYSLOG_ForwardFormat: "<%PRI%>%TIMESTAMP:::date-rfc3339% %HOSTNAME%
         * %syslogtag:1:32%%msg:::sp-if-no-1st-sp%%msg%" */
        { "<22>2026-11-23T14:02:01.000000+00:00 mx1 postfix/smtpd[4101]: connect from "
          "mail-ed1.example.org[198.51.100.23]",
          "2026-11-23T14:02:01.000000+00:00 mx1 postfix/smtpd[4101]: connect from "
          "mail-ed1.example.org[198.51.100.23]" },
        /* RSYSLOG_TraditionalForwardFormat: "<%PRI%>%TIMESTAMP% %HOSTNAME%
         * %syslogtag:1:32%%msg:::sp-if-no-1st-sp%%msg%" */
        { "<22>Nov 23 15:00:00 mx1 postfix/qmgr[880]: 5E6F7A8B9C: from=<henry@example.com>, "
          "size=900, nrcpt=1 (queue active)",
          "Nov 23 15:00:00 mx1 postfix/qmgr[880]: 5E6F7A8B9C: from=<henry@example.com>, "
          "size=900, nrcpt=1 (queue active)" },
        { "<22>Nov  3 01:02:03 mx1 postfix/cleanup[4105]: 6A7B8C9D0E: "
          "message-id=<20261123150001.6A7B8C9D0E@mx1.example.com>",
          "Nov  3 01:02:03 mx1 postfix/cleanup[4105]: 6A7B8C9D0E: "
          "message-id=<20261123150001.6A7B8C9D0E@mx1.example.com>" },
    };
    char out[COF_MAX_SYSLOG_FRAME];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t n;
        cof_pf_clock ck1, ck2;
        cof_pf_line a, b;
        cof_skip_reason s1, s2;
        assert_int_equal(cof_syslog_to_line(cof_str_c(cases[i].msg), out, sizeof out, &n), COF_OK);
        cof_pf_clock_init(&ck1, 2026, 0);
        cof_pf_clock_init(&ck2, 2026, 0);
        assert_int_equal(cof_pf_parse(&ck1, cof_str_make(out, n), &a, &s1), COF_OK);
        assert_int_equal(cof_pf_parse(&ck2, cof_str_c(cases[i].orig), &b, &s2), COF_OK);
        assert_true(a.time_us == b.time_us);
        assert_true(cof_str_eq(a.host, b.host));
        assert_true(cof_str_eq(a.instance, b.instance));
        assert_true(cof_str_eq(a.service, b.service));
        assert_int_equal(a.pid, b.pid);
        assert_true(a.pid != 0);
        assert_true(cof_str_eq(a.queue_id, b.queue_id));
        assert_true(cof_str_eq(a.text, b.text));
    }
}

/* Every line of the test data, wrapped the way syslog_send and rsyslog wrap it. */
static void test_data_files_roundtrip(void **state)
{
    (void)state;
    const char *dir = getenv("COF_TEST_DATA");
    if (!dir)
        dir = "tests/data";
    static const char *files[] = { "postfix/inbound.log", "postfix/bounce.log",
                                   "postfix/deferred.log", "postfix/outbound.log" };
    char path[512], line[COF_MAX_SYSLOG_FRAME], msg[COF_MAX_SYSLOG_FRAME + 64],
        out[COF_MAX_SYSLOG_FRAME];
    int checked = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        FILE *fp = fopen(path, "r");
        assert_non_null(fp);
        while (fgets(line, sizeof line, fp)) {
            size_t ln = strcspn(line, "\n");
            line[ln] = 0;
            cof_pf_clock ck1, ck2;
            cof_pf_line a, b;
            cof_skip_reason s1, s2;
            cof_pf_clock_init(&ck1, 2026, 0);
            if (cof_pf_parse(&ck1, cof_str_make(line, ln), &a, &s1) != COF_OK)
                continue;
            /* 3164: "<22>" + line */
            int mn = snprintf(msg, sizeof msg, "<22>%s", line);
            size_t n;
            assert_int_equal(cof_syslog_to_line(cof_str_make(msg, (size_t)mn), out, sizeof out, &n), COF_OK);
            cof_pf_clock_init(&ck2, 2026, 0);
            assert_int_equal(cof_pf_parse(&ck2, cof_str_make(out, n), &b, &s2), COF_OK);
            assert_true(cof_str_eq(a.text, b.text) && a.time_us == b.time_us);
            /* 5424 built from the parsed parts (stamp in UTC, as rsyslog would send it) */
            char tag[128];
            int tn = snprintf(tag, sizeof tag, "%.*s", (int)(a.service.p + a.service.n - a.instance.p),
                              a.instance.p);
            assert_true(tn > 0);
            const char *m = strstr(line, "]: ");
            assert_non_null(m);
            int64_t s = a.time_us / 1000000;
            int64_t days = s / 86400, rem = s % 86400;
            /* civil from days (Howard Hinnant) */
            int64_t z = days + 719468, era = z / 146097, doe = z - era * 146097;
            int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
            int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100), mp = (5 * doy + 2) / 153;
            int d = (int)(doy - (153 * mp + 2) / 5 + 1), mo = (int)(mp < 10 ? mp + 3 : mp - 9);
            int y = (int)(yoe + era * 400 + (mo <= 2));
            mn = snprintf(msg, sizeof msg,
                          "<22>1 %04d-%02d-%02dT%02d:%02d:%02d.%06dZ %.*s %s %u - [meta x=\"1\"] %s",
                          y, mo, d, (int)(rem / 3600), (int)(rem / 60 % 60), (int)(rem % 60),
                          (int)(a.time_us % 1000000),
                          (int)a.host.n, a.host.p, tag, a.pid, m + 3);
            assert_int_equal(cof_syslog_to_line(cof_str_make(msg, (size_t)mn), out, sizeof out, &n), COF_OK);
            cof_pf_clock_init(&ck2, 2026, 0);
            assert_int_equal(cof_pf_parse(&ck2, cof_str_make(out, n), &b, &s2), COF_OK);
            assert_true(cof_str_eq(a.text, b.text));
            assert_true(cof_str_eq(a.queue_id, b.queue_id));
            assert_true(a.time_us == b.time_us);
            assert_int_equal(a.pid, b.pid);
            checked++;
        }
        fclose(fp);
    }
    assert_true(checked > 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_octet_and_lf),
        cmocka_unit_test(test_split_everywhere),
        cmocka_unit_test(test_max_and_oversized),
        cmocka_unit_test(test_bad_counts),
        cmocka_unit_test(test_to_line),
        cmocka_unit_test(test_rsyslog_formats_parse),
        cmocka_unit_test(test_data_files_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
