/* server.c - `coffer serve`: lifecycle, listeners, TLS identity, signals (server.h).
 *
 * Threads: MHD's pool (cfg threads) runs api.c; the syslog intake has a thread per
 * connection; the intake thread correlates into the store; a sweeper enforces the
 * request-head deadline; the main thread waits for signals (blocked everywhere else).
 *
 * Shutdown order (SIGTERM), so that nothing acknowledged is lost:
 *   1. stop accepting (MHD quiesce, syslog listeners closed);
 *   2. MHD stop: in-flight requests finish (a 202 is only sent after the spool fsync);
 *   3. syslog connections deliver what they have read into the spool;
 *   4. intake drains the spool queue into the store and commits;
 *   5. audit trail gets its closing checkpoint; the store closes. */
#include "server.h"

#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sodium.h>

#include "fsutil.h"
#include "keyring.h"
#include "poison.h"
#include "retention.h"
#include "server_int.h"
#include "timefmt.h"
#include "tlsconf.h"

typedef struct {
    gnutls_pcert_st pcert[8];
    unsigned npcert;
    gnutls_privkey_t key;
} tls_ident;

void cof_server_default_tls(const cof_config *cfg, char *cert, size_t ccap, char *key, size_t kcap)
{
    char dir[4096];
    if (cof_fs_dir_of(cfg->key_file, dir, sizeof dir) != COF_OK)
        snprintf(dir, sizeof dir, ".");
    snprintf(cert, ccap, "%s/tls/server.crt", dir);
    snprintf(key, kcap, "%s/tls/server.key", dir);
}

/* ------------------------------------------------------------ TLS identity */

static void ident_free(tls_ident *id)
{
    if (!id)
        return;
    for (unsigned i = 0; i < id->npcert; i++)
        gnutls_pcert_deinit(&id->pcert[i]);
    if (id->key)
        gnutls_privkey_deinit(id->key);
    free(id);
}

static cof_status ident_load(const char *cert_path, const char *key_path, tls_ident **out)
{
    char *cp = NULL, *kp = NULL;
    size_t cn = 0, kn = 0;
    cof_status st = cof_tls_read_pem(cert_path, 0, &cp, &cn);
    if (!st)
        st = cof_tls_read_pem(key_path, 1, &kp, &kn);
    tls_ident *id = calloc(1, sizeof *id);
    if (!st && !id)
        st = COF_ERR(COF_NOMEM, "out of memory");
    if (!st) {
        gnutls_datum_t cd = { (unsigned char *)cp, (unsigned)cn };
        gnutls_datum_t kd = { (unsigned char *)kp, (unsigned)kn };
        id->npcert = 8;
        int r = gnutls_pcert_list_import_x509_raw(id->pcert, &id->npcert, &cd, GNUTLS_X509_FMT_PEM, 0);
        if (r < 0) {
            id->npcert = 0;
            st = COF_ERR(COF_BADINPUT, "%s: not a usable PEM certificate (%s)", cert_path,
                         gnutls_strerror(r));
        } else if ((r = gnutls_privkey_init(&id->key)) < 0 ||
                   (r = gnutls_privkey_import_x509_raw(id->key, &kd, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0) {
            st = COF_ERR(COF_BADINPUT, "%s: not a usable PEM private key", key_path);
        }
    }
    if (kp) {
        sodium_memzero(kp, kn);
        free(kp);
    }
    free(cp);
    if (st) {
        ident_free(id);
        return st;
    }
    *out = id;
    return COF_OK;
}

static cof_server *g_srv; /* for the GnuTLS retrieve callback, which has no context */

/* libmicrohttpd's own messages may quote a request URI, and a URI may carry a personal
 * value: only the message's fixed text is logged, never its arguments. */
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls, (void)ap;
    char line[256];
    size_t n = 0;
    for (const char *p = fmt; *p && n + 2 < sizeof line; p++) {
        if (*p == '%') { /* skip the conversion: flags, width, length, specifier */
            p++;
            while (*p && strchr("-+ #0123456789.*lhzjtL", *p))
                p++;
            if (!*p)
                break;
            line[n++] = '_';
            continue;
        }
        if (*p != '\n')
            line[n++] = *p;
    }
    line[n] = 0;
    fprintf(stderr, "coffer serve: http: %s\n", line);
}

static int cert_cb(gnutls_session_t sess, const gnutls_datum_t *req_ca, int nreqs,
                   const gnutls_pk_algorithm_t *algos, int nalgos, gnutls_pcert_st **pcert,
                   unsigned int *npcert, gnutls_privkey_t *key)
{
    (void)sess, (void)req_ca, (void)nreqs, (void)algos, (void)nalgos;
    cof_server *s = g_srv;
    pthread_mutex_lock(&s->tls_mu);
    tls_ident *id = s->creds;
    *pcert = id->pcert;
    *npcert = id->npcert;
    *key = id->key;
    pthread_mutex_unlock(&s->tls_mu);
    return 0;
}

/* ------------------------------------------------------------ access document */

static cof_status access_reload(cof_server *s, int force)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/access.json", s->cfg->data_dir);
    struct stat sb;
    if (stat(path, &sb) != 0)
        return COF_ERRNO("%s", path);
    if (!force && sb.st_mtim.tv_sec == s->access_st.st_mtim.tv_sec &&
        sb.st_mtim.tv_nsec == s->access_st.st_mtim.tv_nsec && sb.st_size == s->access_st.st_size &&
        sb.st_ino == s->access_st.st_ino)
        return COF_OK;
    cof_access *a;
    cof_status st = cof_access_load(s->cfg->data_dir, &a);
    if (st)
        return st;
    access_ref *r = malloc(sizeof *r);
    if (!r) {
        cof_access_free(a);
        return COF_ERR(COF_NOMEM, "out of memory");
    }
    r->a = a;
    r->refs = 1;
    access_ref *old = s->access;
    s->access = r;
    s->access_st = sb;
    if (old && --old->refs == 0) {
        cof_access_free(old->a);
        free(old);
    }
    return COF_OK;
}

