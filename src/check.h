/* check.h - the installation checks of `coffer check`, for the CLI and for the signed
 * evidence report (evidence.h). */
#ifndef COF_CHECK_H
#define COF_CHECK_H

#include <jansson.h>

#include "alert.h"
#include "config.h"
#include "status.h"

/* Run every check without printing: each finding is appended to findings (a JSON
 * array) as {"severity","check","evidence","fix"}, and counts[severity] (indexed by
 * cof_severity, 5 entries) is incremented. Findings never hold key bytes or tokens. */
cof_status cof_check_collect(const cof_config *cfg, json_t *findings,
                             unsigned counts[5]) COF_MUST_USE;

/* Tenants this installation knows of: the config's (default, rules, policies) and the
 * access document's (grants, retention rules; a may be NULL); each name once, "*" left
 * out, at most cap (pointers into cfg and a). Returns the count. */
struct cof_access;
uint32_t cof_check_known_tenants(const cof_config *cfg, const struct cof_access *a,
                                 const char **out, uint32_t cap);

#endif
