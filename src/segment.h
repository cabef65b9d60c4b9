/* segment.h - immutable columnar segment files.
 *
 * A segment holds the records of ONE tenant and ONE UTC day, so destroying that
 * tenant-day's data key (crypto-shredding) makes exactly that data unreadable.
 * Rows are sorted by time. Each column is split into blocks of COF_SEG_BLOCK_ROWS
 * rows, encoded (dictionary / delta / bit-packing), zstd-compressed and checksummed;
 * blocks of sealed columns are additionally AEAD-encrypted (XChaCha20-Poly1305) with
 * the tenant-day data key and associated data binding tenant, segment id, column and
 * block, so a block moved anywhere else fails to decrypt. A per-segment token index
 * maps blind tokens to row ids and a per-block time range lets lookups and scans skip
 * blocks, so no lookup reads a whole segment.
 *
 * Segment files are hostile input: every header, offset, length, checksum and
 * decompressed size is validated before use; failures return COF_CORRUPT with the
 * path in the error detail, and never crash.
 *
 * Writing is crash-safe: the writer writes "<path>.tmp", fsyncs it, renames it to
 * path and fsyncs the directory; a crash leaves either no segment or a whole one. */
#ifndef COF_SEGMENT_H
#define COF_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include "record.h"
#include "status.h"

#ifndef COF_KEY_LEN
#define COF_KEY_LEN 32
#endif

typedef struct {
    char tenant[COF_MAX_TENANT_NAME + 1]; /* NUL-terminated */
    uint32_t day;                         /* UTC days since 1970-01-01 of every row */
    uint64_t seg_id;                      /* unique within the store; bound into AEAD AD */
} cof_seg_meta;

/* ---- writing ---- */
typedef struct cof_segw cof_segw;

/* Start a segment. key is the tenant-day data key (copied into guarded memory). */
cof_status cof_segw_open(const char *path, const cof_seg_meta *meta,
                         const uint8_t key[COF_KEY_LEN], cof_segw **out) COF_MUST_USE;
/* Add one record; its strings are copied. Rows may come in any time order.
 * COF_LIMIT past COF_SEG_MAX_ROWS. */
cof_status cof_segw_add(cof_segw *w, const cof_record *r) COF_MUST_USE;
/* Sort, encode, write, fsync, rename, fsync directory. On success the file is durable. */
cof_status cof_segw_finish(cof_segw *w) COF_MUST_USE;
/* Free; removes the temporary file if finish did not succeed. NULL is fine. */
void cof_segw_free(cof_segw *w);

/* ---- reading ---- */
typedef struct cof_seg cof_seg;

/* Open and validate header, footer and metadata checksums. Column blocks are read and
 * verified lazily when used. */
cof_status cof_seg_open(const char *path, cof_seg **out) COF_MUST_USE;
void cof_seg_close(cof_seg *s);

const cof_seg_meta *cof_seg_meta_get(const cof_seg *s);
uint32_t cof_seg_nrows(const cof_seg *s);
int64_t cof_seg_min_time(const cof_seg *s);
int64_t cof_seg_max_time(const cof_seg *s);
/* Bytes on disk. */
uint64_t cof_seg_file_size(const cof_seg *s);

/* Row ids (ascending) whose token for field f equals token. Writes at most cap ids to
 * rows and the total number of matches to *n (which may exceed cap). */
cof_status cof_seg_lookup(cof_seg *s, cof_field f, const uint8_t token[COF_TOKEN_LEN],
                          uint32_t *rows, size_t cap, size_t *n) COF_MUST_USE;

/* Row ids (ascending) whose clear value of field f equals value exactly. Same contract
 * as cof_seg_lookup; uses the column dictionary so absent values cost nothing. */
cof_status cof_seg_lookup_clear(cof_seg *s, cof_field f, cof_str value, uint32_t *rows,
                                size_t cap, size_t *n) COF_MUST_USE;

