/* export.c - bulk export state, approval and the two-pass writer (export.h). */
#include "export.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "fsutil.h"
#include "output.h"
#include "timefmt.h"

static const char *const state_names[] = { "pending", "approved", "rejected",
                                           "done",    "expired",  "withheld" };

const char *cof_export_state_name(cof_export_state s)
{
    return (unsigned)s < 6 ? state_names[s] : "?";
}

static int id_valid(const char *id)
{
    if (!id || strlen(id) != COF_EXPORT_IDLEN || id[0] != 'x' || id[1] != '-')
        return 0;
    for (int i = 2; i < COF_EXPORT_IDLEN; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    return 1;
}

static cof_status paths(const char *data_dir, const char *id, char *dir, char *file, size_t cap)
{
    int a = snprintf(dir, cap, "%s/exports", data_dir);
    int b = id ? snprintf(file, cap, "%s/exports/%s.json", data_dir, id) : 0;
    if (a < 0 || (size_t)a >= cap || b < 0 || (size_t)b >= cap)
        return COF_ERR(COF_LIMIT, "data directory path too long");
    return COF_OK;
}

static cof_status lock_exports(const char *data_dir, int *fd)
{
    char dir[4200], lock[4300];
    cof_status st = paths(data_dir, NULL, dir, NULL, sizeof dir);
    if (st || (st = cof_fs_mkdir_p(dir, 0700)))
        return st;
    snprintf(lock, sizeof lock, "%s/LOCK", dir);
    return cof_fs_lock(lock, fd);
}

/* ---- JSON state file ---- */

static json_t *jtime(int64_t us)
{
    char buf[64];
    return us ? json_string(cof_time_format(us, buf, sizeof buf)) : json_null();
}

static json_t *jstr_or_null(const char *s) { return *s ? json_string(s) : json_null(); }

static cof_status save(const char *data_dir, const cof_export *e, int create)
{
    char dir[4200], file[4200];
    cof_status st = paths(data_dir, e->id, dir, file, sizeof dir);
    if (st)
        return st;
    json_t *o = json_object();
    if (!o)
        return COF_ERR(COF_NOMEM, "out of memory");
    json_object_set_new(o, "format", json_string("coffer-export-1"));
    json_object_set_new(o, "id", json_string(e->id));
    json_object_set_new(o, "requester", json_string(e->requester));
    json_object_set_new(o, "tenant", json_string(e->tenant));
    json_object_set_new(o, "since", jtime(e->since));
    json_object_set_new(o, "until", jtime(e->until));
    json_object_set_new(o, "reason", json_string(e->reason));
    json_object_set_new(o, "created", jtime(e->created));
    json_object_set_new(o, "expires", jtime(e->expires));
    json_object_set_new(o, "state", json_string(cof_export_state_name(e->state)));
    json_object_set_new(o, "approver", jstr_or_null(e->approver));
    json_object_set_new(o, "approved", jtime(e->approved));
    json_object_set_new(o, "rejected_by", jstr_or_null(e->rejected_by));
    json_object_set_new(o, "rejected", jtime(e->rejected));
    json_object_set_new(o, "done", jtime(e->done));
    json_object_set_new(o, "events", e->done ? json_integer((json_int_t)e->events) : json_null());
    json_object_set_new(o, "watermark", jstr_or_null(e->watermark));
    json_object_set_new(o, "withheld_set", jstr_or_null(e->withheld_set));
    char *txt = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(o);
    if (!txt)
        return COF_ERR(COF_NOMEM, "out of memory");
    size_t n = strlen(txt);
    txt[n] = '\n'; /* json_dumps leaves room for the NUL we overwrite; n + 1 bytes written */
    st = create ? cof_fs_create_atomic(file, txt, n + 1, 0600) : cof_fs_replace(file, txt, n + 1, 0600);
    free(txt);
    return st;
}

static int get_str(json_t *o, const char *k, char *out, size_t cap, int nullable)
{
    json_t *v = json_object_get(o, k);
    out[0] = 0;
    if (nullable && (!v || json_is_null(v)))
        return 1;
    if (!json_is_string(v) || json_string_length(v) >= cap)
        return 0;
    memcpy(out, json_string_value(v), json_string_length(v) + 1);
    return strlen(out) == json_string_length(v);
}

static int get_time(json_t *o, const char *k, int64_t *out, int nullable)
{
    json_t *v = json_object_get(o, k);
    *out = 0;
    if (nullable && (!v || json_is_null(v)))
        return 1;
    return json_is_string(v) &&
           cof_time_parse(cof_str_make(json_string_value(v), json_string_length(v)), 0, out) ==
               COF_OK;
}

static cof_status parse(const char *buf, size_t n, const char *name, cof_export *e)
{
    json_error_t err;
    json_t *o = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &err);
    char state[16], fmt[32];
    memset(e, 0, sizeof *e);
    cof_status st = COF_OK;
    if (!json_is_object(o)) {
        st = COF_ERR(COF_CORRUPT, "%s: not a JSON object", name);
        goto out;
    }
    json_t *ev = json_object_get(o, "events");
    int ok = get_str(o, "format", fmt, sizeof fmt, 0) && !strcmp(fmt, "coffer-export-1") &&
             get_str(o, "id", e->id, sizeof e->id, 0) && id_valid(e->id) &&
             get_str(o, "requester", e->requester, sizeof e->requester, 0) &&
             get_str(o, "tenant", e->tenant, sizeof e->tenant, 0) &&
             get_time(o, "since", &e->since, 0) && get_time(o, "until", &e->until, 0) &&
             get_str(o, "reason", e->reason, sizeof e->reason, 0) &&
             get_time(o, "created", &e->created, 0) && get_time(o, "expires", &e->expires, 0) &&
             get_str(o, "state", state, sizeof state, 0) &&
             get_str(o, "approver", e->approver, sizeof e->approver, 1) &&
             get_time(o, "approved", &e->approved, 1) &&
             get_str(o, "rejected_by", e->rejected_by, sizeof e->rejected_by, 1) &&
             get_time(o, "rejected", &e->rejected, 1) && get_time(o, "done", &e->done, 1) &&
             get_str(o, "watermark", e->watermark, sizeof e->watermark, 1) &&
             get_str(o, "withheld_set", e->withheld_set, sizeof e->withheld_set, 1) &&
             (!ev || json_is_null(ev) || (json_is_integer(ev) && json_integer_value(ev) >= 0));
    if (ok && json_is_integer(ev))
        e->events = (uint64_t)json_integer_value(ev);
    int s;
    for (s = 0; ok && s < 6; s++)
        if (!strcmp(state, state_names[s]))
            break;
    if (!ok || s >= 6) {
        st = COF_ERR(COF_CORRUPT, "%s: malformed export state file", name);
        goto out;
    }
    e->state = (cof_export_state)s;
out:
    json_decref(o);
    return st;
}

