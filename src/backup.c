/* backup.c - consistent, still-sealed backups of a live store and their restore (see
 * backup.h for the capture rules and why they give a consistent copy).
 *
 * Capture and copy are two phases: first every file is opened in the order the rules
 * require (descriptors pin deleted files), then the descriptors are copied. The copy
 * reads with pread up to the size seen at open, hashing as it writes. */
#include "backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "fsutil.h"
#include "keyring.h"
#include "store.h"
#include "timefmt.h"

#define COPY_CHUNK ((size_t)1 << 20)
#define KR_ID_OFF 12 /* keyring header: magic(8) version(4) id(16), keyring.c */
#define KR_ID_LEN 16

/* retention.pending: a master key rotation is owed (retention.h); a copy taken then
 * owes it too. */
static const char *const top_files[] = { "MANIFEST",   "keyring",          "access.json",
                                         "tokens.json", "poison.reg",      "retention.pending" };
/* Directories a backup may hold; a parent comes before its children (out_subdir). */
static const char *const top_dirs[] = { "seg",   "wal",     "spool",  "spool/wal",
                                        "audit", "changes", "exports" };
/* Present in a data directory, deliberately not copied: locks and atomic-replace
 * temporaries (matched by prefix). */
static const char *const not_copied[] = { "LOCK", "tokens.lock", "access.lock", "poison.lock" };

/* ---------------------------------------------------------------- paths */

