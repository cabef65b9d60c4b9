/* str.h - length-carrying string slices. External data is never assumed to be
 * NUL-terminated: parsers take and return cof_str. */
#ifndef COF_STR_H
#define COF_STR_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    const char *p;
    size_t n;
} cof_str;

#define COF_STR_LIT(s) ((cof_str){ (s), sizeof(s) - 1 })
#define COF_STR_NULL ((cof_str){ NULL, 0 })

static inline cof_str cof_str_make(const char *p, size_t n) { return (cof_str){ p, n }; }
static inline cof_str cof_str_c(const char *z) { return (cof_str){ z, z ? strlen(z) : 0 }; }

static inline int cof_str_eq(cof_str a, cof_str b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static inline int cof_str_eq_lit(cof_str a, const char *z)
{
    size_t n = strlen(z);
    return a.n == n && memcmp(a.p, z, n) == 0;
}

static inline int cof_str_starts(cof_str a, const char *z)
{
    size_t n = strlen(z);
    return a.n >= n && memcmp(a.p, z, n) == 0;
}

/* ASCII case-insensitive equality; never locale dependent. */
int cof_str_ieq(cof_str a, cof_str b);

/* Parse an unsigned decimal integer occupying all of s; fails on empty input,
 * non-digits and overflow past max. The replacement for atoi/strtoul. */
int cof_str_to_u64(cof_str s, uint64_t max, uint64_t *out);

/* Remove leading and trailing ASCII white space. */
cof_str cof_str_trim(cof_str s);

/* 1 if s is valid UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
int cof_str_utf8_valid(cof_str s);

#endif
