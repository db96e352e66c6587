/* metrics: the Prometheus text exposition (0.0.4), exactly, and thread safety. */
#include "common/metrics.h"
#include "testlib.h"

#include <check.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

static void assert_render(metrics_registry *r, const char *want)
{
    size_t len = 0;
    char *got = metrics_render(r, &len);
    ck_assert_uint_eq(len, strlen(got));
    ck_assert_str_eq(got, want);
    free(got);
}

START_TEST(empty_registry_renders_nothing)
{
    metrics_registry *r = metrics_registry_new();
    assert_render(r, "");
    metrics_registry_destroy(r);
}
END_TEST

START_TEST(unlabelled_counter_and_gauge)
{
    metrics_registry *r = metrics_registry_new();
    metrics_counter *c = metrics_counter_new_in(r, "herald_b_total", "Things done.", NULL);
    metrics_gauge *g = metrics_gauge_new_in(r, "herald_a", "Things waiting.", "");
    /* Unlabelled metrics show 0 before any update; metrics sorted by name. */
    assert_render(r, "# HELP herald_a Things waiting.\n"
                     "# TYPE herald_a gauge\n"
                     "herald_a 0\n"
                     "# HELP herald_b_total Things done.\n"
                     "# TYPE herald_b_total counter\n"
                     "herald_b_total 0\n");
    metrics_counter_inc(c, NULL);
    metrics_counter_add(c, NULL, 2.5);
    metrics_counter_add(c, NULL, -7); /* counters never go down */
    metrics_gauge_set(g, NULL, 10);
    metrics_gauge_dec(g, NULL);
    metrics_gauge_add(g, NULL, -0.25);
    assert_render(r, "# HELP herald_a Things waiting.\n"
                     "# TYPE herald_a gauge\n"
                     "herald_a 8.75\n"
                     "# HELP herald_b_total Things done.\n"
                     "# TYPE herald_b_total counter\n"
                     "herald_b_total 3.5\n");
    ck_assert(metrics_counter_value(c, NULL) == 3.5);
    ck_assert(metrics_gauge_value(g, NULL) == 8.75);
    metrics_registry_destroy(r);
}
END_TEST

START_TEST(labelled_counter_sorted_and_escaped)
{
    metrics_registry *r = metrics_registry_new();
    metrics_counter *c = metrics_counter_new_in(r, "herald_router_events_consumed_total",
                                                "Events consumed.", "topic");
    /* A labelled metric with no series yet shows only HELP and TYPE. */
    assert_render(r, "# HELP herald_router_events_consumed_total Events consumed.\n"
                     "# TYPE herald_router_events_consumed_total counter\n");
    metrics_counter_inc(c, "herald.collections.v1");
    metrics_counter_inc(c, "herald.checks.v1");
    metrics_counter_add(c, "herald.checks.v1", 41);
    /* quote, backslash and newline escaped; '|' kept in the only value */
    metrics_counter_inc(c, "we\"ird\\top\nic|x");
    assert_render(r, "# HELP herald_router_events_consumed_total Events consumed.\n"
                     "# TYPE herald_router_events_consumed_total counter\n"
                     "herald_router_events_consumed_total{topic=\"herald.checks.v1\"} 42\n"
                     "herald_router_events_consumed_total{topic=\"herald.collections.v1\"} 1\n"
                     "herald_router_events_consumed_total{topic=\"we\\\"ird\\\\top\\nic|x\"} 1\n");
    metrics_registry_destroy(r);
}
END_TEST

START_TEST(help_is_escaped)
{
    metrics_registry *r = metrics_registry_new();
    metrics_gauge_new_in(r, "g", "line one\nback\\slash \"quoted\"", NULL);
    assert_render(r, "# HELP g line one\\nback\\\\slash \"quoted\"\n"
                     "# TYPE g gauge\n"
                     "g 0\n");
    metrics_registry_destroy(r);
}
END_TEST

START_TEST(two_labels_split_on_bar)
{
    metrics_registry *r = metrics_registry_new();
    metrics_counter *c =
        metrics_counter_new_in(r, "herald_slack_requests_total", "Requests.", "method,outcome");
    metrics_counter_inc(c, "chat.postMessage|ok");
    metrics_counter_inc(c, "chat.postMessage|ratelimited");
    metrics_counter_inc(c, "auth.test|ok");
    metrics_counter_inc(c, "chat.postMessage|ok");
    /* Missing values are empty, and "x" is the same series as "x|". */
    metrics_counter_inc(c, "x");
    metrics_counter_inc(c, "x|");
    /* The last value takes the rest. */
    metrics_counter_inc(c, "y|a|b");
    assert_render(r, "# HELP herald_slack_requests_total Requests.\n"
                     "# TYPE herald_slack_requests_total counter\n"
                     "herald_slack_requests_total{method=\"auth.test\",outcome=\"ok\"} 1\n"
                     "herald_slack_requests_total{method=\"chat.postMessage\",outcome=\"ok\"} 2\n"
                     "herald_slack_requests_total{method=\"chat.postMessage\","
                     "outcome=\"ratelimited\"} 1\n"
                     "herald_slack_requests_total{method=\"x\",outcome=\"\"} 2\n"
                     "herald_slack_requests_total{method=\"y\",outcome=\"a|b\"} 1\n");
    ck_assert(metrics_counter_value(c, "chat.postMessage|ok") == 2);
    ck_assert(metrics_counter_value(c, "x") == 2); /* the same series as "x|" */
    metrics_registry_destroy(r);
}
END_TEST

