/* keyring.c - master key file, the sealed keyring file, and the in-memory key map.
 *
 * Keyring file (little endian; docs/KEYS.md):
 *   0   8  magic "COFKR1\0\0"
 *   8   4  version (1)
 *   12 16  keyring id (random)
 *   28 32  key check: BLAKE2b-256 keyed by the master key over
 *          "coffer-keyring-check-v1" || bytes 0..27
 *   60  .  sealed box (cof_seal_box, master key, ad = bytes 0..27) of the entries:
 *          u32 count, then per entry: u8 type, u8 tenant length, tenant, u32 day,
 *          32-byte key (no key for a tombstone).
 * The key check tells "wrong master key" (COF_DENIED) from "damaged file"
 * (COF_CORRUPT), and makes the wrapping key-committing.
 *
 * Invariants:
 *   1. Key bytes live only in slabs from sodium_malloc, read-only except while one
 *      slot is being written under the mutex; slots are never moved or reused, so a
 *      returned pointer stays valid until close (a destroyed slot reads as zeros).
 *   2. Every decrypted or serialized plaintext is in sodium_malloc memory and wiped.
 *   3. The map holds at most one entry per (type, tenant, day); a tombstone is a data
 *      entry with destroyed = 1 and key = NULL.
 *   4. dirty == 0 means the file on disk holds exactly the map (under k->master). */
#include "keyring.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bounds.h"
#include "fsutil.h"
#include "seal.h"
#include "str.h"

#define KR_MAGIC "COFKR1\0\0"
#define KR_VERSION 1u
#define KR_ID_LEN 16
#define KR_AD_LEN (8 + 4 + KR_ID_LEN)
#define KR_CHECK_LEN 32
#define KR_HDR_LEN (KR_AD_LEN + KR_CHECK_LEN)
#define KR_CHECK_DOMAIN "coffer-keyring-check-v1"

enum { KR_WAL = 1, KR_BLIND = 2, KR_DATA = 3, KR_TOMB = 4 };

#define SLAB_BYTES 4096u
#define SLAB_SLOTS (SLAB_BYTES / COF_KEY_LEN)

typedef struct kr_ent {
    struct kr_ent *next;
    uint64_t h;
    uint8_t *key;   /* slot in slabs[slab]; NULL once destroyed */
    uint32_t slab;
    uint32_t day;
    uint8_t type;   /* KR_WAL, KR_BLIND or KR_DATA */
    uint8_t destroyed;
    uint8_t tlen;
    char tenant[COF_MAX_TENANT_NAME + 1];
} kr_ent;

struct cof_keyring {
    pthread_mutex_t mu;
    char *path;     /* data_dir/keyring; NULL for an in-memory keyring */
    char *data_dir;
    uint8_t *master; /* sodium_malloc, read-only */
    uint8_t id[KR_ID_LEN];
    uint64_t seed;  /* hash seed, random per keyring */
    kr_ent **buckets;
    size_t nbuckets, n;
    uint8_t **slabs;
    size_t nslabs, slabcap, slab_used;
    int dirty, loading;
    kr_ent *wal;
};

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* Tenant names: 1..COF_MAX_TENANT_NAME bytes of valid UTF-8 without control characters
 * or spaces (they appear in messages and paths elsewhere). */
static int tenant_ok(const char *t, size_t n)
{
    if (n == 0 || n > COF_MAX_TENANT_NAME)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c <= 0x20 || c == 0x7f)
            return 0;
    }
    return cof_str_utf8_valid(cof_str_make(t, n));
}

static cof_status bad_tenant(void)
{
    return COF_ERR(COF_BADINPUT, "invalid tenant name (1..%d printable bytes, no spaces)",
                   COF_MAX_TENANT_NAME);
}

/* Length check only: a name found in the map was validated when it was added, so the
 * character check (tenant_ok) runs on a miss, before anything is created. */
static cof_status tenant_arg(const char *tenant, size_t *n)
{
    if (!tenant)
        return COF_ERR(COF_BADINPUT, "tenant name missing");
    *n = strnlen(tenant, COF_MAX_TENANT_NAME + 1);
    if (*n == 0 || *n > COF_MAX_TENANT_NAME)
        return bad_tenant();
    return COF_OK;
}

/* ---- the map ---- */

/* Seeded FNV-1a with a final avalanche: a few ns for a short tenant name, on the
 * ingest hot path. Tenant names come from the configuration, not from log lines, so
 * a keyed PRF (SipHash, ~25 ns here) against hash flooding is not needed. */
static uint64_t ent_hash(const cof_keyring *k, int type, const char *t, size_t tn, uint32_t day)
{
    uint64_t h = k->seed ^ ((uint64_t)day << 8 | (uint64_t)type);
    for (size_t i = 0; i < tn; i++)
        h = (h ^ (unsigned char)t[i]) * 0x100000001b3ull;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return h;
}

