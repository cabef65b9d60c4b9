/* alert.c - alert sinks: syslog(3), a signed HTTPS webhook (libcurl, GnuTLS build) and a
 * command run without a shell. Contract in alert.h.
 *
 * Invariants:
 *  1. cof_alert_raise never blocks on a sink: it renders the alert, appends it to a
 *     bounded queue (COF_ALERT_QUEUE) and signals the delivery thread; a full queue
 *     drops the alert and counts it.
 *  2. Each queued alert keeps the set of sinks still owed a delivery. A failed
 *     delivery is retried after 1 s, 2 s, 4 s ... capped at 5 min, at most
 *     COF_ALERT_TRIES times; giving up raises "alert_sink_failed" on the other sinks
 *     only (never on the failed one, so a dead sink cannot loop).
 *  3. The webhook only speaks https (libcurl protocol allow-list), TLS 1.2+, verifies
 *     the peer, and connects only to an address checked against allowed_networks
 *     (pinned with CURLOPT_RESOLVE so a second lookup cannot move it).
 *  4. The HMAC key lives in sodium_malloc memory and is wiped on close. */
#include "alert.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "timefmt.h"

extern char **environ;

/* Alerts waiting for delivery; beyond this they are dropped (and counted): a burst of
 * findings must not grow memory without bound while a sink is down. */
#define COF_ALERT_QUEUE 256
/* Largest alert JSON accepted (details included). */
#define COF_ALERT_MAX_BYTES (64u << 10)
/* Delivery tries per sink and the back-off bounds (alert.h). */
#define COF_ALERT_TRIES 8
#define COF_ALERT_BACKOFF_MIN_MS 1000
#define COF_ALERT_BACKOFF_MAX_MS (5 * 60 * 1000)
/* Webhook secret file size bounds (the key is >= 32 bytes). */
#define COF_ALERT_SECRET_MIN 32
#define COF_ALERT_SECRET_MAX 1024
/* How long the alert command may run before it is killed. */
#define COF_ALERT_CMD_TIMEOUT_MS 10000

enum { SINK_SYSLOG = 1, SINK_WEBHOOK = 2, SINK_COMMAND = 4 };

typedef struct {
    char *json;
    char id[33];
    cof_severity sev;
    unsigned pending;    /* sinks still owed */
    unsigned tries[3];   /* per sink */
    uint64_t due_ms;     /* next attempt (monotonic) */
    int busy;
} alert_item;

