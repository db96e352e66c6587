/*
 * herald-slack (workers/slack/sender.h) against PostgreSQL, librdkafka's mock
 * cluster and the real fake-slack program: messages arrive once in the right
 * channel, rows end sent/failed with Slack's code and a readable reason,
 * pacing and 429s, durable retries across restarts, duplicates, email
 * destinations, revoked installations, digests, threads, faults (5xx,
 * dropped connections, slow answers), SIGKILL of the real binary, and a
 * rebalance between two senders.
 *
 * Each test runs in its own forked child with its own mock cluster (its
 * threads would not survive a fork) and empty tables; fake-slack is shared
 * and reset before each test.
 */
#include "testlib.h"

#include "common/crypto.h"
#include "common/db.h"
#include "common/event.h"
#include "common/kafka.h"
#include "common/log.h"
#include "workers/router/router.h"
#include "workers/slack/sender.h"
#include "store/token_refresh.h"
#include "common/util.h"

#include <cJSON.h>
#include <check.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char url[512];
static testlib_kafka K;
static PGconn *db;
static rd_kafka_t *P; /* producer of routed deliveries */
static char key_b64[64];
static unsigned char key[CRYPTO_KEY_LEN];
static crypto_keyring ring[1]; /* key, as the store takes it */

#define TOKEN1 "xoxb-team-one"
#define TOKEN2 "xoxb-dead" /* revoked in fake-slack */

/* ==== fake-slack ========================================================================= */

static testlib_fake_slack fake;

static const char state_json[] =
    "{\"workspaces\":[{\"id\":\"T1\",\"name\":\"One\",\"tokens\":[\"" TOKEN1 "\"]},"
    "{\"id\":\"T2\",\"name\":\"Two\",\"tokens\":[],\"revoked_tokens\":[\"" TOKEN2 "\"]},"
    "{\"id\":\"T3\",\"name\":\"Three\",\"tokens\":[\"xoxb-three\"]},"
    "{\"id\":\"T4\",\"name\":\"Four\",\"tokens\":[\"xoxb-four\"]}],"
    "\"channels\":[{\"id\":\"CPRIV\",\"name\":\"secret\",\"private\":true,\"member\":false},"
    "{\"id\":\"CARCH\",\"name\":\"old\",\"archived\":true,\"member\":true},"
    "{\"id\":\"CNAMED\",\"name\":\"sec-alerts\",\"member\":true}],"
    "\"users\":[{\"id\":\"UALICE\",\"email\":\"alice@example.com\",\"name\":\"alice\"}],"
    "\"auto_channels\":true}";

/* Slack's pace: 1 message a second per channel, burst 3. */
static const char *const fake_args[] = {
    "--rate", "1", "--burst", "3", "--seed", "7", "--log-level", "warn", NULL,
};

static cJSON *control(const char *path, const char *body)
{
    return testlib_fake_slack_control(&fake, path, body);
}

/* GET url; returns the body (malloc'd); *code gets the HTTP status. */
static char *http_get(const char *u, long *code)
{
    char err[512];
    char *body = testlib_http_body(u, NULL, code, err, sizeof err);
    ck_assert_msg(body != NULL, "GET %s", err);
    return body;
}

static void control_do(const char *path, const char *body)
{
    cJSON_Delete(control(path, body));
}

/* Messages fake-slack accepted in channel (all when NULL). */
static cJSON *messages(const char *channel)
{
    char p[256];
    if (channel)
        snprintf(p, sizeof p, "/_fake/messages?channel=%s", channel);
    else
        snprintf(p, sizeof p, "/_fake/messages");
    return control(p, NULL);
}

static int count_messages(const char *channel)
{
    cJSON *m = messages(channel);
    int n = cJSON_GetArraySize(m);
    cJSON_Delete(m);
    return n;
}

/* How many accepted messages in channel contain needle in their text. */
static int count_text(const char *channel, const char *needle)
{
    cJSON *m = messages(channel);
    int n = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, m)
    {
        cJSON *t = cJSON_GetObjectItem(it, "text");
        if (cJSON_IsString(t) && strstr(t->valuestring, needle))
            n++;
    }
    cJSON_Delete(m);
    return n;
}

static double stat_num(const char *path1, const char *path2, const char *path3)
{
    cJSON *s = control("/_fake/stats", NULL);
    cJSON *o = cJSON_GetObjectItem(s, path1);
    if (o && path2)
        o = cJSON_GetObjectItem(o, path2);
    if (o && path3)
        o = cJSON_GetObjectItem(o, path3);
    double v = cJSON_IsNumber(o) ? o->valuedouble : 0;
    cJSON_Delete(s);
    return v;
}

/* ==== fixture ============================================================================= */

static void sql(const char *q)
{
    testlib_db_exec(db, q);
}

static long sqll(const char *q)
{
    return testlib_db_long(db, q);
}

static char *sqls(const char *q)
{
    PGresult *r = PQexec(db, q);
    ck_assert_msg(PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", q, PQresultErrorMessage(r));
    char *v = PQntuples(r) && !PQgetisnull(r, 0, 0) ? xstrdup(PQgetvalue(r, 0, 0)) : NULL;
    PQclear(r);
    return v;
}

static long sqlf(const char *f, ...) __attribute__((format(printf, 1, 2)));
static long sqlf(const char *f, ...)
{
    char q[2048];
    va_list ap;
    va_start(ap, f);
    vsnprintf(q, sizeof q, f, ap);
    va_end(ap);
    return sqll(q);
}

static char *sqlsf(const char *f, ...) __attribute__((format(printf, 1, 2)));
static char *sqlsf(const char *f, ...)
{
    char q[2048];
    va_list ap;
    va_start(ap, f);
    vsnprintf(q, sizeof q, f, ap);
    va_end(ap);
    return sqls(q);
}

static void add_workspace(const char *team, const char *token)
{
    char *hex = testlib_sealed_token_hex(key, token);
    ck_assert_ptr_nonnull(hex);
    const char *params[2] = {team, hex};
    PGresult *r = PQexecParams(db,
                               "INSERT INTO workspaces (team_id, team_name, token_enc) "
                               "VALUES ($1, $1, $2::bytea)",
                               2, NULL, params, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);
    free(hex);
}

static long add_target(const char *team, const char *dest)
{
    return sqlf("INSERT INTO targets (tenant_id, team_id, name, destination, destination_kind,"
                " use_failed_check, use_data_collection) VALUES ('acme', '%s', 't-%s', '%s', '%s',"
                " true, true) RETURNING id",
                team, dest, dest, strchr(dest, '@') ? "email" : "channel");
}

static void setup(void)
{
    db = testlib_db_connect(url);
    sql("TRUNCATE delivery_stats_delta, deliveries, events, target_checks, targets, workspaces, "
        "slack_user_cache, "
        "slack_threads, check_passes CASCADE");
    add_workspace("T1", TOKEN1);
    add_workspace("T2", TOKEN2);
    add_workspace("T3", "xoxb-three");
    add_workspace("T4", "xoxb-four");
    control_do("/_fake/reset", "{}");
    testlib_kafka_start(&K, 1, 4);
    char err[512];
    P = kafka_producer_new(K.bootstraps, NULL, NULL, err, sizeof err);
    ck_assert_msg(P != NULL, "%s", err);
}

static void teardown(void)
{
    rd_kafka_flush(P, 5000);
    rd_kafka_destroy(P);
    testlib_kafka_destroy(&K);
    PQfinish(db);
}

/* ==== routing by hand ===================================================================== */

static const char run_id[] = "0b8e8f4e-2f7e-4a51-9a0b-3c1d2e4f5a6b";

/* A check result named `name` with `failing` users (the display name tries to ping; no
 * sample when it passes). */
static char *check_event(char eid[37], const char *type, const char *name, long failing,
                         const char *run, const char *at)
{
    util_uuid4(eid);
    return testlib_fmt(
        "{\"schema\":\"herald.check_result.v1\",\"event_id\":\"%s\",\"tenant_id\":\"acme\","
        "\"run_id\":\"%s\",\"trigger\":\"manual\",\"check\":{\"type\":\"%s\",\"name\":"
        "\"%s\",\"severity\":\"high\"},\"evaluated_at\":\"%s\",\"failing_count\":%ld,"
        "\"total_count\":500,\"failing_users\":[%s]}",
        eid, run, type, name, at, failing,
        failing > 0 ? "{\"id\":\"u1\",\"display_name\":\"<!channel> Mallory\","
                      "\"email\":\"m@example.com\"}"
                    : "");
}

/* Stores the event and a pending delivery to target, returns the delivery id; publishes
 * the routed delivery `copies` times (duplicates are what redeliveries look like). */
static long route_kind(long target, const char *team, const char *dest, const char *eid,
                       const char *json, const char *check_type, int copies, const char *ref);

static long route_json(long target, const char *team, const char *dest, const char *eid,
                       const char *json, const char *check_type, int copies)
{
    return route_kind(target, team, dest, eid, json, check_type, copies, NULL);
}

/* route_json for a notification (ref NULL) or the resolve of the notification ref. */
static long route_kind(long target, const char *team, const char *dest, const char *eid,
                       const char *json, const char *check_type, int copies, const char *ref)
{
    const char *p1[4] = {eid, json, check_type};
    PGresult *r = PQexecParams(db,
                               "INSERT INTO events (event_id, tenant_id, kind, check_type, "
                               "payload) VALUES ($1, 'acme', 'check_result', $3, $2::jsonb) "
                               "ON CONFLICT DO NOTHING",
                               3, NULL, p1, NULL, NULL, 0);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
    PQclear(r);
    long id = sqlf("INSERT INTO deliveries (event_id, target_id, tenant_id, kind, ref_event_id) "
                   "VALUES ('%s', %ld, 'acme', '%s', %s%s%s) RETURNING id",
                   eid, target, ref ? "resolve" : "notify", ref ? "'" : "", ref ? ref : "NULL",
                   ref ? "'" : "");
    routed_delivery d = {.delivery_id = id,
                         .target_id = target,
                         .tenant_id = "acme",
                         .team_id = (char *)team,
                         .destination = (char *)dest,
                         .destination_is_email = strchr(dest, '@') != NULL,
                         .kind = EVENT_CHECK_RESULT,
                         .event_json = (char *)json,
                         .routed_at_ms = util_now_wall_ms(),
                         .delivery_kind = ref ? ROUTED_RESOLVE : ROUTED_NOTIFY};
    memcpy(d.event_id, eid, 37);
    if (ref)
        snprintf(d.ref_event_id, sizeof d.ref_event_id, "%s", ref);
    char *wire = routed_delivery_encode(&d);
    ck_assert_ptr_nonnull(wire);
    for (int i = 0; i < copies; i++) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            P, RD_KAFKA_V_TOPIC(TOPIC_DELIVERIES), RD_KAFKA_V_KEY(team, strlen(team)),
            RD_KAFKA_V_VALUE(wire, strlen(wire)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_END);
        ck_assert_int_eq(err, 0);
    }
    free(wire);
    return id;
}

