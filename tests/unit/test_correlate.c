/* test_correlate.c - Postfix lines -> delivery events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <cmocka.h>
#include <dirent.h>

#include "bounds.h"
#include "correlate.h"
#include "postfix.h"

/* the directory of this file, for running the binary outside ctest */
static char TEST_DIR[256];

static void set_test_dir(void)
{
    const char *f = __FILE__, *slash = strrchr(f, '/');
    size_t n = slash ? (size_t)(slash - f) : 1;
    memcpy(TEST_DIR, slash ? f : ".", n < sizeof TEST_DIR ? n : sizeof TEST_DIR - 1);
}

/* ---- event collector: copies what the callback shows ---- */

#define MAXEV 4096
#define FCAP 1100

typedef struct {
    cof_event ev; /* strings re-pointed into s[] */
    char s[COF_NFIELDS][FCAP];
} cev;

static cev *evs;
static size_t nev;
static int fail_next; /* make the callback fail once */

static cof_status collect(void *ctx, const cof_event *ev)
{
    (void)ctx;
    if (fail_next) {
        fail_next = 0;
        return COF_IO;
    }
    assert_true(nev < MAXEV);
    cev *c = &evs[nev++];
    c->ev = *ev;
    for (int f = 0; f < COF_NFIELDS; f++) {
        assert_true(ev->f[f].n <= COF_MAX_FIELD);
        memcpy(c->s[f], ev->f[f].p ? ev->f[f].p : "", ev->f[f].n);
        c->s[f][ev->f[f].n] = 0;
        c->ev.f[f] = cof_str_make(c->s[f], ev->f[f].n);
    }
    /* emission order: strictly increasing (src_off, src_idx) */
    if (nev > 1) {
        const cof_event *p = &evs[nev - 2].ev;
        assert_true(p->src_off < ev->src_off ||
                    (p->src_off == ev->src_off && p->src_idx < ev->src_idx));
    }
    return COF_OK;
}

static int setup(void **state)
{
    (void)state;
    evs = calloc(MAXEV, sizeof *evs);
    nev = 0;
    fail_next = 0;
    return evs ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(evs);
    return 0;
}

static const char *F(size_t i, cof_field f)
{
    assert_true(i < nev);
    return evs[i].s[f];
}

static cof_corr *mk(uint32_t max_open)
{
    cof_corr_opts o;
    cof_corr_opts_default(&o);
    o.year = 2026;
    if (max_open)
        o.max_open = max_open;
    cof_corr *c = NULL;
    assert_int_equal(cof_corr_new(&o, collect, NULL, &c), COF_OK);
    nev = 0;
    return c;
}

static uint64_t g_pos;

static cof_skip_reason feed(cof_corr *c, const char *line)
{
    cof_skip_reason sk;
    assert_int_equal(cof_corr_feed(c, cof_str_c(line), ++g_pos, &sk), COF_OK);
    return sk;
}

/* Feed a sample file; pos = byte offset of each line's start + 1. */
static void feed_file(cof_corr *c, const char *name, uint64_t *line_pos, size_t max_lines)
{
    const char *dir = getenv("COF_TEST_DATA");
    char path[1024];
    if (dir)
        snprintf(path, sizeof path, "%s/postfix/%s", dir, name);
    else /* next to this source file: tests/unit/../data */
        snprintf(path, sizeof path, "%s/../data/postfix/%s", TEST_DIR, name);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, fp);
    fclose(fp);
    size_t start = 0, k = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n ? buf[i] != '\n' : i == start) /* the last line may lack its newline */
            continue;
        cof_skip_reason sk;
        g_pos++;
        if (line_pos && k < max_lines)
            line_pos[k] = g_pos;
        k++;
        assert_int_equal(cof_corr_feed(c, cof_str_make(buf + start, i - start), g_pos, &sk), COF_OK);
        start = i + 1;
    }
}

static size_t find_ev(const char *rcpt, int status)
{
    for (size_t i = 0; i < nev; i++)
        if (strcmp(evs[i].s[COF_F_RECIPIENT], rcpt) == 0 && evs[i].ev.status == status)
            return i;
    fail_msg("no event for %s status %d", rcpt, status);
    return 0;
}

static int64_t utc(int y, int mo, int d, int h, int mi, int s)
{
    return (cof_pf_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s) * INT64_C(1000000);
}

/* ---- tests over the sample logs ---- */

