/* correlate.h - turns a stream of Postfix log lines into delivery events.
 *
 * Lines are parsed by postfix.c (one line -> cof_pf_line) and correlated by
 * (host, instance, queue id) across smtpd, cleanup, qmgr, the delivery agents
 * (smtp, lmtp, local, virtual, pipe, error, discard), bounce, and NOQUEUE rejections.
 * smtpd and smtp session facts that are logged without a queue id (TLS, connect) are
 * joined by (host, instance, service, pid).
 *
 * Emission order invariant (exactly-once ingest depends on it): events are emitted in
 * non-decreasing order of (pos, src_idx) of the line that completed them, where pos is
 * the caller-supplied, strictly increasing position of each line. A delivery attempt
 * is held back (so that out-of-order message lines can still complete it) until its
 * message is removed or expired, or the log clock passes its time by hold_seconds, or
 * the pending queue is full, or cof_corr_flush(); holding the head holds everything
 * behind it.
 *
 * Memory bound and eviction: at most max_open messages are tracked; when full, the
 * message with the oldest last activity is evicted (its pending attempts are
 * released first). Messages idle longer than idle_seconds of log time are dropped. */
#ifndef COF_CORRELATE_H
#define COF_CORRELATE_H

#include <stdint.h>

#include "event.h"
#include "status.h"
#include "str.h"

/* Why a line was skipped (counted in the ingest summary). */
typedef enum {
    COF_SKIP_NONE = 0,
    COF_SKIP_MALFORMED,   /* not a syslog line we can read */
    COF_SKIP_NOT_POSTFIX, /* another program's line: counted, not an error */
    COF_SKIP_UNKNOWN,     /* a Postfix line that carries nothing we use */
    COF_SKIP_OVERLONG,    /* longer than COF_MAX_LINE */
    COF_SKIP_BINARY,      /* NUL or other control bytes */
    COF_SKIP_UTF8,        /* invalid UTF-8 */
    COF_SKIP_TRUNCATED,   /* cut short (no newline at end of input, or a field cut) */
    COF_SKIP_TIME,        /* unparseable or out-of-range timestamp */
    COF_NSKIP
} cof_skip_reason;

const char *cof_skip_name(cof_skip_reason r);

typedef struct {
    int year;              /* for classic timestamps without a year; 0: infer from now */
    int64_t now_us;        /* "now" for year inference; 0: the real clock */
    uint32_t hold_seconds; /* default 300 */
    uint32_t idle_seconds; /* default 6 days (Postfix maximal_queue_lifetime is 5d) */
    uint32_t max_open;     /* default COF_MAX_OPEN_MESSAGES */
    uint32_t max_pending;  /* pending delivery attempts; default 262144 */
} cof_corr_opts;

void cof_corr_opts_default(cof_corr_opts *o);

/* Receives each completed event. The event's strings live only during the call.
 * A non-OK return stops cof_corr_feed/flush, which return it. */
typedef cof_status (*cof_event_fn)(void *ctx, const cof_event *ev);

typedef struct cof_corr cof_corr;

cof_status cof_corr_new(const cof_corr_opts *o, cof_event_fn fn, void *ctx,
                        cof_corr **out) COF_MUST_USE;
void cof_corr_free(cof_corr *c);

/* Feed one line (without its newline). pos must be strictly greater than the previous
 * line's pos. Returns COF_OK (line used or ignored; *skip says which reason if it
 * was skipped, COF_SKIP_NONE if used), or an error returned by the callback. */
cof_status cof_corr_feed(cof_corr *c, cof_str line, uint64_t pos,
                         cof_skip_reason *skip) COF_MUST_USE;

/* End of input: release every pending attempt (message state is kept). */
cof_status cof_corr_flush(cof_corr *c) COF_MUST_USE;

/* Smallest pos of a line whose event(s) have not been emitted yet, or next_pos if none
 * is pending: every event completed by a line before it has been emitted. */
uint64_t cof_corr_low_water(const cof_corr *c, uint64_t next_pos);

/* Smallest pos of the first line of any message still tracked (next_pos if none):
 * re-reading from here rebuilds the correlation state. */
uint64_t cof_corr_oldest_open(const cof_corr *c, uint64_t next_pos);

/* Counters for the summary and tests. */
typedef struct {
    uint64_t lines;
    uint64_t events;
    uint64_t skipped[COF_NSKIP];
    uint64_t evicted;
    uint64_t open_messages;
    uint64_t pending;
} cof_corr_stats;

void cof_corr_stats_get(const cof_corr *c, cof_corr_stats *out);

#endif
