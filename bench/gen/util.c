/* util.c - the generator's PRNG seeding, Gaussian and Zipf draws, hex / token /
 * address appending and buffered output (declared in gen.h). */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gen.h"

void rng_seed(rng_t *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&seed);
}

double rng_gauss(rng_t *r)
{
    double u1 = 1.0 - rng_unif(r), u2 = rng_unif(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void zipf_init(zipf_t *z, uint32_t n, double s)
{
    z->n = n;
    z->cdf = malloc(sizeof(double) * n);
    if (!z->cdf) {
        fprintf(stderr, "gen_postfix: out of memory\n");
        exit(1);
    }
    double sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        sum += pow((double)(i + 1), -s);
        z->cdf[i] = sum;
    }
    for (uint32_t i = 0; i < n; i++)
        z->cdf[i] /= sum;
    z->cdf[n - 1] = 1.0;
}

/* Rank 0 is the most frequent. */
uint32_t zipf_draw(const zipf_t *z, rng_t *r)
{
    double u = rng_unif(r);
    uint32_t lo = 0, hi = z->n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (z->cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

char *put_hex(char *w, uint64_t v, int upper)
{
    const char *d = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char t[16];
    int n = 0;
    do {
        t[n++] = d[v & 15];
        v >>= 4;
    } while (v);
    while (n)
        *w++ = t[--n];
    return w;
}

char *put_hex0(char *w, uint64_t v, int width, int upper)
{
    const char *d = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    for (int i = width - 1; i >= 0; i--) {
        w[i] = d[v & 15];
        v >>= 4;
    }
    return w + width;
}

/* Characters from an alphabet, value by value (ids, tokens). */
char *put_token(char *w, uint64_t v, const char *alpha, uint32_t base, int n)
{
    for (int i = 0; i < n; i++) {
        if (i % 10 == 9)
            v = mix64(v);
        *w++ = alpha[v % base];
        v /= base;
    }
    return w;
}

/* An IP address from the documentation ranges; 70% IPv6 in 2001:db8::/32. */
char *put_ip(char *w, uint64_t h)
{
    if (h % 10 < 7) {
        h /= 10;
        w = PUT_LIT(w, "2001:db8:");
        w = put_hex(w, h & 0xffff, 0);
        *w++ = ':';
        w = put_hex(w, (h >> 16) & 0xffff, 0);
        w = PUT_LIT(w, "::");
        w = put_hex(w, ((h >> 32) & 0xfff) | 1, 0);
        return w;
    }
    static const char *const v4[3] = { "192.0.2.", "198.51.100.", "203.0.113." };
    h /= 10;
    w = put_s(w, v4[(h >> 8) % 3]);
    return put_u(w, 1 + (h & 0xff) % 254);
}

void ob_flush(obuf_t *o)
{
    size_t off = 0;
    while (off < o->len) {
        ssize_t n = write(o->fd, o->buf + off, o->len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "gen_postfix: write %s: %s\n", o->name, strerror(errno));
            exit(1);
        }
        off += (size_t)n;
    }
    o->total += o->len;
    o->len = 0;
}

void ob_open(obuf_t *o, const char *path)
{
    o->name = path;
    if (strcmp(path, "-") == 0) {
        o->fd = STDOUT_FILENO;
    } else {
        o->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (o->fd < 0) {
            fprintf(stderr, "gen_postfix: open %s: %s\n", path, strerror(errno));
            exit(1);
        }
    }
    o->buf = malloc(OUT_CAP);
    if (!o->buf) {
        fprintf(stderr, "gen_postfix: out of memory\n");
        exit(1);
    }
    o->len = 0;
    o->total = 0;
}

void ob_close(obuf_t *o)
{
    ob_flush(o);
    if (o->fd != STDOUT_FILENO && close(o->fd) != 0) {
        fprintf(stderr, "gen_postfix: close %s: %s\n", o->name, strerror(errno));
        exit(1);
    }
    free(o->buf);
}
