/*
 * herald-router against PostgreSQL and librdkafka's mock cluster: routing,
 * delivery rows and routed messages, redelivery, dead letters, cache
 * invalidation, database and broker outages, shutdown, and scale-out with
 * several router processes, a rebalance and a SIGKILL.
 *
 * Each test runs in its own forked child with its own mock cluster (the
 * cluster's threads would not survive a fork), and starts from empty tables.
 */
#include "testlib.h"

#include "common/db.h"
#include "common/event.h"
#include "common/kafka.h"
#include "common/log.h"
#include "workers/router/route.h"
#include "workers/router/router.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* strtol/strtod without error reporting needs: the text came from
 * PostgreSQL or from our own HTTP server */
static long strtol_or0(const char *s)
{
    return strtol(s, NULL, 10);
}

static double strtod_or0(const char *s)
{
    return strtod(s, NULL);
}

static char url[512];
static testlib_kafka K;
static PGconn *db;

/* ------------------------------------------------------------------------ */
/* Fixture                                                                   */
/* ------------------------------------------------------------------------ */

static long sqll(const char *q)
{
    return testlib_db_long(db, q);
}

static void setup(void)
{
    db = testlib_db_connect(url);
    testlib_db_exec(db, "TRUNCATE delivery_stats_delta, deliveries, events, target_checks, "
                        "targets, workspaces, check_passes, "
                        "alert_states, silences CASCADE");
    testlib_db_exec(db, "INSERT INTO workspaces (team_id, team_name, token_enc) VALUES"
                        " ('T1', 'One', '\\x00'), ('T2', 'Two', '\\x00')");
    testlib_kafka_start(&K, 1, 4);
}

static void teardown(void)
{
    testlib_kafka_destroy(&K);
    PQfinish(db);
    db = NULL;
}

static int target_seq;

/* Inserts a target and returns its id. uses: "fc", "dc" or "both". */
static long add_target(const char *tenant, const char *team, const char *dest, const char *uses,
                       const char *checks)
{
    char q[1024];
    bool fc = strstr(uses, "fc") || !strcmp(uses, "both");
    bool dc = strstr(uses, "dc") || !strcmp(uses, "both");
    snprintf(
        q, sizeof q,
        "INSERT INTO targets (tenant_id, team_id, name, destination, destination_kind,"
        " use_failed_check, use_data_collection) VALUES ('%s', '%s', 'n%d', '%s', '%s', %s, %s)"
        " RETURNING id",
        tenant, team, ++target_seq, dest, strchr(dest, '@') ? "email" : "channel",
        fc ? "true" : "false", dc ? "true" : "false");
    long id = sqll(q);
    if (checks) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", checks);
        for (char *save = NULL, *c = strtok_r(buf, ",", &save); c; c = strtok_r(NULL, ",", &save)) {
            snprintf(q, sizeof q, "INSERT INTO target_checks VALUES (%ld, '%s')", id, c);
            testlib_db_exec(db, q);
        }
    }
    return id;
}

/* ------------------------------------------------------------------------ */
/* Events                                                                    */
/* ------------------------------------------------------------------------ */

static char *check_json(char eid[37], const char *tenant, const char *type, long failing,
                        const char *trigger)
{
    util_uuid4(eid);
    return testlib_fmt(
        "{\"schema\":\"herald.check_result.v1\",\"event_id\":\"%s\",\"tenant_id\":\"%s\","
        "\"run_id\":\"0b8e8f4e-2f7e-4a51-9a0b-3c1d2e4f5a6b\",\"trigger\":\"%s\","
        "\"check\":{\"type\":\"%s\",\"name\":\"Check %s\",\"severity\":\"high\"},"
        "\"evaluated_at\":\"2026-11-28T09:00:00Z\",\"failing_count\":%ld,"
        "\"total_count\":480,\"failing_users\":[]}",
        eid, tenant, trigger, type, type, failing);
}

static char *collection_json(char eid[37], const char *tenant, const char *trigger, bool failed)
{
    util_uuid4(eid);
    return testlib_fmt(
        "{\"schema\":\"herald.collection_event.v1\",\"event_id\":\"%s\",\"tenant_id\":\"%s\","
        "\"integration\":{\"id\":\"okta-prod\",\"name\":\"Okta\",\"kind\":\"okta\"},"
        "\"trigger\":\"%s\",\"status\":\"%s\",\"started_at\":\"2026-11-28T09:00:00Z\","
        "\"finished_at\":\"2026-11-28T09:05:00Z\",\"stats\":{\"users\":12}%s}",
        eid, tenant, trigger, failed ? "failed" : "succeeded",
        failed ? ",\"error\":{\"code\":\"auth_failed\",\"message\":\"denied\"}" : "");
}

static rd_kafka_t *producer(void)
{
    char err[512];
    rd_kafka_t *p = kafka_producer_new(K.bootstraps, NULL, NULL, err, sizeof err);
    ck_assert_msg(p != NULL, "%s", err);
    return p;
}

static void produce(rd_kafka_t *p, const char *topic, const char *key, const char *value)
{
    rd_kafka_resp_err_t err;
    while ((err = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY(key, strlen(key)),
                                    RD_KAFKA_V_VALUE((void *)value, strlen(value)),
                                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END)) ==
           RD_KAFKA_RESP_ERR__QUEUE_FULL)
        rd_kafka_poll(p, 50);
    ck_assert_msg(!err, "produce: %s", rd_kafka_err2str(err));
}

static void flush(rd_kafka_t *p)
{
    ck_assert_int_eq(rd_kafka_flush(p, 30000), RD_KAFKA_RESP_ERR_NO_ERROR);
}

/* ------------------------------------------------------------------------ */
/* Reading a topic from the beginning                                        */
/* ------------------------------------------------------------------------ */

typedef struct rec {
    char *key;
    char *value;
    char *reason; /* herald.reason header, if any */
} rec;

typedef struct reader {
    rd_kafka_t *c;
    rec *recs;
    size_t n, cap;
} reader;

static void reader_open(reader *rd, const char *topic)
{
    memset(rd, 0, sizeof *rd);
    char err[512];
    rd_kafka_conf_t *conf = kafka_conf_new(K.bootstraps, err, sizeof err);
    ck_assert(conf != NULL);
    char gid[64];
    snprintf(gid, sizeof gid, "reader-%d-%ld", getpid(), (long)util_now_mono_ms());
    kafka_conf_set(conf, "group.id", gid, err, sizeof err);
    kafka_conf_set(conf, "enable.auto.commit", "false", err, sizeof err);
    rd->c = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    ck_assert_msg(rd->c != NULL, "%s", err);
    rd_kafka_poll_set_consumer(rd->c);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    for (int p = 0; p < 4; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    ck_assert_int_eq(rd_kafka_assign(rd->c, l), 0);
    rd_kafka_topic_partition_list_destroy(l);
}

/* Reads until at least want records were seen or timeout_ms passed (then
 * keeps reading for settle_ms more to catch extras). */
static size_t reader_read(reader *rd, size_t want, int timeout_ms, int settle_ms)
{
    int64_t end = util_now_mono_ms() + timeout_ms;
    int64_t settle_end = 0;
    for (;;) {
        int64_t now = util_now_mono_ms();
        if (!settle_end && (rd->n >= want || now >= end))
            settle_end = now + settle_ms;
        if (settle_end && now >= settle_end)
            break;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rd->c, 100);
        if (!m)
            continue;
        if (m->err) {
            rd_kafka_message_destroy(m);
            continue;
        }
        if (rd->n == rd->cap) {
            rd->cap = rd->cap ? rd->cap * 2 : 64;
            rd->recs = xrealloc(rd->recs, rd->cap * sizeof *rd->recs);
        }
        rec *r = &rd->recs[rd->n++];
        memset(r, 0, sizeof *r);
        r->key = strndup(m->key ? m->key : "", m->key_len);
        r->value = strndup(m->payload ? m->payload : "", m->len);
        rd_kafka_headers_t *h = NULL;
        const void *v;
        size_t vlen;
        if (!rd_kafka_message_headers(m, &h) &&
            !rd_kafka_header_get_last(h, "herald.reason", &v, &vlen))
            r->reason = strndup(v, vlen);
        rd_kafka_message_destroy(m);
    }
    return rd->n;
}

static void reader_close(reader *rd)
{
    for (size_t i = 0; i < rd->n; i++) {
        free(rd->recs[i].key);
        free(rd->recs[i].value);
        free(rd->recs[i].reason);
    }
    free(rd->recs);
    rd_kafka_consumer_close(rd->c);
    rd_kafka_destroy(rd->c);
}

/* ------------------------------------------------------------------------ */
/* The router in a thread                                                    */
/* ------------------------------------------------------------------------ */

static const char *const fast_group[] = {"session.timeout.ms", "6000", "heartbeat.interval.ms",
                                         "500", NULL};

typedef testlib_router_thread running;

static void start_router_waiting(running *rr, const char *group, long batch_size, const char *dburl,
                                 long batch_wait_ms)
{
    router_config cfg;
    router_config_defaults(&cfg);
    cfg.brokers = K.bootstraps;
    cfg.database_url = dburl ? dburl : url;
    cfg.group = group;
    cfg.batch_size = batch_size;
    cfg.batch_wait_ms = batch_wait_ms;
    cfg.summary_seconds = 5;
    cfg.consumer_props = fast_group;
    char err[512];
    rr->r = router_new(&cfg, err, sizeof err);
    ck_assert_msg(rr->r != NULL, "router_new: %s", err);
    ck_assert_int_eq(testlib_router_thread_start(rr), 0);
}

static void start_router(running *rr, const char *group, long batch_size, const char *dburl)
{
    start_router_waiting(rr, group, batch_size, dburl, 20);
}

static router_stats stats_of(running *rr)
{
    router_stats s;
    router_get_stats(rr->r, &s);
    return s;
}

