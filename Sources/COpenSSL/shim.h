#ifndef SIPSPAN_COPENSSL_SHIM_H
#define SIPSPAN_COPENSSL_SHIM_H
#include <openssl/ssl.h>
#include <openssl/err.h>

/* Macros in OpenSSL's headers, wrapped so Swift can call them. */
static inline long sipspan_SSL_CTX_set_min_proto_version(SSL_CTX *ctx, int version) {
    return SSL_CTX_set_min_proto_version(ctx, version);
}
static inline long sipspan_SSL_CTX_set_mode(SSL_CTX *ctx, long mode) {
    return SSL_CTX_set_mode(ctx, mode);
}
#endif