static long route(long target, const char *team, const char *dest, const char *check_name)
{
    char eid[37];
    char *json = check_event(eid, "weak_mfa", check_name, 12, run_id, "2026-11-28T09:00:00Z");
    long id = route_json(target, team, dest, eid, json, "weak_mfa", 1);
    free(json);
    return id;
}

static void flush(void)
{
    ck_assert_int_eq(rd_kafka_flush(P, 10000), 0);
}

/* Waits until n deliveries (all when ids NULL) are final; fails after timeout_s. */
static void wait_final(long n, int timeout_s)
{
    for (int i = 0; i < timeout_s * 10; i++) {
        if (sqll("SELECT count(*) FROM deliveries WHERE state IN ('sent', 'failed')") >= n)
            return;
        usleep(100 * 1000);
    }
    char *states = sqls("SELECT string_agg(id || ':' || state || ':' || attempts || ':' || "
                        "coalesce(last_error_code, '-'), ' ' ORDER BY id) FROM deliveries");
    ck_abort_msg("only %ld of %ld deliveries final after %ds: %s",
                 sqll("SELECT count(*) FROM deliveries WHERE state IN ('sent', 'failed')"), n,
                 timeout_s, states);
}

static void wait_sql(const char *q, long want, int timeout_s)
{
    for (int i = 0; i < timeout_s * 10; i++) {
        if (sqll(q) == want)
            return;
        usleep(100 * 1000);
    }
    ck_abort_msg("%s: %ld, wanted %ld after %ds", q, sqll(q), want, timeout_s);
}

/* ==== the sender, in-process or as the real binary ========================================== */

static void test_config(sender_config *c, const char *group)
{
    sender_config_default(c);
    c->common.kafka_brokers = (char *)K.bootstraps;
    c->common.database_url = url;
    c->common.slack_api_url = fake.api_url;
    c->common.secret_key = key_b64;
    c->group = (char *)group;
    c->instance_id = (char *)group; /* one sender per test; a second one gets its own */
    c->workspace_rate = 0;          /* fake-slack paces channels only */
    c->retry_base_ms = 200;
    c->retry_cap_ms = 2000;
    c->retry_poll_ms = 100;
    c->request_timeout_ms = 3000;
    c->connect_timeout_ms = 1000;
    c->claim_lease_ms = 5000;
    c->shutdown_timeout_ms = 5000;
    c->takeover_grace_ms = 1000;
}

typedef testlib_sender_thread running;

static running *start_sender(const sender_config *c)
{
    running *r = xcalloc(1, sizeof *r);
    char err[512];
    r->s = sender_new(c, err, sizeof err);
    ck_assert_msg(r->s != NULL, "sender_new: %s", err);
    ck_assert_int_eq(testlib_sender_thread_start(r), 0);
    return r;
}

static sender_stats stop_sender(running *r)
{
    ck_assert_int_eq(testlib_sender_thread_stop(r), 0);
    sender_stats st;
    sender_get_stats(r->s, &st);
    sender_destroy(r->s);
    free(r);
    return st;
}

/* The suite's process (each test runs in a forked child of it under CK_FORK). */
static pid_t runner_pid;

/* Where a test that runs the real binary keeps its log: removed when the test passes, kept
 * (and named by main) when it fails. */
static void binary_log(char *out, size_t size, const char *test)
{
    snprintf(out, size, "/tmp/herald-sender-%s-%d.log", test, (int)runner_pid);
}

static const char *const binary_log_tests[] = {"kill", "term"};

static pid_t spawn_binary(const char *group, const char *log, const char *const *extra)
{
    char prog[512];
    testlib_program("workers", "herald-slack", prog, sizeof prog);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        FILE *f = freopen(log, "a", stderr);
        (void)f;
        setenv("HERALD_KAFKA_BROKERS", K.bootstraps, 1);
        setenv("HERALD_DATABASE_URL", url, 1);
        setenv("HERALD_SLACK_API_URL", fake.api_url, 1);
        setenv("HERALD_SECRET_KEY", key_b64, 1);
        const char *argv[32] = {prog,   "--group",           group,   "--workspace-rate-per-minute",
                                "0",    "--request-timeout", "2s",    "--claim-lease",
                                "4s",   "--retry-base",      "200ms", "--retry-poll",
                                "100ms"};
        int n = 13;
        for (int i = 0; extra && extra[i] && n < 31; i++)
            argv[n++] = extra[i];
        argv[n] = NULL;
        execv(prog, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* ==== tests: issue 2 ====================================================================== */

START_TEST(sends_each_once_in_its_channel)
{
    long t[5];
    char ch[5][8];
    for (int i = 0; i < 5; i++) {
        snprintf(ch[i], sizeof ch[i], "CA%d", i);
        t[i] = add_target("T1", ch[i]);
    }
    long ids[10];
    for (int i = 0; i < 10; i++) {
        char name[32];
        snprintf(name, sizeof name, "Check number %d", i);
        ids[i] = route(t[i % 5], "T1", ch[i % 5], name);
    }
    flush();
    sender_config c;
    test_config(&c, "g-basic");
    char maddr[64];
    snprintf(maddr, sizeof maddr, "127.0.0.1:%d", 20000 + getpid() % 20000);
    c.metrics_addr = maddr;
    running *r = start_sender(&c);
    wait_final(10, 60);
    /* /metrics and /healthz while it runs */
    char murl[128];
    snprintf(murl, sizeof murl, "http://%s/metrics", maddr);
    char *metrics = http_get(murl, NULL);
    ck_assert_ptr_nonnull(strstr(
        metrics, "herald_slack_requests_total{method=\"chat.postMessage\",outcome=\"ok\"} 10"));
    ck_assert_ptr_nonnull(strstr(metrics, "herald_slack_deliveries_total{state=\"sent\"} 10"));
    ck_assert_ptr_nonnull(strstr(metrics, "herald_slack_delivery_latency_seconds_count 10"));
    ck_assert_ptr_nonnull(strstr(metrics, "herald_slack_channels_waiting"));
    free(metrics);
    long code = 0;
    snprintf(murl, sizeof murl, "http://%s/healthz", maddr);
    free(http_get(murl, &code));
    ck_assert_int_eq(code, 200);
    sender_stats st = stop_sender(r);
    ck_assert_int_eq(st.sent, 10);
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries WHERE state = 'sent' AND attempts = 1 "
                          "AND slack_ts IS NOT NULL AND sent_at IS NOT NULL"),
                     10);
    for (int i = 0; i < 10; i++) {
        char name[32];
        snprintf(name, sizeof name, "Check number %d", i);
        /* once, in its own channel, and nowhere else */
        ck_assert_int_eq(count_text(ch[i % 5], name), 1);
        ck_assert_int_eq(count_text(NULL, name), 1);
        char *chan = sqlsf("SELECT slack_channel FROM deliveries WHERE id = %ld", ids[i]);
        ck_assert_str_eq(chan, ch[i % 5]);
        free(chan);
        /* the ts recorded is the one Slack gave */
        char *ts = sqlsf("SELECT slack_ts FROM deliveries WHERE id = %ld", ids[i]);
        cJSON *m = messages(ch[i % 5]);
        bool found = false;
        cJSON *it;
        cJSON_ArrayForEach(it, m)
        {
            found |= !strcmp(cJSON_GetObjectItem(it, "ts")->valuestring, ts) &&
                     strstr(cJSON_GetObjectItem(it, "text")->valuestring, name);
        }
        cJSON_Delete(m);
        free(ts);
        ck_assert_msg(found, "ts of delivery %ld not among the channel's messages", ids[i]);
    }
    /* targets show their last success; the display name pinged nobody */
    ck_assert_int_eq(sqll("SELECT count(*) FROM targets WHERE last_success_at IS NOT NULL"), 5);
    ck_assert_int_eq(stat_num("pings", NULL, NULL), 0);
}
END_TEST

START_TEST(duplicates_post_once)
{
    long t = add_target("T1", "CDUP");
    char eid[37];
    char *json =
        check_event(eid, "weak_mfa", "Duplicated check", 3, run_id, "2026-11-28T09:00:00Z");
    long id = route_json(t, "T1", "CDUP", eid, json, "weak_mfa", 3);
    free(json);
    flush();
    sender_config c;
    test_config(&c, "g-dup");
    running *r = start_sender(&c);
    wait_final(1, 30);
    sleep(1); /* let the copies be consumed */
    stop_sender(r);
    /* Redelivery after the fact: a new sender in another group reads all three again. */
    test_config(&c, "g-dup-again");
    r = start_sender(&c);
    sleep(6);
    stop_sender(r);
    ck_assert_int_eq(count_messages("CDUP"), 1);
    ck_assert_int_eq(sqlf("SELECT attempts FROM deliveries WHERE id = %ld", id), 1);
}
END_TEST

START_TEST(failures_end_failed_with_code_and_reason)
{
    long priv = add_target("T1", "CPRIV");
    long arch = add_target("T1", "CARCH");
    long nobody = add_target("T1", "nobody@example.com");
    long dead = add_target("T2", "CDEAD");
    long d_priv = route(priv, "T1", "CPRIV", "Private check");
    long d_arch = route(arch, "T1", "CARCH", "Archived check");
    long d_nobody = route(nobody, "T1", "nobody@example.com", "Nobody check");
    long d_dead = route(dead, "T2", "CDEAD", "Dead token check");
    flush();
    sender_config c;
    test_config(&c, "g-fail");
    running *r = start_sender(&c);
    wait_final(4, 60);

    char *code, *reason;
    code =
        sqlsf("SELECT last_error_code FROM deliveries WHERE id = %ld AND state = 'failed'", d_priv);
    reason = sqlsf("SELECT last_error FROM deliveries WHERE id = %ld", d_priv);
    ck_assert_str_eq(code, "not_in_channel");
    ck_assert_ptr_nonnull(strstr(reason, "invite"));
    free(code);
    free(reason);
    code =
        sqlsf("SELECT last_error_code FROM deliveries WHERE id = %ld AND state = 'failed'", d_arch);
    ck_assert_str_eq(code, "is_archived");
    free(code);
    code = sqlsf("SELECT last_error_code FROM deliveries WHERE id = %ld AND state = 'failed'",
                 d_nobody);
    reason = sqlsf("SELECT last_error FROM deliveries WHERE id = %ld", d_nobody);
    ck_assert_str_eq(code, "users_not_found");
    ck_assert_msg(strstr(reason, "nobody@example.com"), "reason must name the address: %s", reason);
    free(code);
    free(reason);
    code =
        sqlsf("SELECT last_error_code FROM deliveries WHERE id = %ld AND state = 'failed'", d_dead);
    ck_assert_str_eq(code, "token_revoked");
    free(code);
    /* targets flagged; the installation marked unusable */
    ck_assert_int_eq(sqlf("SELECT count(*) FROM targets WHERE id IN (%ld, %ld, %ld, %ld) AND "
                          "last_error_code IS NOT NULL AND last_error IS NOT NULL",
                          priv, arch, nobody, dead),
                     4);
    char *rev = sqls("SELECT revoked_reason FROM workspaces WHERE team_id = 'T2' AND revoked_at "
                     "IS NOT NULL");
    ck_assert_ptr_nonnull(rev);
    ck_assert_str_eq(rev, "token_revoked");
    free(rev);
    ck_assert_int_eq(count_messages(NULL), 0);

    /* More for the revoked workspace: failed fast, without calling Slack. */
    double posts = stat_num("requests", "chat.postMessage", NULL);
    for (int i = 0; i < 3; i++)
        route(dead, "T2", "CDEAD", "Still dead");
    flush();
    wait_final(7, 30);
    ck_assert_int_eq(stat_num("requests", "chat.postMessage", NULL), posts);
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries WHERE state = 'failed' AND attempts = "
                          "0 AND last_error_code = 'token_revoked'"),
                     3);
    /* The unknown address is remembered: no second lookup for it. */
    double lookups = stat_num("requests", "users.lookupByEmail", NULL);
    ck_assert_int_eq(lookups, 1);
    route(nobody, "T1", "nobody@example.com", "Nobody again");
    flush();
    wait_final(8, 30);
    ck_assert_int_eq(stat_num("requests", "users.lookupByEmail", NULL), lookups);
    stop_sender(r);
}
END_TEST

