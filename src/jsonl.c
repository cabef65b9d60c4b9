/* jsonl.c - JSON lines to delivery events (schema: docs/JSONL.md).
 *
 * Order of checks, cheapest first, so hostile lines cost little: length, control
 * bytes, UTF-8, nesting depth (a scan that never recurses), then jansson with
 * duplicate keys rejected, then each key by name with its type and range. */
#include "jsonl.h"

#include <jansson.h>
#include <math.h>
#include <string.h>

#include "bounds.h"

/* 9999-12-31T23:59:59Z: four-digit years only, as RFC 3339. */
#define MAX_EPOCH_S 253402300799LL

/* Nesting allowed: the line's object (1) holding the delays array (2). */
#define MAX_DEPTH 2

static int digits(const char *p, size_t n, unsigned *out)
{
    unsigned v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9)
            return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

static int64_t days_from_civil(int y, unsigned m, unsigned d)
{
    y -= m <= 2;
    const int era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = (unsigned)(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int64_t)era * 146097 + (int64_t)doe - 719468;
}

static unsigned days_in_month(unsigned y, unsigned m)
{
    static const unsigned dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return 29;
    return dim[m - 1];
}

int cof_jsonl_time(cof_str s, int64_t *us)
{
    const char *p = s.p;
    size_t n = s.n, i = 19;
    unsigned y, mo, d, h, mi, sec, oh = 0, om = 0;
    int64_t frac = 0, sign = 0;
    if (n < 19 || p[4] != '-' || p[7] != '-' || p[13] != ':' || p[16] != ':')
        return 0;
    if (p[10] != 'T' && p[10] != 't' && p[10] != ' ')
        return 0;
    if (!digits(p, 4, &y) || !digits(p + 5, 2, &mo) || !digits(p + 8, 2, &d) ||
        !digits(p + 11, 2, &h) || !digits(p + 14, 2, &mi) || !digits(p + 17, 2, &sec))
        return 0;
    if (i < n && p[i] == '.') {
        size_t nd = 0;
        for (i++; i < n && p[i] >= '0' && p[i] <= '9'; i++, nd++)
            if (nd < 6)
                frac = frac * 10 + (p[i] - '0');
        if (nd == 0)
            return 0;
        for (; nd < 6; nd++)
            frac *= 10;
    }
    if (i < n && (p[i] == 'Z' || p[i] == 'z')) {
        i++;
    } else if (i < n && (p[i] == '+' || p[i] == '-')) {
        sign = p[i] == '+' ? 1 : -1;
        if (n - i < 6 || p[i + 3] != ':' || !digits(p + i + 1, 2, &oh) ||
            !digits(p + i + 4, 2, &om))
            return 0;
        i += 6;
    }
    if (i != n)
        return 0;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
        mi > 59 || sec > 60 || oh > 23 || om > 59)
        return 0;
    int64_t t = days_from_civil((int)y, mo, d) * 86400 + (int64_t)h * 3600 + mi * 60 + sec -
                sign * ((int64_t)oh * 3600 + om * 60);
    if (t < 0 || t > MAX_EPOCH_S)
        return 0;
    *us = t * 1000000 + frac;
    return 1;
}

int cof_jsonl_seconds_ms(cof_str s, int32_t *ms)
{
    static const uint64_t p10[20] = {
        1ull, 10ull, 100ull, 1000ull, 10000ull, 100000ull, 1000000ull, 10000000ull,
        100000000ull, 1000000000ull, 10000000000ull, 100000000000ull, 1000000000000ull,
        10000000000000ull, 100000000000000ull, 1000000000000000ull, 10000000000000000ull,
        100000000000000000ull, 1000000000000000000ull, 10000000000000000000ull,
    };
    uint64_t mant = 0;
    int exp10 = 0, nd = 0;
    size_t i = 0;
    /* value = mant * 10^exp10; digits past 17 significant ones are dropped */
    for (; i < s.n && s.p[i] >= '0' && s.p[i] <= '9'; i++, nd++) {
        if (mant < 10000000000000000ull)
            mant = mant * 10 + (uint64_t)(s.p[i] - '0');
        else
            exp10++;
    }
    if (nd == 0)
        return 0;
    if (i < s.n && s.p[i] == '.') {
        int fd = 0;
        for (i++; i < s.n && s.p[i] >= '0' && s.p[i] <= '9'; i++, fd++) {
            if (mant < 10000000000000000ull) {
                mant = mant * 10 + (uint64_t)(s.p[i] - '0');
                exp10--;
            }
        }
        if (fd == 0)
            return 0;
    }
    if (i < s.n && (s.p[i] == 'e' || s.p[i] == 'E')) {
        int esign = 1, ev = 0, ed = 0;
        i++;
        if (i < s.n && (s.p[i] == '+' || s.p[i] == '-'))
            esign = s.p[i++] == '-' ? -1 : 1;
        for (; i < s.n && s.p[i] >= '0' && s.p[i] <= '9' && ed < 4; i++, ed++)
            ev = ev * 10 + (s.p[i] - '0');
        if (ed == 0)
            return 0;
        exp10 += esign * ev;
    }
    if (i != s.n)
        return 0;
    int k = exp10 + 3; /* milliseconds = mant * 10^k */
    uint64_t v;
    if (mant == 0) {
        v = 0;
    } else if (k >= 0) {
        if (k > 10)
            return 0;
        v = mant;
        for (int j = 0; j < k; j++) {
            if (v > INT32_MAX)
                return 0;
            v *= 10;
        }
    } else if (-k > 19) {
        v = 0;
    } else {
        uint64_t div = p10[-k], r = mant % div;
        v = mant / div + (r >= div - r); /* round half up */
    }
    if (v > INT32_MAX)
        return 0;
    *ms = (int32_t)v;
    return 1;
}

