/* test_syslogd.c - the syslog intake in-process on 127.0.0.1:0 with real GnuTLS clients,
 * certificates made by the test (server: cof_tls_selfsigned; client CA and client
 * certificates: the GnuTLS API), and the TLS policy / certificate helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "syslogd.h"
#include "tlsconf.h"

/* ---- certificates ---- */

typedef struct {
    gnutls_x509_privkey_t key;
    gnutls_x509_crt_t crt;
    char *cert_pem, *key_pem;
    char fp[65];
} ident;

static char *export_pem(int is_key, void *obj)
{
    gnutls_datum_t d;
    int rc = is_key ? gnutls_x509_privkey_export2(obj, GNUTLS_X509_FMT_PEM, &d)
                    : gnutls_x509_crt_export2(obj, GNUTLS_X509_FMT_PEM, &d);
    assert_int_equal(rc, 0);
    char *s = malloc(d.size + 1);
    memcpy(s, d.data, d.size);
    s[d.size] = 0;
    gnutls_free(d.data);
    return s;
}

/* A certificate for cn, signed by issuer (NULL: self-signed CA). */
static void make_ident(ident *id, const char *cn, const ident *issuer)
{
    static unsigned serial = 1;
    time_t now = time(NULL);
    unsigned char ser[4] = { 0x10, 0, 0, (unsigned char)serial++ };
    assert_int_equal(gnutls_x509_privkey_init(&id->key), 0);
    assert_int_equal(gnutls_x509_privkey_generate(id->key, GNUTLS_PK_ECDSA,
                                                  GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0), 0);
    assert_int_equal(gnutls_x509_crt_init(&id->crt), 0);
    assert_int_equal(gnutls_x509_crt_set_version(id->crt, 3), 0);
    assert_int_equal(gnutls_x509_crt_set_serial(id->crt, ser, sizeof ser), 0);
    assert_int_equal(gnutls_x509_crt_set_activation_time(id->crt, now - 3600), 0);
    assert_int_equal(gnutls_x509_crt_set_expiration_time(id->crt, now + 86400), 0);
    assert_int_equal(gnutls_x509_crt_set_dn_by_oid(id->crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn,
                                                   (unsigned)strlen(cn)), 0);
    assert_int_equal(gnutls_x509_crt_set_key(id->crt, id->key), 0);
    if (!issuer) {
        assert_int_equal(gnutls_x509_crt_set_basic_constraints(id->crt, 1, -1), 0);
        assert_int_equal(gnutls_x509_crt_set_key_usage(id->crt, GNUTLS_KEY_KEY_CERT_SIGN), 0);
        assert_int_equal(gnutls_x509_crt_sign2(id->crt, id->crt, id->key, GNUTLS_DIG_SHA256, 0), 0);
    } else {
        assert_int_equal(gnutls_x509_crt_set_basic_constraints(id->crt, 0, -1), 0);
        assert_int_equal(gnutls_x509_crt_set_key_usage(id->crt, GNUTLS_KEY_DIGITAL_SIGNATURE), 0);
        assert_int_equal(gnutls_x509_crt_set_key_purpose_oid(id->crt, GNUTLS_KP_TLS_WWW_CLIENT, 0), 0);
        assert_int_equal(gnutls_x509_crt_sign2(id->crt, issuer->crt, issuer->key, GNUTLS_DIG_SHA256, 0), 0);
    }
    id->cert_pem = export_pem(0, id->crt);
    id->key_pem = export_pem(1, id->key);
    gnutls_datum_t der;
    assert_int_equal(gnutls_x509_crt_export2(id->crt, GNUTLS_X509_FMT_DER, &der), 0);
    cof_tls_fingerprint(der.data, der.size, id->fp);
    gnutls_free(der.data);
}

static void free_ident(ident *id)
{
    gnutls_x509_crt_deinit(id->crt);
    gnutls_x509_privkey_deinit(id->key);
    free(id->cert_pem);
    free(id->key_pem);
}

/* ---- fixture: a temp dir, two server certificates, two CAs and their clients ---- */

typedef struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char **lines;
    char principal[65];
    size_t n, cap;
    const char *allow_fp; /* the one fingerprint authz grants */
    char notes[512];
} world;

static char g_dir[64];
static char *g_srv_cert, *g_srv_key, *g_srv2_cert, *g_srv2_key;
static ident g_ca, g_client, g_denied, g_other_ca, g_stranger;

