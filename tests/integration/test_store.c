/* store: the admin data layer against a real PostgreSQL (fresh database per suite). */
#include "testlib.h"

#include "common/crypto.h"
#include "common/db.h"
#include "store/secrets.h"
#include "store/workspaces.h"
#include "store/targets.h"
#include "store/validation.h"
#include "store/deliveries.h"
#include "store/silences.h"
#include "common/util.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char url[512];
static PGconn *conn;
static crypto_keyring key[1];
static char err[512];

static const char *KEY_B64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
static const char *OTHER_KEY_B64 = "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

static void setup(void)
{
    conn = testlib_db_connect(url);
    /* Every test starts from empty tables. */
    testlib_db_truncate(conn, "deliveries, events, target_checks, targets, workspaces");
    testlib_keyring(key, KEY_B64, NULL);
}

static void teardown(void)
{
    PQfinish(conn);
    conn = NULL;
}

static void exec_ok(const char *sql)
{
    ck_assert_msg(db_exec(conn, sql, err, sizeof err) == 0, "%s: %s", sql, err);
}

static void add_workspace(const char *team, const char *name, const char *token)
{
    store_workspace_input in = {.team_id = team, .team_name = name, .token = token};
    bool replaced = true;
    ck_assert_msg(store_workspace_put(conn, key, &in, &replaced, err, sizeof err) == STORE_OK, "%s",
                  err);
}

static int64_t add_target(const char *tenant, const char *team, const char *name, const char *dest,
                          unsigned uses)
{
    store_target_input in = {.tenant = tenant,
                             .workspace = team,
                             .name = name,
                             .destination = dest,
                             .uses = uses,
                             .enabled = -1};
    int64_t id = 0;
    ck_assert_msg(store_target_create(conn, &in, &id, err, sizeof err) == STORE_OK, "%s", err);
    ck_assert_int_gt(id, 0);
    return id;
}

/* Asserts STORE_INVALID naming field, with the reason containing want. */
static void assert_invalid(store_status st, const char *field, const char *want)
{
    ck_assert_msg(st == STORE_INVALID, "expected invalid, got %s: %s", store_status_name(st), err);
    char f[64];
    const char *reason = store_invalid_field(err, f, sizeof f);
    ck_assert_msg(!strcmp(f, field), "field '%s' != '%s' in: %s", f, field, err);
    ck_assert_msg(strstr(reason, want) != NULL, "'%s' not in: %s", want, err);
}

/* ---------------------------------------------------------------- workspaces */

START_TEST(workspace_token_encrypted_at_rest)
{
    const char *token = "xoxb-111-222-PLAINTEXTSECRET";
    store_workspace_input in = {.team_id = "T0001",
                                .team_name = "Acme",
                                .bot_user_id = "U0BOT",
                                .scopes = "chat:write,users:read.email",
                                .token = token};
    bool replaced = true;
    ck_assert_int_eq(store_workspace_put(conn, key, &in, &replaced, err, sizeof err), STORE_OK);
    ck_assert(!replaced);

    /* The bytea is 0x02 || key id || nonce || ciphertext || tag, without the token. */
    ck_assert_int_eq(testlib_db_long(conn, "SELECT length(token_enc) FROM workspaces"),
                     1 + 4 + 12 + (long)strlen(token) + 16);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT position('PLAINTEXTSECRET'::bytea IN token_enc) "
                                           "FROM workspaces"),
                     0);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM workspaces WHERE "
                                           "encode(token_enc, 'escape') LIKE '%xoxb%'"),
                     0);

    char *plain = NULL;
    bool revoked = true;
    ck_assert_int_eq(store_workspace_token(conn, key, "T0001", &plain, &revoked, err, sizeof err),
                     STORE_OK);
    ck_assert_str_eq(plain, token);
    ck_assert(!revoked);
    crypto_wipe(plain, strlen(plain));
    free(plain);

    store_workspace *w = NULL;
    ck_assert_int_eq(store_workspace_get(conn, "T0001", &w, err, sizeof err), STORE_OK);
    ck_assert_str_eq(w->team_name, "Acme");
    ck_assert_str_eq(w->bot_user_id, "U0BOT");
    ck_assert_str_eq(w->scopes, "chat:write,users:read.email");
    ck_assert(!w->revoked);
    ck_assert_ptr_null(w->revoked_reason);
    ck_assert_int_gt(w->installed_at_ms, 1700000000000LL);
    ck_assert_int_eq(w->target_count, 0);
    store_workspace_destroy(w);
}
END_TEST

START_TEST(workspace_wrong_key)
{
    add_workspace("T0001", "Acme", "xoxb-secret-1");
    crypto_keyring other[1];
    testlib_keyring(other, OTHER_KEY_B64, NULL);
    char *plain = (char *)1;
    ck_assert_int_eq(store_workspace_token(conn, other, "T0001", &plain, NULL, err, sizeof err),
                     STORE_CRYPTO);
    ck_assert_ptr_null(plain);
    ck_assert_ptr_nonnull(strstr(err, "HERALD_SECRET_KEY"));
    ck_assert_ptr_null(strstr(err, "secret-1"));
    ck_assert_int_eq(store_workspace_token(conn, key, "T0404", &plain, NULL, err, sizeof err),
                     STORE_NOT_FOUND);
    ck_assert_ptr_nonnull(strstr(err, "'T0404'"));
}
END_TEST

START_TEST(workspace_reinstall_clears_revoked)
{
    add_workspace("T0001", "Acme", "xoxb-old");
    ck_assert_int_eq(store_workspace_mark_revoked(conn, "T0001", "token_revoked"), STORE_OK);
    store_workspace *w = NULL;
    ck_assert_int_eq(store_workspace_get(conn, "T0001", &w, err, sizeof err), STORE_OK);
    ck_assert(w->revoked);
    ck_assert_str_eq(w->revoked_reason, "token_revoked");
    ck_assert_int_gt(w->revoked_at_ms, 0);
    store_workspace_destroy(w);

    char *plain = NULL;
    bool revoked = false;
    ck_assert_int_eq(store_workspace_token(conn, key, "T0001", &plain, &revoked, err, sizeof err),
                     STORE_OK);
    ck_assert(revoked); /* still returned; the caller decides */
    free(plain);

    /* A revoked workspace takes no new targets. */
    store_target_input in = {.tenant = "acme",
                             .workspace = "T0001",
                             .name = "alerts",
                             .destination = "C0123",
                             .uses = STORE_USE_FAILED_CHECK,
                             .enabled = -1};
    int64_t id;
    assert_invalid(store_target_create(conn, &in, &id, err, sizeof err), "workspace",
                   "is revoked (token_revoked)");

    /* Reinstall: new name and token, revoked cleared; bot user kept when not given. */
    exec_ok("UPDATE workspaces SET bot_user_id = 'U0BOT'");
    store_workspace_input re = {.team_id = "T0001", .team_name = "Acme Corp", .token = "xoxb-new"};
    bool replaced = false;
    ck_assert_int_eq(store_workspace_put(conn, key, &re, &replaced, err, sizeof err), STORE_OK);
    ck_assert(replaced);
    ck_assert_int_eq(store_workspace_get(conn, "T0001", &w, err, sizeof err), STORE_OK);
    ck_assert(!w->revoked);
    ck_assert_ptr_null(w->revoked_reason);
    ck_assert_int_eq(w->revoked_at_ms, 0);
    ck_assert_str_eq(w->team_name, "Acme Corp");
    ck_assert_str_eq(w->bot_user_id, "U0BOT");
    store_workspace_destroy(w);
    ck_assert_int_eq(store_workspace_token(conn, key, "T0001", &plain, &revoked, err, sizeof err),
                     STORE_OK);
    ck_assert_str_eq(plain, "xoxb-new");
    ck_assert(!revoked);
    free(plain);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM workspaces"), 1);
    ck_assert_int_eq(store_target_create(conn, &in, &id, err, sizeof err), STORE_OK);
}
END_TEST

