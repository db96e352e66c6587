/* PostgreSQL array literals (common/pgarray.h): quoting, NULLs, separators,
 * and the whole-array helpers the router, the subscriptions cache and the
 * sender build their statements' parameters with; the shared FNV-1a hash
 * (common/strmap.h) those tables use. */
#include "common/pgarray.h"
#include "common/strmap.h"
#include "testlib.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

START_TEST(elements_are_quoted_escaped_and_separated)
{
    strbuf b = {0};
    pgarray_begin(&b);
    pgarray_end(&b);
    ck_assert_str_eq(b.p, "{}");

    pgarray_begin(&b); /* begin empties what was there */
    pgarray_text(&b, "acme");
    pgarray_text(&b, NULL);
    pgarray_text(&b, "");
    pgarray_text(&b, "a \"quoted\" \\ back\\slash, {brace}");
    pgarray_text(&b, "\\");
    pgarray_end(&b);
    ck_assert_str_eq(b.p, "{\"acme\",NULL,\"\",\"a \\\"quoted\\\" \\\\ back\\\\slash, {brace}\","
                          "\"\\\\\"}");

    pgarray_begin(&b);
    pgarray_i64(&b, 42);
    pgarray_i64(&b, -7);
    pgarray_i64(&b, INT64_MAX);
    pgarray_raw(&b, "6f1c1b1e-8a57-4c36-9d5e-0c2f7f1b2a10");
    pgarray_end(&b);
    ck_assert_str_eq(b.p, "{42,-7,9223372036854775807,6f1c1b1e-8a57-4c36-9d5e-0c2f7f1b2a10}");
    ck_assert_uint_eq(b.len, strlen(b.p));
    strbuf_dispose(&b);
}
END_TEST

START_TEST(whole_arrays)
{
    const char *v[] = {"x", NULL, "", "y\"z"};
    char *a = pgarray_of_text(v, 4, false);
    ck_assert_str_eq(a, "{\"x\",NULL,\"\",\"y\\\"z\"}");
    free(a);
    a = pgarray_of_text(v, 4, true);
    ck_assert_str_eq(a, "{\"x\",NULL,NULL,\"y\\\"z\"}");
    free(a);
    a = pgarray_of_text(NULL, 0, false);
    ck_assert_str_eq(a, "{}");
    free(a);
    const int64_t ids[] = {1, 20, 300};
    a = pgarray_of_i64(ids, 3);
    ck_assert_str_eq(a, "{1,20,300}");
    free(a);
    a = pgarray_of_i64(NULL, 0);
    ck_assert_str_eq(a, "{}");
    free(a);
}
END_TEST

/* 64-bit FNV-1a's published test vectors. */
START_TEST(strmap_hash_is_fnv1a)
{
    ck_assert_uint_eq(strmap_hash(""), 0xcbf29ce484222325ULL);
    ck_assert_uint_eq(strmap_hash("a"), 0xaf63dc4c8601ec8cULL);
    ck_assert_uint_eq(strmap_hash("foobar"), 0x85944171f73967e8ULL);
}
END_TEST

TESTLIB_MAIN("pgarray", "pgarray", elements_are_quoted_escaped_and_separated, whole_arrays,
             strmap_hash_is_fnv1a)
