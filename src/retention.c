/* retention.c - per-tenant retention by crypto-shredding (see retention.h).
 *
 * The order of a run, each step durable before the next:
 *   1. for every due tenant-day: cof_store_drop_day (flush, MANIFEST without its
 *      segments, files deleted);
 *   2. write DATA/retention.pending (the master key rotation is owed);
 *   3. for every due tenant-day: cof_keyring_destroy_data_key (keyring saved);
 *   4. cof_keyring_rotate_master;
 *   5. delete DATA/retention.pending.
 * What a crash leaves, and how the next run completes it:
 *   - during or after 1: some days have no segments but live keys. They are still due
 *     (due is decided from the live keys), so the next run drops nothing more for
 *     them and goes on with 2-5. Segments go BEFORE keys because a segment whose key
 *     is gone would no longer be listed as due by anything, and would linger.
 *   - during or after 3: some keys are destroyed, the marker says the rotation is
 *     owed; the next run destroys the rest and rotates even if nothing is due then.
 *   - during 4: cof_keyring_open completes a half-done rotation ("<key>.new"); the
 *     marker makes the next run rotate once more, which is harmless.
 *   - after 4, before 5: one extra rotation next time; harmless.
 * Records of a shredded day that arrive later are refused (ingest.h, store.c
 * invariant 5): the keyring never recreates a destroyed key. */
#include "retention.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "fsutil.h"
#include "timefmt.h"
#include "keyring.h"

#define DAY_US 86400000000LL

typedef struct {
    size_t tenant; /* index into rep->t */
    uint32_t day;
} due_item;

typedef struct {
    cof_retention_report *rep;
    const cof_access *a;
    due_item *due;
    size_t ndue, capdue;
} plan_ctx;

static cof_retention_tenant *tenant_slot(cof_retention_report *rep, const char *tenant)
{
    /* each_data_key walks tenants in order: the last slot is the only candidate. */
    if (rep->n && strcmp(rep->t[rep->n - 1].tenant, tenant) == 0)
        return &rep->t[rep->n - 1];
    cof_retention_tenant *nt = realloc(rep->t, (rep->n + 1) * sizeof *nt);
    if (!nt)
        return NULL;
    rep->t = nt;
    memset(&nt[rep->n], 0, sizeof *nt);
    snprintf(nt[rep->n].tenant, sizeof nt[rep->n].tenant, "%s", tenant);
    return &nt[rep->n++];
}

static int is_due(uint32_t days, uint32_t day, uint32_t today)
{
    return days && (uint64_t)day + days < today;
}

static cof_status plan_key(void *ctx, const char *tenant, uint32_t day)
{
    plan_ctx *p = ctx;
    size_t before = p->rep->n;
    cof_retention_tenant *t = tenant_slot(p->rep, tenant);
    if (!t)
        return COF_ERR(COF_NOMEM, "out of memory");
    if (p->rep->n != before)
        t->days = p->a ? cof_access_retention_days(p->a, tenant) : 0;
    if (!t->days_held || day < t->oldest_day)
        t->oldest_day = day;
    t->days_held++;
    if (!is_due(t->days, day, p->rep->today))
        return COF_OK;
    if (!t->days_due || day < t->first_due)
        t->first_due = day;
    if (day > t->last_due)
        t->last_due = day;
    t->days_due++;
    if (p->ndue == p->capdue) {
        size_t cap = p->capdue ? p->capdue * 2 : 64;
        due_item *nd = realloc(p->due, cap * sizeof *nd);
        if (!nd)
            return COF_ERR(COF_NOMEM, "out of memory");
        p->due = nd;
        p->capdue = cap;
    }
    p->due[p->ndue++] = (due_item){ (size_t)(t - p->rep->t), day };
    return COF_OK;
}

static cof_status plan_collect(cof_store *s, const cof_access *a, int64_t now,
                               cof_retention_report *rep, plan_ctx *p)
{
    memset(rep, 0, sizeof *rep);
    memset(p, 0, sizeof *p);
    p->rep = rep;
    p->a = a;
    rep->now = now;
    rep->today = now > 0 ? (uint32_t)(now / DAY_US) : 0;
    cof_keyring *kr = cof_store_keyring(s);
    if (!kr)
        return COF_ERR(COF_DENIED, "retention needs the master key");
    cof_status st = cof_keyring_each_data_key(kr, plan_key, p);
    if (st)
        return st;
    cof_seg_info *segs = NULL;
    size_t nsegs = 0;
    if ((st = cof_store_segments(s, &segs, &nsegs)))
        return st;
    for (size_t i = 0; i < nsegs; i++)
        for (size_t j = 0; j < rep->n; j++) {
            cof_retention_tenant *t = &rep->t[j];
            if (strcmp(t->tenant, segs[i].tenant) == 0 && is_due(t->days, segs[i].day, rep->today)) {
                t->events_due += segs[i].nrows;
                t->segments_due++;
            }
        }
    free(segs);
    return COF_OK;
}

cof_status cof_retention_plan(cof_store *s, const cof_access *a, int64_t now,
                              cof_retention_report *rep)
{
    plan_ctx p;
    cof_status st = plan_collect(s, a, now, rep, &p);
    free(p.due);
    return st;
}