/* A JSON number of seconds (>= 0) to milliseconds. */
static int number_ms(const json_t *v, int32_t *ms)
{
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < 0 || x > INT32_MAX / 1000)
            return 0;
        *ms = (int32_t)(x * 1000);
        return 1;
    }
    if (json_is_real(v)) {
        double x = json_real_value(v) * 1000.0;
        if (!isfinite(x) || x < 0 || x > (double)INT32_MAX)
            return 0;
        *ms = (int32_t)llround(x);
        return 1;
    }
    return 0;
}

static cof_skip_reason set_time(cof_event *ev, const json_t *v)
{
    if (json_is_string(v)) {
        cof_str s = cof_str_make(json_string_value(v), json_string_length(v));
        return cof_jsonl_time(s, &ev->time_us) ? COF_SKIP_NONE : COF_SKIP_TIME;
    }
    if (json_is_integer(v)) {
        json_int_t x = json_integer_value(v);
        if (x < 0 || x > MAX_EPOCH_S)
            return COF_SKIP_TIME;
        ev->time_us = (int64_t)x * 1000000;
        return COF_SKIP_NONE;
    }
    if (json_is_real(v)) {
        double x = json_real_value(v);
        if (!isfinite(x) || x < 0 || x > (double)MAX_EPOCH_S)
            return COF_SKIP_TIME;
        ev->time_us = (int64_t)llround(x * 1e6);
        return COF_SKIP_NONE;
    }
    return COF_SKIP_MALFORMED;
}

static cof_skip_reason set_delays(cof_event *ev, const json_t *v)
{
    int32_t d[4];
    if (json_is_array(v)) {
        if (json_array_size(v) != 4)
            return COF_SKIP_MALFORMED;
        for (size_t i = 0; i < 4; i++)
            if (!number_ms(json_array_get(v, i), &d[i]))
                return COF_SKIP_MALFORMED;
    } else if (json_is_string(v)) {
        cof_str s = cof_str_make(json_string_value(v), json_string_length(v));
        for (int i = 0; i < 4; i++) {
            const char *slash = i < 3 ? memchr(s.p, '/', s.n) : NULL;
            size_t len = slash ? (size_t)(slash - s.p) : s.n;
            if ((i < 3 && !slash) || !cof_jsonl_seconds_ms(cof_str_make(s.p, len), &d[i]))
                return COF_SKIP_MALFORMED;
            if (slash) {
                s.p += len + 1;
                s.n -= len + 1;
            }
        }
    } else {
        return COF_SKIP_MALFORMED;
    }
    memcpy(ev->delays_ms, d, sizeof d);
    return COF_SKIP_NONE;
}

static int int_in(const json_t *v, json_int_t max, json_int_t *out)
{
    if (!json_is_integer(v))
        return 0;
    json_int_t x = json_integer_value(v);
    if (x < 0 || x > max)
        return 0;
    *out = x;
    return 1;
}

static cof_skip_reason set_string(cof_event *ev, cof_field f, const json_t *v)
{
    if (!json_is_string(v))
        return COF_SKIP_MALFORMED;
    const char *p = json_string_value(v);
    size_t n = json_string_length(v);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c < 0x20 || c == 0x7f)
            return COF_SKIP_BINARY;
    }
    if (f == COF_F_TENANT && n > COF_MAX_TENANT_NAME)
        return COF_SKIP_MALFORMED;
    if (n > COF_MAX_FIELD) {
        if (f != COF_F_SUBJECT && f != COF_F_RESPONSE)
            return COF_SKIP_MALFORMED;
        n = COF_MAX_FIELD; /* cut at a character boundary */
        while (n > 0 && ((unsigned char)p[n] & 0xC0) == 0x80)
            n--;
    }
    ev->f[f] = cof_str_make(p, n); /* "" stays absent */
    return COF_SKIP_NONE;
}

enum { K_DIRECTION, K_RELAY_PORT, K_SIZE, K_NRCPT, K_DELAY, K_DELAYS, K_NKEYS };

static const char *const num_keys[K_NKEYS] = {
    [K_DIRECTION] = "direction", [K_RELAY_PORT] = "relay_port", [K_SIZE] = "size",
    [K_NRCPT] = "nrcpt", [K_DELAY] = "delay", [K_DELAYS] = "delays",
};

