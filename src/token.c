/* token.c - API tokens: creation, checking, revocation; DATA_DIR/tokens.json.
 *
 * A token is "cof_" || id || "_" || secret, where id is 16 lowercase hex digits (8
 * random bytes) and secret is base64url without padding of 32 random bytes. Only
 * BLAKE2b-256 keyed with the keyring subkey "token-hash" of the whole string is
 * stored; the string itself exists only in the caller's buffer.
 *
 * Invariants:
 *   1. tokens.json is only ever replaced atomically (cof_fs_replace), and every
 *      read-modify-write holds an exclusive flock on DATA_DIR/tokens.lock, after
 *      re-reading the file under that lock: concurrent writers never lose updates.
 *   2. A handle keeps the descriptor of the file it last loaded open. So that inode
 *      cannot be freed and reused, and a replaced file always has a different
 *      (dev, inode); (mtime, size) catch edits in place. Checks re-read on any change.
 *   3. If the file cannot be read or is invalid, checks fail (closed): a revocation
 *      that cannot be seen must not let a revoked token through.
 *   4. ents[] is sorted by id; ids are unique. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "access.h"
#include "fsutil.h"
#include "timefmt.h"
#include "token_int.h"

#define TOKENS_FORMAT "coffer-tokens-1"
/* COF_MAX_TOKENS entries of ~300 bytes each (indented JSON) fit with room to spare. */
#define COF_MAX_TOKENS_BYTES (32u << 20)
#define SECRET_BYTES 32
#define SECRET_B64LEN 43
#define ID_BYTES 8

struct cof_tokens {
    pthread_mutex_t mu;
    char path[4200];
    char lock_path[4200];
    uint8_t *key;          /* sodium_malloc'd, read-only */
    cof_token_entry *ents; /* sorted by id */
    size_t n;
    int fd;                /* the loaded file, kept open (invariant 2); -1 if none */
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

/* ---------------------------------------------------------------- token strings */

static int is_lhex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

static int is_b64url(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_';
}

static int id_valid(const char *s, size_t n)
{
    if (n != COF_TOKEN_IDLEN)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_lhex(s[i]))
            return 0;
    return 1;
}

int cof_token_parse(cof_str s, char id[COF_TOKEN_IDLEN + 1])
{
    uint8_t bin[SECRET_BYTES];
    size_t binlen = 0;
    const char *end = NULL;
    if (!s.p || s.n != COF_TOKEN_STRLEN || memcmp(s.p, "cof_", 4) != 0 ||
        !id_valid(s.p + 4, COF_TOKEN_IDLEN) || s.p[4 + COF_TOKEN_IDLEN] != '_')
        return 0;
    const char *sec = s.p + 5 + COF_TOKEN_IDLEN;
    for (size_t i = 0; i < SECRET_B64LEN; i++)
        if (!is_b64url(sec[i]))
            return 0;
    /* Canonical: the 4 spare bits of the last character are zero (libsodium checks). */
    int rc = sodium_base642bin(bin, sizeof bin, sec, SECRET_B64LEN, NULL, &binlen, &end,
                               sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(bin, sizeof bin);
    if (rc != 0 || binlen != SECRET_BYTES || end != sec + SECRET_B64LEN)
        return 0;
    memcpy(id, s.p + 4, COF_TOKEN_IDLEN);
    id[COF_TOKEN_IDLEN] = 0;
    return 1;
}

static int principal_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > COF_MAX_PRINCIPAL_NAME)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '@' || c == '-'))
            return 0;
    }
    return 1;
}

/* ---------------------------------------------------------------- file format */

static int cmp_entry(const void *x, const void *y)
{
    return strcmp(((const cof_token_entry *)x)->info.id, ((const cof_token_entry *)y)->info.id);
}

static cof_token_entry *find(cof_token_entry *ents, size_t n, const char *id)
{
    cof_token_entry key;
    memcpy(key.info.id, id, COF_TOKEN_IDLEN + 1);
    return bsearch(&key, ents, n, sizeof *ents, cmp_entry);
}

/* Strict RFC 3339 UTC time after 1970 (the form cof_time_format writes). */
static int jtime_get(json_t *v, int64_t *out)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd";
    if (!json_is_string(v))
        return 0;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (n < 20 || n > 30 || s[n - 1] != 'Z')
        return 0;
    for (size_t i = 0; i < 19; i++)
        if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
            return 0;
    if (n > 20) {
        if (s[19] != '.' || n < 22)
            return 0;
        for (size_t i = 20; i < n - 1; i++)
            if (!(s[i] >= '0' && s[i] <= '9'))
                return 0;
    }
    int64_t t;
    if (cof_time_parse(cof_str_make(s, n), 0, &t) != COF_OK || t <= 0)
        return 0;
    *out = t;
    return 1;
}

