/* Migrations: applied on a fresh database, and a second run changes nothing. */
#include "testlib.h"

#include "common/db.h"
#include "common/migrations.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

static char url[512];

START_TEST(migrate_twice_is_noop)
{
    PGconn *c = testlib_db_connect(url);
    char err[512];
    int applied = -1;
    /* testlib_db_create already migrated: nothing left to apply. */
    ck_assert_int_eq(db_migrate(c, &applied, err, sizeof err), 0);
    ck_assert_int_eq(applied, 0);
    ck_assert_int_ge(testlib_db_long(c, "SELECT count(*) FROM schema_migrations"), 1);
    /* The tables of the contract exist. */
    ck_assert_int_eq(testlib_db_long(c, "SELECT count(*) FROM information_schema.tables WHERE "
                                        "table_name IN ('workspaces','targets','target_checks',"
                                        "'events','deliveries','target_delivery_health')"),
                     6);
    PQfinish(c);
}
END_TEST

START_TEST(migrate_fresh_applies_all)
{
    PGconn *c = testlib_db_connect(url);
    char err[512];
    ck_assert_int_eq(
        db_exec(c, "DROP SCHEMA public CASCADE; CREATE SCHEMA public", err, sizeof err), 0);
    int applied = -1;
    ck_assert_int_eq(db_migrate(c, &applied, err, sizeof err), 0);
    ck_assert_int_ge(applied, 1);
    ck_assert_int_eq(testlib_db_long(c, "SELECT count(*) FROM deliveries"), 0);
    PQfinish(c);
}
END_TEST

/* The console's check list comes from check_types, kept by a statement-level
 * trigger on events: a multi-row insert naming one type twice must work. */
START_TEST(check_types_follow_events)
{
    PGconn *c = testlib_db_connect(url);
    char err[512];
    ck_assert_int_eq(
        db_exec(
            c,
            "INSERT INTO events (event_id, tenant_id, kind, check_type, payload, received_at) "
            "VALUES"
            " ('00000000-0000-4000-8000-000000000001','acme','check_result','weak_mfa',"
            "  '{\"check\":{\"name\":\"Weak MFA (old)\"}}', now() - interval '1 minute'),"
            " ('00000000-0000-4000-8000-000000000002','acme','check_result','weak_mfa',"
            "  '{\"check\":{\"name\":\"Weak MFA Configured\"}}', now()),"
            " ('00000000-0000-4000-8000-000000000003','globex','check_result','stale',"
            "  '{\"check\":{\"name\":\"Stale\"}}', now()),"
            " ('00000000-0000-4000-8000-000000000004','acme','collection_event',NULL,'{}', now())",
            err, sizeof err),
        0);
    ck_assert_int_eq(testlib_db_long(c, "SELECT count(*) FROM check_types"), 2);
    ck_assert_int_eq(testlib_db_long(c, "SELECT count(*) FROM check_types WHERE tenant_id='acme'"
                                        " AND check_type='weak_mfa'"
                                        " AND check_name='Weak MFA Configured'"),
                     1);
    /* A renamed check is picked up by the next insert. */
    ck_assert_int_eq(
        db_exec(c,
                "INSERT INTO events (event_id, tenant_id, kind, check_type, payload) VALUES"
                " ('00000000-0000-4000-8000-000000000005','globex','check_result','stale',"
                "  '{\"check\":{\"name\":\"Stale accounts\"}}')",
                err, sizeof err),
        0);
    ck_assert_int_eq(testlib_db_long(c, "SELECT count(*) FROM check_types WHERE tenant_id='globex'"
                                        " AND check_name='Stale accounts'"),
                     1);
    PQfinish(c);
}
END_TEST

/* 008 (token rotation): recorded, its columns exist, and its SQL runs again
 * cleanly (each statement is IF NOT EXISTS). */
