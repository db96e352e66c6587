/*
 * The database side of a button pressed in Slack (store/interactions.h): the
 * message check, the tenant's policy, the silence a snooze or mute makes
 * (or an unmute ends), the nudge rows, and the slack_actions record, each
 * press in one short transaction.
 */
#include "store/interactions.h"

#include "store/store_internal.h"

#include "common/utf8.h"
#include "common/util.h"

#include <cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *store_action_kind_name(store_action_kind k)
{
    switch (k) {
    case STORE_ACTION_SNOOZE:
        return "snooze";
    case STORE_ACTION_MUTE:
        return "mute";
    case STORE_ACTION_UNMUTE:
        return "unmute";
    case STORE_ACTION_ACK:
        return "ack";
    case STORE_ACTION_NUDGE:
    default:
        return "nudge";
    }
}

/* ================================================================ the message */

/* $1 event id, $2 target id: the notification delivery, its target and its
 * event's check type (NULL unless a check result). */
#define SQL_PRESSED                                                                                \
    "SELECT t.tenant_id, CASE WHEN e.kind = 'check_result'"                                        \
    "                         THEN coalesce(e.check_type, e.payload->'check'->>'type') END,"       \
    "       t.team_id, t.nudge_enabled, d.slack_channel, t.deleted_at IS NOT NULL"                 \
    "  FROM deliveries d JOIN targets t ON t.id = d.target_id"                                     \
    "  JOIN events e ON e.event_id = d.event_id"                                                   \
    " WHERE d.event_id = $1::uuid AND d.target_id = $2::bigint AND d.kind = 'notify'"

void store_pressed_message_dispose(store_pressed_message *m)
{
    if (!m)
        return;
    free(m->tenant_id);
    free(m->check_type);
    free(m->team_id);
    memset(m, 0, sizeof *m);
}

store_status store_pressed_message_get(PGconn *conn, const char *event_id, int64_t target_id,
                                       const char *team_id, const char *channel,
                                       store_pressed_message *out, char *errstr, size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    if (!event_id || !util_is_uuid(event_id) || target_id <= 0)
        return store_fail(STORE_NOT_FOUND, errstr, errstr_size,
                          "the button's value names no Herald message");
    char tid[24];
    store_i64_text(target_id, tid);
    const char *params[] = {event_id, tid};
    PGresult *r = NULL;
    store_status st = store_run_row(conn, "pressed message", SQL_PRESSED, 2, params, &r, errstr,
                                    errstr_size, "no notification %s for target %s", event_id, tid);
    if (st != STORE_OK)
        return st;
    /* Slack vouches for the workspace and the channel of the press: the
     * message must have been posted by this target there, so a value copied
     * into another workspace's button acts on nothing. */
    if (!team_id || strcmp(PQgetvalue(r, 0, 2), team_id) != 0)
        st = store_fail(STORE_NOT_FOUND, errstr, errstr_size,
                        "notification %s of target %s belongs to another workspace", event_id, tid);
    else if (PQgetisnull(r, 0, 4) || !channel || strcmp(PQgetvalue(r, 0, 4), channel) != 0)
        st = store_fail(STORE_NOT_FOUND, errstr, errstr_size,
                        "notification %s of target %s was not posted in this channel", event_id,
                        tid);
    else if (store_get_bool(r, 0, 5))
        st = store_fail(STORE_NOT_FOUND, errstr, errstr_size, "target %s was removed", tid);
    if (st == STORE_OK) {
        out->tenant_id = store_get_str(r, 0, 0);
        out->check_type = store_get_str(r, 0, 1);
        out->team_id = store_get_str(r, 0, 2);
        out->nudge_enabled = store_get_bool(r, 0, 3);
    }
    PQclear(r);
    return st;
}

/* ================================================================ who may act */

/* ================================================================ the record */

