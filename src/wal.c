/* wal.c - write-ahead log (see wal.h for the format, invariants and states). */
#include "wal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "bounds.h"
#include "buf.h"
#include "fsutil.h"
#include "seal.h"

#define WAL_MAGIC "COFWAL1\0"
#define WAL_HDR 16
#define FRAME_MAGIC 0x4D524657u /* "WFRM" */
#define FRAME_HDR 8

struct cof_wal {
    char dir[4096];
    uint8_t *key; /* sodium_malloc'd */
    cof_fsync_mode mode;
    int fd;
    uint64_t seq;      /* active file */
    uint64_t off;      /* append offset in the active file */
    uint64_t torn;     /* bytes dropped from a torn tail at open */
    uint64_t last_sync_ns;
    uint8_t *box;      /* scratch for sealing */
    size_t box_cap;
};

static void wal_path(char *out, size_t cap, const char *dir, uint64_t seq)
{
    snprintf(out, cap, "%s/%016" PRIx64 ".wal", dir, seq);
}

static void frame_ad(uint8_t ad[29], uint64_t seq, uint64_t off)
{
    memcpy(ad, "coffer-wal-v1", 13);
    cof_put_u64le(ad + 13, seq);
    cof_put_u64le(ad + 21, off);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorted list of wal file seqs in dir. */
static cof_status list_files(const char *dir, uint64_t **seqs, size_t *n)
{
    *seqs = NULL;
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        if (errno == ENOENT)
            return COF_OK;
        return COF_ERRNO("cannot open WAL directory %s", dir);
    }
    size_t cap = 0;
    struct dirent *e;
    cof_status st = COF_OK;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len != 20 || strcmp(e->d_name + 16, ".wal") != 0)
            continue;
        uint64_t v = 0;
        int ok = 1;
        for (int i = 0; i < 16; i++) {
            char ch = e->d_name[i];
            int dv = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
            if (dv < 0) {
                ok = 0;
                break;
            }
            v = v << 4 | (uint64_t)dv;
        }
        if (!ok)
            continue;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            uint64_t *ns = realloc(*seqs, cap * sizeof *ns);
            if (!ns) {
                st = COF_ERR(COF_NOMEM, "out of memory");
                break;
            }
            *seqs = ns;
        }
        (*seqs)[(*n)++] = v;
    }
    closedir(d);
    if (*n)
        qsort(*seqs, *n, sizeof **seqs, cmp_u64);
    return st;
}

/* Replay one file. *valid_end receives the offset after the last intact frame; a
 * torn or unauthentic frame ends the replay of this file. */
static cof_status replay_file(const char *path, uint64_t seq, const uint8_t *key,
                              cof_wal_frame_fn fn, void *ctx, uint64_t *valid_end,
                              uint64_t *file_size)
{
    uint8_t *data = NULL;
    size_t n = 0;
    cof_status st = cof_fs_read_file(path, (size_t)1 << 40, &data, &n);
    if (st)
        return st;
    *file_size = n;
    *valid_end = 0;
    uint8_t *plain = NULL;
    if (n < WAL_HDR || memcmp(data, WAL_MAGIC, 8) != 0 || cof_get_u64le(data + 8) != seq) {
        /* A header torn by a crash right after creation holds no frames. */
        goto out;
    }
    size_t off = WAL_HDR;
    *valid_end = off;
    plain = malloc(COF_MAX_WAL_FRAME);
    if (!plain) {
        st = COF_ERR(COF_NOMEM, "out of memory");
        goto out;
    }
    while (n - off >= FRAME_HDR) {
        uint32_t magic = cof_get_u32le(data + off), blen = cof_get_u32le(data + off + 4);
        if (magic != FRAME_MAGIC || blen < COF_SEAL_OVERHEAD ||
            blen > COF_MAX_WAL_FRAME + COF_SEAL_OVERHEAD || blen > n - off - FRAME_HDR)
            break;
        uint8_t ad[29];
        frame_ad(ad, seq, off);
        if (cof_seal_open(key, ad, sizeof ad, data + off + FRAME_HDR, blen, plain) != COF_OK)
            break;
        if (fn && (st = fn(ctx, seq, plain, blen - COF_SEAL_OVERHEAD)))
            goto out;
        off += FRAME_HDR + blen;
        *valid_end = off;
    }
out:
    if (plain) {
        sodium_memzero(plain, COF_MAX_WAL_FRAME);
        free(plain);
    }
    free(data);
    cof_err_clear();
    return st;
}

