/* test_keyring.c - master key file checks, keyring round trips, hostile keyring files,
 * crypto-shredding and master key rotation. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "fsutil.h"
#include "keyring.h"

typedef struct {
    char root[64];
    char data[128];
    char key[128];
} fx;

static void run(const char *cmd)
{
    int rc = system(cmd);
    assert_int_equal(rc, 0);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    snprintf(f->root, sizeof f->root, "/tmp/cof-kr-XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    snprintf(f->data, sizeof f->data, "%s/data", f->root);
    snprintf(f->key, sizeof f->key, "%s/etc/master.key", f->root);
    if (mkdir(f->data, 0700) != 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->root);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static void init_store(fx *f)
{
    assert_int_equal(cof_master_create(f->key, f->data), COF_OK);
    assert_int_equal(cof_keyring_create(f->data, f->key), COF_OK);
}

static cof_keyring *open_ok(fx *f)
{
    cof_keyring *k = NULL;
    cof_status st = cof_keyring_open(f->data, f->key, &k);
    if (st)
        fprintf(stderr, "open: %s\n", cof_err_msg());
    assert_int_equal(st, COF_OK);
    assert_non_null(k);
    return k;
}

static void read_whole(const char *path, uint8_t **buf, size_t *n)
{
    assert_int_equal(cof_fs_read_file(path, 1 << 26, buf, n), COF_OK);
}

static void write_whole(const char *path, const void *buf, size_t n, mode_t mode)
{
    assert_int_equal(cof_fs_replace(path, buf, n, mode), COF_OK);
}

static int contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
    return memmem(hay, n, needle, m) != NULL;
}

static void test_round_trip(void **state)
{
    fx *f = *state;
    struct stat sb;
    const uint8_t *wal = NULL;
    init_store(f);
    assert_int_equal(stat(f->key, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal(sb.st_size, COF_KEY_LEN);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/etc", f->root);
    assert_int_equal(stat(dir, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0700);
    char kr[512];
    snprintf(kr, sizeof kr, "%s/keyring", f->data);
    assert_int_equal(stat(kr, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);

    cof_keyring *k = open_ok(f);
    assert_int_equal(cof_keyring_wal_key(k, &wal), COF_OK);
    assert_non_null(wal);
    cof_keyring_close(k);

    assert_int_equal(cof_master_create(f->key, NULL), COF_EXISTS);
    assert_int_equal(cof_keyring_create(f->data, f->key), COF_EXISTS);
}

static void test_persistence(void **state)
{
    fx *f = *state;
    uint8_t wal[32], blind[32], data[32];
    const uint8_t *p;
    init_store(f);
    cof_keyring *k = open_ok(f);
    assert_int_equal(cof_keyring_wal_key(k, &p), COF_OK);
    memcpy(wal, p, 32);
    assert_int_equal(cof_keyring_blind_key(k, "acme", &p), COF_OK);
    memcpy(blind, p, 32);
    assert_int_equal(cof_keyring_data_key(k, "acme", 20000, 1, &p), COF_OK);
    memcpy(data, p, 32);
    /* Same key on the second call. */
    const uint8_t *q;
    assert_int_equal(cof_keyring_data_key(k, "acme", 20000, 1, &q), COF_OK);
    assert_ptr_equal(p, q);
    cof_keyring_close(k); /* no explicit save: creation persisted itself */

    k = open_ok(f);
    assert_int_equal(cof_keyring_wal_key(k, &p), COF_OK);
    assert_memory_equal(p, wal, 32);
    assert_int_equal(cof_keyring_data_key(k, "acme", 20000, 0, &p), COF_OK);
    assert_memory_equal(p, data, 32);
    assert_int_equal(cof_keyring_blind_key(k, "acme", &p), COF_OK);
    assert_memory_equal(p, blind, 32);
    assert_int_equal(cof_keyring_data_key(k, "acme", 20001, 0, &p), COF_NOTFOUND);
    assert_int_equal(cof_keyring_save(k), COF_OK);
    cof_keyring_close(k);
    sodium_memzero(wal, 32);
    sodium_memzero(blind, 32);
    sodium_memzero(data, 32);
}

