/* Token buckets and the keyed table, driven by an injected clock. */
#include "common/ratelimit.h"
#include "testlib.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Counts the takes allowed while stepping the clock from t0 to t1 in steps of step ms. */
static int allowed_between(ratelimit_bucket *b, int64_t t0, int64_t t1, int64_t step)
{
    int n = 0;
    for (int64_t t = t0; t < t1; t += step)
        if (ratelimit_take(b, t) == 0)
            n++;
    return n;
}

START_TEST(burst_then_steady_rate)
{
    ratelimit_bucket b;
    ratelimit_init(&b, 1.0, 3, 1000);
    /* The burst goes at once... */
    ck_assert_int_eq(ratelimit_take(&b, 1000), 0);
    ck_assert_int_eq(ratelimit_take(&b, 1000), 0);
    ck_assert_int_eq(ratelimit_take(&b, 1000), 0);
    /* ...then the next token is one second away, and a refused take consumes nothing. */
    ck_assert_int_eq(ratelimit_take(&b, 1000), 1000);
    ck_assert_int_eq(ratelimit_take(&b, 1400), 600);
    ck_assert_int_eq(ratelimit_peek(&b, 1999), 1);
    ck_assert_int_eq(ratelimit_take(&b, 2000), 0);
    ck_assert_int_eq(ratelimit_take(&b, 2000), 1000);
    /* Steady state: polling every 10 ms for 60 s gives exactly one a second. */
    int n = allowed_between(&b, 2010, 62010, 10);
    ck_assert_int_eq(n, 60);
}
END_TEST

START_TEST(refill_caps_at_burst)
{
    ratelimit_bucket b;
    ratelimit_init(&b, 2.0, 4, 0);
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(ratelimit_take(&b, 0), 0);
    ck_assert_int_gt(ratelimit_take(&b, 0), 0);
    /* A long idle period refills to the burst, not beyond. */
    int n = 0;
    while (ratelimit_take(&b, 100000) == 0)
        n++;
    ck_assert_int_eq(n, 4);
    /* 2 per second: the next one is 500 ms away. */
    ck_assert_int_eq(ratelimit_take(&b, 100000), 500);
}
END_TEST

START_TEST(fractional_rate)
{
    ratelimit_bucket b;
    ratelimit_init(&b, 5.0 / 60.0, 1, 0); /* 5 a minute */
    ck_assert_int_eq(ratelimit_take(&b, 0), 0);
    ck_assert_int_eq(ratelimit_take(&b, 0), 12000);
    ck_assert_int_eq(ratelimit_take(&b, 12000), 0);
}
END_TEST

START_TEST(unlimited_and_clock_backwards)
{
    ratelimit_bucket b;
    ratelimit_init(&b, 0, 1, 0);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(ratelimit_take(&b, 5), 0);
    /* Even unlimited buckets honour a 429 pause. */
    ratelimit_pause_until(&b, 2000);
    ck_assert_int_eq(ratelimit_take(&b, 500), 1500);

    ratelimit_bucket c;
    ratelimit_init(&c, 1.0, 1, 10000);
    ck_assert_int_eq(ratelimit_take(&c, 10000), 0);
    /* A clock that goes backwards must not mint tokens. */
    ck_assert_int_gt(ratelimit_take(&c, 5000), 0);
    ck_assert_int_gt(ratelimit_take(&c, 10500), 0);
    ck_assert_int_eq(ratelimit_take(&c, 11000), 0);
}
END_TEST

START_TEST(pause_until_blocks_then_resumes_steadily)
{
    ratelimit_bucket b;
    ratelimit_init(&b, 1.0, 3, 0);
    ratelimit_pause_until(&b, 30000); /* a 429 with Retry-After: 30 */
    ck_assert_int_eq(ratelimit_take(&b, 0), 30000);
    ck_assert_int_eq(ratelimit_take(&b, 29999), 1);
    ck_assert_int_eq(ratelimit_peek(&b, 29999), 1);
    /* One request at the end of the pause, then the steady rate, not a burst. */
    ck_assert_int_eq(ratelimit_take(&b, 30000), 0);
    ck_assert_int_eq(ratelimit_take(&b, 30000), 1000);
    ck_assert_int_eq(ratelimit_take(&b, 31000), 0);
    /* An earlier pause does not shorten one in force. */
    ratelimit_pause_until(&b, 40000);
    ratelimit_pause_until(&b, 35000);
    ck_assert_int_eq(ratelimit_take(&b, 36000), 4000);
}
END_TEST

START_TEST(refund_and_set_rate)
{
    ratelimit_bucket b;
    ratelimit_init(&b, 1.0, 2, 0);
    ck_assert_int_eq(ratelimit_take(&b, 0), 0);
    ck_assert_int_eq(ratelimit_take(&b, 0), 0);
    ck_assert_int_gt(ratelimit_take(&b, 0), 0);
    ratelimit_refund(&b, 0);
    ck_assert_int_eq(ratelimit_take(&b, 0), 0);
    ratelimit_refund(&b, 0);
    ratelimit_refund(&b, 0);
    ratelimit_refund(&b, 0); /* capped at the burst */
    ck_assert_int_eq(ratelimit_take(&b, 0), 0);
    ck_assert_int_eq(ratelimit_take(&b, 0), 0);
    ck_assert_int_gt(ratelimit_take(&b, 0), 0);

    ratelimit_set_rate(&b, 10.0, 1, 0);
    ck_assert_int_eq(ratelimit_take(&b, 0), 100);
    ck_assert_int_eq(ratelimit_take(&b, 100), 0);
}
END_TEST

