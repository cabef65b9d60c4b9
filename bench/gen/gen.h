/* gen.h - what the files of the Postfix log generator share: constants, the PRNG,
 * Zipf draws, text appending and buffered output (gen/util.c), the traffic model's
 * types and tables, and the few functions called across files. The generator is
 * bench/gen_postfix.c (time, names, messages and planning, driver) with
 * bench/gen/write.c (log lines and truth rows). Not a library: one program. */
#ifndef GEN_H
#define GEN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#define US_PER_SEC 1000000LL
#define MS 1000LL
#define MAX_RCPT 3
#define ADDR_CAP 112  /* local part <= 40 + '@' + domain <= 64 */
#define HOST_CAP 112  /* "mail-out." + domain */
#define IP_CAP 48
#define QID_CAP 24
#define MSGID_CAP 128
#define SUBJ_CAP 112
#define RESP_CAP 640
#define LINE_RESERVE 4096 /* longest line or truth row is well under this */
#define OUT_CAP ((size_t)1 << 20)
#define MAX_HOSTS 64
#define MAX_TENANTS 4096 /* COF_MAX_TENANTS in src/bounds.h */
#define N_LOCAL_USERS 100000
#define N_EXT_DOMAINS 30000
#define N_EXT_ADDRS 400000
#define PID_MIN 300
#define PID_MAX 4194000
#define MSG_CHUNK 4096
#define INODE_MIN 0x10000u
#define INODE_MAX 0xFFFFFFu

/* Traffic mix. Row shares come out near 89% sent, 6% deferred, 4% bounced,
 * 1% rejected and a few per mille expired (tests/e2e/test_generator.sh checks). */
#define P_REJECT 0.040     /* of arrivals: a NOQUEUE reject connection */
#define P_INBOUND 0.50     /* of arrivals: from a remote MTA to a hosted mailbox */
#define P_SUBMIT 0.28      /* of arrivals: SASL submission; the rest is app relay */
#define P_OUT_INSTANCE 0.25 /* of app relay: through the postfix-out instance */
#define P_SUBMIT_LOCAL 0.15 /* of submission recipients: hosted, delivered locally */
#define P_DEFER 0.125      /* of remote recipients: first attempt deferred */
#define P_BOUNCE 0.057     /* of remote recipients: bounced at first attempt */
#define P_EXPIRE 0.05      /* of retry passes: the message expires instead */
#define P_RETRY_BOUNCE 0.22 /* of retried recipients: bounced, else sent */
#define P_TLS_IN 0.30      /* inbound SMTP sessions with STARTTLS */
#define P_TLS_RELAY 0.20   /* app relay sessions with STARTTLS */
#define P_TLS_OUT 0.30     /* outbound connections with STARTTLS */
#define P_SUBJECT 0.10     /* messages whose Subject header_checks logs (WARN) */
#define P_ORIG_TO 0.08     /* hosted recipients reached through an alias */
#define DEFAULT_RATE 20.0  /* SMTP sessions per second, diurnal mean */

/* ---------------------------------------------------------------- PRNG */

typedef struct {
    uint64_t s[4];
} rng_t;

/* splitmix64 and mix64 stay inline: mix64 runs for most names and addresses. */
static inline uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Stateless 64-bit mix, for values derived from an entity's index. */
static inline uint64_t mix64(uint64_t x)
{
    return splitmix64(&x);
}

void rng_seed(rng_t *r, uint64_t seed);

static inline uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static inline uint64_t rng_next(rng_t *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

/* Uniform in [0, 1). */
static inline double rng_unif(rng_t *r)
{
    return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n), n > 0 (multiply-high, no modulo bias worth the name). */
static inline uint64_t rng_below(rng_t *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)rng_next(r) * n) >> 64);
}

/* Uniform in [lo, hi]. */
static inline int64_t rng_range(rng_t *r, int64_t lo, int64_t hi)
{
    return lo + (int64_t)rng_below(r, (uint64_t)(hi - lo) + 1);
}

static inline int rng_chance(rng_t *r, double p)
{
    return rng_unif(r) < p;
}

double rng_gauss(rng_t *r);

/* --------------------------------------------------------------- Zipf */

typedef struct {
    double *cdf;
    uint32_t n;
} zipf_t;

void zipf_init(zipf_t *z, uint32_t n, double s);

/* Rank 0 is the most frequent. */
uint32_t zipf_draw(const zipf_t *z, rng_t *r);

/* ------------------------------------------------------ text appending */

static inline char *put_mem(char *w, const char *s, size_t n)
{
    memcpy(w, s, n);
    return w + n;
}

