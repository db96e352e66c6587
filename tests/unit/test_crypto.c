/* crypto: AES-256-GCM sealing of bot tokens (v1 and v2), the keyring and the
 * HERALD_SECRET_KEY parser. */
#include "common/crypto.h"
#include "testlib.h"

#include <check.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

#define COL "workspaces.token_enc"

/* A keyring of base64 keys (prev may be NULL). */
static void ring_of(crypto_keyring *ring, const char *cur, const char *prev)
{
    unsigned char a[CRYPTO_KEY_LEN], b[CRYPTO_KEY_LEN];
    load(cur, a);
    if (prev)
        load(prev, b);
    crypto_keyring_set(ring, a, prev ? b : NULL);
}

/* v2: 0x02, the key id (SHA-256 prefix of the key), nonce, ciphertext, tag;
 * opens for its own (column, row) as current. */
START_TEST(v2_format_and_round_trip)
{
    crypto_keyring ring;
    ring_of(&ring, KEY_A, NULL);
    unsigned char *sealed = NULL;
    size_t len = 0;
    ck_assert_int_eq(crypto_seal_bound(&ring, COL, "TA", TOKEN, strlen(TOKEN), &sealed, &len), 0);
    ck_assert_uint_eq(len, 1 + 4 + 12 + strlen(TOKEN) + 16);
    ck_assert_int_eq(sealed[0], 0x02);
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(ring.current, CRYPTO_KEY_LEN, digest);
    ck_assert_int_eq(memcmp(sealed + 1, digest, 4), 0);
    ck_assert(!contains(sealed, len, "SECRET"));
    char hex[9];
    crypto_key_id_hex(ring.current, hex);
    char want[9];
    snprintf(want, sizeof want, "%02x%02x%02x%02x", digest[0], digest[1], digest[2], digest[3]);
    ck_assert_str_eq(hex, want);
    char *plain = NULL, err[256];
    crypto_seal_state state = CRYPTO_STALE;
    ck_assert_int_eq(
        crypto_open_bound(&ring, COL, "TA", sealed, len, &plain, &state, err, sizeof err), 0);
    ck_assert_str_eq(plain, TOKEN);
    ck_assert_int_eq(state, CRYPTO_CURRENT);
    crypto_free_secret(plain);
    free(sealed);
}
END_TEST

/* The associated data binds a value to its row and column: team A's token
 * copied into team B's row (or into another column) does not open. */
START_TEST(v2_bound_to_row_and_column)
{
    crypto_keyring ring;
    ring_of(&ring, KEY_A, NULL);
    unsigned char *sealed = NULL;
    size_t len = 0;
    ck_assert_int_eq(crypto_seal_bound(&ring, COL, "TA", TOKEN, strlen(TOKEN), &sealed, &len), 0);
    char *plain = (char *)1, err[256];
    ck_assert_int_eq(
        crypto_open_bound(&ring, COL, "TB", sealed, len, &plain, NULL, err, sizeof err), -1);
    ck_assert_ptr_null(plain);
    ck_assert_ptr_nonnull(strstr(err, "another row"));
    ck_assert_ptr_null(strstr(err, "abcdefSECRET"));
    ck_assert_int_eq(crypto_open_bound(&ring, "workspaces.refresh_token_enc", "TA", sealed, len,
                                       &plain, NULL, err, sizeof err),
                     -1);
    free(sealed);
}
END_TEST

/* Today's v1 values (no key id, no associated data) still open, under
 * either key, and say they need re-sealing; v2 under the previous key too. */
START_TEST(v1_and_previous_key_open_as_stale)
{
    unsigned char a[CRYPTO_KEY_LEN], b[CRYPTO_KEY_LEN];
    load(KEY_A, a);
    load(KEY_B, b);
    unsigned char *v1 = NULL, *old = NULL;
    size_t v1_len = 0, old_len = 0;
    ck_assert_int_eq(crypto_seal(a, TOKEN, strlen(TOKEN), &v1, &v1_len), 0);
    crypto_keyring only_a, b_then_a;
    crypto_keyring_set(&only_a, a, NULL);
    crypto_keyring_set(&b_then_a, b, a); /* rotating from A to B */
    ck_assert_int_eq(crypto_seal_bound(&only_a, COL, "TA", TOKEN, strlen(TOKEN), &old, &old_len),
                     0);
    char *plain = NULL, err[256];
    crypto_seal_state state = CRYPTO_CURRENT;
    ck_assert_int_eq(
        crypto_open_bound(&only_a, COL, "TA", v1, v1_len, &plain, &state, err, sizeof err), 0);
    ck_assert_str_eq(plain, TOKEN);
    ck_assert_int_eq(state, CRYPTO_STALE);
    crypto_free_secret(plain);
    state = CRYPTO_CURRENT;
    ck_assert_int_eq(
        crypto_open_bound(&b_then_a, COL, "TA", v1, v1_len, &plain, &state, err, sizeof err), 0);
    ck_assert_int_eq(state, CRYPTO_STALE);
    crypto_free_secret(plain);
    state = CRYPTO_CURRENT;
    ck_assert_int_eq(
        crypto_open_bound(&b_then_a, COL, "TA", old, old_len, &plain, &state, err, sizeof err), 0);
    ck_assert_str_eq(plain, TOKEN);
    ck_assert_int_eq(state, CRYPTO_STALE);
    crypto_free_secret(plain);
    /* B alone: the key id names the missing key (an id, never the key). */
    crypto_keyring only_b;
    crypto_keyring_set(&only_b, b, NULL);
    ck_assert_int_eq(
        crypto_open_bound(&only_b, COL, "TA", old, old_len, &plain, NULL, err, sizeof err), -1);
    char id[9];
    crypto_key_id_hex(a, id);
    ck_assert_ptr_nonnull(strstr(err, id));
    ck_assert_ptr_nonnull(strstr(err, "HERALD_SECRET_KEY_PREVIOUS"));
    ck_assert_int_eq(
        crypto_open_bound(&only_b, COL, "TA", v1, v1_len, &plain, NULL, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "HERALD_SECRET_KEY"));
    free(v1);
    free(old);
}
END_TEST

