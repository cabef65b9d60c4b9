/* probe.c - targets, the allowed_networks check, the connect scan and the detector
 * thread pool of `coffer probe`.
 *
 * Invariants:
 *  1. Every address in a plan was checked against allowed_networks when it was added
 *     (cof_probe_plan_add); the scan and the detectors only ever use plan addresses,
 *     so nothing outside allowed_networks can receive a packet.
 *  2. At most o->concurrency connects are in flight; each host gets at most o->rate
 *     connects per second (scheduled by a per-host next-slot time); jobs are taken
 *     port-major so many hosts interleave instead of one host being hammered.
 *  3. A connect that completes to itself (loopback simultaneous open, when the kernel
 *     picks the scanned port as the source port) is not an open port. */
#include "probe.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "probe_int.h"
#include "progress.h"

/* Well-known ports of the services the detectors know (docs/PROBE.md). */
static const uint16_t default_ports[] = { 80,   443,  2379, 3306,  5432,  5601, 5984,
                                          6379, 6514, 8080, 8123,  8443,  8983, 9200,
                                          9300, 11211, 27017 };

void cof_probe_opts_default(cof_probe_opts *o)
{
    memset(o, 0, sizeof *o);
    o->connect_timeout_ms = 1000;
    o->read_timeout_ms = 2000;
    o->concurrency = 512;
    o->rate = 4000;
    o->workers = 16;
}

/* ---- targets ---- */

static int allowed(const cof_config *cfg, int fam, const uint8_t *a)
{
    for (uint32_t i = 0; i < cfg->nallowed; i++)
        if (cof_netmask_contains(&cfg->allowed[i], fam, a))
            return 1;
    return 0;
}

static cof_status push_host(cof_probe_plan *p, int fam, const uint8_t *a, uint16_t port,
                            const char *name)
{
    for (size_t i = 0; i < p->nhosts && p->nhosts < 4096; i++) /* dedup small plans */
        if (p->hosts[i].family == fam && p->hosts[i].port == port &&
            !memcmp(p->hosts[i].addr, a, fam == 4 ? 4 : 16))
            return COF_OK;
    if (p->nhosts >= COF_PROBE_MAX_HOSTS)
        return COF_ERR(COF_LIMIT, "more than %d target hosts", COF_PROBE_MAX_HOSTS);
    if ((p->nhosts & (p->nhosts - 1)) == 0 || p->nhosts == 0) {
        size_t cap = p->nhosts ? p->nhosts * 2 : 8;
        cof_probe_host *nh = realloc(p->hosts, cap * sizeof *nh);
        if (!nh)
            return COF_ERR(COF_NOMEM, "out of memory");
        p->hosts = nh;
    }
    cof_probe_host *h = &p->hosts[p->nhosts++];
    memset(h, 0, sizeof *h);
    h->family = fam;
    memcpy(h->addr, a, fam == 4 ? 4 : 16);
    h->port = port;
    snprintf(h->name, sizeof h->name, "%s", name);
    return COF_OK;
}

static cof_status refuse(const char *what)
{
    /* The target is the operator's own argument; echoing it back is not a personal
     * value of a mail client. */
    return COF_ERR(COF_DENIED,
                   "target %s is outside allowed_networks (config key allowed_networks; default "
                   "loopback only); refused before sending anything",
                   what);
}

