/* common/strbuf: the growing string behind rendering, metrics, HTTP bodies
 * and Slack answers. */
#include "common/strbuf.h"
#include "testlib.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

START_TEST(zero_initialised_is_empty_and_unbounded)
{
    strbuf b = {0};
    ck_assert_ptr_null(b.p);
    char *s = strbuf_take(&b);
    ck_assert_str_eq(s, "");
    free(s);
    ck_assert(strbuf_adds(&b, ""));
    ck_assert_ptr_nonnull(b.p); /* adding nothing still gives a string */
    ck_assert_str_eq(b.p, "");
    for (int i = 0; i < 1000; i++)
        ck_assert(strbuf_addf(&b, "%04d,", i));
    ck_assert_uint_eq(b.len, 5000);
    ck_assert_uint_eq(strlen(b.p), 5000);
    ck_assert(strncmp(b.p + 4995, "0999,", 5) == 0);
    strbuf_dispose(&b);
    ck_assert_ptr_null(b.p);
    strbuf_dispose(NULL);
}
END_TEST

START_TEST(the_cap_refuses_without_changing_anything)
{
    strbuf b;
    strbuf_init(&b, 10);
    ck_assert(strbuf_adds(&b, "12345"));
    ck_assert(strbuf_adds(&b, "67890"));
    ck_assert(!strbuf_adds(&b, "x")); /* 11 > 10 */
    ck_assert_str_eq(b.p, "1234567890");
    ck_assert_uint_eq(b.len, 10);
    strbuf_reset(&b);
    ck_assert_str_eq(b.p, "");
    ck_assert(!strbuf_addf(&b, "%s", "eleven char"));
    ck_assert_uint_eq(b.len, 0);
    /* Sizes that would wrap size_t are refused, not wrapped. */
    ck_assert(!strbuf_add(&b, "x", SIZE_MAX));
    strbuf_dispose(&b);
    strbuf u = {0};
    ck_assert(!strbuf_add(&u, "x", SIZE_MAX - 1));
    ck_assert_ptr_null(u.p);
}
END_TEST

START_TEST(long_formats_and_binary_bytes)
{
    strbuf b = {0};
    char big[3000];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert(strbuf_addf(&b, "<%s>", big)); /* past the 512-byte fast path */
    ck_assert_uint_eq(b.len, 3001);
    ck_assert(strbuf_add(&b, "a\0b", 3));
    ck_assert_uint_eq(b.len, 3004);
    ck_assert_int_eq(b.p[3002], '\0');
    ck_assert_int_eq(b.p[3004], '\0');
    char *s = strbuf_take(&b);
    ck_assert_ptr_null(b.p);
    ck_assert_uint_eq(b.len, 0);
    free(s);
}
END_TEST

TESTLIB_MAIN("strbuf", "strbuf", zero_initialised_is_empty_and_unbounded,
             the_cap_refuses_without_changing_anything, long_formats_and_binary_bytes)
