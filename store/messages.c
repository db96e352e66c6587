/*
 * A posted notification rendered again with its marks (store/messages.h):
 * one statement finds the delivery (or its thread's first message), its
 * event and every mark; the renderer does the rest.
 */
#include "store/messages.h"

#include "store/store_internal.h"

#include "common/event.h"
#include "common/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * $1 event id, $2 target id. The delivery; when it is a reply, the thread's
 * first message instead (the newest delivery of the target posted with that
 * ts in that channel before the reply: deliveries_target_created). Then the
 * marks of the message's event: the newest resolve referencing it (the time
 * of the passing result), the first acknowledgement, the newest live silence
 * made from it, and its nudges by outcome.
 */
#define SQL_MESSAGE                                                                                                                                                                                                \
    "WITH d0 AS (SELECT d.event_id, d.target_id, d.state, d.slack_channel, d.slack_ts,"                                                                                                                            \
    "                   d.slack_thread_ts, d.digest_size, d.created_at"                                                                                                                                            \
    "              FROM deliveries d WHERE d.event_id = $1::uuid AND d.target_id = $2::bigint),"                                                                                                                   \
    " d AS (SELECT coalesce(r.event_id, d0.event_id) AS event_id, d0.target_id,"                                                                                                                                   \
    "              CASE WHEN r.event_id IS NULL THEN d0.state ELSE r.state END AS state,"                                                                                                                          \
    "              d0.slack_channel,"                                                                                                                                                                              \
    "              coalesce(d0.slack_thread_ts, d0.slack_ts) AS ts,"                                                                                                                                               \
    "              CASE WHEN r.event_id IS NULL THEN d0.digest_size ELSE r.digest_size END"                                                                                                                        \
    "                AS digest_size,"                                                                                                                                                                              \
    "              d0.slack_thread_ts IS NOT NULL AND r.event_id IS NULL AS lost_root"                                                                                                                             \
    "         FROM d0 LEFT JOIN LATERAL ("                                                                                                                                                                         \
    "              SELECT x.event_id, x.state, x.digest_size FROM deliveries x"                                                                                                                                    \
    "               WHERE d0.slack_thread_ts IS NOT NULL AND x.target_id = d0.target_id"                                                                                                                           \
    "                 AND x.created_at <= d0.created_at AND x.slack_channel = d0.slack_channel"                                                                                                                    \
    "                 AND x.slack_ts = d0.slack_thread_ts AND x.kind = 'notify'"                                                                                                                                   \
    "               ORDER BY x.created_at DESC LIMIT 1) r ON true)"                                                                                                                                                \
    " SELECT d.event_id, d.state, d.slack_channel, d.ts, d.digest_size, d.lost_root,"                                                                                                                              \
    "        t.team_id, t.tenant_id, t.nudge_enabled, e.kind, e.payload::text,"                                                                                                                                    \
    "        (SELECT " MS("coalesce((re.payload->>'evaluated_at')::timestamptz,"                                                                                                                                   \
                          "                             "                                                                                                                                                          \
                          "(re.payload->>'finished_at')::timestamptz, r.created_at)") "          "                                                                                                                 \
                                                                                      " FROM "                                                                                                                     \
                                                                                      "deliveries"                                                                                                                 \
                                                                                      " r JOIN "                                                                                                                   \
                                                                                      "events re "                                                                                                                 \
                                                                                      "ON "                                                                                                                        \
                                                                                      "re.event_"                                                                                                                  \
                                                                                      "id = "                                                                                                                      \
                                                                                      "r.event_id"                                                                                                                 \
                                                                                      "          "                                                                                                                 \
                                                                                      "WHERE "                                                                                                                     \
                                                                                      "r.ref_"                                                                                                                     \
                                                                                      "event_id "                                                                                                                  \
                                                                                      "= "                                                                                                                         \
                                                                                      "d.event_"                                                                                                                   \
                                                                                      "id AND "                                                                                                                    \
                                                                                      "r.target_"                                                                                                                  \
                                                                                      "id = "                                                                                                                      \
                                                                                      "d.target_"                                                                                                                  \
                                                                                      "id"                                                                                                                         \
                                                                                      "          "                                                                                                                 \
                                                                                      "  AND "                                                                                                                     \
                                                                                      "r.kind = "                                                                                                                  \
                                                                                      "'resolve' "                                                                                                                 \
                                                                                      "ORDER BY "                                                                                                                  \
                                                                                      "r.id DESC "                                                                                                                 \
                                                                                      "LIMIT 1) "                                                                                                                  \
                                                                                      "AS "                                                                                                                        \
                                                                                      "resolved_"                                                                                                                  \
                                                                                      "ms,"                                                                                                                        \
                                                                                      "        "                                                                                                                   \
                                                                                      "a.user_id,"                                                                                                                 \
                                                                                      " " MS(                                                                                                                      \
                                                                                          "a.at") ","                                                                                                              \
                                                                                                  "        s.muted, " MS(                                                                                          \
                                                                                                      "s.ends_at") ", s.author,"                                                                                   \
                                                                                                                   "        n.sent, n.not_found, n.failed, n.pending"                                              \
                                                                                                                   "   FROM d JOIN targets t ON t.id = d.target_id JOIN events e ON e.event_id = d.event_id"       \
                                                                                                                   "   LEFT JOIN LATERAL (SELECT user_id, at FROM slack_actions"                                   \
                                                                                                                   "                       WHERE event_id = d.event_id AND target_id = d.target_id"                \
                                                                                                                   "                         AND action = 'ack' AND outcome = 'ok' ORDER BY id LIMIT 1) a"         \
                                                                                                                   "          ON true"                                                                             \
                                                                                                                   "   LEFT JOIN LATERAL (SELECT ends_at IS NULL AS muted, ends_at, author FROM silences"          \
                                                                                                                   "                       WHERE created_from_event_id = d.event_id"                               \
                                                                                                                   "                         AND created_from_target_id = d.target_id AND expired_at IS NULL"      \
                                                                                                                   "                         AND (ends_at IS NULL OR ends_at > now())"                             \
                                                                                                                   "                       ORDER BY id DESC LIMIT 1) s ON true"                                    \
                                                                                                                   "   CROSS JOIN LATERAL ("                                                                       \
                                                                                                                   "        SELECT count(*) FILTER (WHERE state = 'sent')::int AS sent,"                           \
                                                                                                                   "               count(*) FILTER (WHERE state = 'failed'"                                        \
                                                                                                                   "                                  AND last_error_code = 'users_not_found')::int AS not_found," \
                                                                                                                   "               count(*) FILTER (WHERE state IN ('failed', 'suppressed')"                       \
                                                                                                                   "                                  AND last_error_code IS DISTINCT FROM 'users_not_found')"     \
                                                                                                                   "                 ::int AS failed,"                                                             \
                                                                                                                   "               count(*) FILTER (WHERE state IN ('pending', 'sending', 'retrying'))::int"       \
                                                                                                                   "                 AS pending"                                                                   \
                                                                                                                   "          FROM deliveries WHERE ref_event_id = d.event_id AND target_id = d.target_id"         \
                                                                                                                   "           AND kind = 'nudge') n"

