/* output.c - tables and JSON for trails and statistics. */
#include "output.h"

#include <inttypes.h>

#include "timefmt.h"

const char *cof_output_value(const cof_record *r, cof_field f, int masked, char *buf, size_t cap)
{
    cof_str sv = r->sealed[f], cv = r->clear[f];
    if (sv.n && !masked) {
        snprintf(buf, cap, "%.*s", (int)sv.n, sv.p);
        return buf;
    }
    /* A personal field without its unsealed value shows only what the clear column
     * allows: "***@domain" or a network prefix (unless the policy keeps it whole). */
    if (sv.n || (cof_field_is_personal(f) && cv.n && !memchr(cv.p, '@', cv.n))) {
        cof_query_mask(f, sv, cv, buf, cap);
        return buf;
    }
    snprintf(buf, cap, "%.*s", (int)cv.n, cv.p);
    return buf;
}

static void fmt_delays(const cof_record *r, char *buf, size_t cap)
{
    if (r->delays_ms[0] < 0) {
        buf[0] = 0;
        return;
    }
    snprintf(buf, cap, "%g/%g/%g/%g", r->delays_ms[0] / 1000.0, r->delays_ms[1] / 1000.0,
             r->delays_ms[2] / 1000.0, r->delays_ms[3] / 1000.0);
}

json_t *cof_output_event_json(const cof_record *r, int masked)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    char buf[2 * COF_MAX_FIELD + 64];
    json_object_set_new(o, "time", json_string(cof_time_format(r->time_us, buf, sizeof buf)));
    for (int f = 0; f < COF_NFIELDS; f++) {
        const char *v = cof_output_value(r, (cof_field)f, masked, buf, sizeof buf);
        if (*v)
            json_object_set_new(o, cof_field_name((cof_field)f), json_stringn_nocheck(v, strlen(v)));
        if (f == COF_F_INSTANCE)
            json_object_set_new(o, "direction",
                                json_string(cof_direction_name((cof_direction)r->direction)));
    }
    if (r->relay_port)
        json_object_set_new(o, "relay_port", json_integer(r->relay_port));
    json_object_set_new(o, "status", json_string(cof_status_name((cof_delivery_status)r->status)));
    if (r->delay_ms >= 0)
        json_object_set_new(o, "delay", json_real(r->delay_ms / 1000.0));
    fmt_delays(r, buf, sizeof buf);
    if (buf[0])
        json_object_set_new(o, "delays", json_string(buf));
    if (r->size)
        json_object_set_new(o, "size", json_integer((json_int_t)r->size));
    if (r->nrcpt)
        json_object_set_new(o, "nrcpt", json_integer(r->nrcpt));
    return o;
}

/* JSON string body of v: ", \ and control bytes escaped; bytes of invalid UTF-8
 * become '?' (log text is not guaranteed to be UTF-8). */
static cof_status json_str(cof_buf *b, const char *v, size_t n)
{
    int utf8 = cof_str_utf8_valid(cof_str_make(v, n));
    cof_status st = cof_buf_add(b, "\"", 1);
    for (size_t i = 0; i < n && !st; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '"' || c == '\\') {
            char e[2] = { '\\', (char)c };
            st = cof_buf_add(b, e, 2);
        } else if (c < 0x20 || c == 0x7f) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", c);
            st = cof_buf_add(b, e, 6);
        } else if (c >= 0x80 && !utf8) {
            st = cof_buf_add(b, "?", 1);
        } else {
            size_t j = i;
            while (j < n && (unsigned char)v[j] >= 0x20 && v[j] != '"' && v[j] != '\\' &&
                   (unsigned char)v[j] != 0x7f && ((unsigned char)v[j] < 0x80 || utf8))
                j++;
            st = cof_buf_add(b, v + i, j - i);
            i = j - 1;
        }
    }
    return st ? st : cof_buf_add(b, "\"", 1);
}

static cof_status json_kv(cof_buf *b, int *first, const char *k, const char *v, size_t n)
{
    cof_status st = cof_buf_add(b, *first ? "\"" : ",\"", *first ? 1 : 2);
    *first = 0;
    if (!st) st = cof_buf_add(b, k, strlen(k));
    if (!st) st = cof_buf_add(b, "\":", 2);
    return st ? st : json_str(b, v, n);
}