/* Writes text to a new temporary file; returns its path (static buffer per slot). */
static const char *temp_file(int slot, const char *text)
{
    static char paths[4][64];
    snprintf(paths[slot], sizeof paths[slot], "/tmp/herald-key-%d-XXXXXX", slot);
    int fd = mkstemp(paths[slot]);
    ck_assert_int_ge(fd, 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return paths[slot];
}

/* The four variables: value or file (trailing newline ok), both set is one
 * error naming both, a bad key names its variable and never its value. */
START_TEST(keyring_load_variables_and_files)
{
    crypto_keyring ring;
    char err[512];
    herald_common_config cfg = {0};
    ck_assert_int_eq(crypto_keyring_load(&ring, &cfg, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "HERALD_SECRET_KEY is not set"));

    char line[64];
    snprintf(line, sizeof line, "%s\n", KEY_A);
    const char *fa = temp_file(0, line);
    const char *fb = temp_file(1, KEY_B);
    cfg.secret_key_file = (char *)fa;
    ck_assert_msg(crypto_keyring_load(&ring, &cfg, err, sizeof err) == 0, "%s", err);
    ck_assert(!ring.has_previous);
    unsigned char a[CRYPTO_KEY_LEN], b[CRYPTO_KEY_LEN];
    load(KEY_A, a);
    load(KEY_B, b);
    ck_assert_int_eq(memcmp(ring.current, a, CRYPTO_KEY_LEN), 0);
    cfg.secret_key_previous_file = (char *)fb;
    ck_assert_msg(crypto_keyring_load(&ring, &cfg, err, sizeof err) == 0, "%s", err);
    ck_assert(ring.has_previous);
    ck_assert_int_eq(memcmp(ring.previous, b, CRYPTO_KEY_LEN), 0);

    /* Both the variable and the file: one line naming both. */
    cfg.secret_key = (char *)KEY_A;
    ck_assert_int_eq(crypto_keyring_load(&ring, &cfg, err, sizeof err), -1);
    ck_assert_str_eq(err, "HERALD_SECRET_KEY and HERALD_SECRET_KEY_FILE are both set: set only "
                          "one of them");
    cfg.secret_key_file = NULL;
    cfg.secret_key_previous = (char *)KEY_B;
    ck_assert_int_eq(crypto_keyring_load(&ring, &cfg, err, sizeof err), -1);
    ck_assert_ptr_nonnull(
        strstr(err, "HERALD_SECRET_KEY_PREVIOUS and HERALD_SECRET_KEY_PREVIOUS_FILE"));
    ck_assert_ptr_null(strchr(err, '\n'));

    /* Wrong lengths: the variable named, the value not. */
    cfg.secret_key_previous_file = NULL;
    cfg.secret_key_previous = "c2hvcnQta2V5LXZhbHVl";
    ck_assert_int_eq(crypto_keyring_load(&ring, &cfg, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "HERALD_SECRET_KEY_PREVIOUS "));
    ck_assert_ptr_null(strstr(err, "c2hvcnQta2V5LXZhbHVl"));
    cfg.secret_key_previous = NULL;
    cfg.secret_key = NULL;
    const char *fc = temp_file(2, "c2hvcnQta2V5LXZhbHVl\n");
    cfg.secret_key_file = (char *)fc;
    ck_assert_int_eq(crypto_keyring_load(&ring, &cfg, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "HERALD_SECRET_KEY_FILE decodes to 15 bytes"));
    ck_assert_ptr_null(strstr(err, "c2hvcnQta2V5LXZhbHVl"));
    cfg.secret_key_file = "/nonexistent/herald-key";
    ck_assert_int_eq(crypto_keyring_load(&ring, &cfg, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "HERALD_SECRET_KEY_FILE: cannot read"));
    unlink(fa);
    unlink(fc);
    unlink(fb);
}
END_TEST

TESTLIB_MAIN("crypto", "crypto", key_decodes, round_trip, empty_plaintext, tamper_detected,
             wrong_key, bad_keys, wipe_clears, v2_format_and_round_trip, v2_bound_to_row_and_column,
             v1_and_previous_key_open_as_stale, keyring_load_variables_and_files)
