/* Slack error classification: the table of slack-api.md and every answer shape. */
#include "common/slack.h"
#include "common/utf8.h"
#include "testlib.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

typedef struct row {
    const char *code;
    slack_class cls;
} row;

/* Every code of the table in shared/slack-api.md, by class. */
static const row table[] = {
    {"ratelimited", SLACK_RATE_LIMITED},
    {"rate_limited", SLACK_RATE_LIMITED},
    {"internal_error", SLACK_TRANSIENT},
    {"fatal_error", SLACK_TRANSIENT},
    {"service_unavailable", SLACK_TRANSIENT},
    {"request_timeout", SLACK_TRANSIENT},
    {"team_added_to_org", SLACK_TRANSIENT},
    {"invalid_auth", SLACK_INSTALLATION},
    {"not_authed", SLACK_INSTALLATION},
    {"account_inactive", SLACK_INSTALLATION},
    {"token_revoked", SLACK_INSTALLATION},
    {"token_expired", SLACK_INSTALLATION},
    {"invalid_refresh_token", SLACK_INSTALLATION},
    {"missing_scope", SLACK_INSTALLATION},
    {"no_permission", SLACK_INSTALLATION},
    {"access_denied", SLACK_INSTALLATION},
    {"team_access_not_granted", SLACK_INSTALLATION},
    {"app_access_restricted", SLACK_INSTALLATION},
    {"channel_not_found", SLACK_DESTINATION},
    {"not_in_channel", SLACK_DESTINATION},
    {"is_archived", SLACK_DESTINATION},
    {"restricted_action", SLACK_DESTINATION},
    {"restricted_action_read_only_channel", SLACK_DESTINATION},
    {"restricted_action_thread_only_channel", SLACK_DESTINATION},
    {"restricted_action_non_threadable_channel", SLACK_DESTINATION},
    {"messages_tab_disabled", SLACK_DESTINATION},
    {"team_not_found", SLACK_DESTINATION},
    {"users_not_found", SLACK_DESTINATION},
    {"user_not_found", SLACK_DESTINATION},
    {"no_text", SLACK_PAYLOAD},
    {"invalid_blocks", SLACK_PAYLOAD},
    {"invalid_blocks_format", SLACK_PAYLOAD},
    {"msg_blocks_too_long", SLACK_PAYLOAD},
    {"msg_too_long", SLACK_PAYLOAD},
    {"too_many_attachments", SLACK_PAYLOAD},
    {"invalid_arguments", SLACK_PAYLOAD},
    {"invalid_charset", SLACK_PAYLOAD},
    {"some_new_code", SLACK_UNKNOWN_PERMANENT},
    {"invalid_code", SLACK_UNKNOWN_PERMANENT},
    {"bad_client_secret", SLACK_UNKNOWN_PERMANENT},
    {"", SLACK_UNKNOWN_PERMANENT},
    {"restricted", SLACK_UNKNOWN_PERMANENT}, /* a prefix of restricted_action is not it */
};

START_TEST(table_classifies_every_code)
{
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        slack_class got = slack_error_classify(table[i].code);
        ck_assert_msg(got == table[i].cls, "%s: got %s, want %s", table[i].code,
                      slack_class_name(got), slack_class_name(table[i].cls));
    }
    ck_assert_int_eq(slack_error_classify(NULL), SLACK_UNKNOWN_PERMANENT);
    ck_assert(slack_class_is_retriable(SLACK_RATE_LIMITED));
    ck_assert(slack_class_is_retriable(SLACK_TRANSIENT));
    ck_assert(!slack_class_is_retriable(SLACK_INSTALLATION));
    ck_assert(!slack_class_is_retriable(SLACK_DESTINATION));
    ck_assert(!slack_class_is_retriable(SLACK_PAYLOAD));
    ck_assert(!slack_class_is_retriable(SLACK_UNKNOWN_PERMANENT));
    ck_assert_str_eq(slack_class_name(SLACK_INSTALLATION), "installation");
    ck_assert_str_eq(slack_class_name(SLACK_UNKNOWN_PERMANENT), "permanent");
}
END_TEST

/* Classifies a 200 answer {"ok":false,"error":code}. */
static slack_class classify_body(const char *body, slack_result *r)
{
    return slack_classify_response(200, NULL, body, strlen(body), r);
}

