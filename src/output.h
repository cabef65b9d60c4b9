/* output.h - rendering trails and statistics as text tables and JSON (jansson).
 * Shared by the CLI and, later, the HTTP API, so both show the same thing. */
#ifndef COF_OUTPUT_H
#define COF_OUTPUT_H

#include <stdio.h>

#include <jansson.h>

#include "buf.h"
#include "query.h"

/* Display value of field f of r into buf: the unsealed value (masked as j***@d if
 * masked is set), else what the clear column allows ("***@domain", a prefix). */
const char *cof_output_value(const cof_record *r, cof_field f, int masked, char *buf,
                             size_t cap);

/* One event as a JSON object with the documented field names. NULL on no memory. */
json_t *cof_output_event_json(const cof_record *r, int masked);

/* The same object written straight into b (the server's hot path: no jansson tree). */
cof_status cof_output_event_jsonbuf(const cof_record *r, int masked, cof_buf *b) COF_MUST_USE;

void cof_output_trail_table(FILE *f, const cof_trail *t, int masked);
cof_status cof_output_trail_json(FILE *f, const cof_trail *t, int masked) COF_MUST_USE;

void cof_output_stats_table(FILE *f, const cof_stats *s, uint32_t by, int64_t bucket_us);
cof_status cof_output_stats_json(FILE *f, const cof_stats *s, uint32_t by,
                                 int64_t bucket_us) COF_MUST_USE;

#endif
