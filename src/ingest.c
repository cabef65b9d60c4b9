/* ingest.c - the ingest pipeline (see ingest.h for the exactly-once rule).
 *
 * Positions: the correlator needs one strictly increasing position per line across
 * every source of a run, and events carry the position of their completing line. A
 * position is (source index << POS_SHIFT) | byte offset, so sources of up to 1 TiB
 * each and up to 2^24 of them per run fit. */
#include "ingest.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <sodium.h>

#include "jsonl.h"
#include "policy.h"
#include "progress.h"
#include "reader.h"

#define POS_SHIFT 40
#define POS_MASK ((UINT64_C(1) << POS_SHIFT) - 1)
#define MAX_SOURCES (1u << 24)

typedef struct {
    uint8_t id[16];
    uint64_t done_saved; /* from the store: events before this are already stored */
    uint64_t done_now;   /* last checkpointed */
    uint64_t resume_now;
    uint64_t end;        /* offset after the last line, once read to the end */
    int finished;
} source;

typedef struct {
    cof_store *s;
    const cof_config *cfg;
    cof_keyring *kr;
    source *src;
    uint32_t nsrc, capsrc;
    cof_ingest_summary *sum;
    cof_event_sink sink;
} ictx;

void cof_event_sink_init(cof_event_sink *k, cof_store *s)
{
    memset(k, 0, sizeof *k);
    k->s = s;
    k->cfg = cof_store_config(s);
    k->kr = cof_store_keyring(s);
}

cof_status cof_event_sink_add(cof_event_sink *k, const cof_event *ev, const char *forced_tenant)
{
    const char *tenant = forced_tenant && *forced_tenant ? forced_tenant
                                                         : cof_policy_tenant(k->cfg, ev, k->tenant_buf);
    cof_status st;
    if (!k->last_key || strcmp(tenant, k->last_tenant) != 0) {
        if ((st = cof_keyring_blind_key(k->kr, tenant, &k->last_key)))
            return st;
        snprintf(k->last_tenant, sizeof k->last_tenant, "%s", tenant);
        k->live_known = 0;
    }
    if (k->poison && k->on_poison && cof_poison_nsets(k->poison)) {
        static const cof_field to[2] = { COF_F_RECIPIENT, COF_F_ORIG_RECIPIENT };
        for (int i = 0; i < 2; i++) {
            cof_poison_hit hit;
            if (ev->f[to[i]].n && cof_poison_match_address(k->poison, ev->f[to[i]], &hit)) {
                k->on_poison(k->poison_ctx, &hit);
                break;
            }
        }
    }
    /* After the poison check (mail reaching a trap is news whatever its day). A
     * shredded day is refused here, counted; the store's flush refuses it as well
     * should retention shred the day after this check (store.c invariant 5). */
    uint32_t day = ev->time_us > 0 ? (uint32_t)(ev->time_us / 86400000000LL) : 0;
    if (!k->live_known || k->live_day != day) {
        const uint8_t *dk;
        st = cof_keyring_data_key(k->kr, tenant, day, 1, &dk);
        if (st == COF_DENIED) {
            k->shredded++;
            return COF_OK;
        }
        if (st)
            return st;
        k->live_day = day;
        k->live_known = 1;
    }
    cof_record rec;
    if ((st = cof_policy_apply(k->cfg, tenant, k->last_key, ev, &k->scratch, &rec)))
        return st;
    return cof_store_add(k->s, &rec);
}

static cof_status on_event(void *ctx, const cof_event *ev)
{
    ictx *x = ctx;
    uint64_t si = ev->src_off >> POS_SHIFT, off = ev->src_off & POS_MASK;
    if (si >= x->nsrc)
        return COF_ERR(COF_BADINPUT, "event from an unknown source position");
    if (off < x->src[si].done_saved) { /* stored by an earlier run */
        x->sum->events_duplicate++;
        return COF_OK;
    }
    uint64_t refused = x->sink.shredded;
    cof_status st = cof_event_sink_add(&x->sink, ev, NULL);
    if (st)
        return st;
    if (x->sink.shredded != refused)
        x->sum->events_shredded++;
    else
        x->sum->events_stored++;
    return COF_OK;
}

