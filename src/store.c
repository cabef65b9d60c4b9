/* store.c - the embedded store (see store.h for layout, write path and checkpoints).
 *
 * Invariants:
 *  1. Every record acknowledged by cof_store_commit is in a durable WAL frame or in a
 *     segment listed by the durable MANIFEST, never only in memory.
 *  2. The MANIFEST lists a segment only after the segment file is durable; a WAL file
 *     is deleted only after a MANIFEST whose wal_applied covers it is durable.
 *  3. A segment file not listed by the MANIFEST is garbage from an interrupted flush or
 *     merge and is removed by the next writer's open.
 *  4. Flush adds segments to the list; the merge thread replaces segments by their
 *     merge; maintenance (cof_store_drop_day, cof_store_rewrite_segment) removes or
 *     replaces segments while merges are held off (s->hold). All of them mutate the
 *     list and write the MANIFEST under s->mu.
 *  5. A tenant-day whose data key was destroyed never gets a segment again: flush
 *     refuses (and counts) its records instead of failing, so a late record of a
 *     shredded day cannot wedge the WAL. */
#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "bounds.h"
#include "buf.h"
#include "fsutil.h"
#include "seal.h"
#include "wal.h"

#define MANIFEST_MAGIC "COFMAN1\0"
#define MAX_CKPT 64
#define MERGE_SMALL 65536u /* segments below this many rows are merge candidates */
#define MERGE_MAX 262144u   /* rows in one merged segment: bounds the merge writer's memory */
#define MERGE_MIN_INPUTS 4

typedef struct {
    uint8_t id[16];
    uint64_t done, resume;
} source;

typedef struct {
    uint64_t seg_id;
    cof_seg *seg;
    uint64_t last_use;
} cache_ent;

struct cof_store {
    const cof_config *cfg;
    char dir[4096];
    int flags;
    int lock_fd;
    cof_keyring *kr;
    cof_wal *wal;
    pthread_mutex_t mu;
    /* manifest */
    cof_seg_info *segs;
    size_t nsegs, capsegs;
    uint64_t next_seg_id, wal_applied;
    source *srcs;
    size_t nsrcs;
    /* group commit */
    cof_buf frame_recs;
    uint32_t pending_n;
    source ckpt[MAX_CKPT];
    size_t nckpt;
    cof_buf frame;
    /* memtable: encoded records since the last flush */
    cof_buf mem;
    uint32_t mem_n;
    /* read cache */
    cache_ent cache[COF_MAX_OPEN_SEGMENTS];
    uint64_t tick;
    /* merge thread */
    pthread_t merger;
    int merger_started;
    pthread_cond_t cv;
    int stop, merge_wanted, merging;
    int hold;                  /* maintenance holds: no merge starts while > 0 */
    uint64_t refused_shredded; /* records of shredded days refused by flush */
    cof_store_err_fn err_hook;
    void *err_ctx;
};

void cof_store_set_error_hook(cof_store *s, cof_store_err_fn fn, void *ctx)
{
    s->err_hook = fn;
    s->err_ctx = ctx;
}

static void seg_path(const cof_store *s, uint64_t id, char *out, size_t cap)
{
    snprintf(out, cap, "%s/seg/%016" PRIx64 ".seg", s->dir, id);
}

/* ---------------------------------------------------------------- manifest */

static cof_status manifest_write(cof_store *s)
{
    cof_buf b;
    cof_buf_init(&b, COF_MAX_MANIFEST_BYTES);
    cof_status st = cof_buf_add(&b, MANIFEST_MAGIC, 8);
    if (!st) st = cof_buf_add_varint(&b, s->next_seg_id);
    if (!st) st = cof_buf_add_varint(&b, s->wal_applied);
    if (!st) st = cof_buf_add_varint(&b, s->nsegs);
    for (size_t i = 0; i < s->nsegs && !st; i++) {
        const cof_seg_info *g = &s->segs[i];
        size_t tl = strlen(g->tenant);
        st = cof_buf_add_u64le(&b, g->seg_id);
        if (!st) st = cof_buf_add_varint(&b, g->day);
        if (!st) st = cof_buf_add_varint(&b, g->nrows);
        if (!st) st = cof_buf_add_u64le(&b, (uint64_t)g->min_time);
        if (!st) st = cof_buf_add_u64le(&b, (uint64_t)g->max_time);
        if (!st) st = cof_buf_add_varint(&b, g->bytes);
        if (!st) st = cof_buf_add_varint(&b, tl);
        if (!st) st = cof_buf_add(&b, g->tenant, tl);
    }
    if (!st) st = cof_buf_add_varint(&b, s->nsrcs);
    for (size_t i = 0; i < s->nsrcs && !st; i++) {
        st = cof_buf_add(&b, s->srcs[i].id, 16);
        if (!st) st = cof_buf_add_varint(&b, s->srcs[i].done);
        if (!st) st = cof_buf_add_varint(&b, s->srcs[i].resume);
    }
    uint8_t sum[16];
    if (!st) {
        crypto_generichash(sum, sizeof sum, b.p, b.n, NULL, 0);
        st = cof_buf_add(&b, sum, sizeof sum);
    }
    if (!st) {
        char path[4200];
        snprintf(path, sizeof path, "%s/MANIFEST", s->dir);
        st = cof_fs_replace(path, b.p, b.n, 0600);
    }
    cof_buf_free(&b);
    return st;
}

/* Parse MANIFEST bytes (hostile input) into s's segment list, wal_applied and sources.
 * path is only named in errors. */