static int setup(void **state)
{
    (void)state;
    char p1[128], p2[128];
    snprintf(g_dir, sizeof g_dir, "/tmp/cof-syslogd-XXXXXX");
    assert_non_null(mkdtemp(g_dir));
    assert_int_equal(cof_tls_global_init(), COF_OK);
    size_t n;
    snprintf(p1, sizeof p1, "%s/srv.crt", g_dir);
    snprintf(p2, sizeof p2, "%s/srv.key", g_dir);
    assert_int_equal(cof_tls_selfsigned(p1, p2), COF_OK);
    assert_int_equal(cof_tls_read_pem(p1, 0, &g_srv_cert, &n), COF_OK);
    assert_int_equal(cof_tls_read_pem(p2, 1, &g_srv_key, &n), COF_OK);
    snprintf(p1, sizeof p1, "%s/srv2.crt", g_dir);
    snprintf(p2, sizeof p2, "%s/srv2.key", g_dir);
    assert_int_equal(cof_tls_selfsigned(p1, p2), COF_OK);
    assert_int_equal(cof_tls_read_pem(p1, 0, &g_srv2_cert, &n), COF_OK);
    assert_int_equal(cof_tls_read_pem(p2, 1, &g_srv2_key, &n), COF_OK);
    make_ident(&g_ca, "test syslog CA", NULL);
    make_ident(&g_client, "mx1.example", &g_ca);
    make_ident(&g_denied, "mx2.example", &g_ca);
    make_ident(&g_other_ca, "another CA", NULL);
    make_ident(&g_stranger, "mx1.example", &g_other_ca);
    signal(SIGPIPE, SIG_IGN); /* the test's own client writes to closed sockets */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    free(g_srv_cert);
    free(g_srv_key);
    free(g_srv2_cert);
    free(g_srv2_key);
    free_ident(&g_ca);
    free_ident(&g_client);
    free_ident(&g_denied);
    free_ident(&g_other_ca);
    free_ident(&g_stranger);
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static cof_status authz(void *ctx, const char fp[65], const char *peer, char principal[65])
{
    world *w = ctx;
    (void)peer;
    if (!w->allow_fp || strcmp(fp, w->allow_fp) != 0)
        return COF_DENIED;
    snprintf(principal, 65, "mx1");
    return COF_OK;
}

static cof_status sink(void *ctx, const char *principal, const char *peer, const cof_str *l,
                       size_t n)
{
    world *w = ctx;
    (void)peer;
    assert_true(n >= 1 && n <= COF_SYSLOG_BATCH_LINES);
    pthread_mutex_lock(&w->mu);
    snprintf(w->principal, sizeof w->principal, "%s", principal);
    for (size_t i = 0; i < n; i++) {
        if (w->n == w->cap) {
            w->cap = w->cap ? 2 * w->cap : 64;
            w->lines = realloc(w->lines, w->cap * sizeof *w->lines);
        }
        w->lines[w->n++] = strndup(l[i].p, l[i].n);
    }
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return COF_OK;
}

static void note(void *ctx, const char *what, const char *peer, const char *detail)
{
    world *w = ctx;
    (void)peer;
    pthread_mutex_lock(&w->mu);
    size_t k = strlen(w->notes);
    snprintf(w->notes + k, sizeof w->notes - k, "%s;", what);
    (void)detail;
    pthread_mutex_unlock(&w->mu);
}

static void world_init(world *w)
{
    memset(w, 0, sizeof *w);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
}

static void world_free(world *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->lines[i]);
    free(w->lines);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
}

/* Wait until the sink holds n lines (a generous safety bound keeps a broken server
 * from hanging the suite; it is not a timing assertion). */
static void wait_lines(world *w, size_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 60;
    pthread_mutex_lock(&w->mu);
    while (w->n < n)
        if (pthread_cond_timedwait(&w->cv, &w->mu, &ts) != 0)
            break;
    size_t got = w->n;
    pthread_mutex_unlock(&w->mu);
    assert_true(got >= n);
}

static void opts_init(cof_syslogd_opts *o, world *w)
{
    memset(o, 0, sizeof *o);
    o->tls_listen = "127.0.0.1:0";
    o->plain_principal = "local";
    o->cert_pem = g_srv_cert;
    o->key_pem = g_srv_key;
    o->client_ca_pem = g_ca.cert_pem;
    o->authz = authz;
    o->sink = sink;
    o->note = note;
    o->ctx = w;
}

