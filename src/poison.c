/* poison.c - the poison registry and matching (see poison.h for the file format and
 * invariants). Synthetic events are made in poison_gen.c. */
#include "poison.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "fsutil.h"
#include "ingest.h"
#include "poison_int.h"
#include "policy.h"
#include "seal.h"

#define MAGIC "COFPOIS1"
#define VERSION 1u
#define HDR (8 + 4)
#define AD "coffer-poison-reg-v1"
#define ADDR_CTX "coffer-poison-addr-v1"

typedef struct {
    cof_poison_set_info info;
    cof_paddr *a;
    uint32_t n;
} pset;

typedef struct {
    uint8_t tok[COF_TOKEN_LEN];
    uint8_t field; /* COF_F_RECIPIENT or COF_F_SENDER */
    uint32_t set;
} tok_ent;

typedef struct {
    uint8_t h[16];
    uint32_t set;
} addr_ent;

typedef struct {
    pset *sets;
    uint32_t nsets;
    tok_ent *tix;
    uint32_t ntix;
    addr_ent *aix;
    uint32_t naix;
} reg;

struct cof_poison {
    char path[4200], lock_path[4200];
    cof_keyring *k;
    uint8_t *keys; /* sodium_malloc: [0,32) registry key, [32,64) address key */
    reg r;
    int have_stat;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
};

struct cof_poison_records {
    struct item {
        cof_event ev;
        cof_policy_scratch sc;
        char sbuf[2048];
    } *items;
    cof_record *recs;
    uint32_t n;
    char tenant[COF_MAX_TENANT_NAME + 1];
};

const char *cof_poison_kind_name(cof_poison_kind k)
{
    return k == COF_POISON_PLANTED ? "planted" : k == COF_POISON_WATERMARK ? "watermark" : "?";
}

static void reg_free(reg *r)
{
    for (uint32_t i = 0; i < r->nsets; i++)
        free(r->sets[i].a);
    free(r->sets);
    free(r->tix);
    free(r->aix);
    memset(r, 0, sizeof *r);
}

static int cmp_tok(const void *x, const void *y)
{
    const tok_ent *a = x, *b = y;
    int c = memcmp(a->tok, b->tok, COF_TOKEN_LEN);
    return c ? c : (int)a->field - (int)b->field;
}

static int cmp_addr(const void *x, const void *y)
{
    return memcmp(((const addr_ent *)x)->h, ((const addr_ent *)y)->h, 16);
}

static cof_status reg_index(reg *r)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < r->nsets; i++)
        total += r->sets[i].n;
    if (total > COF_MAX_POISON_ADDRS)
        return COF_ERR(COF_LIMIT, "poison registry: more than %u addresses",
                       (unsigned)COF_MAX_POISON_ADDRS);
    free(r->tix);
    free(r->aix);
    r->tix = malloc((total ? total : 1) * 2 * sizeof *r->tix);
    r->aix = malloc((total ? total : 1) * sizeof *r->aix);
    if (!r->tix || !r->aix)
        return COF_ERR(COF_NOMEM, "poison index: out of memory");
    uint32_t nt = 0, na = 0;
    for (uint32_t i = 0; i < r->nsets; i++)
        for (uint32_t j = 0; j < r->sets[i].n; j++) {
            const cof_paddr *a = &r->sets[i].a[j];
            memcpy(r->tix[nt].tok, a->rtok, COF_TOKEN_LEN);
            r->tix[nt].field = COF_F_RECIPIENT;
            r->tix[nt++].set = i;
            memcpy(r->tix[nt].tok, a->stok, COF_TOKEN_LEN);
            r->tix[nt].field = COF_F_SENDER;
            r->tix[nt++].set = i;
            memcpy(r->aix[na].h, a->ahash, 16);
            r->aix[na++].set = i;
        }
    qsort(r->tix, nt, sizeof *r->tix, cmp_tok);
    qsort(r->aix, na, sizeof *r->aix, cmp_addr);
    r->ntix = nt;
    r->naix = na;
    return COF_OK;
}

/* ---- payload (hostile input behind the AEAD; fuzzed through parse_payload) ---- */

