#include "common/crypto.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
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

/* Decodes a key; errors name `name`, the variable (or file variable) it came from. */
static int key_decode(const char *name, const char *b64, unsigned char key[CRYPTO_KEY_LEN],
                      char *errstr, size_t errstr_size)
{
    if (!b64 || !*b64) {
        snprintf(errstr, errstr_size, "%s is not set: %s", name, key_hint);
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
                     "%s is not valid base64 (bad character at position %zu): %s", name, i + 1,
                     key_hint);
            return -1;
        }
    }
    if (n % 4 != 0) {
        snprintf(errstr, errstr_size,
                 "%s is not valid base64 (length %zu is not a multiple of 4): %s", name, n,
                 key_hint);
        return -1;
    }
    size_t decoded_len = n / 4 * 3 - pad;
    if (decoded_len != CRYPTO_KEY_LEN) {
        snprintf(errstr, errstr_size, "%s decodes to %zu bytes, not %d: %s", name, decoded_len,
                 CRYPTO_KEY_LEN, key_hint);
        return -1;
    }
    unsigned char buf[KEY_B64_LEN]; /* n == KEY_B64_LEN here; decoded 33 bytes incl. padding */
    int got = EVP_DecodeBlock(buf, (const unsigned char *)b64, (int)n);
    if (got != (int)(n / 4 * 3)) {
        snprintf(errstr, errstr_size, "%s is not valid base64: %s", name, key_hint);
        crypto_wipe(buf, sizeof buf);
        return -1;
    }
    memcpy(key, buf, CRYPTO_KEY_LEN);
    crypto_wipe(buf, sizeof buf);
    return 0;
}

int crypto_key_from_base64(const char *b64, unsigned char key[CRYPTO_KEY_LEN], char *errstr,
                           size_t errstr_size)
{
    return key_decode("HERALD_SECRET_KEY", b64, key, errstr, errstr_size);
}

/* One key of the ring: the variable or its _FILE (cfg_secret_text), decoded.
 * *set: whether either was given (an absent previous key is no error). */
static int ring_key(const char *var, const char *value, const char *file_var, const char *path,
                    unsigned char key[CRYPTO_KEY_LEN], bool *set, char *errstr, size_t errstr_size)
{
    char *text = NULL;
    if (cfg_secret_text(var, value, file_var, path, &text, errstr, errstr_size))
        return -1;
    *set = text != NULL;
    bool from_file = path && *path;
    int rc = key_decode(from_file ? file_var : var, text, key, errstr, errstr_size);
    crypto_free_secret(text);
    return rc;
}

int crypto_keyring_load(crypto_keyring *ring, const herald_common_config *cfg, char *errstr,
                        size_t errstr_size)
{
    memset(ring, 0, sizeof *ring);
    bool set = false;
    if (ring_key("HERALD_SECRET_KEY", cfg->secret_key, "HERALD_SECRET_KEY_FILE",
                 cfg->secret_key_file, ring->current, &set, errstr, errstr_size))
        goto fail;
    if (ring_key("HERALD_SECRET_KEY_PREVIOUS", cfg->secret_key_previous,
                 "HERALD_SECRET_KEY_PREVIOUS_FILE", cfg->secret_key_previous_file, ring->previous,
                 &set, errstr, errstr_size)) {
        if (set)
            goto fail;
        errstr[0] = '\0'; /* not set: no previous key, no rotation under way */
        return 0;
    }
    ring->has_previous = true;
    return 0;
fail:
    crypto_wipe(ring, sizeof *ring);
    return -1;
}

void crypto_keyring_set(crypto_keyring *ring, const unsigned char current[CRYPTO_KEY_LEN],
                        const unsigned char *previous)
{
    memset(ring, 0, sizeof *ring);
    memcpy(ring->current, current, CRYPTO_KEY_LEN);
    if (previous) {
        memcpy(ring->previous, previous, CRYPTO_KEY_LEN);
        ring->has_previous = true;
    }
}

static void key_id(const unsigned char key[CRYPTO_KEY_LEN], unsigned char id[CRYPTO_KEY_ID_LEN])
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(key, CRYPTO_KEY_LEN, digest);
    memcpy(id, digest, CRYPTO_KEY_ID_LEN);
}