static void settle(cof_export *e, int64_t now)
{
    if ((e->state == COF_EXPORT_PENDING || e->state == COF_EXPORT_APPROVED) && now >= e->expires)
        e->state = COF_EXPORT_EXPIRED;
}

static cof_status load(const char *data_dir, const char *id, cof_export *e)
{
    char dir[4200], file[4200];
    if (!id_valid(id))
        return COF_ERR(COF_NOTFOUND, "no export with this id");
    cof_status st = paths(data_dir, id, dir, file, sizeof dir);
    uint8_t *buf = NULL;
    size_t n;
    if (st)
        return st;
    st = cof_fs_read_file(file, COF_MAX_EXPORT_FILE, &buf, &n);
    if (st == COF_NOTFOUND)
        return COF_ERR(COF_NOTFOUND, "no export %s", id);
    if (st)
        return st;
    st = parse((const char *)buf, n, id, e);
    free(buf);
    if (!st && strcmp(e->id, id) != 0)
        st = COF_ERR(COF_CORRUPT, "%s: the file names another export", id);
    return st;
}

cof_status cof_export_get(const char *data_dir, const char *id, int64_t now, cof_export *out)
{
    cof_status st = load(data_dir, id, out);
    if (!st)
        settle(out, now);
    return st;
}

static int cmp_created(const void *x, const void *y)
{
    const cof_export *a = x, *b = y;
    return (a->created > b->created) - (a->created < b->created);
}