START_TEST(workspace_validation)
{
    store_workspace_input in = {.team_id = "T 1", .team_name = "x", .token = "xoxb-1"};
    assert_invalid(store_workspace_put(conn, key, &in, NULL, err, sizeof err), "team_id",
                   "'T 1' is not a Slack team id");
    in.team_id = "";
    assert_invalid(store_workspace_put(conn, key, &in, NULL, err, sizeof err), "team_id",
                   "must not be empty");
    in.team_id = "T1";
    in.team_name = " ";
    assert_invalid(store_workspace_put(conn, key, &in, NULL, err, sizeof err), "team_name",
                   "must not be empty");
    in.team_name = "Acme";
    in.token = "";
    assert_invalid(store_workspace_put(conn, key, &in, NULL, err, sizeof err), "token",
                   "must not be empty");
    in.token = "xoxb-SECRET with-space";
    assert_invalid(store_workspace_put(conn, key, &in, NULL, err, sizeof err), "token",
                   "value not shown");
    ck_assert_ptr_null(strstr(err, "SECRET"));
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM workspaces"), 0);
}
END_TEST

START_TEST(workspace_list_and_counts)
{
    add_workspace("T0002", "Beta", "xoxb-b");
    add_workspace("T0001", "Acme", "xoxb-a");
    add_target("acme", "T0001", "one", "C0001", STORE_USE_FAILED_CHECK);
    int64_t two = add_target("acme", "T0001", "two", "C0002", STORE_USE_FAILED_CHECK);
    ck_assert_int_eq(store_target_remove(conn, NULL, two, err, sizeof err), STORE_OK);
    store_workspaces l = {0};
    ck_assert_int_eq(store_workspace_list(conn, &l, err, sizeof err), STORE_OK);
    ck_assert_uint_eq(l.n, 2);
    ck_assert_str_eq(l.items[0].team_id, "T0001");
    ck_assert_int_eq(l.items[0].target_count, 1); /* the removed one does not count */
    ck_assert_str_eq(l.items[1].team_id, "T0002");
    ck_assert_int_eq(l.items[1].target_count, 0);
    store_workspaces_dispose(&l);
    ck_assert_ptr_null(l.items);
}
END_TEST

START_TEST(workspace_remove)
{
    add_workspace("T0001", "Acme", "xoxb-a");
    add_workspace("T0002", "Unused", "xoxb-u");
    int64_t a = add_target("acme", "T0001", "alerts", "C0001", STORE_USE_FAILED_CHECK);
    int64_t b = add_target("beta", "T0001", "sec", "#sec", STORE_USE_DATA_COLLECTION);

    /* In use: refused, naming the targets. */
    long removed = -1;
    ck_assert_int_eq(store_workspace_remove(conn, "T0001", false, &removed, err, sizeof err),
                     STORE_CONFLICT);
    ck_assert_ptr_nonnull(strstr(err, "used by 2 targets"));
    char want[64];
    snprintf(want, sizeof want, "%lld 'alerts'", (long long)a);
    ck_assert_msg(strstr(err, want) != NULL, "%s", err);
    snprintf(want, sizeof want, "%lld 'sec'", (long long)b);
    ck_assert_msg(strstr(err, want) != NULL, "%s", err);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM targets WHERE deleted_at IS NULL"),
                     2);

    /* Forced: targets removed, workspace kept as a tombstone, token destroyed. */
    ck_assert_int_eq(store_workspace_remove(conn, "T0001", true, &removed, err, sizeof err),
                     STORE_OK);
    ck_assert_int_eq(removed, 2);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM targets WHERE deleted_at IS NULL"),
                     0);
    ck_assert_int_eq(
        testlib_db_long(conn, "SELECT length(token_enc) FROM workspaces WHERE team_id = 'T0001'"),
        0);
    store_workspace *w = NULL;
    ck_assert_int_eq(store_workspace_get(conn, "T0001", &w, err, sizeof err), STORE_NOT_FOUND);
    char *plain = NULL;
    ck_assert_int_eq(store_workspace_token(conn, key, "T0001", &plain, NULL, err, sizeof err),
                     STORE_NOT_FOUND);
    store_workspaces l = {0};
    ck_assert_int_eq(store_workspace_list(conn, &l, err, sizeof err), STORE_OK);
    ck_assert_uint_eq(l.n, 1);
    store_workspaces_dispose(&l);

    /* Unused: deleted outright. */
    ck_assert_int_eq(store_workspace_remove(conn, "T0002", false, NULL, err, sizeof err), STORE_OK);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM workspaces WHERE team_id='T0002'"),
                     0);
    ck_assert_int_eq(store_workspace_remove(conn, "T0002", false, NULL, err, sizeof err),
                     STORE_NOT_FOUND);

    /* Adding it again revives the tombstone. */
    bool replaced = true;
    store_workspace_input in = {.team_id = "T0001", .team_name = "Acme", .token = "xoxb-again"};
    ck_assert_int_eq(store_workspace_put(conn, key, &in, &replaced, err, sizeof err), STORE_OK);
    ck_assert(!replaced);
    ck_assert_int_eq(store_workspace_get(conn, "T0001", &w, err, sizeof err), STORE_OK);
    ck_assert(!w->revoked);
    ck_assert_int_eq(w->target_count, 0);
    store_workspace_destroy(w);
    ck_assert_int_eq(store_workspace_token(conn, key, "T0001", &plain, NULL, err, sizeof err),
                     STORE_OK);
    ck_assert_str_eq(plain, "xoxb-again");
    free(plain);
}
END_TEST

/* ---------------------------------------------------------------- targets */

START_TEST(target_create_get_list)
{
    add_workspace("T0001", "Acme", "xoxb-a");
    const char *checks[] = {"weak_mfa", "stale_admins", "weak_mfa"};
    store_target_input in = {.tenant = "acme",
                             .workspace = "T0001",
                             .name = "Security alerts",
                             .description = "the SOC channel",
                             .destination = "C0123ABC",
                             .uses = STORE_USE_FAILED_CHECK | STORE_USE_DATA_COLLECTION,
                             .checks = checks,
                             .n_checks = 3,
                             .enabled = -1};
    int64_t id = 0;
    ck_assert_int_eq(store_target_create(conn, &in, &id, err, sizeof err), STORE_OK);
    int64_t by_name = add_target("acme", "T0001", "ops", "#ops-alerts", STORE_USE_DATA_COLLECTION);
    int64_t by_mail =
        add_target("other", "T0001", "ann", "ann@example.com", STORE_USE_FAILED_CHECK);

    store_target *t = NULL;
    ck_assert_int_eq(store_target_get(conn, NULL, id, &t, err, sizeof err), STORE_OK);
    ck_assert_int_eq(t->id, id);
    ck_assert_str_eq(t->tenant_id, "acme");
    ck_assert_str_eq(t->team_id, "T0001");
    ck_assert_str_eq(t->team_name, "Acme");
    ck_assert_str_eq(t->name, "Security alerts");
    ck_assert_str_eq(t->description, "the SOC channel");
    ck_assert_str_eq(t->destination, "C0123ABC");
    ck_assert_int_eq(t->destination_kind, STORE_DEST_CHANNEL_ID);
    ck_assert_str_eq(t->destination_resolved, "C0123ABC");
    ck_assert_uint_eq(t->uses, STORE_USE_FAILED_CHECK | STORE_USE_DATA_COLLECTION);
    ck_assert(t->enabled);
    ck_assert_uint_eq(t->n_checks, 2); /* sorted, de-duplicated */
    ck_assert_str_eq(t->checks[0], "stale_admins");
    ck_assert_str_eq(t->checks[1], "weak_mfa");
    ck_assert_int_eq(t->health.sent_24h, 0);
    ck_assert_int_eq(t->health.last_success_at_ms, 0);
    ck_assert_ptr_null(t->health.last_error_code);
    store_target_destroy(t);

    ck_assert_int_eq(store_target_get(conn, NULL, by_name, &t, err, sizeof err), STORE_OK);
    ck_assert_int_eq(t->destination_kind, STORE_DEST_CHANNEL_NAME);
    ck_assert_ptr_null(t->destination_resolved);
    ck_assert_uint_eq(t->n_checks, 0);
    store_target_destroy(t);
    ck_assert_int_eq(store_target_get(conn, NULL, by_mail, &t, err, sizeof err), STORE_OK);
    ck_assert_int_eq(t->destination_kind, STORE_DEST_EMAIL);
    store_target_destroy(t);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM targets WHERE "
                                           "destination_kind = 'email'"),
                     1);

    /* Tenant scoping. */
    ck_assert_int_eq(store_target_get(conn, "other", id, &t, err, sizeof err), STORE_NOT_FOUND);
    ck_assert_int_eq(store_target_get(conn, NULL, 9999, &t, err, sizeof err), STORE_NOT_FOUND);
    ck_assert_str_eq(err, "no target 9999");

    store_targets l = {0};
    ck_assert_int_eq(store_target_list(conn, "acme", &l, err, sizeof err), STORE_OK);
    ck_assert_uint_eq(l.n, 2);
    ck_assert_int_eq(l.items[0].id, id);
    ck_assert_int_eq(l.items[1].id, by_name);
    store_targets_dispose(&l);
    ck_assert_int_eq(store_target_list(conn, NULL, &l, err, sizeof err), STORE_OK);
    ck_assert_uint_eq(l.n, 3);
    store_targets_dispose(&l);
    ck_assert_int_eq(store_target_list(conn, "nobody", &l, err, sizeof err), STORE_OK);
    ck_assert_uint_eq(l.n, 0);
    store_targets_dispose(&l);
}
END_TEST

