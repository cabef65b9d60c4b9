/* audit_fill.c - append N records to a store's audit trail with its real keyring, from
 * T threads; prints the append throughput. Used by tests/e2e/test_audit_cli.sh to get
 * a trail to read and tamper with, and to measure group commit.
 *
 * usage: audit_fill DATA_DIR KEY_FILE N [THREADS]
 * Records alternate principal alice/bob and action trail/stats; record i of a thread
 * has events = i and a blind token of "user<i>@example.com" in params. Prints
 * key=value lines: records, threads, seconds, records_per_s. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "audit.h"
#include "keyring.h"
#include "seal.h"

typedef struct {
    cof_audit *a;
    const uint8_t *blind_key;
    unsigned long n;
    int id, failed;
} job;

static void *run(void *arg)
{
    job *j = arg;
    static const char *tenants[] = { "acme" };
    for (unsigned long i = 0; i < j->n; i++) {
        char addr[64], tok[35], params[96];
        snprintf(addr, sizeof addr, "User%lu@Example.com", i);
        if (cof_audit_blind(j->blind_key, cof_str_c(addr), tok) != COF_OK) {
            j->failed = 1;
            return NULL;
        }
        snprintf(params, sizeof params, "{\"rcpt\":\"%s\"}", tok);
        cof_audit_rec r = { 0 };
        r.principal = (i + (unsigned long)j->id) % 2 ? "bob" : "alice";
        r.source = "127.0.0.1";
        r.action = i % 2 ? "stats" : "trail";
        r.params_json = params;
        r.outcome = "ok";
        r.status = 200;
        r.tenants = tenants;
        r.ntenants = 1;
        r.events = i;
        r.ids = "1:0-3";
        if (cof_audit_append(j->a, &r, NULL) != COF_OK) {
            j->failed = 1;
            return NULL;
        }
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: audit_fill DATA_DIR KEY_FILE N [THREADS]\n");
        return 2;
    }
    unsigned long n = strtoul(argv[3], NULL, 10);
    int threads = argc == 5 ? atoi(argv[4]) : 1;
    if (threads < 1 || threads > 64) {
        fprintf(stderr, "audit_fill: THREADS must be 1..64\n");
        return 2;
    }
    if (cof_seal_init() != COF_OK)
        return 1;
    cof_keyring *k = NULL;
    uint8_t *seed = sodium_malloc(32), *bkey = sodium_malloc(32);
    cof_audit *a = NULL;
    int rc = 1;
    if (!seed || !bkey)
        goto out;
    if (cof_keyring_open(argv[1], argv[2], &k) != COF_OK ||
        cof_keyring_subkey(k, "audit-ed25519", seed) != COF_OK ||
        cof_keyring_subkey(k, "audit-blind", bkey) != COF_OK) {
        fprintf(stderr, "audit_fill: keyring: %s\n", cof_err_msg());
        goto out;
    }
    if (cof_audit_open(argv[1], seed, &a) != COF_OK) {
        fprintf(stderr, "audit_fill: open: %s\n", cof_err_msg());
        goto out;
    }
    job jobs[64];
    pthread_t tid[64];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < threads; i++) {
        jobs[i] = (job){ a, bkey, n / (unsigned long)threads + (i == 0 ? n % (unsigned long)threads : 0), i, 0 };
        pthread_create(&tid[i], NULL, run, &jobs[i]);
    }
    int failed = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        failed |= jobs[i].failed;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    if (failed) {
        fprintf(stderr, "audit_fill: append failed: %s\n", cof_err_msg());
        goto out;
    }
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("records=%lu\nthreads=%d\nseconds=%.3f\nrecords_per_s=%.0f\n", n, threads, s,
           s > 0 ? (double)n / s : 0.0);
    rc = 0;
out:
    cof_audit_close(a);
    cof_keyring_close(k);
    sodium_free(seed);
    sodium_free(bkey);
    return rc;
}