cof_status cof_export_list(const char *data_dir, int64_t now, cof_export **out, size_t *n)
{
    char dir[4200];
    cof_status st = paths(data_dir, NULL, dir, NULL, sizeof dir);
    size_t cap = 0;
    *out = NULL;
    *n = 0;
    if (st)
        return st;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? COF_OK : COF_ERRNO("opendir %s", dir);
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t len = strlen(de->d_name);
        char id[COF_EXPORT_IDLEN + 1];
        if (len != COF_EXPORT_IDLEN + 5 || strcmp(de->d_name + COF_EXPORT_IDLEN, ".json") != 0)
            continue;
        memcpy(id, de->d_name, COF_EXPORT_IDLEN);
        id[COF_EXPORT_IDLEN] = 0;
        if (!id_valid(id))
            continue;
        if (*n >= COF_MAX_EXPORTS) {
            st = COF_ERR(COF_LIMIT, "more than %d export files", COF_MAX_EXPORTS);
            break;
        }
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            cof_export *ne = realloc(*out, cap * sizeof *ne);
            if (!ne) {
                st = COF_ERR(COF_NOMEM, "out of memory");
                break;
            }
            *out = ne;
        }
        if ((st = cof_export_get(data_dir, id, now, &(*out)[*n])))
            break;
        (*n)++;
    }
    closedir(d);
    if (st) {
        free(*out);
        *out = NULL;
        *n = 0;
        return st;
    }
    if (*n)
        qsort(*out, *n, sizeof **out, cmp_created);
    return COF_OK;
}

/* ---- transitions ---- */

static cof_status check_reason(const char *reason)
{
    cof_str r = cof_str_c(reason);
    if (!reason || !cof_str_trim(r).n)
        return COF_ERR(COF_BADINPUT, "an export needs a reason (--reason TEXT)");
    if (!cof_str_utf8_valid(r))
        return COF_ERR(COF_BADINPUT, "the reason is not valid UTF-8");
    size_t chars = 0;
    for (size_t i = 0; i < r.n; i++) {
        unsigned char c = (unsigned char)r.p[i];
        if (c < 0x20 || c == 0x7f)
            return COF_ERR(COF_BADINPUT, "the reason holds a control character");
        chars += (c & 0xC0) != 0x80;
    }
    if (chars > COF_EXPORT_MAX_REASON)
        return COF_ERR(COF_BADINPUT, "the reason is longer than %d characters",
                       COF_EXPORT_MAX_REASON);
    return COF_OK;
}