#define SQL_RECORD                                                                                 \
    "INSERT INTO slack_actions (team_id, user_id, user_name, action, channel, message_ts,"         \
    "                           event_id, target_id, tenant_id, outcome, detail, silence_id)"      \
    " VALUES ($1, $2, $3, $4, $5, $6, $7::uuid, $8::bigint, $9, $10, $11, $12::bigint)"

static store_status record(PGconn *conn, const store_press *p, const char *outcome,
                           const char *detail, int64_t silence_id, char *errstr, size_t errstr_size)
{
    char tid[24], sid[24];
    store_i64_text(p->target_id, tid);
    store_i64_text(silence_id, sid);
    /* Slack's strings are recorded as they came, within reason: a user name
     * or ts is short, and a value that is not a uuid is kept out of the
     * uuid column (the detail says what it was). */
    char name[256], chan[96], ts[96], det[512];
    const char *params[] = {
        p->team_id,
        p->user_id,
        p->user_name ? utf8_safe(p->user_name, 80, name, sizeof name) : NULL,
        store_action_kind_name(p->action),
        p->channel ? utf8_safe(p->channel, 64, chan, sizeof chan) : NULL,
        p->message_ts ? utf8_safe(p->message_ts, 64, ts, sizeof ts) : NULL,
        p->event_id && util_is_uuid(p->event_id) ? p->event_id : NULL,
        p->target_id > 0 ? tid : NULL,
        p->tenant_id,
        outcome,
        detail ? utf8_safe(detail, 300, det, sizeof det) : NULL,
        silence_id > 0 ? sid : NULL,
    };
    return store_exec(conn, "slack action", SQL_RECORD, ARRAY_LEN(params), params, NULL, errstr,
                      errstr_size);
}

store_status store_press_record(PGconn *conn, const store_press *p, const char *outcome,
                                const char *detail, char *errstr, size_t errstr_size)
{
    return record(conn, p, outcome, detail, 0, errstr, errstr_size);
}

/* ================================================================ the actions */

/* $1 event id, $2 target id, $3 by: ends the live silences made from the
 * message (an unmute, or before a new snooze or mute replaces them). */
#define SQL_EXPIRE_FROM                                                                            \
    "UPDATE silences SET expired_at = now(), expired_by = $3"                                      \
    " WHERE created_from_event_id = $1::uuid AND created_from_target_id = $2::bigint"              \
    "   AND expired_at IS NULL AND (ends_at IS NULL OR ends_at > now())"                           \
    " RETURNING id"

/* $1 tenant, $2 check type, $3 target, $4 author, $5 reason, $6 length in ms
 * (0: no end), $7 event id. */
#define SQL_SILENCE                                                                                \
    "INSERT INTO silences (tenant_id, check_type, target_id, author, reason, ends_at,"             \
    "                      created_from_event_id, created_from_target_id)"                         \
    " VALUES ($1, $2, $3::bigint, $4, $5,"                                                         \
    "         CASE WHEN $6::bigint > 0 THEN now() + $6::bigint * interval '1 millisecond' END,"    \
    "         $7::uuid, $3::bigint)"                                                               \
    " RETURNING id"

/*
 * $1 event id, $2 target id, $3 tenant, $4 check type, $5 default text.
 * The failing users of the event's sample with an email, lower-cased and
 * deduplicated (the first in the sample wins); one nudge event and one
 * pending nudge delivery each, keyed so a second press adds nothing.
 */
