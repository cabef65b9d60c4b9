/* progress.c - terminal progress bar. */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

uint64_t cof_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void cof_progress_start(cof_progress *p, const char *label, int force)
{
    p->enabled = force || isatty(2);
    p->start_ns = p->last_ns = cof_now_ns();
    p->label = label;
}

void cof_progress_update(cof_progress *p, uint64_t done, uint64_t total, uint64_t items,
                         const char *item_name)
{
    if (!p->enabled)
        return;
    uint64_t now = cof_now_ns();
    if (now - p->last_ns < 200000000u)
        return;
    p->last_ns = now;
    double secs = (double)(now - p->start_ns) / 1e9;
    double rate = secs > 0 ? (double)items / secs : 0;
    if (total) {
        double frac = done >= total ? 1.0 : (double)done / (double)total;
        int width = 30, fill = (int)(frac * width);
        char bar[32];
        for (int i = 0; i < width; i++)
            bar[i] = i < fill ? '#' : '.';
        bar[width] = 0;
        double eta = frac > 0 ? secs / frac - secs : 0;
        fprintf(stderr, "\r%s [%s] %5.1f%%  %llu %s  %.0f/s  ETA %.0fs   ", p->label, bar,
                frac * 100, (unsigned long long)items, item_name, rate, eta);
    } else {
        fprintf(stderr, "\r%s  %llu %s  %.0f/s   ", p->label, (unsigned long long)items,
                item_name, rate);
    }
    fflush(stderr);
}

void cof_progress_end(cof_progress *p)
{
    if (p->enabled)
        fprintf(stderr, "\r%80s\r", "");
}
