/* test_audit.c - the audit trail on real files: concurrent group commit, every kind of
 * tampering found at the right place, torn-tail recovery, write failure, rotation,
 * blind tokens, record limits. */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "audit_int.h"
#include "seal.h"
#include "timefmt.h"

static uint8_t seed[32], pk[32];

static void mkdtemp_dir(char *dir, size_t cap)
{
    snprintf(dir, cap, "/tmp/cof-audit-XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void rm_rf(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static cof_audit_rec rec(const char *principal, const char *action, uint64_t events)
{
    static const char *tenants[] = { "acme", "globex" };
    cof_audit_rec r = { 0 };
    r.principal = principal;
    r.source = "127.0.0.1";
    r.action = action;
    r.params_json = "{\"rcpt\":\"b:0123456789abcdef0123456789abcdef\",\"limit\":10}";
    r.outcome = "ok";
    r.status = 200;
    r.tenants = tenants;
    r.ntenants = 2;
    r.events = events;
    r.ids = "1:0-9,2:5";
    return r;
}

static cof_audit_report verify(const char *dir)
{
    cof_audit_report rep;
    assert_int_equal(cof_audit_verify(dir, pk, &rep), COF_OK);
    return rep;
}

/* A trail of n records with an explicit checkpoint after every 10th; closed (so a
 * final checkpoint and HEAD exist). */
static void build(const char *dir, int n)
{
    cof_audit *a;
    assert_int_equal(cof_audit_open(dir, seed, &a), COF_OK);
    for (int i = 1; i <= n; i++) {
        cof_audit_rec r = rec(i % 2 ? "alice" : "bob", i % 3 ? "trail" : "stats", (uint64_t)i);
        assert_int_equal(cof_audit_append(a, &r, NULL), COF_OK);
        if (i % 10 == 0)
            assert_int_equal(cof_audit_checkpoint(a), COF_OK);
    }
    cof_audit_close(a);
}

/* ---- file surgery ---- */

typedef struct {
    char *l[256];
    int n;
} lines;

static void file_path(const char *dir, const char *name, char *out, size_t cap)
{
    snprintf(out, cap, "%s/audit/%s", dir, name);
}

static void load(const char *path, lines *ls)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char *buf = malloc(70000);
    ls->n = 0;
    while (fgets(buf, 70000, f)) {
        assert_true(ls->n < 256);
        ls->l[ls->n++] = strdup(buf);
    }
    free(buf);
    fclose(f);
}

static void store(const char *path, lines *ls)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    for (int i = 0; i < ls->n; i++)
        fputs(ls->l[i], f);
    fclose(f);
}

static void drop(lines *ls)
{
    for (int i = 0; i < ls->n; i++)
        free(ls->l[i]);
    ls->n = 0;
}

/* Rewrite line i with the given prev and a freshly computed hash, as an attacker who
 * knows the format would; returns the new hash in h. */
static void rehash(char **line, const uint8_t prev[32], uint8_t h[32])
{
    cof_audit_parsed p;
    size_t n = strlen(*line) - 1; /* without newline */
    assert_int_equal(cof_audit_parse_full(cof_str_make(*line, n), &p), COF_OK);
    char *out = malloc(n + 2);
    size_t pre = p.hashed_len - 65; /* up to the opening quote of prev's value */
    memcpy(out, *line, pre);
    cof_audit_hex(prev, 32, out + pre);
    out[pre + 64] = '"';
    cof_audit_line_hash(prev, out, p.hashed_len, h);
    snprintf(out + p.hashed_len, n + 2 - p.hashed_len, ",\"hash\":\"");
    cof_audit_hex(h, 32, out + p.hashed_len + 9);
    memcpy(out + p.hashed_len + 73, "\"}\n", 4);
    free(*line);
    *line = out;
}

static int g_forge_head; /* rechain_from also points checkpoints' head at the new chain */

static void rechain_from(lines *ls, int from)
{
    uint8_t prev[32], h[32];
    cof_audit_parsed p;
    if (from == 0) {
        memset(prev, 0, 32);
    } else {
        size_t n = strlen(ls->l[from - 1]) - 1;
        assert_int_equal(cof_audit_parse_full(cof_str_make(ls->l[from - 1], n), &p), COF_OK);
        memcpy(prev, p.hash, 32);
    }
    for (int i = from; i < ls->n; i++) {
        char *hd = strstr(ls->l[i], "\"head\":\"");
        if (hd && g_forge_head) {
            char hex[65];
            cof_audit_hex(prev, 32, hex);
            memcpy(hd + 8, hex, 64);
        }
        rehash(&ls->l[i], prev, h);
        memcpy(prev, h, 32);
    }
}

