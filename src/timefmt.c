/* timefmt.c - times and durations. */
#include <string.h>

#include "timefmt.h"

#include <stdio.h>
#include <time.h>

#include "postfix.h"

int64_t cof_time_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int digits(cof_str s, size_t at, size_t n, int *out)
{
    if (at + n > s.n)
        return 0;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s.p[at + i];
        if (c < '0' || c > '9')
            return 0;
        v = v * 10 + (c - '0');
    }
    *out = v;
    return 1;
}

cof_status cof_duration_parse(cof_str s, int64_t *out)
{
    s = cof_str_trim(s);
    if (s.n < 1 || s.n > 12)
        return COF_ERR(COF_BADINPUT, "bad duration (use e.g. 30s, 15m, 1h, 7d)");
    int64_t unit = 1000000;
    size_t n = s.n;
    switch (s.p[n - 1]) {
    case 's': unit = 1000000; n--; break;
    case 'm': unit = 60000000; n--; break;
    case 'h': unit = 3600000000LL; n--; break;
    case 'd': unit = 86400000000LL; n--; break;
    default: break;
    }
    uint64_t v;
    if (!cof_str_to_u64(cof_str_make(s.p, n), 100000000, &v) || v == 0)
        return COF_ERR(COF_BADINPUT, "bad duration (use e.g. 30s, 15m, 1h, 7d)");
    *out = (int64_t)v * unit;
    return COF_OK;
}

cof_status cof_time_parse(cof_str s, int64_t now_us, int64_t *out)
{
    s = cof_str_trim(s);
    int y, mo, d, h = 0, mi = 0, se = 0;
    if (!(s.n >= 10 && digits(s, 0, 4, &y) && s.p[4] == '-' && digits(s, 5, 2, &mo) &&
          s.p[7] == '-' && digits(s, 8, 2, &d))) {
        int64_t dur;
        if (cof_duration_parse(s, &dur) == COF_OK) {
            *out = now_us - dur;
            return COF_OK;
        }
        return COF_ERR(COF_BADINPUT,
                       "bad time (use 2026-11-23, 2026-11-23T14:00:00Z, or an age like 2h)");
    }
    size_t i = 10;
    int64_t frac = 0, off_s = 0;
    if (i < s.n && (s.p[i] == 'T' || s.p[i] == ' ')) {
        if (!digits(s, i + 1, 2, &h) || i + 3 >= s.n || s.p[i + 3] != ':' ||
            !digits(s, i + 4, 2, &mi))
            goto bad;
        i += 6;
        if (i < s.n && s.p[i] == ':') {
            if (!digits(s, i + 1, 2, &se))
                goto bad;
            i += 3;
            if (i < s.n && s.p[i] == '.') {
                int nd = 0;
                i++;
                while (i < s.n && s.p[i] >= '0' && s.p[i] <= '9') {
                    if (nd < 6) {
                        frac = frac * 10 + (s.p[i] - '0');
                        nd++;
                    }
                    i++;
                }
                while (nd++ < 6)
                    frac *= 10;
            }
        }
        if (i < s.n && (s.p[i] == 'Z' || s.p[i] == 'z')) {
            i++;
        } else if (i < s.n && (s.p[i] == '+' || s.p[i] == '-')) {
            int oh, om;
            if (!digits(s, i + 1, 2, &oh) || i + 3 >= s.n || s.p[i + 3] != ':' ||
                !digits(s, i + 4, 2, &om))
                goto bad;
            off_s = (int64_t)(oh * 3600 + om * 60) * (s.p[i] == '-' ? -1 : 1);
            i += 6;
        }
    }
    if (i != s.n || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        goto bad;
    int64_t days = cof_pf_days_from_civil(y, mo, d);
    *out = ((days * 86400 + h * 3600 + mi * 60 + se) - off_s) * 1000000 + frac;
    return COF_OK;
bad:
    return COF_ERR(COF_BADINPUT, "bad time (use 2026-11-23, 2026-11-23T14:00:00Z, or an age like 2h)");
}

const char *cof_time_format(int64_t us, char *buf, size_t cap)
{
    int64_t secs = us >= 0 ? us / 1000000 : -((-us + 999999) / 1000000);
    int64_t frac = us - secs * 1000000;
    time_t t = (time_t)secs;
    struct tm tm;
    gmtime_r(&t, &tm);
    snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)frac);
    return buf;
}

const char *cof_time_format_sec(int64_t us, char *buf, size_t cap)
{
    cof_time_format(us, buf, cap);
    char *dot = strchr(buf, '.');
    if (dot && (size_t)(dot - buf) + 2 <= cap) {
        dot[0] = 'Z';
        dot[1] = 0;
    }
    return buf;
}
