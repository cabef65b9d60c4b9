/* test_change.c - the evaluation of access changes (change_eval.c): what widens, what
 * narrows, each critical finding and the approvers it adds, and the governed sections
 * of access.json surviving a dump/parse round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "change.h"

#define US 1000000LL
#define NOW (1795428000LL * US)

static const char base_doc[] =
    "{ \"format\": \"coffer-access-1\", \"version\": 3, \"updated\": \"2026-11-23T10:00:00Z\",\n"
    "  \"listeners\": { \"api\": \"127.0.0.1:8443\", \"syslog_tls\": \"127.0.0.1:6514\",\n"
    "                 \"syslog_plain\": \"\" },\n"
    "  \"governance\": { \"approvals\": 2 },\n"
    "  \"retention\": { \"default_days\": 30, \"tenants\": { \"acme\": 90 } },\n"
    "  \"alerts\": { \"syslog\": true, \"command\": \"/usr/local/bin/page\" },\n"
    "  \"policies\": { \"*\": { \"subject\": \"drop\" } },\n"
    "  \"principals\": {\n"
    "    \"a1\": { \"grants\": [ { \"role\": \"admin\", \"tenants\": [\"*\"] } ] },\n"
    "    \"a2\": { \"grants\": [ { \"role\": \"admin\", \"tenants\": [\"*\"] } ] },\n"
    "    \"sup\": { \"grants\": [ { \"role\": \"support\", \"tenants\": [\"acme\", \"beta\"],\n"
    "                              \"expires\": \"2027-01-01T00:00:00Z\" } ] } } }\n";

static cof_config cfg;

static cof_access *doc(void)
{
    cof_access *a = NULL;
    assert_int_equal(cof_access_parse(base_doc, strlen(base_doc), "t", &a), COF_OK);
    return a;
}

/* Evaluate base -> edited; returns the change (caller frees). */
static cof_change *eval(cof_access *next)
{
    cof_access *cur = doc();
    cof_change *c = calloc(1, sizeof *c);
    assert_non_null(c);
    assert_int_equal(cof_change_evaluate(cur, next, &cfg, NOW, c), COF_OK);
    cof_access_free(cur);
    cof_access_free(next);
    return c;
}

static int has_finding(const cof_change *c, const char *check, cof_severity sev)
{
    for (uint32_t i = 0; i < c->nfindings; i++)
        if (!strcmp(c->findings[i].check, check) && c->findings[i].sev == sev)
            return 1;
    return 0;
}

static cof_principal *find(cof_access *a, const char *n)
{
    for (uint32_t i = 0; i < a->nprincipals; i++)
        if (!strcmp(a->principals[i].name, n))
            return &a->principals[i];
    return NULL;
}

static void identity_is_no_change(void **st)
{
    (void)st;
    cof_change *c = eval(doc());
    assert_int_equal(c->kind, COF_CHANGE_NARROW);
    assert_int_equal(c->required, 1);
    assert_int_equal(c->nfindings, 0);
    cof_change_free(c);
}

static void narrowing_needs_one(void **st)
{
    (void)st;
    cof_access *n = doc();
    cof_principal *p = find(n, "sup");
    free(p->grants[0].tenants[1]);
    p->grants[0].ntenants = 1; /* acme only */
    n->listeners.syslog_tls[0] = 0;
    cof_change *c = eval(n);
    assert_int_equal(c->kind, COF_CHANGE_NARROW);
    assert_int_equal(c->required, 1);
    cof_change_free(c);
    n = doc();
    find(n, "sup")->suspended = 1;
    c = eval(n);
    assert_int_equal(c->kind, COF_CHANGE_NARROW);
    cof_change_free(c);
}

static void longer_expiry_widens(void **st)
{
    (void)st;
    cof_access *n = doc();
    find(n, "sup")->grants[0].expires = 0; /* never */
    cof_change *c = eval(n);
    assert_int_equal(c->kind, COF_CHANGE_WIDEN);
    assert_int_equal(c->required, 2);
    assert_true(has_finding(c, "grant.no_expiry", COF_SEV_MEDIUM));
    cof_change_free(c);
}