START_TEST(target_validation)
{
    add_workspace("T0001", "Acme", "xoxb-a");
    add_target("acme", "T0001", "alerts", "C0001", STORE_USE_FAILED_CHECK);
    int64_t id = 0;
    store_target_input base = {.tenant = "acme",
                               .workspace = "T0001",
                               .name = "new",
                               .destination = "C0002",
                               .uses = STORE_USE_FAILED_CHECK,
                               .enabled = -1};
    store_target_input in = base;

    in.tenant = "";
    assert_invalid(store_target_create(conn, &in, &id, err, sizeof err), "tenant",
                   "must not be empty");
    in.tenant = "acme corp"; /* no event can carry it: the target would never be notified */
    assert_invalid(store_target_create(conn, &in, &id, err, sizeof err), "tenant",
                   "'acme corp' is not a tenant id events can carry");
    in = base;
    in.workspace = "T0404";
    assert_invalid(store_target_create(conn, &in, &id, err, sizeof err), "workspace",
                   "no workspace 'T0404' is installed");
    in = base;
    in.name = "";
    assert_invalid(store_target_create(conn, &in, &id, err, sizeof err), "name",
                   "must not be empty");
    in = base;
    in.name = "alerts";
    assert_invalid(store_target_create(conn, &in, &id, err, sizeof err), "name",
                   "'alerts' is already used by target 1 of tenant 'acme'");
    in.tenant = "beta"; /* the same name in another tenant is fine */
    ck_assert_int_eq(store_target_create(conn, &in, &id, err, sizeof err), STORE_OK);
    in = base;
    in.destination = "foo bar";
    assert_invalid(store_target_create(conn, &in, &id, err, sizeof err), "destination",
                   "'foo bar' is not a channel id, #channel or email address");
    /* Near misses say what to fix (regression: the same bare line for all). */
    in.destination = "#Sec-Alerts";
    assert_invalid(store_target_create(conn, &in, &id, err, sizeof err), "destination",
                   "'#Sec-Alerts' is not a channel id, #channel or email address: Slack "
                   "channel names are lower case ('#sec-alerts')");
    in.destination = " C0123ABC";
    assert_invalid(store_target_create(conn, &in, &id, err, sizeof err), "destination",
                   "remove the spaces around it");
    in.destination = "#sec alerts";
    assert_invalid(store_target_create(conn, &in, &id, err, sizeof err), "destination",
                   "a channel name has lower-case letters, digits, - and _");
    in.destination = "U0123ABC";
    assert_invalid(store_target_create(conn, &in, &id, err, sizeof err), "destination",
                   "give the member's email address");
    in = base;
    in.uses = 0;
    assert_invalid(store_target_create(conn, &in, &id, err, sizeof err), "uses",
                   "failed_check, data_collection or both");
    in = base;
    const char *checks[] = {"weak_mfa"};
    in.uses = STORE_USE_DATA_COLLECTION;
    in.checks = checks;
    in.n_checks = 1;
    assert_invalid(store_target_create(conn, &in, &id, err, sizeof err), "checks",
                   "needs the failed_check use (uses is data_collection)");
    const char *bad_checks[] = {"weak mfa"};
    in.uses = STORE_USE_FAILED_CHECK;
    in.checks = bad_checks;
    assert_invalid(store_target_create(conn, &in, &id, err, sizeof err), "checks",
                   "'weak mfa' is not a check type");
    in = base;
    in.name = "line\nbreak";
    assert_invalid(store_target_create(conn, &in, &id, err, sizeof err), "name",
                   "'line?break' contains control characters");
    /* Nothing was created by the failures. */
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM targets"), 2);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM target_checks"), 0);
}
END_TEST

START_TEST(target_update)
{
    add_workspace("T0001", "Acme", "xoxb-a");
    int64_t id = add_target("acme", "T0001", "alerts", "C0001", STORE_USE_FAILED_CHECK);
    add_target("acme", "T0001", "taken", "C0002", STORE_USE_FAILED_CHECK);
    exec_ok("UPDATE targets SET last_error_code = 'channel_not_found', last_error = 'x', "
            "last_error_at = now() WHERE id = 1");

    /* Only the description: everything else stays. */
    store_target_input in = {.description = "new words", .enabled = -1};
    ck_assert_int_eq(store_target_update(conn, NULL, id, &in, err, sizeof err), STORE_OK);
    store_target *t = NULL;
    ck_assert_int_eq(store_target_get(conn, NULL, id, &t, err, sizeof err), STORE_OK);
    ck_assert_str_eq(t->description, "new words");
    ck_assert_str_eq(t->name, "alerts");
    ck_assert_str_eq(t->destination, "C0001");
    ck_assert(t->enabled);
    store_target_destroy(t);

    /* Name, destination (forgets resolution and last error), uses, checks, enabled. */
    const char *checks[] = {"weak_mfa"};
    store_target_input all = {.name = "renamed",
                              .destination = "bob@example.com",
                              .uses = STORE_USE_FAILED_CHECK | STORE_USE_DATA_COLLECTION,
                              .set_checks = true,
                              .checks = checks,
                              .n_checks = 1,
                              .enabled = 0};
    ck_assert_int_eq(store_target_update(conn, NULL, id, &all, err, sizeof err), STORE_OK);
    ck_assert_int_eq(store_target_get(conn, NULL, id, &t, err, sizeof err), STORE_OK);
    ck_assert_str_eq(t->name, "renamed");
    ck_assert_str_eq(t->destination, "bob@example.com");
    ck_assert_int_eq(t->destination_kind, STORE_DEST_EMAIL);
    ck_assert_ptr_null(t->destination_resolved);
    ck_assert_uint_eq(t->uses, STORE_USE_FAILED_CHECK | STORE_USE_DATA_COLLECTION);
    ck_assert_uint_eq(t->n_checks, 1);
    ck_assert_str_eq(t->checks[0], "weak_mfa");
    ck_assert(!t->enabled);
    store_target_destroy(t);
    ck_assert_int_eq(
        testlib_db_long(conn, "SELECT count(*) FROM targets WHERE id = 1 AND last_error IS NULL"),
        1);

    /* Dropping failed_check while a filter exists is refused... */
    store_target_input dc = {.uses = STORE_USE_DATA_COLLECTION, .enabled = -1};
    assert_invalid(store_target_update(conn, NULL, id, &dc, err, sizeof err), "checks",
                   "limited to 1 check type");
    /* ...and allowed together with clearing it. */
    dc.set_checks = true;
    ck_assert_int_eq(store_target_update(conn, NULL, id, &dc, err, sizeof err), STORE_OK);
    ck_assert_int_eq(store_target_get(conn, NULL, id, &t, err, sizeof err), STORE_OK);
    ck_assert_uint_eq(t->uses, STORE_USE_DATA_COLLECTION);
    ck_assert_uint_eq(t->n_checks, 0);
    store_target_destroy(t);
    /* A filter on a data_collection-only target is refused. */
    store_target_input ck = {.set_checks = true, .checks = checks, .n_checks = 1, .enabled = -1};
    assert_invalid(store_target_update(conn, NULL, id, &ck, err, sizeof err), "checks",
                   "needs the failed_check use");

    /* Validation as on create. */
    store_target_input bad = {.name = "taken", .enabled = -1};
    assert_invalid(store_target_update(conn, NULL, id, &bad, err, sizeof err), "name",
                   "'taken' is already used");
    store_target_input same = {.name = "renamed", .enabled = 1};
    ck_assert_int_eq(store_target_update(conn, NULL, id, &same, err, sizeof err), STORE_OK);
    store_target_input dest = {.destination = "#Bad Name", .enabled = -1};
    assert_invalid(store_target_update(conn, NULL, id, &dest, err, sizeof err), "destination",
                   "'#Bad Name' is not a channel id");
    store_target_input en = {.enabled = 1};
    ck_assert_int_eq(store_target_update(conn, "beta", id, &en, err, sizeof err), STORE_NOT_FOUND);
    ck_assert_int_eq(store_target_update(conn, NULL, 424242, &en, err, sizeof err),
                     STORE_NOT_FOUND);
    ck_assert_int_eq(store_target_get(conn, NULL, id, &t, err, sizeof err), STORE_OK);
    ck_assert(t->enabled);
    store_target_destroy(t);
}
END_TEST