START_TEST(reading_a_value_creates_no_series)
{
    metrics_registry *r = metrics_registry_new();
    metrics_counter *c = metrics_counter_new_in(r, "herald_t_total", "T.", "kind");
    metrics_gauge *g = metrics_gauge_new_in(r, "herald_g", "G.", "kind");
    metrics_counter_inc(c, "a");
    ck_assert(metrics_counter_value(c, "never") == 0);
    ck_assert(metrics_gauge_value(g, "never") == 0);
    assert_render(r, "# HELP herald_g G.\n"
                     "# TYPE herald_g gauge\n"
                     "# HELP herald_t_total T.\n"
                     "# TYPE herald_t_total counter\n"
                     "herald_t_total{kind=\"a\"} 1\n");
    metrics_registry_destroy(r);
}
END_TEST

START_TEST(histogram_buckets_sum_count)
{
    metrics_registry *r = metrics_registry_new();
    const double b[] = {0.1, 1, 2.5};
    metrics_histogram *h =
        metrics_histogram_new_in(r, "herald_latency_seconds", "Latency.", "target", b, 3);
    metrics_histogram_observe(h, "t1", 0.05);
    metrics_histogram_observe(h, "t1", 0.1); /* le is inclusive */
    metrics_histogram_observe(h, "t1", 2);
    metrics_histogram_observe(h, "t1", 100);
    metrics_histogram_observe(h, "t0", 1);
    metrics_histogram_observe(h, "t0", NAN); /* ignored */
    assert_render(r, "# HELP herald_latency_seconds Latency.\n"
                     "# TYPE herald_latency_seconds histogram\n"
                     "herald_latency_seconds_bucket{target=\"t0\",le=\"0.1\"} 0\n"
                     "herald_latency_seconds_bucket{target=\"t0\",le=\"1\"} 1\n"
                     "herald_latency_seconds_bucket{target=\"t0\",le=\"2.5\"} 1\n"
                     "herald_latency_seconds_bucket{target=\"t0\",le=\"+Inf\"} 1\n"
                     "herald_latency_seconds_sum{target=\"t0\"} 1\n"
                     "herald_latency_seconds_count{target=\"t0\"} 1\n"
                     "herald_latency_seconds_bucket{target=\"t1\",le=\"0.1\"} 2\n"
                     "herald_latency_seconds_bucket{target=\"t1\",le=\"1\"} 2\n"
                     "herald_latency_seconds_bucket{target=\"t1\",le=\"2.5\"} 3\n"
                     "herald_latency_seconds_bucket{target=\"t1\",le=\"+Inf\"} 4\n"
                     "herald_latency_seconds_sum{target=\"t1\"} 102.15\n"
                     "herald_latency_seconds_count{target=\"t1\"} 4\n");
    metrics_registry_destroy(r);
}
END_TEST

START_TEST(histogram_default_buckets_unlabelled)
{
    metrics_registry *r = metrics_registry_new();
    metrics_histogram *h = metrics_histogram_new_in(r, "d_seconds", "D.", NULL, NULL, 0);
    metrics_histogram_observe(h, NULL, 0.3);
    assert_render(r, "# HELP d_seconds D.\n"
                     "# TYPE d_seconds histogram\n"
                     "d_seconds_bucket{le=\"0.005\"} 0\n"
                     "d_seconds_bucket{le=\"0.01\"} 0\n"
                     "d_seconds_bucket{le=\"0.025\"} 0\n"
                     "d_seconds_bucket{le=\"0.05\"} 0\n"
                     "d_seconds_bucket{le=\"0.1\"} 0\n"
                     "d_seconds_bucket{le=\"0.25\"} 0\n"
                     "d_seconds_bucket{le=\"0.5\"} 1\n"
                     "d_seconds_bucket{le=\"1\"} 1\n"
                     "d_seconds_bucket{le=\"2.5\"} 1\n"
                     "d_seconds_bucket{le=\"5\"} 1\n"
                     "d_seconds_bucket{le=\"10\"} 1\n"
                     "d_seconds_bucket{le=\"+Inf\"} 1\n"
                     "d_seconds_sum 0.3\n"
                     "d_seconds_count 1\n");
    metrics_registry_destroy(r);
}
END_TEST

START_TEST(exponential_buckets)
{
    double b[4];
    metrics_buckets_exponential(0.001, 10, 4, b);
    ck_assert(b[0] == 0.001);
    ck_assert(fabs(b[3] - 1.0) < 1e-12);
}
END_TEST

START_TEST(redeclare_returns_same_metric)
{
    metrics_registry *r = metrics_registry_new();
    metrics_counter *a = metrics_counter_new_in(r, "x_total", "X.", "k");
    metrics_counter *b = metrics_counter_new_in(r, "x_total", "X again.", "k");
    ck_assert_ptr_eq(a, b);
    metrics_counter_inc(b, "v");
    ck_assert(metrics_counter_value(a, "v") == 1);
    metrics_registry_destroy(r);
}
END_TEST