/* Waits until the router has completed batches covering n consumed messages. */
static void wait_consumed(running *rr, uint64_t n, int timeout_s)
{
    int64_t end = util_now_mono_ms() + timeout_s * 1000L;
    for (;;) {
        router_stats s = stats_of(rr);
        uint64_t done = s.routed + s.not_notifiable + s.no_target + s.dead_lettered + s.duplicates;
        if (done >= n)
            return;
        ck_assert_msg(
            util_now_mono_ms() < end, "timed out: %llu of %llu events processed (consumed %llu)",
            (unsigned long long)done, (unsigned long long)n, (unsigned long long)s.consumed);
        usleep(50 * 1000);
    }
}

static void wait_rows(const char *q, long want, int timeout_s)
{
    int64_t end = util_now_mono_ms() + timeout_s * 1000L;
    long have;
    while ((have = sqll(q)) != want) {
        ck_assert_msg(util_now_mono_ms() < end, "timed out waiting for %s = %ld (have %ld)", q,
                      want, have);
        usleep(100 * 1000);
    }
}

static void stop_router(running *rr)
{
    ck_assert_int_eq(testlib_router_thread_stop(rr), 0);
}

static void destroy_router(running *rr)
{
    router_destroy(rr->r);
    rr->r = NULL;
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */
/* ------------------------------------------------------------------------ */

typedef struct expected {
    char eid[37];
    long target;
} expected;

/* Finds the decoded delivery for (eid, target) among the records. */
static int find_delivery(reader *rd, const char *eid, long target, routed_delivery **out)
{
    int found = 0;
    for (size_t i = 0; i < rd->n; i++) {
        routed_delivery *d = NULL;
        char err[256];
        ck_assert_msg(routed_delivery_decode(rd->recs[i].value, strlen(rd->recs[i].value), &d, err,
                                             sizeof err) == 0,
                      "routed delivery does not decode: %s", err);
        if (!strcmp(d->event_id, eid) && d->target_id == target) {
            ck_assert_str_eq(rd->recs[i].key, d->team_id);
            found++;
            if (out && !*out) {
                *out = d;
                continue;
            }
        }
        routed_delivery_destroy(d);
    }
    return found;
}

START_TEST(routes_by_the_rules)
{
    long a = add_target("acme", "T1", "C0001", "fc", NULL);
    long b = add_target("acme", "T2", "#sec-alerts", "fc", "weak_mfa,stale_admin");
    testlib_db_exec(
        db, "UPDATE targets SET destination_resolved = 'C0BBB' WHERE destination = '#sec-alerts'");
    long c = add_target("acme", "T1", "ops@example.com", "dc", NULL);
    long d = add_target("acme", "T1", "C0004", "both", NULL);
    testlib_db_exec(db, "UPDATE targets SET enabled = false WHERE destination = 'C0004'");
    long e = add_target("acme", "T1", "C0005", "both", NULL);
    testlib_db_exec(db, "UPDATE targets SET deleted_at = now() WHERE destination = 'C0005'");
    long f = add_target("globex", "T2", "C0006", "both", NULL);
    (void)d;
    (void)e;
    /* e3 passes after e1 at the same time: with notify_resolved it would
     * resolve e1 (resolves have their own test) */
    testlib_db_exec(db, "UPDATE targets SET notify_resolved = false");

    rd_kafka_t *p = producer();
    char e1[37], e2[37], e3[37], e4[37], e5[37], e6[37], e7[37], e8[37];
    char *ev[8] = {
        check_json(e1, "acme", "weak_mfa", 12, "scheduled"),  /* a, b */
        check_json(e2, "acme", "dormant_users", 3, "manual"), /* a */
        check_json(e3, "acme", "weak_mfa", 0, "manual"),      /* nothing: no failures */
        collection_json(e4, "acme", "manual", false),         /* c */
        collection_json(e5, "acme", "scheduled", false),      /* nothing */
        collection_json(e6, "acme", "scheduled", true),       /* c */
        check_json(e7, "nobody", "weak_mfa", 5, "scheduled"), /* no targets */
        collection_json(e8, "globex", "scheduled", true),     /* f */
    };
    const char *tenants[8] = {"acme", "acme", "acme", "acme", "acme", "acme", "nobody", "globex"};
    for (int i = 0; i < 8; i++)
        produce(p, strstr(ev[i], "check_result") ? TOPIC_CHECKS : TOPIC_COLLECTIONS, tenants[i],
                ev[i]);
    flush(p);

    running rr;
    start_router(&rr, "g-rules", 100, NULL);
    wait_consumed(&rr, 8, 60);
    router_stats s = stats_of(&rr);
    ck_assert_uint_eq(s.consumed, 8);
    ck_assert_uint_eq(s.routed, 5);
    ck_assert_uint_eq(s.deliveries_created, 6);
    ck_assert_uint_eq(s.not_notifiable, 2);
    ck_assert_uint_eq(s.no_target, 1);
    ck_assert_uint_eq(s.dead_lettered, 0);

    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries"), 6);
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries WHERE state = 'pending'"), 6);
    ck_assert_int_eq(sqll("SELECT count(*) FROM events"), 5);
    char q[512];
    expected want[] = {{"", a}, {"", b}, {"", a}, {"", c}, {"", c}, {"", f}};
    const char *eids[] = {e1, e1, e2, e4, e6, e8};
    for (size_t i = 0; i < 6; i++) {
        snprintf(want[i].eid, 37, "%s", eids[i]);
        snprintf(q, sizeof q,
                 "SELECT count(*) FROM deliveries WHERE event_id = '%s' AND target_id = %ld",
                 want[i].eid, want[i].target);
        ck_assert_msg(sqll(q) == 1, "missing delivery row %s -> %ld", want[i].eid, want[i].target);
    }
    /* the events rows carry the payload, kind and check type */
    snprintf(q, sizeof q,
             "SELECT count(*) FROM events WHERE event_id = '%s' AND kind = 'check_result' AND"
             " check_type = 'weak_mfa' AND tenant_id = 'acme' AND payload->>'failing_count' = '12'",
             e1);
    ck_assert_int_eq(sqll(q), 1);
    snprintf(q, sizeof q,
             "SELECT count(*) FROM events WHERE event_id = '%s' AND kind = 'collection_event'"
             " AND check_type IS NULL",
             e6);
    ck_assert_int_eq(sqll(q), 1);

    /* one routed message per row, keyed by the workspace, with the right
     * destination; nothing for the others */
    reader rd;
    reader_open(&rd, TOPIC_DELIVERIES);
    ck_assert_uint_eq(reader_read(&rd, 6, 20000, 1500), 6);
    for (size_t i = 0; i < 6; i++) {
        routed_delivery *dv = NULL;
        ck_assert_int_eq(find_delivery(&rd, want[i].eid, want[i].target, &dv), 1);
        snprintf(q, sizeof q, "SELECT id FROM deliveries WHERE event_id = '%s' AND target_id = %ld",
                 want[i].eid, want[i].target);
        ck_assert_int_eq(dv->delivery_id, sqll(q));
        ck_assert_str_eq(dv->tenant_id, want[i].target == f ? "globex" : "acme");
        if (want[i].target == a) {
            ck_assert_str_eq(dv->team_id, "T1");
            ck_assert_str_eq(dv->destination, "C0001");
            ck_assert(!dv->destination_is_email);
        } else if (want[i].target == b) {
            ck_assert_str_eq(dv->team_id, "T2");
            ck_assert_str_eq(dv->destination, "C0BBB"); /* resolved wins */
        } else if (want[i].target == c) {
            ck_assert_str_eq(dv->destination, "ops@example.com");
            ck_assert(dv->destination_is_email);
            ck_assert_int_eq(dv->kind, EVENT_COLLECTION);
        }
        /* the original event travels along */
        event *inner = NULL;
        char err[256];
        ck_assert_int_eq(routed_delivery_event(dv, &inner, err, sizeof err), 0);
        ck_assert_str_eq(inner->event_id, want[i].eid);
        event_destroy(inner);
        routed_delivery_destroy(dv);
    }
    reader_close(&rd);
    stop_router(&rr);
    destroy_router(&rr);
    for (int i = 0; i < 8; i++)
        free(ev[i]);
    rd_kafka_destroy(p);
}
END_TEST

/* The same events consumed again (a new group reads from the start, as after
 * a crash before the offsets were committed): no new rows; rows still
 * 'pending' are published again (their first message may never have reached
 * Kafka); rows the sender has taken are not. */
START_TEST(redelivery_creates_no_duplicates)
{
    long a = add_target("acme", "T1", "C0001", "fc", NULL);
    long b = add_target("acme", "T2", "C0002", "fc", NULL);
    rd_kafka_t *p = producer();
    char eids[20][37];
    for (int i = 0; i < 20; i++) {
        char *j = check_json(eids[i], "acme", "weak_mfa", 1 + i, "scheduled");
        produce(p, TOPIC_CHECKS, "acme", j);
        free(j);
    }
    /* the same event twice in one batch, too */
    char dupe[37];
    char *j = check_json(dupe, "acme", "stale_admin", 4, "manual");
    produce(p, TOPIC_CHECKS, "acme", j);
    produce(p, TOPIC_CHECKS, "acme", j);
    free(j);
    flush(p);

    running rr;
    start_router(&rr, "g-first", 500, NULL);
    wait_consumed(&rr, 22, 60);
    ck_assert_uint_eq(stats_of(&rr).deliveries_created, 42);
    ck_assert_uint_eq(stats_of(&rr).duplicates, 1);
    stop_router(&rr);
    destroy_router(&rr);
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries"), 42);
    ck_assert_int_eq(sqll("SELECT count(*) FROM events"), 21);

    /* The sender took some: two sent, one failed, one sending. */
    char q[256];
    snprintf(q, sizeof q, "UPDATE deliveries SET state = 'sent' WHERE event_id IN ('%s', '%s')",
             eids[0], eids[1]);
    testlib_db_exec(db, q);
    snprintf(q, sizeof q,
             "UPDATE deliveries SET state = 'failed' WHERE event_id = '%s' AND target_id = %ld",
             eids[2], a);
    testlib_db_exec(db, q);
    snprintf(q, sizeof q,
             "UPDATE deliveries SET state = 'sending' WHERE event_id = '%s' AND target_id = %ld",
             eids[3], b);
    testlib_db_exec(db, q);

    start_router(&rr, "g-second", 7, NULL); /* small batches: several statements */
    wait_consumed(&rr, 22, 60);
    router_stats s = stats_of(&rr);
    ck_assert_uint_eq(s.deliveries_created, 0);
    /* 36 rows are still pending; with batches of 7 the twice-produced event
     * may fall into two batches, and then its second copy publishes its two
     * pending rows once more. */
    ck_assert_uint_eq(s.deliveries_republished + 2 * s.duplicates, 42 - 4 - 1 - 1 + 2);
    uint64_t republished = s.deliveries_republished;
    bool dupe_split = s.duplicates == 0;
    stop_router(&rr);
    destroy_router(&rr);
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries"), 42);
    ck_assert_int_eq(sqll("SELECT count(*) FROM events"), 21);
    ck_assert_int_eq(sqll("SELECT count(*) FROM (SELECT event_id, target_id FROM deliveries"
                          " GROUP BY 1, 2 HAVING count(*) > 1) x"),
                     0);

    /* Published twice at most; the taken ones exactly once. */
    reader rd;
    reader_open(&rd, TOPIC_DELIVERIES);
    reader_read(&rd, 42 + republished, 20000, 1500);
    ck_assert_uint_eq(rd.n, 42 + republished);
    ck_assert_int_eq(find_delivery(&rd, eids[0], a, NULL), 1);
    ck_assert_int_eq(find_delivery(&rd, eids[1], b, NULL), 1);
    ck_assert_int_eq(find_delivery(&rd, eids[2], a, NULL), 1);
    ck_assert_int_eq(find_delivery(&rd, eids[3], b, NULL), 1);
    ck_assert_int_eq(find_delivery(&rd, eids[5], a, NULL), 2);
    ck_assert_int_eq(find_delivery(&rd, dupe, b, NULL), dupe_split ? 3 : 2);
    reader_close(&rd);
    rd_kafka_destroy(p);
}
END_TEST

/*
 * Events routed in one batch keep their order: per target, the delivery ids
 * and the routed messages on the deliveries topic follow the order the
 * events were consumed in (a check's thread of repeats, and a digest, read
 * them in that order). The batch statement's join would otherwise hand rows
 * back in whatever order the plan makes.
 */
START_TEST(deliveries_keep_the_events_order)
{
    enum { N = 60 };
    long a = add_target("acme", "T1", "C0001", "fc", NULL);
    long b = add_target("acme", "T1", "C0002", "fc", NULL);
    rd_kafka_t *p = producer();
    char eids[N][37];
    for (int i = 0; i < N; i++) {
        char *j = check_json(eids[i], "acme", "weak_mfa", 1 + i, "scheduled");
        produce(p, TOPIC_CHECKS, "acme", j);
        free(j);
    }
    flush(p);
    /* A few dozen targets, analysed: the planner then hashes the batch's
     * pairs, and a hash bucket hands rows back newest first. */
    testlib_db_exec(db,
                    "INSERT INTO targets (tenant_id, team_id, name, destination, destination_kind,"
                    " use_failed_check, use_data_collection) SELECT 'other', 'T2', 'f' || g,"
                    " 'C0009', 'channel', true, false FROM generate_series(1, 40) g");
    testlib_db_exec(db, "ANALYZE targets");
    running rr;
    start_router(&rr, "g-order", 500, NULL); /* the whole backlog in a batch or two */
    wait_consumed(&rr, N, 60);
    stop_router(&rr);
    destroy_router(&rr);

    long targets[2] = {a, b};
    for (int t = 0; t < 2; t++) {
        char q[160];
        snprintf(q, sizeof q,
                 "SELECT event_id::text FROM deliveries WHERE target_id = %ld ORDER BY id",
                 targets[t]);
        PGresult *r = PQexec(db, q);
        ck_assert_int_eq(PQresultStatus(r), PGRES_TUPLES_OK);
        ck_assert_int_eq(PQntuples(r), N);
        for (int i = 0; i < N; i++)
            ck_assert_msg(!strcmp(PQgetvalue(r, i, 0), eids[i]),
                          "target %ld: delivery %d by id is event %s, not %s", targets[t], i,
                          PQgetvalue(r, i, 0), eids[i]);
        PQclear(r);
    }

    /* On the topic: all of T1's messages in one partition, in event order per target. */
    reader rd;
    reader_open(&rd, TOPIC_DELIVERIES);
    reader_read(&rd, 2 * N, 20000, 500);
    ck_assert_uint_eq(rd.n, 2 * N);
    int next[2] = {0, 0};
    int64_t last_id[2] = {0, 0};
    for (size_t i = 0; i < rd.n; i++) {
        routed_delivery *d = NULL;
        char err[256];
        ck_assert_msg(routed_delivery_decode(rd.recs[i].value, strlen(rd.recs[i].value), &d, err,
                                             sizeof err) == 0,
                      "%s", err);
        int t = d->target_id == a ? 0 : 1;
        ck_assert_msg(next[t] < N && !strcmp(d->event_id, eids[next[t]]),
                      "target %ld: message %d on the topic is event %s, not %s", (long)d->target_id,
                      next[t], d->event_id, next[t] < N ? eids[next[t]] : "(none)");
        ck_assert_int_gt(d->delivery_id, last_id[t]);
        last_id[t] = d->delivery_id;
        next[t]++;
        routed_delivery_destroy(d);
    }
    reader_close(&rd);
    rd_kafka_destroy(p);
}
END_TEST

START_TEST(malformed_events_are_dead_lettered)
{
    add_target("acme", "T1", "C0001", "both", NULL);
    rd_kafka_t *p = producer();
    char e1[37], e2[37], e3[37];
    char *good1 = check_json(e1, "acme", "weak_mfa", 2, "scheduled");
    char *good2 = collection_json(e2, "acme", "manual", true);
    char *wrong_topic = check_json(e3, "acme", "weak_mfa", 2, "scheduled");
    /* every partition key the same: one partition, so order is observable */
    produce(p, TOPIC_CHECKS, "acme", "{not json");
    produce(p, TOPIC_CHECKS, "acme", good1);
    produce(p, TOPIC_CHECKS, "acme",
            "{\"schema\":\"herald.check_result.v1\",\"event_id\":\"nope\",\"tenant_id\":\"acme\"}");
    produce(p, TOPIC_COLLECTIONS, "acme", wrong_topic);
    produce(p, TOPIC_COLLECTIONS, "acme", good2);
    /* an event PostgreSQL refuses although it parses: \u0000 in a string */
    char e4[37];
    char *nul = check_json(e4, "acme", "weak_mfa", 2, "scheduled");
    char *at = strstr(nul, "Check weak_mfa");
    ck_assert_ptr_nonnull(at);
    char *nulled = xmalloc(strlen(nul) + 16);
    snprintf(nulled, strlen(nul) + 16, "%.*sCheck \\u0000%s", (int)(at - nul), nul, at + 6);
    produce(p, TOPIC_CHECKS, "acme", nulled);
    flush(p);

    running rr;
    start_router(&rr, "g-dl", 100, NULL);
    wait_consumed(&rr, 6, 60);
    router_stats s = stats_of(&rr);
    ck_assert_uint_eq(s.consumed, 6);
    ck_assert_uint_eq(s.routed, 2);
    stop_router(&rr);
    destroy_router(&rr);

    /* the good ones got through */
    char q[256];
    snprintf(q, sizeof q, "SELECT count(*) FROM deliveries WHERE event_id IN ('%s', '%s')", e1, e2);
    ck_assert_int_eq(sqll(q), 2);
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries"), 2);

    reader rd;
    reader_open(&rd, TOPIC_DEADLETTER);
    reader_read(&rd, 4, 20000, 1000);
    bool json = false, eid = false, schema = false, dbrej = false;
    for (size_t i = 0; i < rd.n; i++) {
        ck_assert_ptr_nonnull(rd.recs[i].reason);
        ck_assert_str_eq(rd.recs[i].key, "acme");
        if (strstr(rd.recs[i].value, "{not json"))
            json = strstr(rd.recs[i].reason, "JSON") != NULL;
        else if (strstr(rd.recs[i].value, "\"nope\""))
            eid = strstr(rd.recs[i].reason, "event_id") != NULL;
        else if (strstr(rd.recs[i].value, e3))
            schema = strstr(rd.recs[i].reason, "schema") != NULL;
        else if (strstr(rd.recs[i].value, e4))
            dbrej = strstr(rd.recs[i].reason, "database") != NULL;
    }
    ck_assert_msg(json && eid && schema && dbrej, "dead letters: json %d eid %d schema %d db %d",
                  json, eid, schema, dbrej);
    ck_assert_uint_eq(rd.n, 4);
    ck_assert_uint_eq(s.dead_lettered, 4);
    reader_close(&rd);
    free(good1);
    free(good2);
    free(wrong_topic);
    free(nul);
    free(nulled);
    rd_kafka_destroy(p);
}
END_TEST

/* Changes made in SQL reach a running router through LISTEN/NOTIFY: an event
 * consumed a second later sees them. */
START_TEST(target_changes_are_honoured)
{
    rd_kafka_t *p = producer();
    running rr;
    start_router(&rr, "g-cache", 100, NULL);
    char eid[37];
    char *j;
    uint64_t n = 0;
#define SEND(tenant, type)                                                                         \
    do {                                                                                           \
        j = check_json(eid, tenant, type, 3, "scheduled");                                         \
        produce(p, TOPIC_CHECKS, tenant, j);                                                       \
        flush(p);                                                                                  \
        free(j);                                                                                   \
        wait_consumed(&rr, ++n, 60);                                                               \
    } while (0)
    char q[256];
#define DELIVERED_TO(t)                                                                            \
    (snprintf(q, sizeof q,                                                                         \
              "SELECT count(*) FROM deliveries WHERE event_id = '%s' AND target_id = %ld", eid,    \
              (long)(t)),                                                                          \
     sqll(q))

    SEND("acme", "weak_mfa"); /* no targets yet */
    ck_assert_uint_eq(stats_of(&rr).no_target, 1);
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries"), 0);

    long a = add_target("acme", "T1", "C0001", "fc", NULL);
    sleep(1);
    SEND("acme", "weak_mfa");
    ck_assert_int_eq(DELIVERED_TO(a), 1);

    /* narrowed to another check */
    snprintf(q, sizeof q, "INSERT INTO target_checks VALUES (%ld, 'stale_admin')", a);
    testlib_db_exec(db, q);
    sleep(1);
    SEND("acme", "weak_mfa");
    ck_assert_int_eq(DELIVERED_TO(a), 0);
    SEND("acme", "stale_admin");
    ck_assert_int_eq(DELIVERED_TO(a), 1);

    /* filter removed again */
    testlib_db_exec(db, "DELETE FROM target_checks");
    sleep(1);
    SEND("acme", "weak_mfa");
    ck_assert_int_eq(DELIVERED_TO(a), 1);

    /* disabled */
    testlib_db_exec(db, "UPDATE targets SET enabled = false");
    sleep(1);
    SEND("acme", "weak_mfa");
    ck_assert_int_eq(DELIVERED_TO(a), 0);

    /* enabled, moved to another tenant */
    testlib_db_exec(db, "UPDATE targets SET enabled = true, tenant_id = 'globex'");
    sleep(1);
    SEND("acme", "weak_mfa");
    ck_assert_int_eq(DELIVERED_TO(a), 0);
    SEND("globex", "weak_mfa");
    ck_assert_int_eq(DELIVERED_TO(a), 1);

    /* destination resolved: the next message carries it */
    testlib_db_exec(db, "UPDATE targets SET destination_resolved = 'C0NEW'");
    sleep(1);
    SEND("globex", "weak_mfa");
    ck_assert_int_eq(DELIVERED_TO(a), 1);
    char want_eid[37];
    memcpy(want_eid, eid, 37);

    /* deleted */
    testlib_db_exec(db, "UPDATE targets SET deleted_at = now()");
    sleep(1);
    SEND("globex", "weak_mfa");
    ck_assert_int_eq(DELIVERED_TO(a), 0);

    stop_router(&rr);
    destroy_router(&rr);

    reader rd;
    reader_open(&rd, TOPIC_DELIVERIES);
    reader_read(&rd, 5, 20000, 1000);
    ck_assert_uint_eq(rd.n, 5);
    routed_delivery *dv = NULL;
    ck_assert_int_eq(find_delivery(&rd, want_eid, a, &dv), 1);
    ck_assert_str_eq(dv->destination, "C0NEW");
    routed_delivery_destroy(dv);
    reader_close(&rd);
    rd_kafka_destroy(p);
#undef SEND
#undef DELIVERED_TO
}
END_TEST

/* Events of tenants without targets, and events nobody is notified of,
 * cost no statement; a bulk change (many tenants in one transaction) is
 * picked up whole. */
START_TEST(no_query_without_targets_and_bulk_changes)
{
    rd_kafka_t *p = producer();
    running rr;
    start_router(&rr, "g-noquery", 100, NULL);
    char eid[37];
    for (int i = 0; i < 200; i++) {
        char tenant[16];
        snprintf(tenant, sizeof tenant, "t%d", i);
        char *j = i % 2 ? check_json(eid, tenant, "weak_mfa", 4, "scheduled")
                        : collection_json(eid, tenant, "scheduled", false);
        produce(p, i % 2 ? TOPIC_CHECKS : TOPIC_COLLECTIONS, tenant, j);
        free(j);
    }
    flush(p);
    wait_consumed(&rr, 200, 60);
    router_stats s = stats_of(&rr);
    ck_assert_uint_eq(s.no_target, 100);
    ck_assert_uint_eq(s.not_notifiable, 100);
    ck_assert_uint_eq(s.statements, 0);

    /* 300 tenants get a target in one transaction: more than the cache
     * reloads one by one, so it reloads everything. */
    testlib_db_exec(db,
                    "INSERT INTO targets (tenant_id, team_id, name, destination, destination_kind,"
                    " use_failed_check) SELECT 't' || g, 'T1', 'bulk', 'C' || g, 'channel', true"
                    " FROM generate_series(0, 299) g");
    sleep(1);
    for (int i = 0; i < 300; i += 3) {
        char tenant[16];
        snprintf(tenant, sizeof tenant, "t%d", i);
        char *j = check_json(eid, tenant, "weak_mfa", 4, "scheduled");
        produce(p, TOPIC_CHECKS, tenant, j);
        free(j);
    }
    flush(p);
    wait_consumed(&rr, 300, 60);
    s = stats_of(&rr);
    ck_assert_uint_eq(s.deliveries_created, 100);
    ck_assert_uint_ge(s.statements, 1);
    ck_assert_uint_eq(s.cache_targets, 300);
    stop_router(&rr);
    destroy_router(&rr);
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries"), 100);
    rd_kafka_destroy(p);
}
END_TEST

/* Threads for repeats need to know when a check was fixed: a passing result
 * is recorded (check_passes) for a tenant with a target that threads
 * repeats, in the batch statement; other tenants' passes still cost no
 * statement. A target that stops threading forgets its threads, and its
 * tenant's passes stop being recorded. */
START_TEST(passes_recorded_for_thread_tenants)
{
    long threads = add_target("acme", "T1", "CTHREAD", "fc", "stale_admin");
    testlib_db_exec(db, "UPDATE targets SET thread_repeats = true WHERE destination = 'CTHREAD'");
    add_target("plain", "T1", "CPLAIN", "fc", NULL);
    rd_kafka_t *p = producer();
    running rr;
    start_router(&rr, "g-passes", 100, NULL);
    char eid[37];
    /* passes of tenants without a threading target, and of no tenant at all */
    const char *quiet[] = {"plain", "nobody"};
    for (int i = 0; i < 2; i++) {
        char *j = check_json(eid, quiet[i], "weak_mfa", 0, "scheduled");
        produce(p, TOPIC_CHECKS, quiet[i], j);
        free(j);
    }
    flush(p);
    wait_consumed(&rr, 2, 60);
    router_stats s = stats_of(&rr);
    ck_assert_uint_eq(s.statements, 0);
    ck_assert_uint_eq(s.passes_recorded, 0);
    ck_assert_uint_eq(s.not_notifiable, 2);
    /* acme's passes: recorded whatever the filter; the same instant twice is one row */
    const char *types[] = {"weak_mfa", "stale_admin", "stale_admin"};
    for (int i = 0; i < 3; i++) {
        char *j = check_json(eid, "acme", types[i], 0, "scheduled");
        produce(p, TOPIC_CHECKS, "acme", j);
        free(j);
    }
    flush(p);
    wait_consumed(&rr, 5, 60);
    s = stats_of(&rr);
    ck_assert_uint_ge(s.statements, 1);
    ck_assert_uint_eq(s.passes_recorded, 3);
    ck_assert_uint_eq(s.not_notifiable, 5);
    ck_assert_int_eq(sqll("SELECT count(*) FROM check_passes"), 2);
    ck_assert_int_eq(sqll("SELECT count(*) FROM check_passes WHERE tenant_id = 'acme'"
                          " AND check_type = 'weak_mfa'"
                          " AND evaluated_at = '2026-11-28T09:00:00Z'"),
                     1);
    ck_assert_int_eq(sqll("SELECT count(*) FROM events"), 0); /* passes are not events rows */
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries"), 0);

    /* turning thread_repeats off forgets the target's threads and, once the
     * cache has the change, stops the recording */
    char q[512];
    snprintf(q, sizeof q,
             "INSERT INTO slack_threads (target_id, check_type, destination, channel, thread_ts,"
             " last_failing_count, last_event_id, last_run_at) VALUES (%ld, 'weak_mfa',"
             " 'CTHREAD', 'CTHREAD', '1.000100', 3, '%s', now())",
             threads, eid);
    testlib_db_exec(db, q);
    testlib_db_exec(db, "UPDATE targets SET thread_repeats = false WHERE destination = 'CTHREAD'");
    ck_assert_int_eq(sqll("SELECT count(*) FROM slack_threads"), 0);
    sleep(2);
    char *j = check_json(eid, "acme", "old_keys", 0, "scheduled");
    produce(p, TOPIC_CHECKS, "acme", j);
    free(j);
    flush(p);
    wait_consumed(&rr, 6, 60);
    s = stats_of(&rr);
    ck_assert_uint_eq(s.passes_recorded, 3);
    ck_assert_int_eq(sqll("SELECT count(*) FROM check_passes"), 2);
    stop_router(&rr);
    destroy_router(&rr);
    rd_kafka_destroy(p);
}
END_TEST

/* With no statement running, a batch is sent on as soon as the consumer has
 * nothing more at hand: one event is routed long before a (very long)
 * batch_wait_ms could fill its batch. */
START_TEST(idle_router_does_not_wait_to_fill_a_batch)
{
    add_target("acme", "T1", "C1", "fc", NULL);
    rd_kafka_t *p = producer();
    running rr;
    start_router_waiting(&rr, "g-idle", 500, NULL, 120000);
    char eid[37];
    for (int i = 0; i < 2; i++) {
        char *j = check_json(eid, "acme", "weak_mfa", 3, "manual");
        produce(p, TOPIC_CHECKS, "acme", j);
        free(j);
        flush(p);
        /* far less than batch_wait_ms, with room for a slow machine */
        wait_rows("SELECT count(*) FROM deliveries", i + 1, 60);
    }
    stop_router(&rr);
    destroy_router(&rr);
    rd_kafka_destroy(p);
}
END_TEST

/* A free TCP port on loopback for a private PostgreSQL. */
static int free_port(void)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &len);
    int port = ntohs(a.sin_port);
    close(s);
    return port;
}

