/* intake.c - durable server ingest through a sealed spool (see intake.h).
 *
 * Spool frame payload (little endian):
 *   "CIF1" | u64 frame_no | u8 kind | u8 has_batch | u8 tenant_len | tenant bytes |
 *   [16 batch hash if has_batch] | u32 nlines | nlines x (u32 len | bytes)
 * The frame is sealed and authenticated by cof_wal; the decoder still checks every
 * length against the payload (the spool is a file, and files are hostile). */
#include "intake.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "buf.h"
#include "fsutil.h"
#include "jsonl.h"
#include "keyring.h"
#include "policy.h"
#include "progress.h"
#include "timefmt.h"
#include "wal.h"

#define POS_SHIFT 16
#define SPOOL_FILE_BYTES (64u << 20)
#define MAX_SPOOL_FILES 4096
#define BATCH_GEN_CAP (COF_INTAKE_BATCH_MEMORY / 2) /* ids per generation */
#define BATCH_GEN_SECONDS (12 * 3600)               /* two generations: >= 12 h, < 24 h */

typedef struct frame {
    struct frame *next;
    uint64_t frame_no;
    uint8_t kind;
    char tenant[COF_MAX_TENANT_NAME + 1];
    uint32_t nlines;
    cof_str *lines; /* point into data */
    size_t bytes;
    uint8_t *data;
} frame;

typedef struct {
    uint8_t (*h)[16];
    uint32_t n, cap; /* cap: power of two, 2 x BATCH_GEN_CAP */
    int64_t started;
} batch_gen;

typedef struct {
    uint64_t seq, max_frame;
    int64_t closed_us;
} spool_file;

struct cof_intake {
    cof_store *s;
    pthread_mutex_t *store_mu;
    const cof_config *cfg;
    cof_keyring *kr;
    cof_intake_opts o;

    /* spool side: guarded by spool_mu */
    pthread_mutex_t spool_mu;
    cof_wal *wal;
    uint8_t *spool_key;  /* sodium_malloc */
    uint8_t *batch_key;  /* sodium_malloc */
    uint64_t next_frame;
    uint64_t active_max_frame;
    spool_file files[MAX_SPOOL_FILES];
    uint32_t nfiles;
    batch_gen gen[2];    /* gen[0] current, gen[1] previous */
    char spool_dir[4200];

    /* queue: guarded by q_mu */
    pthread_mutex_t q_mu;
    pthread_cond_t q_cv, q_space, q_idle;
    frame *head, *tail;
    uint64_t queued_bytes;
    uint64_t submitted_frame, processed_frame;
    int stop, busy;
    cof_status thread_st;
    pthread_t th;
    int th_started;

    /* intake thread (and open-time replay) only */
    cof_corr *corr;
    uint8_t src_id[16];
    uint64_t done_saved, done_now, resume_now, next_pos;
    uint64_t replay_from;  /* positions below were handled before the restart */
    uint64_t unflushed;    /* records added since the last segment flush */
    const char *forced;    /* tenant of the frame being processed */
    cof_event_sink sink;

    pthread_mutex_t st_mu;
    cof_intake_stats stats;
};

static size_t rd_left(const cof_rd *r) { return (size_t)(r->end - r->p); }

static int rd_get(cof_rd *r, void *out, size_t n)
{
    const uint8_t *p;
    if (!cof_rd_bytes(r, n, &p))
        return 0;
    if (n)
        memcpy(out, p, n);
    return 1;
}

static void frame_free(frame *f)
{
    if (!f)
        return;
    free(f->data);
    free(f->lines);
    free(f);
}

/* ------------------------------------------------------------ batch ids */

static cof_status gen_init(batch_gen *g, int64_t now)
{
    g->cap = 2 * BATCH_GEN_CAP;
    g->n = 0;
    g->started = now;
    g->h = calloc(g->cap, sizeof *g->h);
    return g->h ? COF_OK : COF_ERR(COF_NOMEM, "out of memory for batch ids");
}