/* HEAD as it was when the newest checkpoint still in ls was written. */
static void head_from_last_ckpt(const char *dir, lines *ls)
{
    char p[256];
    file_path(dir, "HEAD", p, sizeof p);
    for (int i = ls->n - 1; i >= 0; i--)
        if (strstr(ls->l[i], "\"action\":\"checkpoint\"")) {
            lines one = { { ls->l[i] }, 1 };
            store(p, &one);
            return;
        }
    assert_true(0);
}

static const char *F1 = "0000000000000001.log";

/* ---- tests ---- */

typedef struct {
    cof_audit *a;
    int id;
    uint64_t seqs[250];
} worker;

static void *append_many(void *arg)
{
    worker *w = arg;
    char principal[16];
    snprintf(principal, sizeof principal, "worker%d", w->id);
    for (int i = 0; i < 250; i++) {
        cof_audit_rec r = rec(principal, "events", (uint64_t)i);
        if (cof_audit_append(w->a, &r, &w->seqs[i]) != COF_OK)
            w->seqs[i] = 0;
    }
    return NULL;
}

static void test_concurrent_appends(void **state)
{
    (void)state;
    char dir[64];
    mkdtemp_dir(dir, sizeof dir);
    cof_audit *a;
    assert_int_equal(cof_audit_open(dir, seed, &a), COF_OK);
    worker w[8];
    pthread_t t[8];
    for (int i = 0; i < 8; i++) {
        w[i].a = a;
        w[i].id = i;
        assert_int_equal(pthread_create(&t[i], NULL, append_many, &w[i]), 0);
    }
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    assert_int_equal(cof_audit_failed(a), 0);
    cof_audit_close(a);
    /* every append got its own seq; with the 1000-record checkpoint in between the
     * 2000 records use seqs 1..2001 (+ more checkpoints from the timer) */
    static uint8_t seen[4096];
    memset(seen, 0, sizeof seen);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 250; j++) {
            assert_true(w[i].seqs[j] > 0 && w[i].seqs[j] < sizeof seen);
            assert_int_equal(seen[w[i].seqs[j]], 0);
            seen[w[i].seqs[j]] = 1;
            if (j)
                assert_true(w[i].seqs[j] > w[i].seqs[j - 1]);
        }
    cof_audit_report rep = verify(dir);
    assert_int_equal(rep.problem, COF_AUDIT_OK);
    assert_int_equal(rep.records, 2000);
    assert_true(rep.checkpoints >= 2);
    assert_int_equal(rep.last_seq, rep.records + rep.checkpoints);
    /* file and directory modes */
    struct stat sb;
    char p[256];
    snprintf(p, sizeof p, "%s/audit", dir);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    file_path(dir, F1, p, sizeof p);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    rm_rf(dir);
}

static void test_reopen_continues(void **state)
{
    (void)state;
    char dir[64];
    mkdtemp_dir(dir, sizeof dir);
    build(dir, 5);
    build(dir, 5);
    cof_audit_report rep = verify(dir);
    assert_int_equal(rep.problem, COF_AUDIT_OK);
    assert_int_equal(rep.records, 10);
    assert_int_equal(rep.checkpoints, 2);
    assert_int_equal(rep.last_seq, 12);
    /* HEAD is the last checkpoint line */
    char p[256];
    lines ls, hd;
    file_path(dir, F1, p, sizeof p);
    load(p, &ls);
    file_path(dir, "HEAD", p, sizeof p);
    load(p, &hd);
    assert_int_equal(hd.n, 1);
    assert_string_equal(hd.l[0], ls.l[ls.n - 1]);
    assert_non_null(strstr(hd.l[0], "\"action\":\"checkpoint\""));
    drop(&ls);
    drop(&hd);
    rm_rf(dir);
}

/* Build 30 records (checkpoints after 10, 20, 30), apply one change, return verdict. */
typedef void (*tamper_fn)(const char *dir, lines *ls);