static void pg_sh(const char *cmd, const char *dir, int port)
{
    const char *src = getenv("HERALD_SOURCE_DIR");
    char line[1024];
    snprintf(line, sizeof line, "bash %s/tests/support/pg.sh %s %s %d >/dev/null",
             src && *src ? src : ".", cmd, dir, port);
    ck_assert_msg(system(line) == 0, "%s failed", line);
}

/* PostgreSQL restarted under a running router: it pauses, reconnects by
 * itself and loses nothing. Uses a private server so the suite's own stays
 * up. */
START_TEST(database_restart_loses_nothing)
{
    char dir[128];
    snprintf(dir, sizeof dir, "/tmp/herald-router-pgrestart-%d", getpid());
    int port = free_port();
    pg_sh("start", dir, port);
    char admin[256], dburl[256];
    snprintf(admin, sizeof admin, "postgresql://herald@127.0.0.1:%d/herald", port);
    snprintf(dburl, sizeof dburl, "postgresql://herald@127.0.0.1:%d/herald", port);
    PGconn *c = testlib_db_connect(admin);
    char err[512];
    ck_assert_msg(db_migrate(c, NULL, err, sizeof err) == 0, "%s", err);
    testlib_db_exec(
        c, "INSERT INTO workspaces (team_id, team_name, token_enc) VALUES ('T1', 'One', '\\x00')");
    testlib_db_exec(c,
                    "INSERT INTO targets (tenant_id, team_id, name, destination, destination_kind,"
                    " use_failed_check) VALUES ('acme', 'T1', 'a', 'C1', 'channel', true),"
                    " ('acme', 'T1', 'b', 'C2', 'channel', true)");
    PQfinish(c);

    rd_kafka_t *p = producer();
    running rr;
    start_router(&rr, "g-pg", 50, dburl);
    char eid[37];
    for (int i = 0; i < 100; i++) {
        char *j = check_json(eid, "acme", "weak_mfa", 1, "scheduled");
        produce(p, TOPIC_CHECKS, i % 2 ? "acme" : "acme-2", j);
        free(j);
    }
    flush(p);
    wait_consumed(&rr, 100, 60);

    pg_sh("stop", dir, port);
    for (int i = 0; i < 300; i++) {
        char *j = check_json(eid, "acme", "weak_mfa", 1, "scheduled");
        produce(p, TOPIC_CHECKS, i % 3 ? "acme" : "acme-3", j);
        free(j);
    }
    flush(p);
    sleep(3); /* the router notices, pauses and retries meanwhile */
    ck_assert(!stats_of(&rr).db_connected);
    pg_sh("start", dir, port);
    wait_consumed(&rr, 400, 90);

    /* Again, but the database goes away in the middle of a stream, with
     * batches in every stage of the pipeline. */
    for (int chunk = 0; chunk < 30; chunk++) {
        for (int i = 0; i < 100; i++) {
            char *j = check_json(eid, "acme", "weak_mfa", 1, "scheduled");
            char key[16];
            snprintf(key, sizeof key, "k%d", i % 7);
            produce(p, TOPIC_CHECKS, key, j);
            free(j);
        }
        flush(p);
        if (chunk == 8)
            pg_sh("stop", dir, port);
        if (chunk == 22)
            pg_sh("start", dir, port);
        usleep(50 * 1000);
    }
    wait_consumed(&rr, 3400, 120);
    stop_router(&rr);
    router_stats s = stats_of(&rr);
    destroy_router(&rr);
    ck_assert_uint_ge(s.db_errors, 2);

    c = testlib_db_connect(admin);
    ck_assert_int_eq(testlib_db_long(c, "SELECT count(*) FROM deliveries"), 6800);
    ck_assert_int_eq(testlib_db_long(c, "SELECT count(*) FROM events"), 3400);
    PQfinish(c);
    reader rd;
    reader_open(&rd, TOPIC_DELIVERIES);
    reader_read(&rd, 6800, 30000, 1000);
    ck_assert_uint_ge(rd.n, 6800);
    reader_close(&rd);
    rd_kafka_destroy(p);
    pg_sh("stop", dir, port);
    char rm[256];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    ck_assert_int_eq(system(rm), 0);
}
END_TEST

