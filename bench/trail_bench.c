/* trail_bench.c - in-process, warm recipient trail lookups against a coffer store.
 *
 * usage: trail_bench DATA_DIR KEY_FILE TRUTH.tsv [LOOKUPS] [PASSES]
 * Picks up to LOOKUPS (default 200) recipients that have 50 to 200 events in the
 * generator's truth file, runs each lookup once to warm caches, then PASSES (default
 * 5) timed passes over all of them, and prints key=value lines: lookups, events per
 * lookup, p50/p99/mean latency in ms. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "query.h"
#include "seal.h"
#include "store.h"

typedef struct {
    char *addr;
    unsigned n;
} rc;

static int cmp_str(const void *a, const void *b)
{
    return strcmp(((const rc *)a)->addr, ((const rc *)b)->addr);
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: trail_bench DATA_DIR KEY_FILE TRUTH.tsv [LOOKUPS] [PASSES]\n");
        return 2;
    }
    int want = argc > 4 ? (int)strtol(argv[4], NULL, 10) : 200;
    int passes = argc > 5 ? (int)strtol(argv[5], NULL, 10) : 5;
    if (cof_seal_init() != COF_OK)
        return 1;
    FILE *f = fopen(argv[3], "r");
    if (!f) {
        perror(argv[3]);
        return 1;
    }
    /* Collect every recipient (column 10), sort, count runs. */
    size_t cap = 1 << 20, n = 0;
    rc *all = malloc(cap * sizeof *all);
    char *line = NULL;
    size_t lcap = 0;
    int first = 1;
    while (getline(&line, &lcap, f) > 0) {
        if (first) {
            first = 0;
            continue;
        }
        char *p = line;
        for (int col = 1; col < 10 && p; col++) {
            p = strchr(p, '\t');
            if (p)
                p++;
        }
        if (!p)
            continue;
        char *e = strchr(p, '\t');
        if (!e || e == p)
            continue;
        if (n == cap) {
            cap *= 2;
            all = realloc(all, cap * sizeof *all);
        }
        all[n].addr = strndup(p, (size_t)(e - p));
        all[n].n = 1;
        n++;
    }
    fclose(f);
    free(line);
    qsort(all, n, sizeof *all, cmp_str);
    rc *pick = malloc((size_t)want * sizeof *pick);
    int np = 0;
    double evsum = 0;
    for (size_t i = 0; i < n && np < want;) {
        size_t j = i;
        while (j < n && strcmp(all[j].addr, all[i].addr) == 0)
            j++;
        if (j - i >= 50 && j - i <= 200) {
            pick[np].addr = all[i].addr;
            pick[np].n = (unsigned)(j - i);
            evsum += (double)(j - i);
            np++;
        }
        i = j;
    }
    if (np == 0) {
        fprintf(stderr, "no recipient with 50-200 events in the truth file\n");
        return 1;
    }
    cof_config cfg;
    if (cof_config_init(&cfg) != COF_OK)
        return 1;
    snprintf(cfg.data_dir, sizeof cfg.data_dir, "%s", argv[1]);
    snprintf(cfg.key_file, sizeof cfg.key_file, "%s", argv[2]);
    cof_store *s;
    if (cof_store_open(&cfg, 0, &s) != COF_OK) {
        fprintf(stderr, "open: %s\n", cof_err_msg());
        return 1;
    }
    double *lat = malloc((size_t)np * (size_t)passes * sizeof *lat);
    size_t nl = 0, mismatches = 0;
    for (int pass = -1; pass < passes; pass++) {
        for (int i = 0; i < np; i++) {
            cof_trail_query q;
            memset(&q, 0, sizeof q);
            q.field = COF_F_RECIPIENT;
            q.value = cof_str_c(pick[i].addr);
            q.since = INT64_MIN;
            q.until = INT64_MAX;
            q.unseal = 1;
            cof_trail t;
            double t0 = now_ms();
            cof_status st = cof_query_trail(s, &q, &t);
            double dt = now_ms() - t0;
            if (st) {
                fprintf(stderr, "lookup failed: %s\n", cof_err_msg());
                return 1;
            }
            if (pass < 0 && t.n != pick[i].n)
                mismatches++;
            cof_trail_free(&t);
            if (pass >= 0)
                lat[nl++] = dt;
        }
    }
    qsort(lat, nl, sizeof *lat, cmp_d);
    double sum = 0;
    for (size_t i = 0; i < nl; i++)
        sum += lat[i];
    printf("trail_lookups=%d\ntrail_events_per_lookup=%.1f\ntrail_p50_ms=%.3f\ntrail_p99_ms=%.3f\n"
           "trail_mean_ms=%.3f\ntrail_count_mismatches=%zu\n",
           np, evsum / np, lat[nl / 2], lat[(size_t)((double)nl * 0.99)], sum / (double)nl,
           mismatches);
    cof_store_abandon(s);
    cof_config_free(&cfg);
    return 0;
}