struct cof_alerts {
    pthread_mutex_t mu;
    pthread_cond_t wake, drained;
    pthread_t thread;
    int started, stop;
    alert_item q[COF_ALERT_QUEUE];
    unsigned nq;
    unsigned sinks;
    cof_alert_stats st;
    char host[256];
    char webhook[1024], ca[4096], command[4096];
    uint8_t *secret; /* sodium_malloc */
    size_t secret_len;
    cof_netmask allowed[COF_MAX_ALLOWED_NETWORKS];
    uint32_t nallowed;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

const char *cof_severity_name(cof_severity s)
{
    static const char *const n[] = { "info", "low", "medium", "high", "critical" };
    return (unsigned)s <= COF_SEV_CRITICAL ? n[s] : "unknown";
}

cof_status cof_severity_parse(const char *s, cof_severity *out)
{
    for (int i = 0; i <= COF_SEV_CRITICAL; i++)
        if (s && !strcmp(s, cof_severity_name((cof_severity)i))) {
            *out = (cof_severity)i;
            return COF_OK;
        }
    return COF_ERR(COF_BADINPUT, "severity must be info, low, medium, high or critical");
}

static cof_status load_secret(cof_alerts *a, const char *path)
{
    cof_status st;
    int fd = -1;
    uint8_t buf[COF_ALERT_SECRET_MAX + 1];
    size_t got = 0;
    if ((st = cof_fs_open(path, O_RDONLY, 0, &fd)))
        return st;
    if ((st = cof_fs_check_private(fd, path, "webhook secret file", 0600)))
        goto out;
    if ((st = cof_fs_read_all(fd, buf, sizeof buf, &got, path)))
        goto out;
    if (got > COF_ALERT_SECRET_MAX) {
        st = COF_ERR(COF_LIMIT, "webhook secret file %s: larger than %d bytes", path,
                     COF_ALERT_SECRET_MAX);
        goto out;
    }
    if (got && buf[got - 1] == '\n') /* one trailing newline is not part of the key */
        got--;
    if (got < COF_ALERT_SECRET_MIN) {
        st = COF_ERR(COF_BADINPUT, "webhook secret file %s: needs at least %d bytes", path,
                     COF_ALERT_SECRET_MIN);
        goto out;
    }
    a->secret = sodium_malloc(got);
    if (!a->secret) {
        st = COF_ERR(COF_NOMEM, "out of memory");
        goto out;
    }
    memcpy(a->secret, buf, got);
    a->secret_len = got;
out:
    sodium_memzero(buf, sizeof buf);
    if (fd >= 0)
        close(fd);
    return st;
}

/* ---- sinks ---- */

static int sink_syslog(cof_alerts *a, const alert_item *it)
{
    static const int prio[] = { LOG_INFO, LOG_NOTICE, LOG_WARNING, LOG_ERR, LOG_CRIT };
    (void)a;
    syslog(LOG_AUTH | prio[it->sev], "%s", it->json);
    return 0;
}

static size_t curl_discard(char *p, size_t sz, size_t n, void *u)
{
    (void)p;
    (void)u;
    return sz * n;
}

/* Resolve the webhook host and check every address against allowed_networks; on
 * success resolve_line is "host:port:addr" for CURLOPT_RESOLVE. */
static int webhook_target(cof_alerts *a, char *resolve_line, size_t cap)
{
    int ok = 0;
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL;
    struct addrinfo hints, *res = NULL;
    if (!u || curl_url_set(u, CURLUPART_URL, a->webhook, 0) ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) ||
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT))
        goto out;
    char h[256];
    size_t hl = strlen(host);
    if (hl >= sizeof h)
        goto out;
    memcpy(h, host, hl + 1);
    if (h[0] == '[' && hl > 2 && h[hl - 1] == ']') { /* IPv6 literal */
        memmove(h, h + 1, hl - 2);
        h[hl - 2] = 0;
    }
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(h, port, &hints, &res) != 0 || !res)
        goto out;
    char addr[INET6_ADDRSTRLEN] = "";
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        int fam = ai->ai_family == AF_INET ? 4 : ai->ai_family == AF_INET6 ? 6 : 0;
        const uint8_t *ab = fam == 4 ? (const uint8_t *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
                            : fam == 6 ? (const uint8_t *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr
                                       : NULL;
        if (!ab)
            goto out;
        int inside = 0;
        for (uint32_t i = 0; i < a->nallowed; i++)
            inside |= cof_netmask_contains(&a->allowed[i], fam, ab);
        if (!inside)
            goto out; /* every address must be allowed */
        if (!addr[0])
            inet_ntop(ai->ai_family, ab, addr, sizeof addr);
    }
    int k = snprintf(resolve_line, cap, strchr(addr, ':') ? "%s:%s:[%s]" : "%s:%s:%s", h, port,
                     addr);
    ok = k > 0 && (size_t)k < cap;
out:
    if (res)
        freeaddrinfo(res);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return ok;
}

static int sink_webhook(cof_alerts *a, const alert_item *it)
{
    int rc = -1;
    char resolve_line[512];
    if (!webhook_target(a, resolve_line, sizeof resolve_line)) {
        syslog(LOG_AUTH | LOG_ERR, "alert webhook host is not inside allowed_networks or does not resolve");
        return -1;
    }
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state hs;
    size_t blen = strlen(it->json);
    crypto_auth_hmacsha256_init(&hs, a->secret, a->secret_len);
    crypto_auth_hmacsha256_update(&hs, (const uint8_t *)it->json, blen);
    crypto_auth_hmacsha256_final(&hs, mac);
    sodium_memzero(&hs, sizeof hs);
    char sig[32 + 2 * sizeof mac + 1] = "X-Coffer-Signature: sha256=";
    sodium_bin2hex(sig + strlen(sig), sizeof sig - strlen(sig), mac, sizeof mac);
    char idh[64];
    snprintf(idh, sizeof idh, "X-Coffer-Alert-Id: %s", it->id);
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = NULL, *res = NULL;
    if (!c)
        return -1;
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    hdr = hdr ? curl_slist_append(hdr, sig) : NULL;
    hdr = hdr ? curl_slist_append(hdr, idh) : NULL;
    hdr = hdr ? curl_slist_append(hdr, "Expect:") : NULL;
    res = curl_slist_append(NULL, resolve_line);
    if (!hdr || !res)
        goto out;
    curl_easy_setopt(c, CURLOPT_URL, a->webhook);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (a->ca[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, a->ca);
    curl_easy_setopt(c, CURLOPT_RESOLVE, res);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, it->json);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)blen);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, curl_discard);
    CURLcode cc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    if (cc == CURLE_OK && code >= 200 && code < 300)
        rc = 0;
    else
        syslog(LOG_AUTH | LOG_WARNING, "alert webhook delivery failed: %s (HTTP %ld)",
               curl_easy_strerror(cc), code);