static kr_ent *find(const cof_keyring *k, int type, const char *t, size_t tn, uint32_t day,
                    uint64_t h)
{
    for (kr_ent *e = k->buckets[h & (k->nbuckets - 1)]; e; e = e->next)
        if (e->h == h && e->type == type && e->day == day && e->tlen == tn &&
            memcmp(e->tenant, t, tn) == 0)
            return e;
    return NULL;
}

static cof_status grow(cof_keyring *k)
{
    size_t nb = k->nbuckets * 2;
    kr_ent **b = calloc(nb, sizeof *b);
    if (!b)
        return COF_ERR(COF_NOMEM, "keyring: out of memory");
    for (size_t i = 0; i < k->nbuckets; i++) {
        kr_ent *e = k->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            e->next = b[e->h & (nb - 1)];
            b[e->h & (nb - 1)] = e;
        }
    }
    free(k->buckets);
    k->buckets = b;
    k->nbuckets = nb;
    return COF_OK;
}

/* Write 32 bytes (src, or random if src is NULL) into the slot key of slab s. */
static void slot_write(cof_keyring *k, uint32_t s, uint8_t *slot, const uint8_t *src)
{
    if (!k->loading)
        sodium_mprotect_readwrite(k->slabs[s]);
    if (src)
        memcpy(slot, src, COF_KEY_LEN);
    else
        randombytes_buf(slot, COF_KEY_LEN);
    if (!k->loading)
        sodium_mprotect_readonly(k->slabs[s]);
}

static void slot_wipe(cof_keyring *k, kr_ent *e)
{
    if (!e->key)
        return;
    if (!k->loading)
        sodium_mprotect_readwrite(k->slabs[e->slab]);
    sodium_memzero(e->key, COF_KEY_LEN);
    if (!k->loading)
        sodium_mprotect_readonly(k->slabs[e->slab]);
    e->key = NULL;
}

static cof_status slot_alloc(cof_keyring *k, uint32_t *slab, uint8_t **slot)
{
    if (k->nslabs == 0 || k->slab_used == SLAB_SLOTS) {
        if (k->nslabs == k->slabcap) {
            size_t cap = k->slabcap ? k->slabcap * 2 : 16;
            uint8_t **s = realloc(k->slabs, cap * sizeof *s);
            if (!s)
                return COF_ERR(COF_NOMEM, "keyring: out of memory");
            k->slabs = s;
            k->slabcap = cap;
        }
        uint8_t *m = sodium_malloc(SLAB_BYTES);
        if (!m)
            return COF_ERR(COF_NOMEM, "keyring: out of guarded memory for keys");
        sodium_memzero(m, SLAB_BYTES);
        if (!k->loading)
            sodium_mprotect_readonly(m);
        k->slabs[k->nslabs++] = m;
        k->slab_used = 0;
    }
    *slab = (uint32_t)(k->nslabs - 1);
    *slot = k->slabs[*slab] + k->slab_used++ * COF_KEY_LEN;
    return COF_OK;
}

/* Add an entry that find() did not find. key: bytes to copy, or NULL for a random key;
 * tomb: add a destroyed data entry without key. */
static cof_status add(cof_keyring *k, int type, const char *t, size_t tn, uint32_t day,
                      uint64_t h, const uint8_t *key, int tomb, kr_ent **out)
{
    cof_status st;
    if (k->n >= COF_MAX_KEYRING_ENTRIES)
        return COF_ERR(COF_LIMIT, "keyring holds %u entries already (COF_MAX_KEYRING_ENTRIES)",
                       COF_MAX_KEYRING_ENTRIES);
    if (k->n >= k->nbuckets && (st = grow(k)) != COF_OK)
        return st;
    kr_ent *e = calloc(1, sizeof *e);
    if (!e)
        return COF_ERR(COF_NOMEM, "keyring: out of memory");
    if (!tomb) {
        st = slot_alloc(k, &e->slab, &e->key);
        if (st) {
            free(e);
            return st;
        }
        slot_write(k, e->slab, e->key, key);
    }
    e->h = h;
    e->type = (uint8_t)type;
    e->day = day;
    e->destroyed = (uint8_t)(tomb != 0);
    e->tlen = (uint8_t)tn;
    memcpy(e->tenant, t, tn);
    e->tenant[tn] = 0;
    e->next = k->buckets[h & (k->nbuckets - 1)];
    k->buckets[h & (k->nbuckets - 1)] = e;
    k->n++;
    if (type == KR_WAL)
        k->wal = e;
    *out = e;
    return COF_OK;
}

/* Undo add() of e (its slot is wiped, not reused). */
static void drop(cof_keyring *k, kr_ent *e)
{
    kr_ent **pp = &k->buckets[e->h & (k->nbuckets - 1)];
    while (*pp != e)
        pp = &(*pp)->next;
    *pp = e->next;
    slot_wipe(k, e);
    if (k->wal == e)
        k->wal = NULL;
    k->n--;
    free(e);
}