START_TEST(email_destination_is_a_direct_message)
{
    long t = add_target("T1", "Alice@Example.com");
    long id = route(t, "T1", "Alice@Example.com", "Email check");
    flush();
    sender_config c;
    test_config(&c, "g-email");
    running *r = start_sender(&c);
    wait_final(1, 30);
    /* second one: the answer is cached (memory and PostgreSQL) */
    route(t, "T1", "Alice@Example.com", "Email check 2");
    flush();
    wait_final(2, 30);
    stop_sender(r);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM deliveries WHERE id = %ld AND state = 'sent'", id),
                     1);
    char *res = sqlsf("SELECT destination_resolved FROM targets WHERE id = %ld", t);
    ck_assert_str_eq(res, "UALICE");
    free(res);
    ck_assert_int_eq(sqll("SELECT count(*) FROM slack_user_cache WHERE email = "
                          "'alice@example.com' AND user_id = 'UALICE'"),
                     1);
    ck_assert_int_eq(stat_num("requests", "users.lookupByEmail", NULL), 1);
    cJSON *m = messages(NULL);
    ck_assert_int_eq(cJSON_GetArraySize(m), 2);
    cJSON *user = cJSON_GetObjectItem(cJSON_GetArrayItem(m, 0), "user");
    ck_assert_msg(cJSON_IsString(user) && !strcmp(user->valuestring, "UALICE"),
                  "not delivered to Alice");
    cJSON_Delete(m);
}
END_TEST

START_TEST(pacing_and_429_honoured)
{
    /* Paced at Slack's limit: 12 messages into one channel draw no 429. */
    long t = add_target("T1", "CPACE");
    for (int i = 0; i < 12; i++)
        route(t, "T1", "CPACE", "Paced check");
    flush();
    sender_config c;
    test_config(&c, "g-pace");
    c.digests = false;
    running *r = start_sender(&c);
    wait_final(12, 60);
    stop_sender(r);
    ck_assert_int_eq(count_messages("CPACE"), 12);
    ck_assert_int_eq(stat_num("rate_limited", NULL, NULL), 0);
    /* burst of 3, then 1/s: the last message came at least 8 s after the first */
    cJSON *m = messages("CPACE");
    double first = cJSON_GetObjectItem(cJSON_GetArrayItem(m, 0), "time")->valuedouble;
    double last = cJSON_GetObjectItem(cJSON_GetArrayItem(m, 11), "time")->valuedouble;
    cJSON_Delete(m);
    ck_assert_msg(last - first >= 8000, "12 messages in %.0f ms", last - first);

    /* A sender configured 10x faster than Slack: Slack answers 429 + Retry-After
     * and the sender waits it out on that channel: a 429 per accepted message at
     * most, never a storm; everything still arrives once. */
    control_do("/_fake/reset", "{}");
    long t2 = add_target("T1", "CFAST");
    for (int i = 0; i < 8; i++) {
        char name[32];
        snprintf(name, sizeof name, "Fast check %d", i);
        route(t2, "T1", "CFAST", name);
    }
    flush();
    test_config(&c, "g-pace");
    c.digests = false;
    c.channel_rate = 10;
    c.channel_burst = 10;
    r = start_sender(&c);
    wait_final(20, 90);
    sender_stats st = stop_sender(r);
    for (int i = 0; i < 8; i++) {
        char name[32];
        snprintf(name, sizeof name, "Fast check %d", i);
        ck_assert_int_eq(count_text("CFAST", name), 1);
    }
    double limited = stat_num("channels", "CFAST", "rate_limited");
    ck_assert_msg(limited >= 1 && limited <= 8, "429s: %.0f", limited);
    ck_assert_int_eq(st.rate_limited, (int64_t)limited);
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries WHERE state = 'sent'"), 20);
}
END_TEST

START_TEST(pacing_holds_across_restart)
{
    /* A slow pace (a token every 5 s, burst 3) makes a fresh burst after a
     * restart visible: the new process starts the channel's bucket from the
     * sends recorded in PostgreSQL, not full. */
    long t = add_target("T1", "CRESTART");
    for (int i = 0; i < 3; i++)
        route(t, "T1", "CRESTART", "Before restart");
    flush();
    sender_config c;
    test_config(&c, "g-restart-pace");
    c.digests = false;
    c.channel_rate = 0.2;
    running *r = start_sender(&c);
    wait_final(3, 30);
    stop_sender(r);
    route(t, "T1", "CRESTART", "After restart A");
    route(t, "T1", "CRESTART", "After restart B");
    flush();
    r = start_sender(&c);
    wait_final(5, 60);
    stop_sender(r);
    cJSON *m = messages("CRESTART");
    ck_assert_int_eq(cJSON_GetArraySize(m), 5);
    double t0 = cJSON_GetObjectItem(cJSON_GetArrayItem(m, 0), "time")->valuedouble;
    double t3 = cJSON_GetObjectItem(cJSON_GetArrayItem(m, 3), "time")->valuedouble;
    double t4 = cJSON_GetObjectItem(cJSON_GetArrayItem(m, 4), "time")->valuedouble;
    cJSON_Delete(m);
    /* One token every 5 s after the burst, across the restart: the 4th at
     * least 5 s and the 5th at least 10 s after the first, however long the
     * restart took (a slow one leaves tokens in the bucket, so the 5th may
     * follow the 4th sooner). A fresh burst at a restart within 10 s would
     * send both at once. */
    ck_assert_msg(t3 - t0 >= 4500, "4th message %.0f ms after the first", t3 - t0);
    ck_assert_msg(t4 - t0 >= 9500, "5th message %.0f ms after the first", t4 - t0);
}
END_TEST

START_TEST(transient_errors_retried_then_sent)
{
    long t = add_target("T1", "CFLAKY");
    long id = route(t, "T1", "CFLAKY", "Flaky check");
    flush();
    control_do("/_fake/faults",
               "{\"next_errors\": 2, \"error_status\": 503, \"methods\": [\"chat.postMessage\"]}");
    sender_config c;
    test_config(&c, "g-flaky");
    running *r = start_sender(&c);
    wait_final(1, 60);
    stop_sender(r);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM deliveries WHERE id = %ld AND state = 'sent' AND "
                          "attempts = 3 AND last_error_code = 'http_503'",
                          id),
                     1);
    ck_assert_int_eq(count_messages("CFLAKY"), 1);
}
END_TEST

START_TEST(durable_retry_survives_restart)
{
    long t = add_target("T1", "CLATER");
    long id = route(t, "T1", "CLATER", "Later check");
    flush();
    /* A 503 asking to come back in 3 s. */
    control_do("/_fake/faults", "{\"next_errors\": 1, \"error_status\": 503, "
                                "\"error_retry_after\": 3, \"methods\": [\"chat.postMessage\"]}");
    sender_config c;
    test_config(&c, "g-later");
    running *r = start_sender(&c);
    char q[256];
    snprintf(q, sizeof q, "SELECT count(*) FROM deliveries WHERE id = %ld AND state = 'retrying'",
             id);
    wait_sql(q, 1, 30);
    int64_t failed_at = util_now_wall_ms();
    stop_sender(r);
    /* The schedule is in PostgreSQL: due about 3 s after the failure was
     * recorded (measured against that, not against now: stopping may be slow). */
    ck_assert_int_ge(
        sqlf("SELECT (extract(epoch FROM next_attempt_at - updated_at) * 1000)::bigint "
             "FROM deliveries WHERE id = %ld AND state = 'retrying'",
             id),
        2500);
    ck_assert_int_eq(count_messages("CLATER"), 0);
    /* A new instance picks it up when due. */
    r = start_sender(&c);
    wait_final(1, 30);
    stop_sender(r);
    ck_assert_int_eq(sqlf("SELECT attempts FROM deliveries WHERE id = %ld AND state = 'sent'", id),
                     2);
    cJSON *m = messages("CLATER");
    ck_assert_int_eq(cJSON_GetArraySize(m), 1);
    double at = cJSON_GetObjectItem(cJSON_GetArrayItem(m, 0), "time")->valuedouble;
    cJSON_Delete(m);
    ck_assert_msg(at >= (double)failed_at + 2000, "retried %.0f ms after the failure",
                  at - (double)failed_at);
}
END_TEST

START_TEST(retries_exhausted_fail_with_last_error)
{
    long t = add_target("T1", "CDOWN");
    long id = route(t, "T1", "CDOWN", "Doomed check");
    flush();
    control_do("/_fake/faults", "{\"error_rate\": 1, \"error_status\": 502, \"methods\": "
                                "[\"chat.postMessage\"]}");
    sender_config c;
    test_config(&c, "g-down");
    c.retry_max_age_ms = 15000; /* the group join alone takes ~3 s of it */
    running *r = start_sender(&c);
    wait_final(1, 60);
    stop_sender(r);
    char *reason = sqlsf("SELECT last_error FROM deliveries WHERE id = %ld AND state = 'failed' "
                         "AND last_error_code = 'http_502'",
                         id);
    ck_assert_ptr_nonnull(reason);
    ck_assert_ptr_nonnull(strstr(reason, "gave up"));
    free(reason);
    ck_assert_int_ge(sqlf("SELECT attempts FROM deliveries WHERE id = %ld", id), 2);
}
END_TEST

