/* test_backup.c - the BACKUP manifest (round trip, hostile input, allowed paths) and a
 * backup of a real empty store: verify passes, a flipped or cut byte is found and
 * named, restore refuses it and leaves nothing behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdatomic.h>

#include "backup.h"
#include "config.h"
#include "ingest.h"
#include "keyring.h"
#include "seal.h"
#include "store.h"

static cof_backup_manifest sample(cof_backup_file *files)
{
    cof_backup_manifest m;
    memset(&m, 0, sizeof m);
    snprintf(m.created, sizeof m.created, "2026-11-24T01:00:00.000000Z");
    snprintf(m.version, sizeof m.version, "0.2.0");
    snprintf(m.store_id, sizeof m.store_id, "00112233445566778899aabbccddeeff");
    const char *paths[] = { "MANIFEST", "seg/0000000000000001.seg", "spool/wal/0000000000000003.wal",
                            "keyring" };
    for (size_t i = 0; i < 4; i++) {
        memset(&files[i], 0, sizeof files[i]);
        snprintf(files[i].path, sizeof files[i].path, "%s", paths[i]);
        files[i].size = 1000 * i + 7;
        memset(files[i].hash, (int)(0x11 * (i + 1)), 32);
    }
    m.files = files;
    m.nfiles = 4;
    return m;
}

static void test_roundtrip(void **state)
{
    (void)state;
    cof_backup_file files[4];
    cof_backup_manifest m = sample(files), back;
    cof_buf b;
    cof_buf_init(&b, 1 << 20);
    assert_int_equal(cof_backup_manifest_write(&m, &b), COF_OK);
    assert_int_equal(cof_backup_manifest_parse(b.p, b.n, &back), COF_OK);
    assert_string_equal(back.created, m.created);
    assert_string_equal(back.version, m.version);
    assert_string_equal(back.store_id, m.store_id);
    assert_int_equal(back.nfiles, 4);
    for (size_t i = 0; i < 4; i++) {
        assert_string_equal(back.files[i].path, files[i].path);
        assert_int_equal(back.files[i].size, files[i].size);
        assert_memory_equal(back.files[i].hash, files[i].hash, 32);
    }
    cof_backup_manifest_free(&back);
    cof_buf_free(&b);
}

/* Replace the first occurrence of from by to in the serialized sample, then parse. */
static cof_status parse_edited(const char *from, const char *to)
{
    cof_backup_file files[4];
    cof_backup_manifest m = sample(files), back;
    cof_buf b;
    cof_buf_init(&b, 1 << 20);
    assert_int_equal(cof_backup_manifest_write(&m, &b), COF_OK);
    assert_int_equal(cof_buf_add_u8(&b, 0), COF_OK);
    char *s = (char *)b.p, *at = strstr(s, from);
    assert_non_null(at);
    size_t fl = strlen(from), tl = strlen(to), n = strlen(s);
    char *e = malloc(n - fl + tl + 1);
    assert_non_null(e);
    memcpy(e, s, (size_t)(at - s));
    memcpy(e + (at - s), to, tl);
    memcpy(e + (at - s) + tl, at + fl, n - (size_t)(at - s) - fl + 1);
    cof_status st = cof_backup_manifest_parse((const uint8_t *)e, strlen(e), &back);
    if (st == COF_OK)
        cof_backup_manifest_free(&back);
    free(e);
    cof_buf_free(&b);
    return st;
}

