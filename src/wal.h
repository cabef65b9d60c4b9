/* wal.h - the write-ahead log: sealed, checksummed, group-committed frames.
 *
 * Files: DIR/wal/<16 hex digit seq>.wal, each "COFWAL1\0" || u64 seq, then frames:
 *   u32 magic "WFRM" || u32 box length || box
 * where box = cof_seal_box(wal key, ad = "coffer-wal-v1" || seq || frame offset, payload).
 * The AEAD tag is the checksum; binding the offset means a frame copied elsewhere in
 * the log fails to open.
 *
 * Invariants:
 *  1. A frame is acknowledged (cof_wal_append returns OK) only after it is written
 *     and, under fsync=always, fdatasync'ed.
 *  2. Frames are only appended; a file is never rewritten except that recovery
 *     truncates a torn tail (a frame that is incomplete or fails authentication at
 *     the end of the newest file: it was never acknowledged).
 *  3. A file is deleted only after the manifest records that its contents are in
 *     segments (seq <= the manifest's wal_applied).
 *
 * States of a file: ACTIVE (appended to) -> SEALED (a newer file exists) -> APPLIED
 * (manifest says so) -> deleted. */
#ifndef COF_WAL_H
#define COF_WAL_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "status.h"

typedef struct cof_wal cof_wal;

/* Called for each intact frame in order during replay; payload valid during the call. */
typedef cof_status (*cof_wal_frame_fn)(void *ctx, uint64_t seq, const uint8_t *payload,
                                       size_t n);

/* Open DIR/wal, replaying every file with seq > applied through fn (fn may be NULL),
 * truncating a torn tail, then start a new active file. key: the WAL key. */
cof_status cof_wal_open(const char *dir, const uint8_t key[32], cof_fsync_mode mode,
                        uint64_t applied, cof_wal_frame_fn fn, void *ctx,
                        cof_wal **out) COF_MUST_USE;
/* Replay only (read-only users): no truncation, no new file. */
cof_status cof_wal_replay(const char *dir, const uint8_t key[32], uint64_t applied,
                          cof_wal_frame_fn fn, void *ctx) COF_MUST_USE;

/* Append one frame (payload <= COF_MAX_WAL_FRAME) and make it durable per the mode. */
cof_status cof_wal_append(cof_wal *w, const uint8_t *payload, size_t n) COF_MUST_USE;

/* Start a new file; returns the seq of the file just closed (everything up to it can
 * be applied once the caller's segments are durable). */
cof_status cof_wal_rotate(cof_wal *w, uint64_t *closed_seq) COF_MUST_USE;

/* Delete every file with seq <= applied. */
cof_status cof_wal_prune(cof_wal *w, uint64_t applied) COF_MUST_USE;

/* Seq and size of the active file (frames appended now land in it). */
uint64_t cof_wal_seq(const cof_wal *w);
uint64_t cof_wal_bytes(const cof_wal *w);

/* Bytes dropped from a torn tail during open (0 normally). */
uint64_t cof_wal_torn_bytes(const cof_wal *w);

void cof_wal_close(cof_wal *w);

#endif
