/*
 * Remediation texts, who may act from Slack per tenant, and the retention of
 * the issue 10 history tables, against PostgreSQL through the data layer
 * (store/remediations.h, store/tenant_settings.h, store/stats.h). heraldctl
 * and herald-api over them are in test_heraldctl.c and test_api.c.
 */
#include "testlib.h"

#include "store/remediations.h"
#include "store/stats.h"
#include "store/tenant_settings.h"
#include "store/validation.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char url[512];
static PGconn *conn;
static char err[512];

static void setup(void)
{
    conn = testlib_db_connect(url);
    testlib_db_truncate(conn, "remediations, tenant_settings, slack_actions, silences, "
                              "check_types, maintenance_runs");
}

static void teardown(void)
{
    PQfinish(conn);
    conn = NULL;
}

static long q(const char *sql)
{
    return testlib_db_long(conn, sql);
}

/* The call failed as STORE_INVALID naming field. */
#define ASSERT_INVALID(call, field)                                                                \
    do {                                                                                           \
        err[0] = '\0';                                                                             \
        store_status st_ = (call);                                                                 \
        ck_assert_msg(st_ == STORE_INVALID, "expected invalid, got %d: %s", st_, err);             \
        ck_assert_msg(!strncmp(err, field ": ", strlen(field) + 2), "not about %s: %s", field,     \
                      err);                                                                        \
    } while (0)

static const store_remediation *find(const store_remediations *l, const char *type)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->items[i].check_type, type))
            return &l->items[i];
    return NULL;
}

/* ---------------------------------------------------------------- defaults */

START_TEST(defaults_per_check_type)
{
    char *weak = remediation_default("weak_mfa");
    ck_assert_ptr_nonnull(strstr(weak, "authenticator app or a security key"));
    char *sms = remediation_default("sms_mfa"); /* an alias of the same family */
    ck_assert_str_eq(sms, weak);
    char *admins = remediation_default("admins_without_mfa");
    ck_assert_ptr_nonnull(strstr(admins, "administrator"));
    char *stale = remediation_default("stale_accounts");
    char *inactive = remediation_default("inactive_users");
    ck_assert_str_eq(stale, inactive);
    free(inactive);
    ck_assert_ptr_nonnull(strstr(stale, "sign in once"));
    char *pw = remediation_default("password_never_expires");
    ck_assert_ptr_nonnull(strstr(pw, "never to expire"));
    ck_assert(remediation_has_default("no_mfa") && remediation_has_default("mfa_not_enrolled"));
    ck_assert(!remediation_has_default("custom_thing"));
    /* Anything else: the generic text, naming the check. */
    char *gen = remediation_default("custom_thing");
    ck_assert_ptr_nonnull(strstr(gen, "\"custom_thing\""));
    ck_assert_ptr_null(strchr(gen, '\n'));
    free(weak);
    free(sms);
    free(admins);
    free(stale);
    free(pw);
    free(gen);
}
END_TEST

/* ---------------------------------------------------------------- remediations */