enum {
    C_EVENT,
    C_STATE,
    C_CHANNEL,
    C_TS,
    C_DIGEST,
    C_LOST_ROOT,
    C_TEAM,
    C_TENANT,
    C_NUDGE,
    C_KIND,
    C_PAYLOAD,
    C_RESOLVED,
    C_ACK_USER,
    C_ACK_AT,
    C_MUTED,
    C_SNOOZE_END,
    C_AUTHOR,
    C_N_SENT,
    C_N_NOT_FOUND,
    C_N_FAILED,
    C_N_PENDING
};

void message_update_dispose(message_update *u)
{
    if (!u)
        return;
    free(u->team_id);
    free(u->tenant_id);
    free(u->channel);
    free(u->ts);
    free(u->event_id);
    free(u->text);
    free(u->blocks_json);
    free(u->acked_by);
    free(u->silenced_by);
    memset(u, 0, sizeof *u);
}

/* The Slack user of a silence author "slack:<team>/<user>"; NULL otherwise. */
static char *slack_author_user(const char *author)
{
    if (!author || strncmp(author, "slack:", 6) != 0)
        return NULL;
    const char *slash = strchr(author + 6, '/');
    return slash && slash[1] ? xstrdup(slash + 1) : NULL;
}

static int get_int(const PGresult *r, int column)
{
    return PQgetisnull(r, 0, column) ? 0 : atoi(PQgetvalue(r, 0, column));
}

