/* jsonl.h - JSON lines from MTAs that log JSON, mapped to delivery events.
 *
 * One JSON object per line; its keys are the event's JSON field names (event.c) plus
 * time, direction, relay_port, status, delay, delays, size and nrcpt. The schema, the
 * accepted value forms and every rejection rule are in docs/JSONL.md. In short:
 * time, status and recipient are required; unknown keys, duplicate keys, wrong types,
 * out-of-range numbers and nesting deeper than 2 (object > array) reject the line;
 * subject and response longer than COF_MAX_FIELD are cut at a UTF-8 boundary, any
 * other string that long rejects the line.
 *
 * Each line is independent: there is no correlation state, so one line gives at most
 * one event. Nothing about a rejected line is logged or stored (it may carry personal
 * data); only the skip reason is reported. */
#ifndef COF_JSONL_H
#define COF_JSONL_H

#include <stdint.h>

#include "correlate.h"
#include "event.h"
#include "status.h"
#include "str.h"

/* Parse one line (without its newline; at most COF_MAX_LINE bytes). pos is the line's
 * position in its source and becomes ev.src_off (ev.src_idx is 0).
 *
 * On a valid line, fn(ctx, &ev) is called once; the event's strings point into memory
 * owned by the parser and are valid only during the call. *skip is set to
 * COF_SKIP_NONE, or to the reason the line was skipped (fn not called):
 *   COF_SKIP_UNKNOWN   blank line (white space only)
 *   COF_SKIP_OVERLONG  longer than COF_MAX_LINE
 *   COF_SKIP_BINARY    a control byte in the line or in a decoded string value
 *   COF_SKIP_UTF8      invalid UTF-8
 *   COF_SKIP_TIME      time missing its form, unparseable or out of range
 *   COF_SKIP_MALFORMED anything else (syntax, type, range, unknown or duplicate key,
 *                      missing required field, nesting too deep).
 * Returns COF_OK (used or skipped), COF_NOMEM, or the callback's non-OK status. */
cof_status cof_jsonl_parse(cof_str line, uint64_t pos, cof_event_fn fn, void *ctx,
                           cof_skip_reason *skip) COF_MUST_USE;

/* RFC 3339 date-time ("2026-11-23T14:02:03.123456Z", "...+01:00"; 'T', 't' or ' '
 * between date and time; no offset means UTC; fraction digits beyond microseconds are
 * dropped; second 60 is accepted) to UTC microseconds since the epoch, for years
 * 1970-9999. Returns 1 on success, 0 if s is not such a time. */
int cof_jsonl_time(cof_str s, int64_t *us);

/* Postfix delay value in seconds ("0.01", "12", "1.2e+02") to milliseconds, rounded,
 * at most INT32_MAX. Returns 1 on success, 0 otherwise. */
int cof_jsonl_seconds_ms(cof_str s, int32_t *ms);

#endif