static void test_wrong_master(void **state)
{
    fx *f = *state;
    char other[512];
    cof_keyring *k = NULL;
    init_store(f);
    snprintf(other, sizeof other, "%s/other.key", f->root);
    assert_int_equal(cof_master_create(other, f->data), COF_OK);
    assert_int_equal(cof_keyring_open(f->data, other, &k), COF_DENIED);
    assert_null(k);
    assert_non_null(strstr(cof_err_msg(), "the master key does not open this keyring"));
}

static void test_key_mode(void **state)
{
    fx *f = *state;
    cof_keyring *k = NULL;
    init_store(f);
    assert_int_equal(chmod(f->key, 0644), 0);
    assert_int_equal(cof_keyring_open(f->data, f->key, &k), COF_DENIED);
    assert_null(k);
    assert_non_null(strstr(cof_err_msg(), "chmod 600"));
    assert_int_equal(chmod(f->key, 0400), 0);
    assert_int_equal(cof_keyring_open(f->data, f->key, &k), COF_DENIED);
    assert_int_equal(chmod(f->key, 0600), 0);
    k = open_ok(f);
    cof_keyring_close(k);
}

static void test_key_owner(void **state)
{
    fx *f = *state;
    cof_keyring *k = NULL;
    if (geteuid() != 0)
        skip();
    init_store(f);
    assert_int_equal(chown(f->key, 65534, 65534), 0);
    assert_int_equal(cof_keyring_open(f->data, f->key, &k), COF_DENIED);
    assert_null(k);
    assert_non_null(strstr(cof_err_msg(), "owned by uid 65534"));
    assert_non_null(strstr(cof_err_msg(), "chown"));
}

static void test_key_not_regular(void **state)
{
    fx *f = *state;
    cof_keyring *k = NULL;
    char fifo[512];
    init_store(f);
    snprintf(fifo, sizeof fifo, "%s/fifo", f->root);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(cof_keyring_open(f->data, fifo, &k), COF_DENIED);
    assert_non_null(strstr(cof_err_msg(), "not a regular file"));
    /* Wrong size. */
    char small[512];
    snprintf(small, sizeof small, "%s/small.key", f->root);
    write_whole(small, "0123456789", 10, 0600);
    assert_int_equal(cof_keyring_open(f->data, small, &k), COF_CORRUPT);
    assert_null(k);
}

static void test_missing_key(void **state)
{
    fx *f = *state;
    cof_keyring *k = NULL;
    char missing[512];
    init_store(f);
    snprintf(missing, sizeof missing, "%s/nope.key", f->root);
    assert_int_equal(cof_keyring_open(f->data, missing, &k), COF_NOTFOUND);
    assert_non_null(strstr(cof_err_msg(), "run coffer init"));
    /* Missing keyring. */
    char empty[512];
    snprintf(empty, sizeof empty, "%s/empty", f->root);
    assert_int_equal(mkdir(empty, 0700), 0);
    assert_int_equal(cof_keyring_open(empty, f->key, &k), COF_NOTFOUND);
    /* Missing data dir for create. */
    snprintf(empty, sizeof empty, "%s/absent", f->root);
    assert_int_equal(cof_keyring_create(empty, f->key), COF_NOTFOUND);
}

static void test_master_inside_data_dir(void **state)
{
    fx *f = *state;
    char inside[512], link[256], via[512], cmd[4096];
    struct stat sb;
    cof_keyring *k = NULL;
    snprintf(inside, sizeof inside, "%s/sub/master.key", f->data);
    assert_int_equal(cof_master_create(inside, f->data), COF_DENIED);
    assert_non_null(strstr(cof_err_msg(), "the master key must live outside the data directory"));
    /* Nothing was created inside. */
    snprintf(via, sizeof via, "%s/sub", f->data);
    assert_int_not_equal(stat(via, &sb), 0);
    /* Through a symbolic link to the data directory, and with "..". */
    snprintf(link, sizeof link, "%s/datalink", f->root);
    assert_int_equal(symlink(f->data, link), 0);
    snprintf(via, sizeof via, "%s/master.key", link);
    assert_int_equal(cof_master_create(via, f->data), COF_DENIED);
    snprintf(via, sizeof via, "%s/../data/x/../master.key", f->data);
    assert_int_equal(cof_master_create(via, f->data), COF_DENIED);
    snprintf(via, sizeof via, "%s/../data-other/master.key", f->data);
    assert_int_equal(cof_master_create(via, f->data), COF_OK);

    /* open refuses a key file that was copied into the data directory. */
    init_store(f);
    snprintf(cmd, sizeof cmd, "cp -p '%s' '%s/master.key'", f->key, f->data);
    run(cmd);
    snprintf(inside, sizeof inside, "%s/master.key", f->data);
    assert_int_equal(cof_keyring_open(f->data, inside, &k), COF_DENIED);
    assert_null(k);
}

