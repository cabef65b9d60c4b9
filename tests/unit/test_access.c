/* test_access.c - the access document (parse, validation with JSON paths, rules,
 * dump/parse round trips, files) and API tokens (create, check, expiry, revocation,
 * tampering, reload across handles, concurrent writers). */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "access.h"
#include "timefmt.h"
#include "token_int.h"

#define US 1000000LL
/* 2026-11-23T10:00:00Z */
#define T0 (1795428000LL * US)

static const char good_doc[] =
    "{ \"format\": \"coffer-access-1\", \"version\": 7, \"updated\": \"2026-11-23T10:00:00Z\",\n"
    "  \"listeners\": { \"api\": \"127.0.0.1:8443\", \"syslog_tls\": \"127.0.0.1:6514\",\n"
    "                 \"syslog_plain\": \"\" },\n"
    "  \"principals\": {\n"
    "    \"alice\": { \"suspended\": false, \"budget_per_hour\": 500,\n"
    "               \"grants\": [ { \"role\": \"support\", \"tenants\": [\"acme\"],\n"
    "                              \"expires\": \"2026-12-31T00:00:00Z\" },\n"
    "                            { \"role\": \"analyst\", \"tenants\": [\"acme\", \"beta\"] } ] },\n"
    "    \"mta1\": { \"cert_sha256\": "
    "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\",\n"
    "              \"grants\": [ { \"role\": \"ingest\", \"tenants\": [\"*\"] } ] },\n"
    "    \"boss\": { \"grants\": [ { \"role\": \"admin\", \"tenants\": [\"*\"] },\n"
    "                              { \"role\": \"auditor\", \"tenants\": [\"*\"],\n"
    "                                \"expires\": \"2026-11-01T00:00:00Z\" } ] },\n"
    "    \"cust.acme@x\": { \"grants\": [ { \"role\": \"customer\", \"tenants\": [\"acme\"] } ] },\n"
    "    \"gone\": { \"suspended\": true,\n"
    "              \"grants\": [ { \"role\": \"support\", \"tenants\": [\"*\"] } ] },\n"
    "    \"prom\": { \"grants\": [ { \"role\": \"metrics\", \"tenants\": [\"*\"] } ] }\n"
    "  } }\n";

static cof_access *parse_ok(const char *doc)
{
    cof_access *a = NULL;
    cof_status st = cof_access_parse(doc, strlen(doc), "test", &a);
    if (st != COF_OK)
        fprintf(stderr, "parse failed: %s\n", cof_err_msg());
    assert_int_equal(st, COF_OK);
    assert_non_null(a);
    return a;
}

static void test_parse_valid(void **state)
{
    (void)state;
    cof_access *a = parse_ok(good_doc);
    assert_int_equal(a->version, 7);
    int64_t upd;
    assert_int_equal(cof_time_parse(COF_STR_LIT("2026-11-23T10:00:00Z"), 0, &upd), COF_OK);
    assert_true(a->updated == upd && upd == T0);
    assert_string_equal(a->listeners.api, "127.0.0.1:8443");
    assert_string_equal(a->listeners.syslog_plain, "");
    assert_int_equal(a->nprincipals, 6);
    for (uint32_t i = 1; i < a->nprincipals; i++) /* sorted */
        assert_true(strcmp(a->principals[i - 1].name, a->principals[i].name) < 0);
    const cof_principal *al = cof_access_find(a, "alice");
    assert_non_null(al);
    assert_int_equal(al->budget_per_hour, 500);
    assert_int_equal(al->ngrants, 2);
    assert_int_equal(al->grants[0].role, COF_ROLE_SUPPORT);
    assert_true(al->grants[0].expires > T0);
    assert_int_equal(al->grants[1].expires, 0);
    assert_null(cof_access_find(a, "nobody"));
    assert_ptr_equal(cof_access_by_cert(a, "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"),
                     cof_access_find(a, "mta1"));
    assert_null(cof_access_by_cert(a, "ff112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"));
    char none[65] = "";
    assert_null(cof_access_by_cert(a, none));
    cof_access_free(a);
}

typedef struct {
    const char *doc;
    cof_status st;
    const char *in_msg; /* substring the error detail must contain */
} bad_case;

#define HEAD "{\"format\":\"coffer-access-1\",\"version\":1,\"updated\":\"2026-11-23T10:00:00Z\"," \
             "\"listeners\":{\"api\":\"127.0.0.1:8443\"},"
#define P1(body) HEAD "\"principals\":{\"alice\":" body "}}"
#define G1(body) P1("{\"grants\":[" body "]}")