static cof_status manifest_decode(cof_store *s, const uint8_t *data, size_t n, const char *path)
{
    cof_status st = COF_OK;
    uint8_t sum[16];
    if (n < 24 || memcmp(data, MANIFEST_MAGIC, 8) != 0) {
        st = COF_ERR(COF_CORRUPT, "%s: not a coffer manifest", path);
        goto out;
    }
    crypto_generichash(sum, sizeof sum, data, n - 16, NULL, 0);
    if (sodium_memcmp(sum, data + n - 16, 16) != 0) {
        st = COF_ERR(COF_CORRUPT, "%s: checksum mismatch", path);
        goto out;
    }
    cof_rd rd = cof_rd_make(data + 8, n - 24);
    uint64_t nsegs, nsrcs, v;
    if (!cof_rd_varint(&rd, &s->next_seg_id) || !cof_rd_varint(&rd, &s->wal_applied) ||
        !cof_rd_varint(&rd, &nsegs) || nsegs > COF_MAX_SEGMENTS)
        goto bad;
    s->segs = calloc(nsegs ? nsegs : 1, sizeof *s->segs);
    if (!s->segs) {
        st = COF_ERR(COF_NOMEM, "out of memory");
        goto out;
    }
    s->capsegs = nsegs ? nsegs : 1;
    for (uint64_t i = 0; i < nsegs; i++) {
        cof_seg_info *g = &s->segs[i];
        uint64_t day, rows, mn, mx, tl;
        const uint8_t *tp;
        if (!cof_rd_u64le(&rd, &g->seg_id) || !cof_rd_varint(&rd, &day) || day > UINT32_MAX ||
            !cof_rd_varint(&rd, &rows) || rows > COF_SEG_MAX_ROWS || !cof_rd_u64le(&rd, &mn) ||
            !cof_rd_u64le(&rd, &mx) || !cof_rd_varint(&rd, &g->bytes) ||
            !cof_rd_varint(&rd, &tl) || tl == 0 || tl > COF_MAX_TENANT_NAME ||
            !cof_rd_bytes(&rd, tl, &tp))
            goto bad;
        g->day = (uint32_t)day;
        g->nrows = (uint32_t)rows;
        g->min_time = (int64_t)mn;
        g->max_time = (int64_t)mx;
        memcpy(g->tenant, tp, tl);
        g->tenant[tl] = 0;
        s->nsegs++;
    }
    if (!cof_rd_varint(&rd, &nsrcs) || nsrcs > 1000000)
        goto bad;
    s->srcs = calloc(nsrcs ? nsrcs : 1, sizeof *s->srcs);
    if (!s->srcs) {
        st = COF_ERR(COF_NOMEM, "out of memory");
        goto out;
    }
    for (uint64_t i = 0; i < nsrcs; i++) {
        const uint8_t *id;
        if (!cof_rd_bytes(&rd, 16, &id) || !cof_rd_varint(&rd, &s->srcs[i].done) ||
            !cof_rd_varint(&rd, &v))
            goto bad;
        memcpy(s->srcs[i].id, id, 16);
        s->srcs[i].resume = v;
        s->nsrcs++;
    }
    goto out;
bad:
    st = COF_ERR(COF_CORRUPT, "%s: malformed manifest", path);
out:
    return st;
}

static cof_status manifest_read(cof_store *s)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/MANIFEST", s->dir);
    uint8_t *data;
    size_t n;
    cof_status st = cof_fs_read_file(path, COF_MAX_MANIFEST_BYTES, &data, &n);
    if (st == COF_NOTFOUND)
        return COF_ERR(COF_NOTFOUND, "no coffer store in %s (run 'coffer init' first)", s->dir);
    if (st)
        return st;
    st = manifest_decode(s, data, n, path);
    free(data);
    return st;
}

cof_status cof_store_manifest_segments(const uint8_t *data, size_t n, const char *path,
                                       uint64_t **ids, size_t *nids, uint64_t *wal_applied)
{
    *ids = NULL;
    *nids = 0;
    cof_store *s = calloc(1, sizeof *s);
    if (!s)
        return COF_ERR(COF_NOMEM, "out of memory");
    cof_status st = manifest_decode(s, data, n, path);
    if (!st) {
        *ids = malloc((s->nsegs ? s->nsegs : 1) * sizeof **ids);
        if (!*ids)
            st = COF_ERR(COF_NOMEM, "out of memory");
    }
    if (!st) {
        for (size_t i = 0; i < s->nsegs; i++)
            (*ids)[i] = s->segs[i].seg_id;
        *nids = s->nsegs;
        *wal_applied = s->wal_applied;
    }
    free(s->segs);
    free(s->srcs);
    free(s);
    return st;
}

static cof_status source_set(cof_store *s, const uint8_t id[16], uint64_t done, uint64_t resume)
{
    for (size_t i = 0; i < s->nsrcs; i++)
        if (memcmp(s->srcs[i].id, id, 16) == 0) {
            if (done > s->srcs[i].done)
                s->srcs[i].done = done;
            s->srcs[i].resume = resume;
            return COF_OK;
        }
    source *n = realloc(s->srcs, (s->nsrcs + 1) * sizeof *n);
    if (!n)
        return COF_ERR(COF_NOMEM, "out of memory");
    s->srcs = n;
    memcpy(s->srcs[s->nsrcs].id, id, 16);
    s->srcs[s->nsrcs].done = done;
    s->srcs[s->nsrcs].resume = resume;
    s->nsrcs++;
    return COF_OK;
}

/* ---------------------------------------------------------------- frames */

/* Frame payload: varint nrecords, records, varint ncheckpoints, (id16, done, resume)*. */
static cof_status apply_frame(void *ctx, uint64_t seq, const uint8_t *p, size_t n)
{
    cof_store *s = ctx;
    cof_rd rd = cof_rd_make(p, n);
    uint64_t nrec, nck;
    if (!cof_rd_varint(&rd, &nrec) || nrec > COF_MAX_WAL_FRAME)
        return COF_ERR(COF_CORRUPT, "WAL frame %" PRIu64 ": bad header", seq);
    const uint8_t *start = rd.p;
    for (uint64_t i = 0; i < nrec; i++) {
        cof_record r;
        if (cof_record_decode(&rd, &r) != COF_OK)
            return COF_ERR(COF_CORRUPT, "WAL file %" PRIu64 ": malformed record", seq);
    }
    cof_status st = cof_buf_add(&s->mem, start, (size_t)(rd.p - start));
    if (st)
        return st;
    s->mem_n += (uint32_t)nrec;
    if (!cof_rd_varint(&rd, &nck) || nck > MAX_CKPT)
        return COF_ERR(COF_CORRUPT, "WAL frame %" PRIu64 ": bad checkpoints", seq);
    for (uint64_t i = 0; i < nck; i++) {
        const uint8_t *id;
        uint64_t done, resume;
        if (!cof_rd_bytes(&rd, 16, &id) || !cof_rd_varint(&rd, &done) ||
            !cof_rd_varint(&rd, &resume))
            return COF_ERR(COF_CORRUPT, "WAL frame %" PRIu64 ": bad checkpoint", seq);
        if ((st = source_set(s, id, done, resume)))
            return st;
    }
    return COF_OK;
}

/* ---------------------------------------------------------------- flush */