static void test_corrupt_flip(void **state)
{
    fx *f = *state;
    char kr[512];
    uint8_t *orig, *buf;
    size_t n;
    init_store(f);
    cof_keyring *k = open_ok(f);
    const uint8_t *p;
    assert_int_equal(cof_keyring_data_key(k, "acme", 1, 1, &p), COF_OK);
    cof_keyring_close(k);
    snprintf(kr, sizeof kr, "%s/keyring", f->data);
    read_whole(kr, &orig, &n);
    buf = malloc(n);
    for (size_t i = 0; i < n; i++) {
        memcpy(buf, orig, n);
        buf[i] ^= 0x01;
        write_whole(kr, buf, n, 0600);
        k = NULL;
        cof_status st = cof_keyring_open(f->data, f->key, &k);
        if (st != COF_CORRUPT && st != COF_DENIED)
            fail_msg("byte %zu flipped: status %d", i, st);
        assert_null(k);
    }
    /* Truncations. */
    for (size_t len = 0; len < n; len += 7) {
        write_whole(kr, orig, len, 0600);
        k = NULL;
        assert_int_equal(cof_keyring_open(f->data, f->key, &k), COF_CORRUPT);
    }
    /* Restored file opens again. */
    write_whole(kr, orig, n, 0600);
    k = open_ok(f);
    cof_keyring_close(k);
    free(buf);
    free(orig);
}

static void test_destroy(void **state)
{
    fx *f = *state;
    const uint8_t *p, *q;
    init_store(f);
    cof_keyring *k = open_ok(f);
    assert_int_equal(cof_keyring_data_key(k, "acme", 100, 1, &p), COF_OK);
    assert_int_equal(cof_keyring_data_key(k, "acme", 101, 1, &q), COF_OK);
    assert_int_equal(cof_keyring_destroy_data_key(k, "acme", 100), COF_OK);
    static const uint8_t zero[32];
    assert_memory_equal(p, zero, 32); /* the old pointer reads zeros, never another key */
    assert_int_equal(cof_keyring_data_key(k, "acme", 100, 0, &p), COF_NOTFOUND);
    assert_int_equal(cof_keyring_data_key(k, "acme", 100, 1, &p), COF_DENIED);
    assert_int_equal(cof_keyring_destroy_data_key(k, "acme", 100), COF_NOTFOUND);
    assert_int_equal(cof_keyring_destroy_data_key(k, "acme", 999), COF_NOTFOUND);
    cof_keyring_close(k);
    k = open_ok(f);
    assert_int_equal(cof_keyring_data_key(k, "acme", 100, 0, &p), COF_NOTFOUND);
    assert_int_equal(cof_keyring_data_key(k, "acme", 101, 0, &p), COF_OK);
    cof_keyring_close(k);
}

static void test_rotate(void **state)
{
    fx *f = *state;
    char oldkey[512], olddata[512], cmd[4096], newp[512];
    uint8_t data[32];
    const uint8_t *p;
    cof_keyring *k2 = NULL;
    init_store(f);
    cof_keyring *k = open_ok(f);
    assert_int_equal(cof_keyring_data_key(k, "acme", 7, 1, &p), COF_OK);
    memcpy(data, p, 32);
    /* Backups taken before the rotation. */
    snprintf(oldkey, sizeof oldkey, "%s/old.key", f->root);
    snprintf(olddata, sizeof olddata, "%s/olddata", f->root);
    snprintf(cmd, sizeof cmd, "cp -p '%s' '%s' && mkdir '%s' && cp -p '%s/keyring' '%s/'", f->key,
             oldkey, olddata, f->data, olddata);
    run(cmd);
    /* Rotating a key file other than the one in use is refused. */
    char other[256];
    snprintf(other, sizeof other, "%s/other.key", f->root);
    assert_int_equal(cof_master_create(other, f->data), COF_OK);
    assert_int_equal(cof_keyring_rotate_master(k, other), COF_BADINPUT);
    snprintf(newp, sizeof newp, "%s.new", other);
    assert_int_not_equal(access(newp, F_OK), 0);
    assert_int_equal(cof_keyring_rotate_master(k, f->key), COF_OK);
    /* Still usable, and saves go under the new key. */
    assert_int_equal(cof_keyring_data_key(k, "acme", 8, 1, &p), COF_OK);
    cof_keyring_close(k);
    snprintf(newp, sizeof newp, "%s.new", f->key);
    assert_int_not_equal(access(newp, F_OK), 0);

    k = open_ok(f);
    assert_int_equal(cof_keyring_data_key(k, "acme", 7, 0, &p), COF_OK);
    assert_memory_equal(p, data, 32);
    assert_int_equal(cof_keyring_data_key(k, "acme", 8, 0, &p), COF_OK);
    cof_keyring_close(k);
    /* The old key file does not open the current keyring ... */
    assert_int_equal(cof_keyring_open(f->data, oldkey, &k2), COF_DENIED);
    /* ... and the current key does not open the old copy. */
    assert_int_equal(cof_keyring_open(olddata, f->key, &k2), COF_DENIED);
    assert_null(k2);
    /* The old pair still opens (that is why retention must rotate after shredding). */
    assert_int_equal(cof_keyring_open(olddata, oldkey, &k2), COF_OK);
    cof_keyring_close(k2);
    sodium_memzero(data, 32);
}

