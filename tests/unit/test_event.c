/*
 * The event contract: good events of both kinds, every kind of bad input one
 * at a time (asserting the exact field the error names), RFC 3339 time, and
 * the routed delivery envelope.
 */
#include "common/event.h"
#include "testlib.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char GOOD_CHECK[] =
    "{\"schema\":\"herald.check_result.v1\","
    "\"event_id\":\"6F1C2B3A-0D4E-4F5A-8B6C-7D8E9F0A1B2C\",\"tenant_id\":\"acme\","
    "\"run_id\":\"0b9d1c5e-2f3a-4b6c-9d8e-7f6a5b4c3d2e\",\"trigger\":\"manual\","
    "\"check\":{\"type\":\"weak_mfa\",\"name\":\"Weak MFA Configured\",\"severity\":\"high\","
    "\"url\":\"https://console.example.com/checks/weak_mfa?tenant=acme\"},"
    "\"evaluated_at\":\"2026-11-28T09:00:00Z\",\"failing_count\":12,\"total_count\":480,"
    "\"failing_users\":[{\"id\":\"u1\",\"display_name\":\"Ada <!channel>\",\"email\":"
    "\"ada@acme.example\"},{\"id\":\"u2\",\"display_name\":null},{\"id\":\"u3\"},{\"id\":\"u4\"}],"
    "\"engine\":{\"version\":\"7.1\"},\"extra\":[1,2,3]}";

static const char GOOD_COLLECTION[] =
    "{\"schema\":\"herald.collection_event.v1\","
    "\"event_id\":\"3c0a7d52-9f1e-4b8a-a6d3-2e5f7c9b1d40\",\"tenant_id\":\"globex\","
    "\"integration\":{\"id\":\"okta-prod\",\"name\":\"Okta (prod)\",\"kind\":\"okta\"},"
    "\"trigger\":\"manual\",\"status\":\"succeeded\","
    "\"started_at\":\"2026-11-28T09:00:00Z\",\"finished_at\":\"2026-11-28T09:02:30.250Z\","
    "\"stats\":{\"users\":1234,\"groups\":56}}";

static const char FAILED_COLLECTION[] =
    "{\"schema\":\"herald.collection_event.v1\","
    "\"event_id\":\"3c0a7d52-9f1e-4b8a-a6d3-2e5f7c9b1d41\",\"tenant_id\":\"globex\","
    "\"integration\":{\"id\":\"entra-main\",\"name\":\"Entra ID\",\"kind\":\"entra\"},"
    "\"trigger\":\"scheduled\",\"status\":\"failed\","
    "\"started_at\":\"2026-11-28T09:00:00Z\",\"finished_at\":\"2026-11-28T09:00:04Z\","
    "\"error\":{\"code\":\"auth_failed\",\"message\":\"client secret expired\"}}";

/* ------------------------------------------------------------------------ */
/* Helpers: edit one field of a good event                                  */
/* ------------------------------------------------------------------------ */

/* Finds the parent of path ("a", "a.b", "a[3].b", "a[3]") and the last step. */
static cJSON *walk(cJSON *root, const char *path, char *last, size_t last_size, int *last_idx)
{
    cJSON *cur = root;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    char *save = NULL;
    char *tok = strtok_r(buf, ".", &save);
    while (tok) {
        char *next = strtok_r(NULL, ".", &save);
        char *br = strchr(tok, '[');
        int idx = -1;
        if (br) {
            idx = (int)strtol(br + 1, NULL, 10);
            *br = '\0';
        }
        if (!next) {
            if (idx >= 0) {
                cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
                *last_idx = idx;
                last[0] = '\0';
            } else {
                *last_idx = -1;
                snprintf(last, last_size, "%s", tok);
            }
            return cur;
        }
        cur = cJSON_GetObjectItemCaseSensitive(cur, tok);
        if (idx >= 0)
            cur = cJSON_GetArrayItem(cur, idx);
        ck_assert_msg(cur != NULL, "test bug: no %s in template", path);
        tok = next;
    }
    return cur;
}