static cof_status kr_new(cof_keyring **out)
{
    cof_keyring *k = calloc(1, sizeof *k);
    if (!k)
        return COF_ERR(COF_NOMEM, "keyring: out of memory");
    k->nbuckets = 64;
    k->buckets = calloc(k->nbuckets, sizeof *k->buckets);
    k->master = sodium_malloc(COF_KEY_LEN);
    if (!k->buckets || !k->master) {
        free(k->buckets);
        if (k->master)
            sodium_free(k->master);
        free(k);
        return COF_ERR(COF_NOMEM, "keyring: out of memory");
    }
    sodium_mprotect_readonly(k->master);
    randombytes_buf(&k->seed, sizeof k->seed);
    pthread_mutex_init(&k->mu, NULL);
    *out = k;
    return COF_OK;
}

static void set_master(cof_keyring *k, const uint8_t m[COF_KEY_LEN])
{
    sodium_mprotect_readwrite(k->master);
    memcpy(k->master, m, COF_KEY_LEN);
    sodium_mprotect_readonly(k->master);
}

void cof_keyring_close(cof_keyring *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->nbuckets; i++) {
        kr_ent *e = k->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            free(e);
        }
    }
    for (size_t i = 0; i < k->nslabs; i++) {
        sodium_mprotect_readwrite(k->slabs[i]);
        sodium_memzero(k->slabs[i], SLAB_BYTES);
        sodium_free(k->slabs[i]);
    }
    sodium_mprotect_readwrite(k->master);
    sodium_memzero(k->master, COF_KEY_LEN);
    sodium_free(k->master);
    free(k->slabs);
    free(k->buckets);
    free(k->path);
    free(k->data_dir);
    pthread_mutex_destroy(&k->mu);
    free(k);
}

/* ---- the file image ---- */

static void key_check(const uint8_t master[COF_KEY_LEN], const uint8_t ad[KR_AD_LEN],
                      uint8_t out[KR_CHECK_LEN])
{
    crypto_generichash_state s;
    crypto_generichash_init(&s, master, COF_KEY_LEN, KR_CHECK_LEN);
    crypto_generichash_update(&s, (const uint8_t *)KR_CHECK_DOMAIN, sizeof KR_CHECK_DOMAIN - 1);
    crypto_generichash_update(&s, ad, KR_AD_LEN);
    crypto_generichash_final(&s, out, KR_CHECK_LEN);
    sodium_memzero(&s, sizeof s);
}

/* Header + key check + sealed pt into a malloc'd image. */
static cof_status seal_image(const uint8_t *pt, size_t n, const uint8_t master[COF_KEY_LEN],
                             const uint8_t id[KR_ID_LEN], uint8_t **file, size_t *filen)
{
    if (n > COF_MAX_KEYRING_BYTES - KR_HDR_LEN - COF_SEAL_OVERHEAD)
        return COF_ERR(COF_LIMIT, "keyring would exceed %u bytes", COF_MAX_KEYRING_BYTES);
    size_t total = KR_HDR_LEN + n + COF_SEAL_OVERHEAD;
    uint8_t *f = malloc(total);
    if (!f)
        return COF_ERR(COF_NOMEM, "keyring: out of memory");
    memcpy(f, KR_MAGIC, 8);
    put_u32(f + 8, KR_VERSION);
    memcpy(f + 12, id, KR_ID_LEN);
    key_check(master, f, f + KR_AD_LEN);
    cof_status st = cof_seal_box(master, f, KR_AD_LEN, pt, n, f + KR_HDR_LEN);
    if (st) {
        free(f);
        return st;
    }
    *file = f;
    *filen = total;
    return COF_OK;
}

static size_t ent_size(const kr_ent *e)
{
    return 2 + e->tlen + 4 + (e->destroyed ? 0 : COF_KEY_LEN);
}

/* Serialize the map and seal it under master. Called with the lock held. */
static cof_status build_image(cof_keyring *k, const uint8_t master[COF_KEY_LEN], uint8_t **file,
                              size_t *filen)
{
    size_t n = 4;
    for (size_t i = 0; i < k->nbuckets; i++)
        for (kr_ent *e = k->buckets[i]; e; e = e->next)
            n += ent_size(e);
    uint8_t *pt = sodium_malloc(n), *p = pt;
    if (!pt)
        return COF_ERR(COF_NOMEM, "keyring: out of guarded memory");
    put_u32(p, (uint32_t)k->n);
    p += 4;
    for (size_t i = 0; i < k->nbuckets; i++) {
        for (kr_ent *e = k->buckets[i]; e; e = e->next) {
            *p++ = e->destroyed ? KR_TOMB : e->type;
            *p++ = e->tlen;
            memcpy(p, e->tenant, e->tlen);
            p += e->tlen;
            put_u32(p, e->day);
            p += 4;
            if (!e->destroyed) {
                memcpy(p, e->key, COF_KEY_LEN);
                p += COF_KEY_LEN;
            }
        }
    }
    cof_status st = seal_image(pt, n, master, k->id, file, filen);
    sodium_memzero(pt, n);
    sodium_free(pt);
    return st;
}