static int rd_str(cof_rd *rd, char *out, size_t cap)
{
    uint64_t n;
    const uint8_t *p;
    if (!cof_rd_varint(rd, &n) || n >= cap || !cof_rd_bytes(rd, (size_t)n, &p))
        return 0;
    memcpy(out, p, (size_t)n);
    out[n] = 0;
    return memchr(out, 0, (size_t)n) == NULL;
}

static cof_status parse_payload(const uint8_t *pt, size_t n, reg *out)
{
    cof_rd rd = cof_rd_make(pt, n);
    reg r;
    memset(&r, 0, sizeof r);
    uint64_t nsets;
    cof_status st = COF_OK;
    if (!cof_rd_varint(&rd, &nsets) || nsets > COF_MAX_POISON_SETS)
        return COF_ERR(COF_CORRUPT, "poison registry: bad set count");
    /* Each set takes at least 40 bytes: never allocate past what the bytes can hold. */
    if (nsets > (size_t)(rd.end - rd.p) / 40 + 1)
        return COF_ERR(COF_CORRUPT, "poison registry: set count exceeds the file");
    r.sets = calloc(nsets ? (size_t)nsets : 1, sizeof *r.sets);
    if (!r.sets)
        return COF_ERR(COF_NOMEM, "poison registry: out of memory");
    uint64_t total = 0;
    for (uint64_t i = 0; i < nsets; i++) {
        pset *s = &r.sets[i];
        cof_poison_set_info *in = &s->info;
        const uint8_t *id;
        uint8_t kind;
        uint64_t created, since, until, cnt;
        r.nsets = (uint32_t)i + 1;
        if (!cof_rd_bytes(&rd, 8, &id) || !rd_str(&rd, in->tenant, sizeof in->tenant) ||
            !rd_str(&rd, in->owner, sizeof in->owner) || !rd_str(&rd, in->domain, sizeof in->domain) ||
            !cof_rd_u8(&rd, &kind) || !cof_rd_u64le(&rd, &created) || !cof_rd_u64le(&rd, &since) ||
            !cof_rd_u64le(&rd, &until) || !cof_rd_varint(&rd, &cnt)) {
            st = COF_ERR(COF_CORRUPT, "poison registry: set %u is truncated", (unsigned)i);
            goto out;
        }
        if ((kind != COF_POISON_PLANTED && kind != COF_POISON_WATERMARK) || !in->tenant[0] ||
            !cof_tenant_name_valid(cof_str_c(in->tenant)) || cnt == 0 ||
            cnt > COF_MAX_POISON_PLANT || (total += cnt) > COF_MAX_POISON_ADDRS ||
            cnt > (size_t)(rd.end - rd.p) / sizeof(cof_paddr)) {
            st = COF_ERR(COF_CORRUPT, "poison registry: set %u is invalid", (unsigned)i);
            goto out;
        }
        sodium_bin2hex(in->id, sizeof in->id, id, 8);
        in->kind = (cof_poison_kind)kind;
        in->created = (int64_t)created;
        in->since = (int64_t)since;
        in->until = (int64_t)until;
        in->count = (uint32_t)cnt;
        s->a = malloc((size_t)cnt * sizeof *s->a);
        if (!s->a) {
            st = COF_ERR(COF_NOMEM, "poison registry: out of memory");
            goto out;
        }
        s->n = (uint32_t)cnt;
        const uint8_t *p;
        if (!cof_rd_bytes(&rd, (size_t)cnt * sizeof *s->a, &p)) {
            st = COF_ERR(COF_CORRUPT, "poison registry: set %u is truncated", (unsigned)i);
            goto out;
        }
        memcpy(s->a, p, (size_t)cnt * sizeof *s->a);
    }
    if (rd.p != rd.end) {
        st = COF_ERR(COF_CORRUPT, "poison registry: trailing bytes");
        goto out;
    }
    if ((st = reg_index(&r)))
        goto out;
    *out = r;
    return COF_OK;
out:
    reg_free(&r);
    return st;
}

cof_status cof_poison_parse_payload(const uint8_t *pt, size_t n, uint32_t *nsets,
                                    uint32_t *naddrs)
{
    reg r;
    cof_status st = parse_payload(pt, n, &r);
    if (st)
        return st;
    *nsets = r.nsets;
    *naddrs = r.naix;
    reg_free(&r);
    return COF_OK;
}

