#include "common/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NONCE_LEN 12
#define TAG_LEN   16

/* Bot tokens are a few dozen bytes; anything near INT_MAX is not a token. */
#define MAX_PLAIN_LEN (1u << 20)

/* Base64 of CRYPTO_KEY_LEN bytes: 44 characters, the last one '='. */
#define KEY_B64_LEN (4 * ((CRYPTO_KEY_LEN + 2) / 3))

static const char key_hint[] =
    "expected 32 random bytes in base64, e.g. from `openssl rand -base64 32`";

/* The standard alphabet only. EVP_DecodeBlock itself skips leading and
 * trailing whitespace and decodes padding as zero bytes, so the length and
 * padding are checked here before it runs. */
static bool is_b64_char(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

int crypto_key_from_base64(const char *b64, unsigned char key[CRYPTO_KEY_LEN], char *errstr,
                           size_t errstr_size)
{
    if (!b64 || !*b64) {
        snprintf(errstr, errstr_size, "HERALD_SECRET_KEY is not set: %s", key_hint);
        return -1;
    }
    size_t n = strlen(b64);
    size_t pad = 0;
    while (pad < 2 && n > pad && b64[n - 1 - pad] == '=')
        pad++;
    for (size_t i = 0; i < n - pad; i++) {
        if (!is_b64_char((unsigned char)b64[i])) {
            /* Name the position, never the character: it is part of a secret. */
            snprintf(errstr, errstr_size,
                     "HERALD_SECRET_KEY is not valid base64 (bad character at position %zu): %s",
                     i + 1, key_hint);
            return -1;
        }
    }
    if (n % 4 != 0) {
        snprintf(errstr, errstr_size,
                 "HERALD_SECRET_KEY is not valid base64 (length %zu is not a multiple of 4): %s", n,
                 key_hint);
        return -1;
    }
    size_t decoded_len = n / 4 * 3 - pad;
    if (decoded_len != CRYPTO_KEY_LEN) {
        snprintf(errstr, errstr_size, "HERALD_SECRET_KEY decodes to %zu bytes, not %d: %s",
                 decoded_len, CRYPTO_KEY_LEN, key_hint);
        return -1;
    }
    unsigned char buf[KEY_B64_LEN]; /* n == KEY_B64_LEN here; decoded 33 bytes incl. padding */
    int got = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n);
    if (got != (int)(n / 4 * 3)) {
        snprintf(errstr, errstr_size, "HERALD_SECRET_KEY is not valid base64: %s", key_hint);
        crypto_wipe(buf, sizeof buf);
        return -1;
    }
    memcpy(key, buf, CRYPTO_KEY_LEN);
    crypto_wipe(buf, sizeof buf);
    return 0;
}

int crypto_seal(const unsigned char key[CRYPTO_KEY_LEN], const char *plain, size_t len,
                unsigned char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (len > MAX_PLAIN_LEN)
        return -1;
    int rc = -1, n = 0;
    size_t total = NONCE_LEN + len + TAG_LEN;
    unsigned char *buf = malloc(total);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!buf || !ctx)
        goto out;
    /* A random 96-bit nonce per seal: with a few thousand tokens per key the
     * collision probability is negligible (NIST SP 800-38D limit is 2^32). */
    if (RAND_bytes(buf, NONCE_LEN) != 1)
        goto out;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, key, buf) != 1)
        goto out;
    if (len > 0 &&
        EVP_EncryptUpdate(ctx, buf + NONCE_LEN, &n, (const unsigned char *)plain, (int)len) != 1)
        goto out;
    int fin = 0;
    if (EVP_EncryptFinal_ex(ctx, buf + NONCE_LEN + n, &fin) != 1 || (size_t)(n + fin) != len)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, buf + NONCE_LEN + len) != 1)
        goto out;
    *out = buf;
    *out_len = total;
    buf = NULL;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    if (buf) {
        crypto_wipe(buf, total);
        free(buf);
    }
    return rc;
}

int crypto_open(const unsigned char key[CRYPTO_KEY_LEN], const unsigned char *sealed, size_t len,
                char **plain, char *errstr, size_t errstr_size)
{
    *plain = NULL;
    if (!sealed || len < NONCE_LEN + TAG_LEN || len - NONCE_LEN - TAG_LEN > MAX_PLAIN_LEN) {
        snprintf(errstr, errstr_size, "stored token is malformed (%zu bytes)", len);
        return -1;
    }
    int rc = -1, n = 0, fin = 0;
    size_t clen = len - NONCE_LEN - TAG_LEN;
    char *buf = malloc(clen + 1);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!buf || !ctx) {
        snprintf(errstr, errstr_size, "decrypting token: out of memory");
        goto out;
    }
    unsigned char tag[TAG_LEN];
    memcpy(tag, sealed + NONCE_LEN + clen, TAG_LEN);
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, key, sealed) != 1 ||
        (clen > 0 &&
         EVP_DecryptUpdate(ctx, (unsigned char *)buf, &n, sealed + NONCE_LEN, (int)clen) != 1) ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1 ||
        EVP_DecryptFinal_ex(ctx, (unsigned char *)buf + n, &fin) != 1 ||
        (size_t)(n + fin) != clen) {
        /* GCM cannot tell a wrong key from tampering: both fail the tag. */
        snprintf(errstr, errstr_size, "wrong HERALD_SECRET_KEY or corrupted token");
        goto out;
    }
    buf[clen] = '\0';
    *plain = buf;
    buf = NULL;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    if (buf) {
        crypto_wipe(buf, clen + 1);
        free(buf);
    }
    return rc;
}

void crypto_wipe(void *p, size_t n)
{
    if (p && n)
        OPENSSL_cleanse(p, n);
}

void crypto_free_secret(char *secret)
{
    if (!secret)
        return;
    crypto_wipe(secret, strlen(secret));
    free(secret);
}
