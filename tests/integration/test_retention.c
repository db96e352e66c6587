/*
 * Delivery history upkeep against PostgreSQL (issue 9): the hourly rollups
 * that migration 009's triggers keep equal what deliveries say whoever writes
 * them, `stats rebuild` (store_stats_rebuild) restores them, retention
 * (store_prune) removes what it should and nothing else, and herald-router's
 * retention thread (router_retention) runs it and exports its metrics.
 */
#include "testlib.h"

#include "common/db.h"
#include "common/metrics.h"
#include "common/util.h"
#include "store/stats.h"
#include "workers/router/router_retention.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char url[512];
static PGconn *conn;
static char err[512];

/* Rows of the rollups that differ from the same GROUP BY over deliveries
 * (either way), from the hour of `from` on: 0 when they agree. */
#define ROLLUP_DIFF(from)                                                                          \
    "SELECT count(*) FROM ((SELECT target_id, hour, state, error_code, n, folded "                 \
    "  FROM delivery_stats_hourly WHERE hour >= date_trunc('hour', " from ") EXCEPT "              \
    "  SELECT target_id, date_trunc('hour', created_at), state, "                                  \
    "         herald_stats_error_code(state, last_error_code), count(*), count(digest_size) "      \
    "  FROM deliveries WHERE created_at >= date_trunc('hour', " from ") GROUP BY 1, 2, 3, 4) "     \
    " UNION ALL "                                                                                  \
    " (SELECT target_id, date_trunc('hour', created_at), state, "                                  \
    "         herald_stats_error_code(state, last_error_code), count(*), count(digest_size) "      \
    "  FROM deliveries WHERE created_at >= date_trunc('hour', " from ") GROUP BY 1, 2, 3, 4 "      \
    "  EXCEPT SELECT target_id, hour, state, error_code, n, folded FROM delivery_stats_hourly "    \
    "  WHERE hour >= date_trunc('hour', " from "))) x"

#define ALL "'-infinity'::timestamptz"

/* Rows of the rollups over all targets that differ from the per-target
 * rollups summed by shard (either way): 0 when they agree. */
#define SHARDS_OF_TARGETS                                                                          \
    "SELECT hour, state, error_code, (target_id % 16)::smallint, sum(n)::int, sum(folded)::int "   \
    "  FROM delivery_stats_hourly GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0 OR sum(folded) <> 0"
#define SHARDS                                                                                     \
    "SELECT hour, state, error_code, shard, n, folded FROM delivery_stats_hourly_all "             \
    " WHERE n <> 0 OR folded <> 0"
#define ALL_TARGETS_DIFF                                                                           \
    "SELECT count(*) FROM ((" SHARDS " EXCEPT " SHARDS_OF_TARGETS ") UNION ALL "                   \
    "(" SHARDS_OF_TARGETS " EXCEPT " SHARDS ")) x"

static void setup(void)
{
    conn = testlib_db_connect(url);
    testlib_db_truncate(conn, "deliveries, events, target_checks, targets, workspaces, "
                              "delivery_stats_hourly, delivery_stats_hourly_all, maintenance_runs");
    testlib_db_exec(conn, "INSERT INTO workspaces (team_id, team_name, token_enc) "
                          "VALUES ('T1', 'Acme', '\\x00')");
    /* Five targets of three tenants; the fifth removed (its history stays). */
    testlib_db_exec(conn,
                    "INSERT INTO targets (tenant_id, team_id, name, destination, destination_kind, "
                    "use_failed_check, deleted_at) SELECT 't' || i % 3, 'T1', 'n' || i, 'C' || i, "
                    "'channel', true, CASE WHEN i = 5 THEN now() END FROM generate_series(1, 5) i");
}

static void teardown(void)
{
    PQfinish(conn);
    conn = NULL;
}

/* Reads after folding the rollups' change log (migration 012), as the
 * workers do every second. */