static cof_status add_cidr(const cof_config *cfg, cof_probe_plan *p, const char *spec,
                           const char *slash)
{
    char addr[64];
    size_t al = (size_t)(slash - spec);
    if (al >= sizeof addr)
        return COF_ERR(COF_BADINPUT, "bad network in target");
    memcpy(addr, spec, al);
    addr[al] = 0;
    uint8_t a[16] = { 0 };
    int fam = inet_pton(AF_INET, addr, a) == 1 ? 4 : inet_pton(AF_INET6, addr, a) == 1 ? 6 : 0;
    uint64_t plen;
    if (!fam || !cof_str_to_u64(cof_str_c(slash + 1), fam == 4 ? 32 : 128, &plen))
        return COF_ERR(COF_BADINPUT, "target %s: not a CIDR network", spec);
    if ((fam == 4 && plen < COF_PROBE_MIN_PREFIX4) || (fam == 6 && plen < COF_PROBE_MIN_PREFIX6))
        return COF_ERR(COF_LIMIT, "target %s: network too big to scan (at most /%d for IPv4, "
                                  "/%d for IPv6)",
                       spec, COF_PROBE_MIN_PREFIX4, COF_PROBE_MIN_PREFIX6);
    int nbytes = fam == 4 ? 4 : 16, bits = fam == 4 ? 32 : 128;
    for (int i = 0; i < nbytes; i++) {
        int keep = (int)plen - i * 8;
        a[i] &= keep >= 8 ? 0xFF : keep <= 0 ? 0 : (uint8_t)(0xFF << (8 - keep));
    }
    /* The whole network must lie inside one allowed network. */
    int inside = 0;
    for (uint32_t i = 0; i < cfg->nallowed; i++)
        if (cfg->allowed[i].prefix_len <= plen && cof_netmask_contains(&cfg->allowed[i], fam, a))
            inside = 1;
    if (!inside)
        return refuse(spec);
    uint64_t count = 1ull << (bits - (int)plen);
    for (uint64_t k = 0; k < count; k++) {
        uint8_t x[16];
        memcpy(x, a, 16);
        uint64_t v = k;
        for (int i = nbytes - 1; i >= 0 && v; i--) {
            uint32_t s = (uint32_t)x[i] + (uint32_t)(v & 0xFF);
            x[i] = (uint8_t)s;
            v = (v >> 8) + (s >> 8);
        }
        /* Skip the network and broadcast addresses of IPv4 networks of 4+ addresses. */
        if (fam == 4 && count >= 4 && (k == 0 || k == count - 1))
            continue;
        char txt[64];
        inet_ntop(fam == 4 ? AF_INET : AF_INET6, x, txt, sizeof txt);
        cof_status st = push_host(p, fam, x, 0, txt);
        if (st)
            return st;
    }
    return COF_OK;
}