START_TEST(target_sender_settings)
{
    add_workspace("T0001", "Acme", "xoxb-a");
    /* Defaults (migration 003): digests on, thread repeats off. */
    int64_t a = add_target("acme", "T0001", "a", "C0001", STORE_USE_FAILED_CHECK);
    store_target_input in = {.tenant = "acme",
                             .workspace = "T0001",
                             .name = "b",
                             .destination = "C0002",
                             .uses = STORE_USE_FAILED_CHECK,
                             .enabled = -1,
                             .digest = STORE_OFF,
                             .thread_repeats = STORE_ON};
    int64_t b = 0;
    ck_assert_int_eq(store_target_create(conn, &in, &b, err, sizeof err), STORE_OK);
    store_target *t = NULL;
    ck_assert_int_eq(store_target_get(conn, NULL, a, &t, err, sizeof err), STORE_OK);
    ck_assert(t->digest_enabled);
    ck_assert(!t->thread_repeats);
    store_target_destroy(t);
    ck_assert_int_eq(store_target_get(conn, NULL, b, &t, err, sizeof err), STORE_OK);
    ck_assert(!t->digest_enabled);
    ck_assert(t->thread_repeats);
    store_target_destroy(t);

    /* A zero-initialised update leaves them alone; a toggle flips only itself. */
    store_target_input keep = {.description = "x", .enabled = -1};
    ck_assert_int_eq(store_target_update(conn, NULL, b, &keep, err, sizeof err), STORE_OK);
    store_target_input flip = {.digest = STORE_ON, .enabled = -1};
    ck_assert_int_eq(store_target_update(conn, NULL, b, &flip, err, sizeof err), STORE_OK);
    ck_assert_int_eq(store_target_get(conn, NULL, b, &t, err, sizeof err), STORE_OK);
    ck_assert(t->digest_enabled);
    ck_assert(t->thread_repeats);
    store_target_destroy(t);
    store_target_input off = {.thread_repeats = STORE_OFF, .enabled = -1};
    ck_assert_int_eq(store_target_update(conn, NULL, b, &off, err, sizeof err), STORE_OK);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM targets WHERE name = 'b' AND "
                                           "digest_enabled AND NOT thread_repeats"),
                     1);
}
END_TEST

/* ---------------------------------------------------------------- what a target wants to hear */

START_TEST(target_quiet_settings)
{
    add_workspace("T0001", "Acme", "xoxb-a");
    /* Defaults (migration 010): every severity, every run, resolved on, no nudges. */
    int64_t a = add_target("acme", "T0001", "a", "C0001", STORE_USE_FAILED_CHECK);
    store_target *t = NULL;
    ck_assert_int_eq(store_target_get(conn, NULL, a, &t, err, sizeof err), STORE_OK);
    ck_assert_str_eq(t->min_severity, "low");
    ck_assert_str_eq(t->repeat_policy, "every");
    ck_assert_int_eq(t->repeat_interval_s, 0);
    ck_assert(t->notify_resolved);
    ck_assert(!t->nudge_enabled);
    store_target_destroy(t);

    /* An interval alone implies the policy interval. */
    store_target_input in = {.tenant = "acme",
                             .workspace = "T0001",
                             .name = "b",
                             .destination = "C0002",
                             .uses = STORE_USE_FAILED_CHECK,
                             .enabled = -1,
                             .min_severity = "high",
                             .repeat_interval_s = 4 * 3600,
                             .notify_resolved = STORE_OFF,
                             .nudge = STORE_ON};
    int64_t b = 0;
    ck_assert_int_eq(store_target_create(conn, &in, &b, err, sizeof err), STORE_OK);
    ck_assert_int_eq(store_target_get(conn, NULL, b, &t, err, sizeof err), STORE_OK);
    ck_assert_str_eq(t->min_severity, "high");
    ck_assert_str_eq(t->repeat_policy, "interval");
    ck_assert_int_eq(t->repeat_interval_s, 14400);
    ck_assert(!t->notify_resolved);
    ck_assert(t->nudge_enabled);
    store_target_destroy(t);

    /* Bad values name their field and the value. */
    int64_t c = 0;
    in.name = "c";
    in.min_severity = "urgent";
    assert_invalid(store_target_create(conn, &in, &c, err, sizeof err), "min_severity",
                   "'urgent': expected low, medium, high or critical");
    in.min_severity = NULL;
    in.repeat_interval_s = 30;
    assert_invalid(store_target_create(conn, &in, &c, err, sizeof err), "repeat_interval_seconds",
                   "at least 60 (1m)");
    in.repeat_interval_s = 31 * 86400;
    assert_invalid(store_target_create(conn, &in, &c, err, sizeof err), "repeat_interval_seconds",
                   "at most 2592000 (30d)");
    in.repeat_interval_s = 0;
    in.repeat_policy = "interval";
    assert_invalid(store_target_create(conn, &in, &c, err, sizeof err), "repeat_interval_seconds",
                   "required with repeat_policy interval");
    in.repeat_policy = "on_change";
    in.repeat_interval_s = 3600;
    assert_invalid(store_target_create(conn, &in, &c, err, sizeof err), "repeat_interval_seconds",
                   "only with repeat_policy interval");
    in.repeat_policy = "sometimes";
    assert_invalid(store_target_create(conn, &in, &c, err, sizeof err), "repeat_policy",
                   "'sometimes': expected every, on_change or interval");
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM targets"), 2);

    /* Update: the policy interval alone needs an interval the target does not have. */
    store_target_input up = {.enabled = -1, .repeat_policy = "interval"};
    assert_invalid(store_target_update(conn, NULL, a, &up, err, sizeof err),
                   "repeat_interval_seconds", "required");
    /* ...and keeps the one it has; another policy drops it. */
    ck_assert_int_eq(store_target_update(conn, NULL, b, &up, err, sizeof err), STORE_OK);
    ck_assert_int_eq(
        testlib_db_long(conn, "SELECT repeat_interval_s FROM targets WHERE name = 'b'"), 14400);
    store_target_input onchange = {.enabled = -1, .repeat_policy = "on_change"};
    ck_assert_int_eq(store_target_update(conn, NULL, b, &onchange, err, sizeof err), STORE_OK);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM targets WHERE name = 'b' AND "
                                           "repeat_policy = 'on_change' AND "
                                           "repeat_interval_s IS NULL"),
                     1);
    /* A zero-initialised update leaves every setting alone; each toggle flips itself. */
    store_target_input keep = {.enabled = -1, .description = "x"};
    ck_assert_int_eq(store_target_update(conn, NULL, b, &keep, err, sizeof err), STORE_OK);
    store_target_input flip = {.enabled = -1,
                               .min_severity = "critical",
                               .repeat_interval_s = 600,
                               .notify_resolved = STORE_ON};
    ck_assert_int_eq(store_target_update(conn, NULL, b, &flip, err, sizeof err), STORE_OK);
    ck_assert_int_eq(store_target_get(conn, NULL, b, &t, err, sizeof err), STORE_OK);
    ck_assert_str_eq(t->min_severity, "critical");
    ck_assert_str_eq(t->repeat_policy, "interval");
    ck_assert_int_eq(t->repeat_interval_s, 600);
    ck_assert(t->notify_resolved);
    ck_assert(t->nudge_enabled);
    ck_assert_str_eq(t->description, "x");
    store_target_destroy(t);
    store_target_input bad = {.enabled = -1, .min_severity = "Low"};
    assert_invalid(store_target_update(conn, NULL, b, &bad, err, sizeof err), "min_severity",
                   "'Low'");
}
END_TEST

/* ---------------------------------------------------------------- silences */

static store_silence_input silence_in(const char *tenant)
{
    store_silence_input in = {.tenant = tenant,
                              .check_type = "weak_mfa",
                              .duration_ms = 2 * 3600 * 1000,
                              .author = "cli:alice",
                              .reason = "maintenance"};
    return in;
}

