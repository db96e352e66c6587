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

/* Issue 10: the pure decisions. */
static event failing_check(event_user *users, size_t n, int64_t at_ms)
{
    event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = EVENT_CHECK_RESULT;
    ev.tenant_id = "acme";
    ev.check_type = "weak_mfa";
    ev.severity = SEV_HIGH;
    ev.failing_count = (int64_t)n;
    ev.users = users;
    ev.nusers = n;
    ev.evaluated_at_ms = at_ms;
    return ev;
}

START_TEST(users_hash_ignores_order_and_sees_changes)
{
    event_user a[] = {{"u1", NULL, NULL}, {"u2", NULL, NULL}};
    event_user b[] = {{"u2", NULL, NULL}, {"u1", NULL, NULL}};
    event_user c[] = {{"u1", NULL, NULL}, {"u3", NULL, NULL}};
    event ea = failing_check(a, 2, 0), eb = failing_check(b, 2, 0), ec = failing_check(c, 2, 0);
    ck_assert_uint_eq(route_users_hash(&ea), route_users_hash(&eb));
    ck_assert_uint_ne(route_users_hash(&ea), route_users_hash(&ec));
    eb.failing_count = 3; /* more failing than the sample shows */
    ck_assert_uint_ne(route_users_hash(&ea), route_users_hash(&eb));
    /* ids are separated: "u1","u2" is not "u1u2" */
    event_user d[] = {{"u1u2", NULL, NULL}};
    event ed = failing_check(d, 1, 0);
    ed.failing_count = 2;
    ck_assert_uint_ne(route_users_hash(&ea), route_users_hash(&ed));
}
END_TEST

START_TEST(floor_and_silence_rules)
{
    route_target t = {7,    "acme", "T1", "C1", false, true,         true,
                      true, false,  NULL, 0,    false, SEV_CRITICAL, ROUTE_REPEAT_EVERY,
                      0,    true};
    event_user u[] = {{"u1", NULL, NULL}};
    event ev = failing_check(u, 1, 1000);
    ck_assert(route_below_floor(&ev, &t));
    ev.severity = SEV_CRITICAL;
    ck_assert(!route_below_floor(&ev, &t));
    char text[256];
    ev.severity = SEV_MEDIUM;
    t.min_severity = SEV_HIGH;
    route_suppress_text(ROUTE_SUPPRESS_FLOOR, &ev, &t, NULL, NULL, text, sizeof text);
    ck_assert_str_eq(text, "severity medium is below the target's floor high");

    route_silence sil = {42, "weak_mfa", 0, NULL, 1000, 5000, "cli:alice", "maintenance"};
    ck_assert(route_silence_matches(&sil, &ev, &t, 1000));
    ck_assert(!route_silence_matches(&sil, &ev, &t, 999));  /* not started */
    ck_assert(!route_silence_matches(&sil, &ev, &t, 5000)); /* ended */
    route_suppress_text(ROUTE_SUPPRESS_SILENCED, &ev, &t, NULL, &sil, text, sizeof text);
    ck_assert_str_eq(text, "silence 42 (cli:alice): maintenance");
    sil.check_type = "other";
    ck_assert(!route_silence_matches(&sil, &ev, &t, 2000));
    sil.check_type = NULL;
    sil.ends_ms = 0; /* a mute */
    sil.target_id = 8;
    ck_assert(!route_silence_matches(&sil, &ev, &t, 2000));
    sil.target_id = 7;
    ck_assert(route_silence_matches(&sil, &ev, &t, 99999999));
    sil.target_id = 0;
    sil.team_id = "T2";
    ck_assert(!route_silence_matches(&sil, &ev, &t, 2000));
    sil.team_id = "T1";
    ck_assert(route_silence_matches(&sil, &ev, &t, 2000));
    /* a check-type silence never matches a collection */
    sil.team_id = NULL;
    sil.check_type = "weak_mfa";
    event col;
    memset(&col, 0, sizeof col);
    col.kind = EVENT_COLLECTION;
    col.tenant_id = "acme";
    ck_assert(!route_silence_matches(&sil, &col, &t, 2000));
}
END_TEST