START_TEST(ok_false_codes_with_readable_reasons)
{
    slack_result r;
    slack_result_init(&r);
    ck_assert_int_eq(classify_body("{\"ok\":false,\"error\":\"not_in_channel\"}", &r),
                     SLACK_DESTINATION);
    ck_assert(!r.ok);
    ck_assert_str_eq(r.error, "not_in_channel");
    ck_assert_ptr_nonnull(strstr(r.reason, "invite @Herald"));
    ck_assert_int_eq(r.http_status, 200);

    ck_assert_int_eq(classify_body("{\"ok\":false,\"error\":\"token_revoked\"}", &r),
                     SLACK_INSTALLATION);
    ck_assert_ptr_nonnull(strstr(r.reason, "revoked"));
    ck_assert_ptr_nonnull(strstr(r.reason, "reinstall Herald"));

    ck_assert_int_eq(classify_body("{\"ok\":false,\"error\":\"users_not_found\"}", &r),
                     SLACK_DESTINATION);
    ck_assert_ptr_nonnull(strstr(r.reason, "email"));

    /* Unknown codes are permanent and recorded verbatim. */
    ck_assert_int_eq(classify_body("{\"ok\":false,\"error\":\"brand_new_failure\"}", &r),
                     SLACK_UNKNOWN_PERMANENT);
    ck_assert_str_eq(r.error, "brand_new_failure");
    ck_assert_ptr_nonnull(strstr(r.reason, "brand_new_failure"));

    /* ok:false without a code. */
    ck_assert_int_eq(classify_body("{\"ok\":false}", &r), SLACK_UNKNOWN_PERMANENT);
    ck_assert_str_eq(r.error, "unknown_error");

    /* A rate-limit code in a 200 answer waits too. */
    ck_assert_int_eq(classify_body("{\"ok\":false,\"error\":\"rate_limited\"}", &r),
                     SLACK_RATE_LIMITED);
    ck_assert_int_ge(r.retry_after_ms, 1000);
    ck_assert_int_lt(r.retry_after_ms, 2000);

    ck_assert_int_eq(classify_body("{\"ok\":false,\"error\":\"internal_error\"}", &r),
                     SLACK_TRANSIENT);
    ck_assert_ptr_nonnull(strstr(r.reason, "may have been posted"));
    slack_result_dispose(&r);
}
END_TEST

START_TEST(http_429_with_and_without_retry_after)
{
    slack_result r;
    slack_result_init(&r);
    const char *body = "{\"ok\":false,\"error\":\"ratelimited\"}";
    ck_assert_int_eq(slack_classify_response(429, "30", body, strlen(body), &r),
                     SLACK_RATE_LIMITED);
    ck_assert_int_eq(r.retry_after_ms, 30000);
    ck_assert_str_eq(r.error, "ratelimited");
    ck_assert_int_eq(r.http_status, 429);

    /* Header with spaces and CRLF, as it arrives from the header callback. */
    ck_assert_int_eq(slack_classify_response(429, " 7\r\n", body, strlen(body), &r),
                     SLACK_RATE_LIMITED);
    ck_assert_int_eq(r.retry_after_ms, 7000);

    /* Missing header: 1 s plus jitter (under 2 s), and not always the same value. */
    int seen_min = 1 << 30, seen_max = 0;
    for (int i = 0; i < 50; i++) {
        ck_assert_int_eq(slack_classify_response(429, NULL, body, strlen(body), &r),
                         SLACK_RATE_LIMITED);
        ck_assert_int_ge(r.retry_after_ms, 1000);
        ck_assert_int_lt(r.retry_after_ms, 2000);
        seen_min = r.retry_after_ms < seen_min ? r.retry_after_ms : seen_min;
        seen_max = r.retry_after_ms > seen_max ? r.retry_after_ms : seen_max;
    }
    ck_assert_int_lt(seen_min, seen_max);

    /* 429 with no body or an odd body is still rate limiting, never permanent. */
    ck_assert_int_eq(slack_classify_response(429, "2", "", 0, &r), SLACK_RATE_LIMITED);
    ck_assert_str_eq(r.error, "ratelimited");
    ck_assert_int_eq(r.retry_after_ms, 2000);
    const char *odd = "{\"ok\":false,\"error\":\"channel_not_found\"}";
    ck_assert_int_eq(slack_classify_response(429, "1", odd, strlen(odd), &r), SLACK_RATE_LIMITED);

    /* Retry-After 0, or a date already past, waits like a missing header (found by
     * fuzz_slack: a zero wait made a caller retry at once). */
    ck_assert_int_eq(slack_classify_response(429, "0", body, strlen(body), &r), SLACK_RATE_LIMITED);
    ck_assert_int_ge(r.retry_after_ms, 1000);
    ck_assert_int_eq(
        slack_classify_response(429, "Wed, 21 Oct 2015 07:28:00 GMT", body, strlen(body), &r),
        SLACK_RATE_LIMITED);
    ck_assert_int_ge(r.retry_after_ms, 1000);

    /* A garbage header counts as missing; a huge one is capped at a day. */
    ck_assert_int_eq(slack_classify_response(429, "soon", body, strlen(body), &r),
                     SLACK_RATE_LIMITED);
    ck_assert_int_ge(r.retry_after_ms, 1000);
    ck_assert_int_lt(r.retry_after_ms, 2000);
    ck_assert_int_eq(slack_classify_response(429, "99999999999", body, strlen(body), &r),
                     SLACK_RATE_LIMITED);
    ck_assert_int_eq(r.retry_after_ms, 86400 * 1000);
    slack_result_dispose(&r);
}
END_TEST

