/* audit_read.c - parsing, verifying and reading the audit trail (see audit.h).
 *
 * A line is read twice: a strict pointer-advancing scanner takes the fields in the
 * writer's fixed order (raw slices into the line: strings keep their JSON escapes),
 * and jansson validates the whole line as JSON (UTF-8, escapes, nesting, duplicate
 * keys). The hash is always computed over the raw bytes (audit_int.h), never over a
 * re-serialization, so verification does not depend on how JSON is printed. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "audit_int.h"
#include "fsutil.h"
#include "timefmt.h"

/* ---- the scanner ---- */

typedef struct {
    const char *p, *end;
} scan;

static int lit(scan *s, const char *z)
{
    size_t n = strlen(z);
    if ((size_t)(s->end - s->p) < n || memcmp(s->p, z, n) != 0)
        return 0;
    s->p += n;
    return 1;
}

static int peek(scan *s, const char *z)
{
    size_t n = strlen(z);
    return (size_t)(s->end - s->p) >= n && memcmp(s->p, z, n) == 0;
}

static int num(scan *s, uint64_t max, uint64_t *v)
{
    const char *b = s->p;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9' && s->p - b < 20)
        s->p++;
    size_t n = (size_t)(s->p - b);
    if (n == 0 || (n > 1 && b[0] == '0'))
        return 0;
    return cof_str_to_u64(cof_str_make(b, n), max, v);
}

/* A JSON string; *out is its raw content (escapes kept). */
static int str(scan *s, cof_str *out)
{
    if (!lit(s, "\""))
        return 0;
    const char *b = s->p;
    while (s->p < s->end) {
        unsigned char c = (unsigned char)*s->p;
        if (c == '"') {
            *out = cof_str_make(b, (size_t)(s->p - b));
            s->p++;
            return 1;
        }
        if (c < 0x20)
            return 0;
        if (c == '\\') {
            if (s->end - s->p < 2)
                return 0;
            s->p += (s->p[1] == 'u') ? 6 : 2;
            if (s->p > s->end)
                return 0;
            continue;
        }
        s->p++;
    }
    return 0;
}

/* An object or array (by its opening character), skipped without recursion; the
 * exact syntax is left to jansson. */
static int raw(scan *s, char open, cof_str *out)
{
    char close = open == '{' ? '}' : ']';
    if (s->p >= s->end || *s->p != open)
        return 0;
    const char *b = s->p;
    size_t depth = 0;
    while (s->p < s->end) {
        char c = *s->p;
        if (c == '"') {
            cof_str ignored;
            if (!str(s, &ignored))
                return 0;
            continue;
        }
        if (c == '{' || c == '[')
            depth++;
        else if (c == '}' || c == ']') {
            if (depth == 0)
                return 0;
            depth--;
            if (depth == 0) {
                if (c != close)
                    return 0;
                s->p++;
                *out = cof_str_make(b, (size_t)(s->p - b));
                return 1;
            }
        }
        s->p++;
    }
    return 0;
}