static cof_audit_report tampered(tamper_fn fn)
{
    char dir[64], p[512];
    mkdtemp_dir(dir, sizeof dir);
    build(dir, 30);
    assert_int_equal(verify(dir).problem, COF_AUDIT_OK);
    lines ls;
    file_path(dir, F1, p, sizeof p);
    load(p, &ls);
    assert_int_equal(ls.n, 33);
    fn(dir, &ls);
    store(p, &ls);
    drop(&ls);
    cof_audit_report rep = verify(dir);
    rm_rf(dir);
    return rep;
}

static void t_edit(const char *dir, lines *ls)
{
    char *q = strstr(ls->l[4], "\"events\":5");
    assert_non_null(q);
    q[9] = '7';
}
static void t_remove(const char *dir, lines *ls)
{
    free(ls->l[4]);
    memmove(&ls->l[4], &ls->l[5], (size_t)(ls->n - 5) * sizeof ls->l[0]);
    ls->n--;
}
static void t_swap(const char *dir, lines *ls)
{
    char *t = ls->l[4];
    ls->l[4] = ls->l[5];
    ls->l[5] = t;
}
static void t_truncate(const char *dir, lines *ls)
{
    while (ls->n > 25)
        free(ls->l[--ls->n]);
}
static void t_ckpt_sig(const char *dir, lines *ls)
{
    /* line 11 is the checkpoint after the 10th record; flip a signature digit and
     * recompute every hash from there, as a forger without the key would */
    char *q = strstr(ls->l[10], "\"sig\":\"");
    assert_non_null(q);
    q[7] = q[7] == '0' ? '1' : '0';
    rechain_from(ls, 10);
}
static void t_rechain_all(const char *dir, lines *ls)
{
    /* edit record 3 and recompute the whole chain: only signatures can tell */
    char *q = strstr(ls->l[2], "\"events\":3");
    assert_non_null(q);
    q[9] = '4';
    rechain_from(ls, 2);
}

static void test_tampering(void **state)
{
    (void)state;
    cof_audit_report r = tampered(t_edit);
    assert_int_equal(r.problem, COF_AUDIT_EDITED);
    assert_string_equal(r.file, F1);
    assert_int_equal(r.line, 5);
    assert_int_equal(r.seq, 5);

    r = tampered(t_remove);
    assert_int_equal(r.problem, COF_AUDIT_BROKEN);
    assert_int_equal(r.line, 5);
    assert_int_equal(r.seq, 6);

    r = tampered(t_swap);
    assert_int_equal(r.problem, COF_AUDIT_BROKEN);
    assert_int_equal(r.line, 5);
    assert_int_equal(r.seq, 6);

    r = tampered(t_truncate);
    assert_int_equal(r.problem, COF_AUDIT_TRUNCATED);
    assert_int_equal(r.seq, 33);
    assert_int_equal(r.line, 26);

    r = tampered(t_ckpt_sig);
    assert_int_equal(r.problem, COF_AUDIT_BADSIG);
    assert_int_equal(r.line, 11);
    assert_int_equal(r.seq, 11);

    /* the checkpoint still signs the old head, which is no longer in the chain */
    r = tampered(t_rechain_all);
    assert_int_equal(r.problem, COF_AUDIT_BROKEN);
    assert_int_equal(r.line, 11);
    assert_int_equal(r.seq, 11);
    /* the forger also points the checkpoint at the new chain: the signature fails */
    g_forge_head = 1;
    r = tampered(t_rechain_all);
    g_forge_head = 0;
    assert_int_equal(r.problem, COF_AUDIT_BADSIG);
    assert_int_equal(r.line, 11);
}

