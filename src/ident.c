/* ident.c - the caller of a governance command, from its API token (ident.h). */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "fsutil.h"
#include "ident.h"
#include "keyring.h"

#define TOKEN_BUF 160 /* a token is COF_TOKEN_STRLEN; room to detect a longer file */

cof_status cof_ident_read_token_file(const char *path, char *out, size_t cap)
{
    int fd;
    cof_status st = cof_fs_open(path, O_RDONLY, 0, &fd);
    if (st)
        return st; /* the message names the path */
    if ((st = cof_fs_check_private(fd, path, "token file", 0600))) {
        (void)close(fd);
        return st;
    }
    size_t got = 0;
    st = cof_fs_read_all(fd, out, cap - 1, &got, path);
    (void)close(fd);
    if (st)
        return st;
    while (got && (out[got - 1] == '\n' || out[got - 1] == '\r' || out[got - 1] == ' '))
        got--;
    out[got] = 0;
    if (got == 0 || got >= cap - 1)
        return COF_ERR(COF_BADINPUT, "token file %s does not hold one token", path);
    return COF_OK;
}

const char *cof_ident_token_path(const char *path)
{
    if (path && *path)
        return path;
    const char *e = getenv("COFFER_TOKEN_FILE");
    return e && *e ? e : NULL;
}

cof_status cof_ident_token_file(const cof_config *cfg, const char *token_file, int64_t now,
                                cof_access **acc, char principal[COF_MAX_PRINCIPAL_NAME + 1])
{
    cof_keyring *k = NULL;
    cof_tokens *t = NULL;
    cof_access *a = NULL;
    char *tok = sodium_malloc(TOKEN_BUF);
    uint8_t *key = sodium_malloc(COF_KEY_LEN);
    cof_status st;
    *acc = NULL;
    if (!tok || !key) {
        st = COF_ERR(COF_NOMEM, "key memory");
        goto out;
    }
    if (!(token_file = cof_ident_token_path(token_file))) {
        st = COF_ERR(COF_DENIED, "this command acts as a person: give --token-file FILE (or set "
                                 "COFFER_TOKEN_FILE) with your API token");
        goto out;
    }
    if ((st = cof_ident_read_token_file(token_file, tok, TOKEN_BUF)) ||
        (st = cof_keyring_open(cfg->data_dir, cfg->key_file, &k)) ||
        (st = cof_keyring_subkey(k, "token-hash", key)) ||
        (st = cof_tokens_open(cfg->data_dir, key, &t)))
        goto out;
    cof_token_info info;
    const char *why = NULL;
    if (cof_tokens_check(t, cof_str_c(tok), now, &info, &why) != COF_OK) {
        st = COF_ERR(COF_DENIED, "the token in %s is not valid (unknown, expired or revoked)",
                     token_file);
        goto out;
    }
    if ((st = cof_access_load(cfg->data_dir, &a)))
        goto out;
    if (!cof_access_find(a, info.principal)) {
        st = COF_ERR(COF_DENIED, "the token in %s is not valid (unknown, expired or revoked)",
                     token_file);
        goto out;
    }
    memcpy(principal, info.principal, sizeof info.principal);
    *acc = a;
    a = NULL;
out:
    cof_access_free(a);
    cof_tokens_close(t);
    cof_keyring_close(k);
    if (tok)
        sodium_free(tok);
    if (key)
        sodium_free(key);
    return st;
}
