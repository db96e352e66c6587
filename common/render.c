#include "common/render.h"

#include "common/strbuf.h"
#include "common/utf8.h"
#include "common/util.h"

#include <cJSON.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/*
 * Layout of every message: an optional header (plain_text), sections of our
 * own words (mrkdwn), rich_text blocks holding every piece of user text, an
 * optional actions block, and a context line. A builder tracks the block
 * count and the text budget so that no combination of inputs can produce a
 * payload Slack rejects; each piece is cut to what is left.
 */

#define TRUNC_NOTE     "\xE2\x80\xA6 (truncated)" /* "… (truncated)" */
#define FIELD_MAX      2000                       /* section field text limit */
#define MAX_FIELDS     10
#define BUTTON_URL_MAX 3000

/* ==== UTF-8, escaping and cutting ========================================================= */

/* The valid UTF-8 sequence at s (NUL-terminated): its length, or 0. */
static size_t utf8_seq(const unsigned char *s, uint32_t *cp)
{
    return utf8_decode(s, SIZE_MAX, cp);
}

/*
 * The one escaper of user text, for every place it goes (plain_text,
 * rich_text elements, the fallback): valid UTF-8 out whatever comes in (bad
 * bytes become U+FFFD); & < > become entities, so nothing can ping or link;
 * C0 controls and DEL become a space (a tab, or a newline where none is
 * allowed, separates words); C1 controls and the bidirectional controls are
 * dropped (they spoof what a reader sees); a CR before a kept newline goes.
 * Everything else, * _ ~ ` included, passes as it is: no character is added.
 */
static char *escape(const char *s, bool newlines)
{
    strbuf b = {0};
    strbuf_adds(&b, "");
    if (!s)
        return strbuf_take(&b);
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        uint32_t cp;
        size_t n = utf8_seq(p, &cp);
        if (n == 0) {
            strbuf_adds(&b, "\xEF\xBF\xBD");
            p++;
            continue;
        }
        if (cp == '&')
            strbuf_adds(&b, "&amp;");
        else if (cp == '<')
            strbuf_adds(&b, "&lt;");
        else if (cp == '>')
            strbuf_adds(&b, "&gt;");
        else if (cp == '\n' && newlines)
            strbuf_adds(&b, "\n");
        else if (cp == '\r' && newlines && p[1] == '\n')
            ; /* CRLF: the LF makes the line break */
        else if (cp < 0x20 || cp == 0x7F)
            strbuf_adds(&b, " ");
        else if ((cp >= 0x80 && cp <= 0x9F) || utf8_bidi_control(cp))
            ; /* dropped: invisible, and they change what the reader sees */
        else
            strbuf_add(&b, (const char *)p, n);
        p += n;
    }
    return strbuf_take(&b);
}

char *render_escape_mrkdwn(const char *s)
{
    return escape(s, false);
}

char *render_escape_entities(const char *s)
{
    return escape(s, false);
}

char *render_escape_text(const char *s)
{
    return escape(s, true);
}

/* An "&name;" / "&#123;" entity at s: its byte length, or 0. */
static size_t entity_len(const char *s)
{
    if (*s != '&')
        return 0;
    for (size_t i = 1; i < 10 && s[i]; i++) {
        char c = s[i];
        if (c == ';')
            return i > 1 ? i + 1 : 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '#'))
            return 0;
    }
    return 0;
}

/* One unit of text at s: bytes it spans and UTF-16 units it counts for. */
static size_t unit_at(const char *s, size_t *units)
{
    size_t e = entity_len(s);
    if (e) {
        *units = e;
        return e;
    }
    uint32_t cp;
    size_t n = utf8_seq((const unsigned char *)s, &cp);
    if (n == 0) {
        *units = 1;
        return 1;
    }
    *units = cp >= 0x10000 ? 2 : 1;
    return n;
}

size_t render_text_units(const char *s)
{
    size_t total = 0;
    if (!s)
        return 0;
    while (*s) {
        size_t u, n = unit_at(s, &u);
        total += u;
        s += n;
    }
    return total;
}

size_t render_cut_point(const char *s, size_t max_units)
{
    size_t used = 0, at = 0;
    while (s[at]) {
        size_t u, n = unit_at(s + at, &u);
        if (used + u > max_units)
            break;
        used += u;
        at += n;
    }
    return at;
}

/* A copy of s that fits max_units, with TRUNC_NOTE when cut. */
static char *fit(const char *s, size_t max_units, bool *truncated)
{
    if (render_text_units(s) <= max_units)
        return xstrdup(s);
    *truncated = true;
    size_t note = render_text_units(TRUNC_NOTE);
    strbuf b = {0};
    if (max_units > note + 1) {
        strbuf_add(&b, s, render_cut_point(s, max_units - note - 1));
        strbuf_adds(&b, " " TRUNC_NOTE);
    } else {
        strbuf_add(&b, s, render_cut_point(s, max_units));
    }
    return strbuf_take(&b);
}

/* ==== message builder ===================================================================== */

typedef struct msg {
    cJSON *blocks;
    int nblocks;
    size_t budget; /* text units left across all blocks */
    bool truncated;
} msg;

static void msg_init(msg *m)
{
    m->blocks = cJSON_CreateArray();
    m->nblocks = 0;
    m->budget = RENDER_MAX_TOTAL_CHARS;
    m->truncated = false;
}

/* Room for one more block (keeping reserve blocks for what must come after). */
static bool room(msg *m, int reserve, size_t min_units)
{
    if (m->nblocks + 1 + reserve > RENDER_MAX_BLOCKS || m->budget < min_units) {
        m->truncated = true;
        return false;
    }
    return true;
}

