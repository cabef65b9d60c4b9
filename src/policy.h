/* policy.h - minimization at ingestion: tenant attribution and the field policy that
 * turns a cof_event into the cof_record the store keeps (threat model A2).
 *
 * After cof_policy_apply, a personal value exists only in rec->sealed (which the store
 * encrypts before anything reaches disk) and as a keyed blind token; dropped fields are
 * gone. */
#ifndef COF_POLICY_H
#define COF_POLICY_H

#include "config.h"
#include "event.h"
#include "record.h"
#include "status.h"

/* Tenant of an event: the event's own valid tenant field (JSON input), else the first
 * matching tenant_rule, else default_tenant. Returns a NUL-terminated name owned by the
 * config or by buf (COF_MAX_TENANT_NAME + 1 bytes). */
const char *cof_policy_tenant(const cof_config *c, const cof_event *ev, char *buf);

/* Scratch space for derived values (network prefixes) referenced by the record. */
typedef struct {
    char prefix[COF_NFIELDS][64];
} cof_policy_scratch;

/* Apply tenant's policy to ev. blind_key: the tenant's blind-index key. rec's strings
 * point into ev, tenant and scratch, so all three must outlive rec. */
cof_status cof_policy_apply(const cof_config *c, const char *tenant,
                            const uint8_t blind_key[32], const cof_event *ev,
                            cof_policy_scratch *scratch, cof_record *rec) COF_MUST_USE;

/* The domain part of an address ("" if none): the text after the last '@'. */
cof_str cof_policy_domain(cof_str addr);

/* Network prefix text of an IP ("192.0.2.0/24"); 0 if v is not an IP address. */
int cof_policy_prefix(cof_str ip, uint32_t v4_bits, uint32_t v6_bits, char *out, size_t cap);

#endif
