/* audit.c - the audit trail writer: group-committed, hash-chained, signed (audit.h),
 * safe for several processes appending to one trail at once.
 *
 * Several processes (the server, CLI commands) may hold a writer on the same trail.
 * The chain (seq, prev) is therefore assigned only while the exclusive flock on
 * DATA_DIR/audit/LOCK is held, and the writer first catches up with whatever other
 * processes appended since it last wrote (sync_tail).
 *
 * State of one writer:
 *   queue       (mu) records formatted without seq/prev ("bodies") and checkpoint
 *               requests, waiting for a leader; queued_bytes bounds it
 *   leader      (mu) 1 while one thread runs a batch outside mu
 *   failed      (mu) sticky: set by the first failed batch (I/O, or a tail that does
 *               not continue the chain)
 *   chain       (leader only) next_seq, prev, unsigned_count, fd, cur_path, file_bytes:
 *               what this process knows of the newest file; true on disk only while
 *               the flock is held
 *
 *   append:  format the body (no lock) -> lock mu, enqueue -> wait until done; whoever
 *            finds no leader becomes leader: takes the whole queue, unlocks mu,
 *            flock(LOCK_EX) -> sync_tail (read lines others appended, follow their
 *            rotation, cut a torn tail a dead writer left) -> assign seq/prev/hash to
 *            each body, add checkpoints -> write + fdatasync (rotating first if the
 *            file is full) -> HEAD + syslog if the batch holds a checkpoint -> unlock
 *            the flock -> relock mu, mark the batch done, wake everyone.
 * Invariants: a line's bytes reach the file in seq order (one leader per process, one
 * flock holder across processes, batches taken whole); HEAD only ever names a
 * checkpoint that is already durable; a batch is written only after this process has
 * read every line on disk before it (so prev is the real previous line). */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "audit_int.h"
#include "fsutil.h"
#include "seal.h"
#include "timefmt.h"

/* One queued record (a body) or checkpoint request (body NULL); lives on the
 * appender's stack until done. */
typedef struct audit_node {
    struct audit_node *next;
    const char *body; /* ',"time":...' up to and excluding ',"prev":' */
    size_t n;
    uint64_t seq;     /* set by the leader */
    int done;
} audit_node;

/* '{"seq":' + 20 digits, ',"prev":"<64 hex>"', the hash tail and the newline */
#define LINE_OVERHEAD (7 + 20 + 8 + 66 + COF_AUDIT_HASH_TAIL + 1)
#define BODY_CAP (COF_AUDIT_MAX_LINE - LINE_OVERHEAD)
/* Sync reads: a whole line always fits twice. */
#define SYNC_BUF (2 * (size_t)COF_AUDIT_MAX_LINE + 2)

struct cof_audit {
    pthread_mutex_t mu;
    pthread_cond_t cv;       /* a batch finished, a leader left, or the queue drained */
    pthread_cond_t timer_cv; /* wakes the checkpoint timer (close) */
    pthread_t timer;
    int timer_started, stop;
    char dir[4096];
    char lock_path[4200];
    int lock_fd;
    /* queue (mu) */
    audit_node *qhead, **qtail;
    size_t queued_bytes;
    int leader, failed;
    uint64_t unsigned_pub;  /* unsigned_count as of the last batch (mu), for the timer */
    int64_t unsigned_since; /* monotonic us when unsigned_pub became non-zero */
    /* leader only */
    char cur_path[4200];
    int fd;
    uint64_t file_bytes, rotate_bytes; /* bytes of the newest file this process has read */
    uint8_t *sk; /* Ed25519 secret key, sodium_malloc'd */
    uint64_t next_seq;
    uint8_t prev[32];
    uint64_t unsigned_count; /* records since the last checkpoint on disk */
    char *batch, *rbuf;
    size_t batch_n, batch_cap;
    size_t head_off, head_len; /* the newest checkpoint line in batch (for HEAD) */
    int have_head;
};

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- JSON text ---- */

/* Length of the valid UTF-8 sequence at p (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (p[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
        return 0;
    return len;
}

size_t cof_audit_escape(cof_str s, char *out, size_t cap, int *cut)
{
    static const char hexd[] = "0123456789abcdef";
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)s.p;
    for (size_t i = 0; i < s.n;) {
        char tmp[8];
        size_t tn, adv;
        unsigned char c = p[i];
        size_t ul = utf8_len(p + i, s.n - i);
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            tn = 2;
            adv = 1;
        } else if (ul == 0 || c == 0) {
            /* U+FFFD for a byte that is not UTF-8, and for NUL (which jansson refuses
             * as \u0000, so verify and show could not read the line back) */
            memcpy(tmp, "\xEF\xBF\xBD", 3);
            tn = 3;
            adv = 1;
        } else if (c < 0x20 || c == 0x7F) {
            memcpy(tmp, "\\u00", 4);
            tmp[4] = hexd[c >> 4];
            tmp[5] = hexd[c & 15];
            tn = 6;
            adv = 1;
        } else {
            memcpy(tmp, p + i, ul);
            tn = ul;
            adv = ul;
        }
        if (o + tn > cap) {
            *cut = 1;
            break;
        }
        memcpy(out + o, tmp, tn);
        o += tn;
        i += adv;
    }
    return o;
}