/* Cuts text to min(cap, budget) and charges the budget. */
static char *take_text(msg *m, const char *text, size_t cap)
{
    size_t limit = cap < m->budget ? cap : m->budget;
    char *t = fit(text, limit, &m->truncated);
    size_t u = render_text_units(t);
    m->budget -= u < m->budget ? u : m->budget;
    return t;
}

/* A text object. mrkdwn is verbatim (no auto-linking of names or mentions); plain_text
 * turns :shortcodes: into emoji only when asked (never for user text). */
static cJSON *text_obj(const char *type, const char *text, bool emoji)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "type", type);
    cJSON_AddStringToObject(o, "text", text);
    if (strcmp(type, "mrkdwn") == 0)
        cJSON_AddBoolToObject(o, "verbatim", true);
    else
        cJSON_AddBoolToObject(o, "emoji", emoji);
    return o;
}

static void add_block(msg *m, cJSON *block)
{
    cJSON_AddItemToArray(m->blocks, block);
    m->nblocks++;
}

/* plain is already escaped (escape()); shown as it is. */
static void add_header(msg *m, const char *plain)
{
    if (!room(m, 0, 1) || !*plain)
        return;
    char *t = take_text(m, plain, RENDER_MAX_HEADER_CHARS);
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "header");
    cJSON_AddItemToObject(b, "text", text_obj("plain_text", t, false));
    add_block(m, b);
    free(t);
}

static void add_section(msg *m, const char *mrkdwn, int reserve)
{
    if (!*mrkdwn || !room(m, reserve, 1))
        return;
    char *t = take_text(m, mrkdwn, RENDER_MAX_SECTION_CHARS);
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "section");
    cJSON_AddItemToObject(b, "text", text_obj("mrkdwn", t, false));
    add_block(m, b);
    free(t);
}

static void add_fields(msg *m, const char *const *fields, size_t n, int reserve)
{
    if (n == 0 || !room(m, reserve, n))
        return;
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "section");
    cJSON *arr = cJSON_AddArrayToObject(b, "fields");
    size_t cap = FIELD_MAX;
    for (size_t i = 0; i < n && i < MAX_FIELDS; i++) {
        if (!fields[i] || !*fields[i] || m->budget == 0)
            continue;
        char *t = take_text(m, fields[i], cap);
        cJSON_AddItemToArray(arr, text_obj("mrkdwn", t, false));
        free(t);
    }
    if (cJSON_GetArraySize(arr) == 0) {
        cJSON_Delete(b);
        return;
    }
    add_block(m, b);
}

/* A context line: mrkdwn for our own words, plain_text when it holds user text. */
static void add_context(msg *m, const char *text, bool plain)
{
    if (!*text || !room(m, 0, 1))
        return;
    char *t = take_text(m, text, 1000);
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "context");
    cJSON *els = cJSON_AddArrayToObject(b, "elements");
    cJSON_AddItemToArray(els, text_obj(plain ? "plain_text" : "mrkdwn", t, false));
    add_block(m, b);
    free(t);
}

/* ==== rich text =========================================================================== */

/*
 * A rich_text block of one rich_text_section: runs of text, plain, bold or
 * italic, and emoji and date elements. Slack parses no markup in a text
 * element (mentions, links and emoji are elements of their own), so user
 * text goes here as sent, escaped by escape() only. A block holds at most
 * RENDER_MAX_SECTION_CHARS units, like a section, and every unit is charged
 * to the message's budget. Runs of one style merge into one element.
 */
enum { RT_PLAIN = 0, RT_BOLD = 1, RT_ITALIC = 2 };

typedef struct rich {
    cJSON *block; /* NULL: no room for the block; every add is a no-op */
    cJSON *els;   /* the section's elements */
    cJSON *last;  /* the last element when it is a text run, else NULL */
    int last_style;
    size_t units; /* text units in this block */
    bool full;    /* a run was cut: nothing more goes in */
} rich;

static void rich_begin(msg *m, rich *r, int reserve)
{
    memset(r, 0, sizeof *r);
    if (!room(m, reserve, 1))
        return;
    r->block = cJSON_CreateObject();
    cJSON_AddStringToObject(r->block, "type", "rich_text");
    cJSON *secs = cJSON_AddArrayToObject(r->block, "elements");
    cJSON *sec = cJSON_CreateObject();
    cJSON_AddStringToObject(sec, "type", "rich_text_section");
    r->els = cJSON_AddArrayToObject(sec, "elements");
    cJSON_AddItemToArray(secs, sec);
}

/* Units the block may still take. */
static size_t rich_room(const msg *m, const rich *r)
{
    size_t left = RENDER_MAX_SECTION_CHARS - r->units;
    return left < m->budget ? left : m->budget;
}

/* Charges u units to the block and the message; false (and full) when they do not fit. */
static bool rich_charge(msg *m, rich *r, size_t u)
{
    if (!r->block || r->full)
        return false;
    if (u > rich_room(m, r)) {
        r->full = true;
        m->truncated = true;
        return false;
    }
    r->units += u;
    m->budget -= u;
    return true;
}

