/* probe_http.c - TLS, HTTP and the HTTP-speaking stores: coffer itself, Elasticsearch
 * and OpenSearch, Kibana, CouchDB, etcd, Solr, ClickHouse and directory listings.
 *
 * Requests sent (GET unless noted), never anything that returns records:
 *   /  /version  /_cat/indices?format=json&h=index,docs.count  /_all_dbs  /api/status
 *   /solr/admin/cores?action=STATUS&wt=json  /?query=SELECT version()
 *   /?query=SELECT count() FROM system.databases
 *   POST /v3/kv/range {keys_only, count_only} (etcd: a count, never keys or values)
 *   coffer: /healthz, a missing path, and every documented route without credentials. */
#include <arpa/inet.h>
#include <gnutls/abstract.h>
#include <gnutls/x509.h>
#include <jansson.h>
#include <poll.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe_int.h"

#define FIX_ES "xpack.security.enabled: true (OpenSearch: plugins.security) and network.host: 127.0.0.1"
#define FIX_KIBANA "enable Elasticsearch security so Kibana requires a login; server.host: 127.0.0.1"
#define FIX_COUCH "[chttpd] require_valid_user = true; [admins] set an admin password; bind_address = 127.0.0.1"
#define FIX_ETCD "etcdctl auth enable (with a root user) and --client-cert-auth; listen-client-urls on 127.0.0.1"
#define FIX_SOLR "enable the BasicAuthPlugin in security.json; SOLR_JETTY_HOST=127.0.0.1"
#define FIX_CH "set a password for user default in users.xml (or <networks> 127.0.0.1 only); listen_host 127.0.0.1"
#define FIX_DIR "nginx: autoindex off; and 'location ~ \\.(log|gz)$ { deny all; }' (or move logs out of the web root)"

typedef struct {
    uint8_t *raw, *scratch;
    long n;
    cof_http_resp r;
    int verified, pinned;
    char why[160];
    char fpr[65];
} hres;

/* ---- TLS ---- */

static int is_ip(const char *s)
{
    uint8_t a[16];
    return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

static void sha256_hex(const uint8_t *d, size_t n, char out[65])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, d, n);
    sodium_bin2hex(out, 65, h, sizeof h);
}

int cof_probe_tls(const cof_probe_ep *ep, cof_probe_conn *c, int *verified, int *pinned, char *why,
                  size_t whycap)
{
    *verified = *pinned = 0;
    why[0] = 0;
    if (gnutls_certificate_allocate_credentials(&c->cred) != GNUTLS_E_SUCCESS)
        return -1;
    if (ep->o->ca_file)
        (void)gnutls_certificate_set_x509_trust_file(c->cred, ep->o->ca_file, GNUTLS_X509_FMT_PEM);
    else
        (void)gnutls_certificate_set_x509_system_trust(c->cred);
    if (gnutls_init(&c->tls, GNUTLS_CLIENT | GNUTLS_NONBLOCK | GNUTLS_NO_SIGNAL) != GNUTLS_E_SUCCESS) {
        c->tls = NULL;
        return -1;
    }
    if (gnutls_set_default_priority(c->tls) != GNUTLS_E_SUCCESS ||
        gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, c->cred) != GNUTLS_E_SUCCESS)
        return -1;
    const char *name = ep->name && ep->name[0] && !is_ip(ep->name) ? ep->name : NULL;
    if (name)
        (void)gnutls_server_name_set(c->tls, GNUTLS_NAME_DNS, name, strlen(name));
    gnutls_transport_set_int(c->tls, c->fd);
    gnutls_handshake_set_timeout(c->tls, (unsigned)ep->o->read_timeout_ms);
    int r;
    do {
        r = gnutls_handshake(c->tls);
        if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
            struct pollfd pf = { .fd = c->fd,
                                 .events = gnutls_record_get_direction(c->tls) ? POLLOUT : POLLIN };
            if (poll(&pf, 1, ep->o->read_timeout_ms) != 1)
                return -1;
        }
    } while (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED);
    if (r != GNUTLS_E_SUCCESS)
        return -1;
    unsigned status = 0;
    const char *check = name ? name : ep->addr_text;
    if (gnutls_certificate_verify_peers3(c->tls, check, &status) == GNUTLS_E_SUCCESS && status == 0) {
        *verified = 1;
    } else {
        gnutls_datum_t out = { 0 };
        if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &out, 0) == 0) {
            cof_probe_clean((const char *)out.data, out.size, why, whycap);
            gnutls_free(out.data);
        }
    }
    return 0;
}

