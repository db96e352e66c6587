/*
 * The data layer's notification targets (store/targets.h).
 */
#include "store/targets.h"
#include "store/store_internal.h"

#include "common/event.h"
#include "common/strbuf.h"
#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS_T_CREATED MS("t.created_at")
#define MS_T_UPDATED MS("t.updated_at")
#define MS_H_SUCCESS MS("h.last_success_at")
#define MS_H_ERROR   MS("h.last_error_at")

#define MAX_TENANT 200

/* STORE_USE_* bits from the boolean columns col (failed_check) and col + 1
 * (data_collection). */
static unsigned get_uses(const PGresult *r, int row, int column)
{
    return (store_get_bool(r, row, column) ? STORE_USE_FAILED_CHECK : 0) |
           (store_get_bool(r, row, column + 1) ? STORE_USE_DATA_COLLECTION : 0);
}

/* checks joined with ',' for string_to_array($n, ','): check types cannot
 * contain a comma, so the split is exact. */
static char *checks_join(char *const *v, size_t n)
{
    strbuf b = {0};
    for (size_t i = 0; i < n; i++)
        strbuf_addf(&b, "%s%s", i ? "," : "", v[i]);
    return strbuf_take(&b);
}

/* $1: tenant or NULL. */
#define TARGET_SELECT                                                                              \
    "SELECT t.id, t.tenant_id, t.team_id, w.team_name, w.revoked_at IS NOT NULL, t.name, "         \
    " t.description, t.destination, t.destination_kind, t.destination_resolved, "                  \
    " t.use_failed_check, t.use_data_collection, t.enabled, "                                      \
    " t.digest_enabled, t.thread_repeats, "                                                        \
    " t.min_severity, t.repeat_policy, t.repeat_interval_s, t.notify_resolved, t.nudge_enabled, "  \
    " h.suppressed_24h, "                                                                          \
    " (SELECT string_agg(c.check_type, ',' ORDER BY c.check_type) FROM target_checks c "           \
    "   WHERE c.target_id = t.id), " MS_T_CREATED ", " MS_T_UPDATED ", "                           \
    " h.pending_24h, h.sending_24h, h.retrying_24h, h.sent_24h, h.failed_24h, "                    \
    " " MS_H_SUCCESS ", " MS_H_ERROR ", h.last_error_code, h.last_error "                          \
    "FROM targets t JOIN workspaces w ON w.team_id = t.team_id "                                   \
    "LEFT JOIN target_delivery_health h ON h.target_id = t.id "                                    \
                                                                                                   \
    "WHERE t.deleted_at IS NULL AND ($1::text IS NULL OR t.tenant_id = $1) "

static void split_checks(const char *csv, store_target *t)
{
    t->checks = NULL;
    t->n_checks = 0;
    if (!csv || !*csv)
        return;
    size_t n = 1;
    for (const char *p = csv; *p; p++)
        n += *p == ',';
    t->checks = xcalloc(n, sizeof *t->checks);
    const char *s = csv;
    for (size_t i = 0; i < n; i++) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        t->checks[i] = xmalloc(len + 1);
        memcpy(t->checks[i], s, len);
        t->checks[i][len] = '\0';
        s = e ? e + 1 : s + len;
    }
    t->n_checks = n;
}

#define T(ctype, member) COL(store_target, ctype, member)
/* TARGET_SELECT's columns; the skipped ones are mapped in target_row. */
static const col target_cols[] = {
    T(COL_I64, id),
    T(COL_STR, tenant_id),
    T(COL_STR, team_id),
    T(COL_STR, team_name),
    T(COL_BOOL, workspace_revoked),
    T(COL_STR, name),
    T(COL_STR, description),
    T(COL_STR, destination),
    T(COL_SKIP, destination_kind), /* 8 */
    T(COL_STR, destination_resolved),
    T(COL_SKIP, uses), /* 10, 11 */
    T(COL_SKIP, uses),
    T(COL_BOOL, enabled),
    T(COL_BOOL, digest_enabled),
    T(COL_BOOL, thread_repeats),
    T(COL_STR, min_severity),
    T(COL_STR, repeat_policy),
    T(COL_I64, repeat_interval_s),
    T(COL_BOOL, notify_resolved),
    T(COL_BOOL, nudge_enabled),
    T(COL_LONG, health.suppressed_24h),
    T(COL_SKIP, checks), /* CHECKS_COL */
    T(COL_I64, created_at_ms),
    T(COL_I64, updated_at_ms),
    T(COL_LONG, health.pending_24h),
    T(COL_LONG, health.sending_24h),
    T(COL_LONG, health.retrying_24h),
    T(COL_LONG, health.sent_24h),
    T(COL_LONG, health.failed_24h),
    T(COL_I64, health.last_success_at_ms),
    T(COL_I64, health.last_error_at_ms),
    T(COL_STR, health.last_error_code),
    T(COL_STR, health.last_error),
};
#undef T
#define CHECKS_COL 21