static cof_skip_reason apply(cof_event *ev, const char *key, const json_t *v)
{
    cof_str k = cof_str_c(key);
    json_int_t x;
    cof_field f;
    int kind = -1;
    if (cof_str_eq_lit(k, "time"))
        return set_time(ev, v);
    if (cof_str_eq_lit(k, "status")) {
        cof_delivery_status s;
        if (!json_is_string(v) ||
            !cof_status_from_name(cof_str_make(json_string_value(v), json_string_length(v)), &s))
            return COF_SKIP_MALFORMED;
        ev->status = (uint8_t)s;
        return COF_SKIP_NONE;
    }
    if (cof_field_from_name(k, &f))
        return json_is_null(v) ? COF_SKIP_NONE : set_string(ev, f, v);
    for (int i = 0; i < K_NKEYS; i++)
        if (cof_str_eq_lit(k, num_keys[i]))
            kind = i;
    if (kind < 0)
        return COF_SKIP_MALFORMED; /* unknown key: rejected so that typos are noticed */
    if (json_is_null(v)) /* every optional key: null means absent */
        return COF_SKIP_NONE;
    switch (kind) {
    case K_DIRECTION: {
        cof_direction d = COF_DIR_UNKNOWN;
        if (!json_is_string(v))
            return COF_SKIP_MALFORMED;
        cof_str s = cof_str_make(json_string_value(v), json_string_length(v));
        if (!cof_str_eq_lit(s, "unknown") && !cof_direction_from_name(s, &d))
            return COF_SKIP_MALFORMED;
        ev->direction = (uint8_t)d;
        return COF_SKIP_NONE;
    }
    case K_RELAY_PORT:
        if (!int_in(v, 65535, &x))
            return COF_SKIP_MALFORMED;
        ev->relay_port = (uint16_t)x;
        return COF_SKIP_NONE;
    case K_SIZE:
        if (!int_in(v, INT64_MAX, &x))
            return COF_SKIP_MALFORMED;
        ev->size = (uint64_t)x;
        return COF_SKIP_NONE;
    case K_NRCPT:
        if (!int_in(v, UINT32_MAX, &x))
            return COF_SKIP_MALFORMED;
        ev->nrcpt = (uint32_t)x;
        return COF_SKIP_NONE;
    case K_DELAY:
        return number_ms(v, &ev->delay_ms) ? COF_SKIP_NONE : COF_SKIP_MALFORMED;
    default:
        return set_delays(ev, v);
    }
}

/* 1 if brackets outside strings nest deeper than MAX_DEPTH (checked before jansson
 * parses, so a deep line costs one linear scan). */
static int too_deep(cof_str s)
{
    int depth = 0, in_str = 0;
    for (size_t i = 0; i < s.n; i++) {
        char c = s.p[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            if (++depth > MAX_DEPTH)
                return 1;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 0;
}

static cof_skip_reason precheck(cof_str line)
{
    if (line.n > COF_MAX_LINE)
        return COF_SKIP_OVERLONG;
    if (cof_str_trim(line).n == 0)
        return COF_SKIP_UNKNOWN;
    for (size_t i = 0; i < line.n; i++) {
        unsigned char c = (unsigned char)line.p[i];
        if ((c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f)
            return COF_SKIP_BINARY;
    }
    if (!cof_str_utf8_valid(line))
        return COF_SKIP_UTF8;
    if (too_deep(line))
        return COF_SKIP_MALFORMED;
    return COF_SKIP_NONE;
}

cof_status cof_jsonl_parse(cof_str line, uint64_t pos, cof_event_fn fn, void *ctx,
                           cof_skip_reason *skip)
{
    cof_status st = COF_OK;
    json_error_t jerr;
    json_t *root = NULL;
    *skip = precheck(line);
    if (*skip != COF_SKIP_NONE)
        return COF_OK;
    root = json_loadb(line.p, line.n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        /* jansson's message quotes the input: never pass it on */
        if (json_error_code(&jerr) == json_error_out_of_memory)
            return COF_ERR(COF_NOMEM, "jsonl: parser out of memory");
        *skip = COF_SKIP_MALFORMED;
        return COF_OK;
    }
    if (!json_is_object(root)) {
        *skip = COF_SKIP_MALFORMED;
        goto out;
    }
    cof_event ev;
    cof_event_init(&ev);
    ev.src_off = pos;
    ev.src_idx = 0;
    int have_time = 0;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        cof_skip_reason r = apply(&ev, key, v);
        if (r != COF_SKIP_NONE) {
            *skip = r;
            goto out;
        }
        have_time |= strcmp(key, "time") == 0;
    }
    if (!have_time || ev.status == COF_ST_UNKNOWN || ev.f[COF_F_RECIPIENT].n == 0) {
        *skip = COF_SKIP_MALFORMED;
        goto out;
    }
    st = fn(ctx, &ev);
out:
    json_decref(root);
    return st;
}