/* Fingerprints of the peer certificate: DER and SubjectPublicKeyInfo. */
static void peer_pins(gnutls_session_t s, const char *pin, char der_hex[65], int *pinned)
{
    unsigned n = 0;
    const gnutls_datum_t *certs = gnutls_certificate_get_peers(s, &n);
    der_hex[0] = 0;
    if (!certs || !n)
        return;
    sha256_hex(certs[0].data, certs[0].size, der_hex);
    if (pin && pin[0] && !strcmp(pin, der_hex))
        *pinned = 1;
    gnutls_x509_crt_t crt;
    gnutls_pubkey_t pk;
    if (gnutls_x509_crt_init(&crt) != 0)
        return;
    if (gnutls_x509_crt_import(crt, &certs[0], GNUTLS_X509_FMT_DER) == 0 &&
        gnutls_pubkey_init(&pk) == 0) {
        uint8_t spki[4096];
        size_t sl = sizeof spki;
        if (gnutls_pubkey_import_x509(pk, crt, 0) == 0 &&
            gnutls_pubkey_export(pk, GNUTLS_X509_FMT_DER, spki, &sl) == 0) {
            char h[65];
            sha256_hex(spki, sl, h);
            if (pin && pin[0] && !strcmp(pin, h))
                *pinned = 1;
        }
        gnutls_pubkey_deinit(pk);
    }
    gnutls_x509_crt_deinit(crt);
}

/* ---- HTTP client ---- */

static int until_http(const uint8_t *b, size_t n)
{
    cof_http_resp r;
    if (cof_http_parse(b, n, NULL, 0, &r) != COF_OK)
        return 0;
    cof_str cl = cof_http_header(r.head, "Content-Length");
    uint64_t len;
    if (cl.n && cof_str_to_u64(cl, COF_PROBE_MAX_READ * 4ull, &len))
        return r.body.n >= len;
    cof_str te = cof_http_header(r.head, "Transfer-Encoding");
    if (te.n)
        return r.body.n >= 5 && !memcmp(r.body.p + r.body.n - 5, "0\r\n\r\n", 5);
    return 0; /* read to EOF (Connection: close) */
}

static int http_do(const cof_probe_ep *ep, int tls, const char *method, const char *path,
                   const char *body, hres *h)
{
    cof_probe_conn c;
    h->n = -1;
    h->verified = h->pinned = 0;
    if (cof_probe_connect(ep, &c) != 0)
        return -1;
    if (tls) {
        if (cof_probe_tls(ep, &c, &h->verified, &h->pinned, h->why, sizeof h->why) != 0) {
            cof_probe_close(&c);
            return -1;
        }
        peer_pins(c.tls, ep->o->pin_sha256, h->fpr, &h->pinned);
    }
    char host[300], req[1024];
    const char *nm = ep->name && ep->name[0] && !is_ip(ep->name) ? ep->name : ep->addr_text;
    snprintf(host, sizeof host, strchr(nm, ':') ? "[%s]:%u" : "%s:%u", nm, ep->port);
    size_t bl = body ? strlen(body) : 0;
    int k;
    if (body)
        k = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: coffer-probe\r\nAccept: */*\r\n"
                     "Connection: close\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     method, path, host, bl, body);
    else
        k = snprintf(req, sizeof req,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: coffer-probe\r\nAccept: */*\r\n"
                     "Connection: close\r\n\r\n",
                     method, path, host);
    if (k <= 0 || (size_t)k >= sizeof req || cof_probe_send(&c, req, (size_t)k) != 0) {
        cof_probe_close(&c);
        return -1;
    }
    h->n = cof_probe_recv(&c, h->raw, COF_PROBE_MAX_READ, -1, until_http);
    cof_probe_close(&c);
    if (h->n <= 0 ||
        cof_http_parse(h->raw, (size_t)h->n, h->scratch, COF_PROBE_MAX_READ, &h->r) != COF_OK)
        return -1;
    return 0;
}

static json_t *body_json(const hres *h)
{
    if (!h->r.body.n || h->r.body.n > COF_PROBE_MAX_READ)
        return NULL;
    return json_loadb(h->r.body.p, h->r.body.n, JSON_REJECT_DUPLICATES, NULL);
}

