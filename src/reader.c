/* reader.c - line source over plain files, gzip files and standard input.
 *
 * Buffer invariants (buf has BUF_CAP bytes):
 *   I1. buf[beg, end) holds stream bytes not yet returned; base is the stream offset of
 *       buf[0], so the next unreturned byte is at base + beg.
 *   I2. fill() is only called when buf[beg, end) holds no complete line and fewer than
 *       COF_MAX_LINE + 2 bytes; after compaction it has >= READ_CHUNK bytes free, so
 *       every read() asks for at least READ_CHUNK bytes.
 *   I3. discard != 0: the bytes up to the next '\n' belong to an over-long line already
 *       returned and are dropped without buffering.
 *   I4. skip > 0: that many stream bytes (start_offset on a gzip or pipe source) are
 *       still to be dropped before the first line.
 *
 * States of a followed file: READING -> (read returns 0) -> WAITING -> more data:
 * READING; shorter or new head: restart at 0 (generation + 1); path names another
 * inode: ROTATE_PENDING -> drain the old file -> return its partial last line ->
 * open the new file at 0 (generation + 1). */
#include "reader.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "bounds.h"

#define READ_CHUNK (256u << 10)
#define BUF_CAP (READ_CHUNK + COF_MAX_LINE + 64u)
#define ZIN_CAP (128u << 10)
#define FP_PERSONAL "coffer-fp-v1\0\0\0\0" /* 16 bytes: BLAKE2b personalization */

enum { SRC_UNKNOWN, SRC_PLAIN, SRC_GZ };

struct cof_reader {
    cof_reader_opts o;
    char *name;       /* for error details */
    char *path;       /* NULL unless opened by path: needed to follow rotations */
    int fd;
    int own_fd;
    int regular;
    int src;
    dev_t dev;
    ino_t ino;

    char *buf;
    size_t beg, end;
    uint64_t base;
    uint64_t skip;
    uint64_t raw;     /* bytes consumed from fd (compressed bytes for gzip) */
    int discard;
    int done;
    int stopped;
    int rotate_pending;
    int woke_for_data; /* last wait returned because the file looked longer */
    cof_status err;    /* sticky error, returned after the buffered lines */

    z_stream z;
    int z_live;
    int z_member_end;
    int z_in_eof;
    unsigned char *zin;

    uint64_t gen;
    uint8_t fp[COF_READER_FP_LEN];
    size_t fp_n;      /* bytes the fingerprint covers */
    unsigned char head[COF_READER_FP_HEAD]; /* first bytes of a non-regular stream */
    size_t head_n;
};

void cof_reader_opts_default(cof_reader_opts *o)
{
    memset(o, 0, sizeof *o);
    o->poll_ms = COF_READER_POLL_MS_DEFAULT;
}

/* An errno failure after open: never COF_NOTFOUND, which means end of input here. */
static cof_status io_fail(const cof_reader *r, const char *what)
{
    cof_status st = COF_ERRNO("%s: %s", r->name, what);
    return st == COF_NOTFOUND ? COF_IO : st;
}

static int stop_requested(const cof_reader *r) { return r->o.stop && *r->o.stop; }

static void fp_hash(const unsigned char *p, size_t n, uint8_t out[COF_READER_FP_LEN])
{
    static const unsigned char personal[16] = FP_PERSONAL;
    crypto_generichash_blake2b_salt_personal(out, COF_READER_FP_LEN, p, n, NULL, 0, NULL,
                                             personal);
}

