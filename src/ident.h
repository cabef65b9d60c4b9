/* ident.h - who is calling: the person behind a CLI command that acts on governance
 * (acl, lockdown, export, subject tools, poison). Local commands run with the master
 * key, which opens everything; what they may do is still decided by the principal of
 * the API token the caller presents (--token-file FILE or COFFER_TOKEN_FILE), so the
 * two-person rule counts people, not shells. */
#ifndef COF_IDENT_H
#define COF_IDENT_H

#include <stdint.h>

#include "access.h"
#include "config.h"
#include "status.h"

/* Read a token file: mode 0600, owned by the user, one token (trailing newline ok).
 * out is cap bytes (sodium_malloc'd by the caller, it holds a secret). */
cof_status cof_ident_read_token_file(const char *path, char *out, size_t cap) COF_MUST_USE;

/* The token file to use: path if not NULL, else $COFFER_TOKEN_FILE, else NULL. */
const char *cof_ident_token_path(const char *path);

/* Check the token in token_file against DATA/tokens.json (keyring subkey "token-hash")
 * and load access.json. On success *acc (free with cof_access_free) and principal
 * (whose token it is; the principal must exist in the document) are filled. A bad,
 * unknown, expired or revoked token, or a principal missing from the document, is
 * COF_DENIED with one message for all. */
cof_status cof_ident_token_file(const cof_config *cfg, const char *token_file, int64_t now,
                                cof_access **acc,
                                char principal[COF_MAX_PRINCIPAL_NAME + 1]) COF_MUST_USE;

#endif