static inline char *put_s(char *w, const char *s)
{
    return put_mem(w, s, strlen(s));
}

#define PUT_LIT(w, lit) put_mem((w), (lit), sizeof(lit) - 1)

static inline char *put_u(char *w, uint64_t v)
{
    char t[20];
    int n = 0;
    do {
        t[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    while (n)
        *w++ = t[--n];
    return w;
}

static inline char *put_u0(char *w, uint64_t v, int width)
{
    for (int i = width - 1; i >= 0; i--) {
        w[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return w + width;
}

char *put_hex(char *w, uint64_t v, int upper);

char *put_hex0(char *w, uint64_t v, int width, int upper);

/* Characters from an alphabet, value by value (ids, tokens). */
char *put_token(char *w, uint64_t v, const char *alpha, uint32_t base, int n);

static const char B62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/* Postfix long queue ids avoid vowels; 'z' separates the inode part. */
static const char B51[] = "0123456789BCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxy";

/* An IP address from the documentation ranges; 70% IPv6 in 2001:db8::/32. */
char *put_ip(char *w, uint64_t h);

/* ------------------------------------------------------------ output */

typedef struct {
    int fd;
    const char *name;
    char *buf;
    size_t len;
    uint64_t total;
} obuf_t;

void ob_flush(obuf_t *o);

/* Room for one line; the caller writes at most LINE_RESERVE bytes then commits. */
static inline char *ob_reserve(obuf_t *o)
{
    if (o->len + LINE_RESERVE > OUT_CAP)
        ob_flush(o);
    return o->buf + o->len;
}

static inline void ob_commit(obuf_t *o, char *w)
{
    o->len = (size_t)(w - o->buf);
}

void ob_open(obuf_t *o, const char *path);

void ob_close(obuf_t *o);

/* ------------------------------------------------------------- model */

enum { AG_SMTP, AG_VIRTUAL, AG_LMTP, AG_LOCAL };
static const char *const AGENT_SVC[] = { "smtp", "virtual", "lmtp", "local" };

enum { ST_SENT, ST_DEFERRED, ST_BOUNCED, ST_EXPIRED, ST_REJECTED, ST_N };
static const char *const ST_NAME[] = { "sent", "deferred", "bounced", "expired", "rejected" };

enum { K_INBOUND, K_SUBMIT, K_RELAY, K_NDR, K_REJECT };

/* Outcome texts of one attempt. */
enum {
    RS_OK,          /* sent; wording chosen by the remote domain or local agent */
    RS_TIMEOUT,     /* deferred: connect timed out, relay=none */
    RS_REFUSED,     /* deferred: connection refused, relay=none */
    RS_TRY_LATER,   /* deferred: 451 4.7.1 */
    RS_UNKNOWN,     /* bounced: 550 5.1.1 user unknown */
    RS_FULL,        /* bounced: 552 5.2.2 mailbox full */
    RS_SPAM         /* bounced: 550 5.7.1 after DATA */
};

enum {
    E_CONNECT, E_TLS_IN, E_CLIENT, E_MSGID, E_WARN, E_ACTIVE, E_TLS_OUT, E_DELIVER,
    E_BOUNCE, E_REMOVED, E_DISCONNECT, E_REJECT, E_EXPIRED, E_PASS2
};

#define DOM_INTERNAL UINT32_MAX /* relay to our own MX (postfix-out's bounces) */

typedef struct {
    const char *proto, *cipher, *bits, *tail;
} tls_suite_t;

static const tls_suite_t TLS_SUITES[] = {
    { "TLSv1.3", "TLS_AES_256_GCM_SHA384", "256/256",
      " key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256" },
    { "TLSv1.3", "TLS_AES_128_GCM_SHA256", "128/128",
      " key-exchange X25519 server-signature ECDSA (P-256) server-digest SHA256" },
    { "TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256", "256/256",
      " key-exchange X25519 server-signature RSA-PSS (4096 bits) server-digest SHA256" },
    { "TLSv1.2", "ECDHE-RSA-AES256-GCM-SHA384", "256/256", "" },
};
#define N_SUITES 4
static const char *const TLS_TRUST[] = { "Verified", "Trusted", "Untrusted" };

typedef struct {
    int64_t t;        /* time of its delivery (or expiry) line */
    int64_t d[4];     /* delays=a/b/c/d before rounding */
    uint64_t nonce;   /* remote ids in the response */
    uint32_t pid;
    uint8_t status;
    uint8_t resp;
    uint8_t tls;      /* 0 none, else suite + 1 */
    uint8_t trust;
} attempt_t;

typedef struct {
    char addr[ADDR_CAP];
    char orig[ADDR_CAP]; /* "" if no orig_to */
    uint32_t dom;        /* extdom index (AG_SMTP), tenant index otherwise */
    uint8_t agent;
    uint8_t natt;
    attempt_t att[2];
} rcpt_t;

typedef struct {
    int64_t t_client;  /* queue id assigned; delays count from here */
    int64_t t_active;  /* first "(queue active)" */
    int64_t t_retry;
    uint32_t refs;
    uint32_t next_free;
    uint32_t smtpd_pid, cleanup_pid;
    uint32_t sender_tenant;
    uint64_t size;
    uint8_t kind, host, inst, nrcpt, tls_in, expire, bounce_pass[2];
    uint8_t reject_kind;
    uint8_t sess_msgs;   /* messages in its SMTP session (disconnect line) */
    uint16_t sess_rcpts; /* recipients in its SMTP session (disconnect line) */
    char qid[QID_CAP];
    char ndr_qid[QID_CAP];
    char msgid[MSGID_CAP];
    char client_host[HOST_CAP];
    char client_ip[IP_CAP];
    char helo[HOST_CAP];
    char sasl[ADDR_CAP];
    char sender[ADDR_CAP];
    char subject[SUBJ_CAP];
    rcpt_t r[MAX_RCPT];
} msg_t;

typedef struct {
    int64_t t;
    uint64_t seq;
    uint32_t m;
    uint8_t ev;
    uint8_t arg;
} hent_t;

typedef struct {
    char name[8];
    char fqdn[40];
    int long_ids;
    uint32_t pid_next;
    uint32_t inode;
    uint32_t qmgr_pid[2];
    uint32_t cleanup_pid[2][6];
    uint32_t agent_pid[4][4];
    uint32_t bounce_pid[2][2];
} host_t;

typedef struct {
    char name[64];
    char mx[HOST_CAP];
    char mx_ip[IP_CAP];
    char out_host[HOST_CAP];
    char out_ip[IP_CAP];
    uint8_t msgid_style;
    uint8_t ok_style;
} extdom_t;

typedef struct {
    char name[64];
    uint8_t agent;
    uint8_t store;
} tenant_t;

typedef struct {
    uint32_t off;
    uint16_t len;
    uint16_t lp_len;
    uint32_t dom;
} addr_t;

typedef struct {
    /* options */
    uint64_t target;
    uint64_t seed;
    int64_t start_us;
    int rfc3339;
    uint32_t nhosts, ntenants;
    double rate;
    /* state */
    rng_t rng;
    host_t hosts[MAX_HOSTS];
    tenant_t *tenants;
    extdom_t *extdoms;
    addr_t *local_users, *ext_addrs;
    char *pool;
    size_t pool_len, pool_cap;
    zipf_t z_tenant, z_extdom, z_local, z_ext;
    msg_t **chunks;
    uint32_t nchunks, nmsgs, free_head;
    hent_t *heap;
    size_t hn, hcap;
    uint64_t seq;
    int64_t now;
    uint64_t rows_planned;
    /* time cache: the second last formatted */
    int64_t tc_sec;
    char tc_classic[16]; /* "Nov  1 00:00:03" */
    char tc_iso[20];     /* "2026-11-01T00:00:03" */
    /* outputs and counters */
    obuf_t out, truth;
    int have_truth;
    uint64_t n_messages, n_connections, n_lines;
    uint64_t rows[ST_N];
} gen_t;

#define NO_FREE UINT32_MAX

/* ------------------------------------------------- across the files */

/* gen_postfix.c */
/* Bring g's cached time-of-day text up to time t (microseconds since the epoch). */
void tc_update(gen_t *g, int64_t t);
/* Syslog prefix of a line of message m at time t: "<time> <host> <instance>/<svc>[<pid>]: ". */
char *put_prefix(gen_t *g, char *w, int64_t t, const msg_t *m, const char *svc,
                 uint32_t pid);
/* Append delay us as Postfix prints it (two significant digits); returns the ms it denotes. */
int64_t put_delay(char **wp, int64_t us);
/* Message slot i. */
msg_t *MSG(gen_t *g, uint32_t i);
/* Push message mi's retry pass (or its expiry) on the heap; its wake-up entry is due. */
void pass2_push(gen_t *g, uint32_t mi);
/* Plan the non-delivery notification for message pi's bounce, created at time t. */
void plan_ndr(gen_t *g, uint32_t pi, int64_t t);

/* gen/write.c */
/* Write the line (and truth row) of heap entry e; may push further entries. */
void write_event(gen_t *g, const hent_t *e);

#endif
