/*
 * HMAC-SHA256 over OpenSSL and Slack's v0 request signature (common/hmac.h).
 */
#include "common/hmac.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                unsigned char out[HMAC_SHA256_LEN])
{
    unsigned int n = 0;
    if (key_len > (size_t)INT32_MAX)
        return -1;
    /* A NULL data pointer with len 0 is valid for the HMAC but not for
     * OpenSSL's argument checks on every version: hash "" instead. */
    if (!HMAC(EVP_sha256(), key, (int)key_len, data ? data : (const void *)"", len, out, &n) ||
        n != HMAC_SHA256_LEN)
        return -1;
    return 0;
}

int slack_signature(const char *secret, const char *timestamp, const char *body, size_t len,
                    char out[SLACK_SIGNATURE_LEN + 1])
{
    out[0] = '\0';
    /* One buffer for the basestring: HMAC() is the one HMAC call neither
     * OpenSSL 1.1 nor 3 deprecates, and bodies are capped small by callers. */
    size_t tl = strlen(timestamp);
    if (!body)
        len = 0;
    if (len > SIZE_MAX - tl - 5)
        return -1;
    char *base = malloc(tl + len + 5);
    if (!base)
        return -1;
    memcpy(base, "v0:", 3);
    memcpy(base + 3, timestamp, tl);
    base[3 + tl] = ':';
    if (len)
        memcpy(base + 4 + tl, body, len);
    unsigned char mac[HMAC_SHA256_LEN];
    int rc = hmac_sha256(secret, strlen(secret), base, 4 + tl + len, mac);
    free(base);
    if (rc != 0)
        return -1;
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "v0=", 3);
    for (size_t i = 0; i < HMAC_SHA256_LEN; i++) {
        out[3 + 2 * i] = hex[mac[i] >> 4];
        out[3 + 2 * i + 1] = hex[mac[i] & 15];
    }
    out[SLACK_SIGNATURE_LEN] = '\0';
    OPENSSL_cleanse(mac, sizeof mac);
    return 0;
}

const char *slack_signature_check_name(slack_signature_check c)
{
    switch (c) {
    case SLACK_SIGNATURE_OK:
        return "ok";
    case SLACK_SIGNATURE_MISSING:
        return "missing";
    case SLACK_SIGNATURE_BAD_TIME:
        return "bad_timestamp";
    case SLACK_SIGNATURE_TOO_OLD:
        return "too_old";
    case SLACK_SIGNATURE_MISMATCH:
    default:
        return "mismatch";
    }
}

slack_signature_check slack_signature_verify(const char *secret, const char *timestamp,
                                             const char *signature, const char *body, size_t len,
                                             int64_t now_s, int max_age_s)
{
    if (!timestamp || !*timestamp || !signature || !*signature)
        return SLACK_SIGNATURE_MISSING;
    /* Digits only, and few of them: "v0:" + the header's exact text is what
     * Slack signed, so nothing is normalised here. */
    size_t tl = strlen(timestamp);
    if (tl > 12)
        return SLACK_SIGNATURE_BAD_TIME;
    for (const char *p = timestamp; *p; p++)
        if (*p < '0' || *p > '9')
            return SLACK_SIGNATURE_BAD_TIME;
    int64_t ts = strtoll(timestamp, NULL, 10);
    int64_t skew = now_s > ts ? now_s - ts : ts - now_s;
    if (skew > max_age_s)
        return SLACK_SIGNATURE_TOO_OLD;
    char want[SLACK_SIGNATURE_LEN + 1];
    if (slack_signature(secret, timestamp, body, len, want) != 0)
        return SLACK_SIGNATURE_MISMATCH;
    /* Constant time over the expected length; a header of another length is
     * refused without looking at its bytes (its length is no secret). */
    bool same = strlen(signature) == SLACK_SIGNATURE_LEN &&
                CRYPTO_memcmp(want, signature, SLACK_SIGNATURE_LEN) == 0;
    OPENSSL_cleanse(want, sizeof want);
    return same ? SLACK_SIGNATURE_OK : SLACK_SIGNATURE_MISMATCH;
}
