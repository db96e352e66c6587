#ifndef HERALD_HMAC_H
#define HERALD_HMAC_H

/*
 * HMAC-SHA256 (OpenSSL's libcrypto) and Slack's request signing built on it:
 * herald-api verifies the signature of every request Slack sends to its
 * Request URL, and the fake Slack signs the interaction payloads it sends in
 * tests, with the one implementation here.
 *
 * Slack's scheme (https://api.slack.com/authentication/verifying-requests-from-slack):
 * X-Slack-Signature = "v0=" + hex(HMAC-SHA256(signing secret,
 * "v0:" + X-Slack-Request-Timestamp + ":" + raw body)), the timestamp in Unix
 * seconds. Secrets are never copied, logged or put in an error.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HMAC_SHA256_LEN 32
/* "v0=" and 64 hex digits. */
#define SLACK_SIGNATURE_LEN (3 + 2 * HMAC_SHA256_LEN)
/* Slack's advice: refuse a request whose timestamp is further than this from now. */
#define SLACK_SIGNATURE_MAX_AGE_S 300

/* HMAC-SHA256 of data[0..len) keyed with key[0..key_len) into out. 0, or -1
 * when libcrypto fails. */
int hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
                unsigned char out[HMAC_SHA256_LEN]);

/* Slack's signature of body[0..len) sent at timestamp (the header's text)
 * into out (NUL-terminated). 0, or -1 when libcrypto fails. */
int slack_signature(const char *secret, const char *timestamp, const char *body, size_t len,
                    char out[SLACK_SIGNATURE_LEN + 1]);

typedef enum slack_signature_check {
    SLACK_SIGNATURE_OK = 0,
    SLACK_SIGNATURE_MISSING,  /* no X-Slack-Signature or X-Slack-Request-Timestamp */
    SLACK_SIGNATURE_BAD_TIME, /* the timestamp is not a whole number of seconds */
    SLACK_SIGNATURE_TOO_OLD,  /* |now - timestamp| > max_age_s */
    SLACK_SIGNATURE_MISMATCH  /* not the signature of this body with this secret */
} slack_signature_check;

/* "ok", "missing", "bad_timestamp", "too_old", "mismatch" (a metric label). */
const char *slack_signature_check_name(slack_signature_check c);

/*
 * Verifies a request: timestamp and signature are the headers' values (NULL
 * when absent), body the raw bytes as received (before any decoding), now_s
 * the wall clock in Unix seconds. The window is checked before the HMAC is
 * computed; the comparison is constant-time (CRYPTO_memcmp) over the whole
 * expected length.
 */
slack_signature_check slack_signature_verify(const char *secret, const char *timestamp,
                                             const char *signature, const char *body, size_t len,
                                             int64_t now_s, int max_age_s);

#endif