static cof_status replay_all(const char *dir, const uint8_t *key, uint64_t applied,
                             cof_wal_frame_fn fn, void *ctx, int repair, uint64_t *max_seq,
                             uint64_t *torn)
{
    uint64_t *seqs;
    size_t n;
    cof_status st = list_files(dir, &seqs, &n);
    if (st)
        return st;
    *max_seq = applied;
    for (size_t i = 0; i < n && !st; i++) {
        if (seqs[i] > *max_seq)
            *max_seq = seqs[i];
        if (seqs[i] <= applied)
            continue;
        char path[4200];
        wal_path(path, sizeof path, dir, seqs[i]);
        uint64_t end, size;
        st = replay_file(path, seqs[i], key, fn, ctx, &end, &size);
        if (st)
            break;
        if (end < size) {
            *torn += size - end;
            if (i + 1 < n)
                st = COF_ERR(COF_CORRUPT,
                             "WAL file %s is damaged at offset %" PRIu64
                             " and newer WAL files exist; refusing to continue",
                             path, end);
            else if (repair) {
                /* Invariant 2: only an unacknowledged tail is dropped. */
                if (truncate(path, (off_t)end) != 0)
                    st = COF_ERRNO("cannot truncate torn WAL tail of %s", path);
            }
        }
    }
    free(seqs);
    return st;
}

cof_status cof_wal_replay(const char *dir, const uint8_t key[32], uint64_t applied,
                          cof_wal_frame_fn fn, void *ctx)
{
    char wdir[4200];
    uint64_t max_seq, torn = 0;
    snprintf(wdir, sizeof wdir, "%s/wal", dir);
    return replay_all(wdir, key, applied, fn, ctx, 0, &max_seq, &torn);
}

static cof_status start_file(cof_wal *w, uint64_t seq)
{
    char path[4200];
    wal_path(path, sizeof path, w->dir, seq);
    int fd = -1;
    cof_status st = cof_fs_open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600, &fd);
    if (st)
        return st;
    uint8_t hdr[WAL_HDR];
    memcpy(hdr, WAL_MAGIC, 8);
    cof_put_u64le(hdr + 8, seq);
    if ((st = cof_fs_write_all(fd, hdr, sizeof hdr, path)) ||
        (w->mode != COF_FSYNC_NEVER && ((st = cof_fs_fsync(fd, path)) ||
                                         (st = cof_fs_fsync_dir(w->dir))))) {
        close(fd);
        unlink(path);
        return st;
    }
    if (w->fd >= 0)
        close(w->fd);
    w->fd = fd;
    w->seq = seq;
    w->off = WAL_HDR;
    return COF_OK;
}