store_status message_update_prepare(PGconn *conn, const char *event_id, int64_t target_id,
                                    const render_opts *base, int64_t resolved_at_ms,
                                    message_update *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    if (!util_is_uuid(event_id))
        return store_fail(STORE_INVALID, errstr, errstr_size, "event_id: not a uuid");
    char tid[24];
    snprintf(tid, sizeof tid, "%" PRId64, target_id);
    const char *params[] = {event_id, tid};
    PGresult *r = store_run(conn, "message", SQL_MESSAGE, 2, params, NULL, errstr, errstr_size);
    if (!r)
        return STORE_DB;
    store_status st = STORE_OK;
    if (PQntuples(r) != 1) {
        st = store_fail(STORE_NOT_FOUND, errstr, errstr_size, "delivery %s/%s: not found", event_id,
                        tid);
        goto done;
    }
    if (!strcmp(PQgetvalue(r, 0, C_LOST_ROOT), "t")) {
        st = store_fail(STORE_NOT_FOUND, errstr, errstr_size,
                        "delivery %s/%s: the first message of its thread is no longer known",
                        event_id, tid);
        goto done;
    }
    if (strcmp(PQgetvalue(r, 0, C_STATE), "sent") != 0 || PQgetisnull(r, 0, C_TS) ||
        PQgetisnull(r, 0, C_CHANNEL)) {
        st = store_fail(STORE_NOT_FOUND, errstr, errstr_size, "delivery %s/%s: not posted (%s)",
                        event_id, tid, PQgetvalue(r, 0, C_STATE));
        goto done;
    }
    if (!PQgetisnull(r, 0, C_DIGEST)) {
        st = store_fail(STORE_NOT_FOUND, errstr, errstr_size,
                        "delivery %s/%s: posted folded into a digest", event_id, tid);
        goto done;
    }
    const char *kind = PQgetvalue(r, 0, C_KIND);
    if (strcmp(kind, "check_result") != 0 && strcmp(kind, "collection_event") != 0) {
        st = store_fail(STORE_NOT_FOUND, errstr, errstr_size,
                        "delivery %s/%s: a %s message is not edited", event_id, tid, kind);
        goto done;
    }
    event *ev = NULL;
    char perr[256];
    const char *payload = PQgetvalue(r, 0, C_PAYLOAD);
    if (event_parse_any(payload, strlen(payload), &ev, perr, sizeof perr) != 0) {
        st = store_fail(STORE_INVALID, errstr, errstr_size, "event %s: %s", event_id, perr);
        goto done;
    }

    out->team_id = store_get_str(r, 0, C_TEAM);
    out->tenant_id = store_get_str(r, 0, C_TENANT);
    out->channel = store_get_str(r, 0, C_CHANNEL);
    out->ts = store_get_str(r, 0, C_TS);
    out->event_id = store_get_str(r, 0, C_EVENT);
    render_marks *mk = &out->marks;
    mk->resolved_at_ms = resolved_at_ms > 0 ? resolved_at_ms : store_get_i64(r, 0, C_RESOLVED);
    out->acked_by = store_get_str(r, 0, C_ACK_USER);
    mk->acked_by = out->acked_by;
    mk->acked_at_ms = store_get_i64(r, 0, C_ACK_AT);
    if (!PQgetisnull(r, 0, C_MUTED)) {
        mk->muted = !strcmp(PQgetvalue(r, 0, C_MUTED), "t");
        mk->snoozed_until_ms = mk->muted ? 0 : store_get_i64(r, 0, C_SNOOZE_END);
        out->silenced_by = slack_author_user(PQgetvalue(r, 0, C_AUTHOR));
        mk->silenced_by = out->silenced_by;
    }
    mk->nudged = get_int(r, C_N_SENT);
    mk->nudge_not_found = get_int(r, C_N_NOT_FOUND);
    mk->nudge_failed = get_int(r, C_N_FAILED);
    mk->nudge_pending = get_int(r, C_N_PENDING);

    char value[64];
    snprintf(value, sizeof value, "%s:%s", out->event_id, tid);
    render_opts ro = base ? *base : (render_opts){0};
    ro.marks = mk;
    ro.action_value = ev->kind == EVENT_CHECK_RESULT ? value : NULL;
    ro.nudge_button = !strcmp(PQgetvalue(r, 0, C_NUDGE), "t");
    render_output msg = {0};
    if (render_event(ev, &ro, &msg) != 0) {
        event_destroy(ev);
        message_update_dispose(out);
        st = store_fail(STORE_INVALID, errstr, errstr_size, "event %s: could not be rendered",
                        event_id);
        goto done;
    }
    event_destroy(ev);
    out->text = msg.text;
    out->blocks_json = msg.blocks_json;
done:
    PQclear(r);
    return st;
}