/* Line under construction: fixed capacity COF_AUDIT_MAX_LINE + 1 (newline). */
typedef struct {
    char *p;
    size_t n, cap;
    int over;
} line_buf;

static void put(line_buf *b, const char *s, size_t n)
{
    if (b->over || n > b->cap - b->n) {
        b->over = 1;
        return;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void puts_(line_buf *b, const char *z) { put(b, z, strlen(z)); }

static void put_u64(line_buf *b, uint64_t v)
{
    char t[24];
    int n = snprintf(t, sizeof t, "%llu", (unsigned long long)v);
    put(b, t, (size_t)n);
}

static void put_name(line_buf *b, const char *z, int *cut)
{
    char esc[COF_AUDIT_MAX_NAME];
    size_t n = cof_audit_escape(cof_str_c(z ? z : ""), esc, sizeof esc, cut);
    put(b, "\"", 1);
    put(b, esc, n);
    put(b, "\"", 1);
}

static void put_hex(line_buf *b, const uint8_t *v, size_t n)
{
    char h[129];
    cof_audit_hex(v, n, h);
    put(b, "\"", 1);
    put(b, h, 2 * n);
    put(b, "\"", 1);
}

/* ',"hash":"..."}\n' closing a line whose hashed part is b->p[0..n). */
static void finish_line(line_buf *b, const uint8_t prev[32], uint8_t hash[32])
{
    cof_audit_line_hash(prev, b->p, b->n, hash);
    puts_(b, ",\"hash\":");
    put_hex(b, hash, 32);
    puts_(b, "}\n");
}

/* ---- the batch (leader only) ---- */

static cof_status batch_reserve(cof_audit *a, size_t n)
{
    if (n <= a->batch_cap - a->batch_n)
        return COF_OK;
    size_t nc = a->batch_cap ? a->batch_cap : 65536;
    while (nc - a->batch_n < n)
        nc *= 2; /* bounded: the queue holds at most COF_AUDIT_MAX_PENDING bytes */
    char *np = realloc(a->batch, nc);
    if (!np)
        return COF_ERR(COF_NOMEM, "audit batch buffer");
    a->batch = np;
    a->batch_cap = nc;
    return COF_OK;
}

/* Append a checkpoint for everything before next_seq to the batch. */
static cof_status add_checkpoint(cof_audit *a)
{
    char buf[512];
    line_buf b = { buf, 0, sizeof buf, 0 };
    uint8_t msg[60], sig[64], hash[32];
    char tb[40];
    uint64_t seq = a->next_seq;
    cof_audit_ckpt_msg(seq, a->prev, msg);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, a->sk);
    puts_(&b, "{\"seq\":");
    put_u64(&b, seq);
    puts_(&b, ",\"time\":\"");
    puts_(&b, cof_time_format(cof_time_now_us(), tb, sizeof tb));
    puts_(&b, "\",\"action\":\"checkpoint\",\"head\":");
    put_hex(&b, a->prev, 32);
    puts_(&b, ",\"sig\":");
    put_hex(&b, sig, 64);
    puts_(&b, ",\"prev\":");
    put_hex(&b, a->prev, 32);
    finish_line(&b, a->prev, hash);
    if (b.over)
        return COF_ERR(COF_LIMIT, "audit checkpoint line");
    cof_status st = batch_reserve(a, b.n);
    if (st)
        return st;
    a->head_off = a->batch_n;
    a->head_len = b.n;
    a->have_head = 1;
    memcpy(a->batch + a->batch_n, buf, b.n);
    a->batch_n += b.n;
    memcpy(a->prev, hash, 32);
    a->next_seq = seq + 1;
    a->unsigned_count = 0;
    return COF_OK;
}

/* Append '{"seq":N' + body + ',"prev":...,"hash":...}\n' to the batch. */
static cof_status add_record(cof_audit *a, audit_node *nd)
{
    char head[32];
    int hn = snprintf(head, sizeof head, "{\"seq\":%llu", (unsigned long long)a->next_seq);
    cof_status st = batch_reserve(a, (size_t)hn + nd->n + LINE_OVERHEAD);
    if (st)
        return st;
    line_buf b = { a->batch + a->batch_n, 0, a->batch_cap - a->batch_n, 0 };
    put(&b, head, (size_t)hn);
    put(&b, nd->body, nd->n);
    puts_(&b, ",\"prev\":");
    put_hex(&b, a->prev, 32);
    uint8_t hash[32];
    finish_line(&b, a->prev, hash);
    if (b.over)
        return COF_ERR(COF_LIMIT, "audit batch line");
    a->batch_n += b.n;
    nd->seq = a->next_seq;
    memcpy(a->prev, hash, 32);
    a->next_seq++;
    if (++a->unsigned_count >= COF_AUDIT_CHECKPOINT_EVERY)
        return add_checkpoint(a);
    return COF_OK;
}

static cof_status open_file(cof_audit *a, uint64_t first_seq)
{
    if (a->fd >= 0) {
        cof_status st = cof_fs_close(a->fd, a->cur_path);
        a->fd = -1;
        if (st)
            return st;
    }
    snprintf(a->cur_path, sizeof a->cur_path, "%s/%016llx.log", a->dir,
             (unsigned long long)first_seq);
    cof_status st = cof_fs_open(a->cur_path, O_RDWR | O_CREAT | O_EXCL | O_APPEND, 0600, &a->fd);
    if (st)
        return st;
    a->file_bytes = 0;
    return cof_fs_fsync_dir(a->dir);
}

static void log_head(const char *line, size_t n)
{
    cof_audit_parsed p;
    if (cof_audit_parse_full(cof_str_make(line, n), &p) != COF_OK)
        return;
    char h[65], s[129];
    cof_audit_hex(p.head, 32, h);
    cof_audit_hex(p.sig, 64, s);
    syslog(LOG_AUTHPRIV | LOG_INFO, "audit head seq=%llu hash=%s sig=%s",
           (unsigned long long)p.e.seq, h, s);
}

/* ---- catching up with other processes (leader, flock held) ---- */

/* One complete line another process appended: it must continue the chain. */
static cof_status sync_line(cof_audit *a, cof_str line)
{
    cof_audit_parsed p;
    uint8_t h[32];
    if (cof_audit_parse_full(line, &p) != COF_OK)
        return COF_ERR(COF_CORRUPT, "%s: a line another writer appended is not a record",
                       a->cur_path);
    cof_audit_line_hash(p.prev, line.p, p.hashed_len, h);
    if (sodium_memcmp(h, p.hash, 32) != 0 || sodium_memcmp(p.prev, a->prev, 32) != 0 ||
        p.e.seq != a->next_seq)
        return COF_ERR(COF_CORRUPT, "%s: seq %llu does not continue the chain (run coffer audit verify)",
                       a->cur_path, (unsigned long long)p.e.seq);
    memcpy(a->prev, p.hash, 32);
    a->next_seq = p.e.seq + 1;
    a->unsigned_count = p.checkpoint ? 0 : a->unsigned_count + 1;
    return COF_OK;
}

/* Read bytes [file_bytes, size) of the current file line by line. A last line without
 * its newline was left by a writer that died holding the lock (never acknowledged):
 * it is cut off. */
static cof_status sync_grown(cof_audit *a, uint64_t size)
{
    cof_status st;
    if (!a->rbuf && !(a->rbuf = malloc(SYNC_BUF)))
        return COF_ERR(COF_NOMEM, "audit sync buffer");
    uint64_t off = a->file_bytes; /* file offset of rbuf[0] */
    size_t have = 0;
    while (off + have < size) {
        uint64_t left = size - off - have;
        size_t want = SYNC_BUF - have < left ? SYNC_BUF - have : (size_t)left;
        ssize_t got;
        do
            got = pread(a->fd, a->rbuf + have, want, (off_t)(off + have));
        while (got < 0 && errno == EINTR);
        if (got <= 0)
            return got < 0 ? COF_ERRNO("read %s", a->cur_path)
                           : COF_ERR(COF_IO, "%s: shorter than its size", a->cur_path);
        have += (size_t)got;
        size_t start = 0;
        char *nl;
        while ((nl = memchr(a->rbuf + start, '\n', have - start)) != NULL) {
            size_t end = (size_t)(nl - a->rbuf);
            if ((st = sync_line(a, cof_str_make(a->rbuf + start, end - start))))
                return st;
            start = end + 1;
        }
        if (have - start > COF_AUDIT_MAX_LINE)
            return COF_ERR(COF_CORRUPT, "%s: a line longer than %d bytes", a->cur_path,
                           COF_AUDIT_MAX_LINE);
        memmove(a->rbuf, a->rbuf + start, have - start);
        off += start;
        have -= start;
    }
    if (have > 0) {
        if (ftruncate(a->fd, (off_t)off) != 0)
            return COF_ERRNO("truncate %s", a->cur_path);
        if ((st = cof_fs_fsync(a->fd, a->cur_path)))
            return st;
    }
    a->file_bytes = off;
    return COF_OK;
}

/* Continue from what is on disk now: the growth of the current file, then each file
 * another process started after it (named by the seq that follows). */
static cof_status sync_tail(cof_audit *a)
{
    cof_status st;
    for (;;) {
        if (a->fd >= 0) {
            struct stat sb;
            if (fstat(a->fd, &sb) != 0)
                return COF_ERRNO("stat %s", a->cur_path);
            uint64_t size = (uint64_t)sb.st_size;
            if (size < a->file_bytes)
                return COF_ERR(COF_CORRUPT, "%s: shorter than this writer left it (truncated?)",
                               a->cur_path);
            if (size > a->file_bytes && (st = sync_grown(a, size)))
                return st;
        }
        char next[4200];
        int fd;
        snprintf(next, sizeof next, "%s/%016llx.log", a->dir, (unsigned long long)a->next_seq);
        if (a->fd >= 0 && !strcmp(next, a->cur_path))
            return COF_OK; /* the current file is empty and already named so */
        do
            fd = open(next, O_RDWR | O_APPEND | O_CLOEXEC);
        while (fd < 0 && errno == EINTR);
        if (fd < 0) {
            if (errno == ENOENT)
                return COF_OK;
            return COF_ERRNO("open %s", next);
        }
        if (a->fd >= 0)
            (void)close(a->fd); /* read only since our last write, which was fsync'ed */
        a->fd = fd;
        a->file_bytes = 0;
        snprintf(a->cur_path, sizeof a->cur_path, "%s", next);
    }
}

static cof_status lock_trail(cof_audit *a)
{
    while (flock(a->lock_fd, LOCK_EX) != 0) {
        if (errno != EINTR)
            return COF_ERRNO("flock %s", a->lock_path);
    }
    return COF_OK;
}

static void unlock_trail(cof_audit *a)
{
    (void)flock(a->lock_fd, LOCK_UN);
}

/* Write one batch: the nodes of list in order (leader, mu not held). */
static cof_status run_batch(cof_audit *a, audit_node *list)
{
    cof_status st = lock_trail(a);
    if (st)
        return st;
    if ((st = sync_tail(a)))
        goto out;
    a->batch_n = 0;
    a->have_head = 0;
    uint64_t first = a->next_seq;
    for (audit_node *nd = list; nd && !st; nd = nd->next) {
        if (nd->body)
            st = add_record(a, nd);
        else if (a->unsigned_count > 0)
            st = add_checkpoint(a);
        if (!nd->body)
            nd->seq = a->next_seq - 1;
    }
    if (st || a->batch_n == 0)
        goto out;
    if (a->fd < 0 || a->file_bytes >= a->rotate_bytes) {
        if ((st = open_file(a, first)))
            goto out;
    }
    if ((st = cof_fs_write_all(a->fd, a->batch, a->batch_n, a->cur_path)))
        goto out;
    a->file_bytes += a->batch_n;
    if (fdatasync(a->fd) != 0) {
        st = COF_ERRNO("fdatasync %s", a->cur_path);
        goto out;
    }
    if (a->have_head) {
        char hp[4200];
        snprintf(hp, sizeof hp, "%s/HEAD", a->dir);
        if ((st = cof_fs_replace(hp, a->batch + a->head_off, a->head_len, 0600)))
            goto out;
        log_head(a->batch + a->head_off, a->head_len - 1);
    }
out:
    unlock_trail(a);
    return st;
}

/* Wait (mu held) until me is written, leading batches when nobody else is. */
static cof_status flush_until(cof_audit *a, audit_node *me)
{
    while (!me->done) {
        if (a->leader) {
            pthread_cond_wait(&a->cv, &a->mu);
            continue;
        }
        a->leader = 1;
        audit_node *list = a->qhead;
        a->qhead = NULL;
        a->qtail = &a->qhead;
        a->queued_bytes = 0;
        int failed = a->failed;
        pthread_cond_broadcast(&a->cv); /* the queue has room again */
        pthread_mutex_unlock(&a->mu);
        cof_status st = failed ? COF_IO : run_batch(a, list);
        char why[256] = "";
        if (st && !failed)
            snprintf(why, sizeof why, "%s", cof_err_msg());
        pthread_mutex_lock(&a->mu);
        a->leader = 0;
        if (st)
            a->failed = 1;
        if (a->unsigned_pub == 0 && a->unsigned_count > 0)
            a->unsigned_since = mono_us();
        a->unsigned_pub = a->unsigned_count;
        for (audit_node *nd = list, *nx; nd; nd = nx) {
            nx = nd->next; /* nd may vanish once done and mu is released */
            nd->done = 1;
        }
        pthread_cond_broadcast(&a->cv);
        if (st && !failed)
            return COF_ERR(COF_IO, "audit trail write failed, trail now refuses appends: %s", why);
    }
    return a->failed ? COF_ERR(COF_IO, "audit trail failed earlier; refusing") : COF_OK;
}

static void enqueue(cof_audit *a, audit_node *nd)
{
    nd->next = NULL;
    nd->done = 0;
    *a->qtail = nd;
    a->qtail = &nd->next;
    a->queued_bytes += nd->n;
}

/* ---- the record ---- */

static cof_status check_params(const char *pj, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)pj[i] < 0x20)
            return COF_ERR(COF_BADINPUT, "audit params: must be one line of JSON");
    json_error_t jerr;
    json_t *j = json_loadb(pj, n, JSON_REJECT_DUPLICATES, &jerr);
    int ok = j && json_is_object(j);
    json_decref(j);
    return ok ? COF_OK : COF_ERR(COF_BADINPUT, "audit params: not a JSON object");
}