static cof_status marker_path(cof_store *s, char *out, size_t cap)
{
    int w = snprintf(out, cap, "%s/%s", cof_store_config(s)->data_dir, COF_RETENTION_PENDING);
    if (w < 0 || (size_t)w >= cap)
        return COF_ERR(COF_LIMIT, "data directory path too long");
    return COF_OK;
}

cof_status cof_retention_run(cof_store *s, const cof_access *a, int64_t now,
                             cof_retention_report *rep)
{
    plan_ctx p;
    char marker[4200];
    if (!cof_store_writable(s)) {
        memset(rep, 0, sizeof *rep);
        return COF_ERR(COF_DENIED, "retention needs the store opened for writing");
    }
    cof_status st = plan_collect(s, a, now, rep, &p);
    if (!st)
        st = marker_path(s, marker, sizeof marker);
    if (st)
        goto out;
    int owed = access(marker, F_OK) == 0;
    if (!p.ndue && !owed)
        goto out;
    /* 1. segments first (see the top of this file) */
    for (size_t i = 0; i < p.ndue && !st; i++) {
        uint64_t rows = 0;
        uint32_t segs = 0;
        st = cof_store_drop_day(s, rep->t[p.due[i].tenant].tenant, p.due[i].day, &rows, &segs);
        rep->events_shredded += rows;
        rep->segments_removed += segs;
    }
    if (st)
        goto out;
    /* 2. the rotation is owed from the first destroyed key on */
    static const char note[] = "coffer: a master key rotation is owed (retention); "
                               "the next `coffer retention run` completes it\n";
    if (!owed && (st = cof_fs_replace(marker, note, sizeof note - 1, 0600)))
        goto out;
    /* 3. keys */
    cof_keyring *kr = cof_store_keyring(s);
    for (size_t i = 0; i < p.ndue && !st; i++) {
        st = cof_keyring_destroy_data_key(kr, rep->t[p.due[i].tenant].tenant, p.due[i].day);
        if (st == COF_NOTFOUND) /* destroyed meanwhile: nothing left to do for it */
            st = COF_OK;
        else if (!st)
            rep->days_shredded++;
    }
    if (st)
        goto out;
    /* 4. old copies of the keyring stop opening with the current key file */
    if ((st = cof_keyring_rotate_master(kr, cof_store_config(s)->key_file)))
        goto out;
    rep->rotated = 1;
    rep->rotation_resumed = owed;
    /* 5. */
    if (unlink(marker) != 0 && errno != ENOENT) {
        st = COF_ERRNO("remove %s", marker);
        goto out;
    }
    st = cof_fs_fsync_dir(cof_store_config(s)->data_dir);
out:
    free(p.due);
    return st;
}

void cof_retention_report_free(cof_retention_report *rep)
{
    free(rep->t);
    memset(rep, 0, sizeof *rep);
}

static const char *day_str(uint32_t day, char *buf, size_t cap)
{
    char tmp[64];
    cof_time_format((int64_t)day * DAY_US, tmp, sizeof tmp);
    snprintf(buf, cap, "%.10s", tmp);
    return buf;
}

cof_status cof_retention_report_json(const cof_retention_report *rep, int dry_run, char **out)
{
    char b1[16], b2[16], now[64];
    cof_status st = COF_ERR(COF_NOMEM, "out of memory");
    json_t *root = json_object(), *tenants = json_object();
    if (!root || !tenants)
        goto out;
    cof_time_format(rep->now, now, sizeof now);
    json_object_set_new(root, "now", json_string(now));
    json_object_set_new(root, "dry_run", json_boolean(dry_run));
    json_object_set_new(root, "unsealed", json_false()); /* nothing was returned */
    json_object_set_new(root, "categories", json_array());
    for (size_t i = 0; i < rep->n; i++) {
        const cof_retention_tenant *t = &rep->t[i];
        json_t *o = json_object();
        if (!o)
            goto out;
        json_object_set_new(o, "retention_days", json_integer(t->days));
        json_object_set_new(o, "days_held", json_integer(t->days_held));
        json_object_set_new(o, "oldest_day", t->days_held ? json_string(day_str(t->oldest_day, b1, sizeof b1))
                                                          : json_null());
        json_object_set_new(o, "days_due", json_integer(t->days_due));
        if (t->days_due) {
            json_object_set_new(o, "first_due", json_string(day_str(t->first_due, b1, sizeof b1)));
            json_object_set_new(o, "last_due", json_string(day_str(t->last_due, b2, sizeof b2)));
        }
        json_object_set_new(o, "events_due", json_integer((json_int_t)t->events_due));
        json_object_set_new(o, "segments_due", json_integer(t->segments_due));
        json_object_set_new(tenants, t->tenant, o);
    }
    json_object_set(root, "tenants", tenants);
    if (!dry_run) {
        json_object_set_new(root, "days_shredded", json_integer(rep->days_shredded));
        json_object_set_new(root, "events_shredded", json_integer((json_int_t)rep->events_shredded));
        json_object_set_new(root, "segments_removed", json_integer(rep->segments_removed));
        json_object_set_new(root, "master_key_rotated", json_boolean(rep->rotated));
    }
    *out = json_dumps(root, JSON_COMPACT | JSON_SORT_KEYS);
    st = *out ? COF_OK : COF_ERR(COF_NOMEM, "out of memory");
out:
    json_decref(tenants);
    json_decref(root);
    return st;
}