cof_status cof_export_request(const cof_config *cfg, const char *requester, const char *tenant,
                              int64_t since, int64_t until, const char *reason, int64_t now,
                              cof_export *out)
{
    cof_status st = check_reason(reason);
    if (st)
        return st;
    if (!requester || !*requester || strlen(requester) > COF_MAX_PRINCIPAL_NAME)
        return COF_ERR(COF_BADINPUT, "invalid requester name");
    if (!tenant || !cof_tenant_name_valid(cof_str_c(tenant)))
        return COF_ERR(COF_BADINPUT, "invalid tenant name");
    if (since >= until)
        return COF_ERR(COF_BADINPUT, "the export window is empty (--from must precede --to)");
    int fd = -1;
    cof_export *all = NULL;
    size_t n = 0;
    if ((st = lock_exports(cfg->data_dir, &fd)) || (st = cof_export_list(cfg->data_dir, now, &all, &n)))
        goto out;
    uint32_t recent = 0;
    for (size_t i = 0; i < n; i++)
        recent += !strcmp(all[i].requester, requester) && all[i].created > now - COF_EXPORT_WINDOW_US;
    if (recent >= cfg->export_per_day) {
        st = COF_ERR(COF_LIMIT, "%s has made %u export requests in the last 24 h (export_per_day "
                     "= %u)", requester, (unsigned)recent, (unsigned)cfg->export_per_day);
        goto out;
    }
    cof_export *e = out;
    memset(e, 0, sizeof *e);
    uint8_t rid[8];
    randombytes_buf(rid, sizeof rid);
    e->id[0] = 'x';
    e->id[1] = '-';
    sodium_bin2hex(e->id + 2, sizeof e->id - 2, rid, sizeof rid);
    snprintf(e->requester, sizeof e->requester, "%s", requester);
    snprintf(e->tenant, sizeof e->tenant, "%s", tenant);
    snprintf(e->reason, sizeof e->reason, "%s", reason);
    e->since = since;
    e->until = until;
    e->created = now;
    e->expires = now + COF_EXPORT_WINDOW_US;
    e->state = COF_EXPORT_PENDING;
    st = save(cfg->data_dir, e, 1);
out:
    free(all);
    if (fd >= 0)
        (void)close(fd);
    return st;
}

/* Load id under the lock, apply fn, save if it changed the export. */
typedef cof_status (*transition_fn)(cof_export *e, const void *arg, int64_t now);

static cof_status transition(const char *data_dir, const char *id, transition_fn fn,
                             const void *arg, int64_t now, cof_export *out)
{
    int fd = -1;
    cof_export e;
    cof_status st = lock_exports(data_dir, &fd);
    if (st)
        return st;
    if ((st = load(data_dir, id, &e)))
        goto out;
    cof_export_state before = e.state;
    settle(&e, now);
    if (e.state != before && (st = save(data_dir, &e, 0))) /* record the expiry itself */
        goto out;
    cof_export orig;
    memcpy(&orig, &e, sizeof e);
    st = fn(&e, arg, now);
    if (memcmp(&orig, &e, sizeof e) != 0) {
        cof_status sst = save(data_dir, &e, 0);
        if (!st)
            st = sst;
    }
    if (out)
        *out = e;
out:
    (void)close(fd);
    return st;
}

typedef struct {
    const char *who;
    uint32_t perms;
} actor;

static cof_status do_approve(cof_export *e, const void *arg, int64_t now)
{
    const actor *a = arg;
    if (e->state == COF_EXPORT_EXPIRED)
        return COF_ERR(COF_DENIED, "export %s expired unapproved", e->id);
    if (e->state != COF_EXPORT_PENDING)
        return COF_ERR(COF_DENIED, "export %s is %s, not pending", e->id,
                       cof_export_state_name(e->state));
    if (!strcmp(a->who, e->requester))
        return COF_ERR(COF_DENIED, "the requester cannot approve their own export: a second "
                                   "person must");
    if (!(a->perms & (COF_PERM_ADMIN | COF_PERM_EXPORT)))
        return COF_ERR(COF_DENIED, "approving needs the admin or export permission on tenant %s",
                       e->tenant);
    e->state = COF_EXPORT_APPROVED;
    snprintf(e->approver, sizeof e->approver, "%s", a->who);
    e->approved = now;
    e->expires = now + COF_EXPORT_WINDOW_US; /* the fetch window */
    return COF_OK;
}

static cof_status do_reject(cof_export *e, const void *arg, int64_t now)
{
    const actor *a = arg;
    if (e->state != COF_EXPORT_PENDING && e->state != COF_EXPORT_APPROVED)
        return COF_ERR(COF_DENIED, "export %s is %s", e->id, cof_export_state_name(e->state));
    if (strcmp(a->who, e->requester) != 0 && !(a->perms & (COF_PERM_ADMIN | COF_PERM_EXPORT)))
        return COF_ERR(COF_DENIED, "rejecting needs the admin or export permission on tenant %s",
                       e->tenant);
    e->state = COF_EXPORT_REJECTED;
    snprintf(e->rejected_by, sizeof e->rejected_by, "%s", a->who);
    e->rejected = now;
    return COF_OK;
}