static ssize_t pread_full(int fd, void *p, size_t n, off_t at)
{
    size_t got = 0;
    while (got < n) {
        ssize_t k = pread(fd, (char *)p + got, n - got, at + (off_t)got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -1;
        if (k == 0)
            break;
        got += (size_t)k;
    }
    return (ssize_t)got;
}

/* Up to cap bytes of the uncompressed head of a regular file, read with pread so the
 * reading position is untouched. A damaged gzip head yields what inflated cleanly. */
static cof_status head_regular(const cof_reader *r, int gz, unsigned char *out, size_t cap,
                               size_t *n)
{
    *n = 0;
    if (!gz) {
        ssize_t k = pread_full(r->fd, out, cap, 0);
        if (k < 0)
            return io_fail(r, "read head");
        *n = (size_t)k;
        return COF_OK;
    }
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
        return COF_ERR(COF_NOMEM, "%s: inflateInit2", r->name);
    unsigned char in[16384];
    off_t pos = 0;
    int in_eof = 0;
    cof_status st = COF_OK;
    while (*n < cap) {
        if (z.avail_in == 0 && !in_eof) {
            ssize_t k = pread_full(r->fd, in, sizeof in, pos);
            if (k < 0) {
                st = io_fail(r, "read head");
                break;
            }
            in_eof = k == 0;
            pos += k;
            z.next_in = in;
            z.avail_in = (uInt)k;
        }
        if (z.avail_in == 0 && in_eof)
            break;
        z.next_out = out + *n;
        z.avail_out = (uInt)(cap - *n);
        int zr = inflate(&z, Z_NO_FLUSH);
        *n = cap - z.avail_out;
        if (zr == Z_STREAM_END) {
            if (inflateReset(&z) != Z_OK)
                break;
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            break;
        }
    }
    inflateEnd(&z);
    return st;
}

static cof_status fp_refresh(cof_reader *r)
{
    if (!r->regular) {
        fp_hash(r->head, r->head_n, r->fp);
        r->fp_n = r->head_n;
        return COF_OK;
    }
    unsigned char head[COF_READER_FP_HEAD];
    size_t n;
    cof_status st = head_regular(r, r->src == SRC_GZ, head, sizeof head, &n);
    if (st)
        return st;
    fp_hash(head, n, r->fp);
    r->fp_n = n;
    return COF_OK;
}

/* 1 if the first fp_n bytes of the (plain, regular) file no longer hash to fp. */
static int head_changed(const cof_reader *r)
{
    unsigned char head[COF_READER_FP_HEAD];
    size_t n;
    uint8_t now[COF_READER_FP_LEN];
    if (head_regular(r, 0, head, r->fp_n, &n) != COF_OK)
        return 0; /* an I/O error here is seen by the next read */
    if (n < r->fp_n)
        return 1;
    fp_hash(head, n, now);
    return memcmp(now, r->fp, sizeof now) != 0;
}

static cof_status gz_start(cof_reader *r)
{
    if (!r->zin) {
        r->zin = malloc(ZIN_CAP);
        if (!r->zin)
            return COF_ERR(COF_NOMEM, "%s: gzip input buffer", r->name);
    }
    memset(&r->z, 0, sizeof r->z);
    if (inflateInit2(&r->z, 16 + MAX_WBITS) != Z_OK)
        return COF_ERR(COF_NOMEM, "%s: inflateInit2", r->name);
    r->z_live = 1;
    r->z_member_end = 0;
    r->z_in_eof = 0;
    r->src = SRC_GZ;
    return COF_OK;
}

static void gz_stop(cof_reader *r)
{
    if (r->z_live)
        inflateEnd(&r->z);
    r->z_live = 0;
}

/* Read from fd. COF_OK with *got (0 at end of file), COF_NOTFOUND if a signal
 * interrupted the read and the stop flag is set, or an error. */
static cof_status rd(cof_reader *r, void *p, size_t n, size_t *got)
{
    for (;;) {
        ssize_t k = read(r->fd, p, n);
        if (k >= 0) {
            *got = (size_t)k;
            r->raw += (uint64_t)k;
            return COF_OK;
        }
        if (errno != EINTR)
            return io_fail(r, "read");
        if (stop_requested(r)) {
            r->stopped = 1;
            return COF_NOTFOUND;
        }
    }
}

/* Set up reading of the file open on r->fd from stream offset start. */
static cof_status source_setup(cof_reader *r, uint64_t start)
{
    struct stat sb;
    if (fstat(r->fd, &sb) != 0)
        return COF_ERRNO("%s: fstat", r->name);
    r->regular = S_ISREG(sb.st_mode);
    r->dev = sb.st_dev;
    r->ino = sb.st_ino;
    r->beg = r->end = 0;
    r->base = r->skip = r->raw = 0;
    r->discard = r->rotate_pending = r->woke_for_data = 0;
    r->head_n = 0;
    if (!r->regular) {
        r->src = SRC_UNKNOWN; /* decided by the first read */
        r->skip = start;
        fp_hash(r->head, 0, r->fp);
        r->fp_n = 0;
        return COF_OK;
    }
    unsigned char magic[2];
    ssize_t k = pread_full(r->fd, magic, 2, 0);
    if (k < 0)
        return COF_ERRNO("%s: read", r->name);
    if (k == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        cof_status st = gz_start(r);
        if (st)
            return st;
        if (lseek(r->fd, 0, SEEK_SET) < 0)
            return COF_ERRNO("%s: lseek", r->name);
        r->skip = start;
    } else {
        r->src = SRC_PLAIN;
        if (start > (uint64_t)INT64_MAX)
            return COF_ERR(COF_BADINPUT, "%s: start offset out of range", r->name);
        if (lseek(r->fd, (off_t)start, SEEK_SET) < 0)
            return COF_ERRNO("%s: lseek", r->name);
        r->base = r->raw = start;
    }
    (void)posix_fadvise(r->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return fp_refresh(r);
}

static cof_status open_common(int fd, int own, const char *name, const char *path,
                              const cof_reader_opts *o, cof_reader **out)
{
    cof_status st = COF_NOMEM;
    *out = NULL;
    if (sodium_init() < 0)
        return COF_ERR(COF_DENIED, "libsodium initialization failed");
    cof_reader *r = calloc(1, sizeof *r);
    if (!r) {
        if (own)
            close(fd);
        return COF_ERR(COF_NOMEM, "reader");
    }
    r->fd = fd;
    r->own_fd = own;
    if (o)
        r->o = *o;
    else
        cof_reader_opts_default(&r->o);
    if (r->o.poll_ms == 0)
        r->o.poll_ms = COF_READER_POLL_MS_DEFAULT;
    r->name = strdup(name ? name : "(fd)");
    r->path = path ? strdup(path) : NULL;
    r->buf = malloc(BUF_CAP);
    if (!r->name || (path && !r->path) || !r->buf) {
        st = COF_ERR(COF_NOMEM, "reader buffers");
        goto out;
    }
    st = source_setup(r, r->o.start_offset);
out:
    if (st) {
        cof_reader_free(r);
        return st;
    }
    *out = r;
    return COF_OK;
}

cof_status cof_reader_open(const char *path, const cof_reader_opts *o, cof_reader **out)
{
    if (!path || !*path)
        return COF_ERR(COF_BADINPUT, "reader: empty path");
    if (strcmp(path, "-") == 0)
        return open_common(STDIN_FILENO, 0, "(stdin)", NULL, o, out);
    int fd = -1;
    do
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        *out = NULL;
        return COF_ERRNO("open %s", path);
    }
    return open_common(fd, 1, path, path, o, out);
}

cof_status cof_reader_open_fd(int fd, const char *name, const cof_reader_opts *o,
                              cof_reader **out)
{
    if (fd < 0) {
        *out = NULL;
        return COF_ERR(COF_BADINPUT, "reader: bad descriptor");
    }
    return open_common(fd, 0, name, NULL, o, out);
}

void cof_reader_free(cof_reader *r)
{
    if (!r)
        return;
    gz_stop(r);
    if (r->own_fd && r->fd >= 0)
        close(r->fd);
    free(r->zin);
    free(r->buf);
    free(r->name);
    free(r->path);
    free(r);
}

/* Inflate into buf[end, BUF_CAP). *got > 0, or 0 at the clean end of the last member. */
static cof_status fill_gz(cof_reader *r, size_t *got)
{
    *got = 0;
    for (;;) {
        if (r->z.avail_in == 0 && !r->z_in_eof) {
            size_t k;
            cof_status st = rd(r, r->zin, ZIN_CAP, &k);
            if (st)
                return st;
            r->z_in_eof = k == 0;
            r->z.next_in = r->zin;
            r->z.avail_in = (uInt)k;
        }
        if (r->z_member_end) {
            if (r->z.avail_in == 0)
                return COF_OK; /* end of the last member: end of input */
            if (inflateReset(&r->z) != Z_OK)
                return COF_ERR(COF_CORRUPT, "%s: inflateReset", r->name);
            r->z_member_end = 0;
        }
        if (r->z.avail_in == 0 && r->z_in_eof)
            return COF_ERR(COF_CORRUPT, "%s: gzip stream cut short", r->name);
        r->z.next_out = (unsigned char *)r->buf + r->end;
        r->z.avail_out = (uInt)(BUF_CAP - r->end);
        int zr = inflate(&r->z, Z_NO_FLUSH);
        size_t produced = (BUF_CAP - r->end) - r->z.avail_out;
        r->end += produced;
        *got += produced;
        if (zr == Z_STREAM_END) {
            r->z_member_end = 1;
        } else if (zr == Z_MEM_ERROR) {
            return COF_ERR(COF_NOMEM, "%s: inflate", r->name);
        } else if (zr != Z_OK && zr != Z_BUF_ERROR) {
            cof_status st = COF_ERR(COF_CORRUPT, "%s: gzip data damaged (offset %llu)",
                                    r->name, (unsigned long long)r->raw);
            if (*got == 0)
                return st;
            r->err = st; /* deliver what inflated first */
            return COF_OK;
        }
        if (*got)
            return COF_OK;
    }
}

/* First read of a non-regular source: decide plain or gzip from its first two bytes. */
static cof_status fill_detect(cof_reader *r, size_t *got)
{
    size_t n = 0, k;
    *got = 0;
    /* at most ZIN_CAP bytes, so that they fit the gzip input buffer if it is gzip */
    while (n < 2) {
        cof_status st = rd(r, r->buf + r->end + n, ZIN_CAP - n, &k);
        if (st)
            return st;
        if (k == 0)
            break;
        n += k;
        if (r->buf[r->end] != '\x1f')
            break;
    }
    unsigned char *p = (unsigned char *)r->buf + r->end;
    if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
        cof_status st = gz_start(r);
        if (st)
            return st;
        memcpy(r->zin, p, n); /* n <= ZIN_CAP */
        r->z.next_in = r->zin;
        r->z.avail_in = (uInt)n;
        return fill_gz(r, got);
    }
    r->src = SRC_PLAIN;
    r->end += n;
    *got = n;
    return COF_OK;
}

