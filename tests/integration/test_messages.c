/*
 * A posted notification rendered again with its marks (store/messages.c),
 * against PostgreSQL: what a resolve, an acknowledgement, a silence made from
 * the message and its nudges make it say, which message a thread reply edits,
 * and what is never edited.
 */
#include "testlib.h"

#include "store/messages.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char url[512];
static PGconn *conn;
static char err[512];

#define EV1  "11111111-1111-4111-8111-111111111111"
#define EV2  "22222222-2222-4222-8222-222222222222"
#define PASS "33333333-3333-4333-8333-333333333333"

static const char *check_event(const char *id, int failing)
{
    static char buf[1024];
    snprintf(buf, sizeof buf,
             "{\"schema\":\"herald.check_result.v1\",\"event_id\":\"%s\",\"tenant_id\":\"acme\","
             "\"run_id\":\"%s\",\"trigger\":\"scheduled\",\"check\":{\"type\":\"weak_mfa\","
             "\"name\":\"Weak MFA\",\"severity\":\"high\"},"
             "\"evaluated_at\":\"2026-12-01T10:00:00Z\",\"failing_count\":%d,\"total_count\":10,"
             "\"failing_users\":[%s]}",
             id, id, failing,
             failing ? "{\"id\":\"u1\",\"display_name\":\"Ada\",\"email\":\"ada@acme.example\"}"
                     : "");
    return buf;
}

static void add_event(const char *id, int failing)
{
    char sql[2048];
    snprintf(sql, sizeof sql,
             "INSERT INTO events (event_id, tenant_id, kind, check_type, payload) "
             "VALUES ('%s', 'acme', 'check_result', 'weak_mfa', '%s')",
             id, check_event(id, failing));
    testlib_db_exec(conn, sql);
}

static void setup(void)
{
    conn = testlib_db_connect(url);
    testlib_db_truncate(conn, "deliveries, events, targets, workspaces, slack_actions, silences");
    testlib_db_exec(conn, "INSERT INTO workspaces (team_id, team_name, token_enc) "
                          "VALUES ('T1', 'Acme', '\\x00')");
    testlib_db_exec(conn, "INSERT INTO targets (id, tenant_id, team_id, name, destination, "
                          "destination_kind, use_failed_check, nudge_enabled) "
                          "VALUES (7, 'acme', 'T1', 'sec', 'C1', 'channel', true, true)");
    add_event(EV1, 1);
    testlib_db_exec(conn, "INSERT INTO deliveries (event_id, target_id, tenant_id, state, "
                          "slack_channel, slack_ts, sent_at) "
                          "VALUES ('" EV1 "', 7, 'acme', 'sent', 'C1', '100.1', now())");
}

static void teardown(void)
{
    PQfinish(conn);
    conn = NULL;
}

static bool has(const char *hay, const char *needle)
{
    return hay && strstr(hay, needle) != NULL;
}

START_TEST(plain_message_has_its_buttons)
{
    message_update u;
    ck_assert_msg(message_update_prepare(conn, EV1, 7, NULL, 0, &u, err, sizeof err) == STORE_OK,
                  "%s", err);
    ck_assert_str_eq(u.team_id, "T1");
    ck_assert_str_eq(u.channel, "C1");
    ck_assert_str_eq(u.ts, "100.1");
    ck_assert(has(u.blocks_json, "\"value\":\"" EV1 ":7\""));
    ck_assert(has(u.blocks_json, "herald_ack"));
    ck_assert(has(u.blocks_json, "herald_snooze"));
    ck_assert(has(u.blocks_json, "herald_nudge")); /* the target opted in */
    ck_assert(!has(u.blocks_json, "Resolved"));
    message_update_dispose(&u);
}
END_TEST

