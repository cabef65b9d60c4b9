/* event.h - the delivery event: one per recipient per delivery attempt, plus
 * rejections. Produced by the log parsers (correlate.c, jsonl.c), consumed by the
 * policy (policy.c) which turns it into a cof_record for storage, and rebuilt by
 * queries for output.
 *
 * Ownership: every cof_str in an event points into memory owned by whoever
 * produced it and stays valid only for the duration of the callback (or until the
 * producer's next call). Consumers copy what they keep. */
#ifndef COF_EVENT_H
#define COF_EVENT_H

#include <stdint.h>

#include "status.h"
#include "str.h"

/* String fields, in JSON output order. The JSON names are cof_field_name(). */
typedef enum {
    COF_F_HOST,           /* MTA host from the syslog header */
    COF_F_INSTANCE,       /* Postfix instance: syslog_name prefix ("postfix", "postfix-out") */
    COF_F_QUEUE_ID,
    COF_F_MESSAGE_ID,     /* personal */
    COF_F_CLIENT_HOST,    /* personal */
    COF_F_CLIENT_IP,      /* personal */
    COF_F_SASL_METHOD,
    COF_F_SASL_USERNAME,  /* personal */
    COF_F_SENDER,         /* personal */
    COF_F_RECIPIENT,      /* personal */
    COF_F_ORIG_RECIPIENT, /* personal */
    COF_F_RELAY_HOST,
    COF_F_RELAY_IP,
    COF_F_DSN,
    COF_F_RESPONSE,       /* personal: responses quote addresses */
    COF_F_TLS,            /* "TLSv1.3 TLS_AES_256_GCM_SHA384" */
    COF_F_SUBJECT,        /* personal */
    COF_F_TENANT,
    COF_F_BOUNCE_OF,      /* queue id of the message a bounce notification reports on */
    COF_NFIELDS
} cof_field;

typedef enum {
    COF_DIR_UNKNOWN = 0,
    COF_DIR_INBOUND,  /* received from a remote client, delivered locally */
    COF_DIR_OUTBOUND, /* delivered to a remote relay */
    COF_DIR_LOCAL     /* locally submitted and delivered (pickup -> local) */
} cof_direction;

typedef enum {
    COF_ST_UNKNOWN = 0,
    COF_ST_SENT,
    COF_ST_DEFERRED,
    COF_ST_BOUNCED,
    COF_ST_EXPIRED,
    COF_ST_REJECTED,
    COF_ST_DISCARDED,
    COF_ST_HELD,
    COF_NSTATUS
} cof_delivery_status;

/* Delays are kept in milliseconds; -1 means "not logged". */
#define COF_NO_DELAY (-1)

typedef struct {
    int64_t time_us;         /* UTC microseconds since the epoch */
    uint8_t direction;       /* cof_direction */
    uint8_t status;          /* cof_delivery_status */
    uint16_t relay_port;     /* 0 if none */
    int32_t delay_ms;        /* delay= */
    int32_t delays_ms[4];    /* delays=a/b/c/d */
    uint64_t size;           /* bytes, 0 if unknown */
    uint32_t nrcpt;          /* 0 if unknown */
    cof_str f[COF_NFIELDS];  /* n == 0: absent */
    /* Provenance, used for exactly-once ingest (see ingest.h): byte offset in the
     * source of the line that completed this event, and its index among events
     * completed by the same line. Not part of the stored event. */
    uint64_t src_off;
    uint32_t src_idx;
} cof_event;

/* Reset to "everything absent". */
void cof_event_init(cof_event *ev);

/* JSON name of a string field ("recipient"), of a status ("sent"), of a direction. */
const char *cof_field_name(cof_field f);
const char *cof_status_name(cof_delivery_status s);
const char *cof_direction_name(cof_direction d);

/* Reverse lookups; return 0 if the name is unknown. */
int cof_field_from_name(cof_str name, cof_field *out);
int cof_status_from_name(cof_str name, cof_delivery_status *out);
int cof_direction_from_name(cof_str name, cof_direction *out);

/* 1 if the field holds personal data (see THREAT-MODEL.md). */
int cof_field_is_personal(cof_field f);

#endif