/* Append stream bytes to buf. COF_OK with new bytes, COF_NOTFOUND at end of input (or
 * stop), or an error. */
static cof_status fill(cof_reader *r)
{
    if (r->err)
        return r->err;
    if (r->beg > 0) {
        memmove(r->buf, r->buf + r->beg, r->end - r->beg);
        r->base += r->beg;
        r->end -= r->beg;
        r->beg = 0;
    }
    size_t old_end = r->end, got = 0;
    cof_status st;
    if (r->src == SRC_GZ)
        st = fill_gz(r, &got);
    else if (r->src == SRC_UNKNOWN)
        st = fill_detect(r, &got);
    else if ((st = rd(r, r->buf + r->end, BUF_CAP - r->end, &got)) == COF_OK)
        r->end += got;
    if (st)
        return st;
    if (got == 0)
        return COF_NOTFOUND;
    uint64_t at = r->base + old_end;
    if (!r->regular && at < COF_READER_FP_HEAD) {
        size_t k = COF_READER_FP_HEAD - (size_t)at;
        if (k > got)
            k = got;
        memcpy(r->head + at, r->buf + old_end, k);
        r->head_n = (size_t)at + k;
    }
    return COF_OK;
}

static void sleep_ms(uint32_t ms)
{
    struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
    (void)nanosleep(&ts, NULL); /* EINTR: the caller re-checks the stop flag */
}