START_TEST(silence_validation)
{
    add_workspace("T0001", "Acme", "xoxb-a");
    add_workspace("T0009", "Other", "xoxb-o");
    add_target("acme", "T0001", "a", "C0001", STORE_USE_FAILED_CHECK);
    int64_t other = add_target("beta", "T0009", "o", "C0009", STORE_USE_FAILED_CHECK);
    int64_t id = 0;
    store_silence_input in = silence_in("acme");
    in.check_type = NULL;
    assert_invalid(store_silence_add(conn, &in, &id, err, sizeof err), "scope", "at least one");
    in.check_type = "weak mfa";
    assert_invalid(store_silence_add(conn, &in, &id, err, sizeof err), "check_type",
                   "'weak mfa' is not a check type");
    in = silence_in("acme corp");
    assert_invalid(store_silence_add(conn, &in, &id, err, sizeof err), "tenant_id", "'acme corp'");
    /* Another tenant's target reads as missing. */
    in = silence_in("acme");
    in.target_id = other;
    assert_invalid(store_silence_add(conn, &in, &id, err, sizeof err), "target_id",
                   "has no target");
    in = silence_in("acme");
    in.team_id = "T0009";
    assert_invalid(store_silence_add(conn, &in, &id, err, sizeof err), "team_id",
                   "not linked to tenant 'acme'");
    in = silence_in("acme");
    in.duration_ms = 0;
    in.ends_at_ms = util_now_wall_ms() - 60000;
    assert_invalid(store_silence_add(conn, &in, &id, err, sizeof err), "ends_at",
                   "not in the future");
    in.forever = true;
    assert_invalid(store_silence_add(conn, &in, &id, err, sizeof err), "ends_at", "exactly one");
    in = silence_in("acme");
    in.starts_at_ms = util_now_wall_ms() + 3 * 3600 * 1000;
    in.duration_ms = 0;
    in.ends_at_ms = util_now_wall_ms() + 3600 * 1000;
    assert_invalid(store_silence_add(conn, &in, &id, err, sizeof err), "ends_at",
                   "not after the start");
    in = silence_in("acme");
    in.reason = "  ";
    assert_invalid(store_silence_add(conn, &in, &id, err, sizeof err), "reason", "empty");
    char long_reason[1200];
    memset(long_reason, 'x', 501);
    long_reason[501] = '\0';
    in.reason = long_reason;
    assert_invalid(store_silence_add(conn, &in, &id, err, sizeof err), "reason",
                   "501 characters; at most 500");
    /* 500 characters of two bytes each are fine: characters, not bytes. */
    for (int i = 0; i < 500; i++)
        memcpy(long_reason + 2 * i, "\xc3\xa9", 2);
    long_reason[1000] = '\0';
    ck_assert_msg(store_silence_add(conn, &in, &id, err, sizeof err) == STORE_OK, "%s", err);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM silences"), 1);
}
END_TEST

START_TEST(silence_lifecycle)
{
    add_workspace("T0001", "Acme", "xoxb-a");
    int64_t a = add_target("acme", "T0001", "alerts", "C0001", STORE_USE_FAILED_CHECK);
    add_target("beta", "T0001", "b", "C0002", STORE_USE_FAILED_CHECK);
    int64_t now = util_now_wall_ms();

    /* A check silence for 2 hours, a mute of a target, one scheduled for later. */
    int64_t s1 = 0, s2 = 0, s3 = 0;
    store_silence_input in = silence_in("acme");
    ck_assert_msg(store_silence_add(conn, &in, &s1, err, sizeof err) == STORE_OK, "%s", err);
    in = silence_in("acme");
    in.check_type = NULL;
    in.target_id = a;
    in.team_id = "T0001";
    in.duration_ms = 0;
    in.forever = true;
    ck_assert_msg(store_silence_add(conn, &in, &s2, err, sizeof err) == STORE_OK, "%s", err);
    in = silence_in("acme");
    in.team_id = "T0001";
    in.starts_at_ms = now + 3600 * 1000;
    ck_assert_msg(store_silence_add(conn, &in, &s3, err, sizeof err) == STORE_OK, "%s", err);

    store_silence *s = NULL;
    ck_assert_int_eq(store_silence_get(conn, "acme", s1, &s, err, sizeof err), STORE_OK);
    ck_assert_str_eq(s->tenant_id, "acme");
    ck_assert_str_eq(s->check_type, "weak_mfa");
    ck_assert_int_eq(s->target_id, 0);
    ck_assert_ptr_null(s->team_id);
    ck_assert_str_eq(s->author, "cli:alice");
    ck_assert_str_eq(s->reason, "maintenance");
    ck_assert_str_eq(s->state, "active");
    ck_assert(s->active);
    ck_assert_int_eq(s->ends_at_ms - s->starts_at_ms, 2 * 3600 * 1000);
    store_silence_destroy(s);
    ck_assert_int_eq(store_silence_get(conn, NULL, s2, &s, err, sizeof err), STORE_OK);
    ck_assert_int_eq(s->ends_at_ms, 0);
    ck_assert_int_eq(s->target_id, a);
    ck_assert_str_eq(s->target_name, "alerts");
    store_silence_destroy(s);
    ck_assert_int_eq(store_silence_get(conn, NULL, s3, &s, err, sizeof err), STORE_OK);
    ck_assert_str_eq(s->state, "scheduled");
    ck_assert(!s->active);
    ck_assert_int_eq(s->ends_at_ms - s->starts_at_ms, 2 * 3600 * 1000);
    store_silence_destroy(s);

    /* Another tenant sees none of them and cannot expire them. */
    ck_assert_int_eq(store_silence_get(conn, "beta", s1, &s, err, sizeof err), STORE_NOT_FOUND);
    bool already = true;
    ck_assert_int_eq(store_silence_expire(conn, "beta", s1, "api:b", &already, err, sizeof err),
                     STORE_NOT_FOUND);
    store_silences l = {0};
    ck_assert_int_eq(store_silence_list(conn, "beta", true, &l, err, sizeof err), STORE_OK);
    ck_assert_int_eq(l.n, 0);
    store_silences_dispose(&l);

    /* Live ones, by start: the scheduled one last. */
    ck_assert_int_eq(store_silence_list(conn, "acme", false, &l, err, sizeof err), STORE_OK);
    ck_assert_int_eq(l.n, 3);
    ck_assert_int_eq(l.items[2].id, s3);
    store_silences_dispose(&l);

    /* Expire: once changes it, twice says it had already. */
    ck_assert_int_eq(store_silence_expire(conn, "acme", s1, "cli:bob", &already, err, sizeof err),
                     STORE_OK);
    ck_assert(!already);
    ck_assert_int_eq(store_silence_expire(conn, NULL, s1, "cli:carol", &already, err, sizeof err),
                     STORE_OK);
    ck_assert(already);
    ck_assert_int_eq(store_silence_get(conn, NULL, s1, &s, err, sizeof err), STORE_OK);
    ck_assert_str_eq(s->state, "expired");
    ck_assert_str_eq(s->expired_by, "cli:bob");
    ck_assert_int_gt(s->expired_at_ms, 0);
    store_silence_destroy(s);
    ck_assert_int_eq(store_silence_expire(conn, NULL, 999999, "cli:bob", &already, err, sizeof err),
                     STORE_NOT_FOUND);
    /* A silence whose end passed is over too: expiring it changes nothing. */
    char sql[200];
    snprintf(sql, sizeof sql,
             "UPDATE silences SET starts_at = now() - interval '2 hours', "
             "ends_at = now() - interval '1 hour' WHERE id = %lld",
             (long long)s3);
    exec_ok(sql);
    ck_assert_int_eq(store_silence_expire(conn, NULL, s3, "cli:bob", &already, err, sizeof err),
                     STORE_OK);
    ck_assert(already);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM silences WHERE expired_at IS "
                                           "NOT NULL"),
                     1);

    ck_assert_int_eq(store_silence_list(conn, "acme", false, &l, err, sizeof err), STORE_OK);
    ck_assert_int_eq(l.n, 1);
    ck_assert_int_eq(l.items[0].id, s2);
    store_silences_dispose(&l);
    ck_assert_int_eq(store_silence_list(conn, NULL, true, &l, err, sizeof err), STORE_OK);
    ck_assert_int_eq(l.n, 3);
    ck_assert_int_eq(l.items[0].id, s3); /* newest first */
    ck_assert_str_eq(l.items[0].state, "ended");
    store_silences_dispose(&l);
}
END_TEST