void crypto_key_id_hex(const unsigned char key[CRYPTO_KEY_LEN], char out[2 * CRYPTO_KEY_ID_LEN + 1])
{
    unsigned char id[CRYPTO_KEY_ID_LEN];
    key_id(key, id);
    for (size_t i = 0; i < CRYPTO_KEY_ID_LEN; i++)
        snprintf(out + 2 * i, 3, "%02x", id[i]);
}

/* AES-256-GCM of len bytes with associated data aad (may be empty) into
 * out: nonce (12) || ciphertext || tag (16), NONCE_LEN + len + TAG_LEN bytes. */
static int gcm_seal(const unsigned char key[CRYPTO_KEY_LEN], const char *aad, size_t aad_len,
                    const char *plain, size_t len, unsigned char *out)
{
    int rc = -1, n = 0, fin = 0, a = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    /* A random 96-bit nonce per seal: with a few thousand tokens per key the
     * collision probability is negligible (NIST SP 800-38D limit is 2^32). */
    if (!ctx || RAND_bytes(out, NONCE_LEN) != 1)
        goto out;
    if (EVP_EncryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
        EVP_EncryptInit_ex(ctx, NULL, NULL, key, out) != 1)
        goto out;
    if (aad_len > 0 &&
        EVP_EncryptUpdate(ctx, NULL, &a, (const unsigned char *)aad, (int)aad_len) != 1)
        goto out;
    if (len > 0 &&
        EVP_EncryptUpdate(ctx, out + NONCE_LEN, &n, (const unsigned char *)plain, (int)len) != 1)
        goto out;
    if (EVP_EncryptFinal_ex(ctx, out + NONCE_LEN + n, &fin) != 1 || (size_t)(n + fin) != len)
        goto out;
    if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, TAG_LEN, out + NONCE_LEN + len) != 1)
        goto out;
    rc = 0;
out:
    EVP_CIPHER_CTX_free(ctx);
    return rc;
}

/* Opens nonce || ciphertext || tag (len bytes, at least NONCE_LEN + TAG_LEN)
 * with aad; *plain malloc'd and NUL-terminated. 0, or -1 (wrong key, wrong
 * aad, tampered: GCM cannot tell them apart). */
static int gcm_open(const unsigned char key[CRYPTO_KEY_LEN], const char *aad, size_t aad_len,
                    const unsigned char *sealed, size_t len, char **plain)
{
    int rc = -1, n = 0, fin = 0, a = 0;
    size_t clen = len - NONCE_LEN - TAG_LEN;
    char *buf = malloc(clen + 1);
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (!buf || !ctx)
        goto out;
    unsigned char tag[TAG_LEN];
    memcpy(tag, sealed + NONCE_LEN + clen, TAG_LEN);
    if (EVP_DecryptInit_ex(ctx, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, NONCE_LEN, NULL) != 1 ||
        EVP_DecryptInit_ex(ctx, NULL, NULL, key, sealed) != 1 ||
        (aad_len > 0 &&
         EVP_DecryptUpdate(ctx, NULL, &a, (const unsigned char *)aad, (int)aad_len) != 1) ||
        (clen > 0 &&
         EVP_DecryptUpdate(ctx, (unsigned char *)buf, &n, sealed + NONCE_LEN, (int)clen) != 1) ||
        EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, TAG_LEN, tag) != 1 ||
        EVP_DecryptFinal_ex(ctx, (unsigned char *)buf + n, &fin) != 1 || (size_t)(n + fin) != clen)
        goto out;
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

