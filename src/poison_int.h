/* poison_int.h - internals shared by poison.c (registry, matching) and poison_gen.c
 * (synthetic events). Not for other modules. */
#ifndef COF_POISON_INT_H
#define COF_POISON_INT_H

#include "poison.h"
#include "policy.h"

typedef struct {
    uint8_t rtok[COF_TOKEN_LEN]; /* blind token as recipient (tenant key) */
    uint8_t stok[COF_TOKEN_LEN]; /* blind token as sender */
    uint8_t ahash[16];           /* keyed hash, tenant-independent */
} cof_paddr;

/* Clear values of one stored row, sampled so synthetic rows follow the real mix. */
typedef struct {
    int64_t t;
    uint8_t status, direction;
    int32_t delay_ms;
    uint64_t size;
    char host[64], inst[64], rdom[256], sdom[256], relay_host[256], relay_ip[64];
    char cprefix[64], tls[160], dsn[16], sasl_method[32];
} cof_psample;

#define COF_POISON_SAMPLES 512

typedef struct {
    cof_psample *s;
    uint32_t n;
    uint64_t seen;
} cof_psamples;

/* Reservoir-sample up to COF_POISON_SAMPLES rows of tenant in [since, until) from s
 * (clear columns only; at most 64 segments are read). Zero samples is not an error. */
cof_status cof_poison_sample(cof_store *s, const char *tenant, int64_t since, int64_t until,
                             cof_psamples *out) COF_MUST_USE;

/* A fresh, plausible personal address at domain (first.last, initials and digits...;
 * never role-like) into out. */
void cof_poison_gen_address(const char *domain, char *out, size_t cap);
/* A domain for a recipient when none is given and no sample has one. */
const char *cof_poison_gen_domain(void);

/* One synthetic delivery event to rcpt, following a sample (or built-in values when
 * smp is NULL), time in [since, until). Strings go into sbuf (cap >= 2048). */
void cof_poison_gen_event(const cof_psample *smp, const char *rcpt, int64_t since,
                          int64_t until, cof_event *ev, char *sbuf, size_t cap);

#endif
