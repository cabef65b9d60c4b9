/* test_reader.c - line source: plain, gzip, pipes, offsets, fingerprints, follow mode.
 *
 * Throughput: COF_READER_BENCH=/path/to/big.log ./test_reader prints GB/s for reading
 * every line of that file (run it twice so the file is in the page cache). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "bounds.h"
#include "reader.h"

static char tmpdir[256];

static void path_of(char *out, size_t cap, const char *name)
{
    int n = snprintf(out, cap, "%s/%s", tmpdir, name);
    assert_true(n > 0 && (size_t)n < cap);
}

static void write_file(const char *name, const void *p, size_t n, const char *mode)
{
    char path[512];
    path_of(path, sizeof path, name);
    FILE *f = fopen(path, mode);
    assert_non_null(f);
    if (n)
        assert_int_equal(fwrite(p, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

/* Appends one gzip member (mode "wb" or "ab"). */
static void write_gz(const char *name, const void *p, size_t n, const char *mode)
{
    char path[512];
    path_of(path, sizeof path, name);
    gzFile g = gzopen(path, mode);
    assert_non_null(g);
    if (n)
        assert_int_equal(gzwrite(g, p, (unsigned)n), (int)n);
    assert_int_equal(gzclose(g), Z_OK);
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

#define MAXL 64
typedef struct {
    int n;
    char *s[MAXL];
    size_t len[MAXL];
    uint64_t off[MAXL];
    int flags[MAXL];
    uint64_t gen[MAXL];
    cof_status end;
} lines_t;

static void lines_free(lines_t *L)
{
    for (int i = 0; i < L->n; i++)
        free(L->s[i]);
    memset(L, 0, sizeof *L);
}

static int take_one(cof_reader *r, lines_t *L)
{
    cof_str line;
    uint64_t off;
    int fl;
    cof_status st = cof_reader_next(r, &line, &off, &fl);
    if (st != COF_OK) {
        L->end = st;
        return 0;
    }
    assert_true(L->n < MAXL);
    L->s[L->n] = malloc(line.n + 1);
    assert_non_null(L->s[L->n]);
    if (line.n)
        memcpy(L->s[L->n], line.p, line.n);
    L->s[L->n][line.n] = 0;
    L->len[L->n] = line.n;
    L->off[L->n] = off;
    L->flags[L->n] = fl;
    L->gen[L->n] = cof_reader_generation(r);
    L->n++;
    return 1;
}

static void read_all(cof_reader *r, lines_t *L)
{
    memset(L, 0, sizeof *L);
    while (take_one(r, L))
        ;
}

static cof_reader *open_name(const char *name, uint64_t start)
{
    char path[512];
    cof_reader_opts o;
    cof_reader *r = NULL;
    cof_reader_opts_default(&o);
    o.start_offset = start;
    path_of(path, sizeof path, name);
    assert_int_equal(cof_reader_open(path, &o, &r), COF_OK);
    return r;
}

static const char basic[] = "a\nbb\n\nccc\r\nd\re\r\r\nlast";

static void check_basic(const lines_t *L)
{
    assert_int_equal(L->n, 6);
    assert_string_equal(L->s[0], "a");
    assert_int_equal(L->off[0], 0);
    assert_string_equal(L->s[1], "bb");
    assert_int_equal(L->off[1], 2);
    assert_string_equal(L->s[2], "");
    assert_int_equal(L->off[2], 5);
    assert_string_equal(L->s[3], "ccc");
    assert_int_equal(L->off[3], 6);
    assert_string_equal(L->s[4], "d\re\r"); /* only one trailing CR is stripped */
    assert_int_equal(L->off[4], 11);
    assert_string_equal(L->s[5], "last");
    assert_int_equal(L->off[5], 17);
    for (int i = 0; i < 5; i++)
        assert_int_equal(L->flags[i], 0);
    assert_int_equal(L->flags[5], COF_LINE_TRUNCATED);
    assert_int_equal(L->end, COF_NOTFOUND);
}

static void test_plain(void **state)
{
    (void)state;
    lines_t L;
    write_file("basic", basic, sizeof basic - 1, "wb");
    cof_reader *r = open_name("basic", 0);
    assert_false(cof_reader_is_gzip(r));
    read_all(r, &L);
    check_basic(&L);
    cof_str line;
    assert_int_equal(cof_reader_next(r, &line, NULL, NULL), COF_NOTFOUND); /* sticky */
    assert_int_equal(cof_reader_tell(r), sizeof basic - 1);
    uint64_t total, done;
    cof_reader_size_hint(r, &total, &done);
    assert_int_equal(total, sizeof basic - 1);
    assert_int_equal(done, sizeof basic - 1);
    cof_reader_free(r);
    lines_free(&L);

    /* empty file, and a file ending with a newline */
    write_file("empty", "", 0, "wb");
    r = open_name("empty", 0);
    read_all(r, &L);
    assert_int_equal(L.n, 0);
    assert_int_equal(L.end, COF_NOTFOUND);
    cof_reader_free(r);
    write_file("nl", "x\n", 2, "wb");
    r = open_name("nl", 0);
    read_all(r, &L);
    assert_int_equal(L.n, 1);
    assert_int_equal(L.flags[0], 0);
    cof_reader_free(r);
    lines_free(&L);
}

static void test_missing(void **state)
{
    (void)state;
    char path[512];
    cof_reader *r = (cof_reader *)1;
    path_of(path, sizeof path, "does-not-exist");
    assert_int_equal(cof_reader_open(path, NULL, &r), COF_NOTFOUND);
    assert_null(r);
}

static void test_gzip(void **state)
{
    (void)state;
    lines_t L;
    write_gz("basic.gz", basic, sizeof basic - 1, "wb");
    cof_reader *r = open_name("basic.gz", 0);
    assert_true(cof_reader_is_gzip(r));
    read_all(r, &L);
    check_basic(&L);
    cof_reader_free(r);
    lines_free(&L);

    /* concatenated members, split inside a line */
    write_gz("multi.gz", basic, 7, "wb");
    write_gz("multi.gz", basic + 7, 0, "ab");
    write_gz("multi.gz", basic + 7, sizeof basic - 1 - 7, "ab");
    r = open_name("multi.gz", 0);
    read_all(r, &L);
    check_basic(&L);
    cof_reader_free(r);
    lines_free(&L);
}

static void test_gzip_damaged(void **state)
{
    (void)state;
    char path[512];
    lines_t L;
    write_gz("cut.gz", "one\ntwo\nthree\n", 14, "wb");
    path_of(path, sizeof path, "cut.gz");
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(truncate(path, sb.st_size - 6), 0); /* drop most of the trailer */
    cof_reader *r = open_name("cut.gz", 0);
    read_all(r, &L);
    assert_int_equal(L.n, 3);
    assert_string_equal(L.s[2], "three");
    assert_int_equal(L.end, COF_CORRUPT);
    cof_reader_free(r);
    lines_free(&L);

    /* garbage after the last member */
    write_gz("tail.gz", "one\n", 4, "wb");
    write_file("tail.gz", "garbage!", 8, "ab");
    r = open_name("tail.gz", 0);
    read_all(r, &L);
    assert_int_equal(L.n, 1);
    assert_int_equal(L.end, COF_CORRUPT);
    cof_reader_free(r);
    lines_free(&L);
}

typedef struct {
    int fd;
    const char *p;
    size_t n;
    size_t step;
} pipe_writer;

static void *pipe_write_main(void *arg)
{
    pipe_writer *w = arg;
    size_t done = 0;
    while (done < w->n) {
        size_t k = w->n - done < w->step ? w->n - done : w->step;
        ssize_t got = write(w->fd, w->p + done, k);
        if (got <= 0)
            break;
        done += (size_t)got;
    }
    close(w->fd);
    return NULL;
}

static void read_pipe(const char *data, size_t n, size_t step, uint64_t start, int use_stdin,
                      lines_t *L, int *gz, uint8_t *fp)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pipe_writer w = { p[1], data, n, step };
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, pipe_write_main, &w), 0);
    cof_reader_opts o;
    cof_reader_opts_default(&o);
    o.start_offset = start;
    cof_reader *r = NULL;
    int saved = -1;
    if (use_stdin) {
        saved = dup(0);
        assert_true(saved >= 0);
        assert_int_equal(dup2(p[0], 0), 0);
        assert_int_equal(cof_reader_open("-", &o, &r), COF_OK);
    } else {
        assert_int_equal(cof_reader_open_fd(p[0], "pipe", &o, &r), COF_OK);
    }
    read_all(r, L);
    *gz = cof_reader_is_gzip(r);
    if (fp)
        assert_int_equal(cof_reader_fingerprint(r, fp), COF_OK);
    cof_reader_free(r);
    pthread_join(th, NULL);
    if (use_stdin) {
        assert_int_equal(dup2(saved, 0), 0);
        close(saved);
    }
    close(p[0]);
}