/* The broker goes down mid-stream and comes back: nothing lost, no
 * duplicate rows. */
START_TEST(broker_outage_loses_nothing)
{
    add_target("acme", "T1", "C0001", "fc", NULL);
    rd_kafka_t *p = producer();
    running rr;
    start_router(&rr, "g-broker", 20, NULL);
    char eid[37];
    for (int i = 0; i < 200; i++) {
        char *j = check_json(eid, "acme", "weak_mfa", 1, "scheduled");
        produce(p, TOPIC_CHECKS, i % 2 ? "acme" : "acme-x", j);
        free(j);
    }
    flush(p);
    usleep(200 * 1000); /* mid-stream */
    rd_kafka_mock_broker_set_down(K.mc, 1);
    sleep(3);
    rd_kafka_mock_broker_set_up(K.mc, 1);
    wait_rows("SELECT count(*) FROM deliveries", 200, 120);
    wait_consumed(&rr, 200, 120);
    stop_router(&rr);
    destroy_router(&rr);
    ck_assert_int_eq(sqll("SELECT count(*) FROM events"), 200);
    reader rd;
    reader_open(&rd, TOPIC_DELIVERIES);
    reader_read(&rd, 200, 30000, 1000);
    ck_assert_uint_ge(rd.n, 200);
    reader_close(&rd);
    rd_kafka_destroy(p);
}
END_TEST

