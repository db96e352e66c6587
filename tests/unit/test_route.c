/* Routing rules (workers/router/route.h) as a table: event kind, trigger, status,
 * failing_count, target uses, check filter, enabled/deleted and tenant. */
#include "workers/router/route.h"
#include "testlib.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

enum { CHK, COL };
enum { MAN, SCH };
enum { OK_, FAIL };
enum { FC = 1, DC = 2, BOTH = 3 };

/* Filters used by the table (sorted, as the cache keeps them). */
static const char *const f_mfa[] = {"weak_mfa"};
static const char *const f_two[] = {"stale_admin", "weak_mfa"};
static const char *const f_other[] = {"dormant_users", "stale_admin"};

typedef struct row {
    int line;
    /* event */
    int kind, trigger, status;
    long failing;
    const char *check_type;
    const char *ev_tenant;
    /* target */
    int uses;
    const char *const *filter;
    size_t nfilter;
    bool enabled, deleted;
    const char *t_tenant;
    /* expectation */
    bool match;
} row;

#define F(a) a, sizeof(a) / sizeof((a)[0])
#define NOF  NULL, 0

static const row table[] = {
    /* check results: failing_count decides whether anything is sent */
    {__LINE__, CHK, SCH, OK_, 12, "weak_mfa", "acme", FC, NOF, true, false, "acme", true},
    {__LINE__, CHK, MAN, OK_, 1, "weak_mfa", "acme", FC, NOF, true, false, "acme", true},
    {__LINE__, CHK, SCH, OK_, 0, "weak_mfa", "acme", FC, NOF, true, false, "acme", false},
    {__LINE__, CHK, MAN, OK_, 0, "weak_mfa", "acme", FC, NOF, true, false, "acme", false},
    {__LINE__, CHK, MAN, OK_, 0, "weak_mfa", "acme", BOTH, NOF, true, false, "acme", false},
    {__LINE__, CHK, SCH, OK_, -1, "weak_mfa", "acme", FC, NOF, true, false, "acme", false},
    /* uses */
    {__LINE__, CHK, SCH, OK_, 5, "weak_mfa", "acme", DC, NOF, true, false, "acme", false},
    {__LINE__, CHK, SCH, OK_, 5, "weak_mfa", "acme", BOTH, NOF, true, false, "acme", true},
    /* check filter */
    {__LINE__, CHK, SCH, OK_, 5, "weak_mfa", "acme", FC, F(f_mfa), true, false, "acme", true},
    {__LINE__, CHK, SCH, OK_, 5, "stale_admin", "acme", FC, F(f_mfa), true, false, "acme", false},
    {__LINE__, CHK, SCH, OK_, 5, "stale_admin", "acme", FC, F(f_two), true, false, "acme", true},
    {__LINE__, CHK, SCH, OK_, 5, "weak_mfa", "acme", FC, F(f_two), true, false, "acme", true},
    {__LINE__, CHK, SCH, OK_, 5, "weak_mfa", "acme", FC, F(f_other), true, false, "acme", false},
    {__LINE__, CHK, SCH, OK_, 5, "weak_mf", "acme", FC, F(f_mfa), true, false, "acme", false},
    {__LINE__, CHK, SCH, OK_, 5, "weak_mfa", "acme", BOTH, F(f_other), true, false, "acme", false},
    {__LINE__, CHK, SCH, OK_, 0, "weak_mfa", "acme", FC, F(f_mfa), true, false, "acme", false},
    /* enabled / deleted */
    {__LINE__, CHK, SCH, OK_, 5, "weak_mfa", "acme", FC, NOF, false, false, "acme", false},
    {__LINE__, CHK, SCH, OK_, 5, "weak_mfa", "acme", FC, NOF, true, true, "acme", false},
    {__LINE__, CHK, SCH, OK_, 5, "weak_mfa", "acme", FC, NOF, false, true, "acme", false},
    /* other tenants never receive another tenant's events */
    {__LINE__, CHK, SCH, OK_, 5, "weak_mfa", "acme", FC, NOF, true, false, "globex", false},
    {__LINE__, CHK, SCH, OK_, 5, "weak_mfa", "acme", FC, NOF, true, false, "acme2", false},
    {__LINE__, CHK, SCH, OK_, 5, "weak_mfa", "acme", FC, NOF, true, false, "Acme", false},
    /* collections: manual either way, scheduled only when failed */
    {__LINE__, COL, MAN, OK_, 0, NULL, "acme", DC, NOF, true, false, "acme", true},
    {__LINE__, COL, MAN, FAIL, 0, NULL, "acme", DC, NOF, true, false, "acme", true},
    {__LINE__, COL, SCH, FAIL, 0, NULL, "acme", DC, NOF, true, false, "acme", true},
    {__LINE__, COL, SCH, OK_, 0, NULL, "acme", DC, NOF, true, false, "acme", false},
    {__LINE__, COL, SCH, OK_, 0, NULL, "acme", BOTH, NOF, true, false, "acme", false},
    {__LINE__, COL, MAN, OK_, 0, NULL, "acme", FC, NOF, true, false, "acme", false},
    {__LINE__, COL, SCH, FAIL, 0, NULL, "acme", FC, NOF, true, false, "acme", false},
    {__LINE__, COL, MAN, FAIL, 0, NULL, "acme", BOTH, NOF, true, false, "acme", true},
    /* a check filter narrows failed_check only, never collection failures */
    {__LINE__, COL, SCH, FAIL, 0, NULL, "acme", BOTH, F(f_mfa), true, false, "acme", true},
    {__LINE__, COL, MAN, OK_, 0, NULL, "acme", BOTH, F(f_other), true, false, "acme", true},
    /* failing_count means nothing for a collection event */
    {__LINE__, COL, SCH, OK_, 7, NULL, "acme", DC, NOF, true, false, "acme", false},
    {__LINE__, COL, MAN, OK_, 0, NULL, "acme", DC, NOF, false, false, "acme", false},
    {__LINE__, COL, SCH, FAIL, 0, NULL, "acme", DC, NOF, true, true, "acme", false},
    {__LINE__, COL, MAN, FAIL, 0, NULL, "acme", DC, NOF, true, false, "globex", false},
};