static cof_status add_source(ictx *x, const uint8_t fp[16], uint32_t *idx)
{
    if (x->nsrc >= MAX_SOURCES)
        return COF_ERR(COF_LIMIT, "too many sources in one run");
    if (x->nsrc == x->capsrc) {
        x->capsrc = x->capsrc ? x->capsrc * 2 : 8;
        source *n = realloc(x->src, x->capsrc * sizeof *n);
        if (!n)
            return COF_ERR(COF_NOMEM, "out of memory");
        x->src = n;
    }
    source *s = &x->src[x->nsrc];
    memset(s, 0, sizeof *s);
    cof_status st = cof_store_source_id(x->s, fp, s->id);
    if (st)
        return st;
    uint64_t done, resume;
    st = cof_store_source(x->s, s->id, &done, &resume);
    if (st == COF_OK) {
        s->done_saved = s->done_now = done;
        s->resume_now = resume;
    } else if (st != COF_NOTFOUND) {
        return st;
    }
    *idx = x->nsrc++;
    return COF_OK;
}

/* Checkpoint every source the run has touched, then commit (the acknowledgement). */
static cof_status commit(ictx *x, cof_corr *c, uint64_t next_pos)
{
    uint64_t lw = c ? cof_corr_low_water(c, next_pos) : next_pos;
    uint64_t oo = c ? cof_corr_oldest_open(c, next_pos) : next_pos;
    if (oo > lw)
        oo = lw;
    uint64_t lw_src = lw >> POS_SHIFT, oo_src = oo >> POS_SHIFT;
    cof_status st;
    for (uint32_t j = 0; j < x->nsrc; j++) {
        source *s = &x->src[j];
        uint64_t done, resume;
        if (j < lw_src)
            done = s->end;
        else if (j == lw_src)
            done = lw & POS_MASK;
        else
            done = 0;
        if (j < oo_src)
            resume = s->end;
        else if (j == oo_src)
            resume = oo & POS_MASK;
        else
            resume = 0;
        if (done < s->done_saved)
            done = s->done_saved;
        if (resume > done)
            resume = done;
        if (done == s->done_now && resume == s->resume_now)
            continue;
        if ((st = cof_store_checkpoint(x->s, s->id, done, resume)))
            return st;
        s->done_now = done;
        s->resume_now = resume;
    }
    return cof_store_commit(x->s);
}

/* Source identity: a hash of the first line (stable while the file grows; equal for
 * renamed and compressed copies). */
static void first_line_fp(cof_str line, uint8_t fp[16])
{
    crypto_generichash(fp, 16, (const uint8_t *)line.p, line.n,
                       (const uint8_t *)"coffer-first-line", 17);
}

static cof_skip_reason flag_skip(int flags)
{
    if (flags & COF_LINE_OVERLONG)
        return COF_SKIP_OVERLONG;
    if (flags & COF_LINE_TRUNCATED)
        return COF_SKIP_TRUNCATED;
    return COF_SKIP_NONE;
}

static int idle_at_end(const char *path, const cof_reader *r)
{
    struct stat sb;
    return stat(path, &sb) == 0 && (uint64_t)sb.st_size <= cof_reader_tell(r);
}