static cof_status json_kn(cof_buf *b, const char *k, const char *num)
{
    cof_status st = cof_buf_add(b, ",\"", 2);
    if (!st) st = cof_buf_add(b, k, strlen(k));
    if (!st) st = cof_buf_add(b, "\":", 2);
    return st ? st : cof_buf_add(b, num, strlen(num));
}

cof_status cof_output_event_jsonbuf(const cof_record *r, int masked, cof_buf *b)
{
    char buf[2 * COF_MAX_FIELD + 64], num[48];
    int first = 1;
    cof_status st = cof_buf_add(b, "{", 1);
    const char *t = cof_time_format(r->time_us, buf, sizeof buf);
    if (!st) st = json_kv(b, &first, "time", t, strlen(t));
    for (int f = 0; f < COF_NFIELDS && !st; f++) {
        /* The two common cases of cof_output_value without a formatted copy. */
        cof_str sv = r->sealed[f], cv = r->clear[f];
        if (sv.n && !masked) {
            st = json_kv(b, &first, cof_field_name((cof_field)f), sv.p, sv.n);
        } else if (!sv.n && !(cof_field_is_personal((cof_field)f) && cv.n && !memchr(cv.p, '@', cv.n))) {
            if (cv.n)
                st = json_kv(b, &first, cof_field_name((cof_field)f), cv.p, cv.n);
        } else {
            const char *v = cof_output_value(r, (cof_field)f, masked, buf, sizeof buf);
            if (*v)
                st = json_kv(b, &first, cof_field_name((cof_field)f), v, strlen(v));
        }
        if (!st && f == COF_F_INSTANCE) {
            const char *d = cof_direction_name((cof_direction)r->direction);
            st = json_kv(b, &first, "direction", d, strlen(d));
        }
    }
    if (!st && r->relay_port) {
        snprintf(num, sizeof num, "%u", (unsigned)r->relay_port);
        st = json_kn(b, "relay_port", num);
    }
    const char *sn = cof_status_name((cof_delivery_status)r->status);
    if (!st) st = json_kv(b, &first, "status", sn, strlen(sn));
    if (!st && r->delay_ms >= 0) {
        snprintf(num, sizeof num, "%.3f", r->delay_ms / 1000.0);
        st = json_kn(b, "delay", num);
    }
    fmt_delays(r, buf, sizeof buf);
    if (!st && buf[0]) st = json_kv(b, &first, "delays", buf, strlen(buf));
    if (!st && r->size) {
        snprintf(num, sizeof num, "%llu", (unsigned long long)r->size);
        st = json_kn(b, "size", num);
    }
    if (!st && r->nrcpt) {
        snprintf(num, sizeof num, "%u", r->nrcpt);
        st = json_kn(b, "nrcpt", num);
    }
    return st ? st : cof_buf_add(b, "}", 1);
}

cof_status cof_output_trail_json(FILE *f, const cof_trail *t, int masked)
{
    for (size_t i = 0; i < t->n; i++) {
        json_t *o = cof_output_event_json(&t->ev[i].r, masked);
        if (!o)
            return COF_ERR(COF_NOMEM, "out of memory");
        char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
        json_decref(o);
        if (!s)
            return COF_ERR(COF_NOMEM, "out of memory");
        fprintf(f, "%s\n", s);
        free(s);
    }
    return COF_OK;
}

static int same_msg(const cof_record *a, const cof_record *b)
{
    return cof_str_eq(a->clear[COF_F_QUEUE_ID], b->clear[COF_F_QUEUE_ID]) &&
           cof_str_eq(a->clear[COF_F_HOST], b->clear[COF_F_HOST]) &&
           cof_str_eq(a->clear[COF_F_INSTANCE], b->clear[COF_F_INSTANCE]) &&
           a->clear[COF_F_QUEUE_ID].n;
}