/* A crash between "keyring re-wrapped" and "key file renamed" is finished by open. */
static void test_rotate_interrupted(void **state)
{
    fx *f = *state;
    char oldkey[512], newp[512], cmd[4096];
    uint8_t *newkey, *cur;
    size_t n;
    init_store(f);
    snprintf(oldkey, sizeof oldkey, "%s/old.key", f->root);
    snprintf(newp, sizeof newp, "%s.new", f->key);
    snprintf(cmd, sizeof cmd, "cp -p '%s' '%s'", f->key, oldkey);
    run(cmd);
    cof_keyring *k = open_ok(f);
    assert_int_equal(cof_keyring_rotate_master(k, f->key), COF_OK);
    cof_keyring_close(k);
    /* Rebuild the state of the crash: new key still at .new, old key in place. */
    snprintf(cmd, sizeof cmd, "mv '%s' '%s' && cp -p '%s' '%s'", f->key, newp, oldkey, f->key);
    run(cmd);
    read_whole(newp, &newkey, &n);
    k = open_ok(f);
    cof_keyring_close(k);
    read_whole(f->key, &cur, &n);
    assert_memory_equal(cur, newkey, 32);
    assert_int_not_equal(access(newp, F_OK), 0);
    free(newkey);
    free(cur);
    /* A stale .new that does not open the keyring is ignored. */
    snprintf(cmd, sizeof cmd, "cp -p '%s' '%s'", oldkey, newp);
    run(cmd);
    k = open_ok(f);
    cof_keyring_close(k);
    cof_keyring *k2 = NULL;
    assert_int_equal(cof_keyring_open(f->data, oldkey, &k2), COF_DENIED);
}

static void test_distinct_keys(void **state)
{
    fx *f = *state;
    const uint8_t *a, *b, *c, *d, *ba, *bb, *w;
    init_store(f);
    cof_keyring *k = open_ok(f);
    assert_int_equal(cof_keyring_data_key(k, "acme", 5, 1, &a), COF_OK);
    assert_int_equal(cof_keyring_data_key(k, "globex", 5, 1, &b), COF_OK);
    assert_int_equal(cof_keyring_data_key(k, "acme", 6, 1, &c), COF_OK);
    assert_int_equal(cof_keyring_data_key(k, "acm", 5, 1, &d), COF_OK);
    assert_int_equal(cof_keyring_blind_key(k, "acme", &ba), COF_OK);
    assert_int_equal(cof_keyring_blind_key(k, "globex", &bb), COF_OK);
    assert_int_equal(cof_keyring_wal_key(k, &w), COF_OK);
    const uint8_t *all[] = { a, b, c, d, ba, bb, w };
    for (size_t i = 0; i < 7; i++)
        for (size_t j = i + 1; j < 7; j++)
            assert_memory_not_equal(all[i], all[j], 32);
    /* Bad tenant names. */
    assert_int_equal(cof_keyring_blind_key(k, "", &a), COF_BADINPUT);
    assert_int_equal(cof_keyring_blind_key(k, "a b", &a), COF_BADINPUT);
    assert_int_equal(cof_keyring_blind_key(k, "a\nb", &a), COF_BADINPUT);
    assert_int_equal(cof_keyring_blind_key(k, "\xff\xfe", &a), COF_BADINPUT);
    char longname[80];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    assert_int_equal(cof_keyring_data_key(k, longname, 1, 1, &a), COF_BADINPUT);
    longname[64] = 0;
    assert_int_equal(cof_keyring_data_key(k, longname, 1, 1, &a), COF_OK);
    cof_keyring_close(k);
}

