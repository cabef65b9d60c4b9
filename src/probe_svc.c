/* probe_svc.c - the identification sequence for one open port, and the detectors of
 * the binary protocols: Redis, Memcached, PostgreSQL, MySQL/MariaDB and MongoDB.
 *
 * What the detectors send (and never more): Redis PING and INFO server/keyspace (never
 * GET, KEYS or SCAN); memcached "stats" (never get); a PostgreSQL StartupMessage and
 * Terminate (never a query); a MySQL HandshakeResponse as root with an empty password
 * and COM_QUIT (never a query); MongoDB hello and listDatabases with nameOnly (never
 * find). Each answer is read into a bounded buffer (COF_PROBE_MAX_READ). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "probe_int.h"

#define FIX_REDIS "requirepass LONG-RANDOM-SECRET (or an ACL user), protected-mode yes, bind 127.0.0.1 -::1"
#define FIX_MC "memcached -l 127.0.0.1 (or -s /run/memcached.sock) and -S with SASL; never expose 11211"
#define FIX_PG "pg_hba.conf: replace 'trust' by 'scram-sha-256' (password_encryption = scram-sha-256)"
#define FIX_MY "ALTER USER 'root'@'%' IDENTIFIED BY '...'; and bind-address = 127.0.0.1; skip-networking if unused"
#define FIX_MONGO "security: authorization: enabled (mongod.conf) and net.bindIp: 127.0.0.1"

static int until_line(const uint8_t *b, size_t n)
{
    return n >= 2 && b[n - 1] == '\n';
}

static int until_redis_bulk(const uint8_t *b, size_t n)
{
    /* "$LEN\r\n" + LEN bytes + "\r\n" */
    if (n < 4 || b[0] != '$')
        return until_line(b, n);
    uint64_t len = 0;
    size_t i = 1;
    for (; i < n && i < 12 && b[i] >= '0' && b[i] <= '9'; i++)
        len = len * 10 + (uint64_t)(b[i] - '0');
    return i + 2 + len + 2 <= n;
}

static int until_end(const uint8_t *b, size_t n)
{
    return n >= 5 && !memcmp(b + n - 5, "END\r\n", 5);
}

static void detect_redis(const cof_probe_ep *ep, cof_findings *f, const uint8_t *pong, size_t n)
{
    if (n >= 7 && !memcmp(pong, "-NOAUTH", 7)) {
        cof_probe_add(f, ep, "redis", "redis.auth-required", COF_SEV_INFO, "none needed",
                      "Redis requires authentication (NOAUTH)");
        return;
    }
    if (n >= 7 && !memcmp(pong, "-DENIED", 7)) {
        cof_probe_add(f, ep, "redis", "redis.protected-mode", COF_SEV_LOW,
                      "bind 127.0.0.1 -::1 and requirepass, so protected mode is not the only guard",
                      "Redis refuses in protected mode (no password set)");
        return;
    }
    /* +PONG: no credentials needed. Ask only for server facts and key counts. */
    cof_probe_conn c;
    uint8_t *buf = malloc(COF_PROBE_MAX_READ);
    cof_redis_info info;
    char ver[32] = "unknown";
    uint64_t keys = 0;
    unsigned dbs = 0;
    if (buf && cof_probe_connect(ep, &c) == 0) {
        static const char q1[] = "*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n";
        static const char q2[] = "*2\r\n$4\r\nINFO\r\n$8\r\nkeyspace\r\n";
        long r;
        if (cof_probe_send(&c, q1, sizeof q1 - 1) == 0 &&
            (r = cof_probe_recv(&c, buf, COF_PROBE_MAX_READ, -1, until_redis_bulk)) > 0 &&
            cof_redis_info_parse(buf, (size_t)r, &info) == COF_OK && info.version[0])
            snprintf(ver, sizeof ver, "%s", info.version);
        if (cof_probe_send(&c, q2, sizeof q2 - 1) == 0 &&
            (r = cof_probe_recv(&c, buf, COF_PROBE_MAX_READ, -1, until_redis_bulk)) > 0 &&
            cof_redis_info_parse(buf, (size_t)r, &info) == COF_OK) {
            keys = info.keys;
            dbs = info.dbs;
        }
        cof_probe_close(&c);
    }
    free(buf);
    cof_probe_add(f, ep, "redis", "redis.no-auth", COF_SEV_CRITICAL, FIX_REDIS,
                  "Redis answers without a password: version %s, %llu keys in %u databases", ver,
                  (unsigned long long)keys, dbs);
}