access_ref *cof_server_access_get(cof_server *s, int fresh)
{
    pthread_mutex_lock(&s->access_mu);
    int64_t now = cof_time_now_us();
    if (fresh)
        s->access_checked_us = 0;
    /* One stat per 100 ms at most: `coffer token create` reaches the server at once
     * for practical purposes, and a request storm does not become a stat storm. */
    if (now - s->access_checked_us > 100000) {
        s->access_checked_us = now;
        if (access_reload(s, 0) != COF_OK)
            fprintf(stderr, "coffer serve: access document not reloaded: %s\n", cof_err_msg());
    }
    access_ref *r = s->access;
    r->refs++;
    pthread_mutex_unlock(&s->access_mu);
    return r;
}

void cof_server_access_put(cof_server *s, access_ref *r)
{
    pthread_mutex_lock(&s->access_mu);
    if (--r->refs == 0) {
        cof_access_free(r->a);
        free(r);
    }
    pthread_mutex_unlock(&s->access_mu);
}

void cof_server_alert(cof_server *s, const char *kind, cof_severity sev, const char *summary,
                      const char *details_json)
{
    atomic_fetch_add(&s->alerts_raised, 1);
    if (s->alerts && cof_alert_raise(s->alerts, kind, sev, summary, details_json) != COF_OK)
        fprintf(stderr, "coffer serve: alert not queued: %s\n", cof_err_msg());
}

/* ------------------------------------------------------------ connections */

static void notify_conn(void *cls, struct MHD_Connection *c, void **socket_ctx,
                        enum MHD_ConnectionNotificationCode code)
{
    cof_server *s = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_info *ci = calloc(1, sizeof *ci);
        if (!ci)
            return;
        const union MHD_ConnectionInfo *inf = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        ci->fd = inf ? inf->connect_fd : -1;
        ci->head_start = cof_time_now_us();
        pthread_mutex_lock(&s->conn_mu);
        ci->next = s->conns;
        if (s->conns)
            s->conns->prev = ci;
        s->conns = ci;
        pthread_mutex_unlock(&s->conn_mu);
        atomic_fetch_add(&s->conns_open, 1);
        *socket_ctx = ci;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        conn_info *ci = *socket_ctx;
        if (!ci)
            return;
        /* Unlinked before MHD closes the descriptor: the sweeper never touches a
         * descriptor number that may already belong to someone else. */
        pthread_mutex_lock(&s->conn_mu);
        if (ci->prev)
            ci->prev->next = ci->next;
        else
            s->conns = ci->next;
        if (ci->next)
            ci->next->prev = ci->prev;
        pthread_mutex_unlock(&s->conn_mu);
        atomic_fetch_sub(&s->conns_open, 1);
        free(ci);
        *socket_ctx = NULL;
    }
}