static cof_status parse_file(const uint8_t *file, size_t n, const uint8_t key[32], reg *out)
{
    if (n < HDR + COF_SEAL_OVERHEAD || memcmp(file, MAGIC, 8) != 0)
        return COF_ERR(COF_CORRUPT, "poison registry: not a coffer poison registry");
    if (cof_get_u32le(file + 8) != VERSION)
        return COF_ERR(COF_CORRUPT, "poison registry: unknown version %u",
                       (unsigned)cof_get_u32le(file + 8));
    size_t ptn = n - HDR - COF_SEAL_OVERHEAD;
    uint8_t *pt = malloc(ptn ? ptn : 1);
    if (!pt)
        return COF_ERR(COF_NOMEM, "poison registry: out of memory");
    cof_status st = cof_seal_open(key, (const uint8_t *)AD, sizeof AD - 1, file + HDR, n - HDR, pt);
    if (st)
        st = COF_ERR(COF_CORRUPT, "poison registry: authentication failed (altered, or "
                                  "another store's file)");
    else
        st = parse_payload(pt, ptn, out);
    free(pt);
    return st;
}

cof_status cof_poison_parse_file(const uint8_t *file, size_t n, const uint8_t key[32],
                                 uint32_t *nsets)
{
    reg r;
    cof_status st = parse_file(file, n, key, &r);
    if (st)
        return st;
    *nsets = r.nsets;
    reg_free(&r);
    return COF_OK;
}

static cof_status serialize(const cof_poison *p, const reg *r, cof_buf *file)
{
    cof_buf pl;
    cof_buf_init(&pl, COF_MAX_POISON_BYTES);
    cof_status st = cof_buf_add_varint(&pl, r->nsets);
    for (uint32_t i = 0; i < r->nsets && !st; i++) {
        const pset *s = &r->sets[i];
        uint8_t id[8];
        size_t idn = 0;
        if (sodium_hex2bin(id, sizeof id, s->info.id, COF_POISON_IDLEN, NULL, &idn, NULL) ||
            idn != 8) {
            st = COF_ERR(COF_BADINPUT, "poison set id is not 16 hex digits");
            break;
        }
        const char *strs[3] = { s->info.tenant, s->info.owner, s->info.domain };
        if ((st = cof_buf_add(&pl, id, 8)))
            break;
        for (int k = 0; k < 3 && !st; k++)
            if (!(st = cof_buf_add_varint(&pl, strlen(strs[k]))))
                st = cof_buf_add(&pl, strs[k], strlen(strs[k]));
        if (st || (st = cof_buf_add_u8(&pl, (uint8_t)s->info.kind)) ||
            (st = cof_buf_add_u64le(&pl, (uint64_t)s->info.created)) ||
            (st = cof_buf_add_u64le(&pl, (uint64_t)s->info.since)) ||
            (st = cof_buf_add_u64le(&pl, (uint64_t)s->info.until)) ||
            (st = cof_buf_add_varint(&pl, s->n)))
            break;
        st = cof_buf_add(&pl, s->a, (size_t)s->n * sizeof *s->a);
    }
    if (!st && !(st = cof_buf_reserve(file, HDR + pl.n + COF_SEAL_OVERHEAD))) {
        memcpy(file->p, MAGIC, 8);
        cof_put_u32le(file->p + 8, VERSION);
        st = cof_seal_box(p->keys, (const uint8_t *)AD, sizeof AD - 1, pl.p, pl.n, file->p + HDR);
        if (!st)
            file->n = HDR + pl.n + COF_SEAL_OVERHEAD;
    }
    cof_buf_free(&pl);
    return st;
}