START_TEST(http_5xx_with_html_body_is_transient)
{
    slack_result r;
    slack_result_init(&r);
    const char *html = "<html><body><h1>503 Service Unavailable</h1></body></html>";
    ck_assert_int_eq(slack_classify_response(503, NULL, html, strlen(html), &r), SLACK_TRANSIENT);
    ck_assert_str_eq(r.error, "http_503");
    ck_assert_ptr_null(r.json);
    ck_assert_int_eq(r.retry_after_ms, 0);
    /* A Retry-After on a 503 is passed on as a hint. */
    ck_assert_int_eq(slack_classify_response(502, "5", html, strlen(html), &r), SLACK_TRANSIENT);
    ck_assert_str_eq(r.error, "http_502");
    ck_assert_int_eq(r.retry_after_ms, 5000);
    /* Even a JSON body with a permanent-looking code: 5xx is Slack's problem. */
    const char *j = "{\"ok\":false,\"error\":\"invalid_auth\"}";
    ck_assert_int_eq(slack_classify_response(500, NULL, j, strlen(j), &r), SLACK_TRANSIENT);
    /* Other statuses without Slack's JSON are permanent, named by status. */
    ck_assert_int_eq(slack_classify_response(404, NULL, "not found", 9, &r),
                     SLACK_UNKNOWN_PERMANENT);
    ck_assert_str_eq(r.error, "http_404");
    ck_assert_int_eq(slack_classify_response(408, NULL, "", 0, &r), SLACK_TRANSIENT);
    slack_result_dispose(&r);
}
END_TEST

START_TEST(ok_true_with_warning_and_fields)
{
    slack_result r;
    slack_result_init(&r);
    const char *body =
        "{\"ok\":true,\"channel\":\"C123\",\"ts\":\"1503435956.000247\","
        "\"message\":{\"text\":\"hi\"},\"warning\":\"missing_charset\","
        "\"response_metadata\":{\"warnings\":[\"missing_charset\",\"superfluous_charset\"]}}";
    ck_assert_int_eq(classify_body(body, &r), SLACK_OK);
    ck_assert(r.ok);
    ck_assert_str_eq(r.error, "");
    ck_assert_str_eq(r.reason, "");
    ck_assert_str_eq(r.channel, "C123");
    ck_assert_str_eq(r.ts, "1503435956.000247");
    ck_assert_str_eq(r.warning, "missing_charset,superfluous_charset");
    ck_assert_ptr_nonnull(r.json);
    ck_assert_int_eq(r.retry_after_ms, 0);

    const char *auth = "{\"ok\":true,\"url\":\"https://x.slack.com/\",\"team\":\"Acme\","
                       "\"user\":\"herald\",\"team_id\":\"T1\",\"user_id\":\"U9\",\"bot_id\":"
                       "\"B9\"}";
    ck_assert_int_eq(classify_body(auth, &r), SLACK_OK);
    ck_assert_str_eq(r.team, "Acme");
    ck_assert_str_eq(r.team_id, "T1");
    ck_assert_str_eq(r.user_id, "U9");
    ck_assert_str_eq(r.bot_id, "B9");
    ck_assert_str_eq(r.warning, "");

    const char *lookup = "{\"ok\":true,\"user\":{\"id\":\"U42\",\"profile\":{\"email\":\"a@b\"}}}";
    ck_assert_int_eq(classify_body(lookup, &r), SLACK_OK);
    ck_assert_str_eq(r.user_id, "U42");

    const char *info = "{\"ok\":true,\"channel\":{\"id\":\"G7\",\"name\":\"secops\","
                       "\"is_private\":true,\"is_archived\":false,\"is_member\":true}}";
    ck_assert_int_eq(classify_body(info, &r), SLACK_OK);
    ck_assert_str_eq(r.channel, "G7");
    ck_assert_str_eq(r.channel_name, "secops");
    ck_assert_int_eq(r.is_private, 1);
    ck_assert_int_eq(r.is_archived, 0);
    ck_assert_int_eq(r.is_member, 1);

    const char *oauth =
        "{\"ok\":true,\"access_token\":\"xoxb-secret\",\"token_type\":\"bot\",\"scope\":"
        "\"chat:write\",\"bot_user_id\":\"U0B\",\"app_id\":\"A1\",\"team\":{\"id\":\"T5\","
        "\"name\":\"Five\"},\"enterprise\":null,\"authed_user\":{\"id\":\"U1\"}}";
    ck_assert_int_eq(classify_body(oauth, &r), SLACK_OK);
    ck_assert_str_eq(r.team_id, "T5");
    ck_assert_str_eq(r.team, "Five");
    ck_assert_str_eq(r.bot_user_id, "U0B");
    ck_assert_str_eq(r.scope, "chat:write");
    ck_assert_str_eq(slack_result_access_token(&r), "xoxb-secret");
    ck_assert_ptr_null(slack_result_refresh_token(&r));

    const char *list = "{\"ok\":true,\"channels\":[],\"response_metadata\":{\"next_cursor\":"
                       "\"abc=\"}}";
    ck_assert_int_eq(classify_body(list, &r), SLACK_OK);
    ck_assert_str_eq(r.next_cursor, "abc=");
    slack_result_dispose(&r);
    slack_result_dispose(&r); /* twice is harmless */
    slack_result_dispose(NULL);
}
END_TEST