static void make_event(const row *r, event *ev)
{
    memset(ev, 0, sizeof *ev);
    ev->kind = r->kind == CHK ? EVENT_CHECK_RESULT : EVENT_COLLECTION;
    strcpy(ev->event_id, "6f1c1b1e-8a57-4c36-9d5e-0c2f7f1b2a10");
    ev->tenant_id = (char *)r->ev_tenant;
    ev->trigger = r->trigger == MAN ? TRIGGER_MANUAL : TRIGGER_SCHEDULED;
    ev->failed = r->status == FAIL;
    ev->failing_count = r->failing;
    ev->total_count = 100;
    ev->check_type = (char *)r->check_type;
}

static void make_target(const row *r, route_target *t, int64_t id)
{
    memset(t, 0, sizeof *t);
    t->id = id;
    t->tenant_id = r->t_tenant;
    t->team_id = "T0001";
    t->destination = "C0001";
    t->use_failed_check = (r->uses & FC) != 0;
    t->use_data_collection = (r->uses & DC) != 0;
    t->enabled = r->enabled;
    t->deleted = r->deleted;
    t->check_types = r->filter;
    t->ncheck_types = r->nfilter;
}

START_TEST(table_row)
{
    const row *r = &table[_i];
    event ev;
    route_target t;
    make_event(r, &ev);
    make_target(r, &t, 42);
    ck_assert_msg(route_matches(&ev, &t) == r->match, "table row at line %d: expected %s", r->line,
                  r->match ? "a match" : "no match");
    /* route_event agrees with route_matches for a single target. */
    size_t out[1] = {99};
    size_t n = route_event(&ev, &t, 1, out);
    ck_assert_uint_eq(n, r->match ? 1 : 0);
    if (n)
        ck_assert_uint_eq(out[0], 0);
    /* route_event_wanted is necessary for any match. */
    if (r->match)
        ck_assert(route_event_wanted(&ev));
}
END_TEST

/* One tenant with several targets next to other tenants': only the right
 * ones, in order. */
