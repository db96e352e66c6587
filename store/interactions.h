#ifndef HERALD_STORE_INTERACTIONS_H
#define HERALD_STORE_INTERACTIONS_H

/*
 * The database side of a button pressed in a Herald message in Slack
 * (herald-api's POST /slack/interactivity): whether the message is Herald's,
 * who may act in its tenant, what the press does (a silence made from the
 * message, the end of one, nudge deliveries) and the record of every press
 * in slack_actions. The caller (workers/api/api_interact.c) holds a
 * connection only around these calls, never across a Slack call.
 * store/store.h has the conventions; table comments in migration 010.
 */

#include "store/store.h"

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A snooze lasts this long. */
#define STORE_SNOOZE_MS (24LL * 3600 * 1000)

/* What a button does (slack_actions.action). */
typedef enum store_action_kind {
    STORE_ACTION_SNOOZE = 0,
    STORE_ACTION_MUTE,
    STORE_ACTION_UNMUTE,
    STORE_ACTION_ACK,
    STORE_ACTION_NUDGE
} store_action_kind;

/* "snooze", "mute", "unmute", "ack", "nudge". */
const char *store_action_kind_name(store_action_kind k);

/* One press as Slack described it. Strings may be NULL where the payload
 * lacked them; event_id / target_id are NULL / 0 when the button's value
 * named no message. */
typedef struct store_press {
    const char *team_id; /* required */
    const char *user_id; /* required */
    const char *user_name;
    store_action_kind action;
    const char *channel;
    const char *message_ts;
    const char *event_id;
    int64_t target_id;
    const char *tenant_id; /* known once the message was found */
} store_press;

/* The notification a press is about, as the database knows it. */
typedef struct store_pressed_message {
    char *tenant_id;
    char *check_type; /* NULL for a message that is not a check result */
    char *team_id;    /* the target's workspace */
    bool nudge_enabled;
} store_pressed_message;

void store_pressed_message_dispose(store_pressed_message *m);

/*
 * Finds the message a press names: the delivery (event_id, target_id) of
 * kind notify, of a live target in workspace team_id, posted in channel.
 * STORE_NOT_FOUND (errstr says which part did not match) when it is not
 * Herald's message or no longer known: the press is 'stale'.
 */
store_status store_pressed_message_get(PGconn *conn, const char *event_id, int64_t target_id,
                                       const char *team_id, const char *channel,
                                       store_pressed_message *out, char *errstr,
                                       size_t errstr_size) STORE_MUST_CHECK;

/*
 * Records a press that changed nothing: outcome "forbidden", "stale" or
 * "error", detail a readable reason (may be NULL).
 */
store_status store_press_record(PGconn *conn, const store_press *p, const char *outcome,
                                const char *detail, char *errstr,
                                size_t errstr_size) STORE_MUST_CHECK;

/* What an allowed press did. */
typedef struct store_press_result {
    int64_t silence_id; /* made (snooze, mute) or ended (unmute); 0: none */
    int nudges;         /* nudge deliveries created (a second press creates none) */
    char detail[256];   /* recorded in slack_actions.detail */
} store_press_result;

/*
 * Carries out an allowed press on message m and records it (outcome 'ok'),
 * in one transaction:
 *   snooze, mute: a silence of (tenant, check type, target), author
 *     "slack:<team>/<user>", reason "Snoozed from Slack by <name>" ("Muted
 *     ..."), ending in STORE_SNOOZE_MS or never, created_from_* = the
 *     message; a live silence made earlier from the same message is expired
 *     first (one silence per message: snoozing a muted message snoozes it);
 *   unmute: the live silences made from the message expire, expired_by the
 *     same author;
 *   ack: the record only;
 *   nudge: for each failing user of the event's sample with an email
 *     (lower-cased, deduplicated), an events row of kind 'nudge' (event_id
 *     md5(<event id>:<target id>:<email>)::uuid, payload herald.nudge.v1
 *     with the tenant's remediation text for the check type, else
 *     default_text) and a pending deliveries row of kind 'nudge' with
 *     ref_event_id; rows that exist are left alone, so a second press adds
 *     nothing; then NOTIFY herald_wake '<team>' when any was added.
 * A nudge press on a target without nudge_enabled is the caller's to refuse.
 * On failure nothing is changed or recorded (the caller records 'error').
 */
store_status store_press_apply(PGconn *conn, const store_press *p, const store_pressed_message *m,
                               const char *default_text, store_press_result *out, char *errstr,
                               size_t errstr_size) STORE_MUST_CHECK;

#endif