static const char *jstr(json_t *o, const char *k)
{
    json_t *v = o ? json_object_get(o, k) : NULL;
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void clean_z(const char *s, char *out, size_t cap)
{
    cof_probe_clean(s ? s : "unknown", s ? strlen(s) : 7, out, cap);
}

static int is_coffer_error(json_t *j)
{
    json_t *e = j ? json_object_get(j, "error") : NULL;
    return json_is_object(e) && json_object_get(e, "code") && json_is_string(json_object_get(e, "message"));
}

/* ---- coffer ---- */

static void detect_coffer(const cof_probe_ep *ep, cof_findings *f, int tls, hres *h)
{
    int bad = 0;
    if (!tls) {
        cof_probe_add(f, ep, "coffer", "coffer.plaintext", COF_SEV_CRITICAL,
                      "serve the API only over TLS (tls_cert/tls_key); never a plaintext listener",
                      "coffer API answers over plaintext HTTP: tokens and results would cross the network in the clear");
        bad++;
    }
    if (tls && http_do(ep, 1, "GET", "/healthz", NULL, h) == 0 && !h->verified && !h->pinned) {
        cof_probe_add(f, ep, "coffer", "coffer.tls-unverified", COF_SEV_HIGH,
                      "install a certificate valid for this name, or pin it: probe.pin_sha256 = <fingerprint>",
                      "certificate not valid for %s (%s); sha256 %s", ep->addr_text,
                      h->why[0] ? h->why : "not trusted", h->fpr);
        bad++;
    }
    if (http_do(ep, tls, "GET", "/healthz", NULL, h) == 0) {
        json_t *j = body_json(h);
        char extra[160] = "";
        size_t o = 0;
        const char *key;
        json_t *v;
        if (json_is_object(j))
            json_object_foreach(j, key, v) {
                if (strcmp(key, "status") && o + strlen(key) + 2 < sizeof extra)
                    o += (size_t)snprintf(extra + o, sizeof extra - o, "%s%s", o ? "," : "", key);
            }
        else
            snprintf(extra, sizeof extra, "non-JSON body of %zu bytes", h->r.body.n);
        if (extra[0] && (j || h->r.body.n > 0)) {
            char e2[160];
            clean_z(extra, e2, sizeof e2);
            cof_probe_add(f, ep, "coffer", "coffer.healthz-reveals", COF_SEV_MEDIUM,
                          "/healthz must answer only {\"status\":\"ok\"}",
                          "/healthz reveals more than liveness: %s", e2);
            bad++;
        }
        json_decref(j);
        cof_str sv = cof_http_header(h->r.head, "Server");
        for (size_t i = 0; i < sv.n; i++)
            if (sv.p[i] >= '0' && sv.p[i] <= '9') {
                char s[80];
                cof_probe_clean(sv.p, sv.n, s, sizeof s);
                cof_probe_add(f, ep, "coffer", "coffer.server-version", COF_SEV_LOW,
                              "do not send a versioned Server header",
                              "Server header reveals a version: %s", s);
                bad++;
                break;
            }
    }
    if (http_do(ep, tls, "GET", "/coffer-probe-no-such-route", NULL, h) == 0) {
        static const char *const leaks[] = { "/home/", "/var/", "/usr/", "/srv/", "/etc/", "/tmp/",
                                             ".c:", "version", "libmicrohttpd", "Traceback" };
        for (size_t i = 0; i < sizeof leaks / sizeof leaks[0]; i++)
            if (h->r.body.n && memmem(h->r.body.p, h->r.body.n, leaks[i], strlen(leaks[i]))) {
                cof_probe_add(f, ep, "coffer", "coffer.error-page-reveals", COF_SEV_MEDIUM,
                              "error answers must be {\"error\":{\"code\",\"message\"}} without paths or versions",
                              "error page for a missing route contains '%s'", leaks[i]);
                bad++;
                break;
            }
    }
    static const struct { const char *m, *p, *b; } routes[] = {
        { "GET", "/v1/trail", NULL },  { "GET", "/v1/stats", NULL },  { "GET", "/v1/audit", NULL },
        { "GET", "/v1/whoami", NULL }, { "GET", "/metrics", NULL },   { "POST", "/v1/events", "{}" },
        { "GET", "/v1/changes", NULL }, { "POST", "/v1/exports", "{}" } };
    unsigned n401 = 0;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (http_do(ep, tls, routes[i].m, routes[i].p, routes[i].b, h) != 0)
            continue;
        if (h->r.status == 401) {
            n401++;
        } else if (h->r.status >= 200 && h->r.status < 300) {
            cof_probe_add(f, ep, "coffer", "coffer.route-open", COF_SEV_CRITICAL,
                          "every route needs a token: check the access document and the auth layer",
                          "%s %s answers %d without credentials", routes[i].m, routes[i].p,
                          h->r.status);
            bad++;
        } else {
            cof_probe_add(f, ep, "coffer", "coffer.route-not-401", COF_SEV_MEDIUM,
                          "unauthenticated requests must get 401 before any other check",
                          "%s %s answers %d instead of 401 without credentials", routes[i].m,
                          routes[i].p, h->r.status);
            bad++;
        }
    }
    if (!bad)
        cof_probe_add(f, ep, "coffer", "coffer.ok", COF_SEV_INFO, "none needed",
                      "coffer endpoint: TLS %s, %u of %zu routes answer 401, /healthz reveals nothing",
                      h->pinned ? "matches the pinned key" : "valid", n401,
                      sizeof routes / sizeof routes[0]);
}