START_TEST(token_rotation_migration_reruns)
{
    PGconn *c = testlib_db_connect(url);
    char err[512];
    ck_assert_int_eq(testlib_db_long(c, "SELECT count(*) FROM schema_migrations WHERE version = 8 "
                                        "AND name = '008_token_rotation.sql'"),
                     1);
    const herald_migration *m = NULL;
    for (size_t i = 0; i < herald_migrations_count; i++)
        if (herald_migrations[i].version == 8)
            m = &herald_migrations[i];
    ck_assert_ptr_nonnull(m);
    for (int i = 0; i < 2; i++)
        ck_assert_msg(db_exec(c, m->sql, err, sizeof err) == 0, "run %d: %s", i + 1, err);
    ck_assert_int_eq(testlib_db_long(c, "SELECT count(*) FROM information_schema.columns WHERE "
                                        "table_name = 'workspaces' AND ((column_name = "
                                        "'refresh_token_enc' AND data_type = 'bytea') OR "
                                        "(column_name = 'token_expires_at' AND data_type = "
                                        "'timestamp with time zone')) AND is_nullable = 'YES'"),
                     2);
    PQfinish(c);
}
END_TEST

/* Migration 009 on a populated database (issue 9): a million deliveries of
 * 1,000 targets over 30 days, written under schema 8, then 009 applied by
 * db_migrate. The rollups it fills count every row into its hour and state,
 * and the health view it rewrites (rollups plus the target row) answers what
 * the old view (a scan of deliveries) answered. No row is created in the hour
 * around the 24-hour edge, where the old view's exact window and the new one's
 * whole hours differ by design. */