static void test_pipe(void **state)
{
    (void)state;
    lines_t L;
    int gz;
    read_pipe(basic, sizeof basic - 1, 1, 0, 0, &L, &gz, NULL); /* one byte per write */
    check_basic(&L);
    assert_false(gz);
    lines_free(&L);
    read_pipe(basic, sizeof basic - 1, 5, 0, 1, &L, &gz, NULL); /* through "-" */
    check_basic(&L);
    lines_free(&L);
    read_pipe(basic, sizeof basic - 1, 3, 6, 0, &L, &gz, NULL); /* resume on a pipe */
    assert_int_equal(L.n, 3);
    assert_string_equal(L.s[0], "ccc");
    assert_int_equal(L.off[0], 6);
    lines_free(&L);

    /* gzip on standard input, fed in small pieces, first piece of one byte */
    char path[512];
    write_gz("pipe.gz", basic, sizeof basic - 1, "wb");
    path_of(path, sizeof path, "pipe.gz");
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char gzb[512];
    size_t gn = fread(gzb, 1, sizeof gzb, f);
    fclose(f);
    read_pipe(gzb, gn, 1, 0, 1, &L, &gz, NULL);
    assert_true(gz);
    check_basic(&L);
    lines_free(&L);
}

static void test_resume(void **state)
{
    (void)state;
    lines_t L;
    write_gz("basic.gz", basic, sizeof basic - 1, "wb");
    write_file("basic", basic, sizeof basic - 1, "wb");
    const char *names[] = { "basic", "basic.gz" };
    for (int i = 0; i < 2; i++) {
        cof_reader *r = open_name(names[i], 11);
        read_all(r, &L);
        assert_int_equal(L.n, 2);
        assert_string_equal(L.s[0], "d\re\r");
        assert_int_equal(L.off[0], 11);
        assert_int_equal(L.off[1], 17);
        cof_reader_free(r);
        lines_free(&L);
        r = open_name(names[i], 1000); /* past the end */
        read_all(r, &L);
        assert_int_equal(L.n, 0);
        assert_int_equal(L.end, COF_NOTFOUND);
        cof_reader_free(r);
    }
}

