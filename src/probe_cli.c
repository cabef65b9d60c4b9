/* probe_cli.c - `coffer probe TARGET...`: options, output (text table or JSON lines),
 * exit status, and --watch (repeat, alert on new findings, stop on SIGINT/SIGTERM).
 *
 * Exit status: 0 no finding at or above --fail-on (default high); 3 some finding
 * reaches it; 2 usage error or a refused target; 1 other errors. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "probe.h"
#include "progress.h"
#include "timefmt.h"

static const char usage_probe[] =
    "usage: coffer probe [OPTIONS] TARGET...\n"
    "\n"
    "Look at your own hosts the way an outside scanner would: which data stores answer\n"
    "without credentials and what they reveal (never reading records).\n"
    "TARGET: HOST, HOST:PORT, [V6]:PORT, CIDR (at most /16 or /112), or @FILE (one per line).\n"
    "Every target must lie inside allowed_networks (config; default loopback only).\n"
    "\n"
    "  --ports LIST|RANGE|all   ports to scan (default: the detectors' well-known ports)\n"
    "  --json                   one JSON object per finding, then a summary object\n"
    "  --fail-on SEVERITY       exit 3 if a finding is at least this (default high)\n"
    "  --min-severity SEVERITY  show findings from this severity up (default info)\n"
    "  --watch INTERVAL         repeat (e.g. 5m); alert (syslog, webhook, command) on each new\n"
    "                           finding of severity low or above\n"
    "  --rounds N               with --watch: stop after N rounds (default: until a signal)\n"
    "  --ca FILE                CA certificates (PEM) for coffer endpoints\n"
    "  --connect-timeout MS     default 1000      --timeout MS   read timeout, default 2000\n"
    "  --concurrency N          connects in flight (default 512)\n"
    "  --rate N                 connects per second per host (default 4000)\n"
    "Exit status: 0 nothing at --fail-on, 3 findings at --fail-on, 2 usage or refused target,\n"
    "1 error.\n";

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static int num_opt(const char *v, uint64_t lo, uint64_t hi, uint64_t *out, const char *name)
{
    if (!v || !cof_str_to_u64(cof_str_c(v), hi, out) || *out < lo) {
        fprintf(stderr, "coffer: probe: %s needs a number from %llu to %llu\n", name,
                (unsigned long long)lo, (unsigned long long)hi);
        return 0;
    }
    return 1;
}

static void print_text(const cof_finding *v, size_t n, cof_severity min)
{
    int any = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i].sev < min)
            continue;
        if (!any)
            printf("%-9s %-27s %-14s %s\n", "SEVERITY", "TARGET", "SERVICE", "EVIDENCE / FIX");
        any = 1;
        char tgt[80];
        snprintf(tgt, sizeof tgt, strchr(v[i].target, ':') ? "[%s]:%u" : "%s:%u", v[i].target,
                 v[i].port);
        printf("%-9s %-27s %-14s %s\n", cof_severity_name(v[i].sev), tgt, v[i].service,
               v[i].evidence);
        if (v[i].sev > COF_SEV_INFO)
            printf("%-9s %-27s %-14s fix: %s\n", "", "", "", v[i].fix);
    }
}

static json_t *finding_json(const cof_finding *x)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    json_object_set_new(o, "target", json_string(x->target));
    json_object_set_new(o, "port", json_integer(x->port));
    json_object_set_new(o, "service", json_string(x->service));
    json_object_set_new(o, "check", json_string(x->check));
    json_object_set_new(o, "severity", json_string(cof_severity_name(x->sev)));
    json_object_set_new(o, "evidence", json_string(x->evidence));
    json_object_set_new(o, "fix", json_string(x->fix));
    return o;
}

static void print_json_line(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    if (s)
        puts(s);
    free(s);
    json_decref(o);
}

/* A finding's identity across --watch rounds (evidence counts may change). */
static void finding_key(const cof_finding *x, char *k, size_t cap)
{
    snprintf(k, cap, "%s|%u|%s|%d", x->target, x->port, x->check, (int)x->sev);
}

typedef struct {
    char **keys;
    size_t n;
} seen_set;

static int seen_add(seen_set *s, const char *k)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->keys[i], k))
            return 0;
    if (s->n >= COF_PROBE_MAX_FINDINGS)
        return 0;
    char **nk = realloc(s->keys, (s->n + 1) * sizeof *nk);
    char *d = strdup(k);
    if (!nk || !d) {
        free(d);
        if (nk)
            s->keys = nk;
        return 0;
    }
    s->keys = nk;
    s->keys[s->n++] = d;
    return 1;
}

