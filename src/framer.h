/* framer.h - syslog over a byte stream: RFC 5425 octet counting and RFC 6587
 * non-transparent (newline) framing, and the syslog message -> log line conversion.
 *
 * Framing is decided per frame: a frame that starts with a digit is octet-counted
 * ("MSG-LEN SP SYSLOG-MSG", MSG-LEN 1..COF_MAX_SYSLOG_FRAME without leading zeros),
 * anything else runs to the next LF (a trailing CR is dropped). A newline frame longer
 * than the maximum is skipped up to its LF and counted; an octet count that is too
 * large or malformed is a protocol error: the stream cannot be resynchronized, the
 * connection must be closed. The framer never allocates from a declared length: it
 * keeps at most COF_MAX_SYSLOG_FRAME bytes of one partial frame. */
#ifndef COF_FRAMER_H
#define COF_FRAMER_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "str.h"

#define COF_MAX_SYSLOG_FRAME 8192 /* RFC 5425 requires >= 2048; COF_MAX_LINE */

typedef struct {
    int state;                        /* internal */
    size_t want;                      /* octet count being read */
    size_t have;
    size_t digits;
    uint64_t frames, oversized;       /* counters */
    uint8_t buf[COF_MAX_SYSLOG_FRAME];
} cof_framer;

/* Called once per complete frame; frame valid during the call. Non-OK stops feeding
 * and is returned by cof_framer_feed. */
typedef cof_status (*cof_frame_fn)(void *ctx, cof_str frame);

void cof_framer_init(cof_framer *f);
/* Feed n bytes. OK, or COF_BADINPUT on a protocol error (close the connection). */
cof_status cof_framer_feed(cof_framer *f, const uint8_t *p, size_t n, cof_frame_fn fn,
                           void *ctx) COF_MUST_USE;
/* End of stream: a pending newline frame without its LF is delivered; a partial
 * octet-counted frame is COF_BADINPUT. */
cof_status cof_framer_finish(cof_framer *f, cof_frame_fn fn, void *ctx) COF_MUST_USE;

/* Convert one syslog message to the log-line form the Postfix parser reads:
 *   RFC 5424 "<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD [BOM]MSG"
 *        -> "TIMESTAMP HOST APP[PROCID]: MSG"   (PROCID "-" -> "APP: MSG")
 *   RFC 3164 "<PRI>Mmm dd hh:mm:ss HOST TAG: MSG" -> the same without "<PRI>"
 *   anything without "<PRI>" is passed through unchanged.
 * LF/CR bytes ending msg are dropped; in RFC 5424 one SP starting MSG is dropped too
 * (rsyslog keeps the space after a "tag:" it received locally).
 * NILVALUE "-" timestamps or hosts are COF_BADINPUT. out has cap bytes; *n the length. */
cof_status cof_syslog_to_line(cof_str msg, char *out, size_t cap, size_t *n) COF_MUST_USE;

#endif
