/* pf_speed.c - parser + correlator throughput.
 *
 *   pf_speed gen N FILE   write a realistic log of N messages (interleaved sessions,
 *                         inbound/outbound/deferred/reject mix) to FILE
 *   pf_speed FILE [ROUNDS] feed FILE through cof_corr and report lines/s, events/s
 *   pf_speed tsv FILE      print the events as gen_postfix --truth rows (same columns),
 *                         to diff against the generator's ground truth */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "correlate.h"

static uint64_t n_events;

static cof_status count(void *ctx, const cof_event *ev)
{
    (void)ctx;
    (void)ev;
    n_events++;
    return COF_OK;
}

static void put_field(cof_str s)
{
    for (size_t i = 0; i < s.n; i++)
        putchar(s.p[i] == '\t' || s.p[i] == '\n' ? ' ' : s.p[i]);
    putchar('\t');
}

static cof_status print_tsv(void *ctx, const cof_event *ev)
{
    (void)ctx;
    int64_t s = ev->time_us / 1000000, us = ev->time_us % 1000000;
    time_t t = (time_t)s;
    struct tm tm;
    gmtime_r(&t, &tm);
    char ts[64];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    printf("%s.%06lldZ\t", ts, (long long)us);
    static const cof_field cols[] = {
        COF_F_HOST, COF_F_INSTANCE, COF_F_QUEUE_ID, COF_F_MESSAGE_ID, COF_F_CLIENT_HOST,
        COF_F_CLIENT_IP, COF_F_SASL_USERNAME, COF_F_SENDER, COF_F_RECIPIENT,
        COF_F_ORIG_RECIPIENT, COF_F_RELAY_HOST, COF_F_RELAY_IP,
    };
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++)
        put_field(ev->f[cols[i]]);
    if (ev->relay_port)
        printf("%u", ev->relay_port);
    printf("\t%s\t", cof_status_name((cof_delivery_status)ev->status));
    put_field(ev->f[COF_F_DSN]);
    if (ev->delay_ms != COF_NO_DELAY)
        printf("%d", ev->delay_ms);
    putchar('\t');
    if (ev->size)
        printf("%llu", (unsigned long long)ev->size);
    putchar('\t');
    if (ev->nrcpt)
        printf("%u", ev->nrcpt);
    putchar('\t');
    put_field(ev->f[COF_F_RESPONSE]);
    put_field(ev->f[COF_F_SUBJECT]);
    for (size_t i = 0; i < ev->f[COF_F_TLS].n; i++)
        putchar(ev->f[COF_F_TLS].p[i]);
    putchar('\n');
    return COF_OK;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define INFLIGHT 64

static void stamp(char *b, size_t cap, long t)
{
    /* t: seconds since Nov 23 00:00:00 */
    snprintf(b, cap, "Nov %2ld %02ld:%02ld:%02ld", 23 + t / 86400, (t / 3600) % 24, (t / 60) % 60, t % 60);
}

