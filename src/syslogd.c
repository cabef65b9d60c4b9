/* syslogd.c - syslog intake: RFC 5425 over TLS with client certificates, plain TCP on
 * loopback only.
 *
 * Threads: one accept thread per listener, one thread per connection. Invariants:
 *  1. Every field of cof_syslogd after start is read-only except those marked "mu".
 *  2. A connection thread never closes its socket: the thread that joins it does (the
 *     accept thread's reaper or stop), so stop can shutdown() every listed socket
 *     without racing a descriptor number being reused.
 *  3. Credentials are reference counted: reload swaps the current set under mu; each
 *     connection holds a reference to the set it started with until gnutls_deinit.
 *  4. Sockets are non-blocking; every wait is a poll() with a deadline, so neither a
 *     slow handshake nor a silent peer holds a thread past its limit.
 *  5. Lines reach the sink in arrival order, in batches flushed when full and whenever
 *     a read found the socket drained. */
#include "syslogd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include "framer.h"
#include "tlsconf.h"

/* Bytes of converted lines one connection buffers before handing them to the sink:
 * 4096 lines of a typical ~250-byte Postfix line; a batch of long lines is flushed
 * early. Bounds per-connection memory (times max_conns). */
#define SYSLOG_BATCH_BYTES (1u << 20)
/* One read from the socket / TLS record layer. */
#define SYSLOG_READ_BYTES (64u * 1024)
#define PEER_MAX 64 /* "[v6addr]:port" */
/* Reads a connection may still make after stop began (64 x 64 KiB): enough for what
 * the kernel had buffered, bounded against a sender that never pauses. */
#define STOP_DRAIN_READS 64

typedef struct creds {
    gnutls_certificate_credentials_t c;
    unsigned refs; /* mu */
} creds;

typedef struct conn conn;
struct conn {
    cof_syslogd *d;
    int fd, tls;
    int done; /* mu: thread finished, ready to join */
    pthread_t thr;
    conn *next; /* mu */
    char peer[PEER_MAX];
    char principal[65];
    creds *cr;
    gnutls_session_t s;
    cof_framer fr;
    /* the current batch */
    cof_str lines[COF_SYSLOG_BATCH_LINES];
    size_t nlines, used;
    char bytes[SYSLOG_BATCH_BYTES];
    uint8_t rbuf[SYSLOG_READ_BYTES];
    cof_status sink_st;
};

struct cof_syslogd {
    cof_syslogd_opts o;
    char *plain_principal;
    int lfd[2];        /* [0] plain, [1] tls; -1 if not listening */
    uint16_t port[2];
    pthread_t acc[2];
    int acc_started[2];
    int wake[2];       /* pipe: written once by stop to wake the accept threads */
    gnutls_priority_t prio;
    pthread_mutex_t mu;
    creds *cr;         /* mu */
    conn *conns;       /* mu */
    uint32_t nconns;   /* mu */
    int stopping;      /* mu for writes; read atomically by connections */
    cof_syslogd_stats st; /* mu */
};

/* ---- addresses ---- */

