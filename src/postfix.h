/* postfix.h - one Postfix syslog line -> its parts.
 *
 * Accepted layouts (the message part is the same in all of them):
 *   classic syslog / Postfix maillog_file:  "Nov 23 14:02:03 host postfix/smtp[123]: msg"
 *       (day space- or zero-padded; an optional ".ffffff" fraction after the seconds)
 *   RFC 3339 (rsyslog high precision, Postfix 3.4+ maillog_file on some builds):
 *       "2026-11-23T14:02:03.123456+01:00 host postfix/smtp[123]: msg"
 *
 * Classic stamps carry no year and no zone: the year comes from cof_pf_clock (fixed,
 * or inferred from "now" with Dec->Jan rollover tracking); the zone is the clock's
 * tz_off_s (default 0: the stamps are taken as UTC).
 *
 * Ownership: every cof_str in a cof_pf_line points into the caller's line buffer. */
#ifndef COF_POSTFIX_H
#define COF_POSTFIX_H

#include <stdint.h>

#include "correlate.h"
#include "status.h"
#include "str.h"

typedef struct {
    int64_t time_us;   /* UTC microseconds since the epoch */
    cof_str host;      /* syslog host field */
    cof_str instance;  /* syslog_name up to its first '/': "postfix", "postfix-out" */
    cof_str service;   /* syslog_name after its last '/': "smtpd", "qmgr", ... */
    uint32_t pid;      /* 0 if the tag had no [pid] */
    cof_str queue_id;  /* empty if none; "NOQUEUE" when Postfix logged that */
    cof_str text;      /* message after "QID: ", or after "]: " when no queue id */
} cof_pf_line;

/* Year inference state for classic stamps; one per input stream. */
typedef struct {
    int fixed_year;    /* year of the first classic stamp if non-zero */
    int year;          /* current year of the stream (0 until the first classic stamp) */
    int last_mon;      /* 1..12 of the last classic stamp (0: none yet) */
    int now_year;      /* "now", for the first stamp when fixed_year is 0 */
    int now_mon;
    int32_t tz_off_s;  /* classic stamps are local time at UTC + tz_off_s */
    /* one-entry cache: days since the epoch of (c_year, c_mon, c_day) */
    int c_year, c_mon, c_day;
    int64_t c_days;
} cof_pf_clock;

/* year: 0 to infer from now_us (0: the real clock); a classic stamp whose month is
 * later than now's month is taken to be from last year. Rollover: a month step back
 * of more than six months (Dec -> Jan, or Oct -> Mar across a quiet spell) moves to the
 * next year; a Dec stamp right after Jan (a late line) is read as the previous year
 * without changing the state; smaller steps back are not rollovers. */
void cof_pf_clock_init(cof_pf_clock *ck, int year, int64_t now_us);

/* Parse one line (without its newline; a trailing '\r' is ignored). Never reads
 * past line.n, never needs NUL termination, never allocates.
 * COF_OK: *out is filled and *skip is COF_SKIP_NONE.
 * COF_BADINPUT: *skip says why (OVERLONG, BINARY, UTF8, TIME, NOT_POSTFIX, MALFORMED);
 * no error detail is recorded (skips are counted, not reported, and this is the hot
 * path). */
cof_status cof_pf_parse(cof_pf_clock *ck, cof_str line, cof_pf_line *out,
                        cof_skip_reason *skip) COF_MUST_USE;

/* One item of a Postfix "key=value, key=value" list. */
typedef struct {
    cof_str key;   /* empty for an item without '=' ("returned to sender") */
    cof_str val;   /* "<...>" values without the angle brackets */
    cof_str note;  /* text of a " (...)" after the value, which always ends the list:
                      "sent (250 2.0.0 Ok)" -> val "sent", note "250 2.0.0 Ok" */
    int quoted;    /* 1 if val was written in <...> */
} cof_pf_kv;

/* Take the next item from *rest (advanced past it and its ", " separator).
 * COF_OK: *kv filled. COF_AGAIN: the list is finished (not an error).
 * COF_BADINPUT: a "<" value without its closing ">" (a line cut short). */
cof_status cof_pf_kv_next(cof_str *rest, cof_pf_kv *kv) COF_MUST_USE;

/* "host[ip]:port" / "host[ip]" / "host" -> parts (port 0 if absent or invalid). */
void cof_pf_split_peer(cof_str s, cof_str *host, cof_str *ip, uint16_t *port);

/* Decimal seconds ("1.2", "0.01", "12") -> milliseconds, capped at INT32_MAX;
 * COF_NO_DELAY on malformed input. */
int32_t cof_pf_seconds_ms(cof_str s);

/* 1 if s looks like a Postfix queue id: short (5..12 of [0-9A-F]) or long
 * (10..20 alphanumerics without vowels, the enable_long_queue_ids alphabet). */
int cof_pf_is_queue_id(cof_str s);

/* First / last occurrence of needle (non-empty) in s, or NULL. */
const char *cof_pf_find(cof_str s, const char *needle);
const char *cof_pf_rfind(cof_str s, const char *needle);

/* "... TLS connection established {from,to} PEER: PROTO with cipher CIPHER ..." (smtpd,
 * smtp, lmtp): peer is "host[ip]" or "host[ip]:port". Returns 1 if text is such a
 * line (proto/cipher may be empty if the tail is cut), else 0. */
int cof_pf_tls_established(cof_str text, cof_str *peer, cof_str *proto, cof_str *cipher);

/* The enhanced status code in a reply ("554 5.7.1 ..." or "5.7.1 ..."), or empty. */
cof_str cof_pf_dsn_in(cof_str resp);

/* An smtpd / cleanup access or content action:
 *   smtpd:   "reject: RCPT from host[ip]: 554 5.7.1 text; from=<s> to=<r> proto=P helo=<h>"
 *   cleanup: "reject: header Subject: x from host[ip]; from=<s> to=<r> proto=P helo=<h>: 5.7.1 text"
 *            "milter-reject: END-OF-MESSAGE from host[ip]: 5.7.1 text; from=<s> ..."
 * (also discard:, hold:, milter-discard:, milter-hold:). All slices point into text. */
typedef struct {
    int status; /* cof_delivery_status: REJECTED, DISCARDED or HELD */
    cof_str client_host, client_ip, sender, recipient, response, dsn;
    cof_str subject; /* for "header Subject: ..." */
} cof_pf_action;

/* COF_OK: *out filled. COF_AGAIN: not an action (or an unknown layout).
 * COF_BADINPUT: a "<" value cut short. */
cof_status cof_pf_action_parse(cof_str text, cof_pf_action *out) COF_MUST_USE;

/* The same for the part after the action word, e.g. the "header Subject: x from
 * host[ip]; from=<s> to=<r> ..." of a cleanup "warning:" or "info:" line. */
cof_status cof_pf_action_body(cof_str rest, cof_pf_action *out) COF_MUST_USE;

/* Days since 1970-01-01 of a proleptic Gregorian date (no validation). */
int64_t cof_pf_days_from_civil(int y, int m, int d);

#endif