/* Stop in the middle of a stream, then another router of the group takes
 * over: every event routed once in the database. */
START_TEST(stop_and_takeover)
{
    add_target("acme", "T1", "C0001", "fc", NULL);
    rd_kafka_t *p = producer();
    char eid[37];
    for (int i = 0; i < 3000; i++) {
        char *j = check_json(eid, "acme", "weak_mfa", 1, "scheduled");
        char key[16];
        snprintf(key, sizeof key, "t%d", i % 17);
        produce(p, TOPIC_CHECKS, key, j);
        free(j);
    }
    flush(p);
    running rr;
    start_router(&rr, "g-stop", 50, NULL);
    wait_consumed(&rr, 200, 60);
    stop_router(&rr);
    router_stats s = stats_of(&rr);
    destroy_router(&rr);
    ck_assert_uint_lt(s.consumed, 3000); /* stopped mid-stream */
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries"), (long)s.deliveries_created);

    start_router(&rr, "g-stop", 500, NULL);
    wait_rows("SELECT count(*) FROM deliveries", 3000, 120);
    stop_router(&rr);
    s = stats_of(&rr);
    destroy_router(&rr);
    /* the second router started right after the first one's last stored
     * offset: it created everything that was missing and republished at
     * most what was in flight (nothing, after a clean stop) */
    ck_assert_uint_eq(s.deliveries_republished, 0);
    rd_kafka_destroy(p);
}
END_TEST

/* ------------------------------------------------------------------ metrics */

static size_t grow(char *ptr, size_t size, size_t n, void *arg)
{
    char **buf = arg;
    size_t have = *buf ? strlen(*buf) : 0;
    *buf = xrealloc(*buf, have + size * n + 1);
    memcpy(*buf + have, ptr, size * n);
    (*buf)[have + size * n] = '\0';
    return size * n;
}

static long http_get(int port, const char *path, char **body)
{
    char u[128];
    snprintf(u, sizeof u, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    *body = NULL;
    curl_easy_setopt(c, CURLOPT_URL, u);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, grow);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
    ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    if (!*body)
        *body = xstrdup("");
    return code;
}

/* Value of one exposition line "name{labels} value" (or "name value"). */
static double metric(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *p = text; (p = strstr(p, series)) != NULL; p += n) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ')
            return strtod_or0(p + n + 1);
    }
    return -1;
}