cof_status cof_probe_plan_add(const cof_config *cfg, cof_probe_plan *p, const char *spec)
{
    char host[256];
    uint16_t port = 0;
    size_t sl = strlen(spec);
    if (sl == 0 || sl >= sizeof host)
        return COF_ERR(COF_BADINPUT, "empty or over-long target");
    const char *slash = strchr(spec, '/');
    if (slash)
        return add_cidr(cfg, p, spec, slash);
    const char *colon = strrchr(spec, ':');
    if (spec[0] == '[') { /* [v6]:port or [v6] */
        const char *rb = strchr(spec, ']');
        if (!rb)
            return COF_ERR(COF_BADINPUT, "target %s: missing ']'", spec);
        memcpy(host, spec + 1, (size_t)(rb - spec - 1));
        host[rb - spec - 1] = 0;
        colon = rb[1] == ':' ? rb + 1 : NULL;
        if (rb[1] && !colon)
            return COF_ERR(COF_BADINPUT, "target %s: junk after ']'", spec);
    } else if (colon && strchr(spec, ':') == colon) { /* host:port (one colon) */
        memcpy(host, spec, (size_t)(colon - spec));
        host[colon - spec] = 0;
    } else { /* name, v4, or bare v6 */
        memcpy(host, spec, sl + 1);
        colon = NULL;
    }
    if (colon) {
        uint64_t v;
        if (!cof_str_to_u64(cof_str_c(colon + 1), 65535, &v) || v == 0)
            return COF_ERR(COF_BADINPUT, "target %s: bad port", spec);
        port = (uint16_t)v;
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICHOST;
    int numeric = getaddrinfo(host, NULL, &hints, &res) == 0;
    if (!numeric) {
        hints.ai_flags = 0;
        int e = getaddrinfo(host, NULL, &hints, &res);
        if (e != 0)
            return COF_ERR(COF_NOTFOUND, "target %s: cannot resolve (%s)", host, gai_strerror(e));
    }
    cof_status st = COF_OK;
    /* Every address must be allowed: a name that resolves anywhere else is refused
     * as a whole (DNS could otherwise steer the probe at someone else). */
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        const uint8_t *a = ai->ai_family == AF_INET
                               ? (const uint8_t *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                           : ai->ai_family == AF_INET6
                               ? (const uint8_t *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
                               : NULL;
        if (!a || !allowed(cfg, ai->ai_family == AF_INET ? 4 : 6, a)) {
            st = refuse(host);
            goto out;
        }
    }
    for (struct addrinfo *ai = res; ai && !st; ai = ai->ai_next) {
        int fam = ai->ai_family == AF_INET ? 4 : 6;
        const uint8_t *a = fam == 4 ? (const uint8_t *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                                    : (const uint8_t *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
        st = push_host(p, fam, a, port, host);
    }
out:
    freeaddrinfo(res);
    return st;
}

cof_status cof_probe_plan_add_file(const cof_config *cfg, cof_probe_plan *p, const char *path)
{
    uint8_t *buf = NULL;
    size_t n = 0;
    cof_status st = cof_fs_read_file(path, 1u << 20, &buf, &n);
    if (st)
        return st;
    cof_str all = cof_str_make((const char *)buf, n);
    while (all.n && !st) {
        const char *nl = memchr(all.p, '\n', all.n);
        cof_str line = cof_str_make(all.p, nl ? (size_t)(nl - all.p) : all.n);
        all = nl ? cof_str_make(nl + 1, all.n - line.n - 1) : COF_STR_NULL;
        line = cof_str_trim(line);
        if (!line.n || line.p[0] == '#')
            continue;
        char t[256];
        if (line.n >= sizeof t) {
            st = COF_ERR(COF_BADINPUT, "%s: over-long target line", path);
            break;
        }
        memcpy(t, line.p, line.n);
        t[line.n] = 0;
        st = cof_probe_plan_add(cfg, p, t);
    }
    free(buf);
    return st;
}

cof_status cof_probe_plan_ports(cof_probe_plan *p, const char *spec)
{
    uint8_t *mark = calloc(65536, 1);
    if (!mark)
        return COF_ERR(COF_NOMEM, "out of memory");
    cof_status st = COF_OK;
    if (!spec) {
        for (size_t i = 0; i < sizeof default_ports / sizeof default_ports[0]; i++)
            mark[default_ports[i]] = 1;
    } else if (!strcmp(spec, "all")) {
        memset(mark + 1, 1, 65535);
    } else {
        cof_str v = cof_str_c(spec);
        while (v.n) {
            const char *comma = memchr(v.p, ',', v.n);
            cof_str w = cof_str_trim(cof_str_make(v.p, comma ? (size_t)(comma - v.p) : v.n));
            v = comma ? cof_str_make(comma + 1, v.n - (size_t)(comma - v.p) - 1) : COF_STR_NULL;
            const char *dash = memchr(w.p, '-', w.n);
            uint64_t lo, hi;
            if (!cof_str_to_u64(cof_str_make(w.p, dash ? (size_t)(dash - w.p) : w.n), 65535, &lo) ||
                (dash && !cof_str_to_u64(cof_str_make(dash + 1, w.n - (size_t)(dash - w.p) - 1),
                                         65535, &hi))) {
                st = COF_ERR(COF_BADINPUT, "--ports: expected all, PORT, LOW-HIGH or a comma list");
                goto out;
            }
            if (!dash)
                hi = lo;
            if (lo == 0 || hi < lo) {
                st = COF_ERR(COF_BADINPUT, "--ports: ports run from 1 to 65535, LOW <= HIGH");
                goto out;
            }
            memset(mark + lo, 1, (size_t)(hi - lo + 1));
        }
    }
    size_t cnt = 0;
    for (size_t i = 1; i < 65536; i++)
        cnt += mark[i];
    uint16_t *ports = malloc((cnt ? cnt : 1) * sizeof *ports);
    if (!ports) {
        st = COF_ERR(COF_NOMEM, "out of memory");
        goto out;
    }
    cnt = 0;
    for (size_t i = 1; i < 65536; i++)
        if (mark[i])
            ports[cnt++] = (uint16_t)i;
    free(p->ports);
    p->ports = ports;
    p->nports = cnt;
out:
    free(mark);
    return st;
}

void cof_probe_plan_free(cof_probe_plan *p)
{
    free(p->hosts);
    free(p->ports);
    memset(p, 0, sizeof *p);
}

/* ---- findings ---- */

void cof_probe_add(cof_findings *f, const cof_probe_ep *ep, const char *service, const char *check,
                   cof_severity sev, const char *fix, const char *fmt, ...)
{
    cof_finding x;
    memset(&x, 0, sizeof x);
    snprintf(x.target, sizeof x.target, "%s", ep->addr_text);
    x.port = ep->port;
    snprintf(x.service, sizeof x.service, "%s", service);
    snprintf(x.check, sizeof x.check, "%s", check);
    x.sev = sev;
    snprintf(x.fix, sizeof x.fix, "%s", fix);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x.evidence, sizeof x.evidence, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&f->mu);
    if (f->n < COF_PROBE_MAX_FINDINGS) {
        if (f->n == f->cap) {
            size_t cap = f->cap ? f->cap * 2 : 16;
            cof_finding *nv = realloc(f->v, cap * sizeof *nv);
            if (nv) {
                f->v = nv;
                f->cap = cap;
            }
        }
        if (f->n < f->cap)
            f->v[f->n++] = x;
    }
    pthread_mutex_unlock(&f->mu);
}

/* ---- connections ---- */

static socklen_t ep_sockaddr(const cof_probe_ep *ep, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (ep->family == 4) {
        struct sockaddr_in *s = (struct sockaddr_in *)ss;
        s->sin_family = AF_INET;
        s->sin_port = htons(ep->port);
        memcpy(&s->sin_addr, ep->addr, 4);
        return sizeof *s;
    }
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;
    s->sin6_family = AF_INET6;
    s->sin6_port = htons(ep->port);
    memcpy(&s->sin6_addr, ep->addr, 16);
    return sizeof *s;
}

static int self_connected(int fd)
{
    struct sockaddr_storage a, b;
    socklen_t la = sizeof a, lb = sizeof b;
    if (getsockname(fd, (struct sockaddr *)&a, &la) || getpeername(fd, (struct sockaddr *)&b, &lb))
        return 0;
    return la == lb && !memcmp(&a, &b, la);
}

int cof_probe_connect(const cof_probe_ep *ep, cof_probe_conn *c)
{
    memset(c, 0, sizeof *c);
    c->fd = -1;
    c->o = ep->o;
    struct sockaddr_storage ss;
    socklen_t sl = ep_sockaddr(ep, &ss);
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&ss, sl) != 0) {
        if (errno != EINPROGRESS) {
            close(fd);
            return -1;
        }
        struct pollfd pf = { .fd = fd, .events = POLLOUT };
        int err = 0;
        socklen_t el = sizeof err;
        if (poll(&pf, 1, ep->o->connect_timeout_ms) != 1 ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err != 0) {
            close(fd);
            return -1;
        }
    }
    if (self_connected(fd)) {
        close(fd);
        return -1;
    }
    c->fd = fd;
    return 0;
}

int cof_probe_send(cof_probe_conn *c, const void *b, size_t n)
{
    if (c->tls) {
        size_t off = 0;
        while (off < n) {
            ssize_t w = gnutls_record_send(c->tls, (const uint8_t *)b + off, n - off);
            if (w == GNUTLS_E_AGAIN || w == GNUTLS_E_INTERRUPTED) {
                struct pollfd pf = { .fd = c->fd, .events = POLLOUT };
                if (poll(&pf, 1, c->o->read_timeout_ms) != 1)
                    return -1;
                continue;
            }
            if (w <= 0)
                return -1;
            off += (size_t)w;
        }
        return 0;
    }
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(c->fd, (const uint8_t *)b + off, n - off, MSG_NOSIGNAL);
        if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            struct pollfd pf = { .fd = c->fd, .events = POLLOUT };
            if (poll(&pf, 1, c->o->read_timeout_ms) != 1)
                return -1;
            continue;
        }
        if (w <= 0)
            return -1;
        off += (size_t)w;
    }
    return 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

