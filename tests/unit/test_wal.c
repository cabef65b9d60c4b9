/* test_wal.c - WAL append, replay, torn-tail recovery and authentication. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "seal.h"
#include "bounds.h"
#include "wal.h"

typedef struct {
    int n;
    size_t sizes[64];
    uint8_t first[64];
} seen;

static cof_status on_frame(void *ctx, uint64_t seq, const uint8_t *p, size_t n)
{
    seen *s = ctx;
    s->sizes[s->n] = n;
    s->first[s->n] = n ? p[0] : 0;
    s->n++;
    return COF_OK;
}

static void mkdtemp_dir(char *dir)
{
    strcpy(dir, "/tmp/cof-wal-XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void wal_file(const char *dir, uint64_t seq, char *out, size_t cap)
{
    snprintf(out, cap, "%s/wal/%016llx.wal", dir, (unsigned long long)seq);
}

static void test_roundtrip_and_torn_tail(void **state)
{
    (void)state;
    char dir[64];
    mkdtemp_dir(dir);
    uint8_t key[32];
    memset(key, 3, sizeof key);
    cof_wal *w;
    assert_int_equal(cof_wal_open(dir, key, COF_FSYNC_ALWAYS, 0, NULL, NULL, &w), COF_OK);
    uint8_t buf[1000];
    for (int i = 0; i < 5; i++) {
        memset(buf, 'a' + i, sizeof buf);
        assert_int_equal(cof_wal_append(w, buf, 100 + (size_t)i), COF_OK);
    }
    cof_wal_close(w);
    /* cut the last frame in half: it was never acknowledged after a crash */
    char path[256];
    wal_file(dir, 1, path, sizeof path);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(truncate(path, sb.st_size - 50), 0);
    seen s = { 0 };
    assert_int_equal(cof_wal_open(dir, key, COF_FSYNC_ALWAYS, 0, on_frame, &s, &w), COF_OK);
    assert_int_equal(s.n, 4);
    for (int i = 0; i < 4; i++) {
        assert_int_equal(s.sizes[i], 100 + (size_t)i);
        assert_int_equal(s.first[i], 'a' + i);
    }
    assert_true(cof_wal_torn_bytes(w) > 0);
    /* appends after recovery go to a new file and replay after the old ones */
    memset(buf, 'z', sizeof buf);
    assert_int_equal(cof_wal_append(w, buf, 10), COF_OK);
    cof_wal_close(w);
    memset(&s, 0, sizeof s);
    cof_status rst = cof_wal_replay(dir, key, 0, on_frame, &s);
    if (rst)
        fprintf(stderr, "replay: %s\n", cof_err_msg());
    assert_int_equal(rst, COF_OK);
    assert_int_equal(s.n, 5);
    assert_int_equal(s.first[4], 'z');
    /* applied files are skipped */
    memset(&s, 0, sizeof s);
    assert_int_equal(cof_wal_replay(dir, key, 1, on_frame, &s), COF_OK);
    assert_int_equal(s.n, 1);
    /* the wrong key opens nothing and is reported, never replayed as garbage */
    uint8_t other[32];
    memset(other, 4, sizeof other);
    memset(&s, 0, sizeof s);
    assert_int_equal(cof_wal_replay(dir, other, 0, on_frame, &s), COF_CORRUPT);
    assert_int_equal(s.n, 0);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_damage_in_older_file_is_an_error(void **state)
{
    (void)state;
    char dir[64];
    mkdtemp_dir(dir);
    uint8_t key[32];
    memset(key, 5, sizeof key);
    cof_wal *w;
    uint8_t buf[200];
    memset(buf, 'q', sizeof buf);
    assert_int_equal(cof_wal_open(dir, key, COF_FSYNC_NEVER, 0, NULL, NULL, &w), COF_OK);
    assert_int_equal(cof_wal_append(w, buf, sizeof buf), COF_OK);
    assert_int_equal(cof_wal_append(w, buf, sizeof buf), COF_OK);
    uint64_t closed;
    assert_int_equal(cof_wal_rotate(w, &closed), COF_OK);
    assert_int_equal(closed, 1);
    assert_int_equal(cof_wal_append(w, buf, sizeof buf), COF_OK);
    cof_wal_close(w);
    /* flip a byte inside the first frame of the older file */
    char path[256];
    wal_file(dir, 1, path, sizeof path);
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, 40, SEEK_SET);
    int c = fgetc(f);
    fseek(f, 40, SEEK_SET);
    fputc(c ^ 1, f);
    fclose(f);
    seen s = { 0 };
    assert_int_equal(cof_wal_replay(dir, key, 0, on_frame, &s), COF_CORRUPT);
    assert_non_null(strstr(cof_err_msg(), path));
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_oversized_frame(void **state)
{
    (void)state;
    char dir[64];
    mkdtemp_dir(dir);
    uint8_t key[32] = { 0 };
    cof_wal *w;
    assert_int_equal(cof_wal_open(dir, key, COF_FSYNC_NEVER, 0, NULL, NULL, &w), COF_OK);
    uint8_t *big = calloc(1, COF_MAX_WAL_FRAME + 1);
    assert_non_null(big);
    assert_int_equal(cof_wal_append(w, big, COF_MAX_WAL_FRAME + 1), COF_LIMIT);
    free(big);
    cof_wal_close(w);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    assert_int_equal(cof_seal_init(), COF_OK);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_and_torn_tail),
        cmocka_unit_test(test_damage_in_older_file_is_an_error),
        cmocka_unit_test(test_oversized_frame),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