typedef struct {
    char tenant[COF_MAX_TENANT_NAME + 1];
    uint32_t day;
    uint32_t *offs;
    size_t n, cap;
} group;

static uint32_t day_of(int64_t us)
{
    int64_t d = us >= 0 ? us / 86400000000LL : -((-us + 86399999999LL) / 86400000000LL);
    return d < 0 ? 0 : (uint32_t)d;
}

/* Write the records at offsets offs of buf as one segment; fills info. */
static cof_status write_segment(cof_store *s, const char *tenant, uint32_t day, const uint8_t *buf,
                                size_t buflen, const uint32_t *offs, size_t n, cof_seg_info *info)
{
    const uint8_t *key;
    cof_status st = cof_keyring_data_key(s->kr, tenant, day, 1, &key);
    if (st)
        return st;
    cof_seg_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.tenant, sizeof meta.tenant, "%s", tenant);
    meta.day = day;
    pthread_mutex_lock(&s->mu);
    meta.seg_id = s->next_seg_id++;
    pthread_mutex_unlock(&s->mu);
    char path[4200];
    seg_path(s, meta.seg_id, path, sizeof path);
    cof_segw *w = NULL;
    if ((st = cof_segw_open(path, &meta, key, &w)))
        return st;
    memset(info, 0, sizeof *info);
    info->min_time = INT64_MAX;
    info->max_time = INT64_MIN;
    for (size_t i = 0; i < n && !st; i++) {
        cof_rd rd = cof_rd_make(buf + offs[i], buflen - offs[i]);
        cof_record r;
        if ((st = cof_record_decode(&rd, &r)))
            break;
        if (r.time_us < info->min_time)
            info->min_time = r.time_us;
        if (r.time_us > info->max_time)
            info->max_time = r.time_us;
        st = cof_segw_add(w, &r);
    }
    if (!st)
        st = cof_segw_finish(w);
    cof_segw_free(w);
    if (st)
        return st;
    struct stat sb;
    info->seg_id = meta.seg_id;
    info->day = day;
    info->nrows = (uint32_t)n;
    info->bytes = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    snprintf(info->tenant, sizeof info->tenant, "%s", tenant);
    return COF_OK;
}

static cof_status segs_append(cof_store *s, const cof_seg_info *add, size_t n)
{
    if (s->nsegs + n > COF_MAX_SEGMENTS)
        return COF_ERR(COF_LIMIT, "more than %d segments", COF_MAX_SEGMENTS);
    if (s->nsegs + n > s->capsegs) {
        size_t cap = s->capsegs * 2 + n;
        cof_seg_info *g = realloc(s->segs, cap * sizeof *g);
        if (!g)
            return COF_ERR(COF_NOMEM, "out of memory");
        s->segs = g;
        s->capsegs = cap;
    }
    memcpy(s->segs + s->nsegs, add, n * sizeof *add);
    s->nsegs += n;
    return COF_OK;
}