static void detect_memcached(const cof_probe_ep *ep, cof_findings *f)
{
    cof_probe_conn c;
    uint8_t *buf = malloc(COF_PROBE_MAX_READ);
    cof_mc_stats s;
    int ok = 0;
    memset(&s, 0, sizeof s);
    if (buf && cof_probe_connect(ep, &c) == 0) {
        long r;
        if (cof_probe_send(&c, "stats\r\n", 7) == 0 &&
            (r = cof_probe_recv(&c, buf, COF_PROBE_MAX_READ, -1, until_end)) > 0 &&
            cof_mc_stats_parse(buf, (size_t)r, &s) == COF_OK)
            ok = 1;
        cof_probe_close(&c);
    }
    free(buf);
    if (ok)
        cof_probe_add(f, ep, "memcached", "memcached.no-auth", COF_SEV_CRITICAL, FIX_MC,
                      "memcached answers without credentials: version %s, %llu items",
                      s.version[0] ? s.version : "unknown", (unsigned long long)s.items);
    else
        cof_probe_add(f, ep, "memcached", "memcached.open", COF_SEV_HIGH, FIX_MC,
                      "memcached-style text protocol answers without credentials");
}

/* PostgreSQL: StartupMessage as user postgres, database postgres. */
static int detect_pg(const cof_probe_ep *ep, cof_findings *f)
{
    static const char params[] = "user\0postgres\0database\0postgres\0application_name\0coffer-probe\0";
    uint8_t msg[8 + sizeof params];
    uint32_t len = (uint32_t)sizeof msg;
    msg[0] = (uint8_t)(len >> 24);
    msg[1] = (uint8_t)(len >> 16);
    msg[2] = (uint8_t)(len >> 8);
    msg[3] = (uint8_t)len;
    msg[4] = 0, msg[5] = 3, msg[6] = 0, msg[7] = 0; /* protocol 3.0 */
    memcpy(msg + 8, params, sizeof params);        /* includes the final NUL */
    cof_probe_conn c;
    uint8_t buf[8192];
    if (cof_probe_connect(ep, &c) != 0)
        return 0;
    long r = -1;
    if (cof_probe_send(&c, msg, sizeof msg) == 0)
        r = cof_probe_recv(&c, buf, sizeof buf, -1, NULL);
    cof_pg_reply pr;
    int known = r > 0 && cof_pg_parse(buf, (size_t)r, &pr) == COF_OK;
    if (known && pr.auth == 0) {
        static const uint8_t term[5] = { 'X', 0, 0, 0, 4 };
        (void)cof_probe_send(&c, term, sizeof term);
    }
    cof_probe_close(&c);
    if (!known)
        return 0;
    if (pr.auth == 0)
        cof_probe_add(f, ep, "postgresql", "postgresql.trust", COF_SEV_CRITICAL, FIX_PG,
                      "PostgreSQL lets user postgres in without a password (trust): server_version %s",
                      pr.version[0] ? pr.version : "unknown");
    else if (pr.auth == 3)
        cof_probe_add(f, ep, "postgresql", "postgresql.cleartext", COF_SEV_MEDIUM,
                      "pg_hba.conf: use scram-sha-256 and hostssl, not password",
                      "PostgreSQL asks for a clear-text password (method password)");
    else if (pr.auth == 5)
        cof_probe_add(f, ep, "postgresql", "postgresql.md5", COF_SEV_LOW,
                      "password_encryption = scram-sha-256 and pg_hba.conf scram-sha-256",
                      "PostgreSQL uses md5 password authentication");
    else
        cof_probe_add(f, ep, "postgresql", "postgresql.auth-required", COF_SEV_INFO, "none needed",
                      "PostgreSQL requires authentication (method %d)", pr.auth);
    return 1;
}