/* ---- other stores ---- */

static int detect_es(const cof_probe_ep *ep, cof_findings *f, int tls, json_t *root, hres *h)
{
    json_t *ver = json_object_get(root, "version");
    if (!jstr(root, "cluster_name") || !json_is_object(ver))
        return 0;
    const char *dist = jstr(ver, "distribution");
    const char *svc = dist && !strcmp(dist, "opensearch") ? "opensearch" : "elasticsearch";
    char v[40], cl[64];
    clean_z(jstr(ver, "number"), v, sizeof v);
    clean_z(jstr(root, "cluster_name"), cl, sizeof cl);
    long nidx = -1;
    unsigned long long docs = 0;
    char first[64] = "";
    if (http_do(ep, tls, "GET", "/_cat/indices?format=json&h=index,docs.count", NULL, h) == 0 &&
        h->r.status == 200) {
        json_t *a = body_json(h);
        if (json_is_array(a)) {
            nidx = (long)json_array_size(a);
            size_t i;
            json_t *e;
            json_array_foreach(a, i, e) {
                const char *dc = jstr(e, "docs.count");
                uint64_t d;
                if (dc && cof_str_to_u64(cof_str_c(dc), UINT64_MAX / 2, &d))
                    docs += d;
                if (i == 0)
                    clean_z(jstr(e, "index"), first, sizeof first);
            }
        }
        json_decref(a);
    }
    if (nidx >= 0)
        cof_probe_add(f, ep, svc, "es.no-auth", COF_SEV_CRITICAL, FIX_ES,
                      "%s %s (cluster %s) answers without credentials: %ld indices, %llu documents%s%s",
                      svc, v, cl, nidx, docs, first[0] ? ", e.g. index " : "", first);
    else
        cof_probe_add(f, ep, svc, "es.banner", COF_SEV_MEDIUM, FIX_ES,
                      "%s %s (cluster %s) root answers without credentials", svc, v, cl);
    return 1;
}

static int detect_couch(const cof_probe_ep *ep, cof_findings *f, int tls, json_t *root, hres *h)
{
    const char *w = jstr(root, "couchdb");
    if (!w || strcmp(w, "Welcome"))
        return 0;
    char v[40];
    clean_z(jstr(root, "version"), v, sizeof v);
    if (http_do(ep, tls, "GET", "/_all_dbs", NULL, h) == 0 && h->r.status == 200) {
        json_t *a = body_json(h);
        long n = json_is_array(a) ? (long)json_array_size(a) : -1;
        json_decref(a);
        if (n >= 0) {
            cof_probe_add(f, ep, "couchdb", "couchdb.no-auth", COF_SEV_CRITICAL, FIX_COUCH,
                          "CouchDB %s lists %ld databases without credentials", v, n);
            return 1;
        }
    }
    cof_probe_add(f, ep, "couchdb", "couchdb.banner", COF_SEV_LOW, FIX_COUCH,
                  "CouchDB %s: welcome page reveals the version (databases need credentials)", v);
    return 1;
}