/* Format r without seq and prev: ',"time":...' up to the ids (and the cut marker).
 * The line's fixed parts (seq, prev, hash) take LINE_OVERHEAD bytes, so b->cap is
 * BODY_CAP. */
static cof_status format_body(const cof_audit_rec *r, line_buf *b)
{
    int cut = 0;
    char tb[40];
    /* the fixed-size parts first, so params and ids get what is left */
    puts_(b, ",\"time\":\"");
    puts_(b, cof_time_format(r->time ? r->time : cof_time_now_us(), tb, sizeof tb));
    puts_(b, "\",\"principal\":");
    put_name(b, r->principal ? r->principal : "-", &cut);
    puts_(b, ",\"source\":");
    put_name(b, r->source, &cut);
    puts_(b, ",\"action\":");
    put_name(b, r->action, &cut);
    puts_(b, ",\"params\":");
    /* room kept for outcome, status, tenants (bounded), events, ids marker */
    size_t reserve = 2 * COF_AUDIT_MAX_NAME + COF_AUDIT_MAX_TENANTS_BYTES + 400;
    size_t pn = r->params_json ? strlen(r->params_json) : 0;
    if (pn && pn + reserve <= b->cap - b->n)
        put(b, r->params_json, pn);
    else {
        if (pn)
            cut = 1;
        puts_(b, "{}");
    }
    puts_(b, ",\"outcome\":");
    put_name(b, r->outcome, &cut);
    puts_(b, ",\"status\":");
    put_u64(b, (uint64_t)r->status);
    puts_(b, ",\"tenants\":[");
    size_t tstart = b->n;
    for (size_t i = 0; i < r->ntenants; i++) {
        char esc[COF_AUDIT_MAX_NAME];
        int tcut = 0;
        size_t en = cof_audit_escape(cof_str_c(r->tenants[i] ? r->tenants[i] : ""), esc,
                                     sizeof esc, &tcut);
        if (tcut || b->n - tstart + en + 3 > COF_AUDIT_MAX_TENANTS_BYTES) {
            cut = 1;
            break;
        }
        if (i)
            put(b, ",", 1);
        put(b, "\"", 1);
        put(b, esc, en);
        put(b, "\"", 1);
    }
    puts_(b, "],\"events\":");
    put_u64(b, r->events);
    puts_(b, ",\"ids\":\"");
    /* ids: "SEG:ROW-ROW,..." cut at a range boundary to what still fits */
    size_t room = b->cap - b->n;
    size_t need_after = 12 + 2; /* '"' ',"cut":true' */
    if (r->ids && *r->ids) {
        size_t max = room > need_after ? room - need_after : 0;
        char *esc = malloc(max + 1);
        if (!esc)
            return COF_ERR(COF_NOMEM, "audit ids");
        int icut = 0;
        size_t en = cof_audit_escape(cof_str_c(r->ids), esc, max, &icut);
        if (icut) {
            cut = 1;
            while (en > 0 && esc[en - 1] != ',')
                en--;
            if (en > 0)
                en--; /* drop the comma too */
        }
        put(b, esc, en);
        free(esc);
    }
    puts_(b, "\"");
    if (cut)
        puts_(b, ",\"cut\":true");
    if (b->over)
        return COF_ERR(COF_LIMIT, "audit record longer than %d bytes", COF_AUDIT_MAX_LINE);
    return COF_OK;
}

