/* postfix.c - Postfix syslog line parser: pointer-advancing, bounded, no allocation.
 *
 * Every read is guarded by the cursor's end pointer; numbers are parsed digit by
 * digit with explicit digit counts, so no overflow is possible. */
#include "postfix.h"

#include <time.h>

#include "bounds.h"

#define US_PER_S INT64_C(1000000)

/* Byte classes for the scanners below (generated; see the C_* bits). */
enum { C_ALNUM = 1, C_HEXU = 2, C_VOWEL = 4, C_TAGEND = 8, C_KEYEND = 16, C_VALEND = 32 };
static const unsigned char cls[256] = {
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
    40,  0,  0,  0,  0,  0,  0,  0, 16,  0,  0,  0, 48,  0,  0,  0,
     3,  3,  3,  3,  3,  3,  3,  3,  3,  3,  8,  0,  0, 16,  0,  0,
     0,  7,  3,  3,  3,  7,  3,  1,  1,  5,  1,  1,  1,  1,  1,  5,
     1,  1,  1,  1,  1,  5,  1,  1,  1,  1,  1,  8,  0,  0,  0,  0,
     0,  5,  1,  1,  1,  5,  1,  1,  1,  5,  1,  1,  1,  1,  1,  5,
     1,  1,  1,  1,  1,  5,  1,  1,  1,  1,  1,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,
};

int64_t cof_pf_days_from_civil(int y, int m, int d)
{
    /* H. Hinnant's days_from_civil: exact for the proleptic Gregorian calendar. */
    int64_t yy = (int64_t)y - (m <= 2);
    int64_t era = (yy >= 0 ? yy : yy - 399) / 400;
    int64_t yoe = yy - era * 400;
    int64_t mp = (m + 9) % 12;
    int64_t doy = (153 * mp + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    int64_t mm = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)(yoe + era * 400 + (mm <= 2));
    *m = (int)mm;
}

static int leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

static int mdays(int y, int m)
{
    static const unsigned char d[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    return m == 2 && leap(y) ? 29 : d[m - 1];
}

void cof_pf_clock_init(cof_pf_clock *ck, int year, int64_t now_us)
{
    memset(ck, 0, sizeof *ck);
    ck->fixed_year = year;
    if (now_us == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        now_us = (int64_t)ts.tv_sec * US_PER_S;
    }
    int64_t days = now_us / US_PER_S / 86400;
    civil_from_days(days, &ck->now_year, &ck->now_mon);
}

/* ---- cursor helpers: all bounds-checked against e ---- */

/* Exactly n digits at *pp -> *v. */
static int digits(const char **pp, const char *e, int n, int *v)
{
    const char *p = *pp;
    int x = 0;
    if (e - p < n)
        return 0;
    for (int i = 0; i < n; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9)
            return 0;
        x = x * 10 + (int)d;
    }
    *pp = p + n;
    *v = x;
    return 1;
}

static int lit(const char **pp, const char *e, char c)
{
    if (*pp < e && **pp == c) {
        (*pp)++;
        return 1;
    }
    return 0;
}

/* Optional ".f{1,maxd}" fraction -> microseconds. Returns 0 on too many digits. */
static int fraction(const char **pp, const char *e, int maxd, int64_t *us)
{
    const char *p = *pp;
    int64_t v = 0;
    int nd = 0;
    *us = 0;
    if (p >= e || *p != '.')
        return 1;
    p++;
    while (p < e && (unsigned)((unsigned char)*p - '0') <= 9) {
        if (++nd > maxd)
            return 0;
        v = v * 10 + (*p - '0');
        p++;
    }
    if (nd == 0)
        return 0;
    for (int i = nd; i < 6; i++)
        v *= 10;
    *us = v;
    *pp = p;
    return 1;
}

static int64_t days_cached(cof_pf_clock *ck, int y, int m, int d)
{
    if (ck->c_year != y || ck->c_mon != m || ck->c_day != d) {
        ck->c_year = y;
        ck->c_mon = m;
        ck->c_day = d;
        ck->c_days = cof_pf_days_from_civil(y, m, d);
    }
    return ck->c_days;
}

static int hms(const char **pp, const char *e, int *h, int *mi, int *s)
{
    return digits(pp, e, 2, h) && lit(pp, e, ':') && digits(pp, e, 2, mi) && lit(pp, e, ':') &&
           digits(pp, e, 2, s) && *h <= 23 && *mi <= 59 && *s <= 60;
}