static int detect_etcd(const cof_probe_ep *ep, cof_findings *f, int tls, hres *h)
{
    if (http_do(ep, tls, "GET", "/version", NULL, h) != 0 || h->r.status != 200)
        return 0;
    json_t *j = body_json(h);
    char v[40];
    if (!jstr(j, "etcdserver")) {
        json_decref(j);
        return 0;
    }
    clean_z(jstr(j, "etcdserver"), v, sizeof v);
    json_decref(j);
    /* keys_only + count_only: the answer carries a count, never keys or values. */
    static const char q[] = "{\"key\":\"AA==\",\"range_end\":\"AA==\",\"keys_only\":true,\"count_only\":true}";
    if (http_do(ep, tls, "POST", "/v3/kv/range", q, h) == 0 && h->r.status == 200) {
        json_t *r = body_json(h);
        json_t *hdr = json_object_get(r, "header");
        if (json_is_object(hdr) && !json_object_get(r, "error") && !json_object_get(r, "code")) {
            const char *cnt = jstr(r, "count");
            char c[24];
            clean_z(cnt ? cnt : "0", c, sizeof c);
            cof_probe_add(f, ep, "etcd", "etcd.no-auth", COF_SEV_CRITICAL, FIX_ETCD,
                          "etcd %s answers key-value requests without credentials: %s keys", v, c);
            json_decref(r);
            return 1;
        }
        json_decref(r);
    }
    cof_probe_add(f, ep, "etcd", "etcd.banner", COF_SEV_LOW,
                  "listen-client-urls on 127.0.0.1 or a firewall; /version is always public",
                  "etcd %s: /version answers (key-value requests need credentials)", v);
    return 1;
}

static int detect_solr(const cof_probe_ep *ep, cof_findings *f, int tls, hres *h)
{
    if (http_do(ep, tls, "GET", "/solr/admin/cores?action=STATUS&wt=json", NULL, h) != 0)
        return 0;
    json_t *j = body_json(h);
    json_t *st = json_object_get(j, "status");
    if (h->r.status == 200 && json_is_object(json_object_get(j, "responseHeader")) &&
        json_is_object(st)) {
        unsigned long long docs = 0;
        const char *name;
        json_t *core;
        json_object_foreach(st, name, core) {
            json_t *nd = json_object_get(json_object_get(core, "index"), "numDocs");
            if (json_is_integer(nd) && json_integer_value(nd) > 0)
                docs += (unsigned long long)json_integer_value(nd);
        }
        cof_probe_add(f, ep, "solr", "solr.no-auth", COF_SEV_CRITICAL, FIX_SOLR,
                      "Solr answers the admin API without credentials: %zu cores, %llu documents",
                      json_object_size(st), docs);
        json_decref(j);
        return 1;
    }
    json_decref(j);
    if (h->r.status == 401 && memmem(h->r.body.p, h->r.body.n, "solr", 4)) {
        cof_probe_add(f, ep, "solr", "solr.auth-required", COF_SEV_INFO, "none needed",
                      "Solr admin API requires authentication");
        return 1;
    }
    return 0;
}

static int detect_kibana(const cof_probe_ep *ep, cof_findings *f, int tls, hres *h, int hinted)
{
    if (http_do(ep, tls, "GET", "/api/status", NULL, h) != 0)
        return 0;
    json_t *j = body_json(h);
    json_t *ver = json_object_get(j, "version");
    int kbn = hinted || cof_http_header(h->r.head, "kbn-name").n || cof_http_header(h->r.head, "kbn-version").n;
    if (h->r.status == 200 && json_is_object(ver) && json_object_get(j, "status")) {
        char v[40];
        clean_z(jstr(ver, "number"), v, sizeof v);
        cof_probe_add(f, ep, "kibana", "kibana.no-auth", COF_SEV_CRITICAL, FIX_KIBANA,
                      "Kibana %s answers without a login (its data views read the whole cluster)", v);
        json_decref(j);
        return 1;
    }
    json_decref(j);
    if (kbn) {
        cof_probe_add(f, ep, "kibana", "kibana.auth-required", COF_SEV_INFO, "none needed",
                      "Kibana requires a login (status %d)", h->r.status);
        return 1;
    }
    return 0;
}