static void test_head_tampering(void **state)
{
    (void)state;
    char dir[64], p[512];
    mkdtemp_dir(dir, sizeof dir);
    build(dir, 12);
    lines hd;
    file_path(dir, "HEAD", p, sizeof p);
    load(p, &hd);
    char *orig = strdup(hd.l[0]);

    /* a flipped signature digit without re-hashing: the HEAD line is edited */
    char *q = strstr(hd.l[0], "\"sig\":\"");
    q[8] = q[8] == 'a' ? 'b' : 'a';
    store(p, &hd);
    cof_audit_report r = verify(dir);
    assert_int_equal(r.problem, COF_AUDIT_EDITED);
    assert_string_equal(r.file, "HEAD");

    /* the same with HEAD's own hash recomputed: the signature fails */
    uint8_t prev[32], h[32];
    cof_audit_parsed pp;
    assert_int_equal(cof_audit_parse_full(cof_str_make(hd.l[0], strlen(hd.l[0]) - 1), &pp), COF_OK);
    memcpy(prev, pp.prev, 32);
    rehash(&hd.l[0], prev, h);
    store(p, &hd);
    r = verify(dir);
    assert_int_equal(r.problem, COF_AUDIT_BADSIG);
    assert_string_equal(r.file, "HEAD");

    /* a validly signed HEAD that names a different record at the same seq:
     * sign with the real key a checkpoint whose hash differs from the file's */
    free(hd.l[0]);
    hd.l[0] = strdup(orig);
    q = strstr(hd.l[0], "\"time\":\"");
    q[8 + 3] = q[8 + 3] == '9' ? '8' : '9'; /* year digit */
    assert_int_equal(cof_audit_parse_full(cof_str_make(hd.l[0], strlen(hd.l[0]) - 1), &pp), COF_OK);
    rehash(&hd.l[0], pp.prev, h);
    store(p, &hd);
    r = verify(dir);
    assert_int_equal(r.problem, COF_AUDIT_EDITED);
    assert_string_equal(r.file, F1);
    assert_int_equal(r.seq, 14);
    assert_int_equal(r.line, 14);

    /* HEAD removed while checkpoints exist */
    assert_int_equal(unlink(p), 0);
    r = verify(dir);
    assert_int_equal(r.problem, COF_AUDIT_TRUNCATED);
    assert_string_equal(r.file, "HEAD");

    /* HEAD back: intact again; a wrong public key fails the first checkpoint */
    hd.n = 1;
    free(hd.l[0]);
    hd.l[0] = orig;
    store(p, &hd);
    assert_int_equal(verify(dir).problem, COF_AUDIT_OK);
    uint8_t other[32];
    memcpy(other, pk, 32);
    other[0] ^= 1;
    uint8_t other_seed[32];
    memset(other_seed, 9, 32);
    assert_int_equal(cof_audit_public_key(other_seed, other), COF_OK);
    assert_int_equal(cof_audit_verify(dir, other, &r), COF_OK);
    assert_int_equal(r.problem, COF_AUDIT_BADSIG);
    assert_int_equal(r.line, 11);
    drop(&hd);
    rm_rf(dir);
}

static void test_torn_tail(void **state)
{
    (void)state;
    char dir[64], p[512];
    mkdtemp_dir(dir, sizeof dir);
    build(dir, 4); /* 4 records + closing checkpoint */
    file_path(dir, F1, p, sizeof p);
    /* a crash mid-write: half a line */
    FILE *f = fopen(p, "a");
    fputs("{\"seq\":6,\"time\":\"2026-11-23T10:0", f);
    fclose(f);
    assert_int_equal(verify(dir).problem, COF_AUDIT_OK); /* a live tail is not damage */
    build(dir, 3);
    cof_audit_report r = verify(dir);
    assert_int_equal(r.problem, COF_AUDIT_OK);
    assert_int_equal(r.records, 7);
    assert_int_equal(r.last_seq, 9);

    /* a complete but unparsable last line (zeros from a crash) is cut too */
    f = fopen(p, "a");
    fwrite("\0\0\0\0\n", 1, 5, f);
    fclose(f);
    build(dir, 1);
    r = verify(dir);
    assert_int_equal(r.problem, COF_AUDIT_OK);
    assert_int_equal(r.records, 8);

    /* records that survived a crash without their checkpoint get one at open */
    lines ls;
    load(p, &ls);
    free(ls.l[--ls.n]); /* the closing checkpoint never made it (nor its HEAD) */
    store(p, &ls);
    head_from_last_ckpt(dir, &ls);
    drop(&ls);
    cof_audit *a;
    assert_int_equal(cof_audit_open(dir, seed, &a), COF_OK);
    cof_audit_close(a);
    r = verify(dir);
    assert_int_equal(r.problem, COF_AUDIT_OK);
    assert_int_equal(r.records, 8);

    /* an edited last record refuses to open */
    load(p, &ls);
    char *q = strstr(ls.l[ls.n - 2], "\"events\":1");
    q[9] = '2';
    store(p, &ls);
    drop(&ls);
    assert_int_equal(verify(dir).problem, COF_AUDIT_EDITED);
    load(p, &ls);
    free(ls.l[--ls.n]); /* now the edited record is the last line */
    store(p, &ls);
    head_from_last_ckpt(dir, &ls);
    drop(&ls);
    assert_int_equal(cof_audit_open(dir, seed, &a), COF_CORRUPT);
    rm_rf(dir);
}