cof_status cof_audit_append(cof_audit *a, const cof_audit_rec *r, uint64_t *seq)
{
    if (!a || !r || !r->action || !*r->action || !strcmp(r->action, "checkpoint") ||
        (r->ntenants && !r->tenants) || r->status < 0 || r->status > 999)
        return COF_ERR(COF_BADINPUT, "audit record: missing or bad field");
    if (r->params_json) {
        cof_status st = check_params(r->params_json, strlen(r->params_json));
        if (st)
            return st;
    }
    char *lb = malloc(BODY_CAP);
    if (!lb)
        return COF_ERR(COF_NOMEM, "audit line");
    line_buf b = { lb, 0, BODY_CAP, 0 };
    cof_status st = format_body(r, &b);
    if (st) {
        free(lb);
        return st;
    }
    audit_node me = { NULL, lb, b.n, 0, 0 };
    pthread_mutex_lock(&a->mu);
    while (!a->failed && a->queued_bytes + b.n > COF_AUDIT_MAX_PENDING && a->queued_bytes > 0)
        pthread_cond_wait(&a->cv, &a->mu);
    if (a->failed) {
        st = COF_ERR(COF_IO, "audit trail failed earlier; refusing");
        goto out;
    }
    enqueue(a, &me);
    if ((st = flush_until(a, &me)))
        goto out;
    if (seq)
        *seq = me.seq;
out:
    pthread_mutex_unlock(&a->mu);
    free(lb);
    return st;
}