static void test_inbound(void **state)
{
    (void)state;
    cof_corr *c = mk(0);
    uint64_t lp[16];
    feed_file(c, "inbound.log", lp, 16);
    /* both deliveries were released by "removed", before any flush */
    assert_int_equal(nev, 2);
    size_t b = find_ev("bob@example.com", COF_ST_SENT);
    assert_string_equal(F(b, COF_F_HOST), "mx1");
    assert_string_equal(F(b, COF_F_INSTANCE), "postfix");
    assert_string_equal(F(b, COF_F_QUEUE_ID), "4F1A2B3C4D");
    assert_string_equal(F(b, COF_F_MESSAGE_ID), "<CAF1234.5678@mail.example.org>");
    assert_string_equal(F(b, COF_F_CLIENT_HOST), "mail-ed1.example.org");
    assert_string_equal(F(b, COF_F_CLIENT_IP), "198.51.100.23");
    assert_string_equal(F(b, COF_F_SENDER), "alice@example.org");
    assert_string_equal(F(b, COF_F_RELAY_HOST), "local");
    assert_string_equal(F(b, COF_F_DSN), "2.0.0");
    assert_string_equal(F(b, COF_F_RESPONSE), "delivered to mailbox");
    assert_string_equal(F(b, COF_F_TLS), "TLSv1.3 TLS_AES_256_GCM_SHA384");
    assert_string_equal(F(b, COF_F_SUBJECT), "Quarterly report");
    assert_string_equal(F(b, COF_F_TENANT), "");
    assert_int_equal(evs[b].ev.direction, COF_DIR_INBOUND);
    assert_int_equal(evs[b].ev.size, 48213);
    assert_int_equal(evs[b].ev.nrcpt, 2);
    assert_int_equal(evs[b].ev.delay_ms, 740);
    assert_int_equal(evs[b].ev.delays_ms[0], 610);
    assert_int_equal(evs[b].ev.delays_ms[1], 20);
    assert_int_equal(evs[b].ev.delays_ms[2], 0);
    assert_int_equal(evs[b].ev.delays_ms[3], 110);
    assert_true(evs[b].ev.time_us == utc(2026, 11, 23, 14, 2, 3));
    assert_int_equal(evs[b].ev.src_off, lp[7]);
    assert_int_equal(evs[b].ev.src_idx, 0);
    size_t k = find_ev("carol@example.com", COF_ST_SENT);
    assert_string_equal(F(k, COF_F_ORIG_RECIPIENT), "sales@example.com");
    assert_int_equal(evs[k].ev.src_off, lp[8]);
    cof_corr_stats st;
    cof_corr_stats_get(c, &st);
    assert_int_equal(st.lines, 10);
    assert_int_equal(st.events, 2);
    assert_int_equal(st.open_messages, 0);
    assert_int_equal(st.pending, 0);
    assert_int_equal(st.skipped[COF_SKIP_NONE] + st.skipped[COF_SKIP_UNKNOWN], 0);
    cof_corr_free(c);
}

static void test_outbound_tls_sasl_rfc3339(void **state)
{
    (void)state;
    cof_corr *c = mk(0);
    feed_file(c, "outbound.log", NULL, 0);
    assert_int_equal(nev, 1);
    assert_string_equal(F(0, COF_F_RECIPIENT), "erin@example.net");
    assert_string_equal(F(0, COF_F_INSTANCE), "postfix");
    assert_string_equal(F(0, COF_F_SASL_METHOD), "PLAIN");
    assert_string_equal(F(0, COF_F_SASL_USERNAME), "dave@example.com");
    assert_string_equal(F(0, COF_F_CLIENT_IP), "203.0.113.50");
    assert_string_equal(F(0, COF_F_RELAY_HOST), "aspmx.l.example.net");
    assert_string_equal(F(0, COF_F_RELAY_IP), "192.0.2.25");
    assert_int_equal(evs[0].ev.relay_port, 25);
    /* the outbound TLS of smtp pid 5131 (not the inbound submission TLS) */
    assert_string_equal(F(0, COF_F_TLS), "TLSv1.3 TLS_AES_256_GCM_SHA384");
    assert_true(strncmp(F(0, COF_F_RESPONSE), "250 2.0.0 OK  1700000000 d2-", 28) == 0);
    assert_int_equal(evs[0].ev.direction, COF_DIR_OUTBOUND);
    assert_true(evs[0].ev.time_us == utc(2026, 11, 23, 13, 5, 12) + 337000);
    assert_int_equal(evs[0].ev.delay_ms, 1300);
    cof_corr_free(c);
}