START_TEST(remediation_round_trip_and_isolation)
{
    /* Seen by acme: weak_mfa and a check without a built-in text. */
    testlib_db_exec(conn, "INSERT INTO check_types (tenant_id, check_type, check_name) VALUES "
                          "('acme', 'weak_mfa', 'Weak MFA'), ('acme', 'odd_check', 'Odd'), "
                          "('globex', 'weak_mfa', 'Weak MFA')");
    char *text = NULL;
    bool is_default = false;
    ck_assert_int_eq(
        remediation_text_for(conn, "acme", "weak_mfa", &text, &is_default, err, sizeof err),
        STORE_OK);
    ck_assert(is_default);
    ck_assert_ptr_nonnull(strstr(text, "authenticator"));
    free(text);

    /* A text of acme's own, with a line break and characters Slack would
     * format: kept as typed. */
    const char *mine = "Enrol *Okta Verify* now:\nhttps://help.acme.example/mfa_setup";
    ck_assert_msg(store_remediation_set(conn, "acme", "weak_mfa", mine, "cli:alice", err,
                                        sizeof err) == STORE_OK,
                  "%s", err);
    ck_assert_int_eq(
        remediation_text_for(conn, "acme", "weak_mfa", &text, &is_default, err, sizeof err),
        STORE_OK);
    ck_assert(!is_default);
    ck_assert_str_eq(text, mine);
    free(text);
    /* Another tenant keeps the default. */
    ck_assert_int_eq(
        remediation_text_for(conn, "globex", "weak_mfa", &text, &is_default, err, sizeof err),
        STORE_OK);
    ck_assert(is_default);
    free(text);
    /* A text for a type acme has not sent yet is listed too. */
    ck_assert_int_eq(store_remediation_set(conn, "acme", "future_check", "Do the thing.", "api:ops",
                                           err, sizeof err),
                     STORE_OK);
    store_remediations l = {0};
    ck_assert_int_eq(store_remediation_list(conn, "acme", &l, err, sizeof err), STORE_OK);
    ck_assert_int_eq(l.n, 3);
    ck_assert_str_eq(l.items[0].check_type, "future_check"); /* by check type */
    const store_remediation *w = find(&l, "weak_mfa"), *o = find(&l, "odd_check"),
                            *f = find(&l, "future_check");
    ck_assert(w && o && f);
    ck_assert(!w->is_default && !f->is_default && o->is_default);
    ck_assert_str_eq(w->text, mine);
    ck_assert_str_eq(w->updated_by, "cli:alice");
    ck_assert_int_gt(w->updated_at_ms, 0);
    ck_assert_str_eq(w->check_name, "Weak MFA");
    ck_assert_str_eq(f->check_name, "");
    ck_assert_int_eq(f->last_seen_ms, 0);
    ck_assert_ptr_nonnull(strstr(o->text, "\"odd_check\""));
    ck_assert_ptr_null(o->updated_by);
    store_remediations_dispose(&l);
    ck_assert_int_eq(store_remediation_list(conn, "globex", &l, err, sizeof err), STORE_OK);
    ck_assert_int_eq(l.n, 1);
    ck_assert(l.items[0].is_default);
    store_remediations_dispose(&l);

    /* Set again: replaced; reset: the default again, once. */
    ck_assert_int_eq(
        store_remediation_set(conn, "acme", "weak_mfa", "Second.", "cli:bob", err, sizeof err),
        STORE_OK);
    ck_assert_int_eq(q("SELECT count(*) FROM remediations WHERE tenant_id = 'acme' AND "
                       "check_type = 'weak_mfa' AND text = 'Second.' AND updated_by = 'cli:bob'"),
                     1);
    bool removed = false;
    ck_assert_int_eq(store_remediation_reset(conn, "acme", "weak_mfa", &removed, err, sizeof err),
                     STORE_OK);
    ck_assert(removed);
    ck_assert_int_eq(store_remediation_reset(conn, "acme", "weak_mfa", &removed, err, sizeof err),
                     STORE_OK);
    ck_assert(!removed);
    ck_assert_int_eq(
        remediation_text_for(conn, "acme", "weak_mfa", &text, &is_default, err, sizeof err),
        STORE_OK);
    ck_assert(is_default);
    free(text);
}
END_TEST

