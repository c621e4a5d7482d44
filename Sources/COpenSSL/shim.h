/* Bridge to OpenSSL's libcrypto: SHA-256 and HMAC-SHA256 (one-shot calls, no variadics). */
#ifndef ESPER_COPENSSL_SHIM_H
#define ESPER_COPENSSL_SHIM_H
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <string.h>

/* HMAC-SHA256 of data under key into out[32]; returns 1 on success. */
static inline int esper_hmac_sha256(const void *key, int key_len, const unsigned char *data, size_t len,
                                    unsigned char *out) {
    unsigned int out_len = 0;
    return HMAC(EVP_sha256(), key, key_len, data, len, out, &out_len) != NULL && out_len == 32;
}

/* HMAC-SHA256 with the key folded in once: the SHA-256 states after absorbing the inner and
 * outer padded keys. Signing a message copies them (plain structs: no allocation, safe to
 * share between threads) and hashes only the message; the one-shot HMAC() re-derives all of
 * it, and fetches the digest, on every call. */
typedef struct {
    SHA256_CTX inner;
    SHA256_CTX outer;
} esper_hmac_sha256_key;

static inline void esper_hmac_sha256_prepare(esper_hmac_sha256_key *prepared, const unsigned char *key, size_t key_len) {
    unsigned char block[64] = {0};
    if (key_len > 64) {
        SHA256(key, key_len, block);
    } else if (key_len > 0) {
        memcpy(block, key, key_len);
    }
    unsigned char pad[64];
    for (int i = 0; i < 64; i++) pad[i] = block[i] ^ 0x36;
    SHA256_Init(&prepared->inner);
    SHA256_Update(&prepared->inner, pad, 64);
    for (int i = 0; i < 64; i++) pad[i] = block[i] ^ 0x5c;
    SHA256_Init(&prepared->outer);
    SHA256_Update(&prepared->outer, pad, 64);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
}

/* HMAC-SHA256 of data into out[32] with a prepared key. */
static inline void esper_hmac_sha256_with(const esper_hmac_sha256_key *prepared, const unsigned char *data, size_t len,
                                          unsigned char *out) {
    SHA256_CTX ctx = prepared->inner;
    unsigned char inner_digest[32];
    SHA256_Update(&ctx, data, len);
    SHA256_Final(inner_digest, &ctx);
    ctx = prepared->outer;
    SHA256_Update(&ctx, inner_digest, 32);
    SHA256_Final(out, &ctx);
}
#endif