START_TEST(sigkill_and_restart_lose_nothing)
{
    enum { CH = 4, PER = 8 };
    long t[CH];
    char ch[CH][8];
    for (int i = 0; i < CH; i++) {
        snprintf(ch[i], sizeof ch[i], "CK%d", i);
        t[i] = add_target("T1", ch[i]);
    }
    for (int i = 0; i < CH * PER; i++) {
        char name[32];
        snprintf(name, sizeof name, "Kill check %02d", i);
        route(t[i % CH], "T1", ch[i % CH], name);
    }
    flush();
    char log[128];
    binary_log(log, sizeof log, "kill");
    unlink(log);
    const char *extra[] = {"--no-digests", NULL};
    pid_t pid = spawn_binary("g-kill", log, extra);
    /* Kill it mid-run: some sent, some in flight, most still waiting for their turn. */
    wait_sql("SELECT (count(*) >= 6)::int FROM deliveries WHERE state = 'sent'", 1, 60);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    long before = sqll("SELECT count(*) FROM deliveries WHERE state = 'sent'");
    ck_assert_int_lt(before, CH * PER);
    pid = spawn_binary("g-kill", log, extra);
    wait_final(CH * PER, 120);
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries WHERE state = 'sent'"), CH * PER);
    /* Every one arrived; a duplicate only for a request in flight at the kill (at most
     * one per channel: the documented window). */
    int total = 0;
    for (int i = 0; i < CH * PER; i++) {
        char name[32];
        snprintf(name, sizeof name, "Kill check %02d", i);
        int n = count_text(ch[i % CH], name);
        ck_assert_msg(n >= 1 && n <= 2, "%s arrived %d times", name, n);
        total += n;
    }
    ck_assert_int_le(total, CH * PER + CH);
    unlink(log); /* passed: the log is not needed */
}
END_TEST

START_TEST(binary_sigterm_is_graceful)
{
    long t = add_target("T1", "CTERM");
    for (int i = 0; i < 5; i++)
        route(t, "T1", "CTERM", "Term check");
    flush();
    char log[128];
    binary_log(log, sizeof log, "term");
    unlink(log);
    const char *extra[] = {"--no-digests", NULL};
    pid_t pid = spawn_binary("g-term", log, extra);
    wait_sql("SELECT (count(*) >= 3)::int FROM deliveries WHERE state = 'sent'", 1, 60);
    int64_t t0 = util_now_mono_ms();
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_int_lt(util_now_mono_ms() - t0, 10000);
    /* Nothing half-done: every row is sent or still pending (none stuck 'sending'). */
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries WHERE state = 'sending'"), 0);
    /* The rest goes out after a restart, once each. */
    pid = spawn_binary("g-term", log, extra);
    wait_final(5, 60);
    kill(pid, SIGTERM);
    waitpid(pid, &status, 0);
    ck_assert_int_eq(count_messages("CTERM"), 5);
    unlink(log); /* passed: the log is not needed */
}
END_TEST

/* ==== tests: issue 4 ====================================================================== */

START_TEST(digest_folds_a_backlog)
{
    long t = add_target("T1", "CBUSY");
    long quiet = add_target("T1", "CQUIET");
    sql("UPDATE targets SET digest_enabled = false WHERE name = 't-CQUIET'");
    for (int i = 0; i < 20; i++) {
        char name[32];
        snprintf(name, sizeof name, "Busy check %02d", i);
        route(t, "T1", "CBUSY", name);
    }
    for (int i = 0; i < 6; i++)
        route(quiet, "T1", "CQUIET", "Quiet check");
    flush();
    sender_config c;
    test_config(&c, "g-digest");
    running *r = start_sender(&c);
    wait_final(26, 60);
    sender_stats st = stop_sender(r);
    /* 20 at 1/s would take 17 s; folded they go in a handful of messages
     * (the burst of 3 singles at most, then digests). */
    int n = count_messages("CBUSY");
    ck_assert_msg(n <= 10 && n >= 1, "%d messages for 20 deliveries", n);
    ck_assert_int_ge(st.digests, 1);
    /* every event represented: each name in some message, each row sent with a ts */
    cJSON *m = messages("CBUSY");
    for (int i = 0; i < 20; i++) {
        char name[32];
        snprintf(name, sizeof name, "Busy check %02d", i);
        bool found = false;
        cJSON *it;
        cJSON_ArrayForEach(it, m)
        {
            char *blocks = cJSON_PrintUnformatted(cJSON_GetObjectItem(it, "blocks"));
            found |= strstr(cJSON_GetObjectItem(it, "text")->valuestring, name) ||
                     (blocks && strstr(blocks, name));
            free(blocks);
        }
        ck_assert_msg(found, "%s not in any message", name);
    }
    cJSON_Delete(m);
    ck_assert_int_ge(sqll("SELECT count(*) FROM deliveries WHERE digest_size > 1"), 3);
    ck_assert_int_eq(sqll("SELECT count(DISTINCT slack_ts) FROM deliveries d JOIN targets t ON "
                          "t.id = d.target_id WHERE t.name = 't-CBUSY'"),
                     n);
    /* the opted-out target got single messages */
    ck_assert_int_eq(count_messages("CQUIET"), 6);
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries d JOIN targets t ON t.id = "
                          "d.target_id WHERE t.name = 't-CQUIET' AND digest_size IS NULL"),
                     6);
}
END_TEST

/* ==== threads for repeats, through the router ============================================== */

typedef testlib_router_thread router_running;

static router_running *start_router(const char *group)
{
    router_config rc;
    router_config_defaults(&rc);
    rc.brokers = K.bootstraps;
    rc.database_url = url;
    rc.group = group;
    rc.summary_seconds = 0;
    router_running *rr = xcalloc(1, sizeof *rr);
    char err[512];
    rr->r = router_new(&rc, err, sizeof err);
    ck_assert_msg(rr->r != NULL, "router_new: %s", err);
    ck_assert_int_eq(testlib_router_thread_start(rr), 0);
    return rr;
}

static void stop_router(router_running *rr)
{
    testlib_router_thread_stop(rr);
    router_destroy(rr->r);
    free(rr);
}

/* Publishes a check result of tenant acme for the router. */
static void publish_check(const char *type, long failing, const char *at)
{
    char eid[37], run[37];
    util_uuid4(run);
    char *j = check_event(eid, type, type, failing, run, at);
    rd_kafka_resp_err_t err = rd_kafka_producev(
        P, RD_KAFKA_V_TOPIC(TOPIC_CHECKS), RD_KAFKA_V_KEY("acme", 4),
        RD_KAFKA_V_VALUE(j, strlen(j)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    ck_assert_int_eq(err, 0);
    free(j);
    flush();
}

static const char *item_str(cJSON *m, const char *name)
{
    cJSON *v = cJSON_GetObjectItem(m, name);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Message i of the channel: top level (root NULL) or a reply in root's thread, whose text
 * holds every one of the NULL-terminated needles. Returns its ts. */
static const char *expect_message(cJSON *m, int i, const char *root, const char *const *needles)
{
    cJSON *it = cJSON_GetArrayItem(m, i);
    ck_assert_msg(it != NULL, "no message %d", i);
    const char *text = item_str(it, "text"), *tts = item_str(it, "thread_ts");
    ck_assert_ptr_nonnull(text);
    if (root) {
        ck_assert_msg(tts && !strcmp(tts, root), "message %d (%s) is not a reply in %s", i, text,
                      root);
    } else {
        ck_assert_msg(cJSON_IsNull(cJSON_GetObjectItem(it, "thread_ts")),
                      "message %d (%s) is not top level", i, text);
    }
    for (size_t k = 0; needles[k]; k++)
        ck_assert_msg(strstr(text, needles[k]), "message %d: '%s' not in '%s'", i, needles[k],
                      text);
    return item_str(it, "ts");
}

/*
 * fail -> message; fail again -> a reply in its thread saying how it moved; a run that
 * does not evaluate the check is no pass (still a reply); pass -> nothing, recorded by
 * the router; fail -> a new top-level message, and the streak goes on in its thread.
 * Then the same exactness when the sender is down while the router routes a failure, a
 * pass and a failure: the second failure starts a new thread.
 */
START_TEST(threads_for_repeats)
{
    add_target("T1", "CTHREAD");
    /* digests off: the deliveries queued while the sender is down go one by one */
    sql("UPDATE targets SET thread_repeats = true, digest_enabled = false, notify_resolved = "
        "false");
    router_running *rt = start_router("r-thread");
    sender_config c;
    test_config(&c, "g-thread");
    running *r = start_sender(&c);

    publish_check("weak_mfa", 12, "2026-11-28T09:00:00Z");
    wait_final(1, 60);
    publish_check("weak_mfa", 14, "2026-11-28T10:00:00Z");
    wait_final(2, 30);
    /* a run of another check only: weak_mfa was not evaluated, so it was not fixed */
    publish_check("stale_admins", 2, "2026-11-28T11:00:00Z");
    wait_final(3, 30);
    publish_check("weak_mfa", 11, "2026-11-28T12:00:00Z");
    wait_final(4, 30);
    /* fixed: nothing is sent, the router records it */
    publish_check("weak_mfa", 0, "2026-11-28T13:00:00Z");
    wait_sql("SELECT count(*) FROM check_passes WHERE check_type = 'weak_mfa'", 1, 30);
    publish_check("weak_mfa", 5, "2026-11-28T14:00:00Z");
    wait_final(5, 30);
    publish_check("weak_mfa", 6, "2026-11-28T15:00:00Z");
    wait_final(6, 30);

    /* the sender is away while a failure, a pass and a failure are routed */
    stop_sender(r);
    publish_check("weak_mfa", 7, "2026-11-28T16:00:00Z");
    publish_check("weak_mfa", 0, "2026-11-28T17:00:00Z");
    publish_check("weak_mfa", 9, "2026-11-28T18:00:00Z");
    wait_sql("SELECT count(*) FROM check_passes WHERE check_type = 'weak_mfa'", 2, 30);
    wait_sql("SELECT count(*) FROM deliveries", 8, 30);
    r = start_sender(&c);
    wait_final(8, 60);
    stop_sender(r);
    stop_router(rt);

    cJSON *m = messages("CTHREAD");
    ck_assert_int_eq(cJSON_GetArraySize(m), 8);
    const char *first = expect_message(m, 0, NULL, (const char *[]){"12 of 500", NULL});
    expect_message(m, 1, first, (const char *[]){"14", "2 more than last run", NULL});
    expect_message(m, 2, NULL, (const char *[]){"admins", "2 of 500", NULL});
    expect_message(m, 3, first, (const char *[]){"11", "3 fewer than last run", NULL});
    const char *second = expect_message(m, 4, NULL, (const char *[]){"mfa", "5 of 500", NULL});
    ck_assert_str_ne(second, first);
    expect_message(m, 5, second, (const char *[]){"6", "1 more than last run", NULL});
    expect_message(m, 6, second, (const char *[]){"7", "1 more than last run", NULL});
    const char *third = expect_message(m, 7, NULL, (const char *[]){"mfa", "9 of 500", NULL});
    ck_assert_str_ne(third, second);
    cJSON_Delete(m);
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries WHERE slack_thread_ts IS NOT NULL"), 4);
}
END_TEST

START_TEST(faults_5xx_drops_and_slow_answers)
{
    enum { CH = 6, PER = 4 };
    long t[CH];
    char ch[CH][8];
    for (int i = 0; i < CH; i++) {
        snprintf(ch[i], sizeof ch[i], "CF%d", i);
        t[i] = add_target("T1", ch[i]);
    }
    for (int i = 0; i < CH * PER; i++) {
        char name[32];
        snprintf(name, sizeof name, "Fault check %02d", i);
        route(t[i % CH], "T1", ch[i % CH], name);
    }
    flush();
    /* A quarter of the requests fail with 5xx, some connections drop before
     * Slack reads them, and answers are slow (but within the timeout). */
    control_do("/_fake/faults",
               "{\"error_rate\": 0.25, \"error_status\": 500, \"drop_rate\": 0.1, "
               "\"delay_ms\": 300, \"delay_rate\": 0.5, \"methods\": [\"chat.postMessage\"]}");
    sender_config c;
    test_config(&c, "g-faults");
    c.digests = false;
    running *r = start_sender(&c);
    wait_final(CH * PER, 120);
    stop_sender(r);
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries WHERE state = 'sent'"), CH * PER);
    ck_assert_int_gt(stat_num("faults", "errors", NULL) + stat_num("faults", "drops", NULL), 0);
    /* Faults before Slack processed the request never duplicate. */
    for (int i = 0; i < CH * PER; i++) {
        char name[32];
        snprintf(name, sizeof name, "Fault check %02d", i);
        ck_assert_int_eq(count_text(ch[i % CH], name), 1);
    }

    /* The documented window: Slack posts, then the connection drops before its answer.
     * The delivery is retried and appears twice; the row still ends sent, once. */
    control_do("/_fake/faults", "{\"clear\": true}");
    control_do("/_fake/faults", "{\"next_drops_after_post\": 1}");
    long tw = add_target("T1", "CWINDOW");
    long id = route(tw, "T1", "CWINDOW", "Window check");
    flush();
    r = start_sender(&c);
    wait_final(CH * PER + 1, 60);
    stop_sender(r);
    ck_assert_int_eq(count_messages("CWINDOW"), 2);
    ck_assert_int_eq(sqlf("SELECT attempts FROM deliveries WHERE id = %ld AND state = 'sent'", id),
                     2);
}
END_TEST

START_TEST(rebalance_between_two_senders)
{
    /* Four workspaces (keys spread over the partitions), three channels each. */
    const char *teams[] = {"T1", "T3", "T4", "T1"};
    long t[12];
    char ch[12][8];
    for (int i = 0; i < 12; i++) {
        snprintf(ch[i], sizeof ch[i], "CR%02d", i);
        t[i] = add_target(teams[i % 3], ch[i]);
    }
    enum { N = 72 };
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "Rebalance check %02d", i);
        route(t[i % 12], teams[(i % 12) % 3], ch[i % 12], name);
    }
    flush();
    sender_config c;
    test_config(&c, "g-rebalance");
    c.digests = false;
    running *a = start_sender(&c);
    wait_sql("SELECT (count(*) >= 10)::int FROM deliveries WHERE state = 'sent'", 1, 60);
    sender_config cb = c;
    cb.instance_id = "g-rebalance-b"; /* each replica its own id */
    running *b = start_sender(&cb);   /* joins: partitions move */
    wait_sql("SELECT (count(*) >= 40)::int FROM deliveries WHERE state = 'sent'", 1, 90);
    sender_stats sa = stop_sender(a); /* leaves: its partitions move to b */
    wait_final(N, 120);
    sender_stats sb = stop_sender(b);
    ck_assert_int_gt(sa.sent, 0);
    ck_assert_int_gt(sb.sent, 0);
    ck_assert_int_eq(sa.sent + sb.sent, N);
    /* No crash, so no window: every message exactly once. */
    for (int i = 0; i < N; i++) {
        char name[32];
        snprintf(name, sizeof name, "Rebalance check %02d", i);
        ck_assert_int_eq(count_text(ch[i % 12], name), 1);
    }
}
END_TEST

START_TEST(database_connection_loss_recovered)
{
    long t[3];
    char ch[3][8];
    for (int i = 0; i < 3; i++) {
        snprintf(ch[i], sizeof ch[i], "CDB%d", i);
        t[i] = add_target("T1", ch[i]);
    }
    for (int i = 0; i < 18; i++) {
        char name[32];
        snprintf(name, sizeof name, "Db check %02d", i);
        route(t[i % 3], "T1", ch[i % 3], name);
    }
    flush();
    sender_config c;
    test_config(&c, "g-dbloss");
    c.digests = false;
    running *r = start_sender(&c);
    wait_sql("SELECT (count(*) >= 5)::int FROM deliveries WHERE state = 'sent'", 1, 60);
    /* The sender's connection is cut (a database restart looks the same to it). */
    for (int k = 0; k < 3; k++) {
        sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = "
            "current_database() AND pid <> pg_backend_pid()");
        usleep(700 * 1000);
    }
    wait_final(18, 90);
    stop_sender(r);
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries WHERE state = 'sent'"), 18);
    for (int i = 0; i < 18; i++) {
        char name[32];
        snprintf(name, sizeof name, "Db check %02d", i);
        ck_assert_int_eq(count_text(ch[i % 3], name), 1);
    }
}
END_TEST