cof_status cof_store_flush(cof_store *s)
{
    if (!(s->flags & COF_STORE_WRITE))
        return COF_OK;
    if (s->pending_n || s->nckpt)
        return COF_ERR(COF_BADINPUT, "flush with uncommitted records");
    cof_status st = COF_OK;
    group *groups = NULL;
    size_t ng = 0;
    cof_seg_info *made = NULL;
    size_t nmade = 0;
    /* Group the memtable by (tenant, day). */
    for (size_t off = 0; off < s->mem.n;) {
        cof_rd rd = cof_rd_make(s->mem.p + off, s->mem.n - off);
        cof_record r;
        if ((st = cof_record_decode(&rd, &r)))
            goto out;
        uint32_t day = day_of(r.time_us);
        group *g = NULL;
        for (size_t i = 0; i < ng; i++)
            if (groups[i].day == day && cof_str_eq_lit(r.clear[COF_F_TENANT], groups[i].tenant)) {
                g = &groups[i];
                break;
            }
        if (!g) {
            group *ngs = realloc(groups, (ng + 1) * sizeof *ngs);
            if (!ngs) {
                st = COF_ERR(COF_NOMEM, "out of memory");
                goto out;
            }
            groups = ngs;
            g = &groups[ng++];
            memset(g, 0, sizeof *g);
            g->day = day;
            size_t tl = r.clear[COF_F_TENANT].n;
            if (tl == 0 || tl > COF_MAX_TENANT_NAME) {
                st = COF_ERR(COF_CORRUPT, "record without a valid tenant");
                goto out;
            }
            memcpy(g->tenant, r.clear[COF_F_TENANT].p, tl);
        }
        if (g->n == g->cap) {
            g->cap = g->cap ? g->cap * 2 : 1024;
            uint32_t *no = realloc(g->offs, g->cap * sizeof *no);
            if (!no) {
                st = COF_ERR(COF_NOMEM, "out of memory");
                goto out;
            }
            g->offs = no;
        }
        g->offs[g->n++] = (uint32_t)off;
        off = (size_t)(rd.p - s->mem.p);
    }
    uint64_t closed;
    if ((st = cof_wal_rotate(s->wal, &closed)))
        goto out;
    made = calloc(ng ? ng : 1, sizeof *made);
    if (!made) {
        st = COF_ERR(COF_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < ng; i++) {
        const uint8_t *dk;
        st = cof_keyring_data_key(s->kr, groups[i].tenant, groups[i].day, 1, &dk);
        if (st == COF_DENIED) { /* crypto-shredded day (invariant 5) */
            s->refused_shredded += groups[i].n;
            st = COF_OK;
            continue;
        }
        if (st || (st = write_segment(s, groups[i].tenant, groups[i].day, s->mem.p, s->mem.n,
                                      groups[i].offs, groups[i].n, &made[nmade])))
            goto out;
        nmade++;
    }
    pthread_mutex_lock(&s->mu);
    uint64_t old_applied = s->wal_applied;
    size_t old_n = s->nsegs;
    st = segs_append(s, made, nmade);
    if (!st) {
        s->wal_applied = closed;
        st = manifest_write(s);
        if (st) { /* roll back the in-memory view; the files are garbage (inv. 3) */
            s->nsegs = old_n;
            s->wal_applied = old_applied;
        }
    }
    if (!st) {
        s->merge_wanted = 1;
        pthread_cond_signal(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    if (st)
        goto out;
    nmade = 0; /* now owned by the manifest */
    cof_buf_reset(&s->mem);
    s->mem_n = 0;
    st = cof_wal_prune(s->wal, closed);
out:
    for (size_t i = 0; i < nmade; i++) { /* segments written before a failure */
        char path[4200];
        seg_path(s, made[i].seg_id, path, sizeof path);
        unlink(path);
    }
    for (size_t i = 0; i < ng; i++)
        free(groups[i].offs);
    free(groups);
    free(made);
    return st;
}

/* ---------------------------------------------------------------- commit */

cof_status cof_store_add(cof_store *s, const cof_record *r)
{
    if (!(s->flags & COF_STORE_WRITE))
        return COF_ERR(COF_DENIED, "store opened read-only");
    size_t before = s->frame_recs.n;
    cof_status st = cof_record_encode(r, &s->frame_recs);
    if (st == COF_LIMIT) { /* frame full: commit and retry */
        s->frame_recs.n = before;
        if ((st = cof_store_commit(s)))
            return st;
        st = cof_record_encode(r, &s->frame_recs);
    }
    if (st)
        return st;
    s->pending_n++;
    return COF_OK;
}

cof_status cof_store_checkpoint(cof_store *s, const uint8_t src[16], uint64_t done,
                                uint64_t resume)
{
    for (size_t i = 0; i < s->nckpt; i++)
        if (memcmp(s->ckpt[i].id, src, 16) == 0) {
            s->ckpt[i].done = done;
            s->ckpt[i].resume = resume;
            return COF_OK;
        }
    if (s->nckpt == MAX_CKPT) {
        cof_status st = cof_store_commit(s);
        if (st)
            return st;
    }
    memcpy(s->ckpt[s->nckpt].id, src, 16);
    s->ckpt[s->nckpt].done = done;
    s->ckpt[s->nckpt].resume = resume;
    s->nckpt++;
    return COF_OK;
}

uint32_t cof_store_pending(const cof_store *s) { return s->pending_n; }

cof_status cof_store_commit(cof_store *s)
{
    if (!s->pending_n && !s->nckpt)
        return COF_OK;
    cof_buf *f = &s->frame;
    cof_buf_reset(f);
    cof_status st = cof_buf_add_varint(f, s->pending_n);
    if (!st) st = cof_buf_add(f, s->frame_recs.p, s->frame_recs.n);
    if (!st) st = cof_buf_add_varint(f, s->nckpt);
    for (size_t i = 0; i < s->nckpt && !st; i++) {
        st = cof_buf_add(f, s->ckpt[i].id, 16);
        if (!st) st = cof_buf_add_varint(f, s->ckpt[i].done);
        if (!st) st = cof_buf_add_varint(f, s->ckpt[i].resume);
    }
    if (!st) st = cof_wal_append(s->wal, f->p, f->n);
    if (st)
        return st; /* nothing acknowledged; the caller may retry */
    /* Acknowledged: move into the memtable and the checkpoint table. */
    if ((st = cof_buf_add(&s->mem, s->frame_recs.p, s->frame_recs.n)))
        return st;
    s->mem_n += s->pending_n;
    for (size_t i = 0; i < s->nckpt && !st; i++)
        st = source_set(s, s->ckpt[i].id, s->ckpt[i].done, s->ckpt[i].resume);
    if (st)
        return st;
    sodium_memzero(s->frame_recs.p, s->frame_recs.n);
    cof_buf_reset(&s->frame_recs);
    s->pending_n = 0;
    s->nckpt = 0;
    if (s->mem_n >= COF_MEMTABLE_ROWS || s->mem.n + COF_MAX_WAL_FRAME >= COF_MEMTABLE_BYTES)
        return cof_store_flush(s);
    return COF_OK;
}

cof_status cof_store_source(cof_store *s, const uint8_t src[16], uint64_t *done, uint64_t *resume)
{
    for (size_t i = 0; i < s->nsrcs; i++)
        if (memcmp(s->srcs[i].id, src, 16) == 0) {
            *done = s->srcs[i].done;
            *resume = s->srcs[i].resume;
            return COF_OK;
        }
    return COF_NOTFOUND;
}

cof_status cof_store_source_id(cof_store *s, const uint8_t fp[16], uint8_t out[16])
{
    const uint8_t *key;
    if (!s->kr)
        return COF_ERR(COF_DENIED, "the master key is needed to ingest");
    cof_status st = cof_keyring_wal_key(s->kr, &key);
    if (st)
        return st;
    crypto_generichash_state h;
    crypto_generichash_init(&h, key, 32, 16);
    crypto_generichash_update(&h, (const uint8_t *)"coffer-source-v1", 16);
    crypto_generichash_update(&h, fp, 16);
    crypto_generichash_final(&h, out, 16);
    return COF_OK;
}

/* ---------------------------------------------------------------- merge */

typedef struct {
    cof_segw *w;
    int64_t min_time, max_time;
} merge_ctx;

static cof_status merge_row(void *ctx, uint32_t row, const cof_record *r)
{
    merge_ctx *m = ctx;
    if (r->time_us < m->min_time)
        m->min_time = r->time_us;
    if (r->time_us > m->max_time)
        m->max_time = r->time_us;
    return cof_segw_add(m->w, r);
}

/* Merge the segments with the given ids (same tenant and day) into one. Runs without
 * the lock except to reserve an id and to swap the manifest entries. */
static cof_status merge_group(cof_store *s, const cof_seg_info *in, size_t n)
{
    const uint8_t *key;
    cof_status st = cof_keyring_data_key(s->kr, in[0].tenant, in[0].day, 0, &key);
    if (st)
        return st;
    cof_seg_meta meta;
    memset(&meta, 0, sizeof meta);
    snprintf(meta.tenant, sizeof meta.tenant, "%s", in[0].tenant);
    meta.day = in[0].day;
    pthread_mutex_lock(&s->mu);
    meta.seg_id = s->next_seg_id++;
    pthread_mutex_unlock(&s->mu);
    char path[4200];
    seg_path(s, meta.seg_id, path, sizeof path);
    merge_ctx m = { NULL, INT64_MAX, INT64_MIN };
    uint32_t *rows = NULL;
    uint32_t total = 0;
    if ((st = cof_segw_open(path, &meta, key, &m.w)))
        return st;
    for (size_t i = 0; i < n && !st; i++) {
        char ipath[4200];
        cof_seg *seg;
        seg_path(s, in[i].seg_id, ipath, sizeof ipath);
        if ((st = cof_seg_open(ipath, &seg)))
            break;
        uint32_t nr = cof_seg_nrows(seg);
        uint32_t *nrws = realloc(rows, (nr ? nr : 1) * sizeof *rows);
        if (!nrws) {
            cof_seg_close(seg);
            st = COF_ERR(COF_NOMEM, "out of memory");
            break;
        }
        rows = nrws;
        for (uint32_t r = 0; r < nr; r++)
            rows[r] = r;
        st = cof_seg_get(seg, key, rows, nr, merge_row, &m);
        total += nr;
        cof_seg_close(seg);
    }
    free(rows);
    if (!st)
        st = cof_segw_finish(m.w);
    cof_segw_free(m.w);
    if (st)
        return st;
    struct stat sb;
    cof_seg_info out;
    memset(&out, 0, sizeof out);
    out.seg_id = meta.seg_id;
    out.day = meta.day;
    out.nrows = total;
    out.min_time = m.min_time;
    out.max_time = m.max_time;
    out.bytes = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
    snprintf(out.tenant, sizeof out.tenant, "%s", meta.tenant);
    /* Swap: remove the inputs, add the output, write the manifest (invariant 4). */
    pthread_mutex_lock(&s->mu);
    size_t w = 0;
    for (size_t i = 0; i < s->nsegs; i++) {
        int merged = 0;
        for (size_t j = 0; j < n; j++)
            if (s->segs[i].seg_id == in[j].seg_id)
                merged = 1;
        if (!merged)
            s->segs[w++] = s->segs[i];
    }
    size_t old_n = s->nsegs;
    cof_seg_info *backup = malloc(old_n * sizeof *backup);
    if (backup)
        memcpy(backup, s->segs, old_n * sizeof *backup);
    s->nsegs = w;
    st = segs_append(s, &out, 1);
    if (!st)
        st = manifest_write(s);
    if (st && backup) { /* keep the old view: the new file is garbage (invariant 3) */
        memcpy(s->segs, backup, old_n * sizeof *backup);
        s->nsegs = old_n;
    }
    free(backup);
    /* Drop cached handles of the inputs. */
    for (size_t c = 0; c < COF_MAX_OPEN_SEGMENTS && !st; c++)
        for (size_t j = 0; j < n; j++)
            if (s->cache[c].seg && s->cache[c].seg_id == in[j].seg_id) {
                cof_seg_close(s->cache[c].seg);
                s->cache[c].seg = NULL;
            }
    pthread_mutex_unlock(&s->mu);
    if (st) {
        unlink(path);
        return st;
    }
    for (size_t j = 0; j < n; j++) {
        char ipath[4200];
        seg_path(s, in[j].seg_id, ipath, sizeof ipath);
        unlink(ipath);
    }
    return COF_OK;
}

/* Find one (tenant, day) with enough small segments; copy them to out. */
static size_t pick_merge(cof_store *s, cof_seg_info *out, size_t cap)
{
    for (size_t i = 0; i < s->nsegs; i++) {
        if (s->segs[i].nrows >= MERGE_SMALL)
            continue;
        size_t n = 0;
        uint64_t rows = 0;
        for (size_t j = i; j < s->nsegs && n < cap; j++) {
            const cof_seg_info *g = &s->segs[j];
            if (g->nrows >= MERGE_SMALL || g->day != s->segs[i].day ||
                strcmp(g->tenant, s->segs[i].tenant) != 0 || rows + g->nrows > MERGE_MAX)
                continue;
            out[n++] = *g;
            rows += g->nrows;
        }
        if (n >= MERGE_MIN_INPUTS)
            return n;
    }
    return 0;
}

cof_status cof_store_merge(cof_store *s)
{
    cof_seg_info pick[64];
    cof_status st = COF_OK;
    for (;;) {
        pthread_mutex_lock(&s->mu);
        size_t n = s->stop || s->hold ? 0 : pick_merge(s, pick, 64);
        pthread_mutex_unlock(&s->mu);
        if (!n)
            break;
        if ((st = merge_group(s, pick, n)))
            break;
    }
    return st;
}

static void *merger_main(void *arg)
{
    cof_store *s = arg;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->merge_wanted && !s->stop)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->stop)
            break;
        s->merge_wanted = 0;
        s->merging = 1;
        pthread_mutex_unlock(&s->mu);
        cof_status st = cof_store_merge(s);
        if (st)
            fprintf(stderr, "coffer: background merge: %s (%s); will retry after the next flush\n",
                    cof_status_str(st), cof_err_msg());
        pthread_mutex_lock(&s->mu);
        s->merging = 0;
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---------------------------------------------------------------- open/close */

static cof_status lock_dir(cof_store *s, int exclusive)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/LOCK", s->dir);
    cof_status st = cof_fs_open(path, O_RDWR | O_CREAT, 0600, &s->lock_fd);
    if (st)
        return st;
    if (flock(s->lock_fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK)
            return COF_ERR(COF_DENIED,
                           "another coffer process is writing to %s; wait for it to finish",
                           s->dir);
        return COF_ERRNO("cannot lock %s", path);
    }
    return COF_OK;
}

/* Remove segment and temporary files that the manifest does not list (invariant 3). */
static void remove_garbage(cof_store *s)
{
    char dpath[4200];
    snprintf(dpath, sizeof dpath, "%s/seg", s->dir);
    DIR *d = opendir(dpath);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        int listed = 0;
        for (size_t i = 0; i < s->nsegs && !listed; i++) {
            char name[32];
            snprintf(name, sizeof name, "%016" PRIx64 ".seg", s->segs[i].seg_id);
            listed = strcmp(name, e->d_name) == 0;
        }
        if (!listed) {
            char p[4600];
            snprintf(p, sizeof p, "%s/%s", dpath, e->d_name);
            unlink(p);
        }
    }
    closedir(d);
}

