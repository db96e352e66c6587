/* Migrations: applied on a fresh database, and a second run changes nothing. */
#include "testlib.h"

#include "common/db.h"
#include "common/migrations.h"

#include <check.h>
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

int main(void)
{
    testlib_db_create("migrate", url, sizeof url);
    Suite *s = suite_create("migrate");
    TCase *tc = tcase_create("migrate");
    tcase_add_test(tc, migrate_twice_is_noop);
    tcase_add_test(tc, check_types_follow_events);
    tcase_add_test(tc, token_rotation_migration_reruns);
    tcase_add_test(tc, migrate_fresh_applies_all);
    suite_add_tcase(s, tc);
    return testlib_run_suite(s);
}