static void test_parse_invalid(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        { "", COF_BADINPUT, "test" },
        { "[]", COF_BADINPUT, "must be a JSON object" },
        { "{\"format\":\"coffer-access-1\"} x", COF_BADINPUT, "line" },
        { HEAD "\"principals\":{}, \"verison\": 2}", COF_BADINPUT, "verison: unknown key" },
        { HEAD "\"principals\":{}, \"bad key!\": 2}", COF_BADINPUT, "?: unknown key" },
        { "{\"format\":\"coffer-access-2\",\"version\":1}", COF_BADINPUT, "format" },
        { "{\"format\":\"coffer-access-1\",\"version\":0,\"updated\":\"2026-11-23T10:00:00Z\","
          "\"listeners\":{},\"principals\":{}}", COF_BADINPUT, "version" },
        { "{\"format\":\"coffer-access-1\",\"version\":1,\"updated\":\"2026-11-23\","
          "\"listeners\":{},\"principals\":{}}", COF_BADINPUT, "updated" },
        { "{\"format\":\"coffer-access-1\",\"version\":1,\"updated\":\"2026-11-23T10:00:00+01:00\","
          "\"listeners\":{},\"principals\":{}}", COF_BADINPUT, "updated" },
        { "{\"format\":\"coffer-access-1\",\"version\":1,\"updated\":\"2026-11-23T10:00:00Z\","
          "\"principals\":{}}", COF_BADINPUT, "listeners" },
        { "{\"format\":\"coffer-access-1\",\"version\":1,\"updated\":\"2026-11-23T10:00:00Z\","
          "\"listeners\":{\"api\":\"127.0.0.1\"},\"principals\":{}}", COF_BADINPUT, "listeners.api" },
        { "{\"format\":\"coffer-access-1\",\"version\":1,\"updated\":\"2026-11-23T10:00:00Z\","
          "\"listeners\":{\"smtp\":\"127.0.0.1:25\"},\"principals\":{}}", COF_BADINPUT,
          "listeners.smtp: unknown key" },
        { HEAD "\"principals\":{\"al ice\":{\"grants\":[]}}}", COF_BADINPUT, "principal name" },
        { HEAD "\"principals\":{\"" "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
          "\":{\"grants\":[]}}}", COF_BADINPUT, "principal name" },
        { P1("{\"grants\":[], \"suspend\": true}"), COF_BADINPUT,
          "principals.alice.suspend: unknown key" },
        { P1("{}"), COF_BADINPUT, "principals.alice.grants: missing" },
        { P1("{\"grants\":[], \"suspended\": 1}"), COF_BADINPUT, "principals.alice.suspended" },
        { P1("{\"grants\":[], \"budget_per_hour\": -1}"), COF_BADINPUT,
          "principals.alice.budget_per_hour" },
        { P1("{\"grants\":[], \"cert_sha256\": \"ABCD\"}"), COF_BADINPUT,
          "principals.alice.cert_sha256" },
        { G1("{\"role\":\"root\",\"tenants\":[\"acme\"]}"), COF_BADINPUT,
          "principals.alice.grants[0].role: unknown role" },
        { G1("{\"role\":\"support\",\"tenants\":[\"acme\"]},{\"role\":\"Support\",\"tenants\":[\"a\"]}"),
          COF_BADINPUT, "principals.alice.grants[1].role" },
        { G1("{\"role\":\"support\",\"tenant\":[\"acme\"]}"), COF_BADINPUT,
          "principals.alice.grants[0].tenant: unknown key" },
        { G1("{\"role\":\"support\",\"tenants\":[]}"), COF_BADINPUT,
          "principals.alice.grants[0].tenants: empty" },
        { G1("{\"role\":\"support\",\"tenants\":[\"acme\",\"ac me\"]}"), COF_BADINPUT,
          "principals.alice.grants[0].tenants[1]" },
        { G1("{\"role\":\"support\",\"tenants\":[\"acme\",\"acme\"]}"), COF_BADINPUT,
          "principals.alice.grants[0].tenants[1]: tenant named twice" },
        { G1("{\"role\":\"customer\",\"tenants\":[\"*\"]}"), COF_BADINPUT,
          "principals.alice.grants[0].tenants[0]: a customer grant never names \"*\"" },
        { G1("{\"role\":\"customer\",\"tenants\":[\"acme\",\"beta\"]}"), COF_BADINPUT,
          "principals.alice.grants[0].tenants: a customer grant names exactly one tenant" },
        { G1("{\"role\":\"support\",\"tenants\":[\"acme\"],\"expires\":\"tomorrow\"}"),
          COF_BADINPUT, "principals.alice.grants[0].expires" },
        { G1("{\"role\":\"support\",\"tenants\":[\"acme\"],\"expires\":\"1969-12-31T00:00:00Z\"}"),
          COF_BADINPUT, "principals.alice.grants[0].expires" },
        /* duplicate keys: at the top, in a principal, and two principals of one name */
        { HEAD "\"principals\":{}, \"version\": 2}", COF_BADINPUT, "duplicate" },
        { P1("{\"grants\":[], \"suspended\": false, \"suspended\": true}"), COF_BADINPUT,
          "duplicate" },
        { HEAD "\"principals\":{\"a\":{\"grants\":[]},\"a\":{\"grants\":[]}}}", COF_BADINPUT,
          "duplicate" },
        /* one certificate for two principals is ambiguous */
        { HEAD "\"principals\":{\"a\":{\"grants\":[],\"cert_sha256\":"
          "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"},"
          "\"b\":{\"grants\":[],\"cert_sha256\":"
          "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}}}",
          COF_BADINPUT, "principals.b.cert_sha256" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cof_access *a = NULL;
        cof_err_clear();
        cof_status st = cof_access_parse(cases[i].doc, strlen(cases[i].doc), "test", &a);
        if (st != cases[i].st || !strstr(cof_err_msg(), cases[i].in_msg))
            fprintf(stderr, "case %zu: status %d, detail '%s' (want '%s')\n", i, st,
                    cof_err_msg(), cases[i].in_msg);
        assert_int_equal(st, cases[i].st);
        assert_non_null(strstr(cof_err_msg(), cases[i].in_msg));
        assert_null(a);
    }
}