static void critical_findings_add_an_approver(void **st)
{
    (void)st;
    struct { const char *check; void (*edit)(cof_access *); } cases[] = {
        { "listener.public_plain", NULL }, { "grant.all_tenants", NULL }, { "grant.new_admin", NULL },
        { "alerts.sink_removed", NULL }, { "retention.ceiling", NULL }, { "policy.subject_on", NULL },
        { "policy.clear_text", NULL }, { "governance.approvals", NULL } };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        cof_access *n = doc();
        const char *star = "*";
        cof_principal *p;
        switch (i) {
        case 0: snprintf(n->listeners.syslog_plain, sizeof n->listeners.syslog_plain, "0.0.0.0:514"); break;
        case 1:
            assert_int_equal(cof_access_upsert(n, "wide", &p), COF_OK);
            assert_int_equal(cof_access_add_grant(p, COF_ROLE_SUPPORT, &star, 1, NOW + 86400 * US), COF_OK);
            break;
        case 2:
            assert_int_equal(cof_access_add_grant(find(n, "sup"), COF_ROLE_ADMIN, &star, 1, NOW + 86400 * US),
                             COF_OK);
            break;
        case 3: n->gov.alert_command[0] = 0; break;
        case 4: n->gov.retention[0].days = 1000; break;
        case 5: n->gov.policies[0].policy = COF_P_SEAL | COF_P_BLIND; break;
        case 6:
            n->gov.policies[0].field = COF_F_RECIPIENT;
            n->gov.policies[0].policy = COF_P_KEEP;
            break;
        case 7:
            n->gov.single_admin = 1;
            n->gov.approvals = 1;
            break;
        }
        cof_change *c = eval(n);
        assert_int_equal(c->kind, COF_CHANGE_WIDEN);
        if (!has_finding(c, cases[i].check, COF_SEV_CRITICAL))
            fail_msg("case %zu: no critical %s", i, cases[i].check);
        assert_int_equal(c->required, 3);
        cof_change_free(c);
    }
}

static void lockdown_and_lift(void **st)
{
    (void)st;
    cof_access *n = doc();
    n->gov.lockdown_since = NOW;
    cof_change *c = eval(n);
    assert_int_equal(c->kind, COF_CHANGE_LOCKDOWN);
    assert_int_equal(c->required, 1);
    cof_change_free(c);
    /* lifting: evaluate locked -> unlocked */
    cof_access *locked = doc(), *open = doc();
    locked->gov.lockdown_since = NOW;
    cof_change *l = calloc(1, sizeof *l);
    assert_int_equal(cof_change_evaluate(locked, open, &cfg, NOW, l), COF_OK);
    assert_int_equal(l->kind, COF_CHANGE_LIFT);
    assert_int_equal(l->required, 2);
    cof_change_free(l);
    cof_access_free(locked);
    cof_access_free(open);
}

static void governed_round_trip(void **st)
{
    (void)st;
    cof_access *a = doc(), *b = NULL;
    a->gov.lockdown_since = NOW;
    snprintf(a->gov.lockdown_by, sizeof a->gov.lockdown_by, "a1");
    char *d1 = NULL, *d2 = NULL;
    size_t n1, n2;
    assert_int_equal(cof_access_dump(a, &d1, &n1), COF_OK);
    assert_int_equal(cof_access_parse(d1, n1, "dump", &b), COF_OK);
    assert_int_equal(cof_access_dump(b, &d2, &n2), COF_OK);
    assert_int_equal(n1, n2);
    assert_memory_equal(d1, d2, n1);
    assert_int_equal(cof_access_retention_days(b, "acme"), 90);
    assert_int_equal(cof_access_retention_days(b, "other"), 30);
    assert_true(cof_access_locked(b));
    assert_int_equal(cof_access_admins(b, NOW), 2);
    free(d1);
    free(d2);
    cof_access_free(a);
    cof_access_free(b);
}

static void bad_governed_sections(void **st)
{
    (void)st;
    const char *bad[] = { "\"governance\": { \"approvals\": 1 }", "\"governance\": { \"approvals\": 20 }",
                          "\"retention\": { \"tenants\": { \"bad name\": 3 } }",
                          "\"policies\": { \"acme\": { \"nosuchfield\": \"seal\" } }",
                          "\"alerts\": { \"pager\": \"x\" }", "\"lockdown\": { \"by\": \"x\" }" };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char buf[1024];
        snprintf(buf, sizeof buf, "{ \"format\": \"coffer-access-1\", \"version\": 1, \"updated\": "
                 "\"2026-11-23T10:00:00Z\", \"listeners\": {}, \"principals\": {}, %s }", bad[i]);
        cof_access *a = NULL;
        if (cof_access_parse(buf, strlen(buf), "t", &a) == COF_OK)
            fail_msg("accepted: %s", bad[i]);
    }
}

int main(void)
{
    if (cof_config_init(&cfg) != COF_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(identity_is_no_change), cmocka_unit_test(narrowing_needs_one),
        cmocka_unit_test(longer_expiry_widens), cmocka_unit_test(critical_findings_add_an_approver),
        cmocka_unit_test(lockdown_and_lift), cmocka_unit_test(governed_round_trip),
        cmocka_unit_test(bad_governed_sections),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
