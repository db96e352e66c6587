/*
 * The data layer's silences (store/silences.h): add with validation, list,
 * get, expire.
 */
#include "store/silences.h"
#include "store/store_internal.h"
#include "store/validation.h"
#include "store/workspaces.h"

#include "common/event.h"
#include "common/utf8.h"
#include "common/util.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_AUTHOR 300
/* A hundred years: longer is a mute, and ms arithmetic stays far from overflow. */
#define MAX_DURATION_MS (100LL * 366 * 86400 * 1000)

/* $1: tenant or NULL. state: what the silence is at the time of reading. */
#define SILENCE_SELECT                                                                             \
    "SELECT s.id, s.tenant_id, s.check_type, s.target_id, t.name, s.team_id, "                     \
    " " MS("s.starts_at") ", " MS("s.ends_at") ", s.author, s.reason, " MS(                        \
        "s.created_at") ", "                                                                       \
                        " " MS(                                                                    \
                            "s.expired_at") ", s.expired_by, s.created_from_event_id, "            \
                                            "s.created_from_target_id, "                           \
                                            " CASE WHEN s.expired_at IS NOT NULL THEN 'expired' "  \
                                            "      WHEN s.ends_at IS NOT NULL AND s.ends_at <= "   \
                                            "now() THEN 'ended' "                                  \
                                            "      WHEN s.starts_at > now() THEN 'scheduled' "     \
                                            "ELSE 'active' END "                                   \
                                            "FROM silences s LEFT JOIN targets t ON t.id = "       \
                                            "s.target_id AND t.deleted_at IS NULL "                \
                                            "WHERE ($1::text IS NULL OR s.tenant_id = $1) "

#define S(ctype, member) COL(store_silence, ctype, member)
static const col silence_cols[] = {
    S(COL_I64, id),
    S(COL_STR, tenant_id),
    S(COL_STR, check_type),
    S(COL_I64, target_id),
    S(COL_STR, target_name),
    S(COL_STR, team_id),
    S(COL_I64, starts_at_ms),
    S(COL_I64, ends_at_ms),
    S(COL_STR, author),
    S(COL_STR, reason),
    S(COL_I64, created_at_ms),
    S(COL_I64, expired_at_ms),
    S(COL_STR, expired_by),
    S(COL_STR, created_from_event_id),
    S(COL_I64, created_from_target_id),
    S(COL_SKIP, state), /* STATE_COL */
};
#undef S
#define STATE_COL 15

static void silence_dispose(store_silence *s)
{
    store_col_free(s, silence_cols, ARRAY_LEN(silence_cols));
    memset(s, 0, sizeof *s);
}

DEFINE_DESTROY(store_silence, store_silences, silence_dispose)

static void silence_row(const PGresult *r, int i, void *item)
{
    store_silence *s = item;
    store_col_map(r, i, s, silence_cols, ARRAY_LEN(silence_cols));
    /* Static strings, so the struct owns nothing more. */
    static const char *const states[] = {"active", "scheduled", "ended", "expired"};
    const char *v = PQgetvalue(r, i, STATE_COL);
    s->state = states[0];
    for (size_t k = 0; k < ARRAY_LEN(states); k++)
        if (!strcmp(v, states[k]))
            s->state = states[k];
    s->active = s->state == states[0];
}

/* ================================================================ add */

/* Characters (not bytes) of a valid UTF-8 string. */
static size_t utf8_chars(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        n += (*p & 0xC0) != 0x80;
    return n;
}

static store_status check_reason(const char *reason, char *errstr, size_t errstr_size)
{
    store_status st =
        store_check_text("reason", reason, STORE_SILENCE_MAX_REASON * 4, true, errstr, errstr_size);
    if (st)
        return st;
    if (!utf8_valid_str(reason))
        return store_fail(STORE_INVALID, errstr, errstr_size, "reason: not valid UTF-8");
    size_t n = utf8_chars(reason);
    if (n > STORE_SILENCE_MAX_REASON)
        return store_fail(STORE_INVALID, errstr, errstr_size, "reason: %zu characters; at most %d",
                          n, STORE_SILENCE_MAX_REASON);
    return STORE_OK;
}

