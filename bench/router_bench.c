/*
 * router_bench: how fast herald-router turns events into delivery rows and
 * routed messages, next to how fast PostgreSQL alone accepts the same rows
 * with COPY on the same database (the ceiling). Run it through
 * bench/router_bench.sh, which builds it and starts a private PostgreSQL.
 *
 *   1. a fresh database: 1,000 tenants with 1 to 5 targets each (some with a
 *      check filter), over a few workspaces;
 *   2. an in-process librdkafka mock cluster; N events produced up front
 *      (check results, mostly failing, and collection events);
 *   3. the router (workers/router/router.h, the code herald-router runs) consumes
 *      them all; timed from its first consumed event to its last stored
 *      offset: events/s and delivery rows/s;
 *   4. the same events and delivery rows are COPYed into empty copies of the
 *      tables (same indexes and constraints): rows/s;
 *   5. the ratio of 3 to 4.
 */
#include "testlib.h"

#include "common/config.h"
#include "common/db.h"
#include "common/kafka.h"
#include "common/log.h"
#include "workers/router/router.h"
#include "common/util.h"

#include <librdkafka/rdkafka_mock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* strtol/strtod without error reporting needs: the text came from
 * PostgreSQL or from our own HTTP server */
static long strtol_or0(const char *s)
{
    return strtol(s, NULL, 10);
}

static const char *const check_types[] = {"weak_mfa",       "stale_admin",   "dormant_users",
                                          "shared_secrets", "no_mfa_admins", "old_keys",
                                          "guest_access",   "risky_apps"};
#define NTYPES ARRAY_LEN(check_types)

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "router_bench: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    exit(1);
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void exec_or_die(PGconn *c, const char *sql)
{
    char err[512];
    if (db_exec(c, sql, err, sizeof err))
        die(sql, err);
}

/* Streams buf into "COPY ... FROM STDIN". */
static void copy_in(PGconn *c, const char *sql, const char *buf, size_t len)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COPY_IN)
        die(sql, PQresultErrorMessage(r));
    PQclear(r);
    size_t off = 0;
    while (off < len) {
        size_t n = len - off > (1 << 20) ? (1 << 20) : len - off;
        if (PQputCopyData(c, buf + off, (int)n) != 1)
            die("COPY data", PQerrorMessage(c));
        off += n;
    }
    if (PQputCopyEnd(c, NULL) != 1)
        die("COPY end", PQerrorMessage(c));
    r = PQgetResult(c);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        die(sql, PQresultErrorMessage(r));
    PQclear(r);
    while ((r = PQgetResult(c)) != NULL)
        PQclear(r);
}

/* Reads "COPY ... TO STDOUT" into memory. */
static char *copy_out(PGconn *c, const char *sql, size_t *len)
{
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COPY_OUT)
        die(sql, PQresultErrorMessage(r));
    PQclear(r);
    size_t cap = 1 << 20, n = 0;
    char *buf = xmalloc(cap);
    char *row;
    int k;
    while ((k = PQgetCopyData(c, &row, 0)) > 0) {
        if (n + (size_t)k > cap) {
            while (n + (size_t)k > cap)
                cap *= 2;
            buf = xrealloc(buf, cap);
        }
        memcpy(buf + n, row, (size_t)k);
        n += (size_t)k;
        PQfreemem(row);
    }
    while ((r = PQgetResult(c)) != NULL)
        PQclear(r);
    *len = n;
    return buf;
}