START_TEST(reinstall_makes_workspace_usable_again)
{
    long dead = add_target("T2", "CRE");
    route(dead, "T2", "CRE", "Before reinstall");
    flush();
    sender_config c;
    test_config(&c, "g-reinstall");
    running *r = start_sender(&c);
    wait_final(1, 30);
    /* Reinstalled with a working token: revocation cleared. */
    control_do("/_fake/state", "{\"workspaces\":[{\"id\":\"T2\",\"name\":\"Two\",\"tokens\":"
                               "[\"xoxb-new-two\"]}]}");
    char *hex = testlib_sealed_token_hex(key, "xoxb-new-two");
    ck_assert_ptr_nonnull(hex);
    const char *params[1] = {hex};
    PGresult *res = PQexecParams(db,
                                 "UPDATE workspaces SET token_enc = $1::bytea, revoked_at = NULL, "
                                 "revoked_reason = NULL WHERE team_id = 'T2'",
                                 1, NULL, params, NULL, NULL, 0);
    ck_assert_int_eq(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    free(hex);
    sleep(3); /* an unusable installation is looked at again every 2 s */
    route(dead, "T2", "CRE", "After reinstall");
    flush();
    wait_final(2, 60);
    stop_sender(r);
    ck_assert_int_eq(count_text("CRE", "After reinstall"), 1);
}
END_TEST

/* ==== tests: token rotation =============================================================== */

#define ROT_CLIENT_ID     "rot-client"
#define ROT_CLIENT_SECRET "rot-client-secret"

/* Fake-slack's workspace T5 with bot token `token` expiring at now + expires_s
 * (wall clock; none when expires_s is 0) and the valid refresh token `refresh`;
 * rotation on for its app (new tokens live an hour). */
static void fake_rotating(const char *token, double expires_s, const char *refresh)
{
    char expiry[160] = "{}";
    if (expires_s != 0)
        snprintf(expiry, sizeof expiry, "{\"%s\": %.3f}", token,
                 (double)util_now_wall_ms() / 1000.0 + expires_s);
    char *body = testlib_fmt(
        "{\"workspaces\":[{\"id\":\"T5\",\"name\":\"Five\",\"tokens\":[\"%s\"],"
        "\"refresh_tokens\":[\"%s\"],\"token_expiry\":%s}],"
        "\"oauth\":{\"client_id\":\"" ROT_CLIENT_ID "\",\"client_secret\":\"" ROT_CLIENT_SECRET
        "\",\"team\":\"T5\",\"rotation\":true,\"expires_in\":3600}}",
        token, refresh, expiry);
    control_do("/_fake/state", body);
    free(body);
}

/* Installs T5 in PostgreSQL with token, refresh token and expiry (an SQL
 * expression, e.g. "now() + interval '2 seconds'", or "NULL"). */
static void add_rotating_workspace(const char *token, const char *refresh, const char *expires)
{
    char *hex = testlib_sealed_token_hex(key, token);
    char *rhex = testlib_sealed_token_hex(key, refresh);
    ck_assert_ptr_nonnull(hex);
    ck_assert_ptr_nonnull(rhex);
    char *q = testlib_fmt("INSERT INTO workspaces (team_id, team_name, token_enc, "
                          "refresh_token_enc, token_expires_at) VALUES ('T5', 'Five', "
                          "'%s'::bytea, '%s'::bytea, %s)",
                          hex, rhex, expires);
    sql(q);
    free(q);
    free(hex);
    free(rhex);
}

static void rotation_config(sender_config *c, const char *group)
{
    test_config(c, group);
    c->client_id = ROT_CLIENT_ID;
    c->client_secret = ROT_CLIENT_SECRET;
}

static char *stored_refresh_token(void)
{
    return testlib_db_open_sealed(db, key,
                                  "SELECT refresh_token_enc FROM workspaces WHERE team_id = 'T5'");
}

/* A token that expires in 2 s: deliveries sent after its expiry go out with a
 * refreshed token, refreshed once; the pair and the expiry are stored. */
START_TEST(rotation_refreshes_an_expiring_token)
{
    fake_rotating("xoxb-rot-1", 2, "xoxe-rot-r1");
    add_rotating_workspace("xoxb-rot-1", "xoxe-rot-r1", "now() + interval '2 seconds'");
    long t = add_target("T5", "CROT1");
    sleep(3); /* past the expiry: Slack would answer token_expired */
    sender_config c;
    rotation_config(&c, "g-rot1");
    running *r = start_sender(&c);
    for (int i = 0; i < 3; i++) {
        char name[32];
        snprintf(name, sizeof name, "Rotated %d", i);
        route(t, "T5", "CROT1", name);
    }
    flush();
    wait_final(3, 60);
    sender_stats st = stop_sender(r);
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries WHERE state = 'sent' AND attempts = 1"),
                     3);
    ck_assert_int_eq(count_text("CROT1", "Rotated"), 3);
    ck_assert_int_eq((long)stat_num("refreshes", NULL, NULL), 1);
    ck_assert_int_eq(st.token_refreshes, 1);
    ck_assert_int_eq((long)stat_num("errors", "token_expired", NULL), 0);
    char *rt = stored_refresh_token();
    ck_assert_ptr_nonnull(rt);
    ck_assert_str_ne(rt, "xoxe-rot-r1");
    ck_assert_int_eq(strncmp(rt, "xoxe-1-fake-T5-", 15), 0);
    free(rt);
    char *tok = testlib_db_open_sealed(db, key,
                                       "SELECT token_enc FROM workspaces WHERE "
                                       "team_id = 'T5'");
    ck_assert_ptr_nonnull(tok);
    ck_assert_str_ne(tok, "xoxb-rot-1");
    free(tok);
    ck_assert_int_eq(sqll("SELECT count(*) FROM workspaces WHERE team_id = 'T5' AND revoked_at IS "
                          "NULL AND token_expires_at > now() + interval '50 minutes'"),
                     1);
}
END_TEST

/* Slack says token_expired for a token whose expiry we did not know: refresh
 * and send again, once. */