out:
    curl_slist_free_all(hdr);
    curl_slist_free_all(res);
    curl_easy_cleanup(c);
    return rc;
}

static int sink_command(cof_alerts *a, const alert_item *it)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[0], 0);
    posix_spawn_file_actions_adddup2(&fa, 2, 1); /* keep the caller's stdout (findings) clean */
    pid_t pid;
    char *argv[] = { a->command, NULL };
    int e = posix_spawn(&pid, a->command, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(p[0]);
    if (e != 0) {
        close(p[1]);
        return -1;
    }
    /* Write the alert, bounded by the timeout (a child that never reads is killed). */
    uint64_t deadline = mono_ms() + COF_ALERT_CMD_TIMEOUT_MS;
    fcntl(p[1], F_SETFL, O_NONBLOCK);
    size_t n = strlen(it->json), off = 0;
    int wfail = 0;
    while (off < n) {
        ssize_t w = write(p[1], it->json + off, n - off);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN && mono_ms() < deadline) {
            struct pollfd pf = { .fd = p[1], .events = POLLOUT };
            (void)poll(&pf, 1, 100);
            continue;
        }
        wfail = 1; /* EPIPE (child exited early) or timed out */
        break;
    }
    if (!wfail && write(p[1], "\n", 1) != 1)
        wfail = 1;
    close(p[1]);
    int status = 0;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            break;
        if (r < 0 && errno != EINTR)
            return -1;
        if (mono_ms() >= deadline) {
            kill(pid, SIGKILL);
            (void)waitpid(pid, &status, 0);
            syslog(LOG_AUTH | LOG_WARNING, "alert command timed out and was killed");
            return -1;
        }
        struct timespec ts = { 0, 20 * 1000000L };
        nanosleep(&ts, NULL);
    }
    return (!wfail && WIFEXITED(status) && WEXITSTATUS(status) == 0) ? 0 : -1;
}

/* ---- queue ---- */

static cof_status render(cof_alerts *a, const char *kind, cof_severity sev, const char *summary,
                         const char *details_json, char **out, char id[33])
{
    cof_status st = COF_OK;
    json_t *o = NULL, *d = NULL;
    uint8_t rid[16];
    randombytes_buf(rid, sizeof rid);
    sodium_bin2hex(id, 33, rid, sizeof rid);
    if (details_json) {
        json_error_t je;
        d = json_loads(details_json, JSON_REJECT_DUPLICATES, &je);
        if (!d || !json_is_object(d)) {
            json_decref(d);
            return COF_ERR(COF_BADINPUT, "alert details are not a JSON object");
        }
    } else {
        d = json_object();
    }
    char tbuf[64];
    o = json_object();
    if (!o || !d || json_object_set_new(o, "time", json_string(cof_time_format(cof_time_now_us(), tbuf, sizeof tbuf))) ||
        json_object_set_new(o, "kind", json_string(kind)) ||
        json_object_set_new(o, "severity", json_string(cof_severity_name(sev))) ||
        json_object_set_new(o, "summary", json_string(summary)) ||
        json_object_set(o, "details", d) || json_object_set_new(o, "host", json_string(a->host)) ||
        json_object_set_new(o, "id", json_string(id))) {
        st = COF_ERR(COF_BADINPUT, "alert fields must be UTF-8 text");
        goto out;
    }
    *out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!*out)
        st = COF_ERR(COF_NOMEM, "out of memory");
    else if (strlen(*out) > COF_ALERT_MAX_BYTES) {
        free(*out);
        *out = NULL;
        st = COF_ERR(COF_LIMIT, "alert larger than %u bytes", COF_ALERT_MAX_BYTES);
    }
out:
    json_decref(d);
    json_decref(o);
    return st;
}

/* Append under the lock. */
static cof_status enqueue_locked(cof_alerts *a, char *json, const char *id, cof_severity sev,
                                 unsigned sinks)
{
    a->st.raised++;
    if (a->nq >= COF_ALERT_QUEUE) {
        a->st.dropped++;
        free(json);
        return COF_ERR(COF_LIMIT, "alert queue full (%d); alert dropped", COF_ALERT_QUEUE);
    }
    alert_item *it = &a->q[a->nq++];
    memset(it, 0, sizeof *it);
    it->json = json;
    memcpy(it->id, id, 33);
    it->sev = sev;
    it->pending = sinks;
    it->due_ms = 0;
    pthread_cond_signal(&a->wake);
    return COF_OK;
}