static int hash_zero(const uint8_t h[16])
{
    static const uint8_t z[16];
    return memcmp(h, z, 16) == 0;
}

static int gen_has(const batch_gen *g, const uint8_t h[16])
{
    uint64_t i;
    memcpy(&i, h, 8);
    for (uint32_t k = 0; k < g->cap; k++) {
        const uint8_t *e = g->h[(i + k) & (g->cap - 1)];
        if (hash_zero(e))
            return 0;
        if (memcmp(e, h, 16) == 0)
            return 1;
    }
    return 0;
}

static void gen_put(batch_gen *g, const uint8_t h[16])
{
    uint64_t i;
    memcpy(&i, h, 8);
    for (uint32_t k = 0; k < g->cap; k++) {
        uint8_t *e = g->h[(i + k) & (g->cap - 1)];
        if (hash_zero(e)) {
            memcpy(e, h, 16);
            g->n++;
            return;
        }
        if (memcmp(e, h, 16) == 0)
            return;
    }
}

/* Remember h; the current generation becomes the previous one when full or old. */
static void batch_remember(cof_intake *in, const uint8_t h[16], int64_t now)
{
    if (hash_zero(h) || gen_has(&in->gen[0], h))
        return;
    if (in->gen[0].n >= BATCH_GEN_CAP || now - in->gen[0].started > (int64_t)BATCH_GEN_SECONDS * 1000000) {
        batch_gen old = in->gen[1];
        in->gen[1] = in->gen[0];
        memset(old.h, 0, (size_t)old.cap * sizeof *old.h);
        old.n = 0;
        old.started = now;
        in->gen[0] = old;
    }
    gen_put(&in->gen[0], h);
}

static int batch_seen(cof_intake *in, const uint8_t h[16])
{
    return gen_has(&in->gen[0], h) || gen_has(&in->gen[1], h);
}

/* DATA_DIR/spool/batches: "CIB1" | u64 started0 | u64 started1 | u32 n | n x 16 bytes
 * (generation 0 entries first). Written before spool files are deleted (invariant 4). */
static cof_status batches_save(cof_intake *in)
{
    size_t n = (size_t)in->gen[0].n + in->gen[1].n;
    cof_buf b;
    cof_buf_init(&b, 32 + n * 16 + 16);
    cof_status st = cof_buf_add(&b, "CIB1", 4);
    if (!st) st = cof_buf_add_u64le(&b, (uint64_t)in->gen[0].started);
    if (!st) st = cof_buf_add_u64le(&b, (uint64_t)in->gen[1].started);
    if (!st) st = cof_buf_add_u32le(&b, (uint32_t)in->gen[0].n);
    if (!st) st = cof_buf_add_u32le(&b, (uint32_t)in->gen[1].n);
    for (int g = 0; g < 2 && !st; g++)
        for (uint32_t i = 0; i < in->gen[g].cap && !st; i++)
            if (!hash_zero(in->gen[g].h[i]))
                st = cof_buf_add(&b, in->gen[g].h[i], 16);
    char path[4300];
    snprintf(path, sizeof path, "%s/batches", in->spool_dir);
    if (!st)
        st = cof_fs_replace(path, b.p, b.n, 0600);
    cof_buf_free(&b);
    return st;
}

