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
int cof_store_writable(const cof_store *s);   /* opened with COF_STORE_WRITE */
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

/* ---- maintenance: retention (retention.c) and erasure (subject.c) ----
 * Both decide from the segment list and then rewrite it, so they keep the background
 * merge away meanwhile: cof_store_hold_merges waits for a merge in progress and starts
 * none until the matching release (holds nest). Crash safety is the flush and merge
 * rule (invariants 2 and 3 of store.c): a new segment is durable before the MANIFEST
 * names it, an old file is deleted only after a MANIFEST without it is durable, and
 * any file the MANIFEST does not name is removed by the next writer's open. */
void cof_store_hold_merges(cof_store *s);
void cof_store_release_merges(cof_store *s);

/* A copy of the live segment list, oldest first (*out malloc'd, free with free()). */
cof_status cof_store_segments(cof_store *s, cof_seg_info **out, size_t *n) COF_MUST_USE;

/* Remove every segment of (tenant, UTC day). Commits and flushes first, so no record of
 * that day stays in the WAL or the memtable; then holds merges, replaces the MANIFEST
 * without those segments and deletes their files. *rows and *segs (either may be NULL)
 * get what was removed. Writer only. */
cof_status cof_store_drop_day(cof_store *s, const char *tenant, uint32_t day, uint64_t *rows,
                              uint32_t *segs) COF_MUST_USE;

/* Rewrite segment seg_id without its rows drop[0..ndrop) (ascending row ids as
 * cof_seg_lookup gives them): a new segment (new id, same tenant-day, every column and
 * index rebuilt by the segment writer) replaces it in the MANIFEST and the old file is
 * deleted; when every row goes, the segment just goes. *new_id: the replacement, 0 if
 * none. The caller holds merges (so seg_id still names the rows it looked up) and
 * flushed first. COF_NOTFOUND if seg_id is not live. Writer only. */
cof_status cof_store_rewrite_segment(cof_store *s, uint64_t seg_id, const uint32_t *drop,
                                     size_t ndrop, uint64_t *new_id) COF_MUST_USE;

/* Acknowledged records that flush refused because their tenant-day's data key was
 * destroyed by retention (a shredded day never gets data again), since open. */
uint64_t cof_store_refused_shredded(const cof_store *s);

#endif
