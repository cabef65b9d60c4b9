/* fuzz_record.c - the record decoder (WAL frame payloads) and the time and duration
 * parsers on arbitrary bytes. */
#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "timefmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cof_rd rd = cof_rd_make(data, size);
    cof_record r;
    int n = 0;
    while (rd.p < rd.end && n++ < 1000 && cof_record_decode(&rd, &r) == COF_OK) {
        cof_buf b;
        cof_buf_init(&b, 1 << 20);
        if (cof_record_encode(&r, &b) == COF_OK) {
            cof_rd again = cof_rd_make(b.p, b.n);
            cof_record r2;
            if (cof_record_decode(&again, &r2) != COF_OK || r2.time_us != r.time_us)
                __builtin_trap(); /* what we encode we must decode */
        }
        cof_buf_free(&b);
    }
    int64_t t;
    cof_str s = cof_str_make((const char *)data, size);
    (void)cof_time_parse(s, 1700000000000000LL, &t);
    (void)cof_duration_parse(s, &t);
    return 0;
}