static cof_status batches_load(cof_intake *in)
{
    char path[4300];
    snprintf(path, sizeof path, "%s/batches", in->spool_dir);
    uint8_t *p = NULL;
    size_t n = 0;
    cof_status st = cof_fs_read_file(path, 32 + (size_t)COF_INTAKE_BATCH_MEMORY * 16, &p, &n);
    if (st == COF_NOTFOUND)
        return COF_OK;
    if (st)
        return st;
    cof_rd rd = cof_rd_make(p, n);
    uint8_t magic[4];
    uint64_t s0 = 0, s1 = 0;
    uint32_t n0 = 0, n1 = 0;
    if (!rd_get(&rd, magic, 4) || memcmp(magic, "CIB1", 4) != 0 || !cof_rd_u64le(&rd, &s0) ||
        !cof_rd_u64le(&rd, &s1) || !cof_rd_u32le(&rd, &n0) || !cof_rd_u32le(&rd, &n1) ||
        n0 > BATCH_GEN_CAP || n1 > BATCH_GEN_CAP || rd_left(&rd) != ((size_t)n0 + n1) * 16) {
        free(p);
        return COF_ERR(COF_CORRUPT, "%s: damaged batch-id file", path);
    }
    in->gen[0].started = (int64_t)s0;
    in->gen[1].started = (int64_t)s1;
    for (uint32_t i = 0; i < n0 + n1; i++)
        gen_put(&in->gen[i < n0 ? 0 : 1], rd.p + (size_t)i * 16);
    free(p);
    return COF_OK;
}

/* ------------------------------------------------------------ frames */

static cof_status frame_decode(const uint8_t *p, size_t n, frame **out, uint8_t batch[16])
{
    cof_rd rd = cof_rd_make(p, n);
    uint8_t magic[4], kind = 0, has_batch = 0, tlen = 0;
    uint64_t no = 0;
    uint32_t nl = 0;
    char tenant[COF_MAX_TENANT_NAME + 1];
    memset(batch, 0, 16);
    if (!rd_get(&rd, magic, 4) || memcmp(magic, "CIF1", 4) != 0 || !cof_rd_u64le(&rd, &no) ||
        !cof_rd_u8(&rd, &kind) || !cof_rd_u8(&rd, &has_batch) || !cof_rd_u8(&rd, &tlen) ||
        kind > COF_FMT_JSON || has_batch > 1 || tlen > COF_MAX_TENANT_NAME ||
        !rd_get(&rd, tenant, tlen) || (has_batch && !rd_get(&rd, batch, 16)) ||
        !cof_rd_u32le(&rd, &nl) || nl > COF_INTAKE_MAX_FRAME_LINES ||
        (uint64_t)nl * 4 > rd_left(&rd))
        return COF_ERR(COF_CORRUPT, "spool frame: bad header");
    tenant[tlen] = 0;
    size_t left = rd_left(&rd);
    frame *f = calloc(1, sizeof *f);
    if (f) {
        f->data = malloc(left ? left : 1);
        f->lines = calloc(nl ? nl : 1, sizeof *f->lines);
    }
    if (!f || !f->data || !f->lines) {
        frame_free(f);
        return COF_ERR(COF_NOMEM, "out of memory");
    }
    memcpy(f->tenant, tenant, (size_t)tlen + 1);
    f->frame_no = no;
    f->kind = kind;
    memcpy(f->data, rd.p, left);
    f->bytes = left;
    cof_rd r2 = cof_rd_make(f->data, left);
    for (uint32_t i = 0; i < nl; i++) {
        uint32_t len = 0;
        const uint8_t *lp;
        if (!cof_rd_u32le(&r2, &len) || len > COF_MAX_LINE || !cof_rd_bytes(&r2, len, &lp)) {
            frame_free(f);
            return COF_ERR(COF_CORRUPT, "spool frame: bad line table");
        }
        f->lines[i] = cof_str_make((const char *)lp, len);
    }
    if (rd_left(&r2) != 0) {
        frame_free(f);
        return COF_ERR(COF_CORRUPT, "spool frame: trailing bytes");
    }
    f->nlines = nl;
    *out = f;
    return COF_OK;
}

/* ------------------------------------------------------------ store side */

static cof_status on_event(void *ctx, const cof_event *ev)
{
    cof_intake *in = ctx;
    if (ev->src_off < in->done_saved) { /* stored before the restart */
        in->stats.events_duplicate++;
        return COF_OK;
    }
    cof_status st = cof_event_sink_add(&in->sink, ev, in->forced);
    if (st)
        return st;
    in->stats.events_stored++;
    in->unflushed++;
    return COF_OK;
}