cof_status cof_store_create(const cof_config *cfg)
{
    cof_status st = cof_fs_mkdir_p(cfg->data_dir, 0700);
    if (st)
        return st;
    char path[4200];
    snprintf(path, sizeof path, "%s/MANIFEST", cfg->data_dir);
    if (access(path, F_OK) == 0)
        return COF_ERR(COF_EXISTS, "%s already holds a coffer store", cfg->data_dir);
    snprintf(path, sizeof path, "%s/seg", cfg->data_dir);
    if ((st = cof_fs_mkdir_p(path, 0700)))
        return st;
    snprintf(path, sizeof path, "%s/wal", cfg->data_dir);
    if ((st = cof_fs_mkdir_p(path, 0700)))
        return st;
    cof_store tmp;
    memset(&tmp, 0, sizeof tmp);
    snprintf(tmp.dir, sizeof tmp.dir, "%s", cfg->data_dir);
    tmp.next_seg_id = 1;
    return manifest_write(&tmp);
}

cof_status cof_store_open(const cof_config *cfg, int flags, cof_store **out)
{
    cof_status st;
    cof_store *s = calloc(1, sizeof *s);
    if (!s)
        return COF_ERR(COF_NOMEM, "out of memory");
    s->cfg = cfg;
    s->flags = flags;
    s->lock_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    cof_buf_init(&s->frame_recs, COF_MAX_WAL_FRAME - 64 - MAX_CKPT * 40);
    cof_buf_init(&s->frame, COF_MAX_WAL_FRAME);
    cof_buf_init(&s->mem, COF_MEMTABLE_BYTES);
    if (strlen(cfg->data_dir) >= sizeof s->dir - 64) {
        st = COF_ERR(COF_LIMIT, "data directory path too long");
        goto fail;
    }
    snprintf(s->dir, sizeof s->dir, "%s", cfg->data_dir);
    struct stat sb;
    if (stat(s->dir, &sb) != 0) {
        st = COF_ERR(COF_NOTFOUND, "no coffer store in %s (run 'coffer init' first)", s->dir);
        goto fail;
    }
    if ((flags & COF_STORE_WRITE) && (st = lock_dir(s, 1)))
        goto fail;
    if ((st = manifest_read(s)))
        goto fail;
    if (!(flags & COF_STORE_NOKEY) && (st = cof_keyring_open(s->dir, cfg->key_file, &s->kr)))
        goto fail;
    if (flags & COF_STORE_WRITE) {
        const uint8_t *wk;
        if (!s->kr) {
            st = COF_ERR(COF_DENIED, "writing needs the master key");
            goto fail;
        }
        if ((st = cof_keyring_wal_key(s->kr, &wk)) ||
            (st = cof_wal_open(s->dir, wk, cfg->fsync, s->wal_applied, apply_frame, s, &s->wal)))
            goto fail;
        remove_garbage(s);
        if (s->mem_n && (st = cof_store_flush(s))) /* recovered records -> segments */
            goto fail;
        if (pthread_create(&s->merger, NULL, merger_main, s) == 0)
            s->merger_started = 1;
    }
    *out = s;
    return COF_OK;
fail:
    cof_store_abandon(s);
    return st;
}