START_TEST(rotation_token_expired_is_refreshed_and_sent_once)
{
    fake_rotating("xoxb-rot-2", -10, "xoxe-rot-r2");
    add_rotating_workspace("xoxb-rot-2", "xoxe-rot-r2", "NULL");
    long t = add_target("T5", "CROT2");
    sender_config c;
    rotation_config(&c, "g-rot2");
    running *r = start_sender(&c);
    long id = route(t, "T5", "CROT2", "Expired unknown");
    flush();
    wait_final(1, 60);
    sender_stats st = stop_sender(r);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM deliveries WHERE id = %ld AND state = 'sent' AND "
                          "attempts = 1",
                          id),
                     1);
    ck_assert_int_eq(count_text("CROT2", "Expired unknown"), 1);
    ck_assert_int_eq((long)stat_num("errors", "token_expired", NULL), 1);
    ck_assert_int_eq((long)stat_num("refreshes", NULL, NULL), 1);
    ck_assert_int_eq(st.token_refreshes, 1);
    ck_assert_int_eq(sqll("SELECT count(*) FROM workspaces WHERE team_id = 'T5' AND revoked_at IS "
                          "NULL AND token_expires_at IS NOT NULL"),
                     1);
    char *rt = stored_refresh_token();
    ck_assert_ptr_nonnull(rt);
    ck_assert_str_ne(rt, "xoxe-rot-r2");
    free(rt);
}
END_TEST

/* A refresh token Slack does not know: the installation is revoked with the
 * code and the delivery fails with a reason; no token reaches a log line. */
START_TEST(rotation_invalid_refresh_token_revokes)
{
    fake_rotating("xoxb-rot-3", -10, "xoxe-rot-valid");
    add_rotating_workspace("xoxb-rot-3", "xoxe-rot-unknown", "now() - interval '10 seconds'");
    long t = add_target("T5", "CROT3");
    sender_config c;
    rotation_config(&c, "g-rot3");
    running *r = start_sender(&c);
    long id = route(t, "T5", "CROT3", "Never sent");
    flush();
    wait_final(1, 60);
    stop_sender(r);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM deliveries WHERE id = %ld AND state = 'failed' AND "
                          "last_error_code = 'invalid_refresh_token'",
                          id),
                     1);
    char *why = sqlsf("SELECT last_error FROM deliveries WHERE id = %ld", id);
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strstr(why, "reinstall") != NULL, "reason: %s", why);
    ck_assert_ptr_null(strstr(why, "xox"));
    free(why);
    char *rev = sqls("SELECT revoked_reason FROM workspaces WHERE team_id = 'T5' AND revoked_at "
                     "IS NOT NULL");
    ck_assert_ptr_nonnull(rev);
    ck_assert_str_eq(rev, "invalid_refresh_token");
    free(rev);
    ck_assert_int_eq(count_text("CROT3", "Never sent"), 0);
    ck_assert_int_eq((long)stat_num("refreshes", NULL, NULL), 0);
    ck_assert_int_eq((long)stat_num("errors", "invalid_refresh_token", NULL), 1);
}
END_TEST

/* Our app's credentials refused (a mistyped HERALD_SLACK_CLIENT_SECRET): a
 * configuration error of this process, not of the installation, whose
 * refresh token is still good: nothing is revoked, the failure is transient,
 * and the right secret then refreshes with the same refresh token. */
START_TEST(rotation_wrong_client_secret_revokes_nothing)
{
    fake_rotating("xoxb-rot-5", -10, "xoxe-rot-r5");
    add_rotating_workspace("xoxb-rot-5", "xoxe-rot-r5", "now() - interval '10 seconds'");
    store_slack_app bad = {.api_base = fake.api_url,
                           .client_id = ROT_CLIENT_ID,
                           .client_secret = "not-the-secret",
                           .timeout_ms = 5000};
    store_token t;
    char err[512];
    ck_assert_int_eq(
        store_workspace_refresh(db, ring, "T5", &bad, 60000, NULL, &t, err, sizeof err),
        STORE_CONFLICT);
    ck_assert_str_eq(t.code, "bad_client_secret");
    ck_assert(t.transient);
    ck_assert(!t.revoked);
    ck_assert_ptr_null(strstr(err, "not-the-secret"));
    store_token_dispose(&t);
    ck_assert_int_eq(sqll("SELECT count(*) FROM workspaces WHERE team_id = 'T5' AND revoked_at IS "
                          "NULL"),
                     1);
    store_slack_app good = bad;
    good.client_secret = ROT_CLIENT_SECRET;
    ck_assert_msg(store_workspace_refresh(db, ring, "T5", &good, 60000, NULL, &t, err,
                                          sizeof err) == STORE_OK,
                  "%s", err);
    ck_assert(t.refreshed);
    ck_assert_str_ne(t.token, "xoxb-rot-5");
    store_token_dispose(&t);
}
END_TEST

/* Two processes refreshing one installation at once: one asks Slack, the other
 * waits on the row and reuses the stored pair. */
typedef struct refresher {
    pthread_barrier_t *go;
    const char *stale;
    store_token t;
    store_status st;
    char err[512];
} refresher;

static void *refresh_thread(void *arg)
{
    refresher *f = arg;
    PGconn *c = testlib_db_connect(url);
    store_slack_app app = {.api_base = fake.api_url,
                           .client_id = ROT_CLIENT_ID,
                           .client_secret = ROT_CLIENT_SECRET,
                           .timeout_ms = 5000};
    pthread_barrier_wait(f->go);
    f->st =
        store_workspace_refresh(c, ring, "T5", &app, 60000, f->stale, &f->t, f->err, sizeof f->err);
    PQfinish(c);
    return NULL;
}

START_TEST(rotation_concurrent_refreshes_ask_slack_once)
{
    fake_rotating("xoxb-rot-4", 1, "xoxe-rot-r4");
    add_rotating_workspace("xoxb-rot-4", "xoxe-rot-r4", "now() + interval '1 second'");
    /* Slack takes a second to answer: the second caller arrives while the first waits. */
    control_do("/_fake/faults", "{\"delay_ms\": 1000, \"methods\": [\"oauth.v2.access\"]}");
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, 3);
    /* One refreshes ahead of the expiry, the other as if Slack had answered token_expired. */
    refresher a = {.go = &go}, b = {.go = &go, .stale = "xoxb-rot-4"};
    pthread_t ta, tb;
    ck_assert_int_eq(pthread_create(&ta, NULL, refresh_thread, &a), 0);
    ck_assert_int_eq(pthread_create(&tb, NULL, refresh_thread, &b), 0);
    pthread_barrier_wait(&go);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    pthread_barrier_destroy(&go);
    ck_assert_msg(a.st == STORE_OK, "a: %s", a.err);
    ck_assert_msg(b.st == STORE_OK, "b: %s", b.err);
    ck_assert_int_eq((long)stat_num("refreshes", NULL, NULL), 1);
    ck_assert_int_eq(a.t.refreshed + b.t.refreshed, 1);
    ck_assert_ptr_nonnull(a.t.token);
    ck_assert_ptr_nonnull(b.t.token);
    ck_assert_str_eq(a.t.token, b.t.token);
    ck_assert_str_ne(a.t.token, "xoxb-rot-4");
    ck_assert_int_eq((long)stat_num("errors", "invalid_refresh_token", NULL), 0);
    store_token_dispose(&a.t);
    store_token_dispose(&b.t);
    /* A later caller with a fresh token asks nobody. */
    store_slack_app app = {
        .api_base = fake.api_url, .client_id = ROT_CLIENT_ID, .client_secret = ROT_CLIENT_SECRET};
    store_token t;
    char err[512];
    ck_assert_int_eq(
        store_workspace_refresh(db, ring, "T5", &app, 60000, NULL, &t, err, sizeof err), STORE_OK);
    ck_assert(!t.refreshed);
    ck_assert(t.rotating);
    ck_assert_int_gt(t.expires_at_ms, util_now_wall_ms() + 50 * 60 * 1000);
    store_token_dispose(&t);
    ck_assert_int_eq((long)stat_num("refreshes", NULL, NULL), 1);
}
END_TEST

/* ==== tests: issue 9 (PostgreSQL is the source of truth; fast recovery) ===================== */

/* Commits group's offsets at every partition's end: a sender of that group
 * starts past whatever the topic holds (an offset reset, a purged partition). */
static void commit_group_at_end(const char *group, int partitions)
{
    char err[512];
    /* Not subscribed: commits explicit offsets for the group without joining it. */
    rd_kafka_conf_t *conf = kafka_conf_new_for(RD_KAFKA_CONSUMER, K.bootstraps, err, sizeof err);
    ck_assert_msg(conf != NULL, "%s", err);
    ck_assert_int_eq(kafka_conf_set(conf, "group.id", group, err, sizeof err), 0);
    rd_kafka_t *c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    ck_assert_msg(c != NULL, "%s", err);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(partitions);
    for (int p = 0; p < partitions; p++) {
        int64_t lo = 0, hi = 0;
        ck_assert_int_eq(rd_kafka_query_watermark_offsets(c, TOPIC_DELIVERIES, p, &lo, &hi, 10000),
                         0);
        rd_kafka_topic_partition_list_add(l, TOPIC_DELIVERIES, p)->offset = hi;
    }
    ck_assert_int_eq(rd_kafka_commit(c, l, 0), 0);
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(c);
}

/* A delivery row whose routed message never reached Kafka (the router died
 * between its insert and its produce, or the produce was lost): sent from
 * PostgreSQL once it is --reconcile-after old, exactly once. */
START_TEST(reconcile_sends_a_delivery_never_published)
{
    long t = add_target("T1", "CRECON");
    char eid[37];
    char *json = check_event(eid, "weak_mfa", "Never published", 3, run_id, "2026-11-28T09:00:00Z");
    long id = route_json(t, "T1", "CRECON", eid, json, "weak_mfa", 0); /* not produced */
    free(json);
    long other = route(t, "T1", "CRECON", "Published normally");
    flush();
    sender_config c;
    test_config(&c, "g-recon");
    c.reconcile_after_ms = 5000;
    running *r = start_sender(&c);
    wait_final(2, 60);
    sender_stats st = stop_sender(r);
    ck_assert_int_eq(count_text("CRECON", "Never published"), 1);
    ck_assert_int_eq(count_text("CRECON", "Published normally"), 1);
    /* The published one too when the group join outlasts reconcile-after (a
     * loaded machine): either way, posted once. */
    ck_assert_int_ge(st.reconciled, 1);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM deliveries WHERE id IN (%ld, %ld) AND state = "
                          "'sent' AND claimed_by = 'g-recon'",
                          id, other),
                     2);
    /* Nothing further: the reconciled row is sent, not pending. */
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries WHERE state = 'pending'"), 0);
}
END_TEST

/* A routed message that is gone from the partition as the group sees it
 * (the group's offsets are past it: an offset reset to the end, a purged or
 * recreated topic): the row stays 'pending' and is reconciled, once. */
