/* segment_int.h - on-disk format of segment files, shared by the writer
 * (segment_write.c) and the reader (segment.c, segment_read.c), and the reader's
 * state shared by its two files. Not for other modules.
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
#include <string.h>
#include <zstd.h>

#include "colenc.h"
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

/* ---- reader state: segment.c (open, frames, decoders, cache, index pages,
 * dictionaries) and segment_read.c (queries). Every cof_segi_ function takes the
 * handle of one caller (cof_seg is not thread-safe) and reports errors via COF_ERR. */

#define SEG_BR COF_SEG_BLOCK_ROWS
#define SEG_NKINDS 32
#define SEG_CACHE_BUCKETS 4096u
#define SEG_KEY_PAGE 0x10000u /* cache key1 for index pages: SEG_KEY_PAGE | field */
#define SEG_KEY_ROW 0x20000u  /* cache key1 for materialized rows (key2: row id) */

#define SEG_BAD(s, what) COF_ERR(COF_CORRUPT, "segment %s: %s", (s)->path, (what))

typedef struct {
    uint8_t kind, field;
    uint32_t dict_n;
    seg_frame dict;
    seg_frame *blk;
} seg_col;

typedef struct {
    uint8_t tok[COF_TOKEN_LEN];
    uint32_t ntok;
    seg_frame fr;
} seg_page;

typedef struct {
    uint32_t ntokens, npages;
    seg_page *pages;
} seg_index;

/* One decoded block (or index page) in the cache. */
typedef struct seg_ce {
    struct seg_ce *prev, *next, *hnext;
    uint32_t key1, key2;
    size_t bytes;
    int pins;
    uint8_t has_fp;
    uint8_t owned;      /* decoded for one get, not in the cache: freed on unpin */
    uint8_t raw_inline; /* raw is part of this allocation (row entries) */
    uint8_t fp[16];
    uint32_t n, d;
    void *a;       /* numeric values; clear ids; row -> entry+1 (u16); page tokens */
    cof_str *val;  /* sealed entries */
    uint32_t *off;   /* page: offsets of each token's gaps (k + 1) */
    uint32_t *cnt;   /* page: rows per token - 1 */
    uint32_t *first; /* page: first row per token */
    uint8_t *raw;  /* buffer the strings / postings point into */
    size_t raw_n;
} seg_ce;

struct cof_seg {
    char *path;
    int fd;
    unsigned flags;
    uint64_t fsize, data_end;
    cof_seg_meta meta;
    uint32_t nrows, nblocks, ncols;
    int64_t min_time, max_time;
    int64_t *btmin, *btmax;
    seg_col *cols;
    int16_t colix[SEG_NKINDS][COF_NFIELDS];
    seg_index idx[COF_NFIELDS];
    int has_idx[COF_NFIELDS];
    /* dictionaries, loaded on first use */
    cof_str *dict[COF_NFIELDS];
    uint8_t *dict_raw[COF_NFIELDS];
    int dict_loaded[COF_NFIELDS];
    /* row -> token ordinal + 1 and the tokens, per indexed field (load_inverse) */
    uint32_t *inv_row[COF_NFIELDS];
    uint8_t *inv_tok[COF_NFIELDS];
    int inv_loaded;
    /* scratch */
    ZSTD_DCtx *dz;
    uint8_t *io, *rawb, *plain;
    size_t io_cap, raw_cap, plain_cap;
    int64_t *sc_time;
    uint8_t *sc_status, *sc_dir;
    int32_t *sc_delay;
    uint64_t *sc_size;
    uint32_t *sc_clear[COF_NFIELDS];
    uint32_t *sc_zero;
    uint64_t *sc_u64, *sc_u64b; /* decoder scratch, SEG_BR values each */
    uint32_t *sc_ix;
    /* cache */
    seg_ce *bucket[SEG_CACHE_BUCKETS];
    seg_ce *lru_head, *lru_tail;
    size_t cache_bytes, cache_max;
    uint8_t fp_salt[16];
};

/* Rows in block b (the last block may be short). */
static inline uint32_t cof_segi_blk_rows(const cof_seg *s, uint32_t b)
{
    uint32_t lo = b * SEG_BR;
    return s->nrows - lo < SEG_BR ? s->nrows - lo : SEG_BR;
}

