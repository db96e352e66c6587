/*
 * herald-api's POST /slack/interactivity against PostgreSQL and the fake
 * Slack: the fake signs and sends button presses as Slack does
 * (POST /_fake/interact), herald-api (in this process) verifies them,
 * records them, acts and edits the message in the fake (chat.update).
 * Covers the signature (good, wrong secret, too old), every action (snooze,
 * mute then unmute, acknowledge, nudge and its second press), who may act
 * (listed users, user groups, refused with an ephemeral note), presses on
 * messages that are not this workspace's, and what is ignored.
 */
#include "testlib.h"

#include "workers/api/api.h"

#include "common/metrics.h"
#include "common/render.h"
#include "common/slack.h"

#include <check.h>
#include <cJSON.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECRET_KEY "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=" /* 32 bytes, base64 */
#define SIGNING    "8f742231b10e8888abcd99yyyzzz85a5"
#define EV1        "11111111-1111-4111-8111-111111111111"
#define EV2        "22222222-2222-4222-8222-222222222222"

static char db_url[512];
static testlib_fake_slack slack;
static api_server *srv;
static metrics_registry *reg;
static char api_url[128];
static PGconn *conn;
static char ts1[64]; /* the fake's ts of EV1's message in C1 */

/* ================================================================ fixtures */

static const char *fake_state =
    "{\"workspaces\":[{\"id\":\"T1\",\"name\":\"Acme\",\"tokens\":[\"xoxb-t1\"]},"
    "{\"id\":\"T2\",\"name\":\"Globex\",\"tokens\":[\"xoxb-t2\"]}],"
    "\"channels\":[{\"id\":\"C1\",\"name\":\"sec\",\"team\":\"T1\",\"member\":true},"
    "{\"id\":\"C2\",\"name\":\"ops\",\"team\":\"T2\",\"member\":true}],"
    "\"users\":[{\"id\":\"U0ALICE\",\"name\":\"alice\",\"team\":\"T1\"},"
    "{\"id\":\"U0BOB\",\"name\":\"bob\",\"team\":\"T1\"},"
    "{\"id\":\"U0GROUPIE\",\"name\":\"groupie\",\"team\":\"T1\"}],"
    "\"usergroups\":[{\"id\":\"S0SEC\",\"team\":\"T1\",\"users\":[\"U0GROUPIE\"]}]}";

static void add_check_event(const char *id, const char *tenant, const char *users)
{
    char *payload = testlib_fmt(
        "{\"schema\":\"herald.check_result.v1\",\"event_id\":\"%s\",\"tenant_id\":\"%s\","
        "\"run_id\":\"%s\",\"trigger\":\"scheduled\",\"check\":{\"type\":\"weak_mfa\","
        "\"name\":\"Weak MFA\",\"severity\":\"high\"},"
        "\"evaluated_at\":\"2026-12-01T10:00:00Z\",\"failing_count\":4,\"total_count\":10,"
        "\"failing_users\":[%s]}",
        id, tenant, id, users);
    char *sql = testlib_fmt("INSERT INTO events (event_id, tenant_id, kind, check_type, payload) "
                            "VALUES ('%s', '%s', 'check_result', 'weak_mfa', '%s')",
                            id, tenant, payload);
    testlib_db_exec(conn, sql);
    free(sql);
    free(payload);
}

/* Posts a message to the fake (so chat.update finds it) and returns its ts. */
static void post_to_fake(const char *token, const char *channel, char *ts, size_t size)
{
    slack_result r;
    slack_result_init(&r);
    slack_post_message(slack.api_url, token, channel, "Weak MFA", NULL, NULL, &r);
    ck_assert_msg(r.ok, "chat.postMessage to the fake: %s", r.error);
    snprintf(ts, size, "%s", r.ts);
    slack_result_dispose(&r);
}

/* herald-api in this process, started by each test's fixture: Check forks a
 * child per test, and a server started before the fork would serve from
 * threads the child does not have (their memory then looks leaked). */