/* n bytes of line content built from a seed, lines of varying length, one over-long. */
static char *make_big(size_t n, size_t *nlines)
{
    char *p = malloc(n);
    assert_non_null(p);
    uint32_t x = 12345;
    size_t i = 0, lines = 0;
    while (i < n) {
        x = x * 1103515245u + 12345u;
        size_t len = (x >> 8) % 300;
        if (lines == 777)
            len = 3 * COF_MAX_LINE + 5;
        for (size_t k = 0; k < len && i < n; k++)
            p[i++] = (char)('a' + (k + lines) % 26);
        if (i < n) {
            p[i++] = '\n';
            lines++;
        }
    }
    p[n - 1] = '\n';
    lines = 0;
    for (i = 0; i < n; i++)
        lines += p[i] == '\n';
    *nlines = lines;
    return p;
}

static void check_big(cof_reader *r, const char *p, size_t n, size_t nlines)
{
    size_t pos = 0, count = 0, overlong = 0;
    cof_str line;
    uint64_t off;
    int fl;
    cof_status st;
    while ((st = cof_reader_next(r, &line, &off, &fl)) == COF_OK) {
        assert_int_equal(off, pos);
        const char *nl = memchr(p + pos, '\n', n - pos);
        assert_non_null(nl);
        size_t len = (size_t)(nl - (p + pos));
        if (len > COF_MAX_LINE) {
            assert_int_equal(fl, COF_LINE_OVERLONG);
            assert_int_equal(line.n, COF_MAX_LINE);
            overlong++;
        } else {
            assert_int_equal(fl, 0);
            assert_int_equal(line.n, len);
        }
        assert_memory_equal(line.p, p + pos, line.n);
        pos += len + 1;
        count++;
    }
    assert_int_equal(st, COF_NOTFOUND);
    assert_int_equal(pos, n);
    assert_int_equal(count, nlines);
    assert_int_equal(overlong, 1);
}