/* MySQL/MariaDB: the greeting arrived as the banner; try root with an empty password. */
static void detect_mysql(const cof_probe_ep *ep, cof_findings *f, const cof_my_greeting *g)
{
    cof_probe_conn c;
    uint8_t buf[4096];
    int result = -1; /* 1 open, 0 refused, -1 unknown */
    if (cof_probe_connect(ep, &c) != 0)
        goto report;
    long r = cof_probe_recv(&c, buf, sizeof buf, -1, NULL);
    cof_my_greeting g2;
    if (r <= 0 || cof_my_greeting_parse(buf, (size_t)r, &g2) != COF_OK)
        goto done;
    /* HandshakeResponse41: PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH | LONG_PASSWORD
     * | TRANSACTIONS; user root, empty auth response, mysql_native_password. */
    uint8_t pkt[128];
    size_t o = 4;
    uint32_t caps = 0x0200 | 0x8000 | 0x80000 | 0x0001 | 0x2000;
    pkt[o++] = (uint8_t)caps, pkt[o++] = (uint8_t)(caps >> 8);
    pkt[o++] = (uint8_t)(caps >> 16), pkt[o++] = (uint8_t)(caps >> 24);
    pkt[o++] = 0, pkt[o++] = 0, pkt[o++] = 0, pkt[o++] = 1; /* max packet 16 MiB */
    pkt[o++] = 33;                                         /* utf8 */
    memset(pkt + o, 0, 23);
    o += 23;
    memcpy(pkt + o, "root", 5);
    o += 5;
    pkt[o++] = 0; /* empty auth response */
    memcpy(pkt + o, "mysql_native_password", 22);
    o += 22;
    size_t pl = o - 4;
    pkt[0] = (uint8_t)pl, pkt[1] = (uint8_t)(pl >> 8), pkt[2] = 0;
    pkt[3] = (uint8_t)(g2.seq + 1);
    if (cof_probe_send(&c, pkt, o) != 0)
        goto done;
    for (int round = 0; round < 3; round++) {
        r = cof_probe_recv(&c, buf, sizeof buf, -1, NULL);
        int kind;
        uint8_t seq;
        if (r <= 0 || cof_my_packet_kind(buf, (size_t)r, &kind, &seq) != COF_OK)
            break;
        if (kind == 0x00) {
            result = 1;
            uint8_t quit[5] = { 1, 0, 0, 0, 0x01 }; /* COM_QUIT */
            (void)cof_probe_send(&c, quit, sizeof quit);
            break;
        }
        if (kind == 0xFF) {
            result = 0;
            break;
        }
        if (kind == 0xFE || kind == 0x01) { /* auth switch / more data: empty password */
            uint8_t empty[4] = { 0, 0, 0, (uint8_t)(seq + 1) };
            if (cof_probe_send(&c, empty, sizeof empty) != 0)
                break;
            continue;
        }
        break;
    }
done:
    cof_probe_close(&c);
report:
    if (result == 1)
        cof_probe_add(f, ep, "mysql", "mysql.root-no-password", COF_SEV_CRITICAL, FIX_MY,
                      "MySQL/MariaDB %s accepts root with an empty password", g->version);
    else
        cof_probe_add(f, ep, "mysql", "mysql.banner", COF_SEV_LOW,
                      "bind-address = 127.0.0.1 (or a firewall) unless remote clients need it",
                      "MySQL/MariaDB reachable, greeting reveals version %s%s", g->version,
                      result == 0 ? "; root with an empty password refused" : "");
}