long cof_probe_recv(cof_probe_conn *c, uint8_t *buf, size_t cap, int wait_ms,
                    int (*until)(const uint8_t *b, size_t n))
{
    size_t got = 0;
    uint64_t deadline = now_ms() + (uint64_t)(wait_ms < 0 ? c->o->read_timeout_ms : wait_ms);
    while (got < cap) {
        ssize_t r;
        if (c->tls && gnutls_record_check_pending(c->tls) > 0) {
            r = gnutls_record_recv(c->tls, buf + got, cap - got);
        } else {
            uint64_t now = now_ms();
            if (now >= deadline)
                break;
            struct pollfd pf = { .fd = c->fd, .events = POLLIN };
            int pr = poll(&pf, 1, (int)(deadline - now));
            if (pr < 0 && errno == EINTR)
                continue;
            if (pr <= 0)
                break;
            r = c->tls ? gnutls_record_recv(c->tls, buf + got, cap - got)
                       : recv(c->fd, buf + got, cap - got, 0);
        }
        if (c->tls && (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED))
            continue;
        if (!c->tls && r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r <= 0)
            break; /* EOF, reset or TLS error: keep what arrived */
        got += (size_t)r;
        if (until && until(buf, got))
            break;
    }
    return (long)got;
}

void cof_probe_close(cof_probe_conn *c)
{
    if (c->tls) {
        gnutls_deinit(c->tls);
        c->tls = NULL;
    }
    if (c->cred) {
        gnutls_certificate_free_credentials(c->cred);
        c->cred = NULL;
    }
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
}