static void target_dispose(store_target *t)
{
    store_col_free(t, target_cols, ARRAY_LEN(target_cols));
    store_strv_destroy(t->checks, t->n_checks);
    memset(t, 0, sizeof *t);
}

DEFINE_DESTROY(store_target, store_targets, target_dispose)

static void target_row(const PGresult *r, int i, void *item)
{
    store_target *t = item;
    store_col_map(r, i, t, target_cols, ARRAY_LEN(target_cols));
    const char *kind = PQgetvalue(r, i, 8);
    if (!strcmp(kind, "email"))
        t->destination_kind = STORE_DEST_EMAIL;
    else if (t->destination[0] == '#')
        t->destination_kind = STORE_DEST_CHANNEL_NAME;
    else
        t->destination_kind = STORE_DEST_CHANNEL_ID;
    t->uses = get_uses(r, i, 10);
    split_checks(PQgetisnull(r, i, CHECKS_COL) ? NULL : PQgetvalue(r, i, CHECKS_COL), t);
}

store_status store_target_list(PGconn *conn, const char *tenant, store_targets *out, char *errstr,
                               size_t errstr_size)
{
    const char *p[1] = {tenant};
    void *items;
    store_status st =
        store_query_rows(conn, "listing targets", TARGET_SELECT "ORDER BY t.tenant_id, t.id", 1, p,
                         target_row, sizeof *out->items, &items, &out->n, errstr, errstr_size);
    out->items = items;
    return st;
}

store_status store_target_get(PGconn *conn, const char *tenant, int64_t id, store_target **out,
                              char *errstr, size_t errstr_size)
{
    char ids[24];
    store_i64_text(id, ids);
    const char *p[2] = {tenant, ids};
    void *item;
    store_status st =
        store_query_one(conn, "reading the target", TARGET_SELECT "AND t.id = $2", 2, p, target_row,
                        sizeof **out, &item, errstr, errstr_size, "no target %s", ids);
    *out = item;
    return st;
}

/* Fails with "name: ... already used" when another live target of tenant has name. */
static store_status name_free(PGconn *conn, const char *tenant, const char *name, int64_t self,
                              char *errstr, size_t errstr_size)
{
    char ids[24], q[96], qt[96];
    store_i64_text(self, ids);
    const char *p[3] = {tenant, name, ids};
    PGresult *r = store_run(conn, "checking the target name",
                            "SELECT id FROM targets WHERE tenant_id = $1 AND name = $2 "
                            "AND deleted_at IS NULL AND id <> $3 LIMIT 1",
                            3, p, NULL, errstr, errstr_size);
    if (!r)
        return STORE_DB;
    store_status st = STORE_OK;
    if (PQntuples(r) > 0)
        st = store_fail(STORE_INVALID, errstr, errstr_size,
                        "name: %s is already used by target %s of tenant %s",
                        store_quote(name, q, sizeof q), PQgetvalue(r, 0, 0),
                        store_quote(tenant, qt, sizeof qt));
    PQclear(r);
    return st;
}

/* The same message when the unique index catches a race name_free missed. */
static store_status name_race(const char *tenant, const char *name, char *errstr,
                              size_t errstr_size)
{
    char q[96], qt[96];
    return store_fail(STORE_INVALID, errstr, errstr_size,
                      "name: %s is already used by another target of tenant %s",
                      store_quote(name, q, sizeof q), store_quote(tenant, qt, sizeof qt));
}

static store_status insert_checks(PGconn *conn, const char *what, int64_t id, char *const *checks,
                                  size_t n, char *errstr, size_t errstr_size)
{
    if (n == 0)
        return STORE_OK;
    char ids[24];
    store_i64_text(id, ids);
    char *joined = checks_join(checks, n);
    const char *p[2] = {ids, joined};
    store_status st = store_exec(conn, what,
                                 "INSERT INTO target_checks (target_id, check_type) "
                                 "SELECT $1, unnest(string_to_array($2, ','))",
                                 2, p, NULL, errstr, errstr_size);
    free(joined);
    return st;
}