cof_status cof_export_approve(const char *data_dir, const char *id, const char *approver,
                              uint32_t approver_perms, int64_t now, cof_export *out)
{
    actor a = { approver, approver_perms };
    return transition(data_dir, id, do_approve, &a, now, out);
}

cof_status cof_export_reject(const char *data_dir, const char *id, const char *by,
                             uint32_t by_perms, int64_t now, cof_export *out)
{
    actor a = { by, by_perms };
    return transition(data_dir, id, do_reject, &a, now, out);
}

typedef struct {
    const char *requester;
    const char *watermark;       /* claim: set done with this watermark */
    const cof_poison_hit *hit;   /* withhold */
    uint64_t events;             /* finish */
    int what;                    /* 0 check, 1 claim, 2 withhold, 3 finish */
} fetch_arg;

static cof_status do_fetch(cof_export *e, const void *arg, int64_t now)
{
    const fetch_arg *f = arg;
    if (f->what == 3) {
        e->events = f->events;
        return COF_OK;
    }
    if (strcmp(f->requester, e->requester) != 0)
        return COF_ERR(COF_DENIED, "only the requester fetches an export");
    if (e->state != COF_EXPORT_APPROVED)
        return COF_ERR(COF_DENIED, "export %s is %s%s", e->id, cof_export_state_name(e->state),
                       e->state == COF_EXPORT_DONE ? " (an export is fetched once)" : "");
    if (f->what == 1) {
        e->state = COF_EXPORT_DONE;
        e->done = now;
        snprintf(e->watermark, sizeof e->watermark, "%s", f->watermark);
    } else if (f->what == 2) {
        e->state = COF_EXPORT_WITHHELD;
        e->done = now;
        snprintf(e->withheld_set, sizeof e->withheld_set, "%s", f->hit->set_id);
    }
    return COF_OK;
}

/* ---- the writer ---- */

typedef struct {
    uint64_t *slot;
    size_t cap, n;
    int capped;
} tokset;

static void tokset_add(tokset *t, const uint8_t tok[COF_TOKEN_LEN])
{
    uint64_t v;
    memcpy(&v, tok, sizeof v);
    if (!v)
        v = 1; /* 0 marks an empty slot */
    if (!t->slot || t->n * 2 >= t->cap) {
        if (t->cap >= 2 * (size_t)COF_EXPORT_MAX_SUBJECTS) {
            t->capped = 1;
            return;
        }
        size_t ncap = t->cap ? t->cap * 2 : 4096;
        uint64_t *ns = calloc(ncap, sizeof *ns);
        if (!ns) {
            t->capped = 1;
            return;
        }
        for (size_t i = 0; i < t->cap; i++)
            if (t->slot[i])
                for (size_t j = t->slot[i] & (ncap - 1);; j = (j + 1) & (ncap - 1))
                    if (!ns[j]) {
                        ns[j] = t->slot[i];
                        break;
                    }
        free(t->slot);
        t->slot = ns;
        t->cap = ncap;
    }
    for (size_t j = v & (t->cap - 1);; j = (j + 1) & (t->cap - 1)) {
        if (t->slot[j] == v)
            return;
        if (!t->slot[j]) {
            t->slot[j] = v;
            t->n++;
            return;
        }
    }
}

#define BATCH 8192

typedef struct {
    cof_store *s;
    cof_keyring *kr;
    cof_poison *p;
    const cof_export *e;
    int pass;
    cof_export_result *res;
    tokset subjects;
    uint32_t *rows;
    uint64_t done, total;
    cof_export_progress_fn progress;
    void *pctx;
    /* pass 2 */
    const cof_record *wm;
    uint32_t nwm, iwm;
    cof_buf out;
    cof_export_out_fn fn;
    void *ctx;
} wctx;