/* Read the registry from disk into p->r (replacing it only on success). */
static cof_status load(cof_poison *p)
{
    struct stat sb;
    uint8_t *buf = NULL;
    size_t n = 0;
    int fd = -1;
    cof_status st = cof_fs_open(p->path, O_RDONLY | O_NOFOLLOW, 0, &fd);
    if (st == COF_NOTFOUND) {
        reg_free(&p->r);
        p->have_stat = 0;
        cof_err_clear();
        return COF_OK;
    }
    if (st)
        return st;
    if ((st = cof_fs_check_private(fd, p->path, "poison registry", 0600)))
        goto out;
    if (fstat(fd, &sb) != 0) {
        st = COF_ERRNO("stat %s", p->path);
        goto out;
    }
    if ((uint64_t)sb.st_size > COF_MAX_POISON_BYTES) {
        st = COF_ERR(COF_LIMIT, "%s is larger than %u bytes", p->path,
                     (unsigned)COF_MAX_POISON_BYTES);
        goto out;
    }
    buf = malloc((size_t)sb.st_size + 1);
    if (!buf) {
        st = COF_ERR(COF_NOMEM, "out of memory");
        goto out;
    }
    if ((st = cof_fs_read_all(fd, buf, (size_t)sb.st_size, &n, p->path)))
        goto out;
    reg r;
    if ((st = parse_file(buf, n, p->keys, &r))) {
        st = COF_ERR(st, "%s: %s", p->path, cof_err_msg());
        goto out;
    }
    reg_free(&p->r);
    p->r = r;
    p->have_stat = 1;
    p->dev = sb.st_dev;
    p->ino = sb.st_ino;
    p->size = sb.st_size;
    p->mtime = sb.st_mtim;
out:
    free(buf);
    if (fd >= 0)
        (void)close(fd);
    return st;
}

cof_status cof_poison_open(const char *data_dir, cof_keyring *k, cof_poison **out)
{
    cof_status st = cof_seal_init();
    if (st)
        return st;
    cof_poison *p = calloc(1, sizeof *p);
    if (!p)
        return COF_ERR(COF_NOMEM, "out of memory");
    int a = snprintf(p->path, sizeof p->path, "%s/" COF_POISON_FILE, data_dir);
    int b = snprintf(p->lock_path, sizeof p->lock_path, "%s/poison.lock", data_dir);
    if (a < 0 || (size_t)a >= sizeof p->path || b < 0 || (size_t)b >= sizeof p->lock_path) {
        st = COF_ERR(COF_LIMIT, "data directory path too long");
        goto fail;
    }
    p->k = k;
    p->keys = sodium_malloc(64);
    if (!p->keys) {
        st = COF_ERR(COF_NOMEM, "key memory");
        goto fail;
    }
    if ((st = cof_keyring_subkey(k, "poison-reg", p->keys)) ||
        (st = cof_keyring_subkey(k, "poison-addr", p->keys + 32)) || (st = load(p)))
        goto fail;
    *out = p;
    return COF_OK;
fail:
    cof_poison_close(p);
    return st;
}

void cof_poison_close(cof_poison *p)
{
    if (!p)
        return;
    reg_free(&p->r);
    if (p->keys)
        sodium_free(p->keys);
    free(p);
}

cof_status cof_poison_reload_if_changed(cof_poison *p, int *changed)
{
    struct stat sb;
    if (changed)
        *changed = 0;
    if (stat(p->path, &sb) != 0) {
        if (errno != ENOENT)
            return COF_ERRNO("stat %s", p->path);
        if (!p->have_stat)
            return COF_OK;
    } else if (p->have_stat && sb.st_dev == p->dev && sb.st_ino == p->ino &&
               sb.st_size == p->size && sb.st_mtim.tv_sec == p->mtime.tv_sec &&
               sb.st_mtim.tv_nsec == p->mtime.tv_nsec) {
        return COF_OK;
    }
    cof_status st = load(p);
    if (!st && changed)
        *changed = 1;
    return st;
}

uint32_t cof_poison_nsets(const cof_poison *p) { return p ? p->r.nsets : 0; }

cof_status cof_poison_list(const cof_poison *p, cof_poison_set_info **out, uint32_t *n)
{
    *out = malloc((p->r.nsets ? p->r.nsets : 1) * sizeof **out);
    if (!*out)
        return COF_ERR(COF_NOMEM, "out of memory");
    for (uint32_t i = 0; i < p->r.nsets; i++)
        (*out)[i] = p->r.sets[i].info;
    *n = p->r.nsets;
    return COF_OK;
}