static void test_parse_limits(void **state)
{
    (void)state;
    /* Oversized: refused before parsing, whatever the content. */
    size_t big = COF_MAX_ACCESS_BYTES + 1;
    char *b = malloc(big);
    assert_non_null(b);
    memset(b, ' ', big);
    cof_access *a = NULL;
    assert_int_equal(cof_access_parse(b, big, "test", &a), COF_LIMIT);
    free(b);
    /* Too many tenants in a grant. */
    char *doc = malloc(64 * 1024);
    assert_non_null(doc);
    static const char pre_t[] =
        HEAD "\"principals\":{\"alice\":{\"grants\":[{\"role\":\"support\",\"tenants\":[";
    static const char pre_g[] = HEAD "\"principals\":{\"alice\":{\"grants\":[";
    size_t off = (size_t)snprintf(doc, 64 * 1024, "%s", pre_t);
    for (int i = 0; i <= COF_MAX_GRANT_TENANTS; i++)
        off += (size_t)snprintf(doc + off, 64 * 1024 - off, "%s\"t%d\"", i ? "," : "", i);
    snprintf(doc + off, 64 * 1024 - off, "]}]}}}");
    assert_int_equal(cof_access_parse(doc, strlen(doc), "test", &a), COF_LIMIT);
    /* Too many grants. */
    off = (size_t)snprintf(doc, 64 * 1024, "%s", pre_g);
    for (int i = 0; i <= COF_MAX_GRANTS; i++)
        off += (size_t)snprintf(doc + off, 64 * 1024 - off,
                                "%s{\"role\":\"analyst\",\"tenants\":[\"t\"]}", i ? "," : "");
    snprintf(doc + off, 64 * 1024 - off, "]}}}");
    assert_int_equal(cof_access_parse(doc, strlen(doc), "test", &a), COF_LIMIT);
    /* Deep nesting is refused (jansson's depth bound, or our structure check). */
    off = 0;
    for (int i = 0; i < 5000; i++)
        doc[off++] = '[';
    doc[off] = 0;
    assert_int_equal(cof_access_parse(doc, off, "test", &a), COF_BADINPUT);
    free(doc);
    assert_null(a);
}