/* Checkpoint the spool source and commit (caller holds the store mutex). */
static cof_status commit(cof_intake *in)
{
    uint64_t lw = in->corr ? cof_corr_low_water(in->corr, in->next_pos) : in->next_pos;
    uint64_t oo = in->corr ? cof_corr_oldest_open(in->corr, in->next_pos) : in->next_pos;
    if (oo > lw)
        oo = lw;
    if (lw < in->done_saved)
        lw = in->done_saved;
    if (oo < in->resume_now && in->resume_now <= lw)
        oo = in->resume_now; /* never move resume back below a pruned spool */
    if (lw != in->done_now || oo != in->resume_now) {
        cof_status st = cof_store_checkpoint(in->s, in->src_id, lw, oo);
        if (st)
            return st;
        in->done_now = lw;
        in->resume_now = oo;
    }
    return cof_store_commit(in->s);
}

static cof_status process_frame(cof_intake *in, const frame *f)
{
    cof_status st = COF_OK;
    in->forced = f->tenant;
    for (uint32_t i = 0; i < f->nlines && !st; i++) {
        uint64_t pos = (f->frame_no << POS_SHIFT) | i;
        if (pos < in->replay_from)
            continue;
        in->next_pos = pos + 1;
        cof_skip_reason skip = COF_SKIP_NONE;
        if (f->kind == COF_FMT_POSTFIX)
            st = cof_corr_feed(in->corr, f->lines[i], pos, &skip);
        else
            st = cof_jsonl_parse(f->lines[i], pos, on_event, in, &skip);
        if (skip != COF_SKIP_NONE && skip < COF_NSKIP)
            in->stats.skipped[skip]++;
        if (!st && cof_store_pending(in->s) >= in->cfg->commit_events)
            st = commit(in);
    }
    in->next_pos = (f->frame_no + 1) << POS_SHIFT;
    if (!st)
        st = commit(in);
    in->forced = NULL;
    in->stats.frames++;
    in->stats.lines += f->nlines;
    return st;
}

/* Release held events, commit, and write the memtable to segments (so queries see it). */
static cof_status settle(cof_intake *in)
{
    cof_status st = in->corr ? cof_corr_flush(in->corr) : COF_OK;
    if (!st)
        st = commit(in);
    if (!st && in->unflushed) {
        st = cof_store_flush(in->s);
        if (!st)
            in->unflushed = 0;
    }
    return st;
}

/* Delete spool files nobody needs any more (invariant 3). */
static cof_status prune(cof_intake *in)
{
    int64_t now = cof_time_now_us();
    uint64_t done_frame = in->done_now >> POS_SHIFT, resume_frame = in->resume_now >> POS_SHIFT;
    pthread_mutex_lock(&in->spool_mu);
    uint32_t k = 0;
    while (k < in->nfiles) {
        spool_file *sf = &in->files[k];
        int old = now - sf->closed_us > (int64_t)in->o.spool_keep_seconds * 1000000;
        if (!(sf->max_frame < done_frame && (sf->max_frame < resume_frame || old)))
            break;
        k++;
    }
    cof_status st = COF_OK;
    if (k > 0) {
        uint64_t upto = in->files[k - 1].seq;
        if (!(st = batches_save(in)) && !(st = cof_wal_prune(in->wal, upto))) {
            memmove(in->files, in->files + k, (in->nfiles - k) * sizeof *in->files);
            in->nfiles -= k;
        }
    }
    pthread_mutex_unlock(&in->spool_mu);
    return st;
}

