/* storejson: the JSON shapes heraldctl --json and the admin API print (keys, order, nulls). */
#include "store/storejson.h"
#include "store/deliveries.h"
#include "store/targets.h"
#include "store/validation.h"
#include "store/workspaces.h"
#include "testlib.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static void assert_json(cJSON *j, const char *want)
{
    char *got = cJSON_PrintUnformatted(j);
    ck_assert_str_eq(got, want);
    cJSON_free(got);
    cJSON_Delete(j);
}

START_TEST(workspace_shape)
{
    store_workspace w = {.team_id = "T1",
                         .team_name = "Acme",
                         .installed_at_ms = 1795942202123,
                         .revoked = true,
                         .revoked_reason = "token_revoked",
                         .target_count = 3};
    assert_json(storejson_workspace(&w),
                "{\"team_id\":\"T1\",\"team_name\":\"Acme\",\"bot_user_id\":null,\"scopes\":null,"
                "\"installed_at\":\"2026-11-29T08:50:02.123Z\",\"updated_at\":null,"
                "\"revoked\":true,\"revoked_at\":null,\"revoked_reason\":\"token_revoked\","
                "\"target_count\":3,\"token_rotation\":false,\"token_expires_at\":null}");
    /* Token rotation: the expiry is shown, never a token. */
    w.rotating = true;
    w.token_expires_at_ms = 1795942202123 + 43200000;
    cJSON *r = storejson_workspace(&w);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(r, "token_rotation")));
    ck_assert_str_eq(cJSON_GetObjectItem(r, "token_expires_at")->valuestring,
                     "2026-11-29T20:50:02.123Z");
    cJSON_Delete(r);
    store_workspaces l = {&w, 1};
    cJSON *a = storejson_workspaces(&l);
    ck_assert_int_eq(cJSON_GetArraySize(a), 1);
    cJSON_Delete(a);
}
END_TEST

START_TEST(target_shape)
{
    char *checks[] = {"stale_admins", "weak_mfa"};
    store_target t = {
        .id = 42,
        .tenant_id = "acme",
        .team_id = "T1",
        .team_name = "Acme",
        .name = "sec",
        .description = "",
        .destination = "#sec-alerts",
        .destination_kind = STORE_DEST_CHANNEL_NAME,
        .uses = STORE_USE_FAILED_CHECK | STORE_USE_DATA_COLLECTION,
        .enabled = true,
        .digest_enabled = true,
        .min_severity = "high",
        .repeat_policy = "interval",
        .repeat_interval_s = 14400,
        .notify_resolved = true,
        .checks = checks,
        .n_checks = 2,
        .health = {.sent_24h = 5, .failed_24h = 1, .suppressed_24h = 9, .last_error_code = "x"}};
    assert_json(storejson_target(&t),
                "{\"id\":42,\"tenant\":\"acme\",\"workspace\":\"T1\",\"workspace_name\":\"Acme\","
                "\"workspace_revoked\":false,\"name\":\"sec\",\"description\":\"\","
                "\"destination\":\"#sec-alerts\",\"destination_kind\":\"channel_name\","
                "\"destination_resolved\":null,\"uses\":[\"failed_check\",\"data_collection\"],"
                "\"checks\":[\"stale_admins\",\"weak_mfa\"],\"enabled\":true,\"digest\":true,"
                "\"thread_repeats\":false,\"min_severity\":\"high\",\"repeat_policy\":\"interval\","
                "\"repeat_interval_seconds\":14400,\"notify_resolved\":true,"
                "\"nudge_enabled\":false,\"created_at\":null,\"updated_at\":null,"
                "\"health\":{\"pending_24h\":0,\"sending_24h\":0,\"retrying_24h\":0,"
                "\"sent_24h\":5,\"failed_24h\":1,\"last_success_at\":null,\"last_error_at\":null,"
                "\"last_error_code\":\"x\",\"last_error\":null,\"suppressed_24h\":9}}");
    /* Without an interval the policy's interval is null, not 0. */
    t.repeat_policy = "every";
    t.repeat_interval_s = 0;
    cJSON *j = storejson_target(&t);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItem(j, "repeat_interval_seconds")));
    cJSON_Delete(j);
}
END_TEST

START_TEST(delivery_shape)
{
    store_delivery d = {.id = 7,
                        .event_id = "e1",
                        .target_id = 42,
                        .state = "failed",
                        .kind = "resolve",
                        .ref_event_id = "e0",
                        .attempts = 4,
                        .error_code = "channel_not_found",
                        .sent_at_ms = 1000};
    assert_json(storejson_delivery(&d),
                "{\"id\":7,\"event_id\":\"e1\",\"target_id\":42,\"target_name\":null,"
                "\"tenant\":null,\"event_kind\":null,\"check_type\":null,\"integration\":null,"
                "\"collection_status\":null,\"state\":\"failed\",\"kind\":\"resolve\","
                "\"ref_event_id\":\"e0\",\"attempts\":4,"
                "\"next_attempt_at\":null,\"error_code\":\"channel_not_found\",\"error\":null,"
                "\"slack_channel\":null,\"slack_ts\":null,\"created_at\":null,\"updated_at\":null,"
                "\"sent_at\":\"1970-01-01T00:00:01.000Z\"}");
    store_deliveries l = {NULL, 0};
    assert_json(storejson_deliveries(&l), "[]");
}
END_TEST

START_TEST(silence_shape)
{
    store_silence s = {.id = 3,
                       .tenant_id = "acme",
                       .check_type = "weak_mfa",
                       .starts_at_ms = 1795942202123,
                       .author = "cli:alice",
                       .reason = "maintenance",
                       .created_at_ms = 1795942202123,
                       .state = "active",
                       .active = true};
    assert_json(storejson_silence(&s),
                "{\"id\":3,\"tenant_id\":\"acme\",\"check_type\":\"weak_mfa\",\"target_id\":null,"
                "\"target_name\":null,\"team_id\":null,\"starts_at\":\"2026-11-29T08:50:02.123Z\","
                "\"ends_at\":null,\"author\":\"cli:alice\",\"reason\":\"maintenance\","
                "\"created_at\":\"2026-11-29T08:50:02.123Z\",\"expired_at\":null,"
                "\"expired_by\":null,\"created_from_event_id\":null,\"active\":true,"
                "\"state\":\"active\"}");
    s.target_id = 42;
    store_silences l = {&s, 1};
    cJSON *a = storejson_silences(&l);
    ck_assert_int_eq(cJSON_GetArraySize(a), 1);
    ck_assert_int_eq(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "target_id")->valueint, 42);
    cJSON_Delete(a);
}
END_TEST

TESTLIB_MAIN("storejson", "storejson", workspace_shape, target_shape, delivery_shape, silence_shape)
