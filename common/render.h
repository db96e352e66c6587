#ifndef HERALD_RENDER_H
#define HERALD_RENDER_H

/*
 * Block Kit rendering of Herald's messages (cJSON), with a text fallback.
 *
 * User text (check names, display names, emails, integration names and
 * kinds, error codes and messages, statistic names, tenant ids, remediation
 * texts) reaches Slack as sent, with no character added:
 *   - it goes where Slack parses no markup: "rich_text" blocks (text elements
 *     of a rich_text_section; where we bold or italicise, the element's
 *     "style" does it, never * or _ in the text) and "plain_text" objects
 *     (headers, the context line; "emoji": false, so ":tada:" stays text).
 *     mrkdwn holds only our own words (field labels, counts, dates, marks).
 *   - &, < and > are written as &amp; &lt; &gt; everywhere, in rich_text,
 *     plain_text, mrkdwn and the fallback alike. Slack's formatting reference
 *     names these three as the control characters of its text and the only
 *     entities it decodes for display ("Slack will take care of the rest");
 *     Slack itself stores plain_text in this form. So "<!channel>", "<@U123>"
 *     or "<https://evil|x>" show as typed and can never become a mention or a
 *     link: no raw '<' of user text exists anywhere in the payload (nor for
 *     anything that reads it back). Slack's documentation does not say
 *     whether rich_text text elements decode the entities; if one showed
 *     "&amp;" literally, escape() is the one place to change.
 *   - * _ ~ ` pass untouched (rich_text and plain_text do not format them).
 *   - removed: bidirectional overrides, isolates and marks (U+202A..202E,
 *     U+2066..2069, U+200E, U+200F, U+061C) and C1 controls (U+0080..009F),
 *     which change what a reader sees without being seen; C0 controls become
 *     a space, except a newline where one is allowed (error messages,
 *     remediation texts); invalid UTF-8 becomes U+FFFD.
 * The fallback "text" (notifications, clients without blocks) carries the
 * same escaped text verbatim. Slack reads it as mrkdwn, so a name like
 * "*a* b" may show "a" in bold in a notification: harmless (the characters,
 * mentions and links cannot change, & < > being escaped), and better than
 * inserting invisible characters that break search and copy.
 *
 * Every Slack size limit in slack-api.md is respected: header <= 150
 * characters, section text <= 3000 (a rich_text block too), <= 50 blocks,
 * fallback text < 4000, all text (rich_text elements included) <
 * RENDER_MAX_TOTAL_CHARS. Content that does not fit is cut with a note
 * ("… truncated"); a cut never splits a UTF-8 sequence or an escape entity.
 * Lengths are counted as Slack does for the worst case: in UTF-16 code units.
 *
 * Pure functions: no I/O, no globals; safe from any thread.
 */

#include "common/event.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RENDER_MAX_HEADER_CHARS  150
#define RENDER_MAX_SECTION_CHARS 3000
#define RENDER_MAX_BLOCKS        50
#define RENDER_MAX_TEXT_CHARS    3900  /* fallback text; Slack advises < 4000 */
#define RENDER_MAX_TOTAL_CHARS   11000 /* all text in blocks; Slack rejects near 12,000 */
#define RENDER_MAX_SAMPLE_SHOWN  10    /* failing users listed before "and K more" */
#define RENDER_MAX_DIGEST_LINES  40    /* digest lines before "and N more" */

/* One rendered message. Strings are malloc'd and owned by the struct. */
typedef struct render_output {
    char *blocks_json; /* a JSON array text, for chat.postMessage "blocks" */
    char *text;        /* the notification fallback, for "text" (never empty) */
    bool truncated;    /* some content was cut to fit Slack's limits */
} render_output;

/* Frees the strings and zeroes the struct. NULL-safe. */
void render_output_dispose(render_output *out);

/*
 * What happened to a notification since it was posted, shown when its
 * message is edited (chat.update): resolved, acknowledged, snoozed or muted,
 * nudged. All zero: nothing (the message as first posted).
 */
typedef struct render_marks {
    int64_t resolved_at_ms;   /* > 0: "Resolved <date>", action buttons gone */
    const char *acked_by;     /* Slack user id (U.../W...): "Acknowledged by <@U...>" */
    int64_t acked_at_ms;      /* when, 0 = unknown */
    const char *silenced_by;  /* Slack user id, or NULL when not silenced from Slack */
    int64_t snoozed_until_ms; /* > 0: "Snoozed until <date>" */
    bool muted;               /* a silence without end: "Muted", Unmute instead of Mute */
    int nudged;               /* nudges delivered */
    int nudge_not_found;      /* failing users Slack does not know (users_not_found) */
    int nudge_failed;         /* nudges that failed otherwise */
    int nudge_pending;        /* nudges still on their way */
} render_marks;