/* A run of text (escaped), cut with a note when it does not fit. */
static void rich_text(msg *m, rich *r, const char *text, int style)
{
    if (!r->block || r->full || !*text)
        return;
    bool cut = false;
    char *t = fit(text, rich_room(m, r), &cut);
    if (cut)
        r->full = m->truncated = true;
    size_t u = render_text_units(t);
    if (u == 0) {
        free(t);
        return;
    }
    r->units += u;
    m->budget -= u < m->budget ? u : m->budget;
    if (r->last && r->last_style == style) {
        strbuf j = {0};
        strbuf_adds(&j, cJSON_GetObjectItemCaseSensitive(r->last, "text")->valuestring);
        strbuf_adds(&j, t);
        cJSON_ReplaceItemInObjectCaseSensitive(r->last, "text", cJSON_CreateString(j.p));
        free(j.p);
    } else {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "type", "text");
        cJSON_AddStringToObject(e, "text", t);
        if (style != RT_PLAIN) {
            cJSON *st = cJSON_AddObjectToObject(e, "style");
            cJSON_AddBoolToObject(st, style == RT_BOLD ? "bold" : "italic", true);
        }
        cJSON_AddItemToArray(r->els, e);
        r->last = e;
        r->last_style = style;
    }
    free(t);
}

/* An emoji of ours (":white_check_mark:"), by name; charged as its shortcode. */
static void rich_emoji(msg *m, rich *r, const char *name)
{
    if (!rich_charge(m, r, strlen(name) + 2))
        return;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "type", "emoji");
    cJSON_AddStringToObject(e, "name", name);
    cJSON_AddItemToArray(r->els, e);
    r->last = NULL;
}

#define DATE_FORMAT "{date_short_pretty} at {time}"

/* A date Slack shows in the reader's time zone, with a UTC fallback; charged as its
 * format and fallback. */
/* ms as "2026-11-29 14:20 UTC" in iso; returns the seconds. */
static time_t utc_text(int64_t ms, char *iso, size_t size)
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(iso, size, "%Y-%m-%d %H:%M UTC", &tm);
    return t;
}

static void rich_date(msg *m, rich *r, int64_t ms)
{
    if (ms <= 0)
        return;
    char iso[64];
    time_t t = utc_text(ms, iso, sizeof iso);
    if (!rich_charge(m, r, strlen(DATE_FORMAT) + strlen(iso)))
        return;
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "type", "date");
    cJSON_AddNumberToObject(e, "timestamp", (double)t);
    cJSON_AddStringToObject(e, "format", DATE_FORMAT);
    cJSON_AddStringToObject(e, "fallback", iso);
    cJSON_AddItemToArray(r->els, e);
    r->last = NULL;
}

/* Adds the block when it holds anything. */
static void rich_end(msg *m, rich *r)
{
    if (r->block && cJSON_GetArraySize(r->els) > 0)
        add_block(m, r->block);
    else
        cJSON_Delete(r->block);
    r->block = NULL;
}

/* Only an http(s) URL without spaces or controls, short enough for a button. */
static bool usable_url(const char *url)
{
    if (!url || (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0))
        return false;
    size_t n = strlen(url);
    if (n > BUTTON_URL_MAX || n < 10)
        return false;
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= 0x20 || *p == 0x7F || *p == '<' || *p == '>' || *p == '"' || *p >= 0x80)
            return false;
    return true;
}

static cJSON *button(msg *m, const char *label, const char *action_id)
{
    cJSON *btn = cJSON_CreateObject();
    cJSON_AddStringToObject(btn, "type", "button");
    char *t = take_text(m, label, 75);
    cJSON_AddItemToObject(btn, "text", text_obj("plain_text", t, true));
    free(t);
    cJSON_AddStringToObject(btn, "action_id", action_id);
    return btn;
}

/* The actions block: the link button when url is usable, then the action
 * buttons chosen by render_actions(). Nothing when neither. */
typedef struct action_btn {
    const char *label, *action_id, *style;
} action_btn;

static void add_actions(msg *m, const char *url, const action_btn *acts, size_t nacts,
                        const char *value)
{
    bool link = usable_url(url);
    if ((!link && nacts == 0) || !room(m, 1, 40 * (nacts + 1)))
        return;
    cJSON *b = cJSON_CreateObject();
    cJSON_AddStringToObject(b, "type", "actions");
    if (nacts)
        cJSON_AddStringToObject(b, "block_id", RENDER_ACTIONS_BLOCK);
    cJSON *els = cJSON_AddArrayToObject(b, "elements");
    if (link) {
        cJSON *btn = button(m, "View in Herald", RENDER_ACTION_OPEN);
        cJSON_AddStringToObject(btn, "url", url);
        cJSON_AddItemToArray(els, btn);
    }
    for (size_t i = 0; i < nacts; i++) {
        cJSON *btn = button(m, acts[i].label, acts[i].action_id);
        cJSON_AddStringToObject(btn, "value", value);
        if (acts[i].style)
            cJSON_AddStringToObject(btn, "style", acts[i].style);
        cJSON_AddItemToArray(els, btn);
    }
    add_block(m, b);
}

static void add_button(msg *m, const char *label, const char *url)
{
    (void)label; /* always "View in Herald" */
    add_actions(m, url, NULL, 0, NULL);
}

/* A button value is ours ("<uuid>:<id>"); anything else shows no buttons. */
static bool usable_value(const char *v)
{
    if (!v || !*v || strlen(v) > 100)
        return false;
    for (const char *p = v; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F') ||
              *p == '-' || *p == ':'))
            return false;
    return true;
}

/* Whether the event names at least one failing user with an email (a nudge has someone
 * to write to). */
static bool has_emails(const event *ev)
{
    for (size_t i = 0; i < ev->nusers; i++)
        if (ev->users[i].email && *ev->users[i].email)
            return true;
    return false;
}

