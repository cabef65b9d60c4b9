/* segment_int.h - on-disk format of segment files, shared by the writer
 * (segment_write.c) and the reader (segment.c). Not for other modules.
 *
 * Layout (all integers little-endian):
 *
 *   header  32 bytes  "COFSEG01" | u32 version | u32 header_len | u64 seg_id |
 *                     u32 flags (0) | u32 crc32c(bytes 0..28)
 *   frames            column blocks, clear dictionaries, token index pages
 *   meta              one zstd frame (see below), crc32c in the footer
 *   footer  36 bytes  u64 meta_off | u32 meta_len | u32 meta_raw | u32 meta_crc |
 *                     u32 version | "COFSEGF1" | u32 crc32c(bytes 0..32)
 *
 * A frame is referenced as {u64 off, u32 len, u32 raw, u32 crc}: len bytes at off in
 * the file, whose crc32c is crc; once decoded they give raw bytes. Clear frames are a
 * single zstd frame with the content size recorded; sealed frames are
 * XChaCha20-Poly1305 boxes (nonce | ciphertext | tag) of such a zstd frame.
 *
 * meta (decompressed):
 *   u32 nrows | u32 day | u64 seg_id | u8 tenant_len | tenant | i64 min_time |
 *   i64 max_time | u32 nblocks | nblocks x (i64 tmin, i64 tmax) |
 *   u32 ncols | ncols x (u8 kind | u8 field | u32 dict_n | [dict frame if CLEAR] |
 *                        nblocks x frame) |
 *   u32 nidx | nidx x (u8 field | u32 ntokens | u32 npages |
 *                      npages x (token[8] | u32 ntok | frame))
 *
 * Block payloads (n = rows in the block, the last block may be short):
 *   TIME    u64 first | varint scale>=1 | varint dmin | u8 w<=64 |
 *           (n-1) x w bits ((t[i]-t[i-1])/scale - dmin)
 *   STATUS, DIR, CLEAR   u8 width | n values bit-packed LSB first
 *   DELAY, SIZE, NRCPT, PORT   one integer block (cof_colenc_ints: frame of reference
 *           with a common factor, or a sorted per-block dictionary of distinct values);
 *           signed values as (uint64_t)v ^ 1 << 63
 *   DELAYS  4 integer blocks (a, b, c, d)
 *   SEALED  varint D | n row codes | D x (varint len | bytes)   -- inside the AEAD box
 * Row codes: 0 no value, 1 the next new entry, k >= 2 the entry (next - k + 1), so
 * values repeated in nearby rows cost a byte or less before zstd.
 * Entries are the block's distinct sealed values in first-row order.
 * There are no per-row token columns (version 1 had them): the token index is the only
 * place tokens are stored; readers rebuild row -> token from it when asked to.
 *
 * Index page payload: varint k | k tokens byte-transposed (8 planes of k bytes, so the
 *   shared leading bytes of sorted tokens compress) | u8 wc | k x wc bits (count - 1) |
 *   u8 wr | k x wr bits first row | per token in order: count-1 varints (gap - 1).
 * AEAD associated data: "coffer-seg-v1" | u8 tenant_len | tenant zero-padded to 64 |
 *   u64 seg_id | u32 column id (kind << 8 | field) | u32 block index. */
#ifndef COF_SEGMENT_INT_H
#define COF_SEGMENT_INT_H

#include <stdint.h>

#include "segment.h"

#define SEG_MAGIC "COFSEG01"
#define SEG_FOOT_MAGIC "COFSEGF1"
#define SEG_VERSION 2u
#define SEG_HEADER_LEN 32u
#define SEG_FOOTER_LEN 36u
#define SEG_AD_PREFIX "coffer-seg-v1"
#define SEG_AD_LEN (13u + 1u + COF_MAX_TENANT_NAME + 8u + 4u + 4u)
#define SEG_ZLEVEL 3
/* Last UTC day whose end in microseconds fits an int64_t (year 294,247). */
#define SEG_MAX_DAY 106750u
/* Index pages close after this many tokens or raw bytes (one lookup reads one page). */
#define SEG_PAGE_TOKENS 256u
#define SEG_PAGE_BYTES (64u << 10)
/* Default bound on decoded blocks and pages a reader keeps (cof_seg_set_cache). */
#define SEG_CACHE_DEFAULT (8u << 20) /* x 64 open segments in a store */

enum {
    SEGC_TIME = 1,
    SEGC_STATUS,
    SEGC_DIR,
    SEGC_DELAY,
    SEGC_DELAYS,
    SEGC_SIZE,
    SEGC_NRCPT,
    SEGC_PORT,
    SEGC_NNUM, /* numeric kinds are 1..SEGC_NNUM-1; every segment has all of them */
    SEGC_CLEAR = 16,
    SEGC_TOKEN = 17, /* index pages only (and the AEAD/column id space) */
    SEGC_SEALED = 18
};
#define SEG_MAX_COLS (SEGC_NNUM - 1 + 3 * COF_NFIELDS)

typedef struct {
    uint64_t off;
    uint32_t len, raw, crc;
} seg_frame;

/* Associated data binding a sealed block to tenant, segment, column and block. */
void cof_seg_ad(uint8_t ad[SEG_AD_LEN], const cof_seg_meta *m, unsigned kind, unsigned field,
                uint32_t block);

/* Writer knob for benchmarks: zstd level (default SEG_ZLEVEL). */
void cof_segw_set_level(cof_segw *w, int level);

/* Reader flag for the fuzzer only: skip crc32c checks so mutations reach the decoders
 * (everything else is still validated). */
#define COF_SEG_OPEN_NOCRC 1u
cof_status cof_seg_open_flags(const char *path, unsigned flags, cof_seg **out) COF_MUST_USE;

/* Bytes on disk of one column (all blocks, dictionary included); kind SEGC_TOKEN with
 * index = 1 gives the token index pages of field instead. For benchmarks and tools. */
uint64_t cof_seg_column_bytes(const cof_seg *s, unsigned kind, unsigned field, int index);

#endif