static long q(const char *sql)
{
    testlib_db_long(conn, "SELECT herald_stats_fold()");
    return testlib_db_long(conn, sql);
}

static void assert_rollups_equal(void)
{
    long diff = q(ROLLUP_DIFF(ALL));
    ck_assert_msg(diff == 0, "%ld rollup rows differ from deliveries", diff);
    diff = q(ALL_TARGETS_DIFF);
    ck_assert_msg(diff == 0, "%ld rows of the all-targets rollups differ from the targets'", diff);
}

/* n deliveries (and their events) created hours_lo..hours_hi hours ago, over
 * the five targets, in mixed states with error codes and digests. */
static void insert_history(int n, int hours_lo, int hours_hi)
{
    char *sql = testlib_fmt(
        "WITH g AS (SELECT i, gen_random_uuid() AS eid, "
        "  now() - (%d + random() * %d) * interval '1 hour' AS at FROM generate_series(1, %d) i), "
        "e AS (INSERT INTO events (event_id, tenant_id, kind, payload, received_at) "
        "  SELECT eid, 't', 'check_result', '{}', at FROM g) "
        "INSERT INTO deliveries (event_id, target_id, tenant_id, state, last_error_code, "
        "  last_error, created_at, updated_at, sent_at, digest_size) "
        "SELECT eid, 1 + i %% 5, 't', "
        "  (ARRAY['sent', 'failed', 'pending', 'retrying', 'sending', 'sent', 'sent'])[1 + i %% "
        "7], "
        "  CASE WHEN i %% 7 IN (1, 3) THEN 'code' || i %% 4 END, "
        "  CASE WHEN i %% 7 = 1 THEN 'why ' || i END, at, at + i * interval '1 ms', "
        "  CASE WHEN i %% 7 IN (0, 5, 6) THEN at + interval '1 second' END, "
        "  CASE WHEN i %% 11 = 0 THEN 3 END FROM g",
        hours_lo, hours_hi - hours_lo, n);
    testlib_db_exec(conn, sql);
    free(sql);
}

/* ---------------------------------------------------------------- rollups */

START_TEST(rollups_follow_every_write)
{
    insert_history(3000, 0, 24 * 20);
    assert_rollups_equal();
    /* Rows of any age count into their hour. */
    insert_history(50, 24 * 60, 24 * 61);
    ck_assert_int_gt(q("SELECT count(*) FROM delivery_stats_hourly "
                       "WHERE hour < now() - interval '59 days'"),
                     0);
    assert_rollups_equal();

    /* The sender's moves, statement by statement, in a random order of rows:
     * claims, retries with codes, sends (some folded), failures. */
    testlib_db_exec(conn, "UPDATE deliveries SET state = 'sending', updated_at = updated_at + "
                          "interval '1 minute' WHERE state = 'pending' AND random() < 0.6");
    testlib_db_exec(conn, "UPDATE deliveries SET state = 'retrying', last_error_code = "
                          "'ratelimited', updated_at = updated_at + interval '2 minutes' "
                          "WHERE state = 'sending' AND random() < 0.5");
    testlib_db_exec(conn, "UPDATE deliveries SET state = 'sent', sent_at = updated_at + "
                          "interval '3 minutes', updated_at = updated_at + interval '3 minutes', "
                          "digest_size = CASE WHEN random() < 0.3 THEN 4 END "
                          "WHERE state IN ('sending', 'retrying') AND random() < 0.5");
    testlib_db_exec(conn, "UPDATE deliveries SET state = 'failed', last_error_code = "
                          "'channel_not_found', last_error = 'gone ' || id, updated_at = "
                          "updated_at + interval '4 minutes' WHERE state = 'retrying' "
                          "AND random() < 0.5");
    /* A retrying row's code changes (the rollup key moves). */
    testlib_db_exec(conn, "UPDATE deliveries SET last_error_code = 'fatal_error' "
                          "WHERE state = 'retrying' AND random() < 0.5");
    assert_rollups_equal();

    /* Last success and last error on the targets are the newest ones. */
    ck_assert_int_eq(q("SELECT count(*) FROM targets t WHERE last_success_at IS DISTINCT FROM "
                       "(SELECT max(sent_at) FROM deliveries d WHERE d.target_id = t.id "
                       "AND state = 'sent')"),
                     0);
    ck_assert_int_eq(q("SELECT count(*) FROM targets t LEFT JOIN LATERAL (SELECT updated_at, "
                       "last_error_code, last_error FROM deliveries d WHERE d.target_id = t.id "
                       "AND state = 'failed' ORDER BY updated_at DESC LIMIT 1) x ON true "
                       "WHERE (t.last_error_at, t.last_error_code, t.last_error) "
                       "IS DISTINCT FROM (x.updated_at, x.last_error_code, x.last_error)"),
                     0);

    /* The router's upsert: an existing row is rewritten only while pending. */
    testlib_db_exec(conn, "INSERT INTO deliveries AS d (event_id, target_id, tenant_id, state) "
                          "SELECT event_id, target_id, tenant_id, 'pending' FROM deliveries "
                          "WHERE id % 3 = 0 UNION ALL SELECT gen_random_uuid(), 2, 't', 'pending' "
                          "ON CONFLICT (event_id, target_id) DO UPDATE SET state = d.state "
                          "WHERE d.state = 'pending'");
    assert_rollups_equal();

    /* Deletes outside retention take their counts with them; emptied keys go. */
    testlib_db_exec(conn, "DELETE FROM deliveries WHERE random() < 0.2");
    assert_rollups_equal();
    ck_assert_int_eq(q("SELECT count(*) FROM delivery_stats_hourly WHERE n = 0 AND folded = 0"), 0);
}
END_TEST