static void test_truncated_refuses_open(void **state)
{
    (void)state;
    char dir[64], p[512];
    mkdtemp_dir(dir, sizeof dir);
    build(dir, 12);
    lines ls;
    file_path(dir, F1, p, sizeof p);
    load(p, &ls);
    while (ls.n > 8)
        free(ls.l[--ls.n]);
    store(p, &ls);
    drop(&ls);
    cof_audit *a;
    assert_int_equal(cof_audit_open(dir, seed, &a), COF_CORRUPT);
    rm_rf(dir);
}

static void test_write_failure(void **state)
{
    (void)state;
    char dir[64];
    mkdtemp_dir(dir, sizeof dir);
    cof_audit *a;
    assert_int_equal(cof_audit_open(dir, seed, &a), COF_OK);
    cof_audit_rec r = rec("alice", "trail", 1);
    uint64_t seq;
    assert_int_equal(cof_audit_append(a, &r, &seq), COF_OK);
    assert_int_equal(seq, 1);
    /* the disk fills up: every write to the descriptor now fails with ENOSPC */
    int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
    assert_true(full >= 0);
    int fd = cof_audit_test_fd(a);
    assert_true(fd >= 0);
    assert_true(dup2(full, fd) == fd);
    close(full);
    assert_int_equal(cof_audit_append(a, &r, &seq), COF_IO);
    assert_int_equal(cof_audit_failed(a), 1);
    assert_int_equal(cof_audit_append(a, &r, &seq), COF_IO);
    assert_int_equal(cof_audit_checkpoint(a), COF_IO);
    cof_audit_close(a);
    /* what was acknowledged is intact and a restart works again */
    assert_int_equal(cof_audit_open(dir, seed, &a), COF_OK);
    assert_int_equal(cof_audit_append(a, &r, &seq), COF_OK);
    assert_int_equal(seq, 3); /* 2 is the checkpoint open adds for the unsigned record 1 */
    cof_audit_close(a);
    cof_audit_report rep = verify(dir);
    assert_int_equal(rep.problem, COF_AUDIT_OK);
    assert_int_equal(rep.records, 2);
    rm_rf(dir);
}