cof_status cof_audit_checkpoint(cof_audit *a)
{
    if (!a)
        return COF_ERR(COF_BADINPUT, "audit: no trail");
    cof_status st = COF_OK;
    audit_node me = { NULL, NULL, 0, 0, 0 };
    pthread_mutex_lock(&a->mu);
    if (a->failed)
        st = COF_ERR(COF_IO, "audit trail failed earlier; refusing");
    else {
        enqueue(a, &me);
        st = flush_until(a, &me);
    }
    pthread_mutex_unlock(&a->mu);
    return st;
}

int cof_audit_failed(const cof_audit *a)
{
    cof_audit *m = (cof_audit *)a;
    pthread_mutex_lock(&m->mu);
    int f = m->failed;
    pthread_mutex_unlock(&m->mu);
    return f;
}

/* Signs unsigned records at most ~1 s after the oldest of them was written. */
static void *timer_main(void *arg)
{
    cof_audit *a = arg;
    pthread_mutex_lock(&a->mu);
    while (!a->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 250 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&a->timer_cv, &a->mu, &ts);
        if (a->stop || a->failed || a->unsigned_pub == 0)
            continue;
        if (mono_us() - a->unsigned_since < 1000000)
            continue;
        audit_node me = { NULL, NULL, 0, 0, 0 };
        enqueue(a, &me);
        (void)flush_until(a, &me);
    }
    pthread_mutex_unlock(&a->mu);
    return NULL;
}
/* ---- open: tail recovery ---- */

