/* write.c - the generator's output: each heap entry becomes one Postfix log line,
 * and a delivery line also one truth row with exactly the values the line carries.
 * Split from gen_postfix.c (the model and the driver); shared state: gen.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gen.h"

static const char *smtpd_svc(const msg_t *m)
{
    return m->kind == K_SUBMIT ? "submission/smtpd" : "smtpd";
}

static char *put_client(char *w, const msg_t *m)
{
    w = put_s(w, m->client_host);
    *w++ = '[';
    w = put_s(w, m->client_ip);
    *w++ = ']';
    return w;
}

static char *put_suite(char *w, int suite)
{
    const tls_suite_t *s = &TLS_SUITES[suite];
    w = put_s(w, s->proto);
    w = PUT_LIT(w, " with cipher ");
    w = put_s(w, s->cipher);
    w = PUT_LIT(w, " (");
    w = put_s(w, s->bits);
    w = PUT_LIT(w, " bits)");
    return put_s(w, s->tail);
}

static inline char *tab(char *w)
{
    *w++ = '\t';
    return w;
}

/* One truth row. Fields are exactly the values the log lines carry; "" when the
 * log has none. */
typedef struct {
    int64_t t;
    const msg_t *m;
    const char *rcpt, *orig, *relay_host, *relay_ip, *relay_port, *dsn, *resp, *tls;
    int status;
    int64_t delay_ms; /* < 0: none */
} trow_t;

static void truth_row(gen_t *g, const trow_t *tr)
{
    g->rows[tr->status]++;
    if (!g->have_truth)
        return;
    const msg_t *m = tr->m;
    char *w = ob_reserve(&g->truth);
    tc_update(g, tr->t);
    w = put_mem(w, g->tc_iso, 19);
    *w++ = '.';
    w = put_u0(w, g->rfc3339 ? (uint64_t)(tr->t % US_PER_SEC) : 0, 6);
    *w++ = 'Z';
    w = tab(w);
    w = put_s(w, g->hosts[m->host].name);
    w = tab(w);
    w = m->inst ? PUT_LIT(w, "postfix-out") : PUT_LIT(w, "postfix");
    w = tab(w);
    w = put_s(w, m->qid);
    w = tab(w);
    w = put_s(w, m->msgid);
    w = tab(w);
    w = put_s(w, m->client_host);
    w = tab(w);
    w = put_s(w, m->client_ip);
    w = tab(w);
    w = put_s(w, m->sasl);
    w = tab(w);
    w = put_s(w, m->sender);
    w = tab(w);
    w = put_s(w, tr->rcpt);
    w = tab(w);
    w = put_s(w, tr->orig);
    w = tab(w);
    w = put_s(w, tr->relay_host);
    w = tab(w);
    w = put_s(w, tr->relay_ip);
    w = tab(w);
    w = put_s(w, tr->relay_port);
    w = tab(w);
    w = put_s(w, ST_NAME[tr->status]);
    w = tab(w);
    w = put_s(w, tr->dsn);
    w = tab(w);
    if (tr->delay_ms >= 0)
        w = put_u(w, (uint64_t)tr->delay_ms);
    w = tab(w);
    if (m->kind != K_REJECT) {
        w = put_u(w, m->size);
        w = tab(w);
        w = put_u(w, m->nrcpt);
    } else {
        w = tab(w);
    }
    w = tab(w);
    w = put_s(w, tr->resp);
    w = tab(w);
    w = put_s(w, m->subject);
    w = tab(w);
    w = put_s(w, tr->tls);
    *w++ = '\n';
    ob_commit(&g->truth, w);
}

static void tls_value(char *out, int suite_plus1)
{
    char *w = out;
    if (suite_plus1) {
        const tls_suite_t *s = &TLS_SUITES[suite_plus1 - 1];
        w = put_s(w, s->proto);
        *w++ = ' ';
        w = put_s(w, s->cipher);
    }
    *w = 0;
}

