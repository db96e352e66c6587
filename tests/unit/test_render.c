/* Block Kit rendering: escaping, Slack's size limits, UTF-8-safe cuts, content. */
#include "common/render.h"
#include "common/utf8.h"
#include "testlib.h"

#include <cJSON.h>
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ==== helpers ============================================================================= */

/* No mention or link syntax may come from user data; Herald's own <!date^...> is fine, and
 * so is the one mention a test expects (allowed_mention, a marks line's user). */
static const char *allowed_mention;

static bool pings(const char *s)
{
    for (const char *p = strchr(s, '<'); p; p = strchr(p + 1, '<'))
        if (strncmp(p, "<!date^", 7) != 0 &&
            !(allowed_mention && strncmp(p, allowed_mention, strlen(allowed_mention)) == 0))
            return true;
    return false;
}

/* Every '&' starts a whole entity: a cut never leaves "&am". */
static bool entities_whole(const char *s)
{
    for (const char *p = strchr(s, '&'); p; p = strchr(p + 1, '&'))
        if (strncmp(p, "&amp;", 5) != 0 && strncmp(p, "&lt;", 4) != 0 && strncmp(p, "&gt;", 4) != 0)
            return false;
    return true;
}

#define ZWSP "\xE2\x80\x8B"

static size_t total_units;

static void check_string(const char *s, const char *where)
{
    ck_assert_msg(utf8_valid_str(s), "%s: invalid UTF-8", where);
    ck_assert_msg(!pings(s), "%s: unescaped '<' in %s", where, s);
    ck_assert_msg(entities_whole(s), "%s: broken entity", where);
    ck_assert_msg(!strstr(s, ZWSP), "%s: zero-width space in %s", where, s);
}

static void check_text(const cJSON *text_obj, size_t max, const char *where)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(text_obj, "text");
    ck_assert_msg(cJSON_IsString(t), "%s: text missing", where);
    size_t n = render_text_units(t->valuestring);
    ck_assert_msg(n >= 1 && n <= max, "%s: %zu units (max %zu)", where, n, max);
    check_string(t->valuestring, where);
    total_units += n;
}

/* A rich_text block: one or more sections of text, emoji and date elements; its text
 * within a section's 3,000 and counted in the message's total. */
static void check_rich(const cJSON *b)
{
    size_t units = 0;
    const cJSON *sec;
    ck_assert_int_ge(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(b, "elements")), 1);
    cJSON_ArrayForEach(sec, cJSON_GetObjectItemCaseSensitive(b, "elements"))
    {
        ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(sec, "type")->valuestring,
                         "rich_text_section");
        const cJSON *els = cJSON_GetObjectItemCaseSensitive(sec, "elements");
        ck_assert_int_ge(cJSON_GetArraySize(els), 1);
        const cJSON *e;
        cJSON_ArrayForEach(e, els)
        {
            const char *type = cJSON_GetObjectItemCaseSensitive(e, "type")->valuestring;
            if (!strcmp(type, "text")) {
                const char *t = cJSON_GetObjectItemCaseSensitive(e, "text")->valuestring;
                ck_assert_msg(*t, "empty rich text element");
                check_string(t, "rich_text");
                units += render_text_units(t);
            } else if (!strcmp(type, "emoji")) {
                units += strlen(cJSON_GetObjectItemCaseSensitive(e, "name")->valuestring) + 2;
            } else if (!strcmp(type, "date")) {
                ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(e, "timestamp")));
                units +=
                    render_text_units(cJSON_GetObjectItemCaseSensitive(e, "fallback")->valuestring);
            } else {
                ck_abort_msg("unexpected rich text element %s", type);
            }
        }
    }
    ck_assert_uint_le(units, 3000);
    total_units += units;
}

/* Asserts every Slack limit of slack-api.md on a rendered message; returns the blocks. */
static cJSON *check_limits(const render_output *o)
{
    ck_assert_ptr_nonnull(o->blocks_json);
    ck_assert_ptr_nonnull(o->text);
    ck_assert_msg(*o->text, "fallback text is empty");
    ck_assert_uint_lt(render_text_units(o->text), 4000);
    check_string(o->text, "fallback");
    ck_assert_msg(!strstr(o->blocks_json, ZWSP), "zero-width space in the blocks");
    cJSON *blocks = cJSON_Parse(o->blocks_json);
    ck_assert_msg(cJSON_IsArray(blocks), "blocks are not a JSON array");
    ck_assert_int_le(cJSON_GetArraySize(blocks), 50);
    total_units = 0;
    const cJSON *b;
    cJSON_ArrayForEach(b, blocks)
    {
        const char *type = cJSON_GetObjectItemCaseSensitive(b, "type")->valuestring;
        if (!strcmp(type, "header")) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(b, "text");
            ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(t, "type")->valuestring,
                             "plain_text");
            ck_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(t, "emoji")));
            check_text(t, 150, "header");
        } else if (!strcmp(type, "section")) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(b, "text");
            const cJSON *f = cJSON_GetObjectItemCaseSensitive(b, "fields");
            ck_assert(t || f);
            if (t)
                check_text(t, 3000, "section");
            if (f) {
                ck_assert_int_le(cJSON_GetArraySize(f), 10);
                const cJSON *x;
                cJSON_ArrayForEach(x, f) check_text(x, 2000, "field");
            }
        } else if (!strcmp(type, "rich_text")) {
            check_rich(b);
        } else if (!strcmp(type, "context")) {
            const cJSON *x;
            cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(b, "elements"))
                check_text(x, 3000, "context");
        } else if (!strcmp(type, "actions")) {
            const cJSON *x;
            cJSON_ArrayForEach(x, cJSON_GetObjectItemCaseSensitive(b, "elements"))
            {
                check_text(cJSON_GetObjectItemCaseSensitive(x, "text"), 75, "button");
                const cJSON *url = cJSON_GetObjectItemCaseSensitive(x, "url");
                const cJSON *value = cJSON_GetObjectItemCaseSensitive(x, "value");
                ck_assert(cJSON_IsString(url) || cJSON_IsString(value));
                ck_assert(!url || strlen(url->valuestring) <= 3000);
            }
        } else {
            ck_abort_msg("unexpected block type %s", type);
        }
    }
    ck_assert_uint_le(total_units, RENDER_MAX_TOTAL_CHARS);
    return blocks;
}

/* The text element (rich_text "text" or a plain_text object) of j whose text holds needle
 * (exact: is needle), or NULL. */
static const cJSON *find_text(const cJSON *j, const char *needle, bool exact)
{
    if (cJSON_IsObject(j)) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(j, "type");
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(j, "text");
        if (cJSON_IsString(type) && cJSON_IsString(text) &&
            (!strcmp(type->valuestring, "text") || !strcmp(type->valuestring, "plain_text")) &&
            (exact ? !strcmp(text->valuestring, needle) : !!strstr(text->valuestring, needle)))
            return j;
    }
    const cJSON *c;
    cJSON_ArrayForEach(c, j)
    {
        const cJSON *f = find_text(c, needle, exact);
        if (f)
            return f;
    }
    return NULL;
}

