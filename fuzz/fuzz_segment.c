/* fuzz_segment.c - libFuzzer target: arbitrary bytes as a segment file must never
 * crash open, lookup, lookup_clear, get and get_notokens (with and without the key, the
 * latter twice so the row cache serves it), scan, scan2 or verify.
 *
 * The input is written to a temporary file and opened twice: normally, and with
 * checksums off (COF_SEG_OPEN_NOCRC) so mutations reach the decoders behind them.
 * Seeds: run with COF_FUZZ_SEED_DIR=dir once to write valid segments (sealed with the
 * fuzzer's fixed key) into dir, then fuzz with that directory as the corpus. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "seal.h"
#include "segment.h"
#include "segment_int.h"

static const uint8_t fkey[COF_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
                                           17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29,
                                           30, 31, 32 };
static char tmp_path[64];

static void write_seed(const char *dir, const char *name, int nrows)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    unlink(path);
    cof_seg_meta m = { "fuzz", 20000, 77 };
    cof_segw *w;
    if (cof_segw_open(path, &m, fkey, &w))
        return;
    static const char *const v[] = { "a@x.example", "b@y.example", "<m1@z>", "10.0.0.1", "" };
    for (int i = 0; i < nrows; i++) {
        cof_record r;
        cof_record_init(&r);
        r.time_us = (int64_t)20000 * 86400000000LL + (int64_t)(nrows - i) * 1000003;
        r.status = (uint8_t)(i % 3);
        r.direction = (uint8_t)(i % 4);
        r.delay_ms = i % 5 ? i * 10 : COF_NO_DELAY;
        r.delays_ms[1] = i * 10;
        r.size = (uint64_t)i * 977;
        r.nrcpt = (uint32_t)(i % 3);
        r.relay_port = i % 2 ? 25 : 0;
        r.clear[COF_F_HOST] = cof_str_c(i % 2 ? "mx1" : "mx2");
        r.clear[COF_F_RECIPIENT] = cof_str_c(i % 3 ? "x.example" : "y.example");
        r.sealed[COF_F_RECIPIENT] = cof_str_c(v[i % 2]);
        r.sealed[COF_F_MESSAGE_ID] = cof_str_c(v[2 + i % 3]);
        r.sealed[COF_F_SUBJECT] = cof_str_c(i % 4 ? "hello" : "");
        for (int f = COF_F_QUEUE_ID; f <= COF_F_RECIPIENT; f += 3) {
            memset(r.token[f], i % 7 + f, COF_TOKEN_LEN);
            r.token_mask |= 1u << f;
        }
        if (cof_segw_add(w, &r))
            break;
    }
    if (cof_segw_finish(w))
        fprintf(stderr, "seed %s: %s\n", path, cof_err_msg());
    cof_segw_free(w);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    if (cof_seal_init())
        abort();
    snprintf(tmp_path, sizeof tmp_path, "/tmp/fuzz_segment-%d.seg", (int)getpid());
    const char *dir = getenv("COF_FUZZ_SEED_DIR");
    if (dir) {
        write_seed(dir, "seed-small.seg", 7);
        write_seed(dir, "seed-blocks.seg", COF_SEG_BLOCK_ROWS + 40);
    }
    return 0;
}

static cof_status row_cb(void *ctx, uint32_t row, const cof_record *r)
{
    size_t *sum = ctx;
    for (int f = 0; f < COF_NFIELDS; f++)
        *sum += r->clear[f].n + r->sealed[f].n + (r->clear[f].n ? (uint8_t)r->clear[f].p[0] : 0) +
                (r->sealed[f].n ? (uint8_t)r->sealed[f].p[r->sealed[f].n - 1] : 0);
    *sum += row;
    return COF_OK;
}

static cof_status blk_cb(void *ctx, const cof_seg_block *b)
{
    size_t *sum = ctx;
    for (uint32_t i = 0; i < b->nrows; i++) {
        *sum += b->status[i] + b->direction[i] + (size_t)b->time_us[i] + b->size[i];
        uint32_t id = b->clear_id[COF_F_RECIPIENT][i];
        if (b->dict[COF_F_RECIPIENT])
            *sum += b->dict[COF_F_RECIPIENT][id].n;
    }
    return COF_OK;
}

static cof_status blk2_cb(void *ctx, const cof_seg_block *b)
{
    size_t *sum = ctx;
    for (uint32_t i = 0; i < b->nrows; i++)
        *sum += b->status[i] + (size_t)b->time_us[i] + b->clear_id[COF_F_HOST][i];
    return COF_OK;
}

static void exercise(cof_seg *s, const uint8_t *data, size_t size)
{
    static uint32_t rows[4096];
    size_t n = 0, sum = 0;
    uint8_t tok[COF_TOKEN_LEN] = { 0 };
    for (int f = 0; f < COF_NFIELDS; f++) {
        memset(tok, (f % 7) + f, sizeof tok);
        (void)cof_seg_lookup(s, (cof_field)f, tok, rows, 4096, &n);
        if (size >= COF_TOKEN_LEN)
            (void)cof_seg_lookup(s, (cof_field)f, data + size - COF_TOKEN_LEN, rows, 4096, &n);
    }
    (void)cof_seg_lookup_clear(s, COF_F_RECIPIENT, COF_STR_LIT("x.example"), rows, 4096, &n);
    (void)cof_seg_lookup(s, COF_F_RECIPIENT, tok, rows, 4096, &n);
    uint32_t nr = cof_seg_nrows(s);
    size_t k = 0;
    for (uint32_t r = 0; r < nr && k < 4096; r += 1 + r / 8)
        rows[k++] = r;
    (void)cof_seg_get(s, fkey, rows, k, row_cb, &sum);
    (void)cof_seg_get(s, NULL, rows, k, row_cb, &sum);
    for (int rep = 0; rep < 2; rep++) {
        (void)cof_seg_get_notokens(s, fkey, rows, k, row_cb, &sum);
        (void)cof_seg_get_notokens(s, NULL, rows, k, row_cb, &sum);
    }
    (void)cof_seg_scan2(s, 1u << COF_F_HOST, COF_SCAN_STATUS, INT64_MIN, INT64_MAX, blk2_cb, &sum);
    (void)cof_seg_scan(s, 1u << COF_F_RECIPIENT | 1u << COF_F_HOST, INT64_MIN, INT64_MAX, blk_cb,
                       &sum);
    (void)cof_seg_verify(s, fkey);
    (void)cof_seg_verify(s, NULL);
    (void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *f = fopen(tmp_path, "wb");
    if (!f)
        return 0;
    if (size && fwrite(data, 1, size, f) != size) {
        fclose(f);
        return 0;
    }
    fclose(f);
    for (unsigned flags = 0; flags <= COF_SEG_OPEN_NOCRC; flags += COF_SEG_OPEN_NOCRC) {
        cof_seg *s;
        if (cof_seg_open_flags(tmp_path, flags, &s) == COF_OK) {
            exercise(s, data, size);
            cof_seg_close(s);
        }
    }
    unlink(tmp_path);
    return 0;
}