static cof_status perr(const char *name, size_t i, const char *what)
{
    return COF_ERR(COF_CORRUPT, "%s: tokens[%zu]: %s", name, i, what);
}

static cof_status parse_entry(json_t *o, const char *name, size_t i, cof_token_entry *e)
{
    const char *k;
    json_t *v;
    if (!json_is_object(o))
        return perr(name, i, "not an object");
    json_object_foreach(o, k, v) {
        if (strcmp(k, "id") && strcmp(k, "principal") && strcmp(k, "created") &&
            strcmp(k, "expires") && strcmp(k, "revoked") && strcmp(k, "hash"))
            return perr(name, i, "unknown key");
    }
    v = json_object_get(o, "id");
    if (!json_is_string(v) || !id_valid(json_string_value(v), json_string_length(v)))
        return perr(name, i, "id: not 16 lowercase hex digits");
    memcpy(e->info.id, json_string_value(v), COF_TOKEN_IDLEN + 1);
    v = json_object_get(o, "principal");
    if (!json_is_string(v) || json_string_length(v) != strlen(json_string_value(v)) ||
        !principal_valid(json_string_value(v)))
        return perr(name, i, "principal: not a principal name");
    memcpy(e->info.principal, json_string_value(v), json_string_length(v) + 1);
    if (!jtime_get(json_object_get(o, "created"), &e->info.created))
        return perr(name, i, "created: not an RFC 3339 UTC time");
    if ((v = json_object_get(o, "expires")) && !jtime_get(v, &e->info.expires))
        return perr(name, i, "expires: not an RFC 3339 UTC time");
    if ((v = json_object_get(o, "revoked")) && !jtime_get(v, &e->info.revoked))
        return perr(name, i, "revoked: not an RFC 3339 UTC time");
    v = json_object_get(o, "hash");
    if (!json_is_string(v) || json_string_length(v) != 64 ||
        sodium_hex2bin(e->hash, sizeof e->hash, json_string_value(v), 64, NULL, NULL, NULL) != 0)
        return perr(name, i, "hash: not 64 hex digits");
    return COF_OK;
}

cof_status cof_tokens_parse_mem(const char *buf, size_t len, const char *name,
                                cof_token_entry **out, size_t *n)
{
    cof_token_entry *ents = NULL;
    json_error_t jerr;
    json_t *root = NULL;
    cof_status st = COF_OK;
    if (len > COF_MAX_TOKENS_BYTES)
        return COF_ERR(COF_LIMIT, "%s: larger than %u bytes", name, COF_MAX_TOKENS_BYTES);
    if (!(root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr)))
        return COF_ERR(COF_CORRUPT, "%s: line %d column %d: %s", name, jerr.line, jerr.column,
                       jerr.text);
    json_t *f = json_object_get(root, "format"), *arr = json_object_get(root, "tokens");
    if (!json_is_object(root) || json_object_size(root) != 2 || !json_is_string(f) ||
        strcmp(json_string_value(f), TOKENS_FORMAT) != 0 || !json_is_array(arr)) {
        st = COF_ERR(COF_CORRUPT, "%s: not a coffer tokens file (want {\"format\": \""
                     TOKENS_FORMAT "\", \"tokens\": [...]})", name);
        goto out;
    }
    size_t cnt = json_array_size(arr);
    if (cnt > COF_MAX_TOKENS) {
        st = COF_ERR(COF_LIMIT, "%s: more than %d tokens", name, COF_MAX_TOKENS);
        goto out;
    }
    if (!(ents = calloc(cnt ? cnt : 1, sizeof *ents))) {
        st = COF_ERR(COF_NOMEM, "%s", name);
        goto out;
    }
    for (size_t i = 0; i < cnt; i++)
        if ((st = parse_entry(json_array_get(arr, i), name, i, &ents[i])))
            goto out;
    qsort(ents, cnt, sizeof *ents, cmp_entry);
    for (size_t i = 1; i < cnt; i++)
        if (strcmp(ents[i - 1].info.id, ents[i].info.id) == 0) {
            st = COF_ERR(COF_CORRUPT, "%s: a token id appears twice", name);
            goto out;
        }
    *out = ents;
    *n = cnt;
    ents = NULL;
out:
    free(ents);
    json_decref(root);
    return st;
}

static json_t *jtime(int64_t us)
{
    char buf[40];
    return json_string(cof_time_format(us, buf, sizeof buf));
}

