/* Bridge to OpenSSL's libcrypto: SHA-256 and HMAC-SHA256 (one-shot calls, no variadics). */
#ifndef ESPER_COPENSSL_SHIM_H
#define ESPER_COPENSSL_SHIM_H
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

/* HMAC-SHA256 of data under key into out[32]; returns 1 on success. */
static inline int esper_hmac_sha256(const void *key, int key_len, const unsigned char *data, size_t len,
                                    unsigned char *out) {
    unsigned int out_len = 0;
    return HMAC(EVP_sha256(), key, key_len, data, len, out, &out_len) != NULL && out_len == 32;
}
#endif