/* "2026-11-23T14:02:03[.ffffff](Z|+hh:mm|-hh:mm)" */
static int parse_rfc3339(cof_pf_clock *ck, const char **pp, const char *e, int64_t *out)
{
    int y, mo, d, h, mi, s, oh = 0, om = 0, sign = 0;
    int64_t us;
    if (!(digits(pp, e, 4, &y) && lit(pp, e, '-') && digits(pp, e, 2, &mo) && lit(pp, e, '-') &&
          digits(pp, e, 2, &d) && lit(pp, e, 'T') && hms(pp, e, &h, &mi, &s) &&
          fraction(pp, e, 6, &us)))
        return 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays(y, mo))
        return 0;
    if (lit(pp, e, 'Z')) {
        sign = 0;
    } else if (lit(pp, e, '+')) {
        sign = 1;
    } else if (lit(pp, e, '-')) {
        sign = -1;
    } else {
        return 0;
    }
    if (sign && !(digits(pp, e, 2, &oh) && lit(pp, e, ':') && digits(pp, e, 2, &om) &&
                  oh <= 23 && om <= 59))
        return 0;
    int64_t secs = days_cached(ck, y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    secs -= (int64_t)sign * (oh * 3600 + om * 60);
    *out = secs * US_PER_S + us;
    return 1;
}

static int month_of(const char *p)
{
    /* Only called with 3 readable bytes. */
#define M3(a, b, c) (p[0] == (a) && p[1] == (b) && p[2] == (c))
    switch (p[0]) {
    case 'J': return M3('J', 'a', 'n') ? 1 : M3('J', 'u', 'n') ? 6 : M3('J', 'u', 'l') ? 7 : 0;
    case 'F': return M3('F', 'e', 'b') ? 2 : 0;
    case 'M': return M3('M', 'a', 'r') ? 3 : M3('M', 'a', 'y') ? 5 : 0;
    case 'A': return M3('A', 'p', 'r') ? 4 : M3('A', 'u', 'g') ? 8 : 0;
    case 'S': return M3('S', 'e', 'p') ? 9 : 0;
    case 'O': return M3('O', 'c', 't') ? 10 : 0;
    case 'N': return M3('N', 'o', 'v') ? 11 : 0;
    case 'D': return M3('D', 'e', 'c') ? 12 : 0;
    default: return 0;
    }
#undef M3
}

/* Year for a classic stamp of month mo, updating the rollover state. */
static int classic_year(cof_pf_clock *ck, int mo)
{
    if (ck->last_mon == 0) {
        if (ck->fixed_year)
            ck->year = ck->fixed_year;
        else
            ck->year = mo > ck->now_mon ? ck->now_year - 1 : ck->now_year;
        ck->last_mon = mo;
        return ck->year;
    }
    if (mo + 6 < ck->last_mon) { /* Dec -> Jan: new year */
        ck->year++;
        ck->last_mon = mo;
        return ck->year;
    }
    if (mo == 12 && ck->last_mon == 1) /* a late line from last December */
        return ck->year - 1;
    ck->last_mon = mo;
    return ck->year;
}

/* "Nov 23 14:02:03[.ffffff]" with the day space- or zero-padded. */
static int parse_classic(cof_pf_clock *ck, const char **pp, const char *e, int64_t *out)
{
    const char *p = *pp;
    int mo, d, h, mi, s;
    int64_t us;
    if (e - p < 15 || (mo = month_of(p)) == 0 || p[3] != ' ')
        return 0;
    p += 4;
    if (*p == ' ') { /* "Nov  3" */
        p++;
        if (!digits(&p, e, 1, &d))
            return 0;
    } else if (!digits(&p, e, 2, &d)) {
        /* "Nov 3" (single digit, single space) is not written by syslog, but cheap */
        if (!digits(&p, e, 1, &d))
            return 0;
    }
    if (!(lit(&p, e, ' ') && hms(&p, e, &h, &mi, &s) && fraction(&p, e, 6, &us)))
        return 0;
    if (d < 1 || d > 31)
        return 0;
    int y = classic_year(ck, mo);
    if (d > mdays(y, mo))
        return 0;
    int64_t secs = days_cached(ck, y, mo, d) * 86400 + h * 3600 + mi * 60 + s - ck->tz_off_s;
    *out = secs * US_PER_S + us;
    *pp = p;
    return 1;
}