static void test_tampered_manifest(void **state)
{
    (void)state;
    assert_int_equal(parse_edited("MANIFEST", "MANIFEST"), COF_OK); /* the harness itself */
    assert_int_equal(parse_edited("coffer-backup-1", "coffer-backup-9"), COF_CORRUPT);
    assert_int_equal(parse_edited("seg/0000000000000001.seg", "../../etc/passwd"), COF_CORRUPT);
    assert_int_equal(parse_edited("seg/0000000000000001.seg", "/etc/passwd"), COF_CORRUPT);
    assert_int_equal(parse_edited("seg/0000000000000001.seg", "seg/../keyring"), COF_CORRUPT);
    assert_int_equal(parse_edited("seg/0000000000000001.seg", "seg/a/b"), COF_CORRUPT);
    assert_int_equal(parse_edited("seg/0000000000000001.seg", "other/x"), COF_CORRUPT);
    assert_int_equal(parse_edited("seg/0000000000000001.seg", "keyring"), COF_CORRUPT); /* twice */
    assert_int_equal(parse_edited("\"keyring\"", "\"access.json\""), COF_CORRUPT);     /* missing */
    assert_int_equal(parse_edited("\"size\":7", "\"size\":-7"), COF_CORRUPT);
    assert_int_equal(parse_edited("\"size\":7", "\"size\":\"7\""), COF_CORRUPT);
    assert_int_equal(parse_edited("\"blake2b\":\"11", "\"blake2b\":\"zz"), COF_CORRUPT);
    assert_int_equal(parse_edited("\"blake2b\":\"11", "\"blake2b\":\"1"), COF_CORRUPT);
    assert_int_equal(parse_edited("\"store_id\":\"00", "\"store_id\":\"0"), COF_CORRUPT);
    assert_int_equal(parse_edited("\"files\"", "\"extra\":1,\"files\""), COF_CORRUPT);
    assert_int_equal(parse_edited("]}", "]} trailing"), COF_CORRUPT);
    assert_int_equal(parse_edited("\"path\":\"MANIFEST\"", "\"path\":\"MANIFEST\",\"x\":1"),
                     COF_CORRUPT);
    assert_int_equal(parse_edited("MANIFEST", "MANI\\u0000FEST"), COF_CORRUPT);
    cof_backup_manifest m;
    assert_int_equal(cof_backup_manifest_parse((const uint8_t *)"", 0, &m), COF_CORRUPT);
    assert_int_equal(cof_backup_manifest_parse((const uint8_t *)"[]", 2, &m), COF_CORRUPT);
}

static void test_paths(void **state)
{
    (void)state;
    const char *good[] = { "MANIFEST", "keyring", "access.json", "tokens.json", "poison.reg",
                           "retention.pending",
                           "seg/0000000000000001.seg", "wal/x.wal", "spool/batches",
                           "spool/wal/0000000000000001.wal", "audit/HEAD", "changes/c-1.json",
                           "exports/e.jsonl" };
    const char *badp[] = { "", "LOCK", "seg", "seg/", "/MANIFEST", "seg/.hidden", "seg/..",
                           "wal/a/b", "spool/x/y", "audit/a b", "x/y", "keyring/", "MANIFEST\n",
                           "spool/wal/" };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++)
        assert_true(cof_backup_path_ok(good[i], strlen(good[i])));
    for (size_t i = 0; i < sizeof badp / sizeof *badp; i++)
        assert_false(cof_backup_path_ok(badp[i], strlen(badp[i])));
}

static void note(void *ctx, const char *path, const char *why)
{
    (void)why;
    snprintf((char *)ctx, 256, "%s", path);
}

static void flip(const char *path, long off)
{
    FILE *f = fopen(path, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, off, SEEK_SET), 0);
    int c = fgetc(f);
    assert_int_equal(fseek(f, off, SEEK_SET), 0);
    fputc(c ^ 1, f);
    fclose(f);
}