/* The change log: statements only append to it; the health view and the
 * rollups agree with the deliveries before it is folded (the view adds it)
 * and after; a fold while another holds the lock folds nothing. */
START_TEST(rollup_log_is_exact_before_and_after_folding)
{
    insert_history(700, 0, 20);
    testlib_db_exec(conn, "UPDATE deliveries SET state = 'sent', sent_at = now() "
                          "WHERE state IN ('pending', 'sending') AND id % 2 = 0");
    long logged = testlib_db_long(conn, "SELECT count(*) FROM delivery_stats_delta");
    ck_assert_int_gt(logged, 0);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM delivery_stats_hourly"), 0);
#define HEALTH_DIFF                                                                                \
    "SELECT count(*) FROM target_delivery_health h LEFT JOIN (SELECT target_id, "                  \
    "  count(*) FILTER (WHERE state = 'pending') AS p, count(*) FILTER (WHERE state = 'sending') " \
    "  AS g, count(*) FILTER (WHERE state = 'retrying') AS r, "                                    \
    "  count(*) FILTER (WHERE state = 'sent') AS s, count(*) FILTER (WHERE state = 'failed') AS "  \
    "f "                                                                                           \
    "  FROM deliveries WHERE created_at >= date_trunc('hour', now()) - interval '23 hours' "       \
    "  GROUP BY 1) d USING (target_id) WHERE (h.pending_24h, h.sending_24h, h.retrying_24h, "      \
    "  h.sent_24h, h.failed_24h) IS DISTINCT FROM (coalesce(d.p, 0), coalesce(d.g, 0), "           \
    "  coalesce(d.r, 0), coalesce(d.s, 0), coalesce(d.f, 0))"
    ck_assert_int_eq(testlib_db_long(conn, HEALTH_DIFF), 0);
    ck_assert_int_gt(testlib_db_long(conn, "SELECT sum(sent_24h) FROM target_delivery_health"), 0);

    /* Another session holds the fold's lock: this fold skips, the log stays. */
    PGconn *other = testlib_db_connect(url);
    ck_assert_int_eq(testlib_db_long(other, "SELECT count(*) FROM (SELECT "
                                            "pg_advisory_lock(4812120001)) x"),
                     1);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT herald_stats_fold()"), 0);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM delivery_stats_delta"), logged);
    testlib_db_long(other, "SELECT count(*) FROM (SELECT pg_advisory_unlock(4812120001)) x");
    PQfinish(other);

    ck_assert_int_eq(testlib_db_long(conn, "SELECT herald_stats_fold()"), logged);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM delivery_stats_delta"), 0);
    assert_rollups_equal();
    ck_assert_int_eq(testlib_db_long(conn, HEALTH_DIFF), 0);
    /* A message's pending -> sending -> sent within one fold is one +1 sent:
     * no key of the live states is left behind. */
    testlib_db_exec(conn, "INSERT INTO deliveries (event_id, target_id, tenant_id) SELECT "
                          "event_id, 3, 't' FROM deliveries WHERE target_id = 1 LIMIT 1");
    testlib_db_exec(conn, "UPDATE deliveries SET state = 'sending' WHERE target_id = 3 AND "
                          "state = 'pending' AND created_at > now() - interval '1 minute'");
    testlib_db_exec(conn, "UPDATE deliveries SET state = 'sent', sent_at = now() WHERE "
                          "target_id = 3 AND state = 'sending' AND created_at > now() - "
                          "interval '1 minute'");
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM delivery_stats_delta"), 5);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT herald_stats_fold()"), 5);
    assert_rollups_equal();