START_TEST(remediation_validation)
{
    ASSERT_INVALID(store_remediation_set(conn, "acme", "weak_mfa", "", "x", err, sizeof err),
                   "text");
    ASSERT_INVALID(store_remediation_set(conn, "acme", "weak_mfa", " \n ", "x", err, sizeof err),
                   "text");
    ASSERT_INVALID(
        store_remediation_set(conn, "acme", "weak_mfa", "bad \x1b[31m", "x", err, sizeof err),
        "text");
    /* A right-to-left override would reorder what the reader sees. */
    ASSERT_INVALID(store_remediation_set(conn, "acme", "weak_mfa", "visit \xe2\x80\xae moc.live",
                                         "x", err, sizeof err),
                   "text");
    ASSERT_INVALID(
        store_remediation_set(conn, "acme", "weak_mfa", "bad \xff byte", "x", err, sizeof err),
        "text");
    /* 2000 characters is the limit, counted in characters, not bytes. */
    char *big = malloc(2 * 2001 + 1);
    for (int i = 0; i < 2000; i++)
        memcpy(big + 2 * i, "\xc3\xa9", 2); /* é */
    big[4000] = '\0';
    ck_assert_msg(store_remediation_set(conn, "acme", "weak_mfa", big, "x", err, sizeof err) ==
                      STORE_OK,
                  "%s", err);
    memcpy(big + 4000, "\xc3\xa9", 3);
    ASSERT_INVALID(store_remediation_set(conn, "acme", "weak_mfa", big, "x", err, sizeof err),
                   "text");
    ck_assert_ptr_nonnull(strstr(err, "2001 characters"));
    free(big);
    ASSERT_INVALID(store_remediation_set(conn, "acme", "weak mfa", "t", "x", err, sizeof err),
                   "check_type");
    ASSERT_INVALID(store_remediation_set(conn, "acme", "", "t", "x", err, sizeof err),
                   "check_type");
    ASSERT_INVALID(store_remediation_reset(conn, "acme", "a/b", NULL, err, sizeof err),
                   "check_type");
    ASSERT_INVALID(store_remediation_set(conn, "", "weak_mfa", "t", "x", err, sizeof err),
                   "tenant");
    ASSERT_INVALID(store_remediation_set(conn, "ac me", "weak_mfa", "t", "x", err, sizeof err),
                   "tenant");
    store_remediations l = {0};
    ASSERT_INVALID(store_remediation_list(conn, "a b", &l, err, sizeof err), "tenant");
    /* Only the one valid text was stored. */
    ck_assert_int_eq(q("SELECT count(*) FROM remediations"), 1);
}
END_TEST

/* ---------------------------------------------------------------- tenant settings */

START_TEST(action_settings_round_trip)
{
    store_action_settings s;
    ck_assert_int_eq(store_action_settings_get(conn, "acme", &s, err, sizeof err), STORE_OK);
    ck_assert(!s.stored);
    ck_assert_int_eq(s.who, STORE_ACTIONS_CHANNEL);
    ck_assert(store_action_user_listed(&s, "U0ANYONE"));
    store_action_settings_dispose(&s);

    char **users, **groups;
    size_t nu, ng;
    ck_assert_int_eq(
        store_action_ids_parse("users", " W0BBB , U0AAA,U0AAA", &users, &nu, err, sizeof err),
        STORE_OK);
    ck_assert_int_eq(nu, 2); /* sorted, without the duplicate */
    ck_assert_str_eq(users[0], "U0AAA");
    ck_assert_int_eq(store_action_ids_parse("groups", "S0SEC", &groups, &ng, err, sizeof err),
                     STORE_OK);
    ck_assert_msg(
        store_action_settings_set(conn, "acme", STORE_ACTIONS_LISTED, (const char *const *)users,
                                  nu, (const char *const *)groups, ng, err, sizeof err) == STORE_OK,
        "%s", err);
    store_strv_destroy(users, nu);
    store_strv_destroy(groups, ng);
    ck_assert_int_eq(store_action_settings_get(conn, "acme", &s, err, sizeof err), STORE_OK);
    ck_assert(s.stored);
    ck_assert_int_eq(s.who, STORE_ACTIONS_LISTED);
    ck_assert_int_eq(s.n_users, 2);
    ck_assert_str_eq(s.users[1], "W0BBB");
    ck_assert_int_eq(s.n_groups, 1);
    ck_assert_str_eq(s.groups[0], "S0SEC");
    ck_assert_int_gt(s.updated_at_ms, 0);
    ck_assert(store_action_user_listed(&s, "W0BBB"));
    ck_assert(!store_action_user_listed(&s, "U0OTHER")); /* maybe through S0SEC: the caller asks */
    store_action_settings_dispose(&s);
    /* Another tenant: untouched. */
    ck_assert_int_eq(store_action_settings_get(conn, "globex", &s, err, sizeof err), STORE_OK);
    ck_assert(!s.stored);
    store_action_settings_dispose(&s);
    /* none: nobody, lists cleared. */
    ck_assert_int_eq(store_action_settings_set(conn, "acme", STORE_ACTIONS_NONE, NULL, 0, NULL, 0,
                                               err, sizeof err),
                     STORE_OK);
    ck_assert_int_eq(store_action_settings_get(conn, "acme", &s, err, sizeof err), STORE_OK);
    ck_assert_int_eq(s.who, STORE_ACTIONS_NONE);
    ck_assert_int_eq(s.n_users + s.n_groups, 0);
    ck_assert(!store_action_user_listed(&s, "U0AAA"));
    store_action_settings_dispose(&s);
    ck_assert_int_eq(q("SELECT count(*) FROM tenant_settings"), 1);
}
END_TEST

