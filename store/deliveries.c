/*
 * The data layer's deliveries (store/deliveries.h): listing and reading them,
 * and recording test deliveries.
 */
#include "store/deliveries.h"
#include "store/store_internal.h"

#include "common/util.h"

#include <cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS_D_NEXT    MS("d.next_attempt_at")
#define MS_D_CREATED MS("d.created_at")
#define MS_D_UPDATED MS("d.updated_at")
#define MS_D_SENT    MS("d.sent_at")

static bool word_in(const char *s, const char *const *words, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (!strcmp(s, words[i]))
            return true;
    return false;
}

bool store_delivery_state_valid(const char *s)
{
    static const char *const states[] = {"pending", "sending", "retrying",
                                         "sent",    "failed",  "suppressed"};
    return word_in(s, states, ARRAY_LEN(states));
}

bool store_delivery_kind_valid(const char *s)
{
    static const char *const kinds[] = {"notify", "resolve", "nudge"};
    return word_in(s, kinds, ARRAY_LEN(kinds));
}

#define DELIVERY_SELECT                                                                            \
    "SELECT d.id, d.event_id, d.target_id, t.name, d.tenant_id, e.kind, "                          \
    " COALESCE(e.check_type, e.payload->'check'->>'type', e.payload->>'check_type'), "             \
    " COALESCE(e.payload->'integration'->>'name', e.payload->'integration'->>'id'), "              \
    " CASE WHEN e.kind = 'collection_event' THEN e.payload->>'status' END, "                       \
    " d.state, d.kind, d.ref_event_id, d.attempts, " MS_D_NEXT                                     \
    ", d.last_error_code, d.last_error, "                                                          \
    " d.slack_channel, d.slack_ts, " MS_D_CREATED ", " MS_D_UPDATED ", " MS_D_SENT " "             \
    "FROM deliveries d JOIN targets t ON t.id = d.target_id "                                      \
    "LEFT JOIN events e ON e.event_id = d.event_id "

#define D(ctype, member) COL(store_delivery, ctype, member)
/* DELIVERY_SELECT's columns. */
static const col delivery_cols[] = {
    D(COL_I64, id),
    D(COL_STR, event_id),
    D(COL_I64, target_id),
    D(COL_STR, target_name),
    D(COL_STR, tenant_id),
    D(COL_STR, event_kind),
    D(COL_STR, check_type),
    D(COL_STR, integration),
    D(COL_STR, collection_status),
    D(COL_STR, state),
    D(COL_STR, kind),
    D(COL_STR, ref_event_id),
    D(COL_INT, attempts),
    D(COL_I64, next_attempt_at_ms),
    D(COL_STR, error_code),
    D(COL_STR, error),
    D(COL_STR, slack_channel),
    D(COL_STR, slack_ts),
    D(COL_I64, created_at_ms),
    D(COL_I64, updated_at_ms),
    D(COL_I64, sent_at_ms),
};
#undef D

static void delivery_dispose(store_delivery *d)
{
    store_col_free(d, delivery_cols, ARRAY_LEN(delivery_cols));
    memset(d, 0, sizeof *d);
}

DEFINE_DESTROY(store_delivery, store_deliveries, delivery_dispose)

static void delivery_row(const PGresult *r, int i, void *item)
{
    store_col_map(r, i, item, delivery_cols, ARRAY_LEN(delivery_cols));
}

