/* fuzz_backup.c - the BACKUP manifest parser (restore and `backup --verify` read it
 * from a directory anyone may have handed over): whatever parses must hold only
 * allowed paths, and must survive a write/parse round trip unchanged. Also the store
 * MANIFEST parser that backup runs on a live store's file, with a valid checksum
 * appended so the fuzzer reaches past it. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "backup.h"
#include "seal.h"
#include "store.h"

static void fuzz_store_manifest(const uint8_t *data, size_t size)
{
    uint8_t *m = malloc(8 + size + 16);
    if (!m)
        return;
    memcpy(m, "COFMAN1\0", 8);
    if (size)
        memcpy(m + 8, data, size);
    crypto_generichash(m + 8 + size, 16, m, 8 + size, NULL, 0);
    uint64_t *ids = NULL, applied = 0;
    size_t n = 0;
    if (cof_store_manifest_segments(m, 8 + size + 16, "MANIFEST", &ids, &n, &applied) == COF_OK &&
        n > COF_MAX_SEGMENTS)
        abort();
    free(ids);
    free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (cof_seal_init() != COF_OK)
            abort();
        ready = 1;
    }
    fuzz_store_manifest(data, size);
    cof_backup_manifest m, back;
    if (cof_backup_manifest_parse(data, size, &m) != COF_OK)
        return 0;
    if (m.nfiles < 2)
        abort(); /* MANIFEST and keyring at least */
    for (size_t i = 0; i < m.nfiles; i++)
        if (!cof_backup_path_ok(m.files[i].path, strlen(m.files[i].path)))
            abort();
    cof_buf b;
    cof_buf_init(&b, COF_BACKUP_MAX_MANIFEST_BYTES);
    /* created/version may hold characters the writer refuses to emit unescaped */
    if (cof_backup_manifest_write(&m, &b) == COF_OK) {
        if (cof_backup_manifest_parse(b.p, b.n, &back) != COF_OK || back.nfiles != m.nfiles)
            abort();
        for (size_t i = 0; i < m.nfiles; i++)
            if (strcmp(back.files[i].path, m.files[i].path) ||
                back.files[i].size != m.files[i].size ||
                memcmp(back.files[i].hash, m.files[i].hash, 32))
                abort();
        cof_backup_manifest_free(&back);
    }
    cof_buf_free(&b);
    cof_backup_manifest_free(&m);
    return 0;
}