/* Parse the decrypted entries (hostile until proven otherwise) into k. */
static cof_status parse_entries(cof_keyring *k, const uint8_t *p, size_t n, const char *name)
{
    const uint8_t *end = p + n;
    cof_status st;
    if (n < 4)
        return COF_ERR(COF_CORRUPT, "keyring %s: entry count missing", name);
    uint32_t count = get_u32(p);
    p += 4;
    if (count > COF_MAX_KEYRING_ENTRIES)
        return COF_ERR(COF_CORRUPT, "keyring %s: %u entries, more than the limit %u", name,
                       count, COF_MAX_KEYRING_ENTRIES);
    for (uint32_t i = 0; i < count; i++) {
        if (end - p < 2)
            return COF_ERR(COF_CORRUPT, "keyring %s: entry %u truncated", name, i);
        int type = p[0];
        size_t tn = p[1];
        p += 2;
        if (type < KR_WAL || type > KR_TOMB)
            return COF_ERR(COF_CORRUPT, "keyring %s: entry %u has unknown type %d", name, i,
                           type);
        if ((size_t)(end - p) < tn + 4 + (type == KR_TOMB ? 0 : COF_KEY_LEN))
            return COF_ERR(COF_CORRUPT, "keyring %s: entry %u truncated", name, i);
        const char *t = (const char *)p;
        uint32_t day = get_u32(p + tn);
        p += tn + 4;
        if (type == KR_WAL ? (tn != 0 || day != 0) : !tenant_ok(t, tn))
            return COF_ERR(COF_CORRUPT, "keyring %s: entry %u has an invalid tenant", name, i);
        if (type == KR_BLIND && day != 0)
            return COF_ERR(COF_CORRUPT, "keyring %s: entry %u: blind key with a day", name, i);
        int mtype = type == KR_TOMB ? KR_DATA : type;
        uint64_t h = ent_hash(k, mtype, t, tn, day);
        if (find(k, mtype, t, tn, day, h))
            return COF_ERR(COF_CORRUPT, "keyring %s: entry %u is a duplicate", name, i);
        kr_ent *e;
        st = add(k, mtype, t, tn, day, h, type == KR_TOMB ? NULL : p, type == KR_TOMB, &e);
        if (st)
            return st;
        if (type != KR_TOMB)
            p += COF_KEY_LEN;
    }
    if (p != end)
        return COF_ERR(COF_CORRUPT, "keyring %s: %zu bytes after the last entry", name,
                       (size_t)(end - p));
    if (!k->wal)
        return COF_ERR(COF_CORRUPT, "keyring %s: no WAL key", name);
    return COF_OK;
}

cof_status cof_keyring_open_mem(const uint8_t *file, size_t n, const uint8_t master[COF_KEY_LEN],
                                const char *name, cof_keyring **out)
{
    cof_keyring *k = NULL;
    uint8_t check[KR_CHECK_LEN], *pt = NULL;
    size_t ptn = 0;
    cof_status st = cof_seal_init();
    if (st)
        return st;
    if (n < 8 || memcmp(file, KR_MAGIC, 8) != 0)
        return COF_ERR(COF_CORRUPT, "%s is not a coffer keyring (bad magic)", name);
    if (n > COF_MAX_KEYRING_BYTES)
        return COF_ERR(COF_CORRUPT, "keyring %s is larger than %u bytes", name,
                       COF_MAX_KEYRING_BYTES);
    if (n < KR_HDR_LEN + COF_SEAL_OVERHEAD)
        return COF_ERR(COF_CORRUPT, "keyring %s is truncated (%zu bytes)", name, n);
    if (get_u32(file + 8) != KR_VERSION)
        return COF_ERR(COF_CORRUPT, "keyring %s has unsupported version %u", name,
                       get_u32(file + 8));
    key_check(master, file, check);
    int same = cof_seal_equal(check, file + KR_AD_LEN, KR_CHECK_LEN);
    sodium_memzero(check, sizeof check);
    if (!same)
        return COF_ERR(COF_DENIED, "keyring %s: the master key does not open this keyring "
                       "(wrong key file?)", name);
    ptn = n - KR_HDR_LEN - COF_SEAL_OVERHEAD;
    pt = sodium_malloc(ptn ? ptn : 1);
    if (!pt)
        return COF_ERR(COF_NOMEM, "keyring: out of guarded memory");
    st = cof_seal_open(master, file, KR_AD_LEN, file + KR_HDR_LEN, n - KR_HDR_LEN, pt);
    if (st) {
        st = COF_ERR(COF_CORRUPT, "keyring %s is damaged: its sealed entries failed "
                     "authentication", name);
        goto out;
    }
    st = kr_new(&k);
    if (st)
        goto out;
    memcpy(k->id, file + 12, KR_ID_LEN);
    set_master(k, master);
    k->loading = 1;
    st = parse_entries(k, pt, ptn, name);
    k->loading = 0;
    for (size_t i = 0; i < k->nslabs; i++)
        sodium_mprotect_readonly(k->slabs[i]);
    if (st)
        goto out;
    *out = k;
    k = NULL;
out:
    cof_keyring_close(k);
    sodium_memzero(pt, ptn ? ptn : 1);
    sodium_free(pt);
    return st;
}