START_TEST(action_settings_validation)
{
    store_action_who w;
    ASSERT_INVALID(store_action_who_parse("everyone", &w, err, sizeof err), "who");
    ck_assert_ptr_nonnull(strstr(err, "'everyone'"));
    char **v = NULL;
    size_t n = 0;
    ASSERT_INVALID(store_action_ids_parse("users", "U0AAA,u0bbb", &v, &n, err, sizeof err),
                   "users");
    ck_assert_ptr_nonnull(strstr(err, "'u0bbb'"));
    ASSERT_INVALID(store_action_ids_parse("users", "U1", &v, &n, err, sizeof err), "users");
    ASSERT_INVALID(store_action_ids_parse("users", "S0GROUP", &v, &n, err, sizeof err), "users");
    ASSERT_INVALID(store_action_ids_parse("users", "U0AAA,,U0BBB", &v, &n, err, sizeof err),
                   "users");
    ASSERT_INVALID(store_action_ids_parse("groups", "U0AAA", &v, &n, err, sizeof err), "groups");
    ck_assert_int_eq(store_action_ids_parse("groups", "", &v, &n, err, sizeof err), STORE_OK);
    ck_assert_int_eq(n, 0);
    const char *u[] = {"U0AAA"}, *bad[] = {"U0A-B"};
    ASSERT_INVALID(store_action_settings_set(conn, "acme", STORE_ACTIONS_LISTED, NULL, 0, NULL, 0,
                                             err, sizeof err),
                   "who");
    ck_assert_ptr_nonnull(strstr(err, "at least one"));
    ASSERT_INVALID(store_action_settings_set(conn, "acme", STORE_ACTIONS_CHANNEL, u, 1, NULL, 0,
                                             err, sizeof err),
                   "users");
    ASSERT_INVALID(store_action_settings_set(conn, "acme", STORE_ACTIONS_LISTED, bad, 1, NULL, 0,
                                             err, sizeof err),
                   "users");
    ASSERT_INVALID(
        store_action_settings_set(conn, "", STORE_ACTIONS_NONE, NULL, 0, NULL, 0, err, sizeof err),
        "tenant");
    store_action_settings s;
    ASSERT_INVALID(store_action_settings_get(conn, "no tenant", &s, err, sizeof err), "tenant");
    ck_assert_int_eq(q("SELECT count(*) FROM tenant_settings"), 0);
}
END_TEST

/* ---------------------------------------------------------------- retention */