START_TEST(reconcile_sends_a_delivery_dropped_from_the_partition)
{
    long t[2] = {add_target("T1", "CDROP1"), add_target("T3", "CDROP3")};
    route(t[0], "T1", "CDROP1", "Dropped one");
    route(t[1], "T3", "CDROP3", "Dropped three");
    flush();
    commit_group_at_end("g-drop", 4);
    sender_config c;
    test_config(&c, "g-drop");
    c.reconcile_after_ms = 2000;
    running *r = start_sender(&c);
    wait_final(2, 60);
    sender_stats st = stop_sender(r);
    ck_assert_int_eq(st.consumed, 0); /* nothing came from Kafka */
    ck_assert_int_eq(st.reconciled, 2);
    ck_assert_int_eq(count_text("CDROP1", "Dropped one"), 1);
    ck_assert_int_eq(count_text("CDROP3", "Dropped three"), 1);
}
END_TEST

/* Both paths race for every delivery: they are in Kafka and consumed, and a
 * tiny --reconcile-after makes the poller take them from PostgreSQL at the
 * same time, with two senders. The claim rules leave one post each. */
START_TEST(reconcile_races_kafka_and_posts_once)
{
    enum { CH = 6, PER = 5 };
    long t[CH];
    char ch[CH][8];
    const char *teams[] = {"T1", "T3", "T4"};
    for (int i = 0; i < CH; i++) {
        snprintf(ch[i], sizeof ch[i], "CRACE%d", i);
        t[i] = add_target(teams[i % 3], ch[i]);
    }
    for (int i = 0; i < CH * PER; i++) {
        char name[32];
        snprintf(name, sizeof name, "Race check %02d", i);
        route(t[i % CH], teams[(i % CH) % 3], ch[i % CH], name);
    }
    flush();
    sender_config c;
    test_config(&c, "g-race");
    c.reconcile_after_ms = 1;
    c.takeover_grace_ms = 0; /* the other sender's rows too, at once */
    c.digests = false;
    sender_config cb = c;
    cb.instance_id = "g-race-b";
    running *a = start_sender(&c), *b = start_sender(&cb);
    wait_final(CH * PER, 120);
    sender_stats sa = stop_sender(a), sb = stop_sender(b);
    ck_assert_int_eq(sa.sent + sb.sent, CH * PER);
    ck_assert_int_gt(sa.reconciled + sb.reconciled, 0);
    for (int i = 0; i < CH * PER; i++) {
        char name[32];
        snprintf(name, sizeof name, "Race check %02d", i);
        ck_assert_msg(count_text(ch[i % CH], name) == 1, "%s posted %d times", name,
                      count_text(ch[i % CH], name));
    }
}
END_TEST

/* A restarted sender settles its previous run's claims at once: a row left
 * 'sending' under a long lease by the same --instance-id is sent right
 * away, not after the lease (a 'sending' row of another id is left alone
 * until its lease runs out). */
START_TEST(restart_settles_own_claims)
{
    long t = add_target("T1", "CSETTLE");
    char eid[37];
    char *json =
        check_event(eid, "weak_mfa", "Claimed then killed", 3, run_id, "2026-11-28T09:00:00Z");
    long mine = route_json(t, "T1", "CSETTLE", eid, json, "weak_mfa", 0);
    free(json);
    json = check_event(eid, "weak_mfa", "Someone else's", 3, run_id, "2026-11-28T09:00:00Z");
    long theirs = route_json(t, "T1", "CSETTLE", eid, json, "weak_mfa", 0);
    free(json);
    sqlf("UPDATE deliveries SET state = 'sending', attempts = 1, next_attempt_at = now() + "
         "interval '10 minutes', claimed_by = CASE WHEN id = %ld THEN 'g-settle' ELSE 'other' "
         "END WHERE id IN (%ld, %ld) RETURNING 0",
         mine, mine, theirs);
    sender_config c;
    test_config(&c, "g-settle");
    running *r = start_sender(&c);
    char q[160];
    snprintf(q, sizeof q, "SELECT count(*) FROM deliveries WHERE id = %ld AND state = 'sent'",
             mine);
    wait_sql(q, 1, 30);
    sender_stats st = stop_sender(r);
    ck_assert_int_eq(st.settled, 1);
    ck_assert_int_eq(count_text("CSETTLE", "Claimed then killed"), 1);
    ck_assert_int_eq(count_text("CSETTLE", "Someone else"), 0);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM deliveries WHERE id = %ld AND state = 'sending' "
                          "AND next_attempt_at > now() + interval '5 minutes'",
                          theirs),
                     1);
}
END_TEST

/* What librdkafka 2.0.2's mock cluster does with group.instance.id: a member
 * killed without leaving and restarted with the same id does NOT get its
 * partitions back at once (a broker with static membership gives them back
 * on the rejoin): it waits until the dead member's session times out. So on
 * the mock, recovery rests on the short session timeout (KAFKA_SESSION_TIMEOUT_MS)
 * and on PostgreSQL (settled claims), not on the instance id. The bound
 * asserted is a lower one, which load cannot break. */
START_TEST(mock_cluster_ignores_static_membership)
{
    static const char *const topics[] = {TOPIC_DELIVERIES, NULL};
    static const char *const props[] = {"session.timeout.ms", "6000", "heartbeat.interval.ms",
                                        "500", NULL};
    char err[512];
    rd_kafka_t *a = kafka_consumer_new(K.bootstraps, "g-static", "replica-0", topics, props, NULL,
                                       NULL, err, sizeof err);
    ck_assert_msg(a != NULL, "%s", err);
    int assigned = 0;
    for (int i = 0; i < 600 && assigned < 4; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(a, 100);
        if (m)
            rd_kafka_message_destroy(m);
        rd_kafka_topic_partition_list_t *l = NULL;
        rd_kafka_assignment(a, &l);
        assigned = l ? l->cnt : 0;
        if (l)
            rd_kafka_topic_partition_list_destroy(l);
    }
    ck_assert_int_eq(assigned, 4);
    /* A crash: no LeaveGroup (a static member never sends one anyway). */
    rd_kafka_destroy_flags(a, RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE);
    int64_t t0 = util_now_mono_ms();
    rd_kafka_t *b = kafka_consumer_new(K.bootstraps, "g-static", "replica-0", topics, props, NULL,
                                       NULL, err, sizeof err);
    ck_assert_msg(b != NULL, "%s", err);
    assigned = 0;
    int64_t took = -1;
    for (int i = 0; i < 600 && assigned < 4; i++) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(b, 100);
        if (m)
            rd_kafka_message_destroy(m);
        rd_kafka_topic_partition_list_t *l = NULL;
        rd_kafka_assignment(b, &l);
        assigned = l ? l->cnt : 0;
        if (l)
            rd_kafka_topic_partition_list_destroy(l);
        if (assigned == 4)
            took = util_now_mono_ms() - t0;
    }
    ck_assert_int_eq(assigned, 4); /* it does get them back ... */
    ck_assert_msg(took >= 6000,
                  "the mock gave the partitions back after %lld ms: it honours "
                  "group.instance.id now (update the README and this test)",
                  (long long)took);
    rd_kafka_consumer_close(b);
    rd_kafka_destroy(b);
}
END_TEST

/* ==== main ================================================================================ */

/* SENDER_TEST=name runs only the tests whose name contains it (debugging). */
static void add(TCase *tc, const TTest *t)
{
    testlib_add_test(tc, t, "SENDER_TEST");
}

/* ==== issue 10: buttons, resolves, nudges ==================================================== */

/* The JSON text of channel's messages (or chat.update edits when edits). */
static char *dump(const char *what, const char *channel)
{
    char p[256];
    snprintf(p, sizeof p, "/_fake/%s?channel=%s", what, channel);
    cJSON *m = control(p, NULL);
    char *txt = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    return txt;
}

static long notify_sent(long t, const char *dest, const char *name, char eid[37])
{
    char *json = check_event(eid, "weak_mfa", name, 12, run_id, "2026-11-28T09:00:00Z");
    long id = route_json(t, "T1", dest, eid, json, "weak_mfa", 1);
    free(json);
    return id;
}

static long resolve_of(long t, const char *dest, const char *ref)
{
    char eid[37];
    char *json = check_event(eid, "weak_mfa", "Weak MFA", 0, run_id, "2026-11-28T10:00:00Z");
    long id = route_kind(t, "T1", dest, eid, json, "weak_mfa", 1, ref);
    free(json);
    return id;
}

START_TEST(buttons_carry_event_and_target)
{
    long plain = add_target("T1", "CBTN1");
    long nudgy = add_target("T1", "CBTN2");
    sqlf("UPDATE targets SET nudge_enabled = true WHERE id = %ld RETURNING id", nudgy);
    char e1[37], e2[37];
    notify_sent(plain, "CBTN1", "Plain check", e1);
    notify_sent(nudgy, "CBTN2", "Nudgy check", e2);
    flush();
    sender_config c;
    test_config(&c, "g-buttons");
    running *r = start_sender(&c);
    wait_final(2, 60);
    stop_sender(r);
    char *m1 = dump("messages", "CBTN1"), *m2 = dump("messages", "CBTN2");
    char v1[80], v2[80];
    snprintf(v1, sizeof v1, "\"%s:%ld\"", e1, plain);
    snprintf(v2, sizeof v2, "\"%s:%ld\"", e2, nudgy);
    ck_assert_msg(strstr(m1, v1) && strstr(m1, "herald_ack") && strstr(m1, "herald_snooze"), "%s",
                  m1);
    ck_assert_msg(!strstr(m1, "herald_nudge"), "no nudge button unless opted in: %s", m1);
    ck_assert_msg(strstr(m2, v2) && strstr(m2, "herald_nudge"), "%s", m2);
    free(m1);
    free(m2);
}
END_TEST

START_TEST(resolve_edits_the_original_and_replies_in_thread)
{
    long t = add_target("T1", "CRES");
    sqlf("UPDATE targets SET thread_repeats = true WHERE id = %ld RETURNING id", t);
    long plain = add_target("T1", "CRES2");
    char e1[37], e2[37];
    notify_sent(t, "CRES", "Weak MFA", e1);
    notify_sent(plain, "CRES2", "Weak MFA", e2);
    flush();
    sender_config c;
    test_config(&c, "g-resolve");
    running *r = start_sender(&c);
    wait_final(2, 60);
    long r1 = resolve_of(t, "CRES", e1), r2 = resolve_of(plain, "CRES2", e2);
    flush();
    wait_final(4, 60);
    stop_sender(r);
    char *ts = sqlsf("SELECT slack_ts FROM deliveries WHERE event_id = '%s'", e1);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM deliveries WHERE id IN (%ld, %ld) AND state = "
                          "'sent' AND kind = 'resolve'",
                          r1, r2),
                     2);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM deliveries WHERE id = %ld AND slack_ts = '%s' "
                          "AND slack_channel = 'CRES'",
                          r1, ts),
                     1);
    char *u = dump("updates", "CRES");
    ck_assert_msg(strstr(u, ts) && strstr(u, "Resolved"), "%s", u);
    free(u);
    /* Threads on: a reply in the message's thread. Off: the edit only. */
    cJSON *m = messages("CRES");
    int replies = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, m)
    {
        cJSON *th = cJSON_GetObjectItem(it, "thread_ts");
        cJSON *tx = cJSON_GetObjectItem(it, "text");
        if (cJSON_IsString(th) && !strcmp(th->valuestring, ts) &&
            strstr(tx->valuestring, "Resolved"))
            replies++;
    }
    cJSON_Delete(m);
    ck_assert_int_eq(replies, 1);
    ck_assert_int_eq(count_messages("CRES2"), 1);
    char *u2 = dump("updates", "CRES2");
    ck_assert_msg(strstr(u2, "Resolved"), "%s", u2);
    free(u2);
    free(ts);
}
END_TEST

