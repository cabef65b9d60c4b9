/* fuzz_probe.c - every parser of what a probed service answers, on arbitrary bytes: the
 * HTTP response head/body (with de-chunking) and header lookup, directory listings,
 * Redis INFO, memcached stats, PostgreSQL messages, the MySQL greeting and reply
 * packets, MongoDB OP_MSG/OP_REPLY with BSON, and the banner cleaner. The first byte
 * picks nothing: every parser sees every input. Checks the outputs' own bounds;
 * ASan/UBSan catch the rest. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "probe_int.h"

static uint8_t scratch[COF_PROBE_MAX_READ];

int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n)
{
    cof_http_resp r;
    if (cof_http_parse(d, n, scratch, sizeof scratch, &r) == COF_OK) {
        if (r.body.n > n && r.body.p != (const char *)scratch)
            abort();
        cof_str h = cof_http_header(r.head, "Content-Length");
        if (h.n > r.head.n)
            abort();
        cof_dirlist dl;
        cof_dirlist_parse(r.body, &dl);
        if (strlen(dl.example) >= sizeof dl.example)
            abort();
    }
    cof_dirlist dl;
    cof_dirlist_parse(cof_str_make((const char *)d, n), &dl);
    cof_redis_info ri;
    if (cof_redis_info_parse(d, n, &ri) == COF_OK && strlen(ri.version) >= sizeof ri.version)
        abort();
    cof_mc_stats mc;
    if (cof_mc_stats_parse(d, n, &mc) == COF_OK && strlen(mc.version) >= sizeof mc.version)
        abort();
    cof_pg_reply pg;
    if (cof_pg_parse(d, n, &pg) == COF_OK && strlen(pg.version) >= sizeof pg.version)
        abort();
    cof_my_greeting g;
    if (cof_my_greeting_parse(d, n, &g) == COF_OK &&
        (strlen(g.version) >= sizeof g.version || strlen(g.plugin) >= sizeof g.plugin))
        abort();
    int kind;
    uint8_t seq;
    (void)!cof_my_packet_kind(d, n, &kind, &seq);
    cof_mongo_reply m;
    if (cof_mongo_parse(d, n, &m) == COF_OK &&
        (strlen(m.first_db) >= sizeof m.first_db || strlen(m.version) >= sizeof m.version))
        abort();
    char clean[96];
    cof_probe_clean((const char *)d, n, clean, sizeof clean);
    for (size_t i = 0; clean[i]; i++)
        if ((unsigned char)clean[i] < 0x20 || (unsigned char)clean[i] >= 0x7F || clean[i] == '"')
            abort();
    return 0;
}
