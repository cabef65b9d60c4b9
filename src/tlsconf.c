/* tlsconf.c - GnuTLS set-up shared by every TLS endpoint: one-time init, the
 * self-signed loopback certificate, fingerprints, and bounded PEM reading. */
#include "tlsconf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sodium.h>

#include "fsutil.h"

#define SELFSIGNED_DAYS 365

static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static int g_init_rc;

static void global_init_once(void)
{
    g_init_rc = gnutls_global_init();
}

cof_status cof_tls_global_init(void)
{
    if (pthread_once(&g_once, global_init_once) != 0)
        return COF_ERR(COF_IO, "TLS library initialisation failed");
    if (g_init_rc < 0)
        return COF_ERR(COF_IO, "TLS library initialisation failed: %s", gnutls_strerror(g_init_rc));
    return COF_OK;
}

void cof_tls_fingerprint(const uint8_t *der, size_t n, char out[65])
{
    uint8_t h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256(h, der, n);
    sodium_bin2hex(out, 65, h, sizeof h); /* lowercase */
}

cof_status cof_tls_read_pem(const char *path, int is_key, char **buf, size_t *n)
{
    struct stat sb;
    char *b = NULL;
    size_t got = 0;
    int fd = -1;
    *buf = NULL;
    *n = 0;
    cof_status st = cof_fs_open(path, O_RDONLY | O_NONBLOCK, 0, &fd);
    if (st)
        return st;
    if (is_key && (st = cof_fs_check_private(fd, path, "TLS key file", 0600)))
        goto out;
    if (fstat(fd, &sb) != 0) {
        st = COF_ERRNO("stat %s", path);
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        st = COF_ERR(COF_BADINPUT, "%s is not a regular file", path);
        goto out;
    }
    if (sb.st_size < 0 || (uint64_t)sb.st_size > COF_MAX_PEM_BYTES) {
        st = COF_ERR(COF_LIMIT, "%s is larger than %u bytes", path, COF_MAX_PEM_BYTES);
        goto out;
    }
    /* sized from fstat, bounded above; one spare byte detects growth, one for NUL */
    b = malloc((size_t)sb.st_size + 2);
    if (!b) {
        st = COF_ERR(COF_NOMEM, "reading %s", path);
        goto out;
    }
    if ((st = cof_fs_read_all(fd, b, (size_t)sb.st_size + 1, &got, path)))
        goto out;
    if (got > (size_t)sb.st_size) {
        st = COF_ERR(COF_IO, "%s changed while being read", path);
        goto out;
    }
    b[got] = 0;
    *buf = b;
    *n = got;
    b = NULL;
out:
    if (b) {
        sodium_memzero(b, (size_t)sb.st_size + 2);
        free(b);
    }
    close(fd);
    return st;
}

static cof_status load_crt(const char *cert_path, gnutls_x509_crt_t *crt)
{
    char *pem = NULL;
    size_t n;
    cof_status st = cof_tls_read_pem(cert_path, 0, &pem, &n);
    if (st)
        return st;
    gnutls_datum_t d = { (unsigned char *)pem, (unsigned)n };
    int rc = gnutls_x509_crt_init(crt);
    if (rc < 0) {
        st = COF_ERR(COF_NOMEM, "certificate init: %s", gnutls_strerror(rc));
        goto out;
    }
    rc = gnutls_x509_crt_import(*crt, &d, GNUTLS_X509_FMT_PEM); /* the first one */
    if (rc < 0) {
        gnutls_x509_crt_deinit(*crt);
        st = COF_ERR(COF_BADINPUT, "%s: not a PEM certificate: %s", cert_path, gnutls_strerror(rc));
    }
out:
    free(pem);
    return st;
}

cof_status cof_tls_fingerprint_file(const char *cert_path, char out[65])
{
    gnutls_x509_crt_t crt;
    gnutls_datum_t der = { NULL, 0 };
    cof_status st = load_crt(cert_path, &crt);
    if (st)
        return st;
    int rc = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der);
    if (rc < 0)
        st = COF_ERR(COF_BADINPUT, "%s: cannot encode certificate: %s", cert_path,
                     gnutls_strerror(rc));
    else
        cof_tls_fingerprint(der.data, der.size, out);
    gnutls_free(der.data);
    gnutls_x509_crt_deinit(crt);
    return st;
}

static int dn_field_is(gnutls_x509_crt_t crt, int issuer, const char *oid, const char *want)
{
    char v[256];
    size_t vn = sizeof v;
    int rc = issuer ? gnutls_x509_crt_get_issuer_dn_by_oid(crt, oid, 0, 0, v, &vn)
                    : gnutls_x509_crt_get_dn_by_oid(crt, oid, 0, 0, v, &vn);
    return rc >= 0 && vn == strlen(want) && memcmp(v, want, vn) == 0;
}

cof_status cof_tls_is_selfsigned(const char *cert_path, int *yes)
{
    gnutls_x509_crt_t crt;
    *yes = 0;
    cof_status st = load_crt(cert_path, &crt);
    if (st)
        return st;
    *yes = dn_field_is(crt, 0, GNUTLS_OID_X520_COMMON_NAME, COF_SELFSIGNED_CN) &&
           dn_field_is(crt, 0, GNUTLS_OID_X520_ORGANIZATION_NAME, "coffer") &&
           dn_field_is(crt, 1, GNUTLS_OID_X520_COMMON_NAME, COF_SELFSIGNED_CN) &&
           gnutls_x509_crt_check_issuer(crt, crt) == 1;
    gnutls_x509_crt_deinit(crt);
    return COF_OK;
}

