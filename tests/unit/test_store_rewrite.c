/* test_store_rewrite.c - the store's maintenance calls: drop a tenant-day, rewrite a
 * segment without some rows (the others answer byte-equal), the MANIFEST swap after a
 * crash on either side of it, and flush refusing records of a shredded day. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "ingest.h"
#include "output.h"
#include "query.h"
#include "retention.h"
#include "seal.h"
#include "store.h"

#define DAY 20000u
#define DAY_US 86400000000LL

#define OK(x)                                                                              \
    do {                                                                                   \
        cof_status st_ = (x);                                                              \
        if (st_)                                                                           \
            fail_msg("%s -> %d: %s (%s)", #x, st_, cof_err_msg(), cof_err_where());       \
    } while (0)

static char root[64];
static cof_config cfg;

static void sh(const char *fmt, ...) COF_PRINTF(1, 2);
static void sh(const char *fmt, ...)
{
    char cmd[16384];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

static int setup(void **state)
{
    (void)state;
    snprintf(root, sizeof root, "/tmp/cof-rewrite-XXXXXX");
    assert_non_null(mkdtemp(root));
    OK(cof_config_init(&cfg));
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s/data", root);
    snprintf(cfg.key_file, sizeof cfg.key_file, "%s/keys/master.key", root);
    cfg.fsync = COF_FSYNC_NEVER; /* durability is not what these tests look at */
    OK(cof_fs_mkdir_p(cfg.data_dir, 0700));
    OK(cof_master_create(cfg.key_file, cfg.data_dir));
    OK(cof_store_create(&cfg));
    OK(cof_keyring_create(cfg.data_dir, cfg.key_file));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    sh("rm -rf %s", root);
    cof_config_free(&cfg);
    return 0;
}

/* Add n events of tenant on day, recipient "r<i % nrcpt>@<tenant>.example". */
static void add_events(cof_store *s, const char *tenant, uint32_t day, int n, int nrcpt,
                       int first)
{
    cof_event_sink k;
    cof_event_sink_init(&k, s);
    for (int i = first; i < first + n; i++) {
        char rcpt[64], qid[32], size[16];
        cof_event ev;
        cof_event_init(&ev);
        ev.time_us = (int64_t)day * DAY_US + (int64_t)i * 1000000;
        ev.status = COF_ST_SENT;
        ev.size = (uint64_t)(1000 + i);
        snprintf(rcpt, sizeof rcpt, "r%d@%s.example", i % nrcpt, tenant);
        snprintf(qid, sizeof qid, "Q%d", i);
        snprintf(size, sizeof size, "%d", i);
        ev.f[COF_F_RECIPIENT] = cof_str_c(rcpt);
        ev.f[COF_F_SENDER] = cof_str_c("sender@example.org");
        ev.f[COF_F_QUEUE_ID] = cof_str_c(qid);
        ev.f[COF_F_HOST] = cof_str_c("mx1");
        OK(cof_event_sink_add(&k, &ev, tenant));
    }
    OK(cof_store_commit(s));
}

static cof_store *open_w(void)
{
    cof_store *s;
    OK(cof_store_open(&cfg, COF_STORE_WRITE, &s));
    return s;
}

/* The JSON of every event of a trail, concatenated (seg ids and rows are not in it). */
static char *trail_json(cof_store *s, const char *tenant, const char *rcpt, size_t *n)
{
    cof_trail_query q;
    memset(&q, 0, sizeof q);
    q.field = COF_F_RECIPIENT;
    q.value = cof_str_c(rcpt);
    q.since = INT64_MIN;
    q.until = INT64_MAX;
    q.tenant = tenant;
    q.unseal = 1;
    cof_trail t;
    OK(cof_query_trail(s, &q, &t));
    cof_buf b;
    cof_buf_init(&b, 1u << 26);
    for (size_t i = 0; i < t.n; i++)
        OK(cof_output_event_jsonbuf(&t.ev[i].r, 0, &b));
    OK(cof_buf_add(&b, "", 1));
    *n = t.n;
    cof_trail_free(&t);
    return (char *)b.p;
}

static size_t count_files(const char *sub)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/%s", cfg.data_dir, sub);
    DIR *d = opendir(p);
    assert_non_null(d);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static uint64_t rows_of(cof_store *s, const char *tenant, uint32_t day)
{
    cof_seg_info *segs;
    size_t n;
    uint64_t rows = 0;
    OK(cof_store_segments(s, &segs, &n));
    for (size_t i = 0; i < n; i++)
        if (!strcmp(segs[i].tenant, tenant) && (day == UINT32_MAX || segs[i].day == day))
            rows += segs[i].nrows;
    free(segs);
    return rows;
}