/* The action buttons a check message shows now, given its marks. */
static size_t check_actions(const event *ev, const render_opts *opts, action_btn *out)
{
    size_t n = 0;
    if (!opts || !usable_value(opts->action_value))
        return 0;
    const render_marks *mk = opts->marks;
    if (mk && mk->resolved_at_ms > 0)
        return 0;
    bool nudged =
        mk && (mk->nudged || mk->nudge_not_found || mk->nudge_failed || mk->nudge_pending);
    if (!mk || !mk->acked_by)
        out[n++] = (action_btn){"Acknowledge", RENDER_ACTION_ACK, "primary"};
    if (mk && mk->muted)
        out[n++] = (action_btn){"Unmute", RENDER_ACTION_UNMUTE, NULL};
    else {
        if (!mk || mk->snoozed_until_ms <= 0)
            out[n++] = (action_btn){"Snooze 24 h", RENDER_ACTION_SNOOZE, NULL};
        out[n++] = (action_btn){"Mute this check here", RENDER_ACTION_MUTE, "danger"};
    }
    if (opts->nudge_button && !nudged && has_emails(ev))
        out[n++] = (action_btn){"Nudge failing users", RENDER_ACTION_NUDGE, NULL};
    return n;
}

/* The event's own link when usable, else the console's (opts->herald_url), else NULL. */
static const char *link_for(const char *own, const render_opts *opts)
{
    if (usable_url(own))
        return own;
    return opts && usable_url(opts->herald_url) ? opts->herald_url : NULL;
}

/* Finishes the message: blocks JSON and a fallback text cut to its limit. */
static int msg_finish(msg *m, const char *fallback, render_output *out)
{
    memset(out, 0, sizeof *out);
    char *bj = cJSON_PrintUnformatted(m->blocks);
    cJSON_Delete(m->blocks);
    m->blocks = NULL;
    if (!bj)
        abort(); /* out of memory */
    out->blocks_json = bj;
    bool cut = false;
    out->text =
        fit(fallback && *fallback ? fallback : "Herald notification", RENDER_MAX_TEXT_CHARS, &cut);
    out->truncated = m->truncated || cut;
    return 0;
}

void render_output_dispose(render_output *out)
{
    if (!out)
        return;
    free(out->blocks_json);
    free(out->text);
    memset(out, 0, sizeof *out);
}

/* ==== words =============================================================================== */

static const char *severity_label(event_severity s)
{
    switch (s) {
    case SEV_LOW:
        return ":large_blue_circle: Low";
    case SEV_MEDIUM:
        return ":large_yellow_circle: Medium";
    case SEV_HIGH:
        return ":large_orange_circle: High";
    case SEV_CRITICAL:
        return ":red_circle: Critical";
    }
    return "Unknown";
}

static const char *severity_word(event_severity s)
{
    switch (s) {
    case SEV_LOW:
        return "low";
    case SEV_MEDIUM:
        return "medium";
    case SEV_HIGH:
        return "high";
    case SEV_CRITICAL:
        return "critical";
    }
    return "unknown";
}

static const char *trigger_label(event_trigger t)
{
    return t == TRIGGER_MANUAL ? "Manual run" : "Scheduled run";
}

/* 1234567 -> "1,234,567". */
static void fmt_count(char *buf, size_t size, int64_t v)
{
    char digits[32];
    bool neg = v < 0;
    uint64_t u = neg ? (uint64_t)(-(v + 1)) + 1 : (uint64_t)v;
    snprintf(digits, sizeof digits, "%" PRIu64, u);
    size_t n = strlen(digits), o = 0;
    if (neg && o + 1 < size)
        buf[o++] = '-';
    for (size_t i = 0; i < n && o + 2 < size; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = digits[i];
    }
    buf[o] = '\0';
}

/* Slack's date formatting with a UTC fallback for clients that cannot. */
static void fmt_date(strbuf *b, int64_t ms)
{
    if (ms <= 0)
        return;
    char iso[64];
    time_t t = utc_text(ms, iso, sizeof iso);
    strbuf_addf(b, "<!date^%lld^" DATE_FORMAT "|%s>", (long long)t, iso);
}

static const char *or_default(const char *s, const char *def)
{
    return s && *s ? s : def;
}

/* ==== marks =============================================================================== */

/* A Slack user id we may mention: U/W then upper-case letters and digits. */
static bool slack_user_id(const char *s)
{
    if (!s || (s[0] != 'U' && s[0] != 'W') || !s[1] || strlen(s) > 32)
        return false;
    for (const char *p = s + 1; *p; p++)
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9')))
            return false;
    return true;
}

static void add_user(strbuf *b, const char *id)
{
    if (slack_user_id(id))
        strbuf_addf(b, "<@%s>", id);
    else
        strbuf_adds(b, "someone");
}

/* "Nudged 12 users (2 not found in Slack)", from the counts. */
static void nudge_line(strbuf *b, const render_marks *mk)
{
    int done = mk->nudged + mk->nudge_not_found + mk->nudge_failed;
    char n[32];
    if (mk->nudge_pending > 0) {
        fmt_count(n, sizeof n, mk->nudge_pending + done);
        strbuf_addf(b, ":envelope: Nudging %s user%s\xE2\x80\xA6", n,
                    mk->nudge_pending + done == 1 ? "" : "s");
        return;
    }
    fmt_count(n, sizeof n, mk->nudged);
    strbuf_addf(b, ":envelope: Nudged %s user%s", n, mk->nudged == 1 ? "" : "s");
    if (mk->nudge_not_found || mk->nudge_failed) {
        strbuf_adds(b, " (");
        if (mk->nudge_not_found) {
            fmt_count(n, sizeof n, mk->nudge_not_found);
            strbuf_addf(b, "%s not found in Slack", n);
        }
        if (mk->nudge_failed) {
            fmt_count(n, sizeof n, mk->nudge_failed);
            strbuf_addf(b, "%s%s could not be sent", mk->nudge_not_found ? ", " : "", n);
        }
        strbuf_adds(b, ")");
    }
}