static cof_status emit(wctx *w, const cof_record *r)
{
    cof_status st = cof_output_event_jsonbuf(r, 0, &w->out);
    if (!st)
        st = cof_buf_add_u8(&w->out, '\n');
    if (!st && w->out.n >= (1u << 20)) {
        st = w->fn(w->ctx, w->out.p, w->out.n);
        cof_buf_reset(&w->out);
    }
    return st;
}

static cof_status on_row(void *ctx, uint32_t row, const cof_record *r)
{
    wctx *w = ctx;
    (void)row;
    if (r->time_us < w->e->since || r->time_us >= w->e->until)
        return COF_OK;
    if (w->pass == 1) {
        if (cof_poison_match_planted(w->p, w->e->tenant, r, &w->res->hit)) {
            w->res->poisoned = 1;
            return COF_ERR(COF_DENIED, "the export would contain a poison record (set %s)",
                           w->res->hit.set_id);
        }
        if (r->token_mask & (1u << COF_F_RECIPIENT))
            tokset_add(&w->subjects, r->token[COF_F_RECIPIENT]);
        if (r->token_mask & (1u << COF_F_SENDER))
            tokset_add(&w->subjects, r->token[COF_F_SENDER]);
        w->res->events++;
        return COF_OK;
    }
    cof_status st;
    while (w->iwm < w->nwm && w->wm[w->iwm].time_us <= r->time_us)
        if ((st = emit(w, &w->wm[w->iwm++])))
            return st;
    for (int f = 0; f < COF_NFIELDS; f++)
        if (r->sealed[f].n)
            w->res->categories |= 1u << f;
    w->res->events++;
    return emit(w, r);
}

static cof_status on_seg(void *ctx, const cof_seg_info *info, cof_seg *seg)
{
    wctx *w = ctx;
    if (w->pass == 0) { /* count rows for progress */
        w->total += 2ull * info->nrows;
        return COF_OK;
    }
    const uint8_t *key = NULL;
    cof_status st;
    if (w->pass == 2) {
        st = cof_keyring_data_key(w->kr, info->tenant, info->day, 0, &key);
        if (st == COF_NOTFOUND) /* shredded day: clear columns only */
            key = NULL;
        else if (st)
            return st;
    }
    uint32_t nrows = cof_seg_nrows(seg);
    for (uint32_t first = 0; first < nrows; first += BATCH) {
        uint32_t n = nrows - first < BATCH ? nrows - first : BATCH;
        for (uint32_t i = 0; i < n; i++)
            w->rows[i] = first + i;
        /* Pass 1 needs tokens and no plaintext; pass 2 plaintext and no tokens. */
        st = w->pass == 1 ? cof_seg_get(seg, NULL, w->rows, n, on_row, w)
                          : cof_seg_get_notokens(seg, key, w->rows, n, on_row, w);
        if (st)
            return st;
        w->done += n;
        if (w->progress)
            w->progress(w->pctx, w->done, w->total);
    }
    return COF_OK;
}

static void on_damaged(void *ctx, const char *path, const char *reason)
{
    wctx *w = ctx;
    (void)path, (void)reason;
    w->res->damaged++;
}