/* MongoDB OP_MSG with a kind-0 section {cmd: 1, [nameOnly: true,] $db: "admin"}. */
static size_t mongo_msg(uint8_t *m, const char *cmd, int name_only, uint32_t reqid)
{
    uint8_t doc[128];
    size_t o = 4, cl = strlen(cmd);
    doc[o++] = 0x10; /* int32 */
    memcpy(doc + o, cmd, cl + 1);
    o += cl + 1;
    doc[o++] = 1, doc[o++] = 0, doc[o++] = 0, doc[o++] = 0;
    if (name_only) {
        doc[o++] = 0x08;
        memcpy(doc + o, "nameOnly", 9);
        o += 9;
        doc[o++] = 1;
    }
    doc[o++] = 0x02;
    memcpy(doc + o, "$db", 4);
    o += 4;
    doc[o++] = 6, doc[o++] = 0, doc[o++] = 0, doc[o++] = 0;
    memcpy(doc + o, "admin", 6);
    o += 6;
    doc[o++] = 0;
    doc[0] = (uint8_t)o, doc[1] = doc[2] = doc[3] = 0;
    size_t total = 16 + 4 + 1 + o;
    uint32_t hdr[4] = { (uint32_t)total, reqid, 0, 2013 };
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 4; b++)
            m[i * 4 + b] = (uint8_t)(hdr[i] >> (8 * b));
    memset(m + 16, 0, 4);
    m[20] = 0;
    memcpy(m + 21, doc, o);
    return total;
}

static int until_mongo(const uint8_t *b, size_t n)
{
    if (n < 4)
        return 0;
    uint32_t len = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
    return len <= n || len > COF_PROBE_MAX_READ;
}

static int detect_mongo(const cof_probe_ep *ep, cof_findings *f)
{
    cof_probe_conn c;
    uint8_t m[256];
    uint8_t *buf = malloc(COF_PROBE_MAX_READ);
    int found = 0;
    if (!buf || cof_probe_connect(ep, &c) != 0) {
        free(buf);
        return 0;
    }
    cof_mongo_reply hello, bi, ld;
    size_t ml = mongo_msg(m, "hello", 0, 1);
    long r = -1;
    if (cof_probe_send(&c, m, ml) == 0)
        r = cof_probe_recv(&c, buf, COF_PROBE_MAX_READ, -1, until_mongo);
    if (r <= 0 || cof_mongo_parse(buf, (size_t)r, &hello) != COF_OK || !hello.is_reply)
        goto out;
    found = 1;
    memset(&bi, 0, sizeof bi);
    ml = mongo_msg(m, "buildInfo", 0, 2);
    if (cof_probe_send(&c, m, ml) == 0 &&
        (r = cof_probe_recv(&c, buf, COF_PROBE_MAX_READ, -1, until_mongo)) > 0)
        if (cof_mongo_parse(buf, (size_t)r, &bi) != COF_OK)
            bi.version[0] = 0;
    ml = mongo_msg(m, "listDatabases", 1, 3);
    if (cof_probe_send(&c, m, ml) == 0 &&
        (r = cof_probe_recv(&c, buf, COF_PROBE_MAX_READ, -1, until_mongo)) > 0 &&
        cof_mongo_parse(buf, (size_t)r, &ld) == COF_OK && ld.ok == 1 && ld.ndatabases >= 0) {
        char first[80];
        cof_probe_clean(ld.first_db, strlen(ld.first_db), first, sizeof first);
        cof_probe_add(f, ep, "mongodb", "mongodb.no-auth", COF_SEV_CRITICAL, FIX_MONGO,
                      "MongoDB lists databases without credentials: version %s, %ld databases%s%s",
                      bi.version[0] ? bi.version : "unknown", ld.ndatabases,
                      first[0] ? ", e.g. " : "", first);
    } else if (bi.version[0]) {
        cof_probe_add(f, ep, "mongodb", "mongodb.banner", COF_SEV_LOW,
                      "net.bindIp: 127.0.0.1 unless remote clients need it",
                      "MongoDB reachable (authentication required), buildInfo reveals version %s",
                      bi.version);
    } else {
        cof_probe_add(f, ep, "mongodb", "mongodb.auth-required", COF_SEV_INFO, "none needed",
                      "MongoDB requires authentication");
    }
out:
    cof_probe_close(&c);
    free(buf);
    return found;
}