static void test_no_clear_keys_in_file(void **state)
{
    fx *f = *state;
    char kr[512];
    uint8_t keys[5][32], *file, *master;
    size_t n, mn;
    const uint8_t *p;
    init_store(f);
    cof_keyring *k = open_ok(f);
    assert_int_equal(cof_keyring_wal_key(k, &p), COF_OK);
    memcpy(keys[0], p, 32);
    assert_int_equal(cof_keyring_blind_key(k, "acme", &p), COF_OK);
    memcpy(keys[1], p, 32);
    assert_int_equal(cof_keyring_data_key(k, "acme", 3, 1, &p), COF_OK);
    memcpy(keys[2], p, 32);
    assert_int_equal(cof_keyring_data_key(k, "globex", 3, 1, &p), COF_OK);
    memcpy(keys[3], p, 32);
    cof_keyring_close(k);
    read_whole(f->key, &master, &mn);
    memcpy(keys[4], master, 32);
    snprintf(kr, sizeof kr, "%s/keyring", f->data);
    read_whole(kr, &file, &n);
    for (int i = 0; i < 5; i++) {
        assert_false(contains(file, n, keys[i], 32));
        assert_false(contains(file, n, keys[i], 8)); /* not even a prefix */
    }
    /* Tenant names are inside the sealed box too. */
    assert_false(contains(file, n, (const uint8_t *)"globex", 6));
    sodium_memzero(keys, sizeof keys);
    free(file);
    free(master);
}

typedef struct {
    int calls;
    char seen[8][16];
    uint32_t days[8];
    cof_keyring *k;
} walk;

static cof_status walk_fn(void *ctx, const char *tenant, uint32_t day)
{
    walk *w = ctx;
    if (w->calls < 8) {
        snprintf(w->seen[w->calls], sizeof w->seen[0], "%s", tenant);
        w->days[w->calls] = day;
    }
    w->calls++;
    /* Destroying from the callback works (no lock held). */
    if (day == 2)
        return cof_keyring_destroy_data_key(w->k, tenant, day);
    return COF_OK;
}

static cof_status stop_fn(void *ctx, const char *tenant, uint32_t day)
{
    (void)tenant;
    (void)day;
    (*(int *)ctx)++;
    return COF_LIMIT;
}

static void test_each(void **state)
{
    fx *f = *state;
    const uint8_t *p;
    init_store(f);
    cof_keyring *k = open_ok(f);
    assert_int_equal(cof_keyring_data_key(k, "zeta", 1, 1, &p), COF_OK);
    assert_int_equal(cof_keyring_data_key(k, "acme", 2, 1, &p), COF_OK);
    assert_int_equal(cof_keyring_data_key(k, "acme", 1, 1, &p), COF_OK);
    assert_int_equal(cof_keyring_blind_key(k, "acme", &p), COF_OK);
    walk w = { .k = k };
    assert_int_equal(cof_keyring_each_data_key(k, walk_fn, &w), COF_OK);
    assert_int_equal(w.calls, 3);
    assert_string_equal(w.seen[0], "acme");
    assert_int_equal(w.days[0], 1);
    assert_string_equal(w.seen[1], "acme");
    assert_int_equal(w.days[1], 2);
    assert_string_equal(w.seen[2], "zeta");
    memset(&w, 0, sizeof w);
    w.k = k;
    assert_int_equal(cof_keyring_each_data_key(k, walk_fn, &w), COF_OK);
    assert_int_equal(w.calls, 2); /* acme/2 was destroyed */
    int calls = 0;
    assert_int_equal(cof_keyring_each_data_key(k, stop_fn, &calls), COF_LIMIT);
    assert_int_equal(calls, 1);
    cof_keyring_close(k);
}

typedef struct {
    cof_keyring *k;
    int id;
    const uint8_t *ptrs[40];
    cof_status st;
} thr;