static void *intake_thread(void *arg)
{
    cof_intake *in = arg;
    int dirty = 0;
    pthread_mutex_lock(&in->q_mu);
    for (;;) {
        while (!in->head && !in->stop) {
            if (dirty) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)in->o.flush_ms * 1000000u;
                ts.tv_sec += (time_t)(ns / 1000000000u);
                ts.tv_nsec = (long)(ns % 1000000000u);
                if (pthread_cond_timedwait(&in->q_cv, &in->q_mu, &ts) != 0 && !in->head) {
                    /* Idle for flush_ms: release what the correlator holds. */
                    in->busy = 1;
                    pthread_mutex_unlock(&in->q_mu);
                    pthread_mutex_lock(in->store_mu);
                    cof_status st = settle(in);
                    pthread_mutex_unlock(in->store_mu);
                    if (!st)
                        st = prune(in);
                    pthread_mutex_lock(&in->q_mu);
                    in->busy = 0;
                    if (st && !in->thread_st)
                        in->thread_st = st;
                    dirty = 0;
                    pthread_cond_broadcast(&in->q_idle);
                }
            } else {
                pthread_cond_broadcast(&in->q_idle);
                pthread_cond_wait(&in->q_cv, &in->q_mu);
            }
        }
        if (!in->head && in->stop)
            break;
        frame *f = in->head;
        in->head = f->next;
        if (!in->head)
            in->tail = NULL;
        in->busy = 1;
        pthread_mutex_unlock(&in->q_mu);
        cof_status st = COF_OK;
        if (!in->thread_st) { /* after an error, frames stay in the spool for the restart */
            pthread_mutex_lock(in->store_mu);
            st = process_frame(in, f);
            pthread_mutex_unlock(in->store_mu);
        }
        pthread_mutex_lock(&in->q_mu);
        in->busy = 0;
        in->queued_bytes -= f->bytes;
        in->processed_frame = f->frame_no;
        if (st && !in->thread_st) {
            in->thread_st = st;
            fprintf(stderr, "coffer serve: intake stopped: %s\n", cof_err_msg());
        }
        pthread_cond_broadcast(&in->q_space);
        frame_free(f);
        dirty = 1;
    }
    pthread_mutex_unlock(&in->q_mu);
    return NULL;
}

/* ------------------------------------------------------------ open / replay */

typedef struct {
    cof_intake *in;
    cof_status st;
} replay_ctx;

static cof_status replay_cb(void *ctx, uint64_t seq, const uint8_t *payload, size_t n)
{
    replay_ctx *r = ctx;
    cof_intake *in = r->in;
    frame *f;
    uint8_t batch[16];
    cof_status st = frame_decode(payload, n, &f, batch);
    if (st)
        return st;
    if (in->nfiles == 0 || in->files[in->nfiles - 1].seq != seq) {
        if (in->nfiles == MAX_SPOOL_FILES) {
            frame_free(f);
            return COF_ERR(COF_LIMIT, "more than %d spool files", MAX_SPOOL_FILES);
        }
        in->files[in->nfiles++] = (spool_file){ .seq = seq, .max_frame = 0,
                                                .closed_us = cof_time_now_us() };
    }
    if (f->frame_no > in->files[in->nfiles - 1].max_frame)
        in->files[in->nfiles - 1].max_frame = f->frame_no;
    batch_remember(in, batch, cof_time_now_us());
    if (f->frame_no >= in->next_frame)
        in->next_frame = f->frame_no + 1;
    if (((f->frame_no + 1) << POS_SHIFT) > in->replay_from) {
        st = process_frame(in, f);
        in->stats.spool_replayed_frames++;
    }
    frame_free(f);
    return st;
}

/* Free what open allocated (also its failure path); NULL members are fine. */
static void free_parts(cof_intake *in)
{
    if (in->wal)
        cof_wal_close(in->wal);
    cof_corr_free(in->corr);
    free(in->gen[0].h);
    free(in->gen[1].h);
    sodium_free(in->spool_key);
    sodium_free(in->batch_key);
}