void cof_output_trail_table(FILE *f, const cof_trail *t, int masked)
{
    char b1[2 * COF_MAX_FIELD], b2[2 * COF_MAX_FIELD], b3[2 * COF_MAX_FIELD], tb[40];
    if (t->n == 0) {
        fprintf(f, "no matching events\n");
        return;
    }
    size_t msgs = 0;
    for (size_t i = 0; i < t->n; i++) {
        const cof_record *r = &t->ev[i].r;
        if (i == 0 || !same_msg(r, &t->ev[i - 1].r)) {
            msgs++;
            fprintf(f, "%smessage %s on %.*s/%.*s", i ? "\n" : "",
                    r->clear[COF_F_QUEUE_ID].n ? cof_output_value(r, COF_F_QUEUE_ID, 0, b1, sizeof b1)
                                               : "(no queue id)",
                    (int)r->clear[COF_F_HOST].n, r->clear[COF_F_HOST].p,
                    (int)r->clear[COF_F_INSTANCE].n, r->clear[COF_F_INSTANCE].p);
            fprintf(f, "  tenant %.*s\n", (int)r->clear[COF_F_TENANT].n, r->clear[COF_F_TENANT].p);
            const char *mid = cof_output_value(r, COF_F_MESSAGE_ID, masked, b1, sizeof b1);
            if (*mid)
                fprintf(f, "  message-id  %s\n", mid);
            fprintf(f, "  from        %s", cof_output_value(r, COF_F_SENDER, masked, b1, sizeof b1));
            if (r->size)
                fprintf(f, "  size %" PRIu64, r->size);
            if (r->nrcpt)
                fprintf(f, "  nrcpt %u", r->nrcpt);
            fprintf(f, "\n");
            const char *ch = cof_output_value(r, COF_F_CLIENT_HOST, masked, b1, sizeof b1);
            const char *ci = cof_output_value(r, COF_F_CLIENT_IP, masked, b2, sizeof b2);
            if (*ch || *ci)
                fprintf(f, "  client      %s[%s]  %s\n", ch, ci,
                        cof_direction_name((cof_direction)r->direction));
            const char *su = cof_output_value(r, COF_F_SASL_USERNAME, masked, b1, sizeof b1);
            if (*su)
                fprintf(f, "  sasl        %s (%s)\n", su,
                        cof_output_value(r, COF_F_SASL_METHOD, masked, b2, sizeof b2));
            const char *sub = cof_output_value(r, COF_F_SUBJECT, masked, b1, sizeof b1);
            if (*sub)
                fprintf(f, "  subject     %s\n", sub);
            if (r->clear[COF_F_BOUNCE_OF].n)
                fprintf(f, "  bounce of   %.*s\n", (int)r->clear[COF_F_BOUNCE_OF].n,
                        r->clear[COF_F_BOUNCE_OF].p);
            fprintf(f, "  %-27s %-9s %-5s %-32s %-28s %8s  %s\n", "TIME", "STATUS", "DSN",
                    "RECIPIENT", "RELAY", "DELAY", "RESPONSE");
        }
        char relay[COF_MAX_FIELD + 16];
        snprintf(relay, sizeof relay, "%s", cof_output_value(r, COF_F_RELAY_HOST, masked, b2, sizeof b2));
        char delay[32] = "";
        if (r->delay_ms >= 0)
            snprintf(delay, sizeof delay, "%.2fs", r->delay_ms / 1000.0);
        fprintf(f, "  %-27s %-9s %-5.*s %-32s %-28s %8s  %s\n", cof_time_format(r->time_us, tb, sizeof tb),
                cof_status_name((cof_delivery_status)r->status), (int)r->clear[COF_F_DSN].n,
                r->clear[COF_F_DSN].p, cof_output_value(r, COF_F_RECIPIENT, masked, b1, sizeof b1),
                relay, delay, cof_output_value(r, COF_F_RESPONSE, masked, b3, sizeof b3));
    }
    fprintf(f, "\n%zu event%s in %zu message%s%s\n", t->n, t->n == 1 ? "" : "s", msgs,
            msgs == 1 ? "" : "s", t->truncated ? " (truncated: narrow the time range)" : "");
}

static void fmt_ms(int32_t ms, char *buf, size_t cap)
{
    if (ms < 0)
        snprintf(buf, cap, "-");
    else if (ms < 1000)
        snprintf(buf, cap, "%dms", ms);
    else
        snprintf(buf, cap, "%.1fs", ms / 1000.0);
}