store_status store_delivery_list(PGconn *conn, const store_delivery_filter *f,
                                 store_deliveries *out, char *errstr, size_t errstr_size)
{
    char q[96];
    out->items = NULL;
    out->n = 0;
    if (f->state && !store_delivery_state_valid(f->state))
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "state: %s is not a delivery state (" STORE_DELIVERY_STATES ")",
                          store_quote(f->state, q, sizeof q));
    if (f->kind && !store_delivery_kind_valid(f->kind))
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "kind: %s is not a delivery kind (" STORE_DELIVERY_KINDS ")",
                          store_quote(f->kind, q, sizeof q));
    int limit = f->limit ? f->limit : STORE_DELIVERIES_DEFAULT_LIMIT;
    if (limit < 1 || limit > STORE_DELIVERIES_MAX_LIMIT)
        return store_fail(STORE_INVALID, errstr, errstr_size, "limit: %d is not from 1 to %d",
                          f->limit, STORE_DELIVERIES_MAX_LIMIT);
    if (f->offset < 0)
        return store_fail(STORE_INVALID, errstr, errstr_size, "offset: %d is negative", f->offset);

    char target_s[24], since_s[24], before_s[24], limit_s[16], offset_s[16];
    store_i64_text(f->target_id, target_s);
    store_i64_text(f->since_ms, since_s);
    store_i64_text(f->before_id, before_s);
    snprintf(limit_s, sizeof limit_s, "%d", limit);
    snprintf(offset_s, sizeof offset_s, "%d", f->offset);
    const char *p[8] = {
        f->tenant,
        f->target_id ? target_s : NULL,
        f->state,
        f->since_ms ? since_s : NULL,
        f->before_id ? before_s : NULL,
        limit_s,
        offset_s,
        f->kind,
    };
    /* libpq's unnamed statements are planned with the actual values, so the
     * "$n IS NULL OR" arms fold away and the indexes still serve. The keyset
     * cursor ($5) need not exist: ids have gaps (the router's idempotent
     * inserts use up sequence values) and rows can be deleted, so the cursor is
     * the first delivery at or above it, and an id above every delivery means
     * all of them. The cursor is looked up among the same tenant's
     * deliveries: another tenant's would tell when it was created. */
    static const char sql[] = DELIVERY_SELECT
        "WHERE ($1::text IS NULL OR d.tenant_id = $1) "
        "AND ($2::int8 IS NULL OR d.target_id = $2) "
        "AND ($3::text IS NULL OR d.state = $3) "
        "AND ($8::text IS NULL OR d.kind = $8) "
        "AND ($4::int8 IS NULL OR d.created_at >= to_timestamp($4::int8 / 1000.0)) "
        "AND ($5::int8 IS NULL "
        "     OR NOT EXISTS (SELECT 1 FROM deliveries b WHERE b.id >= $5 "
        "                     AND ($1::text IS NULL OR b.tenant_id = $1)) "
        "     OR (d.created_at, d.id) < (SELECT b.created_at, b.id FROM deliveries b "
        "                                WHERE b.id >= $5 "
        "                                  AND ($1::text IS NULL OR b.tenant_id = $1) "
        "                                ORDER BY b.id LIMIT 1)) "
        "ORDER BY d.created_at DESC, d.id DESC LIMIT $6 OFFSET $7";
    void *items;
    store_status st = store_query_rows(conn, "listing deliveries", sql, 8, p, delivery_row,
                                       sizeof *out->items, &items, &out->n, errstr, errstr_size);
    out->items = items;
    return st;
}

store_status store_delivery_get(PGconn *conn, const char *tenant, int64_t id, store_delivery **out,
                                char *errstr, size_t errstr_size)
{
    char ids[24];
    store_i64_text(id, ids);
    const char *p[2] = {tenant, ids};
    void *item;
    store_status st = store_query_one(
        conn, "reading the delivery",
        DELIVERY_SELECT "WHERE d.id = $2 AND ($1::text IS NULL OR d.tenant_id = $1)", 2, p,
        delivery_row, sizeof **out, &item, errstr, errstr_size, "no delivery %s", ids);
    *out = item;
    return st;
}

/* ================================================================ test deliveries */