static void test_big_and_overlong(void **state)
{
    (void)state;
    size_t n = 3u << 20, nlines;
    char *p = make_big(n, &nlines);
    write_file("big", p, n, "wb");
    write_gz("big.gz", p, n, "wb");
    cof_reader *r = open_name("big", 0);
    check_big(r, p, n, nlines);
    cof_reader_free(r);
    r = open_name("big.gz", 0);
    check_big(r, p, n, nlines);
    cof_reader_free(r);
    free(p);

    /* boundaries: exactly COF_MAX_LINE is fine (also with CR), one more is over-long */
    size_t m = 5 * COF_MAX_LINE;
    char *q = malloc(m);
    assert_non_null(q);
    size_t k = 0;
    memset(q + k, 'a', COF_MAX_LINE);
    k += COF_MAX_LINE;
    q[k++] = '\n';
    memset(q + k, 'b', COF_MAX_LINE);
    k += COF_MAX_LINE;
    q[k++] = '\r';
    q[k++] = '\n';
    memset(q + k, 'c', COF_MAX_LINE + 1);
    k += COF_MAX_LINE + 1;
    q[k++] = '\n';
    q[k++] = 'z';
    q[k++] = '\n';
    memset(q + k, 'd', COF_MAX_LINE + 1); /* over-long and unterminated */
    k += COF_MAX_LINE + 1;
    write_file("edge", q, k, "wb");
    lines_t L;
    r = open_name("edge", 0);
    read_all(r, &L);
    assert_int_equal(L.n, 5);
    assert_int_equal(L.len[0], COF_MAX_LINE);
    assert_int_equal(L.flags[0], 0);
    assert_int_equal(L.len[1], COF_MAX_LINE);
    assert_int_equal(L.flags[1], 0);
    assert_int_equal(L.len[2], COF_MAX_LINE);
    assert_int_equal(L.flags[2], COF_LINE_OVERLONG);
    assert_string_equal(L.s[3], "z");
    assert_int_equal(L.off[3], 3 * COF_MAX_LINE + 5);
    assert_int_equal(L.flags[4], COF_LINE_OVERLONG | COF_LINE_TRUNCATED);
    cof_reader_free(r);
    lines_free(&L);
    free(q);
}

static void test_binary(void **state)
{
    (void)state;
    unsigned char b[256 + 1];
    for (int i = 0; i < 256; i++)
        b[i] = (unsigned char)(i == '\n' ? 0 : i);
    b[256] = '\n';
    write_file("bin", b, sizeof b, "wb");
    lines_t L;
    cof_reader *r = open_name("bin", 0);
    read_all(r, &L);
    assert_int_equal(L.n, 1);
    assert_int_equal(L.len[0], 256);
    assert_memory_equal(L.s[0], b, 256);
    cof_reader_free(r);
    lines_free(&L);
}

static void fp_of(const char *name, uint8_t fp[COF_READER_FP_LEN], int *prov)
{
    cof_reader *r = open_name(name, 0);
    assert_int_equal(cof_reader_fingerprint(r, fp), COF_OK);
    *prov = cof_reader_fingerprint_provisional(r);
    cof_reader_free(r);
}