/* Queue id shape from the AND of the classes of its bytes. */
static int qid_shape(size_t n, unsigned all, unsigned any)
{
    if (!(all & C_ALNUM))
        return 0;
    if ((all & C_HEXU) && n >= 5 && n <= 12)
        return 1;
    return n >= 10 && n <= 20 && !(any & C_VOWEL);
}

int cof_pf_is_queue_id(cof_str s)
{
    unsigned all = 0xff, any = 0;
    for (size_t i = 0; i < s.n; i++) {
        all &= cls[(unsigned char)s.p[i]];
        any |= cls[(unsigned char)s.p[i]];
    }
    return s.n > 0 && qid_shape(s.n, all, any);
}

/* 1 if s holds a control byte other than tab (or DEL); *hi = 1 if it holds non-ASCII.
 * Eight bytes at a time: this scan is the hottest loop of ingest. */
static int bad_bytes(cof_str s, int *hi)
{
#define ONES UINT64_C(0x0101010101010101)
#define HIGH UINT64_C(0x8080808080808080)
    size_t i = 0;
    uint64_t h = 0;
    for (; i + 8 <= s.n; i += 8) {
        uint64_t w;
        memcpy(&w, s.p + i, 8);
        h |= w;
        /* some byte < 0x20 (exact for bytes < 0x80), or some byte == 0x7f */
        uint64_t lt = (w - ONES * 0x20) & ~w & HIGH;
        uint64_t x = w ^ (ONES * 0x7f);
        uint64_t del = (x - ONES) & ~x & HIGH;
        if (lt | del) {
            for (size_t k = 0; k < 8; k++) {
                unsigned char c = (unsigned char)s.p[i + k];
                if ((c < 0x20 && c != '\t') || c == 0x7f)
                    return 1;
            }
        }
    }
    for (; i < s.n; i++) {
        unsigned char c = (unsigned char)s.p[i];
        h |= c;
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 1;
    }
    *hi = (h & HIGH) != 0;
    return 0;
#undef ONES
#undef HIGH
}

cof_status cof_pf_parse(cof_pf_clock *ck, cof_str line, cof_pf_line *out, cof_skip_reason *skip)
{
    memset(out, 0, sizeof *out);
    *skip = COF_SKIP_NONE;
    if (line.n > COF_MAX_LINE) {
        *skip = COF_SKIP_OVERLONG;
        return COF_BADINPUT;
    }
    if (line.n && line.p[line.n - 1] == '\r')
        line.n--;
    int hi = 0;
    if (bad_bytes(line, &hi)) {
        *skip = COF_SKIP_BINARY;
        return COF_BADINPUT;
    }
    if (hi && !cof_str_utf8_valid(line)) {
        *skip = COF_SKIP_UTF8;
        return COF_BADINPUT;
    }

    const char *p = line.p, *e = line.p + line.n;
    if (p == e) {
        *skip = COF_SKIP_MALFORMED;
        return COF_BADINPUT;
    }
    int ok;
    if (*p >= '0' && *p <= '9')
        ok = parse_rfc3339(ck, &p, e, &out->time_us);
    else if (*p >= 'A' && *p <= 'Z')
        ok = parse_classic(ck, &p, e, &out->time_us);
    else {
        *skip = COF_SKIP_MALFORMED;
        return COF_BADINPUT;
    }
    if (!ok) {
        *skip = COF_SKIP_TIME;
        return COF_BADINPUT;
    }
    if (!lit(&p, e, ' '))
        goto malformed;

    /* host */
    const char *h = p;
    p = memchr(p, ' ', (size_t)(e - p));
    if (!p)
        p = e;
    if (p == h || p == e || p - h > 255) /* RFC 1035: names fit in 255 octets */
        goto malformed;
    out->host = cof_str_make(h, (size_t)(p - h));
    p++;

    /* tag: "name[pid]: " or "name: " */
    const char *t = p;
    while (p < e && !(cls[(unsigned char)*p] & C_TAGEND))
        p++;
    if (p == t || p == e || p - t > 128) /* syslog_name: a short tag, never this long */
        goto malformed;
    cof_str tag = cof_str_make(t, (size_t)(p - t));
    if (!cof_str_starts(tag, "postfix")) {
        *skip = COF_SKIP_NOT_POSTFIX;
        return COF_BADINPUT;
    }
    if (*p == '[') {
        p++;
        uint32_t pid = 0;
        int nd = 0;
        while (p < e && *p >= '0' && *p <= '9') {
            if (++nd > 9) /* < 1e9: cannot overflow */
                goto malformed;
            pid = pid * 10 + (uint32_t)(*p - '0');
            p++;
        }
        if (nd == 0 || !lit(&p, e, ']'))
            goto malformed;
        out->pid = pid;
    }
    if (!lit(&p, e, ':'))
        goto malformed;
    lit(&p, e, ' ');

    /* instance = up to the first '/', service = after the last '/' */
    const char *slash1 = memchr(tag.p, '/', tag.n);
    if (slash1) {
        const char *last = slash1;
        for (const char *q = slash1; q < tag.p + tag.n; q++)
            if (*q == '/')
                last = q;
        out->instance = cof_str_make(tag.p, (size_t)(slash1 - tag.p));
        out->service = cof_str_make(last + 1, (size_t)(tag.p + tag.n - last - 1));
    } else {
        out->instance = tag;
        out->service = cof_str_make(tag.p + tag.n, 0);
    }

    /* queue id: "QID: " at the start of the message; classes gathered in one pass */
    const char *m = p;
    unsigned all = 0xff, any = 0;
    while (p < e && p - m <= 20 && (cls[(unsigned char)*p] & C_ALNUM)) {
        all &= cls[(unsigned char)*p];
        any |= cls[(unsigned char)*p];
        p++;
    }
    if (e - p >= 1 && *p == ':' && (e - p == 1 || p[1] == ' ')) {
        cof_str q = cof_str_make(m, (size_t)(p - m));
        if (q.n && (qid_shape(q.n, all, any) || cof_str_eq_lit(q, "NOQUEUE"))) {
            out->queue_id = q;
            p += e - p >= 2 ? 2 : 1;
            out->text = cof_str_make(p, (size_t)(e - p));
            return COF_OK;
        }
    }
    out->text = cof_str_make(m, (size_t)(e - m));
    return COF_OK;

malformed:
    *skip = COF_SKIP_MALFORMED;
    return COF_BADINPUT;
}