/* Token rotation: oauth.v2.access answers refresh_token and expires_in; a
 * lifetime is taken only as a positive whole number of seconds. */
START_TEST(rotation_fields)
{
    slack_result r;
    slack_result_init(&r);
    const char *rot = "{\"ok\":true,\"access_token\":\"xoxe.xoxb-1-new\",\"token_type\":\"bot\","
                      "\"refresh_token\":\"xoxe-1-refresh\",\"expires_in\":43200,"
                      "\"team\":{\"id\":\"T5\",\"name\":\"Five\"}}";
    ck_assert_int_eq(classify_body(rot, &r), SLACK_OK);
    ck_assert_str_eq(slack_result_access_token(&r), "xoxe.xoxb-1-new");
    ck_assert_str_eq(slack_result_refresh_token(&r), "xoxe-1-refresh");
    ck_assert_int_eq(r.expires_in, 43200);
    ck_assert_ptr_null(strstr(r.reason, "xoxe"));
    const char *bad[] = {
        "{\"ok\":true,\"expires_in\":\"43200\"}", "{\"ok\":true,\"expires_in\":-5}",
        "{\"ok\":true,\"expires_in\":0}",         "{\"ok\":true,\"expires_in\":1.5}",
        "{\"ok\":true,\"expires_in\":1e12}",      "{\"ok\":true}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ck_assert_int_eq(classify_body(bad[i], &r), SLACK_OK);
        ck_assert_msg(r.expires_in == 0, "%s: expires_in %ld", bad[i], r.expires_in);
    }
    ck_assert_int_eq(classify_body("{\"ok\":false,\"error\":\"invalid_refresh_token\"}", &r),
                     SLACK_INSTALLATION);
    ck_assert_ptr_nonnull(strstr(r.reason, "reinstall"));
    slack_result_dispose(&r);
}
END_TEST

/* Regression: a long name was cut at the byte, which could split a UTF-8
 * character; herald-api stored the cut team name and PostgreSQL refused it. */
START_TEST(long_names_are_cut_between_characters)
{
    char body[2048], name[262];
    for (int i = 0; i < 130; i++) { /* 260 bytes of 'é' */
        name[2 * i] = '\xc3';
        name[2 * i + 1] = '\xa9';
    }
    memcpy(name + 260, "Z", 2);
    snprintf(body, sizeof body,
             "{\"ok\":true,\"team\":\"A%s\",\"channel\":{\"id\":\"C1\",\"name\":\"%s\"}}", name,
             name);
    slack_result r;
    slack_result_init(&r);
    ck_assert_int_eq(classify_body(body, &r), SLACK_OK);
    ck_assert(utf8_valid_str(r.team));
    ck_assert(utf8_valid_str(r.channel_name));
    ck_assert_uint_eq(strlen(r.team), 255); /* "A" + 127 whole characters */
    ck_assert_uint_eq(strlen(r.channel_name), 254);
    slack_result_dispose(&r);
}
END_TEST

