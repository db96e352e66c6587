/*
 * HMAC-SHA256 and Slack's request signature (common/hmac.c): the RFC 4231
 * vector, Slack's documented example, and every way a request is refused.
 */
#include "testlib.h"

#include "common/hmac.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

/* Slack's example (api.slack.com, "Verifying requests from Slack"). */
#define SLACK_SECRET "8f742231b10e8888abcd99yyyzzz85a5"
#define SLACK_TS     "1531420618"
#define SLACK_BODY                                                                                 \
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id="         \
    "G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-"     \
    "collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%"             \
    "2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121."               \
    "803a0bc887a14d10d2c447fce8b6703c"
#define SLACK_SIG "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"

START_TEST(rfc4231_case2)
{
    unsigned char mac[HMAC_SHA256_LEN];
    const char *data = "what do ya want for nothing?";
    ck_assert_int_eq(hmac_sha256("Jefe", 4, data, strlen(data), mac), 0);
    char hex[2 * HMAC_SHA256_LEN + 1];
    for (size_t i = 0; i < HMAC_SHA256_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", mac[i]);
    ck_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}
END_TEST

START_TEST(slack_example_signs_and_verifies)
{
    char sig[SLACK_SIGNATURE_LEN + 1];
    ck_assert_int_eq(slack_signature(SLACK_SECRET, SLACK_TS, SLACK_BODY, strlen(SLACK_BODY), sig),
                     0);
    ck_assert_str_eq(sig, SLACK_SIG);
    ck_assert_int_eq(slack_signature_verify(SLACK_SECRET, SLACK_TS, SLACK_SIG, SLACK_BODY,
                                            strlen(SLACK_BODY), 1531420618 + 299, 300),
                     SLACK_SIGNATURE_OK);
    /* A clock behind Slack's is as good as one ahead. */
    ck_assert_int_eq(slack_signature_verify(SLACK_SECRET, SLACK_TS, SLACK_SIG, SLACK_BODY,
                                            strlen(SLACK_BODY), 1531420618 - 300, 300),
                     SLACK_SIGNATURE_OK);
}
END_TEST

START_TEST(refusals)
{
    size_t len = strlen(SLACK_BODY);
    int64_t now = 1531420618;
    ck_assert_int_eq(
        slack_signature_verify(SLACK_SECRET, NULL, SLACK_SIG, SLACK_BODY, len, now, 300),
        SLACK_SIGNATURE_MISSING);
    ck_assert_int_eq(slack_signature_verify(SLACK_SECRET, SLACK_TS, "", SLACK_BODY, len, now, 300),
                     SLACK_SIGNATURE_MISSING);
    ck_assert_int_eq(
        slack_signature_verify(SLACK_SECRET, "1531420618.5", SLACK_SIG, SLACK_BODY, len, now, 300),
        SLACK_SIGNATURE_BAD_TIME);
    ck_assert_int_eq(
        slack_signature_verify(SLACK_SECRET, SLACK_TS, SLACK_SIG, SLACK_BODY, len, now + 301, 300),
        SLACK_SIGNATURE_TOO_OLD);
    ck_assert_int_eq(
        slack_signature_verify("another-secret", SLACK_TS, SLACK_SIG, SLACK_BODY, len, now, 300),
        SLACK_SIGNATURE_MISMATCH);
    /* one byte of the body changed, or cut short */
    ck_assert_int_eq(
        slack_signature_verify(SLACK_SECRET, SLACK_TS, SLACK_SIG, SLACK_BODY, len - 1, now, 300),
        SLACK_SIGNATURE_MISMATCH);
    /* the right prefix of the signature is not the signature */
    ck_assert_int_eq(
        slack_signature_verify(SLACK_SECRET, SLACK_TS, "v0=a2114d57", SLACK_BODY, len, now, 300),
        SLACK_SIGNATURE_MISMATCH);
    char upper[] = SLACK_SIG;
    upper[3] = 'A';
    ck_assert_int_eq(
        slack_signature_verify(SLACK_SECRET, SLACK_TS, upper, SLACK_BODY, len, now, 300),
        SLACK_SIGNATURE_MISMATCH);
    ck_assert_str_eq(slack_signature_check_name(SLACK_SIGNATURE_TOO_OLD), "too_old");
}
END_TEST

TESTLIB_MAIN("hmac", "hmac", rfc4231_case2, slack_example_signs_and_verifies, refusals)