static void test_rejects(void **state)
{
    (void)state;
    cof_corr *c = mk(0);
    uint64_t lp[16];
    feed_file(c, "reject.log", lp, 16);
    assert_int_equal(nev, 2);
    /* NOQUEUE: emitted at once, no queue id, inbound */
    assert_int_equal(evs[0].ev.status, COF_ST_REJECTED);
    assert_int_equal(evs[0].ev.src_off, lp[1]);
    assert_string_equal(F(0, COF_F_QUEUE_ID), "");
    assert_string_equal(F(0, COF_F_HOST), "mx1");
    assert_string_equal(F(0, COF_F_DSN), "5.7.1");
    assert_string_equal(F(0, COF_F_RESPONSE), "554 5.7.1 <victim@elsewhere.example>: Relay access denied");
    assert_string_equal(F(0, COF_F_SENDER), "spammer@bad.example");
    assert_string_equal(F(0, COF_F_RECIPIENT), "victim@elsewhere.example");
    assert_string_equal(F(0, COF_F_CLIENT_HOST), "unknown");
    assert_string_equal(F(0, COF_F_CLIENT_IP), "198.51.100.77");
    assert_int_equal(evs[0].ev.direction, COF_DIR_INBOUND);
    /* cleanup header reject: the message ends there (no qmgr "removed") */
    assert_int_equal(evs[1].ev.status, COF_ST_REJECTED);
    assert_string_equal(F(1, COF_F_QUEUE_ID), "7A8B9C0D1E");
    assert_string_equal(F(1, COF_F_RECIPIENT), "bob@example.com");
    assert_string_equal(F(1, COF_F_SENDER), "promo@shady.example");
    assert_string_equal(F(1, COF_F_SUBJECT), "You have WON");
    assert_string_equal(F(1, COF_F_MESSAGE_ID), "<offer@shady.example>");
    assert_string_equal(F(1, COF_F_DSN), "5.7.1");
    assert_string_equal(F(1, COF_F_RESPONSE), "5.7.1 message content rejected");
    assert_string_equal(F(1, COF_F_CLIENT_HOST), "mail.shady.example");
    assert_int_equal(evs[1].ev.direction, COF_DIR_INBOUND);
    cof_corr_stats st;
    cof_corr_stats_get(c, &st);
    assert_int_equal(st.open_messages, 0);
    assert_int_equal(st.skipped[COF_SKIP_UNKNOWN], 1); /* "lost connection" */
    cof_corr_free(c);
}

static void test_deferred_across_days(void **state)
{
    (void)state;
    cof_corr *c = mk(0);
    uint64_t lp[16];
    feed_file(c, "deferred.log", lp, 16);
    assert_int_equal(nev, 2);
    assert_int_equal(evs[0].ev.status, COF_ST_DEFERRED);
    assert_int_equal(evs[1].ev.status, COF_ST_SENT);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(F(i, COF_F_SENDER), "frank@relay1.example.com");
        assert_string_equal(F(i, COF_F_RECIPIENT), "grace@slow.example");
        assert_string_equal(F(i, COF_F_MESSAGE_ID), "<20261123235800.2D4E6F8A0B@relay1.example.com>");
        assert_int_equal(evs[i].ev.direction, COF_DIR_OUTBOUND);
    }
    assert_string_equal(F(0, COF_F_RELAY_HOST), "none"); /* as logged */
    assert_string_equal(F(0, COF_F_DSN), "4.4.1");
    assert_string_equal(F(0, COF_F_RESPONSE),
                        "connect to mx.slow.example[192.0.2.80]:25: Connection timed out");
    assert_true(evs[0].ev.time_us == utc(2026, 11, 23, 23, 58, 30));
    assert_true(evs[1].ev.time_us == utc(2026, 11, 24, 0, 58, 33));
    assert_int_equal(evs[1].ev.delay_ms, 3633000);
    assert_int_equal(evs[0].ev.src_off, lp[3]);
    assert_int_equal(evs[1].ev.src_off, lp[5]);
    cof_corr_free(c);
}

static void test_expired(void **state)
{
    (void)state;
    cof_corr *c = mk(0);
    uint64_t lp[8];
    feed_file(c, "expired.log", lp, 8);
    assert_int_equal(nev, 3);
    assert_int_equal(evs[0].ev.status, COF_ST_DEFERRED);
    assert_int_equal(evs[1].ev.status, COF_ST_SENT);
    assert_int_equal(evs[2].ev.status, COF_ST_EXPIRED);
    assert_string_equal(F(2, COF_F_RECIPIENT), "judy@down.example");
    assert_string_equal(F(2, COF_F_SENDER), "ivan@example.com");
    assert_int_equal(evs[2].ev.src_off, lp[3]);
    assert_int_equal(evs[2].ev.direction, COF_DIR_OUTBOUND);
    cof_corr_free(c);
}

static void test_bounce_link(void **state)
{
    (void)state;
    cof_corr *c = mk(0);
    feed_file(c, "bounce.log", NULL, 0);
    assert_int_equal(nev, 2);
    size_t b = find_ev("nobody@gone.example", COF_ST_BOUNCED);
    assert_string_equal(F(b, COF_F_DSN), "5.1.1");
    assert_string_equal(F(b, COF_F_RESPONSE),
                        "host mx.gone.example[192.0.2.99] said: 550 5.1.1 <nobody@gone.example>: "
                        "Recipient address rejected: User unknown (in reply to RCPT TO command)");
    assert_string_equal(F(b, COF_F_BOUNCE_OF), "");
    size_t n = find_ev("henry@example.com", COF_ST_SENT);
    assert_string_equal(F(n, COF_F_BOUNCE_OF), "5E6F7A8B9C");
    assert_string_equal(F(n, COF_F_QUEUE_ID), "6A7B8C9D0E");
    assert_string_equal(F(n, COF_F_SENDER), "");
    assert_int_equal(evs[n].ev.direction, COF_DIR_LOCAL);
    cof_corr_free(c);
}