static void test_perms(void **state)
{
    (void)state;
    cof_access *a = parse_ok(good_doc);
    int64_t now = T0; /* alice's support grant is live until 2026-12-31 */
    int64_t later;
    assert_int_equal(cof_time_parse(COF_STR_LIT("2027-01-01T00:00:00Z"), 0, &later), COF_OK);
    const cof_principal *al = cof_access_find(a, "alice");
    assert_int_equal(cof_access_perms(a, al, "acme", now), COF_PERM_TRAIL | COF_PERM_STATS);
    assert_int_equal(cof_access_perms(a, al, "beta", now), COF_PERM_STATS);
    assert_int_equal(cof_access_perms(a, al, "gamma", now), 0);
    assert_int_equal(cof_access_perms(a, al, NULL, now), 0); /* no "*" grant */
    /* expiry: the support grant is gone, analyst (no expiry) stays */
    assert_int_equal(cof_access_perms(a, al, "acme", later), COF_PERM_STATS);
    assert_int_equal(cof_access_any_perms(a, al, now), COF_PERM_TRAIL | COF_PERM_STATS);
    assert_int_equal(cof_access_any_perms(a, al, later), COF_PERM_STATS);
    /* wildcard grants hold on every tenant and on NULL */
    const cof_principal *mta = cof_access_find(a, "mta1");
    assert_int_equal(cof_access_perms(a, mta, "anything", now), COF_PERM_INGEST);
    assert_int_equal(cof_access_perms(a, mta, NULL, now), COF_PERM_INGEST);
    /* admin never gets TRAIL; the auditor grant expired before T0 */
    const cof_principal *boss = cof_access_find(a, "boss");
    assert_int_equal(cof_access_perms(a, boss, "acme", now), COF_PERM_ADMIN | COF_PERM_METRICS);
    assert_int_equal(cof_access_any_perms(a, boss, now) & (COF_PERM_TRAIL | COF_PERM_AUDIT), 0);
    assert_int_equal(cof_access_perms(a, boss, "acme", T0 - 60 * 86400 * US) & COF_PERM_AUDIT,
                     COF_PERM_AUDIT);
    const cof_principal *cu = cof_access_find(a, "cust.acme@x");
    assert_int_equal(cof_access_perms(a, cu, "acme", now), COF_PERM_TRAIL | COF_PERM_STATS);
    assert_int_equal(cof_access_perms(a, cu, "beta", now), 0);
    /* suspended: nothing, even with "*" */
    const cof_principal *gone = cof_access_find(a, "gone");
    assert_int_equal(cof_access_perms(a, gone, "acme", now), 0);
    assert_int_equal(cof_access_any_perms(a, gone, now), 0);
    assert_int_equal(cof_access_perms(a, NULL, "acme", now), 0);
    const cof_principal *prom = cof_access_find(a, "prom");
    assert_int_equal(cof_access_any_perms(a, prom, now), COF_PERM_METRICS);

    /* scope */
    int all;
    const char *names[8];
    uint32_t n;
    cof_access_scope(a, al, COF_PERM_STATS, now, &all, names, 8, &n);
    assert_int_equal(all, 0);
    assert_int_equal(n, 2);
    assert_string_equal(names[0], "acme");
    assert_string_equal(names[1], "beta");
    cof_access_scope(a, al, COF_PERM_TRAIL, now, &all, names, 8, &n);
    assert_int_equal(n, 1);
    assert_string_equal(names[0], "acme");
    cof_access_scope(a, al, COF_PERM_TRAIL | COF_PERM_STATS, now, &all, names, 8, &n);
    assert_int_equal(n, 1); /* the union of two grants on acme */
    cof_access_scope(a, al, COF_PERM_TRAIL, later, &all, names, 8, &n);
    assert_int_equal(n, 0);
    cof_access_scope(a, al, COF_PERM_STATS, now, &all, names, 1, &n);
    assert_int_equal(n, 1); /* capped */
    cof_access_scope(a, mta, COF_PERM_INGEST, now, &all, names, 8, &n);
    assert_int_equal(all, 1);
    assert_int_equal(n, 0);
    cof_access_scope(a, mta, COF_PERM_TRAIL, now, &all, names, 8, &n);
    assert_int_equal(all, 0);
    assert_int_equal(n, 0);
    cof_access_scope(a, gone, COF_PERM_TRAIL, now, &all, names, 8, &n);
    assert_int_equal(all, 0);
    assert_int_equal(n, 0);
    cof_access_free(a);
}

static void test_roles(void **state)
{
    (void)state;
    for (int r = 0; r < COF_NROLES; r++) {
        cof_role back;
        assert_int_equal(cof_role_parse(cof_str_c(cof_role_name((cof_role)r)), &back), COF_OK);
        assert_int_equal(back, r);
        assert_int_not_equal(cof_role_perms((cof_role)r), 0);
    }
    cof_role x;
    assert_int_equal(cof_role_parse(COF_STR_LIT("superuser"), &x), COF_BADINPUT);
    assert_int_equal(cof_role_parse(COF_STR_LIT("Admin"), &x), COF_BADINPUT);
    assert_int_equal(cof_role_perms(COF_ROLE_ADMIN) & COF_PERM_TRAIL, 0);
    assert_int_equal(cof_role_perms(COF_ROLE_AUDITOR) & COF_PERM_TRAIL, 0);
    assert_int_equal(cof_role_perms(COF_ROLE_ANALYST), COF_PERM_STATS);
    assert_int_equal(cof_role_perms(COF_ROLE_SUPPORT), COF_PERM_TRAIL);
}

