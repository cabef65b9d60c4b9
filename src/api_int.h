/* api_int.h - what the route modules (api.c, api_gov.c) share: the request state,
 * the audit record being built, and the answer helpers (audit first, then send). */
#ifndef COF_API_INT_H
#define COF_API_INT_H

#include <jansson.h>
#include <microhttpd.h>

#include "apiparam.h"
#include "buf.h"
#include "poison.h"
#include "server_int.h"

#define MAX_IDS_TEXT 4000
#define MAX_SCOPE 256

typedef struct {
    int64_t start_us;
    char source[64];
    int authed;
    cof_token_info tok;
    access_ref *acc;
    const cof_principal *p;
    cof_buf body;
    int too_big, done;
} req;

typedef struct {
    const char *action;
    json_t *params;       /* owned; NULL for none */
    const char *tenants[MAX_SCOPE];
    size_t ntenants;
    uint64_t events;
    char ids[MAX_IDS_TEXT + 8];
} audit_info;

typedef struct {
    cof_kv kv[COF_API_MAX_PARAMS + 1];
    size_t n;
} kvset;

/* Audit, then send (or 503 if the audit failed). Takes ownership of body and ai->params. */
enum MHD_Result cof_api_finish(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai,
                               unsigned status, char *body, const char *ctype, unsigned retry);
enum MHD_Result cof_api_finish_err(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai,
                                   unsigned status, const char *msg, unsigned retry);
/* Name the action, check the route's permission, collect the query arguments (kv may be
 * NULL). 1 when the request is already answered (*ret set). */
int cof_api_route_begin(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai,
                        const char *action, uint32_t perm, const char *deny, kvset *kv,
                        enum MHD_Result *ret);
const char *cof_api_unknown_arg(struct MHD_Connection *c, const char *const *allowed);
const char *cof_api_arg(struct MHD_Connection *c, const char *k);
int cof_api_tenants_for(cof_server *s, req *r, uint32_t perm, const char *want, int *all,
                        const char **names, uint32_t *n);
void cof_api_args_of(struct MHD_Connection *c, kvset *k);

/* A response would have included a poison record: withhold it, suspend the principal
 * at once (a narrowing change), raise poison.hit, answer 403. (api_gov.c) */
enum MHD_Result cof_api_poison_hit(cof_server *s, struct MHD_Connection *c, req *r,
                                   audit_info *ai, const cof_poison_hit *hit);
/* api_export.c: /v1/exports[...]; 0 when url is not one of them. */
int cof_api_export_route(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai,
                         const char *url, const char *method, enum MHD_Result *ret);

/* api_subject.c: /v1/subjects/find and /v1/subjects/erase; 0 when url is neither. */
int cof_api_subject_route(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai,
                          const char *url, const char *method, enum MHD_Result *ret);

/* api_gov.c: /v1/changes, /v1/changes/ID[/approve|/reject], /v1/lockdown[/lift]. 0 when
 * url is not one of them (nothing sent). */
int cof_api_gov_route(cof_server *s, struct MHD_Connection *c, req *r, audit_info *ai,
                      const char *url, const char *method, enum MHD_Result *ret);

#endif