START_TEST(event_fans_out_to_matching_targets_only)
{
    static const char *const mfa[] = {"weak_mfa"};
    static const char *const other[] = {"stale_admin"};
    route_target ts[] = {
        {1, "acme", "T1", "C1", false, true, false, true, false, NULL, 0, false, SEV_LOW,
         ROUTE_REPEAT_EVERY, 0, true}, /* fc */
        {2, "acme", "T1", "C2", false, false, true, true, false, NULL, 0, false, SEV_LOW,
         ROUTE_REPEAT_EVERY, 0, true}, /* dc */
        {3, "acme", "T2", "C3", false, true, true, true, false, mfa, 1, false, SEV_LOW,
         ROUTE_REPEAT_EVERY, 0, true}, /* both, mfa */
        {4, "acme", "T1", "C4", false, true, false, true, false, other, 1, false, SEV_LOW,
         ROUTE_REPEAT_EVERY, 0, true}, /* fc, other */
        {5, "acme", "T1", "C5", false, true, false, false, false, NULL, 0, false, SEV_LOW,
         ROUTE_REPEAT_EVERY, 0, true}, /* disabled */
        {6, "acme", "T1", "C6", false, true, false, true, true, NULL, 0, false, SEV_LOW,
         ROUTE_REPEAT_EVERY, 0, true}, /* deleted */
        {7, "globex", "T1", "C7", false, true, true, true, false, NULL, 0, false, SEV_LOW,
         ROUTE_REPEAT_EVERY, 0, true}, /* other tenant */
        {8, "acme", "T3", "a@b.c", true, true, false, true, false, NULL, 0, false, SEV_LOW,
         ROUTE_REPEAT_EVERY, 0, true},
    };
    event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = EVENT_CHECK_RESULT;
    ev.tenant_id = "acme";
    ev.trigger = TRIGGER_SCHEDULED;
    ev.check_type = "weak_mfa";
    ev.failing_count = 3;
    size_t out[8];
    size_t n = route_event(&ev, ts, 8, out);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(out[0], 0);
    ck_assert_uint_eq(out[1], 2);
    ck_assert_uint_eq(out[2], 7);

    ev.check_type = "stale_admin";
    n = route_event(&ev, ts, 8, out);
    ck_assert_uint_eq(n, 3);
    ck_assert_uint_eq(out[0], 0);
    ck_assert_uint_eq(out[1], 3);
    ck_assert_uint_eq(out[2], 7);

    ev.failing_count = 0;
    ck_assert_uint_eq(route_event(&ev, ts, 8, out), 0);

    memset(&ev, 0, sizeof ev);
    ev.kind = EVENT_COLLECTION;
    ev.tenant_id = "acme";
    ev.trigger = TRIGGER_SCHEDULED;
    ev.failed = true;
    n = route_event(&ev, ts, 8, out);
    ck_assert_uint_eq(n, 2);
    ck_assert_uint_eq(out[0], 1);
    ck_assert_uint_eq(out[1], 2);
    ev.failed = false;
    ck_assert_uint_eq(route_event(&ev, ts, 8, out), 0);
    ck_assert(!route_event_wanted(&ev));
    ev.trigger = TRIGGER_MANUAL;
    ck_assert_uint_eq(route_event(&ev, ts, 8, out), 2);
}
END_TEST

START_TEST(null_and_empty_inputs)
{
    event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = EVENT_CHECK_RESULT;
    ev.failing_count = 1;
    ev.check_type = "weak_mfa";
    route_target t = {1,    "acme", "T1", "C1", false, true,    false,
                      true, false,  NULL, 0,    false, SEV_LOW, ROUTE_REPEAT_EVERY,
                      0,    true};
    ck_assert(!route_matches(&ev, &t)); /* no tenant on the event */
    ev.tenant_id = "acme";
    ck_assert(route_matches(&ev, &t));
    ck_assert(!route_matches(NULL, &t));
    ck_assert(!route_matches(&ev, NULL));
    ck_assert(!route_event_wanted(NULL));
    ck_assert_uint_eq(route_event(&ev, NULL, 0, NULL), 0);
    /* a filtered target and an event without a check type */
    static const char *const mfa[] = {"weak_mfa"};
    t.check_types = mfa;
    t.ncheck_types = 1;
    ev.check_type = NULL;
    ck_assert(!route_matches(&ev, &t));
}
END_TEST