/* ---- synthetic streams ---- */

static void test_queue_id_reuse(void **state)
{
    (void)state;
    cof_corr *c = mk(0);
    feed(c, "Nov 23 10:00:00 h postfix/qmgr[1]: ABCDE12345: from=<first@x>, size=1, nrcpt=1 (queue active)");
    feed(c, "Nov 23 10:00:01 h postfix/smtp[2]: ABCDE12345: to=<r@y>, relay=mx[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)");
    feed(c, "Nov 23 10:00:01 h postfix/qmgr[1]: ABCDE12345: removed");
    feed(c, "Nov 23 11:00:00 h postfix/qmgr[1]: ABCDE12345: from=<second@x>, size=2, nrcpt=1 (queue active)");
    feed(c, "Nov 23 11:00:01 h postfix/smtp[2]: ABCDE12345: to=<r@y>, relay=mx[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)");
    feed(c, "Nov 23 11:00:01 h postfix/qmgr[1]: ABCDE12345: removed");
    assert_int_equal(nev, 2);
    assert_string_equal(F(0, COF_F_SENDER), "first@x");
    assert_string_equal(F(1, COF_F_SENDER), "second@x");
    assert_int_equal(evs[1].ev.size, 2);
    cof_corr_free(c);
}

static void test_out_of_order_and_holdback(void **state)
{
    (void)state;
    cof_corr *c = mk(0);
    /* the delivery line comes before cleanup and qmgr lines of its message */
    feed(c, "Nov 23 10:00:01 h postfix/smtp[2]: ABCDE12345: to=<r@y>, relay=mx[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)");
    uint64_t dpos = g_pos;
    assert_int_equal(nev, 0);
    assert_int_equal(cof_corr_low_water(c, g_pos + 1), dpos);
    feed(c, "Nov 23 10:00:00 h postfix/cleanup[3]: ABCDE12345: message-id=<m1@x>");
    feed(c, "Nov 23 10:00:00 h postfix/qmgr[1]: ABCDE12345: from=<s@x>, size=77, nrcpt=1 (queue active)");
    assert_int_equal(nev, 0);
    assert_int_equal(cof_corr_oldest_open(c, g_pos + 1), dpos);
    feed(c, "Nov 23 10:00:02 h postfix/qmgr[1]: ABCDE12345: removed");
    assert_int_equal(nev, 1);
    assert_string_equal(F(0, COF_F_SENDER), "s@x");
    assert_string_equal(F(0, COF_F_MESSAGE_ID), "<m1@x>");
    assert_int_equal(evs[0].ev.size, 77);
    assert_int_equal(evs[0].ev.src_off, dpos);
    assert_int_equal(cof_corr_low_water(c, g_pos + 1), g_pos + 1);
    assert_int_equal(cof_corr_oldest_open(c, g_pos + 1), g_pos + 1);

    /* hold-back by log time: a deferral is released once the clock passes it by
     * hold_seconds; it holds a later, complete message behind it */
    feed(c, "Nov 23 10:10:00 h postfix/smtp[2]: BBBBB22222: to=<d@y>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (connect timeout)");
    feed(c, "Nov 23 10:10:01 h postfix/smtp[2]: CCCCC33333: to=<e@y>, relay=mx[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)");
    feed(c, "Nov 23 10:10:01 h postfix/qmgr[1]: CCCCC33333: removed");
    assert_int_equal(nev, 1); /* CCCCC33333 waits behind the deferral */
    feed(c, "Nov 23 10:14:59 h postfix/qmgr[1]: DDDDD44444: from=<z@x>, size=1, nrcpt=1 (queue active)");
    assert_int_equal(nev, 1);
    feed(c, "Nov 23 10:15:00 h postfix/qmgr[1]: DDDDD44444: removed");
    assert_int_equal(nev, 3);
    assert_int_equal(evs[1].ev.status, COF_ST_DEFERRED);
    assert_string_equal(F(2, COF_F_RECIPIENT), "e@y");

    /* a callback error stops the release and keeps the event for the next try */
    feed(c, "Nov 23 10:16:00 h postfix/smtp[2]: EEEEE55555: to=<f@y>, relay=mx[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)");
    fail_next = 1;
    assert_int_equal(cof_corr_flush(c), COF_IO);
    assert_int_equal(nev, 3);
    assert_int_equal(cof_corr_flush(c), COF_OK);
    assert_int_equal(nev, 4);
    /* positions must increase */
    cof_skip_reason sk;
    assert_int_equal(cof_corr_feed(c, cof_str_c("x"), g_pos, &sk), COF_BADINPUT);
    cof_corr_free(c);
}