#undef HEALTH_DIFF
}
END_TEST

/* ---------------------------------------------------------------- stats rebuild */

START_TEST(rebuild_restores_rollups)
{
    insert_history(2000, 0, 24 * 30);
    /* A rollup of history retention already removed: older than every row. */
    testlib_db_exec(conn,
                    "INSERT INTO delivery_stats_hourly VALUES "
                    "(1, date_trunc('hour', now() - interval '200 days'), 'sent', '', 42, 0)");
    /* Corrupt: lose some rows, miscount others, invent one. */
    testlib_db_exec(conn, "DELETE FROM delivery_stats_hourly WHERE random() < 0.3 AND n <> 42");
    testlib_db_exec(conn, "UPDATE delivery_stats_hourly SET n = n + 5 WHERE random() < 0.3 "
                          "AND n <> 42");
    testlib_db_exec(conn, "INSERT INTO delivery_stats_hourly VALUES "
                          "(2, date_trunc('hour', now()), 'failed', 'bogus', 9, 0)");
    ck_assert_int_gt(q(ROLLUP_DIFF("now() - interval '31 days'")), 0);
    testlib_db_exec(conn, "UPDATE targets SET last_success_at = NULL, last_error_at = NULL");

    store_rebuild_result res;
    ck_assert_msg(store_stats_rebuild(conn, 0, &res, err, sizeof err) == STORE_OK, "%s", err);
    ck_assert_int_eq(q(ROLLUP_DIFF("now() - interval '31 days'")), 0);
    ck_assert_int_eq(res.deliveries, 2000);
    ck_assert_int_eq(res.rollup_rows,
                     q("SELECT count(*) FROM delivery_stats_hourly WHERE n <> 42"));
    ck_assert_int_eq(res.targets, 5);
    ck_assert_int_eq(q("SELECT count(*) FROM targets t WHERE last_success_at IS DISTINCT FROM "
                       "(SELECT max(sent_at) FROM deliveries d WHERE d.target_id = t.id "
                       "AND state = 'sent')"),
                     0);
    /* Older than the oldest delivery: kept. */
    ck_assert_int_eq(q("SELECT n FROM delivery_stats_hourly WHERE n = 42"), 42);

    /* --since: only hours from there on are recomputed. */
    testlib_db_exec(conn, "UPDATE delivery_stats_hourly SET n = n + 1000");
    int64_t since = util_now_wall_ms() - 7LL * 86400000;
    ck_assert_msg(store_stats_rebuild(conn, since, &res, err, sizeof err) == STORE_OK, "%s", err);
    ck_assert_int_eq(res.from_ms % 3600000, 0);
    ck_assert_int_le(res.from_ms, since);
    ck_assert_int_eq(q(ROLLUP_DIFF("now() - interval '7 days'")), 0);
    ck_assert_int_eq(q("SELECT count(*) FROM delivery_stats_hourly "
                       "WHERE hour < now() - interval '8 days' AND n < 1000"),
                     0);
    ck_assert_int_eq(res.deliveries, q("SELECT count(*) FROM deliveries WHERE created_at >= "
                                       "date_trunc('hour', now() - interval '7 days')"));
}
END_TEST