/* Long filters: every entry is found, near misses are not. */
START_TEST(long_filter_binary_search)
{
    static const char *const many[] = {"a", "b", "c", "d", "e", "f", "g", "h", "i"};
    route_target t = {1,    "acme", "T1", "C1", false, true,    false,
                      true, false,  many, 9,    false, SEV_LOW, ROUTE_REPEAT_EVERY,
                      0,    true};
    event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = EVENT_CHECK_RESULT;
    ev.tenant_id = "acme";
    ev.failing_count = 1;
    for (size_t i = 0; i < 9; i++) {
        ev.check_type = (char *)many[i];
        ck_assert_msg(route_matches(&ev, &t), "filter entry %s", many[i]);
    }
    const char *miss[] = {"", "0", "aa", "z", "e0"};
    for (size_t i = 0; i < 5; i++) {
        ev.check_type = (char *)miss[i];
        ck_assert_msg(!route_matches(&ev, &t), "not in filter: '%s'", miss[i]);
    }
}
END_TEST

/* Passing checks are recorded for a tenant with a live failed_check target
 * that threads repeats (whatever its filter), and for no one else. */
START_TEST(passes_recorded_only_for_thread_tenants)
{
    static const char *const other[] = {"stale_admin"};
    route_target ts[] = {
        {1, "acme", "T1", "C1", false, true, false, true, false, NULL, 0, false, SEV_LOW,
         ROUTE_REPEAT_EVERY, 0, true},
        {2, "acme", "T1", "C2", false, false, true, true, false, NULL, 0, true, SEV_LOW,
         ROUTE_REPEAT_EVERY, 0, true}, /* dc only */
        {3, "acme", "T1", "C3", false, true, false, false, false, NULL, 0, true, SEV_LOW,
         ROUTE_REPEAT_EVERY, 0, true}, /* disabled */
        {4, "acme", "T1", "C4", false, true, false, true, true, NULL, 0, true, SEV_LOW,
         ROUTE_REPEAT_EVERY, 0, true}, /* deleted */
        {5, "acme", "T1", "C5", false, true, false, true, false, other, 1, true, SEV_LOW,
         ROUTE_REPEAT_EVERY, 0, true}, /* threads */
    };
    event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = EVENT_CHECK_RESULT;
    ev.tenant_id = "acme";
    ev.trigger = TRIGGER_SCHEDULED;
    ev.check_type = "weak_mfa";
    ev.failing_count = 0;
    /* target 5 threads repeats: its filter does not matter */
    ck_assert(route_records_pass(&ev, ts, 5));
    /* none of the first four counts */
    ck_assert(!route_records_pass(&ev, ts, 4));
    /* a failing result is routed, not recorded as a pass */
    ev.failing_count = 2;
    ck_assert(!route_records_pass(&ev, ts, 5));
    ev.failing_count = 0;
    /* another tenant's target does not count */
    ev.tenant_id = "globex";
    ck_assert(!route_records_pass(&ev, ts, 5));
    ev.tenant_id = "acme";
    /* no check type, a collection, no event, no targets */
    ev.check_type = NULL;
    ck_assert(!route_records_pass(&ev, ts, 5));
    ev.check_type = "";
    ck_assert(!route_records_pass(&ev, ts, 5));
    ev.check_type = "weak_mfa";
    ev.kind = EVENT_COLLECTION;
    ck_assert(!route_records_pass(&ev, ts, 5));
    ev.kind = EVENT_CHECK_RESULT;
    ck_assert(!route_records_pass(NULL, ts, 5));
    ck_assert(!route_records_pass(&ev, NULL, 0));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("route");
    TCase *tc = tcase_create("rules");
    tcase_add_loop_test(tc, table_row, 0, (int)(sizeof table / sizeof table[0]));
    tcase_add_test(tc, event_fans_out_to_matching_targets_only);
    tcase_add_test(tc, null_and_empty_inputs);
    tcase_add_test(tc, long_filter_binary_search);
    tcase_add_test(tc, passes_recorded_only_for_thread_tenants);
    suite_add_tcase(s, tc);
    return testlib_run_suite(s);
}
