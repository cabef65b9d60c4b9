/* ingest.h - the ingest pipeline: sources -> parser/correlator -> tenant and field
 * policy -> store, exactly once.
 *
 * Exactly-once: each source is identified by a keyed fingerprint of its first line
 * (stable while the file grows, equal for a renamed or gzipped copy). The store keeps,
 * per source, `done` (every event completed by a line before this offset is stored)
 * and `resume` (re-reading from here rebuilds the correlation state). Re-ingesting a
 * source re-reads it from `resume` and drops events whose completing line lies before
 * `done`; because the correlator emits events in line order (correlate.h) this stores
 * each event exactly once, however often a run is interrupted. Checkpoints travel in
 * the WAL frame with the records they cover. */
#ifndef COF_INGEST_H
#define COF_INGEST_H

#include <signal.h>
#include <stdint.h>

#include "correlate.h"
#include "poison.h"
#include "policy.h"
#include "store.h"

typedef enum { COF_FMT_POSTFIX = 0, COF_FMT_JSON } cof_format;

typedef struct {
    cof_format format;
    int year;                    /* 0: infer */
    int follow;                  /* tail -F the (single) file */
    int progress;                /* 1: force the progress bar; 0: only on a terminal */
    volatile sig_atomic_t *stop; /* set by a signal handler to end follow mode */
    /* Inbound "data has left" check (see cof_event_sink); NULL: none. */
    const cof_poison *poison;
    void (*on_poison)(void *ctx, const cof_poison_hit *hit);
    void *poison_ctx;
} cof_ingest_opts;

typedef struct {
    uint64_t lines;
    uint64_t bytes;
    uint64_t events_stored;
    uint64_t events_duplicate; /* already stored by an earlier run */
    uint64_t events_shredded;  /* refused: their tenant-day was shredded by retention */
    uint64_t skipped[COF_NSKIP];
    uint64_t sources_done;     /* sources found complete and skipped */
    double seconds;
} cof_ingest_summary;

/* Tenant attribution, field policy (sealing) and store add of one event: the step every
 * ingest path shares (files, the server's spool). The tenant's blind-index key is
 * cached across events, since runs of one tenant are the common case.
 * With poison set (and sets registered), every event whose recipient or original
 * recipient is a poison address calls on_poison(poison_ctx, hit) before it is stored:
 * mail reached an address that exists only in coffer's data, so that data has left
 * (poison.h). The event is stored as usual. */
typedef struct {
    cof_store *s;
    const cof_config *cfg;
    cof_keyring *kr;
    char tenant_buf[COF_MAX_TENANT_NAME + 1];
    char last_tenant[COF_MAX_TENANT_NAME + 1];
    const uint8_t *last_key;
    uint32_t live_day;      /* a day of last_tenant known to have a live data key */
    int live_known;
    uint64_t shredded;      /* events refused: their tenant-day was crypto-shredded */
    cof_policy_scratch scratch;
    const cof_poison *poison;
    void (*on_poison)(void *ctx, const cof_poison_hit *hit);
    void *poison_ctx;
} cof_event_sink;

void cof_event_sink_init(cof_event_sink *k, cof_store *s);
/* forced_tenant: NULL/"" for the configured attribution, else that tenant.
 * An event of a tenant-day that retention crypto-shredded is not stored: it is counted
 * in k->shredded and the call returns COF_OK (one late line must not fail an ingest). */
cof_status cof_event_sink_add(cof_event_sink *k, const cof_event *ev,
                              const char *forced_tenant) COF_MUST_USE;

cof_status cof_ingest_run(cof_store *s, const char *const *paths, int npaths,
                          const cof_ingest_opts *o, cof_ingest_summary *sum) COF_MUST_USE;

#endif