static int set_new(json_t *obj, const char *key, json_t *v)
{
    return v ? json_object_set_new(obj, key, v) : -1;
}

static cof_status dump(const cof_token_entry *ents, size_t n, char **out, size_t *len)
{
    json_t *root = json_object(), *arr = json_array();
    char *s = NULL;
    int bad = !root || !arr;
    for (size_t i = 0; i < n && !bad; i++) {
        const cof_token_entry *e = &ents[i];
        char hex[65];
        json_t *o = json_object();
        sodium_bin2hex(hex, sizeof hex, e->hash, sizeof e->hash);
        bad |= !o;
        bad |= set_new(o, "id", json_string(e->info.id));
        bad |= set_new(o, "principal", json_string(e->info.principal));
        bad |= set_new(o, "created", jtime(e->info.created));
        if (e->info.expires)
            bad |= set_new(o, "expires", jtime(e->info.expires));
        if (e->info.revoked)
            bad |= set_new(o, "revoked", jtime(e->info.revoked));
        bad |= set_new(o, "hash", json_string(hex));
        bad |= json_array_append_new(arr, o);
    }
    bad |= set_new(root, "format", json_string(TOKENS_FORMAT));
    bad |= set_new(root, "tokens", arr);
    if (bad || !(s = json_dumps(root, JSON_SORT_KEYS | JSON_INDENT(2)))) {
        json_decref(root);
        return COF_ERR(COF_NOMEM, "tokens file: serialising");
    }
    json_decref(root);
    size_t l = strlen(s);
    char *r = malloc(l + 2);
    if (!r) {
        free(s);
        return COF_ERR(COF_NOMEM, "tokens file: serialising");
    }
    memcpy(r, s, l);
    r[l] = '\n';
    r[l + 1] = 0;
    free(s);
    *out = r;
    *len = l + 1;
    return COF_OK;
}

/* ---------------------------------------------------------------- the file */

/* Re-read the file if it is not the one last loaded (invariant 2). t->mu held. */
static cof_status reload(cof_tokens *t, int force)
{
    struct stat sb;
    int fd = -1;
    char *buf = NULL;
    cof_token_entry *ents = NULL;
    size_t n = 0, got = 0;
    cof_status st;
    if (!force && t->fd >= 0 && stat(t->path, &sb) == 0 && sb.st_dev == t->dev &&
        sb.st_ino == t->ino && sb.st_size == t->size && sb.st_mtim.tv_sec == t->mtime.tv_sec &&
        sb.st_mtim.tv_nsec == t->mtime.tv_nsec)
        return COF_OK;
    if ((st = cof_fs_open(t->path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0, &fd)))
        return st;
    if ((st = cof_fs_check_private(fd, t->path, "tokens file", 0600)))
        goto out;
    if (fstat(fd, &sb) != 0) {
        st = COF_ERRNO("stat %s", t->path);
        goto out;
    }
    if ((uint64_t)sb.st_size > COF_MAX_TOKENS_BYTES) {
        st = COF_ERR(COF_LIMIT, "%s: larger than %u bytes", t->path, COF_MAX_TOKENS_BYTES);
        goto out;
    }
    if (!(buf = malloc((size_t)sb.st_size + 1))) {
        st = COF_ERR(COF_NOMEM, "%s", t->path);
        goto out;
    }
    if ((st = cof_fs_read_all(fd, buf, (size_t)sb.st_size, &got, t->path)) ||
        (st = cof_tokens_parse_mem(buf, got, t->path, &ents, &n)))
        goto out;
    free(t->ents);
    t->ents = ents;
    t->n = n;
    ents = NULL;
    if (t->fd >= 0)
        (void)close(t->fd);
    t->fd = fd;
    fd = -1;
    t->dev = sb.st_dev;
    t->ino = sb.st_ino;
    t->size = sb.st_size;
    t->mtime = sb.st_mtim;
out:
    free(ents);
    free(buf);
    if (fd >= 0)
        (void)close(fd);
    return st;
}

static cof_status lock_file(cof_tokens *t, int *lfd)
{
    cof_status st = cof_fs_open(t->lock_path, O_RDWR | O_CREAT | O_NOFOLLOW, 0600, lfd);
    if (st)
        return st;
    while (flock(*lfd, LOCK_EX) != 0) {
        if (errno == EINTR)
            continue;
        st = COF_ERRNO("flock %s", t->lock_path);
        (void)close(*lfd);
        *lfd = -1;
        return st;
    }
    return COF_OK;
}

static void unlock_file(int lfd)
{
    if (lfd >= 0)
        (void)close(lfd); /* releases the flock */
}