START_TEST(target_remove_is_soft)
{
    add_workspace("T0001", "Acme", "xoxb-a");
    int64_t id = add_target("acme", "T0001", "alerts", "C0001", STORE_USE_FAILED_CHECK);
    ck_assert_int_eq(store_target_remove(conn, "beta", id, err, sizeof err), STORE_NOT_FOUND);
    ck_assert_int_eq(store_target_remove(conn, "acme", id, err, sizeof err), STORE_OK);
    ck_assert_int_eq(store_target_remove(conn, NULL, id, err, sizeof err), STORE_NOT_FOUND);
    store_target *t = NULL;
    ck_assert_int_eq(store_target_get(conn, NULL, id, &t, err, sizeof err), STORE_NOT_FOUND);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM targets WHERE deleted_at IS NOT "
                                           "NULL AND NOT enabled"),
                     1);
    /* Its name is free again. */
    int64_t again = add_target("acme", "T0001", "alerts", "C0001", STORE_USE_FAILED_CHECK);
    ck_assert_int_ne(again, id);
}
END_TEST

START_TEST(parse_helpers)
{
    unsigned u = 0;
    ck_assert_int_eq(store_uses_parse("failed_check", &u, err, sizeof err), STORE_OK);
    ck_assert_uint_eq(u, STORE_USE_FAILED_CHECK);
    ck_assert_int_eq(store_uses_parse("data_collection, failed_check", &u, err, sizeof err),
                     STORE_OK);
    ck_assert_uint_eq(u, STORE_USE_FAILED_CHECK | STORE_USE_DATA_COLLECTION);
    assert_invalid(store_uses_parse("failed_checks", &u, err, sizeof err), "uses",
                   "'failed_checks' is not a use (failed_check, data_collection)");
    assert_invalid(store_uses_parse("", &u, err, sizeof err), "uses", "must not be empty");
    assert_invalid(store_uses_parse("failed_check,", &u, err, sizeof err), "uses", "'' is not");
    char buf[64];
    ck_assert_str_eq(
        store_uses_format(STORE_USE_FAILED_CHECK | STORE_USE_DATA_COLLECTION, buf, sizeof buf),
        "failed_check,data_collection");
    ck_assert_str_eq(store_uses_format(STORE_USE_DATA_COLLECTION, buf, sizeof buf),
                     "data_collection");

    char **v = NULL;
    size_t n = 0;
    ck_assert_int_eq(store_checks_parse("weak_mfa, stale_admins,weak_mfa", &v, &n, err, sizeof err),
                     STORE_OK);
    ck_assert_uint_eq(n, 2);
    ck_assert_str_eq(v[0], "stale_admins");
    ck_assert_str_eq(v[1], "weak_mfa");
    store_strv_destroy(v, n);
    assert_invalid(store_checks_parse("", &v, &n, err, sizeof err), "checks", "must not be empty");
    assert_invalid(store_checks_parse("a,,b", &v, &n, err, sizeof err), "checks",
                   "'' is not a check type");
    assert_invalid(store_checks_parse("a;b", &v, &n, err, sizeof err), "checks",
                   "'a;b' is not a check type");

    static const struct {
        const char *dest;
        int kind; /* -1: invalid */
    } dests[] = {
        {"C0123", STORE_DEST_CHANNEL_ID},
        {"G0123ABC", STORE_DEST_CHANNEL_ID},
        {"C0", -1},
        {"c0123", -1},
        {"D0123", -1},
        {"#sec-alerts", STORE_DEST_CHANNEL_NAME},
        {"#ops_2", STORE_DEST_CHANNEL_NAME},
        {"#", -1},
        {"#Sec", -1},
        {"#two words", -1},
        {"sec-alerts", -1},
        {"ann@example.com", STORE_DEST_EMAIL},
        {"a.b+tag@sub.example.org", STORE_DEST_EMAIL},
        {"ann@example", -1},
        {"@example.com", -1},
        {"ann@@example.com", -1},
        {"ann @example.com", -1},
        {"ann@example.com.", -1},
        {"", -1},
    };
    for (size_t i = 0; i < sizeof dests / sizeof dests[0]; i++) {
        store_dest_kind k;
        store_status st = store_destination_parse(dests[i].dest, &k, err, sizeof err);
        if (dests[i].kind < 0) {
            ck_assert_msg(st == STORE_INVALID, "accepted '%s'", dests[i].dest);
            ck_assert_msg(!strncmp(err, "destination: ", 13), "%s", err);
        } else {
            ck_assert_msg(st == STORE_OK, "refused '%s': %s", dests[i].dest, err);
            ck_assert_int_eq(k, dests[i].kind);
        }
    }
    char f[32];
    ck_assert_str_eq(store_invalid_field("uses: bad", f, sizeof f), "bad");
    ck_assert_str_eq(f, "uses");
    ck_assert_str_eq(store_invalid_field("no field here", f, sizeof f), "no field here");
    ck_assert_str_eq(f, "");
}
END_TEST

/* ---------------------------------------------------------------- deliveries */

/* Inserts an event and its delivery created `ago` seconds in the past. */
static void add_delivery(const char *event_id, int64_t target, const char *tenant, const char *kind,
                         const char *state, int ago)
{
    char sql[1024];
    const char *payload = !strcmp(kind, "check_result")
                              ? "{\"check\": {\"type\": \"weak_mfa\"}}"
                              : "{\"integration\": {\"id\": \"okta\", \"name\": \"Okta (prod)\"}, "
                                "\"status\": \"failed\"}";
    snprintf(sql, sizeof sql,
             "INSERT INTO events (event_id, tenant_id, kind, check_type, payload) VALUES "
             "('%s', '%s', '%s', NULL, '%s') ON CONFLICT DO NOTHING",
             event_id, tenant, kind, payload);
    exec_ok(sql);
    snprintf(sql, sizeof sql,
             "INSERT INTO deliveries (event_id, target_id, tenant_id, state, attempts, "
             " last_error_code, last_error, slack_channel, slack_ts, created_at, sent_at) VALUES "
             "('%s', %lld, '%s', '%s', %d, %s, %s, %s, %s, now() - interval '%d seconds', %s)",
             event_id, (long long)target, tenant, state, !strcmp(state, "pending") ? 0 : 1,
             !strcmp(state, "failed") ? "'channel_not_found'" : "NULL",
             !strcmp(state, "failed") ? "'the channel does not exist'" : "NULL",
             !strcmp(state, "sent") ? "'C0001'" : "NULL",
             !strcmp(state, "sent") ? "'1700000000.000100'" : "NULL", ago,
             !strcmp(state, "sent") ? "now()" : "NULL");
    exec_ok(sql);
}

