#ifndef SIPSPAN_COPENSSL_SHIM_H
#define SIPSPAN_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509.h>

/* Macros in OpenSSL's headers, wrapped so Swift can call them. */
static inline long sipspan_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_min_proto_version(ctx, version);
}
static inline long sipspan_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}
/* The peer certificate's subject common name into buf (NUL-terminated); -1 without a certificate. */
static inline int sipspan_peer_common_name(const SSL *ssl, char *buf, int len) {
    X509 *cert = SSL_get1_peer_certificate(ssl);
    if (cert == NULL) return -1;
    int n = X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, buf, len);
    X509_free(cert);
    return n;
}
#endif
