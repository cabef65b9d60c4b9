/* framer.c - syslog stream framing (RFC 5425 octet counting, RFC 6587 newline
 * framing) and the syslog message -> log line conversion.
 *
 * The framer is a pointer-advancing state machine:
 *
 *   START --digit--> COUNT --SP--> BODY --want bytes--> START
 *     |                |
 *     |                +--other / too many digits / leading zero--> protocol error
 *     +--other--> LINE --LF--> START
 *                   |
 *                   +--more than COF_MAX_SYSLOG_FRAME bytes--> SKIP --LF--> START
 *
 * Invariants: have <= COF_MAX_SYSLOG_FRAME; buf holds the partial frame only when the
 * frame did not arrive in one piece (whole frames are handed out straight from the
 * caller's bytes, without a copy); want is never larger than COF_MAX_SYSLOG_FRAME, so a
 * peer-declared length never sizes anything. Empty newline frames (a stray LF or
 * CRLF between octet-counted frames) are dropped without being counted. */
#include "framer.h"

#include <string.h>

enum { S_START, S_COUNT, S_BODY, S_LINE, S_SKIP };

void cof_framer_init(cof_framer *f)
{
    f->state = S_START;
    f->want = 0;
    f->have = 0;
    f->digits = 0;
    f->frames = 0;
    f->oversized = 0;
}

/* Deliver a newline frame: drop one trailing CR; empty frames are not frames. */
static cof_status emit_line(cof_framer *f, const uint8_t *p, size_t n, cof_frame_fn fn, void *ctx)
{
    if (n && p[n - 1] == '\r')
        n--;
    if (n == 0)
        return COF_OK;
    f->frames++;
    return fn(ctx, cof_str_make((const char *)p, n));
}

static cof_status emit(cof_framer *f, const uint8_t *p, size_t n, cof_frame_fn fn, void *ctx)
{
    f->frames++;
    return fn(ctx, cof_str_make((const char *)p, n));
}

cof_status cof_framer_feed(cof_framer *f, const uint8_t *p, size_t n, cof_frame_fn fn, void *ctx)
{
    const uint8_t *e = p + n;
    cof_status st;
    while (p < e) {
        switch (f->state) {
        case S_START:
            if (*p >= '0' && *p <= '9') {
                if (*p == '0')
                    return COF_ERR(COF_BADINPUT, "syslog octet count with a leading zero");
                f->state = S_COUNT;
                f->want = 0;
                f->digits = 0;
            } else {
                f->state = S_LINE;
                f->have = 0;
            }
            break;
        case S_COUNT:
            if (*p >= '0' && *p <= '9') {
                /* checked per digit before storing: want never exceeds the maximum */
                size_t w = f->want * 10 + (size_t)(*p - '0');
                if (w > COF_MAX_SYSLOG_FRAME)
                    return COF_ERR(COF_BADINPUT, "syslog octet count above %d",
                                   COF_MAX_SYSLOG_FRAME);
                f->want = w;
                f->digits++;
                p++;
            } else if (*p == ' ') {
                p++;
                f->state = S_BODY;
                f->have = 0;
            } else {
                return COF_ERR(COF_BADINPUT, "syslog octet count not followed by a space");
            }
            break;
        case S_BODY: {
            size_t need = f->want - f->have, avail = (size_t)(e - p);
            if (f->have == 0 && avail >= need) {
                /* the whole frame is here: no copy */
                f->state = S_START;
                st = emit(f, p, need, fn, ctx);
                p += need;
                if (st)
                    return st;
                break;
            }
            size_t take = avail < need ? avail : need;
            memcpy(f->buf + f->have, p, take);
            f->have += take;
            p += take;
            if (f->have == f->want) {
                f->state = S_START;
                st = emit(f, f->buf, f->have, fn, ctx);
                f->have = 0;
                if (st)
                    return st;
            }
            break;
        }
        case S_LINE: {
            size_t avail = (size_t)(e - p);
            const uint8_t *nl = memchr(p, '\n', avail);
            size_t len = nl ? (size_t)(nl - p) : avail;
            if (f->have + len > COF_MAX_SYSLOG_FRAME) {
                /* too long: counted once, skipped up to (and including) its LF */
                f->oversized++;
                f->have = 0;
                f->state = nl ? S_START : S_SKIP;
                p = nl ? nl + 1 : e;
                break;
            }
            if (!nl) {
                memcpy(f->buf + f->have, p, len);
                f->have += len;
                p = e;
                break;
            }
            f->state = S_START;
            if (f->have == 0) {
                st = emit_line(f, p, len, fn, ctx);
            } else {
                memcpy(f->buf + f->have, p, len);
                st = emit_line(f, f->buf, f->have + len, fn, ctx);
                f->have = 0;
            }
            p = nl + 1;
            if (st)
                return st;
            break;
        }
        case S_SKIP: {
            const uint8_t *nl = memchr(p, '\n', (size_t)(e - p));
            if (!nl)
                return COF_OK;
            f->state = S_START;
            p = nl + 1;
            break;
        }
        default:
            return COF_ERR(COF_BADINPUT, "syslog framer in an unknown state");
        }
    }
    return COF_OK;
}