cof_status cof_intake_open(cof_store *s, pthread_mutex_t *store_mu, const cof_intake_opts *o,
                           cof_intake **out)
{
    cof_intake *in = calloc(1, sizeof *in);
    if (!in)
        return COF_ERR(COF_NOMEM, "out of memory");
    in->s = s;
    in->store_mu = store_mu;
    in->cfg = cof_store_config(s);
    in->kr = cof_store_keyring(s);
    cof_event_sink_init(&in->sink, s);
    in->o = *o;
    in->sink.poison = o->poison;
    in->sink.on_poison = o->on_poison;
    in->sink.poison_ctx = o->poison_ctx;
    if (!in->o.spool_keep_seconds)
        in->o.spool_keep_seconds = 3600;
    if (!in->o.flush_ms)
        in->o.flush_ms = 1000;
    pthread_mutex_init(&in->spool_mu, NULL);
    pthread_mutex_init(&in->q_mu, NULL);
    pthread_mutex_init(&in->st_mu, NULL);
    pthread_cond_init(&in->q_cv, NULL);
    pthread_cond_init(&in->q_space, NULL);
    pthread_cond_init(&in->q_idle, NULL);
    cof_status st = COF_OK;
    int64_t now = cof_time_now_us();
    if (!in->kr) {
        st = COF_ERR(COF_DENIED, "the server needs the master key");
        goto fail;
    }
    in->spool_key = sodium_malloc(32);
    in->batch_key = sodium_malloc(32);
    if (!in->spool_key || !in->batch_key) {
        st = COF_ERR(COF_NOMEM, "out of memory");
        goto fail;
    }
    if ((st = cof_keyring_subkey(in->kr, "spool", in->spool_key)) ||
        (st = cof_keyring_subkey(in->kr, "batch-id", in->batch_key)) ||
        (st = gen_init(&in->gen[0], now)) || (st = gen_init(&in->gen[1], now)))
        goto fail;
    snprintf(in->spool_dir, sizeof in->spool_dir, "%s/spool", in->cfg->data_dir);
    if ((st = cof_fs_mkdir_p(in->spool_dir, 0700)) || (st = batches_load(in)))
        goto fail;
    cof_corr_opts co;
    cof_corr_opts_default(&co);
    co.hold_seconds = in->cfg->hold_seconds;
    co.idle_seconds = in->cfg->idle_seconds;
    co.max_open = in->cfg->max_open_messages;
    if ((st = cof_corr_new(&co, on_event, in, &in->corr)))
        goto fail;
    uint8_t fp[16];
    crypto_generichash(fp, 16, (const uint8_t *)"coffer-spool-v1", 15, NULL, 0);
    if ((st = cof_store_source_id(s, fp, in->src_id)))
        goto fail;
    st = cof_store_source(s, in->src_id, &in->done_saved, &in->resume_now);
    if (st == COF_NOTFOUND) {
        in->done_saved = in->resume_now = 0;
        st = COF_OK;
    }
    if (st)
        goto fail;
    in->done_now = in->done_saved;
    in->replay_from = in->resume_now;
    in->next_frame = (in->done_saved >> POS_SHIFT) + 1;
    in->next_pos = in->replay_from;
    replay_ctx rc = { in, COF_OK };
    pthread_mutex_lock(store_mu);
    st = cof_wal_open(in->spool_dir, in->spool_key, in->cfg->fsync, 0, replay_cb, &rc, &in->wal);
    if (!st)
        st = settle(in);
    pthread_mutex_unlock(store_mu);
    if (st)
        goto fail;
    in->replay_from = 0;
    /* Replayed files are closed now: the active file is a new one. */
    if (!in->nfiles || in->files[in->nfiles - 1].seq != cof_wal_seq(in->wal)) {
        if (in->nfiles == MAX_SPOOL_FILES) {
            st = COF_ERR(COF_LIMIT, "too many spool files");
            goto fail;
        }
    }
    in->active_max_frame = 0;
    in->processed_frame = in->submitted_frame = in->next_frame - 1;
    if ((st = prune(in)))
        goto fail;
    if (pthread_create(&in->th, NULL, intake_thread, in) != 0) {
        st = COF_ERR(COF_NOMEM, "cannot start the intake thread");
        goto fail;
    }
    in->th_started = 1;
    *out = in;
    return COF_OK;
fail:
    free_parts(in);
    free(in);
    return st;
}

/* ------------------------------------------------------------ submit */

