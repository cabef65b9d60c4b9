/* progress.h - a one-line progress bar on a terminal (stderr), silent elsewhere. */
#ifndef COF_PROGRESS_H
#define COF_PROGRESS_H

#include <stdint.h>

typedef struct {
    int enabled;
    uint64_t start_ns, last_ns;
    const char *label;
} cof_progress;

/* Enabled only if stderr is a terminal (or force is set). */
void cof_progress_start(cof_progress *p, const char *label, int force);
/* Redraw at most every 200 ms. total 0: unknown (no bar, counts only). */
void cof_progress_update(cof_progress *p, uint64_t done, uint64_t total, uint64_t items,
                         const char *item_name);
void cof_progress_end(cof_progress *p);
uint64_t cof_now_ns(void);

#endif