static int name_ok(const char *p, size_t n)
{
    if (n == 0 || n > 128 || p[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int in_list(const char *p, size_t n, const char *const *list, size_t nl)
{
    for (size_t i = 0; i < nl; i++)
        if (strlen(list[i]) == n && memcmp(list[i], p, n) == 0)
            return 1;
    return 0;
}

int cof_backup_path_ok(const char *p, size_t n)
{
    if (n == 0 || n > COF_BACKUP_MAX_PATH || memchr(p, 0, n))
        return 0;
    const char *slash = memrchr(p, '/', n);
    if (!slash)
        return in_list(p, n, top_files, sizeof top_files / sizeof *top_files);
    size_t dl = (size_t)(slash - p);
    return in_list(p, dl, top_dirs, sizeof top_dirs / sizeof *top_dirs) &&
           name_ok(slash + 1, n - dl - 1);
}

/* "<16 lowercase hex>" + ext, as the WAL, segment and audit writers name files. */
static int seq_name(const char *name, const char *ext)
{
    size_t el = strlen(ext);
    if (strlen(name) != 16 + el || strcmp(name + 16, ext) != 0)
        return 0;
    for (int i = 0; i < 16; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return 0;
    return 1;
}

/* ---------------------------------------------------------------- BACKUP manifest */

void cof_backup_manifest_free(cof_backup_manifest *m)
{
    free(m->files);
    m->files = NULL;
    m->nfiles = 0;
}

static int cmp_path(const void *a, const void *b)
{
    const cof_backup_file *x = *(const cof_backup_file *const *)a;
    const cof_backup_file *y = *(const cof_backup_file *const *)b;
    return strcmp(x->path, y->path);
}

static int str_field(json_t *o, const char *key, char *out, size_t cap)
{
    json_t *v = json_object_get(o, key);
    if (!json_is_string(v) || json_string_length(v) >= cap ||
        strlen(json_string_value(v)) != json_string_length(v))
        return 0;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return 1;
}

static int hex_ok(const char *s, size_t want)
{
    if (strlen(s) != want)
        return 0;
    for (size_t i = 0; i < want; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

cof_status cof_backup_manifest_parse(const uint8_t *p, size_t n, cof_backup_manifest *m)
{
    memset(m, 0, sizeof *m);
    if (n > COF_BACKUP_MAX_MANIFEST_BYTES)
        return COF_ERR(COF_CORRUPT, "BACKUP: larger than %zu bytes", COF_BACKUP_MAX_MANIFEST_BYTES);
    cof_status st = COF_OK;
    const cof_backup_file **sorted = NULL;
    json_error_t jerr;
    json_t *root = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return COF_ERR(COF_CORRUPT, "BACKUP: not JSON (line %d)", jerr.line);
    const char *why = NULL;
    char format[32];
    json_t *files = json_object_get(root, "files");
    if (!json_is_object(root) || json_object_size(root) != 5)
        why = "not an object with exactly format, created, coffer_version, store_id, files";
    else if (!str_field(root, "format", format, sizeof format) || strcmp(format, COF_BACKUP_FORMAT))
        why = "unknown format (not " COF_BACKUP_FORMAT ")";
    else if (!str_field(root, "created", m->created, sizeof m->created))
        why = "bad created";
    else if (!str_field(root, "coffer_version", m->version, sizeof m->version))
        why = "bad coffer_version";
    else if (!str_field(root, "store_id", m->store_id, sizeof m->store_id) ||
             !hex_ok(m->store_id, 32))
        why = "bad store_id";
    else if (!json_is_array(files) || json_array_size(files) == 0 ||
             json_array_size(files) > COF_BACKUP_MAX_FILES)
        why = "files: not an array of 1.." "COF_BACKUP_MAX_FILES entries";
    if (why)
        goto bad;
    size_t nf = json_array_size(files);
    m->files = calloc(nf, sizeof *m->files);
    sorted = calloc(nf, sizeof *sorted);
    if (!m->files || !sorted) {
        st = COF_ERR(COF_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nf; i++) {
        json_t *f = json_array_get(files, i), *sz = json_object_get(f, "size");
        cof_backup_file *e = &m->files[i];
        char hex[65];
        size_t bl = 0;
        if (!json_is_object(f) || json_object_size(f) != 3 ||
            !str_field(f, "path", e->path, sizeof e->path) ||
            !cof_backup_path_ok(e->path, strlen(e->path)) || !json_is_integer(sz) ||
            json_integer_value(sz) < 0 || !str_field(f, "blake2b", hex, sizeof hex) ||
            !hex_ok(hex, 64) ||
            sodium_hex2bin(e->hash, 32, hex, 64, NULL, &bl, NULL) != 0 || bl != 32) {
            st = COF_ERR(COF_CORRUPT, "BACKUP: file entry %zu is malformed", i + 1);
            goto out;
        }
        e->size = (uint64_t)json_integer_value(sz);
        sorted[i] = e;
        m->nfiles++;
    }
    qsort(sorted, nf, sizeof *sorted, cmp_path);
    for (size_t i = 1; i < nf; i++)
        if (!strcmp(sorted[i - 1]->path, sorted[i]->path)) {
            st = COF_ERR(COF_CORRUPT, "BACKUP: %s is listed twice", sorted[i]->path);
            goto out;
        }
    int have_man = 0, have_kr = 0;
    for (size_t i = 0; i < nf; i++) {
        have_man |= !strcmp(m->files[i].path, "MANIFEST");
        have_kr |= !strcmp(m->files[i].path, "keyring");
    }
    if (!have_man || !have_kr) {
        why = "MANIFEST or keyring missing: not a complete backup";
        goto bad;
    }
    goto out;
bad:
    st = COF_ERR(COF_CORRUPT, "BACKUP: %s", why);
out:
    free(sorted);
    json_decref(root);
    if (st)
        cof_backup_manifest_free(m);
    return st;
}

cof_status cof_backup_manifest_write(const cof_backup_manifest *m, cof_buf *out)
{
    char line[512];
    int w = snprintf(line, sizeof line,
                     "{\"format\":\"%s\",\"created\":\"%s\",\"coffer_version\":\"%s\","
                     "\"store_id\":\"%s\",\"files\":[\n",
                     COF_BACKUP_FORMAT, m->created, m->version, m->store_id);
    /* Only fixed-alphabet strings are written unescaped; check rather than trust. */
    if (w < 0 || (size_t)w >= sizeof line || strpbrk(m->created, "\"\\") ||
        strpbrk(m->version, "\"\\") || !hex_ok(m->store_id, 32))
        return COF_ERR(COF_BADINPUT, "BACKUP header fields");
    cof_status st = cof_buf_add(out, line, (size_t)w);
    for (size_t i = 0; i < m->nfiles && !st; i++) {
        const cof_backup_file *f = &m->files[i];
        char hex[65];
        if (!cof_backup_path_ok(f->path, strlen(f->path)))
            return COF_ERR(COF_BADINPUT, "BACKUP: path not allowed");
        sodium_bin2hex(hex, sizeof hex, f->hash, 32);
        w = snprintf(line, sizeof line, "{\"path\":\"%s\",\"size\":%" PRIu64 ",\"blake2b\":\"%s\"}%s\n",
                     f->path, f->size, hex, i + 1 < m->nfiles ? "," : "");
        st = cof_buf_add(out, line, (size_t)w);
    }
    if (!st)
        st = cof_buf_add(out, "]}\n", 3);
    return st;
}

/* ---------------------------------------------------------------- copying */

typedef struct {
    cof_backup_progress_fn fn;
    void *ctx;
    uint64_t done, total, files;
} progress;

static void prog_add(progress *p, uint64_t bytes)
{
    p->done += bytes;
    if (p->fn)
        p->fn(p->ctx, p->done, p->total, p->files);
}

/* Read size bytes of in (from offset 0) into out (or nowhere if out < 0), hashing them.
 * *got: bytes read (< size if in is shorter). exact: also fail if in holds more. */
static cof_status copy_range(int in, const char *in_name, uint64_t size, int out,
                             const char *out_name, uint8_t hash[32], uint64_t *got, int exact,
                             uint8_t *chunk, progress *pg)
{
    crypto_generichash_state hs;
    crypto_generichash_init(&hs, NULL, 0, 32);
    uint64_t off = 0;
    cof_status st = COF_OK;
    while (off < size) {
        size_t want = size - off < COPY_CHUNK ? (size_t)(size - off) : COPY_CHUNK;
        ssize_t r = pread(in, chunk, want, (off_t)off);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return COF_ERRNO("cannot read %s", in_name);
        if (r == 0)
            break;
        crypto_generichash_update(&hs, chunk, (size_t)r);
        if (out >= 0 && (st = cof_fs_write_all(out, chunk, (size_t)r, out_name)))
            return st;
        off += (uint64_t)r;
        prog_add(pg, (uint64_t)r);
    }
    if (exact && off == size) {
        ssize_t r;
        do
            r = pread(in, chunk, 1, (off_t)off);
        while (r < 0 && errno == EINTR);
        if (r != 0)
            off++; /* longer than declared */
    }
    *got = off;
    crypto_generichash_final(&hs, hash, 32);
    return COF_OK;
}

/* out_dir must not exist (created 0700, *created = 1) or be an empty directory. */
static cof_status prepare_dir(const char *dir, int *created)
{
    struct stat sb;
    *created = 0;
    if (stat(dir, &sb) != 0) {
        if (errno != ENOENT)
            return COF_ERRNO("cannot stat %s", dir);
        cof_status st = cof_fs_mkdir_p(dir, 0700);
        if (!st)
            *created = 1;
        return st;
    }
    if (!S_ISDIR(sb.st_mode))
        return COF_ERR(COF_EXISTS, "%s exists and is not a directory", dir);
    DIR *d = opendir(dir);
    if (!d)
        return COF_ERRNO("cannot read directory %s", dir);
    struct dirent *e;
    int empty = 1;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            empty = 0;
    closedir(d);
    if (!empty)
        return COF_ERR(COF_EXISTS, "%s is not empty (refusing to mix files into it)", dir);
    return COF_OK;
}

/* ---------------------------------------------------------------- capture */

enum { K_DOC, K_SPOOL, K_WAL, K_MANIFEST, K_SEG, K_AUDIT_HEAD, K_AUDIT_LOG, K_KEYRING };

typedef struct {
    char rel[COF_BACKUP_MAX_PATH + 1];
    int fd;
    int kind;
    uint64_t size;
} capture;

typedef struct {
    const char *data_dir;
    capture *c;
    size_t n, cap;
} capset;

static void capset_close_from(capset *cs, size_t from)
{
    for (size_t i = from; i < cs->n; i++)
        if (cs->c[i].fd >= 0)
            close(cs->c[i].fd);
    if (from < cs->n)
        cs->n = from;
}

/* Open data_dir/rel and append it. COF_NOTFOUND (no detail) if it does not exist. */
static cof_status cap_open(capset *cs, const char *rel, int kind)
{
    char path[4400];
    if (!cof_backup_path_ok(rel, strlen(rel)))
        return COF_ERR(COF_BADINPUT, "not a backup path: %s", rel);
    snprintf(path, sizeof path, "%s/%s", cs->data_dir, rel);
    if (cs->n == COF_BACKUP_MAX_FILES)
        return COF_ERR(COF_LIMIT, "more than %d files to back up", COF_BACKUP_MAX_FILES);
    if (cs->n == cs->cap) {
        size_t nc = cs->cap ? cs->cap * 2 : 256;
        capture *c = realloc(cs->c, nc * sizeof *c);
        if (!c)
            return COF_ERR(COF_NOMEM, "out of memory");
        cs->c = c;
        cs->cap = nc;
    }
    int fd;
    int fl = O_RDONLY | O_NOFOLLOW | O_CLOEXEC;
    do
        fd = open(path, fl);
    while (fd < 0 && errno == EINTR);
    if (fd < 0 && errno == ENOENT)
        return COF_NOTFOUND;
    if (fd < 0)
        return COF_ERRNO("cannot open %s", path);
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return COF_ERR(COF_CORRUPT, "%s is not a regular file", path);
    }
    capture *e = &cs->c[cs->n++];
    snprintf(e->rel, sizeof e->rel, "%s", rel);
    e->fd = fd;
    e->kind = kind;
    e->size = (uint64_t)sb.st_size;
    return COF_OK;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Sorted names in data_dir/sub accepted by want (ENOENT: none). Caller frees. */
typedef int (*name_pred)(const char *name);
static cof_status list_dir(const char *data_dir, const char *sub, name_pred want, char ***names,
                           size_t *n)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", data_dir, sub);
    *names = NULL;
    *n = 0;
    DIR *d = opendir(path);
    if (!d)
        return errno == ENOENT ? COF_OK : COF_ERRNO("cannot read directory %s", path);
    size_t cap = 0;
    cof_status st = COF_OK;
    struct dirent *e;
    while ((e = readdir(d)) && !st) {
        if (!want(e->d_name))
            continue;
        if (*n == COF_BACKUP_MAX_FILES) {
            st = COF_ERR(COF_LIMIT, "%s: more than %d files", path, COF_BACKUP_MAX_FILES);
            break;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(*names, cap * sizeof *nn);
            if (!nn) {
                st = COF_ERR(COF_NOMEM, "out of memory");
                break;
            }
            *names = nn;
        }
        if (!((*names)[*n] = strdup(e->d_name)))
            st = COF_ERR(COF_NOMEM, "out of memory");
        else
            (*n)++;
    }
    closedir(d);
    if (!st && *n)
        qsort(*names, *n, sizeof **names, cmp_name);
    return st;
}

static int is_wal(const char *name) { return seq_name(name, ".wal"); }
static int is_batches(const char *name) { return !strcmp(name, "batches"); }
static int is_audit_log(const char *name) { return seq_name(name, ".log"); }
/* changes/, exports/: documents, not locks or atomic-replace temporaries. */
static int is_doc(const char *name)
{
    size_t n = strlen(name);
    return name_ok(name, n) && !strstr(name, ".tmp") && strcmp(name, "LOCK") &&
           !(n > 5 && !strcmp(name + n - 5, ".lock"));
}

/* Report top-level entries of data_dir that a backup does not copy. */
static cof_status report_unknown(const char *data_dir, cof_backup_bad_fn skipped, void *ctx)
{
    DIR *d = opendir(data_dir);
    if (!d)
        return errno == ENOENT ? COF_ERR(COF_NOTFOUND, "no coffer store in %s", data_dir)
                               : COF_ERRNO("cannot read directory %s", data_dir);
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *nm = e->d_name;
        size_t n = strlen(nm);
        if (!strcmp(nm, ".") || !strcmp(nm, "..") || strstr(nm, ".tmp") ||
            in_list(nm, n, top_files, sizeof top_files / sizeof *top_files) ||
            in_list(nm, n, top_dirs, sizeof top_dirs / sizeof *top_dirs) ||
            in_list(nm, n, not_copied, sizeof not_copied / sizeof *not_copied))
            continue;
        if (skipped)
            skipped(ctx, name_ok(nm, n) ? nm : "(an entry with an unusual name)",
                    "not part of a store; not copied");
    }
    closedir(d);
    return COF_OK;
}

/* Open every listed file of data_dir/sub accepted by want; vanished ones are skipped
 * (rule 2: their content is downstream). Non-regular entries go to skipped. */
static cof_status cap_dir(capset *cs, const char *sub, name_pred want, int kind,
                          cof_backup_bad_fn skipped, void *ctx)
{
    char **names;
    size_t n;
    cof_status st = list_dir(cs->data_dir, sub, want, &names, &n);
    for (size_t i = 0; i < n && !st; i++) {
        char rel[COF_BACKUP_MAX_PATH + 8];
        snprintf(rel, sizeof rel, "%s/%s", sub, names[i]);
        st = cap_open(cs, rel, kind);
        if (st == COF_NOTFOUND) {
            st = COF_OK;
        } else if (st == COF_CORRUPT || st == COF_BADINPUT) {
            if (skipped)
                skipped(ctx, cof_backup_path_ok(rel, strlen(rel)) ? rel : sub,
                        "not a regular file; not copied");
            cof_err_clear();
            st = COF_OK;
        }
    }
    names_free(names, n);
    return st;
}

/* A log being appended may end in a torn line: keep up to the last newline. */
static cof_status trim_to_line(capture *c, uint8_t *chunk)
{
    uint64_t end = c->size;
    while (end > 0) {
        size_t want = end < COPY_CHUNK ? (size_t)end : COPY_CHUNK;
        ssize_t r = pread(c->fd, chunk, want, (off_t)(end - want));
        if (r < 0 && errno == EINTR)
            continue;
        if (r != (ssize_t)want)
            return COF_ERRNO("cannot read %s", c->rel);
        for (size_t i = want; i > 0; i--)
            if (chunk[i - 1] == '\n') {
                c->size = end - want + i;
                return COF_OK;
            }
        end -= want;
    }
    c->size = 0;
    return COF_OK;
}

/* Spool, WAL, MANIFEST and the segments it lists, in that order (rules 2 and 3). */
static cof_status cap_store(capset *cs, cof_backup_bad_fn skipped, void *ctx,
                            cof_backup_result *res)
{
    /* The intake's spool is a cof_wal in spool/wal, its batch-id memory spool/batches. */
    cof_status st = cap_dir(cs, "spool", is_batches, K_DOC, skipped, ctx);
    if (!st)
        st = cap_dir(cs, "spool/wal", is_wal, K_SPOOL, skipped, ctx);
    size_t mark = cs->n;
    uint8_t *man = NULL, *prev = NULL;
    size_t prevn = 0;
    uint64_t *ids = NULL;
    char **names = NULL;
    size_t nnames = 0;
    for (unsigned attempt = 0; !st; attempt++) {
        capset_close_from(cs, mark);
        free(prev);
        prev = man; /* the MANIFEST of the previous attempt */
        free(ids);
        names_free(names, nnames);
        man = NULL;
        ids = NULL;
        names = NULL;
        nnames = 0;
        uint64_t vanished = 0, applied = 0;
        size_t nids = 0, got = 0;
        int retry = 0;
        if ((st = list_dir(cs->data_dir, "wal", is_wal, &names, &nnames)))
            break;
        for (size_t i = 0; i < nnames && !st; i++) {
            char rel[64];
            snprintf(rel, sizeof rel, "wal/%s", names[i]);
            st = cap_open(cs, rel, K_WAL);
            if (st == COF_NOTFOUND) { /* applied meanwhile: must be <= wal_applied below */
                vanished = strtoull(names[i], NULL, 16);
                st = COF_OK;
            }
        }
        if (st)
            break;
        st = cap_open(cs, "MANIFEST", K_MANIFEST);
        if (st == COF_NOTFOUND)
            st = COF_ERR(COF_NOTFOUND, "no coffer store in %s (no MANIFEST)", cs->data_dir);
        if (st)
            break;
        capture *mc = &cs->c[cs->n - 1];
        if (mc->size > COF_MAX_MANIFEST_BYTES) {
            st = COF_ERR(COF_CORRUPT, "%s/MANIFEST: too large", cs->data_dir);
            break;
        }
        if (!(man = malloc(mc->size ? mc->size : 1))) {
            st = COF_ERR(COF_NOMEM, "out of memory");
            break;
        }
        if ((st = cof_fs_read_all(mc->fd, man, mc->size, &got, "MANIFEST")))
            break;
        mc->size = got; /* MANIFEST is replaced, never rewritten: this is one version */
        int same = prev && prevn == got && memcmp(prev, man, got) == 0;
        prevn = got;
        if ((st = cof_store_manifest_segments(man, got, "MANIFEST", &ids, &nids, &applied)))
            break;
        retry = vanished > applied;
        for (size_t i = 0; i < nids && !st && !retry; i++) {
            char rel[64];
            snprintf(rel, sizeof rel, "seg/%016" PRIx64 ".seg", ids[i]);
            st = cap_open(cs, rel, K_SEG);
            if (st == COF_NOTFOUND && same) /* no merge in between: a lost file */
                st = COF_ERR(COF_CORRUPT, "%s/MANIFEST lists %s, which does not exist "
                             "(the store is damaged: run coffer verify)", cs->data_dir, rel);
            if (st == COF_NOTFOUND) { /* merged away after our MANIFEST read */
                retry = 1;
                st = COF_OK;
            }
        }
        if (st || !retry) {
            /* WAL files the MANIFEST already applied are redundant (recovery skips them). */
            size_t k = mark;
            for (size_t i = mark; i < cs->n; i++) {
                capture *c = &cs->c[i];
                if (c->kind == K_WAL && strtoull(c->rel + 4, NULL, 16) <= applied) {
                    close(c->fd);
                    continue;
                }
                cs->c[k++] = *c;
            }
            cs->n = k;
            break;
        }
        if (attempt + 1 >= COF_BACKUP_MAX_RETRIES) {
            st = COF_ERR(COF_AGAIN, "the store changed during %d attempts to capture it; "
                                    "try again", COF_BACKUP_MAX_RETRIES);
            break;
        }
        res->retries++;
    }
    free(man);
    free(prev);
    free(ids);
    names_free(names, nnames);
    return st;
}

static cof_status store_id_of(const capture *kr, char out[33])
{
    uint8_t h[KR_ID_OFF + KR_ID_LEN];
    ssize_t r;
    do
        r = pread(kr->fd, h, sizeof h, 0);
    while (r < 0 && errno == EINTR);
    if (r != (ssize_t)sizeof h || memcmp(h, "COFKR1\0\0", 8) != 0)
        return COF_ERR(COF_CORRUPT, "keyring: not a coffer keyring");
    sodium_bin2hex(out, 33, h + KR_ID_OFF, KR_ID_LEN);
    return COF_OK;
}

/* Output side: files and directories made, so a failure can remove them again. */
typedef struct {
    const char *root;
    int root_created;
    int sub_made[sizeof top_dirs / sizeof *top_dirs];
    char (*written)[COF_BACKUP_MAX_PATH + 1];
    size_t nwritten;
} outtree;

/* Create the directories holding rel (each of top_dirs that is rel's directory or a
 * parent of it), once. */
static cof_status out_subdir(outtree *t, const char *rel)
{
    const char *slash = strrchr(rel, '/');
    if (!slash)
        return COF_OK;
    size_t dl = (size_t)(slash - rel);
    int found = 0;
    for (size_t i = 0; i < sizeof top_dirs / sizeof *top_dirs; i++) {
        size_t tl = strlen(top_dirs[i]);
        if (tl > dl || memcmp(top_dirs[i], rel, tl) != 0 || (tl < dl && rel[tl] != '/'))
            continue;
        found |= tl == dl;
        if (t->sub_made[i])
            continue;
        char path[4400];
        snprintf(path, sizeof path, "%s/%s", t->root, top_dirs[i]);
        if (mkdir(path, 0700) != 0)
            return COF_ERRNO("cannot create %s", path);
        t->sub_made[i] = 1;
    }
    return found ? COF_OK : COF_ERR(COF_BADINPUT, "not a backup path: %s", rel);
}

/* Remove what this run wrote (after a failure); best effort. */
static void out_undo(outtree *t)
{
    char path[4400];
    for (size_t i = 0; t->written && i < t->nwritten; i++) {
        snprintf(path, sizeof path, "%s/%s", t->root, t->written[i]);
        unlink(path);
    }
    for (size_t i = sizeof top_dirs / sizeof *top_dirs; i > 0; i--) /* children first */
        if (t->sub_made[i - 1]) {
            snprintf(path, sizeof path, "%s/%s", t->root, top_dirs[i - 1]);
            rmdir(path);
        }
    if (t->root_created)
        rmdir(t->root);
}

/* Make the store's own directories even when no file lands in them (a store without
 * segments yet), then fsync every directory made and the root. */
static cof_status out_sync(outtree *t)
{
    char path[4400];
    cof_status st = out_subdir(t, "seg/x");
    if (!st)
        st = out_subdir(t, "wal/x");
    for (size_t i = 0; i < sizeof top_dirs / sizeof *top_dirs && !st; i++)
        if (t->sub_made[i]) {
            snprintf(path, sizeof path, "%s/%s", t->root, top_dirs[i]);
            st = cof_fs_fsync_dir(path);
        }
    if (!st)
        st = cof_fs_fsync_dir(t->root);
    if (!st && t->root_created)
        st = cof_fs_fsync_parent(t->root);
    return st;
}

/* Copy size bytes of in to t->root/rel (new file, 0600, fsync'ed). */
static cof_status out_file(outtree *t, const char *rel, int in, uint64_t size, uint8_t hash[32],
                           uint64_t *got, int exact, uint8_t *chunk, progress *pg)
{
    char path[4400];
    int fd = -1;
    snprintf(path, sizeof path, "%s/%s", t->root, rel);
    cof_status st = out_subdir(t, rel);
    if (!st)
        st = cof_fs_open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600, &fd);
    if (st)
        return st;
    snprintf(t->written[t->nwritten++], COF_BACKUP_MAX_PATH + 1, "%s", rel);
    st = copy_range(in, rel, size, fd, path, hash, got, exact, chunk, pg);
    if (!st)
        st = cof_fs_fsync(fd, path);
    cof_status cst = cof_fs_close(fd, path);
    return st ? st : cst;
}

cof_status cof_backup_take(const char *data_dir, const char *out_dir, const char *version,
                           cof_backup_progress_fn progress_fn, cof_backup_bad_fn skipped,
                           void *ctx, cof_backup_result *res)
{
    memset(res, 0, sizeof *res);
    capset cs = { .data_dir = data_dir };
    outtree t = { .root = out_dir };
    cof_backup_manifest bm;
    memset(&bm, 0, sizeof bm);
    cof_buf mb;
    cof_buf_init(&mb, COF_BACKUP_MAX_MANIFEST_BYTES);
    uint8_t *chunk = malloc(COPY_CHUNK);
    progress pg = { progress_fn, ctx, 0, 0, 0 };
    int inside = 0;
    cof_status st = chunk ? COF_OK : COF_ERR(COF_NOMEM, "out of memory");
    if (!st && !(st = cof_fs_is_inside(out_dir, data_dir, &inside)) && inside)
        st = COF_ERR(COF_BADINPUT, "the backup directory must lie outside the data directory");
    if (!st)
        st = report_unknown(data_dir, skipped, ctx);
    if (!st)
        st = prepare_dir(out_dir, &t.root_created);
    if (st)
        goto out;
    /* Capture (backup.h rules 2-5): HEAD before logs, documents, the store stages
     * upstream first, audit logs, keyring last. */
    if ((st = cap_open(&cs, "audit/HEAD", K_AUDIT_HEAD)) == COF_NOTFOUND)
        st = COF_OK;
    for (size_t i = 2; i < sizeof top_files / sizeof *top_files && !st; i++)
        if ((st = cap_open(&cs, top_files[i], K_DOC)) == COF_NOTFOUND)
            st = COF_OK;
    if (!st)
        st = cap_dir(&cs, "changes", is_doc, K_DOC, skipped, ctx);
    if (!st)
        st = cap_dir(&cs, "exports", is_doc, K_DOC, skipped, ctx);
    if (!st)
        st = cap_store(&cs, skipped, ctx, res);
    size_t logs_from = cs.n;
    if (!st)
        st = cap_dir(&cs, "audit", is_audit_log, K_AUDIT_LOG, skipped, ctx);
    for (size_t i = logs_from; i < cs.n && !st; i++)
        st = trim_to_line(&cs.c[i], chunk);
    if (!st && (st = cap_open(&cs, "keyring", K_KEYRING)) == COF_NOTFOUND)
        st = COF_ERR(COF_NOTFOUND, "%s has no keyring", data_dir);
    if (!st)
        st = store_id_of(&cs.c[cs.n - 1], res->store_id);
    if (st)
        goto out;
    /* Copy. */
    bm.files = calloc(cs.n, sizeof *bm.files);
    t.written = calloc(cs.n + 1, sizeof *t.written);
    if (!bm.files || !t.written) {
        st = COF_ERR(COF_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < cs.n; i++)
        pg.total += cs.c[i].size;
    for (size_t i = 0; i < cs.n && !st; i++) {
        capture *c = &cs.c[i];
        cof_backup_file *f = &bm.files[bm.nfiles];
        snprintf(f->path, sizeof f->path, "%s", c->rel);
        st = out_file(&t, c->rel, c->fd, c->size, f->hash, &f->size, 0, chunk, &pg);
        if (st)
            break;
        /* A shorter copy is a torn WAL tail that a restarting writer truncated. */
        pg.total -= c->size - f->size;
        bm.nfiles++;
        pg.files++;
        res->files++;
        res->bytes += f->size;
        res->segments += c->kind == K_SEG;
        res->wal_files += c->kind == K_WAL;
        res->spool_files += c->kind == K_SPOOL;
        res->audit_files += c->kind == K_AUDIT_LOG || c->kind == K_AUDIT_HEAD;
    }
    if (st)
        goto out;
    cof_time_format(cof_time_now_us(), bm.created, sizeof bm.created);
    memcpy(res->created, bm.created, sizeof res->created);
    snprintf(bm.version, sizeof bm.version, "%s", version);
    memcpy(bm.store_id, res->store_id, sizeof bm.store_id);
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", out_dir, COF_BACKUP_MANIFEST);
    if (!(st = out_sync(&t)) && !(st = cof_backup_manifest_write(&bm, &mb)))
        st = cof_fs_create_atomic(path, mb.p, mb.n, 0600);
out:
    if (st)
        out_undo(&t); /* nwritten is 0 until the copy starts */
    capset_close_from(&cs, 0);
    free(cs.c);
    free(t.written);
    free(chunk);
    cof_buf_free(&mb);
    cof_backup_manifest_free(&bm);
    return st;
}

/* ---------------------------------------------------------------- verify, restore */

static cof_status load_manifest(const char *dir, cof_backup_manifest *m)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, COF_BACKUP_MANIFEST);
    uint8_t *p = NULL;
    size_t n = 0;
    cof_status st = cof_fs_read_file(path, COF_BACKUP_MAX_MANIFEST_BYTES, &p, &n);
    if (st == COF_NOTFOUND)
        return COF_ERR(COF_NOTFOUND, "%s is not a coffer backup (no %s)", dir, COF_BACKUP_MANIFEST);
    if (st)
        return st;
    st = cof_backup_manifest_parse(p, n, m);
    free(p);
    return st;
}

/* Open dir/f->path as a regular file of exactly f->size bytes. *why on mismatch. */
static cof_status open_member(const char *dir, const cof_backup_file *f, int *fd, const char **why)
{
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, f->path);
    *fd = -1;
    *why = NULL;
    int d;
    do
        d = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    while (d < 0 && errno == EINTR);
    if (d < 0) {
        *why = errno == ENOENT ? "missing" : "cannot be opened";
        return COF_OK;
    }
    struct stat sb;
    if (fstat(d, &sb) != 0 || !S_ISREG(sb.st_mode))
        *why = "not a regular file";
    else if ((uint64_t)sb.st_size != f->size)
        *why = "size differs from BACKUP";
    if (*why)
        close(d);
    else
        *fd = d;
    return COF_OK;
}

cof_status cof_backup_verify(const char *dir, cof_backup_progress_fn progress_fn,
                             cof_backup_bad_fn bad, void *ctx, cof_backup_result *res)
{
    memset(res, 0, sizeof *res);
    cof_backup_manifest m;
    cof_status st = load_manifest(dir, &m);
    if (st)
        return st;
    memcpy(res->store_id, m.store_id, sizeof res->store_id);
    memcpy(res->created, m.created, sizeof res->created);
    progress pg = { progress_fn, ctx, 0, 0, 0 };
    for (size_t i = 0; i < m.nfiles; i++)
        pg.total += m.files[i].size;
    uint8_t *chunk = malloc(COPY_CHUNK);
    uint64_t nbad = 0;
    if (!chunk)
        st = COF_ERR(COF_NOMEM, "out of memory");
    for (size_t i = 0; i < m.nfiles && !st; i++) {
        const cof_backup_file *f = &m.files[i];
        const char *why;
        int fd;
        uint8_t h[32];
        uint64_t got;
        open_member(dir, f, &fd, &why);
        if (!why) {
            st = copy_range(fd, f->path, f->size, -1, NULL, h, &got, 1, chunk, &pg);
            close(fd);
            if (!st && (got != f->size || sodium_memcmp(h, f->hash, 32) != 0))
                why = "content differs from BACKUP (damaged or altered)";
        }
        if (why) {
            nbad++;
            if (bad)
                bad(ctx, f->path, why);
        } else {
            res->files++;
            res->bytes += f->size;
            res->segments += !strncmp(f->path, "seg/", 4);
        }
        pg.files++;
    }
    if (!st && nbad)
        st = COF_ERR(COF_CORRUPT, "%" PRIu64 " of %zu files do not match BACKUP", nbad, m.nfiles);
    free(chunk);
    cof_backup_manifest_free(&m);
    return st;
}

cof_status cof_backup_restore(const char *dir, const char *data_dir,
                              cof_backup_progress_fn progress_fn, void *ctx,
                              cof_backup_result *res)
{
    memset(res, 0, sizeof *res);
    cof_backup_manifest m;
    outtree t = { .root = data_dir };
    uint8_t *chunk = NULL;
    cof_status st = load_manifest(dir, &m);
    if (st)
        return st;
    memcpy(res->store_id, m.store_id, sizeof res->store_id);
    memcpy(res->created, m.created, sizeof res->created);
    progress pg = { progress_fn, ctx, 0, 0, 0 };
    for (size_t i = 0; i < m.nfiles; i++)
        pg.total += m.files[i].size;
    chunk = malloc(COPY_CHUNK);
    t.written = calloc(m.nfiles + 1, sizeof *t.written);
    if (!chunk || !t.written) {
        st = COF_ERR(COF_NOMEM, "out of memory");
        goto out;
    }
    if ((st = prepare_dir(data_dir, &t.root_created)))
        goto out;
    for (size_t i = 0; i < m.nfiles && !st; i++) {
        const cof_backup_file *f = &m.files[i];
        const char *why;
        int fd;
        uint8_t h[32];
        uint64_t got = 0;
        open_member(dir, f, &fd, &why);
        if (!why) {
            st = out_file(&t, f->path, fd, f->size, h, &got, 1, chunk, &pg);
            close(fd);
            if (!st && (got != f->size || sodium_memcmp(h, f->hash, 32) != 0))
                why = "content differs from BACKUP (damaged or altered)";
        }
        if (!st && why)
            st = COF_ERR(COF_CORRUPT, "backup file %s: %s; nothing restored", f->path, why);
        if (st)
            break;
        pg.files++;
        res->files++;
        res->bytes += f->size;
        res->segments += !strncmp(f->path, "seg/", 4);
        res->wal_files += !strncmp(f->path, "wal/", 4);
        res->spool_files += !strncmp(f->path, "spool/wal/", 10);
        res->audit_files += !strncmp(f->path, "audit/", 6);
    }
    if (!st)
        st = out_sync(&t);
out:
    if (st && t.written)
        out_undo(&t);
    free(t.written);
    free(chunk);
    cof_backup_manifest_free(&m);
    return st;
}