/* Whether the rich text element is bold (italic). */
static bool styled(const cJSON *el, const char *how)
{
    return cJSON_IsTrue(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(el, "style"), how));
}

static const char *header_text(const cJSON *blocks)
{
    const cJSON *b = cJSON_GetArrayItem(blocks, 0);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(b, "type")->valuestring, "header");
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(b, "text"), "text")
        ->valuestring;
}

static char *repeat(const char *unit, size_t times)
{
    size_t n = strlen(unit);
    char *s = malloc(n * times + 1);
    for (size_t i = 0; i < times; i++)
        memcpy(s + i * n, unit, n);
    s[n * times] = '\0';
    return s;
}

static event_user sample_users[100];

static event check_event(const char *name, size_t nusers, int64_t failing)
{
    event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = EVENT_CHECK_RESULT;
    strcpy(ev.event_id, "0b6e8a1c-1f7a-4c36-9d55-1c0f0e8b7a11");
    ev.tenant_id = (char *)"acme";
    ev.trigger = TRIGGER_MANUAL;
    ev.check_type = (char *)"weak_mfa";
    ev.check_name = (char *)name;
    ev.severity = SEV_HIGH;
    ev.check_url = (char *)"https://herald.example.com/checks/weak_mfa";
    ev.evaluated_at_ms = 1795770000000LL;
    ev.failing_count = failing;
    ev.total_count = 480;
    ev.users = sample_users;
    ev.nusers = nusers;
    return ev;
}

static event collection_event(bool failed)
{
    event ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = EVENT_COLLECTION;
    strcpy(ev.event_id, "5f0f7a54-2b8e-4c1d-8d7f-0a1b2c3d4e5f");
    ev.tenant_id = (char *)"acme";
    ev.trigger = TRIGGER_MANUAL;
    ev.integration_id = (char *)"okta-prod";
    ev.integration_name = (char *)"Okta (prod)";
    ev.integration_kind = (char *)"okta";
    ev.failed = failed;
    ev.started_at_ms = 1795770000000LL;
    ev.finished_at_ms = 1795770095000LL;
    if (failed) {
        ev.error_code = (char *)"auth_failed";
        ev.error_message = (char *)"The API token was rejected by Okta";
    }
    return ev;
}

static void setup(void)
{
    static char names[100][32], emails[100][48], ids[100][16];
    for (int i = 0; i < 100; i++) {
        snprintf(ids[i], sizeof ids[i], "u%d", i);
        snprintf(names[i], sizeof names[i], "User %d", i);
        snprintf(emails[i], sizeof emails[i], "user%d@example.com", i);
        sample_users[i].id = ids[i];
        sample_users[i].display_name = names[i];
        sample_users[i].email = emails[i];
    }
}

/* ==== escaping ============================================================================ */

START_TEST(escaping_blocks_mentions)
{
    char *e = render_escape_mrkdwn("<!channel> <@U123> & <https://evil|click>");
    ck_assert_str_eq(e, "&lt;!channel&gt; &lt;@U123&gt; &amp; &lt;https://evil|click&gt;");
    free(e);
    e = render_escape_entities("a<b>&c");
    ck_assert_str_eq(e, "a&lt;b&gt;&amp;c");
    free(e);
    /* Formatting characters pass as they are: nothing is inserted. */
    e = render_escape_mrkdwn("*bold* _it_ ~s~ `c` first_last@x");
    ck_assert_str_eq(e, "*bold* _it_ ~s~ `c` first_last@x");
    free(e);
    /* Invalid UTF-8 is replaced; controls become spaces; newlines only where allowed. */
    e = render_escape_mrkdwn("ok\xff\xfe end\x01\ttab\nline");
    ck_assert(utf8_valid_str(e));
    ck_assert_str_eq(e, "ok\xEF\xBF\xBD\xEF\xBF\xBD end  tab line");
    free(e);
    e = render_escape_text("one\r\ntwo\nthree\tfour\rfive");
    ck_assert_str_eq(e, "one\ntwo\nthree four five");
    free(e);
    /* Bidirectional overrides, isolates and marks, and C1 controls, are dropped. */
    e = render_escape_entities("a\xE2\x80\xAE"
                               "b\xE2\x81\xA6"
                               "c\xE2\x80\x8F"
                               "d\xD8\x9C"
                               "e\xC2\x85"
                               "f\xC2\x9B"
                               "g\xE2\x80\x8E"
                               "h\xE2\x80\xAA"
                               "i\xE2\x81\xA9"
                               "j\xC3\xA9");
    ck_assert_str_eq(e, "abcdefghij\xC3\xA9");
    free(e);
    e = render_escape_mrkdwn(NULL);
    ck_assert_str_eq(e, "");
    free(e);
}
END_TEST

START_TEST(check_with_hostile_names_cannot_ping)
{
    sample_users[0].display_name = (char *)"<!channel>";
    sample_users[1].display_name = (char *)"<@U1> & friends";
    sample_users[2].email = (char *)"<!here>@example.com";
    event ev = check_event("<!everyone> Weak & MFA", 3, 3);
    render_output o;
    ck_assert_int_eq(render_check_result(&ev, NULL, &o), 0);
    cJSON *blocks = check_limits(&o);
    ck_assert_ptr_null(strstr(o.blocks_json, "<!channel>"));
    ck_assert_ptr_null(strstr(o.blocks_json, "<@U1>"));
    ck_assert_ptr_null(strstr(o.blocks_json, "<!here>"));
    ck_assert_ptr_null(strstr(o.blocks_json, "<!everyone>"));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "&lt;!channel&gt;"));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "&lt;@U1&gt; &amp; friends"));
    ck_assert_str_eq(header_text(blocks), "&lt;!everyone&gt; Weak &amp; MFA");
    ck_assert_ptr_null(strstr(o.text, "<!everyone>"));
    ck_assert_ptr_nonnull(strstr(o.text, "&lt;!everyone&gt;"));
    ck_assert(!o.truncated);
    cJSON_Delete(blocks);
    render_output_dispose(&o);
    render_output_dispose(&o); /* idempotent */
    setup();
}
END_TEST

/* ==== fidelity: user text as sent, in every message kind ================================== */

/* The user text of one round: what goes in, and what must come out. */
typedef struct texts {
    const char *name, *user, *email, *code, *text;
} texts;

enum {
    K_CHECK,
    K_CHECK_MARKED, /* edited: acknowledged, snoozed, nudged */
    K_CHECK_RESOLVED,
    K_REPEAT,
    K_COLL_FAILED,
    K_COLL_STATS,
    K_COLL_RESOLVED,
    K_TEST,
    K_DIGEST,
    K_REPLY_CHECK,
    K_REPLY_COLL,
    K_NUDGE,
    NKINDS
};
static const char *const kind_names[NKINDS] = {"check result",
                                               "check result with marks",
                                               "resolved check result",
                                               "repeat",
                                               "failed collection",
                                               "collection with stats",
                                               "resolved collection",
                                               "test message",
                                               "digest",
                                               "resolved reply (check)",
                                               "resolved reply (collection)",
                                               "nudge"};