static const char *sink_name(unsigned bit)
{
    return bit == SINK_SYSLOG ? "syslog" : bit == SINK_WEBHOOK ? "webhook" : "command";
}

static void *worker(void *arg)
{
    cof_alerts *a = arg;
    /* A command that exits without reading its stdin must not kill the process with
     * SIGPIPE (the write fails with EPIPE instead); signals meant for the program go
     * to its other threads. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        uint64_t now = mono_ms(), best = UINT64_MAX;
        int pick = -1;
        for (unsigned i = 0; i < a->nq; i++)
            if (!a->q[i].busy && a->q[i].due_ms < best) {
                best = a->q[i].due_ms;
                pick = (int)i;
            }
        if (pick < 0) {
            pthread_cond_wait(&a->wake, &a->mu);
            continue;
        }
        if (best > now) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t wait = best - now;
            ts.tv_sec += (time_t)(wait / 1000);
            ts.tv_nsec += (long)(wait % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&a->wake, &a->mu, &ts);
            continue;
        }
        alert_item *it = &a->q[pick];
        it->busy = 1;
        alert_item copy = *it;
        pthread_mutex_unlock(&a->mu);
        unsigned done = 0, gave_up = 0;
        for (unsigned b = 0; b < 3; b++) {
            unsigned bit = 1u << b;
            if (!(copy.pending & bit))
                continue;
            int r = bit == SINK_SYSLOG    ? sink_syslog(a, &copy)
                    : bit == SINK_WEBHOOK ? sink_webhook(a, &copy)
                                          : sink_command(a, &copy);
            if (r == 0)
                done |= bit;
            else if (copy.tries[b] + 1 >= COF_ALERT_TRIES)
                gave_up |= bit;
        }
        pthread_mutex_lock(&a->mu);
        /* The queue may have grown (appends only) but item positions are stable while
         * busy: removal happens only here, in this thread. */
        it = &a->q[pick];
        it->busy = 0;
        it->pending &= ~(done | gave_up);
        for (unsigned b = 0; b < 3; b++)
            if ((copy.pending & (1u << b)) && !(done & (1u << b)))
                it->tries[b]++;
        a->st.failed += (uint64_t)__builtin_popcount(gave_up);
        unsigned maxtries = 0;
        for (unsigned b = 0; b < 3; b++)
            if ((it->pending & (1u << b)) && it->tries[b] > maxtries)
                maxtries = it->tries[b];
        uint64_t back = COF_ALERT_BACKOFF_MIN_MS;
        for (unsigned k = 1; k < maxtries && back < COF_ALERT_BACKOFF_MAX_MS; k++)
            back *= 2;
        if (back > COF_ALERT_BACKOFF_MAX_MS)
            back = COF_ALERT_BACKOFF_MAX_MS;
        it->due_ms = mono_ms() + back;
        if (!it->pending) {
            if (done || !gave_up)
                a->st.delivered++;
            free(it->json);
            memmove(it, it + 1, (a->nq - (unsigned)pick - 1) * sizeof *it);
            a->nq--;
        }
        /* A sink that gave up is reported on the others (never on itself). */
        for (unsigned b = 0; b < 3; b++) {
            unsigned bit = 1u << b, others = a->sinks & ~bit;
            if (!(gave_up & bit) || !others)
                continue;
            char summary[128], details[128], *json = NULL, id[33];
            snprintf(summary, sizeof summary, "alert sink %s failed after %d tries", sink_name(bit),
                     COF_ALERT_TRIES);
            snprintf(details, sizeof details, "{\"sink\":\"%s\"}", sink_name(bit));
            if (render(a, "alert_sink_failed", COF_SEV_HIGH, summary, details, &json, id) == COF_OK)
                (void)enqueue_locked(a, json, id, COF_SEV_HIGH, others);
        }
        if (a->nq == 0)
            pthread_cond_broadcast(&a->drained);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}