/* The workspace must be installed and usable for a new target. */
static store_status workspace_usable(PGconn *conn, const char *team_id, char *errstr,
                                     size_t errstr_size)
{
    char q[96];
    const char *p[1] = {team_id};
    PGresult *r = store_run(conn, "checking the workspace",
                            "SELECT revoked_at IS NOT NULL, revoked_reason FROM workspaces "
                            "WHERE team_id = $1 AND removed_at IS NULL FOR SHARE",
                            1, p, NULL, errstr, errstr_size);
    if (!r)
        return STORE_DB;
    store_status st = STORE_OK;
    if (PQntuples(r) == 0)
        st = store_fail(STORE_INVALID, errstr, errstr_size,
                        "workspace: no workspace %s is installed (add it first)",
                        store_quote(team_id, q, sizeof q));
    else if (store_get_bool(r, 0, 0))
        st = store_fail(STORE_INVALID, errstr, errstr_size,
                        "workspace: workspace %s is revoked (%s): reinstall it first",
                        store_quote(team_id, q, sizeof q),
                        PQgetisnull(r, 0, 1) ? "revoked" : PQgetvalue(r, 0, 1));
    PQclear(r);
    return st;
}

static store_status check_uses(unsigned uses, char *errstr, size_t errstr_size)
{
    if (uses == 0 || (uses & ~(STORE_USE_FAILED_CHECK | STORE_USE_DATA_COLLECTION)))
        return store_fail(STORE_INVALID, errstr, errstr_size,
                          "uses: must be failed_check, data_collection or both");
    return STORE_OK;
}

static store_status filter_needs_failed_check(unsigned uses, char *errstr, size_t errstr_size)
{
    char ub[64];
    return store_fail(STORE_INVALID, errstr, errstr_size,
                      "checks: a check filter needs the failed_check use (uses is %s)",
                      store_uses_format(uses, ub, sizeof ub));
}

/* A target's tenant must be one an event can carry, or it is never notified. */
static store_status check_tenant(const char *tenant, char *errstr, size_t errstr_size)
{
    if (event_is_identifier(tenant))
        return STORE_OK;
    char q[96];
    snprintf(errstr, errstr_size,
             "tenant: %s is not a tenant id events can carry (1 to %d of A-Z a-z 0-9 . _ : -)",
             store_quote(tenant, q, sizeof q), EVENT_MAX_IDENTIFIER);
    return STORE_INVALID;
}

