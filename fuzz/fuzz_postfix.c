/* fuzz_postfix.c - arbitrary bytes, split into lines, through the Postfix line parser
 * and the correlator (tiny limits so eviction and pending-queue pressure are hit),
 * then flushed. Checks the emission-order invariant and that every event string is
 * readable and capped; ASan/UBSan and LeakSanitizer catch the rest. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "correlate.h"
#include "postfix.h"

typedef struct {
    uint64_t off;
    uint32_t idx;
    int any;
    unsigned sink;
} order;

static cof_status check(void *ctx, const cof_event *ev)
{
    order *o = ctx;
    if (o->any && !(ev->src_off > o->off || (ev->src_off == o->off && ev->src_idx > o->idx)))
        abort(); /* emission order invariant broken */
    o->any = 1;
    o->off = ev->src_off;
    o->idx = ev->src_idx;
    for (int f = 0; f < COF_NFIELDS; f++) {
        if (ev->f[f].n > COF_MAX_FIELD)
            abort();
        for (size_t i = 0; i < ev->f[f].n; i++)
            o->sink += (unsigned char)ev->f[f].p[i];
    }
    if (ev->f[COF_F_TENANT].n)
        abort();
    return COF_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cof_corr_opts o;
    cof_corr_opts_default(&o);
    o.year = 2026;
    o.now_us = 1;
    o.max_open = 4;
    o.max_pending = 8;
    o.hold_seconds = 60;
    o.idle_seconds = 3600;
    order ord = { 0, 0, 0, 0 };
    cof_corr *c;
    if (cof_corr_new(&o, check, &ord, &c) != COF_OK)
        return 0;
    const char *p = (const char *)data, *e = p + size;
    uint64_t pos = 0;
    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        size_t n = nl ? (size_t)(nl - p) : (size_t)(e - p);
        /* each line in its own exact-size buffer so over-reads are caught */
        char *line = malloc(n ? n : 1);
        if (!line)
            break;
        memcpy(line, p, n);
        cof_skip_reason sk;
        pos += n + 1;
        if (cof_corr_feed(c, cof_str_make(line, n), pos, &sk) != COF_OK)
            abort();
        if ((unsigned)sk >= COF_NSKIP)
            abort();
        /* the helpers on their own, on the same bytes */
        cof_str rest = cof_str_make(line, n);
        cof_pf_kv kv;
        int guard = 0;
        while (cof_pf_kv_next(&rest, &kv) == COF_OK && guard++ < 10000)
            ;
        cof_pf_action ac;
        (void)cof_pf_action_parse(cof_str_make(line, n), &ac);
        cof_str peer, proto, cipher;
        (void)cof_pf_tls_established(cof_str_make(line, n), &peer, &proto, &cipher);
        free(line);
        if (cof_corr_low_water(c, pos + 1) > pos + 1 || cof_corr_oldest_open(c, pos + 1) > pos + 1)
            abort();
        p += n + 1;
    }
    if (cof_corr_flush(c) != COF_OK)
        abort();
    cof_corr_stats st;
    cof_corr_stats_get(c, &st);
    if (st.pending != 0 || st.open_messages > o.max_open)
        abort();
    cof_corr_free(c);
    return 0;
}