START_TEST(rebuild_after_retention_keeps_pruned_counts)
{
    insert_history(600, 24 * 100, 24 * 120);
    insert_history(600, 0, 24 * 10);
    long sent_before = q("SELECT sum(n) FROM delivery_stats_hourly WHERE state = 'sent'");
    store_prune_opts o = {.retention_ms = 90LL * 86400000, .stats_retention_ms = 400LL * 86400000};
    store_prune_result pr;
    ck_assert_msg(store_prune(conn, &o, &pr, err, sizeof err) == STORE_OK, "%s", err);
    ck_assert_int_gt(pr.deliveries, 0);
    /* Old pending rows stay, older than the oldest terminal one; a default
     * rebuild starts after the history retention removed. */
    store_rebuild_result res;
    ck_assert_msg(store_stats_rebuild(conn, 0, &res, err, sizeof err) == STORE_OK, "%s", err);
    ck_assert_int_eq(q("SELECT sum(n) FROM delivery_stats_hourly WHERE state = 'sent'"),
                     sent_before);
    ck_assert_int_eq(q(ROLLUP_DIFF("now() - interval '89 days'")), 0);
}
END_TEST

/* ---------------------------------------------------------------- prune */

/* Rollup totals per state, as one number to compare. */
#define ROLLUP_SUMS                                                                                \
    "SELECT coalesce(sum(n * (CASE state WHEN 'sent' THEN 1 WHEN 'failed' THEN 1000 "              \
    "WHEN 'pending' THEN 1000000 ELSE 1000000000 END)), 0) + coalesce(sum(folded), 0) "            \
    "FROM delivery_stats_hourly"