START_TEST(deliveries_filters)
{
    add_workspace("T0001", "Acme", "xoxb-a");
    int64_t a1 = add_target("acme", "T0001", "a1", "C0001", STORE_USE_FAILED_CHECK);
    int64_t a2 = add_target("acme", "T0001", "a2", "C0002", STORE_USE_DATA_COLLECTION);
    int64_t b1 = add_target("beta", "T0001", "b1", "C0003", STORE_USE_FAILED_CHECK);
    add_delivery("00000000-0000-4000-8000-000000000001", a1, "acme", "check_result", "sent", 7200);
    add_delivery("00000000-0000-4000-8000-000000000002", a1, "acme", "check_result", "failed", 60);
    add_delivery("00000000-0000-4000-8000-000000000003", a2, "acme", "collection_event", "pending",
                 30);
    add_delivery("00000000-0000-4000-8000-000000000004", b1, "beta", "check_result", "sent", 10);

    store_delivery_filter f = {0};
    store_deliveries l = {0};
    ck_assert_int_eq(store_delivery_list(conn, &f, &l, err, sizeof err), STORE_OK);
    ck_assert_uint_eq(l.n, 4);
    /* Newest first. */
    ck_assert_str_eq(l.items[0].event_id, "00000000-0000-4000-8000-000000000004");
    ck_assert_str_eq(l.items[3].event_id, "00000000-0000-4000-8000-000000000001");
    ck_assert_int_ge(l.items[0].created_at_ms, l.items[1].created_at_ms);
    /* Fields. */
    store_delivery *sent = &l.items[3];
    ck_assert_str_eq(sent->state, "sent");
    ck_assert_str_eq(sent->target_name, "a1");
    ck_assert_str_eq(sent->event_kind, "check_result");
    ck_assert_str_eq(sent->check_type, "weak_mfa");
    ck_assert_str_eq(sent->slack_channel, "C0001");
    ck_assert_str_eq(sent->slack_ts, "1700000000.000100");
    ck_assert_int_gt(sent->sent_at_ms, 0);
    ck_assert_ptr_null(sent->error_code);
    store_delivery *failed = &l.items[2];
    ck_assert_str_eq(failed->error_code, "channel_not_found");
    ck_assert_str_eq(failed->error, "the channel does not exist");
    ck_assert_int_eq(failed->attempts, 1);
    store_delivery *coll = &l.items[1];
    ck_assert_str_eq(coll->event_kind, "collection_event");
    ck_assert_str_eq(coll->integration, "Okta (prod)");
    ck_assert_str_eq(coll->collection_status, "failed");
    ck_assert_ptr_null(coll->check_type);
    int64_t newest_id = l.items[0].id, second_id = l.items[1].id;
    store_deliveries_dispose(&l);

    f.tenant = "acme";
    ck_assert_int_eq(store_delivery_list(conn, &f, &l, err, sizeof err), STORE_OK);
    ck_assert_uint_eq(l.n, 3);
    store_deliveries_dispose(&l);
    f.target_id = a1;
    ck_assert_int_eq(store_delivery_list(conn, &f, &l, err, sizeof err), STORE_OK);
    ck_assert_uint_eq(l.n, 2);
    store_deliveries_dispose(&l);
    f.state = "failed";
    ck_assert_int_eq(store_delivery_list(conn, &f, &l, err, sizeof err), STORE_OK);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_str_eq(l.items[0].state, "failed");
    store_deliveries_dispose(&l);

    /* Since an hour ago: the two-hour-old one is out. */
    store_delivery_filter g = {.since_ms = util_now_wall_ms() - 3600 * 1000};
    ck_assert_int_eq(store_delivery_list(conn, &g, &l, err, sizeof err), STORE_OK);
    ck_assert_uint_eq(l.n, 3);
    store_deliveries_dispose(&l);

    /* Pages: limit/offset, and keyset by the last id seen. */
    store_delivery_filter p = {.limit = 1};
    ck_assert_int_eq(store_delivery_list(conn, &p, &l, err, sizeof err), STORE_OK);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_int_eq(l.items[0].id, newest_id);
    store_deliveries_dispose(&l);
    p.offset = 1;
    ck_assert_int_eq(store_delivery_list(conn, &p, &l, err, sizeof err), STORE_OK);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_int_eq(l.items[0].id, second_id);
    store_deliveries_dispose(&l);
    store_delivery_filter k = {.limit = 2, .before_id = newest_id};
    ck_assert_int_eq(store_delivery_list(conn, &k, &l, err, sizeof err), STORE_OK);
    ck_assert_uint_eq(l.n, 2);
    ck_assert_int_eq(l.items[0].id, second_id);
    int64_t third_id = l.items[1].id;
    store_deliveries_dispose(&l);
    /* A cursor that is no delivery (past the newest, or a gap in the ids:
     * the router's idempotent inserts use up sequence values) still pages:
     * it was an empty list. */
    k.before_id = newest_id + 1000;
    ck_assert_int_eq(store_delivery_list(conn, &k, &l, err, sizeof err), STORE_OK);
    ck_assert_uint_eq(l.n, 2);
    ck_assert_int_eq(l.items[0].id, newest_id);
    store_deliveries_dispose(&l);
    char q[128];
    snprintf(q, sizeof q, "UPDATE deliveries SET id = id + 1000 WHERE id = %lld",
             (long long)newest_id);
    exec_ok(q);
    k.before_id = newest_id; /* now a gap below the moved row */
    ck_assert_int_eq(store_delivery_list(conn, &k, &l, err, sizeof err), STORE_OK);
    ck_assert_uint_eq(l.n, 2);
    ck_assert_int_eq(l.items[0].id, second_id);
    ck_assert_int_eq(l.items[1].id, third_id);
    store_deliveries_dispose(&l);
    snprintf(q, sizeof q, "UPDATE deliveries SET id = %lld WHERE id = %lld", (long long)newest_id,
             (long long)newest_id + 1000);
    exec_ok(q);

    /* Bad filter values. */
    store_delivery_filter bad = {.state = "done"};
    assert_invalid(store_delivery_list(conn, &bad, &l, err, sizeof err), "state",
                   "'done' is not a delivery state");
    store_delivery_filter big = {.limit = 5000};
    assert_invalid(store_delivery_list(conn, &big, &l, err, sizeof err), "limit",
                   "5000 is not from 1 to 1000");
    store_delivery_filter neg = {.offset = -1};
    assert_invalid(store_delivery_list(conn, &neg, &l, err, sizeof err), "offset", "negative");

    store_delivery *d = NULL;
    ck_assert_int_eq(store_delivery_get(conn, "beta", newest_id, &d, err, sizeof err), STORE_OK);
    ck_assert_str_eq(d->tenant_id, "beta");
    store_delivery_destroy(d);
    ck_assert_int_eq(store_delivery_get(conn, "acme", newest_id, &d, err, sizeof err),
                     STORE_NOT_FOUND);

    /* Health in the target: counts over 24 h, last success and last error. */
    store_target *t = NULL;
    ck_assert_int_eq(store_target_get(conn, NULL, a1, &t, err, sizeof err), STORE_OK);
    ck_assert_int_eq(t->health.sent_24h, 1);
    ck_assert_int_eq(t->health.failed_24h, 1);
    ck_assert_int_gt(t->health.last_success_at_ms, 0);
    ck_assert_int_gt(t->health.last_error_at_ms, 0);
    ck_assert_str_eq(t->health.last_error_code, "channel_not_found");
    ck_assert_str_eq(t->health.last_error, "the channel does not exist");
    store_target_destroy(t);
}
END_TEST

START_TEST(deliveries_suppressed_and_kinds)
{
    add_workspace("T0001", "Acme", "xoxb-a");
    int64_t a = add_target("acme", "T0001", "a", "C0001", STORE_USE_FAILED_CHECK);
    add_delivery("00000000-0000-4000-8000-000000000011", a, "acme", "check_result", "sent", 300);
    add_delivery("00000000-0000-4000-8000-000000000012", a, "acme", "check_result", "pending", 200);
    exec_ok("UPDATE deliveries SET state = 'suppressed', last_error_code = 'silenced', "
            "last_error = 'silence 42 (cli:alice): maintenance' "
            "WHERE event_id = '00000000-0000-4000-8000-000000000012'");
    add_delivery("00000000-0000-4000-8000-000000000013", a, "acme", "check_result", "pending", 100);
    exec_ok("UPDATE deliveries SET kind = 'resolve', "
            "ref_event_id = '00000000-0000-4000-8000-000000000011' "
            "WHERE event_id = '00000000-0000-4000-8000-000000000013'");

    store_deliveries l = {0};
    store_delivery_filter f = {.state = "suppressed"};
    ck_assert_int_eq(store_delivery_list(conn, &f, &l, err, sizeof err), STORE_OK);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_str_eq(l.items[0].state, "suppressed");
    ck_assert_str_eq(l.items[0].error_code, "silenced");
    ck_assert_str_eq(l.items[0].error, "silence 42 (cli:alice): maintenance");
    ck_assert_str_eq(l.items[0].kind, "notify");
    ck_assert_ptr_null(l.items[0].ref_event_id);
    store_deliveries_dispose(&l);

    store_delivery_filter k = {.kind = "resolve"};
    ck_assert_int_eq(store_delivery_list(conn, &k, &l, err, sizeof err), STORE_OK);
    ck_assert_uint_eq(l.n, 1);
    ck_assert_str_eq(l.items[0].kind, "resolve");
    ck_assert_str_eq(l.items[0].ref_event_id, "00000000-0000-4000-8000-000000000011");
    ck_assert_str_eq(l.items[0].check_type, "weak_mfa");
    store_deliveries_dispose(&l);

    store_delivery_filter bad = {.kind = "ping"};
    assert_invalid(store_delivery_list(conn, &bad, &l, err, sizeof err), "kind",
                   "'ping' is not a delivery kind");
    ck_assert(store_delivery_state_valid("suppressed"));
    ck_assert(!store_delivery_state_valid("quiet"));
}
END_TEST