static void *thr_main(void *arg)
{
    thr *t = arg;
    char tenant[16];
    for (int i = 0; i < 40; i++) {
        snprintf(tenant, sizeof tenant, "t%d", i % 5);
        cof_status st = cof_keyring_data_key(t->k, tenant, (uint32_t)(i / 5), 1, &t->ptrs[i]);
        if (st)
            t->st = st;
    }
    return NULL;
}

static void test_threads(void **state)
{
    fx *f = *state;
    pthread_t tid[4];
    thr t[4];
    init_store(f);
    cof_keyring *k = open_ok(f);
    for (int i = 0; i < 4; i++) {
        memset(&t[i], 0, sizeof t[i]);
        t[i].k = k;
        t[i].id = i;
        assert_int_equal(pthread_create(&tid[i], NULL, thr_main, &t[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(tid[i], NULL);
        assert_int_equal(t[i].st, COF_OK);
    }
    for (int i = 1; i < 4; i++)
        for (int j = 0; j < 40; j++)
            assert_ptr_equal(t[i].ptrs[j], t[0].ptrs[j]);
    cof_keyring_close(k);
}

/* Pointers survive map growth and new slabs; lookups of existing keys are fast. */
static void test_many_keys_and_speed(void **state)
{
    fx *f = *state;
    const uint8_t *first, *p;
    uint8_t copy[32];
    init_store(f);
    cof_keyring *k = open_ok(f);
    assert_int_equal(cof_keyring_data_key(k, "acme", 0, 1, &first), COF_OK);
    memcpy(copy, first, 32);
    /* Many keys at once: build them through an image (no fsync per key). */
    cof_keyring_close(k);
    size_t count = 3000, cap = 4 + (count + 1) * (2 + 8 + 4 + 32);
    uint8_t *pt = malloc(cap), *q = pt, master[32];
    uint32_t nent = (uint32_t)count + 1;
    memcpy(q, &nent, 4); /* little endian host */
    q += 4;
    *q++ = 1; *q++ = 0; memset(q, 0, 4); q += 4; randombytes_buf(q, 32); q += 32;
    for (size_t i = 0; i < count; i++) {
        char t[9];
        snprintf(t, sizeof t, "t%07zu", i % 100);
        uint32_t day = (uint32_t)(i / 100);
        *q++ = 3; *q++ = 8; memcpy(q, t, 8); q += 8; memcpy(q, &day, 4); q += 4;
        randombytes_buf(q, 32); q += 32;
    }
    randombytes_buf(master, 32);
    uint8_t *file;
    size_t filen;
    assert_int_equal(cof_keyring_wrap_mem(pt, (size_t)(q - pt), master, &file, &filen), COF_OK);
    assert_int_equal(cof_keyring_open_mem(file, filen, master, "mem", &k), COF_OK);
    assert_int_equal(cof_keyring_data_key(k, "t0000042", 7, 0, &first), COF_OK);
    memcpy(copy, first, 32);
    assert_int_equal(cof_keyring_data_key(k, "t0000042", 30, 0, &p), COF_NOTFOUND);
    assert_int_equal(cof_keyring_save(k), COF_OK); /* nothing changed: no I/O */
    struct timespec t0, t1;
    const int iters = 1000000;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < iters; i++)
        if (cof_keyring_data_key(k, "t0000042", (uint32_t)(i & 7), 0, &p) != COF_OK)
            fail();
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec)) / iters;
    printf("# data_key hit: %.1f ns/lookup (%zu keys)\n", ns, count);
    assert_memory_equal(first, copy, 32);
    cof_keyring_close(k);
    free(pt);
    free(file);
    sodium_memzero(master, 32);
    sodium_memzero(copy, 32);
}