static cof_status encode(cof_buf *b, uint64_t no, cof_format kind, const char *tenant,
                         const uint8_t *batch, const cof_str *lines, size_t n)
{
    size_t tl = tenant ? strlen(tenant) : 0;
    if (tl > COF_MAX_TENANT_NAME)
        return COF_ERR(COF_BADINPUT, "tenant name too long");
    cof_status st = cof_buf_add(b, "CIF1", 4);
    uint8_t hdr[3] = { (uint8_t)kind, batch ? 1 : 0, (uint8_t)tl };
    if (!st) st = cof_buf_add_u64le(b, no);
    if (!st) st = cof_buf_add(b, hdr, 3);
    if (!st && tl) st = cof_buf_add(b, tenant, tl);
    if (!st && batch) st = cof_buf_add(b, batch, 16);
    if (!st) st = cof_buf_add_u32le(b, (uint32_t)n);
    for (size_t i = 0; i < n && !st; i++) {
        st = cof_buf_add_u32le(b, (uint32_t)lines[i].n);
        if (!st)
            st = cof_buf_add(b, lines[i].p, lines[i].n);
    }
    return st;
}

/* Append one frame of at most COF_INTAKE_MAX_FRAME_LINES lines (spool_mu held). */
static cof_status append_frame(cof_intake *in, cof_format kind, const char *tenant,
                               const uint8_t *batch, const cof_str *lines, size_t n)
{
    cof_buf b;
    cof_buf_init(&b, COF_MAX_WAL_FRAME);
    uint64_t no = in->next_frame;
    cof_status st = encode(&b, no, kind, tenant, batch, lines, n);
    if (!st)
        st = cof_wal_append(in->wal, b.p, b.n);
    if (st) {
        cof_buf_free(&b);
        return st;
    }
    in->next_frame++;
    in->active_max_frame = no;
    /* Hand the frame to the intake thread (decoded from our own encoding). */
    frame *f;
    uint8_t bh[16];
    st = frame_decode(b.p, b.n, &f, bh);
    cof_buf_free(&b);
    if (st)
        return st;
    if (cof_wal_bytes(in->wal) >= SPOOL_FILE_BYTES && in->nfiles < MAX_SPOOL_FILES) {
        uint64_t closed;
        if (cof_wal_rotate(in->wal, &closed) == COF_OK)
            in->files[in->nfiles++] = (spool_file){ .seq = closed, .max_frame = no,
                                                    .closed_us = cof_time_now_us() };
    }
    pthread_mutex_lock(&in->q_mu);
    while (in->queued_bytes > COF_INTAKE_QUEUE_BYTES && !in->thread_st)
        pthread_cond_wait(&in->q_space, &in->q_mu);
    if (in->tail)
        in->tail->next = f;
    else
        in->head = f;
    in->tail = f;
    in->queued_bytes += f->bytes;
    in->submitted_frame = no;
    pthread_cond_signal(&in->q_cv);
    pthread_mutex_unlock(&in->q_mu);
    return COF_OK;
}