START_TEST(repeat_policy_and_streaks)
{
    route_target t = {7,    "acme", "T1", "C1", false, true,    true,
                      true, false,  NULL, 0,    false, SEV_LOW, ROUTE_REPEAT_ON_CHANGE,
                      0,    true};
    event_user u[] = {{"u1", NULL, NULL}};
    event ev = failing_check(u, 1, 60000);
    uint64_t h = route_users_hash(&ev);
    route_alert st;
    memset(&st, 0, sizeof st);
    /* no state: routed; the first failure starts a streak */
    ck_assert_int_eq(route_repeat_decide(&t, NULL, &ev, 60000, h), ROUTE_SUPPRESS_NONE);
    ck_assert(route_alert_fail(&st, false, "e1", 60000, h, 1, true));
    ck_assert(st.firing);
    ck_assert_int_eq(st.since_ms, 60000);
    ck_assert_str_eq(st.last_event_id, "e1");
    /* unchanged: suppressed, unless threads are on */
    ck_assert_int_eq(route_repeat_decide(&t, &st, &ev, 120000, h), ROUTE_SUPPRESS_ON_CHANGE);
    t.thread_repeats = true;
    ck_assert_int_eq(route_repeat_decide(&t, &st, &ev, 120000, h), ROUTE_SUPPRESS_NONE);
    t.thread_repeats = false;
    ck_assert_int_eq(route_repeat_decide(&t, &st, &ev, 120000, h + 1), ROUTE_SUPPRESS_NONE);
    /* a suppressed run keeps what was said */
    ck_assert(route_alert_fail(&st, true, "e2", 120000, h, 1, false));
    ck_assert_str_eq(st.last_event_id, "e1");
    ck_assert_int_eq(st.last_result_ms, 120000);
    /* interval, by event time */
    t.repeat_policy = ROUTE_REPEAT_INTERVAL;
    t.repeat_interval_ms = 3600000;
    ck_assert_int_eq(route_repeat_decide(&t, &st, &ev, 3659999, h), ROUTE_SUPPRESS_INTERVAL);
    ck_assert_int_eq(route_repeat_decide(&t, &st, &ev, 3660000, h), ROUTE_SUPPRESS_NONE);
    char text[256];
    route_suppress_text(ROUTE_SUPPRESS_INTERVAL, &ev, &t, &st, NULL, text, sizeof text);
    ck_assert_str_eq(text, "notified 1970-01-01T00:01:00.000Z; repeat every 1h");
    /* an older result changes nothing and is never suppressed */
    ck_assert_int_eq(route_repeat_decide(&t, &st, &ev, 100000, h), ROUTE_SUPPRESS_NONE);
    route_alert before = st;
    ck_assert(!route_alert_fail(&st, true, "old", 100000, h, 1, true));
    ck_assert(!memcmp(&before, &st, sizeof st));
    const char *ref;
    ck_assert(!route_alert_pass(&st, true, "oldpass", 100000, &ref));
    /* the pass resolves the notification; a second pass changes nothing */
    ck_assert(route_alert_pass(&st, true, "p1", 200000, &ref));
    ck_assert_str_eq(ref, "e1");
    ck_assert(!st.firing);
    ck_assert_str_eq(st.resolved_event_id, "p1");
    ck_assert(!route_alert_pass(&st, true, "p2", 300000, &ref));
    /* the next failure starts a new streak: nothing said yet */
    ck_assert_int_eq(route_repeat_decide(&t, &st, &ev, 400000, h), ROUTE_SUPPRESS_NONE);
    ck_assert(route_alert_fail(&st, true, "e3", 400000, h, 1, false));
    ck_assert_str_eq(st.last_event_id, "");
    ck_assert_int_eq(st.since_ms, 400000);
    ck_assert(route_alert_pass(&st, true, "p3", 500000, &ref));
    ck_assert_str_eq(ref, ""); /* resolves silently */
}
END_TEST

START_TEST(alert_keys_and_passes)
{
    char key[ROUTE_ALERT_KEY_MAX];
    event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = EVENT_CHECK_RESULT;
    ck_assert(!route_alert_key(&ev, key, sizeof key));
    ev.check_type = "weak_mfa";
    ck_assert(route_alert_key(&ev, key, sizeof key));
    ck_assert_str_eq(key, "check:weak_mfa");
    ck_assert(route_event_passes(&ev));
    ev.failing_count = 1;
    ck_assert(!route_event_passes(&ev));
    ev.kind = EVENT_COLLECTION;
    ev.integration_id = "okta-prod";
    ck_assert(route_alert_key(&ev, key, sizeof key));
    ck_assert_str_eq(key, "collection:okta-prod");
    ck_assert(route_event_passes(&ev));
    ev.failed = true;
    ck_assert(!route_event_passes(&ev));
    ck_assert_int_eq(route_repeat_policy_parse("interval"), ROUTE_REPEAT_INTERVAL);
    ck_assert_int_eq(route_repeat_policy_parse("bogus"), ROUTE_REPEAT_EVERY);
    ck_assert_str_eq(route_suppress_code(ROUTE_SUPPRESS_ON_CHANGE), "repeat_on_change");
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
    tcase_add_test(tc, users_hash_ignores_order_and_sees_changes);
    tcase_add_test(tc, floor_and_silence_rules);
    tcase_add_test(tc, repeat_policy_and_streaks);
    tcase_add_test(tc, alert_keys_and_passes);
    suite_add_tcase(s, tc);
    return testlib_run_suite(s);
}