/* Hostile plaintexts behind a valid AEAD: every one is COF_CORRUPT. */
static void test_hostile_entries(void **state)
{
    (void)state;
    uint8_t master[32];
    randombytes_buf(master, 32);
    static const struct {
        const char *what;
        size_t n;
        uint8_t b[96];
    } cases[] = {
        { "empty", 0, { 0 } },
        { "no wal", 4, { 0, 0, 0, 0 } },
        { "count too big", 4, { 0xff, 0xff, 0xff, 0xff } },
        { "truncated", 6, { 1, 0, 0, 0, 1, 0 } },
        { "bad type", 42, { 1, 0, 0, 0, 9, 0, 0, 0, 0, 0 } },
        { "wal with tenant", 43, { 1, 0, 0, 0, 1, 1, 'a', 0, 0, 0, 0 } },
        { "tenant too long", 42, { 1, 0, 0, 0, 2, 200 } },
        { "blind without tenant", 42, { 1, 0, 0, 0, 2, 0, 0, 0, 0, 0 } },
        { "tenant with NUL", 43, { 1, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0 } },
        { "blind with a day", 43, { 1, 0, 0, 0, 2, 1, 'a', 5, 0, 0, 0 } },
        { "duplicate wal", 80, { 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, [42] = 1, 0, 0, 0, 0, 0 } },
        { "trailing bytes", 43, { 1, 0, 0, 0, 1, 0, 0, 0, 0, 0 } },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t *file;
        size_t n;
        cof_keyring *k = NULL;
        assert_int_equal(cof_keyring_wrap_mem(cases[i].b, cases[i].n, master, &file, &n), COF_OK);
        cof_status st = cof_keyring_open_mem(file, n, master, "case", &k);
        if (st != COF_CORRUPT)
            fail_msg("%s: status %d", cases[i].what, st);
        assert_null(k);
        free(file);
    }
    /* The minimal valid one, for contrast. */
    uint8_t ok[42] = { 1, 0, 0, 0, 1, 0 }, *file;
    size_t n;
    cof_keyring *k = NULL;
    assert_int_equal(cof_keyring_wrap_mem(ok, sizeof ok, master, &file, &n), COF_OK);
    assert_int_equal(cof_keyring_open_mem(file, n, master, "ok", &k), COF_OK);
    const uint8_t *p;
    /* An in-memory keyring cannot persist a new key, so it does not hand one out. */
    assert_int_equal(cof_keyring_blind_key(k, "acme", &p), COF_BADINPUT);
    cof_keyring_close(k);
    free(file);
    /* Garbage that is not a keyring at all. */
    assert_int_equal(cof_keyring_open_mem((const uint8_t *)"hello", 5, master, "g", &k),
                     COF_CORRUPT);
}

static void test_fsutil(void **state)
{
    fx *f = *state;
    char p[512], out[4096];
    int inside = -1;
    snprintf(p, sizeof p, "%s/a/b/c", f->root);
    assert_int_equal(cof_fs_mkdir_p(p, 0700), COF_OK);
    assert_int_equal(cof_fs_mkdir_p(p, 0700), COF_OK);
    snprintf(p, sizeof p, "%s/a/b/c/../../x/./y", f->root);
    assert_int_equal(cof_fs_resolve(p, out, sizeof out), COF_OK);
    char want[512];
    snprintf(want, sizeof want, "%s/a/x/y", f->root);
    assert_string_equal(out, want);
    assert_int_equal(cof_fs_is_inside(p, f->root, &inside), COF_OK);
    assert_int_equal(inside, 1);
    snprintf(p, sizeof p, "%sx/y", f->root); /* sibling with a common prefix */
    assert_int_equal(cof_fs_is_inside(p, f->root, &inside), COF_OK);
    assert_int_equal(inside, 0);
    snprintf(p, sizeof p, "%s/file", f->root);
    assert_int_equal(cof_fs_create_atomic(p, "abc", 3, 0640), COF_OK);
    assert_int_equal(cof_fs_create_atomic(p, "def", 3, 0640), COF_EXISTS);
    uint8_t *b;
    size_t n;
    assert_int_equal(cof_fs_read_file(p, 100, &b, &n), COF_OK);
    assert_int_equal(n, 3);
    assert_memory_equal(b, "abc", 3);
    free(b);
    assert_int_equal(cof_fs_read_file(p, 2, &b, &n), COF_LIMIT);
    assert_int_equal(cof_fs_replace(p, "xy", 2, 0600), COF_OK);
    assert_int_equal(cof_fs_read_file(p, 100, &b, &n), COF_OK);
    assert_int_equal(n, 2);
    free(b);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    snprintf(p, sizeof p, "%s/nope", f->root);
    assert_int_equal(cof_fs_read_file(p, 100, &b, &n), COF_NOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_master, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_owner, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_not_regular, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_master_inside_data_dir, setup, teardown),
        cmocka_unit_test_setup_teardown(test_corrupt_flip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_destroy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rotate_interrupted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_distinct_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_clear_keys_in_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_many_keys_and_speed, setup, teardown),
        cmocka_unit_test(test_hostile_entries),
        cmocka_unit_test_setup_teardown(test_fsutil, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