static void test_round_trip(void **state)
{
    (void)state;
    cof_access *a = parse_ok(good_doc), *b = NULL, *c = NULL;
    char *d1 = NULL, *d2 = NULL, *d3 = NULL;
    size_t n1, n2, n3;
    assert_int_equal(cof_access_dump(a, &d1, &n1), COF_OK);
    assert_int_equal(strlen(d1), n1);
    assert_int_equal(cof_access_parse(d1, n1, "dump", &b), COF_OK);
    assert_int_equal(cof_access_dump(b, &d2, &n2), COF_OK);
    assert_string_equal(d1, d2);
    assert_int_equal(cof_access_clone(b, &c), COF_OK);
    assert_int_equal(cof_access_dump(c, &d3, &n3), COF_OK);
    assert_string_equal(d1, d3);
    assert_true(b->version == 7 && b->updated == a->updated);
    assert_int_equal(cof_access_find(b, "alice")->grants[0].expires,
                     cof_access_find(a, "alice")->grants[0].expires);
    /* mutators keep the document valid and sorted */
    cof_principal *p;
    assert_int_equal(cof_access_upsert(c, "aaron", &p), COF_OK);
    const char *t1[] = { "acme" }, *t2[] = { "*" }, *t3[] = { "a", "a" }, *t4[] = { "a b" };
    assert_int_equal(cof_access_add_grant(p, COF_ROLE_CUSTOMER, t1, 1, 0), COF_OK);
    assert_int_equal(cof_access_add_grant(p, COF_ROLE_CUSTOMER, t2, 1, 0), COF_BADINPUT);
    assert_int_equal(cof_access_add_grant(p, COF_ROLE_CUSTOMER, t3, 2, 0), COF_BADINPUT);
    assert_int_equal(cof_access_add_grant(p, COF_ROLE_SUPPORT, t3, 2, 0), COF_BADINPUT);
    assert_int_equal(cof_access_add_grant(p, COF_ROLE_SUPPORT, t4, 1, 0), COF_BADINPUT);
    assert_int_equal(cof_access_add_grant(p, (cof_role)99, t1, 1, 0), COF_BADINPUT);
    assert_int_equal(p->ngrants, 1);
    assert_int_equal(cof_access_upsert(c, "bad name", &p), COF_BADINPUT);
    assert_int_equal(cof_access_upsert(c, "alice", &p), COF_OK);
    assert_int_equal(p->ngrants, 2);
    assert_string_equal(c->principals[0].name, "aaron");
    free(d3);
    d3 = NULL;
    assert_int_equal(cof_access_dump(c, &d3, &n3), COF_OK);
    cof_access_free(b);
    b = NULL;
    assert_int_equal(cof_access_parse(d3, n3, "dump", &b), COF_OK);
    assert_int_equal(b->nprincipals, 7);
    /* a new document is valid too */
    cof_access *e = NULL;
    char *d4 = NULL;
    size_t n4;
    assert_int_equal(cof_access_new(&e), COF_OK);
    assert_int_equal(e->version, 1);
    assert_int_equal(cof_access_dump(e, &d4, &n4), COF_OK);
    cof_access_free(e);
    e = NULL;
    assert_int_equal(cof_access_parse(d4, n4, "new", &e), COF_OK);
    assert_string_equal(e->listeners.api, "127.0.0.1:8443");
    assert_string_equal(e->listeners.syslog_tls, "127.0.0.1:6514");
    cof_access_free(e);
    free(d1);
    free(d2);
    free(d3);
    free(d4);
    cof_access_free(a);
    cof_access_free(b);
    cof_access_free(c);
}

/* ---------------------------------------------------------------- files and tokens */

typedef struct {
    char dir[64];
    uint8_t key[32];
} fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (!f || sodium_init() < 0)
        return -1;
    snprintf(f->dir, sizeof f->dir, "/tmp/cof-acc-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    randombytes_buf(f->key, sizeof f->key);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    int rc = system(cmd);
    free(f);
    return rc == 0 ? 0 : -1;
}