/* Called once per row with the full record. The record and its strings are valid only
 * during the call. With key == NULL sealed columns are not decrypted and sealed[] is
 * empty; tokens are filled either way. */
typedef cof_status (*cof_seg_row_fn)(void *ctx, uint32_t row, const cof_record *r);

/* Materialize the given rows (ascending ids). key: the tenant-day data key or NULL.
 * A sealed block that fails authentication is COF_CORRUPT (wrong key or moved block). */
cof_status cof_seg_get(cof_seg *s, const uint8_t *key, const uint32_t *rows, size_t n,
                       cof_seg_row_fn fn, void *ctx) COF_MUST_USE;

/* cof_seg_get without tokens: token_mask is 0 and token[] untouched. For queries, which
 * find rows through the index and never need row -> token; cof_seg_get builds that
 * inverse from every index page on first use (memory bounded by the segment: 4 bytes
 * per row and 8 per distinct token of each indexed field, kept until close). */
cof_status cof_seg_get_notokens(cof_seg *s, const uint8_t *key, const uint32_t *rows, size_t n,
                                cof_seg_row_fn fn, void *ctx) COF_MUST_USE;

/* A decoded block of clear columns, for aggregation. Arrays hold nrows entries.
 * clear_id[f] is non-NULL for each field requested in field_mask; the id indexes
 * the segment-wide dictionary dict[f]: ids run from 0 to dict_n[f] inclusive, and
 * dict[f][0] is the empty string ("absent"). */
typedef struct {
    uint32_t first_row;
    uint32_t nrows;
    const int64_t *time_us;
    const uint8_t *status;
    const uint8_t *direction;
    const int32_t *delay_ms;
    const uint64_t *size;
    const uint32_t *clear_id[COF_NFIELDS];
    const cof_str *dict[COF_NFIELDS];
    uint32_t dict_n[COF_NFIELDS];
} cof_seg_block;

typedef cof_status (*cof_seg_block_fn)(void *ctx, const cof_seg_block *b);

/* Visit every block overlapping [since, until) (microseconds; rows outside the range may
 * still appear in boundary blocks: the callback filters on time_us). field_mask selects
 * clear string columns (bit f); time, status, direction, delay and size are always
 * decoded. Sealed columns are never touched. */
cof_status cof_seg_scan(cof_seg *s, uint32_t field_mask, int64_t since, int64_t until,
                        cof_seg_block_fn fn, void *ctx) COF_MUST_USE;

/* Numeric columns cof_seg_scan2 decodes besides time (which it always decodes). */
#define COF_SCAN_STATUS 1u
#define COF_SCAN_DIRECTION 2u
#define COF_SCAN_DELAY 4u
#define COF_SCAN_SIZE 8u
#define COF_SCAN_ALL 15u

/* cof_seg_scan that decodes only the numeric columns in num_mask (COF_SCAN_*) besides
 * time; the block's pointers for the others are NULL. An aggregation over status and a
 * clear field reads three columns per block instead of six. COF_BADINPUT for unknown
 * bits. cof_seg_scan(s, m, ...) is cof_seg_scan2(s, m, COF_SCAN_ALL, ...). */
cof_status cof_seg_scan2(cof_seg *s, uint32_t field_mask, uint32_t num_mask, int64_t since,
                         int64_t until, cof_seg_block_fn fn, void *ctx) COF_MUST_USE;

/* Read every block of every column and verify checksums and (with key) AEAD tags.
 * Used by `coffer verify` and by tests. */
cof_status cof_seg_verify(cof_seg *s, const uint8_t *key) COF_MUST_USE;

/* Bound the memory this handle keeps of decoded blocks, index pages and rows
 * materialized by cof_seg_get_notokens (default 8 MiB); 0 disables caching. Sealed plaintext in the cache is only served to callers
 * presenting the key that decrypted it and is wiped on eviction and close. */
void cof_seg_set_cache(cof_seg *s, size_t max_bytes);

#endif