static void test_missing_lines(void **state)
{
    (void)state;
    cof_corr *c = mk(0);
    /* only the delivery line: emitted at flush with what is known */
    feed(c, "Nov 23 10:00:01 h postfix/lmtp[2]: 3F00AA11BB: to=<r@y>, relay=mail.example.com[private/dovecot-lmtp], delay=0.1, delays=0/0/0/0.1, dsn=2.0.0, status=sent (250 2.0.0 <r@y> Saved)");
    assert_int_equal(nev, 0);
    assert_int_equal(cof_corr_flush(c), COF_OK);
    assert_int_equal(nev, 1);
    assert_string_equal(F(0, COF_F_QUEUE_ID), "3F00AA11BB");
    assert_string_equal(F(0, COF_F_SENDER), "");
    assert_string_equal(F(0, COF_F_RELAY_IP), "private/dovecot-lmtp");
    assert_int_equal(evs[0].ev.direction, COF_DIR_LOCAL);
    assert_int_equal(evs[0].ev.size, 0);
    /* message state is kept by flush: a later removed finds it */
    cof_corr_stats st;
    cof_corr_stats_get(c, &st);
    assert_int_equal(st.open_messages, 1);
    feed(c, "Nov 23 10:00:02 h postfix/qmgr[1]: 3F00AA11BB: removed");
    cof_corr_stats_get(c, &st);
    assert_int_equal(st.open_messages, 0);
    cof_corr_free(c);
}

static void test_multi_host_instance(void **state)
{
    (void)state;
    cof_corr *c = mk(0);
    /* one queue id on two hosts and two instances: three messages */
    feed(c, "Nov 23 10:00:00 a postfix/qmgr[1]: ABCDE12345: from=<a@x>, size=1, nrcpt=1 (queue active)");
    feed(c, "Nov 23 10:00:00 b postfix/qmgr[1]: ABCDE12345: from=<b@x>, size=1, nrcpt=1 (queue active)");
    feed(c, "Nov 23 10:00:00 a postfix-out/qmgr[1]: ABCDE12345: from=<o@x>, size=1, nrcpt=1 (queue active)");
    feed(c, "Nov 23 10:00:01 b postfix/smtp[2]: ABCDE12345: to=<rb@y>, relay=mx[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)");
    feed(c, "Nov 23 10:00:01 a postfix-out/smtp[2]: ABCDE12345: to=<ro@y>, relay=mx[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)");
    feed(c, "Nov 23 10:00:01 a postfix/smtp[2]: ABCDE12345: to=<ra@y>, relay=mx[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)");
    feed(c, "Nov 23 10:00:02 a postfix/qmgr[1]: ABCDE12345: removed");
    feed(c, "Nov 23 10:00:02 b postfix/qmgr[1]: ABCDE12345: removed");
    feed(c, "Nov 23 10:00:02 a postfix-out/qmgr[1]: ABCDE12345: removed");
    assert_int_equal(nev, 3);
    assert_string_equal(F(0, COF_F_SENDER), "b@x");
    assert_string_equal(F(0, COF_F_HOST), "b");
    assert_string_equal(F(1, COF_F_SENDER), "o@x");
    assert_string_equal(F(1, COF_F_INSTANCE), "postfix-out");
    assert_string_equal(F(2, COF_F_SENDER), "a@x");
    cof_corr_free(c);
}

static void test_header_actions(void **state)
{
    (void)state;
    cof_corr *c = mk(0);
    feed(c, "Nov 23 10:00:00 h postfix/pickup[9]: 1A2B3C4D5E: uid=1000 from=<frank>");
    feed(c, "Nov 23 10:00:00 h postfix/cleanup[3]: 1A2B3C4D5E: info: header Subject: Re: lunch (from home) from local; from=<frank@h> to=<g@y>");
    feed(c, "Nov 23 10:00:00 h postfix/cleanup[3]: 1A2B3C4D5E: hold: header Subject: Re: lunch (from home) from local; from=<frank@h> to=<g@y>: held for review");
    assert_int_equal(nev, 1);
    assert_int_equal(evs[0].ev.status, COF_ST_HELD);
    assert_string_equal(F(0, COF_F_SUBJECT), "Re: lunch (from home)");
    assert_string_equal(F(0, COF_F_RECIPIENT), "g@y");
    /* pickup's bare "frank" is replaced by the canonical address cleanup logs */
    assert_string_equal(F(0, COF_F_SENDER), "frank@h");
    assert_string_equal(F(0, COF_F_RESPONSE), "held for review");
    assert_int_equal(evs[0].ev.direction, COF_DIR_LOCAL);
    feed(c, "Nov 23 10:00:01 h postfix/cleanup[3]: 2A2B3C4D5E: discard: body buy now from x.example[192.0.2.7]; from=<s@x> to=<t@y> proto=ESMTP helo=<x.example>");
    assert_int_equal(nev, 2);
    assert_int_equal(evs[1].ev.status, COF_ST_DISCARDED);
    assert_string_equal(F(1, COF_F_CLIENT_IP), "192.0.2.7");
    assert_string_equal(F(1, COF_F_RESPONSE), "");
    feed(c, "Nov 23 10:00:02 h postfix/cleanup[3]: 3A2B3C4D5E: milter-reject: END-OF-MESSAGE from x.example[192.0.2.7]: 5.7.1 Spam detected; from=<s@x> to=<t@y> proto=ESMTP helo=<x.example>");
    assert_int_equal(nev, 3);
    assert_string_equal(F(2, COF_F_DSN), "5.7.1");
    assert_string_equal(F(2, COF_F_RESPONSE), "5.7.1 Spam detected");
    cof_corr_free(c);
}