#define ALICE "<@U0ALICE>"

/* Every message kind, with t's text in every user field it has. */
static void render_all(const texts *t, render_output *o)
{
    event_user u = {.id = (char *)"u1", .display_name = (char *)t->user, .email = (char *)t->email};
    event ev = check_event(t->name, 1, 3);
    ev.users = &u;
    render_opts plain = {.herald_url = "https://herald.example.com/console"};
    render_marks mk = {.acked_by = "U0ALICE",
                       .acked_at_ms = 1795770100000LL,
                       .snoozed_until_ms = 1795856400000LL,
                       .silenced_by = "U0ALICE",
                       .nudged = 10,
                       .nudge_not_found = 2};
    render_marks done = {.resolved_at_ms = 1795773600000LL};
    render_opts marked = {.action_value = "0b6e8a1c-1f7a-4c36-9d55-1c0f0e8b7a11:7",
                          .nudge_button = true,
                          .marks = &mk};
    render_opts resolved = {.action_value = marked.action_value, .marks = &done};
    ck_assert_int_eq(render_check_result(&ev, &plain, &o[K_CHECK]), 0);
    ck_assert_int_eq(render_check_result(&ev, &marked, &o[K_CHECK_MARKED]), 0);
    ck_assert_int_eq(render_check_result(&ev, &resolved, &o[K_CHECK_RESOLVED]), 0);
    ck_assert_int_eq(render_check_repeat(&ev, 2, NULL, &o[K_REPEAT]), 0);

    event failed = collection_event(true);
    failed.integration_name = (char *)t->name;
    failed.integration_kind = (char *)t->name;
    failed.error_code = (char *)t->code;
    failed.error_message = (char *)t->text;
    ck_assert_int_eq(render_collection(&failed, NULL, &o[K_COLL_FAILED]), 0);
    event ok = collection_event(false);
    ok.integration_name = (char *)t->name;
    event_stat st = {(char *)t->name, 1234};
    ok.stats = &st;
    ok.nstats = 1;
    ck_assert_int_eq(render_collection(&ok, NULL, &o[K_COLL_STATS]), 0);
    ck_assert_int_eq(render_collection(&failed, &resolved, &o[K_COLL_RESOLVED]), 0);
    ck_assert_int_eq(render_test_message(t->name, NULL, &o[K_TEST]), 0);
    const event *all[3] = {&ev, &failed, &ok};
    ck_assert_int_eq(render_digest(all, 3, NULL, &o[K_DIGEST]), 0);
    event pass = check_event(t->name, 0, 0);
    ck_assert_int_eq(render_resolved_reply(&pass, NULL, &o[K_REPLY_CHECK]), 0);
    ck_assert_int_eq(render_resolved_reply(&ok, NULL, &o[K_REPLY_COLL]), 0);
    ck_assert_int_eq(render_nudge(t->name, SEV_HIGH, t->user, t->text, NULL, &o[K_NUDGE]), 0);
}

/* Renders every kind with t and finds want's strings in text elements of the blocks (and
 * the name in the fallback), each exactly as expected. */
static void expect_everywhere(const texts *t, const texts *want)
{
    render_output o[NKINDS];
    render_all(t, o);
    allowed_mention = ALICE;
    for (int k = 0; k < NKINDS; k++) {
        cJSON *blocks = check_limits(&o[k]);
        const char *kn = kind_names[k];
        ck_assert_msg(find_text(blocks, want->name, false), "%s: '%s' in no text element: %s", kn,
                      want->name, o[k].blocks_json);
        if (k <= K_CHECK_RESOLVED) {
            ck_assert_str_eq(header_text(blocks), want->name);
            ck_assert_msg(find_text(blocks, want->user, false), "%s: user '%s': %s", kn, want->user,
                          o[k].blocks_json);
            ck_assert_msg(find_text(blocks, want->email, false), "%s: email '%s': %s", kn,
                          want->email, o[k].blocks_json);
        }
        if (k == K_COLL_FAILED || k == K_DIGEST || k == K_COLL_RESOLVED)
            ck_assert_msg(find_text(blocks, want->code, false), "%s: code '%s': %s", kn, want->code,
                          o[k].blocks_json);
        if (k == K_COLL_FAILED || k == K_NUDGE)
            ck_assert_msg(find_text(blocks, want->text, false), "%s: text '%s': %s", kn, want->text,
                          o[k].blocks_json);
        if (k == K_NUDGE)
            ck_assert_msg(find_text(blocks, want->user, false), "%s: user '%s'", kn, want->user);
        if (k != K_DIGEST) /* a digest's fallback only counts */
            ck_assert_msg(strstr(o[k].text, want->name), "%s: fallback '%s' lacks '%s'", kn,
                          o[k].text, want->name);
        cJSON_Delete(blocks);
        render_output_dispose(&o[k]);
    }
    allowed_mention = NULL;
}

/* Names with every mrkdwn marker, identifiers with underscores, emails like first_last@x:
 * the same characters in Slack, so search and copy find them. */
START_TEST(user_text_verbatim_in_every_kind)
{
    const texts round[] = {
        {"No MFA Enrolled no_-34a27e26", "first_last", "first_last@x", "auth_failed",
         "admins_without_mfa: run `herald fix`\nthen *check* _again_ ~soon~"},
        {"admins_without_mfa", "Ann_Lee *ops* ~x~ `y`", "first_last@acme.example",
         "rate_limited_by_okta", "Token *expired*_ at 10:00"},
        {"*bold* _it_ ~s~ `c` **__", "_*~`", "a_b*c~d`e@x", "_", "*"},
        {"\xF0\x9F\x94\x94 Caf\xC3\xA9 :tada: x_y", "Zo\xC3\xAB_", "zoe_q@x", "e_2", ":smile:"},
    };
    for (size_t i = 0; i < sizeof round / sizeof round[0]; i++)
        expect_everywhere(&round[i], &round[i]);
}
END_TEST

/* Mention and link syntax in every field shows as typed: & < > as entities, so Slack has
 * nothing to act on, in every message kind. */
START_TEST(mentions_and_links_never_act)
{
    const texts in = {"<!channel> <@U123> <https://evil|x>", "<!here> & <@U123>",
                      "<mailto:a@x|a@x>", "<!everyone>", "<https://evil|click> <!subteam^S1>"};
    const texts want = {"&lt;!channel&gt; &lt;@U123&gt; &lt;https://evil|x&gt;",
                        "&lt;!here&gt; &amp; &lt;@U123&gt;", "&lt;mailto:a@x|a@x&gt;",
                        "&lt;!everyone&gt;", "&lt;https://evil|click&gt; &lt;!subteam^S1&gt;"};
    expect_everywhere(&in, &want); /* check_limits also finds no '<' of user text */
    render_output o[NKINDS];
    render_all(&in, o);
    for (int k = 0; k < NKINDS; k++) {
        const char *bad[] = {"<!channel",  "<@U123",  "<https://evil", "<!here",
                             "<!everyone", "<mailto", "<!subteam"};
        for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
            ck_assert_msg(!strstr(o[k].blocks_json, bad[b]), "%s: %s in blocks", kind_names[k],
                          bad[b]);
            ck_assert_msg(!strstr(o[k].text, bad[b]), "%s: %s in fallback", kind_names[k], bad[b]);
        }
        render_output_dispose(&o[k]);
    }
}
END_TEST

