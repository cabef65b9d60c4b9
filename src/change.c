/* change.c - proposals, approvals and applying them to access.json (change.h). */
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

#include "change.h"
#include "fsutil.h"
#include "timefmt.h"

#define CHANGE_FORMAT "coffer-change-1"

static const char *const kind_names[] = { "widen", "narrow", "lockdown", "lift" };
static const char *const state_names[] = { "pending", "applied", "rejected", "expired", "stale" };

const char *cof_change_kind_name(cof_change_kind k)
{
    return (unsigned)k < 4 ? kind_names[k] : "?";
}

const char *cof_change_state_name(cof_change_state s)
{
    return (unsigned)s < 5 ? state_names[s] : "?";
}

void cof_change_free(cof_change *c)
{
    if (!c)
        return;
    for (uint32_t i = 0; i < c->neffects; i++)
        free(c->effects[i]);
    free(c->effects);
    free(c->findings);
    cof_access_free(c->doc);
    free(c);
}

int cof_change_id_valid(const char *id)
{
    if (!id || strlen(id) != COF_CHANGE_IDLEN || id[0] != 'c' || id[1] != '-')
        return 0;
    for (int i = 2; i < COF_CHANGE_IDLEN; i++)
        if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
            return 0;
    return 1;
}

/* ------------------------------------------------------------------ files */

static cof_status path_of(const char *data_dir, const char *name, char *out, size_t cap)
{
    int w = snprintf(out, cap, "%s/%s", data_dir, name);
    if (w < 0 || (size_t)w >= cap)
        return COF_ERR(COF_LIMIT, "data directory path too long");
    return COF_OK;
}

/* flock DATA/access.lock: every read-modify-write of access.json and change files. */
static cof_status lock_access(const char *data_dir, int *fd)
{
    char path[4200];
    cof_status st = path_of(data_dir, "access.lock", path, sizeof path);
    return st ? st : cof_fs_lock(path, fd);
}

static void unlock_access(int fd)
{
    if (fd >= 0)
        (void)close(fd); /* releases the flock */
}

static json_t *jtime(int64_t us)
{
    char b[40];
    return us ? json_string(cof_time_format(us, b, sizeof b)) : json_null();
}

