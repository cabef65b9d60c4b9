/* backup.h - consistent, still-sealed copies of a store taken while a writer runs
 * (`coffer backup`, `coffer restore`; docs/BACKUP.md).
 *
 * A backup is a directory holding copies of the store's files under their own
 * relative names (MANIFEST, keyring, seg/, wal/, spool/wal/, spool/batches, audit/,
 * access.json, tokens.json, changes/, exports/, poison.reg, retention.pending) and
 * BACKUP, a JSON manifest
 * naming every file with its size and BLAKE2b-256 hash. Nothing is decrypted and the master key is
 * never copied.
 *
 * Consistency without the writer lock (the writer moves data downstream: spool ->
 * store WAL -> segments listed by MANIFEST, and deletes a file only after its content
 * is durable in the next stage):
 *  1. Every file is captured by opening it; its content is the bytes present at open
 *     time (fstat size), so a file deleted later is still copied whole, and appends
 *     after the open are not taken (their records are newer than the backup).
 *  2. Stages are opened upstream first: spool files, then WAL files, then MANIFEST and
 *     the segments it lists. Whatever left a stage before it was opened is already in
 *     a later stage, which is opened afterwards: nothing acknowledged before the backup
 *     started is missing, and WAL recovery at restore never replays a record already in
 *     a listed segment (it skips WAL files <= the copied MANIFEST's wal_applied).
 *  3. A listed segment that vanished before its open was merged away by a newer
 *     MANIFEST: the MANIFEST is read again (at most COF_BACKUP_MAX_RETRIES times).
 *  4. The keyring is opened last: it only gains keys (except shredding), so it holds
 *     every key the copied data needs.
 *  5. audit/HEAD is opened before the audit logs, so the logs cover what HEAD signs;
 *     a log's torn last line (an append in progress) is left out.
 *  6. BACKUP is written last and atomically: a directory without it is not a backup. */
#ifndef COF_BACKUP_H
#define COF_BACKUP_H

#include <stddef.h>
#include <stdint.h>

#include "bounds.h"
#include "buf.h"
#include "status.h"

#define COF_BACKUP_MANIFEST "BACKUP"
#define COF_BACKUP_FORMAT "coffer-backup-1"

typedef struct {
    char path[COF_BACKUP_MAX_PATH + 1]; /* relative, checked by cof_backup_path_ok */
    uint64_t size;
    uint8_t hash[32]; /* BLAKE2b-256 (crypto_generichash) of the content */
} cof_backup_file;

typedef struct {
    char created[40];  /* RFC 3339 UTC */
    char version[32];  /* coffer version that wrote it */
    char store_id[33]; /* keyring id, 32 hex digits */
    cof_backup_file *files;
    size_t nfiles;
} cof_backup_manifest;

/* 1 if p is a relative path a backup may hold: MANIFEST, keyring, access.json,
 * tokens.json, poison.reg, retention.pending, or DIR/NAME with DIR one of seg, wal, spool, spool/wal,
 * audit, changes, exports and NAME of [A-Za-z0-9._-], not starting with '.'. No other path
 * is ever read from or written to, so a hostile BACKUP cannot reach outside. */
int cof_backup_path_ok(const char *p, size_t n);

/* Parse BACKUP bytes (hostile input; at most COF_BACKUP_MAX_MANIFEST_BYTES). Checks
 * the format name, every path (cof_backup_path_ok), no path twice, hex hashes, and that
 * MANIFEST and keyring are listed. On success m owns its file array
 * (cof_backup_manifest_free). COF_CORRUPT with the reason otherwise. */
cof_status cof_backup_manifest_parse(const uint8_t *p, size_t n,
                                     cof_backup_manifest *m) COF_MUST_USE;
/* Serialize m (one file per line) into out. */
cof_status cof_backup_manifest_write(const cof_backup_manifest *m, cof_buf *out) COF_MUST_USE;
void cof_backup_manifest_free(cof_backup_manifest *m);

/* Progress: bytes done of total, files done. */
typedef void (*cof_backup_progress_fn)(void *ctx, uint64_t done, uint64_t total, uint64_t files);
/* A file that does not match BACKUP (verify reports each; restore stops at the first). */
typedef void (*cof_backup_bad_fn)(void *ctx, const char *path, const char *reason);

typedef struct {
    uint64_t files, bytes;
    uint64_t segments, wal_files, spool_files, audit_files;
    uint64_t retries; /* MANIFEST re-reads (a merge finished during the capture) */
    char store_id[33];
    char created[40]; /* the backup's creation time (BACKUP "created") */
} cof_backup_result;

/* Take a backup of data_dir into out_dir (must not exist, or be an empty directory;
 * created 0700). Never takes the writer lock; see the rules above. version: the
 * coffer version recorded in BACKUP. skipped (may be NULL) is told about entries of
 * the data directory that are not copied (unknown names). */
cof_status cof_backup_take(const char *data_dir, const char *out_dir, const char *version,
                           cof_backup_progress_fn progress, cof_backup_bad_fn skipped,
                           void *ctx, cof_backup_result *res) COF_MUST_USE;

/* Check every file of the backup in dir against BACKUP (size and hash); no key
 * needed. Every mismatch goes to bad; COF_CORRUPT if there was any. */
cof_status cof_backup_verify(const char *dir, cof_backup_progress_fn progress,
                             cof_backup_bad_fn bad, void *ctx,
                             cof_backup_result *res) COF_MUST_USE;

/* Copy the backup in dir into data_dir (must not exist, or be an empty directory),
 * directories 0700 and files 0600, checking each file's size and hash while copying;
 * everything fsync'ed. On a mismatch COF_CORRUPT naming the file, and every file and
 * directory this call created is removed again. Does not open the store. */
cof_status cof_backup_restore(const char *dir, const char *data_dir,
                              cof_backup_progress_fn progress, void *ctx,
                              cof_backup_result *res) COF_MUST_USE;

#endif
