/* fuzz_framer.c - arbitrary bytes through the syslog framer in chunk sizes taken from
 * the input itself, and every frame through cof_syslog_to_line. Checks the framer's
 * bounds (frame length, counters) and that feeding the same bytes in one piece gives
 * the same frames as feeding them in chunks. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "framer.h"

typedef struct {
    uint64_t hash;
    uint64_t frames;
} acc;

static cof_status on_frame(void *ctx, cof_str fr)
{
    acc *a = ctx;
    static char out[COF_MAX_SYSLOG_FRAME];
    size_t n = 0;
    if (fr.n > COF_MAX_SYSLOG_FRAME)
        abort();
    /* an exact-size copy so an over-read of the frame trips ASan */
    char *copy = malloc(fr.n ? fr.n : 1);
    if (!copy)
        abort();
    memcpy(copy, fr.p, fr.n);
    cof_status st = cof_syslog_to_line(cof_str_make(copy, fr.n), out, sizeof out, &n);
    if (st == COF_OK && n > fr.n)
        abort(); /* a line is never longer than its message */
    if (st != COF_OK && st != COF_BADINPUT && st != COF_LIMIT)
        abort();
    /* a small output buffer must fail cleanly, never overflow */
    char tiny[16];
    size_t tn = 0;
    if (cof_syslog_to_line(cof_str_make(copy, fr.n), tiny, sizeof tiny, &tn) == COF_OK && tn > sizeof tiny)
        abort();
    for (size_t i = 0; i < fr.n; i++)
        a->hash = a->hash * 1099511628211u + (unsigned char)copy[i];
    a->hash = a->hash * 31 + fr.n;
    a->frames++;
    free(copy);
    return COF_OK;
}

static cof_framer g_f1, g_f2;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* first byte seeds the chunk sizes */
    unsigned seed = data[0];
    data++;
    size--;
    acc a1 = { 0, 0 }, a2 = { 0, 0 };
    cof_framer_init(&g_f1);
    cof_status s1 = cof_framer_feed(&g_f1, data, size, on_frame, &a1);
    if (s1 == COF_OK)
        s1 = cof_framer_finish(&g_f1, on_frame, &a1);

    cof_framer_init(&g_f2);
    cof_status s2 = COF_OK;
    size_t off = 0;
    while (off < size && s2 == COF_OK) {
        seed = seed * 1103515245u + 12345u;
        size_t k = 1 + (seed >> 16) % 97;
        if (k > size - off)
            k = size - off;
        uint8_t *chunk = malloc(k);
        if (!chunk)
            abort();
        memcpy(chunk, data + off, k);
        s2 = cof_framer_feed(&g_f2, chunk, k, on_frame, &a2);
        free(chunk);
        off += k;
    }
    if (s2 == COF_OK)
        s2 = cof_framer_finish(&g_f2, on_frame, &a2);
    if (s1 != s2 || a1.frames != a2.frames || a1.hash != a2.hash)
        abort(); /* chunking changed the result */
    if (g_f1.frames != a1.frames || g_f1.oversized != g_f2.oversized)
        abort();
    if (g_f1.have > COF_MAX_SYSLOG_FRAME || g_f1.want > COF_MAX_SYSLOG_FRAME)
        abort();
    return 0;
}