static void stop_merger(cof_store *s)
{
    if (!s->merger_started)
        return;
    pthread_mutex_lock(&s->mu);
    s->stop = 1;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->merger, NULL);
    s->merger_started = 0;
}

void cof_store_abandon(cof_store *s)
{
    if (!s)
        return;
    stop_merger(s);
    for (size_t i = 0; i < COF_MAX_OPEN_SEGMENTS; i++)
        cof_seg_close(s->cache[i].seg);
    cof_wal_close(s->wal);
    cof_keyring_close(s->kr);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    if (s->frame_recs.p)
        sodium_memzero(s->frame_recs.p, s->frame_recs.cap);
    if (s->frame.p)
        sodium_memzero(s->frame.p, s->frame.cap);
    if (s->mem.p)
        sodium_memzero(s->mem.p, s->mem.cap);
    cof_buf_free(&s->frame_recs);
    cof_buf_free(&s->frame);
    cof_buf_free(&s->mem);
    free(s->segs);
    free(s->srcs);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}

cof_status cof_store_close(cof_store *s)
{
    cof_status st = COF_OK;
    if (s->flags & COF_STORE_WRITE) {
        st = cof_store_commit(s);
        if (!st && s->mem_n)
            st = cof_store_flush(s);
        /* Let a running merge finish, then run one more pass in this thread. */
        pthread_mutex_lock(&s->mu);
        while (s->merging)
            pthread_cond_wait(&s->cv, &s->mu);
        pthread_mutex_unlock(&s->mu);
        stop_merger(s);
        if (!st)
            st = cof_store_merge(s);
    }
    cof_store_abandon(s);
    return st;
}

cof_keyring *cof_store_keyring(cof_store *s) { return s->kr; }
int cof_store_writable(const cof_store *s) { return (s->flags & COF_STORE_WRITE) != 0; }
const cof_config *cof_store_config(cof_store *s) { return s->cfg; }

/* ---------------------------------------------------------------- read path */

static cof_status cache_get(cof_store *s, uint64_t id, cof_seg **out)
{
    size_t victim = 0;
    for (size_t i = 0; i < COF_MAX_OPEN_SEGMENTS; i++) {
        if (s->cache[i].seg && s->cache[i].seg_id == id) {
            s->cache[i].last_use = ++s->tick;
            *out = s->cache[i].seg;
            return COF_OK;
        }
        if (!s->cache[i].seg || (s->cache[victim].seg &&
                                 s->cache[i].last_use < s->cache[victim].last_use))
            victim = i;
    }
    char path[4200];
    seg_path(s, id, path, sizeof path);
    cof_seg *seg;
    cof_status st = cof_seg_open(path, &seg);
    if (st)
        return st;
    /* The reader cache budget (cache_mb) is shared equally by the live segments, with
     * at least 64 shares so a young store does not hand one segment everything. */
    size_t shares = s->nsegs > 64 ? s->nsegs : 64;
    cof_seg_set_cache(seg, ((size_t)s->cfg->cache_mb << 20) / shares);
    cof_seg_close(s->cache[victim].seg);
    s->cache[victim].seg = seg;
    s->cache[victim].seg_id = id;
    s->cache[victim].last_use = ++s->tick;
    *out = seg;
    return COF_OK;
}

static int cmp_info(const void *a, const void *b)
{
    const cof_seg_info *x = a, *y = b;
    return x->min_time < y->min_time ? -1 : x->min_time > y->min_time;
}

