/*
 * sender_bench: herald-slack's figures (issue 4). Run it through
 * bench/sender_bench.sh, which builds it and starts a private PostgreSQL.
 *
 *   throughput  N deliveries over 200 channels, Slack unlimited (fake-slack
 *               --rate 0) and the sender's pacing off: messages/s the sender
 *               sustains (claim, render, post over keep-alive connections,
 *               record), from the first to the last acceptance.
 *   paced       500 deliveries into 50 channels of one workspace, Slack
 *               allowing 1 message/s per channel with a burst of 3 (the
 *               sender's defaults): completion time against what that limit
 *               allows (burst at once, then 1/s: 7 s for 10 per channel),
 *               429s, messages sent, events represented; without and with
 *               digests.
 *   latency     check results published at a steady rate (default 100/s)
 *               through herald-router and herald-slack (both in-process,
 *               the code the programs run): time from publishing the event
 *               to Slack accepting its message, median and 99th percentile.
 *
 * Everything runs on this machine: an in-process librdkafka mock cluster,
 * fake-slack as a child process, PostgreSQL from HERALD_BENCH_DATABASE_URL
 * (a fresh database is created in it). Figures depend on the machine; the
 * commands and the figures measured here are in the README.
 */
#include "testlib.h"

#include "common/crypto.h"
#include "common/db.h"
#include "common/event.h"
#include "common/kafka.h"
#include "common/log.h"
#include "workers/router/router.h"
#include "workers/slack/sender.h"
#include "common/util.h"

#include <cJSON.h>
#include <curl/curl.h>
#include <libgen.h>
#include <limits.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "sender_bench: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

/* ==== environment: database, Kafka, fake Slack ============================================ */

static char db_url[512];
static PGconn *db;
static testlib_kafka kafka;
static rd_kafka_t *producer;
static char key_b64[64];
static unsigned char key[CRYPTO_KEY_LEN];
static char fake_prog[PATH_MAX];
static testlib_fake_slack fake;

static void exec_sql(const char *sql)
{
    char err[512];
    if (db_exec(db, sql, err, sizeof err))
        die(sql, err);
}

static long sql_long(const char *sql)
{
    return testlib_db_long(db, sql);
}

static void create_database(void)
{
    const char *admin = getenv("HERALD_BENCH_DATABASE_URL");
    if (!admin || !*admin)
        die("HERALD_BENCH_DATABASE_URL is not set", "run bench/sender_bench.sh");
    char name[64];
    snprintf(name, sizeof name, "herald_sender_bench_%ld", (long)getpid());
    testlib_db_create_at(admin, name, db_url, sizeof db_url);
    db = testlib_db_connect(db_url);
}

static void drop_database(void)
{
    PQfinish(db);
    char err[512];
    PGconn *c = db_connect(getenv("HERALD_BENCH_DATABASE_URL"), err, sizeof err);
    if (!c)
        return;
    char sql[160];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS herald_sender_bench_%ld", (long)getpid());
    db_exec(c, sql, err, sizeof err);
    PQfinish(c);
}

static void start_kafka(int partitions)
{
    testlib_kafka_start(&kafka, 1, partitions);
    char err[512];
    producer = kafka_producer_new(kafka.bootstraps, NULL, NULL, err, sizeof err);
    if (!producer)
        die(err, NULL);
}

static void stop_kafka(void)
{
    rd_kafka_flush(producer, 5000);
    rd_kafka_destroy(producer);
    testlib_kafka_destroy(&kafka);
}

static void start_fake(const char *rate, const char *burst)
{
    const char *const args[] = {
        "--rate",         rate,      "--burst",     burst,  "--auto-channels",
        "--max-messages", "1000000", "--log-level", "warn", NULL,
    };
    testlib_fake_slack_start_program(fake_prog, NULL, args, &fake);
}

static void stop_fake(void)
{
    testlib_fake_slack_stop(&fake);
}

static cJSON *fake_control(const char *path, const char *body)
{
    char err[1024];
    cJSON *j = testlib_fake_slack_request(&fake, path, body, err, sizeof err);
    if (!j)
        die("fake-slack control", err);
    return j;
}