/* Bidirectional overrides, isolates and marks and C1 controls are removed from every piece
 * of user text; other controls become spaces (newlines stay where lines are allowed). */
START_TEST(bidi_and_c1_removed)
{
    const texts in = {"Weak\xE2\x80\xAE MFA\xC2\x9B\xE2\x81\xA6 x\xE2\x80\x8F",
                      "Ann\xE2\x80\xAA\xD8\x9C Lee\xC2\x85", "a\xE2\x80\x8E@x\xE2\x81\xA9",
                      "bad\x1b[31m_code", "line\xE2\x80\xAD one\r\nline\ttwo\xC2\x80"};
    const texts want = {"Weak MFA x", "Ann Lee", "a@x", "bad [31m_code", "line one\nline two"};
    expect_everywhere(&in, &want);
    render_output o[NKINDS];
    render_all(&in, o);
    const char *gone[] = {"\xE2\x80\xAE", "\xE2\x81\xA6", "\xE2\x80\x8F", "\xE2\x80\xAA",
                          "\xD8\x9C",     "\xC2\x85",     "\xE2\x80\x8E", "\xE2\x81\xA9",
                          "\xE2\x80\xAD", "\xC2\x9B",     "\xC2\x80",     "\\u001b"};
    for (int k = 0; k < NKINDS; k++) {
        for (size_t g = 0; g < sizeof gone / sizeof gone[0]; g++) {
            ck_assert_msg(!strstr(o[k].blocks_json, gone[g]), "%s: control %zu in blocks",
                          kind_names[k], g);
            ck_assert_msg(!strstr(o[k].text, gone[g]), "%s: control %zu in fallback", kind_names[k],
                          g);
        }
        render_output_dispose(&o[k]);
    }
}
END_TEST

/* ==== content ============================================================================= */

START_TEST(check_content)
{
    event ev = check_event("Weak MFA Configured", 3, 12);
    render_output o;
    ck_assert_int_eq(render_check_result(&ev, NULL, &o), 0);
    cJSON *blocks = check_limits(&o);
    ck_assert_str_eq(header_text(blocks), "Weak MFA Configured");
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "12 of 480"));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "High"));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "Manual run"));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "User 0 (user0@example.com)"));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "User 2 (user2@example.com)"));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "and 9 more")); /* 12 failing, 3 shown */
    ck_assert_ptr_nonnull(
        strstr(o.blocks_json, "\"url\":\"https://herald.example.com/checks/weak_mfa\""));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "View in Herald"));
    ck_assert_str_eq(o.text, "Weak MFA Configured (high): 12 of 480 users fail [manual run]");
    cJSON_Delete(blocks);
    render_output_dispose(&o);

    /* No usable URL: no button; scheduled. */
    ev.check_url = (char *)"javascript:alert(1)";
    ev.trigger = TRIGGER_SCHEDULED;
    ev.failing_count = 3;
    ck_assert_int_eq(render_check_result(&ev, NULL, &o), 0);
    cJSON_Delete(check_limits(&o));
    ck_assert_ptr_null(strstr(o.blocks_json, "\"actions\""));
    ck_assert_ptr_null(strstr(o.blocks_json, "more_"));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "Scheduled run"));
    render_output_dispose(&o);

    /* The console's URL stands in when the check has none. */
    render_opts ro = {.herald_url = "https://herald.example.com/console"};
    ck_assert_int_eq(render_check_result(&ev, &ro, &o), 0);
    cJSON_Delete(check_limits(&o));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "\"url\":\"https://herald.example.com/console\""));
    render_output_dispose(&o);

    /* A user without a display name shows the email; without either, the id. */
    sample_users[0].display_name = NULL;
    sample_users[1].display_name = NULL;
    sample_users[1].email = NULL;
    ev.check_url = NULL;
    ck_assert_int_eq(render_check_result(&ev, NULL, &o), 0);
    cJSON_Delete(check_limits(&o));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "\xE2\x80\xA2 user0@example.com\\n"));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "u1"));
    render_output_dispose(&o);
    setup();

    /* Wrong kind is refused. */
    event c = collection_event(false);
    ck_assert_int_eq(render_check_result(&c, NULL, &o), -1);
}
END_TEST

START_TEST(collection_content)
{
    event ev = collection_event(true);
    render_output o;
    ck_assert_int_eq(render_collection(&ev, NULL, &o), 0);
    cJSON *blocks = check_limits(&o);
    ck_assert_str_eq(header_text(blocks), "Okta (prod) collection failed");
    ck_assert_ptr_nonnull(find_text(blocks, " auth_failed", false));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "The API token was rejected by Okta"));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "Okta (prod) (okta)"));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "took 1m 35s"));
    ck_assert_ptr_nonnull(strstr(o.text, "collection failed"));
    ck_assert_ptr_null(strstr(o.blocks_json, "\"actions\""));
    cJSON_Delete(blocks);
    render_output_dispose(&o);
    render_opts ro = {.herald_url = "https://herald.example.com/console"};
    ck_assert_int_eq(render_collection(&ev, &ro, &o), 0);
    cJSON_Delete(check_limits(&o));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "\"url\":\"https://herald.example.com/console\""));
    render_output_dispose(&o);

    event ok = collection_event(false);
    event_stat st[2] = {{(char *)"users", 1234}, {(char *)"groups", 56}};
    ok.stats = st;
    ok.nstats = 2;
    ck_assert_int_eq(render_event(&ok, NULL, &o), 0);
    blocks = check_limits(&o);
    ck_assert_str_eq(header_text(blocks), "Okta (prod) collection succeeded");
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "users: 1,234"));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "groups: 56"));
    ck_assert_ptr_null(strstr(o.blocks_json, "Error"));
    cJSON_Delete(blocks);
    render_output_dispose(&o);
}
END_TEST

START_TEST(test_message_and_repeat)
{
    render_output o;
    ck_assert_int_eq(render_test_message("Security <alerts>", NULL, &o), 0);
    cJSON_Delete(check_limits(&o));
    ck_assert_str_eq(o.text, "Test message from Herald for target Security &lt;alerts&gt;");
    render_output_dispose(&o);
    ck_assert_int_eq(render_test_message(NULL, NULL, &o), 0);
    cJSON_Delete(check_limits(&o));
    render_output_dispose(&o);

    event ev = check_event("Weak MFA", 0, 14);
    ck_assert_int_eq(render_check_repeat(&ev, 12, NULL, &o), 0);
    cJSON_Delete(check_limits(&o));
    ck_assert_ptr_nonnull(strstr(o.text, "Still failing: *14* users, 2 more than last run"));
    render_output_dispose(&o);
    ck_assert_int_eq(render_check_repeat(&ev, 20, NULL, &o), 0);
    ck_assert_ptr_nonnull(strstr(o.text, "6 fewer than last run"));
    render_output_dispose(&o);
}
END_TEST