cof_status cof_store_each_segment(cof_store *s, const char *tenant, int64_t since, int64_t until,
                                  cof_store_seg_fn fn, cof_store_err_fn on_error, void *ctx)
{
    void *ctx_err = ctx;
    if (!on_error && s->err_hook) {
        on_error = s->err_hook;
        ctx_err = s->err_ctx;
    }
    pthread_mutex_lock(&s->mu);
    size_t n = s->nsegs;
    cof_seg_info *list = malloc((n ? n : 1) * sizeof *list);
    if (list)
        memcpy(list, s->segs, n * sizeof *list);
    pthread_mutex_unlock(&s->mu);
    if (!list)
        return COF_ERR(COF_NOMEM, "out of memory");
    qsort(list, n, sizeof *list, cmp_info);
    cof_status st = COF_OK;
    for (size_t i = 0; i < n && !st; i++) {
        const cof_seg_info *g = &list[i];
        if ((tenant && strcmp(tenant, g->tenant) != 0) || g->max_time < since ||
            g->min_time >= until)
            continue;
        cof_seg *seg;
        pthread_mutex_lock(&s->mu);
        st = cache_get(s, g->seg_id, &seg);
        pthread_mutex_unlock(&s->mu);
        if (st) {
            char path[4200];
            seg_path(s, g->seg_id, path, sizeof path);
            if (st == COF_NOTFOUND) { /* merged away meanwhile: its rows are elsewhere */
                st = COF_OK;
                continue;
            }
            if (on_error)
                on_error(ctx_err, path, cof_err_msg());
            st = COF_OK;
            continue;
        }
        st = fn(ctx, g, seg);
        if (st == COF_CORRUPT && on_error) {
            /* A damaged block: report this segment, keep answering from the rest. */
            char path[4200];
            seg_path(s, g->seg_id, path, sizeof path);
            on_error(ctx_err, path, cof_err_msg());
            st = COF_OK;
        }
    }
    free(list);
    return st;
}

static uint64_t dir_bytes(const char *path)
{
    DIR *d = opendir(path);
    if (!d)
        return 0;
    uint64_t total = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[4600];
        struct stat sb;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        if (lstat(p, &sb) == 0 && S_ISREG(sb.st_mode))
            total += (uint64_t)sb.st_size;
    }
    closedir(d);
    return total;
}

cof_status cof_store_totals_get(cof_store *s, cof_store_totals *t)
{
    memset(t, 0, sizeof *t);
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nsegs; i++) {
        t->segments++;
        t->rows += s->segs[i].nrows;
    }
    pthread_mutex_unlock(&s->mu);
    char p[4200];
    snprintf(p, sizeof p, "%s/seg", s->dir);
    t->segment_bytes = dir_bytes(p);
    snprintf(p, sizeof p, "%s/wal", s->dir);
    t->wal_bytes = dir_bytes(p);
    t->other_bytes = dir_bytes(s->dir);
    return COF_OK;
}

/* ---------------------------------------------------------------- maintenance */

