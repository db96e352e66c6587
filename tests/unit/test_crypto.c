/* crypto: AES-256-GCM sealing of bot tokens and the HERALD_SECRET_KEY parser. */
#include "common/crypto.h"
#include "testlib.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

/* base64 of bytes 0x00..0x1f (32 bytes) and of 0x01 x 32. */
static const char *KEY_A = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
static const char *KEY_B = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
static const char *TOKEN = "xoxb-1234-5678-abcdefSECRET";

/* True when needle occurs in the n bytes at hay. */
static int contains(const unsigned char *hay, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++)
        if (!memcmp(hay + i, needle, m))
            return 1;
    return 0;
}

static void load(const char *b64, unsigned char key[CRYPTO_KEY_LEN])
{
    char err[256];
    ck_assert_msg(crypto_key_from_base64(b64, key, err, sizeof err) == 0, "%s", err);
}

START_TEST(key_decodes)
{
    unsigned char key[CRYPTO_KEY_LEN];
    load(KEY_A, key);
    for (int i = 0; i < CRYPTO_KEY_LEN; i++)
        ck_assert_int_eq(key[i], i);
}
END_TEST

START_TEST(round_trip)
{
    unsigned char key[CRYPTO_KEY_LEN];
    load(KEY_A, key);
    unsigned char *sealed = NULL;
    size_t len = 0;
    ck_assert_int_eq(crypto_seal(key, TOKEN, strlen(TOKEN), &sealed, &len), 0);
    ck_assert_uint_eq(len, 12 + strlen(TOKEN) + 16);
    /* The plaintext is nowhere in the sealed bytes. */
    ck_assert_int_eq(contains(sealed, len, "SECRET"), 0);
    char *plain = NULL, err[256];
    ck_assert_int_eq(crypto_open(key, sealed, len, &plain, err, sizeof err), 0);
    ck_assert_str_eq(plain, TOKEN);
    free(plain);

    /* A fresh nonce each time: sealing twice gives different bytes. */
    unsigned char *again = NULL;
    size_t len2 = 0;
    ck_assert_int_eq(crypto_seal(key, TOKEN, strlen(TOKEN), &again, &len2), 0);
    ck_assert_uint_eq(len, len2);
    ck_assert_int_ne(memcmp(sealed, again, len), 0);
    free(again);
    free(sealed);
}
END_TEST

START_TEST(empty_plaintext)
{
    unsigned char key[CRYPTO_KEY_LEN];
    load(KEY_A, key);
    unsigned char *sealed = NULL;
    size_t len = 0;
    ck_assert_int_eq(crypto_seal(key, "", 0, &sealed, &len), 0);
    char *plain = NULL, err[256];
    ck_assert_int_eq(crypto_open(key, sealed, len, &plain, err, sizeof err), 0);
    ck_assert_str_eq(plain, "");
    free(plain);
    free(sealed);
}
END_TEST

START_TEST(tamper_detected)
{
    unsigned char key[CRYPTO_KEY_LEN];
    load(KEY_A, key);
    unsigned char *sealed = NULL;
    size_t len = 0;
    ck_assert_int_eq(crypto_seal(key, TOKEN, strlen(TOKEN), &sealed, &len), 0);
    /* Flip one bit in the nonce, the ciphertext and the tag in turn. */
    size_t where[] = {0, 12, 12 + 5, len - 1};
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        sealed[where[i]] ^= 0x01;
        char *plain = (char *)0x1, err[256] = "";
        ck_assert_int_eq(crypto_open(key, sealed, len, &plain, err, sizeof err), -1);
        ck_assert_ptr_null(plain);
        ck_assert_str_eq(err, "wrong HERALD_SECRET_KEY or corrupted token");
        sealed[where[i]] ^= 0x01;
    }
    /* Truncated input. */
    char *plain = NULL, err[256] = "";
    ck_assert_int_eq(crypto_open(key, sealed, 27, &plain, err, sizeof err), -1);
    ck_assert_ptr_null(plain);
    ck_assert_int_eq(crypto_open(key, sealed, len - 1, &plain, err, sizeof err), -1);
    /* Untouched it still opens. */
    ck_assert_int_eq(crypto_open(key, sealed, len, &plain, err, sizeof err), 0);
    free(plain);
    free(sealed);
}
END_TEST

START_TEST(wrong_key)
{
    unsigned char a[CRYPTO_KEY_LEN], b[CRYPTO_KEY_LEN];
    load(KEY_A, a);
    load(KEY_B, b);
    unsigned char *sealed = NULL;
    size_t len = 0;
    ck_assert_int_eq(crypto_seal(a, TOKEN, strlen(TOKEN), &sealed, &len), 0);
    char *plain = NULL, err[256] = "";
    ck_assert_int_eq(crypto_open(b, sealed, len, &plain, err, sizeof err), -1);
    ck_assert_ptr_null(plain);
    ck_assert_ptr_nonnull(strstr(err, "HERALD_SECRET_KEY"));
    ck_assert_ptr_null(strstr(err, TOKEN));
    free(sealed);
}
END_TEST

/* Each bad key is refused with a message naming the variable and not its value. */
START_TEST(bad_keys)
{
    static const char *bad[] = {
        "",
        "not base64 at all!!",
        /* 31 bytes */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHg==",
        /* 33 bytes */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8g",
        /* 32 bytes but unpadded (43 characters) */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
        /* whitespace around an otherwise good key */
        " AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
        /* padding in the middle */
        "AAECAwQFBgcICQoL=A0ODxAREhMUFRYXGBkaGxwdHh8=",
        /* URL-safe alphabet */
        "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh-_",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char key[CRYPTO_KEY_LEN];
        char err[256] = "";
        ck_assert_msg(crypto_key_from_base64(bad[i], key, err, sizeof err) == -1, "accepted #%zu",
                      i);
        ck_assert_msg(strstr(err, "HERALD_SECRET_KEY") != NULL, "#%zu: %s", i, err);
        if (strlen(bad[i]) > 8)
            ck_assert_msg(strstr(err, bad[i] + 4) == NULL, "#%zu echoes the key: %s", i, err);
    }
    unsigned char key[CRYPTO_KEY_LEN];
    char err[256] = "";
    ck_assert_int_eq(crypto_key_from_base64(NULL, key, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "not set"));
    ck_assert_int_eq(crypto_key_from_base64(bad[2], key, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "31 bytes"));
    ck_assert_int_eq(crypto_key_from_base64(bad[3], key, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "33 bytes"));
}
END_TEST

START_TEST(wipe_clears)
{
    char buf[16];
    memset(buf, 'x', sizeof buf);
    crypto_wipe(buf, sizeof buf);
    for (size_t i = 0; i < sizeof buf; i++)
        ck_assert_int_eq(buf[i], 0);
    crypto_wipe(NULL, 4); /* no-op */
    /* The secret-string form frees as well (a leak would fail the ASan run). */
    crypto_free_secret(strdup("xoxb-secret"));
    crypto_free_secret(NULL);
}
END_TEST

TESTLIB_MAIN("crypto", "crypto", key_decodes, round_trip, empty_plaintext, tamper_detected,
             wrong_key, bad_keys, wipe_clears)