cof_status cof_net_parse_hostport(const char *s, struct sockaddr_storage *ss, unsigned *sslen,
                                  int *loopback)
{
    char host[64];
    const char *colon, *h, *he;
    uint64_t port;
    memset(ss, 0, sizeof *ss);
    if (!s)
        return COF_ERR(COF_BADINPUT, "listen address missing");
    if (s[0] == '[') {
        he = strchr(s, ']');
        if (!he || he[1] != ':')
            return COF_ERR(COF_BADINPUT, "listen address %.80s: expected [V6]:PORT", s);
        h = s + 1;
        colon = he + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon)
            return COF_ERR(COF_BADINPUT, "listen address %.80s: expected HOST:PORT", s);
        h = s;
        he = colon;
    }
    if ((size_t)(he - h) >= sizeof host || he == h)
        return COF_ERR(COF_BADINPUT, "listen address %.80s: bad host", s);
    memcpy(host, h, (size_t)(he - h));
    host[he - h] = 0;
    if (!cof_str_to_u64(cof_str_c(colon + 1), 65535, &port))
        return COF_ERR(COF_BADINPUT, "listen address %.80s: bad port", s);
    if (strcmp(host, "localhost") == 0)
        memcpy(host, "127.0.0.1", 10);
    struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
    if (s[0] != '[' && inet_pton(AF_INET, host, &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons((uint16_t)port);
        *sslen = sizeof *v4;
        *loopback = (ntohl(v4->sin_addr.s_addr) >> 24) == 127;
        return COF_OK;
    }
    if (s[0] == '[' && inet_pton(AF_INET6, host, &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons((uint16_t)port);
        *sslen = sizeof *v6;
        *loopback = IN6_IS_ADDR_LOOPBACK(&v6->sin6_addr);
        return COF_OK;
    }
    return COF_ERR(COF_BADINPUT, "listen address %.80s: host must be numeric or localhost", s);
}

static void peer_name(const struct sockaddr_storage *ss, char out[PEER_MAX])
{
    char a[INET6_ADDRSTRLEN] = "?";
    unsigned port = 0;
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *v4 = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &v4->sin_addr, a, sizeof a);
        port = ntohs(v4->sin_port);
        snprintf(out, PEER_MAX, "%s:%u", a, port);
    } else {
        const struct sockaddr_in6 *v6 = (const struct sockaddr_in6 *)ss;
        inet_ntop(AF_INET6, &v6->sin6_addr, a, sizeof a);
        port = ntohs(v6->sin6_port);
        snprintf(out, PEER_MAX, "[%s]:%u", a, port);
    }
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for fd to become readable (or writable) until deadline_ms: 1 ready, 0 timed out,
 * -1 error. */
static int wait_fd(int fd, int want_write, int64_t deadline_ms)
{
    for (;;) {
        int64_t left = deadline_ms - now_ms();
        if (left <= 0)
            return 0;
        struct pollfd pf = { fd, (short)(want_write ? POLLOUT : POLLIN), 0 };
        int r = poll(&pf, 1, left > 60000 ? 60000 : (int)left);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return -1;
    }
}

/* ---- credentials ---- */