/* Write ents as the new file, then load it back so the handle tracks it. Lock held. */
static cof_status write_and_track(cof_tokens *t, const cof_token_entry *ents, size_t n)
{
    char *buf = NULL;
    size_t len = 0;
    cof_status st = dump(ents, n, &buf, &len);
    if (st)
        return st;
    if (len > COF_MAX_TOKENS_BYTES)
        st = COF_ERR(COF_LIMIT, "%s: would exceed %u bytes", t->path, COF_MAX_TOKENS_BYTES);
    else
        st = cof_fs_replace(t->path, buf, len, 0600);
    free(buf);
    if (st)
        return st;
    return reload(t, 1);
}

static cof_status paths(cof_tokens *t, const char *data_dir)
{
    int a = snprintf(t->path, sizeof t->path, "%s/tokens.json", data_dir);
    int b = snprintf(t->lock_path, sizeof t->lock_path, "%s/tokens.lock", data_dir);
    if (a < 0 || b < 0 || (size_t)a >= sizeof t->path || (size_t)b >= sizeof t->lock_path)
        return COF_ERR(COF_LIMIT, "data directory path too long");
    return COF_OK;
}

cof_status cof_tokens_open(const char *data_dir, const uint8_t hash_key[32], cof_tokens **out)
{
    int lfd = -1;
    cof_status st;
    if (sodium_init() < 0)
        return COF_ERR(COF_DENIED, "libsodium failed to initialize");
    cof_tokens *t = calloc(1, sizeof *t);
    if (!t)
        return COF_ERR(COF_NOMEM, "tokens");
    t->fd = -1;
    if (pthread_mutex_init(&t->mu, NULL) != 0) {
        free(t);
        return COF_ERR(COF_NOMEM, "tokens: mutex");
    }
    if ((st = paths(t, data_dir)))
        goto out;
    if (!(t->key = sodium_malloc(32))) {
        st = COF_ERR(COF_NOMEM, "tokens: key memory");
        goto out;
    }
    memcpy(t->key, hash_key, 32);
    (void)sodium_mprotect_readonly(t->key);
    if ((st = lock_file(t, &lfd)))
        goto out;
    if (access(t->path, F_OK) != 0 && errno == ENOENT) {
        static const char empty[] = "{\n  \"format\": \"" TOKENS_FORMAT "\",\n  \"tokens\": []\n}\n";
        st = cof_fs_create_atomic(t->path, empty, sizeof empty - 1, 0600);
        if (st == COF_EXISTS)
            st = COF_OK;
        if (st)
            goto out;
    }
    st = reload(t, 1);
out:
    unlock_file(lfd);
    if (st) {
        cof_tokens_close(t);
        return st;
    }
    *out = t;
    return COF_OK;
}

void cof_tokens_close(cof_tokens *t)
{
    if (!t)
        return;
    if (t->fd >= 0)
        (void)close(t->fd);
    sodium_free(t->key);
    free(t->ents);
    pthread_mutex_destroy(&t->mu);
    free(t);
}

/* ---------------------------------------------------------------- operations */

static void hash_token(const cof_tokens *t, const char *s, size_t n, uint8_t out[32])
{
    crypto_generichash(out, 32, (const unsigned char *)s, n, t->key, 32);
}