/* ---- clients ---- */

static int tcp_connect(uint16_t port)
{
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = { 60, 0 }; /* safety bound only */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

/* 1 if the server closed the connection (read returns end of stream or an error). */
static int plain_closed(int fd)
{
    char b[64];
    ssize_t r;
    do
        r = recv(fd, b, sizeof b, 0);
    while (r > 0);
    return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

typedef struct {
    int fd;
    gnutls_session_t s;
    gnutls_certificate_credentials_t cr;
    int hs;
} tcli;

/* Connect with an optional client identity; the server is trusted through the
 * certificates in trust (PEM, one or two). Returns the handshake result. */
static const char *g_client_prio = COF_TLS_PRIORITIES;

static int tls_open(tcli *c, uint16_t port, const ident *id, const char *trust1, const char *trust2)
{
    assert_int_equal(gnutls_certificate_allocate_credentials(&c->cr), 0);
    gnutls_datum_t t1 = { (unsigned char *)trust1, (unsigned)strlen(trust1) };
    assert_true(gnutls_certificate_set_x509_trust_mem(c->cr, &t1, GNUTLS_X509_FMT_PEM) > 0);
    if (trust2) {
        gnutls_datum_t t2 = { (unsigned char *)trust2, (unsigned)strlen(trust2) };
        assert_true(gnutls_certificate_set_x509_trust_mem(c->cr, &t2, GNUTLS_X509_FMT_PEM) > 0);
    }
    if (id) {
        gnutls_datum_t cd = { (unsigned char *)id->cert_pem, (unsigned)strlen(id->cert_pem) };
        gnutls_datum_t kd = { (unsigned char *)id->key_pem, (unsigned)strlen(id->key_pem) };
        assert_int_equal(gnutls_certificate_set_x509_key_mem(c->cr, &cd, &kd, GNUTLS_X509_FMT_PEM), 0);
    }
    assert_int_equal(gnutls_init(&c->s, GNUTLS_CLIENT), 0);
    assert_int_equal(gnutls_priority_set_direct(c->s, g_client_prio, NULL), 0);
    assert_int_equal(gnutls_credentials_set(c->s, GNUTLS_CRD_CERTIFICATE, c->cr), 0);
    gnutls_session_set_verify_cert(c->s, "localhost", 0);
    c->fd = tcp_connect(port);
    gnutls_transport_set_int(c->s, c->fd);
    int rc;
    do
        rc = gnutls_handshake(c->s);
    while (rc == GNUTLS_E_AGAIN || rc == GNUTLS_E_INTERRUPTED);
    c->hs = rc;
    return rc;
}

static void tls_send(tcli *c, const char *data)
{
    size_t n = strlen(data), off = 0;
    while (off < n) {
        ssize_t r = gnutls_record_send(c->s, data + off, n - off);
        assert_true(r > 0);
        off += (size_t)r;
    }
}

/* Half-close and wait for the server's close: everything sent has been taken. */
static void tls_finish(tcli *c)
{
    char b[64];
    assert_int_equal(gnutls_bye(c->s, GNUTLS_SHUT_WR), 0);
    ssize_t r;
    do
        r = gnutls_record_recv(c->s, b, sizeof b);
    while (r > 0);
    assert_true(r == 0 || r == GNUTLS_E_PREMATURE_TERMINATION);
}

/* 1 if the server refused this client: the handshake failed, or the first read after
 * sending a message fails / ends (the server closes without reading it). */
static int tls_refused(tcli *c)
{
    char b[64];
    if (c->hs < 0)
        return 1;
    (void)gnutls_record_send(c->s, "<13>1 2026-11-23T14:02:03Z h a - - - refused?\n", 46);
    ssize_t r = gnutls_record_recv(c->s, b, sizeof b);
    return r <= 0 && r != GNUTLS_E_AGAIN;
}

static void tls_close(tcli *c)
{
    gnutls_deinit(c->s);
    gnutls_certificate_free_credentials(c->cr);
    close(c->fd);
}

/* ---- tests ---- */

static void test_policy_and_selfsigned(void **state)
{
    (void)state;
    gnutls_priority_t p;
    const char *err = NULL;
    assert_int_equal(gnutls_priority_init(&p, COF_TLS_PRIORITIES, &err), 0);
    gnutls_priority_deinit(p);

    char c[128], k[128], fp[65];
    snprintf(c, sizeof c, "%s/srv.crt", g_dir);
    snprintf(k, sizeof k, "%s/srv.key", g_dir);
    struct stat sb;
    assert_int_equal(stat(k, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(stat(c, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0644);
    assert_int_equal(cof_tls_selfsigned(c, k), COF_EXISTS);
    int yes = 0;
    assert_int_equal(cof_tls_is_selfsigned(c, &yes), COF_OK);
    assert_int_equal(yes, 1);

    /* the certificate: CN/O, SANs, not a CA, serverAuth, ECDSA P-256, one year */
    gnutls_x509_crt_t crt;
    gnutls_datum_t d = { (unsigned char *)g_srv_cert, (unsigned)strlen(g_srv_cert) };
    assert_int_equal(gnutls_x509_crt_init(&crt), 0);
    assert_int_equal(gnutls_x509_crt_import(crt, &d, GNUTLS_X509_FMT_PEM), 0);
    assert_int_equal(gnutls_x509_crt_check_hostname(crt, "localhost"), 1);
    assert_int_equal(gnutls_x509_crt_check_ip(crt, (const unsigned char *)"\x7f\0\0\1", 4, 0), 1);
    assert_int_equal(gnutls_x509_crt_check_hostname(crt, "example.com"), 0);
    unsigned ca = 1;
    assert_int_equal(gnutls_x509_crt_get_basic_constraints(crt, NULL, &ca, NULL), 0);
    assert_int_equal(ca, 0);
    unsigned ku = 0;
    assert_true(gnutls_x509_crt_get_key_usage(crt, &ku, NULL) >= 0);
    assert_int_equal(ku, GNUTLS_KEY_DIGITAL_SIGNATURE);
    char oid[64];
    size_t on = sizeof oid;
    assert_int_equal(gnutls_x509_crt_get_key_purpose_oid(crt, 0, oid, &on, NULL), 0);
    assert_string_equal(oid, GNUTLS_KP_TLS_WWW_SERVER);
    unsigned bits = 0;
    assert_int_equal(gnutls_x509_crt_get_pk_algorithm(crt, &bits), GNUTLS_PK_ECDSA);
    time_t span = gnutls_x509_crt_get_expiration_time(crt) - gnutls_x509_crt_get_activation_time(crt);
    assert_true(span >= 365 * 86400 && span <= 366 * 86400);
    gnutls_datum_t der;
    assert_int_equal(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der), 0);
    char fp2[65];
    cof_tls_fingerprint(der.data, der.size, fp2);
    gnutls_free(der.data);
    gnutls_x509_crt_deinit(crt);
    assert_int_equal(cof_tls_fingerprint_file(c, fp), COF_OK);
    assert_string_equal(fp, fp2);
    assert_int_equal(strlen(fp), 64);

    /* a CA-signed client certificate is not "the self-signed one" */
    char other[128];
    snprintf(other, sizeof other, "%s/client.crt", g_dir);
    FILE *f = fopen(other, "w");
    fputs(g_client.cert_pem, f);
    fclose(f);
    assert_int_equal(cof_tls_is_selfsigned(other, &yes), COF_OK);
    assert_int_equal(yes, 0);
    /* a key file readable by others is refused */
    char *buf = NULL;
    size_t n;
    assert_int_equal(chmod(other, 0644), 0);
    assert_int_equal(cof_tls_read_pem(other, 1, &buf, &n), COF_DENIED);
    assert_null(buf);
}

static void test_tls_good_client_in_order(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    w.allow_fp = g_client.fp;
    cof_syslogd_opts o;
    opts_init(&o, &w);
    cof_syslogd *d;
    assert_int_equal(cof_syslogd_start(&o, &d), COF_OK);
    uint16_t port = cof_syslogd_port(d, 1);
    assert_true(port != 0);

    tcli c;
    assert_int_equal(tls_open(&c, port, &g_client, g_srv_cert, NULL), 0);
    enum { N = 20000 };
    char *big = malloc((size_t)N * 128), *q = big;
    for (int i = 0; i < N; i++) {
        char m[120];
        int mn = snprintf(m, sizeof m, "<22>1 2026-11-23T14:02:03Z mx1 postfix/smtp %d - - line %d", i, i);
        if (i % 3 == 0)
            q += sprintf(q, "%d %s", mn, m); /* octet counting */
        else if (i % 3 == 1)
            q += sprintf(q, "%s\n", m); /* LF */
        else
            q += sprintf(q, "<22>Nov 23 14:02:03 mx1 postfix/qmgr[%d]: line %d\r\n", i, i);
    }
    tls_send(&c, big);
    tls_finish(&c);
    tls_close(&c);
    free(big);
    wait_lines(&w, N);
    for (int i = 0; i < N; i++) {
        char want[120];
        if (i % 3 == 2)
            snprintf(want, sizeof want, "Nov 23 14:02:03 mx1 postfix/qmgr[%d]: line %d", i, i);
        else
            snprintf(want, sizeof want, "2026-11-23T14:02:03Z mx1 postfix/smtp[%d]: line %d", i, i);
        assert_string_equal(w.lines[i], want);
    }
    assert_string_equal(w.principal, "mx1");
    cof_syslogd_stats st;
    cof_syslogd_stats_get(d, &st);
    assert_int_equal(st.lines, N);
    assert_int_equal(st.frames, N);
    assert_int_equal(st.auth_failures, 0);
    assert_int_equal(st.conns_accepted, 1);
    cof_syslogd_stop(d);
    world_free(&w);
}

static void test_tls_refusals(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    w.allow_fp = g_client.fp;
    cof_syslogd_opts o;
    opts_init(&o, &w);
    cof_syslogd *d;
    assert_int_equal(cof_syslogd_start(&o, &d), COF_OK);
    uint16_t port = cof_syslogd_port(d, 1);
    tcli c;
    const ident *who[] = { NULL, &g_stranger, &g_denied };
    for (int i = 0; i < 3; i++) {
        (void)tls_open(&c, port, who[i], g_srv_cert, NULL);
        assert_true(tls_refused(&c));
        tls_close(&c);
    }
    /* the allowed client offering only TLS 1.1, or only CBC suites, is refused */
    static const char *weak[] = {
        "NORMAL:-VERS-ALL:+VERS-TLS1.1:+VERS-TLS1.0",
        "NORMAL:-VERS-ALL:+VERS-TLS1.2:-AES-128-GCM:-AES-256-GCM:-CHACHA20-POLY1305:"
        "+AES-128-CBC:+AES-256-CBC:+SHA1:+SHA256",
    };
    for (int i = 0; i < 2; i++) {
        g_client_prio = weak[i];
        assert_true(tls_open(&c, port, &g_client, g_srv_cert, NULL) < 0);
        tls_close(&c);
    }
    g_client_prio = COF_TLS_PRIORITIES;
    /* the allowed client still works on the same listener */
    assert_int_equal(tls_open(&c, port, &g_client, g_srv_cert, NULL), 0);
    tls_send(&c, "<22>Nov 23 14:02:03 mx1 postfix/qmgr[1]: ok\n");
    tls_finish(&c);
    tls_close(&c);
    wait_lines(&w, 1);
    cof_syslogd_stats st;
    cof_syslogd_stats_get(d, &st);
    cof_syslogd_stop(d);
    assert_int_equal(w.n, 1);
    assert_string_equal(w.lines[0], "Nov 23 14:02:03 mx1 postfix/qmgr[1]: ok");
    assert_int_equal(st.auth_failures, 3);
    assert_non_null(strstr(w.notes, "auth;"));
    world_free(&w);
}

static void test_plain_listener(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    cof_syslogd_opts o;
    opts_init(&o, &w);
    o.tls_listen = NULL;
    cof_syslogd *d = NULL;
    o.plain_listen = "0.0.0.0:0";
    assert_int_equal(cof_syslogd_start(&o, &d), COF_DENIED);
    assert_null(d);
    o.plain_listen = "192.0.2.1:0";
    assert_int_equal(cof_syslogd_start(&o, &d), COF_DENIED);
    o.plain_listen = "[::]:0";
    assert_int_equal(cof_syslogd_start(&o, &d), COF_DENIED);

    o.plain_listen = "127.0.0.1:0";
    assert_int_equal(cof_syslogd_start(&o, &d), COF_OK);
    uint16_t port = cof_syslogd_port(d, 0);
    int fd = tcp_connect(port);
    const char *msg = "12 <13>Nov 23 x<13>1 2026-11-23T14:02:03Z h app - - - hi\n";
    assert_int_equal(send(fd, msg, strlen(msg), 0), (ssize_t)strlen(msg));
    shutdown(fd, SHUT_WR);
    assert_true(plain_closed(fd));
    close(fd);
    wait_lines(&w, 2);
    assert_string_equal(w.lines[0], "Nov 23 x");
    assert_string_equal(w.lines[1], "2026-11-23T14:02:03Z h app: hi");
    assert_string_equal(w.principal, "local");

    /* a protocol error closes the connection; the good frame before it is kept */
    fd = tcp_connect(port);
    msg = "3 abc012 x";
    assert_int_equal(send(fd, msg, strlen(msg), 0), (ssize_t)strlen(msg));
    assert_true(plain_closed(fd));
    close(fd);
    wait_lines(&w, 3);
    assert_string_equal(w.lines[2], "abc");
    cof_syslogd_stats st;
    cof_syslogd_stats_get(d, &st);
    assert_int_equal(st.bad_frames, 1);
    cof_syslogd_stop(d);
    world_free(&w);
}

static void test_max_conns_and_timeouts(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    w.allow_fp = g_client.fp;
    cof_syslogd_opts o;
    opts_init(&o, &w);
    o.plain_listen = "127.0.0.1:0";
    o.tls_listen = NULL;
    o.max_conns = 2;
    cof_syslogd *d;
    assert_int_equal(cof_syslogd_start(&o, &d), COF_OK);
    uint16_t pport = cof_syslogd_port(d, 0);

    /* two live connections (each proved accepted by a delivered line), then a third */
    int a = tcp_connect(pport), b = tcp_connect(pport);
    assert_int_equal(send(a, "one\n", 4, 0), 4);
    wait_lines(&w, 1);
    assert_int_equal(send(b, "two\n", 4, 0), 4);
    wait_lines(&w, 2);
    int x = tcp_connect(pport);
    assert_true(plain_closed(x)); /* closed at once */
    close(x);
    cof_syslogd_stats st;
    cof_syslogd_stats_get(d, &st);
    assert_int_equal(st.conns_rejected, 1);
    assert_int_equal(st.conns_accepted, 2);

    /* stop ends the open connections */
    cof_syslogd_stop(d);
    assert_true(plain_closed(a));
    assert_true(plain_closed(b));
    close(a);
    close(b);

    /* a second instance with short deadlines (no timing is asserted: only that the
     * server, not the client, ends each connection) */
    opts_init(&o, &w);
    o.plain_listen = "127.0.0.1:0";
    o.idle_seconds = 1;
    o.handshake_seconds = 1;
    assert_int_equal(cof_syslogd_start(&o, &d), COF_OK);
    pport = cof_syslogd_port(d, 0);
    uint16_t tport = cof_syslogd_port(d, 1);
    /* idle connections are closed by the server */
    a = tcp_connect(pport);
    assert_true(plain_closed(a));
    close(a);
    a = tcp_connect(pport);
    assert_int_equal(send(a, "three\n", 6, 0), 6);
    assert_true(plain_closed(a));
    close(a);
    wait_lines(&w, 3);

    /* a TLS client that never starts its handshake is closed too */
    int h = tcp_connect(tport);
    assert_true(plain_closed(h));
    close(h);
    /* and one that stops half-way through (a partial ClientHello) */
    h = tcp_connect(tport);
    assert_int_equal(send(h, "\x16\x03\x01\x02\x00\x01", 6, 0), 6);
    assert_true(plain_closed(h));
    close(h);
    cof_syslogd_stop(d);
    assert_non_null(strstr(w.notes, "limit;"));
    assert_non_null(strstr(w.notes, "protocol;"));
    world_free(&w);
}

static void peer_fp(tcli *c, char fp[65])
{
    unsigned n = 0;
    const gnutls_datum_t *ch = gnutls_certificate_get_peers(c->s, &n);
    assert_non_null(ch);
    assert_true(n >= 1);
    cof_tls_fingerprint(ch[0].data, ch[0].size, fp);
}

static void test_reload_and_stop(void **state)
{
    (void)state;
    world w;
    world_init(&w);
    w.allow_fp = g_client.fp;
    cof_syslogd_opts o;
    opts_init(&o, &w);
    cof_syslogd *d;
    assert_int_equal(cof_syslogd_start(&o, &d), COF_OK);
    uint16_t port = cof_syslogd_port(d, 1);
    char fp_old[65], fp_new[65], want_new[65];
    char path[128];
    snprintf(path, sizeof path, "%s/srv2.crt", g_dir);
    assert_int_equal(cof_tls_fingerprint_file(path, want_new), COF_OK);

    tcli old, c;
    assert_int_equal(tls_open(&old, port, &g_client, g_srv_cert, g_srv2_cert), 0);
    peer_fp(&old, fp_old);
    tls_send(&old, "before reload\n");
    wait_lines(&w, 1);

    /* bad material is refused and the running credentials stay */
    assert_int_equal(cof_syslogd_reload(d, g_srv2_cert, g_srv_key, g_ca.cert_pem), COF_BADINPUT);
    assert_int_equal(cof_syslogd_reload(d, g_srv2_cert, g_srv2_key, "not a PEM"), COF_BADINPUT);
    /* new server certificate; the client CA becomes the other one */
    assert_int_equal(cof_syslogd_reload(d, g_srv2_cert, g_srv2_key, g_other_ca.cert_pem), COF_OK);

    assert_int_equal(tls_open(&c, port, &g_client, g_srv_cert, g_srv2_cert), 0);
    assert_true(tls_refused(&c)); /* g_client's CA is no longer trusted */
    tls_close(&c);
    w.allow_fp = g_stranger.fp;
    assert_int_equal(tls_open(&c, port, &g_stranger, g_srv_cert, g_srv2_cert), 0);
    peer_fp(&c, fp_new);
    assert_string_equal(fp_new, want_new);
    assert_string_not_equal(fp_new, fp_old);
    tls_send(&c, "after reload\n");
    wait_lines(&w, 2);

    /* the connection made before the reload keeps working with its credentials */
    tls_send(&old, "old still open\n");
    wait_lines(&w, 3);

    /* stop: open connections see the end and what they sent is delivered */
    tls_send(&c, "last words\n");
    wait_lines(&w, 4);
    cof_syslogd_stop(d);
    char b[16];
    assert_true(gnutls_record_recv(c.s, b, sizeof b) <= 0);
    tls_close(&c);
    tls_close(&old);
    assert_string_equal(w.lines[0], "before reload");
    assert_string_equal(w.lines[1], "after reload");
    assert_string_equal(w.lines[2], "old still open");
    assert_string_equal(w.lines[3], "last words");
    world_free(&w);
}

static void test_parse_hostport(void **state)
{
    (void)state;
    struct sockaddr_storage ss;
    unsigned sl;
    int lo;
    assert_int_equal(cof_net_parse_hostport("127.0.0.2:6514", &ss, &sl, &lo), COF_OK);
    assert_int_equal(lo, 1);
    assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 6514);
    assert_int_equal(cof_net_parse_hostport("[::1]:514", &ss, &sl, &lo), COF_OK);
    assert_int_equal(lo, 1);
    assert_int_equal(ss.ss_family, AF_INET6);
    assert_int_equal(cof_net_parse_hostport("localhost:0", &ss, &sl, &lo), COF_OK);
    assert_int_equal(lo, 1);
    assert_int_equal(cof_net_parse_hostport("10.1.2.3:1", &ss, &sl, &lo), COF_OK);
    assert_int_equal(lo, 0);
    assert_int_equal(cof_net_parse_hostport("[2001:db8::1]:1", &ss, &sl, &lo), COF_OK);
    assert_int_equal(lo, 0);
    static const char *bad[] = { "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "x.example:1",
                                 "[::1:5", "::1:5", ":5", "127.0.0.1:-1", "[127.0.0.1]:5" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(cof_net_parse_hostport(bad[i], &ss, &sl, &lo), COF_BADINPUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_and_selfsigned),
        cmocka_unit_test(test_parse_hostport),
        cmocka_unit_test(test_tls_good_client_in_order),
        cmocka_unit_test(test_tls_refusals),
        cmocka_unit_test(test_plain_listener),
        cmocka_unit_test(test_max_conns_and_timeouts),
        cmocka_unit_test(test_reload_and_stop),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