static void test_store_backup_and_tamper(void **state)
{
    (void)state;
    char root[64], key[128], bk[128], cmd[256], bad[256] = "";
    snprintf(root, sizeof root, "/tmp/cof-backup-XXXXXX");
    assert_non_null(mkdtemp(root));
    cof_config cfg;
    assert_int_equal(cof_config_init(&cfg), COF_OK);
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s/data", root);
    snprintf(key, sizeof key, "%s/keys/master.key", root);
    snprintf(cfg.key_file, sizeof cfg.key_file, "%s", key);
    assert_int_equal(cof_master_create(key, cfg.data_dir), COF_OK);
    assert_int_equal(cof_store_create(&cfg), COF_OK);
    assert_int_equal(cof_keyring_create(cfg.data_dir, key), COF_OK);

    cof_backup_result r;
    snprintf(bk, sizeof bk, "%s/bk", root);
    assert_int_equal(cof_backup_take(cfg.data_dir, bk, "test", NULL, NULL, NULL, &r), COF_OK);
    assert_int_equal(r.files, 2); /* MANIFEST, keyring */
    assert_int_equal(strlen(r.store_id), 32);
    assert_int_equal(cof_backup_verify(bk, NULL, note, bad, &r), COF_OK);
    /* into a non-empty directory, or inside the data directory: refused */
    assert_int_equal(cof_backup_take(cfg.data_dir, bk, "test", NULL, NULL, NULL, &r), COF_EXISTS);
    snprintf(cmd, sizeof cmd, "%s/data/inside", root);
    assert_int_equal(cof_backup_take(cfg.data_dir, cmd, "test", NULL, NULL, NULL, &r), COF_BADINPUT);
    /* a clean restore */
    snprintf(cmd, sizeof cmd, "%s/restored", root);
    assert_int_equal(cof_backup_restore(bk, cmd, NULL, NULL, &r), COF_OK);
    struct stat sb;
    snprintf(cmd, sizeof cmd, "%s/restored/keyring", root);
    assert_int_equal(stat(cmd, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);

    /* one flipped bit in the keyring copy */
    snprintf(cmd, sizeof cmd, "%s/keyring", bk);
    flip(cmd, 40);
    assert_int_equal(cof_backup_verify(bk, NULL, note, bad, &r), COF_CORRUPT);
    assert_string_equal(bad, "keyring");
    snprintf(cmd, sizeof cmd, "%s/restored2", root);
    assert_int_equal(cof_backup_restore(bk, cmd, NULL, NULL, &r), COF_CORRUPT);
    assert_non_null(strstr(cof_err_msg(), "keyring"));
    assert_int_equal(stat(cmd, &sb), -1); /* nothing left behind */
    snprintf(cmd, sizeof cmd, "%s/keyring", bk);
    flip(cmd, 40); /* back as it was */
    assert_int_equal(cof_backup_verify(bk, NULL, note, bad, &r), COF_OK);

    /* a cut file, and a missing one */
    snprintf(cmd, sizeof cmd, "%s/MANIFEST", bk);
    assert_int_equal(stat(cmd, &sb), 0);
    assert_int_equal(truncate(cmd, sb.st_size - 1), 0);
    bad[0] = 0;
    assert_int_equal(cof_backup_verify(bk, NULL, note, bad, &r), COF_CORRUPT);
    assert_string_equal(bad, "MANIFEST");
    assert_int_equal(unlink(cmd), 0);
    bad[0] = 0;
    assert_int_equal(cof_backup_verify(bk, NULL, note, bad, &r), COF_CORRUPT);
    assert_string_equal(bad, "MANIFEST");
    snprintf(cmd, sizeof cmd, "%s/BACKUP", bk);
    assert_int_equal(unlink(cmd), 0);
    assert_int_equal(cof_backup_verify(bk, NULL, note, bad, &r), COF_NOTFOUND);

    cof_config_free(&cfg);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    assert_int_equal(system(cmd), 0);
}

/* ---- a store with real segments, written while backups are taken */

typedef struct {
    char root[64];
    cof_config cfg;
} fixture;

static void fixture_make(fixture *f)
{
    char key[128];
    snprintf(f->root, sizeof f->root, "/tmp/cof-backup-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    assert_int_equal(cof_config_init(&f->cfg), COF_OK);
    snprintf(f->cfg.data_dir, sizeof f->cfg.data_dir, "%s/data", f->root);
    snprintf(key, sizeof key, "%s/keys/master.key", f->root);
    snprintf(f->cfg.key_file, sizeof f->cfg.key_file, "%s", key);
    assert_int_equal(cof_master_create(key, f->cfg.data_dir), COF_OK);
    assert_int_equal(cof_store_create(&f->cfg), COF_OK);
    assert_int_equal(cof_keyring_create(f->cfg.data_dir, key), COF_OK);
}

static void fixture_free(fixture *f)
{
    char cmd[128];
    cof_config_free(&f->cfg);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->root);
    assert_int_equal(system(cmd), 0);
}

/* n JSON events with unique recipients (batch b) on day 20 + day into root/in<b>.jsonl. */
static void write_batch(const char *root, int b, int n, int day, char *path, size_t cap)
{
    snprintf(path, cap, "%s/in%d.jsonl", root, b);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    for (int i = 0; i < n; i++)
        fprintf(fp, "{\"time\":\"2026-11-%02dT10:%02d:%02dZ\",\"recipient\":\"u%dx%d@b%d.example\","
                    "\"sender\":\"s%d@example.org\",\"status\":\"sent\",\"queue_id\":\"Q%dx%d\"}\n",
                20 + day, b % 60, i % 60, b, i, b, i, b, i);
    fclose(fp);
}

static uint64_t ingest_file(cof_store *s, const char *path)
{
    cof_ingest_opts o;
    cof_ingest_summary sum;
    memset(&o, 0, sizeof o);
    o.format = COF_FMT_JSON;
    const char *paths[1] = { path };
    assert_int_equal(cof_ingest_run(s, paths, 1, &o, &sum), COF_OK);
    return sum.events_stored;
}

static cof_status seg_keyed(void *ctx, const cof_seg_info *info, cof_seg *seg)
{
    const uint8_t *key = NULL;
    cof_status st = cof_keyring_data_key(ctx, info->tenant, info->day, 0, &key);
    return st ? st : cof_seg_verify(seg, key);
}

/* Restore dir into root/name, let a writer replay its WAL, and count rows; every
 * segment's data key must be in the restored keyring. */
static uint64_t restored_rows(fixture *f, const char *dir, const char *name)
{
    cof_config rc = f->cfg;
    cof_backup_result r;
    snprintf(rc.data_dir, sizeof rc.data_dir, "%s/%s", f->root, name);
    assert_int_equal(cof_backup_restore(dir, rc.data_dir, NULL, NULL, &r), COF_OK);
    cof_store *s;
    cof_status st = cof_store_open(&rc, COF_STORE_WRITE, &s);
    if (st)
        print_message("restored %s: %s\n", name, cof_err_msg());
    assert_int_equal(st, COF_OK);
    assert_int_equal(cof_store_close(s), COF_OK);
    assert_int_equal(cof_store_open(&rc, 0, &s), COF_OK);
    cof_store_totals t;
    assert_int_equal(cof_store_totals_get(s, &t), COF_OK);
    /* backup.h rule 4: the keyring copied last holds every segment's data key */
    assert_int_equal(cof_store_each_segment(s, NULL, INT64_MIN, INT64_MAX, seg_keyed, NULL,
                                            cof_store_keyring(s)),
                     COF_OK);
    cof_store_abandon(s);
    return t.rows;
}

static void test_missing_segment_is_damage(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f);
    char path[256], bk[128];
    cof_store *s;
    assert_int_equal(cof_store_open(&f.cfg, COF_STORE_WRITE, &s), COF_OK);
    write_batch(f.root, 0, 300, 0, path, sizeof path);
    assert_int_equal(ingest_file(s, path), 300);
    write_batch(f.root, 1, 200, 1, path, sizeof path);
    assert_int_equal(ingest_file(s, path), 200);
    assert_int_equal(cof_store_close(s), COF_OK);

    cof_backup_result r;
    snprintf(bk, sizeof bk, "%s/bk", f.root);
    assert_int_equal(cof_backup_take(f.cfg.data_dir, bk, "test", NULL, NULL, NULL, &r), COF_OK);
    assert_int_equal(r.segments, 2);
    assert_int_equal(restored_rows(&f, bk, "r0"), 500);

    /* A listed segment that is gone while MANIFEST stays the same is damage, not a
     * merge: named, after one re-read. */
    snprintf(path, sizeof path, "%s/data/seg/0000000000000001.seg", f.root);
    assert_int_equal(unlink(path), 0);
    snprintf(bk, sizeof bk, "%s/bk2", f.root);
    assert_int_equal(cof_backup_take(f.cfg.data_dir, bk, "test", NULL, NULL, NULL, &r), COF_CORRUPT);
    assert_non_null(strstr(cof_err_msg(), "seg/0000000000000001.seg"));
    assert_int_equal(r.retries, 1); /* it did look again before calling it damage */
    struct stat sb;
    assert_int_equal(stat(bk, &sb), -1); /* a failed backup leaves nothing */
    fixture_free(&f);
}