/* Restart the current file at offset 0 (copytruncate). */
static cof_status restart(cof_reader *r)
{
    if (lseek(r->fd, 0, SEEK_SET) < 0)
        return io_fail(r, "lseek");
    r->beg = r->end = 0;
    r->base = r->raw = r->skip = 0;
    r->discard = 0;
    r->gen++;
    return fp_refresh(r);
}

/* Open the file the path now names; COF_AGAIN if it vanished in the meantime. */
static cof_status switch_file(cof_reader *r)
{
    int fd = -1;
    do
        fd = open(r->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        r->rotate_pending = 0;
        if (errno == ENOENT)
            return COF_AGAIN;
        return io_fail(r, "reopen");
    }
    gz_stop(r);
    if (r->own_fd)
        close(r->fd);
    r->fd = fd;
    r->own_fd = 1;
    r->gen++;
    cof_status st = source_setup(r, 0);
    return st == COF_NOTFOUND ? COF_IO : st;
}

/* At end of a followed file: wait until there is something to do. COF_OK to read
 * again (more data, restarted, or rotate_pending set), COF_NOTFOUND when stopped. */
static cof_status follow_wait(cof_reader *r)
{
    if (r->woke_for_data) /* the file looked longer but read nothing: do not spin */
        sleep_ms(r->o.poll_ms);
    r->woke_for_data = 0;
    for (;;) {
        if (stop_requested(r))
            return COF_NOTFOUND;
        struct stat sb;
        if (fstat(r->fd, &sb) != 0)
            return io_fail(r, "fstat");
        uint64_t pos = r->base + r->end;
        if ((uint64_t)sb.st_size < pos || (r->fp_n > 0 && head_changed(r)))
            return restart(r);
        if ((uint64_t)sb.st_size > pos) {
            r->woke_for_data = 1;
            return COF_OK;
        }
        if (r->path && stat(r->path, &sb) == 0 && (sb.st_ino != r->ino || sb.st_dev != r->dev)) {
            r->rotate_pending = 1; /* the old file is read to its end: switch */
            return COF_OK;
        }
        /* path missing (between rename and create) or unchanged: wait */
        sleep_ms(r->o.poll_ms);
    }
}

