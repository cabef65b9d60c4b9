/* probe_parse.c - parsers for what probed services answer. Everything here reads
 * hostile bytes: bounded by the buffer, overflow-checked, and a declared length is
 * only ever compared with what is actually present, never used to allocate. */
#include <stdio.h>
#include <string.h>

#include "probe_int.h"

void cof_probe_clean(const char *in, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    if (!cap)
        return;
    for (size_t i = 0; i < n && o + 1 < cap; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (ch == '\r' || ch == '\n')
            break;
        out[o++] = (ch >= 0x20 && ch < 0x7F && ch != '"' && ch != '\\') ? (char)ch : '?';
    }
    out[o] = 0;
}

static const uint8_t *find(const uint8_t *b, size_t n, const char *needle)
{
    size_t k = strlen(needle);
    if (k == 0 || n < k)
        return NULL;
    for (size_t i = 0; i + k <= n; i++)
        if (b[i] == (uint8_t)needle[0] && memcmp(b + i, needle, k) == 0)
            return b + i;
    return NULL;
}

/* ---- HTTP ---- */

cof_str cof_http_header(cof_str head, const char *name)
{
    size_t k = strlen(name);
    while (head.n) {
        const char *nl = memchr(head.p, '\n', head.n);
        cof_str line = cof_str_make(head.p, nl ? (size_t)(nl - head.p) : head.n);
        head = nl ? cof_str_make(nl + 1, head.n - line.n - 1) : COF_STR_NULL;
        if (line.n > k && line.p[k] == ':' && cof_str_ieq(cof_str_make(line.p, k), cof_str_make(name, k)))
            return cof_str_trim(cof_str_make(line.p + k + 1, line.n - k - 1));
    }
    return COF_STR_NULL;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                          : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

cof_status cof_http_parse(const uint8_t *b, size_t n, uint8_t *scratch, size_t scratch_cap,
                          cof_http_resp *r)
{
    memset(r, 0, sizeof *r);
    if (n < 12 || memcmp(b, "HTTP/1.", 7) != 0)
        return n < 12 && (n == 0 || memcmp(b, "HTTP/1.", n < 7 ? n : 7) == 0)
                   ? COF_AGAIN
                   : COF_ERR(COF_BADINPUT, "not an HTTP/1.x response");
    if (b[8] != ' ' || b[9] < '1' || b[9] > '5' || b[10] < '0' || b[10] > '9' || b[11] < '0' ||
        b[11] > '9')
        return COF_ERR(COF_BADINPUT, "bad HTTP status line");
    r->status = (b[9] - '0') * 100 + (b[10] - '0') * 10 + (b[11] - '0');
    const uint8_t *end = find(b, n, "\r\n\r\n");
    size_t skip = 4;
    if (!end) {
        end = find(b, n, "\n\n");
        skip = 2;
    }
    if (!end)
        return COF_AGAIN;
    const uint8_t *nl = memchr(b, '\n', (size_t)(end - b) + 1);
    size_t hs = nl ? (size_t)(nl - b) + 1 : (size_t)(end - b);
    if (hs > (size_t)(end - b))
        hs = (size_t)(end - b);
    r->head = cof_str_make((const char *)b + hs, (size_t)(end - b) - hs);
    const uint8_t *body = end + skip;
    size_t blen = n - (size_t)(body - b);
    r->body = cof_str_make((const char *)body, blen);
    cof_str te = cof_http_header(r->head, "Transfer-Encoding");
    if (te.n >= 7 && cof_str_ieq(cof_str_make(te.p + te.n - 7, 7), cof_str_c("chunked")) &&
        scratch) {
        size_t o = 0, i = 0;
        while (i < blen) {
            uint64_t sz = 0;
            size_t digits = 0;
            while (i < blen && hexval((char)body[i]) >= 0 && digits < 16) {
                sz = sz * 16 + (uint64_t)hexval((char)body[i++]);
                digits++;
            }
            if (!digits)
                break;
            while (i < blen && body[i] != '\n')
                i++;
            i++;
            if (sz == 0 || i > blen)
                break;
            size_t take = sz < blen - i ? (size_t)sz : blen - i;
            if (take > scratch_cap - o)
                take = scratch_cap - o;
            memcpy(scratch + o, body + i, take);
            o += take;
            if (sz > blen - i)
                break;
            i += (size_t)sz;
            if (i < blen && body[i] == '\r')
                i++;
            if (i < blen && body[i] == '\n')
                i++;
        }
        r->body = cof_str_make((const char *)scratch, o);
    }
    return COF_OK;
}

/* ---- line-oriented "key:value" text (Redis INFO, memcached stats) ---- */

static int parse_u64(const uint8_t *p, size_t n, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
        if (v > (UINT64_MAX - 9) / 10)
            return 0;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = v;
    return i > 0;
}

static void copy_tok(const uint8_t *p, size_t n, char *out, size_t cap)
{
    size_t k = 0;
    while (k < n && p[k] != '\r' && p[k] != '\n' && p[k] != ' ')
        k++;
    cof_probe_clean((const char *)p, k, out, cap);
}

cof_status cof_redis_info_parse(const uint8_t *b, size_t n, cof_redis_info *out)
{
    memset(out, 0, sizeof *out);
    if (n == 0 || b[0] != '$')
        return COF_ERR(COF_BADINPUT, "not a RESP bulk string");
    size_t i = 0;
    while (i < n) {
        const uint8_t *nl = memchr(b + i, '\n', n - i);
        size_t len = nl ? (size_t)(nl - (b + i)) : n - i;
        const uint8_t *l = b + i;
        if (len > 14 && memcmp(l, "redis_version:", 14) == 0)
            copy_tok(l + 14, len - 14, out->version, sizeof out->version);
        if (len > 3 && l[0] == 'd' && l[1] == 'b' && l[2] >= '0' && l[2] <= '9') {
            const uint8_t *k = find(l, len, ":keys=");
            uint64_t v;
            if (k && parse_u64(k + 6, len - (size_t)(k + 6 - l), &v)) {
                out->keys = out->keys + v < out->keys ? UINT64_MAX : out->keys + v;
                out->dbs++;
            }
        }
        i += len + 1;
    }
    return COF_OK;
}

cof_status cof_mc_stats_parse(const uint8_t *b, size_t n, cof_mc_stats *out)
{
    memset(out, 0, sizeof *out);
    size_t i = 0;
    int any = 0;
    while (i < n) {
        const uint8_t *nl = memchr(b + i, '\n', n - i);
        size_t len = nl ? (size_t)(nl - (b + i)) : n - i;
        const uint8_t *l = b + i;
        if (len > 13 && memcmp(l, "STAT version ", 13) == 0) {
            copy_tok(l + 13, len - 13, out->version, sizeof out->version);
            any = 1;
        }
        if (len > 16 && memcmp(l, "STAT curr_items ", 16) == 0 &&
            parse_u64(l + 16, len - 16, &out->items))
            out->have_items = any = 1;
        i += len + 1;
    }
    return any ? COF_OK : COF_ERR(COF_BADINPUT, "not a memcached stats reply");
}

/* ---- PostgreSQL ---- */

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

cof_status cof_pg_parse(const uint8_t *b, size_t n, cof_pg_reply *out)
{
    memset(out, 0, sizeof *out);
    out->auth = -1;
    size_t i = 0;
    int any = 0;
    while (i + 5 <= n) {
        uint8_t t = b[i];
        uint32_t len = be32(b + i + 1);
        if (len < 4 || len > n - i - 1)
            break; /* truncated or bogus: stop, use what we have */
        const uint8_t *p = b + i + 5;
        size_t pl = len - 4;
        if (t == 'R' && pl >= 4) {
            out->auth = (int)be32(p);
            any = 1;
        } else if (t == 'E') {
            out->error = 1;
            any = 1;
        } else if (t == 'S') {
            const uint8_t *z = memchr(p, 0, pl);
            if (z && (size_t)(z - p) == 14 && memcmp(p, "server_version", 14) == 0) {
                const uint8_t *v = z + 1;
                size_t vl = pl - 15;
                const uint8_t *z2 = memchr(v, 0, vl);
                cof_probe_clean((const char *)v, z2 ? (size_t)(z2 - v) : vl, out->version,
                                sizeof out->version);
            }
        } else if (!(t == 'K' || t == 'Z' || t == 'N')) {
            break;
        }
        i += 1 + len;
    }
    return any ? COF_OK : COF_ERR(COF_BADINPUT, "not a PostgreSQL reply");
}

/* ---- MySQL / MariaDB ---- */

cof_status cof_my_packet_kind(const uint8_t *b, size_t n, int *kind, uint8_t *seq)
{
    if (n < 5)
        return COF_AGAIN;
    uint32_t len = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16;
    if (len == 0)
        return COF_ERR(COF_BADINPUT, "empty MySQL packet");
    *kind = b[4];
    *seq = b[3];
    return COF_OK;
}

cof_status cof_my_greeting_parse(const uint8_t *b, size_t n, cof_my_greeting *out)
{
    memset(out, 0, sizeof *out);
    if (n < 5)
        return COF_AGAIN;
    uint32_t len = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16;
    if (len < 2 || b[4] != 10)
        return COF_ERR(COF_BADINPUT, "not a MySQL protocol 10 greeting");
    if (len > n - 4)
        return COF_AGAIN;
    const uint8_t *p = b + 5, *e = b + 4 + len;
    const uint8_t *z = memchr(p, 0, (size_t)(e - p));
    if (!z)
        return COF_ERR(COF_BADINPUT, "MySQL greeting without version");
    cof_probe_clean((const char *)p, (size_t)(z - p), out->version, sizeof out->version);
    out->seq = b[3];
    p = z + 1;
    /* conn id 4, scramble 8, filler 1, caps low 2, charset 1, status 2, caps high 2,
     * scramble length 1, reserved 10, scramble part 2, plugin name */
    if (e - p < 4 + 8 + 1 + 2)
        return COF_OK;
    out->caps = (uint32_t)p[13] | (uint32_t)p[14] << 8;
    if (e - p >= 18 + 2)
        out->caps |= ((uint32_t)p[18] | (uint32_t)p[19] << 8) << 16;
    if (e - p > 31) {
        size_t s2 = p[20] > 8 ? (size_t)p[20] - 8 : 13;
        if (s2 < 13)
            s2 = 13;
        const uint8_t *pl = p + 31 + s2;
        if (pl < e) {
            const uint8_t *z2 = memchr(pl, 0, (size_t)(e - pl));
            cof_probe_clean((const char *)pl, z2 ? (size_t)(z2 - pl) : (size_t)(e - pl),
                            out->plugin, sizeof out->plugin);
        }
    }
    return COF_OK;
}

/* ---- MongoDB (OP_MSG, BSON) ---- */

/* Next element of a BSON document body [p, e): type, name, value span. 1 = got one,
 * 0 = end, -1 = malformed. */
static int bson_next(const uint8_t **cur, const uint8_t *e, uint8_t *type, const char **name,
                     const uint8_t **val, size_t *vlen)
{
    const uint8_t *p = *cur;
    if (p >= e)
        return -1;
    *type = *p++;
    if (*type == 0)
        return 0;
    const uint8_t *z = memchr(p, 0, (size_t)(e - p));
    if (!z)
        return -1;
    *name = (const char *)p;
    p = z + 1;
    size_t rem = (size_t)(e - p), len;
    switch (*type) {
    case 0x01: case 0x09: case 0x11: case 0x12: len = 8; break;
    case 0x07: len = 12; break;
    case 0x08: len = 1; break;
    case 0x10: len = 4; break;
    case 0x13: len = 16; break;
    case 0x06: case 0x0A: case 0xFF: case 0x7F: len = 0; break;
    case 0x02: case 0x0D: case 0x0E:
        if (rem < 4)
            return -1;
        len = 4 + (size_t)le32(p);
        break;
    case 0x0C:
        if (rem < 4)
            return -1;
        len = 4 + (size_t)le32(p) + 12;
        break;
    case 0x05:
        if (rem < 4)
            return -1;
        len = 5 + (size_t)le32(p);
        break;
    case 0x03: case 0x04: case 0x0F:
        if (rem < 4)
            return -1;
        len = (size_t)le32(p);
        if (len < 5)
            return -1;
        break;
    case 0x0B: {
        const uint8_t *z1 = memchr(p, 0, rem);
        if (!z1)
            return -1;
        const uint8_t *z2 = memchr(z1 + 1, 0, (size_t)(e - z1 - 1));
        if (!z2)
            return -1;
        len = (size_t)(z2 - p) + 1;
        break;
    }
    default:
        return -1;
    }
    if (len > rem)
        return -1;
    *val = p;
    *vlen = len;
    *cur = p + len;
    return 1;
}

static void bson_str(const uint8_t *v, size_t vl, char *out, size_t cap)
{
    if (vl < 5) {
        out[0] = 0;
        return;
    }
    cof_probe_clean((const char *)v + 4, vl - 5, out, cap);
}

cof_status cof_mongo_parse(const uint8_t *b, size_t n, cof_mongo_reply *out)
{
    memset(out, 0, sizeof *out);
    out->ndatabases = -1;
    if (n < 16)
        return COF_AGAIN;
    uint32_t len = le32(b), op = le32(b + 12);
    if (len < 16 || len > 48u * 1000 * 1000)
        return COF_ERR(COF_BADINPUT, "bad MongoDB message length");
    if (len > n)
        return COF_AGAIN;
    const uint8_t *p, *e = b + len;
    if (op == 2013) { /* OP_MSG: flags, then a kind-0 section */
        if (len < 16 + 4 + 1 + 5 || b[20] != 0)
            return COF_ERR(COF_BADINPUT, "unexpected OP_MSG layout");
        p = b + 21;
    } else if (op == 1) { /* OP_REPLY */
        if (len < 16 + 20 + 5)
            return COF_ERR(COF_BADINPUT, "short OP_REPLY");
        p = b + 36;
    } else {
        return COF_ERR(COF_BADINPUT, "not a MongoDB reply");
    }
    uint32_t dl = le32(p);
    if (dl < 5 || dl > (size_t)(e - p))
        return COF_ERR(COF_BADINPUT, "bad BSON length");
    e = p + dl;
    p += 4;
    out->is_reply = 1;
    for (;;) {
        uint8_t t;
        const char *name;
        const uint8_t *v;
        size_t vl;
        int r = bson_next(&p, e, &t, &name, &v, &vl);
        if (r < 0)
            return COF_ERR(COF_BADINPUT, "malformed BSON");
        if (r == 0)
            break;
        if (!strcmp(name, "ok")) {
            out->have_ok = 1;
            if (t == 0x01) {
                double d;
                memcpy(&d, v, 8);
                out->ok = d;
            } else if (t == 0x10) {
                out->ok = (double)(int32_t)le32(v);
            } else if (t == 0x08) {
                out->ok = v[0] ? 1 : 0;
            }
        } else if (!strcmp(name, "version") && t == 0x02) {
            bson_str(v, vl, out->version, sizeof out->version);
        } else if ((!strcmp(name, "errmsg") || !strcmp(name, "codeName")) && t == 0x02) {
            char m[128];
            bson_str(v, vl, m, sizeof m);
            if (strstr(m, "auth") || strstr(m, "Unauthorized") || strstr(m, "unauthorized"))
                out->auth_error = 1;
        } else if (!strcmp(name, "databases") && t == 0x04) {
            const uint8_t *q = v + 4, *qe = v + vl;
            long cnt = 0;
            for (;;) {
                uint8_t t2;
                const char *n2;
                const uint8_t *v2;
                size_t vl2;
                int r2 = bson_next(&q, qe, &t2, &n2, &v2, &vl2);
                if (r2 < 0)
                    return COF_ERR(COF_BADINPUT, "malformed BSON array");
                if (r2 == 0)
                    break;
                if (cnt == 0 && t2 == 0x03) { /* {name: ...} */
                    const uint8_t *d = v2 + 4, *de = v2 + vl2;
                    uint8_t t3;
                    const char *n3;
                    const uint8_t *v3;
                    size_t vl3;
                    while (bson_next(&d, de, &t3, &n3, &v3, &vl3) == 1)
                        if (!strcmp(n3, "name") && t3 == 0x02)
                            bson_str(v3, vl3, out->first_db, sizeof out->first_db);
                }
                cnt++;
            }
            out->ndatabases = cnt;
        }
    }
    return COF_OK;
}

/* ---- directory listings ---- */

static int loglike(const char *s, size_t n)
{
    /* mail.log, mail.log.1, mail.log.2.gz, maillog, syslog.gz, *.log.gz ... */
    for (size_t i = 0; i + 3 <= n; i++)
        if (!memcmp(s + i, "log", 3))
            return 1;
    return n > 3 && !memcmp(s + n - 3, ".gz", 3);
}

void cof_dirlist_parse(cof_str body, cof_dirlist *out)
{
    memset(out, 0, sizeof *out);
    const uint8_t *b = (const uint8_t *)body.p;
    size_t n = body.n;
    if (!find(b, n, "Index of /") && !find(b, n, "Directory listing for /"))
        return;
    out->is_listing = 1;
    const uint8_t *p = b, *e = b + n;
    while (p < e) {
        const uint8_t *h = find(p, (size_t)(e - p), "href=\"");
        if (!h)
            break;
        h += 6;
        const uint8_t *q = memchr(h, '"', (size_t)(e - h));
        if (!q)
            break;
        size_t len = (size_t)(q - h);
        if (len && h[0] != '?' && h[0] != '/' && h[len - 1] != '/' && !memchr(h, ':', len) &&
            loglike((const char *)h, len)) {
            if (!out->nlogs)
                cof_probe_clean((const char *)h, len, out->example, sizeof out->example);
            out->nlogs++;
        }
        p = q + 1;
    }
}