/* Slowloris defence: a request head must arrive within header_timeout of the
 * connection (or of the previous response); MHD's own timeout only sees silence. */
/* Retention (retention.h): shred due tenant-days and rotate the master key. Runs in
 * the sweeper thread under the store mutex, since it closes cached segment handles. */
static void run_retention(cof_server *s, int64_t now)
{
    access_ref *r = cof_server_access_get(s, 1);
    cof_retention_report rep;
    memset(&rep, 0, sizeof rep);
    pthread_mutex_lock(&s->store_mu);
    cof_status st = cof_retention_run(s->store, r->a, now, &rep);
    pthread_mutex_unlock(&s->store_mu);
    cof_server_access_put(s, r);
    if (st)
        fprintf(stderr, "coffer serve: retention: %s\n", cof_err_msg());
    if (st || rep.days_shredded || rep.rotation_resumed) {
        char params[200];
        snprintf(params, sizeof params, "{\"days_shredded\":%u,\"events_shredded\":%llu,"
                 "\"segments_removed\":%u,\"rotated\":%s}", rep.days_shredded,
                 (unsigned long long)rep.events_shredded, rep.segments_removed,
                 rep.rotated ? "true" : "false");
        cof_audit_rec ar = { .principal = "coffer", .source = "local", .action = "retention.run",
                             .params_json = params, .outcome = st ? "error" : "ok" };
        if (cof_audit_append(s->audit, &ar, NULL) != COF_OK)
            fprintf(stderr, "coffer serve: audit record not written: %s\n", cof_err_msg());
        char sum[200];
        snprintf(sum, sizeof sum, st ? "retention run failed" : "retention shredded %u tenant-days",
                 rep.days_shredded);
        cof_server_alert(s, st ? "retention.failed" : "retention.shredded",
                         st ? COF_SEV_HIGH : COF_SEV_INFO, sum, params);
    }
    cof_retention_report_free(&rep);
}

static void *sweeper(void *arg)
{
    cof_server *s = arg;
    /* First retention run a minute after start (sooner if the interval is shorter),
     * then every retention_seconds. */
    int64_t every = (int64_t)s->cfg->srv.retention_seconds * 1000000;
    int64_t next_retention = cof_time_now_us() + (every < 60LL * 1000000 ? every : 60LL * 1000000);
    while (!atomic_load(&s->stopping)) {
        usleep(250000);
        int64_t now = cof_time_now_us(), lim = (int64_t)s->cfg->srv.header_timeout * 1000000;
        if (now >= next_retention) {
            run_retention(s, now);
            next_retention = now + every;
        }
        pthread_mutex_lock(&s->conn_mu);
        for (conn_info *ci = s->conns; ci; ci = ci->next)
            if (!ci->killed && ci->head_start && now - ci->head_start > lim && ci->fd >= 0) {
                shutdown(ci->fd, SHUT_RDWR);
                ci->killed = 1;
                atomic_fetch_add(&s->conns_killed, 1);
            }
        pthread_mutex_unlock(&s->conn_mu);
    }
    return NULL;
}

/* ------------------------------------------------------------ syslog intake glue */

static cof_status syslog_authz(void *ctx, const char fp[65], const char *peer, char principal[65])
{
    cof_server *s = ctx;
    access_ref *r = cof_server_access_get(s, 0);
    const cof_principal *p = cof_access_by_cert(r->a, fp);
    cof_status st = COF_DENIED;
    if (p && (cof_access_any_perms(r->a, p, cof_time_now_us()) & COF_PERM_INGEST)) {
        snprintf(principal, 65, "%s", p->name);
        st = COF_OK;
    }
    cof_server_access_put(s, r);
    cof_audit_rec ar = { .principal = st ? "-" : principal, .source = peer, .action = "syslog.connect",
                         .outcome = st ? "denied" : "ok" };
    if (cof_audit_append(s->audit, &ar, NULL) != COF_OK)
        st = COF_DENIED; /* never accept what cannot be recorded */
    if (st) {
        atomic_fetch_add(&s->auth_failures, 1);
        if (cof_guard_fail(s->guard, COF_GUARD_SOURCE, peer, cof_time_now_us())) {
            atomic_fetch_add(&s->lockouts, 1);
            cof_server_alert(s, "auth.lockout", COF_SEV_HIGH, "syslog client locked out", NULL);
        }
    }
    return st;
}