static double fake_stat(const char *a, const char *b)
{
    cJSON *s = fake_control("/_fake/stats", NULL);
    cJSON *o = cJSON_GetObjectItem(s, a);
    if (o && b)
        o = cJSON_GetObjectItem(o, b);
    double v = cJSON_IsNumber(o) ? o->valuedouble : 0;
    cJSON_Delete(s);
    return v;
}

/* ==== data ================================================================================ */

static void add_workspace(const char *team, const char *token)
{
    char *hex = testlib_sealed_token_hex(key, token);
    if (!hex)
        die("crypto_seal", NULL);
    const char *params[2] = {team, hex};
    PGresult *r = PQexecParams(db,
                               "INSERT INTO workspaces (team_id, team_name, token_enc) VALUES "
                               "($1, $1, $2::bytea)",
                               2, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        die("insert workspace", PQresultErrorMessage(r));
    PQclear(r);
    free(hex);
}

/* The workspace of channel i when the channels are spread over nteams. */
static void team_of(int i, int nteams, char out[16])
{
    if (nteams <= 1)
        snprintf(out, 16, "T0BENCH");
    else
        snprintf(out, 16, "T0BENCH%d", i % nteams);
}

/* nteams workspaces (all with fake-slack's demo token: it sees one workspace). */
static void add_workspaces(int nteams)
{
    for (int i = 0; i < (nteams > 1 ? nteams : 1); i++) {
        char team[16];
        team_of(i, nteams, team);
        add_workspace(team, "xoxb-fake-token");
    }
}

/* Targets t-<prefix><i> posting to channel <prefix><i> of workspace team_of(i);
 * with check filters chk_<i> when filtered (so each latency event goes to
 * exactly one). */
static long add_targets(const char *prefix, int n, bool filtered, int nteams)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "INSERT INTO targets (tenant_id, team_id, name, destination, destination_kind, "
             "use_failed_check) SELECT 'bench', CASE WHEN %d > 1 THEN 'T0BENCH' || (i %% %d) "
             "ELSE 'T0BENCH' END, 't-%s' || i, '%s' || lpad(i::text, 3, '0'), 'channel', true "
             "FROM generate_series(0, %d) i ORDER BY i",
             nteams, nteams > 1 ? nteams : 1, prefix, prefix, n - 1);
    exec_sql(sql);
    if (filtered) {
        snprintf(sql, sizeof sql,
                 "INSERT INTO target_checks SELECT id, 'chk_' || substr(destination, %d)::int "
                 "FROM targets WHERE name LIKE 't-%s%%'",
                 (int)strlen(prefix) + 1, prefix);
        exec_sql(sql);
    }
    snprintf(sql, sizeof sql, "SELECT min(id) FROM targets WHERE name LIKE 't-%s%%'", prefix);
    return sql_long(sql);
}

static char *check_json(char eid[37], const char *type, const char *name, const char *at)
{
    util_uuid4(eid);
    char run[37];
    util_uuid4(run);
    char *s = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&s, &len);
    fprintf(f,
            "{\"schema\":\"herald.check_result.v1\",\"event_id\":\"%s\",\"tenant_id\":\"bench\","
            "\"run_id\":\"%s\",\"trigger\":\"scheduled\",\"check\":{\"type\":\"%s\",\"name\":"
            "\"%s\",\"severity\":\"high\",\"url\":\"https://herald.example/checks/%s\"},"
            "\"evaluated_at\":\"%s\",\"failing_count\":12,\"total_count\":480,"
            "\"failing_users\":[{\"id\":\"u1\",\"display_name\":\"Ada <!channel>\",\"email\":"
            "\"ada@example.com\"},{\"id\":\"u2\",\"display_name\":\"Grace\",\"email\":"
            "\"grace@example.com\"}]}",
            eid, run, type, name, type, at);
    fclose(f);
    return s;
}