cof_status cof_tokens_create(cof_tokens *t, const char *principal, int64_t expires,
                             char out[COF_TOKEN_STRLEN + 1], cof_token_info *info)
{
    int lfd = -1;
    cof_token_entry *ents = NULL;
    uint8_t *secret = NULL;
    char *str = NULL;
    cof_status st;
    if (!principal || !principal_valid(principal))
        return COF_ERR(COF_BADINPUT, "invalid principal name (1..%d of A-Za-z0-9._@-)",
                       COF_MAX_PRINCIPAL_NAME);
    if (expires < 0)
        return COF_ERR(COF_BADINPUT, "token expiry before 1970");
    secret = sodium_malloc(SECRET_BYTES);
    str = sodium_malloc(COF_TOKEN_STRLEN + 1);
    if (!secret || !str) {
        sodium_free(secret);
        sodium_free(str);
        return COF_ERR(COF_NOMEM, "token memory");
    }
    pthread_mutex_lock(&t->mu);
    if ((st = lock_file(t, &lfd)) || (st = reload(t, 1)))
        goto out;
    if (t->n >= COF_MAX_TOKENS) {
        st = COF_ERR(COF_LIMIT, "more than %d tokens; revoke and prune old ones", COF_MAX_TOKENS);
        goto out;
    }
    cof_token_entry e;
    memset(&e, 0, sizeof e);
    do { /* 64-bit random ids: a collision is improbable, but never overwrite */
        uint8_t idb[ID_BYTES];
        randombytes_buf(idb, sizeof idb);
        sodium_bin2hex(e.info.id, sizeof e.info.id, idb, sizeof idb);
    } while (find(t->ents, t->n, e.info.id));
    randombytes_buf(secret, SECRET_BYTES);
    memcpy(str, "cof_", 4);
    memcpy(str + 4, e.info.id, COF_TOKEN_IDLEN);
    str[4 + COF_TOKEN_IDLEN] = '_';
    sodium_bin2base64(str + 5 + COF_TOKEN_IDLEN, SECRET_B64LEN + 1, secret, SECRET_BYTES,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    hash_token(t, str, COF_TOKEN_STRLEN, e.hash);
    memcpy(e.info.principal, principal, strlen(principal) + 1);
    e.info.created = cof_time_now_us();
    e.info.expires = expires;
    if (!(ents = malloc((t->n + 1) * sizeof *ents))) {
        st = COF_ERR(COF_NOMEM, "tokens");
        goto out;
    }
    memcpy(ents, t->ents, t->n * sizeof *ents);
    ents[t->n] = e;
    qsort(ents, t->n + 1, sizeof *ents, cmp_entry);
    if ((st = write_and_track(t, ents, t->n + 1)))
        goto out;
    memcpy(out, str, COF_TOKEN_STRLEN + 1);
    if (info)
        *info = e.info;
out:
    unlock_file(lfd);
    pthread_mutex_unlock(&t->mu);
    free(ents);
    sodium_free(secret);
    sodium_free(str);
    return st;
}

cof_status cof_tokens_check(cof_tokens *t, cof_str presented, int64_t now, cof_token_info *info,
                            const char **why)
{
    char id[COF_TOKEN_IDLEN + 1];
    uint8_t h[32];
    cof_status st = COF_DENIED;
    *why = "malformed";
    if (!cof_token_parse(presented, id))
        return COF_DENIED;
    hash_token(t, presented.p, COF_TOKEN_STRLEN, h);
    pthread_mutex_lock(&t->mu);
    cof_status rs = reload(t, 0);
    if (rs) {
        *why = "unavailable"; /* fail closed (invariant 3); the detail names the file */
        st = rs;
        goto out;
    }
    const cof_token_entry *e = find(t->ents, t->n, id);
    if (!e)
        *why = "unknown";
    else if (sodium_memcmp(e->hash, h, sizeof h) != 0)
        *why = "mismatch";
    else if (e->info.expires && now >= e->info.expires)
        *why = "expired";
    else if (e->info.revoked)
        *why = "revoked";
    else {
        *why = NULL;
        if (info)
            *info = e->info;
        st = COF_OK;
    }
out:
    pthread_mutex_unlock(&t->mu);
    sodium_memzero(h, sizeof h);
    return st;
}

cof_status cof_tokens_revoke(cof_tokens *t, const char *id, int64_t now)
{
    int lfd = -1;
    cof_token_entry *ents = NULL;
    cof_status st;
    if (!id || !id_valid(id, strlen(id)))
        return COF_ERR(COF_BADINPUT, "a token id is 16 lowercase hex digits");
    pthread_mutex_lock(&t->mu);
    if ((st = lock_file(t, &lfd)) || (st = reload(t, 1)))
        goto out;
    cof_token_entry *e = find(t->ents, t->n, id);
    if (!e) {
        st = COF_ERR(COF_NOTFOUND, "no token with id %s", id);
        goto out;
    }
    if (e->info.revoked) /* already revoked: keep the first time */
        goto out;
    if (!(ents = malloc(t->n * sizeof *ents))) {
        st = COF_ERR(COF_NOMEM, "tokens");
        goto out;
    }
    memcpy(ents, t->ents, t->n * sizeof *ents);
    ents[e - t->ents].info.revoked = now > 0 ? now : 1;
    st = write_and_track(t, ents, t->n);
out:
    unlock_file(lfd);
    pthread_mutex_unlock(&t->mu);
    free(ents);
    return st;
}

cof_status cof_tokens_list(cof_tokens *t, cof_token_info **out, size_t *n)
{
    cof_status st;
    pthread_mutex_lock(&t->mu);
    if ((st = reload(t, 0)))
        goto out;
    cof_token_info *r = malloc((t->n ? t->n : 1) * sizeof *r);
    if (!r) {
        st = COF_ERR(COF_NOMEM, "tokens");
        goto out;
    }
    for (size_t i = 0; i < t->n; i++)
        r[i] = t->ents[i].info;
    *out = r;
    *n = t->n;
out:
    pthread_mutex_unlock(&t->mu);
    return st;
}
