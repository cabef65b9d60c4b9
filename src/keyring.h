/* keyring.h - coffer's key hierarchy (see docs/KEYS.md).
 *
 *   master key   32 random bytes in a file OUTSIDE the data directory (mode 0600,
 *                owned by the running user). Never stored in the data directory.
 *      |  wraps (XChaCha20-Poly1305, cof_seal_box)
 *   data_dir/keyring
 *      +- WAL key                       one per store
 *      +- blind-index key per tenant    created on first use
 *      +- data key per tenant and UTC day, created on first use, destroyed by
 *         retention (crypto-shredding; a tombstone remembers it was destroyed)
 *
 * Crypto-shredding reaches old copies of the keyring (backups, snapshots) only when
 * the master key changes afterwards: call cof_keyring_rotate_master after destroying
 * data keys.
 *
 * Thread safety: every function on one cof_keyring may be called from any thread
 * (a mutex inside). Key pointers returned by the lookups point into guarded,
 * read-only libsodium memory owned by the keyring; they stay valid (and never move)
 * until cof_keyring_close, or until cof_keyring_destroy_data_key of that very key,
 * after which the bytes read as zeros. Callers must not write through them nor keep
 * copies of key bytes outside sodium_malloc memory.
 *
 * Error details (cof_err_msg) name paths and the failed check, never key bytes. */
#ifndef COF_KEYRING_H
#define COF_KEYRING_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

#ifndef COF_KEY_LEN
#define COF_KEY_LEN 32
#endif

/* Name of the keyring file inside the data directory. */
#define COF_KEYRING_FILE "keyring"

typedef struct cof_keyring cof_keyring;

/* Create a new master key file: 32 random bytes, O_CREAT|O_EXCL, mode 0600; creates
 * missing parent directories with mode 0700. COF_EXISTS if key_file is present.
 * If data_dir != NULL the key file must not lie inside it (after resolving symbolic
 * links): COF_DENIED "the master key must live outside the data directory".
 * The file is fsync'ed, and so is its directory. */
cof_status cof_master_create(const char *key_file, const char *data_dir) COF_MUST_USE;

/* Create data_dir/keyring (data_dir must exist: COF_NOTFOUND otherwise), mode 0600,
 * wrapped by the master key in key_file (which passes the same checks as in
 * cof_keyring_open). Holds a fresh random keyring id and WAL key. COF_EXISTS if a
 * keyring is already there (never overwritten). */
cof_status cof_keyring_create(const char *data_dir, const char *key_file) COF_MUST_USE;

/* Open data_dir/keyring with the master key in key_file. On success *out owns the
 * keyring (free with cof_keyring_close).
 * key_file must be a regular file, mode exactly 0600, owned by the effective uid,
 * exactly COF_KEY_LEN bytes, and outside data_dir; otherwise COF_DENIED (or
 * COF_CORRUPT for a wrong size) with a message saying which check failed and how to
 * fix it. Missing key file: COF_NOTFOUND "master key file ... not found; run coffer
 * init". Key does not match the keyring: COF_DENIED "the master key does not open
 * this keyring (wrong key file?)". A damaged keyring: COF_CORRUPT naming the path.
 * If an interrupted cof_keyring_rotate_master left "<key_file>.new" and only that key
 * opens the keyring, the rotation is completed (renamed into place) here. */
cof_status cof_keyring_open(const char *data_dir, const char *key_file,
                            cof_keyring **out) COF_MUST_USE;

/* Wipe and free every key and the keyring itself. NULL is fine. */
void cof_keyring_close(cof_keyring *k);

/* The tenant's blind-index key, created (random) and persisted on first use.
 * tenant: NUL-terminated, 1..COF_MAX_TENANT_NAME bytes, no control characters
 * (COF_BADINPUT otherwise). *key is valid until close. */
cof_status cof_keyring_blind_key(cof_keyring *k, const char *tenant,
                                 const uint8_t **key) COF_MUST_USE;

