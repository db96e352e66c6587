/*
 * libFuzzer target: event parsing and validation (common/event.c). The input
 * is an event's bytes as they arrive from Kafka: event_parse_any (kind from
 * its "schema"), then event_parse for each kind forced, then the accessors of
 * a parsed event. Also event_parse_time on the input as a string. Asserts
 * the contract's invariants of a parsed event (limits, required fields).
 */
#include "tests/fuzz/fuzz.h"

#include "common/event.h"

#include <stdio.h>

static void check_event(const event *ev)
{
    char t[EVENT_TIME_LEN];
    if (!ev->tenant_id || !event_is_identifier(ev->tenant_id))
        abort();
    if (ev->kind == EVENT_CHECK_RESULT) {
        if (!ev->check_type || !ev->check_name || ev->nusers > EVENT_MAX_SAMPLE_USERS)
            abort();
        if (ev->failing_count < 0 || ev->total_count < 0)
            abort();
        for (size_t i = 0; i < ev->nusers; i++)
            if (!ev->users[i].id)
                abort();
        if (ev->check_url && strlen(ev->check_url) > EVENT_MAX_URL)
            abort();
        event_format_time(ev->evaluated_at_ms, t);
    } else {
        if (!ev->integration_id || !ev->integration_name || !ev->integration_kind)
            abort();
        if (ev->nstats > EVENT_MAX_STATS)
            abort();
        for (size_t i = 0; i < ev->nstats; i++)
            if (!ev->stats[i].name)
                abort();
        event_format_time(ev->started_at_ms, t);
        event_format_time(ev->finished_at_ms, t);
    }
    (void)event_kind_name(ev->kind);
    (void)event_schema_name(ev->kind);
    (void)event_trigger_name(ev->trigger);
    (void)event_severity_name(ev->severity);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512];
    event *ev = NULL;
    const char *buf = (const char *)data;
    if (event_parse_any(buf, size, &ev, err, sizeof err) == 0) {
        check_event(ev);
        event_destroy(ev);
    } else if (!err[0]) {
        abort(); /* a refusal always says why */
    }
    for (int k = EVENT_CHECK_RESULT; k <= EVENT_COLLECTION; k++) {
        ev = NULL;
        if (event_parse(buf, size, (event_kind)k, &ev, err, sizeof err) == 0) {
            if (ev->kind != (event_kind)k)
                abort();
            check_event(ev);
            event_destroy(ev);
        }
    }
    /* A time as text: parse, then format and parse back to the same instant. */
    if (size < 64) {
        char *s = fuzz_cstr(data, size);
        int64_t ms, again;
        if (event_parse_time(s, &ms)) {
            char t[EVENT_TIME_LEN];
            event_format_time(ms, t);
            if (!event_parse_time(t, &again) || again != ms) {
                fprintf(stderr, "time '%s' -> %lld -> '%s' does not round-trip\n", s, (long long)ms,
                        t);
                abort();
            }
        }
        free(s);
    }
    return 0;
}