#define GT(call, what)                                                                     \
    do {                                                                                   \
        int rc_ = (call);                                                                  \
        if (rc_ < 0) {                                                                     \
            st = COF_ERR(COF_IO, "self-signed certificate: %s: %s", what,                 \
                         gnutls_strerror(rc_));                                            \
            goto out;                                                                      \
        }                                                                                  \
    } while (0)

cof_status cof_tls_selfsigned(const char *cert_path, const char *key_path)
{
    gnutls_x509_privkey_t key = NULL;
    gnutls_x509_crt_t crt = NULL;
    gnutls_datum_t kpem = { NULL, 0 }, cpem = { NULL, 0 };
    uint8_t serial[16], kid[64];
    size_t kidn = sizeof kid;
    static const uint8_t ip4[4] = { 127, 0, 0, 1 };
    static const uint8_t ip6[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
    int key_written = 0;
    struct stat sb;
    cof_status st = cof_tls_global_init();
    if (st)
        return st;
    if (lstat(cert_path, &sb) == 0)
        return COF_ERR(COF_EXISTS, "%s already exists", cert_path);
    if (lstat(key_path, &sb) == 0)
        return COF_ERR(COF_EXISTS, "%s already exists", key_path);

    GT(gnutls_x509_privkey_init(&key), "key init");
    GT(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                    GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
       "generate key");
    GT(gnutls_x509_crt_init(&crt), "certificate init");
    GT(gnutls_x509_crt_set_version(crt, 3), "version");
    randombytes_buf(serial, sizeof serial);
    serial[0] &= 0x7f; /* a positive INTEGER */
    serial[0] |= 0x01; /* and no leading zero octet */
    GT(gnutls_x509_crt_set_serial(crt, serial, sizeof serial), "serial");
    time_t now = time(NULL);
    GT(gnutls_x509_crt_set_activation_time(crt, now - 60), "activation time");
    GT(gnutls_x509_crt_set_expiration_time(crt, now + (time_t)SELFSIGNED_DAYS * 86400),
       "expiration time");
    /* O first, CN last in the DER: it reads "CN=...,O=coffer" (RFC 4514 order) */
    GT(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, "coffer", 6),
       "organization");
    GT(gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, COF_SELFSIGNED_CN,
                                     (unsigned)strlen(COF_SELFSIGNED_CN)),
       "common name");
    GT(gnutls_x509_crt_set_issuer_dn_by_oid(crt, GNUTLS_OID_X520_ORGANIZATION_NAME, 0, "coffer",
                                            6),
       "issuer organization");
    GT(gnutls_x509_crt_set_issuer_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0,
                                            COF_SELFSIGNED_CN,
                                            (unsigned)strlen(COF_SELFSIGNED_CN)),
       "issuer common name");
    GT(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip4, sizeof ip4,
                                            GNUTLS_FSAN_APPEND),
       "SAN 127.0.0.1");
    GT(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_IPADDRESS, ip6, sizeof ip6,
                                            GNUTLS_FSAN_APPEND),
       "SAN ::1");
    GT(gnutls_x509_crt_set_subject_alt_name(crt, GNUTLS_SAN_DNSNAME, "localhost", 9,
                                            GNUTLS_FSAN_APPEND),
       "SAN localhost");
    GT(gnutls_x509_crt_set_key(crt, key), "public key");
    GT(gnutls_x509_crt_set_basic_constraints(crt, 0, -1), "basic constraints");
    GT(gnutls_x509_crt_set_key_usage(crt, GNUTLS_KEY_DIGITAL_SIGNATURE), "key usage");
    GT(gnutls_x509_crt_set_key_purpose_oid(crt, GNUTLS_KP_TLS_WWW_SERVER, 0), "key purpose");
    GT(gnutls_x509_privkey_get_key_id(key, GNUTLS_KEYID_USE_SHA1, kid, &kidn), "key id");
    GT(gnutls_x509_crt_set_subject_key_id(crt, kid, kidn), "subject key id");
    GT(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), "sign");
    GT(gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &kpem), "export key");
    GT(gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_PEM, &cpem), "export certificate");

    /* link(2)-based creation: never overwrites, so two racing inits cannot both win */
    if ((st = cof_fs_create_atomic(key_path, kpem.data, kpem.size, 0600)))
        goto out;
    key_written = 1;
    if ((st = cof_fs_create_atomic(cert_path, cpem.data, cpem.size, 0644)))
        goto out;
    key_written = 0;
out:
    if (key_written)
        (void)unlink(key_path);
    if (kpem.data) {
        sodium_memzero(kpem.data, kpem.size);
        gnutls_free(kpem.data);
    }
    gnutls_free(cpem.data);
    if (crt)
        gnutls_x509_crt_deinit(crt);
    if (key)
        gnutls_x509_privkey_deinit(key);
    return st;
}