START_TEST(day30_migration_on_a_million_rows)
{
    PGconn *c = testlib_db_connect(url);
    char err[512];
    ck_assert_int_eq(
        db_exec(c, "DROP SCHEMA public CASCADE; CREATE SCHEMA public", err, sizeof err), 0);
    ck_assert_int_eq(db_exec(c,
                             "CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
                             "name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
                             err, sizeof err),
                     0);
    for (size_t i = 0; i < herald_migrations_count && herald_migrations[i].version <= 8; i++) {
        const herald_migration *m = &herald_migrations[i];
        ck_assert_msg(db_exec(c, m->sql, err, sizeof err) == 0, "%s: %s", m->name, err);
        char sql[128];
        snprintf(sql, sizeof sql, "INSERT INTO schema_migrations VALUES (%d, '%s')", m->version,
                 m->name);
        ck_assert_msg(db_exec(c, sql, err, sizeof err) == 0, "%s", err);
    }
    const char *load =
        "INSERT INTO workspaces (team_id, team_name, token_enc) VALUES ('T0', 'W', '\\x00');"
        "INSERT INTO targets (tenant_id, team_id, name, destination, destination_kind, "
        "use_failed_check) SELECT 't' || (i % 200), 'T0', 'target ' || i, 'C' || i, 'channel', "
        "true FROM generate_series(1, 1000) i;"
        "INSERT INTO deliveries (event_id, target_id, tenant_id, state, last_error_code, "
        "last_error, created_at, updated_at, sent_at, digest_size) "
        "SELECT md5(n::text)::uuid, 1 + n % 1000, 't' || ((1 + n % 1000) % 200), "
        "  CASE WHEN r < 0.90 THEN 'sent' WHEN r < 0.96 THEN 'failed' WHEN r < 0.98 THEN "
        "  'retrying' WHEN r < 0.99 THEN 'pending' ELSE 'sending' END, "
        "  CASE WHEN r >= 0.90 AND r < 0.98 THEN (ARRAY['not_in_channel', 'channel_not_found'])"
        "  [1 + n % 2] END, CASE WHEN r >= 0.90 AND r < 0.98 THEN 'reason ' || n END, "
        "  at, at + interval '2 seconds', CASE WHEN r < 0.90 THEN at + interval '2 seconds' END, "
        "  CASE WHEN r < 0.05 THEN 3 END "
        "  FROM (SELECT n, random() AS r, CASE WHEN n % 3 = 0 "
        "          THEN now() - random() * interval '22 hours' "
        "          ELSE now() - interval '25 hours' - random() * interval '29 days' END AS at "
        "          FROM generate_series(1, 1000000) n) g;"
        /* what the sender keeps on the target row as it goes */
        "UPDATE targets t SET last_success_at = x.s FROM (SELECT target_id, max(sent_at) AS s "
        "  FROM deliveries WHERE state = 'sent' GROUP BY 1) x WHERE t.id = x.target_id;"
        "UPDATE targets t SET last_error_at = x.u, last_error_code = x.c, last_error = x.e "
        "  FROM (SELECT DISTINCT ON (target_id) target_id, updated_at AS u, last_error_code AS c,"
        "  last_error AS e FROM deliveries WHERE state = 'failed' ORDER BY target_id, "
        "  updated_at DESC) x WHERE t.id = x.target_id;"
        "CREATE TABLE before AS SELECT * FROM target_delivery_health;";
    ck_assert_msg(db_exec(c, load, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(testlib_db_long(c, "SELECT count(*) FROM deliveries"), 1000000);

    int applied = -1;
    ck_assert_msg(db_migrate(c, &applied, err, sizeof err) == 0, "%s", err);
    ck_assert_int_ge(applied, 1);

    /* The rollups hold every row, in its hour, state and error code. */
    ck_assert_int_eq(testlib_db_long(c, "SELECT sum(n) FROM delivery_stats_hourly"), 1000000);
    ck_assert_int_eq(testlib_db_long(c, "SELECT sum(n) FROM delivery_stats_hourly_all"), 1000000);
    ck_assert_int_eq(
        testlib_db_long(c, "SELECT count(*) FROM (SELECT target_id, date_trunc('hour', "
                           "created_at) AS hour, state, CASE WHEN state IN ('failed', 'retrying') "
                           "THEN last_error_code ELSE '' END AS error_code, count(*)::int AS n, "
                           "count(digest_size)::int AS folded FROM deliveries GROUP BY 1, 2, 3, 4 "
                           "EXCEPT SELECT target_id, hour, state, error_code, n, folded "
                           "FROM delivery_stats_hourly) x"),
        0);
    /* The new view answers what the old one did, for every target. */
    ck_assert_int_eq(testlib_db_long(c, "SELECT count(*) FROM before"), 1000);
    ck_assert_int_eq(
        testlib_db_long(c, "SELECT count(*) FROM before b FULL JOIN target_delivery_health h "
                           "USING (target_id) WHERE (b.pending_24h, b.sending_24h, "
                           "b.retrying_24h, b.sent_24h, b.failed_24h, b.last_success_at, "
                           "b.last_error_at, b.last_error_code, b.last_error) IS DISTINCT FROM "
                           "(h.pending_24h, h.sending_24h, h.retrying_24h, h.sent_24h, "
                           "h.failed_24h, h.last_success_at, h.last_error_at, h.last_error_code, "
                           "h.last_error)"),
        0);
    ck_assert_int_gt(testlib_db_long(c, "SELECT sum(sent_24h) FROM target_delivery_health"),
                     250000);
    ck_assert_int_eq(db_exec(c, "DROP TABLE before", err, sizeof err), 0);
    PQfinish(c);
}
END_TEST

int main(void)
{
    testlib_db_create("migrate", url, sizeof url);
    Suite *s = suite_create("migrate");
    TCase *tc = tcase_create("migrate");
    tcase_set_timeout(tc, 300); /* the million-row migration */
    tcase_add_test(tc, migrate_twice_is_noop);
    tcase_add_test(tc, check_types_follow_events);
    tcase_add_test(tc, token_rotation_migration_reruns);
    tcase_add_test(tc, day30_migration_on_a_million_rows);
    tcase_add_test(tc, migrate_fresh_applies_all);
    suite_add_tcase(s, tc);
    return testlib_run_suite(s);
}