/* ---- the scan ---- */

typedef struct {
    int fd;
    size_t host;
    uint16_t port;
    uint64_t deadline;
} slot;

typedef struct {
    size_t host;
    uint16_t port;
} open_ep;

typedef struct {
    const cof_probe_plan *p;
    const cof_probe_opts *o;
    open_ep *eps;
    size_t neps, next;
    pthread_mutex_t mu;
    cof_findings *f;
} pool;

static void ep_from(const cof_probe_plan *p, const cof_probe_opts *o, size_t h, uint16_t port,
                    cof_probe_ep *ep)
{
    memset(ep, 0, sizeof *ep);
    ep->family = p->hosts[h].family;
    memcpy(ep->addr, p->hosts[h].addr, 16);
    ep->port = port;
    inet_ntop(ep->family == 4 ? AF_INET : AF_INET6, ep->addr, ep->addr_text, sizeof ep->addr_text);
    ep->name = p->hosts[h].name;
    ep->o = o;
}

static void *detect_worker(void *arg)
{
    pool *pl = arg;
    for (;;) {
        pthread_mutex_lock(&pl->mu);
        size_t i = pl->next < pl->neps ? pl->next++ : SIZE_MAX;
        pthread_mutex_unlock(&pl->mu);
        if (i == SIZE_MAX)
            return NULL;
        cof_probe_ep ep;
        ep_from(pl->p, pl->o, pl->eps[i].host, pl->eps[i].port, &ep);
        cof_probe_detect(&ep, pl->f);
    }
}

static int cmp_finding(const void *a, const void *b)
{
    const cof_finding *x = a, *y = b;
    if (x->sev != y->sev)
        return x->sev > y->sev ? -1 : 1;
    int c = strcmp(x->target, y->target);
    if (c)
        return c;
    if (x->port != y->port)
        return x->port < y->port ? -1 : 1;
    return strcmp(x->check, y->check);
}

/* Endpoint k of the plan, port-major (invariant 2). Hosts with their own port get
 * exactly that port. */
static int job_at(const cof_probe_plan *p, uint64_t k, size_t *h, uint16_t *port)
{
    *h = (size_t)(k % p->nhosts);
    uint64_t pi = k / p->nhosts;
    if (p->hosts[*h].port) {
        if (pi != 0)
            return 0;
        *port = p->hosts[*h].port;
        return 1;
    }
    *port = p->ports[pi];
    return 1;
}