/* ==== buttons and marks ===================================================================== */

#define VALUE "0b6e8a1c-1f7a-4c36-9d55-1c0f0e8b7a11:7"

/* The action ids of the herald_actions block, space-separated ("" when there is none); each
 * action button's value is VALUE. */
static void action_ids(const cJSON *blocks, char *out, size_t size)
{
    out[0] = '\0';
    const cJSON *b;
    cJSON_ArrayForEach(b, blocks)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(b, "block_id");
        if (!cJSON_IsString(id) || strcmp(id->valuestring, RENDER_ACTIONS_BLOCK) != 0)
            continue;
        const cJSON *btn;
        cJSON_ArrayForEach(btn, cJSON_GetObjectItemCaseSensitive(b, "elements"))
        {
            const char *aid = cJSON_GetObjectItemCaseSensitive(btn, "action_id")->valuestring;
            const cJSON *value = cJSON_GetObjectItemCaseSensitive(btn, "value");
            if (strcmp(aid, RENDER_ACTION_OPEN) == 0) {
                ck_assert_ptr_null(value); /* the link button carries a url, no value */
            } else {
                ck_assert_msg(cJSON_IsString(value) && !strcmp(value->valuestring, VALUE),
                              "%s: value", aid);
            }
            snprintf(out + strlen(out), size - strlen(out), "%s%s", *out ? " " : "", aid);
        }
    }
}

/* Renders ev with opts, checks every limit, and returns the action ids shown. */
static void buttons_of(const event *ev, const render_opts *opts, char *ids, size_t size,
                       render_output *o)
{
    ck_assert_int_eq(render_check_result(ev, opts, o), 0);
    cJSON *blocks = check_limits(o);
    action_ids(blocks, ids, size);
    cJSON_Delete(blocks);
}

START_TEST(buttons_follow_the_marks)
{
    event ev = check_event("Weak MFA", 3, 12);
    char ids[256];
    render_output o;
    allowed_mention = ALICE;

    /* No action value: only the link (digests, replies, test messages). */
    buttons_of(&ev, NULL, ids, sizeof ids, &o);
    ck_assert_str_eq(ids, "");
    ck_assert_ptr_null(strstr(o.blocks_json, RENDER_ACTIONS_BLOCK));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, RENDER_ACTION_OPEN));
    render_output_dispose(&o);
    /* A value that is not ours ("<event>:<target>", hex, dashes and colons) shows none. */
    render_opts bad = {.action_value = "x\"><@U1>"};
    buttons_of(&ev, &bad, ids, sizeof ids, &o);
    ck_assert_str_eq(ids, "");
    render_output_dispose(&o);

    /* Fresh: acknowledge, snooze, mute, after the link; no nudge without the opt-in. */
    render_opts ro = {.action_value = VALUE};
    buttons_of(&ev, &ro, ids, sizeof ids, &o);
    ck_assert_str_eq(ids, "herald_open herald_ack herald_snooze herald_mute");
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "\"Snooze 24 h\""));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "\"Mute this check here\""));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "\"Acknowledge\""));
    ck_assert_ptr_null(strstr(o.blocks_json, "Acknowledged"));
    render_output_dispose(&o);
    /* Opted in, with emails in the sample: the nudge button. */
    ro.nudge_button = true;
    buttons_of(&ev, &ro, ids, sizeof ids, &o);
    ck_assert_str_eq(ids, "herald_open herald_ack herald_snooze herald_mute herald_nudge");
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "\"Nudge failing users\""));
    render_output_dispose(&o);
    /* Opted in, but nobody in the sample has an email (or there is no sample): none. */
    for (int i = 0; i < 3; i++)
        sample_users[i].email = NULL;
    buttons_of(&ev, &ro, ids, sizeof ids, &o);
    ck_assert_ptr_null(strstr(ids, "herald_nudge"));
    render_output_dispose(&o);
    sample_users[1].email = (char *)"only_one@x";
    buttons_of(&ev, &ro, ids, sizeof ids, &o);
    ck_assert_ptr_nonnull(strstr(ids, "herald_nudge"));
    render_output_dispose(&o);
    event nosample = check_event("Weak MFA", 0, 12);
    buttons_of(&nosample, &ro, ids, sizeof ids, &o);
    ck_assert_ptr_null(strstr(ids, "herald_nudge"));
    render_output_dispose(&o);
    setup();

    /* Acknowledged: no acknowledge button; who and when. */
    render_marks mk = {.acked_by = "U0ALICE", .acked_at_ms = 1795770100000LL};
    ro.marks = &mk;
    buttons_of(&ev, &ro, ids, sizeof ids, &o);
    ck_assert_str_eq(ids, "herald_open herald_snooze herald_mute herald_nudge");
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "Acknowledged by " ALICE " <!date^1795770100^"));
    render_output_dispose(&o);
    /* A user id that is not one shows as "someone", never as markup. */
    mk.acked_by = "<!channel>";
    buttons_of(&ev, &ro, ids, sizeof ids, &o);
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "Acknowledged by someone"));
    render_output_dispose(&o);

    /* Snoozed: no snooze button, mute still there. */
    mk = (render_marks){.snoozed_until_ms = 1795856400000LL, .silenced_by = "U0ALICE"};
    buttons_of(&ev, &ro, ids, sizeof ids, &o);
    ck_assert_str_eq(ids, "herald_open herald_ack herald_mute herald_nudge");
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "Snoozed until <!date^1795856400^"));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, " by " ALICE));
    render_output_dispose(&o);

    /* Muted: Unmute instead of Mute and Snooze. */
    mk = (render_marks){.muted = true, .silenced_by = "U0ALICE"};
    buttons_of(&ev, &ro, ids, sizeof ids, &o);
    ck_assert_str_eq(ids, "herald_open herald_ack herald_unmute herald_nudge");
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "\"Unmute\""));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "Muted here by " ALICE));
    render_output_dispose(&o);

    /* Nudged: no second nudge; the outcome in words. */
    mk = (render_marks){.nudged = 12, .nudge_not_found = 2};
    buttons_of(&ev, &ro, ids, sizeof ids, &o);
    ck_assert_str_eq(ids, "herald_open herald_ack herald_snooze herald_mute");
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "Nudged 12 users (2 not found in Slack)"));
    render_output_dispose(&o);
    mk = (render_marks){.nudged = 1, .nudge_not_found = 1, .nudge_failed = 3};
    buttons_of(&ev, &ro, ids, sizeof ids, &o);
    ck_assert_ptr_nonnull(
        strstr(o.blocks_json, "Nudged 1 user (1 not found in Slack, 3 could not be sent)"));
    render_output_dispose(&o);
    mk = (render_marks){.nudged = 1200, .nudge_pending = 34};
    buttons_of(&ev, &ro, ids, sizeof ids, &o);
    ck_assert_ptr_null(strstr(ids, "herald_nudge"));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "Nudging 1,234 users\xE2\x80\xA6"));
    render_output_dispose(&o);

    /* Resolved: no action buttons at all (the link stays), "Resolved" first in the fallback. */
    mk = (render_marks){.resolved_at_ms = 1795773600000LL, .acked_by = "U0ALICE", .nudged = 3};
    buttons_of(&ev, &ro, ids, sizeof ids, &o);
    ck_assert_str_eq(ids, "");
    ck_assert_ptr_null(strstr(o.blocks_json, RENDER_ACTIONS_BLOCK));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, RENDER_ACTION_OPEN));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "*Resolved* <!date^1795773600^"));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "Acknowledged by " ALICE));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "Nudged 3 users"));
    ck_assert(!strncmp(o.text, "Resolved: Weak MFA (high)", 25));
    render_output_dispose(&o);

    /* Every mark at once stays within the limits, and collections show theirs too. */
    mk = (render_marks){.resolved_at_ms = 1795773600000LL,
                        .acked_by = "U0ALICE",
                        .acked_at_ms = 1795770100000LL,
                        .muted = true,
                        .silenced_by = "U0ALICE",
                        .nudged = 12,
                        .nudge_not_found = 2,
                        .nudge_failed = 1};
    event c = collection_event(true);
    ck_assert_int_eq(render_collection(&c, &ro, &o), 0);
    cJSON *blocks = check_limits(&o);
    action_ids(blocks, ids, sizeof ids);
    ck_assert_str_eq(ids, ""); /* collections never have action buttons */
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "*Resolved*"));
    ck_assert(!strncmp(o.text, "Resolved: Okta (prod) collection failed", 39));
    cJSON_Delete(blocks);
    render_output_dispose(&o);
    allowed_mention = NULL;
}
END_TEST