cof_status cof_pf_kv_next(cof_str *rest, cof_pf_kv *kv)
{
    const char *p = rest->p, *e = rest->p + rest->n;
    memset(kv, 0, sizeof *kv);
    while (p < e && (*p == ' ' || *p == ','))
        p++;
    if (p == e) {
        *rest = cof_str_make(e, 0);
        return COF_AGAIN;
    }
    /* key: up to '=', or the whole item if a separator comes first */
    const char *k = p;
    while (p < e && !(cls[(unsigned char)*p] & C_KEYEND))
        p++;
    if (p == e || *p != '=') {
        /* an item without '=': runs to ", " (or the end) */
        while (p < e && !(*p == ',' && (e - p == 1 || p[1] == ' ')))
            p++;
        kv->val = cof_str_trim(cof_str_make(k, (size_t)(p - k)));
        *rest = cof_str_make(p, (size_t)(e - p));
        return COF_OK;
    }
    kv->key = cof_str_make(k, (size_t)(p - k));
    p++;
    const char *v = p;
    if (p < e && *p == '<') {
        /* "<addr>": closed by a '>' followed by ',', ' ' or the end. Addresses may
         * contain quoted commas and '>' inside, so look for the terminator pair. */
        p++;
        const char *q = p;
        for (;;) {
            q = memchr(q, '>', (size_t)(e - q));
            if (!q)
                return COF_BADINPUT;
            if (q + 1 == e || q[1] == ',' || q[1] == ' ')
                break;
            q++;
        }
        kv->val = cof_str_make(p, (size_t)(q - p));
        kv->quoted = 1;
        p = q + 1;
    } else {
        while (p < e && !(cls[(unsigned char)*p] & C_VALEND))
            p++;
        kv->val = cof_str_make(v, (size_t)(p - v));
    }
    if (e - p >= 2 && p[0] == ' ' && p[1] == '(') {
        /* " (...)" always ends a Postfix list; the text may hold parentheses of its
         * own, so take everything up to a final ')' */
        const char *n = p + 2;
        const char *ne = e;
        if (ne > n && ne[-1] == ')')
            ne--;
        kv->note = cof_str_make(n, (size_t)(ne - n));
        p = e;
    }
    *rest = cof_str_make(p, (size_t)(e - p));
    return COF_OK;
}