/* The parts of the input that need no database. */
static store_status check_input(const store_silence_input *in, int64_t now_ms, char *errstr,
                                size_t errstr_size)
{
    char q[96], t1[EVENT_TIME_LEN], t2[EVENT_TIME_LEN];
    store_status st;
    if (!in->tenant || !*in->tenant)
        return store_fail(STORE_INVALID, errstr, errstr_size, "tenant_id: required");
    if (!event_is_identifier(in->tenant))
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "tenant_id: %s is not a tenant id events can carry (1 to %d of A-Z a-z "
                          "0-9 . _ : -)",
                          store_quote(in->tenant, q, sizeof q), EVENT_MAX_IDENTIFIER);
    if (in->check_type && !store_is_check_type(in->check_type))
        return store_fail(
            STORE_INVALID, errstr, errstr_size,
            "check_type: %s is not a check type (1 to %d of letters, digits, _ . : -)",
            store_quote(in->check_type, q, sizeof q), STORE_MAX_CHECK_TYPE);
    if (in->target_id < 0)
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "target_id: %" PRId64 " is not a target id", in->target_id);
    if (in->team_id && (st = store_check_team_id("team_id", in->team_id, errstr, errstr_size)))
        return st;
    if (!in->check_type && !in->target_id && !in->team_id)
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "scope: give at least one of a check type, a target or a workspace "
                          "(a silence of a whole tenant is not allowed)");
    int ends = (in->ends_at_ms != 0) + (in->duration_ms != 0) + in->forever;
    if (ends != 1)
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "ends_at: give exactly one of an end time, a duration or no end (a "
                          "mute)");
    if (in->duration_ms < 0 || in->duration_ms > MAX_DURATION_MS)
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "duration_seconds: %" PRId64 " is not from 1 to %lld",
                          in->duration_ms / 1000, MAX_DURATION_MS / 1000);
    if (in->starts_at_ms < 0)
        return store_fail(STORE_INVALID, errstr, errstr_size, "starts_at: not a time");
    int64_t starts = in->starts_at_ms ? in->starts_at_ms : now_ms;
    if (in->ends_at_ms) {
        event_format_time(in->ends_at_ms, t1);
        if (in->ends_at_ms <= now_ms)
            return store_fail(STORE_INVALID, errstr, errstr_size,
                              "ends_at: %s is not in the future", t1);
        if (in->ends_at_ms <= starts) {
            event_format_time(starts, t2);
            return store_fail(STORE_INVALID, errstr, errstr_size,
                              "ends_at: %s is not after the start %s", t1, t2);
        }
    } else if (in->duration_ms && starts + in->duration_ms <= now_ms) {
        event_format_time(starts + in->duration_ms, t1);
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "duration_seconds: the silence would end at %s, in the past", t1);
    }
    if ((st = check_reason(in->reason, errstr, errstr_size)) ||
        (st = store_check_text("author", in->author, MAX_AUTHOR, true, errstr, errstr_size)))
        return st;
    return STORE_OK;
}

/* The target must be a live target of the tenant, and in team_id when given.
 * Another tenant's target reads as missing: a tenant learns nothing of it. */
static store_status check_target(PGconn *conn, const store_silence_input *in, char *errstr,
                                 size_t errstr_size)
{
    char ids[24], q[96], qt[96];
    store_i64_text(in->target_id, ids);
    const char *p[2] = {in->tenant, ids};
    PGresult *r = NULL;
    store_status st = store_run_row(conn, "checking the silence's target",
                                    "SELECT team_id FROM targets WHERE id = $2 AND tenant_id = $1 "
                                    "AND deleted_at IS NULL FOR SHARE",
                                    2, p, &r, errstr, errstr_size,
                                    "target_id: tenant %s has no "
                                    "target %s",
                                    store_quote(in->tenant, qt, sizeof qt), ids);
    if (st == STORE_NOT_FOUND)
        return STORE_INVALID;
    if (st)
        return st;
    if (in->team_id && strcmp(in->team_id, PQgetvalue(r, 0, 0)) != 0)
        st = store_fail(STORE_INVALID, errstr, errstr_size,
                        "team_id: target %s is in workspace %s, not %s", ids,
                        store_quote(PQgetvalue(r, 0, 0), qt, sizeof qt),
                        store_quote(in->team_id, q, sizeof q));
    PQclear(r);
    return st;
}

static store_status check_workspace(PGconn *conn, const store_silence_input *in, char *errstr,
                                    size_t errstr_size)
{
    char q[96], qt[96];
    bool visible = false;
    store_status st =
        store_workspace_visible(conn, in->tenant, in->team_id, &visible, errstr, errstr_size);
    if (st == STORE_OK && !visible)
        st = store_fail(STORE_INVALID, errstr, errstr_size,
                        "team_id: workspace %s is not linked to tenant %s (none of its targets "
                        "uses it and it did not install it)",
                        store_quote(in->team_id, q, sizeof q),
                        store_quote(in->tenant, qt, sizeof qt));
    return st;
}

