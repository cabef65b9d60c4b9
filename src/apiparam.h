/* apiparam.h - validation of the API's query parameters, apart from the HTTP library
 * so it can be fuzzed (fuzz/fuzz_apiparam.c) and tested on its own.
 *
 * Rules: unknown parameters, repeated parameters and over-long values are errors
 * (COF_BADINPUT with a static reason safe to show to clients: it never echoes the
 * value, which may be personal). Lookups are exact-match only: exactly one lookup
 * field, a complete value, no wildcard characters. */
#ifndef COF_APIPARAM_H
#define COF_APIPARAM_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "status.h"

#define COF_API_MAX_PARAMS 16
#define COF_API_MAX_VALUE 512
#define COF_API_MAX_PAGE 1000 /* events per trail page */

typedef struct {
    const char *k, *v; /* NUL-terminated, already URL-decoded */
} cof_kv;

typedef struct {
    const char *arg;    /* "rcpt", "sender", ... */
    cof_field field;
    const char *value;
    size_t value_len;
    int64_t since, until;
    int has_since, has_until;
    uint64_t limit;     /* 1..COF_API_MAX_PAGE, default 100 */
    const char *tenant; /* NULL or a valid tenant name */
    int has_cursor;
    uint8_t cursor[12]; /* u32 offset (little endian) || 8-byte MAC, unverified */
} cof_trail_params;

typedef struct {
    uint32_t by;
    const char *by_s, *bucket_s, *tenant;
    int64_t bucket, since, until;
} cof_stats_params;

typedef struct {
    int64_t since, until; /* 0: open */
    uint64_t limit;
    const char *principal, *action;
} cof_audit_params;

cof_status cof_api_trail_params(const cof_kv *kv, size_t n, int64_t now, cof_trail_params *out,
                                const char **why) COF_MUST_USE;
cof_status cof_api_stats_params(const cof_kv *kv, size_t n, int64_t now, cof_stats_params *out,
                                const char **why) COF_MUST_USE;
cof_status cof_api_audit_params(const cof_kv *kv, size_t n, int64_t now, cof_audit_params *out,
                                const char **why) COF_MUST_USE;
/* 1 if s is a valid batch id: 1..128 of [A-Za-z0-9._:-]. */
int cof_api_batch_id_valid(const char *s);

#endif
