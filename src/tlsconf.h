/* tlsconf.h - coffer's one TLS stack (GnuTLS): the shared policy, certificates, and
 * the self-signed loopback certificate that `coffer init` creates.
 *
 * Policy: TLS 1.2 and 1.3 only, AEAD ciphers only (AES-GCM, ChaCha20-Poly1305), ECDHE
 * or TLS 1.3 key exchange, no SHA-1 signatures; the same string for the HTTPS API,
 * the syslog intake and every client coffer runs (probe, alert webhooks, --server).
 *
 * The self-signed certificate carries the subject "CN=coffer self-signed loopback,
 * O=coffer" and SANs 127.0.0.1, ::1 and localhost only. The server treats it as "no
 * certificate configured" for any non-loopback listener. */
#ifndef COF_TLSCONF_H
#define COF_TLSCONF_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"

/* Names as GnuTLS 3.7 spells them (gnutls_priority_init() accepts the string: tested). */
#define COF_TLS_PRIORITIES                                                                 \
    "NONE:+VERS-TLS1.3:+VERS-TLS1.2:+AES-256-GCM:+AES-128-GCM:+CHACHA20-POLY1305:+AEAD:"  \
    "+ECDHE-ECDSA:+ECDHE-RSA:+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:"           \
    "+SIGN-ECDSA-SECP256R1-SHA256:+SIGN-ECDSA-SECP384R1-SHA384:+SIGN-EdDSA-Ed25519:"     \
    "+SIGN-RSA-PSS-RSAE-SHA256:+SIGN-RSA-PSS-RSAE-SHA384:+SIGN-RSA-SHA256:"              \
    "+SIGN-RSA-SHA384:+SIGN-ECDSA-SHA256:+SIGN-ECDSA-SHA384:+COMP-NULL:%SERVER_PRECEDENCE"

#define COF_SELFSIGNED_CN "coffer self-signed loopback"
#define COF_MAX_PEM_BYTES (1u << 20)

/* Initialise GnuTLS once (idempotent, thread-safe). */
cof_status cof_tls_global_init(void) COF_MUST_USE;

/* Create an ECDSA P-256 key (0600) and a self-signed certificate (0644) valid for one
 * year, SANs 127.0.0.1, ::1, localhost. COF_EXISTS if either file exists. */
cof_status cof_tls_selfsigned(const char *cert_path, const char *key_path) COF_MUST_USE;

/* 1 in *yes if the PEM certificate at cert_path is coffer's self-signed loopback one. */
cof_status cof_tls_is_selfsigned(const char *cert_path, int *yes) COF_MUST_USE;

/* Lowercase hex SHA-256 of a DER certificate (the client-certificate principal key). */
void cof_tls_fingerprint(const uint8_t *der, size_t n, char out[65]);

/* Lowercase hex SHA-256 of the first certificate in a PEM file. */
cof_status cof_tls_fingerprint_file(const char *cert_path, char out[65]) COF_MUST_USE;

/* Read a PEM file (bounded by COF_MAX_PEM_BYTES); key files must be private
 * (cof_fs_check_private). *buf malloc'd and NUL-terminated. */
cof_status cof_tls_read_pem(const char *path, int is_key, char **buf, size_t *n) COF_MUST_USE;

#endif