/* Read the last complete line of fd (size sz) into out; truncate a torn tail first.
 * *n = 0 if the file holds no complete line. */
static cof_status recover_tail(int fd, const char *path, char *buf, size_t cap, cof_str *last,
                               int *ckpt_is_last, cof_audit_parsed *lp)
{
    struct stat sb;
    *last = COF_STR_NULL;
    if (fstat(fd, &sb) != 0)
        return COF_ERRNO("stat %s", path);
    uint64_t size = (uint64_t)sb.st_size;
    for (int round = 0; round < 2 && size > 0; round++) {
        size_t want = size < cap ? (size_t)size : cap;
        uint64_t off = size - want;
        ssize_t got = pread(fd, buf, want, (off_t)off);
        if (got < 0 || (size_t)got != want)
            return COF_ERRNO("read %s", path);
        /* the last line: after the previous newline (excluding a final one) */
        size_t end = want;
        int terminated = buf[end - 1] == '\n';
        size_t lend = terminated ? end - 1 : end;
        size_t b = lend;
        while (b > 0 && buf[b - 1] != '\n')
            b--;
        if (b == 0 && off > 0)
            return COF_ERR(COF_CORRUPT, "%s: last line longer than %d bytes", path, COF_AUDIT_MAX_LINE);
        cof_str line = cof_str_make(buf + b, lend - b);
        if (terminated && cof_audit_parse_full(line, lp) == COF_OK) {
            *last = line;
            *ckpt_is_last = lp->checkpoint;
            return COF_OK;
        }
        if (round == 1)
            return COF_ERR(COF_CORRUPT, "%s: the last two lines are damaged", path);
        /* torn by a crash mid-write: never acknowledged, so cut it off */
        size = off + b;
        if (ftruncate(fd, (off_t)size) != 0)
            return COF_ERRNO("truncate %s", path);
        if (fsync(fd) != 0)
            return COF_ERRNO("fsync %s", path);
    }
    return COF_OK;
}

static cof_status read_head_seq(const char *dir, uint64_t *seq)
{
    char path[4200];
    uint8_t *buf = NULL;
    size_t n;
    *seq = 0;
    snprintf(path, sizeof path, "%s/HEAD", dir);
    cof_status st = cof_fs_read_file(path, COF_AUDIT_MAX_LINE + 1, &buf, &n);
    if (st == COF_NOTFOUND) {
        cof_err_clear();
        return COF_OK;
    }
    if (st)
        return st;
    cof_audit_parsed p;
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (cof_audit_parse_full(cof_str_make((char *)buf, n), &p) != COF_OK || !p.checkpoint)
        st = COF_ERR(COF_CORRUPT, "%s: not a checkpoint", path);
    else
        *seq = p.e.seq;
    free(buf);
    return st;
}

static int cmp_desc(const void *x, const void *y)
{
    return strcmp((const char *)y, (const char *)x);
}