void cof_pf_split_peer(cof_str s, cof_str *host, cof_str *ip, uint16_t *port)
{
    *host = s;
    *ip = COF_STR_NULL;
    *port = 0;
    const char *b = memchr(s.p ? s.p : "", '[', s.n);
    if (!b)
        return;
    const char *e = s.p + s.n;
    const char *c = memchr(b, ']', (size_t)(e - b));
    if (!c)
        return;
    *host = cof_str_make(s.p, (size_t)(b - s.p));
    *ip = cof_str_make(b + 1, (size_t)(c - b - 1));
    if (e - c >= 2 && c[1] == ':') {
        uint64_t v;
        if (cof_str_to_u64(cof_str_make(c + 2, (size_t)(e - c - 2)), 65535, &v))
            *port = (uint16_t)v;
    }
}

int32_t cof_pf_seconds_ms(cof_str s)
{
    const char *p = s.p, *e = s.p + s.n;
    int64_t ms = 0;
    int nd = 0;
    while (p < e && *p >= '0' && *p <= '9') {
        if (ms < INT32_MAX)
            ms = ms * 10 + (*p - '0');
        nd++;
        p++;
    }
    if (nd == 0)
        return COF_NO_DELAY;
    if (ms > INT32_MAX / 1000)
        ms = INT32_MAX / 1000;
    ms *= 1000;
    if (p < e && *p == '.') {
        p++;
        int scale = 100, fd = 0;
        while (p < e && *p >= '0' && *p <= '9') {
            ms += (*p - '0') * scale;
            scale /= 10;
            fd++;
            p++;
        }
        if (fd == 0)
            return COF_NO_DELAY;
    }
    if (p != e)
        return COF_NO_DELAY;
    return ms > INT32_MAX ? INT32_MAX : (int32_t)ms;
}

const char *cof_pf_rfind(cof_str s, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0 || s.n < n)
        return NULL;
    for (size_t i = s.n - n + 1; i-- > 0;)
        if (s.p[i] == needle[0] && memcmp(s.p + i, needle, n) == 0)
            return s.p + i;
    return NULL;
}

const char *cof_pf_find(cof_str s, const char *needle)
{
    size_t n = strlen(needle);
    if (n == 0 || s.n < n)
        return NULL;
    const char *p = s.p, *e = s.p + s.n - n + 1;
    while (p < e) {
        p = memchr(p, needle[0], (size_t)(e - p));
        if (!p)
            return NULL;
        if (memcmp(p, needle, n) == 0)
            return p;
        p++;
    }
    return NULL;
}

static cof_str after(cof_str s, const char *at) { return cof_str_make(at, (size_t)(s.p + s.n - at)); }

static cof_str skip_lit(cof_str s, const char *z)
{
    size_t n = strlen(z);
    return cof_str_make(s.p + n, s.n - n);
}

int cof_pf_tls_established(cof_str t, cof_str *peer, cof_str *proto, cof_str *cipher)
{
    static const char est_z[] = " TLS connection established ";
    *proto = *cipher = COF_STR_NULL;
    const char *est = cof_pf_find(t, est_z);
    if (!est)
        return 0;
    cof_str r = after(t, est + sizeof est_z - 1);
    if (cof_str_starts(r, "from "))
        r = skip_lit(r, "from ");
    else if (cof_str_starts(r, "to "))
        r = skip_lit(r, "to ");
    else
        return 0;
    /* the peer ends at "]: " or "]:port: " (IPv6 addresses contain ':') */
    const char *b = memchr(r.p, ']', r.n);
    if (!b)
        return 0;
    const char *q = b + 1, *e = r.p + r.n;
    if (q < e && *q == ':' && q + 1 < e && q[1] != ' ') {
        q++;
        while (q < e && *q >= '0' && *q <= '9')
            q++;
    }
    if (e - q < 2 || q[0] != ':' || q[1] != ' ')
        return 0;
    *peer = cof_str_make(r.p, (size_t)(q - r.p));
    cof_str s = after(r, q + 2);
    const char *w = cof_pf_find(s, " with cipher ");
    if (w) {
        *proto = cof_str_make(s.p, (size_t)(w - s.p));
        cof_str rest = after(s, w + 13);
        size_t k = 0;
        while (k < rest.n && rest.p[k] != ' ')
            k++;
        *cipher = cof_str_make(rest.p, k);
    }
    return 1;
}