void cof_output_stats_table(FILE *f, const cof_stats *s, uint32_t by, int64_t bucket_us)
{
    char tb[40], p50[16], p90[16], p99[16];
    if (bucket_us)
        fprintf(f, "%-21s ", "BUCKET");
    if (by & COF_BY_TENANT)
        fprintf(f, "%-16s ", "TENANT");
    if (by & COF_BY_STATUS)
        fprintf(f, "%-10s ", "STATUS");
    if (by & COF_BY_DSN_CLASS)
        fprintf(f, "%-4s ", "DSN");
    if (by & COF_BY_RCPT_DOMAIN)
        fprintf(f, "%-28s ", "RCPT_DOMAIN");
    if (by & COF_BY_RELAY)
        fprintf(f, "%-28s ", "RELAY");
    fprintf(f, "%12s %8s %8s %8s %8s\n", "COUNT", "SHARE", "P50", "P90", "P99");
    for (size_t i = 0; i < s->n; i++) {
        const cof_stats_row *r = &s->rows[i];
        if (bucket_us) {
            cof_time_format(r->bucket_start, tb, sizeof tb);
            tb[16] = 0; /* "YYYY-MM-DDTHH:MM" */
            fprintf(f, "%-21s ", tb);
        }
        if (by & COF_BY_TENANT)
            fprintf(f, "%-16s ", r->tenant);
        if (by & COF_BY_STATUS)
            fprintf(f, "%-10s ", cof_status_name((cof_delivery_status)r->status));
        if (by & COF_BY_DSN_CLASS)
            fprintf(f, "%-4s ", r->dsn_class == '2' ? "2xx" : r->dsn_class == '4' ? "4xx"
                                : r->dsn_class == '5' ? "5xx" : "-");
        if (by & COF_BY_RCPT_DOMAIN)
            fprintf(f, "%-28s ", r->rcpt_domain && *r->rcpt_domain ? r->rcpt_domain : "-");
        if (by & COF_BY_RELAY)
            fprintf(f, "%-28s ", r->relay && *r->relay ? r->relay : "-");
        fmt_ms(r->p50_ms, p50, sizeof p50);
        fmt_ms(r->p90_ms, p90, sizeof p90);
        fmt_ms(r->p99_ms, p99, sizeof p99);
        fprintf(f, "%12" PRIu64 " %7.2f%% %8s %8s %8s\n", r->count,
                s->total ? 100.0 * (double)r->count / (double)s->total : 0.0, p50, p90, p99);
    }
    fprintf(f, "\n%" PRIu64 " events in %zu group%s (%" PRIu64 " rows scanned in %.3f s)\n", s->total,
            s->n, s->n == 1 ? "" : "s", s->scanned, s->seconds);
}

cof_status cof_output_stats_json(FILE *f, const cof_stats *s, uint32_t by, int64_t bucket_us)
{
    json_t *root = json_object(), *rows = json_array();
    char tb[40];
    if (!root || !rows) {
        json_decref(root);
        json_decref(rows);
        return COF_ERR(COF_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < s->n; i++) {
        const cof_stats_row *r = &s->rows[i];
        json_t *o = json_object();
        if (bucket_us)
            json_object_set_new(o, "bucket", json_string(cof_time_format(r->bucket_start, tb, sizeof tb)));
        if (by & COF_BY_TENANT)
            json_object_set_new(o, "tenant", json_string(r->tenant));
        if (by & COF_BY_STATUS)
            json_object_set_new(o, "status", json_string(cof_status_name((cof_delivery_status)r->status)));
        if (by & COF_BY_DSN_CLASS) {
            char c[4] = { r->dsn_class ? r->dsn_class : '-', 'x', 'x', 0 };
            json_object_set_new(o, "dsn_class", r->dsn_class ? json_string(c) : json_null());
        }
        if (by & COF_BY_RCPT_DOMAIN)
            json_object_set_new(o, "rcpt_domain", json_string(r->rcpt_domain ? r->rcpt_domain : ""));
        if (by & COF_BY_RELAY)
            json_object_set_new(o, "relay", json_string(r->relay ? r->relay : ""));
        json_object_set_new(o, "count", json_integer((json_int_t)r->count));
        if (r->p50_ms >= 0) {
            json_object_set_new(o, "delay_p50", json_real(r->p50_ms / 1000.0));
            json_object_set_new(o, "delay_p90", json_real(r->p90_ms / 1000.0));
            json_object_set_new(o, "delay_p99", json_real(r->p99_ms / 1000.0));
        }
        json_array_append_new(rows, o);
    }
    json_object_set_new(root, "groups", rows);
    json_object_set_new(root, "total", json_integer((json_int_t)s->total));
    json_object_set_new(root, "scanned", json_integer((json_int_t)s->scanned));
    int rc = json_dumpf(root, f, JSON_INDENT(2) | JSON_ENSURE_ASCII);
    json_decref(root);
    fputc('\n', f);
    return rc == 0 ? COF_OK : COF_ERR(COF_IO, "cannot write JSON output");
}