static int count_files(const char *dir)
{
    char p[256];
    snprintf(p, sizeof p, "%s/audit", dir);
    DIR *d = opendir(p);
    assert_non_null(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strstr(de->d_name, ".log") != NULL;
    closedir(d);
    return n;
}

static void test_rotation(void **state)
{
    (void)state;
    char dir[64], p[512];
    mkdtemp_dir(dir, sizeof dir);
    cof_audit *a;
    for (int round = 0; round < 2; round++) {
        assert_int_equal(cof_audit_open(dir, seed, &a), COF_OK);
        cof_audit_test_file_bytes(a, 2000);
        for (int i = 0; i < 40; i++) {
            cof_audit_rec r = rec("alice", "trail", (uint64_t)i);
            assert_int_equal(cof_audit_append(a, &r, NULL), COF_OK);
        }
        cof_audit_close(a);
    }
    int nf = count_files(dir);
    assert_true(nf >= 10);
    cof_audit_report rep = verify(dir);
    assert_int_equal(rep.problem, COF_AUDIT_OK);
    assert_int_equal(rep.records, 80);
    /* removing a whole middle file breaks the chain at the next file's first line */
    snprintf(p, sizeof p, "%s/audit/0000000000000001.log", dir);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    DIR *d;
    char second[300] = "";
    snprintf(p, sizeof p, "%s/audit", dir);
    d = opendir(p);
    struct dirent *de;
    while ((de = readdir(d)))
        if (strstr(de->d_name, ".log") && strcmp(de->d_name, F1) != 0 &&
            (!second[0] || strcmp(de->d_name, second) < 0))
            snprintf(second, sizeof second, "%s", de->d_name);
    closedir(d);
    snprintf(p, sizeof p, "%s/audit/%s", dir, second);
    assert_int_equal(unlink(p), 0);
    rep = verify(dir);
    assert_int_equal(rep.problem, COF_AUDIT_BROKEN);
    assert_int_equal(rep.line, 1);
    assert_string_not_equal(rep.file, F1);
    rm_rf(dir);
}

static void test_blind(void **state)
{
    (void)state;
    uint8_t key[32];
    char a[35], b[35], c[35];
    memset(key, 7, sizeof key);
    assert_int_equal(cof_audit_blind(key, cof_str_c("A@Example.com"), a), COF_OK);
    assert_int_equal(cof_audit_blind(key, cof_str_c(" <a@example.com> "), b), COF_OK);
    assert_int_equal(cof_audit_blind(key, cof_str_c("b@example.com"), c), COF_OK);
    assert_int_equal(strlen(a), 34);
    assert_memory_equal(a, "b:", 2);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    key[0] ^= 1;
    assert_int_equal(cof_audit_blind(key, cof_str_c("a@example.com"), c), COF_OK);
    assert_string_not_equal(a, c);
}

static cof_status collect(void *ctx, const cof_audit_entry *e)
{
    int *n = ctx;
    (*n)++;
    return COF_OK;
}

static void test_record_limits_and_each(void **state)
{
    (void)state;
    char dir[64];
    mkdtemp_dir(dir, sizeof dir);
    cof_audit *a;
    assert_int_equal(cof_audit_open(dir, seed, &a), COF_OK);
    cof_audit_rec r = rec("alice", "trail", 1);
    r.params_json = "[1,2]";
    assert_int_equal(cof_audit_append(a, &r, NULL), COF_BADINPUT);
    r.params_json = "{\"a\":";
    assert_int_equal(cof_audit_append(a, &r, NULL), COF_BADINPUT);
    r.params_json = "{\"a\":\n1}";
    assert_int_equal(cof_audit_append(a, &r, NULL), COF_BADINPUT);
    r.params_json = NULL;
    r.action = "checkpoint";
    assert_int_equal(cof_audit_append(a, &r, NULL), COF_BADINPUT);
    /* hostile names: quotes, control characters, invalid UTF-8 */
    r = rec("ev\"il\n\x01\xff\xc3(", "trail", 2);
    assert_int_equal(cof_audit_append(a, &r, NULL), COF_OK);
    /* ids far over the line limit: cut at a range boundary and marked */
    size_t big = 3 * COF_AUDIT_MAX_LINE;
    char *ids = malloc(big + 1);
    size_t o = 0;
    while (o + 12 < big)
        o += (size_t)snprintf(ids + o, big + 1 - o, "%s7:%zu-9", o ? "," : "", o);
    r = rec("bob", "events", 3);
    r.ids = ids;
    char *params = malloc(COF_AUDIT_MAX_LINE);
    memset(params, 0, COF_AUDIT_MAX_LINE);
    snprintf(params, COF_AUDIT_MAX_LINE, "{\"x\":\"");
    memset(params + 6, 'y', COF_AUDIT_MAX_LINE - 10);
    memcpy(params + COF_AUDIT_MAX_LINE - 4, "\"}", 3);
    r.params_json = params;
    uint64_t seq;
    assert_int_equal(cof_audit_append(a, &r, &seq), COF_OK);
    r = rec("bob", "events", 4);
    r.ids = ids;
    assert_int_equal(cof_audit_append(a, &r, &seq), COF_OK);
    cof_audit_close(a);
    free(ids);
    free(params);
    assert_int_equal(verify(dir).problem, COF_AUDIT_OK);
    lines ls;
    char p[256];
    file_path(dir, F1, p, sizeof p);
    load(p, &ls);
    assert_int_equal(ls.n, 4);
    for (int i = 1; i < 3; i++) {
        size_t n = strlen(ls.l[i]);
        assert_true(n <= COF_AUDIT_MAX_LINE);
        assert_non_null(strstr(ls.l[i], ",\"cut\":true,"));
        assert_non_null(strstr(ls.l[i], "\"ids\":\"7:0-9,"));
        assert_non_null(strstr(ls.l[i], "-9\",\"cut\""));
    }
    assert_non_null(strstr(ls.l[1], "\"params\":{}"));
    assert_non_null(strstr(ls.l[0], "\"principal\":\"ev\\\"il\\u000a\\u0001\xef\xbf\xbd\xef\xbf\xbd(\""));
    drop(&ls);
    int n = 0;
    cof_audit_filter f = { 0 };
    f.principal = "bob";
    assert_int_equal(cof_audit_each(dir, &f, collect, &n), COF_OK);
    assert_int_equal(n, 2);
    n = 0;
    f.principal = "ev\"il\n\x01\xff\xc3(";
    assert_int_equal(cof_audit_each(dir, &f, collect, &n), COF_OK);
    assert_int_equal(n, 1);
    n = 0;
    memset(&f, 0, sizeof f);
    f.include_checkpoints = 1;
    assert_int_equal(cof_audit_each(dir, &f, collect, &n), COF_OK);
    assert_int_equal(n, 4);
    n = 0;
    f.action = "events";
    f.since = cof_time_now_us() + 3600000000LL;
    assert_int_equal(cof_audit_each(dir, &f, collect, &n), COF_OK);
    assert_int_equal(n, 0);
    rm_rf(dir);
}

static void test_timer_checkpoint(void **state)
{
    (void)state;
    char dir[64], p[512];
    mkdtemp_dir(dir, sizeof dir);
    cof_audit *a;
    assert_int_equal(cof_audit_open(dir, seed, &a), COF_OK);
    cof_audit_rec r = rec("alice", "whoami", 0);
    assert_int_equal(cof_audit_append(a, &r, NULL), COF_OK);
    /* liveness, not speed: the timer signs within ~1 s; allow a minute */
    snprintf(p, sizeof p, "%s/audit/HEAD", dir);
    int found = 0;
    for (int i = 0; i < 600 && !found; i++) {
        found = access(p, F_OK) == 0;
        if (!found)
            usleep(100000);
    }
    assert_true(found);
    cof_audit_report rep = verify(dir);
    assert_int_equal(rep.problem, COF_AUDIT_OK);
    assert_int_equal(rep.checkpoints, 1);
    cof_audit_close(a);
    rm_rf(dir);
}

/* ---- several processes on one trail ---- */

#define MP_RECORDS 2000

typedef struct {
    cof_audit *a;
    const char *principal;
    int n, bad;
} mp_thread;

static void *mp_append(void *arg)
{
    mp_thread *t = arg;
    for (int i = 0; i < t->n; i++) {
        cof_audit_rec r = rec(t->principal, "events", (uint64_t)i);
        if (cof_audit_append(t->a, &r, NULL) != COF_OK)
            t->bad++;
    }
    return NULL;
}

/* One child process: its own writer, two threads (so group commit and the flock
 * interleave), MP_RECORDS records in all. Exit status 0 only if every append was OK. */
static int mp_child(const char *dir, const char *principal, uint64_t rotate)
{
    cof_audit *a;
    if (cof_audit_open(dir, seed, &a) != COF_OK)
        return 3;
    if (rotate)
        cof_audit_test_file_bytes(a, rotate);
    mp_thread t[2] = { { a, principal, MP_RECORDS / 2, 0 }, { a, principal, MP_RECORDS / 2, 0 } };
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&th[i], NULL, mp_append, &t[i]) != 0)
            return 4;
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    int failed = cof_audit_failed(a);
    cof_audit_close(a);
    return t[0].bad || t[1].bad || failed ? 5 : 0;
}