cof_str cof_pf_dsn_in(cof_str r)
{
    if (r.n >= 4 && r.p[3] == ' ' && r.p[0] >= '2' && r.p[0] <= '5')
        r = cof_str_make(r.p + 4, r.n - 4);
    size_t k = 0;
    int dots = 0;
    while (k < r.n && r.p[k] != ' ' && r.p[k] != ';' && r.p[k] != ',') {
        if (r.p[k] == '.')
            dots++;
        else if (r.p[k] < '0' || r.p[k] > '9')
            return COF_STR_NULL;
        k++;
    }
    if (dots == 2 && k >= 5 && k <= 11 && r.p[0] >= '2' && r.p[0] <= '5')
        return cof_str_make(r.p, k);
    return COF_STR_NULL;
}

cof_status cof_pf_action_body(cof_str t, cof_pf_action *out)
{
    const char *semi = cof_pf_rfind(t, "; from=<");
    if (!semi)
        semi = cof_pf_rfind(t, "; proto=");
    if (!semi)
        return COF_AGAIN;
    cof_str left = cof_str_make(t.p, (size_t)(semi - t.p));
    cof_str tail = after(t, semi + 2);
    /* left: "STAGE from host[ip]: response" (smtpd, milter) or "header NAME: value from
     * host[ip]" (cleanup). A header value may contain " from ", a reply may too: take
     * the last one in a header/body, the first one after a STAGE word. */
    int content = cof_str_starts(t, "header ") || cof_str_starts(t, "body ");
    const char *fr = content ? cof_pf_rfind(left, " from ") : cof_pf_find(left, " from ");
    if (fr) {
        cof_str peer = after(left, fr + 6);
        const char *b = memchr(peer.p, ']', peer.n);
        size_t pn;
        if (b) {
            pn = (size_t)(b + 1 - peer.p);
        } else { /* "from local" */
            const char *colon = cof_pf_find(peer, ": ");
            pn = colon ? (size_t)(colon - peer.p) : peer.n;
        }
        uint16_t port;
        cof_pf_split_peer(cof_str_make(peer.p, pn), &out->client_host, &out->client_ip, &port);
        cof_str r = after(peer, peer.p + pn);
        if (cof_str_starts(r, ": "))
            out->response = skip_lit(r, ": ");
        if (cof_str_starts(t, "header Subject: ")) {
            cof_str h = skip_lit(t, "header Subject: ");
            if (fr >= h.p)
                out->subject = cof_str_make(h.p, (size_t)(fr - h.p));
        }
    }
    /* tail: space separated key=value with "<...>" values; cleanup adds ": response" */
    const char *p = tail.p, *e = tail.p + tail.n;
    while (p < e) {
        const char *k = p;
        while (p < e && *p != '=' && *p != ' ')
            p++;
        if (p == e || *p != '=')
            break;
        cof_str key = cof_str_make(k, (size_t)(p - k));
        p++;
        cof_str val;
        if (p < e && *p == '<') {
            const char *q = p + 1;
            while (q < e && !(*q == '>' && (q + 1 == e || q[1] == ' ' || q[1] == ':')))
                q++;
            if (q == e)
                return COF_BADINPUT;
            val = cof_str_make(p + 1, (size_t)(q - p - 1));
            p = q + 1;
        } else {
            const char *v = p;
            while (p < e && *p != ' ' && !(*p == ':' && (p + 1 == e || p[1] == ' ')))
                p++;
            val = cof_str_make(v, (size_t)(p - v));
        }
        if (cof_str_eq_lit(key, "from"))
            out->sender = val;
        else if (cof_str_eq_lit(key, "to"))
            out->recipient = val;
        if (e - p >= 2 && p[0] == ':' && p[1] == ' ') {
            out->response = cof_str_make(p + 2, (size_t)(e - p - 2));
            break;
        }
        while (p < e && *p == ' ')
            p++;
    }
    if (out->response.n)
        out->dsn = cof_pf_dsn_in(out->response);
    return COF_OK;
}

cof_status cof_pf_action_parse(cof_str t, cof_pf_action *out)
{
    static const struct { const char *z; int st; } acts[] = {
        { "reject: ", COF_ST_REJECTED },   { "milter-reject: ", COF_ST_REJECTED },
        { "discard: ", COF_ST_DISCARDED }, { "milter-discard: ", COF_ST_DISCARDED },
        { "hold: ", COF_ST_HELD },         { "milter-hold: ", COF_ST_HELD },
    };
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++)
        if (cof_str_starts(t, acts[i].z)) {
            out->status = acts[i].st;
            return cof_pf_action_body(skip_lit(t, acts[i].z), out);
        }
    return COF_AGAIN;
}