#define SQL_NUDGE                                                                                  \
    "WITH ev AS (SELECT e.event_id, e.payload FROM events e WHERE e.event_id = $1::uuid),"         \
    " u AS (SELECT DISTINCT ON (lower(x.u->>'email')) lower(x.u->>'email') AS email,"              \
    "              x.u->>'id' AS id, x.u->>'display_name' AS display_name"                         \
    "         FROM ev, jsonb_array_elements(CASE WHEN jsonb_typeof(ev.payload->'failing_users')"   \
    "                                                 = 'array'"                                   \
    "                                            THEN ev.payload->'failing_users'"                 \
    "                                            ELSE '[]'::jsonb END) WITH ORDINALITY AS x(u, n)" \
    "        WHERE jsonb_typeof(x.u->'email') = 'string' AND btrim(x.u->>'email') <> ''"           \
    "        ORDER BY lower(x.u->>'email'), x.n),"                                                 \
    " txt AS (SELECT coalesce((SELECT r.text FROM remediations r"                                  \
    "                           WHERE r.tenant_id = $3 AND r.check_type = $4), $5) AS text),"      \
    " ne AS (INSERT INTO events (event_id, tenant_id, kind, check_type, payload)"                  \
    "        SELECT md5(ev.event_id::text || ':' || $2::bigint::text || ':' || u.email)::uuid,"    \
    "               $3, 'nudge', $4,"                                                              \
    "               jsonb_build_object('schema', 'herald.nudge.v1',"                               \
    "                                  'ref_event_id', ev.event_id::text, 'check_type', $4::text," \
    "                                  'check_name', ev.payload->'check'->>'name',"                \
    "                                  'severity', ev.payload->'check'->>'severity',"              \
    "                                  'user', jsonb_build_object('id', u.id,"                     \
    "                                                             'display_name', u.display_name," \
    "                                                             'email', u.email),"              \
    "                                  'text', txt.text)"                                          \
    "          FROM ev, u, txt"                                                                    \
    "        ON CONFLICT (event_id) DO NOTHING RETURNING event_id)"                                \
    " INSERT INTO deliveries (event_id, target_id, tenant_id, kind, ref_event_id, state)"          \
    " SELECT ne.event_id, $2::bigint, $3, 'nudge', $1::uuid, 'pending' FROM ne"                    \
    " ON CONFLICT (event_id, target_id) DO NOTHING RETURNING id"

/* The silence of a snooze or a mute. */
static store_status make_silence(PGconn *conn, const store_press *p, const store_pressed_message *m,
                                 const char *author, store_press_result *out, char *errstr,
                                 size_t errstr_size)
{
    bool snooze = p->action == STORE_ACTION_SNOOZE;
    char tid[24], len[24], reason[200], name[128];
    store_i64_text(p->target_id, tid);
    store_i64_text(snooze ? STORE_SNOOZE_MS : 0, len);
    const char *who = p->user_name && *p->user_name ? p->user_name : p->user_id;
    snprintf(reason, sizeof reason, "%s from Slack by %s", snooze ? "Snoozed" : "Muted",
             utf8_safe(who, 80, name, sizeof name));
    /* One silence per message: a new snooze or mute replaces the one made
     * before from it, so the message shows one state and Unmute ends it. */
    const char *ep[] = {p->event_id, tid, author};
    store_status st =
        store_exec(conn, "silence replace", SQL_EXPIRE_FROM, 3, ep, NULL, errstr, errstr_size);
    if (st != STORE_OK)
        return st;
    const char *params[] = {m->tenant_id, m->check_type, tid, author, reason, len, p->event_id};
    PGresult *r = NULL;
    st = store_run_row(conn, "silence", SQL_SILENCE, 7, params, &r, errstr, errstr_size,
                       "silence not created");
    if (st != STORE_OK)
        return st;
    out->silence_id = store_get_i64(r, 0, 0);
    PQclear(r);
    snprintf(out->detail, sizeof out->detail, "%s: silence %" PRId64,
             snooze ? "snoozed 24 h" : "muted", out->silence_id);
    return STORE_OK;
}