/* Write HEAD from a durable checkpoint line (without its newline). */
static cof_status write_head(const char *dir, const char *line, size_t n)
{
    char hp[4200];
    char *copy = malloc(n + 1);
    if (!copy)
        return COF_ERR(COF_NOMEM, "audit HEAD");
    memcpy(copy, line, n);
    copy[n] = '\n';
    snprintf(hp, sizeof hp, "%s/HEAD", dir);
    cof_status st = cof_fs_replace(hp, copy, n + 1, 0600);
    free(copy);
    return st;
}

/* Continue the chain from the newest complete record: the newest file stays the one
 * appended to; older files are only read when newer ones hold no complete line. */
static cof_status open_tail(cof_audit *a)
{
    DIR *d = NULL;
    char (*names)[32] = NULL;
    size_t nn = 0, cap = 0;
    char *buf = NULL;
    cof_status st = COF_OK;
    int fd = -1, found = 0, last_is_ckpt = 0;
    uint64_t cur_first = 0;
    cof_audit_parsed lp;
    cof_str last = COF_STR_NULL;
    d = opendir(a->dir);
    if (!d)
        return COF_ERRNO("open directory %s", a->dir);
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        const char *z = de->d_name;
        if (strlen(z) != 20 || strcmp(z + 16, ".log") != 0 || strspn(z, "0123456789abcdef") != 16)
            continue;
        if (nn == cap) {
            if (cap >= COF_AUDIT_MAX_FILES) {
                st = COF_ERR(COF_LIMIT, "%s: too many audit files", a->dir);
                goto out;
            }
            size_t nc = cap ? 2 * cap : 16;
            void *np = realloc(names, nc * sizeof *names);
            if (!np) {
                st = COF_ERR(COF_NOMEM, "audit file list");
                goto out;
            }
            names = np;
            cap = nc;
        }
        memcpy(names[nn++], z, 21); /* checked: 20 characters */
    }
    if (nn)
        qsort(names, nn, sizeof *names, cmp_desc);
    size_t cap_buf = 2 * (size_t)COF_AUDIT_MAX_LINE + 2;
    buf = malloc(cap_buf);
    if (!buf) {
        st = COF_ERR(COF_NOMEM, "audit tail buffer");
        goto out;
    }
    for (size_t i = 0; i < nn && !found; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s", a->dir, names[i]);
        if ((st = cof_fs_open(path, O_RDWR | O_APPEND, 0, &fd)))
            goto out;
        if ((st = recover_tail(fd, path, buf, cap_buf, &last, &last_is_ckpt, &lp)))
            goto out;
        if (i == 0) {
            struct stat sb;
            if (fstat(fd, &sb) != 0) {
                st = COF_ERRNO("stat %s", path);
                goto out;
            }
            a->fd = fd;
            a->file_bytes = (uint64_t)sb.st_size;
            snprintf(a->cur_path, sizeof a->cur_path, "%s", path);
            cur_first = strtoull(names[i], NULL, 16);
        } else {
            close(fd);
        }
        fd = -1;
        if (!last.p)
            continue;
        uint8_t h[32];
        cof_audit_line_hash(lp.prev, last.p, lp.hashed_len, h);
        if (sodium_memcmp(h, lp.hash, 32) != 0) {
            st = COF_ERR(COF_CORRUPT, "%s: the last record's hash does not match (edited?)", path);
            goto out;
        }
        found = 1;
    }
    if (found) {
        a->next_seq = lp.e.seq + 1;
        memcpy(a->prev, lp.hash, 32);
        a->unsigned_count = last_is_ckpt ? 0 : 1; /* unsigned survivors: signed at open */
    }
    if (a->fd >= 0 && a->file_bytes == 0 && cur_first != a->next_seq) {
        st = COF_ERR(COF_CORRUPT, "%s: empty newest file does not continue the chain", a->cur_path);
        goto out;
    }
    uint64_t hs;
    if ((st = read_head_seq(a->dir, &hs)))
        goto out;
    if (hs >= a->next_seq) {
        st = COF_ERR(COF_CORRUPT, "%s: the trail ends before HEAD's checkpoint %llu (truncated)",
                     a->dir, (unsigned long long)hs);
        goto out;
    }
    if (found && last_is_ckpt && hs < lp.e.seq)
        st = write_head(a->dir, last.p, last.n); /* crashed between checkpoint and HEAD */
out:
    if (fd >= 0)
        close(fd);
    if (d)
        closedir(d);
    free(names);
    free(buf);
    return st;
}