START_TEST(resolved_reply_content)
{
    event pass = check_event("Weak MFA", 0, 0);
    render_output o;
    ck_assert_int_eq(render_resolved_reply(&pass, NULL, &o), 0);
    cJSON *blocks = check_limits(&o);
    ck_assert_str_eq(o.text, "Resolved: Weak MFA");
    ck_assert(styled(find_text(blocks, "Resolved:", true), "bold"));
    ck_assert(styled(find_text(blocks, "Weak MFA", true), "bold"));
    ck_assert_ptr_nonnull(find_text(blocks, " passes again (0 of 480 users fail)", false));
    ck_assert_ptr_nonnull(
        strstr(o.blocks_json, "{\"type\":\"emoji\",\"name\":\"white_check_mark\"}"));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "\"type\":\"date\",\"timestamp\":1795770000,"));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "\"fallback\":\"2026-11-27 09:00 UTC\""));
    ck_assert_ptr_null(strstr(o.blocks_json, "\"actions\""));
    cJSON_Delete(blocks);
    render_output_dispose(&o);

    /* No time: no date element. A check without a name falls back to its type. */
    pass.evaluated_at_ms = 0;
    pass.check_name = NULL;
    ck_assert_int_eq(render_resolved_reply(&pass, NULL, &o), 0);
    cJSON_Delete(check_limits(&o));
    ck_assert_str_eq(o.text, "Resolved: weak_mfa");
    ck_assert_ptr_null(strstr(o.blocks_json, "\"date\""));
    render_output_dispose(&o);

    event ok = collection_event(false);
    ck_assert_int_eq(render_resolved_reply(&ok, NULL, &o), 0);
    blocks = check_limits(&o);
    ck_assert_str_eq(o.text, "Resolved: Okta (prod)");
    ck_assert_ptr_nonnull(find_text(blocks, " collection succeeded again", false));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "\"timestamp\":1795770095,"));
    cJSON_Delete(blocks);
    render_output_dispose(&o);
    ck_assert_int_eq(render_resolved_reply(NULL, NULL, &o), -1);

    /* A huge name is cut, the message stays valid. */
    char *big = repeat("<x>_", 3000);
    pass.check_name = big;
    ck_assert_int_eq(render_resolved_reply(&pass, NULL, &o), 0);
    cJSON_Delete(check_limits(&o));
    ck_assert(o.truncated);
    render_output_dispose(&o);
    free(big);
}
END_TEST

START_TEST(nudge_content)
{
    render_output o;
    ck_assert_int_eq(
        render_nudge("Weak MFA", SEV_CRITICAL, "Ann_Lee",
                     "Enrol a second factor:\n1. open https://id.example/mfa\n2. *done*", NULL, &o),
        0);
    cJSON *blocks = check_limits(&o);
    ck_assert_str_eq(header_text(blocks), "A security check needs your attention");
    ck_assert_ptr_nonnull(find_text(blocks, "Hello Ann_Lee,\nyour account fails the check ", true));
    ck_assert(styled(find_text(blocks, "Weak MFA", true), "bold"));
    ck_assert_ptr_nonnull(find_text(blocks, " (critical severity).", true));
    ck_assert_ptr_nonnull(find_text(
        blocks, "Enrol a second factor:\n1. open https://id.example/mfa\n2. *done*", true));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "Sent by Herald on behalf of your security team"));
    ck_assert_ptr_null(strstr(o.blocks_json, "\"actions\""));
    ck_assert_str_eq(o.text, "Your account fails the check Weak MFA: Enrol a second factor:\n1. "
                             "open https://id.example/mfa\n2. *done*");
    cJSON_Delete(blocks);
    render_output_dispose(&o);

    /* No name, no check name, no text: the defaults. */
    ck_assert_int_eq(render_nudge(NULL, SEV_LOW, NULL, NULL, NULL, &o), 0);
    blocks = check_limits(&o);
    ck_assert_ptr_null(strstr(o.blocks_json, "Hello"));
    ck_assert_ptr_nonnull(find_text(blocks, "A security check", true));
    ck_assert_ptr_nonnull(find_text(blocks, "Please contact your IT team.", true));
    cJSON_Delete(blocks);
    render_output_dispose(&o);

    /* A remediation text longer than a section is cut with the note. */
    char *big = repeat("Step & <more> ", 1000);
    ck_assert_int_eq(render_nudge("Weak MFA", SEV_LOW, "Ann", big, NULL, &o), 0);
    cJSON_Delete(check_limits(&o));
    ck_assert(o.truncated);
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "\xE2\x80\xA6 (truncated)"));
    render_output_dispose(&o);
    free(big);
}
END_TEST

/* ==== limits ============================================================================== */

START_TEST(header_cut_at_150)
{
    char *name = repeat("Long check name ", 40); /* 640 characters */
    event ev = check_event(name, 1, 1);
    render_output o;
    ck_assert_int_eq(render_check_result(&ev, NULL, &o), 0);
    cJSON *blocks = check_limits(&o);
    const char *h = header_text(blocks);
    ck_assert_uint_le(render_text_units(h), 150);
    ck_assert_uint_ge(render_text_units(h), 140);
    ck_assert_ptr_nonnull(strstr(h, "\xE2\x80\xA6 (truncated)"));
    ck_assert(o.truncated);
    cJSON_Delete(blocks);
    render_output_dispose(&o);
    free(name);
}
END_TEST