static void test_sasl_reject_outbound(void **state)
{
    (void)state;
    cof_corr *c = mk(0);
    feed(c, "Nov 23 10:00:00 h postfix/submission/smtpd[7]: connect from l[203.0.113.5]");
    feed(c, "Nov 23 10:00:01 h postfix/submission/smtpd[7]: 1B2B3C4D5E: client=l[203.0.113.5], sasl_method=LOGIN, sasl_username=u@example.com");
    feed(c, "Nov 23 10:00:02 h postfix/submission/smtpd[7]: NOQUEUE: reject: RCPT from l[203.0.113.5]: 550 5.1.1 <x@y>: Recipient address rejected: User unknown; from=<u@example.com> to=<x@y> proto=ESMTP helo=<l>");
    assert_int_equal(nev, 1);
    assert_int_equal(evs[0].ev.direction, COF_DIR_OUTBOUND);
    assert_string_equal(F(0, COF_F_SASL_USERNAME), "u@example.com");
    assert_string_equal(F(0, COF_F_DSN), "5.1.1");
    assert_int_equal(cof_corr_oldest_open(c, 1000), g_pos - 2);
    feed(c, "Nov 23 10:00:03 h postfix/submission/smtpd[7]: disconnect from l[203.0.113.5]");
    cof_corr_free(c);
}

static void test_eviction(void **state)
{
    (void)state;
    cof_corr *c = mk(2);
    char line[256];
    /* three messages with pending deliveries; max_open 2 */
    for (int i = 0; i < 3; i++) {
        snprintf(line, sizeof line, "Nov 23 10:00:0%d h postfix/smtp[2]: ABCDE1234%d: to=<r%d@y>, relay=mx[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)", i, i, i);
        feed(c, line);
    }
    cof_corr_stats st;
    cof_corr_stats_get(c, &st);
    assert_int_equal(st.evicted, 1);
    assert_int_equal(st.open_messages, 2);
    assert_int_equal(nev, 1); /* the evicted message's attempt was released first */
    assert_string_equal(F(0, COF_F_RECIPIENT), "r0@y");
    /* the one touched most recently survives: touch 1, then open 3 -> 2 is evicted */
    feed(c, "Nov 23 10:00:05 h postfix/qmgr[1]: ABCDE12341: from=<s1@x>, size=1, nrcpt=1 (queue active)");
    feed(c, "Nov 23 10:00:06 h postfix/qmgr[1]: ABCDE12343: from=<s3@x>, size=1, nrcpt=1 (queue active)");
    /* evicting ABCDE12342 released the ring up to its attempt: r1 too (order) */
    assert_int_equal(nev, 3);
    assert_string_equal(F(1, COF_F_RECIPIENT), "r1@y");
    assert_string_equal(F(2, COF_F_RECIPIENT), "r2@y");
    feed(c, "Nov 23 10:00:07 h postfix/qmgr[1]: ABCDE12341: removed");
    cof_corr_stats_get(c, &st);
    assert_int_equal(st.evicted, 2);
    assert_int_equal(st.open_messages, 1);
    assert_int_equal(cof_corr_flush(c), COF_OK);
    cof_corr_free(c);
}

static void test_idle_drop(void **state)
{
    (void)state;
    cof_corr_opts o;
    cof_corr_opts_default(&o);
    o.year = 2026;
    o.idle_seconds = 3600;
    cof_corr *c;
    assert_int_equal(cof_corr_new(&o, collect, NULL, &c), COF_OK);
    nev = 0;
    feed(c, "Nov 23 10:00:00 h postfix/qmgr[1]: ABCDE12345: from=<s@x>, size=1, nrcpt=1 (queue active)");
    feed(c, "Nov 23 12:00:00 h postfix/qmgr[1]: BBCDE12345: from=<s@x>, size=1, nrcpt=1 (queue active)");
    cof_corr_stats st;
    cof_corr_stats_get(c, &st);
    assert_int_equal(st.open_messages, 1);
    cof_corr_free(c);
}