void cof_store_hold_merges(cof_store *s)
{
    pthread_mutex_lock(&s->mu);
    s->hold++;
    while (s->merging) /* a merge in progress finishes; none starts while held */
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

void cof_store_release_merges(cof_store *s)
{
    pthread_mutex_lock(&s->mu);
    if (s->hold > 0 && --s->hold == 0) {
        s->merge_wanted = 1; /* what was held off may be due now */
        pthread_cond_broadcast(&s->cv);
    }
    pthread_mutex_unlock(&s->mu);
}

uint64_t cof_store_refused_shredded(const cof_store *s) { return s->refused_shredded; }

cof_status cof_store_segments(cof_store *s, cof_seg_info **out, size_t *n)
{
    pthread_mutex_lock(&s->mu);
    size_t k = s->nsegs;
    cof_seg_info *list = malloc((k ? k : 1) * sizeof *list);
    if (list)
        memcpy(list, s->segs, k * sizeof *list);
    pthread_mutex_unlock(&s->mu);
    if (!list)
        return COF_ERR(COF_NOMEM, "out of memory");
    qsort(list, k, sizeof *list, cmp_info);
    *out = list;
    *n = k;
    return COF_OK;
}

/* Close cached handles of a segment that left the list (caller holds s->mu). */
static void cache_drop(cof_store *s, uint64_t seg_id)
{
    for (size_t c = 0; c < COF_MAX_OPEN_SEGMENTS; c++)
        if (s->cache[c].seg && s->cache[c].seg_id == seg_id) {
            cof_seg_close(s->cache[c].seg);
            s->cache[c].seg = NULL;
        }
}

/* Delete the files of segments a durable MANIFEST no longer lists. A crash before the
 * unlinks reach the disk leaves garbage that the next open removes (invariant 3). */
static cof_status unlink_segments(cof_store *s, const uint64_t *ids, size_t n)
{
    cof_status st = COF_OK;
    for (size_t i = 0; i < n; i++) {
        char path[4200];
        seg_path(s, ids[i], path, sizeof path);
        if (unlink(path) != 0 && errno != ENOENT && !st)
            st = COF_ERRNO("remove %s", path);
    }
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/seg", s->dir);
    cof_status st2 = n ? cof_fs_fsync_dir(dir) : COF_OK;
    return st ? st : st2;
}

cof_status cof_store_drop_day(cof_store *s, const char *tenant, uint32_t day, uint64_t *rows,
                              uint32_t *segs)
{
    if (rows)
        *rows = 0;
    if (segs)
        *segs = 0;
    if (!(s->flags & COF_STORE_WRITE))
        return COF_ERR(COF_DENIED, "store opened read-only");
    /* Records of this day may still be in the memtable (and the WAL): into segments
     * first, so the WAL files holding them are pruned and the segments found below. */
    cof_status st = cof_store_commit(s);
    if (!st && s->mem_n)
        st = cof_store_flush(s);
    if (st)
        return st;
    cof_store_hold_merges(s);
    pthread_mutex_lock(&s->mu);
    size_t n = s->nsegs, w = 0, ngone = 0;
    cof_seg_info *backup = malloc((n ? n : 1) * sizeof *backup);
    uint64_t *gone = malloc((n ? n : 1) * sizeof *gone);
    uint64_t nrows = 0;
    if (!backup || !gone) {
        st = COF_ERR(COF_NOMEM, "out of memory");
        goto unlock;
    }
    memcpy(backup, s->segs, n * sizeof *backup);
    for (size_t i = 0; i < n; i++) {
        if (s->segs[i].day == day && strcmp(s->segs[i].tenant, tenant) == 0) {
            gone[ngone++] = s->segs[i].seg_id;
            nrows += s->segs[i].nrows;
        } else {
            s->segs[w++] = s->segs[i];
        }
    }
    if (!ngone)
        goto unlock;
    s->nsegs = w;
    if ((st = manifest_write(s))) { /* the old MANIFEST still holds: keep its view */
        memcpy(s->segs, backup, n * sizeof *backup);
        s->nsegs = n;
        ngone = 0;
        goto unlock;
    }
    for (size_t i = 0; i < ngone; i++)
        cache_drop(s, gone[i]);
unlock:
    pthread_mutex_unlock(&s->mu);
    if (!st && ngone) {
        st = unlink_segments(s, gone, ngone);
        if (rows)
            *rows = nrows;
        if (segs)
            *segs = (uint32_t)ngone;
    }
    cof_store_release_merges(s);
    free(backup);
    free(gone);
    return st;
}

typedef struct {
    cof_segw *w;
    const uint32_t *drop;
    size_t ndrop, di;
    int64_t min_time, max_time;
    uint32_t kept;
} rewrite_ctx;

static cof_status rewrite_row(void *ctx, uint32_t row, const cof_record *r)
{
    rewrite_ctx *x = ctx;
    while (x->di < x->ndrop && x->drop[x->di] < row)
        x->di++;
    if (x->di < x->ndrop && x->drop[x->di] == row)
        return COF_OK;
    if (r->time_us < x->min_time)
        x->min_time = r->time_us;
    if (r->time_us > x->max_time)
        x->max_time = r->time_us;
    x->kept++;
    return cof_segw_add(x->w, r);
}

#define REWRITE_CHUNK 65536u /* rows materialized per cof_seg_get call: bounds the id list */

cof_status cof_store_rewrite_segment(cof_store *s, uint64_t seg_id, const uint32_t *drop,
                                     size_t ndrop, uint64_t *new_id)
{
    *new_id = 0;
    if (!(s->flags & COF_STORE_WRITE))
        return COF_ERR(COF_DENIED, "store opened read-only");
    cof_seg_info in;
    int found = 0;
    memset(&in, 0, sizeof in);
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nsegs && !found; i++)
        if (s->segs[i].seg_id == seg_id) {
            in = s->segs[i];
            found = 1;
        }
    pthread_mutex_unlock(&s->mu);
    if (!found)
        return COF_ERR(COF_NOTFOUND, "segment %016" PRIx64 " is not live", seg_id);
    for (size_t i = 0; i < ndrop; i++)
        if (drop[i] >= in.nrows || (i && drop[i] <= drop[i - 1]))
            return COF_ERR(COF_BADINPUT, "rows to drop must be ascending row ids of the segment");
    if (!ndrop)
        return COF_OK;
    const uint8_t *key;
    cof_status st = cof_keyring_data_key(s->kr, in.tenant, in.day, 0, &key);
    if (st)
        return st;
    char ipath[4200], path[4200];
    seg_path(s, seg_id, ipath, sizeof ipath);
    cof_seg *seg = NULL;
    uint32_t *rows = NULL;
    rewrite_ctx x = { NULL, drop, ndrop, 0, INT64_MAX, INT64_MIN, 0 };
    cof_seg_meta meta;
    memset(&meta, 0, sizeof meta);
    path[0] = 0;
    if ((st = cof_seg_open(ipath, &seg)))
        return st;
    uint32_t nr = cof_seg_nrows(seg);
    if (nr != in.nrows) {
        st = COF_ERR(COF_CORRUPT, "%s: %u rows, the manifest says %u", ipath, nr, in.nrows);
        goto out;
    }
    if (ndrop < nr) { /* some rows stay: write them as a new segment */
        snprintf(meta.tenant, sizeof meta.tenant, "%s", in.tenant);
        meta.day = in.day;
        pthread_mutex_lock(&s->mu);
        meta.seg_id = s->next_seg_id++;
        pthread_mutex_unlock(&s->mu);
        seg_path(s, meta.seg_id, path, sizeof path);
        rows = malloc(REWRITE_CHUNK * sizeof *rows);
        if (!rows) {
            st = COF_ERR(COF_NOMEM, "out of memory");
            goto out;
        }
        if ((st = cof_segw_open(path, &meta, key, &x.w)))
            goto out;
        for (uint32_t base = 0; base < nr && !st; base += REWRITE_CHUNK) {
            uint32_t k = nr - base < REWRITE_CHUNK ? nr - base : REWRITE_CHUNK;
            for (uint32_t r = 0; r < k; r++)
                rows[r] = base + r;
            st = cof_seg_get(seg, key, rows, k, rewrite_row, &x);
        }
        if (!st && x.kept != nr - ndrop)
            st = COF_ERR(COF_CORRUPT, "%s: rewrite kept %u of %u rows", ipath, x.kept, nr);
        if (!st)
            st = cof_segw_finish(x.w); /* durable before the MANIFEST names it */
        if (st)
            goto out;
    }
    cof_seg_info made;
    memset(&made, 0, sizeof made);
    if (x.w) {
        struct stat sb;
        made.seg_id = meta.seg_id;
        made.day = in.day;
        made.nrows = x.kept;
        made.min_time = x.min_time;
        made.max_time = x.max_time;
        made.bytes = stat(path, &sb) == 0 ? (uint64_t)sb.st_size : 0;
        snprintf(made.tenant, sizeof made.tenant, "%s", in.tenant);
    }
    /* Swap in the MANIFEST; the old file goes only once the new MANIFEST is durable. */
    pthread_mutex_lock(&s->mu);
    size_t i = 0;
    while (i < s->nsegs && s->segs[i].seg_id != seg_id)
        i++;
    if (i == s->nsegs) {
        st = COF_ERR(COF_NOTFOUND, "segment %016" PRIx64 " left the list during a rewrite "
                     "(merges not held?)", seg_id);
    } else {
        cof_seg_info old = s->segs[i];
        size_t old_n = s->nsegs;
        if (x.w)
            s->segs[i] = made;
        else
            s->segs[i] = s->segs[--s->nsegs];
        if ((st = manifest_write(s))) {
            if (s->nsegs != old_n)
                s->segs[s->nsegs++] = s->segs[i];
            s->segs[i] = old;
        } else {
            cache_drop(s, seg_id);
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (!st) {
        *new_id = x.w ? meta.seg_id : 0;
        path[0] = 0; /* listed now: not ours to remove */
        cof_seg_close(seg);
        seg = NULL;
        st = unlink_segments(s, &seg_id, 1);
    }
out:
    cof_seg_close(seg);
    cof_segw_free(x.w);
    if (st && path[0])
        unlink(path); /* unlisted: garbage either way (invariant 3) */
    free(rows);
    return st;
}