static void write_delivery(gen_t *g, msg_t *m, int ri, int ai, int64_t t)
{
    rcpt_t *r = &m->r[ri];
    attempt_t *at = &r->att[ai];
    char relay_host[HOST_CAP], relay_ip[IP_CAP], resp[RESP_CAP], tls[80];
    const char *port = "", *dsn = "2.0.0";
    char *w;

    /* relay= */
    if (r->agent == AG_SMTP) {
        const char *mx, *ip;
        if (r->dom == DOM_INTERNAL) {
            mx = g->hosts[0].fqdn;
            ip = "192.0.2.25";
        } else {
            mx = g->extdoms[r->dom].mx;
            ip = g->extdoms[r->dom].mx_ip;
        }
        if (at->resp == RS_TIMEOUT || at->resp == RS_REFUSED) {
            w = PUT_LIT(relay_host, "none");
            *w = 0;
            relay_ip[0] = 0;
        } else {
            w = put_s(relay_host, mx);
            *w = 0;
            w = put_s(relay_ip, ip);
            *w = 0;
            port = "25";
        }
        /* the response */
        w = resp;
        switch (at->resp) {
        case RS_OK: {
            int style = r->dom == DOM_INTERNAL ? 0 : g->extdoms[r->dom].ok_style;
            switch (style) {
            case 0:
                w = PUT_LIT(w, "250 2.0.0 Ok: queued as ");
                w = put_hex0(w, at->nonce & 0xffffffffffULL, 10, 1);
                break;
            case 1:
                w = PUT_LIT(w, "250 OK id=");
                w = put_token(w, at->nonce, B62, 62, 6);
                *w++ = '-';
                w = put_token(w, at->nonce >> 36, B62, 62, 6);
                *w++ = '-';
                w = put_token(w, at->nonce >> 56, B62, 62, 2);
                break;
            case 2:
                w = PUT_LIT(w, "250 2.6.0 ");
                w = put_s(w, m->msgid);
                w = PUT_LIT(w, " [InternalId=");
                w = put_u(w, at->nonce % 10000000000000ULL);
                w = PUT_LIT(w, ", Hostname=mbx");
                w = put_u(w, at->nonce >> 60);
                *w++ = '.';
                w = put_s(w, g->extdoms[r->dom].name);
                w = PUT_LIT(w, "] Queued mail for delivery");
                break;
            default:
                w = PUT_LIT(w, "250 2.0.0 Message accepted for delivery");
                break;
            }
            break;
        }
        case RS_TIMEOUT:
        case RS_REFUSED:
            dsn = "4.4.1";
            w = PUT_LIT(w, "connect to ");
            w = put_s(w, mx);
            *w++ = '[';
            w = put_s(w, ip);
            w = PUT_LIT(w, "]:25: ");
            w = at->resp == RS_TIMEOUT ? PUT_LIT(w, "Connection timed out")
                                      : PUT_LIT(w, "Connection refused");
            break;
        default:
            w = PUT_LIT(w, "host ");
            w = put_s(w, mx);
            *w++ = '[';
            w = put_s(w, ip);
            w = PUT_LIT(w, "] said: ");
            if (at->resp == RS_TRY_LATER) {
                dsn = "4.7.1";
                w = PUT_LIT(w, "451 4.7.1 Try again later (in reply to RCPT TO command)");
            } else if (at->resp == RS_UNKNOWN) {
                dsn = "5.1.1";
                w = PUT_LIT(w, "550 5.1.1 <");
                w = put_s(w, r->addr);
                w = PUT_LIT(w, ">: Recipient address rejected: User unknown in virtual "
                               "mailbox table (in reply to RCPT TO command)");
            } else if (at->resp == RS_FULL) {
                dsn = "5.2.2";
                w = PUT_LIT(w, "552 5.2.2 <");
                w = put_s(w, r->addr);
                w = PUT_LIT(w, ">: Mailbox full (in reply to RCPT TO command)");
            } else {
                dsn = "5.7.1";
                w = PUT_LIT(w, "550 5.7.1 Message rejected as spam (in reply to end of "
                               "DATA command)");
            }
            break;
        }
        *w = 0;
    } else if (r->agent == AG_LMTP) {
        const tenant_t *tn = &g->tenants[r->dom];
        w = PUT_LIT(relay_host, "store");
        w = put_u(w, tn->store + 1u);
        w = PUT_LIT(w, ".mail.example.net");
        *w = 0;
        w = PUT_LIT(relay_ip, "192.0.2.");
        w = put_u(w, 21u + tn->store);
        *w = 0;
        port = "24";
        w = PUT_LIT(resp, "250 2.0.0 <");
        w = put_s(w, r->addr);
        w = PUT_LIT(w, "> ");
        w = put_token(w, at->nonce, B62, 62, 22);
        w = PUT_LIT(w, " Saved");
        *w = 0;
    } else {
        w = put_s(relay_host, r->agent == AG_LOCAL ? "local" : "virtual");
        *w = 0;
        relay_ip[0] = 0;
        w = r->agent == AG_LOCAL ? PUT_LIT(resp, "delivered to mailbox")
                                 : PUT_LIT(resp, "delivered to maildir");
        *w = 0;
    }

    /* the line */
    w = ob_reserve(&g->out);
    uint32_t pid = at->pid;
    w = put_prefix(g, w, t, m, AGENT_SVC[r->agent], pid);
    w = put_s(w, m->qid);
    w = PUT_LIT(w, ": to=<");
    w = put_s(w, r->addr);
    *w++ = '>';
    if (r->orig[0]) {
        w = PUT_LIT(w, ", orig_to=<");
        w = put_s(w, r->orig);
        *w++ = '>';
    }
    w = PUT_LIT(w, ", relay=");
    w = put_s(w, relay_host);
    if (relay_ip[0]) {
        *w++ = '[';
        w = put_s(w, relay_ip);
        *w++ = ']';
        if (port[0]) {
            *w++ = ':';
            w = put_s(w, port);
        }
    }
    w = PUT_LIT(w, ", delay=");
    int64_t delay_ms = put_delay(&w, at->d[0] + at->d[1] + at->d[2] + at->d[3]);
    w = PUT_LIT(w, ", delays=");
    for (int k = 0; k < 4; k++) {
        if (k)
            *w++ = '/';
        (void)put_delay(&w, at->d[k]);
    }
    w = PUT_LIT(w, ", dsn=");
    w = put_s(w, dsn);
    w = PUT_LIT(w, ", status=");
    w = put_s(w, ST_NAME[at->status]);
    w = PUT_LIT(w, " (");
    w = put_s(w, resp);
    w = PUT_LIT(w, ")\n");
    ob_commit(&g->out, w);

    /* TLS of the hop that carried this delivery: the outbound connection for
     * smtp, the client's connection for local delivery. */
    tls_value(tls, r->agent == AG_SMTP ? at->tls : m->tls_in);
    trow_t tr = { t, m, r->addr, r->orig, relay_host, relay_ip, port, dsn, resp, tls,
                  at->status, delay_ms };
    truth_row(g, &tr);
}