cof_status cof_audit_open(const char *data_dir, const uint8_t sign_seed[32], cof_audit **out)
{
    *out = NULL;
    cof_status st = cof_seal_init();
    if (st)
        return st;
    cof_audit *a = calloc(1, sizeof *a);
    if (!a)
        return COF_ERR(COF_NOMEM, "audit writer");
    a->fd = -1;
    a->lock_fd = -1;
    a->rotate_bytes = COF_AUDIT_FILE_BYTES;
    a->next_seq = 1;
    a->qtail = &a->qhead;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cv, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&a->timer_cv, &ca);
    pthread_condattr_destroy(&ca);
    int n = snprintf(a->dir, sizeof a->dir, "%s/audit", data_dir);
    if (n < 0 || (size_t)n >= sizeof a->dir) {
        st = COF_ERR(COF_LIMIT, "data directory path too long");
        goto fail;
    }
    snprintf(a->lock_path, sizeof a->lock_path, "%s/LOCK", a->dir);
    a->sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    if (!a->sk) {
        st = COF_ERR(COF_NOMEM, "audit signing key");
        goto fail;
    }
    uint8_t pk[32];
    crypto_sign_seed_keypair(pk, a->sk, sign_seed);
    sodium_mprotect_readonly(a->sk);
    if ((st = cof_fs_mkdir_p(a->dir, 0700)))
        goto fail;
    if (chmod(a->dir, 0700) != 0) {
        st = COF_ERRNO("chmod %s", a->dir);
        goto fail;
    }
    if ((st = cof_fs_open(a->lock_path, O_RDWR | O_CREAT, 0600, &a->lock_fd)))
        goto fail;
    if ((st = cof_fs_check_private(a->lock_fd, a->lock_path, "audit lock file", 0600)))
        goto fail;
    /* the tail is read (and a torn line cut) only while no other process appends */
    if ((st = lock_trail(a)))
        goto fail;
    st = open_tail(a);
    unlock_trail(a);
    if (st)
        goto fail;
    a->unsigned_pub = a->unsigned_count;
    openlog("coffer-audit", LOG_PID, LOG_AUTHPRIV);
    if (a->unsigned_count > 0 && (st = cof_audit_checkpoint(a)))
        goto fail; /* unsigned survivors of an earlier run: sign them now */
    if (pthread_create(&a->timer, NULL, timer_main, a) != 0) {
        st = COF_ERR(COF_NOMEM, "audit checkpoint timer thread");
        goto fail;
    }
    a->timer_started = 1;
    *out = a;
    return COF_OK;
fail:
    cof_audit_close(a);
    return st;
}

void cof_audit_close(cof_audit *a)
{
    if (!a)
        return;
    if (a->timer_started) {
        pthread_mutex_lock(&a->mu);
        a->stop = 1;
        pthread_cond_signal(&a->timer_cv);
        pthread_mutex_unlock(&a->mu);
        pthread_join(a->timer, NULL);
        if (cof_audit_checkpoint(a) != COF_OK) {
            /* nothing more to do: the next open signs what survived */
        }
    }
    if (a->fd >= 0)
        close(a->fd);
    if (a->lock_fd >= 0)
        close(a->lock_fd);
    if (a->sk)
        sodium_free(a->sk);
    free(a->batch);
    free(a->rbuf);
    pthread_cond_destroy(&a->timer_cv);
    pthread_cond_destroy(&a->cv);
    pthread_mutex_destroy(&a->mu);
    free(a);
}

cof_status cof_audit_public_key(const uint8_t sign_seed[32], uint8_t pk[32])
{
    cof_status st = cof_seal_init();
    if (st)
        return st;
    uint8_t *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);
    if (!sk)
        return COF_ERR(COF_NOMEM, "audit signing key");
    crypto_sign_seed_keypair(pk, sk, sign_seed);
    sodium_free(sk);
    return COF_OK;
}

cof_status cof_audit_blind(const uint8_t key[32], cof_str value, char out[35])
{
    char norm[COF_MAX_FIELD];
    size_t n;
    uint8_t tok[16];
    cof_status st = cof_seal_normalize(value, norm, sizeof norm, &n);
    if (st)
        return st;
    crypto_generichash(tok, sizeof tok, (const uint8_t *)norm, n, key, 32);
    sodium_memzero(norm, n);
    out[0] = 'b';
    out[1] = ':';
    cof_audit_hex(tok, sizeof tok, out + 2);
    return COF_OK;
}

int cof_audit_test_fd(cof_audit *a)
{
    pthread_mutex_lock(&a->mu);
    int fd = a->fd;
    pthread_mutex_unlock(&a->mu);
    return fd;
}

void cof_audit_test_file_bytes(cof_audit *a, uint64_t bytes)
{
    pthread_mutex_lock(&a->mu);
    a->rotate_bytes = bytes;
    pthread_mutex_unlock(&a->mu);
}

void cof_audit_ids_add(char *ids, size_t cap, uint64_t seg, uint32_t lo, uint32_t hi)
{
    size_t n = strlen(ids);
    if (n >= cap - 40) {
        if (n < cap - 1 && ids[n - 1] != '+')
            snprintf(ids + n, cap - n, ",+");
        return;
    }
    if (lo == hi)
        snprintf(ids + n, cap - n, "%s%" PRIu64 ":%u", n ? "," : "", seg, lo);
    else
        snprintf(ids + n, cap - n, "%s%" PRIu64 ":%u-%u", n ? "," : "", seg, lo, hi);
}