store_status store_test_delivery_begin(PGconn *conn, const char *tenant, int64_t target_id,
                                       const char *source, int64_t *delivery_id, char event_id[37],
                                       char *errstr, size_t errstr_size)
{
    const char *what = "recording the test delivery";
    char ids[24], uuid[37];
    store_status st;
    PGresult *r = NULL;
    char *payload = NULL;
    *delivery_id = 0;
    store_i64_text(target_id, ids);
    if ((st = store_begin(conn, what, errstr, errstr_size)))
        return st;
    const char *p2[2] = {tenant, ids};
    if ((st = store_run_row(
             conn, what,
             "SELECT tenant_id, name, team_id, destination FROM targets WHERE id = $2 "
             "AND deleted_at IS NULL AND ($1::text IS NULL OR tenant_id = $1) FOR SHARE",
             2, p2, &r, errstr, errstr_size, "no target %s", ids)))
        goto out;
    util_uuid4(uuid);
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "schema", "herald.test.v1");
    cJSON_AddStringToObject(j, "event_id", uuid);
    cJSON_AddStringToObject(j, "tenant_id", PQgetvalue(r, 0, 0));
    cJSON_AddNumberToObject(j, "target_id", (double)target_id);
    cJSON_AddStringToObject(j, "target_name", PQgetvalue(r, 0, 1));
    cJSON_AddStringToObject(j, "team_id", PQgetvalue(r, 0, 2));
    cJSON_AddStringToObject(j, "destination", PQgetvalue(r, 0, 3));
    cJSON_AddStringToObject(j, "source", source ? source : "unknown");
    payload = cJSON_PrintUnformatted(j);
    cJSON_Delete(j);
    char *target_tenant = store_get_str(r, 0, 0);
    PQclear(r);

    const char *pe[3] = {uuid, target_tenant, payload};
    if ((st = store_exec(conn, what,
                         "INSERT INTO events (event_id, tenant_id, kind, payload) "
                         "VALUES ($1, $2, 'test', $3)",
                         3, pe, NULL, errstr, errstr_size))) {
        free(target_tenant);
        goto out;
    }
    const char *pd[3] = {uuid, ids, target_tenant};
    r = store_run(conn, what,
                  "INSERT INTO deliveries (event_id, target_id, tenant_id, state, attempts) "
                  "VALUES ($1, $2, $3, 'sending', 1) RETURNING id",
                  3, pd, NULL, errstr, errstr_size);
    free(target_tenant);
    if (!r) {
        st = STORE_DB;
        goto out;
    }
    int64_t did = store_get_i64(r, 0, 0);
    PQclear(r);
    if ((st = store_commit(conn, what, errstr, errstr_size)))
        goto out;
    *delivery_id = did;
    if (event_id)
        memcpy(event_id, uuid, 37);
out:
    if (st)
        store_rollback(conn);
    cJSON_free(payload);
    return st;
}

store_status store_test_delivery_finish(PGconn *conn, int64_t delivery_id,
                                        const store_delivery_outcome *o, char *errstr,
                                        size_t errstr_size)
{
    const char *what = "recording the test outcome";
    char ids[24];
    store_status st;
    store_i64_text(delivery_id, ids);
    if ((st = store_begin(conn, what, errstr, errstr_size)))
        return st;
    const char *p[6] = {
        ids,
        store_bool_text(o->ok),
        o->ok ? o->slack_channel : NULL,
        o->ok ? o->slack_ts : NULL,
        o->ok ? NULL : (o->error_code && *o->error_code ? o->error_code : "unknown_error"),
        o->ok ? NULL : (o->error ? o->error : ""),
    };
    PGresult *r;
    if ((st = store_run_row(
             conn, what,
             "UPDATE deliveries SET state = CASE WHEN $2::bool THEN 'sent' ELSE 'failed' "
             "END, slack_channel = $3, slack_ts = $4, last_error_code = $5, "
             "last_error = $6, sent_at = CASE WHEN $2::bool THEN now() END, "
             "next_attempt_at = NULL, updated_at = now() WHERE id = $1 RETURNING target_id",
             6, p, &r, errstr, errstr_size, "no delivery %s", ids)))
        goto out;
    char *tid = store_get_str(r, 0, 0);
    PQclear(r);
    const char *pt[4] = {tid, p[1], p[4], p[5]};
    st = store_exec(conn, what,
                    "UPDATE targets SET "
                    " last_success_at = CASE WHEN $2::bool THEN now() ELSE last_success_at END, "
                    " last_error_code = CASE WHEN $2::bool THEN last_error_code ELSE $3 END, "
                    " last_error = CASE WHEN $2::bool THEN last_error ELSE $4 END, "
                    " last_error_at = CASE WHEN $2::bool THEN last_error_at ELSE now() END "
                    "WHERE id = $1",
                    4, pt, NULL, errstr, errstr_size);
    free(tid);
    if (st == STORE_OK)
        st = store_commit(conn, what, errstr, errstr_size);
out:
    if (st)
        store_rollback(conn);
    return st;
}