static void test_fingerprint(void **state)
{
    (void)state;
    size_t n = 10000, nl;
    char *p = make_big(n, &nl);
    uint8_t a[16], b[16], c[16], d[16];
    int pa, pb, pc, pd;
    write_file("fp", p, n, "wb");
    write_gz("fp.gz", p, n, "wb");
    fp_of("fp", a, &pa);
    fp_of("fp.gz", b, &pb);
    assert_memory_equal(a, b, 16);
    assert_false(pa);
    assert_false(pb);
    char from[512], to[512];
    path_of(from, sizeof from, "fp");
    path_of(to, sizeof to, "fp.renamed");
    assert_int_equal(rename(from, to), 0);
    fp_of("fp.renamed", c, &pc);
    assert_memory_equal(a, c, 16);
    p[4095] ^= 1; /* a change inside the head changes it, after it does not */
    write_file("fp2", p, n, "wb");
    fp_of("fp2", d, &pd);
    assert_memory_not_equal(a, d, 16);
    p[4095] ^= 1;
    p[4096] ^= 1;
    write_file("fp3", p, n, "wb");
    fp_of("fp3", d, &pd);
    assert_memory_equal(a, d, 16);

    /* short content: provisional, equal plain/gzip, and it follows the file's growth */
    write_file("short", p, 100, "wb");
    write_gz("short.gz", p, 100, "wb");
    fp_of("short", a, &pa);
    fp_of("short.gz", b, &pb);
    assert_true(pa && pb);
    assert_memory_equal(a, b, 16);
    cof_reader *r = open_name("short", 0);
    write_file("short", p + 100, 5000, "ab");
    assert_int_equal(cof_reader_fingerprint(r, c), COF_OK);
    assert_false(cof_reader_fingerprint_provisional(r));
    fp_of("fp3", d, &pd);
    assert_memory_equal(c, d, 16);
    cof_reader_free(r);

    /* a pipe: the fingerprint covers what was read, plain or gzip */
    lines_t L;
    int gz;
    free(p);
    write_file("basic", basic, sizeof basic - 1, "wb");
    fp_of("basic", a, &pa);
    read_pipe(basic, sizeof basic - 1, 4, 0, 0, &L, &gz, b);
    assert_memory_equal(a, b, 16);
    lines_free(&L);
    write_gz("basic.gz", basic, sizeof basic - 1, "wb");
    char path[512], gzb[512];
    path_of(path, sizeof path, "basic.gz");
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    size_t gn = fread(gzb, 1, sizeof gzb, f);
    fclose(f);
    read_pipe(gzb, gn, 7, 0, 0, &L, &gz, c);
    assert_memory_equal(a, c, 16);
    lines_free(&L);
}

/* ---- follow mode ---- */

typedef struct {
    volatile sig_atomic_t stop;
    int scenario;
} follow_ctx;

static void append(const char *name, const char *s)
{
    write_file(name, s, strlen(s), "ab");
}

static void *follow_writer(void *arg)
{
    follow_ctx *c = arg;
    char a[512], b[512];
    path_of(a, sizeof a, "live");
    path_of(b, sizeof b, "live.1");
    sleep_ms(50);
    append("live", "a2\nhel");
    sleep_ms(60);
    append("live", "lo\n");
    sleep_ms(60);
    if (c->scenario == 0) {
        /* rename rotation: the old file keeps receiving a line after the rename */
        int fd = open(a, O_WRONLY | O_APPEND);
        assert_true(fd >= 0);
        assert_int_equal(rename(a, b), 0);
        assert_int_equal(write(fd, "a4\na5", 5), 5);
        close(fd);
        sleep_ms(120); /* the path is missing meanwhile */
        append("live", "b1\n");
        sleep_ms(60);
        append("live", "b2\n");
    } else if (c->scenario == 1) {
        /* copytruncate, then short new content */
        write_file("live", "", 0, "wb");
        sleep_ms(60);
        append("live", "c1\n");
    } else {
        /* truncate and at once rewrite longer content: seen by the head check */
        write_file("live", "d1 longer than before..........\n", 32, "wb");
    }
    return NULL;
}

static void *watchdog(void *arg)
{
    follow_ctx *c = arg;
    for (int i = 0; i < 500 && !c->stop; i++)
        sleep_ms(20);
    c->stop = 1;
    return NULL;
}

static void run_follow(int scenario, lines_t *L, const char *last)
{
    follow_ctx c = { 0, scenario };
    write_file("live", "a1\n", 3, "wb");
    write_file("live.1", "", 0, "wb");
    char path[512];
    path_of(path, sizeof path, "live.1");
    unlink(path);
    path_of(path, sizeof path, "live");
    cof_reader_opts o;
    cof_reader_opts_default(&o);
    o.follow = 1;
    o.poll_ms = 10;
    o.stop = &c.stop;
    cof_reader *r = NULL;
    assert_int_equal(cof_reader_open(path, &o, &r), COF_OK);
    pthread_t w, d;
    assert_int_equal(pthread_create(&w, NULL, follow_writer, &c), 0);
    assert_int_equal(pthread_create(&d, NULL, watchdog, &c), 0);
    memset(L, 0, sizeof *L);
    while (take_one(r, L))
        if (strcmp(L->s[L->n - 1], last) == 0)
            break;
    c.stop = 1;
    cof_str line;
    assert_int_equal(cof_reader_next(r, &line, NULL, NULL), COF_NOTFOUND);
    pthread_join(w, NULL);
    pthread_join(d, NULL);
    cof_reader_free(r);
}