void write_event(gen_t *g, const hent_t *e)
{
    msg_t *m = MSG(g, e->m);
    host_t *h = &g->hosts[m->host];
    int64_t t = e->t;
    char *w;
    g->n_lines++;
    switch (e->ev) {
    case E_CONNECT:
        w = ob_reserve(&g->out);
        w = put_prefix(g, w, t, m, smtpd_svc(m), m->smtpd_pid);
        w = PUT_LIT(w, "connect from ");
        w = put_client(w, m);
        *w++ = '\n';
        ob_commit(&g->out, w);
        break;
    case E_TLS_IN:
        w = ob_reserve(&g->out);
        w = put_prefix(g, w, t, m, smtpd_svc(m), m->smtpd_pid);
        w = PUT_LIT(w, "Anonymous TLS connection established from ");
        w = put_client(w, m);
        w = PUT_LIT(w, ": ");
        w = put_suite(w, m->tls_in - 1);
        *w++ = '\n';
        ob_commit(&g->out, w);
        break;
    case E_CLIENT:
        w = ob_reserve(&g->out);
        w = put_prefix(g, w, t, m, smtpd_svc(m), m->smtpd_pid);
        w = put_s(w, m->qid);
        w = PUT_LIT(w, ": client=");
        w = put_client(w, m);
        if (m->sasl[0]) {
            w = PUT_LIT(w, ", sasl_method=PLAIN, sasl_username=");
            w = put_s(w, m->sasl);
        }
        *w++ = '\n';
        ob_commit(&g->out, w);
        break;
    case E_MSGID:
        w = ob_reserve(&g->out);
        w = put_prefix(g, w, t, m, "cleanup", m->cleanup_pid);
        w = put_s(w, m->qid);
        w = PUT_LIT(w, ": message-id=");
        w = put_s(w, m->msgid);
        *w++ = '\n';
        ob_commit(&g->out, w);
        break;
    case E_WARN:
        w = ob_reserve(&g->out);
        w = put_prefix(g, w, t, m, "cleanup", m->cleanup_pid);
        w = put_s(w, m->qid);
        w = PUT_LIT(w, ": warning: header Subject: ");
        w = put_s(w, m->subject);
        w = PUT_LIT(w, " from ");
        w = put_client(w, m);
        w = PUT_LIT(w, "; from=<");
        w = put_s(w, m->sender);
        w = PUT_LIT(w, "> to=<");
        w = put_s(w, m->r[0].addr);
        w = PUT_LIT(w, "> proto=ESMTP helo=<");
        w = put_s(w, m->helo);
        w = PUT_LIT(w, ">\n");
        ob_commit(&g->out, w);
        break;
    case E_ACTIVE:
        w = ob_reserve(&g->out);
        w = put_prefix(g, w, t, m, "qmgr", h->qmgr_pid[m->inst]);
        w = put_s(w, m->qid);
        w = PUT_LIT(w, ": from=<");
        w = put_s(w, m->sender);
        w = PUT_LIT(w, ">, size=");
        w = put_u(w, m->size);
        w = PUT_LIT(w, ", nrcpt=");
        w = put_u(w, m->nrcpt);
        w = PUT_LIT(w, " (queue active)\n");
        ob_commit(&g->out, w);
        break;
    case E_TLS_OUT: {
        const rcpt_t *r = &m->r[e->arg & 0xf];
        const attempt_t *at = &r->att[e->arg >> 4];
        w = ob_reserve(&g->out);
        w = put_prefix(g, w, t, m, "smtp", at->pid);
        w = put_s(w, TLS_TRUST[at->trust]);
        w = PUT_LIT(w, " TLS connection established to ");
        if (r->dom == DOM_INTERNAL) {
            w = put_s(w, g->hosts[0].fqdn);
            w = PUT_LIT(w, "[192.0.2.25]");
        } else {
            w = put_s(w, g->extdoms[r->dom].mx);
            *w++ = '[';
            w = put_s(w, g->extdoms[r->dom].mx_ip);
            *w++ = ']';
        }
        w = PUT_LIT(w, ":25: ");
        w = put_suite(w, at->tls - 1);
        *w++ = '\n';
        ob_commit(&g->out, w);
        break;
    }
    case E_DELIVER:
        write_delivery(g, m, e->arg & 0xf, e->arg >> 4, t);
        break;
    case E_BOUNCE:
        plan_ndr(g, e->m, t);
        m = MSG(g, e->m);
        w = ob_reserve(&g->out);
        w = put_prefix(g, w, t, m, "bounce", h->bounce_pid[m->inst][e->arg]);
        w = put_s(w, m->qid);
        w = PUT_LIT(w, ": sender non-delivery notification: ");
        w = put_s(w, m->ndr_qid);
        *w++ = '\n';
        ob_commit(&g->out, w);
        break;
    case E_REMOVED:
        w = ob_reserve(&g->out);
        w = put_prefix(g, w, t, m, "qmgr", h->qmgr_pid[m->inst]);
        w = put_s(w, m->qid);
        w = PUT_LIT(w, ": removed\n");
        ob_commit(&g->out, w);
        break;
    case E_DISCONNECT: {
        w = ob_reserve(&g->out);
        w = put_prefix(g, w, t, m, smtpd_svc(m), m->smtpd_pid);
        w = PUT_LIT(w, "disconnect from ");
        w = put_client(w, m);
        unsigned cmds = 0;
        w = m->tls_in ? PUT_LIT(w, " ehlo=2 starttls=1") : PUT_LIT(w, " ehlo=1");
        cmds += m->tls_in ? 3 : 1;
        if (m->kind == K_SUBMIT) {
            w = PUT_LIT(w, " auth=1");
            cmds++;
        }
        if (m->kind == K_REJECT) {
            w = PUT_LIT(w, " mail=1 rcpt=0/1 quit=1 commands=");
            w = put_u(w, cmds + 2);
            *w++ = '/';
            w = put_u(w, cmds + 3);
        } else {
            w = PUT_LIT(w, " mail=");
            w = put_u(w, m->sess_msgs);
            w = PUT_LIT(w, " rcpt=");
            w = put_u(w, m->sess_rcpts);
            w = PUT_LIT(w, " data=");
            w = put_u(w, m->sess_msgs);
            w = PUT_LIT(w, " quit=1 commands=");
            w = put_u(w, cmds + 1u + 2u * m->sess_msgs + m->sess_rcpts);
        }
        *w++ = '\n';
        ob_commit(&g->out, w);
        break;
    }
    case E_REJECT: {
        char resp[RESP_CAP];
        const char *dsn;
        w = resp;
        if (m->reject_kind == 0) {
            dsn = "5.7.1";
            w = PUT_LIT(w, "554 5.7.1 <");
            w = put_s(w, m->r[0].addr);
            w = PUT_LIT(w, ">: Relay access denied");
        } else {
            dsn = "5.1.1";
            w = PUT_LIT(w, "550 5.1.1 <");
            w = put_s(w, m->r[0].addr);
            w = PUT_LIT(w, ">: Recipient address rejected: User unknown in virtual mailbox "
                           "table");
        }
        *w = 0;
        w = ob_reserve(&g->out);
        w = put_prefix(g, w, t, m, "smtpd", m->smtpd_pid);
        w = PUT_LIT(w, "NOQUEUE: reject: RCPT from ");
        w = put_client(w, m);
        w = PUT_LIT(w, ": ");
        w = put_s(w, resp);
        w = PUT_LIT(w, "; from=<");
        w = put_s(w, m->sender);
        w = PUT_LIT(w, "> to=<");
        w = put_s(w, m->r[0].addr);
        w = PUT_LIT(w, "> proto=ESMTP helo=<");
        w = put_s(w, m->helo);
        w = PUT_LIT(w, ">\n");
        ob_commit(&g->out, w);
        char tls[80];
        tls_value(tls, m->tls_in);
        trow_t tr = { t, m, m->r[0].addr, "", "", "", "", dsn, resp, tls, ST_REJECTED, -1 };
        truth_row(g, &tr);
        break;
    }
    case E_EXPIRED:
        w = ob_reserve(&g->out);
        w = put_prefix(g, w, t, m, "qmgr", h->qmgr_pid[m->inst]);
        w = put_s(w, m->qid);
        w = PUT_LIT(w, ": from=<");
        w = put_s(w, m->sender);
        w = PUT_LIT(w, ">, status=expired, returned to sender\n");
        ob_commit(&g->out, w);
        for (int i = 0; i < m->nrcpt; i++) {
            if (m->r[i].natt < 2)
                continue;
            trow_t tr = { t, m, m->r[i].addr, m->r[i].orig, "", "", "", "", "", "",
                          ST_EXPIRED, -1 };
            truth_row(g, &tr);
        }
        break;
    case E_PASS2:
        g->n_lines--;
        pass2_push(g, e->m);
        break;
    default:
        break;
    }
}