cof_status cof_keyring_wrap_mem(const uint8_t *pt, size_t n, const uint8_t master[COF_KEY_LEN],
                                uint8_t **file, size_t *filen)
{
    uint8_t id[KR_ID_LEN];
    cof_status st = cof_seal_init();
    if (st)
        return st;
    randombytes_buf(id, sizeof id);
    return seal_image(pt, n, master, id, file, filen);
}

/* ---- master key files ---- */

static cof_status outside_data_dir(const char *key_file, const char *data_dir)
{
    int inside = 0;
    cof_status st;
    if (!data_dir)
        return COF_OK;
    st = cof_fs_is_inside(key_file, data_dir, &inside);
    if (st)
        return st;
    if (inside)
        return COF_ERR(COF_DENIED, "%s: the master key must live outside the data directory "
                       "%s (a copy of the data directory must not carry its key)",
                       key_file, data_dir);
    return COF_OK;
}

/* Read and check the master key file into m (COF_KEY_LEN bytes of guarded memory). */
static cof_status load_master(const char *key_file, const char *data_dir, uint8_t *m)
{
    struct stat sb;
    size_t got = 0;
    int fd = -1;
    cof_status st = outside_data_dir(key_file, data_dir);
    if (st)
        return st;
    st = cof_fs_open(key_file, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0, &fd);
    if (st == COF_NOTFOUND)
        return COF_ERR(COF_NOTFOUND, "master key file %s not found; run coffer init", key_file);
    if (st)
        return st;
    st = cof_fs_check_private(fd, key_file, "master key file", 0600);
    if (st)
        goto out;
    if (fstat(fd, &sb) != 0) {
        st = COF_ERRNO("stat %s", key_file);
        goto out;
    }
    if (sb.st_size != COF_KEY_LEN) {
        st = COF_ERR(COF_CORRUPT, "master key file %s has %lld bytes, expected %d (not a "
                     "coffer master key?)", key_file, (long long)sb.st_size, COF_KEY_LEN);
        goto out;
    }
    st = cof_fs_read_all(fd, m, COF_KEY_LEN, &got, key_file);
    if (!st && got != COF_KEY_LEN)
        st = COF_ERR(COF_CORRUPT, "master key file %s is truncated", key_file);
out:
    if (st)
        sodium_memzero(m, COF_KEY_LEN);
    (void)close(fd);
    return st;
}

/* Create path (O_EXCL, 0600) holding m; fsync it and its directory. */
static cof_status write_key_file(const char *path, const uint8_t *m)
{
    int fd = -1;
    cof_status st = cof_fs_open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600, &fd);
    if (st)
        return st;
    if (fchmod(fd, 0600) != 0) { /* the umask may have removed bits */
        st = COF_ERRNO("chmod %s", path);
        goto fail;
    }
    st = cof_fs_write_all(fd, m, COF_KEY_LEN, path);
    if (!st)
        st = cof_fs_fsync(fd, path);
    if (st)
        goto fail;
    st = cof_fs_close(fd, path);
    if (!st)
        st = cof_fs_fsync_parent(path);
    if (st)
        (void)unlink(path);
    return st;
fail:
    (void)close(fd);
    (void)unlink(path);
    return st;
}

cof_status cof_master_create(const char *key_file, const char *data_dir)
{
    char dir[4096];
    uint8_t *m = NULL;
    cof_status st = cof_seal_init();
    if (st)
        return st;
    if (!key_file || !*key_file)
        return COF_ERR(COF_BADINPUT, "master key file path missing");
    st = outside_data_dir(key_file, data_dir);
    if (st)
        return st;
    st = cof_fs_dir_of(key_file, dir, sizeof dir);
    if (!st)
        st = cof_fs_mkdir_p(dir, 0700);
    if (st)
        return st;
    m = sodium_malloc(COF_KEY_LEN);
    if (!m)
        return COF_ERR(COF_NOMEM, "out of guarded memory");
    randombytes_buf(m, COF_KEY_LEN);
    st = write_key_file(key_file, m);
    if (st == COF_EXISTS)
        st = COF_ERR(COF_EXISTS, "master key file %s already exists; refusing to overwrite it",
                     key_file);
    sodium_memzero(m, COF_KEY_LEN);
    sodium_free(m);
    return st;
}