START_TEST(retention_prunes_slack_actions_and_silences)
{
    /* Presses 100 and 95 days old go, 10 days old stay. */
    testlib_db_exec(conn, "INSERT INTO slack_actions (at, team_id, user_id, action, outcome) "
                          "SELECT now() - d * interval '1 day', 'T1', 'U1', 'ack', 'ok' "
                          "FROM unnest(ARRAY[100, 95, 10, 10, 1]) d");
    /* Silences: ended 100 days ago (goes); expired early 91 days ago (goes);
     * ended 5 days ago (stays); a mute from 200 days ago, never expired
     * (stays); a long one started 300 days ago ending next week (stays); a
     * mute expired yesterday (stays). */
    testlib_db_exec(
        conn,
        "INSERT INTO silences (tenant_id, check_type, starts_at, ends_at, expired_at, author, "
        "reason) VALUES "
        "('acme', 'gone_ended', now() - interval '101 days', now() - interval '100 days', NULL, "
        " 'cli:a', 'r'), "
        "('acme', 'gone_expired', now() - interval '120 days', now() + interval '1 day', "
        " now() - interval '91 days', 'cli:a', 'r'), "
        "('acme', 'kept_recent', now() - interval '6 days', now() - interval '5 days', NULL, "
        " 'cli:a', 'r'), "
        "('acme', 'kept_mute', now() - interval '200 days', NULL, NULL, 'cli:a', 'r'), "
        "('acme', 'kept_long', now() - interval '300 days', now() + interval '7 days', NULL, "
        " 'cli:a', 'r'), "
        "('acme', 'kept_unmuted', now() - interval '200 days', NULL, now() - interval '1 day', "
        " 'cli:a', 'r')");
    store_prune_opts o = {.retention_ms = 90LL * 86400000,
                          .stats_retention_ms = 400LL * 86400000,
                          .batch = 1, /* every row its own batch: the loop goes on */
                          .dry_run = true};
    store_prune_result res;
    ck_assert_msg(store_prune(conn, &o, &res, err, sizeof err) == STORE_OK, "%s", err);
    ck_assert_int_eq(res.slack_actions, 2);
    ck_assert_int_eq(res.silences, 2);
    ck_assert_int_eq(q("SELECT count(*) FROM slack_actions"), 5);
    ck_assert_int_eq(q("SELECT count(*) FROM silences"), 6);
    ck_assert_int_eq(q("SELECT count(*) FROM maintenance_runs"), 0);

    o.dry_run = false;
    ck_assert_msg(store_prune(conn, &o, &res, err, sizeof err) == STORE_OK, "%s", err);
    ck_assert_int_eq(res.slack_actions, 2);
    ck_assert_int_eq(res.silences, 2);
    ck_assert_int_eq(q("SELECT count(*) FROM slack_actions WHERE at < now() - interval '90 days'"),
                     0);
    ck_assert_int_eq(q("SELECT count(*) FROM slack_actions"), 3);
    ck_assert_int_eq(q("SELECT count(*) FROM silences WHERE check_type LIKE 'gone%'"), 0);
    ck_assert_int_eq(q("SELECT count(*) FROM silences WHERE check_type LIKE 'kept%'"), 4);
    ck_assert_int_eq(q("SELECT rows FROM maintenance_runs WHERE task = 'retention'"), 4);
    ck_assert_int_eq(q("SELECT count(*) FROM maintenance_runs WHERE detail LIKE "
                       "'%2 slack actions, 2 silences%'"),
                     1);
    /* Again: nothing more to do. */
    ck_assert_msg(store_prune(conn, &o, &res, err, sizeof err) == STORE_OK, "%s", err);
    ck_assert_int_eq(res.slack_actions + res.silences, 0);
}
END_TEST

int main(void)
{
    testlib_db_create("remediations", url, sizeof url);
    Suite *s = suite_create("remediations");
    TCase *tc = tcase_create("remediations");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, defaults_per_check_type);
    tcase_add_test(tc, remediation_round_trip_and_isolation);
    tcase_add_test(tc, remediation_validation);
    tcase_add_test(tc, action_settings_round_trip);
    tcase_add_test(tc, action_settings_validation);
    tcase_add_test(tc, retention_prunes_slack_actions_and_silences);
    suite_add_tcase(s, tc);
    return testlib_run_suite(s);
}