START_TEST(metrics_and_health)
{
    add_target("acme", "T1", "C0001", "both", NULL);
    /* the pass below would resolve the failure (resolves have their own test) */
    testlib_db_exec(db, "UPDATE targets SET notify_resolved = false");
    rd_kafka_t *p = producer();
    char eid[37];
    char *j = check_json(eid, "acme", "weak_mfa", 3, "scheduled");
    produce(p, TOPIC_CHECKS, "acme", j);
    free(j);
    j = check_json(eid, "acme", "weak_mfa", 0, "scheduled");
    produce(p, TOPIC_CHECKS, "acme", j);
    free(j);
    j = collection_json(eid, "nobody", "manual", true);
    produce(p, TOPIC_COLLECTIONS, "nobody", j);
    free(j);
    produce(p, TOPIC_COLLECTIONS, "acme", "[]");
    flush(p);

    router_config cfg;
    router_config_defaults(&cfg);
    cfg.brokers = K.bootstraps;
    cfg.database_url = url;
    cfg.group = "g-metrics";
    cfg.consumer_props = fast_group;
    cfg.metrics_addr = "127.0.0.1:0";
    /* Retention on its thread: its first run is at once (it never ran), and
     * takes an event past retention that nothing references. */
    cfg.prune_interval_ms = 3600000;
    testlib_db_exec(db, "INSERT INTO events (event_id, tenant_id, kind, payload, received_at) "
                        "VALUES ('00000000-0000-4000-8000-0000000000aa', 'acme', 'test', '{}', "
                        "now() - interval '100 days')");
    char err[512];
    running rr;
    rr.r = router_new(&cfg, err, sizeof err);
    ck_assert_msg(rr.r != NULL, "%s", err);
    int port = router_metrics_port(rr.r);
    ck_assert_int_gt(port, 0);
    /* The registry is the process's: with CK_FORK=no earlier tests have
     * counted too, so compare against what it says before this router runs. */
    char *before = NULL;
    ck_assert_int_eq(http_get(port, "/metrics", &before), 200);
    ck_assert_int_eq(testlib_router_thread_start(&rr), 0);
    wait_consumed(&rr, 4, 60);
    usleep(300 * 1000); /* one more housekeeping pass exports the counters */

    char *body = NULL;
    ck_assert_int_eq(http_get(port, "/metrics", &body), 200);
#define DELTA(series)                                                                              \
    (metric(body, series) - (metric(before, series) < 0 ? 0 : metric(before, series)))
    ck_assert_double_eq(DELTA("herald_router_events_consumed_total{topic=\"herald.checks.v1\"}"),
                        2);
    ck_assert_double_eq(
        DELTA("herald_router_events_consumed_total{topic=\"herald.collections.v1\"}"), 2);
    ck_assert_double_eq(DELTA("herald_router_events_routed_total"), 1);
    ck_assert_double_eq(DELTA("herald_router_deliveries_created_total"), 1);
    ck_assert_double_eq(DELTA("herald_router_deliveries_published_total"), 1);
    ck_assert_double_eq(DELTA("herald_router_events_no_target_total{reason=\"not_notifiable\"}"),
                        1);
    ck_assert_double_eq(
        DELTA("herald_router_events_no_target_total{reason=\"no_matching_target\"}"), 1);
    ck_assert_double_eq(DELTA("herald_router_events_deadlettered_total"), 1);
    ck_assert_double_eq(metric(body, "herald_router_db_up"), 1);
    ck_assert_double_eq(metric(body, "herald_router_cache_targets"), 1);
    ck_assert(DELTA("herald_router_batch_size_count") >= 1);
    ck_assert(DELTA("herald_router_batch_seconds_count") >= 1);
    ck_assert(strstr(body, "herald_router_consumer_lag{topic=\"herald.checks.v1\"}") != NULL);
    ck_assert(DELTA("herald_router_db_errors_total") == 0);
    for (int i = 0; i < 100 && DELTA("herald_retention_runs_total{outcome=\"ok\"}") < 1; i++) {
        usleep(100 * 1000);
        free(body);
        ck_assert_int_eq(http_get(port, "/metrics", &body), 200);
    }
    ck_assert(DELTA("herald_retention_runs_total{outcome=\"ok\"}") == 1);
    ck_assert(DELTA("herald_retention_deleted_total{table=\"events\"}") == 1);
    ck_assert(metric(body, "herald_retention_last_success_timestamp_seconds") > 1.7e9);
    ck_assert_int_eq(testlib_db_long(db, "SELECT count(*) FROM events WHERE event_id = "
                                         "'00000000-0000-4000-8000-0000000000aa'"),
                     0);
#undef DELTA
    free(before);
    free(body);
    ck_assert_int_eq(http_get(port, "/healthz", &body), 200);
    free(body);

    stop_router(&rr);
    destroy_router(&rr);
    rd_kafka_destroy(p);
}
END_TEST

/* ---------------------------------------------------------------- scale-out */

static pid_t spawn_router(const char *group, const char *log)
{
    char prog[512];
    testlib_program("workers", "herald-router", prog, sizeof prog);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        FILE *f = freopen(log, "a", stderr);
        (void)f;
        setenv("HERALD_KAFKA_BROKERS", K.bootstraps, 1);
        setenv("HERALD_DATABASE_URL", url, 1);
        setenv("HERALD_KAFKA_SESSION_TIMEOUT_MS", "6000", 1);
        setenv("HERALD_KAFKA_HEARTBEAT_INTERVAL_MS", "500", 1);
        execl(prog, prog, "--group", group, "--batch-size", "100", "--summary-seconds", "2",
              (char *)NULL);
        _exit(127);
    }
    return pid;
}

static void produce_range(rd_kafka_t *p, int from, int to, char (*eids)[37])
{
    for (int i = from; i < to; i++) {
        char tenant[16];
        snprintf(tenant, sizeof tenant, "ten%d", i % 40);
        char *j = check_json(eids[i], tenant, "weak_mfa", 1, "scheduled");
        produce(p, TOPIC_CHECKS, tenant, j);
        free(j);
    }
    flush(p);
}