static void test_drop_day(void **state)
{
    (void)state;
    cof_store *s = open_w();
    add_events(s, "a", DAY, 50, 5, 0);
    add_events(s, "a", DAY + 1, 40, 5, 100);
    add_events(s, "b", DAY, 30, 5, 200);
    OK(cof_store_flush(s));
    add_events(s, "a", DAY, 7, 5, 300); /* still in the memtable when the drop starts */
    uint64_t rows = 0;
    uint32_t segs = 0;
    OK(cof_store_drop_day(s, "a", DAY, &rows, &segs));
    assert_int_equal(rows, 57);
    assert_int_equal(segs, 2);
    assert_int_equal(rows_of(s, "a", DAY), 0);
    assert_int_equal(rows_of(s, "a", DAY + 1), 40);
    assert_int_equal(rows_of(s, "b", DAY), 30);
    size_t n;
    char *j = trail_json(s, "a", "r1@a.example", &n);
    assert_int_equal(n, 8); /* day DAY+1 only */
    free(j);
    j = trail_json(s, "b", "r1@b.example", &n);
    assert_int_equal(n, 6);
    free(j);
    OK(cof_store_drop_day(s, "a", DAY, &rows, &segs)); /* again: nothing left */
    assert_int_equal(rows, 0);
    assert_int_equal(segs, 0);
    OK(cof_store_close(s));
    assert_int_equal(count_files("seg"), 2);
    s = open_w(); /* the MANIFEST on disk says the same */
    assert_int_equal(rows_of(s, "a", DAY), 0);
    assert_int_equal(rows_of(s, "a", DAY + 1), 40);
    cof_store *ro;
    OK(cof_store_open(&cfg, 0, &ro));
    assert_int_equal(cof_store_drop_day(ro, "a", DAY + 1, NULL, NULL), COF_DENIED);
    cof_store_abandon(ro);
    OK(cof_store_close(s));
}

/* Row ids of rcpt's events in the (only) segment of tenant. */
static size_t rows_for(cof_store *s, const char *tenant, const char *rcpt, uint64_t *seg,
                       uint32_t *rows, size_t cap)
{
    cof_trail_query q;
    memset(&q, 0, sizeof q);
    q.field = COF_F_RECIPIENT;
    q.value = cof_str_c(rcpt);
    q.since = INT64_MIN;
    q.until = INT64_MAX;
    q.tenant = tenant;
    cof_trail t;
    OK(cof_query_trail(s, &q, &t));
    assert_true(t.n <= cap);
    for (size_t i = 0; i < t.n; i++) {
        *seg = t.ev[i].seg_id;
        rows[i] = t.ev[i].row;
    }
    size_t n = t.n;
    cof_trail_free(&t);
    /* ascending for the rewrite */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && rows[j - 1] > rows[j]; j--) {
            uint32_t x = rows[j];
            rows[j] = rows[j - 1];
            rows[j - 1] = x;
        }
    return n;
}

#define NRCPT 37
#define NEV 20000 /* more than two 8,192-row blocks */

static void snapshot(cof_store *s, char **out)
{
    for (int r = 0; r < NRCPT; r++) {
        char rc[64];
        size_t n;
        snprintf(rc, sizeof rc, "r%d@a.example", r);
        out[r] = trail_json(s, "a", rc, &n);
    }
}