static void sleep_interruptible(int64_t us)
{
    while (us > 0 && !g_stop) {
        int64_t step = us > 200000 ? 200000 : us;
        struct timespec ts = { (time_t)(step / 1000000), (long)(step % 1000000) * 1000 };
        nanosleep(&ts, NULL);
        us -= step;
    }
}

int cof_cmd_probe(const cof_config *cfg, int argc, char **argv)
{
    cof_probe_opts o;
    cof_probe_opts_default(&o);
    cof_probe_plan plan;
    memset(&plan, 0, sizeof plan);
    const char *ports = NULL;
    int json = 0, rc = 1;
    cof_severity fail_on = COF_SEV_HIGH, min = COF_SEV_INFO;
    int64_t watch_us = 0;
    uint64_t rounds = 0, v;
    cof_alerts *alerts = NULL;
    seen_set seen = { 0 };
    cof_finding *fs = NULL;
    const char **targets = calloc((size_t)argc + 1, sizeof *targets);
    size_t ntargets = 0;
    if (!targets)
        return 1;
    o.pin_sha256 = cfg->probe_pin_sha256[0] ? cfg->probe_pin_sha256 : NULL;
    signal(SIGPIPE, SIG_IGN); /* a peer closing mid-write is an error return, not death */
    o.progress = 1;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            fputs(usage_probe, stdout);
            rc = 0;
            goto out;
        } else if (!strcmp(a, "--json")) {
            json = 1;
        } else if (!strcmp(a, "--ports") && val) {
            ports = val, i++;
        } else if ((!strcmp(a, "--fail-on") || !strcmp(a, "--min-severity")) && val) {
            cof_severity s;
            if (cof_severity_parse(val, &s) != COF_OK) {
                fprintf(stderr, "coffer: probe: %s: %s\n", a, cof_err_msg());
                rc = 2;
                goto out;
            }
            *(a[2] == 'f' ? &fail_on : &min) = s;
            i++;
        } else if (!strcmp(a, "--watch") && val) {
            if (cof_duration_parse(cof_str_c(val), &watch_us) != COF_OK || watch_us < 1000000) {
                fprintf(stderr, "coffer: probe: --watch needs an interval of at least 1s (e.g. 5m)\n");
                rc = 2;
                goto out;
            }
            i++;
        } else if (!strcmp(a, "--rounds") && val) {
            if (!num_opt(val, 1, 1000000, &rounds, a)) {
                rc = 2;
                goto out;
            }
            i++;
        } else if (!strcmp(a, "--ca") && val) {
            o.ca_file = val, i++;
        } else if (!strcmp(a, "--connect-timeout") && val) {
            if (!num_opt(val, 10, 60000, &v, a)) {
                rc = 2;
                goto out;
            }
            o.connect_timeout_ms = (int)v, i++;
        } else if (!strcmp(a, "--timeout") && val) {
            if (!num_opt(val, 10, 60000, &v, a)) {
                rc = 2;
                goto out;
            }
            o.read_timeout_ms = (int)v, i++;
        } else if (!strcmp(a, "--concurrency") && val) {
            if (!num_opt(val, 1, 4096, &v, a)) {
                rc = 2;
                goto out;
            }
            o.concurrency = (unsigned)v, i++;
        } else if (!strcmp(a, "--rate") && val) {
            if (!num_opt(val, 1, 100000, &v, a)) {
                rc = 2;
                goto out;
            }
            o.rate = (unsigned)v, i++;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "coffer: probe: unknown option or missing value: %s\n%s", a, usage_probe);
            rc = 2;
            goto out;
        } else {
            targets[ntargets++] = a;
        }
    }
    if (!ntargets) {
        fputs(usage_probe, stderr);
        rc = 2;
        goto out;
    }
    /* Expansion and the allowed_networks check: before any socket exists. */
    for (size_t i = 0; i < ntargets; i++) {
        cof_status st = targets[i][0] == '@' ? cof_probe_plan_add_file(cfg, &plan, targets[i] + 1)
                                             : cof_probe_plan_add(cfg, &plan, targets[i]);
        if (st) {
            fprintf(stderr, "coffer: probe: %s\n", cof_err_msg());
            rc = (st == COF_DENIED || st == COF_LIMIT || st == COF_BADINPUT || st == COF_NOTFOUND) ? 2 : 1;
            goto out;
        }
    }
    if (cof_probe_plan_ports(&plan, ports) != COF_OK) {
        fprintf(stderr, "coffer: probe: %s\n", cof_err_msg());
        rc = 2;
        goto out;
    }
    if (watch_us) {
        if (cof_alerts_open(cfg, &alerts) != COF_OK) {
            fprintf(stderr, "coffer: probe: alert sinks: %s\n", cof_err_msg());
            rc = 1;
            goto out;
        }
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
    }
    for (uint64_t round = 1;; round++) {
        size_t n = 0, nopen = 0;
        uint64_t t0 = cof_now_ns();
        free(fs);
        fs = NULL;
        if (cof_probe_run(&plan, &o, &fs, &n, &nopen) != COF_OK) {
            fprintf(stderr, "coffer: probe: %s\n", cof_err_msg());
            rc = 1;
            goto out;
        }
        double secs = (double)(cof_now_ns() - t0) / 1e9;
        size_t bysev[5] = { 0 }, reach = 0, fresh = 0;
        for (size_t i = 0; i < n; i++) {
            bysev[fs[i].sev]++;
            reach += fs[i].sev >= fail_on;
            char k[256];
            finding_key(&fs[i], k, sizeof k);
            int is_new = seen_add(&seen, k);
            fresh += (size_t)is_new;
            /* Alerts start at low: info findings (locked services) are not news. */
            if (is_new && alerts && fs[i].sev >= min && fs[i].sev >= COF_SEV_LOW) {
                json_t *d = finding_json(&fs[i]);
                char *ds = d ? json_dumps(d, JSON_COMPACT) : NULL;
                char summary[512];
                snprintf(summary, sizeof summary, "probe: %s on %s port %u: %s", fs[i].service,
                         fs[i].target, fs[i].port, fs[i].evidence);
                if (cof_alert_raise(alerts, "probe_finding", fs[i].sev, summary, ds) != COF_OK)
                    fprintf(stderr, "coffer: probe: alert: %s\n", cof_err_msg());
                free(ds);
                json_decref(d);
            }
        }
        if (json) {
            for (size_t i = 0; i < n; i++)
                if (fs[i].sev >= min)
                    print_json_line(finding_json(&fs[i]));
            json_t *s = json_object();
            json_t *c = json_object();
            for (int k = 0; k <= COF_SEV_CRITICAL; k++)
                json_object_set_new(c, cof_severity_name((cof_severity)k), json_integer((json_int_t)bysev[k]));
            json_object_set_new(s, "hosts", json_integer((json_int_t)plan.nhosts));
            json_object_set_new(s, "ports_per_host", json_integer((json_int_t)plan.nports));
            json_object_set_new(s, "open", json_integer((json_int_t)nopen));
            json_object_set_new(s, "findings", json_integer((json_int_t)n));
            json_object_set_new(s, "by_severity", c);
            json_object_set_new(s, "fail_on", json_string(cof_severity_name(fail_on)));
            json_object_set_new(s, "failed", json_boolean(reach > 0));
            json_object_set_new(s, "seconds", json_real(secs));
            if (watch_us) {
                json_object_set_new(s, "round", json_integer((json_int_t)round));
                json_object_set_new(s, "new", json_integer((json_int_t)fresh));
            }
            json_t *w = json_object();
            json_object_set_new(w, "summary", s);
            print_json_line(w);
        } else {
            print_text(fs, n, min);
            printf("%zu findings (%zu critical, %zu high, %zu medium, %zu low, %zu info) on %zu open "
                   "ports of %zu hosts in %.1f s%s\n",
                   n, bysev[4], bysev[3], bysev[2], bysev[1], bysev[0], nopen, plan.nhosts, secs,
                   watch_us ? "" : "");
            if (watch_us)
                printf("round %llu: %zu new findings\n", (unsigned long long)round, fresh);
        }
        fflush(stdout);
        rc = reach ? 3 : 0;
        if (!watch_us || g_stop || (rounds && round >= rounds))
            break;
        sleep_interruptible(watch_us);
        if (g_stop)
            break;
    }
out:
    if (alerts) {
        if (cof_alerts_flush(alerts, 10000) != COF_OK)
            fprintf(stderr, "coffer: probe: %s\n", cof_err_msg());
        cof_alerts_close(alerts);
    }
    for (size_t i = 0; i < seen.n; i++)
        free(seen.keys[i]);
    free(seen.keys);
    free(fs);
    free(targets);
    cof_probe_plan_free(&plan);
    return rc;
}