START_TEST(utf8_and_entities_are_never_split)
{
    /* Astral characters count two units; a cut must land between whole ones. */
    char *emoji = repeat("\xF0\x9F\x98\x80", 200);
    event ev = check_event(emoji, 0, 1);
    render_output o;
    ck_assert_int_eq(render_check_result(&ev, NULL, &o), 0);
    cJSON *blocks = check_limits(&o);
    ck_assert_uint_le(render_text_units(header_text(blocks)), 150);
    cJSON_Delete(blocks);
    render_output_dispose(&o);
    free(emoji);

    /* Every cut point of a string of entities and two-byte characters. */
    char *amp = repeat("&\xC3\xA9<", 100);
    char *esc = render_escape_mrkdwn(amp);
    for (size_t max = 0; max < 200; max++) {
        size_t at = render_cut_point(esc, max);
        char *prefix = strndup(esc, at);
        ck_assert(utf8_valid_str(prefix));
        ck_assert(entities_whole(prefix));
        ck_assert_uint_le(render_text_units(prefix), max);
        /* And it is the longest such prefix: the next unit (at most 5, "&amp;") would not fit. */
        ck_assert_uint_gt(render_text_units(prefix) + 5, max);
        free(prefix);
    }
    free(esc);

    ev = check_event(amp, 0, 1);
    ck_assert_int_eq(render_check_result(&ev, NULL, &o), 0);
    cJSON_Delete(check_limits(&o));
    render_output_dispose(&o);
    free(amp);

    ck_assert_uint_eq(render_text_units("a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"), 5);
    ck_assert_uint_eq(render_text_units("&amp;"), 5);
    ck_assert_uint_eq(render_cut_point("ab&amp;cd", 4), 2);
    ck_assert_uint_eq(render_cut_point("ab&amp;cd", 7), 7);
    ck_assert_uint_eq(render_cut_point("\xF0\x9F\x98\x80x", 1), 0);
}
END_TEST

START_TEST(huge_sample_within_limits)
{
    static char names[100][1200];
    char *long_name = repeat("N\xC3\xA9<", 300);
    for (int i = 0; i < 100; i++) {
        snprintf(names[i], sizeof names[i], "%d %s", i, long_name);
        sample_users[i].display_name = names[i];
    }
    free(long_name);
    event ev = check_event("Weak MFA", 100, 5000);
    render_output o;
    ck_assert_int_eq(render_check_result(&ev, NULL, &o), 0);
    cJSON *blocks = check_limits(&o);
    /* Lines that do not fit are dropped whole and counted in "and K more". */
    int shown = 0;
    for (int i = 0; i < 100; i++) {
        char needle[16];
        snprintf(needle, sizeof needle, "\\n\xE2\x80\xA2 %d N", i);
        if (strstr(o.blocks_json, needle))
            shown++;
    }
    /* Each line is ~1,850 characters: one fits the 3,000 of a section, never half of one. */
    ck_assert_int_eq(shown, 1);
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "and 4,999 more"));
    ck_assert(o.truncated);
    cJSON_Delete(blocks);
    render_output_dispose(&o);
    setup();

    /* A normal large sample: ten shown, the rest counted with thousands separators. */
    ev = check_event("Weak MFA", 100, 12345);
    ck_assert_int_eq(render_check_result(&ev, NULL, &o), 0);
    cJSON_Delete(check_limits(&o));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "User 9 (user9@example.com)"));
    ck_assert_ptr_null(strstr(o.blocks_json, "User 10 (user10@example.com)"));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "and 12,335 more"));
    render_output_dispose(&o);
}
END_TEST

START_TEST(section_capped_at_3000)
{
    char *msg = repeat("error detail & more <x> ", 2000); /* 48,000 characters */
    event ev = collection_event(true);
    ev.error_message = msg;
    event_stat st[300];
    char stat_names[300][64];
    for (int i = 0; i < 300; i++) {
        snprintf(stat_names[i], sizeof stat_names[i], "statistic_number_%d_with_a_long_name", i);
        st[i].name = stat_names[i];
        st[i].value = i * 1000;
    }
    ev.stats = st;
    ev.nstats = 300;
    render_output o;
    ck_assert_int_eq(render_collection(&ev, NULL, &o), 0);
    cJSON *blocks = check_limits(&o);
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "\xE2\x80\xA6 (truncated)"));
    /* Statistics that do not fit are counted, in italics. */
    ck_assert_ptr_nonnull(strstr(o.blocks_json, " more\",\"style\":{\"italic\":true}"));
    ck_assert(o.truncated);
    cJSON_Delete(blocks);
    render_output_dispose(&o);
    free(msg);
}
END_TEST

START_TEST(digest_total_limits)
{
    enum { N = 500 };
    static event evs[N];
    static const event *ptrs[N];
    char *long_name = repeat("Very long check name ", 30);
    for (int i = 0; i < N; i++) {
        evs[i] = i % 3 ? check_event(long_name, 0, i) : collection_event(i % 2);
        ptrs[i] = &evs[i];
    }
    render_output o;
    ck_assert_int_eq(render_digest(ptrs, N, NULL, &o), 0);
    cJSON *blocks = check_limits(&o);
    ck_assert_ptr_nonnull(strstr(header_text(blocks), "500 notifications"));
    ck_assert_ptr_nonnull(strstr(o.blocks_json, " more_"));
    ck_assert_ptr_nonnull(strstr(o.text, "500 notifications"));
    ck_assert(o.truncated);
    cJSON_Delete(blocks);
    render_output_dispose(&o);

    /* Short lines: RENDER_MAX_DIGEST_LINES listed, the rest counted. */
    for (int i = 0; i < N; i++)
        evs[i] = check_event("Weak MFA", 0, i);
    ck_assert_int_eq(render_digest(ptrs, N, NULL, &o), 0);
    blocks = check_limits(&o);
    ck_assert_ptr_nonnull(strstr(o.blocks_json, "_and 460 more_"));
    ck_assert_ptr_nonnull(find_text(blocks, " (high): 39 of 480 users fail", false));
    ck_assert_ptr_null(find_text(blocks, " (high): 40 of 480 users fail", false));
    cJSON_Delete(blocks);
    render_output_dispose(&o);

    /* A small digest lists everything, one line each. */
    evs[0] = check_event("Weak MFA", 0, 12);
    evs[1] = collection_event(true);
    evs[2] = collection_event(false);
    ck_assert_int_eq(render_digest(ptrs, 3, NULL, &o), 0);
    blocks = check_limits(&o);
    ck_assert(styled(find_text(blocks, "Weak MFA", true), "bold"));
    ck_assert_ptr_nonnull(find_text(blocks, " (high): 12 of 480 users fail", false));
    ck_assert(styled(find_text(blocks, "Okta (prod)", true), "bold"));
    ck_assert_ptr_nonnull(find_text(blocks, " collection failed: auth_failed", false));
    ck_assert_ptr_nonnull(find_text(blocks, " collection succeeded", false));
    ck_assert_ptr_null(strstr(o.blocks_json, " more_"));
    ck_assert(!o.truncated);
    cJSON_Delete(blocks);
    render_output_dispose(&o);
    ck_assert_int_eq(render_digest(ptrs, 0, NULL, &o), -1);
    free(long_name);
}
END_TEST

