/* remote.c - query a running coffer server (remote.h). */
#include "ident.h"
#include "remote.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <sodium.h>

#include "buf.h"
#include "fsutil.h"

#define MAX_RESPONSE (64u << 20)

static size_t on_data(char *p, size_t sz, size_t n, void *ctx)
{
    cof_buf *b = ctx;
    return cof_buf_add(b, p, sz * n) == COF_OK ? sz * n : 0; /* 0 aborts: response too big */
}

cof_status cof_remote_get(const cof_remote *r, const char *path, const char *const *kv, size_t nkv,
                          long *http_status, char **body)
{
    *body = NULL;
    if (strncmp(r->server, "https://", 8) != 0 || strlen(r->server) > 512)
        return COF_ERR(COF_BADINPUT, "--server must be an https:// URL (coffer never sends a "
                                     "token over plain HTTP)");
    char *tok = sodium_malloc(160);
    if (!tok)
        return COF_ERR(COF_NOMEM, "out of memory");
    cof_status st = cof_ident_read_token_file(r->token_file, tok, 160);
    CURL *c = NULL;
    struct curl_slist *hdr = NULL;
    char *auth = NULL;
    cof_buf url, resp;
    cof_buf_init(&url, 16384);
    cof_buf_init(&resp, MAX_RESPONSE);
    if (st)
        goto out;
    if (!(c = curl_easy_init()) || !(auth = sodium_malloc(200))) {
        st = COF_ERR(COF_NOMEM, "cannot start an HTTPS client");
        goto out;
    }
    snprintf(auth, 200, "Authorization: Bearer %s", tok);
    hdr = curl_slist_append(NULL, auth);
    sodium_memzero(auth, 200);
    st = cof_buf_add(&url, r->server, strlen(r->server));
    while (!st && url.n && url.p[url.n - 1] == '/')
        url.n--;
    if (!st)
        st = cof_buf_add(&url, path, strlen(path));
    for (size_t i = 0; i < nkv && !st; i++) {
        char *k = curl_easy_escape(c, kv[2 * i], 0), *v = curl_easy_escape(c, kv[2 * i + 1], 0);
        if (!k || !v)
            st = COF_ERR(COF_NOMEM, "out of memory");
        if (!st) st = cof_buf_add(&url, i ? "&" : "?", 1);
        if (!st) st = cof_buf_add(&url, k, strlen(k));
        if (!st) st = cof_buf_add(&url, "=", 1);
        if (!st) st = cof_buf_add(&url, v, strlen(v));
        curl_free(k);
        curl_free(v);
    }
    if (!st)
        st = cof_buf_add(&url, "", 1);
    if (st)
        goto out;
    curl_easy_setopt(c, CURLOPT_URL, (const char *)url.p);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (r->cacert)
        curl_easy_setopt(c, CURLOPT_CAINFO, r->cacert);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        st = COF_ERR(COF_IO, "%s: %s", r->server, curl_easy_strerror(cc));
        goto out;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, http_status);
    if ((st = cof_buf_add(&resp, "", 1)))
        goto out;
    *body = (char *)resp.p;
    resp.p = NULL;
out:
    if (hdr) {
        /* the slist copied the header: wipe that copy too */
        sodium_memzero(hdr->data, strlen(hdr->data));
        curl_slist_free_all(hdr);
    }
    if (c)
        curl_easy_cleanup(c);
    sodium_free(auth);
    sodium_free(tok);
    cof_buf_free(&url);
    cof_buf_free(&resp);
    return st;
}

/* Print the server's error and return the exit status for it. */
static int remote_error(long status, const char *body)
{
    json_t *o = json_loads(body, 0, NULL);
    const char *msg = NULL;
    json_unpack(o, "{s:{s:s}}", "error", "message", &msg);
    fprintf(stderr, "coffer: server answered %ld: %s\n", status, msg ? msg : "(no message)");
    json_decref(o);
    return status == 401 || status == 403 ? 1 : status == 400 ? 2 : 1;
}

