/* guard.h - abuse limits for the server: authentication back-off and lockout per
 * source address and per principal, request rate per principal, and the hourly
 * budget of unsealed events per principal.
 *
 * Back-off: after `free_failures` failed authentications within the window, each
 * further failure doubles a wait (1 s, 2 s, 4 s ... capped at max_backoff) during
 * which that source (or principal) is refused without even looking at its token;
 * at `lockout_failures` it is locked out for lockout_seconds and the caller raises an
 * alert (cof_guard_fail reports the transition once). A success resets a source's
 * count, never a lockout.
 *
 * Tables are bounded (COF_GUARD_MAX_KEYS); when full, the entry with the oldest
 * activity that is not locked is replaced, so a flood of addresses cannot evict a
 * lockout. Thread-safe (one mutex). Keys are source addresses and principal names,
 * never token material. */
#ifndef COF_GUARD_H
#define COF_GUARD_H

#include <stdint.h>

#include "status.h"

#define COF_GUARD_MAX_KEYS 65536

typedef struct cof_guard cof_guard;

typedef struct {
    uint32_t free_failures;     /* default 5 */
    uint32_t lockout_failures;  /* default 20 */
    uint32_t window_seconds;    /* failures older than this are forgotten; default 900 */
    uint32_t max_backoff_seconds; /* default 60 */
    uint32_t lockout_seconds;   /* default 900 */
    uint32_t rate_per_second;   /* requests per principal; default 200 */
    uint32_t rate_burst;        /* default 2 x rate */
    uint32_t budget_per_hour;   /* unsealed events, when the principal sets none; default 1000 */
} cof_guard_opts;

typedef enum { COF_GUARD_SOURCE = 0, COF_GUARD_PRINCIPAL = 1 } cof_guard_kind;

cof_status cof_guard_new(const cof_guard_opts *o, cof_guard **out) COF_MUST_USE;
void cof_guard_free(cof_guard *g);

/* 0 if key may try to authenticate now, else the seconds to wait (>= 1). */
uint32_t cof_guard_wait(cof_guard *g, cof_guard_kind kind, const char *key, int64_t now_us);
/* Record a failure; returns 1 exactly when this failure started a lockout. */
int cof_guard_fail(cof_guard *g, cof_guard_kind kind, const char *key, int64_t now_us);
/* Record a success (clears back-off, not a lockout). */
void cof_guard_ok(cof_guard *g, cof_guard_kind kind, const char *key);
/* Take one request from principal's rate bucket: 1 allowed, 0 over the rate. */
int cof_guard_rate(cof_guard *g, const char *principal, int64_t now_us);
/* Reserve up to want unsealed events from principal's budget for this hour (budget 0 =
 * the default). Returns how many may be unsealed; *breached = 1 exactly when this call
 * exhausted the budget (alert once per hour). */
uint64_t cof_guard_budget(cof_guard *g, const char *principal, uint32_t budget, uint64_t want,
                          int64_t now_us, int *breached);

typedef struct { uint64_t failures, lockouts, locked_now, rate_limited, budget_breaches; } cof_guard_stats;
void cof_guard_stats_get(cof_guard *g, cof_guard_stats *s);

#endif