START_TEST(scale_out_rebalance_and_kill)
{
    /* 40 tenants with one or two targets each */
    long expect_per_event[40];
    for (int t = 0; t < 40; t++) {
        char tenant[16];
        snprintf(tenant, sizeof tenant, "ten%d", t);
        add_target(tenant, "T1", "C1", "fc", NULL);
        expect_per_event[t] = 1;
        if (t % 2) {
            add_target(tenant, "T2", "C2", "fc", NULL);
            expect_per_event[t] = 2;
        }
    }
    enum { N = 6000 };
    static char eids[N][37];
    long want_rows = 0;
    for (int i = 0; i < N; i++)
        want_rows += expect_per_event[i % 40];

    char log[128];
    snprintf(log, sizeof log, "/tmp/herald-router-scale-%d.log", getpid());
    unlink(log);
    rd_kafka_t *p = producer();
    pid_t r1 = spawn_router("g-scale", log);
    pid_t r2 = spawn_router("g-scale", log);
    produce_range(p, 0, 2000, eids);
    sleep(3);
    pid_t r3 = spawn_router("g-scale", log); /* rebalance */
    produce_range(p, 2000, 4000, eids);
    sleep(4);
    kill(r2, SIGKILL); /* dies mid-stream, maybe mid-batch */
    waitpid(r2, NULL, 0);
    produce_range(p, 4000, N, eids);

    char q[128];
    snprintf(q, sizeof q, "SELECT count(*) FROM deliveries");
    wait_rows(q, want_rows, 180);
    ck_assert_int_eq(sqll("SELECT count(*) FROM events"), N);
    ck_assert_int_eq(sqll("SELECT count(*) FROM (SELECT event_id, target_id FROM deliveries"
                          " GROUP BY 1, 2 HAVING count(*) > 1) x"),
                     0);

    /* Every row was published at least once (the survivors re-publish rows
     * left pending by the killed one). Read until every row's id came by:
     * re-published copies count among the messages, so reaching want_rows
     * messages does not mean every row was read yet (a loaded machine was
     * seen to stop 2 s after that count with rows still on their way). */
    PGresult *res = PQexec(db, "SELECT id FROM deliveries ORDER BY id");
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    int rows = PQntuples(res);
    long max_id = strtol_or0(PQgetvalue(res, rows - 1, 0));
    unsigned char *seen = xcalloc((size_t)max_id + 1, 1);
    reader rd;
    reader_open(&rd, TOPIC_DELIVERIES);
    long distinct = 0;
    size_t decoded = 0;
    int64_t read_end = util_now_mono_ms() + 120000;
    while (distinct < rows && util_now_mono_ms() < read_end) {
        reader_read(&rd, rd.n + 1000, 1000, 0);
        for (; decoded < rd.n; decoded++) {
            routed_delivery *d = NULL;
            char err[256];
            const char *v = rd.recs[decoded].value;
            ck_assert_int_eq(routed_delivery_decode(v, strlen(v), &d, err, sizeof err), 0);
            if (d->delivery_id <= max_id && !seen[d->delivery_id]) {
                seen[d->delivery_id] = 1;
                distinct++;
            }
            routed_delivery_destroy(d);
        }
    }
    ck_assert_uint_ge(rd.n, (size_t)want_rows);
    long missing = 0;
    for (int i = 0; i < rows; i++)
        missing += !seen[strtol_or0(PQgetvalue(res, i, 0))];
    PQclear(res);
    free(seen);
    ck_assert_msg(missing == 0, "%ld delivery rows were never published", missing);
    reader_close(&rd);

    /* Survivors stop cleanly on SIGTERM. */
    kill(r1, SIGTERM);
    kill(r3, SIGTERM);
    int st1, st3;
    waitpid(r1, &st1, 0);
    waitpid(r3, &st3, 0);
    ck_assert_msg(WIFEXITED(st1) && WEXITSTATUS(st1) == 0, "router 1 exit status %d", st1);
    ck_assert_msg(WIFEXITED(st3) && WEXITSTATUS(st3) == 0, "router 3 exit status %d", st3);
    rd_kafka_destroy(p);
    unlink(log);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Issue 10: floors, silences, repeat policies, resolves                     */
/* ------------------------------------------------------------------------ */

/* A check result at a given time, severity and failing users ("u1,u2"). */
static char *check_at(char eid[37], const char *tenant, const char *type, const char *severity,
                      const char *at, const char *users)
{
    util_uuid4(eid);
    char list[512] = "";
    long n = 0;
    if (users && *users) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s", users);
        for (char *save = NULL, *u = strtok_r(buf, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
            size_t len = strlen(list);
            snprintf(list + len, sizeof list - len, "%s{\"id\":\"%s\"}", n ? "," : "", u);
            n++;
        }
    }
    return testlib_fmt(
        "{\"schema\":\"herald.check_result.v1\",\"event_id\":\"%s\",\"tenant_id\":\"%s\","
        "\"run_id\":\"0b8e8f4e-2f7e-4a51-9a0b-3c1d2e4f5a6b\",\"trigger\":\"scheduled\","
        "\"check\":{\"type\":\"%s\",\"name\":\"Check %s\",\"severity\":\"%s\"},"
        "\"evaluated_at\":\"%s\",\"failing_count\":%ld,"
        "\"total_count\":480,\"failing_users\":[%s]}",
        eid, tenant, type, type, severity, at, n, list);
}

/* Produces one event on the checks topic (key: tenant) and waits for it. */
static void send_check(rd_kafka_t *p, running *rr, uint64_t *seen, char eid[37], const char *type,
                       const char *severity, const char *at, const char *users)
{
    char *j = check_at(eid, "acme", type, severity, at, users);
    produce(p, TOPIC_CHECKS, "acme", j);
    free(j);
    flush(p);
    wait_consumed(rr, ++*seen, 60);
}

/* The state of the delivery (eid, target): "pending/", "suppressed/<code>", or "" when none. */
static const char *pair_state(const char *eid, long target)
{
    static char out[128];
    char q[512];
    snprintf(q, sizeof q,
             "SELECT state || '/' || coalesce(last_error_code, '') FROM deliveries"
             " WHERE event_id = '%s' AND target_id = %ld",
             eid, target);
    PGresult *r = PQexec(db, q);
    snprintf(out, sizeof out, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return out;
}

/* How many published records carry (eid, target); kind: "resolve" / NULL. */
static int published(reader *rd, const char *eid, long target, const char *resolve_ref)
{
    int n = 0;
    for (size_t i = 0; i < rd->n; i++) {
        routed_delivery *d = NULL;
        char err[256];
        ck_assert(routed_delivery_decode(rd->recs[i].value, strlen(rd->recs[i].value), &d, err,
                                         sizeof err) == 0);
        if (!strcmp(d->event_id, eid) && d->target_id == target) {
            n++;
            bool is_resolve = strstr(rd->recs[i].value, "\"delivery_kind\":\"resolve\"") != NULL;
            ck_assert_int_eq(is_resolve, resolve_ref != NULL);
            if (resolve_ref) {
                char want[80];
                snprintf(want, sizeof want, "\"ref_event_id\":\"%s\"", resolve_ref);
                ck_assert_msg(strstr(rd->recs[i].value, want), "%s", rd->recs[i].value);
            }
        }
        routed_delivery_destroy(d);
    }
    return n;
}

START_TEST(floor_and_silences_suppress)
{
    long ta = add_target("acme", "T1", "CA", "fc", NULL);
    long tb = add_target("acme", "T1", "CB", "fc", NULL);
    long tc = add_target("acme", "T2", "CC", "fc", NULL);
    testlib_db_exec(db, "UPDATE targets SET min_severity = 'critical' WHERE destination = 'CA'");
    char q[512];
    testlib_db_exec(db, "INSERT INTO silences (tenant_id, check_type, author, reason)"
                        " VALUES ('acme', 'muted_check', 'cli:alice', 'maintenance')");
    long by_check = sqll("SELECT id FROM silences WHERE check_type = 'muted_check'");
    testlib_db_exec(
        db, "INSERT INTO silences (tenant_id, team_id, author, reason, ends_at)"
            " VALUES ('acme', 'T2', 'cli:bob', 'workspace move', now() + interval '1 hour')");
    /* not applying: expired, ended, other tenant */
    snprintf(q, sizeof q,
             "INSERT INTO silences (tenant_id, target_id, author, reason, expired_at) VALUES"
             " ('acme', %ld, 'cli:c', 'expired', now());"
             "INSERT INTO silences (tenant_id, target_id, author, reason, starts_at, ends_at)"
             " VALUES ('acme', %ld, 'cli:c', 'ended', now() - interval '2 hours', now() - interval "
             "'1 hour');"
             "INSERT INTO silences (tenant_id, check_type, author, reason)"
             " VALUES ('globex', 'weak_mfa', 'cli:c', 'other tenant')",
             tb, tb);
    testlib_db_exec(db, q);
    rd_kafka_t *p = producer();
    running rr;
    start_router(&rr, "g-quiet", 100, NULL);
    uint64_t seen = 0;
    char e1[37], e2[37], e3[37], e4[37];
    send_check(p, &rr, &seen, e1, "weak_mfa", "high", "2026-11-28T09:00:00Z", "u1");
    ck_assert_str_eq(pair_state(e1, ta), "suppressed/below_min_severity");
    ck_assert_str_eq(pair_state(e1, tb), "pending/");
    ck_assert_str_eq(pair_state(e1, tc), "suppressed/silenced"); /* workspace T2 */
    snprintf(q, sizeof q,
             "SELECT count(*) FROM deliveries WHERE event_id = '%s' AND target_id = %ld"
             " AND last_error = 'severity high is below the target''s floor critical'",
             e1, ta);
    ck_assert_int_eq(sqll(q), 1);
    send_check(p, &rr, &seen, e2, "muted_check", "critical", "2026-11-28T09:01:00Z", "u1");
    ck_assert_str_eq(pair_state(e2, ta), "suppressed/silenced");
    ck_assert_str_eq(pair_state(e2, tb), "suppressed/silenced");
    snprintf(q, sizeof q,
             "SELECT count(*) FROM deliveries WHERE event_id = '%s' AND target_id = %ld"
             " AND last_error = 'silence %ld (cli:alice): maintenance'",
             e2, tb, by_check);
    ck_assert_int_eq(sqll(q), 1);
    /* a silence added while running applies once its notification is read */
    snprintf(q, sizeof q,
             "INSERT INTO silences (tenant_id, target_id, author, reason)"
             " VALUES ('acme', %ld, 'cli:dave', 'noisy')",
             tb);
    testlib_db_exec(db, q);
    usleep(300 * 1000);
    send_check(p, &rr, &seen, e3, "weak_mfa", "critical", "2026-11-28T09:02:00Z", "u1");
    ck_assert_str_eq(pair_state(e3, ta), "pending/");
    ck_assert_str_eq(pair_state(e3, tb), "suppressed/silenced");
    /* expired from the console: applies no more */
    testlib_db_exec(db, "UPDATE silences SET expired_at = now() WHERE author = 'cli:dave'");
    usleep(300 * 1000);
    send_check(p, &rr, &seen, e4, "weak_mfa", "critical", "2026-11-28T09:03:00Z", "u1");
    ck_assert_str_eq(pair_state(e4, tb), "pending/");

    router_stats s = stats_of(&rr);
    ck_assert_uint_eq(s.suppressed[ROUTE_SUPPRESS_FLOOR], 1);
    ck_assert_uint_eq(s.suppressed[ROUTE_SUPPRESS_SILENCED], 7);
    /* published: exactly the pending pairs */
    long pending = sqll("SELECT count(*) FROM deliveries WHERE state = 'pending'");
    ck_assert_int_eq(pending, 4); /* e1 tb, e3 ta, e4 ta, e4 tb (e3/e4 tc: T2 silenced) */
    reader rd;
    reader_open(&rd, TOPIC_DELIVERIES);
    reader_read(&rd, (size_t)pending, 20000, 1500);
    ck_assert_uint_eq(rd.n, (size_t)pending);
    ck_assert_int_eq(published(&rd, e1, ta, NULL), 0);
    ck_assert_int_eq(published(&rd, e1, tb, NULL), 1);
    ck_assert_int_eq(published(&rd, e2, tb, NULL), 0);
    reader_close(&rd);
    stop_router(&rr);
    destroy_router(&rr);
    rd_kafka_destroy(p);
}
END_TEST

START_TEST(repeat_policies_and_resolves)
{
    long on = add_target("acme", "T1", "CON", "fc", NULL);
    long thr = add_target("acme", "T1", "CTHR", "fc", NULL);
    long itv = add_target("acme", "T1", "CINT", "fc", NULL);
    long every = add_target("acme", "T1", "CEVERY", "fc", NULL);
    long quiet = add_target("acme", "T1", "CQUIET", "fc", NULL);
    testlib_db_exec(db, "UPDATE targets SET repeat_policy = 'on_change'"
                        " WHERE destination IN ('CON', 'CTHR');"
                        "UPDATE targets SET thread_repeats = true WHERE destination = 'CTHR';"
                        "UPDATE targets SET repeat_policy = 'interval', repeat_interval_s = 3600"
                        " WHERE destination = 'CINT';"
                        "UPDATE targets SET notify_resolved = false WHERE destination = 'CQUIET'");
    rd_kafka_t *p = producer();
    running rr;
    start_router(&rr, "g-repeat", 100, NULL);
    uint64_t seen = 0;
    char e1[37], e2[37], e3[37], e4[37], pass1[37], pass2[37], e5[37], e6[37];
    send_check(p, &rr, &seen, e1, "weak_mfa", "high", "2026-11-28T09:00:00Z", "u1,u2");
    long targets[] = {on, thr, itv, every, quiet};
    for (int i = 0; i < 5; i++)
        ck_assert_str_eq(pair_state(e1, targets[i]), "pending/");
    /* the same users in another order: unchanged */
    send_check(p, &rr, &seen, e2, "weak_mfa", "high", "2026-11-28T09:10:00Z", "u2,u1");
    ck_assert_str_eq(pair_state(e2, on), "suppressed/repeat_on_change");
    ck_assert_str_eq(pair_state(e2, thr), "pending/"); /* threads: a reply */
    ck_assert_str_eq(pair_state(e2, itv), "suppressed/repeat_interval");
    ck_assert_str_eq(pair_state(e2, every), "pending/");
    char q[512];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM deliveries WHERE event_id = '%s' AND target_id = %ld AND"
             " last_error = 'notified 2026-11-28T09:00:00.000Z; repeat every 1h'",
             e2, itv);
    ck_assert_int_eq(sqll(q), 1);
    /* changed users: on_change routes, interval still waits */
    send_check(p, &rr, &seen, e3, "weak_mfa", "high", "2026-11-28T09:20:00Z", "u1,u3");
    ck_assert_str_eq(pair_state(e3, on), "pending/");
    ck_assert_str_eq(pair_state(e3, itv), "suppressed/repeat_interval");
    /* past the interval (event times) */
    send_check(p, &rr, &seen, e4, "weak_mfa", "high", "2026-11-28T10:05:00Z", "u1,u3");
    ck_assert_str_eq(pair_state(e4, on), "suppressed/repeat_on_change");
    ck_assert_str_eq(pair_state(e4, itv), "pending/");
    /* the pass resolves what was notified */
    send_check(p, &rr, &seen, pass1, "weak_mfa", "high", "2026-11-28T10:30:00Z", "");
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries WHERE kind = 'resolve'"), 4);
    ck_assert_str_eq(pair_state(pass1, quiet), ""); /* notify_resolved off: silently */
    ck_assert_int_eq(sqll("SELECT count(*) FROM alert_states WHERE firing"), 0);
    snprintf(q, sizeof q,
             "SELECT count(*) FROM alert_states WHERE resolved_event_id = '%s'"
             " AND resolved_at = '2026-11-28T10:30:00Z'",
             pass1);
    ck_assert_int_eq(sqll(q), 5);
    /* a pass with nothing firing publishes nothing */
    send_check(p, &rr, &seen, pass2, "weak_mfa", "high", "2026-11-28T10:40:00Z", "");
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries WHERE kind = 'resolve'"), 4);
    /* a new streak: the same users as before notify again */
    send_check(p, &rr, &seen, e5, "weak_mfa", "high", "2026-11-28T11:00:00Z", "u1,u3");
    ck_assert_str_eq(pair_state(e5, on), "pending/");
    ck_assert_str_eq(pair_state(e5, itv), "pending/");

    reader rd;
    reader_open(&rd, TOPIC_DELIVERIES);
    long pending = sqll("SELECT count(*) FROM deliveries WHERE state = 'pending'");
    reader_read(&rd, (size_t)pending, 20000, 1500);
    ck_assert_uint_eq(rd.n, (size_t)pending);
    ck_assert_int_eq(published(&rd, pass1, on, e3), 1);
    ck_assert_int_eq(published(&rd, pass1, thr, e4), 1);
    ck_assert_int_eq(published(&rd, pass1, itv, e4), 1);
    ck_assert_int_eq(published(&rd, pass1, every, e4), 1);
    ck_assert_int_eq(published(&rd, e2, on, NULL), 0);
    reader_close(&rd);
    router_stats s = stats_of(&rr);
    ck_assert_uint_eq(s.resolves, 4);
    ck_assert_uint_eq(s.suppressed[ROUTE_SUPPRESS_ON_CHANGE], 2);
    ck_assert_uint_eq(s.suppressed[ROUTE_SUPPRESS_INTERVAL], 2);
    stop_router(&rr);
    destroy_router(&rr);

    /* a new router instance reads the state back from alert_states */
    start_router(&rr, "g-repeat", 100, NULL);
    seen = 0;
    send_check(p, &rr, &seen, e6, "weak_mfa", "high", "2026-11-28T11:10:00Z", "u3,u1");
    ck_assert_str_eq(pair_state(e6, on), "suppressed/repeat_on_change");
    ck_assert_str_eq(pair_state(e6, itv), "suppressed/repeat_interval");
    ck_assert_str_eq(pair_state(e6, every), "pending/");
    stop_router(&rr);
    destroy_router(&rr);
    rd_kafka_destroy(p);
}
END_TEST

START_TEST(collection_success_resolves)
{
    long t = add_target("acme", "T1", "CCOL", "dc", NULL);
    rd_kafka_t *p = producer();
    running rr;
    start_router(&rr, "g-coll", 100, NULL);
    char fail[37], ok[37];
    char *j = collection_json(fail, "acme", "scheduled", true);
    produce(p, TOPIC_COLLECTIONS, "acme", j);
    free(j);
    flush(p);
    wait_consumed(&rr, 1, 60);
    ck_assert_str_eq(pair_state(fail, t), "pending/");
    j = collection_json(ok, "acme", "scheduled", false);
    produce(p, TOPIC_COLLECTIONS, "acme", j);
    free(j);
    flush(p);
    wait_consumed(&rr, 2, 60);
    ck_assert_str_eq(pair_state(ok, t), "pending/");
    char q[256];
    snprintf(q, sizeof q,
             "SELECT count(*) FROM deliveries WHERE event_id = '%s' AND kind = 'resolve'"
             " AND ref_event_id = '%s'",
             ok, fail);
    ck_assert_int_eq(sqll(q), 1);
    ck_assert_int_eq(sqll("SELECT count(*) FROM alert_states WHERE alert_key ="
                          " 'collection:okta-prod' AND NOT firing"),
                     1);
    reader rd;
    reader_open(&rd, TOPIC_DELIVERIES);
    reader_read(&rd, 2, 20000, 1000);
    ck_assert_uint_eq(rd.n, 2);
    ck_assert_int_eq(published(&rd, ok, t, fail), 1);
    reader_close(&rd);
    stop_router(&rr);
    destroy_router(&rr);
    rd_kafka_destroy(p);
}
END_TEST

/* check_json's event with check.url set to url. */
static char *with_url(const char *json, const char *link)
{
    const char *at = strstr(json, "\"severity\":\"high\"}");
    ck_assert_ptr_nonnull(at);
    size_t head = (size_t)(at - json) + strlen("\"severity\":\"high\"");
    return testlib_fmt("%.*s,\"url\":\"%s\"%s", (int)head, json, link, json + head);
}

/* Issue 11: a check.url pointing outside HERALD_LINK_HOSTS would become a
 * phishing "View in Herald" button: the router dead-letters the event with
 * the reason and routes the one linking to an allowed host. */
START_TEST(foreign_check_url_is_dead_lettered)
{
    add_target("acme", "T1", "C0001", "both", NULL);
    rd_kafka_t *p = producer();
    char e1[37], e2[37];
    char *base1 = check_json(e1, "acme", "weak_mfa", 2, "scheduled");
    char *base2 = check_json(e2, "acme", "weak_mfa", 3, "scheduled");
    char *good = with_url(base1, "https://herald.acme.example/checks/weak_mfa");
    char *evil = with_url(base2, "https://herald.acme.example@evil.example/login");
    produce(p, TOPIC_CHECKS, "acme", evil);
    produce(p, TOPIC_CHECKS, "acme", good);
    flush(p);

    event_link_config lc = {.link_hosts = "herald.acme.example"};
    event_link_hosts lh;
    char err[512];
    ck_assert_int_eq(event_link_hosts_init(&lh, &lc, err, sizeof err), 0);
    router_config cfg;
    router_config_defaults(&cfg);
    cfg.brokers = K.bootstraps;
    cfg.database_url = url;
    cfg.group = "g-links";
    cfg.batch_size = 100;
    cfg.batch_wait_ms = 20;
    cfg.consumer_props = fast_group;
    cfg.link_hosts = &lh;
    running rr;
    rr.r = router_new(&cfg, err, sizeof err);
    ck_assert_msg(rr.r != NULL, "router_new: %s", err);
    ck_assert_int_eq(testlib_router_thread_start(&rr), 0);
    wait_consumed(&rr, 2, 60);
    router_stats s = stats_of(&rr);
    ck_assert_uint_eq(s.routed, 1);
    ck_assert_uint_eq(s.dead_lettered, 1);
    stop_router(&rr);
    destroy_router(&rr);
    event_link_hosts_dispose(&lh);

    char q[256];
    snprintf(q, sizeof q, "SELECT count(*) FROM deliveries WHERE event_id = '%s'", e1);
    ck_assert_int_eq(sqll(q), 1);
    ck_assert_int_eq(sqll("SELECT count(*) FROM deliveries"), 1);

    reader rd;
    reader_open(&rd, TOPIC_DEADLETTER);
    reader_read(&rd, 1, 20000, 1000);
    ck_assert_uint_eq(rd.n, 1);
    ck_assert_ptr_nonnull(strstr(rd.recs[0].value, e2));
    ck_assert_ptr_nonnull(rd.recs[0].reason);
    ck_assert_str_eq(rd.recs[0].reason, "check.url: host 'evil.example' is not in "
                                        "HERALD_LINK_HOSTS (herald.acme.example)");
    reader_close(&rd);
    free(base1);
    free(base2);
    free(good);
    free(evil);
    rd_kafka_destroy(p);
}
END_TEST

/* ROUTER_TEST=name runs only the tests whose name contains it (debugging). */
static void add(TCase *tc, const TTest *t)
{
    testlib_add_test(tc, t, "ROUTER_TEST");
}

int main(void)
{
    log_init("test_router");
    testlib_db_create("router", url, sizeof url);
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("router");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 300);
    add(tc, routes_by_the_rules);
    add(tc, redelivery_creates_no_duplicates);
    add(tc, deliveries_keep_the_events_order);
    add(tc, malformed_events_are_dead_lettered);
    add(tc, target_changes_are_honoured);
    add(tc, no_query_without_targets_and_bulk_changes);
    add(tc, passes_recorded_for_thread_tenants);
    add(tc, idle_router_does_not_wait_to_fill_a_batch);
    add(tc, database_restart_loses_nothing);
    add(tc, broker_outage_loses_nothing);
    add(tc, stop_and_takeover);
    add(tc, metrics_and_health);
    add(tc, scale_out_rebalance_and_kill);
    add(tc, floor_and_silences_suppress);
    add(tc, repeat_policies_and_resolves);
    add(tc, collection_success_resolves);
    add(tc, foreign_check_url_is_dead_lettered);
    suite_add_tcase(s, tc);
    return testlib_run_suite(s);
}
