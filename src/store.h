/* store.h - the embedded store: keyring + WAL + memtable + immutable segments +
 * manifest. This is the storage interface ingest writes to and queries read from; a
 * distributed backend would implement the same calls.
 *
 * Data directory layout:
 *   DIR/LOCK        flock: one writer at a time
 *   DIR/keyring     wrapped keys (keyring.h)
 *   DIR/MANIFEST    live segments, next segment id, wal_applied, ingest checkpoints;
 *                   replaced atomically, checksummed
 *   DIR/wal/NNN.wal write-ahead log (wal.h)
 *   DIR/seg/NNN.seg segments (segment.h), one tenant and day each
 *
 * Write path: cof_store_add() appends the record to the pending group-commit frame
 * and the memtable; cof_store_commit() makes the frame durable (that is the
 * acknowledgement); when the memtable is full it is flushed: records are grouped by
 * (tenant, day), written as segments, the manifest is replaced listing them and the
 * WAL files they came from are deleted. A background thread merges small segments
 * of one tenant-day.
 *
 * Ingest checkpoints (exactly-once): for each source (keyed fingerprint of its first
 * bytes), done = offset before which every completed event is stored, resume = where
 * re-reading must start to rebuild correlation state. They travel in the same WAL
 * frame as the records they cover, so records and checkpoint are durable together. */
#ifndef COF_STORE_H
#define COF_STORE_H

#include <stdint.h>

#include "config.h"
#include "keyring.h"
#include "record.h"
#include "segment.h"
#include "status.h"

typedef struct cof_store cof_store;

enum {
    COF_STORE_WRITE = 1, /* exclusive writer (ingest); recovers the WAL */
    COF_STORE_NOKEY = 2  /* open without the master key: clear columns only */
};

cof_status cof_store_create(const cof_config *cfg) COF_MUST_USE;
cof_status cof_store_open(const cof_config *cfg, int flags, cof_store **out) COF_MUST_USE;
/* Commit, flush the memtable, wait for merges, close. */
cof_status cof_store_close(cof_store *s) COF_MUST_USE;
/* Close without flushing (tests of crash recovery, error paths). */
void cof_store_abandon(cof_store *s);

cof_keyring *cof_store_keyring(cof_store *s); /* NULL with COF_STORE_NOKEY */
const cof_config *cof_store_config(cof_store *s);

/* ---- write path ---- */
cof_status cof_store_add(cof_store *s, const cof_record *r) COF_MUST_USE;
cof_status cof_store_checkpoint(cof_store *s, const uint8_t src[16], uint64_t done,
                                uint64_t resume) COF_MUST_USE;
/* Durably commit pending records and checkpoints (group commit). */
cof_status cof_store_commit(cof_store *s) COF_MUST_USE;
/* Records added and not yet committed. */
uint32_t cof_store_pending(const cof_store *s);
/* Write the memtable to segments now. */
cof_status cof_store_flush(cof_store *s) COF_MUST_USE;
/* Look up a source checkpoint; COF_NOTFOUND if never seen. */
cof_status cof_store_source(cof_store *s, const uint8_t src[16], uint64_t *done,
                            uint64_t *resume) COF_MUST_USE;
/* Keyed source id from a raw content fingerprint (so the manifest does not let anyone
 * confirm that a given log file was ingested). */
cof_status cof_store_source_id(cof_store *s, const uint8_t fp[16], uint8_t out[16]) COF_MUST_USE;

/* ---- read path ---- */
typedef struct {
    uint64_t seg_id;
    uint32_t day;
    uint32_t nrows;
    int64_t min_time, max_time;
    uint64_t bytes;
    char tenant[COF_MAX_TENANT_NAME + 1];
} cof_seg_info;

/* Visit the segments overlapping [since, until) of tenant (NULL: all), oldest first.
 * seg is opened (from a bounded cache) for the call; a segment that fails to open is
 * reported through on_error (path and reason) and skipped, so one corrupt file does
 * not hide the rest. */
typedef cof_status (*cof_store_seg_fn)(void *ctx, const cof_seg_info *info, cof_seg *seg);
typedef void (*cof_store_err_fn)(void *ctx, const char *path, const char *reason);
cof_status cof_store_each_segment(cof_store *s, const char *tenant, int64_t since,
                                  int64_t until, cof_store_seg_fn fn, cof_store_err_fn on_error,
                                  void *ctx) COF_MUST_USE;

/* Default reporter for damaged segments when a caller passes no on_error (queries,
 * stats): the CLI prints a warning, a server logs it. */
void cof_store_set_error_hook(cof_store *s, cof_store_err_fn fn, void *ctx);

/* Totals for `coffer info` and the benchmarks. */
typedef struct {
    uint64_t segments, rows, segment_bytes, wal_bytes, other_bytes;
} cof_store_totals;
cof_status cof_store_totals_get(cof_store *s, cof_store_totals *t) COF_MUST_USE;

/* Parse MANIFEST bytes (hostile input, checked exactly as at open) for readers that
 * copy a live store (backup.c): the live segment ids and wal_applied. *ids is malloc'd
 * (caller frees with free()). path is only named in errors. */
cof_status cof_store_manifest_segments(const uint8_t *data, size_t n, const char *path,
                                       uint64_t **ids, size_t *nids,
                                       uint64_t *wal_applied) COF_MUST_USE;

/* Merge small segments now (normally done by the background thread). */
cof_status cof_store_merge(cof_store *s) COF_MUST_USE;

#endif
