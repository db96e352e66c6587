/* apitoken: the pure helpers (random ids, hashes, comparison); the database
 * side is covered by tests/integration/test_api.c and test_heraldctl.c. */
#include "store/apitoken.h"
#include "testlib.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

START_TEST(random_ids_are_base64url_of_32_bytes)
{
    char a[APITOKEN_RANDOM_LEN + 1], b[APITOKEN_RANDOM_LEN + 1];
    ck_assert_int_eq(apitoken_random(a), 0);
    ck_assert_int_eq(apitoken_random(b), 0);
    ck_assert_uint_eq(strlen(a), 43);
    ck_assert_uint_eq(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
                      43);
    ck_assert_str_ne(a, b);
    /* 32 bytes = 256 bits: the last character carries 4 bits, so it is one
     * of the 16 characters whose low 2 bits are zero. */
    ck_assert_ptr_nonnull(strchr("AEIMQUYcgkosw048", a[42]));
}
END_TEST

START_TEST(hash_param_is_a_bytea_literal)
{
    char h[APITOKEN_HASH_PARAM_LEN];
    apitoken_hash_param("abc", h);
    ck_assert_str_eq(h, "\\xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}
END_TEST

START_TEST(equal_compares_whole_strings)
{
    ck_assert(apitoken_equal("abc", "abc"));
    ck_assert(!apitoken_equal("abc", "abd"));
    ck_assert(!apitoken_equal("abc", "abcd"));
    ck_assert(!apitoken_equal("", "a"));
    ck_assert(!apitoken_equal(NULL, "a"));
    ck_assert(!apitoken_equal("a", NULL));
}
END_TEST

/* Regression: tokens were issued for tenants no event can carry ("acme
 * corp", 255 characters), which then saw nothing. The check comes before
 * any database work, so no connection is needed to see it refuse. */
START_TEST(tenants_are_event_identifiers)
{
    char text[APITOKEN_TEXT_LEN + 1], err[256];
    int64_t id = 0;
    const char *bad[] = {"acme corp", "a\nb", "caf\xc3\xa9", "x/y"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        ck_assert_int_eq(apitoken_create(NULL, bad[i], "n", text, &id, err, sizeof err), -1);
        ck_assert_msg(strncmp(err, "tenant: must be 1 to 128 characters", 35) == 0, "%s", err);
    }
    char longest[130];
    memset(longest, 'a', 129);
    longest[129] = '\0';
    ck_assert_int_eq(apitoken_create(NULL, longest, "n", text, &id, err, sizeof err), -1);
}
END_TEST

TESTLIB_MAIN("apitoken", "pure", random_ids_are_base64url_of_32_bytes,
             hash_param_is_a_bytea_literal, equal_compares_whole_strings,
             tenants_are_event_identifiers)