static void test_save_load(void **state)
{
    fx *f = *state;
    char path[128];
    cof_access *a = parse_ok(good_doc), *b = NULL;
    assert_int_equal(cof_access_load(f->dir, &b), COF_NOTFOUND);
    assert_int_equal(cof_access_save(a, f->dir), COF_OK);
    snprintf(path, sizeof path, "%s/access.json", f->dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    assert_int_equal(cof_access_load(f->dir, &b), COF_OK);
    assert_int_equal(b->nprincipals, a->nprincipals);
    cof_access_free(b);
    b = NULL;
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(cof_access_load(f->dir, &b), COF_DENIED);
    assert_non_null(strstr(cof_err_msg(), "chmod 600"));
    assert_int_equal(chmod(path, 0600), 0);
    /* a symbolic link is not followed */
    char real[160];
    snprintf(real, sizeof real, "%s/real.json", f->dir);
    assert_int_equal(rename(path, real), 0);
    assert_int_equal(symlink(real, path), 0);
    assert_int_not_equal(cof_access_load(f->dir, &b), COF_OK);
    assert_null(b);
    cof_access_free(a);
}

static cof_tokens *topen(fx *f)
{
    cof_tokens *t = NULL;
    cof_status st = cof_tokens_open(f->dir, f->key, &t);
    if (st)
        fprintf(stderr, "tokens open: %s\n", cof_err_msg());
    assert_int_equal(st, COF_OK);
    return t;
}

static cof_status check(cof_tokens *t, const char *tok, int64_t now, const char **why)
{
    cof_token_info info;
    return cof_tokens_check(t, cof_str_c(tok), now, &info, why);
}

static void test_tokens_basic(void **state)
{
    fx *f = *state;
    cof_tokens *t = topen(f);
    char tok[COF_TOKEN_STRLEN + 1], tok2[COF_TOKEN_STRLEN + 1];
    cof_token_info info, got;
    int64_t now = cof_time_now_us();
    const char *why = NULL;
    assert_int_equal(cof_tokens_create(t, "alice", now + 3600 * US, tok, &info), COF_OK);
    assert_int_equal(strlen(tok), COF_TOKEN_STRLEN);
    assert_memory_equal(tok, "cof_", 4);
    assert_memory_equal(tok + 4, info.id, COF_TOKEN_IDLEN);
    assert_int_equal(tok[20], '_');
    char id[COF_TOKEN_IDLEN + 1];
    assert_true(cof_token_parse(cof_str_c(tok), id));
    assert_string_equal(id, info.id);
    assert_string_equal(info.principal, "alice");
    /* valid */
    assert_int_equal(cof_tokens_check(t, cof_str_c(tok), now, &got, &why), COF_OK);
    assert_null(why);
    assert_string_equal(got.principal, "alice");
    assert_string_equal(got.id, info.id);
    /* expired */
    assert_int_equal(check(t, tok, now + 3600 * US, &why), COF_DENIED);
    assert_string_equal(why, "expired");
    /* never-expiring token, then revoked */
    assert_int_equal(cof_tokens_create(t, "mta1", 0, tok2, &info), COF_OK);
    assert_int_not_equal(strcmp(tok, tok2), 0);
    assert_int_equal(check(t, tok2, now + 100LL * 365 * 86400 * US, &why), COF_OK);
    assert_int_equal(cof_tokens_revoke(t, info.id, now), COF_OK);
    assert_int_equal(check(t, tok2, now, &why), COF_DENIED);
    assert_string_equal(why, "revoked");
    assert_int_equal(cof_tokens_revoke(t, info.id, now + 5), COF_OK); /* idempotent */
    assert_int_equal(cof_tokens_revoke(t, "0123456789abcdef", now), COF_NOTFOUND);
    assert_int_equal(cof_tokens_revoke(t, "xyz", now), COF_BADINPUT);
    /* malformed */
    static const char *malformed[] = {
        "", "cof_", "Bearer x",
        "cof_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",   /* 63 */
        "cof_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", /* 65 */
        "coF_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "cof_0123456789ABCDEF_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "cof_0123456789abcdef-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "cof_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "cof_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA+",
        "cof_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB", /* non-canonical */
    };
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        why = NULL;
        assert_int_equal(check(t, malformed[i], now, &why), COF_DENIED);
        assert_string_equal(why, "malformed");
    }
    /* at most COF_TOKEN_STRLEN bytes are looked at: a valid token plus junk is refused */
    char longer[COF_TOKEN_STRLEN + 2];
    memcpy(longer, tok, COF_TOKEN_STRLEN);
    longer[COF_TOKEN_STRLEN] = 'x';
    longer[COF_TOKEN_STRLEN + 1] = 0;
    assert_int_equal(check(t, longer, now, &why), COF_DENIED);
    assert_string_equal(why, "malformed");
    assert_int_equal(cof_tokens_check(t, cof_str_make(tok, COF_TOKEN_STRLEN - 1), now, &got, &why),
                     COF_DENIED);
    /* well-formed but unknown id */
    char unk[COF_TOKEN_STRLEN + 1];
    memcpy(unk, tok, sizeof unk);
    memcpy(unk + 4, "ffffffffffffffff", 16);
    if (strcmp(info.id, "ffffffffffffffff") != 0) {
        assert_int_equal(check(t, unk, now, &why), COF_DENIED);
        assert_string_equal(why, "unknown");
    }
    /* bad principal name */
    assert_int_equal(cof_tokens_create(t, "no spaces", 0, tok2, &info), COF_BADINPUT);
    cof_tokens_close(t);
}

/* Every single-character change of a valid token is refused, and the secret part gives
 * "mismatch" (never OK) when it stays well-formed. */