static int detect_clickhouse(const cof_probe_ep *ep, cof_findings *f, int tls, hres *h)
{
    char v[40] = "";
    if (http_do(ep, tls, "GET", "/?query=SELECT%20version()", NULL, h) != 0)
        return 0;
    int ch = cof_http_header(h->r.head, "X-ClickHouse-Server-Display-Name").n ||
             cof_http_header(h->r.head, "X-ClickHouse-Summary").n ||
             cof_http_header(h->r.head, "X-ClickHouse-Exception-Code").n;
    if (!ch)
        return 0;
    if (h->r.status != 200) {
        cof_probe_add(f, ep, "clickhouse", "clickhouse.auth-required", COF_SEV_INFO, "none needed",
                      "ClickHouse HTTP interface requires credentials (status %d)", h->r.status);
        return 1;
    }
    cof_probe_clean(h->r.body.p, h->r.body.n, v, sizeof v);
    char cnt[24] = "?";
    if (http_do(ep, tls, "GET", "/?query=SELECT%20count()%20FROM%20system.databases", NULL, h) == 0 &&
        h->r.status == 200)
        cof_probe_clean(h->r.body.p, h->r.body.n, cnt, sizeof cnt);
    cof_probe_add(f, ep, "clickhouse", "clickhouse.no-auth", COF_SEV_CRITICAL, FIX_CH,
                  "ClickHouse %s answers queries without credentials: %s databases", v, cnt);
    return 1;
}

int cof_probe_http(const cof_probe_ep *ep, cof_findings *f, int tls)
{
    hres h;
    memset(&h, 0, sizeof h);
    h.raw = malloc(COF_PROBE_MAX_READ);
    h.scratch = malloc(COF_PROBE_MAX_READ);
    int spoke = 0;
    json_t *root = NULL;
    if (!h.raw || !h.scratch || http_do(ep, tls, "GET", "/", NULL, &h) != 0)
        goto out;
    spoke = 1;
    root = body_json(&h);
    if (is_coffer_error(root)) {
        detect_coffer(ep, f, tls, &h);
        goto out;
    }
    if (json_is_object(root) && (detect_es(ep, f, tls, root, &h) || detect_couch(ep, f, tls, root, &h)))
        goto out;
    if (h.r.status == 401) {
        cof_str wa = cof_http_header(h.r.head, "WWW-Authenticate");
        if (wa.n && memmem(wa.p, wa.n, "realm=\"security\"", 16)) {
            cof_probe_add(f, ep, "elasticsearch", "es.auth-required", COF_SEV_INFO, "none needed",
                          "Elasticsearch/OpenSearch requires credentials");
            goto out;
        }
    }
    int kbn = cof_http_header(h.r.head, "kbn-name").n || cof_http_header(h.r.head, "kbn-version").n;
    int ch = cof_http_header(h.r.head, "X-ClickHouse-Server-Display-Name").n ||
             (h.r.body.n == 4 && !memcmp(h.r.body.p, "Ok.\n", 4));
    cof_dirlist dl;
    cof_dirlist_parse(h.r.body, &dl);
    if (dl.is_listing) {
        if (dl.nlogs)
            cof_probe_add(f, ep, "http", "http.log-listing", COF_SEV_CRITICAL, FIX_DIR,
                          "directory listing at / offers %u log files for download, e.g. %s",
                          dl.nlogs, dl.example);
        else
            cof_probe_add(f, ep, "http", "http.listing", COF_SEV_MEDIUM, "autoindex off;",
                          "directory listing at / (no log files seen)");
        goto out;
    }
    if (kbn && detect_kibana(ep, f, tls, &h, 1))
        goto out;
    if (ch && detect_clickhouse(ep, f, tls, &h))
        goto out;
    if (detect_etcd(ep, f, tls, &h) || detect_solr(ep, f, tls, &h) ||
        detect_kibana(ep, f, tls, &h, 0) || detect_clickhouse(ep, f, tls, &h))
        goto out;
    /* Coffer's ports must not carry a plaintext listener of any kind. */
    if (!tls && (ep->port == 8443 || ep->port == 6514))
        cof_probe_add(f, ep, "http", "coffer-port.plaintext", COF_SEV_HIGH,
                      "coffer's API and syslog ports are TLS only; move this service",
                      "plaintext HTTP on coffer port %u", ep->port);
    else
        cof_probe_add(f, ep, tls ? "https" : "http", "http.other", COF_SEV_INFO,
                      "none needed unless the service is not meant to be reachable",
                      "HTTP%s server, not a known data store (status %d at /)", tls ? "S" : "",
                      h.r.status);
out:
    json_decref(root);
    free(h.raw);
    free(h.scratch);
    return spoke;
}