static void test_random_interleaving(void **state)
{
    (void)state;
    enum { NM = 300, NL = 5 };
    static char lines[NM][NL][256];
    int next[NM];
    cof_corr_opts o;
    cof_corr_opts_default(&o);
    o.year = 2026;
    o.max_open = 64; /* forces evictions too */
    o.max_pending = 50;
    cof_corr *c;
    assert_int_equal(cof_corr_new(&o, collect, NULL, &c), COF_OK);
    nev = 0;
    srand(12345);
    for (int m = 0; m < NM; m++) {
        int h = m % 3;
        snprintf(lines[m][0], 256, "Nov 23 10:%02d:%02d h%d postfix/qmgr[1]: %05X12345: from=<s%d@x>, size=%d, nrcpt=2 (queue active)", m / 60, m % 60, h, m, m, m);
        snprintf(lines[m][1], 256, "Nov 23 10:%02d:%02d h%d postfix/smtp[2]: %05X12345: to=<a%d@y>, relay=mx[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=4.0.0, status=deferred (try later)", m / 60, m % 60, h, m, m);
        snprintf(lines[m][2], 256, "Nov 23 10:%02d:%02d h%d postfix/smtp[3]: %05X12345: to=<b%d@y>, relay=mx[192.0.2.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (ok)", m / 60, m % 60, h, m, m);
        snprintf(lines[m][3], 256, "Nov 23 10:%02d:%02d h%d postfix/qmgr[1]: %05X12345: from=<s%d@x>, status=expired, returned to sender", m / 60, m % 60, h, m, m);
        snprintf(lines[m][4], 256, "Nov 23 10:%02d:%02d h%d postfix/qmgr[1]: %05X12345: removed", m / 60, m % 60, h, m);
        next[m] = 0;
    }
    int left = NM * NL;
    while (left) {
        int m = rand() % NM;
        if (next[m] == NL)
            continue;
        feed(c, lines[m][next[m]++]);
        left--;
    }
    assert_int_equal(cof_corr_flush(c), COF_OK);
    /* per message: deferred a, sent b, expired a = 3 events, unless evicted early */
    cof_corr_stats st;
    cof_corr_stats_get(c, &st);
    assert_int_equal(st.events, nev);
    assert_true(nev >= NM * 2);
    assert_true(nev <= NM * 3 + st.evicted * 2);
    assert_int_equal(st.pending, 0);
    cof_corr_free(c);
}

static void test_hostile_lines(void **state)
{
    (void)state;
    cof_corr *c = mk(0);
    static char big[COF_MAX_LINE + 100];
    memset(big, 'x', sizeof big);
    memcpy(big, "Nov 23 10:00:00 h postfix/smtp[1]: ", 35);
    cof_skip_reason sk;
    assert_int_equal(cof_corr_feed(c, cof_str_make(big, sizeof big), ++g_pos, &sk), COF_OK);
    assert_int_equal(sk, COF_SKIP_OVERLONG);
    const char bin[] = "Nov 23 10:00:00 h postfix/smtp[1]: \0\1\2";
    assert_int_equal(cof_corr_feed(c, cof_str_make(bin, sizeof bin - 1), ++g_pos, &sk), COF_OK);
    assert_int_equal(sk, COF_SKIP_BINARY);
    assert_int_equal(feed(c, "Nov 23 10:00:00 h postfix/smtp[1]: ABCDE12345: to=<\xff\xfe@x>"), COF_SKIP_UTF8);
    assert_int_equal(feed(c, "Nov 23 10:00:00 h postfix/smtp[1]: ABCDE12345: to=<abc"), COF_SKIP_TRUNCATED);
    assert_int_equal(feed(c, "Nov 23 10:00:00 h postfix/qmgr[1]: ABCDE12345: from=<abc"), COF_SKIP_TRUNCATED);
    assert_int_equal(feed(c, "Nov 23 10:00:00 h postfix/smtpd[1]: NOQUEUE: reject: RCPT from x[1.2.3.4]: 554 no; from=<a"), COF_SKIP_TRUNCATED);
    assert_int_equal(feed(c, "Nov 23 10:00:00 h kernel: eth0 up"), COF_SKIP_NOT_POSTFIX);
    assert_int_equal(feed(c, "garbage"), COF_SKIP_MALFORMED);
    assert_int_equal(feed(c, "Nov 99 10:00:00 h postfix/smtp[1]: x"), COF_SKIP_TIME);
    assert_int_equal(feed(c, "Nov 23 10:00:00 h postfix/anvil[1]: statistics: max connection rate 1/60s"), COF_SKIP_UNKNOWN);
    assert_int_equal(feed(c, "Nov 23 10:00:00 h postfix/smtp[1]: ABCDE12345: to=<a@b>, status=sent ("), COF_SKIP_NONE);
    assert_int_equal(feed(c, "Nov 23 10:00:00 h postfix/smtp[1]: ABCDE12345: to="), COF_SKIP_UNKNOWN);
    assert_int_equal(feed(c, "Nov 23 10:00:00 h postfix/smtp[1]: ABCDE12345: to=<"), COF_SKIP_TRUNCATED);
    assert_int_equal(feed(c, "Nov 23 10:00:00 h postfix/bounce[1]: ABCDE12345: sender non-delivery notification: "), COF_SKIP_UNKNOWN);
    assert_int_equal(feed(c, "Nov 23 10:00:00 h postfix/smtpd[1]: Anonymous TLS connection established from x[1.2.3.4"), COF_SKIP_UNKNOWN);
    /* a long response is cut to COF_MAX_FIELD on a UTF-8 boundary (checked by collect) */
    char lr[4000];
    int n = snprintf(lr, sizeof lr, "Nov 23 10:00:00 h postfix/smtp[1]: ABCDE12345: to=<a@b>, status=bounced (");
    for (int i = 0; i < 1500; i++)
        n += snprintf(lr + n, sizeof lr - (size_t)n, "\xc3\xa9");
    snprintf(lr + n, sizeof lr - (size_t)n, ")");
    assert_int_equal(feed(c, lr), COF_SKIP_NONE);
    assert_int_equal(cof_corr_flush(c), COF_OK);
    assert_int_equal(evs[nev - 1].ev.f[COF_F_RESPONSE].n, COF_MAX_FIELD);
    cof_corr_stats st;
    cof_corr_stats_get(c, &st);
    assert_int_equal(st.skipped[COF_SKIP_TRUNCATED], 4);
    assert_int_equal(st.skipped[COF_SKIP_OVERLONG], 1);
    assert_int_equal(st.skipped[COF_SKIP_UNKNOWN], 4);
    assert_string_equal(cof_skip_name(COF_SKIP_TRUNCATED), "truncated");
    cof_corr_free(c);
}

