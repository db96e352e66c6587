/*
 * libFuzzer target: rendering (common/render.c) of every message kind from
 * parsed events. The input is 4 knob bytes, then one or more events separated
 * by newlines (each through event_parse_any; those refused are skipped). The
 * knobs pick the opts (console URL, action buttons with a value, nudge
 * button) and the marks (resolved, acknowledged, snoozed, muted, nudge counts;
 * user ids from a list with hostile ones). Each valid event is rendered as a
 * check result / collection, a repeat, a resolved reply and a nudge; all of
 * them together as a digest; plus a test message. Every output must be a
 * JSON array within Slack's limits (render.h) with a non-empty fallback.
 * The render_escape_* helpers and render_cut_point run on the raw input too.
 */
#include "tests/fuzz/fuzz.h"

#include "common/event.h"
#include "common/render.h"
#include "common/utf8.h"

#include <cjson/cJSON.h>
#include <stdio.h>

#define MAX_EVENTS 64

static const char *const users[] = {NULL, "U0ALICE", "W123ABC", "U1>\"<!channel>", "", "u"};
static const char *const urls[] = {NULL, "https://herald.example.com/console",
                                   "javascript:alert(1)", "https://h.example/<x>&y"};
static const char *const values[] = {NULL, "0b6e8a1c-1f7a-4c36-9d55-1c0f0e8b7a11:7", "x\"><@U1>",
                                     ""};

static void fail(const char *what, const render_output *o)
{
    fprintf(stderr, "render: %s\nblocks: %s\ntext: %s\n", what,
            o->blocks_json ? o->blocks_json : "(null)", o->text ? o->text : "(null)");
    abort();
}

/* Sums the UTF-16 units of every "text" string under j; checks each header
 * and section text on the way. */
static size_t walk(const cJSON *j, const char *block_type, const render_output *o)
{
    size_t total = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, j)
    {
        if (cJSON_IsString(c) && c->string && strcmp(c->string, "text") == 0) {
            if (!utf8_valid_str(c->valuestring))
                fail("text is not valid UTF-8", o);
            size_t u = render_text_units(c->valuestring);
            if (block_type && strcmp(block_type, "header") == 0 && u > RENDER_MAX_HEADER_CHARS)
                fail("header too long", o);
            if (u > RENDER_MAX_SECTION_CHARS)
                fail("a text over 3000 characters", o);
            total += u;
        } else if (cJSON_IsObject(c) || cJSON_IsArray(c)) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(c, "type");
            total += walk(c, cJSON_IsString(t) ? t->valuestring : block_type, o);
        }
    }
    return total;
}

static void check_output(int rc, render_output *o)
{
    if (rc != 0) {
        render_output_dispose(o);
        return;
    }
    if (!o->text || !o->text[0])
        fail("empty fallback text", o);
    if (!utf8_valid_str(o->text))
        fail("fallback text is not valid UTF-8", o);
    if (render_text_units(o->text) > RENDER_MAX_TEXT_CHARS)
        fail("fallback text too long", o);
    cJSON *b = o->blocks_json ? cJSON_Parse(o->blocks_json) : NULL;
    if (!cJSON_IsArray(b))
        fail("blocks are not a JSON array", o);
    if (cJSON_GetArraySize(b) > RENDER_MAX_BLOCKS)
        fail("too many blocks", o);
    if (walk(b, NULL, o) > RENDER_MAX_TOTAL_CHARS)
        fail("too much text in blocks", o);
    cJSON_Delete(b);
    render_output_dispose(o);
}

static void helpers(const uint8_t *data, size_t size, uint8_t k)
{
    char *s = fuzz_cstr(data, size);
    char *e[3] = {render_escape_mrkdwn(s), render_escape_entities(s), render_escape_text(s)};
    for (int i = 0; i < 3; i++) {
        if (!utf8_valid_str(e[i]) || strchr(e[i], '<') || strchr(e[i], '>'))
            abort(); /* escaped text has no raw < or > and is valid UTF-8 */
        size_t max = (size_t)k * 3;
        size_t cut = render_cut_point(e[i], max);
        if (cut > strlen(e[i]))
            abort();
        char saved = e[i][cut];
        e[i][cut] = '\0';
        if (render_text_units(e[i]) > max || !utf8_valid_str(e[i]))
            abort();
        e[i][cut] = saved;
        free(e[i]);
    }
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t k0 = fuzz_byte(&data, &size), k1 = fuzz_byte(&data, &size);
    uint8_t k2 = fuzz_byte(&data, &size), k3 = fuzz_byte(&data, &size);
    if (size < 4096)
        helpers(data, size, k3);

    render_marks mk = {0};
    if (k1 & 1)
        mk.resolved_at_ms = 1795773600000LL + k2;
    mk.acked_by = users[(k1 >> 1) % 6];
    if (mk.acked_by && (k1 & 8))
        mk.acked_at_ms = 1795770100000LL;
    mk.silenced_by = users[(k2 >> 4) % 6];
    if (k1 & 16)
        mk.snoozed_until_ms = (k2 & 1) ? INT64_MAX / 2 : 1795856400000LL;
    mk.muted = (k1 & 32) != 0;
    if (k1 & 64) {
        mk.nudged = k2 * 100;
        mk.nudge_not_found = k3 & 15;
        mk.nudge_failed = k3 >> 4;
        mk.nudge_pending = (k2 & 2) ? 2000000000 : 0;
    }
    render_opts ro = {.herald_url = urls[k0 & 3],
                      .action_value = values[(k0 >> 2) & 3],
                      .nudge_button = (k0 & 16) != 0,
                      .marks = (k0 & 32) ? &mk : NULL};
    const render_opts *opts = (k0 & 64) ? NULL : &ro;

    event *evs[MAX_EVENTS];
    size_t n = 0;
    const char *p = (const char *)data, *end = p + size;
    char err[512];
    while (p < end && n < MAX_EVENTS) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
        if (event_parse_any(p, len, &evs[n], err, sizeof err) == 0)
            n++;
        p += len + 1;
    }
    render_output o = {0};
    for (size_t i = 0; i < n; i++) {
        const event *ev = evs[i];
        check_output(render_event(ev, opts, &o), &o);
        check_output(render_check_result(ev, opts, &o), &o);
        check_output(render_collection(ev, opts, &o), &o);
        check_output(render_check_repeat(ev, (k2 & 4) ? -1 : (int64_t)k3 * 7, opts, &o), &o);
        check_output(render_resolved_reply(ev, opts, &o), &o);
        const char *uname = ev->nusers ? ev->users[0].display_name : NULL;
        const char *text = ev->kind == EVENT_CHECK_RESULT ? ev->check_name : ev->error_message;
        check_output(render_nudge(ev->check_name, ev->severity, uname, text, opts, &o), &o);
    }
    if (n > 0)
        check_output(render_digest((const event *const *)evs, n, opts, &o), &o);
    check_output(render_test_message(n ? evs[0]->tenant_id : NULL, opts, &o), &o);
    for (size_t i = 0; i < n; i++)
        event_destroy(evs[i]);
    return 0;
}