cof_status cof_export_write(cof_store *s, cof_poison *p, const char *id, const char *requester,
                            int64_t now, cof_export_out_fn fn, void *ctx,
                            cof_export_progress_fn progress, void *pctx, cof_export_result *res)
{
    const cof_config *cfg = cof_store_config(s);
    cof_export e;
    wctx w;
    memset(&w, 0, sizeof w);
    memset(res, 0, sizeof *res);
    cof_buf_init(&w.out, 8u << 20);
    const cof_record *wm = NULL;
    cof_poison_records *wmem = NULL;
    char set_id[COF_POISON_IDLEN + 1];
    fetch_arg fa = { requester, NULL, NULL, 0, 0 };
    cof_status st;
    w.kr = cof_store_keyring(s);
    if (!w.kr)
        return COF_ERR(COF_DENIED, "an export needs the master key");
    if ((st = transition(cfg->data_dir, id, do_fetch, &fa, now, &e)))
        return st;
    if ((st = cof_poison_reload_if_changed(p, NULL)))
        return st;
    w.s = s;
    w.p = p;
    w.e = &e;
    w.res = res;
    w.progress = progress;
    w.pctx = pctx;
    w.rows = malloc(BATCH * sizeof *w.rows);
    if (!w.rows) {
        st = COF_ERR(COF_NOMEM, "out of memory");
        goto out;
    }
    for (w.pass = 0; w.pass < 2 && !st; w.pass++)
        st = cof_store_each_segment(s, e.tenant, e.since, e.until, on_seg, on_damaged, &w);
    if (st == COF_DENIED && res->poisoned) {
        fa.what = 2;
        fa.hit = &res->hit;
        cof_status wst = transition(cfg->data_dir, id, do_fetch, &fa, now, NULL);
        (void)wst;
        st = COF_ERR(COF_DENIED, "export %s withheld: it would contain poison set %s", id,
                     res->hit.set_id);
        goto out;
    }
    if (st)
        goto out;
    res->subjects = w.subjects.n;
    res->subjects_capped = w.subjects.capped;
    res->events = 0;
    res->damaged = 0;
    if ((st = cof_poison_watermark(p, s, e.tenant, requester, COF_EXPORT_WATERMARK, e.since,
                                   e.until, set_id, &wm, &wmem)))
        goto out;
    memcpy(res->watermark, set_id, sizeof res->watermark);
    fa.what = 1;
    fa.watermark = set_id;
    if ((st = transition(cfg->data_dir, id, do_fetch, &fa, now, NULL)))
        goto out;
    w.pass = 2;
    w.wm = wm;
    w.nwm = COF_EXPORT_WATERMARK;
    w.fn = fn;
    w.ctx = ctx;
    st = cof_store_each_segment(s, e.tenant, e.since, e.until, on_seg, on_damaged, &w);
    while (!st && w.iwm < w.nwm)
        st = emit(&w, &w.wm[w.iwm++]);
    if (!st && w.out.n)
        st = fn(ctx, w.out.p, w.out.n);
    res->watermarks = w.iwm;
    res->categories |= 1u << COF_NFIELDS; /* delivery metadata, always */
    if (!st) {
        fa.what = 3;
        fa.events = res->events;
        st = transition(cfg->data_dir, id, do_fetch, &fa, now, NULL);
    }
out:
    if (w.out.p)
        sodium_memzero(w.out.p, w.out.cap);
    cof_buf_free(&w.out);
    cof_poison_records_free(wmem);
    free(w.subjects.slot);
    free(w.rows);
    return st;
}

const char *cof_export_categories(uint32_t mask, char *out, size_t cap)
{
    static const struct {
        uint32_t bits;
        const char *name;
    } cats[] = {
        { (1u << COF_F_RECIPIENT) | (1u << COF_F_ORIG_RECIPIENT), "recipient address" },
        { 1u << COF_F_SENDER, "sender address" },
        { (1u << COF_F_CLIENT_IP) | (1u << COF_F_CLIENT_HOST), "client IP" },
        { 1u << COF_F_SASL_USERNAME, "SASL username" },
        { 1u << COF_F_SUBJECT, "subject" },
        { 1u << COF_F_MESSAGE_ID, "message-id" },
        { (1u << COF_NFIELDS) | (1u << COF_F_RESPONSE), "delivery metadata" },
    };
    size_t n = 0;
    int first = 1;
    n += (size_t)snprintf(out, cap, "[");
    for (size_t i = 0; i < sizeof cats / sizeof cats[0] && n < cap; i++)
        if (mask & cats[i].bits) {
            n += (size_t)snprintf(out + n, cap - n, "%s\"%s\"", first ? "" : ",", cats[i].name);
            first = 0;
        }
    if (n < cap)
        snprintf(out + n, cap - n, "]");
    return out;
}
