/* Retry schedule: full-jitter bounds, the cap, and the total age limit. */
#include "common/backoff.h"
#include "testlib.h"

#include <check.h>
#include <stdlib.h>

static backoff_policy pol(void)
{
    backoff_policy p;
    backoff_policy_default(&p);
    return p;
}

START_TEST(ceiling_doubles_to_cap)
{
    backoff_policy p = pol();
    ck_assert_int_eq(backoff_ceiling_ms(&p, 1), 1000);
    ck_assert_int_eq(backoff_ceiling_ms(&p, 2), 2000);
    ck_assert_int_eq(backoff_ceiling_ms(&p, 3), 4000);
    ck_assert_int_eq(backoff_ceiling_ms(&p, 9), 256000);
    ck_assert_int_eq(backoff_ceiling_ms(&p, 10), 300000); /* 512 s capped at 5 min */
    ck_assert_int_eq(backoff_ceiling_ms(&p, 11), 300000);
    /* Huge attempt counts neither overflow nor exceed the cap. */
    ck_assert_int_eq(backoff_ceiling_ms(&p, 1000000), 300000);
    ck_assert_int_eq(backoff_ceiling_ms(&p, 0), 1000);
    ck_assert_int_eq(backoff_ceiling_ms(&p, -5), 1000);
}
END_TEST

START_TEST(full_jitter_bounds)
{
    backoff_policy p = pol();
    /* u spans [0, 1): the delay spans [0, ceiling]. */
    ck_assert_int_eq(backoff_delay_ms(&p, 3, 0.0), 0);
    ck_assert_int_eq(backoff_delay_ms(&p, 3, 0.5), 2000);
    ck_assert_int_le(backoff_delay_ms(&p, 3, 0.9999999), 4000);
    ck_assert_int_ge(backoff_delay_ms(&p, 3, 0.9999999), 3999);
    /* Out-of-range random values are clamped, never produce negatives or overshoot. */
    ck_assert_int_eq(backoff_delay_ms(&p, 3, -1.0), 0);
    ck_assert_int_le(backoff_delay_ms(&p, 3, 7.0), 4000);
    ck_assert_int_le(backoff_delay_ms(&p, 40, 0.99), 300000);
    ck_assert_int_ge(backoff_delay_ms(&p, 40, 0.99), 297000);

    /* With real randomness: every draw in range, and the draws actually spread. */
    int64_t lo = INT64_MAX, hi = -1;
    for (int i = 0; i < 2000; i++) {
        double u = backoff_random();
        ck_assert(u >= 0.0 && u < 1.0);
        int64_t d = backoff_delay_ms(&p, 4, u);
        ck_assert_int_ge(d, 0);
        ck_assert_int_le(d, 8000);
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    ck_assert_int_lt(lo, 1000);
    ck_assert_int_gt(hi, 7000);
}
END_TEST

START_TEST(max_age_ends_retries)
{
    backoff_policy p = pol();
    p.max_age_ms = 60000;
    int64_t created = 1000000, due = 0;
    /* Young: scheduled within the jittered window. */
    ck_assert(backoff_next(&p, 1, created, created + 10, 0.5, &due));
    ck_assert_int_eq(due, created + 10 + 500);
    /* A retry that would land past the age limit is moved to the deadline. */
    ck_assert(backoff_next(&p, 8, created, created + 59000, 0.99, &due));
    ck_assert_int_eq(due, created + 60000);
    /* At or past the age limit: no more retries. */
    ck_assert(!backoff_next(&p, 2, created, created + 60000, 0.1, &due));
    ck_assert(!backoff_next(&p, 2, created, created + 90000, 0.0, &due));
}
END_TEST

START_TEST(custom_policy)
{
    backoff_policy p = {.base_ms = 200, .cap_ms = 1000, .max_age_ms = 5000};
    ck_assert_int_eq(backoff_ceiling_ms(&p, 1), 200);
    ck_assert_int_eq(backoff_ceiling_ms(&p, 3), 800);
    ck_assert_int_eq(backoff_ceiling_ms(&p, 4), 1000);
    /* A cap below the base is raised to the base. */
    backoff_policy q = {.base_ms = 500, .cap_ms = 100, .max_age_ms = 5000};
    ck_assert_int_eq(backoff_ceiling_ms(&q, 5), 500);
}
END_TEST

TESTLIB_MAIN("backoff", "backoff", ceiling_doubles_to_cap, full_jitter_bounds, max_age_ends_retries,
             custom_policy)