store_status store_target_create(PGconn *conn, const store_target_input *in, int64_t *id,
                                 char *errstr, size_t errstr_size)
{
    store_status st;
    store_dest_kind kind;
    char **checks = NULL;
    size_t nchecks = 0;
    PGresult *r = NULL;
    const char *what = "creating the target";
    *id = 0;
    if ((st = store_check_text("tenant", in->tenant, MAX_TENANT, true, errstr, errstr_size)) ||
        (st = check_tenant(in->tenant, errstr, errstr_size)) ||
        (st = store_check_team_id("workspace", in->workspace, errstr, errstr_size)) ||
        (st = store_check_text("name", in->name, STORE_MAX_NAME, true, errstr, errstr_size)))
        return st;
    if (in->description && strlen(in->description) > STORE_MAX_DESCRIPTION)
        return store_fail(STORE_INVALID, errstr, errstr_size, "description: longer than %d bytes",
                          STORE_MAX_DESCRIPTION);
    const char *policy;
    int64_t interval_s;
    char interval_text[24];
    if ((in->min_severity &&
         (st = store_min_severity_check(in->min_severity, errstr, errstr_size))) ||
        (st = store_repeat_resolve(in->repeat_policy, in->repeat_interval_s, "every", 0, &policy,
                                   &interval_s, errstr, errstr_size)))
        return st;
    store_i64_text(interval_s, interval_text);
    if ((st = store_destination_parse(in->destination, &kind, errstr, errstr_size)) ||
        (st = check_uses(in->uses, errstr, errstr_size)) ||
        (st = store_checks_normalise(in->checks, in->n_checks, &checks, &nchecks, errstr,
                                     errstr_size)))
        return st;
    if (nchecks > 0 && !(in->uses & STORE_USE_FAILED_CHECK)) {
        st = filter_needs_failed_check(in->uses, errstr, errstr_size);
        goto out;
    }

    if ((st = store_begin(conn, what, errstr, errstr_size)) ||
        (st = workspace_usable(conn, in->workspace, errstr, errstr_size)) ||
        (st = name_free(conn, in->tenant, in->name, 0, errstr, errstr_size)))
        goto out;
    const char *p[17] = {
        in->tenant,
        in->workspace,
        in->name,
        in->description ? in->description : "",
        in->destination,
        kind == STORE_DEST_EMAIL ? "email" : "channel",
        /* A channel id needs no resolving; names and emails are Slack's to resolve. */
        kind == STORE_DEST_CHANNEL_ID ? in->destination : NULL,
        store_bool_text(in->uses & STORE_USE_FAILED_CHECK),
        store_bool_text(in->uses & STORE_USE_DATA_COLLECTION),
        store_bool_text(in->enabled != 0),
        store_bool_text(in->digest != STORE_OFF),
        store_bool_text(in->thread_repeats == STORE_ON),
        in->min_severity ? in->min_severity : "low",
        policy,
        interval_s ? interval_text : NULL,
        store_bool_text(in->notify_resolved != STORE_OFF),
        store_bool_text(in->nudge == STORE_ON),
    };
    char sqlstate[6];
    r = store_run(conn, what,
                  "INSERT INTO targets (tenant_id, team_id, name, description, destination, "
                  " destination_kind, destination_resolved, use_failed_check, use_data_collection, "
                  " enabled, digest_enabled, thread_repeats, min_severity, repeat_policy, "
                  " repeat_interval_s, notify_resolved, nudge_enabled) "
                  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, "
                  " $17) RETURNING id",
                  17, p, sqlstate, errstr, errstr_size);
    if (!r) {
        st = !strcmp(sqlstate, "23505") ? name_race(in->tenant, in->name, errstr, errstr_size)
                                        : STORE_DB;
        goto out;
    }
    int64_t new_id = store_get_i64(r, 0, 0);
    PQclear(r);
    if ((st = insert_checks(conn, what, new_id, checks, nchecks, errstr, errstr_size)) ||
        (st = store_commit(conn, what, errstr, errstr_size)))
        goto out;
    *id = new_id;
out:
    if (st)
        store_rollback(conn);
    store_strv_destroy(checks, nchecks);
    return st;
}