typedef struct {
    uint64_t next, records, ckpts, since_ckpt, max_unsigned;
    uint64_t per[2];
    int order_ok;
} mp_walk;

static cof_status mp_visit(void *ctx, const cof_audit_entry *e)
{
    mp_walk *w = ctx;
    if (e->seq != w->next)
        w->order_ok = 0;
    w->next = e->seq + 1;
    if (cof_str_eq(e->action, cof_str_c("checkpoint"))) {
        w->ckpts++;
        w->since_ckpt = 0;
        return COF_OK;
    }
    w->records++;
    if (++w->since_ckpt > w->max_unsigned)
        w->max_unsigned = w->since_ckpt;
    if (cof_str_eq(e->principal, cof_str_c("proc0")))
        w->per[0]++;
    else if (cof_str_eq(e->principal, cof_str_c("proc1")))
        w->per[1]++;
    return COF_OK;
}

static void run_two_processes(uint64_t rotate)
{
    char dir[64];
    mkdtemp_dir(dir, sizeof dir);
    pid_t pid[2];
    for (int i = 0; i < 2; i++) {
        pid[i] = fork();
        assert_true(pid[i] >= 0);
        if (pid[i] == 0)
            _exit(mp_child(dir, i ? "proc1" : "proc0", rotate));
    }
    for (int i = 0; i < 2; i++) {
        int status = 0;
        assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
    }
    cof_audit_report rep = verify(dir);
    assert_int_equal(rep.problem, COF_AUDIT_OK);
    assert_int_equal(rep.records, 2 * MP_RECORDS);
    assert_true(rep.checkpoints >= 4); /* every 1,000 records, and each close */
    assert_int_equal(rep.last_seq, rep.records + rep.checkpoints);
    /* seq runs 1..last without a gap, both processes' records are all there, and no
     * stretch of more than 1,000 records is left unsigned */
    mp_walk w = { .next = 1, .order_ok = 1 };
    cof_audit_filter f = { .include_checkpoints = 1 };
    assert_int_equal(cof_audit_each(dir, &f, mp_visit, &w), COF_OK);
    assert_true(w.order_ok);
    assert_int_equal(w.next - 1, rep.last_seq);
    assert_int_equal(w.per[0], MP_RECORDS);
    assert_int_equal(w.per[1], MP_RECORDS);
    assert_true(w.max_unsigned <= COF_AUDIT_CHECKPOINT_EVERY);
    if (rotate)
        assert_true(count_files(dir) >= 10);
    /* a third writer continues the chain the two left */
    cof_audit *a;
    uint64_t seq = 0;
    assert_int_equal(cof_audit_open(dir, seed, &a), COF_OK);
    cof_audit_rec r = rec("alice", "trail", 1);
    assert_int_equal(cof_audit_append(a, &r, &seq), COF_OK);
    assert_int_equal(seq, rep.last_seq + 1);
    cof_audit_close(a);
    rep = verify(dir);
    assert_int_equal(rep.problem, COF_AUDIT_OK);
    /* the lock file is private */
    struct stat sb;
    char p[256];
    snprintf(p, sizeof p, "%s/audit/LOCK", dir);
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    rm_rf(dir);
}