static store_status unmute(PGconn *conn, const store_press *p, const char *author,
                           store_press_result *out, char *errstr, size_t errstr_size)
{
    char tid[24];
    store_i64_text(p->target_id, tid);
    const char *params[] = {p->event_id, tid, author};
    PGresult *r = store_run(conn, "unmute", SQL_EXPIRE_FROM, 3, params, NULL, errstr, errstr_size);
    if (!r)
        return STORE_DB;
    int n = PQntuples(r);
    if (n > 0) {
        out->silence_id = store_get_i64(r, 0, 0);
        snprintf(out->detail, sizeof out->detail, "silence %" PRId64 " expired", out->silence_id);
    } else {
        snprintf(out->detail, sizeof out->detail, "no live silence made from this message");
    }
    PQclear(r);
    return STORE_OK;
}

static store_status nudge(PGconn *conn, const store_press *p, const store_pressed_message *m,
                          const char *default_text, store_press_result *out, char *errstr,
                          size_t errstr_size)
{
    char tid[24];
    store_i64_text(p->target_id, tid);
    const char *params[] = {p->event_id, tid, m->tenant_id, m->check_type,
                            default_text && *default_text ? default_text
                                                          : "Please fix this for your account."};
    int rows = 0;
    store_status st = store_exec(conn, "nudge", SQL_NUDGE, 5, params, &rows, errstr, errstr_size);
    if (st != STORE_OK)
        return st;
    out->nudges = rows;
    if (rows > 0) {
        /* herald-slack LISTENs: the owner of the workspace leases the new
         * rows at once (delivered at commit, with them). */
        const char *wake[] = {m->team_id};
        st = store_exec(conn, "nudge wake", "SELECT pg_notify('herald_wake', $1)", 1, wake, NULL,
                        errstr, errstr_size);
        if (st != STORE_OK)
            return st;
        snprintf(out->detail, sizeof out->detail, "%d nudge(s) queued", rows);
    } else {
        snprintf(out->detail, sizeof out->detail,
                 "nothing new to nudge (already nudged, or no failing user with an email)");
    }
    return STORE_OK;
}

store_status store_press_apply(PGconn *conn, const store_press *p, const store_pressed_message *m,
                               const char *default_text, store_press_result *out, char *errstr,
                               size_t errstr_size)
{
    memset(out, 0, sizeof *out);
    if (!p->event_id || !util_is_uuid(p->event_id) || p->target_id <= 0 || !m->tenant_id)
        return store_fail(STORE_INVALID, errstr, errstr_size, "value: names no Herald message");
    bool needs_check = p->action == STORE_ACTION_SNOOZE || p->action == STORE_ACTION_MUTE ||
                       p->action == STORE_ACTION_NUDGE;
    if (needs_check && !m->check_type)
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "action: %s applies to check results only",
                          store_action_kind_name(p->action));
    char author[160];
    snprintf(author, sizeof author, "slack:%s/%s", p->team_id, p->user_id);
    store_status st = store_begin(conn, "slack action", errstr, errstr_size);
    if (st != STORE_OK)
        return st;
    switch (p->action) {
    case STORE_ACTION_SNOOZE:
    case STORE_ACTION_MUTE:
        st = make_silence(conn, p, m, author, out, errstr, errstr_size);
        break;
    case STORE_ACTION_UNMUTE:
        st = unmute(conn, p, author, out, errstr, errstr_size);
        break;
    case STORE_ACTION_NUDGE:
        st = nudge(conn, p, m, default_text, out, errstr, errstr_size);
        break;
    case STORE_ACTION_ACK:
    default:
        snprintf(out->detail, sizeof out->detail, "acknowledged");
        break;
    }
    store_press rec = *p;
    rec.tenant_id = m->tenant_id; /* the record names the message's tenant */
    if (st == STORE_OK)
        st = record(conn, &rec, "ok", out->detail, out->silence_id, errstr, errstr_size);
    if (st == STORE_OK)
        st = store_commit(conn, "slack action", errstr, errstr_size);
    if (st != STORE_OK) {
        store_rollback(conn);
        out->silence_id = 0;
        out->nudges = 0;
    }
    return st;
}