START_TEST(table_keys_are_independent)
{
    ratelimit_table *t = ratelimit_table_new(1.0, 2, 60000);
    ck_assert_int_eq(ratelimit_table_take(t, "T1/C1", 0), 0);
    ck_assert_int_eq(ratelimit_table_take(t, "T1/C1", 0), 0);
    ck_assert_int_eq(ratelimit_table_take(t, "T1/C1", 0), 1000);
    /* Another channel has its own bucket. */
    ck_assert_int_eq(ratelimit_table_take(t, "T1/C2", 0), 0);
    ck_assert_int_eq(ratelimit_table_take(t, "T1/C2", 0), 0);
    /* A pause on one key leaves the others alone. */
    ratelimit_table_pause_until(t, "T1/C3", 5000, 0);
    ck_assert_int_eq(ratelimit_table_take(t, "T1/C3", 0), 5000);
    ck_assert_int_eq(ratelimit_table_take(t, "T1/C4", 0), 0);
    ck_assert_uint_eq(ratelimit_table_size(t), 4);
    /* peek on an unknown key creates nothing and allows. */
    ck_assert_int_eq(ratelimit_table_peek(t, "nobody", 0), 0);
    ck_assert_ptr_null(ratelimit_table_find(t, "nobody"));
    ck_assert_uint_eq(ratelimit_table_size(t), 4);
    /* Many keys: the table grows and every bucket is still found. */
    char key[32];
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ck_assert_int_eq(ratelimit_table_take(t, key, 0), 0);
    }
    for (int i = 0; i < 5000; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ratelimit_bucket *b = ratelimit_table_find(t, key);
        ck_assert_ptr_nonnull(b);
        ck_assert_double_eq_tol(b->tokens, 1.0, 1e-9);
    }
    ck_assert_uint_eq(ratelimit_table_size(t), 5004);
    ratelimit_table_destroy(t);
}
END_TEST

START_TEST(table_evicts_only_idle_full_unpaused)
{
    ratelimit_table *t = ratelimit_table_new(1.0, 3, 10000);
    ratelimit_table_take(t, "a", 0);               /* refilled after 1 s, idle after 10 s */
    ratelimit_table_pause_until(t, "b", 60000, 0); /* paused: must be kept */
    ratelimit_table_take(t, "c", 0);
    ck_assert_uint_eq(ratelimit_table_evict(t, 5000), 0);  /* nobody idle long enough */
    ratelimit_table_take(t, "c", 9000);                    /* c used again */
    ck_assert_uint_eq(ratelimit_table_evict(t, 10000), 1); /* a only */
    ck_assert_ptr_null(ratelimit_table_find(t, "a"));
    ck_assert_ptr_nonnull(ratelimit_table_find(t, "b"));
    ck_assert_ptr_nonnull(ratelimit_table_find(t, "c"));
    ck_assert_uint_eq(ratelimit_table_evict(t, 19500), 1); /* c, 10.5 s after its last use */
    ck_assert_uint_eq(ratelimit_table_size(t), 1);
    /* b's pause survives eviction rounds until it is over. */
    ck_assert_int_eq(ratelimit_table_take(t, "b", 50000), 10000);
    ck_assert_uint_eq(ratelimit_table_evict(t, 59000), 0);
    ck_assert_uint_eq(ratelimit_table_evict(t, 71000), 1);
    ck_assert_uint_eq(ratelimit_table_size(t), 0);
    /* A bucket drained by a burst is not forgotten while it refills, even if idle. */
    ratelimit_table *u = ratelimit_table_new(0.01, 3, 1000); /* 1 per 100 s */
    ratelimit_table_take(u, "x", 0);
    ratelimit_table_take(u, "x", 0);
    ratelimit_table_take(u, "x", 0);
    ck_assert_uint_eq(ratelimit_table_evict(u, 5000), 0);
    ck_assert_int_gt(ratelimit_table_take(u, "x", 5000), 0);
    ck_assert_uint_eq(ratelimit_table_evict(u, 400000), 1);
    /* Idle 0 never evicts. */
    ratelimit_table *v = ratelimit_table_new(1.0, 1, 0);
    ratelimit_table_take(v, "y", 0);
    ck_assert_uint_eq(ratelimit_table_evict(v, 1000000), 0);
    ratelimit_table_destroy(t);
    ratelimit_table_destroy(u);
    ratelimit_table_destroy(v);
    ratelimit_table_destroy(NULL);
}
END_TEST

/* Regression: a rate near zero made the wait a double past INT64_MAX, and
 * converting it to int64_t is undefined. */
START_TEST(tiny_rate_waits_forever_without_overflow)
{
    ratelimit_bucket b;
    ratelimit_init(&b, 1e-300, 1, 0);
    ck_assert_int_eq(ratelimit_take(&b, 0), 0);
    ck_assert(ratelimit_take(&b, 1000) == INT64_MAX);
    ck_assert(ratelimit_peek(&b, 1000000) == INT64_MAX);
}
END_TEST

TESTLIB_MAIN("ratelimit", "ratelimit", burst_then_steady_rate, refill_caps_at_burst,
             fractional_rate, unlimited_and_clock_backwards,
             pause_until_blocks_then_resumes_steadily, refund_and_set_rate,
             table_keys_are_independent, table_evicts_only_idle_full_unpaused,
             tiny_rate_waits_forever_without_overflow)