static cof_status join(const char *dir, const char *name, char **out)
{
    size_t n = strlen(dir) + 1 + strlen(name) + 1;
    char *p = malloc(n);
    if (!p)
        return COF_ERR(COF_NOMEM, "out of memory");
    snprintf(p, n, "%s/%s", dir, name);
    *out = p;
    return COF_OK;
}

cof_status cof_keyring_create(const char *data_dir, const char *key_file)
{
    struct stat sb;
    cof_keyring *k = NULL;
    uint8_t *m = NULL, *file = NULL;
    size_t filen = 0;
    char *path = NULL;
    kr_ent *wal;
    cof_status st = cof_seal_init();
    if (st)
        return st;
    if (!data_dir || !key_file)
        return COF_ERR(COF_BADINPUT, "data directory or key file path missing");
    if (stat(data_dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return COF_ERR(COF_NOTFOUND, "data directory %s does not exist", data_dir);
    if ((st = join(data_dir, COF_KEYRING_FILE, &path)) != COF_OK)
        return st;
    if (lstat(path, &sb) == 0) {
        st = COF_ERR(COF_EXISTS, "keyring %s already exists", path);
        goto out;
    }
    m = sodium_malloc(COF_KEY_LEN);
    if (!m) {
        st = COF_ERR(COF_NOMEM, "out of guarded memory");
        goto out;
    }
    if ((st = load_master(key_file, data_dir, m)) != COF_OK || (st = kr_new(&k)) != COF_OK)
        goto out;
    set_master(k, m);
    randombytes_buf(k->id, sizeof k->id);
    st = add(k, KR_WAL, "", 0, 0, ent_hash(k, KR_WAL, "", 0, 0), NULL, 0, &wal);
    if (!st)
        st = build_image(k, k->master, &file, &filen);
    if (!st)
        st = cof_fs_create_atomic(path, file, filen, 0600);
out:
    if (m) {
        sodium_memzero(m, COF_KEY_LEN);
        sodium_free(m);
    }
    free(file);
    free(path);
    cof_keyring_close(k);
    return st;
}

/* The keyring did not open with key_file: if "<key_file>.new" (left by an interrupted
 * rotation) opens it, finish that rotation. COF_DENIED if there is no such key,
 * COF_CORRUPT if it matches but the keyring is damaged. */
static cof_status finish_rotation(const uint8_t *file, size_t n, const char *path,
                                  const char *key_file, const char *data_dir, uint8_t *m,
                                  cof_keyring **out)
{
    cof_status st;
    size_t len = strlen(key_file) + 5;
    char *newp = malloc(len);
    if (!newp)
        return COF_ERR(COF_NOMEM, "out of memory");
    snprintf(newp, len, "%s.new", key_file);
    st = load_master(newp, data_dir, m);
    if (!st)
        st = cof_keyring_open_mem(file, n, m, path, out);
    if (!st) {
        if (rename(newp, key_file) != 0 || cof_fs_fsync_parent(key_file) != COF_OK) {
            st = COF_ERRNO("finishing an interrupted key rotation: rename %s to %s", newp,
                           key_file);
            cof_keyring_close(*out);
            *out = NULL;
        }
    } else if (st != COF_CORRUPT) {
        st = COF_DENIED; /* no usable .new: report the original key mismatch */
    }
    free(newp);
    return st;
}

cof_status cof_keyring_open(const char *data_dir, const char *key_file, cof_keyring **out)
{
    cof_keyring *k = NULL;
    uint8_t *m = NULL, *file = NULL;
    size_t filen = 0;
    char *path = NULL;
    cof_status st = cof_seal_init();
    if (st)
        return st;
    if (!data_dir || !key_file)
        return COF_ERR(COF_BADINPUT, "data directory or key file path missing");
    m = sodium_malloc(COF_KEY_LEN);
    if (!m)
        return COF_ERR(COF_NOMEM, "out of guarded memory");
    if ((st = load_master(key_file, data_dir, m)) != COF_OK ||
        (st = join(data_dir, COF_KEYRING_FILE, &path)) != COF_OK)
        goto out;
    st = cof_fs_read_file(path, COF_MAX_KEYRING_BYTES, &file, &filen);
    if (st == COF_NOTFOUND) {
        st = COF_ERR(COF_NOTFOUND, "keyring %s not found; run coffer init", path);
        goto out;
    }
    if (st == COF_LIMIT)
        st = COF_ERR(COF_CORRUPT, "keyring %s is larger than %u bytes", path,
                     COF_MAX_KEYRING_BYTES);
    if (st)
        goto out;
    st = cof_keyring_open_mem(file, filen, m, path, &k);
    if (st == COF_DENIED) {
        char msg[512];
        snprintf(msg, sizeof msg, "%s", cof_err_msg());
        st = finish_rotation(file, filen, path, key_file, data_dir, m, &k);
        if (st == COF_DENIED)
            st = COF_ERR(COF_DENIED, "%s", msg);
    }
    if (st)
        goto out;
    k->path = path;
    path = NULL;
    k->data_dir = strdup(data_dir);
    if (!k->data_dir) {
        st = COF_ERR(COF_NOMEM, "out of memory");
        goto out;
    }
    *out = k;
    k = NULL;
out:
    sodium_memzero(m, COF_KEY_LEN);
    sodium_free(m);
    free(file);
    free(path);
    cof_keyring_close(k);
    return st;
}

/* ---- lookups ---- */

static cof_status save_locked(cof_keyring *k)
{
    uint8_t *file = NULL;
    size_t filen = 0;
    if (!k->dirty)
        return COF_OK;
    if (!k->path)
        return COF_ERR(COF_BADINPUT, "in-memory keyring cannot be saved");
    cof_status st = build_image(k, k->master, &file, &filen);
    if (!st)
        st = cof_fs_replace(k->path, file, filen, 0600);
    free(file);
    if (!st)
        k->dirty = 0;
    return st;
}

cof_status cof_keyring_save(cof_keyring *k)
{
    pthread_mutex_lock(&k->mu);
    cof_status st = save_locked(k);
    pthread_mutex_unlock(&k->mu);
    return st;
}

/* Find or (if create) create the live key of (type, tenant, day). */
static cof_status get_key(cof_keyring *k, int type, const char *t, size_t tn, uint32_t day,
                          int create, const uint8_t **key)
{
    cof_status st = COF_OK;
    pthread_mutex_lock(&k->mu);
    uint64_t h = ent_hash(k, type, t, tn, day);
    kr_ent *e = find(k, type, t, tn, day, h);
    if (e && !e->destroyed) {
        *key = e->key;
    } else if (e) {
        st = create ? COF_ERR(COF_DENIED, "the data key of tenant %s day %u was destroyed "
                              "(crypto-shredded); it is never recreated", t, day)
                    : COF_ERR(COF_NOTFOUND, "the data key of tenant %s day %u was destroyed",
                              t, day);
    } else if (!tenant_ok(t, tn)) {
        st = bad_tenant();
    } else if (!create) {
        st = COF_ERR(COF_NOTFOUND, "no data key for tenant %s day %u", t, day);
    } else {
        int was_dirty = k->dirty;
        st = add(k, type, t, tn, day, h, NULL, 0, &e);
        if (!st) {
            k->dirty = 1;
            st = save_locked(k);
            if (st) {
                drop(k, e); /* never hand out a key that is not on disk */
                k->dirty = was_dirty;
            } else {
                *key = e->key;
            }
        }
    }
    pthread_mutex_unlock(&k->mu);
    return st;
}

cof_status cof_keyring_blind_key(cof_keyring *k, const char *tenant, const uint8_t **key)
{
    size_t tn = 0;
    cof_status st = tenant_arg(tenant, &tn);
    if (st)
        return st;
    return get_key(k, KR_BLIND, tenant, tn, 0, 1, key);
}

cof_status cof_keyring_data_key(cof_keyring *k, const char *tenant, uint32_t day, int create,
                                const uint8_t **key)
{
    size_t tn = 0;
    cof_status st = tenant_arg(tenant, &tn);
    if (st)
        return st;
    return get_key(k, KR_DATA, tenant, tn, day, create, key);
}

cof_status cof_keyring_wal_key(cof_keyring *k, const uint8_t **key)
{
    /* k->wal never changes after open: no lock needed. */
    *key = k->wal->key;
    return COF_OK;
}

cof_status cof_keyring_subkey(cof_keyring *k, const char *purpose, uint8_t out[COF_KEY_LEN])
{
    size_t n = purpose ? strlen(purpose) : 0;
    if (n == 0 || n > 64)
        return COF_ERR(COF_BADINPUT, "subkey purpose must be 1..64 bytes");
    /* Domain-separated from every other use of the WAL key: the WAL key itself only
     * ever keys XChaCha20-Poly1305, never BLAKE2b, and the input is prefixed. */
    crypto_generichash_state h;
    static const char pre[] = "coffer-subkey-v1:";
    if (crypto_generichash_init(&h, k->wal->key, COF_KEY_LEN, COF_KEY_LEN) != 0 ||
        crypto_generichash_update(&h, (const unsigned char *)pre, sizeof pre - 1) != 0 ||
        crypto_generichash_update(&h, (const unsigned char *)purpose, n) != 0 ||
        crypto_generichash_final(&h, out, COF_KEY_LEN) != 0) {
        sodium_memzero(&h, sizeof h);
        return COF_ERR(COF_NOMEM, "subkey derivation failed");
    }
    sodium_memzero(&h, sizeof h);
    return COF_OK;
}

cof_status cof_keyring_destroy_data_key(cof_keyring *k, const char *tenant, uint32_t day)
{
    size_t tn = 0;
    cof_status st = tenant_arg(tenant, &tn);
    if (st)
        return st;
    if (!tenant_ok(tenant, tn))
        return bad_tenant();
    pthread_mutex_lock(&k->mu);
    kr_ent *e = find(k, KR_DATA, tenant, tn, day, ent_hash(k, KR_DATA, tenant, tn, day));
    if (!e || e->destroyed) {
        st = COF_ERR(COF_NOTFOUND, "no live data key for tenant %s day %u", tenant, day);
    } else {
        slot_wipe(k, e);
        e->destroyed = 1;
        k->dirty = 1;
        st = save_locked(k); /* if it fails, dirty stays set and the next save retries */
    }
    pthread_mutex_unlock(&k->mu);
    return st;
}

typedef struct {
    char tenant[COF_MAX_TENANT_NAME + 1];
    uint32_t day;
} kr_item;

static int item_cmp(const void *a, const void *b)
{
    const kr_item *x = a, *y = b;
    int c = strcmp(x->tenant, y->tenant);
    if (c)
        return c;
    return (x->day > y->day) - (x->day < y->day);
}

cof_status cof_keyring_each_data_key(cof_keyring *k,
                                     cof_status (*fn)(void *ctx, const char *tenant,
                                                      uint32_t day),
                                     void *ctx)
{
    kr_item *items = NULL;
    size_t n = 0;
    cof_status st = COF_OK;
    pthread_mutex_lock(&k->mu);
    items = malloc((k->n ? k->n : 1) * sizeof *items);
    if (items) {
        for (size_t i = 0; i < k->nbuckets; i++)
            for (kr_ent *e = k->buckets[i]; e; e = e->next)
                if (e->type == KR_DATA && !e->destroyed) {
                    memcpy(items[n].tenant, e->tenant, (size_t)e->tlen + 1);
                    items[n++].day = e->day;
                }
    }
    pthread_mutex_unlock(&k->mu);
    if (!items)
        return COF_ERR(COF_NOMEM, "keyring: out of memory");
    qsort(items, n, sizeof *items, item_cmp);
    for (size_t i = 0; i < n && !st; i++)
        st = fn(ctx, items[i].tenant, items[i].day);
    free(items);
    return st;
}

cof_status cof_keyring_rotate_master(cof_keyring *k, const char *key_file)
{
    char *newp = NULL;
    uint8_t *m = NULL, *file = NULL;
    size_t filen = 0;
    cof_status st;
    if (!key_file)
        return COF_ERR(COF_BADINPUT, "master key file path missing");
    pthread_mutex_lock(&k->mu);
    if (!k->path) {
        st = COF_ERR(COF_BADINPUT, "in-memory keyring cannot be rotated");
        goto out;
    }
    if ((st = outside_data_dir(key_file, k->data_dir)) != COF_OK)
        goto out;
    size_t len = strlen(key_file) + 5;
    newp = malloc(len);
    m = sodium_malloc(COF_KEY_LEN);
    if (!newp || !m) {
        st = COF_ERR(COF_NOMEM, "out of memory");
        goto out;
    }
    snprintf(newp, len, "%s.new", key_file);
    /* Rotating some other file would leave the real key file unable to open the
     * keyring: insist on the key this keyring was opened with. */
    if ((st = load_master(key_file, k->data_dir, m)) != COF_OK)
        goto out;
    if (!cof_seal_equal(m, k->master, COF_KEY_LEN)) {
        st = COF_ERR(COF_BADINPUT, "%s is not the master key this keyring was opened with; "
                     "refusing to rotate", key_file);
        goto out;
    }
    randombytes_buf(m, COF_KEY_LEN);
    /* A stale "<key_file>.new" wraps nothing current: the keyring opened with key_file. */
    if (unlink(newp) != 0 && errno != ENOENT) {
        st = COF_ERRNO("remove stale %s", newp);
        goto out;
    }
    if ((st = write_key_file(newp, m)) != COF_OK)
        goto out;
    if ((st = build_image(k, m, &file, &filen)) != COF_OK ||
        (st = cof_fs_replace(k->path, file, filen, 0600)) != COF_OK) {
        /* "<key_file>.new" stays: if the replace did reach the disk, open needs it. */
        goto out;
    }
    set_master(k, m);
    k->dirty = 0;
    if (rename(newp, key_file) != 0) {
        st = COF_ERRNO("rename %s to %s (the next open completes this rotation)", newp,
                       key_file);
        goto out;
    }
    st = cof_fs_fsync_parent(key_file);
out:
    pthread_mutex_unlock(&k->mu);
    if (m) {
        sodium_memzero(m, COF_KEY_LEN);
        sodium_free(m);
    }
    free(file);
    free(newp);
    return st;
}