/* Return the bytes left in buf as the truncated last line. */
static void take_partial(cof_reader *r, cof_str *line, uint64_t *off, int *flags)
{
    size_t n = r->end - r->beg;
    const char *p = r->buf + r->beg;
    int fl = COF_LINE_TRUNCATED;
    if (n && p[n - 1] == '\r')
        n--;
    if (n > COF_MAX_LINE) {
        n = COF_MAX_LINE;
        fl |= COF_LINE_OVERLONG;
    }
    *line = cof_str_make(p, n);
    if (off)
        *off = r->base + r->beg;
    if (flags)
        *flags = fl;
    r->beg = r->end;
}

cof_status cof_reader_next(cof_reader *r, cof_str *line, uint64_t *off, int *flags)
{
    cof_status st;
    *line = COF_STR_NULL;
    if (flags)
        *flags = 0;
    if (r->done)
        return COF_NOTFOUND;
    if (r->o.follow && stop_requested(r)) {
        r->done = 1;
        return COF_NOTFOUND;
    }
    for (;;) {
        if (r->skip) {
            size_t n = r->end - r->beg;
            if (n > r->skip)
                n = (size_t)r->skip;
            r->beg += n;
            r->skip -= n;
        }
        if (r->skip) {
            /* still skipping: read more */
        } else if (r->discard) {
            char *nl = memchr(r->buf + r->beg, '\n', r->end - r->beg);
            if (nl) {
                r->beg = (size_t)(nl - r->buf) + 1;
                r->discard = 0;
                continue;
            }
            r->beg = r->end;
        } else {
            size_t avail = r->end - r->beg;
            const char *p = r->buf + r->beg;
            const char *nl = memchr(p, '\n', avail);
            if (nl || avail >= COF_MAX_LINE + 2) {
                size_t raw = nl ? (size_t)(nl - p) : avail, n = raw;
                int fl = 0;
                if (nl && n && p[n - 1] == '\r')
                    n--;
                if (n > COF_MAX_LINE) {
                    n = COF_MAX_LINE;
                    fl = COF_LINE_OVERLONG;
                }
                *line = cof_str_make(p, n);
                if (off)
                    *off = r->base + r->beg;
                if (flags)
                    *flags = fl;
                if (nl) {
                    r->beg += raw + 1;
                } else {
                    r->beg += COF_MAX_LINE; /* I3: drop the rest up to '\n' */
                    r->discard = 1;
                }
                return COF_OK;
            }
        }
        st = fill(r);
        if (st == COF_OK)
            continue;
        int partial = !r->discard && !r->skip && r->end > r->beg;
        if (st != COF_NOTFOUND) {
            r->err = st;
            if (partial) {
                take_partial(r, line, off, flags);
                return COF_OK;
            }
            return st;
        }
        if (r->stopped) {
            r->done = 1;
            return COF_NOTFOUND;
        }
        if (r->o.follow && r->regular && r->src == SRC_PLAIN) {
            if (r->rotate_pending) {
                if (partial) {
                    take_partial(r, line, off, flags);
                    return COF_OK;
                }
                st = switch_file(r);
                if (st == COF_AGAIN)
                    continue;
                if (st) {
                    r->err = st;
                    return st;
                }
                continue;
            }
            st = follow_wait(r);
            if (st == COF_OK)
                continue;
            r->done = 1; /* stopped (partial line left for the next run) or error */
            if (st != COF_NOTFOUND)
                r->err = st;
            return st;
        }
        if (partial) {
            take_partial(r, line, off, flags);
            return COF_OK;
        }
        r->done = 1;
        r->discard = 0;
        return COF_NOTFOUND;
    }
}

uint64_t cof_reader_tell(const cof_reader *r) { return r->base + r->beg + r->skip; }

uint64_t cof_reader_generation(const cof_reader *r) { return r->gen; }

cof_status cof_reader_fingerprint(cof_reader *r, uint8_t out[COF_READER_FP_LEN])
{
    if (r->fp_n < COF_READER_FP_HEAD) {
        cof_status st = fp_refresh(r);
        if (st)
            return st;
    }
    memcpy(out, r->fp, COF_READER_FP_LEN);
    return COF_OK;
}

int cof_reader_fingerprint_provisional(const cof_reader *r)
{
    return r->fp_n < COF_READER_FP_HEAD;
}

void cof_reader_size_hint(cof_reader *r, uint64_t *total, uint64_t *done)
{
    struct stat sb;
    *total = 0;
    if (r->regular && fstat(r->fd, &sb) == 0 && sb.st_size > 0)
        *total = (uint64_t)sb.st_size;
    *done = r->raw;
}

int cof_reader_is_gzip(const cof_reader *r) { return r->src == SRC_GZ; }