static int gen(long n, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return 1;
    /* each in-flight slot walks through its message's lines; slots advance round-robin
     * so lines of different messages interleave */
    struct { long id; int step, kind; } s[INFLIGHT];
    long next = 0, done = 0, tick = 0;
    for (int i = 0; i < INFLIGHT; i++)
        s[i].id = -1;
    while (done < n) {
        for (int i = 0; i < INFLIGHT; i++) {
            if (s[i].id < 0) {
                if (next >= n)
                    continue;
                s[i].id = next++;
                s[i].step = 0;
                s[i].kind = (int)(s[i].id % 10); /* 0-5 outbound, 6-8 inbound, 9 reject */
            }
            char ts[32], q[16];
            long id = s[i].id;
            stamp(ts, sizeof ts, tick++ / 50);
            snprintf(q, sizeof q, "%010lX", (unsigned long)(id * 7919 % 0xFFFFFFFFFFL));
            int pid = 1000 + i;
            const char *h = id % 2 ? "mx1" : "mx2";
            int k = s[i].kind, st = s[i].step++;
            int end = 0;
            if (k == 9) {
                if (st == 0)
                    fprintf(f, "%s %s postfix/smtpd[%d]: connect from unknown[198.51.100.%ld]\n", ts, h, pid, id % 250);
                else if (st == 1)
                    fprintf(f, "%s %s postfix/smtpd[%d]: NOQUEUE: reject: RCPT from unknown[198.51.100.%ld]: 554 5.7.1 <user%ld@elsewhere.example>: Relay access denied; from=<spam%ld@bad.example> to=<user%ld@elsewhere.example> proto=ESMTP helo=<bad.example>\n", ts, h, pid, id % 250, id, id, id);
                else {
                    fprintf(f, "%s %s postfix/smtpd[%d]: disconnect from unknown[198.51.100.%ld] ehlo=1 mail=1 rcpt=0/1 commands=2/3\n", ts, h, pid, id % 250);
                    end = 1;
                }
            } else if (k >= 6) {
                switch (st) {
                case 0: fprintf(f, "%s %s postfix/smtpd[%d]: connect from mail-ed1.example.org[198.51.100.%ld]\n", ts, h, pid, id % 250); break;
                case 1: fprintf(f, "%s %s postfix/smtpd[%d]: Anonymous TLS connection established from mail-ed1.example.org[198.51.100.%ld]: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256\n", ts, h, pid, id % 250); break;
                case 2: fprintf(f, "%s %s postfix/smtpd[%d]: %s: client=mail-ed1.example.org[198.51.100.%ld]\n", ts, h, pid, q, id % 250); break;
                case 3: fprintf(f, "%s %s postfix/cleanup[%d]: %s: message-id=<CAF%ld.5678@mail.example.org>\n", ts, h, pid + 100, q, id); break;
                case 4: fprintf(f, "%s %s postfix/qmgr[880]: %s: from=<alice%ld@example.org>, size=%ld, nrcpt=1 (queue active)\n", ts, h, q, id, 1000 + id % 50000); break;
                case 5: fprintf(f, "%s %s postfix/smtpd[%d]: disconnect from mail-ed1.example.org[198.51.100.%ld] ehlo=2 starttls=1 mail=1 rcpt=1 data=1 quit=1 commands=7\n", ts, h, pid, id % 250); break;
                case 6: fprintf(f, "%s %s postfix/lmtp[%d]: %s: to=<bob%ld@example.com>, relay=mail.example.com[private/dovecot-lmtp], delay=0.74, delays=0.61/0.02/0/0.11, dsn=2.0.0, status=sent (250 2.0.0 <bob%ld@example.com> 8Jx0Lq2WYmXvJAAAbc Saved)\n", ts, h, pid + 200, q, id, id); break;
                default: fprintf(f, "%s %s postfix/qmgr[880]: %s: removed\n", ts, h, q); end = 1; break;
                }
            } else {
                switch (st) {
                case 0: fprintf(f, "%s %s postfix/submission/smtpd[%d]: connect from laptop.example.net[203.0.113.%ld]\n", ts, h, pid, id % 250); break;
                case 1: fprintf(f, "%s %s postfix/submission/smtpd[%d]: %s: client=laptop.example.net[203.0.113.%ld], sasl_method=PLAIN, sasl_username=dave%ld@example.com\n", ts, h, pid, q, id % 250, id % 1000); break;
                case 2: fprintf(f, "%s %s postfix/cleanup[%d]: %s: message-id=<20261123130511.%s@relay1.example.com>\n", ts, h, pid + 100, q, q); break;
                case 3: fprintf(f, "%s %s postfix/qmgr[900]: %s: from=<dave%ld@example.com>, size=%ld, nrcpt=1 (queue active)\n", ts, h, q, id % 1000, 2000 + id % 9000); break;
                case 4: fprintf(f, "%s %s postfix/smtp[%d]: Verified TLS connection established to aspmx.l.example.net[192.0.2.25]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature ECDSA (P-256) server-digest SHA256\n", ts, h, pid + 300); break;
                case 5:
                    if (id % 20 == 1)
                        fprintf(f, "%s %s postfix/smtp[%d]: %s: to=<erin%ld@example.net>, relay=none, delay=30, delays=0.01/0/30/0, dsn=4.4.1, status=deferred (connect to mx.slow.example[192.0.2.80]:25: Connection timed out)\n", ts, h, pid + 300, q, id);
                    else
                        fprintf(f, "%s %s postfix/smtp[%d]: %s: to=<erin%ld@example.net>, relay=aspmx.l.example.net[192.0.2.25]:25, delay=1.3, delays=0.02/0.01/0.6/0.67, dsn=2.0.0, status=sent (250 2.0.0 OK  1700000000 d2-20020a05600c4b4200b0040b3e3b1c2esi%ld.12 - gsmtp)\n", ts, h, pid + 300, q, id, id);
                    break;
                case 6: fprintf(f, "%s %s postfix/submission/smtpd[%d]: disconnect from laptop.example.net[203.0.113.%ld] ehlo=2 starttls=1 auth=1 mail=1 rcpt=1 data=1 quit=1 commands=8\n", ts, h, pid, id % 250); break;
                default:
                    if (id % 20 != 1)
                        fprintf(f, "%s %s postfix/qmgr[900]: %s: removed\n", ts, h, q);
                    end = 1;
                    break;
                }
            }
            if (end) {
                s[i].id = -1;
                done++;
            }
        }
    }
    return fclose(f) != 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "gen") == 0)
        return gen(atol(argv[2]), argv[3]);
    int tsv = argc == 3 && strcmp(argv[1], "tsv") == 0;
    if (tsv) {
        argv++;
        argc = 2;
    }
    if (argc < 2) {
        fprintf(stderr, "usage: pf_speed gen N FILE | pf_speed FILE [ROUNDS]\n");
        return 2;
    }
    FILE *f = fopen(argv[1], "rb");
    if (!f)
        return 1;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)sz + 1);
    if (!buf || fread(buf, 1, (size_t)sz, f) != (size_t)sz)
        return 1;
    fclose(f);
    int rounds = tsv ? 1 : argc > 2 ? atoi(argv[2]) : 3;
    double best = 1e9;
    uint64_t lines = 0, events = 0;
    cof_corr_stats st;
    for (int r = 0; r < rounds; r++) {
        cof_corr_opts o;
        cof_corr_opts_default(&o);
        o.year = 2026;
        cof_corr *c;
        if (cof_corr_new(&o, tsv ? print_tsv : count, NULL, &c) != COF_OK)
            return 1;
        n_events = 0;
        lines = 0;
        double t0 = now_s();
        char *p = buf, *e = buf + sz;
        while (p < e) {
            char *nl = memchr(p, '\n', (size_t)(e - p));
            size_t n = nl ? (size_t)(nl - p) : (size_t)(e - p);
            cof_skip_reason sk;
            if (cof_corr_feed(c, cof_str_make(p, n), (uint64_t)(p - buf) + 1, &sk) != COF_OK)
                return 1;
            lines++;
            p += n + 1;
        }
        if (cof_corr_flush(c) != COF_OK)
            return 1;
        double dt = now_s() - t0;
        if (dt < best)
            best = dt;
        events = n_events;
        cof_corr_stats_get(c, &st);
        cof_corr_free(c);
    }
    if (tsv)
        return 0;
    printf("%llu lines, %llu events, %.1f MB in %.3f s: %.0f lines/s, %.0f events/s, %.0f MB/s\n",
           (unsigned long long)lines, (unsigned long long)events, sz / 1e6, best, lines / best,
           events / best, sz / 1e6 / best);
    printf("skipped: unknown %llu malformed %llu; evicted %llu, open %llu\n",
           (unsigned long long)st.skipped[COF_SKIP_UNKNOWN],
           (unsigned long long)st.skipped[COF_SKIP_MALFORMED], (unsigned long long)st.evicted,
           (unsigned long long)st.open_messages);
    return 0;
}