cof_status cof_probe_run(const cof_probe_plan *p, const cof_probe_opts *o, cof_finding **out,
                         size_t *n, size_t *nopen)
{
    cof_status st = COF_OK;
    *out = NULL;
    *n = 0;
    *nopen = 0;
    if (!p->nhosts || !p->nports)
        return COF_ERR(COF_BADINPUT, "nothing to probe");
    unsigned conc = o->concurrency ? o->concurrency : 1;
    uint64_t total = (uint64_t)p->nhosts * p->nports;
    slot *slots = calloc(conc, sizeof *slots);
    struct pollfd *pfd = calloc(conc, sizeof *pfd);
    uint64_t *host_next = calloc(p->nhosts, sizeof *host_next);
    open_ep *eps = NULL;
    size_t neps = 0, epcap = 0;
    cof_findings f = { 0 };
    pthread_mutex_init(&f.mu, NULL);
    if (!slots || !pfd || !host_next) {
        st = COF_ERR(COF_NOMEM, "out of memory");
        goto out;
    }
    for (unsigned i = 0; i < conc; i++)
        slots[i].fd = -1;
    cof_progress prog;
    cof_progress_start(&prog, "probe", 0);
    if (!o->progress || total < 2048)
        prog.enabled = 0;
    uint64_t next = 0, done = 0;
    uint64_t gap_us = o->rate ? 1000000u / o->rate : 0;
    unsigned inflight = 0;
    while (next < total || inflight) {
        uint64_t now = cof_now_ns() / 1000;
        /* Fill free slots (rate-limited per host). */
        for (unsigned i = 0; i < conc && next < total; i++) {
            if (slots[i].fd >= 0)
                continue;
            size_t h;
            uint16_t port;
            if (!job_at(p, next, &h, &port)) {
                next++;
                done++;
                i--; /* reuse this slot */
                continue;
            }
            if (host_next[h] > now)
                break;
            host_next[h] = (host_next[h] > now - gap_us ? host_next[h] : now) + gap_us;
            next++;
            cof_probe_ep ep;
            ep_from(p, o, h, port, &ep);
            struct sockaddr_storage ss;
            socklen_t sl = ep_sockaddr(&ep, &ss);
            int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0) {
                if (errno == EMFILE || errno == ENFILE) { /* retry later */
                    next--;
                    break;
                }
                done++;
                continue;
            }
            int cr = connect(fd, (struct sockaddr *)&ss, sl);
            if (cr != 0 && errno != EINPROGRESS) {
                close(fd);
                done++;
                continue;
            }
            slots[i] = (slot){ fd, h, port, now / 1000 + (uint64_t)o->connect_timeout_ms };
            inflight++;
        }
        unsigned np = 0;
        for (unsigned i = 0; i < conc; i++)
            if (slots[i].fd >= 0)
                pfd[np++] = (struct pollfd){ .fd = slots[i].fd, .events = POLLOUT };
        int wait = next < total ? 1 : 50;
        if (np && poll(pfd, np, wait) < 0 && errno != EINTR) {
            st = COF_ERRNO("poll");
            goto out;
        }
        if (!np && next < total) {
            struct timespec ts = { 0, 200000 };
            nanosleep(&ts, NULL);
        }
        uint64_t nowms = cof_now_ns() / 1000000;
        unsigned k = 0;
        for (unsigned i = 0; i < conc; i++) {
            if (slots[i].fd < 0)
                continue;
            struct pollfd *q = &pfd[k++];
            int finished = 0, open = 0;
            if (q->revents) {
                int err = 0;
                socklen_t el = sizeof err;
                finished = 1;
                open = getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &err, &el) == 0 && err == 0 &&
                       !self_connected(q->fd);
            } else if (nowms >= slots[i].deadline) {
                finished = 1;
            }
            if (!finished)
                continue;
            close(slots[i].fd);
            slots[i].fd = -1;
            inflight--;
            done++;
            if (open) {
                if (neps == epcap) {
                    size_t cap = epcap ? epcap * 2 : 64;
                    open_ep *ne = realloc(eps, cap * sizeof *ne);
                    if (!ne) {
                        st = COF_ERR(COF_NOMEM, "out of memory");
                        goto out;
                    }
                    eps = ne;
                    epcap = cap;
                }
                eps[neps++] = (open_ep){ slots[i].host, slots[i].port };
            }
        }
        cof_progress_update(&prog, done, total, neps, "open");
    }
    cof_progress_end(&prog);
    *nopen = neps;
    /* Detection: a small thread pool over the open endpoints. */
    pool pl = { p, o, eps, neps, 0, PTHREAD_MUTEX_INITIALIZER, &f };
    unsigned nw = o->workers ? o->workers : 1;
    if (nw > neps)
        nw = (unsigned)neps;
    pthread_t th[64];
    if (nw > 64)
        nw = 64;
    unsigned started = 0;
    for (unsigned i = 0; i < nw; i++)
        if (pthread_create(&th[i], NULL, detect_worker, &pl) == 0)
            started++;
        else
            break;
    if (!started && neps)
        detect_worker(&pl);
    for (unsigned i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&pl.mu);
    if (f.n)
        qsort(f.v, f.n, sizeof *f.v, cmp_finding);
    *out = f.v;
    *n = f.n;
    f.v = NULL;
out:
    for (unsigned i = 0; slots && i < conc; i++)
        if (slots[i].fd >= 0)
            close(slots[i].fd);
    free(slots);
    free(pfd);
    free(host_next);
    free(eps);
    free(f.v);
    pthread_mutex_destroy(&f.mu);
    return st;
}