static cof_status creds_new(const char *cert_pem, const char *key_pem, const char *ca_pem,
                            creds **out)
{
    cof_status st = COF_OK;
    creds *cr;
    int rc;
    if (!cert_pem || !key_pem || !ca_pem)
        return COF_ERR(COF_BADINPUT, "syslog TLS listener needs a certificate, its key and a "
                                     "client CA");
    cr = calloc(1, sizeof *cr);
    if (!cr)
        return COF_ERR(COF_NOMEM, "syslog credentials");
    cr->refs = 1;
    if ((rc = gnutls_certificate_allocate_credentials(&cr->c)) < 0) {
        free(cr);
        return COF_ERR(COF_NOMEM, "syslog credentials: %s", gnutls_strerror(rc));
    }
    gnutls_datum_t c = { (unsigned char *)cert_pem, (unsigned)strlen(cert_pem) };
    gnutls_datum_t k = { (unsigned char *)key_pem, (unsigned)strlen(key_pem) };
    gnutls_datum_t a = { (unsigned char *)ca_pem, (unsigned)strlen(ca_pem) };
    rc = gnutls_certificate_set_x509_key_mem2(cr->c, &c, &k, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (rc < 0) {
        st = COF_ERR(COF_BADINPUT, "syslog server certificate or key: %s", gnutls_strerror(rc));
        goto out;
    }
    rc = gnutls_certificate_set_x509_trust_mem(cr->c, &a, GNUTLS_X509_FMT_PEM);
    if (rc <= 0) {
        st = COF_ERR(COF_BADINPUT, "syslog client CA: %s",
                     rc < 0 ? gnutls_strerror(rc) : "no certificate found");
        goto out;
    }
out:
    if (st) {
        gnutls_certificate_free_credentials(cr->c);
        free(cr);
        return st;
    }
    *out = cr;
    return COF_OK;
}

static void creds_put(cof_syslogd *d, creds *cr)
{
    if (!cr)
        return;
    pthread_mutex_lock(&d->mu);
    unsigned left = --cr->refs;
    pthread_mutex_unlock(&d->mu);
    if (left == 0) {
        gnutls_certificate_free_credentials(cr->c);
        free(cr);
    }
}

/* ---- one connection ---- */

static void note(cof_syslogd *d, const char *what, const char *peer, const char *detail)
{
    if (d->o.note)
        d->o.note(d->o.ctx, what, peer, detail);
}

static void count(cof_syslogd *d, uint64_t *field, uint64_t n)
{
    pthread_mutex_lock(&d->mu);
    *field += n;
    pthread_mutex_unlock(&d->mu);
}

static cof_status flush(conn *c)
{
    cof_status st = COF_OK;
    if (c->nlines == 0)
        return COF_OK;
    st = c->d->o.sink(c->d->o.ctx, c->principal, c->peer, c->lines, c->nlines);
    if (st == COF_OK || st == COF_LIMIT)
        count(c->d, &c->d->st.lines, c->nlines);
    c->nlines = 0;
    c->used = 0;
    if (st == COF_LIMIT)
        st = COF_OK; /* the sink dropped some lines on purpose; keep the connection */
    return st;
}

static cof_status on_frame(void *ctx, cof_str frame)
{
    conn *c = ctx;
    size_t n;
    cof_status st;
    if (c->nlines == COF_SYSLOG_BATCH_LINES ||
        SYSLOG_BATCH_BYTES - c->used < COF_MAX_SYSLOG_FRAME) {
        if ((st = flush(c))) {
            c->sink_st = st;
            return st;
        }
    }
    /* a line is never longer than its frame, so it always fits after a flush */
    st = cof_syslog_to_line(frame, c->bytes + c->used, COF_MAX_SYSLOG_FRAME, &n);
    if (st) {
        count(c->d, &c->d->st.bad_frames, 1);
        return COF_OK; /* one bad message does not end the stream */
    }
    c->lines[c->nlines++] = cof_str_make(c->bytes + c->used, n);
    c->used += n;
    return COF_OK;
}

static ssize_t push_nosignal(gnutls_transport_ptr_t ptr, const void *buf, size_t n)
{
    conn *c = ptr;
    ssize_t r = send(c->fd, buf, n, MSG_NOSIGNAL);
    if (r < 0)
        gnutls_transport_set_errno(c->s, errno);
    return r;
}

static ssize_t pull_recv(gnutls_transport_ptr_t ptr, void *buf, size_t n)
{
    conn *c = ptr;
    ssize_t r = recv(c->fd, buf, n, 0);
    if (r < 0)
        gnutls_transport_set_errno(c->s, errno);
    return r;
}

/* TLS handshake within the deadline, then chain verification, then authz. */
static cof_status tls_accept(conn *c)
{
    cof_syslogd *d = c->d;
    unsigned status = 0, ncert = 0;
    int rc;
    const char *why = NULL;
    pthread_mutex_lock(&d->mu);
    c->cr = d->cr;
    c->cr->refs++;
    pthread_mutex_unlock(&d->mu);
    if ((rc = gnutls_init(&c->s, GNUTLS_SERVER | GNUTLS_NONBLOCK | GNUTLS_NO_TICKETS)) < 0) {
        c->s = NULL;
        return COF_ERR(COF_NOMEM, "TLS session: %s", gnutls_strerror(rc));
    }
    if ((rc = gnutls_priority_set(c->s, d->prio)) < 0 ||
        (rc = gnutls_credentials_set(c->s, GNUTLS_CRD_CERTIFICATE, c->cr->c)) < 0)
        return COF_ERR(COF_IO, "TLS session: %s", gnutls_strerror(rc));
    gnutls_certificate_server_set_request(c->s, GNUTLS_CERT_REQUIRE);
    gnutls_transport_set_ptr(c->s, c);
    gnutls_transport_set_push_function(c->s, push_nosignal);
    gnutls_transport_set_pull_function(c->s, pull_recv);

    int64_t deadline = now_ms() + (int64_t)d->o.handshake_seconds * 1000;
    int hs_done = 0;
    for (;;) {
        rc = gnutls_handshake(c->s);
        if (rc == 0) {
            hs_done = 1;
            break;
        }
        if (rc != GNUTLS_E_AGAIN && rc != GNUTLS_E_INTERRUPTED) {
            if (rc == GNUTLS_E_NO_CERTIFICATE_FOUND || rc == GNUTLS_E_CERTIFICATE_REQUIRED) {
                why = "no client certificate";
                goto denied;
            }
            note(d, "protocol", c->peer, gnutls_strerror(rc));
            return COF_ERR(COF_BADINPUT, "TLS handshake failed: %s", gnutls_strerror(rc));
        }
        int w = wait_fd(c->fd, gnutls_record_get_direction(c->s), deadline);
        if (w <= 0) {
            note(d, "protocol", c->peer, w == 0 ? "TLS handshake timed out" : "poll failed");
            return COF_ERR(COF_BADINPUT, "TLS handshake timed out");
        }
    }
    rc = gnutls_certificate_verify_peers2(c->s, &status);
    if (rc < 0 || status != 0) {
        why = "client certificate does not chain to the client CA";
        goto denied;
    }
    const gnutls_datum_t *chain = gnutls_certificate_get_peers(c->s, &ncert);
    if (!chain || ncert == 0) {
        why = "no client certificate";
        goto denied;
    }
    char fp[65];
    cof_tls_fingerprint(chain[0].data, chain[0].size, fp);
    c->principal[0] = 0;
    if (d->o.authz(d->o.ctx, fp, c->peer, c->principal) != COF_OK || !c->principal[0]) {
        why = "client certificate not granted ingest";
        goto denied;
    }
    c->principal[64] = 0;
    return COF_OK;
denied:
    count(d, &d->st.auth_failures, 1);
    note(d, "auth", c->peer, why);
    if (hs_done) /* best effort: the socket is non-blocking */
        (void)gnutls_alert_send(c->s, GNUTLS_AL_FATAL, GNUTLS_A_ACCESS_DENIED);
    return COF_ERR(COF_DENIED, "syslog client refused: %s", why);
}

static int stopping(cof_syslogd *d)
{
    return __atomic_load_n(&d->stopping, __ATOMIC_RELAXED);
}

/* Read until EOF, idle timeout, protocol error or sink error. */
static void serve(conn *c)
{
    cof_syslogd *d = c->d;
    const char *end = NULL;
    cof_status st = COF_OK;
    int eof = 0;
    cof_framer_init(&c->fr);
    while (!eof) {
        int64_t deadline = now_ms() + (int64_t)d->o.idle_seconds * 1000;
        /* the handshake may already have pulled application data into GnuTLS */
        int w = c->tls && gnutls_record_check_pending(c->s) > 0 ? 1 : wait_fd(c->fd, 0, deadline);
        if (w == 0) {
            end = "idle timeout";
            break;
        }
        if (w < 0) {
            end = "poll failed";
            break;
        }
        /* drain: read until the socket (and TLS buffer) would block */
        uint64_t before = c->fr.frames;
        int budget = -1;
        for (;;) {
            ssize_t r;
            /* stopping: take what is buffered, but a sender that never pauses cannot
             * hold stop up for more than STOP_DRAIN_READS reads */
            if (stopping(d)) {
                if (budget < 0)
                    budget = STOP_DRAIN_READS;
                else if (budget-- == 0)
                    break;
            }
            if (c->tls) {
                r = gnutls_record_recv(c->s, c->rbuf, sizeof c->rbuf);
                if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
                    break;
                if (r == GNUTLS_E_PREMATURE_TERMINATION)
                    r = 0;
                if (r < 0) {
                    end = gnutls_strerror((int)r);
                    eof = 1;
                    break;
                }
            } else {
                r = recv(c->fd, c->rbuf, sizeof c->rbuf, 0);
                if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
                    break;
                if (r < 0) {
                    end = "read failed";
                    eof = 1;
                    break;
                }
            }
            if (r == 0) {
                eof = 1;
                st = cof_framer_finish(&c->fr, on_frame, c);
                break;
            }
            st = cof_framer_feed(&c->fr, c->rbuf, (size_t)r, on_frame, c);
            if (st)
                break;
        }
        count(d, &d->st.frames, c->fr.frames - before);
        if (st) {
            if (c->sink_st) {
                end = "sink refused lines";
            } else {
                count(d, &d->st.bad_frames, 1);
                note(d, "protocol", c->peer, cof_err_msg());
                end = "protocol error";
                (void)flush(c); /* what arrived before the error is good */
            }
            break;
        }
        if (flush(c) != COF_OK) {
            end = "sink refused lines";
            break;
        }
        if (stopping(d))
            break;
    }
    if (c->fr.oversized)
        count(d, &d->st.bad_frames, c->fr.oversized);
    if (end && strcmp(end, "idle timeout") == 0)
        note(d, "limit", c->peer, end);
    if (c->tls && !end)
        (void)gnutls_bye(c->s, GNUTLS_SHUT_WR);
}

static void *conn_main(void *arg)
{
    conn *c = arg;
    cof_syslogd *d = c->d;
    int one = 1;
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!c->tls || tls_accept(c) == COF_OK)
        serve(c);
    (void)shutdown(c->fd, SHUT_RDWR); /* the peer sees the close now; close() by the reaper */
    if (c->s)
        gnutls_deinit(c->s);
    c->s = NULL;
    creds_put(d, c->cr);
    c->cr = NULL;
    pthread_mutex_lock(&d->mu);
    c->done = 1;
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

/* Join finished connections (caller does not hold mu). */
static void reap(cof_syslogd *d, int all)
{
    for (;;) {
        conn *found = NULL;
        pthread_mutex_lock(&d->mu);
        for (conn **pp = &d->conns; *pp; pp = &(*pp)->next) {
            if (all || (*pp)->done) {
                found = *pp;
                *pp = found->next;
                d->nconns--;
                break;
            }
        }
        pthread_mutex_unlock(&d->mu);
        if (!found)
            return;
        pthread_join(found->thr, NULL);
        close(found->fd);
        free(found);
    }
}

static void *accept_main(void *arg)
{
    cof_syslogd *d = ((void **)arg)[0];
    int tls = (int)(intptr_t)((void **)arg)[1];
    free(arg);
    int lfd = d->lfd[tls];
    for (;;) {
        struct pollfd pf[2] = { { lfd, POLLIN, 0 }, { d->wake[0], POLLIN, 0 } };
        if (poll(pf, 2, 1000) < 0 && errno != EINTR)
            break;
        if (pf[1].revents)
            break;
        reap(d, 0);
        if (!(pf[0].revents & POLLIN))
            continue;
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        int fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0)
            continue; /* EAGAIN, ECONNABORTED, EMFILE: try again on the next wake-up */
        char peer[PEER_MAX];
        peer_name(&ss, peer);
        pthread_mutex_lock(&d->mu);
        int full = d->stopping || d->nconns >= d->o.max_conns;
        if (full)
            d->st.conns_rejected++;
        else
            d->st.conns_accepted++;
        pthread_mutex_unlock(&d->mu);
        if (full) {
            close(fd);
            note(d, "limit", peer, "too many syslog connections");
            continue;
        }
        conn *c = calloc(1, sizeof *c);
        if (!c) {
            close(fd);
            continue;
        }
        c->d = d;
        c->fd = fd;
        c->tls = tls;
        memcpy(c->peer, peer, sizeof peer);
        if (!tls)
            snprintf(c->principal, sizeof c->principal, "%s", d->plain_principal);
        pthread_mutex_lock(&d->mu);
        c->next = d->conns;
        d->conns = c;
        d->nconns++;
        if (pthread_create(&c->thr, NULL, conn_main, c) != 0) {
            d->conns = c->next;
            d->nconns--;
            pthread_mutex_unlock(&d->mu);
            close(fd);
            free(c);
            continue;
        }
        pthread_mutex_unlock(&d->mu);
    }
    return NULL;
}