/* The state lines of an edited message, under its header; "" when there are none. */
static void marks_text(strbuf *b, const render_marks *mk)
{
    strbuf_adds(b, "");
    if (!mk)
        return;
    if (mk->resolved_at_ms > 0) {
        strbuf_adds(b, ":white_check_mark: *Resolved* ");
        fmt_date(b, mk->resolved_at_ms);
    }
    if (mk->acked_by) {
        strbuf_adds(b, b->len ? "\n" : "");
        strbuf_adds(b, ":eyes: Acknowledged by ");
        add_user(b, mk->acked_by);
        if (mk->acked_at_ms > 0) {
            strbuf_adds(b, " ");
            fmt_date(b, mk->acked_at_ms);
        }
    }
    if (mk->muted || mk->snoozed_until_ms > 0) {
        strbuf_adds(b, b->len ? "\n" : "");
        if (mk->muted)
            strbuf_adds(b, ":mute: Muted here");
        else {
            strbuf_adds(b, ":zzz: Snoozed until ");
            fmt_date(b, mk->snoozed_until_ms);
        }
        if (mk->silenced_by) {
            strbuf_adds(b, " by ");
            add_user(b, mk->silenced_by);
        }
    }
    if (mk->nudged || mk->nudge_not_found || mk->nudge_failed || mk->nudge_pending) {
        strbuf_adds(b, b->len ? "\n" : "");
        nudge_line(b, mk);
    }
}

static void add_marks(msg *m, const render_opts *opts)
{
    strbuf b = {0};
    marks_text(&b, opts ? opts->marks : NULL);
    add_section(m, b.p, 2);
    free(b.p);
}

static bool resolved(const render_opts *opts)
{
    return opts && opts->marks && opts->marks->resolved_at_ms > 0;
}

/* ==== check results ======================================================================= */

/* "\n• Alice Smith (alice@example.com)" for one sample user, escaped. */
static void user_line(strbuf *b, const event_user *u)
{
    const char *name = u->display_name && *u->display_name ? u->display_name : NULL;
    const char *email = u->email && *u->email ? u->email : NULL;
    char *n = escape(name ? name : (email ? email : or_default(u->id, "unknown")), false);
    strbuf_addf(b, "\n\xE2\x80\xA2 %s", n);
    free(n);
    if (name && email) {
        char *e = escape(email, false);
        strbuf_addf(b, " (%s)", e);
        free(e);
    }
}

/* "Sent by Herald · tenant acme": plain_text, the tenant id is user text. */
static void add_context_line(msg *m, const event *ev)
{
    char *tenant = escape(or_default(ev->tenant_id, "?"), false);
    strbuf b = {0};
    strbuf_addf(&b, "Sent by Herald \xC2\xB7 tenant %s", tenant);
    free(tenant);
    add_context(m, b.p, true);
    free(b.p);
}

/* The escaped name of a check result or a collection. */
static char *check_name_of(const event *ev)
{
    return escape(or_default(ev->check_name, or_default(ev->check_type, "Check")), false);
}

static char *integration_name_of(const event *ev)
{
    return escape(or_default(ev->integration_name, or_default(ev->integration_id, "?")), false);
}

int render_check_result(const event *ev, const render_opts *opts, render_output *out)
{
    if (!ev || ev->kind != EVENT_CHECK_RESULT)
        return -1;
    msg m;
    msg_init(&m);
    char failing[32], total[32];
    fmt_count(failing, sizeof failing, ev->failing_count);
    fmt_count(total, sizeof total, ev->total_count);
    char *name = check_name_of(ev);
    add_header(&m, name);
    add_marks(&m, opts);

    strbuf f1 = {0}, f2 = {0}, f3 = {0}, f4 = {0};
    strbuf_addf(&f1, "*Severity*\n%s", severity_label(ev->severity));
    strbuf_addf(&f2, "*Failing users*\n%s of %s", failing, total);
    strbuf_addf(&f3, "*Trigger*\n%s", trigger_label(ev->trigger));
    if (ev->evaluated_at_ms > 0) {
        strbuf_adds(&f4, "*Evaluated*\n");
        fmt_date(&f4, ev->evaluated_at_ms);
    }
    const char *fields[] = {f1.p, f2.p, f3.p, f4.p};
    add_fields(&m, fields, ARRAY_LEN(fields), 2);
    free(f1.p), free(f2.p), free(f3.p), free(f4.p);

    /* The sample: at most RENDER_MAX_SAMPLE_SHOWN lines; failing_count is the truth. */
    if (ev->nusers > 0) {
        rich r;
        rich_begin(&m, &r, 2);
        rich_text(&m, &r, "Failing users", RT_BOLD);
        size_t shown = 0;
        for (size_t i = 0; i < ev->nusers && shown < RENDER_MAX_SAMPLE_SHOWN; i++) {
            strbuf line = {0};
            user_line(&line, &ev->users[i]);
            /* Keep whole lines; leave room for the "and K more" line. */
            if (render_text_units(line.p) + 40 > rich_room(&m, &r)) {
                free(line.p);
                m.truncated = true;
                break;
            }
            rich_text(&m, &r, line.p, RT_PLAIN);
            free(line.p);
            shown++;
        }
        int64_t total_failing =
            ev->failing_count > (int64_t)ev->nusers ? ev->failing_count : (int64_t)ev->nusers;
        if (total_failing > (int64_t)shown) {
            char k[32], more[64];
            fmt_count(k, sizeof k, total_failing - (int64_t)shown);
            snprintf(more, sizeof more, "and %s more", k);
            rich_text(&m, &r, "\n", RT_PLAIN);
            rich_text(&m, &r, more, RT_ITALIC);
        }
        rich_end(&m, &r);
    }

    action_btn acts[5] = {{0}};
    size_t nacts = check_actions(ev, opts, acts);
    add_actions(&m, link_for(ev->check_url, opts), acts, nacts, opts ? opts->action_value : NULL);
    add_context_line(&m, ev);

    strbuf fb = {0};
    if (resolved(opts))
        strbuf_adds(&fb, "Resolved: ");
    strbuf_addf(&fb, "%s (%s): %s of %s users fail [%s]", name, severity_word(ev->severity),
                failing, total, ev->trigger == TRIGGER_MANUAL ? "manual run" : "scheduled run");
    free(name);
    int rc = msg_finish(&m, fb.p, out);
    free(fb.p);
    return rc;
}