/* The data key of (tenant, UTC day: days since 1970-01-01). If it is missing and
 * create != 0 it is created and persisted before returning; with create == 0 a
 * missing key is COF_NOTFOUND. A destroyed key is COF_NOTFOUND with create == 0 and
 * COF_DENIED with create != 0 (a shredded day is never given a new key, so data for
 * it cannot reappear). *key is valid until close or destroy of that key. */
cof_status cof_keyring_data_key(cof_keyring *k, const char *tenant, uint32_t day, int create,
                                const uint8_t **key) COF_MUST_USE;

/* The write-ahead-log key (created with the keyring). Valid until close. */
cof_status cof_keyring_wal_key(cof_keyring *k, const uint8_t **key) COF_MUST_USE;

/* A 32-byte key for one purpose ("token-hash", "audit-ed25519", "audit-blind", ...),
 * derived from the keyring's WAL key: stable for the life of the store, independent
 * per purpose, never stored. out should be sodium_malloc'd or wiped after use. */
cof_status cof_keyring_subkey(cof_keyring *k, const char *purpose,
                              uint8_t out[COF_KEY_LEN]) COF_MUST_USE;

/* Destroy the data key of (tenant, day): its bytes are wiped in memory, a tombstone
 * replaces it, and the keyring is saved. COF_NOTFOUND if there is no live key.
 * Old keyring copies still hold the key until the master key is rotated. */
cof_status cof_keyring_destroy_data_key(cof_keyring *k, const char *tenant,
                                        uint32_t day) COF_MUST_USE;

/* Call fn(ctx, tenant, day) for every live data key, ordered by tenant then day.
 * fn runs without the keyring lock held, so it may call any keyring function
 * (e.g. destroy the key it is given). A non-OK status from fn stops the walk and is
 * returned. The tenant string is valid only during the call. */
cof_status cof_keyring_each_data_key(cof_keyring *k,
                                     cof_status (*fn)(void *ctx, const char *tenant,
                                                      uint32_t day),
                                     void *ctx) COF_MUST_USE;

/* Persist if changed: atomic replace of data_dir/keyring (tmp, fsync, rename, fsync
 * dir), mode 0600. blind_key, data_key (on creation) and destroy_data_key call it
 * themselves; if that save fails, a newly created key is forgotten again and the
 * error returned, so no data is ever made durable under an unsaved key. */
cof_status cof_keyring_save(cof_keyring *k) COF_MUST_USE;

/* Replace the master key and re-wrap the keyring with the new one, so old copies of
 * the keyring no longer open with the current key file and the old key file no
 * longer opens the current keyring. Steps (each durable before the next):
 *   1. write "<key_file>.new" (0600) with a fresh random key;
 *   2. atomically replace data_dir/keyring, wrapped by the new key;
 *   3. rename "<key_file>.new" over key_file.
 * A crash between 2 and 3 is repaired by the next cof_keyring_open. key_file must be
 * the file the keyring was opened with. */
cof_status cof_keyring_rotate_master(cof_keyring *k, const char *key_file) COF_MUST_USE;

/* ---- internal: for tests and fuzzers only ---- */

/* Open a keyring from an in-memory image of the file (n bytes of hostile input) and a
 * master key. name is used only in error details. The result cannot be saved or
 * rotated (no data directory). */
cof_status cof_keyring_open_mem(const uint8_t *file, size_t n,
                                const uint8_t master[COF_KEY_LEN], const char *name,
                                cof_keyring **out) COF_MUST_USE;

/* Build a keyring file image whose sealed payload is the n bytes of pt (any bytes: used
 * to fuzz the entry parser behind the AEAD). *file is malloc'd; free with free(). */
cof_status cof_keyring_wrap_mem(const uint8_t *pt, size_t n, const uint8_t master[COF_KEY_LEN],
                                uint8_t **file, size_t *filen) COF_MUST_USE;

#endif