store_status store_target_update(PGconn *conn, const char *tenant, int64_t id,
                                 const store_target_input *in, char *errstr, size_t errstr_size)
{
    store_status st;
    store_dest_kind kind = STORE_DEST_CHANNEL_ID;
    char **checks = NULL;
    size_t nchecks = 0;
    PGresult *r = NULL;
    const char *what = "updating the target";
    char ids[24];
    store_i64_text(id, ids);

    if (in->name &&
        (st = store_check_text("name", in->name, STORE_MAX_NAME, true, errstr, errstr_size)))
        return st;
    if (in->description && strlen(in->description) > STORE_MAX_DESCRIPTION)
        return store_fail(STORE_INVALID, errstr, errstr_size, "description: longer than %d bytes",
                          STORE_MAX_DESCRIPTION);
    if (in->destination &&
        (st = store_destination_parse(in->destination, &kind, errstr, errstr_size)))
        return st;
    if (in->uses && (st = check_uses(in->uses, errstr, errstr_size)))
        return st;
    if (in->min_severity && (st = store_min_severity_check(in->min_severity, errstr, errstr_size)))
        return st;
    if (in->set_checks && (st = store_checks_normalise(in->checks, in->n_checks, &checks, &nchecks,
                                                       errstr, errstr_size)))
        return st;

    if ((st = store_begin(conn, what, errstr, errstr_size)))
        goto out;
    const char *p2[2] = {tenant, ids};
    if ((st = store_run_row(conn, what,
                            "SELECT t.tenant_id, t.use_failed_check, t.use_data_collection, "
                            " (SELECT count(*) FROM target_checks c WHERE c.target_id = t.id), "
                            " t.repeat_policy, t.repeat_interval_s "
                            "FROM targets t WHERE t.id = $2 AND t.deleted_at IS NULL "
                            " AND ($1::text IS NULL OR t.tenant_id = $1) FOR UPDATE",
                            2, p2, &r, errstr, errstr_size, "no target %s", ids)))
        goto out;
    char *target_tenant = store_get_str(r, 0, 0);
    unsigned uses = get_uses(r, 0, 1);
    long existing_checks = (long)store_get_i64(r, 0, 3);
    /* The repeat settings hang together (targets_repeat_interval_check): resolve the
     * given ones against the current ones for an error that says what is missing. */
    bool set_repeat = in->repeat_policy || in->repeat_interval_s;
    const char *policy = NULL;
    int64_t interval_s = 0;
    char interval_text[24];
    st = set_repeat ? store_repeat_resolve(in->repeat_policy, in->repeat_interval_s,
                                           PQgetvalue(r, 0, 4), store_get_i64(r, 0, 5), &policy,
                                           &interval_s, errstr, errstr_size)
                    : STORE_OK;
    /* policy points into r only when it is the current one: copy it out first. */
    char policy_buf[16];
    snprintf(policy_buf, sizeof policy_buf, "%s", policy ? policy : "");
    store_i64_text(interval_s, interval_text);
    PQclear(r);
    if (st) {
        free(target_tenant);
        goto out;
    }
    if (in->uses)
        uses = in->uses;
    long checks_after = in->set_checks ? (long)nchecks : existing_checks;
    if (checks_after > 0 && !(uses & STORE_USE_FAILED_CHECK)) {
        free(target_tenant);
        if (in->set_checks) {
            st = filter_needs_failed_check(uses, errstr, errstr_size);
        } else {
            char ub[64];
            st = store_fail(STORE_INVALID, errstr, errstr_size,
                            "checks: target %s is limited to %ld check type%s, which needs the "
                            "failed_check use (uses would be %s): clear the check filter too",
                            ids, existing_checks, existing_checks == 1 ? "" : "s",
                            store_uses_format(uses, ub, sizeof ub));
        }
        goto out;
    }
    if (in->name && (st = name_free(conn, target_tenant, in->name, id, errstr, errstr_size))) {
        free(target_tenant);
        goto out;
    }

    const char *p[18] = {
        ids,
        in->name,
        in->description,
        in->destination,
        in->destination ? (kind == STORE_DEST_EMAIL ? "email" : "channel") : NULL,
        in->destination && kind == STORE_DEST_CHANNEL_ID ? in->destination : NULL,
        in->uses ? store_bool_text(uses & STORE_USE_FAILED_CHECK) : NULL,
        in->uses ? store_bool_text(uses & STORE_USE_DATA_COLLECTION) : NULL,
        in->enabled >= 0 ? store_bool_text(in->enabled) : NULL,
        store_bool_text(in->destination),
        in->digest ? store_bool_text(in->digest == STORE_ON) : NULL,
        in->thread_repeats ? store_bool_text(in->thread_repeats == STORE_ON) : NULL,
        in->min_severity,
        store_bool_text(set_repeat),
        set_repeat ? policy_buf : NULL,
        set_repeat && interval_s ? interval_text : NULL,
        in->notify_resolved ? store_bool_text(in->notify_resolved == STORE_ON) : NULL,
        in->nudge ? store_bool_text(in->nudge == STORE_ON) : NULL,
    };
    char sqlstate[6];
    r = store_run(
        conn, what,
        "UPDATE targets SET name = COALESCE($2, name), "
        " description = COALESCE($3, description), "
        " destination = COALESCE($4, destination), "
        " destination_kind = COALESCE($5, destination_kind), "
        " destination_resolved = CASE WHEN $10::bool THEN $6 ELSE destination_resolved END, "
        " last_error_code = CASE WHEN $10::bool THEN NULL ELSE last_error_code END, "
        " last_error = CASE WHEN $10::bool THEN NULL ELSE last_error END, "
        " last_error_at = CASE WHEN $10::bool THEN NULL ELSE last_error_at END, "
        " use_failed_check = COALESCE($7::bool, use_failed_check), "
        " use_data_collection = COALESCE($8::bool, use_data_collection), "
        " enabled = COALESCE($9::bool, enabled), "
        " digest_enabled = COALESCE($11::bool, digest_enabled), "
        " thread_repeats = COALESCE($12::bool, thread_repeats), "
        " min_severity = COALESCE($13, min_severity), "
        " repeat_policy = CASE WHEN $14::bool THEN $15 ELSE repeat_policy END, "
        " repeat_interval_s = CASE WHEN $14::bool THEN $16::int ELSE repeat_interval_s END, "
        " notify_resolved = COALESCE($17::bool, notify_resolved), "
        " nudge_enabled = COALESCE($18::bool, nudge_enabled), updated_at = now() "
        "WHERE id = $1",
        18, p, sqlstate, errstr, errstr_size);
    if (!r) {
        st = !strcmp(sqlstate, "23505") && in->name
                 ? name_race(target_tenant, in->name, errstr, errstr_size)
                 : STORE_DB;
        free(target_tenant);
        goto out;
    }
    free(target_tenant);
    PQclear(r);
    if (in->set_checks) {
        const char *p1[1] = {ids};
        if ((st = store_exec(conn, what, "DELETE FROM target_checks WHERE target_id = $1", 1, p1,
                             NULL, errstr, errstr_size)) ||
            (st = insert_checks(conn, what, id, checks, nchecks, errstr, errstr_size)))
            goto out;
    }
    st = store_commit(conn, what, errstr, errstr_size);
out:
    if (st)
        store_rollback(conn);
    store_strv_destroy(checks, nchecks);
    return st;
}