static char *make_event(uint32_t i, int *is_check, char *tenant, size_t tenant_size)
{
    char eid[37];
    util_uuid4(eid);
    snprintf(tenant, tenant_size, "tenant-%04u", rnd(1000));
    char *s = xmalloc(2048);
    if (rnd(100) < 85) {
        *is_check = 1;
        long failing = rnd(10) == 0 ? 0 : 1 + (long)rnd(40);
        const char *type = check_types[rnd(NTYPES)];
        snprintf(s, 2048,
                 "{\"schema\":\"herald.check_result.v1\",\"event_id\":\"%s\",\"tenant_id\":\"%s\","
                 "\"run_id\":\"0b8e8f4e-2f7e-4a51-9a0b-3c1d2e4f5a6b\",\"trigger\":\"%s\","
                 "\"check\":{\"type\":\"%s\",\"name\":\"Check %s\",\"severity\":\"high\","
                 "\"url\":\"https://console.example.com/checks/%s\"},"
                 "\"evaluated_at\":\"2026-11-28T09:00:00Z\",\"failing_count\":%ld,"
                 "\"total_count\":480,\"failing_users\":[%s]}",
                 eid, tenant, i % 7 ? "scheduled" : "manual", type, type, type, failing,
                 failing >= 3 ? "{\"id\":\"u1\",\"display_name\":\"Ada Lovelace\",\"email\":"
                                "\"ada@example.com\"},{\"id\":\"u2\",\"display_name\":\"Alan "
                                "Turing\",\"email\":\"alan@example.com\"},{\"id\":\"u3\","
                                "\"display_name\":\"Grace Hopper\",\"email\":\"grace@example.com\"}"
                              : "");
    } else {
        *is_check = 0;
        int manual = rnd(3) == 0, failed = rnd(3) == 0;
        snprintf(s, 2048,
                 "{\"schema\":\"herald.collection_event.v1\",\"event_id\":\"%s\",\"tenant_id\":"
                 "\"%s\",\"integration\":{\"id\":\"okta-prod\",\"name\":\"Okta (prod)\",\"kind\":"
                 "\"okta\"},\"trigger\":\"%s\",\"status\":\"%s\",\"started_at\":"
                 "\"2026-11-28T09:00:00Z\",\"finished_at\":\"2026-11-28T09:05:00Z\",\"stats\":{"
                 "\"users\":1234,\"groups\":56}%s}",
                 eid, tenant, manual ? "manual" : "scheduled", failed ? "failed" : "succeeded",
                 failed ? ",\"error\":{\"code\":\"auth_failed\",\"message\":\"The API token was "
                          "rejected\"}"
                        : "");
    }
    return s;
}