/* Optional knobs; NULL means the defaults. */
typedef struct render_opts {
    const char *herald_url; /* console URL: the "View in Herald" button of a check without
                               its own check.url, and of collections; NULL = none */
    /* Action buttons of a check result (Snooze 24 h, Mute, Acknowledge, Nudge): each
     * button's value; "<event_id>:<target_id>". NULL: no action buttons (digests,
     * thread replies, test messages never have them). */
    const char *action_value;
    bool nudge_button;         /* the target opted in to "Nudge failing users" */
    const render_marks *marks; /* NULL: none */
} render_opts;

/* Action ids of the buttons (herald-api's /slack/interactivity dispatches on them). */
#define RENDER_ACTION_SNOOZE "herald_snooze"
#define RENDER_ACTION_MUTE   "herald_mute"
#define RENDER_ACTION_UNMUTE "herald_unmute"
#define RENDER_ACTION_ACK    "herald_ack"
#define RENDER_ACTION_NUDGE  "herald_nudge"
#define RENDER_ACTION_OPEN   "herald_open"
#define RENDER_ACTIONS_BLOCK "herald_actions"

/*
 * A check result: check name as header, severity, "N of M users fail", a
 * sample of failing users (display name + email, at most RENDER_MAX_SAMPLE_SHOWN
 * then "and K more"), trigger, and a "View in Herald" button when check.url is
 * an http(s) URL. Returns 0, or -1 when ev is not a check result.
 */
int render_check_result(const event *ev, const render_opts *opts, render_output *out);

/*
 * A repeat of a still-failing check, for a thread reply: "Still failing: 14 users,
 * 2 more than last run". previous_failing_count < 0 means unknown.
 */
int render_check_repeat(const event *ev, int64_t previous_failing_count, const render_opts *opts,
                        render_output *out);

/*
 * A collection event: integration name and kind, succeeded or failed, its
 * stats or its error code and message, trigger. -1 when ev is not a collection.
 */
int render_collection(const event *ev, const render_opts *opts, render_output *out);

/* Dispatches on ev->kind. */
int render_event(const event *ev, const render_opts *opts, render_output *out);

/* "Test message from Herald for target <name>". target_name may be NULL. */
int render_test_message(const char *target_name, const render_opts *opts, render_output *out);

/*
 * A digest folding n events (checks and collections, in order) into one
 * message: one line each with its counts, at most RENDER_MAX_DIGEST_LINES, then
 * "and N more". n must be >= 1.
 */
int render_digest(const event *const *evs, size_t n, const render_opts *opts, render_output *out);

/*
 * A thread reply (or a reply under a digest) saying that a check passes
 * again or that a collection succeeded after failing: "Resolved: <name> passes
 * again (0 of 480 users fail)". ev is the passing result.
 */
int render_resolved_reply(const event *ev, const render_opts *opts, render_output *out);

/*
 * A direct message to one failing user of a check: why they get it (the
 * check's name and severity), and what to do (text: the remediation, plain
 * text, shown verbatim). name may be NULL.
 */
int render_nudge(const char *check_name, event_severity severity, const char *user_name,
                 const char *text, const render_opts *opts, render_output *out);

/* ---- helpers (exposed for tests and other renderers) ------------------------------------ */

/*
 * The escaped copy of user text (malloc'd; NULL -> ""): & < > as entities,
 * bidirectional and C1 controls dropped, other controls as a space, bad
 * UTF-8 as U+FFFD; nothing else changes. The three names say where it goes;
 * render_escape_text keeps newlines (multi-line text: an error message).
 * render_escape_mrkdwn no longer neutralises * _ ~ `: user text belongs in
 * rich_text or plain_text, where they mean nothing.
 */
char *render_escape_mrkdwn(const char *s);
char *render_escape_entities(const char *s);
char *render_escape_text(const char *s);

/* Length of s as Slack may count it: UTF-16 code units of its UTF-8 text. */
size_t render_text_units(const char *s);

/*
 * Byte length of the longest prefix of s (NUL-terminated) that fits max_units
 * UTF-16 units without splitting a UTF-8 sequence or an &...; entity.
 */
size_t render_cut_point(const char *s, size_t max_units);

#endif