/* Random bytes (invalid UTF-8, controls, markup, entities, astral
 * characters) in every field, at random lengths: every message still meets
 * every limit, and every cut of escaped text is whole. Seeded: repeatable. */
START_TEST(random_bytes_everywhere)
{
    static const char *const pieces[] = {"<",
                                         ">",
                                         "&",
                                         "&amp;",
                                         "*",
                                         "_",
                                         "~",
                                         "`",
                                         "\n",
                                         "\t",
                                         "\x01",
                                         "\x7f",
                                         "\xc3\xa9",
                                         "\xe2\x82\xac",
                                         "\xf0\x9f\x98\x80",
                                         "\xc3",
                                         "\xff",
                                         "\xed\xa0\x80",
                                         "\xe2\x82",
                                         "<!channel>",
                                         "<@U1>",
                                         "a",
                                         "Z",
                                         " "};
    unsigned seed = 20261129;
    char buf[8192];
    for (int round = 0; round < 300; round++) {
        size_t len = 0, want = (size_t)rand_r(&seed) % 6000;
        while (len < want) {
            const char *p = pieces[(size_t)rand_r(&seed) % (sizeof pieces / sizeof pieces[0])];
            size_t pl = strlen(p);
            if (len + pl >= sizeof buf)
                break;
            memcpy(buf + len, p, pl);
            len += pl;
        }
        buf[len] = '\0';
        char *esc = render_escape_mrkdwn(buf);
        ck_assert(utf8_valid_str(esc));
        ck_assert(!pings(esc));
        for (int k = 0; k < 5; k++) {
            size_t max = (size_t)rand_r(&seed) % 400;
            size_t at = render_cut_point(esc, max);
            char *prefix = strndup(esc, at);
            ck_assert(utf8_valid_str(prefix));
            ck_assert(entities_whole(prefix));
            ck_assert_uint_le(render_text_units(prefix), max);
            free(prefix);
        }
        free(esc);
        event ev = check_event(buf, round % 3 ? 5 : 0, 5);
        ev.tenant_id = buf;
        render_output o;
        ck_assert_int_eq(render_check_result(&ev, NULL, &o), 0);
        cJSON_Delete(check_limits(&o));
        render_output_dispose(&o);
        event c = collection_event(round % 2 == 0);
        c.integration_name = buf;
        c.error_message = buf;
        ck_assert_int_eq(render_collection(&c, NULL, &o), 0);
        cJSON_Delete(check_limits(&o));
        render_output_dispose(&o);
    }
}
END_TEST

START_TEST(everything_huge_at_once)
{
    /* Every text field at its worst: still a payload Slack accepts. */
    static char names[100][2600];
    char *big = repeat("<!channel>&\xF0\x9F\x98\x80*_", 150);
    for (int i = 0; i < 100; i++) {
        snprintf(names[i], sizeof names[i], "%s", big);
        sample_users[i].display_name = names[i];
        sample_users[i].email = names[i];
    }
    event ev = check_event(big, 100, 100);
    ev.tenant_id = big;
    render_output o;
    ck_assert_int_eq(render_check_result(&ev, NULL, &o), 0);
    cJSON_Delete(check_limits(&o));
    render_output_dispose(&o);
    ck_assert_int_eq(render_check_repeat(&ev, 1, NULL, &o), 0);
    cJSON_Delete(check_limits(&o));
    render_output_dispose(&o);
    event c = collection_event(true);
    c.integration_name = big;
    c.integration_kind = big;
    c.error_code = big;
    c.error_message = big;
    c.tenant_id = big;
    ck_assert_int_eq(render_collection(&c, NULL, &o), 0);
    cJSON_Delete(check_limits(&o));
    render_output_dispose(&o);
    ck_assert_int_eq(render_test_message(big, NULL, &o), 0);
    cJSON_Delete(check_limits(&o));
    render_output_dispose(&o);
    const event *both[2] = {&ev, &c};
    ck_assert_int_eq(render_digest(both, 2, NULL, &o), 0);
    cJSON_Delete(check_limits(&o));
    render_output_dispose(&o);
    /* The kinds of issue 10 too: an edited message with every mark, replies, a nudge. */
    render_marks mk = {.resolved_at_ms = 1, .acked_by = "U1", .muted = true, .nudged = 1};
    render_opts ro = {.action_value = "0b6e8a1c-1f7a-4c36-9d55-1c0f0e8b7a11:7",
                      .nudge_button = true,
                      .herald_url = "https://herald.example.com/console",
                      .marks = &mk};
    allowed_mention = "<@U1>";
    ck_assert_int_eq(render_check_result(&ev, &ro, &o), 0);
    cJSON_Delete(check_limits(&o));
    ck_assert(o.truncated);
    render_output_dispose(&o);
    ck_assert_int_eq(render_collection(&c, &ro, &o), 0);
    cJSON_Delete(check_limits(&o));
    render_output_dispose(&o);
    allowed_mention = NULL;
    ck_assert_int_eq(render_resolved_reply(&ev, NULL, &o), 0);
    cJSON_Delete(check_limits(&o));
    render_output_dispose(&o);
    ck_assert_int_eq(render_resolved_reply(&c, NULL, &o), 0);
    cJSON_Delete(check_limits(&o));
    render_output_dispose(&o);
    ck_assert_int_eq(render_nudge(big, SEV_HIGH, big, big, NULL, &o), 0);
    cJSON_Delete(check_limits(&o));
    render_output_dispose(&o);
    free(big);
    setup();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("render");
    TCase *tc = tcase_create("render");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, escaping_blocks_mentions);
    tcase_add_test(tc, check_with_hostile_names_cannot_ping);
    tcase_add_test(tc, user_text_verbatim_in_every_kind);
    tcase_add_test(tc, mentions_and_links_never_act);
    tcase_add_test(tc, bidi_and_c1_removed);
    tcase_add_test(tc, buttons_follow_the_marks);
    tcase_add_test(tc, resolved_reply_content);
    tcase_add_test(tc, nudge_content);
    tcase_add_test(tc, check_content);
    tcase_add_test(tc, collection_content);
    tcase_add_test(tc, test_message_and_repeat);
    tcase_add_test(tc, header_cut_at_150);
    tcase_add_test(tc, random_bytes_everywhere);
    tcase_add_test(tc, utf8_and_entities_are_never_split);
    tcase_add_test(tc, huge_sample_within_limits);
    tcase_add_test(tc, section_capped_at_3000);
    tcase_add_test(tc, digest_total_limits);
    tcase_add_test(tc, everything_huge_at_once);
    suite_add_tcase(s, tc);
    return testlib_run_suite(s);
}
