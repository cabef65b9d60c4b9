/* intake.h - the server's durable ingest path: batches from HTTP and syslog clients
 * are acknowledged only once they are in the sealed spool, then correlated into the
 * store by one thread, exactly once.
 *
 *   submit (any thread)            intake thread
 *   -------------------            -------------
 *   encode frame, frame_no++  -->  queue  -->  correlator / JSON parser
 *   cof_wal_append (spool)                     policy (tenant, seal) -> store add
 *   == acknowledgement                         store commit + checkpoint(done, resume)
 *
 * Invariants:
 *  1. A batch is acknowledged (submit returns OK) only after its frame is durable in
 *     DATA_DIR/spool (a cof_wal sealed with the keyring subkey "spool"), so a crash
 *     after the acknowledgement loses nothing: the spool is replayed at open.
 *  2. Line positions are (frame_no << 16) | line index, strictly increasing in
 *     acknowledgement order; the store keeps one checkpoint for the spool, done and
 *     resume positions exactly as for files (ingest.h), so replay stores every event
 *     exactly once.
 *  3. A spool file is deleted once resume has passed its last frame, or once it is
 *     older than spool_keep_seconds (then messages still open across a restart lose
 *     the facts of their earlier lines, never events).
 *  4. Batch ids (idempotency keys) are remembered as keyed hashes for 24 hours: in
 *     the frames themselves and, before any spool file is deleted, in DATA_DIR/spool/
 *     batches; a repeated id is answered "duplicate" and not stored again.
 *  5. All store access happens under the caller's store mutex (segment handles are not
 *     thread-safe); the intake thread holds it for one frame at a time. */
#ifndef COF_INTAKE_H
#define COF_INTAKE_H

#include <pthread.h>
#include <stdint.h>

#include "ingest.h"
#include "status.h"
#include "store.h"
#include "poison.h"
#include "str.h"

#define COF_INTAKE_MAX_FRAME_LINES 65535
#define COF_INTAKE_QUEUE_BYTES (256u << 20) /* submitters wait beyond this */
#define COF_INTAKE_MAX_BATCH_ID 128
#define COF_INTAKE_BATCH_MEMORY (1u << 20)  /* batch ids remembered */

typedef struct cof_intake cof_intake;

typedef struct {
    uint32_t spool_keep_seconds; /* default 3600 */
    uint32_t flush_ms;           /* idle time after which held events are released and the
                                    memtable written to segments; default 1000 */
    /* Inbound "data has left" detection (ingest.h): the registry is read under store_mu,
     * like everything the intake thread touches. */
    const struct cof_poison *poison;
    void (*on_poison)(void *ctx, const cof_poison_hit *hit);
    void *poison_ctx;
} cof_intake_opts;

typedef struct {
    uint64_t lines, skipped_overlong, duplicate_batch;
} cof_intake_ack;

typedef struct {
    uint64_t frames, lines, bytes, events_stored, events_duplicate, batches_duplicate;
    uint64_t skipped[COF_NSKIP];
    uint64_t queue_bytes;
    uint64_t spool_replayed_frames;
} cof_intake_stats;

/* Open the spool, replay what the store has not applied (synchronously, before
 * returning), and start the intake thread. s is opened with COF_STORE_WRITE. */
cof_status cof_intake_open(cof_store *s, pthread_mutex_t *store_mu, const cof_intake_opts *o,
                           cof_intake **out) COF_MUST_USE;

/* Durably accept lines (invariant 1). forced_tenant: NULL, or the one tenant every
 * event of this batch belongs to (a principal allowed to write one tenant only).
 * batch_id: NULL or 1..COF_INTAKE_MAX_BATCH_ID bytes scoped by principal. Lines over
 * COF_MAX_LINE are counted and dropped. Thread-safe. */
cof_status cof_intake_submit(cof_intake *in, cof_format kind, const char *principal,
                             const char *forced_tenant, cof_str batch_id, const cof_str *lines,
                             size_t n, cof_intake_ack *ack) COF_MUST_USE;

/* Wait until everything submitted so far is in the store and flushed to segments. */
cof_status cof_intake_sync(cof_intake *in) COF_MUST_USE;

void cof_intake_stats_get(cof_intake *in, cof_intake_stats *st);

/* Drain: process every queued frame, release held events, commit, stop the thread,
 * close the spool. Returns the first error the thread hit (also reported through the
 * store's error hook). */
cof_status cof_intake_close(cof_intake *in) COF_MUST_USE;

#endif