START_TEST(prune_removes_only_what_it_should)
{
    insert_history(700, 24 * 91, 24 * 200); /* old: terminal ones go */
    insert_history(300, 0, 24 * 80);        /* recent: stay */
    /* An old event no delivery references; an old event referenced by an old
     * sent row and an old pending one (the pending row keeps it). */
    testlib_db_exec(
        conn,
        "INSERT INTO events (event_id, tenant_id, kind, payload, received_at) VALUES "
        "('00000000-0000-4000-8000-000000000001', 't', 'test', '{}', now() - '100 days'::interval),"
        "('00000000-0000-4000-8000-000000000002', 't', 'test', '{}', now() - '100 "
        "days'::interval)");
    testlib_db_exec(conn,
                    "INSERT INTO deliveries (event_id, target_id, tenant_id, state, created_at) "
                    "VALUES ('00000000-0000-4000-8000-000000000002', 1, 't', 'sent', "
                    "now() - '100 days'::interval), ('00000000-0000-4000-8000-000000000002', 2, "
                    "'t', 'pending', now() - '100 days'::interval)");
    /* Rollups older than the stats retention. */
    testlib_db_exec(conn,
                    "INSERT INTO delivery_stats_hourly VALUES "
                    "(1, date_trunc('hour', now() - interval '500 days'), 'sent', '', 3, 0),"
                    "(5, date_trunc('hour', now() - interval '450 days'), 'failed', 'x', 1, 0)");

    long old_terminal = q("SELECT count(*) FROM deliveries WHERE created_at < now() - "
                          "interval '90 days' AND state IN ('sent', 'failed')");
    long old_live = q("SELECT count(*) FROM deliveries WHERE created_at < now() - "
                      "interval '90 days' AND state NOT IN ('sent', 'failed')");
    long recent = q("SELECT count(*) FROM deliveries WHERE created_at >= now() - "
                    "interval '90 days'");
    long events = q("SELECT count(*) FROM events");
    long sums = q(ROLLUP_SUMS);
    ck_assert_int_gt(old_terminal, 0);
    ck_assert_int_gt(old_live, 0);

    /* Dry run: counts, deletes nothing, records nothing. */
    store_prune_opts o = {.retention_ms = 90LL * 86400000,
                          .stats_retention_ms = 400LL * 86400000,
                          .batch = 37,
                          .dry_run = true};
    store_prune_result dry, real;
    ck_assert_msg(store_prune(conn, &o, &dry, err, sizeof err) == STORE_OK, "%s", err);
    ck_assert_int_eq(dry.deliveries, old_terminal);
    ck_assert_int_eq(dry.stats_rows, 2);
    ck_assert_int_eq(q("SELECT count(*) FROM deliveries"), old_terminal + old_live + recent);
    ck_assert_int_eq(q("SELECT count(*) FROM events"), events);
    ck_assert_int_eq(q("SELECT count(*) FROM maintenance_runs"), 0);

    o.dry_run = false;
    ck_assert_msg(store_prune(conn, &o, &real, err, sizeof err) == STORE_OK, "%s", err);
    ck_assert_int_eq(real.deliveries, dry.deliveries);
    ck_assert_int_eq(real.events, dry.events);
    ck_assert_int_eq(real.stats_rows, dry.stats_rows);
    ck_assert_int_gt(real.batches, real.deliveries / 37);
    ck_assert(!real.stopped);

    /* Terminal old rows gone, every live one and every recent one kept. */
    ck_assert_int_eq(q("SELECT count(*) FROM deliveries WHERE created_at < now() - "
                       "interval '90 days' AND state IN ('sent', 'failed')"),
                     0);
    ck_assert_int_eq(q("SELECT count(*) FROM deliveries WHERE created_at < now() - "
                       "interval '90 days' AND state NOT IN ('sent', 'failed')"),
                     old_live);
    ck_assert_int_eq(q("SELECT count(*) FROM deliveries"), old_live + recent);
    /* Events: the unreferenced old one went, the pending row's stayed, and
     * every delivery still has its event. */
    ck_assert_int_eq(q("SELECT count(*) FROM events WHERE event_id = "
                       "'00000000-0000-4000-8000-000000000001'"),
                     0);
    ck_assert_int_eq(q("SELECT count(*) FROM events WHERE event_id = "
                       "'00000000-0000-4000-8000-000000000002'"),
                     1);
    ck_assert_int_eq(q("SELECT count(*) FROM deliveries d WHERE NOT EXISTS "
                       "(SELECT 1 FROM events e WHERE e.event_id = d.event_id)"),
                     0);
    ck_assert_int_eq(q("SELECT count(*) FROM events"), events - real.events);
    ck_assert_int_eq(q("SELECT count(*) FROM events e WHERE received_at < now() - interval "
                       "'90 days' AND NOT EXISTS (SELECT 1 FROM deliveries d "
                       "WHERE d.event_id = e.event_id)"),
                     0);
    /* Rollups: the counts of the removed deliveries stay; the two past the
     * stats retention went. */
    ck_assert_int_eq(q(ROLLUP_SUMS), sums - 3 - 1000);
    ck_assert_int_eq(q("SELECT count(*) FROM delivery_stats_hourly "
                       "WHERE hour < now() - interval '400 days'"),
                     0);
    ck_assert_int_eq(q(ROLLUP_DIFF("now() - interval '89 days'")), 0);

    /* Recorded. */
    ck_assert_int_eq(q("SELECT rows FROM maintenance_runs WHERE task = 'retention' AND "
                       "last_ok_at = last_run_at AND last_run_at > now() - interval '1 minute'"),
                     real.deliveries + real.events + real.stats_rows);
    store_maintenance_run m;
    ck_assert_int_eq(store_maintenance_get(conn, "retention", &m, err, sizeof err), STORE_OK);
    ck_assert(m.found);
    ck_assert_int_ge(m.ok_age_ms, 0);
    ck_assert_int_lt(m.ok_age_ms, 60000);

    /* Again: nothing left to do. */
    ck_assert_msg(store_prune(conn, &o, &real, err, sizeof err) == STORE_OK, "%s", err);
    ck_assert_int_eq(real.deliveries + real.events + real.stats_rows, 0);
}
END_TEST