int main(int argc, char **argv)
{
    long events = 200000, tenants = 1000, batch = 500, wait_ms = 20, partitions = 64;
    long thread_pct = 0;
    char *dburl = NULL;
    cfg_opt opts[] = {
        {"--events", NULL, CFG_INT, "200000", 1, 10000000, "N", "events to route", &events},
        {"--tenants", NULL, CFG_INT, "1000", 1, 1000000, "N", "tenants (1-5 targets each)",
         &tenants},
        {"--batch-size", NULL, CFG_INT, "500", 1, 100000, "N", "router batch size", &batch},
        {"--batch-wait-ms", NULL, CFG_INT, "20", 0, 10000, "MS", "router batch wait", &wait_ms},
        {"--partitions", NULL, CFG_INT, "64", 1, 1024, "N",
         "partitions per event topic (the mock keeps ~5 MiB per partition)", &partitions},
        {"--thread-repeats", NULL, CFG_INT, "0", 0, 100, "PCT",
         "share of failed_check targets that thread repeats (their tenants' passing checks are "
         "recorded)",
         &thread_pct},
        {"--database-url", "HERALD_DATABASE_URL", CFG_STRING, NULL, 0, 0, "URI",
         "a server where a database herald_bench may be (re)created", &dburl},
        {"--log-level", "HERALD_LOG_LEVEL", CFG_LOGLEVEL, "warn", 0, 0, "LEVEL",
         "debug, info, warn or error", NULL},
    };
    log_init("router_bench");
    int argi = 1;
    int code = cfg_parse_or_exit_code("router_bench", "[OPTIONS]", opts, ARRAY_LEN(opts), argc,
                                      argv, &argi);
    if (code >= 0)
        return code;
    if (!dburl || !*dburl) {
        fprintf(stderr, "router_bench: --database-url is required\n");
        return 2;
    }
    /* the "tenant-%04u" generator draws from 1000 tenants */
    if (tenants != 1000)
        fprintf(stderr,
                "router_bench: --tenants is fixed at 1000 (the event generator's); "
                "ignoring %ld\n",
                tenants);
    tenants = 1000;

    /* ---------------------------------------------------------- database */
    char err[512], url[512];
    testlib_db_create_at(dburl, "herald_bench", url, sizeof url);
    PGconn *db = testlib_db_connect(url);

    /* workspaces and targets */
    exec_or_die(db, "INSERT INTO workspaces (team_id, team_name, token_enc)"
                    " SELECT 'T' || g, 'Team ' || g, '\\x00' FROM generate_series(1, 20) g");
    size_t cap = 1 << 20, len = 0;
    char *tbuf = xmalloc(cap);
    long ntargets = 0;
    for (long t = 0; t < tenants; t++) {
        int k = 1 + (int)rnd(5);
        for (int j = 0; j < k; j++) {
            uint32_t u = rnd(100);
            const char *fc = u < 85 ? "t" : "f";
            const char *dc = u >= 70 ? "t" : "f";
            if (len + 256 > cap)
                tbuf = xrealloc(tbuf, cap *= 2);
            len += (size_t)snprintf(tbuf + len, cap - len,
                                    "tenant-%04ld\tT%u\ttarget %d\tC%06ld\tchannel\t%s\t%s\n", t,
                                    1 + rnd(20), j, ntargets, fc, dc);
            ntargets++;
        }
    }
    copy_in(db,
            "COPY targets (tenant_id, team_id, name, destination, destination_kind,"
            " use_failed_check, use_data_collection) FROM STDIN",
            tbuf, len);
    free(tbuf);
    /* a fifth of the failed_check targets narrowed to two check types */
    exec_or_die(db, "INSERT INTO target_checks (target_id, check_type)"
                    " SELECT id, (ARRAY['weak_mfa','stale_admin','dormant_users','shared_secrets',"
                    "'no_mfa_admins','old_keys','guest_access','risky_apps'])[1 + ((id + k) % 8)]"
                    " FROM targets, generate_series(0, 1) k"
                    " WHERE use_failed_check AND id % 5 = 0");
    char upd[256];
    snprintf(upd, sizeof upd,
             "UPDATE targets SET thread_repeats = true WHERE use_failed_check AND id %% 100 < %ld",
             thread_pct);
    exec_or_die(db, upd);
    exec_or_die(db, "ANALYZE");

    /* ------------------------------------------------------------- kafka */
    rd_kafka_conf_t *mconf = rd_kafka_conf_new();
    rd_kafka_conf_set(mconf, "log_level", "3", err, sizeof err);
    rd_kafka_t *mrk = rd_kafka_new(RD_KAFKA_PRODUCER, mconf, err, sizeof err);
    if (!mrk)
        die(err, NULL);
    rd_kafka_mock_cluster_t *mc = rd_kafka_mock_cluster_new(mrk, 1);
    if (!mc)
        die("mock cluster", NULL);
    rd_kafka_mock_topic_create(mc, TOPIC_CHECKS, (int)partitions, 1);
    rd_kafka_mock_topic_create(mc, TOPIC_COLLECTIONS, (int)partitions, 1);
    /* deliveries: the mock drops data past ~5 MiB a partition, which is
     * fine here: only acknowledgements are measured */
    rd_kafka_mock_topic_create(mc, TOPIC_DELIVERIES, (int)partitions, 1);
    rd_kafka_mock_topic_create(mc, TOPIC_DEADLETTER, 4, 1);
    const char *bootstraps = rd_kafka_mock_cluster_bootstraps(mc);

    rd_kafka_t *p = kafka_producer_new(bootstraps, NULL, NULL, err, sizeof err);
    if (!p)
        die(err, NULL);
    int64_t t0 = util_now_mono_ms();
    size_t bytes = 0;
    for (long i = 0; i < events; i++) {
        int is_check;
        char tenant[32];
        char *ev = make_event((uint32_t)i, &is_check, tenant, sizeof tenant);
        size_t n = strlen(ev);
        bytes += n;
        rd_kafka_resp_err_t e;
        while (
            (e = rd_kafka_producev(p, RD_KAFKA_V_TOPIC(is_check ? TOPIC_CHECKS : TOPIC_COLLECTIONS),
                                   RD_KAFKA_V_KEY(tenant, strlen(tenant)), RD_KAFKA_V_VALUE(ev, n),
                                   RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_FREE), RD_KAFKA_V_END)) ==
            RD_KAFKA_RESP_ERR__QUEUE_FULL)
            rd_kafka_poll(p, 10);
        if (e)
            die("produce", rd_kafka_err2str(e));
    }
    if (rd_kafka_flush(p, 120000))
        die("flush", "events not acknowledged");
    int64_t t_produce = util_now_mono_ms() - t0;
    rd_kafka_destroy(p);
    if (bytes / (size_t)partitions > 4u * 1024 * 1024)
        fprintf(stderr, "router_bench: warning: %.1f MiB per partition: raise --partitions\n",
                (double)bytes / (double)partitions / 1048576.0);

    printf("router benchmark: %ld events (%.0f bytes avg), %ld tenants, %ld targets, "
           "%ld partitions, batch %ld\n",
           events, (double)bytes / (double)events, tenants, ntargets, partitions, batch);
    printf("  produced the events in %.2f s\n", (double)t_produce / 1000.0);
    fflush(stdout);

    /* ------------------------------------------------------------ router */
    exec_or_die(db, "CHECKPOINT"); /* both runs start from the same state */
    router_config cfg;
    router_config_defaults(&cfg);
    cfg.brokers = bootstraps;
    cfg.database_url = url;
    cfg.group = "router-bench";
    cfg.batch_size = batch;
    cfg.batch_wait_ms = wait_ms;
    cfg.summary_seconds = 0;
    router *r = router_new(&cfg, err, sizeof err);
    if (!r)
        die(err, NULL);
    testlib_router_thread br = {.r = r};
    if (testlib_router_thread_start(&br))
        die("router", "no thread");
    int64_t start = 0, end = 0;
    router_stats s;
    for (;;) {
        router_get_stats(r, &s);
        uint64_t done = s.routed + s.not_notifiable + s.no_target + s.dead_lettered + s.duplicates;
        int64_t now = util_now_mono_ms();
        if (!start && s.consumed > 0)
            start = now;
        if (done >= (uint64_t)events) {
            end = now;
            break;
        }
        if (now - t0 > 3600 * 1000)
            die("router", "did not finish within an hour");
        usleep(2000);
    }
    int rc = testlib_router_thread_stop(&br);
    router_get_stats(r, &s);
    router_destroy(r);
    double secs = (double)(end - start) / 1000.0;
    if (secs <= 0)
        secs = 0.001;
    PGresult *res = PQexec(db, "SELECT (SELECT count(*) FROM deliveries),"
                               " (SELECT count(*) FROM events)");
    if (PQresultStatus(res) != PGRES_TUPLES_OK)
        die("count", PQresultErrorMessage(res));
    long drows = strtol_or0(PQgetvalue(res, 0, 0)), erows = strtol_or0(PQgetvalue(res, 0, 1));
    PQclear(res);
    if ((uint64_t)drows != s.deliveries_created)
        die("check", "delivery rows differ from what the router says it created");
    double ev_rate = (double)events / secs, row_rate = (double)drows / secs;
    printf("  router:  %.2f s  %10.0f events/s  %10.0f delivery rows/s"
           "  (%ld delivery rows, %ld events rows, %llu routed, %llu to no target, "
           "%llu not notifiable (%llu passes recorded), %llu batches)\n",
           secs, ev_rate, row_rate, drows, erows, (unsigned long long)s.routed,
           (unsigned long long)s.no_target, (unsigned long long)s.not_notifiable,
           (unsigned long long)s.passes_recorded, (unsigned long long)s.batches);
    fflush(stdout);

    /* -------------------------------------------------------------- COPY */
    /* The same rows, read back (untimed), emptied and COPYed into the very
     * same tables: same columns, defaults, indexes, constraints (the
     * deliveries -> targets foreign key) and triggers. */
    size_t elen, dlen;
    char *ebuf = copy_out(db,
                          "COPY (SELECT event_id, tenant_id, kind, check_type, payload"
                          " FROM events) TO STDOUT",
                          &elen);
    char *dbuf = copy_out(db,
                          "COPY (SELECT event_id, target_id, tenant_id FROM deliveries)"
                          " TO STDOUT",
                          &dlen);
    /* Twice, keeping the faster: the ceiling is what PostgreSQL can do. */
    double csecs = 0, esecs = 0;
    for (int run = 0; run < 2; run++) {
        exec_or_die(db, "TRUNCATE deliveries, events");
        /* tables other parts keep up to date from triggers on events, emptied
         * too so COPY does the same work the router did */
        exec_or_die(db, "DO $$ BEGIN IF to_regclass('check_types') IS NOT NULL THEN"
                        " EXECUTE 'TRUNCATE check_types'; END IF; END $$");
        exec_or_die(db, "VACUUM ANALYZE targets");
        exec_or_die(db, "CHECKPOINT");
        int64_t c0 = util_now_mono_ms();
        copy_in(db, "COPY events (event_id, tenant_id, kind, check_type, payload) FROM STDIN", ebuf,
                elen);
        int64_t c1 = util_now_mono_ms();
        copy_in(db, "COPY deliveries (event_id, target_id, tenant_id) FROM STDIN", dbuf, dlen);
        double t = (double)(util_now_mono_ms() - c0) / 1000.0;
        if (t <= 0)
            t = 0.001;
        if (run == 0 || t < csecs) {
            csecs = t;
            esecs = (double)(c1 - c0) / 1000.0;
        }
    }
    /* The ceiling too: the delivery rows alone into a plain keyed
     * table (no other index, no foreign key, no trigger, no events rows). */
    double psecs = 0;
    for (int run = 0; run < 2; run++) {
        exec_or_die(db, "DROP TABLE IF EXISTS bench_plain");
        exec_or_die(db, "CREATE TABLE bench_plain (event_id uuid, target_id bigint, tenant_id "
                        "text, PRIMARY KEY (event_id, target_id))");
        exec_or_die(db, "CHECKPOINT");
        int64_t c0 = util_now_mono_ms();
        copy_in(db, "COPY bench_plain (event_id, target_id, tenant_id) FROM STDIN", dbuf, dlen);
        double t = (double)(util_now_mono_ms() - c0) / 1000.0;
        if (t <= 0)
            t = 0.001;
        if (run == 0 || t < psecs)
            psecs = t;
    }
    exec_or_die(db, "DROP TABLE bench_plain");
    free(ebuf);
    free(dbuf);
    double copy_rate = (double)drows / csecs, plain_rate = (double)drows / psecs;
    printf("  COPY:    %.2f s  %10.0f events/s  %10.0f delivery rows/s"
           "  (the same %ld events rows and %ld delivery rows into the same tables, best of 2)\n",
           csecs, (double)erows / csecs, copy_rate, erows, drows);
    printf("           of which the events rows %.2f s, the delivery rows (indexes, foreign key, "
           "rollup triggers) %.2f s\n",
           esecs, csecs - esecs);
    printf(
        "  plain:   %.2f s  %10s           %10.0f delivery rows/s  (the delivery rows alone into a "
        "plain table keyed (event_id, target_id), best of 2)\n",
        psecs, "", plain_rate);
    printf("  ratio:   router / COPY = %.2f (delivery rows per second)\n", row_rate / copy_rate);
    printf("  ratio:   router / plain COPY = %.2f\n", row_rate / plain_rate);
    PQfinish(db);
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(mrk);
    return rc == 0 ? 0 : 1;
}