START_TEST(redeclare_with_other_labels_aborts)
{
    metrics_registry *r = metrics_registry_new();
    metrics_counter_new_in(r, "x_total", "X.", "k");
    metrics_counter_new_in(r, "x_total", "X.", "other"); /* aborts */
}
END_TEST

START_TEST(bad_metric_name_aborts)
{
    metrics_registry *r = metrics_registry_new();
    metrics_counter_new_in(r, "9bad-name", "X.", NULL);
}
END_TEST

START_TEST(bad_label_name_aborts)
{
    metrics_registry *r = metrics_registry_new();
    metrics_histogram_new_in(r, "h", "H.", "le", NULL, 0); /* le is reserved */
}
END_TEST

START_TEST(special_values)
{
    metrics_registry *r = metrics_registry_new();
    metrics_gauge *g = metrics_gauge_new_in(r, "g", "G.", "k");
    metrics_gauge_set(g, "inf", INFINITY);
    metrics_gauge_set(g, "ninf", -INFINITY);
    metrics_gauge_set(g, "nan", NAN);
    metrics_gauge_set(g, "big", 1e20);
    metrics_gauge_set(g, "tenth", 0.1);
    assert_render(r, "# HELP g G.\n"
                     "# TYPE g gauge\n"
                     "g{k=\"big\"} 1e+20\n"
                     "g{k=\"inf\"} +Inf\n"
                     "g{k=\"nan\"} NaN\n"
                     "g{k=\"ninf\"} -Inf\n"
                     "g{k=\"tenth\"} 0.1\n");
    metrics_registry_destroy(r);
}
END_TEST

static metrics_counter *shared_c;
static metrics_histogram *shared_h;

static void *hammer(void *arg)
{
    const char *labels[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j",
                            "k", "l", "m", "n", "o", "p", "q", "r", "s", "t"};
    for (int i = 0; i < 20000; i++) {
        metrics_counter_inc(shared_c, labels[i % 20]);
        metrics_histogram_observe(shared_h, labels[i % 20], (double)(i % 7));
    }
    return arg;
}

START_TEST(concurrent_updates_are_counted)
{
    metrics_registry *r = metrics_registry_new();
    shared_c = metrics_counter_new_in(r, "c_total", "C.", "k");
    shared_h = metrics_histogram_new_in(r, "h", "H.", "k", NULL, 0);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer, NULL);
    /* Render while they run: must not crash or tear. */
    for (int i = 0; i < 20; i++)
        free(metrics_render(r, NULL));
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    double total = 0;
    const char *labels = "abcdefghijklmnopqrst";
    for (int i = 0; i < 20; i++) {
        char l[2] = {labels[i], 0};
        ck_assert(metrics_counter_value(shared_c, l) == 4000);
        total += metrics_counter_value(shared_c, l);
    }
    ck_assert(total == 80000);
    char *text = metrics_render(r, NULL);
    ck_assert_ptr_nonnull(strstr(text, "h_count{k=\"a\"} 4000\n"));
    free(text);
    metrics_registry_destroy(r);
}
END_TEST

START_TEST(default_registry_is_shared)
{
    metrics_counter *c = metrics_counter_new("herald_test_default_total", "D.", NULL);
    metrics_counter_inc(c, NULL);
    char *text = metrics_render(metrics_default_registry(), NULL);
    ck_assert_ptr_nonnull(strstr(text, "herald_test_default_total 1\n"));
    free(text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("exposition");
    tcase_add_test(tc, empty_registry_renders_nothing);
    tcase_add_test(tc, unlabelled_counter_and_gauge);
    tcase_add_test(tc, labelled_counter_sorted_and_escaped);
    tcase_add_test(tc, help_is_escaped);
    tcase_add_test(tc, two_labels_split_on_bar);
    tcase_add_test(tc, reading_a_value_creates_no_series);
    tcase_add_test(tc, histogram_buckets_sum_count);
    tcase_add_test(tc, histogram_default_buckets_unlabelled);
    tcase_add_test(tc, exponential_buckets);
    tcase_add_test(tc, redeclare_returns_same_metric);
    tcase_add_test(tc, special_values);
    tcase_add_test(tc, concurrent_updates_are_counted);
    tcase_add_test(tc, default_registry_is_shared);
    suite_add_tcase(s, tc);
    /* Programming errors abort (only checkable when Check forks). */
    const char *fork_mode = getenv("CK_FORK");
    if (!fork_mode || strcmp(fork_mode, "no") != 0) {
        TCase *tcd = tcase_create("misuse");
        tcase_add_test_raise_signal(tcd, redeclare_with_other_labels_aborts, SIGABRT);
        tcase_add_test_raise_signal(tcd, bad_metric_name_aborts, SIGABRT);
        tcase_add_test_raise_signal(tcd, bad_label_name_aborts, SIGABRT);
        suite_add_tcase(s, tcd);
    }
    return testlib_run_suite(s);
}
