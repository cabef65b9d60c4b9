/* guard.c - back-off, lockout, rate and budget tables (see guard.h). */
#include "guard.h"

#include "timefmt.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define PROBE 16 /* a key lives within PROBE slots of its hash: no deletion needed */
#define KEY_MAX 95

typedef struct {
    uint8_t used, kind;
    char key[KEY_MAX + 1];
    uint32_t fails;
    int64_t first_fail, next_allowed, locked_until, last;
    double tokens;
    int64_t tokens_at;
    int64_t budget_hour;
    uint64_t budget_used;
    int budget_alerted;
} entry;

struct cof_guard {
    pthread_mutex_t mu;
    cof_guard_opts o;
    entry *t;
    uint8_t hkey[crypto_shorthash_KEYBYTES]; /* keyed hash: no crafted-collision floods */
    cof_guard_stats st;
};

cof_status cof_guard_new(const cof_guard_opts *o, cof_guard **out)
{
    cof_guard *g = calloc(1, sizeof *g);
    if (!g || !(g->t = calloc(COF_GUARD_MAX_KEYS, sizeof *g->t))) {
        free(g);
        return COF_ERR(COF_NOMEM, "out of memory");
    }
    g->o = *o;
    if (!g->o.free_failures) g->o.free_failures = 5;
    if (!g->o.lockout_failures) g->o.lockout_failures = 20;
    if (!g->o.window_seconds) g->o.window_seconds = 900;
    if (!g->o.max_backoff_seconds) g->o.max_backoff_seconds = 60;
    if (!g->o.lockout_seconds) g->o.lockout_seconds = 900;
    if (!g->o.rate_per_second) g->o.rate_per_second = 200;
    if (!g->o.rate_burst) g->o.rate_burst = 2 * g->o.rate_per_second;
    if (!g->o.budget_per_hour) g->o.budget_per_hour = 1000;
    randombytes_buf(g->hkey, sizeof g->hkey);
    pthread_mutex_init(&g->mu, NULL);
    *out = g;
    return COF_OK;
}

void cof_guard_free(cof_guard *g)
{
    if (!g)
        return;
    pthread_mutex_destroy(&g->mu);
    free(g->t);
    free(g);
}

/* Find or make the entry of (kind, key); mu held. Never NULL. */
static entry *get(cof_guard *g, int kind, const char *key, int64_t now)
{
    size_t kl = strnlen(key, KEY_MAX);
    uint8_t in[KEY_MAX + 1], h[crypto_shorthash_BYTES];
    in[0] = (uint8_t)kind;
    memcpy(in + 1, key, kl);
    crypto_shorthash(h, in, kl + 1, g->hkey);
    uint64_t b;
    memcpy(&b, h, sizeof b);
    entry *victim = NULL;
    for (int i = 0; i < PROBE; i++) {
        entry *e = &g->t[(b + (uint64_t)i) % COF_GUARD_MAX_KEYS];
        if (e->used && e->kind == kind && strncmp(e->key, key, KEY_MAX) == 0 && strlen(e->key) == kl)
            return e;
        if (!e->used) {
            if (!victim || victim->used)
                victim = e;
        } else if (e->locked_until <= now && (!victim || (victim->used && e->last < victim->last))) {
            victim = e;
        }
    }
    if (!victim) /* every slot locked: reuse the first (bounded memory beats all else) */
        victim = &g->t[b % COF_GUARD_MAX_KEYS];
    memset(victim, 0, sizeof *victim);
    victim->used = 1;
    victim->kind = (uint8_t)kind;
    memcpy(victim->key, key, kl);
    victim->key[kl] = 0;
    victim->tokens = g->o.rate_burst;
    victim->tokens_at = now;
    victim->last = now;
    return victim;
}