static void test_tokens_one_char(void **state)
{
    fx *f = *state;
    cof_tokens *t = topen(f);
    char tok[COF_TOKEN_STRLEN + 1];
    cof_token_info info;
    int64_t now = cof_time_now_us();
    const char *why;
    assert_int_equal(cof_tokens_create(t, "bob", 0, tok, &info), COF_OK);
    int mismatches = 0;
    for (size_t i = 0; i < COF_TOKEN_STRLEN; i++) {
        static const char alphabet[] = "0123456789abcdefABCXYZ-_";
        for (size_t k = 0; alphabet[k]; k++) {
            char m[COF_TOKEN_STRLEN + 1];
            memcpy(m, tok, sizeof m);
            if (m[i] == alphabet[k])
                continue;
            m[i] = alphabet[k];
            why = NULL;
            assert_int_equal(check(t, m, now, &why), COF_DENIED);
            assert_non_null(why);
            if (i >= 21 && !strcmp(why, "mismatch"))
                mismatches++;
            if (i >= 21 && i < COF_TOKEN_STRLEN - 1)
                assert_string_equal(why, "mismatch"); /* well-formed secrets */
        }
    }
    assert_true(mismatches > 40 * 20);
    assert_int_equal(check(t, tok, now, &why), COF_OK);
    cof_tokens_close(t);
}

static void test_tokens_wrong_key(void **state)
{
    fx *f = *state;
    cof_tokens *t = topen(f);
    char tok[COF_TOKEN_STRLEN + 1];
    cof_token_info info;
    const char *why;
    assert_int_equal(cof_tokens_create(t, "bob", 0, tok, &info), COF_OK);
    cof_tokens_close(t);
    f->key[0] ^= 1; /* another store's hash key */
    t = topen(f);
    assert_int_equal(check(t, tok, cof_time_now_us(), &why), COF_DENIED);
    assert_string_equal(why, "mismatch");
    cof_tokens_close(t);
}

static char *slurp(const char *path)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char *b = calloc(1, 1 << 20);
    assert_non_null(b);
    size_t n = fread(b, 1, (1 << 20) - 1, fp);
    (void)n;
    fclose(fp);
    return b;
}

static void test_tokens_file(void **state)
{
    fx *f = *state;
    cof_tokens *t = topen(f);
    char tok[COF_TOKEN_STRLEN + 1], path[128];
    cof_token_info info;
    const char *why;
    int64_t now = cof_time_now_us();
    assert_int_equal(cof_tokens_create(t, "carol", 0, tok, &info), COF_OK);
    snprintf(path, sizeof path, "%s/tokens.json", f->dir);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 07777, 0600);
    /* the token string and its secret part are nowhere in the file */
    char *body = slurp(path);
    assert_null(strstr(body, tok));
    assert_null(strstr(body, tok + 21));
    assert_non_null(strstr(body, info.id));
    free(body);
    /* a file opened up to others is refused on the next check (fail closed) */
    assert_int_equal(chmod(path, 0644), 0);
    /* touch it so the change is seen even within one timestamp tick */
    FILE *fp = fopen(path, "ab");
    assert_non_null(fp);
    fputs(" ", fp);
    fclose(fp);
    assert_int_not_equal(check(t, tok, now, &why), COF_OK);
    assert_string_equal(why, "unavailable");
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(check(t, tok, now, &why), COF_OK);
    /* corrupt content: refused at open and at check */
    fp = fopen(path, "wb");
    assert_non_null(fp);
    fputs("{\"format\":\"coffer-tokens-1\",\"tokens\":[{\"id\":\"zz\"}]}", fp);
    fclose(fp);
    assert_int_not_equal(check(t, tok, now, &why), COF_OK);
    cof_tokens_close(t);
    cof_tokens *t2 = NULL;
    assert_int_equal(cof_tokens_open(f->dir, f->key, &t2), COF_CORRUPT);
    assert_null(t2);
    /* deleted: open creates an empty one; the old token is then unknown */
    assert_int_equal(unlink(path), 0);
    t = topen(f);
    assert_int_equal(check(t, tok, now, &why), COF_DENIED);
    assert_string_equal(why, "unknown");
    cof_token_info *list = NULL;
    size_t n = 99;
    assert_int_equal(cof_tokens_list(t, &list, &n), COF_OK);
    assert_int_equal(n, 0);
    free(list);
    cof_tokens_close(t);
}