START_TEST(prune_validates_retentions)
{
    store_prune_opts o = {.retention_ms = 90LL * 86400000, .stats_retention_ms = 30LL * 86400000};
    store_prune_result res;
    ck_assert_int_eq(store_prune(conn, &o, &res, err, sizeof err), STORE_INVALID);
    ck_assert_msg(strstr(err, "stats_retention") && strstr(err, "retention"), "%s", err);
    o.retention_ms = 0;
    ck_assert_int_eq(store_prune(conn, &o, &res, err, sizeof err), STORE_INVALID);
}
END_TEST

START_TEST(second_pruner_is_refused)
{
    insert_history(100, 24 * 100, 24 * 101);
    PGconn *other = testlib_db_connect(url);
    testlib_db_exec(other, "SELECT pg_advisory_lock(7522766424955663726)");
    store_prune_opts o = {.retention_ms = 90LL * 86400000, .stats_retention_ms = 400LL * 86400000};
    store_prune_result res;
    ck_assert_int_eq(store_prune(conn, &o, &res, err, sizeof err), STORE_CONFLICT);
    ck_assert_str_eq(err, "another prune is running");
    ck_assert_int_eq(q("SELECT count(*) FROM deliveries"), 100);

    /* The router's run says skipped, and counts it. */
    router_retention_config rc = {.retention_ms = o.retention_ms,
                                  .stats_retention_ms = o.stats_retention_ms};
    metrics_counter *runs = metrics_counter_new("herald_retention_runs_total", "", "outcome");
    double skipped = metrics_counter_value(runs, "skipped");
    ck_assert_int_eq(router_retention_run(conn, &rc, NULL, NULL, NULL), RETENTION_SKIPPED);
    ck_assert(metrics_counter_value(runs, "skipped") == skipped + 1);

    /* Released: ours runs. */
    testlib_db_exec(other, "SELECT pg_advisory_unlock(7522766424955663726)");
    PQfinish(other);
    ck_assert_msg(store_prune(conn, &o, &res, err, sizeof err) == STORE_OK, "%s", err);
    ck_assert_int_gt(res.deliveries, 0);
}
END_TEST

static bool stop_now(void *arg)
{
    (void)arg;
    return true;
}

START_TEST(prune_stops_between_batches)
{
    insert_history(500, 24 * 100, 24 * 101);
    store_prune_opts o = {.retention_ms = 90LL * 86400000,
                          .stats_retention_ms = 400LL * 86400000,
                          .batch = 10,
                          .should_stop = stop_now};
    store_prune_result res;
    ck_assert_msg(store_prune(conn, &o, &res, err, sizeof err) == STORE_OK, "%s", err);
    ck_assert(res.stopped);
    ck_assert_int_eq(res.deliveries, 0);
    /* Not a success: an alert on last_ok_at still sees retention behind. */
    ck_assert_int_eq(q("SELECT count(*) FROM maintenance_runs WHERE last_ok_at IS NULL"), 1);
}
END_TEST

/* ---------------------------------------------------------------- the router's thread */