cof_status cof_wal_open(const char *dir, const uint8_t key[32], cof_fsync_mode mode,
                        uint64_t applied, cof_wal_frame_fn fn, void *ctx, cof_wal **out)
{
    cof_wal *w = calloc(1, sizeof *w);
    if (!w)
        return COF_ERR(COF_NOMEM, "out of memory");
    w->fd = -1;
    w->mode = mode;
    snprintf(w->dir, sizeof w->dir, "%s/wal", dir);
    cof_status st;
    w->key = sodium_malloc(32);
    if (!w->key) {
        st = COF_ERR(COF_NOMEM, "out of memory");
        goto fail;
    }
    memcpy(w->key, key, 32);
    if ((st = cof_fs_mkdir_p(w->dir, 0700)))
        goto fail;
    uint64_t max_seq;
    if ((st = replay_all(w->dir, w->key, applied, fn, ctx, 1, &max_seq, &w->torn)))
        goto fail;
    if ((st = start_file(w, max_seq + 1)))
        goto fail;
    *out = w;
    return COF_OK;
fail:
    cof_wal_close(w);
    return st;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

cof_status cof_wal_append(cof_wal *w, const uint8_t *payload, size_t n)
{
    if (n > COF_MAX_WAL_FRAME)
        return COF_ERR(COF_LIMIT, "WAL frame of %zu bytes exceeds %u", n, COF_MAX_WAL_FRAME);
    size_t need = FRAME_HDR + n + COF_SEAL_OVERHEAD;
    if (need > w->box_cap) {
        uint8_t *b = realloc(w->box, need);
        if (!b)
            return COF_ERR(COF_NOMEM, "out of memory");
        w->box = b;
        w->box_cap = need;
    }
    cof_put_u32le(w->box, FRAME_MAGIC);
    cof_put_u32le(w->box + 4, (uint32_t)(n + COF_SEAL_OVERHEAD));
    uint8_t ad[29];
    frame_ad(ad, w->seq, w->off);
    cof_status st = cof_seal_box(w->key, ad, sizeof ad, payload, n, w->box + FRAME_HDR);
    if (st)
        return st;
    char path[4200];
    wal_path(path, sizeof path, w->dir, w->seq);
    if ((st = cof_fs_pwrite_all(w->fd, w->box, need, (off_t)w->off, path))) {
        /* Nothing after w->off is acknowledged; cut the partial frame so the next
         * append (after the operator frees space) starts on a frame boundary. */
        if (ftruncate(w->fd, (off_t)w->off) != 0) {
            /* the torn tail is dropped again at the next open (invariant 2) */
        }
        return st;
    }
    /* Invariant 1: durable before acknowledged. */
    if (w->mode == COF_FSYNC_ALWAYS ||
        (w->mode == COF_FSYNC_BATCH && now_ns() - w->last_sync_ns > 100000000u)) {
        if (fdatasync(w->fd) != 0) {
            st = COF_ERRNO("cannot fsync WAL %s", path);
            if (ftruncate(w->fd, (off_t)w->off) != 0) {
                /* see above */
            }
            return st;
        }
        w->last_sync_ns = now_ns();
    }
    w->off += need;
    return COF_OK;
}

cof_status cof_wal_rotate(cof_wal *w, uint64_t *closed_seq)
{
    if (w->mode != COF_FSYNC_NEVER && fdatasync(w->fd) != 0)
        return COF_ERRNO("cannot fsync WAL");
    *closed_seq = w->seq;
    return start_file(w, w->seq + 1);
}

cof_status cof_wal_prune(cof_wal *w, uint64_t applied)
{
    uint64_t *seqs;
    size_t n;
    cof_status st = list_files(w->dir, &seqs, &n);
    if (st)
        return st;
    for (size_t i = 0; i < n; i++) {
        if (seqs[i] > applied || seqs[i] == w->seq)
            continue;
        char path[4200];
        wal_path(path, sizeof path, w->dir, seqs[i]);
        if (unlink(path) != 0 && errno != ENOENT) {
            st = COF_ERRNO("cannot remove applied WAL file %s", path);
            break;
        }
    }
    free(seqs);
    return st;
}

uint64_t cof_wal_seq(const cof_wal *w)
{
    return w->seq;
}

uint64_t cof_wal_bytes(const cof_wal *w)
{
    return w->off;
}

uint64_t cof_wal_torn_bytes(const cof_wal *w) { return w->torn; }

void cof_wal_close(cof_wal *w)
{
    if (!w)
        return;
    if (w->fd >= 0) {
        if (w->mode != COF_FSYNC_NEVER && fdatasync(w->fd) != 0) {
            /* close path: nothing acknowledged depends on this sync */
        }
        close(w->fd);
    }
    if (w->key)
        sodium_free(w->key);
    if (w->box) {
        sodium_memzero(w->box, w->box_cap);
        free(w->box);
    }
    free(w);
}