store_status store_silence_add(PGconn *conn, const store_silence_input *in, int64_t *id,
                               char *errstr, size_t errstr_size)
{
    const char *what = "adding the silence";
    store_status st;
    *id = 0;
    if ((st = check_input(in, util_now_wall_ms(), errstr, errstr_size)) ||
        (st = store_begin(conn, what, errstr, errstr_size)))
        return st;
    if ((in->target_id && (st = check_target(conn, in, errstr, errstr_size))) ||
        (in->team_id && (st = check_workspace(conn, in, errstr, errstr_size))))
        goto out;
    char target_s[24], starts_s[24], ends_s[24], dur_s[24], from_target_s[24];
    store_i64_text(in->target_id, target_s);
    store_i64_text(in->starts_at_ms, starts_s);
    store_i64_text(in->ends_at_ms, ends_s);
    store_i64_text(in->duration_ms, dur_s);
    store_i64_text(in->created_from_target_id, from_target_s);
    const char *p[11] = {
        in->tenant,
        in->check_type,
        in->target_id ? target_s : NULL,
        in->team_id,
        in->starts_at_ms ? starts_s : NULL,
        in->ends_at_ms ? ends_s : NULL,
        in->duration_ms ? dur_s : NULL,
        in->author,
        in->reason,
        in->created_from_event_id,
        in->created_from_target_id ? from_target_s : NULL,
    };
    PGresult *r = store_run(
        conn, what,
        "INSERT INTO silences (tenant_id, check_type, target_id, team_id, starts_at, ends_at, "
        " author, reason, created_from_event_id, created_from_target_id) "
        "SELECT $1, $2, $3::int8, $4, s.starts, "
        " CASE WHEN $6::int8 IS NOT NULL THEN to_timestamp($6::int8 / 1000.0) "
        "      WHEN $7::int8 IS NOT NULL THEN s.starts + $7::int8 * interval '1 millisecond' END, "
        " $8, $9, $10::uuid, $11::int8 "
        "FROM (SELECT COALESCE(to_timestamp($5::int8 / 1000.0), now()) AS starts) s "
        "RETURNING id",
        11, p, NULL, errstr, errstr_size);
    if (!r) {
        st = STORE_DB;
        goto out;
    }
    int64_t new_id = store_get_i64(r, 0, 0);
    PQclear(r);
    if ((st = store_commit(conn, what, errstr, errstr_size)))
        goto out;
    *id = new_id;
out:
    if (st)
        store_rollback(conn);
    return st;
}

/* ================================================================ read */

store_status store_silence_list(PGconn *conn, const char *tenant, bool all, store_silences *out,
                                char *errstr, size_t errstr_size)
{
    char limit[16];
    snprintf(limit, sizeof limit, "%d", STORE_SILENCES_MAX_LIST);
    const char *p[2] = {tenant, limit};
    void *items;
    store_status st = store_query_rows(
        conn, "listing silences",
        all ? SILENCE_SELECT "ORDER BY s.id DESC LIMIT $2::int"
            : SILENCE_SELECT
            "AND s.expired_at IS NULL AND (s.ends_at IS NULL OR s.ends_at > now()) "
            "AND $2::int > 0 ORDER BY s.starts_at, s.id",
        2, p, silence_row, sizeof *out->items, &items, &out->n, errstr, errstr_size);
    out->items = items;
    return st;
}

store_status store_silence_get(PGconn *conn, const char *tenant, int64_t id, store_silence **out,
                               char *errstr, size_t errstr_size)
{
    char ids[24];
    store_i64_text(id, ids);
    const char *p[2] = {tenant, ids};
    void *item;
    store_status st = store_query_one(conn, "reading the silence", SILENCE_SELECT "AND s.id = $2",
                                      2, p, silence_row, sizeof **out, &item, errstr, errstr_size,
                                      "no silence %s", ids);
    *out = item;
    return st;
}

store_status store_silence_expire(PGconn *conn, const char *tenant, int64_t id, const char *by,
                                  bool *already, char *errstr, size_t errstr_size)
{
    char ids[24];
    store_status st;
    *already = false;
    if ((st = store_check_text("expired_by", by, MAX_AUTHOR, true, errstr, errstr_size)))
        return st;
    store_i64_text(id, ids);
    const char *p[3] = {tenant, ids, by};
    /* One statement: whether it existed for this tenant, and whether it was still live. */
    PGresult *r = NULL;
    st = store_run_row(conn, "expiring the silence",
                       "WITH s AS (SELECT id FROM silences WHERE id = $2 "
                       "            AND ($1::text IS NULL OR tenant_id = $1)), "
                       "u AS (UPDATE silences x SET expired_at = now(), expired_by = $3 "
                       "       FROM s WHERE x.id = s.id AND x.expired_at IS NULL "
                       "        AND (x.ends_at IS NULL OR x.ends_at > now()) RETURNING x.id) "
                       "SELECT EXISTS (SELECT 1 FROM u) FROM s",
                       3, p, &r, errstr, errstr_size, "no silence %s", ids);
    if (st)
        return st;
    *already = !store_get_bool(r, 0, 0);
    PQclear(r);
    return STORE_OK;
}