typedef struct {
    fixture *f;
    cof_store *s;
    int rounds;
    atomic_uint_fast64_t committed;
    atomic_int done;
} writer_ctx;

/* Small batches, each flushed into its own segment: the store's merge thread keeps
 * merging them while backups run. */
static void *writer(void *arg)
{
    writer_ctx *w = arg;
    char path[256];
    for (int b = 0; b < w->rounds; b++) {
        write_batch(w->f->root, 100 + b, 150, 2, path, sizeof path);
        uint64_t n = ingest_file(w->s, path);
        atomic_fetch_add(&w->committed, n);
        assert_int_equal(cof_store_flush(w->s), COF_OK);
    }
    atomic_store(&w->done, 1);
    return NULL;
}

static void test_backup_while_writing(void **state)
{
    (void)state;
    fixture f;
    fixture_make(&f);
    writer_ctx w;
    memset(&w, 0, sizeof w);
    w.f = &f;
    w.rounds = 150;
    assert_int_equal(cof_store_open(&f.cfg, COF_STORE_WRITE, &w.s), COF_OK);
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, writer, &w), 0);
    uint64_t retries = 0, before[200], after[200];
    int nb = 0;
    char bk[128], name[32];
    while (nb < 200 && (nb < 3 || !atomic_load(&w.done))) {
        cof_backup_result r;
        before[nb] = atomic_load(&w.committed);
        snprintf(bk, sizeof bk, "%s/bk%d", f.root, nb);
        assert_int_equal(cof_backup_take(f.cfg.data_dir, bk, "test", NULL, NULL, NULL, &r), COF_OK);
        after[nb] = atomic_load(&w.committed);
        retries += r.retries;
        nb++;
    }
    pthread_join(th, NULL);
    assert_int_equal(cof_store_close(w.s), COF_OK);
    for (int k = 0; k < nb; k++) {
        snprintf(bk, sizeof bk, "%s/bk%d", f.root, k);
        snprintf(name, sizeof name, "r%d", k);
        uint64_t rows = restored_rows(&f, bk, name);
        /* everything committed before the backup started; nothing beyond what was
         * committed when it ended */
        assert_true(rows >= before[k]);
        assert_true(rows <= after[k] + 150);
    }
    print_message("%d backups while writing, %llu manifest re-reads\n", nb,
                  (unsigned long long)retries);
    fixture_free(&f);
}

int main(void)
{
    if (cof_seal_init() != COF_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_tampered_manifest),
        cmocka_unit_test(test_paths),
        cmocka_unit_test(test_store_backup_and_tamper),
        cmocka_unit_test(test_missing_segment_is_damage),
        cmocka_unit_test(test_backup_while_writing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