cof_status cof_intake_submit(cof_intake *in, cof_format kind, const char *principal,
                             const char *forced_tenant, cof_str batch_id, const cof_str *lines,
                             size_t n, cof_intake_ack *ack)
{
    memset(ack, 0, sizeof *ack);
    pthread_mutex_lock(&in->q_mu);
    cof_status tst = in->thread_st;
    pthread_mutex_unlock(&in->q_mu);
    if (tst)
        return COF_ERR(COF_IO, "intake is stopped after an earlier error");
    uint8_t bh[16], *batch = NULL;
    if (batch_id.n) {
        if (batch_id.n > COF_INTAKE_MAX_BATCH_ID)
            return COF_ERR(COF_BADINPUT, "batch id longer than %d bytes", COF_INTAKE_MAX_BATCH_ID);
        crypto_generichash_state h;
        crypto_generichash_init(&h, in->batch_key, 32, 16);
        crypto_generichash_update(&h, (const uint8_t *)principal, strlen(principal) + 1);
        crypto_generichash_update(&h, (const uint8_t *)batch_id.p, batch_id.n);
        crypto_generichash_final(&h, bh, 16);
        if (hash_zero(bh))
            bh[0] = 1;
        batch = bh;
    }
    /* Drop over-long lines up front; frames carry at most MAX_FRAME_LINES lines and at
     * most half a WAL frame of bytes. */
    cof_status st = COF_OK;
    pthread_mutex_lock(&in->spool_mu);
    if (batch && batch_seen(in, batch)) {
        pthread_mutex_unlock(&in->spool_mu);
        ack->duplicate_batch = 1;
        pthread_mutex_lock(&in->st_mu);
        in->stats.batches_duplicate++;
        pthread_mutex_unlock(&in->st_mu);
        return COF_OK;
    }
    cof_str *keep = malloc((n ? n : 1) * sizeof *keep);
    if (!keep) {
        pthread_mutex_unlock(&in->spool_mu);
        return COF_ERR(COF_NOMEM, "out of memory");
    }
    size_t nk = 0;
    for (size_t i = 0; i < n; i++) {
        if (lines[i].n > COF_MAX_LINE) {
            ack->skipped_overlong++;
            continue;
        }
        keep[nk++] = lines[i];
    }
    size_t start = 0;
    int first = 1;
    while (!st && (start < nk || first)) {
        size_t end = start, bytes = 64;
        while (end < nk && end - start < COF_INTAKE_MAX_FRAME_LINES &&
               bytes + keep[end].n + 4 < COF_MAX_WAL_FRAME / 2)
            bytes += keep[end++].n + 4;
        /* The batch id travels in the first frame; a crash between frames of one
         * oversized batch can store its head twice if the client retries. */
        st = append_frame(in, kind, forced_tenant, first ? batch : NULL, keep + start, end - start);
        first = 0;
        start = end;
    }
    if (!st && batch)
        batch_remember(in, batch, cof_time_now_us());
    pthread_mutex_unlock(&in->spool_mu);
    free(keep);
    ack->lines = nk;
    return st;
}

cof_status cof_intake_sync(cof_intake *in)
{
    pthread_mutex_lock(&in->q_mu);
    uint64_t want = in->submitted_frame;
    while ((in->processed_frame < want || in->head || in->busy) && !in->thread_st)
        pthread_cond_wait(&in->q_idle, &in->q_mu);
    cof_status st = in->thread_st;
    pthread_mutex_unlock(&in->q_mu);
    if (st)
        return st;
    pthread_mutex_lock(in->store_mu);
    st = settle(in);
    pthread_mutex_unlock(in->store_mu);
    return st;
}

void cof_intake_stats_get(cof_intake *in, cof_intake_stats *out)
{
    pthread_mutex_lock(&in->q_mu);
    *out = in->stats;
    out->queue_bytes = in->queued_bytes;
    pthread_mutex_unlock(&in->q_mu);
}

cof_status cof_intake_close(cof_intake *in)
{
    if (!in)
        return COF_OK;
    pthread_mutex_lock(&in->q_mu);
    in->stop = 1;
    pthread_cond_broadcast(&in->q_cv);
    pthread_mutex_unlock(&in->q_mu);
    if (in->th_started)
        pthread_join(in->th, NULL);
    cof_status st = in->thread_st;
    if (!st) {
        pthread_mutex_lock(in->store_mu);
        st = settle(in);
        pthread_mutex_unlock(in->store_mu);
    }
    if (!st)
        st = prune(in);
    frame *f = in->head;
    while (f) {
        frame *nx = f->next;
        frame_free(f);
        f = nx;
    }
    free_parts(in);
    pthread_mutex_destroy(&in->spool_mu);
    pthread_mutex_destroy(&in->q_mu);
    pthread_mutex_destroy(&in->st_mu);
    pthread_cond_destroy(&in->q_cv);
    pthread_cond_destroy(&in->q_space);
    pthread_cond_destroy(&in->q_idle);
    free(in);
    return st;
}