/* Token order of index pages: memcmp of the 8 token bytes. */
static inline int cof_segi_tokcmp(const uint8_t *a, const uint8_t *b)
{
    return memcmp(a, b, COF_TOKEN_LEN);
}

/* Dictionary order: bytewise, a proper prefix first. */
static inline int cof_segi_strcmp_slices(cof_str a, cof_str b)
{
    size_t m = a.n < b.n ? a.n : b.n;
    int c = m ? memcmp(a.p, b.p, m) : 0;
    return c ? c : (a.n < b.n ? -1 : a.n > b.n);
}

/* Rows of token t of a decoded page; the posting was validated by dec_page (segment.c). */
typedef struct {
    cof_colrd r;
    uint64_t left, row;
    int first;
} seg_page_iter;

/* Start at token t of page pg. */
static inline void cof_segi_page_iter_init(const seg_ce *pg, uint32_t t, seg_page_iter *it)
{
    it->r = cof_colrd_make(pg->raw + pg->off[t], pg->off[t + 1] - pg->off[t]);
    it->first = 1;
    it->row = pg->first[t];
    it->left = (uint64_t)pg->cnt[t] + 1;
}

/* Next row into *row: 1, or 0 when the token's rows are done. */
static inline int cof_segi_page_iter_next(seg_page_iter *it, uint32_t *row)
{
    uint64_t v;
    if (!it->left)
        return 0;
    if (!it->first) {
        if (!cof_colrd_varint(&it->r, &v))
            return 0;
        it->row += v + 1;
    }
    it->first = 0;
    it->left--;
    *row = (uint32_t)it->row;
    return 1;
}

/* Read frame fr into s->io; a short file or (unless NOCRC) a crc32c mismatch is COF_CORRUPT. */
cof_status cof_segi_read_frame(cof_seg *s, const seg_frame *fr) COF_MUST_USE;
/* Free a cache entry that is not (or no longer) in the cache; NULL is a no-op. */
void cof_segi_ce_free(seg_ce *e);
/* Cached entry (k1, k2) moved to the LRU front, or NULL; not pinned. */
seg_ce *cof_segi_ce_find(cof_seg *s, uint32_t k1, uint32_t k2);
/* Insert e (not yet cached) and evict unpinned entries beyond the cache bound. */
void cof_segi_ce_insert(cof_seg *s, seg_ce *e);
/* Unlink cached entry e and free it; e must not be pinned. */
void cof_segi_ce_remove(cof_seg *s, seg_ce *e);
/* Move cached entry e to the LRU tail: evicted first (one-off use). */
void cof_segi_lru_back(cof_seg *s, seg_ce *e);
/* Drop every cache entry; none may be pinned. */
void cof_segi_cache_clear(cof_seg *s);
/* Free the row -> token inverse of every field (none loaded is fine). */
void cof_segi_inv_free(cof_seg *s);
/* Decode block b of numeric or clear column ci into out (blk_rows values of its kind). */
cof_status cof_segi_dec_plain_block(cof_seg *s, int ci, uint32_t b, void *out) COF_MUST_USE;
/* Block b of numeric / clear column ci, pinned; own: if not cached, the caller's (unpin frees). */
cof_status cof_segi_get_plain(cof_seg *s, int ci, uint32_t b, int own,
                              seg_ce **out) COF_MUST_USE;
/* Sealed block b of column ci decrypted with key (fp: its fingerprint), pinned; own as above. */
cof_status cof_segi_get_sealed(cof_seg *s, int ci, uint32_t b, const uint8_t *key,
                               const uint8_t fp[16], int own, seg_ce **out) COF_MUST_USE;
/* Load and decode index page pg of field f into a fresh entry, not in the cache. */
cof_status cof_segi_page_decode(cof_seg *s, int f, uint32_t pg, seg_ce **out) COF_MUST_USE;
/* Index page pg of field f from the cache (decoded and inserted if missing), pinned. */
cof_status cof_segi_get_page(cof_seg *s, int f, uint32_t pg, seg_ce **out) COF_MUST_USE;
/* Load the clear dictionary of field f once (s->dict[f], ids 1..dict_n). */
cof_status cof_segi_load_dict(cof_seg *s, int f) COF_MUST_USE;

#endif