static void test_two_processes(void **state)
{
    (void)state;
    run_two_processes(0);
}

/* Both processes rotate every ~50 KB, so each often finds a file the other started. */
static void test_two_processes_rotating(void **state)
{
    (void)state;
    run_two_processes(50000);
}

/* A writer that died mid-line holding the lock: the next appender in another live
 * writer cuts the torn line off and continues. */
static void test_torn_by_other_writer(void **state)
{
    (void)state;
    char dir[64], p[512];
    mkdtemp_dir(dir, sizeof dir);
    cof_audit *a;
    assert_int_equal(cof_audit_open(dir, seed, &a), COF_OK);
    cof_audit_rec r = rec("alice", "trail", 1);
    uint64_t seq;
    assert_int_equal(cof_audit_append(a, &r, &seq), COF_OK);
    file_path(dir, F1, p, sizeof p);
    int fd = open(p, O_WRONLY | O_APPEND | O_CLOEXEC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "{\"seq\":2,\"time\":\"20", 19), 19);
    close(fd);
    assert_int_equal(cof_audit_append(a, &r, &seq), COF_OK);
    assert_int_equal(seq, 2);
    cof_audit_close(a);
    cof_audit_report rep = verify(dir);
    assert_int_equal(rep.problem, COF_AUDIT_OK);
    assert_int_equal(rep.records, 2);
    rm_rf(dir);
}

int main(void)
{
    assert_int_equal(cof_seal_init(), COF_OK);
    randombytes_buf(seed, sizeof seed);
    assert_int_equal(cof_audit_public_key(seed, pk), COF_OK);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concurrent_appends),
        cmocka_unit_test(test_reopen_continues),
        cmocka_unit_test(test_tampering),
        cmocka_unit_test(test_head_tampering),
        cmocka_unit_test(test_torn_tail),
        cmocka_unit_test(test_truncated_refuses_open),
        cmocka_unit_test(test_write_failure),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_blind),
        cmocka_unit_test(test_record_limits_and_each),
        cmocka_unit_test(test_timer_checkpoint),
        cmocka_unit_test(test_two_processes),
        cmocka_unit_test(test_two_processes_rotating),
        cmocka_unit_test(test_torn_by_other_writer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