/* ---- matching ---- */

static void fill_hit(const pset *s, cof_poison_hit *hit)
{
    if (!hit)
        return;
    memset(hit, 0, sizeof *hit);
    memcpy(hit->set_id, s->info.id, sizeof hit->set_id);
    hit->kind = s->info.kind;
    snprintf(hit->owner, sizeof hit->owner, "%s", s->info.owner);
    snprintf(hit->tenant, sizeof hit->tenant, "%s", s->info.tenant);
}

static int find_tok(const reg *r, const uint8_t tok[COF_TOKEN_LEN], uint8_t field,
                    const char *tenant, int planted_only, cof_poison_hit *hit)
{
    size_t lo = 0, hi = r->ntix;
    tok_ent key;
    memcpy(key.tok, tok, COF_TOKEN_LEN);
    key.field = field;
    while (lo < hi) { /* first entry >= key */
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_tok(&r->tix[mid], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (size_t i = lo; i < r->ntix && cmp_tok(&r->tix[i], &key) == 0; i++) {
        const pset *s = &r->sets[r->tix[i].set];
        if (strcmp(s->info.tenant, tenant) != 0)
            continue;
        if (planted_only && s->info.kind != COF_POISON_PLANTED)
            continue;
        fill_hit(s, hit);
        return 1;
    }
    return 0;
}

static int tenant_has_sets(const reg *r, const char *tenant)
{
    for (uint32_t i = 0; i < r->nsets; i++)
        if (strcmp(r->sets[i].info.tenant, tenant) == 0)
            return 1;
    return 0;
}

static int match(const cof_poison *p, const char *tenant, const cof_record *r, int planted_only,
                 cof_poison_hit *hit)
{
    if (!p || !p->r.ntix || !tenant || !tenant_has_sets(&p->r, tenant))
        return 0;
    static const uint8_t fields[2] = { COF_F_RECIPIENT, COF_F_SENDER };
    for (int i = 0; i < 2; i++) {
        cof_field f = (cof_field)fields[i];
        uint8_t tok[COF_TOKEN_LEN];
        if (r->token_mask & (1u << f)) {
            memcpy(tok, r->token[f], sizeof tok);
        } else if (r->sealed[f].n) { /* from a query that carries no tokens (invariant 2) */
            const uint8_t *bk;
            if (cof_keyring_blind_key(p->k, tenant, &bk) != COF_OK ||
                cof_seal_token(bk, f, r->sealed[f], tok) != COF_OK)
                continue;
        } else {
            continue;
        }
        if (find_tok(&p->r, tok, (uint8_t)f, tenant, planted_only, hit))
            return 1;
    }
    return 0;
}

int cof_poison_match_record(const cof_poison *p, const char *tenant, const cof_record *r,
                            cof_poison_hit *hit)
{
    return match(p, tenant, r, 0, hit);
}

int cof_poison_match_planted(const cof_poison *p, const char *tenant, const cof_record *r,
                             cof_poison_hit *hit)
{
    return match(p, tenant, r, 1, hit);
}

static cof_status addr_hash(const uint8_t key[32], cof_str addr, uint8_t out[16])
{
    char norm[COF_MAX_ADDR + 1];
    size_t n;
    cof_status st = cof_seal_normalize(addr, norm, sizeof norm, &n);
    if (st)
        return st;
    crypto_generichash_state s;
    crypto_generichash_init(&s, key, 32, 16);
    crypto_generichash_update(&s, (const uint8_t *)ADDR_CTX, sizeof ADDR_CTX - 1);
    crypto_generichash_update(&s, (const uint8_t *)norm, n);
    crypto_generichash_final(&s, out, 16);
    sodium_memzero(norm, sizeof norm);
    return COF_OK;
}

int cof_poison_match_address(const cof_poison *p, cof_str addr, cof_poison_hit *hit)
{
    uint8_t h[16];
    if (!p || !p->r.naix || !addr.n || addr_hash(p->keys + 32, addr, h) != COF_OK)
        return 0;
    size_t lo = 0, hi = p->r.naix;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(p->r.aix[mid].h, h, 16);
        if (c == 0) {
            fill_hit(&p->r.sets[p->r.aix[mid].set], hit);
            return 1;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* ---- adding a set: read-modify-write under the lock ---- */

static cof_status lock_reg(const cof_poison *p, int *fd)
{
    cof_status st = cof_fs_open(p->lock_path, O_RDWR | O_CREAT | O_NOFOLLOW, 0600, fd);
    if (st)
        return st;
    while (flock(*fd, LOCK_EX) != 0) {
        if (errno == EINTR)
            continue;
        st = COF_ERRNO("flock %s", p->lock_path);
        (void)close(*fd);
        *fd = -1;
        return st;
    }
    return COF_OK;
}

/* Append set (its address array is taken over on success) and save. */
static cof_status add_set(cof_poison *p, pset *set)
{
    int fd = -1;
    cof_buf file;
    cof_buf_init(&file, COF_MAX_POISON_BYTES + HDR + COF_SEAL_OVERHEAD);
    cof_status st = lock_reg(p, &fd);
    if (st)
        return st;
    if ((st = load(p)))
        goto out;
    if (p->r.nsets >= COF_MAX_POISON_SETS) {
        st = COF_ERR(COF_LIMIT, "the poison registry holds %u sets already",
                     (unsigned)COF_MAX_POISON_SETS);
        goto out;
    }
    pset *ns = realloc(p->r.sets, (p->r.nsets + 1) * sizeof *ns);
    if (!ns) {
        st = COF_ERR(COF_NOMEM, "out of memory");
        goto out;
    }
    p->r.sets = ns;
    p->r.sets[p->r.nsets++] = *set;
    if ((st = reg_index(&p->r)) || (st = serialize(p, &p->r, &file)) ||
        (st = cof_fs_replace(p->path, file.p, file.n, 0600))) {
        p->r.nsets--; /* the caller still owns set->a */
        cof_status ist = reg_index(&p->r);
        (void)ist;
        goto out;
    }
    struct stat sb;
    if (stat(p->path, &sb) == 0) {
        p->have_stat = 1;
        p->dev = sb.st_dev;
        p->ino = sb.st_ino;
        p->size = sb.st_size;
        p->mtime = sb.st_mtim;
    }
out:
    cof_buf_free(&file);
    (void)close(fd);
    return st;
}

/* n fresh addresses (unique in the set and the registry) with tokens and hashes. */
static cof_status make_addrs(cof_poison *p, const char *tenant, uint32_t n, const char *domain,
                             const cof_psample *const *pick, char (*addrs)[COF_MAX_ADDR + 1],
                             cof_paddr *pa)
{
    const uint8_t *bk;
    cof_status st = cof_keyring_blind_key(p->k, tenant, &bk);
    if (st)
        return st;
    for (uint32_t i = 0; i < n; i++) {
        for (int tries = 0;; tries++) {
            if (tries > 100)
                return COF_ERR(COF_LIMIT, "could not find unused synthetic addresses");
            /* the event's own sample: its relay goes with its recipient domain */
            const char *d = domain ? domain : pick[i] && pick[i]->rdom[0] ? pick[i]->rdom : NULL;
            cof_poison_gen_address(d ? d : cof_poison_gen_domain(), addrs[i], COF_MAX_ADDR + 1);
            cof_str a = cof_str_c(addrs[i]);
            if ((st = addr_hash(p->keys + 32, a, pa[i].ahash)))
                return st;
            int dup = cof_poison_match_address(p, a, NULL);
            for (uint32_t j = 0; j < i && !dup; j++)
                dup = memcmp(pa[j].ahash, pa[i].ahash, 16) == 0;
            if (dup)
                continue;
            if ((st = cof_seal_token(bk, COF_F_RECIPIENT, a, pa[i].rtok)) ||
                (st = cof_seal_token(bk, COF_F_SENDER, a, pa[i].stok)))
                return st;
            break;
        }
    }
    return COF_OK;
}

static void new_set_info(pset *s, const char *tenant, cof_poison_kind kind, const char *owner,
                         const char *domain, int64_t since, int64_t until, uint32_t n)
{
    uint8_t id[8];
    randombytes_buf(id, sizeof id);
    memset(s, 0, sizeof *s);
    sodium_bin2hex(s->info.id, sizeof s->info.id, id, sizeof id);
    snprintf(s->info.tenant, sizeof s->info.tenant, "%s", tenant);
    snprintf(s->info.owner, sizeof s->info.owner, "%s", owner ? owner : "");
    snprintf(s->info.domain, sizeof s->info.domain, "%s", domain ? domain : "");
    s->info.kind = kind;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    s->info.created = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    s->info.since = since;
    s->info.until = until;
    s->info.count = n;
    s->n = n;
}

static cof_status check_args(const char *tenant, uint32_t n, uint32_t max, const char *domain,
                             int64_t since, int64_t until)
{
    if (!tenant || !cof_tenant_name_valid(cof_str_c(tenant)))
        return COF_ERR(COF_BADINPUT, "invalid tenant name");
    if (n == 0 || n > max)
        return COF_ERR(COF_BADINPUT, "count must be 1..%u", (unsigned)max);
    if (until <= since)
        return COF_ERR(COF_BADINPUT, "the time window is empty");
    if (domain) {
        size_t dn = strlen(domain);
        if (dn == 0 || dn > 253 || !strchr(domain, '.'))
            return COF_ERR(COF_BADINPUT, "--domain needs a domain name such as traps.example.net");
        for (size_t i = 0; i < dn; i++) {
            char c = domain[i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.'))
                return COF_ERR(COF_BADINPUT, "--domain holds a character other than "
                                             "letters, digits, '-' and '.'");
        }
    }
    return COF_OK;
}

cof_status cof_poison_plant(cof_poison *p, cof_store *s, const char *tenant, uint32_t n,
                            const char *domain, int64_t since, int64_t until, cof_buf *reveal,
                            char set_id[COF_POISON_IDLEN + 1])
{
    cof_psamples smp = { 0 };
    char(*addrs)[COF_MAX_ADDR + 1] = NULL;
    pset set;
    memset(&set, 0, sizeof set);
    char *sbuf = NULL;
    const cof_psample **pick = NULL;
    cof_status st = check_args(tenant, n, COF_MAX_POISON_PLANT, domain, since, until);
    if (st)
        return st;
    if (!cof_store_keyring(s))
        return COF_ERR(COF_DENIED, "planting needs the master key");
    if ((st = cof_poison_reload_if_changed(p, NULL)) ||
        (st = cof_poison_sample(s, tenant, since, until, &smp)))
        goto out;
    new_set_info(&set, tenant, COF_POISON_PLANTED, "", domain, since, until, n);
    addrs = calloc(n, sizeof *addrs);
    set.a = calloc(n, sizeof *set.a);
    pick = calloc(n, sizeof *pick);
    sbuf = malloc(2048);
    if (!addrs || !set.a || !pick || !sbuf) {
        st = COF_ERR(COF_NOMEM, "out of memory");
        goto out;
    }
    /* With --domain the mail is for the operator: follow inbound rows if there are any. */
    uint32_t nin = 0;
    for (uint32_t i = 0; i < smp.n; i++)
        nin += smp.s[i].direction == COF_DIR_INBOUND;
    for (uint32_t i = 0; i < n && smp.n; i++)
        for (int tries = 0; tries < 64; tries++) {
            pick[i] = &smp.s[randombytes_uniform(smp.n)];
            if (!domain || !nin || pick[i]->direction == COF_DIR_INBOUND)
                break;
        }
    if ((st = make_addrs(p, tenant, n, domain, pick, addrs, set.a)))
        goto out;
    /* Registered before any event is stored: no stored poison is ever unknown. */
    if ((st = add_set(p, &set)))
        goto out;
    set.a = NULL; /* now owned by the registry */
    memcpy(set_id, set.info.id, COF_POISON_IDLEN + 1);
    cof_event_sink sink;
    cof_event_sink_init(&sink, s);
    for (uint32_t i = 0; i < n && !st; i++) {
        cof_event ev;
        cof_poison_gen_event(pick[i], addrs[i], since, until, &ev, sbuf, 2048);
        if (domain)
            ev.direction = COF_DIR_INBOUND;
        st = cof_event_sink_add(&sink, &ev, tenant);
        if (!st && reveal) {
            if (!(st = cof_buf_add(reveal, addrs[i], strlen(addrs[i]))))
                st = cof_buf_add_u8(reveal, '\n');
        }
    }
    if (!st)
        st = cof_store_commit(s);
out:
    if (addrs) {
        sodium_memzero(addrs, (size_t)n * sizeof *addrs);
        free(addrs);
    }
    if (sbuf) {
        sodium_memzero(sbuf, 2048);
        free(sbuf);
    }
    free(set.a);
    free(pick);
    free(smp.s);
    return st;
}

static int cmp_rec_time(const void *x, const void *y)
{
    const cof_record *a = x, *b = y;
    return (a->time_us > b->time_us) - (a->time_us < b->time_us);
}

cof_status cof_poison_watermark(cof_poison *p, cof_store *s, const char *tenant, const char *owner,
                                uint32_t n, int64_t since, int64_t until,
                                char set_id[COF_POISON_IDLEN + 1], const cof_record **out,
                                cof_poison_records **mem)
{
    cof_psamples smp = { 0 };
    char(*addrs)[COF_MAX_ADDR + 1] = NULL;
    pset set;
    memset(&set, 0, sizeof set);
    cof_poison_records *m = NULL;
    const cof_psample **pick = NULL;
    const cof_config *cfg = cof_store_config(s);
    cof_status st = check_args(tenant, n, COF_MAX_POISON_WATERMARK, NULL, since, until);
    if (st)
        return st;
    if (!owner || !*owner || strlen(owner) > 64)
        return COF_ERR(COF_BADINPUT, "a watermark needs its owner's principal name");
    if ((st = cof_poison_reload_if_changed(p, NULL)) ||
        (st = cof_poison_sample(s, tenant, since, until, &smp)))
        goto out;
    new_set_info(&set, tenant, COF_POISON_WATERMARK, owner, NULL, since, until, n);
    addrs = calloc(n, sizeof *addrs);
    set.a = calloc(n, sizeof *set.a);
    pick = calloc(n, sizeof *pick);
    m = calloc(1, sizeof *m);
    if (m) {
        m->items = calloc(n, sizeof *m->items);
        m->recs = calloc(n, sizeof *m->recs);
    }
    if (!addrs || !set.a || !pick || !m || !m->items || !m->recs) {
        st = COF_ERR(COF_NOMEM, "out of memory");
        goto out;
    }
    m->n = n; /* so a failure below wipes every item */
    snprintf(m->tenant, sizeof m->tenant, "%s", tenant);
    for (uint32_t i = 0; i < n && smp.n; i++)
        pick[i] = &smp.s[randombytes_uniform(smp.n)];
    if ((st = make_addrs(p, tenant, n, NULL, pick, addrs, set.a)))
        goto out;
    const uint8_t *bk;
    if ((st = cof_keyring_blind_key(p->k, tenant, &bk)))
        goto out;
    for (uint32_t i = 0; i < n && !st; i++) {
        struct item *it = &m->items[i];
        cof_poison_gen_event(pick[i], addrs[i], since, until, &it->ev, it->sbuf, sizeof it->sbuf);
        st = cof_policy_apply(cfg, m->tenant, bk, &it->ev, &it->sc, &m->recs[i]);
    }
    if (st)
        goto out;
    qsort(m->recs, n, sizeof *m->recs, cmp_rec_time);
    if ((st = add_set(p, &set)))
        goto out;
    set.a = NULL;
    memcpy(set_id, set.info.id, COF_POISON_IDLEN + 1);
    *out = m->recs;
    *mem = m;
    m = NULL;
out:
    if (addrs) {
        sodium_memzero(addrs, (size_t)n * sizeof *addrs);
        free(addrs);
    }
    free(set.a);
    free(pick);
    free(smp.s);
    cof_poison_records_free(m);
    return st;
}

void cof_poison_records_free(cof_poison_records *m)
{
    if (!m)
        return;
    if (m->items)
        sodium_memzero(m->items, (size_t)m->n * sizeof *m->items);
    free(m->items);
    free(m->recs);
    free(m);
}