cof_status cof_alerts_open(const cof_config *cfg, cof_alerts **out)
{
    cof_status st = COF_OK;
    if (sodium_init() < 0) /* idempotent; needed for sodium_malloc and ids */
        return COF_ERR(COF_IO, "libsodium initialisation failed");
    cof_alerts *a = calloc(1, sizeof *a);
    if (!a)
        return COF_ERR(COF_NOMEM, "out of memory");
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->wake, NULL);
    pthread_cond_init(&a->drained, NULL);
    if (gethostname(a->host, sizeof a->host - 1) != 0)
        snprintf(a->host, sizeof a->host, "unknown");
    if (cfg->alert_syslog) {
        a->sinks |= SINK_SYSLOG;
        openlog("coffer-alert", LOG_PID | LOG_NDELAY, LOG_AUTH);
    }
    if (cfg->alert_webhook[0]) {
        if (strncmp(cfg->alert_webhook, "https://", 8) != 0) {
            st = COF_ERR(COF_BADINPUT, "alert.webhook must be an https:// URL");
            goto out;
        }
        if (!cfg->alert_webhook_secret_file[0]) {
            st = COF_ERR(COF_BADINPUT, "alert.webhook needs alert.webhook_secret_file");
            goto out;
        }
        if ((st = load_secret(a, cfg->alert_webhook_secret_file)))
            goto out;
        snprintf(a->webhook, sizeof a->webhook, "%s", cfg->alert_webhook);
        snprintf(a->ca, sizeof a->ca, "%s", cfg->alert_webhook_ca);
        a->nallowed = cfg->nallowed;
        memcpy(a->allowed, cfg->allowed, cfg->nallowed * sizeof *a->allowed);
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
            st = COF_ERR(COF_IO, "libcurl initialisation failed");
            goto out;
        }
        char probe_line[512];
        if (!webhook_target(a, probe_line, sizeof probe_line)) {
            st = COF_ERR(COF_DENIED,
                         "alert.webhook host does not resolve to addresses inside allowed_networks");
            goto out;
        }
        a->sinks |= SINK_WEBHOOK;
    }
    if (cfg->alert_command[0]) {
        if (cfg->alert_command[0] != '/' || access(cfg->alert_command, X_OK) != 0) {
            st = COF_ERR(COF_BADINPUT, "alert.command %s is not an executable absolute path",
                         cfg->alert_command);
            goto out;
        }
        snprintf(a->command, sizeof a->command, "%s", cfg->alert_command);
        a->sinks |= SINK_COMMAND;
    }
    if (pthread_create(&a->thread, NULL, worker, a) != 0) {
        st = COF_ERR(COF_IO, "cannot start the alert thread");
        goto out;
    }
    a->started = 1;
    *out = a;
    return COF_OK;
out:
    cof_alerts_close(a);
    return st;
}

cof_status cof_alert_raise(cof_alerts *a, const char *kind, cof_severity sev, const char *summary,
                           const char *details_json)
{
    if (!a || !kind || !summary || (unsigned)sev > COF_SEV_CRITICAL)
        return COF_ERR(COF_BADINPUT, "bad alert arguments");
    char *json = NULL, id[33];
    cof_status st = render(a, kind, sev, summary, details_json, &json, id);
    if (st)
        return st;
    pthread_mutex_lock(&a->mu);
    if (!a->sinks) {
        a->st.raised++;
        a->st.delivered++; /* nowhere to deliver: nothing owed */
        free(json);
    } else {
        st = enqueue_locked(a, json, id, sev, a->sinks);
    }
    pthread_mutex_unlock(&a->mu);
    return st;
}

cof_status cof_alerts_flush(cof_alerts *a, int timeout_ms)
{
    if (!a)
        return COF_OK;
    uint64_t deadline = mono_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
    pthread_mutex_lock(&a->mu);
    while (a->nq > 0) {
        uint64_t now = mono_ms();
        if (now >= deadline)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t w = deadline - now;
        if (w > 100)
            w = 100;
        ts.tv_nsec += (long)w * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&a->drained, &a->mu, &ts);
    }
    unsigned left = a->nq;
    pthread_mutex_unlock(&a->mu);
    return left ? COF_ERR(COF_AGAIN, "%u alerts still queued", left) : COF_OK;
}

void cof_alerts_stats_get(cof_alerts *a, cof_alert_stats *s)
{
    pthread_mutex_lock(&a->mu);
    *s = a->st;
    pthread_mutex_unlock(&a->mu);
}

void cof_alerts_close(cof_alerts *a)
{
    if (!a)
        return;
    if (a->started) {
        pthread_mutex_lock(&a->mu);
        a->stop = 1;
        pthread_cond_broadcast(&a->wake);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->thread, NULL);
    }
    for (unsigned i = 0; i < a->nq; i++)
        free(a->q[i].json);
    if (a->secret)
        sodium_free(a->secret); /* wipes */
    if (a->sinks & SINK_SYSLOG)
        closelog();
    pthread_cond_destroy(&a->wake);
    pthread_cond_destroy(&a->drained);
    pthread_mutex_destroy(&a->mu);
    free(a);
}