static void test_rewrite_keeps_others(void **state)
{
    (void)state;
    cof_store *s = open_w();
    add_events(s, "a", DAY, NEV, NRCPT, 0);
    OK(cof_store_flush(s));
    char *before[NRCPT], *after[NRCPT];
    snapshot(s, before);
    cof_store_hold_merges(s);
    uint64_t seg = 0, new_id = 0;
    uint32_t *rows = calloc(NEV, sizeof *rows);
    assert_non_null(rows);
    size_t n = rows_for(s, "a", "r5@a.example", &seg, rows, NEV);
    assert_true(n > 500);
    /* bad calls change nothing */
    uint32_t bad[2] = { 3, 3 };
    assert_int_equal(cof_store_rewrite_segment(s, seg, bad, 2, &new_id), COF_BADINPUT);
    bad[0] = NEV;
    assert_int_equal(cof_store_rewrite_segment(s, seg, bad, 1, &new_id), COF_BADINPUT);
    assert_int_equal(cof_store_rewrite_segment(s, 999999, rows, n, &new_id), COF_NOTFOUND);
    OK(cof_store_rewrite_segment(s, seg, rows, n, &new_id));
    assert_true(new_id > seg);
    assert_int_equal(rows_of(s, "a", DAY), NEV - n);
    cof_store_release_merges(s);
    snapshot(s, after);
    for (int r = 0; r < NRCPT; r++) {
        if (r == 5)
            assert_string_equal(after[r], "");
        else
            assert_string_equal(before[r], after[r]);
        free(before[r]);
        free(after[r]);
    }
    /* a segment losing every row just goes */
    OK(cof_store_close(s));
    s = open_w();
    add_events(s, "c", DAY, 10, 1, 0);
    OK(cof_store_flush(s));
    n = rows_for(s, "c", "r0@c.example", &seg, rows, NEV);
    assert_int_equal(n, 10);
    OK(cof_store_rewrite_segment(s, seg, rows, n, &new_id));
    assert_int_equal(new_id, 0);
    assert_int_equal(rows_of(s, "c", UINT32_MAX), 0);
    OK(cof_store_close(s));
    assert_int_equal(count_files("seg"), 1);
    free(rows);
}

/* A crash on either side of the MANIFEST swap: the store opens to exactly the state
 * before or after, and the files the MANIFEST does not name are removed. */
static void test_swap_crash(void **state)
{
    (void)state;
    cof_store *s = open_w();
    add_events(s, "a", DAY, 3000, 11, 0);
    add_events(s, "a", DAY + 1, 3000, 11, 5000);
    OK(cof_store_close(s));
    sh("cp -a %s %s/A", cfg.data_dir, root); /* before */
    s = open_w();
    char *before[NRCPT];
    for (int r = 0; r < 11; r++) {
        char rc[64];
        size_t n;
        snprintf(rc, sizeof rc, "r%d@a.example", r);
        before[r] = trail_json(s, "a", rc, &n);
    }
    cof_store_hold_merges(s);
    cof_seg_info *segs;
    size_t nsegs;
    OK(cof_store_segments(s, &segs, &nsegs));
    assert_int_equal(nsegs, 2);
    uint32_t drop[3] = { 0, 17, 2999 };
    uint64_t new_id;
    OK(cof_store_rewrite_segment(s, segs[0].seg_id, drop, 3, &new_id));
    cof_store_release_merges(s);
    free(segs);
    OK(cof_store_close(s));
    sh("cp -a %s %s/B", cfg.data_dir, root); /* after */
    /* crash after the new segment was written, before the MANIFEST named it */
    sh("rm -rf %s && cp -a %s/A %s && cp %s/B/seg/* %s/seg/", cfg.data_dir, root, cfg.data_dir,
       root, cfg.data_dir);
    assert_int_equal(count_files("seg"), 3);
    s = open_w();
    assert_int_equal(count_files("seg"), 2); /* the unnamed new segment is gone */
    assert_int_equal(rows_of(s, "a", UINT32_MAX), 6000);
    for (int r = 0; r < 11; r++) {
        char rc[64];
        size_t n;
        snprintf(rc, sizeof rc, "r%d@a.example", r);
        char *j = trail_json(s, "a", rc, &n);
        assert_string_equal(before[r], j);
        free(j);
    }
    OK(cof_store_close(s));
    /* crash after the MANIFEST swap, before the old file was deleted */
    sh("rm -rf %s && cp -a %s/B %s && cp %s/A/seg/* %s/seg/", cfg.data_dir, root, cfg.data_dir,
       root, cfg.data_dir);
    assert_int_equal(count_files("seg"), 3);
    s = open_w();
    assert_int_equal(count_files("seg"), 2); /* the old segment is gone */
    assert_int_equal(rows_of(s, "a", UINT32_MAX), 5997);
    size_t total = 0;
    for (int r = 0; r < 11; r++) {
        char rc[64];
        size_t n;
        snprintf(rc, sizeof rc, "r%d@a.example", r);
        char *j = trail_json(s, "a", rc, &n);
        total += n;
        free(j);
        free(before[r]);
    }
    assert_int_equal(total, 5997);
    OK(cof_store_close(s));
}