static cof_status syslog_sink(void *ctx, const char *principal, const char *peer,
                              const cof_str *lines, size_t n)
{
    cof_server *s = ctx;
    (void)peer;
    const char *forced = NULL;
    char tbuf[COF_MAX_TENANT_NAME + 1] = "";
    if (strcmp(principal, "local") != 0) {
        access_ref *r = cof_server_access_get(s, 0);
        const cof_principal *p = cof_access_find(r->a, principal);
        int all = 0;
        const char *names[2];
        uint32_t nn = 0;
        cof_status st = COF_OK;
        if (!p) {
            st = COF_ERR(COF_DENIED, "principal removed");
        } else {
            cof_access_scope(r->a, p, COF_PERM_INGEST, cof_time_now_us(), &all, names, 2, &nn);
            if (!all && nn == 0)
                st = COF_ERR(COF_DENIED, "ingest permission withdrawn");
            else if (!all) {
                snprintf(tbuf, sizeof tbuf, "%s", names[0]);
                forced = tbuf;
            }
        }
        cof_server_access_put(s, r);
        if (st)
            return st;
    }
    cof_intake_ack ack;
    cof_status st = cof_intake_submit(s->intake, COF_FMT_POSTFIX, principal, forced, COF_STR_NULL,
                                      lines, n, &ack);
    if (!st)
        atomic_fetch_add(&s->ingest_lines, ack.lines);
    return st;
}

static void syslog_note(void *ctx, const char *what, const char *peer, const char *detail)
{
    cof_server *s = ctx;
    char params[256];
    snprintf(params, sizeof params, "{\"detail\":\"%s\"}", detail && !strpbrk(detail, "\"\\") ? detail : "-");
    cof_audit_rec ar = { .principal = "-", .source = peer, .action = what, .params_json = params,
                         .outcome = "denied" };
    if (cof_audit_append(s->audit, &ar, NULL) != COF_OK)
        fprintf(stderr, "coffer serve: audit record not written: %s\n", cof_err_msg());
}

/* ------------------------------------------------------------ run */

static cof_status check_listener(const char *what, const char *addr, int have_real_cert, int *loop)
{
    struct sockaddr_storage ss;
    unsigned sl;
    cof_status st = cof_net_parse_hostport(addr, &ss, &sl, loop);
    if (st)
        return COF_ERR(st, "%s address '%s': %s", what, addr, cof_err_msg());
    if (!*loop && !have_real_cert)
        return COF_ERR(COF_DENIED,
                       "refusing to listen on %s (%s) without a real TLS certificate: set tls_cert "
                       "and tls_key in the config to your certificate and key (the self-signed "
                       "loopback certificate from coffer init only serves 127.0.0.1/::1)",
                       addr, what);
    return COF_OK;
}

static void raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Mail reached a poison address: the data it came from has left (poison.h). */
static void on_poison_left(void *ctx, const cof_poison_hit *hit)
{
    cof_server *s = ctx;
    char d[400];
    snprintf(d, sizeof d, "{\"set\":\"%s\",\"kind\":\"%s\",\"owner\":\"%s\",\"tenant\":\"%s\"}",
             hit->set_id, cof_poison_kind_name(hit->kind), hit->owner, hit->tenant);
    char sum[300];
    snprintf(sum, sizeof sum, "data has left: mail reached poison set %s%s%s", hit->set_id,
             hit->owner[0] ? " handed to " : "", hit->owner);
    cof_server_alert(s, "poison.left", COF_SEV_CRITICAL, sum, d);
}

static void audit_admin(cof_server *s, const char *action, const char *outcome)
{
    cof_audit_rec ar = { .principal = "coffer", .source = "local", .action = action, .outcome = outcome };
    if (cof_audit_append(s->audit, &ar, NULL) != COF_OK)
        fprintf(stderr, "coffer serve: audit trail unavailable: %s\n", cof_err_msg());
}