/* Every input the fuzzer ever crashed on (tests/data/postfix/crash-*.log), fed with
 * the fuzzer's settings. */
static void test_fuzz_regressions(void **state)
{
    (void)state;
    char dir[1024];
    const char *env = getenv("COF_TEST_DATA");
    if (env)
        snprintf(dir, sizeof dir, "%s/postfix", env);
    else
        snprintf(dir, sizeof dir, "%s/../data/postfix", TEST_DIR);
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *de;
    int files = 0;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, "crash-", 6) != 0)
            continue;
        cof_corr_opts o;
        cof_corr_opts_default(&o);
        o.year = 2026;
        o.now_us = 1;
        o.max_open = 4;
        o.max_pending = 8;
        o.hold_seconds = 60;
        o.idle_seconds = 3600;
        cof_corr *c;
        assert_int_equal(cof_corr_new(&o, collect, NULL, &c), COF_OK);
        nev = 0;
        feed_file(c, de->d_name, NULL, 0);
        assert_int_equal(cof_corr_flush(c), COF_OK);
        cof_corr_free(c);
        files++;
    }
    closedir(d);
    assert_true(files > 0);
}

/* Bounds: open messages never exceed max_open, pending never exceeds max_pending. */
static void test_memory_bounds(void **state)
{
    (void)state;
    cof_corr_opts o;
    cof_corr_opts_default(&o);
    o.year = 2026;
    o.max_open = 100;
    o.max_pending = 10;
    cof_corr *c;
    assert_int_equal(cof_corr_new(&o, collect, NULL, &c), COF_OK);
    nev = 0;
    char line[300];
    cof_corr_stats st;
    for (int i = 0; i < 3000; i++) {
        snprintf(line, sizeof line, "Nov 23 10:00:00 h postfix/qmgr[1]: %010X: from=<s%d@x>, size=1, nrcpt=1 (queue active)", i + 0x100000, i);
        feed(c, line);
        if (i % 3 == 0) { /* a pending attempt every third message */
            snprintf(line, sizeof line, "Nov 23 10:00:00 h postfix/smtp[2]: %010X: to=<r%d@y>, relay=none, delay=1, delays=0/0/1/0, dsn=4.4.1, status=deferred (later)", i + 0x100000, i);
            feed(c, line);
        }
        cof_corr_stats_get(c, &st);
        assert_true(st.open_messages <= 100);
        assert_true(st.pending <= 10);
        if (nev == MAXEV - 10)
            nev = 0; /* keep collecting; order is still checked pairwise */
    }
    assert_int_equal(st.evicted, 2900);
    /* the oldest tracked message bounds the re-read position */
    assert_true(cof_corr_oldest_open(c, g_pos + 1) < g_pos + 1);
    assert_int_equal(cof_corr_flush(c), COF_OK);
    cof_corr_stats_get(c, &st);
    assert_int_equal(st.events, 1000);
    cof_corr_free(c);
}

int main(void)
{
    set_test_dir();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_inbound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbound_tls_sasl_rfc3339, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rejects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deferred_across_days, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bounce_link, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_id_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out_of_order_and_holdback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multi_host_instance, setup, teardown),
        cmocka_unit_test_setup_teardown(test_header_actions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sasl_reject_outbound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_eviction, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_drop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_memory_bounds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_random_interleaving, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostile_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fuzz_regressions, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