cof_status cof_framer_finish(cof_framer *f, cof_frame_fn fn, void *ctx)
{
    int state = f->state;
    size_t have = f->have;
    f->state = S_START;
    f->have = 0;
    switch (state) {
    case S_START:
    case S_SKIP:
        return COF_OK;
    case S_LINE:
        return emit_line(f, f->buf, have, fn, ctx);
    default:
        return COF_ERR(COF_BADINPUT, "syslog stream ended inside an octet-counted frame");
    }
}

/* ---- syslog message -> log line ---- */

/* RFC 5424 field limits (section 6): HOSTNAME 255, APP-NAME 48, PROCID 128, MSGID 32;
 * TIMESTAMP is at most 32 characters in any valid form. */
enum { MAX_TS = 48, MAX_HOST = 255, MAX_APP = 48, MAX_PROCID = 128, MAX_MSGID = 32 };

/* Take one PRINTUSASCII token (1..max bytes) ending at SP or at the end; *q advanced
 * to the SP. */
static int take_token(const char **q, const char *e, size_t max, cof_str *tok)
{
    const char *s = *q, *p = s;
    while (p < e && *p != ' ') {
        if ((unsigned char)*p < 33 || (unsigned char)*p > 126)
            return 0;
        p++;
    }
    if (p == s || (size_t)(p - s) > max)
        return 0;
    *tok = cof_str_make(s, (size_t)(p - s));
    *q = p;
    return 1;
}

static int take_sp(const char **q, const char *e)
{
    if (*q >= e || **q != ' ')
        return 0;
    (*q)++;
    return 1;
}

/* STRUCTURED-DATA: "-" or one or more "[SD-ID *(SP PARAM)]"; inside a quoted PARAM
 * value '\' escapes the next byte (RFC 5424 defines \" \\ \]). */
static int skip_sd(const char **q, const char *e)
{
    const char *p = *q;
    if (p < e && *p == '-') {
        *q = p + 1;
        return 1;
    }
    if (p >= e || *p != '[')
        return 0;
    while (p < e && *p == '[') {
        int quoted = 0;
        p++;
        if (p >= e || *p == ']' || *p == ' ')
            return 0; /* SD-ID must not be empty */
        for (;;) {
            if (p >= e)
                return 0;
            char c = *p++;
            if (quoted) {
                if (c == '\\') {
                    if (p >= e)
                        return 0;
                    p++;
                } else if (c == '"') {
                    quoted = 0;
                }
            } else if (c == '"') {
                quoted = 1;
            } else if (c == ']') {
                break;
            }
        }
    }
    *q = p;
    return 1;
}