START_TEST(resolve_waits_for_a_retrying_original)
{
    long t = add_target("T1", "CWAIT");
    char e1[37];
    char *json = check_event(e1, "weak_mfa", "Weak MFA", 12, run_id, "2026-11-28T09:00:00Z");
    long orig = route_json(t, "T1", "CWAIT", e1, json, "weak_mfa", 0); /* not produced yet */
    free(json);
    sqlf("UPDATE deliveries SET state = 'retrying', next_attempt_at = now() + interval '15 s' "
         "WHERE id = %ld RETURNING id",
         orig);
    long res = resolve_of(t, "CWAIT", e1);
    flush();
    sender_config c;
    test_config(&c, "g-wait");
    running *r = start_sender(&c);
    wait_sql("SELECT count(*) FROM deliveries WHERE kind = 'resolve' AND last_error_code = "
             "'original_not_sent'",
             1, 60);
    wait_final(2, 60);
    stop_sender(r);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM deliveries WHERE id = %ld AND state = 'sent'", res),
                     1);
    char *u = dump("updates", "CWAIT");
    ck_assert_msg(strstr(u, "Resolved"), "%s", u);
    free(u);
}
END_TEST

START_TEST(resolve_of_a_never_posted_original_is_suppressed)
{
    long t = add_target("T1", "CNONE");
    char e1[37];
    char *json = check_event(e1, "weak_mfa", "Weak MFA", 12, run_id, "2026-11-28T09:00:00Z");
    long orig = route_json(t, "T1", "CNONE", e1, json, "weak_mfa", 0);
    free(json);
    sqlf("UPDATE deliveries SET state = 'failed', last_error_code = 'channel_not_found' WHERE id "
         "= %ld RETURNING id",
         orig);
    long res = resolve_of(t, "CNONE", e1);
    flush();
    sender_config c;
    test_config(&c, "g-none");
    running *r = start_sender(&c);
    wait_sql("SELECT count(*) FROM deliveries WHERE state = 'suppressed'", 1, 60);
    stop_sender(r);
    ck_assert_int_eq(sqlf("SELECT count(*) FROM deliveries WHERE id = %ld AND last_error_code = "
                          "'nothing_to_resolve'",
                          res),
                     1);
    ck_assert_int_eq(count_messages("CNONE"), 0);
}
END_TEST

/* A nudge as herald-api writes it: its events row and a pending delivery. */
static void add_nudge(long t, const char *ref, const char *email, const char *name)
{
    sqlf("WITH e AS (INSERT INTO events (event_id, tenant_id, kind, check_type, payload) "
         "VALUES (md5('%s:%ld:%s')::uuid, 'acme', 'nudge', 'weak_mfa', "
         "jsonb_build_object('schema', 'herald.nudge.v1', 'ref_event_id', '%s', 'check_type', "
         "'weak_mfa', 'check_name', 'Weak MFA', 'severity', 'high', 'user', "
         "jsonb_build_object('id', 'x', 'display_name', '%s', 'email', '%s'), 'text', "
         "'Enrol a second factor')) RETURNING event_id) "
         "INSERT INTO deliveries (event_id, target_id, tenant_id, kind, ref_event_id) "
         "SELECT event_id, %ld, 'acme', 'nudge', '%s' FROM e RETURNING id",
         ref, t, email, ref, name, email, t, ref);
}

START_TEST(nudges_dm_users_and_refresh_the_message)
{
    control_do("/_fake/state",
               "{\"users\":[{\"id\":\"UBOB\",\"email\":\"bob@example.com\",\"name\":\"bob\"}]}");
    long t = add_target("T1", "CNUDGE");
    sqlf("UPDATE targets SET nudge_enabled = true WHERE id = %ld RETURNING id", t);
    char e1[37];
    notify_sent(t, "CNUDGE", "Weak MFA", e1);
    flush();
    sender_config c;
    test_config(&c, "g-nudge");
    c.reconcile_after_ms = 0; /* only herald_wake can bring the nudges in */
    running *r = start_sender(&c);
    wait_final(1, 60);
    usleep(1500 * 1000); /* the sender knows which workspaces it owns */
    add_nudge(t, e1, "alice@example.com", "Alice");
    add_nudge(t, e1, "BOB@example.com", "Bob");
    add_nudge(t, e1, "nobody@example.com", "Nobody");
    sql("NOTIFY herald_wake, 'T1'");
    wait_final(4, 30);
    wait_sql("SELECT count(*) FROM deliveries WHERE kind = 'nudge' AND state IN ('sent', "
             "'failed')",
             3, 30);
    for (int i = 0; i < 100; i++) {
        char *u = dump("updates", "CNUDGE");
        bool done = strstr(u, "Nudged 2 users (1 not found in Slack)") != NULL;
        free(u);
        if (done)
            break;
        usleep(100 * 1000);
    }
    stop_sender(r);
    char *u = dump("updates", "CNUDGE");
    ck_assert_msg(strstr(u, "Nudged 2 users (1 not found in Slack)"), "%s", u);
    free(u);
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries WHERE kind = 'nudge' AND state = "
                          "'sent' AND slack_channel IS NOT NULL"),
                     2);
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries WHERE kind = 'nudge' AND state = "
                          "'failed' AND last_error_code = 'users_not_found'"),
                     1);
    /* The DMs went to the users' ids; the target is not flagged. */
    cJSON *allm = control("/_fake/messages", NULL);
    char *all = cJSON_PrintUnformatted(allm);
    cJSON_Delete(allm);
    ck_assert_msg(strstr(all, "Enrol a second factor"), "%s", all);
    free(all);
    cJSON *m = control("/_fake/messages", NULL);
    int dms = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, m)
    {
        cJSON *us = cJSON_GetObjectItem(it, "user");
        if (cJSON_IsString(us) &&
            (!strcmp(us->valuestring, "UALICE") || !strcmp(us->valuestring, "UBOB")))
            dms++;
    }
    cJSON_Delete(m);
    ck_assert_int_eq(dms, 2);
    /* The sender neither points the target at a nudged user nor flags it (schema 010's
     * stats trigger leaves nudges out of the target's last error). */
    ck_assert_int_eq(sqlf("SELECT count(*) FROM targets WHERE id = %ld AND destination_resolved "
                          "IS DISTINCT FROM 'UALICE' AND last_error_code IS NULL",
                          t),
                     1);
}
END_TEST

int main(void)
{
    testlib_db_create("sender", url, sizeof url);
    unsigned char raw[CRYPTO_KEY_LEN];
    FILE *ur = fopen("/dev/urandom", "rb");
    if (!ur || fread(raw, 1, sizeof raw, ur) != sizeof raw)
        return 1;
    fclose(ur);
    EVP_EncodeBlock((unsigned char *)key_b64, raw, (int)sizeof raw);
    char err[256];
    if (crypto_key_from_base64(key_b64, key, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    crypto_keyring_set(ring, key, NULL);
    setenv("HERALD_KAFKA_SESSION_TIMEOUT_MS", "6000", 1);
    setenv("HERALD_KAFKA_HEARTBEAT_INTERVAL_MS", "500", 1);
    if (!getenv("HERALD_LOG_LEVEL"))
        log_set_level(LOG_LEVEL_WARN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    testlib_fake_slack_start_json(state_json, fake_args, &fake);

    Suite *s = suite_create("sender");
    TCase *i2 = tcase_create("issue2");
    tcase_add_checked_fixture(i2, setup, teardown);
    tcase_set_timeout(i2, 300);
    add(i2, sends_each_once_in_its_channel);
    add(i2, duplicates_post_once);
    add(i2, failures_end_failed_with_code_and_reason);
    add(i2, email_destination_is_a_direct_message);
    add(i2, pacing_and_429_honoured);
    add(i2, pacing_holds_across_restart);
    add(i2, transient_errors_retried_then_sent);
    add(i2, durable_retry_survives_restart);
    add(i2, retries_exhausted_fail_with_last_error);
    add(i2, sigkill_and_restart_lose_nothing);
    add(i2, binary_sigterm_is_graceful);
    suite_add_tcase(s, i2);
    TCase *i4 = tcase_create("issue4");
    tcase_add_checked_fixture(i4, setup, teardown);
    tcase_set_timeout(i4, 300);
    add(i4, digest_folds_a_backlog);
    add(i4, threads_for_repeats);
    add(i4, faults_5xx_drops_and_slow_answers);
    add(i4, rebalance_between_two_senders);
    add(i4, reinstall_makes_workspace_usable_again);
    add(i4, database_connection_loss_recovered);
    suite_add_tcase(s, i4);
    TCase *i9 = tcase_create("issue9");
    tcase_add_checked_fixture(i9, setup, teardown);
    tcase_set_timeout(i9, 300);
    add(i9, reconcile_sends_a_delivery_never_published);
    add(i9, reconcile_sends_a_delivery_dropped_from_the_partition);
    add(i9, reconcile_races_kafka_and_posts_once);
    add(i9, restart_settles_own_claims);
    add(i9, mock_cluster_ignores_static_membership);
    suite_add_tcase(s, i9);
    TCase *i10 = tcase_create("issue10");
    tcase_add_checked_fixture(i10, setup, teardown);
    tcase_set_timeout(i10, 300);
    add(i10, buttons_carry_event_and_target);
    add(i10, resolve_edits_the_original_and_replies_in_thread);
    add(i10, resolve_waits_for_a_retrying_original);
    add(i10, resolve_of_a_never_posted_original_is_suppressed);
    add(i10, nudges_dm_users_and_refresh_the_message);
    suite_add_tcase(s, i10);
    TCase *rot = tcase_create("rotation");
    tcase_add_checked_fixture(rot, setup, teardown);
    tcase_set_timeout(rot, 120);
    add(rot, rotation_refreshes_an_expiring_token);
    add(rot, rotation_token_expired_is_refreshed_and_sent_once);
    add(rot, rotation_invalid_refresh_token_revokes);
    add(rot, rotation_concurrent_refreshes_ask_slack_once);
    add(rot, rotation_wrong_client_secret_revokes_nothing);
    suite_add_tcase(s, rot);

    runner_pid = getpid();
    int failed = testlib_run_suite(s) != EXIT_SUCCESS;
    testlib_fake_slack_stop(&fake);
    /* A log still there belongs to a test that failed (or stopped half-way). */
    for (size_t i = 0; i < ARRAY_LEN(binary_log_tests); i++) {
        char log[128];
        binary_log(log, sizeof log, binary_log_tests[i]);
        if (access(log, F_OK) == 0)
            fprintf(stderr, "test_sender: herald-slack's log of a failed test is kept: %s\n", log);
    }
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