static json_t *votes_json(const cof_change_vote *v, uint32_t n, int with_reason)
{
    json_t *a = json_array();
    for (uint32_t i = 0; a && i < n; i++) {
        json_t *o = json_pack("{s:s,s:o}", "principal", v[i].principal, "time", jtime(v[i].time));
        if (o && with_reason)
            json_object_set_new(o, "reason", json_string(v[i].reason));
        if (!o || json_array_append_new(a, o)) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

static json_t *change_to_json(const cof_change *c, int with_doc)
{
    json_t *o = json_object(), *eff = json_array(), *fnd = json_array();
    int bad = !o || !eff || !fnd;
    for (uint32_t i = 0; i < c->neffects && !bad; i++)
        bad |= json_array_append_new(eff, json_string(c->effects[i]));
    for (uint32_t i = 0; i < c->nfindings && !bad; i++)
        bad |= json_array_append_new(fnd, json_pack("{s:s,s:s,s:s}", "severity",
                                                    cof_severity_name(c->findings[i].sev), "check",
                                                    c->findings[i].check, "what",
                                                    c->findings[i].what));
    json_t *ap = votes_json(c->approvals, c->napprovals, 0);
    json_t *rj = votes_json(c->rejections, c->nrejections, 1);
    bad |= !ap || !rj;
    if (!bad) {
        bad |= json_object_set_new(o, "format", json_string(CHANGE_FORMAT));
        bad |= json_object_set_new(o, "id", json_string(c->id));
        bad |= json_object_set_new(o, "kind", json_string(cof_change_kind_name(c->kind)));
        bad |= json_object_set_new(o, "proposer", json_string(c->proposer));
        bad |= json_object_set_new(o, "created", jtime(c->created));
        bad |= json_object_set_new(o, "expires", jtime(c->expires));
        bad |= json_object_set_new(o, "base_version", json_integer((json_int_t)c->base_version));
        bad |= json_object_set_new(o, "summary", json_string(c->summary));
        bad |= json_object_set_new(o, "effects", eff);
        bad |= json_object_set_new(o, "findings", fnd);
        bad |= json_object_set_new(o, "required", json_integer(c->required));
        bad |= json_object_set_new(o, "approvals", ap);
        bad |= json_object_set_new(o, "rejections", rj);
        eff = fnd = ap = rj = NULL;
        bad |= json_object_set_new(o, "state", json_string(cof_change_state_name(c->state)));
        bad |= json_object_set_new(o, "applied", jtime(c->applied));
        bad |= json_object_set_new(o, "applied_version",
                                   c->applied_version ? json_integer((json_int_t)c->applied_version)
                                                      : json_null());
    }
    if (!bad && with_doc && c->doc) {
        char *d = NULL;
        size_t dn = 0;
        json_t *jd = NULL;
        if (cof_access_dump(c->doc, &d, &dn) == COF_OK)
            jd = json_loadb(d, dn, 0, NULL);
        free(d);
        bad |= !jd || json_object_set_new(o, "document", jd);
    }
    json_decref(eff);
    json_decref(fnd);
    json_decref(ap);
    json_decref(rj);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

cof_status cof_change_json(const cof_change *c, int with_doc, char **out)
{
    json_t *o = change_to_json(c, with_doc);
    char *s = o ? json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(2)) : NULL;
    json_decref(o);
    if (!s)
        return COF_ERR(COF_NOMEM, "change %s: serialising", c->id);
    *out = s;
    return COF_OK;
}

static cof_status save_change(const char *data_dir, const cof_change *c)
{
    char dir[4200], path[4300];
    cof_status st = path_of(data_dir, "changes", dir, sizeof dir);
    if (st || (st = cof_fs_mkdir_p(dir, 0700)))
        return st;
    snprintf(path, sizeof path, "%s/%s.json", dir, c->id);
    char *s = NULL;
    if ((st = cof_change_json(c, 1, &s)))
        return st;
    size_t n = strlen(s);
    st = n > COF_MAX_CHANGE_BYTES ? COF_ERR(COF_LIMIT, "change %s is too large", c->id)
                                  : cof_fs_replace(path, s, n, 0600);
    free(s);
    return st;
}

static int jtime_get(json_t *v, int64_t *out)
{
    *out = 0;
    if (json_is_null(v) || !v)
        return 0;
    if (!json_is_string(v))
        return -1;
    return cof_access_time(cof_str_make(json_string_value(v), json_string_length(v)), out) ? -1 : 0;
}

static int jcopy(json_t *v, char *dst, size_t cap)
{
    if (!json_is_string(v) || json_string_length(v) >= cap)
        return -1;
    memcpy(dst, json_string_value(v), json_string_length(v) + 1);
    return 0;
}

static int parse_votes(json_t *a, cof_change_vote *v, uint32_t *n)
{
    size_t i;
    json_t *e;
    *n = 0;
    if (!json_is_array(a) || json_array_size(a) > COF_MAX_CHANGE_VOTES)
        return -1;
    json_array_foreach(a, i, e) {
        cof_change_vote *x = &v[(*n)++];
        memset(x, 0, sizeof *x);
        if (jcopy(json_object_get(e, "principal"), x->principal, sizeof x->principal) ||
            jtime_get(json_object_get(e, "time"), &x->time))
            return -1;
        json_t *r = json_object_get(e, "reason");
        if (r && jcopy(r, x->reason, sizeof x->reason))
            return -1;
    }
    return 0;
}

cof_status cof_change_parse(const char *buf, size_t n, const char *name, cof_change **out)
{
    json_t *o = json_loadb(buf, n, JSON_REJECT_DUPLICATES, NULL);
    cof_change *c = calloc(1, sizeof *c);
    cof_status st = COF_OK;
    char kind[16] = "", state[16] = "";
    if (!c) {
        st = COF_ERR(COF_NOMEM, "%s", name);
        goto out;
    }
    json_t *v;
    if (!json_is_object(o) || !(v = json_object_get(o, "format")) || !json_is_string(v) ||
        strcmp(json_string_value(v), CHANGE_FORMAT) != 0 ||
        jcopy(json_object_get(o, "id"), c->id, sizeof c->id) || !cof_change_id_valid(c->id) ||
        jcopy(json_object_get(o, "kind"), kind, sizeof kind) ||
        jcopy(json_object_get(o, "state"), state, sizeof state) ||
        jcopy(json_object_get(o, "proposer"), c->proposer, sizeof c->proposer) ||
        jcopy(json_object_get(o, "summary"), c->summary, sizeof c->summary) ||
        jtime_get(json_object_get(o, "created"), &c->created) ||
        jtime_get(json_object_get(o, "expires"), &c->expires) ||
        jtime_get(json_object_get(o, "applied"), &c->applied) ||
        !json_is_integer(json_object_get(o, "base_version")) ||
        !json_is_integer(json_object_get(o, "required")) ||
        parse_votes(json_object_get(o, "approvals"), c->approvals, &c->napprovals) ||
        parse_votes(json_object_get(o, "rejections"), c->rejections, &c->nrejections)) {
        st = COF_ERR(COF_CORRUPT, "%s: not a coffer change file", name);
        goto out;
    }
    c->base_version = (uint64_t)json_integer_value(json_object_get(o, "base_version"));
    json_int_t req = json_integer_value(json_object_get(o, "required"));
    c->required = req < 1 || req > 99 ? 99 : (uint32_t)req;
    if ((v = json_object_get(o, "applied_version")) && json_is_integer(v))
        c->applied_version = (uint64_t)json_integer_value(v);
    int k = -1, s = -1;
    for (int i = 0; i < 4; i++)
        if (!strcmp(kind, kind_names[i]))
            k = i;
    for (int i = 0; i < 5; i++)
        if (!strcmp(state, state_names[i]))
            s = i;
    if (k < 0 || s < 0) {
        st = COF_ERR(COF_CORRUPT, "%s: unknown kind or state", name);
        goto out;
    }
    c->kind = (cof_change_kind)k;
    c->state = (cof_change_state)s;
    json_t *arr = json_object_get(o, "effects");
    size_t i;
    if (json_is_array(arr) && json_array_size(arr) <= COF_MAX_CHANGE_LINES) {
        c->effects = calloc(json_array_size(arr) + 1, sizeof *c->effects);
        if (!c->effects) {
            st = COF_ERR(COF_NOMEM, "%s", name);
            goto out;
        }
        json_array_foreach(arr, i, v)
            if (json_is_string(v) && (c->effects[c->neffects] = strdup(json_string_value(v))))
                c->neffects++;
    }
    arr = json_object_get(o, "findings");
    if (json_is_array(arr) && json_array_size(arr) <= COF_MAX_CHANGE_LINES) {
        c->findings = calloc(json_array_size(arr) + 1, sizeof *c->findings);
        if (!c->findings) {
            st = COF_ERR(COF_NOMEM, "%s", name);
            goto out;
        }
        json_array_foreach(arr, i, v) {
            cof_change_finding *f = &c->findings[c->nfindings];
            json_t *sv = json_object_get(v, "severity");
            if (!json_is_string(sv) || cof_severity_parse(json_string_value(sv), &f->sev) ||
                jcopy(json_object_get(v, "check"), f->check, sizeof f->check) ||
                jcopy(json_object_get(v, "what"), f->what, sizeof f->what))
                continue;
            c->nfindings++;
        }
    }
    json_t *jd = json_object_get(o, "document");
    if (jd) {
        char *d = json_dumps(jd, JSON_COMPACT);
        if (!d) {
            st = COF_ERR(COF_NOMEM, "%s", name);
            goto out;
        }
        st = cof_access_parse(d, strlen(d), name, &c->doc);
        free(d);
        if (st)
            goto out;
    }
    *out = c;
    c = NULL;
out:
    cof_change_free(c);
    json_decref(o);
    return st;
}

cof_status cof_change_load(const char *data_dir, const char *id, int64_t now, cof_change **out)
{
    char path[4300];
    if (!cof_change_id_valid(id))
        return COF_ERR(COF_BADINPUT, "not a change id (c- and 16 hex digits)");
    int w = snprintf(path, sizeof path, "%s/changes/%s.json", data_dir, id);
    if (w < 0 || (size_t)w >= sizeof path)
        return COF_ERR(COF_LIMIT, "data directory path too long");
    uint8_t *buf = NULL;
    size_t n = 0;
    cof_status st = cof_fs_read_file(path, COF_MAX_CHANGE_BYTES, &buf, &n);
    if (st == COF_NOTFOUND)
        return COF_ERR(COF_NOTFOUND, "no change %s", id);
    if (st)
        return st;
    st = cof_change_parse((const char *)buf, n, path, out);
    free(buf);
    if (!st && (*out)->state == COF_CST_PENDING && (*out)->expires && (*out)->expires <= now)
        (*out)->state = COF_CST_EXPIRED;
    return st;
}

static int cmp_change(const void *x, const void *y)
{
    const cof_change *a = *(cof_change *const *)x, *b = *(cof_change *const *)y;
    return a->created < b->created ? -1 : a->created > b->created ? 1 : strcmp(a->id, b->id);
}

cof_status cof_change_list(const char *data_dir, int64_t now, cof_change ***out, size_t *n)
{
    char dir[4200];
    cof_status st = path_of(data_dir, "changes", dir, sizeof dir);
    *out = NULL;
    *n = 0;
    if (st)
        return st;
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? COF_OK : COF_ERRNO("open %s", dir);
    cof_change **v = NULL;
    size_t cnt = 0, cap = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        char id[COF_CHANGE_IDLEN + 1];
        size_t l = strlen(de->d_name);
        if (l != COF_CHANGE_IDLEN + 5 || strcmp(de->d_name + COF_CHANGE_IDLEN, ".json") != 0)
            continue;
        memcpy(id, de->d_name, COF_CHANGE_IDLEN);
        id[COF_CHANGE_IDLEN] = 0;
        if (!cof_change_id_valid(id))
            continue;
        if (cnt >= COF_MAX_CHANGES) {
            st = COF_ERR(COF_LIMIT, "%s: more than %d changes", dir, COF_MAX_CHANGES);
            break;
        }
        if (cnt == cap) {
            cap = cap ? cap * 2 : 32;
            cof_change **nv = realloc(v, cap * sizeof *nv);
            if (!nv) {
                st = COF_ERR(COF_NOMEM, "listing changes");
                break;
            }
            v = nv;
        }
        if ((st = cof_change_load(data_dir, id, now, &v[cnt])))
            break;
        cnt++;
    }
    closedir(d);
    if (st) {
        for (size_t i = 0; i < cnt; i++)
            cof_change_free(v[i]);
        free(v);
        return st;
    }
    if (cnt)
        qsort(v, cnt, sizeof *v, cmp_change);
    *out = v;
    *n = cnt;
    return COF_OK;
}

/* ------------------------------------------------------------------ workflow */

static int is_admin(const cof_access *a, const char *who, int64_t now)
{
    const cof_principal *p = cof_access_find(a, who);
    return p && (cof_access_any_perms(a, p, now) & COF_PERM_ADMIN);
}

static void new_id(char id[COF_CHANGE_IDLEN + 1])
{
    uint8_t r[8];
    randombytes_buf(r, sizeof r);
    id[0] = 'c';
    id[1] = '-';
    sodium_bin2hex(id + 2, 17, r, sizeof r);
}

/* Under the lock: make c->doc the next version of the document, or mark c stale. */
static cof_status apply_locked(const char *data_dir, cof_change *c, const cof_access *cur,
                               int64_t now)
{
    if (cur->version != c->base_version) {
        c->state = COF_CST_STALE;
        cof_status st = save_change(data_dir, c);
        return st ? st : COF_ERR(COF_AGAIN, "change %s is stale: the access document changed "
                                            "since it was proposed (version %llu, now %llu); "
                                            "propose it again", c->id,
                                 (unsigned long long)c->base_version,
                                 (unsigned long long)cur->version);
    }
    c->doc->version = cur->version + 1;
    c->doc->updated = now;
    cof_status st = cof_access_save(c->doc, data_dir);
    if (st)
        return st;
    /* The document is whole either way; a crash here leaves the change pending with a
     * base version that is no longer current, which then reads as stale. */
    c->state = COF_CST_APPLIED;
    c->applied = now;
    c->applied_version = c->doc->version;
    return save_change(data_dir, c);
}

static cof_status propose_locked(const cof_config *cfg, const cof_access *cur,
                                 const cof_access *prop, const char *proposer, const char *reason,
                                 int64_t now, cof_change **out)
{
    cof_change *c = calloc(1, sizeof *c);
    cof_status st;
    if (!c)
        return COF_ERR(COF_NOMEM, "change");
    new_id(c->id);
    snprintf(c->proposer, sizeof c->proposer, "%s", proposer);
    snprintf(c->summary, sizeof c->summary, "%s", reason ? reason : "");
    c->created = now;
    c->expires = now + (int64_t)cur->gov.proposal_ttl_hours * 3600 * 1000000;
    c->base_version = cur->version;
    if ((st = cof_access_clone(prop, &c->doc)) ||
        (st = cof_change_evaluate(cur, prop, cfg, now, c)))
        goto out;
    /* The proposer counts as the first of the people required. */
    if (c->required <= 1) {
        st = apply_locked(cfg->data_dir, c, cur, now);
    } else {
        c->state = COF_CST_PENDING;
        st = save_change(cfg->data_dir, c);
    }
out:
    if (st) {
        cof_change_free(c);
        return st;
    }
    *out = c;
    return COF_OK;
}

cof_status cof_change_propose(const cof_config *cfg, const cof_access *prop, const char *proposer,
                              const char *reason, int64_t now, cof_change **out)
{
    int fd = -1;
    cof_access *cur = NULL;
    cof_status st;
    if (reason && strlen(reason) > COF_MAX_REASON)
        return COF_ERR(COF_BADINPUT, "the reason is longer than %d bytes", COF_MAX_REASON);
    if ((st = lock_access(cfg->data_dir, &fd)) || (st = cof_access_load(cfg->data_dir, &cur)))
        goto out;
    if (!is_admin(cur, proposer, now)) {
        st = COF_ERR(COF_DENIED, "%s is not an administrator: only administrators propose "
                                 "access changes", proposer);
        goto out;
    }
    st = propose_locked(cfg, cur, prop, proposer, reason, now, out);
out:
    cof_access_free(cur);
    unlock_access(fd);
    return st;
}

static int voted(const cof_change_vote *v, uint32_t n, const char *who)
{
    for (uint32_t i = 0; i < n; i++)
        if (!strcmp(v[i].principal, who))
            return 1;
    return 0;
}

/* The start approve and reject share: under the lock, the current document and the
 * change, which must still be pending; who must be an administrator. On COF_AGAIN *c is
 * set (the caller shows its state); an expired proposal is saved as expired. */
static cof_status vote_begin(const cof_config *cfg, const char *id, const char *who, int64_t now,
                             int *fd, cof_access **cur, cof_change **c)
{
    cof_status st;
    if ((st = lock_access(cfg->data_dir, fd)) || (st = cof_access_load(cfg->data_dir, cur)) ||
        (st = cof_change_load(cfg->data_dir, id, now, c)))
        return st;
    if ((*c)->state != COF_CST_PENDING) {
        if ((*c)->state == COF_CST_EXPIRED)
            (void)save_change(cfg->data_dir, *c);
        return COF_ERR(COF_AGAIN, "change %s is %s, not pending", (*c)->id,
                       cof_change_state_name((*c)->state));
    }
    if (!is_admin(*cur, who, now))
        return COF_ERR(COF_DENIED, "%s is not an administrator", who);
    return COF_OK;
}

cof_status cof_change_approve(const cof_config *cfg, const char *id, const char *approver,
                              int64_t now, cof_change **out)
{
    int fd = -1;
    cof_access *cur = NULL;
    cof_change *c = NULL;
    cof_status st;
    *out = NULL;
    if ((st = vote_begin(cfg, id, approver, now, &fd, &cur, &c)))
        goto out;
    /* People, not tokens: a second token of the proposer is still the proposer. */
    if (!strcmp(approver, c->proposer)) {
        st = COF_ERR(COF_DENIED, "the proposer cannot approve its own change %s: another "
                                 "administrator must", c->id);
        goto out;
    }
    if (voted(c->approvals, c->napprovals, approver)) {
        st = COF_ERR(COF_DENIED, "%s has already approved change %s: another administrator "
                                 "must", approver, c->id);
        goto out;
    }
    if (c->napprovals >= COF_MAX_CHANGE_VOTES) {
        st = COF_ERR(COF_LIMIT, "change %s has too many approvals", c->id);
        goto out;
    }
    cof_change_vote *v = &c->approvals[c->napprovals++];
    memset(v, 0, sizeof *v);
    snprintf(v->principal, sizeof v->principal, "%s", approver);
    v->time = now;
    if (1 + c->napprovals >= c->required)
        st = apply_locked(cfg->data_dir, c, cur, now);
    else
        st = save_change(cfg->data_dir, c);
out:
    cof_access_free(cur);
    unlock_access(fd);
    if (c && (!st || st == COF_AGAIN))
        *out = c;
    else
        cof_change_free(c);
    return st;
}

cof_status cof_change_reject(const cof_config *cfg, const char *id, const char *who,
                             const char *reason, int64_t now, cof_change **out)
{
    int fd = -1;
    cof_access *cur = NULL;
    cof_change *c = NULL;
    cof_status st;
    *out = NULL;
    if (reason && strlen(reason) > COF_MAX_REASON)
        return COF_ERR(COF_BADINPUT, "the reason is longer than %d bytes", COF_MAX_REASON);
    if ((st = vote_begin(cfg, id, who, now, &fd, &cur, &c)))
        goto out;
    if (c->nrejections < COF_MAX_CHANGE_VOTES) {
        cof_change_vote *v = &c->rejections[c->nrejections++];
        memset(v, 0, sizeof *v);
        snprintf(v->principal, sizeof v->principal, "%s", who);
        snprintf(v->reason, sizeof v->reason, "%s", reason ? reason : "");
        v->time = now;
    }
    c->state = COF_CST_REJECTED;
    st = save_change(cfg->data_dir, c);
out:
    cof_access_free(cur);
    unlock_access(fd);
    if (c && (!st || st == COF_AGAIN))
        *out = c;
    else
        cof_change_free(c);
    return st;
}

/* Propose a copy of the current document edited by fn (under the lock throughout, so
 * the edit and its evaluation see the same base). */
typedef cof_status (*edit_fn)(cof_access *doc, void *ctx);

static cof_status propose_edit(const cof_config *cfg, const char *by, int need_admin,
                               const char *reason, int64_t now, edit_fn fn, void *ctx,
                               cof_change **out)
{
    int fd = -1;
    cof_access *cur = NULL, *next = NULL;
    cof_status st;
    if (reason && strlen(reason) > COF_MAX_REASON)
        return COF_ERR(COF_BADINPUT, "the reason is longer than %d bytes", COF_MAX_REASON);
    if ((st = lock_access(cfg->data_dir, &fd)) || (st = cof_access_load(cfg->data_dir, &cur)))
        goto out;
    if (need_admin && !is_admin(cur, by, now)) {
        st = COF_ERR(COF_DENIED, "%s is not an administrator", by);
        goto out;
    }
    if ((st = cof_access_clone(cur, &next)) || (st = fn(next, ctx)))
        goto out;
    st = propose_locked(cfg, cur, next, by, reason, now, out);
out:
    cof_access_free(next);
    cof_access_free(cur);
    unlock_access(fd);
    return st;
}

typedef struct {
    const char *by, *reason;
    int64_t now;
} lock_ctx;

static cof_status edit_lockdown(cof_access *doc, void *ctx)
{
    const lock_ctx *l = ctx;
    if (doc->gov.lockdown_since)
        return COF_ERR(COF_EXISTS, "a lockdown is already in force (since it was declared by %s)",
                       doc->gov.lockdown_by);
    doc->gov.lockdown_since = l->now;
    snprintf(doc->gov.lockdown_by, sizeof doc->gov.lockdown_by, "%s", l->by);
    snprintf(doc->gov.lockdown_reason, sizeof doc->gov.lockdown_reason, "%s",
             l->reason ? l->reason : "");
    return COF_OK;
}

static cof_status edit_lift(cof_access *doc, void *ctx)
{
    (void)ctx;
    if (!doc->gov.lockdown_since)
        return COF_ERR(COF_NOTFOUND, "there is no lockdown to lift");
    doc->gov.lockdown_since = 0;
    doc->gov.lockdown_by[0] = 0;
    doc->gov.lockdown_reason[0] = 0;
    return COF_OK;
}

cof_status cof_change_lockdown(const cof_config *cfg, const char *by, const char *reason,
                               int64_t now, cof_change **out)
{
    lock_ctx l = { by, reason, now };
    return propose_edit(cfg, by, 1, reason, now, edit_lockdown, &l, out);
}

cof_status cof_change_lift(const cof_config *cfg, const char *by, const char *reason, int64_t now,
                           cof_change **out)
{
    return propose_edit(cfg, by, 1, reason, now, edit_lift, NULL, out);
}

typedef struct {
    const char *principal;
} susp_ctx;

static cof_status edit_suspend(cof_access *doc, void *ctx)
{
    const susp_ctx *s = ctx;
    for (uint32_t i = 0; i < doc->nprincipals; i++)
        if (!strcmp(doc->principals[i].name, s->principal)) {
            if (doc->principals[i].suspended)
                return COF_ERR(COF_EXISTS, "%s is already suspended", s->principal);
            doc->principals[i].suspended = 1;
            return COF_OK;
        }
    return COF_ERR(COF_NOTFOUND, "no principal %s", s->principal);
}

cof_status cof_change_suspend(const char *data_dir, const char *principal, const char *by,
                              const char *reason, int64_t now, char id_out[COF_CHANGE_IDLEN + 1])
{
    /* Suspension narrows by construction, so the evaluation needs no configuration
     * beyond defaults; automatic responses ("coffer") need no administrator. */
    cof_config *cfg = calloc(1, sizeof *cfg);
    cof_change *c = NULL;
    cof_status st;
    if (!cfg)
        return COF_ERR(COF_NOMEM, "suspend");
    if ((st = cof_config_init(cfg)))
        goto out;
    snprintf(cfg->data_dir, sizeof cfg->data_dir, "%s", data_dir);
    susp_ctx s = { principal };
    st = propose_edit(cfg, by, strcmp(by, "coffer") != 0, reason, now, edit_suspend, &s, &c);
    if (!st && id_out)
        memcpy(id_out, c->id, sizeof c->id);
out:
    cof_change_free(c);
    cof_config_free(cfg);
    free(cfg);
    return st;
}

void cof_change_announce(cof_alerts *a, const cof_change *c, const char *event, const char *by)
{
    if (!a)
        return;
    char kind[48], summary[300];
    snprintf(kind, sizeof kind, "change.%s", event);
    snprintf(summary, sizeof summary, "access change %s (%s) %s by %s: %u of %u people", c->id,
             cof_change_kind_name(c->kind), event, by, 1 + c->napprovals, c->required);
    json_t *o = change_to_json(c, 0);
    char *d = o ? json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(o);
    cof_severity sev = c->kind == COF_CHANGE_LOCKDOWN ? COF_SEV_CRITICAL
                     : cof_change_worst(c) >= COF_SEV_HIGH ? cof_change_worst(c)
                     : !strcmp(event, "applied") || !strcmp(event, "proposed") ? COF_SEV_MEDIUM
                     : COF_SEV_LOW;
    if (cof_alert_raise(a, kind, sev, summary, d) != COF_OK)
        fprintf(stderr, "coffer: alert not queued: %s\n", cof_err_msg());
    free(d);
}
