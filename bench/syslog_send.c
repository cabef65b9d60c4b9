/* syslog_send.c - send a Postfix log file to a syslog-over-TLS listener, as fast as one
 * connection allows (GnuTLS client with a client certificate).
 *
 *   syslog_send --host 127.0.0.1 --port P --cert C --key K --ca CA
 *               [--format 5424|3164|raw] [--framing octet|lf] FILE
 *
 * Each line ("Mmm dd hh:mm:ss host tag[pid]: msg" or RFC 3339 stamped) becomes one
 * syslog message: 5424 "<22>1 TS HOST APP PROCID - - MSG" (classic stamps get the
 * current year and "Z"), 3164 "<22>LINE", raw the line unchanged. Messages are packed
 * into 256 KiB writes. After the last one the client half-closes and waits for the
 * server to close, so the time printed includes the server taking every line.
 * Prints "lines N bytes B seconds S" to stderr. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>

#include "tlsconf.h"

#define OUT_CAP (256u * 1024)
#define MSG_MAX 9000 /* one message with its header and octet count */

static void usage(void)
{
    fprintf(stderr, "usage: syslog_send --host H --port P --cert C --key K --ca CA "
                    "[--format 5424|3164|raw] [--framing octet|lf] FILE\n");
    exit(2);
}

static gnutls_session_t g_s;
static char g_out[OUT_CAP];
static size_t g_used;

static void die(const char *what, int rc)
{
    fprintf(stderr, "syslog_send: %s: %s\n", what, rc ? gnutls_strerror(rc) : "failed");
    exit(1);
}

static void out_flush(void)
{
    size_t off = 0;
    while (off < g_used) {
        ssize_t r = gnutls_record_send(g_s, g_out + off, g_used - off);
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
            continue;
        if (r < 0)
            die("send", (int)r);
        off += (size_t)r;
    }
    g_used = 0;
}

