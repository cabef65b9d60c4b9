/* token_int.h - internals of the API tokens (src/token.c) for tests and fuzzers only.
 * The public contract is the "tokens" part of access.h. */
#ifndef COF_TOKEN_INT_H
#define COF_TOKEN_INT_H

#include <stddef.h>
#include <stdint.h>

#include "access.h"

/* Strict parse of a presented token string: exactly COF_TOKEN_STRLEN bytes of
 * "cof_" 16*[0-9a-f] "_" 43*[A-Za-z0-9_-], the last group canonical base64url (no
 * padding) of 32 bytes. On success the id (NUL-terminated) is copied to id. Never
 * records an error detail (the caller answers uniformly). 1 = well-formed. */
int cof_token_parse(cof_str s, char id[COF_TOKEN_IDLEN + 1]);

/* One stored token: its public info and the keyed hash of the token string. */
typedef struct {
    cof_token_info info;
    uint8_t hash[32];
} cof_token_entry;

/* Parse a tokens.json image (hostile input: fuzzed). *out malloc'd (sorted by id,
 * ids unique), count in *n; free with free(). name is for error details. */
cof_status cof_tokens_parse_mem(const char *buf, size_t len, const char *name,
                                cof_token_entry **out, size_t *n) COF_MUST_USE;

#endif