START_TEST(marks_come_from_the_database)
{
    testlib_db_exec(conn, "INSERT INTO slack_actions (team_id, user_id, action, event_id, "
                          "target_id, outcome) VALUES ('T1', 'U0ALICE', 'ack', '" EV1
                          "', 7, 'ok'), ('T1', 'U0BOB', 'ack', '" EV1 "', 7, 'ok')");
    testlib_db_exec(conn, "INSERT INTO silences (tenant_id, check_type, target_id, author, "
                          "reason, created_from_event_id, created_from_target_id) VALUES "
                          "('acme', 'weak_mfa', 7, 'slack:T1/U0CAROL', 'muted', '" EV1 "', 7)");
    /* Nudges: two sent, one not found, one on its way. */
    const char *nudges[] = {"sent", "sent", "failed", "pending"};
    for (int i = 0; i < 4; i++) {
        char id[40], sql[512];
        snprintf(id, sizeof id, "4444444%d-4444-4444-8444-444444444444", i);
        snprintf(sql, sizeof sql,
                 "INSERT INTO events (event_id, tenant_id, kind, payload) VALUES "
                 "('%s', 'acme', 'nudge', '{}')",
                 id);
        testlib_db_exec(conn, sql);
        snprintf(sql, sizeof sql,
                 "INSERT INTO deliveries (event_id, target_id, tenant_id, kind, ref_event_id, "
                 "state, last_error_code) VALUES ('%s', 7, 'acme', 'nudge', '" EV1 "', '%s', %s)",
                 id, nudges[i], i == 2 ? "'users_not_found'" : "NULL");
        testlib_db_exec(conn, sql);
    }
    message_update u;
    ck_assert_msg(message_update_prepare(conn, EV1, 7, NULL, 0, &u, err, sizeof err) == STORE_OK,
                  "%s", err);
    ck_assert_str_eq(u.marks.acked_by, "U0ALICE"); /* the first acknowledgement */
    ck_assert(u.marks.muted);
    ck_assert_str_eq(u.marks.silenced_by, "U0CAROL");
    ck_assert_int_eq(u.marks.nudged, 2);
    ck_assert_int_eq(u.marks.nudge_not_found, 1);
    ck_assert_int_eq(u.marks.nudge_pending, 1);
    ck_assert(has(u.blocks_json, "Acknowledged by <@U0ALICE>"));
    ck_assert(has(u.blocks_json, "herald_unmute"));
    ck_assert(!has(u.blocks_json, "herald_ack"));
    ck_assert(!has(u.blocks_json, "herald_nudge"));
    message_update_dispose(&u);

    /* The last nudge done: the count is final. An expired silence is not shown. */
    testlib_db_exec(conn, "UPDATE deliveries SET state = 'sent' WHERE state = 'pending'");
    testlib_db_exec(conn, "UPDATE silences SET expired_at = now()");
    ck_assert(message_update_prepare(conn, EV1, 7, NULL, 0, &u, err, sizeof err) == STORE_OK);
    ck_assert(has(u.blocks_json, "Nudged 3 users (1 not found in Slack)"));
    ck_assert(!u.marks.muted);
    ck_assert(has(u.blocks_json, "herald_mute"));
    message_update_dispose(&u);
}
END_TEST

START_TEST(resolve_marks_and_removes_the_buttons)
{
    add_event(PASS, 0);
    testlib_db_exec(conn, "INSERT INTO deliveries (event_id, target_id, tenant_id, kind, "
                          "ref_event_id, state) VALUES ('" PASS "', 7, 'acme', 'resolve', '" EV1
                          "', 'sending')");
    message_update u;
    ck_assert(message_update_prepare(conn, EV1, 7, NULL, 0, &u, err, sizeof err) == STORE_OK);
    /* the passing result's evaluated_at, 2026-12-01T10:00:00Z */
    ck_assert_int_eq(u.marks.resolved_at_ms, 1796119200000LL);
    ck_assert(has(u.blocks_json, "Resolved"));
    ck_assert(!has(u.blocks_json, "herald_ack"));
    ck_assert(has(u.text, "Resolved: "));
    message_update_dispose(&u);
}
END_TEST

START_TEST(a_reply_edits_its_thread_first_message)
{
    add_event(EV2, 1);
    testlib_db_exec(conn, "INSERT INTO deliveries (event_id, target_id, tenant_id, state, "
                          "slack_channel, slack_ts, slack_thread_ts, sent_at) "
                          "VALUES ('" EV2 "', 7, 'acme', 'sent', 'C1', '200.2', '100.1', now())");
    message_update u;
    ck_assert(message_update_prepare(conn, EV2, 7, NULL, 0, &u, err, sizeof err) == STORE_OK);
    ck_assert_str_eq(u.ts, "100.1");
    ck_assert_str_eq(u.event_id, EV1);
    message_update_dispose(&u);
}
END_TEST

START_TEST(nothing_to_edit)
{
    message_update u;
    /* unknown */
    ck_assert_int_eq(message_update_prepare(conn, EV2, 7, NULL, 0, &u, err, sizeof err),
                     STORE_NOT_FOUND);
    /* folded into a digest */
    testlib_db_exec(conn, "UPDATE deliveries SET digest_size = 3");
    ck_assert_int_eq(message_update_prepare(conn, EV1, 7, NULL, 0, &u, err, sizeof err),
                     STORE_NOT_FOUND);
    ck_assert(has(err, "digest"));
    /* not posted */
    testlib_db_exec(conn, "UPDATE deliveries SET digest_size = NULL, state = 'retrying'");
    ck_assert_int_eq(message_update_prepare(conn, EV1, 7, NULL, 0, &u, err, sizeof err),
                     STORE_NOT_FOUND);
    ck_assert(has(err, "not posted"));
    ck_assert_int_eq(message_update_prepare(conn, "nope", 7, NULL, 0, &u, err, sizeof err),
                     STORE_INVALID);
}
END_TEST

int main(void)
{
    testlib_db_create("messages", url, sizeof url);
    Suite *s = suite_create("messages");
    TCase *tc = tcase_create("messages");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, plain_message_has_its_buttons);
    tcase_add_test(tc, marks_come_from_the_database);
    tcase_add_test(tc, resolve_marks_and_removes_the_buttons);
    tcase_add_test(tc, a_reply_edits_its_thread_first_message);
    tcase_add_test(tc, nothing_to_edit);
    suite_add_tcase(s, tc);
    return testlib_run_suite(s);
}