cof_status cof_server_run(const cof_config *cfg, const cof_serve_opts *o)
{
    cof_server *s = calloc(1, sizeof *s);
    if (!s)
        return COF_ERR(COF_NOMEM, "out of memory");
    g_srv = s;
    s->cfg = cfg;
    s->started_us = cof_time_now_us();
    pthread_mutex_init(&s->store_mu, NULL);
    pthread_mutex_init(&s->access_mu, NULL);
    pthread_mutex_init(&s->tls_mu, NULL);
    pthread_mutex_init(&s->conn_mu, NULL);
    cof_keyring *kr = NULL;
    uint8_t *k32 = sodium_malloc(32);
    cof_status st = k32 ? COF_OK : COF_ERR(COF_NOMEM, "out of memory");
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    /* Block before any thread starts, so only sigwait below sees these. */
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN);
    raise_nofile();

    /* Listeners and certificate: refuse insecure exposure before touching anything. */
    char cert[4200], key[4200];
    cof_server_default_tls(cfg, cert, sizeof cert, key, sizeof key);
    int configured_cert = cfg->srv.tls_cert[0] != 0;
    if (configured_cert) {
        snprintf(cert, sizeof cert, "%s", cfg->srv.tls_cert);
        snprintf(key, sizeof key, "%s", cfg->srv.tls_key[0] ? cfg->srv.tls_key : "");
        if (!cfg->srv.tls_key[0] && !st)
            st = COF_ERR(COF_BADINPUT, "tls_cert is set but tls_key is not");
    }
    int selfsigned = 1;
    if (!st)
        st = cof_tls_global_init();
    if (!st && (st = cof_tls_is_selfsigned(cert, &selfsigned)) == COF_NOTFOUND)
        st = COF_ERR(COF_NOTFOUND, "no TLS certificate at %s: run coffer init (loopback) or set "
                                   "tls_cert and tls_key", cert);
    int real_cert = configured_cert && !selfsigned;
    /* access document: create the default one if the store predates it */
    if (!st) {
        cof_access *a = NULL;
        st = cof_access_load(cfg->data_dir, &a);
        if (st == COF_NOTFOUND) {
            if (!(st = cof_access_new(&a)))
                st = cof_access_save(a, cfg->data_dir);
        }
        cof_access_free(a);
        if (!st)
            st = access_reload(s, 1);
    }
    char api[300] = "", slog[300] = "", splain[300] = "";
    if (!st) {
        const cof_listeners *L = &s->access->a->listeners;
        snprintf(api, sizeof api, "%s", o->listen ? o->listen : cfg->srv.listen[0] ? cfg->srv.listen
                                        : L->api[0] ? L->api : "127.0.0.1:8443");
        snprintf(slog, sizeof slog, "%s", o->syslog_listen ? o->syslog_listen
                                          : cfg->srv.syslog_listen[0] ? cfg->srv.syslog_listen : "");
        snprintf(splain, sizeof splain, "%s", o->syslog_plain_listen ? o->syslog_plain_listen
                                              : cfg->srv.syslog_plain_listen);
        int loop;
        st = check_listener("API", api, real_cert, &loop);
        if (!st && slog[0]) {
            st = check_listener("syslog", slog, real_cert, &loop);
            if (!st && !cfg->srv.syslog_client_ca[0])
                st = COF_ERR(COF_BADINPUT, "syslog_listen needs syslog_client_ca: senders "
                                           "authenticate with client certificates");
        }
        if (!st && splain[0]) {
            if ((st = check_listener("plain syslog", splain, 1, &loop)) == COF_OK && !loop)
                st = COF_ERR(COF_DENIED, "plain (unencrypted) syslog is allowed on loopback only, "
                                         "not on %s: use syslog_listen (TLS) for remote senders", splain);
        }
    }
    tls_ident *id = NULL;
    if (!st && !(st = ident_load(cert, key, &id)))
        s->creds = id;

    /* Store, keys, audit, intake. */
    if (!st)
        st = cof_store_open(cfg, COF_STORE_WRITE, &s->store);
    if (!st) {
        kr = cof_store_keyring(s->store);
        s->audit_blind_key = sodium_malloc(32);
        s->cursor_key = sodium_malloc(32);
        if (!s->audit_blind_key || !s->cursor_key)
            st = COF_ERR(COF_NOMEM, "out of memory");
    }
    if (!st && !(st = cof_keyring_subkey(kr, "audit-ed25519", k32)))
        st = cof_audit_open(cfg->data_dir, k32, &s->audit);
    if (!st && !(st = cof_keyring_subkey(kr, "token-hash", k32)))
        st = cof_tokens_open(cfg->data_dir, k32, &s->tokens);
    if (!st)
        st = cof_keyring_subkey(kr, "audit-blind", s->audit_blind_key);
    if (!st)
        st = cof_keyring_subkey(kr, "api-cursor", s->cursor_key);
    if (k32)
        sodium_memzero(k32, 32);
    if (!st)
        st = cof_alerts_open(cfg, &s->alerts);
    if (!st) {
        cof_guard_opts go = { .lockout_failures = cfg->srv.lockout_failures,
                              .rate_per_second = cfg->srv.rate_limit,
                              .budget_per_hour = cfg->srv.budget_per_hour };
        st = cof_guard_new(&go, &s->guard);
    }
    if (!st)
        st = cof_poison_open(cfg->data_dir, kr, &s->poison);
    if (!st) {
        cof_intake_opts io = { .poison = s->poison, .on_poison = on_poison_left, .poison_ctx = s };
        st = cof_intake_open(s->store, &s->store_mu, &io, &s->intake);
    }
    if (!st) {
        audit_admin(s, "serve.start", "ok");
        if (cof_audit_failed(s->audit))
            st = COF_ERR(COF_IO, "cannot write the audit trail");
    }

    /* HTTPS API. */
    if (!st) {
        struct sockaddr_storage ss;
        unsigned sl;
        int loop;
        if (cof_net_parse_hostport(api, &ss, &sl, &loop) != COF_OK)
            memset(&ss, 0, sizeof ss);
        unsigned flags = MHD_USE_TLS | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                         MHD_USE_ERROR_LOG;
        if (ss.ss_family == AF_INET6)
            flags |= MHD_USE_IPv6;
        s->mhd = MHD_start_daemon(
            flags, 0, NULL, NULL, cof_api_handler, s,
            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, /* first, so every message goes through it */
            MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
            MHD_OPTION_HTTPS_CERT_CALLBACK, cert_cb,
            MHD_OPTION_HTTPS_PRIORITIES, COF_TLS_PRIORITIES,
            MHD_OPTION_THREAD_POOL_SIZE, (unsigned)cfg->srv.threads,
            MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->srv.max_connections,
            MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)cfg->srv.per_ip_connections,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->srv.idle_timeout,
            MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)cfg->srv.max_header_bytes,
            MHD_OPTION_NOTIFY_CONNECTION, notify_conn, s,
            MHD_OPTION_NOTIFY_COMPLETED, cof_api_completed, s,
            MHD_OPTION_STRICT_FOR_CLIENT, 1,
            MHD_OPTION_SIGPIPE_HANDLED_BY_APP, 1,
            MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
            MHD_OPTION_END);
        if (!s->mhd)
            st = COF_ERR(COF_IO, "cannot start the HTTPS listener on %s (in use, or not an "
                                 "address of this host?)", api);
    }
    if (!st) {
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
        const char *colon = strrchr(api, ':');
        snprintf(s->api_url, sizeof s->api_url, "https://%.*s:%u", colon ? (int)(colon - api) : 0,
                 api, di ? di->port : 0);
        if (pthread_create(&s->sweeper, NULL, sweeper, s) != 0)
            st = COF_ERR(COF_NOMEM, "cannot start a thread");
    }
    /* Syslog intake. */
    char *ca_pem = NULL, *cert_pem = NULL, *key_pem = NULL;
    if (!st && (slog[0] || splain[0])) {
        size_t n;
        if (slog[0] && !(st = cof_tls_read_pem(cfg->srv.syslog_client_ca, 0, &ca_pem, &n)))
            if (!(st = cof_tls_read_pem(cert, 0, &cert_pem, &n)))
                st = cof_tls_read_pem(key, 1, &key_pem, &n);
        if (!st) {
            cof_syslogd_opts so = { .tls_listen = slog[0] ? slog : NULL,
                                    .plain_listen = splain[0] ? splain : NULL,
                                    .plain_principal = "local", .cert_pem = cert_pem,
                                    .key_pem = key_pem, .client_ca_pem = ca_pem,
                                    .authz = syslog_authz, .sink = syslog_sink,
                                    .note = syslog_note, .ctx = s };
            st = cof_syslogd_start(&so, &s->syslogd);
        }
    }
    if (!st && !o->quiet) {
        fprintf(stderr, "coffer serve: API %s", s->api_url);
        if (s->syslogd && slog[0])
            fprintf(stderr, ", syslog over TLS on port %u", cof_syslogd_port(s->syslogd, 1));
        if (s->syslogd && splain[0])
            fprintf(stderr, ", plain syslog (loopback) on port %u", cof_syslogd_port(s->syslogd, 0));
        fprintf(stderr, "%s\n", real_cert ? "" : " (self-signed loopback certificate)");
    }

    /* Wait for signals. */
    while (!st) {
        int sig = 0;
        if (sigwait(&sigs, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            tls_ident *nid = NULL;
            cof_status rs = ident_load(cert, key, &nid);
            if (!rs) {
                pthread_mutex_lock(&s->tls_mu);
                if (s->nold == sizeof s->old_creds / sizeof s->old_creds[0]) {
                    ident_free(s->old_creds[0]); /* handshakes that old are long finished */
                    memmove(s->old_creds, s->old_creds + 1, (s->nold - 1) * sizeof s->old_creds[0]);
                    s->nold--;
                }
                s->old_creds[s->nold++] = s->creds;
                s->creds = nid;
                pthread_mutex_unlock(&s->tls_mu);
            }
            if (!rs && s->syslogd && slog[0]) {
                char *c2 = NULL, *k2 = NULL, *a2 = NULL;
                size_t n;
                if (!(rs = cof_tls_read_pem(cert, 0, &c2, &n)) && !(rs = cof_tls_read_pem(key, 1, &k2, &n)) &&
                    !(rs = cof_tls_read_pem(cfg->srv.syslog_client_ca, 0, &a2, &n)))
                    rs = cof_syslogd_reload(s->syslogd, c2, k2, a2);
                free(c2);
                if (k2) {
                    sodium_memzero(k2, strlen(k2));
                    free(k2);
                }
                free(a2);
            }
            if (!rs) {
                pthread_mutex_lock(&s->access_mu);
                rs = access_reload(s, 1);
                pthread_mutex_unlock(&s->access_mu);
            }
            audit_admin(s, "serve.reload", rs ? "error" : "ok");
            fprintf(stderr, "coffer serve: reload %s%s%s\n", rs ? "failed: " : "done",
                    rs ? cof_err_msg() : "", "");
            continue;
        }
        break; /* SIGTERM, SIGINT */
    }

    /* Drain (see the order at the top). */
    cof_status st2 = COF_OK;
    if (s->mhd) {
        MHD_socket ls = MHD_quiesce_daemon(s->mhd);
        if (ls != MHD_INVALID_SOCKET)
            close(ls);
    }
    atomic_store(&s->stopping, 1);
    if (s->sweeper)
        pthread_join(s->sweeper, NULL);
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    if (s->syslogd)
        cof_syslogd_stop(s->syslogd);
    if (s->intake)
        st2 = cof_intake_close(s->intake);
    if (s->audit) {
        audit_admin(s, "serve.stop", st2 ? "error" : "ok");
        cof_audit_close(s->audit);
    }
    cof_poison_close(s->poison);
    if (s->store) {
        pthread_mutex_lock(&s->store_mu);
        cof_status st3 = cof_store_close(s->store);
        pthread_mutex_unlock(&s->store_mu);
        if (!st2)
            st2 = st3;
    }
    cof_alerts_close(s->alerts);
    cof_tokens_close(s->tokens);
    cof_guard_free(s->guard);
    free(ca_pem);
    free(cert_pem);
    if (key_pem) {
        sodium_memzero(key_pem, strlen(key_pem));
        free(key_pem);
    }
    ident_free(s->creds);
    for (unsigned i = 0; i < s->nold; i++)
        ident_free(s->old_creds[i]);
    if (s->access && --s->access->refs == 0) {
        cof_access_free(s->access->a);
        free(s->access);
    }
    sodium_free(s->audit_blind_key);
    sodium_free(s->cursor_key);
    sodium_free(k32);
    free(s);
    g_srv = NULL;
    if (!st && !o->quiet)
        fprintf(stderr, "coffer serve: stopped%s\n", st2 ? " with an error" : "");
    return st ? st : st2;
}