/* Inserts n events and pending deliveries (ids first_id..) round-robin over
 * nchannels targets starting at target0, and produces their routed
 * deliveries. Event names are "<marker> <i>". With throttle, production keeps
 * at most that many deliveries unfinished (the mock cluster keeps only ~5 MiB
 * per partition and drops older data). */
static void route_deliveries(int n, long target0, const char *prefix, int nchannels,
                             const char *marker, long first_id, int nteams, int throttle)
{
    char at[EVENT_TIME_LEN];
    event_format_time(util_now_wall_ms(), at);
    size_t cap = (size_t)n * 700 + 1024, elen = 0, dlen = 0;
    char *ev = xmalloc(cap), *dl = xmalloc((size_t)n * 128 + 1024);
    char **jsons = xcalloc((size_t)n, sizeof *jsons);
    char(*eids)[37] = xcalloc((size_t)n, 37);
    for (int i = 0; i < n; i++) {
        char name[64];
        snprintf(name, sizeof name, "%s %d", marker, i);
        jsons[i] = check_json(eids[i], "weak_mfa", name, at);
        /* COPY text format: the JSON has no tabs, newlines or backslashes */
        elen += (size_t)snprintf(ev + elen, cap - elen, "%s\tbench\tcheck_result\tweak_mfa\t%s\n",
                                 eids[i], jsons[i]);
        dlen += (size_t)sprintf(dl + dlen, "%ld\t%s\t%ld\tbench\n", first_id + i, eids[i],
                                target0 + i % nchannels);
    }
    const char *copies[2] = {"COPY events (event_id, tenant_id, kind, check_type, payload) FROM "
                             "STDIN",
                             "COPY deliveries (id, event_id, target_id, tenant_id) FROM STDIN"};
    const char *data[2] = {ev, dl};
    size_t lens[2] = {elen, dlen};
    for (int k = 0; k < 2; k++) {
        PGresult *r = PQexec(db, copies[k]);
        if (PQresultStatus(r) != PGRES_COPY_IN)
            die(copies[k], PQresultErrorMessage(r));
        PQclear(r);
        if (PQputCopyData(db, data[k], (int)lens[k]) != 1 || PQputCopyEnd(db, NULL) != 1)
            die("COPY", PQerrorMessage(db));
        while ((r = PQgetResult(db))) {
            if (PQresultStatus(r) != PGRES_COMMAND_OK)
                die(copies[k], PQresultErrorMessage(r));
            PQclear(r);
        }
    }
    exec_sql("SELECT setval('deliveries_id_seq', (SELECT max(id) FROM deliveries))");
    for (int i = 0; i < n; i++) {
        if (throttle > 0 && i > 0 && i % 500 == 0) {
            rd_kafka_flush(producer, 10000);
            while (i - sql_long("SELECT count(*) FROM deliveries WHERE state IN ('sent', "
                                "'failed')") >
                   throttle)
                usleep(20 * 1000);
        }
        char dest[32], team[16];
        snprintf(dest, sizeof dest, "%s%03d", prefix, i % nchannels);
        team_of(i % nchannels, nteams, team);
        routed_delivery d = {.delivery_id = first_id + i,
                             .target_id = target0 + i % nchannels,
                             .tenant_id = "bench",
                             .team_id = team,
                             .destination = dest,
                             .kind = EVENT_CHECK_RESULT,
                             .event_json = jsons[i],
                             .routed_at_ms = util_now_wall_ms()};
        memcpy(d.event_id, eids[i], 37);
        char *wire = routed_delivery_encode(&d);
        if (!wire)
            die("routed_delivery_encode", NULL);
        rd_kafka_resp_err_t err;
        while ((err = rd_kafka_producev(
                    producer, RD_KAFKA_V_TOPIC(TOPIC_DELIVERIES), RD_KAFKA_V_KEY("T0BENCH", 7),
                    RD_KAFKA_V_VALUE(wire, strlen(wire)), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_END)) == RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(producer, 10);
        if (err)
            die("produce", rd_kafka_err2str(err));
        free(wire);
        free(jsons[i]);
    }
    if (rd_kafka_flush(producer, 30000))
        die("flush", "routed deliveries not acknowledged");
    free(jsons);
    free(eids);
    free(ev);
    free(dl);
}

/* ==== running the sender and the router in-process ======================================= */

typedef testlib_sender_thread sender_thread;

static void sender_config_bench(sender_config *c, const char *group)
{
    sender_config_default(c);
    c->common.kafka_brokers = (char *)kafka.bootstraps;
    c->common.database_url = db_url;
    c->common.slack_api_url = fake.api_url;
    c->common.secret_key = key_b64;
    c->group = (char *)group;
}

static void sender_start(sender_thread *t, const sender_config *c)
{
    char err[512];
    t->s = sender_new(c, err, sizeof err);
    if (!t->s)
        die("sender_new", err);
    if (testlib_sender_thread_start(t))
        die("sender", "no thread");
}

static void sender_finish(sender_thread *t)
{
    testlib_sender_thread_stop(t);
    sender_destroy(t->s);
}

static void wait_final(long n, int timeout_s)
{
    for (int i = 0; i < timeout_s * 20; i++) {
        if (sql_long("SELECT count(*) FROM deliveries WHERE state IN ('sent', 'failed')") >= n)
            return;
        usleep(50 * 1000);
    }
    die("timed out waiting for deliveries to finish", NULL);
}

/* Acceptance times (fake-slack's clock, ms) of every message: min and max. */
static void message_span(double *first, double *last, long *count)
{
    cJSON *m = fake_control("/_fake/messages", NULL);
    *first = 0;
    *last = 0;
    *count = cJSON_GetArraySize(m);
    cJSON *it;
    cJSON_ArrayForEach(it, m)
    {
        double t = cJSON_GetObjectItem(it, "time")->valuedouble;
        if (!*first || t < *first)
            *first = t;
        if (t > *last)
            *last = t;
    }
    cJSON_Delete(m);
}

/* ==== (a) throughput ====================================================================== */

static int bench_throughput(int n, int channels)
{
    const int nteams = 8;
    start_fake("0", "1");
    add_workspaces(nteams);
    long t0 = add_targets("CT", channels, false, nteams);
    printf("throughput: %d deliveries over %d channels of %d workspaces; fake Slack unlimited; "
           "sender pacing off, digests off, %d requests in flight at most\n",
           n, channels, nteams, channels);
    sender_config c;
    sender_config_bench(&c, "bench-throughput");
    c.channel_rate = 0;
    c.workspace_rate = 0;
    c.digests = false;
    c.max_in_flight = channels;
    sender_thread st;
    int64_t w0 = util_now_mono_ms();
    sender_start(&st, &c);
    route_deliveries(n, t0, "CT", channels, "Throughput", 1, nteams, 4000);
    wait_final(n, 600);
    int64_t w1 = util_now_mono_ms();
    sender_finish(&st);
    double first, last;
    long count;
    message_span(&first, &last, &count);
    long sent = sql_long("SELECT count(*) FROM deliveries WHERE state = 'sent'");
    double secs = (last - first) / 1000.0;
    printf("  messages accepted by Slack: %ld (rows sent: %ld)\n", count, sent);
    printf("  first to last acceptance:   %.2f s\n", secs);
    printf("  throughput:                 %.0f messages/s\n", secs > 0 ? (double)count / secs : 0);
    printf("  (wall time incl. consumer group join: %.2f s)\n", (double)(w1 - w0) / 1000.0);
    stop_fake();
    return sent == n ? 0 : 1;
}

/* ==== (b) paced ============================================================================ */

/* Whether every event marker "<marker> i" appears in some message (text or blocks). */
static long events_represented(const char *marker, int n)
{
    cJSON *m = fake_control("/_fake/messages", NULL);
    char *all = cJSON_PrintUnformatted(m);
    cJSON_Delete(m);
    long found = 0;
    for (int i = 0; i < n; i++) {
        char needle[64];
        /* the name is followed by a non-digit in text and blocks */
        snprintf(needle, sizeof needle, "%s %d", marker, i);
        const char *p = all;
        while ((p = strstr(p, needle))) {
            char next = p[strlen(needle)];
            if (next < '0' || next > '9') {
                found++;
                break;
            }
            p++;
        }
    }
    cJSON_free(all);
    return found;
}

static int paced_run(bool digests, int n, int channels, double rate, double burst)
{
    fake_control("/_fake/reset", "{}");
    exec_sql("TRUNCATE deliveries, events CASCADE");
    const char *marker = digests ? "PacedDigest" : "Paced";
    long t0 = sql_long("SELECT min(id) FROM targets WHERE name LIKE 't-CP%'");
    long first_id = digests ? 100001 : 1;
    route_deliveries(n, t0, "CP", channels, marker, first_id, 1, 0);
    sender_config c;
    /* One group for both runs: the second continues after the first's offsets. */
    sender_config_bench(&c, "bench-paced");
    c.workspace_rate = 0; /* the fake Slack limits channels only */
    c.channel_rate = rate;
    c.channel_burst = burst;
    c.digests = digests;
    sender_thread st;
    sender_start(&st, &c);
    wait_final(n, 600);
    sender_finish(&st);
    double first, last;
    long count;
    message_span(&first, &last, &count);
    int per = (n + channels - 1) / channels;
    double limit = per > burst ? (per - burst) / rate : 0;
    double took = (last - first) / 1000.0;
    double posts = fake_stat("requests", "chat.postMessage");
    double limited = fake_stat("rate_limited", NULL);
    long sent = sql_long("SELECT count(*) FROM deliveries WHERE state = 'sent'");
    long rep = events_represented(marker, n);
    printf("  %s:\n", digests ? "with digests" : "without digests");
    printf("    completion (first to last acceptance): %.2f s; the limit allows %.2f s "
           "(%+.2f s)\n",
           took, limit, took - limit);
    printf("    chat.postMessage requests: %.0f, 429s: %.0f (%.2f%%)\n", posts, limited,
           posts > 0 ? 100.0 * limited / posts : 0);
    printf("    messages sent: %ld; deliveries sent: %ld of %d; events represented: %ld of %d\n",
           count, sent, n, rep, n);
    return sent == n && rep == n ? 0 : 1;
}

static int bench_paced(int n, int channels)
{
    double rate = 1, burst = 3;
    start_fake("1", "3");
    add_workspaces(1);
    add_targets("CP", channels, false, 1);
    printf("paced: %d deliveries into %d channels of one workspace; Slack allows %.0f/s per "
           "channel, burst %.0f; sender paced the same (its defaults), workspace limit off\n",
           n, channels, rate, burst);
    int rc = paced_run(false, n, channels, rate, burst);
    rc |= paced_run(true, n, channels, rate, burst);
    stop_fake();
    return rc;
}

/* ==== (c) latency ========================================================================== */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int bench_latency(int rate, int seconds, int channels)
{
    /* Spread like production traffic: 25 workspaces, so each stays under the
     * sender's default workspace pace (300/min) at 100 events/s in all. */
    const int nteams = 25;
    start_fake("1", "3");
    add_workspaces(nteams);
    add_targets("CL", channels, true, nteams);
    int n = rate * seconds;
    printf("latency: %d check results/s for %d s (%d events), each routed to one of %d "
           "channels in %d workspaces; Slack 1/s per channel burst 3; sender defaults; "
           "herald-router + herald-slack in-process\n",
           rate, seconds, n, channels, nteams);

    router_config rc;
    router_config_defaults(&rc);
    rc.brokers = kafka.bootstraps;
    rc.database_url = db_url;
    rc.summary_seconds = 0;
    char err[512];
    testlib_router_thread rt;
    rt.r = router_new(&rc, err, sizeof err);
    if (!rt.r)
        die("router_new", err);
    if (testlib_router_thread_start(&rt))
        die("router", "no thread");
    sender_config c;
    sender_config_bench(&c, "bench-latency");
    sender_thread st;
    sender_start(&st, &c);
    /* Both consumers join their groups (the mock cluster holds a first join ~3 s). */
    sleep(5);

    /* Warm the publisher up as a check engine's long-lived producer is: the
     * topic's metadata and leader connection. Cold, its first produce waited
     * about a second, and every event published meanwhile with it: that
     * startup stall was the whole of the p99 this bench used to report
     * (events published in the first second of the run). */
    rd_kafka_topic_t *wt = rd_kafka_topic_new(producer, TOPIC_CHECKS, NULL);
    const struct rd_kafka_metadata *md = NULL;
    if (!wt || rd_kafka_metadata(producer, 0, wt, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        die("metadata", "herald.checks.v1 is not known to the publisher");
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(wt);

    double *pub = xcalloc((size_t)n, sizeof *pub);
    char at[EVENT_TIME_LEN];
    int64_t start = util_now_mono_ms();
    for (int i = 0; i < n; i++) {
        int64_t due = start + (int64_t)i * 1000 / rate;
        int64_t now = util_now_mono_ms();
        if (due > now)
            usleep((useconds_t)(due - now) * 1000);
        char eid[37], name[64], type[32];
        snprintf(name, sizeof name, "Latency %d", i);
        snprintf(type, sizeof type, "chk_%d", i % channels);
        event_format_time(util_now_wall_ms(), at);
        char *json = check_json(eid, type, name, at);
        pub[i] = (double)util_now_wall_ms();
        if (rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(TOPIC_CHECKS), RD_KAFKA_V_KEY("bench", 5),
                              RD_KAFKA_V_VALUE(json, strlen(json)),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END))
            die("produce", NULL);
        free(json);
        rd_kafka_poll(producer, 0);
    }
    rd_kafka_flush(producer, 10000);
    wait_final(n, 300);
    sender_finish(&st);
    testlib_router_thread_stop(&rt);
    router_destroy(rt.r);

    /* When the router stored each event (events.received_at): splits the time
     * into the router's part and the sender's part. */
    double *stored = xcalloc((size_t)n, sizeof *stored);
    PGresult *r = PQexec(db, "SELECT substr(payload->'check'->>'name', 9)::int, "
                             "extract(epoch FROM received_at) * 1000 FROM events");
    for (int k = 0; PQresultStatus(r) == PGRES_TUPLES_OK && k < PQntuples(r); k++) {
        int i = atoi(PQgetvalue(r, k, 0));
        if (i >= 0 && i < n)
            stored[i] = atof(PQgetvalue(r, k, 1));
    }
    PQclear(r);
    cJSON *m = fake_control("/_fake/messages", NULL);
    double *lat = xcalloc((size_t)n, sizeof *lat), *rl = xcalloc((size_t)n, sizeof *rl),
           *sl = xcalloc((size_t)n, sizeof *sl);
    int got = 0;
    cJSON *it;
    cJSON_ArrayForEach(it, m)
    {
        const char *text = cJSON_GetObjectItem(it, "text")->valuestring;
        const char *p = strstr(text, "Latency ");
        if (!p)
            continue;
        int i = atoi(p + 8);
        if (i < 0 || i >= n)
            continue;
        double accepted = cJSON_GetObjectItem(it, "time")->valuedouble;
        rl[got] = stored[i] - pub[i];
        sl[got] = accepted - stored[i];
        lat[got++] = accepted - pub[i];
    }
    cJSON_Delete(m);
    qsort(lat, (size_t)got, sizeof *lat, cmp_double);
    qsort(rl, (size_t)got, sizeof *rl, cmp_double);
    qsort(sl, (size_t)got, sizeof *sl, cmp_double);
    long sent = sql_long("SELECT count(*) FROM deliveries WHERE state = 'sent'");
    printf("  messages matched: %d of %d (rows sent: %ld)\n", got, n, sent);
    if (got) {
        size_t p99 = (size_t)((got - 1) * 0.99);
        printf("  publish -> Slack acceptance: median %.0f ms, p99 %.0f ms, max %.0f ms\n",
               lat[got / 2], lat[p99], lat[got - 1]);
        printf("    of which publish -> stored by the router: median %.0f ms, p99 %.0f ms\n",
               rl[got / 2], rl[p99]);
        printf("    and stored -> accepted (router publish + sender): median %.0f ms, p99 %.0f "
               "ms\n",
               sl[got / 2], sl[p99]);
    }
    free(lat);
    free(rl);
    free(sl);
    free(stored);
    free(pub);
    stop_fake();
    return got == n ? 0 : 1;
}

/* ==== main ================================================================================ */

static void usage(FILE *f)
{
    fprintf(f, "usage: sender_bench throughput [N] | paced | latency [RATE [SECONDS]]\n"
               "  throughput  N deliveries (default 20000) over 200 channels, Slack unlimited\n"
               "  paced       500 deliveries into 50 channels at 1/s burst 3, without and with "
               "digests\n"
               "  latency     RATE events/s (default 100) for SECONDS (default 30) through router "
               "and sender\n"
               "environment: HERALD_BENCH_DATABASE_URL (required), FAKE_SLACK (default: "
               "../tests/support/fake-slack next to this program)\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *mode = argv[1];
    if (strcmp(mode, "throughput") && strcmp(mode, "paced") && strcmp(mode, "latency")) {
        fprintf(stderr, "sender_bench: unknown mode '%s'\n", mode);
        usage(stderr);
        return 2;
    }
    log_init("sender_bench");
    log_level lvl = LOG_LEVEL_ERROR;
    if (getenv("HERALD_LOG_LEVEL") && !log_level_parse(getenv("HERALD_LOG_LEVEL"), &lvl))
        die("HERALD_LOG_LEVEL: expected debug, info, warn or error", NULL);
    log_set_level(lvl);
    const char *fp = getenv("FAKE_SLACK");
    if (fp && *fp) {
        snprintf(fake_prog, sizeof fake_prog, "%s", fp);
    } else {
        char self[PATH_MAX];
        snprintf(self, sizeof self, "%s", argv[0]);
        snprintf(fake_prog, sizeof fake_prog, "%s/../tests/support/fake-slack", dirname(self));
    }
    unsigned char raw[CRYPTO_KEY_LEN];
    FILE *ur = fopen("/dev/urandom", "rb");
    if (!ur || fread(raw, 1, sizeof raw, ur) != sizeof raw)
        die("/dev/urandom", NULL);
    fclose(ur);
    EVP_EncodeBlock((unsigned char *)key_b64, raw, (int)sizeof raw);
    char err[256];
    if (crypto_key_from_base64(key_b64, key, err, sizeof err))
        die(err, NULL);
    /*
     * librdkafka's mock broker (measured here) holds a fetch for the whole
     * fetch.wait.max.ms (500 ms by default) even when data arrives meanwhile;
     * a real broker answers as soon as there is data. Without this, every
     * Kafka hop would add up to half a second that production does not have.
     */
    setenv("HERALD_KAFKA_FETCH_WAIT_MAX_MS", "5", 0);
    /* A consumer's first join waits ~3 s in the mock cluster; keep sessions short. */
    setenv("HERALD_KAFKA_SESSION_TIMEOUT_MS", "6000", 1);
    setenv("HERALD_KAFKA_HEARTBEAT_INTERVAL_MS", "500", 1);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    signal(SIGPIPE, SIG_IGN);

    create_database();
    start_kafka(8);
    int rc;
    if (!strcmp(mode, "throughput")) {
        int n = argc > 2 ? atoi(argv[2]) : 20000;
        rc = bench_throughput(n > 0 ? n : 20000, 200);
    } else if (!strcmp(mode, "paced")) {
        rc = bench_paced(500, 50);
    } else {
        int rate = argc > 2 ? atoi(argv[2]) : 100;
        int secs = argc > 3 ? atoi(argv[3]) : 30;
        rc = bench_latency(rate > 0 ? rate : 100, secs > 0 ? secs : 30, 200);
    }
    stop_kafka();
    drop_database();
    stop_fake();
    return rc;
}