static void api_start(void)
{
    char err[512];
    reg = metrics_registry_new();
    api_config cfg;
    api_config_defaults(&cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.database_url = db_url;
    cfg.slack_api_url = slack.api_url;
    cfg.secret_key = SECRET_KEY;
    cfg.slack_signing_secret = SIGNING;
    cfg.threads = 2;
    cfg.metrics = reg;
    srv = api_server_new(&cfg, err, sizeof err);
    ck_assert_msg(srv && api_server_start(srv, err, sizeof err) == 0, "herald-api: %s", err);
    snprintf(api_url, sizeof api_url, "http://127.0.0.1:%u", api_server_port(srv));
}

static void setup(void)
{
    api_start();
    conn = testlib_db_connect(db_url);
    testlib_db_truncate(conn, "deliveries, events, slack_actions, silences, tenant_settings, "
                              "remediations");
    cJSON_Delete(testlib_fake_slack_control(&slack, "/_fake/reset", "{}"));
    /* Ada twice (the email's case differs), Bob, and Carl without an email. */
    add_check_event(
        EV1, "acme",
        "{\"id\":\"u1\",\"display_name\":\"Ada\",\"email\":\"Ada@Acme.example\"},"
        "{\"id\":\"u1b\",\"display_name\":\"Ada again\",\"email\":\"ada@acme.example\"},"
        "{\"id\":\"u2\",\"display_name\":\"Bob\",\"email\":\"bob@acme.example\"},"
        "{\"id\":\"u3\",\"display_name\":\"Carl\"}");
    add_check_event(EV2, "globex", "{\"id\":\"g1\",\"email\":\"g@globex.example\"}");
    post_to_fake("xoxb-t1", "C1", ts1, sizeof ts1);
    char ts2[64];
    post_to_fake("xoxb-t2", "C2", ts2, sizeof ts2);
    char *sql = testlib_fmt("INSERT INTO deliveries (event_id, target_id, tenant_id, state, "
                            "slack_channel, slack_ts, sent_at) VALUES "
                            "('" EV1 "', 7, 'acme', 'sent', 'C1', '%s', now()),"
                            "('" EV2 "', 8, 'globex', 'sent', 'C2', '%s', now())",
                            ts1, ts2);
    testlib_db_exec(conn, sql);
    free(sql);
}

static void teardown(void)
{
    PQfinish(conn);
    conn = NULL;
    api_server_destroy(srv);
    srv = NULL;
    metrics_registry_destroy(reg);
    reg = NULL;
}

/* ================================================================ helpers */

typedef struct press_opts {
    const char *secret; /* NULL: the right one */
    const char *team;   /* NULL: T1 */
    const char *user;   /* NULL: U0ALICE */
    const char *user_name;
    const char *channel; /* NULL: C1 */
    const char *value;   /* NULL: EV1:7 */
    const char *type;    /* NULL: block_actions */
    int age_seconds;
} press_opts;

/* Has the fake press a button; returns the HTTP status herald-api answered. */
static long press(const char *action_id, const press_opts *o)
{
    static const press_opts none = {0};
    if (!o)
        o = &none;
    cJSON *b = cJSON_CreateObject();
    char url[200];
    snprintf(url, sizeof url, "%s/slack/interactivity", api_url);
    cJSON_AddStringToObject(b, "url", url);
    cJSON_AddStringToObject(b, "secret", o->secret ? o->secret : SIGNING);
    cJSON_AddStringToObject(b, "team", o->team ? o->team : "T1");
    cJSON_AddStringToObject(b, "user", o->user ? o->user : "U0ALICE");
    cJSON_AddStringToObject(b, "user_name", o->user_name ? o->user_name : "alice");
    cJSON_AddStringToObject(b, "channel", o->channel ? o->channel : "C1");
    cJSON_AddStringToObject(b, "ts", ts1);
    cJSON_AddStringToObject(b, "action_id", action_id);
    cJSON_AddStringToObject(b, "value", o->value ? o->value : EV1 ":7");
    if (o->type)
        cJSON_AddStringToObject(b, "type", o->type);
    cJSON_AddNumberToObject(b, "age_seconds", o->age_seconds);
    char *body = cJSON_PrintUnformatted(b);
    cJSON_Delete(b);
    cJSON *a = testlib_fake_slack_control(&slack, "/_fake/interact", body);
    free(body);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(a, "status");
    long status = cJSON_IsNumber(st) ? (long)st->valuedouble : -1;
    cJSON_Delete(a);
    return status;
}

/* EV1's message in the fake as JSON text (malloc'd), and how often it was edited. */
static char *message_c1(int *updates)
{
    cJSON *l = testlib_fake_slack_control(&slack, "/_fake/messages?channel=C1", NULL);
    const cJSON *m = cJSON_GetArrayItem(l, 0);
    ck_assert_msg(m, "the fake has no message in C1");
    const cJSON *u = cJSON_GetObjectItemCaseSensitive(m, "updates");
    *updates = cJSON_IsNumber(u) ? u->valueint : 0;
    char *s = cJSON_PrintUnformatted(m);
    cJSON_Delete(l);
    return s;
}

static long db_long(const char *sql)
{
    return testlib_db_long(conn, sql);
}

/* A series' value from herald-api's /metrics (series: the name with its
 * labels as rendered); 0 when absent. Read over HTTP: Check runs each test
 * in a child process, the server's counters live in this one. */
static double counter(const char *series)
{
    char *url = testlib_fmt("%s/metrics", api_url), err[256];
    char *body = testlib_http_body(url, NULL, NULL, err, sizeof err);
    free(url);
    ck_assert_msg(body, "/metrics: %s", err);
    double v = 0;
    size_t n = strlen(series);
    for (const char *p = body; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (strncmp(p, series, n) == 0 && p[n] == ' ')
            v = strtod(p + n + 1, NULL);
    free(body);
    return v;
}

/* ================================================================ signature */

START_TEST(signed_press_is_recorded_and_acknowledged)
{
    double before = counter("herald_api_slack_actions_total{action=\"ack\",outcome=\"ok\"}");
    ck_assert_int_eq(press("herald_ack", NULL), 200);
    ck_assert_int_eq(db_long("SELECT count(*) FROM slack_actions WHERE team_id = 'T1' AND "
                             "user_id = 'U0ALICE' AND user_name = 'alice' AND action = 'ack' AND "
                             "outcome = 'ok' AND channel = 'C1' AND event_id = '" EV1
                             "' AND target_id = 7 AND tenant_id = 'acme' AND message_ts IS NOT "
                             "NULL"),
                     1);
    int updates = 0;
    char *m = message_c1(&updates);
    ck_assert_int_eq(updates, 1);
    ck_assert_msg(strstr(m, "Acknowledged by <@U0ALICE>"), "%s", m);
    ck_assert_msg(!strstr(m, "herald_ack"), "the Acknowledge button stays: %s", m);
    free(m);
    ck_assert(counter("herald_api_slack_actions_total{action=\"ack\",outcome=\"ok\"}") ==
              before + 1);
}
END_TEST

START_TEST(wrong_secret_is_refused)
{
    double before = counter("herald_api_slack_signature_failures_total{reason=\"mismatch\"}");
    press_opts o = {.secret = "not-the-signing-secret"};
    ck_assert_int_eq(press("herald_snooze", &o), 401);
    ck_assert_int_eq(db_long("SELECT count(*) FROM slack_actions"), 0);
    ck_assert_int_eq(db_long("SELECT count(*) FROM silences"), 0);
    int updates = 0;
    free(message_c1(&updates));
    ck_assert_int_eq(updates, 0);
    ck_assert(counter("herald_api_slack_signature_failures_total{reason=\"mismatch\"}") ==
              before + 1);
}
END_TEST

START_TEST(old_timestamp_is_refused)
{
    press_opts o = {.age_seconds = 360};
    ck_assert_int_eq(press("herald_mute", &o), 401);
    ck_assert_int_eq(db_long("SELECT count(*) FROM slack_actions"), 0);
    ck_assert_int_eq(db_long("SELECT count(*) FROM silences"), 0);
    /* four minutes is within the window */
    o.age_seconds = 240;
    ck_assert_int_eq(press("herald_ack", &o), 200);
    ck_assert_int_eq(db_long("SELECT count(*) FROM slack_actions WHERE outcome = 'ok'"), 1);
}
END_TEST

START_TEST(not_configured_without_a_secret)
{
    api_config cfg;
    api_config_defaults(&cfg);
    cfg.listen = "127.0.0.1:0";
    cfg.database_url = db_url;
    cfg.secret_key = SECRET_KEY;
    cfg.threads = 1;
    cfg.metrics = reg;
    char err[512];
    api_server *s = api_server_new(&cfg, err, sizeof err);
    ck_assert_msg(s, "%s", err);
    ck_assert_msg(api_server_start(s, err, sizeof err) == 0, "%s", err);
    char *url = testlib_fmt("http://127.0.0.1:%u/slack/interactivity", api_server_port(s));
    long status = 0;
    char *body = testlib_http_body(url, "payload=%7B%7D", &status, err, sizeof err);
    ck_assert_msg(body, "%s", err);
    ck_assert_int_eq(status, 503);
    ck_assert_msg(strstr(body, "interactivity is not configured"), "%s", body);
    free(body);
    free(url);
    api_server_destroy(s);
}
END_TEST

/* ================================================================ actions */

START_TEST(snooze_makes_a_24h_silence_and_updates_the_message)
{
    ck_assert_int_eq(press("herald_snooze", NULL), 200);
    ck_assert_int_eq(
        db_long("SELECT count(*) FROM silences WHERE tenant_id = 'acme' AND check_type = "
                "'weak_mfa' AND target_id = 7 AND team_id IS NULL AND author = 'slack:T1/U0ALICE' "
                "AND reason = 'Snoozed from Slack by alice' AND expired_at IS NULL "
                "AND ends_at BETWEEN now() + interval '23 hours 59 minutes' "
                "AND now() + interval '24 hours 1 minute' "
                "AND created_from_event_id = '" EV1 "' AND created_from_target_id = 7"),
        1);
    ck_assert_int_eq(db_long("SELECT count(*) FROM slack_actions a JOIN silences s ON "
                             "s.id = a.silence_id WHERE a.action = 'snooze' AND a.outcome = 'ok'"),
                     1);
    int updates = 0;
    char *m = message_c1(&updates);
    ck_assert_int_eq(updates, 1);
    ck_assert_msg(strstr(m, "Snoozed until"), "%s", m);
    free(m);
}
END_TEST

START_TEST(mute_then_unmute)
{
    ck_assert_int_eq(press("herald_mute", NULL), 200);
    long id = db_long("SELECT id FROM silences WHERE ends_at IS NULL AND expired_at IS NULL AND "
                      "reason = 'Muted from Slack by alice' AND target_id = 7");
    ck_assert_int_gt(id, 0);
    int updates = 0;
    char *m = message_c1(&updates);
    ck_assert_msg(strstr(m, "Muted") && strstr(m, "herald_unmute"), "%s", m);
    free(m);

    press_opts bob = {.user = "U0BOB", .user_name = "bob"};
    ck_assert_int_eq(press("herald_unmute", &bob), 200);
    char *q = testlib_fmt("SELECT count(*) FROM silences WHERE id = %ld AND expired_at IS NOT NULL "
                          "AND expired_by = 'slack:T1/U0BOB'",
                          id);
    ck_assert_int_eq(db_long(q), 1);
    free(q);
    q = testlib_fmt("SELECT count(*) FROM slack_actions WHERE action = 'unmute' AND outcome = "
                    "'ok' AND silence_id = %ld",
                    id);
    ck_assert_int_eq(db_long(q), 1);
    free(q);
    m = message_c1(&updates);
    ck_assert_int_eq(updates, 2);
    ck_assert_msg(strstr(m, "herald_mute") && !strstr(m, "herald_unmute"), "%s", m);
    free(m);
    /* Nothing left to unmute: recorded, nothing changes. */
    ck_assert_int_eq(press("herald_unmute", &bob), 200);
    ck_assert_int_eq(db_long("SELECT count(*) FROM slack_actions WHERE action = 'unmute' AND "
                             "silence_id IS NULL AND outcome = 'ok'"),
                     1);
}
END_TEST

START_TEST(a_new_snooze_replaces_the_mute)
{
    ck_assert_int_eq(press("herald_mute", NULL), 200);
    ck_assert_int_eq(press("herald_snooze", NULL), 200);
    /* one live silence made from the message: the snooze */
    ck_assert_int_eq(db_long("SELECT count(*) FROM silences WHERE expired_at IS NULL"), 1);
    ck_assert_int_eq(db_long("SELECT count(*) FROM silences WHERE expired_at IS NULL AND "
                             "ends_at IS NOT NULL"),
                     1);
}
END_TEST

/* ================================================================ who may act */

START_TEST(listed_users_and_groups)
{
    testlib_db_exec(conn, "INSERT INTO tenant_settings (tenant_id, slack_actions, action_users, "
                          "action_groups) VALUES ('acme', 'listed', '{U0BOB}', '{S0SEC}')");
    /* Alice is neither listed nor in S0SEC: refused, told, nothing changed. */
    ck_assert_int_eq(press("herald_snooze", NULL), 200);
    ck_assert_int_eq(db_long("SELECT count(*) FROM slack_actions WHERE user_id = 'U0ALICE' AND "
                             "outcome = 'forbidden' AND action = 'snooze' AND tenant_id = 'acme'"),
                     1);
    ck_assert_int_eq(db_long("SELECT count(*) FROM silences"), 0);
    int updates = 0;
    free(message_c1(&updates));
    ck_assert_int_eq(updates, 0);
    cJSON *r = testlib_fake_slack_control(&slack, "/_fake/responses", NULL);
    ck_assert_int_eq(cJSON_GetArraySize(r), 1);
    char *rs = cJSON_PrintUnformatted(r);
    ck_assert_msg(strstr(rs, "\"response_type\":\"ephemeral\"") && strstr(rs, "not one of"), "%s",
                  rs);
    free(rs);
    cJSON_Delete(r);

    /* Bob is listed. */
    press_opts bob = {.user = "U0BOB", .user_name = "bob"};
    ck_assert_int_eq(press("herald_ack", &bob), 200);
    ck_assert_int_eq(
        db_long("SELECT count(*) FROM slack_actions WHERE user_id = 'U0BOB' AND outcome = 'ok'"),
        1);

    /* A member of S0SEC, asked from Slack (usergroups.users.list). */
    press_opts groupie = {.user = "U0GROUPIE", .user_name = "groupie"};
    ck_assert_int_eq(press("herald_snooze", &groupie), 200);
    ck_assert_int_eq(db_long("SELECT count(*) FROM slack_actions WHERE user_id = 'U0GROUPIE' AND "
                             "outcome = 'ok'"),
                     1);
    ck_assert_int_eq(db_long("SELECT count(*) FROM silences WHERE author = 'slack:T1/U0GROUPIE'"),
                     1);
    cJSON *st = testlib_fake_slack_control(&slack, "/_fake/stats", NULL);
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(st, "requests"), "usergroups.users.list");
    ck_assert(cJSON_IsNumber(n) && n->valueint >= 1);
    cJSON_Delete(st);

    /* 'none': nobody. */
    testlib_db_exec(conn, "UPDATE tenant_settings SET slack_actions = 'none'");
    ck_assert_int_eq(press("herald_mute", &bob), 200);
    ck_assert_int_eq(db_long("SELECT count(*) FROM slack_actions WHERE user_id = 'U0BOB' AND "
                             "action = 'mute' AND outcome = 'forbidden'"),
                     1);
    ck_assert_int_eq(db_long("SELECT count(*) FROM silences WHERE ends_at IS NULL"), 0);
}
END_TEST

START_TEST(another_workspaces_message_is_stale)
{
    /* EV2 is target 8's message in T2's C2; pressed from T1's C1. */
    press_opts o = {.value = EV2 ":8"};
    ck_assert_int_eq(press("herald_mute", &o), 200);
    /* The right workspace but another channel. */
    press_opts o2 = {.value = EV2 ":8", .team = "T2", .channel = "C1"};
    ck_assert_int_eq(press("herald_mute", &o2), 200);
    /* A value naming nothing. */
    press_opts o3 = {.value = "not-a-herald-value"};
    ck_assert_int_eq(press("herald_snooze", &o3), 200);
    ck_assert_int_eq(db_long("SELECT count(*) FROM slack_actions WHERE outcome = 'stale'"), 3);
    ck_assert_int_eq(db_long("SELECT count(*) FROM slack_actions WHERE outcome = 'stale' AND "
                             "event_id IS NULL AND detail LIKE '%names no Herald message%'"),
                     1);
    ck_assert_int_eq(db_long("SELECT count(*) FROM silences"), 0);
}
END_TEST

START_TEST(other_interactions_are_ignored)
{
    press_opts o = {.type = "view_submission"};
    ck_assert_int_eq(press("herald_ack", &o), 200);
    ck_assert_int_eq(press(RENDER_ACTION_OPEN, NULL), 200);
    ck_assert_int_eq(db_long("SELECT count(*) FROM slack_actions"), 0);
}
END_TEST

/* ================================================================ nudge */

START_TEST(nudge_queues_one_delivery_per_email_once)
{
    testlib_db_exec(conn, "INSERT INTO remediations (tenant_id, check_type, text, updated_by) "
                          "VALUES ('acme', 'weak_mfa', 'Use a security key.', 'cli:test')");
    PGconn *listener = testlib_db_connect(db_url);
    PQclear(PQexec(listener, "LISTEN herald_wake"));

    ck_assert_int_eq(press("herald_nudge", NULL), 200);
    ck_assert_int_eq(db_long("SELECT count(*) FROM deliveries WHERE kind = 'nudge' AND state = "
                             "'pending' AND ref_event_id = '" EV1
                             "' AND target_id = 7 AND tenant_id = 'acme'"),
                     2);
    ck_assert_int_eq(
        db_long("SELECT count(*) FROM events e JOIN deliveries d ON d.event_id = e.event_id "
                "WHERE e.kind = 'nudge' AND d.kind = 'nudge' "
                "AND e.event_id = md5('" EV1 ":7:' || (e.payload->'user'->>'email'))::uuid "
                "AND e.payload->>'schema' = 'herald.nudge.v1' "
                "AND e.payload->>'ref_event_id' = '" EV1 "' "
                "AND e.payload->>'check_type' = 'weak_mfa' "
                "AND e.payload->>'check_name' = 'Weak MFA' AND e.payload->>'severity' = 'high' "
                "AND e.payload->>'text' = 'Use a security key.' "
                "AND e.payload->'user'->>'email' IN ('ada@acme.example', 'bob@acme.example')"),
        2);
    /* The first of Ada's two entries in the sample. */
    ck_assert_int_eq(db_long("SELECT count(*) FROM events WHERE kind = 'nudge' AND "
                             "payload->'user'->>'id' = 'u1' AND "
                             "payload->'user'->>'display_name' = 'Ada'"),
                     1);
    /* herald-slack is woken for the workspace (the notification travels after the
     * commit: wait for it a little). */
    PGnotify *nt = NULL;
    for (int i = 0; i < 50 && !nt; i++) {
        PQconsumeInput(listener);
        nt = PQnotifies(listener);
        if (!nt)
            usleep(100 * 1000);
    }
    ck_assert_msg(nt, "no NOTIFY herald_wake");
    ck_assert_str_eq(nt->relname, "herald_wake");
    ck_assert_str_eq(nt->extra, "T1");
    PQfreemem(nt);
    PQfinish(listener);

    /* A second press adds nothing. */
    ck_assert_int_eq(press("herald_nudge", NULL), 200);
    ck_assert_int_eq(db_long("SELECT count(*) FROM deliveries WHERE kind = 'nudge'"), 2);
    ck_assert_int_eq(db_long("SELECT count(*) FROM events WHERE kind = 'nudge'"), 2);
    ck_assert_int_eq(db_long("SELECT count(*) FROM slack_actions WHERE action = 'nudge' AND "
                             "outcome = 'ok'"),
                     2);
}
END_TEST

START_TEST(nudge_needs_the_target_to_opt_in)
{
    testlib_db_exec(conn, "UPDATE targets SET nudge_enabled = false WHERE id = 7");
    ck_assert_int_eq(press("herald_nudge", NULL), 200);
    testlib_db_exec(conn, "UPDATE targets SET nudge_enabled = true WHERE id = 7");
    ck_assert_int_eq(db_long("SELECT count(*) FROM deliveries WHERE kind = 'nudge'"), 0);
    ck_assert_int_eq(db_long("SELECT count(*) FROM slack_actions WHERE action = 'nudge' AND "
                             "outcome = 'forbidden'"),
                     1);
}
END_TEST

/* ================================================================ main */

static void start_all(void)
{
    testlib_fake_slack_start_json(fake_state, (const char *const[]){"--rate", "0", NULL}, &slack);
    PGconn *c = testlib_db_connect(db_url);
    unsigned char key[CRYPTO_KEY_LEN];
    char err[512];
    if (crypto_key_from_base64(SECRET_KEY, key, err, sizeof err) != 0)
        abort();
    char *t1 = testlib_sealed_token_hex(key, "xoxb-t1"),
         *t2 = testlib_sealed_token_hex(key, "xoxb-t2");
    char *sql = testlib_fmt("INSERT INTO workspaces (team_id, team_name, token_enc) VALUES "
                            "('T1', 'Acme', '%s'), ('T2', 'Globex', '%s')",
                            t1, t2);
    testlib_db_exec(c, sql);
    free(sql);
    free(t1);
    free(t2);
    testlib_db_exec(c, "INSERT INTO targets (id, tenant_id, team_id, name, destination, "
                       "destination_kind, use_failed_check, nudge_enabled) VALUES "
                       "(7, 'acme', 'T1', 'sec', 'C1', 'channel', true, true), "
                       "(8, 'globex', 'T2', 'ops', 'C2', 'channel', true, false)");
    PQfinish(c);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    testlib_db_create("interact", db_url, sizeof db_url);
    start_all();
    Suite *s = suite_create("interact");
    TCase *tc = tcase_create("interact");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    const TTest *tests[] = {
        signed_press_is_recorded_and_acknowledged,
        wrong_secret_is_refused,
        old_timestamp_is_refused,
        not_configured_without_a_secret,
        snooze_makes_a_24h_silence_and_updates_the_message,
        mute_then_unmute,
        a_new_snooze_replaces_the_mute,
        listed_users_and_groups,
        another_workspaces_message_is_stale,
        other_interactions_are_ignored,
        nudge_queues_one_delivery_per_email_once,
        nudge_needs_the_target_to_opt_in,
    };
    for (size_t i = 0; i < sizeof tests / sizeof tests[0]; i++)
        testlib_add_test(tc, tests[i], "INTERACT_TEST");
    suite_add_tcase(s, tc);
    int rc = testlib_run_suite(s);
    testlib_fake_slack_stop(&slack);
    curl_global_cleanup();
    return rc;
}