static int month_num(const char *p)
{
    static const char m[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
    for (int i = 0; i < 12; i++)
        if (memcmp(p, m + 3 * i, 3) == 0)
            return i + 1;
    return 0;
}

/* Build one message for line p[0..n) into msg; returns its length (0: skip). */
static size_t build(const char *fmt, const char *p, size_t n, int year, char *msg)
{
    if (strcmp(fmt, "raw") == 0) {
        if (n > MSG_MAX - 16)
            return 0;
        memcpy(msg, p, n);
        return n;
    }
    if (strcmp(fmt, "3164") == 0) {
        if (n > MSG_MAX - 16)
            return 0;
        memcpy(msg, "<22>", 4);
        memcpy(msg + 4, p, n);
        return n + 4;
    }
    /* 5424: split "STAMP HOST TAG: MSG" */
    char ts[40];
    size_t tsn, i = 0;
    const char *e = p + n;
    if (n > 15 && p[3] == ' ' && p[6] == ' ' && p[9] == ':' && month_num(p)) {
        int mon = month_num(p), day = (p[4] == ' ' ? 0 : p[4] - '0') * 10 + (p[5] - '0');
        tsn = (size_t)snprintf(ts, sizeof ts, "%04d-%02d-%02dT%.8sZ", year, mon, day, p + 7);
        i = 15;
        while (p + i < e && p[i] != ' ') /* fraction */
            i++;
    } else {
        while (i < n && p[i] != ' ')
            i++;
        if (i == 0 || i >= sizeof ts)
            return 0;
        memcpy(ts, p, i);
        tsn = i;
    }
    if (p + i >= e)
        return 0;
    const char *host = p + i + 1, *he = memchr(host, ' ', (size_t)(e - host));
    if (!he)
        return 0;
    const char *tag = he + 1, *colon = memchr(tag, ':', (size_t)(e - tag));
    if (!colon || colon + 1 >= e)
        return 0;
    const char *te = colon, *pid = NULL, *pe = NULL;
    if (te > tag && te[-1] == ']') {
        const char *lb = memchr(tag, '[', (size_t)(te - tag));
        if (lb) {
            pid = lb + 1;
            pe = te - 1;
            te = lb;
        }
    }
    const char *m = colon + 1;
    if (m < e && *m == ' ')
        m++;
    size_t need = 16 + tsn + (size_t)(he - host) + (size_t)(te - tag) + (size_t)(e - m) + 140;
    if (need > MSG_MAX || (pid && pe - pid > 128) || te - tag > 48)
        return 0;
    char *q = msg;
    memcpy(q, "<22>1 ", 6);
    q += 6;
    memcpy(q, ts, tsn);
    q += tsn;
    *q++ = ' ';
    memcpy(q, host, (size_t)(he - host));
    q += he - host;
    *q++ = ' ';
    memcpy(q, tag, (size_t)(te - tag));
    q += te - tag;
    *q++ = ' ';
    if (pid) {
        memcpy(q, pid, (size_t)(pe - pid));
        q += pe - pid;
    } else {
        *q++ = '-';
    }
    memcpy(q, " - - ", 5);
    q += 5;
    memcpy(q, m, (size_t)(e - m));
    q += e - m;
    return (size_t)(q - msg);
}

int main(int argc, char **argv)
{
    const char *host = NULL, *port = NULL, *cert = NULL, *key = NULL, *ca = NULL;
    const char *fmt = "5424", *framing = "octet", *file = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0)
            usage();
        if (a[0] == '-' && a[1] == '-' && i + 1 < argc) {
            const char *v = argv[++i];
            if (strcmp(a, "--host") == 0) host = v;
            else if (strcmp(a, "--port") == 0) port = v;
            else if (strcmp(a, "--cert") == 0) cert = v;
            else if (strcmp(a, "--key") == 0) key = v;
            else if (strcmp(a, "--ca") == 0) ca = v;
            else if (strcmp(a, "--format") == 0) fmt = v;
            else if (strcmp(a, "--framing") == 0) framing = v;
            else usage();
        } else if (!file) {
            file = a;
        } else {
            usage();
        }
    }
    if (!host || !port || !cert || !key || !ca || !file)
        usage();
    if (strcmp(fmt, "5424") && strcmp(fmt, "3164") && strcmp(fmt, "raw"))
        usage();
    int octet = strcmp(framing, "octet") == 0;
    if (!octet && strcmp(framing, "lf"))
        usage();

    int fd = open(file, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    if (fd < 0 || fstat(fd, &sb) != 0) {
        perror(file);
        return 1;
    }
    size_t size = (size_t)sb.st_size;
    const char *data = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : "";
    if (data == MAP_FAILED) {
        perror("mmap");
        return 1;
    }
    (void)madvise((void *)data, size, MADV_SEQUENTIAL);

    int rc;
    gnutls_certificate_credentials_t cr;
    if (cof_tls_global_init() != COF_OK)
        die("init", 0);
    if ((rc = gnutls_certificate_allocate_credentials(&cr)) < 0)
        die("credentials", rc);
    if ((rc = gnutls_certificate_set_x509_trust_file(cr, ca, GNUTLS_X509_FMT_PEM)) <= 0)
        die("CA file", rc);
    if ((rc = gnutls_certificate_set_x509_key_file(cr, cert, key, GNUTLS_X509_FMT_PEM)) < 0)
        die("certificate/key", rc);
    if ((rc = gnutls_init(&g_s, GNUTLS_CLIENT)) < 0)
        die("session", rc);
    if ((rc = gnutls_priority_set_direct(g_s, COF_TLS_PRIORITIES, NULL)) < 0)
        die("priorities", rc);
    if ((rc = gnutls_credentials_set(g_s, GNUTLS_CRD_CERTIFICATE, cr)) < 0)
        die("credentials", rc);
    /* the server certificate is checked against --ca; its name is not (loopback tests) */
    gnutls_session_set_verify_cert(g_s, NULL, 0);

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t sl;
    struct sockaddr_in *v4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&ss;
    char *pend;
    unsigned long pn = strtoul(port, &pend, 10);
    if (*pend || pn == 0 || pn > 65535)
        usage();
    if (inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)pn);
        sl = sizeof *v4;
    } else if (inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)pn);
        sl = sizeof *v6;
    } else {
        fprintf(stderr, "syslog_send: --host must be a numeric address\n");
        return 2;
    }
    int sfd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sfd < 0 || connect(sfd, (struct sockaddr *)&ss, sl) != 0) {
        perror("connect");
        return 1;
    }
    gnutls_transport_set_int(g_s, sfd);
    do
        rc = gnutls_handshake(g_s);
    while (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED);
    if (rc < 0)
        die("handshake", rc);

    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    int year = tmv.tm_year + 1900;
    static char msg[MSG_MAX];
    uint64_t lines = 0, bytes = 0, skipped = 0;
    const char *p = data, *e = data + size;
    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(e - p);
        size_t mn = n ? build(fmt, p, n, year, msg) : 0;
        p += n + 1;
        if (!mn) {
            skipped += n != 0;
            continue;
        }
        if (OUT_CAP - g_used < mn + 16)
            out_flush();
        if (octet)
            g_used += (size_t)snprintf(g_out + g_used, 16, "%zu ", mn);
        memcpy(g_out + g_used, msg, mn);
        g_used += mn;
        if (!octet)
            g_out[g_used++] = '\n';
        lines++;
        bytes += mn;
    }
    out_flush();
    /* half-close, then wait for the server to finish and close its side */
    do
        rc = gnutls_bye(g_s, GNUTLS_SHUT_WR);
    while (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED);
    char sink[4096];
    while (gnutls_record_recv(g_s, sink, sizeof sink) > 0)
        ;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    fprintf(stderr, "lines %llu bytes %llu seconds %.3f (%.0f lines/s)%s\n",
            (unsigned long long)lines, (unsigned long long)bytes, secs,
            secs > 0 ? (double)lines / secs : 0.0, skipped ? " (some lines skipped)" : "");
    gnutls_deinit(g_s);
    gnutls_certificate_free_credentials(cr);
    close(sfd);
    return 0;
}