store_status store_target_remove(PGconn *conn, const char *tenant, int64_t id, char *errstr,
                                 size_t errstr_size)
{
    char ids[24];
    store_i64_text(id, ids);
    const char *p[2] = {tenant, ids};
    return store_run_row(
        conn, "removing the target",
        "UPDATE targets SET deleted_at = now(), enabled = false, updated_at = now() "
        "WHERE id = $2 AND deleted_at IS NULL AND ($1::text IS NULL OR tenant_id = $1) "
        "RETURNING id",
        2, p, NULL, errstr, errstr_size, "no target %s", ids);
}

store_status store_target_set_resolved(PGconn *conn, int64_t id, const char *resolved, char *errstr,
                                       size_t errstr_size)
{
    char ids[24];
    store_i64_text(id, ids);
    const char *p[2] = {ids, resolved};
    return store_run_row(conn, "recording the resolved destination",
                         "UPDATE targets SET destination_resolved = $2 WHERE id = $1 RETURNING id",
                         2, p, NULL, errstr, errstr_size, "no target %s", ids);
}

/* ---- check types (the console's check list) ---------------------------------------------- */

void store_check_rows_destroy(store_check_row *rows, size_t n)
{
    for (size_t i = 0; rows && i < n; i++) {
        free(rows[i].tenant);
        free(rows[i].type);
        free(rows[i].name);
    }
    free(rows);
}

store_status store_check_rows(PGconn *conn, const char *tenant, store_check_row **out, size_t *n,
                              char *errstr, size_t errstr_size)
{
    *out = NULL;
    *n = 0;
    const char *p[1] = {tenant};
    PGresult *r = store_run(
        conn, "listing check types",
        "SELECT tenant_id, check_type, check_name, "
        "       (extract(epoch from last_seen_at) * 1000)::bigint "
        "  FROM check_types WHERE $1::text IS NULL OR tenant_id = $1 "
        "UNION ALL "
        "SELECT DISTINCT t.tenant_id, tc.check_type, '', 0 "
        "  FROM target_checks tc JOIN targets t ON t.id = tc.target_id "
        " WHERE t.deleted_at IS NULL AND ($1::text IS NULL OR t.tenant_id = $1) "
        "   AND NOT EXISTS (SELECT 1 FROM check_types ct WHERE ct.tenant_id = t.tenant_id "
        "                    AND ct.check_type = tc.check_type) "
        " ORDER BY 1, 2",
        1, p, NULL, errstr, errstr_size);
    if (!r)
        return STORE_DB;
    *n = (size_t)PQntuples(r);
    *out = xcalloc(*n ? *n : 1, sizeof **out);
    for (size_t i = 0; i < *n; i++) {
        (*out)[i].tenant = xstrdup(PQgetvalue(r, (int)i, 0));
        (*out)[i].type = xstrdup(PQgetvalue(r, (int)i, 1));
        (*out)[i].name = xstrdup(PQgetvalue(r, (int)i, 2));
        (*out)[i].last_seen_ms = strtoll(PQgetvalue(r, (int)i, 3), NULL, 10);
    }
    PQclear(r);
    return STORE_OK;
}
