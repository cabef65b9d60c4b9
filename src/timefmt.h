/* timefmt.h - parsing and printing times and durations for the CLI and JSON. */
#ifndef COF_TIMEFMT_H
#define COF_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "str.h"

/* "2026-11-23", "2026-11-23T14:02:03Z", "2026-11-23 14:02", with optional fraction and
 * "+hh:mm" offset (UTC when none); or a duration ("2h", "30m", "7d") meaning that long
 * before now_us. */
cof_status cof_time_parse(cof_str s, int64_t now_us, int64_t *out_us) COF_MUST_USE;
/* "90s", "15m", "1h", "1d" (and plain seconds) -> microseconds. */
cof_status cof_duration_parse(cof_str s, int64_t *out_us) COF_MUST_USE;
/* RFC 3339 UTC with microseconds: "2026-11-23T14:02:03.123456Z" (buf >= 32 bytes). */
const char *cof_time_format(int64_t us, char *buf, size_t cap);
/* The same to whole seconds ("2026-11-24T01:02:03Z"), for people. */
const char *cof_time_format_sec(int64_t us, char *buf, size_t cap);
int64_t cof_time_now_us(void);

#endif