/* Identification (docs/PROBE.md): a server-first banner (MySQL), then "PING\r\n" (Redis,
 * memcached and most HTTP servers answer it recognisably), then TLS, HTTP, PostgreSQL
 * and MongoDB, each on a fresh connection, stopping at the first that answers. */
void cof_probe_detect(const cof_probe_ep *ep, cof_findings *f)
{
    cof_probe_conn c;
    uint8_t buf[4096];
    long r;
    if (cof_probe_connect(ep, &c) != 0)
        return;
    int banner_ms = ep->o->read_timeout_ms / 4;
    if (banner_ms < 200)
        banner_ms = 200;
    r = cof_probe_recv(&c, buf, sizeof buf, banner_ms, NULL);
    if (r > 0) {
        cof_probe_close(&c);
        cof_my_greeting g;
        if (cof_my_greeting_parse(buf, (size_t)r, &g) == COF_OK) {
            detect_mysql(ep, f, &g);
            return;
        }
        char b[96];
        cof_probe_clean((const char *)buf, (size_t)r, b, sizeof b);
        cof_probe_add(f, ep, "banner", "banner", COF_SEV_INFO,
                      "close the port or bind the service to 127.0.0.1 if it is not meant to be reached",
                      "service sends a banner: %s", b);
        return;
    }
    r = cof_probe_send(&c, "PING\r\n", 6) == 0 ? cof_probe_recv(&c, buf, sizeof buf, -1, until_line)
                                               : -1;
    cof_probe_close(&c);
    if (r > 0) {
        if (buf[0] == '+' || (buf[0] == '-' && r > 4)) {
            detect_redis(ep, f, buf, (size_t)r);
            return;
        }
        if (r >= 5 && !memcmp(buf, "ERROR", 5)) {
            detect_memcached(ep, f);
            return;
        }
        if ((r >= 5 && !memcmp(buf, "HTTP/", 5)) || buf[0] == '<') {
            if (cof_probe_http(ep, f, 0))
                return;
        }
    }
    if (r <= 0 || (r >= 2 && buf[0] == 0x15 && buf[1] == 0x03)) {
        if (cof_probe_http(ep, f, 1))
            return;
        if (cof_probe_http(ep, f, 0))
            return;
    }
    if (detect_pg(ep, f))
        return;
    if (detect_mongo(ep, f))
        return;
    if (ep->port == 8443 || ep->port == 6514) { /* coffer's API and syslog TLS ports */
        int tls_ok = 0, ver = 0, pin = 0;
        char why[8];
        if (cof_probe_connect(ep, &c) == 0) {
            tls_ok = cof_probe_tls(ep, &c, &ver, &pin, why, sizeof why) == 0;
            cof_probe_close(&c);
        }
        if (!tls_ok) {
            cof_probe_add(f, ep, "unknown", "coffer-port.no-tls", COF_SEV_HIGH,
                          "coffer's API (8443) and syslog (6514) ports are TLS only; move this service",
                          "port %u answers without TLS", ep->port);
            return;
        }
    }
    cof_probe_add(f, ep, "unknown", "open-port", COF_SEV_INFO,
                  "close the port or bind the service to 127.0.0.1 if it is not meant to be reached",
                  "open TCP port, service not identified");
}
