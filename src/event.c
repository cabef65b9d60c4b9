/* event.c - names of event fields, statuses and directions. */
#include "event.h"

static const char *const field_names[COF_NFIELDS] = {
    [COF_F_HOST] = "host",
    [COF_F_INSTANCE] = "instance",
    [COF_F_QUEUE_ID] = "queue_id",
    [COF_F_MESSAGE_ID] = "message_id",
    [COF_F_CLIENT_HOST] = "client_host",
    [COF_F_CLIENT_IP] = "client_ip",
    [COF_F_SASL_METHOD] = "sasl_method",
    [COF_F_SASL_USERNAME] = "sasl_username",
    [COF_F_SENDER] = "sender",
    [COF_F_RECIPIENT] = "recipient",
    [COF_F_ORIG_RECIPIENT] = "orig_recipient",
    [COF_F_RELAY_HOST] = "relay_host",
    [COF_F_RELAY_IP] = "relay_ip",
    [COF_F_DSN] = "dsn",
    [COF_F_RESPONSE] = "response",
    [COF_F_TLS] = "tls",
    [COF_F_SUBJECT] = "subject",
    [COF_F_TENANT] = "tenant",
    [COF_F_BOUNCE_OF] = "bounce_of",
};

static const char *const status_names[COF_NSTATUS] = {
    "unknown", "sent", "deferred", "bounced", "expired", "rejected", "discarded", "held",
};

static const char *const direction_names[] = { "unknown", "inbound", "outbound", "local" };

void cof_event_init(cof_event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->delay_ms = COF_NO_DELAY;
    for (int i = 0; i < 4; i++)
        ev->delays_ms[i] = COF_NO_DELAY;
}

const char *cof_field_name(cof_field f)
{
    return (unsigned)f < COF_NFIELDS ? field_names[f] : "?";
}

const char *cof_status_name(cof_delivery_status s)
{
    return (unsigned)s < COF_NSTATUS ? status_names[s] : "unknown";
}

const char *cof_direction_name(cof_direction d)
{
    return (unsigned)d <= COF_DIR_LOCAL ? direction_names[d] : "unknown";
}

int cof_field_from_name(cof_str name, cof_field *out)
{
    for (int i = 0; i < COF_NFIELDS; i++)
        if (cof_str_eq_lit(name, field_names[i])) {
            *out = (cof_field)i;
            return 1;
        }
    return 0;
}

int cof_status_from_name(cof_str name, cof_delivery_status *out)
{
    for (int i = 1; i < COF_NSTATUS; i++)
        if (cof_str_eq_lit(name, status_names[i])) {
            *out = (cof_delivery_status)i;
            return 1;
        }
    return 0;
}

int cof_direction_from_name(cof_str name, cof_direction *out)
{
    for (int i = 1; i <= COF_DIR_LOCAL; i++)
        if (cof_str_eq_lit(name, direction_names[i])) {
            *out = (cof_direction)i;
            return 1;
        }
    return 0;
}

int cof_field_is_personal(cof_field f)
{
    switch (f) {
    case COF_F_MESSAGE_ID:
    case COF_F_CLIENT_HOST:
    case COF_F_CLIENT_IP:
    case COF_F_SASL_USERNAME:
    case COF_F_SENDER:
    case COF_F_RECIPIENT:
    case COF_F_ORIG_RECIPIENT:
    case COF_F_RESPONSE:
    case COF_F_SUBJECT:
        return 1;
    default:
        return 0;
    }
}