cof_status cof_ingest_run(cof_store *s, const char *const *paths, int npaths,
                          const cof_ingest_opts *o, cof_ingest_summary *sum)
{
    ictx x;
    memset(&x, 0, sizeof x);
    memset(sum, 0, sizeof *sum);
    x.s = s;
    x.cfg = cof_store_config(s);
    x.kr = cof_store_keyring(s);
    x.sum = sum;
    cof_event_sink_init(&x.sink, s);
    x.sink.poison = o->poison;
    x.sink.on_poison = o->on_poison;
    x.sink.poison_ctx = o->poison_ctx;
    if (!x.kr)
        return COF_ERR(COF_DENIED, "ingest needs the master key");
    if (o->follow && npaths != 1)
        return COF_ERR(COF_BADINPUT, "--follow takes exactly one file");
    cof_status st = COF_OK;
    cof_corr *c = NULL;
    if (o->format == COF_FMT_POSTFIX) {
        cof_corr_opts co;
        cof_corr_opts_default(&co);
        co.year = o->year;
        co.hold_seconds = x.cfg->hold_seconds;
        co.idle_seconds = x.cfg->idle_seconds;
        co.max_open = x.cfg->max_open_messages;
        if ((st = cof_corr_new(&co, on_event, &x, &c)))
            return st;
    }
    cof_progress prog;
    cof_progress_start(&prog, "ingest", o->progress);
    uint64_t t0 = cof_now_ns(), next_pos = 0;
    for (int i = 0; i < npaths && !st; i++) {
        cof_reader_opts ro;
        cof_reader_opts_default(&ro);
        ro.follow = o->follow;
        ro.stop = o->stop;
        cof_reader *r = NULL;
        if ((st = cof_reader_open(paths[i], &ro, &r))) {
            st = COF_ERR(st, "cannot read %s: %s", paths[i], cof_err_msg());
            break;
        }
        uint64_t gen = 0;
        uint32_t si = 0;
        int have_src = 0, first = 1, unchanged = 0;
        uint64_t lines_here = 0;
        for (;;) {
            if (o->follow && have_src && cof_store_pending(s) + (c ? 1 : 0) > 0 &&
                idle_at_end(paths[i], r)) {
                /* Live tail went quiet: release what is held and acknowledge it. */
                if (c && (st = cof_corr_flush(c)))
                    break;
                if ((st = commit(&x, c, next_pos)))
                    break;
            }
            cof_str line;
            uint64_t off;
            int flags;
            st = cof_reader_next(r, &line, &off, &flags);
            if (st == COF_NOTFOUND) {
                st = COF_OK;
                break;
            }
            if (st) {
                st = COF_ERR(st, "reading %s: %s", paths[i], cof_err_msg());
                break;
            }
            if (cof_reader_generation(r) != gen || first) {
                /* A new file (the first, or one that replaced it by rotation). */
                if (have_src)
                    x.src[si].end = next_pos & POS_MASK;
                gen = cof_reader_generation(r);
                uint8_t fp[16];
                first_line_fp(line, fp);
                if ((st = add_source(&x, fp, &si)))
                    break;
                have_src = 1;
                /* Interrupted earlier: resume where the correlation state can be
                 * rebuilt, not from the start (plain files and first generation). */
                source *sr = &x.src[si];
                struct stat sb;
                if (first && !o->follow && sr->done_saved > 0 && sr->resume_now == sr->done_saved &&
                    stat(paths[i], &sb) == 0 && !cof_reader_is_gzip(r) &&
                    (uint64_t)sb.st_size == sr->done_saved) {
                    /* Read to the end before, with no message left open: nothing new. */
                    sr->end = sr->done_saved;
                    sum->sources_done++;
                    unchanged = 1;
                    break;
                }
                if (first && sr->resume_now > 0 && off == 0) {
                    cof_reader_free(r);
                    r = NULL;
                    ro.start_offset = sr->resume_now;
                    if ((st = cof_reader_open(paths[i], &ro, &r)))
                        break;
                    first = 0;
                    continue;
                }
                first = 0;
            }
            sum->lines++;
            lines_here++;
            sum->bytes += line.n + 1;
            uint64_t pos = ((uint64_t)si << POS_SHIFT) | off;
            if (off > POS_MASK) {
                st = COF_ERR(COF_LIMIT, "%s is larger than 1 TiB", paths[i]);
                break;
            }
            /* the next line starts at tell(): exact after CRLF and over-long lines */
            next_pos = ((uint64_t)si << POS_SHIFT) | cof_reader_tell(r);
            cof_skip_reason skip = flag_skip(flags);
            if (skip == COF_SKIP_NONE) {
                if (c)
                    st = cof_corr_feed(c, line, pos, &skip);
                else
                    st = cof_jsonl_parse(line, pos, on_event, &x, &skip);
                if (st)
                    break;
            }
            if (skip != COF_SKIP_NONE && skip < COF_NSKIP)
                sum->skipped[skip]++;
            if (cof_store_pending(s) >= x.cfg->commit_events && (st = commit(&x, c, next_pos)))
                break;
            if ((lines_here & 4095) == 0) {
                uint64_t tot, done;
                cof_reader_size_hint(r, &tot, &done);
                cof_progress_update(&prog, done, tot, sum->events_stored, "events");
            }
        }
        if (!st && have_src) {
            if (!unchanged)
                x.src[si].end = cof_reader_tell(r);
            next_pos = ((uint64_t)(si + 1) << POS_SHIFT);
        }
        cof_reader_free(r);
    }
    /* End of input: release held attempts, checkpoint every source as complete. */
    if (!st && c)
        st = cof_corr_flush(c);
    if (!st)
        st = commit(&x, c, ((uint64_t)x.nsrc << POS_SHIFT));
    if (c) {
        cof_corr_stats cs;
        cof_corr_stats_get(c, &cs);
        (void)cs;
    }
    cof_progress_end(&prog);
    sum->seconds = (double)(cof_now_ns() - t0) / 1e9;
    cof_corr_free(c);
    free(x.src);
    return st;
}