/* A copy of good with path set to the JSON text value (NULL: removed). */
static char *edit(const char *good, const char *path, const char *value)
{
    cJSON *root = cJSON_Parse(good);
    ck_assert_ptr_nonnull(root);
    char last[64];
    int idx = -1;
    cJSON *parent = walk(root, path, last, sizeof last, &idx);
    ck_assert_ptr_nonnull(parent);
    cJSON *v = value ? cJSON_Parse(value) : NULL;
    if (value)
        ck_assert_msg(v != NULL, "test bug: bad JSON value %s", value);
    if (idx >= 0) {
        if (v)
            cJSON_ReplaceItemInArray(parent, idx, v);
        else
            cJSON_DeleteItemFromArray(parent, idx);
    } else if (v) {
        if (cJSON_GetObjectItemCaseSensitive(parent, last))
            cJSON_ReplaceItemInObjectCaseSensitive(parent, last, v);
        else
            cJSON_AddItemToObject(parent, last, v);
    } else {
        cJSON_DeleteItemFromObjectCaseSensitive(parent, last);
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

static void expect_error_len(event_kind kind, const char *buf, size_t len, const char *want)
{
    char err[512] = "";
    event *ev = NULL;
    int rc = event_parse(buf, len, kind, &ev, err, sizeof err);
    ck_assert_msg(rc == -1, "accepted: %.200s", buf);
    ck_assert_ptr_null(ev);
    ck_assert_str_eq(err, want);
}

static void expect_error(event_kind kind, const char *buf, const char *want)
{
    expect_error_len(kind, buf, strlen(buf), want);
}

/* Edits one field of the good event of that kind and expects `want`. */
static void expect_edit_error(event_kind kind, const char *path, const char *value,
                              const char *want)
{
    char *s = edit(kind == EVENT_CHECK_RESULT ? GOOD_CHECK : GOOD_COLLECTION, path, value);
    expect_error(kind, s, want);
    cJSON_free(s);
}

static event *expect_ok(event_kind kind, const char *buf)
{
    char err[512] = "";
    event *ev = NULL;
    ck_assert_msg(event_parse(buf, strlen(buf), kind, &ev, err, sizeof err) == 0, "%s in %.300s",
                  err, buf);
    ck_assert_ptr_nonnull(ev);
    return ev;
}

static void expect_edit_ok(event_kind kind, const char *path, const char *value)
{
    char *s = edit(kind == EVENT_CHECK_RESULT ? GOOD_CHECK : GOOD_COLLECTION, path, value);
    event_destroy(expect_ok(kind, s));
    cJSON_free(s);
}

/* ------------------------------------------------------------------------ */
/* Good events                                                               */
/* ------------------------------------------------------------------------ */

START_TEST(check_result_good)
{
    event *ev = expect_ok(EVENT_CHECK_RESULT, GOOD_CHECK);
    ck_assert_int_eq(ev->kind, EVENT_CHECK_RESULT);
    ck_assert_str_eq(ev->event_id, "6f1c2b3a-0d4e-4f5a-8b6c-7d8e9f0a1b2c"); /* lowercased */
    ck_assert_str_eq(ev->tenant_id, "acme");
    ck_assert_str_eq(ev->run_id, "0b9d1c5e-2f3a-4b6c-9d8e-7f6a5b4c3d2e");
    ck_assert_int_eq(ev->trigger, TRIGGER_MANUAL);
    ck_assert_str_eq(ev->check_type, "weak_mfa");
    ck_assert_str_eq(ev->check_name, "Weak MFA Configured");
    ck_assert_int_eq(ev->severity, SEV_HIGH);
    ck_assert_str_eq(ev->check_url, "https://console.example.com/checks/weak_mfa?tenant=acme");
    ck_assert_int_eq(ev->evaluated_at_ms, 1795856400000LL);
    ck_assert_int_eq(ev->failing_count, 12);
    ck_assert_int_eq(ev->total_count, 480);
    ck_assert_uint_eq(ev->nusers, 4);
    ck_assert_str_eq(ev->users[0].id, "u1");
    ck_assert_str_eq(ev->users[0].display_name, "Ada <!channel>");
    ck_assert_str_eq(ev->users[0].email, "ada@acme.example");
    ck_assert_ptr_null(ev->users[1].display_name); /* null is absent */
    ck_assert_ptr_null(ev->users[2].email);
    ck_assert_str_eq(ev->users[3].id, "u4");
    event_destroy(ev);
}
END_TEST

START_TEST(check_result_minimal)
{
    /* No run_id, url or failing_users; nobody failing. */
    const char *s = "{\"schema\":\"herald.check_result.v1\",\"event_id\":"
                    "\"6f1c2b3a-0d4e-4f5a-8b6c-7d8e9f0a1b2c\",\"tenant_id\":\"t-1\","
                    "\"trigger\":\"scheduled\",\"check\":{\"type\":\"stale_accounts\","
                    "\"name\":\"Stale accounts\",\"severity\":\"low\",\"url\":null},"
                    "\"evaluated_at\":\"2026-11-28T09:00:00.5+01:00\","
                    "\"failing_count\":0,\"total_count\":0}";
    event *ev = expect_ok(EVENT_CHECK_RESULT, s);
    ck_assert_str_eq(ev->run_id, "");
    ck_assert_ptr_null(ev->check_url);
    ck_assert_uint_eq(ev->nusers, 0);
    ck_assert_ptr_null(ev->users);
    ck_assert_int_eq(ev->trigger, TRIGGER_SCHEDULED);
    ck_assert_int_eq(ev->severity, SEV_LOW);
    ck_assert_int_eq(ev->evaluated_at_ms, 1795856400000LL - 3600000 + 500);
    event_destroy(ev);
}
END_TEST

START_TEST(check_result_tolerances)
{
    /* Whitespace around the object, a trailing CR, unknown fields, integral
     * floats and 100 users are all fine. */
    char *s = edit(GOOD_CHECK, "failing_count", "12.0");
    size_t n = strlen(s);
    char *padded = malloc(n + 8);
    snprintf(padded, n + 8, "  %s \r\n", s);
    event_destroy(expect_ok(EVENT_CHECK_RESULT, padded));
    free(padded);
    cJSON_free(s);

    cJSON *root = cJSON_Parse(GOOD_CHECK);
    cJSON *users = cJSON_CreateArray();
    for (int i = 0; i < EVENT_MAX_SAMPLE_USERS; i++) {
        cJSON *u = cJSON_CreateObject();
        char id[24];
        snprintf(id, sizeof id, "user-%d", i);
        cJSON_AddStringToObject(u, "id", id);
        cJSON_AddItemToArray(users, u);
    }
    cJSON_ReplaceItemInObjectCaseSensitive(root, "failing_users", users);
    cJSON_ReplaceItemInObjectCaseSensitive(root, "failing_count", cJSON_CreateNumber(100));
    s = cJSON_PrintUnformatted(root);
    event *ev = expect_ok(EVENT_CHECK_RESULT, s);
    ck_assert_uint_eq(ev->nusers, 100);
    ck_assert_str_eq(ev->users[99].id, "user-99");
    event_destroy(ev);
    /* one more is one too many */
    cJSON *u = cJSON_CreateObject();
    cJSON_AddStringToObject(u, "id", "user-100");
    cJSON_AddItemToArray(users, u);
    cJSON_ReplaceItemInObjectCaseSensitive(root, "failing_count", cJSON_CreateNumber(101));
    cJSON_free(s);
    s = cJSON_PrintUnformatted(root);
    expect_error(EVENT_CHECK_RESULT, s, "failing_users: has 101 entries, at most 100 are allowed");
    cJSON_free(s);
    cJSON_Delete(root);
}
END_TEST

START_TEST(collection_good)
{
    event *ev = expect_ok(EVENT_COLLECTION, GOOD_COLLECTION);
    ck_assert_int_eq(ev->kind, EVENT_COLLECTION);
    ck_assert_str_eq(ev->tenant_id, "globex");
    ck_assert_str_eq(ev->integration_id, "okta-prod");
    ck_assert_str_eq(ev->integration_name, "Okta (prod)");
    ck_assert_str_eq(ev->integration_kind, "okta");
    ck_assert_int_eq(ev->trigger, TRIGGER_MANUAL);
    ck_assert(!ev->failed);
    ck_assert_int_eq(ev->started_at_ms, 1795856400000LL);
    ck_assert_int_eq(ev->finished_at_ms, 1795856400000LL + 150250);
    ck_assert_uint_eq(ev->nstats, 2);
    ck_assert_str_eq(ev->stats[0].name, "users");
    ck_assert_int_eq(ev->stats[0].value, 1234);
    ck_assert_str_eq(ev->stats[1].name, "groups");
    ck_assert_int_eq(ev->stats[1].value, 56);
    ck_assert_ptr_null(ev->error_code);
    event_destroy(ev);

    ev = expect_ok(EVENT_COLLECTION, FAILED_COLLECTION);
    ck_assert(ev->failed);
    ck_assert_int_eq(ev->trigger, TRIGGER_SCHEDULED);
    ck_assert_str_eq(ev->error_code, "auth_failed");
    ck_assert_str_eq(ev->error_message, "client secret expired");
    ck_assert_uint_eq(ev->nstats, 0);
    event_destroy(ev);

    /* An error on a success is allowed (and kept); stats are optional. */
    expect_edit_ok(EVENT_COLLECTION, "error", "{\"code\":\"partial\",\"message\":\"3 skipped\"}");
    expect_edit_ok(EVENT_COLLECTION, "stats", NULL);
    expect_edit_ok(EVENT_COLLECTION, "stats", "{}");
}
END_TEST

START_TEST(parse_any_dispatches_on_schema)
{
    char err[256];
    event *ev = NULL;
    ck_assert_int_eq(event_parse_any(GOOD_CHECK, strlen(GOOD_CHECK), &ev, err, sizeof err), 0);
    ck_assert_int_eq(ev->kind, EVENT_CHECK_RESULT);
    event_destroy(ev);
    ev = NULL;
    ck_assert_int_eq(
        event_parse_any(GOOD_COLLECTION, strlen(GOOD_COLLECTION), &ev, err, sizeof err), 0);
    ck_assert_int_eq(ev->kind, EVENT_COLLECTION);
    event_destroy(ev);
    ev = NULL;
    char *s = edit(GOOD_CHECK, "schema", "\"herald.check_result.v2\"");
    ck_assert_int_eq(event_parse_any(s, strlen(s), &ev, err, sizeof err), -1);
    ck_assert_str_eq(err,
                     "schema: must be one of herald.check_result.v1, herald.collection_event.v1");
    cJSON_free(s);
    ck_assert_int_eq(event_parse_any("{}", 2, &ev, err, sizeof err), -1);
    ck_assert_str_eq(err, "schema: missing");
    ck_assert_ptr_null(ev);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Bad check results, one field at a time                                   */
/* ------------------------------------------------------------------------ */

START_TEST(check_result_missing_fields)
{
    static const char *const required[] = {
        "schema",       "event_id",      "tenant_id",   "trigger",
        "check",        "check.type",    "check.name",  "check.severity",
        "evaluated_at", "failing_count", "total_count", "failing_users[1].id",
    };
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        char want[128];
        snprintf(want, sizeof want, "%s: missing", required[i]);
        if (strchr(required[i], '[')) {
            char *s = edit(GOOD_CHECK, "failing_users[1]", "{\"display_name\":\"x\"}");
            expect_error(EVENT_CHECK_RESULT, s, want);
            cJSON_free(s);
        } else {
            expect_edit_error(EVENT_CHECK_RESULT, required[i], NULL, want);
        }
    }
    /* null is as good as missing for a required field */
    expect_edit_error(EVENT_CHECK_RESULT, "tenant_id", "null", "tenant_id: missing");
}
END_TEST

START_TEST(check_result_wrong_types)
{
    expect_edit_error(EVENT_CHECK_RESULT, "schema", "1", "schema: must be a string");
    expect_edit_error(EVENT_CHECK_RESULT, "event_id", "42", "event_id: must be a UUID");
    expect_edit_error(EVENT_CHECK_RESULT, "event_id", "\"6f1c2b3a-0d4e-4f5a-8b6c\"",
                      "event_id: must be a UUID");
    expect_edit_error(EVENT_CHECK_RESULT, "event_id", "\"6f1c2b3a-0d4e-4f5a-8b6c-7d8e9f0a1b2g\"",
                      "event_id: must be a UUID");
    expect_edit_error(EVENT_CHECK_RESULT, "run_id", "\"run-7\"", "run_id: must be a UUID");
    expect_edit_error(EVENT_CHECK_RESULT, "tenant_id", "5", "tenant_id: must be a string");
    expect_edit_error(EVENT_CHECK_RESULT, "tenant_id", "\"\"", "tenant_id: must not be empty");
    expect_edit_error(EVENT_CHECK_RESULT, "tenant_id", "\"acme corp\"",
                      "tenant_id: must be at most 128 characters of A-Z a-z 0-9 . _ : -");
    char longid[140];
    memset(longid, 'a', sizeof longid);
    longid[0] = '"';
    longid[130] = '"';
    longid[131] = '\0'; /* 129 characters */
    expect_edit_error(EVENT_CHECK_RESULT, "tenant_id", longid,
                      "tenant_id: must be at most 128 characters of A-Z a-z 0-9 . _ : -");
    longid[129] = '"';
    longid[130] = '\0'; /* 128 characters: fine */
    expect_edit_ok(EVENT_CHECK_RESULT, "tenant_id", longid);
    expect_edit_error(EVENT_CHECK_RESULT, "check", "\"weak_mfa\"", "check: must be an object");
    expect_edit_error(EVENT_CHECK_RESULT, "check.type", "[\"weak_mfa\"]",
                      "check.type: must be a string");
    expect_edit_error(EVENT_CHECK_RESULT, "check.type", "\"weak,mfa\"",
                      "check.type: must be at most 128 characters of A-Z a-z 0-9 . _ : -");
    expect_edit_error(EVENT_CHECK_RESULT, "check.name", "\"\"", "check.name: must not be empty");
    expect_edit_error(EVENT_CHECK_RESULT, "check.name", "true", "check.name: must be a string");
    expect_edit_error(EVENT_CHECK_RESULT, "check.url", "\"javascript:alert(1)\"",
                      "check.url: must be an http or https URL of at most 2048 bytes");
    expect_edit_error(EVENT_CHECK_RESULT, "check.url", "\"https://x.example/a|b>c\"",
                      "check.url: must be an http or https URL of at most 2048 bytes");
    expect_edit_error(EVENT_CHECK_RESULT, "failing_count", "\"12\"",
                      "failing_count: must be a non-negative integer");
    expect_edit_error(EVENT_CHECK_RESULT, "failing_count", "1.5",
                      "failing_count: must be a non-negative integer");
    expect_edit_error(EVENT_CHECK_RESULT, "total_count", "1e300",
                      "total_count: must be a non-negative integer");
    expect_edit_error(EVENT_CHECK_RESULT, "failing_users", "{}", "failing_users: must be an array");
    expect_edit_error(EVENT_CHECK_RESULT, "failing_users[3]", "\"bob\"",
                      "failing_users[3]: must be an object");
    expect_edit_error(EVENT_CHECK_RESULT, "failing_users[3].id", "7",
                      "failing_users[3].id: must be a string");
    expect_edit_error(EVENT_CHECK_RESULT, "failing_users[0].display_name", "5",
                      "failing_users[0].display_name: must be a string");
    expect_edit_error(EVENT_CHECK_RESULT, "failing_users[2].email", "{}",
                      "failing_users[2].email: must be a string");
}
END_TEST

START_TEST(check_result_bad_enums)
{
    expect_edit_error(EVENT_CHECK_RESULT, "trigger", "\"cron\"",
                      "trigger: must be one of manual, scheduled");
    expect_edit_error(EVENT_CHECK_RESULT, "trigger", "1",
                      "trigger: must be one of manual, scheduled");
    expect_edit_error(EVENT_CHECK_RESULT, "check.severity", "\"urgent\"",
                      "check.severity: must be one of low, medium, high, critical");
    expect_edit_error(EVENT_CHECK_RESULT, "check.severity", "\"HIGH\"",
                      "check.severity: must be one of low, medium, high, critical");
}
END_TEST

START_TEST(check_result_bad_timestamps)
{
    static const char *const bad[] = {
        "\"2026-13-01T00:00:00Z\"",
        "\"yesterday\"",
        "\"2026-02-29T00:00:00Z\"",
        "\"2026-11-28 09:00:00Z\"",
        "\"2026-11-28T09:00:00\"",
        "\"\"",
        "1795856400",
        "\"2026-11-28\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        expect_edit_error(EVENT_CHECK_RESULT, "evaluated_at", bad[i],
                          "evaluated_at: must be an RFC 3339 timestamp like 2026-11-28T09:00:00Z");
}
END_TEST

START_TEST(check_result_bad_counts)
{
    expect_edit_error(EVENT_CHECK_RESULT, "failing_count", "-1",
                      "failing_count: must be a non-negative integer");
    expect_edit_error(EVENT_CHECK_RESULT, "total_count", "-480",
                      "total_count: must be a non-negative integer");
    expect_edit_error(EVENT_CHECK_RESULT, "failing_count", "481",
                      "failing_count: must not exceed total_count (481 > 480)");
    /* a sample larger than the truth it samples */
    expect_edit_error(EVENT_CHECK_RESULT, "failing_count", "3",
                      "failing_users: has 4 entries but failing_count is 3");
}
END_TEST

START_TEST(check_result_wrong_schema)
{
    expect_edit_error(EVENT_CHECK_RESULT, "schema", "\"herald.collection_event.v1\"",
                      "schema: must be herald.check_result.v1");
    expect_edit_error(EVENT_CHECK_RESULT, "schema", "\"herald.check_result.v2\"",
                      "schema: must be herald.check_result.v1");
    /* a perfectly good collection event is not a check result */
    expect_error(EVENT_CHECK_RESULT, GOOD_COLLECTION, "schema: must be herald.check_result.v1");
    expect_error(EVENT_COLLECTION, GOOD_CHECK, "schema: must be herald.collection_event.v1");
}
END_TEST

START_TEST(not_an_event)
{
    expect_error(EVENT_CHECK_RESULT, "", "(event): empty");
    expect_error(EVENT_CHECK_RESULT, " \t\r\n", "(event): empty");
    expect_error_len(EVENT_CHECK_RESULT, NULL, 0, "(event): empty");
    expect_error(EVENT_CHECK_RESULT, "{", "(event): not valid JSON");
    expect_error(EVENT_CHECK_RESULT, "nope", "(event): not valid JSON");
    expect_error(EVENT_CHECK_RESULT, "{\"schema\":\"herald.check_result.v1\",}",
                 "(event): not valid JSON");
    expect_error(EVENT_CHECK_RESULT, "{} {}", "(event): not valid JSON");
    expect_error(EVENT_CHECK_RESULT, "{}}", "(event): not valid JSON");
    expect_error(EVENT_CHECK_RESULT, "[]", "(event): must be a JSON object");
    expect_error(EVENT_CHECK_RESULT, "42", "(event): must be a JSON object");
    expect_error(EVENT_CHECK_RESULT, "\"str\"", "(event): must be a JSON object");
    expect_error(EVENT_CHECK_RESULT, "null", "(event): must be a JSON object");
    /* bytes JSON does not allow: a raw control character, broken UTF-8 */
    expect_error(EVENT_CHECK_RESULT, "{\"schema\":\"a\001b\"}",
                 "(event): not valid JSON (control character at byte 12)");
    expect_error_len(EVENT_CHECK_RESULT, "{\"a\":\"x\0y\"}", 11,
                     "(event): not valid JSON (control character at byte 7)");
    expect_error(EVENT_CHECK_RESULT, "{\"a\":\"\xc3\x28\"}", "(event): not valid UTF-8 (byte 6)");
    expect_error(EVENT_CHECK_RESULT, "{\"a\":\"\xed\xa0\x80\"}",
                 "(event): not valid UTF-8 (byte 6)"); /* a surrogate */
    expect_error(EVENT_CHECK_RESULT, "{\"a\":\"\xe2\x82", "(event): not valid UTF-8 (byte 6)");
    /* but real UTF-8 is fine */
    expect_edit_ok(EVENT_CHECK_RESULT, "check.name",
                   "\"Schwache MFA \xe2\x80\x93 \xf0\x9f\x94\x92\"");
    /* deep nesting is refused by the parser, not by the stack */
    char *deep = malloc(20001);
    memset(deep, '[', 10000);
    memset(deep + 10000, ']', 10000);
    deep[20000] = '\0';
    expect_error(EVENT_CHECK_RESULT, deep, "(event): not valid JSON");
    free(deep);
}
END_TEST

START_TEST(oversized_event)
{
    size_t n = 300000;
    char *big = malloc(n);
    memset(big, ' ', n);
    /* NOLINTNEXTLINE(bugprone-not-null-terminated-result): a length-delimited buffer */
    memcpy(big, GOOD_CHECK, strlen(GOOD_CHECK));
    expect_error_len(EVENT_CHECK_RESULT, big, n,
                     "(event): 300000 bytes exceeds the 262144-byte limit");
    /* exactly at the limit is not oversized */
    event *ev = NULL;
    char err[256];
    ck_assert_int_eq(event_parse(big, EVENT_MAX_BYTES, EVENT_CHECK_RESULT, &ev, err, sizeof err),
                     0);
    event_destroy(ev);
    expect_error_len(EVENT_CHECK_RESULT, big, EVENT_MAX_BYTES + 1,
                     "(event): 262145 bytes exceeds the 262144-byte limit");
    free(big);
}
END_TEST

START_TEST(small_error_buffer_is_safe)
{
    char err[8];
    event *ev = NULL;
    ck_assert_int_eq(event_parse("[]", 2, EVENT_CHECK_RESULT, &ev, err, sizeof err), -1);
    ck_assert_str_eq(err, "(event)");
    ck_assert_int_eq(event_parse("[]", 2, EVENT_CHECK_RESULT, &ev, NULL, 0), -1);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Bad collection events                                                     */
/* ------------------------------------------------------------------------ */

START_TEST(collection_bad_fields)
{
    static const char *const required[] = {
        "schema",         "event_id",         "tenant_id",        "integration",
        "integration.id", "integration.name", "integration.kind", "trigger",
        "status",         "started_at",       "finished_at",
    };
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        char want[128];
        snprintf(want, sizeof want, "%s: missing", required[i]);
        expect_edit_error(EVENT_COLLECTION, required[i], NULL, want);
    }
    expect_edit_error(EVENT_COLLECTION, "integration", "\"okta\"",
                      "integration: must be an object");
    expect_edit_error(EVENT_COLLECTION, "integration.name", "\"\"",
                      "integration.name: must not be empty");
    expect_edit_error(EVENT_COLLECTION, "integration.kind", "\"Okta Workforce\"",
                      "integration.kind: must be at most 128 characters of A-Z a-z 0-9 . _ : -");
    expect_edit_error(EVENT_COLLECTION, "status", "\"done\"",
                      "status: must be one of succeeded, failed");
    expect_edit_error(EVENT_COLLECTION, "trigger", "\"webhook\"",
                      "trigger: must be one of manual, scheduled");
    expect_edit_error(EVENT_COLLECTION, "started_at", "\"2026-11-28T25:00:00Z\"",
                      "started_at: must be an RFC 3339 timestamp like 2026-11-28T09:00:00Z");
    expect_edit_error(EVENT_COLLECTION, "finished_at", "\"2026-11-28T08:59:59Z\"",
                      "finished_at: must not be before started_at");
    expect_edit_error(EVENT_COLLECTION, "stats", "[1]", "stats: must be an object");
    expect_edit_error(EVENT_COLLECTION, "stats.users", "\"many\"",
                      "stats.users: must be an integer");
    expect_edit_error(EVENT_COLLECTION, "stats.groups", "2.5", "stats.groups: must be an integer");
    expect_edit_error(EVENT_COLLECTION, "error", "\"boom\"", "error: must be an object");
}
END_TEST

START_TEST(collection_failed_needs_error)
{
    char *s = edit(FAILED_COLLECTION, "error", NULL);
    expect_error(EVENT_COLLECTION, s, "error: missing (required when status is failed)");
    cJSON_free(s);
    s = edit(FAILED_COLLECTION, "error.code", NULL);
    expect_error(EVENT_COLLECTION, s, "error.code: missing");
    cJSON_free(s);
    s = edit(FAILED_COLLECTION, "error.message", NULL);
    expect_error(EVENT_COLLECTION, s, "error.message: missing");
    cJSON_free(s);
    s = edit(FAILED_COLLECTION, "error.code", "\"\"");
    expect_error(EVENT_COLLECTION, s, "error.code: must not be empty");
    cJSON_free(s);
    /* an empty message is allowed: the code says what happened */
    s = edit(FAILED_COLLECTION, "error.message", "\"\"");
    event_destroy(expect_ok(EVENT_COLLECTION, s));
    cJSON_free(s);
}
END_TEST

START_TEST(collection_too_many_stats)
{
    cJSON *root = cJSON_Parse(GOOD_COLLECTION);
    cJSON *stats = cJSON_CreateObject();
    for (int i = 0; i < EVENT_MAX_STATS + 1; i++) {
        char k[24];
        snprintf(k, sizeof k, "s%d", i);
        cJSON_AddNumberToObject(stats, k, i);
    }
    cJSON_ReplaceItemInObjectCaseSensitive(root, "stats", stats);
    char *s = cJSON_PrintUnformatted(root);
    expect_error(EVENT_COLLECTION, s, "stats: has 65 entries, at most 64 are allowed");
    cJSON_free(s);
    cJSON_Delete(root);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* RFC 3339                                                                  */
/* ------------------------------------------------------------------------ */

static int64_t t(const char *s)
{
    int64_t ms = 0;
    ck_assert_msg(event_parse_time(s, &ms), "rejected %s", s);
    return ms;
}

START_TEST(rfc3339_good)
{
    const int64_t base = 1795856400000LL; /* 2026-11-28T09:00:00Z */
    ck_assert_int_eq(t("2026-11-28T09:00:00Z"), base);
    ck_assert_int_eq(t("2026-11-28t09:00:00z"), base);
    ck_assert_int_eq(t("2026-11-28T11:00:00+02:00"), base);
    ck_assert_int_eq(t("2026-11-28T04:30:00-04:30"), base);
    ck_assert_int_eq(t("2026-11-28T09:00:00+00:00"), base);
    ck_assert_int_eq(t("2026-11-28T09:00:00-00:00"), base);
    ck_assert_int_eq(t("2026-11-28T09:00:00.5Z"), base + 500);
    ck_assert_int_eq(t("2026-11-28T09:00:00.05Z"), base + 50);
    ck_assert_int_eq(t("2026-11-28T09:00:00.123Z"), base + 123);
    ck_assert_int_eq(t("2026-11-28T09:00:00.123456789Z"), base + 123);
    ck_assert_int_eq(t("2026-11-28T10:00:00.999+01:00"), base + 999);
    ck_assert_int_eq(t("2026-11-29T00:30:00+15:30"), base);
    ck_assert_int_eq(t("2024-02-29T00:00:00Z"), 1709164800000LL);
    ck_assert_int_eq(t("2000-02-29T12:34:56Z"), 951827696000LL);
    ck_assert_int_eq(t("1970-01-01T00:00:00Z"), 0);
    ck_assert_int_eq(t("1969-12-31T23:59:59.999Z"), -1);
    ck_assert_int_eq(t("2026-12-31T23:59:60Z"), t("2027-01-01T00:00:00Z")); /* leap second */
}
END_TEST

START_TEST(rfc3339_bad)
{
    static const char *const bad[] = {
        "2026-13-01T00:00:00Z",
        "yesterday",
        "2026-00-10T00:00:00Z",
        "2026-11-31T00:00:00Z",
        "2026-02-29T00:00:00Z",
        "2100-02-29T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-11-28T24:00:00Z",
        "2026-11-28T09:60:00Z",
        "2026-11-28T09:00:61Z",
        "2026-11-28T09:00:00",
        "2026-11-28T09:00:00.Z",
        "2026-11-28T09:00:00+2:00",
        "2026-11-28T09:00:00+02",
        "2026-11-28T09:00:00+0200",
        "2026-11-28T09:00:00+24:00",
        "2026-11-28T09:00:00Z ",
        " 2026-11-28T09:00:00Z",
        "2026-11-28 09:00:00Z",
        "2026-11-28",
        "26-11-28T09:00:00Z",
        "2026-1-28T09:00:00Z",
        "2026-11-28T9:00:00Z",
        "",
        "2026-11-28T09:00:00ZZ",
        "+2026-11-28T09:00:00Z",
        "2026-11-28T09:00:00.1234567890Z", /* finer than nanoseconds */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t ms = 42;
        ck_assert_msg(!event_parse_time(bad[i], &ms), "accepted '%s'", bad[i]);
        ck_assert_int_eq(ms, 42);
    }
    ck_assert(!event_parse_time(NULL, NULL));
}
END_TEST

START_TEST(rfc3339_format_round_trip)
{
    char buf[EVENT_TIME_LEN];
    event_format_time(1795856400123LL, buf);
    ck_assert_str_eq(buf, "2026-11-28T09:00:00.123Z");
    event_format_time(0, buf);
    ck_assert_str_eq(buf, "1970-01-01T00:00:00.000Z");
    event_format_time(-1, buf);
    ck_assert_str_eq(buf, "1969-12-31T23:59:59.999Z");
    event_format_time(951827696000LL, buf);
    ck_assert_str_eq(buf, "2000-02-29T12:34:56.000Z");
    /* every format parses back to the same instant, across many dates */
    for (int64_t ms = -86400000LL * 365 * 3; ms < 86400000LL * 365 * 80;
         ms += 86400000LL * 7 + 3600123) {
        event_format_time(ms, buf);
        ck_assert_int_eq(t(buf), ms);
    }
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Routed deliveries                                                         */
/* ------------------------------------------------------------------------ */

static routed_delivery sample_delivery(void)
{
    routed_delivery d;
    memset(&d, 0, sizeof d);
    d.delivery_id = 9007199254740991LL; /* the largest exact JSON integer */
    snprintf(d.event_id, sizeof d.event_id, "6f1c2b3a-0d4e-4f5a-8b6c-7d8e9f0a1b2c");
    d.target_id = 42;
    d.tenant_id = "acme";
    d.team_id = "T0123ABCD";
    d.destination = "security-team@acme.example";
    d.destination_is_email = true;
    d.kind = EVENT_CHECK_RESULT;
    d.event_json = (char *)GOOD_CHECK;
    d.routed_at_ms = 1795856400123LL;
    return d;
}

START_TEST(routed_delivery_round_trip)
{
    routed_delivery d = sample_delivery();
    char *s = routed_delivery_encode(&d);
    ck_assert_ptr_nonnull(s);

    /* On the wire: the event is an object, not a string; routed_at has ms. */
    cJSON *wire = cJSON_Parse(s);
    ck_assert_ptr_nonnull(wire);
    ck_assert_str_eq(cJSON_GetObjectItem(wire, "schema")->valuestring, SCHEMA_ROUTED_DELIVERY);
    ck_assert(cJSON_IsObject(cJSON_GetObjectItem(wire, "event")));
    ck_assert_str_eq(cJSON_GetObjectItem(wire, "routed_at")->valuestring,
                     "2026-11-28T09:00:00.123Z");
    ck_assert_str_eq(cJSON_GetObjectItem(wire, "destination_kind")->valuestring, "email");
    ck_assert_str_eq(cJSON_GetObjectItem(wire, "kind")->valuestring, "check_result");

    char err[256] = "";
    routed_delivery *back = NULL;
    ck_assert_msg(routed_delivery_decode(s, strlen(s), &back, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(back->delivery_id, d.delivery_id);
    ck_assert_str_eq(back->event_id, d.event_id);
    ck_assert_int_eq(back->target_id, 42);
    ck_assert_str_eq(back->tenant_id, "acme");
    ck_assert_str_eq(back->team_id, "T0123ABCD");
    ck_assert_str_eq(back->destination, "security-team@acme.example");
    ck_assert(back->destination_is_email);
    ck_assert_int_eq(back->kind, EVENT_CHECK_RESULT);
    ck_assert_int_eq(back->routed_at_ms, d.routed_at_ms);
    /* the same event, semantically */
    cJSON *a = cJSON_Parse(GOOD_CHECK), *b = cJSON_Parse(back->event_json);
    ck_assert(cJSON_Compare(a, b, 1));
    cJSON_Delete(a);
    cJSON_Delete(b);
    /* and the sender can read it */
    event *ev = NULL;
    ck_assert_int_eq(routed_delivery_event(back, &ev, err, sizeof err), 0);
    ck_assert_str_eq(ev->check_type, "weak_mfa");
    ck_assert_str_eq(ev->users[0].display_name, "Ada <!channel>");
    event_destroy(ev);

    /* re-encoding the decoded delivery gives the same message */
    char *again = routed_delivery_encode(back);
    cJSON *w2 = cJSON_Parse(again);
    ck_assert(cJSON_Compare(wire, w2, 1));
    cJSON_Delete(w2);
    free(again);
    routed_delivery_destroy(back);
    cJSON_Delete(wire);
    free(s);

    /* a collection to a channel */
    d.kind = EVENT_COLLECTION;
    d.event_json = (char *)FAILED_COLLECTION;
    d.destination = "C0123CHAN";
    d.destination_is_email = false;
    d.delivery_id = 1;
    s = routed_delivery_encode(&d);
    ck_assert_int_eq(routed_delivery_decode(s, strlen(s), &back, err, sizeof err), 0);
    ck_assert(!back->destination_is_email);
    ck_assert_int_eq(back->kind, EVENT_COLLECTION);
    ck_assert_int_eq(routed_delivery_event(back, &ev, err, sizeof err), 0);
    ck_assert_str_eq(ev->error_code, "auth_failed");
    event_destroy(ev);
    routed_delivery_destroy(back);
    free(s);
    routed_delivery_destroy(NULL);
}
END_TEST

START_TEST(routed_delivery_encode_refuses_bad_input)
{
    routed_delivery d = sample_delivery();
    d.event_json = "not json";
    ck_assert_ptr_null(routed_delivery_encode(&d));
    d.event_json = NULL;
    ck_assert_ptr_null(routed_delivery_encode(&d));
    d = sample_delivery();
    d.event_id[0] = '\0';
    ck_assert_ptr_null(routed_delivery_encode(&d));
    ck_assert_ptr_null(routed_delivery_encode(NULL));
}
END_TEST

/* A resolve carries delivery_kind and ref_event_id; a notify carries neither
 * (its wire form is what it was before resolves existed). */
START_TEST(routed_delivery_resolve_round_trip)
{
    routed_delivery d = sample_delivery();
    char *s = routed_delivery_encode(&d);
    ck_assert_ptr_null(strstr(s, "delivery_kind"));
    free(s);
    d.delivery_kind = ROUTED_RESOLVE;
    ck_assert_ptr_null(routed_delivery_encode(&d)); /* a resolve needs its reference */
    snprintf(d.ref_event_id, sizeof d.ref_event_id, "0a0b0c0d-0e0f-4a1b-8c2d-3e4f5a6b7c8d");
    s = routed_delivery_encode(&d);
    ck_assert_ptr_nonnull(s);
    char err[256] = "";
    routed_delivery *back = NULL;
    ck_assert_msg(routed_delivery_decode(s, strlen(s), &back, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(back->delivery_kind, ROUTED_RESOLVE);
    ck_assert_str_eq(back->ref_event_id, d.ref_event_id);
    routed_delivery_destroy(back);
    free(s);
}
END_TEST

static void expect_delivery_error(const char *path, const char *value, const char *want)
{
    routed_delivery d = sample_delivery();
    char *good = routed_delivery_encode(&d);
    char *s = edit(good, path, value);
    free(good);
    char err[256] = "";
    routed_delivery *out = NULL;
    ck_assert_int_eq(routed_delivery_decode(s, strlen(s), &out, err, sizeof err), -1);
    ck_assert_ptr_null(out);
    ck_assert_str_eq(err, want);
    cJSON_free(s);
}

START_TEST(routed_delivery_decode_errors)
{
    expect_delivery_error("schema", "\"herald.check_result.v1\"",
                          "schema: must be herald.routed_delivery.v1");
    expect_delivery_error("schema", NULL, "schema: missing");
    expect_delivery_error("delivery_id", "0", "delivery_id: must be a positive integer");
    expect_delivery_error("delivery_id", "\"7\"", "delivery_id: must be a positive integer");
    expect_delivery_error("target_id", NULL, "target_id: missing");
    expect_delivery_error("event_id", "\"x\"", "event_id: must be a UUID");
    expect_delivery_error("team_id", "\"\"", "team_id: must not be empty");
    expect_delivery_error("destination", NULL, "destination: missing");
    expect_delivery_error("destination_kind", "\"sms\"",
                          "destination_kind: must be one of channel, email");
    expect_delivery_error("kind", "\"test\"",
                          "kind: must be one of check_result, collection_event");
    expect_delivery_error("kind", "\"collection_event\"",
                          "event.schema: must be herald.collection_event.v1 for kind "
                          "collection_event");
    expect_delivery_error("delivery_kind", "\"digest\"",
                          "delivery_kind: must be one of notify, resolve");
    expect_delivery_error("delivery_kind", "\"resolve\"", "ref_event_id: missing");
    expect_delivery_error("event", "\"{}\"", "event: must be an object");
    expect_delivery_error("event", NULL, "event: missing");
    expect_delivery_error("routed_at", "\"soon\"",
                          "routed_at: must be an RFC 3339 timestamp like 2026-11-28T09:00:00Z");

    char err[256];
    routed_delivery *out = NULL;
    ck_assert_int_eq(routed_delivery_decode("[1]", 3, &out, err, sizeof err), -1);
    ck_assert_str_eq(err, "(delivery): must be a JSON object");
    ck_assert_int_eq(routed_delivery_decode("{", 1, &out, err, sizeof err), -1);
    ck_assert_str_eq(err, "(delivery): not valid JSON");
}
END_TEST

START_TEST(names)
{
    ck_assert_str_eq(event_kind_name(EVENT_CHECK_RESULT), "check_result");
    ck_assert_str_eq(event_kind_name(EVENT_COLLECTION), "collection_event");
    ck_assert_str_eq(event_trigger_name(TRIGGER_SCHEDULED), "scheduled");
    ck_assert_str_eq(event_severity_name(SEV_CRITICAL), "critical");
    ck_assert_str_eq(event_schema_name(EVENT_COLLECTION), SCHEMA_COLLECTION_EVENT);
    ck_assert(event_is_identifier("okta-prod:eu_1.x"));
    ck_assert(!event_is_identifier(""));
    ck_assert(!event_is_identifier("a b"));
    ck_assert(!event_is_identifier("caf\xc3\xa9"));
}
END_TEST

/* Seeded mutations of valid events (bytes flipped, inserted, removed, cut):
 * the parser never crashes or reads out of bounds (run it under ASan), and
 * whatever it accepts still meets the contract. */
static void mutate_and_parse(const char *good, unsigned *seed)
{
    static const char inserts[] = "{}[]\",:0-1e.\\u\x00\xff\xc3 \ttruenull";
    size_t n = strlen(good);
    char *buf = malloc(n + 64);
    memcpy(buf, good, n); // NOLINT(bugprone-not-null-terminated-result): length-delimited
    int edits = 1 + rand_r(seed) % 4;
    for (int e = 0; e < edits && n > 0; e++) {
        // cppcheck-suppress zerodivcond ; n > 0 is the loop condition
        size_t at = (size_t)rand_r(seed) % n;
        switch (rand_r(seed) % 4) {
        case 0: /* flip */
            buf[at] = inserts[(size_t)rand_r(seed) % (sizeof inserts - 1)];
            break;
        case 1: /* insert */
            memmove(buf + at + 1, buf + at, n - at);
            buf[at] = inserts[(size_t)rand_r(seed) % (sizeof inserts - 1)];
            n++;
            break;
        case 2: /* remove */
            memmove(buf + at, buf + at + 1, n - at - 1);
            n--;
            break;
        default: /* cut */
            n = at;
        }
    }
    event *ev = NULL;
    char err[256] = "";
    /* An exact-length copy: reading one byte past it is an ASan report. */
    char *exact = malloc(n ? n : 1);
    memcpy(exact, buf, n);
    if (event_parse_any(exact, n, &ev, err, sizeof err) == 0) {
        ck_assert(event_is_identifier(ev->tenant_id));
        ck_assert_uint_le(ev->nusers, EVENT_MAX_SAMPLE_USERS);
        ck_assert(ev->kind != EVENT_CHECK_RESULT || ev->failing_count <= ev->total_count);
        event_destroy(ev);
    } else {
        ck_assert_msg(err[0] != '\0', "a rejection without a reason");
        ck_assert_msg(strstr(err, ": ") != NULL, "reason without a field: %s", err);
    }
    routed_delivery *d = NULL;
    if (routed_delivery_decode(exact, n, &d, err, sizeof err) == 0)
        routed_delivery_destroy(d);
    free(exact);
    free(buf);
}

START_TEST(mutated_events_never_crash)
{
    unsigned seed = 1129;
    for (int i = 0; i < 3000; i++)
        mutate_and_parse(i % 2 ? GOOD_CHECK : GOOD_COLLECTION, &seed);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Link hosts (issue 11)                                                     */
/* ------------------------------------------------------------------------ */

START_TEST(url_host_extraction)
{
    static const struct {
        const char *url, *host;
    } cases[] = {
        {"https://Herald.Acme.Example/checks/1", "herald.acme.example"},
        {"http://herald.acme.example:8443?x=1", "herald.acme.example"},
        {"https://herald.acme.example.#top", "herald.acme.example"},
        /* user info is not the host: the browser goes to evil.example */
        {"https://herald.acme.example@evil.example/", "evil.example"},
        {"https://a@b:c@evil.example:80/p@q", "evil.example"},
        {"https://[::1]:8080/x", "[::1]"},
        {"https://10.0.0.1/", "10.0.0.1"},
    };
    char host[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_msg(event_url_host(cases[i].url, host, sizeof host), "%s", cases[i].url);
        ck_assert_str_eq(host, cases[i].host);
    }
    ck_assert(!event_url_host("https:///path", host, sizeof host));
    ck_assert(!event_url_host("https://user@:80/", host, sizeof host));
    ck_assert(!event_url_host("no scheme", host, sizeof host));
    ck_assert(!event_url_host("https://long.example/", host, 5));
}
END_TEST

/* Parses GOOD_CHECK with check.url set to url (NULL: none) and checks it
 * against lh; returns event_check_link's answer, err its reason. */
static int link_check(const char *url, const event_link_hosts *lh, char *err, size_t n)
{
    char value[512];
    snprintf(value, sizeof value, "\"%s\"", url ? url : "");
    char *s = edit(GOOD_CHECK, "check.url", url ? value : "null");
    event *ev = expect_ok(EVENT_CHECK_RESULT, s);
    err[0] = '\0';
    int rc = event_check_link(ev, lh, err, n);
    event_destroy(ev);
    cJSON_free(s);
    return rc;
}

START_TEST(link_hosts_refuse_foreign_urls)
{
    event_link_config c = {.link_hosts = "herald.acme.example, *.ops.acme.example"};
    event_link_hosts lh;
    char err[512];
    ck_assert_int_eq(event_link_hosts_init(&lh, &c, err, sizeof err), 0);
    ck_assert(!lh.any);
    ck_assert_str_eq(lh.text, "herald.acme.example, *.ops.acme.example");

    ck_assert_int_eq(
        link_check("https://herald.acme.example/checks/weak_mfa", &lh, err, sizeof err), 0);
    ck_assert_int_eq(link_check("https://HERALD.acme.example:8443/", &lh, err, sizeof err), 0);
    ck_assert_int_eq(link_check("https://eu.ops.acme.example/x", &lh, err, sizeof err), 0);
    ck_assert_int_eq(link_check(NULL, &lh, err, sizeof err), 0); /* no link: nothing to check */

    ck_assert_int_eq(link_check("https://evil.example/login", &lh, err, sizeof err), -1);
    ck_assert_str_eq(err, "check.url: host 'evil.example' is not in HERALD_LINK_HOSTS "
                          "(herald.acme.example, *.ops.acme.example)");
    ck_assert_int_eq(link_check("https://herald.acme.example@evil.example/", &lh, err, sizeof err),
                     -1);
    ck_assert_ptr_nonnull(strstr(err, "'evil.example'"));
    /* a suffix match needs the dot: not a look-alike domain, not the apex */
    ck_assert_int_eq(link_check("https://evilops.acme.example/", &lh, err, sizeof err), -1);
    ck_assert_int_eq(link_check("https://ops.acme.example/", &lh, err, sizeof err), -1);
    ck_assert_int_eq(link_check("https://herald.acme.example.evil.example/", &lh, err, sizeof err),
                     -1);
    event_link_hosts_dispose(&lh);

    /* NULL allow-list: any host, as before */
    ck_assert_int_eq(link_check("https://evil.example/", NULL, err, sizeof err), 0);
}
END_TEST

START_TEST(link_hosts_defaults)
{
    event_link_hosts lh;
    char err[512];
    /* nothing configured: any host */
    event_link_config none = {0};
    ck_assert_int_eq(event_link_hosts_init(&lh, &none, err, sizeof err), 0);
    ck_assert(lh.any);
    ck_assert_int_eq(link_check("https://anywhere.example/", &lh, err, sizeof err), 0);
    event_link_hosts_dispose(&lh);

    /* the console's host, before the public URL's */
    event_link_config both = {.console_url = "https://Herald.Acme.Example:8443/console/",
                              .public_url = "https://api.acme.example"};
    ck_assert_int_eq(event_link_hosts_init(&lh, &both, err, sizeof err), 0);
    ck_assert(!lh.any);
    ck_assert_str_eq(lh.text, "herald.acme.example");
    ck_assert_int_eq(link_check("https://api.acme.example/", &lh, err, sizeof err), -1);
    ck_assert_str_eq(err, "check.url: host 'api.acme.example' is not in HERALD_LINK_HOSTS "
                          "(herald.acme.example)");
    event_link_hosts_dispose(&lh);

    event_link_config pub = {.console_url = "", .public_url = "http://api.acme.example"};
    ck_assert_int_eq(event_link_hosts_init(&lh, &pub, err, sizeof err), 0);
    ck_assert_str_eq(lh.text, "api.acme.example");
    event_link_hosts_dispose(&lh);

    /* set but empty: no links at all; '*': any */
    event_link_config empty = {.link_hosts = "", .console_url = "https://herald.acme.example"};
    ck_assert_int_eq(event_link_hosts_init(&lh, &empty, err, sizeof err), 0);
    ck_assert_int_eq(link_check("https://herald.acme.example/", &lh, err, sizeof err), -1);
    ck_assert_str_eq(err, "check.url: links are not allowed (HERALD_LINK_HOSTS is empty)");
    event_link_hosts_dispose(&lh);
    event_link_config star = {.link_hosts = " * "};
    ck_assert_int_eq(event_link_hosts_init(&lh, &star, err, sizeof err), 0);
    ck_assert(lh.any);
    event_link_hosts_dispose(&lh);

    /* bad values are usage errors naming the variable */
    event_link_config bad = {.link_hosts = "herald.acme.example,https://x.example"};
    ck_assert_int_eq(event_link_hosts_init(&lh, &bad, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "HERALD_LINK_HOSTS: 'https://x.example' is not a host name"));
    event_link_config badurl = {.console_url = "herald.acme.example"};
    ck_assert_int_eq(event_link_hosts_init(&lh, &badurl, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "HERALD_CONSOLE_URL: 'herald.acme.example'"));
}
END_TEST

TESTLIB_MAIN("event", "event", check_result_good, check_result_minimal, check_result_tolerances,
             collection_good, parse_any_dispatches_on_schema, check_result_missing_fields,
             check_result_wrong_types, check_result_bad_enums, check_result_bad_timestamps,
             check_result_bad_counts, check_result_wrong_schema, not_an_event, oversized_event,
             small_error_buffer_is_safe, collection_bad_fields, collection_failed_needs_error,
             collection_too_many_stats, rfc3339_good, rfc3339_bad, rfc3339_format_round_trip,
             routed_delivery_round_trip, routed_delivery_encode_refuses_bad_input,
             routed_delivery_resolve_round_trip, routed_delivery_decode_errors, names,
             mutated_events_never_crash, url_host_extraction, link_hosts_refuse_foreign_urls,
             link_hosts_defaults)