START_TEST(router_run_function_exports_metrics)
{
    insert_history(300, 24 * 100, 24 * 150);
    long old = q("SELECT count(*) FROM deliveries WHERE state IN ('sent', 'failed')");
    router_retention_config rc = {.retention_ms = 90LL * 86400000,
                                  .stats_retention_ms = 400LL * 86400000};
    metrics_counter *deleted = metrics_counter_new("herald_retention_deleted_total", "", "table");
    double before = metrics_counter_value(deleted, "deliveries");
    store_prune_result res;
    ck_assert_int_eq(router_retention_run(conn, &rc, NULL, NULL, &res), RETENTION_OK);
    ck_assert_int_eq(res.deliveries, old);
    ck_assert(metrics_counter_value(deleted, "deliveries") == before + (double)old);
    char *text = metrics_render(metrics_default_registry(), NULL);
    ck_assert_ptr_nonnull(strstr(text, "herald_retention_runs_total{outcome=\"ok\"}"));
    ck_assert_ptr_nonnull(strstr(text, "herald_retention_last_success_timestamp_seconds"));
    free(text);
}
END_TEST

START_TEST(router_thread_prunes_on_schedule_and_stops_promptly)
{
    insert_history(200, 24 * 100, 24 * 150);
    router_retention_config rc = {.database_url = url,
                                  .retention_ms = 90LL * 86400000,
                                  .stats_retention_ms = 400LL * 86400000,
                                  .interval_ms = 300};
    router_retention *rt = router_retention_start(&rc);
    ck_assert_ptr_nonnull(rt);
    long left = -1;
    for (int i = 0; i < 100; i++) {
        left = q("SELECT count(*) FROM deliveries WHERE state IN ('sent', 'failed')");
        if (left == 0)
            break;
        usleep(100 * 1000);
    }
    ck_assert_int_eq(left, 0);
    /* It runs again each interval: old rows added meanwhile go too. */
    insert_history(50, 24 * 100, 24 * 101);
    for (int i = 0; i < 100; i++) {
        left = q("SELECT count(*) FROM deliveries WHERE state IN ('sent', 'failed')");
        if (left == 0)
            break;
        usleep(100 * 1000);
    }
    ck_assert_int_eq(left, 0);
    /* Stop wakes it from its sleep (a long interval would otherwise hold it). */
    router_retention_stop(rt);
    rc.interval_ms = 3600000;
    rt = router_retention_start(&rc);
    usleep(300 * 1000);
    int64_t t0 = util_now_mono_ms();
    router_retention_stop(rt);
    ck_assert_int_lt(util_now_mono_ms() - t0, 2000);
    /* Interval 0: no thread. */
    rc.interval_ms = 0;
    ck_assert_ptr_null(router_retention_start(&rc));
}
END_TEST

int main(void)
{
    testlib_db_create("retention", url, sizeof url);
    Suite *s = suite_create("retention");
    TCase *tc = tcase_create("retention");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    testlib_add_test(tc, rollups_follow_every_write, "RETENTION_TEST");
    testlib_add_test(tc, rollup_log_is_exact_before_and_after_folding, "RETENTION_TEST");
    testlib_add_test(tc, rebuild_restores_rollups, "RETENTION_TEST");
    testlib_add_test(tc, rebuild_after_retention_keeps_pruned_counts, "RETENTION_TEST");
    testlib_add_test(tc, prune_removes_only_what_it_should, "RETENTION_TEST");
    testlib_add_test(tc, prune_validates_retentions, "RETENTION_TEST");
    testlib_add_test(tc, second_pruner_is_refused, "RETENTION_TEST");
    testlib_add_test(tc, prune_stops_between_batches, "RETENTION_TEST");
    testlib_add_test(tc, router_run_function_exports_metrics, "RETENTION_TEST");
    testlib_add_test(tc, router_thread_prunes_on_schedule_and_stops_promptly, "RETENTION_TEST");
    suite_add_tcase(s, tc);
    return testlib_run_suite(s);
}