int render_check_repeat(const event *ev, int64_t previous_failing_count, const render_opts *opts,
                        render_output *out)
{
    (void)opts;
    if (!ev || ev->kind != EVENT_CHECK_RESULT)
        return -1;
    msg m;
    msg_init(&m);
    char failing[32], diff[32];
    fmt_count(failing, sizeof failing, ev->failing_count);
    char *name = check_name_of(ev);
    /* How the count moved, in our words (also the fallback's). */
    strbuf how = {0};
    strbuf_addf(&how, " %s", ev->failing_count == 1 ? "user" : "users");
    if (previous_failing_count >= 0) {
        int64_t d = ev->failing_count - previous_failing_count;
        fmt_count(diff, sizeof diff, d < 0 ? -d : d);
        if (d > 0)
            strbuf_addf(&how, ", %s more than last run", diff);
        else if (d < 0)
            strbuf_addf(&how, ", %s fewer than last run", diff);
        else
            strbuf_adds(&how, ", same as last run");
    }
    strbuf_addf(&how, " (%s)", trigger_label(ev->trigger));

    rich r;
    rich_begin(&m, &r, 1);
    rich_text(&m, &r, name, RT_BOLD);
    rich_text(&m, &r, "\nStill failing: ", RT_PLAIN);
    rich_text(&m, &r, failing, RT_BOLD);
    rich_text(&m, &r, how.p, RT_PLAIN);
    rich_end(&m, &r);
    add_context_line(&m, ev);

    strbuf fb = {0};
    strbuf_addf(&fb, "%s: Still failing: *%s*%s", name, failing, how.p);
    free(name);
    free(how.p);
    int rc = msg_finish(&m, fb.p, out);
    free(fb.p);
    return rc;
}

/* ==== collections ========================================================================= */

/* "Collected" and one line per statistic, whole lines only, then "and N more". */
static void add_stats(msg *m, const event *ev)
{
    rich r;
    rich_begin(m, &r, 1);
    rich_text(m, &r, "Collected", RT_BOLD);
    for (size_t i = 0; i < ev->nstats; i++) {
        char *sn = escape(or_default(ev->stats[i].name, "?"), false);
        char v[32];
        fmt_count(v, sizeof v, ev->stats[i].value);
        strbuf line = {0};
        strbuf_addf(&line, "\n\xE2\x80\xA2 %s: %s", sn, v);
        free(sn);
        bool fits = render_text_units(line.p) + 40 <= rich_room(m, &r);
        if (fits)
            rich_text(m, &r, line.p, RT_PLAIN);
        free(line.p);
        if (!fits) {
            char more[64];
            snprintf(more, sizeof more, "and %zu more", ev->nstats - i);
            rich_text(m, &r, "\n", RT_PLAIN);
            rich_text(m, &r, more, RT_ITALIC);
            m->truncated = true;
            break;
        }
    }
    rich_end(m, &r);
}