START_TEST(test_delivery_recorded)
{
    add_workspace("T0001", "Acme", "xoxb-a");
    int64_t id = add_target("acme", "T0001", "alerts", "C0001", STORE_USE_FAILED_CHECK);
    int64_t did = 0;
    char event_id[37] = "";
    ck_assert_int_eq(
        store_test_delivery_begin(conn, NULL, id, "test_store", &did, event_id, err, sizeof err),
        STORE_OK);
    ck_assert_int_gt(did, 0);
    ck_assert(util_is_uuid(event_id));
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM events WHERE kind = 'test' AND "
                                           "tenant_id = 'acme' AND payload->>'source' = "
                                           "'test_store' AND (payload->>'target_id')::int = 1"),
                     1);
    store_delivery *d = NULL;
    ck_assert_int_eq(store_delivery_get(conn, NULL, did, &d, err, sizeof err), STORE_OK);
    ck_assert_str_eq(d->state, "sending");
    ck_assert_str_eq(d->event_kind, "test");
    ck_assert_str_eq(d->event_id, event_id);
    ck_assert_int_eq(d->attempts, 1);
    store_delivery_destroy(d);

    store_delivery_outcome ok = {.ok = true, .slack_channel = "C0001", .slack_ts = "17.01"};
    ck_assert_int_eq(store_test_delivery_finish(conn, did, &ok, err, sizeof err), STORE_OK);
    ck_assert_int_eq(store_delivery_get(conn, NULL, did, &d, err, sizeof err), STORE_OK);
    ck_assert_str_eq(d->state, "sent");
    ck_assert_str_eq(d->slack_channel, "C0001");
    ck_assert_str_eq(d->slack_ts, "17.01");
    ck_assert_int_gt(d->sent_at_ms, 0);
    store_delivery_destroy(d);

    ck_assert_int_eq(
        store_test_delivery_begin(conn, "acme", id, "test_store", &did, NULL, err, sizeof err),
        STORE_OK);
    store_delivery_outcome bad = {
        .ok = false, .error_code = "not_in_channel", .error = "invite the bot to the channel"};
    ck_assert_int_eq(store_test_delivery_finish(conn, did, &bad, err, sizeof err), STORE_OK);
    ck_assert_int_eq(store_delivery_get(conn, NULL, did, &d, err, sizeof err), STORE_OK);
    ck_assert_str_eq(d->state, "failed");
    ck_assert_str_eq(d->error_code, "not_in_channel");
    ck_assert_str_eq(d->error, "invite the bot to the channel");
    ck_assert_int_eq(d->sent_at_ms, 0);
    store_delivery_destroy(d);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM targets WHERE last_error_code = "
                                           "'not_in_channel' AND last_success_at IS NOT NULL"),
                     1);

    /* Unknown or other tenant's target; unknown delivery. */
    ck_assert_int_eq(store_test_delivery_begin(conn, "beta", id, "x", &did, NULL, err, sizeof err),
                     STORE_NOT_FOUND);
    ck_assert_int_eq(store_test_delivery_begin(conn, NULL, 999, "x", &did, NULL, err, sizeof err),
                     STORE_NOT_FOUND);
    ck_assert_int_eq(store_test_delivery_finish(conn, 999, &ok, err, sizeof err), STORE_NOT_FOUND);
    ck_assert_int_eq(testlib_db_long(conn, "SELECT count(*) FROM deliveries"), 2);
}
END_TEST

START_TEST(database_errors_are_one_line)
{
    /* A broken connection gives STORE_DB with one line, never a crash. */
    PGconn *bad = PQconnectdb("postgresql://nobody@127.0.0.1:1/none?connect_timeout=1");
    store_targets l = {0};
    ck_assert_int_eq(store_target_list(bad, NULL, &l, err, sizeof err), STORE_DB);
    ck_assert_ptr_null(strchr(err, '\n'));
    ck_assert_ptr_nonnull(strstr(err, "listing targets"));
    PQfinish(bad);
}
END_TEST

/* A token_enc copied from team A's row into team B's row does not open for
 * B: the sealed value is bound to its row (associated data). */
START_TEST(workspace_token_bound_to_its_row)
{
    add_workspace("T0001", "Acme", "xoxb-secret-A");
    add_workspace("T0002", "Beta", "xoxb-secret-B");
    exec_ok("UPDATE workspaces SET token_enc = (SELECT token_enc FROM workspaces "
            "WHERE team_id = 'T0001') WHERE team_id = 'T0002'");
    char *plain = (char *)1;
    ck_assert_int_eq(store_workspace_token(conn, key, "T0002", &plain, NULL, err, sizeof err),
                     STORE_CRYPTO);
    ck_assert_ptr_null(plain);
    ck_assert_ptr_null(strstr(err, "secret-A"));
    ck_assert_int_eq(store_workspace_token(conn, key, "T0001", &plain, NULL, err, sizeof err),
                     STORE_OK);
    ck_assert_str_eq(plain, "xoxb-secret-A");
    crypto_free_secret(plain);
}
END_TEST

/* Rotation: v1 rows (today's format) and v2 rows under the old key are
 * re-sealed under the new one, after which the new key alone opens them;
 * a row neither key opens is counted and named, and left as it is. */
START_TEST(secrets_reseal_under_the_new_key)
{
    static const char *NEW_B64 = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";
    unsigned char third[CRYPTO_KEY_LEN];
    ck_assert_int_eq(crypto_key_from_base64("AwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwM=", third,
                                            err, sizeof err),
                     0);
    add_workspace("T0001", "Acme", "xoxb-v2-old"); /* v2 under KEY (the old key) */
    char *v1 = testlib_sealed_token_hex(key->current, "xoxb-v1-old");
    char *bad = testlib_sealed_token_hex(third, "xoxb-lost");
    char *q = testlib_fmt("INSERT INTO workspaces (team_id, team_name, token_enc) VALUES "
                          "('T0002', 'V1', '%s'), ('T0003', 'Lost', '%s')",
                          v1, bad);
    exec_ok(q);
    free(q);
    free(v1);
    free(bad);
    crypto_keyring rotating[1], fresh[1];
    testlib_keyring(rotating, NEW_B64, KEY_B64);
    testlib_keyring(fresh, NEW_B64, NULL);
    char *plain = NULL;
    ck_assert_int_eq(store_workspace_token(conn, fresh, "T0002", &plain, NULL, err, sizeof err),
                     STORE_CRYPTO);

    store_reseal_counts n;
    ck_assert_msg(store_secrets_reseal(conn, rotating, &n, err, sizeof err) == STORE_OK, "%s", err);
    ck_assert_int_eq(n.resealed, 2);
    ck_assert_int_eq(n.current, 0);
    ck_assert_int_eq(n.unreadable, 1);
    ck_assert_str_eq(n.unreadable_ids[0], "T0003");
    const char *teams[2] = {"T0001", "T0002"}, *want[2] = {"xoxb-v2-old", "xoxb-v1-old"};
    for (int i = 0; i < 2; i++) {
        ck_assert_msg(store_workspace_token(conn, fresh, teams[i], &plain, NULL, err, sizeof err) ==
                          STORE_OK,
                      "%s", err);
        ck_assert_str_eq(plain, want[i]);
        crypto_free_secret(plain);
        plain = NULL;
    }
    /* Again: nothing left to do. */
    ck_assert_int_eq(store_secrets_reseal(conn, fresh, &n, err, sizeof err), STORE_OK);
    ck_assert_int_eq(n.resealed, 0);
    ck_assert_int_eq(n.current, 2);
    ck_assert_int_eq(n.unreadable, 1);
}
END_TEST

int main(void)
{
    testlib_db_create("store", url, sizeof url);
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, workspace_token_encrypted_at_rest);
    tcase_add_test(tc, workspace_wrong_key);
    tcase_add_test(tc, workspace_reinstall_clears_revoked);
    tcase_add_test(tc, workspace_validation);
    tcase_add_test(tc, workspace_list_and_counts);
    tcase_add_test(tc, workspace_remove);
    tcase_add_test(tc, target_create_get_list);
    tcase_add_test(tc, target_validation);
    tcase_add_test(tc, target_update);
    tcase_add_test(tc, target_sender_settings);
    tcase_add_test(tc, target_remove_is_soft);
    tcase_add_test(tc, target_quiet_settings);
    tcase_add_test(tc, silence_validation);
    tcase_add_test(tc, silence_lifecycle);
    tcase_add_test(tc, parse_helpers);
    tcase_add_test(tc, deliveries_filters);
    tcase_add_test(tc, deliveries_suppressed_and_kinds);
    tcase_add_test(tc, test_delivery_recorded);
    tcase_add_test(tc, database_errors_are_one_line);
    tcase_add_test(tc, workspace_token_bound_to_its_row);
    tcase_add_test(tc, secrets_reseal_under_the_new_key);
    suite_add_tcase(s, tc);
    return testlib_run_suite(s);
}