static void test_tokens_parse_mem(void **state)
{
    (void)state;
    static const struct { const char *doc; cof_status st; } cases[] = {
        { "{\"format\":\"coffer-tokens-1\",\"tokens\":[]}", COF_OK },
        { "{\"format\":\"coffer-tokens-1\",\"tokens\":[{\"id\":\"0123456789abcdef\","
          "\"principal\":\"a\",\"created\":\"2026-11-23T10:00:00Z\",\"hash\":"
          "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}]}", COF_OK },
        { "{\"format\":\"coffer-tokens-1\",\"tokens\":[{\"id\":\"0123456789abcdef\","
          "\"principal\":\"a\",\"created\":\"2026-11-23T10:00:00Z\",\"hash\":"
          "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"},"
          "{\"id\":\"0123456789abcdef\","
          "\"principal\":\"b\",\"created\":\"2026-11-23T10:00:00Z\",\"hash\":"
          "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}]}", COF_CORRUPT },
        { "{\"format\":\"coffer-tokens-1\",\"tokens\":[{\"id\":\"0123456789abcdef\","
          "\"principal\":\"a\",\"created\":\"2026-11-23T10:00:00Z\",\"secret\":\"x\",\"hash\":"
          "\"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\"}]}", COF_CORRUPT },
        { "{\"format\":\"coffer-tokens-1\",\"tokens\":[],\"extra\":1}", COF_CORRUPT },
        { "{\"format\":\"coffer-tokens-1\",\"tokens\":[],\"tokens\":[]}", COF_CORRUPT },
        { "[]", COF_CORRUPT },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cof_token_entry *e = NULL;
        size_t n = 0;
        assert_int_equal(cof_tokens_parse_mem(cases[i].doc, strlen(cases[i].doc), "t", &e, &n),
                         cases[i].st);
        free(e);
    }
}

/* Two handles on one directory (server and CLI): changes made through one reach the
 * other on its next check. */
static void test_tokens_reload(void **state)
{
    fx *f = *state;
    cof_tokens *server = topen(f), *cli = topen(f);
    char tok[COF_TOKEN_STRLEN + 1];
    cof_token_info info;
    const char *why;
    int64_t now = cof_time_now_us();
    assert_int_equal(cof_tokens_create(cli, "dave", 0, tok, &info), COF_OK);
    assert_int_equal(check(server, tok, now, &why), COF_OK);
    assert_int_equal(cof_tokens_revoke(cli, info.id, now), COF_OK);
    assert_int_equal(check(server, tok, now, &why), COF_DENIED);
    assert_string_equal(why, "revoked");
    /* and a third handle made later agrees */
    cof_tokens *third = topen(f);
    assert_int_equal(check(third, tok, now, &why), COF_DENIED);
    assert_string_equal(why, "revoked");
    /* revocations of several tokens in a row are all seen (same-size rewrites) */
    char toks[5][COF_TOKEN_STRLEN + 1];
    cof_token_info infos[5];
    for (int i = 0; i < 5; i++)
        assert_int_equal(cof_tokens_create(third, "erin", 0, toks[i], &infos[i]), COF_OK);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(check(server, toks[i], now, &why), COF_OK);
        assert_int_equal(cof_tokens_revoke(cli, infos[i].id, now), COF_OK);
        assert_int_equal(check(server, toks[i], now, &why), COF_DENIED);
        assert_string_equal(why, "revoked");
    }
    cof_token_info *list = NULL;
    size_t n = 0;
    assert_int_equal(cof_tokens_list(server, &list, &n), COF_OK);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++)
        assert_true(list[i].revoked > 0);
    free(list);
    cof_tokens_close(third);
    cof_tokens_close(cli);
    cof_tokens_close(server);
}

/* Two processes creating tokens at once lose nothing (flock on tokens.lock). */
static void test_tokens_concurrent(void **state)
{
    fx *f = *state;
    enum { PER = 25 };
    pid_t kids[2];
    for (int k = 0; k < 2; k++) {
        kids[k] = fork();
        assert_true(kids[k] >= 0);
        if (kids[k] == 0) {
            cof_tokens *t = NULL;
            if (cof_tokens_open(f->dir, f->key, &t) != COF_OK)
                _exit(1);
            for (int i = 0; i < PER; i++) {
                char tok[COF_TOKEN_STRLEN + 1];
                cof_token_info info;
                if (cof_tokens_create(t, k ? "p1" : "p0", 0, tok, &info) != COF_OK)
                    _exit(2);
            }
            cof_tokens_close(t);
            _exit(0);
        }
    }
    for (int k = 0; k < 2; k++) {
        int ws = 0;
        assert_int_equal(waitpid(kids[k], &ws, 0), kids[k]);
        assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    }
    cof_tokens *t = topen(f);
    cof_token_info *list = NULL;
    size_t n = 0;
    assert_int_equal(cof_tokens_list(t, &list, &n), COF_OK);
    assert_int_equal(n, 2 * PER);
    free(list);
    cof_tokens_close(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_invalid),
        cmocka_unit_test(test_parse_limits),
        cmocka_unit_test(test_perms),
        cmocka_unit_test(test_roles),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_one_char, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_wrong_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_file, setup, teardown),
        cmocka_unit_test(test_tokens_parse_mem),
        cmocka_unit_test_setup_teardown(test_tokens_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens_concurrent, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
