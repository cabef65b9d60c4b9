/* test_alert.c - the alert queue and the command sink (a real program run without a
 * shell), argument and configuration checks of the webhook sink. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "alert.h"

static char dir[64];

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}

static cof_status set(cof_config *c, const char *k, const char *v)
{
    return cof_config_set(c, cof_str_c(k), cof_str_c(v), "test");
}

static void test_command_sink(void **state)
{
    (void)state;
    char script[128], out[128], body[512];
    snprintf(script, sizeof script, "%s/sink.sh", dir);
    snprintf(out, sizeof out, "%s/out.jsonl", dir);
    snprintf(body, sizeof body, "#!/bin/sh\ncat >> %s\n", out);
    write_file(script, body, 0755);
    cof_config c;
    assert_int_equal(cof_config_init(&c), COF_OK);
    assert_int_equal(set(&c, "alert.syslog", "off"), COF_OK);
    assert_int_equal(set(&c, "alert.command", script), COF_OK);
    cof_alerts *a;
    assert_int_equal(cof_alerts_open(&c, &a), COF_OK);
    assert_int_equal(cof_alert_raise(a, "test_kind", COF_SEV_HIGH, "something happened",
                                     "{\"port\":6379}"), COF_OK);
    assert_int_equal(cof_alert_raise(a, "test_kind", COF_SEV_LOW, "second", NULL), COF_OK);
    assert_int_equal(cof_alert_raise(a, "k", COF_SEV_LOW, "bad details", "[1,2]"), COF_BADINPUT);
    assert_int_equal(cof_alert_raise(a, "k", COF_SEV_LOW, "bad details", "{"), COF_BADINPUT);
    assert_int_equal(cof_alerts_flush(a, 10000), COF_OK);
    cof_alert_stats s;
    cof_alerts_stats_get(a, &s);
    assert_int_equal(s.raised, 2);
    assert_int_equal(s.delivered, 2);
    assert_int_equal(s.failed, 0);
    cof_alerts_close(a);
    FILE *f = fopen(out, "r");
    assert_non_null(f);
    char line[2048];
    assert_non_null(fgets(line, sizeof line, f));
    json_t *j = json_loads(line, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "kind")), "test_kind");
    assert_string_equal(json_string_value(json_object_get(j, "severity")), "high");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "details"), "port")), 6379);
    assert_int_equal(strlen(json_string_value(json_object_get(j, "id"))), 32);
    assert_non_null(json_object_get(j, "host"));
    assert_non_null(json_object_get(j, "time"));
    json_decref(j);
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    cof_config_free(&c);
}

static void test_failing_command_retries(void **state)
{
    (void)state;
    char script[128];
    snprintf(script, sizeof script, "%s/fail.sh", dir);
    write_file(script, "#!/bin/sh\ncat >/dev/null\nexit 1\n", 0755);
    cof_config c;
    assert_int_equal(cof_config_init(&c), COF_OK);
    assert_int_equal(set(&c, "alert.syslog", "off"), COF_OK);
    assert_int_equal(set(&c, "alert.command", script), COF_OK);
    cof_alerts *a;
    assert_int_equal(cof_alerts_open(&c, &a), COF_OK);
    assert_int_equal(cof_alert_raise(a, "k", COF_SEV_HIGH, "s", NULL), COF_OK);
    /* The first try fails at once; the retry waits 1 s, the next 2 s: still queued. */
    assert_int_equal(cof_alerts_flush(a, 1500), COF_AGAIN);
    cof_alert_stats s;
    cof_alerts_stats_get(a, &s);
    assert_int_equal(s.delivered, 0);
    cof_alerts_close(a); /* drops what is left, frees everything */
    cof_config_free(&c);
}

static void test_webhook_config(void **state)
{
    (void)state;
    cof_config c;
    cof_alerts *a = NULL;
    char key[128], shortkey[128];
    snprintf(key, sizeof key, "%s/hook.key", dir);
    snprintf(shortkey, sizeof shortkey, "%s/short.key", dir);
    write_file(key, "0123456789abcdef0123456789abcdef0123456789abcdef\n", 0644);
    write_file(shortkey, "tooshort\n", 0600);
    assert_int_equal(cof_config_init(&c), COF_OK);
    assert_int_equal(set(&c, "alert.syslog", "off"), COF_OK);
    assert_int_equal(set(&c, "alert.webhook", "http://127.0.0.1:1/x"), COF_BADINPUT);
    assert_int_equal(set(&c, "alert.webhook", "https://127.0.0.1:1/x"), COF_OK);
    assert_int_not_equal(cof_alerts_open(&c, &a), COF_OK); /* no secret file */
    assert_int_equal(set(&c, "alert.webhook_secret_file", key), COF_OK);
    assert_int_equal(cof_alerts_open(&c, &a), COF_DENIED); /* 0644 */
    chmod(key, 0600);
    assert_int_equal(set(&c, "alert.webhook_secret_file", shortkey), COF_OK);
    assert_int_equal(cof_alerts_open(&c, &a), COF_BADINPUT); /* < 32 bytes */
    assert_int_equal(set(&c, "alert.webhook_secret_file", key), COF_OK);
    assert_int_equal(set(&c, "alert.webhook", "https://192.0.2.1/x"), COF_OK);
    assert_int_equal(cof_alerts_open(&c, &a), COF_DENIED); /* outside allowed_networks */
    assert_int_equal(set(&c, "alert.webhook", "https://127.0.0.1:1/x"), COF_OK);
    assert_int_equal(cof_alerts_open(&c, &a), COF_OK);
    cof_alerts_close(a);
    cof_config_free(&c);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/coffer-alert-test.XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_command_sink),
        cmocka_unit_test(test_failing_command_retries),
        cmocka_unit_test(test_webhook_config),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        rc = rc ? rc : 1;
    return rc;
}
