/*
 * libFuzzer target: the classification of Slack's answers (common/slack.c),
 * what the sender, herald-api and heraldctl decide from: slack_classify_response
 * on an arbitrary HTTP status, Retry-After header and body (JSON or not:
 * parse_fields reads every method's fields), slack_error_classify on the body
 * as an error code, and slack_classify_curl with a transfer error. Input: a
 * status byte pair, a Retry-After length byte (255: no header) and the header,
 * then the body. Asserts what callers rely on: a known class, ok only with
 * SLACK_OK, a positive wait when rate limited, NUL-terminated text fields.
 */
#include "tests/fuzz/fuzz.h"

#include "common/slack.h"

#include <limits.h>
#include <stdio.h>

static const long statuses[] = {200, 201, 204, 301, 400, 403, 404, 408,      413,     429,
                                500, 502, 503, 0,   -1,  599, 600, LONG_MAX, LONG_MIN};

static void check(const slack_result *r)
{
    if ((unsigned)r->cls > SLACK_UNKNOWN_PERMANENT || !slack_class_name(r->cls))
        abort();
    if (r->ok != (r->cls == SLACK_OK))
        abort();
    if (r->cls == SLACK_RATE_LIMITED && r->retry_after_ms <= 0)
        abort();
    if (r->retry_after_ms < 0 || r->retry_after_ms > 86400 * 1000 + 1000)
        abort();
    if (!r->ok && !r->error[0])
        abort();
    /* Every fixed-size field is a C string (strnlen < size). */
    if (strnlen(r->error, sizeof r->error) == sizeof r->error ||
        strnlen(r->reason, sizeof r->reason) == sizeof r->reason ||
        strnlen(r->warning, sizeof r->warning) == sizeof r->warning ||
        strnlen(r->channel, sizeof r->channel) == sizeof r->channel ||
        strnlen(r->ts, sizeof r->ts) == sizeof r->ts ||
        strnlen(r->team, sizeof r->team) == sizeof r->team ||
        strnlen(r->scope, sizeof r->scope) == sizeof r->scope ||
        strnlen(r->next_cursor, sizeof r->next_cursor) == sizeof r->next_cursor ||
        strnlen(r->channel_name, sizeof r->channel_name) == sizeof r->channel_name)
        abort();
    if (r->is_private < -1 || r->is_private > 1 || r->expires_in < 0)
        abort();
    (void)slack_result_access_token(r);
    (void)slack_result_refresh_token(r);
    (void)slack_class_is_retriable(r->cls);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t s0 = fuzz_byte(&data, &size), s1 = fuzz_byte(&data, &size);
    long status = s0 < 128 ? statuses[s0 % (sizeof statuses / sizeof statuses[0])]
                           : (long)((s0 & 0x7f) << 8 | s1) - 1000;
    uint8_t ral = fuzz_byte(&data, &size);
    char *retry_after = NULL;
    if (ral != 255) {
        size_t n = ral < size ? ral : size;
        retry_after = fuzz_cstr(data, n);
        data += n;
        size -= n;
    }
    /* The body exactly as long as it is: no NUL after it to lean on. */
    char *body = size ? malloc(size) : NULL;
    if (size)
        memcpy(body, data, size);

    slack_result r;
    slack_result_init(&r);
    slack_class c = slack_classify_response(status, retry_after, body, size, &r);
    if (c != r.cls)
        abort();
    check(&r);
    /* A result is reused: classify again over the previous one. */
    slack_classify_response(status, NULL, body, size, &r);
    check(&r);

    char *code = fuzz_cstr(data, size);
    if ((unsigned)slack_error_classify(code) > SLACK_UNKNOWN_PERMANENT)
        abort();
    slack_classify_curl((CURLcode)(s1 % (CURL_LAST + 1)), code, s0 & 1 ? 1024 : 0, &r);
    check(&r);
    if (r.ok || !slack_class_is_retriable(r.cls) != (r.cls != SLACK_TRANSIENT))
        abort();
    slack_result_dispose(&r);
    free(code);
    free(body);
    free(retry_after);
    return 0;
}