int render_collection(const event *ev, const render_opts *opts, render_output *out)
{
    if (!ev || ev->kind != EVENT_COLLECTION)
        return -1;
    msg m;
    msg_init(&m);
    char *name = integration_name_of(ev);
    strbuf h = {0};
    strbuf_addf(&h, "%s collection %s", name, ev->failed ? "failed" : "succeeded");
    add_header(&m, h.p);
    free(h.p);
    add_marks(&m, opts);

    strbuf f2 = {0}, f3 = {0}, f4 = {0};
    strbuf_addf(&f2, "*Status*\n%s", ev->failed ? ":x: Failed" : ":white_check_mark: Succeeded");
    strbuf_addf(&f3, "*Trigger*\n%s", trigger_label(ev->trigger));
    if (ev->finished_at_ms > 0) {
        strbuf_adds(&f4, "*Finished*\n");
        fmt_date(&f4, ev->finished_at_ms);
        if (ev->started_at_ms > 0 && ev->finished_at_ms >= ev->started_at_ms) {
            int64_t s = (ev->finished_at_ms - ev->started_at_ms) / 1000;
            if (s >= 3600)
                strbuf_addf(&f4, " (took %lldh %02lldm)", (long long)(s / 3600),
                            (long long)(s % 3600 / 60));
            else if (s >= 60)
                strbuf_addf(&f4, " (took %lldm %02llds)", (long long)(s / 60), (long long)(s % 60));
            else
                strbuf_addf(&f4, " (took %llds)", (long long)s);
        }
    }
    const char *fields[] = {f2.p, f3.p, f4.p};
    add_fields(&m, fields, ARRAY_LEN(fields), 3);
    free(f2.p), free(f3.p), free(f4.p);

    /* The integration (user text: a rich_text block, not a field). */
    char *kind = escape(or_default(ev->integration_kind, "?"), false);
    rich r;
    rich_begin(&m, &r, 2);
    rich_text(&m, &r, "Integration", RT_BOLD);
    strbuf line = {0};
    strbuf_addf(&line, "\n%s (%s)", name, kind);
    rich_text(&m, &r, line.p, RT_PLAIN);
    free(line.p);
    free(kind);
    rich_end(&m, &r);

    char *ecode = NULL;
    if (ev->failed || ev->error_code || ev->error_message) {
        ecode = escape(or_default(ev->error_code, "unknown_error"), false);
        rich_begin(&m, &r, 1);
        rich_text(&m, &r, "Error:", RT_BOLD);
        rich_text(&m, &r, " ", RT_PLAIN);
        rich_text(&m, &r, ecode, RT_PLAIN);
        if (ev->error_message && *ev->error_message) {
            char *msgt = escape(ev->error_message, true);
            rich_text(&m, &r, "\n", RT_PLAIN);
            rich_text(&m, &r, msgt, RT_PLAIN);
            free(msgt);
        }
        rich_end(&m, &r);
    }
    if (ev->nstats > 0)
        add_stats(&m, ev);

    add_button(&m, "View in Herald", link_for(NULL, opts));
    add_context_line(&m, ev);

    strbuf fb = {0};
    if (resolved(opts))
        strbuf_adds(&fb, "Resolved: ");
    strbuf_addf(&fb, "%s collection %s", name, ev->failed ? "failed" : "succeeded");
    if (ecode)
        strbuf_addf(&fb, ": %s", ecode);
    strbuf_addf(&fb, " [%s]", ev->trigger == TRIGGER_MANUAL ? "manual run" : "scheduled run");
    int rc = msg_finish(&m, fb.p, out);
    free(fb.p);
    free(name);
    free(ecode);
    return rc;
}

int render_event(const event *ev, const render_opts *opts, render_output *out)
{
    if (!ev)
        return -1;
    return ev->kind == EVENT_CHECK_RESULT ? render_check_result(ev, opts, out)
                                          : render_collection(ev, opts, out);
}

/* ==== test message ======================================================================== */

int render_test_message(const char *target_name, const render_opts *opts, render_output *out)
{
    (void)opts;
    msg m;
    msg_init(&m);
    add_header(&m, "Test message from Herald");
    char *name = escape(or_default(target_name, "(unnamed)"), false);
    rich r;
    rich_begin(&m, &r, 0);
    rich_text(&m, &r, "Test message from Herald for target ", RT_PLAIN);
    rich_text(&m, &r, name, RT_BOLD);
    rich_text(&m, &r,
              ".\nIf you can read this, Herald's notifications for this target will arrive here.",
              RT_PLAIN);
    rich_end(&m, &r);
    strbuf fb = {0};
    strbuf_addf(&fb, "Test message from Herald for target %s", name);
    free(name);
    int rc = msg_finish(&m, fb.p, out);
    free(fb.p);
    return rc;
}

/* ==== resolved replies and nudges ======================================================== */

int render_resolved_reply(const event *ev, const render_opts *opts, render_output *out)
{
    (void)opts;
    if (!ev)
        return -1;
    msg m;
    msg_init(&m);
    bool check = ev->kind == EVENT_CHECK_RESULT;
    char *name = check ? check_name_of(ev) : integration_name_of(ev);
    rich r;
    rich_begin(&m, &r, 1);
    rich_emoji(&m, &r, "white_check_mark");
    rich_text(&m, &r, " ", RT_PLAIN);
    rich_text(&m, &r, "Resolved:", RT_BOLD);
    rich_text(&m, &r, " ", RT_PLAIN);
    rich_text(&m, &r, name, RT_BOLD);
    if (check) {
        char total[32];
        fmt_count(total, sizeof total, ev->total_count);
        strbuf s = {0};
        strbuf_addf(&s, " passes again (0 of %s users fail)", total);
        rich_text(&m, &r, s.p, RT_PLAIN);
        free(s.p);
    } else {
        rich_text(&m, &r, " collection succeeded again", RT_PLAIN);
    }
    int64_t when = check ? ev->evaluated_at_ms : ev->finished_at_ms;
    if (when > 0) {
        rich_text(&m, &r, " \xC2\xB7 ", RT_PLAIN);
        rich_date(&m, &r, when);
    }
    rich_end(&m, &r);
    add_context_line(&m, ev);
    strbuf fb = {0};
    strbuf_addf(&fb, "Resolved: %s", name);
    free(name);
    int rc = msg_finish(&m, fb.p, out);
    free(fb.p);
    return rc;
}

