#ifndef HERALD_STORE_MESSAGES_H
#define HERALD_STORE_MESSAGES_H

/*
 * What a posted notification should show now. A check message is edited in
 * Slack (chat.update) when something happens to it: it is resolved (the
 * check passes again), acknowledged, snoozed or muted from its buttons, or
 * its failing users are nudged. This file gathers those marks from the
 * database (resolve and nudge deliveries referencing it, the first
 * acknowledgement in slack_actions, a live silence made from it) and renders
 * the message again with them.
 *
 * The caller then releases its database connection and sends the update
 * with slack_update_message (common/slack.h) and the workspace's token: no
 * connection is held across a Slack call. Used by herald-slack (resolves,
 * nudges done) and herald-api (button presses).
 */

#include "store/store.h"

#include "common/render.h"

#include <libpq-fe.h>
#include <stdint.h>

/* One message edit: where (channel id and ts of the message) and what. */
typedef struct message_update {
    char *team_id; /* workspace of the target (whose token edits it) */
    char *tenant_id;
    char *channel;  /* Slack channel id */
    char *ts;       /* the message's ts (a thread's first message for a reply) */
    char *event_id; /* the notification's event (the thread's first for a reply) */
    char *text;     /* fallback text */
    char *blocks_json;
    render_marks marks; /* as rendered (strings point into this struct) */
    char *acked_by;     /* storage for marks.acked_by */
    char *silenced_by;  /* storage for marks.silenced_by */
} message_update;

void message_update_dispose(message_update *u);

/*
 * Loads and renders the notification (event_id, target_id) as it should look
 * now. base: the renderer's options (herald_url); the action buttons' value
 * and nudge button are set here. resolved_at_ms > 0 marks it resolved at that
 * time whatever the database says (the sender edits it while the resolve is
 * in flight); 0 looks for a resolve delivery referencing it.
 *
 * A thread reply is edited as its thread's first message (the message people
 * see in the channel). STORE_NOT_FOUND (errstr says which) when there is
 * nothing to edit: no such delivery, not posted (yet), or folded into a
 * digest (a digest is not rewritten for one of its lines).
 */
store_status message_update_prepare(PGconn *conn, const char *event_id, int64_t target_id,
                                    const render_opts *base, int64_t resolved_at_ms,
                                    message_update *out, char *errstr,
                                    size_t errstr_size) STORE_MUST_CHECK;

#endif