static void test_flush_refuses_shredded(void **state)
{
    (void)state;
    cof_store *s = open_w();
    add_events(s, "a", DAY, 10, 2, 0);
    OK(cof_store_flush(s));
    OK(cof_store_drop_day(s, "a", DAY, NULL, NULL));
    OK(cof_keyring_destroy_data_key(cof_store_keyring(s), "a", DAY));
    /* The sink refuses and counts. */
    cof_event_sink k;
    cof_event_sink_init(&k, s);
    cof_event ev;
    cof_event_init(&ev);
    ev.time_us = (int64_t)DAY * DAY_US + 5;
    ev.status = COF_ST_SENT;
    ev.f[COF_F_RECIPIENT] = cof_str_c("late@a.example");
    OK(cof_event_sink_add(&k, &ev, "a"));
    assert_int_equal(k.shredded, 1);
    assert_int_equal(cof_store_pending(s), 0);
    /* A record that reached the memtable anyway (retention raced the sink): flush
     * refuses it instead of failing, and the other day's records are stored. */
    cof_store_abandon(s);
    s = open_w();
    add_events(s, "a", DAY + 2, 4, 2, 0);
    cof_record r;
    cof_record_init(&r);
    r.time_us = (int64_t)DAY * DAY_US + 7;
    r.clear[COF_F_TENANT] = cof_str_c("a");
    OK(cof_store_add(s, &r));
    OK(cof_store_commit(s));
    OK(cof_store_flush(s));
    assert_int_equal(cof_store_refused_shredded(s), 1);
    assert_int_equal(rows_of(s, "a", DAY), 0);
    assert_int_equal(rows_of(s, "a", DAY + 2), 4);
    OK(cof_store_close(s));
    /* and nothing of it is left in the WAL to wedge the next open */
    s = open_w();
    assert_int_equal(rows_of(s, "a", DAY), 0);
    OK(cof_store_close(s));
}

/* A run that crashed after destroying keys left the marker: the next run rotates the
 * master key although nothing is due any more, and clears the marker. */
static void test_retention_resumes_rotation(void **state)
{
    (void)state;
    cof_store *s = open_w();
    add_events(s, "a", DAY, 5, 1, 0);
    OK(cof_store_close(s));
    uint8_t *before, *after;
    size_t n1, n2;
    OK(cof_fs_read_file(cfg.key_file, 64, &before, &n1));
    cof_retention_report rep;
    OK(cof_store_open(&cfg, 0, &s)); /* read-only: refused */
    assert_int_equal(cof_retention_run(s, NULL, (int64_t)(DAY + 100) * DAY_US, &rep), COF_DENIED);
    cof_retention_report_free(&rep);
    cof_store_abandon(s);
    s = open_w();
    OK(cof_retention_run(s, NULL, (int64_t)(DAY + 100) * DAY_US, &rep)); /* keep forever */
    assert_int_equal(rep.rotated, 0);
    assert_int_equal(rep.n, 1);
    assert_int_equal(rep.t[0].days_held, 1);
    assert_int_equal(rep.t[0].days_due, 0);
    cof_retention_report_free(&rep);
    sh("echo owed > %s/%s", cfg.data_dir, COF_RETENTION_PENDING);
    OK(cof_retention_run(s, NULL, (int64_t)(DAY + 100) * DAY_US, &rep));
    assert_int_equal(rep.days_shredded, 0);
    assert_int_equal(rep.rotated, 1);
    assert_int_equal(rep.rotation_resumed, 1);
    cof_retention_report_free(&rep);
    OK(cof_store_close(s));
    char marker[4200];
    snprintf(marker, sizeof marker, "%s/%s", cfg.data_dir, COF_RETENTION_PENDING);
    assert_int_equal(access(marker, F_OK), -1);
    OK(cof_fs_read_file(cfg.key_file, 64, &after, &n2));
    assert_int_equal(n1, 32);
    assert_int_equal(n2, 32);
    assert_memory_not_equal(before, after, 32);
    free(before);
    free(after);
    s = open_w(); /* the store opens with the rotated key, the data is still there */
    assert_int_equal(rows_of(s, "a", DAY), 5);
    OK(cof_store_close(s));
}

int main(void)
{
    OK(cof_seal_init());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_drop_day, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rewrite_keeps_others, setup, teardown),
        cmocka_unit_test_setup_teardown(test_swap_crash, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flush_refuses_shredded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention_resumes_rotation, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