uint32_t cof_guard_wait(cof_guard *g, cof_guard_kind kind, const char *key, int64_t now)
{
    pthread_mutex_lock(&g->mu);
    entry *e = get(g, (int)kind, key, now);
    int64_t until = e->locked_until > e->next_allowed ? e->locked_until : e->next_allowed;
    uint32_t w = until > now ? (uint32_t)((until - now + 999999) / 1000000) : 0;
    pthread_mutex_unlock(&g->mu);
    return w;
}

int cof_guard_fail(cof_guard *g, cof_guard_kind kind, const char *key, int64_t now)
{
    int started = 0;
    pthread_mutex_lock(&g->mu);
    entry *e = get(g, (int)kind, key, now);
    e->last = now;
    if (e->fails == 0 || now - e->first_fail > (int64_t)g->o.window_seconds * 1000000) {
        e->fails = 0;
        e->first_fail = now;
    }
    e->fails++;
    g->st.failures++;
    if (e->fails >= g->o.lockout_failures && e->locked_until <= now) {
        e->locked_until = now + (int64_t)g->o.lockout_seconds * 1000000;
        g->st.lockouts++;
        started = 1;
    } else if (e->fails > g->o.free_failures) {
        uint32_t k = e->fails - g->o.free_failures - 1;
        int64_t wait = k >= 30 ? (int64_t)g->o.max_backoff_seconds : (int64_t)1 << k;
        if (wait > g->o.max_backoff_seconds)
            wait = g->o.max_backoff_seconds;
        e->next_allowed = now + wait * 1000000;
    }
    pthread_mutex_unlock(&g->mu);
    return started;
}

void cof_guard_ok(cof_guard *g, cof_guard_kind kind, const char *key)
{
    pthread_mutex_lock(&g->mu);
    entry *e = get(g, (int)kind, key, 0);
    e->fails = 0;
    e->next_allowed = 0;
    pthread_mutex_unlock(&g->mu);
}

int cof_guard_rate(cof_guard *g, const char *principal, int64_t now)
{
    pthread_mutex_lock(&g->mu);
    entry *e = get(g, 2, principal, now);
    e->last = now;
    double dt = (double)(now - e->tokens_at) / 1e6;
    if (dt > 0) {
        e->tokens += dt * g->o.rate_per_second;
        if (e->tokens > g->o.rate_burst)
            e->tokens = g->o.rate_burst;
        e->tokens_at = now;
    }
    int ok = e->tokens >= 1.0;
    if (ok)
        e->tokens -= 1.0;
    else
        g->st.rate_limited++;
    pthread_mutex_unlock(&g->mu);
    return ok;
}

uint64_t cof_guard_budget(cof_guard *g, const char *principal, uint32_t budget, uint64_t want,
                          int64_t now, int *breached)
{
    *breached = 0;
    uint64_t cap = budget ? budget : g->o.budget_per_hour;
    int64_t hour = now / 3600000000LL;
    pthread_mutex_lock(&g->mu);
    entry *e = get(g, 3, principal, now);
    e->last = now;
    if (e->budget_hour != hour) {
        e->budget_hour = hour;
        e->budget_used = 0;
        e->budget_alerted = 0;
    }
    uint64_t left = e->budget_used < cap ? cap - e->budget_used : 0;
    uint64_t give = want < left ? want : left;
    e->budget_used += give;
    if (give < want && !e->budget_alerted) {
        e->budget_alerted = 1;
        *breached = 1;
        g->st.budget_breaches++;
    }
    pthread_mutex_unlock(&g->mu);
    return give;
}

void cof_guard_stats_get(cof_guard *g, cof_guard_stats *s)
{
    pthread_mutex_lock(&g->mu);
    *s = g->st;
    int64_t now = cof_time_now_us();
    uint64_t locked = 0;
    for (size_t i = 0; i < COF_GUARD_MAX_KEYS; i++)
        if (g->t[i].used && g->t[i].locked_until > now && g->t[i].kind < 2)
            locked++;
    s->locked_now = locked;
    pthread_mutex_unlock(&g->mu);
}