static cof_status put(char *out, size_t cap, size_t *n, const char *p, size_t len)
{
    if (len > cap - *n)
        return COF_ERR(COF_LIMIT, "syslog line longer than %zu bytes", cap);
    if (len)
        memcpy(out + *n, p, len);
    *n += len;
    return COF_OK;
}

static cof_status from_5424(const char *q, const char *e, char *out, size_t cap, size_t *n)
{
    cof_str ts, host, app, procid, msgid;
    cof_status st;
    if (!take_token(&q, e, MAX_TS, &ts) || !take_sp(&q, e) ||
        !take_token(&q, e, MAX_HOST, &host) || !take_sp(&q, e) ||
        !take_token(&q, e, MAX_APP, &app) || !take_sp(&q, e) ||
        !take_token(&q, e, MAX_PROCID, &procid) || !take_sp(&q, e) ||
        !take_token(&q, e, MAX_MSGID, &msgid) || !take_sp(&q, e))
        return COF_ERR(COF_BADINPUT, "RFC 5424 syslog header malformed");
    if (cof_str_eq_lit(ts, "-") || cof_str_eq_lit(host, "-"))
        return COF_ERR(COF_BADINPUT, "RFC 5424 syslog message without timestamp or host");
    if (!skip_sd(&q, e))
        return COF_ERR(COF_BADINPUT, "RFC 5424 structured data malformed");
    if (q < e && !take_sp(&q, e))
        return COF_ERR(COF_BADINPUT, "RFC 5424 structured data not followed by a space");
    if (e - q >= 3 && memcmp(q, "\xEF\xBB\xBF", 3) == 0)
        q += 3;
    /* rsyslog keeps the space after a locally received "tag:" in MSG; one leading SP is
     * framing between tag and text, not text (the Postfix parser wants "]: QID:") */
    if (q < e && *q == ' ')
        q++;
    *n = 0;
    if ((st = put(out, cap, n, ts.p, ts.n)) || (st = put(out, cap, n, " ", 1)) ||
        (st = put(out, cap, n, host.p, host.n)) || (st = put(out, cap, n, " ", 1)) ||
        (st = put(out, cap, n, app.p, app.n)))
        return st;
    if (!cof_str_eq_lit(procid, "-")) {
        if ((st = put(out, cap, n, "[", 1)) || (st = put(out, cap, n, procid.p, procid.n)) ||
            (st = put(out, cap, n, "]", 1)))
            return st;
    }
    if ((st = put(out, cap, n, ": ", 2)) || (st = put(out, cap, n, q, (size_t)(e - q))))
        return st;
    return COF_OK;
}

cof_status cof_syslog_to_line(cof_str msg, char *out, size_t cap, size_t *n)
{
    const char *q = msg.p, *e = msg.p + msg.n;
    unsigned pri = 0, digits = 0;
    *n = 0;
    /* LF / CR left over from framing (octet-counted senders that end with LF) */
    while (e > q && (e[-1] == '\n' || e[-1] == '\r'))
        e--;
    if (q == e || *q != '<')
        return put(out, cap, n, q, (size_t)(e - q));
    q++;
    while (q < e && *q >= '0' && *q <= '9') {
        if (++digits > 3 || (digits == 2 && pri == 0))
            return COF_ERR(COF_BADINPUT, "syslog PRI malformed");
        pri = pri * 10 + (unsigned)(*q - '0');
        q++;
    }
    if (digits == 0 || q >= e || *q != '>' || pri > 191)
        return COF_ERR(COF_BADINPUT, "syslog PRI malformed");
    q++;
    if (e - q >= 2 && q[0] == '1' && q[1] == ' ')
        return from_5424(q + 2, e, out, cap, n);
    /* RFC 3164 (or rsyslog's ForwardFormat with an RFC 3339 stamp): the rest is the
     * log line; the Postfix parser validates the stamp. */
    if (q == e || *q == ' ' || *q == '-')
        return COF_ERR(COF_BADINPUT, "RFC 3164 syslog message without timestamp");
    return put(out, cap, n, q, (size_t)(e - q));
}