int render_nudge(const char *check_name, event_severity severity, const char *user_name,
                 const char *text, const render_opts *opts, render_output *out)
{
    (void)opts; /* no console link: the reader is not a Herald user */
    msg m;
    msg_init(&m);
    add_header(&m, "A security check needs your attention");
    char *cname = escape(or_default(check_name, "A security check"), false);
    rich r;
    rich_begin(&m, &r, 2);
    if (user_name && *user_name) {
        char *u = escape(user_name, false);
        strbuf s = {0};
        strbuf_addf(&s, "Hello %s,\n", u);
        rich_text(&m, &r, s.p, RT_PLAIN);
        free(s.p);
        free(u);
    }
    rich_text(&m, &r, "your account fails the check ", RT_PLAIN);
    rich_text(&m, &r, cname, RT_BOLD);
    strbuf sev = {0};
    strbuf_addf(&sev, " (%s severity).", severity_word(severity));
    rich_text(&m, &r, sev.p, RT_PLAIN);
    free(sev.p);
    rich_end(&m, &r);
    char *t = escape(or_default(text, "Please contact your IT team."), true);
    rich_begin(&m, &r, 1);
    rich_text(&m, &r, t, RT_PLAIN);
    rich_end(&m, &r);
    add_context(&m, "Sent by Herald on behalf of your security team", false);
    strbuf fb = {0};
    strbuf_addf(&fb, "Your account fails the check %s: %s", cname, t);
    free(t);
    free(cname);
    int rc = msg_finish(&m, fb.p, out);
    free(fb.p);
    return rc;
}

/* ==== digest ============================================================================== */

#define DIGEST_NAME_MAX 400 /* units of a name in a digest line */

/* One digest line: "• " then the name (bold) then the rest, each escaped. */
typedef struct digest_line {
    char *name, *rest;
    size_t units;
} digest_line;

static void digest_line_of(digest_line *d, const event *ev, bool *truncated)
{
    strbuf rest = {0};
    char *name;
    if (ev->kind == EVENT_CHECK_RESULT) {
        name = check_name_of(ev);
        char failing[32], total[32];
        fmt_count(failing, sizeof failing, ev->failing_count);
        fmt_count(total, sizeof total, ev->total_count);
        strbuf_addf(&rest, " (%s): %s of %s users fail", severity_word(ev->severity), failing,
                    total);
    } else {
        name = integration_name_of(ev);
        strbuf_addf(&rest, " collection %s", ev->failed ? "failed" : "succeeded");
        if (ev->failed) {
            char *code = escape(or_default(ev->error_code, "unknown_error"), false);
            strbuf_addf(&rest, ": %s", code);
            free(code);
        } else if (ev->nstats > 0) {
            char v[32];
            char *sn = escape(or_default(ev->stats[0].name, "?"), false);
            fmt_count(v, sizeof v, ev->stats[0].value);
            strbuf_addf(&rest, " (%s: %s)", sn, v);
            free(sn);
        }
    }
    strbuf_addf(&rest, " \xC2\xB7 %s", ev->trigger == TRIGGER_MANUAL ? "manual" : "scheduled");
    d->name = fit(name, DIGEST_NAME_MAX, truncated);
    free(name);
    d->rest = fit(rest.p, 200, truncated);
    free(rest.p);
    d->units = 2 + render_text_units(d->name) + render_text_units(d->rest);
}

int render_digest(const event *const *evs, size_t n, const render_opts *opts, render_output *out)
{
    (void)opts;
    if (!evs || n == 0)
        return -1;
    size_t nchecks = 0, ncoll = 0;
    for (size_t i = 0; i < n; i++) {
        if (evs[i]->kind == EVENT_CHECK_RESULT)
            nchecks++;
        else
            ncoll++;
    }
    msg m;
    msg_init(&m);
    strbuf h = {0};
    strbuf_addf(&h, "Herald digest: %zu notification%s", n, n == 1 ? "" : "s");
    add_header(&m, h.p);

    /* Lines are packed into rich_text blocks of at most RENDER_MAX_SECTION_CHARS; the
     * budget stops the listing early, and the remainder is counted in "and N more". */
    size_t listed = 0;
    const size_t reserve_units = 200; /* the "and N more" section and the context line */
    rich r = {0};
    for (size_t i = 0; i < n && listed < RENDER_MAX_DIGEST_LINES; i++) {
        digest_line d;
        digest_line_of(&d, evs[i], &m.truncated);
        size_t lu = d.units + 1; /* and its newline */
        if (r.block && r.units + lu > RENDER_MAX_SECTION_CHARS)
            rich_end(&m, &r);
        bool fits = lu + reserve_units <= m.budget;
        if (fits && !r.block) {
            rich_begin(&m, &r, 2);
            fits = r.block != NULL;
        }
        if (fits) {
            if (r.units)
                rich_text(&m, &r, "\n", RT_PLAIN);
            rich_text(&m, &r, "\xE2\x80\xA2 ", RT_PLAIN);
            rich_text(&m, &r, d.name, RT_BOLD);
            rich_text(&m, &r, d.rest, RT_PLAIN);
            listed++;
        }
        free(d.name);
        free(d.rest);
        if (!fits) {
            m.truncated = true;
            break;
        }
    }
    rich_end(&m, &r);
    if (listed < n) {
        strbuf more = {0};
        strbuf_addf(&more, "_and %zu more_", n - listed);
        add_section(&m, more.p, 1);
        free(more.p);
    }
    strbuf ctx = {0};
    strbuf_addf(&ctx,
                "Folded by Herald to keep this channel within Slack's pace: %zu check "
                "result%s, %zu collection%s",
                nchecks, nchecks == 1 ? "" : "s", ncoll, ncoll == 1 ? "" : "s");
    add_context(&m, ctx.p, false);
    free(ctx.p);

    strbuf fb = {0};
    strbuf_addf(&fb, "%s (%zu check result%s, %zu collection%s)", h.p, nchecks,
                nchecks == 1 ? "" : "s", ncoll, ncoll == 1 ? "" : "s");
    free(h.p);
    int rc = msg_finish(&m, fb.p, out);
    free(fb.p);
    return rc;
}
