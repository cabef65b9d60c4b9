/* test_guard.c - back-off, lockout, rate and unseal budget (guard.h), on a clock the
 * test drives itself (every call takes the time). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

#include <cmocka.h>

#include "guard.h"
#include "seal.h"

#define SEC 1000000LL

static cof_guard *mk(uint32_t lockout, uint32_t rate)
{
    cof_guard_opts o = { .free_failures = 3, .lockout_failures = lockout, .window_seconds = 600,
                         .max_backoff_seconds = 8, .lockout_seconds = 100, .rate_per_second = rate,
                         .rate_burst = rate, .budget_per_hour = 50 };
    cof_guard *g = NULL;
    assert_int_equal(cof_guard_new(&o, &g), COF_OK);
    return g;
}

static void backoff_then_lockout(void **st)
{
    (void)st;
    cof_guard *g = mk(8, 10);
    int64_t t = 1000 * SEC;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(cof_guard_wait(g, COF_GUARD_SOURCE, "10.0.0.1", t), 0);
        assert_int_equal(cof_guard_fail(g, COF_GUARD_SOURCE, "10.0.0.1", t), 0);
    }
    /* the 4th failure starts a 1 s back-off, the 5th 2 s, ... capped at 8 s */
    assert_int_equal(cof_guard_fail(g, COF_GUARD_SOURCE, "10.0.0.1", t), 0);
    assert_int_equal(cof_guard_wait(g, COF_GUARD_SOURCE, "10.0.0.1", t), 1);
    assert_int_equal(cof_guard_fail(g, COF_GUARD_SOURCE, "10.0.0.1", t), 0);
    assert_int_equal(cof_guard_wait(g, COF_GUARD_SOURCE, "10.0.0.1", t), 2);
    assert_int_equal(cof_guard_wait(g, COF_GUARD_SOURCE, "10.0.0.1", t + 3 * SEC), 0);
    /* other sources and the same name as a principal are separate */
    assert_int_equal(cof_guard_wait(g, COF_GUARD_SOURCE, "10.0.0.2", t), 0);
    assert_int_equal(cof_guard_wait(g, COF_GUARD_PRINCIPAL, "10.0.0.1", t), 0);
    assert_int_equal(cof_guard_fail(g, COF_GUARD_SOURCE, "10.0.0.1", t), 0); /* 6 */
    assert_int_equal(cof_guard_fail(g, COF_GUARD_SOURCE, "10.0.0.1", t), 0); /* 7 */
    assert_int_equal(cof_guard_fail(g, COF_GUARD_SOURCE, "10.0.0.1", t), 1); /* 8: lockout starts once */
    assert_int_equal(cof_guard_fail(g, COF_GUARD_SOURCE, "10.0.0.1", t), 0);
    assert_int_equal(cof_guard_wait(g, COF_GUARD_SOURCE, "10.0.0.1", t + 50 * SEC), 50);
    /* a success clears the back-off, never the lockout */
    cof_guard_ok(g, COF_GUARD_SOURCE, "10.0.0.1");
    assert_true(cof_guard_wait(g, COF_GUARD_SOURCE, "10.0.0.1", t + 50 * SEC) > 0);
    assert_int_equal(cof_guard_wait(g, COF_GUARD_SOURCE, "10.0.0.1", t + 101 * SEC), 0);
    cof_guard_stats s;
    cof_guard_stats_get(g, &s);
    assert_int_equal(s.lockouts, 1);
    assert_int_equal(s.failures, 9);
    cof_guard_free(g);
}

static void failures_expire(void **st)
{
    (void)st;
    cof_guard *g = mk(5, 10);
    int64_t t = 1000 * SEC;
    for (int i = 0; i < 4; i++)
        assert_int_equal(cof_guard_fail(g, COF_GUARD_PRINCIPAL, "alice", t), 0);
    /* after the window the count starts again: 4 more are not a lockout */
    t += 601 * SEC;
    for (int i = 0; i < 4; i++)
        assert_int_equal(cof_guard_fail(g, COF_GUARD_PRINCIPAL, "alice", t), 0);
    assert_int_equal(cof_guard_fail(g, COF_GUARD_PRINCIPAL, "alice", t), 1);
    cof_guard_free(g);
}

static void rate(void **st)
{
    (void)st;
    cof_guard *g = mk(5, 10);
    int64_t t = 1000 * SEC;
    int ok = 0;
    for (int i = 0; i < 25; i++)
        ok += cof_guard_rate(g, "bob", t);
    assert_int_equal(ok, 10); /* the burst */
    assert_int_equal(cof_guard_rate(g, "bob", t + SEC / 10), 1); /* refilled one */
    assert_int_equal(cof_guard_rate(g, "carol", t), 1);          /* per principal */
    cof_guard_free(g);
}

static void budget(void **st)
{
    (void)st;
    cof_guard *g = mk(5, 10);
    int64_t t = 3600 * SEC * 1000;
    int br = 0;
    assert_int_equal(cof_guard_budget(g, "sup", 0, 30, t, &br), 30);
    assert_int_equal(br, 0);
    assert_int_equal(cof_guard_budget(g, "sup", 0, 30, t, &br), 20); /* default 50/h */
    assert_int_equal(br, 1);
    assert_int_equal(cof_guard_budget(g, "sup", 0, 5, t, &br), 0);
    assert_int_equal(br, 0); /* the breach is reported once per hour */
    assert_int_equal(cof_guard_budget(g, "sup", 0, 5, t + 3600 * SEC, &br), 5); /* next hour */
    assert_int_equal(cof_guard_budget(g, "big", 500, 300, t, &br), 300); /* own budget */
    cof_guard_free(g);
}

static void many_keys_bounded(void **st)
{
    (void)st;
    cof_guard *g = mk(2, 10);
    int64_t t = 1000 * SEC;
    assert_int_equal(cof_guard_fail(g, COF_GUARD_SOURCE, "victim", t), 0);
    assert_int_equal(cof_guard_fail(g, COF_GUARD_SOURCE, "victim", t), 1);
    char k[32];
    for (int i = 0; i < 3 * COF_GUARD_MAX_KEYS; i++) { /* a flood of addresses */
        snprintf(k, sizeof k, "flood-%d", i);
        (void)cof_guard_fail(g, COF_GUARD_SOURCE, k, t + SEC);
    }
    /* the lockout survives the flood */
    assert_true(cof_guard_wait(g, COF_GUARD_SOURCE, "victim", t + 2 * SEC) > 0);
    cof_guard_free(g);
}

int main(void)
{
    if (cof_seal_init() != COF_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backoff_then_lockout), cmocka_unit_test(failures_expire),
        cmocka_unit_test(rate), cmocka_unit_test(budget), cmocka_unit_test(many_keys_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