static void test_follow_rename(void **state)
{
    (void)state;
    lines_t L;
    run_follow(0, &L, "b2");
    static const char *want[] = { "a1", "a2", "hello", "a4", "a5", "b1", "b2" };
    static const uint64_t off[] = { 0, 3, 6, 12, 15, 0, 3 };
    static const uint64_t gen[] = { 0, 0, 0, 0, 0, 1, 1 };
    assert_int_equal(L.n, 7);
    for (int i = 0; i < 7; i++) {
        assert_string_equal(L.s[i], want[i]);
        assert_int_equal(L.off[i], off[i]);
        assert_int_equal(L.gen[i], gen[i]);
        assert_int_equal(L.flags[i], i == 4 ? COF_LINE_TRUNCATED : 0);
    }
    lines_free(&L);
}

static void test_follow_copytruncate(void **state)
{
    (void)state;
    lines_t L;
    for (int sc = 1; sc <= 2; sc++) {
        run_follow(sc, &L, sc == 1 ? "c1" : "d1 longer than before..........");
        assert_int_equal(L.n, 4);
        assert_string_equal(L.s[2], "hello");
        assert_int_equal(L.off[3], 0);
        assert_int_equal(L.gen[3], 1);
        lines_free(&L);
    }
}

static void *stopper(void *arg)
{
    sleep_ms(100);
    *(volatile sig_atomic_t *)arg = 1;
    return NULL;
}

static void test_follow_stop(void **state)
{
    (void)state;
    volatile sig_atomic_t stop = 0;
    write_file("idle", "x\npart", 6, "wb");
    char path[512];
    path_of(path, sizeof path, "idle");
    cof_reader_opts o;
    cof_reader_opts_default(&o);
    o.follow = 1;
    o.poll_ms = 20;
    o.stop = &stop;
    cof_reader *r;
    assert_int_equal(cof_reader_open(path, &o, &r), COF_OK);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, stopper, (void *)&stop), 0);
    lines_t L;
    read_all(r, &L);
    assert_int_equal(L.n, 1); /* the partial line waits for its newline */
    assert_int_equal(L.end, COF_NOTFOUND);
    assert_int_equal(cof_reader_tell(r), 2);
    pthread_join(th, NULL);
    cof_reader_free(r);
    lines_free(&L);
}

static void bench(const char *path)
{
    for (int pass = 0; pass < 2; pass++) {
        cof_reader *r;
        if (cof_reader_open(path, NULL, &r) != COF_OK) {
            fprintf(stderr, "bench: cannot open %s\n", path);
            return;
        }
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        cof_str line;
        uint64_t off, lines = 0, sum = 0;
        int fl;
        while (cof_reader_next(r, &line, &off, &fl) == COF_OK) {
            lines++;
            sum += line.n;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        uint64_t total = cof_reader_tell(r);
        double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
        printf("reader bench pass %d: %llu lines, %llu bytes in %.3f s = %.2f GB/s\n", pass,
               (unsigned long long)lines, (unsigned long long)total, s,
               (double)total / s / 1e9);
        (void)sum;
        cof_reader_free(r);
    }
}

int main(void)
{
    const char *b = getenv("COF_READER_BENCH");
    if (b && *b) {
        bench(b);
        return 0;
    }
    snprintf(tmpdir, sizeof tmpdir, "%s/cof_reader_XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmpdir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain),
        cmocka_unit_test(test_missing),
        cmocka_unit_test(test_gzip),
        cmocka_unit_test(test_gzip_damaged),
        cmocka_unit_test(test_pipe),
        cmocka_unit_test(test_resume),
        cmocka_unit_test(test_big_and_overlong),
        cmocka_unit_test(test_binary),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_follow_rename),
        cmocka_unit_test(test_follow_copytruncate),
        cmocka_unit_test(test_follow_stop),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