static cof_status listen_on(const char *addr, int *fd, uint16_t *port, int *loopback)
{
    struct sockaddr_storage ss;
    unsigned sl;
    int one = 1;
    cof_status st = cof_net_parse_hostport(addr, &ss, &sl, loopback);
    if (st)
        return st;
    *fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (*fd < 0)
        return COF_ERRNO("syslog socket");
    if (setsockopt(*fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(*fd, (struct sockaddr *)&ss, sl) != 0 || listen(*fd, 128) != 0) {
        st = COF_ERRNO("syslog listen on %.80s", addr);
        close(*fd);
        *fd = -1;
        return st;
    }
    sl = sizeof ss;
    if (getsockname(*fd, (struct sockaddr *)&ss, (socklen_t *)&sl) == 0)
        *port = ntohs(ss.ss_family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                              : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return COF_OK;
}

static void destroy(cof_syslogd *d)
{
    for (int i = 0; i < 2; i++)
        if (d->lfd[i] >= 0)
            close(d->lfd[i]);
    for (int i = 0; i < 2; i++)
        if (d->wake[i] >= 0)
            close(d->wake[i]);
    if (d->cr) {
        gnutls_certificate_free_credentials(d->cr->c);
        free(d->cr);
    }
    if (d->prio)
        gnutls_priority_deinit(d->prio);
    pthread_mutex_destroy(&d->mu);
    free(d->plain_principal);
    free(d);
}

cof_status cof_syslogd_start(const cof_syslogd_opts *o, cof_syslogd **out)
{
    cof_status st;
    int loop, rc;
    *out = NULL;
    if (!o->sink || (o->tls_listen && !o->authz))
        return COF_ERR(COF_BADINPUT, "syslog intake needs a sink and, for TLS, an authz");
    if (!o->tls_listen && !o->plain_listen)
        return COF_ERR(COF_BADINPUT, "syslog intake with no listener");
    cof_syslogd *d = calloc(1, sizeof *d);
    if (!d)
        return COF_ERR(COF_NOMEM, "syslog intake");
    d->o = *o;
    d->lfd[0] = d->lfd[1] = d->wake[0] = d->wake[1] = -1;
    pthread_mutex_init(&d->mu, NULL);
    if (!d->o.max_conns)
        d->o.max_conns = 256;
    if (!d->o.idle_seconds)
        d->o.idle_seconds = 300;
    if (!d->o.handshake_seconds)
        d->o.handshake_seconds = 10;
    d->plain_principal = strdup(o->plain_principal ? o->plain_principal : "local");
    if (!d->plain_principal || strlen(d->plain_principal) > 64) {
        st = COF_ERR(COF_BADINPUT, "syslog plain principal missing or longer than 64 bytes");
        goto fail;
    }
    /* the strings in opts are not kept: only their results */
    d->o.tls_listen = d->o.plain_listen = d->o.plain_principal = NULL;
    d->o.cert_pem = d->o.key_pem = d->o.client_ca_pem = NULL;
    if (o->plain_listen) {
        struct sockaddr_storage ss;
        unsigned sl;
        if ((st = cof_net_parse_hostport(o->plain_listen, &ss, &sl, &loop)))
            goto fail;
        if (!loop) {
            st = COF_ERR(COF_DENIED, "plain (unencrypted) syslog may only listen on a loopback "
                                     "address (127.0.0.0/8 or ::1); use the TLS listener for "
                                     "other senders");
            goto fail;
        }
        if ((st = listen_on(o->plain_listen, &d->lfd[0], &d->port[0], &loop)))
            goto fail;
    }
    if (o->tls_listen) {
        if ((st = cof_tls_global_init()))
            goto fail;
        if ((rc = gnutls_priority_init(&d->prio, COF_TLS_PRIORITIES, NULL)) < 0) {
            st = COF_ERR(COF_IO, "TLS priorities: %s", gnutls_strerror(rc));
            goto fail;
        }
        if ((st = creds_new(o->cert_pem, o->key_pem, o->client_ca_pem, &d->cr)))
            goto fail;
        if ((st = listen_on(o->tls_listen, &d->lfd[1], &d->port[1], &loop)))
            goto fail;
    }
    if (pipe2(d->wake, O_CLOEXEC) != 0) {
        st = COF_ERRNO("syslog wake pipe");
        goto fail;
    }
    for (int i = 0; i < 2; i++) {
        if (d->lfd[i] < 0)
            continue;
        void **arg = malloc(2 * sizeof *arg);
        if (!arg) {
            st = COF_ERR(COF_NOMEM, "syslog accept thread");
            goto fail_threads;
        }
        arg[0] = d;
        arg[1] = (void *)(intptr_t)i;
        if (pthread_create(&d->acc[i], NULL, accept_main, arg) != 0) {
            free(arg);
            st = COF_ERR(COF_IO, "syslog accept thread");
            goto fail_threads;
        }
        d->acc_started[i] = 1;
    }
    *out = d;
    return COF_OK;
fail_threads:
    cof_syslogd_stop(d);
    return st;
fail:
    destroy(d);
    return st;
}

uint16_t cof_syslogd_port(const cof_syslogd *d, int tls)
{
    return d->port[tls ? 1 : 0];
}

cof_status cof_syslogd_reload(cof_syslogd *d, const char *cert_pem, const char *key_pem,
                              const char *client_ca_pem)
{
    creds *cr, *old;
    if (d->lfd[1] < 0)
        return COF_ERR(COF_BADINPUT, "syslog intake has no TLS listener to reload");
    cof_status st = creds_new(cert_pem, key_pem, client_ca_pem, &cr);
    if (st)
        return st;
    pthread_mutex_lock(&d->mu);
    old = d->cr;
    d->cr = cr;
    pthread_mutex_unlock(&d->mu);
    creds_put(d, old);
    return COF_OK;
}

void cof_syslogd_stats_get(const cof_syslogd *d, cof_syslogd_stats *s)
{
    pthread_mutex_lock((pthread_mutex_t *)&d->mu);
    *s = d->st;
    pthread_mutex_unlock((pthread_mutex_t *)&d->mu);
}

void cof_syslogd_stop(cof_syslogd *d)
{
    if (!d)
        return;
    pthread_mutex_lock(&d->mu);
    __atomic_store_n(&d->stopping, 1, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&d->mu);
    if (d->wake[1] >= 0)
        (void)!write(d->wake[1], "x", 1);
    for (int i = 0; i < 2; i++)
        if (d->acc_started[i])
            pthread_join(d->acc[i], NULL);
    for (int i = 0; i < 2; i++) {
        if (d->lfd[i] >= 0)
            close(d->lfd[i]);
        d->lfd[i] = -1;
    }
    /* no accept thread left: the list only shrinks now. A read-side shutdown makes each
     * connection see end of stream, deliver what it has, and finish. */
    pthread_mutex_lock(&d->mu);
    for (conn *c = d->conns; c; c = c->next)
        (void)shutdown(c->fd, SHUT_RD);
    pthread_mutex_unlock(&d->mu);
    reap(d, 1);
    destroy(d);
}