int crypto_seal(const unsigned char key[CRYPTO_KEY_LEN], const char *plain, size_t len,
                unsigned char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (len > MAX_PLAIN_LEN)
        return -1;
    size_t total = NONCE_LEN + len + TAG_LEN;
    unsigned char *buf = malloc(total);
    if (!buf)
        return -1;
    if (gcm_seal(key, NULL, 0, plain, len, buf)) {
        crypto_wipe(buf, total);
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = total;
    return 0;
}

int crypto_open(const unsigned char key[CRYPTO_KEY_LEN], const unsigned char *sealed, size_t len,
                char **plain, char *errstr, size_t errstr_size)
{
    *plain = NULL;
    if (!sealed || len < NONCE_LEN + TAG_LEN || len - NONCE_LEN - TAG_LEN > MAX_PLAIN_LEN) {
        snprintf(errstr, errstr_size, "stored token is malformed (%zu bytes)", len);
        return -1;
    }
    if (gcm_open(key, NULL, 0, sealed, len, plain)) {
        snprintf(errstr, errstr_size, "wrong HERALD_SECRET_KEY or corrupted token");
        return -1;
    }
    return 0;
}

/* The v2 header: version byte and key id. */
#define V2_HEAD (1 + CRYPTO_KEY_ID_LEN)

/* "herald:v2:<column>:<row>" into buf; its length, or 0 when it does not fit
 * (column and row are a table.column name and a team id: short). */
static size_t v2_aad(char *buf, size_t size, const char *column, const char *row)
{
    int n = snprintf(buf, size, "herald:v2:%s:%s", column ? column : "", row ? row : "");
    return n > 0 && (size_t)n < size ? (size_t)n : 0;
}

int crypto_seal_bound(const crypto_keyring *ring, const char *column, const char *row,
                      const char *plain, size_t len, unsigned char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    char aad[512];
    size_t aad_len = v2_aad(aad, sizeof aad, column, row);
    if (!aad_len || len > MAX_PLAIN_LEN)
        return -1;
    size_t total = V2_HEAD + NONCE_LEN + len + TAG_LEN;
    unsigned char *buf = malloc(total);
    if (!buf)
        return -1;
    buf[0] = CRYPTO_V2;
    key_id(ring->current, buf + 1);
    if (gcm_seal(ring->current, aad, aad_len, plain, len, buf + V2_HEAD)) {
        crypto_wipe(buf, total);
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = total;
    return 0;
}

int crypto_open_bound(const crypto_keyring *ring, const char *column, const char *row,
                      const unsigned char *sealed, size_t len, char **plain,
                      crypto_seal_state *state, char *errstr, size_t errstr_size)
{
    *plain = NULL;
    if (state)
        *state = CRYPTO_STALE;
    if (!sealed || len < NONCE_LEN + TAG_LEN || len - NONCE_LEN - TAG_LEN > MAX_PLAIN_LEN) {
        snprintf(errstr, errstr_size, "stored token is malformed (%zu bytes)", len);
        return -1;
    }
    char aad[512];
    size_t aad_len = v2_aad(aad, sizeof aad, column, row);
    const unsigned char *keys[2] = {ring->current, ring->has_previous ? ring->previous : NULL};
    bool v2 = len >= V2_HEAD + NONCE_LEN + TAG_LEN && sealed[0] == CRYPTO_V2 && aad_len;
    bool known_id = false;
    for (int k = 0; v2 && k < 2; k++) {
        unsigned char id[CRYPTO_KEY_ID_LEN];
        if (!keys[k])
            continue;
        key_id(keys[k], id);
        if (memcmp(id, sealed + 1, CRYPTO_KEY_ID_LEN))
            continue;
        known_id = true;
        if (gcm_open(keys[k], aad, aad_len, sealed + V2_HEAD, len - V2_HEAD, plain) == 0) {
            if (state)
                *state = k == 0 ? CRYPTO_CURRENT : CRYPTO_STALE;
            return 0;
        }
    }
    /* The v1 form until re-sealed (one time in 256 a v1 nonce starts with
     * 0x02 too: the v2 attempt above then failed on the key id or the tag). */
    for (int k = 0; k < 2; k++)
        if (keys[k] && gcm_open(keys[k], NULL, 0, sealed, len, plain) == 0)
            return 0;
    if (v2 && !known_id) {
        char id[2 * CRYPTO_KEY_ID_LEN + 1];
        for (size_t i = 0; i < CRYPTO_KEY_ID_LEN; i++)
            snprintf(id + 2 * i, 3, "%02x", sealed[1 + i]);
        snprintf(errstr, errstr_size,
                 "sealed with another key (key id %s) than HERALD_SECRET_KEY%s: set that key as "
                 "HERALD_SECRET_KEY_PREVIOUS",
                 id, ring->has_previous ? " and HERALD_SECRET_KEY_PREVIOUS" : "");
    } else if (v2) {
        snprintf(errstr, errstr_size,
                 "wrong HERALD_SECRET_KEY or corrupted token (or a token sealed for another row)");
    } else {
        snprintf(errstr, errstr_size, "wrong HERALD_SECRET_KEY%s or corrupted token",
                 ring->has_previous ? " and HERALD_SECRET_KEY_PREVIOUS" : "");
    }
    return -1;
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