static void print_event_row(json_t *e)
{
    static const char *cols[] = { "time", "status", "sender", "recipient", "relay_host", "dsn" };
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        const char *v = json_string_value(json_object_get(e, cols[i]));
        printf("%s%-*s", i ? "  " : "", i == 0 ? 27 : i == 1 ? 9 : 24, v ? v : "-");
    }
    const char *resp = json_string_value(json_object_get(e, "response"));
    printf("  %.60s\n", resp ? resp : "");
}

int cof_remote_search(const cof_remote *r, const char *const *kv, size_t nkv, size_t limit, int json)
{
    const char **args = calloc(2 * nkv + 4, sizeof *args);
    if (!args)
        return 1;
    memcpy(args, kv, 2 * nkv * sizeof *args);
    char *cursor = NULL;
    size_t shown = 0;
    int rc = 0, header = 0, exhausted = 0;
    for (;;) {
        size_t n = nkv;
        if (cursor) {
            args[2 * n] = "cursor";
            args[2 * n + 1] = cursor;
            n++;
        }
        long status = 0;
        char *body = NULL;
        cof_status st = cof_remote_get(r, "/v1/trail", args, n, &status, &body);
        if (st) {
            fprintf(stderr, "coffer search: %s\n", cof_err_msg());
            rc = 1;
            break;
        }
        if (status != 200) {
            rc = remote_error(status, body);
            free(body);
            break;
        }
        json_t *o = json_loads(body, 0, NULL);
        free(body);
        json_t *evs = json_object_get(o, "events");
        if (!json_is_array(evs)) {
            fprintf(stderr, "coffer search: unexpected answer from the server\n");
            json_decref(o);
            rc = 1;
            break;
        }
        if (json_is_true(json_object_get(o, "budget_exhausted")))
            exhausted = 1;
        size_t i;
        json_t *e;
        json_array_foreach(evs, i, e) {
            if (limit && shown >= limit)
                break;
            if (json) {
                char *s = json_dumps(e, JSON_COMPACT | JSON_ENSURE_ASCII);
                if (s)
                    printf("%s\n", s);
                free(s);
            } else {
                if (!header++)
                    printf("%-27s  %-9s  %-24s  %-24s  %-24s  %-24s  %s\n", "TIME", "STATUS", "FROM", "TO",
                           "RELAY", "DSN", "RESPONSE");
                print_event_row(e);
            }
            shown++;
        }
        const char *next = json_string_value(json_object_get(o, "next_cursor"));
        free(cursor);
        cursor = next && (!limit || shown < limit) ? strdup(next) : NULL;
        json_decref(o);
        if (!cursor)
            break;
    }
    if (!rc && !json && shown == 0)
        printf("no matching events\n");
    if (exhausted)
        fprintf(stderr, "coffer search: this principal's hourly budget of unsealed events is "
                        "exhausted; personal fields are shown masked\n");
    free(cursor);
    free(args);
    return rc;
}

int cof_remote_stats(const cof_remote *r, const char *const *kv, size_t nkv, int json)
{
    long status = 0;
    char *body = NULL;
    cof_status st = cof_remote_get(r, "/v1/stats", kv, nkv, &status, &body);
    if (st) {
        fprintf(stderr, "coffer stats: %s\n", cof_err_msg());
        return 1;
    }
    if (status != 200) {
        int rc = remote_error(status, body);
        free(body);
        return rc;
    }
    json_t *o = json_loads(body, 0, NULL);
    free(body);
    json_t *rows = json_object_get(o, "rows");
    size_t i;
    json_t *row;
    json_array_foreach(rows, i, row) {
        if (json) {
            char *s = json_dumps(row, JSON_COMPACT);
            if (s)
                printf("%s\n", s);
            free(s);
            continue;
        }
        const char *k;
        json_t *v;
        int first = 1;
        json_object_foreach(row, k, v) {
            char *s = json_is_string(v) ? strdup(json_string_value(v)) : json_dumps(v, JSON_ENCODE_ANY);
            printf("%s%s=%s", first ? "" : "  ", k, s ? s : "");
            free(s);
            first = 0;
        }
        printf("\n");
    }
    json_decref(o);
    return 0;
}