static int unhex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static int hexv(scan *s, uint8_t *out, size_t n)
{
    if (!lit(s, "\"") || (size_t)(s->end - s->p) < 2 * n + 1)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int hi = unhex(s->p[2 * i]), lo = unhex(s->p[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return 0;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    s->p += 2 * n;
    return lit(s, "\"");
}

void cof_audit_hex(const uint8_t *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = '\0';
}

void cof_audit_line_hash(const uint8_t prev[32], const char *line, size_t hashed_len,
                         uint8_t out[32])
{
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, 32);
    crypto_generichash_update(&h, (const uint8_t *)COF_AUDIT_DOMAIN, sizeof COF_AUDIT_DOMAIN - 1);
    crypto_generichash_update(&h, prev, 32);
    crypto_generichash_update(&h, (const uint8_t *)line, hashed_len);
    crypto_generichash_final(&h, out, 32);
}

void cof_audit_ckpt_msg(uint64_t seq, const uint8_t head[32], uint8_t msg[20 + 8 + 32])
{
    memcpy(msg, COF_AUDIT_CKPT_DOMAIN, 20);
    for (int i = 0; i < 8; i++)
        msg[20 + i] = (uint8_t)(seq >> (56 - 8 * i));
    memcpy(msg + 28, head, 32);
}

cof_status cof_audit_parse_full(cof_str line, cof_audit_parsed *p)
{
    memset(p, 0, sizeof *p);
    if (!line.p || line.n < COF_AUDIT_HASH_TAIL + 2 || line.n > COF_AUDIT_MAX_LINE)
        return COF_ERR(COF_BADINPUT, "audit line: bad length");
    scan s = { line.p, line.p + line.n };
    cof_audit_entry *e = &p->e;
    uint64_t v;
    cof_str t;
    if (!lit(&s, "{\"seq\":") || !num(&s, UINT64_MAX - 1, &e->seq) || e->seq == 0)
        goto bad;
    if (!lit(&s, ",\"time\":") || !str(&s, &t) || t.n != 27 || t.p[10] != 'T' || t.p[26] != 'Z' ||
        cof_time_parse(t, 0, &e->time) != COF_OK)
        goto bad;
    if (lit(&s, ",\"action\":\"checkpoint\"")) {
        p->checkpoint = 1;
        e->action = COF_STR_LIT("checkpoint");
        if (!lit(&s, ",\"head\":") || !hexv(&s, p->head, 32) || !lit(&s, ",\"sig\":") ||
            !hexv(&s, p->sig, 64))
            goto bad;
    } else {
        if (!lit(&s, ",\"principal\":") || !str(&s, &e->principal) ||
            !lit(&s, ",\"source\":") || !str(&s, &e->source) ||
            !lit(&s, ",\"action\":") || !str(&s, &e->action) ||
            !lit(&s, ",\"params\":") || !raw(&s, '{', &e->params_json) ||
            !lit(&s, ",\"outcome\":") || !str(&s, &e->outcome) ||
            !lit(&s, ",\"status\":") || !num(&s, 999, &v) ||
            !lit(&s, ",\"tenants\":") || !raw(&s, '[', &e->tenants_json) ||
            !lit(&s, ",\"events\":") || !num(&s, UINT64_MAX, &e->events) ||
            !lit(&s, ",\"ids\":") || !str(&s, &e->ids))
            goto bad;
        e->status = (int)v;
        if (lit(&s, ",\"cut\":true"))
            p->cut = 1;
    }
    if (!lit(&s, ",\"prev\":") || !hexv(&s, p->prev, 32))
        goto bad;
    p->hashed_len = (size_t)(s.p - line.p);
    if (!peek(&s, ",\"hash\":") || (size_t)(s.end - s.p) != COF_AUDIT_HASH_TAIL)
        goto bad;
    if (!lit(&s, ",\"hash\":") || !hexv(&s, p->hash, 32) || !lit(&s, "}") || s.p != s.end)
        goto bad;
    /* The scanner accepted the shape; jansson decides that it is JSON. */
    json_error_t jerr;
    json_t *j = json_loadb(line.p, line.n, JSON_REJECT_DUPLICATES, &jerr);
    int okj = j && json_is_object(j);
    json_decref(j);
    if (!okj)
        goto bad;
    e->line = line;
    return COF_OK;
bad:
    memset(p, 0, sizeof *p);
    return COF_ERR(COF_BADINPUT, "audit line: not a record");
}

cof_status cof_audit_parse_line(cof_str line, cof_audit_entry *e)
{
    cof_audit_parsed p;
    cof_status st = cof_audit_parse_full(line, &p);
    if (st)
        return st;
    *e = p.e;
    return COF_OK;
}

const char *cof_audit_problem_name(cof_audit_problem p)
{
    switch (p) {
    case COF_AUDIT_OK: return "intact";
    case COF_AUDIT_EDITED: return "edited";
    case COF_AUDIT_BROKEN: return "removed or reordered";
    case COF_AUDIT_SEQ: return "sequence gap or disorder";
    case COF_AUDIT_BADSIG: return "bad checkpoint signature";
    case COF_AUDIT_TRUNCATED: return "truncated (ends before HEAD)";
    case COF_AUDIT_MALFORMED: return "malformed line";
    }
    return "unknown";
}

/* ---- the chain ---- */

void cof_audit_chain_init(cof_audit_chain *c, const uint8_t *pk, cof_audit_report *rep)
{
    memset(c, 0, sizeof *c);
    memset(rep, 0, sizeof *rep);
    c->pk = pk;
    c->next_seq = 1;
    c->rep = rep;
}

static cof_audit_problem report(cof_audit_chain *c, cof_audit_problem pr, uint64_t seq,
                                const char *file, uint64_t lineno)
{
    cof_audit_report *r = c->rep;
    if (r->problem == COF_AUDIT_OK) {
        r->problem = pr;
        r->seq = seq;
        snprintf(r->file, sizeof r->file, "%s", file);
        r->line = lineno;
    }
    return pr;
}

cof_audit_problem cof_audit_chain_line(cof_audit_chain *c, cof_str line, const char *file,
                                       uint64_t lineno)
{
    cof_audit_parsed p;
    uint8_t h[32];
    if (c->rep->problem)
        return c->rep->problem;
    if (cof_audit_parse_full(line, &p) != COF_OK)
        return report(c, COF_AUDIT_MALFORMED, c->next_seq, file, lineno);
    cof_audit_line_hash(p.prev, line.p, p.hashed_len, h);
    if (sodium_memcmp(h, p.hash, 32) != 0)
        return report(c, COF_AUDIT_EDITED, p.e.seq, file, lineno);
    if (sodium_memcmp(p.prev, c->prev, 32) != 0)
        return report(c, COF_AUDIT_BROKEN, p.e.seq, file, lineno);
    if (p.e.seq != c->next_seq)
        return report(c, COF_AUDIT_SEQ, p.e.seq, file, lineno);
    if (p.checkpoint) {
        uint8_t msg[60];
        cof_audit_ckpt_msg(p.e.seq, p.head, msg);
        if (c->pk && crypto_sign_verify_detached(p.sig, msg, sizeof msg, c->pk) != 0)
            return report(c, COF_AUDIT_BADSIG, p.e.seq, file, lineno);
        if (sodium_memcmp(p.head, p.prev, 32) != 0)
            return report(c, COF_AUDIT_BROKEN, p.e.seq, file, lineno);
        c->rep->checkpoints++;
    } else {
        c->rep->records++;
    }
    if (c->head_seq && p.e.seq == c->head_seq) {
        c->head_seen = sodium_memcmp(p.hash, c->head_hash, 32) == 0 ? 1 : -1;
        snprintf(c->head_file, sizeof c->head_file, "%s", file);
        c->head_line = lineno;
    }
    memcpy(c->prev, p.hash, 32);
    c->next_seq = p.e.seq + 1;
    c->rep->last_seq = p.e.seq;
    cof_audit_hex(p.hash, 32, c->rep->head);
    return COF_AUDIT_OK;
}

/* ---- files ---- */

typedef struct {
    char (*names)[32];
    size_t n;
} file_list;

static int cmp_name(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

static int is_log_name(const char *z)
{
    if (strlen(z) != 20 || strcmp(z + 16, ".log") != 0)
        return 0;
    for (int i = 0; i < 16; i++)
        if (unhex(z[i]) < 0)
            return 0;
    return 1;
}

/* Trail files sorted by name (= by first seq). A missing directory is an empty list. */
static cof_status list_files(const char *dir, file_list *fl)
{
    fl->names = NULL;
    fl->n = 0;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? COF_OK : COF_ERRNO("open directory %s", dir);
    size_t cap = 0;
    cof_status st = COF_OK;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (!is_log_name(de->d_name))
            continue;
        if (fl->n == cap) {
            if (cap >= COF_AUDIT_MAX_FILES) {
                st = COF_ERR(COF_LIMIT, "%s: more than %u audit files", dir, COF_AUDIT_MAX_FILES);
                goto out;
            }
            size_t nc = cap ? cap * 2 : 16;
            void *np = realloc(fl->names, nc * sizeof *fl->names);
            if (!np) {
                st = COF_ERR(COF_NOMEM, "audit file list");
                goto out;
            }
            fl->names = np;
            cap = nc;
        }
        memcpy(fl->names[fl->n++], de->d_name, 21); /* is_log_name: 20 characters */
    }
    qsort(fl->names, fl->n, sizeof *fl->names, cmp_name);
out:
    closedir(d);
    if (st) {
        free(fl->names);
        fl->names = NULL;
        fl->n = 0;
    }
    return st;
}

static uint64_t name_seq(const char *name)
{
    uint64_t v = 0;
    for (int i = 0; i < 16; i++)
        v = v << 4 | (uint64_t)unhex(name[i]);
    return v;
}

/* Called per complete line; returns 1 to stop. *bad_tail is set when the file ends
 * with an unterminated line. */
typedef int (*line_fn)(void *ctx, cof_str line, uint64_t lineno);

#define READ_CHUNK (1u << 20) /* > COF_AUDIT_MAX_LINE + 1, so a whole line always fits */

static cof_status walk_file(const char *path, line_fn fn, void *ctx, int *stopped,
                            uint64_t *nlines, int *unterminated)
{
    int fd = -1;
    char *buf = NULL;
    cof_status st = cof_fs_open(path, O_RDONLY, 0, &fd);
    *stopped = 0;
    *nlines = 0;
    *unterminated = 0;
    if (st)
        goto out;
    buf = malloc(READ_CHUNK);
    if (!buf) {
        st = COF_ERR(COF_NOMEM, "audit read buffer");
        goto out;
    }
    size_t have = 0;
    for (;;) {
        size_t got;
        st = cof_fs_read_all(fd, buf + have, READ_CHUNK - have, &got, path);
        if (st)
            goto out;
        have += got;
        size_t start = 0;
        char *nl;
        while ((nl = memchr(buf + start, '\n', have - start)) != NULL) {
            size_t end = (size_t)(nl - buf);
            ++*nlines;
            if (fn(ctx, cof_str_make(buf + start, end - start), *nlines)) {
                *stopped = 1;
                goto out;
            }
            start = end + 1;
        }
        size_t rest = have - start;
        if (rest > COF_AUDIT_MAX_LINE) {
            /* an over-long line: hand it over so the caller reports it */
            ++*nlines;
            *stopped = fn(ctx, cof_str_make(buf + start, rest), *nlines);
            if (*stopped)
                goto out;
            rest = 0;
            start = have;
        }
        memmove(buf, buf + start, rest);
        have = rest;
        if (got == 0 || have == READ_CHUNK)
            break;
    }
    *unterminated = have > 0;
out:
    free(buf);
    if (fd >= 0)
        close(fd);
    return st;
}

typedef struct {
    cof_audit_chain *c;
    const char *file;
    uint64_t first_seq;
} verify_ctx;

static int verify_line(void *ctx, cof_str line, uint64_t lineno)
{
    verify_ctx *v = ctx;
    if (lineno == 1 && v->c->next_seq != v->first_seq && v->c->rep->problem == COF_AUDIT_OK) {
        /* the file's name says where it starts; a wrong name is a gap or disorder */
        cof_audit_parsed p;
        if (cof_audit_parse_full(line, &p) == COF_OK && p.e.seq == v->c->next_seq)
            return report(v->c, COF_AUDIT_SEQ, p.e.seq, v->file, lineno) != COF_AUDIT_OK;
    }
    return cof_audit_chain_line(v->c, line, v->file, lineno) != COF_AUDIT_OK;
}

static cof_status audit_dir(const char *data_dir, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/audit", data_dir);
    if (n < 0 || (size_t)n >= cap)
        return COF_ERR(COF_LIMIT, "data directory path too long");
    return COF_OK;
}

/* HEAD: parsed and checked on its own (hash and signature). */
static cof_status check_head(const char *dir, const uint8_t pk[32], cof_audit_chain *c,
                             int *have_head)
{
    char path[4200];
    uint8_t *buf = NULL;
    size_t n = 0;
    *have_head = 0;
    snprintf(path, sizeof path, "%s/HEAD", dir);
    cof_status st = cof_fs_read_file(path, COF_AUDIT_MAX_LINE + 1, &buf, &n);
    if (st == COF_NOTFOUND) {
        cof_err_clear();
        return COF_OK;
    }
    if (st == COF_LIMIT || st == COF_CORRUPT) {
        report(c, COF_AUDIT_MALFORMED, 0, "HEAD", 1);
        return COF_OK;
    }
    if (st)
        return st;
    *have_head = 1;
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    cof_audit_parsed p;
    uint8_t h[32], msg[60];
    if (cof_audit_parse_full(cof_str_make((const char *)buf, n), &p) != COF_OK || !p.checkpoint) {
        report(c, COF_AUDIT_MALFORMED, 0, "HEAD", 1);
        goto out;
    }
    cof_audit_line_hash(p.prev, (const char *)buf, p.hashed_len, h);
    if (sodium_memcmp(h, p.hash, 32) != 0) {
        report(c, COF_AUDIT_EDITED, p.e.seq, "HEAD", 1);
        goto out;
    }
    cof_audit_ckpt_msg(p.e.seq, p.head, msg);
    if (crypto_sign_verify_detached(p.sig, msg, sizeof msg, pk) != 0) {
        report(c, COF_AUDIT_BADSIG, p.e.seq, "HEAD", 1);
        goto out;
    }
    c->head_seq = p.e.seq;
    memcpy(c->head_hash, p.hash, 32);
out:
    free(buf);
    return COF_OK;
}

cof_status cof_audit_verify(const char *data_dir, const uint8_t pk[32], cof_audit_report *rep)
{
    char dir[4096], path[4200];
    file_list fl = { NULL, 0 };
    cof_audit_chain c;
    int have_head = 0;
    cof_audit_chain_init(&c, pk, rep);
    cof_status st = audit_dir(data_dir, dir, sizeof dir);
    if (st)
        return st;
    if ((st = list_files(dir, &fl)))
        return st;
    /* HEAD first: a bad HEAD is reported only if the files themselves are intact. */
    cof_audit_report head_rep;
    cof_audit_chain hc;
    cof_audit_chain_init(&hc, pk, &head_rep);
    if ((st = check_head(dir, pk, &hc, &have_head)))
        goto out;
    c.head_seq = hc.head_seq;
    memcpy(c.head_hash, hc.head_hash, 32);
    const char *last_file = "HEAD";
    uint64_t last_lines = 0;
    for (size_t i = 0; i < fl.n && !rep->problem; i++) {
        int stopped, unterminated;
        uint64_t nlines;
        verify_ctx v = { &c, fl.names[i], name_seq(fl.names[i]) };
        snprintf(path, sizeof path, "%s/%s", dir, fl.names[i]);
        if ((st = walk_file(path, verify_line, &v, &stopped, &nlines, &unterminated)))
            goto out;
        if (!stopped && unterminated && i + 1 < fl.n)
            report(&c, COF_AUDIT_MALFORMED, c.next_seq, fl.names[i], nlines + 1);
        if (nlines) {
            last_file = fl.names[i];
            last_lines = nlines;
        }
    }
    if (rep->problem)
        goto out;
    if (head_rep.problem) {
        rep->problem = head_rep.problem;
        rep->seq = head_rep.seq;
        snprintf(rep->file, sizeof rep->file, "HEAD");
        rep->line = 1;
    } else if (!have_head && rep->checkpoints > 0) {
        /* checkpoints exist but HEAD is gone: HEAD was deleted (with a truncation?) */
        report(&c, COF_AUDIT_TRUNCATED, 0, "HEAD", 0);
    } else if (have_head && c.head_seq > rep->last_seq) {
        report(&c, COF_AUDIT_TRUNCATED, c.head_seq, last_file, last_lines + 1);
    } else if (have_head && c.head_seen != 1) {
        report(&c, COF_AUDIT_EDITED, c.head_seq, c.head_file[0] ? c.head_file : "HEAD",
               c.head_line);
    }
out:
    free(fl.names);
    return st;
}

/* ---- each ---- */

typedef struct {
    const cof_audit_filter *f;
    char principal[COF_AUDIT_MAX_NAME], action[COF_AUDIT_MAX_NAME];
    size_t np, na;
    cof_audit_fn fn;
    void *ctx;
    cof_status st;
    const char *file;
} each_ctx;

static int each_line(void *ctx, cof_str line, uint64_t lineno)
{
    each_ctx *x = ctx;
    cof_audit_parsed p;
    if (cof_audit_parse_full(line, &p) != COF_OK) {
        x->st = COF_ERR(COF_CORRUPT, "audit file %s line %llu: not a record (run coffer audit verify)",
                        x->file, (unsigned long long)lineno);
        return 1;
    }
    const cof_audit_filter *f = x->f;
    if (f) {
        if (p.checkpoint && !f->include_checkpoints)
            return 0;
        if (f->since && p.e.time < f->since)
            return 0;
        if (f->until && p.e.time >= f->until)
            return 0;
        if (f->principal && !cof_str_eq(p.e.principal, cof_str_make(x->principal, x->np)))
            return 0;
        if (f->action && !cof_str_eq(p.e.action, cof_str_make(x->action, x->na)))
            return 0;
    }
    x->st = x->fn(x->ctx, &p.e);
    return x->st != COF_OK;
}

cof_status cof_audit_each(const char *data_dir, const cof_audit_filter *f, cof_audit_fn fn,
                          void *ctx)
{
    char dir[4096], path[4200];
    file_list fl = { NULL, 0 };
    each_ctx x;
    memset(&x, 0, sizeof x);
    x.f = f;
    x.fn = fn;
    x.ctx = ctx;
    int cut = 0;
    /* filters compare with the escaped form the writer stored */
    if (f && f->principal)
        x.np = cof_audit_escape(cof_str_c(f->principal), x.principal, sizeof x.principal, &cut);
    if (f && f->action)
        x.na = cof_audit_escape(cof_str_c(f->action), x.action, sizeof x.action, &cut);
    cof_status st = audit_dir(data_dir, dir, sizeof dir);
    if (st)
        return st;
    if ((st = list_files(dir, &fl)))
        return st;
    for (size_t i = 0; i < fl.n; i++) {
        int stopped, unterminated;
        uint64_t nlines;
        x.file = fl.names[i];
        snprintf(path, sizeof path, "%s/%s", dir, fl.names[i]);
        if ((st = walk_file(path, each_line, &x, &stopped, &nlines, &unterminated)))
            goto out;
        if (stopped) {
            st = x.st;
            goto out;
        }
    }
out:
    free(fl.names);
    return st;
}