START_TEST(invalid_json_bodies)
{
    slack_result r;
    slack_result_init(&r);
    ck_assert_int_eq(classify_body("{\"ok\":tru", &r), SLACK_TRANSIENT);
    ck_assert_str_eq(r.error, "invalid_response");
    ck_assert_ptr_null(r.json);
    ck_assert_int_eq(classify_body("[1,2,3]", &r), SLACK_TRANSIENT);
    ck_assert_int_eq(classify_body("{\"no_ok_field\":1}", &r), SLACK_TRANSIENT);
    ck_assert_int_eq(classify_body("{\"ok\":\"true\"}", &r), SLACK_TRANSIENT);
    ck_assert_int_eq(slack_classify_response(200, NULL, "", 0, &r), SLACK_TRANSIENT);
    ck_assert_int_eq(slack_classify_response(200, NULL, NULL, 0, &r), SLACK_TRANSIENT);
    /* A body that is not NUL-terminated is read only up to len. */
    const char buf[] = {'{', '"', 'o', 'k', '"', ':', 't', 'r', 'u', 'e', '}', 'X', 'X'};
    ck_assert_int_eq(slack_classify_response(200, NULL, buf, 11, &r), SLACK_OK);
    slack_result_dispose(&r);
}
END_TEST

START_TEST(transport_failures)
{
    slack_result r;
    slack_result_init(&r);
    ck_assert_int_eq(slack_classify_curl(CURLE_OPERATION_TIMEDOUT, NULL, 0, &r), SLACK_TRANSIENT);
    ck_assert_str_eq(r.error, "timeout");
    ck_assert_int_eq(slack_classify_curl(CURLE_COULDNT_CONNECT, "Connection refused", 0, &r),
                     SLACK_TRANSIENT);
    ck_assert_str_eq(r.error, "connection_failed");
    ck_assert_ptr_nonnull(strstr(r.reason, "Connection refused"));
    ck_assert_int_eq(slack_classify_curl(CURLE_COULDNT_RESOLVE_HOST, NULL, 0, &r), SLACK_TRANSIENT);
    ck_assert_str_eq(r.error, "connection_failed");
    ck_assert_int_eq(slack_classify_curl(CURLE_GOT_NOTHING, NULL, 0, &r), SLACK_TRANSIENT);
    ck_assert_str_eq(r.error, "connection_closed");
    ck_assert_int_eq(slack_classify_curl(CURLE_RECV_ERROR, NULL, 0, &r), SLACK_TRANSIENT);
    ck_assert_str_eq(r.error, "connection_error");
    ck_assert_int_eq(slack_classify_curl(CURLE_WRITE_ERROR, NULL, 1024, &r),
                     SLACK_UNKNOWN_PERMANENT);
    ck_assert_str_eq(r.error, "response_too_large");
    ck_assert_int_eq(slack_classify_curl(CURLE_URL_MALFORMAT, NULL, 0, &r),
                     SLACK_UNKNOWN_PERMANENT);
    ck_assert_str_eq(r.error, "bad_api_url");
    ck_assert_int_eq(slack_classify_curl(CURLE_SSL_CONNECT_ERROR, NULL, 0, &r), SLACK_TRANSIENT);
    ck_assert_str_eq(r.error, "tls_error");
    slack_result_dispose(&r);
}
END_TEST

START_TEST(token_never_reaches_the_result)
{
    /* A request carries the token only in its header list; its answer never echoes it. */
    slack_request *req =
        slack_request_new("http://127.0.0.1:9/api/", "auth.test", "xoxb-very-secret", "{}");
    ck_assert_ptr_nonnull(req);
    ck_assert_str_eq(slack_request_method(req), "auth.test");
    ck_assert_ptr_eq(slack_request_from_easy(slack_request_easy(req)), req);
    int tag = 0;
    slack_request_set_user(req, &tag);
    ck_assert_ptr_eq(slack_request_user(req), &tag);
    slack_request_set_timeouts(req, 500, 1000);
    slack_result r;
    slack_result_init(&r);
    /* Port 9 (discard) on loopback is closed here: a connection failure, transient. */
    ck_assert_int_eq(slack_request_perform(req, &r), SLACK_TRANSIENT);
    ck_assert_ptr_null(strstr(r.reason, "xoxb"));
    ck_assert_ptr_null(strstr(r.error, "xoxb"));
    slack_result_dispose(&r);
    slack_request_destroy(req);
    slack_request_destroy(NULL);
}
END_TEST

TESTLIB_MAIN("slack_errors", "slack_errors", table_classifies_every_code,
             ok_false_codes_with_readable_reasons, http_429_with_and_without_retry_after,
             http_5xx_with_html_body_is_transient, ok_true_with_warning_and_fields,
             invalid_json_bodies, transport_failures, token_never_reaches_the_result,
             long_names_are_cut_between_characters, rotation_fields)
